/*
 * lsh_sketch.c — the short per-entry sketches of the inline-code LSH layout
 * (lsh_params.inline_codes, query/lsh_index.c).
 *
 * Why. An LSH search at recall 0.95 on real vectors looks at tens of
 * thousands of candidates; re-scoring each against its stored row costs a
 * cache miss or two per candidate, because candidate rows are scattered over
 * the whole vector block. The inline layout keeps a copy of every vector,
 * shrunk to a sketch, next to its row number in every bucket, so a probe
 * reads one contiguous run the hardware can stream, and only a short list of
 * the best sketch scores goes back to the stored rows. The sketch must be
 * small (it is repeated in all L tables) and its dot product cheap.
 *
 * Layout of one sketch: sk_bytes, a multiple of 8 whose last 4 bytes hold
 * the float scale (x ~= scale * c); every unused position is zero. Sketches
 * are packed at that stride (56 bytes for 100 dimensions at 4 bits, where
 * a stride of 64 cost a tenth more memory for no speed), but the dot
 * products read a span, sk_bytes rounded up to 32: the query's arrays are
 * zero past the codes, so whatever follows a sketch (the next one, or the
 * zero padding every array of sketches keeps at its end) adds nothing.
 * Codes are stored unsigned, c plus an offset, because the fastest byte dot
 * product (vpdpbusd) multiplies unsigned by signed bytes:
 *   8 bits: byte j < dim holds c_j + 128, c_j = round(x_j / scale) in
 *           -127..127, scale = amax / 127;
 *   4 bits: byte j < H = sk_bytes - 4 holds c_j + 8 in its low nibble and
 *           c_{j+H} + 8 in its high nibble, each c in -7..7, scale = amax / 7.
 * The query side is always 8 bits, split the same way into a low and a high
 * array of a span each (lo[j] pairs with the low nibble of byte j, hi[j]
 * with the high one) that are zero wherever an entry keeps its scale or
 * padding, so those bytes drop out of the dot product and the loops
 * (lsh_sketch_score, query.h) need no special end. The offset is removed
 * exactly:
 *   sum_j q_j (c_j + off) - off * sum_j q_j = sum_j q_j c_j,
 * the second term (the query's bias) computed once per query. Error: a
 * 4-bit sketch of a unit vector in 100 dimensions scores within about 0.01
 * of the true cosine, an 8-bit one within 0.001; the shortlist re-scored
 * exactly absorbs that (tests/test_lsh_inline.c).
 */
#include "query/query.h"

#include <math.h>
#include <string.h>

size_t lsh_sketch_bytes(int dim, int bits)
{
    size_t code = bits == 4 ? ((size_t)dim + 1) / 2 : (size_t)dim;
    return (code + 4 + 7) & ~(size_t)7;
}

static float abs_max(const float *x, int dim)
{
    float amax = 0.0f;
    for (int j = 0; j < dim; j++)
        amax = fmaxf(amax, fabsf(x[j]));
    return amax;
}

void lsh_sketch_encode(int bits, int dim, size_t sk_bytes, const float *x, uint8_t *out)
{
    const size_t half = sk_bytes - 4;
    const float levels = bits == 4 ? 7.0f : 127.0f, amax = abs_max(x, dim);
    const float scale = amax > 0.0f ? amax / levels : 0.0f;
    memset(out, 0, sk_bytes);
    for (int j = 0; amax > 0.0f && j < dim; j++) {
        int v = (int)lrintf(x[j] * (levels / amax));
        if (bits == 8)
            out[j] = (uint8_t)(v + 128);
        else if ((size_t)j < half)
            out[j] |= (uint8_t)(v + 8);
        else
            out[j - half] |= (uint8_t)((v + 8) << 4);
    }
    memcpy(out + sk_bytes - 4, &scale, 4);
}

float lsh_sketch_query(int bits, int dim, size_t sk_bytes, const float *q, int8_t *lo, int8_t *hi,
                       int32_t *bias)
{
    const size_t half = sk_bytes - 4;
    const float amax = abs_max(q, dim);
    memset(lo, 0, lsh_sketch_span(sk_bytes));
    memset(hi, 0, lsh_sketch_span(sk_bytes));
    int32_t sum = 0;
    for (int j = 0; amax > 0.0f && j < dim; j++) {
        int8_t v = (int8_t)lrintf(q[j] * (127.0f / amax));
        if (bits == 8 || (size_t)j < half)
            lo[j] = v;
        else
            hi[j - half] = v;
        sum += v;
    }
    *bias = (bits == 8 ? 128 : 8) * sum;
    return amax / 127.0f;
}
