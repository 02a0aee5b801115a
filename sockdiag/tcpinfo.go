package sockdiag

import (
	"encoding/binary"

	"github.com/tcpconn/telegraf-tcpconn/parser"
)

// TCPInfoCapacity is how many bytes of struct tcp_info a [TCPInfo] keeps.
// Linux 6.18 sends 280; the rest is room for fields later kernels append.
const TCPInfoCapacity = 384

// TCPInfo holds a copy of the kernel's struct tcp_info
// (include/uapi/linux/tcp.h), as the kernel sent it in INET_DIAG_INFO, in
// the host's byte order.
//
// The struct has grown at its end over the years, and a kernel sends its
// own size: for example 104 bytes in the first kernels (up to
// tcpi_total_retrans), 168 in Linux 4.9 (up to tcpi_delivery_rate), 224 in
// 4.19 (tcpi_bytes_sent, tcpi_bytes_retrans), 248 in 6.7
// (tcpi_total_rto_time), 280 in 6.18. Each accessor returns ok == false
// when the kernel's struct is too short to hold its field, rather than a
// made-up 0.
//
// A TCPInfo is a fixed-size value: decoding one does not allocate.
type TCPInfo struct {
	n int // bytes the kernel sent, possibly more than len(b)
	b [TCPInfoCapacity]byte
}

// Len returns the length of the struct the kernel sent, which may exceed
// [TCPInfoCapacity], or 0 if the socket came without INET_DIAG_INFO.
func (t *TCPInfo) Len() int { return t.n }

// Bytes returns the stored bytes of the struct: its first
// min(Len, TCPInfoCapacity) bytes. The slice aliases t.
func (t *TCPInfo) Bytes() []byte { return t.b[:min(t.n, len(t.b))] }

// set copies the attribute's payload into t.
func (t *TCPInfo) set(data []byte) {
	k := copy(t.b[:], data)
	if old := min(t.n, len(t.b)); old > k {
		clear(t.b[k:old])
	}
	t.n = len(data)
}

// reset marks t absent.
func (t *TCPInfo) reset() {
	clear(t.b[:min(t.n, len(t.b))])
	t.n = 0
}

// Offsets of the fields of struct tcp_info, from include/uapi/linux/tcp.h.
const (
	offState        = 0   // __u8 tcpi_state
	offCAState      = 1   // __u8 tcpi_ca_state
	offRetransmits  = 2   // __u8 tcpi_retransmits
	offRTO          = 8   // __u32 tcpi_rto
	offSndMSS       = 16  // __u32 tcpi_snd_mss
	offRcvMSS       = 20  // __u32 tcpi_rcv_mss
	offUnacked      = 24  // __u32 tcpi_unacked
	offLost         = 32  // __u32 tcpi_lost
	offRetrans      = 36  // __u32 tcpi_retrans
	offRTT          = 68  // __u32 tcpi_rtt
	offRTTVar       = 72  // __u32 tcpi_rttvar
	offSndCwnd      = 80  // __u32 tcpi_snd_cwnd
	offTotalRetrans = 100 // __u32 tcpi_total_retrans
	offPacingRate   = 104 // __u64 tcpi_pacing_rate
	offBytesAcked   = 120 // __u64 tcpi_bytes_acked
	offBytesRecv    = 128 // __u64 tcpi_bytes_received
	offSegsOut      = 136 // __u32 tcpi_segs_out
	offSegsIn       = 140 // __u32 tcpi_segs_in
	offNotsent      = 144 // __u32 tcpi_notsent_bytes
	offMinRTT       = 148 // __u32 tcpi_min_rtt
	offDeliveryRate = 160 // __u64 tcpi_delivery_rate
	offDelivered    = 192 // __u32 tcpi_delivered
	offBytesSent    = 200 // __u64 tcpi_bytes_sent
	offBytesRetrans = 208 // __u64 tcpi_bytes_retrans
	offSndWnd       = 228 // __u32 tcpi_snd_wnd
	offRcvWnd       = 232 // __u32 tcpi_rcv_wnd
	offTotalRTO     = 240 // __u16 tcpi_total_rto
)

func (t *TCPInfo) u8(off int) (uint8, bool) {
	if off+1 > t.n || off+1 > len(t.b) {
		return 0, false
	}
	return t.b[off], true
}

func (t *TCPInfo) u16(off int) (uint16, bool) {
	if off+2 > t.n || off+2 > len(t.b) {
		return 0, false
	}
	return binary.NativeEndian.Uint16(t.b[off:]), true
}

func (t *TCPInfo) u32(off int) (uint32, bool) {
	if off+4 > t.n || off+4 > len(t.b) {
		return 0, false
	}
	return binary.NativeEndian.Uint32(t.b[off:]), true
}

func (t *TCPInfo) u64(off int) (uint64, bool) {
	if off+8 > t.n || off+8 > len(t.b) {
		return 0, false
	}
	return binary.NativeEndian.Uint64(t.b[off:]), true
}

// State returns tcpi_state, the TCP state as the kernel's tcp_info saw it.
func (t *TCPInfo) State() (parser.State, bool) {
	v, ok := t.u8(offState)
	return parser.State(v), ok
}

// CAState returns tcpi_ca_state, the congestion avoidance state: 0 Open,
// 1 Disorder, 2 CWR, 3 Recovery, 4 Loss.
func (t *TCPInfo) CAState() (uint8, bool) { return t.u8(offCAState) }

