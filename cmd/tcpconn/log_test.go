package main

import (
	"bytes"
	"errors"
	"testing"

	"github.com/influxdata/telegraf"
	"github.com/stretchr/testify/require"
)

// Each message is one line that inputs.execd reads back at its level: the
// indicator first, no timestamp, newlines folded.
func TestExecdLogger(t *testing.T) {
	var out bytes.Buffer
	log := newExecdLogger(&out, telegraf.Info)
	log.Errorf("Error in plugin: %v", errors.Join(errors.New("first"), errors.New("second")))
	log.Warn("hidepid", " is on")
	log.Infof("started")
	log.Debugf("walked %d processes", 3)
	log.Tracef("not shown")
	require.Equal(t, "E! Error in plugin: first; second\nW! hidepid is on\nI! started\n", out.String())

	out.Reset()
	log = newExecdLogger(&out, telegraf.Debug)
	log.Debug("walked 3 processes\n")
	log.Trace("not shown")
	require.Equal(t, "D! walked 3 processes\n", out.String())
	require.Equal(t, telegraf.Debug, log.Level())
}
