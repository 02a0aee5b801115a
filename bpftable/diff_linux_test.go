//go:build linux

package bpftable

import (
	"net"
	"net/netip"
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/tcpconn/telegraf-tcpconn/parser"
)

// rowKey names a socket across reads of the table: a full socket by its
// inode, a TIME_WAIT or request socket (inode 0) by its addresses.
type rowKey struct {
	family        uint8
	local, remote netip.AddrPort
	state         parser.State
	inode         uint64
}

func keyOf(s *Socket) rowKey {
	return rowKey{s.Family, s.Local, s.Remote, s.State, s.Inode}
}

// rows is one read of the table by key. A read of /proc/net/tcp, or of
// the iterator, that the table changes under may show a socket twice: both
// resume a walk cut by the end of a read(2) at the same offset in the same
// hash bucket (tcp_seek_last_pos), and a socket added in that bucket since
// shifts the rest by one. dups counts the rows seen again, which are left
// out: count counts each socket once.
type rows struct {
	byKey map[rowKey]Socket
	count [2]int // AF_INET, AF_INET6
	dups  int
}

func (r *rows) add(s Socket) {
	k := keyOf(&s)
	if _, ok := r.byKey[k]; ok {
		r.dups++
		return
	}
	r.byKey[k] = s
	r.count[familyIndex(s.Family)]++
}

func familyIndex(f uint8) int {
	if f == AFInet6 {
		return 1
	}
	return 0
}

// procRows reads /proc/net/tcp and /proc/net/tcp6 with package parser.
func procRows(t *testing.T) *rows {
	r := &rows{byKey: make(map[rowKey]Socket)}
	pr := parser.NewReader(nil)
	for _, f := range []struct {
		path   string
		family uint8
	}{{"/proc/net/tcp", AFInet}, {"/proc/net/tcp6", AFInet6}} {
		fd, err := os.Open(f.path)
		require.NoError(t, err)
		pr.Reset(fd)
		for pr.Next() {
			r.add(Socket{Socket: *pr.Socket(), Family: f.family})
		}
		require.NoError(t, pr.Err(), f.path)
		require.Zero(t, pr.Malformed(), f.path)
		require.NoError(t, fd.Close())
	}
	return r
}

func bpfRows(t *testing.T, tb *Table) *rows {
	r := &rows{byKey: make(map[rowKey]Socket)}
	readTable(t, tb, func(s *Socket) { r.add(*s) })
	return r
}

// listenWith listens on addr ("tcp4", "tcp6" or "tcp" for dual stack)
// with control called on the socket before it listens.
func listenWith(t *testing.T, network, addr string, control func(fd int)) *net.TCPListener {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		if control == nil {
			return nil
		}
		return c.Control(func(fd uintptr) { control(int(fd)) })
	}}
	l, err := lc.Listen(t.Context(), network, addr)
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	return l.(*net.TCPListener)
}

// connect dials l at addr and returns both ends.
func connect(t *testing.T, l *net.TCPListener, network string, addr netip.AddrPort) (client, server *net.TCPConn) {
	c, err := net.DialTCP(network, nil, net.TCPAddrFromAddrPort(addr))
	require.NoError(t, err)
	s, err := l.AcceptTCP()
	require.NoError(t, err)
	t.Cleanup(func() { c.Close(); s.Close() })
	holdStill(t, c)
	holdStill(t, s)
	return c, s
}

// holdStill moves the keepalive of a connection of Go's (15 s, both ends)
// an hour away: its timer stays pending (timer 2) but does not fire while
// the test runs, which on a loaded host may take longer than 15 s. A
// keepalive probe changes the row (timer, probes) between two reads.
func holdStill(t *testing.T, c *net.TCPConn) {
	require.NoError(t, c.SetKeepAlivePeriod(time.Hour))
}

func portOf(a net.Addr) uint16 { return uint16(a.(*net.TCPAddr).Port) }

func setfsuid(uid int) int {
	prev, _, _ := unix.RawSyscall(unix.SYS_SETFSUID, uintptr(uid), 0, 0)
	return int(prev)
}

