//go:build linux

package tcpconn

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tcpconn/telegraf-tcpconn/parser"
)

// keyRecorder is an encoder that records the keys a schema gives.
type keyRecorder struct {
	tags, fields []string
}

func (k *keyRecorder) tag(key, _ string)                { k.tags = append(k.tags, key) }
func (k *keyRecorder) tagInt(key string, _ int64)       { k.tags = append(k.tags, key) }
func (k *keyRecorder) tagAddr(key string, _ netip.Addr) { k.tags = append(k.tags, key) }
func (k *keyRecorder) fieldInt(key string, _ int64)     { k.fields = append(k.fields, key) }
func (k *keyRecorder) fieldFloat(key string, _ float64) { k.fields = append(k.fields, key) }
func (k *keyRecorder) fieldString(key, _ string)        { k.fields = append(k.fields, key) }
func (k *keyRecorder) fieldBool(key string, _ bool)     { k.fields = append(k.fields, key) }

// The line-protocol path writes keys as the schemas give them, so each
// schema must give them in order, with every optional key present.
func TestSchemasInKeyOrder(t *testing.T) {
	s := parser.Socket{
		Local:  netip.MustParseAddrPort("10.0.0.1:80"),
		Remote: netip.MustParseAddrPort("10.0.0.2:40000"),
		State:  parser.Established, Inode: 7,
	}
	nginx := owner{pid: 10, fd: 3, name: "nginx", container: "abc"}
	r := &row{sock: sock{Socket: &s}, netns: 4026531840, dir: dirInbound, age: time.Second, owners: []owner{nginx}}

	owned := &connections{tagNetns: true, r: r, owner: 0}
	unowned := &connections{tagNetns: true, r: r, owner: -1}
	closed := &events{tagNetns: true, kind: eventClosed, netns: 1, inode: 7, local: s.Local, remote: s.Remote,
		state: s.State, from: s.State, dir: dirInbound, owner: nginx, age: time.Second}
	sum := &summaries{tagNetns: true, t: totals{count: 1}}
	for _, k := range groupKeys {
		require.True(t, sum.by.set(k))
	}
	sum.g = group{owned: true, name: "nginx", pid: 10, localAddr: s.Local.Addr(), remoteAddr: s.Remote.Addr(), direction: dirInbound}

	for name, m := range map[string]schema{
		"tcpconn":         owned,
		"tcpconn unowned": unowned,
		"tcpconn_event":   closed,
		"tcpconn_summary": sum,
	} {
		var k keyRecorder
		m.encode(&k)
		require.True(t, slices.IsSorted(k.tags), "%s tags %v", name, k.tags)
		require.True(t, slices.IsSorted(k.fields), "%s fields %v", name, k.fields)
		require.NotEmpty(t, k.fields, name)
	}
}
