//go:build linux

package bpfwalk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/tcpconn/telegraf-tcpconn/internal/testchild"
)

// permResult is what permChild reports on its standard output.
type permResult struct {
	UID          int
	NewErr       string
	IsPermission bool
	WalkErr      string
	Found        bool // the parent's listener, with its pid and fd
	Sockets      int
}

// permChild loads and walks as whoever it runs as, and reports whether it
// found the listener its parent named in BPFWALK_LISTENER (pid fd inode).
func permChild() int {
	res := permResult{UID: os.Geteuid()}
	var pid, fd int32
	var inode uint64
	if _, err := fmt.Sscan(os.Getenv("BPFWALK_LISTENER"), &pid, &fd, &inode); err != nil {
		fmt.Println(err)
		return 1
	}
	w, err := New(Options{ProcRoot: "/proc"})
	if err != nil {
		res.NewErr = err.Error()
		res.IsPermission = errors.Is(err, os.ErrPermission)
	} else {
		defer w.Close()
		tab, err := w.Walk(context.Background())
		if err != nil {
			res.WalkErr = err.Error()
		}
		res.Sockets = len(tab.Owners)
		i, j := tab.Lookup(inode)
		for _, o := range tab.Owners[i:j] {
			res.Found = res.Found || o.PID == pid && o.FD == fd
		}
	}
	if err := json.NewEncoder(os.Stdout).Encode(res); err != nil {
		return 1
	}
	return 0
}

// TestPrivileges runs copies of the test binary as uid 65534: with
// CAP_BPF and CAP_PERFMON as file capabilities, the walk works and finds a
// root-owned listener; without them, New says what it needs.
func TestPrivileges(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("drops from root to uid 65534: run as root")
	}
	newWalker(t, Options{ProcRoot: "/proc"}) // skips where the walk cannot run at all

	l, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	lfd, err := testchild.FDOf(l)
	require.NoError(t, err)
	ls, err := testchild.SockOf(lfd)
	require.NoError(t, err)

	dir, err := os.MkdirTemp("", "bpfwalk-perm-") //nolint:usetesting // must be reachable by uid 65534, unlike t.TempDir's parents
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	exe, err := os.Executable()
	require.NoError(t, err)
	data, err := os.ReadFile(exe)
	require.NoError(t, err)

	run := func(t *testing.T, name string, caps ...uintptr) permResult {
		bin := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(bin, data, 0o755))
		if len(caps) > 0 {
			if err := testchild.SetFileCaps(bin, caps...); err != nil {
				t.Skipf("file capabilities: %v", err)
			}
		}
		cmd := exec.Command(bin, "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"=perm",
			fmt.Sprintf("BPFWALK_LISTENER=%d %d %d", os.Getpid(), ls.FD, ls.Inode))
		cmd.Dir = dir
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		require.NoError(t, err, "child output: %s", out)
		var res permResult
		require.NoError(t, json.Unmarshal(out, &res), "child output: %s", out)
		require.Equal(t, 65534, res.UID)
		return res
	}

	t.Run("CAP_BPF+CAP_PERFMON", func(t *testing.T) {
		res := run(t, "with-caps", unix.CAP_BPF, unix.CAP_PERFMON)
		require.Empty(t, res.NewErr)
		require.True(t, res.Found, "finds root's listener: %+v", res)
		if res.WalkErr != "" {
			// The hidden pid 1 of this sandbox, whose fd directory uid
			// 65534 may not list either.
			require.Regexp(t, `^\d+ process(es)? not readable: permission denied`, res.WalkErr)
		}
		t.Logf("as uid 65534 with CAP_BPF and CAP_PERFMON: %d sockets, %q", res.Sockets, res.WalkErr)
	})
	t.Run("none", func(t *testing.T) {
		res := run(t, "without-caps")
		require.Contains(t, res.NewErr, "needs CAP_BPF and CAP_PERFMON (or root)")
		require.True(t, res.IsPermission)
		t.Logf("as uid 65534: %s", res.NewErr)
	})
}

// pidnsChild runs as pid 1 of a new pid and mount namespace and reports,
// one line each, what New says of the host's /proc, which is not of its
// pid namespace, and of its own proc mounted on BPFWALK_PROC, whose pid
// namespace is not the initial one.
func pidnsChild() int {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		fmt.Println("error", err)
		return 1
	}
	dir := os.Getenv("BPFWALK_PROC")
	if err := unix.Mount("proc", dir, "proc", 0, ""); err != nil {
		fmt.Println("error", err)
		return 1
	}
	for _, root := range []string{"/proc", dir} {
		_, err := New(Options{ProcRoot: root})
		fmt.Println(strconv.Quote(fmt.Sprint(err)))
	}
	return 0
}

// TestNewRefusesProcRoot: New refuses any proc root whose processes are
// not the kernel's, so that a fixture tree can never take the bpf path.
func TestNewRefusesProcRoot(t *testing.T) {
	fixture := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(fixture, "10", "fd"), 0o755))
	require.NoError(t, os.Symlink("socket:[5]", filepath.Join(fixture, "10", "fd", "3")))
	for _, tc := range []struct{ root, want string }{
		{"", "bpf walk: proc root is required"},
		{fixture, fmt.Sprintf("bpf walk: proc root %q is not a proc file system (type 0x", fixture)},
		{filepath.Join(fixture, "missing"), "no such file or directory"},
	} {
		_, err := New(Options{ProcRoot: tc.root})
		require.ErrorContains(t, err, tc.want)
		require.ErrorContains(t, Usable(tc.root), tc.want)
	}

	if os.Geteuid() != 0 {
		t.Skip("mounting proc needs root")
	}
	t.Run("hidepid", func(t *testing.T) {
		for _, opt := range []string{"hidepid=2", "hidepid=invisible", "hidepid=1"} {
			dir := t.TempDir()
			if err := unix.Mount("proc", dir, "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, opt); err != nil {
				t.Skipf("mount -t proc -o %s: %v", opt, err)
			}
			_, err := New(Options{ProcRoot: dir})
			require.NoError(t, unix.Unmount(dir, unix.MNT_DETACH))
			require.ErrorContains(t, err, fmt.Sprintf("bpf walk: proc root %q is mounted with hidepid=", dir), opt)
		}
		// hidepid=0 is no hiding: the same processes as /proc.
		dir := t.TempDir()
		require.NoError(t, unix.Mount("proc", dir, "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "hidepid=0"))
		defer func() { require.NoError(t, unix.Unmount(dir, unix.MNT_DETACH)) }()
		if _, err := New(Options{ProcRoot: dir}); errors.Is(err, errors.ErrUnsupported) {
			t.Skip(err)
		} else {
			require.NoError(t, err)
		}
	})
	t.Run("pid namespace", func(t *testing.T) {
		exe, err := os.Executable()
		require.NoError(t, err)
		dir := t.TempDir()
		cmd := exec.Command(exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"=pidns", "BPFWALK_PROC="+dir)
		cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWPID | unix.CLONE_NEWNS}
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		if err != nil {
			t.Skipf("a new pid namespace: %v (%s)", err, out)
		}
		var host, own string
		_, err = fmt.Sscanf(string(out), "%q\n%q\n", &host, &own)
		require.NoError(t, err, "child said %q", out)
		require.Contains(t, host, `bpf walk: proc root "/proc" belongs to another pid namespace (its self is "`)
		require.Contains(t, own, "bpf walk: this process is not in the initial pid namespace")
	})
}
