//go:build linux

package tcpconn

import (
	"fmt"
)

// measurement is the name of the per-socket metric.
const measurement = "tcpconn"

// connections is the stage of the tcpconn measurement: one metric per
// socket and owner, and, with include_unowned, per unowned socket.
type connections struct {
	out            *emitter
	states         *[256]bool // nil: all states
	includeUnowned bool
	tagNetns       bool
	max            int    // max_connection_metrics; 0: no limit
	maxOption      string // the option's name as the user wrote it

	// Per gather.
	emitted, dropped int
	// The metric being encoded.
	r     *row
	owner int // index in r.owners, -1 for an unowned socket
}

func (c *connections) begin() {
	c.emitted, c.dropped = 0, 0
}

func (c *connections) row(r *row) {
	if c.states != nil && !c.states[r.State] {
		return
	}
	c.r = r
	if len(r.owners) == 0 {
		if c.includeUnowned && c.admit() {
			c.owner = -1
			c.out.emit(measurement, c)
		}
		return
	}
	for i := range r.owners {
		if c.admit() {
			c.owner = i
			c.out.emit(measurement, c)
		}
	}
}

// admit applies the cardinality guard to the next metric.
func (c *connections) admit() bool {
	if c.max > 0 && c.emitted >= c.max {
		c.dropped++
		return false
	}
	c.emitted++
	return true
}

func (*connections) closed(*gone) {}

func (c *connections) finish(*facts) []error {
	if c.dropped == 0 {
		return nil
	}
	return []error{fmt.Errorf("%s %d reached: dropped %d of %d tcpconn metrics; "+
		"narrow the gather with the states or process_names options, or raise %[1]s",
		c.maxOption, c.max, c.dropped, c.emitted+c.dropped)}
}

// encode is the schema of tcpconn: its tags and fields, in key order.
//
// pid and fd are tags: a socket shared by two descriptors or processes
// (dup, fork) gives one metric per owner in the same gather, and only its
// tags tell them apart.
func (c *connections) encode(e encoder) {
	r := c.r
	var o *owner
	if c.owner >= 0 {
		o = &r.owners[c.owner]
	}
	if o != nil {
		e.tag("container_id", o.container)
	}
	e.tag("direction", r.dir.String())
	e.tag("family", familyOf(r.Local.Addr()))
	if o != nil {
		e.tagInt("fd", int64(o.fd))
	}
	e.tagAddr("local_addr", r.Local.Addr())
	e.tagInt("local_port", int64(r.Local.Port()))
	if c.tagNetns {
		e.tagInt("netns", int64(r.netns))
	}
	if o != nil {
		e.tagInt("pid", int64(o.pid))
		e.tag("process_name", o.name)
	}
	e.tagAddr("remote_addr", r.Remote.Addr())
	e.tagInt("remote_port", int64(r.Remote.Port()))
	e.tag("state", r.State.String())

	if o != nil && r.age >= 0 {
		e.fieldFloat("age_s", r.age.Seconds())
	}
	e.fieldInt("inode", int64(r.Inode))
	e.fieldInt("retransmits", int64(r.Retransmits))
	e.fieldInt("rx_queue", int64(r.RxQueue))
	e.fieldInt("tx_queue", int64(r.TxQueue))
	e.fieldInt("uid", int64(r.UID))
}
