package parser

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net/netip"
	"os"
)

const (
	// MaxLineLength is the longest line, without its newline, the reader
	// accepts. Real rows are about 150 bytes in tcp and 180 in tcp6. A longer
	// line is a malformed row ([ErrLineTooLong]) and is skipped without
	// growing the buffer.
	MaxLineLength = 1024

	// bufferSize is the size of the read buffer. A seq_file fills a large
	// read in one system call, so a big buffer means few calls.
	bufferSize = 256 << 10

	// maxEmptyReads is how many (0, nil) reads in a row end the reading with
	// io.ErrNoProgress, as bufio.Scanner does.
	maxEmptyReads = 100
)

// Socket is one row of /proc/net/tcp or /proc/net/tcp6.
type Socket struct {
	// Slot is the row's number, the "sl" column. It is a position in the
	// listing, not a stable identifier.
	Slot uint64
	// Local is the local address and port. For tcp rows the address is IPv4
	// (Is4); for tcp6 rows it is IPv6, including IPv4-mapped addresses such
	// as ::ffff:127.0.0.1, which are not unmapped.
	Local netip.AddrPort
	// Remote is the remote address and port, of the same family as Local.
	Remote netip.AddrPort
	// State is the TCP state.
	State State
	// TxQueue is the send queue: bytes not yet acknowledged, or for a
	// listening socket the accept backlog limit.
	TxQueue uint32
	// RxQueue is the receive queue: bytes not yet read, or for a listening
	// socket the accept backlog.
	RxQueue uint32
	// Timer is the kind of pending timer: 0 none, 1 retransmit or probe,
	// 2 keepalive (or another timer), 3 TIME_WAIT, 4 zero window probe.
	Timer uint8
	// TimerExpires is the time until the timer expires, as printed: clock
	// ticks (USER_HZ, usually 100 a second), which the kernel's
	// documentation calls jiffies. It is 0 when it has expired.
	TimerExpires uint64
	// Retransmits is the count of unrecovered retransmit timeouts.
	Retransmits uint32
	// UID is the owner's user id, as seen from the reader's user namespace.
	UID uint32
	// Timeout is the count of unanswered zero window probes.
	Timeout uint32
	// Inode is the socket's inode number, which links it to a file
	// descriptor (/proc/<pid>/fd/* -> "socket:[<Inode>]"). It is 0 for
	// TIME_WAIT and request (NEW_SYN_RECV) sockets, which own no file; such
	// rows are normal rows.
	Inode uint64
}

// order is how a Reader places the bytes of a 32-bit address word.
type order uint8

const (
	orderLittle order = iota
	orderBig
	orderOther // call Reader.ByteOrder.PutUint32
)

// A Reader reads the rows of a /proc/net/tcp or /proc/net/tcp6 table from
// an [io.Reader]. It reads through one buffer that it allocates once and
// reuses, also across [Reader.Reset], and decodes rows without allocating.
//
// A Reader is not safe for concurrent use.
type Reader struct {
	// ByteOrder is the order of the bytes in the 32-bit words in which the
	// kernel prints addresses, which is the order of the host that produced
	// the table. A nil ByteOrder means the order of this host
	// ([binary.NativeEndian]). Set it before the first call to Next; it is
	// kept across Reset. It does not apply to ports, which are printed as
	// numbers.
	ByteOrder binary.ByteOrder

	rd         io.Reader
	buf        []byte
	start, end int  // buf[start:end] holds data not yet consumed
	eof        bool // rd returned io.EOF
	err        error
	done       bool  // Next has returned false
	skipping   bool  // dropping the rest of an overlong line
	started    bool  // order is set
	order      order // from ByteOrder, set by the first Next
	line       int
	malformed  int
	errs       []error
	sock       Socket
	word       [4]byte // scratch for orderOther
}

// NewReader returns a Reader that reads from rd. It allocates the Reader's
// buffer; reuse a Reader with [Reader.Reset] to avoid that.
func NewReader(rd io.Reader) *Reader {
	r := &Reader{buf: make([]byte, bufferSize)}
	r.Reset(rd)
	return r
}

