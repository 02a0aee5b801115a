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

// tracked is what the tracker knows of a socket: when it was first seen,
// its state, and what its events are tagged with.
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

// seen is what is kept of every tracked socket between gathers: enough for
// age_s. Small, since there may be a million.
type seen struct {
	first int64 // unix nanoseconds
	gen   uint32
	state parser.State
}

// detail is what is kept besides, with events only: what a closed event is
// tagged with, and the owner's start time that tells a reused pid.
type detail struct {
	start         uint64
	local, remote netip.AddrPort
	name          string
	container     string
	pid, fd       int32
	dir           dirCode
}

func (t *tracked) split() (seen, detail) {
	return seen{first: t.first, gen: t.gen, state: t.state},
		detail{start: t.start, local: t.local, remote: t.remote, name: t.name, container: t.container, pid: t.pid, fd: t.fd, dir: t.dir}
}

func join2(s seen, d detail) tracked {
	return tracked{first: s.first, gen: s.gen, state: s.state, start: d.start, local: d.local, remote: d.remote,
		name: d.name, container: d.container, pid: d.pid, fd: d.fd, dir: d.dir}
}

// tracker remembers the sockets of the last gathers, to tell their age and,
// with events, what changed. Its memory is bounded by max (see
// BenchmarkTrackerMemory for the bytes per socket): beyond it, new sockets
// are not tracked (no age, no events) until others close.
type tracker struct {
	max     int
	gen     uint32
	primed  bool // a gather has been recorded
	events  bool // keep details, report changes
	sockets map[sockKey]seen
	details map[sockKey]detail // with events only
	full    int                // sockets not tracked in this gather for want of room
}

// event is a change the tracker saw. from is the previous state (for
// opened, the current one).
type event struct {
	kind string
	t    tracked
	key  sockKey
	from parser.State
	age  time.Duration
}

func newTracker(limit int, events bool) *tracker {
	tr := &tracker{max: limit, events: events, sockets: make(map[sockKey]seen)}
	if events {
		tr.details = make(map[sockKey]detail)
	}
	return tr
}

// begin starts a gather.
func (tr *tracker) begin() {
	tr.gen++
	tr.full = 0
}

func (tr *tracker) store(key sockKey, cur *tracked) {
	s, d := cur.split()
	tr.sockets[key] = s
	if tr.events {
		tr.details[key] = d
	}
}

// observe records a socket of this gather and reports what changed through
// emit. It returns when the socket was first seen, and false if there was
// no room to track it.
func (tr *tracker) observe(now time.Time, key sockKey, cur tracked, emit func(event)) (time.Time, bool) {
	cur.gen = tr.gen
	old, ok := tr.sockets[key]
	if !ok {
		if len(tr.sockets) >= tr.max {
			tr.full++
			return now, false
		}
		cur.first = now.UnixNano()
		tr.store(key, &cur)
		if tr.primed && tr.events {
			emit(event{kind: eventOpened, t: cur, key: key, from: cur.state})
		}
		return now, true
	}
	if !tr.events {
		old.gen, old.state = tr.gen, cur.state
		tr.sockets[key] = old
		return time.Unix(0, old.first), true
	}
	prev := join2(old, tr.details[key])
	if prev.pid == cur.pid && prev.start != cur.start {
		// The pid was reused by a new process: a new owner, so a new socket.
		emit(event{kind: eventClosed, t: prev, key: key, from: prev.state, age: now.Sub(time.Unix(0, prev.first))})
		cur.first = now.UnixNano()
		tr.store(key, &cur)
		emit(event{kind: eventOpened, t: cur, key: key, from: cur.state})
		return now, true
	}
	cur.first = old.first
	tr.store(key, &cur)
	if old.state != cur.state && old.gen != tr.gen {
		emit(event{kind: eventStateChanged, t: cur, key: key, from: old.state, age: now.Sub(time.Unix(0, old.first))})
	}
	return time.Unix(0, old.first), true
}

// sweep ends a complete gather: sockets not seen in it are closed, unless
// alive says they still are (the kernel can skip a row when its table
// changes between two reads, but the fd walk still found the socket).
func (tr *tracker) sweep(now time.Time, alive func(sockKey) bool, emit func(event)) {
	for key, s := range tr.sockets {
		if s.gen == tr.gen {
			continue
		}
		if alive(key) {
			s.gen = tr.gen
			tr.sockets[key] = s
			continue
		}
		delete(tr.sockets, key)
		if tr.events {
			t := join2(s, tr.details[key])
			delete(tr.details, key)
			emit(event{kind: eventClosed, t: t, key: key, from: t.state, age: now.Sub(time.Unix(0, t.first))})
		}
	}
	tr.primed = true
}
