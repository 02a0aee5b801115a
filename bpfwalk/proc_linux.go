//go:build linux

package bpfwalk

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/tcpconn/telegraf-tcpconn/internal/proctext"
)

// The few reads of the proc root that account for the processes the
// iterator does not show: every pid there, and for each one the kernel did
// not show, whether it has open files at all.

// pfKthread is PF_KTHREAD (include/linux/sched.h), in the flags field of
// /proc/<pid>/stat.
const pfKthread = 0x00200000

// procLister reads the proc root with reused buffers.
type procLister struct {
	dirBuf []byte
	file   []byte
	path   []byte
}

// listPIDs appends the numeric entries of the directory root to pids,
// sorted.
func (l *procLister) listPIDs(root string, pids []int32) ([]int32, error) {
	fd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return pids, err
	}
	defer unix.Close(fd)
	if l.dirBuf == nil {
		l.dirBuf = make([]byte, 32<<10)
		l.file = make([]byte, 1024)
	}
	for {
		n, err := getdents(fd, l.dirBuf)
		if err != nil {
			return pids, err
		}
		if n <= 0 {
			break
		}
		for b := l.dirBuf[:n]; ; {
			var name []byte
			if name, b = nextDirent(b); name == nil {
				break
			}
			if pid, ok := proctext.ParsePID(name); ok {
				pids = append(pids, pid)
			}
		}
	}
	slices.Sort(pids) // the kernel lists them in order already: cheap
	return slices.Compact(pids), nil
}

// unseen is what the proc root tells of a process the kernel did not show.
type unseen uint8

const (
	// noFiles: a kernel thread, a zombie, or a process with no open
	// file: walked, and owns nothing.
	noFiles unseen = iota
	// gone: it exited.
	gone
	// hidden: it has open files, or they cannot be listed: not walked.
	hidden
)

// probe tells why the kernel did not show the files of pid, from
// <root>/<pid>/stat (readable by anyone) and, for a user process, its fd
// directory. errno is why it is hidden, when it is; start is its start
// time, when stat could tell it.
func (l *procLister) probe(root string, pid int32) (why unseen, errno unix.Errno, start uint64) {
	l.path = append(l.path[:0], root...)
	l.path = append(l.path, '/')
	l.path = strconv.AppendInt(l.path, int64(pid), 10)
	dir := len(l.path)
	l.path = append(l.path, "/stat\x00"...)
	b, e := readFile(l.path, l.file)
	switch e {
	case 0:
	case unix.ENOENT, unix.ESRCH:
		return gone, 0, 0
	default:
		return hidden, e, 0
	}
	st, ok := parseStat(b)
	if ok && (st.flags&pfKthread != 0 || st.state == 'Z' || st.state == 'X') {
		return noFiles, 0, st.start
	}
	l.path = append(l.path[:dir], "/fd\x00"...)
	fd, e := openat(unix.AT_FDCWD, l.path, unix.O_RDONLY|unix.O_DIRECTORY)
	switch e {
	case 0:
	case unix.ENOENT, unix.ESRCH:
		return gone, 0, 0
	default:
		return hidden, e, st.start
	}
	defer unix.Close(fd)
	for {
		n, err := getdents(fd, l.dirBuf)
		if err != nil {
			return hidden, errnoOf(err), st.start
		}
		if n <= 0 {
			return noFiles, 0, st.start
		}
		for b := l.dirBuf[:n]; ; {
			var name []byte
			if name, b = nextDirent(b); name == nil {
				break
			}
			if _, ok := proctext.ParsePID(name); ok { // an fd number
				return hidden, unix.EPERM, st.start
			}
		}
	}
}

// comm returns the name of pid as the /proc walk reads it, from
// <root>/<pid>/comm, or "" when it cannot be read (the process is gone, and
// a name filter then drops it).
func (l *procLister) comm(root string, pid int32) string {
	l.path = append(l.path[:0], root...)
	l.path = append(l.path, '/')
	l.path = strconv.AppendInt(l.path, int64(pid), 10)
	l.path = append(l.path, "/comm\x00"...)
	b, e := readFile(l.path, l.file)
	if e != 0 {
		return ""
	}
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
	}
	return cleanName(b)
}

