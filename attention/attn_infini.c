/*
 * attn_infini.c — Infini-attention: local attention per segment plus a
 * compressive memory that carries everything earlier at constant size
 * (Munkhdalai, Faruqui, Gopal 2024, "Leave No Context Behind").
 *
 * The sequence is cut into segments of S tokens. Within a segment, queries
 * run ordinary (masked, optionally causal) dot-product attention over the
 * segment's keys: A_dot, computed by the same tile step as dense attention.
 * Everything before the segment lives in a per-KV-head memory of linear
 * attention, M (d x d) and z (d), with the feature map sigma(x) = ELU(x) + 1
 * (positive, so the normaliser below never changes sign):
 *
 *   retrieve   A_mem = sigma(Q) M / (sigma(Q) z)        (row-wise division)
 *   update     M += sigma(K)^T V,   z += sum_rows sigma(K)          (linear)
 *          or  M += sigma(K)^T (V - sigma(K) M / (sigma(K) z))       (delta)
 *   mix        out = g A_mem + (1 - g) A_dot,   g = sigmoid(beta_h)
 *
 * The delta rule first asks the memory what it already returns for the new
 * keys and stores only the difference, so repeated content does not pile up.
 * Both rules use the memory as it was before the segment: the update of a
 * segment is accumulated in dM, dz and added at the end, which lets the
 * segment be processed in chunks of rows without ever holding S x d floats.
 *
 * Before anything is stored, z = 0 and sigma(q) z = 0: there is nothing to
 * retrieve and A_mem is taken as 0 (for any row whose normaliser is 0).
 * Padding keys (key_mask 0) are neither attended to nor written to memory.
 *
 * Memory per KV head: 2 (d^2 + d) floats for M, z, dM, dz, plus the score
 * tile and two chunk buffers: independent of n and of the segment length.
 * KV heads are processed one at a time, each with a fresh memory, so only one
 * memory exists at a time.
 */
#include "attention/attention.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

static int min_int(int a, int b) { return a < b ? a : b; }

/* dst[rows x d] = ELU(src) + 1 = x > 0 ? x + 1 : e^x; rows whose position
 * is masked (mask[first + r] == 0) become zeros. */
static void sigma_rows(float *dst, const float *src, int ld, int rows, int d,
                       const uint8_t *mask, int first)
{
    for (int r = 0; r < rows; r++) {
        float *y = dst + (size_t)r * d;
        const float *x = src + (size_t)r * ld;
        if (mask && !mask[first + r]) {
            memset(y, 0, (size_t)d * sizeof(float));
            continue;
        }
        for (int c = 0; c < d; c++)
            y[c] = x[c] > 0.0f ? x[c] + 1.0f : expf(x[c]);
    }
}

/* out[rows x d] = sf M / (sf z) row by row, given sf = sigma(.) rows;
 * rows with sf z <= 0 get zeros. out must not alias sf. */
static void memory_read(const float *M, const float *z, const float *sf, int rows, int d,
                        float *out)
{
    /* out = sf[rows x d] M[d x d] */
    blas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, d, d, 1.0f,
               sf, d, M, d, 0.0f, out, d);
    for (int r = 0; r < rows; r++) {
        const float *s = sf + (size_t)r * d;
        double den = 0.0;
        for (int c = 0; c < d; c++)
            den += (double)s[c] * z[c];
        float *o = out + (size_t)r * d;
        float inv = den > 0.0 ? (float)(1.0 / den) : 0.0f;
        for (int c = 0; c < d; c++)
            o[c] *= inv;
    }
}

/* One chunk of a segment's memory update, accumulated into dM, dz against
 * the pre-segment M, z. sk: rows x d scratch, tmp: rows x d scratch. */
