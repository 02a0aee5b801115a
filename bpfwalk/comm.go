package bpfwalk

import (
	"bytes"
	"strings"
	"unicode/utf8"

	"github.com/tcpconn/telegraf-tcpconn/resolver"
)

// cleanName turns a task's comm, as the kernel holds it (a NUL-terminated
// array), into Process.Name as the /proc walk makes it of /proc/<pid>/comm:
// the bytes before the NUL, valid UTF-8 with each run of invalid bytes
// replaced by U+FFFD, capped at resolver.MaxNameLen bytes on a rune
// boundary. The /proc walk strips the newline that comm_show adds after
// the name; a newline within the name stays in both.
func cleanName(comm []byte) string {
	if i := bytes.IndexByte(comm, 0); i >= 0 {
		comm = comm[:i]
	}
	return cleanText(comm, resolver.MaxNameLen)
}

// cleanText returns b as valid UTF-8 capped at limit bytes on a rune
// boundary, as package resolver does.
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
