package resolver

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

func TestSocketLink(t *testing.T) {
	tests := []struct {
		in    string
		inode uint64
		ok    bool
	}{
		{"socket:[0]", 0, true},
		{"socket:[1]", 1, true},
		{"socket:[123456]", 123456, true},
		{"socket:[18446744073709551615]", 18446744073709551615, true},
		{"socket:[18446744073709551616]", 0, false},
		{"socket:[99999999999999999999]", 0, false},
		{"socket:[184467440737095516150]", 0, false},
		{"socket:[", 0, false},
		{"socket:[]", 0, false},
		{"socket:[abc]", 0, false},
		{"socket:[-1]", 0, false},
		{"socket:[+1]", 0, false},
		{"socket:[ 1]", 0, false},
		{"socket:[1 ]", 0, false},
		{"socket:[1]\n", 0, false},
		{"socket:[01]", 0, false},
		{"socket:[00]", 0, false},
		{"socket:[1]]", 0, false},
		{"socket:[[1]", 0, false},
		{"socket:1", 0, false},
		{"Socket:[1]", 0, false},
		{"pipe:[1]", 0, false},
		{"anon_inode:[eventpoll]", 0, false},
		{"/dev/null", 0, false},
		{"", 0, false},
		{"socket:[" + strings.Repeat("1", 1000) + "]", 0, false},
		{"socket:[1]" + strings.Repeat("x", 100), 0, false},
	}
	for _, tt := range tests {
		t.Run(strconv.Quote(tt.in), func(t *testing.T) {
			inode, ok := parseSocketLink([]byte(tt.in))
			require.Equal(t, tt.ok, ok)
			require.Equal(t, tt.inode, inode)
		})
	}
	require.Zero(t, testing.AllocsPerRun(100, func() { parseSocketLink([]byte("socket:[123456]")) }))
}

func FuzzSocketLink(f *testing.F) {
	for _, s := range []string{
		"socket:[0]", "socket:[1]", "socket:[123456]", "socket:[18446744073709551615]",
		"socket:[18446744073709551616]", "socket:[", "socket:[abc]", "socket:[-1]", "socket:[01]",
		"socket:[ 1]", "pipe:[1]", "", "socket:[1]x", "socket:[" + strings.Repeat("9", 40) + "]",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		inode, ok := parseSocketLink(b)
		// The reference: strconv on the canonical form.
		s := string(b)
		digits, found := strings.CutPrefix(s, "socket:[")
		digits, found2 := strings.CutSuffix(digits, "]")
		v, err := strconv.ParseUint(digits, 10, 64)
		want := found && found2 && err == nil && strconv.FormatUint(v, 10) == digits
		if ok != want {
			t.Fatalf("parseSocketLink(%q) ok = %v, want %v", b, ok, want)
		}
		if ok && (inode != v || "socket:["+strconv.FormatUint(inode, 10)+"]" != s) {
			t.Fatalf("parseSocketLink(%q) = %d", b, inode)
		}
		if !ok && inode != 0 {
			t.Fatalf("parseSocketLink(%q) = %d, not ok", b, inode)
		}
	})
}

func TestStatusUID(t *testing.T) {
	tests := []struct {
		name string
		in   string
		uid  uint32
		ok   bool
	}{
		{"real", "Name:\tbash\nUmask:\t0022\nState:\tS (sleeping)\nUid:\t1000\t1001\t1002\t1003\nGid:\t0\t0\t0\t0\n", 1001, true},
		{"first line", "Uid:\t0\t42\t0\t0", 42, true},
		{"spaces", "Uid:   7   8   9   10\n", 8, true},
		{"max", "Uid:\t0\t4294967295\t0\t0\n", 4294967295, true},
		{"overflow", "Uid:\t0\t4294967296\t0\t0\n", 0, false},
		{"one column", "Uid:\t5\n", 0, false},
		{"not a number", "Uid:\t0\tx\t0\t0\n", 0, false},
		{"negative", "Uid:\t0\t-1\t0\t0\n", 0, false},
		{"missing", "Name:\tx\nGid:\t0\t0\t0\t0\n", 0, false},
		{"name that looks like a uid line", "Name:\tUid:\t1\t2\nUid:\t3\t4\t5\t6\n", 4, true},
		{"empty", "", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			uid, ok := parseStatusUID([]byte(tt.in))
			require.Equal(t, tt.ok, ok)
			require.Equal(t, tt.uid, uid)
		})
	}
}

