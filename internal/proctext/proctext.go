// Package proctext parses and cleans the text of proc(5) files as both
// owner walks, package resolver's over /proc and package bpfwalk's over a
// BPF iterator, must read it alike: numbers as the kernel prints them, the
// fields of /proc/<pid>/stat, and names made valid UTF-8.
package proctext

import (
	"bytes"
	"math"
	"strings"
	"unicode/utf8"
)

// ParseUint parses unsigned decimal digits, rejecting empty input, any
// other byte and overflow.
func ParseUint(b []byte) (uint64, bool) {
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

// ParseCanonical parses a number as the kernel names a pid, an fd or a
// socket inode: decimal digits with no sign and no leading zero, at most
// limit.
func ParseCanonical(b []byte, limit uint64) (uint64, bool) {
	if len(b) > 1 && b[0] == '0' {
		return 0, false
	}
	v, ok := ParseUint(b)
	return v, ok && v <= limit
}

// ParsePID parses a pid, a tid or an fd number: ParseCanonical up to
// MaxInt32.
func ParsePID(b []byte) (int32, bool) {
	v, ok := ParseCanonical(b, math.MaxInt32)
	return int32(v), ok
}

// Fields returns the first n space- or tab-separated fields of b; missing
// ones are empty. It does not allocate for n <= 20.
func Fields(b []byte, n int) [20][]byte {
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

// StatFields returns fields 3 (state) to 22 (starttime) of the content of
// /proc/<pid>/stat (proc_pid_stat(5)), f[0] to f[19]. The name in field 2
// may hold spaces and parentheses, so the fields are counted from the last
// ')'; ok is false without one.
func StatFields(b []byte) (f [20][]byte, ok bool) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return f, false
	}
	return Fields(b[i+1:], 20), true
}

// PFExiting is PF_EXITING (include/linux/sched.h), in the flags, field 9,
// of /proc/<pid>/stat: set when the process starts to exit.
const PFExiting = 0x4

// CleanText returns b as valid UTF-8, each run of invalid bytes replaced
// by U+FFFD as strings.ToValidUTF8 does, capped at limit bytes on a rune
// boundary.
func CleanText(b []byte, limit int) string {
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
