package main

import (
	"bufio"
	"cmp"
	"errors"
	"io"
	"net/netip"
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
	rows    []tcpconn.Connection
	log     telegraf.Logger
}

// AddConnection makes tableAccumulator a tcpconn.ConnectionSink.
func (a *tableAccumulator) AddConnection(c *tcpconn.Connection) {
	if a.filters.matches(c) {
		a.rows = append(a.rows, *c)
	}
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

// AddError logs to stderr, as the line-protocol path does: the table stays
// on stdout, and a partial failure (processes this user may not read)
// says what is missing from it.
func (a *tableAccumulator) AddError(err error) {
	if err != nil {
		a.log.Errorf("Error in plugin: %v", err)
	}
}

// WithTracking: see lineAccumulator.WithTracking.
func (*tableAccumulator) WithTracking(int) telegraf.TrackingAccumulator {
	panic(errors.New("tcpconn shim: tracking accumulators are not supported"))
}

// tableHeader names the columns; PID and FD are right-aligned numbers.
var tableHeader = [...]string{"STATE", "LOCAL", "REMOTE", "PID", "FD", "PROCESS"}

// compareRows is the order of the table: local address and port, remote
// address and port, pid, fd, then state and process name. Addresses
// compare as netip does: IPv4 before IPv6, by value, so 10.0.0.9 comes
// before 10.0.0.10 and port 9 before port 10. The order covers every
// column, so the same sockets always print the same bytes.
func compareRows(a, b tcpconn.Connection) int {
	if c := a.Local.Compare(b.Local); c != 0 {
		return c
	}
	if c := a.Remote.Compare(b.Remote); c != 0 {
		return c
	}
	if c := cmp.Compare(a.PID, b.PID); c != 0 { // unowned (0) first
		return c
	}
	if c := cmp.Compare(a.FD, b.FD); c != 0 {
		return c
	}
	if c := strings.Compare(a.State, b.State); c != 0 {
		return c
	}
	return strings.Compare(a.Process, b.Process)
}

// writeTable sorts rows and writes them as aligned columns, with a header,
// like ss: "127.0.0.1:8080", "[::1]:8080", and "*" for port 0 (a
// listener's remote end). An unowned socket shows "-" for pid, fd and
// process.
func writeTable(w io.Writer, rows []tcpconn.Connection) error {
	slices.SortFunc(rows, compareRows)
	var width [len(tableHeader)]int
	for i, h := range tableHeader {
		width[i] = len(h)
	}
	// Each value is written twice, to measure and to print, rather than
	// kept: the rows are all that is held.
	buf := make([]byte, 0, 64) // the longest endpoint is 47 bytes
	for i := range rows {
		r := &rows[i]
		width[0] = max(width[0], len(r.State))
		width[1] = max(width[1], len(appendEndpoint(buf, r.Local)))
		width[2] = max(width[2], len(appendEndpoint(buf, r.Remote)))
		width[3] = max(width[3], len(appendOwner(buf, r, r.PID)))
		width[4] = max(width[4], len(appendOwner(buf, r, r.FD)))
	}

	bw := bufio.NewWriterSize(w, 64<<10)
	var line []byte
	for i, h := range tableHeader[:len(tableHeader)-1] {
		line = align(line, []byte(h), width[i], i >= 3)
	}
	line = append(append(line, tableHeader[len(tableHeader)-1]...), '\n')
	if _, err := bw.Write(line); err != nil {
		return err
	}
	for i := range rows {
		r := &rows[i]
		line = align(line[:0], append(buf, r.State...), width[0], false)
		line = align(line, appendEndpoint(buf, r.Local), width[1], false)
		line = align(line, appendEndpoint(buf, r.Remote), width[2], false)
		line = align(line, appendOwner(buf, r, r.PID), width[3], true)
		line = align(line, appendOwner(buf, r, r.FD), width[4], true)
		line = append(appendProcess(line, r), '\n')
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

// appendEndpoint writes ap as ss does: [v6]:port, and * for port 0.
func appendEndpoint(b []byte, ap netip.AddrPort) []byte {
	if ap.Port() != 0 {
		return ap.AppendTo(b)
	}
	if ap.Addr().Is6() {
		return append(ap.Addr().AppendTo(append(b, '[')), "]:*"...)
	}
	return append(ap.Addr().AppendTo(b), ":*"...)
}

// appendOwner writes a pid or fd, or "-" for an unowned socket.
func appendOwner(b []byte, r *tcpconn.Connection, v int32) []byte {
	if !r.Owned() {
		return append(b, '-')
	}
	return strconv.AppendInt(b, int64(v), 10)
}

// appendProcess writes the process name, quoted with Go's escapes if it
// holds a character a terminal would not print as itself: a name is
// whatever the process wrote into its comm.
func appendProcess(b []byte, r *tcpconn.Connection) []byte {
	switch {
	case !r.Owned():
		return append(b, '-')
	case strings.IndexFunc(r.Process, func(c rune) bool { return !strconv.IsPrint(c) }) >= 0:
		return strconv.AppendQuote(b, r.Process)
	}
	return append(b, r.Process...)
}
