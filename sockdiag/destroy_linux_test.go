package sockdiag

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/tcpconn/telegraf-tcpconn/parser"
)

// received is what a background Receive loop reports: the sockets of one
// Receive, or its error.
type received struct {
	sockets []Socket
	err     error
}

// receiveLoop calls l.Receive until l is closed, and sends what each call
// gives on the returned channel. The listener is closed when the test
// ends. The notifications are the whole host's: once the test stops
// reading, other processes' closes can fill the channel, so the loop
// gives up sending when the test ends.
func receiveLoop(t testing.TB, l *Listener) <-chan received {
	t.Helper()
	ch := make(chan received, 1000)
	done, stop := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			r, err := l.Receive()
			if errors.Is(err, os.ErrClosed) {
				return
			}
			var rec received
			rec.err = err
			if r != nil {
				for r.Next() {
					rec.sockets = append(rec.sockets, *r.Socket())
				}
				if r.Err() != nil || r.Malformed() > 0 {
					rec.err = errors.Join(r.Err(), r.MalformedErr())
				}
			}
			select {
			case ch <- rec:
			case <-stop:
				return
			}
		}
	}()
	t.Cleanup(func() {
		close(stop)
		l.Close()
		<-done
	})
	return ch
}

// await takes notifications from ch until match has returned true for
// want of them, or fails after a timeout. match sees every socket.
func await(t testing.TB, ch <-chan received, want int, match func(s *Socket) bool) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	got := 0
	for got < want {
		select {
		case rec := <-ch:
			require.NoError(t, rec.err)
			for i := range rec.sockets {
				if match(&rec.sockets[i]) {
					got++
				}
			}
		case <-timeout:
			t.Fatalf("%d of %d notifications after 10 s", got, want)
		}
	}
}

// TestListenDestroyed opens connections in both families, takes their
// cookies from a dump, closes them and receives one notification for each
// end, with the cookie, the ports and the state CLOSE, no inode and uid 0.
func TestListenDestroyed(t *testing.T) {
	l, err := ListenDestroyed()
	require.NoError(t, err)
	ch := receiveLoop(t, l)

	const perFamily = 10
	type end struct {
		conn          *net.TCPConn
		local, remote netip.AddrPort
		family        uint8
	}
	var ends []end
	var listeners []*net.TCPListener
	for _, f := range families {
		ln := listen(t, f, nil)
		listeners = append(listeners, ln)
		for range perFamily {
			c, s := connect(t, ln)
			for _, cn := range []*net.TCPConn{c, s} {
				ends = append(ends, end{cn, addrPort(cn.LocalAddr()), addrPort(cn.RemoteAddr()), f.af})
			}
		}
	}
	// Cookies are given on first request: take them from a dump now,
	// and check they are the sockets' SO_COOKIE.
	c, err := Dial()
	require.NoError(t, err)
	defer c.Close()
	byCookie := map[uint64]end{}
	for _, f := range families {
		sockets := byInode(t, dumpAll(t, c, Request{Family: f.af}))
		for _, e := range ends {
			if e.family != f.af {
				continue
			}
			s, ok := sockets[inodeOf(e.conn)]
			require.True(t, ok)
			require.Equal(t, cookieOf(t, e.conn), s.Cookie)
			byCookie[s.Cookie] = e
		}
	}
	listenerCookie := map[uint64]bool{}
	for i, f := range families {
		s := byInode(t, dumpAll(t, c, Request{Family: f.af, States: StateMask(parser.Listen)}))[inodeOf(listeners[i])]
		listenerCookie[s.Cookie] = true
	}
	require.Len(t, byCookie, 4*perFamily)

	for _, e := range ends {
		require.NoError(t, e.conn.Close())
	}
	seen := map[uint64]bool{}
	await(t, ch, len(byCookie), func(s *Socket) bool {
		e, ok := byCookie[s.Cookie]
		if !ok {
			return false
		}
		require.False(t, seen[s.Cookie], "cookie %#x notified twice", s.Cookie)
		seen[s.Cookie] = true
		require.Equal(t, e.family, s.Family)
		require.Equal(t, e.local, s.Local)
		require.Equal(t, e.remote, s.Remote)
		require.Equal(t, parser.Close, s.State)
		require.Zero(t, s.Inode)
		require.Zero(t, s.UID)
		require.Equal(t, 280, s.Info.Len())
		return true
	})

	// The listeners too, with the cookies the dump gave them.
	for _, ln := range listeners {
		require.NoError(t, ln.Close())
	}
	await(t, ch, 2, func(s *Socket) bool {
		if !listenerCookie[s.Cookie] {
			return false
		}
		require.Equal(t, parser.Close, s.State)
		require.Zero(t, s.Remote.Port())
		return true
	})
	require.Zero(t, l.Overruns())
}

