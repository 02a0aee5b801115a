//go:build linux

package tcpconn

import (
	"io"
	"sync"
)

// readAhead reads a file in its own goroutine, a buffer or two ahead of the
// caller. Producing /proc/net/tcp costs the kernel about as much as parsing
// and joining it costs the plugin (0.7 s each at 200k sockets), so reading
// ahead lets the two overlap on two cores. Memory stays bounded: the
// buffers are fixed, and reused from table to table.
type readAhead struct {
	free chan []byte // empty buffers, for the reader goroutine
	full chan chunk  // filled buffers, in file order
	stop chan struct{}
	wg   sync.WaitGroup

	cur []byte // the buffer being consumed
	off int
	err error // the reader goroutine's error, once reached
}

type chunk struct {
	b   []byte
	err error
}

func newReadAhead(buffers, size int) *readAhead {
	ra := &readAhead{free: make(chan []byte, buffers), full: make(chan chunk, buffers)}
	for range buffers {
		ra.free <- make([]byte, size)
	}
	return ra
}

// start reads r from now on. The previous reading must have been ended by
// end.
func (ra *readAhead) start(r io.Reader) {
	ra.cur, ra.off, ra.err = nil, 0, nil
	ra.stop = make(chan struct{})
	ra.wg.Add(1)
	go func() {
		defer ra.wg.Done()
		for {
			var b []byte
			select {
			case b = <-ra.free:
			case <-ra.stop:
				return
			}
			n, err := r.Read(b[:cap(b)])
			if n == 0 && err == nil {
				ra.free <- b
				continue
			}
			select {
			case ra.full <- chunk{b[:n], err}:
			case <-ra.stop:
				ra.free <- b
				return
			}
			if err != nil {
				return
			}
		}
	}()
}

// Read hands out what the goroutine read, in order.
func (ra *readAhead) Read(p []byte) (int, error) {
	for ra.off == len(ra.cur) {
		if ra.err != nil {
			return 0, ra.err
		}
		if ra.cur != nil {
			ra.free <- ra.cur
			ra.cur = nil
		}
		c := <-ra.full
		ra.cur, ra.off, ra.err = c.b, 0, c.err
	}
	n := copy(p, ra.cur[ra.off:])
	ra.off += n
	return n, nil
}

// end stops the goroutine and takes every buffer back, whether or not the
// file was read to its end, so that the file can be closed.
func (ra *readAhead) end() {
	close(ra.stop)
	ra.wg.Wait()
	if ra.cur != nil {
		ra.free <- ra.cur
		ra.cur = nil
	}
	for len(ra.full) > 0 {
		ra.free <- (<-ra.full).b
	}
}
