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

func (l *execdLogger) logf(level telegraf.LogLevel, format string, args ...interface{}) {
	if l.level.Includes(level) {
		l.write(level, fmt.Sprintf(format, args...))
	}
}

func (l *execdLogger) log(level telegraf.LogLevel, args ...interface{}) {
	if l.level.Includes(level) {
		l.write(level, fmt.Sprint(args...))
	}
}

func (l *execdLogger) write(level telegraf.LogLevel, msg string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, "%s %s\n", level.Indicator(), newlines.Replace(strings.TrimRight(msg, "\n")))
}

func (l *execdLogger) Level() telegraf.LogLevel { return l.level }

// AddAttribute is not supported: a line has no room for attributes.
func (*execdLogger) AddAttribute(string, interface{}) {}

func (l *execdLogger) Errorf(format string, args ...interface{}) {
	l.logf(telegraf.Error, format, args...)
}
func (l *execdLogger) Error(args ...interface{}) { l.log(telegraf.Error, args...) }
func (l *execdLogger) Warnf(format string, args ...interface{}) {
	l.logf(telegraf.Warn, format, args...)
}
func (l *execdLogger) Warn(args ...interface{}) { l.log(telegraf.Warn, args...) }
func (l *execdLogger) Infof(format string, args ...interface{}) {
	l.logf(telegraf.Info, format, args...)
}
func (l *execdLogger) Info(args ...interface{}) { l.log(telegraf.Info, args...) }
func (l *execdLogger) Debugf(format string, args ...interface{}) {
	l.logf(telegraf.Debug, format, args...)
}
func (l *execdLogger) Debug(args ...interface{}) { l.log(telegraf.Debug, args...) }
func (l *execdLogger) Tracef(format string, args ...interface{}) {
	l.logf(telegraf.Trace, format, args...)
}
func (l *execdLogger) Trace(args ...interface{}) { l.log(telegraf.Trace, args...) }
