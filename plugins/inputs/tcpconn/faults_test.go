//go:build linux

package tcpconn

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/influxdata/telegraf/config"
	"github.com/influxdata/telegraf/plugins/inputs"
	"github.com/influxdata/telegraf/testutil"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/tcpconn/telegraf-tcpconn/internal/testchild"
)

// The fault matrix of issue 15. Each case gathers twice, with every
// measurement on and the fault only in the second gather, alone and with a
// process the agent may never read (a denial, which an unprivileged agent
// always has). The gathers run in a child process as uid 65534, so that
// permissions are real. The second gather must not report a closed socket
// that is still in its table, nor an opened one that existed before, nor
// change a summary, and must report exactly one error, which names the
// fault.

// faultsEnv switches the test binary into the gatherer of the matrix; its
// plan is the JSON in faultsPlanEnv.
const (
	faultsEnv     = "TCPCONN_TEST_FAULTS"
	faultsPlanEnv = "TCPCONN_TEST_FAULTS_PLAN"
)

// faultPlan tells the gatherer how to gather, and which faults to make
// itself after the first gather: those that need its own process.
type faultPlan struct {
	ProcRoot       string
	Namespaces     string
	ProcessNames   []string
	SummaryGroupBy []string
	Timeout        time.Duration

	// Faults of the gatherer, in the second gather only.
	RlimitSlack int    // > 0: RLIMIT_NOFILE leaves this many descriptors free
	SlowAt      string // the walk sleeps past the deadline at this process
	KillAt      string // the walk kills KillPID at this process, and waits for its end
	KillPID     int
	StallAfter  int // > 0: table reads sleep past the deadline after this many bytes
	FailAfter   int // > 0: table reads fail with EIO after this many bytes
}

// faultGathers is what the gatherer reports: each gather's metrics, as
// line protocol, and errors. The first gather is before the fault, the
// other two during it: a fault that lasts must prove no more the second
// time (a socket that a walked process holds survives one missing row).
type faultGathers struct {
	Metrics [3]string
	Errors  [3][]string
	// Kills says, for each kill of KillAt, what the walk waited for: a
	// failure's report of how the process ended.
	Kills []string
}

// gatherFaults is the gatherer: gather, say so, wait for the parent to make
// its fault, make its own, gather again, report.
func gatherFaults() {
	fail := func(err error) {
		fmt.Println("error", err)
		os.Exit(1)
	}
	var plan faultPlan
	if err := json.Unmarshal([]byte(os.Getenv(faultsPlanEnv)), &plan); err != nil {
		fail(err)
	}
	p := inputs.Inputs["tcpconn"]().(*TCPConn)
	p.ProcRoot, p.Namespaces, p.ProcessNames = plan.ProcRoot, plan.Namespaces, plan.ProcessNames
	p.Metrics = []string{"connection", "event", "summary"}
	p.SummaryGroupBy = plan.SummaryGroupBy
	p.IncludeUnowned = true
	p.Timeout = config.Duration(plan.Timeout)
	p.Log = testutil.Logger{Quiet: true}
	var faulty bool
	var out faultGathers
	gathering := 0
	p.beforeWalk = func(name string) {
		switch {
		case !faulty:
		case name == plan.SlowAt:
			time.Sleep(plan.Timeout + 100*time.Millisecond)
		case name == plan.KillAt:
			killErr := syscall.Kill(plan.KillPID, syscall.SIGKILL)
			// Until the kernel has closed its files: once its last thread
			// has exited, only the zombie leader is left.
			polls, ended := 0, "not within 5 s"
			for range 500 {
				polls++
				tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", plan.KillPID))
				stat, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", plan.KillPID))
				if err != nil {
					ended = fmt.Sprintf("gone (%v)", err)
					break
				}
				if len(tasks) == 1 && bytes.Contains(stat, []byte(") Z ")) {
					ended = "a zombie"
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			out.Kills = append(out.Kills, fmt.Sprintf("gather %d: killed %s %d (kill: %v), %s after %d polls", gathering, name, plan.KillPID, killErr, ended, polls))
		}
	}
	if err := p.Init(); err != nil {
		fail(err)
	}
	gather := func(i int) {
		gathering = i
		var acc testutil.Accumulator
		if err := p.Gather(&acc); err != nil {
			acc.AddError(err)
		}
		out.Metrics[i] = strings.Join(canonical(acc.GetTelegrafMetrics()), "\n") + "\n"
		for _, err := range acc.Errors {
			out.Errors[i] = append(out.Errors[i], err.Error())
		}
	}
	gather(0)
	fmt.Println("gathered")
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		fail(err)
	}
	faulty = true
	if plan.StallAfter > 0 || plan.FailAfter > 0 {
		p.procfs.wrap = func(r io.Reader) io.Reader {
			return &faultyReader{r: r, stallAfter: plan.StallAfter, stall: plan.Timeout + 100*time.Millisecond, failAfter: plan.FailAfter}
		}
	}
	if plan.RlimitSlack > 0 {
		// Make the runtime's poller first, which a file open would
		// otherwise need an fd for.
		r, w, err := os.Pipe()
		if err != nil {
			fail(err)
		}
		defer r.Close()
		defer w.Close()
		limit, err := freeSlotsLimit(plan.RlimitSlack)
		if err != nil {
			fail(err)
		}
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: limit, Max: limit}); err != nil {
			fail(err)
		}
	}
	gather(1)
	gather(2)
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fail(err)
	}
}

