//go:build linux

package main

import (
	"bytes"
	"io"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"

	"github.com/tcpconn/telegraf-tcpconn/plugins/inputs/tcpconn"
)

func conn(state, local, remote string, pid, fd int32, process string) tcpconn.Connection {
	return tcpconn.Connection{State: state, Local: netip.MustParseAddrPort(local), Remote: netip.MustParseAddrPort(remote),
		PID: pid, FD: fd, Process: process}
}

// tableRows is a host in miniature: nginx and a client on IPv4, a socket
// two processes share after a fork, a TIME_WAIT no process holds, sshd on
// IPv6, an IPv4 client of a dual-stack listener, a process whose name
// holds a newline, and ports whose order as text is not their order as
// numbers.
var tableRows = []tcpconn.Connection{
	conn("ESTABLISHED", "10.0.0.9:40000", "10.0.0.10:8080", 2000, 12, "curl"),
	conn("LISTEN", "0.0.0.0:8080", "0.0.0.0:0", 100, 3, "nginx"),
	conn("ESTABLISHED", "10.0.0.10:8080", "10.0.0.9:40000", 101, 7, "nginx"),
	conn("ESTABLISHED", "10.0.0.10:8080", "10.0.0.9:40001", 101, 8, "nginx"),
	conn("ESTABLISHED", "10.0.0.10:8080", "10.0.0.9:40001", 100, 8, "nginx"),
	conn("TIME_WAIT", "10.0.0.9:39999", "10.0.0.10:8080", 0, 0, ""),
	conn("LISTEN", "[::]:22", "[::]:0", 1, 3, "sshd"),
	conn("ESTABLISHED", "[::ffff:127.0.0.1]:8443", "[::ffff:127.0.0.1]:50000", 100, 9, "nginx"),
	conn("ESTABLISHED", "[2001:db8::1]:443", "[2001:db8::2]:51000", 55, 10, "my\nproc"),
	conn("ESTABLISHED", "127.0.0.1:10", "127.0.0.1:9", 7, 4, "svc"),
	conn("ESTABLISHED", "127.0.0.1:9", "127.0.0.1:10", 7, 5, "svc"),
}

// tableOf is the table of conns, unfiltered.
func tableOf(conns []tcpconn.Connection) *tableAccumulator {
	a := &tableAccumulator{}
	for i := range conns {
		a.AddConnection(&conns[i])
	}
	return a
}

// The table as a person reads it: aligned columns, numbers to the right,
// [v6]:port, * for port 0, - for no owner, in the documented order.
func TestWriteTable(t *testing.T) {
	want := `STATE        LOCAL                    REMOTE                     PID  FD  PROCESS
LISTEN       0.0.0.0:8080             0.0.0.0:*                  100   3  nginx
TIME_WAIT    10.0.0.9:39999           10.0.0.10:8080               -   -  -
ESTABLISHED  10.0.0.9:40000           10.0.0.10:8080            2000  12  curl
ESTABLISHED  10.0.0.10:8080           10.0.0.9:40000             101   7  nginx
ESTABLISHED  10.0.0.10:8080           10.0.0.9:40001             100   8  nginx
ESTABLISHED  10.0.0.10:8080           10.0.0.9:40001             101   8  nginx
ESTABLISHED  127.0.0.1:9              127.0.0.1:10                 7   5  svc
ESTABLISHED  127.0.0.1:10             127.0.0.1:9                  7   4  svc
LISTEN       [::]:22                  [::]:*                       1   3  sshd
ESTABLISHED  [::ffff:127.0.0.1]:8443  [::ffff:127.0.0.1]:50000   100   9  nginx
ESTABLISHED  [2001:db8::1]:443        [2001:db8::2]:51000         55  10  "my\nproc"
`
	var out bytes.Buffer
	require.NoError(t, tableOf(tableRows).write(&out))
	require.Equal(t, want, out.String())

	// Whatever order the kernel lists the sockets in, the same bytes.
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		rows := slices.Clone(tableRows)
		rng.Shuffle(len(rows), func(i, j int) { rows[i], rows[j] = rows[j], rows[i] })
		out.Reset()
		require.NoError(t, tableOf(rows).write(&out))
		require.Equal(t, want, out.String())
	}
}

