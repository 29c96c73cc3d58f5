/*
 * attn_internal.h — what the attention kernels (attn_*.c) share and nobody
 * else needs: the tiled online-softmax step, the workspace arena, ALiBi
 * slopes and config checks.
 *
 * The one idea every fast kernel here is built on is the tile step
 * (attn_tile.c): given a block of query rows with their running softmax state
 * (max m, normaliser l, unnormalised output O) and a block of keys/values, it
 * folds the keys into the state with two sgemm calls and a rescale, so that
 * the full n x n score matrix never exists. Dense attention walks every key
 * block, the sliding window walks the band plus a gathered block of global
 * keys, Infini-attention walks its segment, LSH walks the keys of matching
 * buckets. Masking rules differ between kernels, so the step takes a small
 * description of which (query, key) pairs are visible.
 */
#ifndef LCTX_ATTN_INTERNAL_H
#define LCTX_ATTN_INTERNAL_H

#include "attention/attention.h"

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Tile sizes. 256 query rows x 256 keys: the score tile is 256 KiB, the
 * query block (d = 64) 64 KiB, a key block and a value block 64 KiB each,
 * together under 512 KiB, inside a 1 MiB (AMD Zen) or 2 MiB (Intel) L2, and
 * big enough that OpenBLAS's fixed costs per call (packing the key block,
 * the edges of the micro-kernel grid) are spread over many rows. Measured
 * against 64/128 rows and 128/512 keys: see docs/attention.md. The sliding
 * window uses half-height query blocks, because a block of tq rows must
 * touch tq + 2w keys to cover 2w + 1 useful ones. */
#ifndef ATTN_TILE_Q
#define ATTN_TILE_Q 256
#endif
#ifndef ATTN_TILE_K
#define ATTN_TILE_K 256
#endif
#ifndef ATTN_WINDOW_TILE_Q
#define ATTN_WINDOW_TILE_Q 128
#endif

/* ------------------------------------------------------------ arena
 * Every kernel takes its working memory from one allocation. It describes
 * its pieces twice with the same code: once against a counting arena (base
 * NULL) to learn the size, which attn_workspace_bytes reports, and once
 * against the real block. So the reported figure is what is allocated. */
typedef struct attn_arena {
    char *base;     /* NULL while counting */
    size_t used;    /* bytes handed out so far, 64-byte granules */
} attn_arena;

/* n floats from the arena (NULL while counting). */
float *attn_arena_floats(attn_arena *a, size_t n);
int *attn_arena_ints(attn_arena *a, size_t n);

/* ------------------------------------------------------------ tile step */

/* Which (query i, key j) pairs a step may use, per head. */
typedef struct attn_head {
    int d;
    float scale;            /* applied to q.k */
    float slope;            /* ALiBi: score -= slope * |i - j|; 0 = off */
    int causal;             /* hide j > i */
    const uint8_t *key_mask;/* by key position; 0 = hidden; NULL = all visible */
    int band;               /* >= 0: hide |i - j| > band */
    int outside_band;       /* >= 0: hide |i - j| <= outside_band (global keys
                               already covered by the band pass) */
    /* LSH rule (qcode NULL = none): the caller pairs only queries and keys
     * of the same bucket in round code_round; the step hides pairs that
     * already shared a bucket in an earlier round (qcode[r n + i] ==
     * kcode[r n + j], r < code_round), so a key matching in several rounds
     * is counted once. n = code_n. */
    const int *qcode, *kcode;
    int code_n, code_round;
} attn_head;

/* A block of query rows and its running state. Row r sits at position
 * pos ? pos[r] : first + r in the sequence. */
typedef struct attn_rows {
    const float *q; int ldq;
    float *o; int ldo;      /* running unnormalised output, then the result */
    float *m, *l;           /* running max and normaliser, one per row */
    int n, first;
    const int *pos;
} attn_rows;

/* A block of keys and values (same row stride). */
typedef struct attn_keys {
    const float *k, *v; int ld;
    int n, first;
    const int *pos;
} attn_keys;

/* Scratch for one step: scores of up to tile_q x tile_k, one row of
 * key-mask bias (0 or -inf per key) and the keys' positions. */
typedef struct attn_scratch {
    float *s;
    float *kb;
    int *kp;
    int tile_q, tile_k;
} attn_scratch;

void attn_scratch_take(attn_arena *a, attn_scratch *sc, int tile_q, int tile_k);

/* m = -inf, l = 0, O = 0 for the rows. */
void attn_rows_begin(const attn_rows *rows, int d);
/* Folds keys into rows. keys->n <= sc->tile_k and rows->n <= sc->tile_q. */
void attn_tile_step(const attn_head *h, attn_scratch *sc, const attn_rows *rows,
                    const attn_keys *keys);
