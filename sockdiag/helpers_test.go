package sockdiag

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"sync"

	"github.com/tcpconn/telegraf-tcpconn/parser"
)

// nlmsg returns a netlink message of type typ with payload, padded to 4
// bytes, as the kernel builds one.
func nlmsg(typ, flags uint16, seq uint32, payload ...[]byte) []byte {
	n := nlmsgHdrLen
	for _, p := range payload {
		n += len(p)
	}
	b := make([]byte, nlmsgHdrLen, align4(n))
	binary.NativeEndian.PutUint32(b[0:], uint32(n))
	binary.NativeEndian.PutUint16(b[4:], typ)
	binary.NativeEndian.PutUint16(b[6:], flags)
	binary.NativeEndian.PutUint32(b[8:], seq)
	for _, p := range payload {
		b = append(b, p...)
	}
	return b[:align4(n)]
}

// nlattr returns an attribute of type typ, padded to 4 bytes.
func nlattr(typ uint16, data []byte) []byte {
	n := nlaHdrLen + len(data)
	b := make([]byte, align4(n))
	binary.NativeEndian.PutUint16(b[0:], uint16(n))
	binary.NativeEndian.PutUint16(b[2:], typ)
	copy(b[4:], data)
	return b
}

func u32(v uint32) []byte { return binary.NativeEndian.AppendUint32(nil, v) }
func u64(v uint64) []byte { return binary.NativeEndian.AppendUint64(nil, v) }

// diag is the content of a struct inet_diag_msg for diagMsg.
type diag struct {
	family        uint8
	state         parser.State
	timer, retr   uint8
	local, remote netip.AddrPort
	ifindex       uint32
	cookie        uint64
	expiresMs     uint32
	rq, wq        uint32
	uid, inode    uint32
}

// payload returns the struct inet_diag_msg of d.
func (d diag) payload() []byte {
	b := make([]byte, inetDiagMsgLen)
	b[0], b[1], b[2], b[3] = d.family, uint8(d.state), d.timer, d.retr
	binary.BigEndian.PutUint16(b[4:], d.local.Port())
	binary.BigEndian.PutUint16(b[6:], d.remote.Port())
	if d.local.Addr().Is4() {
		a, r := d.local.Addr().As4(), d.remote.Addr().As4()
		copy(b[8:], a[:])
		copy(b[24:], r[:])
	} else {
		a, r := d.local.Addr().As16(), d.remote.Addr().As16()
		copy(b[8:], a[:])
		copy(b[24:], r[:])
	}
	binary.NativeEndian.PutUint32(b[40:], d.ifindex)
	binary.NativeEndian.PutUint32(b[44:], uint32(d.cookie))
	binary.NativeEndian.PutUint32(b[48:], uint32(d.cookie>>32))
	binary.NativeEndian.PutUint32(b[52:], d.expiresMs)
	binary.NativeEndian.PutUint32(b[56:], d.rq)
	binary.NativeEndian.PutUint32(b[60:], d.wq)
	binary.NativeEndian.PutUint32(b[64:], d.uid)
	binary.NativeEndian.PutUint32(b[68:], d.inode)
	return b
}

// diagMsg returns a SOCK_DIAG_BY_FAMILY message of a dump with d and the
// attributes attrs.
func diagMsg(d diag, attrs ...[]byte) []byte {
	return nlmsg(sockDiagByFamily, 0x2, 1, append([][]byte{d.payload()}, attrs...)...)
}

// doneMsg returns an NLMSG_DONE message with error code code.
func doneMsg(code int32) []byte {
	return nlmsg(nlmsgDone, 0x2, 1, u32(uint32(code)))
}

// errorMsg returns an NLMSG_ERROR message with error code code for the
// request req (its header only: capped), and the extended ack text if not
// empty.
func errorMsg(code int32, text string) []byte {
	req := nlmsg(sockDiagByFamily, 0x301, 1)[:nlmsgHdrLen]
	flags := uint16(nlmFCapped)
	parts := [][]byte{u32(uint32(code)), req}
	if text != "" {
		flags |= nlmFAckTLVs
		parts = append(parts, nlattr(nlmsgerrAttrMsg, append([]byte(text), 0)))
	}
	return nlmsg(nlmsgError, flags, 1, parts...)
}

// sampleDiag returns a made-up socket i, IPv4 or IPv6.
func sampleDiag(i int, v6 bool) diag {
	d := diag{
		family:    AFInet,
		state:     parser.Established,
		timer:     uint8(i % 3),
		retr:      uint8(i % 2),
		local:     netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, byte(i >> 8), byte(i)}), uint16(1024+i)),
		remote:    netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, 2, 3}), 443),
		cookie:    uint64(0x1_0000_0000) + uint64(i),
		expiresMs: uint32(i * 10),
		rq:        uint32(i % 5),
		wq:        uint32(i % 7 * 1000),
		uid:       1000,
		inode:     uint32(50000 + i),
	}
	if v6 {
		d.family = AFInet6
		d.local = netip.AddrPortFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 14: byte(i >> 8), 15: byte(i)}), uint16(1024+i))
		d.remote = netip.AddrPortFrom(netip.MustParseAddr("::ffff:10.1.2.3"), 443)
	}
	return d
}

