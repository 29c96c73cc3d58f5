/*
 * test_tensor.c — the tensor helpers against plain double-precision loops,
 * and BLAS under concurrent callers.
 */
#include <cblas.h>
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "attention/attention.h"
#include "test_attn_ref.h"

Test(tensor, alloc_is_aligned_and_zeroed)
{
    float *p = tensor_zalloc(37);
    cr_assert_not_null(p);
    cr_assert_eq((uintptr_t)p % 64, 0);
    for (int i = 0; i < 37; i++)
        cr_assert_eq(p[i], 0.0f);
    tensor_free(p);
    cr_assert_null(tensor_alloc(SIZE_MAX / 2));
}

/* y = x W^T + b with W out x in, and y = x W + b with W in x out. */
Test(tensor, linear_both_layouts)
{
    int n = 13, in = 37, out = 19;
    float *x = ref_random((size_t)n * in, 1), *W = ref_random((size_t)out * in, 2),
          *b = ref_random((size_t)out, 3);
    float *Wt = malloc((size_t)in * out * sizeof *Wt);
    for (int o = 0; o < out; o++)
        for (int i = 0; i < in; i++)
            Wt[i * out + o] = W[o * in + i];
    float *y1 = malloc((size_t)n * out * sizeof *y1), *y2 = malloc((size_t)n * out * sizeof *y2);
    float *y3 = malloc((size_t)n * out * sizeof *y3);
    tensor_linear(x, n, in, W, b, out, y1);
    tensor_linear_t(x, n, in, Wt, b, out, y2);
    tensor_linear(x, n, in, W, NULL, out, y3);
    for (int r = 0; r < n; r++)
        for (int o = 0; o < out; o++) {
            double acc = 0.0;
            for (int i = 0; i < in; i++)
                acc += (double)x[r * in + i] * W[o * in + i];
            cr_assert_float_eq(y1[r * out + o], acc + b[o], 1e-5);
            cr_assert_float_eq(y2[r * out + o], acc + b[o], 1e-5);
            cr_assert_float_eq(y3[r * out + o], acc, 1e-5);
        }
    free(x); free(W); free(b); free(Wt); free(y1); free(y2); free(y3);
}

Test(tensor, gemm_and_gemv)
{
    int m = 9, n = 11, k = 5;
    float *A = ref_random((size_t)m * k, 4), *B = ref_random((size_t)k * n, 5),
          *C = ref_random((size_t)m * n, 6);
    float *C0 = malloc((size_t)m * n * sizeof *C0);
    memcpy(C0, C, (size_t)m * n * sizeof *C0);
    tensor_gemm(m, n, k, 2.0f, A, B, 0.5f, C);
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double acc = 0.0;
            for (int c = 0; c < k; c++)
                acc += (double)A[i * k + c] * B[c * n + j];
            cr_assert_float_eq(C[i * n + j], 2.0 * acc + 0.5 * C0[i * n + j], 1e-5);
        }
    float *x = ref_random((size_t)k, 7), y[9];
    tensor_gemv(m, k, A, x, y);
    for (int i = 0; i < m; i++) {
        double acc = 0.0;
        for (int c = 0; c < k; c++)
            acc += (double)A[i * k + c] * x[c];
        cr_assert_float_eq(y[i], acc, 1e-5);
    }
    free(A); free(B); free(C); free(C0); free(x);
}

Test(tensor, layernorm)
{
    int rows = 3, dim = 768;
    float *x = ref_random((size_t)rows * dim, 8), *g = ref_random(dim, 9), *b = ref_random(dim, 10);
    for (int i = 0; i < rows * dim; i++)
        x[i] = x[i] * 5.0f + 100.0f; /* a large mean tests the two-pass variance */
    float *y = malloc((size_t)rows * dim * sizeof *y);
    memcpy(y, x, (size_t)rows * dim * sizeof *y);
    tensor_layernorm(y, rows, dim, g, b, 1e-12f);
    for (int r = 0; r < rows; r++) {
        double mean = 0.0, var = 0.0;
        for (int i = 0; i < dim; i++)
            mean += x[r * dim + i];
        mean /= dim;
        for (int i = 0; i < dim; i++)
            var += (x[r * dim + i] - mean) * (x[r * dim + i] - mean);
        var /= dim;
        for (int i = 0; i < dim; i++) {
            double want = (x[r * dim + i] - mean) / sqrt(var + 1e-12) * g[i] + b[i];
            cr_assert_float_eq(y[r * dim + i], want, 1e-4);
        }
    }
    free(x); free(g); free(b); free(y);
}

