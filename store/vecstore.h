/*
 * vecstore.h — compact encodings of L2-normalised vectors, and the dot
 * products that re-score LSH candidates against them.
 *
 * A collection stores one unit vector per chunk. Three encodings, recorded in
 * the collection config:
 *
 *   f32  4*dim bytes, exact.
 *   f16  2*dim bytes, IEEE half; relative error about 5e-4 per component.
 *   i8   4 + dim bytes (rounded up to a multiple of 4): a float scale s, then
 *        q_i = round(x_i / s) with s = max|x_i| / 127, so x_i ~= s * q_i.
 *        For a unit vector the error of a dot product is below s/2 * |q|_1,
 *        a few 1e-3 for 100 dimensions: enough to order neighbours whose
 *        similarities differ by more than that, and 4x less memory traffic
 *        than f32, which is what re-scoring scattered candidates is bound by.
 *
 * Rows have a fixed size (vecstore_row_bytes), a multiple of 4 bytes, so an
 * array of rows is directly addressable: the in-memory index keeps them in
 * one block and LMDB values can be read in place from the memory map.
 *
 * The kernels are static inline so the re-scoring loop in query/lsh_index.c
 * inlines them; they are straight loops with 8 independent accumulators,
 * which the compiler turns into SIMD without -ffast-math.
 */
#ifndef LCTX_VECSTORE_H
#define LCTX_VECSTORE_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef enum vecstore_encoding {
    VECSTORE_F32 = 0,
    VECSTORE_F16 = 1,
    VECSTORE_I8 = 2
} vecstore_encoding;

static inline const char *vecstore_encoding_name(vecstore_encoding e)
{
    return e == VECSTORE_F32 ? "f32" : e == VECSTORE_F16 ? "f16" : e == VECSTORE_I8 ? "i8" : "?";
}

/* -1 for an unknown name. */
static inline int vecstore_encoding_parse(const char *s)
{
    if (!s)
        return -1;
    if (!strcmp(s, "f32") || !strcmp(s, "float32"))
        return VECSTORE_F32;
    if (!strcmp(s, "f16") || !strcmp(s, "fp16"))
        return VECSTORE_F16;
    if (!strcmp(s, "i8") || !strcmp(s, "int8"))
        return VECSTORE_I8;
    return -1;
}

/* Bytes of one encoded row, a multiple of 4; 0 for a bad encoding. */
static inline size_t vecstore_row_bytes(vecstore_encoding e, int dim)
{
    switch (e) {
    case VECSTORE_F32: return 4 * (size_t)dim;
    case VECSTORE_F16: return (2 * (size_t)dim + 3) & ~(size_t)3;
    case VECSTORE_I8: return (4 + (size_t)dim + 3) & ~(size_t)3;
    }
    return 0;
}

/* IEEE half <-> float by bit manipulation (round to nearest even on the way
 * down; subnormals handled; unit-vector components never overflow). */
static inline uint16_t vecstore_f32_to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000u;
    uint32_t mag = x & 0x7FFFFFFFu;
    if (mag >= 0x47800000u)                 /* >= 65536 or inf/nan */
        return (uint16_t)(sign | (mag > 0x7F800000u ? 0x7E00u : 0x7C00u));
    if (mag < 0x38800000u) {                /* below the smallest normal half */
        if (mag < 0x33000000u)
            return (uint16_t)sign;
        uint32_t m = (mag & 0x7FFFFFu) | 0x800000u;
        int shift = 126 - (int)(mag >> 23);     /* value = m 2^(e-150) = r 2^-24 */
        uint32_t r = m >> shift;
        uint32_t rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (r & 1)))
            r++;
        return (uint16_t)(sign | r);
    }
    uint32_t r = ((mag - 0x38000000u) >> 13);
    uint32_t rem = mag & 0x1FFFu;
    if (rem > 0x1000u || (rem == 0x1000u && (r & 1)))
        r++;
    return (uint16_t)(sign | r);
}

