//go:build !linux

// Package tcpconn is the Telegraf input plugin inputs.tcpconn. It reads the
// Linux proc filesystem, so on other platforms it refuses to start.
package tcpconn

import (
	_ "embed"
	"errors"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/plugins/inputs"
)

//go:embed sample.conf
var sampleConfig string

// TCPConn is the inputs.tcpconn plugin. Its options are accepted so that a
// shared configuration still loads; Init then says why it cannot run.
type TCPConn struct {
	ProcRoot       string   `toml:"proc_root"`
	Protocols      []string `toml:"protocols"`
	States         []string `toml:"states"`
	ProcessNames   []string `toml:"process_names"`
	IncludeUnowned bool     `toml:"include_unowned"`
	Timeout        string   `toml:"timeout"`
	MaxSockets     int      `toml:"max_sockets"`

	Log telegraf.Logger `toml:"-"`
}

func (*TCPConn) SampleConfig() string { return sampleConfig }

func (*TCPConn) Init() error {
	return errors.New("the tcpconn plugin is only supported on Linux: it reads /proc/<pid>/fd and /proc/net/tcp")
}

func (*TCPConn) Gather(telegraf.Accumulator) error { return nil }

func init() {
	inputs.Add("tcpconn", func() telegraf.Input { return &TCPConn{} })
}
