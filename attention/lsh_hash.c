/*
 * lsh_hash.c — locality-sensitive hashing by the signs of pseudo-random
 * rotations, shared by the vector index (query/lsh_*.c) and the Reformer-style
 * LSH attention (attention/).
 *
 * What it computes. A vector x of dimension `dim` is zero-padded to p, the
 * next power of two, and rotated R times:
 *
 *     z_r = (1/p^(3/2)) H D3_r H D2_r H D1_r x        r = 0 .. R-1
 *
 * where H is the (unnormalised) Walsh-Hadamard matrix and each D is a
 * diagonal of random signs. Each H costs p log2 p additions instead of the p^2
 * multiply-adds of a dense random matrix, and three rounds of (signs,
 * Hadamard) behave, for hashing purposes, like a uniformly random rotation
 * (Andoni et al., "Practical and Optimal LSH for Angular Distance", the
 * FALCONN library). The scaling makes the rotation orthonormal, so
 * coordinates of z have the same scale as x.
 *
 * The R*p rotated coordinates, laid end to end, supply the hash bits: table t
 * uses coordinates t*K .. t*K+K-1, and bit j of its code is 1 when that
 * coordinate is positive. A coordinate of a rotation is the projection on one
 * row of an orthonormal matrix, so every bit is a random-hyperplane bit
 * (SimHash): two unit vectors at angle theta agree on it with probability
 * 1 - theta/pi. Bits within one rotation come from orthogonal hyperplanes,
 * which is, if anything, better than independent ones. R = ceil(L*K/p), so
 * for 100-dimensional vectors (p = 128) and K = 16, one rotation feeds 8
 * tables.
 *
 * The magnitude |z| of a coordinate is how far the vector sits from that
 * hyperplane: the bits with the smallest margins are the ones a near
 * neighbour most likely disagrees on, which is what multi-probe querying
 * (query/lsh_probe.c) flips first.
 *
 * Attention uses lsh_hasher_rotate() directly: the Reformer's angular LSH puts
 * a vector in bucket argmax([zR; -zR]) (cross-polytope hashing), computed by
 * lsh_argmax_signed() over the first n_buckets/2 coordinates of a rotation.
 *
 * A hasher is immutable after creation and so safe to share between threads;
 * the caller supplies the working memory (lsh_hasher_work_floats()).
 */
#include "attention/attention.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct lsh_hasher {
    int dim;        /* input dimension */
    int p;          /* padded dimension, a power of two >= dim */
    int k;          /* bits per table */
    int tables;     /* L */
    int rotations;  /* hyperplanes: R = ceil(L*k / p); cross-polytope: L * per_table */
    int family;     /* LSH_HYPERPLANE or LSH_CROSSPOLYTOPE */
    int per_table;  /* cross-polytope: hash functions per table */
    int cp_dim;     /* cross-polytope: coordinates of a rotation used (power of two) */
    int fn_bits;    /* cross-polytope: log2(2 * cp_dim) bits per function */
    float scale;    /* p^(-3/2): makes the three Hadamard rounds orthonormal */
    /* 3 * p * R entries of +1 / -1, interleaved: the sign of round m
     * (D1, D2, D3), coordinate i, rotation r is signs[(m*p + i)*R + r], so
     * the R rotations of one vector run side by side in SIMD lanes. */
    float *signs;
};

static float sign_of(const lsh_hasher *h, int m, int i, int r)
{
    return h->signs[((size_t)m * h->p + i) * h->rotations + r];
}

/* splitmix64: a tiny, well-mixed generator; the seed fully determines the
 * rotations, so an index reopened with the same seed hashes identically. */
static uint64_t lsh_splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void lsh_set_err(char *err, size_t errlen, const char *msg)
{
    if (err && errlen)
        snprintf(err, errlen, "%s", msg);
}

/* The shared part of both constructors: dimension, padding, R rotations of
 * random signs drawn from the seed. */
