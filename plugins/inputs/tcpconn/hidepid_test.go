//go:build linux

package tcpconn

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestFindProcMount(t *testing.T) {
	const mountinfo = `22 1 0:21 / / rw,relatime shared:1 - ext4 /dev/vda rw
23 22 0:5 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
24 22 0:40 / /host/proc ro,relatime - proc proc rw,hidepid=invisible,gid=1001
25 22 0:41 / /tmp/p rw,relatime - proc proc rw,hidepid=2
26 22 0:42 / /tmp/p rw,relatime - proc proc rw,hidepid=1,gid=5
27 22 0:43 / /tmp/tmpfs rw - tmpfs tmpfs rw,gid=5
bad line
`
	tests := []struct {
		dir  string
		want procMount
		ok   bool
	}{
		{"/proc", procMount{gid: -1}, true},
		{"/host/proc", procMount{hidepid: "invisible", gid: 1001}, true},
		{"/tmp/p", procMount{hidepid: "1", gid: 5}, true}, // the last mount over a point wins
		{"/tmp/tmpfs", procMount{}, false},
		{"/nowhere", procMount{}, false},
	}
	for _, tt := range tests {
		got, ok := findProcMount([]byte(mountinfo), tt.dir)
		require.Equal(t, tt.ok, ok, tt.dir)
		require.Equal(t, tt.want, got, tt.dir)
	}
}