func TestStatStartTime(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		ticks uint64
		ok    bool
	}{
		{"real", "1 (systemd) S 0 1 1 0 -1 4194560 52079 3186614 117 1468 283 214 4337 2418 20 0 1 0 28 172011520 3247 18446744073709551615 1 1 0 0 0 0 671173123 4096 1260 0 0 0 17 1 0 0 0 0 0\n", 28, true},
		{"name with parens and spaces", "42 (a) b (c) d) R 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 123456789 x\n", 123456789, true},
		{"name with newline", "42 (a\nb) R 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 9 x\n", 9, true},
		{"too short", "42 (a) R 1 2 3\n", 0, false},
		{"no paren", "42 a R 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 9\n", 0, false},
		{"not a number", "42 (a) R 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 x9 x\n", 0, false},
		{"empty", "", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ticks, ok := parseStatStartTime([]byte(tt.in))
			require.Equal(t, tt.ok, ok)
			require.Equal(t, tt.ticks, ticks)
		})
	}
}

func TestCleanComm(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"plain", "nginx\n", "nginx"},
		{"no newline", "nginx", "nginx"},
		{"one newline only", "a\n\n", "a\n"},
		{"specials", "a) b, (c\n", "a) b, (c"},
		{"invalid utf8", "a\xffb\xfe\xfdc\n", "a\uFFFDb\uFFFDc"},
		{"empty", "", ""},
		{"long", strings.Repeat("x", 100) + "\n", strings.Repeat("x", MaxNameLen)},
		{"long multibyte cut on a rune boundary", strings.Repeat("é", 40) + "\n", strings.Repeat("é", 32)},
		{"long invalid", strings.Repeat("x", 63) + "\xff\xff", strings.Repeat("x", 63)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := cleanComm([]byte(tt.in))
			require.Equal(t, tt.want, got)
			require.True(t, utf8.ValidString(got))
			require.LessOrEqual(t, len(got), MaxNameLen)
		})
	}
}

// FuzzProcFiles writes stat, status and comm as the kernel would for a
// process with an arbitrary name, and requires the parsers to find the
// start time, the effective uid and a clean name whatever the name holds:
// spaces, parentheses, newlines, invalid UTF-8.
func FuzzProcFiles(f *testing.F) {
	f.Add([]byte("nginx"), uint32(33), uint64(12345))
	f.Add([]byte("a) (b) S 1 2 3"), uint32(0), uint64(0))
	f.Add([]byte("new\nline\t\xff\xfe"), uint32(65534), uint64(18446744073709551615))
	f.Add([]byte(strings.Repeat("é", 40)), uint32(4294967295), uint64(1))
	f.Fuzz(func(t *testing.T, name []byte, uid uint32, start uint64) {
		// proc_pid_stat(5): the name in parentheses as it is, then fields 3
		// to 52; starttime is field 22.
		stat := fmt.Appendf(nil, "4242 (%s) S 1 4242 4242 0 -1 4194560 120 0 0 0 3 1 0 0 20 0 1 0 %d 1024 300 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n", name, start)
		got, ok := parseStatStartTime(stat)
		require.True(t, ok, "%q", stat)
		require.Equal(t, start, got)

		// proc_pid_status(5): the kernel escapes the name's newlines and
		// backslashes, and prints real, effective, saved and fs uids.
		escaped := strings.NewReplacer("\\", "\\\\", "\n", "\\n").Replace(string(name))
		status := fmt.Appendf(nil, "Name:\t%s\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t4242\nPid:\t4242\nPPid:\t1\nTracerPid:\t0\nUid:\t7\t%d\t7\t7\nGid:\t7\t7\t7\t7\n", escaped, uid)
		euid, ok := parseStatusUID(status)
		require.True(t, ok, "%q", status)
		require.Equal(t, uid, euid)

		// comm: the name and a newline, as one line of valid UTF-8.
		comm := cleanComm(append(slices.Clone(name), '\n'))
		require.True(t, utf8.ValidString(comm))
		require.LessOrEqual(t, len(comm), MaxNameLen)
		if utf8.Valid(name) && len(name) <= MaxNameLen {
			require.Equal(t, string(name), comm)
		} else {
			require.True(t, strings.HasPrefix(strings.ToValidUTF8(string(name), "\uFFFD"), comm))
		}
	})
}

func TestStatExiting(t *testing.T) {
	const tail = " 1 2 3 0 -1 %d 0 0 0 0 0 0 0 0 20 0 1 0 99 0 0\n"
	for _, tt := range []struct {
		state string
		flags int
		want  bool
	}{
		{"S", 0x400000, false},
		{"R", 0x400000, false},
		{"Z", 0x400000, true},
		{"X", 0, true},
		{"R", 0x400004, true}, // PF_EXITING: do_exit has begun
		{"D", 0x4, true},
	} {
		stat := fmt.Sprintf("42 (a) b) %s"+tail, tt.state, tt.flags)
		require.Equal(t, tt.want, parseStatExiting([]byte(stat)), "%q", stat)
	}
	require.False(t, parseStatExiting([]byte("42 (a")))
	require.False(t, parseStatExiting(nil))
}
