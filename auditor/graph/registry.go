package graph

import (
	"fmt"
	"slices"
	"sort"

	"github.com/gnaudit/gnaudit/auditor/ir"
)

// The operator registry: every ONNX operator gnaudit knows is described
// once, by an OpSpec registered from the family file that implements it
// (registry_*.go, ops_*.go). The executor dispatches through it, the
// per-sample planner (auditor/persample) takes each operator's per-sample
// rule from it, the GPU path (cuda) asks it which operators it runs, and
// `gnaudit models inspect` reports the executor's verdict, so the four
// cannot disagree. docs/onnx-import.md says how to add an operator.

// MaxOpset is the newest default-domain opset the executor accepts.
const MaxOpset = 18

// OpSpec is the one description of an ONNX operator (default domain).
type OpSpec struct {
	// Op is the ONNX operator type, e.g. "Conv".
	Op string
	// Family names the group of operators (and the file) it belongs to.
	Family string
	// Since and Until bound the opsets the operator is accepted at (Until
	// 0: MaxOpset). Since is the operator's first version in ONNX.
	Since, Until int64
	// Attrs are the attributes the operator honours; any other attribute
	// is an error naming the node.
	Attrs []string
	// Shape states how the output shape follows from the inputs (shape
	// inference is the build itself: Net.Shape and Analyze report the
	// shapes the operators compute).
	Shape string
	// Const is true when the operator is evaluated at build time once all
	// its inputs are constants (Shape and Size: once the input's shape is
	// known); it is the executor's one constant folder.
	Const bool
	// Graph is true when the operator runs on graph values (CPU forward
	// and backward kernels); an operator with Const only is refused on
	// values computed from the data.
	Graph bool
	// MovedBatch is true when the operator accepts a value whose batch is
	// not its leading axis (batchlayout.go), checking that it does not
	// combine samples.
	MovedBatch bool
	// Copy is true when the operator passes its data input (input 0) on
	// unchanged up to its shape or the order of its elements: the
	// per-sample planner follows a parameter through it to its layer.
	Copy bool
	// PerSample names the per-sample rule auditor/persample applies to a
	// parameter read by this operator (one of the Rule constants), or ""
	// when a parameter read here takes the batch-1 fallback.
	PerSample string
	// Fallback says why a parameter read by this operator takes the batch-1
	// fallback (PerSample == "").
	Fallback string
	// Roles name the role of a parameter in each input slot ("weight",
	// "bias", "bn_scale", "bn_shift"; "" or a missing slot: "other"), the
	// kind the per-sample engine reports for a layer's parameter.
	Roles []string
	// Params is the operator's part of the trainable rule (Trainable,
	// ir.Model.Trainable): the input slots that hold a learnable parameter
	// when a float initializer feeds them, and whether a parameter passes
	// through the operator to its layer.
	Params ParamSlots
	// GPU is true when the GPU path (cuda.Net) runs the operator.
	GPU bool
	// Note states restrictions a user may meet.
	Note string

	build buildFns
	eval  constFn
}

// Per-sample rules: the names auditor/persample implements (its
// TestRegistryRules checks that every rule named here exists).
const (
	RuleConv         = "conv"         // Conv weight (im2col of x_i times δ_i) and bias
	RuleGemm         = "gemm"         // Gemm B (α a_i δ_iᵀ, per row of a sequence) and C
	RuleMatMul       = "matmul"       // MatMul of sample data by a weight
	RuleBatchNorm    = "batchnorm"    // BatchNormalization scale (Σ δ x̂) and shift (Σ δ)
	RuleBinary       = "binary"       // Add/Sub/Mul/Div of sample data and a parameter (broadcast sums)
	RuleLayerNorm    = "layernorm"    // LayerNormalization scale and bias
	RuleInstanceNorm = "instancenorm" // InstanceNormalization scale and bias
	RuleEmbedding    = "embedding"    // Gather of a parameter table by per-sample ids
	RuleExpand       = "expand"       // Expand of a parameter over the batch (class token)
	RuleEinsum       = "einsum"       // Einsum of sample data with a weight (ops_einsum.go)
)

