//go:build linux

package tcpconn

import (
	"fmt"
	"net/netip"
	"strconv"
	"time"

	"github.com/influxdata/telegraf"

	"github.com/tcpconn/telegraf-tcpconn/parser"
	"github.com/tcpconn/telegraf-tcpconn/resolver"
)

// Measurements.
const (
	measurement        = "tcpconn"
	measurementEvent   = "tcpconn_event"
	measurementSummary = "tcpconn_summary"
)

// join matches the rows of the kernel tables with their owners as the rows
// stream by, and emits at once: nothing holds the table. Across gathers only
// the tracker keeps state, bounded by max_tracked. A join is reused from
// gather to gather to keep its buffers.
type join struct {
	// Set by Init.
	states         *[256]bool // nil: all states
	includeUnowned bool
	tagNetns       bool // namespaces = "all"
	maxMetrics     int  // 0: no limit
	connections    bool
	events         bool
	tracker        *tracker // nil when neither age_s nor events are wanted
	summary        *summary // nil unless summaries are wanted

	// Per gather.
	acc     telegraf.Accumulator
	owners  *resolver.Table
	now     time.Time
	netns   uint64 // of the table being read; 0 with namespaces = "host"
	netTag  string
	dirs    directions
	emitted []uint64            // bit i: owner i's socket was seen; the kernel may repeat rows
	unowned map[uint64]struct{} // inodes of the unowned sockets emitted
	procs   []procTags          // by index into owners.Procs, filled lazily
	metrics int
	dropped int

	// Reused for every metric: the accumulator copies them.
	tags   map[string]string
	fields map[string]any
	// lp is set when the accumulator takes line protocol.
	lp    *lineWriter
	lpBuf lineWriter
}

// procTags caches the per-process tag values, made once per gather.
type procTags struct {
	pid, name, container string
	// For line protocol: whether name and container can be carried at all,
	// and if so, escaped.
	lpSafe              bool
	lpName, lpContainer string
}

func (j *join) begin(acc telegraf.Accumulator, owners *resolver.Table, now time.Time) {
	j.acc, j.owners, j.now = acc, owners, now
	j.lp = nil
	if sink, ok := acc.(LineProtocolSink); ok {
		j.lp = &j.lpBuf
		j.lp.reset(sink.LineProtocol(), now)
	}
	j.metrics, j.dropped = 0, 0

	words := (len(owners.Owners) + 63) / 64
	if cap(j.emitted) < words {
		j.emitted = make([]uint64, words)
	} else {
		j.emitted = j.emitted[:words]
		clear(j.emitted)
	}
	if cap(j.procs) < len(owners.Procs) {
		j.procs = make([]procTags, len(owners.Procs))
	} else {
		j.procs = j.procs[:len(owners.Procs)]
		clear(j.procs)
	}
	if j.includeUnowned {
		if j.unowned == nil {
			j.unowned = make(map[uint64]struct{})
		}
		clear(j.unowned)
	}
	if j.tags == nil {
		j.tags = make(map[string]string, 10)
		j.fields = make(map[string]any, 6)
	}
	if j.tracker != nil {
		j.tracker.begin()
	}
}

// enter starts the tables of a network namespace: its listeners and
// addresses are its own.
func (j *join) enter(netns uint64) {
	j.netns = netns
	j.netTag = strconv.FormatUint(netns, 10)
	j.dirs.reset()
}

