//go:build linux

package tcpconn

import (
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/influxdata/line-protocol/v2/lineprotocol"

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

// lineWriter encodes tcpconn metrics for a LineProtocolSink.
type lineWriter struct {
	w       io.Writer
	enc     lineprotocol.Encoder
	scratch [64]byte
	err     error
}

func (lw *lineWriter) reset(w io.Writer) {
	lw.w, lw.err = w, nil
	lw.enc.SetBuffer(lw.enc.Bytes()[:0])
	// The keys are constants in order, and every value is checked once per
	// process (lpSafe) or is a number, an address or a state: the encoder's
	// own checks of every tag, a fifth of the encoding, are not needed.
	lw.enc.SetLax(true)
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

// flush writes what is encoded. The first write error is kept, and later
// lines are dropped: the sink's writer is broken.
func (lw *lineWriter) flush() {
	if b := lw.enc.Bytes(); len(b) > 0 && lw.err == nil {
		_, lw.err = lw.w.Write(b)
	}
	lw.enc.Reset()
}

// connection encodes what join.connection puts in maps, tags in lexical
// order as line protocol wants them. It returns false, having written
// nothing, if a value cannot be encoded (a process name with a control
// character): the caller then takes the accumulator's path, which escapes.
func (lw *lineWriter) connection(j *join, s *parser.Socket, dir string, age float64, owner *procTags, fd int32) bool {
	if owner != nil && !owner.lpSafe {
		return false
	}
	e := &lw.enc
	e.StartLine(measurement)
	if owner != nil && owner.container != "" {
		e.AddTag("container_id", owner.container)
	}
	if dir != "" {
		e.AddTag("direction", dir)
	}
	if s.Local.Addr().Is4() {
		e.AddTag("family", "ipv4")
	} else {
		e.AddTag("family", "ipv6")
	}
	if owner != nil {
		e.AddTagRaw(keyFD, strconv.AppendInt(lw.scratch[:0], int64(fd), 10))
	}
	e.AddTagRaw(keyLocalAddr, s.Local.Addr().AppendTo(lw.scratch[:0]))
	e.AddTagRaw(keyLocalPort, strconv.AppendUint(lw.scratch[:0], uint64(s.Local.Port()), 10))
	if j.tagNetns {
		e.AddTag("netns", j.netTag)
	}
	if owner != nil {
		e.AddTag("pid", owner.pid)
		if owner.name != "" { // Telegraf drops empty tags too
			e.AddTag("process_name", owner.name)
		}
	}
	e.AddTagRaw(keyRemoteAddr, s.Remote.Addr().AppendTo(lw.scratch[:0]))
	e.AddTagRaw(keyRemotePort, strconv.AppendUint(lw.scratch[:0], uint64(s.Remote.Port()), 10))
	e.AddTag("state", s.State.String())
	if age >= 0 {
		v, _ := lineprotocol.FloatValue(age)
		e.AddField("age_s", v)
	}
	e.AddField("inode", lineprotocol.IntValue(int64(s.Inode)))
	e.AddField("retransmits", lineprotocol.IntValue(int64(s.Retransmits)))
	e.AddField("rx_queue", lineprotocol.IntValue(int64(s.RxQueue)))
	e.AddField("tx_queue", lineprotocol.IntValue(int64(s.TxQueue)))
	e.AddField("uid", lineprotocol.IntValue(int64(s.UID)))
	e.EndLine(j.now)
	if e.Err() != nil {
		e.ClearErr() // the encoder dropped the line
		return false
	}
	if len(e.Bytes()) >= lpFlushSize {
		lw.flush()
	}
	return true
}

// Tag keys as bytes, for AddTagRaw.
var (
	keyFD         = []byte("fd")
	keyLocalAddr  = []byte("local_addr")
	keyLocalPort  = []byte("local_port")
	keyRemoteAddr = []byte("remote_addr")
	keyRemotePort = []byte("remote_port")
)
