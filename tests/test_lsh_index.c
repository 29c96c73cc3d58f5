/*
 * test_lsh_index.c — the in-memory LSH index (query/lsh_index.c,
 * lsh_probe.c, lsh_exact.c) against direct computation:
 *   - every stored row sits in the bucket its hash says, in every table;
 *   - probe sequences are ordered by score, the score is the sum of squared
 *     margins of the flipped bits, and a full budget lists every bucket once;
 *   - probing every bucket equals exact search (and exact search equals a
 *     naive loop);
 *   - adds, removes and commits leave the same buckets and answers as a
 *     fresh build over the live vectors;
 *   - vector encodings round-trip and their dot products are the decoded ones.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "query/query.h"
#include "test_vecs.h"

static lsh_index *build(int dim, int K, int L, vecstore_encoding enc, const float *v, size_t n,
                        const int64_t *labels)
{
    lsh_params p;
    lsh_params_init(&p);
    p.k_bits = K;
    p.n_tables = L;
    p.encoding = enc;
    char err[256];
    lsh_index *ix = lsh_index_new(dim, &p, err, sizeof err);
    cr_assert_not_null(ix, "%s", err);
    cr_assert_eq(lsh_index_add(ix, n, labels, v, err, sizeof err), 0, "%s", err);
    cr_assert_eq(lsh_index_commit(ix, err, sizeof err), 0, "%s", err);
    return ix;
}

Test(lsh_index, buckets_match_direct_hashing)
{
    int dim = 24, K = 6, L = 4;
    size_t n = 500;
    float *v = test_unit_vecs(n, dim, 1);
    lsh_index *ix = build(dim, K, L, VECSTORE_F32, v, n, NULL);
    const lsh_hasher *h = lsh_index_hasher(ix);
    float *work = malloc(lsh_hasher_work_floats(h) * sizeof *work);
    uint32_t codes[4];
    size_t per_table[4] = {0};
    for (size_t r = 0; r < n; r++) {
        lsh_hasher_hash(h, v + r * dim, codes, NULL, work);
        for (int t = 0; t < L; t++) {
            size_t cnt;
            const uint32_t *rows = lsh_index_bucket(ix, t, codes[t], &cnt);
            int found = 0;
            for (size_t i = 0; i < cnt; i++)
                found |= rows[i] == r;
            cr_assert(found, "row %zu not in table %d bucket %u", r, t, codes[t]);
        }
    }
    for (int t = 0; t < L; t++)
        for (uint32_t c = 0; c < (1u << K); c++) {
            size_t cnt;
            const uint32_t *rows = lsh_index_bucket(ix, t, c, &cnt);
            for (size_t i = 1; i < cnt; i++)
                cr_assert_lt(rows[i - 1], rows[i]);
            per_table[t] += cnt;
        }
    for (int t = 0; t < L; t++)
        cr_assert_eq(per_table[t], n);   /* each row exactly once per table */
    free(work);
    free(v);
    lsh_index_free(ix);
}

Test(lsh_probe, ordered_scored_and_complete)
{
    int K = 5, L = 3, total = L << K;
    uint32_t codes[3] = {3, 17, 30};
    float margins[15];
    srand(4);
    for (int i = 0; i < 15; i++)
        margins[i] = (float)rand() / RAND_MAX;
    void *work = malloc(lsh_probe_work_bytes(L, K, total + 10));
    lsh_probe *out = malloc((size_t)(total + 10) * sizeof *out);
    int n = lsh_probe_sequence(codes, margins, L, K, total + 10, work, out);
    cr_assert_eq(n, total);
    int seen[3][32] = {{0}};
    for (int i = 0; i < n; i++) {
        int t = out[i].table;
        uint32_t diff = out[i].code ^ codes[t];
        double score = 0;
        for (int j = 0; j < K; j++)
            if (diff >> j & 1)
                score += (double)margins[t * K + j] * margins[t * K + j];
        cr_assert_float_eq(out[i].score, score, 1e-5);
        if (i > 0)
            cr_assert_geq(out[i].score, out[i - 1].score - 1e-6f);
        cr_assert_eq(seen[t][out[i].code], 0, "bucket listed twice");
        seen[t][out[i].code] = 1;
    }
    for (int t = 0; t < L; t++)
        cr_assert_eq(out[t].code, codes[t]);   /* home buckets first */
    /* a shorter budget is a prefix of the longer sequence */
    lsh_probe *out2 = malloc(20 * sizeof *out2);
    cr_assert_eq(lsh_probe_sequence(codes, margins, L, K, 20, work, out2), 20);
    for (int i = 0; i < 20; i++)
        cr_assert(out2[i].table == out[i].table && out2[i].code == out[i].code);
    free(out2);
    free(out);
    free(work);
}

