package bpfwalk

// The BPF object and its Go binding, taskfile_bpfel.{go,o} and
// taskfile_bpfeb.{go,o}, are generated from task_file.bpf.c and committed, so
// that building needs only Go. `make generate` runs this with clang, llvm-strip
// and the libbpf headers (Debian: clang llvm libbpf-dev); the output is the
// same byte for byte in any directory, which .ci/check-generated checks.
//go:generate go run github.com/cilium/ebpf/cmd/bpf2go -tags linux -output-stem taskfile -go-package bpfwalk taskFile task_file.bpf.c -- -Wall -Werror
