//go:build linux

package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const (
	rulesFile       = "../examples/alerting/tcpconn.rules.yml"
	alertingConf    = "../examples/alerting/telegraf.conf"
	alertingPlugin  = "../examples/alerting/tcpconn.conf"
	alertCloseWait  = "TCPCloseWaitPileUp"
	alertListenGone = "TCPListenerGone"
	alertShortLived = "TCPShortLivedJump"
)

// promtool returns the path of the pinned promtool.
func promtool(t *testing.T) string {
	t.Helper()
	return server(t, "promtool")
}

// TestAlertRulesCheck runs promtool on the shipped rules.
func TestAlertRulesCheck(t *testing.T) {
	out, err := exec.Command(promtool(t), "check", "rules", rulesFile).CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "SUCCESS: 3 rules found")
}

// replaceOnce replaces old by new in s, and requires old to be there once:
// the test's edits of a shipped file must not go stale silently.
func replaceOnce(t *testing.T, s, old, replacement string) string {
	t.Helper()
	require.Equal(t, 1, strings.Count(s, old), "%q in the shipped file", old)
	return strings.Replace(s, old, replacement, 1)
}

// startPrometheus runs prometheus on 127.0.0.1 with a temp TSDB, scraping
// target every second and evaluating rules every second, and returns its
// base URL.
func startPrometheus(t *testing.T, target, rules string) string {
	t.Helper()
	prometheus := server(t, "prometheus")
	dir := t.TempDir()
	conf := filepath.Join(dir, "prometheus.yml")
	require.NoError(t, os.WriteFile(conf, fmt.Appendf(nil, `global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - %q
scrape_configs:
  - job_name: telegraf
    static_configs:
      - targets: [%q]
`, rules, target), 0o600))
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	base := "http://" + addr
	startServer(t, exec.Command(prometheus,
		"--config.file="+conf,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--log.level=warn"), dir, base+"/-/ready", http.StatusOK)
	return base
}

type promAlert struct {
	Labels map[string]string `json:"labels"`
	State  string            `json:"state"`
	Value  string            `json:"value"`
}

func promAlerts(base string) ([]promAlert, error) {
	resp, err := http.Get(base + "/api/v1/alerts")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out struct {
		Status string `json:"status"`
		Data   struct {
			Alerts []promAlert `json:"alerts"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, err
	}
	if out.Status != "success" {
		return nil, fmt.Errorf("/api/v1/alerts: status %q", out.Status)
	}
	return out.Data.Alerts, nil
}

// promHas reports whether an instant query returns a series.
func promHas(base, q string) bool {
	resp, err := http.Get(base + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var out struct {
		Data struct {
			Result []json.RawMessage `json:"result"`
		} `json:"data"`
	}
	return json.NewDecoder(resp.Body).Decode(&out) == nil && len(out.Data.Result) > 0
}

// alertState finds the alert named name whose labels include labels and
// returns its state, or "" when there is none.
func alertState(alerts []promAlert, name string, labels map[string]string) (string, promAlert) {
	for _, a := range alerts {
		if a.Labels["alertname"] != name {
			continue
		}
		match := true
		for k, v := range labels {
			match = match && a.Labels[k] == v
		}
		if match {
			return a.State, a
		}
	}
	return "", promAlert{}
}

// TestAlertRulesPrometheus loads the shipped rules into a real Prometheus
// that scrapes the shipped Telegraf configuration, drives the peer into
// both conditions, waits for the alerts to fire, ends the conditions and
// waits for them to clear.
func TestAlertRulesPrometheus(t *testing.T) {
	start := time.Now()
	bin := binDir(t)
	promtool := promtool(t)
	held := holdSockets(t)
	name := peerName
	listenPort := held.do(t, "listen")[0]

	dir := t.TempDir()

	// The shipped plugin settings, kept to the peer: the whole host's
	// sockets would only make the test slower and its alerts noisier.
	plugin, err := os.ReadFile(alertingPlugin)
	require.NoError(t, err)
	require.NotContains(t, string(plugin), "\n  process_names")
	pluginConf := filepath.Join(dir, "tcpconn.conf")
	require.NoError(t, os.WriteFile(pluginConf, fmt.Appendf(plugin, "  process_names = [%q]\n", name), 0o600))

	// The shipped Telegraf configuration, with a test's clock and address.
	promAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	shipped, err := os.ReadFile(alertingConf)
	require.NoError(t, err)
	conf := string(shipped)
	conf = replaceOnce(t, conf, `  interval = "10s"`, `  interval = "1s"`)
	conf = replaceOnce(t, conf, `  flush_interval = "10s"`, `  flush_interval = "1s"`)
	conf = replaceOnce(t, conf, `"bin/tcpconn", "-config", "examples/alerting/tcpconn.conf"`,
		fmt.Sprintf(`%q, "-config", %q`, filepath.Join(bin, "tcpconn"), pluginConf))
	conf = replaceOnce(t, conf, `listen = "127.0.0.1:9273"`, fmt.Sprintf(`listen = %q`, promAddr))
	conf = replaceOnce(t, conf, `expiration_interval = "30s"`, `expiration_interval = "5s"`)
	telegrafConf := filepath.Join(dir, "telegraf.conf")
	require.NoError(t, os.WriteFile(telegrafConf, []byte(conf), 0o600))

	// The shipped rules, with for: in seconds instead of minutes. The
	// expressions and thresholds are the shipped ones.
	rules, err := os.ReadFile(rulesFile)
	require.NoError(t, err)
	forRe := regexp.MustCompile(`(?m)^(\s+for: )\S+$`)
	require.Len(t, forRe.FindAll(rules, -1), 3, "a for: per rule")
	rulesPath := filepath.Join(dir, "tcpconn.rules.yml")
	require.NoError(t, os.WriteFile(rulesPath, forRe.ReplaceAll(rules, []byte("${1}2s")), 0o600))
	out, err := exec.Command(promtool, "check", "rules", rulesPath).CombinedOutput()
	require.NoError(t, err, "%s", out)

	startTelegraf(t, bin, telegrafConf)
	base := startPrometheus(t, promAddr, rulesPath)

	// Prometheus must have seen the listener and the summary before the
	// conditions start: the listener rule looks back for it.
	listener := fmt.Sprintf(`tcpconn_inode{state="LISTEN",process_name=%q,local_port=%q}`, name, listenPort)
	summary := fmt.Sprintf(`tcpconn_summary_count{state="CLOSE_WAIT",process_name=%q}`, name)
	require.Eventually(t, func() bool {
		return promHas(base, listener) && promHas(base, summary)
	}, 60*time.Second, 250*time.Millisecond, "Prometheus never scraped the peer's listener and summary")
	ready := time.Now()
	t.Logf("first scrape with the peer after %s", ready.Sub(start).Round(time.Millisecond))

	closeWaitLabels := map[string]string{"process_name": name, "job": "telegraf"}
	listenerLabels := map[string]string{"process_name": name, "local_addr": "127.0.0.1", "local_port": listenPort}
	alerts, err := promAlerts(base)
	require.NoError(t, err)
	for _, a := range alerts {
		require.NotEqual(t, name, a.Labels["process_name"], "an alert before the conditions: %+v", a)
	}

	// Into both conditions: more than 10 CLOSE_WAIT sockets, and the
	// listener closed.
	held.do(t, fmt.Sprintf("closewait %d", closeWaitThreshold+2))
	held.do(t, "stoplisten")
	conditions := time.Now()
	var cw, lg promAlert
	var cwAt, lgAt time.Duration
	require.Eventually(t, func() bool {
		alerts, err := promAlerts(base)
		if err != nil {
			return false
		}
		var s1, s2 string
		s1, cw = alertState(alerts, alertCloseWait, closeWaitLabels)
		s2, lg = alertState(alerts, alertListenGone, listenerLabels)
		cwAt = firstTime(cwAt, s1 == "firing", conditions)
		lgAt = firstTime(lgAt, s2 == "firing", conditions)
		return s1 == "firing" && s2 == "firing"
	}, 60*time.Second, 250*time.Millisecond, "the alerts did not fire")
	t.Logf("firing after the conditions began: %s in %s, %s in %s", alertCloseWait, cwAt, alertListenGone, lgAt)
	v, err := strconv.ParseFloat(cw.Value, 64)
	require.NoError(t, err)
	require.InDelta(t, float64(closeWaitThreshold+3), v, 0, "the peer's CLOSE_WAIT sockets: %+v", cw)
	require.Equal(t, name, lg.Labels["process_name"])

	// Out of both: the CLOSE_WAIT sockets closed (one is left, under the
	// threshold), and the listener back on its port.
	held.do(t, "release")
	held.do(t, "listen "+listenPort)
	ended := time.Now()
	cwAt, lgAt = 0, 0
	require.Eventually(t, func() bool {
		alerts, err := promAlerts(base)
		if err != nil {
			return false
		}
		s1, _ := alertState(alerts, alertCloseWait, closeWaitLabels)
		s2, _ := alertState(alerts, alertListenGone, listenerLabels)
		cwAt = firstTime(cwAt, s1 == "", ended)
		lgAt = firstTime(lgAt, s2 == "", ended)
		return s1 == "" && s2 == ""
	}, 60*time.Second, 250*time.Millisecond, "the alerts did not clear")
	t.Logf("cleared after the conditions ended: %s in %s, %s in %s", alertCloseWait, cwAt, alertListenGone, lgAt)

	// The third: short-lived connections to the peer, about 200 a second
	// against none before, and then none again.
	echo := held.do(t, "echo")[0]
	stopChurn := make(chan struct{})
	churned := make(chan int)
	go func() {
		n := 0
		defer func() { churned <- n }()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stopChurn:
				return
			case <-tick.C:
			}
			if c, err := net.Dial("tcp4", "127.0.0.1:"+echo); err == nil {
				c.Close()
				n++
			}
		}
	}()
	shortLivedLabels := map[string]string{"process_name": name}
	churning := time.Now()
	var slAt time.Duration
	var sl promAlert
	require.Eventually(t, func() bool {
		alerts, err := promAlerts(base)
		if err != nil {
			return false
		}
		var s3 string
		s3, sl = alertState(alerts, alertShortLived, shortLivedLabels)
		slAt = firstTime(slAt, s3 == "firing", churning)
		return s3 == "firing"
	}, 60*time.Second, 250*time.Millisecond, "%s did not fire", alertShortLived)
	close(stopChurn)
	t.Logf("%s firing after %s, at %s short-lived connections in a gather; %d made", alertShortLived, slAt, sl.Value, <-churned)
	stopped := time.Now()
	slAt = 0
	require.Eventually(t, func() bool {
		alerts, err := promAlerts(base)
		if err != nil {
			return false
		}
		s3, _ := alertState(alerts, alertShortLived, shortLivedLabels)
		slAt = firstTime(slAt, s3 == "", stopped)
		return s3 == ""
	}, 60*time.Second, 250*time.Millisecond, "%s did not clear", alertShortLived)
	t.Logf("%s cleared after %s", alertShortLived, slAt)
}

// firstTime returns at, or the time since since when at is unset and cond
// holds.
func firstTime(at time.Duration, cond bool, since time.Time) time.Duration {
	if at == 0 && cond {
		return time.Since(since).Round(time.Millisecond)
	}
	return at
}
