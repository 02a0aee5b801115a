package bpfwalk

import (
	"bytes"

	"github.com/tcpconn/telegraf-tcpconn/internal/proctext"
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
	return proctext.CleanText(comm, resolver.MaxNameLen)
}