// listenAsUID listens on 127.0.0.1 with a socket created while the
// thread's fsuid is uid: the socket's owner, which /proc prints. It
// defers accept (TCP_DEFER_ACCEPT): its connections stay request sockets,
// which /proc gives the listener's uid.
func listenAsUID(t *testing.T, uid int) *net.TCPListener {
	type result struct {
		fd  int
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		// setfsuid(2) returns the previous fsuid, whether or not it
		// changes it; -1 changes nothing. The thread is used again only
		// if it is back at the fsuid it had.
		old := setfsuid(uid)
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		setfsuid(old)
		if setfsuid(-1) == old {
			runtime.UnlockOSThread()
		}
		ch <- result{fd, err}
	}()
	res := <-ch
	require.NoError(t, res.err)
	require.NoError(t, unix.SetsockoptInt(res.fd, unix.IPPROTO_TCP, unix.TCP_DEFER_ACCEPT, 30))
	require.NoError(t, unix.Bind(res.fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}))
	require.NoError(t, unix.Listen(res.fd, 16))
	f := os.NewFile(uintptr(res.fd), "uid-listener")
	l, err := net.FileListener(f)
	require.NoError(t, f.Close())
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	return l.(*net.TCPListener)
}

// TestDifferential opens sockets of every kind and state it can on
// loopback, reads /proc/net/tcp and tcp6, then the bpf table, then /proc
// again, and requires of every socket whose rows are the same in both
// /proc reads that the bpf row be the same, field by field. The one field
// that moves between reads is TimerExpires, a countdown: the bpf row is
// read between the two /proc rows, so its value lies between theirs
// (unless the timer was re-armed in between: then the later /proc value
// is the larger, and only the order is left unchecked). Slot is the
// position in a listing that other processes change: not compared.
func TestDifferential(t *testing.T) {
	tb := loadTable(t)
	const uid = 4321
	lo4 := netip.MustParseAddr("127.0.0.1")
	lo6 := netip.MustParseAddr("::1")

	// Listeners: IPv4 with a small receive buffer, which its accepted
	// sockets inherit; IPv6; dual stack; IPv4 with TCP_DEFER_ACCEPT,
	// whose connections stay request sockets until data comes; and one
	// owned by another uid, which defers too.
	l4 := listenWith(t, "tcp4", "127.0.0.1:0", func(fd int) { _ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 4096) })
	l6 := listenWith(t, "tcp6", "[::1]:0", nil)
	ld := listenWith(t, "tcp", ":0", nil)
	lr := listenWith(t, "tcp4", "127.0.0.1:0", func(fd int) { _ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_DEFER_ACCEPT, 30) })
	lu := listenAsUID(t, uid)
	lq := listenWith(t, "tcp4", "127.0.0.1:0", nil)
	at := func(l *net.TCPListener, a netip.Addr) netip.AddrPort { return netip.AddrPortFrom(a, portOf(l.Addr())) }

	// Established, both ends, each family, and IPv4 into the dual-stack
	// listener (an AF_INET6 server with IPv4-mapped addresses). The IPv4
	// client writes more than its peer's window: a send queue, a receive
	// queue, and the zero window probe timer.
	c4, _ := connect(t, l4, "tcp4", at(l4, lo4))
	require.NoError(t, c4.SetWriteDeadline(time.Now().Add(300*time.Millisecond)))
	_, err := c4.Write(make([]byte, 4<<20))
	require.Error(t, err, "the write times out")
	connect(t, l6, "tcp6", at(l6, lo6))
	connect(t, ld, "tcp4", at(ld, lo4))
	connect(t, ld, "tcp6", at(ld, lo6))
	// CLOSE_WAIT at the server, FIN_WAIT2 at the client that closed
	// (a TIME_WAIT socket of substate FIN_WAIT2).
	cw, _ := connect(t, l6, "tcp6", at(l6, lo6))
	require.NoError(t, cw.Close())
	// TIME_WAIT at the client that closed first, each family.
	for _, tc := range []struct {
		l       *net.TCPListener
		network string
		a       netip.Addr
	}{{l4, "tcp4", lo4}, {l6, "tcp6", lo6}} {
		c, s := connect(t, tc.l, tc.network, at(tc.l, tc.a))
		require.NoError(t, c.Close())
		time.Sleep(10 * time.Millisecond)
		require.NoError(t, s.Close())
	}
	// A connection in its listener's accept queue: a full socket with no
	// file (inode 0), and a backlog of one at the listener (rx_queue).
	q, err := net.DialTCP("tcp4", nil, net.TCPAddrFromAddrPort(at(lq, lo4)))
	require.NoError(t, err)
	t.Cleanup(func() { q.Close() })
	holdStill(t, q)
	// Request sockets (SYN_RECV) at the deferring listeners.
	for _, l := range []*net.TCPListener{lr, lu} {
		c, err := net.DialTCP("tcp4", nil, net.TCPAddrFromAddrPort(at(l, lo4)))
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
		holdStill(t, c)
	}
	time.Sleep(100 * time.Millisecond)

	ours := map[uint16]bool{}
	for _, l := range []*net.TCPListener{l4, l6, ld, lr, lu, lq} {
		ours[portOf(l.Addr())] = true
	}
	want := []kind{
		{family: AFInet, state: parser.Listen},
		{family: AFInet6, state: parser.Listen},
		{family: AFInet, state: parser.Established},
		{family: AFInet6, state: parser.Established},
		{family: AFInet6, state: parser.Established, mapped: true},
		{family: AFInet6, state: parser.CloseWait},
		{family: AFInet6, state: parser.FinWait2},
		{family: AFInet, state: parser.TimeWait},
		{family: AFInet6, state: parser.TimeWait},
		{family: AFInet, state: parser.SynRecv},
		{state: parser.Listen, uid: uid},
		{state: parser.SynRecv, uid: uid},
		{timer: 1}, {timer: 2}, {timer: 3}, {timer: 4},
		{state: parser.Listen, what: "backlog"},
		{state: parser.Established, what: "accept queue"},
	}
	// A socket of ours whose row moves between the /proc reads is not
	// checked in that round: the request socket retransmits its SYN-ACK
	// after 1, 3, 7... seconds (num_timeout, printed as retrnsmt), the
	// zero window probes count up (timeout) with a backoff. Rounds go on,
	// a few at most, until each kind was checked once.
	covered := map[kind]int{}
	for round := 1; ; round++ {
		differential(t, tb, ours, uid, covered)
		missing := []kind{}
		for _, k := range want {
			if covered[k] == 0 {
				missing = append(missing, k)
			}
		}
		if len(missing) == 0 {
			t.Logf("every kind checked in %d rounds: %v", round, covered)
			break
		}
		require.Less(t, round, 5, "no socket of ours checked of kinds %+v", missing)
	}
}

