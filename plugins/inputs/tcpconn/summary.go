//go:build linux

package tcpconn

import (
	"bufio"
	"fmt"
	"net/netip"
	"os"
	"strconv"

	"github.com/tcpconn/telegraf-tcpconn/parser"
)

// measurementSummary is the name of the rollup metric.
const measurementSummary = "tcpconn_summary"

// groupKeys are the tags a summary may be grouped by.
var groupKeys = []string{"pid", "process_name", "state", "family", "local_addr", "local_port", "remote_addr", "remote_port", "direction"}

// portEphemeral marks a folded port in a group.
const portEphemeral = -1

// group is one summary group. Fields not grouped by stay zero.
type group struct {
	netns      uint64
	owned      bool
	pid        int32
	name       string
	state      parser.State
	v6         bool
	localAddr  netip.Addr
	localPort  int32
	remoteAddr netip.Addr
	remotePort int32
	direction  dirCode
}

type totals struct {
	count, rx, tx, maxTx int64
	closed               int64 // sockets of the group that ended since the last gather
}

// counts are the groups of one table.
type counts map[group]totals

// summaries is the stage of the tcpconn_summary measurement: counts and
// queue sums of every socket in the tables, owned or not, by group. It
// holds one entry per group and table, not per socket; grouping by remote
// address or port makes as many groups as there are peers.
type summaries struct {
	out      *emitter
	by       groupBy
	states   *[256]bool // nil: all states
	tagNetns bool
	fold     bool
	procRoot string

	ephemeralLow, ephemeralHigh uint16
	warn                        func(error) // the first failure to read the range
	warnedFold                  bool

	// tables holds the counts of the last gather that read each table
	// whole; cur those of this gather, until finish decides which to keep.
	tables, cur map[tableKey]counts
	// last holds the groups emitted by the last gather, so that one that
	// emptied reports a zero count once instead of just stopping: an
	// alert on it then clears at once, and a zero is not mistaken for
	// missing data.
	last, merged map[group]totals
	// ended counts the sockets that ended since the last gather, by group.
	ended       map[group]totals
	closedField bool     // events are on: the closed count is known
	spare       []counts // maps to reuse
	at          counts   // cur[atKey]: the rows of a table come in a run
	atKey       tableKey

	// The metric being encoded.
	g group
	t totals
}

func newSummaries(out *emitter, by []string, fold bool, procRoot string, warn func(error)) (*summaries, error) {
	s := &summaries{
		out: out, fold: fold, procRoot: procRoot, warn: warn,
		tables: make(map[tableKey]counts), cur: make(map[tableKey]counts),
		last: make(map[group]totals), merged: make(map[group]totals), ended: make(map[group]totals),
	}
	for _, k := range by {
		if !s.by.set(k) {
			return nil, fmt.Errorf("unknown tag %q; use any of %q", k, groupKeys)
		}
	}
	return s, nil
}

// groupBy says which tags group a summary; a struct, not a map, since it is
// consulted for every row.
type groupBy struct {
	pid, processName, state, family, localAddr, localPort, remoteAddr, remotePort, direction bool
}

func (b *groupBy) set(key string) bool {
	switch key {
	case "pid":
		b.pid = true
	case "process_name":
		b.processName = true
	case "state":
		b.state = true
	case "family":
		b.family = true
	case "local_addr":
		b.localAddr = true
	case "local_port":
		b.localPort = true
	case "remote_addr":
		b.remoteAddr = true
	case "remote_port":
		b.remotePort = true
	case "direction":
		b.direction = true
	default:
		return false
	}
	return true
}

// begin starts a gather. The ephemeral port range is read every gather, as
// an operator may change it. The folding still works with the kernel's
// default range, so a failure to read it is worth a warning once, not an
// error every gather.
func (s *summaries) begin() {
	for k, c := range s.cur {
		clear(c)
		s.spare = append(s.spare, c)
		delete(s.cur, k)
	}
	s.at = nil
	if !s.fold {
		return
	}
	low, high, err := ephemeralRange(s.procRoot + "/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		s.ephemeralLow, s.ephemeralHigh = 32768, 60999
		if !s.warnedFold {
			s.warnedFold = true
			s.warn(fmt.Errorf("fold_ephemeral_ports: %w; using 32768-60999", err))
		}
		return
	}
	s.ephemeralLow, s.ephemeralHigh = low, high
}

func ephemeralRange(path string) (low, high uint16, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	var l, h uint64
	if _, err := fmt.Fscan(bufio.NewReader(f), &l, &h); err != nil {
		return 0, 0, fmt.Errorf("reading %s: %w", path, err)
	}
	if l > h || h > 65535 {
		return 0, 0, fmt.Errorf("reading %s: bad range %d-%d", path, l, h)
	}
	return uint16(l), uint16(h), nil
}

// row counts a row in its table's groups. A socket counts once per group,
// however many of its owners fall in the same one.
func (s *summaries) row(r *row) {
	if s.states != nil && !s.states[r.State] {
		return
	}
	tk := r.table
	c := s.at
	if tk != s.atKey || c == nil {
		c = s.cur[tk]
	}
	if c == nil {
		if n := len(s.spare); n > 0 {
			c, s.spare = s.spare[n-1], s.spare[:n-1]
		} else {
			c = make(counts)
		}
		s.cur[tk] = c
	}
	s.at, s.atKey = c, tk
	if len(r.owners) == 0 {
		c.add(s.key(r, nil), r)
		return
	}
	var last group
	for i := range r.owners {
		g := s.key(r, &r.owners[i])
		if i == 0 || g != last {
			c.add(g, r)
		}
		last = g
	}
}

