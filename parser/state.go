package parser

import (
	"errors"
	"fmt"
	"strings"
)

// State is a TCP state code as printed in the "st" column. The values are the
// kernel's (include/net/tcp_states.h). A code the kernel may add later is
// kept as is and printed by [State.String] as UNKNOWN_<HEX>.
type State uint8

// The TCP states known to the kernel.
const (
	Established   State = 0x01
	SynSent       State = 0x02
	SynRecv       State = 0x03
	FinWait1      State = 0x04
	FinWait2      State = 0x05
	TimeWait      State = 0x06
	Close         State = 0x07
	CloseWait     State = 0x08
	LastAck       State = 0x09
	Listen        State = 0x0A
	Closing       State = 0x0B
	NewSynRecv    State = 0x0C
	BoundInactive State = 0x0D
)

// stateNames holds the kernel's names, indexed by code.
var stateNames = [...]string{
	Established:   "ESTABLISHED",
	SynSent:       "SYN_SENT",
	SynRecv:       "SYN_RECV",
	FinWait1:      "FIN_WAIT1",
	FinWait2:      "FIN_WAIT2",
	TimeWait:      "TIME_WAIT",
	Close:         "CLOSE",
	CloseWait:     "CLOSE_WAIT",
	LastAck:       "LAST_ACK",
	Listen:        "LISTEN",
	Closing:       "CLOSING",
	NewSynRecv:    "NEW_SYN_RECV",
	BoundInactive: "BOUND_INACTIVE",
}

// ErrUnknownState is returned, wrapped, by [ParseState] for a name that is
// not a TCP state.
var ErrUnknownState = errors.New("unknown TCP state")

// String returns the kernel's name for s, such as "ESTABLISHED" or
// "NEW_SYN_RECV", or "UNKNOWN_<HEX>" (two upper-case hex digits, such as
// "UNKNOWN_1F") for a code the package does not know. It allocates only for
// unknown codes.
func (s State) String() string {
	if s.Known() {
		return stateNames[s]
	}
	const hexDigits = "0123456789ABCDEF"
	return "UNKNOWN_" + string([]byte{hexDigits[s>>4], hexDigits[s&0x0f]})
}

// Known reports whether s is one of the states the package names.
func (s State) Known() bool {
	return s >= Established && s <= BoundInactive
}

// ParseState returns the state with the kernel's name, compared without
// regard to case: "LISTEN", "listen" and "Listen" all give [Listen]. Any other
// name gives an error that wraps [ErrUnknownState] and lists the valid names.
func ParseState(name string) (State, error) {
	for s := Established; s <= BoundInactive; s++ {
		if strings.EqualFold(name, stateNames[s]) {
			return s, nil
		}
	}
	return 0, fmt.Errorf("%w %q: valid names are %s", ErrUnknownState, name, strings.Join(stateNames[Established:], ", "))
}
