package sockdiag

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"syscall"

	"github.com/tcpconn/telegraf-tcpconn/parser"
)

// Netlink and sock_diag numbers, from include/uapi/linux/netlink.h,
// sock_diag.h and inet_diag.h.
const (
	nlmsgHdrLen = 16 // sizeof(struct nlmsghdr)

	nlmsgError       = 2  // NLMSG_ERROR
	nlmsgDone        = 3  // NLMSG_DONE
	sockDiagByFamily = 20 // SOCK_DIAG_BY_FAMILY

	nlmFDumpIntr = 0x10  // NLM_F_DUMP_INTR
	nlmFCapped   = 0x100 // NLM_F_CAPPED, on NLMSG_ERROR
	nlmFAckTLVs  = 0x200 // NLM_F_ACK_TLVS, on NLMSG_ERROR and NLMSG_DONE

	nlmsgerrAttrMsg = 1 // NLMSGERR_ATTR_MSG

	nlaHdrLen   = 4      // sizeof(struct nlattr)
	nlaTypeMask = 0x3fff // ~(NLA_F_NESTED | NLA_F_NET_BYTEORDER)

	inetDiagMsgLen   = 72 // sizeof(struct inet_diag_msg)
	inetDiagInfo     = 2  // INET_DIAG_INFO
	inetDiagShutdown = 8  // INET_DIAG_SHUTDOWN
	inetDiagCgroupID = 21 // INET_DIAG_CGROUP_ID
)

const (
	// MaxMessageSize is the longest netlink message, header included, the
	// Reader accepts. The kernel builds dump datagrams of at most about
	// 32 KiB, and a socket's message is well under 1 KiB. A longer
	// nlmsg_len is taken for a broken stream ([ErrMessageLength]).
	MaxMessageSize = 64 << 10

	// bufferSize is the size of the read buffer. It leaves room for at
	// least 64 KiB after any partial message, so that a [Dump] can always
	// receive a whole datagram into it.
	bufferSize = 256 << 10

	// maxEmptyReads is how many (0, nil) reads in a row end the reading
	// with io.ErrNoProgress, as bufio.Scanner does.
	maxEmptyReads = 100
)

// A Reader decodes the sockets of a stream of netlink messages: the reply
// to a sock_diag dump request, or destroy notifications. It reads through
// one buffer that it allocates once and reuses, also across
// [Reader.Reset], and decodes sockets without allocating.
//
// A Reader is not safe for concurrent use.
type Reader struct {
	rd    io.Reader
	label string // names the dump in errors, from a *Dump
	buf   []byte
	start int   // buf[start:end] holds data not yet consumed
	end   int   //
	base  int64 // stream offset of buf[0]
	eof   bool  // rd returned io.EOF
	err   error
	ended bool // Next has returned false for good
	done  bool // NLMSG_DONE without error
	intr  bool // NLM_F_DUMP_INTR seen

	msgs    int    // messages seen so far
	msgIdx  int    // index of the message being decoded
	msgOff  int64  // its offset
	msgType uint16 // its type
	cur     int    // index of the message of r.sock

	malformed int
	errs      []error
	sock      Socket
}

// labeler is implemented by a *Dump, whose name the Reader puts in front
// of the errors it returns.
type labeler interface {
	dumpLabel() string
}

// NewReader returns a Reader that decodes the netlink messages read from
// rd. It allocates the Reader's 256 KiB buffer; reuse a Reader with
// [Reader.Reset] to avoid that.
//
// When rd is a [*Dump], the errors of [Reader.Err] name the dump, as in
// "sock_diag dump of AF_INET6: netlink error: invalid argument".
func NewReader(rd io.Reader) *Reader {
	r := &Reader{buf: make([]byte, bufferSize)}
	r.Reset(rd)
	return r
}

// Reset makes r read from rd, as if it were new, but keeps its buffer.
// Malformed, MalformedErr, Done and Interrupted start again from zero.
func (r *Reader) Reset(rd io.Reader) {
	if r.buf == nil {
		r.buf = make([]byte, bufferSize)
	}
	clear(r.errs)
	label := ""
	if l, ok := rd.(labeler); ok {
		label = l.dumpLabel()
	}
	*r = Reader{rd: rd, label: label, buf: r.buf, errs: r.errs[:0]}
}

