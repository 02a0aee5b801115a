package parser

// hexValue maps a byte to its hex digit value, or 0xff.
var hexValue = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = byte(c - '0')
	}
	for c := 'a'; c <= 'f'; c++ {
		t[c] = byte(c - 'a' + 10)
		t[c-'a'+'A'] = byte(c - 'a' + 10)
	}
	return t
}()

// hexRun decodes the hex digits at line[i:] and returns the index after
// them. It returns false if there are none or they overflow bits bits.
func hexRun(line []byte, i int, bits uint) (uint64, int, bool) {
	limit := ^uint64(0) >> (64 - bits)
	start := i
	var v uint64
	for ; i < len(line); i++ {
		d := hexValue[line[i]]
		if d > 0xf {
			break
		}
		if v > limit>>4 {
			return 0, i, false
		}
		v = v<<4 | uint64(d)
	}
	return v, i, i > start
}

// decRun decodes the decimal digits at line[i:] and returns the index after
// them. It returns false if there are none or they overflow bits bits.
func decRun(line []byte, i int, bits uint) (uint64, int, bool) {
	limit := ^uint64(0) >> (64 - bits)
	start := i
	var v uint64
	for ; i < len(line); i++ {
		d := uint64(line[i] - '0')
		if d > 9 {
			break
		}
		// No division by a variable here: it is the hot loop.
		if v > ^uint64(0)/10 {
			return 0, i, false
		}
		n := v*10 + d
		if n < v*10 || n > limit {
			return 0, i, false
		}
		v = n
	}
	return v, i, i > start
}

// parseHex decodes the hex number b, which must fit in bits bits: all of b,
// where hexRun stops at the first byte that is no digit. A run that stopped
// at a digit overflowed.
func parseHex(b []byte, bits uint) (uint64, error) {
	v, end, ok := hexRun(b, 0, bits)
	switch {
	case ok && end == len(b):
		return v, nil
	case !ok && end < len(b) && hexValue[b[end]] <= 0xf:
		return 0, ErrRange
	}
	return 0, ErrHex
}

// parseDec decodes the decimal number b, which must fit in bits bits, as
// parseHex does.
func parseDec(b []byte, bits uint) (uint64, error) {
	v, end, ok := decRun(b, 0, bits)
	switch {
	case ok && end == len(b):
		return v, nil
	case !ok && end < len(b) && b[end]-'0' <= 9:
		return 0, ErrRange
	}
	return 0, ErrDecimal
}
