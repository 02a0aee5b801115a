package sockdiag

import (
	"errors"
	"strconv"
	"syscall"
)

// Errors a [DecodeError] wraps, usable with [errors.Is].
var (
	// ErrMessageLength reports a message header whose nlmsg_len is shorter
	// than the header itself (16 bytes) or longer than [MaxMessageSize].
	// The stream cannot be resynchronised after it: the Reader stops.
	ErrMessageLength = errors.New("invalid nlmsg_len")
	// ErrShortMessage reports a SOCK_DIAG_BY_FAMILY message too short to
	// hold a struct inet_diag_msg (72 bytes), or an NLMSG_ERROR message too
	// short to hold its error code.
	ErrShortMessage = errors.New("message too short")
	// ErrAttribute reports an attribute shorter than its own header, one
	// that runs past the end of its message, or one too short for its type.
	ErrAttribute = errors.New("malformed attribute")
	// ErrFamily reports a socket whose address family is neither AF_INET
	// nor AF_INET6.
	ErrFamily = errors.New("unknown address family")
)

// Errors of the underlying reader and of the netlink socket.
var (
	// ErrBadReadCount is returned by [Reader.Err] when the underlying
	// reader returns an impossible byte count.
	ErrBadReadCount = errors.New("sockdiag: reader returned an impossible count")
	// ErrTruncated reports a datagram larger than the buffer it was
	// received into: the kernel dropped its end (MSG_TRUNC).
	ErrTruncated = errors.New("sockdiag: datagram truncated: buffer too small")
	// ErrOverrun is returned by [Listener.Receive] when the kernel could not
	// queue destroy notifications because the socket's receive buffer was
	// full (ENOBUFS): notifications were lost. The Listener stays usable.
	ErrOverrun = errors.New("sockdiag: destroy notifications lost: receive buffer overrun")
)

const (
	// maxErrors is how many DecodeErrors a Reader keeps.
	maxErrors = 8
)

// DecodeError describes a malformed message. For most faults the reader
// skips the message and goes on; after [ErrMessageLength] or an unexpected
// end of the stream it stops.
type DecodeError struct {
	// Offset is the byte offset of the message's header in the stream.
	Offset int64
	// Message is the 0-based index of the message in the stream.
	Message int
	// Type is the message's nlmsg_type, 0 if the header itself is broken.
	Type uint16
	// Err is the fault: one of the package's sentinel errors, or
	// [io.ErrUnexpectedEOF] for a message cut short by the end of the
	// stream.
	Err error
}

// Error returns a message such as
//
//	message 3 at offset 1184 (type 20): malformed attribute
func (e *DecodeError) Error() string {
	b := make([]byte, 0, 80)
	b = append(b, "message "...)
	b = strconv.AppendInt(b, int64(e.Message), 10)
	b = append(b, " at offset "...)
	b = strconv.AppendInt(b, e.Offset, 10)
	if e.Type != 0 {
		b = append(b, " (type "...)
		b = strconv.AppendUint(b, uint64(e.Type), 10)
		b = append(b, ')')
	}
	b = append(b, ": "...)
	if e.Err != nil {
		b = append(b, e.Err.Error()...)
	} else {
		b = append(b, "malformed message"...)
	}
	return string(b)
}

// Unwrap returns e.Err.
func (e *DecodeError) Unwrap() error { return e.Err }

// KernelError is an error the kernel returned for a request: the error code
// of an NLMSG_ERROR message, or of an NLMSG_DONE message that ended a dump
// early. Use [errors.Is] with a [syscall.Errno] (or
// golang.org/x/sys/unix's constants) to test the code.
type KernelError struct {
	// Errno is the error code, positive.
	Errno syscall.Errno
	// Message is the kernel's extended acknowledgement text
	// (NLMSGERR_ATTR_MSG), if it sent one.
	Message string
	// Done reports whether the error came in NLMSG_DONE: the dump started
	// and then failed, rather than being refused.
	Done bool
}

// Error returns a message such as "netlink error: invalid argument" or
// "dump ended with error: no such file or directory".
func (e *KernelError) Error() string {
	s := "netlink error: "
	if e.Done {
		s = "dump ended with error: "
	}
	s += e.Errno.Error()
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Errno == syscall.ENOENT {
		s += " (no sock_diag handler for this family and protocol: is the kernel built with CONFIG_INET_DIAG and CONFIG_INET_TCP_DIAG, or are the inet_diag and tcp_diag modules loaded?)"
	}
	return s
}

// Unwrap returns e.Errno.
func (e *KernelError) Unwrap() error { return e.Errno }
