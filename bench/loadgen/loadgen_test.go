//go:build linux

package loadgen

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The test binary is its own load child.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == ChildFlag {
		if err := RunChild(os.Args[2:], os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestPlan(t *testing.T) {
	for _, tc := range []struct {
		n, children int
	}{
		{1, 2},
		{1000, 2},
		{10000, 2},
		{18001, 3},
		{100000, 12},
	} {
		t.Run(fmt.Sprint(tc.n), func(t *testing.T) {
			shapes := Plan(tc.n)
			require.Len(t, shapes, tc.children)
			total := 0
			for i, s := range shapes {
				require.Equal(t, i, s.Index)
				require.LessOrEqual(t, s.Conns, MaxPerChild)
				// Both ends and the extras stay under a hard limit of 20000.
				require.Less(t, s.Sockets(), 19000)
				total += s.Conns
			}
			require.Equal(t, tc.n, total)
		})
	}
}

// TestStart holds a small load and finds every socket of it in the kernel's
// tables, in the state it should be in.
func TestStart(t *testing.T) {
	exe, err := os.Executable()
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Index 4000 is 127.0.15.162, an address the scale harness's loads
	// (indexes 0 to a few dozen) do not use.
	shape := Shape{Index: 4000, Conns: 40, V6: 4, Ports: 2, Idle: 1, CloseWait: 3}
	require.Equal(t, [4]byte{127, 0, 15, 162}, shape.Addr())
	l, err := Start(ctx, exe, []Shape{shape})
	if err != nil && strings.Contains(err.Error(), "IPv6") {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	require.NoError(t, err)
	defer l.Close()
	require.Equal(t, 40, l.Conns())
	require.Equal(t, 2*40+3+4, l.Sockets())

	// The table prints 127.0.15.162 as A20F007F.
	v4 := count(t, "/proc/net/tcp", "A20F007F")
	require.Equal(t, 2*36, v4["01"], "ESTABLISHED, both ends of 36 IPv4 connections")
	require.Equal(t, 3, v4["08"], "CLOSE_WAIT")
	require.Equal(t, 3, v4["0A"], "LISTEN: 2 ports and 1 idle")
	// Other programs may use ::1 too.
	v6 := count(t, "/proc/net/tcp6", "00000000000000000000000001000000")
	require.GreaterOrEqual(t, v6["01"], 2*4, "ESTABLISHED IPv6")
	require.GreaterOrEqual(t, v6["0A"], 1, "LISTEN IPv6")
}

// count counts by state the rows of a table whose local or remote address
// is addr: the server ends have it as local address, the client ends as
// remote (their own is 127.0.0.1).
func count(t *testing.T, table, addr string) map[string]int {
	t.Helper()
	f, err := os.Open(table)
	require.NoError(t, err)
	defer f.Close()
	states := map[string]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 4 {
			continue
		}
		local, _, _ := strings.Cut(fields[1], ":")
		remote, _, _ := strings.Cut(fields[2], ":")
		if local == addr || remote == addr {
			states[fields[3]]++
		}
	}
	require.NoError(t, sc.Err())
	return states
}
