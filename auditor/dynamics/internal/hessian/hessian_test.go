package hessian

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/gnaudit/gnaudit/auditor/data"
	"github.com/gnaudit/gnaudit/auditor/internal/irtest"
	"github.com/gnaudit/gnaudit/auditor/ir"
	"github.com/gnaudit/gnaudit/auditor/persample"
	"github.com/gnaudit/gnaudit/internal/approx"
)

// softmax is an ONNX softmax regression (Gemm with transB, bias) of d
// features and c classes on n seeded samples with its analytic loss
// derivatives.
type softmax struct {
	d, c, n int
	model   *ir.Model
	ds      data.Dataset
	x       [][]float64 // features with a trailing 1 (the bias)
	y       []int
}

func newSoftmax(t testing.TB, d, c, n int, seed int64) *softmax {
	t.Helper()
	b := irtest.New(13, seed, -1, int64(d))
	w := b.Param("fc.weight", 0.5, true, int64(c), int64(d))
	bias := b.Param("fc.bias", 0.3, true, int64(c))
	out := b.Op("Gemm", irtest.Attrs("transB", irtest.Int(1)), "x", w, bias)
	s := &softmax{d: d, c: c, n: n, model: b.Output(out)}
	r := rand.New(rand.NewPCG(uint64(seed), 99))
	pix := make([]float32, n*d)
	for i := 0; i < n; i++ {
		y := r.IntN(c)
		row := make([]float64, d+1)
		for j := 0; j < d; j++ {
			v := float32(r.NormFloat64() + 0.8*float64((y+j)%c) - 0.8)
			pix[i*d+j] = v
			row[j] = float64(v)
		}
		row[d] = 1
		s.x = append(s.x, row)
		s.y = append(s.y, y)
	}
	var err error
	if s.ds, err = data.New("softmax", data.Shape{C: 1, H: 1, W: d}, pix, s.y, c); err != nil {
		t.Fatal(err)
	}
	return s
}

// probs returns p_i for θ laid out as [W (c×d) row-major, b (c)].
func (s *softmax) probs(theta []float64, i int) []float64 {
	p := make([]float64, s.c)
	mx := math.Inf(-1)
	for k := 0; k < s.c; k++ {
		z := theta[s.c*s.d+k]
		for j := 0; j < s.d; j++ {
			z += theta[k*s.d+j] * s.x[i][j]
		}
		p[k] = z
		mx = math.Max(mx, z)
	}
	sum := 0.0
	for k := range p {
		p[k] = math.Exp(p[k] - mx)
		sum += p[k]
	}
	for k := range p {
		p[k] /= sum
	}
	return p
}

// idx maps (class k, feature j; j = d the bias) to the flat coordinate.
func (s *softmax) idx(k, j int) int {
	if j == s.d {
		return s.c*s.d + k
	}
	return k*s.d + j
}

// hessian is mean_i (diag p − ppᵀ) ⊗ x̃x̃ᵀ + λ D (D: the weights).
func (s *softmax) hessian(theta []float64, lambda float64) *mat.SymDense {
	dim := s.c * (s.d + 1)
	h := mat.NewSymDense(dim, nil)
	for i := 0; i < s.n; i++ {
		p := s.probs(theta, i)
		for k := 0; k < s.c; k++ {
			for k2 := 0; k2 < s.c; k2++ {
				a := -p[k] * p[k2]
				if k == k2 {
					a += p[k]
				}
				for j := 0; j <= s.d; j++ {
					for j2 := 0; j2 <= s.d; j2++ {
						r, c := s.idx(k, j), s.idx(k2, j2)
						if r <= c {
							h.SetSym(r, c, h.At(r, c)+a*s.x[i][j]*s.x[i][j2]/float64(s.n))
						}
					}
				}
			}
		}
	}
	for r := 0; r < s.c*s.d; r++ {
		h.SetSym(r, r, h.At(r, r)+lambda)
	}
	return h
}

