package sockdiag

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/require"

	"github.com/tcpconn/telegraf-tcpconn/parser"
)

func requireLittleEndian(t testing.TB) {
	t.Helper()
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		t.Skip("the captures in testdata come from a little-endian host")
	}
}

func TestReaderGenerated(t *testing.T) {
	for _, info := range []bool{false, true} {
		data, want := genDump(500, info)
		res := read(data, nil)
		require.Equal(t, want, res.Sockets)
		require.Zero(t, res.Malformed)
		require.Empty(t, res.Err)
		require.True(t, res.Done)
		require.False(t, res.Interrupted)
		for i, m := range res.Messages {
			require.Equal(t, i, m)
		}
	}
}

func TestReaderSocketFields(t *testing.T) {
	v4 := diag{
		family: AFInet, state: parser.Listen, timer: 2, retr: 3,
		local:   netip.MustParseAddrPort("127.0.0.1:8080"),
		remote:  netip.MustParseAddrPort("0.0.0.0:0"),
		ifindex: 1, cookie: 0x1234_5678_9abc_def0, expiresMs: 12345,
		rq: 7, wq: 4096, uid: 65534, inode: 4_000_000_000,
	}
	v6 := diag{
		family: AFInet6, state: parser.Established,
		local:  netip.MustParseAddrPort("[::ffff:127.0.0.1]:443"),
		remote: netip.MustParseAddrPort("[::ffff:127.0.0.1]:50000"),
		cookie: 0x2b,
	}
	tests := []struct {
		name  string
		msg   []byte
		check func(t *testing.T, s *Socket)
	}{
		{
			name: "AF_INET listener with every attribute",
			msg: diagMsg(v4, nlattr(inetDiagShutdown, []byte{3}), nlattr(inetDiagCgroupID, u64(0x7777)),
				nlattr(22, []byte{1, 2}), nlattr(inetDiagInfo, sampleInfo(280))),
			check: func(t *testing.T, s *Socket) {
				want := v4.want()
				want.Shutdown, want.CgroupID = 3, 0x7777
				want.Info.set(sampleInfo(280))
				require.Equal(t, want, *s)
				require.True(t, s.Local.Addr().Is4())
				require.Equal(t, uint64(1234), s.TimerExpires, "12345 ms is 1234 ticks")
				require.Equal(t, uint64(4_000_000_000), s.Inode)
			},
		},
		{
			name: "AF_INET6 with mapped addresses stays IPv6",
			msg:  diagMsg(v6),
			check: func(t *testing.T, s *Socket) {
				require.Equal(t, v6.want(), *s)
				require.True(t, s.Local.Addr().Is4In6())
				require.Equal(t, "[::ffff:127.0.0.1]:443", s.Local.String())
				require.Zero(t, s.Info.Len())
				_, ok := s.Info.RTT()
				require.False(t, ok)
			},
		},
		{
			name: "attribute type flags are masked",
			msg:  diagMsg(v6, nlattr(inetDiagCgroupID|0x8000, u64(5)), nlattr(inetDiagShutdown|0x4000, []byte{1})),
			check: func(t *testing.T, s *Socket) {
				require.Equal(t, uint64(5), s.CgroupID)
				require.Equal(t, uint8(1), s.Shutdown)
			},
		},
		{
			name: "tcp_info of the Linux 4.9 length",
			msg:  diagMsg(v4, nlattr(inetDiagInfo, sampleInfo(168))),
			check: func(t *testing.T, s *Socket) {
				require.Equal(t, 168, s.Info.Len())
				_, ok := s.Info.DeliveryRate()
				require.True(t, ok)
				_, ok = s.Info.BytesSent()
				require.False(t, ok)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(bytes.NewReader(append(tt.msg, doneMsg(0)...)))
			require.True(t, r.Next())
			tt.check(t, r.Socket())
			require.False(t, r.Next())
			require.NoError(t, r.Err())
			require.True(t, r.Done())
			require.Zero(t, r.Malformed())
		})
	}
}

