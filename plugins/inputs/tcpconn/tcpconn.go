//go:build linux

// Package tcpconn is the Telegraf input plugin inputs.tcpconn. It joins the
// socket inodes held open under /proc/<pid>/fd with the rows of
// /proc/net/tcp and /proc/net/tcp6, and emits one metric per owned socket.
package tcpconn

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/config"
	"github.com/influxdata/telegraf/filter"
	"github.com/influxdata/telegraf/plugins/inputs"

	"github.com/tcpconn/telegraf-tcpconn/parser"
	"github.com/tcpconn/telegraf-tcpconn/resolver"
)

//go:embed sample.conf
var sampleConfig string

// Defaults, shared by the factory and the docs.
const (
	defaultTimeout    = config.Duration(5 * time.Second)
	defaultMaxSockets = 100000
	defaultMaxTracked = 1000000
)

// TCPConn is the inputs.tcpconn plugin.
type TCPConn struct {
	ProcRoot       string          `toml:"proc_root"`
	Protocols      []string        `toml:"protocols"`
	States         []string        `toml:"states"`
	ProcessNames   []string        `toml:"process_names"`
	IncludeUnowned bool            `toml:"include_unowned"`
	Timeout        config.Duration `toml:"timeout"`
	MaxSockets     int             `toml:"max_sockets"`
	Namespaces     string          `toml:"namespaces"`

	Metrics            []string `toml:"metrics"`
	EmitInitial        bool     `toml:"emit_initial"`
	MaxTracked         int      `toml:"max_tracked"`
	SummaryGroupBy     []string `toml:"summary_group_by"`
	FoldEphemeralPorts bool     `toml:"fold_ephemeral_ports"`

	Log telegraf.Logger `toml:"-"`

	tables     []table
	warnedFold bool
	resolver   *resolver.Resolver
	reader     *parser.Reader
	ahead      *readAhead
	join       join
}

// table is one kernel table to read.
type table struct {
	protocol string // "tcp4" or "tcp6"
	file     string // "tcp" or "tcp6", under <proc_root>/net or <proc_root>/<pid>/net
}

// SampleConfig returns the plugin's sample configuration (sample.conf).
func (*TCPConn) SampleConfig() string { return sampleConfig }