Test(lsh_index, all_buckets_probed_equals_exact)
{
    int dim = 16, K = 4, L = 3, k = 10;
    size_t n = 800, nq = 20;
    float *v = test_unit_vecs(n, dim, 2), *q = test_unit_vecs(nq, dim, 3);
    lsh_index *ix = build(dim, K, L, VECSTORE_F32, v, n, NULL);
    lsh_scratch *s = lsh_scratch_new(ix);
    int64_t *exact = malloc(nq * k * sizeof *exact), naive[10];
    float *exact_s = malloc(nq * k * sizeof *exact_s);
    cr_assert_eq(lsh_exact_topk(v, n, dim, q, nq, k, NULL, exact, exact_s), 0);
    lsh_hit hits[10];
    for (size_t i = 0; i < nq; i++) {
        test_naive_topk(v, n, dim, q + i * dim, k, naive, NULL);
        lsh_search_stats st;
        int got = lsh_index_search(ix, s, q + i * dim, k, L << K, 0, hits, &st);
        cr_assert_eq(got, k);
        cr_assert_eq(st.candidates, n);
        for (int j = 0; j < k; j++) {
            cr_assert_eq(exact[i * k + j], naive[j], "query %zu rank %d", i, j);
            cr_assert_eq(hits[j].label, naive[j], "query %zu rank %d", i, j);
            cr_assert_float_eq(hits[j].score, exact_s[i * k + j], 1e-5);
        }
        /* home buckets only: a subset of the candidates, results still valid */
        got = lsh_index_search(ix, s, q + i * dim, k, L, 0, hits, &st);
        cr_assert_leq(st.candidates, n);
        for (int j = 1; j < got; j++)
            cr_assert_geq(hits[j - 1].score, hits[j].score);
    }
    free(v); free(q); free(exact); free(exact_s);
    lsh_scratch_free(s);
    lsh_index_free(ix);
}

/* Bucket contents as sorted label lists, for comparing two indexes. */
static void assert_same_buckets(const lsh_index *a, const lsh_index *b, int K, int L)
{
    int64_t la, lb;
    for (int t = 0; t < L; t++)
        for (uint32_t c = 0; c < (1u << K); c++) {
            size_t na, nb;
            const uint32_t *ra = lsh_index_bucket(a, t, c, &na);
            const uint32_t *rb = lsh_index_bucket(b, t, c, &nb);
            cr_assert_eq(na, nb, "table %d bucket %u: %zu vs %zu", t, c, na, nb);
            for (size_t i = 0; i < na; i++) {
                lsh_index_row(a, ra[i], &la, NULL);
                lsh_index_row(b, rb[i], &lb, NULL);
                cr_assert_eq(la, lb);
            }
        }
}