static void memory_update_chunk(const float *M, const float *z, float *dM, float *dz,
                                const float *k, const float *v, int ld, int rows, int d,
                                const uint8_t *mask, int first, int delta_rule,
                                float *sk, float *tmp)
{
    sigma_rows(sk, k, ld, rows, d, mask, first);
    /* tmp = the values to store: V, or V minus what memory already returns */
    for (int r = 0; r < rows; r++)
        memcpy(tmp + (size_t)r * d, v + (size_t)r * ld, (size_t)d * sizeof(float));
    if (delta_rule) {
        /* tmp -= sigma(K) M / (sigma(K) z), computed row by row so no third
         * buffer is needed */
        for (int r = 0; r < rows; r++) {
            const float *s = sk + (size_t)r * d;
            double den = 0.0;
            for (int c = 0; c < d; c++)
                den += (double)s[c] * z[c];
            if (!(den > 0.0))
                continue;
            float inv = (float)(1.0 / den);
            /* tmp_r -= inv * s M  (a gemv: M^T s) */
            blas_sgemv(CblasRowMajor, CblasTrans, d, d, -inv, M, d, s, 1, 1.0f,
                       tmp + (size_t)r * d, 1);
        }
    }
    /* dM[d x d] += sk^T[d x rows] tmp[rows x d] */
    blas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, d, d, rows, 1.0f,
               sk, d, tmp, d, 1.0f, dM, d);
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < d; c++)
            dz[c] += sk[(size_t)r * d + c];
}

/* Applies one segment's update to M and z, in chunks of `chunk` rows. */
static void memory_update(float *M, float *z, float *dM, float *dz,
                          const float *k, const float *v, int ld, int n, int d,
                          const uint8_t *mask, int first, int delta_rule,
                          float *sk, float *tmp, int chunk)
{
    memset(dM, 0, (size_t)d * d * sizeof(float));
    memset(dz, 0, (size_t)d * sizeof(float));
    for (int r0 = 0; r0 < n; r0 += chunk)
        memory_update_chunk(M, z, dM, dz, k + (size_t)r0 * ld, v + (size_t)r0 * ld, ld,
                            min_int(chunk, n - r0), d, mask, first + r0, delta_rule, sk, tmp);
    tensor_add(M, dM, (size_t)d * d);
    tensor_add(z, dz, (size_t)d);
}

int attn_infini_update(float *M, float *z, const float *k, const float *v, int ld, int n,
                       int d, const uint8_t *key_mask, int delta_rule)
{
    if (!M || !z || !k || !v || n < 0 || d <= 0 || ld < d)
        return -1;
    int chunk = min_int(ATTN_TILE_Q, n > 0 ? n : 1);
    float *buf = tensor_alloc((size_t)d * d + d + 2 * (size_t)chunk * d);
    if (!buf)
        return -1;
    float *dM = buf, *dz = dM + (size_t)d * d, *sk = dz + d, *tmp = sk + (size_t)chunk * d;
    memory_update(M, z, dM, dz, k, v, ld, n, d, key_mask, 0, delta_rule, sk, tmp, chunk);
    tensor_free(buf);
    return 0;
}

int attn_infini_retrieve(const float *M, const float *z, const float *q, int ld, int n,
                         int d, float *out, int ldo)
{
    if (!M || !z || !q || !out || n < 0 || d <= 0 || ld < d || ldo < d)
        return -1;
    int chunk = min_int(ATTN_TILE_Q, n > 0 ? n : 1);
    float *buf = tensor_alloc(2 * (size_t)chunk * d);
    if (!buf)
        return -1;
    float *sq = buf, *a = buf + (size_t)chunk * d;
    for (int r0 = 0; r0 < n; r0 += chunk) {
        int rows = min_int(chunk, n - r0);
        sigma_rows(sq, q + (size_t)r0 * ld, ld, rows, d, NULL, 0);
        memory_read(M, z, sq, rows, d, a);
        for (int r = 0; r < rows; r++)
            memcpy(out + (size_t)(r0 + r) * ldo, a + (size_t)r * d, (size_t)d * sizeof(float));
    }
    tensor_free(buf);
    return 0;
}

typedef struct infini_ws {
    attn_scratch sc;
    float *m, *l;
    float *M, *z, *dM, *dz;
    float *buf1, *buf2;     /* tile_q x d each */
    int empty;              /* nothing stored in the memory yet */
} infini_ws;

/* Local attention of one query block within its segment, then the gate mix
 * with what the memory returns for it. Output rows are written in place. */
