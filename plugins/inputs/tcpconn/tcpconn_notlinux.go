//go:build !linux

// Package tcpconn is the Telegraf input plugin inputs.tcpconn. It reads the
// Linux kernel's socket tables, so on other platforms it refuses to start.
package tcpconn

import (
	_ "embed"
	"errors"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/plugins/inputs"
)

//go:embed sample.conf
var sampleConfig string

// TCPConn is the inputs.tcpconn plugin. It takes every option of the Linux
// plugin, so that a shared configuration loads; Init then says why it
// cannot run.
type TCPConn struct {
	Options

	Log telegraf.Logger `toml:"-"`
}

// SampleConfig returns the plugin's sample configuration (sample.conf).
func (*TCPConn) SampleConfig() string { return sampleConfig }

// Init fails: the plugin reads files that only Linux has.
func (*TCPConn) Init() error {
	return errors.New("the tcpconn plugin is only supported on Linux: it reads /proc/<pid>/fd and the kernel's TCP tables")
}

// Gather does nothing: Init has failed.
func (*TCPConn) Gather(telegraf.Accumulator) error { return nil }

func init() {
	inputs.Add("tcpconn", func() telegraf.Input { return &TCPConn{Options: defaultOptions()} })
}
