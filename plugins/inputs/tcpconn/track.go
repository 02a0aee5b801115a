//go:build linux

package tcpconn

import (
	"net/netip"
	"time"

	"github.com/tcpconn/telegraf-tcpconn/parser"
)

// sockKey identifies a socket across gathers: inodes are unique within a
// kernel, and the namespace keeps the key right when tables of several
// namespaces are read.
type sockKey struct {
	netns, inode uint64
}

// seen is what the tracker keeps of every socket between gathers: enough
// for age_s, for telling what changed, and for keeping the owner of a
// socket whose process could not be walked. Small, since there may be a
// million.
type seen struct {
	first  int64  // unix nanoseconds
	start  uint64 // the owner's start time
	cookie uint64 // the kernel's socket cookie, when the source tells it
	gen    uint32 // the last gather whose table listed it
	pid    int32  // the last known owner, the first of them; 0: none
	fd     int32
	state  parser.State
	v6     bool
	missed bool // once missing from its table, read whole, while a process held it
	// fresh: new in its first gather, where it would have been opened
	// had it had an owner (see mayOpen).
	fresh bool
}

// detail is what is kept besides, with events only: the rest of what a
// closed event is tagged with.
type detail struct {
	local, remote netip.AddrPort
	dir           dirCode
}

// procInfo is what the tracker last knew of a process that owned sockets.
type procInfo struct {
	start           uint64
	name, container string
}

// tracker remembers the sockets of the last gathers, owned or not (but
// those with inode 0, which name no socket across gathers), to tell their
// age, what changed, and their owner while it cannot be walked. Its memory
// is bounded by max (see BenchmarkTrackerMemory for the bytes per socket):
// beyond it, new sockets are not tracked (no age, no events) until others
// close.
type tracker struct {
	max         int
	events      bool // keep details, report changes
	emitInitial bool
	gen         uint32
	gathers     int
	now         time.Time
	prev        time.Time // the gather before now's
	sockets     map[sockKey]seen
	details     map[sockKey]detail // with events only
	procs       map[int32]procInfo
	// What the last gather proved, so that a socket is reported opened only
	// when that gather would have listed it: the tables it read whole, and
	// whether it had room to track every socket.
	lastWhole map[tableKey]bool
	lastFull  int
	full      int        // sockets not tracked in this gather for want of room
	kept      []tableKey // tables not tried whose sockets a sweep keeps
	// With the kernel's destroy notifications: the sockets by cookie, and
	// the cookies of those a sweep closed, kept a gather, for their
	// notification may come after.
	cookies     map[uint64]sockKey
	sweptClosed map[uint64]uint32 // cookie -> gen of the sweep
}

func newTracker(limit int, events, emitInitial bool) *tracker {
	tr := &tracker{
		max: limit, events: events, emitInitial: emitInitial,
		sockets: make(map[sockKey]seen), procs: make(map[int32]procInfo), lastWhole: make(map[tableKey]bool),
	}
	if events {
		tr.details = make(map[sockKey]detail)
	}
	return tr
}

// byCookie keeps an index of the tracked sockets by cookie, for the
// kernel's destroy notifications, which name a socket by its cookie.
func (tr *tracker) byCookie() {
	tr.cookies = make(map[uint64]sockKey)
	tr.sweptClosed = make(map[uint64]uint32)
}

// begin starts a gather, which expects about sockets rows. The first one
// sizes the map for them, as far as max allows: grown from nothing, the map
// of 200k sockets rehashed all the way, a tenth of a -once run's CPU.
func (tr *tracker) begin(now time.Time, sockets int) {
	if tr.gathers == 0 && len(tr.sockets) == 0 {
		tr.sockets = make(map[sockKey]seen, min(sockets, tr.max))
	}
	tr.gen++
	tr.prev, tr.now = tr.now, now
	tr.full = 0
}

// observe records a row of this gather. It reports a row the kernel
// repeated within the gather (dup), which the caller drops. Otherwise it
// sets the row's age and past and, when the walk gave the row no owner but
// could not read its last known owner's process, that owner (stale).
func (tr *tracker) observe(key sockKey, r *row, f *facts) (dup bool) {
	old, ok := tr.sockets[key]
	if ok && old.gen == tr.gen {
		return true
	}
	if len(r.owners) == 0 && ok && old.pid != 0 && f.unwalked(old.pid, old.start) {
		if p, known := tr.procs[old.pid]; known {
			r.owners = append(r.owners, owner{pid: old.pid, fd: old.fd, start: old.start, name: p.name, container: p.container})
			r.stale = true
		}
	}
	var o *owner
	if len(r.owners) > 0 {
		o = &r.owners[0]
	}
	now := tr.now.UnixNano()
	cur := seen{first: now, gen: tr.gen, state: r.State, v6: r.table.v6, cookie: r.cookie}
	if o != nil {
		cur.pid, cur.fd, cur.start = o.pid, o.fd, o.start
	}
	switch {
	case !ok:
		if len(tr.sockets) >= tr.max {
			tr.full++
			r.age = -1
			return false
		}
		cur.fresh = tr.mayOpen(r.table)
		if o != nil && cur.fresh {
			r.past.change = opened
		}
	case o != nil && old.pid == o.pid && old.start != o.start && old.start != 0 && o.start != 0:
		// The pid was reused by a new process: a new owner, so a new
		// socket. A start time of 0 is unknown, and proves nothing.
		r.past.change, r.past.ended = reopened, tr.gone(key, old)
	case o != nil && old.pid == 0 && tr.glimpsed(old):
		// Listed by the last gather only, new then and without owner:
		// made between its owner walk and its table read. Its owner
		// now is its first.
		cur.first = old.first
		r.past.change = opened
	default:
		cur.first = old.first
		if o != nil && old.state != r.State {
			r.past.change, r.past.from = stateChanged, old.state
		}
	}
	tr.sockets[key] = cur
	if tr.events && o != nil {
		tr.details[key] = detail{local: r.Local, remote: r.Remote, dir: r.dir}
	}
	if tr.cookies != nil && r.cookie != 0 && !ok {
		tr.cookies[r.cookie] = key
	}
	r.past.first = time.Unix(0, cur.first)
	r.age = tr.now.Sub(r.past.first)
	return false
}

