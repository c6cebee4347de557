//go:build gnaudit_cuda

package cuda

import (
	"math"
	"testing"
)

// TestKernelsPropagateNaN: ReLU forward maps NaN to NaN (not 0), its
// backward passes dy at NaN, as PyTorch's relu and threshold_backward and
// the CPU executor; max pooling returns NaN for a window holding one,
// wherever it lies in the window.
func TestKernelsPropagateNaN(t *testing.T) {
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	x := []float32{nan, -1, 0, 2, inf, -inf}
	dy := []float32{1, 2, 3, 4, 5, 6}
	wantY := []float32{nan, 0, 0, 2, inf, 0}
	wantDx := []float32{1, 0, 0, 4, 5, 0}
	dx, ddy := up(t, x), up(t, dy)
	y, _ := dev.Alloc(len(x), 4)
	g, _ := dev.Alloc(len(x), 4)
	defer dev.Free(dx, ddy, y, g)
	if err := dev.Relu(dx, y, len(x)); err != nil {
		t.Fatal(err)
	}
	if err := dev.ReluBackward(dx, ddy, g, len(x)); err != nil {
		t.Fatal(err)
	}
	same := func(what string, got, want []float32) {
		t.Helper()
		for i := range want {
			if got[i] != want[i] && !(math.IsNaN(float64(got[i])) && math.IsNaN(float64(want[i]))) {
				t.Errorf("%s[%d] (x = %g) = %g, want %g", what, i, x[i], got[i], want[i])
			}
		}
	}
	same("relu", down(t, y), wantY)
	same("relu backward", down(t, g), wantDx)

	// One 2×2 plane pooled 2×2 four times, the NaN at each position.
	geom := ConvGeom{N: 4, C: 1, H: 2, W: 2, KH: 2, KW: 2, SH: 2, SW: 2, OH: 1, OW: 1}
	px := []float32{nan, 1, 2, 3, 1, nan, 2, 3, 1, 2, nan, 3, 1, 2, 3, nan}
	dpx := up(t, px)
	py, _ := dev.Alloc(4, 4)
	arg, _ := dev.Alloc(4, 4)
	defer dev.Free(dpx, py, arg)
	if err := dev.MaxPool(geom, dpx, py, arg); err != nil {
		t.Fatal(err)
	}
	for i, v := range down(t, py) {
		if !math.IsNaN(float64(v)) {
			t.Errorf("maxpool with NaN at window position %d = %g, want NaN", i, v)
		}
	}
}
