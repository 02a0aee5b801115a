//go:build linux

package tcpconn

import (
	"net/netip"
	"time"

	"github.com/tcpconn/telegraf-tcpconn/parser"
)

// measurementEvent is the name of the change metric.
const measurementEvent = "tcpconn_event"

// Values of the event tag.
const (
	eventOpened       = "opened"
	eventClosed       = "closed"
	eventStateChanged = "state_changed"
)

// events is the stage of the tcpconn_event measurement: one metric per
// owned socket that opened, changed state or closed since the last gather.
// What changed is the tracker's finding; this stage only reports it.
type events struct {
	out      *emitter
	tagNetns bool
	tcpInfo  bool // tcp_info: a closed event carries the last one
	kernel   bool // the kernel's destroy notifications are on

	// The event being encoded.
	kind          string
	netns, inode  uint64
	cookie        uint64
	local, remote netip.AddrPort
	state, from   parser.State
	dir           dirCode
	owner         owner         // pid 0: unknown
	age           time.Duration // since first seen; negative when unknown
	final         *finalInfo
	shortLived    bool
}

func (*events) begin() {}

func (ev *events) row(r *row) {
	if len(r.owners) == 0 {
		return
	}
	switch r.past.change {
	case opened:
		ev.fromRow(eventOpened, r, r.State, -1)
	case stateChanged:
		ev.fromRow(eventStateChanged, r, r.past.from, ev.out.now.Sub(r.past.first))
	case reopened:
		ev.closed(&r.past.ended)
		ev.fromRow(eventOpened, r, r.State, -1)
	}
}

func (ev *events) fromRow(kind string, r *row, from parser.State, age time.Duration) {
	ev.kind, ev.netns, ev.inode, ev.cookie = kind, r.netns, r.Inode, r.cookie
	ev.local, ev.remote, ev.state, ev.from, ev.dir = r.Local, r.Remote, r.State, from, r.dir
	ev.owner, ev.age, ev.final, ev.shortLived = r.owners[0], age, nil, false
	ev.out.emit(measurementEvent, ev)
}

// closed reports a socket that ended: one a gather saw with an owner, or
// one the kernel notified that no gather saw (short-lived, no owner). A
// socket seen without an owner gives no event.
func (ev *events) closed(g *gone) {
	if g.owner.pid == 0 && !g.shortLived {
		return
	}
	ev.kind, ev.netns, ev.inode, ev.cookie = eventClosed, g.netns, g.inode, g.cookie
	ev.local, ev.remote, ev.state, ev.from, ev.dir = g.local, g.remote, g.state, g.state, g.dir
	ev.owner, ev.final, ev.shortLived = g.owner, g.final, g.shortLived
	ev.age = -1
	if !g.first.IsZero() {
		ev.age = ev.out.now.Sub(g.first)
	}
	ev.out.emit(measurementEvent, ev)
}

func (*events) finish(*facts) []error { return nil }

// encode is the schema of tcpconn_event: its tags and fields, in key order.
//
// fd is a field, unlike in tcpconn: an event is one per socket, not per
// owner, so the descriptor tells no two events of a gather apart and is
// only a detail of the owner it names (the first one).
func (ev *events) encode(e encoder) {
	o := &ev.owner
	if o.pid != 0 {
		e.tag("container_id", o.container)
	}
	e.tag("direction", ev.dir.String())
	e.tag("event", ev.kind)
	e.tag("family", familyOf(ev.local.Addr()))
	e.tagAddr("local_addr", ev.local.Addr())
	e.tagInt("local_port", int64(ev.local.Port()))
	if ev.tagNetns {
		e.tagInt("netns", int64(ev.netns))
	}
	if o.pid != 0 {
		e.tagInt("pid", int64(o.pid))
		e.tag("process_name", o.name)
	}
	e.tagAddr("remote_addr", ev.remote.Addr())
	e.tagInt("remote_port", int64(ev.remote.Port()))
	e.tag("state", ev.state.String())

	var f *finalInfo
	if ev.tcpInfo {
		f = ev.final
	}
	if f != nil {
		f.u64(e, "bytes_acked", hasAcked, f.acked)
		f.u64(e, "bytes_received", hasReceived, f.recvd)
		f.u64(e, "bytes_retrans", hasRetrans, f.retr)
		f.u64(e, "bytes_sent", hasSent, f.sent)
	}
	if ev.tcpInfo && ev.cookie != 0 {
		e.fieldInt("cookie", int64(ev.cookie))
	}
	if f != nil && f.has&hasRate != 0 {
		e.fieldInt("delivery_rate_bps", int64(f.rate*8))
	}
	if ev.age >= 0 {
		e.fieldFloat("duration_s", ev.age.Seconds())
	}
	if o.pid != 0 {
		e.fieldInt("fd", int64(o.fd))
	}
	if ev.kind != eventOpened {
		e.fieldString("from_state", ev.from.String())
	}
	// A short-lived socket has none: the kernel orphans a socket when its
	// process closes it, and notifies its destruction with inode 0.
	if ev.inode != 0 {
		e.fieldInt("inode", int64(ev.inode))
	}
	if f != nil {
		f.u32(e, "lost", hasLost, f.lost)
		f.u32(e, "min_rtt_us", hasMinRTT, f.minRTT)
		f.u32(e, "notsent_bytes", hasNotsent, f.notsent)
		f.u32(e, "rtt_us", hasRTT, f.rtt)
		f.u32(e, "rttvar_us", hasRTTVar, f.rttVar)
	}
	if ev.kernel && ev.kind == eventClosed {
		e.fieldBool("short_lived", ev.shortLived)
	}
	if f != nil {
		f.u32(e, "snd_cwnd", hasCwnd, f.cwnd)
		f.u32(e, "total_retrans", hasTotalRetrans, f.totalRetrans)
	}
}

// u32 and u64 add a field of a final tcp_info that the kernel sent.
func (f *finalInfo) u32(e encoder, key string, bit uint16, v uint32) {
	if f.has&bit != 0 {
		e.fieldInt(key, int64(v))
	}
}

func (f *finalInfo) u64(e encoder, key string, bit uint16, v uint64) {
	if f.has&bit != 0 {
		e.fieldInt(key, int64(v))
	}
}
