//go:build linux

// Package loadgen opens and holds established loopback TCP connections,
// spread over child processes, for the whole-host scale benchmark.
//
// A Load of N connections holds 2N owned sockets: each child dials its own
// listeners, so it holds both ends. A child holds at most MaxPerChild
// connections (about 2*MaxPerChild descriptors), which keeps it under a hard
// RLIMIT_NOFILE of 20000. Each child listens on its own loopback address
// (127.0.0.2, 127.0.0.3, …) and on several ports, so the ephemeral port
// range is shared by many destinations and never exhausted. On top of the N
// connections each child holds a few idle listeners, some IPv6 connections
// on ::1 (counted in N) and some CLOSE_WAIT sockets: the client end is
// closed, the server end is kept and never closed.
//
// Every socket is set to SO_LINGER 0, so that tearing a load down resets the
// connections instead of leaving hundreds of thousands of TIME_WAIT rows in
// the tables for the next measurement. Children die with their parent
// (Pdeathsig) and when their stdin closes.
//
// The child side is RunChild; a command that wants to start loads must call
// it when started with the arguments Start gives (see bench/cmd/loadgen).
package loadgen

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// MaxPerChild is the most connections one child holds.
const MaxPerChild = 9000

// ChildFlag is the first argument of a child process.
const ChildFlag = "-loadgen-child"

// Shape is the load of one child.
type Shape struct {
	Index     int // child number: its address is 127.0.0.(2+Index)
	Conns     int // established connections, both ends held (IPv6 ones included)
	V6        int // of Conns, how many are on ::1
	Ports     int // IPv4 listeners the connections are spread over
	Idle      int // extra listeners that nobody dials
	CloseWait int // connections whose client end is closed: one CLOSE_WAIT socket each
}

// Addr is the IPv4 loopback address of the child.
func (s Shape) Addr() [4]byte {
	return [4]byte{127, 0, byte((2 + s.Index) >> 8), byte((2 + s.Index) & 0xff)}
}

// Sockets is the number of sockets the child owns once ready.
func (s Shape) Sockets() int { return 2*s.Conns + s.CloseWait + s.Listeners() }

// Listeners is the number of listening sockets of the child.
func (s Shape) Listeners() int {
	n := s.Ports + s.Idle
	if s.V6 > 0 {
		n++
	}
	return n
}

func (s Shape) args() []string {
	return []string{ChildFlag,
		"-index", strconv.Itoa(s.Index),
		"-conns", strconv.Itoa(s.Conns),
		"-v6", strconv.Itoa(s.V6),
		"-ports", strconv.Itoa(s.Ports),
		"-idle", strconv.Itoa(s.Idle),
		"-closewait", strconv.Itoa(s.CloseWait),
	}
}

// Plan spreads n connections over max(2, ceil(n/MaxPerChild)) children:
// 1% of them on IPv6, 0.5% extra CLOSE_WAIT sockets, 4 listening ports and
// 2 idle listeners per child.
func Plan(n int) []Shape {
	p := max(2, (n+MaxPerChild-1)/MaxPerChild)
	shapes := make([]Shape, p)
	for i := range shapes {
		c := n / p
		if i < n%p {
			c++
		}
		shapes[i] = Shape{
			Index:     i,
			Conns:     c,
			V6:        max(1, c/100),
			Ports:     4,
			Idle:      2,
			CloseWait: max(1, c/200),
		}
		if c == 0 {
			shapes[i].V6 = 0
		}
	}
	return shapes
}

// Load is a running set of children.
type Load struct {
	Shapes []Shape
	PIDs   []int
	Ready  time.Duration // from Start to the last child ready

	children []*child
}

type child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
}

// Conns is the number of established connections held.
func (l *Load) Conns() int {
	n := 0
	for _, s := range l.Shapes {
		n += s.Conns
	}
	return n
}

// Sockets is the number of sockets the load owns.
func (l *Load) Sockets() int {
	n := 0
	for _, s := range l.Shapes {
		n += s.Sockets()
	}
	return n
}

