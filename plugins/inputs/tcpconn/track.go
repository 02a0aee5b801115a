//go:build linux

package tcpconn

import (
	"net/netip"
	"time"

	"github.com/tcpconn/telegraf-tcpconn/parser"
)

// Values of the event tag.
const (
	eventOpened       = "opened"
	eventClosed       = "closed"
	eventStateChanged = "state_changed"
)

// sockKey identifies a socket across gathers: inodes are unique within a
// kernel, and the namespace keeps the key right when tables of several
// namespaces are read.
type sockKey struct {
	netns, inode uint64
}

// tracked is what is kept of a socket between gathers: enough to say when it
// was first seen and to tag its closed event. Its size is what max_tracked
// multiplies (see BenchmarkTrackerMemory).
type tracked struct {
	first         int64 // unix nanoseconds
	start         uint64
	local, remote netip.AddrPort
	name          string
	container     string
	pid, fd       int32
	gen           uint32
	state         parser.State
	dir           dirCode
}

// tracker remembers the sockets of the last gathers, to tell their age and
// what changed. Its memory is bounded by max: beyond it, new sockets are not
// tracked (no age, no events) until others close.
type tracker struct {
	max     int
	gen     uint32
	primed  bool // a gather has been recorded
	sockets map[sockKey]tracked
	full    int // sockets not tracked in this gather for want of room
}

// event is a change the tracker saw. from is the previous state (for
// opened, the current one).
type event struct {
	kind string
	t    *tracked
	key  sockKey
	from parser.State
	age  time.Duration
}

func newTracker(limit int) *tracker {
	return &tracker{max: limit, sockets: make(map[sockKey]tracked)}
}

// begin starts a gather.
func (tr *tracker) begin() {
	tr.gen++
	tr.full = 0
}

// observe records a socket of this gather and reports what changed through
// emit. It returns when the socket was first seen, and false if there was
// no room to track it.
func (tr *tracker) observe(now time.Time, key sockKey, cur tracked, emit func(event)) (time.Time, bool) {
	cur.gen = tr.gen
	old, ok := tr.sockets[key]
	switch {
	case !ok:
		if len(tr.sockets) >= tr.max {
			tr.full++
			return now, false
		}
		cur.first = now.UnixNano()
		tr.sockets[key] = cur
		if tr.primed {
			emit(event{kind: eventOpened, t: &cur, key: key, from: cur.state})
		}
		return now, true
	case old.pid == cur.pid && old.start != cur.start:
		// The pid was reused by a new process: a new owner, so a new socket.
		emit(event{kind: eventClosed, t: &old, key: key, from: old.state, age: now.Sub(time.Unix(0, old.first))})
		cur.first = now.UnixNano()
		tr.sockets[key] = cur
		emit(event{kind: eventOpened, t: &cur, key: key, from: cur.state})
		return now, true
	}
	cur.first = old.first
	tr.sockets[key] = cur
	if old.state != cur.state && old.gen != tr.gen {
		emit(event{kind: eventStateChanged, t: &cur, key: key, from: old.state, age: now.Sub(time.Unix(0, old.first))})
	}
	return time.Unix(0, old.first), true
}

// sweep ends a complete gather: sockets not seen in it are closed, unless
// alive says they still are (the kernel can skip a row when its table
// changes between two reads, but the fd walk still found the socket).
func (tr *tracker) sweep(now time.Time, alive func(sockKey) bool, emit func(event)) {
	//nolint:gocritic // a map has no references to range over; a copy per socket per gather costs less than a pointer per socket
	for key, t := range tr.sockets {
		if t.gen == tr.gen {
			continue
		}
		if alive(key) {
			t.gen = tr.gen
			tr.sockets[key] = t
			continue
		}
		delete(tr.sockets, key)
		emit(event{kind: eventClosed, t: &t, key: key, from: t.state, age: now.Sub(time.Unix(0, t.first))})
	}
	tr.primed = true
}
