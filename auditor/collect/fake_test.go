package collect

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/gnaudit/gnaudit/auditor/data"
)

// fake is a Source with known per-sample gradients: coordinate j of layer l
// of sample i is μ_lj + σ_lj·(E − 1), E ~ Exp(1) drawn from a stream of
// (seed, i, l) — skewed noise, so third moments are non-zero. Coordinates
// with σ = 0 are constant (degenerate noise).
type fake struct {
	specs []LayerSpec
	seed  int64
	block int
	// blocks, when set, gives the block size of request i (the last entry
	// for later requests).
	blocks []int
	// cancel, when set, is called once delivered reaches cancelAt.
	cancel    func()
	cancelAt  int
	delivered int
	// requests records the requests (Indices cloned).
	requests []Request
	// corrupt, when set, alters a block before delivery.
	corrupt func(*Block)
	// fail, when set, is returned instead of the first block.
	fail error
	// nan puts a NaN in this sample's gradients (-1: none).
	nan int
}

func newFake(seed int64, block int, specs ...LayerSpec) *fake {
	return &fake{specs: specs, seed: seed, block: block, nan: -1}
}

func (f *fake) Layers() []LayerSpec { return f.specs }

// grad returns the full gradient of sample i in layer l.
func (f *fake) grad(i, l int) []float64 {
	n := f.specs[l].Size()
	r := data.NewRand(f.seed+int64(i)*7919, "fake/"+strconv.Itoa(l))
	g := make([]float64, n)
	for j := range g {
		mu := 0.05 * float64(j%5-2) * float64(l+1)
		sigma := 0.5 + 0.25*float64((j+l)%4)
		if j%9 == 8 {
			sigma = 0
		}
		e := -math.Log(1 - r.Float64())
		g[j] = mu + sigma*(e-1)
	}
	if i == f.nan {
		g[0] = math.NaN()
	}
	return g
}

func (f *fake) PerSample(ctx context.Context, req Request, fn func(Block) error) error {
	f.requests = append(f.requests, Request{Indices: slices.Clone(req.Indices), Tested: req.Tested, Full: req.Full})
	if f.fail != nil {
		return f.fail
	}
	L := len(f.specs)
	block := f.block
	if len(f.blocks) > 0 {
		block = f.blocks[min(len(f.requests)-1, len(f.blocks)-1)]
	}
	for off := 0; off < len(req.Indices); off += block {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("fake source: %w", err)
		}
		rows := min(block, len(req.Indices)-off)
		b := Block{Offset: off, Rows: rows, Layers: make([]LayerBlock, L)}
		for l := range f.specs {
			lb := &b.Layers[l]
			nt := len(req.Tested[l])
			lb.Tested = make([]float64, rows*nt)
			if req.Full {
				lb.SumSq = make([]float64, rows)
				lb.GradSum = make([]float64, f.specs[l].Size())
			}
			for r := 0; r < rows; r++ {
				g := f.grad(req.Indices[off+r], l)
				for c, j := range req.Tested[l] {
					lb.Tested[r*nt+c] = g[j]
				}
				if req.Full {
					for j, v := range g {
						lb.SumSq[r] += v * v
						lb.GradSum[j] += v
					}
				}
			}
		}
		if f.corrupt != nil {
			f.corrupt(&b)
		}
		if err := fn(b); err != nil {
			return err
		}
		f.delivered += rows
		if f.cancel != nil && f.delivered >= f.cancelAt {
			f.cancel()
			f.cancel = nil
		}
	}
	return nil
}

// reference holds the direct computation of a collection's quantities from
// the full per-sample gradients of the given pool samples (data indices).
type reference struct {
	mean       [][]float64 // per layer, full: ḡ
	s2, s3, s4 [][]float64 // per layer, full: Σ ξ^k
	a3         [][]float64
	trace      []float64 // Σ_j (1/N) Σ_i ξ_ij², centred directly
	normSq     []float64 // |ḡ|²
	sumNormSq  []float64 // Σ_i |g_i|²
	grads      map[int][][]float64
}

// direct computes the reference over samples (data indices), centred on
// their own mean, or on centre (full per-layer means) when given.
func direct(f *fake, samples []int, centre [][]float64) *reference {
	L := len(f.specs)
	ref := &reference{grads: map[int][][]float64{}}
	for _, i := range samples {
		ref.grads[i] = make([][]float64, L)
		for l := range f.specs {
			ref.grads[i][l] = f.grad(i, l)
		}
	}
	n := float64(len(samples))
	for l, s := range f.specs {
		size := s.Size()
		mean := make([]float64, size)
		if centre != nil {
			copy(mean, centre[l])
		} else {
			for _, i := range samples {
				for j, v := range ref.grads[i][l] {
					mean[j] += v
				}
			}
			for j := range mean {
				mean[j] /= n
			}
		}
		s2, s3, s4, a3 := make([]float64, size), make([]float64, size), make([]float64, size), make([]float64, size)
		sumNorm := 0.0
		for _, i := range samples {
			for j, v := range ref.grads[i][l] {
				x := v - mean[j]
				s2[j] += x * x
				s3[j] += x * x * x
				s4[j] += x * x * x * x
				a3[j] += math.Abs(x * x * x)
				sumNorm += v * v
			}
		}
		tr, nsq := 0.0, 0.0
		for j := range mean {
			tr += s2[j] / n
			nsq += mean[j] * mean[j]
		}
		ref.mean = append(ref.mean, mean)
		ref.s2, ref.s3, ref.s4, ref.a3 = append(ref.s2, s2), append(ref.s3, s3), append(ref.s4, s4), append(ref.a3, a3)
		ref.trace = append(ref.trace, tr)
		ref.normSq = append(ref.normSq, nsq)
		ref.sumNormSq = append(ref.sumNormSq, sumNorm)
	}
	return ref
}
