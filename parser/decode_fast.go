package parser

import (
	"encoding/binary"
	"net/netip"
)

// parse decodes line into r.sock, or records why it cannot and returns
// false. Fields after the inode are ignored.
//
// A fast path reads the layout the kernel prints, in one pass over the
// line. Anything else goes to parseSlow, which accepts more (tabs, numbers
// of other widths) and names the fault of a malformed row.
func (r *Reader) parse(line []byte) bool {
	return r.parseFast(line, &r.sock) || r.parseSlow(line)
}

// parseFast decodes a row printed exactly as the kernel prints it into s.
// It returns false, leaving s partly written, for anything else.
func (r *Reader) parseFast(line []byte, s *Socket) bool {
	// sl: "%4d:"
	i := skipSpaces(line, 0)
	v, i, ok := decRun(line, i, 64)
	if !ok || i >= len(line) || line[i] != ':' {
		return false
	}
	s.Slot = v

	// local_address, rem_address
	if i, ok = nextField(line, i+1); !ok {
		return false
	}
	if s.Local, i, ok = r.addrPortFast(line, i); !ok {
		return false
	}
	if i, ok = nextField(line, i); !ok {
		return false
	}
	if s.Remote, i, ok = r.addrPortFast(line, i); !ok {
		return false
	}
	if s.Local.Addr().Is4() != s.Remote.Addr().Is4() {
		return false
	}

	// st: "%02X"
	if i, ok = nextField(line, i); !ok || i+2 > len(line) {
		return false
	}
	st, ok := hex2(line[i:])
	if !ok {
		return false
	}
	s.State = State(st)

	// tx_queue:rx_queue: "%08X:%08X"
	if i, ok = nextField(line, i+2); !ok || i+17 > len(line) || line[i+8] != ':' {
		return false
	}
	tx, ok1 := hex8(line[i:])
	rx, ok2 := hex8(line[i+9:])
	if !ok1 || !ok2 {
		return false
	}
	s.TxQueue, s.RxQueue = tx, rx

	// tr:tm->when: "%02X:%08lX"
	if i, ok = nextField(line, i+17); !ok || i+3 > len(line) || line[i+2] != ':' {
		return false
	}
	if s.Timer, ok = hex2(line[i:]); !ok {
		return false
	}
	if s.TimerExpires, i, ok = hexRun(line, i+3, 64); !ok {
		return false
	}

	// retrnsmt: "%08X"
	if i, ok = nextField(line, i); !ok || i+8 > len(line) {
		return false
	}
	if s.Retransmits, ok = hex8(line[i:]); !ok {
		return false
	}

	// uid, timeout, inode: "%5u %8d %lu"
	if i, ok = nextField(line, i+8); !ok {
		return false
	}
	if v, i, ok = decRun(line, i, 32); !ok {
		return false
	}
	s.UID = uint32(v)
	if i, ok = nextField(line, i); !ok {
		return false
	}
	if v, i, ok = decRun(line, i, 32); !ok {
		return false
	}
	s.Timeout = uint32(v)
	if i, ok = nextField(line, i); !ok {
		return false
	}
	if s.Inode, i, ok = decRun(line, i, 64); !ok {
		return false
	}
	return i == len(line) || line[i] == ' '
}

// addrPortFast decodes "%08X:%04X" or "%08X%08X%08X%08X:%04X" at line[i:]
// and returns the index after it.
func (r *Reader) addrPortFast(line []byte, i int) (netip.AddrPort, int, bool) {
	n := 8
	if i+8 >= len(line) || line[i+8] != ':' {
		n = 32
		if i+32 >= len(line) || line[i+32] != ':' {
			return netip.AddrPort{}, i, false
		}
	}
	if i+n+5 > len(line) {
		return netip.AddrPort{}, i, false
	}
	port, ok := hex4(line[i+n+1:])
	if !ok {
		return netip.AddrPort{}, i, false
	}
	var a [16]byte
	for w := 0; w < n; w += 8 {
		v, ok := hex8(line[i+w:])
		if !ok {
			return netip.AddrPort{}, i, false
		}
		r.putWord(a[w/2:w/2+4], v)
	}
	var addr netip.Addr
	if n == 8 {
		addr = netip.AddrFrom4([4]byte(a[:4]))
	} else {
		addr = netip.AddrFrom16(a)
	}
	return netip.AddrPortFrom(addr, port), i + n + 5, true
}

// skipSpaces returns the index of the first byte at or after i that is not
// a space.
func skipSpaces(line []byte, i int) int {
	for i < len(line) && line[i] == ' ' {
		i++
	}
	return i
}

// nextField expects line[i] to end a field with a space, and returns the
// start of the next field, or false if there is none.
func nextField(line []byte, i int) (int, bool) {
	if i >= len(line) || line[i] != ' ' {
		return i, false
	}
	i = skipSpaces(line, i+1)
	return i, i < len(line)
}

// hex2, hex4 and hex8 decode 2, 4 and 8 hex digits at the start of b, which
// must hold that many bytes.
func hex2(b []byte) (uint8, bool) {
	d0, d1 := hexValue[b[0]], hexValue[b[1]]
	return d0<<4 | d1, d0|d1 <= 0xf
}

func hex4(b []byte) (uint16, bool) {
	b = b[:4]
	d0, d1, d2, d3 := hexValue[b[0]], hexValue[b[1]], hexValue[b[2]], hexValue[b[3]]
	return uint16(d0)<<12 | uint16(d1)<<8 | uint16(d2)<<4 | uint16(d3), d0|d1|d2|d3 <= 0xf
}

func hex8(b []byte) (uint32, bool) {
	// Eight digits at once (SWAR): check that each byte is 0-9, A-F or
	// a-f, take its nibble, and pack the nibbles.
	const (
		ones = 0x0101010101010101
		high = 0x8080808080808080
	)
	x := binary.BigEndian.Uint64(b)
	lower := x | 0x20*ones
	// A byte below 0x80 is in [lo, hi] when byte+(0x80-lo) has its high bit
	// set and byte+(0x7f-hi) has not; no addition carries into the next byte.
	digit := (x + (0x80-'0')*ones) &^ (x + (0x7f-'9')*ones)
	alpha := (lower + (0x80-'a')*ones) &^ (lower + (0x7f-'f')*ones)
	if x&high != 0 || (digit|alpha)&high != high {
		return 0, false
	}
	n := x&(0x0f*ones) + (x>>6)&ones*9
	n = (n | n>>4) & 0x00ff00ff00ff00ff
	n = (n | n>>8) & 0x0000ffff0000ffff
	n = (n | n>>16) & 0x00000000ffffffff
	return uint32(n), true
}
