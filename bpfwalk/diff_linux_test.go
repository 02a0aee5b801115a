//go:build linux

package bpfwalk

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/procfs"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/tcpconn/telegraf-tcpconn/resolver"
)

// TestDifferential compares the bpf walk of the whole host with the /proc
// walk of package resolver, the ground truth: procfs, bpf, procfs again,
// and every process both /proc walks agree on (same start time, same
// sockets) must have the same owners and fields in the bpf walk. The host
// gets a few more owners first: a child sharing the test's listener, one in
// its own network namespace, one whose name is not valid UTF-8 and has a
// newline, spaces and parentheses.
func TestDifferential(t *testing.T) {
	for _, workers := range []int{1, 2} {
		t.Run(fmt.Sprintf("workers=%d", workers), func(t *testing.T) { testDifferential(t, workers) })
	}
}

// testDifferential is TestDifferential with one iterator over every task
// (workers 1) or one per process.
func testDifferential(t *testing.T, workers int) {
	w := newWalker(t, Options{ProcRoot: "/proc", Cgroup: true, Workers: workers})
	require.Equal(t, workers > 1, w.workers != nil, "an iterator per process with more than one worker (Linux 6.1)")

	sl, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer sl.Close()
	shared, err := sl.(*net.TCPListener).File()
	require.NoError(t, err)
	defer shared.Close()
	startLiveChild(t, shared, nil)
	startLiveChild(t, nil, func(cmd *exec.Cmd) {
		cmd.SysProcAttr.Cloneflags = unix.CLONE_NEWNET
		cmd.Env = append(cmd.Env, "BPFWALK_LO_UP=1")
	})
	odd, _ := startLiveChild(t, nil, func(cmd *exec.Cmd) { cmd.Env = append(cmd.Env, "BPFWALK_COMM=\xffa) (b\nc d\xc3") })

	ctx := context.Background()
	walkProc := func() *resolver.Table {
		r, err := resolver.New(resolver.Options{ProcRoot: "/proc", Cgroup: true})
		require.NoError(t, err)
		tab, err := r.Walk(ctx)
		requireOnlyDenied(t, err)
		return tab
	}
	a := walkProc()
	k, err := w.Walk(ctx)
	requireOnlyDenied(t, err)
	checkInvariants(t, k)
	b := walkProc()

	var compared, changed, extra, bpfOnly, cgroupGone int
	for _, pa := range a.Procs {
		pid := pa.PID
		pb, ok := proc(b, pid)
		if !ok || pb.StartTime != pa.StartTime || !slices.Equal(ownedBy(a, pid), ownedBy(b, pid)) {
			changed++ // started, ended or changed between the /proc walks
			continue
		}
		pk, ok := proc(k, pid)
		require.True(t, ok, "pid %d (%s) owns sockets in both /proc walks, not in the bpf walk", pid, pa.Name)
		compared++

		// The owners: the same, but for the sockets of a thread's own
		// fd table, which /proc/<pid>/fd does not show.
		// (Sets: a load process holds thousands.)
		want, got := sockSet(ownedBy(a, pid)), sockSet(ownedBy(k, pid))
		for s := range got {
			if want[s] {
				continue
			}
			require.True(t, inThread(pid, s), "pid %d (%s): fd %d inode %d in the bpf walk only, in no thread's table", pid, pa.Name, s.FD, s.Inode)
			extra++
		}
		for s := range want {
			require.True(t, got[s], "pid %d (%s): fd %d inode %d in the /proc walks, not in the bpf walk", pid, pa.Name, s.FD, s.Inode)
		}

		require.Equal(t, pa.Name, pk.Name, "pid %d", pid)
		require.Equal(t, pa.UID, pk.UID, "pid %d (%s)", pid, pa.Name)
		require.Equal(t, pa.StartTime, pk.StartTime, "pid %d (%s)", pid, pa.Name)
		require.Equal(t, pa.NetNS, pk.NetNS, "pid %d (%s)", pid, pa.Name)
		require.Equal(t, cgroupLine(pa.Cgroup), pk.Cgroup, "pid %d (%s)", pid, pa.Name)
		// The directory of the cgroup the /proc walk read: the process
		// may have ended since, and its cgroup gone with it.
		path := strings.TrimSuffix(strings.TrimPrefix(cgroupLine(pa.Cgroup), "0::"), "\n")
		ino, err := cgroupDirInode(t, path)
		if errors.Is(err, unix.ENOENT) && !alive(pid) {
			cgroupGone++
			continue
		}
		require.NoError(t, err, "pid %d (%s)", pid, pa.Name)
		require.Equal(t, ino, pk.CgroupID, "pid %d (%s)", pid, pa.Name)
	}
	for _, pk := range k.Procs {
		if _, ok := proc(a, pk.PID); ok {
			continue
		}
		_, ua := a.FindUnwalked(pk.PID)
		_, ub := b.FindUnwalked(pk.PID)
		if ua || ub {
			bpfOnly++ // the /proc walk could not read it: the kernel can
			continue
		}
		if _, ok := proc(b, pk.PID); ok || !holdsNow(pk, ownedBy(k, pk.PID)) {
			changed++
			continue
		}
		t.Errorf("pid %d (%s): sockets %v in the bpf walk, none in either /proc walk", pk.PID, pk.Name, ownedBy(k, pk.PID))
	}
	// What the bpf walk could not see, the /proc walk could not read
	// either: pid 1 of this sandbox is hidden from both.
	for _, u := range k.Unwalked {
		_, ua := a.FindUnwalked(u.PID)
		require.True(t, ua || !alive(u.PID), "pid %d hidden from the bpf walk, read by the /proc walk", u.PID)
	}
	require.Positive(t, compared)
	require.Equal(t, "\ufffda) (b\nc d\ufffd", mustProc(t, k, odd).Name)
	t.Logf("%d processes compared (%d of them ended, with their cgroup, before it was checked), %d changed between the /proc walks, %d seen by the bpf walk only, %d owners of threads' own tables", compared, cgroupGone, changed, bpfOnly, extra)
	t.Logf("unwalked: /proc %v, bpf %v; processes: /proc %d, bpf %d", a.Unwalked, k.Unwalked, a.Stats.Processes, k.Stats.Processes)
}