func TestWriteTableEmpty(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, tableOf(nil).write(&out))
	require.Equal(t, "STATE  LOCAL  REMOTE  PID  FD  PROCESS\n", out.String())
}

// Every row of the order ties only with a row that prints the same, and
// a row gives back the Connection it was made of.
func TestCompareRowsIsTotal(t *testing.T) {
	require.Equal(t, uintptr(56), unsafe.Sizeof(row{}), "the size the comment and the docs give")
	a := tableOf(tableRows)
	for i := range a.rows {
		require.Equal(t, tableRows[i], a.connection(&a.rows[i]))
		for j := range a.rows {
			c := a.compare(&a.rows[i], &a.rows[j])
			require.Equal(t, -c, a.compare(&a.rows[j], &a.rows[i]), "antisymmetric")
			require.Equal(t, i == j, c == 0, "%v against %v", tableRows[i], tableRows[j])
		}
	}
}

func TestFilters(t *testing.T) {
	// The rows of tableRows each filter keeps, by index.
	tests := []struct {
		terms []string
		want  []int
	}{
		{nil, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}},
		// An endpoint matches either end.
		{[]string{"10.0.0.9:40000"}, []int{0, 2}},
		{[]string{"10.0.0.9"}, []int{0, 2, 3, 4, 5}},
		{[]string{":8080"}, []int{0, 1, 2, 3, 4, 5}},
		{[]string{"port=8080"}, []int{0, 1, 2, 3, 4, 5}},
		{[]string{"local=:8080"}, []int{1, 2, 3, 4}},
		{[]string{"remote=10.0.0.10:8080"}, []int{0, 5}},
		// IPv6 with brackets and a port, or bare; an IPv4-mapped address
		// is found by its IPv4 form.
		{[]string{"[2001:db8::2]:51000"}, []int{8}},
		{[]string{"2001:db8::1"}, []int{8}},
		{[]string{"[2001:db8::1]"}, []int{8}},
		{[]string{"127.0.0.1:8443"}, []int{7}},
		{[]string{"::"}, []int{6}},
		// Alternatives within a term; terms together.
		{[]string{"port=22,443"}, []int{6, 8}},
		{[]string{"process=nginx", "state=LISTEN"}, []int{1}},
		{[]string{"process=ngin*", "10.0.0.9:40001"}, []int{3, 4}},
		{[]string{"process=s*"}, []int{6, 9, 10}},
		{[]string{"pid=101"}, []int{2, 3}},
		{[]string{"pid=100,101", "remote=10.0.0.9:40001"}, []int{3, 4}},
		{[]string{"state=time_wait"}, []int{5}},
		{[]string{"state=LISTEN,TIME_WAIT", "port=8080"}, []int{1, 5}},
		// An unowned socket has no process to match.
		{[]string{"process=*", "port=8080"}, []int{0, 1, 2, 3, 4}},
		{[]string{"port=9"}, []int{9, 10}},
		{[]string{"port=1"}, nil},
	}
	for _, tt := range tests {
		var f filters
		for _, term := range tt.terms {
			require.NoError(t, f.Set(term), term)
		}
		acc := &tableAccumulator{filters: f}
		for i := range tableRows {
			acc.AddConnection(&tableRows[i])
		}
		var want, got []tcpconn.Connection
		for _, i := range tt.want {
			want = append(want, tableRows[i])
		}
		for i := range acc.rows {
			got = append(got, acc.connection(&acc.rows[i]))
		}
		require.Equal(t, want, got, "%q", tt.terms)
	}
}

