package train

import (
	"math/rand/v2"
	"testing"

	"github.com/gnaudit/gnaudit/auditor/data"
	"github.com/gnaudit/gnaudit/auditor/graph"
)

// benchSetup builds the trainer of alexnet-cifar (3×32×32, 10 classes) for
// batch 128 on 256 random images.
func benchSetup(b *testing.B) *trainer {
	m := zooModel(b, "alexnet-cifar", [3]int{3, 32, 32})
	r := rand.New(rand.NewPCG(1, 1))
	const n = 256
	pix := make([]float32, n*3*32*32)
	for i := range pix {
		pix[i] = float32(r.NormFloat64())
	}
	labels := make([]int, n)
	for i := range labels {
		labels[i] = r.IntN(10)
	}
	ds, err := data.New("random", data.Shape{C: 3, H: 32, W: 32}, pix, labels, 10)
	if err != nil {
		b.Fatal(err)
	}
	opt := Defaults()
	opt.Steps = 1 << 20
	tr, _, err := setup(m, ds, opt)
	if err != nil {
		b.Fatal(err)
	}
	return tr
}

// BenchmarkTrainStep is one full update of alexnet-cifar at batch 128:
// batch assembly, forward, backward, optimizer step and SetParam.
//
//	go test -run XXX -bench 'TrainStep|LossGrad128' -benchtime 3x ./auditor/train
func BenchmarkTrainStep(b *testing.B) {
	tr := benchSetup(b)
	if _, err := tr.update(0); err != nil { // warm-up
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := tr.update(i + 1); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "steps/s")
}

// BenchmarkLossGrad128 is the peer: the executor's forward and backward
// pass alone on the same model and batch.
func BenchmarkLossGrad128(b *testing.B) {
	tr := benchSetup(b)
	if err := tr.batch(0); err != nil {
		b.Fatal(err)
	}
	var net *graph.Net = tr.net
	if _, err := net.LossGrad(tr.x, tr.y); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := net.LossGrad(tr.x, tr.y); err != nil {
			b.Fatal(err)
		}
	}
}
