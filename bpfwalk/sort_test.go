package bpfwalk

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tcpconn/telegraf-tcpconn/resolver"
)

// TestSortByInode: the owners end up ordered by inode, and are the same
// owners, for sizes on both sides of radixMin and inodes over narrow and
// the widest ranges, some shared by many owners.
func TestSortByInode(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 100, radixMin, 50_000} {
		for _, maxIno := range []uint64{1, 1000, 1 << 32, 1<<64 - 1} {
			owners := make([]resolver.Owner, n)
			for i := range owners {
				// Process by process, fd by fd, as the kernel gives them;
				// some inodes shared.
				owners[i] = resolver.Owner{Inode: rng.Uint64N(maxIno) + 1, PID: int32(i / 100), FD: int32(i % 100)}
			}
			if n > 1000 {
				// A socket inherited by a thousand workers.
				for i := range 1000 {
					owners[rng.IntN(n)] = resolver.Owner{Inode: 77, PID: int32(100000 + i), FD: 3}
				}
			}
			got := slices.Clone(owners)
			sortByInode(got)
			if n < radixMin {
				require.Equal(t, owners, got, "left to Table.Sort")
				continue
			}
			require.True(t, slices.IsSortedFunc(got, func(a, b resolver.Owner) int { return cmp.Compare(a.Inode, b.Inode) }),
				"n %d, inodes up to %d", n, maxIno)
			byAll := func(a, b resolver.Owner) int {
				return cmp.Or(cmp.Compare(a.Inode, b.Inode), cmp.Compare(a.PID, b.PID), cmp.Compare(a.FD, b.FD))
			}
			want := slices.Clone(owners)
			slices.SortFunc(want, byAll)
			slices.SortFunc(got, byAll)
			require.Equal(t, want, got, "the same owners")
		}
	}
}

// BenchmarkSortByInode sorts 200k owners as the kernel gives them, process
// by process, the inodes of a counter in the order a process made them.
func BenchmarkSortByInode(b *testing.B) {
	const n = 200_000
	rng := rand.New(rand.NewPCG(5, 6))
	owners := make([]resolver.Owner, n)
	for i := range owners {
		owners[i] = resolver.Owner{Inode: 8_000_000 + uint64(i)*3/2 + uint64(rng.IntN(2)), PID: int32(i % 12), FD: int32(i)}
	}
	// Process by process: 12 processes, each holding every 12th.
	slices.SortStableFunc(owners, func(a, b resolver.Owner) int { return cmp.Compare(a.PID, b.PID) })
	work := make([]resolver.Owner, n)
	b.ReportAllocs()
	for b.Loop() {
		copy(work, owners)
		sortByInode(work)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/owner")
}