// want returns the Socket a Reader should decode from d and its
// attributes.
func (d diag) want() Socket {
	return Socket{
		Socket: parser.Socket{
			Local:        d.local,
			Remote:       d.remote,
			State:        d.state,
			TxQueue:      d.wq,
			RxQueue:      d.rq,
			Timer:        d.timer,
			TimerExpires: uint64(d.expiresMs / 10),
			Retransmits:  uint32(d.retr),
			UID:          d.uid,
			Inode:        uint64(d.inode),
		},
		Family:    d.family,
		Interface: d.ifindex,
		Cookie:    d.cookie,
	}
}

// sampleInfo returns a tcp_info of n bytes whose every byte is its offset.
func sampleInfo(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

// genDump returns a dump of n made-up sockets, with tcp_info if info,
// ending with NLMSG_DONE, and the sockets it holds.
func genDump(n int, info bool) ([]byte, []Socket) {
	var b []byte
	want := make([]Socket, n)
	for i := range n {
		d := sampleDiag(i, i%2 == 1)
		attrs := [][]byte{nlattr(inetDiagShutdown, []byte{0}), nlattr(inetDiagCgroupID, u64(4242))}
		want[i] = d.want()
		want[i].CgroupID = 4242
		if info {
			ti := sampleInfo(280)
			attrs = append(attrs, nlattr(inetDiagInfo, ti))
			want[i].Info.set(ti)
		}
		b = append(b, diagMsg(d, attrs...)...)
	}
	return append(b, doneMsg(0)...), want
}

// result is everything a Reader tells about a stream.
type result struct {
	Sockets     []Socket
	Messages    []int
	Malformed   int
	Errors      []string
	Err         string
	Done        bool
	Interrupted bool
}

// readAll reads r to the end.
func readAll(r *Reader) result {
	var res result
	for r.Next() {
		res.Sockets = append(res.Sockets, *r.Socket())
		res.Messages = append(res.Messages, r.Message())
	}
	res.Malformed = r.Malformed()
	res.Errors = joined(r.MalformedErr())
	if err := r.Err(); err != nil {
		res.Err = err.Error()
	}
	res.Done = r.Done()
	res.Interrupted = r.Interrupted()
	return res
}

// read decodes data with a Reader over wrap(data).
func read(data []byte, wrap func(io.Reader) io.Reader) result {
	var rd io.Reader = bytes.NewReader(data)
	if wrap != nil {
		rd = wrap(rd)
	}
	r := readers.Get().(*Reader)
	defer readers.Put(r)
	r.Reset(rd)
	return readAll(r)
}

// readers saves tests and fuzz targets from allocating a buffer per read.
var readers = sync.Pool{New: func() any { return NewReader(nil) }}

// joined returns the messages of the errors joined in err.
func joined(err error) []string {
	if err == nil {
		return nil
	}
	var out []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		out = append(out, e.Error())
	}
	return out
}

// describe returns a one-line text form of s for golden files.
func describe(s *Socket) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "family=%d %s -> %s %s tx=%d rx=%d tr=%d when=%d retr=%d uid=%d inode=%d cookie=%#x cgroup=%d shutdown=%d if=%d",
		s.Family, s.Local, s.Remote, s.State, s.TxQueue, s.RxQueue, s.Timer, s.TimerExpires, s.Retransmits,
		s.UID, s.Inode, s.Cookie, s.CgroupID, s.Shutdown, s.Interface)
	fmt.Fprintf(&sb, " info=%d", s.Info.Len())
	if s.Info.Len() > 0 {
		st, _ := s.Info.State()
		rtt, _ := s.Info.RTT()
		cwnd, _ := s.Info.SndCwnd()
		acked, _ := s.Info.BytesAcked()
		received, _ := s.Info.BytesReceived()
		fmt.Fprintf(&sb, " tcpi_state=%s rtt=%d cwnd=%d bytes_acked=%d bytes_received=%d", st, rtt, cwnd, acked, received)
	}
	return sb.String()
}

// golden returns the golden text for a result.
func (res result) golden() string {
	var sb strings.Builder
	for i := range res.Sockets {
		sb.WriteString("message " + strconv.Itoa(res.Messages[i]) + ": " + describe(&res.Sockets[i]) + "\n")
	}
	fmt.Fprintf(&sb, "malformed: %d\n", res.Malformed)
	for _, e := range res.Errors {
		sb.WriteString("malformed error: " + e + "\n")
	}
	fmt.Fprintf(&sb, "err: %s\ndone: %v\ninterrupted: %v\n", res.Err, res.Done, res.Interrupted)
	return sb.String()
}
