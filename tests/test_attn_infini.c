/*
 * test_attn_infini.c — Infini-attention against a double-precision reference
 * of the paper's equations, the memory update against a direct computation,
 * and the one-segment, gate-closed case against dense attention.
 */
#include <criterion/criterion.h>

#include "attention/attention.h"
#include "test_attn_ref.h"

#define TOL 1e-5f

static double sig(double x) { return x > 0 ? x + 1.0 : exp(x); } /* ELU + 1 */

/* M += s(K)^T (V - [delta] s(K) M / (s(K) z)), z += sum s(K), in double, one
 * key at a time against the memory as it was before the whole block. */
static void ref_update(double *M, double *z, const float *k, const float *v, int ld, int n,
                       int d, const uint8_t *mask, int first, int delta)
{
    double *dM = calloc((size_t)d * d, sizeof *dM), *dz = calloc((size_t)d, sizeof *dz);
    double *s = malloc((size_t)d * sizeof *s), *val = malloc((size_t)d * sizeof *val);
    for (int j = 0; j < n; j++) {
        if (mask && !mask[first + j])
            continue;
        double den = 0.0;
        for (int a = 0; a < d; a++) {
            s[a] = sig(k[(size_t)j * ld + a]);
            den += s[a] * z[a];
        }
        for (int b = 0; b < d; b++) {
            double ret = 0.0;
            if (delta && den > 0) {
                for (int a = 0; a < d; a++)
                    ret += s[a] * M[a * d + b];
                ret /= den;
            }
            val[b] = v[(size_t)j * ld + b] - ret;
        }
        for (int a = 0; a < d; a++) {
            for (int b = 0; b < d; b++)
                dM[a * d + b] += s[a] * val[b];
            dz[a] += s[a];
        }
    }
    for (int i = 0; i < d * d; i++)
        M[i] += dM[i];
    for (int a = 0; a < d; a++)
        z[a] += dz[a];
    free(dM); free(dz); free(s); free(val);
}

/* The whole kernel, in double, straight from the equations. */
static void ref_infini(int n, int H, int KVH, int d, int S, int causal, int delta,
                       const float *beta, const float *q, const float *k, const float *v,
                       const uint8_t *mask, float *out)
{
    /* local attention: visible when in the same segment (and mask/causal) */
    uint8_t *vis = malloc((size_t)n * n);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            vis[(size_t)i * n + j] = i / S == j / S && (!mask || mask[j]) && (!causal || j <= i);
    ref_attention(n, H, KVH, d, 1.0 / sqrt((double)d), q, k, v, vis, NULL, out);
    free(vis);

    int group = H / KVH;
    double *M = malloc((size_t)d * d * sizeof *M), *z = malloc((size_t)d * sizeof *z);
    for (int hk = 0; hk < KVH; hk++) {
        memset(M, 0, (size_t)d * d * sizeof *M);
        memset(z, 0, (size_t)d * sizeof *z);
        for (int s0 = 0; s0 < n; s0 += S) {
            int s1 = s0 + S < n ? s0 + S : n;
            for (int h = hk * group; h < (hk + 1) * group; h++) {
                double g = 1.0 / (1.0 + exp(-(double)beta[h]));
                for (int i = s0; i < s1; i++) {
                    const float *qi = q + (size_t)i * H * d + h * d;
                    double den = 0.0;
                    for (int a = 0; a < d; a++)
                        den += sig(qi[a]) * z[a];
                    float *o = out + (size_t)i * H * d + h * d;
                    for (int b = 0; b < d; b++) {
                        double num = 0.0;
                        for (int a = 0; a < d; a++)
                            num += sig(qi[a]) * M[a * d + b];
                        double mem = den > 0 ? num / den : 0.0;
                        o[b] = (float)(g * mem + (1.0 - g) * o[b]);
                    }
                }
            }
            ref_update(M, z, k + (size_t)s0 * KVH * d + hk * d, v + (size_t)s0 * KVH * d + hk * d,
                       KVH * d, s1 - s0, d, mask, s0, delta);
        }
    }
    free(M); free(z);
}

typedef struct infini_case {
    int n, heads, kv_heads, d, segment, causal, delta, masked;
} infini_case;

static const infini_case cases[] = {
    { 300, 4, 2, 32, 64, 0, 0, 0 },
    { 300, 4, 2, 32, 64, 1, 1, 1 },
    { 257, 2, 1, 80, 100, 0, 1, 1 },
    { 150, 3, 3, 64, 150, 1, 0, 0 },   /* one segment, gate open */
    { 200, 1, 1, 128, 33, 0, 1, 0 },
};

