// Command tcpconn runs the inputs.tcpconn plugin outside Telegraf, as an
// external plugin for Telegraf's inputs.execd (docs/EXTERNAL_PLUGINS.md in
// Telegraf). It writes line protocol to stdout.
//
//	tcpconn -config tcpconn.conf -poll_interval_disabled   # under inputs.execd, signal = "STDIN"
//	tcpconn -once                                          # one gather, then exit
//	tcpconn -usage                                         # print the sample configuration
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"strings"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/agent"
	"github.com/influxdata/telegraf/config"
	"github.com/influxdata/telegraf/plugins/common/shim"
	"github.com/influxdata/telegraf/plugins/inputs"
	"github.com/influxdata/telegraf/plugins/serializers/influx"

	_ "github.com/tcpconn/telegraf-tcpconn/plugins/inputs/tcpconn"
)

const pluginName = "tcpconn"

func main() {
	var (
		configFile           = flag.String("config", "", "path to a file holding one [[inputs.tcpconn]] table (default: the plugin's defaults)")
		pollInterval         = flag.Duration("poll_interval", 10*time.Second, "how often to gather")
		pollIntervalDisabled = flag.Bool("poll_interval_disabled", false, "gather only when Telegraf writes a line to stdin (execd signal = \"STDIN\")")
		once                 = flag.Bool("once", false, "gather once, write line protocol to stdout and exit")
		usage                = flag.Bool("usage", false, "print the sample configuration and exit")
	)
	flag.Parse()

	if err := run(*configFile, *pollInterval, *pollIntervalDisabled, *once, *usage); err != nil {
		fmt.Fprintf(os.Stderr, "tcpconn: %v\n", err)
		os.Exit(1)
	}
}

func run(configFile string, pollInterval time.Duration, pollDisabled, once, usage bool) error {
	if usage {
		_, err := fmt.Print(inputs.Inputs[pluginName]().SampleConfig())
		return err
	}
	input, err := loadInput(configFile)
	if err != nil {
		return err
	}

	s := shim.New()
	// AddInput gives the plugin its logger and runs Init.
	if err := s.AddInput(input); err != nil {
		return err
	}
	if once {
		return gatherOnce(s, input, os.Stdout)
	}
	if pollDisabled {
		pollInterval = shim.PollIntervalDisabled
	}
	return s.Run(pollInterval)
}

// loadInput reads the configuration with Telegraf's own loader, so an unknown
// key or a bad value fails exactly as it would inside Telegraf.
func loadInput(path string) (telegraf.Input, error) {
	if path == "" {
		return inputs.Inputs[pluginName](), nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	c := config.NewConfig()
	c.Agent.Quiet = true
	if err := c.LoadConfigData(data, path); err != nil {
		return nil, fmt.Errorf("loading %s: %s", path, nameOptions(err.Error()))
	}
	var found telegraf.Input
	for _, ri := range c.Inputs {
		if ri.Config.Name != pluginName {
			return nil, fmt.Errorf("loading %s: only [[inputs.%s]] is supported, found [[inputs.%s]]", path, pluginName, ri.Config.Name)
		}
		if found != nil {
			return nil, fmt.Errorf("loading %s: more than one [[inputs.%s]]; run one tcpconn per table", path, pluginName)
		}
		found = ri.Input
	}
	if found == nil {
		return nil, fmt.Errorf("loading %s: no [[inputs.%s]] table", path, pluginName)
	}
	return found, nil
}

// goField is how Telegraf's loader names the field of a value of the wrong
// type, e.g. "(tcpconn.TCPConn.MaxSockets)".
var goField = regexp.MustCompile(`\(\w+\.\w+\.(\w+)\)`)

// nameOptions rewrites Go field names in a loader error to the option names
// a user wrote: (tcpconn.TCPConn.MaxSockets) becomes option "max_sockets".
func nameOptions(msg string) string {
	plugin := reflect.TypeOf(inputs.Inputs[pluginName]()).Elem()
	return goField.ReplaceAllStringFunc(msg, func(m string) string {
		f, ok := plugin.FieldByName(goField.FindStringSubmatch(m)[1])
		if !ok {
			return m
		}
		name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		return fmt.Sprintf("config option %q:", name)
	})
}

// gatherOnce runs one gather and streams its metrics to w as line protocol
// while the gather still runs, so that nothing holds the whole table.
func gatherOnce(maker agent.MetricMaker, input telegraf.Input, w io.Writer) error {
	metrics := make(chan telegraf.Metric, 1024)
	acc := agent.NewAccumulator(maker, metrics)
	acc.SetPrecision(time.Nanosecond)

	var gatherErr error
	go func() {
		defer close(metrics)
		gatherErr = input.Gather(acc)
	}()

	serializer := &influx.Serializer{SortFields: true}
	if err := serializer.Init(); err != nil {
		return err
	}
	out := bufio.NewWriterSize(w, 64*1024)
	var writeErr error
	for m := range metrics {
		if writeErr != nil {
			continue // drain, so that the gather can finish
		}
		b, err := serializer.Serialize(m)
		if err != nil {
			maker.Log().Errorf("Serializing metric: %v", err)
			continue
		}
		_, writeErr = out.Write(b)
	}
	return errors.Join(gatherErr, writeErr, out.Flush())
}
