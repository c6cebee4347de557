package float16

import (
	"fmt"
	"math"
	"testing"
)

// Every binary16 value converts to float32 and back unchanged (NaNs stay
// NaN), and every midpoint between neighbours rounds to the even one.
func TestHalfRoundTripAndTies(t *testing.T) {
	for h := 0; h < 1<<16; h++ {
		f := ToFloat32(uint16(h))
		got := FromFloat32(f)
		if math.IsNaN(float64(f)) {
			if got&0x7c00 != 0x7c00 || got&0x3ff == 0 {
				t.Fatalf("NaN %#04x -> %#04x", h, got)
			}
			continue
		}
		if got != uint16(h) {
			t.Fatalf("%#04x -> %v -> %#04x", h, f, got)
		}
		if h&0x7fff >= 0x7bff { // the next value is Inf or NaN
			continue
		}
		next := ToFloat32(uint16(h + 1))
		mid := float32((float64(f) + float64(next)) / 2)
		want := uint16(h)
		if want&1 == 1 {
			want++
		}
		if got := FromFloat32(mid); got != want {
			t.Fatalf("midpoint of %#04x and %#04x -> %#04x, want %#04x", h, h+1, got, want)
		}
	}
}

func TestSpecialValues(t *testing.T) {
	for _, c := range []struct {
		f    float32
		want uint16
	}{
		{65504, 0x7bff}, {65519, 0x7bff}, {65520, 0x7c00}, {1e10, 0x7c00}, {-1e10, 0xfc00},
		{0x1p-25, 0}, {0x1.8p-25, 1}, {0x1p-26, 0}, {float32(math.Inf(1)), 0x7c00}, {float32(math.Inf(-1)), 0xfc00},
		{1, 0x3c00}, {-2, 0xc000}, {0x1p-24, 1},
	} {
		if got := FromFloat32(c.f); got != c.want {
			t.Errorf("FromFloat32(%v) = %#04x, want %#04x", c.f, got, c.want)
		}
	}
	if h := BFloat16FromFloat32(float32(math.NaN())); h&0x7f80 != 0x7f80 || h&0x7f == 0 {
		t.Errorf("BFloat16FromFloat32(NaN) = %#04x", h)
	}
}

// Every bfloat16 value converts back unchanged, and midpoints round to even.
func TestBFloat16RoundTripAndTies(t *testing.T) {
	for h := 0; h < 1<<16; h++ {
		f := BFloat16ToFloat32(uint16(h))
		if math.IsNaN(float64(f)) {
			continue
		}
		if got := BFloat16FromFloat32(f); got != uint16(h) {
			t.Fatalf("%#04x -> %v -> %#04x", h, f, got)
		}
		if h&0x7fff >= 0x7f7f {
			continue
		}
		mid := float32((float64(f) + float64(BFloat16ToFloat32(uint16(h+1)))) / 2)
		want := uint16(h)
		if want&1 == 1 {
			want++
		}
		if got := BFloat16FromFloat32(mid); got != want {
			t.Fatalf("midpoint of %#04x and %#04x -> %#04x, want %#04x", h, h+1, got, want)
		}
	}
}

func ExampleFromFloat32() {
	h := FromFloat32(0.1)
	fmt.Printf("%#04x %v\n", h, ToFloat32(h))
	// Output: 0x2e66 0.099975586
}
