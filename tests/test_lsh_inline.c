/*
 * test_lsh_inline.c — the inline-sketch layout of the LSH index
 * (lsh_params.inline_codes, query/lsh_index.c) and the installment probe
 * generator it uses (lsh_probe_xp_start / lsh_probe_xp_next):
 *   - with every bucket probed, 8-bit and 4-bit sketch layouts return the
 *     exact top-k (labels from a naive double-precision loop, scores equal
 *     to the exact re-scoring), for both hash families;
 *   - adds, removes and commits give the same answers as a fresh build;
 *     removed rows still in the buckets never come back;
 *   - the probe sequence made in installments of any size is the sequence
 *     made at once;
 *   - a candidate limit still bounds the scan; bad widths are refused;
 *   - a sketch score is exactly the integer dot product of the documented
 *     quantization (recomputed here from the floats, not from the bytes),
 *     and within the documented error of the true dot product.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "query/query.h"
#include "test_vecs.h"

static lsh_params inline_params(int family, int bits)
{
    lsh_params p;
    lsh_params_init(&p);
    p.inline_codes = bits;
    if (family == LSH_CROSSPOLYTOPE) {
        p.family = LSH_CROSSPOLYTOPE;
        p.per_table = 2;
        p.cp_dim = 4;           /* 6 bits per table */
        p.n_tables = 3;
    } else {
        p.k_bits = 5;
        p.n_tables = 3;
    }
    return p;
}

static lsh_index *build(int dim, const lsh_params *p, const float *v, size_t n,
                        const int64_t *labels)
{
    char err[256];
    lsh_index *ix = lsh_index_new(dim, p, err, sizeof err);
    cr_assert_not_null(ix, "%s", err);
    cr_assert_eq(lsh_index_add(ix, n, labels, v, err, sizeof err), 0, "%s", err);
    cr_assert_eq(lsh_index_commit(ix, err, sizeof err), 0, "%s", err);
    return ix;
}

static void check_exact(int family, int bits, int dim)
{
    const int k = 10;
    const size_t n = 1500, nq = 25;
    float *v = test_unit_vecs(n, dim, 40u + (unsigned)bits), *q = test_unit_vecs(nq, dim, 41);
    lsh_params p = inline_params(family, bits);
    lsh_index *ix = build(dim, &p, v, n, NULL);
    int all = p.n_tables << lsh_index_params(ix)->k_bits;
    lsh_scratch *s = lsh_scratch_new(ix);
    lsh_hit hits[10];
    int64_t ids[10];
    double scores[10];
    for (size_t i = 0; i < nq; i++) {
        test_naive_topk(v, n, dim, q + i * dim, k, ids, scores);
        lsh_search_stats st;
        cr_assert_eq(lsh_index_search(ix, s, q + i * dim, k, all, 0, hits, &st), k);
        cr_assert_eq(st.candidates, n * (size_t)p.n_tables,
                     "every entry of every table is sketch-scored once");
        for (int j = 0; j < k; j++) {
            cr_assert_eq(hits[j].label, ids[j], "family %d, %d bits, query %zu rank %d",
                         family, bits, i, j);
            cr_assert_float_eq(hits[j].score, (float)scores[j], 1e-5,
                               "scores are exact, not sketched");
        }
    }
    free(v);
    free(q);
    lsh_scratch_free(s);
    lsh_index_free(ix);
}

Test(lsh_inline, all_buckets_equals_exact_8bit)
{
    check_exact(LSH_CROSSPOLYTOPE, 8, 24);
    check_exact(LSH_HYPERPLANE, 8, 33);   /* a dimension that is no multiple of 32 */
}

Test(lsh_inline, all_buckets_equals_exact_4bit)
{
    check_exact(LSH_CROSSPOLYTOPE, 4, 24);
    check_exact(LSH_HYPERPLANE, 4, 37);   /* odd: the last code byte holds one value */
}

