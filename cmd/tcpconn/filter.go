package main

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/influxdata/telegraf/filter"

	"github.com/tcpconn/telegraf-tcpconn/parser"
	"github.com/tcpconn/telegraf-tcpconn/plugins/inputs/tcpconn"
)

// match tells whether a row of the table is selected.
type match func(c *tcpconn.Connection) bool

// filterKey is a key of a -filter term ("port=8080"); the key "" is the
// bare endpoint ("127.0.0.1:8080"). The help text is made from these, so it
// lists exactly what parseTerm accepts.
type filterKey struct {
	key, syntax, doc string
	parse            func(value string) (match, error)
}

var filterKeys = []filterKey{
	{"", "ADDR, ADDR:PORT, [ADDR]:PORT, :PORT", "either end of the socket (an IPv6 address with a port in brackets: [::1]:8080)",
		func(v string) (match, error) {
			e, err := parseEndpoint(v)
			return func(c *tcpconn.Connection) bool { return e.matches(c.Local) || e.matches(c.Remote) }, err
		}},
	{"local", "local=ENDPOINT", "the local end, an endpoint as above",
		func(v string) (match, error) {
			e, err := parseEndpoint(v)
			return func(c *tcpconn.Connection) bool { return e.matches(c.Local) }, err
		}},
	{"remote", "remote=ENDPOINT", "the remote end",
		func(v string) (match, error) {
			e, err := parseEndpoint(v)
			return func(c *tcpconn.Connection) bool { return e.matches(c.Remote) }, err
		}},
	{"port", "port=PORT", "either end's port (the same as :PORT)",
		func(v string) (match, error) {
			p, err := parsePort(v)
			return func(c *tcpconn.Connection) bool { return c.Local.Port() == p || c.Remote.Port() == p }, err
		}},
	{"process", "process=GLOB", "the owner's process name, a glob as in process_names (nginx, java*)",
		func(v string) (match, error) {
			f, err := filter.Compile([]string{v})
			if err != nil {
				return nil, fmt.Errorf("process name %q: %w", v, err)
			}
			return func(c *tcpconn.Connection) bool { return c.Owned() && f.Match(c.Process) }, nil
		}},
	{"pid", "pid=PID", "the owning process",
		func(v string) (match, error) {
			pid, err := strconv.ParseInt(v, 10, 32)
			if err != nil || pid <= 0 {
				return nil, fmt.Errorf("pid %q is not a positive number", v)
			}
			return func(c *tcpconn.Connection) bool { return c.PID == int32(pid) }, nil
		}},
	{"state", "state=STATE", "the TCP state, a name as in states (LISTEN, ESTABLISHED, TIME_WAIT, ...; any case)",
		func(v string) (match, error) {
			s, err := parser.ParseState(v)
			name := s.String()
			return func(c *tcpconn.Connection) bool { return c.State == name }, err
		}},
}

// term is one -filter: a row matches if any of its alternatives does.
type term struct {
	alts []match
	// processes holds the globs of a process= term, which the walk
	// takes as process_names.
	processes []string
}

func (t term) matches(c *tcpconn.Connection) bool {
	for _, m := range t.alts {
		if m(c) {
			return true
		}
	}
	return false
}

// parseTerm parses one -filter value: KEY=VALUE or a bare endpoint, where
// the value may list alternatives separated by commas ("port=80,443").
func parseTerm(s string) (term, error) {
	key, value, keyed := strings.Cut(s, "=")
	if !keyed {
		key, value = "", s // an address never holds "="
	}
	i := 0
	for i < len(filterKeys) && filterKeys[i].key != key {
		i++
	}
	if i == len(filterKeys) {
		return term{}, fmt.Errorf("unknown key %q; use an endpoint or %s", key, strings.Join(keyNames(), ", "))
	}
	if value == "" {
		return term{}, errors.New("empty value")
	}
	var t term
	for alt := range strings.SplitSeq(value, ",") {
		if alt == "" {
			return term{}, fmt.Errorf("empty alternative in %q", value)
		}
		m, err := filterKeys[i].parse(alt)
		if err != nil {
			return term{}, err
		}
		t.alts = append(t.alts, m)
		if key == "process" {
			t.processes = append(t.processes, alt)
		}
	}
	return t, nil
}

func keyNames() []string {
	var names []string
	for _, k := range filterKeys[1:] {
		names = append(names, k.key+"=")
	}
	return names
}

// filters are the -filter flags: a row must match every term.
type filters []term

func (f *filters) String() string { return "" }

// Set parses one more -filter; the flag package names it in the error.
func (f *filters) Set(s string) error {
	t, err := parseTerm(s)
	if err != nil {
		return err
	}
	*f = append(*f, t)
	return nil
}

// processNames returns the globs of the first process= term, if any: a row
// shown matches one of them, so the walk need not read the other
// processes (their sockets would show unowned, which process= rejects).
func (f filters) processNames() []string {
	for _, t := range f {
		if t.processes != nil {
			return t.processes
		}
	}
	return nil
}

func (f filters) matches(c *tcpconn.Connection) bool {
	for _, t := range f {
		if !t.matches(c) {
			return false
		}
	}
	return true
}

// endpoint is an address, a port or both; what is absent matches anything.
type endpoint struct {
	addr    netip.Addr // unmapped, no zone; invalid: any
	port    uint16
	hasPort bool
}

// matches compares unmapped addresses: the kernel lists an IPv4 client of
// a dual-stack listener as ::ffff:a.b.c.d, and 127.0.0.1 should find it.
func (e endpoint) matches(ap netip.AddrPort) bool {
	if e.addr.IsValid() && ap.Addr().Unmap() != e.addr {
		return false
	}
	return !e.hasPort || ap.Port() == e.port
}

func parseEndpoint(s string) (endpoint, error) {
	if p, ok := strings.CutPrefix(s, ":"); ok && !strings.Contains(p, ":") {
		port, err := parsePort(p)
		return endpoint{port: port, hasPort: true}, err
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return endpoint{addr: ap.Addr().Unmap().WithZone(""), port: ap.Port(), hasPort: true}, nil
	}
	if a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")); err == nil {
		return endpoint{addr: a.Unmap().WithZone("")}, nil
	}
	return endpoint{}, fmt.Errorf("%q is not an address, ADDR:PORT or :PORT (an IPv6 address with a port in brackets: [::1]:8080; names are not resolved)", s)
}

func parsePort(s string) (uint16, error) {
	p, err := strconv.ParseUint(s, 10, 16)
	if err != nil {
		return 0, fmt.Errorf("port %q is not a number from 0 to 65535", s)
	}
	return uint16(p), nil
}