static void segment_block(const attn_head *head, infini_ws *ws, const attn_rows *rows,
                          const float *kh, const float *vh, int ldkv, int s0, int s1,
                          float gate)
{
    int d = head->d;
    attn_rows_begin(rows, d);
    int kend = head->causal ? min_int(s1, rows->first + rows->n) : s1;
    for (int k0 = s0; k0 < kend; k0 += ws->sc.tile_k) {
        attn_keys keys = {
            .k = kh + (size_t)k0 * ldkv, .v = vh + (size_t)k0 * ldkv, .ld = ldkv,
            .n = min_int(ws->sc.tile_k, kend - k0), .first = k0, .pos = NULL,
        };
        attn_tile_step(head, &ws->sc, rows, &keys);
    }
    attn_rows_end(rows, d);

    /* out = gate A_mem + (1 - gate) A_dot */
    if (!ws->empty)
        sigma_rows(ws->buf1, rows->q, rows->ldq, rows->n, d, NULL, 0);
    if (!ws->empty)
        memory_read(ws->M, ws->z, ws->buf1, rows->n, d, ws->buf2);
    for (int r = 0; r < rows->n; r++) {
        float *o = rows->o + (size_t)r * rows->ldo;
        const float *am = ws->buf2 + (size_t)r * d;
        for (int c = 0; c < d; c++) {
            float mem = ws->empty ? 0.0f : am[c];
            o[c] = gate * mem + (1.0f - gate) * o[c];
        }
    }
}

int attn_infini_run(const attn_config *cfg, const float *q, const float *k, const float *v,
                    const uint8_t *key_mask, int n, float *out, attn_arena *a)
{
    int d = cfg->head_dim;
    int S = cfg->segment > 0 ? min_int(cfg->segment, n) : n;
    infini_ws ws;
    attn_scratch_take(a, &ws.sc, min_int(ATTN_TILE_Q, S), min_int(ATTN_TILE_K, S));
    ws.m = attn_arena_floats(a, (size_t)ws.sc.tile_q);
    ws.l = attn_arena_floats(a, (size_t)ws.sc.tile_q);
    ws.M = attn_arena_floats(a, (size_t)d * d);
    ws.z = attn_arena_floats(a, (size_t)d);
    ws.dM = attn_arena_floats(a, (size_t)d * d);
    ws.dz = attn_arena_floats(a, (size_t)d);
    ws.buf1 = attn_arena_floats(a, (size_t)ws.sc.tile_q * d);
    ws.buf2 = attn_arena_floats(a, (size_t)ws.sc.tile_q * d);
    if (!a->base)
        return 0; /* sizing only */

    int H = cfg->heads, group = cfg->heads / cfg->kv_heads;
    int ldq = H * d, ldkv = cfg->kv_heads * d;
    for (int hk = 0; hk < cfg->kv_heads; hk++) {
        const float *kh = k + (size_t)hk * d, *vh = v + (size_t)hk * d;
        memset(ws.M, 0, (size_t)d * d * sizeof(float));
        memset(ws.z, 0, (size_t)d * sizeof(float));
        ws.empty = 1;
        for (int s0 = 0; s0 < n; s0 += S) {
            int s1 = min_int(n, s0 + S);
            for (int hq = hk * group; hq < (hk + 1) * group; hq++) {
                attn_head head;
                attn_head_init(&head, cfg, hq, key_mask);
                float beta = cfg->infini_beta ? cfg->infini_beta[hq] : 0.0f;
                float gate = 1.0f / (1.0f + expf(-beta));
                for (int q0 = s0; q0 < s1; q0 += ws.sc.tile_q) {
                    attn_rows rows = {
                        .q = q + (size_t)q0 * ldq + (size_t)hq * d, .ldq = ldq,
                        .o = out + (size_t)q0 * ldq + (size_t)hq * d, .ldo = ldq,
                        .m = ws.m, .l = ws.l, .n = min_int(ws.sc.tile_q, s1 - q0),
                        .first = q0, .pos = NULL,
                    };
                    segment_block(&head, &ws, &rows, kh, vh, ldkv, s0, s1, gate);
                }
            }
            /* the last segment's update would never be read */
            if (s1 < n) {
                memory_update(ws.M, ws.z, ws.dM, ws.dz, kh + (size_t)s0 * ldkv,
                              vh + (size_t)s0 * ldkv, ldkv, s1 - s0, d, key_mask, s0,
                              cfg->delta_rule, ws.buf1, ws.buf2, ws.sc.tile_q);
                ws.empty = 0;
            }
        }
    }
    return 0;
}