func TestFilterErrors(t *testing.T) {
	tests := []struct{ term, want string }{
		{"", `empty value`},
		{"port=", `empty value`},
		{"port=80,", `empty alternative in "80,"`},
		{"port=http", `port "http" is not a number from 0 to 65535`},
		{"port=65536", `port "65536" is not a number from 0 to 65535`},
		{":-1", `port "-1" is not a number`},
		{"localhost:8080", `"localhost:8080" is not an address, ADDR:PORT or :PORT (an IPv6 address with a port in brackets: [::1]:8080; names are not resolved)`},
		{"10.0.0.1:99999", `"10.0.0.1:99999" is not an address`},
		{"local=10.0.0", `"10.0.0" is not an address`},
		{"proc=nginx", `unknown key "proc"; use an endpoint or local=, remote=, port=, process=, pid=, state=`},
		{"process=[ngin", `process name "[ngin": `},
		{"pid=0", `pid "0" is not a positive number`},
		{"pid=nginx", `pid "nginx" is not a positive number`},
		{"state=ESTAB", `unknown TCP state "ESTAB": valid names are ESTABLISHED, `},
	}
	for _, tt := range tests {
		var f filters
		require.ErrorContains(t, f.Set(tt.term), tt.want, "%q", tt.term)
		require.Empty(t, f)
	}
}

func TestCheckFlags(t *testing.T) {
	port := filters{term{}}
	tests := []struct {
		o     options
		table bool
		err   string
	}{
		{o: options{format: formatLineProtocol}},
		{o: options{format: formatLineProtocol, once: true}},
		{o: options{format: formatTable, once: true}, table: true},
		{o: options{format: formatTable, once: true, filters: port}, table: true},
		{o: options{format: formatTable}, err: "-format table needs -once"},
		{o: options{format: formatLineProtocol, once: true, filters: port}, err: "-filter selects rows of -format table"},
		{o: options{format: "json", once: true}, err: `unknown -format "json"; use "lineprotocol" or "table"`},
	}
	for _, tt := range tests {
		table, err := tt.o.check()
		if tt.err != "" {
			require.ErrorContains(t, err, tt.err)
			continue
		}
		require.NoError(t, err)
		require.Equal(t, tt.table, table)
	}
}

// The table shows unowned sockets and has no metric guard unless the
// configuration says otherwise, and gathers connections alone.
func TestTableOptions(t *testing.T) {
	tests := []struct {
		config         string
		filters        []string
		includeUnowned bool
		max            int
		processNames   []string
	}{
		{"", nil, true, 0, nil},
		{"[[inputs.tcpconn]]\n", nil, true, 0, nil},
		{"[[inputs.tcpconn]]\n  metrics = [\"summary\", \"event\"]\n", nil, true, 0, nil},
		{"[[inputs.tcpconn]]\n  include_unowned = false\n", nil, false, 0, nil},
		{"[[inputs.tcpconn]]\n  process_names = [\"nginx\"]\n", nil, false, 0, []string{"nginx"}},
		{"[[inputs.tcpconn]]\n  process_names = [\"nginx\"]\n  include_unowned = true\n", nil, true, 0, []string{"nginx"}},
		{"[[inputs.tcpconn]]\n  include_unowned = true\n  max_connection_metrics = 5\n", nil, true, 5, nil},
		{"[inputs.tcpconn]\n  max_connection_metrics = 100000\n", nil, true, 100000, nil},
		// The deprecated name keeps its limit: Init copies it.
		{"[[inputs.tcpconn]]\n  max_sockets = 7\n", nil, true, 100000, nil},
		// process= walks only the processes it can show; the file's
		// process_names are kept.
		{"", []string{"port=80", "process=nginx,java*", "process=x"}, false, 0, []string{"nginx", "java*"}},
		{"", []string{"pid=7", "state=LISTEN"}, true, 0, nil},
		{"[[inputs.tcpconn]]\n  process_names = [\"nginx\"]\n", []string{"process=java"}, false, 0, []string{"nginx"}},
		{"[[inputs.tcpconn]]\n  include_unowned = true\n", []string{"process=java"}, true, 0, []string{"java"}},
	}
	for _, tt := range tests {
		path := ""
		if tt.config != "" {
			path = writeConfig(t, tt.config)
		}
		input, set, err := loadInput(path)
		require.NoError(t, err, tt.config)
		var f filters
		for _, term := range tt.filters {
			require.NoError(t, f.Set(term), term)
		}
		p, err := tableOptions(input, set, f)
		require.NoError(t, err)
		require.Same(t, input, p)
		require.Equal(t, tt.includeUnowned, p.IncludeUnowned, tt.config)
		require.Equal(t, tt.processNames, p.ProcessNames, "%s %q", tt.config, tt.filters)
		require.Equal(t, tt.max, p.MaxConnectionMetrics, tt.config)
		require.Equal(t, []string{"connection"}, p.Metrics, tt.config)
	}
}

