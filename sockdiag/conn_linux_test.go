package sockdiag

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/tcpconn/telegraf-tcpconn/parser"
)

// family is what the live tests need to know of an address family.
type family struct {
	name     string
	network  string
	loopback string
	af       uint8
	table    string
}

var families = []family{
	{"AF_INET", "tcp4", "127.0.0.1", AFInet, "/proc/net/tcp"},
	{"AF_INET6", "tcp6", "::1", AFInet6, "/proc/net/tcp6"},
}

// listen opens a listener on the loopback address of f, with options set
// by control on its socket before bind. It is a plain TCP socket: Go
// listens with MPTCP by default where the kernel has it, and then the TCP
// table holds the MPTCP socket's first subflow, with the same inode but a
// cookie of its own (see TestDumpMPTCPListener).
func listen(t testing.TB, f family, control func(fd int)) *net.TCPListener {
	t.Helper()
	lc := net.ListenConfig{}
	lc.SetMultipathTCP(false)
	if control != nil {
		lc.Control = func(_, _ string, c syscall.RawConn) error {
			return c.Control(func(fd uintptr) { control(int(fd)) })
		}
	}
	l, err := lc.Listen(context.Background(), f.network, net.JoinHostPort(f.loopback, "0"))
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	return l.(*net.TCPListener)
}

// connect opens a connection to l and returns both ends.
func connect(t testing.TB, l *net.TCPListener) (client, server *net.TCPConn) {
	t.Helper()
	c, err := net.DialTCP(l.Addr().Network(), nil, l.Addr().(*net.TCPAddr))
	require.NoError(t, err)
	s, err := l.AcceptTCP()
	require.NoError(t, err)
	t.Cleanup(func() { c.Close(); s.Close() })
	return c, s
}

// addrPort returns a's address and port as the kernel reports them.
func addrPort(a net.Addr) netip.AddrPort {
	return a.(*net.TCPAddr).AddrPort()
}

// ioctlQueue returns SIOCINQ or SIOCOUTQ of a socket: the ground truth for
// its receive and send queues.
func ioctlQueue(t testing.TB, c syscall.Conn, req uint) uint32 {
	t.Helper()
	rc, err := c.SyscallConn()
	require.NoError(t, err)
	var v int
	var ierr error
	require.NoError(t, rc.Control(func(fd uintptr) { v, ierr = unix.IoctlGetInt(int(fd), req) }))
	require.NoError(t, ierr)
	return uint32(v)
}

// dumpAll dumps family with req and returns the sockets.
func dumpAll(t testing.TB, c *Conn, req Request) []Socket {
	t.Helper()
	r, err := c.Sockets(req)
	require.NoError(t, err)
	var out []Socket
	for r.Next() {
		out = append(out, *r.Socket())
	}
	require.NoError(t, r.Err())
	require.NoError(t, r.MalformedErr())
	require.True(t, r.Done())
	return out
}

// byInode indexes sockets with an inode.
func byInode(t testing.TB, sockets []Socket) map[uint64]Socket {
	t.Helper()
	m := map[uint64]Socket{}
	for i := range sockets {
		s := &sockets[i]
		if s.Inode == 0 {
			continue
		}
		_, dup := m[s.Inode]
		require.False(t, dup, "inode %d twice in one dump", s.Inode)
		m[s.Inode] = *s
	}
	return m
}

func somaxconn(t testing.TB) uint32 {
	b, err := os.ReadFile("/proc/sys/net/core/somaxconn")
	require.NoError(t, err)
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	require.NoError(t, err)
	return uint32(min(n, 65535))
}

