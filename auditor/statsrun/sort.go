package statsrun

import (
	"math"
	"slices"
)

// radixMin is the column length from which sortInto uses radix sort
// (below it pdqsort is as fast).
const radixMin = 96

// sortInto writes the NaN-free x, sorted ascending, into dst (len(x)),
// using k1, k2 (len(x)) as scratch. It is a local copy of the LSD radix sort
// that plugins/stats uses inside ShapiroWilk.Test (unexported there); the
// sorted column is shared here by Shapiro–Wilk and McCulloch, so statsrun
// needs the sort itself. Order is that of <, except that −0 precedes +0.
func sortInto(dst, x []float64, k1, k2 []uint64) {
	if len(x) < radixMin {
		copy(dst, x)
		slices.Sort(dst)
		return
	}
	var count [8][256]uint32
	for i, v := range x {
		// Order-preserving key: flip the sign bit of positives, every bit
		// of negatives.
		b := math.Float64bits(v)
		b ^= uint64(int64(b)>>63) | 1<<63
		k1[i] = b
		for d := 0; d < 8; d++ {
			count[d][b>>(8*d)&0xff]++
		}
	}
	n := uint32(len(x))
	in, out := k1[:len(x)], k2[:len(x)]
	for d := 0; d < 8; d++ {
		c := &count[d]
		shift := uint(8 * d)
		if c[in[0]>>shift&0xff] == n {
			continue // a digit every key shares (e.g. float32 data's low bytes)
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
		b ^= uint64(int64(^b)>>63) | 1<<63
		dst[i] = math.Float64frombits(b)
	}
}

// sortFloat32Into writes the float32 values x, sorted ascending and
// converted to float64, into dst (len(x)), with k1, k2 (len(x)) as scratch.
// It reports false, leaving dst unspecified, when x holds a NaN or ±Inf.
// Sorting the 32-bit keys of float32 data takes 4 digit passes on half the
// memory, against 5 or more on the 64-bit keys of the converted values.
func sortFloat32Into(dst []float64, x []float32, k1, k2 []uint32) bool {
	var count [4][256]uint32
	for i, v := range x {
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
	if len(x) == 0 {
		return true
	}
	n := uint32(len(x))
	in, out := k1[:len(x)], k2[:len(x)]
	for d := 0; d < 4; d++ {
		c := &count[d]
		shift := uint(8 * d)
		if c[in[0]>>shift&0xff] == n {
			continue
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
