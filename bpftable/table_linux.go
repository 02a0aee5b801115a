//go:build linux

package bpftable

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/tcpconn/telegraf-tcpconn/internal/bpfload"
	"github.com/tcpconn/telegraf-tcpconn/internal/netns"
)

// readBufSize is what one read(2) of the iterator asks for. The kernel fills
// its own buffer, 8 pages, and returns at most that, whole records only; a
// larger buffer costs nothing more.
const readBufSize = 64 << 10

// Table holds the loaded iterator program. Open may be called again and
// again, and concurrently: each walk has its own iterator.
type Table struct {
	mu   sync.Mutex
	objs tcpIterObjects
	iter *link.Iter // nil once closed
	idle []byte     // the buffer of a closed reader, which the next Open reuses
}

// New loads and verifies the iterator program: the fixed cost of a read,
// which each [Table.Open] then does without.
//
// The error says what is missing: the kernel's BTF or its tcp iterator
// (Linux 5.9+), both errors.ErrUnsupported; the kernel's build
// configuration; or the privilege to load the program, CAP_BPF and
// CAP_PERFMON (os.ErrPermission).
func New() (*Table, error) { return newTable(nil, true) }

// NewWithBTF is New with the kernel's BTF of cache, which several programs
// can share, so that it is parsed once (about half of a load's 25 ms).
func NewWithBTF(cache *btf.Cache) (*Table, error) { return newTable(cache, true) }

// newTable is New, with the cookie if cookie and the kernel allows it.
func newTable(cache *btf.Cache, cookie bool) (*Table, error) {
	cache, err := iterator.CheckKernel(cache)
	if err != nil {
		return nil, err
	}
	spec, err := loadTcpIter()
	if err != nil {
		return nil, err
	}
	t := &Table{}
	load := func(cookie bool) error {
		if err := spec.Variables[tcpIterVarWantCookie].Set(boolByte(cookie)); err != nil {
			return fmt.Errorf("setting want_cookie: %w", err)
		}
		return spec.LoadAndAssign(&t.objs, &ebpf.CollectionOptions{Cache: cache})
	}
	if err := load(cookie); err != nil {
		// An older kernel's verifier refuses bpf_get_socket_cookie in
		// an iterator program: do without the cookie.
		var ve *ebpf.VerifierError
		if !errors.As(err, &ve) || load(false) != nil {
			return nil, loadError(err)
		}
	}
	t.iter, err = link.AttachIter(link.IterOptions{Program: t.objs.Tcp})
	if err != nil {
		t.objs.Close()
		return nil, loadError(fmt.Errorf("attaching the tcp iterator: %w", err))
	}
	return t, nil
}

// iterator names the program in the messages of a kernel without it and of
// a failed load.
var iterator = bpfload.Iterator{Prefix: "bpf table", Name: "tcp", Since: "5.9"}

// loadError is iterator.LoadError, and says so when the program lacks the
// kernel's configuration, which it reads CONFIG_HZ from.
func loadError(err error) error {
	if bytes.Contains([]byte(err.Error()), []byte("kconfig")) {
		return fmt.Errorf("bpf table: the tcp iterator needs the kernel's CONFIG_HZ, from /proc/config.gz or /boot/config-<release>: %w", err)
	}
	return iterator.LoadError(err)
}

func boolByte(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

// Close releases the program. Readers already open read on to their end.
func (t *Table) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.iter == nil {
		return nil
	}
	err := errors.Join(t.iter.Close(), t.objs.Close())
	t.iter = nil
	return err
}

// Open starts a walk of the TCP table of the network namespace of the
// calling thread, and returns its reader. The caller must close it; the
// next Open then reuses its buffer.
func (t *Table) Open() (*Reader, error) {
	s, err := t.Stream()
	if err != nil {
		return nil, err
	}
	return t.reader(s), nil
}

// OpenNetNS is Open for the network namespace at path, such as
// "/proc/<pid>/ns/net" or "/run/netns/<name>": the walk is opened on a
// thread of its own that joins the namespace and goes back, and it may be
// read from any thread. Joining needs CAP_SYS_ADMIN; without it the error
// matches [os.ErrPermission] and says so. The calling goroutine's thread
// is never moved.
func (t *Table) OpenNetNS(path string) (*Reader, error) {
	s, err := t.StreamNetNS(path)
	if err != nil {
		return nil, err
	}
	return t.reader(s), nil
}

// Stream starts a walk as Open does, and returns the records as the
// iterator writes them, for a [Reader] made by [NewReader]: a caller can
// read them ahead on another goroutine, so that the kernel's walk and the
// decoding of its records overlap. The caller must close it.
func (t *Table) Stream() (io.ReadCloser, error) {
	t.mu.Lock()
	it := t.iter
	t.mu.Unlock()
	if it == nil {
		return nil, errors.New("bpf table: table is closed")
	}
	rd, err := it.Open()
	if err != nil {
		return nil, fmt.Errorf("bpf table: opening the tcp iterator: %w", err)
	}
	return &stream{rd}, nil
}

