// Package testchild runs helper processes for tests: usually the test
// binary itself again, in a role an environment variable selects, holding
// sockets the test then looks for.
//
// A child lives as long as its test. Its stdin is the leash: the child reads
// it until EOF, and the test's cleanup closes it.
package testchild

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"testing"
	"time"
)

// grace is how long a child has to exit once its stdin is closed before it
// is killed, so that a stuck child cannot hang the test binary.
var grace = 5 * time.Second

// Start starts cmd with a pipe to its stdin and one from its stdout. When
// the test ends it closes stdin and waits for the child, killing it after
// a grace period.
func Start(t testing.TB, cmd *exec.Cmd) (stdin io.WriteCloser, stdout *bufio.Reader) {
	t.Helper()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(grace):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	return stdin, bufio.NewReader(out)
}

// SetName sets the process name that /proc/<pid>/comm shows, what the
// plugin's process_names filter matches. It writes the thread-group
// leader's comm, which prctl(PR_SET_NAME) would miss when the calling
// goroutine runs on another thread. The kernel cuts the name to 15 bytes.
func SetName(name string) error {
	return os.WriteFile("/proc/self/comm", []byte(name), 0)
}
