//go:build linux

package tcpconn

import (
	"errors"
	"net/netip"
	"os"
	"sync"

	"github.com/tcpconn/telegraf-tcpconn/parser"
	"github.com/tcpconn/telegraf-tcpconn/sockdiag"
)

// closed is a socket the kernel told it destroyed: what its notification
// holds, copied small, since a burst may bring a hundred thousand between
// two gathers.
type closed struct {
	cookie        uint64
	local, remote netip.AddrPort
	state         parser.State
	info          finalInfo
}

// finalInfo is what tcpconn reports of a destroyed socket's last tcp_info:
// the fields of the tcpconn measurement, each with a bit in has when the
// kernel's struct held it.
type finalInfo struct {
	has          uint16
	rtt, rttVar  uint32
	minRTT, cwnd uint32
	totalRetrans uint32
	lost         uint32
	notsent      uint32
	acked, recvd uint64
	sent, retr   uint64
	rate         uint64 // bytes per second, as the kernel counts
}

// The bits of finalInfo.has.
const (
	hasRTT = 1 << iota
	hasRTTVar
	hasMinRTT
	hasCwnd
	hasTotalRetrans
	hasLost
	hasNotsent
	hasAcked
	hasReceived
	hasSent
	hasRetrans
	hasRate
)

// finalOf copies the fields of a tcp_info.
func finalOf(ti *sockdiag.TCPInfo) finalInfo {
	var f finalInfo
	u32 := func(bit uint16, get func() (uint32, bool), to *uint32) {
		if v, ok := get(); ok {
			*to, f.has = v, f.has|bit
		}
	}
	u64 := func(bit uint16, get func() (uint64, bool), to *uint64) {
		if v, ok := get(); ok {
			*to, f.has = v, f.has|bit
		}
	}
	u32(hasRTT, ti.RTT, &f.rtt)
	u32(hasRTTVar, ti.RTTVar, &f.rttVar)
	u32(hasMinRTT, ti.MinRTT, &f.minRTT)
	u32(hasCwnd, ti.SndCwnd, &f.cwnd)
	u32(hasTotalRetrans, ti.TotalRetrans, &f.totalRetrans)
	u32(hasLost, ti.Lost, &f.lost)
	u32(hasNotsent, ti.NotsentBytes, &f.notsent)
	u64(hasAcked, ti.BytesAcked, &f.acked)
	u64(hasReceived, ti.BytesReceived, &f.recvd)
	u64(hasSent, ti.BytesSent, &f.sent)
	u64(hasRetrans, ti.BytesRetrans, &f.retr)
	u64(hasRate, ti.DeliveryRate, &f.rate)
	return f
}

// closeQueue receives the kernel's notifications of destroyed TCP sockets
// (sockdiag.Listener, what ss -E shows) in its own goroutine, and keeps
// those since the last gather, at most max of them: a burst beyond is
// counted and dropped, so memory is bounded whatever the burst.
type closeQueue struct {
	l   *sockdiag.Listener
	max int

	mu       sync.Mutex
	pending  []closed
	dropped  int   // beyond max since the last take
	received int   // since the last take
	err      error // why the reading stopped, once it did
	wg       sync.WaitGroup
}

// listenCloses subscribes to the destroy notifications of the network
// namespace of the agent and starts reading them.
func listenCloses(limit int) (*closeQueue, error) {
	l, err := sockdiag.ListenDestroyed()
	if err != nil {
		return nil, err
	}
	q := &closeQueue{l: l, max: limit}
	q.wg.Add(1)
	go q.run()
	return q, nil
}

func (q *closeQueue) run() {
	defer q.wg.Done()
	for {
		r, err := q.l.Receive()
		if r != nil {
			q.add(r)
		}
		switch {
		case err == nil, errors.Is(err, sockdiag.ErrOverrun):
			// An overrun is counted by the Listener, which goes on.
		case errors.Is(err, os.ErrClosed):
			return
		default:
			q.mu.Lock()
			q.err = err
			q.mu.Unlock()
			return
		}
	}
}

// add queues the notifications of one receive.
func (q *closeQueue) add(r *sockdiag.Reader) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for r.Next() {
		s := r.Socket()
		q.received++
		if len(q.pending) >= q.max {
			q.dropped++
			continue
		}
		c := closed{cookie: s.Cookie, local: s.Local, remote: s.Remote, state: s.State}
		if s.Info.Len() > 0 {
			c.info = finalOf(&s.Info)
		}
		q.pending = append(q.pending, c)
	}
}

// take returns the notifications since the last take, and how many were
// received and dropped meanwhile. spare, the slice of the take before,
// is reused: a queue in steady state allocates nothing.
func (q *closeQueue) take(spare []closed) (pending []closed, received, dropped int, overruns uint64, err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	pending, q.pending = q.pending, spare[:0]
	received, dropped, err = q.received, q.dropped, q.err
	q.received, q.dropped = 0, 0
	return pending, received, dropped, q.l.Overruns(), err
}

// close ends the subscription and its goroutine.
func (q *closeQueue) close() {
	q.l.Close()
	q.wg.Wait()
}
