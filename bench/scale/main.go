//go:build linux

// Command scale is the whole-host scale benchmark of tcpconn (issue 5). For
// each size it starts a load of loopback connections (bench/loadgen), checks
// that every peer finds it, then runs every peer as a whole process several
// times, interleaved, and prints the median wall time, the median CPU time
// and the largest peak RSS of each, from wait4's rusage, with the ratio of
// each peer to tcpconn.
//
// Run it from the module root; it builds the peers into a temporary
// directory first:
//
//	go run ./bench/scale -sizes 2k,20k,200k
//	go run ./bench/scale -sizes 200k -profile /tmp/prof   # and profile tcpconn -once
//
// The peers (-peers chooses; the list is printed by -h):
//
//	tcpconn          bin/tcpconn -once, built from ./cmd/tcpconn: the /proc tables, the /proc walk
//	tcpconn-netlink  the same with source = "netlink"; tcpconn-tcpinfo also with tcp_info = true
//	tcpconn-bpf      with owner_walk = "bpf"; tcpconn-bpf-netlink with both;
//	                 tcpconn-bpf-bpf with source = "bpf" too
//	tcpconn-base     with -base DIR: ./cmd/tcpconn of the tree in DIR, to compare two trees in one run
//	tcpconn-table    tcpconn -once -format table: every row held, sorted, printed; tcpconn-table-filter a few
//	table-*          the table phase alone: parser, a sock_diag dump with and without tcp_info, or the BPF iterator
//	walk-*           the owner walk alone, /proc or BPF, timing its load and a first walk apart
//	ss, ss-tin       ss -tanp, and ss -tin (no owners, tcp_info) (iproute2)
//	gopsutil         gopsutil v4 net.Connections("tcp"), as Telegraf's netstat and procstat
//	procfs           prometheus/procfs AllProcs → FileDescriptorTargets → NetTCP/NetTCP6 joined in a map
//	floor            raw syscalls, one thread: read tcp+tcp6 in 1 MiB reads, getdents64 + readlinkat every fd
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tcpconn/telegraf-tcpconn/bench/loadgen"
)

func main() {
	var (
		sizes   = flag.String("sizes", "2k,20k,200k", "comma-separated socket counts (2 sockets per connection), such as 2k,20k,200k")
		runs    = flag.Int("runs", 0, "timed runs per peer and size; 0: 5 up to 20k sockets, 3 above")
		peers   = flag.String("peers", "", "comma-separated peers to run (default: all): "+strings.Join(peerNames(), ","))
		profile = flag.String("profile", "", "directory: at the largest size, profile tcpconn -once into cpu.prof there")
		keep    = flag.Bool("keep", false, "keep the directory of built binaries")
		base    = flag.String("base", "", "directory of another tree of this module (a git worktree): adds the peer tcpconn-base, its ./cmd/tcpconn")
	)
	flag.Parse()
	baseTree = *base
	if err := run(*sizes, *runs, *peers, *profile, *keep); err != nil {
		fmt.Fprintf(os.Stderr, "scale: %v\n", err)
		os.Exit(1)
	}
}

// baseTree is -base: another tree whose tcpconn runs as tcpconn-base.
var baseTree string

// peer is one program under measurement.
type peer struct {
	name string
	what string
	// argv, relative to the build directory for the built ones.
	argv func(dir string) []string
	// owned extracts the number of owned sockets (socket, owner pairs) from
	// the output of a run, and how many of them belong to the load; for
	// the peers that find no owners, the rows they read.
	owned func(out []byte, load map[int]bool) (owned, ofLoad int, err error)
	// conf, for a tcpconn, is its configuration, written to <name>.conf.
	conf string
	// rows: owned counts table rows, not owners.
	rows bool
	// phases: the peer prints "key=nanoseconds" of its own phases, which
	// every run captures.
	phases bool
	// selects, for a peer that shows a selection of the sockets, is how
	// many of the load's it must find; nil: all of them.
	selects func(shapes []loadgen.Shape) int
}

// tcpconnConf is the configuration of the tcpconn peers. The default
// max_connection_metrics (100000) would drop half of the 200k load, and the
// default timeout (5s) cuts a 200k gather short on a busy two-core machine.
// The options are set to the values of issue 5's runs, since the default
// owner_walk, "auto", takes the BPF walk as root.
func tcpconnConf(extra string) string {
	return "[[inputs.tcpconn]]\n  max_connection_metrics = 0\n  timeout = \"60s\"\n" + extra
}

func tcpconnPeer(name, what, conf string, args ...string) peer {
	return peer{
		name: name,
		what: what,
		argv: func(dir string) []string {
			exe := "tcpconn"
			if name == "tcpconn-base" {
				exe = name
			}
			return append([]string{filepath.Join(dir, exe), "-once", "-config", filepath.Join(dir, name+".conf")}, args...)
		},
		owned: countTCPConn,
		conf:  conf,
	}
}

// tablePeer is tcpconn's table with the tcpconn peer's configuration.
func tablePeer(name, what string, args ...string) peer {
	p := tcpconnPeer(name, what, tcpconnConf("  source = \"procfs\"\n  owner_walk = \"procfs\"\n"), append([]string{"-format", "table"}, args...)...)
	p.owned = countTable
	return p
}

