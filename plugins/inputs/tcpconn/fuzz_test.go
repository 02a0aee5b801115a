//go:build linux

package tcpconn

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/plugins/inputs"
	"github.com/influxdata/telegraf/testutil"
	"github.com/stretchr/testify/require"

	"github.com/tcpconn/telegraf-tcpconn/parser"
)

// The owners in FuzzGather's tree: inode -> "pid/fd" of each owner.
var fuzzOwners = map[uint64][]string{
	1001: {"10/3", "20/3"}, // shared after fork
	1002: {"10/4"},
	1003: {"20/5"},
}

// fuzzRows prints kernel rows for the seeds.
func fuzzRows(tcp6 bool, rows ...string) []byte {
	header := "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
	if tcp6 {
		header = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
	}
	b := []byte(header)
	for i, r := range rows {
		b = fmt.Appendf(b, "%4d: %s 1 0000000000000000 20 4 30 10 -1\n", i, r)
	}
	return b
}

// FuzzGather runs two gathers over tables and a process name the fuzzer
// writes, with every measurement on, once through the accumulator (inside
// Telegraf) and once through the line-protocol sink (the shim). Neither
// may panic, the two must emit the same metrics, and a socket's owners are
// exactly those its fds give.
func FuzzGather(f *testing.F) {
	listen := fuzzRows(false,
		"00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1001",
		"0100007F:1F90 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 1002",
		"0100007F:9C40 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 1003",
		"0100007F:9C41 0100007F:1F90 06 00000000:00000000 03:00000100 00000000     0        0 0",
		"0100007F:1F90 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 1002",
		"0A0200C0:0050 146433C6:C738 08 00000010:00000020 02:00000030 00000003  1000        0 4004")
	closeWait := fuzzRows(false,
		"0100007F:1F90 0100007F:9C40 08 00000000:00000000 00:00000000 00000000     0        0 1002",
		"0100007F:9C40 0100007F:1F90 FF 00000000:00000000 00:00000000 00000000     0        0 1003")
	tcp6 := fuzzRows(true,
		"0000000000000000FFFF00000100007F:9C42 0000000000000000FFFF00000100007F:1F90 01 00000000:00000000 00:00000000 00000000  1000        0 1003",
		"00000000000000000000000001000000:0016 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5005")
	f.Add("server", listen, tcp6, closeWait)
	f.Add("a b,c=d\\", listen, []byte{}, listen)
	f.Add("new\nline\x01\xff", closeWait, tcp6, []byte("garbage\n\x00"))
	f.Add("", []byte{}, []byte{}, []byte{})
	f.Add(`x\,y\ z\=w\\`+"\\a", listen, tcp6, listen)

	f.Fuzz(func(t *testing.T, name string, tcp, tcp6, next []byte) {
		root := fuzzTree(t, name, tcp, tcp6)
		viaAcc, viaSink := fuzzPlugin(t, root), fuzzPlugin(t, root)
		for round, table := range [][]byte{tcp, next} {
			if round > 0 {
				require.NoError(t, os.WriteFile(filepath.Join(root, "net", "tcp"), table, 0o644))
			}
			var acc testutil.Accumulator
			errAcc := viaAcc.Gather(&acc)
			var sink lineSink
			errSink := viaSink.Gather(&sink)
			require.Equal(t, errAcc, errSink)
			require.Len(t, sink.Errors, len(acc.Errors))
			got := acc.GetTelegrafMetrics()
			require.Equal(t, canonical(got), canonical(sink.metrics(t)))
			checkOwners(t, got, table, tcp6)
		}
	})
}

// fuzzTree writes a proc tree: the tables, and pids 10 (named name) and 20
// owning fuzzOwners.
func fuzzTree(t *testing.T, name string, tcp, tcp6 []byte) string {
	root := t.TempDir()
	for path, data := range map[string][]byte{
		"net/tcp":                          tcp,
		"net/tcp6":                         tcp6,
		"sys/net/ipv4/ip_local_port_range": []byte("32768\t60999\n"),
		"10/comm":                          []byte(name + "\n"),
		"10/stat":                          []byte("10 (x) S 1 10 10 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 100 0 0\n"),
		"20/comm":                          []byte("peer\n"),
		"20/stat":                          []byte("20 (peer) S 1 20 20 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 200 0 0\n"),
	} {
		path = filepath.Join(root, path)
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, data, 0o644))
	}
	for inode, owners := range fuzzOwners {
		for _, owner := range owners {
			link := filepath.Join(root, filepath.Dir(owner), "fd", filepath.Base(owner))
			require.NoError(t, os.MkdirAll(filepath.Dir(link), 0o755))
			require.NoError(t, os.Symlink(fmt.Sprintf("socket:[%d]", inode), link))
		}
	}
	return root
}

func fuzzPlugin(t *testing.T, root string) *TCPConn {
	p := inputs.Inputs["tcpconn"]().(*TCPConn)
	p.ProcRoot = root
	p.Metrics = []string{"connection", "event", "summary"}
	p.EmitInitial = true
	p.IncludeUnowned = true
	p.SummaryGroupBy = []string{"pid", "process_name", "state", "family", "local_addr", "local_port", "remote_addr", "remote_port", "direction"}
	p.Log = testutil.Logger{Quiet: true}
	require.NoError(t, p.Init())
	return p
}

// canonical prints metrics sorted, without their times and the fields
// that hold a time, which two plugins cannot share. It is a cheap
// RequireMetricsEqual, which would take half of each run.
func canonical(metrics []telegraf.Metric) []string {
	out := make([]string, 0, len(metrics))
	for _, m := range metrics {
		b := []byte(m.Name())
		for _, tag := range m.TagList() { // sorted by key
			b = fmt.Appendf(b, ",%s=%q", tag.Key, tag.Value)
		}
		var fields []string
		for _, field := range m.FieldList() {
			if field.Key != "age_s" && field.Key != "duration_s" {
				fields = append(fields, fmt.Sprintf("%s=%#v", field.Key, field.Value))
			}
		}
		slices.Sort(fields)
		out = append(out, string(b)+" "+strings.Join(fields, ","))
	}
	slices.Sort(out)
	return out
}

// checkOwners requires one tcpconn metric per owner of each owned inode in
// the tables, duplicates counted once, and no owner on any other socket.
func checkOwners(t *testing.T, metrics []telegraf.Metric, tables ...[]byte) {
	want := make(map[string]int)
	for _, table := range tables {
		r := parser.NewReader(bytes.NewReader(table))
		for r.Next() {
			for _, owner := range fuzzOwners[r.Socket().Inode] {
				want[strconv.FormatUint(r.Socket().Inode, 10)+" "+owner] = 1
			}
		}
	}
	got := make(map[string]int)
	for _, m := range metrics {
		if m.Name() != measurement {
			continue
		}
		inode, ok := m.GetField("inode")
		require.True(t, ok)
		pid, owned := m.GetTag("pid")
		if !owned {
			require.NotContains(t, fuzzOwners, uint64(inode.(int64)), "an owned socket reported without owner")
			continue
		}
		fd, ok := m.GetTag("fd")
		require.True(t, ok)
		got[fmt.Sprintf("%d %s/%s", inode, pid, fd)]++
	}
	require.Equal(t, want, got)
}