// TestListenDestroyedAbort shows what is left of a socket that resets its
// connection (SO_LINGER 0) when it is notified: the kernel has already
// cleared its local address and remote port.
func TestListenDestroyedAbort(t *testing.T) {
	l, err := ListenDestroyed()
	require.NoError(t, err)
	ch := receiveLoop(t, l)
	for _, f := range families {
		ln := listen(t, f, nil)
		client, server := connect(t, ln)
		cookies := map[uint64]string{cookieOf(t, client): "client", cookieOf(t, server): "server"}
		local, remote := addrPort(client.LocalAddr()), addrPort(client.RemoteAddr())
		require.NoError(t, client.SetLinger(0))
		require.NoError(t, client.Close())
		require.NoError(t, server.Close())
		await(t, ch, 2, func(s *Socket) bool {
			switch cookies[s.Cookie] {
			case "client":
				unspecified := netip.IPv4Unspecified()
				if f.af == AFInet6 {
					unspecified = netip.IPv6Unspecified()
				}
				require.Equal(t, netip.AddrPortFrom(unspecified, local.Port()), s.Local, f.name)
				require.Equal(t, netip.AddrPortFrom(remote.Addr(), 0), s.Remote, f.name)
			case "server":
				// Reset by its peer: intact.
				require.Equal(t, remote, s.Local, f.name)
				require.Equal(t, local, s.Remote, f.name)
			default:
				return false
			}
			require.Equal(t, parser.Close, s.State)
			return true
		})
	}
}