static inline float vecstore_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1Fu, man = h & 0x3FFu, x;
    if (exp == 0) {
        float f = (float)man * (1.0f / 16777216.0f);  /* man * 2^-24 */
        return sign ? -f : f;
    }
    if (exp == 31)
        x = sign | 0x7F800000u | (man << 13);
    else
        x = sign | ((exp + 112u) << 23) | (man << 13);
    float f;
    memcpy(&f, &x, 4);
    return f;
}

/* row = encoding of x[0..dim). Padding bytes are zeroed so rows compare equal
 * byte for byte when their vectors do. */
static inline void vecstore_encode(vecstore_encoding e, int dim, const float *x, void *row)
{
    memset(row, 0, vecstore_row_bytes(e, dim));
    if (e == VECSTORE_F32) {
        memcpy(row, x, 4 * (size_t)dim);
    } else if (e == VECSTORE_F16) {
        uint16_t *h = (uint16_t *)row;
        for (int i = 0; i < dim; i++)
            h[i] = vecstore_f32_to_f16(x[i]);
    } else if (e == VECSTORE_I8) {
        float amax = 0.0f;
        for (int i = 0; i < dim; i++)
            amax = fmaxf(amax, fabsf(x[i]));
        float s = amax > 0.0f ? amax / 127.0f : 1.0f;
        memcpy(row, &s, 4);
        int8_t *q = (int8_t *)row + 4;
        for (int i = 0; i < dim; i++)
            q[i] = (int8_t)lrintf(x[i] / s);
    }
}

static inline void vecstore_decode(vecstore_encoding e, int dim, const void *row, float *x)
{
    if (e == VECSTORE_F32) {
        memcpy(x, row, 4 * (size_t)dim);
    } else if (e == VECSTORE_F16) {
        const uint16_t *h = (const uint16_t *)row;
        for (int i = 0; i < dim; i++)
            x[i] = vecstore_f16_to_f32(h[i]);
    } else if (e == VECSTORE_I8) {
        float s;
        memcpy(&s, row, 4);
        const int8_t *q = (const int8_t *)row + 4;
        for (int i = 0; i < dim; i++)
            x[i] = s * (float)q[i];
    }
}

/* sum_i a_i b_i with 8 running partial sums (vectorisable, deterministic). */
static inline float vecstore_dot_f32(const float *a, const float *b, int dim)
{
    float acc[8] = {0};
    int i = 0;
    for (; i + 8 <= dim; i += 8)
        for (int u = 0; u < 8; u++)
            acc[u] += a[i + u] * b[i + u];
    float s = 0.0f;
    for (; i < dim; i++)
        s += a[i] * b[i];
    return s + ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

/* q . x with x ~= s * qi: s * sum_i q_i qi_i. */
static inline float vecstore_dot_i8(const float *q, const void *row, int dim)
{
    float s;
    memcpy(&s, row, 4);
    const int8_t *v = (const int8_t *)row + 4;
    float acc[8] = {0};
    int i = 0;
    for (; i + 8 <= dim; i += 8)
        for (int u = 0; u < 8; u++)
            acc[u] += q[i + u] * (float)v[i + u];
    float t = 0.0f;
    for (; i < dim; i++)
        t += q[i] * (float)v[i];
    return s * (t + ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7])));
}

static inline float vecstore_dot_f16(const float *q, const void *row, int dim)
{
    const uint16_t *h = (const uint16_t *)row;
    float s = 0.0f;
    for (int i = 0; i < dim; i++)
        s += q[i] * vecstore_f16_to_f32(h[i]);
    return s;
}

/* q . decode(row) for a float query q. */
static inline float vecstore_dot(vecstore_encoding e, int dim, const float *q, const void *row)
{
    if (e == VECSTORE_I8)
        return vecstore_dot_i8(q, row, dim);
    if (e == VECSTORE_F16)
        return vecstore_dot_f16(q, row, dim);
    return vecstore_dot_f32(q, (const float *)row, dim);
}


#endif /* LCTX_VECSTORE_H */