func TestDumpFindsOwnSockets(t *testing.T) {
	c, err := Dial()
	require.NoError(t, err)
	defer c.Close()
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			// A small receive buffer, inherited by the accepted socket, so
			// that unread data backs up into the client's send queue.
			l := listen(t, f, func(fd int) { _ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 4096) })
			client, server := connect(t, l)
			require.NoError(t, client.SetWriteDeadline(time.Now().Add(200*time.Millisecond)))
			written, err := client.Write(make([]byte, 4<<20))
			require.Error(t, err, "the write times out")
			require.Positive(t, written)
			settle(t, client)

			sockets := byInode(t, dumpAll(t, c, Request{Family: f.af, Info: true}))
			uid := uint32(os.Getuid())
			tests := []struct {
				name   string
				conn   syscall.Conn
				local  net.Addr
				remote netip.AddrPort
				state  parser.State
				tx, rx uint32
			}{
				{"listener", l, l.Addr(), netip.AddrPortFrom(netip.IPv6Unspecified(), 0), parser.Listen, somaxconn(t), 0},
				{"client", client, client.LocalAddr(), addrPort(client.RemoteAddr()), parser.Established, ioctlQueue(t, client, unix.SIOCOUTQ), ioctlQueue(t, client, unix.SIOCINQ)},
				{"server", server, server.LocalAddr(), addrPort(server.RemoteAddr()), parser.Established, ioctlQueue(t, server, unix.SIOCOUTQ), ioctlQueue(t, server, unix.SIOCINQ)},
			}
			if f.af == AFInet {
				tests[0].remote = netip.AddrPortFrom(netip.IPv4Unspecified(), 0)
			}
			for _, tt := range tests {
				ino := inodeOf(tt.conn)
				require.NotZero(t, ino)
				s, ok := sockets[ino]
				require.True(t, ok, "%s: inode %d not in the dump", tt.name, ino)
				require.Equal(t, f.af, s.Family, tt.name)
				require.Equal(t, addrPort(tt.local), s.Local, tt.name)
				require.Equal(t, tt.remote, s.Remote, tt.name)
				require.Equal(t, tt.state, s.State, tt.name)
				require.Equal(t, uid, s.UID, tt.name)
				require.Equal(t, tt.tx, s.TxQueue, "%s: send queue", tt.name)
				require.Equal(t, tt.rx, s.RxQueue, "%s: receive queue", tt.name)
				require.Equal(t, cookieOf(t, tt.conn), s.Cookie, "%s: SO_COOKIE", tt.name)
				require.NotZero(t, s.CgroupID, tt.name)
				require.Equal(t, 280, s.Info.Len(), tt.name)
				st, ok := s.Info.State()
				require.True(t, ok)
				require.Equal(t, tt.state, st, tt.name)
			}
			// The queues are what the test made them.
			require.Positive(t, tests[1].tx, "client send queue")
			require.Positive(t, tests[2].rx, "server receive queue")
			cs := sockets[inodeOf(client)]
			notsent, ok := cs.Info.NotsentBytes()
			require.True(t, ok)
			require.Positive(t, notsent)
		})
	}
}

// settle waits until the send queue of c stops changing.
func settle(t testing.TB, c syscall.Conn) {
	t.Helper()
	prev := ioctlQueue(t, c, unix.SIOCOUTQ)
	for range 50 {
		time.Sleep(20 * time.Millisecond)
		q := ioctlQueue(t, c, unix.SIOCOUTQ)
		if q == prev {
			return
		}
		prev = q
	}
}

// procTable reads a /proc/net/tcp table with parser.
func procTable(t testing.TB, name string) map[uint64]parser.Socket {
	t.Helper()
	f, err := os.Open(name)
	require.NoError(t, err)
	defer f.Close()
	r := parser.NewReader(f)
	m := map[uint64]parser.Socket{}
	for r.Next() {
		if s := r.Socket(); s.Inode != 0 {
			m[s.Inode] = *s
		}
	}
	require.NoError(t, r.Err())
	require.NoError(t, r.MalformedErr())
	return m
}

