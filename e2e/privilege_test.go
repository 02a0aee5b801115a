//go:build linux

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/plugins/parsers/influx"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/tcpconn/telegraf-tcpconn/internal/testchild"
)

// The privilege tests run bin/tcpconn -once as the unprivileged uid/gid
// 65534 (nobody), while this test process, root, holds one listener and a
// child running as 65534 holds another. They need root to switch users and
// to mount proc.

const (
	nobody     = 65534
	holderName = "tcpconn-nobody"
)

// The holder: the test binary started with TCPCONN_E2E_HOLDER=1 (as 65534)
// listens on 127.0.0.1, prints "PORT FD" and holds the listener until its
// stdin closes. TestMain belongs to e2e_test.go, so this runs from init.
func init() {
	if os.Getenv("TCPCONN_E2E_HOLDER") != "1" {
		return
	}
	if err := holdListener(); err != nil {
		fmt.Fprintln(os.Stderr, "holder:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func holdListener() error {
	if err := testchild.SetName(holderName); err != nil {
		return err
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	fmt.Println(ln.Addr().(*net.TCPAddr).Port, listenerFD(ln))
	_, err = io.Copy(io.Discard, os.Stdin)
	return err
}

// listenerFD is the descriptor number of ln in this process.
func listenerFD(ln net.Listener) int {
	rc, err := ln.(*net.TCPListener).SyscallConn()
	if err != nil {
		return -1
	}
	fd := -1
	_ = rc.Control(func(f uintptr) { fd = int(f) })
	return fd
}

// listener is a LISTEN socket held by a known process.
type listener struct {
	pid, port, fd int
}

// privileged is what every privilege test needs: root, bin/tcpconn runnable
// by 65534, a directory 65534 can read, a listener held by root (this
// process) and one held by a child running as 65534.
type privileged struct {
	tcpconn string
	dir     string // mode 0755, for configs and fixtures
	root    listener
	nobody  listener
}

func setupPrivileged(t *testing.T) *privileged {
	t.Helper()
	if os.Geteuid() != 0 {
		missing(t, "the privilege tests switch to uid %d and mount proc: run them as root (CI does)", nobody)
	}
	p := &privileged{tcpconn: filepath.Join(binDir(t), "tcpconn"), dir: sharedDir(t)}
	if out, err := exec.Command(p.tcpconn, "-usage").CombinedOutput(); err != nil {
		t.Fatalf("%s -usage: %v\n%s", p.tcpconn, err, out)
	}
	usage := exec.Command(p.tcpconn, "-usage")
	usage.SysProcAttr = asNobody(nil, nil)
	if out, err := usage.CombinedOutput(); err != nil {
		missing(t, "%s cannot be run by uid %d (%v: %s): every directory above it needs o+x; build into a path like /work/main/bin", p.tcpconn, nobody, err, out)
	}

	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	p.root = listener{pid: os.Getpid(), port: ln.Addr().(*net.TCPAddr).Port, fd: listenerFD(ln)}
	p.nobody = startHolder(t, p.dir)
	return p
}

// ours is a process_names filter for the two listeners' processes: a walk
// with the capabilities reads every fd of the host, which is slow while the
// benchmarks hold hundreds of thousands of sockets.
func ours(t *testing.T) []string {
	t.Helper()
	comm, err := os.ReadFile("/proc/self/comm")
	require.NoError(t, err)
	return []string{strings.TrimSpace(string(comm)), holderName}
}

// sharedDir is a temporary directory that uid 65534 may read: t.TempDir
// makes it and its parent mode 0700.
func sharedDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.Chmod(filepath.Dir(dir), 0o755))
	require.NoError(t, os.Chmod(dir, 0o755))
	return dir
}

// startHolder runs the holder as 65534 from a link to the test binary in
// dir: go test builds it under a directory 65534 may not search.
func startHolder(t *testing.T, dir string) listener {
	t.Helper()
	self, err := os.Executable()
	require.NoError(t, err)
	exe := filepath.Join(dir, "holder")
	if err := os.Link(self, exe); err != nil {
		copyFile(t, self, exe)
	}
	require.NoError(t, os.Chmod(exe, 0o755))

	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), "TCPCONN_E2E_HOLDER=1")
	cmd.SysProcAttr = asNobody(nil, nil)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	_, stdout := testchild.Start(t, cmd)
	l := listener{pid: cmd.Process.Pid}
	_, err = fmt.Fscanln(stdout, &l.port, &l.fd)
	require.NoError(t, err, "the holder (uid %d) did not report its listener: %s", nobody, &stderr)
	return l
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	require.NoError(t, err)
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o755)
	require.NoError(t, err)
	_, err = io.Copy(dst, src)
	require.NoError(t, errors.Join(err, dst.Close()))
}

