package bpftable

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/tcpconn/telegraf-tcpconn/parser"
)

// The record tcp.bpf.c writes, in the CPU's byte order. Keep in step with
// the C struct tcp_rec.
const (
	recLen = 88

	recEnd  = 0
	recFull = 1
	recTW   = 2
	recReq  = 3
)

// decode fills s from the record r (recLen bytes) and tells whether it was
// the end record.
func decode(r []byte, s *Socket) (end bool, err error) {
	ne := binary.NativeEndian
	switch r[0] {
	case recEnd:
		return true, nil
	case recFull, recTW, recReq:
	default:
		return false, fmt.Errorf("record of unknown kind %d", r[0])
	}
	s.Family = r[1]
	lport, rport := ne.Uint16(r[4:]), ne.Uint16(r[6:])
	switch s.Family {
	case AFInet:
		s.Local = netip.AddrPortFrom(netip.AddrFrom4([4]byte(r[8:12])), lport)
		s.Remote = netip.AddrPortFrom(netip.AddrFrom4([4]byte(r[24:28])), rport)
	case AFInet6:
		s.Local = netip.AddrPortFrom(netip.AddrFrom16([16]byte(r[8:24])), lport)
		s.Remote = netip.AddrPortFrom(netip.AddrFrom16([16]byte(r[24:40])), rport)
	default:
		return false, fmt.Errorf("socket of unknown family %d", s.Family)
	}
	s.State = parser.State(r[2])
	s.Timer = r[3]
	s.TxQueue = ne.Uint32(r[40:])
	s.RxQueue = ne.Uint32(r[44:])
	s.Retransmits = ne.Uint32(r[48:])
	s.UID = ne.Uint32(r[52:])
	s.Timeout = ne.Uint32(r[56:])
	s.TimerExpires = ne.Uint64(r[64:])
	s.Inode = ne.Uint64(r[72:])
	s.Cookie = ne.Uint64(r[80:])
	return false, nil
}
