package train

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/gnaudit/gnaudit/auditor/data"
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
// batch assembly, forward, backward, optimizer step and SetParam. Its peer,
// measured interleaved with it so that load on a shared machine hits both
// alike, is the executor's forward and backward pass alone (LossGrad) on the
// same batch: "lossgrad-ms" is its time and "overhead-%" the share of an
// update spent outside it.
//
//	go test -run XXX -bench TrainStep -benchtime 5x -count 3 ./auditor/train
func BenchmarkTrainStep(b *testing.B) {
	tr := benchSetup(b)
	if _, err := tr.update(0); err != nil { // warm-up
		b.Fatal(err)
	}
	var upd, lg time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if _, err := tr.update(i + 1); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		b.StopTimer()
		if _, err := tr.net.LossGrad(tr.x, tr.y); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		b.StartTimer()
		upd += t1.Sub(t0)
		lg += t2.Sub(t1)
	}
	b.ReportMetric(float64(b.N)/upd.Seconds(), "steps/s")
	b.ReportMetric(lg.Seconds()*1000/float64(b.N), "lossgrad-ms")
	b.ReportMetric(100*(upd-lg).Seconds()/upd.Seconds(), "overhead-%")
}
