/*
 * attn_window.c — sliding-window attention with global tokens
 * (Longformer / BigBird style).
 *
 * Query i sees key j when |i - j| <= w (the band), or when j is a global
 * token; a global query sees every key. Both are subject to the key mask and
 * the causal rule. Cost is O(n (2w + g) d) instead of O(n^2 d), which is
 * what lets passages far longer than the model's window be encoded without
 * truncation.
 *
 * It reuses the dense kernel's tile step unchanged; only the walk differs:
 *
 *   1. band: a query block [q0, q0 + tq) can only see keys in
 *      [q0 - w, q0 + tq + w), so it walks just those key blocks with the
 *      step told to hide pairs with |i - j| > w (the corners of the band
 *      parallelogram that fall inside the rectangle of blocks);
 *   2. global keys: gathered once per head into a small contiguous K/V block
 *      (g x d) and folded into the same running state, this time hiding the
 *      pairs with |i - j| <= w, which the band already counted;
 *   3. global queries: their rows are gathered and run as ordinary dense
 *      attention over all keys, then scattered over whatever the band pass
 *      wrote for them. That is O(g n d), the price of g global tokens.
 *
 * With w >= n - 1 the band is every key, the global passes are skipped and
 * the query blocks take the dense kernel's height, so the result is dense
 * attention computed by the same steps in the same order: equal, not just
 * close (the tests check this).
 *
 * Workspace: the score tile, the per-row state, and 4 g d floats for the
 * gathered global keys, values, queries and their outputs. Nothing grows
 * with n except through g.
 */
#include "attention/attention.h"

#include <string.h>

static int min_int(int a, int b) { return a < b ? a : b; }
static int max_int(int a, int b) { return a > b ? a : b; }

typedef struct window_ws {
    attn_scratch sc;
    float *m, *l;
    float *kg, *vg;   /* gathered global keys / values, g x d */
    float *qg, *og;   /* gathered global queries / their outputs, g x d */
} window_ws;

static void gather_rows(float *dst, const float *src, int ld, const int *pos, int count, int d)
{
    for (int r = 0; r < count; r++)
        memcpy(dst + (size_t)r * d, src + (size_t)pos[r] * ld, (size_t)d * sizeof(float));
}

/* Passes 1 and 2 for one block of query rows of one head. */
static void band_block(attn_head head, window_ws *ws, const attn_rows *rows,
                       const float *kh, const float *vh, int ldkv, int n,
                       const attn_config *cfg)
{
    int w = cfg->window, d = head.d;
    int first = rows->first, last = rows->first + rows->n - 1;
    attn_rows_begin(rows, d);

    int kstart = max_int(0, first - w);
    int kend = last >= n - 1 - w ? n : last + w + 1;       /* avoids int overflow for huge w */
    if (head.causal)
        kend = min_int(kend, last + 1);
    head.band = w;
    /* Cut the band's keys where the block's visibility changes: keys in
     * [last - w, first + w] are seen by every row of the block, so tiles
     * there need no per-pair masking; only the two edges (tq - 1 keys each)
     * do. The cuts only decide tile boundaries, not correctness. */
    long lo = (long)last - w, hi = (long)first + w + 1;
    int cut[4] = { kstart, 0, 0, kend };
    cut[1] = (int)(lo < kstart ? kstart : lo > kend ? kend : lo);
    cut[2] = (int)(hi < kstart ? kstart : hi > kend ? kend : hi);
    if (cut[1] > cut[2]) {
        int t = cut[1];
        cut[1] = cut[2];
        cut[2] = t;
    }
    for (int seg = 0; seg < 3; seg++) {
        for (int k0 = cut[seg]; k0 < cut[seg + 1]; k0 += ws->sc.tile_k) {
            attn_keys keys = {
                .k = kh + (size_t)k0 * ldkv, .v = vh + (size_t)k0 * ldkv, .ld = ldkv,
                .n = min_int(ws->sc.tile_k, cut[seg + 1] - k0), .first = k0, .pos = NULL,
            };
            attn_tile_step(&head, &ws->sc, rows, &keys);
        }
    }

    /* global keys outside this row's band; when the band spans the whole
     * sequence for every row of the block there are none */
    int band_is_all = w >= last && w >= n - 1 - first;
    if (cfg->n_globals > 0 && !band_is_all) {
        head.band = -1;
        head.outside_band = w;
        for (int g0 = 0; g0 < cfg->n_globals; g0 += ws->sc.tile_k) {
            attn_keys keys = {
                .k = ws->kg + (size_t)g0 * d, .v = ws->vg + (size_t)g0 * d, .ld = d,
                .n = min_int(ws->sc.tile_k, cfg->n_globals - g0), .first = 0,
                .pos = cfg->globals + g0,
            };
            attn_tile_step(&head, &ws->sc, rows, &keys);
        }
    }
    attn_rows_end(rows, d);
}

