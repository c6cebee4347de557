// gnaudit's CUDA kernels, compiled to PTX by `make ptx` (nvcc -ptx, compute_70)
// and embedded in the Go binary (cuda/kernels.ptx). The Go side launches them
// through gorgonia.org/cu's driver API: no cuBLAS, no cuDNN.
//
// Conventions: row-major tensors; NCHW images; float for the network, double
// for statistics. Every kernel has C linkage so its PTX name is its C name.

#include <float.h>
#include <math.h>

extern "C" {

// ---------------------------------------------------------------------------
// GEMM: C = alpha * op(A) * op(B) + beta * C, batched with strides (z = batch).
// op(A) is M x K, op(B) is K x N, C is M x N; lda/ldb/ldc are row strides of
// the stored (untransposed) matrices. Tiles of 64x64, 256 threads, 4x4 per
// thread, K step 16.
// ---------------------------------------------------------------------------
#define GEMM_BM 64
#define GEMM_BN 64
#define GEMM_BK 16

__global__ void sgemm_batched(int transA, int transB, int M, int N, int K,
                              float alpha, const float* __restrict__ A, int lda, long long strideA,
                              const float* __restrict__ B, int ldb, long long strideB,
                              float beta, float* __restrict__ C, int ldc, long long strideC)
{
    __shared__ float As[GEMM_BK][GEMM_BM + 4];
    __shared__ float Bs[GEMM_BK][GEMM_BN + 4];
    const int z = blockIdx.z;
    A += z * strideA;
    B += z * strideB;
    C += z * strideC;
    const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
    const int row0 = blockIdx.y * GEMM_BM, col0 = blockIdx.x * GEMM_BN;
    float acc[4][4];
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 4; j++) acc[i][j] = 0.f;

    for (int k0 = 0; k0 < K; k0 += GEMM_BK) {
        // Load a 64x16 tile of op(A) and a 16x64 tile of op(B): 1024 elements each, 4 per thread.
#pragma unroll
        for (int l = 0; l < 4; l++) {
            int idx = threadIdx.x + l * 256;
            // A tile: element (m, k) with m in [0,64), k in [0,16)
            int m, k;
            if (transA) { m = idx % GEMM_BM; k = idx / GEMM_BM; } else { k = idx % GEMM_BK; m = idx / GEMM_BK; }
            int gm = row0 + m, gk = k0 + k;
            float v = 0.f;
            if (gm < M && gk < K) v = transA ? A[(long long)gk * lda + gm] : A[(long long)gm * lda + gk];
            As[k][m] = v;
            // B tile: element (k, n)
            int n2, k2;
            if (transB) { k2 = idx % GEMM_BK; n2 = idx / GEMM_BK; } else { n2 = idx % GEMM_BN; k2 = idx / GEMM_BN; }
            int gn = col0 + n2, gk2 = k0 + k2;
            float w = 0.f;
            if (gn < N && gk2 < K) w = transB ? B[(long long)gn * ldb + gk2] : B[(long long)gk2 * ldb + gn];
            Bs[k2][n2] = w;
        }
        __syncthreads();
#pragma unroll
        for (int k = 0; k < GEMM_BK; k++) {
            float a[4], b[4];
#pragma unroll
            for (int i = 0; i < 4; i++) a[i] = As[k][ty + 16 * i];
#pragma unroll
            for (int j = 0; j < 4; j++) b[j] = Bs[k][tx + 16 * j];
#pragma unroll
            for (int i = 0; i < 4; i++)
#pragma unroll
                for (int j = 0; j < 4; j++) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
        }
        __syncthreads();
    }
#pragma unroll
    for (int i = 0; i < 4; i++) {
        int r = row0 + ty + 16 * i;
        if (r >= M) continue;
#pragma unroll
        for (int j = 0; j < 4; j++) {
            int c = col0 + tx + 16 * j;
            if (c >= N) continue;
            float* p = &C[(long long)r * ldc + c];
            *p = alpha * acc[i][j] + (beta == 0.f ? 0.f : beta * *p);
        }
    }
}

