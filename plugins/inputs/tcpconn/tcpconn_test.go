//go:build linux

package tcpconn

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/influxdata/line-protocol/v2/lineprotocol"
	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/config"
	"github.com/influxdata/telegraf/plugins/inputs"
	"github.com/influxdata/telegraf/plugins/parsers/influx"
	"github.com/influxdata/telegraf/testutil"
	"github.com/stretchr/testify/require"
)

const testdata = "../../../testdata"

func TestSampleConfigMatchesRepositoryRoot(t *testing.T) {
	root, err := os.ReadFile(filepath.Join(testdata, "..", "sample.conf"))
	require.NoError(t, err)
	require.Equal(t, string(root), sampleConfig, "sample.conf at the repository root and the plugin's embedded one must be identical")
}

// TestSampleConfigIsDefaults loads the sample configuration with Telegraf's
// own loader, uncommented, and requires the documented defaults to be the
// factory's.
func TestSampleConfigIsDefaults(t *testing.T) {
	var uncommented strings.Builder
	for line := range strings.Lines(sampleConfig) {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "# ") && strings.Contains(trimmed, " = ") {
			line = strings.Replace(line, "# ", "", 1)
		}
		uncommented.WriteString(line)
	}
	fromSample := loadPlugin(t, uncommented.String())
	fromFactory := inputs.Inputs["tcpconn"]().(*TCPConn)
	fromFactory.ProcRoot = "/proc"
	fromFactory.Log = testutil.Logger{}
	fromFactory.States, fromFactory.ProcessNames = []string{}, []string{}
	require.Equal(t, fromFactory, fromSample)
}

// TestGolden runs every testdata/<case>/telegraf.conf over a proc tree
// (the case's own proc.txtar, or testdata/proc.txtar) and requires
// expected.out, and every line of expected.err in the errors.
func TestGolden(t *testing.T) {
	cases, err := filepath.Glob(filepath.Join(testdata, "*", "telegraf.conf"))
	require.NoError(t, err)
	require.NotEmpty(t, cases)
	for _, conf := range cases {
		dir := filepath.Dir(conf)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			archive := filepath.Join(dir, "proc.txtar")
			if _, err := os.Stat(archive); err != nil {
				archive = filepath.Join(testdata, "proc.txtar")
			}
			t.Setenv("TCPCONN_TEST_PROC", unpackTree(t, archive))

			data, err := os.ReadFile(conf)
			require.NoError(t, err)
			plugin := loadPlugin(t, string(data))
			require.NoError(t, plugin.Init())

			var acc testutil.Accumulator
			require.NoError(t, plugin.Gather(&acc))

			expected := readMetrics(t, filepath.Join(dir, "expected.out"))
			testutil.RequireMetricsEqual(t, expected, acc.GetTelegrafMetrics(), testutil.IgnoreTime(), testutil.SortMetrics())

			// The shim's path, line protocol straight from the rows, gives
			// the same metrics and errors.
			again := loadPlugin(t, string(data))
			require.NoError(t, again.Init())
			var sink lineSink
			require.NoError(t, again.Gather(&sink))
			testutil.RequireMetricsEqual(t, expected, sink.metrics(t), testutil.IgnoreTime(), testutil.SortMetrics())
			require.Len(t, sink.Errors, len(acc.Errors))

			// The table's path: tcpconn metrics as Connections, the others
			// through the accumulator.
			third := loadPlugin(t, string(data))
			require.NoError(t, third.Init())
			var conns connSink
			require.NoError(t, third.Gather(&conns))
			var wantConns []Connection
			var others []telegraf.Metric
			for _, m := range expected {
				if m.Name() == measurement {
					wantConns = append(wantConns, connectionOf(t, m))
				} else {
					others = append(others, m)
				}
			}
			require.ElementsMatch(t, wantConns, conns.conns)
			testutil.RequireMetricsEqual(t, others, conns.GetTelegrafMetrics(), testutil.IgnoreTime(), testutil.SortMetrics())
			require.Len(t, conns.Errors, len(acc.Errors))

			var wantErrs []string
			if b, err := os.ReadFile(filepath.Join(dir, "expected.err")); err == nil {
				wantErrs = strings.Split(strings.TrimSpace(string(b)), "\n")
			}
			var got []string
			for _, err := range acc.Errors {
				got = append(got, err.Error())
			}
			joined := strings.Join(got, "\n")
			for _, want := range wantErrs {
				require.Contains(t, joined, want)
			}
			if len(wantErrs) == 0 {
				require.Empty(t, got)
			}
		})
	}
}

