//go:build linux

package bpftable

import (
	"bytes"
	"io"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/tcpconn/telegraf-tcpconn/parser"
)

// chunks reads its chunks one per Read, each cut to the caller's buffer,
// then returns err.
type chunks struct {
	parts [][]byte
	err   error
}

func (c *chunks) Read(p []byte) (int, error) {
	if len(c.parts) == 0 {
		return 0, c.err
	}
	n := copy(p, c.parts[0])
	if c.parts[0] = c.parts[0][n:]; len(c.parts[0]) == 0 {
		c.parts = c.parts[1:]
	}
	return n, nil
}

// readAll reads every socket of the stream parts, read by read.
func readAll(parts [][]byte, err error) ([]Socket, error) {
	r := NewReader(&chunks{parts: parts, err: err})
	var got []Socket
	for r.Next() {
		got = append(got, *r.Socket())
	}
	return got, r.Err()
}

// TestReaderStream: records cut across reads, EAGAIN between them, the
// per-family slots, Reset, and the errors of a stream that is not whole.
func TestReaderStream(t *testing.T) {
	v4 := Socket{Family: AFInet, Socket: parser.Socket{
		Local: netip.MustParseAddrPort("127.0.0.1:1"), Remote: netip.MustParseAddrPort("0.0.0.0:0"), State: parser.Listen,
	}}
	v6 := Socket{Family: AFInet6, Socket: parser.Socket{
		Local: netip.MustParseAddrPort("[::1]:2"), Remote: netip.MustParseAddrPort("[::]:0"), State: parser.Listen,
	}}
	var records []byte
	for _, s := range []Socket{v4, v6, v4, v4, v6} {
		records = append(records, record(recFull, s)...)
	}
	whole := append(bytes.Clone(records), record(recEnd, Socket{})...)

	got, err := readAll([][]byte{whole[:100], whole[100:101], whole[101:]}, io.EOF)
	require.NoError(t, err)
	require.Len(t, got, 5)
	var slots []uint64
	for i, s := range got {
		slots = append(slots, s.Slot)
		s.Slot = 0
		require.Equal(t, []Socket{v4, v6, v4, v4, v6}[i], s)
	}
	require.Equal(t, []uint64{0, 0, 1, 2, 1}, slots)

	// EAGAIN and EINTR from the iterator: read on.
	r := NewReader(&stream{&flaky{data: whole}})
	n := 0
	for r.Next() {
		n++
	}
	require.NoError(t, r.Err())
	require.Equal(t, 5, n)

	// Reset: a new walk, from the start, in the same buffer.
	buf := &r.buf[0]
	r.Reset(&chunks{parts: [][]byte{whole}, err: io.EOF})
	n = 0
	for r.Next() {
		n++
	}
	require.NoError(t, r.Err())
	require.Equal(t, 5, n)
	require.Equal(t, uint64(1), r.Socket().Slot, "slots count from the start again")
	require.Same(t, buf, &r.buf[0])
	require.NoError(t, r.Close())
	require.False(t, r.Next())
	require.EqualError(t, r.Err(), "bpf table: reader is closed")

	_, err = readAll([][]byte{records}, io.EOF)
	require.EqualError(t, err, "bpf table: the tcp iterator ended without its end record (0 bytes left)")
	_, err = readAll([][]byte{whole[:len(whole)-1]}, io.EOF)
	require.EqualError(t, err, "bpf table: the tcp iterator ended without its end record (87 bytes left)")
	_, err = readAll([][]byte{append(bytes.Clone(whole), 1, 2, 3)}, io.EOF)
	require.EqualError(t, err, "bpf table: 3 bytes after the end record")
	_, err = readAll([][]byte{records[:recLen]}, unix.EIO)
	require.ErrorIs(t, err, unix.EIO)
	require.ErrorContains(t, err, "bpf table: reading the tcp iterator: ")
}

// flaky returns EAGAIN, then EINTR, before each read of data.
type flaky struct {
	data []byte
	i    int
}

func (f *flaky) Read(p []byte) (int, error) {
	f.i++
	switch f.i % 3 {
	case 1:
		return 0, unix.EAGAIN
	case 2:
		return 0, unix.EINTR
	}
	if len(f.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p, f.data[:min(len(f.data), 90)])
	f.data = f.data[n:]
	return n, nil
}

func (f *flaky) Close() error { return nil }
