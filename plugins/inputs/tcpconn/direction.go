//go:build linux

package tcpconn

import (
	"net/netip"

	"github.com/tcpconn/telegraf-tcpconn/parser"
)

// dirCode is a direction, one byte as it is stored per socket.
type dirCode uint8

// The directions, named by the direction tag.
const (
	dirNone     dirCode = iota // neither listening nor connected: no tag
	dirListen                  // "listen"
	dirInbound                 // "inbound": the local port has a listener
	dirOutbound                // "outbound"
	dirLocal                   // "local": both ends on this host
)

var dirNames = [...]string{dirNone: "", dirListen: "listen", dirInbound: "inbound", dirOutbound: "outbound", dirLocal: "local"}

// String returns the value of the direction tag, "" for none.
func (c dirCode) String() string {
	if int(c) < len(dirNames) {
		return dirNames[c]
	}
	return ""
}

// maxLocalAddrs bounds the addresses remembered as this host's: a host has
// a handful, and a table of hostile rows must not grow the set.
const maxLocalAddrs = 4096

// directions classifies sockets from what the gather has seen so far. The
// kernel lists a table's listening sockets before its connections, so the
// listeners are known by the time the connections stream by.
type directions struct {
	listening [65536 / 64]uint64      // local ports with a listener
	local     map[netip.Addr]struct{} // addresses of this host, unmapped
}

func (d *directions) reset() {
	clear(d.listening[:])
	if d.local == nil {
		d.local = make(map[netip.Addr]struct{})
	}
	clear(d.local)
}

func (d *directions) isListening(port uint16) bool {
	return d.listening[port/64]&(1<<(port%64)) != 0
}

// of records s and returns its direction: listen, local (both ends on this
// host), inbound (the local port has a listener), outbound, or none for a
// socket that is neither listening nor connected.
func (d *directions) of(s *parser.Socket) dirCode {
	local := s.Local.Addr().Unmap()
	if !local.IsUnspecified() && len(d.local) < maxLocalAddrs {
		d.local[local] = struct{}{}
	}
	if s.State == parser.Listen {
		p := s.Local.Port()
		d.listening[p/64] |= 1 << (p % 64)
		return dirListen
	}
	remote := s.Remote.Addr().Unmap()
	switch {
	case remote.IsUnspecified():
		return dirNone
	case remote.IsLoopback() || remote == local:
		return dirLocal
	}
	if _, ok := d.local[remote]; ok {
		return dirLocal
	}
	if d.isListening(s.Local.Port()) {
		return dirInbound
	}
	return dirOutbound
}
