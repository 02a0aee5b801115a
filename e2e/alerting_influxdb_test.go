//go:build linux

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// closeWaitThreshold is the N of the README's "more than N CLOSE_WAIT
// connections" queries and rules.
const closeWaitThreshold = 10

// newPeerAddr is the address the peer dials as its new remote peer: a
// loopback address that nothing else in the test uses.
const newPeerAddr = "127.0.0.42"

// startTelegraf runs bin/telegraf with the configuration at conf, logging
// to a buffer shown when the test fails. The returned stop ends it and
// waits; it also runs at cleanup.
func startTelegraf(t *testing.T, bin, conf string) (stop func()) {
	t.Helper()
	return startTelegrafExe(t, filepath.Join(bin, "telegraf"), conf)
}

// startTelegrafExe is startTelegraf with another Telegraf binary.
func startTelegrafExe(t *testing.T, exe, conf string) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var log bytes.Buffer
	cmd := exec.CommandContext(ctx, exe, "--config", conf)
	cmd.Stdout, cmd.Stderr = &log, &log
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	require.NoError(t, cmd.Start())
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cancel()
			_ = cmd.Wait()
		}
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("telegraf log:\n%s", tail(log.Bytes(), 64000))
		}
	})
	return stop
}

// acceptAndHold listens on addr:0, accepts and holds every connection until
// the test ends, and returns the port.
func acceptAndHold(t *testing.T, addr string) int {
	t.Helper()
	ln, err := net.Listen("tcp4", net.JoinHostPort(addr, "0"))
	require.NoError(t, err)
	done := make(chan struct{})
	go func() {
		defer close(done)
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	return ln.Addr().(*net.TCPAddr).Port
}

// TestAlertQueriesInfluxDB runs the real Telegraf with all three
// measurements into InfluxDB, drives the peer into the three alerting
// conditions (CLOSE_WAIT piling up, a listener that stops, a new remote
// peer), and runs the README's alert queries verbatim: each must return the
// peer's rows.
func TestAlertQueriesInfluxDB(t *testing.T) { eachInfluxDB(t, testAlertQueriesInfluxDB) }

func testAlertQueriesInfluxDB(t *testing.T, base string) {
	start := time.Now()
	bin := binDir(t)

	root := readmeBlocks(t, pluginReadme, "influxql-alert")
	require.ElementsMatch(t, []string{"close-wait-over", "listeners-gone", "new-peers", "short-lived-over"}, keys(root))

	held := holdSockets(t)
	name, pid := peerName, held.pid
	listenPort := held.do(t, "listen")[0]
	remotePort := acceptAndHold(t, newPeerAddr)

	startTelegraf(t, bin, telegrafToInfluxDB(t, bin, base,
		fmt.Sprintf("process_names = [%q]", name),
		`metrics = ["connection", "event", "summary"]`,
		`source = "netlink"`))

	// The events need a gather that saw the listener before it stops.
	seen := fmt.Sprintf(`SELECT count("inode") FROM "tcpconn" WHERE "pid" = '%s' AND "local_port" = '%s' AND "state" = 'LISTEN'`, pid, listenPort)
	require.Eventually(t, func() bool {
		s, err := tryQuery(base, "telegraf", seen)
		return err == nil && len(s) == 1
	}, 60*time.Second, 250*time.Millisecond, "no gather with the peer's listener reached InfluxDB")
	t.Logf("first gather in InfluxDB after %s", time.Since(start).Round(time.Millisecond))

	// Into the three conditions. The peer already holds one CLOSE_WAIT
	// socket (see peer).
	extra := closeWaitThreshold + 2
	held.do(t, fmt.Sprintf("closewait %d", extra))
	held.do(t, "stoplisten")
	dialPort := held.do(t, fmt.Sprintf("dial %s:%d", newPeerAddr, remotePort))[0]
	wantCloseWait := float64(1 + extra)

	// Poll the queries themselves until a gather after the changes has
	// been flushed.
	var closeWait, gone, peers []series
	var lastErr error
	eventually(t, 60*time.Second, func() bool {
		if closeWait, lastErr = tryQuery(base, "telegraf", root["close-wait-over"]); lastErr != nil {
			return false
		}
		if gone, lastErr = tryQuery(base, "telegraf", root["listeners-gone"]); lastErr != nil {
			return false
		}
		if peers, lastErr = tryQuery(base, "telegraf", root["new-peers"]); lastErr != nil {
			return false
		}
		n, ok := valueOf(closeWait, map[string]string{"process_name": name}, "close_wait")
		return ok && n == wantCloseWait &&
			hasSeries(gone, map[string]string{"pid": pid}) &&
			hasSeries(peers, map[string]string{"pid": pid, "remote_addr": newPeerAddr})
	}, func() string {
		return fmt.Sprintf("the alert queries did not return the peer's rows (want close_wait %v):\nclose-wait-over %+v\nlisteners-gone %+v\nnew-peers %+v\nlast error: %v\n%s",
			wantCloseWait, closeWait, gone, peers, lastErr, peerRecord(base, name, pid))
	})
	t.Logf("alert queries answered after %s", time.Since(start).Round(time.Millisecond))

	// More than N CLOSE_WAIT connections: the peer, with all of them, and
	// only groups over the threshold.
	require.InDelta(t, wantCloseWait, seriesValue(t, closeWait, map[string]string{"process_name": name}, "close_wait"), 0)
	for _, s := range closeWait {
		require.Greater(t, s.Values[0][1], float64(closeWaitThreshold), "%+v", s)
	}

	// Listeners that disappeared: exactly the peer's, with its address and
	// port, and the time it was seen listening.
	var peerGone []series
	for _, s := range gone {
		if s.Tags["pid"] == pid {
			peerGone = append(peerGone, s)
		}
	}
	require.Len(t, peerGone, 1, "listeners-gone: %+v", gone)
	require.Equal(t, map[string]string{"process_name": name, "pid": pid, "local_addr": "127.0.0.1", "local_port": listenPort}, peerGone[0].Tags)
	require.Greater(t, seriesValue(t, peerGone, peerGone[0].Tags, "listened_s"), float64(0))

	// New remote peers: the address the peer dialed, opened once. The
	// peer's other new connections are its own CLOSE_WAIT pairs, on
	// 127.0.0.1.
	require.InDelta(t, float64(1), seriesValue(t, peers, map[string]string{"process_name": name, "pid": pid, "remote_addr": newPeerAddr}, "opened"), 0)
	for _, s := range peers {
		if s.Tags["pid"] == pid {
			require.Contains(t, []string{newPeerAddr, "127.0.0.1"}, s.Tags["remote_addr"], "new-peers: %+v", peers)
		}
	}
	// And the event behind it is the connection the peer made.
	rows := query(t, base, "telegraf", fmt.Sprintf(
		`SELECT * FROM "tcpconn_event" WHERE "event" = 'opened' AND "remote_addr" = '%s' AND "pid" = '%s'`, newPeerAddr, pid))
	require.Len(t, rows, 1)
	require.Len(t, rows[0].Values, 1)
	got := rowMap(rows[0], 0)
	require.Equal(t, dialPort, got["local_port"])
	require.Equal(t, strconv.Itoa(remotePort), got["remote_port"])
	require.Equal(t, "ESTABLISHED", got["state"])

	// A fourth: 300 connections to the peer in a few seconds, short-lived
	// but for the first.
	// The first stays open until a gather has seen it, so that both kinds
	// of close are checked each run.
	echo := held.do(t, "echo")[0]
	first, err := net.Dial("tcp4", "127.0.0.1:"+echo)
	require.NoError(t, err)
	firstPort := strconv.Itoa(first.LocalAddr().(*net.TCPAddr).Port)
	var seenFirst []series
	eventually(t, 30*time.Second, func() bool {
		seenFirst, lastErr = tryQuery(base, "telegraf", fmt.Sprintf(
			`SELECT count("inode") FROM "tcpconn" WHERE "local_port" = '%s' AND "remote_port" = '%s' AND "pid" = '%s'`, echo, firstPort, pid))
		return lastErr == nil && len(seenFirst) == 1
	}, func() string {
		return fmt.Sprintf("no gather saw the first connection to the echo server: %+v (%v)\n%s", seenFirst, lastErr, peerRecord(base, name, pid))
	})
	first.Close()
	for range 299 {
		c, err := net.Dial("tcp4", "127.0.0.1:"+echo)
		require.NoError(t, err)
		c.Close()
		time.Sleep(5 * time.Millisecond)
	}
	// First the events: one closed event per server end. Those the kernel
	// destroyed between two gathers are short-lived, without owner; a
	// connection that a gather saw alive (the machine may be slow) closes
	// with its owner, the peer, and short_lived false.
	var closed []series
	closedQuery := fmt.Sprintf(`SELECT * FROM "tcpconn_event" WHERE "event" = 'closed' AND "local_port" = '%s'`, echo)
	eventually(t, 60*time.Second, func() bool {
		closed, lastErr = tryQuery(base, "telegraf", closedQuery)
		return lastErr == nil && len(closed) == 1 && len(closed[0].Values) >= 300
	}, func() string {
		return fmt.Sprintf("the echo server's closed events: %+v\nlast error: %v\n%s", closed, lastErr, peerRecord(base, name, pid))
	})
	require.Len(t, closed[0].Values, 300, "the echo server's ends, one event each")
	clients := make(map[any]bool)
	alive := 0
	for i := range closed[0].Values {
		ev := rowMap(closed[0], i)
		clients[ev["remote_port"]] = true
		if ev["short_lived"] == true {
			require.NotContains(t, ev, "pid", "a short-lived socket has no owner: %v", ev)
			require.NotContains(t, ev, "inode", "nor inode: %v", ev)
			continue
		}
		alive++
		require.Equal(t, pid, ev["pid"], "a connection seen alive closes with its owner: %v", ev)
	}
	require.Len(t, clients, 300, "one event per connection")
	require.Positive(t, alive, "the first connection, seen by a gather, closes with its owner")

	// Then the alert: it counts the short-lived ones, for the process that
	// listens on their port, exactly; a close a gather saw counts in its
	// own state's group instead.
	shortLivedWant := float64(300 - alive)
	require.Greater(t, shortLivedWant, float64(100), "%d of 300 connections seen alive by a gather: too slow a machine for this alert's threshold", alive)
	var shortLived []series
	eventually(t, 30*time.Second, func() bool {
		shortLived, lastErr = tryQuery(base, "telegraf", root["short-lived-over"])
		n, ok := valueOf(shortLived, map[string]string{"process_name": name}, "short_lived")
		return lastErr == nil && ok && n == shortLivedWant
	}, func() string {
		return fmt.Sprintf("short-lived-over did not give the peer %v: %+v\nlast error: %v\n%s", shortLivedWant, shortLived, lastErr, peerRecord(base, name, pid))
	})
	for _, s := range shortLived {
		require.Greater(t, s.Values[0][1], float64(100), "%+v", s)
	}
	t.Logf("the echo server's 300 ends: %d short-lived, %d seen alive by a gather", 300-alive, alive)
}

// peerRecord is what reached InfluxDB of the peer, for a failure's
// message: the gathers that carried its sockets, its summaries and its
// events, newest first.
func peerRecord(base, name, pid string) string {
	var b strings.Builder
	for _, q := range []string{
		fmt.Sprintf(`SELECT count("inode") FROM "tcpconn" WHERE "pid" = '%s' AND time > now() - 5m GROUP BY time(1s), "state" fill(none)`, pid),
		fmt.Sprintf(`SELECT * FROM "tcpconn_summary" WHERE "process_name" = '%s' AND time > now() - 5m ORDER BY time DESC LIMIT 40`, name),
		fmt.Sprintf(`SELECT * FROM "tcpconn_event" WHERE "pid" = '%s' OR "process_name" = '%s' ORDER BY time DESC LIMIT 40`, pid, name),
		`SELECT sum("closed") FROM "tcpconn_summary" WHERE "state" = 'CLOSE' GROUP BY time(1s), "process_name" fill(none)`,
		`SELECT count("inode") FROM "tcpconn" WHERE time > now() - 5m GROUP BY time(5s) fill(none)`,
	} {
		s, err := tryQuery(base, "telegraf", q)
		fmt.Fprintf(&b, "%s\n  at %s: %+v (%v)\n", q, time.Now().UTC().Format(time.RFC3339), s, err)
	}
	return b.String()
}

// valueOf is seriesValue for polling: false when there is no such series.
func valueOf(ss []series, tags map[string]string, column string) (float64, bool) {
	for _, s := range ss {
		if len(s.Values) == 0 || !hasSeries([]series{s}, tags) {
			continue
		}
		for j, c := range s.Columns {
			if v, ok := s.Values[0][j].(float64); ok && c == column {
				return v, true
			}
		}
	}
	return 0, false
}

func hasSeries(ss []series, tags map[string]string) bool {
	for _, s := range ss {
		match := len(s.Values) > 0
		for k, v := range tags {
			match = match && s.Tags[k] == v
		}
		if match {
			return true
		}
	}
	return false
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