Test(lsh_index, add_remove_commit_equals_rebuild)
{
    int dim = 20, K = 5, L = 4, k = 8;
    size_t n = 600;
    float *v = test_unit_vecs(n, dim, 5);
    int64_t *labels = malloc(n * sizeof *labels);
    for (size_t i = 0; i < n; i++)
        labels[i] = 1000 + (int64_t)i * 3;
    lsh_params p;
    lsh_params_init(&p);
    p.k_bits = K;
    p.n_tables = L;
    char err[256];
    lsh_index *inc = lsh_index_new(dim, &p, err, sizeof err);
    /* three batches, removes in between, commits at two points */
    cr_assert_eq(lsh_index_add(inc, 200, labels, v, err, sizeof err), 0);
    cr_assert_eq(lsh_index_commit(inc, err, sizeof err), 0);
    cr_assert_eq(lsh_index_add(inc, 250, labels + 200, v + 200 * dim, err, sizeof err), 0);
    int removed[600] = {0};
    for (size_t i = 0; i < 450; i += 7) {
        cr_assert_eq(lsh_index_remove(inc, labels[i]), 0);
        removed[i] = 1;
    }
    cr_assert_eq(lsh_index_remove(inc, 5), -1);   /* no such label */
    cr_assert_eq(lsh_index_commit(inc, err, sizeof err), 0);
    cr_assert_eq(lsh_index_add(inc, 150, labels + 450, v + 450 * dim, err, sizeof err), 0);
    for (size_t i = 3; i < n; i += 11)
        if (!removed[i]) {
            cr_assert_eq(lsh_index_remove(inc, labels[i]), 0);
            removed[i] = 1;
        }

    /* the uncommitted state already answers like the live set */
    float *live = malloc(n * dim * sizeof *live);
    int64_t *live_labels = malloc(n * sizeof *live_labels);
    size_t n_live = 0;
    for (size_t i = 0; i < n; i++)
        if (!removed[i]) {
            memcpy(live + n_live * dim, v + i * dim, dim * sizeof *live);
            live_labels[n_live++] = labels[i];
        }
    cr_assert_eq(lsh_index_size(inc), n_live);
    lsh_index *fresh = build(dim, K, L, VECSTORE_F32, live, n_live, live_labels);
    lsh_scratch *s1 = lsh_scratch_new(inc), *s2 = lsh_scratch_new(fresh);
    float *q = test_unit_vecs(10, dim, 6);
    lsh_hit h1[8], h2[8];
    for (int i = 0; i < 10; i++) {
        int a = lsh_index_search(inc, s1, q + i * dim, k, L << K, 0, h1, NULL);
        int b = lsh_index_search(fresh, s2, q + i * dim, k, L << K, 0, h2, NULL);
        cr_assert_eq(a, b);
        for (int j = 0; j < a; j++)
            cr_assert_eq(h1[j].label, h2[j].label);
    }
    cr_assert_eq(lsh_index_commit(inc, err, sizeof err), 0);
    assert_same_buckets(inc, fresh, K, L);
    for (int i = 0; i < 10; i++) {
        int a = lsh_index_search(inc, s1, q + i * dim, k, 3 * L, 0, h1, NULL);
        int b = lsh_index_search(fresh, s2, q + i * dim, k, 3 * L, 0, h2, NULL);
        cr_assert_eq(a, b);
        for (int j = 0; j < a; j++)
            cr_assert_eq(h1[j].label, h2[j].label);
    }
    free(v); free(labels); free(live); free(live_labels); free(q);
    lsh_scratch_free(s1);
    lsh_scratch_free(s2);
    lsh_index_free(inc);
    lsh_index_free(fresh);
}

Test(vecstore, encodings_round_trip_and_dot)
{
    int dim = 37;
    float *v = test_unit_vecs(4, dim, 8), out[37];
    unsigned char row[4 * 37 + 8];
    vecstore_encoding encs[3] = {VECSTORE_F32, VECSTORE_F16, VECSTORE_I8};
    double tol[3] = {0, 1e-3, 0.5 / 127};
    for (int e = 0; e < 3; e++) {
        cr_assert_eq(vecstore_row_bytes(encs[e], dim) % 4, 0);
        cr_assert_eq(vecstore_encoding_parse(vecstore_encoding_name(encs[e])), (int)encs[e]);
        for (int r = 0; r < 4; r++) {
            const float *x = v + r * dim;
            vecstore_encode(encs[e], dim, x, row);
            vecstore_decode(encs[e], dim, row, out);
            float amax = 0;
            for (int i = 0; i < dim; i++) amax = fmaxf(amax, fabsf(x[i]));
            for (int i = 0; i < dim; i++)
                cr_assert(fabs(out[i] - x[i]) <= tol[e] * (e == 2 ? amax : fabs(x[i])) + 1e-7,
                          "%s [%d]: %f vs %f", vecstore_encoding_name(encs[e]), i, out[i], x[i]);
            const float *q = v + ((r + 1) % 4) * dim;
            double dot = 0;
            for (int i = 0; i < dim; i++) dot += (double)q[i] * out[i];
            cr_assert_float_eq(vecstore_dot(encs[e], dim, q, row), dot, 1e-5);
        }
    }
    cr_assert_eq(vecstore_f16_to_f32(vecstore_f32_to_f16(1.0f)), 1.0f);
    cr_assert_eq(vecstore_f16_to_f32(vecstore_f32_to_f16(-0.5f)), -0.5f);
    cr_assert_float_eq(vecstore_f16_to_f32(vecstore_f32_to_f16(3e-6f)), 3e-6f, 3e-8);
    cr_assert_eq(vecstore_encoding_parse("bogus"), -1);
    free(v);
}

