package stats

import (
	"math"
	"slices"
)

// swRadixMin is the smallest n sorted by radix sort; below it slices.Sort
// (pdqsort with insertion sort at the leaves) is as fast (see
// BenchmarkSWSort).
const swRadixMin = 96

// swScratch is the recycled working memory of one ShapiroWilk.Test call.
type swScratch struct {
	f      []float64
	k1, k2 []uint64
}

func newSWScratch(n int) *swScratch {
	s := &swScratch{f: make([]float64, n)}
	if n >= swRadixMin {
		s.k1, s.k2 = make([]uint64, n), make([]uint64, n)
	}
	return s
}

// sortInto writes x, sorted ascending, into s.f and returns it. x must hold
// no NaN (callers check finiteness first).
func (s *swScratch) sortInto(x []float64) []float64 {
	y := s.f[:len(x)]
	if len(x) < swRadixMin {
		copy(y, x)
		slices.Sort(y)
		return y
	}
	swRadixSort(y, x, s.k1[:len(x)], s.k2[:len(x)])
	return y
}

// swRadixSort sorts the NaN-free src into dst by a least-significant-digit
// radix sort on the IEEE-754 bits (8-bit digits; digits shared by every key,
// such as most exponent bytes, are skipped). k1 and k2 are scratch slices of
// len(src). Order is that of <, except that −0 precedes +0.
func swRadixSort(dst, src []float64, k1, k2 []uint64) {
	var count [8][256]uint32
	for i, v := range src {
		// Order-preserving key: flip the sign bit of positives, all bits
		// of negatives.
		b := math.Float64bits(v)
		b ^= uint64(int64(b)>>63) | 1<<63
		k1[i] = b
		count[0][b&0xff]++
		count[1][b>>8&0xff]++
		count[2][b>>16&0xff]++
		count[3][b>>24&0xff]++
		count[4][b>>32&0xff]++
		count[5][b>>40&0xff]++
		count[6][b>>48&0xff]++
		count[7][b>>56]++
	}
	n := uint32(len(src))
	in, out := k1, k2
	for d := 0; d < 8; d++ {
		c := &count[d]
		shift := uint(8 * d)
		if c[in[0]>>shift&0xff] == n {
			continue // every key has this digit
		}
		var sum uint32
		for j := range c {
			c[j], sum = sum, sum+c[j]
		}
		for _, b := range in {
			j := b >> shift & 0xff
			out[c[j]] = b
			c[j]++
		}
		in, out = out, in
	}
	for i, b := range in {
		// Undo the key: negatives had all bits flipped (their key's top
		// bit is 0), positives only the sign bit.
		b ^= uint64(int64(^b)>>63) | 1<<63
		dst[i] = math.Float64frombits(b)
	}
}
