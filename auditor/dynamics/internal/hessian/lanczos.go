package hessian

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"

	"gonum.org/v1/gonum/mat"
)

// Operator is a symmetric linear map y = H x on vectors of length Dim.
type Operator interface {
	Dim() int
	HVP(x, y []float64) error
}

// Eigen holds Ritz pairs of H, largest eigenvalue first.
type Eigen struct {
	Values    []float64
	Vectors   [][]float64 // unit vectors
	Residuals []float64   // |H y − θ y| of each pair
	Iters     int         // Lanczos iterations (HVPs) used
}

// LanczosOptions configure Lanczos.
type LanczosOptions struct {
	K       int     // eigenpairs wanted (≥ 1)
	MaxIter int     // at most this many HVPs (default 3K + 10, at least K+1)
	Tol     float64 // stop when every residual ≤ Tol·|θ₁| (default 1e-3)
	Seed    uint64
	// Progress, when set, is called after each iteration.
	Progress func(iter int)
}

// Lanczos computes the K algebraically largest eigenpairs of op by the
// Lanczos iteration with full reorthogonalisation (memory MaxIter
// vectors of Dim float64). The residuals are those of the Ritz pairs:
// |β_m s_{m,i}|, equal to |H y_i − θ_i y_i| in exact arithmetic.
func Lanczos(op Operator, opt LanczosOptions) (*Eigen, error) {
	n := op.Dim()
	if opt.K < 1 {
		return nil, errors.New("lanczos: K must be at least 1")
	}
	if opt.K > n {
		opt.K = n
	}
	if opt.MaxIter <= 0 {
		opt.MaxIter = 3*opt.K + 10
	}
	opt.MaxIter = max(min(opt.MaxIter, n), opt.K)
	if opt.Tol <= 0 {
		opt.Tol = 1e-3
	}
	r := rand.New(rand.NewPCG(opt.Seed, 0x1a2c))
	q := make([]float64, n)
	for i := range q {
		q[i] = r.NormFloat64()
	}
	scale(q, 1/norm(q))
	var qs [][]float64
	var alpha, beta []float64
	w := make([]float64, n)
	var eig *Eigen
	for j := 0; j < opt.MaxIter; j++ {
		qs = append(qs, q)
		if err := op.HVP(q, w); err != nil {
			return nil, fmt.Errorf("lanczos iteration %d: %w", j+1, err)
		}
		a := dot(w, q)
		alpha = append(alpha, a)
		// full reorthogonalisation, twice
		for pass := 0; pass < 2; pass++ {
			for _, qi := range qs {
				axpy(-dot(w, qi), qi, w)
			}
		}
		b := norm(w)
		if opt.Progress != nil {
			opt.Progress(j + 1)
		}
		var err error
		eig, err = ritz(alpha, beta, b, qs, opt.K)
		if err != nil {
			return nil, err
		}
		if len(alpha) >= opt.K+1 || len(alpha) == n {
			done := true
			for _, res := range eig.Residuals {
				if res > opt.Tol*math.Abs(eig.Values[0]) {
					done = false
				}
			}
			if done || b == 0 {
				break
			}
		}
		if b == 0 {
			break
		}
		beta = append(beta, b)
		q = make([]float64, n)
		for i := range q {
			q[i] = w[i] / b
		}
	}
	return eig, nil
}

// ritz diagonalises the tridiagonal matrix of alpha, beta and returns the
// top k Ritz pairs (vectors Q s) with residuals |bNext s_last|.
func ritz(alpha, beta []float64, bNext float64, qs [][]float64, k int) (*Eigen, error) {
	m := len(alpha)
	t := mat.NewSymDense(m, nil)
	for i := 0; i < m; i++ {
		t.SetSym(i, i, alpha[i])
		if i+1 < m {
			t.SetSym(i, i+1, beta[i])
		}
	}
	var es mat.EigenSym
	if !es.Factorize(t, true) {
		return nil, errors.New("lanczos: tridiagonal eigendecomposition failed")
	}
	vals := es.Values(nil)
	var s mat.Dense
	es.VectorsTo(&s)
	order := make([]int, m)
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool { return vals[order[a]] > vals[order[b]] })
	k = min(k, m)
	e := &Eigen{Iters: m}
	n := len(qs[0])
	for _, c := range order[:k] {
		e.Values = append(e.Values, vals[c])
		e.Residuals = append(e.Residuals, math.Abs(bNext*s.At(m-1, c)))
		y := make([]float64, n)
		for j := 0; j < m; j++ {
			axpy(s.At(j, c), qs[j], y)
		}
		scale(y, 1/norm(y))
		e.Vectors = append(e.Vectors, y)
	}
	return e, nil
}

// Hutchinson estimates tr H as the mean of zᵀHz over probes Rademacher
// vectors z, with its standard error (sd/√probes).
func Hutchinson(op Operator, probes int, seed uint64) (est, se float64, err error) {
	if probes < 2 {
		return 0, 0, errors.New("hutchinson: need at least 2 probes")
	}
	r := rand.New(rand.NewPCG(seed, 0x7ace))
	n := op.Dim()
	z := make([]float64, n)
	hz := make([]float64, n)
	vals := make([]float64, probes)
	for p := range vals {
		for i := range z {
			z[i] = 1
			if r.Uint64()&1 == 1 {
				z[i] = -1
			}
		}
		if err := op.HVP(z, hz); err != nil {
			return 0, 0, fmt.Errorf("hutchinson probe %d: %w", p+1, err)
		}
		vals[p] = dot(z, hz)
	}
	m, sd := meanSD(vals)
	return m, sd / math.Sqrt(float64(probes)), nil
}

// Symmetry returns |uᵀHw − wᵀHu| / (|u||Hw| + |w||Hu|)·2 for two seeded
// random unit vectors: zero up to the finite-difference error for a
// Hessian.
func Symmetry(op Operator, seed uint64) (float64, error) {
	r := rand.New(rand.NewPCG(seed, 0x5e77))
	n := op.Dim()
	u, w := make([]float64, n), make([]float64, n)
	for i := range u {
		u[i], w[i] = r.NormFloat64(), r.NormFloat64()
	}
	scale(u, 1/norm(u))
	scale(w, 1/norm(w))
	hu, hw := make([]float64, n), make([]float64, n)
	if err := op.HVP(u, hu); err != nil {
		return 0, err
	}
	if err := op.HVP(w, hw); err != nil {
		return 0, err
	}
	d := norm(hw) + norm(hu)
	if d == 0 {
		return 0, nil
	}
	return 2 * math.Abs(dot(u, hw)-dot(w, hu)) / d, nil
}

func meanSD(v []float64) (m, sd float64) {
	for _, x := range v {
		m += x
	}
	m /= float64(len(v))
	for _, x := range v {
		sd += (x - m) * (x - m)
	}
	return m, math.Sqrt(sd / float64(len(v)-1))
}

func scale(v []float64, a float64) {
	for i := range v {
		v[i] *= a
	}
}

func axpy(a float64, x, y []float64) {
	for i := range y {
		y[i] += a * x[i]
	}
}
