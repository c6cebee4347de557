package audit

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/gnaudit/gnaudit/auditor/data"
)

// rawData is the data of an audit as loaded, before preprocessing.
type rawData struct {
	train, eval data.Dataset
	format      string // resolved format
	dir         string
	split       string // the split the training samples come from
	eightBit    bool   // pixels are 0..255 (Scale "auto" divides by 255)
	notes       []string
}

// loadData loads the training and evaluation samples of c.
func loadData(c DataConfig, seed int64) (*rawData, error) {
	dir := c.Dir
	format := c.Format
	if format == "" {
		format = "auto"
	}
	if dir == "" {
		if format != "auto" && format != "fashion-mnist" {
			return nil, fmt.Errorf("data: format %s needs a data directory (--data)", format)
		}
		dir, format = data.DefaultFashionMNISTDir, "fashion-mnist"
		if _, err := os.Stat(dir); err != nil {
			return nil, fmt.Errorf("data: no --data given and Debian's Fashion-MNIST is not installed in %s "+
				"(sudo apt-get install dataset-fashion-mnist, or pass --data DIR)", dir)
		}
	}
	if format == "auto" {
		var err error
		if format, err = detectFormat(dir, c); err != nil {
			return nil, err
		}
	}
	r := &rawData{format: format, dir: dir, split: "train"}
	var err error
	switch format {
	case "fashion-mnist", "mnist":
		load := data.LoadMNIST
		if format == "fashion-mnist" {
			load = data.LoadFashionMNIST
		}
		if r.train, err = load(dir, "train"); err != nil {
			return nil, fmt.Errorf("data: %w", err)
		}
		r.eightBit = true
		if c.EvalSamples > 0 {
			// Missing test files: the evaluation samples are held out of
			// the training split (noted). Test files that exist but are
			// broken are an error: falling back would evaluate on training
			// samples without a word.
			if _, _, ferr := data.MNISTFiles(dir, "test"); ferr != nil {
				if some, _ := filepath.Glob(filepath.Join(dir, "t10k-*")); len(some) > 0 {
					return nil, fmt.Errorf("data: test split incomplete (%s is there, but %w; remove it or add the missing file, or pass --eval-samples 0)", some[0], ferr)
				}
				r.notes = append(r.notes, fmt.Sprintf("no test split (%v): the %d evaluation samples are held out of the training split", ferr, c.EvalSamples))
			} else if r.eval, err = load(dir, "test"); err != nil {
				return nil, fmt.Errorf("data: test split (for --eval-samples %d; remove or repair the files, or pass --eval-samples 0): %w", c.EvalSamples, err)
			}
		}
	case "cifar10":
		if r.train, err = data.LoadCIFAR10(dir, "train"); err != nil {
			return nil, fmt.Errorf("data: %w", err)
		}
		r.eightBit = true
		if c.EvalSamples > 0 {
			if _, ferr := data.CIFAR10Files(dir, "test"); ferr != nil {
				r.notes = append(r.notes, fmt.Sprintf("no test batch (%v): the %d evaluation samples are held out of the training batches", ferr, c.EvalSamples))
			} else if r.eval, err = data.LoadCIFAR10(dir, "test"); err != nil {
				return nil, fmt.Errorf("data: test batch (for --eval-samples %d; remove or repair it, or pass --eval-samples 0): %w", c.EvalSamples, err)
			}
		}
	case "npy":
		images, labels := npyFiles(dir, c)
		if r.train, err = data.LoadNPY(images, labels, c.Classes); err != nil {
			return nil, fmt.Errorf("data: %w", err)
		}
		r.split = ""
	default:
		return nil, fmt.Errorf("data: unknown format %q", format)
	}
	if r.train.Len() == 0 {
		return nil, fmt.Errorf("data: %s has no samples", dir)
	}
	if c.Limit > 0 && c.Limit < r.train.Len() {
		r.train = r.train.Shuffle(seed).Head(c.Limit)
	}
	if c.EvalSamples > 0 {
		if r.eval.Len() > 0 {
			r.eval = r.eval.Head(c.EvalSamples)
		} else {
			if c.EvalSamples >= r.train.Len() {
				return nil, fmt.Errorf("data: %d evaluation samples leave no training samples of %d (lower --eval-samples)", c.EvalSamples, r.train.Len())
			}
			if r.train, r.eval, err = r.train.Split(c.EvalSamples, seed); err != nil {
				return nil, fmt.Errorf("data: held-out split: %w", err)
			}
		}
	}
	return r, nil
}

