//go:build gnaudit_cuda

package cuda

import (
	"fmt"
	"unsafe"
)

// Gemm is one (batched) matrix product C = alpha·op(A)·op(B) + beta·C on
// row-major float32 matrices: op(A) is M×K, op(B) is K×N, C is M×N. Lda, Ldb,
// Ldc are the row strides of the stored matrices; the Stride fields step from
// one matrix of the batch to the next (in elements).
type Gemm struct {
	TransA, TransB            bool
	M, N, K                   int
	Alpha, Beta               float32
	Lda, Ldb, Ldc             int
	StrideA, StrideB, StrideC int64
	Batch                     int // ≥ 1
}

// Gemm launches the tiled SGEMM kernel.
func (d *Device) Gemm(g Gemm, a, b, c *Buffer) error {
	if g.Batch < 1 {
		g.Batch = 1
	}
	if g.M <= 0 || g.N <= 0 || g.K <= 0 {
		return fmt.Errorf("cuda: gemm with M=%d N=%d K=%d", g.M, g.N, g.K)
	}
	ta, tb := 0, 0
	if g.TransA {
		ta = 1
	}
	if g.TransB {
		tb = 1
	}
	grid := [3]int{(g.N + 63) / 64, (g.M + 63) / 64, g.Batch}
	return d.do(func() error {
		return d.launch("sgemm_batched", grid, block256, 0,
			pi(ta), pi(tb), pi(g.M), pi(g.N), pi(g.K), pf(g.Alpha),
			pb(a), pi(g.Lda), pl(g.StrideA), pb(b), pi(g.Ldb), pl(g.StrideB),
			pf(g.Beta), pb(c), pi(g.Ldc), pl(g.StrideC))
	})
}

// ConvGeom is the geometry of a 2-D convolution or pooling window over NCHW data.
type ConvGeom struct {
	N, C, H, W int // input
	KH, KW     int
	SH, SW     int
	PH, PW     int // top/left padding (bottom/right implied by OH, OW)
	DH, DW     int
	OH, OW     int // output spatial size
}

func (g ConvGeom) args(layout ColLayout) []unsafe.Pointer {
	return []unsafe.Pointer{pi(g.N), pi(g.C), pi(g.H), pi(g.W), pi(g.KH), pi(g.KW), pi(g.OH), pi(g.OW),
		pi(g.SH), pi(g.SW), pi(g.PH), pi(g.PW), pi(g.DH), pi(g.DW), pi(int(layout))}
}

// ColLayout is the memory layout of an im2col matrix.
type ColLayout int

const (
	// SampleMajor is [N][C·KH·KW][OH·OW]: one matrix per sample.
	SampleMajor ColLayout = 0
	// RowMajorBatch is [C·KH·KW][N][OH·OW]: one matrix for the whole batch,
	// so that a convolution is a single GEMM.
	RowMajorBatch ColLayout = 1
)

// Im2col unfolds x [N,C,H,W] into col in the given layout.
func (d *Device) Im2col(g ConvGeom, x, col *Buffer, layout ColLayout) error {
	total := int64(g.N) * int64(g.C*g.KH*g.KW) * int64(g.OH*g.OW)
	return d.do(func() error {
		return d.launch("im2col", gridFor(total), block256, 0, append([]unsafe.Pointer{pb(x), pb(col)}, g.args(layout)...)...)
	})
}

// Col2im folds col (in the given layout) back into dx [N,C,H,W] (sums overlaps).
func (d *Device) Col2im(g ConvGeom, col, dx *Buffer, layout ColLayout) error {
	total := int64(g.N) * int64(g.C) * int64(g.H*g.W)
	return d.do(func() error {
		return d.launch("col2im", gridFor(total), block256, 0, append([]unsafe.Pointer{pb(col), pb(dx)}, g.args(layout)...)...)
	})
}

// Swap01 writes dst[b][a][p] = src[a][b][p] for src of shape [A][B][P].
func (d *Device) Swap01(src, dst *Buffer, a, b, p int) error {
	total := int64(a) * int64(b) * int64(p)
	return d.do(func() error {
		return d.launch("swap01", gridFor(total), block256, 0, pb(src), pb(dst), pi(a), pi(b), pi(p))
	})
}

