//go:build linux

package bpfwalk

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// cgroup2Mount returns where the cgroup v2 hierarchy is mounted: the root
// of /sys/fs/cgroup on a unified host, /sys/fs/cgroup/unified on a hybrid
// one such as this sandbox.
func cgroup2Mount(t *testing.T) string {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok || !strings.HasPrefix(post, "cgroup2 ") {
			continue
		}
		fields := strings.Fields(pre)
		if len(fields) >= 5 && fields[3] == "/" { // the hierarchy's root
			return fields[4]
		}
	}
	t.Skip("no cgroup v2 hierarchy mounted")
	return ""
}

// cgroupPath returns the path of the "0::" line of /proc/<pid>/cgroup.
func cgroupPath(t *testing.T, pid int32) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	require.NoError(t, err)
	for line := range strings.Lines(string(b)) {
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			return strings.TrimSuffix(p, "\n")
		}
	}
	t.Fatalf("no cgroup v2 line in %q", b)
	return ""
}

// cgroupInode returns the inode of the cgroup v2 directory of pid: the
// ground truth of Process.CgroupID.
func cgroupInode(t *testing.T, pid int32) uint64 {
	t.Helper()
	ino, err := cgroupDirInode(t, cgroupPath(t, pid))
	require.NoError(t, err)
	return ino
}

// cgroupDirInode returns the inode of the cgroup v2 directory at path.
func cgroupDirInode(t *testing.T, path string) (uint64, error) {
	var st unix.Stat_t
	err := unix.Stat(filepath.Join(cgroup2Mount(t), path), &st)
	return st.Ino, err
}

// TestWalkCgroup moves children into cgroups shaped as container runtimes
// make them, one of them deeper than the path the program gives whole:
// CgroupID is the inode of the directory, and Cgroup its path as
// /proc/<pid>/cgroup shows it, or its end.
func TestWalkCgroup(t *testing.T) {
	w := newWalker(t, Options{ProcRoot: "/proc", Cgroup: true})
	mnt := cgroup2Mount(t)
	id := strings.Repeat("0123456789abcdef", 4)
	top := fmt.Sprintf("tcpconn-bpfwalk-%d", os.Getpid())
	deep := []string{top}
	for i := range 13 {
		deep = append(deep, fmt.Sprintf("level%d", i))
	}
	deep = append(deep, "docker-"+id+".scope")
	for _, tc := range []struct {
		name  string
		dirs  []string
		whole bool
	}{
		{"docker", []string{top, "system.slice", "docker-" + id + ".scope"}, true},
		{"kubepods", []string{top, "kubepods", "burstable", "pod1234abcd-0000-1111-2222-333344445555", id}, true},
		{"deep", deep, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(append([]string{mnt}, tc.dirs...)...)
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Skipf("cannot make a cgroup: %v", err)
			}
			// Registered before the child starts, so it runs after the
			// child has exited: cgroups are removed leaf first.
			t.Cleanup(func() {
				for d := dir; d != mnt; d = filepath.Dir(d) {
					if err := unix.Rmdir(d); err != nil && !os.IsNotExist(err) && err != unix.EBUSY && err != unix.ENOTEMPTY {
						t.Errorf("removing cgroup %s: %v", d, err)
					}
				}
			})
			child, socks := startLiveChild(t, nil, func(cmd *exec.Cmd) {
				// The child is moved before it runs its test code: a
				// cgroup fd in SysProcAttr puts it there at clone.
				fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
				require.NoError(t, err)
				t.Cleanup(func() { unix.Close(fd) })
				cmd.SysProcAttr.UseCgroupFD = true
				cmd.SysProcAttr.CgroupFD = fd
			})
			want := "/" + strings.Join(tc.dirs, "/")
			require.Equal(t, want, cgroupPath(t, child))
			var st unix.Stat_t
			require.NoError(t, unix.Stat(dir, &st))

			tab := walk(t, w)
			p, ok := proc(tab, child)
			require.True(t, ok)
			require.Equal(t, socks, ownedBy(tab, child))
			require.Equal(t, st.Ino, p.CgroupID, "the cgroup id is the inode of its directory")
			if tc.whole {
				require.Equal(t, "0::"+want+"\n", p.Cgroup)
			} else {
				end := "/" + strings.Join(tc.dirs[len(tc.dirs)-12:], "/")
				require.Equal(t, "0::/..."+end+"\n", p.Cgroup, "the last 12 levels")
			}
			t.Logf("pid %d: cgroup id %d, %q", child, p.CgroupID, p.Cgroup)
		})
	}
}