// Next advances r to the next socket, which [Reader.Socket] then returns.
// It skips messages of other types and skips, and records, malformed
// ones. It returns false at the end of the stream: after NLMSG_DONE, an
// NLMSG_ERROR, the end of the input, an I/O error, or a broken message
// header. After that [Reader.Err] and [Reader.Done] tell which, and Next
// keeps returning false. Bytes after NLMSG_DONE are not read.
func (r *Reader) Next() bool {
	for !r.ended {
		msg, ok := r.nextMessage()
		if !ok {
			if r.ended {
				break
			}
			if r.err != nil {
				// A partial message before an I/O error is not the
				// input's fault: drop it without recording it.
				r.ended = true
				break
			}
			if r.eof {
				if r.end > r.start {
					r.msgIdx, r.msgOff, r.msgType = r.msgs, r.base+int64(r.start), 0
					if r.end-r.start >= 6 {
						r.msgType = binary.NativeEndian.Uint16(r.buf[r.start+4:])
					}
					r.failStop(io.ErrUnexpectedEOF)
					r.start = r.end
				}
				r.ended = true
				break
			}
			r.fill()
			continue
		}
		if binary.NativeEndian.Uint16(msg[6:])&nlmFDumpIntr != 0 {
			r.intr = true
		}
		switch r.msgType {
		case sockDiagByFamily:
			if r.decode(msg) {
				r.cur = r.msgIdx
				return true
			}
		case nlmsgDone:
			r.ended = true
			if len(msg) >= nlmsgHdrLen+4 {
				if code := int32(binary.NativeEndian.Uint32(msg[nlmsgHdrLen:])); code != 0 {
					r.setErr(kernelError(msg, code, nlmsgHdrLen+4, true))
					return false
				}
			}
			r.done = true
			return false
		case nlmsgError:
			if len(msg) < nlmsgHdrLen+4 {
				r.failStop(ErrShortMessage)
				return false
			}
			code := int32(binary.NativeEndian.Uint32(msg[nlmsgHdrLen:]))
			if code == 0 {
				continue // an acknowledgement
			}
			r.setErr(kernelError(msg, code, errorTLVs(msg), false))
			r.ended = true
			return false
		}
		// Other types (NLMSG_NOOP, NLMSG_OVERRUN, anything new) are skipped.
	}
	return false
}

// nextMessage returns the next complete message and consumes it, with its
// padding. It returns false if more data is needed, or if the header is
// broken, which ends r.
func (r *Reader) nextMessage() ([]byte, bool) {
	avail := r.end - r.start
	if avail < nlmsgHdrLen {
		return nil, false
	}
	h := r.buf[r.start:r.end]
	length := binary.NativeEndian.Uint32(h)
	r.msgIdx, r.msgOff, r.msgType = r.msgs, r.base+int64(r.start), binary.NativeEndian.Uint16(h[4:])
	if length < nlmsgHdrLen || length > MaxMessageSize {
		r.failStop(ErrMessageLength)
		return nil, false
	}
	n := int(length)
	step := align4(n)
	if avail < step {
		if avail < n || !r.eof {
			return nil, false
		}
		step = avail // the stream ends without the last message's padding
	}
	r.msgs++
	r.start += step
	return h[:n], true
}

// fill moves the unconsumed data to the front of the buffer and reads more
// after it. It sets r.eof or r.err when the read ends.
func (r *Reader) fill() {
	if r.start > 0 {
		r.base += int64(r.start)
		r.end = copy(r.buf, r.buf[r.start:r.end])
		r.start = 0
	}
	if r.rd == nil {
		r.eof = true
		return
	}
	for range maxEmptyReads {
		n, err := r.rd.Read(r.buf[r.end:])
		if n < 0 || n > len(r.buf)-r.end {
			r.err = ErrBadReadCount
			return
		}
		r.end += n
		if err != nil {
			if errors.Is(err, io.EOF) {
				r.eof = true
			} else {
				r.err = err
			}
			return
		}
		if n > 0 {
			return
		}
	}
	r.err = io.ErrNoProgress
}