// TestDumpMatchesProcfs compares a dump with /proc/net/tcp and tcp6 read
// by parser just before and just after it: every socket in both reads is
// in the dump, and each field that is the same in both reads is the same
// in the dump.
func TestDumpMatchesProcfs(t *testing.T) {
	c, err := Dial()
	require.NoError(t, err)
	defer c.Close()
	// Some sockets of this process in each family, in several states.
	for _, f := range families {
		l := listen(t, f, nil)
		for range 3 {
			connect(t, l)
		}
		cl, _ := connect(t, l)
		_, err := cl.Write([]byte("unread"))
		require.NoError(t, err)
	}
	time.Sleep(20 * time.Millisecond)
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			before := procTable(t, f.table)
			dump := byInode(t, dumpAll(t, c, Request{Family: f.af}))
			after := procTable(t, f.table)
			compared := 0
			for ino, b := range before {
				a, ok := after[ino]
				if !ok {
					continue // closed meanwhile
				}
				s, ok := dump[ino]
				require.True(t, ok, "inode %d in both reads of %s but not in the dump: %+v", ino, f.table, b)
				compared++
				same := func(name string, pb, pa, d any) {
					if pb == pa {
						require.Equal(t, pb, d, "inode %d: %s", ino, name)
					}
				}
				same("local", b.Local, a.Local, s.Local)
				same("remote", b.Remote, a.Remote, s.Remote)
				same("state", b.State, a.State, s.State)
				same("uid", b.UID, a.UID, s.UID)
				same("rx_queue", b.RxQueue, a.RxQueue, s.RxQueue)
				same("timer", b.Timer, a.Timer, s.Timer)
				if b.State == parser.Listen {
					// procfs prints 0; sock_diag the accept backlog limit.
					require.Zero(t, b.TxQueue)
				} else {
					same("tx_queue", b.TxQueue, a.TxQueue, s.TxQueue)
				}
				if b.Timer == 0 || b.Timer == 1 {
					same("retransmits", b.Retransmits, a.Retransmits, s.Retransmits)
				}
				if b.Timer == a.Timer && b.Timer != 0 {
					// Both count down; the dump's is in between.
					require.LessOrEqual(t, s.TimerExpires, b.TimerExpires+1, "inode %d", ino)
					require.GreaterOrEqual(t, s.TimerExpires+1, a.TimerExpires, "inode %d", ino)
				}
			}
			require.GreaterOrEqual(t, compared, 9, "this test's own sockets")
		})
	}
}

func TestDumpStatesFilter(t *testing.T) {
	c, err := Dial()
	require.NoError(t, err)
	defer c.Close()
	l := listen(t, families[0], nil)
	client, server := connect(t, l)
	// A TIME_WAIT socket: the client closes first.
	tw, twServer := connect(t, l)
	twPort := addrPort(tw.LocalAddr())
	require.NoError(t, tw.Close())
	require.NoError(t, twServer.Close())
	time.Sleep(50 * time.Millisecond)

	ours := map[uint64]string{inodeOf(l): "listener", inodeOf(client): "client", inodeOf(server): "server"}
	tests := []struct {
		name   string
		states []parser.State
		want   []string
		tw     bool
	}{
		{"listen", []parser.State{parser.Listen}, []string{"listener"}, false},
		{"established", []parser.State{parser.Established}, []string{"client", "server"}, false},
		{"time wait", []parser.State{parser.TimeWait}, nil, true},
		{"listen and established", []parser.State{parser.Listen, parser.Established}, []string{"client", "listener", "server"}, false},
		{"all", nil, []string{"client", "listener", "server"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mask := StateMask(tt.states...)
			var found []string
			sawTW := false
			for _, s := range dumpAll(t, c, Request{Family: AFInet, States: mask}) {
				if mask != 0 {
					require.NotZero(t, mask&(1<<s.State), "%s in a dump of %v", s.State, tt.states)
				}
				if name, ok := ours[s.Inode]; ok {
					found = append(found, name)
				}
				if s.Local == twPort && s.State == parser.TimeWait {
					sawTW = true
				}
			}
			slices.Sort(found)
			require.Equal(t, tt.want, found)
			require.Equal(t, tt.tw, sawTW)
		})
	}
}