// mayOpen reports whether a new socket of table tk is one the last gather
// would have tracked had it been there: that gather read the table whole
// and had room for all. On the first gather, with emit_initial only.
func (tr *tracker) mayOpen(tk tableKey) bool {
	if tr.gathers == 0 {
		return tr.emitInitial
	}
	return tr.lastFull == 0 && tr.lastWhole[tk]
}

// gone is the socket of key as the tracker last knew it.
func (tr *tracker) gone(key sockKey, s seen) gone {
	d := tr.details[key]
	p := tr.procs[s.pid]
	return gone{
		netns: key.netns, inode: key.inode, cookie: s.cookie,
		local: d.local, remote: d.remote, state: s.state, dir: d.dir, first: time.Unix(0, s.first),
		owner: owner{pid: s.pid, fd: s.fd, start: s.start, name: p.name, container: p.container},
	}
}

// remember records what the walk found of a process, for the sockets it
// owns while a later walk cannot read it.
func (tr *tracker) remember(pid int32, p procInfo) {
	tr.procs[pid] = p
}

// sweep ends a gather: what the tables and the walk proved decides the fate
// of each socket this gather did not list. A table it keeps sockets of
// without the gather having tried it is added to f as not read, for the
// stages that finish after it. It is closed when its table was
// read whole, unless a process still held it and this is the first such
// gather (the kernel can skip a row when the table changes between two of
// its reads). It is kept when its table was tried but not read whole. It
// is forgotten, without an event, when its table was not even tried (a
// namespace no process is in any more) and no process that could not be
// walked may still own it. closed is called with each closed socket that
// had an owner.
func (tr *tracker) sweep(f *facts, closed func(*gone)) {
	for key, s := range tr.sockets {
		if s.gen == tr.gen {
			continue
		}
		read, tried := f.tables[tableKey{netns: key.netns, v6: s.v6}]
		switch {
		case read == readWhole:
			if !s.missed && f.held(key.inode) {
				s.missed = true
				tr.sockets[key] = s
				continue
			}
			if s.pid != 0 && tr.events {
				g := tr.gone(key, s)
				closed(&g)
				if tr.sweptClosed != nil && g.cookie != 0 {
					tr.sweptClosed[g.cookie] = tr.gen
				}
			}
		case tried:
			continue
		case s.pid != 0 && f.unwalked(s.pid, s.start):
			// Its namespace was not even listed, as its owner could not be
			// walked: the table is one the gather could not read.
			tr.kept = append(tr.kept, tableKey{netns: key.netns, v6: s.v6})
			continue
		}
		tr.forget(key)
	}
	for cookie, gen := range tr.sweptClosed {
		if gen != tr.gen {
			delete(tr.sweptClosed, cookie) // its notification is not coming
		}
	}
	for _, tk := range tr.kept {
		f.tables[tk] = readNone
	}
	tr.kept = tr.kept[:0]
	for pid, p := range tr.procs {
		if !f.walked(pid) && !f.unwalked(pid, p.start) {
			delete(tr.procs, pid)
		}
	}
	clear(tr.lastWhole)
	for tk, read := range f.tables {
		if read == readWhole {
			tr.lastWhole[tk] = true
		}
	}
	tr.lastFull = tr.full
	tr.gathers++
}

// forget drops a socket.
func (tr *tracker) forget(key sockKey) {
	if tr.cookies != nil {
		delete(tr.cookies, tr.sockets[key].cookie)
	}
	delete(tr.sockets, key)
	if tr.events {
		delete(tr.details, key)
	}
}

// destroyed takes the kernel's notification that the socket with this
// cookie was freed. A socket the tracker knows ends, and is returned as it
// last knew it (seen), and with its owner when it had one; known reports
// whether a gather had seen it, or a sweep already closed it.
func (tr *tracker) destroyed(cookie uint64) (g gone, seen, known bool) {
	if _, ok := tr.sweptClosed[cookie]; ok {
		delete(tr.sweptClosed, cookie)
		return gone{}, false, true // closed already, by a sweep
	}
	key, ok := tr.cookies[cookie]
	if !ok {
		return gone{}, false, false
	}
	delete(tr.cookies, cookie)
	s, ok := tr.sockets[key]
	if !ok {
		return gone{}, false, true
	}
	g = tr.gone(key, s)
	g.glimpsed = s.pid == 0 && (tr.glimpsed(s) || s.fresh && s.gen == tr.gen && s.first == tr.now.UnixNano())
	tr.forget(key)
	return g, true, true
}

// glimpsed reports whether s was listed by the last gather only, new then
// and without owner: a socket made between that gather's owner walk and
// its table read, which no gather saw with its owner.
func (tr *tracker) glimpsed(s seen) bool {
	return s.pid == 0 && s.fresh && s.gen == tr.gen-1 && s.first == tr.prev.UnixNano()
}
