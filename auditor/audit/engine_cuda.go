//go:build gnaudit_cuda

package audit

import (
	"fmt"

	"github.com/gnaudit/gnaudit/auditor/collect"
	"github.com/gnaudit/gnaudit/auditor/data"
	"github.com/gnaudit/gnaudit/auditor/ir"
	"github.com/gnaudit/gnaudit/auditor/train"
	"github.com/gnaudit/gnaudit/cuda"
	"github.com/gnaudit/gnaudit/plugins/builtin"
)

// gpuEngine is the GPU engine of a gnaudit_cuda build.
type gpuEngine struct {
	dev    *cuda.Device
	m      *ir.Model // the model at the current θ
	batch  int
	shape  []int
	layers []collect.LayerSpec
	src    *cuda.Source
	notes  []string
}

// openCUDAEngine is --device cuda in a gnaudit_cuda build: per-sample
// gradients on the GPU (package cuda). They stay on the device; only the
// tested coordinates, per-sample squared norms and block sums reach the
// collector. The batch is planned from the device memory (cuda's
// Device.PlanBatch).
func openCUDAEngine(m *ir.Model, opt EngineOptions) (Engine, error) {
	dev, err := cuda.Open(0)
	if err != nil {
		return nil, fmt.Errorf("--device cuda: %w", err)
	}
	plan, err := dev.PlanBatch(m, opt.Batch) // device memory planning: cuda/plan.go
	if err != nil {
		dev.Close()
		return nil, fmt.Errorf("--device cuda: %s: %w", modelLabel(m), err)
	}
	batch := plan.Batch
	g := &gpuEngine{dev: dev, m: m, batch: batch}
	probe, err := dev.NewNet(m, 1)
	if err != nil {
		dev.Close()
		return nil, fmt.Errorf("--device cuda: %s: %w", modelLabel(m), err)
	}
	g.shape = probe.InputShape()
	probe.Close()
	info := dev.Info()
	g.notes = append(g.notes,
		fmt.Sprintf("per-sample gradients on %s (compute capability %s) in batches of %d", info.Name, info.ComputeCapability, batch),
		plan.String())
	return g, nil
}

func (g *gpuEngine) Name() string {
	return fmt.Sprintf("cuda (%s, batch %d)", g.dev.Info().Name, g.batch)
}

func (g *gpuEngine) InputShape() []int { return append([]int(nil), g.shape...) }

func (g *gpuEngine) Classes() int {
	for _, o := range g.m.Outputs {
		if n := len(o.Shape); n == 2 && o.Shape[1].Known() {
			return int(o.Shape[1].Value)
		}
	}
	return 0
}

func (g *gpuEngine) SetParams(params []train.Param) error {
	m, err := train.WithParams(g.m, params)
	if err != nil {
		return err
	}
	g.m = m
	return nil
}

func (g *gpuEngine) Source(ds data.Dataset) (collect.Source, error) {
	if g.src != nil {
		g.src.Close()
		g.src = nil
	}
	if err := ds.Check(append([]int{-1}, g.shape...), g.Classes()); err != nil {
		return nil, fmt.Errorf("--device cuda: %w", err)
	}
	src, err := cuda.NewSource(g.dev, g.m, ds, g.batch)
	if err != nil {
		return nil, fmt.Errorf("--device cuda: %w", err)
	}
	g.src = src
	g.layers = src.Layers()
	return src, nil
}

// SourceBytes is the host memory of one block: the input batch and, per
// layer, the block sums (the per-sample gradients stay on the device).
func (g *gpuEngine) SourceBytes() int64 {
	var params int64
	for _, name := range g.m.Trainable {
		if t := g.m.Initializers[name]; t != nil {
			params += int64(t.Len())
		}
	}
	per := int64(1)
	for _, d := range g.shape {
		per *= int64(d)
	}
	return 8 * (int64(g.batch)*per + 2*params)
}

// ColumnTester lets the audit's normality analysis run its Shapiro–Wilk
// tests on the same GPU.
func (g *gpuEngine) ColumnTester() builtin.ColumnTester { return g.dev }

func (g *gpuEngine) Notes() []string { return append([]string(nil), g.notes...) }

func (g *gpuEngine) Close() error {
	if g.src != nil {
		g.src.Close()
		g.src = nil
	}
	return g.dev.Close()
}
