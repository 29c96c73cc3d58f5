/*
 * attn_tile.c — the online-softmax tile step shared by every fast kernel.
 *
 * Attention for one query row i is
 *
 *     o_i = sum_j softmax_j(s_ij) v_j,    s_ij = scale * q_i . k_j + bias_ij
 *
 * FlashAttention's observation is that the softmax can be computed one block
 * of keys at a time if each row carries three running quantities:
 *
 *     m_i  the largest score seen so far
 *     l_i  sum_j e^(s_ij - m_i) over the keys seen so far
 *     O_i  sum_j e^(s_ij - m_i) v_j over the keys seen so far
 *
 * When a new block raises the max to m', everything accumulated so far was
 * exponentiated relative to the old m and is brought up to date by one factor
 * alpha = e^(m - m'):   l = alpha l + sum_block e^(s - m'),
 *                       O = alpha O + P V_block,  P = e^(S - m').
 * After the last block, o_i = O_i / l_i. Memory is the tile of scores plus
 * the per-row state; the n x n matrix never exists.
 *
 * The two products per step are matrix-matrix products on tiles
 * (S = Q K^T: tq x tk x d, and O += P V: tq x d x tk), so they go to
 * cblas_sgemm and run at (close to) the machine's peak. Between them sit the
 * straight loops below: bias and masking, row max, exponentials, rescaling.
 * With d = 64 there are 4 d = 256 useful FLOPs per score and one exponential,
 * so the exponential must be cheap and vectorised, which is why this file
 * uses a vectorisable polynomial e^x (attn_expf, attention.h) instead of
 * calling libm's expf per element.
 *
 * Masked scores are set to -inf. A row whose every score so far is -inf has
 * m = -inf; it is skipped (its P row is zero) until some key becomes visible,
 * so no inf - inf = NaN ever appears, and a row that never sees a key ends
 * with l = 0 and is written as zeros.
 */
#include "attention/attention.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- arena */

static void *arena_take(attn_arena *a, size_t bytes)
{
    size_t granule = 64;
    size_t start = a->used;
    a->used += (bytes + granule - 1) / granule * granule;
    return a->base ? a->base + start : NULL;
}

float *attn_arena_floats(attn_arena *a, size_t n)
{
    return arena_take(a, n * sizeof(float));
}

int *attn_arena_ints(attn_arena *a, size_t n)
{
    return arena_take(a, n * sizeof(int));
}

void attn_scratch_take(attn_arena *a, attn_scratch *sc, int tile_q, int tile_k)
{
    sc->tile_q = tile_q;
    sc->tile_k = tile_k;
    sc->s = attn_arena_floats(a, (size_t)tile_q * tile_k);
    sc->kb = attn_arena_floats(a, (size_t)tile_k);
    sc->kp = attn_arena_ints(a, (size_t)tile_k);
}

/* ------------------------------------------------------------------- e^x */

/* y = e^(x - shift) for a row (attn_expf, attention.h), and its sum. */
float attn_exp_shift_sum(float *x, int n, float shift)
{
    for (int i = 0; i < n; i++)
        x[i] = attn_expf(x[i] - shift);
    return attn_sum(x, n);
}

/*
 * Sum and max of a row in 16 independent lanes. Without -ffast-math the
 * compiler may not reorder a float reduction, so a plain loop runs one add
 * per cycle at best; written lane-wise, the inner loop is one vector
 * operation and the order of additions is still fixed (deterministic).
 */
#define ATTN_LANES 16

float attn_sum(const float *x, int n)
{
    float lane[ATTN_LANES] = { 0 };
    int i = 0;
    for (; i + ATTN_LANES <= n; i += ATTN_LANES)
        for (int c = 0; c < ATTN_LANES; c++)
            lane[c] += x[i + c];
    float sum = 0.0f;
    for (; i < n; i++)
        sum += x[i];
    for (int c = 0; c < ATTN_LANES; c++)
        sum += lane[c];
    return sum;
}

float attn_max(const float *x, int n)
{
    float lane[ATTN_LANES];
    for (int c = 0; c < ATTN_LANES; c++)
        lane[c] = -INFINITY;
    int i = 0;
    for (; i + ATTN_LANES <= n; i += ATTN_LANES)
        for (int c = 0; c < ATTN_LANES; c++)
            lane[c] = x[i + c] > lane[c] ? x[i + c] : lane[c];
    float mx = -INFINITY;
    for (; i < n; i++)
        mx = x[i] > mx ? x[i] : mx;
    for (int c = 0; c < ATTN_LANES; c++)
        mx = lane[c] > mx ? lane[c] : mx;
    return mx;
}

/* ------------------------------------------------------------- row state */

void attn_rows_begin(const attn_rows *rows, int d)
{
    for (int r = 0; r < rows->n; r++) {
        rows->m[r] = -INFINITY;
        rows->l[r] = 0.0f;
        memset(rows->o + (size_t)r * rows->ldo, 0, (size_t)d * sizeof(float));
    }
}

void attn_rows_end(const attn_rows *rows, int d)
{
    for (int r = 0; r < rows->n; r++) {
        float *o = rows->o + (size_t)r * rows->ldo;
        float inv = rows->l[r] > 0.0f ? 1.0f / rows->l[r] : 0.0f;
        for (int c = 0; c < d; c++)
            o[c] *= inv;
    }
}

