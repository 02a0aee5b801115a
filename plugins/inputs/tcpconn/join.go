//go:build linux

package tcpconn

import (
	"fmt"
	"time"

	"github.com/influxdata/telegraf"

	"github.com/tcpconn/telegraf-tcpconn/parser"
	"github.com/tcpconn/telegraf-tcpconn/resolver"
)

// stage is one measurement: it takes the enriched rows of a gather, the
// sockets the tracker saw end, and emits its metrics. A stage keeps its own
// state and knows nothing of the others, nor of the table source.
type stage interface {
	begin()
	row(r *row)
	closed(g *gone)
	// finish ends the gather with what it proved, and returns the errors
	// to report.
	finish(f *facts) []error
}

// join matches the rows of the kernel tables with their owners as the rows
// stream by, enriches each (owners, direction, age and past) and hands it
// to the stages: nothing holds the table. Across gathers only the tracker
// and the stages keep state. A join is reused from gather to gather to
// keep its buffers.
type join struct {
	out     *emitter
	tracker *tracker
	stages  []stage
	facts   facts
	// cgroups, when set, names a row's container by the cgroup id the
	// table source gives, instead of by its owner's /proc/<pid>/cgroup.
	cgroups *cgroupContainers
	// closes, when set, brings the kernel's destroy notifications of the
	// namespace closesNetns (0 with namespaces = "host").
	closes      *closeQueue
	closesNetns uint64
	spareCloses []closed
	overruns    uint64 // the Listener's count at the last gather
	warnedLoss  bool
	// someProcesses: process_names walks only some processes. A
	// short-lived socket has no owner, so then it counts only if one of
	// theirs listened for it.
	someProcesses bool
	// Of the last take: for the debug line.
	notified, shortLived, droppedCloses int

	// Per gather.
	walk       *resolver.Table
	emitted    []uint64 // bit i: walk.Owners[i]'s socket was seen; the kernel may repeat rows
	containers []string // by index into walk.Procs
	known      []bool   // containers[i] is set
	netns      uint64   // of the table being read; 0 with namespaces = "host"
	table      tableKey
	dirs       directions
	r          row
	// listeners are the owned listening sockets of this gather, by
	// namespace and port: what a short-lived socket was accepted from.
	listeners map[listenKey]owner
}

type listenKey struct {
	netns uint64
	port  uint16
}

func (j *join) begin(acc telegraf.Accumulator, walk *resolver.Table, now time.Time) {
	j.out.begin(acc, now)
	j.walk = walk
	j.facts.reset(walk)
	j.tracker.begin(now, len(walk.Owners))
	words := (len(walk.Owners) + 63) / 64
	j.emitted = resize(j.emitted, words)
	j.containers = resize(j.containers, len(walk.Procs))
	j.known = resize(j.known, len(walk.Procs))
	if j.listeners == nil {
		j.listeners = make(map[listenKey]owner)
	}
	clear(j.listeners)
	for _, s := range j.stages {
		s.begin()
	}
}

// resize returns s with n zero elements, reusing its memory.
func resize[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	s = s[:n]
	clear(s)
	return s
}

// enterNamespace starts the tables of a network namespace: its listeners
// and addresses are its own.
func (j *join) enterNamespace(netns uint64) {
	j.netns = netns
	j.dirs.reset()
}

// enterTable starts a table of the current namespace.
func (j *join) enterTable(v6 bool) {
	j.table = tableKey{netns: j.netns, v6: v6}
}

// tableRead records how much of a table was read.
func (j *join) tableRead(tk tableKey, read tableRead) {
	j.facts.tables[tk] = read
}

// row takes one row of the current table.
func (j *join) row(s sock) {
	r := &j.r
	r.sock, r.netns, r.table, r.ports = s, j.netns, j.table, &j.dirs
	r.owners, r.stale, r.age, r.past = r.owners[:0], false, -1, past{}
	r.dir = j.dirs.of(s.Socket)
	if s.Inode != 0 {
		i, k := j.walk.Lookup(s.Inode)
		if i < k {
			if j.emitted[i/64]&(1<<(i%64)) != 0 {
				return // a row the kernel repeated between two reads
			}
			j.emitted[i/64] |= 1 << (i % 64)
		}
		for ; i < k; i++ {
			o := &j.walk.Owners[i]
			p := &j.walk.Procs[o.Proc]
			r.owners = append(r.owners, owner{pid: o.PID, fd: o.FD, start: p.StartTime, name: p.Name})
			if j.cgroups == nil {
				r.owners[len(r.owners)-1].container = j.container(o.Proc)
			}
		}
		if j.tracker.observe(sockKey{netns: j.netns, inode: s.Inode}, r, &j.facts) {
			return
		}
	}
	if j.cgroups != nil && len(r.owners) > 0 {
		id := j.cgroups.of(s.cgroupID, j.out.now)
		for i := range r.owners {
			r.owners[i].container = id
		}
	}
	if s.State == parser.Listen && len(r.owners) > 0 && j.closes != nil {
		j.listeners[listenKey{netns: j.netns, port: s.Local.Port()}] = r.owners[0]
	}
	for _, st := range j.stages {
		st.row(r)
	}
}

