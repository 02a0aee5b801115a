package sockdiag

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"
)

const (
	// requestLen is the length of a dump request: struct nlmsghdr and
	// struct inet_diag_req_v2.
	requestLen = nlmsgHdrLen + 56

	// minFree is how much room a Dump, or a Listener, wants to receive a
	// datagram into: twice the largest dump datagram the kernel builds.
	minFree = 64 << 10
)

// A Conn is a NETLINK_SOCK_DIAG socket, which dumps the kernel's TCP
// socket tables of its network namespace: that of the thread that opened
// it, or the one [DialNetNS] joined. A Conn does one dump at a time:
// starting a dump ends the previous one, and the [*Dump] and [*Reader] of
// the previous one become invalid.
//
// A Conn is not safe for concurrent use. Use one Conn per goroutine.
type Conn struct {
	fd      int // -1 once closed
	seq     uint32
	dump    Dump
	r       *Reader // for Sockets, and to drain an unfinished dump
	req     [requestLen]byte
	from    unix.RawSockaddrNetlink
	fromLen uint32
}

// Dial opens a NETLINK_SOCK_DIAG socket in the network namespace of the
// calling thread, which for a Go program is normally the process's.
// Any user may dump the socket tables; no capability is needed.
func Dial() (*Conn, error) {
	fd, err := diagSocket()
	if err != nil {
		return nil, fmt.Errorf("sock_diag dial: %w", err)
	}
	return newConn(fd), nil
}

// diagSocket opens and binds a NETLINK_SOCK_DIAG socket.
func diagSocket() (int, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return -1, os.NewSyscallError("socket", err)
	}
	// Port id 0: the kernel chooses one.
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return -1, os.NewSyscallError("bind", err)
	}
	// Ask for the kernel's text with errors. Kernels before 4.12 lack the
	// option; they only send the error code.
	_ = unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_EXT_ACK, 1)
	return fd, nil
}

func newConn(fd int) *Conn {
	c := &Conn{fd: fd}
	c.dump.c = c
	c.dump.ended = true
	return c
}

// Close closes the netlink socket.
func (c *Conn) Close() error {
	if c.fd < 0 {
		return os.ErrClosed
	}
	err := unix.Close(c.fd)
	c.fd = -1
	if err != nil {
		return os.NewSyscallError("close", err)
	}
	return nil
}

// Dump sends a dump request and returns the stream of its reply, to read
// with a [Reader]. The Dump is valid until the next call to Dump or
// Sockets on c. If the previous dump was not read to its end, Dump first
// reads and discards the rest of it: the kernel runs one dump per socket.
func (c *Conn) Dump(req Request) (*Dump, error) {
	d := &c.dump
	label := dumpLabel(req.Family)
	if c.fd < 0 {
		return nil, fmt.Errorf("%s: %w", label, os.ErrClosed)
	}
	if req.Family != AFInet && req.Family != AFInet6 {
		return nil, fmt.Errorf("%s: %w: want AF_INET (2) or AF_INET6 (10)", label, ErrFamily)
	}
	if err := c.drain(); err != nil {
		return nil, fmt.Errorf("%s: ending the previous dump: %w", label, err)
	}
	var ext uint8
	if req.Info {
		ext |= 1 << (inetDiagInfo - 1)
	}
	states := req.States
	if states == 0 {
		states = AllStates
	}
	if err := c.send(req.Family, unix.IPPROTO_TCP, ext, states); err != nil {
		return nil, fmt.Errorf("%s: %w", label, err)
	}
	d.label = label
	return d, nil
}

// Sockets dumps the sockets that req selects and returns a Reader over
// them. The Reader is owned by c and valid until the next call to Dump or
// Sockets; it is reused, so that a dump allocates nothing once c has done
// one.
func (c *Conn) Sockets(req Request) (*Reader, error) {
	d, err := c.Dump(req)
	if err != nil {
		return nil, err
	}
	r := c.reader()
	r.Reset(d)
	return r, nil
}

// reader returns c's Reader, allocating it the first time.
func (c *Conn) reader() *Reader {
	if c.r == nil {
		c.r = NewReader(nil)
	}
	return c.r
}