// ---------------------------------------------------------------------------
// im2col / col2im for one batch of NCHW images, with groups folded into C.
// layout 0: col is [N][C*KH*KW][OH*OW]; layout 1: col is [C*KH*KW][N][OH*OW]
// (one GEMM over the whole batch).
// ---------------------------------------------------------------------------
__device__ __forceinline__ long long col_index(int layout, int n, int N, int row, int rows, int p, int P)
{
    return layout ? ((long long)row * N + n) * P + p : ((long long)n * rows + row) * P + p;
}

__global__ void im2col(const float* __restrict__ x, float* __restrict__ col, int N, int C, int H, int W,
                       int KH, int KW, int OH, int OW, int sh, int sw, int ph, int pw, int dh, int dw, int layout)
{
    long long total = (long long)N * C * KH * KW * OH * OW;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total; i += (long long)gridDim.x * blockDim.x) {
        int ow = i % OW;
        long long t = i / OW;
        int oh = t % OH; t /= OH;
        int kw = t % KW; t /= KW;
        int kh = t % KH; t /= KH;
        int c = t % C;
        int n = t / C;
        int ih = oh * sh - ph + kh * dh, iw = ow * sw - pw + kw * dw;
        float v = 0.f;
        if (ih >= 0 && ih < H && iw >= 0 && iw < W) v = x[(((long long)n * C + c) * H + ih) * W + iw];
        col[col_index(layout, n, N, (c * KH + kh) * KW + kw, C * KH * KW, oh * OW + ow, OH * OW)] = v;
    }
}

// col2im accumulates col [N][C*KH*KW][OH*OW] into dx [N][C][H][W] (one thread
// per input element, gathering: no atomics, deterministic).
__global__ void col2im(const float* __restrict__ col, float* __restrict__ dx, int N, int C, int H, int W,
                       int KH, int KW, int OH, int OW, int sh, int sw, int ph, int pw, int dh, int dw, int layout)
{
    long long total = (long long)N * C * H * W;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total; i += (long long)gridDim.x * blockDim.x) {
        int iw = i % W;
        long long t = i / W;
        int ih = t % H; t /= H;
        int c = t % C;
        int n = t / C;
        float s = 0.f;
        for (int kh = 0; kh < KH; kh++) {
            int y = ih + ph - kh * dh;
            if (y < 0 || y % sh) continue;
            int oh = y / sh;
            if (oh >= OH) continue;
            for (int kw = 0; kw < KW; kw++) {
                int xx = iw + pw - kw * dw;
                if (xx < 0 || xx % sw) continue;
                int ow = xx / sw;
                if (ow >= OW) continue;
                s += col[col_index(layout, n, N, (c * KH + kh) * KW + kw, C * KH * KW, oh * OW + ow, OH * OW)];
            }
        }
        dx[i] = s;
    }
}

// ---------------------------------------------------------------------------
// Elementwise and broadcasting helpers.
// ---------------------------------------------------------------------------
#define GRID_LOOP(i, n) for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < (n); i += (long long)gridDim.x * blockDim.x)

// Swap the two outer axes of a [A][B][P] tensor: dst[b][a][p] = src[a][b][p].
__global__ void swap01(const float* __restrict__ src, float* __restrict__ dst, int A, int B, int P)
{
    GRID_LOOP(i, (long long)A * B * P) {
        int p = i % P;
        long long t = i / P;
        int b = t % B;
        int a = t / B;
        dst[((long long)b * A + a) * P + p] = src[i];
    }
}

// y[n][c][p] += b[c]  (inner = spatial size; 1 for dense layers)
__global__ void add_channel_bias(float* y, const float* __restrict__ b, long long total, int C, int inner)
{
    GRID_LOOP(i, total) { y[i] += b[(i / inner) % C]; }
}

