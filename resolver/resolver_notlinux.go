//go:build !linux

package resolver

import (
	"context"
	"errors"
)

// errUnsupported is returned on platforms without a proc file system.
var errUnsupported = errors.New("resolver: only Linux is supported")

// Resolver walks a proc file system. It is only implemented on Linux.
type Resolver struct{}

// New returns an error: the resolver is only implemented on Linux.
func New(Options) (*Resolver, error) { return nil, errUnsupported }

// Walk returns an empty table and an error.
func (*Resolver) Walk(context.Context) (*Table, error) { return &Table{}, errUnsupported }

// Options returns the options of r.
func (*Resolver) Options() Options { return Options{} }
