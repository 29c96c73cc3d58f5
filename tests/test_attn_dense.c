/*
 * test_attn_dense.c — tiled dense attention and the naive kernel against the
 * test reference (test_attn_ref.h) across odd sizes, head layouts, masks,
 * causal and ALiBi; plus the config checks and the workspace contract.
 */
#include <criterion/criterion.h>

#include "attention/attention.h"
#include "attention/attention.h"
#include "test_attn_ref.h"

#define TOL 1e-5f

typedef struct dense_case {
    int n, heads, kv_heads, d;
    int causal, alibi, masked;
} dense_case;

/* Runs kind on random inputs and returns the max abs error vs the reference. */
static float run_case(attn_kind kind, const dense_case *c, uint64_t seed)
{
    int n = c->n, H = c->heads, KVH = c->kv_heads, d = c->d;
    float *q = ref_random((size_t)n * H * d, seed);
    float *k = ref_random((size_t)n * KVH * d, seed + 1);
    float *v = ref_random((size_t)n * KVH * d, seed + 2);
    /* larger scores than 1/sqrt(d) stress the online max bookkeeping */
    for (size_t i = 0; i < (size_t)n * H * d; i++)
        q[i] *= 3.0f;
    uint8_t *mask = NULL;
    if (c->masked) {
        mask = malloc((size_t)n);
        for (int j = 0; j < n; j++)
            mask[j] = (j * 7 + 3) % 5 != 0; /* hides every fifth-ish key */
        /* a run of hidden keys longer than a tile edge case: hide the tail */
        for (int j = n - n / 4; j < n; j++)
            mask[j] = 0;
    }
    attn_config cfg;
    attn_config_init(&cfg, H, d);
    cfg.kind = kind;
    cfg.kv_heads = KVH;
    cfg.causal = c->causal;
    cfg.alibi = c->alibi;
    float *out = malloc((size_t)n * H * d * sizeof *out);
    float *ref = malloc((size_t)n * H * d * sizeof *ref);
    for (size_t i = 0; i < (size_t)n * H * d; i++)
        out[i] = NAN; /* every output must be written */
    int rc = attn_forward(&cfg, q, k, v, mask, n, out);
    cr_assert_eq(rc, 0, "attn_forward failed: %s", attn_config_check(&cfg, n));

    uint8_t *vis = ref_dense_vis(n, mask, c->causal);
    double *slopes = c->alibi ? ref_slopes(H) : NULL;
    ref_attention(n, H, KVH, d, 1.0 / sqrt((double)d), q, k, v, vis, slopes, ref);
    float err = ref_max_abs_diff(out, ref, (size_t)n * H * d);
    free(q); free(k); free(v); free(mask); free(out); free(ref); free(vis); free(slopes);
    return err;
}

static const dense_case cases[] = {
    { 1, 1, 1, 32, 0, 0, 0 },
    { 7, 2, 1, 64, 0, 0, 0 },
    { 129, 4, 4, 32, 0, 0, 0 },     /* one row past a query tile */
    { 257, 2, 2, 64, 1, 0, 0 },     /* one key past a key tile */
    { 300, 3, 1, 80, 0, 1, 1 },     /* multi-query, odd d */
    { 333, 4, 2, 128, 1, 1, 1 },    /* grouped, everything on */
    { 100, 16, 4, 32, 0, 1, 0 },    /* 16 heads, 4 groups */
    { 200, 6, 3, 64, 1, 0, 1 },     /* non power-of-two ALiBi head count below */
    { 77, 5, 5, 80, 0, 1, 1 },
};

Test(attn_dense, matches_reference)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        float err = run_case(ATTN_DENSE, &cases[i], 100 + i);
        cr_expect_leq(err, TOL, "case %zu (n=%d H=%d KVH=%d d=%d causal=%d alibi=%d mask=%d): err %g",
                      i, cases[i].n, cases[i].heads, cases[i].kv_heads, cases[i].d,
                      cases[i].causal, cases[i].alibi, cases[i].masked, err);
    }
}

