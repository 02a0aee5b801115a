package main

import (
	"bufio"
	"errors"
	"io"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/metric"
	"github.com/influxdata/telegraf/plugins/serializers/influx"
)

// lineAccumulator writes every metric to w as line protocol as soon as it
// is added: nothing is held between the plugin and stdout. It is also the
// plugin's LineProtocolSink, so the per-socket metrics skip telegraf.Metric
// altogether.
type lineAccumulator struct {
	w          *bufio.Writer
	serializer *influx.Serializer
	pluginErrors
	err error // the first write error
}

func newLineAccumulator(w io.Writer, log telegraf.Logger) (*lineAccumulator, error) {
	s := &influx.Serializer{SortFields: true}
	if err := s.Init(); err != nil {
		return nil, err
	}
	return &lineAccumulator{w: bufio.NewWriterSize(w, 64<<10), serializer: s, pluginErrors: pluginErrors{log}}, nil
}

// LineProtocol makes lineAccumulator a tcpconn.LineProtocolSink.
func (a *lineAccumulator) LineProtocol() io.Writer { return a }

// Write passes line protocol through, keeping the first error.
func (a *lineAccumulator) Write(b []byte) (int, error) {
	if a.err != nil {
		return 0, a.err
	}
	n, err := a.w.Write(b)
	a.err = err
	return n, err
}

// Flush ends a gather: what is buffered reaches stdout.
func (a *lineAccumulator) Flush() error {
	if a.err != nil {
		return a.err
	}
	a.err = a.w.Flush()
	return a.err
}

func (a *lineAccumulator) add(name string, fields map[string]any, tags map[string]string, tp telegraf.ValueType, t []time.Time) {
	tm := time.Now()
	if len(t) > 0 {
		tm = t[0]
	}
	a.AddMetric(metric.New(name, tags, fields, tm, tp))
}

func (a *lineAccumulator) AddFields(name string, fields map[string]any, tags map[string]string, t ...time.Time) {
	a.add(name, fields, tags, telegraf.Untyped, t)
}

func (a *lineAccumulator) AddGauge(name string, fields map[string]any, tags map[string]string, t ...time.Time) {
	a.add(name, fields, tags, telegraf.Gauge, t)
}

func (a *lineAccumulator) AddCounter(name string, fields map[string]any, tags map[string]string, t ...time.Time) {
	a.add(name, fields, tags, telegraf.Counter, t)
}

func (a *lineAccumulator) AddSummary(name string, fields map[string]any, tags map[string]string, t ...time.Time) {
	a.add(name, fields, tags, telegraf.Summary, t)
}

func (a *lineAccumulator) AddHistogram(name string, fields map[string]any, tags map[string]string, t ...time.Time) {
	a.add(name, fields, tags, telegraf.Histogram, t)
}

func (a *lineAccumulator) AddMetric(m telegraf.Metric) {
	b, err := a.serializer.Serialize(m)
	if err != nil {
		a.log.Errorf("Serializing metric: %v", err)
		return
	}
	_, _ = a.Write(b)
}

// SetPrecision is a no-op: the shim writes nanoseconds, as Telegraf's does.
func (*lineAccumulator) SetPrecision(time.Duration) {}

// pluginErrors is what both of the shim's accumulators do alike: log a
// plugin's error as Telegraf's accumulator does (inputs.execd relays the
// line to Telegraf's log, and stdout keeps only the output), and refuse
// tracking.
type pluginErrors struct{ log telegraf.Logger }

func (a pluginErrors) AddError(err error) {
	if err != nil {
		a.log.Errorf("Error in plugin: %v", err)
	}
}

// WithTracking is for service inputs that need delivery reports; tcpconn
// is not one. Returning a tracking accumulator that never reports would
// stall such an input, so it refuses loudly instead.
func (pluginErrors) WithTracking(int) telegraf.TrackingAccumulator {
	panic(errors.New("tcpconn shim: tracking accumulators are not supported"))
}