/* Pass 3: global query rows of one head attend to every key. */
static void global_queries(const attn_head *head, window_ws *ws, const float *qh, int ldq,
                           const float *kh, const float *vh, int ldkv, int n,
                           const attn_config *cfg, float *oh)
{
    int d = head->d, G = cfg->n_globals;
    gather_rows(ws->qg, qh, ldq, cfg->globals, G, d);
    for (int g0 = 0; g0 < G; g0 += ws->sc.tile_q) {
        attn_rows rows = {
            .q = ws->qg + (size_t)g0 * d, .ldq = d,
            .o = ws->og + (size_t)g0 * d, .ldo = d,
            .m = ws->m, .l = ws->l, .n = min_int(ws->sc.tile_q, G - g0),
            .first = 0, .pos = cfg->globals + g0,
        };
        attn_rows_begin(&rows, d);
        int kend = head->causal ? cfg->globals[g0 + rows.n - 1] + 1 : n;
        for (int k0 = 0; k0 < kend; k0 += ws->sc.tile_k) {
            attn_keys keys = {
                .k = kh + (size_t)k0 * ldkv, .v = vh + (size_t)k0 * ldkv, .ld = ldkv,
                .n = min_int(ws->sc.tile_k, kend - k0), .first = k0, .pos = NULL,
            };
            attn_tile_step(head, &ws->sc, &rows, &keys);
        }
        attn_rows_end(&rows, d);
    }
    for (int g = 0; g < G; g++)
        memcpy(oh + (size_t)cfg->globals[g] * ldq, ws->og + (size_t)g * d,
               (size_t)d * sizeof(float));
}

int attn_window_run(const attn_config *cfg, const float *q, const float *k, const float *v,
                    const uint8_t *key_mask, int n, float *out, attn_arena *a)
{
    int d = cfg->head_dim, G = cfg->n_globals;
    window_ws ws;
    /* A band covering everything is dense attention: then use the dense
     * kernel's tile height too, so the two compute the very same products
     * (OpenBLAS may round a product differently for another tile height). */
    int tq = cfg->window >= n - 1 ? ATTN_TILE_Q : ATTN_WINDOW_TILE_Q;
    attn_scratch_take(a, &ws.sc, min_int(tq, n), min_int(ATTN_TILE_K, n));
    ws.m = attn_arena_floats(a, (size_t)ws.sc.tile_q);
    ws.l = attn_arena_floats(a, (size_t)ws.sc.tile_q);
    ws.kg = attn_arena_floats(a, (size_t)G * d);
    ws.vg = attn_arena_floats(a, (size_t)G * d);
    ws.qg = attn_arena_floats(a, (size_t)G * d);
    ws.og = attn_arena_floats(a, (size_t)G * d);
    if (!a->base)
        return 0; /* sizing only */

    int H = cfg->heads, group = cfg->heads / cfg->kv_heads;
    int ldq = H * d, ldkv = cfg->kv_heads * d;
    for (int hq = 0; hq < H; hq++) {
        int hk = hq / group;
        attn_head head;
        attn_head_init(&head, cfg, hq, key_mask);
        const float *qh = q + (size_t)hq * d;
        const float *kh = k + (size_t)hk * d, *vh = v + (size_t)hk * d;
        float *oh = out + (size_t)hq * d;
        if (G > 0 && hq % group == 0) {
            gather_rows(ws.kg, kh, ldkv, cfg->globals, G, d);
            gather_rows(ws.vg, vh, ldkv, cfg->globals, G, d);
        }
        for (int q0 = 0; q0 < n; q0 += ws.sc.tile_q) {
            attn_rows rows = {
                .q = qh + (size_t)q0 * ldq, .ldq = ldq,
                .o = oh + (size_t)q0 * ldq, .ldo = ldq,
                .m = ws.m, .l = ws.l, .n = min_int(ws.sc.tile_q, n - q0),
                .first = q0, .pos = NULL,
            };
            band_block(head, &ws, &rows, kh, vh, ldkv, n, cfg);
        }
        /* with w >= n - 1 the band pass already gave every row, global or
         * not, dense attention: recomputing would only change rounding */
        if (G > 0 && cfg->window < n - 1)
            global_queries(&head, &ws, qh, ldq, kh, vh, ldkv, n, cfg, oh);
    }
    return 0;
}
