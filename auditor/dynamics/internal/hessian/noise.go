package hessian

import (
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"

	"github.com/gnaudit/gnaudit/auditor/data"
	"github.com/gnaudit/gnaudit/auditor/dynamics/internal/series"
	"github.com/gnaudit/gnaudit/auditor/persample"
)

// Noise is the per-sample gradient noise at a checkpoint, seen through a
// set of unit vectors U (the Hessian's top eigenvectors): C_U = Cov_i(Uᵀ
// g_i), g_i = ∇ℓ_i the per-sample gradients (the weight decay is the same
// for every sample and drops out), and tr C over all coordinates.
type Noise struct {
	N         int           // samples
	Mean      []float64     // mean of Uᵀ g_i
	Cov       *mat.SymDense // C_U (unbiased, divisor N−1)
	CovSE     *mat.Dense    // standard error of each entry of C_U
	TraceC    float64       // tr C = (1/(N−1)) Σ_i |g_i − ḡ|²
	TraceSE   float64       // its standard error
	GradNorm2 float64       // |ḡ|², the mean gradient of the samples
	// Proj are the projections Uᵀ g_i of every sample (N × K), for
	// resampling (CommutatorSE).
	Proj [][]float64
}

// ProjectNoise computes the per-sample gradients of the samples idx of ds
// with eng (whose parameters must already be the checkpoint's) and
// projects them on the vectors u (in the layout l). It asks the engine for
// the full per-sample gradients, chunk by chunk (memory: the engine's
// batch × Dim values).
func ProjectNoise(eng *persample.Engine, l *Layout, ds data.Dataset, idx []int, u [][]float64) (*Noise, error) {
	if len(idx) < 2 {
		return nil, errors.New("noise: need at least 2 samples")
	}
	infos := eng.Params()
	pos := map[string]int{}
	for k, name := range l.Names {
		pos[name] = k
	}
	if len(infos) != len(l.Names) {
		return nil, fmt.Errorf("noise: the engine has %d trainable parameters, the layout %d", len(infos), len(l.Names))
	}
	for _, p := range infos {
		if _, ok := pos[p.Name]; !ok {
			return nil, fmt.Errorf("noise: parameter %q of the engine is not in the layout", p.Name)
		}
	}
	k := len(u)
	n := len(idx)
	proj := make([][]float64, n) // Uᵀ g_i
	sq := make([]float64, n)
	sum := make([]float64, l.Dim())
	g := make([]float64, l.Dim())
	batch := eng.Batch()
	for off := 0; off < n; off += batch {
		b := min(batch, n-off)
		x, y, err := ds.Batch(idx[off:off+b], nil, nil)
		if err != nil {
			return nil, fmt.Errorf("noise: samples: %w", err)
		}
		res, err := eng.Compute(x, y, persample.Request{Full: true})
		if err != nil {
			return nil, fmt.Errorf("noise: per-sample gradients: %w", err)
		}
		for i := 0; i < b; i++ {
			for pi, p := range infos {
				o := l.Offsets[pos[p.Name]]
				dst := g[o : o+p.Size]
				pg := res.Params[pi]
				if pg.Full64 != nil {
					copy(dst, pg.Full64[i*p.Size:(i+1)*p.Size])
				} else {
					for j, v := range pg.Full32[i*p.Size : (i+1)*p.Size] {
						dst[j] = float64(v)
					}
				}
			}
			pr := make([]float64, k)
			for j := range u {
				pr[j] = dot(u[j], g)
			}
			proj[off+i] = pr
			sq[off+i] = dot(g, g)
			axpy(1, g, sum)
		}
	}
	nf := float64(n)
	nz := &Noise{N: n, Mean: make([]float64, k), Cov: mat.NewSymDense(k, nil), CovSE: mat.NewDense(k, k, nil), Proj: proj}
	for _, p := range proj {
		axpy(1/nf, p, nz.Mean)
	}
	for a := 0; a < k; a++ {
		for b := a; b < k; b++ {
			vals := make([]float64, n)
			for i, p := range proj {
				vals[i] = (p[a] - nz.Mean[a]) * (p[b] - nz.Mean[b])
			}
			m, sd := meanSD(vals)
			nz.Cov.SetSym(a, b, m*nf/(nf-1))
			nz.CovSE.Set(a, b, sd/math.Sqrt(nf))
			nz.CovSE.Set(b, a, sd/math.Sqrt(nf))
		}
	}
	mg := dot(sum, sum) / (nf * nf)
	nz.GradNorm2 = mg
	msq, sdsq := meanSD(sq)
	nz.TraceC = (msq - mg) * nf / (nf - 1)
	nz.TraceSE = sdsq / math.Sqrt(nf)
	return nz, nil
}