var allPeers = []peer{
	tcpconnPeer("tcpconn",
		"`bin/tcpconn -once` with `max_connection_metrics = 0`, `timeout = \"60s\"`, `source = \"procfs\"`, `owner_walk = \"procfs\"`: walk, parse, join, events tracker, metrics, line protocol to /dev/null",
		tcpconnConf("  source = \"procfs\"\n  owner_walk = \"procfs\"\n")),
	tcpconnPeer("tcpconn-netlink", "tcpconn with `source = \"netlink\"`",
		tcpconnConf("  source = \"netlink\"\n  owner_walk = \"procfs\"\n")),
	tcpconnPeer("tcpconn-tcpinfo", "tcpconn with `source = \"netlink\"` and `tcp_info = true`",
		tcpconnConf("  source = \"netlink\"\n  tcp_info = true\n  owner_walk = \"procfs\"\n")),
	tcpconnPeer("tcpconn-bpf", "tcpconn with `owner_walk = \"bpf\"`",
		tcpconnConf("  source = \"procfs\"\n  owner_walk = \"bpf\"\n")),
	tcpconnPeer("tcpconn-bpf-netlink", "tcpconn with `owner_walk = \"bpf\"` and `source = \"netlink\"`",
		tcpconnConf("  source = \"netlink\"\n  owner_walk = \"bpf\"\n")),
	tcpconnPeer("tcpconn-bpf-bpf", "tcpconn with `owner_walk = \"bpf\"` and `source = \"bpf\"`: both BPF iterators",
		tcpconnConf("  source = \"bpf\"\n  owner_walk = \"bpf\"\n")),
	// The base tree may predate max_connection_metrics, owner_walk and
	// source: its defaults were the /proc tables and walk.
	tcpconnPeer("tcpconn-base", "tcpconn of the tree given by `-base`, with `max_sockets = 0` and `timeout = \"60s\"`",
		"[[inputs.tcpconn]]\n  max_sockets = 0\n  timeout = \"60s\"\n"),
	tablePeer("tcpconn-table", "`tcpconn -once -format table`, tcpconn's configuration: every row held until it is sorted, then printed, with the host's unowned sockets"),
	func() peer {
		p := tablePeer("tcpconn-table-filter", "`tcpconn -once -format table -filter process=loadgen -filter state=LISTEN`: the same gather, a few rows held",
			"-filter", "process=loadgen", "-filter", "state=LISTEN")
		p.selects = func(shapes []loadgen.Shape) int { return sumShapes(shapes, loadgen.Shape.Listeners) }
		return p
	}(),
	{
		name:  "table-procfs",
		what:  "`bench/peers/table`: the table phase alone, `/proc/net/tcp` and `tcp6` through parser",
		argv:  func(dir string) []string { return []string{filepath.Join(dir, "table"), "-source", "procfs"} },
		owned: countWord("rows"),
		rows:  true,
	},
	{
		name:  "table-netlink",
		what:  "`bench/peers/table -source netlink`: a sock_diag dump of each family through sockdiag",
		argv:  func(dir string) []string { return []string{filepath.Join(dir, "table"), "-source", "netlink"} },
		owned: countWord("rows"),
		rows:  true,
	},
	{
		name:  "table-tcpinfo",
		what:  "`bench/peers/table -source netlink -info`: the same with tcp_info",
		argv:  func(dir string) []string { return []string{filepath.Join(dir, "table"), "-source", "netlink", "-info"} },
		owned: countWord("rows"),
		rows:  true,
	},
	{
		name:   "table-bpf",
		what:   "`bench/peers/table -source bpf`: both families in one walk of the BPF iterator through bpftable, its load (BTF, verifier) timed apart",
		argv:   func(dir string) []string { return []string{filepath.Join(dir, "table"), "-source", "bpf"} },
		owned:  countWord("rows"),
		rows:   true,
		phases: true,
	},
	{
		name:   "walk-procfs",
		what:   "`bench/peers/walk`: the owner walk alone, resolver over `/proc/<pid>/fd` on GOMAXPROCS workers",
		argv:   func(dir string) []string { return []string{filepath.Join(dir, "walk"), "-walk", "procfs"} },
		owned:  countWord("owned"),
		phases: true,
	},
	{
		name:   "walk-bpf",
		what:   "`bench/peers/walk -walk bpf`: bpfwalk, its load (BTF, verifier) timed apart from the walk",
		argv:   func(dir string) []string { return []string{filepath.Join(dir, "walk"), "-walk", "bpf"} },
		owned:  countWord("owned"),
		phases: true,
	},
	{
		name:  "floor",
		what:  "raw syscalls, one thread: tcp+tcp6 in 1 MiB reads, getdents64 + readlinkat on every fd; nothing else",
		argv:  func(dir string) []string { return []string{filepath.Join(dir, "floor")} },
		owned: countWord("owned"),
	},
	{
		name:  "ss",
		what:  "`ss -tanp` (iproute2): sock_diag netlink for the sockets, /proc/*/fd for the owners",
		argv:  func(string) []string { return []string{"ss", "-tanp"} },
		owned: countSS,
	},
	{
		name:  "ss-tin",
		what:  "`ss -tin` (iproute2): sock_diag with tcp_info, no owners",
		argv:  func(string) []string { return []string{"ss", "-tin"} },
		owned: countSSRows,
		rows:  true,
	},
	{
		name:  "gopsutil",
		what:  "gopsutil v4 `net.Connections(\"tcp\")`, as Telegraf's netstat and procstat, result iterated",
		argv:  func(dir string) []string { return []string{filepath.Join(dir, "gopsutil")} },
		owned: countWord("owned"),
	},
	{
		name:  "procfs",
		what:  "prometheus/procfs `AllProcs` → `FileDescriptorTargets` → `NetTCP`/`NetTCP6`, joined in a map",
		argv:  func(dir string) []string { return []string{filepath.Join(dir, "procfsjoin")} },
		owned: countWord("owned"),
	},
}

