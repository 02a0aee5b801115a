//go:build linux

package bpftable

import (
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
	ReadErr      string
	Found        bool // the parent's listener, by its inode
	Rows         int
	// NetNSErr is OpenNetNS's error for our own namespace, which it
	// may not join without CAP_SYS_ADMIN.
	NetNSErr          string
	NetNSIsPermission bool
}

// permChild loads and reads the table as whoever it runs as, and reports
// whether it found the listener whose inode its parent gave in
// BPFTABLE_LISTENER.
func permChild() int {
	res := permResult{UID: os.Geteuid()}
	inode, err := strconv.ParseUint(os.Getenv("BPFTABLE_LISTENER"), 10, 64)
	if err != nil {
		fmt.Println(err)
		return 1
	}
	t, err := New()
	if err != nil {
		res.NewErr = err.Error()
		res.IsPermission = errors.Is(err, os.ErrPermission)
	} else {
		defer t.Close()
		r, err := t.Open()
		if err == nil {
			for r.Next() {
				res.Rows++
				res.Found = res.Found || r.Socket().Inode == inode
			}
			err = r.Err()
			r.Close()
		}
		if err != nil {
			res.ReadErr = err.Error()
		}
		if r, err := t.OpenNetNS("/proc/self/ns/net"); err != nil {
			res.NetNSErr = err.Error()
			res.NetNSIsPermission = errors.Is(err, os.ErrPermission)
		} else {
			r.Close()
		}
	}
	if err := json.NewEncoder(os.Stdout).Encode(res); err != nil {
		return 1
	}
	return 0
}

// TestPrivileges runs copies of the test binary as uid 65534: with
// CAP_BPF and CAP_PERFMON as file capabilities, the table loads and its
// walk finds a root-owned listener, and OpenNetNS says that it needs
// CAP_SYS_ADMIN; without them, New says what it needs.
func TestPrivileges(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("drops from root to uid 65534: run as root")
	}
	loadTable(t) // skips where the table cannot run at all

	l, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	lfd, err := testchild.FDOf(l)
	require.NoError(t, err)
	ls, err := testchild.SockOf(lfd)
	require.NoError(t, err)

	dir, err := os.MkdirTemp("", "bpftable-perm-") //nolint:usetesting // must be reachable by uid 65534, unlike t.TempDir's parents
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
		cmd.Env = append(os.Environ(), childEnv+"=perm", fmt.Sprintf("BPFTABLE_LISTENER=%d", ls.Inode))
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
		require.Empty(t, res.ReadErr)
		require.True(t, res.Found, "finds root's listener: %+v", res)
		require.Equal(t, `bpf table: network namespace "/proc/self/ns/net": setns: operation not permitted: joining a network namespace needs CAP_SYS_ADMIN`, res.NetNSErr)
		require.True(t, res.NetNSIsPermission)
		t.Logf("as uid 65534 with CAP_BPF and CAP_PERFMON: %d rows", res.Rows)
	})
	t.Run("none", func(t *testing.T) {
		res := run(t, "without-caps")
		require.Contains(t, res.NewErr, "needs CAP_BPF and CAP_PERFMON (or root)")
		require.True(t, res.IsPermission)
		t.Logf("as uid 65534: %s", res.NewErr)
	})
}
