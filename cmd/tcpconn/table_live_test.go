//go:build linux

package main

import (
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tcpconn/telegraf-tcpconn/internal/testchild"
)

// shown is a row of the table as printed.
type shown struct {
	state, local, remote, pid, fd, process string
}

// parseTable splits the shim's table into rows, checking its header and
// that every row's columns start where the header's do.
func parseTable(t *testing.T, out string) []shown {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	require.Regexp(t, `^STATE +LOCAL +REMOTE +PID +FD  PROCESS$`, lines[0])
	localAt, remoteAt := strings.Index(lines[0], "LOCAL"), strings.Index(lines[0], "REMOTE")
	fdEnd, processAt := strings.Index(lines[0], "FD")+2, strings.Index(lines[0], "PROCESS")
	var rows []shown
	for _, line := range lines[1:] {
		f := strings.Fields(line)
		require.GreaterOrEqual(t, len(f), 6, line)
		require.Equal(t, f[1], line[localAt:localAt+len(f[1])], "column LOCAL in %q", line)
		require.Equal(t, f[2], line[remoteAt:remoteAt+len(f[2])], "column REMOTE in %q", line)
		require.Equal(t, f[4], line[fdEnd-len(f[4]):fdEnd], "column FD in %q", line)
		rows = append(rows, shown{f[0], f[1], f[2], f[3], f[4], line[processAt:]})
	}
	return rows
}

// ssStates maps the state names of ss to the kernel's, which tcpconn
// prints.
var ssStates = map[string]string{
	"ESTAB": "ESTABLISHED", "SYN-SENT": "SYN_SENT", "SYN-RECV": "SYN_RECV", "FIN-WAIT-1": "FIN_WAIT1",
	"FIN-WAIT-2": "FIN_WAIT2", "TIME-WAIT": "TIME_WAIT", "UNCONN": "CLOSE", "CLOSE-WAIT": "CLOSE_WAIT",
	"LAST-ACK": "LAST_ACK", "LISTEN": "LISTEN", "CLOSING": "CLOSING",
}

var ssUser = regexp.MustCompile(`\("((?:[^"\\]|\\.)*)",pid=(\d+),fd=(\d+)\)`)

// ssRows runs `ss -tanpH` with a filter of ss's own and returns its
// sockets as tcpconn's table would show them: one row per owner, - for
// none.
func ssRows(t *testing.T, filter ...string) []shown {
	t.Helper()
	out, err := exec.Command("ss", append([]string{"-tanpH"}, filter...)...).Output()
	require.NoError(t, err, "ss (iproute2) is the ground truth of this test")
	var rows []shown
	for line := range strings.Lines(string(out)) {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		state, ok := ssStates[f[0]]
		require.True(t, ok, "ss state %q", f[0])
		users := ssUser.FindAllStringSubmatch(line, -1)
		if len(users) == 0 {
			rows = append(rows, shown{state, f[3], f[4], "-", "-", "-"})
		}
		for _, u := range users {
			rows = append(rows, shown{state, f[3], f[4], u[2], u[3], u[1]})
		}
	}
	return rows
}

// endpointOf parses an endpoint of the table, * for port 0.
func endpointOf(t *testing.T, s string) netip.AddrPort {
	t.Helper()
	if a, ok := strings.CutSuffix(s, ":*"); ok {
		s = a + ":0"
	}
	ap, err := netip.ParseAddrPort(s)
	require.NoError(t, err)
	return ap
}

// requireOrdered checks the documented order on the rows themselves:
// local address and port, then remote, as numbers.
func requireOrdered(t *testing.T, rows []shown) {
	t.Helper()
	require.True(t, slices.IsSortedFunc(rows, func(a, b shown) int {
		if c := endpointOf(t, a.local).Compare(endpointOf(t, b.local)); c != 0 {
			return c
		}
		return endpointOf(t, a.remote).Compare(endpointOf(t, b.remote))
	}), "rows out of order: %v", rows)
}