func peerNames() []string {
	var names []string
	for _, p := range allPeers {
		names = append(names, p.name)
	}
	return names
}

// sample is one timed run.
type sample struct {
	wall, user, sys time.Duration
	maxRSS          int64 // bytes
	// phases the peer timed itself, by name.
	phases map[string]time.Duration
}

func (s sample) cpu() time.Duration { return s.user + s.sys }

// result is what one peer did at one size.
type result struct {
	peer    peer
	owned   int
	ofLoad  int
	check   string
	samples []sample
	failed  string
}

func run(sizeList string, runs int, peerList, profileDir string, keep bool) error {
	sizes, err := parseSizes(sizeList)
	if err != nil {
		return err
	}
	peers := allPeers
	if baseTree == "" {
		peers = slices.DeleteFunc(slices.Clone(peers), func(p peer) bool { return p.name == "tcpconn-base" })
	}
	if peerList != "" {
		peers = nil
		for _, name := range strings.Split(peerList, ",") {
			i := slices.IndexFunc(allPeers, func(p peer) bool { return p.name == name })
			if i < 0 {
				return fmt.Errorf("unknown peer %q; use %s", name, strings.Join(peerNames(), ","))
			}
			if allPeers[i].name == "tcpconn-base" && baseTree == "" {
				return errors.New("peer tcpconn-base needs -base DIR")
			}
			peers = append(peers, allPeers[i])
		}
	}
	if _, err := exec.LookPath("ss"); err != nil {
		return fmt.Errorf("ss (iproute2): %w", err)
	}

	printMachine()

	dir, err := os.MkdirTemp("", "tcpconn-scale-")
	if err != nil {
		return err
	}
	if keep {
		fmt.Printf("binaries in %s\n", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	if err := build(dir); err != nil {
		return err
	}
	baseline(dir)

	var all []sizeResult
	for i, size := range sizes {
		n := size / 2
		r := runs
		if r == 0 {
			r = 5
			if size > 20000 {
				r = 3
			}
		}
		prof := ""
		if profileDir != "" && i == len(sizes)-1 {
			prof = profileDir
		}
		sr, err := measureSize(dir, n, r, peers, prof)
		if err != nil {
			return err
		}
		all = append(all, sr)
		sr.print()
	}
	summarise(all)
	return nil
}

// parseSizes parses "2k,20k,200k" into socket counts.
func parseSizes(s string) ([]int, error) {
	var sizes []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		mult := 1
		if v, ok := strings.CutSuffix(f, "k"); ok {
			f, mult = v, 1000
		}
		v, err := strconv.Atoi(f)
		if err != nil || v <= 0 || v*mult < 2 {
			return nil, fmt.Errorf("size %q: want a positive socket count such as 2k or 20000", f)
		}
		sizes = append(sizes, v*mult)
	}
	return sizes, nil
}

func printMachine() {
	var u unix.Utsname
	_ = unix.Uname(&u)
	model := "unknown"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	var mem string
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		line, _, _ := strings.Cut(string(b), "\n")
		mem = strings.Join(strings.Fields(line)[1:], " ")
	}
	var rl unix.Rlimit
	_ = unix.Getrlimit(unix.RLIMIT_NOFILE, &rl)
	ports, _ := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	somax, _ := os.ReadFile("/proc/sys/net/core/somaxconn")
	rev, _ := exec.Command("git", "describe", "--always", "--dirty").Output()

	fmt.Println("## Machine")
	fmt.Println()
	fmt.Printf("- nproc: %d; model name: %s; MemTotal: %s\n", runtime.NumCPU(), model, mem)
	fmt.Printf("- kernel: %s %s; %s\n", unix.ByteSliceToString(u.Sysname[:]), unix.ByteSliceToString(u.Release[:]), runtime.Version())
	fmt.Printf("- RLIMIT_NOFILE hard: %d; ip_local_port_range: %s; somaxconn: %s\n",
		rl.Max, strings.Join(strings.Fields(string(ports)), "-"), strings.TrimSpace(string(somax)))
	fmt.Printf("- command: %s; tree: %s; load average at start: %s\n", strings.Join(os.Args, " "), strings.TrimSpace(string(rev)), loadavg())
	fmt.Println()
}

