package bpftable

// The BPF object and its Go binding, tcp_bpfel.{go,o} and tcp_bpfeb.{go,o},
// are generated from tcp.bpf.c and committed, so that building needs only
// Go. `make generate` runs this with clang, llvm-strip and the libbpf headers
// (Debian: clang llvm libbpf-dev); .ci/check-generated checks that the
// committed files are what it makes.
//go:generate go run github.com/cilium/ebpf/cmd/bpf2go -tags linux -output-stem tcp -go-package bpftable tcpIter tcp.bpf.c -- -Wall -Werror
