//go:build linux

package bpfwalk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/tcpconn/telegraf-tcpconn/internal/testchild"
	"github.com/tcpconn/telegraf-tcpconn/resolver"
)

// timensResult is what timensChild reports.
type timensResult struct {
	Err       string
	BPF, Proc uint64 // the start time of BPFWALK_PID in each walk
}

// timensChild runs in a time namespace whose boot time is 1000 s ahead,
// where /proc shows every start time shifted: it walks both ways and
// reports the start time of process BPFWALK_PID as each walk gives it.
func timensChild() int {
	var res timensResult
	pid, _ := strconv.Atoi(os.Getenv("BPFWALK_PID"))
	w, err := New(Options{ProcRoot: "/proc"})
	if err == nil {
		defer w.Close()
		tab, _ := w.Walk(context.Background())
		p, _ := proc(tab, int32(pid))
		res.BPF = p.StartTime
		r, _ := resolver.New(resolver.Options{ProcRoot: "/proc"})
		tab, _ = r.Walk(context.Background())
		p, _ = proc(tab, int32(pid))
		res.Proc = p.StartTime
	} else {
		res.Err = err.Error()
	}
	if json.NewEncoder(os.Stdout).Encode(res) != nil {
		return 1
	}
	return 0
}

// timensOuter makes a time namespace 1000 s ahead for its children and
// runs timensChild in it. unshare(CLONE_NEWTIME) applies to the children
// of the calling thread, with offsets written before any enters it: this
// process does it so that the test process's threads keep their own.
func timensOuter() int {
	runtime.LockOSThread() // never unlocked
	if err := unix.Unshare(unix.CLONE_NEWTIME); err != nil {
		fmt.Fprintln(os.Stderr, "unshare(CLONE_NEWTIME):", err)
		return 3
	}
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/timens_offsets", unix.Gettid()), []byte("boottime 1000 0\n"), 0); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=timens")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// TestWalkTimeNamespace: in a time namespace, /proc/<pid>/stat adds the
// reader's boottime offset to every start time; the bpf walk does too.
func TestWalkTimeNamespace(t *testing.T) {
	w := newWalker(t, Options{ProcRoot: "/proc"})
	l, _, err := testchild.OpenLoopback("tcp4", "127.0.0.1:0") // so that this process is in Procs
	defer testchild.CloseAll(l)
	require.NoError(t, err)
	exe, err := os.Executable()
	require.NoError(t, err)
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=timens-outer", fmt.Sprintf("BPFWALK_PID=%d", os.Getpid()))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == 3 {
		t.Skip("no time namespace here")
	}
	require.NoError(t, err, "child output: %s", out)
	var res timensResult
	require.NoError(t, json.Unmarshal(out, &res), "child output: %s", out)
	require.Empty(t, res.Err)
	require.NotZero(t, res.Proc)
	require.Equal(t, res.Proc, res.BPF, "the start time as /proc shows it in the time namespace")
	p, ok := proc(walk(t, w), int32(os.Getpid()))
	require.True(t, ok)
	require.Equal(t, p.StartTime+1000*userHZ, res.BPF, "1000 s ahead of the initial namespace's")
}