// Reset makes r read from rd, as if it were new, but keeps its buffer and
// its ByteOrder. Line, Malformed and MalformedErr start again from zero.
func (r *Reader) Reset(rd io.Reader) {
	if r.buf == nil {
		r.buf = make([]byte, bufferSize)
	}
	clear(r.errs)
	*r = Reader{
		ByteOrder: r.ByteOrder,
		rd:        rd,
		buf:       r.buf,
		errs:      r.errs[:0],
	}
}

// Next advances r to the next well-formed row, which [Reader.Socket] then
// returns. It skips the header line and skips, and records, malformed rows.
// It returns false at the end of the input or at an I/O error; after that
// [Reader.Err] tells which, and Next keeps returning false.
func (r *Reader) Next() bool {
	if r.done {
		return false
	}
	if !r.started {
		r.started = true
		r.order = r.orderOf()
	}
	for {
		if i := bytes.IndexByte(r.buf[r.start:r.end], '\n'); i >= 0 {
			line := r.buf[r.start : r.start+i]
			r.start += i + 1
			r.line++
			switch {
			case r.skipping:
				// The end of an overlong line, already recorded.
				r.skipping = false
			case len(line) > MaxLineLength:
				r.fail(1, "", line, ErrLineTooLong)
			case r.line == 1 && isHeader(line):
			case r.parse(line):
				return true
			}
			continue
		}
		// No complete line is buffered.
		if r.skipping {
			r.start = r.end
		} else if r.end-r.start > MaxLineLength {
			r.line++
			r.fail(1, "", r.buf[r.start:r.end], ErrLineTooLong)
			r.line--
			r.skipping = true
			r.start = r.end
		}
		if r.err != nil {
			// A partial line before an I/O error is not the input's fault:
			// drop it without recording it.
			r.done = true
			return false
		}
		if r.eof {
			if r.skipping {
				r.line++
			} else if r.end > r.start {
				r.line++
				rest := r.buf[r.start:r.end]
				if r.line != 1 || !isHeader(rest) {
					r.fail(1, "", rest, ErrNoNewline)
				}
			}
			r.start, r.end = 0, 0
			r.done = true
			return false
		}
		r.fill()
	}
}

