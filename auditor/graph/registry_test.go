package graph

import (
	"slices"
	"testing"
)

// TestRegistryEntries: every registered operator can be built on graph
// values or evaluated at build time, states its per-sample rule or why
// there is none, names a known rule, has a sane opset range, and the GPU
// path only claims operators the CPU executor runs (its reference).
func TestRegistryEntries(t *testing.T) {
	rules := []string{RuleConv, RuleGemm, RuleMatMul, RuleBatchNorm, RuleBinary, RuleLayerNorm, RuleInstanceNorm, RuleEmbedding, RuleExpand, RuleEinsum}
	ops := Ops()
	if len(ops) < 70 {
		t.Errorf("%d operators registered", len(ops))
	}
	for _, s := range ops {
		switch {
		case !s.Graph && !s.Const:
			t.Errorf("%s: neither a graph operator nor a build-time evaluation", s.Op)
		case (s.PerSample == "") == (s.Fallback == ""):
			t.Errorf("%s: PerSample %q and Fallback %q: exactly one must be set", s.Op, s.PerSample, s.Fallback)
		case s.PerSample != "" && !slices.Contains(rules, s.PerSample):
			t.Errorf("%s: unknown per-sample rule %q", s.Op, s.PerSample)
		case s.Since < 1 || s.Since > s.Until || s.Until > MaxOpset:
			t.Errorf("%s: opsets %d-%d", s.Op, s.Since, s.Until)
		case s.GPU && !s.Graph:
			t.Errorf("%s: GPU without a CPU graph operator", s.Op)
		case (s.MovedBatch || s.Copy || s.PerSample != "") && !s.Graph:
			t.Errorf("%s: moved-batch, copy or per-sample flags on a build-time-only operator", s.Op)
		case s.Shape == "" || s.Family == "":
			t.Errorf("%s: no shape rule or family", s.Op)
		}
		if l, ok := Lookup(s.Op); !ok || l.Op != s.Op || !IsSupportedOp(s.Op) {
			t.Errorf("%s: Lookup %v %v", s.Op, l.Op, ok)
		}
	}
	if _, ok := Lookup("LRN"); ok || IsSupportedOp("LRN") {
		t.Error("LRN is not an executor operator")
	}
	want := []string{"AveragePool", "BatchNormalization", "Conv", "Dropout", "Flatten", "Gemm", "GlobalAveragePool", "Identity", "MatMul", "MaxPool", "Relu", "Reshape"}
	if got := GPUOps(); !slices.Equal(got, append([]string{"Add"}, want...)) {
		t.Errorf("GPU operators %v", got)
	}
}

// TestRegistryOpsetRange: an operator used below its first opset is
// refused with the range (LayerNormalization exists from opset 17).
func TestRegistryOpsetRange(t *testing.T) {
	b := newModel(13, -1, 4)
	ln := b.op("LayerNormalization", at("axis", ai(-1)), "x", b.param("s", 1, true, 4), b.param("c", 1, true, 4))
	m := b.output(b.op("Gemm", at("transB", ai(1)), ln, b.param("w", 1, true, 3, 4)))
	ps := Check(m, 1)
	if len(ps) != 1 || ps[0].OpType != "LayerNormalization" || ps[0].Cause != "operator is accepted at opsets 17-18; the model's opset is 13" || ps[0].Hint == "" {
		t.Errorf("problems %+v", ps)
	}
	m.Opset = 17
	if ps := Check(m, 1); len(ps) != 0 {
		t.Errorf("opset 17: %v", ps)
	}
}
