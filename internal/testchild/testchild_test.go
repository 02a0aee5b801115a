package testchild

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// As a child, this test binary renames itself, says so, and waits for
// stdin to close.
func TestMain(m *testing.M) {
	if name := os.Getenv("TESTCHILD_NAME"); name != "" {
		if err := SetName(name); err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Println("ready")
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestSetName(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "TESTCHILD_NAME=a-name-longer-than-fifteen")
	_, out := Start(t, cmd)
	said, err := out.ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "ready\n", said)

	// What others see as the process's name, cut to 15 bytes.
	comm, err := os.ReadFile("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/comm")
	require.NoError(t, err)
	require.Equal(t, "a-name-longer-t\n", string(comm))
}

func TestStartEndsTheChild(t *testing.T) {
	var cat, sleeper *exec.Cmd
	t.Run("stdin closed", func(t *testing.T) {
		cat = exec.Command("cat")
		in, out := Start(t, cat)
		_, err := in.Write([]byte("echo\n"))
		require.NoError(t, err)
		line, err := out.ReadString('\n')
		require.NoError(t, err)
		require.Equal(t, "echo\n", line)
	})
	require.NotNil(t, cat.ProcessState, "cat was not waited for")
	require.True(t, cat.ProcessState.Success())

	defer func(g time.Duration) { grace = g }(grace)
	grace = 100 * time.Millisecond
	t.Run("stdin ignored", func(t *testing.T) {
		sleeper = exec.Command("sleep", "600")
		Start(t, sleeper)
	})
	require.NotNil(t, sleeper.ProcessState, "sleep was not waited for")
	require.False(t, sleeper.ProcessState.Success(), "sleep was not killed")
}