// db[c] = sum over n, p of dy[n][c][p]  (one block per channel)
__global__ void channel_sum(const float* __restrict__ dy, float* __restrict__ db, int N, int C, int inner)
{
    __shared__ float sh[256];
    int c = blockIdx.x;
    float s = 0.f;
    for (long long j = threadIdx.x; j < (long long)N * inner; j += blockDim.x) {
        long long n = j / inner, p = j % inner;
        s += dy[(n * C + c) * inner + p];
    }
    sh[threadIdx.x] = s;
    __syncthreads();
    for (int o = blockDim.x / 2; o > 0; o >>= 1) {
        if (threadIdx.x < o) sh[threadIdx.x] += sh[threadIdx.x + o];
        __syncthreads();
    }
    if (threadIdx.x == 0) db[c] = sh[0];
}

// per-sample channel sums: out[n][c] = sum_p dy[n][c][p]  (one block per (n,c))
__global__ void sample_channel_sum(const float* __restrict__ dy, float* __restrict__ out, int inner)
{
    __shared__ float sh[256];
    long long nc = blockIdx.x;
    float s = 0.f;
    for (int p = threadIdx.x; p < inner; p += blockDim.x) s += dy[nc * inner + p];
    sh[threadIdx.x] = s;
    __syncthreads();
    for (int o = blockDim.x / 2; o > 0; o >>= 1) {
        if (threadIdx.x < o) sh[threadIdx.x] += sh[threadIdx.x + o];
        __syncthreads();
    }
    if (threadIdx.x == 0) out[nc] = sh[0];
}

// per-sample channel sums of a product: out[n][c] = sum_p a[n][c][p] * b[n][c][p]
__global__ void sample_channel_dot(const float* __restrict__ a, const float* __restrict__ b, float* __restrict__ out, int inner)
{
    __shared__ float sh[256];
    long long nc = blockIdx.x;
    float s = 0.f;
    for (int p = threadIdx.x; p < inner; p += blockDim.x) s += a[nc * inner + p] * b[nc * inner + p];
    sh[threadIdx.x] = s;
    __syncthreads();
    for (int o = blockDim.x / 2; o > 0; o >>= 1) {
        if (threadIdx.x < o) sh[threadIdx.x] += sh[threadIdx.x + o];
        __syncthreads();
    }
    if (threadIdx.x == 0) out[nc] = sh[0];
}

// y = max(x, 0), NaN propagated (ONNX's max(x, 0), PyTorch's relu): x <= 0
// is false for NaN, so a NaN input is copied, not mapped to 0.
__global__ void relu_fwd(const float* __restrict__ x, float* __restrict__ y, long long n)
{
    GRID_LOOP(i, n) { y[i] = x[i] <= 0.f ? 0.f : x[i]; }
}

// dx = dy where x > 0 or x is NaN, else 0 (PyTorch's threshold_backward)
__global__ void relu_bwd(const float* __restrict__ x, const float* __restrict__ dy, float* __restrict__ dx, long long n)
{
    GRID_LOOP(i, n) { dx[i] = x[i] <= 0.f ? 0.f : dy[i]; }
}

// y = a + b (same shape); used for residual connections and gradient accumulation
__global__ void add_inplace(float* __restrict__ y, const float* __restrict__ a, long long n)
{
    GRID_LOOP(i, n) { y[i] += a[i]; }
}

// Eval-mode BatchNorm: y = x * k[c] + h[c], k = gamma / sqrt(var + eps), h = beta - mean * k.
// xhat (optional, may be null) receives (x - mean) / sqrt(var + eps).
__global__ void bn_eval_fwd(const float* __restrict__ x, float* __restrict__ y, float* __restrict__ xhat,
                            const float* __restrict__ gamma, const float* __restrict__ beta,
                            const float* __restrict__ mean, const float* __restrict__ var, float eps,
                            long long total, int C, int inner)
{
    GRID_LOOP(i, total) {
        int c = (i / inner) % C;
        float inv = rsqrtf(var[c] + eps);
        float xh = (x[i] - mean[c]) * inv;
        if (xhat) xhat[i] = xh;
        y[i] = gamma[c] * xh + beta[c];
    }
}

// dx = dy * gamma[c] / sqrt(var[c] + eps)
__global__ void bn_eval_bwd(const float* __restrict__ dy, float* __restrict__ dx, const float* __restrict__ gamma,
                            const float* __restrict__ var, float eps, long long total, int C, int inner)
{
    GRID_LOOP(i, total) {
        int c = (i / inner) % C;
        dx[i] = dy[i] * gamma[c] * rsqrtf(var[c] + eps);
    }
}