static lsh_hasher *hasher_alloc(int dim, int k_bits, int n_tables, int rotations, uint64_t seed,
                                char *err, size_t errlen)
{
    lsh_hasher *h = calloc(1, sizeof *h);
    if (!h) {
        lsh_set_err(err, errlen, "lsh_hasher_new: out of memory");
        return NULL;
    }
    h->dim = dim;
    h->p = 1;
    while (h->p < dim)
        h->p *= 2;
    h->k = k_bits;
    h->tables = n_tables;
    h->rotations = rotations > 0 ? rotations : (int)(((long)n_tables * k_bits + h->p - 1) / h->p);
    h->scale = (float)(1.0 / ((double)h->p * sqrt((double)h->p)));
    size_t n_signs = (size_t)h->rotations * 3 * (size_t)h->p;
    h->signs = malloc(n_signs * sizeof *h->signs);
    if (!h->signs) {
        free(h);
        lsh_set_err(err, errlen, "lsh_hasher_new: out of memory");
        return NULL;
    }
    /* Drawn in the order rotation, round, coordinate, whatever the layout:
     * rotation r is the same for every L, so the first L tables of a hasher
     * are those of a hasher with L tables (lsh_tune relies on this). */
    uint64_t state = seed, bits = 0;
    size_t drawn = 0;
    for (int r = 0; r < h->rotations; r++)
        for (int m = 0; m < 3; m++)
            for (int i = 0; i < h->p; i++, drawn++, bits >>= 1) {
                if (drawn % 64 == 0)
                    bits = lsh_splitmix64(&state);
                h->signs[((size_t)m * h->p + i) * h->rotations + r] = (bits & 1) ? 1.0f : -1.0f;
            }
    return h;
}

lsh_hasher *lsh_hasher_new(int dim, int k_bits, int n_tables, uint64_t seed,
                           char *err, size_t errlen)
{
    if (dim < 1 || dim > (1 << 20)) {
        lsh_set_err(err, errlen, "lsh_hasher_new: dimension must be in 1..2^20");
        return NULL;
    }
    if (k_bits < 1 || k_bits > 32) {
        lsh_set_err(err, errlen, "lsh_hasher_new: bits per table must be in 1..32");
        return NULL;
    }
    if (n_tables < 1 || n_tables > 4096) {
        lsh_set_err(err, errlen, "lsh_hasher_new: tables must be in 1..4096");
        return NULL;
    }
    return hasher_alloc(dim, k_bits, n_tables, 0, seed, err, errlen);
}

lsh_hasher *lsh_hasher_new_xp(int dim, int per_table, int cp_dim, int n_tables, uint64_t seed,
                              char *err, size_t errlen)
{
    int p = 1;
    while (dim > 0 && p < dim)
        p *= 2;
    if (dim < 1 || dim > (1 << 20) || n_tables < 1 || n_tables > 4096) {
        lsh_set_err(err, errlen, "lsh_hasher_new_xp: bad dimension or table count");
        return NULL;
    }
    if (cp_dim < 2 || cp_dim > p || cp_dim > 4096 || (cp_dim & (cp_dim - 1))) {
        lsh_set_err(err, errlen, "lsh_hasher_new_xp: cross-polytope dimension must be a power of two <= padded dimension");
        return NULL;
    }
    int fn_bits = 1;
    while ((1 << fn_bits) < 2 * cp_dim)
        fn_bits++;
    if (per_table < 1 || per_table * fn_bits > 32) {
        lsh_set_err(err, errlen, "lsh_hasher_new_xp: more than 32 bits per table");
        return NULL;
    }
    lsh_hasher *h = hasher_alloc(dim, per_table * fn_bits, n_tables, n_tables * per_table, seed,
                                 err, errlen);
    if (!h)
        return NULL;
    h->family = LSH_CROSSPOLYTOPE;
    h->per_table = per_table;
    h->cp_dim = cp_dim;
    h->fn_bits = fn_bits;
    return h;
}

void lsh_hasher_free(lsh_hasher *h)
{
    if (!h)
        return;
    free(h->signs);
    free(h);
}

