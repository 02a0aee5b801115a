package parser

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/proc_net")

const fixtures = "../testdata/proc_net"

func TestReaderRows(t *testing.T) {
	tests := []struct {
		name string
		row  string
		want Socket
	}{
		{
			name: "issue seed row",
			row:  "   9: 8064A8C0:0929 0164A8C0:F4B5 01 00000000:00000000 02:00097B3E 00000000     0        0 21189 2 ffff88001a505b00 24 4 28 10 -1\n",
			want: Socket{
				Slot:         9,
				Local:        netip.MustParseAddrPort("192.168.100.128:2345"),
				Remote:       netip.MustParseAddrPort("192.168.100.1:62645"),
				State:        Established,
				Timer:        2,
				TimerExpires: 0x97B3E,
				Inode:        21189,
			},
		},
		{
			name: "kernel doc row",
			row:  "  46: 010310AC:9C4C 030310AC:1770 01 00000150:00000000 01:00000019 00000000  1000        0 54165785 4 cd1e6040 25 4 27 3 -1\n",
			want: Socket{
				Slot:         46,
				Local:        netip.MustParseAddrPort("172.16.3.1:40012"),
				Remote:       netip.MustParseAddrPort("172.16.3.3:6000"),
				State:        Established,
				TxQueue:      0x150,
				Timer:        1,
				TimerExpires: 0x19,
				UID:          1000,
				Inode:        54165785,
			},
		},
		{
			name: "time wait without inode",
			row:  "   3: 0100007F:820A 0100007F:A5FF 06 00000000:00000000 03:0000175C 00000000     0        0 0 3 00000000c0cc40a3\n",
			want: Socket{
				Slot:         3,
				Local:        netip.MustParseAddrPort("127.0.0.1:33290"),
				Remote:       netip.MustParseAddrPort("127.0.0.1:42495"),
				State:        TimeWait,
				Timer:        3,
				TimerExpires: 0x175C,
			},
		},
		{
			name: "wide slot and only the needed fields",
			row:  "12345: 0100007F:0016 00000000:0000 0A 00000080:00000001 00:00000000 0000000A 65534        7 18446744073709551615\n",
			want: Socket{
				Slot:        12345,
				Local:       netip.MustParseAddrPort("127.0.0.1:22"),
				Remote:      netip.MustParseAddrPort("0.0.0.0:0"),
				State:       Listen,
				TxQueue:     0x80,
				RxQueue:     1,
				Retransmits: 10,
				UID:         65534,
				Timeout:     7,
				Inode:       1<<64 - 1,
			},
		},
		{
			name: "ipv6 loopback",
			row:  "   0: 00000000000000000000000001000000:B203 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 14810 2 0000000032ab0cd2 100 0 0 10 0\n",
			want: Socket{
				Local:  netip.MustParseAddrPort("[::1]:45571"),
				Remote: netip.MustParseAddrPort("[::]:0"),
				State:  Listen,
				Inode:  14810,
			},
		},
		{
			name: "ipv6 link-local",
			row:  "   3: 000080FE00000000FF00FC00010000FE:B015 000080FE00000000FF00FC00010000FE:8866 01 00000000:00000000 02:000005BD 00000000     0        0 14824 2 00000000bde3209f 20 0 0 10 -1\n",
			want: Socket{
				Slot:         3,
				Local:        netip.MustParseAddrPort("[fe80::fc:ff:fe00:1]:45077"),
				Remote:       netip.MustParseAddrPort("[fe80::fc:ff:fe00:1]:34918"),
				State:        Established,
				Timer:        2,
				TimerExpires: 0x5BD,
				Inode:        14824,
			},
		},
		{
			name: "ipv4-mapped ipv6 stays ipv6",
			row:  "   6: 0000000000000000FFFF00000100007F:B083 0000000000000000FFFF00000100007F:EB24 01 00000000:00000000 02:000005BD 00000000     0        0 14818 2 00000000b2c5b245 20 0 0 10 -1\n",
			want: Socket{
				Slot:         6,
				Local:        netip.MustParseAddrPort("[::ffff:127.0.0.1]:45187"),
				Remote:       netip.MustParseAddrPort("[::ffff:127.0.0.1]:60196"),
				State:        Established,
				Timer:        2,
				TimerExpires: 0x5BD,
				Inode:        14818,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, header := range []string{headerTCP, headerTCP6, ""} {
				res := read([]byte(header+tt.row), binary.LittleEndian, nil)
				require.NoError(t, res.Err)
				require.Empty(t, res.Errors)
				require.Equal(t, []Socket{tt.want}, res.Sockets)
				wantLine := 2
				if header == "" {
					wantLine = 1
				}
				require.Equal(t, []int{wantLine}, res.Lines)
			}
		})
	}
}

