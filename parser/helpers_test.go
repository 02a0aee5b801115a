package parser

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"sync"
)

const (
	headerTCP  = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode                                                     \n"
	headerTCP6 = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
)

// appendAddrPort appends ap as the kernel prints it: 32-bit address words
// in byte order bo, then the port.
func appendAddrPort(b []byte, ap netip.AddrPort, bo binary.ByteOrder) []byte {
	a := ap.Addr().AsSlice()
	for i := 0; i < len(a); i += 4 {
		b = fmt.Appendf(b, "%08X", bo.Uint32(a[i:i+4]))
	}
	return fmt.Appendf(b, ":%04X", ap.Port())
}

// appendRow appends s as get_tcp4_sock or get_tcp6_sock prints it, with
// made-up trailing fields.
func appendRow(b []byte, s *Socket, bo binary.ByteOrder) []byte {
	b = fmt.Appendf(b, "%4d: ", s.Slot)
	b = appendAddrPort(b, s.Local, bo)
	b = append(b, ' ')
	b = appendAddrPort(b, s.Remote, bo)
	b = fmt.Appendf(b, " %02X %08X:%08X %02X:%08X %08X %5d %8d %d 2 ffff88001a505b00 20 4 30 10 -1\n",
		uint8(s.State), s.TxQueue, s.RxQueue, s.Timer, s.TimerExpires, s.Retransmits, s.UID, s.Timeout, s.Inode)
	return b
}

// genSocket returns a made-up socket for row i, IPv4 or IPv6, in a variety
// of states, with inode 0 for TIME_WAIT and NEW_SYN_RECV like the kernel.
func genSocket(i int, v6 bool) Socket {
	states := [...]State{Listen, Established, Established, Established, TimeWait, CloseWait, SynSent, NewSynRecv}
	st := states[i%len(states)]
	var local, remote netip.Addr
	if v6 {
		local = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 14: byte(i >> 8), 15: byte(i)})
		remote = netip.AddrFrom16([16]byte{0xfe, 0x80, 8: byte(i >> 24), 12: 1, 13: byte(i >> 16), 14: byte(i >> 8), 15: byte(i) | 1})
	} else {
		local = netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		remote = netip.AddrFrom4([4]byte{192, 168, byte(i >> 8), byte(i) | 1})
	}
	s := Socket{
		Slot:         uint64(i),
		Local:        netip.AddrPortFrom(local, uint16(1024+i%60000)),
		Remote:       netip.AddrPortFrom(remote, uint16(443+i%7)),
		State:        st,
		TxQueue:      uint32(i % 3 * 1448),
		RxQueue:      uint32(i % 5),
		Timer:        uint8(i % 3),
		TimerExpires: uint64(i * 7),
		Retransmits:  uint32(i % 2),
		UID:          uint32(1000 + i%4),
		Timeout:      uint32(i % 2),
		Inode:        uint64(100000 + i),
	}
	switch st {
	case Listen:
		s.Remote = netip.AddrPortFrom(netip.IPv4Unspecified(), 0)
		if v6 {
			s.Remote = netip.AddrPortFrom(netip.IPv6Unspecified(), 0)
		}
	case TimeWait:
		s.Timer, s.UID, s.Timeout, s.Inode = 3, 0, 0, 0
	case NewSynRecv:
		s.Inode = 0
	}
	return s
}

// genTable returns a table of n generated rows with its header.
func genTable(n int, v6 bool, bo binary.ByteOrder) ([]byte, []Socket) {
	b := []byte(headerTCP)
	if v6 {
		b = []byte(headerTCP6)
	}
	sockets := make([]Socket, n)
	for i := range sockets {
		sockets[i] = genSocket(i, v6)
		b = appendRow(b, &sockets[i], bo)
	}
	return b, sockets
}

// result is everything a Reader tells about an input.
type result struct {
	Sockets   []Socket
	Lines     []int
	Malformed int
	Errors    []string
	Err       error
}

// readAll reads rd to the end with r.
func readAll(r *Reader) result {
	var res result
	for r.Next() {
		res.Sockets = append(res.Sockets, *r.Socket())
		res.Lines = append(res.Lines, r.Line())
	}
	res.Malformed = r.Malformed()
	res.Errors = parseErrors(r.MalformedErr())
	res.Err = r.Err()
	return res
}

// read parses data with a new Reader over wrap(data).
func read(data []byte, bo binary.ByteOrder, wrap func(io.Reader) io.Reader) result {
	var rd io.Reader = bytes.NewReader(data)
	if wrap != nil {
		rd = wrap(rd)
	}
	r := readers.Get().(*Reader)
	defer readers.Put(r)
	r.Reset(rd)
	r.ByteOrder = bo
	return readAll(r)
}

// readers saves the fuzz targets from allocating a buffer per read.
var readers = sync.Pool{New: func() any { return NewReader(nil) }}

// parseErrors returns the messages of the errors joined in err.
func parseErrors(err error) []string {
	if err == nil {
		return nil
	}
	var out []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		out = append(out, e.Error())
	}
	return out
}

// describe returns a one-line text form of s for golden files.
func describe(s *Socket) string {
	return fmt.Sprintf("sl=%d %s -> %s %s tx=%d rx=%d tr=%d when=%d retr=%d uid=%d timeout=%d inode=%d",
		s.Slot, s.Local, s.Remote, s.State, s.TxQueue, s.RxQueue, s.Timer, s.TimerExpires, s.Retransmits, s.UID, s.Timeout, s.Inode)
}

// golden returns the golden text for a result.
func (res result) golden() string {
	var sb strings.Builder
	for i := range res.Sockets {
		sb.WriteString("line " + strconv.Itoa(res.Lines[i]) + ": " + describe(&res.Sockets[i]) + "\n")
	}
	sb.WriteString("malformed: " + strconv.Itoa(res.Malformed) + "\n")
	for _, e := range res.Errors {
		sb.WriteString("error: " + e + "\n")
	}
	return sb.String()
}

// knownStates returns every state the package names, in code order.
func knownStates() []State {
	var states []State
	for s := Established; s <= BoundInactive; s++ {
		states = append(states, s)
	}
	return states
}