// TestDumpSkipsBoundOnly: a socket that is bound and neither listens nor
// connects is not in /proc/net/tcp, nor in a dump of all states; the
// kernel (6.7 on) dumps it only for the mask bit TCP_BOUND_INACTIVE.
func TestDumpSkipsBoundOnly(t *testing.T) {
	c, err := Dial()
	require.NoError(t, err)
	defer c.Close()
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			domain, addr := unix.AF_INET, unix.Sockaddr(&unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}})
			if f.af == AFInet6 {
				domain, addr = unix.AF_INET6, &unix.SockaddrInet6{Addr: [16]byte{15: 1}}
			}
			fd, err := unix.Socket(domain, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
			require.NoError(t, err)
			defer unix.Close(fd)
			require.NoError(t, unix.Bind(fd, addr))
			sa, err := unix.Getsockname(fd)
			require.NoError(t, err)
			port := 0
			switch sa := sa.(type) {
			case *unix.SockaddrInet4:
				port = sa.Port
			case *unix.SockaddrInet6:
				port = sa.Port
			}
			has := func(sockets []Socket) bool {
				return slices.ContainsFunc(sockets, func(s Socket) bool { return int(s.Local.Port()) == port })
			}
			for _, s := range procTable(t, f.table) {
				require.NotEqual(t, port, int(s.Local.Port()), "in %s: %+v", f.table, s)
			}
			require.False(t, has(dumpAll(t, c, Request{Family: f.af})), "in a dump of all states")
			require.False(t, has(dumpAll(t, c, Request{Family: f.af, States: AllStates})))
			const boundInactive = 13
			if kernelAtLeast(t, 6, 7) {
				require.True(t, has(dumpAll(t, c, Request{Family: f.af, States: 1 << boundInactive})),
					"the kernel dumps the bound socket for its own bit: the test's socket is there to be found")
			}
		})
	}
}

func TestStateMask(t *testing.T) {
	require.Equal(t, uint32(1<<10), StateMask(parser.Listen))
	require.Equal(t, uint32(1<<1|1<<6), StateMask(parser.Established, parser.TimeWait, parser.TimeWait))
	require.Zero(t, StateMask())
	require.Zero(t, StateMask(40))
}

// TestDumpManySockets holds 3000 connections and a listener, 6001
// sockets, and finds each exactly once in one dump of several dozen
// datagrams.
func TestDumpManySockets(t *testing.T) {
	const conns = 3000
	l := listen(t, families[0], nil)
	want := map[uint64]bool{inodeOf(l): true}
	for range conns {
		c, s := connect(t, l)
		want[inodeOf(c)] = true
		want[inodeOf(s)] = true
	}
	require.Len(t, want, 2*conns+1)

	c, err := Dial()
	require.NoError(t, err)
	defer c.Close()
	d, err := c.Dump(Request{Family: AFInet})
	require.NoError(t, err)
	counted := &countingReader{r: d}
	r := NewReader(counted)
	// Other sockets of the host may share our ports: count inodes.
	seen := map[uint64]int{}
	for r.Next() {
		if ino := r.Socket().Inode; want[ino] {
			seen[ino]++
		}
	}
	require.NoError(t, r.Err())
	require.True(t, r.Done())
	require.False(t, r.Interrupted())
	require.Zero(t, len(want)-len(seen), "sockets of ours missing from the dump")
	for ino, n := range seen {
		require.Equal(t, 1, n, "inode %d", ino)
	}
	require.Greater(t, counted.bytes, 6000*100)
	t.Logf("%d sockets of ours in %d bytes over %d reads", len(seen), counted.bytes, counted.reads)
}

// countingReader counts the reads and bytes of r.
type countingReader struct {
	r            io.Reader
	reads, bytes int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.reads++
	c.bytes += n
	return n, err
}

