package sockdiag

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
)

func TestMain(m *testing.M) {
	if role := os.Getenv(roleEnv); role != "" {
		os.Exit(runRole(role, os.Getenv(argsEnv)))
	}
	os.Exit(m.Run())
}

// runRole runs a helper process and returns its exit status.
func runRole(role, args string) int {
	var err error
	switch role {
	case "hold":
		err = holdSockets(args)
	case "dialnetns":
		err = roleDialNetNS(args)
	default:
		err = fmt.Errorf("unknown role %q", role)
	}
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	return 0
}

// holdSockets opens the sockets that what names, prints "ready" and their
// ports, and holds them until stdin ends.
func holdSockets(what string) error {
	switch what {
	case "listen":
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			return err
		}
		defer l.Close()
		fmt.Printf("ready port=%d inode=%d\n", l.Addr().(*net.TCPAddr).Port, inodeOf(l.(*net.TCPListener)))
		_, _ = io.Copy(io.Discard, os.Stdin)
		return nil
	}
	return fmt.Errorf("hold: unknown set %q", what)
}

// roleDialNetNS tries DialNetNS(path) and prints the error.
func roleDialNetNS(path string) error {
	c, err := DialNetNS(path)
	if err == nil {
		c.Close()
		return fmt.Errorf("DialNetNS as uid %d succeeded", os.Getuid())
	}
	fmt.Printf("uid=%d eperm=%v err=%s\n", os.Getuid(), errors.Is(err, os.ErrPermission) && errors.Is(err, syscall.EPERM), err)
	return nil
}
