//go:build linux

package resolver

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func walk(t testing.TB, opts Options) (*Table, error) {
	t.Helper()
	r, err := New(opts)
	require.NoError(t, err)
	return r.Walk(context.Background())
}

// badTargets are links that start with "socket:" but must be rejected.
var badTargets = []string{
	"socket:[",
	"socket:[]",
	"socket:[abc]",
	"socket:[-1]",
	"socket:[+1]",
	"socket:[ 1]",
	"socket:[1 ]",
	"socket:[1]x",
	"socket:[01]",
	"socket:[0x10]",
	"socket:[18446744073709551616]",
	"socket:[99999999999999999999]",
	"socket:[" + strings.Repeat("1", 100) + "]",
	"socket:[1]" + strings.Repeat("x", 3000),
	"socket:",
	"socket:1",
}

func TestWalkFixture(t *testing.T) {
	root := buildTree(t,
		fxProc{
			pid: "1", comm: strp("init\n"), netns: true,
			status: statusText("init", [4]uint32{0, 0, 0, 0}),
			stat:   statLine("1", "init", 5),
			fds: map[string]string{
				"0": "/dev/null", "1": "pipe:[100]", "2": "anon_inode:[eventpoll]",
				"3": "socket:[1000]", "4": "socket:[2000]", "10": "socket:[1000]",
			},
		},
		fxProc{
			pid: "20", comm: strp("we)ird (name,\nx\n"),
			status: statusText("weird", [4]uint32{1000, 1001, 1002, 1003}),
			stat:   statLine("20", "we) 9 9 (ird", 777),
			fds:    map[string]string{"7": "socket:[2000]", "8": "socket:[3000]"},
		},
		fxProc{
			// No status, stat or ns/net: fallbacks. Non-numeric fd names
			// are ignored.
			pid: "300", comm: strp(""),
			fds: map[string]string{"3": "socket:[18446744073709551615]", "foo": "socket:[5]", "04": "socket:[6]"},
		},
		// Vanished: no fd directory.
		fxProc{pid: "4000", comm: strp("gone\n"), status: statusText("gone", [4]uint32{})},
		// Vanished before comm could be read.
		fxProc{pid: "4001"},
		// Thread-group leader gone: a zombie without an fd directory.
		fxProc{
			pid: "50", comm: strp("zombie\n"),
			status: strings.Replace(statusText("zombie", [4]uint32{}), "S (sleeping)", "Z (zombie)", 1),
		},
		// Bad links, and a plain file where a link should be.
		fxProc{
			pid: "60", comm: strp("bad\n"),
			fds:   badLinkFDs(),
			files: map[string]string{"99": "not a link"},
		},
	)
	addNonProcessEntries(t, root)

	tab, err := walk(t, Options{ProcRoot: root, Workers: 2})
	require.NoError(t, err)

	netns1 := inodeOf(t, filepath.Join(root, "1", "ns", "net"))
	require.Equal(t, []Process{
		{PID: 1, Name: "init", UID: 0, NetNS: netns1, StartTime: 5},
		{PID: 20, Name: "we)ird (name,\nx", UID: 1001, StartTime: 777},
		// 60 holds no socket: walked and counted, not listed.
		{PID: 300, Name: "", UID: uidOf(t, filepath.Join(root, "300"))},
	}, tab.Procs)
	require.Equal(t, []Owner{
		{Inode: 1000, PID: 1, FD: 3, Proc: 0},
		{Inode: 1000, PID: 1, FD: 10, Proc: 0},
		{Inode: 2000, PID: 1, FD: 4, Proc: 0},
		{Inode: 2000, PID: 20, FD: 7, Proc: 1},
		{Inode: 3000, PID: 20, FD: 8, Proc: 1},
		{Inode: 18446744073709551615, PID: 300, FD: 3, Proc: 2},
	}, tab.Owners)
	require.Equal(t, Stats{
		Processes: 4,
		Gone:      3,
		FDs:       6 + 2 + 1 + len(badTargets),
		Sockets:   6,
		BadLinks:  len(badTargets),
	}, tab.Stats)

	i, j := tab.Lookup(2000)
	require.Equal(t, []Owner{{2000, 1, 4, 0}, {2000, 20, 7, 1}}, tab.Owners[i:j])
	require.Equal(t, "we)ird (name,\nx", tab.Procs[tab.Owners[i+1].Proc].Name)
	i, j = tab.Lookup(1500)
	require.Equal(t, i, j)
}

func badLinkFDs() map[string]string {
	m := make(map[string]string, len(badTargets))
	for i, target := range badTargets {
		m[fmt.Sprint(100+i)] = target
	}
	return m
}

