package bpfwalk

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tcpconn/telegraf-tcpconn/resolver"
)

func TestSortByInode(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var scratch []resolver.Owner
	var counts [1 << radixBits]int
	for _, n := range []int{0, 1, 100, radixMin, 50_000} {
		for _, maxIno := range []uint64{1, 1000, 1 << 32, 1<<64 - 1} {
			owners := make([]resolver.Owner, n)
			for i := range owners {
				// Process by process, fd by fd, as the kernel gives them;
				// some inodes shared.
				owners[i] = resolver.Owner{Inode: rng.Uint64N(maxIno) + 1, PID: int32(i / 100), FD: int32(i % 100)}
			}
			want := slices.Clone(owners)
			slices.SortStableFunc(want, func(a, b resolver.Owner) int {
				if a.Inode < b.Inode {
					return -1
				}
				if a.Inode > b.Inode {
					return 1
				}
				return 0
			})
			if n < radixMin {
				want = slices.Clone(owners) // left to Table.Sort
			}
			var got []resolver.Owner
			got, scratch = sortByInode(owners, scratch, &counts)
			require.True(t, slices.Equal(want, got), "n %d, inodes up to %d", n, maxIno)
		}
	}
}