// grad is the per-sample gradient (p − e_y) ⊗ x̃.
func (s *softmax) grad(theta []float64, i int) []float64 {
	p := s.probs(theta, i)
	g := make([]float64, s.c*(s.d+1))
	for k := 0; k < s.c; k++ {
		e := p[k]
		if k == s.y[i] {
			e--
		}
		for j := 0; j <= s.d; j++ {
			g[s.idx(k, j)] = e * s.x[i][j]
		}
	}
	return g
}

func weightsOnly(_ string, shape []int) bool { return len(shape) >= 2 }

// The known-answer test of the issue: HVPs of the ONNX softmax regression
// with weight decay equal its analytic Hessian, eigenpairs and trace are
// right, and the projected noise covariance equals the analytic one.
func TestSoftmaxRegressionHessian(t *testing.T) {
	const lambda = 0.01
	for _, tc := range []struct{ d, c, n, batch int }{{4, 3, 200, 64}, {6, 5, 150, 150}} {
		s := newSoftmax(t, tc.d, tc.c, tc.n, int64(tc.d))
		obj, err := New(s.model, s.ds, nil, Options{WeightDecay: lambda, Decay: weightsOnly, Batch: tc.batch})
		if err != nil {
			t.Fatal(err)
		}
		if obj.Names[0] != "fc.weight" || obj.Names[1] != "fc.bias" {
			t.Fatalf("layout %v", obj.Names)
		}
		theta := obj.Theta()
		h := s.hessian(theta, lambda)
		dim := obj.Dim()
		e := make([]float64, dim)
		col := make([]float64, dim)
		for j := 0; j < dim; j++ {
			clear(e)
			e[j] = 1
			if err := obj.HVP(e, col); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < dim; i++ {
				if !approx.Abs(t, fmt.Sprintf("d=%d: H[%d,%d] by HVP against the analytic one", tc.d, i, j), col[i], h.At(i, j), 1e-7) {
					t.FailNow()
				}
			}
		}
		asym, err := Symmetry(obj, 1)
		if err != nil || asym > 1e-7 {
			t.Errorf("symmetry %.3g (%v)", asym, err)
		}
		var es mat.EigenSym
		es.Factorize(h, true)
		vals := es.Values(nil)
		var vecs mat.Dense
		es.VectorsTo(&vecs)
		order := make([]int, dim)
		for i := range order {
			order[i] = i
		}
		sort.Slice(order, func(a, b int) bool { return vals[order[a]] > vals[order[b]] })
		eig, err := Lanczos(obj, LanczosOptions{K: 3, MaxIter: dim, Tol: 1e-8, Seed: 2})
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 3; i++ {
			want := vals[order[i]]
			approx.Rel(t, fmt.Sprintf("eigenvalue %d by Lanczos against the analytic one", i), eig.Values[i], want, 1e-6)
			c := 0.0
			for r := 0; r < dim; r++ {
				c += eig.Vectors[i][r] * vecs.At(r, order[i])
			}
			approx.Abs(t, fmt.Sprintf("eigenvector %d: |cos| with the analytic one", i), math.Abs(c), 1, 1e-5)
		}
		tr, se, err := Hutchinson(obj, 30, 3)
		if err != nil {
			t.Fatal(err)
		}
		want := mat.Trace(h)
		approx.SE(t, "Hutchinson tr H against the analytic one", tr, want, se, 4)
		if se > 0.3*want {
			t.Errorf("Hutchinson tr H = %.5g ± %.2g: SE above 0.3 of the analytic %.5g", tr, se, want)
		}

		// the noise covariance on the eigenvectors, exact per-sample gradients
		eng, err := persample.New(s.model, persample.Options{Float64: true, Batch: 32})
		if err != nil {
			t.Fatal(err)
		}
		nz, err := ProjectNoise(eng, &obj.Layout, s.ds, nil2all(s.n), eig.Vectors)
		if err != nil {
			t.Fatal(err)
		}
		proj := make([][]float64, s.n)
		var sqs, mean float64
		meanG := make([]float64, dim)
		for i := 0; i < s.n; i++ {
			g := s.grad(theta, i)
			for _, u := range eig.Vectors {
				proj[i] = append(proj[i], dot(u, g))
			}
			sqs += dot(g, g)
			axpy(1/float64(s.n), g, meanG)
		}
		for a := 0; a < 3; a++ {
			for b := 0; b < 3; b++ {
				ma, mb, cab := 0.0, 0.0, 0.0
				for i := range proj {
					ma += proj[i][a] / float64(s.n)
					mb += proj[i][b] / float64(s.n)
				}
				for i := range proj {
					cab += (proj[i][a] - ma) * (proj[i][b] - mb) / float64(s.n-1)
				}
				approx.Within(t, fmt.Sprintf("C_U[%d,%d] against the analytic one", a, b), nz.Cov.At(a, b), cab, 1e-9, 1e-9)
			}
		}
		mean = dot(meanG, meanG)
		approx.Rel(t, "tr C against the analytic one", nz.TraceC, (sqs/float64(s.n)-mean)*float64(s.n)/float64(s.n-1), 1e-9)
		al := Align(eig.Values, nz.Cov)
		if !(al.Commutator >= 0 && al.Commutator < 1.5 && al.Cosine > 0 && al.Cosine <= 1+1e-12) {
			t.Errorf("alignment %+v", al)
		}
	}
}

