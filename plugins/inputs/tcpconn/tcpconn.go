//go:build linux

// Package tcpconn is the Telegraf input plugin inputs.tcpconn. It joins the
// socket inodes held open under /proc/<pid>/fd with the rows of the kernel's
// TCP tables, and emits one metric per owned socket, events and summaries.
package tcpconn

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/cilium/ebpf/btf"
	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/filter"
	"github.com/influxdata/telegraf/plugins/inputs"

	"github.com/tcpconn/telegraf-tcpconn/parser"
	"github.com/tcpconn/telegraf-tcpconn/resolver"
	"github.com/tcpconn/telegraf-tcpconn/sockdiag"
)

//go:embed sample.conf
var sampleConfig string

// TCPConn is the inputs.tcpconn plugin.
type TCPConn struct {
	Options

	Log telegraf.Logger `toml:"-"`

	tables   []table
	walker   walker
	walkName string // "procfs" or "bpf": which walker, for the debug line
	// sourceName is the table source, for the debug line.
	sourceName string
	procfs     *procfsSource
	source     tableSource
	join       join
	conns      *connections // nil without "connection"; for the debug line
	// beforeWalk, in tests, is called with the name of each process
	// before its descriptors are read: a fault can happen mid-walk.
	beforeWalk func(name string)
	// afterWalk, in tests, is called between the owner walk and the
	// tables: a socket made then is in the tables without owner.
	afterWalk func()
	// read holds the tables some gather has read: one that is missing now
	// is an error, one that never was (tcp6 with IPv6 disabled) is not.
	read map[tableKey]bool
}

// table is one kernel table to read.
type table struct {
	protocol string // "tcp4" or "tcp6"
	file     string // "tcp" or "tcp6", under <proc_root>/net or <proc_root>/<pid>/net
	v6       bool
}

// SampleConfig returns the plugin's sample configuration (sample.conf).
func (*TCPConn) SampleConfig() string { return sampleConfig }

// Init validates the options and sets up the resolver, the table source,
// the join and its stages, which are reused from gather to gather.
func (t *TCPConn) Init() error {
	if t.ProcRoot == "" {
		t.ProcRoot = defaultProcRoot()
	}
	if _, err := os.Stat(t.ProcRoot); err != nil {
		return fmt.Errorf("config option \"proc_root\": %w", err)
	}
	if err := t.initTables(); err != nil {
		return err
	}
	var states *[256]bool
	if len(t.States) > 0 {
		states = new([256]bool)
		for _, name := range t.States {
			s, err := parser.ParseState(name)
			if err != nil {
				return fmt.Errorf("config option \"states\": %w", err)
			}
			states[s] = true
		}
	}
	opts := resolver.Options{ProcRoot: t.ProcRoot}
	var cgroups *cgroupContainers
	switch t.Namespaces {
	case "host":
	case "all":
		// On a host with cgroup v2 alone, a netlink dump names each
		// socket's cgroup: no /proc/<pid>/cgroup needs reading.
		if root, only := hostCgroup2Root(); only && t.Source == "netlink" {
			cgroups = newCgroupContainers(root)
		} else {
			opts.Cgroup = true
		}
	default:
		return fmt.Errorf("config option \"namespaces\": unknown value %q; use \"host\" or \"all\"", t.Namespaces)
	}
	if len(t.ProcessNames) > 0 {
		f, err := filter.Compile(t.ProcessNames)
		if err != nil {
			return fmt.Errorf("config option \"process_names\": %w", err)
		}
		opts.Match = f.Match
	}
	if hook, match := t.beforeWalk, opts.Match; hook != nil {
		opts.Match = func(name string) bool {
			if match != nil && !match(name) {
				return false
			}
			hook(name)
			return true
		}
	}
	if t.Timeout <= 0 {
		return fmt.Errorf("config option \"timeout\": must be positive, got %q", time.Duration(t.Timeout))
	}
	if t.MaxSockets != nil {
		// The deprecated name, still honoured: Telegraf's loader has
		// warned about it.
		if *t.MaxSockets < 0 {
			return fmt.Errorf("config option \"max_sockets\": must be 0 (no limit) or positive, got %d", *t.MaxSockets)
		}
		t.MaxConnectionMetrics = *t.MaxSockets
	}
	if t.MaxConnectionMetrics < 0 {
		return fmt.Errorf("config option \"max_connection_metrics\": must be 0 (no limit) or positive, got %d", t.MaxConnectionMetrics)
	}
	if t.MaxTracked <= 0 {
		return fmt.Errorf("config option \"max_tracked\": must be positive, got %d", t.MaxTracked)
	}
	if t.MaxPendingCloses <= 0 {
		return fmt.Errorf("config option \"max_pending_closes\": must be positive, got %d", t.MaxPendingCloses)
	}
	if err := t.initStages(states); err != nil {
		return err
	}
	t.join.cgroups = cgroups

	if w := hidepidWarning(t.ProcRoot); w != "" {
		t.Log.Warn(w)
	}
	if w := t.hostNamespaceWarning(); w != "" {
		t.Log.Warn(w)
	}
	// The kernel's BTF, parsed at most once for both BPF programs, and
	// dropped after Init: it is tens of MiB of heap.
	kernelBTF := btf.NewCache()
	if err := t.initWalker(opts, kernelBTF); err != nil {
		return err
	}
	t.procfs = newProcfsSource(t.ProcRoot)
	if err := t.initSource(states, kernelBTF); err != nil {
		return err
	}
	t.read = make(map[tableKey]bool)
	return nil
}

