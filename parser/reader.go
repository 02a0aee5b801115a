package parser

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
)

const (
	// MaxLineLength is the longest line, without its newline, the reader
	// accepts. Real rows are about 150 bytes in tcp and 180 in tcp6. A longer
	// line is a malformed row ([ErrLineTooLong]) and is skipped without
	// growing the buffer.
	MaxLineLength = 1024

	// bufferSize is the size of the read buffer. The kernel fills at most
	// a page of /proc/net/tcp per read, but a reader in front of this one
	// (such as a read-ahead) may hand over more at once.
	bufferSize = 256 << 10

	// maxEmptyReads is how many (0, nil) reads in a row end the reading with
	// io.ErrNoProgress, as bufio.Scanner does.
	maxEmptyReads = 100
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
