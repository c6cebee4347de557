package irtest

import (
	"slices"
	"testing"

	"github.com/gnaudit/gnaudit/auditor/ir"
)

// TestBuilder: the model New and the adders make, field by field.
func TestBuilder(t *testing.T) {
	b := New(13, 1, -1, 3)
	w := b.Param("w", 0.1, true, 2, 3)
	lo := b.Positive("lo", 1, 2, 4)
	sh := b.Ints("shape", 1, -1)
	one := b.ParamVals("one", []float32{1}, false, 1)
	h := b.Op("Gemm", Attrs("transB", Int(1), "alpha", Float(2)), "x", w)
	out := b.Output(b.Op("Reshape", nil, h, sh))
	in := out.Inputs[0]
	if in.Name != "x" || len(in.Shape) != 2 || in.Shape[0].Param != "batch" || in.Shape[1].Value != 3 {
		t.Errorf("input %+v", in)
	}
	if out.Opset != 13 || out.Outputs[0].Name != "Reshape_2_out" || h != "Gemm_1_out" {
		t.Errorf("opset %d, output %+v, first node output %q", out.Opset, out.Outputs, h)
	}
	if !slices.Equal(out.InitOrder, []string{w, lo, sh, one}) || !slices.Equal(out.Trainable, []string{"w"}) {
		t.Errorf("init order %v, trainable %v", out.InitOrder, out.Trainable)
	}
	if n := out.Nodes[0]; n.Name != "Gemm_1" || n.Attrs["transB"].Int != 1 || n.Attrs["alpha"].Float != 2 || !slices.Equal(n.Inputs, []string{"x", "w"}) {
		t.Errorf("node %+v", n)
	}
	if v := out.Initializers["lo"].F32; len(v) != 4 || slices.Min(v) < 1 || slices.Max(v) >= 2 {
		t.Errorf("positive values %v", v)
	}
	if v := out.Initializers["w"].F32; len(v) != 6 || slices.Max(v) == 0 {
		t.Errorf("param values %v", v)
	}
	if s := out.Initializers["shape"]; s.Type != ir.Int64 || !slices.Equal(s.I64, []int64{1, -1}) {
		t.Errorf("ints %+v", s)
	}
	if a := Ints(1, 2); a.Kind != ir.AttrInts || !slices.Equal(a.Ints, []int64{1, 2}) || String("s").String != "s" {
		t.Errorf("attrs %+v", a)
	}
	// The same seed gives the same values.
	b2 := New(13, 1)
	b2.Param("w", 0.1, true, 2, 3)
	if !slices.Equal(out.Initializers["w"].F32, b2.Model.Initializers["w"].F32) {
		t.Error("seeded values differ")
	}
}