int lsh_hasher_dim(const lsh_hasher *h) { return h->dim; }
int lsh_hasher_bits(const lsh_hasher *h) { return h->k; }
int lsh_hasher_tables(const lsh_hasher *h) { return h->tables; }
int lsh_hasher_padded_dim(const lsh_hasher *h) { return h->p; }
int lsh_hasher_rotations(const lsh_hasher *h) { return h->rotations; }
/* The interleaved rotations, plus for cross-polytope the running maxima and
 * their positions (2 R). */
size_t lsh_hasher_work_floats(const lsh_hasher *h)
{
    return (size_t)h->rotations * ((size_t)h->p + 2);
}

/* In-place unnormalised Walsh-Hadamard transform of x[0..p), p a power of
 * two: log2 p passes of butterflies (a, b) -> (a + b, a - b) on pairs h apart.
 * H is symmetric and H H = p I. */
void lsh_fwht(float *x, int p)
{
    for (int h = 1; h < p; h *= 2) {
        for (int i = 0; i < p; i += 2 * h) {
            for (int j = i; j < i + h; j++) {
                float a = x[j], b = x[j + h];
                x[j] = a + b;
                x[j + h] = a - b;
            }
        }
    }
}

/* out[0..p) = rotation r of x: out = p^(-3/2) H D3 H D2 H D1 [x; 0]. */
void lsh_hasher_rotate(const lsh_hasher *h, int r, const float *x, float *out)
{
    const int p = h->p;
    for (int i = 0; i < h->dim; i++)
        out[i] = sign_of(h, 0, i, r) * x[i];
    for (int i = h->dim; i < p; i++)
        out[i] = 0.0f;
    lsh_fwht(out, p);
    for (int i = 0; i < p; i++)
        out[i] *= sign_of(h, 1, i, r);
    lsh_fwht(out, p);
    for (int i = 0; i < p; i++)
        out[i] *= sign_of(h, 2, i, r) * h->scale;  /* scale folded into the last diagonal */
    lsh_fwht(out, p);
}

/* The Walsh-Hadamard transform of R interleaved vectors w[i*R + r]: the same
 * butterflies as lsh_fwht, each on R lanes at once (vectorises for R >= 8,
 * where a single transform's first passes, pairs 1, 2, 4 apart, cannot). */
static void fwht_lanes(float *w, int p, int R)
{
    for (int h = 1; h < p; h *= 2) {
        for (int i = 0; i < p; i += 2 * h) {
            for (int j = i; j < i + h; j++) {
                float *a = w + (size_t)j * R, *b = w + (size_t)(j + h) * R;
                for (int r = 0; r < R; r++) {
                    float x = a[r], y = b[r];
                    a[r] = x + y;
                    b[r] = x - y;
                }
            }
        }
    }
}

/* All R rotations of x at once into work[i*R + r] (i < p). */
static void rotate_all(const lsh_hasher *h, const float *x, float *w)
{
    const int p = h->p, R = h->rotations;
    const float *d1 = h->signs, *d2 = d1 + (size_t)p * R, *d3 = d2 + (size_t)p * R;
    for (int i = 0; i < h->dim; i++)
        for (int r = 0; r < R; r++)
            w[(size_t)i * R + r] = d1[(size_t)i * R + r] * x[i];
    for (size_t e = (size_t)h->dim * R; e < (size_t)p * R; e++)
        w[e] = 0.0f;
    fwht_lanes(w, p, R);
    for (size_t e = 0; e < (size_t)p * R; e++)
        w[e] *= d2[e];
    fwht_lanes(w, p, R);
    for (size_t e = 0; e < (size_t)p * R; e++)
        w[e] *= d3[e] * h->scale;
    fwht_lanes(w, p, R);
}

