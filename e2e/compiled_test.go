//go:build linux

package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// customTelegraf returns bin/telegraf-tcpconn, Telegraf with the plugin
// compiled in, or fails saying how to build it.
func customTelegraf(t *testing.T) string {
	t.Helper()
	exe := filepath.Join(binDir(t), "telegraf-tcpconn")
	if _, err := os.Stat(exe); err != nil {
		missing(t, "%s is missing: run `make custom-telegraf` (or `make test`, which builds it): Telegraf %s with tcpconn compiled in", exe, "at the Makefile's pin")
	}
	return exe
}

// TestCompiledIntoTelegraf runs the plugin compiled into a real Telegraf,
// built as the README's "Compiled into a custom Telegraf" says (make
// custom-telegraf): the native [[inputs.tcpconn]] is registered, finds the
// peer's sockets through --test, and writes them to InfluxDB.
func TestCompiledIntoTelegraf(t *testing.T) {
	exe := customTelegraf(t)
	held := holdSockets(t)
	name, pid := peerName, held.pid

	// Registered, with the plugin's own sample configuration.
	usage, err := exec.Command(exe, "--usage", "tcpconn").CombinedOutput()
	require.NoError(t, err, "%s", usage)
	sample, err := os.ReadFile("../sample.conf")
	require.NoError(t, err)
	require.Contains(t, string(usage), strings.TrimSpace(string(sample)))

	// --test: one gather of the native input, printed behind "> ".
	dir := t.TempDir()
	conf := filepath.Join(dir, "telegraf.conf")
	require.NoError(t, os.WriteFile(conf, fmt.Appendf(nil, "[[inputs.tcpconn]]\n  process_names = [%q]\n", name), 0o600))
	cmd := exec.Command(exe, "--config", conf, "--test")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "telegraf --test: %s", stderr.String())
	var mine []string
	for line := range strings.Lines(string(out)) {
		if m, ok := strings.CutPrefix(line, "> "); ok && strings.HasPrefix(m, "tcpconn,") && strings.Contains(m, ",pid="+pid+",") {
			mine = append(mine, m)
		}
	}
	require.Len(t, mine, 4, "listener, client, server end, CLOSE_WAIT end:\n%s", out)
	listener := fmt.Sprintf(",local_port=%d,", held.listenPort)
	found := false
	for _, m := range mine {
		if strings.Contains(m, listener) && strings.Contains(m, "state=LISTEN") {
			found = true
			require.Contains(t, m, ",process_name="+name+",")
			require.Regexp(t, `,fd=\d+,`, m)
		}
	}
	require.True(t, found, "no LISTEN metric of the peer on port %d:\n%s", held.listenPort, strings.Join(mine, ""))

	// Into InfluxDB, every second, all three measurements.
	base := startInfluxDB(t)
	live := filepath.Join(dir, "influxdb.conf")
	require.NoError(t, os.WriteFile(live, fmt.Appendf(nil, `[agent]
  interval = "1s"
  flush_interval = "1s"
  omit_hostname = true
  debug = true

[[inputs.tcpconn]]
  process_names = [%q]
  metrics = ["connection", "event", "summary"]

[[outputs.influxdb]]
  urls = [%q]
  database = "telegraf"
`, name, base), 0o600))
	startTelegrafExe(t, exe, live)
	var listening, closeWait []series
	eventually(t, 60*time.Second, func() bool {
		if listening, err = tryQuery(base, "telegraf", fmt.Sprintf(
			`SELECT last("inode") FROM "tcpconn" WHERE "pid" = '%s' AND "state" = 'LISTEN' AND "local_port" = '%d' GROUP BY "process_name", "fd"`, pid, held.listenPort)); err != nil {
			return false
		}
		if closeWait, err = tryQuery(base, "telegraf", fmt.Sprintf(
			`SELECT last("count") FROM "tcpconn_summary" WHERE "process_name" = '%s' AND "state" = 'CLOSE_WAIT'`, name)); err != nil {
			return false
		}
		n, ok := valueOf(closeWait, nil, "last")
		return hasSeries(listening, map[string]string{"process_name": name}) && ok && n == 1
	}, func() string {
		return fmt.Sprintf("the peer's listener and CLOSE_WAIT summary did not reach InfluxDB: %+v %+v (%v)\n%s", listening, closeWait, err, peerRecord(base, name, pid))
	})
}