// edge is a hand-made stream and what reading it gives.
type edge struct {
	name      string
	stream    []byte
	sockets   int   // decoded
	malformed []int // message indexes
	faults    []error
	err       error // matched with errors.Is; nil for none
	done      bool
	intr      bool
}

func edgeCases() []edge {
	d := func(i int) []byte { return diagMsg(sampleDiag(i, i%2 == 1), nlattr(inetDiagInfo, sampleInfo(280))) }
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	withLen := func(msg []byte, n uint32) []byte {
		m := bytes.Clone(msg)
		binary.NativeEndian.PutUint32(m, n)
		return m
	}
	withFlags := func(msg []byte, flags uint16) []byte {
		m := bytes.Clone(msg)
		binary.NativeEndian.PutUint16(m[6:], flags)
		return m
	}
	// An attribute whose length runs past the end of its message.
	pastEnd := d(1)
	binary.NativeEndian.PutUint16(pastEnd[nlmsgHdrLen+inetDiagMsgLen:], 400)
	// An attribute shorter than its own header.
	tiny := d(1)
	binary.NativeEndian.PutUint16(tiny[nlmsgHdrLen+inetDiagMsgLen:], 2)
	// Three bytes after the attributes.
	trailing := nlmsg(sockDiagByFamily, 0, 1, sampleDiag(1, false).payload(), []byte{1, 2, 3})
	unknownFamily := sampleDiag(1, false)
	unknownFamily.family = 1 // AF_UNIX
	// nlmsg_len 93, not a multiple of 4, and the stream ends there.
	lastUnpadded := diagMsg(sampleDiag(3, false), nlattr(inetDiagShutdown, []byte{1}))
	lastUnpadded = withLen(lastUnpadded[:93], 93)

	return []edge{
		{name: "empty stream"},
		{name: "done only", stream: doneMsg(0), done: true},
		{name: "dump", stream: cat(d(0), d(1), d(2), doneMsg(0)), sockets: 3, done: true},
		{name: "error reply", stream: errorMsg(neg(syscall.EINVAL), ""), err: syscall.EINVAL},
		{name: "error reply with ext ack", stream: errorMsg(neg(syscall.EINVAL), "bad family"), err: syscall.EINVAL},
		{name: "acknowledgement is skipped", stream: cat(errorMsg(0, ""), d(0), doneMsg(0)), sockets: 1, done: true},
		{name: "done with error", stream: cat(d(0), d(1), doneMsg(neg(syscall.ENOENT))), sockets: 2, err: syscall.ENOENT},
		{name: "done without payload", stream: cat(d(0), nlmsg(nlmsgDone, 2, 1)), sockets: 1, done: true},
		{name: "dump interrupted", stream: cat(d(0), withFlags(d(1), 0x12), doneMsg(0)), sockets: 2, done: true, intr: true},
		{name: "interrupted on done", stream: cat(d(0), withFlags(doneMsg(0), 0x12)), sockets: 1, done: true, intr: true},
		{name: "truncated message", stream: cat(d(0), d(1), d(2)[:200]), sockets: 2, malformed: []int{2}, faults: []error{io.ErrUnexpectedEOF}, err: io.ErrUnexpectedEOF},
		{name: "truncated header", stream: cat(d(0), d(1)[:10]), sockets: 1, malformed: []int{1}, faults: []error{io.ErrUnexpectedEOF}, err: io.ErrUnexpectedEOF},
		{name: "nlmsg_len past the stream", stream: cat(d(0), withLen(d(1), 2000)), sockets: 1, malformed: []int{1}, faults: []error{io.ErrUnexpectedEOF}, err: io.ErrUnexpectedEOF},
		{name: "nlmsg_len below the header", stream: cat(d(0), withLen(d(1), 8), d(2)), sockets: 1, malformed: []int{1}, faults: []error{ErrMessageLength}, err: ErrMessageLength},
		{name: "nlmsg_len zero", stream: cat(withLen(d(0), 0), d(1)), malformed: []int{0}, faults: []error{ErrMessageLength}, err: ErrMessageLength},
		{name: "nlmsg_len too large", stream: cat(d(0), withLen(d(1), MaxMessageSize+1), d(2)), sockets: 1, malformed: []int{1}, faults: []error{ErrMessageLength}, err: ErrMessageLength},
		{name: "attribute past end", stream: cat(d(0), pastEnd, d(2), doneMsg(0)), sockets: 2, malformed: []int{1}, faults: []error{ErrAttribute}, done: true},
		{name: "attribute shorter than its header", stream: cat(tiny, d(2), doneMsg(0)), sockets: 1, malformed: []int{0}, faults: []error{ErrAttribute}, done: true},
		{name: "bytes after the attributes", stream: cat(trailing, d(2), doneMsg(0)), sockets: 1, malformed: []int{0}, faults: []error{ErrAttribute}, done: true},
		{name: "cgroup id too short", stream: cat(diagMsg(sampleDiag(0, false), nlattr(inetDiagCgroupID, u32(1))), doneMsg(0)), malformed: []int{0}, faults: []error{ErrAttribute}, done: true},
		{name: "shutdown empty", stream: cat(diagMsg(sampleDiag(0, false), nlattr(inetDiagShutdown, nil)), doneMsg(0)), malformed: []int{0}, faults: []error{ErrAttribute}, done: true},
		{name: "unknown attribute", stream: cat(diagMsg(sampleDiag(0, false), nlattr(99, []byte("future")), nlattr(0, nil)), doneMsg(0)), sockets: 1, done: true},
		{name: "unknown message type", stream: cat(nlmsg(0x1234, 0, 1, []byte("hello")), d(0), nlmsg(1, 0, 1), doneMsg(0)), sockets: 1, done: true},
		{name: "message too short", stream: cat(nlmsg(sockDiagByFamily, 2, 1, make([]byte, 40)), d(1), doneMsg(0)), sockets: 1, malformed: []int{0}, faults: []error{ErrShortMessage}, done: true},
		{name: "unknown family", stream: cat(diagMsg(unknownFamily), d(1), doneMsg(0)), sockets: 1, malformed: []int{0}, faults: []error{ErrFamily}, done: true},
		{name: "error too short", stream: cat(d(0), nlmsg(nlmsgError, 0, 1, []byte{1})), sockets: 1, malformed: []int{1}, faults: []error{ErrShortMessage}, err: ErrShortMessage},
		{name: "last message without padding", stream: cat(d(0), lastUnpadded), sockets: 2},
		{name: "bytes after done are not read", stream: cat(d(0), doneMsg(0), d(1), []byte("garbage")), sockets: 1, done: true},
		{name: "notifications without done", stream: cat(d(0), d(1)), sockets: 2},
	}
}