// decode decodes a SOCK_DIAG_BY_FAMILY message into r.sock, or records why
// it cannot and returns false.
func (r *Reader) decode(msg []byte) bool {
	p := msg[nlmsgHdrLen:]
	if len(p) < inetDiagMsgLen {
		return r.fail(ErrShortMessage)
	}
	s := &r.sock
	// struct inet_diag_msg: family, state, timer, retrans, then struct
	// inet_diag_sockid: sport, dport (big-endian), src[16], dst[16], if,
	// cookie[2]; then expires, rqueue, wqueue, uid, inode.
	switch p[0] {
	case AFInet:
		s.Local = netip.AddrPortFrom(netip.AddrFrom4([4]byte(p[8:12])), binary.BigEndian.Uint16(p[4:]))
		s.Remote = netip.AddrPortFrom(netip.AddrFrom4([4]byte(p[24:28])), binary.BigEndian.Uint16(p[6:]))
	case AFInet6:
		s.Local = netip.AddrPortFrom(netip.AddrFrom16([16]byte(p[8:24])), binary.BigEndian.Uint16(p[4:]))
		s.Remote = netip.AddrPortFrom(netip.AddrFrom16([16]byte(p[24:40])), binary.BigEndian.Uint16(p[6:]))
	default:
		return r.fail(ErrFamily)
	}
	s.Family = p[0]
	s.State = parser.State(p[1])
	s.Timer = p[2]
	s.Retransmits = uint32(p[3])
	s.Interface = binary.NativeEndian.Uint32(p[40:])
	s.Cookie = uint64(binary.NativeEndian.Uint32(p[44:])) | uint64(binary.NativeEndian.Uint32(p[48:]))<<32
	s.TimerExpires = uint64(binary.NativeEndian.Uint32(p[52:])) / 10
	s.RxQueue = binary.NativeEndian.Uint32(p[56:])
	s.TxQueue = binary.NativeEndian.Uint32(p[60:])
	s.UID = binary.NativeEndian.Uint32(p[64:])
	s.Inode = uint64(binary.NativeEndian.Uint32(p[68:]))
	s.Slot, s.Timeout = 0, 0
	s.Shutdown, s.CgroupID = 0, 0
	s.Info.reset()

	for a := p[inetDiagMsgLen:]; len(a) > 0; {
		if len(a) < nlaHdrLen {
			return r.fail(ErrAttribute)
		}
		n := int(binary.NativeEndian.Uint16(a))
		if n < nlaHdrLen || n > len(a) {
			return r.fail(ErrAttribute)
		}
		data := a[nlaHdrLen:n]
		switch binary.NativeEndian.Uint16(a[2:]) & nlaTypeMask {
		case inetDiagInfo:
			s.Info.set(data)
		case inetDiagShutdown:
			if len(data) < 1 {
				return r.fail(ErrAttribute)
			}
			s.Shutdown = data[0]
		case inetDiagCgroupID:
			if len(data) < 8 {
				return r.fail(ErrAttribute)
			}
			s.CgroupID = binary.NativeEndian.Uint64(data)
		}
		a = a[min(align4(n), len(a)):]
	}
	return true
}

// errorTLVs returns the offset of the extended acknowledgement attributes
// in an NLMSG_ERROR message: after struct nlmsgerr, its error code and the
// header of the request, and the rest of the request unless the kernel
// capped it (NLM_F_CAPPED).
func errorTLVs(msg []byte) int {
	tlv := nlmsgHdrLen + 4 + nlmsgHdrLen
	if binary.NativeEndian.Uint16(msg[6:])&nlmFCapped != 0 || len(msg) < tlv {
		return tlv
	}
	echoed := binary.NativeEndian.Uint32(msg[nlmsgHdrLen+4:])
	if echoed < nlmsgHdrLen || echoed > MaxMessageSize {
		return len(msg) + 1 // no attributes to trust
	}
	return nlmsgHdrLen + 4 + align4(int(echoed))
}

