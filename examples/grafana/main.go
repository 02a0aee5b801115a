// Command grafana writes tcpconn.json, a Grafana dashboard of tcpconn's
// three measurements in InfluxDB 1.x, queried with InfluxQL. It is built
// with the Grafana Foundation SDK (Apache-2.0); `make dashboard` runs it,
// and its test fails when the committed JSON is not what it writes now.
//
// The end-to-end test e2e/grafana_test.go runs every query of the JSON
// against the real InfluxDB, with Grafana's macros substituted.
//
//go:generate go run . -o tcpconn.json
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

func main() {
	out := flag.String("o", "", "write the dashboard to this file instead of stdout")
	flag.Parse()
	b, err := dashboardJSON()
	if err == nil {
		if *out == "" {
			_, err = os.Stdout.Write(b)
		} else {
			err = os.WriteFile(*out, b, 0o644)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "grafana:", err)
		os.Exit(1)
	}
}

// The data source: a variable of type influxdb, whose default is the
// data source chosen at import (the __inputs entry). A dashboard
// provisioned from the file, which nothing imports, keeps the literal
// ${DS_INFLUXDB}, and Grafana then selects the variable's first option.
const (
	dsInput    = "DS_INFLUXDB"
	dsVariable = "datasource"
)

var datasource = common.DataSourceRef{Type: cog.ToPtr("influxdb"), Uid: cog.ToPtr("${" + dsVariable + "}")}

// selected keeps a query to the hosts and processes chosen in the
// dashboard's variables. Both are multi-value, so Grafana's InfluxDB data
// source writes each as an escaped regex group, (a|b).
const selected = `"host" =~ /^$host$/ AND "process_name" =~ /^$process_name$/`