// StreamNetNS is Stream for the network namespace at path, as OpenNetNS.
func (t *Table) StreamNetNS(path string) (io.ReadCloser, error) {
	var s io.ReadCloser
	var openErr error
	err := netns.Do(path, func() error {
		s, openErr = t.Stream()
		return openErr
	})
	switch {
	case openErr != nil:
		return nil, openErr
	case err != nil:
		if s != nil {
			s.Close() // opened, but the thread could not go back
		}
		return nil, fmt.Errorf("bpf table: network namespace %q: %w", path, err)
	}
	return s, nil
}

// reader returns a reader of s that closes it, with the buffer of the
// last closed reader.
func (t *Table) reader(s io.ReadCloser) *Reader {
	t.mu.Lock()
	buf := t.idle
	t.idle = nil
	t.mu.Unlock()
	if buf == nil {
		buf = make([]byte, readBufSize)
	}
	return &Reader{t: t, src: s, closer: s, buf: buf}
}

// release keeps buf for the next Open.
func (t *Table) release(buf []byte) {
	t.mu.Lock()
	t.idle = buf
	t.mu.Unlock()
}

// stream is the iterator's output. A read may fail with EAGAIN, when the
// kernel passed over many sockets without output, or EINTR, when a signal
// came: both mean read on.
type stream struct{ rd io.ReadCloser }

func (s *stream) Read(p []byte) (int, error) {
	for {
		n, err := s.rd.Read(p)
		if n == 0 && (errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR)) {
			continue
		}
		return n, err
	}
}

func (s *stream) Close() error { return s.rd.Close() }

// errClosed is the error of a reader used after Close.
var errClosed = errors.New("bpf table: reader is closed")

// Reader reads one walk of the table: call Next until it returns false,
// then Err, then Close.
type Reader struct {
	t      *Table    // of Open, which takes the buffer back at Close; nil from NewReader
	src    io.Reader // the records; nil once closed
	closer io.Closer // the stream Open made, closed by Close
	buf    []byte
	off, n int // the records not yet decoded are buf[off:n]
	end    bool
	err    error
	socket Socket
	slots  [2]uint64 // rows so far of AF_INET, AF_INET6
	rows   int
}

// NewReader returns a reader of the records of src: a [Table.Stream], or
// a reader of one, such as a read-ahead. Its Close does not close src.
func NewReader(src io.Reader) *Reader {
	r := &Reader{buf: make([]byte, readBufSize)}
	r.Reset(src)
	return r
}

// Reset makes r read a new walk from src, keeping its buffer: one Reader
// serves walk after walk without allocating.
func (r *Reader) Reset(src io.Reader) {
	if r.buf == nil {
		r.buf = make([]byte, readBufSize)
	}
	buf := r.buf
	*r = Reader{src: src, buf: buf}
}

// Next decodes the next socket, which [Reader.Socket] then returns. It
// returns false at the end of the walk or on an error, which [Reader.Err]
// returns.
func (r *Reader) Next() bool {
	if r.src == nil && r.err == nil {
		r.err = errClosed
	}
	for r.err == nil && !r.end {
		if r.n-r.off >= recLen {
			rec := r.buf[r.off : r.off+recLen]
			r.off += recLen
			end, err := decode(rec, &r.socket)
			switch {
			case err != nil:
				r.err = fmt.Errorf("bpf table: record %d: %w", r.rows, err)
				return false
			case end:
				r.end = true
				if r.off != r.n {
					r.err = fmt.Errorf("bpf table: %d bytes after the end record", r.n-r.off)
				}
				return false
			}
			i := 0
			if r.socket.Family == AFInet6 {
				i = 1
			}
			r.socket.Slot = r.slots[i]
			r.slots[i]++
			r.rows++
			return true
		}
		r.fill()
	}
	return false
}

// fill reads more records after what is left in the buffer.
func (r *Reader) fill() {
	r.n = copy(r.buf, r.buf[r.off:r.n])
	r.off = 0
	m, err := r.src.Read(r.buf[r.n:])
	r.n += m
	switch {
	case m > 0 || err == nil:
	case errors.Is(err, io.EOF):
		r.err = fmt.Errorf("bpf table: the tcp iterator ended without its end record (%d bytes left)", r.n)
	default:
		r.err = fmt.Errorf("bpf table: reading the tcp iterator: %w", err)
	}
}

// Socket returns the socket Next decoded. It is valid until the next call
// to Next.
func (r *Reader) Socket() *Socket { return &r.socket }

// Err returns the error that ended the walk, nil if it ended whole, or
// an error saying so if the reader was closed before the end.
func (r *Reader) Err() error { return r.err }

// Close ends the walk and releases its iterator, if Open made it; a walk
// may end before Next returns false. Then Next returns false; Close again
// does nothing.
func (r *Reader) Close() error {
	if r.src == nil {
		return nil
	}
	var err error
	if r.closer != nil {
		err = r.closer.Close()
	}
	r.src, r.closer = nil, nil
	if r.t != nil {
		r.t.release(r.buf)
		r.buf = nil
	}
	r.off, r.n = 0, 0
	if r.err == nil && !r.end {
		r.err = errClosed
	}
	return err
}