func TestReaderEdgeCases(t *testing.T) {
	for _, tt := range edgeCases() {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(bytes.NewReader(tt.stream))
			n := 0
			for r.Next() {
				n++
			}
			require.Equal(t, tt.sockets, n)
			require.Equal(t, tt.done, r.Done())
			require.Equal(t, tt.intr, r.Interrupted())
			if tt.err == nil {
				require.NoError(t, r.Err())
			} else {
				require.ErrorIs(t, r.Err(), tt.err)
			}
			require.Equal(t, len(tt.malformed), r.Malformed())
			var got []int
			var faults []error
			for _, e := range joinedErrs(r.MalformedErr()) {
				var de *DecodeError
				require.ErrorAs(t, e, &de)
				got = append(got, de.Message)
				faults = append(faults, de.Err)
			}
			require.Equal(t, tt.malformed, got)
			require.Equal(t, tt.faults, faults)
			require.False(t, r.Next(), "Next stays false")
		})
	}
}

// neg returns the code the kernel sends for errno e.
func neg(e syscall.Errno) int32 { return -int32(e) }

func joinedErrs(err error) []error {
	if err == nil {
		return nil
	}
	return err.(interface{ Unwrap() []error }).Unwrap()
}

func TestReaderKernelErrors(t *testing.T) {
	r := NewReader(bytes.NewReader(errorMsg(neg(syscall.EINVAL), "unsupported family")))
	require.False(t, r.Next())
	var ke *KernelError
	require.ErrorAs(t, r.Err(), &ke)
	require.Equal(t, &KernelError{Errno: syscall.EINVAL, Message: "unsupported family"}, ke)
	require.EqualError(t, ke, "netlink error: invalid argument: unsupported family")

	r.Reset(bytes.NewReader(doneMsg(neg(syscall.ENOENT))))
	require.False(t, r.Next())
	require.ErrorAs(t, r.Err(), &ke)
	require.True(t, ke.Done)
	require.ErrorIs(t, r.Err(), syscall.ENOENT)
	require.Contains(t, r.Err().Error(), "dump ended with error: no such file or directory (no sock_diag handler")
	require.False(t, r.Done())

	// An error echoing the whole request, not capped, with its ext ack.
	req := nlmsg(sockDiagByFamily, 0x301, 7, make([]byte, 56))
	msg := nlmsg(nlmsgError, nlmFAckTLVs, 7, u32(uint32(neg(syscall.EPERM))), req, nlattr(nlmsgerrAttrMsg, []byte("no\x00")))
	r.Reset(bytes.NewReader(msg))
	require.False(t, r.Next())
	require.ErrorAs(t, r.Err(), &ke)
	require.Equal(t, &KernelError{Errno: syscall.EPERM, Message: "no"}, ke)
}