// build builds the Go peers and the load generator into dir,
// from the current tree, and writes tcpconn's configuration.
func build(dir string) error {
	start := time.Now()
	cmd := exec.Command("go", "build", "-o", dir+"/",
		"./cmd/tcpconn", "./bench/cmd/loadgen", "./bench/cmd/rusage",
		"./bench/peers/gopsutil", "./bench/peers/procfsjoin", "./bench/peers/floor",
		"./bench/peers/table", "./bench/peers/walk")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("building the peers (run from the module root): %w", err)
	}
	if baseTree != "" {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "tcpconn-base"), "./cmd/tcpconn")
		cmd.Dir, cmd.Stdout, cmd.Stderr = baseTree, os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("building tcpconn in %s: %w", baseTree, err)
		}
		rev, _ := exec.Command("git", "-C", baseTree, "describe", "--always", "--dirty").Output()
		fmt.Printf("- tcpconn-base: %s, tree %s\n", baseTree, strings.TrimSpace(string(rev)))
	}
	for _, p := range allPeers {
		if p.conf == "" {
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, p.name+".conf"), []byte(p.conf), 0o644); err != nil {
			return err
		}
	}
	fmt.Printf("- built the peers from this tree in %v\n", time.Since(start).Round(time.Millisecond))
	return nil
}

type sizeResult struct {
	n, sockets, procs, rows, runs int
	ready                         time.Duration
	loadavg                       string // after the timed runs
	results                       []*result
}