func nil2all(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// Align on constructed cases: C = τH gives τ, cosine 1, no commutator.
func TestAlign(t *testing.T) {
	h := []float64{3, 2, 1}
	c := mat.NewSymDense(3, []float64{1.5, 0, 0, 0, 1, 0, 0, 0, 0.5})
	a := Align(h, c)
	approx.Abs(t, "C = H/2: τ", a.Tau, 0.5, approx.Float64)
	approx.Abs(t, "C = H/2: cosine", a.Cosine, 1, approx.Float64)
	if a.Commutator != 0 || a.OffDiagonal != 0 {
		t.Errorf("C = H/2: %+v", a)
	}
	c.SetSym(0, 1, 0.4)
	a = Align(h, c)
	if a.Commutator <= 0 || a.OffDiagonal <= 0 {
		t.Errorf("off-diagonal C: %+v", a)
	}
}

// Lanczos on an explicit matrix with a known spectrum.
type denseOp struct{ m *mat.SymDense }

func (d denseOp) Dim() int { return d.m.SymmetricDim() }
func (d denseOp) HVP(x, y []float64) error {
	v := mat.NewVecDense(len(y), y)
	v.MulVec(d.m, mat.NewVecDense(len(x), x))
	return nil
}

func TestLanczosSpectrum(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 4))
	n := 300
	q := mat.NewDense(n, n, nil)
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			q.Set(i, j, r.NormFloat64())
		}
	}
	var qr mat.QR
	qr.Factorize(q)
	var o mat.Dense
	qr.QTo(&o)
	vals := make([]float64, n)
	for i := range vals {
		vals[i] = 1 / float64(i+1) // 1, 1/2, 1/3, ...
	}
	vals[0], vals[1] = 20, 10
	var m mat.Dense
	m.Mul(&o, mat.NewDiagDense(n, vals))
	m.Mul(&m, o.T())
	s := mat.NewSymDense(n, nil)
	for i := 0; i < n; i++ {
		for j := i; j < n; j++ {
			s.SetSym(i, j, (m.At(i, j)+m.At(j, i))/2)
		}
	}
	eig, err := Lanczos(denseOp{s}, LanczosOptions{K: 3, Seed: 1, Tol: 1e-6, MaxIter: 60})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []float64{20, 10, 1.0 / 3} {
		if !approx.Rel(t, fmt.Sprintf("λ%d", i), eig.Values[i], want, 1e-5) {
			t.Logf("λ%d: residual %.2g, %d iterations", i, eig.Residuals[i], eig.Iters)
		}
	}
	if eig.Iters >= 60 {
		t.Errorf("no convergence in 60 iterations: residuals %v", eig.Residuals)
	}
}