func TestGatherTwiceIsStable(t *testing.T) {
	plugin := fixturePlugin(t)
	var first, second testutil.Accumulator
	require.NoError(t, plugin.Gather(&first))
	require.NoError(t, plugin.Gather(&second))
	require.Empty(t, first.Errors)
	require.Empty(t, second.Errors)
	// Everything but the age, which has grown.
	testutil.RequireMetricsEqual(t, first.GetTelegrafMetrics(), second.GetTelegrafMetrics(), testutil.IgnoreTime(), testutil.IgnoreFields("age_s"))
	for _, m := range second.GetTelegrafMetrics() {
		age, ok := m.GetField("age_s")
		require.True(t, ok)
		require.Positive(t, age)
	}
}

func TestTimeout(t *testing.T) {
	plugin := fixturePlugin(t)
	plugin.Timeout = config.Duration(time.Nanosecond)
	var acc testutil.Accumulator
	require.NoError(t, plugin.Gather(&acc), "a timeout is a partial failure, not a failed gather")
	require.NotEmpty(t, acc.Errors)
	require.ErrorContains(t, acc.Errors[len(acc.Errors)-1], "timeout 1ns")
}

func TestNoTableReadable(t *testing.T) {
	root := unpackTree(t, filepath.Join(testdata, "proc.txtar"))
	require.NoError(t, os.RemoveAll(filepath.Join(root, "net")))
	plugin := inputs.Inputs["tcpconn"]().(*TCPConn)
	plugin.ProcRoot, plugin.Protocols, plugin.Log = root, []string{"tcp4"}, testutil.Logger{}
	require.NoError(t, plugin.Init())
	var acc testutil.Accumulator
	require.ErrorContains(t, plugin.Gather(&acc), "no TCP table could be read")
	require.Empty(t, acc.GetTelegrafMetrics())
	require.NotEmpty(t, acc.Errors)
	require.ErrorContains(t, acc.Errors[0], "net/tcp")
}