// buildFns builds a node on graph values, in float32 and float64.
type buildFns struct {
	f32 func(*builder[float32], *ir.Node) error
	f64 func(*builder[float64], *ir.Node) error
}

// with pairs the two instantiations of a builder method, e.g.
// with((*builder[float32]).conv, (*builder[float64]).conv).
func with(f32 func(*builder[float32], *ir.Node) error, f64 func(*builder[float64], *ir.Node) error) buildFns {
	return buildFns{f32, f64}
}

// constFn evaluates a node on constant inputs ins (nil for absent optional
// inputs).
type constFn func(b *builderBase, n *ir.Node, ins []*cval) (*cval, error)

var registry = map[string]*OpSpec{}

// register adds operators to the registry; each family file calls it from
// an init function. A second description of one operator panics at start.
func register(specs ...OpSpec) {
	for _, s := range specs {
		if _, dup := registry[s.Op]; dup {
			panic(fmt.Sprintf("graph: operator %s registered twice", s.Op))
		}
		if s.Since == 0 {
			s.Since = 1
		}
		if s.Until == 0 {
			s.Until = MaxOpset
		}
		s.Graph = s.build.f32 != nil
		s.Const = s.eval != nil
		if s.Graph != (s.build.f64 != nil) {
			panic(fmt.Sprintf("graph: operator %s has a builder for one float type only", s.Op))
		}
		sp := s
		registry[s.Op] = &sp
	}
}

// Lookup returns the description of a default-domain operator.
func Lookup(op string) (OpSpec, bool) {
	s, ok := registry[op]
	if !ok {
		return OpSpec{}, false
	}
	c := *s
	c.Attrs, c.Roles = slices.Clone(s.Attrs), slices.Clone(s.Roles)
	c.Params.Slots = slices.Clone(s.Params.Slots)
	return c, true
}

// Ops returns every registered operator, sorted by name.
func Ops() []OpSpec {
	r := make([]OpSpec, 0, len(registry))
	for _, s := range registry {
		c := *s
		c.Attrs, c.Roles = slices.Clone(s.Attrs), slices.Clone(s.Roles)
		c.Params.Slots = slices.Clone(s.Params.Slots)
		r = append(r, c)
	}
	sort.Slice(r, func(i, j int) bool { return r[i].Op < r[j].Op })
	return r
}

// IsSupportedOp reports whether the executor runs op as a graph operator
// or evaluates it at build time (on constants and shapes).
func IsSupportedOp(op string) bool { return registry[op] != nil }

// SupportedOps lists the ONNX operators the executor runs as graph
// operators or evaluates at build time, sorted.
func SupportedOps() []string {
	ops := make([]string, 0, len(registry))
	for k := range registry {
		ops = append(ops, k)
	}
	sort.Strings(ops)
	return ops
}

// GPUOps lists the operators the GPU path runs, sorted.
func GPUOps() []string {
	var ops []string
	for k, s := range registry {
		if s.GPU {
			ops = append(ops, k)
		}
	}
	sort.Strings(ops)
	return ops
}

// IsCopyOp reports whether op passes its data input on unchanged up to
// shape or element order (OpSpec.Copy).
func IsCopyOp(op string) bool {
	s := registry[op]
	return s != nil && s.Copy
}

// acceptsMovedBatch reports whether op accepts a value with a bLayout.
func acceptsMovedBatch(op string) bool {
	s := registry[op]
	return s != nil && s.MovedBatch
}

// checkSpec checks the node's attributes against its spec.
func (b *builderBase) checkSpec(n *ir.Node, s *OpSpec) error {
	names := make([]string, 0, len(n.Attrs))
	for name := range n.Attrs {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if !slices.Contains(s.Attrs, name) {
			return b.errNode(n, "attribute %q is not supported", name)
		}
	}
	return nil
}

// buildNode builds n through its spec (builder.node has handled domains,
// outputs and constant evaluation).
func buildNode[T float](b *builder[T], n *ir.Node, s *OpSpec) error {
	switch bb := any(b).(type) {
	case *builder[float32]:
		return s.build.f32(bb, n)
	case *builder[float64]:
		return s.build.f64(bb, n)
	}
	return b.errNode(n, "internal error: no builder for this float type")
}