Test(lsh_inline, add_remove_commit_equals_rebuild)
{
    const int dim = 20, k = 8;
    const size_t n = 700;
    float *v = test_unit_vecs(n, dim, 50);
    int64_t *labels = malloc(n * sizeof *labels);
    for (size_t i = 0; i < n; i++)
        labels[i] = 5000 + (int64_t)i;
    lsh_params p = inline_params(LSH_CROSSPOLYTOPE, 4);
    char err[256];
    lsh_index *inc = lsh_index_new(dim, &p, err, sizeof err);
    cr_assert_not_null(inc, "%s", err);
    int removed[700] = {0};
    cr_assert_eq(lsh_index_add(inc, 300, labels, v, err, sizeof err), 0);
    cr_assert_eq(lsh_index_commit(inc, err, sizeof err), 0);
    cr_assert_eq(lsh_index_add(inc, 250, labels + 300, v + 300 * dim, err, sizeof err), 0);
    for (size_t i = 0; i < 550; i += 5) {
        cr_assert_eq(lsh_index_remove(inc, labels[i]), 0);
        removed[i] = 1;
    }
    cr_assert_eq(lsh_index_commit(inc, err, sizeof err), 0);
    cr_assert_eq(lsh_index_add(inc, 150, labels + 550, v + 550 * dim, err, sizeof err), 0);
    for (size_t i = 2; i < n; i += 13)
        if (!removed[i]) {
            cr_assert_eq(lsh_index_remove(inc, labels[i]), 0);
            removed[i] = 1;
        }
    cr_assert_eq(lsh_index_commit(inc, err, sizeof err), 0);

    float *live = malloc(n * dim * sizeof *live);
    int64_t *live_labels = malloc(n * sizeof *live_labels);
    size_t n_live = 0;
    for (size_t i = 0; i < n; i++)
        if (!removed[i]) {
            memcpy(live + n_live * dim, v + i * dim, dim * sizeof *live);
            live_labels[n_live++] = labels[i];
        }
    lsh_index *fresh = build(dim, &p, live, n_live, live_labels);
    float *q = test_unit_vecs(12, dim, 51);
    test_assert_same_answers(inc, fresh, q, 12, dim, k);
    free(v); free(labels); free(live); free(live_labels); free(q);
    lsh_index_free(inc);
    lsh_index_free(fresh);
}

/* Entries are scored before the seen bitmap is consulted, so tombstoned
 * rows still in the buckets, and rows found in every table, must still come
 * out once and only when live. */
Test(lsh_inline, removed_rows_never_returned_before_commit)
{
    const int dim = 24, k = 10;
    const size_t n = 1200;
    float *v = test_unit_vecs(n, dim, 70), *q = test_unit_vecs(15, dim, 71);
    lsh_params p = inline_params(LSH_CROSSPOLYTOPE, 4);
    lsh_index *ix = build(dim, &p, v, n, NULL);
    float *live = malloc(n * dim * sizeof *live);
    int64_t *ids_of = malloc(n * sizeof *ids_of);
    size_t n_live = 0;
    for (size_t i = 0; i < n; i++) {
        if (i % 3 == 0) {
            cr_assert_eq(lsh_index_remove(ix, (int64_t)i), 0);
            continue;
        }
        memcpy(live + n_live * dim, v + i * dim, dim * sizeof *live);
        ids_of[n_live++] = (int64_t)i;
    }
    int all = p.n_tables << lsh_index_params(ix)->k_bits;
    lsh_scratch *s = lsh_scratch_new(ix);
    lsh_hit hits[10];
    int64_t ids[10];
    for (int i = 0; i < 15; i++) {
        test_naive_topk(live, n_live, dim, q + i * dim, k, ids, NULL);
        cr_assert_eq(lsh_index_search(ix, s, q + i * dim, k, all, 0, hits, NULL), k);
        for (int j = 0; j < k; j++) {
            cr_assert_eq(hits[j].label, ids_of[ids[j]], "query %d rank %d", i, j);
            cr_assert_neq(hits[j].label % 3, 0);
        }
    }
    free(v);
    free(q);
    free(live);
    free(ids_of);
    lsh_scratch_free(s);
    lsh_index_free(ix);
}

Test(lsh_inline, candidate_limit_bounds_the_scan)
{
    const int dim = 16, k = 5;
    const size_t n = 2500;
    float *v = test_unit_vecs(n, dim, 60), *q = test_unit_vecs(6, dim, 61);
    lsh_params p = inline_params(LSH_HYPERPLANE, 4);
    p.k_bits = 4;
    lsh_index *ix = build(dim, &p, v, n, NULL);
    size_t biggest = 0;
    for (int t = 0; t < p.n_tables; t++)
        for (uint32_t c = 0; c < 16; c++) {
            size_t cnt;
            lsh_index_bucket(ix, t, c, &cnt);
            biggest = cnt > biggest ? cnt : biggest;
        }
    lsh_scratch *s = lsh_scratch_new(ix);
    lsh_hit hits[5];
    for (int i = 0; i < 6; i++) {
        lsh_search_stats st;
        lsh_scratch_set_limit(s, 400);
        cr_assert_eq(lsh_index_search(ix, s, q + i * dim, k, p.n_tables * 16, 0, hits, &st), k);
        cr_assert_geq(st.candidates, 400);
        cr_assert_lt(st.candidates, 400 + biggest);
        cr_assert_lt(st.probes, (size_t)p.n_tables * 16, "stopped before the last probe");
        for (int j = 1; j < k; j++)
            cr_assert_geq(hits[j - 1].score, hits[j].score);
    }
    free(v);
    free(q);
    lsh_scratch_free(s);
    lsh_index_free(ix);
}

Test(lsh_inline, bad_width_is_refused)
{
    lsh_params p;
    lsh_params_init(&p);
    p.inline_codes = 6;
    char err[256] = "";
    cr_assert_null(lsh_index_new(16, &p, err, sizeof err));
    cr_assert(strstr(err, "inline") != NULL, "%s", err);
}