func TestInitErrors(t *testing.T) {
	tests := []struct {
		name    string
		options string
		want    string
	}{
		{"unknown key", `proces_names = ["x"]`, `proces_names`},
		{"proc_root missing", `proc_root = "/does/not/exist"`, `config option "proc_root"`},
		{"protocols empty", `protocols = []`, `config option "protocols"`},
		{"protocols typo", `protocols = ["tcp"]`, `config option "protocols": unknown protocol "tcp"`},
		{"states typo", `states = ["ESTABLISH"]`, `config option "states"`},
		{"process_names bad glob", `process_names = ["[nginx"]`, `config option "process_names"`},
		{"timeout zero", `timeout = "0s"`, `config option "timeout"`},
		// Telegraf's loader names the line and the field of a value of the
		// wrong type; the shim rewrites the field to the option's name.
		{"timeout not a duration", `timeout = "soon"`, `line 2: (tcpconn.TCPConn.Timeout) time: invalid duration "soon"`},
		{"max_sockets negative", `max_sockets = -1`, `config option "max_sockets"`},
		{"max_sockets not a number", `max_sockets = "many"`, `line 2: (tcpconn.TCPConn.MaxSockets)`},
		{"include_unowned not a bool", `include_unowned = "yes"`, `line 2: (tcpconn.TCPConn.IncludeUnowned)`},
		{"namespaces typo", `namespaces = "every"`, `config option "namespaces": unknown value "every"`},
		{"metrics empty", `metrics = []`, `config option "metrics": empty`},
		{"metrics typo", `metrics = ["events"]`, `config option "metrics": unknown metric "events"`},
		{"summary_group_by typo", "metrics = [\"summary\"]\n  summary_group_by = [\"process\"]", `config option "summary_group_by": unknown tag "process"`},
		{"summary_group_by empty", "metrics = [\"summary\"]\n  summary_group_by = []", `config option "summary_group_by": empty`},
		{"max_tracked zero", `max_tracked = 0`, `config option "max_tracked": must be positive`},
		{"source typo", `source = "sock_diag"`, `config option "source": unknown value "sock_diag"; use "procfs", "netlink" or "bpf"`},
		{"tcp_info without netlink", `tcp_info = true`, `config option "tcp_info": the text tables carry no tcp_info; set source = "netlink"`},
		{"tcp_info with bpf", "source = \"bpf\"\n  tcp_info = true", `config option "tcp_info": the BPF iterator's rows carry no tcp_info; set source = "netlink"`},
		{"owner_walk typo", `owner_walk = "ebpf"`, `config option "owner_walk": unknown value "ebpf"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plugin, err := tryLoadPlugin("[[inputs.tcpconn]]\n  " + tt.options + "\n")
			if err == nil {
				err = plugin.Init()
			}
			require.ErrorContains(t, err, tt.want)
		})
	}
}

func TestHostProcEnvironment(t *testing.T) {
	root := unpackTree(t, filepath.Join(testdata, "proc.txtar"))
	t.Setenv("HOST_PROC", root)
	plugin := inputs.Inputs["tcpconn"]().(*TCPConn)
	plugin.Log = testutil.Logger{}
	require.NoError(t, plugin.Init())
	require.Equal(t, root, plugin.ProcRoot)
	var acc testutil.Accumulator
	require.NoError(t, plugin.Gather(&acc))
	require.Len(t, acc.GetTelegrafMetrics(), 8)
}

// lineSink is an accumulator that takes line protocol too, as the shim's.
type lineSink struct {
	testutil.Accumulator
	buf bytes.Buffer
}

func (s *lineSink) LineProtocol() io.Writer { return &s.buf }

// metrics returns what came as line protocol and through the accumulator.
func (s *lineSink) metrics(t *testing.T) []telegraf.Metric {
	t.Helper()
	parser := &influx.Parser{}
	require.NoError(t, parser.Init())
	lines, err := parser.Parse(s.buf.Bytes())
	require.NoError(t, err)
	// The encoder runs lax, so check what it would have: tags in order.
	dec := lineprotocol.NewDecoderWithBytes(s.buf.Bytes())
	for dec.Next() {
		_, err := dec.Measurement()
		require.NoError(t, err)
		var prev string
		for {
			key, _, err := dec.NextTag()
			require.NoError(t, err)
			if key == nil {
				break
			}
			require.Less(t, prev, string(key), "tags out of order")
			prev = string(key)
		}
	}
	return append(lines, s.GetTelegrafMetrics()...)
}

// connSink is an accumulator that takes the tcpconn metrics as values, as
// the shim's table.
type connSink struct {
	testutil.Accumulator
	conns []Connection
}

func (s *connSink) AddConnection(c *Connection) { s.conns = append(s.conns, *c) }

// connectionOf is the Connection a tcpconn metric's tags describe.
func connectionOf(t *testing.T, m telegraf.Metric) Connection {
	t.Helper()
	tags := m.Tags()
	endpoint := func(side string) netip.AddrPort {
		ap, err := netip.ParseAddrPort(net.JoinHostPort(tags[side+"_addr"], tags[side+"_port"]))
		require.NoError(t, err)
		return ap
	}
	number := func(key string) int32 {
		if tags[key] == "" {
			return 0
		}
		v, err := strconv.ParseInt(tags[key], 10, 32)
		require.NoError(t, err)
		return int32(v)
	}
	return Connection{State: tags["state"], Local: endpoint("local"), Remote: endpoint("remote"),
		PID: number("pid"), FD: number("fd"), Process: tags["process_name"]}
}

func fixturePlugin(t *testing.T) *TCPConn {
	t.Helper()
	plugin := inputs.Inputs["tcpconn"]().(*TCPConn)
	plugin.ProcRoot = unpackTree(t, filepath.Join(testdata, "proc.txtar"))
	plugin.Log = testutil.Logger{}
	require.NoError(t, plugin.Init())
	return plugin
}

// loadPlugin loads one [[inputs.tcpconn]] table with Telegraf's own config
// loader, as the agent and the shim do.
func loadPlugin(t *testing.T, toml string) *TCPConn {
	t.Helper()
	plugin, err := tryLoadPlugin(toml)
	require.NoError(t, err)
	return plugin
}

func tryLoadPlugin(toml string) (*TCPConn, error) {
	c := config.NewConfig()
	c.Agent.Quiet = true
	if err := c.LoadConfigData([]byte(toml), config.EmptySourcePath); err != nil {
		return nil, err
	}
	plugin := c.Inputs[0].Input.(*TCPConn)
	plugin.Log = testutil.Logger{}
	return plugin, nil
}

func readMetrics(t *testing.T, path string) []telegraf.Metric {
	t.Helper()
	parser := &influx.Parser{}
	require.NoError(t, parser.Init())
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	metrics, err := parser.Parse(data)
	require.NoError(t, err)
	return metrics
}

// unpackTree makes a directory from a text archive: "-- path --" starts a
// file, "-- path -> target --" makes a symlink. Module zips drop symlinks,
// so fixtures keep them as text.
func unpackTree(t *testing.T, archive string) string {
	t.Helper()
	root := t.TempDir()
	f, err := os.Open(archive)
	require.NoError(t, err)
	defer f.Close()

	var out *os.File
	closeOut := func() {
		if out != nil {
			require.NoError(t, out.Close())
			out = nil
		}
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if header, ok := strings.CutPrefix(line, "-- "); ok && strings.HasSuffix(header, " --") {
			closeOut()
			header = strings.TrimSuffix(header, " --")
			name, target, isLink := strings.Cut(header, " -> ")
			path := filepath.Join(root, filepath.FromSlash(name))
			require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
			if isLink {
				require.NoError(t, os.Symlink(target, path))
				continue
			}
			out, err = os.Create(path)
			require.NoError(t, err)
			continue
		}
		if out != nil {
			_, err := out.WriteString(line + "\n")
			require.NoError(t, err)
		}
	}
	require.NoError(t, sc.Err())
	closeOut()
	return root
}

func TestReadmeShowsSampleConfig(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	//nolint:testifylint // Contains would print both texts whole on failure
	require.True(t, strings.Contains(string(readme), "```toml @sample.conf\n"+sampleConfig+"```\n"),
		"the README's configuration block must be sample.conf, verbatim")
}

// Each gather says at debug level what it walked and emitted.
func TestGatherDebugLine(t *testing.T) {
	plugin := fixturePlugin(t)
	logger := &testutil.CaptureLogger{}
	plugin.Log = logger
	var acc testutil.Accumulator
	require.NoError(t, plugin.Gather(&acc))

	var lines []string
	for _, e := range logger.Messages() {
		if e.Level == testutil.LevelDebug {
			lines = append(lines, e.Text)
		}
	}
	require.Len(t, lines, 1)
	// The fixture: 4 processes walked and one vanished (no fd directory),
	// 11 fds of which 8 sockets, each emitted once.
	re := regexp.MustCompile(`^walked 4 processes in \S+ \(1 gone, 0 denied, 0 skipped, 0 through a live thread\), 11 fds, 8 sockets; (\d+) tcpconn metrics, 0 over max_connection_metrics, in \S+; 0 failed, 0 stopped; owner walk procfs, tables procfs$`)
	m := re.FindStringSubmatch(lines[0])
	require.NotNil(t, m, lines[0])
	require.Equal(t, strconv.Itoa(len(acc.GetTelegrafMetrics())), m[1])
}

// A fixture tree is not the kernel's proc: "auto" never takes the BPF walk
// over it, and "bpf" refuses it at Init, saying why.
func TestOwnerWalkFixture(t *testing.T) {
	root := unpackTree(t, filepath.Join(testdata, "proc.txtar"))
	for _, walk := range []string{"auto", "procfs"} {
		p := inputs.Inputs["tcpconn"]().(*TCPConn)
		p.ProcRoot, p.OwnerWalk, p.Log = root, walk, testutil.Logger{}
		require.NoError(t, p.Init())
		require.Equal(t, "procfs", p.walkName, "owner_walk = %q over a fixture", walk)
	}
	p := inputs.Inputs["tcpconn"]().(*TCPConn)
	p.ProcRoot, p.OwnerWalk, p.Log = root, "bpf", testutil.Logger{}
	err := p.Init()
	require.ErrorContains(t, err, `config option "owner_walk": `)
	require.ErrorContains(t, err, root)
	p.OwnerWalk = "ebpf"
	require.ErrorContains(t, p.Init(), `config option "owner_walk": unknown value "ebpf"`)
}

// source = "bpf" walks the kernel's own tables, not a fixture tree's
// files: Init refuses it over a fixture, saying why.
func TestSourceBPFFixture(t *testing.T) {
	root := unpackTree(t, filepath.Join(testdata, "proc.txtar"))
	p := inputs.Inputs["tcpconn"]().(*TCPConn)
	p.ProcRoot, p.OwnerWalk, p.Source, p.Log = root, "procfs", "bpf", testutil.Logger{}
	require.EqualError(t, p.Init(), fmt.Sprintf(`config option "source": the BPF iterator walks the kernel's own tables, and proc_root %q is not a proc file system; source = "procfs" reads the text tables`, root))
}
