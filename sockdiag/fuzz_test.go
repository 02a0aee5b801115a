package sockdiag

import (
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/require"
)

// FuzzReader decodes any stream without panicking, and checks what must
// hold of every decoding.
func FuzzReader(f *testing.F) {
	for _, data := range fixtureStreams(f) {
		f.Add(data)
	}
	for _, e := range edgeCases() {
		f.Add(e.stream)
	}
	small, _ := genDump(5, true)
	f.Add(small)
	f.Fuzz(func(t *testing.T, data []byte) {
		res := read(data, nil)

		// Counts are bounded by the input: a message is 16 bytes at least.
		require.Len(t, res.Errors, min(res.Malformed, maxErrors))
		require.LessOrEqual(t, len(res.Sockets)+res.Malformed, len(data)/nlmsgHdrLen+1)
		require.False(t, res.Done && res.Err != "", "done and failed")
		prev := -1
		for i := range res.Sockets {
			require.Greater(t, res.Messages[i], prev)
			prev = res.Messages[i]
			s := &res.Sockets[i]
			require.True(t, s.Local.IsValid() && s.Remote.IsValid())
			require.Equal(t, s.Family == AFInet, s.Local.Addr().Is4())
			require.Equal(t, s.Local.Addr().Is4(), s.Remote.Addr().Is4())
			require.Zero(t, s.Slot)
			require.Zero(t, s.Timeout)
			require.LessOrEqual(t, s.Info.Len(), MaxMessageSize)
			require.Len(t, s.Info.Bytes(), min(s.Info.Len(), TCPInfoCapacity))
		}

		// The same in pieces.
		require.Equal(t, res, read(data, iotest.HalfReader))
		if len(data) < 4096 {
			require.Equal(t, res, read(data, iotest.OneByteReader))
		}

		// A prefix of the stream gives a prefix of its sockets.
		for _, cut := range []int{len(data) / 2, len(data) * 3 / 4, len(data) - 1} {
			if cut < 0 {
				continue
			}
			p := read(data[:cut], nil)
			require.LessOrEqual(t, len(p.Sockets), len(res.Sockets))
			if len(p.Sockets) > 0 {
				require.Equal(t, res.Sockets[:len(p.Sockets)], p.Sockets)
				require.Equal(t, res.Messages[:len(p.Messages)], p.Messages)
			}
		}
	})
}