Test(attn_naive, matches_reference)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        float err = run_case(ATTN_NAIVE, &cases[i], 200 + i);
        cr_expect_leq(err, TOL, "case %zu: err %g", i, err);
    }
}

/* A query with every key hidden gets zeros, not NaN. */
Test(attn_dense, fully_masked_rows_are_zero)
{
    int n = 40, d = 32;
    float *q = ref_random((size_t)n * d, 1), *k = ref_random((size_t)n * d, 2),
          *v = ref_random((size_t)n * d, 3), *out = malloc((size_t)n * d * sizeof(float));
    uint8_t mask[40];
    memset(mask, 0, sizeof mask);
    attn_config cfg;
    attn_config_init(&cfg, 1, d);
    cr_assert_eq(attn_forward(&cfg, q, k, v, mask, n, out), 0);
    for (int i = 0; i < n * d; i++)
        cr_assert_eq(out[i], 0.0f);
    /* causal + first key hidden: row 0 sees nothing, row 1 sees key 1 only */
    memset(mask, 1, sizeof mask);
    mask[0] = 0;
    cfg.causal = 1;
    cr_assert_eq(attn_forward(&cfg, q, k, v, mask, n, out), 0);
    for (int c = 0; c < d; c++) {
        cr_assert_eq(out[c], 0.0f);
        cr_assert_float_eq(out[d + c], v[d + c], 1e-6);
    }
    free(q); free(k); free(v); free(out);
}

Test(attn_dense, bad_configs_are_refused)
{
    float x[64] = { 0 }, out[64];
    attn_config cfg;
    attn_config_init(&cfg, 4, 8);
    cfg.kv_heads = 3;
    cr_assert_eq(attn_forward(&cfg, x, x, x, NULL, 2, out), -1);
    cr_assert_not_null(attn_config_check(&cfg, 2));
    cfg.kv_heads = 2;
    cr_assert_null(attn_config_check(&cfg, 2));
    cr_assert_eq(attn_forward(&cfg, NULL, x, x, NULL, 2, out), -1);
    cfg.head_dim = 0;
    cr_assert_eq(attn_forward(&cfg, x, x, x, NULL, 2, out), -1);
    cr_assert_eq(attn_forward(NULL, x, x, x, NULL, 2, out), -1);
}

/* Working memory of the tiled kernel does not depend on n; the naive one
 * holds n^2 scores. */
Test(attn_dense, workspace_is_independent_of_n)
{
    attn_config cfg;
    attn_config_init(&cfg, 8, 64);
    size_t a = attn_workspace_bytes(&cfg, 4096), b = attn_workspace_bytes(&cfg, 1 << 20);
    cr_assert_gt(a, 0);
    cr_assert_eq(a, b);
    cr_assert_lt(a, (size_t)1 << 20);
    cfg.kind = ATTN_NAIVE;
    cr_assert_geq(attn_workspace_bytes(&cfg, 1000), (size_t)1000 * 1000 * sizeof(float));
}

/* Standard slopes for 8 heads are 1/2, 1/4, ..., 1/256. */
Test(attn_dense, alibi_slopes)
{
    cr_assert_float_eq(ref_alibi_slope(8, 0), 0.5, 1e-12);
    cr_assert_float_eq(ref_alibi_slope(8, 7), 1.0 / 256, 1e-12);
    /* 12 heads: the 8-head slopes then 2^-0.5, 2^-1.5, 2^-2.5, 2^-3.5 */
    cr_assert_float_eq(ref_alibi_slope(12, 8), pow(2, -0.5), 1e-12);
    cr_assert_float_eq(ref_alibi_slope(12, 11), pow(2, -3.5), 1e-12);
    for (int H = 1; H <= 16; H++)
        for (int h = 0; h < H; h++)
            cr_assert_float_eq(attn_alibi_slope(H, h), ref_alibi_slope(H, h), 1e-6,
                               "H=%d h=%d", H, h);
}