Test(tensor, activations)
{
    float xs[] = { -6.0f, -2.5f, -1.0f, -0.1f, 0.0f, 0.3f, 1.0f, 2.0f, 7.5f };
    int n = sizeof xs / sizeof xs[0];
    float a[16], b[16], c[16], t[16];
    memcpy(a, xs, sizeof xs);
    memcpy(b, xs, sizeof xs);
    memcpy(c, xs, sizeof xs);
    memcpy(t, xs, sizeof xs);
    tensor_gelu_erf(a, n);
    tensor_gelu_tanh(b, n);
    tensor_relu(c, n);
    tensor_tanh(t, n);
    for (int i = 0; i < n; i++) {
        double x = xs[i];
        cr_assert_float_eq(a[i], 0.5 * x * (1.0 + erf(x / sqrt(2.0))), 1e-6);
        cr_assert_float_eq(b[i], 0.5 * x * (1.0 + tanh(sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x))), 1e-6);
        cr_assert_float_eq(c[i], x > 0 ? x : 0.0, 0.0);
        cr_assert_float_eq(t[i], tanh(x), 1e-6);
    }
    /* the two GELU forms differ, but by little */
    cr_assert_neq(a[1], b[1]);
}

/* The vectorised activations over a dense sweep, against libm in double:
 * GELU and tanh within 1e-6 absolute (GELU's error grows with |x| only
 * through the factor x, so relative to max(1, |x|)). */