// Start runs exe with the child arguments of each shape, and returns when
// every child is ready. exe must call RunChild when its first argument is
// ChildFlag. On error, the children already started are stopped.
func Start(ctx context.Context, exe string, shapes []Shape) (*Load, error) {
	start := time.Now()
	l := &Load{Shapes: shapes}
	type ready struct {
		i   int
		err error
	}
	readyc := make(chan ready, len(shapes))
	for i, s := range shapes {
		cmd := exec.Command(exe, s.args()...)
		cmd.Stderr = os.Stderr
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		stdin, err := cmd.StdinPipe()
		if err != nil {
			l.Close()
			return nil, err
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			l.Close()
			return nil, err
		}
		if err := cmd.Start(); err != nil {
			l.Close()
			return nil, fmt.Errorf("starting load child %d: %w", i, err)
		}
		l.children = append(l.children, &child{cmd: cmd, stdin: stdin})
		l.PIDs = append(l.PIDs, cmd.Process.Pid)
		go func() {
			line, err := bufio.NewReader(stdout).ReadString('\n')
			if err == nil && !strings.HasPrefix(line, "ready") {
				err = fmt.Errorf("unexpected line %q", line)
			}
			if err != nil {
				err = fmt.Errorf("load child %d (pid %d) not ready: %w", i, cmd.Process.Pid, err)
			}
			readyc <- ready{i, err}
			_, _ = io.Copy(io.Discard, stdout)
		}()
	}
	for range shapes {
		select {
		case r := <-readyc:
			if r.err != nil {
				l.Close()
				return nil, r.err
			}
		case <-ctx.Done():
			l.Close()
			return nil, fmt.Errorf("waiting for the load: %w", ctx.Err())
		}
	}
	l.Ready = time.Since(start)
	return l, nil
}

// Close stops the children: it closes their stdin, and kills those that
// have not exited after 10 seconds.
func (l *Load) Close() {
	for _, c := range l.children {
		_ = c.stdin.Close()
	}
	var wg sync.WaitGroup
	for _, c := range l.children {
		wg.Go(func() {
			done := make(chan struct{})
			go func() {
				_ = c.cmd.Wait()
				close(done)
			}()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				_ = c.cmd.Process.Kill()
				<-done
			}
		})
	}
	wg.Wait()
	l.children = nil
}

// RunChild is the child side: it parses args (without ChildFlag), opens and
// holds the connections, writes "ready ..." to out, and returns when in
// reaches EOF.
func RunChild(args []string, in io.Reader, out io.Writer) error {
	var s Shape
	fs := flag.NewFlagSet("loadgen-child", flag.ContinueOnError)
	fs.IntVar(&s.Index, "index", 0, "child number")
	fs.IntVar(&s.Conns, "conns", 0, "connections")
	fs.IntVar(&s.V6, "v6", 0, "IPv6 connections among conns")
	fs.IntVar(&s.Ports, "ports", 4, "IPv4 listening ports")
	fs.IntVar(&s.Idle, "idle", 0, "idle listeners")
	fs.IntVar(&s.CloseWait, "closewait", 0, "CLOSE_WAIT sockets")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if s.Ports < 1 || s.V6 > s.Conns || s.Index < 0 || s.Index > 60000 {
		return fmt.Errorf("bad shape %+v", s)
	}
	if err := raiseNoFile(); err != nil {
		return err
	}
	h, err := hold(s)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(out, "ready conns=%d sockets=%d fds=%d\n", s.Conns, s.Sockets(), h); err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, in)
	return err
}

// raiseNoFile raises the soft RLIMIT_NOFILE to the hard limit.
func raiseNoFile() error {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return err
	}
	rl.Cur = rl.Max
	return unix.Setrlimit(unix.RLIMIT_NOFILE, &rl)
}

// listener is one listening socket and the number of connections to
// accept on it.
type listener struct {
	fd     int
	sa     unix.Sockaddr
	expect int
}

