/*
 * attn_lsh.c — LSH-bucketed attention (Reformer style) for very long inputs.
 *
 * Softmax attention is dominated by the few keys with the largest q.k. If
 * queries and keys are hashed so that vectors pointing the same way tend to
 * share a bucket, each query can attend only to the keys of its own bucket
 * and lose little. With B buckets of about n/B tokens the cost falls from
 * n^2 d to about n^2 d / B per round.
 *
 * Hashing is angular (cross-polytope) LSH on the rotations of lsh_hash.c,
 * the same sign-of-random-rotation machinery the vector index uses: rotate
 * x, take the first B/2 coordinates z, bucket = argmax over [z; -z]. Round r
 * uses rotation r. Queries and keys are hashed with the same rotations.
 *
 * What is computed, exactly: query i attends (softmax, with the usual mask,
 * causal rule and ALiBi) to the keys j that share its bucket in at least one
 * round. A key matching in several rounds is counted once: in round r the
 * pair is skipped if it already matched in an earlier round. All rounds feed
 * one online-softmax state per query, so the result is exact attention over
 * that union, and the tests can check it against a reference with the same
 * visibility pattern.
 *
 * How: per round, queries and keys are each sorted by bucket (counting sort,
 * stable, so positions stay ascending within a bucket). Each bucket's
 * queries are cut into chunks of at most lsh_chunk rows; a chunk meets
 * exactly its bucket's run of sorted keys, gathered block by block and
 * folded in with the shared tile step, which applies the remaining rule
 * (not already matched in an earlier round; attn_head.qcode/kcode). A chunk
 * never straddles two buckets, so no work is spent on pairs that cannot
 * match. Running max/normaliser live per position (2n floats)
 * and the unnormalised output in `out` itself, gathered and scattered around
 * each chunk.
 *
 * Memory: O(n) ints for codes and sort orders, 2n floats of state, and
 * tiles: O(n + tile^2), no n^2. A degenerate input (everything in one
 * bucket) costs n^2 d time but still no n^2 memory.
 */
#include "attention/attention.h"

#include <string.h>

static int min_int(int a, int b) { return a < b ? a : b; }

static int padded_dim(int d)
{
    int p = 1;
    while (p < d)
        p *= 2;
    return p;
}

/* One rotation per round: with 1 bit per table, table t reads coordinate t,
 * so rounds * p tables use exactly `rounds` rotations. lsh_hash.c caps
 * tables at 4096; above that, 32 bits per table give the same rotations. */
lsh_hasher *attn_lsh_hasher(const attn_config *cfg, char *err, size_t errlen)
{
    int p = padded_dim(cfg->head_dim);
    long coords = (long)cfg->lsh_rounds * p;
    int k_bits = coords <= 4096 ? 1 : 32;
    int tables = (int)((coords + k_bits - 1) / k_bits);
    lsh_hasher *h = lsh_hasher_new(cfg->head_dim, k_bits, tables, cfg->lsh_seed, err, errlen);
    if (h && lsh_hasher_rotations(h) < cfg->lsh_rounds) {
        lsh_hasher_free(h);
        return NULL;
    }
    return h;
}

/* Bucket of x in round r: argmax over [z; -z] of the first buckets/2
 * coordinates of rotation r. work: p floats. */
int attn_lsh_bucket(const lsh_hasher *h, int round, int buckets, const float *x, float *work)
{
    lsh_hasher_rotate(h, round, x, work);
    return lsh_argmax_signed(work, buckets / 2);
}

/* idx = positions 0..n-1 stably sorted by code; start[b] = first index of
 * bucket b (start has buckets + 1 entries). */
static void sort_by_bucket(const int *code, int n, int buckets, int *idx, int *start)
{
    memset(start, 0, (size_t)(buckets + 1) * sizeof(int));
    for (int i = 0; i < n; i++)
        start[code[i] + 1]++;
    for (int b = 0; b < buckets; b++)
        start[b + 1] += start[b];
    /* fill using idx as output and a running cursor per bucket: reuse
     * start, then shift it back */
    for (int i = 0; i < n; i++)
        idx[start[code[i]]++] = i;
    for (int b = buckets; b > 0; b--)
        start[b] = start[b - 1];
    start[0] = 0;
}

typedef struct lsh_ws {
    attn_scratch sc;
    float *work;            /* p: one rotation */
    int *qc, *kc;           /* rounds * n */
    int *qidx, *kidx, *qstart, *kstart;
    float *m, *l;           /* n: per-position softmax state */
    float *qg, *og, *kg, *vg;
    float *mg, *lg;
    int *kpos;
} lsh_ws;

static void gather(float *dst, const float *src, int ld, const int *pos, int count, int d)
{
    for (int r = 0; r < count; r++)
        memcpy(dst + (size_t)r * d, src + (size_t)pos[r] * ld, (size_t)d * sizeof(float));
}

static void scatter(float *dst, int ld, const float *src, const int *pos, int count, int d)
{
    for (int r = 0; r < count; r++)
        memcpy(dst + (size_t)pos[r] * ld, src + (size_t)r * d, (size_t)d * sizeof(float));
}

/* One chunk of sorted queries (all in one bucket) against the sorted keys
 * [k0, k1) of that bucket. */
