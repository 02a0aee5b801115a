package resolver

import (
	"cmp"
	"encoding/binary"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestLookup(t *testing.T) {
	var owners []Owner
	add := func(inode uint64, n int) {
		for k := range n {
			owners = append(owners, Owner{Inode: inode, PID: int32(k + 1), FD: 3})
		}
	}
	add(0, 1)
	add(5, 2)
	add(7, 8) // exactly the scan limit
	add(9, 9)
	add(10, 1000) // a socket inherited by many workers
	add(1<<64-1, 3)
	plain := &Table{Owners: owners}
	indexed := &Table{Owners: owners}
	indexed.Index()

	tests := []struct {
		inode uint64
		n     int
	}{
		{0, 1}, {1, 0}, {5, 2}, {6, 0}, {7, 8}, {8, 0}, {9, 9}, {10, 1000}, {11, 0}, {1<<64 - 1, 3}, {1<<64 - 2, 0},
	}
	for _, tab := range []*Table{plain, indexed} {
		for _, tt := range tests {
			i, j := tab.Lookup(tt.inode)
			require.Equal(t, tt.n, j-i, "inode %d", tt.inode)
			for _, o := range tab.Owners[i:j] {
				require.Equal(t, tt.inode, o.Inode)
			}
			if tt.n == 0 {
				// i is where the inode would go.
				require.True(t, i == len(owners) || owners[i].Inode > tt.inode, "inode %d", tt.inode)
			}
		}
		require.Zero(t, testing.AllocsPerRun(100, func() { tab.Lookup(10) }))
	}
	i, j := (&Table{}).Lookup(1)
	require.Equal(t, [2]int{0, 0}, [2]int{i, j})
	empty := &Table{}
	empty.Index()
	i, j = empty.Lookup(1)
	require.Equal(t, [2]int{0, 0}, [2]int{i, j})

	// An index is of the Owners it was built for: after they change
	// length, Lookup bisects.
	indexed.Owners = owners[:3]
	i, j = indexed.Lookup(10)
	require.Equal(t, [2]int{3, 3}, [2]int{i, j})
}

// TestLookupAgainstBisection compares Lookup with a plain lower bound on
// evenly spread, clustered and sparse inodes, present and absent.
func TestLookupAgainstBisection(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, spread := range []func(int) uint64{
		func(i int) uint64 { return uint64(1000 + 3*i) },                       // a counter
		func(i int) uint64 { return uint64(i/100)*1e9 + uint64(i%100) },        // clusters
		func(int) uint64 { return rng.Uint64() },                               // anywhere
		func(i int) uint64 { return uint64(i) * uint64(i) * uint64(i) % 1e12 }, // uneven
	} {
		owners := make([]Owner, 5000)
		for i := range owners {
			owners[i] = Owner{Inode: spread(i), PID: int32(i)}
		}
		slices.SortFunc(owners, func(a, b Owner) int { return cmp.Compare(a.Inode, b.Inode) })
		plain := &Table{Owners: owners}
		tab := &Table{Owners: owners}
		tab.Index()
		for range 20000 {
			var inode uint64
			if rng.IntN(2) == 0 {
				inode = owners[rng.IntN(len(owners))].Inode
			} else {
				inode = owners[rng.IntN(len(owners))].Inode + uint64(rng.IntN(3)) - 1
			}
			want := sort.Search(len(owners), func(k int) bool { return owners[k].Inode >= inode })
			for _, tab := range []*Table{plain, tab} {
				i, j := tab.Lookup(inode)
				require.Equal(t, want, i, "inode %d", inode)
				for k := i; k < j; k++ {
					require.Equal(t, inode, owners[k].Inode)
				}
				require.True(t, j == len(owners) || owners[j].Inode != inode)
			}
		}
	}
}

// Sort orders a table filled in any order, and every owner still names
// its process.
func TestSort(t *testing.T) {
	tab := &Table{
		Procs: []Process{{PID: 30, Name: "c"}, {PID: 10, Name: "a"}, {PID: 20, Name: "b"}},
		Owners: []Owner{
			{Inode: 7, PID: 20, FD: 4, Proc: 2},
			{Inode: 5, PID: 30, FD: 1, Proc: 0},
			{Inode: 7, PID: 10, FD: 9, Proc: 1},
			{Inode: 7, PID: 10, FD: 3, Proc: 1},
		},
		Unwalked: []Unwalked{{PID: 9, Reason: Denied}, {PID: 2, Reason: Stopped}},
	}
	tab.Sort()
	require.Equal(t, []Process{{PID: 10, Name: "a"}, {PID: 20, Name: "b"}, {PID: 30, Name: "c"}}, tab.Procs)
	require.Equal(t, []Owner{
		{Inode: 5, PID: 30, FD: 1, Proc: 2},
		{Inode: 7, PID: 10, FD: 3, Proc: 0},
		{Inode: 7, PID: 10, FD: 9, Proc: 0},
		{Inode: 7, PID: 20, FD: 4, Proc: 1},
	}, tab.Owners)
	require.Equal(t, []Unwalked{{PID: 2, Reason: Stopped}, {PID: 9, Reason: Denied}}, tab.Unwalked)

	u, ok := tab.FindUnwalked(9)
	require.True(t, ok)
	require.Equal(t, Denied, u.Reason)
	_, ok = tab.FindUnwalked(10)
	require.False(t, ok)
}

// FuzzLookup: for any sorted inodes, with duplicates and extremes, the
// indexed Lookup finds what a plain lower bound finds.
func FuzzLookup(f *testing.F) {
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0}, uint64(5))
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, uint64(1<<63))
	f.Add([]byte{0xf0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, ^uint64(0))
	f.Fuzz(func(t *testing.T, raw []byte, probe uint64) {
		var owners []Owner
		for len(raw) >= 8 {
			owners = append(owners, Owner{Inode: binary.LittleEndian.Uint64(raw)})
			raw = raw[8:]
		}
		slices.SortFunc(owners, func(a, b Owner) int { return cmp.Compare(a.Inode, b.Inode) })
		tab := &Table{Owners: owners}
		tab.Index()
		probes := []uint64{probe, probe + 1, probe - 1}
		for _, o := range owners {
			probes = append(probes, o.Inode, o.Inode+1, o.Inode-1)
		}
		for _, inode := range probes {
			want := sort.Search(len(owners), func(k int) bool { return owners[k].Inode >= inode })
			end := sort.Search(len(owners), func(k int) bool { return owners[k].Inode > inode })
			i, j := tab.Lookup(inode)
			if i != want || j != end {
				t.Fatalf("inode %d: Lookup [%d, %d), want [%d, %d) in %v", inode, i, j, want, end, owners)
			}
		}
	})
}

// BenchmarkLookup looks up 200k socket inodes, in a random order as a
// socket table gives them, among 200k owners: inodes from a counter, as
// the kernel's, and a few old sockets far below them.
func BenchmarkLookup(b *testing.B) {
	const n = 200000
	rng := rand.New(rand.NewPCG(3, 4))
	owners := []Owner{{Inode: 1526}, {Inode: 20011}}
	next := uint64(8_000_000)
	for len(owners) < n {
		next += 1 + uint64(rng.IntN(2)) // pipes and files take inodes too
		owners = append(owners, Owner{Inode: next})
	}
	probes := make([]uint64, n)
	for i := range probes {
		probes[i] = owners[rng.IntN(n)].Inode
	}
	for _, indexed := range []bool{false, true} {
		name := "bisection"
		if indexed {
			name = "index"
		}
		b.Run(name, func(b *testing.B) {
			tab := &Table{Owners: owners}
			if indexed {
				tab.Index()
			}
			found := 0
			for b.Loop() {
				for _, inode := range probes {
					i, j := tab.Lookup(inode)
					found += j - i
				}
			}
			require.Equal(b, b.N*n, found)
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/lookup")
		})
	}
}
