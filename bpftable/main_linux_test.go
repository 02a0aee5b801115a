//go:build linux

package bpftable

import (
	"fmt"
	"os"
	"testing"

	"github.com/tcpconn/telegraf-tcpconn/bench/loadgen"
)

// The test binary doubles as a load child of bench/loadgen (first argument
// loadgen.ChildFlag), for BenchmarkRead, and as the child of
// TestPrivileges (childEnv=perm).
const childEnv = "BPFTABLE_TEST_CHILD"

func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == loadgen.ChildFlag {
		if err := loadgen.RunChild(os.Args[2:], os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	switch mode := os.Getenv(childEnv); mode {
	case "":
		os.Exit(m.Run())
	case "perm":
		os.Exit(permChild())
	default:
		fmt.Fprintf(os.Stderr, "unknown %s %q\n", childEnv, mode)
		os.Exit(2)
	}
}