// loopback opens a listener, a client and the accepted end on addr and
// returns the rows the table must show for them, owned by this process.
func loopback(t *testing.T, network, addr, wildcard string) (listener, client, server shown, port string, closers []io.Closer) {
	t.Helper()
	closers, socks, err := testchild.OpenLoopback(network, addr)
	t.Cleanup(func() { testchild.CloseAll(closers) })
	require.NoError(t, err)
	comm, err := os.ReadFile("/proc/self/comm")
	require.NoError(t, err)
	name, pid := strings.TrimSpace(string(comm)), strconv.Itoa(os.Getpid())
	l := closers[0].(net.Listener).Addr().String()
	c := closers[1].(net.Conn).LocalAddr().String()
	fd := func(i int) string { return strconv.Itoa(int(socks[i].FD)) }
	listener = shown{"LISTEN", l, wildcard, pid, fd(0), name}
	client = shown{"ESTABLISHED", c, l, pid, fd(1), name}
	server = shown{"ESTABLISHED", l, c, pid, fd(2), name}
	_, port, err = net.SplitHostPort(l)
	require.NoError(t, err)
	return listener, client, server, port, closers
}

// TestTableLive opens loopback sockets in this process and finds them in
// `tcpconn -once -format table -filter ...`, each with this pid and the
// fd it has here, in order, and as `ss -tanpH` (a ground truth this
// project did not write) lists them. Other processes may share a port
// with these sockets (an ephemeral port serves many destinations), so the
// checks are of this process's rows, or of what ss lists too.
func TestTableLive(t *testing.T) {
	listener, client, server, port, _ := loopback(t, "tcp4", "127.0.0.1:0", "0.0.0.0:*")
	pid := listener.pid
	rows := parseTable(t, runShim(t, "-once", "-format", "table", "-filter", "port="+port, "-filter", "pid="+pid))
	require.ElementsMatch(t, []shown{listener, client, server}, rows)
	requireOrdered(t, rows)
	require.ElementsMatch(t, ofPID(ssRows(t, "sport", "=", ":"+port, "or", "dport", "=", ":"+port), pid), rows)

	// The question of the seed: who owns this address:port? Both ends
	// of the connection have it, and whatever else ss finds there.
	rows = parseTable(t, runShim(t, "-once", "-format", "table", "-filter", client.local))
	require.Subset(t, rows, []shown{client, server})
	requireOrdered(t, rows)
	require.ElementsMatch(t, ssRows(t, "src", client.local, "or", "dst", client.local), rows)

	rows = parseTable(t, runShim(t, "-once", "-format", "table",
		"-filter", "process="+listener.process, "-filter", "state=listen", "-filter", "local="+listener.local))
	require.Equal(t, []shown{listener}, rows)

	if l6, c6, s6, port6, _ := loopback6(t); port6 != "" {
		rows = parseTable(t, runShim(t, "-once", "-format", "table", "-filter", l6.local, "-filter", "pid="+pid))
		require.ElementsMatch(t, []shown{l6, c6, s6}, rows)
		requireOrdered(t, rows)
		require.ElementsMatch(t, ofPID(ssRows(t, "src", l6.local, "or", "dst", l6.local), pid), rows)
	}
}

// ofPID returns the rows of one process.
func ofPID(rows []shown, pid string) []shown {
	return slices.DeleteFunc(rows, func(r shown) bool { return r.pid != pid })
}

// loopback6 is loopback on [::1], or nothing where the host has no IPv6.
func loopback6(t *testing.T) (listener, client, server shown, port string, _ []io.Closer) {
	t.Helper()
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Logf("no IPv6 loopback: %v", err)
		return listener, client, server, "", nil
	}
	ln.Close()
	return loopback(t, "tcp6", "[::1]:0", "[::]:*")
}

// A connection this process closed first leaves a TIME_WAIT socket that no
// process holds: the table shows it, with - for its owner, as ss does.
func TestTableLiveUnowned(t *testing.T) {
	_, client, _, _, closers := loopback(t, "tcp4", "127.0.0.1:0", "0.0.0.0:*")
	for _, c := range []io.Closer{closers[1], closers[2], closers[0]} { // client first: it waits
		require.NoError(t, c.Close())
	}
	timeWait := shown{"TIME_WAIT", client.local, client.remote, "-", "-", "-"}
	filter := []string{"-once", "-format", "table", "-filter", "local=" + client.local, "-filter", "remote=" + client.remote}
	var rows []shown
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		rows = parseTable(t, runShim(t, filter...))
		if slices.Equal(rows, []shown{timeWait}) || time.Now().After(deadline) {
			break
		}
	}
	require.Equal(t, []shown{timeWait}, rows)
	require.Equal(t, rows, ssRows(t, "src", client.local, "and", "dst", client.remote))

	// A configuration that leaves unowned sockets out is obeyed.
	conf := writeConfig(t, "[[inputs.tcpconn]]\n  include_unowned = false\n")
	require.Empty(t, parseTable(t, runShim(t, append(filter, "-config", conf)...)))
}
