//go:build linux

package tcpconn

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/influxdata/telegraf/config"
	"github.com/influxdata/telegraf/testutil"
	"github.com/stretchr/testify/require"
)

func TestContainerID(t *testing.T) {
	const id = "4f3c2b1a0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a"
	tests := []struct {
		name, cgroup, want string
	}{
		{"docker cgroupfs", "12:pids:/docker/" + id + "\n11:cpu:/docker/" + id + "\n", id},
		{"docker systemd", "0::/system.slice/docker-" + id + ".scope\n", id},
		{"containerd CRI", "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1234.slice/cri-containerd-" + id + ".scope\n", id},
		{"CRI-O", "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod5678.slice/crio-" + id + ".scope\n", id},
		{"kubepods cgroupfs", "4:memory:/kubepods/besteffort/pod0a1b2c3d-1111-2222-3333-444455556666/" + id + "\n", id},
		{"podman", "0::/machine.slice/libpod-" + id + ".scope\n", id},
		{"podman cgroupfs", "0::/libpod_parent/libpod-" + id + "\n", id},
		{"host service", "0::/system.slice/sshd.service\n", ""},
		{"user session", "0::/user.slice/user-0.slice/session-3.scope\n", ""},
		{"short hex is no id", "0::/docker/4f3c2b1a\n", ""},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, containerID(tt.cgroup))
		})
	}
}

