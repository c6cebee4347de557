package onnx

import "github.com/gnaudit/gnaudit/auditor/ir"

// layoutOps pass their first input's values on unchanged apart from layout
// or element type: a parameter may reach its layer through a chain of them
// (CNTK exports a bias as parameter -> Reshape -> Add, PyTorch a 3-D Linear
// as weight -> Transpose -> MatMul).
var layoutOps = map[string]bool{
	"Reshape": true, "Identity": true, "Transpose": true, "Unsqueeze": true,
	"Squeeze": true, "Flatten": true, "Cast": true, "Expand": true,
}

// isParamSlot reports whether input i of a node of type op is a learnable
// parameter when a float initializer feeds it (see the package doc).
func isParamSlot(op string, i int, t *ir.Tensor) bool {
	switch op {
	case "Conv", "ConvTranspose":
		return i == 1 || i == 2 // W, B
	case "Gemm", "MatMul", "Einsum":
		return i <= 2 // A, B, C: a constant operand is a weight or bias
	case "BatchNormalization", "InstanceNormalization", "LayerNormalization":
		return i == 1 || i == 2 // scale, bias (not mean, var)
	case "PRelu":
		return i == 1 // slope
	case "Gather":
		return i == 0 // an embedding table
	case "Concat":
		return true // a learned token concatenated to the sequence (ViT's class token)
	case "Add", "Mul":
		return t.Len() > 1 // bias or scale; a one-element constant is fixed
	}
	return false
}

// isFloat reports whether the element type is a floating-point one.
func isFloat(dt ir.DataType) bool {
	return dt == ir.Float || dt == ir.Double || dt == ir.Float16 || dt == ir.Bfloat16
}

// trainable returns the float initializers that reach a parameter slot,
// directly or through layoutOps (their data input), in file order.
func trainable(m *ir.Model) []string {
	cons := m.Consumers()
	var out []string
	for _, name := range m.InitOrder {
		t := m.Initializers[name]
		if t == nil || !isFloat(t.Type) {
			continue
		}
		seen := map[string]bool{name: true}
		queue := []string{name}
		found := false
		for len(queue) > 0 && !found {
			v := queue[0]
			queue = queue[1:]
			for _, n := range cons[v] {
				for i, in := range n.Inputs {
					if in != v {
						continue
					}
					if layoutOps[n.OpType] && i == 0 && len(n.Outputs) > 0 {
						if o := n.Outputs[0]; o != "" && !seen[o] {
							seen[o] = true
							queue = append(queue, o)
						}
					} else if isParamSlot(n.OpType, i, t) {
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
