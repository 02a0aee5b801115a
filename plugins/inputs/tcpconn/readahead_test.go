//go:build linux

package tcpconn

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/require"
)

func TestReadAhead(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), 10000)
	ra := newReadAhead(2, 1000)
	for _, r := range []io.Reader{
		bytes.NewReader(data),
		iotest.OneByteReader(bytes.NewReader(data)),
		iotest.HalfReader(bytes.NewReader(data)),
		iotest.DataErrReader(bytes.NewReader(data)),
	} {
		ra.start(r)
		got, err := io.ReadAll(ra)
		require.NoError(t, err)
		require.Equal(t, data, got)
		ra.end()
		require.Len(t, ra.free, 2, "every buffer back")
	}

	// An error reaches the caller after the data before it.
	boom := errors.New("boom")
	ra.start(io.MultiReader(bytes.NewReader(data[:1500]), iotest.ErrReader(boom)))
	got, err := io.ReadAll(ra)
	require.ErrorIs(t, err, boom)
	require.Equal(t, data[:1500], got)
	ra.end()

	// Stopping early, with the goroutine blocked on a full queue, takes
	// every buffer back too.
	ra.start(bytes.NewReader(data))
	buf := make([]byte, 10)
	_, err = ra.Read(buf)
	require.NoError(t, err)
	ra.end()
	require.Len(t, ra.free, 2)
}
