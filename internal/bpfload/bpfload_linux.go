// Package bpfload holds what the packages of BPF iterators (bpfwalk,
// bpftable) check before they load their program, and what they say when
// it does not load: the same kernel, the same reasons.
package bpfload

import (
	"bytes"
	"errors"
	"fmt"
	"os"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"golang.org/x/sys/unix"
)

// An Iterator names a BPF iterator for the messages: the package's prefix
// ("bpf walk"), the iterator ("task_file") and the Linux version that
// brought it ("5.8").
type Iterator struct {
	Prefix, Name, Since string
}

// CheckKernel checks for the kernel's BTF and the iterator in it (its
// function bpf_iter_<Name>), so that their absence has a message of its
// own; both wrap errors.ErrUnsupported. It returns cache, or a new one if
// cache is nil: the kernel's BTF parsed for the check, which the load then
// takes, and which several loads can share.
func (it Iterator) CheckKernel(cache *btf.Cache) (*btf.Cache, error) {
	if cache == nil {
		cache = btf.NewCache()
	}
	const path = "/sys/kernel/btf/vmlinux"
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("%s: no kernel BTF (%w): the kernel needs CONFIG_DEBUG_INFO_BTF: %w", it.Prefix, err, errors.ErrUnsupported)
	}
	spec, err := cache.Kernel()
	if err != nil {
		return nil, fmt.Errorf("%s: reading the kernel BTF %s: %w", it.Prefix, path, err)
	}
	var fn *btf.Func
	if err := spec.TypeByName("bpf_iter_"+it.Name, &fn); err != nil {
		return nil, fmt.Errorf("%s: the kernel has no %s BPF iterator (Linux %s+): %w", it.Prefix, it.Name, it.Since, errors.ErrUnsupported)
	}
	return cache, nil
}

// LoadError adds to a failed load what it most likely lacks.
func (it Iterator) LoadError(err error) error {
	var ve *ebpf.VerifierError
	switch {
	case errors.As(err, &ve):
		// Before the privilege case: the verifier's refusal is EACCES too.
		return fmt.Errorf("%s: the kernel's verifier rejects the %s iterator: %w", it.Prefix, it.Name, err)
	case errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES):
		if b, rerr := os.ReadFile("/sys/kernel/security/lockdown"); rerr == nil && bytes.Contains(b, []byte("[confidentiality]")) {
			return fmt.Errorf("%s: the kernel is locked down (confidentiality): no BPF program may read kernel memory: %w", it.Prefix, err)
		}
		return fmt.Errorf("%s: loading the %s iterator needs CAP_BPF and CAP_PERFMON (or root): %w", it.Prefix, it.Name, err)
	case errors.Is(err, ebpf.ErrNotSupported):
		return fmt.Errorf("%s: the kernel cannot run the %s iterator: %w", it.Prefix, it.Name, err)
	}
	return fmt.Errorf("%s: loading the %s iterator: %w", it.Prefix, it.Name, err)
}
