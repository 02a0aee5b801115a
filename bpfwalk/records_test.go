package bpfwalk

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tcpconn/telegraf-tcpconn/resolver"
)

// stream writes records as task_file.bpf.c does.
type stream []byte

func (s stream) u32(v uint32) stream { return binary.NativeEndian.AppendUint32(s, v) }
func (s stream) u64(v uint64) stream { return binary.NativeEndian.AppendUint64(s, v) }

func (s stream) task(pid uint32) stream { return s.u32(recTask).u32(pid) }

func (s stream) sock(fd uint32, ino uint64) stream { return s.u32(recSock).u32(fd).u64(ino) }

func (s stream) end(procs, fds, exited uint64) stream {
	return s.u32(recEnd).u32(0).u64(procs).u64(fds).u64(exited)
}

// proc writes a proc record; path holds the components leaf first.
func (s stream) proc(pid, uid uint32, startNs, netns, cgid uint64, comm string, flags byte, path ...string) stream {
	s = s.u32(recProc).u32(pid).u32(pid).u32(uid).u64(startNs).u64(netns).u64(cgid)
	var c [16]byte
	copy(c[:], comm)
	s = append(s, c[:]...)
	var raw []byte
	for _, p := range path {
		raw = append(append(raw, p...), 0)
	}
	s = binary.NativeEndian.AppendUint16(s, uint16(len(raw)))
	s = append(s, byte(len(path)), flags, 0, 0, 0, 0)
	return append(s, raw...)
}

// TestDecode feeds one stream cut at every offset, as reads may cut it, and
// gets the same table each time.
func TestDecode(t *testing.T) {
	in := stream(nil).
		task(10).
		task(20).proc(20, 1000, 2_500_000_000, 4026531840, 7, "nginx", procPathWhole, "nginx.service", "system.slice").
		sock(3, 500).sock(7, 501).
		task(30).proc(30, 0, 0, 1, 1, "exited-leader\xff", procExitedLeader|procPathWhole).
		sock(4, 600).
		// A thread of 20 with a table of its own: fd 3 is the leader's
		// already, fd 9 is new.
		proc(20, 1000, 2_500_000_000, 4026531840, 7, "nginx", procOwnTable|procPathWhole, "nginx.service", "system.slice").
		sock(3, 999).sock(9, 502).
		task(40).proc(40, 0, 0, 1, 9, "deep", 0, "c", "b", "a").
		sock(0, 700).
		end(4, 12, 1)
	want := []resolver.Owner{
		{Inode: 500, PID: 20, FD: 3, Proc: 0},
		{Inode: 501, PID: 20, FD: 7, Proc: 0},
		{Inode: 502, PID: 20, FD: 9, Proc: 0},
		{Inode: 600, PID: 30, FD: 4, Proc: 1},
		{Inode: 700, PID: 40, FD: 0, Proc: 2},
	}
	wantProcs := []resolver.Process{
		{PID: 20, Name: "nginx", UID: 1000, NetNS: 4026531840, StartTime: 250, CgroupID: 7, Cgroup: "0::/system.slice/nginx.service\n"},
		{PID: 30, Name: "exited-leader\ufffd", NetNS: 1, CgroupID: 1, Cgroup: "0::/\n"},
		{PID: 40, Name: "deep", NetNS: 1, CgroupID: 9, Cgroup: "0::/.../a/b/c\n"},
	}
	var d decoder
	for cut := 0; cut <= len(in); cut++ {
		var tab resolver.Table
		d.pids = []int32{1, 10, 20, 30, 40, 50}
		d.reset(&tab, true)
		buf := make([]byte, 0, len(in))
		for _, chunk := range [][]byte{in[:cut], in[cut:]} {
			buf = append(buf, chunk...)
			n, err := d.decode(buf)
			require.NoError(t, err)
			buf = buf[:copy(buf, buf[n:])]
		}
		require.Empty(t, buf, "cut at %d", cut)
		require.True(t, d.s.end)
		require.Equal(t, 1, d.ends)
		require.Equal(t, endTotals{processes: 4, fds: 12, exitedLeaders: 1}, d.totals)
		require.Equal(t, []bool{false, true, true, true, true, false}, d.seen)
		require.Equal(t, int32(40), d.s.last)
		tab.Sort()
		require.Equal(t, want, tab.Owners, "cut at %d", cut)
		require.Equal(t, wantProcs, tab.Procs, "cut at %d", cut)
	}
}

func TestDecodeMalformed(t *testing.T) {
	for name, in := range map[string]stream{
		"unknown kind":       stream(nil).task(1).u32(99).u32(0),
		"socket before proc": stream(nil).task(1).sock(3, 4),
	} {
		var d decoder
		var tab resolver.Table
		d.reset(&tab, false)
		_, err := d.decode(in)
		require.ErrorContains(t, err, "record 1: ", name)
	}
}

func TestStartTicks(t *testing.T) {
	for _, tc := range []struct {
		ns     uint64
		offset int64
		want   uint64
	}{
		{0, 0, 0},
		{9_999_999, 0, 0},
		{10_000_000, 0, 1},
		{2_500_000_000, 0, 250},
		{2_500_000_000, 1_000_000_000, 350}, // a time namespace ahead
		{2_500_000_000, -3_000_000_000, 0},  // behind, past the boot
	} {
		require.Equal(t, tc.want, startTicks(tc.ns, tc.offset), "%+v", tc)
	}
}