func mustProc(t *testing.T, tab *resolver.Table, pid int32) resolver.Process {
	t.Helper()
	p, ok := proc(tab, pid)
	require.True(t, ok, "pid %d", pid)
	return p
}

// cgroupLine returns the cgroup v2 line of a /proc/<pid>/cgroup, as
// Process.Cgroup of the bpf walk holds it.
func cgroupLine(cgroup string) string {
	for line := range strings.Lines(cgroup) {
		if strings.HasPrefix(line, "0::") {
			return line
		}
	}
	return ""
}

// inThread tells whether a thread of pid holds s in its fd table.
func inThread(pid int32, s sock) bool {
	tids, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	for _, tid := range tids {
		var st unix.Stat_t
		if unix.Stat(fmt.Sprintf("/proc/%d/task/%s/fd/%d", pid, tid.Name(), s.FD), &st) == nil && st.Ino == s.Inode {
			return true
		}
	}
	return false
}

// holdsNow tells whether the process p is still there and still holds one
// of socks: if not, it changed while the walks ran.
func holdsNow(p resolver.Process, socks []sock) bool {
	pr, err := procfs.NewProc(int(p.PID))
	if err != nil {
		return false
	}
	if st, err := pr.Stat(); err != nil || st.Starttime != p.StartTime {
		return false
	}
	for _, s := range socks {
		var st unix.Stat_t
		if unix.Stat(fmt.Sprintf("/proc/%d/fd/%d", p.PID, s.FD), &st) == nil && st.Ino == s.Inode {
			return true
		}
	}
	return false
}

func alive(pid int32) bool {
	return unix.Kill(int(pid), 0) == nil
}

func sockSet(socks []sock) map[sock]bool {
	set := make(map[sock]bool, len(socks))
	for _, s := range socks {
		set[s] = true
	}
	return set
}
