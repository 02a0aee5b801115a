package parser

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"testing"
	"time"

	"github.com/prometheus/procfs"
	"github.com/stretchr/testify/require"
)

func BenchmarkReader(b *testing.B) {
	for _, v6 := range []bool{false, true} {
		name := "tcp"
		if v6 {
			name = "tcp6"
		}
		b.Run(name, func(b *testing.B) {
			data, want := genTable(10000, v6, binary.NativeEndian)
			br := bytes.NewReader(data)
			r := NewReader(br)

			// Correct first.
			n := 0
			for r.Next() {
				require.Equal(b, want[n], *r.Socket())
				n++
			}
			require.NoError(b, r.Err())
			require.Zero(b, r.Malformed())
			require.Len(b, want, n)

			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			rows := 0
			for b.Loop() {
				br.Reset(data)
				r.Reset(br)
				for r.Next() {
					rows++
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(rows), "ns/row")
			b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// heapPeak samples the bytes of heap objects, live or not yet swept, every
// millisecond, from a goroutine.
type heapPeak struct {
	base uint64
	peak uint64
	stop chan struct{}
	done chan struct{}
}

const heapObjects = "/memory/classes/heap/objects:bytes"

func heapNow() uint64 {
	s := []metrics.Sample{{Name: heapObjects}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// startHeapPeak collects garbage, takes the baseline and starts sampling.
func startHeapPeak() *heapPeak {
	runtime.GC()
	h := &heapPeak{base: heapNow(), stop: make(chan struct{}), done: make(chan struct{})}
	h.peak = h.base
	go func() {
		defer close(h.done)
		s := []metrics.Sample{{Name: heapObjects}}
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			h.peak = max(h.peak, s[0].Value.Uint64())
			select {
			case <-h.stop:
				return
			case <-t.C:
			}
		}
	}()
	return h
}

// MiB stops sampling and returns the peak above the baseline, in MiB.
func (h *heapPeak) MiB() float64 {
	close(h.stop)
	<-h.done
	return float64(h.peak-min(h.base, h.peak)) / (1 << 20)
}

// BenchmarkReader1M parses a generated 1,000,000-row tcp table from a file
// with procfs NetTCP and with this Reader, in the same run, and reports the
// throughput of each, the ratio, and the peak heap: the largest sampled size
// of heap objects (live or garbage not yet swept) above the heap after a GC
// before the run.
func BenchmarkReader1M(b *testing.B) {
	if testing.Short() {
		b.Skip("generates a 150 MB table")
	}
	const rows = 1_000_000
	root := b.TempDir()
	require.NoError(b, os.Mkdir(filepath.Join(root, "net"), 0o755))
	path := filepath.Join(root, "net", "tcp")
	f, err := os.Create(path)
	require.NoError(b, err)
	w := bufio.NewWriterSize(f, 1<<20)
	_, _ = w.WriteString(headerTCP)
	var row []byte
	for i := range rows {
		s := genSocket(i, false)
		row = appendRow(row[:0], &s, binary.NativeEndian)
		_, _ = w.Write(row)
	}
	require.NoError(b, w.Flush())
	require.NoError(b, f.Close())
	st, err := os.Stat(path)
	require.NoError(b, err)
	size := st.Size()

	// Correct first: every row as generated.
	pf, err := os.Open(path)
	require.NoError(b, err)
	r := NewReader(pf)
	n := 0
	for r.Next() {
		require.Equal(b, genSocket(n, false), *r.Socket())
		n++
	}
	require.NoError(b, r.Err())
	require.Zero(b, r.Malformed())
	require.NoError(b, pf.Close())
	require.Equal(b, rows, n)

	var procfsNs, tcpconnNs float64
	b.Run("procfs", func(b *testing.B) {
		fs, err := procfs.NewFS(root)
		require.NoError(b, err)
		b.SetBytes(size)
		b.ReportAllocs()
		peak := startHeapPeak()
		for b.Loop() {
			tcp, err := fs.NetTCP()
			require.NoError(b, err)
			require.Len(b, tcp, rows)
		}
		b.ReportMetric(peak.MiB(), "peak-heap-MiB")
		procfsNs = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
		b.ReportMetric(procfsNs/rows, "ns/row")
		b.ReportMetric(rows/(procfsNs/1e9), "rows/s")
	})
	b.Run("tcpconn", func(b *testing.B) {
		b.SetBytes(size)
		b.ReportAllocs()
		peak := startHeapPeak()
		r := NewReader(nil)
		for b.Loop() {
			f, err := os.Open(path)
			require.NoError(b, err)
			r.Reset(f)
			n := 0
			for r.Next() {
				n++
			}
			require.NoError(b, r.Err())
			require.NoError(b, f.Close())
			require.Equal(b, rows, n)
		}
		b.ReportMetric(peak.MiB(), "peak-heap-MiB")
		tcpconnNs = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
		b.ReportMetric(tcpconnNs/rows, "ns/row")
		b.ReportMetric(rows/(tcpconnNs/1e9), "rows/s")
		if procfsNs > 0 {
			b.ReportMetric(procfsNs/tcpconnNs, "x-procfs")
		}
	})
	if procfsNs > 0 && tcpconnNs > 0 {
		b.Logf("1M rows, %.1f MB: tcpconn %.1f ms, procfs %.1f ms: tcpconn is %.1fx procfs's throughput",
			float64(size)/1e6, tcpconnNs/1e6, procfsNs/1e6, procfsNs/tcpconnNs)
	}
}
