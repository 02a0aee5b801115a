//go:build linux

package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// dashboardFile is the committed Grafana dashboard, whose every query runs
// here verbatim.
const dashboardFile = "../examples/grafana/tcpconn.json"

// grafanaPeerAddr is the address the peer dials in this test: a loopback
// address that no other test uses, so that other tests' peers, which have
// the same process name, cannot stand in for this one in the top peers.
const grafanaPeerAddr = "127.0.0.44"

// positive, as a value of a wanted row, matches any number above 0.
const positive = "> 0"

// grafanaHost is Telegraf's host tag in this test. Its dots must be
// escaped in the dashboard's regexes, as Grafana does.
const grafanaHost = "e2e.tcpconn.test"

// dashboardQuery is one InfluxQL query of the dashboard: a panel's, a
// template variable's or an annotation's.
type dashboardQuery struct {
	kind, name, query string
}

func (q dashboardQuery) String() string { return fmt.Sprintf("%s %q", q.kind, q.name) }

// readDashboard returns every query of the dashboard and its multi-value
// template variables by name, and checks that Grafana would send each query
// as written (rawQuery) to an InfluxDB data source.
func readDashboard(t *testing.T) (queries []dashboardQuery, variables []string) {
	t.Helper()
	data, err := os.ReadFile(dashboardFile)
	require.NoError(t, err)
	type target struct {
		Query    string `json:"query"`
		RawQuery bool   `json:"rawQuery"`
	}
	var d struct {
		Panels []struct {
			Type    string   `json:"type"`
			Title   string   `json:"title"`
			Targets []target `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Type       string `json:"type"`
				Name       string `json:"name"`
				Query      any    `json:"query"`
				Multi      bool   `json:"multi"`
				IncludeAll bool   `json:"includeAll"`
				AllValue   string `json:"allValue"`
			} `json:"list"`
		} `json:"templating"`
		Annotations struct {
			List []struct {
				Name   string `json:"name"`
				Target target `json:"target"`
			} `json:"list"`
		} `json:"annotations"`
	}
	require.NoError(t, json.Unmarshal(data, &d))
	for _, p := range d.Panels {
		if p.Type == "row" {
			continue
		}
		require.Len(t, p.Targets, 1, "panel %q", p.Title)
		require.True(t, p.Targets[0].RawQuery, "panel %q: Grafana runs the query as written only with rawQuery", p.Title)
		queries = append(queries, dashboardQuery{"panel", p.Title, p.Targets[0].Query})
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		q, ok := v.Query.(string)
		require.True(t, ok, "variable %q: query %v", v.Name, v.Query)
		// interpolate formats the values of multi-value variables, and of
		// "All" without a custom value, which Grafana does not format.
		require.True(t, v.Multi && v.IncludeAll && v.AllValue == "", "variable %q", v.Name)
		queries = append(queries, dashboardQuery{"variable", v.Name, q})
		variables = append(variables, v.Name)
	}
	for _, a := range d.Annotations.List {
		require.True(t, a.Target.RawQuery, "annotation %q", a.Name)
		queries = append(queries, dashboardQuery{"annotation", a.Name, a.Target.Query})
	}
	return queries, variables
}

// grafanaEscape is escapeRegex of Grafana's @grafana/data, which the
// InfluxDB data source applies to each value of a multi-value variable.
var grafanaEscape = regexp.MustCompile(`[\\^$*+?.()|\[\]{}/]`)

// grafanaVariable matches $name and ${name}, the forms the dashboard uses
// of those Grafana's template service replaces.
var grafanaVariable = regexp.MustCompile(`\$(\w+)|\$\{(\w+)\}`)

// interpolate does to a query what Grafana does before InfluxDB sees it.
// First the browser replaces the template variables, formatted by the
// InfluxDB data source's interpolateQueryExpr: a multi-value variable
// becomes (a|b), each value regex-escaped. Other names, such as
// $timeFilter, are left alone. Then the server (Grafana's
// pkg/tsdb/influxdb/influxql/models/query.go) replaces the macros, in this
// order.
func interpolate(q string, selected map[string][]string, timeFilter string, interval time.Duration) string {
	q = grafanaVariable.ReplaceAllStringFunc(q, func(m string) string {
		sub := grafanaVariable.FindStringSubmatch(m)
		values, ok := selected[sub[1]+sub[2]]
		if !ok {
			return m
		}
		escaped := make([]string, len(values))
		for i, v := range values {
			escaped[i] = grafanaEscape.ReplaceAllString(v, `\${0}`)
		}
		return "(" + strings.Join(escaped, "|") + ")"
	})
	text := formatInterval(interval)
	q = strings.ReplaceAll(q, "$timeFilter", timeFilter)
	q = strings.ReplaceAll(q, "$interval", text)
	q = strings.ReplaceAll(q, "$__interval_ms", fmt.Sprint(interval.Milliseconds()))
	return strings.ReplaceAll(q, "$__interval", text)
}

// formatInterval is gtime.FormatInterval of Grafana's plugin SDK: the
// largest whole unit.
func formatInterval(d time.Duration) string {
	for _, u := range []struct {
		d    time.Duration
		unit string
	}{{365 * 24 * time.Hour, "y"}, {24 * time.Hour, "d"}, {time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}, {time.Millisecond, "ms"}} {
		if d >= u.d {
			return fmt.Sprintf("%d%s", d/u.d, u.unit)
		}
	}
	return "1ms"
}

// TestGrafanaInterpolate holds interpolate to Grafana's own answers: those
// of the InfluxDB data source's tests (datasource.test.ts) for multi-value
// variables, and the server's order of the macros.
func TestGrafanaInterpolate(t *testing.T) {
	selected := map[string][]string{"tempVar": {"/special/path", "/some/other/path"}, "env": {"env", "env2", "env3"}}
	for q, want := range map[string]string{
		`select that where path = '$tempVar'`:              `select that where path = '(\/special\/path|\/some\/other\/path)'`,
		`select thing from path =~ /^${env}$/`:             `select thing from path =~ /^(env|env2|env3)$/`,
		`WHERE $timeFilter GROUP BY time($__interval)`:     `WHERE time >= now() - 1h and time <= now() GROUP BY time(1m)`,
		`$__interval_ms $__interval $interval $unknownVar`: `90000 1m 1m $unknownVar`,
	} {
		require.Equal(t, want, interpolate(q, selected, "time >= now() - 1h and time <= now()", 90*time.Second), q)
	}
	for d, want := range map[time.Duration]string{500 * time.Millisecond: "500ms", 1500 * time.Millisecond: "1s", 10 * time.Second: "10s", 2 * time.Hour: "2h"} {
		require.Equal(t, want, formatInterval(d))
	}
}

// TestGrafanaDashboard runs the real Telegraf with all three measurements
// into InfluxDB, drives the peer through what the dashboard shows (more
// CLOSE_WAIT, a connection its remote peer closed, a listener that stops),
// then runs every query of the committed dashboard with Grafana's
// substitutions: each must return this test's rows. It runs against the
// pinned InfluxDB and, when it is installed, Debian's older one.
func TestGrafanaDashboard(t *testing.T) {
	queries, variables := readDashboard(t)
	require.ElementsMatch(t, []string{"host", "process_name"}, variables)
	t.Run("pinned", func(t *testing.T) { testDashboard(t, server(t, "influxd"), queries) })
	t.Run("debian", func(t *testing.T) { testDashboard(t, debianInfluxdOrSkip(t), queries) })
}

func testDashboard(t *testing.T, influxd string, queries []dashboardQuery) {
	start := time.Now()
	bin := binDir(t)
	base := startInfluxd(t, influxd)
	version := influxVersion(t, base, influxd)
	held := holdSockets(t)
	name, pid := peerName, held.pid
	servicePort := held.do(t, "listen")[0]
	// A connection from the peer to a new remote peer, whose end here the
	// test closes later.
	ln, err := net.Listen("tcp4", net.JoinHostPort(grafanaPeerAddr, "0"))
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	held.do(t, fmt.Sprintf("dial %s", ln.Addr()))
	remote, err := ln.Accept()
	require.NoError(t, err)
	t.Cleanup(func() { remote.Close() })
	startTelegraf(t, bin, telegrafToInfluxDBAs(t, bin, base, grafanaHost,
		fmt.Sprintf("process_names = [%q]", name),
		`metrics = ["connection", "event", "summary"]`))

	// The events need a gather that saw the listener and the connection
	// (made before Telegraf started) before they change.
	seen := fmt.Sprintf(`SELECT count("inode") FROM "tcpconn" WHERE "pid" = '%s' AND "local_port" = '%s'`, pid, servicePort)
	require.Eventually(t, func() bool {
		s, err := tryQuery(base, "telegraf", seen)
		return err == nil && len(s) == 1
	}, 60*time.Second, 250*time.Millisecond, "no gather with the peer's listener reached InfluxDB")
	// The two CLOSE_WAIT connections are new: opened events, even for a
	// socket a gather first lists without owner (made between its walk
	// and its table read), once the next gather finds the owner.
	held.do(t, "closewait 2")
	require.NoError(t, remote.Close()) // the peer's end: ESTABLISHED to CLOSE_WAIT
	held.do(t, "stoplisten")

	mainPort := fmt.Sprint(held.listenPort)
	with := func(kv ...string) map[string]string {
		m := map[string]string{"process_name": name}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	// What each query must return of this test, as tags or columns of
	// a row. A query of the dashboard without an entry fails the test.
	// Other tests may run peers of the same name on this host at the
	// same time: what the queries group by pid is this peer's.
	want := map[string][]map[string]string{
		"Connections by process and state": {with("state", "LISTEN"), with("state", "ESTABLISHED"), with("state", "CLOSE_WAIT")},
		"CLOSE_WAIT by process":            {with("pid", pid)},
		"Listeners":                        {with("pid", pid, "local_addr", "127.0.0.1", "local_port", mainPort), with("pid", pid, "local_port", servicePort)},
		"Listeners gone":                   {with("pid", pid, "local_addr", "127.0.0.1", "local_port", servicePort)},
		// Over the chosen processes: the peer's connections on loopback,
		// and the one it dialed.
		"Top remote peers": {{"remote_addr": "127.0.0.1"}, {"remote_addr": grafanaPeerAddr}},
		"Events by kind":   {with("event", "opened"), with("event", "state_changed"), with("event", "closed")},
		"Recent events":    {with("pid", pid, "event", "opened"), with("pid", pid, "event", "closed", "state", "LISTEN", "local_port", servicePort), with("pid", pid, "event", "state_changed", "from_state", "ESTABLISHED", "state", "CLOSE_WAIT", "remote_addr", grafanaPeerAddr)},
		"Sockets by process and state (summaries)": {with("state", "LISTEN"), with("state", "ESTABLISHED"), with("state", "CLOSE_WAIT")},
		"Closed per interval (summaries)":          {with("state", "LISTEN", "closed", positive)},
		"Largest send queue (summaries)":           {with()},
		"host":                                     {{"value": grafanaHost}},
		"process_name":                             {{"value": name}},
		"Listener closed":                          {with("pid", pid, "local_port", servicePort)},
		"Socket events":                            {with("pid", pid, "event", "opened"), with("pid", pid, "event", "state_changed", "remote_addr", grafanaPeerAddr), with("pid", pid, "event", "closed", "state", "LISTEN", "local_port", servicePort)},
	}
	names := make([]string, len(queries))
	for i, q := range queries {
		names[i] = q.name
	}
	require.ElementsMatch(t, keys(want), names, "an expectation for every query of the dashboard")

	// The two ways Grafana fills the macros: the browser's time filter
	// of a relative range (variable queries, and annotations without the
	// backend), and the server's, in epoch milliseconds; and two
	// intervals. Each with "All" selected (every value the variable's own
	// query returns), and with this test's host and process chosen
	// beside another of each, whose names need escaping.
	type run struct {
		desc       string
		timeFilter func() string
		interval   time.Duration
		all        bool
	}
	var runs []run
	for _, tf := range []struct {
		desc string
		f    func() string
	}{
		{"now() - 1h", func() string { return "time >= now() - 1h and time <= now()" }},
		{"epoch ms", func() string {
			now := time.Now()
			return fmt.Sprintf("time >= %dms and time <= %dms", now.Add(-time.Hour).UnixMilli(), now.UnixMilli())
		}},
	} {
		for _, all := range []bool{true, false} {
			interval := time.Second
			if !all {
				interval = 10 * time.Second
			}
			runs = append(runs, run{tf.desc, tf.f, interval, all})
		}
	}

	// Poll until a gather after the changes has been flushed and every
	// query returns its rows; then each one that does not fails, named.
	type outcome struct {
		rows    []int // by run
		missing []string
	}
	var outcomes map[string]*outcome
	var descs []string
	check := func() bool {
		outcomes = make(map[string]*outcome)
		descs = descs[:0]
		ok := true
		for _, r := range runs {
			selected := map[string][]string{"host": {grafanaHost, "db-1.example.org"}, "process_name": {name, "(sd-pam)"}}
			for _, q := range queries { // the variables come first, as in Grafana
				if q.kind != "variable" || !r.all {
					continue
				}
				// An error leaves no value, and fails below. A value
				// is an option once, however many measurements have it
				// (the data source's toMetricFindValue).
				ss, _ := tryQuery(base, "telegraf", interpolate(q.query, selected, r.timeFilter(), r.interval))
				selected[q.name] = nil
				for _, s := range ss {
					for i := range s.Values {
						if v := fmt.Sprint(rowMap(s, i)["value"]); !slices.Contains(selected[q.name], v) {
							selected[q.name] = append(selected[q.name], v)
						}
					}
				}
			}
			desc := fmt.Sprintf("$timeFilter %s, $__interval %s, host %v, process_name %v", r.desc, formatInterval(r.interval), selected["host"], selected["process_name"])
			descs = append(descs, desc)
			for _, q := range queries {
				o := outcomes[q.name]
				if o == nil {
					o = &outcome{}
					outcomes[q.name] = o
				}
				sent := interpolate(q.query, selected, r.timeFilter(), r.interval)
				ss, err := tryQuery(base, "telegraf", sent)
				rows := 0
				for _, s := range ss {
					rows += len(s.Values)
				}
				o.rows = append(o.rows, rows)
				if err != nil {
					o.missing = append(o.missing, fmt.Sprintf("%s: %v", desc, err))
					ok = false
					continue
				}
				for _, w := range want[q.name] {
					if !hasRow(ss, w) {
						o.missing = append(o.missing, fmt.Sprintf("%s: no row with %v in %d series\n  query: %s", desc, w, len(ss), sent))
						ok = false
					}
				}
			}
		}
		return ok
	}
	deadline := time.Now().Add(60 * time.Second)
	for !check() && time.Now().Before(deadline) {
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("InfluxDB %s (%s): the dashboard's queries answered after %s, in runs:", version, influxd, time.Since(start).Round(time.Millisecond))
	for i, d := range descs {
		t.Logf("  %d. %s", i+1, d)
	}
	if failed := slices.ContainsFunc(queries, func(q dashboardQuery) bool { return len(outcomes[q.name].missing) > 0 }); failed {
		events, err := tryQuery(base, "telegraf", fmt.Sprintf(`SELECT * FROM "tcpconn_event" WHERE "pid" = '%s'`, pid))
		t.Logf("the peer's events (%v): %+v", err, events)
	}
	for _, q := range queries {
		o := outcomes[q.name]
		for _, m := range o.missing {
			t.Errorf("%s returned nothing of this test's sockets: %s", q, m)
		}
		t.Logf("%s: rows by run %v", q, o.rows)
	}
}

// hasRow reports whether a row of ss has every key of want, as a tag of its
// series or a column, with that value.
func hasRow(ss []series, want map[string]string) bool {
	for _, s := range ss {
		for i := range s.Values {
			row := rowMap(s, i)
			match := true
			for k, v := range want {
				got, ok := s.Tags[k]
				switch {
				case ok:
				case v == positive:
					n, isNumber := row[k].(float64)
					match = match && isNumber && n > 0
					continue
				default:
					got = fmt.Sprint(row[k])
				}
				match = match && got == v
			}
			if match {
				return true
			}
		}
	}
	return false
}

// influxVersion is the version the server at base reports, or else the one
// its binary prints.
func influxVersion(t *testing.T, base, influxd string) string {
	t.Helper()
	resp, err := http.Get(base + "/ping")
	require.NoError(t, err)
	resp.Body.Close()
	if v := resp.Header.Get("X-Influxdb-Version"); v != "" && !strings.Contains(v, "unknown") {
		return v
	}
	out, err := exec.Command(influxd, "version").Output()
	require.NoError(t, err)
	v := strings.TrimSpace(string(out))
	if strings.Contains(v, "unknown") && influxd == server(t, "influxd") {
		// A build from the module proxy does not know its version: the
		// Makefile's pin does.
		pin, err := os.ReadFile(filepath.Join(binDir(t), ".influxd-version"))
		if err == nil {
			return strings.TrimSpace(string(pin))
		}
	}
	return v
}
