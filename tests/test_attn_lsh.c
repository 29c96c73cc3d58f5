/*
 * test_attn_lsh.c — LSH-bucketed attention against the reference with the
 * bucket rule written out: query i sees key j when they share a bucket in at
 * least one round. Buckets are recomputed here from the raw rotations of
 * lsh_hash.c with an argmax of our own, so a wrong bucket in the kernel shows
 * up as a wrong visibility pattern.
 */
#include <criterion/criterion.h>

#include "attention/attention.h"
#include "attention/attention.h"
#include "test_attn_ref.h"

#define TOL 1e-5f

/* Cross-polytope bucket: argmax over [z_0..z_{m-1}, -z_0..-z_{m-1}]. */
static int ref_bucket(const lsh_hasher *h, int round, int buckets, const float *x, int p)
{
    float *z = malloc((size_t)p * sizeof *z);
    lsh_hasher_rotate(h, round, x, z);
    int m = buckets / 2, best = 0;
    float bestv = -INFINITY;
    for (int i = 0; i < 2 * m; i++) {
        float val = i < m ? z[i] : -z[i - m];
        if (val > bestv) {
            bestv = val;
            best = i;
        }
    }
    free(z);
    return best;
}

typedef struct lsh_case {
    int n, heads, kv_heads, d, buckets, rounds, chunk, causal, alibi, masked;
} lsh_case;

static const lsh_case cases[] = {
    { 300, 2, 1, 64, 8, 2, 64, 0, 0, 0 },
    { 257, 4, 2, 32, 16, 3, 50, 1, 1, 1 },
    { 200, 1, 1, 80, 4, 1, 128, 0, 1, 1 },
    { 130, 2, 2, 128, 32, 4, 33, 0, 0, 0 },
};

Test(attn_lsh, matches_reference)
{
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const lsh_case *c = &cases[ci];
        int n = c->n, H = c->heads, KVH = c->kv_heads, d = c->d;
        float *q = ref_random((size_t)n * H * d, 800 + ci);
        float *k = ref_random((size_t)n * KVH * d, 900 + ci);
        float *v = ref_random((size_t)n * KVH * d, 1000 + ci);
        uint8_t *mask = NULL;
        if (c->masked) {
            mask = malloc((size_t)n);
            for (int j = 0; j < n; j++)
                mask[j] = j % 4 != 0;
        }
        attn_config cfg;
        attn_config_init(&cfg, H, d);
        cfg.kind = ATTN_LSH;
        cfg.kv_heads = KVH;
        cfg.lsh_buckets = c->buckets;
        cfg.lsh_rounds = c->rounds;
        cfg.lsh_chunk = c->chunk;
        cfg.lsh_seed = 42 + ci;
        cfg.causal = c->causal;
        cfg.alibi = c->alibi;
        cr_assert_null(attn_config_check(&cfg, n));
        float *out = malloc((size_t)n * H * d * sizeof *out);
        for (size_t i = 0; i < (size_t)n * H * d; i++)
            out[i] = NAN;
        cr_assert_eq(attn_forward(&cfg, q, k, v, mask, n, out), 0);

        /* reference, one head at a time (buckets differ per head) */
        lsh_hasher *hs = attn_lsh_hasher(&cfg, NULL, 0);
        cr_assert_not_null(hs);
        int p = lsh_hasher_padded_dim(hs);
        int *qb = malloc((size_t)c->rounds * n * sizeof *qb), *kb = malloc((size_t)c->rounds * n * sizeof *kb);
        uint8_t *vis = malloc((size_t)n * n);
        float *qh = malloc((size_t)n * d * sizeof *qh), *kh = malloc((size_t)n * d * sizeof *kh),
              *vh = malloc((size_t)n * d * sizeof *vh), *oh = malloc((size_t)n * d * sizeof *oh);
        double *all_slopes = ref_slopes(H);
        float err = 0.0f;
        long visible_pairs = 0;
        for (int h = 0; h < H; h++) {
            int hk = h / (H / KVH);
            for (int i = 0; i < n; i++) {
                memcpy(qh + (size_t)i * d, q + (size_t)i * H * d + h * d, (size_t)d * sizeof(float));
                memcpy(kh + (size_t)i * d, k + (size_t)i * KVH * d + hk * d, (size_t)d * sizeof(float));
                memcpy(vh + (size_t)i * d, v + (size_t)i * KVH * d + hk * d, (size_t)d * sizeof(float));
            }
            for (int r = 0; r < c->rounds; r++)
                for (int i = 0; i < n; i++) {
                    qb[r * n + i] = ref_bucket(hs, r, c->buckets, qh + (size_t)i * d, p);
                    kb[r * n + i] = ref_bucket(hs, r, c->buckets, kh + (size_t)i * d, p);
                }
            for (int i = 0; i < n; i++)
                for (int j = 0; j < n; j++) {
                    int share = 0;
                    for (int r = 0; r < c->rounds; r++)
                        share |= qb[r * n + i] == kb[r * n + j];
                    vis[(size_t)i * n + j] = share && (!mask || mask[j]) && (!c->causal || j <= i);
                    visible_pairs += vis[(size_t)i * n + j];
                }
            double slope = all_slopes[h];
            ref_attention(n, 1, 1, d, 1.0 / sqrt((double)d), qh, kh, vh, vis,
                          c->alibi ? &slope : NULL, oh);
            for (int i = 0; i < n; i++) {
                float e = ref_max_abs_diff(out + (size_t)i * H * d + h * d, oh + (size_t)i * d, (size_t)d);
                err = e > err ? e : err;
            }
        }
        cr_expect_leq(err, TOL, "case %zu: err %g", ci, err);
        /* bucketing must actually prune, and must not prune everything */
        long all_pairs = (long)H * n * n;
        cr_expect_lt(visible_pairs, all_pairs * 3 / 4, "case %zu: %ld of %ld", ci, visible_pairs, all_pairs);
        cr_expect_gt(visible_pairs, (long)H * n, "case %zu", ci);
        lsh_hasher_free(hs);
        free(qb); free(kb); free(vis); free(qh); free(kh); free(vh); free(oh); free(all_slopes);
        free(q); free(k); free(v); free(mask); free(out);
    }
}

/* Workspace is linear in n (codes, sort orders, per-row state), not n^2. */
Test(attn_lsh, workspace_is_linear)
{
    attn_config cfg;
    attn_config_init(&cfg, 8, 64);
    cfg.kind = ATTN_LSH;
    size_t a = attn_workspace_bytes(&cfg, 1 << 14), b = attn_workspace_bytes(&cfg, 1 << 16);
    cr_assert_gt(a, 0);
    cr_assert_lt(b, a * 5);              /* 4x the tokens, < 5x the memory */
    cr_assert_lt(b, (size_t)100 << 20);  /* far from 65536^2 floats */
}

Test(attn_lsh, bad_configs_are_refused)
{
    attn_config cfg;
    attn_config_init(&cfg, 1, 16);
    cfg.kind = ATTN_LSH;
    cfg.lsh_buckets = 7;
    cr_assert_not_null(attn_config_check(&cfg, 10));
    cfg.lsh_buckets = 64;   /* 32 > padded dim 16 */
    cr_assert_not_null(attn_config_check(&cfg, 10));
    cfg.lsh_buckets = 32;
    cr_assert_null(attn_config_check(&cfg, 10));
}
