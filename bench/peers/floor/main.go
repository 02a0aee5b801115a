//go:build linux

// Command floor is the floor of the scale benchmark: the least work any
// resolver of socket owners must do, with raw system calls and nothing
// else, on one thread. It reads /proc/net/tcp and /proc/net/tcp6 in 1 MiB
// reads and throws the bytes away, then lists /proc with getdents64 and,
// for every process, lists /proc/<pid>/fd with getdents64 and reads every
// link with readlinkat relative to the fd directory, into reused buffers.
// It parses nothing and joins nothing; it prints what it read, counting the
// links that start with "socket:".
package main

import (
	"encoding/binary"
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

const (
	direntReclen = 16 // offset of d_reclen in struct linux_dirent64
	direntName   = 19 // offset of d_name
)

func main() {
	buf := make([]byte, 1<<20)
	var tableBytes int
	for _, name := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		fd, err := unix.Open(name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			fail(err)
		}
		for {
			n, err := unix.Read(fd, buf)
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				fail(err)
			}
			if n == 0 {
				break
			}
			tableBytes += n
		}
		unix.Close(fd)
	}

	root, err := unix.Open("/proc", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		fail(err)
	}
	rootBuf := make([]byte, 32<<10)
	dirBuf := make([]byte, 32<<10)
	link := make([]byte, 256)
	path := make([]byte, 0, 32)
	var procs, links, sockets int
	for {
		n, err := unix.Getdents(root, rootBuf)
		if err != nil {
			fail(err)
		}
		if n <= 0 {
			break
		}
		for off := 0; off < n; {
			reclen := int(binary.NativeEndian.Uint16(rootBuf[off+direntReclen:]))
			name := rootBuf[off+direntName : off+reclen]
			off += reclen
			if name[0] < '1' || name[0] > '9' {
				continue // not a pid
			}
			path = path[:0]
			for _, c := range name {
				if c == 0 {
					break
				}
				path = append(path, c)
			}
			path = append(path, "/fd\x00"...)
			fdfd, _, e := unix.Syscall6(unix.SYS_OPENAT, uintptr(root), uintptr(unsafe.Pointer(&path[0])),
				unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0, 0, 0)
			if e != 0 {
				continue // gone or denied
			}
			procs++
			for {
				m, err := unix.Getdents(int(fdfd), dirBuf)
				if err != nil || m <= 0 {
					break
				}
				for o := 0; o < m; {
					rl := int(binary.NativeEndian.Uint16(dirBuf[o+direntReclen:]))
					name := &dirBuf[o+direntName]
					o += rl
					if *name == '.' {
						continue
					}
					k, _, e := unix.Syscall6(unix.SYS_READLINKAT, fdfd, uintptr(unsafe.Pointer(name)),
						uintptr(unsafe.Pointer(&link[0])), uintptr(len(link)), 0, 0)
					if e != 0 {
						continue
					}
					links++
					if k > 7 && string(link[:7]) == "socket:" {
						sockets++
					}
				}
			}
			unix.Close(int(fdfd))
		}
	}
	fmt.Printf("owned %d links %d procs %d table_bytes %d\n", sockets, links, procs, tableBytes)
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "floor: %v\n", err)
	os.Exit(1)
}
