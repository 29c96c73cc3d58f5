/*
 * attn_dense.c — dense attention, tiled, with online softmax.
 *
 * Every query attends to every (visible) key, but the work is cut into
 * tiles of ATTN_TILE_Q query rows x ATTN_TILE_K keys and folded with the
 * online-softmax step of attn_tile.c, so working memory is one score tile
 * plus two floats per query row of a tile: O(tile^2), independent of n. The
 * output rows of the current query block double as the running accumulator,
 * so no separate O buffer is needed either.
 *
 * Heads are independent: query head h reads K/V head h / (heads / kv_heads),
 * which covers multi-head (kv_heads = heads), grouped-query and multi-query
 * (kv_heads = 1) attention with the same loop. Heads are addressed in place
 * through the row stride (heads * d for Q and O, kv_heads * d for K and V),
 * never copied.
 *
 * Causal attention skips key blocks that lie wholly after the query block:
 * about half the tiles, hence half the FLOPs.
 */
#include "attention/attention.h"

static int min_int(int a, int b) { return a < b ? a : b; }

/* One query block of one head over all key blocks it can see. */
static void dense_block(const attn_head *h, attn_scratch *sc, const attn_rows *rows,
                        const float *k, const float *v, int ldkv, int n)
{
    attn_rows_begin(rows, h->d);
    /* with a causal mask no key after the block's last row is visible */
    int kend = h->causal ? min_int(n, rows->first + rows->n) : n;
    for (int k0 = 0; k0 < kend; k0 += sc->tile_k) {
        attn_keys keys = {
            .k = k + (size_t)k0 * ldkv, .v = v + (size_t)k0 * ldkv, .ld = ldkv,
            .n = min_int(sc->tile_k, kend - k0), .first = k0, .pos = NULL,
        };
        attn_tile_step(h, sc, rows, &keys);
    }
    attn_rows_end(rows, h->d);
}

int attn_dense_run(const attn_config *cfg, const float *q, const float *k, const float *v,
                   const uint8_t *key_mask, int n, float *out, attn_arena *a)
{
    int tq = min_int(ATTN_TILE_Q, n), tk = min_int(ATTN_TILE_K, n);
    attn_scratch sc;
    attn_scratch_take(a, &sc, tq, tk);
    float *m = attn_arena_floats(a, (size_t)tq);
    float *l = attn_arena_floats(a, (size_t)tq);
    if (!a->base)
        return 0; /* sizing only */

    int H = cfg->heads, d = cfg->head_dim, group = cfg->heads / cfg->kv_heads;
    int ldq = H * d, ldkv = cfg->kv_heads * d;
    for (int hq = 0; hq < H; hq++) {
        int hk = hq / group;
        attn_head head;
        attn_head_init(&head, cfg, hq, key_mask);
        const float *kh = k + (size_t)hk * d, *vh = v + (size_t)hk * d;
        for (int q0 = 0; q0 < n; q0 += tq) {
            attn_rows rows = {
                .q = q + (size_t)q0 * ldq + (size_t)hq * d, .ldq = ldq,
                .o = out + (size_t)q0 * ldq + (size_t)hq * d, .ldo = ldq,
                .m = m, .l = l, .n = min_int(tq, n - q0), .first = q0, .pos = NULL,
            };
            dense_block(&head, &sc, &rows, kh, vh, ldkv, n);
        }
    }
    return 0;
}
