//go:build !linux

package bpfwalk

import (
	"context"
	"errors"

	"github.com/tcpconn/telegraf-tcpconn/resolver"
)

// errUnsupported is returned on platforms without BPF iterators.
var errUnsupported = errors.New("bpf walk: only Linux is supported")

// Walker walks the kernel's open files with a BPF iterator. It is only
// implemented on Linux.
type Walker struct{}

// New returns an error: the bpf walk is only implemented on Linux.
func New(Options) (*Walker, error) { return nil, errUnsupported }

// Usable returns an error: the bpf walk is only implemented on Linux.
func Usable(string) error { return errUnsupported }

// Walk returns an empty table and an error.
func (*Walker) Walk(context.Context) (*resolver.Table, error) {
	return &resolver.Table{}, errUnsupported
}

// Close does nothing.
func (*Walker) Close() error { return nil }