func TestDumpKernelRejects(t *testing.T) {
	c, err := Dial()
	require.NoError(t, err)
	defer c.Close()
	tests := []struct {
		name             string
		family, protocol uint8
		errno            syscall.Errno
		msg              string
	}{
		// __sock_diag_cmd refuses a family >= AF_MAX: NLMSG_ERROR.
		{"family out of range", 255, unix.IPPROTO_TCP, unix.EINVAL, "sock_diag dump of family 255: netlink error: invalid argument"},
		// inet_diag has no handler for the protocol: the dump starts and
		// ends in NLMSG_DONE with -ENOENT.
		{"unknown protocol", AFInet, 253, unix.ENOENT, "sock_diag dump of AF_INET: dump ended with error: no such file or directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.NoError(t, c.drain())
			require.NoError(t, c.send(tt.family, tt.protocol, 0, ^uint32(0)))
			c.dump.label = dumpLabel(tt.family)
			r := c.reader()
			r.Reset(&c.dump)
			require.False(t, r.Next())
			require.ErrorIs(t, r.Err(), tt.errno)
			var ke *KernelError
			require.ErrorAs(t, r.Err(), &ke)
			require.True(t, strings.HasPrefix(r.Err().Error(), tt.msg), r.Err().Error())
			require.False(t, r.Done())
		})
	}

	// The Conn works after an error.
	require.NotEmpty(t, dumpAll(t, c, Request{Family: AFInet}))

	// A family Dump does not know is refused before it is sent.
	_, err = c.Dump(Request{Family: unix.AF_UNIX})
	require.ErrorIs(t, err, ErrFamily)
	require.EqualError(t, err, "sock_diag dump of family 1: unknown address family: want AF_INET (2) or AF_INET6 (10)")
}

func TestDumpUnfinishedIsDrained(t *testing.T) {
	l := listen(t, families[0], nil)
	for range 500 {
		connect(t, l)
	}
	c, err := Dial()
	require.NoError(t, err)
	defer c.Close()
	r, err := c.Sockets(Request{Family: AFInet})
	require.NoError(t, err)
	require.True(t, r.Next(), "read one socket and leave the rest")
	// The kernel runs one dump per socket: without draining the next
	// request would fail with EBUSY.
	for range 3 {
		n := len(dumpAll(t, c, Request{Family: AFInet}))
		require.Greater(t, n, 1000)
	}
}

func TestDumpReads(t *testing.T) {
	l := listen(t, families[1], nil)
	for range 200 {
		connect(t, l)
	}
	c, err := Dial()
	require.NoError(t, err)
	defer c.Close()
	whole := dumpAll(t, c, Request{Family: AFInet6, Info: true})

	t.Run("short buffer", func(t *testing.T) {
		d, err := c.Dump(Request{Family: AFInet6, Info: true})
		require.NoError(t, err)
		_, err = d.Read(make([]byte, 100))
		require.ErrorIs(t, err, io.ErrShortBuffer)
		// The datagram is kept: a reader with room gets the whole dump.
		r := NewReader(d)
		n := 0
		for r.Next() {
			n++
		}
		require.NoError(t, r.Err())
		require.True(t, r.Done())
		require.InDelta(t, len(whole), n, 10)
	})
	t.Run("40 KiB buffer", func(t *testing.T) {
		d, err := c.Dump(Request{Family: AFInet6, Info: true})
		require.NoError(t, err)
		buf := make([]byte, 40<<10)
		var stream []byte
		reads := 0
		for {
			n, err := d.Read(buf)
			stream = append(stream, buf[:n]...)
			reads++
			if errors.Is(err, io.EOF) {
				break
			}
			require.NoError(t, err)
			require.Positive(t, n)
		}
		require.Greater(t, reads, 3)
		res := read(stream, nil)
		require.True(t, res.Done)
		require.Zero(t, res.Malformed)
		require.GreaterOrEqual(t, len(res.Sockets), 401, "this test's sockets at least")
	})
	t.Run("never blocks after the end", func(t *testing.T) {
		d, err := c.Dump(Request{Family: AFInet6})
		require.NoError(t, err)
		readDump(t, d)
		done := make(chan error, 1)
		go func() {
			_, err := d.Read(make([]byte, 1<<16))
			done <- err
		}()
		select {
		case err := <-done:
			require.ErrorIs(t, err, io.EOF)
		case <-time.After(2 * time.Second):
			t.Fatal("Read blocked after the end of the dump")
		}
	})
	t.Run("after Close", func(t *testing.T) {
		c2, err := Dial()
		require.NoError(t, err)
		require.NoError(t, c2.Close())
		_, err = c2.Sockets(Request{Family: AFInet6})
		require.ErrorIs(t, err, os.ErrClosed)
		require.ErrorIs(t, c2.Close(), os.ErrClosed)
	})
}