func TestDecodeErrorMessage(t *testing.T) {
	err := &DecodeError{Offset: 1184, Message: 3, Type: 20, Err: ErrAttribute}
	require.EqualError(t, err, "message 3 at offset 1184 (type 20): malformed attribute")
	require.ErrorIs(t, err, ErrAttribute)
	require.EqualError(t, &DecodeError{Message: 0, Err: ErrMessageLength}, "message 0 at offset 0: invalid nlmsg_len")

	// Offsets and indexes count every message.
	data := bytes.Join([][]byte{doneMsg(0)[:0], nlmsg(0x99, 0, 1, []byte("xx")), diagMsg(sampleDiag(0, false)), nlmsg(sockDiagByFamily, 0, 1, []byte{1})}, nil)
	r := NewReader(bytes.NewReader(data))
	require.True(t, r.Next())
	require.Equal(t, 1, r.Message())
	require.False(t, r.Next())
	var de *DecodeError
	require.ErrorAs(t, r.MalformedErr(), &de)
	require.Equal(t, &DecodeError{Offset: int64(len(data) - 20), Message: 2, Type: sockDiagByFamily, Err: ErrShortMessage}, de)
}

func TestReaderChunkedReads(t *testing.T) {
	big, _ := genDump(3000, true) // several buffers
	inputs := map[string][]byte{"generated": big}
	for _, e := range edgeCases() {
		inputs[e.name] = e.stream
	}
	requireSameInChunks(t, inputs)
	require.Greater(t, len(big), bufferSize)
}

// requireSameInChunks requires that each input decodes the same when its
// reader returns it in small pieces, and with empty reads in between.
func requireSameInChunks(t *testing.T, inputs map[string][]byte) {
	t.Helper()
	wraps := map[string]func(io.Reader) io.Reader{
		"OneByteReader": iotest.OneByteReader,
		"HalfReader":    iotest.HalfReader,
		"DataErrReader": iotest.DataErrReader,
		"empty reads":   func(r io.Reader) io.Reader { return &emptyReads{r: r} },
	}
	for name, data := range inputs {
		want := read(data, nil)
		for wname, wrap := range wraps {
			require.Equal(t, want, read(data, wrap), "%s with %s", name, wname)
		}
	}
}

// emptyReads returns (0, nil) every other read, and up to 7 bytes
// otherwise: messages split across reads, and zero-length reads.
type emptyReads struct {
	r io.Reader
	n int
}

func (e *emptyReads) Read(p []byte) (int, error) {
	e.n++
	if e.n%2 == 0 {
		return 0, nil
	}
	return e.r.Read(p[:min(len(p), 7)])
}

// errAfter returns the first n bytes of data, then err.
func errAfter(data []byte, n int, err error) io.Reader {
	return io.MultiReader(bytes.NewReader(data[:n]), iotest.ErrReader(err))
}

