//go:build !openblas

package graph

import "testing"

// TestUseOurSgemm: the pure-Go build routes nothing (its BLAS is
// auditor/internal/sgemm's already).
func TestUseOurSgemm(t *testing.T) {
	for _, s := range gemmRuleShapes {
		if useOurSgemm(s.tA, s.tB, s.m, s.n, s.k) {
			t.Errorf("useOurSgemm(%v, %v, %d, %d, %d) = true in the pure-Go build", s.tA, s.tB, s.m, s.n, s.k)
		}
	}
}
