/*
 * attn_naive.c — textbook attention with the full n x n score matrix.
 *
 *     S = scale * Q K^T + bias,  P = softmax_rows(S),  O = P V
 *
 * This is ATTN_NAIVE: the baseline the benchmarks compare the tiled kernels
 * against (time and memory), and a plain second opinion for debugging. It
 * allocates n * n floats per call (reused across heads), which is exactly the
 * cost the other kernels exist to avoid; attn_workspace_bytes reports it.
 * It supports what dense attention supports: key mask, causal mask, ALiBi
 * and grouped heads. The unit tests do not rely on it; they carry their own
 * reference written without BLAS.
 */
#include "attention/attention.h"

#include <cblas.h>
#include <math.h>

int attn_naive_run(const attn_config *cfg, const float *q, const float *k, const float *v,
                   const uint8_t *key_mask, int n, float *out, attn_arena *a)
{
    float *S = attn_arena_floats(a, (size_t)n * (size_t)n);
    if (!a->base)
        return 0; /* sizing only */

    int H = cfg->heads, d = cfg->head_dim, group = cfg->heads / cfg->kv_heads;
    int ldq = H * d, ldkv = cfg->kv_heads * d;
    float scale = attn_scale(cfg);
    for (int hq = 0; hq < H; hq++) {
        int hk = hq / group;
        float slope = cfg->alibi ? attn_alibi_slope(H, hq) : 0.0f;
        /* S[n x n] = scale * Q_h K_h^T */
        blas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, d, scale,
                   q + (size_t)hq * d, ldq, k + (size_t)hk * d, ldkv, 0.0f, S, n);
        for (int i = 0; i < n; i++) {
            float *s = S + (size_t)i * n;
            for (int j = 0; j < n; j++) {
                int hidden = (key_mask && !key_mask[j]) || (cfg->causal && j > i);
                s[j] = hidden ? -INFINITY : s[j] - slope * (float)(i > j ? i - j : j - i);
            }
        }
        /* rows with every key hidden become zeros */
        tensor_softmax_rows(S, n, n);
        /* O_h = P V_h */
        blas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, d, n, 1.0f,
                   S, n, v + (size_t)hk * d, ldkv, 0.0f, out + (size_t)hq * d, ldq);
    }
    return 0;
}