// asNobody is the SysProcAttr of a child running as uid and gid 65534 with
// only the given supplementary groups and ambient capabilities: what
// `setpriv --reuid=65534 --regid=65534 --groups=... --inh-caps=...
// --ambient-caps=...` does, and what systemd does for User= with
// SupplementaryGroups= and AmbientCapabilities=.
func asNobody(groups []uint32, caps []uintptr) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{
		Credential:  &syscall.Credential{Uid: nobody, Gid: nobody, Groups: groups},
		AmbientCaps: caps,
	}
}

// writeConfig writes a plugin configuration readable by 65534. Only
// listeners are asked for, so that a busy host (the benchmarks hold
// hundreds of thousands of connections) does not slow the test down.
// processNames, when given, keeps the walk to those processes.
func (p *privileged) writeConfig(t *testing.T, name, procRoot string, processNames ...string) string {
	t.Helper()
	conf := "[[inputs.tcpconn]]\n"
	if procRoot != "" {
		conf += fmt.Sprintf("  proc_root = %q\n", procRoot)
	}
	if len(processNames) > 0 {
		quoted := make([]string, len(processNames))
		for i, n := range processNames {
			quoted[i] = strconv.Quote(n)
		}
		conf += fmt.Sprintf("  process_names = [%s]\n", strings.Join(quoted, ", "))
	}
	conf += `  protocols = ["tcp4"]
  states = ["LISTEN"]
  include_unowned = true
  timeout = "20s"
`
	path := filepath.Join(p.dir, name)
	require.NoError(t, os.WriteFile(path, []byte(conf), 0o644))
	require.NoError(t, os.Chmod(path, 0o644)) // whatever the umask
	return path
}

// gather is the outcome of one `bin/tcpconn -once`.
type gather struct {
	metrics []telegraf.Metric
	errors  []string // the plugin's and the shim's error lines
	stderr  string
	status  int
}

// runOnce runs `tcpconn -once -config conf` with the given process
// attributes.
func runOnce(t *testing.T, tcpconn, conf string, attr *syscall.SysProcAttr) gather {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, tcpconn, "-once", "-config", conf)
	cmd.SysProcAttr = attr
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var g gather
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		g.status = exit.ExitCode()
	case err != nil:
		t.Fatalf("running %s: %v", tcpconn, err)
	}
	g.stderr = stderr.String()
	require.NotContains(t, g.stderr, "panic", "tcpconn panicked")
	require.NotContains(t, g.stderr, "goroutine ", "tcpconn panicked")
	for line := range strings.Lines(g.stderr) {
		if strings.HasPrefix(line, "E! ") || strings.HasPrefix(line, "tcpconn: ") {
			g.errors = append(g.errors, strings.TrimSpace(line))
		}
	}
	parser := &influx.Parser{}
	require.NoError(t, parser.Init())
	g.metrics, err = parser.Parse(stdout.Bytes())
	require.NoError(t, err, "tcpconn's output is not line protocol:\n%s", stdout.String())
	return g
}

