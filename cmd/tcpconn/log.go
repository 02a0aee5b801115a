package main

import (
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/influxdata/telegraf"
)

// execdLogger is the plugin's logger in the shim. It writes one line per
// message, "E! text", "W! text" and so on: the form in which Telegraf's
// inputs.execd reads a line of stderr back at its own level. Telegraf's
// shim logger writes a timestamp first, and execd then logs every such
// line as an error, quoted, whatever its level.
type execdLogger struct {
	mu    sync.Mutex
	w     io.Writer
	level telegraf.LogLevel
}

func newExecdLogger(w io.Writer, level telegraf.LogLevel) *execdLogger {
	return &execdLogger{w: w, level: level}
}

// newlines keeps a message on one line: execd reads stderr line by line,
// and errors.Join puts newlines between errors.
var newlines = strings.NewReplacer("\r\n", "; ", "\n", "; ")

func (l *execdLogger) print(level telegraf.LogLevel, msg string) {
	if !l.level.Includes(level) {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, "%s %s\n", level.Indicator(), newlines.Replace(strings.TrimRight(msg, "\n")))
}

func (l *execdLogger) Level() telegraf.LogLevel { return l.level }

// AddAttribute is not supported: a line has no room for attributes.
func (*execdLogger) AddAttribute(string, interface{}) {}

func (l *execdLogger) Errorf(format string, args ...interface{}) {
	l.print(telegraf.Error, fmt.Sprintf(format, args...))
}
func (l *execdLogger) Error(args ...interface{}) { l.print(telegraf.Error, fmt.Sprint(args...)) }
func (l *execdLogger) Warnf(format string, args ...interface{}) {
	l.print(telegraf.Warn, fmt.Sprintf(format, args...))
}
func (l *execdLogger) Warn(args ...interface{}) { l.print(telegraf.Warn, fmt.Sprint(args...)) }
func (l *execdLogger) Infof(format string, args ...interface{}) {
	l.print(telegraf.Info, fmt.Sprintf(format, args...))
}
func (l *execdLogger) Info(args ...interface{}) { l.print(telegraf.Info, fmt.Sprint(args...)) }
func (l *execdLogger) Debugf(format string, args ...interface{}) {
	l.print(telegraf.Debug, fmt.Sprintf(format, args...))
}
func (l *execdLogger) Debug(args ...interface{}) { l.print(telegraf.Debug, fmt.Sprint(args...)) }
func (l *execdLogger) Tracef(format string, args ...interface{}) {
	l.print(telegraf.Trace, fmt.Sprintf(format, args...))
}
func (l *execdLogger) Trace(args ...interface{}) { l.print(telegraf.Trace, fmt.Sprint(args...)) }
