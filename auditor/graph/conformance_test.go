package graph

import (
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/gnaudit/gnaudit/auditor/ir"
	"github.com/gnaudit/gnaudit/auditor/onnx"
	"github.com/gnaudit/gnaudit/internal/approx"
	"github.com/gnaudit/gnaudit/internal/onnxpb"
	"google.golang.org/protobuf/proto"
)

var coverageDoc = flag.Bool("coverage-doc", false, "write docs/onnx-coverage.md from the ONNX conformance run")

// conformanceRoot holds Debian's libonnx-testdata (onnx 1.12).
const conformanceRoot = "/usr/share/libonnx-testdata/data"

// conformanceSuites are the directories of libonnx-testdata that hold
// model.onnx + test_data_set_0 cases.
var conformanceSuites = []string{"node", "pytorch-converted", "pytorch-operator"}

// knownConformanceFailures lists conformance cases of supported operators
// that fail, with the reason; the test fails on any other failure and on any
// listed case that passes.
var knownConformanceFailures = map[string]string{}

// pbTensor decodes a TensorProto into float64 values. It returns an error
// for element types the executor does not compute in (the case is skipped).
func pbTensor(tp *onnxpb.TensorProto) ([]int, []float64, ir.DataType, error) {
	dims := make([]int, len(tp.GetDims()))
	n := 1
	for k, d := range tp.GetDims() {
		dims[k] = int(d)
		n *= int(d)
	}
	dt := ir.DataType(tp.GetDataType())
	if n < 0 || n > 1<<26 {
		return nil, nil, dt, fmt.Errorf("tensor %q: dims %v", tp.GetName(), dims)
	}
	raw := tp.GetRawData()
	v := make([]float64, 0, n)
	switch dt {
	case ir.Float:
		if raw != nil {
			for k := 0; k+4 <= len(raw); k += 4 {
				v = append(v, float64(math.Float32frombits(binary.LittleEndian.Uint32(raw[k:]))))
			}
		} else {
			for _, x := range tp.GetFloatData() {
				v = append(v, float64(x))
			}
		}
	case ir.Double:
		if raw != nil {
			for k := 0; k+8 <= len(raw); k += 8 {
				v = append(v, math.Float64frombits(binary.LittleEndian.Uint64(raw[k:])))
			}
		} else {
			v = append(v, tp.GetDoubleData()...)
		}
	case ir.Int64:
		if raw != nil {
			for k := 0; k+8 <= len(raw); k += 8 {
				v = append(v, float64(int64(binary.LittleEndian.Uint64(raw[k:]))))
			}
		} else {
			for _, x := range tp.GetInt64Data() {
				v = append(v, float64(x))
			}
		}
	case ir.Int32:
		if raw != nil {
			for k := 0; k+4 <= len(raw); k += 4 {
				v = append(v, float64(int32(binary.LittleEndian.Uint32(raw[k:]))))
			}
		} else {
			for _, x := range tp.GetInt32Data() {
				v = append(v, float64(x))
			}
		}
	case ir.Bool:
		if raw != nil {
			for _, x := range raw {
				v = append(v, float64(min(x, 1)))
			}
		} else {
			for _, x := range tp.GetInt32Data() {
				v = append(v, float64(min(x, 1)))
			}
		}
	default:
		return nil, nil, dt, fmt.Errorf("tensor dtype %v", dt)
	}
	if len(v) != n {
		return nil, nil, dt, fmt.Errorf("tensor %q: %d values for dims %v", tp.GetName(), len(v), dims)
	}
	return dims, v, dt, nil
}

func readPB(path string) (*onnxpb.TensorProto, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	tp := &onnxpb.TensorProto{}
	if err := proto.Unmarshal(b, tp); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return tp, nil
}

// confResult is the outcome of one conformance case.
type confResult struct {
	name   string // suite/test
	op     string // the operator the case is filed under
	status string // "pass", "fail", "skip"
	reason string
}

// errSkip marks a case outside what the executor supports.
type errSkip struct{ reason string }

func (e errSkip) Error() string { return e.reason }

// primaryOp files a case under the operator its name starts with (the
// longest match among its nodes' operators), else under the operator of the
// node producing the first output.
func primaryOp(test string, m *ir.Model) string {
	name := strings.ToLower(strings.TrimPrefix(test, "test_"))
	best := ""
	for _, n := range m.Nodes {
		op := strings.ToLower(n.OpType)
		if strings.HasPrefix(name, op) && len(op) > len(best) {
			best = n.OpType
		}
	}
	if best != "" {
		return best
	}
	if len(m.Outputs) > 0 {
		for _, n := range m.Nodes {
			for _, o := range n.Outputs {
				if o == m.Outputs[0].Name {
					return n.OpType
				}
			}
		}
	}
	if len(m.Nodes) > 0 {
		return m.Nodes[0].OpType
	}
	return "?"
}

