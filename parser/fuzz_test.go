package parser

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/require"
)

// fuzzSeeds are real and broken rows and tables.
var fuzzSeeds = []string{
	"",
	"\n",
	headerTCP,
	headerTCP6,
	headerTCP + "   9: 8064A8C0:0929 0164A8C0:F4B5 01 00000000:00000000 02:00097B3E 00000000     0        0 21189 2 ffff88001a505b00 24 4 28 10 -1\n",
	headerTCP + "  46: 010310AC:9C4C 030310AC:1770 01 00000150:00000000 01:00000019 00000000  1000        0 54165785 4 cd1e6040 25 4 27 3 -1\n",
	headerTCP + "   3: 0100007F:820A 0100007F:A5FF 06 00000000:00000000 03:0000175C 00000000     0        0 0 3 00000000c0cc40a3\n",
	headerTCP6 + "   0: 00000000000000000000000001000000:B203 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 14810 2 0000000032ab0cd2 100 0 0 10 0\n",
	headerTCP6 + "   6: 0000000000000000FFFF00000100007F:B083 0000000000000000FFFF00000100007F:EB24 01 00000000:00000000 02:000005BD 00000000     0        0 14818 2 00000000b2c5b245 20 0 0 10 -1\n",
	"12345: 0100007F:0016 00000000:0000 0A 00000080:00000001 00:00000000 0000000A 65534        7 18446744073709551615\n",
	"   1: 8064A8CZ:0929 0164A8C0:F4B5 01 00000000:00000000 02:00097B3E 00000000     0        0 21189\n",
	"   2: 8064A8C0:0929 0164A8C0:F4B5 01 00000000:00000000 02:00097B3E 00000000     0\n",
	"   3: 8064A8C:0929 0164A8C0:F4B5 01 00000000:00000000 02:00097B3E 00000000     0        0 21189\n",
	"   6: 8064A8C0:0929 00000000000000000000000001000000:F4B5 01 00000000:00000000 02:00097B3E 00000000     0        0 21191\n",
	"   8: 8064A8C0:0929 0164A8C0:F4B5 100 00000000:00000000 02:00097B3E 00000000     0        0 21193\n",
	"  10: 8064A8C0:0929 0164A8C0:F4B5 01 00000000:00000000 02:00097B3E 00000000     0       -1 21195\n",
	"  11: 8064A8C0:0929 0164A8C0:F4B5 01 0000000000000000 02:FFFFFFFFFFFFFFFFF 00000000     0        0 21196\n",
	"  16: 0100007F:0016 0100007F:E3B1 01 00000000:00000000 02:00097B3E 00000000  1000        0 21201 2 0 20 4 30 10 -1",
	"hello world\n\n\t\t\n:::: : : :\n",
	"  sl\n  sl  local_address\n",
	"   0: " + strings.Repeat("0", MaxLineLength) + "\n   1: 0100007F:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 7\n",
}

func FuzzReader(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	for _, name := range []string{"tcp", "tcp6", "tcp_malformed", "tcp_states", "tcp6_addrs"} {
		if b, err := os.ReadFile(filepath.Join(fixtures, name)); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		res := read(data, binary.LittleEndian, nil)
		require.NoError(t, res.Err)

		// Every line is the header, a row or a malformed row.
		lines := bytes.Count(data, []byte("\n"))
		if len(data) > 0 && data[len(data)-1] != '\n' {
			lines++
		}
		header := 0
		if first, _, _ := bytes.Cut(data, []byte("\n")); len(data) > 0 && len(first) <= MaxLineLength && isHeader(first) {
			header = 1
		}
		require.Equal(t, lines, header+len(res.Sockets)+res.Malformed)
		require.Len(t, res.Errors, min(res.Malformed, maxErrors))

		// Rows come in order, at their line.
		rt := readers.Get().(*Reader)
		defer readers.Put(rt)
		rt.ByteOrder = binary.LittleEndian
		prev := 0
		for i, line := range res.Lines {
			require.Greater(t, line, prev)
			require.LessOrEqual(t, line, lines)
			prev = line
			// Every row yielded re-validates: printed as the kernel would
			// and read again, it gives the same socket.
			s := &res.Sockets[i]
			require.True(t, s.Local.IsValid() && s.Remote.IsValid())
			require.Equal(t, s.Local.Addr().Is4(), s.Remote.Addr().Is4())
			rt.Reset(bytes.NewReader(appendRow(nil, s, binary.LittleEndian)))
			require.True(t, rt.Next(), "%+v", rt.MalformedErr())
			require.Equal(t, *s, *rt.Socket())
		}

		// The fast path accepts only rows the slow path reads the same.
		for line := range bytes.SplitSeq(data, []byte("\n")) {
			var fast Socket
			if rt.parseFast(line, &fast) {
				require.True(t, rt.parseSlow(line), "%q", line)
				require.Equal(t, fast, rt.sock, "%q", line)
			}
		}

		// Reading one byte at a time gives the same result, as does big-endian
		// for all but the addresses.
		require.Equal(t, res, read(data, binary.LittleEndian, iotest.OneByteReader))
		be := read(data, binary.BigEndian, iotest.HalfReader)
		require.Len(t, be.Sockets, len(res.Sockets))
		require.Equal(t, res.Malformed, be.Malformed)
	})
}

func FuzzParseState(f *testing.F) {
	for _, s := range knownStates() {
		f.Add(s.String())
		f.Add(strings.ToLower(s.String()))
	}
	for _, s := range []string{"", "UNKNOWN_1F", " LISTEN", "LISTEN\x00", "ſyn_sent", "K", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		s, err := ParseState(name)
		if err != nil {
			require.ErrorIs(t, err, ErrUnknownState)
			require.ErrorContains(t, err, strconv.Quote(name))
			require.Zero(t, s)
			return
		}
		require.True(t, s.Known())
		require.True(t, strings.EqualFold(name, s.String()))
	})
}

func FuzzParseErrorMessage(f *testing.F) {
	f.Add(12, "local_address", "8064A8CZ:0929")
	f.Add(0, "", strings.Repeat("\xff", 100))
	f.Fuzz(func(t *testing.T, line int, field, token string) {
		pe := &ParseError{Line: line, Field: field, Token: token, Err: ErrHex}
		msg := pe.Error()
		require.True(t, strings.HasPrefix(msg, "line "+strconv.Itoa(line)+": "))
		require.LessOrEqual(t, len(msg), 64+len(strconv.Quote(field))+4*maxTokenShown+len("invalid hex")+30)
		require.ErrorIs(t, pe, ErrSyntax)
	})
}
