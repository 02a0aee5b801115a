//go:build linux

package tcpconn

import (
	"bufio"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"
)

// containerIDs finds a container id in a cgroup path: docker
// (/docker/<id>, docker-<id>.scope), containerd and CRI-O under kubepods
// (cri-containerd-<id>.scope, crio-<id>.scope, .../pod<uid>/<id>) and
// podman (libpod-<id>.scope, /libpod_parent/libpod-<id>).
var containerIDs = regexp.MustCompile(`(?m)(?:/docker/|/docker-|/cri-containerd-|/crio-|/libpod-|/kubepods[^\n]*/)([0-9a-f]{64})(?:\.scope)?$`)

// containerID returns the container id named by a /proc/<pid>/cgroup, or by
// one cgroup path, or "" when none is.
func containerID(cgroup string) string {
	if !strings.Contains(cgroup, "/") {
		return ""
	}
	m := containerIDs.FindStringSubmatch(cgroup)
	if m == nil {
		return ""
	}
	return m[1]
}

// cgroupContainers names the container of a cgroup v2 id: the id is the
// inode of the cgroup's directory in the cgroup2 file system, so a walk of
// that file system maps ids to paths. The map is built when an id is first
// asked for, and built again, at most once a minute, when an id it does not
// know is asked for: containers come and go. Its size is the number of
// cgroups that name a container, not of sockets.
type cgroupContainers struct {
	root    string // the cgroup2 mount, such as /sys/fs/cgroup
	byID    map[uint64]string
	scanned time.Time
}

// rescanAfter bounds how often the cgroup file system is walked again.
const rescanAfter = time.Minute

func newCgroupContainers(root string) *cgroupContainers {
	return &cgroupContainers{root: root}
}

// of returns the container id of cgroup id, or "".
func (c *cgroupContainers) of(id uint64, now time.Time) string {
	if id == 0 {
		return ""
	}
	if name, ok := c.byID[id]; ok {
		return name
	}
	if c.byID == nil || now.Sub(c.scanned) >= rescanAfter {
		c.scan(now)
		if name, ok := c.byID[id]; ok {
			return name
		}
	}
	c.byID[id] = "" // not a container's: remembered until the next walk
	return ""
}

// scan walks the cgroup file system and records the cgroups that name a
// container. A walk that fails part way keeps what it found.
func (c *cgroupContainers) scan(now time.Time) {
	c.scanned = now
	c.byID = make(map[uint64]string, len(c.byID))
	_ = filepath.WalkDir(c.root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil //nolint:nilerr // an unreadable cgroup names no container we can see
		}
		id := containerID(strings.TrimPrefix(path, c.root))
		if id == "" {
			return nil
		}
		var st syscall.Stat_t
		if syscall.Stat(path, &st) == nil {
			c.byID[st.Ino] = id
		}
		return nil
	})
}

// cgroup2Root returns the mount point of the unified cgroup hierarchy, from
// the text of /proc/self/mountinfo, and whether it is the only hierarchy:
// on a host with cgroup v1 controllers mounted too (a "hybrid" host),
// containers are placed in v1 cgroups and cgroup v2 ids name none.
func cgroup2Root(mountinfo string) (root string, only bool) {
	v1 := false
	sc := bufio.NewScanner(strings.NewReader(mountinfo))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		sep := -1
		for i, f := range fields {
			if f == "-" {
				sep = i
				break
			}
		}
		if sep < 0 || len(fields) < sep+2 || len(fields) < 5 {
			continue
		}
		switch fields[sep+1] {
		case "cgroup2":
			if root == "" {
				root = fields[4]
			}
		case "cgroup":
			v1 = true
		}
	}
	return root, root != "" && !v1
}

// hostCgroup2Root is cgroup2Root for this agent's mounts.
func hostCgroup2Root() (root string, only bool) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return "", false
	}
	return cgroup2Root(string(b))
}
