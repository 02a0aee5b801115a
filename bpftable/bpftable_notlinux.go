//go:build !linux

package bpftable

import "errors"

// errUnsupported is returned on platforms without BPF iterators.
var errUnsupported = errors.New("bpf table: only Linux is supported")

// Table reads the kernel's TCP table with a BPF iterator. It is only
// implemented on Linux.
type Table struct{}

// New returns an error: the bpf table is only implemented on Linux.
func New() (*Table, error) { return nil, errUnsupported }

// Open returns an error.
func (*Table) Open() (*Reader, error) { return nil, errUnsupported }

// OpenNetNS returns an error.
func (*Table) OpenNetNS(string) (*Reader, error) { return nil, errUnsupported }

// Close does nothing.
func (*Table) Close() error { return nil }

// Reader reads one walk of the table. It is only implemented on Linux.
type Reader struct{}

// Next returns false.
func (*Reader) Next() bool { return false }

// Socket returns nil.
func (*Reader) Socket() *Socket { return nil }

// Err returns an error.
func (*Reader) Err() error { return errUnsupported }

// Close does nothing.
func (*Reader) Close() error { return nil }
