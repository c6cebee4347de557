package stats

import (
	"math"
	"slices"
	"sync"
)

// radixSortMin is the smallest length that SortFloat64 sorts by radix sort;
// below it slices.Sort (pdqsort with insertion sort at the leaves) is as
// fast (see BenchmarkSWSort).
const radixSortMin = 96

// SortFloat64 writes the values of src, sorted ascending, into dst and
// returns dst[:len(src)]. dst must hold at least len(src) values; it may be
// src itself (an in-place sort). src must hold no NaN (±Inf are fine).
//
// From len(src) = 96 on it is a least-significant-digit radix sort on the
// IEEE-754 bits (8-bit digits; digits shared by every key, such as most
// exponent bytes or the low bytes of float32-rounded data, are skipped),
// 3.4× faster than slices.Sort at n = 600 and 1.4× at n = 96
// (BenchmarkSWSort, docs/performance.md); below 96 it is slices.Sort.
// The order is that of <, except that the radix sort puts −0 before +0.
//
// scratch is the radix sort's working memory: it should hold at least
// 2·len(src) values (it is unused below 96). With a shorter scratch,
// SortFloat64 allocates its own; with a long enough one it allocates
// nothing.
func SortFloat64(dst, src []float64, scratch []uint64) []float64 {
	n := len(src)
	dst = dst[:n]
	if n < radixSortMin {
		copy(dst, src)
		slices.Sort(dst)
		return dst
	}
	if len(scratch) < 2*n {
		scratch = make([]uint64, 2*n)
	}
	radixSort64(dst, src, scratch[:n], scratch[n:2*n])
	return dst
}

// radixSort64 sorts the NaN-free src into dst (both len(src) ≥ 1, dst may
// be src) through the key slices k1 and k2 of len(src).
func radixSort64(dst, src []float64, k1, k2 []uint64) {
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
	// Reslicing to len(src), a no-op for the caller's slices, gives in and
	// out one length that the compiler knows: the scatter loop's bounds
	// check then uses it, and the sort measured ~20 % faster
	// (BenchmarkSWSort, n = 600 and 5000).
	in, out := k1[:len(src)], k2[:len(src)]
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

// SortFloat32To64 writes the float32 values of src, sorted ascending and
// converted to float64, into dst (which must hold at least len(src)
// values). It reports false, leaving dst unspecified, when src holds a NaN
// or ±Inf. It is a radix sort on the 32-bit keys at every length: 4 digit
// passes on half the memory, against 5 or more on the 64-bit keys of the
// converted values (BenchmarkSortColumn600 in auditor/statsrun: sort and
// Shapiro–Wilk test of a float32 column in ~1.8× less time than converting,
// then SortFloat64). The order is that of <, except that −0 precedes +0.
//
// scratch should hold at least 2·len(src) values; with a shorter one
// SortFloat32To64 allocates its own, with a long enough one nothing.
func SortFloat32To64(dst []float64, src []float32, scratch []uint32) bool {
	n := len(src)
	if len(scratch) < 2*n {
		scratch = make([]uint32, 2*n)
	}
	return radixSort32To64(dst[:n], src, scratch[:n], scratch[n:2*n])
}

// radixSort32To64 is SortFloat32To64 with the key slices k1 and k2 of
// len(src). (Kept apart from the scratch check: with the make of that
// check in the same function, this loop measured slower.)
func radixSort32To64(dst []float64, src []float32, k1, k2 []uint32) bool {
	var count [4][256]uint32
	for i, v := range src {
		b := math.Float32bits(v)
		if b&0x7f800000 == 0x7f800000 {
			return false // exponent all ones: NaN or ±Inf
		}
		b ^= uint32(int32(b)>>31) | 1<<31
		k1[i] = b
		count[0][b&0xff]++
		count[1][b>>8&0xff]++
		count[2][b>>16&0xff]++
		count[3][b>>24]++
	}
	if len(src) == 0 {
		return true
	}
	// The digit passes of radixSort64 on 32-bit keys. They are kept as a
	// copy on purpose: one generic function over the key type measured
	// ~30 % slower at n = 600 and 5000 (register spills in the scatter
	// loop, and a shift-count check, since the digit count is no longer a
	// constant).
	n := uint32(len(src))
	// Resliced to len(src), as in radixSort64 (~25 % faster here).
	in, out := k1[:len(src)], k2[:len(src)]
	for d := 0; d < 4; d++ {
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
		b ^= uint32(int32(^b)>>31) | 1<<31
		dst[i] = float64(math.Float32frombits(b))
	}
	return true
}

// sortScratch is recycled working memory for sorting a copy of a float64
// sample: the sorted copy and the radix sort's keys.
type sortScratch struct {
	f []float64
	k []uint64
}

// newSortScratch returns a scratch sized for samples of n values.
func newSortScratch(n int) *sortScratch {
	s := &sortScratch{f: make([]float64, n)}
	if n >= radixSortMin {
		s.k = make([]uint64, 2*n)
	}
	return s
}

// sorted writes x, sorted ascending, into the scratch (grown when x is
// longer than it was sized for) and returns it. x must hold no NaN.
func (s *sortScratch) sorted(x []float64) []float64 {
	n := len(x)
	if cap(s.f) < n {
		s.f = make([]float64, n)
	}
	if n >= radixSortMin && cap(s.k) < 2*n {
		s.k = make([]uint64, 2*n)
	}
	return SortFloat64(s.f[:n], x, s.k[:cap(s.k)])
}

// sortPool recycles sortScratch values for the functions that sort a copy
// of a sample of any size (McCulloch).
var sortPool = sync.Pool{New: func() any { return new(sortScratch) }}
