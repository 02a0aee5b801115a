//go:build !linux

package bpftable

import (
	"errors"
	"io"

	"github.com/cilium/ebpf/btf"
)

// errUnsupported is returned on platforms without BPF iterators.
var errUnsupported = errors.New("bpf table: only Linux is supported")

// Table reads the kernel's TCP table with a BPF iterator. It is only
// implemented on Linux.
type Table struct{}

// New returns an error: the bpf table is only implemented on Linux.
func New() (*Table, error) { return nil, errUnsupported }

// NewWithBTF returns an error.
func NewWithBTF(*btf.Cache) (*Table, error) { return nil, errUnsupported }

// Open returns an error.
func (*Table) Open() (*Reader, error) { return nil, errUnsupported }

// Stream returns an error.
func (*Table) Stream() (io.ReadCloser, error) { return nil, errUnsupported }

// StreamNetNS returns an error.
func (*Table) StreamNetNS(string) (io.ReadCloser, error) { return nil, errUnsupported }

// OpenNetNS returns an error.
func (*Table) OpenNetNS(string) (*Reader, error) { return nil, errUnsupported }

// Close does nothing.
func (*Table) Close() error { return nil }

// Reader reads one walk of the table. It is only implemented on Linux.
type Reader struct{}

// NewReader returns a reader that reads nothing.
func NewReader(io.Reader) *Reader { return &Reader{} }

// Reset does nothing.
func (*Reader) Reset(io.Reader) {}

// Next returns false.
func (*Reader) Next() bool { return false }

// Socket returns nil.
func (*Reader) Socket() *Socket { return nil }

// Err returns an error.
func (*Reader) Err() error { return errUnsupported }

// Close does nothing.
func (*Reader) Close() error { return nil }
