package bpfwalk

import (
	"math/bits"

	"github.com/tcpconn/telegraf-tcpconn/resolver"
)

// radixMin is the number of owners from which sortByInode pays: below it,
// Table.Sort's comparison sort is as fast.
const radixMin = 4096

// digitBits is the width of a digit; insertionMax the size of a bucket
// that insertion sort finishes.
const (
	digitBits    = 8
	insertionMax = 24
)

// sortByInode sorts owners by Inode in place, for Table.Sort, which then
// orders equal inodes by pid and fd and finds all else in order already.
// It is a radix sort, most significant digit first, bucket by bucket
// (American flag sort) on inode - min: in place, because the owners are
// the largest thing a walk keeps, and the second array of a least
// significant digit first sort was 4.8 MB of peak memory at 200,000
// sockets. Either takes a few milliseconds there, where a comparison sort
// takes ten or more.
func sortByInode(owners []resolver.Owner) {
	if len(owners) < radixMin {
		return
	}
	lo, hi := owners[0].Inode, owners[0].Inode
	for i := range owners {
		lo, hi = min(lo, owners[i].Inode), max(hi, owners[i].Inode)
	}
	sortDigits(owners, lo, bits.Len64(hi-lo))
}

// sortDigits sorts s, whose inodes are base plus width bits, by the top
// digit of those bits, then each bucket by the rest.
func sortDigits(s []resolver.Owner, base uint64, width int) {
	if len(s) <= insertionMax || width == 0 {
		insertionSort(s) // width 0: the inodes are all equal
		return
	}
	shift := max(width-digitBits, 0)
	digit := func(o *resolver.Owner) int { return int((o.Inode-base)>>shift) & (1<<digitBits - 1) }
	var count, next, end [1 << digitBits]int
	for i := range s {
		count[digit(&s[i])]++
	}
	sum := 0
	for d, c := range &count {
		next[d] = sum
		sum += c
		end[d] = sum
	}
	// Each owner is swapped straight into its bucket's next free place.
	for d := range count {
		for next[d] < end[d] {
			k := digit(&s[next[d]])
			if k == d {
				next[d]++
				continue
			}
			s[next[d]], s[next[k]] = s[next[k]], s[next[d]]
			next[k]++
		}
	}
	if shift == 0 {
		return // each bucket holds one inode
	}
	start := 0
	for d, c := range &count {
		if c > 1 {
			sortDigits(s[start:start+c], base+uint64(d)<<shift, shift)
		}
		start += c
	}
}

func insertionSort(s []resolver.Owner) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j].Inode < s[j-1].Inode; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}