// Max pooling (NCHW) forward; arg receives the flat input index of the max (-1 if the window is all padding).
__global__ void maxpool_fwd(const float* __restrict__ x, float* __restrict__ y, int* __restrict__ arg,
                            int N, int C, int H, int W, int OH, int OW, int kh, int kw, int sh, int sw, int ph, int pw)
{
    long long total = (long long)N * C * OH * OW;
    GRID_LOOP(i, total) {
        int ow = i % OW;
        long long t = i / OW;
        int oh = t % OH;
        long long nc = t / OH;
        float best = -FLT_MAX;
        int bi = -1;
        for (int a = 0; a < kh; a++) {
            int ih = oh * sh - ph + a;
            if (ih < 0 || ih >= H) continue;
            for (int b = 0; b < kw; b++) {
                int iw = ow * sw - pw + b;
                if (iw < 0 || iw >= W) continue;
                float v = x[(nc * H + ih) * W + iw];
                // NaN propagates, as in PyTorch's max_pool2d and the CPU executor
                if (bi < 0 || v > best || isnan(v)) { best = v; bi = ih * W + iw; }
            }
        }
        y[i] = bi < 0 ? 0.f : best;
        arg[i] = bi;
    }
}

// dx (zeroed by the caller) += dy at the argmax; atomics since windows may overlap.
__global__ void maxpool_bwd(const float* __restrict__ dy, const int* __restrict__ arg, float* __restrict__ dx,
                            long long total, int HW, int OHW)
{
    GRID_LOOP(i, total) {
        int a = arg[i];
        if (a >= 0) atomicAdd(&dx[(i / OHW) * HW + a], dy[i]);
    }
}

// Average pooling forward (count_include_pad selects the divisor).
__global__ void avgpool_fwd(const float* __restrict__ x, float* __restrict__ y, int N, int C, int H, int W,
                            int OH, int OW, int kh, int kw, int sh, int sw, int ph, int pw, int countPad)
{
    long long total = (long long)N * C * OH * OW;
    GRID_LOOP(i, total) {
        int ow = i % OW;
        long long t = i / OW;
        int oh = t % OH;
        long long nc = t / OH;
        float s = 0.f;
        int cnt = 0, cntPad = 0;
        for (int a = 0; a < kh; a++) {
            int ih = oh * sh - ph + a;
            for (int b = 0; b < kw; b++) {
                int iw = ow * sw - pw + b;
                if (ih >= -ph && ih < H + ph && iw >= -pw && iw < W + pw) cntPad++;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                s += x[(nc * H + ih) * W + iw];
                cnt++;
            }
        }
        int d = countPad ? cntPad : cnt;
        y[i] = d > 0 ? s / d : 0.f;
    }
}

__global__ void avgpool_bwd(const float* __restrict__ dy, float* __restrict__ dx, int N, int C, int H, int W,
                            int OH, int OW, int kh, int kw, int sh, int sw, int ph, int pw, int countPad)
{
    long long total = (long long)N * C * OH * OW;
    GRID_LOOP(i, total) {
        int ow = i % OW;
        long long t = i / OW;
        int oh = t % OH;
        long long nc = t / OH;
        int cnt = 0, cntPad = 0;
        for (int a = 0; a < kh; a++) {
            int ih = oh * sh - ph + a;
            for (int b = 0; b < kw; b++) {
                int iw = ow * sw - pw + b;
                if (ih >= -ph && ih < H + ph && iw >= -pw && iw < W + pw) cntPad++;
                if (ih >= 0 && ih < H && iw >= 0 && iw < W) cnt++;
            }
        }
        int d = countPad ? cntPad : cnt;
        if (d == 0) continue;
        float g = dy[i] / d;
        for (int a = 0; a < kh; a++) {
            int ih = oh * sh - ph + a;
            if (ih < 0 || ih >= H) continue;
            for (int b = 0; b < kw; b++) {
                int iw = ow * sw - pw + b;
                if (iw < 0 || iw >= W) continue;
                atomicAdd(&dx[(nc * H + ih) * W + iw], g);
            }
        }
    }
}

