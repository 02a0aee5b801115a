//go:build linux

package resolver

import (
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// fxProc describes one process of a fixture proc tree.
type fxProc struct {
	pid     string
	comm    *string // nil: no comm file
	status  string  // "" : no status file
	stat    string  // "" : no stat file
	cmdline string
	netns   bool              // write ns/net as a plain file
	fds     map[string]string // fd name -> link target; nil: no fd directory
	files   map[string]string // fd name -> plain file content (not a link)
}

func strp(s string) *string { return &s }

// statLine returns a /proc/<pid>/stat line with the given comm and start
// time in field 22.
func statLine(pid, comm string, start uint64) string {
	// Fields 3..21 after the comm, then 22 = start time, then a few more.
	return pid + " (" + comm + ") S 1 1 1 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 " +
		strconv.FormatUint(start, 10) + " 1000 10 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n"
}

func statusText(name string, uid [4]uint32) string {
	u := func(i int) string { return strconv.FormatUint(uint64(uid[i]), 10) }
	return "Name:\t" + name + "\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t1\nNgid:\t0\nPid:\t1\nPPid:\t0\nTracerPid:\t0\n" +
		"Uid:\t" + u(0) + "\t" + u(1) + "\t" + u(2) + "\t" + u(3) + "\nGid:\t0\t0\t0\t0\nFDSize:\t64\n"
}

// buildTree writes procs under a new temporary proc root and returns it.
// Extra non-process entries are added as a real /proc has them.
func buildTree(t testing.TB, procs ...fxProc) string {
	t.Helper()
	root := fixtureDir(t)
	writeTree(t, root, procs...)
	return root
}

// fixtureDir returns a new empty directory, removed when the test ends. It
// prefers the tmpfs /dev/shm: creating tens of thousands of symlinks on a
// journalled disk takes seconds, and tmpfs is closer to what proc costs.
func fixtureDir(t testing.TB) string {
	t.Helper()
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		//nolint:usetesting // t.TempDir is not on tmpfs
		if dir, err := os.MkdirTemp("/dev/shm", "resolver-test-"); err == nil {
			t.Cleanup(func() { os.RemoveAll(dir) })
			return dir
		}
	}
	return t.TempDir()
}

func writeTree(t testing.TB, root string, procs ...fxProc) {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range procs {
		dir := filepath.Join(root, p.pid)
		must(os.MkdirAll(dir, 0o755))
		if p.comm != nil {
			must(os.WriteFile(filepath.Join(dir, "comm"), []byte(*p.comm), 0o644))
		}
		if p.status != "" {
			must(os.WriteFile(filepath.Join(dir, "status"), []byte(p.status), 0o644))
		}
		if p.stat != "" {
			must(os.WriteFile(filepath.Join(dir, "stat"), []byte(p.stat), 0o644))
		}
		if p.cmdline != "" {
			must(os.WriteFile(filepath.Join(dir, "cmdline"), []byte(p.cmdline), 0o644))
		}
		if p.netns {
			must(os.MkdirAll(filepath.Join(dir, "ns"), 0o755))
			must(os.WriteFile(filepath.Join(dir, "ns", "net"), nil, 0o644))
		}
		if p.fds == nil && p.files == nil {
			continue
		}
		must(os.MkdirAll(filepath.Join(dir, "fd"), 0o755))
		for name, target := range p.fds {
			must(os.Symlink(target, filepath.Join(dir, "fd", name)))
		}
		for name, content := range p.files {
			must(os.WriteFile(filepath.Join(dir, "fd", name), []byte(content), 0o644))
		}
	}
}

// addNonProcessEntries adds what a real proc root holds besides pids.
func addNonProcessEntries(t testing.TB, root string) {
	t.Helper()
	require.NoError(t, os.Symlink("1", filepath.Join(root, "self")))
	for _, d := range []string{"net", "sys", "123abc", "0123", "-5", "99999999999"} {
		require.NoError(t, os.MkdirAll(filepath.Join(root, d, "fd"), 0o755))
		// A socket that must never be counted.
		require.NoError(t, os.Symlink("socket:[777]", filepath.Join(root, d, "fd", "3")))
		require.NoError(t, os.WriteFile(filepath.Join(root, d, "comm"), []byte("x\n"), 0o644))
	}
	require.NoError(t, os.WriteFile(filepath.Join(root, "uptime"), []byte("1.0 1.0\n"), 0o644))
}

func inodeOf(t testing.TB, path string) uint64 {
	t.Helper()
	fi, err := os.Stat(path)
	require.NoError(t, err)
	return fi.Sys().(*syscall.Stat_t).Ino
}

func uidOf(t testing.TB, path string) uint32 {
	t.Helper()
	fi, err := os.Stat(path)
	require.NoError(t, err)
	return fi.Sys().(*syscall.Stat_t).Uid
}