// AddChannelBias adds b[c] to y [N, C, inner].
func (d *Device) AddChannelBias(y, b *Buffer, n, c, inner int) error {
	total := int64(n) * int64(c) * int64(inner)
	return d.do(func() error {
		return d.launch("add_channel_bias", gridFor(total), block256, 0, pb(y), pb(b), pl(total), pi(c), pi(inner))
	})
}

// ChannelSum writes db[c] = Σ_{n,p} dy[n,c,p].
func (d *Device) ChannelSum(dy, db *Buffer, n, c, inner int) error {
	return d.do(func() error {
		return d.launch("channel_sum", [3]int{c, 1, 1}, block256, 0, pb(dy), pb(db), pi(n), pi(c), pi(inner))
	})
}

// SampleChannelSum writes out[n,c] = Σ_p dy[n,c,p] (per-sample bias gradients).
func (d *Device) SampleChannelSum(dy, out *Buffer, n, c, inner int) error {
	return d.do(func() error {
		return d.launch("sample_channel_sum", [3]int{n * c, 1, 1}, block256, 0, pb(dy), pb(out), pi(inner))
	})
}

// SampleChannelDot writes out[n,c] = Σ_p a[n,c,p]·b[n,c,p] (per-sample BN scale gradients).
func (d *Device) SampleChannelDot(a, b, out *Buffer, n, c, inner int) error {
	return d.do(func() error {
		return d.launch("sample_channel_dot", [3]int{n * c, 1, 1}, block256, 0, pb(a), pb(b), pb(out), pi(inner))
	})
}

// Relu writes y = max(x, 0) over n elements, NaN propagated (as PyTorch).
func (d *Device) Relu(x, y *Buffer, n int) error {
	return d.do(func() error { return d.launch("relu_fwd", gridFor(int64(n)), block256, 0, pb(x), pb(y), pl(int64(n))) })
}

// ReluBackward writes dx = dy where x > 0 or x is NaN, else 0 (PyTorch's
// threshold_backward).
func (d *Device) ReluBackward(x, dy, dx *Buffer, n int) error {
	return d.do(func() error {
		return d.launch("relu_bwd", gridFor(int64(n)), block256, 0, pb(x), pb(dy), pb(dx), pl(int64(n)))
	})
}

// AddInPlace writes y += a over n elements.
func (d *Device) AddInPlace(y, a *Buffer, n int) error {
	return d.do(func() error {
		return d.launch("add_inplace", gridFor(int64(n)), block256, 0, pb(y), pb(a), pl(int64(n)))
	})
}

// BatchNormEval applies eval-mode BatchNorm to x [N, C, inner]; xhat may be nil.
func (d *Device) BatchNormEval(x, y, xhat, gamma, beta, mean, variance *Buffer, eps float32, n, c, inner int) error {
	total := int64(n) * int64(c) * int64(inner)
	xh := pnull()
	if xhat != nil {
		xh = pb(xhat)
	}
	return d.do(func() error {
		return d.launch("bn_eval_fwd", gridFor(total), block256, 0, pb(x), pb(y), xh, pb(gamma), pb(beta),
			pb(mean), pb(variance), pf(eps), pl(total), pi(c), pi(inner))
	})
}

// BatchNormEvalBackward writes dx = dy·γ/√(var+ε).
func (d *Device) BatchNormEvalBackward(dy, dx, gamma, variance *Buffer, eps float32, n, c, inner int) error {
	total := int64(n) * int64(c) * int64(inner)
	return d.do(func() error {
		return d.launch("bn_eval_bwd", gridFor(total), block256, 0, pb(dy), pb(dx), pb(gamma), pb(variance), pf(eps),
			pl(total), pi(c), pi(inner))
	})
}

// MaxPool computes y and the argmax indices (int32 buffer) over windows of g (DH, DW ignored).
func (d *Device) MaxPool(g ConvGeom, x, y, arg *Buffer) error {
	total := int64(g.N) * int64(g.C) * int64(g.OH*g.OW)
	return d.do(func() error {
		return d.launch("maxpool_fwd", gridFor(total), block256, 0, pb(x), pb(y), pb(arg), pi(g.N), pi(g.C), pi(g.H),
			pi(g.W), pi(g.OH), pi(g.OW), pi(g.KH), pi(g.KW), pi(g.SH), pi(g.SW), pi(g.PH), pi(g.PW))
	})
}

