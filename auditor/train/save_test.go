package train

import (
	"context"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/gnaudit/gnaudit/auditor/data"
	"github.com/gnaudit/gnaudit/auditor/float16"
	"github.com/gnaudit/gnaudit/auditor/graph"
	"github.com/gnaudit/gnaudit/auditor/ir"
	"github.com/gnaudit/gnaudit/auditor/onnx"
	"github.com/gnaudit/gnaudit/internal/onnxpb"
)

// randomImages is a small random 1×28×28 data set with 10 classes.
func randomImages(t *testing.T, n int, seed uint64) data.Dataset {
	r := rand.New(rand.NewPCG(seed, 2))
	pix := make([]float32, n*784)
	for i := range pix {
		pix[i] = float32(r.NormFloat64())
	}
	labels := make([]int, n)
	for i := range labels {
		labels[i] = r.IntN(10)
	}
	ds, err := data.New("random images", data.Shape{C: 1, H: 28, W: 28}, pix, labels, 10)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func readPB(t *testing.T, path string) *onnxpb.ModelProto {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pb := &onnxpb.ModelProto{}
	if err := proto.Unmarshal(b, pb); err != nil {
		t.Fatal(err)
	}
	return pb
}

// The saved file has the same graph with the new weights: it loads back,
// the executor gives the logits of the trained parameters, initializer names,
// order and storage form are unchanged, the BatchNorm statistics and every
// other field are untouched, and onnx.checker accepts it.
func TestSaveONNX(t *testing.T) {
	for _, raw := range []bool{true, false} {
		name := map[bool]string{true: "raw_data", false: "float_data"}[raw]
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			src, m := writeModel(t, dir, "cnn.onnx", tinyCNN(9, raw))
			ds := randomImages(t, 24, 1)
			opt := quick(5, 8)
			res, err := Train(context.Background(), m, ds, opt)
			if err != nil {
				t.Fatal(err)
			}
			dst := filepath.Join(dir, "tuned.onnx")
			if len(res.Stats) != 2 {
				t.Fatalf("train-mode BatchNorm: %d running statistics in the result, want 2", len(res.Stats))
			}
			if err := SaveONNX(src, dst, res.Saved()); err != nil {
				t.Fatal(err)
			}
			saved, err := onnx.Load(dst)
			if err != nil {
				t.Fatalf("saved file does not load: %v", err)
			}
			if !slices.Equal(saved.InitOrder, m.InitOrder) || !slices.Equal(saved.Trainable, m.Trainable) {
				t.Errorf("initializers %v (trainable %v), want %v (%v)", saved.InitOrder, saved.Trainable, m.InitOrder, m.Trainable)
			}

			// Logits: saved file vs. the original model with the final
			// parameters set in the executor, vs. the original weights.
			x, _, err := ds.Batch([]int{0, 1, 2, 3}, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			forward := func(m *ir.Model, set []Param) []float64 {
				net, err := graph.Build(m, graph.Options{Batch: 4})
				if err != nil {
					t.Fatal(err)
				}
				for _, p := range set {
					if err := net.SetParam(p.Name, p.Value); err != nil {
						t.Fatal(err)
					}
				}
				out, err := net.Forward(x)
				if err != nil {
					t.Fatal(err)
				}
				return out
			}
			got := forward(saved, nil)
			want := forward(m, res.Saved())
			if !slices.Equal(got, want) {
				t.Errorf("logits of the saved model differ from the trained parameters':\n%v\n%v", got[:5], want[:5])
			}
			if slices.Equal(got, forward(m, nil)) {
				t.Error("saved logits equal the untrained model's")
			}
			rm, err := res.Model()
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(forward(rm, nil), got) {
				t.Error("Result.Model() differs from the saved file")
			}

			// Protobuf level: only the data of the trainable initializers
			// and of BatchNorm's running statistics changed.
			a, b := readPB(t, src), readPB(t, dst)
			trainable := map[string]bool{}
			for _, p := range res.Saved() {
				trainable[p.Name] = true
			}
			for i, tb := range b.GetGraph().GetInitializer() {
				ta := a.GetGraph().GetInitializer()[i]
				if tb.GetName() != ta.GetName() || (tb.RawData != nil) != raw || (len(tb.FloatData) > 0) == raw {
					t.Errorf("initializer %d: %q (raw %v, %d float_data), was %q", i, tb.GetName(), tb.RawData != nil, len(tb.FloatData), ta.GetName())
				}
				if trainable[tb.GetName()] == proto.Equal(ta, tb) {
					t.Errorf("initializer %q: changed %v, trainable %v", tb.GetName(), !proto.Equal(ta, tb), trainable[tb.GetName()])
				}
			}
			for _, pb := range []*onnxpb.ModelProto{a, b} {
				for _, ti := range pb.GetGraph().GetInitializer() {
					ti.RawData, ti.FloatData = nil, nil
				}
			}
			if !proto.Equal(a, b) {
				t.Error("the saved model differs from the original beyond initializer data")
			}
			onnxCheck(t, dst)
		})
	}
}