// Retransmits returns tcpi_retransmits, the number of retransmit timeouts
// in a row of the data at the head of the send queue (reset once it is
// acknowledged).
func (t *TCPInfo) Retransmits() (uint8, bool) { return t.u8(offRetransmits) }

// RTO returns tcpi_rto, the retransmission timeout, in microseconds.
func (t *TCPInfo) RTO() (uint32, bool) { return t.u32(offRTO) }

// SndMSS returns tcpi_snd_mss, the sending maximum segment size, in bytes.
func (t *TCPInfo) SndMSS() (uint32, bool) { return t.u32(offSndMSS) }

// RcvMSS returns tcpi_rcv_mss, the estimated receiving maximum segment
// size, in bytes.
func (t *TCPInfo) RcvMSS() (uint32, bool) { return t.u32(offRcvMSS) }

// Unacked returns tcpi_unacked, the segments sent and not yet
// acknowledged; for a listening socket, the accept backlog.
func (t *TCPInfo) Unacked() (uint32, bool) { return t.u32(offUnacked) }

// Lost returns tcpi_lost, the segments currently presumed lost.
func (t *TCPInfo) Lost() (uint32, bool) { return t.u32(offLost) }

// Retrans returns tcpi_retrans, the segments retransmitted and not yet
// acknowledged.
func (t *TCPInfo) Retrans() (uint32, bool) { return t.u32(offRetrans) }

// RTT returns tcpi_rtt, the smoothed round-trip time, in microseconds.
func (t *TCPInfo) RTT() (uint32, bool) { return t.u32(offRTT) }

// RTTVar returns tcpi_rttvar, the round-trip time's mean deviation, in
// microseconds.
func (t *TCPInfo) RTTVar() (uint32, bool) { return t.u32(offRTTVar) }

// SndCwnd returns tcpi_snd_cwnd, the congestion window, in segments.
func (t *TCPInfo) SndCwnd() (uint32, bool) { return t.u32(offSndCwnd) }

// TotalRetrans returns tcpi_total_retrans, the segments retransmitted over
// the connection's life.
func (t *TCPInfo) TotalRetrans() (uint32, bool) { return t.u32(offTotalRetrans) }

// PacingRate returns tcpi_pacing_rate, in bytes per second.
func (t *TCPInfo) PacingRate() (uint64, bool) { return t.u64(offPacingRate) }

// BytesAcked returns tcpi_bytes_acked, the bytes the peer acknowledged
// (RFC 4898 tcpEStatsAppHCThruOctetsAcked), counting one for the SYN and
// one for an acknowledged FIN.
func (t *TCPInfo) BytesAcked() (uint64, bool) { return t.u64(offBytesAcked) }

// BytesReceived returns tcpi_bytes_received, the bytes received in
// sequence (RFC 4898 tcpEStatsAppHCThruOctetsReceived).
func (t *TCPInfo) BytesReceived() (uint64, bool) { return t.u64(offBytesRecv) }

// SegsOut returns tcpi_segs_out, the segments sent, retransmissions
// included.
func (t *TCPInfo) SegsOut() (uint32, bool) { return t.u32(offSegsOut) }

// SegsIn returns tcpi_segs_in, the segments received.
func (t *TCPInfo) SegsIn() (uint32, bool) { return t.u32(offSegsIn) }

// NotsentBytes returns tcpi_notsent_bytes, the bytes in the send queue not
// yet sent.
func (t *TCPInfo) NotsentBytes() (uint32, bool) { return t.u32(offNotsent) }

// MinRTT returns tcpi_min_rtt, the minimum round-trip time seen recently,
// in microseconds.
func (t *TCPInfo) MinRTT() (uint32, bool) { return t.u32(offMinRTT) }

// DeliveryRate returns tcpi_delivery_rate, the most recent delivery rate
// sample, in bytes per second.
func (t *TCPInfo) DeliveryRate() (uint64, bool) { return t.u64(offDeliveryRate) }

// Delivered returns tcpi_delivered, the segments delivered to the peer,
// retransmissions included.
func (t *TCPInfo) Delivered() (uint32, bool) { return t.u32(offDelivered) }

// BytesSent returns tcpi_bytes_sent, the data bytes sent,
// retransmissions included (RFC 4898 tcpEStatsPerfHCDataOctetsOut).
func (t *TCPInfo) BytesSent() (uint64, bool) { return t.u64(offBytesSent) }

// BytesRetrans returns tcpi_bytes_retrans, the data bytes retransmitted
// (RFC 4898 tcpEStatsPerfOctetsRetrans).
func (t *TCPInfo) BytesRetrans() (uint64, bool) { return t.u64(offBytesRetrans) }

// SndWnd returns tcpi_snd_wnd, the receive window the peer advertised,
// scaled, in bytes.
func (t *TCPInfo) SndWnd() (uint32, bool) { return t.u32(offSndWnd) }

// RcvWnd returns tcpi_rcv_wnd, the receive window this end advertised,
// scaled, in bytes.
func (t *TCPInfo) RcvWnd() (uint32, bool) { return t.u32(offRcvWnd) }

// TotalRTO returns tcpi_total_rto, the retransmission timeouts over the
// connection's life, SYN and SYN-ACK ones included.
func (t *TCPInfo) TotalRTO() (uint16, bool) { return t.u16(offTotalRTO) }