func TestDumpAllocs(t *testing.T) {
	l := listen(t, families[0], nil)
	for range 300 {
		connect(t, l)
	}
	c, err := Dial()
	require.NoError(t, err)
	defer c.Close()
	for _, info := range []bool{false, true} {
		req := Request{Family: AFInet, Info: info}
		dumpAll(t, c, req) // the Reader is allocated once
		n := 0
		allocs := testing.AllocsPerRun(5, func() {
			r, err := c.Sockets(req)
			if err != nil {
				panic(err)
			}
			n = 0
			for r.Next() {
				n++
			}
			if r.Err() != nil || !r.Done() {
				panic(fmt.Sprint(r.Err()))
			}
		})
		require.Zero(t, allocs, "info=%v", info)
		require.Greater(t, n, 600)
	}
}

// ssSocket is what `ss -tinHe` prints of a socket that the tests compare.
type ssSocket struct {
	cookie        uint64
	rttMs         float64
	cwnd          uint64
	totalRetrans  uint64
	bytesAcked    uint64
	bytesReceived uint64
}

// ss runs `ss -tinHe` with filter and parses its output: a line per
// socket, and a line of tcp_info after it that starts with a tab.
func ss(t testing.TB, filter string) []ssSocket {
	t.Helper()
	path, err := exec.LookPath("ss")
	if err != nil {
		t.Fatalf("this test needs iproute2's ss: %v", err)
	}
	out, err := exec.Command(path, "-tinHe", filter).Output()
	require.NoError(t, err)
	var sockets []ssSocket
	for _, line := range strings.Split(string(out), "\n") {
		if line == "" {
			continue
		}
		if !strings.HasPrefix(line, "\t") {
			sockets = append(sockets, ssSocket{})
		}
		require.NotEmpty(t, sockets, "ss output starts with a tcp_info line: %q", out)
		s := &sockets[len(sockets)-1]
		for _, tok := range strings.Fields(line) {
			k, v, ok := strings.Cut(tok, ":")
			if !ok {
				continue
			}
			num := func() uint64 {
				n, err := strconv.ParseUint(v, 10, 64)
				require.NoError(t, err, tok)
				return n
			}
			switch k {
			case "sk":
				s.cookie, err = strconv.ParseUint(v, 16, 64)
				require.NoError(t, err, tok)
			case "rtt":
				rtt, _, _ := strings.Cut(v, "/")
				s.rttMs, err = strconv.ParseFloat(rtt, 64)
				require.NoError(t, err, tok)
			case "cwnd":
				s.cwnd = num()
			case "retrans":
				_, total, _ := strings.Cut(v, "/")
				s.totalRetrans, err = strconv.ParseUint(total, 10, 64)
				require.NoError(t, err, tok)
			case "bytes_acked":
				s.bytesAcked = num()
			case "bytes_received":
				s.bytesReceived = num()
			}
		}
	}
	return sockets
}