func TestWalkBadLinks(t *testing.T) {
	for _, target := range append(badTargets, "socket:[1]") {
		t.Run(fmt.Sprintf("%.40q", target), func(t *testing.T) {
			root := buildTree(t, fxProc{pid: "7", comm: strp("p\n"), fds: map[string]string{
				"1": target, "2": "pipe:[1]", "3": "/tmp/socket:[1]",
			}})
			tab, err := walk(t, Options{ProcRoot: root})
			require.NoError(t, err)
			require.Equal(t, 3, tab.Stats.FDs)
			if target == "socket:[1]" {
				require.Equal(t, []Owner{{Inode: 1, PID: 7, FD: 1}}, tab.Owners)
				require.Zero(t, tab.Stats.BadLinks)
				return
			}
			require.Empty(t, tab.Owners)
			require.Equal(t, 1, tab.Stats.BadLinks)
		})
	}
}

// TestWalkDeterministic walks the same tree with several worker counts and
// requires the same table each time, and on a second walk of one resolver.
func TestWalkDeterministic(t *testing.T) {
	var procs []fxProc
	for p := 1; p <= 40; p++ {
		fds := map[string]string{}
		for fd := range 30 {
			// Inodes shared across processes and duplicated within one.
			fds[fmt.Sprint(fd)] = fmt.Sprintf("socket:[%d]", (p*7+fd)%50)
		}
		procs = append(procs, fxProc{pid: fmt.Sprint(p), comm: strp(fmt.Sprintf("p%d\n", p)), fds: fds})
	}
	root := buildTree(t, procs...)

	want, err := walk(t, Options{ProcRoot: root, Workers: 1})
	require.NoError(t, err)
	require.Len(t, want.Owners, 40*30)
	require.Len(t, want.Procs, 40)
	for _, workers := range []int{0, 2, 3, 16, 100} {
		r, err := New(Options{ProcRoot: root, Workers: workers})
		require.NoError(t, err)
		for range 2 {
			got, err := r.Walk(context.Background())
			require.NoError(t, err)
			require.Equal(t, want, got, "workers=%d", workers)
		}
	}
	for k, o := range want.Owners {
		require.Equal(t, o.PID, want.Procs[o.Proc].PID)
		if k > 0 {
			require.Negative(t, compareOwners(want.Owners[k-1], o))
		}
	}
}

func TestWalkMatch(t *testing.T) {
	root := buildTree(t,
		fxProc{pid: "1", comm: strp("keep me\n"), fds: map[string]string{"3": "socket:[1]", "4": "pipe:[9]"}},
		// Not matched: its fd directory holds sockets, a bad link and a
		// plain file, all of which would show in the counters if it were
		// opened.
		fxProc{pid: "2", comm: strp("drop\n"), fds: map[string]string{
			"3": "socket:[2]", "4": "socket:[x]", "5": "socket:[2]",
		}, files: map[string]string{"6": ""}},
		fxProc{pid: "3", comm: strp("keep me\n"), fds: map[string]string{"3": "socket:[3]"}},
	)
	var (
		mu    sync.Mutex
		names []string
	)
	tab, err := walk(t, Options{ProcRoot: root, Match: func(name string) bool {
		mu.Lock()
		defer mu.Unlock()
		names = append(names, name)
		return name == "keep me"
	}})
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"keep me", "drop", "keep me"}, names)
	require.Equal(t, []Owner{{1, 1, 3, 0}, {3, 3, 3, 1}}, tab.Owners)
	require.Equal(t, Stats{Processes: 2, Skipped: 1, FDs: 3, Sockets: 2}, tab.Stats)
	require.Equal(t, []int32{1, 3}, []int32{tab.Procs[0].PID, tab.Procs[1].PID})
}

// TestWalkHuge walks a 50k-entry fd directory and checks that a warm walk's
// memory does not grow with the fd count.
func TestWalkHuge(t *testing.T) {
	if testing.Short() {
		t.Skip("builds 50k symlinks")
	}
	const n = 50_000
	root := fixtureDir(t)
	writeTree(t, root, fxProc{pid: "1", comm: strp("small\n"), fds: map[string]string{"3": "socket:[42]"}})
	dir := filepath.Join(root, "2", "fd")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(root, "2", "comm"), []byte("huge\n"), 0o644))
	for fd := range n {
		target := "pipe:[1]"
		if fd%10 == 0 {
			target = fmt.Sprintf("socket:[%d]", 100000+fd)
		}
		require.NoError(t, os.Symlink(target, filepath.Join(dir, fmt.Sprint(fd))))
	}

	t.Run("unlimited", func(t *testing.T) {
		// One worker: with several, the huge process may land on a
		// worker whose owner slice has not grown yet.
		r, err := New(Options{ProcRoot: root, Workers: 1})
		require.NoError(t, err)
		tab, err := r.Walk(context.Background())
		require.NoError(t, err)
		require.Equal(t, Stats{Processes: 2, FDs: n + 1, Sockets: n/10 + 1}, tab.Stats)
		require.Len(t, tab.Owners, n/10+1)

		// A warm walk reuses every buffer: what it allocates does not
		// depend on the 50k fds (a few strings per process and the
		// worker goroutines).
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		tab, err = r.Walk(context.Background())
		runtime.ReadMemStats(&after)
		require.NoError(t, err)
		require.Len(t, tab.Owners, n/10+1)
		require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(16<<10))
		require.Less(t, after.Mallocs-before.Mallocs, uint64(100))
	})
}