// hold opens everything and returns the number of descriptors held. The
// descriptors are plain ints: nothing closes them until the process exits.
func hold(s Shape) (int, error) {
	var ls []*listener
	for range s.Ports {
		l, err := listen(unix.AF_INET, &unix.SockaddrInet4{Addr: s.Addr()})
		if err != nil {
			return 0, err
		}
		ls = append(ls, l)
	}
	nv4 := len(ls)
	if s.V6 > 0 {
		l, err := listen(unix.AF_INET6, &unix.SockaddrInet6{Addr: [16]byte{15: 1}})
		if err != nil {
			return 0, fmt.Errorf("IPv6: %w", err)
		}
		ls = append(ls, l)
	}
	for range s.Idle {
		if _, err := listen(unix.AF_INET, &unix.SockaddrInet4{Addr: s.Addr()}); err != nil {
			return 0, err
		}
	}

	// Job j dials: IPv6 for the first V6, then IPv4 round robin over the
	// ports; the last CloseWait jobs close their client end.
	jobs := s.Conns + s.CloseWait
	target := func(j int) *listener {
		if j < s.V6 {
			return ls[nv4]
		}
		return ls[j%nv4]
	}
	for j := range jobs {
		target(j).expect++
	}

	var (
		wg      sync.WaitGroup
		errOnce sync.Once
		first   error
		failed  atomic.Bool
	)
	fail := func(err error) {
		errOnce.Do(func() { first = err })
		failed.Store(true)
	}
	// Accept concurrently with dialing, so that the backlog never fills.
	for _, l := range ls {
		wg.Go(func() {
			for range l.expect {
				fd, _, err := accept(l.fd)
				if err != nil {
					fail(fmt.Errorf("accept: %w", err))
					return
				}
				_ = linger0(fd)
			}
		})
	}
	var next atomic.Int64
	const dialers = 8
	var dwg sync.WaitGroup
	for range dialers {
		dwg.Go(func() {
			for !failed.Load() {
				j := int(next.Add(1) - 1)
				if j >= jobs {
					return
				}
				l := target(j)
				closeWait := j >= s.Conns
				fd, err := dial(l.sa, !closeWait)
				if err != nil {
					fail(fmt.Errorf("dial %s (job %d): %w", sockaddr(l.sa), j, err))
					return
				}
				if closeWait {
					_ = unix.Close(fd) // FIN: the server end goes to CLOSE_WAIT
				}
			}
		})
	}
	dwg.Wait()
	if failed.Load() {
		return 0, first
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		return 0, errors.New("accept: timed out")
	}
	if failed.Load() {
		return 0, first
	}
	return 2*s.Conns + s.CloseWait + s.Listeners(), nil
}

func listen(family int, sa unix.Sockaddr) (*listener, error) {
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socket: %w", err)
	}
	if err := unix.Bind(fd, sa); err != nil {
		return nil, fmt.Errorf("bind %s: %w", sockaddr(sa), err)
	}
	// The kernel caps the backlog at net.core.somaxconn.
	if err := unix.Listen(fd, 65535); err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	bound, err := unix.Getsockname(fd)
	if err != nil {
		return nil, err
	}
	_ = linger0(fd)
	return &listener{fd: fd, sa: bound}, nil
}

// dial connects a blocking socket to sa. Unless keep, the socket keeps the
// default linger, so that closing it sends a FIN.
func dial(sa unix.Sockaddr, keep bool) (int, error) {
	// Connect writes into the Sockaddr it is given: each dialer takes its
	// own copy.
	family := unix.AF_INET
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		c := *a
		sa = &c
	case *unix.SockaddrInet6:
		c := *a
		sa = &c
		family = unix.AF_INET6
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("socket: %w", err)
	}
	for {
		err = unix.Connect(fd, sa)
		switch err {
		case unix.EINTR, unix.EALREADY, unix.EINPROGRESS:
			// A signal interrupted the handshake, which goes on: ask again.
			time.Sleep(time.Millisecond)
			continue
		case unix.EISCONN:
			err = nil
		}
		break
	}
	if err != nil {
		_ = unix.Close(fd)
		return -1, err
	}
	if !keep {
		return fd, nil
	}
	return fd, linger0(fd)
}

func sockaddr(sa unix.Sockaddr) string {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return fmt.Sprintf("%d.%d.%d.%d:%d", a.Addr[0], a.Addr[1], a.Addr[2], a.Addr[3], a.Port)
	case *unix.SockaddrInet6:
		return fmt.Sprintf("[::1]:%d", a.Port)
	}
	return fmt.Sprint(sa)
}

func accept(fd int) (int, unix.Sockaddr, error) {
	for {
		nfd, sa, err := unix.Accept4(fd, unix.SOCK_CLOEXEC)
		if err != unix.EINTR {
			return nfd, sa, err
		}
	}
}

// linger0 makes close reset the connection: no TIME_WAIT after teardown.
func linger0(fd int) error {
	return unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
}
