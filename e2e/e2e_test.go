//go:build linux

// Package e2e runs tcpconn with its real parts: the pinned Telegraf built by
// `make build`, the execd shim bin/tcpconn, Telegraf with the plugin
// compiled in (`make custom-telegraf`), and the servers `make servers`
// builds: InfluxDB 1.8.10 (and Debian's 1.6.7 when installed), Prometheus
// and promtool.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tcpconn/telegraf-tcpconn/internal/testchild"
)

// binDir holds bin/telegraf and bin/tcpconn; the Makefile exports it.
func binDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("TCPCONN_BIN_DIR")
	if dir == "" {
		dir = "../bin"
	}
	dir, err := filepath.Abs(dir)
	require.NoError(t, err)
	for _, name := range []string{"telegraf", "tcpconn"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			missing(t, "%s/%s is missing: run `make build` (or `make test`, which builds it)", dir, name)
		}
	}
	return dir
}

// server returns the path of a pinned server in bin/, which `make servers`
// builds from the Go module proxy, or fails the test saying so.
func server(t *testing.T, name string) string {
	t.Helper()
	path := filepath.Join(binDir(t), name)
	if _, err := os.Stat(path); err != nil {
		missing(t, "%s is missing: run `make servers` (or `make test`, which builds it) to build the pinned %s", path, name)
	}
	return path
}

// missing fails a test whose real parts are absent, saying how to get
// them: an end-to-end test that does not run proves nothing.
func missing(t *testing.T, format string, args ...any) {
	t.Helper()
	t.Fatalf(format, args...)
}

// pluginReadme is the reference documentation, whose queries run verbatim.
const pluginReadme = "../plugins/inputs/tcpconn/README.md"

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startInfluxDB runs the pinned influxd on 127.0.0.1 with its data in a
// temp dir and returns its HTTP address.
func startInfluxDB(t *testing.T) string {
	t.Helper()
	return startInfluxd(t, server(t, "influxd"))
}

// debianInfluxd is where Debian's package puts InfluxDB 1.6.7, the 1.x
// that distribution ships.
const debianInfluxd = "/usr/bin/influxd"

// eachInfluxDB runs test as a subtest against each InfluxDB 1.x at hand,
// with its HTTP address: the pinned 1.8.10, and Debian's 1.6.7 when it is
// installed. Without it, that subtest is skipped, saying so: make test
// lists every skip.
func eachInfluxDB(t *testing.T, test func(t *testing.T, base string)) {
	t.Helper()
	t.Run("influxdb-pinned", func(t *testing.T) { test(t, startInfluxDB(t)) })
	t.Run("influxdb-debian", func(t *testing.T) {
		base := startInfluxd(t, debianInfluxdOrSkip(t))
		resp, err := http.Get(base + "/ping")
		require.NoError(t, err)
		resp.Body.Close()
		require.True(t, strings.HasPrefix(resp.Header.Get("X-Influxdb-Version"), "1.6."), "Debian's InfluxDB says it is %q", resp.Header.Get("X-Influxdb-Version"))
		test(t, base)
	})
}

// debianInfluxdOrSkip returns Debian's influxd, or skips the test saying
// how to install it: make test lists every skip.
func debianInfluxdOrSkip(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat(debianInfluxd); err != nil {
		t.Skipf("Debian's InfluxDB is not installed (%v): apt-get install influxdb", err)
	}
	return debianInfluxd
}

// startInfluxd is startInfluxDB with the influxd binary at path, such
// as a distribution's older one.
func startInfluxd(t *testing.T, influxd string) string {
	t.Helper()
	dir := t.TempDir()
	httpAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	conf := fmt.Sprintf(`reporting-disabled = true
bind-address = "127.0.0.1:%d"
[meta]
  dir = "%[2]s/meta"
[data]
  dir = "%[2]s/data"
  wal-dir = "%[2]s/wal"
  query-log-enabled = false
[http]
  enabled = true
  bind-address = "%[3]s"
  log-enabled = false
[monitor]
  store-enabled = false
[continuous_queries]
  enabled = false
[subscriber]
  enabled = false
`, freePort(t), dir, httpAddr)
	confPath := filepath.Join(dir, "influxdb.conf")
	require.NoError(t, os.WriteFile(confPath, []byte(conf), 0o600))

	base := "http://" + httpAddr
	startServer(t, exec.Command(influxd, "-config", confPath), dir, base+"/ping", http.StatusNoContent)
	return base
}

