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

	// The event being encoded.
	kind          string
	netns, inode  uint64
	local, remote netip.AddrPort
	state, from   parser.State
	dir           dirCode
	owner         owner
	age           time.Duration // since first seen; negative for opened
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
	ev.kind, ev.netns, ev.inode = kind, r.netns, r.Inode
	ev.local, ev.remote, ev.state, ev.from, ev.dir = r.Local, r.Remote, r.State, from, r.dir
	ev.owner, ev.age = r.owners[0], age
	ev.out.emit(measurementEvent, ev)
}

func (ev *events) closed(g *gone) {
	ev.kind, ev.netns, ev.inode = eventClosed, g.netns, g.inode
	ev.local, ev.remote, ev.state, ev.from, ev.dir = g.local, g.remote, g.state, g.state, g.dir
	ev.owner, ev.age = g.owner, ev.out.now.Sub(g.first)
	ev.out.emit(measurementEvent, ev)
}

func (*events) finish(*facts) []error { return nil }

// encode is the schema of tcpconn_event: its tags and fields, in key order.
//
// fd is a field, unlike in tcpconn: an event is one per socket, not per
// owner, so the descriptor tells no two events of a gather apart and is
// only a detail of the owner it names (the first one).
func (ev *events) encode(e encoder) {
	e.tag("container_id", ev.owner.container)
	e.tag("direction", ev.dir.String())
	e.tag("event", ev.kind)
	e.tag("family", familyOf(ev.local.Addr()))
	e.tagAddr("local_addr", ev.local.Addr())
	e.tagInt("local_port", int64(ev.local.Port()))
	if ev.tagNetns {
		e.tagInt("netns", int64(ev.netns))
	}
	e.tagInt("pid", int64(ev.owner.pid))
	e.tag("process_name", ev.owner.name)
	e.tagAddr("remote_addr", ev.remote.Addr())
	e.tagInt("remote_port", int64(ev.remote.Port()))
	e.tag("state", ev.state.String())

	if ev.age >= 0 {
		e.fieldFloat("duration_s", ev.age.Seconds())
	}
	e.fieldInt("fd", int64(ev.owner.fd))
	if ev.kind != eventOpened {
		e.fieldString("from_state", ev.from.String())
	}
	e.fieldInt("inode", int64(ev.inode))
}