/* O /= l; rows that saw no visible key become zeros. */
void attn_rows_end(const attn_rows *rows, int d);

/*
 * e^x, vectorisable (a static inline so loops that call it vectorise), for
 * the attention rows and the activations in tensor.c.
 *
 * e^t = 2^k * e^r with k = round(t / ln 2) and r = t - k ln 2 in
 * [-ln2/2, ln2/2]. e^r is a degree-6 polynomial (the classic Cephes expf
 * coefficients, relative error about 1 ulp on that interval) evaluated by
 * Horner's rule with fused multiply-adds (fmaf is one instruction with
 * -march=native); 2^k is built by writing k + 127 into the exponent bits.
 * ln 2 is split into a high part with few mantissa bits and a small
 * correction so k ln 2 is subtracted without rounding error. k is rounded
 * by adding and subtracting 1.5 * 2^23 (the FPU rounds to nearest; floorf
 * would do, but GCC will not vectorise it without -ffast-math).
 *
 * t is clamped to [-87.3, 88.3] to keep k + 127 a valid exponent (plain
 * selects: single min/max instructions), and t below -87.3, including -inf
 * from masking, gives exactly 0.
 */
static inline float attn_expf(float t0)
{
    const float log2e = 1.44269504088896341f;
    const float ln2_hi = 0.693359375f;
    const float ln2_lo = -2.12194440e-4f;
    const float round_magic = 12582912.0f; /* 1.5 * 2^23 */
    float t = t0 > -87.3f ? t0 : -87.3f;
    t = t < 88.3f ? t : 88.3f;
    float kf = fmaf(t, log2e, round_magic) - round_magic;
    float r = fmaf(-kf, ln2_hi, t);
    r = fmaf(-kf, ln2_lo, r);
    float p = 1.9875691500e-4f;
    p = fmaf(p, r, 1.3981999507e-3f);
    p = fmaf(p, r, 8.3334519073e-3f);
    p = fmaf(p, r, 4.1665795894e-2f);
    p = fmaf(p, r, 1.6666665459e-1f);
    p = fmaf(p, r, 5.0000001201e-1f);
    p = fmaf(p, r * r, r) + 1.0f;
    int32_t bits = ((int32_t)kf + 127) << 23;   /* 2^k as float bits */
    float two_k;
    memcpy(&two_k, &bits, sizeof two_k);
    return t0 < -87.3f ? 0.0f : p * two_k;
}

/* e^x for a row, vectorisable, accurate to a few ulp; exactly 0 for
 * x = -inf (masked scores). Writes y[i] = e^(x[i] - shift), returns the sum. */
float attn_exp_shift_sum(float *x, int n, float shift);
/* Row sum and max, vectorised in fixed-order lanes. */
float attn_sum(const float *x, int n);
float attn_max(const float *x, int n);

/* ------------------------------------------------------------ helpers */

/* Standard ALiBi slope of head h of heads (Press et al.): for a power of two
 * H, 2^(-8(h+1)/H); otherwise the H' = 2^floor(log2 H) slopes followed by
 * every other slope of 2H'. */
float attn_alibi_slope(int heads, int h);

/* Fills the per-head fields shared by all kernels. */
void attn_head_init(attn_head *h, const attn_config *cfg, int head,
                    const uint8_t *key_mask);
float attn_scale(const attn_config *cfg);

/* LSH attention's hashing (attn_lsh.c), exposed so tests can rebuild the
 * buckets: the hasher attn_forward uses for cfg (one rotation per round,
 * from lsh_hash.c), and the bucket of x in a round (work: padded-dim floats). */
lsh_hasher *attn_lsh_hasher(const attn_config *cfg, char *err, size_t errlen);
int attn_lsh_bucket(const lsh_hasher *h, int round, int buckets, const float *x, float *work);

/* Kernels. Each lays out its workspace in *a; when a->base is NULL it only
 * counts and returns 0 without touching the data. */
int attn_dense_run(const attn_config *cfg, const float *q, const float *k, const float *v,
                   const uint8_t *key_mask, int n, float *out, attn_arena *a);
int attn_naive_run(const attn_config *cfg, const float *q, const float *k, const float *v,
                   const uint8_t *key_mask, int n, float *out, attn_arena *a);
int attn_window_run(const attn_config *cfg, const float *q, const float *k, const float *v,
                    const uint8_t *key_mask, int n, float *out, attn_arena *a);
int attn_infini_run(const attn_config *cfg, const float *q, const float *k, const float *v,
                    const uint8_t *key_mask, int n, float *out, attn_arena *a);
int attn_lsh_run(const attn_config *cfg, const float *q, const float *k, const float *v,
                 const uint8_t *key_mask, int n, float *out, attn_arena *a);

#endif /* LCTX_ATTN_INTERNAL_H */