func TestWalkContext(t *testing.T) {
	var procs []fxProc
	for p := 1; p <= 5; p++ {
		procs = append(procs, fxProc{pid: fmt.Sprint(p), comm: strp("p\n"), fds: map[string]string{"3": fmt.Sprintf("socket:[%d]", p)}})
	}
	big := map[string]string{}
	for fd := range 5000 {
		big[fmt.Sprint(fd)] = "socket:[9]"
	}
	procs = append(procs, fxProc{pid: "6", comm: strp("big\n"), fds: big})
	root := buildTree(t, procs...)

	t.Run("expired deadline", func(t *testing.T) {
		ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
		defer cancel()
		r, err := New(Options{ProcRoot: root})
		require.NoError(t, err)
		tab, err := r.Walk(ctx)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.EqualError(t, err, "walk stopped after 0 of 6 processes: context deadline exceeded")
		require.NotNil(t, tab)
		require.Empty(t, tab.Owners)
		require.Zero(t, tab.Stats.Processes)
		require.Equal(t, 6, tab.Stats.Stopped)
		require.Len(t, tab.Unwalked, 6, "no process was reached")
		for i, u := range tab.Unwalked {
			require.Equal(t, Unwalked{PID: int32(i + 1), Reason: Stopped}, u)
		}
	})

	t.Run("cancelled inside a huge fd directory", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		// Match runs before the fd directory is read: cancel there, on
		// the big process, with one worker so the order is known.
		r, err := New(Options{ProcRoot: root, Workers: 1, Match: func(name string) bool {
			if name == "big" {
				cancel()
			}
			return true
		}})
		require.NoError(t, err)
		tab, err := r.Walk(ctx)
		require.ErrorIs(t, err, context.Canceled)
		require.EqualError(t, err, "walk stopped after 5 of 6 processes: context canceled")
		// The five small ones are complete; the big one stopped before
		// its first batch.
		require.Len(t, tab.Owners, 5)
		require.Equal(t, 5, tab.Stats.FDs)
		require.Equal(t, 6, tab.Stats.Processes)
		require.Equal(t, 1, tab.Stats.Stopped)
		require.Equal(t, []Unwalked{{PID: 6, Reason: Stopped}}, tab.Unwalked, "the big one was cut short")
	})
}

func TestWalkProcRootErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope")
	tab, err := walk(t, Options{ProcRoot: missing})
	require.ErrorContains(t, err, fmt.Sprintf("opening proc root %q", missing))
	require.ErrorIs(t, err, os.ErrNotExist)
	require.NotNil(t, tab)
	require.Empty(t, tab.Owners)
	require.Empty(t, tab.Procs)

	file := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	tab, err = walk(t, Options{ProcRoot: file})
	require.ErrorContains(t, err, "opening proc root")
	require.NotNil(t, tab)
}

// TestWalkFailed covers errors that are neither a race nor a denial: they
// are counted and reported once, and the rest of the walk goes on.
func TestWalkFailed(t *testing.T) {
	root := buildTree(t,
		fxProc{pid: "1", comm: strp("ok\n"), fds: map[string]string{"3": "socket:[1]"}},
		fxProc{pid: "2", comm: strp("odd\n"), stat: statLine("2", "odd", 99)},
	)
	// An fd "directory" that is a file: ENOTDIR.
	require.NoError(t, os.WriteFile(filepath.Join(root, "2", "fd"), nil, 0o644))
	tab, err := walk(t, Options{ProcRoot: root})
	require.EqualError(t, err, fmt.Sprintf("1 process could not be walked (first: open %s/2/fd: not a directory)", root))
	require.Equal(t, Stats{Processes: 1, Failed: 1, FDs: 1, Sockets: 1}, tab.Stats)
	require.Len(t, tab.Owners, 1)
	require.Equal(t, []Unwalked{{PID: 2, StartTime: 99, Reason: Failed}}, tab.Unwalked)
}