// key makes the group of a row and one of its owners (nil: unowned).
func (s *summaries) key(r *row, o *owner) group {
	g := group{netns: r.netns}
	if o != nil {
		g.owned = true
		if s.by.pid {
			g.pid = o.pid
		}
		if s.by.processName {
			g.name = o.name
		}
	}
	if s.by.state {
		g.state = r.State
	}
	if s.by.family {
		g.v6 = !r.Local.Addr().Is4()
	}
	if s.by.localAddr {
		g.localAddr = r.Local.Addr()
	}
	if s.by.localPort {
		g.localPort = s.port(r.Local.Port(), r.ports)
	}
	if s.by.remoteAddr {
		g.remoteAddr = r.Remote.Addr()
	}
	if s.by.remotePort {
		g.remotePort = s.port(r.Remote.Port(), r.ports)
	}
	if s.by.direction {
		g.direction = r.dir
	}
	return g
}

// port folds an ephemeral port that nothing here listens on; without dirs
// (a socket that ended, after its table) any port of the range.
func (s *summaries) port(p uint16, dirs *directions) int32 {
	if s.fold && p >= s.ephemeralLow && p <= s.ephemeralHigh && (dirs == nil || !dirs.isListening(p)) {
		return portEphemeral
	}
	return int32(p)
}

func (c counts) add(g group, r *row) {
	t := c[g]
	t.count++
	t.rx += int64(r.RxQueue)
	t.tx += int64(r.TxQueue)
	t.maxTx = max(t.maxTx, int64(r.TxQueue))
	c[g] = t
}

// finish emits the gather's groups. A table read whole gives its counts. A
// table the gather tried but did not read whole keeps the counts of its
// last whole read: the rows it did not reach are no evidence that their
// sockets are gone. A table the gather did not try at all (a network
// namespace no process is in any more) counts no more.
func (s *summaries) finish(f *facts) []error {
	for tk, read := range f.tables {
		if read == readWhole {
			c := s.cur[tk]
			if c == nil {
				c = make(counts) // read whole, and empty
			}
			if old, ok := s.tables[tk]; ok && old != nil {
				clear(old)
				s.spare = append(s.spare, old)
			}
			s.tables[tk] = c
			delete(s.cur, tk)
		}
	}
	for tk := range s.tables {
		if _, tried := f.tables[tk]; !tried {
			delete(s.tables, tk)
		}
	}

	clear(s.merged)
	for _, c := range s.tables {
		for g, t := range c {
			m := s.merged[g]
			m.count += t.count
			m.rx += t.rx
			m.tx += t.tx
			m.maxTx = max(m.maxTx, t.maxTx)
			s.merged[g] = m
		}
	}
	for g, t := range s.ended {
		m := s.merged[g]
		m.closed += t.closed
		s.merged[g] = m
	}
	clear(s.ended)
	for g, t := range s.last {
		if _, ok := s.merged[g]; !ok && t.count > 0 {
			s.merged[g] = totals{} // emptied since the last gather
		}
	}
	for g, t := range s.merged {
		s.g, s.t = g, t
		s.out.emit(measurementSummary, s)
	}
	s.last, s.merged = s.merged, s.last
	return nil
}

// closed counts a socket that ended in its group: its owner's or, for a
// short-lived socket, its listener's owner, if the gather knows one.
func (s *summaries) closed(g *gone) {
	if s.states != nil && !s.states[g.state] && !g.shortLived {
		return
	}
	o := &g.owner
	if o.pid == 0 {
		o = g.listener
	}
	r := row{sock: sock{Socket: &parser.Socket{Local: g.local, Remote: g.remote, State: g.state}}, netns: g.netns, dir: g.dir}
	key := s.key(&r, o)
	t := s.ended[key]
	t.closed++
	s.ended[key] = t
}

// encode is the schema of tcpconn_summary: its tags and fields, in key
// order. Only the tags of summary_group_by are set; owner tags only for
// the sockets with an owner.
func (s *summaries) encode(e encoder) {
	g, by := &s.g, &s.by
	if by.direction {
		e.tag("direction", g.direction.String())
	}
	if by.family {
		e.tag("family", family(g.v6))
	}
	if by.localAddr {
		e.tagAddr("local_addr", g.localAddr)
	}
	if by.localPort {
		e.tag("local_port", portTag(g.localPort))
	}
	if s.tagNetns {
		e.tagInt("netns", int64(g.netns))
	}
	if g.owned && by.pid {
		e.tagInt("pid", int64(g.pid))
	}
	if g.owned && by.processName {
		e.tag("process_name", g.name)
	}
	if by.remoteAddr {
		e.tagAddr("remote_addr", g.remoteAddr)
	}
	if by.remotePort {
		e.tag("remote_port", portTag(g.remotePort))
	}
	if by.state {
		e.tag("state", g.state.String())
	}

	if s.closedField {
		e.fieldInt("closed", s.t.closed)
	}
	e.fieldInt("count", s.t.count)
	e.fieldInt("max_tx_queue", s.t.maxTx)
	e.fieldInt("rx_queue", s.t.rx)
	e.fieldInt("tx_queue", s.t.tx)
}

func portTag(p int32) string {
	if p == portEphemeral {
		return "ephemeral"
	}
	return strconv.FormatInt(int64(p), 10)
}
