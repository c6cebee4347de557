package dynamics

import (
	"context"
	"fmt"
	"math"
	"strconv"

	"github.com/gnaudit/gnaudit/auditor/data"
	"github.com/gnaudit/gnaudit/auditor/dynamics/internal/hessian"
	"github.com/gnaudit/gnaudit/auditor/graph"
	"github.com/gnaudit/gnaudit/auditor/ir"
)

// chainSpec is one SGD run at constant hyper-parameters.
type chainSpec struct {
	Name     string
	LR       float64
	Momentum float64
}

// trace is what a chain records after its burn-in, one entry per update t
// (θ_t, v_t the state before it): P[j][t] = u_jᵀ(θ_t − θ₀) and
// Q[j][t] = u_jᵀ v_t, XG[t] = (θ_t − c)·g_t with c the state at the end of the burn-in and
// g_t the gradient used by update t+1 (batch mean plus weight decay),
// VV[t] = |v_{t+1}|², Loss[t] the batch loss at θ_t (mean cross-entropy of
// the batch plus (λ/2)|θ|²_D: an unbiased estimate of L(θ_t), the batch
// being independent of θ_t).
type trace struct {
	P, Q     [][]float64
	XG, VV   []float64
	Loss     []float64
	Diverged string // why the chain stopped early, or ""
}

// chainRunner runs chains from the checkpoint.
type chainRunner struct {
	net    *graph.Net
	lay    *hessian.Layout
	theta0 []float64
	u      [][]float64
	ds     data.Dataset
	batch  int
	lambda float64
	seed   int64
	x      []float64
	y      []int
	g      []float64
}

func newChainRunner(m *ir.Model, lay *hessian.Layout, theta0 []float64, u [][]float64, ds data.Dataset, cfg Config) (*chainRunner, error) {
	net, err := graph.Build(m, graph.Options{Batch: cfg.Batch, Float64: cfg.Float64})
	if err != nil {
		return nil, fmt.Errorf("dynamics: executor for batch %d: %w", cfg.Batch, err)
	}
	return &chainRunner{net: net, lay: lay, theta0: theta0, u: u, ds: ds, batch: cfg.Batch, lambda: cfg.WeightDecay,
		seed: cfg.Seed, g: make([]float64, lay.Dim())}, nil
}

// grad computes the batch gradient at theta into r.g (mean over the batch
// plus weight decay) and returns the batch loss.
func (r *chainRunner) grad(theta []float64, rng *data.Rand) (float64, error) {
	pos := make([]int, r.batch)
	for i := range pos {
		pos[i] = rng.IntN(r.ds.Len()) // with replacement: i.i.d. batches
	}
	var err error
	if r.x, r.y, err = r.ds.Batch(pos, r.x, r.y); err != nil {
		return 0, err
	}
	l := r.lay
	for k, name := range l.Names {
		if err := r.net.SetParam(name, theta[l.Offsets[k]:l.Offsets[k+1]]); err != nil {
			return 0, fmt.Errorf("%s: %w", name, err)
		}
	}
	loss, err := r.net.LossGrad(r.x, r.y)
	if err != nil {
		return 0, err
	}
	inv := 1 / float64(r.batch)
	loss *= inv
	for k, name := range l.Names {
		gk := r.net.Grad(name)
		d := r.g[l.Offsets[k]:l.Offsets[k+1]]
		th := theta[l.Offsets[k]:l.Offsets[k+1]]
		for i := range d {
			d[i] = gk[i] * inv
			if l.Decayed[k] {
				d[i] += r.lambda * th[i]
				loss += 0.5 * r.lambda * th[i] * th[i]
			}
		}
	}
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return loss, fmt.Errorf("the batch loss is %v", loss)
	}
	return loss, nil
}

// run performs burn + steps updates v ← μv − η g, θ ← θ + v from θ₀ with
// v = 0, recording the steps after the burn-in. tick is called after
// every update. A diverging chain (non-finite loss, or a loss above
// 100 × (1 + the first loss)) stops with Diverged set.
func (r *chainRunner) run(ctx context.Context, spec chainSpec, burn, steps int, tick func()) (*trace, error) {
	n := r.lay.Dim()
	theta := append([]float64(nil), r.theta0...)
	v := make([]float64, n)
	c := make([]float64, n)
	k := len(r.u)
	tr := &trace{P: make([][]float64, k), Q: make([][]float64, k)}
	rng := data.NewRand(r.seed, "dynamics/"+spec.Name+"/"+strconv.FormatFloat(spec.LR, 'g', -1, 64))
	first := math.NaN()
	for t := 0; t < burn+steps; t++ {
		if err := ctx.Err(); err != nil {
			return tr, err
		}
		loss, err := r.grad(theta, rng)
		if err != nil {
			tr.Diverged = fmt.Sprintf("update %d: %v", t+1, err)
			return tr, nil
		}
		if t == 0 {
			first = loss
		} else if loss > 100*(1+math.Abs(first)) {
			tr.Diverged = fmt.Sprintf("update %d: the batch loss %.4g is over 100× the first (%.4g)", t+1, loss, first)
			return tr, nil
		}
		if t == burn {
			copy(c, theta)
		}
		rec := t >= burn
		if rec {
			xg := 0.0
			for i := range theta {
				xg += (theta[i] - c[i]) * r.g[i]
			}
			tr.XG = append(tr.XG, xg)
			tr.Loss = append(tr.Loss, loss)
			for j, u := range r.u {
				p, q := 0.0, 0.0
				for i := range u {
					p += u[i] * (theta[i] - r.theta0[i])
					q += u[i] * v[i]
				}
				tr.P[j] = append(tr.P[j], p)
				tr.Q[j] = append(tr.Q[j], q)
			}
		}
		vv := 0.0
		for i := range v {
			v[i] = spec.Momentum*v[i] - spec.LR*r.g[i]
			theta[i] += v[i]
			vv += v[i] * v[i]
		}
		if rec {
			tr.VV = append(tr.VV, vv)
		}
		if tick != nil {
			tick()
		}
	}
	return tr, nil
}
