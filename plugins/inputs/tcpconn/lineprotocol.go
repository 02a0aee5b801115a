//go:build linux

package tcpconn

import (
	"io"
	"math"
	"net/netip"
	"strconv"
	"time"
	"unicode/utf8"
)

// LineProtocolSink is an accumulator that also takes metrics as line
// protocol. The tcpconn shim's accumulator is one: with it, every metric is
// encoded straight from the row into one buffer, with no telegraf.Metric,
// map or string per socket. Inside Telegraf the plugin uses AddFields as any
// other.
type LineProtocolSink interface {
	// LineProtocol returns where whole lines go, in the order the plugin
	// also calls the accumulator's methods.
	LineProtocol() io.Writer
}

// lpFlushSize is how much line protocol is encoded before it is written.
const lpFlushSize = 64 << 10

// lineEncoder encodes metrics for a LineProtocolSink by appending to one
// buffer: keys are constants that the schemas give in order, values are
// numbers, addresses or strings escaped as they are appended, so the
// per-tag checks and sorting of a general encoder (a sixth of the whole
// gather at 200k sockets) are not needed. The tests parse what it writes
// with Telegraf's parser and compare it with the accumulator's path.
type lineEncoder struct {
	w      io.Writer
	buf    []byte
	end    []byte // " <timestamp>\n": every line of a gather has its time
	err    error
	fields int  // fields written on the current line
	bad    bool // the current line holds a value line protocol cannot carry
}

func (e *lineEncoder) reset(w io.Writer, now time.Time) {
	e.w, e.err = w, nil
	e.buf = e.buf[:0]
	e.end = append(strconv.AppendInt(append(e.end[:0], ' '), now.UnixNano(), 10), '\n')
}

// line encodes one metric. It returns false, having written nothing, if a
// value cannot be carried (a process name with a control character): the
// caller then takes the accumulator's path, which escapes it.
func (e *lineEncoder) line(name string, m schema) bool {
	start := len(e.buf)
	e.buf = append(e.buf, name...)
	e.fields, e.bad = 0, false
	m.encode(e)
	if e.bad || e.fields == 0 {
		e.buf = e.buf[:start]
		return false
	}
	e.buf = append(e.buf, e.end...)
	if len(e.buf) >= lpFlushSize {
		e.flush()
	}
	return true
}

// flush writes what is encoded. The first write error is kept, and later
// lines are dropped: the sink's writer is broken.
func (e *lineEncoder) flush() {
	if len(e.buf) > 0 && e.err == nil {
		_, e.err = e.w.Write(e.buf)
	}
	e.buf = e.buf[:0]
}

func (e *lineEncoder) tag(key, value string) {
	if value == "" {
		return
	}
	e.buf = append(append(append(e.buf, ','), key...), '=')
	// A trailing backslash would escape the separator after it.
	if value[len(value)-1] == '\\' || !utf8.ValidString(value) {
		e.bad = true
		return
	}
	for i := 0; i < len(value); i++ {
		switch c := value[i]; {
		case c < 0x20 || c == 0x7f:
			e.bad = true
			return
		case c == ',' || c == '=' || c == ' ':
			e.buf = append(e.buf, '\\', c)
		default:
			e.buf = append(e.buf, c)
		}
	}
}

func (e *lineEncoder) tagInt(key string, v int64) {
	e.buf = strconv.AppendInt(append(append(append(e.buf, ','), key...), '='), v, 10)
}

func (e *lineEncoder) tagAddr(key string, a netip.Addr) {
	e.buf = a.AppendTo(append(append(append(e.buf, ','), key...), '='))
}

// field starts a field: a space before the first, a comma before the others.
func (e *lineEncoder) field(key string) {
	sep := byte(',')
	if e.fields == 0 {
		sep = ' '
	}
	e.fields++
	e.buf = append(append(append(e.buf, sep), key...), '=')
}

func (e *lineEncoder) fieldInt(key string, v int64) {
	e.field(key)
	e.buf = append(strconv.AppendInt(e.buf, v, 10), 'i')
}

func (e *lineEncoder) fieldFloat(key string, v float64) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		e.bad = true
		return
	}
	e.field(key)
	e.buf = strconv.AppendFloat(e.buf, v, 'g', -1, 64)
}

func (e *lineEncoder) fieldString(key, v string) {
	e.field(key)
	e.buf = append(e.buf, '"')
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c < 0x20 || c == 0x7f:
			e.bad = true
			return
		case c == '"' || c == '\\':
			e.buf = append(e.buf, '\\', c)
		default:
			e.buf = append(e.buf, c)
		}
	}
	if !utf8.ValidString(v) {
		e.bad = true
	}
	e.buf = append(e.buf, '"')
}

func (e *lineEncoder) fieldBool(key string, v bool) {
	e.field(key)
	e.buf = strconv.AppendBool(e.buf, v)
}