// stat is what a probe reads of /proc/<pid>/stat (proc_pid_stat(5)).
type stat struct {
	state byte   // field 3
	flags uint64 // field 9
	start uint64 // field 22, starttime
}

// parseStat parses the content of /proc/<pid>/stat.
func parseStat(b []byte) (stat, bool) {
	f, ok := proctext.StatFields(b)
	if !ok || len(f[0]) != 1 {
		return stat{}, false
	}
	flags, ok1 := proctext.ParseUint(f[6])
	start, ok2 := proctext.ParseUint(f[19])
	return stat{state: f[0][0], flags: flags, start: start}, ok1 && ok2
}

// nextDirent returns the NUL-terminated name of the first record of a
// getdents64 buffer (struct linux_dirent64: d_reclen at 16, d_name at 19)
// and the rest of the buffer, or nil at its end or on a malformed record.
func nextDirent(b []byte) (name, rest []byte) {
	const reclenOff, nameOff = 16, 19
	for len(b) > nameOff {
		reclen := int(binary.NativeEndian.Uint16(b[reclenOff:]))
		if reclen <= nameOff || reclen > len(b) {
			return nil, nil
		}
		rec := b[nameOff:reclen]
		b = b[reclen:]
		if i := bytes.IndexByte(rec, 0); i >= 0 {
			return rec[:i], b
		}
	}
	return nil, nil
}

func getdents(fd int, buf []byte) (int, error) {
	for {
		n, err := unix.Getdents(fd, buf)
		if err != unix.EINTR {
			return n, err
		}
	}
}

// openat opens the NUL-terminated path, without the allocation of
// unix.Openat's string argument.
func openat(dirfd int, path []byte, flags int) (int, unix.Errno) {
	fd, _, e := unix.Syscall6(unix.SYS_OPENAT, uintptr(dirfd), uintptr(unsafe.Pointer(&path[0])),
		uintptr(flags|unix.O_CLOEXEC), 0, 0, 0)
	if e != 0 {
		return -1, e
	}
	return int(fd), 0
}

// readFile reads the NUL-terminated path into buf, up to len(buf) bytes.
func readFile(path, buf []byte) ([]byte, unix.Errno) {
	fd, e := openat(unix.AT_FDCWD, path, unix.O_RDONLY)
	if e != 0 {
		return nil, e
	}
	defer unix.Close(fd)
	n := 0
	for n < len(buf) {
		m, err := unix.Read(fd, buf[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, errnoOf(err)
		}
		if m <= 0 {
			break
		}
		n += m
	}
	return buf[:n], 0
}

func errnoOf(err error) unix.Errno {
	var e unix.Errno
	if errors.As(err, &e) {
		return e
	}
	return unix.EIO
}

// maxOwnersHint bounds the capacity socketsInUse may ask for: 4M owners,
// 96 MiB, whatever the file says.
const maxOwnersHint = 1 << 22

// socketsInUse returns the "sockets: used" count of <root>/net/sockstat,
// the sockets of the agent's network namespace, of every family: a size
// for the first walk's table, which otherwise grows from nothing by
// copying itself (about 20 ms of a first walk at 200k sockets). 0 when
// the file cannot be read.
func socketsInUse(root string) int {
	b, err := os.ReadFile(filepath.Join(root, "net", "sockstat"))
	if err != nil {
		return 0
	}
	return parseSocketsUsed(b)
}

// parseSocketsUsed reads N from the line "sockets: used N" of sockstat.
func parseSocketsUsed(b []byte) int {
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := proctext.Fields(line, 3)
	if string(f[0]) != "sockets:" || string(f[1]) != "used" {
		return 0
	}
	n, ok := proctext.ParseUint(f[2])
	if !ok {
		return 0
	}
	return int(min(n, maxOwnersHint))
}