// listen returns the tcpconn metrics of the LISTEN socket on 127.0.0.1:port.
func (g gather) listen(port int) []telegraf.Metric {
	var found []telegraf.Metric
	for _, m := range g.metrics {
		if m.Name() == "tcpconn" && m.Tags()["state"] == "LISTEN" &&
			m.Tags()["local_addr"] == "127.0.0.1" && m.Tags()["local_port"] == strconv.Itoa(port) {
			found = append(found, m)
		}
	}
	return found
}

// requireOwned requires l reported once, with its pid and fd.
func (g gather) requireOwned(t *testing.T, l listener, what string) {
	t.Helper()
	ms := g.listen(l.port)
	require.Len(t, ms, 1, "%s: want one metric for port %d\n%s", what, l.port, g.stderr)
	tags := ms[0].Tags()
	require.Equal(t, strconv.Itoa(l.pid), tags["pid"], "%s: pid", what)
	require.Equal(t, strconv.Itoa(l.fd), tags["fd"], "%s: fd", what)
	require.NotEmpty(t, tags["process_name"], what)
}

// requireUnowned requires l reported (include_unowned = true) without
// owner tags: its process was hidden or not readable.
func (g gather) requireUnowned(t *testing.T, l listener, what string) {
	t.Helper()
	ms := g.listen(l.port)
	require.Len(t, ms, 1, "%s: want one metric for port %d", what, l.port)
	for _, tag := range []string{"pid", "fd", "process_name"} {
		require.NotContains(t, ms[0].Tags(), tag, "%s: the owner must not be known", what)
	}
}

// deniedError matches the plugin's one summarising error for processes it
// may not inspect.
var deniedError = regexp.MustCompile(`(\d+) process(?:es)? not readable: permission denied \(first: (.+)\); run as root, or grant CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH`)

// requireDenied requires exactly one error, the summarising one, and
// returns its submatches (count, first failure).
func (g gather) requireDenied(t *testing.T) []string {
	t.Helper()
	require.Len(t, g.errors, 1, "want only the summarising error, got:\n%s", g.stderr)
	m := deniedError.FindStringSubmatch(g.errors[0])
	require.NotNil(t, m, "not the summarising error: %s", g.errors[0])
	return m
}

// requireNoDenialBut1 allows, with the capabilities, at most the one
// summarising error for pid 1 alone: on some sandboxes pid 1 holds a
// capability the test lacks, so even root may not readlink its fds.
func (g gather) requireNoDenialBut1(t *testing.T) {
	t.Helper()
	for _, e := range g.errors {
		m := deniedError.FindStringSubmatch(e)
		require.True(t, m != nil && m[1] == "1" && regexp.MustCompile(`/1/fd\b`).MatchString(m[2]),
			"unexpected error with the capabilities: %s", e)
	}
}

// TestUnprivilegedUser runs a gather as uid 65534 without capabilities: its
// own process's listener is reported with pid and fd, root's listener only
// as an unowned socket, and the processes it may not inspect are counted in
// one error, with exit status 0.
func TestUnprivilegedUser(t *testing.T) {
	p := setupPrivileged(t)
	conf := p.writeConfig(t, "tcpconn.conf", "")

	g := runOnce(t, p.tcpconn, conf, asNobody(nil, nil))
	require.Equal(t, 0, g.status, "some sockets were collected:\n%s", g.stderr)
	g.requireOwned(t, p.nobody, "the listener of uid 65534")
	require.Equal(t, holderName, g.listen(p.nobody.port)[0].Tags()["process_name"])
	g.requireUnowned(t, p.root, "root's listener")
	m := g.requireDenied(t)
	n, err := strconv.Atoi(m[1])
	require.NoError(t, err)
	require.GreaterOrEqual(t, n, 1, "this test process (root) at least")
}

// dropInCapabilities reads AmbientCapabilities= from the shipped systemd
// drop-in, and checks that CapabilityBoundingSet= allows them.
func dropInCapabilities(t *testing.T) []string {
	t.Helper()
	return dropInFileCapabilities(t, "tcpconn.conf")
}