// TestNamespacesAllFixture reads each network namespace's tables once,
// through one of its processes, and tags every metric with the namespace.
func TestNamespacesAllFixture(t *testing.T) {
	tr := newTree(t)
	// The host: pid 10 and the reader itself (self).
	tr.process(10, "host-app", 1000, map[int]uint64{3: 100})
	tr.table(fxRow{"0.0.0.0:80", "0.0.0.0:0", 0x0A, 100})
	nsFile := func(pid int) string {
		dir := filepath.Join(tr.root, strconv.Itoa(pid), "ns")
		require.NoError(t, os.MkdirAll(dir, 0o755))
		return filepath.Join(dir, "net")
	}
	require.NoError(t, os.WriteFile(nsFile(10), nil, 0o644))
	require.NoError(t, os.MkdirAll(filepath.Join(tr.root, "self", "ns"), 0o755))
	require.NoError(t, os.Link(nsFile(10), filepath.Join(tr.root, "self", "ns", "net")))
	require.NoError(t, os.MkdirAll(filepath.Join(tr.root, "10", "net"), 0o755))
	require.NoError(t, os.Link(filepath.Join(tr.root, "net", "tcp"), filepath.Join(tr.root, "10", "net", "tcp")))

	// A container: pids 20 (gone before its table is read: no net/) and 21
	// share a namespace; 21 is in a docker cgroup.
	const id = "4f3c2b1a0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a"
	tr.process(20, "sidecar", 2000, map[int]uint64{3: 201})
	tr.process(21, "web", 2001, map[int]uint64{4: 200})
	require.NoError(t, os.WriteFile(nsFile(20), nil, 0o644))
	require.NoError(t, os.Link(nsFile(20), nsFile(21)))
	require.NoError(t, os.WriteFile(filepath.Join(tr.root, "21", "cgroup"), []byte("0::/system.slice/docker-"+id+".scope\n"), 0o644))
	require.NoError(t, os.MkdirAll(filepath.Join(tr.root, "21", "net"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(tr.root, "21", "net", "tcp"), []byte(
		"  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"+
			"   0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 200 1 0000000000000000 20 4 30 10 -1\n"+
			"   1: 0100007F:9C40 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 201 1 0000000000000000 20 4 30 10 -1\n"), 0o644))

	inode := func(path string) string {
		var st syscall.Stat_t
		require.NoError(t, syscall.Stat(path, &st))
		return strconv.FormatUint(st.Ino, 10)
	}
	hostNS, containerNS := inode(nsFile(10)), inode(nsFile(21))

	gatherTags := func(namespaces string) []string {
		p := tr.plugin(func(p *TCPConn) {
			p.Metrics = []string{"connection"}
			p.Namespaces = namespaces
		})
		var acc testutil.Accumulator
		require.NoError(t, p.Gather(&acc))
		require.Empty(t, acc.Errors)
		var out []string
		for _, m := range acc.GetTelegrafMetrics() {
			tags := m.Tags()
			out = append(out, fmt.Sprintf("pid=%s fd=%s port=%s netns=%s container=%s direction=%s",
				tags["pid"], tags["fd"], tags["local_port"], tags["netns"], tags["container_id"], tags["direction"]))
		}
		return out
	}
	require.ElementsMatch(t, []string{
		"pid=10 fd=3 port=80 netns=" + hostNS + " container= direction=listen",
		"pid=21 fd=4 port=8080 netns=" + containerNS + " container=" + id + " direction=listen",
		"pid=20 fd=3 port=40000 netns=" + containerNS + " container= direction=local",
	}, gatherTags("all"))
	require.ElementsMatch(t, []string{
		"pid=10 fd=3 port=80 netns= container= direction=listen",
	}, gatherTags("host"), "the host's tables do not list a container's sockets")
}

// TestNamespacesAllLive starts a process in a real network namespace (ip
// netns) that holds a listener and a connection, and requires "all" to
// find them with the right pid, fd and netns, and "host" not to.
func TestNamespacesAllLive(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("ip netns needs root")
	}
	name := fmt.Sprintf("tcpconn-test-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("ip netns add: %v: %s", err, out)
		}
		t.Skipf("network namespaces are not permitted here (ip netns add: %v: %s)", err, strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
	require.NoError(t, exec.Command("ip", "netns", "exec", name, "ip", "link", "set", "lo", "up").Run())

	// The child of TestLiveSockets, in the namespace: ip netns exec execs
	// the test binary, so the pid is the child's.
	child, said := startChild(t, childEnv, "ip", "netns", "exec", name)
	var wants []string
	for _, line := range said {
		f := strings.Fields(line) // pid fd family local_port remote remote_port state
		require.Len(t, f, 7, "child said %q", line)
		wants = append(wants, strings.Join([]string{f[1], f[3], f[5], f[6]}, " "))
	}
	require.Len(t, wants, 3)
	pid := child.Process.Pid
	var st syscall.Stat_t
	require.NoError(t, syscall.Stat(fmt.Sprintf("/proc/%d/ns/net", pid), &st))
	netns := strconv.FormatUint(st.Ino, 10)
	var self syscall.Stat_t
	require.NoError(t, syscall.Stat("/proc/self/ns/net", &self))
	require.NotEqual(t, self.Ino, st.Ino, "the child runs in its own namespace")

	gather := func(namespaces, source string) []string {
		p := livePlugin(t, "connection")
		p.Namespaces, p.Source = namespaces, source
		p.Timeout = config.Duration(time.Minute)
		require.NoError(t, p.Init())
		var acc testutil.Accumulator
		require.NoError(t, p.Gather(&acc))
		var got []string
		for _, m := range acc.GetTelegrafMetrics() {
			tags := m.Tags()
			if tags["pid"] != strconv.Itoa(pid) {
				continue
			}
			require.Equal(t, netns, tags["netns"])
			got = append(got, fmt.Sprintf("%s %s %s %s", tags["fd"], tags["local_port"], tags["remote_port"], tags["state"]))
		}
		return got
	}
	for _, source := range []string{"procfs", "netlink", "bpf"} {
		require.ElementsMatch(t, wants, gather("all", source), "source = %q", source)
		require.Empty(t, gather("host", source), "source = %q: the host's tables do not list the namespace's sockets", source)
	}
}

func TestHostNamespaceWarning(t *testing.T) {
	tr := newTree(t)
	ns := func(dir string) string {
		require.NoError(t, os.MkdirAll(filepath.Join(tr.root, dir, "ns"), 0o755))
		return filepath.Join(tr.root, dir, "ns", "net")
	}
	require.NoError(t, os.WriteFile(ns("1"), nil, 0o644))
	require.NoError(t, os.WriteFile(ns("self"), nil, 0o644))
	p := tr.plugin(nil)
	require.Contains(t, p.hostNamespaceWarning(), `use namespaces = "all"`, "self and pid 1 in different namespaces")

	p.Namespaces = "all"
	require.Empty(t, p.hostNamespaceWarning())

	p.Namespaces = "host"
	require.NoError(t, os.Remove(ns("self")))
	require.NoError(t, os.Link(ns("1"), ns("self")))
	require.Empty(t, p.hostNamespaceWarning(), "the same namespace")
}
