package main

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestCommittedJSON fails when tcpconn.json is not what the generator
// writes now: the two are regenerated together (`make dashboard`), never
// edited apart.
func TestCommittedJSON(t *testing.T) {
	want, err := dashboardJSON()
	require.NoError(t, err)
	got, err := os.ReadFile("tcpconn.json")
	require.NoError(t, err)
	require.Equal(t, string(want), string(got), "examples/grafana/tcpconn.json is stale: run `make dashboard` and commit it")
}