// TestDumpMatchesSS compares tcp_info and the cookie with what iproute2's
// ss prints for the same sockets, after a 4 MiB transfer, once idle.
func TestDumpMatchesSS(t *testing.T) {
	const size = 4 << 20
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			l := listen(t, f, nil)
			client, server := connect(t, l)
			done := make(chan error, 1)
			go func() {
				_, err := client.Write(make([]byte, size))
				done <- err
			}()
			n, err := io.ReadFull(server, make([]byte, size))
			require.NoError(t, err)
			require.Equal(t, size, n)
			require.NoError(t, <-done)
			time.Sleep(300 * time.Millisecond) // idle: every byte acknowledged

			// Each end by its addresses: other sockets may share a port.
			tuple := func(c net.Conn) string {
				return fmt.Sprintf("src %s dst %s", addrPort(c.LocalAddr()), addrPort(c.RemoteAddr()))
			}
			ssServer := ss(t, tuple(server))
			ssClient := ss(t, tuple(client))
			require.Len(t, ssServer, 1)
			require.Len(t, ssClient, 1)

			c, err := Dial()
			require.NoError(t, err)
			defer c.Close()
			sockets := byInode(t, dumpAll(t, c, Request{Family: f.af, Info: true}))
			cs, ok := sockets[inodeOf(client)]
			require.True(t, ok)
			ssv, ok := sockets[inodeOf(server)]
			require.True(t, ok)

			acked, ok := cs.Info.BytesAcked()
			require.True(t, ok)
			require.GreaterOrEqual(t, acked, uint64(size))
			received, ok := ssv.Info.BytesReceived()
			require.True(t, ok)
			require.GreaterOrEqual(t, received, uint64(size))
			sent, ok := cs.Info.BytesSent()
			require.True(t, ok)
			require.GreaterOrEqual(t, sent, uint64(size))

			for _, p := range []struct {
				name string
				s    Socket
				ss   ssSocket
			}{{"client", cs, ssClient[0]}, {"server", ssv, ssServer[0]}} {
				require.Equal(t, p.ss.cookie, p.s.Cookie, "%s: ss prints the cookie as sk:%x", p.name, p.s.Cookie)
				rtt, _ := p.s.Info.RTT()
				require.InDelta(t, p.ss.rttMs*1000, float64(rtt), 50+0.2*float64(rtt), "%s: rtt in µs", p.name)
				cwnd, _ := p.s.Info.SndCwnd()
				require.Equal(t, p.ss.cwnd, uint64(cwnd), p.name)
				retrans, _ := p.s.Info.TotalRetrans()
				require.Equal(t, p.ss.totalRetrans, uint64(retrans), p.name)
				acked, _ := p.s.Info.BytesAcked()
				require.Equal(t, p.ss.bytesAcked, acked, p.name)
				received, _ := p.s.Info.BytesReceived()
				require.Equal(t, p.ss.bytesReceived, received, p.name)
			}
		})
	}
}

// TestInfoMatchesGetsockopt compares INET_DIAG_INFO with
// getsockopt(TCP_INFO) of the same idle socket: the same struct.
func TestInfoMatchesGetsockopt(t *testing.T) {
	l := listen(t, families[0], nil)
	client, _ := connect(t, l)
	_, err := client.Write(make([]byte, 100000))
	require.NoError(t, err)
	time.Sleep(100 * time.Millisecond)

	var raw [TCPInfoCapacity]byte
	n := uint32(len(raw))
	rc, err := client.SyscallConn()
	require.NoError(t, err)
	var serr syscall.Errno
	require.NoError(t, rc.Control(func(fd uintptr) {
		_, _, serr = unix.Syscall6(unix.SYS_GETSOCKOPT, fd, unix.IPPROTO_TCP, unix.TCP_INFO,
			uintptr(unsafe.Pointer(&raw[0])), uintptr(unsafe.Pointer(&n)), 0)
	}))
	require.Zero(t, serr)
	var fromOpt TCPInfo
	fromOpt.set(raw[:n])

	c, err := Dial()
	require.NoError(t, err)
	defer c.Close()
	s := byInode(t, dumpAll(t, c, Request{Family: AFInet, Info: true}))[inodeOf(client)]
	require.Equal(t, int(n), s.Info.Len(), "the kernel's size")
	for _, a := range accessors() {
		if a.name == "tcpi_rcv_wnd" || a.name == "tcpi_pacing_rate" {
			continue // may move while idle
		}
		want, ok1 := a.get(&fromOpt)
		got, ok2 := a.get(&s.Info)
		require.True(t, ok1 && ok2, a.name)
		require.Equal(t, want, got, a.name)
	}
}

