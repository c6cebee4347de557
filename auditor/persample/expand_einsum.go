package persample

import (
	"fmt"
	"slices"
	"strings"

	"github.com/gnaudit/gnaudit/auditor/graph"
)

// MethodEinsum: a weight W of Einsum(X_i, W) (either order), where the
// sample's data X carries the batch as its first letter b and the output
// starts with b. The gradient of the summed loss with respect to W is the
// equation "out, X -> W" of δ and X; keeping b in the result gives every
// sample's gradient at once: g[b, W…] = einsum("out, X -> b W", δ, X).
const MethodEinsum = "einsum"

// einsumTerms splits an explicit equation without ellipsis into its two
// operand terms and its output; implicit outputs follow numpy's rule.
func einsumTerms(eq string) (terms []string, out string, err error) {
	s := strings.ReplaceAll(eq, " ", "")
	if strings.Contains(s, ".") {
		return nil, "", fmt.Errorf("equation %q has an ellipsis", eq)
	}
	lhs, rhs, explicit := strings.Cut(s, "->")
	terms = strings.Split(lhs, ",")
	if len(terms) != 2 {
		return nil, "", fmt.Errorf("equation %q does not have two operands", eq)
	}
	if !explicit {
		count := map[rune]int{}
		for _, c := range lhs {
			if c != ',' {
				count[c]++
			}
		}
		var once []rune
		for c, n := range count {
			if n == 1 {
				once = append(once, c)
			}
		}
		slices.Sort(once)
		rhs = string(once)
	}
	return terms, rhs, nil
}

// classifyEinsum decides whether the parameter in slot u.slot of an
// Einsum node is expanded (why is empty) and sets u.method.
func (a *analysis) classifyEinsum(u *use) string {
	n := u.node
	if len(n.Inputs) != 2 || u.slot > 1 {
		return "only Einsum of two operands is expanded"
	}
	other := n.Inputs[1-u.slot]
	if !a.dep[other] || a.dep[u.input] {
		return "only Einsum of sample data with a weight is expanded"
	}
	terms, out, err := einsumTerms(attrString(n, "equation", ""))
	if err != nil {
		return err.Error()
	}
	x, w := terms[1-u.slot], terms[u.slot]
	if x == "" || out == "" || out[0] != x[0] {
		return fmt.Sprintf("equation %q: the data operand and the output do not start with the same (batch) letter", attrString(n, "equation", ""))
	}
	batch := x[0]
	for k := 0; k < len(w); k++ {
		c := w[k]
		if c == batch || strings.IndexByte(w[k+1:], c) >= 0 {
			return fmt.Sprintf("equation %q: the weight's letter %c is the batch letter or repeated", attrString(n, "equation", ""), c)
		}
		if strings.IndexByte(out, c) < 0 && strings.IndexByte(x, c) < 0 {
			return fmt.Sprintf("equation %q: the weight's letter %c is summed in the weight alone", attrString(n, "equation", ""), c)
		}
	}
	u.method = MethodEinsum
	return ""
}

// einsumExp holds every sample's gradient of one Einsum weight use:
// [batch, size] row-major.
type einsumExp struct {
	size int
	g    []float64
}

func (e *einsumExp) add(i int, dst []float64) {
	for k, v := range e.g[i*e.size : (i+1)*e.size] {
		dst[k] += v
	}
}

// newEinsum computes g[b, W…] = einsum("out, X -> b W", δ, X) for the use.
func newEinsum(ps *pass, u *use) (elemExp, error) {
	n := u.node
	eq := attrString(n, "equation", "")
	terms, out, err := einsumTerms(eq)
	if err != nil {
		return nil, fmt.Errorf("Einsum %q: %w", n.Name, err)
	}
	dy, err := ps.deriv(n.Outputs[0])
	if err != nil {
		return nil, err
	}
	if _, err := ps.batched(n.Outputs[0], dy); err != nil {
		return nil, err
	}
	xname := n.Inputs[1-u.slot]
	x, err := ps.value(xname)
	if err != nil {
		return nil, err
	}
	if _, err := ps.batched(xname, x); err != nil {
		return nil, err
	}
	xt, wt := terms[1-u.slot], terms[u.slot]
	peq := out + "," + xt + "->" + xt[:1] + wt
	g, gs, err := graph.Einsum(peq, [][]float64{dy.v, x.v}, [][]int{dy.shape, x.shape})
	if err != nil {
		return nil, fmt.Errorf("Einsum %q: per-sample equation %q: %w", n.Name, peq, err)
	}
	return &einsumExp{size: prod(gs[1:]), g: g}, nil
}