// send sends a SOCK_DIAG_BY_FAMILY dump request for family and protocol,
// asking for the extensions ext and the states mask states.
func (c *Conn) send(family, protocol, ext uint8, states uint32) error {
	c.seq++
	b := c.req[:]
	clear(b)
	binary.NativeEndian.PutUint32(b[0:], requestLen)
	binary.NativeEndian.PutUint16(b[4:], sockDiagByFamily)
	binary.NativeEndian.PutUint16(b[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	binary.NativeEndian.PutUint32(b[8:], c.seq)
	// struct inet_diag_req_v2, with a zero struct inet_diag_sockid: no
	// address or port to match.
	b[16] = family
	b[17] = protocol
	b[18] = ext
	binary.NativeEndian.PutUint32(b[20:], states)
	for {
		// The netlink socket's default destination is the kernel.
		_, err := unix.Write(c.fd, b)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return os.NewSyscallError("send", err)
		}
		break
	}
	d := &c.dump
	d.seq, d.ended, d.err = c.seq, false, nil
	return nil
}

// drain reads and discards what is left of an unfinished dump, also of
// one that failed. It never blocks: the kernel queues the next datagram of
// a dump within the receive of the previous one, so an empty queue means
// that the dump is over.
func (c *Conn) drain() error {
	d := &c.dump
	if d.ended {
		return nil
	}
	defer func() { d.ended, d.err = true, nil }()
	buf := c.reader().buf
	for {
		m, err := c.recvfrom(buf, unix.MSG_TRUNC|unix.MSG_DONTWAIT)
		if errors.Is(err, unix.EAGAIN) {
			return nil
		}
		if err != nil {
			return os.NewSyscallError("recvfrom", err)
		}
		if c.from.Pid == 0 && d.ours(buf[:min(m, len(buf))]) && endsDump(buf[:min(m, len(buf))]) {
			return nil
		}
	}
}

// recvfrom receives one datagram into p with flags, and returns its full
// length (flags include MSG_TRUNC), which is more than len(p) if it was
// truncated. The sender's address is left in c.from.
func (c *Conn) recvfrom(p []byte, flags int) (int, error) {
	return recvfrom(c.fd, p, flags, &c.from, &c.fromLen)
}

// recvfrom is recvfrom(2), retried on EINTR, without the allocation of
// unix.Recvfrom.
func recvfrom(fd int, p []byte, flags int, from *unix.RawSockaddrNetlink, fromLen *uint32) (int, error) {
	var base unsafe.Pointer
	if len(p) > 0 {
		base = unsafe.Pointer(&p[0])
	}
	for {
		*fromLen = unix.SizeofSockaddrNetlink
		n, _, errno := unix.Syscall6(unix.SYS_RECVFROM, uintptr(fd), uintptr(base), uintptr(len(p)),
			uintptr(flags), uintptr(unsafe.Pointer(from)), uintptr(unsafe.Pointer(fromLen)))
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 {
			return 0, errno
		}
		return int(n), nil
	}
}

// A Dump is the reply stream of one dump request: an [io.Reader] of
// netlink messages, the input of a [Reader]. Each Read receives whole
// datagrams straight into its buffer, and after the datagram that ends the
// dump (NLMSG_DONE or NLMSG_ERROR) returns [io.EOF] without blocking.
//
// A Dump belongs to its [Conn] and is valid until the next dump on it.
type Dump struct {
	c     *Conn
	seq   uint32
	label string
	ended bool  // the datagram ending the dump was received
	err   error // a receive error, returned by every Read
}

// dumpLabel returns the name a dump of family gives its errors.
func dumpLabel(family uint8) string {
	switch family {
	case AFInet:
		return "sock_diag dump of AF_INET"
	case AFInet6:
		return "sock_diag dump of AF_INET6"
	}
	return "sock_diag dump of family " + strconv.Itoa(int(family))
}

func (d *Dump) dumpLabel() string { return d.label }

// Read receives datagrams of the reply into p: as many as are ready and
// fit while at least 64 KiB of p is left, at least one. It blocks until
// the first arrives; the kernel builds the next when the previous is read.
// Datagrams that are not part of the reply (another sequence number,
// another sender than the kernel) are skipped.
//
// A p shorter than 64 KiB works but costs an extra system call per
// datagram; if the next datagram does not fit in it, Read returns
// [io.ErrShortBuffer] and keeps the datagram. A datagram truncated anyway
// gives an error wrapping [ErrTruncated].
func (d *Dump) Read(p []byte) (int, error) {
	if d.err != nil {
		return 0, d.err
	}
	if d.ended {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	c := d.c
	if c.fd < 0 {
		return 0, fmt.Errorf("%s: %w", d.label, os.ErrClosed)
	}
	n := 0
	for !d.ended && (n == 0 || len(p)-n >= minFree) {
		flags := unix.MSG_TRUNC
		if n > 0 {
			// Later datagrams only if they are ready already.
			flags |= unix.MSG_DONTWAIT
		}
		q := p[n:]
		if len(q) < minFree {
			size, err := c.recvfrom(q[:0], flags|unix.MSG_PEEK)
			if errors.Is(err, unix.EAGAIN) && n > 0 {
				break
			}
			if err != nil {
				return n, d.fail(err)
			}
			if size > len(q) {
				if n > 0 {
					break
				}
				return 0, io.ErrShortBuffer
			}
		}
		m, err := c.recvfrom(q, flags)
		if errors.Is(err, unix.EAGAIN) && n > 0 {
			break
		}
		if err != nil {
			return n, d.fail(err)
		}
		if m > len(q) {
			return n, d.fail(fmt.Errorf("%w: %d bytes into %d", ErrTruncated, m, len(q)))
		}
		if c.from.Pid != 0 || !d.ours(q[:m]) {
			continue
		}
		d.ended = endsDump(q[:m])
		n += m
	}
	return n, nil
}

// fail records a receive error; Read returns it from now on.
func (d *Dump) fail(err error) error {
	var errno unix.Errno
	if errors.As(err, &errno) {
		err = os.NewSyscallError("recvfrom", errno)
	}
	d.err = fmt.Errorf("%s: %w", d.label, err)
	return d.err
}

// ours reports whether the datagram dg belongs to the reply: its first
// message carries the request's sequence number.
func (d *Dump) ours(dg []byte) bool {
	return len(dg) >= nlmsgHdrLen && binary.NativeEndian.Uint32(dg[8:]) == d.seq
}

// endsDump reports whether the datagram dg holds the message that ends a
// dump: NLMSG_DONE, or an NLMSG_ERROR that is not an acknowledgement. A
// broken header ends it too: the Reader stops there.
func endsDump(dg []byte) bool {
	for len(dg) >= nlmsgHdrLen {
		n := int(binary.NativeEndian.Uint32(dg))
		if n < nlmsgHdrLen || n > len(dg) {
			return true
		}
		switch binary.NativeEndian.Uint16(dg[4:]) {
		case nlmsgDone:
			return true
		case nlmsgError:
			if n < nlmsgHdrLen+4 || binary.NativeEndian.Uint32(dg[nlmsgHdrLen:]) != 0 {
				return true
			}
		}
		dg = dg[min(align4(n), len(dg)):]
	}
	return false
}