func (j *join) dispatchClosed(g *gone) {
	for _, s := range j.stages {
		s.closed(g)
	}
}

// destroyed takes the destroy notifications since the last gather. A
// socket a gather saw ends with the owner and first-seen time it had, and
// its last tcp_info; one no gather saw, born and gone between two, is
// short-lived, and has no owner. A notification of a socket a sweep closed
// already is dropped: one closed event per socket.
func (j *join) destroyed() []error {
	pending, received, dropped, overruns, err := j.closes.take(j.spareCloses)
	j.notified, j.shortLived, j.droppedCloses = received, 0, dropped
	var errs []error
	for i := range pending {
		c := &pending[i]
		g, seen, known := j.tracker.destroyed(c.cookie)
		switch {
		case seen && !g.glimpsed:
		case known && !seen:
			continue
		default:
			// Short-lived: no gather saw it with an owner. It was born
			// and gone between two, or one gather listed it between its
			// owner walk and its table read, before the owner's walk
			// could find it; either way it lived less than an interval,
			// and the kernel does not say whose it was. Only if the last
			// gather would have tracked it: it read the socket's table
			// whole, and had room.
			tk := tableKey{netns: j.closesNetns, v6: !c.local.Addr().Is4()}
			if !j.tracker.mayOpen(tk) {
				continue
			}
			g = gone{netns: j.closesNetns, cookie: c.cookie, local: c.local, remote: c.remote, state: c.state, shortLived: true}
			g.dir, g.listener = j.acceptedBy(j.closesNetns, c)
			if j.someProcesses && g.listener == nil {
				continue
			}
			j.shortLived++
		}
		g.notified = true
		if c.info.has != 0 {
			g.final = &c.info
		}
		j.dispatchClosed(&g)
	}
	j.spareCloses = pending
	if dropped > 0 {
		errs = append(errs, fmt.Errorf("max_pending_closes %d reached: %d of %d destroyed sockets since the last gather dropped (no closed event); "+
			"raise max_pending_closes", j.closes.max, dropped, received))
	}
	if overruns > j.overruns && !j.warnedLoss {
		j.warnedLoss = true
		errs = append(errs, fmt.Errorf("the kernel dropped destroy notifications, its receive buffer full (ENOBUFS, %d times so far): "+
			"closes of sockets no gather saw are lost; those a gather saw are still reported closed by the next gather", overruns))
	}
	j.overruns = overruns
	if err != nil {
		errs = append(errs, fmt.Errorf("destroy notifications stopped: %w; closes are found by the gathers only", err))
		j.closes.close()
		j.closes = nil
	}
	return errs
}

// acceptedBy tells the direction of a socket no gather saw, and the owner
// of the listener it was accepted from, if the gather knows one on its
// port.
func (j *join) acceptedBy(netns uint64, c *closed) (dirCode, *owner) {
	local, remote := c.local.Addr().Unmap(), c.remote.Addr().Unmap()
	o, listening := j.listeners[listenKey{netns: netns, port: c.local.Port()}]
	var by *owner
	if listening {
		by = &o
	}
	switch {
	case remote.IsUnspecified():
		return dirNone, by
	case remote.IsLoopback() || remote == local:
		return dirLocal, by
	case listening:
		return dirInbound, by
	}
	return dirOutbound, nil
}

// container returns the container id of walk.Procs[i], worked out once per
// gather.
func (j *join) container(i int32) string {
	if !j.known[i] {
		j.containers[i] = containerID(j.walk.Procs[i].Cgroup)
		j.known[i] = true
	}
	return j.containers[i]
}

// finish ends the gather: the tracker decides from its facts which sockets
// ended, and the stages finish. It returns the errors to report.
func (j *join) finish() []error {
	for i := range j.walk.Procs {
		p := &j.walk.Procs[i]
		j.tracker.remember(p.PID, procInfo{start: p.StartTime, name: p.Name, container: j.container(int32(i))})
	}
	var errs []error
	if j.closes != nil {
		// The kernel's word first: a socket it notified is not closed
		// again by the sweep.
		errs = append(errs, j.destroyed()...)
	}
	j.tracker.sweep(&j.facts, j.dispatchClosed)
	if tr := j.tracker; tr.full > 0 {
		errs = append(errs, fmt.Errorf("max_tracked %d reached: %d sockets not tracked (no age_s, no events) in this gather; "+
			"raise max_tracked or narrow the gather with process_names", tr.max, tr.full))
	}
	for _, s := range j.stages {
		errs = append(errs, s.finish(&j.facts)...)
	}
	if err := j.out.finish(); err != nil {
		errs = append(errs, fmt.Errorf("writing line protocol: %w", err))
	}
	j.walk = nil
	return errs
}