// initSource sets up the table source of source.
func (t *TCPConn) initSource(states *[256]bool, kernelBTF *btf.Cache) error {
	t.sourceName = t.Source
	switch t.Source {
	case "procfs":
		if t.TCPInfo {
			return errors.New(`config option "tcp_info": the text tables carry no tcp_info; set source = "netlink"`)
		}
		t.source = t.procfs
		return nil
	case "netlink":
		// The kernel filters by state only when no event needs the
		// others, and always lists the listeners, which tell a
		// connection's direction.
		var mask uint32
		if states != nil && !slices.Contains(t.Metrics, "event") {
			mask = sockdiag.StateMask(parser.Listen)
			for s := range states {
				if states[s] {
					mask |= sockdiag.StateMask(parser.State(s))
				}
			}
		}
		n, err := newNetlinkSource(t.ProcRoot, t.TCPInfo, mask, t.procfs, func(w string) { t.Log.Warn(w) })
		if err != nil {
			return fmt.Errorf("config option \"source\": %w; source = \"procfs\" reads the text tables", err)
		}
		t.source = n
		return nil
	case "bpf":
		if t.TCPInfo {
			return errors.New(`config option "tcp_info": the BPF iterator's rows carry no tcp_info; set source = "netlink"`)
		}
		b, err := newBPFSource(t.ProcRoot, kernelBTF, t.procfs, func(w string) { t.Log.Warn(w) })
		if err != nil {
			return fmt.Errorf("config option \"source\": %w; source = \"procfs\" reads the text tables", err)
		}
		t.source = b
		return nil
	}
	return fmt.Errorf("config option \"source\": unknown value %q; use \"procfs\", \"netlink\" or \"bpf\"", t.Source)
}

func (t *TCPConn) initTables() error {
	if len(t.Protocols) == 0 {
		return errors.New(`config option "protocols": empty; use "tcp4", "tcp6" or both`)
	}
	t.tables = t.tables[:0]
	for _, p := range t.Protocols {
		var tb table
		switch p {
		case "tcp4":
			tb = table{protocol: p, file: "tcp"}
		case "tcp6":
			tb = table{protocol: p, file: "tcp6", v6: true}
		default:
			return fmt.Errorf("config option \"protocols\": unknown protocol %q; use \"tcp4\" or \"tcp6\"", p)
		}
		if !hasTable(t.tables, p) {
			t.tables = append(t.tables, tb)
		}
	}
	return nil
}