// freeSlotsLimit is the RLIMIT_NOFILE under which exactly n descriptor
// numbers are free. The limit bounds numbers, not a count: a descriptor
// inherited above it (a shell's 251, say) leaves one more slot free below
// it, so counting open descriptors would make the fault depend on the
// caller's environment.
func freeSlotsLimit(n int) (uint64, error) {
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 0, err
	}
	open := make(map[int]bool, len(fds))
	for _, f := range fds {
		var fd int
		if _, err := fmt.Sscan(f.Name(), &fd); err != nil {
			return 0, err
		}
		// ReadDir's own descriptor is closed by now.
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err == nil {
			open[fd] = true
		}
	}
	fd := 0
	for free := 0; ; fd++ {
		if !open[fd] {
			if free++; free == n {
				return uint64(fd + 1), nil
			}
		}
	}
}

// faultyReader reads r, then, after a number of bytes, sleeps once or
// fails with EIO: a table the deadline or the disk cuts short.
type faultyReader struct {
	r                     io.Reader
	n                     int
	stallAfter, failAfter int
	stall                 time.Duration
	stalled               bool
}

func (f *faultyReader) Read(p []byte) (int, error) {
	if f.failAfter > 0 && f.n >= f.failAfter {
		return 0, &os.PathError{Op: "read", Path: "table", Err: syscall.EIO}
	}
	if f.stallAfter > 0 && f.n >= f.stallAfter && !f.stalled {
		f.stalled = true
		time.Sleep(f.stall)
	}
	limit := len(p)
	for _, at := range []int{f.stallAfter, f.failAfter} {
		if at > f.n {
			limit = min(limit, at-f.n)
		}
	}
	n, err := f.r.Read(p[:limit])
	f.n += n
	return n, err
}

// faultTree is the fixture proc tree of the matrix, readable by 65534: a
// host network namespace with a server, a client, the victim of the fault
// and an IPv6 listener, a container namespace with a web server, 3000
// TIME_WAIT rows (so that a table is long enough to be cut short), and with
// a denial, a process whose fd directory 65534 may not read.
type faultTree struct {
	t    *testing.T
	root string
	// ns are the namespaces: their tables, and the pids in them.
	ns map[string]*fxNamespace
}

type fxNamespace struct {
	tcp, tcp6 []fxRow6
	pids      []int
}

// fxRow6 is a fixture row of either family.
type fxRow6 struct {
	local, remote string // "ip:port"
	state         uint8
	inode         uint64
}

