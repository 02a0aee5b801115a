package bpfwalk

import (
	"math/bits"

	"github.com/tcpconn/telegraf-tcpconn/resolver"
)

// radixMin is the number of owners from which sortByInode pays: below it,
// Table.Sort's comparison sort is as fast.
const radixMin = 4096

// radixBits is the width of a digit: 2^11 counters stay in the L1 cache.
const radixBits = 11

// sortByInode sorts owners by Inode, keeping the order of equal inodes
// (stable, least significant digit first), and returns the sorted slice,
// which is either owners or scratch: the other one is left as scratch for
// the next call. The kernel gives the owners process by process and fd by
// fd, so that equal inodes (a shared socket) mostly come in pid and fd
// order already and Table.Sort, which then finishes the order, has all but
// nothing left to do. At 200,000 owners it takes a few milliseconds where
// the comparison sort takes ten or more.
func sortByInode(owners, scratch []resolver.Owner, counts *[1 << radixBits]int) (sorted, rest []resolver.Owner) {
	n := len(owners)
	if n < radixMin {
		return owners, scratch
	}
	var maxIno uint64
	for i := range owners {
		maxIno = max(maxIno, owners[i].Inode)
	}
	if cap(scratch) < n {
		scratch = make([]resolver.Owner, n)
	}
	scratch = scratch[:n]
	src, dst := owners, scratch
	for shift := 0; shift < bits.Len64(maxIno); shift += radixBits {
		clear(counts[:])
		for i := range src {
			counts[(src[i].Inode>>shift)&(1<<radixBits-1)]++
		}
		sum := 0
		for d, c := range counts {
			counts[d] = sum
			sum += c
		}
		for i := range src {
			d := (src[i].Inode >> shift) & (1<<radixBits - 1)
			dst[counts[d]] = src[i]
			counts[d]++
		}
		src, dst = dst, src
	}
	return src, dst
}