func TestParseTCPSockets(t *testing.T) {
	// /proc/net/sockstat of the development machine with the 200k load.
	const sockstat = `sockets: used 200586
TCP: inuse 198573 orphan 0 tw 21 alloc 200577 mem 468
UDP: inuse 0 mem 0
UDPLITE: inuse 0
RAW: inuse 0
FRAG: inuse 0 memory 0
`
	require.Equal(t, 200598, parseTCPSockets(strings.NewReader(sockstat)))
	require.Zero(t, parseTCPSockets(strings.NewReader("sockets: used 3\n")))
	require.Zero(t, parseTCPSockets(strings.NewReader("TCP: inuse 1 tw x alloc 2\n")))

	// Only an unfiltered table is sized by it.
	root := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(root, "net"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(root, "net", "sockstat"), []byte(sockstat), 0o600))
	require.GreaterOrEqual(t, cap(newTableAccumulator(nil, root, nil).rows), 200598)
	var f filters
	require.NoError(t, f.Set("port=80"))
	require.Zero(t, cap(newTableAccumulator(f, root, nil).rows))
	require.Zero(t, cap(newTableAccumulator(nil, t.TempDir(), nil).rows))
	huge := filepath.Join(t.TempDir(), "net")
	require.NoError(t, os.MkdirAll(huge, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(huge, "sockstat"), []byte("TCP: tw 9223372036854775807 alloc 1\n"), 0o600))
	require.LessOrEqual(t, cap(newTableAccumulator(nil, filepath.Dir(huge), nil).rows), maxSizedRows+maxSizedRows/16)
}

// -help lists every term parseTerm takes, and so does the README.
func TestUsageListsFilterTerms(t *testing.T) {
	var help bytes.Buffer
	writeUsage(&help, flagSet(&options{}))
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	for _, k := range filterKeys {
		require.Contains(t, help.String(), k.syntax)
		//nolint:testifylint // Contains would print the README whole
		require.True(t, strings.Contains(string(readme), k.syntax), "the README's table section lacks %q", k.syntax)
	}
	require.Contains(t, help.String(), "-format FORMAT")
}

// BenchmarkWriteTable sorts and prints 200k rows in the kernel's order: the
// table's cost above the gather.
func BenchmarkWriteTable(b *testing.B) {
	const n = 200000
	rows := make([]tcpconn.Connection, 0, n)
	for i := range n / 2 {
		client := netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, byte(2 + i/28000), 1}), uint16(32768+i%28000))
		server := netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, byte(2 + i/28000), 1}), 9000)
		rows = append(rows, tcpconn.Connection{State: "ESTABLISHED", Local: server, Remote: client, PID: int32(1000 + i%12), FD: int32(10 + i), Process: "loadgen"},
			tcpconn.Connection{State: "ESTABLISHED", Local: client, Remote: server, PID: int32(1000 + i%12), FD: int32(11 + i), Process: "loadgen"})
	}
	table := tableOf(rows)
	kernelOrder := slices.Clone(table.rows)
	var out bytes.Buffer
	require.NoError(b, table.write(&out))
	require.Equal(b, n+1, bytes.Count(out.Bytes(), []byte("\n")))
	b.ResetTimer()
	b.ReportAllocs()
	b.SetBytes(int64(out.Len()))
	for b.Loop() {
		copy(table.rows, kernelOrder)
		if err := table.write(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/row")
}