// initStages validates the options of the three measurements and sets up
// the join with a stage for each one asked for.
func (t *TCPConn) initStages(states *[256]bool) error {
	if len(t.Metrics) == 0 {
		return errors.New(`config option "metrics": empty; use any of "connection", "event", "summary"`)
	}
	tagNetns := t.Namespaces == "all"
	out := &emitter{}
	var wantEvents bool
	var stages []stage
	t.conns = nil
	for _, m := range t.Metrics {
		switch m {
		case "connection":
			t.conns = &connections{out: out, states: states, includeUnowned: t.IncludeUnowned,
				tagNetns: tagNetns, tcpInfo: t.TCPInfo, max: t.MaxConnectionMetrics, maxOption: "max_connection_metrics"}
			if t.MaxSockets != nil {
				t.conns.maxOption = "max_sockets"
			}
			stages = append(stages, t.conns)
		case "event":
			wantEvents = true
			stages = append(stages, &events{out: out, tagNetns: tagNetns, tcpInfo: t.TCPInfo, kernel: t.kernelCloses()})
		case "summary":
			if len(t.SummaryGroupBy) == 0 {
				return errors.New(`config option "summary_group_by": empty; name the tags to group by`)
			}
			s, err := newSummaries(out, t.SummaryGroupBy, t.FoldEphemeralPorts, t.ProcRoot, func(err error) { t.Log.Warn(err) })
			if err != nil {
				return fmt.Errorf("config option \"summary_group_by\": %w", err)
			}
			s.states, s.tagNetns, s.closedField = states, tagNetns, slices.Contains(t.Metrics, "event")
			stages = append(stages, s)
		default:
			return fmt.Errorf("config option \"metrics\": unknown metric %q; use any of \"connection\", \"event\", \"summary\"", m)
		}
	}
	t.join = join{out: out, stages: stages, tracker: newTracker(t.MaxTracked, wantEvents, t.EmitInitial), someProcesses: len(t.ProcessNames) > 0}
	if t.kernelCloses() {
		t.join.tracker.byCookie()
		if t.Namespaces == "all" {
			t.join.closesNetns = t.selfNetNS()
		}
	}
	return nil
}

// kernelCloses reports whether the plugin takes the kernel's destroy
// notifications: with source = "netlink" and events, from Start to Stop.
func (t *TCPConn) kernelCloses() bool {
	return t.Source == "netlink" && slices.Contains(t.Metrics, "event")
}

// Start subscribes to the kernel's destroy notifications, when it takes
// them (see kernelCloses): every TCP socket destroyed between two gathers
// then becomes a closed event at the next. Where that is impossible it
// says so once, and closed events come from the gathers alone.
func (t *TCPConn) Start(telegraf.Accumulator) error {
	if !t.kernelCloses() || t.join.closes != nil {
		return nil
	}
	q, err := listenCloses(t.MaxPendingCloses)
	if err != nil {
		t.Log.Warnf("destroy notifications of sockets are not available: %v; closes are found by the gathers only, "+
			"and sockets born and gone between two gathers are not reported", err)
		return nil
	}
	t.join.closes = q
	return nil
}

// Stop ends the subscription of Start.
func (t *TCPConn) Stop() {
	if t.join.closes != nil {
		t.join.closes.close()
		t.join.closes = nil
	}
}

func hasTable(tables []table, protocol string) bool {
	for _, tb := range tables {
		if tb.protocol == protocol {
			return true
		}
	}
	return false
}

// defaultProcRoot follows Telegraf and gopsutil: HOST_PROC names the host's
// proc filesystem when Telegraf runs in a container.
func defaultProcRoot() string {
	if p := os.Getenv("HOST_PROC"); p != "" {
		return p
	}
	return "/proc"
}