// fill moves the unconsumed data to the front of the buffer and reads more
// after it. It sets r.eof or r.err when the read ends.
func (r *Reader) fill() {
	if r.start > 0 {
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

// Socket returns the row of the last call to Next that returned true. Like
// the slice of [bufio.Scanner.Bytes], the Socket is owned by r and valid only
// until the next call to Next or Reset, which overwrite it: copy the value
// (s := *r.Socket()) to keep it.
func (r *Reader) Socket() *Socket {
	return &r.sock
}

// Err returns the first I/O error of the underlying reader, or nil at a clean
// end of input. Malformed rows are not I/O errors: see [Reader.MalformedErr].
func (r *Reader) Err() error {
	return r.err
}

// Line returns the 1-based line number of the current row; the header is
// line 1. After Next returns false it is the number of lines read.
func (r *Reader) Line() int {
	return r.line
}

// Malformed returns the number of malformed rows skipped so far.
func (r *Reader) Malformed() int {
	return r.malformed
}

// MalformedErr returns nil if no row was malformed, or else the [errors.Join]
// of a [*ParseError] for each of the first malformed rows, at most 8 of them
// whatever the size of the input. [Reader.Malformed] gives the full count.
// Use [errors.As] to get the first ParseError, or the Unwrap() []error
// method of the joined error to get them all.
func (r *Reader) MalformedErr() error {
	if len(r.errs) == 0 {
		return nil
	}
	return errors.Join(r.errs...)
}

// fail records a malformed row at the current line and returns false.
func (r *Reader) fail(column int, field string, token []byte, err error) bool {
	r.malformed++
	if len(r.errs) < maxErrors {
		r.errs = append(r.errs, &ParseError{
			Line:   r.line,
			Column: column,
			Field:  field,
			Token:  string(token[:min(len(token), maxTokenKept)]),
			Err:    err,
		})
	}
	return false
}

// orderOf returns how to place address bytes for r.ByteOrder.
func (r *Reader) orderOf() order {
	bo := r.ByteOrder
	if bo == nil {
		bo = binary.NativeEndian
	}
	// r.word, not a local array, which would escape to the heap.
	bo.PutUint32(r.word[:], 0x01020304)
	switch r.word {
	case [4]byte{4, 3, 2, 1}:
		return orderLittle
	case [4]byte{1, 2, 3, 4}:
		return orderBig
	}
	return orderOther
}

// isHeader reports whether line is a table header: its first field is "sl".
func isHeader(line []byte) bool {
	s, e := token(line, 0)
	return string(line[s:e]) == "sl"
}

// token returns the bounds of the first space-separated token of line at or
// after i; start == end if there is none.
func token(line []byte, i int) (start, end int) {
	for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
		i++
	}
	start = i
	for i < len(line) && line[i] != ' ' && line[i] != '\t' {
		i++
	}
	return start, i
}

// Column names, as in the kernel's header.
const (
	fieldSl          = "sl"
	fieldLocal       = "local_address"
	fieldRemote      = "rem_address"
	fieldState       = "st"
	fieldTxQueue     = "tx_queue"
	fieldRxQueue     = "rx_queue"
	fieldTimer       = "tr"
	fieldWhen        = "tm->when"
	fieldRetransmits = "retrnsmt"
	fieldUID         = "uid"
	fieldTimeout     = "timeout"
	fieldInode       = "inode"
)

// parse decodes line into r.sock, or records why it cannot and returns
// false. Fields after the inode are ignored.
//
// A fast path reads the layout the kernel prints, in one pass over the
// line. Anything else goes to parseSlow, which accepts more (tabs, numbers
// of other widths) and names the fault of a malformed row.
func (r *Reader) parse(line []byte) bool {
	return r.parseFast(line, &r.sock) || r.parseSlow(line)
}

// parseFast decodes a row printed exactly as the kernel prints it into s.
// It returns false, leaving s partly written, for anything else.
func (r *Reader) parseFast(line []byte, s *Socket) bool {
	// sl: "%4d:"
	i := skipSpaces(line, 0)
	v, i, ok := decRun(line, i, 64)
	if !ok || i >= len(line) || line[i] != ':' {
		return false
	}
	s.Slot = v

	// local_address, rem_address
	if i, ok = nextField(line, i+1); !ok {
		return false
	}
	if s.Local, i, ok = r.addrPortFast(line, i); !ok {
		return false
	}
	if i, ok = nextField(line, i); !ok {
		return false
	}
	if s.Remote, i, ok = r.addrPortFast(line, i); !ok {
		return false
	}
	if s.Local.Addr().Is4() != s.Remote.Addr().Is4() {
		return false
	}

	// st: "%02X"
	if i, ok = nextField(line, i); !ok || i+2 > len(line) {
		return false
	}
	st, ok := hex2(line[i:])
	if !ok {
		return false
	}
	s.State = State(st)

	// tx_queue:rx_queue: "%08X:%08X"
	if i, ok = nextField(line, i+2); !ok || i+17 > len(line) || line[i+8] != ':' {
		return false
	}
	tx, ok1 := hex8(line[i:])
	rx, ok2 := hex8(line[i+9:])
	if !ok1 || !ok2 {
		return false
	}
	s.TxQueue, s.RxQueue = tx, rx

	// tr:tm->when: "%02X:%08lX"
	if i, ok = nextField(line, i+17); !ok || i+3 > len(line) || line[i+2] != ':' {
		return false
	}
	if s.Timer, ok = hex2(line[i:]); !ok {
		return false
	}
	if s.TimerExpires, i, ok = hexRun(line, i+3, 64); !ok {
		return false
	}

	// retrnsmt: "%08X"
	if i, ok = nextField(line, i); !ok || i+8 > len(line) {
		return false
	}
	if s.Retransmits, ok = hex8(line[i:]); !ok {
		return false
	}

	// uid, timeout, inode: "%5u %8d %lu"
	if i, ok = nextField(line, i+8); !ok {
		return false
	}
	if v, i, ok = decRun(line, i, 32); !ok {
		return false
	}
	s.UID = uint32(v)
	if i, ok = nextField(line, i); !ok {
		return false
	}
	if v, i, ok = decRun(line, i, 32); !ok {
		return false
	}
	s.Timeout = uint32(v)
	if i, ok = nextField(line, i); !ok {
		return false
	}
	if s.Inode, i, ok = decRun(line, i, 64); !ok {
		return false
	}
	return i == len(line) || line[i] == ' '
}

// addrPortFast decodes "%08X:%04X" or "%08X%08X%08X%08X:%04X" at line[i:]
// and returns the index after it.
func (r *Reader) addrPortFast(line []byte, i int) (netip.AddrPort, int, bool) {
	n := 8
	if i+8 >= len(line) || line[i+8] != ':' {
		n = 32
		if i+32 >= len(line) || line[i+32] != ':' {
			return netip.AddrPort{}, i, false
		}
	}
	if i+n+5 > len(line) {
		return netip.AddrPort{}, i, false
	}
	port, ok := hex4(line[i+n+1:])
	if !ok {
		return netip.AddrPort{}, i, false
	}
	var a [16]byte
	for w := 0; w < n; w += 8 {
		v, ok := hex8(line[i+w:])
		if !ok {
			return netip.AddrPort{}, i, false
		}
		r.putWord(a[w/2:w/2+4], v)
	}
	var addr netip.Addr
	if n == 8 {
		addr = netip.AddrFrom4([4]byte(a[:4]))
	} else {
		addr = netip.AddrFrom16(a)
	}
	return netip.AddrPortFrom(addr, port), i + n + 5, true
}

// skipSpaces returns the index of the first byte at or after i that is not
// a space.
func skipSpaces(line []byte, i int) int {
	for i < len(line) && line[i] == ' ' {
		i++
	}
	return i
}

// nextField expects line[i] to end a field with a space, and returns the
// start of the next field, or false if there is none.
func nextField(line []byte, i int) (int, bool) {
	if i >= len(line) || line[i] != ' ' {
		return i, false
	}
	i = skipSpaces(line, i+1)
	return i, i < len(line)
}

// hex2, hex4 and hex8 decode 2, 4 and 8 hex digits at the start of b, which
// must hold that many bytes.
func hex2(b []byte) (uint8, bool) {
	d0, d1 := hexValue[b[0]], hexValue[b[1]]
	return d0<<4 | d1, d0|d1 <= 0xf
}

func hex4(b []byte) (uint16, bool) {
	b = b[:4]
	d0, d1, d2, d3 := hexValue[b[0]], hexValue[b[1]], hexValue[b[2]], hexValue[b[3]]
	return uint16(d0)<<12 | uint16(d1)<<8 | uint16(d2)<<4 | uint16(d3), d0|d1|d2|d3 <= 0xf
}

func hex8(b []byte) (uint32, bool) {
	// Eight digits at once (SWAR): check that each byte is 0-9, A-F or
	// a-f, take its nibble, and pack the nibbles.
	const (
		ones = 0x0101010101010101
		high = 0x8080808080808080
	)
	x := binary.BigEndian.Uint64(b)
	lower := x | 0x20*ones
	// A byte below 0x80 is in [lo, hi] when byte+(0x80-lo) has its high bit
	// set and byte+(0x7f-hi) has not; no addition carries into the next byte.
	digit := (x + (0x80-'0')*ones) &^ (x + (0x7f-'9')*ones)
	alpha := (lower + (0x80-'a')*ones) &^ (lower + (0x7f-'f')*ones)
	if x&high != 0 || (digit|alpha)&high != high {
		return 0, false
	}
	n := x&(0x0f*ones) + (x>>6)&ones*9
	n = (n | n>>4) & 0x00ff00ff00ff00ff
	n = (n | n>>8) & 0x0000ffff0000ffff
	n = (n | n>>16) & 0x00000000ffffffff
	return uint32(n), true
}

// hexRun decodes the hex digits at line[i:] and returns the index after
// them. It returns false if there are none or they overflow bits bits.
func hexRun(line []byte, i int, bits uint) (uint64, int, bool) {
	limit := ^uint64(0) >> (64 - bits)
	start := i
	var v uint64
	for ; i < len(line); i++ {
		d := hexValue[line[i]]
		if d > 0xf {
			break
		}
		if v > limit>>4 {
			return 0, i, false
		}
		v = v<<4 | uint64(d)
	}
	return v, i, i > start
}

// decRun decodes the decimal digits at line[i:] and returns the index after
// them. It returns false if there are none or they overflow bits bits.
func decRun(line []byte, i int, bits uint) (uint64, int, bool) {
	limit := ^uint64(0) >> (64 - bits)
	start := i
	var v uint64
	for ; i < len(line); i++ {
		d := uint64(line[i] - '0')
		if d > 9 {
			break
		}
		// No division by a variable here: it is the hot loop.
		if v > ^uint64(0)/10 {
			return 0, i, false
		}
		n := v*10 + d
		if n < v*10 || n > limit {
			return 0, i, false
		}
		v = n
	}
	return v, i, i > start
}

// parseSlow decodes line into r.sock field by field, or records the first
// fault and returns false.
func (r *Reader) parseSlow(line []byte) bool {
	var s Socket
	var err error

	// sl: "%4d:"
	i, j := token(line, 0)
	if i == j {
		return r.fail(len(line)+1, fieldSl, line, ErrMissingField)
	}
	tok := line[i:j]
	if tok[len(tok)-1] != ':' {
		return r.fail(i+1, fieldSl, tok, ErrSyntax)
	}
	if s.Slot, err = parseDec(tok[:len(tok)-1], 64); err != nil {
		return r.fail(i+1, fieldSl, tok, err)
	}

	// local_address, rem_address: "%08X:%04X" or "%08X%08X%08X%08X:%04X"
	if i, j = token(line, j); i == j {
		return r.fail(len(line)+1, fieldLocal, line, ErrMissingField)
	}
	if s.Local, err = r.parseAddrPort(line[i:j]); err != nil {
		return r.fail(i+1, fieldLocal, line[i:j], err)
	}
	if i, j = token(line, j); i == j {
		return r.fail(len(line)+1, fieldRemote, line, ErrMissingField)
	}
	if s.Remote, err = r.parseAddrPort(line[i:j]); err != nil {
		return r.fail(i+1, fieldRemote, line[i:j], err)
	}
	if s.Local.Addr().Is4() != s.Remote.Addr().Is4() {
		return r.fail(i+1, fieldRemote, line[i:j], ErrFamily)
	}

	// st: "%02X"
	if i, j = token(line, j); i == j {
		return r.fail(len(line)+1, fieldState, line, ErrMissingField)
	}
	v, err := parseHex(line[i:j], 8)
	if err != nil {
		return r.fail(i+1, fieldState, line[i:j], err)
	}
	s.State = State(v)

	// tx_queue:rx_queue: "%08X:%08X"
	if i, j = token(line, j); i == j {
		return r.fail(len(line)+1, fieldTxQueue, line, ErrMissingField)
	}
	tok = line[i:j]
	c := bytes.IndexByte(tok, ':')
	if c < 0 {
		return r.fail(i+1, fieldTxQueue, tok, ErrSyntax)
	}
	if v, err = parseHex(tok[:c], 32); err != nil {
		return r.fail(i+1, fieldTxQueue, tok, err)
	}
	s.TxQueue = uint32(v)
	if v, err = parseHex(tok[c+1:], 32); err != nil {
		return r.fail(i+1, fieldRxQueue, tok, err)
	}
	s.RxQueue = uint32(v)

	// tr:tm->when: "%02X:%08lX"
	if i, j = token(line, j); i == j {
		return r.fail(len(line)+1, fieldTimer, line, ErrMissingField)
	}
	tok = line[i:j]
	if c = bytes.IndexByte(tok, ':'); c < 0 {
		return r.fail(i+1, fieldTimer, tok, ErrSyntax)
	}
	if v, err = parseHex(tok[:c], 8); err != nil {
		return r.fail(i+1, fieldTimer, tok, err)
	}
	s.Timer = uint8(v)
	if s.TimerExpires, err = parseHex(tok[c+1:], 64); err != nil {
		return r.fail(i+1, fieldWhen, tok, err)
	}

	// retrnsmt: "%08X"
	if i, j = token(line, j); i == j {
		return r.fail(len(line)+1, fieldRetransmits, line, ErrMissingField)
	}
	if v, err = parseHex(line[i:j], 32); err != nil {
		return r.fail(i+1, fieldRetransmits, line[i:j], err)
	}
	s.Retransmits = uint32(v)

	// uid: "%5u"
	if i, j = token(line, j); i == j {
		return r.fail(len(line)+1, fieldUID, line, ErrMissingField)
	}
	if v, err = parseDec(line[i:j], 32); err != nil {
		return r.fail(i+1, fieldUID, line[i:j], err)
	}
	s.UID = uint32(v)

	// timeout: "%8d"
	if i, j = token(line, j); i == j {
		return r.fail(len(line)+1, fieldTimeout, line, ErrMissingField)
	}
	if v, err = parseDec(line[i:j], 32); err != nil {
		return r.fail(i+1, fieldTimeout, line[i:j], err)
	}
	s.Timeout = uint32(v)

	// inode: "%lu"
	if i, j = token(line, j); i == j {
		return r.fail(len(line)+1, fieldInode, line, ErrMissingField)
	}
	if s.Inode, err = parseDec(line[i:j], 64); err != nil {
		return r.fail(i+1, fieldInode, line[i:j], err)
	}

	r.sock = s
	return true
}

// parseAddrPort decodes "<address>:<port>", where the address is 8 or 32 hex
// digits in 32-bit words of r's byte order and the port 4 hex digits.
func (r *Reader) parseAddrPort(tok []byte) (netip.AddrPort, error) {
	c := bytes.IndexByte(tok, ':')
	if c < 0 {
		return netip.AddrPort{}, ErrSyntax
	}
	hexAddr, hexPort := tok[:c], tok[c+1:]
	if len(hexAddr) != 8 && len(hexAddr) != 32 {
		return netip.AddrPort{}, ErrAddressLength
	}
	if len(hexPort) != 4 {
		return netip.AddrPort{}, ErrPortLength
	}
	port, err := parseHex(hexPort, 16)
	if err != nil {
		return netip.AddrPort{}, err
	}
	var a [16]byte
	for w := 0; w < len(hexAddr)/8; w++ {
		v, err := parseHex(hexAddr[w*8:w*8+8], 32)
		if err != nil {
			return netip.AddrPort{}, err
		}
		r.putWord(a[w*4:w*4+4], uint32(v))
	}
	var addr netip.Addr
	if len(hexAddr) == 8 {
		addr = netip.AddrFrom4([4]byte(a[:4]))
	} else {
		addr = netip.AddrFrom16(a)
	}
	return netip.AddrPortFrom(addr, uint16(port)), nil
}

// putWord stores the address word v in b in r's byte order.
func (r *Reader) putWord(b []byte, v uint32) {
	switch r.order {
	case orderLittle:
		binary.LittleEndian.PutUint32(b, v)
	case orderBig:
		binary.BigEndian.PutUint32(b, v)
	default:
		r.ByteOrder.PutUint32(r.word[:], v)
		copy(b, r.word[:])
	}
}

// hexValue maps a byte to its hex digit value, or 0xff.
var hexValue = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = byte(c - '0')
	}
	for c := 'a'; c <= 'f'; c++ {
		t[c] = byte(c - 'a' + 10)
		t[c-'a'+'A'] = byte(c - 'a' + 10)
	}
	return t
}()

