//go:build linux

package tcpconn

import (
	"bufio"
	"io"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/stretchr/testify/require"
)

// TestNetlinkTCPInfo sends 4 MiB from a client to a server and, with both
// idle, requires the tcp_info fields the kernel gave ss -tinHe for the
// same sockets, found by their cookie: counters exact, rtt close.
func TestNetlinkTCPInfo(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	client, err := net.Dial("tcp4", ln.Addr().String())
	require.NoError(t, err)
	defer client.Close()
	server, err := ln.Accept()
	require.NoError(t, err)
	defer server.Close()
	const size = 4 << 20
	go func() { _, _ = client.Write(make([]byte, size)) }()
	_, err = io.ReadFull(server, make([]byte, size))
	require.NoError(t, err)
	time.Sleep(200 * time.Millisecond) // the last ACKs

	p := livePlugin(t, "connection")
	p.Source, p.TCPInfo = "netlink", true
	require.NoError(t, p.Init())
	clientPort := client.LocalAddr().(*net.TCPAddr).Port
	serverPort := ln.Addr().(*net.TCPAddr).Port
	var cm, sm telegraf.Metric
	for _, m := range gatherMetrics(t, p) {
		switch m.Tags()["local_port"] {
		case strconv.Itoa(clientPort):
			cm = m
		case strconv.Itoa(serverPort):
			if m.Tags()["state"] == "ESTABLISHED" {
				sm = m
			}
		}
	}
	require.NotNil(t, cm, "the client")
	require.NotNil(t, sm, "the server end")
	field := func(m telegraf.Metric, key string) int64 {
		v, ok := m.GetField(key)
		require.True(t, ok, "%s missing on %v", key, m.Tags())
		return v.(int64)
	}
	require.GreaterOrEqual(t, field(cm, "bytes_acked"), int64(size))
	require.GreaterOrEqual(t, field(cm, "bytes_sent"), int64(size))
	require.GreaterOrEqual(t, field(sm, "bytes_received"), int64(size))

	ss := ssInfo(t, strconv.Itoa(clientPort))
	require.Equal(t, strconv.FormatInt(field(cm, "cookie"), 16), ss["sk"], "the cookie, as ss -e prints it")
	require.Equal(t, ss["cwnd"], strconv.FormatInt(field(cm, "snd_cwnd"), 10))
	require.Equal(t, ss["bytes_acked"], strconv.FormatInt(field(cm, "bytes_acked"), 10))
	if r, ok := ss["retrans"]; ok { // "retrans:0/3": the second is total_retrans
		_, total, _ := strings.Cut(r, "/")
		require.Equal(t, total, strconv.FormatInt(field(cm, "total_retrans"), 10))
	} else {
		require.Zero(t, field(cm, "total_retrans"))
	}
	rttMS, _, _ := strings.Cut(ss["rtt"], "/") // "rtt:0.052/0.026", in ms
	rtt, err := strconv.ParseFloat(rttMS, 64)
	require.NoError(t, err)
	require.InDelta(t, rtt*1000, float64(field(cm, "rtt_us")), 1000, "rtt, µs")
}

// ssInfo runs ss -tinHe for the socket with local port port and returns its
// key:value pairs.
func ssInfo(t *testing.T, port string) map[string]string {
	t.Helper()
	out, err := exec.Command("ss", "-tinHe", "sport = :"+port).Output()
	require.NoError(t, err, "iproute2's ss is the ground truth: apt-get install -y iproute2")
	kv := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		for _, f := range strings.Fields(sc.Text()) {
			if k, v, ok := strings.Cut(f, ":"); ok {
				kv[k] = v
			}
		}
	}
	require.NotEmpty(t, kv["sk"], "ss -e shows the cookie: %s", out)
	return kv
}
