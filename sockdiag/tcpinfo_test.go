package sockdiag

import (
	"bufio"
	"encoding/binary"
	"os"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
)

// tcpInfo618 is struct tcp_info of include/uapi/linux/tcp.h in Linux 6.18,
// transcribed field by field; bit fields are bytes here.
type tcpInfo618 struct {
	State           uint8
	CAState         uint8
	Retransmits     uint8
	Probes          uint8
	Backoff         uint8
	Options         uint8
	Wscale          uint8 // tcpi_snd_wscale : 4, tcpi_rcv_wscale : 4
	Flags           uint8 // tcpi_delivery_rate_app_limited:1, tcpi_fastopen_client_fail:2
	RTO             uint32
	ATO             uint32
	SndMSS          uint32
	RcvMSS          uint32
	Unacked         uint32
	Sacked          uint32
	Lost            uint32
	Retrans         uint32
	Fackets         uint32
	LastDataSent    uint32
	LastAckSent     uint32
	LastDataRecv    uint32
	LastAckRecv     uint32
	PMTU            uint32
	RcvSsthresh     uint32
	RTT             uint32
	RTTVar          uint32
	SndSsthresh     uint32
	SndCwnd         uint32
	Advmss          uint32
	Reordering      uint32
	RcvRTT          uint32
	RcvSpace        uint32
	TotalRetrans    uint32
	PacingRate      uint64
	MaxPacingRate   uint64
	BytesAcked      uint64
	BytesReceived   uint64
	SegsOut         uint32
	SegsIn          uint32
	NotsentBytes    uint32
	MinRTT          uint32
	DataSegsIn      uint32
	DataSegsOut     uint32
	DeliveryRate    uint64
	BusyTime        uint64
	RwndLimited     uint64
	SndbufLimited   uint64
	Delivered       uint32
	DeliveredCE     uint32
	BytesSent       uint64
	BytesRetrans    uint64
	DsackDups       uint32
	ReordSeen       uint32
	RcvOoopack      uint32
	SndWnd          uint32
	RcvWnd          uint32
	Rehash          uint32
	TotalRTO        uint16
	TotalRTORecov   uint16
	TotalRTOTime    uint32
	ReceivedCE      uint32
	DeliveredE1     uint32
	DeliveredE0     uint32
	DeliveredCEB    uint32
	ReceivedE1      uint32
	ReceivedE0      uint32
	ReceivedCEB     uint32
	AccECNFailModes uint32 // tcpi_ecn_mode:2, tcpi_accecn_opt_seen:2, tcpi_accecn_fail_mode:4, tcpi_options2:24
}

// accessor is one TCPInfo accessor, its value widened to uint64.
type accessor struct {
	name   string // the uapi field
	get    func(*TCPInfo) (uint64, bool)
	offset uintptr // its offset
	size   uintptr // and size in the Linux 6.18 layout
}

func widen[T uint8 | uint16 | uint32 | uint64](f func() (T, bool)) (uint64, bool) {
	v, ok := f()
	return uint64(v), ok
}

