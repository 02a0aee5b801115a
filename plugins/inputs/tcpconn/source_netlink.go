//go:build linux

package tcpconn

import (
	"fmt"
	"time"

	"github.com/tcpconn/telegraf-tcpconn/parser"
	"github.com/tcpconn/telegraf-tcpconn/sockdiag"
)

// netlinkSource reads the kernel's socket tables with a NETLINK_SOCK_DIAG
// dump (package sockdiag), the binary interface ss uses: the kernel's side
// of a dump costs about half of printing /proc/net/tcp, and it can add each
// socket's tcp_info and cookie. Its rows are those of /proc/net/tcp, fields
// made to read as there, so that switching source changes no series.
//
// A dump answers for the network namespace of its netlink socket: the
// agent's own is dialled once, another one is entered for each gather
// (which needs CAP_SYS_ADMIN). Where that is refused, the namespace is read
// from its /proc tables, with one warning.
type netlinkSource struct {
	procRoot string
	info     bool   // ask for tcp_info
	states   uint32 // the kernel's filter; 0: every state
	self     uint64 // the agent's own network namespace
	host     *sockdiag.Conn
	reader   *sockdiag.Reader
	ahead    *readAhead
	procfs   *procfsSource // for the namespaces it may not enter
	warn     func(string)
	warned   bool
	// ns is the namespace the current conn was dialled into, and conn
	// the one for it (host, or a dial of this gather's).
	ns   uint64
	conn *sockdiag.Conn
}

func newNetlinkSource(procRoot string, info bool, states uint32, procfs *procfsSource, warn func(string)) (*netlinkSource, error) {
	host, err := sockdiag.Dial()
	if err != nil {
		return nil, err
	}
	return &netlinkSource{
		procRoot: procRoot, info: info, states: states, self: threadNetNS(),
		host: host, reader: sockdiag.NewReader(nil), ahead: newReadAhead(3, 1<<20),
		procfs: procfs, warn: warn,
	}, nil
}

// threadNetNS is the network namespace of the calling thread, which for Go
// is the process's: that of the agent's own dumps.
func threadNetNS() uint64 {
	return netnsOf("/proc/thread-self/ns/net")
}

func (n *netlinkSource) read(ns namespace, tables []table, deadline time.Time, sink tableSink, out []tableResult) {
	eachTable(tables, sink, out, func(tb table) (tableRead, error) { return n.readTable(ns, tb, deadline, sink) })
}

// readTable dumps one table into sink. A dump is whole only when the
// kernel ended it with NLMSG_DONE and every message decoded.
func (n *netlinkSource) readTable(ns namespace, tb table, deadline time.Time, sink tableSink) (tableRead, error) {
	conn, fallback, err := n.connFor(ns)
	if err != nil {
		return readNone, err
	}
	if fallback {
		return n.procfs.readTable(ns, tb, deadline, sink)
	}
	family := uint8(sockdiag.AFInet)
	name := "AF_INET"
	if tb.v6 {
		family, name = sockdiag.AFInet6, "AF_INET6"
	}
	dump, err := conn.Dump(sockdiag.Request{Family: family, States: n.states, Info: n.info})
	if err != nil {
		return readNone, fmt.Errorf("reading %s table: %w", tb.protocol, err)
	}
	n.ahead.start(dump)
	defer n.ahead.end() // before the next dump reuses the Conn's buffer
	r := n.reader
	r.Reset(n.ahead)
	defer r.Reset(nil)
	var rows int
	for r.Next() {
		rows++
		if rows%1024 == 0 && time.Now().After(deadline) {
			// The rest of the dump is drained by the next one.
			return readPartial, &deadlineError{path: "sock_diag dump of " + name, rows: rows}
		}
		s := r.Socket()
		asProcfs(s)
		row := sock{Socket: &s.Socket, cookie: s.Cookie, cgroupID: s.CgroupID}
		if s.Info.Len() > 0 {
			row.info = &s.Info
		}
		sink.row(row)
	}
	if err := r.Err(); err != nil {
		return readPartial, fmt.Errorf("sock_diag dump of %s: %w", name, err)
	}
	if n := r.Malformed(); n > 0 {
		return readPartial, fmt.Errorf("sock_diag dump of %s: skipped %d malformed messages: %w", name, n, r.MalformedErr())
	}
	if !r.Done() || r.Interrupted() {
		return readPartial, fmt.Errorf("sock_diag dump of %s: cut short by the kernel (no NLMSG_DONE, or NLM_F_DUMP_INTR)", name)
	}
	return readWhole, nil
}

// asProcfs makes a dumped socket read as its row of /proc/net/tcp: there a
// listener's tx_queue is 0 (a dump gives its backlog limit), and retrnsmt
// is the retransmit count whatever the timer (a dump gives probe counts
// under a keepalive or zero window timer): tcp_info has the count itself.
func asProcfs(s *sockdiag.Socket) {
	if s.State == parser.Listen {
		s.TxQueue = 0
	}
	if r, ok := s.Info.Retransmits(); ok {
		s.Retransmits = uint32(r)
	} else if s.Timer != 1 {
		s.Retransmits = 0
	}
}

// connFor returns the netlink socket of a namespace: the agent's own, or
// one dialled into it through the first of its processes that can still
// be entered. fallback is set when the agent may not enter namespaces: the
// caller reads the /proc tables instead. Other namespaces are dialled once
// per gather, and closed at the next: a netlink socket holds its namespace.
func (n *netlinkSource) connFor(ns namespace) (conn *sockdiag.Conn, fallback bool, err error) {
	if len(ns.pids) == 0 || ns.netns == n.self {
		return n.host, false, nil
	}
	if n.conn != nil && n.ns == ns.netns {
		return n.conn, false, nil
	}
	n.end()
	denied, err := enterNamespace(n.procRoot, ns, func(path string) (err error) {
		n.conn, err = sockdiag.DialNetNS(path)
		return err
	})
	switch {
	case denied != nil:
		if !n.warned {
			n.warned = true
			n.warn(fmt.Sprintf("source = \"netlink\": %v; reading the tables of the network namespaces other than the agent's from <proc_root>/<pid>/net/tcp* instead: grant CAP_SYS_ADMIN to dump them", denied))
		}
		return nil, true, nil
	case err != nil:
		return nil, false, err
	}
	n.ns = ns.netns
	return n.conn, false, nil
}

// end closes the netlink socket of another namespace, if one is open.
func (n *netlinkSource) end() {
	if n.conn != nil {
		n.conn.Close()
		n.conn, n.ns = nil, 0
	}
}