func TestReaderAddressFamilies(t *testing.T) {
	res := read(mustReadFile(t, "tcp6_addrs"), binary.LittleEndian, nil)
	require.NoError(t, res.Err)
	require.Zero(t, res.Malformed)
	require.Len(t, res.Sockets, 6)
	for _, s := range res.Sockets {
		require.True(t, s.Local.Addr().Is6(), "%s", s.Local)
		require.True(t, s.Remote.Addr().Is6(), "%s", s.Remote)
	}
	mapped := res.Sockets[2].Local.Addr()
	require.True(t, mapped.Is4In6())
	require.Equal(t, "::ffff:127.0.0.1", mapped.String())
	require.Equal(t, netip.MustParseAddr("fe80::1"), res.Sockets[1].Local.Addr())
	require.True(t, res.Sockets[1].Local.Addr().IsLinkLocalUnicast())
	require.Equal(t, netip.IPv6Loopback(), res.Sockets[0].Local.Addr())

	res = read(mustReadFile(t, "tcp_kernel_doc"), binary.LittleEndian, nil)
	require.Len(t, res.Sockets, 2)
	for _, s := range res.Sockets {
		require.True(t, s.Local.Addr().Is4())
		require.True(t, s.Remote.Addr().Is4())
	}
}

func TestReaderStates(t *testing.T) {
	res := read(mustReadFile(t, "tcp_states"), binary.LittleEndian, nil)
	require.NoError(t, res.Err)
	require.Zero(t, res.Malformed)
	var got []State
	for _, s := range res.Sockets {
		got = append(got, s.State)
	}
	require.Equal(t, append(knownStates(), State(0x1F)), got)
	require.Equal(t, "UNKNOWN_1F", res.Sockets[len(res.Sockets)-1].State.String())
}

func TestReaderGolden(t *testing.T) {
	entries, err := os.ReadDir(fixtures)
	require.NoError(t, err)
	n := 0
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || filepath.Ext(name) == ".golden" {
			continue
		}
		n++
		t.Run(name, func(t *testing.T) {
			got := read(mustReadFile(t, name), binary.LittleEndian, nil)
			require.NoError(t, got.Err)
			path := filepath.Join(fixtures, name+".golden")
			if *update {
				require.NoError(t, os.WriteFile(path, []byte(got.golden()), 0o644))
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err)
			require.Equal(t, string(want), got.golden())
		})
	}
	require.GreaterOrEqual(t, n, 8)
}

func TestReaderMalformed(t *testing.T) {
	type fault struct {
		line  int
		field string
		err   error
	}
	want := []fault{
		{3, "local_address", ErrHex},
		{4, "timeout", ErrMissingField},
		{5, "local_address", ErrAddressLength},
		{6, "sl", ErrSyntax},
		{8, "rem_address", ErrFamily},
		{9, "local_address", ErrPortLength},
		{10, "st", ErrRange},
		{11, "uid", ErrDecimal},
		{12, "timeout", ErrDecimal},
		{13, "tx_queue", ErrSyntax},
		{14, "sl", ErrMissingField},
		{15, "", ErrLineTooLong},
		{17, "sl", ErrSyntax},
		{18, "", ErrNoNewline},
	}

	// Record every fault, not only the first 8 the Reader keeps, by reading
	// one line at a time.
	data := mustReadFile(t, "tcp_malformed")
	lines := bytes.SplitAfter(data, []byte("\n"))
	var got []fault
	for i, line := range lines {
		r := NewReader(bytes.NewReader(line))
		r.line = i // the line before this one
		for r.Next() {
		}
		require.NoError(t, r.Err())
		if r.Malformed() == 0 {
			continue
		}
		require.Equal(t, 1, r.Malformed())
		var pe *ParseError
		require.ErrorAs(t, r.MalformedErr(), &pe)
		got = append(got, fault{pe.Line, pe.Field, pe.Err})
	}
	require.Equal(t, want, got)

	// The whole file in one Reader.
	r := NewReader(bytes.NewReader(data))
	var rowLines []int
	for r.Next() {
		rowLines = append(rowLines, r.Line())
	}
	require.NoError(t, r.Err())
	require.Equal(t, []int{2, 7, 16}, rowLines)
	require.Equal(t, len(want), r.Malformed())
	err := r.MalformedErr()
	require.Len(t, parseErrors(err), maxErrors)
	require.ErrorIs(t, err, ErrHex)
	require.ErrorIs(t, err, ErrSyntax)
	require.NotErrorIs(t, err, ErrLineTooLong, "only the first 8 are kept")
	require.Equal(t, `line 3: field "local_address": invalid hex "8064A8CZ:0929"`, parseErrors(err)[0])
	var pe *ParseError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, 7, pe.Column)
	require.Equal(t, 18, r.Line())
}