// onnxCheck runs onnx.checker.check_model with /usr/bin/python3 when it has
// the onnx package; it skips otherwise.
func onnxCheck(t *testing.T, path string) {
	t.Helper()
	py := "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		t.Log("onnx.checker skipped: no /usr/bin/python3")
		return
	}
	if exec.Command(py, "-c", "import onnx").Run() != nil {
		t.Log("onnx.checker skipped: /usr/bin/python3 has no onnx package")
		return
	}
	out, err := exec.Command(py, "-c", "import onnx, sys; onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True); print('ok')", path).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Errorf("onnx.checker rejects %s: %v\n%s", path, err, out)
	}
}

func TestUpdateInitializersErrors(t *testing.T) {
	pb := tinyCNN(1, true)
	// an int64 initializer and one stored as external data
	pb.Graph.Initializer = append(pb.Graph.Initializer,
		&onnxpb.TensorProto{Name: proto.String("shape"), Dims: []int64{2}, DataType: proto.Int32(int32(onnxpb.TensorProto_INT64)), Int64Data: []int64{1, 2}},
		&onnxpb.TensorProto{Name: proto.String("ext"), Dims: []int64{1}, DataType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)),
			DataLocation: onnxpb.TensorProto_EXTERNAL.Enum()})
	orig := proto.Clone(pb)
	ok := Param{Name: "fc.bias", Shape: []int{10}, Value: make([]float64, 10)}
	for _, c := range []struct {
		p    Param
		want string
	}{
		{Param{Name: "nope", Value: []float64{1}}, `no initializer "nope"`},
		{Param{Name: "fc.bias", Value: []float64{1}}, `initializer "fc.bias": dims [10] hold 10 values, the parameter has 1`},
		{Param{Name: "fc.bias", Shape: []int{2, 5}, Value: make([]float64, 10)}, "the parameter's shape [2 5]"},
		{Param{Name: "fc.bias", Value: append(make([]float64, 9), math.NaN())}, "value 9 is NaN"},
		{Param{Name: "fc.bias", Value: append(make([]float64, 9), math.Inf(-1))}, "value 9 is -Inf"},
		{Param{Name: "shape", Value: []float64{1, 2}}, "not a float type"},
		{Param{Name: "ext", Value: []float64{1}}, "external data"},
	} {
		err := UpdateInitializers(pb, []Param{ok, c.p})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.p.Name, err, c.want)
		}
		if !proto.Equal(pb, orig) {
			t.Fatalf("%s: the model changed although the update failed", c.p.Name)
		}
	}
	if err := UpdateInitializers(&onnxpb.ModelProto{}, nil); err == nil {
		t.Error("model without graph accepted")
	}
	dir := t.TempDir()
	if err := SaveONNX(filepath.Join(dir, "missing.onnx"), filepath.Join(dir, "out.onnx"), nil); err == nil {
		t.Error("missing source accepted")
	}
	bad := filepath.Join(dir, "bad.onnx")
	os.WriteFile(bad, []byte("not a protobuf \xff\xff"), 0o644)
	if err := SaveONNX(bad, filepath.Join(dir, "out.onnx"), nil); err == nil || !strings.Contains(err.Error(), "not a valid ONNX file") {
		t.Errorf("corrupt source: %v", err)
	}
	src, _ := writeModel(t, dir, "cnn.onnx", tinyCNN(1, true))
	if err := SaveONNX(src, filepath.Join(dir, "no", "such", "dir.onnx"), []Param{ok}); err == nil {
		t.Error("unwritable destination accepted")
	}
	// in place
	if err := SaveONNX(src, src, []Param{ok}); err != nil {
		t.Fatal(err)
	}
	m, err := onnx.Load(src)
	if err != nil {
		t.Fatal(err)
	}
	if slices.ContainsFunc(m.Initializers["fc.bias"].F32, func(v float32) bool { return v != 0 }) {
		t.Error("in-place save did not write the values")
	}
	if leftovers, _ := filepath.Glob(filepath.Join(dir, ".*tmp*")); len(leftovers) > 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
}

// halfModel is a model with one 16-bit float initializer holding the given
// bit patterns (raw_data or int32_data).
func halfModel(dt onnxpb.TensorProto_DataType, bits []uint16, raw bool) *onnxpb.ModelProto {
	t := &onnxpb.TensorProto{Name: proto.String("w"), Dims: []int64{int64(len(bits))}, DataType: proto.Int32(int32(dt))}
	if raw {
		t.RawData = make([]byte, 2*len(bits))
		for i, h := range bits {
			binary.LittleEndian.PutUint16(t.RawData[2*i:], h)
		}
	} else {
		for _, h := range bits {
			t.Int32Data = append(t.Int32Data, int32(h))
		}
	}
	b := newPBB(1, true)
	b.node("Identity", "id", []string{"x"}, "logits")
	b.inits = append(b.inits, t)
	return b.model([]int64{2}, []int64{2})
}

