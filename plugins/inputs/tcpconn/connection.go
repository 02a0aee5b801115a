//go:build linux

package tcpconn

import (
	"fmt"

	"github.com/tcpconn/telegraf-tcpconn/sockdiag"
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
	tcpInfo        bool   // tcp_info: the fields of tcp_info, and the cookie
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
	var ti *sockdiag.TCPInfo
	if c.tcpInfo {
		ti = r.info
	}
	if ti != nil {
		u64Field(e, "bytes_acked", ti.BytesAcked)
		u64Field(e, "bytes_received", ti.BytesReceived)
		u64Field(e, "bytes_retrans", ti.BytesRetrans)
		u64Field(e, "bytes_sent", ti.BytesSent)
	}
	if c.tcpInfo && r.cookie != 0 {
		e.fieldInt("cookie", int64(r.cookie))
	}
	if ti != nil {
		if v, ok := ti.DeliveryRate(); ok {
			e.fieldInt("delivery_rate_bps", int64(v*8)) // the kernel counts bytes; ss prints bits
		}
	}
	e.fieldInt("inode", int64(r.Inode))
	if ti != nil {
		u32Field(e, "lost", ti.Lost)
		u32Field(e, "min_rtt_us", ti.MinRTT)
		u32Field(e, "notsent_bytes", ti.NotsentBytes)
	}
	e.fieldInt("retransmits", int64(r.Retransmits))
	if ti != nil {
		u32Field(e, "rtt_us", ti.RTT)
		u32Field(e, "rttvar_us", ti.RTTVar)
	}
	e.fieldInt("rx_queue", int64(r.RxQueue))
	if ti != nil {
		u32Field(e, "snd_cwnd", ti.SndCwnd)
		u32Field(e, "total_retrans", ti.TotalRetrans)
	}
	e.fieldInt("tx_queue", int64(r.TxQueue))
	e.fieldInt("uid", int64(r.UID))
}

// u32Field and u64Field add a field of tcp_info when the kernel's struct
// is long enough to hold it: a field it lacks is absent, not 0.
func u32Field(e encoder, key string, get func() (uint32, bool)) {
	if v, ok := get(); ok {
		e.fieldInt(key, int64(v))
	}
}

func u64Field(e encoder, key string, get func() (uint64, bool)) {
	if v, ok := get(); ok {
		e.fieldInt(key, int64(v))
	}
}