func newFaultTree(t *testing.T, denial bool) *faultTree {
	ft := &faultTree{t: t, root: filepath.Join(sharedTempDir(t), "proc"), ns: map[string]*fxNamespace{}}
	host := &fxNamespace{
		tcp: []fxRow6{
			{"0.0.0.0:8080", "0.0.0.0:0", 0x0A, 100},
			{"0.0.0.0:9090", "0.0.0.0:0", 0x0A, 300},
			{"10.0.0.1:8080", "10.0.0.2:50000", 0x01, 101},
			{"10.0.0.1:40000", "10.0.0.9:443", 0x01, 102},
		},
		tcp6: []fxRow6{{"[::]:22", "[::]:0", 0x0A, 600}},
	}
	for i := range 3000 {
		host.tcp = append(host.tcp, fxRow6{fmt.Sprintf("10.0.0.1:%d", 20000+i), "10.0.0.7:443", 0x06, 0})
	}
	// Last, so that a table cut short misses it.
	host.tcp = append(host.tcp, fxRow6{"10.0.0.1:9090", "10.0.0.3:51000", 0x08, 301})
	ft.ns["host"] = host
	ft.ns["box"] = &fxNamespace{tcp: []fxRow6{{"0.0.0.0:80", "0.0.0.0:0", 0x0A, 700}}}
	ft.process("host", 10, "server", 1000, map[int]uint64{3: 100, 4: 101})
	ft.process("host", 20, "client", 2000, map[int]uint64{5: 102})
	ft.process("host", 30, "victim", 3000, map[int]uint64{3: 300, 4: 301})
	ft.process("host", 40, "six", 4000, map[int]uint64{3: 600})
	ft.process("box", 60, "web", 6000, map[int]uint64{3: 700})
	if denial {
		host.tcp = append(host.tcp, fxRow6{"0.0.0.0:5432", "0.0.0.0:0", 0x0A, 500})
		ft.process("host", 50, "secret", 5000, map[int]uint64{3: 500})
		require.NoError(t, os.Chmod(filepath.Join(ft.root, "50", "fd"), 0o700), "root's, 65534 may not list it")
	}
	// The agent is in the host namespace.
	require.NoError(t, os.MkdirAll(filepath.Join(ft.root, "self", "ns"), 0o755))
	require.NoError(t, os.Link(ft.nsFile("host"), filepath.Join(ft.root, "self", "ns", "net")))
	require.NoError(t, os.MkdirAll(filepath.Join(ft.root, "sys/net/ipv4"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(ft.root, "sys/net/ipv4/ip_local_port_range"), []byte("32768\t60999\n"), 0o644))
	ft.writeTables()
	return ft
}

func (ft *faultTree) nsFile(ns string) string {
	path := filepath.Join(ft.root, "ns", ns)
	if _, err := os.Stat(path); err != nil {
		require.NoError(ft.t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(ft.t, os.WriteFile(path, nil, 0o644))
	}
	return path
}

// process writes a process of namespace ns: comm, stat, ns/net (a link to
// the namespace's file, so all its processes share an inode) and its fds.
func (ft *faultTree) process(ns string, pid int, name string, start int, fds map[int]uint64) {
	dir := filepath.Join(ft.root, fmt.Sprint(pid))
	require.NoError(ft.t, os.MkdirAll(filepath.Join(dir, "fd"), 0o755))
	require.NoError(ft.t, os.MkdirAll(filepath.Join(dir, "ns"), 0o755))
	require.NoError(ft.t, os.MkdirAll(filepath.Join(dir, "net"), 0o755))
	require.NoError(ft.t, os.WriteFile(filepath.Join(dir, "comm"), []byte(name+"\n"), 0o644))
	stat := fmt.Sprintf("%d (%s) S 1 %d %d 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 %d 0 0\n", pid, name, pid, pid, start)
	require.NoError(ft.t, os.WriteFile(filepath.Join(dir, "stat"), []byte(stat), 0o644))
	require.NoError(ft.t, os.Link(ft.nsFile(ns), filepath.Join(dir, "ns", "net")))
	for fd, inode := range fds {
		require.NoError(ft.t, os.Symlink(fmt.Sprintf("socket:[%d]", inode), filepath.Join(dir, "fd", fmt.Sprint(fd))))
	}
	ft.ns[ns].pids = append(ft.ns[ns].pids, pid)
}

// writeTables writes each namespace's tables: the host's under net/, and
// every namespace's under each of its processes' net/.
func (ft *faultTree) writeTables() {
	for name, ns := range ft.ns {
		var dirs []string
		if name == "host" {
			dirs = append(dirs, filepath.Join(ft.root, "net"))
		}
		for _, pid := range ns.pids {
			dirs = append(dirs, filepath.Join(ft.root, fmt.Sprint(pid), "net"))
		}
		for _, dir := range dirs {
			require.NoError(ft.t, os.MkdirAll(dir, 0o755))
			require.NoError(ft.t, os.WriteFile(filepath.Join(dir, "tcp"), kernelTable(ft.t, false, ns.tcp), 0o644))
			require.NoError(ft.t, os.WriteFile(filepath.Join(dir, "tcp6"), kernelTable(ft.t, true, ns.tcp6), 0o644))
		}
	}
}

// kernelTable prints rows as the kernel does on a little-endian host.
func kernelTable(t *testing.T, v6 bool, rows []fxRow6) []byte {
	var b bytes.Buffer
	b.WriteString("  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n")
	addr := func(s string) string {
		ap := netip.MustParseAddrPort(s)
		a := ap.Addr().As16()
		if !v6 {
			require.True(t, ap.Addr().Is4())
			a4 := ap.Addr().As4()
			return fmt.Sprintf("%08X:%04X", binary.LittleEndian.Uint32(a4[:]), ap.Port())
		}
		var h string
		for w := 0; w < 16; w += 4 {
			h += fmt.Sprintf("%08X", binary.LittleEndian.Uint32(a[w:w+4]))
		}
		return fmt.Sprintf("%s:%04X", h, ap.Port())
	}
	for i, r := range rows {
		fmt.Fprintf(&b, "%4d: %s %s %02X 00000000:00000000 00:00000000 00000000     0        0 %d 1 0000000000000000 20 4 30 10 -1\n",
			i, addr(r.local), addr(r.remote), r.state, r.inode)
	}
	return b.Bytes()
}

// sharedTempDir is a temporary directory that uid 65534 may read.
func sharedTempDir(t *testing.T) string {
	dir, err := os.MkdirTemp("", "tcpconn-faults-") //nolint:usetesting // t.TempDir's parent is mode 0700
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	return dir
}

// nobodyBinary is a copy of the test binary that uid 65534 can run.
func nobodyBinary(t *testing.T) string {
	self, err := os.Executable()
	require.NoError(t, err)
	data, err := os.ReadFile(self)
	require.NoError(t, err)
	exe := filepath.Join(sharedTempDir(t), "tcpconn.test")
	require.NoError(t, os.WriteFile(exe, data, 0o755))
	return exe
}

// runFaults runs a gatherer (as 65534 when nobody is set) with plan, makes
// the parent's part of the fault between its gathers, and returns what it
// saw.
func runFaults(t *testing.T, exe string, nobody bool, plan faultPlan, fault func()) faultGathers {
	t.Helper()
	b, err := json.Marshal(plan)
	require.NoError(t, err)
	cmd := exec.Command(exe, "-test.run=^$")
	// One worker: the EMFILE case counts the gatherer's descriptors.
	cmd.Env = append(os.Environ(), faultsEnv+"=1", faultsPlanEnv+"="+string(b), "GOMAXPROCS=1")
	if nobody {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	}
	cmd.Stderr = os.Stderr
	stdin, stdout := testchild.Start(t, cmd)
	line, err := stdout.ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "gathered\n", line)
	if fault != nil {
		fault()
	}
	_, err = io.WriteString(stdin, "go\n")
	require.NoError(t, err)
	var out faultGathers
	require.NoError(t, json.NewDecoder(stdout).Decode(&out))
	return out
}

// requireNothingChanged checks the rules in each gather with the fault: no
// event at all (nothing changed but the fault), the same summaries as
// before it, and exactly the errors want, one per fault; the capability
// hint only on a denial.
func requireNothingChanged(t *testing.T, out faultGathers, want []string) {
	t.Helper()
	summaries := func(metrics string) []string {
		var s []string
		for line := range strings.Lines(metrics) {
			if strings.HasPrefix(line, measurementSummary+",") {
				s = append(s, line)
			}
			require.False(t, strings.HasPrefix(line, measurementEvent+","), "an event: %s", line)
		}
		slices.Sort(s)
		return s
	}
	before := summaries(out.Metrics[0])
	require.NotEmpty(t, before)
	for g := 1; g < len(out.Metrics); g++ {
		require.Equal(t, before, summaries(out.Metrics[g]), "the summaries changed in gather %d", g+1)
		errs := out.Errors[g]
		require.Len(t, errs, len(want), "errors of gather %d: %q", g+1, errs)
		for i, w := range orderLike(errs, want) {
			require.Contains(t, errs[i], w)
		}
	}
	for _, errs := range out.Errors {
		for _, err := range errs {
			require.Equal(t, strings.Contains(err, "permission denied"), strings.Contains(err, "run as root, or grant CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH"),
				"the hint follows a denial, and only a denial: %q", err)
		}
	}
}

func TestFaultMatrix(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("the fault matrix gathers as uid 65534 and makes root's fixtures: run it as root (CI does)")
	}
	exe := nobodyBinary(t)
	const timeout = 500 * time.Millisecond
	cases := []struct {
		name string
		// plan sets the gatherer's faults; fault makes the parent's. Both
		// apply to the second gather only.
		plan  func(p *faultPlan)
		fault func(ft *faultTree)
		// err is what the one error of the fault says, given the tree's
		// root; "" for a fault that is no error.
		err func(ft *faultTree) string
		all bool // with namespaces = "all" only
		// replaces is set for a fault that takes the denial's place in
		// the errors: the denied process is then walked into the fault,
		// or never reached.
		replaces bool
	}{
		{
			name:     "EACCES on an fd directory",
			fault:    func(ft *faultTree) { require.NoError(t, os.Chmod(filepath.Join(ft.root, "30", "fd"), 0o700)) },
			err:      func(*faultTree) string { return "not readable: permission denied" },
			replaces: true, // one denial error, counting both
		},
		{
			name: "ENOTDIR",
			fault: func(ft *faultTree) {
				require.NoError(t, os.RemoveAll(filepath.Join(ft.root, "30", "fd")))
				require.NoError(t, os.WriteFile(filepath.Join(ft.root, "30", "fd"), nil, 0o644))
			},
			err: func(ft *faultTree) string {
				return fmt.Sprintf("could not be walked (first: open %s/30/fd: not a directory)", ft.root)
			},
		},
		{
			name: "EMFILE while walking",
			// Three free: the proc root, a process's directory, then its
			// comm and its fd directory, one after the other; its status
			// is the fourth. A denied fd directory still gets EACCES,
			// as the kernel takes a descriptor number before it checks
			// the path.
			plan: func(p *faultPlan) { p.RlimitSlack = 3 },
			err: func(ft *faultTree) string {
				return fmt.Sprintf("could not be walked (first: open %s/10/status: too many open files)", ft.root)
			},
		},
		{
			name:     "deadline hit mid-walk",
			plan:     func(p *faultPlan) { p.SlowAt = "victim" },
			err:      func(*faultTree) string { return fmt.Sprintf("timeout %s: walk stopped after", timeout) },
			replaces: true, // the walk stops before pid 50
		},
		{
			name: "deadline hit mid-table",
			plan: func(p *faultPlan) { p.StallAfter = 4000 },
			err:  func(*faultTree) string { return fmt.Sprintf("timeout %s: stopped reading", timeout) },
		},
		{
			name: "I/O error mid-table",
			plan: func(p *faultPlan) { p.FailAfter = 4000 },
			err:  func(*faultTree) string { return "input/output error" },
		},
		{
			name: "malformed and duplicated rows",
			fault: func(ft *faultTree) {
				host := ft.ns["host"]
				host.tcp = append(host.tcp, host.tcp[0], host.tcp[2])
				ft.writeTables()
				// The row of 102, still in the kernel's table, cut into
				// garbage: a socket the gather cannot read, not one gone.
				for _, dir := range []string{"net", "10/net", "20/net", "30/net", "40/net"} {
					path := filepath.Join(ft.root, dir, "tcp")
					b, err := os.ReadFile(path)
					require.NoError(t, err)
					i := bytes.Index(b, []byte("0100000A:9C40"))
					require.Positive(t, i)
					copy(b[i:], "0100000Z")
					require.NoError(t, os.WriteFile(path, b, 0o644))
				}
			},
			err: func(*faultTree) string { return "skipped 1 malformed rows" },
		},
		{
			name: "a network namespace that vanishes between walk and read",
			// Its one process is walked, then its net/ is gone.
			fault: func(ft *faultTree) { require.NoError(t, os.RemoveAll(filepath.Join(ft.root, "60", "net"))) },
			err:   func(*faultTree) string { return "every process gone" },
			all:   true,
		},
		{
			name: "a missing tcp6",
			fault: func(ft *faultTree) {
				for _, dir := range []string{"net", "10/net", "20/net", "30/net", "40/net"} {
					require.NoError(t, os.Remove(filepath.Join(ft.root, dir, "tcp6")))
				}
			},
			err: func(*faultTree) string { return "reading tcp6 table" },
		},
	}
	for _, tc := range cases {
		for _, namespaces := range []string{"host", "all"} {
			if tc.all && namespaces != "all" {
				continue
			}
			for _, denial := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/namespaces=%s/denial=%v", tc.name, namespaces, denial), func(t *testing.T) {
					ft := newFaultTree(t, denial)
					plan := faultPlan{ProcRoot: ft.root, Namespaces: namespaces, Timeout: timeout,
						SummaryGroupBy: []string{"process_name", "state", "local_port", "family"}}
					if tc.plan != nil {
						tc.plan(&plan)
					}
					out := runFaults(t, exe, true, plan, func() {
						if tc.fault != nil {
							tc.fault(ft)
						}
					})
					var want []string
					if denial {
						require.Len(t, out.Errors[0], 1, "the first gather: the denial only: %q", out.Errors[0])
						require.Contains(t, out.Errors[0][0], "1 process not readable: permission denied")
						if !tc.replaces {
							want = append(want, "1 process not readable")
						}
					} else {
						require.Empty(t, out.Errors[0], "the first gather")
					}
					want = append(want, tc.err(ft))
					requireNothingChanged(t, out, want)
				})
			}
		}
	}
}