// finish ends the gather. A complete gather closes the sockets it did not
// see; an incomplete one (a timeout, a table that could not be read) must
// not, so it closes nothing. It returns the errors to report.
func (j *join) finish(complete bool) []error {
	var errs []error
	if j.lp != nil {
		j.lp.flush() // before events and summaries take the accumulator's path
		if j.lp.err != nil {
			errs = append(errs, fmt.Errorf("writing line protocol: %w", j.lp.err))
		}
	}
	if j.tracker != nil {
		if complete {
			j.tracker.sweep(j.now, j.alive, j.event)
		}
		if j.tracker.full > 0 {
			errs = append(errs, fmt.Errorf("max_tracked %d reached: %d sockets not tracked (no age_s, no events) in this gather; "+
				"raise max_tracked or narrow the gather with process_names", j.tracker.max, j.tracker.full))
		}
	}
	if j.summary != nil {
		j.flushSummary(complete)
	}
	if j.dropped > 0 {
		errs = append(errs, fmt.Errorf("max_sockets %d reached: dropped %d of %d metrics; "+
			"narrow the gather with the states or process_names options, or raise max_sockets",
			j.maxMetrics, j.dropped, j.metrics+j.dropped))
	}
	j.acc, j.owners = nil, nil
	return errs
}

// alive reports whether the fd walk found a socket whose row was missing.
func (j *join) alive(key sockKey) bool {
	i, k := j.owners.Lookup(key.inode)
	return i < k
}

func (j *join) wantState(s parser.State) bool {
	return j.states == nil || j.states[s]
}

// socket takes one row of a kernel table.
func (j *join) socket(s *parser.Socket) {
	dir := j.dirs.of(s)
	i, k := j.owners.Lookup(s.Inode)
	if i == k {
		j.unownedSocket(s, dir)
		return
	}
	if j.emitted[i/64]&(1<<(i%64)) != 0 {
		return // a row the kernel repeated between two reads
	}
	j.emitted[i/64] |= 1 << (i % 64)

	first := &j.owners.Owners[i]
	age := -1.0 // not tracked
	if j.tracker != nil {
		proc := &j.owners.Procs[first.Proc]
		seen, ok := j.tracker.observe(j.now, sockKey{netns: j.netns, inode: s.Inode}, tracked{
			start:     proc.StartTime,
			local:     s.Local,
			remote:    s.Remote,
			name:      proc.Name,
			container: j.proc(first.Proc).container,
			pid:       first.PID,
			fd:        first.FD,
			state:     s.State,
			dir:       codeOf(dir),
		}, j.event)
		if ok {
			age = j.now.Sub(seen).Seconds()
		}
	}
	if !j.wantState(s.State) {
		return
	}

	var last group
	for start := i; i < k; i++ {
		o := &j.owners.Owners[i]
		p := j.proc(o.Proc)
		if j.summary != nil {
			// A socket counts once per group, however many of its owners
			// fall in the same one.
			g := j.summary.key(s, &p, o.PID, dir, &j.dirs)
			g.netns = j.netns
			if i == start || g != last {
				j.summary.add(g, s)
			}
			last = g
		}
		if j.connections && j.admit() {
			j.connection(s, dir, age, &p, o.FD)
		}
	}
}

func (j *join) unownedSocket(s *parser.Socket, dir string) {
	if !j.wantState(s.State) {
		return
	}
	if j.summary != nil {
		g := j.summary.key(s, nil, 0, dir, &j.dirs)
		g.netns = j.netns
		j.summary.add(g, s)
	}
	if !j.connections || !j.includeUnowned {
		return
	}
	if s.Inode != 0 {
		if _, dup := j.unowned[s.Inode]; dup {
			return
		}
		j.unowned[s.Inode] = struct{}{}
	}
	if j.admit() {
		j.connection(s, dir, -1, nil, 0)
	}
}

// admit applies the cardinality guard to the next connection metric.
func (j *join) admit() bool {
	if j.maxMetrics > 0 && j.metrics >= j.maxMetrics {
		j.dropped++
		return false
	}
	j.metrics++
	return true
}

func (j *join) proc(idx int32) procTags {
	p := &j.procs[idx]
	if p.pid == "" {
		proc := &j.owners.Procs[idx]
		p.pid = strconv.FormatInt(int64(proc.PID), 10)
		p.name = proc.Name
		p.container = containerID(proc.Cgroup)
		p.lpSafe = lpSafe(p.name) && lpSafe(p.container)
		p.lpName, p.lpContainer = lpEscaper.Replace(p.name), lpEscaper.Replace(p.container)
	}
	return *p
}

