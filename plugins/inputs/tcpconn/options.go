package tcpconn

import (
	"time"

	"github.com/influxdata/telegraf/config"
)

// Options are the plugin's settings, one field per option of sample.conf.
// The plugin of every platform embeds them, so that a configuration written
// for Linux loads anywhere, and Init on another platform then says why it
// cannot run.
type Options struct {
	ProcRoot             string          `toml:"proc_root"`
	Protocols            []string        `toml:"protocols"`
	States               []string        `toml:"states"`
	ProcessNames         []string        `toml:"process_names"`
	IncludeUnowned       bool            `toml:"include_unowned"`
	Timeout              config.Duration `toml:"timeout"`
	MaxConnectionMetrics int             `toml:"max_connection_metrics"`
	MaxSockets           *int            `toml:"max_sockets" deprecated:"1.37.0;2.0.0;use 'max_connection_metrics' instead"`
	Namespaces           string          `toml:"namespaces"`
	OwnerWalk            string          `toml:"owner_walk"`
	Source               string          `toml:"source"`
	TCPInfo              bool            `toml:"tcp_info"`

	Metrics            []string `toml:"metrics"`
	EmitInitial        bool     `toml:"emit_initial"`
	MaxTracked         int      `toml:"max_tracked"`
	MaxPendingCloses   int      `toml:"max_pending_closes"`
	SummaryGroupBy     []string `toml:"summary_group_by"`
	FoldEphemeralPorts bool     `toml:"fold_ephemeral_ports"`
}

// defaultOptions are the options of a [[inputs.tcpconn]] that sets none,
// as sample.conf shows them.
func defaultOptions() Options {
	return Options{
		Protocols:            []string{"tcp4", "tcp6"},
		Timeout:              config.Duration(5 * time.Second),
		MaxConnectionMetrics: 100000,
		Namespaces:           "host",
		OwnerWalk:            "auto",
		Source:               "procfs",
		Metrics:              []string{"connection"},
		MaxTracked:           1000000,
		MaxPendingCloses:     100000,
		SummaryGroupBy:       []string{"process_name", "state"},
		FoldEphemeralPorts:   true,
	}
}
