//go:build amd64 && !purego

package persample

// accSq32 sets or adds float64(v) into acc and returns the partial sums
// of v² (accsq_amd64.s) for the 16·n16 values of v.
//
//go:noescape
func accSq32(n16 int, acc *float64, v *float32, set bool, out *[16]float64)
