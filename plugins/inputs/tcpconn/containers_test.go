//go:build linux

package tcpconn

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestCgroup2Root(t *testing.T) {
	const v2 = "30 1 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate\n"
	const hybrid = "25 20 0:22 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755\n" +
		"26 25 0:23 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw\n" +
		"27 25 0:24 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,memory\n"
	root, only := cgroup2Root(v2)
	require.Equal(t, "/sys/fs/cgroup", root)
	require.True(t, only)
	root, only = cgroup2Root(hybrid)
	require.Equal(t, "/sys/fs/cgroup/unified", root)
	require.False(t, only, "v1 controllers: containers live in v1 cgroups")
	root, only = cgroup2Root("")
	require.Empty(t, root)
	require.False(t, only)
}

// TestContainerByCgroupID puts a child that listens into a cgroup named
// as docker names a container's, in the host's cgroup2 hierarchy, then
// moves it out, and gathers with source = "netlink": the dump's
// INET_DIAG_CGROUP_ID names the cgroup its sockets were made in, and the
// walk of the cgroup file system its container, whatever
// /proc/<pid>/cgroup says.
func TestContainerByCgroupID(t *testing.T) {
	root, _ := hostCgroup2Root()
	if root == "" {
		t.Fatal("no cgroup2 hierarchy is mounted: mount -t cgroup2 none /sys/fs/cgroup")
	}
	const id = "4f3c2b1a0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a"
	dir := filepath.Join(root, "tcpconn-test.slice", "docker-"+id+".scope")
	require.NoError(t, os.MkdirAll(dir, 0o755), "a cgroup of the host's hierarchy (as root)")
	t.Cleanup(func() {
		_ = os.Remove(dir)
		_ = os.Remove(filepath.Dir(dir))
	})

	// The child joins the cgroup before it makes its sockets: a socket
	// keeps the cgroup of the process that made it.
	child := exec.Command("sh", "-c", "echo $$ > "+filepath.Join(dir, "cgroup.procs")+" && exec \"$0\" -test.run=^$", os.Args[0])
	child.Env = append(os.Environ(), childEnv+"=1")
	_, said := startChildCmd(t, child)
	require.Len(t, said, 3)
	pid := strconv.Itoa(child.Process.Pid)
	// Then it leaves: its /proc/<pid>/cgroup names no container any more,
	// its sockets' cgroup still does. The container must come from these.
	require.NoError(t, os.WriteFile(filepath.Join(filepath.Dir(dir), "cgroup.procs"), []byte(pid), 0o644))

	p := livePlugin(t, "connection")
	p.Source, p.Namespaces = "netlink", "all"
	require.NoError(t, p.Init())
	// Whatever this host's mounts: the join names containers by cgroup id.
	p.join.cgroups = newCgroupContainers(root)
	var tagged int
	for _, m := range gatherMetrics(t, p) {
		if m.Tags()["pid"] == pid {
			require.Equal(t, id, m.Tags()["container_id"], "%v", m.Tags())
			tagged++
		}
	}
	require.Equal(t, 3, tagged)

	// A cgroup that names no container is remembered as such, until the
	// next walk of the file system.
	c := newCgroupContainers(root)
	now := time.Now()
	require.Empty(t, c.of(inodeOfPath(t, filepath.Dir(dir)), now))
	require.Equal(t, id, c.of(inodeOfPath(t, dir), now))
	require.Empty(t, c.of(0, now))
}

func inodeOfPath(t *testing.T, path string) uint64 {
	t.Helper()
	var st syscall.Stat_t
	require.NoError(t, syscall.Stat(path, &st))
	return st.Ino
}
