//go:build linux

package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// telegrafUser makes the system user Telegraf's packages run as, the way
// their postinst does, unless it exists; a user the test made is removed
// when it ends.
func telegrafUser(t *testing.T) {
	t.Helper()
	if _, err := user.Lookup("telegraf"); err == nil {
		return
	}
	out, err := exec.Command("useradd", "--system", "--user-group", "--no-create-home", "--shell", "/bin/false", "telegraf").CombinedOutput()
	if err != nil {
		missing(t, "useradd telegraf: %v: %s (needs root and the passwd package)", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("userdel", "telegraf").CombinedOutput(); err != nil {
			t.Errorf("userdel telegraf: %v: %s", err, out)
		}
	})
}

// TestPackagedTelegraf follows the README's "Packaged Telegraf" steps
// literally, in a root of its own instead of /: the shim in
// /usr/local/bin with the two capabilities set by setcap, the plugin's
// settings in /etc/telegraf/tcpconn.conf, the shipped drop-in in
// /etc/telegraf/telegraf.d, and Telegraf run as the telegraf user with the
// package's own command line. The telegraf user has no capability of its
// own, so the peer's sockets (root's) come with their pid and fd only if
// the shim's file capabilities work.
func TestPackagedTelegraf(t *testing.T) {
	bin := binDir(t)
	setcap, err := exec.LookPath("setcap")
	if err != nil {
		missing(t, "setcap is missing: apt-get install libcap2-bin")
	}
	telegrafUser(t)
	held := holdSockets(t)

	root := sharedDir(t)
	at := func(path string) string { return filepath.Join(root, path) }
	for _, dir := range []string{"/usr/bin", "/usr/local/bin", "/etc/telegraf/telegraf.d"} {
		require.NoError(t, os.MkdirAll(at(dir), 0o755))
	}
	install := func(from, to string, mode os.FileMode) {
		copyFile(t, from, at(to))
		require.NoError(t, os.Chmod(at(to), mode))
	}
	install(filepath.Join(bin, "telegraf"), "/usr/bin/telegraf", 0o755)
	install(filepath.Join(bin, "tcpconn"), "/usr/local/bin/tcpconn", 0o755)
	out, err := exec.Command(setcap, "cap_sys_ptrace,cap_dac_read_search+ep", at("/usr/local/bin/tcpconn")).CombinedOutput()
	require.NoError(t, err, "setcap: %s", out)
	install("../examples/tcpconn.conf", "/etc/telegraf/tcpconn.conf", 0o644)
	require.NoError(t, os.WriteFile(at("/etc/telegraf/telegraf.conf"), []byte("[agent]\n  interval = \"10s\"\n"), 0o644))
	dropIn, err := os.ReadFile("../examples/telegraf.d/tcpconn.conf")
	require.NoError(t, err)
	// The one change: the paths are under root.
	dropIn = bytes.ReplaceAll(dropIn, []byte(`"/usr/local/bin/`), []byte(`"`+root+"/usr/local/bin/"))
	dropIn = bytes.ReplaceAll(dropIn, []byte(`"/etc/telegraf/`), []byte(`"`+root+"/etc/telegraf/"))
	require.NoError(t, os.WriteFile(at("/etc/telegraf/telegraf.d/tcpconn.conf"), dropIn, 0o644))

	cmd := exec.Command("runuser", "-u", "telegraf", "--", at("/usr/bin/telegraf"),
		"-config", at("/etc/telegraf/telegraf.conf"), "-config-directory", at("/etc/telegraf/telegraf.d"),
		"--test", "--test-wait", "3")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err = cmd.Output()
	// Allowed errors: execd's own race on the closed pipes at shutdown, and
	// pid 1 of a sandbox that root may not inspect either (the gather as
	// root says the same); any other denial is capabilities gone missing.
	requireOnlyErrors(t, stderr.String(), err, "file already closed", "input plugins recorded", "1 process not readable: permission denied (first: readlink /proc/1/fd/")
	var mine []string
	for line := range strings.Lines(string(out)) {
		if m, ok := strings.CutPrefix(line, "> "); ok && strings.Contains(m, ",pid="+held.pid+",") {
			mine = append(mine, m)
		}
	}
	t.Logf("the peer's sockets, as the telegraf user sees them:\n%s", strings.Join(mine, ""))
	require.Len(t, mine, 4, "listener, client, server end, CLOSE_WAIT end, with pid: the capabilities did not reach the shim\n%s\n%s", out, stderr.String())
	for _, m := range mine {
		require.Contains(t, m, ",process_name="+peerName+",")
		require.Regexp(t, `,fd=\d+,`, m)
	}
	require.Contains(t, strings.Join(mine, ""), fmt.Sprintf(",local_port=%d,", held.listenPort))
}