func accessors() []accessor {
	var ref tcpInfo618
	return []accessor{
		{"tcpi_state", func(t *TCPInfo) (uint64, bool) {
			s, ok := t.State()
			return uint64(s), ok
		}, unsafe.Offsetof(ref.State), unsafe.Sizeof(ref.State)},
		{"tcpi_ca_state", func(t *TCPInfo) (uint64, bool) { return widen(t.CAState) }, unsafe.Offsetof(ref.CAState), unsafe.Sizeof(ref.CAState)},
		{"tcpi_retransmits", func(t *TCPInfo) (uint64, bool) { return widen(t.Retransmits) }, unsafe.Offsetof(ref.Retransmits), unsafe.Sizeof(ref.Retransmits)},
		{"tcpi_rto", func(t *TCPInfo) (uint64, bool) { return widen(t.RTO) }, unsafe.Offsetof(ref.RTO), unsafe.Sizeof(ref.RTO)},
		{"tcpi_snd_mss", func(t *TCPInfo) (uint64, bool) { return widen(t.SndMSS) }, unsafe.Offsetof(ref.SndMSS), unsafe.Sizeof(ref.SndMSS)},
		{"tcpi_rcv_mss", func(t *TCPInfo) (uint64, bool) { return widen(t.RcvMSS) }, unsafe.Offsetof(ref.RcvMSS), unsafe.Sizeof(ref.RcvMSS)},
		{"tcpi_unacked", func(t *TCPInfo) (uint64, bool) { return widen(t.Unacked) }, unsafe.Offsetof(ref.Unacked), unsafe.Sizeof(ref.Unacked)},
		{"tcpi_lost", func(t *TCPInfo) (uint64, bool) { return widen(t.Lost) }, unsafe.Offsetof(ref.Lost), unsafe.Sizeof(ref.Lost)},
		{"tcpi_retrans", func(t *TCPInfo) (uint64, bool) { return widen(t.Retrans) }, unsafe.Offsetof(ref.Retrans), unsafe.Sizeof(ref.Retrans)},
		{"tcpi_rtt", func(t *TCPInfo) (uint64, bool) { return widen(t.RTT) }, unsafe.Offsetof(ref.RTT), unsafe.Sizeof(ref.RTT)},
		{"tcpi_rttvar", func(t *TCPInfo) (uint64, bool) { return widen(t.RTTVar) }, unsafe.Offsetof(ref.RTTVar), unsafe.Sizeof(ref.RTTVar)},
		{"tcpi_snd_cwnd", func(t *TCPInfo) (uint64, bool) { return widen(t.SndCwnd) }, unsafe.Offsetof(ref.SndCwnd), unsafe.Sizeof(ref.SndCwnd)},
		{"tcpi_total_retrans", func(t *TCPInfo) (uint64, bool) { return widen(t.TotalRetrans) }, unsafe.Offsetof(ref.TotalRetrans), unsafe.Sizeof(ref.TotalRetrans)},
		{"tcpi_pacing_rate", func(t *TCPInfo) (uint64, bool) { return widen(t.PacingRate) }, unsafe.Offsetof(ref.PacingRate), unsafe.Sizeof(ref.PacingRate)},
		{"tcpi_bytes_acked", func(t *TCPInfo) (uint64, bool) { return widen(t.BytesAcked) }, unsafe.Offsetof(ref.BytesAcked), unsafe.Sizeof(ref.BytesAcked)},
		{"tcpi_bytes_received", func(t *TCPInfo) (uint64, bool) { return widen(t.BytesReceived) }, unsafe.Offsetof(ref.BytesReceived), unsafe.Sizeof(ref.BytesReceived)},
		{"tcpi_segs_out", func(t *TCPInfo) (uint64, bool) { return widen(t.SegsOut) }, unsafe.Offsetof(ref.SegsOut), unsafe.Sizeof(ref.SegsOut)},
		{"tcpi_segs_in", func(t *TCPInfo) (uint64, bool) { return widen(t.SegsIn) }, unsafe.Offsetof(ref.SegsIn), unsafe.Sizeof(ref.SegsIn)},
		{"tcpi_notsent_bytes", func(t *TCPInfo) (uint64, bool) { return widen(t.NotsentBytes) }, unsafe.Offsetof(ref.NotsentBytes), unsafe.Sizeof(ref.NotsentBytes)},
		{"tcpi_min_rtt", func(t *TCPInfo) (uint64, bool) { return widen(t.MinRTT) }, unsafe.Offsetof(ref.MinRTT), unsafe.Sizeof(ref.MinRTT)},
		{"tcpi_delivery_rate", func(t *TCPInfo) (uint64, bool) { return widen(t.DeliveryRate) }, unsafe.Offsetof(ref.DeliveryRate), unsafe.Sizeof(ref.DeliveryRate)},
		{"tcpi_delivered", func(t *TCPInfo) (uint64, bool) { return widen(t.Delivered) }, unsafe.Offsetof(ref.Delivered), unsafe.Sizeof(ref.Delivered)},
		{"tcpi_bytes_sent", func(t *TCPInfo) (uint64, bool) { return widen(t.BytesSent) }, unsafe.Offsetof(ref.BytesSent), unsafe.Sizeof(ref.BytesSent)},
		{"tcpi_bytes_retrans", func(t *TCPInfo) (uint64, bool) { return widen(t.BytesRetrans) }, unsafe.Offsetof(ref.BytesRetrans), unsafe.Sizeof(ref.BytesRetrans)},
		{"tcpi_snd_wnd", func(t *TCPInfo) (uint64, bool) { return widen(t.SndWnd) }, unsafe.Offsetof(ref.SndWnd), unsafe.Sizeof(ref.SndWnd)},
		{"tcpi_rcv_wnd", func(t *TCPInfo) (uint64, bool) { return widen(t.RcvWnd) }, unsafe.Offsetof(ref.RcvWnd), unsafe.Sizeof(ref.RcvWnd)},
		{"tcpi_total_rto", func(t *TCPInfo) (uint64, bool) { return widen(t.TotalRTO) }, unsafe.Offsetof(ref.TotalRTO), unsafe.Sizeof(ref.TotalRTO)},
	}
}