// A process whose descriptors were read but whose start time or namespace
// could not be (here a stat that is a directory: EISDIR; in life EMFILE or
// EIO) fails: a start time of 0 would read as a new process on the pid.
func TestWalkMetaFailed(t *testing.T) {
	root := buildTree(t,
		fxProc{pid: "1", comm: strp("ok\n"), fds: map[string]string{"3": "socket:[1]"}},
		fxProc{pid: "2", comm: strp("odd\n"), fds: map[string]string{"3": "socket:[2]"}},
	)
	require.NoError(t, os.Mkdir(filepath.Join(root, "2", "stat"), 0o755))
	tab, err := walk(t, Options{ProcRoot: root})
	require.EqualError(t, err, fmt.Sprintf("1 process could not be walked (first: open %s/2/stat: is a directory)", root))
	require.Equal(t, Stats{Processes: 1, Failed: 1, FDs: 2, Sockets: 1}, tab.Stats)
	require.Equal(t, []Owner{{Inode: 1, PID: 1, FD: 3}}, tab.Owners, "the failed process's owners are dropped")
	require.Equal(t, []Unwalked{{PID: 2, Reason: Failed}}, tab.Unwalked)
}

func TestNew(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		err  string
	}{
		{"ok", Options{ProcRoot: "/proc"}, ""},
		{"no proc root", Options{}, "proc root is required"},
		{"negative workers", Options{ProcRoot: "/proc", Workers: -1}, "workers -1: must be 0 or more"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := New(tt.opts)
			if tt.err != "" {
				require.EqualError(t, err, tt.err)
				require.Nil(t, r)
				return
			}
			require.NoError(t, err)
			require.NotNil(t, r)
		})
	}
}

func TestDeniedErrorMessage(t *testing.T) {
	first := &os.PathError{Op: "open", Path: "/proc/1234/fd", Err: errors.New("permission denied")}
	require.EqualError(t, &DeniedError{Processes: 12, First: first},
		"12 processes not readable: permission denied (first: open /proc/1234/fd: permission denied)")
	require.EqualError(t, &DeniedError{Processes: 1, First: first},
		"1 process not readable: permission denied (first: open /proc/1234/fd: permission denied)")
	require.ErrorIs(t, &DeniedError{Processes: 1, First: first}, first)
}

func TestWalkCgroup(t *testing.T) {
	const cgroup = "0::/system.slice/docker-4f3c2b1a.scope\n"
	root := buildTree(t, fxProc{pid: "10", comm: strp("app"), fds: map[string]string{"3": "socket:[42]"}})
	require.NoError(t, os.WriteFile(filepath.Join(root, "10", "cgroup"), []byte(cgroup), 0o644))

	for _, want := range []bool{false, true} {
		r, err := New(Options{ProcRoot: root, Cgroup: want})
		require.NoError(t, err)
		tab, err := r.Walk(context.Background())
		require.NoError(t, err)
		require.Len(t, tab.Procs, 1)
		if want {
			require.Equal(t, cgroup, tab.Procs[0].Cgroup)
		} else {
			require.Empty(t, tab.Procs[0].Cgroup, "read only when asked")
		}
	}
}

// A leader thread that exited while another thread runs leaves an empty fd
// directory and no ns/net: the descriptors and the namespace are read
// through the live thread. A kernel thread's fd directory is empty too,
// with no other thread, and a plain zombie has no other thread either.
func TestWalkExitedLeader(t *testing.T) {
	root := buildTree(t,
		fxProc{
			pid: "70", comm: strp("java\n"),
			status: statusText("java", [4]uint32{5, 5, 5, 5}),
			stat:   strings.Replace(statLine("70", "java", 4242), ") S ", ") Z ", 1),
			fds:    map[string]string{},
		},
		fxProc{pid: "2", comm: strp("kthreadd\n"), fds: map[string]string{}},
		fxProc{pid: "80", comm: strp("defunct\n"), fds: map[string]string{}},
	)
	for _, dir := range []string{"70/task/70/fd", "70/task/71/fd", "70/task/71/ns", "2/task/2/fd", "80/task/80/fd"} {
		require.NoError(t, os.MkdirAll(filepath.Join(root, dir), 0o755))
	}
	require.NoError(t, os.Symlink("socket:[7000]", filepath.Join(root, "70/task/71/fd/5")))
	require.NoError(t, os.WriteFile(filepath.Join(root, "70/task/71/ns/net"), nil, 0o644))

	tab, err := walk(t, Options{ProcRoot: root})
	require.NoError(t, err)
	require.Equal(t, []Process{
		{PID: 70, Name: "java", UID: 5, NetNS: inodeOf(t, filepath.Join(root, "70/task/71/ns/net")), StartTime: 4242},
	}, tab.Procs)
	require.Equal(t, []Owner{{Inode: 7000, PID: 70, FD: 5, Proc: 0}}, tab.Owners)
	require.Equal(t, Stats{Processes: 3, FDs: 1, Sockets: 1, ExitedLeaders: 1}, tab.Stats)
}