/* Cross-polytope codes: function f of table t uses rotation r = t*F + f;
 * its value is the signed argmax of the first cp_dim rotated coordinates,
 * packed at bits f*fn_bits. The argmax runs row by row over the interleaved
 * buffer (coordinate i of all R rotations is contiguous), so the comparison
 * vectorises across rotations; best[] and arg[] are R floats / ints of work
 * after the rotations. zout (may be NULL) receives the coordinates
 * transposed, zout[r*cp_dim + i], for multi-probe. */
static void hash_xp(const lsh_hasher *h, float *w, uint32_t *codes, float *zout)
{
    const int R = h->rotations, F = h->per_table, m = h->cp_dim;
    float *best = w + (size_t)h->p * R;
    int32_t *arg = (int32_t *)(best + R);
    for (int r = 0; r < R; r++) {
        best[r] = -1.0f;
        arg[r] = 0;
    }
    for (int i = 0; i < m; i++) {
        const float *row = w + (size_t)i * R;
        for (int r = 0; r < R; r++) {
            float a = fabsf(row[r]);
            int better = a > best[r];   /* strict: ties keep the smaller i */
            best[r] = better ? a : best[r];
            arg[r] = better ? i : arg[r];
        }
    }
    for (int t = 0; t < h->tables; t++) {
        uint32_t code = 0;
        for (int f = 0; f < F; f++) {
            int r = t * F + f, i = arg[r];
            uint32_t v = (uint32_t)(w[(size_t)i * R + r] < 0.0f ? i + m : i);
            code |= v << (f * h->fn_bits);
        }
        codes[t] = code;
    }
    if (zout)
        for (int i = 0; i < m; i++)
            for (int r = 0; r < R; r++)
                zout[(size_t)r * m + i] = w[(size_t)i * R + r];
}

/* codes[t] for every table t. Hyperplanes: margins (may be NULL) [t*K + j]
 * = |z| of the coordinate behind bit j of table t, coordinate c = t*K + j of
 * the rotations laid end to end (rotation c / p, index c % p). Cross-polytope:
 * margins receives the rotated coordinates (lsh_hasher_margin_floats). work
 * holds lsh_hasher_work_floats(h) floats. */
void lsh_hasher_hash(const lsh_hasher *h, const float *x, uint32_t *codes,
                     float *margins, float *work)
{
    rotate_all(h, x, work);
    if (h->family == LSH_CROSSPOLYTOPE) {
        hash_xp(h, work, codes, margins);
        return;
    }
    const int k = h->k, p = h->p, R = h->rotations;
    for (int t = 0; t < h->tables; t++) {
        uint32_t code = 0;
        for (int j = 0; j < k; j++) {
            int c = t * k + j;
            float z = work[(size_t)(c % p) * R + c / p];
            code |= (uint32_t)(z > 0.0f) << j;
            if (margins)
                margins[(size_t)t * k + j] = fabsf(z);
        }
        codes[t] = code;
    }
}

int lsh_hasher_family(const lsh_hasher *h) { return h->family; }
int lsh_hasher_per_table(const lsh_hasher *h) { return h->per_table; }
int lsh_hasher_cp_dim(const lsh_hasher *h) { return h->cp_dim; }
int lsh_hasher_fn_bits(const lsh_hasher *h) { return h->fn_bits; }
size_t lsh_hasher_margin_floats(const lsh_hasher *h)
{
    if (h->family == LSH_CROSSPOLYTOPE)
        return (size_t)h->rotations * h->cp_dim;
    return (size_t)h->tables * h->k;
}

/* Cross-polytope bucket of z[0..m): the index i of the largest |z_i|, plus m
 * when z_i is negative, so buckets run over 0 .. 2m-1 (the Reformer's
 * argmax over [z; -z]). Ties go to the smaller index. */
int lsh_argmax_signed(const float *z, int m)
{
    int best = 0;
    float best_abs = -1.0f;
    for (int i = 0; i < m; i++) {
        float a = fabsf(z[i]);
        if (a > best_abs) {
            best_abs = a;
            best = i;
        }
    }
    return (m > 0 && z[best] < 0.0f) ? best + m : best;
}