// MaxPoolBackward scatters dy into dx (which it zeroes first) at the argmax.
func (d *Device) MaxPoolBackward(g ConvGeom, dy, arg, dx *Buffer) error {
	total := int64(g.N) * int64(g.C) * int64(g.OH*g.OW)
	if err := d.Zero(dx); err != nil {
		return err
	}
	return d.do(func() error {
		return d.launch("maxpool_bwd", gridFor(total), block256, 0, pb(dy), pb(arg), pb(dx), pl(total),
			pi(g.H*g.W), pi(g.OH*g.OW))
	})
}

// AvgPool computes average pooling; countPad selects count_include_pad.
func (d *Device) AvgPool(g ConvGeom, x, y *Buffer, countPad bool) error {
	total := int64(g.N) * int64(g.C) * int64(g.OH*g.OW)
	cp := 0
	if countPad {
		cp = 1
	}
	return d.do(func() error {
		return d.launch("avgpool_fwd", gridFor(total), block256, 0, pb(x), pb(y), pi(g.N), pi(g.C), pi(g.H), pi(g.W),
			pi(g.OH), pi(g.OW), pi(g.KH), pi(g.KW), pi(g.SH), pi(g.SW), pi(g.PH), pi(g.PW), pi(cp))
	})
}

// AvgPoolBackward writes dx (zeroed first) from dy.
func (d *Device) AvgPoolBackward(g ConvGeom, dy, dx *Buffer, countPad bool) error {
	total := int64(g.N) * int64(g.C) * int64(g.OH*g.OW)
	cp := 0
	if countPad {
		cp = 1
	}
	if err := d.Zero(dx); err != nil {
		return err
	}
	return d.do(func() error {
		return d.launch("avgpool_bwd", gridFor(total), block256, 0, pb(dy), pb(dx), pi(g.N), pi(g.C), pi(g.H), pi(g.W),
			pi(g.OH), pi(g.OW), pi(g.KH), pi(g.KW), pi(g.SH), pi(g.SW), pi(g.PH), pi(g.PW), pi(cp))
	})
}

// SoftmaxCrossEntropy writes per-sample losses and the gradient of the summed
// loss w.r.t. the logits [N, K]; labels is an int32 buffer.
func (d *Device) SoftmaxCrossEntropy(logits, labels, loss, dlogits *Buffer, n, k int) error {
	return d.do(func() error {
		return d.launch("softmax_xent", [3]int{(n + 127) / 128, 1, 1}, [3]int{128, 1, 1}, 0,
			pb(logits), pb(labels), pb(loss), pb(dlogits), pi(n), pi(k))
	})
}

// GatherCols writes out[r][t] = src[r·length + idx[t]] (idx an int32 buffer).
func (d *Device) GatherCols(src, idx, out *Buffer, rows, length, nidx int) error {
	return d.do(func() error {
		return d.launch("gather_cols", gridFor(int64(rows)*int64(nidx)), block256, 0, pb(src), pb(idx), pb(out),
			pi(rows), pi(length), pi(nidx))
	})
}

// RowSumSq writes out[r] = Σ_j src[r·length + j]² (float64 buffer).
func (d *Device) RowSumSq(src, out *Buffer, rows, length int) error {
	return d.do(func() error {
		return d.launch("row_sumsq", [3]int{rows, 1, 1}, block256, 0, pb(src), pb(out), pi(length))
	})
}

// ColSum writes (or, with accumulate, adds) out[j] = Σ_r src[r·length + j].
func (d *Device) ColSum(src, out *Buffer, rows, length int, accumulate bool) error {
	acc := 0
	if accumulate {
		acc = 1
	}
	return d.do(func() error {
		return d.launch("col_sum", gridFor(int64(length)), block256, 0, pb(src), pb(out), pi(rows), pi(length), pi(acc))
	})
}