Test(tensor, activations_sweep)
{
    enum { N = 4001 };
    float *a = malloc(N * sizeof *a), *b = malloc(N * sizeof *b), *t = malloc(N * sizeof *t);
    for (int i = 0; i < N; i++)
        a[i] = b[i] = t[i] = -20.0f + 0.01f * (float)i;
    tensor_gelu_erf(a, N);
    tensor_gelu_tanh(b, N);
    tensor_tanh(t, N);
    double worst_erf = 0, worst_tanh = 0, worst_t = 0;
    for (int i = 0; i < N; i++) {
        double x = -20.0f + 0.01f * (float)i;
        double scale = fabs(x) > 1.0 ? fabs(x) : 1.0;
        double ge = 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
        double gt = 0.5 * x * (1.0 + tanh(sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
        worst_erf = fmax(worst_erf, fabs(a[i] - ge) / scale);
        worst_tanh = fmax(worst_tanh, fabs(b[i] - gt) / scale);
        worst_t = fmax(worst_t, fabs(t[i] - tanh(x)));
    }
    cr_expect_leq(worst_erf, 1e-6, "gelu_erf %g", worst_erf);
    cr_expect_leq(worst_tanh, 1e-6, "gelu_tanh %g", worst_tanh);
    cr_expect_leq(worst_t, 1e-6, "tanh %g", worst_t);
    free(a); free(b); free(t);
}

Test(tensor, softmax_rows)
{
    float x[2][5] = { { 1.0f, 2.0f, 3.0f, 1000.0f, -1000.0f },
                      { -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY } };
    float orig[5];
    memcpy(orig, x[0], sizeof orig);
    tensor_softmax_rows(&x[0][0], 2, 5);
    double mx = 1000.0, sum = 0.0;
    for (int i = 0; i < 5; i++)
        sum += exp(orig[i] - mx);
    for (int i = 0; i < 5; i++) {
        cr_assert_float_eq(x[0][i], exp(orig[i] - mx) / sum, 1e-7);
        cr_assert_eq(x[1][i], 0.0f);
    }
}

Test(tensor, add_and_l2_normalize)
{
    float y[6] = { 1, 2, 3, 0, 0, 0 }, x[6] = { 3, 2, 9, 0, 0, 0 };
    tensor_add(y, x, 6);
    cr_assert_eq(y[0], 4.0f);
    cr_assert_eq(y[2], 12.0f);
    tensor_l2_normalize_rows(y, 2, 3);
    double norm = sqrt(4.0 * 4 + 4 * 4 + 12 * 12);
    cr_assert_float_eq(y[0], 4.0 / norm, 1e-7);
    cr_assert_float_eq(y[2], 12.0 / norm, 1e-7);
    cr_assert_eq(y[3], 0.0f); /* zero row stays zero */
}

Test(tensor, threads_setting)
{
    int before = tensor_get_threads();
    tensor_set_threads(1);
    cr_assert_eq(tensor_get_threads(), 1);
    tensor_set_threads(0); /* clamped to 1 */
    cr_assert_eq(tensor_get_threads(), 1);
    tensor_set_threads(before);
}

/* The attention kernels' own e^x against libm's. */
Test(tensor, fast_exp_accuracy)
{
    enum { N = 2001 };
    float x[N], want[N];
    for (int i = 0; i < N; i++) {
        x[i] = -90.0f + 0.09f * (float)i; /* -90 .. 90 */
        want[i] = expf(x[i] - 2.0f);
    }
    x[0] = -INFINITY;
    want[0] = 0.0f;
    float sum = attn_exp_shift_sum(x, N, 2.0f);
    for (int i = 0; i < N; i++) {
        if (want[i] < 1e-37f) {
            cr_assert_leq(fabsf(x[i] - want[i]), 2e-38f, "x=%g", -90.0 + 0.09 * i);
            continue;
        }
        cr_assert_leq(fabsf(x[i] - want[i]), 4e-7f * want[i], "i=%d got %g want %g", i, x[i], want[i]);
    }
    cr_assert_eq(x[0], 0.0f);
    (void)sum; /* saturates near e^88; the sum is checked in a normal range: */
    float y[100];
    double ysum = 0.0;
    for (int i = 0; i < 100; i++) {
        y[i] = -10.0f + 0.2f * (float)i;
        ysum += exp((double)y[i] - 1.0);
    }
    float got = attn_exp_shift_sum(y, 100, 1.0f);
    cr_assert_float_eq(got, ysum, 1e-6 * ysum);
}

/* Several threads calling BLAS at once, as indexing does (one encoder
 * batch per core, attention/tensor.c): each call must give exactly what a
 * lone call gives. Debian's serial OpenBLAS is built without USE_LOCKING and
 * silently corrupted embeddings that way (docs/ARCHITECTURE.md). The shapes
 * are encoder-like and small enough that calls start and end often (the
 * serial build's race is in taking its work buffers): products with and
 * without a transposed operand, an attention tile (64 x 64 x 64, query times
 * transposed keys) and a matrix-vector product. BLAS is not
 * sanitizer-instrumented, so the calls overlap at full speed here; with the
 * serial library this test reports hundreds of differing results. */
enum { BLAS_OPS = 4 };

typedef struct blas_case {
    int m, n, k;
    int trans_b;            /* op 0..2: sgemm, B transposed or not; op 3: sgemv */
} blas_case;

static const blas_case CASES[BLAS_OPS] = {
    {97, 130, 160, 0}, {128, 200, 96, 1}, {64, 64, 64, 1}, {512, 1, 768, 0},
};

typedef struct blas_job {
    const float *A, *B;
    float *ref[BLAS_OPS];
    int rounds, mismatches;
} blas_job;

static void blas_op(int op, const float *A, const float *B, float *C)
{
    const blas_case *c = &CASES[op];
    if (op == 3)
        blas_sgemv(CblasRowMajor, CblasNoTrans, c->m, c->k, 1.0f, A, c->k, B, 1, 0.0f, C, 1);
    else
        blas_sgemm(CblasRowMajor, CblasNoTrans, c->trans_b ? CblasTrans : CblasNoTrans, c->m,
                   c->n, c->k, 1.0f, A, c->k, B, c->trans_b ? c->k : c->n, 0.0f, C, c->n);
}

static void *blas_worker(void *arg)
{
    blas_job *j = arg;
    float *C = malloc(512 * 512 * sizeof *C);
    for (int r = 0; r < j->rounds; r++)
        for (int op = 0; op < BLAS_OPS; op++) {
            blas_op(op, j->A, j->B, C);
            if (memcmp(C, j->ref[op], (size_t)CASES[op].m * CASES[op].n * sizeof *C) != 0)
                j->mismatches++;
        }
    free(C);
    return NULL;
}

Test(tensor, concurrent_blas_calls_equal_lone_calls)
{
    enum { T = 8 };
    float *A = malloc(512 * 768 * sizeof *A), *B = malloc(768 * 512 * sizeof *B);
    srand(31);
    for (int i = 0; i < 512 * 768; i++) A[i] = (float)rand() / RAND_MAX - 0.5f;
    for (int i = 0; i < 768 * 512; i++) B[i] = (float)rand() / RAND_MAX - 0.5f;
    int before = tensor_get_threads();
    tensor_set_threads(1);
    blas_job proto = {A, B, {NULL}, 1000, 0};
    for (int op = 0; op < BLAS_OPS; op++) {
        proto.ref[op] = malloc(512 * 512 * sizeof(float));
        blas_op(op, A, B, proto.ref[op]);
    }
    pthread_t th[T];
    blas_job jobs[T];
    for (int t = 0; t < T; t++) {
        jobs[t] = proto;
        cr_assert_eq(pthread_create(&th[t], NULL, blas_worker, &jobs[t]), 0);
    }
    for (int t = 0; t < T; t++)
        pthread_join(th[t], NULL);
    tensor_set_threads(before);
    for (int t = 0; t < T; t++)
        cr_expect_eq(jobs[t].mismatches, 0, "thread %d: %d of %d results differ", t,
                     jobs[t].mismatches, jobs[t].rounds * BLAS_OPS);
    for (int op = 0; op < BLAS_OPS; op++)
        free(proto.ref[op]);
    free(A);
    free(B);
}