// Init validates the options and sets up the resolver, the reader and the
// join, which are reused from gather to gather.
func (t *TCPConn) Init() error {
	if t.ProcRoot == "" {
		t.ProcRoot = defaultProcRoot()
	}
	if _, err := os.Stat(t.ProcRoot); err != nil {
		return fmt.Errorf("config option \"proc_root\": %w", err)
	}

	if len(t.Protocols) == 0 {
		return errors.New(`config option "protocols": empty; use "tcp4", "tcp6" or both`)
	}
	t.tables = t.tables[:0]
	for _, p := range t.Protocols {
		var name string
		switch p {
		case "tcp4":
			name = "tcp"
		case "tcp6":
			name = "tcp6"
		default:
			return fmt.Errorf("config option \"protocols\": unknown protocol %q; use \"tcp4\" or \"tcp6\"", p)
		}
		if !hasTable(t.tables, p) {
			t.tables = append(t.tables, table{protocol: p, file: name})
		}
	}

	t.join = join{includeUnowned: t.IncludeUnowned, maxMetrics: t.MaxSockets}
	if err := t.initMetrics(); err != nil {
		return err
	}
	if len(t.States) > 0 {
		t.join.states = new([256]bool)
		for _, name := range t.States {
			s, err := parser.ParseState(name)
			if err != nil {
				return fmt.Errorf("config option \"states\": %w", err)
			}
			t.join.states[s] = true
		}
	}

	opts := resolver.Options{ProcRoot: t.ProcRoot}
	switch t.Namespaces {
	case "host":
	case "all":
		opts.Cgroup = true
		t.join.tagNetns = true
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

	if t.Timeout <= 0 {
		return fmt.Errorf("config option \"timeout\": must be positive, got %q", time.Duration(t.Timeout))
	}
	if t.MaxSockets < 0 {
		return fmt.Errorf("config option \"max_sockets\": must be 0 (no limit) or positive, got %d", t.MaxSockets)
	}

	if w := hidepidWarning(t.ProcRoot); w != "" {
		t.Log.Warn(w)
	}
	if w := t.hostNamespaceWarning(); w != "" {
		t.Log.Warn(w)
	}

	r, err := resolver.New(opts)
	if err != nil {
		return fmt.Errorf("resolver: %w", err)
	}
	t.resolver = r
	t.reader = parser.NewReader(nil)
	// Three 1 MiB buffers: at 200k sockets the table phase took 0.86 s
	// against 0.96 s with two of 256 KiB, for 2.5 MiB more, fixed.
	t.ahead = newReadAhead(3, 1<<20)
	return nil
}

// initMetrics validates the options of the three measurements and sets up
// the tracker and the summary they need.
func (t *TCPConn) initMetrics() error {
	if len(t.Metrics) == 0 {
		return errors.New(`config option "metrics": empty; use any of "connection", "event", "summary"`)
	}
	for _, m := range t.Metrics {
		switch m {
		case "connection":
			t.join.connections = true
		case "event":
			t.join.events = true
		case "summary":
			if len(t.SummaryGroupBy) == 0 {
				return errors.New(`config option "summary_group_by": empty; name the tags to group by`)
			}
			s, err := newSummary(t.SummaryGroupBy, t.FoldEphemeralPorts)
			if err != nil {
				return fmt.Errorf("config option \"summary_group_by\": %w", err)
			}
			t.join.summary = s
		default:
			return fmt.Errorf("config option \"metrics\": unknown metric %q; use any of \"connection\", \"event\", \"summary\"", m)
		}
	}
	if t.MaxTracked <= 0 {
		return fmt.Errorf("config option \"max_tracked\": must be positive, got %d", t.MaxTracked)
	}
	// Connections carry their age, so they need the tracker too.
	if t.join.connections || t.join.events {
		t.join.tracker = newTracker(t.MaxTracked, t.join.events)
		t.join.tracker.primed = t.EmitInitial
	}
	return nil
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
// partial failures to acc. It returns an error only when no table could be
// read at all.
func (t *TCPConn) Gather(acc telegraf.Accumulator) error {
	start := time.Now()
	deadline := start.Add(time.Duration(t.Timeout))

	owners, walkErr := t.walk(deadline)
	walked := time.Since(start)
	t.join.begin(acc, owners, start)
	if t.join.summary != nil {
		// The folding still works with the kernel's default range, so this
		// is worth a warning once, not an error every gather.
		if err := t.join.summary.begin(t.ProcRoot); err != nil && !t.warnedFold {
			t.Log.Warnf("%v", err)
			t.warnedFold = true
		}
	}
	// Only a complete gather may tell that a socket closed. Denied
	// processes are no reason to doubt it: their sockets are never tracked.
	complete := walkErr == nil || errors.As(walkErr, new(*resolver.DeniedError)) && !errors.Is(walkErr, context.DeadlineExceeded)
	var readable int
	var firstErr error
	for _, ns := range t.namespaces(owners) {
		t.join.enter(ns.netns)
		for _, tb := range t.tables {
			read, err := t.readTable(ns, tb, deadline)
			if read != readNone {
				readable++
			}
			if err != nil {
				acc.AddError(err)
				complete = complete && read == readWhole
				if firstErr == nil {
					firstErr = err
				}
			}
		}
	}
	for _, err := range t.join.finish(complete) {
		acc.AddError(err)
	}
	if walkErr != nil {
		acc.AddError(walkErr)
	}
	st := &owners.Stats
	t.Log.Debugf("walked %d processes in %s (%d gone, %d denied, %d skipped, %d through a live thread), %d fds, %d sockets; %d tcpconn metrics, %d over max_sockets, in %s",
		st.Processes, walked.Round(time.Millisecond), st.Gone, st.Denied, st.Skipped, st.ExitedLeaders,
		st.FDs, st.Sockets, t.join.metrics, t.join.dropped, time.Since(start).Round(time.Millisecond))
	if readable == 0 {
		if firstErr != nil {
			return fmt.Errorf("no TCP table could be read: %w", firstErr)
		}
		return errors.New("no TCP table could be read")
	}
	return nil
}

// walk resolves socket owners. When it runs out of time it returns what it
// found: the tables are still read, so the sockets of the processes walked
// are emitted, and the error says where the walk stopped.
func (t *TCPConn) walk(deadline time.Time) (*resolver.Table, error) {
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	owners, err := t.resolver.Walk(ctx)
	if err == nil {
		return owners, nil
	}
	if errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("timeout %s: %w", time.Duration(t.Timeout), err)
	}
	var denied *resolver.DeniedError
	if errors.As(err, &denied) {
		err = fmt.Errorf("%w; run as root, or grant CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH", err)
	}
	return owners, err
}

// tableRead says how much of a table a gather read.
type tableRead int

const (
	readNone    tableRead = iota // could not be opened, or absent
	readPartial                  // stopped by a timeout or an I/O error
	readWhole                    // every row (malformed ones are counted)
)

// readTable streams one kernel table through the join.
func (t *TCPConn) readTable(ns namespace, tb table, deadline time.Time) (tableRead, error) {
	f, path, err := t.openTable(ns, tb)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) && tb.protocol == "tcp6" {
			// A kernel booted with ipv6.disable=1 has no tcp6 table.
			t.Log.Debugf("Skipping %s: %v", path, err)
			return readNone, nil
		}
		return readNone, fmt.Errorf("reading %s table: %w", tb.protocol, err)
	}
	defer f.Close()

	t.ahead.start(f)
	defer t.ahead.end() // before the file closes
	r := t.reader
	r.Reset(t.ahead)
	defer r.Reset(nil) // drop the file, keep the buffer
	var rows int
	for r.Next() {
		rows++
		// A clock read per row would cost more than the row itself.
		if rows%4096 == 0 && time.Now().After(deadline) {
			return readPartial, fmt.Errorf("timeout %s: stopped reading %s after %d rows", time.Duration(t.Timeout), path, rows)
		}
		t.join.socket(r.Socket())
	}
	if err := r.Err(); err != nil {
		return readPartial, fmt.Errorf("reading %s: %w", path, err)
	}
	if n := r.Malformed(); n > 0 {
		return readWhole, fmt.Errorf("%s: skipped %d malformed rows: %w", path, n, r.MalformedErr())
	}
	return readWhole, nil
}

func init() {
	inputs.Add("tcpconn", func() telegraf.Input {
		return &TCPConn{
			Protocols:          []string{"tcp4", "tcp6"},
			Timeout:            defaultTimeout,
			MaxSockets:         defaultMaxSockets,
			Namespaces:         "host",
			Metrics:            []string{"connection"},
			MaxTracked:         defaultMaxTracked,
			SummaryGroupBy:     []string{"process_name", "state"},
			FoldEphemeralPorts: true,
		}
	})
}