// Gather walks the owners, streams the tables through the join and reports
// partial failures to acc, one error per fault. It returns an error only
// when no table could be read at all.
func (t *TCPConn) Gather(acc telegraf.Accumulator) error {
	start := time.Now()
	deadline := start.Add(time.Duration(t.Timeout))

	walk, walkErrs := t.walk(deadline)
	walked := time.Since(start)
	if t.afterWalk != nil {
		t.afterWalk()
	}
	t.join.begin(acc, walk, start)
	var (
		readable int
		errs     []error
		late     []string // what the deadline cut short, for one timeout error
	)
	tried := make(map[tableKey]bool, 2)
	results := make([]tableResult, len(t.tables))
	for _, ns := range t.namespaces(walk) {
		t.join.enterNamespace(ns.netns)
		t.source.read(ns, t.tables, deadline, &t.join, results)
		for i, tb := range t.tables {
			tk := tableKey{netns: ns.netns, v6: tb.v6}
			tried[tk] = true
			read, err := results[i].read, results[i].err
			t.join.tableRead(tk, read)
			if read != readNone {
				readable++
				t.read[tk] = true
			}
			var cut *deadlineError
			switch {
			case err == nil:
			case tb.v6 && errors.Is(err, errTableAbsent) && !t.read[tk]:
				// A kernel booted with ipv6.disable=1 has no tcp6 table.
				t.Log.Debugf("Skipping %s table: %v", tb.protocol, err)
			case errors.As(err, &cut):
				late = append(late, cut.Error())
			default:
				errs = append(errs, err)
			}
		}
	}
	t.source.end()
	for tk := range t.read {
		if !tried[tk] {
			delete(t.read, tk) // a namespace that is gone
		}
	}
	for _, err := range t.join.finish() {
		acc.AddError(err)
	}
	timedOut := false
	for _, err := range walkErrs {
		if errors.Is(err, context.DeadlineExceeded) && len(late) > 0 {
			err = fmt.Errorf("%w; %s", err, strings.Join(late, "; "))
			timedOut = true
		}
		errs = append(errs, err)
	}
	if len(late) > 0 && !timedOut {
		errs = append(errs, fmt.Errorf("timeout %s: %s", time.Duration(t.Timeout), strings.Join(late, "; ")))
	}
	for _, err := range errs {
		acc.AddError(err)
	}
	st := &walk.Stats
	var emitted, dropped int
	if t.conns != nil {
		emitted, dropped = t.conns.emitted, t.conns.dropped
	}
	t.Log.Debugf("walked %d processes in %s (%d gone, %d denied, %d skipped, %d through a live thread), %d fds, %d sockets; %d tcpconn metrics, %d over max_connection_metrics, in %s; %d failed, %d stopped; owner walk %s, tables %s%s",
		st.Processes, walked.Round(time.Millisecond), st.Gone, st.Denied, st.Skipped, st.ExitedLeaders,
		st.FDs, st.Sockets, emitted, dropped, time.Since(start).Round(time.Millisecond), st.Failed, st.Stopped, t.walkName, t.sourceName, t.closesLine())
	if readable == 0 {
		if len(errs) > 0 {
			return fmt.Errorf("no TCP table could be read: %w", errs[0])
		}
		return errors.New("no TCP table could be read")
	}
	return nil
}

// walk resolves socket owners. When it runs out of time it returns what it
// found: the tables are still read, so the sockets of the processes walked
// are emitted. It returns one error per kind of fault, each saying what it
// was: the denial with the hint that cures it, and only the denial.
func (t *TCPConn) walk(deadline time.Time) (*resolver.Table, []error) {
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	owners, err := t.walker.Walk(ctx)
	if err == nil {
		return owners, nil
	}
	var errs []error
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		errs = joined.Unwrap()
	} else {
		errs = []error{err}
	}
	for i, err := range errs {
		var denied *resolver.DeniedError
		switch {
		case errors.As(err, &denied):
			errs[i] = fmt.Errorf("%w; run as root, or grant CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH", err)
		case errors.Is(err, context.DeadlineExceeded):
			errs[i] = fmt.Errorf("timeout %s: %w", time.Duration(t.Timeout), err)
		}
	}
	return owners, errs
}

func init() {
	inputs.Add("tcpconn", func() telegraf.Input {
		return &TCPConn{Options: defaultOptions()}
	})
}

// closesLine adds the destroy notifications of the gather to its debug
// line.
func (t *TCPConn) closesLine() string {
	j := &t.join
	if j.closes == nil {
		return ""
	}
	return fmt.Sprintf("; %d destroy notifications, %d short-lived, %d dropped, %d overruns so far",
		j.notified, j.shortLived, j.droppedCloses, j.overruns)
}
