//go:build linux

package tcpconn

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/cilium/ebpf/btf"

	"github.com/tcpconn/telegraf-tcpconn/bpfwalk"
	"github.com/tcpconn/telegraf-tcpconn/resolver"
)

// walker finds the owners of every socket: the /proc walk
// (resolver.Resolver) or the BPF iterator (bpfwalk.Walker). The join takes
// their tables alike.
type walker interface {
	Walk(ctx context.Context) (*resolver.Table, error)
}

// initWalker sets up the owner walk of owner_walk. "bpf" fails Init when
// the BPF walk cannot load. "auto" takes it only where it sees the same
// processes as the /proc walk would: the kernel's own proc in the initial
// pid namespace, not hidden by hidepid (bpfwalk checks these), and an agent
// that the /proc walk would not deny any process, as BPF would not. The
// debug line of each gather names the walk that ran.
func (t *TCPConn) initWalker(opts resolver.Options, kernelBTF *btf.Cache) error {
	procWalk := func() error {
		r, err := resolver.New(opts)
		if err != nil {
			return fmt.Errorf("resolver: %w", err)
		}
		t.walker, t.walkName = r, "procfs"
		return nil
	}
	bpfWalk := func() error {
		w, err := bpfwalk.New(bpfwalk.Options{ProcRoot: opts.ProcRoot, Cgroup: opts.Cgroup, Match: opts.Match, BTF: kernelBTF})
		if err != nil {
			return err
		}
		t.walker, t.walkName = w, "bpf"
		return nil
	}
	switch t.OwnerWalk {
	case "procfs":
		return procWalk()
	case "bpf":
		if err := bpfWalk(); err != nil {
			return fmt.Errorf("config option \"owner_walk\": %w; owner_walk = \"procfs\" needs none of it", err)
		}
		return nil
	case "auto":
		if missing := missingReadCaps(); missing != "" {
			t.Log.Debugf("owner_walk = \"auto\": the /proc walk, as this agent lacks %s, so that the BPF walk would see processes the /proc walk may not", missing)
			return procWalk()
		}
		if err := bpfWalk(); err != nil {
			t.Log.Debugf("owner_walk = \"auto\": the /proc walk, as the BPF walk cannot run: %v", err)
			return procWalk()
		}
		return nil
	}
	return fmt.Errorf("config option \"owner_walk\": unknown value %q; use \"auto\", \"procfs\" or \"bpf\"", t.OwnerWalk)
}

// missingReadCaps names the capabilities the /proc walk needs to read
// every process that this agent lacks, or returns "".
func missingReadCaps() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "the capabilities it cannot read"
	}
	var eff uint64
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			eff, err = strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil {
				return "the capabilities it cannot read"
			}
		}
	}
	const capDACReadSearch, capSysPtrace = 2, 19
	var missing []string
	if eff&(1<<capDACReadSearch) == 0 {
		missing = append(missing, "CAP_DAC_READ_SEARCH")
	}
	if eff&(1<<capSysPtrace) == 0 {
		missing = append(missing, "CAP_SYS_PTRACE")
	}
	return strings.Join(missing, " and ")
}
