//go:build linux

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/influxdata/telegraf/plugins/common/shim"
	"github.com/influxdata/telegraf/plugins/parsers/influx"
	"github.com/stretchr/testify/require"
)

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tcpconn.conf")
	require.NoError(t, os.WriteFile(path, []byte(text), 0o600))
	return path
}

func TestLoadInputErrorsNameTheOption(t *testing.T) {
	tests := []struct {
		config, want string
	}{
		{"[[inputs.tcpconn]]\n  max_sockets = \"many\"\n", `line 2: config option "max_sockets": cannot unmarshal`},
		{"[[inputs.tcpconn]]\n  timeout = \"soon\"\n", `line 2: config option "timeout": time: invalid duration "soon"`},
		{"[[inputs.tcpconn]]\n  include_unowned = 1\n", `config option "include_unowned":`},
		{"[[inputs.tcpconn]]\n  state = [\"LISTEN\"]\n", `"state"`},
		{"[[inputs.cpu]]\n", `cpu`},
		{"[[inputs.tcpconn]]\n[[inputs.tcpconn]]\n", "more than one"},
		{"# nothing\n", "no [[inputs.tcpconn]]"},
	}
	for _, tt := range tests {
		_, err := loadInput(writeConfig(t, tt.config))
		require.ErrorContains(t, err, tt.want, "config %q", tt.config)
	}
}

// TestGatherOnce runs -once's path in process over this host and requires
// parseable line protocol with this package's test binary among the owners.
func TestGatherOnce(t *testing.T) {
	input, err := loadInput(writeConfig(t, "[[inputs.tcpconn]]\n  process_names = [\"tcpconn.test\"]\n"))
	require.NoError(t, err)
	s := shim.New()
	require.NoError(t, s.AddInput(input))

	ln := listen(t)
	var out bytes.Buffer
	require.NoError(t, gatherOnce(s, input, &out))

	parser := &influx.Parser{}
	require.NoError(t, parser.Init())
	metrics, err := parser.Parse(out.Bytes())
	require.NoError(t, err)
	// Other test binaries of this module share the name tcpconn.test.
	var ours []map[string]string
	for _, m := range metrics {
		if m.Tags()["pid"] == strconv.Itoa(os.Getpid()) {
			ours = append(ours, m.Tags())
		}
	}
	require.Len(t, ours, 1, "exactly our listener:\n%s", out.String())
	require.Equal(t, "LISTEN", ours[0]["state"])
	require.Equal(t, ln, ours[0]["local_port"])
	require.True(t, strings.HasPrefix(out.String(), "tcpconn,"))
}

func TestGatherOnceFailsWhenNothingReadable(t *testing.T) {
	root := t.TempDir() // a proc root without net/tcp
	input, err := loadInput(writeConfig(t, "[[inputs.tcpconn]]\n  proc_root = \""+root+"\"\n"))
	require.NoError(t, err)
	s := shim.New()
	require.NoError(t, s.AddInput(input))
	var out bytes.Buffer
	require.ErrorContains(t, gatherOnce(s, input, &out), "no TCP table could be read")
	require.Empty(t, out.String())
}
