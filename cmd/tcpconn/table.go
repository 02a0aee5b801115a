package main

import (
	"bufio"
	"cmp"
	"encoding/binary"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/influxdata/telegraf"

	"github.com/tcpconn/telegraf-tcpconn/plugins/inputs/tcpconn"
)

// tableAccumulator is the accumulator of -format table. It keeps the
// connections that pass the filters: a table is sorted, so it needs its
// rows before it prints the first, but only those it shows.
type tableAccumulator struct {
	filters filters
	rows    []row
	// texts holds each state and process name once; rows index it.
	texts []string
	index map[string]uint32
	// width is the widest value of each column but the last so far:
	// measured as the rows come, while the gather waits on the kernel,
	// rather than in a pass after it.
	width [len(tableHeader) - 1]int
	buf   []byte
	pluginErrors
}

// row is a Connection as the table holds it until it is sorted: 56 bytes
// and no pointer, where a Connection takes 104 bytes and five pointers.
// An unfiltered table of a host with 200k sockets holds 200k of them.
type row struct {
	local, remote end
	pid, fd       int32
	state         uint32 // in texts
	process       uint32 // in texts
}

// end is a netip.AddrPort without its pointer (to the zone, which the
// kernel's rows never have).
type end struct {
	addr [16]byte // As16: an IPv4 address as ::ffff:a.b.c.d
	port uint16
	v6   bool
}

func endOf(ap netip.AddrPort) end {
	return end{addr: ap.Addr().As16(), port: ap.Port(), v6: ap.Addr().Is6()}
}

func (e *end) addrPort() netip.AddrPort {
	a := netip.AddrFrom16(e.addr)
	if !e.v6 {
		a = a.Unmap()
	}
	return netip.AddrPortFrom(a, e.port)
}

// compare orders as netip.AddrPort.Compare: IPv4 before IPv6, then the
// address and the port as numbers.
func (e *end) compare(f *end) int {
	if e.v6 != f.v6 {
		if e.v6 {
			return 1
		}
		return -1
	}
	// As netip does, as two numbers; the sort spends its time here.
	if c := cmp.Compare(binary.BigEndian.Uint64(e.addr[:8]), binary.BigEndian.Uint64(f.addr[:8])); c != 0 {
		return c
	}
	if c := cmp.Compare(binary.BigEndian.Uint64(e.addr[8:]), binary.BigEndian.Uint64(f.addr[8:])); c != 0 {
		return c
	}
	return cmp.Compare(e.port, f.port)
}

// newTableAccumulator returns the table of a gather. Unfiltered, it holds
// a row per socket, so it starts with room for the kernel's count of TCP
// sockets (and some for sockets shared by several descriptors): grown by
// append, its copies would double the rows' memory at 200k sockets. Pages
// it does not fill cost no memory.
func newTableAccumulator(f filters, procRoot string, log telegraf.Logger) *tableAccumulator {
	a := &tableAccumulator{filters: f, pluginErrors: pluginErrors{log}}
	if len(f) == 0 {
		if n := min(tcpSockets(procRoot), maxSizedRows); n > 0 {
			a.rows = make([]row, 0, n+n/16)
		}
	}
	return a
}

// maxSizedRows bounds the room made from the kernel's count, a number read
// from a file: past it, the rows grow as they come.
const maxSizedRows = 1 << 24

// tcpSockets returns the TCP sockets of <procRoot>/net/sockstat, 0 if it
// cannot tell: those allocated (of both families) and those in TIME_WAIT.
// proc(5) documents the file only by name; the line is the kernel's
// sockstat_seq_show (net/ipv4/proc.c).
func tcpSockets(procRoot string) int {
	f, err := os.Open(filepath.Join(procRoot, "net", "sockstat"))
	if err != nil {
		return 0
	}
	defer f.Close()
	return parseTCPSockets(f)
}

// parseTCPSockets reads alloc + tw from the line
// "TCP: inuse N orphan N tw N alloc N mem N".
func parseTCPSockets(r io.Reader) int {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "TCP: ")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		n := 0
		for i := 0; i+1 < len(f); i += 2 {
			if f[i] == "alloc" || f[i] == "tw" {
				v, err := strconv.Atoi(f[i+1])
				if err != nil || v < 0 {
					return 0
				}
				n += v
			}
		}
		return n
	}
	return 0
}

// AddConnection makes tableAccumulator a tcpconn.ConnectionSink.
func (a *tableAccumulator) AddConnection(c *tcpconn.Connection) {
	if !a.filters.matches(c) {
		return
	}
	a.rows = append(a.rows, row{local: endOf(c.Local), remote: endOf(c.Remote), pid: c.PID, fd: c.FD,
		state: a.intern(c.State), process: a.intern(c.Process)})
	r := &a.rows[len(a.rows)-1]
	a.width[0] = max(a.width[0], len(c.State))
	a.buf = appendEndpoint(a.buf[:0], &r.local)
	a.width[1] = max(a.width[1], len(a.buf))
	a.buf = appendEndpoint(a.buf[:0], &r.remote)
	a.width[2] = max(a.width[2], len(a.buf))
	a.buf = appendOwner(a.buf[:0], r, r.pid)
	a.width[3] = max(a.width[3], len(a.buf))
	a.buf = appendOwner(a.buf[:0], r, r.fd)
	a.width[4] = max(a.width[4], len(a.buf))
}

func (a *tableAccumulator) intern(s string) uint32 {
	i, ok := a.index[s]
	if !ok {
		if a.index == nil {
			a.index = make(map[string]uint32)
		}
		i = uint32(len(a.texts))
		a.texts = append(a.texts, s)
		a.index[s] = i
	}
	return i
}