// orderLike orders want as the errors that contain each one come in got,
// so that a failure says which is missing rather than which is late.
func orderLike(got, want []string) []string {
	out := slices.Clone(want)
	slices.SortStableFunc(out, func(a, b string) int {
		ia := slices.IndexFunc(got, func(g string) bool { return strings.Contains(g, a) })
		ib := slices.IndexFunc(got, func(g string) bool { return strings.Contains(g, b) })
		return ia - ib
	})
	return out
}

// exitEnv switches the test binary into a holder of a listener it shares
// with a child of its own: the pair of the exit-mid-walk fault.
const exitEnv = "TCPCONN_TEST_SHARED"

// holdShared listens, starts a copy of itself that inherits the listener,
// names itself and prints its pid and the child's, and waits.
func holdShared() {
	fail := func(err error) {
		fmt.Println("error", err)
		os.Exit(1)
	}
	if os.Getenv(exitEnv) == "child" {
		if err := testchild.SetName("fm-heir"); err != nil {
			fail(err)
		}
		fmt.Println("ready")
		_, _ = io.Copy(io.Discard, os.Stdin)
		return
	}
	if err := testchild.SetName("fm-parent"); err != nil {
		fail(err)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	if err != nil {
		fail(err)
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		fail(err)
	}
	if err := unix.Listen(fd, 8); err != nil {
		fail(err)
	}
	ln := os.NewFile(uintptr(fd), "listener")
	heir := exec.Command(os.Args[0], "-test.run=^$")
	heir.Env = append(os.Environ(), exitEnv+"=child")
	heir.ExtraFiles = []*os.File{ln}
	heir.Stdin = os.Stdin // it ends with the test, as this one does
	out, err := heir.StdoutPipe()
	if err != nil {
		fail(err)
	}
	if err := heir.Start(); err != nil {
		fail(err)
	}
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "ready\n" {
		fail(fmt.Errorf("the heir said %q: %w", line, err))
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		fail(err)
	}
	fmt.Println(os.Getpid(), heir.Process.Pid, sa.(*unix.SockaddrInet4).Port)
	_, _ = io.Copy(io.Discard, os.Stdin)
	runtime.KeepAlive(ln)
}

// A process that exits mid-walk, for real: fm-parent shares its listener
// with fm-heir, and the gatherer kills fm-parent when its walk reaches it,
// before its fds are read. The listener is still in the table, held by
// the heir: no event, the same summary for its port, and no error, as a
// process that exits is normal. With a denial: a root process that the
// filter lets in holds sockets 65534 may not see.
func TestFaultExitMidWalk(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("the fault matrix gathers as uid 65534: run it as root (CI does)")
	}
	exe := nobodyBinary(t)
	for _, denial := range []bool{false, true} {
		t.Run(fmt.Sprintf("denial=%v", denial), func(t *testing.T) {
			// Registered before the holder's cleanup, so run after it, once
			// the heir's stdin is closed: the heir must be gone, and its
			// listener with it, before the next subtest gathers.
			heirFD := -1
			t.Cleanup(func() { awaitEnd(t, heirFD) })
			holder := exec.Command(exe, "-test.run=^$")
			holder.Env = append(os.Environ(), exitEnv+"=parent")
			holder.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
			_, stdout := testchild.Start(t, holder)
			var parent, heir, port int
			_, err := fmt.Fscanln(stdout, &parent, &heir, &port)
			require.NoError(t, err, "the holder did not report")
			// Its parent has not reaped it: the pid is still the heir's.
			heirFD, err = unix.PidfdOpen(heir, 0)
			require.NoError(t, err)
			names := []string{"fm-parent", "fm-heir"}
			if denial {
				// Root's: the walk as 65534 is denied its fds.
				t.Setenv(nameEnv, "fm-root")
				startChild(t, childEnv)
				names = append(names, "fm-root")
			}
			plan := faultPlan{ProcRoot: "/proc", Namespaces: "host", ProcessNames: names, Timeout: time.Minute,
				SummaryGroupBy: []string{"state", "local_port"}, KillAt: "fm-parent", KillPID: parent}
			out := runFaults(t, exe, true, plan, nil)

			require.Contains(t, out.Metrics[0], fmt.Sprintf(`pid="%d",process_name="fm-parent"`, parent))
			t.Logf("the kills: %q", out.Kills)
			for g := 1; g <= 2; g++ {
				require.Contains(t, out.Metrics[g], fmt.Sprintf(`pid="%d",process_name="fm-heir"`, heir), "the heir holds the listener")
				require.NotContains(t, out.Metrics[g], `process_name="fm-parent"`, "gather %d; the kills: %q", g, out.Kills)
				for line := range strings.Lines(out.Metrics[g]) {
					require.False(t, strings.HasPrefix(line, measurementEvent+","), "an event: %s", line)
				}
			}
			// The host's other sockets come and go; the group of the
			// shared listener must not change.
			group := func(metrics string) []string {
				var s []string
				for line := range strings.Lines(metrics) {
					if strings.HasPrefix(line, fmt.Sprintf(`%s,local_port="%d",state="LISTEN" `, measurementSummary, port)) {
						s = append(s, line)
					}
				}
				return s
			}
			require.Len(t, group(out.Metrics[0]), 1, out.Metrics[0])
			for g := 1; g <= 2; g++ {
				require.Equal(t, group(out.Metrics[0]), group(out.Metrics[g]))
				if denial {
					require.Len(t, out.Errors[g], 1, "%q", out.Errors[g])
					require.Contains(t, out.Errors[g][0], "1 process not readable")
				} else {
					require.Empty(t, out.Errors[g])
				}
			}
		})
	}
}

// awaitEnd waits for the process of pidfd to end, and kills it if it takes
// longer than testchild's grace; -1 is no process. It is for the heir of
// TestFaultExitMidWalk, which is no child of the test's once its parent is
// killed: no Wait covers it. Ending with its stdin, it would otherwise
// outlive its subtest, and a test binary built with -race sleeps a second
// before it exits (GORACE atexit_sleep_ms), its listener still open. The
// next subtest's gatherer, whose process_names match it too, then sees
// that listener close between two gathers: a true closed event.
func awaitEnd(t *testing.T, pidfd int) {
	t.Helper()
	if pidfd < 0 {
		return
	}
	defer unix.Close(pidfd)
	// A pidfd polls readable once the process has exited: its files are
	// closed by then.
	ended := func(timeout time.Duration) bool {
		fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
		for {
			n, err := unix.Poll(fds, int(timeout.Milliseconds()))
			if err == unix.EINTR {
				continue
			}
			require.NoError(t, err)
			return n > 0
		}
	}
	if ended(5 * time.Second) {
		return
	}
	require.NoError(t, unix.PidfdSendSignal(pidfd, unix.SIGKILL, nil, 0))
	require.True(t, ended(time.Minute), "the heir did not end when killed")
}
