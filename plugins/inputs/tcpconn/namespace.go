//go:build linux

package tcpconn

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"

	"github.com/tcpconn/telegraf-tcpconn/resolver"
)

// namespace is one network namespace whose tables a gather reads.
type namespace struct {
	netns uint64  // 0: the host namespace of namespaces = "host"
	pids  []int32 // processes in it, to read <pid>/net/tcp from; none: proc_root/net/tcp
}

// namespaces lists the tables to read. With namespaces = "host" it is
// proc_root/net/tcp*, the namespace proc_root's reader is in. With "all" it
// is every namespace a socket owner is in, each read once, through the
// first of its processes that can still be read, plus the reader's own.
func (t *TCPConn) namespaces(owners *resolver.Table) []namespace {
	if t.Namespaces != "all" {
		return []namespace{{}}
	}
	byNS := make(map[uint64][]int32)
	for _, p := range owners.Procs { // sorted by pid
		if p.NetNS != 0 {
			byNS[p.NetNS] = append(byNS[p.NetNS], p.PID)
		}
	}
	self := t.selfNetNS()
	if _, ok := byNS[self]; !ok && self != 0 {
		byNS[self] = nil
	}
	out := make([]namespace, 0, len(byNS))
	for ns, pids := range byNS {
		out = append(out, namespace{netns: ns, pids: pids})
	}
	slices.SortFunc(out, func(a, b namespace) int { return cmp.Compare(a.netns, b.netns) })
	return out
}

// enterNamespace calls open with <proc_root>/<pid>/ns/net of the first
// process of ns that is still there, for the sources that read another
// namespace from inside it. denied is open's error when the agent may not
// enter namespaces (CAP_SYS_ADMIN): the caller reads the /proc tables
// instead. A process that exited since the walk is normal: the next one
// serves.
func enterNamespace(procRoot string, ns namespace, open func(path string) error) (denied, err error) {
	for _, pid := range ns.pids {
		err := open(filepath.Join(procRoot, strconv.Itoa(int(pid)), "ns", "net"))
		switch {
		case err == nil:
			return nil, nil
		case errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ESRCH):
			continue
		case errors.Is(err, fs.ErrPermission):
			return err, nil
		default:
			return nil, fmt.Errorf("reading network namespace %d: %w", ns.netns, err)
		}
	}
	return nil, fmt.Errorf("reading network namespace %d: %w since the walk", ns.netns, errNamespaceGone)
}

// selfNetNS is the namespace of proc_root/net, the reader's own.
func (t *TCPConn) selfNetNS() uint64 {
	return netnsOf(filepath.Join(t.ProcRoot, "self", "ns", "net"))
}

func netnsOf(path string) uint64 {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return 0
	}
	return st.Ino
}

// hostNamespaceWarning says, when it applies, that namespaces = "host"
// reads the agent's own network namespace, which is not the host's: in a
// container with HOST_PROC, proc_root/net still points at the container's.
func (t *TCPConn) hostNamespaceWarning() string {
	if t.Namespaces != "host" {
		return ""
	}
	self, first := t.selfNetNS(), netnsOf(filepath.Join(t.ProcRoot, "1", "ns", "net"))
	if self == 0 || first == 0 || self == first {
		return ""
	}
	return fmt.Sprintf("namespaces = \"host\" reads this agent's network namespace (%d), not that of pid 1 under %s (%d): "+
		"in a container, the host's sockets and other containers' are not listed; use namespaces = \"all\"",
		self, t.ProcRoot, first)
}
