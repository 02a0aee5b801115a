//go:build linux

package bpftable_test

import (
	"fmt"

	"github.com/tcpconn/telegraf-tcpconn/bpftable"
	"github.com/tcpconn/telegraf-tcpconn/parser"
)

// listeners prints the listening sockets of both families: one walk of a
// table loaded once, which a caller would keep and read again and again.
func listeners(t *bpftable.Table) error {
	r, err := t.Open()
	if err != nil {
		return err
	}
	defer r.Close()
	for r.Next() {
		s := r.Socket()
		if s.State == parser.Listen {
			fmt.Println(s.Family, s.Local, s.UID, s.Inode)
		}
	}
	return r.Err()
}

func Example() {
	t, err := bpftable.New()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer t.Close()
	if err := listeners(t); err != nil {
		fmt.Println(err)
	}
}
