//go:build linux

package tcpconn

import (
	"bufio"
	"fmt"
	"net/netip"
	"os"
	"strconv"

	"github.com/tcpconn/telegraf-tcpconn/parser"
)

// groupKeys are the tags a summary may be grouped by.
var groupKeys = []string{"pid", "process_name", "state", "family", "local_addr", "local_port", "remote_addr", "remote_port", "direction"}

// portEphemeral marks a folded port in a group.
const portEphemeral = -1

// group is one summary group. Fields not grouped by stay zero.
type group struct {
	netns      uint64
	owned      bool
	pid        int32
	name       string
	state      parser.State
	family     string
	localAddr  netip.Addr
	localPort  int32
	remoteAddr netip.Addr
	remotePort int32
	direction  string
}

type totals struct {
	count, rx, tx, maxTx int64
}

// summary counts sockets by group. It holds one entry per group, not per
// socket; grouping by remote address or port makes as many groups as there
// are peers.
type summary struct {
	by                          groupBy
	fold                        bool
	ephemeralLow, ephemeralHigh uint16
	groups                      map[group]totals
	// prev holds the groups of the last gather, so that one that emptied
	// reports a zero count once instead of just stopping: an alert on it
	// then clears at once, and a zero is not mistaken for missing data.
	prev map[group]totals
}

func newSummary(by []string, fold bool) (*summary, error) {
	s := &summary{fold: fold, groups: make(map[group]totals), prev: make(map[group]totals)}
	for _, k := range by {
		if !s.by.set(k) {
			return nil, fmt.Errorf("unknown tag %q; use any of %q", k, groupKeys)
		}
	}
	return s, nil
}

// groupBy says which tags group a summary; a struct, not a map, since it is
// consulted for every row.
type groupBy struct {
	pid, processName, state, family, localAddr, localPort, remoteAddr, remotePort, direction bool
}

func (b *groupBy) set(key string) bool {
	switch key {
	case "pid":
		b.pid = true
	case "process_name":
		b.processName = true
	case "state":
		b.state = true
	case "family":
		b.family = true
	case "local_addr":
		b.localAddr = true
	case "local_port":
		b.localPort = true
	case "remote_addr":
		b.remoteAddr = true
	case "remote_port":
		b.remotePort = true
	case "direction":
		b.direction = true
	default:
		return false
	}
	return true
}

// begin starts a gather. The ephemeral port range is read every gather, as
// an operator may change it.
func (s *summary) begin(procRoot string) error {
	s.groups, s.prev = s.prev, s.groups
	clear(s.groups)
	if !s.fold {
		return nil
	}
	low, high, err := ephemeralRange(procRoot + "/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		// The kernel's default; the error says the folding may be off.
		s.ephemeralLow, s.ephemeralHigh = 32768, 60999
		return fmt.Errorf("fold_ephemeral_ports: %w; using 32768-60999", err)
	}
	s.ephemeralLow, s.ephemeralHigh = low, high
	return nil
}

func ephemeralRange(path string) (low, high uint16, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	var l, h uint64
	if _, err := fmt.Fscan(bufio.NewReader(f), &l, &h); err != nil {
		return 0, 0, fmt.Errorf("reading %s: %w", path, err)
	}
	if l > h || h > 65535 {
		return 0, 0, fmt.Errorf("reading %s: bad range %d-%d", path, l, h)
	}
	return uint16(l), uint16(h), nil
}

// key makes the group of a socket and its owner (nil: unowned).
func (s *summary) key(sk *parser.Socket, owner *procTags, pid int32, dir string, dirs *directions) group {
	var g group
	if owner != nil {
		g.owned = true
		if s.by.pid {
			g.pid = pid
		}
		if s.by.processName {
			g.name = owner.name
		}
	}
	if s.by.state {
		g.state = sk.State
	}
	if s.by.family {
		g.family = familyOf(sk)
	}
	if s.by.localAddr {
		g.localAddr = sk.Local.Addr()
	}
	if s.by.localPort {
		g.localPort = s.port(sk.Local.Port(), dirs)
	}
	if s.by.remoteAddr {
		g.remoteAddr = sk.Remote.Addr()
	}
	if s.by.remotePort {
		g.remotePort = s.port(sk.Remote.Port(), dirs)
	}
	if s.by.direction {
		g.direction = dir
	}
	return g
}

// port folds an ephemeral port that nothing here listens on.
func (s *summary) port(p uint16, dirs *directions) int32 {
	if s.fold && p >= s.ephemeralLow && p <= s.ephemeralHigh && !dirs.isListening(p) {
		return portEphemeral
	}
	return int32(p)
}

func (s *summary) add(g group, sk *parser.Socket) {
	t := s.groups[g]
	t.count++
	t.rx += int64(sk.RxQueue)
	t.tx += int64(sk.TxQueue)
	t.maxTx = max(t.maxTx, int64(sk.TxQueue))
	s.groups[g] = t
}

// tags writes a group's tags into m, which the caller cleared.
func (s *summary) tags(g group, m map[string]string) {
	if g.owned {
		if s.by.pid {
			m["pid"] = strconv.FormatInt(int64(g.pid), 10)
		}
		if s.by.processName {
			m["process_name"] = g.name
		}
	}
	if s.by.state {
		m["state"] = g.state.String()
	}
	if s.by.family {
		m["family"] = g.family
	}
	if s.by.localAddr {
		m["local_addr"] = g.localAddr.String()
	}
	if s.by.localPort {
		m["local_port"] = portTag(g.localPort)
	}
	if s.by.remoteAddr {
		m["remote_addr"] = g.remoteAddr.String()
	}
	if s.by.remotePort {
		m["remote_port"] = portTag(g.remotePort)
	}
	if s.by.direction && g.direction != "" {
		m["direction"] = g.direction
	}
}

func portTag(p int32) string {
	if p == portEphemeral {
		return "ephemeral"
	}
	return strconv.FormatInt(int64(p), 10)
}

func familyOf(s *parser.Socket) string {
	if s.Local.Addr().Is4() {
		return "ipv4"
	}
	return "ipv6"
}
