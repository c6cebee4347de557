package graph

import (
	"slices"

	"github.com/gnaudit/gnaudit/auditor/ir"
)

// ParamSlots is an operator's part of the trainable rule (ir.Model.Trainable,
// see Trainable): which of its input slots hold a learnable parameter when a
// float initializer feeds them, and whether a parameter passes through it.
type ParamSlots struct {
	// Slots are the input slots that hold a parameter (Conv: 1 and 2, the
	// weights and bias; BatchNormalization: 1 and 2, not the running mean
	// and variance).
	Slots []int
	// Any is true when every input slot does (Concat: a learned token
	// concatenated to the sequence, ViT's class token).
	Any bool
	// MinLen is the fewest elements a parameter there has: a smaller
	// constant is fixed (Add, Mul: 2, so x*0.5 and x+eps are constants).
	MinLen int
	// Through is true when a parameter read as input 0 stays one through
	// the node's output 0 (a change of layout or element type: CNTK
	// exports a bias as parameter -> Reshape -> Add, PyTorch a 3-D Linear
	// as weight -> Transpose -> MatMul).
	Through bool
}

// holds reports whether input slot i holds a parameter when float
// initializer t feeds it.
func (p ParamSlots) holds(i int, t *ir.Tensor) bool {
	if !p.Any && !slices.Contains(p.Slots, i) {
		return false
	}
	return t.Len() >= p.MinLen
}

// paramOnly are the trainable rules of operators the executor does not run
// (they have no OpSpec): `models inspect` still counts their parameters.
var paramOnly = map[string]ParamSlots{
	"ConvTranspose": {Slots: []int{1, 2}}, // W, B
	"PRelu":         {Slots: []int{1}},    // the slope
}

// paramSlots returns op's part of the trainable rule.
func paramSlots(op string) ParamSlots {
	if s := registry[op]; s != nil {
		return s.Params
	}
	return paramOnly[op]
}

func init() {
	ir.RegisterParamRule(ir.ParamRule{Trainable: Trainable, Through: func(op string) bool { return paramSlots(op).Through }})
}

// Trainable returns the float initializers of m that are learnable
// parameters, in file order: those that reach a parameter slot of an
// operator (OpSpec.Params), directly or through operators a parameter
// passes through (ParamSlots.Through, via their input 0). The decoder
// (auditor/onnx) fills ir.Model.Trainable with it.
func Trainable(m *ir.Model) []string {
	cons := m.Consumers()
	var out []string
	for _, name := range m.InitOrder {
		t := m.Initializers[name]
		if t == nil || !isFloatParam(t.Type) {
			continue
		}
		seen := map[string]bool{name: true}
		queue := []string{name}
		found := false
		for len(queue) > 0 && !found {
			v := queue[0]
			queue = queue[1:]
			for _, n := range cons[v] {
				p := paramSlots(n.OpType)
				for i, in := range n.Inputs {
					if in != v {
						continue
					}
					if p.Through && i == 0 && len(n.Outputs) > 0 {
						if o := n.Outputs[0]; o != "" && !seen[o] {
							seen[o] = true
							queue = append(queue, o)
						}
					} else if p.holds(i, t) {
						found = true
					}
				}
			}
		}
		if found {
			out = append(out, name)
		}
	}
	return out
}

// isFloatParam reports whether an initializer of type dt may be a
// parameter: a floating-point type.
func isFloatParam(dt ir.DataType) bool {
	return dt == ir.Float || dt == ir.Double || dt == ir.Float16 || dt == ir.Bfloat16
}
