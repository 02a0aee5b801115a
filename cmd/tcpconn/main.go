// Command tcpconn runs the inputs.tcpconn plugin outside Telegraf, as an
// external plugin for Telegraf's inputs.execd (docs/EXTERNAL_PLUGINS.md in
// Telegraf). It writes line protocol to stdout, or, for a person at a
// terminal, a table of who owns which connection.
//
//	tcpconn -config tcpconn.conf -poll_interval_disabled   # under inputs.execd, signal = "STDIN"
//	tcpconn -once                                          # one gather, then exit
//	tcpconn -once -format table -filter 127.0.0.1:8080     # which process owns this connection?
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
	"github.com/influxdata/toml/ast"

	"github.com/tcpconn/telegraf-tcpconn/plugins/inputs/tcpconn"
)

const pluginName = "tcpconn"

// The values of -format.
const (
	formatLineProtocol = "lineprotocol"
	formatTable        = "table"
)

// options are the shim's flags.
type options struct {
	configFile   string
	pollInterval time.Duration
	pollDisabled bool
	once         bool
	usage        bool
	format       string
	filters      filters
	debug        bool
	cpuProfile   string
}

// flagSet defines the flags into o. -help is answered by main, and a bad
// flag's error alone says what is wrong: the whole usage after it would
// bury it.
func flagSet(o *options) *flag.FlagSet {
	fs := flag.NewFlagSet("tcpconn", flag.ContinueOnError)
	fs.Usage = func() {}
	fs.StringVar(&o.configFile, "config", "", "path to a file holding one [[inputs.tcpconn]] table (default: the plugin's defaults)")
	fs.DurationVar(&o.pollInterval, "poll_interval", 10*time.Second, "how often to gather")
	fs.BoolVar(&o.pollDisabled, "poll_interval_disabled", false, "gather only when Telegraf writes a line to stdin (execd signal = \"STDIN\")")
	fs.BoolVar(&o.once, "once", false, "gather once, write the result to stdout and exit")
	fs.StringVar(&o.format, "format", formatLineProtocol, "output `FORMAT`: \""+formatLineProtocol+"\" for Telegraf, or \""+formatTable+"\" (with -once) for a person; see below")
	fs.Var(&o.filters, "filter", "with -format table, show only the rows that match `TERM`; repeat it to narrow further; see below")
	fs.BoolVar(&o.usage, "usage", false, "print the sample configuration and exit")
	fs.BoolVar(&o.debug, "debug", false, "also log, at debug level (D! lines), what each gather walked and emitted")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the run to this file (for benchmarks)")
	return fs
}

func main() {
	var o options
	fs := flagSet(&o)
	if err := fs.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			writeUsage(os.Stdout, fs)
			return
		}
		fmt.Fprintln(os.Stderr, "run tcpconn -help for the flags and the terms of -filter")
		os.Exit(2)
	}

	if o.cpuProfile != "" {
		stop, err := startCPUProfile(o.cpuProfile)
		if err != nil {
			fmt.Fprintf(os.Stderr, "tcpconn: %v\n", err)
			os.Exit(1)
		}
		defer stop()
	}

	level := telegraf.Info
	if o.debug {
		level = telegraf.Debug
	}
	log := newExecdLogger(os.Stderr, level)
	if err := run(&o, log); err != nil {
		fmt.Fprintf(os.Stderr, "tcpconn: %v\n", err)
		os.Exit(1) //nolint:gocritic // the profile of a failed run is not wanted
	}
}

