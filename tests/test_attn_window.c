/*
 * test_attn_window.c — sliding window + global tokens against the reference
 * with the visibility rule written out pair by pair, and the w >= n case
 * against the dense kernel (must be identical).
 */
#include <criterion/criterion.h>

#include "attention/attention.h"
#include "test_attn_ref.h"

#define TOL 1e-5f

typedef struct window_case {
    int n, heads, kv_heads, d, window;
    int causal, alibi, masked;
    int n_globals;
} window_case;

/* Globals spread over the sequence, always including the first token (the
 * usual [CLS]) and the last. */
static int make_globals(int n, int count, int *g)
{
    int used = 0;
    for (int i = 0; i < count; i++) {
        int pos = count == 1 ? 0 : (int)((long)i * (n - 1) / (count - 1));
        if (used == 0 || pos > g[used - 1])
            g[used++] = pos;
    }
    return used;
}

static float run_window(const window_case *c, uint64_t seed)
{
    int n = c->n, H = c->heads, KVH = c->kv_heads, d = c->d, w = c->window;
    float *q = ref_random((size_t)n * H * d, seed);
    float *k = ref_random((size_t)n * KVH * d, seed + 1);
    float *v = ref_random((size_t)n * KVH * d, seed + 2);
    int globals[64];
    int G = make_globals(n, c->n_globals, globals);
    uint8_t *mask = NULL;
    if (c->masked) {
        mask = malloc((size_t)n);
        for (int j = 0; j < n; j++)
            mask[j] = j % 7 != 3;
        mask[globals[G > 1 ? 1 : 0]] = 0; /* a hidden global key */
    }
    attn_config cfg;
    attn_config_init(&cfg, H, d);
    cfg.kind = ATTN_WINDOW;
    cfg.kv_heads = KVH;
    cfg.window = w;
    cfg.globals = globals;
    cfg.n_globals = G;
    cfg.causal = c->causal;
    cfg.alibi = c->alibi;
    float *out = malloc((size_t)n * H * d * sizeof *out);
    float *ref = malloc((size_t)n * H * d * sizeof *ref);
    for (size_t i = 0; i < (size_t)n * H * d; i++)
        out[i] = NAN;
    cr_assert_eq(attn_forward(&cfg, q, k, v, mask, n, out), 0, "%s", attn_config_check(&cfg, n));

    uint8_t *is_global = calloc((size_t)n, 1);
    for (int g = 0; g < G; g++)
        is_global[globals[g]] = 1;
    uint8_t *vis = malloc((size_t)n * n);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            int near = abs(i - j) <= w;
            vis[(size_t)i * n + j] = (!mask || mask[j]) && (!c->causal || j <= i) &&
                                     (near || is_global[i] || is_global[j]);
        }
    double *slopes = c->alibi ? ref_slopes(H) : NULL;
    ref_attention(n, H, KVH, d, 1.0 / sqrt((double)d), q, k, v, vis, slopes, ref);
    float err = ref_max_abs_diff(out, ref, (size_t)n * H * d);
    free(q); free(k); free(v); free(mask); free(out); free(ref);
    free(vis); free(slopes); free(is_global);
    return err;
}

static const window_case cases[] = {
    { 300, 4, 2, 64, 5, 0, 0, 0, 4 },
    { 300, 2, 2, 32, 40, 1, 1, 1, 5 },
    { 700, 1, 1, 80, 130, 0, 1, 1, 3 },   /* band wider than a query tile */
    { 513, 8, 1, 32, 0, 0, 0, 0, 2 },     /* w = 0: self + globals */
    { 260, 3, 3, 128, 300, 0, 0, 1, 2 },  /* w >= n */
    { 129, 2, 1, 64, 16, 1, 0, 0, 0 },    /* no globals */
    { 5, 1, 1, 32, 1, 0, 0, 0, 1 },
};

Test(attn_window, matches_reference)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        float err = run_window(&cases[i], 300 + i);
        cr_expect_leq(err, TOL, "case %zu (n=%d w=%d G=%d causal=%d alibi=%d mask=%d): err %g",
                      i, cases[i].n, cases[i].window, cases[i].n_globals, cases[i].causal,
                      cases[i].alibi, cases[i].masked, err);
    }
}

/* With w >= n every token sees every token: the window kernel must equal
 * the dense kernel bit for bit, globals or not. */
Test(attn_window, wide_window_equals_dense_exactly)
{
    int n = 300, H = 4, d = 64;
    float *q = ref_random((size_t)n * H * d, 11), *k = ref_random((size_t)n * H * d, 12),
          *v = ref_random((size_t)n * H * d, 13);
    float *a = malloc((size_t)n * H * d * sizeof *a), *b = malloc((size_t)n * H * d * sizeof *b);
    uint8_t mask[300];
    for (int j = 0; j < n; j++)
        mask[j] = j % 11 != 0;
    int globals[3] = { 0, 100, 299 };
    for (int variant = 0; variant < 4; variant++) {
        attn_config cfg;
        attn_config_init(&cfg, H, d);
        cfg.alibi = variant & 1;
        cfg.causal = (variant >> 1) & 1;
        cr_assert_eq(attn_forward(&cfg, q, k, v, mask, n, a), 0);
        cfg.kind = ATTN_WINDOW;
        cfg.window = n;
        cfg.globals = globals;
        cfg.n_globals = variant == 0 ? 0 : 3;
        cr_assert_eq(attn_forward(&cfg, q, k, v, mask, n, b), 0);
        int same = memcmp(a, b, (size_t)n * H * d * sizeof *a) == 0;
        cr_expect(same, "variant %d differs, max %g", variant,
                  ref_max_abs_diff(a, b, (size_t)n * H * d));
    }
    free(q); free(k); free(v); free(a); free(b);
}

Test(attn_window, bad_globals_are_refused)
{
    attn_config cfg;
    attn_config_init(&cfg, 1, 8);
    cfg.kind = ATTN_WINDOW;
    cfg.window = 2;
    int bad_order[2] = { 5, 3 }, out_of_range[1] = { 10 };
    cfg.globals = bad_order;
    cfg.n_globals = 2;
    cr_assert_not_null(attn_config_check(&cfg, 10));
    cfg.globals = out_of_range;
    cfg.n_globals = 1;
    cr_assert_not_null(attn_config_check(&cfg, 10));
    cr_assert_null(attn_config_check(&cfg, 11));
    cfg.window = -1;
    cr_assert_not_null(attn_config_check(&cfg, 11));
}

/* Working memory grows with the number of globals, never with n. */
Test(attn_window, workspace_is_independent_of_n)
{
    int globals[16];
    for (int g = 0; g < 16; g++)
        globals[g] = g * 3;
    attn_config cfg;
    attn_config_init(&cfg, 8, 64);
    cfg.kind = ATTN_WINDOW;
    cfg.window = 256;
    cfg.globals = globals;
    cfg.n_globals = 16;
    size_t a = attn_workspace_bytes(&cfg, 4096), b = attn_workspace_bytes(&cfg, 1 << 20);
    cr_assert_gt(a, (size_t)4 * 16 * 64 * sizeof(float));
    cr_assert_eq(a, b);
}
