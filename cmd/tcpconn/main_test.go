//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/plugins/parsers/influx"
	"github.com/stretchr/testify/require"
)

// TestMain runs the shim's main instead of the tests when a test starts
// this binary as the shim (runShim): the live tests run the real command
// line, flags and all, as its own process.
func TestMain(m *testing.M) {
	if os.Getenv(runAsShim) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

const runAsShim = "TCPCONN_TEST_RUN_SHIM"

// runShim runs `tcpconn args...` and returns its stdout; it fails the test
// if the shim fails.
func runShim(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), runAsShim+"=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "tcpconn %s: %s", strings.Join(args, " "), stderr.String())
	return string(out)
}

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tcpconn.conf")
	require.NoError(t, os.WriteFile(path, []byte(text), 0o600))
	return path
}

func TestLoadInputErrorsNameTheOption(t *testing.T) {
	tests := []struct {
		config, want string
	}{
		{"[[inputs.tcpconn]]\n  max_connection_metrics = \"many\"\n", `line 2: config option "max_connection_metrics": cannot unmarshal`},
		{"[[inputs.tcpconn]]\n  max_sockets = \"many\"\n", `line 2: config option "max_sockets": cannot unmarshal`},
		{"[[inputs.tcpconn]]\n  timeout = \"soon\"\n", `line 2: config option "timeout": time: invalid duration "soon"`},
		{"[[inputs.tcpconn]]\n  include_unowned = 1\n", `config option "include_unowned":`},
		{"[[inputs.tcpconn]]\n  state = [\"LISTEN\"]\n", `"state"`},
		// The shim registers one plugin: the loader refuses any other.
		{"[[inputs.cpu]]\n", "undefined but requested input: cpu"},
		{"[[inputs.tcpconn]]\n[[inputs.tcpconn]]\n", "more than one"},
		{"# nothing\n", "no [[inputs.tcpconn]]"},
	}
	for _, tt := range tests {
		_, _, err := loadInput(writeConfig(t, tt.config))
		require.ErrorContains(t, err, tt.want, "config %q", tt.config)
	}
}

// startInput loads config and runs Init as the shim does, with an
// accumulator that writes to w.
func startInput(t *testing.T, config string, w io.Writer) (telegraf.Input, *lineAccumulator) {
	t.Helper()
	input, _, err := loadInput(writeConfig(t, config))
	require.NoError(t, err)
	log := newExecdLogger(io.Discard, telegraf.Info)
	require.NoError(t, initInput(input, log))
	acc, err := newLineAccumulator(w, log)
	require.NoError(t, err)
	return input, acc
}

// TestGatherOnce runs -once's path in process over this host and requires
// parseable line protocol with this package's test binary among the owners.
func TestGatherOnce(t *testing.T) {
	var out bytes.Buffer
	input, acc := startInput(t, "[[inputs.tcpconn]]\n  process_names = [\"tcpconn.test\"]\n", &out)
	ln := listen(t)
	require.NoError(t, gatherOnce(input, acc))

	parser := &influx.Parser{}
	require.NoError(t, parser.Init())
	metrics, err := parser.Parse(out.Bytes())
	require.NoError(t, err)
	// Other test binaries of this module share the name tcpconn.test.
	var ours []map[string]string
	for _, m := range metrics {
		if m.Tags()["pid"] == strconv.Itoa(os.Getpid()) {
			ours = append(ours, m.Tags())
		}
	}
	require.Len(t, ours, 1, "exactly our listener:\n%s", out.String())
	require.Equal(t, "LISTEN", ours[0]["state"])
	require.Equal(t, ln, ours[0]["local_port"])
	require.True(t, strings.HasPrefix(out.String(), "tcpconn,"))
}

func TestGatherOnceFailsWhenNothingReadable(t *testing.T) {
	root := t.TempDir() // a proc root without net/tcp
	var out bytes.Buffer
	input, acc := startInput(t, "[[inputs.tcpconn]]\n  proc_root = \""+root+"\"\n", &out)
	require.ErrorContains(t, gatherOnce(input, acc), "no TCP table could be read")
	require.Empty(t, out.String())
}

// TestServe gathers once per line on stdin, as inputs.execd with signal
// "STDIN" asks, and returns when stdin closes.
func TestServe(t *testing.T) {
	stdinR, stdinW := io.Pipe()
	stdoutR, stdoutW := io.Pipe()
	input, acc := startInput(t, "[[inputs.tcpconn]]\n  process_names = [\"tcpconn.test\"]\n  states = [\"LISTEN\"]\n", stdoutW)
	ln := listen(t)
	done := make(chan error, 1)
	go func() {
		done <- serve(context.Background(), input, acc, stdinR, 0)
		stdoutW.Close()
	}()

	lines := bufio.NewScanner(stdoutR)
	ours := "pid=" + strconv.Itoa(os.Getpid()) + ","
	for gather := 1; gather <= 2; gather++ {
		_, err := stdinW.Write([]byte("\n"))
		require.NoError(t, err)
		found := false
		for !found && lines.Scan() {
			found = strings.Contains(lines.Text(), ours) && strings.Contains(lines.Text(), "local_port="+ln+",")
		}
		require.True(t, found, "gather %d did not report our listener", gather)
	}
	require.NoError(t, stdinW.Close())
	go func() { _, _ = io.Copy(io.Discard, stdoutR) }()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not return when stdin closed")
	}
}

// A deprecated option still works, with the warning Telegraf's loader
// gives.
func TestDeprecatedOption(t *testing.T) {
	var logged bytes.Buffer
	input, _, err := loadInput(writeConfig(t, "[[inputs.tcpconn]]\n  max_sockets = 7\n"))
	require.NoError(t, err)
	warnDeprecated(input, newExecdLogger(&logged, telegraf.Info))
	require.Equal(t, "W! DeprecationWarning: Option \"max_sockets\" of plugin \"inputs.tcpconn\" deprecated: use 'max_connection_metrics' instead\n", logged.String())
	require.NoError(t, initInput(input, newExecdLogger(io.Discard, telegraf.Info)))
	require.Equal(t, 7, reflect.ValueOf(input).Elem().FieldByName("MaxConnectionMetrics").Interface(), "the old name sets the new option")

	logged.Reset()
	input, _, err = loadInput(writeConfig(t, "[[inputs.tcpconn]]\n  max_connection_metrics = 7\n"))
	require.NoError(t, err)
	warnDeprecated(input, newExecdLogger(&logged, telegraf.Info))
	require.Empty(t, logged.String())
}