// loadavg is the first three fields of /proc/loadavg: other work on the
// machine shows in the wall times.
func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func measureSize(dir string, n, runs int, peers []peer, profileDir string) (sizeResult, error) {
	waitQuiet(5 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	load, err := loadgen.Start(ctx, filepath.Join(dir, "loadgen"), loadgen.Plan(n))
	if err != nil {
		return sizeResult{}, err
	}
	defer load.Close()
	loadPIDs := make(map[int]bool)
	for _, p := range load.PIDs {
		loadPIDs[p] = true
	}
	sr := sizeResult{n: n, sockets: load.Sockets(), procs: len(load.PIDs), rows: tableRows(), runs: runs, ready: load.Ready}
	fmt.Printf("## %s sockets\n\n", human(2*n))
	fmt.Printf("load: %d established connections (%d IPv6) = %d sockets, + %d listeners and %d CLOSE_WAIT = %d owned sockets, in %d processes, ready in %v; %d rows in tcp+tcp6\n\n",
		n, sumShapes(load.Shapes, func(s loadgen.Shape) int { return s.V6 }), 2*n,
		sumShapes(load.Shapes, loadgen.Shape.Listeners), sumShapes(load.Shapes, func(s loadgen.Shape) int { return s.CloseWait }),
		load.Sockets(), len(load.PIDs), load.Ready.Round(time.Millisecond), sr.rows)

	// One untimed walk warms the dentry caches of the fd directories for
	// everyone.
	floor := allPeers[slices.IndexFunc(allPeers, func(p peer) bool { return p.name == "floor" })]
	if _, _, _, err := runPeer(dir, floor, false); err != nil {
		return sr, fmt.Errorf("warm-up: %w", err)
	}

	// Correct first. This round is also the first timed one: its stdout
	// goes to a pipe rather than /dev/null, which costs the peers nothing
	// measurable, and at 200k `ss -tanp` takes about a minute a run.
	for _, p := range peers {
		res := &result{peer: p}
		sr.results = append(sr.results, res)
		out, errOut, s, err := runPeer(dir, p, true)
		if err != nil {
			res.failed = fmt.Sprintf("%v: %s", err, firstLine(errOut))
			fmt.Printf("check %-8s FAILED: %s\n", p.name, res.failed)
			continue
		}
		res.owned, res.ofLoad, err = p.owned(out, loadPIDs)
		if err != nil {
			res.failed = err.Error()
			fmt.Printf("check %-8s FAILED: %v\n", p.name, err)
			continue
		}
		res.samples = append(res.samples, s)
		res.check = "ok"
		what := "owned sockets"
		if p.rows {
			what = "rows" // of the tables, the load's and the host's
		}
		want := load.Sockets()
		if p.selects != nil {
			want = p.selects(load.Shapes)
		} else if res.owned < 2*n || res.owned > 2*sr.rows {
			res.check = "OUT OF BALLPARK"
		}
		extra := ""
		if strings.HasPrefix(p.name, "tcpconn") {
			extra = fmt.Sprintf(", %d of them the load's (want %d)", res.ofLoad, want)
			if res.ofLoad != want {
				res.check = "WRONG"
			}
		}
		fmt.Printf("check %-8s %s %d (≥ 2N = %d)%s: %s\n", p.name, what, res.owned, 2*n, extra, res.check)
		if s := firstLine(errOut); s != "" {
			fmt.Printf("      %-8s stderr: %s\n", "", s)
		}
	}
	fmt.Println()

	// Timed, interleaved: round r starts with peer r, so that drift and
	// noise hit every peer alike.
	for r := 1; r < runs; r++ {
		for k := range peers {
			res := sr.results[(r+k)%len(peers)]
			if res.failed != "" {
				continue
			}
			_, errOut, s, err := runPeer(dir, res.peer, false)
			if err != nil {
				res.failed = fmt.Sprintf("%v: %s", err, firstLine(errOut))
				continue
			}
			res.samples = append(res.samples, s)
		}
	}

	sr.loadavg = loadavg()

	if profileDir != "" {
		if err := profile(dir, profileDir); err != nil {
			return sr, err
		}
	}
	return sr, nil
}

// runPeer runs p once, through bench/cmd/rusage. With capture, it returns
// its stdout; otherwise stdout goes to /dev/null.
func runPeer(dir string, p peer, capture bool) (out, errOut []byte, s sample, err error) {
	out, errOut, s, err = runArgv(dir, p.argv(dir), capture || p.phases)
	if err == nil && p.phases {
		s.phases = parsePhases(out)
	}
	return out, errOut, s, err
}

// parsePhases reads the "key=nanoseconds" words of out.
func parsePhases(out []byte) map[string]time.Duration {
	m := make(map[string]time.Duration)
	for _, w := range strings.Fields(string(out)) {
		k, v, ok := strings.Cut(w, "=")
		if !ok {
			continue
		}
		if ns, err := strconv.ParseInt(v, 10, 64); err == nil {
			m[strings.TrimSuffix(k, "_ns")] = time.Duration(ns)
		}
	}
	return m
}

func runArgv(dir string, argv []string, capture bool) (out, errOut []byte, s sample, err error) {
	cmd := exec.Command(filepath.Join(dir, "rusage"), argv...)
	var stdout, stderr bytes.Buffer
	cmd.Stderr = &stderr
	if capture {
		cmd.Stdout = &stdout
	} else {
		devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
		if err != nil {
			return nil, nil, s, err
		}
		defer devnull.Close()
		cmd.Stdout = devnull
	}
	rd, wr, err := os.Pipe()
	if err != nil {
		return nil, nil, s, err
	}
	defer rd.Close()
	cmd.ExtraFiles = []*os.File{wr} // fd 3
	err = cmd.Start()
	wr.Close()
	if err != nil {
		return nil, nil, s, err
	}
	report, rerr := io.ReadAll(rd)
	err = cmd.Wait()
	if err != nil {
		return stdout.Bytes(), stderr.Bytes(), s, err
	}
	if rerr != nil {
		return stdout.Bytes(), stderr.Bytes(), s, rerr
	}
	var wallNS, userNS, sysNS, rssKiB int64
	var code int
	if _, err := fmt.Sscan(string(report), &wallNS, &userNS, &sysNS, &rssKiB, &code); err != nil {
		return stdout.Bytes(), stderr.Bytes(), s, fmt.Errorf("rusage report %q: %w", report, err)
	}
	s = sample{wall: time.Duration(wallNS), user: time.Duration(userNS), sys: time.Duration(sysNS), maxRSS: rssKiB << 10}
	return stdout.Bytes(), stderr.Bytes(), s, nil
}

// baseline measures what every run pays regardless of the host: the
// wrapper's floor on peak RSS (`true`) and tcpconn's start-up (`-usage`:
// the Telegraf shim's init, no gather).
func baseline(dir string) {
	measure := func(argv ...string) (time.Duration, int64) {
		var ss []sample
		for range 5 {
			if _, _, s, err := runArgv(dir, argv, false); err == nil {
				ss = append(ss, s)
			}
		}
		return median(ss, wall), maxRSS(ss)
	}
	_, floorRSS := measure("true")
	w, rss := measure(filepath.Join(dir, "tcpconn"), "-usage")
	fmt.Printf("- peak RSS is read from wait4 in bench/cmd/rusage; its floor (`true`) is %.1f MiB\n", mib(floorRSS))
	fmt.Printf("- tcpconn start-up alone (`tcpconn -usage`, no gather): %s wall, %.1f MiB peak RSS\n\n", secs(w), mib(rss))
}

// countTCPConn counts the metrics of tcpconn, one line each, and those whose
// pid tag is a load process.
func countTCPConn(out []byte, load map[int]bool) (int, int, error) {
	var owned, ofLoad int
	for len(out) > 0 {
		line := out
		if i := bytes.IndexByte(out, '\n'); i >= 0 {
			line, out = out[:i], out[i+1:]
		} else {
			out = nil
		}
		if len(line) == 0 {
			continue
		}
		owned++
		if _, v, ok := bytes.Cut(line, []byte(",pid=")); ok {
			end := bytes.IndexAny(v, ", ")
			if end < 0 {
				end = len(v)
			}
			if pid, err := strconv.Atoi(string(v[:end])); err == nil && load[pid] {
				ofLoad++
			}
		}
	}
	return owned, ofLoad, nil
}

// countTable counts the owned rows of tcpconn's table, those with a pid,
// and those whose pid is a load process.
func countTable(out []byte, load map[int]bool) (int, int, error) {
	lines := bytes.Split(bytes.TrimSuffix(out, []byte("\n")), []byte("\n"))
	if len(lines) == 0 || !bytes.HasPrefix(lines[0], []byte("STATE ")) {
		return 0, 0, fmt.Errorf("unexpected output %q", firstLine(out))
	}
	var owned, ofLoad int
	for _, line := range lines[1:] {
		f := bytes.Fields(line)
		if len(f) < 6 {
			return 0, 0, fmt.Errorf("unexpected row %q", line)
		}
		pid, err := strconv.Atoi(string(f[3]))
		if err != nil {
			continue // "-": unowned
		}
		owned++
		if load[pid] {
			ofLoad++
		}
	}
	return owned, ofLoad, nil
}

// countWord reads "WORD N ..." from a peer that says how many it found:
// "owned" from the Go peers, "rows" from the table peer.
func countWord(word string) func([]byte, map[int]bool) (int, int, error) {
	return func(out []byte, _ map[int]bool) (int, int, error) {
		f := strings.Fields(string(out))
		if len(f) < 2 || f[0] != word {
			return 0, 0, fmt.Errorf("unexpected output %q", firstLine(out))
		}
		n, err := strconv.Atoi(f[1])
		return n, 0, err
	}
}

// countSSRows counts the sockets listed by ss -tin: the lines that do not
// start with white space (tcp_info continues a socket's line), less the
// header.
func countSSRows(out []byte, _ map[int]bool) (int, int, error) {
	n := 0
	for line := range bytes.Lines(out) {
		if len(line) > 0 && line[0] != ' ' && line[0] != '\t' {
			n++
		}
	}
	return max(n-1, 0), 0, nil
}

// countSS counts the owners listed by ss -tanp: one "pid=" per (socket,
// owner).
func countSS(out []byte, _ map[int]bool) (int, int, error) {
	return bytes.Count(out, []byte("pid=")), 0, nil
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	return s
}

func sumShapes(shapes []loadgen.Shape, f func(loadgen.Shape) int) int {
	n := 0
	for _, s := range shapes {
		n += f(s)
	}
	return n
}

// tableRows counts the rows of tcp and tcp6.
func tableRows() int {
	n := 0
	for _, name := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		f, err := os.Open(name)
		if err != nil {
			continue
		}
		c, _ := countLines(f)
		f.Close()
		if c > 0 {
			n += c - 1 // the header
		}
	}
	return n
}