func dashboardJSON() ([]byte, error) {
	// The SDK prefers dashboardv2, the schema of Grafana 12's new
	// dashboards, which older Grafanas cannot import; this is the classic
	// JSON model that every Grafana's Import page reads.
	builder := dashboard.NewDashboardBuilder("TCP connections (tcpconn)") //nolint:staticcheck // see above
	d, err := builder.
		Uid("tcpconn").
		Description("Every TCP socket with the process that owns it, from the Telegraf plugin inputs.tcpconn in InfluxDB 1.x.").
		Tags([]string{"tcpconn", "telegraf", "influxdb"}).
		Time("now-1h", "now").
		Refresh("30s").
		WithVariable(dashboard.NewDatasourceVariableBuilder(dsVariable).
			Label("Data source").
			Type("influxdb").
			Current(dashboard.VariableOption{
				Text:  dashboard.StringOrArrayOfString{String: cog.ToPtr("${" + dsInput + "}")},
				Value: dashboard.StringOrArrayOfString{String: cog.ToPtr("${" + dsInput + "}")},
			})).
		WithVariable(tagVariable("host", "Host",
			`SHOW TAG VALUES FROM /^tcpconn/ WITH KEY = "host"`)).
		WithVariable(tagVariable("process_name", "Process",
			`SHOW TAG VALUES FROM /^tcpconn/ WITH KEY = "process_name" WHERE "host" =~ /^$host$/`)).
		Annotation(annotation("Listener closed", "red", true, "process_name", "pid,local_addr,local_port",
			`SELECT "duration_s" AS "listened_s", "process_name", "pid", "local_addr", "local_port" FROM "tcpconn_event" WHERE "event" = 'closed' AND "state" = 'LISTEN' AND `+selected+` AND $timeFilter`)).
		// Every event of the chosen processes: one mark per socket, too
		// many on a busy host to show by default.
		Annotation(annotation("Socket events", "blue", false, "event", "process_name,pid,state,local_port,remote_addr",
			`SELECT "inode", "event", "state", "process_name", "pid", "local_port", "remote_addr" FROM "tcpconn_event" WHERE `+selected+` AND $timeFilter`)).
		WithRow(dashboard.NewRowBuilder("Connections (tcpconn)")).
		WithPanel(graph(12, "Connections by process and state",
			"Distinct sockets per process and state in each interval.", "$tag_process_name $tag_state",
			`SELECT count(distinct("inode")) AS "connections" FROM "tcpconn" WHERE `+selected+` AND $timeFilter GROUP BY time($__interval), "process_name", "state" fill(none)`)).
		WithPanel(graph(12, "CLOSE_WAIT by process",
			"Connections the peer closed and the process did not: a steady climb is a leak.", "$tag_process_name ($tag_pid)",
			`SELECT count(distinct("inode")) AS "close_wait" FROM "tcpconn" WHERE "state" = 'CLOSE_WAIT' AND `+selected+` AND $timeFilter GROUP BY time($__interval), "process_name", "pid" fill(none)`)).
		WithPanel(grid(8, "Listeners",
			"Listening sockets seen in the time range, who holds them, and their last accept queue.",
			`SELECT last("inode") AS "inode", last("rx_queue") AS "accept_queue" FROM "tcpconn" WHERE "state" = 'LISTEN' AND `+selected+` AND $timeFilter GROUP BY "process_name", "pid", "local_addr", "local_port"`)).
		WithPanel(grid(8, "Listeners gone",
			"Listening sockets that closed (needs \"event\" in metrics), with how long tcpconn had seen each listening.",
			`SELECT last("duration_s") AS "listened_s" FROM "tcpconn_event" WHERE "event" = 'closed' AND "state" = 'LISTEN' AND `+selected+` AND $timeFilter GROUP BY "process_name", "pid", "local_addr", "local_port"`)).
		WithPanel(grid(8, "Top remote peers",
			"The ten remote addresses with the most established connections of the chosen processes.",
			`SELECT top("connections", "remote_addr", 10) AS "connections" FROM (SELECT count(distinct("inode")) AS "connections" FROM "tcpconn" WHERE "state" = 'ESTABLISHED' AND `+selected+` AND $timeFilter GROUP BY "remote_addr")`)).
		WithRow(dashboard.NewRowBuilder("Events (tcpconn_event)")).
		WithPanel(graph(12, "Events by kind",
			"Sockets opened, closed or changed state per interval, per process (needs \"event\" in metrics).", "$tag_process_name $tag_event",
			`SELECT count("inode") AS "events" FROM "tcpconn_event" WHERE `+selected+` AND $timeFilter GROUP BY time($__interval), "process_name", "event" fill(none)`)).
		// InfluxQL returns a row only with a field of it selected: inode,
		// which every event of an owned socket has.
		WithPanel(grid(12, "Recent events",
			"The last events of each process, newest first.",
			`SELECT "event", "state", "from_state", "inode", "local_addr", "local_port", "remote_addr", "remote_port", "duration_s" FROM "tcpconn_event" WHERE `+selected+` AND $timeFilter GROUP BY "process_name", "pid" ORDER BY time DESC LIMIT 100`)).
		WithRow(dashboard.NewRowBuilder("Summaries (tcpconn_summary)")).
		WithPanel(graph(8, "Sockets by process and state (summaries)",
			"Every socket of the tables, counted per group (needs \"summary\" in metrics, grouped by process_name and state: the default).", "$tag_process_name $tag_state",
			`SELECT max("count") AS "sockets" FROM "tcpconn_summary" WHERE `+selected+` AND $timeFilter GROUP BY time($__interval), "process_name", "state" fill(none)`)).
		WithPanel(graph(8, "Closed per interval (summaries)",
			"Sockets that closed, short-lived ones included, per process and last state (needs \"event\" and \"summary\").", "$tag_process_name $tag_state",
			`SELECT sum("closed") AS "closed" FROM "tcpconn_summary" WHERE `+selected+` AND $timeFilter GROUP BY time($__interval), "process_name", "state" fill(none)`)).
		WithPanel(graph(8, "Largest send queue (summaries)",
			"The largest send queue of any socket of the process: bytes its peers have not acknowledged.", "$tag_process_name",
			`SELECT max("max_tx_queue") AS "max_tx_queue" FROM "tcpconn_summary" WHERE `+selected+` AND $timeFilter GROUP BY time($__interval), "process_name" fill(none)`)).
		Build()
	if err != nil {
		return nil, err
	}
	// Grafana keys a panel's state by its id: number them in order.
	for i, p := range d.Panels {
		if p.Panel != nil {
			p.Panel.Id = cog.ToPtr(uint32(i + 1))
		} else {
			p.RowPanel.Id = uint32(i + 1)
		}
	}
	// The SDK has no field for __inputs, the data source prompt of
	// Grafana's import: it is added beside the dashboard's own fields.
	var fields map[string]any
	if b, err := json.Marshal(d); err != nil {
		return nil, err
	} else if err := json.Unmarshal(b, &fields); err != nil {
		return nil, err
	}
	fields["__inputs"] = []map[string]string{{
		"name": dsInput, "label": "InfluxDB", "description": "The InfluxDB 1.x (InfluxQL) data source that Telegraf writes tcpconn to",
		"type": "datasource", "pluginId": "influxdb", "pluginName": "InfluxDB",
	}}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // keep the queries' < and > readable
	enc.SetIndent("", "  ")
	if err := enc.Encode(fields); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// tagVariable is a multi-value variable of the values of a tag, with "All".
func tagVariable(name, label, query string) *dashboard.QueryVariableBuilder {
	return dashboard.NewQueryVariableBuilder(name).
		Label(label).
		Datasource(datasource).
		Query(dashboard.StringOrMap{String: cog.ToPtr(query)}).
		Definition(query).
		Refresh(dashboard.VariableRefreshOnTimeRangeChanged).
		Sort(dashboard.VariableSortAlphabeticalAsc).
		Multi(true).
		IncludeAll(true).
		Current(dashboard.VariableOption{
			Text:  dashboard.StringOrArrayOfString{ArrayOfString: []string{"All"}},
			Value: dashboard.StringOrArrayOfString{ArrayOfString: []string{"$__all"}},
		})
}

func graph(span uint32, title, description, alias, query string) *timeseries.PanelBuilder {
	return timeseries.NewPanelBuilder().
		Title(title).
		Description(description).
		Datasource(datasource).
		Span(span).
		Height(8).
		Legend(common.NewVizLegendOptionsBuilder().
			ShowLegend(true).
			DisplayMode(common.LegendDisplayModeList).
			Placement(common.LegendPlacementBottom)).
		Tooltip(common.NewVizTooltipOptionsBuilder().
			Mode(common.TooltipDisplayModeMulti).
			Sort(common.SortOrderDescending)).
		WithTarget(influxQL{RefID: "A", Datasource: datasource, Query: query, RawQuery: true, ResultFormat: "time_series", Alias: alias})
}

func grid(span uint32, title, description, query string) *table.PanelBuilder {
	return table.NewPanelBuilder().
		Title(title).
		Description(description).
		Datasource(datasource).
		Span(span).
		Height(8).
		WithTarget(influxQL{RefID: "A", Datasource: datasource, Query: query, RawQuery: true, ResultFormat: "table"})
}

// annotation marks the events a query returns: its title, text and tags
// are columns of the result.
func annotation(name, color string, enable bool, textColumn, tagsColumn, query string) *dashboard.AnnotationQueryBuilder {
	return dashboard.NewAnnotationQueryBuilder().
		Name(name).
		Datasource(datasource).
		Enable(enable).
		IconColor(color).
		Target(influxQL{Datasource: datasource, Query: query, RawQuery: true, FromAnnotations: true, TextColumn: textColumn, TagsColumn: tagsColumn})
}

// influxQL is a query of Grafana's InfluxDB data source in InfluxQL: the SDK
// has a query type for every other core data source but none for
// InfluxDB, so this is its extension point for one (docs/How-To/
// custom-query-type.md). The fields are those of the data source's
// InfluxQuery; an annotation's are those its migrations.ts writes.
type influxQL struct {
	RefID        string               `json:"refId"`
	Datasource   common.DataSourceRef `json:"datasource"`
	Query        string               `json:"query"`
	RawQuery     bool                 `json:"rawQuery"`
	ResultFormat string               `json:"resultFormat,omitempty"`
	Alias        string               `json:"alias,omitempty"`

	FromAnnotations bool   `json:"fromAnnotations,omitempty"`
	TextColumn      string `json:"textColumn,omitempty"`
	TagsColumn      string `json:"tagsColumn,omitempty"`
}

func (q influxQL) ImplementsDataqueryVariant() {}

func (q influxQL) DataqueryType() string { return "influxdb" }

func (q influxQL) Validate() error { return nil }

func (q influxQL) Equals(other variants.Dataquery) bool {
	o, ok := other.(influxQL)
	return ok && o.RefID == q.RefID && o.Query == q.Query && o.RawQuery == q.RawQuery &&
		o.ResultFormat == q.ResultFormat && o.Alias == q.Alias && o.FromAnnotations == q.FromAnnotations &&
		o.TextColumn == q.TextColumn && o.TagsColumn == q.TagsColumn
}

// Build makes a query its own builder, for WithTarget and Target.
func (q influxQL) Build() (variants.Dataquery, error) { return q, nil }
