/*
 * test_lsh_hash.c — the structured-rotation hasher (attention/lsh_hash.c)
 * against direct computation: the Walsh-Hadamard transform against the
 * explicit matrix, rotations are orthonormal, codes and margins are the signs
 * and magnitudes of the rotated coordinates, and bit collisions follow
 * SimHash's 1 - theta/pi.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

#include "attention/attention.h"

static float *random_vec(int n, unsigned seed)
{
    float *v = malloc((size_t)n * sizeof *v);
    srand(seed);
    for (int i = 0; i < n; i++)
        v[i] = (float)rand() / RAND_MAX * 2.0f - 1.0f;
    return v;
}

/* H[i][j] = (-1)^popcount(i & j). */
Test(lsh_hash, fwht_matches_hadamard_matrix)
{
    int p = 64;
    float *x = random_vec(p, 1), *y = malloc(p * sizeof *y);
    for (int i = 0; i < p; i++)
        y[i] = x[i];
    lsh_fwht(y, p);
    for (int i = 0; i < p; i++) {
        double acc = 0.0;
        for (int j = 0; j < p; j++)
            acc += (__builtin_popcount((unsigned)(i & j)) & 1 ? -1.0 : 1.0) * x[j];
        cr_assert_float_eq(y[i], acc, 1e-4, "row %d: %f vs %f", i, y[i], acc);
    }
    free(x);
    free(y);
}

/* Columns of the rotation (images of basis vectors) are orthonormal. */
Test(lsh_hash, rotation_is_orthonormal)
{
    int dim = 100;
    lsh_hasher *h = lsh_hasher_new(dim, 16, 8, 42, NULL, 0);
    cr_assert_not_null(h);
    int p = lsh_hasher_padded_dim(h);
    cr_assert_eq(p, 128);
    cr_assert_eq(lsh_hasher_rotations(h), 1);
    float *cols = malloc((size_t)dim * p * sizeof *cols);
    float *e = calloc(dim, sizeof *e);
    for (int i = 0; i < dim; i++) {
        e[i] = 1.0f;
        lsh_hasher_rotate(h, 0, e, cols + (size_t)i * p);
        e[i] = 0.0f;
    }
    for (int i = 0; i < dim; i += 7)
        for (int j = 0; j < dim; j += 5) {
            double dot = 0.0;
            for (int r = 0; r < p; r++)
                dot += (double)cols[(size_t)i * p + r] * cols[(size_t)j * p + r];
            cr_assert_float_eq(dot, i == j ? 1.0 : 0.0, 1e-5, "(%d,%d) = %f", i, j, dot);
        }
    /* linearity: rotate(x) = sum_i x_i col_i */
    float *x = random_vec(dim, 3), *z = malloc(p * sizeof *z);
    lsh_hasher_rotate(h, 0, x, z);
    for (int r = 0; r < p; r++) {
        double acc = 0.0;
        for (int i = 0; i < dim; i++)
            acc += (double)x[i] * cols[(size_t)i * p + r];
        cr_assert_float_eq(z[r], acc, 1e-4);
    }
    free(cols);
    free(e);
    free(x);
    free(z);
    lsh_hasher_free(h);
}

/* Table t bit j = [coordinate t*K + j of the rotations laid end to end > 0],
 * margin = its absolute value; 3 tables of 48 bits span 2 rotations of 64. */
Test(lsh_hash, codes_and_margins_are_signs_of_rotations)
{
    int dim = 50, K = 20, L = 5;   /* p = 64, R = ceil(100/64) = 2 */
    lsh_hasher *h = lsh_hasher_new(dim, K, L, 7, NULL, 0);
    cr_assert_not_null(h);
    int p = lsh_hasher_padded_dim(h), R = lsh_hasher_rotations(h);
    cr_assert_eq(R, 2);
    float *x = random_vec(dim, 9);
    float *z = malloc((size_t)R * p * sizeof *z);
    for (int r = 0; r < R; r++)
        lsh_hasher_rotate(h, r, x, z + (size_t)r * p);
    float *work = malloc(lsh_hasher_work_floats(h) * sizeof *work);
    uint32_t codes[5];
    float margins[5 * 20];
    lsh_hasher_hash(h, x, codes, margins, work);
    for (int t = 0; t < L; t++)
        for (int j = 0; j < K; j++) {
            float c = z[t * K + j];
            cr_assert_eq((codes[t] >> j) & 1, c > 0.0f ? 1u : 0u, "table %d bit %d", t, j);
            cr_assert_float_eq(margins[t * K + j], fabsf(c), 1e-6);
        }
    /* codes without margins are the same */
    uint32_t codes2[5];
    lsh_hasher_hash(h, x, codes2, NULL, work);
    for (int t = 0; t < L; t++)
        cr_assert_eq(codes[t], codes2[t]);
    free(x);
    free(z);
    free(work);
    lsh_hasher_free(h);
}

/* Two unit vectors at angle theta agree on a bit with probability
 * 1 - theta/pi; over 64 tables x 16 bits = 1024 bits and 40 pairs the mean
 * agreement is within 0.03 of it. Different seeds give different codes. */