// runConformanceCase runs one case; an errSkip error means skipped.
func runConformanceCase(dir string, m *ir.Model) error {
	for _, n := range m.Nodes {
		if !IsSupportedOp(n.OpType) {
			return errSkip{fmt.Sprintf("operator %s not supported", n.OpType)}
		}
	}
	f64 := false
	ds := filepath.Join(dir, "test_data_set_0")
	var inputs [][]float64
	var dataInputs []ir.Value
	for k, in := range m.Inputs {
		tp, err := readPB(filepath.Join(ds, fmt.Sprintf("input_%d.pb", k)))
		if err != nil {
			return err
		}
		dims, v, dt, err := pbTensor(tp)
		if err != nil {
			return errSkip{"input " + err.Error()}
		}
		if (in.Type == ir.Float || in.Type == ir.Double) && onlyAttrUse(m, in.Name) {
			// A float input used only where the executor wants a
			// build-time constant (Pad's constant_value).
			t := &ir.Tensor{Name: in.Name, Type: in.Type}
			for _, d := range dims {
				t.Dims = append(t.Dims, int64(d))
			}
			if in.Type == ir.Float {
				for _, x := range v {
					t.F32 = append(t.F32, float32(x))
				}
			} else {
				t.F64 = v
			}
			m.Initializers[in.Name] = t
			m.InitOrder = append(m.InitOrder, in.Name)
			continue
		}
		switch in.Type {
		case ir.Float:
		case ir.Double:
			f64 = true
		case ir.Bool:
			// A bool input is run-time data: the executor holds it as
			// integer values 0/1, like token ids (ops_mask.go); Dropout's
			// training_mode must be a build-time constant.
			for _, n := range m.Nodes {
				if n.OpType == "Dropout" && slices.Contains(n.Inputs, in.Name) {
					return errSkip{"input dtype bool (Dropout's training_mode on data)"}
				}
			}
			m.Inputs[k].Type = ir.Int64
		case ir.Int64, ir.Int32:
			// Integer inputs (shapes, axes, pads, indices) become
			// build-time constants: the executor has no integer tensors.
			t := &ir.Tensor{Name: in.Name, Type: dt}
			for _, d := range dims {
				t.Dims = append(t.Dims, int64(d))
			}
			for _, x := range v {
				t.I64 = append(t.I64, int64(x))
			}
			m.Initializers[in.Name] = t
			m.InitOrder = append(m.InitOrder, in.Name)
			continue
		default:
			return errSkip{fmt.Sprintf("input dtype %v", in.Type)}
		}
		// Give the input its data's shape (some files omit it).
		m.Inputs[k].Shape = nil
		for _, d := range dims {
			m.Inputs[k].Shape = append(m.Inputs[k].Shape, ir.Dim{Value: int64(d)})
		}
		if m.Inputs[k].Shape == nil {
			m.Inputs[k].Shape = []ir.Dim{}
		}
		inputs = append(inputs, v)
		dataInputs = append(dataInputs, m.Inputs[k])
	}
	m.Inputs = dataInputs
	var wants [][]float64
	var wantDims [][]int
	for k := range m.Outputs {
		tp, err := readPB(filepath.Join(ds, fmt.Sprintf("output_%d.pb", k)))
		if err != nil {
			return err
		}
		dims, v, _, err := pbTensor(tp)
		if err != nil {
			return errSkip{"output " + err.Error()}
		}
		wants = append(wants, v)
		wantDims = append(wantDims, dims)
	}
	net, err := build(m, Options{Float64: f64}, buildConfig{forwardOnly: true, allInputs: true})
	if err != nil {
		if isUnsupported(err) {
			return errSkip{err.Error()}
		}
		return err
	}
	if err := net.forwardAll(inputs); err != nil {
		return err
	}
	tol := 1e-4
	if f64 {
		tol = 1e-9
	}
	for k, o := range m.Outputs {
		shape, got, ok := net.Value(o.Name)
		if !ok {
			return fmt.Errorf("output %q not computed", o.Name)
		}
		if !slices.Equal(shape, wantDims[k]) {
			return fmt.Errorf("output %q: shape %v, want %v", o.Name, shape, wantDims[k])
		}
		// The shape inference (the build, through the registry) agrees.
		if inf, ok := net.Shape(o.Name); !ok || !slices.Equal(inf, wantDims[k]) && !(len(inf) == 0 && len(wantDims[k]) == 0) {
			return fmt.Errorf("output %q: inferred shape %v, want %v", o.Name, inf, wantDims[k])
		}
		for i := range got {
			w := wants[k][i]
			if !approx.Close(got[i], w, tol, tol) { // NaN equals NaN, an infinity itself
				return fmt.Errorf("output %q[%d] = %.7g, want %.7g", o.Name, i, got[i], w)
			}
		}
	}
	return nil
}

