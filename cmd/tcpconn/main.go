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
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"reflect"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/config"
	"github.com/influxdata/telegraf/models"
	"github.com/influxdata/telegraf/plugins/inputs"
	"github.com/influxdata/toml"

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
		debug                = flag.Bool("debug", false, "also log, at debug level (D! lines), what each gather walked and emitted")
		cpuProfile           = flag.String("cpuprofile", "", "write a CPU profile of the run to this file (for benchmarks)")
	)
	flag.Parse()

	if *cpuProfile != "" {
		stop, err := startCPUProfile(*cpuProfile)
		if err != nil {
			fmt.Fprintf(os.Stderr, "tcpconn: %v\n", err)
			os.Exit(1)
		}
		defer stop()
	}

	level := telegraf.Info
	if *debug {
		level = telegraf.Debug
	}
	log := newExecdLogger(os.Stderr, level)
	if err := run(*configFile, *pollInterval, *pollIntervalDisabled, *once, *usage, log); err != nil {
		fmt.Fprintf(os.Stderr, "tcpconn: %v\n", err)
		os.Exit(1) //nolint:gocritic // the profile of a failed run is not wanted
	}
}

func startCPUProfile(path string) (stop func(), _ error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

func run(configFile string, pollInterval time.Duration, pollDisabled, once, usage bool, log telegraf.Logger) error {
	if usage {
		_, err := fmt.Print(inputs.Inputs[pluginName]().SampleConfig())
		return err
	}
	input, err := loadInput(configFile)
	if err != nil {
		return err
	}
	warnDeprecated(input, log)

	// What Telegraf's shim does before its Run loop, with a logger whose
	// lines execd reads at their level. The loop itself is not Telegraf's:
	// it sends every metric through a telegraf.Metric, a channel and a
	// serializer, and with 200k sockets a gather costs more there than in
	// the kernel.
	if err := initInput(input, log); err != nil {
		return err
	}
	acc, err := newLineAccumulator(os.Stdout, log)
	if err != nil {
		return err
	}
	// As Telegraf does for a service input: the plugin may listen between
	// gathers (the kernel's destroy notifications).
	if si, ok := input.(telegraf.ServiceInput); ok {
		if err := si.Start(acc); err != nil {
			return fmt.Errorf("failed to start input: %w", err)
		}
		defer si.Stop()
	}
	if once {
		return gatherOnce(input, acc)
	}
	if pollDisabled {
		pollInterval = 0
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return serve(ctx, input, acc, os.Stdin, pollInterval)
}

// initInput gives the plugin its logger and runs its Init, as Telegraf's
// shim.AddInput does.
func initInput(input telegraf.Input, log telegraf.Logger) error {
	models.SetLoggerOnPlugin(input, log)
	if p, ok := input.(telegraf.Initializer); ok {
		if err := p.Init(); err != nil {
			return fmt.Errorf("failed to init input: %w", err)
		}
	}
	return nil
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
		return nil, fmt.Errorf("loading %s: %w", path, optionError(err))
	}
	// The shim registers this one plugin, so the loader has refused any
	// other table already.
	switch len(c.Inputs) {
	case 0:
		return nil, fmt.Errorf("loading %s: no [[inputs.%s]] table", path, pluginName)
	case 1:
		return c.Inputs[0].Input, nil
	}
	return nil, fmt.Errorf("loading %s: more than one [[inputs.%s]]; run one tcpconn per table", path, pluginName)
}

// optionError names the option a user wrote where Telegraf's loader names
// the Go field of a value of the wrong type: "line 2:
// (tcpconn.TCPConn.MaxSockets) ..." becomes "line 2: config option
// "max_sockets": ...". Any other error is returned as it is.
func optionError(err error) error {
	var le *toml.LineError
	if !errors.As(err, &le) || le.StructField == "" {
		return err
	}
	goName := le.StructField[strings.LastIndexByte(le.StructField, '.')+1:]
	f, ok := reflect.TypeOf(inputs.Inputs[pluginName]()).Elem().FieldByName(goName)
	if !ok {
		return err
	}
	option, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
	return fmt.Errorf("line %d: config option %q: %w", le.Line, option, le.Err)
}

// warnDeprecated logs a warning for each deprecated option set in the
// configuration, as Telegraf's loader does: the loader compares the
// option's version with its own, which a binary not built by Telegraf's
// release does not know, and then stays silent.
func warnDeprecated(input telegraf.Input, log telegraf.Logger) {
	var walk func(v reflect.Value)
	walk = func(v reflect.Value) {
		for i := range v.NumField() {
			f := v.Type().Field(i)
			switch {
			case !f.IsExported():
			case f.Anonymous && f.Type.Kind() == reflect.Struct:
				walk(v.Field(i)) // the plugin's embedded Options
			case f.Tag.Get("deprecated") != "" && !v.Field(i).IsZero():
				parts := strings.Split(f.Tag.Get("deprecated"), ";") // since;[removal;]notice
				option, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
				log.Warnf("DeprecationWarning: Option %q of plugin \"inputs.%s\" deprecated: %s", option, pluginName, parts[len(parts)-1])
			}
		}
	}
	walk(reflect.ValueOf(input).Elem())
}

// gatherOnce runs one gather; its metrics reach stdout while it runs.
func gatherOnce(input telegraf.Input, acc *lineAccumulator) error {
	return errors.Join(input.Gather(acc), acc.Flush())
}

// serve gathers once per line on stdin (inputs.execd with signal "STDIN")
// and, unless interval is 0, every interval, as Telegraf's shim does. It
// returns when stdin closes or ctx ends, after the gather under way.
func serve(ctx context.Context, input telegraf.Input, acc *lineAccumulator, stdin io.Reader, interval time.Duration) error {
	prompts := make(chan struct{}, 1)
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		sc := bufio.NewScanner(stdin)
		for sc.Scan() {
			select {
			case prompts <- struct{}{}:
			default: // a gather is already due
			}
		}
	}()
	var tick <-chan time.Time
	if interval > 0 {
		t := time.NewTicker(interval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-closed:
			return nil
		case <-prompts:
		case <-tick:
		}
		if err := input.Gather(acc); err != nil {
			acc.log.Errorf("Error in plugin: %v", err)
		}
		if err := acc.Flush(); err != nil {
			return fmt.Errorf("writing to stdout: %w", err)
		}
	}
}
