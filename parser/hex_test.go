package parser

import (
	"fmt"
	"testing"
)

func TestHex8Exhaustive(t *testing.T) {
	ref := func(b []byte) (uint32, bool) {
		v, err := parseHex(b, 32)
		return uint32(v), err == nil
	}
	// Every byte value in every position, with valid digits elsewhere.
	for pos := 0; pos < 8; pos++ {
		for c := 0; c < 256; c++ {
			b := []byte("0123abCD")
			b[pos] = byte(c)
			v, ok := hex8(b)
			rv, rok := ref(b)
			if ok != rok || (ok && v != rv) {
				t.Fatalf("%q: %x %v want %x %v", b, v, ok, rv, rok)
			}
		}
	}
	for _, s := range []string{"FFFFFFFF", "00000000", "ffffffff", "8064A8C0", "G0000000", "0000000g", "////////", "::::::::", "@@@@@@@@", "````````", "\\x10\\x10"} {
		b := []byte(fmt.Sprintf("%-8s", s))[:8]
		v, ok := hex8(b)
		rv, rok := ref(b)
		if ok != rok || (ok && v != rv) {
			t.Fatalf("%q: %x %v want %x %v", b, v, ok, rv, rok)
		}
	}
}