func TestTCPInfoLayout618(t *testing.T) {
	// The transcription has the size the running 6.18 kernel sends.
	require.Equal(t, uintptr(280), unsafe.Sizeof(tcpInfo618{}))
	// Each constant is the field's offset in the transcribed layout.
	consts := map[string]int{
		"tcpi_state": offState, "tcpi_ca_state": offCAState, "tcpi_retransmits": offRetransmits,
		"tcpi_rto": offRTO, "tcpi_snd_mss": offSndMSS, "tcpi_rcv_mss": offRcvMSS,
		"tcpi_unacked": offUnacked, "tcpi_lost": offLost, "tcpi_retrans": offRetrans,
		"tcpi_rtt": offRTT, "tcpi_rttvar": offRTTVar, "tcpi_snd_cwnd": offSndCwnd,
		"tcpi_total_retrans": offTotalRetrans, "tcpi_pacing_rate": offPacingRate,
		"tcpi_bytes_acked": offBytesAcked, "tcpi_bytes_received": offBytesRecv,
		"tcpi_segs_out": offSegsOut, "tcpi_segs_in": offSegsIn, "tcpi_notsent_bytes": offNotsent,
		"tcpi_min_rtt": offMinRTT, "tcpi_delivery_rate": offDeliveryRate,
		"tcpi_delivered": offDelivered, "tcpi_bytes_sent": offBytesSent,
		"tcpi_bytes_retrans": offBytesRetrans, "tcpi_snd_wnd": offSndWnd,
		"tcpi_rcv_wnd": offRcvWnd, "tcpi_total_rto": offTotalRTO,
	}
	acc := accessors()
	require.Len(t, acc, len(consts))
	for _, a := range acc {
		off, ok := consts[a.name]
		require.True(t, ok, a.name)
		require.Equal(t, uintptr(off), a.offset, a.name)
	}
}

// TestTCPInfoOffsetsC compares the offsets with those the C compiler gave
// for this machine's uapi header (Linux 6.1), recorded in testdata by
// tcp_info_offsets.c.
func TestTCPInfoOffsetsC(t *testing.T) {
	f, err := os.Open("testdata/tcp_info_offsets.txt")
	require.NoError(t, err)
	defer f.Close()
	byName := map[string]accessor{}
	for _, a := range accessors() {
		byName[a.name] = a
	}
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if fields[0] == "sizeof" {
			require.Equal(t, "232", fields[1], "the 6.1 header's struct tcp_info")
			continue
		}
		require.Len(t, fields, 3)
		a, ok := byName[fields[0]]
		require.True(t, ok, fields[0])
		off, _ := strconv.Atoi(fields[1])
		size, _ := strconv.Atoi(fields[2])
		require.Equal(t, uintptr(off), a.offset, fields[0])
		require.Equal(t, uintptr(size), a.size, fields[0])
		n++
	}
	require.NoError(t, sc.Err())
	require.Equal(t, 25, n) // all but tcpi_rcv_wnd and tcpi_total_rto, newer than 6.1
}

