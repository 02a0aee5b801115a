//go:build linux

package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tcpconn/telegraf-tcpconn/internal/testchild"
)

// The privileges of the kernel's binary interfaces: netlink dumps need
// none, but entering another network namespace needs CAP_SYS_ADMIN; the
// BPF owner walk needs CAP_BPF and CAP_PERFMON.

// writeOptions writes a plugin configuration readable by 65534 with these
// options, for listeners only, as writeConfig does.
func (p *privileged) writeOptions(t *testing.T, name string, options ...string) string {
	t.Helper()
	conf := "[[inputs.tcpconn]]\n  protocols = [\"tcp4\"]\n  states = [\"LISTEN\"]\n  include_unowned = true\n  timeout = \"20s\"\n"
	for _, o := range options {
		conf += "  " + o + "\n"
	}
	path := filepath.Join(p.dir, name)
	require.NoError(t, os.WriteFile(path, []byte(conf), 0o644))
	require.NoError(t, os.Chmod(path, 0o644))
	return path
}

// startNetnsHolder starts the holder, as root, in a network namespace of
// its own, and returns its listener.
func startNetnsHolder(t *testing.T, dir string) listener {
	t.Helper()
	name := fmt.Sprintf("tcpconn-e2e-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		missing(t, "ip netns add: %v: %s (iproute2, as root)", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
	require.NoError(t, exec.Command("ip", "netns", "exec", name, "ip", "link", "set", "lo", "up").Run())
	self, err := os.Executable()
	require.NoError(t, err)
	exe := filepath.Join(dir, "netns-holder")
	copyFile(t, self, exe)
	require.NoError(t, os.Chmod(exe, 0o755))
	cmd := exec.Command("ip", "netns", "exec", name, exe)
	cmd.Env = append(os.Environ(), "TCPCONN_E2E_HOLDER=1")
	_, stdout := testchild.Start(t, cmd)
	l := listener{pid: cmd.Process.Pid} // ip netns exec execs the holder
	_, err = fmt.Fscanln(stdout, &l.port, &l.fd)
	require.NoError(t, err, "the holder in the namespace did not report")
	return l
}

// TestSourceNamespaces reads the tables of another network namespace with
// source = "netlink" and "bpf": as root, by entering it; with only the
// drop-in's two capabilities (and, for "bpf", CAP_BPF and CAP_PERFMON),
// which cannot enter it, from its /proc tables, with one warning that
// names CAP_SYS_ADMIN. Either way its listener is found with its pid and
// fd.
func TestSourceNamespaces(t *testing.T) {
	p := setupPrivileged(t)
	held := startNetnsHolder(t, p.dir)
	for _, tc := range []struct {
		source string
		caps   []string
	}{
		{"netlink", nil},
		{"bpf", []string{"CAP_BPF", "CAP_PERFMON"}},
	} {
		t.Run(tc.source, func(t *testing.T) {
			conf := p.writeOptions(t, tc.source+".conf", fmt.Sprintf("source = %q", tc.source), `namespaces = "all"`,
				fmt.Sprintf("process_names = [%q]", holderName))

			g := runOnce(t, p.tcpconn, conf, nil)
			require.Equal(t, 0, g.status, g.stderr)
			g.requireOwned(t, held, "as root, by a read in the namespace")
			require.NotContains(t, g.stderr, "CAP_SYS_ADMIN")

			caps := append(dropInCapabilities(t), tc.caps...)
			g = runOnce(t, p.tcpconn, conf, asNobody(nil, capabilities(t, caps...)))
			require.Equal(t, 0, g.status, g.stderr)
			g.requireOwned(t, held, "with "+strings.Join(caps, ", ")+", from the namespace's /proc tables")
			require.Equal(t, 1, strings.Count(g.stderr, "grant CAP_SYS_ADMIN"), "one warning:\n%s", g.stderr)
			require.Contains(t, g.stderr, fmt.Sprintf("W! source = %q: ", tc.source))
		})
	}
}

// TestBPFWalkCapabilities runs owner_walk = "bpf", alone and with
// source = "bpf", as uid 65534 with only CAP_BPF and CAP_PERFMON: the
// ambient capabilities of examples/systemd/tcpconn-bpf.conf, as systemd
// grants them, and the same as file capabilities. The iterator sees root's
// listener, with its pid and fd, which the /proc walk could not. Without
// them the gather fails at start, naming them, for either program; and
// "auto" takes the /proc walk, saying why at debug level.
func TestBPFWalkCapabilities(t *testing.T) {
	p := setupPrivileged(t)
	names := dropInFileCapabilities(t, "tcpconn-bpf.conf")
	require.ElementsMatch(t, []string{"CAP_BPF", "CAP_PERFMON"}, names)
	exe := filepath.Join(p.dir, "tcpconn-bpf")
	copyFile(t, p.tcpconn, exe)
	if err := testchild.SetFileCaps(exe, capabilities(t, names...)...); err != nil {
		missing(t, "setting file capabilities on %s: %v (the file system needs security extended attributes)", exe, err)
	}
	bpf := p.writeOptions(t, "bpf.conf", `owner_walk = "bpf"`)
	both := p.writeOptions(t, "bpf-bpf.conf", `owner_walk = "bpf"`, `source = "bpf"`)
	for _, run := range []struct {
		what, exe string
		caps      []uintptr
	}{
		{"the drop-in's ambient capabilities", p.tcpconn, capabilities(t, names...)},
		{"file capabilities", exe, nil},
	} {
		for _, conf := range []string{bpf, both} {
			g := runOnce(t, run.exe, conf, asNobody(nil, run.caps))
			require.Equal(t, 0, g.status, "%s, %s:\n%s", run.what, conf, g.stderr)
			g.requireOwned(t, p.root, "root's listener, by the BPF walk, with "+run.what+", "+conf)
			g.requireOwned(t, p.nobody, "the listener of uid 65534, with "+run.what+", "+conf)
		}
	}

	g := runOnce(t, p.tcpconn, bpf, asNobody(nil, nil))
	require.Equal(t, 1, g.status, "Init fails:\n%s", g.stderr)
	require.Contains(t, g.stderr, `config option "owner_walk"`)
	require.Contains(t, g.stderr, "CAP_BPF and CAP_PERFMON")
	table := p.writeOptions(t, "table.conf", `owner_walk = "procfs"`, `source = "bpf"`)
	g = runOnce(t, p.tcpconn, table, asNobody(nil, nil))
	require.Equal(t, 1, g.status, "Init fails:\n%s", g.stderr)
	require.Contains(t, g.stderr, `config option "source": bpf table: loading the tcp iterator needs CAP_BPF and CAP_PERFMON (or root)`)

	auto := p.writeOptions(t, "auto.conf", `owner_walk = "auto"`)
	cmd := exec.Command(p.tcpconn, "-once", "-debug", "-config", auto)
	cmd.SysProcAttr = asNobody(nil, nil)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), `D! owner_walk = "auto": the /proc walk, as this agent lacks CAP_DAC_READ_SEARCH and CAP_SYS_PTRACE`)
	require.Contains(t, string(out), "owner walk procfs, tables procfs")
}