// writeUsage is -help: the flags, then what -format table shows and the
// terms of -filter.
func writeUsage(w io.Writer, flags *flag.FlagSet) {
	fmt.Fprint(w, `Usage: tcpconn [flags]

tcpconn runs Telegraf's inputs.tcpconn plugin on its own: under inputs.execd,
or once at a terminal.

  tcpconn -config tcpconn.conf -poll_interval_disabled   # under inputs.execd, signal = "STDIN"
  tcpconn -once                                          # one gather as line protocol
  tcpconn -once -format table -filter 127.0.0.1:8080     # which process owns this connection?
  tcpconn -once -format table -filter process=nginx -filter state=CLOSE_WAIT

Flags:
`)
	flags.SetOutput(w)
	flags.PrintDefaults()
	fmt.Fprint(w, `
-format table (with -once) prints one row per socket and owner: state, local
and remote address:port ([v6]:port, and * for port 0, as ss prints them),
pid, fd and process name, sorted by local address and port (IPv4 first),
then remote address and port, pid, fd, state and process. A socket no
process holds (TIME_WAIT), or that only processes this user may not read
hold, shows - for pid, fd and process. The table gathers the tcpconn
measurement alone, with include_unowned = true (unless the -config file sets
it, or sets process_names, which leaves the other processes' sockets
unowned) and max_connection_metrics = 0 (no limit, unless the file sets it:
the limit counts rows before -filter); the file's other options apply.

-filter TERM selects rows of the table. Repeat it: a row must match every
term. A term's value may list alternatives, a,b: one of them must match.
The first process= term is the walk's process_names, unless the -config
file sets those: the other processes are not read.
`)
	for _, k := range filterKeys {
		fmt.Fprintf(w, "  %-36s %s\n", k.syntax, k.doc)
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

func run(o *options, log telegraf.Logger) error {
	if o.usage {
		_, err := fmt.Print(inputs.Inputs[pluginName]().SampleConfig())
		return err
	}
	table, err := o.check()
	if err != nil {
		return err
	}
	input, set, err := loadInput(o.configFile)
	if err != nil {
		return err
	}
	warnDeprecated(input, log)
	var plugin *tcpconn.TCPConn
	if table {
		if plugin, err = tableOptions(input, set, o.filters); err != nil {
			return err
		}
	}

	// What Telegraf's shim does before its Run loop, with a logger whose
	// lines execd reads at their level. The loop itself is not Telegraf's:
	// it sends every metric through a telegraf.Metric, a channel and a
	// serializer, and with 200k sockets a gather costs more there than in
	// the kernel.
	if err := initInput(input, log); err != nil {
		return err
	}
	if table {
		acc := newTableAccumulator(o.filters, plugin.ProcRoot, log) // as Init set it
		stop, err := startService(input, acc)
		if err != nil {
			return err
		}
		defer stop()
		if err := input.Gather(acc); err != nil {
			return err
		}
		return acc.write(os.Stdout)
	}
	acc, err := newLineAccumulator(os.Stdout, log)
	if err != nil {
		return err
	}
	stop, err := startService(input, acc)
	if err != nil {
		return err
	}
	defer stop()
	if o.once {
		return gatherOnce(input, acc)
	}
	interval := o.pollInterval
	if o.pollDisabled {
		interval = 0
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	return serve(ctx, input, acc, os.Stdin, interval)
}

// check validates the flags that go together, and says whether the output
// is a table.
func (o *options) check() (table bool, _ error) {
	switch o.format {
	case formatLineProtocol:
		if len(o.filters) > 0 {
			return false, errors.New("-filter selects rows of -format table; line protocol is narrowed by the configuration (process_names, states)")
		}
		return false, nil
	case formatTable:
		if !o.once {
			return false, errors.New("-format table needs -once: a table is one gather, sorted; a shim that keeps running writes line protocol")
		}
		return true, nil
	}
	return false, fmt.Errorf("unknown -format %q; use %q or %q", o.format, formatLineProtocol, formatTable)
}

// tableOptions adapts the configuration to a person's question, "who owns
// this connection?": the answer may be that nobody does (a TIME_WAIT
// socket), and a guard against a database's cardinality must not hide the
// row asked for. An option the -config file sets is kept. set reports
// whether the file sets an option. A process= filter narrows the walk as
// process_names would, unless the file sets those.
func tableOptions(input telegraf.Input, set func(option string) bool, f filters) (*tcpconn.TCPConn, error) {
	t, ok := input.(*tcpconn.TCPConn)
	if !ok {
		return nil, fmt.Errorf("-format table: the input is a %T, not inputs.tcpconn", input)
	}
	t.Metrics = []string{"connection"}
	if len(t.ProcessNames) == 0 {
		t.ProcessNames = f.processNames()
	}
	// With process_names the walk skips the other processes, whose
	// sockets would all show as unowned.
	if !set("include_unowned") && len(t.ProcessNames) == 0 {
		t.IncludeUnowned = true
	}
	if !set("max_connection_metrics") && !set("max_sockets") {
		t.MaxConnectionMetrics = 0
	}
	return t, nil
}

// startService starts a service input, as Telegraf does: the plugin may
// listen between gathers (the kernel's destroy notifications).
func startService(input telegraf.Input, acc telegraf.Accumulator) (stop func(), _ error) {
	si, ok := input.(telegraf.ServiceInput)
	if !ok {
		return func() {}, nil
	}
	if err := si.Start(acc); err != nil {
		return nil, fmt.Errorf("failed to start input: %w", err)
	}
	return si.Stop, nil
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
// key or a bad value fails exactly as it would inside Telegraf. set reports
// whether the file sets an option.
func loadInput(path string) (_ telegraf.Input, set func(option string) bool, _ error) {
	if path == "" {
		return inputs.Inputs[pluginName](), func(string) bool { return false }, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	c := config.NewConfig()
	c.Agent.Quiet = true
	if err := c.LoadConfigData(data, path); err != nil {
		return nil, nil, fmt.Errorf("loading %s: %w", path, optionError(err))
	}
	// The shim registers this one plugin, so the loader has refused any
	// other table already.
	switch len(c.Inputs) {
	case 0:
		return nil, nil, fmt.Errorf("loading %s: no [[inputs.%s]] table", path, pluginName)
	case 1:
		keys := optionsIn(data)
		return c.Inputs[0].Input, func(option string) bool { return keys[option] }, nil
	}
	return nil, nil, fmt.Errorf("loading %s: more than one [[inputs.%s]]; run one tcpconn per table", path, pluginName)
}

// optionsIn returns the options the [[inputs.tcpconn]] table of a
// configuration sets. Telegraf's loader keeps no record of them, and a
// plugin's defaults cannot tell an option left out from one set to its
// default. Telegraf substitutes environment variables before it parses:
// a file this plain parse refuses after the loader took it sets nothing
// here.
func optionsIn(data []byte) map[string]bool {
	root, err := toml.Parse(data)
	if err != nil {
		return nil
	}
	ins, ok := root.Fields["inputs"].(*ast.Table)
	if !ok {
		return nil
	}
	var tbl *ast.Table
	switch v := ins.Fields[pluginName].(type) {
	case []*ast.Table:
		if len(v) == 1 {
			tbl = v[0]
		}
	case *ast.Table:
		tbl = v
	}
	if tbl == nil {
		return nil
	}
	keys := make(map[string]bool, len(tbl.Fields))
	for k := range tbl.Fields {
		keys[k] = true
	}
	return keys
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