// parseHex decodes the hex number b, which must fit in bits bits.
func parseHex(b []byte, bits uint) (uint64, error) {
	if len(b) == 0 {
		return 0, ErrHex
	}
	limit := ^uint64(0) >> (64 - bits)
	var v uint64
	for _, c := range b {
		d := hexValue[c]
		if d > 0xf {
			return 0, ErrHex
		}
		if v > limit>>4 {
			return 0, ErrRange
		}
		v = v<<4 | uint64(d)
	}
	return v, nil
}

// parseDec decodes the decimal number b, which must fit in bits bits.
func parseDec(b []byte, bits uint) (uint64, error) {
	if len(b) == 0 {
		return 0, ErrDecimal
	}
	limit := ^uint64(0) >> (64 - bits)
	var v uint64
	for _, c := range b {
		d := uint64(c - '0')
		if d > 9 {
			return 0, ErrDecimal
		}
		if v > (limit-d)/10 {
			return 0, ErrRange
		}
		v = v*10 + d
	}
	return v, nil
}

// File is a [Reader] over a file it opened. Close closes that file, also
// after a Reset has pointed the Reader elsewhere.
type File struct {
	*Reader
	f *os.File
}

// Open opens the named table, such as "/proc/net/tcp" or "/proc/net/tcp6",
// for reading with a new [Reader]. The caller must Close it.
func Open(name string) (*File, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	return &File{Reader: NewReader(f), f: f}, nil
}

// Close closes the file.
func (f *File) Close() error {
	return f.f.Close()
}
