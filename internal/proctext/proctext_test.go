package proctext

import (
	"math"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

func TestParseUint(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"0", 0, true}, {"42", 42, true}, {"007", 7, true},
		{"18446744073709551615", math.MaxUint64, true}, {"18446744073709551616", 0, false},
		{"", 0, false}, {"-1", 0, false}, {"+1", 0, false}, {"1 ", 0, false}, {"0x1", 0, false},
	} {
		v, ok := ParseUint([]byte(tt.in))
		require.Equal(t, tt.ok, ok, "%q", tt.in)
		if ok {
			require.Equal(t, tt.want, v, "%q", tt.in)
		}
	}
}

func TestParseCanonical(t *testing.T) {
	for _, tt := range []struct {
		in string
		ok bool
	}{
		{"0", true}, {"1", true}, {"2147483647", true}, {"2147483648", false},
		{"01", false}, {"00", false}, {"", false}, {"-1", false},
	} {
		v, ok := ParsePID([]byte(tt.in))
		require.Equal(t, tt.ok, ok, "%q", tt.in)
		if ok {
			require.Equal(t, tt.in, strconv.Itoa(int(v)))
		}
	}
	_, ok := ParseCanonical([]byte("11"), 10)
	require.False(t, ok, "over the limit")
}

func TestStatFields(t *testing.T) {
	// The name may hold spaces and parentheses.
	stat := "42 (a) b (c) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 12345 1000 10"
	f, ok := StatFields([]byte(stat))
	require.True(t, ok)
	require.Equal(t, "S", string(f[0]))
	require.Equal(t, "4194560", string(f[6]))
	require.Equal(t, "12345", string(f[19]))
	_, ok = StatFields([]byte("42 (a"))
	require.False(t, ok)
	f = Fields([]byte(" a\tb  c\n"), 4)
	require.Equal(t, []string{"a", "b", "c", ""}, []string{string(f[0]), string(f[1]), string(f[2]), string(f[3])})
}

func TestCleanText(t *testing.T) {
	for _, tt := range []struct {
		in    string
		limit int
		want  string
	}{
		{"nginx", 64, "nginx"},
		{"a\xffb", 64, "a\uFFFDb"},
		{"a\xff\xfeb", 64, "a\uFFFDb"}, // a run of invalid bytes, one replacement
		{"héllo", 2, "h"},              // not within a rune
		{"héllo", 3, "hé"},
		{strings.Repeat("x", 100), 64, strings.Repeat("x", 64)},
	} {
		got := CleanText([]byte(tt.in), tt.limit)
		require.Equal(t, tt.want, got, "%q", tt.in)
		require.True(t, utf8.ValidString(got))
	}
}