// connection emits one tcpconn metric. owner is nil for an unowned socket;
// age is negative for an untracked one.
func (j *join) connection(s *parser.Socket, dir string, age float64, owner *procTags, fd int32) {
	if j.lp != nil {
		if j.lp.connection(j, s, dir, age, owner, fd) {
			return
		}
		j.lp.flush() // keep the order of the lines
	}
	clear(j.tags)
	clear(j.fields)
	if owner != nil {
		j.tags["pid"] = owner.pid
		j.tags["process_name"] = owner.name
		j.tags["fd"] = strconv.FormatInt(int64(fd), 10)
		if owner.container != "" {
			j.tags["container_id"] = owner.container
		}
	}
	j.socketTags(s.Local, s.Remote, s.State)
	if dir != "" {
		j.tags["direction"] = dir
	}
	j.fields["inode"] = int64(s.Inode)
	j.fields["uid"] = int64(s.UID)
	j.fields["rx_queue"] = int64(s.RxQueue)
	j.fields["tx_queue"] = int64(s.TxQueue)
	j.fields["retransmits"] = int64(s.Retransmits)
	if age >= 0 {
		j.fields["age_s"] = age
	}
	j.acc.AddFields(measurement, j.fields, j.tags, j.now)
}

func (j *join) socketTags(local, remote netip.AddrPort, state parser.State) {
	if j.tagNetns {
		j.tags["netns"] = j.netTag
	}
	if local.Addr().Is4() {
		j.tags["family"] = "ipv4"
	} else {
		j.tags["family"] = "ipv6"
	}
	j.tags["local_addr"] = local.Addr().String()
	j.tags["local_port"] = strconv.FormatUint(uint64(local.Port()), 10)
	j.tags["remote_addr"] = remote.Addr().String()
	j.tags["remote_port"] = strconv.FormatUint(uint64(remote.Port()), 10)
	j.tags["state"] = state.String()
}

// event emits one tcpconn_event metric, when events are wanted.
func (j *join) event(e event) {
	if !j.events {
		return
	}
	clear(j.tags)
	clear(j.fields)
	j.tags["event"] = e.kind
	j.tags["pid"] = strconv.FormatInt(int64(e.t.pid), 10)
	j.tags["process_name"] = e.t.name
	if e.t.container != "" {
		j.tags["container_id"] = e.t.container
	}
	j.socketTags(e.t.local, e.t.remote, e.t.state)
	if d := e.t.dir.String(); d != "" {
		j.tags["direction"] = d
	}
	if j.tagNetns {
		// A closed event comes at the end of the gather, not with its table.
		j.tags["netns"] = strconv.FormatUint(e.key.netns, 10)
	}
	if e.kind != eventOpened {
		j.fields["from_state"] = e.from.String()
		j.fields["duration_s"] = e.age.Seconds()
	}
	j.fields["inode"] = int64(e.key.inode)
	j.fields["fd"] = int64(e.t.fd)
	j.acc.AddFields(measurementEvent, j.fields, j.tags, j.now)
}

func (j *join) flushSummary(complete bool) {
	for g, t := range j.summary.prev {
		if _, ok := j.summary.groups[g]; !ok && t.count > 0 && complete {
			j.summary.groups[g] = totals{} // emptied since the last gather
		}
	}
	for g, t := range j.summary.groups {
		clear(j.tags)
		clear(j.fields)
		j.summary.tags(g, j.tags)
		if j.tagNetns {
			j.tags["netns"] = strconv.FormatUint(g.netns, 10)
		}
		j.fields["count"] = t.count
		j.fields["rx_queue"] = t.rx
		j.fields["tx_queue"] = t.tx
		j.fields["max_tx_queue"] = t.maxTx
		j.acc.AddFields(measurementSummary, j.fields, j.tags, j.now)
	}
}