/* Installments of any size concatenate to the sequence made at once. */
Test(lsh_probe, xp_installments_equal_whole_sequence)
{
    const int L = 5, F = 2, m = 8, bits = 4, max = 300;
    float z[5 * 2 * 8];
    srand(70);
    for (int i = 0; i < L * F * m; i++)
        z[i] = (float)rand() / RAND_MAX * 2.0f - 1.0f;
    uint32_t codes[5];
    for (int t = 0; t < L; t++) {
        codes[t] = 0;
        for (int f = 0; f < F; f++)
            codes[t] |= (uint32_t)lsh_argmax_signed(z + (t * F + f) * m, m) << (f * bits);
    }
    size_t wb = lsh_probe_xp_work_bytes(L, F, m, max);
    void *work = malloc(wb);
    lsh_probe *whole = malloc(max * sizeof *whole), *part = malloc(max * sizeof *part);
    int n = lsh_probe_sequence_xp(codes, z, L, F, m, bits, max, work, whole);
    cr_assert_eq(n, max);
    const int steps[] = {1, 2, 3, 7, 64, 299, 1000};
    for (size_t si = 0; si < sizeof steps / sizeof *steps; si++) {
        cr_assert_eq(lsh_probe_xp_start(codes, z, L, F, m, bits, max, work), 0);
        int got = 0, g;
        while ((g = lsh_probe_xp_next(work, steps[si], part + got)) > 0) {
            cr_assert_leq(g, steps[si]);
            got += g;
        }
        cr_assert_eq(got, n, "installments of %d", steps[si]);
        for (int i = 0; i < n; i++) {
            cr_assert_eq(part[i].table, whole[i].table, "step %d probe %d", steps[si], i);
            cr_assert_eq(part[i].code, whole[i].code, "step %d probe %d", steps[si], i);
            cr_assert_eq(part[i].score, whole[i].score);
        }
    }
    cr_assert_eq(lsh_probe_xp_start(codes, z, 0, F, m, bits, max, work), -1);
    cr_assert_eq(lsh_probe_xp_next(work, 5, part), 0, "a failed start yields nothing");
    free(work);
    free(whole);
    free(part);
}

/* The documented quantization, recomputed from the floats: c_j =
 * round(x_j * levels / amax). Returns scale = amax / levels. */
static float quantize(const float *x, int dim, float levels, int *c)
{
    float amax = 0.0f;
    for (int j = 0; j < dim; j++)
        amax = fmaxf(amax, fabsf(x[j]));
    for (int j = 0; j < dim; j++)
        c[j] = amax > 0.0f ? (int)lrintf(x[j] * (levels / amax)) : 0;
    return amax > 0.0f ? amax / levels : 0.0f;
}

static void check_sketch_scores(int bits, int dim, double max_err)
{
    enum { N = 400 };
    float *v = test_unit_vecs(N + 1, dim, 77u + (unsigned)dim);
    const float *q = v + (size_t)N * dim;
    size_t skb = lsh_sketch_bytes(dim, bits), span = lsh_sketch_span(skb);
    cr_assert_eq(skb % 8, 0);
    cr_assert(span % 32 == 0 && span >= skb && span < skb + 32);
    uint8_t *sk = calloc(span, 1);   /* the dot products read a span */
    int8_t *lo = malloc(span), *hi = malloc(span);
    int *cq = malloc(dim * sizeof *cq), *cx = malloc(dim * sizeof *cx);
    int32_t bias;
    float sq = lsh_sketch_query(bits, dim, skb, q, lo, hi, &bias);
    float sq_ref = quantize(q, dim, 127.0f, cq);
    cr_assert_eq(sq, sq_ref);
    double worst = 0.0;
    for (int i = 0; i < N; i++) {
        const float *x = v + (size_t)i * dim;
        lsh_sketch_encode(bits, dim, skb, x, sk);
        float sx = quantize(x, dim, bits == 4 ? 7.0f : 127.0f, cx);
        int64_t dot = 0;
        double truth = 0.0;
        for (int j = 0; j < dim; j++) {
            dot += (int64_t)cq[j] * cx[j];
            truth += (double)q[j] * x[j];
        }
        float got = lsh_sketch_score(bits, skb, lo, hi, bias, sk);
        cr_assert_eq(got, sx * (float)dot, "bits %d dim %d row %d: %g != %g * %lld", bits, dim,
                     i, got, sx, (long long)dot);
        double err = fabs((double)sq * got - truth);
        worst = err > worst ? err : worst;
    }
    cr_assert_lt(worst, max_err, "bits %d dim %d: worst error %g", bits, dim, worst);
    free(v);
    free(sk);
    free(lo);
    free(hi);
    free(cq);
    free(cx);
}

Test(lsh_sketch, scores_are_the_documented_integer_dot_products)
{
    static const int dims[] = {1, 7, 31, 60, 61, 100, 128, 300};
    for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++) {
        check_sketch_scores(8, dims[i], 0.01);
        check_sketch_scores(4, dims[i], 0.1);
    }
}
