/*
 * test_attn_ref.h — the attention tests' own reference, written without BLAS,
 * without tiling and without any code from attention/ except the ALiBi slope
 * formula, which is re-derived here too.
 *
 * For one query head: s_ij = scale * sum_c q_ic k_jc - slope |i - j| for
 * visible pairs, softmax over j in double precision, o_i = sum_j p_ij v_j.
 * Visibility is a caller-supplied n x n byte matrix so each kernel's rule
 * (window + globals, segments, LSH buckets) is written out explicitly in its
 * test. Included by several test files, hence static functions only.
 */
#ifndef TEST_ATTN_REF_H
#define TEST_ATTN_REF_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* xorshift-based uniform floats in [-1, 1), deterministic per seed. */
static inline float ref_randf(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return (float)((double)(*s >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static inline float *ref_random(size_t n, uint64_t seed)
{
    float *x = malloc(n * sizeof *x);
    uint64_t s = seed * 2654435761u + 88172645463325252ull;
    for (size_t i = 0; i < n; i++)
        x[i] = ref_randf(&s);
    return x;
}

/* ALiBi slope, straight from the paper's recipe. */
static inline double ref_alibi_slope(int heads, int h)
{
    int p = 1;
    while (p * 2 <= heads)
        p *= 2;
    double start = pow(2.0, -8.0 / p);
    if (h < p)
        return pow(start, h + 1);
    double start2 = pow(2.0, -8.0 / (2 * p));
    int idx = 2 * (h - p); /* every other slope of 2p: indices 0, 2, ... */
    return pow(start2, idx + 1);
}

/*
 * out[n x H*d] for all heads; vis[i*n + j] != 0 when query i may see key j
 * (shared by all heads); slopes NULL = no ALiBi.
 */
static inline void ref_attention(int n, int H, int KVH, int d, double scale,
                                 const float *q, const float *k, const float *v,
                                 const uint8_t *vis, const double *slopes, float *out)
{
    double *p = malloc((size_t)n * sizeof *p);
    int group = H / KVH;
    for (int h = 0; h < H; h++) {
        int hk = h / group;
        for (int i = 0; i < n; i++) {
            double mx = -INFINITY;
            for (int j = 0; j < n; j++) {
                if (!vis[(size_t)i * n + j]) {
                    p[j] = -INFINITY;
                    continue;
                }
                double dot = 0.0;
                for (int c = 0; c < d; c++)
                    dot += (double)q[(size_t)i * H * d + h * d + c] *
                           (double)k[(size_t)j * KVH * d + hk * d + c];
                double s = scale * dot;
                if (slopes)
                    s -= slopes[h] * fabs((double)(i - j));
                p[j] = s;
                if (s > mx)
                    mx = s;
            }
            float *o = out + (size_t)i * H * d + h * d;
            if (mx == -INFINITY) {
                memset(o, 0, (size_t)d * sizeof *o);
                continue;
            }
            double sum = 0.0;
            for (int j = 0; j < n; j++) {
                p[j] = p[j] == -INFINITY ? 0.0 : exp(p[j] - mx);
                sum += p[j];
            }
            for (int c = 0; c < d; c++) {
                double acc = 0.0;
                for (int j = 0; j < n; j++)
                    if (p[j] != 0.0)
                        acc += p[j] * (double)v[(size_t)j * KVH * d + hk * d + c];
                o[c] = (float)(acc / sum);
            }
        }
    }
    free(p);
}

/* Visibility of plain dense attention: key mask and causal rule. */
static inline uint8_t *ref_dense_vis(int n, const uint8_t *key_mask, int causal)
{
    uint8_t *vis = malloc((size_t)n * n);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            vis[(size_t)i * n + j] = (!key_mask || key_mask[j]) && (!causal || j <= i);
    return vis;
}

static inline double *ref_slopes(int H)
{
    double *s = malloc((size_t)H * sizeof *s);
    for (int h = 0; h < H; h++)
        s[h] = ref_alibi_slope(H, h);
    return s;
}

static inline float ref_max_abs_diff(const float *a, const float *b, size_t n)
{
    float m = 0.0f;
    for (size_t i = 0; i < n; i++) {
        float e = fabsf(a[i] - b[i]);
        if (isnan(e))
            return INFINITY;
        if (e > m)
            m = e;
    }
    return m;
}

#endif /* TEST_ATTN_REF_H */
