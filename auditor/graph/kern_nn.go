package graph

import "math"

// Matrix products, normalisation, softmax and loss kernels.

// mmGeom describes a (batched, broadcast) matrix product [.., m, k] × [.., k, n].
type mmGeom struct {
	m, k, n int
	batch   []int // broadcast batch shape
	aStr    []int // batch strides of a, in matrices (0 where broadcast)
	bStr    []int
	simple  bool // b has no batch and a is not broadcast: one flat product
}

func (g *mmGeom) nb() int {
	n := 1
	for _, d := range g.batch {
		n *= d
	}
	return n
}

// forBatch calls fn with the flat output batch index and the a and b matrix
// indices.
func (g *mmGeom) forBatch(fn func(i, ia, ib int)) {
	nb := g.nb()
	idx := make([]int, len(g.batch))
	for i := 0; i < nb; i++ {
		ia, ib := 0, 0
		for d := range idx {
			ia += idx[d] * g.aStr[d]
			ib += idx[d] * g.bStr[d]
		}
		fn(i, ia, ib)
		for d := len(idx) - 1; d >= 0; d-- {
			idx[d]++
			if idx[d] < g.batch[d] {
				break
			}
			idx[d] = 0
		}
	}
}

func matmulFwd[T float](out, a, b []T, g *mmGeom) {
	m, k, n := g.m, g.k, g.n
	if g.simple {
		gemm(false, false, g.nb()*m, n, k, 1, a, k, b, n, 0, out, n)
		return
	}
	g.forBatch(func(i, ia, ib int) {
		gemm(false, false, m, n, k, 1, a[ia*m*k:], k, b[ib*k*n:], n, 0, out[i*m*n:], n)
	})
}

func matmulGradA[T float](da, b, gy []T, g *mmGeom) {
	m, k, n := g.m, g.k, g.n
	if g.simple {
		gemm(false, true, g.nb()*m, k, n, 1, gy, n, b, n, 0, da, k)
		return
	}
	clear(da)
	g.forBatch(func(i, ia, ib int) {
		gemm(false, true, m, k, n, 1, gy[i*m*n:], n, b[ib*k*n:], n, 1, da[ia*m*k:], k)
	})
}

func matmulGradB[T float](db, a, gy []T, g *mmGeom) {
	m, k, n := g.m, g.k, g.n
	if g.simple {
		gemm(true, false, k, n, g.nb()*m, 1, a, k, gy, n, 0, db, n)
		return
	}
	clear(db)
	g.forBatch(func(i, ia, ib int) {
		gemm(true, false, k, n, m, 1, a[ia*m*k:], k, gy[i*m*n:], n, 1, db[ib*k*n:], n)
	})
}

// gemmAttrs are ONNX Gemm's attributes and sizes: Y[M,N] = alpha·A'·B' + beta·C.
type gemmAttrs struct {
	m, n, k        int
	alpha, beta    float64
	transA, transB bool
}

func (g *gemmAttrs) lda() int {
	if g.transA {
		return g.m
	}
	return g.k
}

func (g *gemmAttrs) ldb() int {
	if g.transB {
		return g.k
	}
	return g.n
}

// gemmFwd computes out = alpha·A'·B' + beta·C; c (may be nil) is read with
// the broadcast iteration cit (operands: out, c).
func gemmFwd[T float](out, a, b, c []T, g *gemmAttrs, cit iter) {
	if c != nil {
		beta := T(g.beta)
		cit.rows(func(off []int, n int, st []int) {
			for k := 0; k < n; k++ {
				out[off[0]+k*st[0]] = beta * c[off[1]+k*st[1]]
			}
		})
	} else {
		clear(out)
	}
	gemm(g.transA, g.transB, g.m, g.n, g.k, T(g.alpha), a, g.lda(), b, g.ldb(), 1, out, g.n)
}

func gemmGradA[T float](da, b, gy []T, g *gemmAttrs) {
	al := T(g.alpha)
	if !g.transA {
		gemm(false, !g.transB, g.m, g.k, g.n, al, gy, g.n, b, g.ldb(), 0, da, g.k)
	} else {
		gemm(g.transB, true, g.k, g.m, g.n, al, b, g.ldb(), gy, g.n, 0, da, g.m)
	}
}

func gemmGradB[T float](db, a, gy []T, g *gemmAttrs) {
	al := T(g.alpha)
	if !g.transB {
		gemm(!g.transA, false, g.k, g.n, g.m, al, a, g.lda(), gy, g.n, 0, db, g.n)
	} else {
		gemm(true, g.transA, g.n, g.k, g.m, al, gy, g.n, a, g.lda(), 0, db, g.k)
	}
}

// sumTo writes dst = scale · (g summed over the broadcast dimensions of dst);
// it iterates over g's shape with operands (g, dst).
func sumTo[T float](dst, g []T, it iter, scale float64, sc *scratch[T]) {
	acc := sc.acc64(len(dst))
	it.rows(func(off []int, n int, st []int) {
		og, od := off[0], off[1]
		for k := 0; k < n; k++ {
			acc[od+k*st[1]] += float64(g[og+k*st[0]])
		}
	})
	for i, v := range acc {
		dst[i] = T(v * scale)
	}
}

// bnGeom is an inference BatchNormalization over x [N, C, P].
type bnGeom struct {
	n, c, p int
	eps     float64
}