func TestReaderIOError(t *testing.T) {
	data, want := genDump(1000, true)
	boom := errors.New("boom")

	// The error cuts a message: the messages before it are read, the cut
	// one is dropped without being reported as malformed.
	cut := len(data) / 2
	r := NewReader(errAfter(data, cut, boom))
	n := 0
	for r.Next() {
		require.Equal(t, want[n], *r.Socket())
		n++
	}
	require.ErrorIs(t, r.Err(), boom)
	require.Greater(t, n, 400)
	require.Zero(t, r.Malformed())
	require.False(t, r.Done())
	require.False(t, r.Next(), "Next stays false")

	r = NewReader(iotest.ErrReader(boom))
	require.False(t, r.Next())
	require.ErrorIs(t, r.Err(), boom)
}

// stuckReader returns no data and no error.
type stuckReader struct{}

func (stuckReader) Read([]byte) (int, error) { return 0, nil }

// liarReader returns more bytes than it was given room for.
type liarReader struct{}

func (liarReader) Read(p []byte) (int, error) { return len(p) + 1, nil }

func TestReaderBadReaders(t *testing.T) {
	r := NewReader(stuckReader{})
	require.False(t, r.Next())
	require.ErrorIs(t, r.Err(), io.ErrNoProgress)

	r = NewReader(liarReader{})
	require.False(t, r.Next())
	require.ErrorIs(t, r.Err(), ErrBadReadCount)

	r = NewReader(nil)
	require.False(t, r.Next())
	require.NoError(t, r.Err())
	require.False(t, r.Done())
}

func TestReaderMalformedErrBounded(t *testing.T) {
	var b []byte
	for range 10000 {
		b = append(b, nlmsg(sockDiagByFamily, 0, 1, []byte("short"))...)
	}
	b = append(b, diagMsg(sampleDiag(1, true))...)
	r := NewReader(bytes.NewReader(b))
	require.True(t, r.Next())
	require.Equal(t, 10000, r.Message())
	require.False(t, r.Next())
	require.Equal(t, 10000, r.Malformed())
	require.Len(t, joined(r.MalformedErr()), maxErrors)
	require.LessOrEqual(t, cap(r.errs), maxErrors)
	require.ErrorIs(t, r.MalformedErr(), ErrShortMessage)
}

func TestReaderReset(t *testing.T) {
	a, _ := genDump(300, true)
	b := edgeCases()[10].stream // truncated message
	wantA, wantB := read(a, nil), read(b, nil)
	require.NotEmpty(t, wantB.Err)

	r := NewReader(nil)
	buf := &r.buf[0]
	for range 3 {
		r.Reset(bytes.NewReader(a))
		require.Equal(t, wantA, readAll(r))
		r.Reset(bytes.NewReader(b))
		require.Equal(t, wantB, readAll(r))
		require.Same(t, buf, &r.buf[0], "the buffer is reused")
	}
	// Reset in the middle of a stream.
	r.Reset(bytes.NewReader(a))
	require.True(t, r.Next())
	r.Reset(bytes.NewReader(b))
	require.Equal(t, wantB, readAll(r))

	// The zero Reader works after Reset.
	var z Reader
	z.Reset(bytes.NewReader(a))
	require.Equal(t, wantA, readAll(&z))
}

func TestReaderAllocs(t *testing.T) {
	for _, info := range []bool{false, true} {
		data, want := genDump(2000, info)
		br := bytes.NewReader(data)
		r := NewReader(br)
		n := 0
		allocs := testing.AllocsPerRun(10, func() {
			br.Reset(data)
			r.Reset(br)
			n = 0
			for r.Next() {
				n++
			}
		})
		require.Zero(t, allocs)
		require.Len(t, want, n)
	}
}

func TestReaderSocketValidUntilNext(t *testing.T) {
	data, want := genDump(2, true)
	r := NewReader(bytes.NewReader(data))
	require.True(t, r.Next())
	s := r.Socket()
	kept := *s
	require.True(t, r.Next())
	require.Same(t, s, r.Socket())
	require.Equal(t, want[0], kept)
	require.Equal(t, want[1], *s)
	require.True(t, strings.HasPrefix(describe(s), "family=10"))
}
