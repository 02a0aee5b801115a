package bpfload

import (
	"errors"
	"fmt"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func TestCheckKernel(t *testing.T) {
	cache := btf.NewCache()
	got, err := Iterator{"bpf walk", "task_file", "5.8"}.CheckKernel(cache)
	require.NoError(t, err, "this machine's kernel has BTF and the task_file iterator")
	require.Same(t, cache, got)
	fresh, err := Iterator{"bpf walk", "task_file", "5.8"}.CheckKernel(nil)
	require.NoError(t, err)
	require.NotNil(t, fresh, "a new cache for nil")
	_, err = Iterator{"bpf x", "no_such_target", "9.9"}.CheckKernel(cache)
	require.EqualError(t, err, "bpf x: the kernel has no no_such_target BPF iterator (Linux 9.9+): unsupported operation")
	require.ErrorIs(t, err, errors.ErrUnsupported)
}

func TestLoadError(t *testing.T) {
	it := Iterator{"bpf table", "tcp", "5.9"}
	for _, tt := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("load program: %w", unix.EPERM), "bpf table: loading the tcp iterator needs CAP_BPF and CAP_PERFMON (or root): load program: operation not permitted"},
		{ebpf.ErrNotSupported, "bpf table: the kernel cannot run the tcp iterator: "},
		// As the kernel refuses a program as root: EACCES, with the log.
		{&ebpf.VerifierError{Cause: unix.EACCES, Log: []string{"dereference of modified ctx ptr R2 off=16 disallowed"}},
			"bpf table: the kernel's verifier rejects the tcp iterator: "},
		{errors.New("boom"), "bpf table: loading the tcp iterator: boom"},
	} {
		err := it.LoadError(tt.err)
		require.ErrorContains(t, err, tt.want)
		require.ErrorIs(t, err, tt.err)
	}
}