/* An int8 index ranks by the stored (quantised) vectors: all-buckets search
 * equals the exact ranking over the decoded rows. */
Test(lsh_index, int8_index_rescoring_is_exact_over_stored_rows)
{
    int dim = 32, K = 3, L = 2, k = 5;
    size_t n = 300;
    float *v = test_unit_vecs(n, dim, 9), *dec = malloc(n * dim * sizeof *dec);
    lsh_index *ix = build(dim, K, L, VECSTORE_I8, v, n, NULL);
    for (size_t r = 0; r < n; r++)
        lsh_index_row(ix, r, NULL, dec + r * dim);
    lsh_scratch *s = lsh_scratch_new(ix);
    float *q = test_unit_vecs(5, dim, 10);
    int64_t naive[5];
    lsh_hit hits[5];
    for (int i = 0; i < 5; i++) {
        test_naive_topk(dec, n, dim, q + i * dim, k, naive, NULL);
        cr_assert_eq(lsh_index_search(ix, s, q + i * dim, k, L << K, 0, hits, NULL), k);
        for (int j = 0; j < k; j++)
            cr_assert_eq(hits[j].label, naive[j]);
    }
    cr_assert_lt(lsh_index_memory(ix), n * (dim + 8 + 8 * L) + (1u << 16));
    free(v); free(dec); free(q);
    lsh_scratch_free(s);
    lsh_index_free(ix);
}

/* Cross-polytope probes: with m = 4 (8 values, 3 bits per function) and two
 * functions, a full budget lists all 64 codes of each table once, in
 * non-decreasing score, score = sum over functions of v_max - v_chosen. */
Test(lsh_probe, crosspolytope_ordered_scored_and_complete)
{
    int L = 2, F = 2, m = 4, bits = 3, total = L * 64;
    float z[16];
    srand(12);
    for (int i = 0; i < 16; i++)
        z[i] = (float)rand() / RAND_MAX * 2.0f - 1.0f;
    uint32_t codes[2];
    for (int t = 0; t < L; t++) {
        codes[t] = 0;
        for (int f = 0; f < F; f++)
            codes[t] |= (uint32_t)lsh_argmax_signed(z + (t * F + f) * m, m) << (f * bits);
    }
    void *work = malloc(lsh_probe_xp_work_bytes(L, F, m, total + 5));
    lsh_probe *out = malloc((size_t)(total + 5) * sizeof *out);
    int n = lsh_probe_sequence_xp(codes, z, L, F, m, bits, total + 5, work, out);
    cr_assert_eq(n, total);
    int seen[2][64] = {{0}};
    for (int i = 0; i < n; i++) {
        int t = out[i].table;
        double score = 0;
        for (int f = 0; f < F; f++) {
            const float *zz = z + (t * F + f) * m;
            float vmax = -1e30f;
            for (int j = 0; j < 2 * m; j++)
                vmax = fmaxf(vmax, j < m ? zz[j] : -zz[j - m]);
            uint32_t b = (out[i].code >> (f * bits)) & 7u;
            score += vmax - (b < (uint32_t)m ? zz[b] : -zz[b - m]);
        }
        cr_assert_float_eq(out[i].score, score, 1e-5);
        if (i > 0)
            cr_assert_geq(out[i].score, out[i - 1].score - 1e-6f);
        cr_assert_eq(seen[t][out[i].code], 0, "code listed twice");
        seen[t][out[i].code] = 1;
    }
    cr_assert_eq(out[0].code, codes[0]);
    cr_assert_eq(out[1].code, codes[1]);
    free(work);
    free(out);
}