// npyFiles returns the image and label files of the npy format.
func npyFiles(dir string, c DataConfig) (string, string) {
	images, labels := c.Images, c.Labels
	if images == "" {
		images = filepath.Join(dir, "images.npy")
	}
	if labels == "" {
		labels = filepath.Join(dir, "labels.npy")
	}
	return images, labels
}

// detectFormat looks at the files of dir.
func detectFormat(dir string, c DataConfig) (string, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return "", fmt.Errorf("data: %w", err)
	}
	if !st.IsDir() {
		return "", fmt.Errorf("data: %s is not a directory", dir)
	}
	if _, _, err := data.MNISTFiles(dir, "train"); err == nil {
		if strings.Contains(strings.ToLower(filepath.Base(filepath.Clean(dir))), "fashion") {
			return "fashion-mnist", nil
		}
		return "mnist", nil
	}
	if _, err := data.CIFAR10Files(dir, "train"); err == nil {
		return "cifar10", nil
	}
	images, labels := npyFiles(dir, c)
	if fileExists(images) && fileExists(labels) {
		return "npy", nil
	}
	return "", fmt.Errorf("data: cannot tell the format of %s: expected MNIST-layout files (train-images-idx3-ubyte[.gz], "+
		"train-labels-idx1-ubyte[.gz]), CIFAR-10 binary batches (data_batch_1.bin …) or images.npy and labels.npy "+
		"(or set --data-format)", dir)
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// prepared is the data after preprocessing, as the model sees it.
type prepared struct {
	train, eval data.Dataset
	adaptation  data.Adaptation
	steps       []string // what was done, in order, for the report
}

// zooInput is the input shape of a zoo model built for samples of shape s:
// the same channels and at least the zoo's 32×32 (the paper's CIFAR
// geometry; smaller images are padded).
func zooInput(s data.Shape) [3]int {
	return [3]int{s.C, max(s.H, 32), max(s.W, 32)}
}

// preprocess scales, adapts to target and normalises the data.
func preprocess(r *rawData, p PreprocessConfig, target data.Shape) (*prepared, error) {
	out := &prepared{train: r.train, eval: r.eval}
	factor, err := p.scale(r.eightBit)
	if err != nil {
		return nil, fmt.Errorf("preprocess.scale: %w", err)
	}
	apply := func(f func(d data.Dataset) (data.Dataset, error)) error {
		var err error
		if out.train, err = f(out.train); err != nil {
			return err
		}
		if out.eval.Len() > 0 {
			if out.eval, err = f(out.eval); err != nil {
				return err
			}
		}
		return nil
	}
	if factor != 1 {
		if err := apply(func(d data.Dataset) (data.Dataset, error) { return d.Scale(factor) }); err != nil {
			return nil, fmt.Errorf("preprocess: scale: %w", err)
		}
	}
	policy := data.Policy{Spatial: p.Spatial, Channels: p.Channels}
	var ad data.Adaptation
	if err := apply(func(d data.Dataset) (data.Dataset, error) {
		nd, a, err := d.Adapt(target, policy)
		ad = a
		return nd, err
	}); err != nil {
		return nil, fmt.Errorf("preprocess: adapting %s samples to the model's input %s (policy spatial=%s, channels=%s): %w",
			r.train.Shape(), target, p.Spatial, p.Channels, err)
	}
	out.adaptation = ad
	var mean, std []float64
	switch p.Normalize {
	case "stats":
		mean, std = out.train.ChannelStats()
		for i, s := range std {
			if !(s > 0) {
				std[i] = 1 // a constant channel: centre it only
			}
		}
	case "given":
		mean, std = p.Mean, p.Std
	}
	if mean != nil {
		if err := apply(func(d data.Dataset) (data.Dataset, error) { return d.Normalize(mean, std) }); err != nil {
			return nil, fmt.Errorf("preprocess: normalize: %w", err)
		}
	}
	for _, s := range out.train.Describe().Transforms {
		out.steps = append(out.steps, s.Detail)
	}
	if len(out.steps) == 0 {
		out.steps = []string{"none: samples are fed as stored"}
	}
	if out.train.Len() == 0 {
		return nil, errors.New("preprocess: no training samples")
	}
	return out, nil
}
