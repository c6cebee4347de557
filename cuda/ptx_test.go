package cuda

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// ptxEntry returns the body of kernel name in the committed PTX.
func ptxEntry(t *testing.T, ptx, name string) string {
	t.Helper()
	i := strings.Index(ptx, ".entry "+name+"(")
	if i < 0 {
		t.Fatalf("kernels.ptx has no kernel %s", name)
	}
	body := ptx[i:]
	if j := strings.Index(body[1:], ".entry "); j >= 0 {
		body = body[:j+1]
	}
	return body
}

// TestPTXPropagatesNaN checks, without a GPU, that the committed PTX
// (make ptx) propagates NaN as the CPU executor and PyTorch do: ReLU must
// not use max.f32 (PTX's max returns the non-NaN operand, mapping NaN to
// 0) and may only compare x with ordered comparisons (an unordered one,
// setp.leu, is true for NaN and zeroes it); its backward passes dy at NaN
// (threshold_backward); max pooling tests for NaN (|v| > Inf). The GPU
// itself runs the same cases in TestKernelsPropagateNaN.
func TestPTXPropagatesNaN(t *testing.T) {
	b, err := os.ReadFile("kernels.ptx")
	if err != nil {
		t.Fatal(err)
	}
	ptx := string(b)
	unordered := regexp.MustCompile(`setp\.(equ|neu|ltu|leu|gtu|geu|nan|num)\.f32`)
	for _, k := range []string{"relu_fwd", "relu_bwd"} {
		body := ptxEntry(t, ptx, k)
		if strings.Contains(body, "max.f32") || strings.Contains(body, "min.f32") {
			t.Errorf("%s uses max.f32/min.f32, which drop NaN", k)
		}
		if m := unordered.FindString(body); m != "" {
			t.Errorf("%s compares with %s, true for NaN", k, m)
		}
		if !strings.Contains(body, "setp.le.f32") {
			t.Errorf("%s: no ordered x <= 0 test (setp.le.f32)", k)
		}
	}
	if !strings.Contains(ptxEntry(t, ptx, "relu_fwd"), "selp.f32") {
		t.Errorf("relu_fwd: no select of x or 0 (selp.f32)")
	}
	if !strings.Contains(ptxEntry(t, ptx, "maxpool_fwd"), "0f7F800000") {
		t.Errorf("maxpool_fwd: no NaN test (|v| against +Inf)")
	}
}
