//go:build linux

package resolver

import (
	"encoding/binary"
	"errors"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The wrappers below take NUL-terminated names as *byte so that the hot loop
// can pass the name straight out of the getdents64 buffer: unix.Openat and
// unix.Readlinkat copy their string argument into a fresh allocation on every
// call. They return the bare errno so that no error interface is built on the
// way.

func openat(dirfd int, name *byte, flags int) (int, unix.Errno) {
	fd, _, e := unix.Syscall6(unix.SYS_OPENAT, uintptr(dirfd), uintptr(unsafe.Pointer(name)),
		uintptr(flags|unix.O_CLOEXEC), 0, 0, 0)
	if e != 0 {
		return -1, e
	}
	return int(fd), 0
}

func readlinkat(dirfd int, name *byte, buf []byte) (int, unix.Errno) {
	n, _, e := unix.Syscall6(unix.SYS_READLINKAT, uintptr(dirfd), uintptr(unsafe.Pointer(name)),
		uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), 0
}

// cstr returns a pointer to a constant NUL-terminated name such as "fd\x00".
// The kernel only reads it.
func cstr(s string) *byte {
	if len(s) == 0 || s[len(s)-1] != 0 {
		panic("resolver: name " + s + " is not NUL-terminated") // programming error
	}
	return unsafe.StringData(s)
}

// readFile reads the file name relative to dirfd into buf, up to len(buf)
// bytes, and returns what it read.
func readFile(dirfd int, name *byte, buf []byte) ([]byte, unix.Errno) {
	fd, e := openat(dirfd, name, unix.O_RDONLY)
	if e != 0 {
		return nil, e
	}
	n := 0
	for n < len(buf) {
		m, err := unix.Read(fd, buf[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			unix.Close(fd)
			return nil, errno(err)
		}
		if m <= 0 {
			break
		}
		n += m
	}
	unix.Close(fd)
	return buf[:n], 0
}

// errno extracts the errno of an error returned by x/sys/unix.
func errno(err error) unix.Errno {
	var e unix.Errno
	if errors.As(err, &e) {
		return e
	}
	return unix.EIO
}

// Layout of struct linux_dirent64, as filled by getdents64(2).
const (
	direntReclen = 16 // offset of d_reclen (uint16)
	direntName   = 19 // offset of d_name
)

// direntIter walks the records of a getdents64 buffer.
type direntIter struct {
	buf []byte
	off int
}

// next returns the offset of the NUL-terminated name of the next record and
// its length without the NUL, or ok == false at the end of the buffer or on
// a malformed record.
func (it *direntIter) next() (nameOff, nameLen int, ok bool) {
	for it.off+direntName < len(it.buf) {
		rec := it.buf[it.off:]
		reclen := int(binary.NativeEndian.Uint16(rec[direntReclen:]))
		if reclen <= direntName || reclen > len(rec) {
			it.off = len(it.buf)
			return 0, 0, false
		}
		off := it.off
		it.off += reclen
		name := rec[direntName:reclen]
		for i, c := range name {
			if c == 0 {
				return off + direntName, i, true
			}
		}
		// No NUL inside the record: skip it.
	}
	return 0, 0, false
}