/* A cross-polytope index probing every bucket is exact search; buckets
 * match direct hashing. */
Test(lsh_index, crosspolytope_all_buckets_equals_exact)
{
    int dim = 8, k = 5;
    size_t n = 400;
    lsh_params p;
    lsh_params_init(&p);
    p.family = LSH_CROSSPOLYTOPE;
    p.per_table = 2;
    p.cp_dim = 4;
    p.n_tables = 3;
    char err[256];
    float *v = test_unit_vecs(n, dim, 13), *q = test_unit_vecs(6, dim, 14);
    lsh_index *ix = lsh_index_new(dim, &p, err, sizeof err);
    cr_assert_not_null(ix, "%s", err);
    cr_assert_eq(lsh_index_params(ix)->k_bits, 6);
    cr_assert_eq(lsh_index_add(ix, n, NULL, v, err, sizeof err), 0);
    cr_assert_eq(lsh_index_commit(ix, err, sizeof err), 0);
    const lsh_hasher *h = lsh_index_hasher(ix);
    float *work = malloc(lsh_hasher_work_floats(h) * sizeof *work);
    for (size_t r = 0; r < n; r += 17) {
        uint32_t codes[3];
        lsh_hasher_hash(h, v + r * dim, codes, NULL, work);
        for (int t = 0; t < 3; t++)
            cr_assert_eq(lsh_index_bucket_of(ix, t, r), (int64_t)codes[t]);
    }
    lsh_scratch *s = lsh_scratch_new(ix);
    lsh_hit hits[5];
    int64_t naive[5];
    for (int i = 0; i < 6; i++) {
        test_naive_topk(v, n, dim, q + i * dim, k, naive, NULL);
        lsh_search_stats st;
        cr_assert_eq(lsh_index_search(ix, s, q + i * dim, k, 3 * 64, 0, hits, &st), k);
        cr_assert_eq(st.candidates, n);
        for (int j = 0; j < k; j++)
            cr_assert_eq(hits[j].label, naive[j]);
    }
    free(work);
    free(v);
    free(q);
    lsh_scratch_free(s);
    lsh_index_free(ix);
}

/* The scratch's candidate limit stops probing after the bucket that reaches
 * it: fewer candidates than unlimited, never more than the limit plus one
 * bucket, and the results are still the best among what was gathered. */
Test(lsh_index, candidate_limit_bounds_the_scan)
{
    int dim = 16, K = 4, L = 4, k = 5;
    size_t n = 2000;
    float *v = test_unit_vecs(n, dim, 21), *q = test_unit_vecs(5, dim, 22);
    lsh_index *ix = build(dim, K, L, VECSTORE_F32, v, n, NULL);
    size_t biggest = 0;
    for (int t = 0; t < L; t++)
        for (uint32_t c = 0; c < (1u << K); c++) {
            size_t cnt;
            lsh_index_bucket(ix, t, c, &cnt);
            if (cnt > biggest)
                biggest = cnt;
        }
    lsh_scratch *s = lsh_scratch_new(ix);
    lsh_hit hits[5];
    for (int i = 0; i < 5; i++) {
        lsh_search_stats all, lim;
        lsh_scratch_set_limit(s, 0);
        cr_assert_eq(lsh_index_search(ix, s, q + i * dim, k, L << K, 0, hits, &all), k);
        cr_assert_eq(all.candidates, n);
        lsh_scratch_set_limit(s, 300);
        cr_assert_eq(lsh_index_search(ix, s, q + i * dim, k, L << K, 0, hits, &lim), k);
        cr_assert_geq(lim.candidates, 300);
        cr_assert_lt(lim.candidates, 300 + biggest);
        for (int j = 1; j < k; j++)
            cr_assert_geq(hits[j - 1].score, hits[j].score);
    }
    free(v);
    free(q);
    lsh_scratch_free(s);
    lsh_index_free(ix);
}