// kernelError returns the error of an NLMSG_ERROR or NLMSG_DONE message
// with error code code, reading the extended acknowledgement attributes at
// msg[tlv:] if the message has them.
func kernelError(msg []byte, code int32, tlv int, done bool) *KernelError {
	if code < 0 {
		code = -code
	}
	e := &KernelError{Errno: syscall.Errno(code), Done: done}
	if binary.NativeEndian.Uint16(msg[6:])&nlmFAckTLVs == 0 || tlv > len(msg) {
		return e
	}
	for a := msg[tlv:]; len(a) >= nlaHdrLen; {
		n := int(binary.NativeEndian.Uint16(a))
		if n < nlaHdrLen || n > len(a) {
			break
		}
		if binary.NativeEndian.Uint16(a[2:])&nlaTypeMask == nlmsgerrAttrMsg {
			text := a[nlaHdrLen:n]
			for i, c := range text {
				if c == 0 {
					text = text[:i]
					break
				}
			}
			e.Message = string(text)
		}
		a = a[min(align4(n), len(a)):]
	}
	return e
}

// Socket returns the socket of the last call to Next that returned true.
// Like the slice of [bufio.Scanner.Bytes], the Socket is owned by r and
// valid only until the next call to Next or Reset, which overwrite it:
// copy the value (s := *r.Socket()) to keep it.
func (r *Reader) Socket() *Socket {
	return &r.sock
}

// Message returns the 0-based index, in the stream, of the message of the
// current socket.
func (r *Reader) Message() int {
	return r.cur
}

// Err returns the error that ended the stream, or nil at a clean end: an
// error of the underlying reader; a [*KernelError] the kernel sent in
// NLMSG_ERROR or NLMSG_DONE; or a [*DecodeError] for a broken message
// header ([ErrMessageLength]) or a stream that ends inside a message
// ([io.ErrUnexpectedEOF]). Other malformed messages are not errors of the
// stream: see [Reader.MalformedErr].
func (r *Reader) Err() error {
	return r.err
}

// Done reports whether the stream ended with an NLMSG_DONE message without
// error: the kernel says the dump is whole. It is false for a stream that
// just ends, such as destroy notifications.
func (r *Reader) Done() bool {
	return r.done
}

// Interrupted reports whether a message so far carried NLM_F_DUMP_INTR:
// the kernel says its tables changed while it dumped them, so the dump may
// have missed or repeated sockets.
func (r *Reader) Interrupted() bool {
	return r.intr
}

// Malformed returns the number of malformed messages skipped so far,
// including one that ended the stream.
func (r *Reader) Malformed() int {
	return r.malformed
}

// MalformedErr returns nil if no message was malformed, or else the
// [errors.Join] of a [*DecodeError] for each of the first malformed
// messages, at most 8 of them whatever the size of the input.
// [Reader.Malformed] gives the full count.
func (r *Reader) MalformedErr() error {
	if len(r.errs) == 0 {
		return nil
	}
	return errors.Join(r.errs...)
}

// fail records a malformed message, the one being decoded, and returns
// false.
func (r *Reader) fail(err error) bool {
	r.malformed++
	if len(r.errs) < maxErrors {
		r.errs = append(r.errs, &DecodeError{Offset: r.msgOff, Message: r.msgIdx, Type: r.msgType, Err: err})
	}
	return false
}

// failStop records a malformed message that ends the stream, and makes it
// r's error.
func (r *Reader) failStop(err error) {
	r.malformed++
	de := &DecodeError{Offset: r.msgOff, Message: r.msgIdx, Type: r.msgType, Err: err}
	if len(r.errs) < maxErrors {
		r.errs = append(r.errs, de)
	}
	r.setErr(de)
	r.ended = true
}

// setErr sets r.err to err, prefixed with the dump's name.
func (r *Reader) setErr(err error) {
	if r.label != "" {
		err = fmt.Errorf("%s: %w", r.label, err)
	}
	r.err = err
}

// align4 rounds n up to a multiple of 4 (NLMSG_ALIGN, NLA_ALIGN).
func align4(n int) int {
	return (n + 3) &^ 3
}