// connection is the Connection r holds.
func (a *tableAccumulator) connection(r *row) tcpconn.Connection {
	return tcpconn.Connection{State: a.texts[r.state], Local: r.local.addrPort(), Remote: r.remote.addrPort(),
		PID: r.pid, FD: r.fd, Process: a.texts[r.process]}
}

// The table shows the tcpconn measurement alone, which comes through
// AddConnection; the shim gathers no other (see tableOptions).
func (*tableAccumulator) AddFields(string, map[string]any, map[string]string, ...time.Time)    {}
func (*tableAccumulator) AddGauge(string, map[string]any, map[string]string, ...time.Time)     {}
func (*tableAccumulator) AddCounter(string, map[string]any, map[string]string, ...time.Time)   {}
func (*tableAccumulator) AddSummary(string, map[string]any, map[string]string, ...time.Time)   {}
func (*tableAccumulator) AddHistogram(string, map[string]any, map[string]string, ...time.Time) {}
func (*tableAccumulator) AddMetric(telegraf.Metric)                                            {}
func (*tableAccumulator) SetPrecision(time.Duration)                                           {}

// AddError and WithTracking: pluginErrors. A partial failure (processes
// this user may not read) goes to stderr, saying what is missing from the
// table on stdout.

// tableHeader names the columns; PID and FD are right-aligned numbers.
var tableHeader = [...]string{"STATE", "LOCAL", "REMOTE", "PID", "FD", "PROCESS"}

// compare is the order of the table: local address and port, remote
// address and port, pid, fd, then state and process name. Addresses
// compare as netip does: IPv4 before IPv6, by value, so 10.0.0.9 comes
// before 10.0.0.10 and port 9 before port 10. The order covers every
// column, so the same sockets always print the same bytes.
func (a *tableAccumulator) compare(x, y *row) int {
	if c := x.local.compare(&y.local); c != 0 {
		return c
	}
	if c := x.remote.compare(&y.remote); c != 0 {
		return c
	}
	if c := cmp.Compare(x.pid, y.pid); c != 0 { // unowned (0) first
		return c
	}
	if c := cmp.Compare(x.fd, y.fd); c != 0 {
		return c
	}
	if c := strings.Compare(a.texts[x.state], a.texts[y.state]); c != 0 {
		return c
	}
	return strings.Compare(a.texts[x.process], a.texts[y.process])
}

// write sorts the rows and writes them as aligned columns, with a header,
// like ss: "127.0.0.1:8080", "[::1]:8080", and "*" for port 0 (a
// listener's remote end). An unowned socket shows "-" for pid, fd and
// process.
func (a *tableAccumulator) write(w io.Writer) error {
	slices.SortFunc(a.rows, func(x, y row) int { return a.compare(&x, &y) })
	var width [len(tableHeader) - 1]int
	for i := range width {
		width[i] = max(len(tableHeader[i]), a.width[i])
	}
	buf := make([]byte, 0, 64) // the longest endpoint is 47 bytes
	bw := bufio.NewWriterSize(w, 64<<10)
	var line []byte
	for i, h := range tableHeader[:len(tableHeader)-1] {
		line = align(line, []byte(h), width[i], i >= 3)
	}
	line = append(append(line, tableHeader[len(tableHeader)-1]...), '\n')
	if _, err := bw.Write(line); err != nil {
		return err
	}
	for i := range a.rows {
		r := &a.rows[i]
		line = align(line[:0], append(buf, a.texts[r.state]...), width[0], false)
		line = align(line, appendEndpoint(buf, &r.local), width[1], false)
		line = align(line, appendEndpoint(buf, &r.remote), width[2], false)
		line = align(line, appendOwner(buf, r, r.pid), width[3], true)
		line = align(line, appendOwner(buf, r, r.fd), width[4], true)
		line = append(appendProcess(line, r, a.texts[r.process]), '\n')
		if _, err := bw.Write(line); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// align appends a column's value v in width, left- or right-aligned, and
// the gap before the next column.
func align(line, v []byte, width int, right bool) []byte {
	if right {
		line = appendSpaces(line, width-len(v))
	}
	line = append(line, v...)
	if !right {
		line = appendSpaces(line, width-len(v))
	}
	return append(line, "  "...)
}

func appendSpaces(b []byte, n int) []byte {
	for range n {
		b = append(b, ' ')
	}
	return b
}

// appendEndpoint writes an end as ss does: [v6]:port, and * for port 0.
func appendEndpoint(b []byte, e *end) []byte {
	ap := e.addrPort()
	if ap.Port() != 0 {
		return ap.AppendTo(b)
	}
	if ap.Addr().Is6() {
		return append(ap.Addr().AppendTo(append(b, '[')), "]:*"...)
	}
	return append(ap.Addr().AppendTo(b), ":*"...)
}

// appendOwner writes a pid or fd, or "-" for an unowned socket (pid 0).
func appendOwner(b []byte, r *row, v int32) []byte {
	if r.pid == 0 {
		return append(b, '-')
	}
	return strconv.AppendInt(b, int64(v), 10)
}

// appendProcess writes the process name, quoted with Go's escapes if it
// holds a character a terminal would not print as itself: a name is
// whatever the process wrote into its comm.
func appendProcess(b []byte, r *row, name string) []byte {
	switch {
	case r.pid == 0:
		return append(b, '-')
	case strings.IndexFunc(name, func(c rune) bool { return !strconv.IsPrint(c) }) >= 0:
		return strconv.AppendQuote(b, name)
	}
	return append(b, name...)
}
