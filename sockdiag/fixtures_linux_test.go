package sockdiag

import (
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// captureFixtures captures, in a network namespace of its own holding
// only the sockets of a helper (holdFixtureSockets), the dumps and
// notifications of testdata. Run it with
//
//	go test -run 'TestFixtures$' -update ./sockdiag/
//
// as root; it rewrites the *.nl captures and their *.golden decodings.
func captureFixtures(t *testing.T) {
	name, path := newNetNS(t)
	stdin, out := startHelper(t, netnsHelperCmd(t, name, "hold", "fixtures"))
	t.Log(readLine(t, out))

	c, err := DialNetNS(path)
	require.NoError(t, err)
	defer c.Close()
	lc := ListenConfig{NetNS: path}
	l, err := lc.ListenDestroyed()
	require.NoError(t, err)
	defer l.Close()

	write := func(name string, data []byte) {
		require.NoError(t, os.WriteFile(filepath.Join(fixtureDir, name+".nl"), data, 0o644))
	}
	dump := func(req Request) []byte {
		d, err := c.Dump(req)
		require.NoError(t, err)
		return readDump(t, d)
	}
	write("dump4", dump(Request{Family: AFInet}))
	write("dump4_info", dump(Request{Family: AFInet, Info: true}))
	write("dump6", dump(Request{Family: AFInet6}))
	write("dump6_info", dump(Request{Family: AFInet6, Info: true}))
	write("listen4", dump(Request{Family: AFInet, States: 1 << 10}))
	write("error_family", rawDump(t, c, 255, unix.IPPROTO_TCP))
	write("error_protocol", rawDump(t, c, AFInet, 253))

	// Close the connections, and take the notifications of their four
	// sockets, which dumps gave cookies first.
	_, err = io.WriteString(stdin, "close\n")
	require.NoError(t, err)
	require.Equal(t, "closed", readLine(t, out))
	var notes []byte
	sockets := 0
	timer := time.AfterFunc(5*time.Second, func() { l.Close() })
	defer timer.Stop()
	for sockets < 4 {
		r, err := l.Receive()
		require.NoError(t, err)
		notes = append(notes, r.buf[:r.end]...)
		for r.Next() {
			sockets++
		}
	}
	write("destroy", notes)
}
