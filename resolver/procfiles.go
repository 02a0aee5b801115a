package resolver

import (
	"bytes"
	"math"

	"github.com/tcpconn/telegraf-tcpconn/internal/proctext"
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
		f := proctext.Fields(line[len(key):], 2)
		v, ok := proctext.ParseUint(f[1])
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
	f, ok := proctext.StatFields(b)
	if !ok {
		return 0, false
	}
	return proctext.ParseUint(f[19])
}

// parseStatExiting reports whether the content of /proc/<pid>/stat is that
// of a process that has exited or is exiting: state (field 3) Z or X, or
// PF_EXITING in its flags (field 9). Its memory is gone then, so /proc makes
// its fd directory root's, and its files are being closed.
func parseStatExiting(b []byte) bool {
	f, ok := proctext.StatFields(b)
	if !ok {
		return false
	}
	if len(f[0]) == 1 && (f[0][0] == 'Z' || f[0][0] == 'X') {
		return true
	}
	flags, ok := proctext.ParseUint(f[6])
	return ok && flags&proctext.PFExiting != 0
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
	return proctext.ParseCanonical(b[len(socketPrefix):len(b)-1], math.MaxUint64)
}

// cleanComm turns the content of /proc/<pid>/comm into Process.Name.
func cleanComm(b []byte) string {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
	}
	return proctext.CleanText(b, MaxNameLen)
}