// dropInFileCapabilities reads the capabilities a drop-in of
// examples/systemd grants.
func dropInFileCapabilities(t *testing.T, name string) []string {
	t.Helper()
	f, err := os.Open("../examples/systemd/" + name)
	require.NoError(t, err)
	defer f.Close()
	var ambient, bounding []string
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if strings.HasPrefix(line, "[") {
			section = line
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		require.True(t, ok, "not a setting: %q", line)
		require.Equal(t, "[Service]", section, "%s outside [Service]", key)
		switch key {
		case "AmbientCapabilities":
			ambient = append(ambient, strings.Fields(value)...)
		case "CapabilityBoundingSet":
			bounding = append(bounding, strings.Fields(value)...)
		}
	}
	require.NoError(t, sc.Err())
	for _, c := range ambient {
		require.NotEqual(t, '~', c[0], "an inverted list is not least privilege")
		if bounding != nil {
			require.Contains(t, bounding, c, "CapabilityBoundingSet must allow the ambient capabilities")
		}
	}
	return ambient
}

// capabilityNames are the kernel's capability numbers, in order
// (include/uapi/linux/capability.h).
var capabilityNames = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
	"CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
	"CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK",
	"CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
	"CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE",
	"CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE",
	"CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
	"CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
	"CAP_CHECKPOINT_RESTORE",
}

func capabilities(t *testing.T, names ...string) []uintptr {
	t.Helper()
	caps := make([]uintptr, 0, len(names))
	for _, name := range names {
		i := slices.Index(capabilityNames, strings.ToUpper(name))
		require.GreaterOrEqual(t, i, 0, "unknown capability %q", name)
		caps = append(caps, uintptr(i))
	}
	return caps
}

// TestCapabilitiesFromSystemdDropIn grants uid 65534 exactly the ambient
// capabilities of examples/systemd/tcpconn.conf, as systemd would (systemd
// does not run here; Go's SysProcAttr.AmbientCaps does what
// `setpriv --inh-caps=... --ambient-caps=...` and AmbientCapabilities= do),
// and requires root's listener reported with its pid and fd. It also shows
// that neither capability is enough alone.
func TestCapabilitiesFromSystemdDropIn(t *testing.T) {
	p := setupPrivileged(t)
	conf := p.writeConfig(t, "tcpconn.conf", "")
	names := dropInCapabilities(t)
	require.ElementsMatch(t, []string{"CAP_SYS_PTRACE", "CAP_DAC_READ_SEARCH"}, names,
		"the drop-in grants exactly what tcpconn needs")
	require.Equal(t, []uintptr{unix.CAP_SYS_PTRACE, unix.CAP_DAC_READ_SEARCH}, capabilities(t, "CAP_SYS_PTRACE", "CAP_DAC_READ_SEARCH"))

	t.Run("drop-in", func(t *testing.T) {
		g := runOnce(t, p.tcpconn, conf, asNobody(nil, capabilities(t, names...)))
		require.Equal(t, 0, g.status, g.stderr)
		g.requireOwned(t, p.root, "root's listener")
		g.requireOwned(t, p.nobody, "the listener of uid 65534")
		g.requireNoDenialBut1(t)
	})

	// CAP_DAC_READ_SEARCH lists /proc/<pid>/fd (mode 0500); CAP_SYS_PTRACE
	// reads its links.
	for _, tc := range []struct {
		capability string
		fails      string // the failing call named in the summarising error
	}{
		{"CAP_SYS_PTRACE", "open"},
		{"CAP_DAC_READ_SEARCH", "readlink"},
	} {
		t.Run("only "+tc.capability, func(t *testing.T) {
			g := runOnce(t, p.tcpconn, conf, asNobody(nil, capabilities(t, tc.capability)))
			require.Equal(t, 0, g.status, g.stderr)
			g.requireOwned(t, p.nobody, "the listener of uid 65534")
			g.requireUnowned(t, p.root, "root's listener")
			m := g.requireDenied(t)
			require.True(t, strings.HasPrefix(m[2], tc.fails+" "), "first failure %q, want %s", m[2], tc.fails)
		})
	}
}