// Softmax cross-entropy over logits [N][K] with integer labels: loss[n] =
// logsumexp - logit[label], dlogits = softmax - onehot (gradient of the summed loss).
__global__ void softmax_xent(const float* __restrict__ logits, const int* __restrict__ labels, float* __restrict__ loss,
                             float* __restrict__ dlogits, int N, int K)
{
    int n = blockIdx.x * blockDim.x + threadIdx.x;
    if (n >= N) return;
    const float* z = logits + (long long)n * K;
    float m = -FLT_MAX;
    for (int k = 0; k < K; k++) m = fmaxf(m, z[k]);
    double s = 0.0;
    for (int k = 0; k < K; k++) s += exp((double)(z[k] - m));
    double lse = log(s) + m;
    int y = labels[n];
    loss[n] = (float)(lse - z[y]);
    for (int k = 0; k < K; k++) dlogits[(long long)n * K + k] = (float)(exp((double)z[k] - lse)) - (k == y ? 1.f : 0.f);
}

// ---------------------------------------------------------------------------
// Statistics over columns. The data is a row-major matrix [rows][cols] of
// float (one column = one coordinate, rows = observations), as collected.
// ---------------------------------------------------------------------------

// Per-column two-pass moments: out[5*j + {0..4}] = mean, S2, S3, S4, A3 where
// S_k = sum (x - mean)^k and A3 = sum |x - mean|^3. One thread per column:
// consecutive threads read consecutive columns (coalesced).
__global__ void column_moments(const float* __restrict__ x, int rows, int cols, double* __restrict__ out)
{
    int j = blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= cols) return;
    double s = 0.0;
    for (int r = 0; r < rows; r++) s += x[(long long)r * cols + j];
    double mean = s / rows;
    double s2 = 0, s3 = 0, s4 = 0, a3 = 0;
    for (int r = 0; r < rows; r++) {
        double d = x[(long long)r * cols + j] - mean;
        double d2 = d * d;
        s2 += d2;
        s3 += d2 * d;
        s4 += d2 * d2;
        a3 += d2 * fabs(d);
    }
    out[5 * (long long)j + 0] = mean;
    out[5 * (long long)j + 1] = s2;
    out[5 * (long long)j + 2] = s3;
    out[5 * (long long)j + 3] = s4;
    out[5 * (long long)j + 4] = a3;
}