// identity is what names a socket, its state and its owner: s without the
// fields that move while it lives.
func identity(s Socket) Socket {
	return Socket{Family: s.Family, Socket: parser.Socket{Local: s.Local, Remote: s.Remote, State: s.State, UID: s.UID, Inode: s.Inode}}
}

// kind is what TestDifferential checks that it covered.
type kind struct {
	family uint8
	state  parser.State
	mapped bool   // IPv4-mapped addresses
	uid    uint32 // with the other uid
	timer  uint8
	what   string // "backlog": a listener's; "accept queue": a socket in it
}

// differential is one round of TestDifferential: it counts in covered the
// kinds of the sockets of ours (on a port in ours) that it checked.
func differential(t *testing.T, tb *Table, ours map[uint16]bool, uid uint32, covered map[kind]int) {
	p1 := procRows(t)
	b := bpfRows(t, tb)
	p2 := procRows(t)

	// A walk cut by the end of a read(2) resumes at its offset in the
	// hash bucket it was in (tcp_seek_last_pos): a socket removed before
	// that offset since makes the walk skip one, as /proc does. So a
	// socket in both /proc reads may be missing from the walk, but only
	// while the table changes: missed counts them, as long as none is of
	// ours, fewer than the sockets that came or went between the /proc
	// reads.
	stable, missed, slots := 0, 0, 0
	for k := range p1.byKey {
		s1, s2 := p1.byKey[k], p2.byKey[k]
		e1, e2, slot1, slot2 := s1.TimerExpires, s2.TimerExpires, s1.Slot, s2.Slot
		s1.Slot, s2.Slot, s1.TimerExpires, s2.TimerExpires = 0, 0, 0, 0
		if s1 != s2 {
			continue // changed, or not in p2
		}
		stable++
		mine := ours[s1.Local.Port()] || ours[s1.Remote.Port()]
		got, ok := b.byKey[k]
		if !ok && !mine {
			missed++
			continue
		}
		require.True(t, ok, "%+v: of ours, in both /proc reads, not in the bpf table", s1)
		if got.Slot == slot1 && slot1 == slot2 {
			slots++
		}
		// /proc has no cookie; the walk gives every socket one.
		require.NotZero(t, got.Cookie, "%+v: cookie", got)
		e := got.TimerExpires
		got.Slot, got.TimerExpires, got.Cookie = 0, 0, 0
		if s1.Timer == 4 && got.Timeout == s1.Timeout+1 {
			// A zero window probe in flight: icsk_probes_out (the
			// timeout column) counts it when it is sent and is 0 again
			// when its ACK comes. Both /proc reads can miss a probe the
			// walk sees: about one run of this test in ten, on a host
			// with 200k sockets, where a /proc read takes 0.3 s (seen
			// as 0, 1, 0: the row of the loopback client that fills
			// its peer's window).
			got.Timeout = s1.Timeout
		}
		if !mine {
			// Another process's socket: its queues, timers and counters
			// can move and come back between the two /proc reads (a
			// busy listener's accept queue was 0, 9, 0 in one run, with
			// other packages' tests beside this one). Which socket it
			// is, and its state and owner, must be the same; every
			// field is checked on ours, which the test holds still and
			// which cover every kind.
			s1, got = identity(s1), identity(got)
		}
		require.Equal(t, s1, got)
		if mine && e2 <= e1 {
			require.True(t, e2 <= e && e <= e1, "%+v: timer expires in %d ticks, not between %d and %d", got, e, e1, e2)
		}
		if mine {
			covered[kind{family: s1.Family, state: s1.State, mapped: s1.Local.Addr().Is4In6()}]++
			covered[kind{timer: s1.Timer}]++
			if s1.UID == uid {
				covered[kind{state: s1.State, uid: uid}]++
			}
			switch {
			case s1.State == parser.Listen && s1.RxQueue > 0:
				covered[kind{state: s1.State, what: "backlog"}]++
			case s1.State == parser.Established && s1.Inode == 0:
				covered[kind{state: s1.State, what: "accept queue"}]++
			}
		}
	}
	changed := 0
	for k := range p1.byKey {
		if _, ok := p2.byKey[k]; !ok {
			changed++
		}
	}
	for k := range p2.byKey {
		if _, ok := p1.byKey[k]; !ok {
			changed++
		}
	}
	t.Logf("rows: /proc %v then %v, bpf %v; %d alike in both /proc reads, checked, %d of them missed, %d at the same slot; %d came or went; seen twice: /proc %d then %d, bpf %d",
		p1.count, p2.count, b.count, stable, missed, slots, changed, p1.dups, p2.dups, b.dups)
	if changed == 0 && p1.dups+p2.dups+b.dups == 0 {
		// A table that did not change: the walk's order is /proc's.
		require.Equal(t, stable, slots, "rows at the slot /proc gives them")
	}
	require.LessOrEqual(t, missed, changed, "sockets missed by the walk, more than the table changed")

	// Counts: the bpf walk's, per family, differs from a /proc read's by
	// no more than the table changed between the two /proc reads.
	for i := range 2 {
		lo, hi := min(p1.count[i], p2.count[i])-changed, max(p1.count[i], p2.count[i])+changed
		require.True(t, lo <= b.count[i] && b.count[i] <= hi, "family %d: %d rows, /proc %d and %d, %d changed", i, b.count[i], p1.count[i], p2.count[i], changed)
	}
}
