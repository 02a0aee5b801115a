// Command gopsutil is a peer of the scale benchmark: it lists the TCP
// connections of the host with their owning pids the way Telegraf's
// inputs.netstat and inputs.procstat do, through gopsutil's
// net.Connections("tcp"), iterates the result and prints the number of
// owned sockets.
package main

import (
	"fmt"
	"os"

	"github.com/shirou/gopsutil/v4/net"
)

func main() {
	conns, err := net.Connections("tcp")
	if err != nil {
		fmt.Fprintf(os.Stderr, "gopsutil: %v\n", err)
		os.Exit(1)
	}
	var owned, ports int
	for i := range conns {
		c := &conns[i]
		if c.Pid != 0 {
			owned++
		}
		ports += int(c.Laddr.Port) + int(c.Raddr.Port) + len(c.Status)
	}
	fmt.Printf("owned %d rows %d (checksum %d)\n", owned, len(conns), ports)
}