Test(lsh_hash, collision_rate_follows_angle)
{
    int dim = 64, K = 16, L = 64;
    lsh_hasher *h = lsh_hasher_new(dim, K, L, 11, NULL, 0);
    lsh_hasher *h2 = lsh_hasher_new(dim, K, L, 12, NULL, 0);
    float *work = malloc(lsh_hasher_work_floats(h) * sizeof *work);
    uint32_t ca[64], cb[64], cc[64];
    double thetas[] = {0.3, 0.8, 1.4};
    for (int ti = 0; ti < 3; ti++) {
        double theta = thetas[ti], agree = 0.0, total = 0.0;
        for (int pair = 0; pair < 40; pair++) {
            /* a, and b = cos(theta) a + sin(theta) u with u orthogonal to a */
            float *a = random_vec(dim, 100 + pair), *u = random_vec(dim, 500 + pair);
            double na = 0, au = 0, nu = 0;
            for (int i = 0; i < dim; i++) na += (double)a[i] * a[i];
            for (int i = 0; i < dim; i++) a[i] /= (float)sqrt(na);
            for (int i = 0; i < dim; i++) au += (double)a[i] * u[i];
            for (int i = 0; i < dim; i++) u[i] -= (float)au * a[i];
            for (int i = 0; i < dim; i++) nu += (double)u[i] * u[i];
            float b[64];
            for (int i = 0; i < dim; i++)
                b[i] = (float)(cos(theta) * a[i] + sin(theta) * u[i] / sqrt(nu));
            lsh_hasher_hash(h, a, ca, NULL, work);
            lsh_hasher_hash(h, b, cb, NULL, work);
            for (int t = 0; t < L; t++) {
                agree += K - __builtin_popcount(ca[t] ^ cb[t]);
                total += K;
            }
            free(a);
            free(u);
        }
        double expect = 1.0 - theta / M_PI;
        cr_assert(fabs(agree / total - expect) < 0.03, "theta %.1f: %.3f vs %.3f",
                  theta, agree / total, expect);
    }
    float *x = random_vec(dim, 5);
    lsh_hasher_hash(h, x, ca, NULL, work);
    lsh_hasher_hash(h2, x, cc, NULL, work);
    int same = 0;
    for (int t = 0; t < L; t++)
        same += ca[t] == cc[t];
    cr_assert_lt(same, 4);
    free(x);
    free(work);
    lsh_hasher_free(h);
    lsh_hasher_free(h2);
}

Test(lsh_hash, argmax_signed_and_bad_arguments)
{
    float z[4] = {0.1f, -0.9f, 0.5f, 0.9f};
    cr_assert_eq(lsh_argmax_signed(z, 4), 5);   /* |-0.9| first, negative: 1 + 4 */
    float w[3] = {0.2f, 0.7f, -0.3f};
    cr_assert_eq(lsh_argmax_signed(w, 3), 1);
    char err[128] = "";
    cr_assert_null(lsh_hasher_new(0, 8, 4, 1, err, sizeof err));
    cr_assert_neq(err[0], '\0');
    cr_assert_null(lsh_hasher_new(10, 33, 4, 1, err, sizeof err));
    cr_assert_null(lsh_hasher_new(10, 8, 0, 1, err, sizeof err));
}

/* Cross-polytope: function f of table t is the signed argmax of the first m
 * coordinates of rotation t*F + f, packed at f*log2(2m) bits; the margins
 * are those coordinates. */
Test(lsh_hash, crosspolytope_codes_are_signed_argmax_of_rotations)
{
    int dim = 40, F = 3, m = 16, L = 5;   /* p = 64, 5 bits per function */
    char err[128];
    lsh_hasher *h = lsh_hasher_new_xp(dim, F, m, L, 21, err, sizeof err);
    cr_assert_not_null(h, "%s", err);
    cr_assert_eq(lsh_hasher_family(h), LSH_CROSSPOLYTOPE);
    cr_assert_eq(lsh_hasher_bits(h), 15);
    cr_assert_eq(lsh_hasher_rotations(h), L * F);
    cr_assert_eq(lsh_hasher_margin_floats(h), (size_t)L * F * m);
    float *x = random_vec(dim, 31), z[64];
    float *work = malloc(lsh_hasher_work_floats(h) * sizeof *work);
    float *zs = malloc(lsh_hasher_margin_floats(h) * sizeof *zs);
    uint32_t codes[5];
    lsh_hasher_hash(h, x, codes, zs, work);
    for (int t = 0; t < L; t++)
        for (int f = 0; f < F; f++) {
            lsh_hasher_rotate(h, t * F + f, x, z);
            int best = 0;
            for (int i = 1; i < m; i++)
                if (fabsf(z[i]) > fabsf(z[best]))
                    best = i;
            uint32_t want = (uint32_t)(z[best] < 0 ? best + m : best);
            cr_assert_eq((codes[t] >> (5 * f)) & 31u, want, "table %d function %d", t, f);
            for (int i = 0; i < m; i++)
                cr_assert_float_eq(zs[(t * F + f) * m + i], z[i], 1e-5);
        }
    cr_assert_null(lsh_hasher_new_xp(dim, 2, 12, 4, 1, err, sizeof err));   /* not a power of two */
    cr_assert_null(lsh_hasher_new_xp(dim, 2, 128, 4, 1, err, sizeof err));  /* > padded dim */
    cr_assert_null(lsh_hasher_new_xp(dim, 7, 16, 4, 1, err, sizeof err));   /* 35 bits */
    free(x);
    free(work);
    free(zs);
    lsh_hasher_free(h);
}
