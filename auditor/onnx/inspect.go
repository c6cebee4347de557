package onnx

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/gnaudit/gnaudit/auditor/ir"
)

// Summary describes a model for `gnaudit models inspect`.
type Summary struct {
	Path      string         `json:"path"`
	Producer  string         `json:"producer"`
	IRVersion int64          `json:"ir_version"`
	Opset     int64          `json:"opset"`
	Inputs    []ValueSummary `json:"inputs"`
	Outputs   []ValueSummary `json:"outputs"`
	Nodes     int            `json:"nodes"`
	Ops       []OpCount      `json:"ops"`
	// Layers are the nodes that read float initializers (directly or
	// through Reshape/Transpose/... chains), in graph order.
	Layers []Layer `json:"layers"`
	// Params counts the values of the float initializers the layers read;
	// TrainableParams those of the trainable ones (Model.Trainable).
	Params           int64 `json:"params"`
	TrainableParams  int64 `json:"trainable_params"`
	TrainableTensors int   `json:"trainable_tensors"`
	// Supported is true when the judge (InspectWith) found nothing;
	// Problems lists what it found, one line per cause with its count and
	// what to do.
	Supported bool     `json:"supported"`
	Problems  []string `json:"problems"`
	// Notes say what runs, but slower or differently (the executor's
	// batch-1 fallbacks).
	Notes []string `json:"notes,omitempty"`
	// Verdict names who judged Supported; empty when nobody did (Inspect).
	Verdict string `json:"verdict,omitempty"`
}

// Verdict is an executor's judgement of a model, for InspectWith. This
// package only decodes: the operator rules, shape inference and the
// verdict belong to the executor (persample.Inspect builds one from
// auditor/graph's operator registry).
type Verdict struct {
	By       string   // who judged, e.g. "executor (auditor/graph, batch 1)"
	Problems []string // what stops the model from running at all
	Notes    []string // what runs slower or differently
	// Supports reports whether the executor has an operator.
	Supports func(op string) bool
	// Shapes gives the shapes the executor computes, formatted as
	// FormatShape does, by value name (layer outputs and graph outputs).
	Shapes map[string]string
}

// InspectWith is Inspect with the executor's verdict: Supported, Problems,
// the operators' supported flags and the output shapes come from v, so
// that `models inspect` says exactly what the executor will do.
func InspectWith(m *ir.Model, v Verdict) Summary {
	s := Inspect(m)
	s.Problems = v.Problems
	s.Notes = v.Notes
	s.Supported = len(v.Problems) == 0
	s.Verdict = v.By
	if v.Supports != nil {
		for k := range s.Ops {
			s.Ops[k].Supported = v.Supports(s.Ops[k].OpType)
		}
	}
	for k, l := range s.Layers {
		if sh, ok := v.Shapes[l.out]; ok {
			s.Layers[k].Output = sh
		}
	}
	for k, o := range m.Outputs {
		if sh, ok := v.Shapes[o.Name]; ok && k < len(s.Outputs) && (!fullyDeclared(o.Shape) || strings.Count(sh, ",")+1 != len(o.Shape)) {
			s.Outputs[k].Shape = sh
		}
	}
	return s
}

// fullyDeclared reports whether a declared shape has a rank and no unknown
// (unnamed) dimension. A declared output shape that is not, or whose rank
// differs from the judge's, shows the judge's shape.
func fullyDeclared(s []ir.Dim) bool {
	if s == nil {
		return false
	}
	for _, d := range s {
		if !d.Known() && d.Param == "" {
			return false
		}
	}
	return true
}

// ValueSummary is a graph input or output.
type ValueSummary struct {
	Name  string `json:"name"`
	Type  string `json:"type"`
	Shape string `json:"shape"`
}

// OpCount is how many nodes use an operator, and whether it is supported.
type OpCount struct {
	OpType    string `json:"op_type"`
	Count     int    `json:"count"`
	Supported bool   `json:"supported"`
}

// Layer is a node with parameters.
type Layer struct {
	Name   string `json:"name"`
	OpType string `json:"op_type"`
	// Output is the shape of the node's first output as the executor
	// computes it (InspectWith), "unknown" without a verdict.
	Output string         `json:"output_shape"`
	Params []ParamSummary `json:"params"`
	out    string         // the output's value name
}

// ParamSummary is one initializer a layer reads.
type ParamSummary struct {
	Name      string  `json:"name"`
	Type      string  `json:"type"`
	Dims      []int64 `json:"dims"`
	Count     int64   `json:"count"`
	Trainable bool    `json:"trainable"`
}

