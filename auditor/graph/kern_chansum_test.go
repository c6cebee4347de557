package graph

import (
	"fmt"
	"math"
	"math/rand"
	"testing"
)

// TestChannelSum checks channelSum (channels split over goroutines) bit
// for bit against the serial sum over samples in order, on sizes below and
// above the parallel threshold, in float32 and float64.
func TestChannelSum(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	for _, sz := range [][3]int{{2, 3, 5}, {128, 64, 16}, {128, 192, 4}, {7, 1000, 13}} {
		n, c, p := sz[0], sz[1], sz[2]
		gy := randVec(rng, n*c*p)
		t.Run(fmt.Sprint(sz), func(t *testing.T) {
			want := make([]float64, c)
			for j := range c {
				s := 0.0
				for i := range n {
					r := 0.0
					for _, v := range gy[(i*c+j)*p:][:p] {
						r += v
					}
					s += r
				}
				want[j] = s
			}
			got := make([]float64, c)
			channelSum(got, gy, n, c, p, &scratch[float64]{})
			g32 := make([]float32, len(gy))
			for i, v := range gy {
				g32[i] = float32(v)
			}
			want32 := make([]float32, c)
			for j := range c {
				s := 0.0
				for i := range n {
					r := 0.0
					for _, v := range g32[(i*c+j)*p:][:p] {
						r += float64(v)
					}
					s += r
				}
				want32[j] = float32(s)
			}
			got32 := make([]float32, c)
			channelSum(got32, g32, n, c, p, &scratch[float32]{})
			for j := range c {
				if math.Float64bits(got[j]) != math.Float64bits(want[j]) || math.Float32bits(got32[j]) != math.Float32bits(want32[j]) {
					t.Fatalf("channel %d: %v, %v; want %v, %v", j, got[j], got32[j], want[j], want32[j])
				}
			}
		})
	}
}
