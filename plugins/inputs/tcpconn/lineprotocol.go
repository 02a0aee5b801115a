//go:build linux

package tcpconn

import (
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tcpconn/telegraf-tcpconn/parser"
)

// LineProtocolSink is an accumulator that also takes metrics as line
// protocol. The tcpconn shim's accumulator is one: with it, the tcpconn
// measurement, one metric per socket, is encoded straight from the row,
// with no telegraf.Metric, map or string per socket. Inside Telegraf the
// plugin uses AddFields as any other.
type LineProtocolSink interface {
	// LineProtocol returns where whole lines go, in the order the plugin
	// also calls the accumulator's methods.
	LineProtocol() io.Writer
}

// lpFlushSize is how much line protocol is encoded before it is written.
const lpFlushSize = 64 << 10

// lineWriter encodes tcpconn metrics for a LineProtocolSink. It appends
// to one buffer by hand: every key is a constant in lexical order, every
// value is a number, an address, a constant or a process name escaped
// once per process, so the per-tag escaping and checks of a general
// encoder (a sixth of the whole gather at 200k sockets) are not needed.
// The tests parse what it writes with Telegraf's parser.
type lineWriter struct {
	w   io.Writer
	buf []byte
	end []byte // " <timestamp>\n": every line of a gather has its time
	err error
}

func (lw *lineWriter) reset(w io.Writer, now time.Time) {
	lw.w, lw.err = w, nil
	lw.buf = lw.buf[:0]
	lw.end = append(strconv.AppendInt(append(lw.end[:0], ' '), now.UnixNano(), 10), '\n')
}

// lpSafe reports whether line protocol can carry s as a tag value once
// escaped: valid UTF-8, no control characters, no trailing backslash.
func lpSafe(s string) bool {
	if !utf8.ValidString(s) || strings.HasSuffix(s, `\`) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}

// lpEscaper escapes a tag value as line protocol wants it.
var lpEscaper = strings.NewReplacer(",", `\,`, "=", `\=`, " ", `\ `)

// flush writes what is encoded. The first write error is kept, and later
// lines are dropped: the sink's writer is broken.
func (lw *lineWriter) flush() {
	if len(lw.buf) > 0 && lw.err == nil {
		_, lw.err = lw.w.Write(lw.buf)
	}
	lw.buf = lw.buf[:0]
}

// connection encodes what join.connection puts in maps, tags in lexical
// order as line protocol wants them. It returns false, having written
// nothing, if a value cannot be encoded (a process name with a control
// character): the caller then takes the accumulator's path, which escapes.
func (lw *lineWriter) connection(j *join, s *parser.Socket, dir string, age float64, owner *procTags, fd int32) bool {
	if owner != nil && !owner.lpSafe {
		return false
	}
	b := lw.buf
	b = append(b, measurement...)
	if owner != nil && owner.container != "" {
		b = append(append(b, ",container_id="...), owner.lpContainer...)
	}
	if dir != "" {
		b = append(append(b, ",direction="...), dir...)
	}
	if s.Local.Addr().Is4() {
		b = append(b, ",family=ipv4"...)
	} else {
		b = append(b, ",family=ipv6"...)
	}
	if owner != nil {
		b = strconv.AppendInt(append(b, ",fd="...), int64(fd), 10)
	}
	b = s.Local.Addr().AppendTo(append(b, ",local_addr="...))
	b = strconv.AppendUint(append(b, ",local_port="...), uint64(s.Local.Port()), 10)
	if j.tagNetns {
		b = append(append(b, ",netns="...), j.netTag...)
	}
	if owner != nil {
		b = append(append(b, ",pid="...), owner.pid...)
		if owner.name != "" { // Telegraf drops empty tags too
			b = append(append(b, ",process_name="...), owner.lpName...)
		}
	}
	b = s.Remote.Addr().AppendTo(append(b, ",remote_addr="...))
	b = strconv.AppendUint(append(b, ",remote_port="...), uint64(s.Remote.Port()), 10)
	b = append(append(b, ",state="...), s.State.String()...)
	b = append(b, ' ')
	if age >= 0 {
		b = append(strconv.AppendFloat(append(b, "age_s="...), age, 'g', -1, 64), ',')
	}
	b = append(strconv.AppendInt(append(b, "inode="...), int64(s.Inode), 10), 'i')
	b = append(strconv.AppendInt(append(b, ",retransmits="...), int64(s.Retransmits), 10), 'i')
	b = append(strconv.AppendInt(append(b, ",rx_queue="...), int64(s.RxQueue), 10), 'i')
	b = append(strconv.AppendInt(append(b, ",tx_queue="...), int64(s.TxQueue), 10), 'i')
	b = append(strconv.AppendInt(append(b, ",uid="...), int64(s.UID), 10), 'i')
	b = append(b, lw.end...)
	lw.buf = b
	if len(lw.buf) >= lpFlushSize {
		lw.flush()
	}
	return true
}