func countLines(r io.Reader) (int, error) {
	br := bufio.NewReaderSize(r, 1<<20)
	buf := make([]byte, 1<<20)
	n := 0
	for {
		k, err := br.Read(buf)
		n += bytes.Count(buf[:k], []byte{'\n'})
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// waitQuiet waits, up to d, for the tables to drain of the previous load.
func waitQuiet(d time.Duration) {
	deadline := time.Now().Add(d)
	for tableRows() > 1000 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
}

func (sr *sizeResult) tcpconn() *result {
	for _, r := range sr.results {
		if r.peer.name == "tcpconn" {
			return r
		}
	}
	return nil
}

func median(ss []sample, f func(sample) time.Duration) time.Duration {
	if len(ss) == 0 {
		return 0
	}
	v := make([]time.Duration, len(ss))
	for i, s := range ss {
		v[i] = f(s)
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func maxRSS(ss []sample) int64 {
	var m int64
	for _, s := range ss {
		m = max(m, s.maxRSS)
	}
	return m
}

func wall(s sample) time.Duration { return s.wall }
func cpu(s sample) time.Duration  { return s.cpu() }
func sys(s sample) time.Duration  { return s.sys }

func (sr *sizeResult) print() {
	fmt.Printf("%s sockets: N = %d connections, %d load processes, %d rows in tcp+tcp6, %d timed runs per peer (median; RSS: max); load average after: %s\n\n",
		human(2*sr.n), sr.n, sr.procs, sr.rows, sr.runs, sr.loadavg)
	fmt.Println("| peer | owned sockets | wall | CPU user+sys | of which sys | peak RSS | wall ratio | CPU ratio |")
	fmt.Println("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	tc := sr.tcpconn()
	for _, r := range sr.results {
		if r.failed != "" {
			fmt.Printf("| %s | failed: %s | | | | | | |\n", r.peer.name, r.failed)
			continue
		}
		w, c := median(r.samples, wall), median(r.samples, cpu)
		wr, cr := "", ""
		if tc != nil && tc.failed == "" && len(tc.samples) > 0 {
			tw, tcpu := median(tc.samples, wall), median(tc.samples, cpu)
			switch r.peer.name {
			case "tcpconn":
				wr, cr = "1", "1"
			case "floor":
				wr = fmt.Sprintf("tcpconn/floor %.2f×", tw.Seconds()/w.Seconds())
				cr = fmt.Sprintf("tcpconn/floor %.2f×", tcpu.Seconds()/c.Seconds())
			default:
				wr = fmt.Sprintf("%.2f×", w.Seconds()/tw.Seconds())
				cr = fmt.Sprintf("%.2f×", c.Seconds()/tcpu.Seconds())
			}
		}
		fmt.Printf("| %s | %d | %s | %s | %s | %.1f MiB | %s | %s |\n", r.peer.name, r.owned,
			secs(w), secs(c), secs(median(r.samples, sys)), mib(maxRSS(r.samples)), wr, cr)
	}
	fmt.Println()
	fmt.Println("Ratios: peer / tcpconn (above 1: tcpconn is faster), except for the floor: tcpconn / floor (the cost above the floor).")
	fmt.Println()
	var phased bool
	for _, r := range sr.results {
		if r.failed != "" || !r.peer.phases || len(r.samples) == 0 {
			continue
		}
		if !phased {
			fmt.Println("Phases the peers timed themselves (median):")
			fmt.Println()
			phased = true
		}
		var keys []string
		for k := range r.samples[0].phases {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		var parts []string
		for _, k := range keys {
			parts = append(parts, fmt.Sprintf("%s %s", k, secs(median(r.samples, phase(k)))))
		}
		fmt.Printf("- %s: %s\n", r.peer.name, strings.Join(parts, ", "))
	}
	if phased {
		fmt.Println()
	}
}

// phase is a phase's time in a sample, for median.
func phase(name string) func(sample) time.Duration {
	return func(s sample) time.Duration { return s.phases[name] }
}

// summarise prints the growth of tcpconn's RSS and the targets at
// the largest size.
func summarise(all []sizeResult) {
	if len(all) == 0 {
		return
	}
	fmt.Println("## Summary")
	fmt.Println()
	rss := make(map[int]int64)
	for _, sr := range all {
		if tc := sr.tcpconn(); tc != nil && tc.failed == "" {
			rss[2*sr.n] = maxRSS(tc.samples)
		}
	}
	growth := -1.0
	if a, ok := rss[20000]; ok {
		if b, ok := rss[200000]; ok {
			growth = mib(b-a) / 18
			fmt.Printf("- tcpconn peak RSS: %.1f MiB at 20k, %.1f MiB at 200k: %.2f MiB per 10k sockets\n", mib(a), mib(b), growth)
		}
	}
	last := all[len(all)-1]
	if 2*last.n < 200000 {
		fmt.Println()
		return
	}
	tc := last.tcpconn()
	if tc == nil || tc.failed != "" || len(tc.samples) == 0 {
		fmt.Println()
		return
	}
	tw := median(tc.samples, wall)
	get := func(name string) (time.Duration, bool) {
		for _, r := range last.results {
			if r.peer.name == name && r.failed == "" && len(r.samples) > 0 {
				return median(r.samples, wall), true
			}
		}
		return 0, false
	}
	met := func(ok bool) string {
		if ok {
			return "met"
		}
		return "NOT met"
	}
	fmt.Printf("- targets at %s sockets:\n", human(2*last.n))
	if f, ok := get("floor"); ok {
		r := tw.Seconds() / f.Seconds()
		fmt.Printf("  - tcpconn wall ≤ 1.5 × floor: %.2f× (%s vs %s): %s\n", r, secs(tw), secs(f), met(r <= 1.5))
	}
	if s, ok := get("ss"); ok {
		r := s.Seconds() / tw.Seconds()
		fmt.Printf("  - ≥ 4× faster than ss -tanp: %.2f×: %s\n", r, met(r >= 4))
	}
	if g, ok := get("gopsutil"); ok {
		r := g.Seconds() / tw.Seconds()
		fmt.Printf("  - ≥ 7× faster than gopsutil: %.2f×: %s\n", r, met(r >= 7))
	}
	m := mib(maxRSS(tc.samples))
	fmt.Printf("  - peak RSS ≤ 64 MiB: %.1f MiB: %s\n", m, met(m <= 64))
	if growth >= 0 {
		fmt.Printf("  - RSS growth 20k→200k < 4 MiB per 10k sockets: %.2f: %s\n", growth, met(growth < 4))
	}

	of := func(name string) *result {
		for _, r := range last.results {
			if r.peer.name == name && r.failed == "" && len(r.samples) > 0 {
				return r
			}
		}
		return nil
	}
	ratio := func(a, b string, f func(sample) time.Duration) (float64, bool) {
		ra, rb := of(a), of(b)
		if ra == nil || rb == nil {
			return 0, false
		}
		return median(ra.samples, f).Seconds() / median(rb.samples, f).Seconds(), true
	}
	if f, ok := get("floor"); ok {
		if b, ok := get("tcpconn-base"); ok {
			fmt.Printf("  - issue 11, no slower than the base tree: tcpconn/floor %.2f×, tcpconn-base/floor %.2f×: %s\n",
				tw.Seconds()/f.Seconds(), b.Seconds()/f.Seconds(), met(tw <= b+b/20))
		}
	}
	// Issue 12: the netlink source.
	if r, ok := ratio("table-netlink", "table-procfs", cpu); ok {
		fmt.Printf("  - issue 12, table phase CPU netlink/procfs ≤ 0.7: %.2f×: %s\n", r, met(r <= 0.7))
	}
	if r, ok := ratio("table-tcpinfo", "table-procfs", cpu); ok {
		fmt.Printf("    (with tcp_info: %.2f× procfs)\n", r)
	}
	if r, ok := ratio("tcpconn-netlink", "tcpconn", wall); ok {
		fmt.Printf("  - issue 12, tcpconn netlink no slower than procfs: wall %.2f×: %s\n", r, met(r <= 1))
	}
	if r, ok := ratio("tcpconn-tcpinfo", "tcpconn-netlink", wall); ok {
		c, _ := ratio("tcpconn-tcpinfo", "tcpconn-netlink", cpu)
		fmt.Printf("  - issue 12, tcp_info adds ≤ 20%%: wall %.2f×, CPU %.2f× of netlink without: %s\n", r, c, met(r <= 1.2))
	}
	for _, name := range []string{"tcpconn-netlink", "tcpconn-tcpinfo", "tcpconn-bpf", "tcpconn-bpf-netlink", "tcpconn-bpf-bpf"} {
		if r := of(name); r != nil {
			m := mib(maxRSS(r.samples))
			fmt.Printf("  - %s peak RSS ≤ 64 MiB: %.1f MiB: %s\n", name, m, met(m <= 64))
		}
	}
	// Issue 13: the BPF walk.
	if rp, rb := of("walk-procfs"), of("walk-bpf"); rp != nil && rb != nil {
		p, b := median(rp.samples, phase("walk")), median(rb.samples, phase("walk"))
		r := p.Seconds() / b.Seconds()
		pf, bf := median(rp.samples, phase("first_walk")), median(rb.samples, phase("first_walk"))
		fmt.Printf("  - issue 13, bpf walk ≥ 10× faster than the procfs walk: %.2f× (%s vs %s; the first walks, which allocate: %.2f×, %s vs %s; the load, once: %s): %s\n",
			r, secs(p), secs(b), pf.Seconds()/bf.Seconds(), secs(pf), secs(bf), secs(median(rb.samples, phase("load"))), met(r >= 10))
	}
	if f, ok := get("floor"); ok {
		for _, name := range []string{"tcpconn-bpf", "tcpconn-bpf-netlink", "tcpconn-bpf-bpf"} {
			if b, ok := get(name); ok {
				r := b.Seconds() / f.Seconds()
				fmt.Printf("  - issue 13, %s wall ≤ 0.35 × floor: %.2f× (%s vs %s): %s\n", name, r, secs(b), secs(f), met(r <= 0.35))
			}
		}
	}
	for _, name := range []string{"tcpconn-bpf", "tcpconn-bpf-bpf"} {
		if rb := of(name); rb != nil {
			b := mib(maxRSS(rb.samples))
			fmt.Printf("  - issue 13, %s peak RSS no higher than tcpconn's: %.1f vs %.1f MiB: %s\n", name, b, m, met(b <= m*1.05))
		}
	}
	if rt := of("table-bpf"); rt != nil {
		r, _ := ratio("table-bpf", "table-procfs", wall)
		n, _ := ratio("table-bpf", "table-netlink", wall)
		fmt.Printf("  - issue 13, the BPF table's read: %s (%.2f× the whole table-procfs, %.2f× table-netlink); its load, once: %s\n",
			secs(median(rt.samples, phase("read"))), r, n, secs(median(rt.samples, phase("load"))))
	}
	// Issue 16: the table costs what line protocol does, but for the rows
	// it holds to sort.
	if rt := of("tcpconn-table"); rt != nil {
		w, _ := ratio("tcpconn-table", "tcpconn", wall)
		c, _ := ratio("tcpconn-table", "tcpconn", cpu)
		tm := mib(maxRSS(rt.samples))
		fmt.Printf("  - issue 16, -format table as fast as line protocol (within this machine's noise, 10%%): wall %.2f×, CPU %.2f× of tcpconn: %s\n",
			w, c, met(w <= 1.1))
		fmt.Printf("    peak RSS %.1f vs %.1f MiB: %+.1f MiB for %d rows, %.0f B a row\n", tm, m, tm-m, rt.owned, (tm-m)*(1<<20)/float64(rt.owned))
		if rf := of("tcpconn-table-filter"); rf != nil {
			w, _ := ratio("tcpconn-table-filter", "tcpconn", wall)
			fmt.Printf("    filtered (%d rows): wall %.2f× of tcpconn, peak RSS %.1f MiB\n", rf.owned, w, mib(maxRSS(rf.samples)))
		}
	}
	fmt.Println()
}

// profile runs tcpconn -once against the live load with a CPU profile: the
// shim's own path, the one the tcpconn peer times.
func profile(dir, out string) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	cpu := filepath.Join(out, "cpu.prof")
	argv := append(allPeers[0].argv(dir), "-cpuprofile", cpu)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stderr = os.Stderr
	start := time.Now()
	if err := cmd.Run(); err != nil { // line protocol to /dev/null
		return fmt.Errorf("profile: %w", err)
	}
	fmt.Printf("### Profile of `tcpconn -once -cpuprofile` (%v)\n\n", time.Since(start).Round(time.Millisecond))
	// Keep the binary next to the profile for pprof.
	b, err := os.ReadFile(argv[0])
	if err == nil {
		err = os.WriteFile(filepath.Join(out, "tcpconn.bin"), b, 0o755)
	}
	fmt.Printf("profile: go tool pprof -top %s/tcpconn.bin %s\n\n", out, cpu)
	return err
}

func human(n int) string {
	if n%1000 == 0 {
		return strconv.Itoa(n/1000) + "k"
	}
	return strconv.Itoa(n)
}

func secs(d time.Duration) string { return fmt.Sprintf("%.3f s", d.Seconds()) }

func mib(b int64) float64 { return float64(b) / (1 << 20) }
