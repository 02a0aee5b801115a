//go:build linux

package bpfwalk

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// procPidInitIno is the inode of the initial pid namespace, PROC_PID_INIT_INO
// (include/linux/proc_ns.h), as /proc/<pid>/ns/pid shows it.
const procPidInitIno = 0xEFFFFFFC

// checkProcRoot checks that root shows the processes the kernel names. The
// iterator walks the pid namespace of the process that opens it and writes
// the pids of the initial one, task->tgid; a /proc walk of root sees root's
// pid namespace, as far as its mount options let it. The two agree when:
//
//   - root is a proc file system (statfs magic PROC_SUPER_MAGIC), not a
//     fixture tree;
//   - root/self is this process's pid: root belongs to our pid namespace
//     (in an ancestor's proc, self would be another number; in a
//     descendant's, it would not resolve);
//   - our pid namespace, root/self/ns/pid, is the initial one
//     (PROC_PID_INIT_INO), so that root's is too and its pids are the
//     kernel's;
//   - root is not mounted with hidepid (its super options in
//     root/self/mountinfo), which hides other users' processes from the
//     /proc walk of an unprivileged reader, but not from the kernel.
//
// Each is a fact about root and this process, read without privilege.
func checkProcRoot(root string) error {
	if root == "" {
		return errors.New("bpf walk: proc root is required")
	}
	var fs unix.Statfs_t
	if err := unix.Statfs(root, &fs); err != nil {
		return fmt.Errorf("bpf walk: proc root %q: %w", root, &os.PathError{Op: "statfs", Path: root, Err: err})
	}
	if fs.Type != unix.PROC_SUPER_MAGIC {
		return fmt.Errorf("bpf walk: proc root %q is not a proc file system (type %#x): the kernel's processes are not the tree's", root, fs.Type)
	}
	self, err := os.Readlink(filepath.Join(root, "self"))
	if err != nil {
		return fmt.Errorf("bpf walk: proc root %q has no self: %w", root, err)
	}
	if pid := strconv.Itoa(os.Getpid()); self != pid {
		return fmt.Errorf("bpf walk: proc root %q belongs to another pid namespace (its self is %q, our pid %s): its pids are not the kernel's", root, self, pid)
	}
	var ns unix.Stat_t
	if err := unix.Stat(filepath.Join(root, "self", "ns", "pid"), &ns); err != nil {
		return fmt.Errorf("bpf walk: reading our pid namespace: %w", err)
	}
	if ns.Ino != procPidInitIno {
		return fmt.Errorf("bpf walk: this process is not in the initial pid namespace (ns/pid inode %d): the kernel's pids are not those of proc root %q", ns.Ino, root)
	}
	opts, err := superOptions(root)
	if err != nil {
		return fmt.Errorf("bpf walk: mount options of proc root %q: %w", root, err)
	}
	if v, ok := option(opts, "hidepid"); ok && v != "0" && v != "off" {
		return fmt.Errorf("bpf walk: proc root %q is mounted with hidepid=%s: the kernel shows processes it hides", root, v)
	}
	return nil
}

// procTimeInitIno is the inode of the initial time namespace,
// PROC_TIME_INIT_INO.
const procTimeInitIno = 0xEFFFFFFA

// bootOffset returns the boottime offset of our time namespace
// (time_namespaces(7)), which /proc/<pid>/stat adds to the start times it
// shows us. In the initial time namespace it is 0. Otherwise it is in
// root/self/timens_offsets, the line "boottime <secs> <nanosecs>", which
// tells the offsets of the namespace of our children: ours too, unless a
// thread of ours has unshared a new one for its children (then ns/time
// and ns/time_for_children differ, and no file tells ours). A kernel
// without time namespaces has no ns/time, and no offset.
func bootOffset(root string) (int64, error) {
	var cur, children unix.Stat_t
	if err := unix.Stat(filepath.Join(root, "self", "ns", "time"), &cur); errors.Is(err, unix.ENOENT) {
		return 0, nil
	} else if err != nil {
		return 0, err
	}
	if cur.Ino == procTimeInitIno {
		return 0, nil
	}
	if err := unix.Stat(filepath.Join(root, "self", "ns", "time_for_children"), &children); err != nil {
		return 0, err
	}
	if children.Ino != cur.Ino {
		return 0, errors.New("a thread unshared a time namespace: the start times /proc shows us are not known")
	}
	b, err := os.ReadFile(filepath.Join(root, "self", "timens_offsets"))
	if err != nil {
		return 0, err
	}
	for line := range bytes.Lines(b) {
		f := bytes.Fields(line)
		if len(f) != 3 || string(f[0]) != "boottime" {
			continue
		}
		secs, err1 := strconv.ParseInt(string(f[1]), 10, 64)
		nsecs, err2 := strconv.ParseInt(string(f[2]), 10, 64)
		if err1 != nil || err2 != nil {
			return 0, fmt.Errorf("malformed timens_offsets line %q", line)
		}
		return secs*1e9 + nsecs, nil
	}
	return 0, nil
}

// superOptions returns the super options of the mount that root is on, the
// last field of its line in root/self/mountinfo (proc_pid_mountinfo(5)),
// found by the mount id that statx(2) gives.
func superOptions(root string) ([]byte, error) {
	var stx unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, root, 0, unix.STATX_MNT_ID, &stx); err != nil {
		return nil, &os.PathError{Op: "statx", Path: root, Err: err}
	}
	if stx.Mask&unix.STATX_MNT_ID == 0 {
		return nil, errors.New("statx gives no mount id")
	}
	f, err := os.Open(filepath.Join(root, "self", "mountinfo"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	id := strconv.FormatUint(stx.Mnt_id, 10)
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		first, _, _ := bytes.Cut(line, []byte(" "))
		if string(first) != id {
			continue
		}
		_, post, ok := bytes.Cut(line, []byte(" - "))
		if !ok {
			return nil, fmt.Errorf("malformed mountinfo line %q", line)
		}
		f := bytes.Fields(post) // fstype, source, super options
		if len(f) < 3 {
			return nil, fmt.Errorf("malformed mountinfo line %q", line)
		}
		return f[2], nil
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("mount %s not in mountinfo", id)
}

// option returns the value of key in comma-separated mount options.
func option(opts []byte, key string) (string, bool) {
	for len(opts) > 0 {
		var o []byte
		o, opts, _ = bytes.Cut(opts, []byte(","))
		k, v, _ := bytes.Cut(o, []byte("="))
		if string(k) == key {
			return string(v), true
		}
	}
	return "", false
}
