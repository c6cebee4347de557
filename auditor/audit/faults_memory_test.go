package audit

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/gnaudit/gnaudit/internal/onnxpb"
	"github.com/gnaudit/gnaudit/models"
)

// TestFaultsMaxMemoryReachesExecutor: --max-memory bounds the executor's
// tensors, not only the collection plan. A model whose input alone exceeds
// it is refused when the engine is opened, before any tensor is allocated,
// naming the input, its size and the limit; without --max-memory the same
// audit runs (the 8×8 images resized to the model's input).
func TestFaultsMaxMemoryReachesExecutor(t *testing.T) {
	f := newTiny(t)
	// The tiny model with a 64×64 input: 16 KiB per sample in float32,
	// 128 KiB at the engine batch of 8.
	big := filepath.Join(f.dir, "big-input.onnx")
	writeWideTiny(t, f.model, big, 64)
	cfg := f.config(filepath.Join(f.dir, "out"))
	cfg.Model = big
	cfg.FineTune.Steps = 0
	cfg.AuditAt = nil
	cfg.Collect.MaxMemory = 32 << 10
	_, err := Run(context.Background(), cfg, nil)
	var ie *InputError
	if !errors.As(err, &ie) {
		t.Fatalf("--max-memory 32KiB: %v, want an input error", err)
	}
	for _, w := range []string{`input "input"`, "[8 1 64 64]", "128.0 KiB", "32.0 KiB", "--max-memory"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q lacks %q", err, w)
		}
	}
	cfg.Collect.MaxMemory = 0
	cfg.Out = filepath.Join(f.dir, "out2")
	if _, err := Run(context.Background(), cfg, nil); err != nil {
		t.Errorf("without --max-memory: %v", err)
	}
}

// writeWideTiny rewrites the tiny model at src with an input of side×side
// pixels (the classifier's weight resized to match) to dst.
func writeWideTiny(t *testing.T, src, dst string, side int64) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	var m onnxpb.ModelProto
	if err := proto.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	dims := m.Graph.Input[0].Type.GetTensorType().Shape.Dim
	dims[2].Value = &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: side}
	dims[3].Value = &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: side}
	for _, in := range m.Graph.Initializer {
		if in.GetName() == "fc.weight" {
			flat := 4 * (side / 2) * (side / 2)
			in.Dims = []int64{in.Dims[0], flat}
			in.RawData = make([]byte, 4*in.Dims[0]*flat)
		}
	}
	if err := models.Write(dst, &m); err != nil {
		t.Fatal(err)
	}
}
