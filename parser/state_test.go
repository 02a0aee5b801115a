package parser

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestStateString(t *testing.T) {
	tests := []struct {
		state State
		want  string
	}{
		{Established, "ESTABLISHED"},
		{SynSent, "SYN_SENT"},
		{SynRecv, "SYN_RECV"},
		{FinWait1, "FIN_WAIT1"},
		{FinWait2, "FIN_WAIT2"},
		{TimeWait, "TIME_WAIT"},
		{Close, "CLOSE"},
		{CloseWait, "CLOSE_WAIT"},
		{LastAck, "LAST_ACK"},
		{Listen, "LISTEN"},
		{Closing, "CLOSING"},
		{NewSynRecv, "NEW_SYN_RECV"},
		{BoundInactive, "BOUND_INACTIVE"},
		{0x00, "UNKNOWN_00"},
		{0x0E, "UNKNOWN_0E"},
		{0x1F, "UNKNOWN_1F"},
		{0xFF, "UNKNOWN_FF"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			require.Equal(t, tt.want, tt.state.String())
			require.Equal(t, !strings.HasPrefix(tt.want, "UNKNOWN_"), tt.state.Known())
		})
	}
}

func TestStateStringAllocs(t *testing.T) {
	var sink string
	states := knownStates()
	allocs := testing.AllocsPerRun(100, func() {
		for _, s := range states {
			sink = s.String()
		}
	})
	_ = sink
	require.Zero(t, allocs)
}

func TestStatesKnown(t *testing.T) {
	require.Len(t, knownStates(), 13)
	for _, s := range knownStates() {
		require.True(t, s.Known())
	}
	require.False(t, State(0).Known())
	require.False(t, (BoundInactive + 1).Known())
}

func TestParseState(t *testing.T) {
	for _, s := range knownStates() {
		for _, name := range []string{s.String(), strings.ToLower(s.String())} {
			got, err := ParseState(name)
			require.NoError(t, err)
			require.Equal(t, s, got)
		}
	}
	got, err := ParseState("Time_Wait")
	require.NoError(t, err)
	require.Equal(t, TimeWait, got)

	for _, name := range []string{"", "LISTENING", " LISTEN", "UNKNOWN_1F", "SYN-SENT"} {
		_, err := ParseState(name)
		require.ErrorIs(t, err, ErrUnknownState)
		require.ErrorContains(t, err, strings.TrimPrefix(`"`+name+`"`, ""))
		require.ErrorContains(t, err, "ESTABLISHED, SYN_SENT, SYN_RECV, FIN_WAIT1, FIN_WAIT2, TIME_WAIT, CLOSE, CLOSE_WAIT, LAST_ACK, LISTEN, CLOSING, NEW_SYN_RECV, BOUND_INACTIVE")
	}
	_, err = ParseState("bogus")
	require.EqualError(t, err, `unknown TCP state "bogus": valid names are ESTABLISHED, SYN_SENT, SYN_RECV, FIN_WAIT1, FIN_WAIT2, TIME_WAIT, CLOSE, CLOSE_WAIT, LAST_ACK, LISTEN, CLOSING, NEW_SYN_RECV, BOUND_INACTIVE`)
}
