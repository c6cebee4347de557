//go:build openblas

package graph

import "testing"

// TestUseOurSgemm: the OpenBLAS build routes exactly the shapes of
// gemmRuleShapes marked routed to auditor/internal/sgemm on CPUs with its
// AVX-512 kernel (routed) or with the AVX2 one only (avx2), none elsewhere.
func TestUseOurSgemm(t *testing.T) {
	if !oursAVX512 && !oursAVX2 {
		t.Logf("no AVX2 or AVX-512 kernel on this CPU: nothing routed")
	}
	for _, s := range gemmRuleShapes {
		want := s.routed && oursAVX512 || s.avx2 && oursAVX2
		if got := useOurSgemm(s.tA, s.tB, s.m, s.n, s.k); got != want {
			t.Errorf("useOurSgemm(%v, %v, %d, %d, %d) = %v, want %v", s.tA, s.tB, s.m, s.n, s.k, got, want)
		}
	}
}
