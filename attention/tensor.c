/*
 * tensor.c — the small float32 toolbox every encoder and attention kernel
 * stands on.
 *
 * A "tensor" here is nothing more than a row-major float array plus the
 * dimensions the caller passes alongside it. We deliberately do not wrap it in
 * a struct with shapes and strides: the encoders know their shapes statically
 * (n tokens x hidden), and a bare pointer makes it obvious what every kernel
 * reads and writes, in the spirit of llm.c.
 *
 * All heavy lifting (matrix products) goes to OpenBLAS's cblas_sgemm,
 * bound when first needed (dynlib.c, blas_ready);
 * the rest (layer norm, GELU, softmax, residual add, L2 normalisation) are
 * element loops written so the compiler vectorises them (GELU and tanh use
 * a polynomial e^x instead of libm's scalar erff/tanhf, see below).
 *
 * Threading: OpenBLAS owns a thread pool. An encoder that already runs one
 * request per core must call tensor_set_threads(1), otherwise every sgemm
 * would fan out to all cores again and the machine would be oversubscribed
 * (cores x cores threads). The setting is process-wide because OpenBLAS's is.
 *
 * Allocation is 64-byte aligned (one cache line, one AVX-512 register) so the
 * vectorised loops and OpenBLAS's packing routines start on a boundary.
 *
 * Functions returning void are defensive: invalid sizes or NULL pointers make
 * them do nothing rather than crash, since the callers' shapes come from
 * model files that the loaders have already validated.
 */
#include "attention/attention.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define TENSOR_ALIGN 64

/* ------------------------------------------------------------ allocation */

float *tensor_alloc(size_t n_floats)
{
    if (n_floats == 0)
        n_floats = 1;
    if (n_floats > (SIZE_MAX - TENSOR_ALIGN) / sizeof(float))
        return NULL;
    /* aligned_alloc wants the size to be a multiple of the alignment. */
    size_t bytes = n_floats * sizeof(float);
    bytes = (bytes + TENSOR_ALIGN - 1) / TENSOR_ALIGN * TENSOR_ALIGN;
    return aligned_alloc(TENSOR_ALIGN, bytes);
}

float *tensor_zalloc(size_t n_floats)
{
    float *p = tensor_alloc(n_floats);
    if (p)
        memset(p, 0, (n_floats ? n_floats : 1) * sizeof(float));
    return p;
}

void tensor_free(float *p)
{
    free(p);
}

/* ------------------------------------------------------------- threading */

void tensor_set_threads(int n)
{
    if (n < 1)
        n = 1;
    blas_set_threads(n);
}

/* Not declared in the shared section before; handy for benchmarks that want
 * to restore the previous setting. */
int tensor_get_threads(void)
{
    return blas_get_threads();
}

/* ---------------------------------------------------------- matrix products */

/* Copies the bias into every row of y so a following sgemm with beta = 1
 * adds x*W on top: y = b (broadcast) + x W. One pass over y, no extra loop
 * after the product. */
static void broadcast_bias(float *y, int n, int out, const float *b)
{
    for (int i = 0; i < n; i++)
        memcpy(y + (size_t)i * out, b, (size_t)out * sizeof(float));
}

/* y[n x out] = x[n x in] * W' + b, where W' is W[out x in] transposed
 * (w_out_in) or W[in x out] as it is. */
static void linear(const float *x, int n, int in, const float *W, const float *b, int out,
                   float *y, int w_out_in)
{
    if (!x || !W || !y || n <= 0 || in <= 0 || out <= 0)
        return;
    float beta = 0.0f;
    if (b) {
        broadcast_bias(y, n, out, b);
        beta = 1.0f;
    }
    blas_sgemm(CblasRowMajor, CblasNoTrans, w_out_in ? CblasTrans : CblasNoTrans, n, out, in,
               1.0f, x, in, W, w_out_in ? in : out, beta, y, out);
}

void tensor_linear(const float *x, int n, int in, const float *W, const float *b,
                   int out, float *y)
{
    linear(x, n, in, W, b, out, y, 1);
}

void tensor_linear_t(const float *x, int n, int in, const float *W, const float *b,
                     int out, float *y)
{
    linear(x, n, in, W, b, out, y, 0);
}

void tensor_gemm(int m, int n, int k, float alpha, const float *A, const float *B,
                 float beta, float *C)
{
    if (!A || !B || !C || m <= 0 || n <= 0 || k <= 0)
        return;
    blas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k,
               alpha, A, k, B, n, beta, C, n);
}

/* y[rows] = A[rows x cols] * x[cols]  (row-major, y overwritten). */
void tensor_gemv(int rows, int cols, const float *A, const float *x, float *y)
{
    if (!A || !x || !y || rows <= 0 || cols <= 0)
        return;
    blas_sgemv(CblasRowMajor, CblasNoTrans, rows, cols, 1.0f, A, cols, x, 1, 0.0f, y, 1);
}

/* --------------------------------------------------------------- layer norm */

/*
 * x = (x - mean) / sqrt(var + eps) * g + b, per row.
 * Mean and variance are accumulated in double: a hidden size of 768..1024
 * summed in float loses a few bits, and encoders are compared against their
 * reference implementations at cosine 0.9999. Two passes (mean, then
 * centred squares) avoid the cancellation of E[x^2] - E[x]^2.
 * g and b may be NULL (1 and 0).
 */
