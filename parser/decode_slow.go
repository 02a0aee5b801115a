package parser

import (
	"bytes"
	"net/netip"
)

// Column names, as in the kernel's header.
const (
	fieldSl          = "sl"
	fieldLocal       = "local_address"
	fieldRemote      = "rem_address"
	fieldState       = "st"
	fieldTxQueue     = "tx_queue"
	fieldRxQueue     = "rx_queue"
	fieldTimer       = "tr"
	fieldWhen        = "tm->when"
	fieldRetransmits = "retrnsmt"
	fieldUID         = "uid"
	fieldTimeout     = "timeout"
	fieldInode       = "inode"
)

// parseSlow decodes line into r.sock field by field, or records the first
// fault and returns false.
func (r *Reader) parseSlow(line []byte) bool {
	var s Socket
	var err error

	// sl: "%4d:"
	i, j := token(line, 0)
	if i == j {
		return r.fail(len(line)+1, fieldSl, line, ErrMissingField)
	}
	tok := line[i:j]
	if tok[len(tok)-1] != ':' {
		return r.fail(i+1, fieldSl, tok, ErrSyntax)
	}
	if s.Slot, err = parseDec(tok[:len(tok)-1], 64); err != nil {
		return r.fail(i+1, fieldSl, tok, err)
	}

	// local_address, rem_address: "%08X:%04X" or "%08X%08X%08X%08X:%04X"
	if i, j = token(line, j); i == j {
		return r.fail(len(line)+1, fieldLocal, line, ErrMissingField)
	}
	if s.Local, err = r.parseAddrPort(line[i:j]); err != nil {
		return r.fail(i+1, fieldLocal, line[i:j], err)
	}
	if i, j = token(line, j); i == j {
		return r.fail(len(line)+1, fieldRemote, line, ErrMissingField)
	}
	if s.Remote, err = r.parseAddrPort(line[i:j]); err != nil {
		return r.fail(i+1, fieldRemote, line[i:j], err)
	}
	if s.Local.Addr().Is4() != s.Remote.Addr().Is4() {
		return r.fail(i+1, fieldRemote, line[i:j], ErrFamily)
	}

	// st: "%02X"
	if i, j = token(line, j); i == j {
		return r.fail(len(line)+1, fieldState, line, ErrMissingField)
	}
	v, err := parseHex(line[i:j], 8)
	if err != nil {
		return r.fail(i+1, fieldState, line[i:j], err)
	}
	s.State = State(v)

	// tx_queue:rx_queue: "%08X:%08X"
	if i, j = token(line, j); i == j {
		return r.fail(len(line)+1, fieldTxQueue, line, ErrMissingField)
	}
	tok = line[i:j]
	c := bytes.IndexByte(tok, ':')
	if c < 0 {
		return r.fail(i+1, fieldTxQueue, tok, ErrSyntax)
	}
	if v, err = parseHex(tok[:c], 32); err != nil {
		return r.fail(i+1, fieldTxQueue, tok, err)
	}
	s.TxQueue = uint32(v)
	if v, err = parseHex(tok[c+1:], 32); err != nil {
		return r.fail(i+1, fieldRxQueue, tok, err)
	}
	s.RxQueue = uint32(v)

	// tr:tm->when: "%02X:%08lX"
	if i, j = token(line, j); i == j {
		return r.fail(len(line)+1, fieldTimer, line, ErrMissingField)
	}
	tok = line[i:j]
	if c = bytes.IndexByte(tok, ':'); c < 0 {
		return r.fail(i+1, fieldTimer, tok, ErrSyntax)
	}
	if v, err = parseHex(tok[:c], 8); err != nil {
		return r.fail(i+1, fieldTimer, tok, err)
	}
	s.Timer = uint8(v)
	if s.TimerExpires, err = parseHex(tok[c+1:], 64); err != nil {
		return r.fail(i+1, fieldWhen, tok, err)
	}

	// retrnsmt: "%08X"
	if i, j = token(line, j); i == j {
		return r.fail(len(line)+1, fieldRetransmits, line, ErrMissingField)
	}
	if v, err = parseHex(line[i:j], 32); err != nil {
		return r.fail(i+1, fieldRetransmits, line[i:j], err)
	}
	s.Retransmits = uint32(v)

	// uid: "%5u"
	if i, j = token(line, j); i == j {
		return r.fail(len(line)+1, fieldUID, line, ErrMissingField)
	}
	if v, err = parseDec(line[i:j], 32); err != nil {
		return r.fail(i+1, fieldUID, line[i:j], err)
	}
	s.UID = uint32(v)

	// timeout: "%8d"
	if i, j = token(line, j); i == j {
		return r.fail(len(line)+1, fieldTimeout, line, ErrMissingField)
	}
	if v, err = parseDec(line[i:j], 32); err != nil {
		return r.fail(i+1, fieldTimeout, line[i:j], err)
	}
	s.Timeout = uint32(v)

	// inode: "%lu"
	if i, j = token(line, j); i == j {
		return r.fail(len(line)+1, fieldInode, line, ErrMissingField)
	}
	if s.Inode, err = parseDec(line[i:j], 64); err != nil {
		return r.fail(i+1, fieldInode, line[i:j], err)
	}

	r.sock = s
	return true
}

// parseAddrPort decodes "<address>:<port>", where the address is 8 or 32 hex
// digits in 32-bit words of r's byte order and the port 4 hex digits.
func (r *Reader) parseAddrPort(tok []byte) (netip.AddrPort, error) {
	c := bytes.IndexByte(tok, ':')
	if c < 0 {
		return netip.AddrPort{}, ErrSyntax
	}
	hexAddr, hexPort := tok[:c], tok[c+1:]
	if len(hexAddr) != 8 && len(hexAddr) != 32 {
		return netip.AddrPort{}, ErrAddressLength
	}
	if len(hexPort) != 4 {
		return netip.AddrPort{}, ErrPortLength
	}
	port, err := parseHex(hexPort, 16)
	if err != nil {
		return netip.AddrPort{}, err
	}
	var a [16]byte
	for w := 0; w < len(hexAddr)/8; w++ {
		v, err := parseHex(hexAddr[w*8:w*8+8], 32)
		if err != nil {
			return netip.AddrPort{}, err
		}
		r.putWord(a[w*4:w*4+4], uint32(v))
	}
	var addr netip.Addr
	if len(hexAddr) == 8 {
		addr = netip.AddrFrom4([4]byte(a[:4]))
	} else {
		addr = netip.AddrFrom16(a)
	}
	return netip.AddrPortFrom(addr, uint16(port)), nil
}