// onlyAttrUse reports whether every use of value name is Pad's
// constant_value input.
func onlyAttrUse(m *ir.Model, name string) bool {
	used := false
	for _, n := range m.Nodes {
		for k, in := range n.Inputs {
			if in != name {
				continue
			}
			if n.OpType != "Pad" || k != 2 {
				return false
			}
			used = true
		}
	}
	return used
}

// isUnsupported tells build errors that mean "outside the supported
// subset" (reported as skips) from wrong behaviour.
func isUnsupported(err error) bool {
	s := err.Error()
	for _, k := range []string{"not supported", "only inference", "only 1-D and 2-D", "only supported on build-time constants", "graph operators need float tensors"} {
		if strings.Contains(s, k) {
			return true
		}
	}
	return false
}

func TestConformance(t *testing.T) {
	if _, err := os.Stat(conformanceRoot); err != nil {
		t.Skipf("libonnx-testdata not installed (%v)", err)
	}
	var results []confResult
	for _, suite := range conformanceSuites {
		dirs, _ := filepath.Glob(filepath.Join(conformanceRoot, suite, "test_*"))
		for _, dir := range dirs {
			test := filepath.Base(dir)
			r := confResult{name: suite + "/" + test}
			m, err := onnx.Load(filepath.Join(dir, "model.onnx"))
			if err != nil {
				r.op, r.status, r.reason = "?", "skip", "import: "+err.Error()
				results = append(results, r)
				continue
			}
			r.op = primaryOp(test, m)
			err = runConformanceCase(dir, m)
			var sk errSkip
			switch {
			case err == nil:
				r.status = "pass"
			case errors.As(err, &sk):
				r.status, r.reason = "skip", strings.TrimPrefix(sk.reason, "graph: "+filepath.Join(dir, "model.onnx")+": ")
			default:
				r.status, r.reason = "fail", err.Error()
			}
			if why, ok := knownConformanceFailures[r.name]; ok {
				if r.status == "pass" {
					t.Errorf("%s is listed as a known failure (%s) but passes", r.name, why)
				} else if r.status == "fail" {
					r.status, r.reason = "known", why+" (got: "+r.reason+")"
				}
			}
			if r.status == "fail" {
				t.Errorf("%s [%s]: %s", r.name, r.op, r.reason)
			}
			results = append(results, r)
		}
	}
	pass := 0
	for _, r := range results {
		if r.status == "pass" {
			pass++
		}
	}
	t.Logf("conformance: %d cases, %d pass", len(results), pass)
	if pass == 0 {
		t.Fatalf("no conformance case passed")
	}
	if *coverageDoc {
		if err := writeCoverageDoc("../../docs/onnx-coverage.md", results); err != nil {
			t.Fatal(err)
		}
	}
}

// writeRegistryTable writes the operator registry's view of every operator
// (also those without conformance cases).
func writeRegistryTable(sb *strings.Builder) {
	sb.WriteString("## Operators of the registry\n\n")
	sb.WriteString("Every operator of `auditor/graph`'s registry (`graph.Ops()`; docs/onnx-import.md says how to\n")
	sb.WriteString("add one): the opsets it is accepted at, whether it runs on graph values (CPU forward and\n")
	sb.WriteString("backward) or only at build time (on constants and shapes), its per-sample rule or why a\n")
	sb.WriteString("parameter it reads takes the batch-1 fallback, and whether the GPU path (`-tags gnaudit_cuda`) runs it.\n\n")
	sb.WriteString("| operator | family | opsets | runs | per-sample | GPU |\n|---|---|---|---|---|---|\n")
	for _, s := range Ops() {
		runs := "graph"
		switch {
		case s.Graph && s.Const:
			runs = "graph; build time on constants"
		case !s.Graph:
			runs = "build time only"
		}
		ps := "rule `" + s.PerSample + "`"
		switch {
		case s.Copy:
			ps = "followed through to the layer (a copy)"
		case s.PerSample == "":
			ps = "fallback: " + s.Fallback
		}
		gpu := ""
		if s.GPU {
			gpu = "yes"
		}
		fmt.Fprintf(sb, "| %s | %s | %d–%d | %s | %s | %s |\n", s.Op, s.Family, s.Since, s.Until, runs, ps, gpu)
	}
	sb.WriteString("\n")
}