static void lsh_chunk(attn_head *head, lsh_ws *ws, const float *qh, int ldq, float *oh,
                      const float *kh, const float *vh, int ldkv,
                      const int *rowsel, int nrows, int k0, int k1)
{
    int d = head->d;
    gather(ws->qg, qh, ldq, rowsel, nrows, d);
    gather(ws->og, oh, ldq, rowsel, nrows, d);
    for (int r = 0; r < nrows; r++) {
        ws->mg[r] = ws->m[rowsel[r]];
        ws->lg[r] = ws->l[rowsel[r]];
    }
    attn_rows rows = {
        .q = ws->qg, .ldq = d, .o = ws->og, .ldo = d, .m = ws->mg, .l = ws->lg,
        .n = nrows, .first = 0, .pos = rowsel,
    };
    for (int b0 = k0; b0 < k1; b0 += ws->sc.tile_k) {
        int nk = min_int(ws->sc.tile_k, k1 - b0);
        memcpy(ws->kpos, ws->kidx + b0, (size_t)nk * sizeof(int));
        gather(ws->kg, kh, ldkv, ws->kpos, nk, d);
        gather(ws->vg, vh, ldkv, ws->kpos, nk, d);
        attn_keys keys = { .k = ws->kg, .v = ws->vg, .ld = d, .n = nk, .first = 0,
                           .pos = ws->kpos };
        attn_tile_step(head, &ws->sc, &rows, &keys);
    }
    scatter(oh, ldq, ws->og, rowsel, nrows, d);
    for (int r = 0; r < nrows; r++) {
        ws->m[rowsel[r]] = ws->mg[r];
        ws->l[rowsel[r]] = ws->lg[r];
    }
}

static void hash_rows(const lsh_hasher *hs, const attn_config *cfg, const float *x, int ld,
                      int n, int *codes, float *work)
{
    for (int r = 0; r < cfg->lsh_rounds; r++)
        for (int i = 0; i < n; i++)
            codes[(size_t)r * n + i] =
                attn_lsh_bucket(hs, r, cfg->lsh_buckets, x + (size_t)i * ld, work);
}

int attn_lsh_run(const attn_config *cfg, const float *q, const float *k, const float *v,
                 const uint8_t *key_mask, int n, float *out, attn_arena *a)
{
    int d = cfg->head_dim, p = padded_dim(d), R = cfg->lsh_rounds, B = cfg->lsh_buckets;
    int tq = min_int(min_int(cfg->lsh_chunk, ATTN_TILE_Q), n), tk = min_int(ATTN_TILE_K, n);
    lsh_ws ws;
    attn_scratch_take(a, &ws.sc, tq, tk);
    ws.work = attn_arena_floats(a, (size_t)p);
    ws.qc = attn_arena_ints(a, (size_t)R * n);
    ws.kc = attn_arena_ints(a, (size_t)R * n);
    ws.qidx = attn_arena_ints(a, (size_t)n);
    ws.kidx = attn_arena_ints(a, (size_t)n);
    ws.qstart = attn_arena_ints(a, (size_t)B + 1);
    ws.kstart = attn_arena_ints(a, (size_t)B + 1);
    ws.m = attn_arena_floats(a, (size_t)n);
    ws.l = attn_arena_floats(a, (size_t)n);
    ws.qg = attn_arena_floats(a, (size_t)tq * d);
    ws.og = attn_arena_floats(a, (size_t)tq * d);
    ws.kg = attn_arena_floats(a, (size_t)tk * d);
    ws.vg = attn_arena_floats(a, (size_t)tk * d);
    ws.mg = attn_arena_floats(a, (size_t)tq);
    ws.lg = attn_arena_floats(a, (size_t)tq);
    ws.kpos = attn_arena_ints(a, (size_t)tk);
    if (!a->base)
        return 0; /* sizing only; the hasher (lsh_hash.c, 3 R p floats of
                     sign diagonals) is allocated there and not counted */

    lsh_hasher *hs = attn_lsh_hasher(cfg, NULL, 0);
    if (!hs)
        return -1;
    int H = cfg->heads, group = cfg->heads / cfg->kv_heads;
    int ldq = H * d, ldkv = cfg->kv_heads * d;
    for (int hq = 0; hq < H; hq++) {
        int hk = hq / group;
        const float *qh = q + (size_t)hq * d, *kh = k + (size_t)hk * d, *vh = v + (size_t)hk * d;
        float *oh = out + (size_t)hq * d;
        attn_head head;
        attn_head_init(&head, cfg, hq, key_mask);
        head.qcode = ws.qc;
        head.kcode = ws.kc;
        head.code_n = n;
        hash_rows(hs, cfg, qh, ldq, n, ws.qc, ws.work);
        if (hq % group == 0)
            hash_rows(hs, cfg, kh, ldkv, n, ws.kc, ws.work);
        attn_rows all = { .q = qh, .ldq = ldq, .o = oh, .ldo = ldq, .m = ws.m, .l = ws.l,
                          .n = n, .first = 0, .pos = NULL };
        attn_rows_begin(&all, d);
        for (int r = 0; r < R; r++) {
            head.code_round = r;
            sort_by_bucket(ws.qc + (size_t)r * n, n, B, ws.qidx, ws.qstart);
            sort_by_bucket(ws.kc + (size_t)r * n, n, B, ws.kidx, ws.kstart);
            for (int b = 0; b < B; b++) {
                int q0 = ws.qstart[b], q1 = ws.qstart[b + 1];
                int k0 = ws.kstart[b], k1 = ws.kstart[b + 1];
                if (q0 == q1 || k0 == k1)
                    continue;
                for (int c0 = q0; c0 < q1; c0 += tq)
                    lsh_chunk(&head, &ws, qh, ldq, oh, kh, vh, ldkv, ws.qidx + c0,
                              min_int(tq, q1 - c0), k0, k1);
            }
        }
        attn_rows_end(&all, d);
    }
    lsh_hasher_free(hs);
    return 0;
}