// Every finite float16 and bfloat16 value survives decoding (by the
// importer, an independent reader) and re-encoding by the saver, in both
// storage forms; midpoints between neighbours round to the even one.
func TestHalfPrecisionRoundTrip(t *testing.T) {
	for _, c := range []struct {
		dt     onnxpb.TensorProto_DataType
		finite func(uint16) bool
	}{
		{onnxpb.TensorProto_FLOAT16, func(h uint16) bool { return h&0x7c00 != 0x7c00 }},
		{onnxpb.TensorProto_BFLOAT16, func(h uint16) bool { return h&0x7f80 != 0x7f80 }},
	} {
		var bits []uint16
		for h := 0; h < 1<<16; h++ {
			if c.finite(uint16(h)) {
				bits = append(bits, uint16(h))
			}
		}
		for _, raw := range []bool{true, false} {
			pb := halfModel(c.dt, bits, raw)
			enc, _ := proto.Marshal(pb)
			m, err := onnx.Decode(enc, "half.onnx")
			if err != nil {
				t.Fatal(err)
			}
			vals := f32to64(m.Initializers["w"].F32)
			if err := UpdateInitializers(pb, []Param{{Name: "w", Value: vals}}); err != nil {
				t.Fatal(err)
			}
			tp := pb.Graph.Initializer[0]
			if (tp.RawData != nil) != raw {
				t.Fatalf("%v: storage form changed", c.dt)
			}
			for i, h := range bits {
				var got uint16
				if raw {
					got = binary.LittleEndian.Uint16(tp.RawData[2*i:])
				} else {
					got = uint16(tp.Int32Data[i])
				}
				if got != h {
					t.Fatalf("%v: %#04x decodes to %v and encodes to %#04x", c.dt, h, vals[i], got)
				}
			}
		}
		// Midpoints between consecutive positive finite values (exact in
		// float32) round to the neighbour with an even last bit.
		pb := halfModel(c.dt, bits, true)
		enc, _ := proto.Marshal(pb)
		m, err := onnx.Decode(enc, "half.onnx")
		if err != nil {
			t.Fatal(err)
		}
		dec := m.Initializers["w"].F32
		conv := float16.FromFloat32
		if c.dt == onnxpb.TensorProto_BFLOAT16 {
			conv = float16.BFloat16FromFloat32
		}
		for i := 0; i+1 < len(bits) && bits[i+1] < 0x8000; i++ {
			if bits[i+1] != bits[i]+1 {
				continue
			}
			mid := float32((float64(dec[i]) + float64(dec[i+1])) / 2)
			want := bits[i]
			if want&1 == 1 {
				want = bits[i+1]
			}
			if got := conv(mid); got != want {
				t.Fatalf("%v: midpoint %v of %#04x and %#04x rounds to %#04x, want %#04x", c.dt, mid, bits[i], bits[i+1], got, want)
			}
		}
	}
	// Overflow and special values.
	for _, c := range []struct {
		f    float32
		want uint16
	}{{65504, 0x7bff}, {65519, 0x7bff}, {65520, 0x7c00}, {1e10, 0x7c00}, {-1e10, 0xfc00}, {0x1p-25, 0}, {0x1.8p-25, 1}, {0x1p-26, 0}, {float32(math.Inf(1)), 0x7c00}} {
		if got := float16.FromFloat32(c.f); got != c.want {
			t.Errorf("float16.FromFloat32(%v) = %#04x, want %#04x", c.f, got, c.want)
		}
	}
	if h := float16.FromFloat32(float32(math.NaN())); h&0x7c00 != 0x7c00 || h&0x3ff == 0 {
		t.Errorf("float16.FromFloat32(NaN) = %#04x", h)
	}
	if h := float16.BFloat16FromFloat32(float32(math.NaN())); h&0x7f80 != 0x7f80 || h&0x7f == 0 {
		t.Errorf("float16.BFloat16FromFloat32(NaN) = %#04x", h)
	}
}

// DOUBLE initializers keep their form too (raw_data and double_data).
func TestSaveDouble(t *testing.T) {
	for _, raw := range []bool{true, false} {
		tp := &onnxpb.TensorProto{Name: proto.String("w"), Dims: []int64{2}, DataType: proto.Int32(int32(onnxpb.TensorProto_DOUBLE))}
		if raw {
			tp.RawData = make([]byte, 16)
		} else {
			tp.DoubleData = []float64{0, 0}
		}
		pb := &onnxpb.ModelProto{Graph: &onnxpb.GraphProto{Initializer: []*onnxpb.TensorProto{tp}}}
		v := []float64{math.Pi, -1e-300}
		if err := UpdateInitializers(pb, []Param{{Name: "w", Value: v}}); err != nil {
			t.Fatal(err)
		}
		var got []float64
		if raw {
			got = []float64{math.Float64frombits(binary.LittleEndian.Uint64(tp.RawData)), math.Float64frombits(binary.LittleEndian.Uint64(tp.RawData[8:]))}
		} else {
			got = tp.DoubleData
		}
		if !slices.Equal(got, v) || (tp.RawData != nil) != raw {
			t.Errorf("raw %v: %v", raw, got)
		}
	}
}