// writeCoverageDoc writes the per-operator table of the conformance run.
func writeCoverageDoc(path string, results []confResult) error {
	supported := map[string]bool{}
	for _, op := range SupportedOps() {
		supported[op] = true
	}
	type row struct {
		run, pass, skip, known int
		reasons                []string
	}
	rows := map[string]*row{}
	other := map[string]int{}
	otherTotal := 0
	for _, r := range results {
		if !supported[r.op] {
			otherTotal++
			other[r.op]++
			continue
		}
		w := rows[r.op]
		if w == nil {
			w = &row{}
			rows[r.op] = w
		}
		switch r.status {
		case "pass":
			w.run++
			w.pass++
		case "fail":
			w.run++
			w.reasons = append(w.reasons, fmt.Sprintf("FAIL `%s`: %s", r.name, r.reason))
		case "known":
			w.run++
			w.known++
			w.reasons = append(w.reasons, fmt.Sprintf("known failure `%s`: %s", r.name, r.reason))
		case "skip":
			w.skip++
			w.reasons = append(w.reasons, fmt.Sprintf("skipped `%s`: %s", r.name, r.reason))
		}
	}
	var sb strings.Builder
	sb.WriteString("# ONNX operator coverage of the CPU executor (auditor/graph)\n\n")
	sb.WriteString("Generated by `go test ./auditor/graph -run Conformance -coverage-doc` from the ONNX\n")
	sb.WriteString("conformance data of Debian's libonnx-testdata 1.12 (`" + conformanceRoot + "`,\n")
	sb.WriteString("suites " + strings.Join(conformanceSuites, ", ") + "). Each case's model is imported with\n")
	sb.WriteString("`auditor/onnx`, built forward-only in float32 (float64 for double inputs) and its\n")
	sb.WriteString("outputs compared with the expected tensors to 1e-4·(1+|expected|).\n")
	sb.WriteString("A case is filed under the operator its name starts with. Cases are skipped when they\n")
	sb.WriteString("use an operator, attribute, dtype or opset outside what the executor supports; the\n")
	sb.WriteString("reason is the build error. Operators used only for build-time constants (Shape, Gather,\n")
	sb.WriteString("Cast, Slice, ConstantOfShape, ...) pass when the whole case is constant.\n\n")
	sb.WriteString("| operator | cases | run | passed | skipped |\n|---|---:|---:|---:|---:|\n")
	var ops []string
	for op := range rows {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	tr, tp, ts := 0, 0, 0
	for _, op := range ops {
		w := rows[op]
		fmt.Fprintf(&sb, "| %s | %d | %d | %d | %d |\n", op, w.run+w.skip, w.run, w.pass, w.skip)
		tr += w.run
		tp += w.pass
		ts += w.skip
	}
	fmt.Fprintf(&sb, "| **total** | %d | %d | %d | %d |\n\n", tr+ts, tr, tp, ts)
	fmt.Fprintf(&sb, "Cases filed under other (unsupported) operators: %d.\n\n", otherTotal)
	writeRegistryTable(&sb)
	sb.WriteString("## Skips and failures by operator\n\n")
	for _, op := range ops {
		w := rows[op]
		if len(w.reasons) == 0 {
			continue
		}
		fmt.Fprintf(&sb, "### %s\n\n", op)
		for _, r := range w.reasons {
			fmt.Fprintf(&sb, "- %s\n", strings.ReplaceAll(r, "\n", " "))
		}
		sb.WriteString("\n")
	}
	sb.WriteString("## Cases under unsupported operators\n\n")
	var oo []string
	for op := range other {
		oo = append(oo, op)
	}
	sort.Strings(oo)
	for k, op := range oo {
		if k > 0 {
			sb.WriteString(", ")
		}
		fmt.Fprintf(&sb, "%s (%d)", op, other[op])
	}
	sb.WriteString("\n")
	return os.WriteFile(path, []byte(sb.String()), 0o644)
}