// startServer starts cmd with its output in a log under dir, shown if the
// test fails, waits until ready answers with status, and stops the server
// (SIGTERM, then SIGKILL after 10 s) when the test ends.
func startServer(t *testing.T, cmd *exec.Cmd, dir, ready string, status int) {
	t.Helper()
	name := filepath.Base(cmd.Path)
	logFile, err := os.Create(filepath.Join(dir, name+".log"))
	require.NoError(t, err)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		logFile.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logFile.Name())
			t.Logf("%s log:\n%s", name, tail(b, 4000))
		}
	})
	require.Eventually(t, func() bool {
		resp, err := http.Get(ready)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == status
	}, 30*time.Second, 100*time.Millisecond, "%s did not answer %s with %d", name, ready, status)
}

// series is one series of an InfluxQL result.
type series struct {
	Name    string            `json:"name"`
	Tags    map[string]string `json:"tags"`
	Columns []string          `json:"columns"`
	Values  [][]any           `json:"values"`
}

func query(t *testing.T, base, db, q string) []series {
	t.Helper()
	s, err := tryQuery(base, db, q)
	require.NoError(t, err)
	return s
}

func tryQuery(base, db, q string) ([]series, error) {
	resp, err := http.PostForm(base+"/query", url.Values{"db": {db}, "q": {q}, "epoch": {"s"}})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out struct {
		Results []struct {
			Series []series `json:"series"`
			Error  string   `json:"error"`
		} `json:"results"`
		Error string `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, err
	}
	switch {
	case out.Error != "":
		return nil, fmt.Errorf("query %s: %s", q, out.Error)
	case len(out.Results) != 1:
		return nil, fmt.Errorf("query %s: %d results", q, len(out.Results))
	case out.Results[0].Error != "":
		return nil, fmt.Errorf("query %s: %s", q, out.Results[0].Error)
	}
	return out.Results[0].Series, nil
}

// readmeQueries returns the InfluxQL blocks of a README, by the name in the
// `<!-- influxql: NAME -->` comment above each.
func readmeQueries(t *testing.T, path string) map[string]string {
	t.Helper()
	return readmeBlocks(t, path, "influxql")
}

// readmeBlocks returns the sql blocks of a README under a
// `<!-- MARKER: NAME -->` comment, by NAME.
func readmeBlocks(t *testing.T, path, marker string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	re := regexp.MustCompile("(?s)<!-- " + regexp.QuoteMeta(marker) + ": ([a-z-]+) -->\\s*```sql\\n(.*?)\\n```")
	queries := make(map[string]string)
	for _, m := range re.FindAllStringSubmatch(string(data), -1) {
		queries[m[1]] = m[2]
	}
	return queries
}

// peerName is the process name of the child that holds the test's sockets.
// The test process itself makes HTTP connections to InfluxDB, which must not
// count. It is this run's own, "tcpconn-" and 7 random hex digits (the
// kernel keeps 15 bytes of a name): the README's queries group by
// process_name, and another run of these tests on the same machine must
// add nothing to this one's groups. The peer learns it from
// peerNameEnv.
var peerName string

const peerNameEnv = "TCPCONN_E2E_PEER_NAME"

func TestMain(m *testing.M) {
	if peerName = os.Getenv(peerNameEnv); peerName == "" {
		var b [4]byte
		if _, err := rand.Read(b[:]); err != nil {
			panic(err)
		}
		peerName = fmt.Sprintf("tcpconn-%07x", binary.BigEndian.Uint32(b[:])>>4)
		os.Setenv(peerNameEnv, peerName)
	}
	if os.Getenv("TCPCONN_E2E_PEER") == "1" {
		if err := peer(); err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		return
	}
	os.Exit(m.Run())
}

// peer renames itself, opens an ESTABLISHED pair and a server socket left
// in CLOSE_WAIT by a client that closed, prints the listener's and the
// client's ports, and holds them until stdin closes. Meanwhile it obeys the
// commands of peerCommands, one per line of stdin, and answers each with one
// line: "ok ..." or "error ...".
func peer() error {
	if err := testchild.SetName(peerName); err != nil {
		return err
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return err
	}
	client, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		return err
	}
	server, err := ln.Accept()
	if err != nil {
		return err
	}
	leaving, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		return err
	}
	stayed, err := ln.Accept()
	if err != nil {
		return err
	}
	if err := leaving.Close(); err != nil { // stayed goes to CLOSE_WAIT
		return err
	}
	fmt.Println(ln.Addr().(*net.TCPAddr).Port, client.LocalAddr().(*net.TCPAddr).Port)
	pc := &peerCommands{ln: ln, client: client, server: server}
	defer pc.close()
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		reply, err := pc.do(sc.Text())
		if err != nil {
			reply = "error " + err.Error()
		}
		fmt.Println(reply)
	}
	for _, c := range []io.Closer{ln, client, server, stayed} {
		c.Close()
	}
	return sc.Err()
}

// peerCommands is what the peer holds for the commands of the alerting
// tests:
//
//	closewait N   N more server sockets left in CLOSE_WAIT; "ok"
//	release       closes them; "ok"
//	listen [PORT] a listener on 127.0.0.1 (port 0: any); "ok PORT"
//	stoplisten    closes that listener; "ok"
//	dial ADDR     connects to ADDR and holds the connection; "ok LOCALPORT"
//	send N        sends N bytes from the client to the server end; "ok"
//	echo          a listener that holds every connection until its client closes it; "ok PORT"
type peerCommands struct {
	ln             net.Listener // the main listener, which the closewait clients dial
	client, server net.Conn     // the ESTABLISHED pair
	closeWait      []net.Conn
	service        net.Listener
	echo           net.Listener // of the echo command
	dialed         []net.Conn
}

func (pc *peerCommands) do(line string) (string, error) {
	cmd, arg, _ := strings.Cut(strings.TrimSpace(line), " ")
	switch cmd {
	case "closewait":
		n, err := strconv.Atoi(arg)
		if err != nil {
			return "", err
		}
		for range n {
			c, err := pc.leaveInCloseWait()
			if err != nil {
				return "", err
			}
			pc.closeWait = append(pc.closeWait, c)
		}
		return "ok", nil
	case "release":
		for _, c := range pc.closeWait {
			c.Close()
		}
		pc.closeWait = nil
		return "ok", nil
	case "listen":
		if pc.service != nil {
			return "", errors.New("already listening")
		}
		port := arg
		if port == "" {
			port = "0"
		}
		ln, err := net.Listen("tcp4", net.JoinHostPort("127.0.0.1", port))
		if err != nil {
			return "", err
		}
		pc.service = ln
		return fmt.Sprintf("ok %d", ln.Addr().(*net.TCPAddr).Port), nil
	case "stoplisten":
		if pc.service == nil {
			return "", errors.New("not listening")
		}
		err := pc.service.Close()
		pc.service = nil
		return "ok", err
	case "send":
		n, err := strconv.Atoi(arg)
		if err != nil {
			return "", err
		}
		errc := make(chan error, 1)
		go func() { _, err := pc.client.Write(make([]byte, n)); errc <- err }()
		if _, err := io.ReadFull(pc.server, make([]byte, n)); err != nil {
			return "", err
		}
		return "ok", <-errc
	case "echo":
		var lc net.ListenConfig
		lc.SetMultipathTCP(false) // a plain TCP listener, which the kernel notifies as such
		ln, err := lc.Listen(context.Background(), "tcp4", "127.0.0.1:0")
		if err != nil {
			return "", err
		}
		pc.echo = ln
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				// Held until the client closes: it decides how long
				// the connection lives.
				go func() {
					_, _ = io.Copy(io.Discard, c)
					c.Close()
				}()
			}
		}()
		return fmt.Sprintf("ok %d", ln.Addr().(*net.TCPAddr).Port), nil
	case "dial":
		c, err := net.DialTimeout("tcp4", arg, 5*time.Second)
		if err != nil {
			return "", err
		}
		pc.dialed = append(pc.dialed, c)
		return fmt.Sprintf("ok %d", c.LocalAddr().(*net.TCPAddr).Port), nil
	}
	return "", fmt.Errorf("unknown command %q", line)
}

// leaveInCloseWait connects to the main listener, closes the client end and
// returns the server end once it has read the client's FIN: it is then in
// CLOSE_WAIT.
func (pc *peerCommands) leaveInCloseWait() (net.Conn, error) {
	client, err := net.Dial("tcp4", pc.ln.Addr().String())
	if err != nil {
		return nil, err
	}
	server, err := pc.ln.Accept()
	if err != nil {
		client.Close()
		return nil, err
	}
	client.Close()
	if err := server.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		server.Close()
		return nil, err
	}
	if _, err := server.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		server.Close()
		return nil, fmt.Errorf("waiting for the client's FIN: %w", err)
	}
	return server, nil
}

func (pc *peerCommands) close() {
	for _, c := range append(pc.closeWait, pc.dialed...) {
		c.Close()
	}
	if pc.service != nil {
		pc.service.Close()
	}
	if pc.echo != nil {
		pc.echo.Close()
	}
}

// heldSockets describes what the peer holds.
type heldSockets struct {
	pid                    string
	listenPort, clientPort int

	in  io.Writer
	out *bufio.Reader
}

// do sends one command to the peer (see peerCommands) and returns the
// words of its reply after "ok".
func (h heldSockets) do(t *testing.T, command string) []string {
	t.Helper()
	_, err := fmt.Fprintln(h.in, command)
	require.NoError(t, err)
	line, err := h.out.ReadString('\n')
	require.NoError(t, err, "no reply from the peer to %q", command)
	words := strings.Fields(line)
	require.True(t, len(words) > 0 && words[0] == "ok", "peer: %q: %s", command, line)
	return words[1:]
}

func holdSockets(t *testing.T) heldSockets {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "TCPCONN_E2E_PEER=1")
	stdin, stdout := testchild.Start(t, cmd)
	held := heldSockets{pid: strconv.Itoa(cmd.Process.Pid), in: stdin, out: stdout}
	_, err := fmt.Fscanln(held.out, &held.listenPort, &held.clientPort)
	require.NoError(t, err, "the peer did not report its sockets")
	// CLOSE_WAIT needs the client's FIN to be processed: wait for it rather
	// than assume it.
	require.Eventually(t, func() bool {
		out, err := exec.Command("ss", "-Htan", "state", "close-wait", fmt.Sprintf("sport = :%d", held.listenPort)).Output()
		return err == nil && len(bytes.TrimSpace(out)) > 0
	}, 10*time.Second, 50*time.Millisecond)
	return held
}

// TestTelegrafToInfluxDB runs the real Telegraf with inputs.execd running
// bin/tcpconn and outputs.influxdb, then runs the README's InfluxQL
// examples verbatim and requires this test's own sockets in their results.
func TestTelegrafToInfluxDB(t *testing.T) {
	eachInfluxDB(t, func(t *testing.T, base string) { testTelegrafToInfluxDB(t, base) })
}

// TestTelegrafBPFToInfluxDB is TestTelegrafToInfluxDB with both BPF
// iterators: the owner walk and the TCP table (source = "bpf"). The
// pinned InfluxDB only: what it tests is the shim's side.
func TestTelegrafBPFToInfluxDB(t *testing.T) {
	testTelegrafToInfluxDB(t, startInfluxDB(t), `owner_walk = "bpf"`, `source = "bpf"`)
}

func testTelegrafToInfluxDB(t *testing.T, base string, options ...string) {
	bin := binDir(t)
	held := holdSockets(t)
	name, pid := peerName, held.pid

	stop := startTelegraf(t, bin, telegrafToInfluxDB(t, bin, base, append([]string{fmt.Sprintf("process_names = [%q]", name)}, options...)...))

	// Wait until a gather with all our sockets has been flushed.
	known := fmt.Sprintf(`SELECT count("inode") FROM "tcpconn" WHERE "pid" = '%s'`, pid)
	require.Eventually(t, func() bool {
		s, err := tryQuery(base, "telegraf", known)
		return err == nil && len(s) == 1 && len(s[0].Values) == 1 && s[0].Values[0][1].(float64) >= 4
	}, 60*time.Second, 500*time.Millisecond, "no gather with this test's sockets reached InfluxDB")
	stop()

	// The ESTABLISHED client socket, with every tag.
	rows := query(t, base, "telegraf", fmt.Sprintf(
		`SELECT * FROM "tcpconn" WHERE "pid" = '%s' AND "local_port" = '%d' LIMIT 1`, pid, held.clientPort))
	require.Len(t, rows, 1)
	got := rowMap(rows[0], 0)
	require.Equal(t, name, got["process_name"])
	require.Equal(t, "ipv4", got["family"])
	require.Equal(t, "127.0.0.1", got["local_addr"])
	require.Equal(t, "127.0.0.1", got["remote_addr"])
	require.Equal(t, strconv.Itoa(held.listenPort), got["remote_port"])
	require.Equal(t, "ESTABLISHED", got["state"])
	for _, field := range []string{"inode", "uid", "rx_queue", "tx_queue", "retransmits"} {
		require.Contains(t, got, field)
	}
	require.NotEmpty(t, got["fd"])

	// The README's queries, verbatim.
	root := readmeQueries(t, pluginReadme)
	want := []string{"per-process-state", "top-peers", "close-wait", "listeners"}
	require.Len(t, root, len(want), "README queries: %v", root)

	perProcess := query(t, base, "telegraf", root["per-process-state"])
	require.InDelta(t, float64(2), seriesValue(t, perProcess, map[string]string{"process_name": name, "state": "ESTABLISHED"}, "connections"), 0,
		"our client, our server end, and nothing else ESTABLISHED")
	require.InDelta(t, float64(1), seriesValue(t, perProcess, map[string]string{"process_name": name, "state": "LISTEN"}, "connections"), 0)

	peers := query(t, base, "telegraf", root["top-peers"])
	require.Len(t, peers, 1)
	require.Equal(t, []string{"time", "top", "remote_addr"}, peers[0].Columns)
	require.Equal(t, "127.0.0.1", peers[0].Values[0][2])

	closeWait := query(t, base, "telegraf", root["close-wait"])
	require.InDelta(t, float64(1), seriesValue(t, closeWait, map[string]string{"process_name": name, "pid": pid}, "close_wait"), 0)

	listeners := query(t, base, "telegraf", root["listeners"])
	require.NotZero(t, seriesValue(t, listeners,
		map[string]string{"process_name": name, "pid": pid, "local_addr": "127.0.0.1", "local_port": strconv.Itoa(held.listenPort)}, "inode"))
}

// TestTelegrafNetlinkToInfluxDB runs the real Telegraf with the shim
// reading the tables by netlink with tcp_info, and the owners by the BPF
// walk, into InfluxDB; then the README's tcp_info queries, verbatim, find
// the peer's connection: its round-trip time, and the bytes it sent.
func TestTelegrafNetlinkToInfluxDB(t *testing.T) { eachInfluxDB(t, testTelegrafNetlinkToInfluxDB) }

func testTelegrafNetlinkToInfluxDB(t *testing.T, base string) {
	bin := binDir(t)
	held := holdSockets(t)
	const sent = 1 << 20
	held.do(t, fmt.Sprintf("send %d", sent))
	name, pid := peerName, held.pid

	stop := startTelegraf(t, bin, telegrafToInfluxDB(t, bin, base, fmt.Sprintf("process_names = [%q]", name),
		`source = "netlink"`, `tcp_info = true`, `owner_walk = "bpf"`))
	known := fmt.Sprintf(`SELECT count("rtt_us") FROM "tcpconn" WHERE "pid" = '%s'`, pid)
	require.Eventually(t, func() bool {
		s, err := tryQuery(base, "telegraf", known)
		return err == nil && len(s) == 1 && len(s[0].Values) == 1 && s[0].Values[0][1].(float64) >= 3
	}, 60*time.Second, 500*time.Millisecond, "no gather with tcp_info reached InfluxDB")
	stop()

	queries := readmeBlocks(t, pluginReadme, "influxql-tcpinfo")
	require.Len(t, queries, 2, "%v", queries)
	slowest := query(t, base, "telegraf", queries["slowest-peers"])
	var found bool
	for _, s := range slowest {
		if s.Tags["process_name"] != name {
			continue
		}
		for i := range s.Values {
			row := rowMap(s, i)
			require.Equal(t, "127.0.0.1", row["remote_addr"])
			require.Positive(t, row["rtt_us"].(float64))
			found = true
		}
	}
	require.True(t, found, "the peer's connections among the slowest: %+v", slowest)

	bytesSent := query(t, base, "telegraf", queries["bytes-sent"])
	require.GreaterOrEqual(t, seriesValue(t, bytesSent, map[string]string{"process_name": name}, "bytes_sent"), float64(sent),
		"the peer sent %d bytes", sent)
}

// TestMakeRunMode proves the mode `make run` uses: Telegraf's --test with
// --test-wait delivers the execd plugin's metrics (--once would not).
func TestMakeRunMode(t *testing.T) {
	bin := binDir(t)
	held := holdSockets(t)
	pid := held.pid

	cmd := exec.Command(filepath.Join(bin, "telegraf"), "--config", "examples/telegraf.conf", "--test", "--test-wait", "3")
	cmd.Dir = ".."
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	// --test exits 1 when an input logged errors. Allowed: the plugin's
	// summary of processes this user may not inspect (pid 1 on some
	// sandboxes), and execd's own race on the closed pipes at shutdown.
	requireOnlyErrors(t, stderr.String(), err, "not readable: permission denied", "file already closed", "input plugins recorded")

	var found int
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "> ")
		if !ok || !strings.HasPrefix(line, "tcpconn,") || !strings.Contains(line, ",pid="+pid+",") {
			continue
		}
		found++
		if strings.Contains(line, fmt.Sprintf("local_port=%d,", held.clientPort)) {
			require.Contains(t, line, "state=ESTABLISHED")
			require.Contains(t, line, fmt.Sprintf("remote_port=%d,", held.listenPort))
		}
	}
	// The client that closed is in FIN_WAIT2 with no owner left.
	require.Equal(t, 4, found, "listener, client, server end, CLOSE_WAIT end and nothing else:\n%s", out)
}

// requireOnlyErrors fails for each error line (" E! ") of a Telegraf log
// that contains none of allowed; err is how Telegraf exited.
func requireOnlyErrors(t *testing.T, log string, err error, allowed ...string) {
	t.Helper()
	for line := range strings.Lines(log) {
		if strings.Contains(line, " E! ") && !slices.ContainsFunc(allowed, func(a string) bool { return strings.Contains(line, a) }) {
			t.Errorf("unexpected error from telegraf --test (%v): %s", err, line)
		}
	}
}

// TestExecdLogLevels runs the shim under Telegraf's execd with -debug, and
// Telegraf with --debug: the shim's lines reach Telegraf's log at their own
// level, not as quoted errors (what Telegraf's own shim logger gets).
func TestExecdLogLevels(t *testing.T) {
	bin := binDir(t)
	dir := t.TempDir()
	plugin := filepath.Join(dir, "tcpconn.conf")
	// The /proc walk, whose fd count is of the processes it reads: the
	// BPF walk counts every file the kernel visits.
	require.NoError(t, os.WriteFile(plugin, []byte("[[inputs.tcpconn]]\n  process_names = [\"no-such-process\"]\n  owner_walk = \"procfs\"\n"), 0o644))
	conf := filepath.Join(dir, "telegraf.conf")
	require.NoError(t, os.WriteFile(conf, fmt.Appendf(nil, `[agent]
  interval = "1s"
[[inputs.execd]]
  command = [%q, "-config", %q, "-poll_interval_disabled", "-debug"]
  signal = "STDIN"
  data_format = "influx"
[[outputs.file]]
  files = ["stdout"]
`, filepath.Join(bin, "tcpconn"), plugin), 0o644))

	cmd := exec.Command(filepath.Join(bin, "telegraf"), "--config", conf, "--test", "--test-wait", "3", "--debug")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	// The exit status counts execd's own shutdown race ("file already
	// closed"); the log lines are what is tested.
	_ = cmd.Run()
	require.Regexp(t, `D! \[inputs\.execd\] walked \d+ processes in \S+ \(\d+ gone, 0 denied, [1-9]\d* skipped, 0 through a live thread\), 0 fds, 0 sockets; 0 tcpconn metrics`, stderr.String())
	require.NotContains(t, stderr.String(), `stderr: "`, "a line of the shim logged as a quoted error")
}

func rowMap(s series, i int) map[string]any {
	m := make(map[string]any, len(s.Columns))
	for j, c := range s.Columns {
		if v := s.Values[i][j]; v != nil {
			m[c] = v
		}
	}
	return m
}

// seriesValue finds the series whose tags include tags and returns the
// named column of its first row.
func seriesValue(t *testing.T, ss []series, tags map[string]string, column string) float64 {
	t.Helper()
	for _, s := range ss {
		match := true
		for k, v := range tags {
			if s.Tags[k] != v {
				match = false
			}
		}
		if !match {
			continue
		}
		for j, c := range s.Columns {
			if c == column {
				v, ok := s.Values[0][j].(float64)
				require.True(t, ok, "column %s is %T", column, s.Values[0][j])
				return v
			}
		}
		t.Fatalf("no column %q in %v", column, s.Columns)
	}
	t.Fatalf("no series with tags %v in %+v", tags, ss)
	return 0
}

// eventually is require.Eventually with a message made when it fails, so
// that it shows what the condition saw last rather than what its variables
// held before it first ran.
func eventually(t *testing.T, timeout time.Duration, cond func() bool, msg func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", timeout, msg())
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// telegrafToInfluxDB writes a Telegraf configuration that runs bin/tcpconn
// through inputs.execd with the given [[inputs.tcpconn]] options, every
// second, into the database "telegraf" of the InfluxDB at base, and returns
// its path. Its metrics have no host tag.
func telegrafToInfluxDB(t *testing.T, bin, base string, options ...string) string {
	t.Helper()
	return telegrafToInfluxDBAs(t, bin, base, "", options...)
}

// telegrafToInfluxDBAs is telegrafToInfluxDB with Telegraf's host tag set
// to hostname, unless it is empty.
func telegrafToInfluxDBAs(t *testing.T, bin, base, hostname string, options ...string) string {
	t.Helper()
	host := "omit_hostname = true"
	if hostname != "" {
		host = fmt.Sprintf("hostname = %q", hostname)
	}
	dir := t.TempDir()
	pluginConf := filepath.Join(dir, "tcpconn.conf")
	require.NoError(t, os.WriteFile(pluginConf, []byte("[[inputs.tcpconn]]\n  "+strings.Join(options, "\n  ")+"\n"), 0o600))
	telegrafConf := filepath.Join(dir, "telegraf.conf")
	// At debug level, so that a failure's log shows each gather (the
	// shim's D! line) and each write to InfluxDB.
	require.NoError(t, os.WriteFile(telegrafConf, fmt.Appendf(nil, `[agent]
  interval = "1s"
  flush_interval = "1s"
  %s
  debug = true

[[inputs.execd]]
  command = [%q, "-config", %q, "-poll_interval_disabled", "-debug"]
  signal = "STDIN"
  data_format = "influx"

[[outputs.influxdb]]
  urls = [%q]
  database = "telegraf"
`, host, filepath.Join(bin, "tcpconn"), pluginConf, base), 0o600))
	return telegrafConf
}
