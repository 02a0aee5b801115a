//go:build linux

package tcpconn

import (
	"fmt"
	"strconv"
	"time"

	"github.com/influxdata/telegraf"

	"github.com/tcpconn/telegraf-tcpconn/parser"
	"github.com/tcpconn/telegraf-tcpconn/resolver"
)

const measurement = "tcpconn"

// join matches the rows of the kernel tables with their owners as the rows
// stream by, and emits a metric per (socket, owner) at once: nothing holds
// the table. It is reused from gather to gather to keep its buffers.
type join struct {
	// Set by Init.
	states         *[256]bool // nil: all states
	includeUnowned bool
	maxMetrics     int // 0: no limit

	// Per gather.
	acc     telegraf.Accumulator
	owners  *resolver.Table
	now     time.Time
	emitted []uint64            // bit i: owner i's socket was emitted; the kernel may repeat rows
	unowned map[uint64]struct{} // inodes of the unowned sockets emitted
	procs   []procTags          // by index into owners.Procs, filled lazily
	metrics int
	dropped int

	// Reused for every metric: the accumulator copies them.
	tags   map[string]string
	fields map[string]any
}

// procTags caches the per-process tag values, made once per gather.
type procTags struct {
	pid, name string
}

func (j *join) begin(acc telegraf.Accumulator, owners *resolver.Table, now time.Time) {
	j.acc, j.owners, j.now = acc, owners, now
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
		j.tags = make(map[string]string, 9)
		j.fields = make(map[string]any, 5)
	}
}

// finish ends the gather and reports the cardinality guard, if it tripped.
func (j *join) finish() error {
	j.acc, j.owners = nil, nil
	if j.dropped == 0 {
		return nil
	}
	return fmt.Errorf("max_sockets %d reached: dropped %d of %d metrics; "+
		"narrow the gather with the states or process_names options, or raise max_sockets",
		j.maxMetrics, j.dropped, j.metrics+j.dropped)
}

// socket takes one row of a kernel table.
func (j *join) socket(s *parser.Socket) {
	if j.states != nil && !j.states[s.State] {
		return
	}
	i, k := j.owners.Lookup(s.Inode)
	if i == k {
		j.unownedSocket(s)
		return
	}
	if j.emitted[i/64]&(1<<(i%64)) != 0 {
		return // a row the kernel repeated between two reads
	}
	j.emitted[i/64] |= 1 << (i % 64)

	for ; i < k; i++ {
		if !j.admit() {
			continue
		}
		o := &j.owners.Owners[i]
		p := j.proc(o.Proc)
		j.setSocketTags(s)
		j.tags["pid"] = p.pid
		j.tags["process_name"] = p.name
		j.tags["fd"] = strconv.FormatInt(int64(o.FD), 10)
		j.add(s)
	}
}

func (j *join) unownedSocket(s *parser.Socket) {
	if !j.includeUnowned {
		return
	}
	if s.Inode != 0 {
		if _, dup := j.unowned[s.Inode]; dup {
			return
		}
		j.unowned[s.Inode] = struct{}{}
	}
	if !j.admit() {
		return
	}
	j.setSocketTags(s)
	delete(j.tags, "pid")
	delete(j.tags, "process_name")
	delete(j.tags, "fd")
	j.add(s)
}

// admit applies the cardinality guard to the next metric.
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
	}
	return *p
}

func (j *join) setSocketTags(s *parser.Socket) {
	if s.Local.Addr().Is4() {
		j.tags["family"] = "ipv4"
	} else {
		j.tags["family"] = "ipv6"
	}
	j.tags["local_addr"] = s.Local.Addr().String()
	j.tags["local_port"] = strconv.FormatUint(uint64(s.Local.Port()), 10)
	j.tags["remote_addr"] = s.Remote.Addr().String()
	j.tags["remote_port"] = strconv.FormatUint(uint64(s.Remote.Port()), 10)
	j.tags["state"] = s.State.String()
}

func (j *join) add(s *parser.Socket) {
	j.fields["inode"] = int64(s.Inode)
	j.fields["uid"] = int64(s.UID)
	j.fields["rx_queue"] = int64(s.RxQueue)
	j.fields["tx_queue"] = int64(s.TxQueue)
	j.fields["retransmits"] = int64(s.Retransmits)
	j.acc.AddFields(measurement, j.fields, j.tags, j.now)
}
