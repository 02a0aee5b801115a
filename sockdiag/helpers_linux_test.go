package sockdiag

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// The test binary runs itself as a helper process in another network
// namespace or as another user: the role comes in $SOCKDIAG_TEST_ROLE and
// its arguments in $SOCKDIAG_TEST_ARGS. A helper reads its stdin until
// EOF, which the test's cleanup causes.
const (
	roleEnv = "SOCKDIAG_TEST_ROLE"
	argsEnv = "SOCKDIAG_TEST_ARGS"
)

// nobody is the unprivileged user the tests run helpers as.
const nobody = 65534

// requireRoot fails the test unless it runs as root, which it needs for
// what why says.
func requireRoot(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatalf("this test needs root, %s: run go test as root", why)
	}
}

// requireIP fails the test unless iproute2's ip is installed.
func requireIP(t testing.TB) string {
	t.Helper()
	path, err := exec.LookPath("ip")
	if err != nil {
		t.Fatalf("this test needs iproute2's ip to create network namespaces: %v", err)
	}
	return path
}

var netnsCount atomic.Int32

// newNetNS creates a network namespace with its loopback up, removed when
// the test ends, and returns its name and path.
func newNetNS(t testing.TB) (name, path string) {
	t.Helper()
	requireRoot(t, "with CAP_SYS_ADMIN to create and join network namespaces")
	ip := requireIP(t)
	name = fmt.Sprintf("sockdiag-test-%d-%d", os.Getpid(), netnsCount.Add(1))
	out, err := exec.Command(ip, "netns", "add", name).CombinedOutput()
	require.NoError(t, err, "ip netns add: %s", out)
	t.Cleanup(func() {
		if out, err := exec.Command(ip, "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", name, err, out)
		}
	})
	out, err = exec.Command(ip, "-n", name, "link", "set", "lo", "up").CombinedOutput()
	require.NoError(t, err, "ip link set lo up: %s", out)
	return name, "/run/netns/" + name
}

// helperCmd returns the command that runs this test binary in role with
// args.
func helperCmd(t testing.TB, exe, role, args string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), roleEnv+"="+role, argsEnv+"="+args)
	cmd.Stderr = os.Stderr
	return cmd
}

// netnsHelperCmd returns the command that runs this test binary in role
// with args inside the network namespace name.
func netnsHelperCmd(t testing.TB, name, role, args string) *exec.Cmd {
	t.Helper()
	cmd := helperCmd(t, requireIP(t), role, args)
	cmd.Args = []string{"ip", "netns", "exec", name, selfExe(t)}
	return cmd
}

// selfExe returns the path of this test binary.
func selfExe(t testing.TB) string {
	t.Helper()
	exe, err := os.Executable()
	require.NoError(t, err)
	return exe
}

// nobodyCmd returns a command that runs this test binary in role as uid
// and gid 65534, from a copy that user may execute.
func nobodyCmd(t testing.TB, role, args string) *exec.Cmd {
	t.Helper()
	requireRoot(t, "with CAP_SETUID to run a helper as uid 65534")
	// The directories of t.TempDir are private: open them to others.
	dir := t.TempDir()
	require.NoError(t, os.Chmod(filepath.Dir(dir), 0o755))
	require.NoError(t, os.Chmod(dir, 0o755))
	exe := filepath.Join(dir, "sockdiag.test")
	data, err := os.ReadFile(selfExe(t))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(exe, data, 0o755))
	cmd := helperCmd(t, exe, role, args)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	return cmd
}

// startHelper starts cmd with pipes to its stdin and from its stdout.
// When the test ends it closes stdin and waits for the helper, killing it
// after a grace period.
func startHelper(t testing.TB, cmd *exec.Cmd) (io.WriteCloser, *bufio.Reader) {
	t.Helper()
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	return stdin, bufio.NewReader(out)
}

// readLine reads a line from a helper, failing on an error line.
func readLine(t testing.TB, out *bufio.Reader) string {
	t.Helper()
	line, err := out.ReadString('\n')
	require.NoError(t, err, "helper output %q", line)
	line = strings.TrimSuffix(line, "\n")
	require.False(t, strings.HasPrefix(line, "error:"), line)
	return line
}

// fields parses "k=v k=v" after a leading word.
func fields(line string) map[string]string {
	m := map[string]string{}
	for _, f := range strings.Fields(line) {
		if k, v, ok := strings.Cut(f, "="); ok {
			m[k] = v
		}
	}
	return m
}

// inodeOf returns the inode of a socket's file descriptor, by fstat.
func inodeOf(c syscall.Conn) uint64 {
	var ino uint64
	rc, err := c.SyscallConn()
	if err != nil {
		return 0
	}
	_ = rc.Control(func(fd uintptr) {
		var st unix.Stat_t
		if unix.Fstat(int(fd), &st) == nil {
			ino = st.Ino
		}
	})
	return ino
}

// cookieOf returns a socket's cookie, by getsockopt(SO_COOKIE).
func cookieOf(t testing.TB, c syscall.Conn) uint64 {
	t.Helper()
	rc, err := c.SyscallConn()
	require.NoError(t, err)
	var cookie uint64
	var serr error
	require.NoError(t, rc.Control(func(fd uintptr) {
		cookie, serr = unix.GetsockoptUint64(int(fd), unix.SOL_SOCKET, unix.SO_COOKIE)
	}))
	require.NoError(t, serr)
	return cookie
}

// readDump returns the bytes of the whole reply stream d.
func readDump(t testing.TB, d *Dump) []byte {
	t.Helper()
	var out []byte
	buf := make([]byte, bufferSize)
	for {
		n, err := d.Read(buf)
		out = append(out, buf[:n]...)
		if errors.Is(err, io.EOF) {
			return out
		}
		require.NoError(t, err)
	}
}

// rawDump sends a dump request for any family and protocol, which Dump
// would refuse or not send, and returns the reply stream.
func rawDump(t testing.TB, c *Conn, family, protocol uint8) []byte {
	t.Helper()
	require.NoError(t, c.drain())
	require.NoError(t, c.send(family, protocol, 0, ^uint32(0)))
	c.dump.label = dumpLabel(family)
	return readDump(t, &c.dump)
}

// kernelAtLeast tells whether the running kernel is major.minor or newer.
func kernelAtLeast(t testing.TB, major, minor int) bool {
	t.Helper()
	var u unix.Utsname
	require.NoError(t, unix.Uname(&u))
	var gotMajor, gotMinor int
	_, err := fmt.Sscanf(unix.ByteSliceToString(u.Release[:]), "%d.%d", &gotMajor, &gotMinor)
	require.NoError(t, err)
	return gotMajor > major || gotMajor == major && gotMinor >= minor
}