Test(attn_infini, matches_reference)
{
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const infini_case *c = &cases[ci];
        int n = c->n, H = c->heads, KVH = c->kv_heads, d = c->d;
        float *q = ref_random((size_t)n * H * d, 500 + ci);
        float *k = ref_random((size_t)n * KVH * d, 600 + ci);
        float *v = ref_random((size_t)n * KVH * d, 700 + ci);
        float beta[8] = { -1.0f, 0.5f, 2.0f, -3.0f, 0.0f, 1.0f, 4.0f, -0.5f };
        uint8_t *mask = NULL;
        if (c->masked) {
            mask = malloc((size_t)n);
            for (int j = 0; j < n; j++)
                mask[j] = j % 6 != 1;
        }
        attn_config cfg;
        attn_config_init(&cfg, H, d);
        cfg.kind = ATTN_INFINI;
        cfg.kv_heads = KVH;
        cfg.segment = c->segment;
        cfg.causal = c->causal;
        cfg.delta_rule = c->delta;
        cfg.infini_beta = beta;
        float *out = malloc((size_t)n * H * d * sizeof *out), *ref = malloc((size_t)n * H * d * sizeof *ref);
        for (size_t i = 0; i < (size_t)n * H * d; i++)
            out[i] = NAN;
        cr_assert_eq(attn_forward(&cfg, q, k, v, mask, n, out), 0);
        ref_infini(n, H, KVH, d, c->segment, c->causal, c->delta, beta, q, k, v, mask, ref);
        float err = ref_max_abs_diff(out, ref, (size_t)n * H * d);
        cr_expect_leq(err, TOL, "case %zu: err %g", ci, err);
        free(q); free(k); free(v); free(mask); free(out); free(ref);
    }
}

/* One segment with the gate shut on the memory side is masked dense
 * attention: identical to the dense kernel. */
Test(attn_infini, one_segment_local_gate_is_dense)
{
    int n = 270, H = 4, d = 64;
    float *q = ref_random((size_t)n * H * d, 21), *k = ref_random((size_t)n * 2 * d, 22),
          *v = ref_random((size_t)n * 2 * d, 23);
    float *a = malloc((size_t)n * H * d * sizeof *a), *b = malloc((size_t)n * H * d * sizeof *b);
    uint8_t mask[270];
    for (int j = 0; j < n; j++)
        mask[j] = j % 9 != 4;
    float beta[4] = { -INFINITY, -INFINITY, -INFINITY, -INFINITY };
    for (int causal = 0; causal < 2; causal++) {
        attn_config cfg;
        attn_config_init(&cfg, H, d);
        cfg.kv_heads = 2;
        cfg.causal = causal;
        cr_assert_eq(attn_forward(&cfg, q, k, v, mask, n, a), 0);
        cfg.kind = ATTN_INFINI;
        cfg.segment = 0; /* whole sequence */
        cfg.infini_beta = beta;
        cfg.delta_rule = causal;
        cr_assert_eq(attn_forward(&cfg, q, k, v, mask, n, b), 0);
        cr_assert_eq(memcmp(a, b, (size_t)n * H * d * sizeof *a), 0,
                     "causal=%d: max diff %g", causal, ref_max_abs_diff(a, b, (size_t)n * H * d));
    }
    free(q); free(k); free(v); free(a); free(b);
}

/* The exposed update against the direct computation, both rules, starting
 * from a memory that already holds something (so the delta term matters),
 * with a strided layout and masked rows; then retrieval against its formula. */
Test(attn_infini, memory_update_and_retrieve)
{
    int n = 150, d = 64, ld = 3 * d;
    float *kv = ref_random((size_t)2 * n * ld, 31);
    const float *k = kv + d, *v = kv + (size_t)n * ld + 2 * d;
    uint8_t mask[150];
    for (int j = 0; j < n; j++)
        mask[j] = j % 5 != 2;
    for (int delta = 0; delta < 2; delta++) {
        float *M = tensor_zalloc((size_t)d * d), *z = tensor_zalloc((size_t)d);
        double *Mr = calloc((size_t)d * d, sizeof *Mr), *zr = calloc((size_t)d, sizeof *zr);
        /* two blocks: the second one sees a non-empty memory */
        for (int blk = 0; blk < 2; blk++) {
            int first = blk * 70, rows = blk ? n - 70 : 70;
            cr_assert_eq(attn_infini_update(M, z, k + (size_t)first * ld, v + (size_t)first * ld,
                                            ld, rows, d, mask + first, delta), 0);
            ref_update(Mr, zr, k + (size_t)first * ld, v + (size_t)first * ld, ld, rows, d,
                       mask, first, delta);
        }
        for (int i = 0; i < d * d; i++)
            cr_assert_float_eq(M[i], Mr[i], 1e-4 * (1.0 + fabs(Mr[i])), "delta=%d M[%d]", delta, i);
        for (int a = 0; a < d; a++)
            cr_assert_float_eq(z[a], zr[a], 1e-4 * (1.0 + fabs(zr[a])));

        float *q = ref_random((size_t)5 * d, 32), out[5 * 64];
        cr_assert_eq(attn_infini_retrieve(M, z, q, d, 5, d, out, d), 0);
        for (int i = 0; i < 5; i++) {
            double den = 0.0;
            for (int a = 0; a < d; a++)
                den += sig(q[i * d + a]) * zr[a];
            for (int b = 0; b < d; b++) {
                double num = 0.0;
                for (int a = 0; a < d; a++)
                    num += sig(q[i * d + a]) * Mr[a * d + b];
                cr_assert_float_eq(out[i * d + b], num / den, 1e-5);
            }
        }
        free(q); tensor_free(M); tensor_free(z); free(Mr); free(zr);
    }
    free(kv);
}

/* Memory is constant in n: workspace for 1M tokens equals that for 4K. */
Test(attn_infini, workspace_is_independent_of_n)
{
    attn_config cfg;
    attn_config_init(&cfg, 8, 64);
    cfg.kind = ATTN_INFINI;
    cfg.segment = 2048;
    size_t a = attn_workspace_bytes(&cfg, 4096), b = attn_workspace_bytes(&cfg, 1 << 20);
    cr_assert_gt(a, (size_t)2 * 64 * 64 * sizeof(float));
    cr_assert_eq(a, b);
}
