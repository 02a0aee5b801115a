package resolver

import (
	"bytes"
	"math"
	"strings"
	"unicode/utf8"
)

// The contents of the small per-process files of proc(5), and the names of
// /proc entries.

// parseStatusUID returns the effective uid, the second column of the "Uid:"
// line of the content of /proc/<pid>/status (proc_pid_status(5)).
func parseStatusUID(b []byte) (uid uint32, ok bool) {
	const key = "Uid:"
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		if len(line) < len(key) || string(line[:len(key)]) != key {
			continue
		}
		f := fields(line[len(key):], 2)
		v, ok := parseUint(f[1])
		if !ok || v > math.MaxUint32 {
			return 0, false
		}
		return uint32(v), true
	}
	return 0, false
}

// parseStatStartTime returns field 22, starttime, of the content of
// /proc/<pid>/stat (proc_pid_stat(5)). The name in field 2 may hold spaces
// and parentheses, so the fields are counted from the last ')'.
func parseStatStartTime(b []byte) (ticks uint64, ok bool) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	// After ')' come fields 3 (state) to 52; starttime is the 20th.
	f := fields(b[i+1:], 20)
	return parseUint(f[19])
}

// pfExiting is PF_EXITING (include/linux/sched.h), in the flags field of
// /proc/<pid>/stat: set when the process starts to exit.
const pfExiting = 0x4

// parseStatExiting reports whether the content of /proc/<pid>/stat is that
// of a process that has exited or is exiting: state (field 3) Z or X, or
// PF_EXITING in its flags (field 9). Its memory is gone then, so /proc makes
// its fd directory root's, and its files are being closed.
func parseStatExiting(b []byte) bool {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return false
	}
	f := fields(b[i+1:], 7)
	if len(f[0]) == 1 && (f[0][0] == 'Z' || f[0][0] == 'X') {
		return true
	}
	flags, ok := parseUint(f[6])
	return ok && flags&pfExiting != 0
}

// fields returns the first n space- or tab-separated fields of b; missing
// ones are empty. It does not allocate for n <= 20.
func fields(b []byte, n int) [20][]byte {
	var f [20][]byte
	for k := 0; k < n && k < len(f); k++ {
		for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
			b = b[1:]
		}
		end := 0
		for end < len(b) && b[end] != ' ' && b[end] != '\t' && b[end] != '\n' {
			end++
		}
		f[k], b = b[:end], b[end:]
	}
	return f
}

// parseUint parses unsigned decimal digits, rejecting empty input, any
// other byte and overflow.
func parseUint(b []byte) (uint64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if v > (math.MaxUint64-d)/10 {
			return 0, false
		}
		v = v*10 + d
	}
	return v, true
}

// parseCanonical parses a number as the kernel names a pid, an fd or a
// socket inode: decimal digits with no sign and no leading zero, at most
// limit.
func parseCanonical(b []byte, limit uint64) (uint64, bool) {
	if len(b) > 1 && b[0] == '0' {
		return 0, false
	}
	v, ok := parseUint(b)
	return v, ok && v <= limit
}

const (
	socketPrefix = "socket:["
	// maxSocketLink is len("socket:[18446744073709551615]").
	maxSocketLink = len(socketPrefix) + 20 + 1
)

// parseSocketLink parses the target of a /proc/<pid>/fd link of a socket. It
// accepts exactly "socket:[<decimal>]" where the decimal fits in a uint64 and
// has no sign, no spaces and no leading zero; anything else, including an
// overlong input, returns ok == false. It does not allocate.
func parseSocketLink(b []byte) (inode uint64, ok bool) {
	if len(b) < len(socketPrefix)+2 || len(b) > maxSocketLink ||
		string(b[:len(socketPrefix)]) != socketPrefix || b[len(b)-1] != ']' {
		return 0, false
	}
	return parseCanonical(b[len(socketPrefix):len(b)-1], math.MaxUint64)
}

// cleanComm turns the content of /proc/<pid>/comm into Process.Name.
func cleanComm(b []byte) string {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
	}
	return cleanText(b, MaxNameLen)
}

// cleanText returns b as valid UTF-8, each run of invalid bytes replaced by
// U+FFFD as strings.ToValidUTF8 does, capped at limit bytes on a rune
// boundary.
func cleanText(b []byte, limit int) string {
	if utf8.Valid(b) {
		return string(b[:runeCut(b, limit)])
	}
	s := strings.ToValidUTF8(string(b), "\uFFFD")
	return s[:runeCut(s, limit)]
}

// runeCut returns the largest n <= limit such that b[:n] ends on a rune
// boundary.
func runeCut[T string | []byte](b T, limit int) int {
	if len(b) <= limit {
		return len(b)
	}
	n := limit
	for n > 0 && !utf8.RuneStart(b[n]) {
		n--
	}
	return n
}