// TestDumpMPTCPListener documents what a Go listener is on a kernel with
// MPTCP, Go's default since 1.24: the TCP table lists its first subflow,
// a TCP socket with the listener's inode and a cookie of its own, not the
// SO_COOKIE of the listener's file descriptor.
func TestDumpMPTCPListener(t *testing.T) {
	lc := net.ListenConfig{}
	lc.SetMultipathTCP(true)
	ln, err := lc.Listen(context.Background(), "tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	l := ln.(*net.TCPListener)
	if b, err := os.ReadFile("/proc/sys/net/mptcp/enabled"); err != nil || strings.TrimSpace(string(b)) != "1" {
		t.Skip("MPTCP is not enabled: the listener is plain TCP")
	}
	c, err := Dial()
	require.NoError(t, err)
	defer c.Close()
	s, ok := byInode(t, dumpAll(t, c, Request{Family: AFInet}))[inodeOf(l)]
	require.True(t, ok)
	require.Equal(t, parser.Listen, s.State)
	require.Equal(t, addrPort(l.Addr()), s.Local)
	require.NotEqual(t, cookieOf(t, l), s.Cookie)
}

// TestDumpSkipsStrays puts datagrams that are not the reply among the
// reply's: one another process sends to the Conn's port, with the dump's
// sequence number, and the kernel's answer to another request, with
// another sequence number. The Reader sees neither.
func TestDumpSkipsStrays(t *testing.T) {
	requireRoot(t, "with CAP_NET_ADMIN to send to another netlink socket")
	l := listen(t, families[0], nil)
	for range 300 {
		connect(t, l) // a dump of several datagrams
	}
	c, err := Dial()
	require.NoError(t, err)
	defer c.Close()
	sa, err := unix.Getsockname(c.fd)
	require.NoError(t, err)
	port := sa.(*unix.SockaddrNetlink).Pid
	require.NotZero(t, port)

	d, err := c.Dump(Request{Family: AFInet})
	require.NoError(t, err)
	seq := d.seq

	// A fake socket from a process, to the Conn's port.
	other, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	require.NoError(t, err)
	defer unix.Close(other)
	fake := sampleDiag(1, false)
	fake.inode = 424242
	msg := diagMsg(fake)
	binary.NativeEndian.PutUint32(msg[8:], seq)
	require.NoError(t, unix.Sendto(other, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Pid: port}))

	// A second request while the dump runs: the kernel refuses it
	// (EBUSY) with its own sequence number.
	require.NoError(t, c.send(AFInet, unix.IPPROTO_TCP, 0, ^uint32(0)))
	d.seq, d.ended, d.err = seq, false, nil

	r := NewReader(d)
	n := 0
	for r.Next() {
		require.NotEqual(t, uint64(424242), r.Socket().Inode, "the fake socket")
		n++
	}
	require.NoError(t, r.Err())
	require.True(t, r.Done())
	require.Greater(t, n, 600)
}

// TestDumpAfterFailedRead starts dumps and leaves them, unread or failed,
// in several ways: the next dump on the Conn is whole each time.
func TestDumpAfterFailedRead(t *testing.T) {
	l := listen(t, families[0], nil)
	for range 300 {
		connect(t, l)
	}
	c, err := Dial()
	require.NoError(t, err)
	defer c.Close()
	leave := map[string]func(d *Dump){
		"unread":       func(*Dump) {},
		"one datagram": func(d *Dump) { _, _ = d.Read(make([]byte, 1<<16)) },
		"short buffer": func(d *Dump) {
			_, err := d.Read(make([]byte, 10))
			require.ErrorIs(t, err, io.ErrShortBuffer)
		},
		"failed": func(d *Dump) {
			_, _ = d.Read(make([]byte, 1<<16))
			d.err = errors.New("a receive error")
		},
		"read to the end": func(d *Dump) { readDump(t, d) },
	}
	for name, f := range leave {
		t.Run(name, func(t *testing.T) {
			d, err := c.Dump(Request{Family: AFInet})
			require.NoError(t, err)
			f(d)
			require.Greater(t, len(dumpAll(t, c, Request{Family: AFInet})), 600)
		})
	}
}
