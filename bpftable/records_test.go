package bpftable

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tcpconn/telegraf-tcpconn/parser"
)

// record builds the record tcp.bpf.c writes for s, of kind.
func record(kind byte, s Socket) []byte {
	ne := binary.NativeEndian
	r := make([]byte, recLen)
	r[0], r[1], r[2], r[3] = kind, s.Family, byte(s.State), s.Timer
	ne.PutUint16(r[4:], s.Local.Port())
	ne.PutUint16(r[6:], s.Remote.Port())
	switch {
	case !s.Local.IsValid():
	case s.Family == AFInet:
		l, rm := s.Local.Addr().As4(), s.Remote.Addr().As4()
		copy(r[8:], l[:])
		copy(r[24:], rm[:])
	default:
		l, rm := s.Local.Addr().As16(), s.Remote.Addr().As16()
		copy(r[8:], l[:])
		copy(r[24:], rm[:])
	}
	ne.PutUint32(r[40:], s.TxQueue)
	ne.PutUint32(r[44:], s.RxQueue)
	ne.PutUint32(r[48:], s.Retransmits)
	ne.PutUint32(r[52:], s.UID)
	ne.PutUint32(r[56:], s.Timeout)
	ne.PutUint64(r[64:], s.TimerExpires)
	ne.PutUint64(r[72:], s.Inode)
	ne.PutUint64(r[80:], s.Cookie)
	return r
}

func TestDecode(t *testing.T) {
	for _, want := range []Socket{
		{Family: AFInet, Socket: parser.Socket{
			Local:  netip.MustParseAddrPort("127.0.0.1:8080"),
			Remote: netip.MustParseAddrPort("10.1.2.3:54321"),
			State:  parser.Established, TxQueue: 7, RxQueue: 9, Timer: 2,
			TimerExpires: 1 << 40, Retransmits: 3, UID: 1000, Timeout: 4, Inode: 1<<33 + 5,
		}, Cookie: 1<<60 + 7},
		{Family: AFInet6, Socket: parser.Socket{
			Local:  netip.MustParseAddrPort("[::ffff:127.0.0.1]:443"),
			Remote: netip.MustParseAddrPort("[2001:db8::1]:65535"),
			State:  parser.TimeWait, Timer: 3, TimerExpires: 5999,
		}},
		{Family: AFInet6, Socket: parser.Socket{
			Local:  netip.MustParseAddrPort("[::]:22"),
			Remote: netip.MustParseAddrPort("[::]:0"),
			State:  parser.Listen, RxQueue: 128,
		}},
	} {
		var got Socket
		end, err := decode(record(recFull, want), &got)
		require.NoError(t, err)
		require.False(t, end)
		require.Equal(t, want, got)
	}

	end, err := decode(record(recEnd, Socket{}), new(Socket))
	require.NoError(t, err)
	require.True(t, end)

	_, err = decode(record(9, Socket{}), new(Socket))
	require.EqualError(t, err, "record of unknown kind 9")
	r := record(recTW, Socket{Family: AFInet})
	r[1] = 1
	_, err = decode(r, new(Socket))
	require.EqualError(t, err, "socket of unknown family 1")
}

// FuzzDecode: any record decodes without panic, to an error for an unknown
// kind or family; otherwise encoding the socket again gives back every byte
// the decoder reads (an AF_INET record's unused address bytes and the
// padding aside): no field lost or misplaced.
func FuzzDecode(f *testing.F) {
	f.Add(record(recFull, Socket{Family: AFInet, Socket: parser.Socket{
		Local: netip.MustParseAddrPort("127.0.0.1:8080"), Remote: netip.MustParseAddrPort("10.1.2.3:54321"),
		State: parser.Established, TxQueue: 7, RxQueue: 9, Timer: 2, TimerExpires: 1 << 40, Inode: 5,
	}, Cookie: 7}))
	f.Add(record(recTW, Socket{Family: AFInet6, Socket: parser.Socket{
		Local: netip.MustParseAddrPort("[::ffff:127.0.0.1]:443"), Remote: netip.MustParseAddrPort("[2001:db8::1]:1"),
		State: parser.TimeWait, Timer: 3,
	}}))
	f.Add(record(recEnd, Socket{}))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < recLen {
			b = append(b, make([]byte, recLen-len(b))...)
		}
		r := b[:recLen]
		var s Socket
		end, err := decode(r, &s)
		switch {
		case r[0] == recEnd:
			require.True(t, end)
			require.NoError(t, err)
			return
		case r[0] != recFull && r[0] != recTW && r[0] != recReq:
			require.Error(t, err)
			return
		case r[1] != AFInet && r[1] != AFInet6:
			require.Error(t, err)
			return
		}
		require.NoError(t, err)
		require.False(t, end)
		want := append([]byte(nil), r...)
		clear(want[60:64]) // padding
		if s.Family == AFInet {
			clear(want[12:24])
			clear(want[28:40])
		}
		require.Equal(t, want, record(r[0], s))
	})
}
