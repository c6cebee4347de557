//go:build gnaudit_cuda

package cuda

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/gnaudit/gnaudit/auditor/onnx"
	"github.com/gnaudit/gnaudit/models"
)

// BenchmarkPerSampleAlexNet128 times one audit step on the GPU for the zoo's
// alexnet-cifar at batch 128: forward, summed loss, backward, and for every
// trainable parameter the full per-sample gradients on the device reduced to
// 1,000 tested coordinates, squared norms and the batch sum (copied back).
// scripts/bench/persample_gpu_torch.py times the PyTorch peer on the same GPU.
func BenchmarkPerSampleAlexNet128(b *testing.B) {
	const batch = 128
	mp, err := models.Build("alexnet-cifar", models.Options{Input: [3]int{3, 32, 32}, Classes: 10, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(b.TempDir(), "alexnet.onnx")
	if err := models.Write(path, mp); err != nil {
		b.Fatal(err)
	}
	m, err := onnx.Load(path)
	if err != nil {
		b.Fatal(err)
	}
	net, err := dev.NewNet(m, batch)
	if err != nil {
		b.Fatal(err)
	}
	defer net.Close()
	r := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, batch*3*32*32)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	labels := make([]int, batch)
	for i := range labels {
		labels[i] = r.IntN(10)
	}
	idx := map[string][]int32{}
	for _, p := range m.Trainable {
		size := net.params[p].Len
		k := min(1000, size)
		ix := make([]int32, k)
		for i := range ix {
			ix[i] = int32(r.IntN(size))
		}
		idx[p] = ix
	}
	lossGrad := func(b *testing.B) {
		if _, err := net.LossGrad(x, labels); err != nil {
			b.Fatal(err)
		}
	}
	perSample := func(b *testing.B) {
		for _, p := range m.Trainable {
			if _, _, _, err := net.PerSample(p, idx[p]); err != nil {
				b.Fatal(err)
			}
		}
	}
	lossGrad(b) // warm-up (JIT of the PTX, allocations)
	perSample(b)
	for _, c := range []struct {
		name string
		f    func(*testing.B)
	}{
		{"step", func(b *testing.B) { lossGrad(b); perSample(b) }},
		{"lossgrad", lossGrad},
		{"persample", perSample},
	} {
		b.Run(c.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				c.f(b)
			}
			if err := dev.Sync(); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(batch*b.N)/b.Elapsed().Seconds(), "samples/s")
		})
	}
	if os.Getenv("GNAUDIT_BENCH_VERBOSE") != "" {
		b.Logf("device %+v", dev.Info())
	}
}
