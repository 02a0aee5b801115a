//go:build linux

// Command profile runs the tcpconn plugin in-process, through the same path
// as `tcpconn -once` (the execd shim's accumulator and the influx
// serializer, to a discarding writer), against whatever the host holds, with
// CPU and heap profiles. The scale harness runs it against its largest load
// (go run ./bench/scale -profile DIR); it also runs on its own:
//
//	profile -cpuprofile cpu.prof -memprofile mem.prof -gathers 5
//	go tool pprof -top cpu.prof
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/agent"
	"github.com/influxdata/telegraf/config"
	"github.com/influxdata/telegraf/plugins/common/shim"
	"github.com/influxdata/telegraf/plugins/serializers/influx"

	_ "github.com/tcpconn/telegraf-tcpconn/plugins/inputs/tcpconn"
)

// conf lifts the cardinality guard and the timeout, as the scale benchmark
// does.
const conf = "[[inputs.tcpconn]]\n  max_sockets = 0\n  timeout = \"60s\"\n"

func main() {
	var (
		cpuProfile = flag.String("cpuprofile", "", "write a CPU profile of the timed gathers to this file")
		memProfile = flag.String("memprofile", "", "write a heap profile (inuse and alloc) after the gathers to this file")
		gathers    = flag.Int("gathers", 5, "timed gathers, after one untimed")
	)
	flag.Parse()
	if err := run(*cpuProfile, *memProfile, *gathers); err != nil {
		fmt.Fprintf(os.Stderr, "profile: %v\n", err)
		os.Exit(1)
	}
}

func run(cpuProfile, memProfile string, gathers int) error {
	c := config.NewConfig()
	c.Agent.Quiet = true
	if err := c.LoadConfigData([]byte(conf), "profile.conf"); err != nil {
		return err
	}
	if len(c.Inputs) != 1 {
		return errors.New("want one input")
	}
	input := c.Inputs[0].Input
	s := shim.New()
	if err := s.AddInput(input); err != nil { // gives the logger, runs Init
		return err
	}

	// The first gather, as `tcpconn -once` does it: cold buffers.
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	n, err := gatherOnce(s, input, io.Discard)
	runtime.ReadMemStats(&after)
	report("first gather", n, time.Since(start), &before, &after, err)

	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
	}
	runtime.ReadMemStats(&before)
	start = time.Now()
	total := 0
	for range gathers {
		n, err = gatherOnce(s, input, io.Discard)
		total += n
	}
	elapsed := time.Since(start)
	runtime.ReadMemStats(&after)
	if cpuProfile != "" {
		pprof.StopCPUProfile()
	}
	report(fmt.Sprintf("%d more gathers, per gather", gathers), total/max(gathers, 1), elapsed/time.Duration(max(gathers, 1)), &before, &after, err)
	if gathers > 0 {
		fmt.Printf("  per metric: %.0f ns, %.0f B allocated, %.1f allocations\n",
			float64(elapsed.Nanoseconds())/float64(total),
			float64(after.TotalAlloc-before.TotalAlloc)/float64(total),
			float64(after.Mallocs-before.Mallocs)/float64(total))
	}
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	fmt.Printf("process: user %.2f s, sys %.2f s, peak RSS %.1f MiB; heap: sys %.1f MiB, in use %.1f MiB, GC cycles %d\n",
		time.Duration(ru.Utime.Nano()).Seconds(), time.Duration(ru.Stime.Nano()).Seconds(), float64(ru.Maxrss)/1024,
		float64(after.HeapSys)/(1<<20), float64(after.HeapInuse)/(1<<20), after.NumGC)

	if memProfile != "" {
		f, err := os.Create(memProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
			return err
		}
	}
	return nil
}

func report(what string, metrics int, d time.Duration, before, after *runtime.MemStats, err error) {
	fmt.Printf("%s: %d metrics in %v; allocated %.1f MiB in %d objects; %d GC cycles\n",
		what, metrics, d.Round(time.Millisecond),
		float64(after.TotalAlloc-before.TotalAlloc)/(1<<20), after.Mallocs-before.Mallocs, after.NumGC-before.NumGC)
	if err != nil {
		fmt.Printf("  gather error: %v\n", err)
	}
}

// gatherOnce is cmd/tcpconn's gatherOnce: the gather runs in a goroutine
// and its metrics are serialised as they come. It returns the number of
// metrics.
func gatherOnce(maker agent.MetricMaker, input telegraf.Input, w io.Writer) (int, error) {
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
		return 0, err
	}
	out := bufio.NewWriterSize(w, 64*1024)
	n := 0
	for m := range metrics {
		b, err := serializer.Serialize(m)
		if err != nil {
			continue
		}
		n++
		_, _ = out.Write(b)
	}
	return n, errors.Join(gatherErr, out.Flush())
}