// TestFileCapabilities checks the other way to grant the capabilities:
// on the tcpconn binary alone, so that Telegraf itself and its other
// commands stay unprivileged. uid 65534 runs a copy carrying
// cap_sys_ptrace,cap_dac_read_search+ep and no ambient capabilities.
func TestFileCapabilities(t *testing.T) {
	p := setupPrivileged(t)
	exe := filepath.Join(p.dir, "tcpconn")
	copyFile(t, p.tcpconn, exe)
	if err := testchild.SetFileCaps(exe, capabilities(t, dropInCapabilities(t)...)...); err != nil {
		missing(t, "setting file capabilities on %s: %v (the file system needs security extended attributes)", exe, err)
	}
	if getcap, err := exec.LookPath("getcap"); err == nil {
		out, err := exec.Command(getcap, exe).CombinedOutput()
		require.NoError(t, err, "%s", out)
		require.Contains(t, string(out), "cap_dac_read_search,cap_sys_ptrace=ep")
	}
	conf := p.writeConfig(t, "tcpconn.conf", "", ours(t)...)
	g := runOnce(t, exe, conf, asNobody(nil, nil))
	require.Equal(t, 0, g.status, g.stderr)
	g.requireOwned(t, p.root, "root's listener")
	require.Empty(t, g.errors)
}

// unusedGID returns a group id that no group has, so that no process
// holds it unless the test gives it: the gid= of the hidepid mount.
func unusedGID(t *testing.T) uint32 {
	t.Helper()
	for gid := 61000; gid < 62000; gid++ {
		if _, err := user.LookupGroupId(strconv.Itoa(gid)); errors.As(err, new(user.UnknownGroupIdError)) {
			return uint32(gid)
		}
	}
	t.Fatal("no unused gid in 61000-61999")
	return 0
}

// mountHidepid mounts a new proc with hidepid=2 and the given gid on a
// temporary directory, unmounted when the test ends, failed or not.
func mountHidepid(t *testing.T, gid uint32) string {
	t.Helper()
	dir := sharedDir(t)
	opts := fmt.Sprintf("hidepid=2,gid=%d", gid)
	if err := unix.Mount("proc", dir, "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, opts); err != nil {
		missing(t, "mount -t proc -o %s: %v (needs root outside a restricted container)", opts, err)
	}
	// Registered after t.TempDir's removal, so it runs before it.
	t.Cleanup(func() {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Errorf("unmounting %s: %v", dir, err)
		}
	})
	return dir
}