func TestParseErrorMessage(t *testing.T) {
	tests := []struct {
		name string
		err  *ParseError
		want string
	}{
		{
			name: "field",
			err:  &ParseError{Line: 12, Column: 7, Field: "local_address", Token: "8064A8CZ:0929", Err: ErrHex},
			want: `line 12: field "local_address": invalid hex "8064A8CZ:0929"`,
		},
		{
			name: "line",
			err:  &ParseError{Line: 3, Column: 1, Token: "  16: 0100", Err: ErrNoNewline},
			want: `line 3: missing newline at end of file "  16: 0100"`,
		},
		{
			name: "long token is cut",
			err:  &ParseError{Line: 1, Token: strings.Repeat("x", 300), Err: ErrLineTooLong},
			want: `line 1: line too long "` + strings.Repeat("x", 64) + `"...`,
		},
		{
			name: "control bytes are quoted",
			err:  &ParseError{Line: 2, Field: "sl", Token: "\x00\xff:", Err: ErrDecimal},
			want: `line 2: field "sl": invalid decimal "\x00\xff:"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, tt.err.Error())
			require.ErrorIs(t, tt.err, tt.err.Err)
		})
	}
}

func TestReaderTokenKeptIsBounded(t *testing.T) {
	line := "   0: " + strings.Repeat("A", 900) + ":0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1\n"
	r := NewReader(strings.NewReader(line))
	require.False(t, r.Next())
	var pe *ParseError
	require.ErrorAs(t, r.MalformedErr(), &pe)
	require.ErrorIs(t, pe, ErrAddressLength)
	require.Len(t, pe.Token, maxTokenKept)
}

func TestReaderWideTable(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		data, want := genTable(12000, v6, binary.LittleEndian)
		res := read(data, binary.LittleEndian, nil)
		require.NoError(t, res.Err)
		require.Zero(t, res.Malformed)
		require.Equal(t, want, res.Sockets)
		require.Equal(t, uint64(11999), res.Sockets[11999].Slot)
		require.Contains(t, string(data), "\n10000: ")
	}
}

// pdpEndian is neither little nor big endian: 16-bit halves are swapped.
type pdpEndian struct{}

func (pdpEndian) Uint16(b []byte) uint16 { return binary.LittleEndian.Uint16(b) }
func (pdpEndian) PutUint16(b []byte, v uint16) {
	binary.LittleEndian.PutUint16(b, v)
}
func (pdpEndian) Uint32(b []byte) uint32 {
	return uint32(binary.LittleEndian.Uint16(b))<<16 | uint32(binary.LittleEndian.Uint16(b[2:]))
}
func (pdpEndian) PutUint32(b []byte, v uint32) {
	binary.LittleEndian.PutUint16(b, uint16(v>>16))
	binary.LittleEndian.PutUint16(b[2:], uint16(v))
}
func (pdpEndian) Uint64([]byte) uint64     { panic("unused") }
func (pdpEndian) PutUint64([]byte, uint64) { panic("unused") }
func (pdpEndian) String() string           { return "pdpEndian" }

func TestReaderByteOrder(t *testing.T) {
	orders := []binary.ByteOrder{binary.LittleEndian, binary.BigEndian, pdpEndian{}, nil}
	for _, bo := range orders {
		for _, v6 := range []bool{false, true} {
			enc := bo
			if enc == nil {
				enc = binary.NativeEndian
			}
			data, want := genTable(100, v6, enc)
			res := read(data, bo, nil)
			require.NoError(t, res.Err)
			require.Zero(t, res.Malformed)
			require.Equal(t, want, res.Sockets, "%v v6=%v", bo, v6)
		}
	}

	// A big-endian host prints 192.168.100.128 as C0A86480.
	row := "   0: C0A86480:0929 C0A86401:F4B5 01 00000000:00000000 00:00000000 00000000 0 0 1\n"
	r := NewReader(strings.NewReader(row))
	r.ByteOrder = binary.BigEndian
	require.True(t, r.Next())
	require.Equal(t, "192.168.100.128:2345", r.Socket().Local.String())
	require.Equal(t, "192.168.100.1:62645", r.Socket().Remote.String())

	// The same row read as little-endian is byte-swapped, port included not.
	res := read([]byte(row), binary.LittleEndian, nil)
	require.Equal(t, "128.100.168.192:2345", res.Sockets[0].Local.String())
}

func TestReaderChunkedReads(t *testing.T) {
	big, _ := genTable(3000, true, binary.LittleEndian) // larger than the buffer
	inputs := map[string][]byte{"generated": big}
	entries, err := os.ReadDir(fixtures)
	require.NoError(t, err)
	for _, e := range entries {
		if filepath.Ext(e.Name()) != ".golden" {
			inputs[e.Name()] = mustReadFile(t, e.Name())
		}
	}
	wraps := map[string]func(io.Reader) io.Reader{
		"OneByteReader": iotest.OneByteReader,
		"HalfReader":    iotest.HalfReader,
		"DataErrReader": iotest.DataErrReader,
	}
	for name, data := range inputs {
		want := read(data, binary.LittleEndian, nil)
		require.NoError(t, want.Err)
		for wname, wrap := range wraps {
			got := read(data, binary.LittleEndian, wrap)
			require.Equal(t, want, got, "%s with %s", name, wname)
		}
	}
	require.Greater(t, len(big), bufferSize)
}

// errAfter returns the first n bytes of data, then err.
func errAfter(data []byte, n int, err error) io.Reader {
	return io.MultiReader(bytes.NewReader(data[:n]), iotest.ErrReader(err))
}

func TestReaderIOError(t *testing.T) {
	data, want := genTable(5000, false, binary.LittleEndian)
	boom := errors.New("boom")

	// The error cuts a row: the rows before it are read, the cut one is
	// dropped without being reported as malformed.
	cut := bytes.Index(data, []byte("\n1000: ")) + 20
	r := NewReader(errAfter(data, cut, boom))
	n := 0
	for r.Next() {
		require.Equal(t, want[n], *r.Socket())
		n++
	}
	require.ErrorIs(t, r.Err(), boom)
	require.Equal(t, 1000, n)
	require.Zero(t, r.Malformed())
	require.False(t, r.Next(), "Next stays false")

	// An error at once.
	r = NewReader(iotest.ErrReader(boom))
	require.False(t, r.Next())
	require.ErrorIs(t, r.Err(), boom)

	// An error with the last bytes: those rows are still read.
	r = NewReader(iotest.TimeoutReader(bytes.NewReader(data)))
	n = 0
	for r.Next() {
		n++
	}
	require.ErrorIs(t, r.Err(), iotest.ErrTimeout)
	require.Less(t, n, len(want))
}

// stuckReader returns no data and no error.
type stuckReader struct{}

func (stuckReader) Read([]byte) (int, error) { return 0, nil }

// liarReader returns more bytes than it was given room for.
type liarReader struct{}

func (liarReader) Read(p []byte) (int, error) { return len(p) + 1, nil }

func TestReaderBadReaders(t *testing.T) {
	r := NewReader(stuckReader{})
	require.False(t, r.Next())
	require.ErrorIs(t, r.Err(), io.ErrNoProgress)

	r = NewReader(liarReader{})
	require.False(t, r.Next())
	require.ErrorIs(t, r.Err(), ErrBadReadCount)

	r = NewReader(nil)
	require.False(t, r.Next())
	require.NoError(t, r.Err())
}

func TestReaderEmpty(t *testing.T) {
	for _, input := range []string{"", headerTCP, headerTCP6, strings.TrimSuffix(headerTCP6, "\n")} {
		r := NewReader(strings.NewReader(input))
		require.False(t, r.Next())
		require.NoError(t, r.Err())
		require.NoError(t, r.MalformedErr())
		require.Zero(t, r.Malformed())
	}
}

func TestReaderLongLines(t *testing.T) {
	row := "   0: 0100007F:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 7\n"
	long := "   1: " + strings.Repeat("0", 3*bufferSize) + "\n"
	tests := []struct {
		name  string
		input string
		rows  int
	}{
		{"longer than the buffer", headerTCP + long + row, 1},
		{"just too long", headerTCP + strings.Repeat(" ", MaxLineLength-len(row)+2) + row + row, 1},
		{"long and unterminated", headerTCP + row + long[:len(long)-1], 1},
		{"long header", strings.Repeat(" ", MaxLineLength) + headerTCP + row, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, wrap := range []func(io.Reader) io.Reader{nil, iotest.HalfReader} {
				var rd io.Reader = strings.NewReader(tt.input)
				if wrap != nil {
					rd = wrap(rd)
				}
				r := NewReader(rd)
				rows := 0
				for r.Next() {
					require.Equal(t, uint64(7), r.Socket().Inode)
					rows++
				}
				require.NoError(t, r.Err())
				require.Equal(t, tt.rows, rows)
				require.Equal(t, 1, r.Malformed())
				require.ErrorIs(t, r.MalformedErr(), ErrLineTooLong)
				require.Len(t, r.buf, bufferSize, "the buffer did not grow")
				require.Equal(t, strings.Count(tt.input, "\n")+1-boolInt(strings.HasSuffix(tt.input, "\n")), r.Line())
			}
		})
	}

	// A row of exactly MaxLineLength bytes is accepted.
	exact := strings.Repeat(" ", MaxLineLength-len(row)+1) + row
	require.Len(t, exact, MaxLineLength+1)
	res := read([]byte(exact), nil, nil)
	require.Len(t, res.Sockets, 1)
	require.Zero(t, res.Malformed)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestReaderMalformedErrBounded(t *testing.T) {
	var sb strings.Builder
	sb.WriteString(headerTCP)
	for range 10000 {
		sb.WriteString("garbage garbage garbage\n")
	}
	r := NewReader(strings.NewReader(sb.String()))
	require.False(t, r.Next())
	require.Equal(t, 10000, r.Malformed())
	require.Len(t, parseErrors(r.MalformedErr()), maxErrors)
	require.LessOrEqual(t, cap(r.errs), maxErrors)
}

func TestReaderReset(t *testing.T) {
	tcp := mustReadFile(t, "tcp_malformed")
	tcp6 := mustReadFile(t, "tcp6_addrs")
	want4 := read(tcp, binary.LittleEndian, nil)
	want6 := read(tcp6, binary.LittleEndian, nil)

	r := NewReader(nil)
	r.ByteOrder = binary.LittleEndian
	buf := &r.buf[0]
	for range 3 {
		r.Reset(bytes.NewReader(tcp))
		require.Equal(t, want4, readAll(r))
		r.Reset(bytes.NewReader(tcp6))
		require.Equal(t, want6, readAll(r))
		require.Same(t, buf, &r.buf[0], "the buffer is reused")
		require.Equal(t, binary.LittleEndian, r.ByteOrder)
	}

	// Reset in the middle of a table.
	r.Reset(bytes.NewReader(tcp))
	require.True(t, r.Next())
	r.Reset(bytes.NewReader(tcp6))
	require.Equal(t, want6, readAll(r))

	// The zero Reader works after Reset.
	var z Reader
	z.Reset(bytes.NewReader(tcp6))
	require.Equal(t, want6, readAll(&z))
}

func TestReaderAllocs(t *testing.T) {
	data, _ := genTable(2000, true, binary.NativeEndian)
	br := bytes.NewReader(data)
	r := NewReader(br)
	allocs := testing.AllocsPerRun(10, func() {
		br.Reset(data)
		r.Reset(br)
		for r.Next() {
		}
	})
	require.Zero(t, allocs)
}

// The host's own tables parse with no malformed row.
func TestProcTables(t *testing.T) {
	for _, name := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		f, err := os.Open(name)
		if errors.Is(err, os.ErrNotExist) {
			t.Skipf("%s: %v", name, err)
		}
		require.NoError(t, err)
		r := NewReader(f)
		for r.Next() {
		}
		require.NoError(t, r.Err())
		require.NoError(t, r.MalformedErr())
		require.NoError(t, f.Close())
	}
}

func mustReadFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtures, name))
	require.NoError(t, err)
	return b
}