/* ------------------------------------------------------------ masking */

/*
 * Bias and masking of a score tile, cheapest test first. Most tiles of most
 * kernels need nothing: a dense tile without mask or ALiBi, a causal tile
 * wholly below the diagonal, a band tile wholly inside the band. Checking
 * that once per tile (from the block bounds) instead of once per pair keeps
 * the dense path free of per-element work. What is left is one short loop
 * per rule, each a plain select the compiler vectorises:
 *   ALiBi       s -= slope |i - j|
 *   key mask    s += kb[c], kb = 0 or -inf (built once per tile)
 *   causal      s = -inf where j > i
 *   band        s = -inf where |i - j| > band
 *   outside     s = -inf where |i - j| <= outside_band
 *   LSH         s = -inf where the pair already shared a bucket in an
 *               earlier round (the caller only pairs same-bucket rows)
 */
static void bias_tile(const attn_head *h, attn_scratch *sc, float *S, const attn_rows *rows,
                      const attn_keys *keys)
{
    int tq = rows->n, tk = keys->n;
    int contiguous = !rows->pos && !keys->pos;
    int rfirst = rows->first, rlast = rows->first + tq - 1;
    int kfirst = keys->first, klast = keys->first + tk - 1;

    int causal = h->causal && !(contiguous && klast <= rfirst);
    int band = h->band >= 0 && !(contiguous && (long)kfirst >= (long)rlast - h->band &&
                                 (long)klast <= (long)rfirst + h->band);
    int outside = h->outside_band >= 0;
    int lsh = h->qcode != NULL && h->code_round > 0;
    int use_kb = 0;
    if (h->key_mask) {
        for (int c = 0; c < tk; c++) {
            int j = keys->pos ? keys->pos[c] : kfirst + c;
            sc->kb[c] = h->key_mask[j] ? 0.0f : -INFINITY;
            use_kb |= !h->key_mask[j];
        }
    }
    if (h->slope == 0.0f && !use_kb && !causal && !band && !outside && !lsh)
        return;

    const int *kp = sc->kp; /* key positions, one int per column */
    for (int c = 0; c < tk; c++)
        sc->kp[c] = keys->pos ? keys->pos[c] : kfirst + c;

    for (int r = 0; r < tq; r++) {
        float *s = S + (size_t)r * tk;
        int i = rows->pos ? rows->pos[r] : rfirst + r;
        if (h->slope != 0.0f)
            for (int c = 0; c < tk; c++)
                s[c] -= h->slope * fabsf((float)(i - kp[c]));
        if (use_kb)
            for (int c = 0; c < tk; c++)
                s[c] += sc->kb[c];
        if (causal)
            for (int c = 0; c < tk; c++)
                s[c] = kp[c] > i ? -INFINITY : s[c];
        if (band)
            for (int c = 0; c < tk; c++)
                s[c] = abs(i - kp[c]) > h->band ? -INFINITY : s[c];
        if (outside)
            for (int c = 0; c < tk; c++)
                s[c] = abs(i - kp[c]) <= h->outside_band ? -INFINITY : s[c];
        if (lsh) {
            size_t n = (size_t)h->code_n;
            for (int e = 0; e < h->code_round; e++) {
                int qe = h->qcode[e * n + i];
                const int *ke = h->kcode + e * n;
                for (int c = 0; c < tk; c++)
                    s[c] = ke[kp[c]] == qe ? -INFINITY : s[c];
            }
        }
    }
}

/* ------------------------------------------------------------- the step */

void attn_tile_step(const attn_head *h, attn_scratch *sc, const attn_rows *rows,
                    const attn_keys *keys)
{
    int tq = rows->n, tk = keys->n, d = h->d;
    if (tq <= 0 || tk <= 0)
        return;
    float *S = sc->s;

    /* S[tq x tk] = scale * Q[tq x d] K[tk x d]^T */
    blas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, tq, tk, d,
               h->scale, rows->q, rows->ldq, keys->k, keys->ld, 0.0f, S, tk);

    bias_tile(h, sc, S, rows, keys);
    int any = 0;
    for (int r = 0; r < tq; r++) {
        float *s = S + (size_t)r * tk;
        float mx = attn_max(s, tk);
        float m_old = rows->m[r];
        float m_new = mx > m_old ? mx : m_old;
        if (m_new == -INFINITY) {
            /* nothing visible yet: contribute nothing */
            memset(s, 0, (size_t)tk * sizeof(float));
            continue;
        }
        any = 1;
        /* alpha = e^(m_old - m_new); 0 when this is the first visible block */
        float alpha = expf(m_old - m_new);
        float sum = attn_exp_shift_sum(s, tk, m_new);
        rows->l[r] = rows->l[r] * alpha + sum;
        rows->m[r] = m_new;
        if (alpha != 1.0f) {
            float *o = rows->o + (size_t)r * rows->ldo;
            for (int c = 0; c < d; c++)
                o[c] *= alpha;
        }
    }
    if (!any)
        return;

    /* O[tq x d] += P[tq x tk] V[tk x d] */
    blas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, tq, d, tk,
               1.0f, S, tk, keys->v, keys->ld, 1.0f, rows->o, rows->ldo);
}
