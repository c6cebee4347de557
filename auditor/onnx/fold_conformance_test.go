package onnx

import (
	"math"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/gnaudit/gnaudit/auditor/ir"
	"github.com/gnaudit/gnaudit/auditor/onnxpb"
	"google.golang.org/protobuf/proto"
)

func readTensorPB(path string) (*ir.Tensor, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	tp := &onnxpb.TensorProto{}
	if err := proto.Unmarshal(data, tp); err != nil {
		return nil, err
	}
	return tensorFromProto(tp)
}

// TestFoldConformance checks the constant evaluator against the ONNX
// backend tests' reference outputs: for every libonnx-testdata node test
// whose operators are all foldable, the test inputs are made constants and
// the folded output must equal output_0.pb.
func TestFoldConformance(t *testing.T) {
	files := libonnxModels(t)
	compared := 0
	for _, f := range files {
		dir := filepath.Dir(f)
		if filepath.Base(filepath.Dir(dir)) != "node" {
			continue
		}
		m, err := Load(f)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		foldable := m.Opset >= MinOpset
		for _, n := range m.Nodes {
			foldable = foldable && foldableOps[n.OpType] && n.Domain == ""
		}
		if !foldable || len(m.Outputs) != 1 {
			continue
		}
		// Feed the test inputs as constants.
		// String tensors are not represented; the BFLOAT16 test stores its
		// expected output as uint16.
		okTypes := filepath.Base(dir) != "test_cast_FLOAT_to_BFLOAT16" && m.Outputs[0].Type != ir.String
		for k, in := range m.Inputs {
			p := filepath.Join(dir, "test_data_set_0", "input_"+itoa(k)+".pb")
			tt, err := readTensorPB(p)
			if err != nil || tt.Type != in.Type {
				okTypes = false
				break
			}
			tt.Name = in.Name
			m.Initializers[in.Name] = tt
			m.InitOrder = append(m.InitOrder, in.Name)
		}
		if !okTypes {
			continue
		}
		m.Inputs, m.Trainable = nil, nil
		a := analyze(m)
		out := m.Outputs[0].Name
		got := a.consts[out]
		if a.err != nil || got == nil {
			t.Errorf("%s: not folded (err %v)", dir, a.err)
			continue
		}
		want, err := readTensorPB(filepath.Join(dir, "test_data_set_0", "output_0.pb"))
		if err != nil {
			t.Errorf("%s: %v", dir, err)
			continue
		}
		gt := got.tensor(out)
		if gt.Type != want.Type || !reflect.DeepEqual(append([]int64{}, gt.Dims...), append([]int64{}, want.Dims...)) {
			t.Errorf("%s: folded %v %v, want %v %v", dir, gt.Type, gt.Dims, want.Type, want.Dims)
			continue
		}
		gv, wv := values(gt), values(want)
		for k := range wv {
			if d := math.Abs(gv[k] - wv[k]); d > 1e-6*math.Max(1, math.Abs(wv[k])) && !(math.IsNaN(gv[k]) && math.IsNaN(wv[k])) {
				t.Errorf("%s: element %d is %v, want %v", dir, k, gv[k], wv[k])
				break
			}
		}
		compared++
	}
	if compared < 80 {
		t.Errorf("only %d node tests folded", compared)
	}
	t.Logf("%d ONNX node tests folded to their reference outputs", compared)
}

func itoa(k int) string {
	const digits = "0123456789"
	if k < 10 {
		return digits[k : k+1]
	}
	return itoa(k/10) + digits[k%10:k%10+1]
}
