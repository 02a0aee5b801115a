//go:build linux

package tcpconn

import (
	"net/netip"
	"strconv"
	"time"

	"github.com/influxdata/telegraf"
)

// encoder takes one metric's tags and fields, each schema calling it in key
// order: tags sorted by key, then fields sorted by key. Three encoders
// exist, one per output path: maps for Telegraf's accumulator, line
// protocol for a LineProtocolSink, and a Connection for a ConnectionSink. A
// schema is written once, against this interface, so the paths cannot
// drift.
type encoder interface {
	// tag adds a tag; an empty value adds none, as Telegraf drops empty
	// tags.
	tag(key, value string)
	tagInt(key string, v int64)
	tagAddr(key string, a netip.Addr)
	fieldInt(key string, v int64)
	fieldFloat(key string, v float64)
	fieldString(key, v string)
	fieldBool(key string, v bool)
}

// schema is a measurement ready to encode its current metric.
type schema interface {
	encode(e encoder)
}

// emitter sends the stages' metrics to the accumulator of the gather.
type emitter struct {
	acc telegraf.Accumulator
	now time.Time
	lp  *lineEncoder // nil unless acc is a LineProtocolSink
	lpw lineEncoder
	mp  mapEncoder
	cs  ConnectionSink // nil unless acc is one
	ce  connectionEncoder
}

// begin starts a gather: every metric of it has the time now.
func (o *emitter) begin(acc telegraf.Accumulator, now time.Time) {
	o.acc, o.now, o.lp = acc, now, nil
	o.cs, _ = acc.(ConnectionSink)
	if sink, ok := acc.(LineProtocolSink); ok {
		o.lp = &o.lpw
		o.lp.reset(sink.LineProtocol(), now)
	}
}

// emit writes the current metric of m: as a Connection or as line
// protocol when the accumulator takes them (and, for line protocol, the
// values fit), else through the accumulator.
func (o *emitter) emit(name string, m schema) {
	if o.cs != nil && name == measurement {
		o.ce.c = Connection{}
		m.encode(&o.ce)
		o.cs.AddConnection(&o.ce.c)
		return
	}
	if o.lp != nil {
		if o.lp.line(name, m) {
			return
		}
		o.lp.flush() // keep the order of the lines
	}
	o.mp.line(o.acc, name, m, o.now)
}

// finish writes what line protocol is still buffered and returns the
// first error writing it.
func (o *emitter) finish() error {
	if o.lp == nil {
		return nil
	}
	o.lp.flush()
	return o.lp.err
}

// mapEncoder fills the maps of Telegraf's AddFields, reused from metric to
// metric: the accumulator copies them.
type mapEncoder struct {
	tags   map[string]string
	fields map[string]any
}

func (e *mapEncoder) line(acc telegraf.Accumulator, name string, m schema, now time.Time) {
	if e.tags == nil {
		e.tags = make(map[string]string, 12)
		e.fields = make(map[string]any, 16)
	}
	clear(e.tags)
	clear(e.fields)
	m.encode(e)
	acc.AddFields(name, e.fields, e.tags, now)
}

func (e *mapEncoder) tag(key, value string) {
	if value != "" {
		e.tags[key] = value
	}
}

func (e *mapEncoder) tagInt(key string, v int64) { e.tags[key] = strconv.FormatInt(v, 10) }

func (e *mapEncoder) tagAddr(key string, a netip.Addr) { e.tags[key] = a.String() }

func (e *mapEncoder) fieldInt(key string, v int64) { e.fields[key] = v }

func (e *mapEncoder) fieldFloat(key string, v float64) { e.fields[key] = v }

func (e *mapEncoder) fieldString(key, v string) { e.fields[key] = v }

func (e *mapEncoder) fieldBool(key string, v bool) { e.fields[key] = v }

// connectionEncoder fills a Connection from the tcpconn schema's tags; it
// has no use for the fields.
type connectionEncoder struct {
	c                     Connection
	localAddr, remoteAddr netip.Addr
}

func (e *connectionEncoder) tag(key, value string) {
	switch key {
	case "state":
		e.c.State = value
	case "process_name":
		e.c.Process = value
	}
}

// tagInt relies on the key order: an address's tag comes before its port's.
func (e *connectionEncoder) tagInt(key string, v int64) {
	switch key {
	case "local_port":
		e.c.Local = netip.AddrPortFrom(e.localAddr, uint16(v))
	case "remote_port":
		e.c.Remote = netip.AddrPortFrom(e.remoteAddr, uint16(v))
	case "pid":
		e.c.PID = int32(v)
	case "fd":
		e.c.FD = int32(v)
	}
}

func (e *connectionEncoder) tagAddr(key string, a netip.Addr) {
	switch key {
	case "local_addr":
		e.localAddr = a
	case "remote_addr":
		e.remoteAddr = a
	}
}

func (*connectionEncoder) fieldInt(string, int64)     {}
func (*connectionEncoder) fieldFloat(string, float64) {}
func (*connectionEncoder) fieldString(string, string) {}
func (*connectionEncoder) fieldBool(string, bool)     {}