// FormatShape writes a shape as "[batch, 3, 32, 32]" ("?" for unknown
// dimensions, "unknown" for a nil shape).
func FormatShape(s []ir.Dim) string {
	if s == nil {
		return "unknown"
	}
	parts := make([]string, len(s))
	for k, d := range s {
		switch {
		case d.Known():
			parts[k] = fmt.Sprint(d.Value)
		case d.Param != "":
			parts[k] = d.Param
		default:
			parts[k] = "?"
		}
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// Inspect describes a decoded model: metadata, inputs and outputs as
// declared, operator counts, the layers with their parameters and the
// trainable set. It judges nothing (Supported false, Verdict empty, layer
// output shapes "unknown"): InspectWith adds an executor's verdict and
// shapes (persample.Inspect, what `gnaudit models inspect` prints).
func Inspect(m *ir.Model) Summary {
	s := Summary{Path: m.Path, Producer: m.Producer, IRVersion: m.IRVersion, Opset: m.Opset, Nodes: len(m.Nodes)}
	for _, v := range m.Inputs {
		s.Inputs = append(s.Inputs, ValueSummary{v.Name, v.Type.String(), FormatShape(v.Shape)})
	}
	for _, v := range m.Outputs {
		s.Outputs = append(s.Outputs, ValueSummary{v.Name, v.Type.String(), FormatShape(v.Shape)})
	}
	counts := map[string]int{}
	for _, n := range m.Nodes {
		key := n.OpType
		if n.Domain != "" {
			key = n.Domain + "." + n.OpType
		}
		counts[key]++
	}
	for op, c := range counts {
		s.Ops = append(s.Ops, OpCount{OpType: op, Count: c})
	}
	sort.Slice(s.Ops, func(i, j int) bool { return s.Ops[i].OpType < s.Ops[j].OpType })

	train := map[string]bool{}
	for _, t := range m.Trainable {
		train[t] = true
		s.TrainableParams += int64(m.Initializers[t].Len())
	}
	s.TrainableTensors = len(m.Trainable)
	users := paramUsers(m)
	for _, n := range m.Nodes {
		ps := users[n]
		if len(ps) == 0 {
			continue
		}
		l := Layer{Name: n.Name, OpType: n.OpType, Output: FormatShape(nil)}
		if len(n.Outputs) > 0 {
			l.out = n.Outputs[0]
		}
		for _, p := range ps {
			t := m.Initializers[p]
			l.Params = append(l.Params, ParamSummary{Name: p, Type: t.Type.String(), Dims: t.Dims,
				Count: int64(t.Len()), Trainable: train[p]})
			s.Params += int64(t.Len())
		}
		s.Layers = append(s.Layers, l)
	}
	return s
}

// paramUsers maps each node to the float initializers it reads, directly or
// through a chain of operators a parameter passes through (ir.ParamRule's
// Through, the operator registry's), in file order of the initializers.
func paramUsers(m *ir.Model) map[*ir.Node][]string {
	through := func(string) bool { return false }
	if r, ok := ir.RegisteredParamRule(); ok {
		through = r.Through
	}
	cons := m.Consumers()
	users := map[*ir.Node][]string{}
	for _, name := range m.InitOrder {
		t := m.Initializers[name]
		if t == nil || !isFloat(t.Type) {
			continue
		}
		seen := map[string]bool{name: true}
		got := map[*ir.Node]bool{}
		queue := []string{name}
		for len(queue) > 0 {
			v := queue[0]
			queue = queue[1:]
			for _, n := range cons[v] {
				if through(n.OpType) && len(n.Inputs) > 0 && n.Inputs[0] == v && len(n.Outputs) > 0 && n.Outputs[0] != "" {
					if o := n.Outputs[0]; !seen[o] {
						seen[o] = true
						queue = append(queue, o)
					}
					continue
				}
				if !got[n] {
					got[n] = true
					users[n] = append(users[n], name)
				}
			}
		}
	}
	return users
}

// WriteText renders the summary as aligned text.
func (s *Summary) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	p := func(format string, a ...any) { fmt.Fprintf(tw, format, a...) }
	p("model\t%s\n", s.Path)
	prod := s.Producer
	if prod == "" {
		prod = "(not stated)"
	}
	p("producer\t%s\n", prod)
	p("format\tIR version %d, opset %d\n", s.IRVersion, s.Opset)
	for k, v := range s.Inputs {
		label := ""
		if k == 0 {
			label = "inputs"
		}
		p("%s\t%s: %s %s\n", label, v.Name, v.Type, v.Shape)
	}
	for k, v := range s.Outputs {
		label := ""
		if k == 0 {
			label = "outputs"
		}
		p("%s\t%s: %s %s\n", label, v.Name, v.Type, v.Shape)
	}
	ops := make([]string, len(s.Ops))
	for k, o := range s.Ops {
		mark := ""
		if !o.Supported && s.Verdict != "" {
			mark = " (unsupported)"
		}
		ops[k] = fmt.Sprintf("%s x%d%s", o.OpType, o.Count, mark)
	}
	p("operators\t%d nodes: %s\n", s.Nodes, strings.Join(ops, ", "))
	p("parameters\t%d trainable tensors, %d trainable values (%d values in all layer parameters)\n",
		s.TrainableTensors, s.TrainableParams, s.Params)
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(s.Layers) > 0 {
		fmt.Fprintln(w, "\nlayers:")
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  NODE\tOP\tOUTPUT\tPARAMETER\tTYPE\tSHAPE\tCOUNT\tTRAINABLE")
		for _, l := range s.Layers {
			for k, ps := range l.Params {
				node, op, out := l.Name, l.OpType, l.Output
				if k > 0 {
					node, op, out = "", "", ""
				}
				tr := "no"
				if ps.Trainable {
					tr = "yes"
				}
				fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%v\t%d\t%s\n", node, op, out, ps.Name, ps.Type, ps.Dims, ps.Count, tr)
			}
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if s.Verdict == "" {
		_, err := fmt.Fprintln(w, "\nsupported: not judged (decoding only; `gnaudit models inspect` gives the executor's verdict)")
		return err
	}
	if s.Supported {
		fmt.Fprintf(w, "\nsupported: yes, every operator and attribute is supported (%s)\n", s.Verdict)
		for _, nt := range s.Notes {
			fmt.Fprintf(w, "  note: %s\n", nt)
		}
		return nil
	}
	fmt.Fprintf(w, "\nsupported: no, %d problem(s):\n", len(s.Problems))
	for _, pr := range s.Problems {
		fmt.Fprintf(w, "  - %s\n", pr)
	}
	_, err := fmt.Fprintf(w, "(verdict of the %s; docs/onnx-coverage.md lists the supported operators)\n", s.Verdict)
	return err
}

// isFloat reports whether the element type is a floating-point one.
func isFloat(dt ir.DataType) bool {
	return dt == ir.Float || dt == ir.Double || dt == ir.Float16 || dt == ir.Bfloat16
}