func TestTCPInfoAccessors(t *testing.T) {
	full := sampleInfo(280)
	for _, a := range accessors() {
		t.Run(a.name, func(t *testing.T) {
			end := int(a.offset + a.size)
			var want uint64
			switch a.size {
			case 1:
				want = uint64(full[a.offset])
			case 2:
				want = uint64(binary.NativeEndian.Uint16(full[a.offset:]))
			case 4:
				want = uint64(binary.NativeEndian.Uint32(full[a.offset:]))
			case 8:
				want = binary.NativeEndian.Uint64(full[a.offset:])
			}
			tests := []struct {
				len  int
				ok   bool
				want uint64
			}{
				{280, true, want},
				{end, true, want},
				{end - 1, false, 0},
				{0, false, 0},
			}
			for _, tt := range tests {
				var ti TCPInfo
				ti.set(full[:tt.len])
				v, ok := a.get(&ti)
				require.Equal(t, tt.ok, ok, "len %d", tt.len)
				require.Equal(t, tt.want, v, "len %d", tt.len)
			}
		})
	}
}

func TestTCPInfoShortLayouts(t *testing.T) {
	tests := []struct {
		name   string
		len    int
		has    []string
		hasNot []string
	}{
		{"original, up to tcpi_total_retrans", 104, []string{"tcpi_rtt", "tcpi_snd_cwnd", "tcpi_total_retrans"}, []string{"tcpi_pacing_rate", "tcpi_bytes_acked"}},
		{"Linux 4.9", 168, []string{"tcpi_bytes_acked", "tcpi_min_rtt", "tcpi_delivery_rate"}, []string{"tcpi_delivered", "tcpi_bytes_sent", "tcpi_bytes_retrans"}},
		{"Linux 4.19", 224, []string{"tcpi_bytes_sent", "tcpi_bytes_retrans"}, []string{"tcpi_snd_wnd", "tcpi_rcv_wnd"}},
		{"Linux 6.7", 248, []string{"tcpi_rcv_wnd", "tcpi_total_rto"}, nil},
	}
	byName := map[string]accessor{}
	for _, a := range accessors() {
		byName[a.name] = a
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ti TCPInfo
			ti.set(sampleInfo(tt.len))
			require.Equal(t, tt.len, ti.Len())
			require.Len(t, ti.Bytes(), tt.len)
			for _, name := range tt.has {
				_, ok := byName[name].get(&ti)
				require.True(t, ok, name)
			}
			for _, name := range tt.hasNot {
				v, ok := byName[name].get(&ti)
				require.False(t, ok, name)
				require.Zero(t, v, name)
			}
		})
	}
}

func TestTCPInfoLongerThanCapacity(t *testing.T) {
	var ti TCPInfo
	ti.set(sampleInfo(TCPInfoCapacity + 100))
	require.Equal(t, TCPInfoCapacity+100, ti.Len())
	require.Len(t, ti.Bytes(), TCPInfoCapacity)
	rtt, ok := ti.RTT()
	require.True(t, ok)
	require.Equal(t, binary.NativeEndian.Uint32([]byte{68, 69, 70, 71}), rtt)

	// A shorter struct afterwards leaves no bytes of the longer one.
	ti.set(sampleInfo(10))
	require.Equal(t, 10, ti.Len())
	require.Equal(t, [TCPInfoCapacity]byte(append(sampleInfo(10), make([]byte, TCPInfoCapacity-10)...)), ti.b)
	ti.reset()
	require.Zero(t, ti)
}