void tensor_layernorm(float *x, int rows, int dim, const float *g, const float *b, float eps)
{
    if (!x || rows <= 0 || dim <= 0)
        return;
    for (int r = 0; r < rows; r++) {
        float *row = x + (size_t)r * dim;
        double sum = 0.0;
        for (int i = 0; i < dim; i++)
            sum += row[i];
        float mean = (float)(sum / dim);
        double sq = 0.0;
        for (int i = 0; i < dim; i++) {
            double c = (double)row[i] - mean;
            sq += c * c;
        }
        float inv = (float)(1.0 / sqrt(sq / dim + (double)eps));
        for (int i = 0; i < dim; i++) {
            float y = (row[i] - mean) * inv;
            if (g)
                y *= g[i];
            if (b)
                y += b[i];
            row[i] = y;
        }
    }
}

/* ------------------------------------------------------------- activations */

/*
 * The activations run once per element of the feed-forward layer's wide
 * output (n x 3072 for BERT-base), so libm's scalar erff/tanhf would cost a
 * good fraction of the layer's matrix products. They are built instead on
 * attn_expf (attention.h), which the compiler vectorises:
 *
 *   erf(x)  = sign(x) (1 - t (a1 + t (a2 + t (a3 + t (a4 + t a5)))) e^(-x^2)),
 *             t = 1 / (1 + p |x|)          (Abramowitz & Stegun 7.1.26,
 *                                           |error| <= 1.5e-7)
 *   tanh(y) = sign(y) (1 - e^(-2|y|)) / (1 + e^(-2|y|))
 *             (absolute error ~1e-7: fine for activations; the relative
 *             error near 0 is larger, which no caller depends on)
 *
 * The tests compare both against double-precision libm.
 */
static inline float erf_approx(float x)
{
    const float p = 0.3275911f;
    const float a1 = 0.254829592f, a2 = -0.284496736f, a3 = 1.421413741f,
                a4 = -1.453152027f, a5 = 1.061405429f;
    float ax = fabsf(x);
    float t = 1.0f / (1.0f + p * ax);
    float poly = t * (a1 + t * (a2 + t * (a3 + t * (a4 + t * a5))));
    float y = 1.0f - poly * attn_expf(-ax * ax);
    return x < 0.0f ? -y : y;
}

static inline float tanh_approx(float y)
{
    float e = attn_expf(-2.0f * fabsf(y));
    float r = (1.0f - e) / (1.0f + e);
    return y < 0.0f ? -r : r;
}

/* GELU, exact form used by BERT: 0.5 x (1 + erf(x / sqrt 2)). */
void tensor_gelu_erf(float *x, size_t n)
{
    if (!x)
        return;
    const float inv_sqrt2 = 0.70710678118654752f;
    for (size_t i = 0; i < n; i++)
        x[i] = 0.5f * x[i] * (1.0f + erf_approx(x[i] * inv_sqrt2));
}

/* GELU, tanh approximation (GPT-2, some TF models):
 * 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). */
void tensor_gelu_tanh(float *x, size_t n)
{
    if (!x)
        return;
    const float k = 0.79788456080286536f; /* sqrt(2/pi) */
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        x[i] = 0.5f * v * (1.0f + tanh_approx(k * (v + 0.044715f * v * v * v)));
    }
}

void tensor_relu(float *x, size_t n)
{
    if (!x)
        return;
    for (size_t i = 0; i < n; i++)
        x[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

void tensor_tanh(float *x, size_t n)
{
    if (!x)
        return;
    for (size_t i = 0; i < n; i++)
        x[i] = tanh_approx(x[i]);
}

/*
 * Row softmax, stable: subtract the row max before exponentiating so the
 * largest term is exp(0) = 1 and nothing overflows. A row that is entirely
 * -inf (every position masked) has no distribution; it becomes zeros rather
 * than NaN, matching what the attention kernels do for a query with no
 * visible key.
 */
void tensor_softmax_rows(float *x, int rows, int cols)
{
    if (!x || rows <= 0 || cols <= 0)
        return;
    for (int r = 0; r < rows; r++) {
        float *row = x + (size_t)r * cols;
        float mx = -INFINITY;
        for (int i = 0; i < cols; i++)
            mx = row[i] > mx ? row[i] : mx;
        if (mx == -INFINITY) {
            memset(row, 0, (size_t)cols * sizeof(float));
            continue;
        }
        float sum = 0.0f;
        for (int i = 0; i < cols; i++) {
            row[i] = expf(row[i] - mx);
            sum += row[i];
        }
        float inv = 1.0f / sum;
        for (int i = 0; i < cols; i++)
            row[i] *= inv;
    }
}

/* Residual connection: y += x. */
void tensor_add(float *y, const float *x, size_t n)
{
    if (!y || !x)
        return;
    for (size_t i = 0; i < n; i++)
        y[i] += x[i];
}

/* Each row scaled to unit Euclidean length; an all-zero row stays zero
 * (there is no direction to keep). The norm is summed in double so long
 * rows of small values do not lose precision. */
void tensor_l2_normalize_rows(float *x, int rows, int cols)
{
    if (!x || rows <= 0 || cols <= 0)
        return;
    for (int r = 0; r < rows; r++) {
        float *row = x + (size_t)r * cols;
        double sq = 0.0;
        for (int i = 0; i < cols; i++)
            sq += (double)row[i] * row[i];
        if (sq <= 0.0)
            continue;
        float inv = (float)(1.0 / sqrt(sq));
        for (int i = 0; i < cols; i++)
            row[i] *= inv;
    }
}
