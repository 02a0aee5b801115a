package sockdiag

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tcpconn/telegraf-tcpconn/parser"
)

var update = flag.Bool("update", false, "capture new dumps and notifications into testdata (needs root and ip) and rewrite the golden files")

// fixtureDir holds the captures: raw reply streams and notifications,
// written by captureFixtures (go test -run TestFixtures -update), each
// with its golden decoding.
const fixtureDir = "testdata"

// fixtureStreams returns the captures in testdata, by name.
func fixtureStreams(t testing.TB) map[string][]byte {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(fixtureDir, "*.nl"))
	require.NoError(t, err)
	out := map[string][]byte{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		out[strings.TrimSuffix(filepath.Base(p), ".nl")] = b
	}
	return out
}

// fixtureChecks are what each capture must show beyond its golden file:
// facts about the kernel's output, checked on every run.
var fixtureChecks = map[string]func(t *testing.T, res result){
	"dump4": func(t *testing.T, res result) {
		requireWholeDump(t, res, AFInet, false)
	},
	"dump4_info": func(t *testing.T, res result) {
		requireWholeDump(t, res, AFInet, true)
	},
	"dump6": func(t *testing.T, res result) {
		requireWholeDump(t, res, AFInet6, false)
		mapped := 0
		for _, s := range res.Sockets {
			if s.Local.Addr().Is4In6() {
				mapped++
			}
		}
		require.Positive(t, mapped, "a dual-stack socket with IPv4-mapped addresses")
	},
	"dump6_info": func(t *testing.T, res result) {
		requireWholeDump(t, res, AFInet6, true)
	},
	"listen4": func(t *testing.T, res result) {
		requireWholeDump(t, res, AFInet, false)
		for _, s := range res.Sockets {
			require.Equal(t, parser.Listen, s.State)
		}
	},
	"destroy": func(t *testing.T, res result) {
		require.Empty(t, res.Err)
		require.False(t, res.Done, "notifications have no NLMSG_DONE")
		require.GreaterOrEqual(t, len(res.Sockets), 4)
		families := map[uint8]int{}
		for _, s := range res.Sockets {
			families[s.Family]++
			// A destroyed socket is CLOSE, owns no inode and reports
			// uid 0, and comes with its final tcp_info.
			require.Equal(t, parser.Close, s.State)
			require.Zero(t, s.Inode)
			require.Zero(t, s.UID)
			require.Zero(t, s.Timer)
			require.Zero(t, s.CgroupID, "no INET_DIAG_CGROUP_ID in notifications")
			require.NotZero(t, s.Cookie)
			require.Equal(t, 280, s.Info.Len())
			st, ok := s.Info.State()
			require.True(t, ok)
			require.Equal(t, parser.Close, st)
		}
		require.Positive(t, families[AFInet])
		require.Positive(t, families[AFInet6])
	},
	"error_family": func(t *testing.T, res result) {
		require.Empty(t, res.Sockets)
		require.Contains(t, res.Err, syscall.EINVAL.Error())
		require.False(t, res.Done)
	},
	"error_protocol": func(t *testing.T, res result) {
		require.Empty(t, res.Sockets)
		require.Contains(t, res.Err, syscall.ENOENT.Error())
		require.False(t, res.Done)
	},
}

// requireWholeDump checks a capture of a whole dump of family.
func requireWholeDump(t *testing.T, res result, family uint8, info bool) {
	t.Helper()
	require.Empty(t, res.Err)
	require.Zero(t, res.Malformed)
	require.True(t, res.Done)
	require.False(t, res.Interrupted)
	require.NotEmpty(t, res.Sockets)
	for i := range res.Sockets {
		s := &res.Sockets[i]
		require.Equal(t, family, s.Family)
		require.Equal(t, family == AFInet, s.Local.Addr().Is4())
		require.NotZero(t, s.Cookie)
		full := s.State != parser.TimeWait && s.State != parser.SynRecv && s.State != parser.FinWait2
		if s.Inode == 0 {
			require.NotEqual(t, parser.Listen, s.State, "a listener has a file")
		}
		require.Equal(t, full, s.CgroupID != 0, "%s: INET_DIAG_CGROUP_ID on full sockets only", s.State)
		if info && full {
			require.Equal(t, 280, s.Info.Len(), "Linux 6.18's struct tcp_info")
			st, ok := s.Info.State()
			require.True(t, ok)
			require.Equal(t, s.State, st)
		} else {
			require.Zero(t, s.Info.Len())
		}
	}
}

func TestFixtures(t *testing.T) {
	requireLittleEndian(t)
	if *update {
		captureFixtures(t)
	}
	streams := fixtureStreams(t)
	require.Len(t, streams, len(fixtureChecks))
	for name, data := range streams {
		t.Run(name, func(t *testing.T) {
			got := read(data, nil)
			path := filepath.Join(fixtureDir, name+".golden")
			if *update {
				require.NoError(t, os.WriteFile(path, []byte(got.golden()), 0o644))
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err)
			require.Equal(t, string(want), got.golden())
			check, ok := fixtureChecks[name]
			require.True(t, ok, "no checks for %s", name)
			check(t, got)
		})
	}
}

func TestFixturesChunked(t *testing.T) {
	requireSameInChunks(t, fixtureStreams(t))
}