// TestHidepid gathers from a proc mounted with hidepid=2,gid=G as uid 65534:
// without the group, the processes of other users are invisible (not even
// counted as denied); with it they are visible but not readable; with the
// capabilities, readable, with or without the group (CAP_SYS_PTRACE passes
// hidepid's check on its own).
func TestHidepid(t *testing.T) {
	p := setupPrivileged(t)
	gid := unusedGID(t)
	proc := mountHidepid(t, gid)
	conf := p.writeConfig(t, "hidepid.conf", proc)
	oursOnly := p.writeConfig(t, "hidepid-ours.conf", proc, ours(t)...)
	caps := capabilities(t, dropInCapabilities(t)...)

	// As root, the mount hides nothing: this process is there.
	_, err := os.Stat(filepath.Join(proc, strconv.Itoa(os.Getpid())))
	require.NoError(t, err)

	t.Run("without the group", func(t *testing.T) {
		g := runOnce(t, p.tcpconn, conf, asNobody(nil, nil))
		require.Equal(t, 0, g.status, g.stderr)
		g.requireOwned(t, p.nobody, "the listener of uid 65534")
		g.requireUnowned(t, p.root, "root's listener")
		require.Empty(t, g.errors, "hidden processes cannot be counted as denied")
		// ...so the plugin says once, at start, that they are hidden.
		require.Contains(t, g.stderr, "is mounted with hidepid=invisible: other users' processes are hidden from this agent")
		require.Contains(t, g.stderr, fmt.Sprintf("add this user to group %d", gid))
	})
	t.Run("with the group", func(t *testing.T) {
		g := runOnce(t, p.tcpconn, conf, asNobody([]uint32{gid}, nil))
		require.Equal(t, 0, g.status, g.stderr)
		g.requireOwned(t, p.nobody, "the listener of uid 65534")
		g.requireUnowned(t, p.root, "root's listener")
		g.requireDenied(t)
		require.NotContains(t, g.stderr, "hidepid", "in the group, nothing is hidden")
	})
	t.Run("with the group and the capabilities", func(t *testing.T) {
		g := runOnce(t, p.tcpconn, oursOnly, asNobody([]uint32{gid}, caps))
		require.Equal(t, 0, g.status, g.stderr)
		g.requireOwned(t, p.root, "root's listener")
		g.requireOwned(t, p.nobody, "the listener of uid 65534")
		require.Empty(t, g.errors)
	})
	t.Run("with the capabilities only", func(t *testing.T) {
		g := runOnce(t, p.tcpconn, oursOnly, asNobody(nil, caps))
		require.Equal(t, 0, g.status, g.stderr)
		g.requireOwned(t, p.root, "root's listener")
		require.Empty(t, g.errors)
	})
}

// TestTCPTableNotReadable gathers as uid 65534 from a fixture proc root
// whose TCP tables are mode 000: each unreadable table is an error that
// names it, and when no table could be read the shim exits 1.
func TestTCPTableNotReadable(t *testing.T) {
	p := setupPrivileged(t)
	const header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
	const row = "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 100 0 0 10 0\n"
	const row6 = "   0: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4243 1 0000000000000000 100 0 0 10 0\n"

	for _, tc := range []struct {
		name       string
		tcp6       string // the mode of net/tcp6, or "" when absent
		wantStatus int
		wantRows   int
	}{
		{"tcp6 readable", "0644", 0, 1},
		{"tcp6 absent", "", 1, 0},
		{"tcp6 not readable", "0000", 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := filepath.Join(p.dir, strings.ReplaceAll(tc.name, " ", "-"))
			require.NoError(t, os.MkdirAll(filepath.Join(root, "net"), 0o755))
			require.NoError(t, os.Chmod(root, 0o755))
			tcp := filepath.Join(root, "net", "tcp")
			require.NoError(t, os.WriteFile(tcp, []byte(header+row), 0o600))
			require.NoError(t, os.Chmod(tcp, 0))
			if tc.tcp6 != "" {
				tcp6 := filepath.Join(root, "net", "tcp6")
				mode, err := strconv.ParseUint(tc.tcp6, 8, 32)
				require.NoError(t, err)
				require.NoError(t, os.WriteFile(tcp6, []byte(header+row6), 0o600))
				require.NoError(t, os.Chmod(tcp6, os.FileMode(mode)))
			}
			conf := filepath.Join(p.dir, tc.name+".conf")
			require.NoError(t, os.WriteFile(conf, fmt.Appendf(nil, "[[inputs.tcpconn]]\n  proc_root = %q\n  include_unowned = true\n", root), 0o644))
			require.NoError(t, os.Chmod(conf, 0o644))

			g := runOnce(t, p.tcpconn, conf, asNobody(nil, nil))
			require.Equal(t, tc.wantStatus, g.status, g.stderr)
			require.Len(t, g.metrics, tc.wantRows)
			require.Contains(t, g.stderr, "reading tcp4 table: open "+tcp+": permission denied")
			if tc.wantStatus != 0 {
				require.Contains(t, g.stderr, "tcpconn: no TCP table could be read")
			}
			if tc.tcp6 == "0000" {
				require.Contains(t, g.stderr, "reading tcp6 table: open "+filepath.Join(root, "net", "tcp6")+": permission denied")
			}
		})
	}
}