// Alignment summarises how the noise covariance lines up with the
// curvature in the subspace of the Ritz pairs (h_i, u_i):
//
//   - Commutator: ‖[H_U, C_U]‖_F / (‖H_U‖_F ‖C_U‖_F), 0 iff C_U is
//     diagonal in H's eigenbasis (for distinct h_i); detailed balance
//     needs [H, C] = 0;
//   - OffDiagonal: ‖offdiag C_U‖_F / ‖C_U‖_F;
//   - Tau: the least-squares τ of diag C_U ≈ τ h (C = τH, Fisher ≈
//     Hessian), and Cosine, the cosine between diag C_U and h (1 when
//     C ∝ H on the subspace).
type Alignment struct {
	Commutator  float64 `json:"commutator"`
	OffDiagonal float64 `json:"off_diagonal"`
	Tau         float64 `json:"tau"`
	Cosine      float64 `json:"cosine"`
}

// Align computes the Alignment of C_U with diag(h).
func Align(h []float64, c mat.Symmetric) Alignment {
	k := len(h)
	hm := mat.NewDiagDense(k, h)
	var a Alignment
	var hc, ch mat.Dense
	hc.Mul(hm, c)
	ch.Mul(c, hm)
	hc.Sub(&hc, &ch)
	if d := mat.Norm(hm, 2) * mat.Norm(c, 2); d > 0 {
		a.Commutator = mat.Norm(&hc, 2) / d
	}
	var off, all, hh, hcd, cc float64
	for i := 0; i < k; i++ {
		for j := 0; j < k; j++ {
			v := c.At(i, j) * c.At(i, j)
			all += v
			if i != j {
				off += v
			}
		}
		hh += h[i] * h[i]
		hcd += h[i] * c.At(i, i)
		cc += c.At(i, i) * c.At(i, i)
	}
	if all > 0 {
		a.OffDiagonal = math.Sqrt(off / all)
	}
	if hh > 0 {
		a.Tau = hcd / hh
	}
	if hh > 0 && cc > 0 {
		a.Cosine = hcd / math.Sqrt(hh*cc)
	}
	return a
}

// CommutatorSE is the standard error of Align(h, C_U).Commutator, C_U the
// sample covariance of the projections proj (N × K, one row per sample):
// the jackknife over groups consecutive groups of samples (leave one
// group out; the samples are independent, so any grouping is honest).
// The commutator is a norm, biased upward by the sampling noise of C_U by
// about this standard error when the true value is 0.
func CommutatorSE(h []float64, proj [][]float64, groups int) (float64, error) {
	k := len(h)
	if len(proj) < 2*groups {
		return math.NaN(), fmt.Errorf("commutator: %d samples for %d groups: need at least 2 per group", len(proj), groups)
	}
	// the series: x_a (K of them), then x_a x_b for a ≤ b
	var xs [][]float64
	for a := 0; a < k; a++ {
		col := make([]float64, len(proj))
		for i, p := range proj {
			if len(p) != k {
				return math.NaN(), fmt.Errorf("commutator: sample %d has %d projections, want %d", i, len(p), k)
			}
			col[i] = p[a]
		}
		xs = append(xs, col)
	}
	for a := 0; a < k; a++ {
		for b := a; b < k; b++ {
			col := make([]float64, len(proj))
			for i, p := range proj {
				col[i] = p[a] * p[b]
			}
			xs = append(xs, col)
		}
	}
	c := mat.NewSymDense(k, nil)
	f := func(m []float64) float64 {
		o := k
		for a := 0; a < k; a++ {
			for b := a; b < k; b++ {
				c.SetSym(a, b, m[o]-m[a]*m[b])
				o++
			}
		}
		return Align(h, c).Commutator
	}
	v, err := series.Estimate(groups, f, xs...)
	if err != nil {
		return math.NaN(), fmt.Errorf("commutator: %w", err)
	}
	return v.SE, nil
}