// TestDestroyEventsUnprivileged runs the shim as uid 65534, without any
// capability, with source = "netlink" and events: the kernel's destroy
// notifications need no privilege, so the connections root opens and
// closes between two gathers are closed events at the second, short-lived.
func TestDestroyEventsUnprivileged(t *testing.T) {
	p := setupPrivileged(t)
	conf := p.writeOptions(t, "closes.conf", `source = "netlink"`, `metrics = ["event"]`)
	cmd := exec.Command(p.tcpconn, "-config", conf, "-poll_interval_disabled")
	cmd.SysProcAttr = asNobody(nil, nil)
	stdin, stdout := testchild.Start(t, cmd)

	var lc net.ListenConfig
	lc.SetMultipathTCP(false)
	ln, err := lc.Listen(context.Background(), "tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)

	// A gather, then connections, then a gather whose output ends with a
	// marker connection of its own.
	gather := func() {
		_, err := io.WriteString(stdin, "\n")
		require.NoError(t, err)
		time.Sleep(500 * time.Millisecond)
	}
	gather()
	const n = 50
	for range n {
		c, err := net.Dial("tcp4", ln.Addr().String())
		require.NoError(t, err)
		s, err := ln.Accept()
		require.NoError(t, err)
		c.Close()
		s.Close()
	}
	time.Sleep(300 * time.Millisecond)
	gather()
	stdin.Close()
	var closed int
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "tcpconn_event,") && strings.Contains(line, "event=closed") &&
			(strings.Contains(line, "local_port="+port+",") || strings.Contains(line, "remote_port="+port+",")) {
			require.Contains(t, line, "short_lived=true")
			require.NotContains(t, line, "pid=")
			closed++
		}
	}
	require.Equal(t, 2*n, closed, "both ends of each connection, as uid 65534")
}