// Shapiro-Wilk W for many columns of equal n (AS R94's statistic, with the
// coefficients a[0..n/2) of the smaller half computed once on the host):
// W = (sum_i a_i (x_(n-1-i) - x_(i)))^2 / sum (x - mean)^2.
// One block per column; the column is sorted in shared memory by a bitonic
// sort over the next power of two `np2` (padding +inf), blockDim.x = min(np2/2, 1024).
// out[2*j] = W, out[2*j+1] = range (0 flags a degenerate column).
__global__ void swilk_w(const float* __restrict__ x, int n, int cols, int np2, const double* __restrict__ a,
                        double* __restrict__ out)
{
    extern __shared__ double sm[];
    double* v = sm;              // np2 values
    double* red = sm + np2;      // blockDim.x partial sums
    int j = blockIdx.x;
    if (j >= cols) return;
    for (int i = threadIdx.x; i < np2; i += blockDim.x)
        v[i] = i < n ? (double)x[(long long)i * cols + j] : DBL_MAX;
    __syncthreads();
    // Bitonic sort, ascending.
    for (int k = 2; k <= np2; k <<= 1) {
        for (int s = k >> 1; s > 0; s >>= 1) {
            for (int t = threadIdx.x; t < np2 / 2; t += blockDim.x) {
                int lo = 2 * t - (t & (s - 1));
                int hi = lo + s;
                bool up = ((lo & k) == 0);
                double a0 = v[lo], a1 = v[hi];
                if ((a0 > a1) == up) { v[lo] = a1; v[hi] = a0; }
            }
            __syncthreads();
        }
    }
    // Mean.
    double s = 0.0;
    for (int i = threadIdx.x; i < n; i += blockDim.x) s += v[i];
    red[threadIdx.x] = s;
    __syncthreads();
    for (int o = blockDim.x / 2; o > 0; o >>= 1) {
        if (threadIdx.x < o) red[threadIdx.x] += red[threadIdx.x + o];
        __syncthreads();
    }
    double mean = red[0] / n;
    __syncthreads();
    // Sum of squares about the mean and the a-weighted sum.
    double ss = 0.0, sa = 0.0;
    for (int i = threadIdx.x; i < n; i += blockDim.x) {
        double d = v[i] - mean;
        ss += d * d;
    }
    for (int i = threadIdx.x; i < n / 2; i += blockDim.x) sa += a[i] * (v[n - 1 - i] - v[i]);
    red[threadIdx.x] = ss;
    __syncthreads();
    for (int o = blockDim.x / 2; o > 0; o >>= 1) {
        if (threadIdx.x < o) red[threadIdx.x] += red[threadIdx.x + o];
        __syncthreads();
    }
    ss = red[0];
    __syncthreads();
    red[threadIdx.x] = sa;
    __syncthreads();
    for (int o = blockDim.x / 2; o > 0; o >>= 1) {
        if (threadIdx.x < o) red[threadIdx.x] += red[threadIdx.x + o];
        __syncthreads();
    }
    if (threadIdx.x == 0) {
        double rng = v[n - 1] - v[0];
        double w = (ss > 0.0) ? red[0] * red[0] / ss : 1.0;
        if (w > 1.0) w = 1.0;
        out[2 * (long long)j] = w;
        out[2 * (long long)j + 1] = rng;
    }
}

// ---------------------------------------------------------------------------
// Per-sample gradient bookkeeping over a [rows × len] matrix (row = sample).
// ---------------------------------------------------------------------------

// out[r][t] = src[r*len + idx[t]]
__global__ void gather_cols(const float* __restrict__ src, const int* __restrict__ idx, float* __restrict__ out,
                            int rows, int len, int nidx)
{
    GRID_LOOP(i, (long long)rows * nidx) {
        long long r = i / nidx;
        out[i] = src[r * len + idx[i % nidx]];
    }
}

// out[r] = sum_j src[r*len + j]^2 (double), one block per row
__global__ void row_sumsq(const float* __restrict__ src, double* __restrict__ out, int len)
{
    __shared__ double sh[256];
    long long r = blockIdx.x;
    double s = 0.0;
    for (int j = threadIdx.x; j < len; j += blockDim.x) {
        double v = src[r * len + j];
        s += v * v;
    }
    sh[threadIdx.x] = s;
    __syncthreads();
    for (int o = blockDim.x / 2; o > 0; o >>= 1) {
        if (threadIdx.x < o) sh[threadIdx.x] += sh[threadIdx.x + o];
        __syncthreads();
    }
    if (threadIdx.x == 0) out[r] = sh[0];
}

// out[j] = sum_r src[r*len + j] (float accumulate in double), beta selects accumulate (1) or overwrite (0)
__global__ void col_sum(const float* __restrict__ src, float* __restrict__ out, int rows, int len, int accumulate)
{
    GRID_LOOP(j, (long long)len) {
        double s = 0.0;
        for (int r = 0; r < rows; r++) s += src[(long long)r * len + j];
        out[j] = accumulate ? out[j] + (float)s : (float)s;
    }
}

// Copy with a per-row layout change: dst[r*dstLen + dstOff + j] = src[r*srcLen + srcOff + j], j < n.
__global__ void copy_rows(const float* __restrict__ src, float* __restrict__ dst, int rows, int n,
                          int srcLen, int srcOff, int dstLen, int dstOff)
{
    GRID_LOOP(i, (long long)rows * n) {
        long long r = i / n;
        int j = i % n;
        dst[r * dstLen + dstOff + j] = src[r * srcLen + srcOff + j];
    }
}

} // extern "C"
