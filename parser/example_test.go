package parser_test

import (
	"encoding/binary"
	"fmt"
	"os"
	"strings"

	"github.com/tcpconn/telegraf-tcpconn/parser"
)

func ExampleReader() {
	const table = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:0016 00000000:0000 0A 00000000:00000080 00:00000000 00000000     0        0 4101 1 0000000000000000 100 0 0 10 0
   9: 8064A8C0:0929 0164A8C0:F4B5 01 00000000:00000000 02:00097B3E 00000000  1000        0 21189 2 ffff88001a505b00 24 4 28 10 -1
  10: 8064A8CZ:0929 0164A8C0:F4B5 01 00000000:00000000 02:00097B3E 00000000  1000        0 21190 2 ffff88001a505b00 24 4 28 10 -1
  11: 0100007F:9C40 0100007F:0016 06 00000000:00000000 03:00001770 00000000     0        0 0 3 0000000000000000
`
	r := parser.NewReader(strings.NewReader(table))
	r.ByteOrder = binary.LittleEndian // the table came from a little-endian host
	for r.Next() {
		s := r.Socket()
		fmt.Println(s.Local, s.Remote, s.State, s.UID, s.Inode)
	}
	if err := r.Err(); err != nil {
		fmt.Println("read:", err)
	}
	fmt.Println(r.Malformed(), "malformed:", r.MalformedErr())
	// Output:
	// 127.0.0.1:22 0.0.0.0:0 LISTEN 0 4101
	// 192.168.100.128:2345 192.168.100.1:62645 ESTABLISHED 1000 21189
	// 127.0.0.1:40000 127.0.0.1:22 TIME_WAIT 0 0
	// 1 malformed: line 4: field "local_address": invalid hex "8064A8CZ:0929"
}

// Read the host's IPv6 table. Sockets can be listed twice when the table
// changes while it is read: keep the first row of each inode. Inode 0 rows
// own no file.
func ExampleNewReader_proc() {
	f, err := os.Open("/proc/net/tcp6")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer f.Close()
	r := parser.NewReader(f)
	seen := make(map[uint64]bool)
	for r.Next() {
		s := r.Socket()
		if s.Inode != 0 && seen[s.Inode] {
			continue
		}
		seen[s.Inode] = true
		_ = s // use it
	}
	if err := r.Err(); err != nil {
		fmt.Println(err)
	}
}

func ExampleState_String() {
	fmt.Println(parser.Established, parser.NewSynRecv, parser.State(0x1F))
	// Output: ESTABLISHED NEW_SYN_RECV UNKNOWN_1F
}

func ExampleParseState() {
	st, err := parser.ParseState("time_wait")
	fmt.Println(st, err)
	_, err = parser.ParseState("LISTENING")
	fmt.Println(err)
	// Output:
	// TIME_WAIT <nil>
	// unknown TCP state "LISTENING": valid names are ESTABLISHED, SYN_SENT, SYN_RECV, FIN_WAIT1, FIN_WAIT2, TIME_WAIT, CLOSE, CLOSE_WAIT, LAST_ACK, LISTEN, CLOSING, NEW_SYN_RECV, BOUND_INACTIVE
}
