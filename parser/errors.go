package parser

import (
	"errors"
	"strconv"
)

// Errors a [ParseError] wraps, usable with [errors.Is]. [ErrHex],
// [ErrDecimal], [ErrAddressLength], [ErrPortLength], [ErrRange],
// [ErrFamily] and [ErrMissingField] also match [ErrSyntax].
//
// [Reader.Err] returns [ErrBadReadCount] or [io.ErrNoProgress] for a
// misbehaving [io.Reader], and otherwise the reader's own error.
var (
	// ErrSyntax matches every error about the content of a row. Alone, it
	// reports a token without its ':' separator.
	ErrSyntax = errors.New("invalid syntax")
	// ErrHex reports a hex field that is empty or has a character outside
	// 0-9, A-F, a-f.
	ErrHex error = syntaxError("invalid hex")
	// ErrDecimal reports a decimal field that is empty or has a character
	// outside 0-9.
	ErrDecimal error = syntaxError("invalid decimal")
	// ErrAddressLength reports an address that is neither 8 (IPv4) nor 32
	// (IPv6) hex digits.
	ErrAddressLength error = syntaxError("invalid address length")
	// ErrPortLength reports a port that is not 4 hex digits.
	ErrPortLength error = syntaxError("invalid port length")
	// ErrRange reports a number too large for its field.
	ErrRange error = syntaxError("value out of range")
	// ErrFamily reports a row whose local and remote addresses differ in
	// family, one IPv4 and one IPv6.
	ErrFamily error = syntaxError("address families differ")
	// ErrMissingField reports a row that ends before the inode column.
	ErrMissingField error = syntaxError("missing field")
	// ErrLineTooLong reports a line longer than [MaxLineLength]. The reader
	// skips it without growing its buffer.
	ErrLineTooLong = errors.New("line too long")
	// ErrNoNewline reports a last line that has no newline. The kernel ends
	// every row with one, so such a line was cut short and is not parsed.
	ErrNoNewline = errors.New("missing newline at end of file")
	// ErrBadReadCount is returned by [Reader.Err] when the underlying reader
	// returns an impossible byte count.
	ErrBadReadCount = errors.New("parser: reader returned an impossible count")
)

// syntaxError is a sentinel that also matches ErrSyntax.
type syntaxError string

func (e syntaxError) Error() string { return string(e) }

func (e syntaxError) Is(target error) bool { return target == ErrSyntax }

const (
	// maxErrors is how many ParseErrors a Reader keeps.
	maxErrors = 8
	// maxTokenKept is how many bytes of an offending token a ParseError keeps.
	maxTokenKept = 256
	// maxTokenShown is how many bytes of the token ParseError.Error quotes.
	maxTokenShown = 64
)

// ParseError describes a malformed row. The reader skips the row and goes on.
type ParseError struct {
	// Line is the 1-based line number in the file; the header is line 1.
	Line int
	// Column is the 1-based byte column where Token starts, 0 if unknown.
	Column int
	// Field names the column at fault, as in the header ("local_address",
	// "tx_queue", "inode", ...), or is empty for a fault of the whole line.
	Field string
	// Token is the offending text: the field's whitespace-separated token or,
	// for a fault of the whole line, the start of the line. It is cut to at
	// most 256 bytes.
	Token string
	// Err is the fault, one of the package's sentinel errors.
	Err error
}

// Error returns a message such as
//
//	line 12: field "local_address": invalid hex "8064A8CZ:0929"
//
// The quoted token is cut to 64 bytes, followed by "..." when it was longer.
func (e *ParseError) Error() string {
	b := make([]byte, 0, 64+len(e.Field)+min(len(e.Token), maxTokenShown)*2)
	b = append(b, "line "...)
	b = strconv.AppendInt(b, int64(e.Line), 10)
	b = append(b, ": "...)
	if e.Field != "" {
		b = append(b, "field "...)
		b = strconv.AppendQuote(b, e.Field)
		b = append(b, ": "...)
	}
	if e.Err != nil {
		b = append(b, e.Err.Error()...)
	} else {
		b = append(b, "malformed row"...)
	}
	if e.Token != "" {
		b = append(b, ' ')
		if len(e.Token) > maxTokenShown {
			b = strconv.AppendQuote(b, e.Token[:maxTokenShown])
			b = append(b, "..."...)
		} else {
			b = strconv.AppendQuote(b, e.Token)
		}
	}
	return string(b)
}

// Unwrap returns e.Err.
func (e *ParseError) Unwrap() error { return e.Err }
