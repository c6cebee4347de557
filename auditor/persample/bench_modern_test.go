package persample

import (
	"math/rand"
	"path/filepath"
	"testing"

	"github.com/gnaudit/gnaudit/auditor/onnx"
)

// BenchmarkPerSampleModern: per-sample gradients of the ViT and
// nn.TransformerEncoderLayer fixtures (testdata/modern, opset 17) for a
// batch of 64, float32: "full" materialises every per-sample gradient,
// "batch1" is the fallback (64 batch-1 passes). scripts/bench_modern.sh
// runs it against functorch vmap(grad) and a batched backward of the same
// models.
func BenchmarkPerSampleModern(b *testing.B) {
	const B = 64
	for _, c := range []struct {
		name string
		ids  int // vocabulary of an int64 input, 0 for float
	}{{"vit", 0}, {"transformer", 40}} {
		m, err := onnx.Load(filepath.Join(modernDir, c.name, "opset17.onnx"))
		if err != nil {
			b.Fatal(err)
		}
		for _, mode := range []string{"full", "batch1"} {
			b.Run(c.name+"/"+mode, func(b *testing.B) {
				e, err := New(m, Options{Batch: B, ForceFallback: mode == "batch1"})
				if err != nil {
					b.Fatal(err)
				}
				r := rand.New(rand.NewSource(1))
				per := prod(e.InputShape())
				x := make([]float64, B*per)
				for k := range x {
					if c.ids > 0 {
						x[k] = float64(r.Intn(c.ids))
					} else {
						x[k] = r.NormFloat64()
					}
				}
				y := randLabels(2, B, e.Classes())
				req := Request{Full: true, Norms: true}
				if _, err := e.Compute(x, y, req); err != nil { // warm-up
					b.Fatal(err)
				}
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if _, err := e.Compute(x, y, req); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
