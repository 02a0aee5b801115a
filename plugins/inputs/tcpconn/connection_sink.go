package tcpconn

import "net/netip"

// ConnectionSink is an accumulator that takes the tcpconn metrics as
// values instead of through AddFields: the tcpconn shim's table
// (`-format table`) is one, so that a gather of 200k sockets costs no map,
// string or telegraf.Metric per socket. Every other measurement still
// comes through the accumulator's methods.
type ConnectionSink interface {
	// AddConnection takes one tcpconn metric. c is valid only during the
	// call: the plugin reuses it.
	AddConnection(c *Connection)
}

// Connection is one tcpconn metric: a socket and one of its owners. It is
// filled from the measurement's own schema, so it says what its tags say.
type Connection struct {
	// State is the state tag, such as "ESTABLISHED" or "TIME_WAIT".
	State  string
	Local  netip.AddrPort
	Remote netip.AddrPort
	// PID, FD and Process are the owner's; PID is 0 for an unowned socket
	// (include_unowned), which has no fd and no process name either.
	PID     int32
	FD      int32
	Process string
}

// Owned reports whether c has an owner.
func (c *Connection) Owned() bool { return c.PID != 0 }