// bnFwd computes y = (x − mean)·scale/√(var+eps) + bias per channel, as
// y = x·s + (bias − mean·s) in T (kern_elem_bn.go).
func bnFwd[T float](y, x, scale, bias, mean, vr []T, g *bnGeom) {
	p := g.p
	parallel(g.n*g.c, p, 1, func(pl0, pl1 int) {
		for pl := pl0; pl < pl1; pl++ {
			s, sh := bnCoef(scale, bias, mean, vr, pl%g.c, g.eps)
			ts, tsh := T(s), T(sh)
			src := x[pl*p : (pl+1)*p]
			dst := y[pl*p : (pl+1)*p]
			if useElemAsm {
				k := axpbAsm(dst, src, ts, tsh)
				src, dst = src[k:], dst[k:]
			}
			for k, v := range src {
				dst[k] = v*ts + tsh
			}
		}
	})
}

// bnGradX computes dx = gy·scale/√(var+eps).
func bnGradX[T float](dx, scale, vr, gy []T, g *bnGeom) {
	p := g.p
	parallel(g.n*g.c, p, 1, func(pl0, pl1 int) {
		for pl := pl0; pl < pl1; pl++ {
			s, _ := bnCoef(scale, nil, nil, vr, pl%g.c, g.eps)
			ts := T(s)
			bnScaleRow(dx[pl*p:(pl+1)*p], gy[pl*p:(pl+1)*p], ts)
		}
	})
}

// bnGradScale computes dscale[c] = Σ gy·(x − mean)/√(var+eps); sx is
// scratch of g.c float64s.
func bnGradScale[T float](ds, x, mean, vr, gy []T, g *bnGeom, sx []float64) {
	bnGradSums(nil, sx, nil, x, nil, mean, vr, gy, g)
	bnScaleFromSums(ds, sx, vr, g)
}

// bnScaleFromSums computes dscale[c] = sx[c]/√(var+eps).
func bnScaleFromSums[T float](ds []T, sx []float64, vr []T, g *bnGeom) {
	for c := range ds {
		ds[c] = T(sx[c] / math.Sqrt(float64(vr[c])+g.eps))
	}
}

// smGeom views a tensor as [outer, n, inner] with softmax along n.
type smGeom struct {
	outer, n, inner int
	log             bool
}

func softmaxFwd[T float](y, x []T, g *smGeom) {
	for o := 0; o < g.outer; o++ {
		for in := 0; in < g.inner; in++ {
			base := o*g.n*g.inner + in
			mx := math.Inf(-1)
			for k := 0; k < g.n; k++ {
				mx = math.Max(mx, float64(x[base+k*g.inner]))
			}
			s := 0.0
			for k := 0; k < g.n; k++ {
				s += math.Exp(float64(x[base+k*g.inner]) - mx)
			}
			ls := math.Log(s)
			for k := 0; k < g.n; k++ {
				v := float64(x[base+k*g.inner]) - mx - ls
				if g.log {
					y[base+k*g.inner] = T(v)
				} else {
					y[base+k*g.inner] = T(math.Exp(v))
				}
			}
		}
	}
}

// softmaxGrad: softmax dx = y·(g − Σ g·y); log-softmax dx = g − exp(y)·Σ g.
func softmaxGrad[T float](dx, y, gy []T, g *smGeom) {
	for o := 0; o < g.outer; o++ {
		for in := 0; in < g.inner; in++ {
			base := o*g.n*g.inner + in
			s := 0.0
			for k := 0; k < g.n; k++ {
				i := base + k*g.inner
				if g.log {
					s += float64(gy[i])
				} else {
					s += float64(gy[i]) * float64(y[i])
				}
			}
			for k := 0; k < g.n; k++ {
				i := base + k*g.inner
				if g.log {
					dx[i] = T(float64(gy[i]) - math.Exp(float64(y[i]))*s)
				} else {
					dx[i] = T(float64(y[i]) * (float64(gy[i]) - s))
				}
			}
		}
	}
}

// ceLoss returns Σ_i (logsumexp(z_i) − z_i[y_i]) for logits z [b, c] and
// class indices y (held as floats).
func ceLoss[T float](z, labels []T, b, c int) float64 {
	total := 0.0
	for i := 0; i < b; i++ {
		row := z[i*c : (i+1)*c]
		total += logSumExp(row) - float64(row[int(labels[i])])
	}
	return total
}

func logSumExp[T float](row []T) float64 {
	mx := math.Inf(-1)
	for _, v := range row {
		mx = math.Max(mx, float64(v))
	}
	s := 0.0
	for _, v := range row {
		s += math.Exp(float64(v) - mx)
	}
	return mx + math.Log(s)
}

// ceGrad computes dz = gscale·(softmax(z) − onehot(y)).
func ceGrad[T float](dz, z, labels []T, b, c int, gscale float64) {
	for i := 0; i < b; i++ {
		row := z[i*c : (i+1)*c]
		lse := logSumExp(row)
		d := dz[i*c : (i+1)*c]
		for k, v := range row {
			d[k] = T(gscale * math.Exp(float64(v)-lse))
		}
		y := int(labels[i])
		d[y] = T(gscale * (math.Exp(float64(row[y])-lse) - 1))
	}
}

// meanLast computes out[i] = mean of x[i·p : (i+1)·p] (GlobalAveragePool).
// The rows are shared out to the workers.
func meanLast[T float](out, x []T, p int) {
	parallel(len(out), p, 1, func(i0, i1 int) {
		for i := i0; i < i1; i++ {
			s := 0.0
			for _, v := range x[i*p : (i+1)*p] {
				s += float64(v)
			}
			out[i] = T(s / float64(p))
		}
	})
}

// meanLastGrad is meanLast's backward pass: dx[i·p : (i+1)·p] = gy[i]/p.
func meanLastGrad[T float](dx, gy []T, p int) {
	parallel(len(gy), p, 1, func(i0, i1 int) {
		for i := i0; i < i1; i++ {
			v := gy[i] / T(p)
			row := dx[i*p : (i+1)*p]
			for k := range row {
				row[k] = v
			}
		}
	})
}
