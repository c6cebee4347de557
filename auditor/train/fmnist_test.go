package train

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/gnaudit/gnaudit/auditor/data"
	"github.com/gnaudit/gnaudit/auditor/ir"
	"github.com/gnaudit/gnaudit/auditor/onnx"
	"github.com/gnaudit/gnaudit/models"
	"google.golang.org/protobuf/proto"
)

const fmnistDir = "/usr/share/datasets/fashion-mnist"

// fashionMNIST loads n training and held images of the Fashion-MNIST test
// split (10,000 images, quicker to load than the training split), scaled to
// [0, 1] and normalised with the data set's mean and standard deviation.
func fashionMNIST(t testing.TB, n, held int) (train, eval data.Dataset) {
	t.Helper()
	if _, err := os.Stat(fmnistDir); err != nil {
		t.Skipf("Fashion-MNIST not installed (%s): %v", fmnistDir, err)
	}
	ds, err := data.LoadFashionMNIST(fmnistDir, "test")
	if err != nil {
		t.Fatal(err)
	}
	ds = ds.Shuffle(1).Head(n + held)
	ds, err = ds.Scale01().Normalize([]float64{0.2860}, []float64{0.3530})
	if err != nil {
		t.Fatal(err)
	}
	train, eval, err = ds.Split(held, 2)
	if err != nil {
		t.Fatal(err)
	}
	return train, eval
}

// The loss goes down on Fashion-MNIST: a random small CNN (conv 8 5×5/2 +
// BN + ReLU + max-pool + FC) fine-tuned with the paper's momentum, weight
// decay and step schedule (base rate 0.05) for 300 updates of 32 samples on
// 2,000 images.
func TestLossDecreasesFashionMNIST(t *testing.T) {
	train, eval := fashionMNIST(t, 2000, 500)
	_, m := writeModel(t, t.TempDir(), "cnn.onnx", tinyCNN(4, true))
	opt := Defaults()
	opt.Steps, opt.BatchSize, opt.Seed = 300, 32, 3
	opt.LR = MultiStep{Base: 0.05, Gamma: 0.1, At: []float64{0.5, 0.75}}
	opt.Window = 50
	opt.Eval, opt.EvalEvery = eval, 100
	start := time.Now()
	res, err := Train(context.Background(), m, train, opt)
	if err != nil {
		t.Fatal(err)
	}
	first, last := res.Curve[0], res.Curve[len(res.Curve)-1]
	e0, e1 := res.Evals[0], res.Evals[len(res.Evals)-1]
	t.Logf("%d updates in %v: batch loss %.3f → running loss %.3f (acc %.1f%%); held-out loss %.3f → %.3f, accuracy %.1f%% → %.1f%%",
		res.Steps, time.Since(start).Round(time.Millisecond), first.Loss, last.RunningLoss, 100*last.RunningAcc, e0.Loss, e1.Loss, 100*e0.Acc, 100*e1.Acc)
	if !(last.RunningLoss < 0.8*first.Loss) {
		t.Errorf("running loss %.3f is not below 0.8 × the initial %.3f", last.RunningLoss, first.Loss)
	}
	if !(e1.Loss < 0.8*e0.Loss) || !(e1.Acc > 0.6) {
		t.Errorf("held-out loss %.3f → %.3f, accuracy %.3f → %.3f: no learning", e0.Loss, e1.Loss, e0.Acc, e1.Acc)
	}
}

// zooModel builds a zoo model and decodes it (through the ONNX bytes).
func zooModel(t testing.TB, name string, in [3]int) *ir.Model {
	t.Helper()
	pb, err := models.Build(name, models.Options{Input: in})
	if err != nil {
		t.Fatal(err)
	}
	b, err := proto.Marshal(pb)
	if err != nil {
		t.Fatal(err)
	}
	m, err := onnx.Decode(b, name+".onnx")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// The same on a random zoo model (alexnet-cifar-bn at 1×32×32, the images
// zero-padded from 28×28), 150 updates of 32 samples: about 2 minutes on
// two shared cores, so only with GNAUDIT_TRAIN_ZOO=1.
func TestLossDecreasesZooModel(t *testing.T) {
	if os.Getenv("GNAUDIT_TRAIN_ZOO") == "" {
		t.Skip("set GNAUDIT_TRAIN_ZOO=1 to fine-tune alexnet-cifar-bn on Fashion-MNIST (about 2 minutes)")
	}
	train, eval := fashionMNIST(t, 2000, 256)
	var err error
	if train, err = train.Pad(32, 32, 0); err != nil {
		t.Fatal(err)
	}
	if eval, err = eval.Pad(32, 32, 0); err != nil {
		t.Fatal(err)
	}
	m := zooModel(t, "alexnet-cifar-bn", [3]int{1, 32, 32})
	opt := Defaults()
	opt.Steps, opt.BatchSize, opt.Seed = 150, 32, 3
	opt.LR = MultiStep{Base: 0.01, Gamma: 0.1, At: []float64{0.5, 0.75}}
	opt.Window = 30
	opt.Eval = eval
	opt.Progress = os.Stderr
	res, err := Train(context.Background(), m, train, opt)
	if err != nil {
		t.Fatal(err)
	}
	first, last := res.Curve[0], res.Curve[len(res.Curve)-1]
	e0, e1 := res.Evals[0], res.Evals[len(res.Evals)-1]
	t.Logf("%d updates in %v: batch loss %.3f → running loss %.3f; held-out accuracy %.1f%% → %.1f%%",
		res.Steps, res.Elapsed.Round(time.Millisecond), first.Loss, last.RunningLoss, 100*e0.Acc, 100*e1.Acc)
	if !(last.RunningLoss < 0.8*first.Loss) {
		t.Errorf("running loss %.3f is not below 0.8 × the initial %.3f", last.RunningLoss, first.Loss)
	}
}