// TestListenDestroyedResetByPeer shows that a socket reset by its peer
// leaves the tables while its file is open, and is notified only when the
// file is closed.
func TestListenDestroyedResetByPeer(t *testing.T) {
	l, err := ListenDestroyed()
	require.NoError(t, err)
	ch := receiveLoop(t, l)
	ln := listen(t, families[0], nil)
	client, server := connect(t, ln)
	cookie, ino := cookieOf(t, client), inodeOf(client)
	require.NoError(t, server.SetLinger(0))
	require.NoError(t, server.Close()) // a reset to the client
	c, err := Dial()
	require.NoError(t, err)
	defer c.Close()
	gone := false
	for range 50 {
		if _, ok := byInode(t, dumpAll(t, c, Request{Family: AFInet}))[ino]; !ok {
			gone = true
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	require.True(t, gone, "the reset socket left the table")

	// Nothing yet for the client, whose file is open.
	deadline := time.After(300 * time.Millisecond)
wait:
	for {
		select {
		case rec := <-ch:
			for _, s := range rec.sockets {
				require.NotEqual(t, cookie, s.Cookie, "notified with its file open")
			}
		case <-deadline:
			break wait
		}
	}
	require.NoError(t, client.Close())
	await(t, ch, 1, func(s *Socket) bool { return s.Cookie == cookie })
}

// TestListenDestroyedTimeWait shows when the socket of a connection that
// ends in TIME_WAIT is notified: at once, when the full socket is replaced
// by its TIME_WAIT successor, which keeps its cookie; the TIME_WAIT socket
// is never notified (checked by hand: not when it expires 60 s later).
func TestListenDestroyedTimeWait(t *testing.T) {
	l, err := ListenDestroyed()
	require.NoError(t, err)
	ch := receiveLoop(t, l)
	ln := listen(t, families[0], nil)
	client, server := connect(t, ln)
	c, err := Dial()
	require.NoError(t, err)
	defer c.Close()
	cookie := cookieOf(t, client)
	local, remote := addrPort(client.LocalAddr()), addrPort(client.RemoteAddr())

	require.NoError(t, client.Close())
	require.NoError(t, server.Close())
	await(t, ch, 1, func(s *Socket) bool { return s.Cookie == cookie })

	found := false
	for _, s := range dumpAll(t, c, Request{Family: AFInet, States: StateMask(parser.TimeWait)}) {
		if s.Local == local && s.Remote == remote {
			found = true
			require.Equal(t, cookie, s.Cookie, "the TIME_WAIT socket keeps the cookie")
			require.Zero(t, s.Inode)
			require.Equal(t, uint8(3), s.Timer)
		}
	}
	require.True(t, found, "the client is in TIME_WAIT")
}

// TestListenDestroyedRequestSocket shows that a request socket, the
// server's half-open connection (SYN_RECV), is not notified when it goes.
// TCP_DEFER_ACCEPT keeps the connection a request socket until data
// arrives; the client's reset then removes it.
func TestListenDestroyedRequestSocket(t *testing.T) {
	l, err := ListenDestroyed()
	require.NoError(t, err)
	ch := receiveLoop(t, l)
	ln := listen(t, families[0], func(fd int) {
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_DEFER_ACCEPT, 5)
	})
	client, err := net.DialTCP("tcp4", nil, ln.Addr().(*net.TCPAddr))
	require.NoError(t, err)
	local := addrPort(client.LocalAddr())

	c, err := Dial()
	require.NoError(t, err)
	defer c.Close()
	var req *Socket
	for _, s := range dumpAll(t, c, Request{Family: AFInet, States: StateMask(parser.SynRecv)}) {
		if s.Remote == local {
			req = &s
		}
	}
	require.NotNil(t, req, "the server side is a request socket")
	require.Equal(t, parser.SynRecv, req.State)
	require.Zero(t, req.Inode)

	clientCookie := cookieOf(t, client)
	require.NoError(t, client.SetLinger(0))
	require.NoError(t, client.Close())
	await(t, ch, 1, func(s *Socket) bool {
		require.NotEqual(t, req.Cookie, s.Cookie, "a request socket notified")
		return s.Cookie == clientCookie
	})
	// Give a late notification time to arrive.
	deadline := time.After(300 * time.Millisecond)
wait:
	for {
		select {
		case rec := <-ch:
			for _, s := range rec.sockets {
				require.NotEqual(t, req.Cookie, s.Cookie, "a request socket notified")
			}
		case <-deadline:
			break wait
		}
	}
	for _, s := range dumpAll(t, c, Request{Family: AFInet, States: StateMask(parser.SynRecv)}) {
		require.NotEqual(t, req.Cookie, s.Cookie, "the request socket is gone")
	}
}

// TestListenDestroyedUnprivileged runs a Listener as uid 65534: joining
// the groups needs no privilege, and the receive buffer is capped at
// net.core.rmem_max.
func TestListenDestroyedUnprivileged(t *testing.T) {
	b, err := os.ReadFile("/proc/sys/net/core/rmem_max")
	require.NoError(t, err)
	rmemMax, err := strconv.Atoi(strings.TrimSpace(string(b)))
	require.NoError(t, err)
	_, out := startHelper(t, nobodyCmd(t, "destroy", strconv.Itoa(4*rmemMax)))
	f := fields(readLine(t, out))
	require.Equal(t, "65534", f["uid"])
	require.Equal(t, "10", f["matched"])
	require.Equal(t, strconv.Itoa(2*rmemMax), f["rcvbuf"], "SO_RCVBUF, capped")
}

func TestListenDestroyedReceiveBuffer(t *testing.T) {
	requireRoot(t, "with CAP_NET_ADMIN to pass net.core.rmem_max")
	lc := ListenConfig{ReceiveBuffer: 8 << 20}
	l, err := lc.ListenDestroyed()
	require.NoError(t, err)
	defer l.Close()
	// SO_RCVBUFFORCE passes net.core.rmem_max; the kernel doubles it.
	require.Equal(t, 16<<20, l.ReceiveBuffer())

	l2, err := ListenDestroyed()
	require.NoError(t, err)
	defer l2.Close()
	require.Equal(t, 2*DefaultReceiveBuffer, l2.ReceiveBuffer())
}

// TestListenDestroyedOverrun lets the kernel drop notifications: in a
// network namespace of its own, a helper opens and closes 300 connections
// while the Listener's receive buffer holds a few dozen. Receive reports
// ErrOverrun, and the Listener goes on receiving.
func TestListenDestroyedOverrun(t *testing.T) {
	name, path := newNetNS(t)
	lc := ListenConfig{ReceiveBuffer: 16 << 10, NetNS: path}
	l, err := lc.ListenDestroyed()
	require.NoError(t, err)
	require.Equal(t, 32<<10, l.ReceiveBuffer())

	// No Receive until the burst is over.
	_, out := startHelper(t, netnsHelperCmd(t, name, "churn", "300"))
	require.True(t, strings.HasPrefix(readLine(t, out), "done"))
	time.Sleep(200 * time.Millisecond) // notifications go through a workqueue

	ch := receiveLoop(t, l)
	overrun := false
	timeout := time.After(10 * time.Second)
	for !overrun {
		select {
		case rec := <-ch:
			if rec.err != nil {
				require.ErrorIs(t, rec.err, ErrOverrun)
				require.Empty(t, rec.sockets)
				overrun = true
			}
		case <-timeout:
			t.Fatal("no ErrOverrun")
		}
	}
	require.Positive(t, l.Overruns())

	// The Listener still works: the server end of the next helper's
	// connection is notified. (Its client end resets the connection,
	// which clears the remote port of its notification.)
	_, out = startHelper(t, netnsHelperCmd(t, name, "churn", "1"))
	port, err := strconv.Atoi(fields(readLine(t, out))["port"])
	require.NoError(t, err)
	got := 0
	timeout = time.After(10 * time.Second)
	for got < 1 {
		select {
		case rec := <-ch:
			if errors.Is(rec.err, ErrOverrun) {
				continue // the rest of the burst, still being dropped
			}
			require.NoError(t, rec.err)
			for _, s := range rec.sockets {
				if s.Local.Port() == uint16(port) {
					got++
				}
			}
		case <-timeout:
			t.Fatal("no notification after the overrun")
		}
	}
}

func TestListenerCloseUnblocksReceive(t *testing.T) {
	_, path := newNetNS(t) // a namespace where nothing closes
	lc := ListenConfig{NetNS: path}
	l, err := lc.ListenDestroyed()
	require.NoError(t, err)
	errc := make(chan error, 1)
	go func() {
		_, err := l.Receive()
		errc <- err
	}()
	time.Sleep(50 * time.Millisecond)
	require.NoError(t, l.Close())
	select {
	case err := <-errc:
		require.ErrorIs(t, err, os.ErrClosed)
	case <-time.After(2 * time.Second):
		t.Fatal("Receive still blocked after Close")
	}
	_, err = l.Receive()
	require.ErrorIs(t, err, os.ErrClosed)
	require.Error(t, l.Close())
}

func TestListenDestroyedNetNSErrors(t *testing.T) {
	lc := ListenConfig{NetNS: "/proc/self/ns/uts"}
	_, err := lc.ListenDestroyed()
	require.ErrorIs(t, err, syscall.EINVAL)
	require.ErrorContains(t, err, `sock_diag destroy notifications in network namespace "/proc/self/ns/uts": setns: invalid argument: not a network namespace`)
}
