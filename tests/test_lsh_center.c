/*
 * test_lsh_center.c — centred LSH indexes (lsh_params.center,
 * query/lsh_index.c): vectors are hashed and sketched as x - mu.
 *
 * The data here is anisotropic on purpose, a shared offset plus noise, the
 * way trained embeddings are; on isotropic random vectors the mean is near
 * zero and centring would change nothing a test could see.
 *   - mu is the mean of the first commit's rows and stays put after;
 *   - every row sits in the bucket of its own x - mu, hashed directly;
 *   - with every bucket probed, a centred index returns the exact top-k for
 *     both hash families and every layout, also with uncommitted rows in
 *     the tail (exactly scored, so sketch scores must be on their scale);
 *   - adds, removes and commits equal a fresh build given the same centre;
 *   - lsh_index_set_center is refused once rows are in the buckets.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "query/query.h"
#include "test_vecs.h"

/* n unit vectors: 1.5 * a fixed unit direction plus uniform noise, so their
 * mean is far from zero and q.mu is large for every query. */
static float *offset_vecs(size_t n, int dim, unsigned seed)
{
    float *dir = test_unit_vecs(1, dim, 7);
    float *v = test_unit_vecs(n, dim, seed);
    for (size_t i = 0; i < n; i++) {
        double ss = 0;
        for (int j = 0; j < dim; j++) {
            v[i * dim + j] += 1.5f * dir[j];
            ss += (double)v[i * dim + j] * v[i * dim + j];
        }
        for (int j = 0; j < dim; j++)
            v[i * dim + j] /= (float)sqrt(ss);
    }
    free(dir);
    return v;
}

static lsh_params center_params(int family, int inline_bits)
{
    lsh_params p;
    lsh_params_init(&p);
    p.center = 1;
    p.inline_codes = inline_bits;
    p.n_tables = 3;
    if (family == LSH_CROSSPOLYTOPE) {
        p.family = LSH_CROSSPOLYTOPE;
        p.per_table = 2;
        p.cp_dim = 4;
    } else {
        p.k_bits = 5;
    }
    return p;
}

Test(lsh_center, mean_of_first_commit_and_buckets_of_centred_vectors)
{
    const int dim = 24;
    const size_t n = 600;
    float *v = offset_vecs(n, dim, 11);
    lsh_params p = center_params(LSH_CROSSPOLYTOPE, 4);
    char err[256];
    lsh_index *ix = lsh_index_new(dim, &p, err, sizeof err);
    cr_assert_not_null(ix, "%s", err);
    cr_assert_eq(lsh_index_add(ix, n, NULL, v, err, sizeof err), 0, "%s", err);
    cr_assert_null(lsh_index_center(ix), "no centre before the first commit");
    cr_assert_eq(lsh_index_commit(ix, err, sizeof err), 0, "%s", err);
    const float *mu = lsh_index_center(ix);
    cr_assert_not_null(mu);
    double norm = 0;
    for (int j = 0; j < dim; j++) {
        double m = 0;
        for (size_t i = 0; i < n; i++)
            m += v[i * dim + j];
        m /= (double)n;
        cr_assert_float_eq(mu[j], m, 1e-6, "mu[%d]", j);
        norm += m * m;
    }
    cr_assert_gt(norm, 0.5, "the data must have a mean far from zero for this test to mean anything");

    const lsh_hasher *h = lsh_index_hasher(ix);
    float *work = malloc(lsh_hasher_work_floats(h) * sizeof *work);
    float x[24];
    uint32_t codes[3];
    int moved = 0;
    for (size_t r = 0; r < n; r++) {
        for (int j = 0; j < dim; j++)
            x[j] = v[r * dim + j] - mu[j];
        lsh_hasher_hash(h, x, codes, NULL, work);
        for (int t = 0; t < 3; t++)
            cr_assert_eq(lsh_index_bucket_of(ix, t, r), (int64_t)codes[t], "row %zu table %d", r, t);
        uint32_t raw[3];
        lsh_hasher_hash(h, v + r * dim, raw, NULL, work);
        moved += raw[0] != codes[0];
    }
    cr_assert_gt(moved, (int)n / 4, "centring must move rows to other buckets");

    /* A second commit keeps mu, although its rows have another mean. */
    float keep[24];
    memcpy(keep, mu, sizeof keep);
    float *w = test_unit_vecs(100, dim, 12);
    cr_assert_eq(lsh_index_add(ix, 100, NULL, w, err, sizeof err), 0, "%s", err);
    cr_assert_eq(lsh_index_commit(ix, err, sizeof err), 0, "%s", err);
    cr_assert_arr_eq(lsh_index_center(ix), keep, sizeof keep);
    for (size_t r = n; r < n + 100; r++) {
        for (int j = 0; j < dim; j++)
            x[j] = w[(r - n) * dim + j] - keep[j];
        lsh_hasher_hash(h, x, codes, NULL, work);
        for (int t = 0; t < 3; t++)
            cr_assert_eq(lsh_index_bucket_of(ix, t, r), (int64_t)codes[t]);
    }
    free(work);
    free(v);
    free(w);
    lsh_index_free(ix);
}

/* Every bucket probed: the exact top-k. n_tail rows stay uncommitted. */
static void check_exact(int family, int inline_bits, int dim, size_t n_tail)
{
    const int k = 10;
    const size_t n = 1200, nq = 20;
    float *v = offset_vecs(n + n_tail, dim, 20u + (unsigned)inline_bits);
    float *q = offset_vecs(nq, dim, 21);
    lsh_params p = center_params(family, inline_bits);
    char err[256];
    lsh_index *ix = lsh_index_new(dim, &p, err, sizeof err);
    cr_assert_not_null(ix, "%s", err);
    cr_assert_eq(lsh_index_add(ix, n, NULL, v, err, sizeof err), 0, "%s", err);
    cr_assert_eq(lsh_index_commit(ix, err, sizeof err), 0, "%s", err);
    cr_assert_eq(lsh_index_add(ix, n_tail, NULL, v + n * dim, err, sizeof err), 0, "%s", err);
    int all = p.n_tables << lsh_index_params(ix)->k_bits;
    lsh_scratch *s = lsh_scratch_new(ix);
    lsh_hit hits[10];
    int64_t ids[10];
    double scores[10];
    int from_tail = 0;
    for (size_t i = 0; i < nq; i++) {
        test_naive_topk(v, n + n_tail, dim, q + i * dim, k, ids, scores);
        lsh_search_stats st;
        cr_assert_eq(lsh_index_search(ix, s, q + i * dim, k, all, 0, hits, &st), k);
        size_t per_row = inline_bits ? (size_t)p.n_tables : 1;   /* entries vs distinct rows */
        cr_assert_eq(st.candidates, n * per_row + n_tail, "every candidate counted once");
        for (int j = 0; j < k; j++) {
            cr_assert_eq(hits[j].label, ids[j], "family %d, layout %d, query %zu rank %d",
                         family, inline_bits, i, j);
            cr_assert_float_eq(hits[j].score, (float)scores[j], 1e-5);
            from_tail += ids[j] >= (int64_t)n;
        }
    }
    if (n_tail)   /* else the tail never competed with the sketches */
        cr_assert_gt(from_tail, 0);
    free(v);
    free(q);
    lsh_scratch_free(s);
    lsh_index_free(ix);
}

Test(lsh_center, all_buckets_equals_exact)
{
    static const int layouts[] = {0, 8, 4};
    for (int i = 0; i < 3; i++) {
        check_exact(LSH_CROSSPOLYTOPE, layouts[i], 24, 0);
        check_exact(LSH_HYPERPLANE, layouts[i], 37, 0);
    }
}

Test(lsh_center, tail_and_sketches_share_one_scale)
{
    check_exact(LSH_CROSSPOLYTOPE, 4, 24, 400);
    check_exact(LSH_HYPERPLANE, 8, 33, 400);
}

Test(lsh_center, add_remove_commit_equals_fresh_build_with_its_centre)
{
    const int dim = 20, k = 8;
    const size_t n = 700;
    float *v = offset_vecs(n, dim, 30);
    int64_t labels[700];
    for (size_t i = 0; i < n; i++)
        labels[i] = 9000 + (int64_t)i;
    lsh_params p = center_params(LSH_CROSSPOLYTOPE, 4);
    char err[256];
    lsh_index *inc = lsh_index_new(dim, &p, err, sizeof err);
    cr_assert_not_null(inc, "%s", err);
    int removed[700] = {0};
    cr_assert_eq(lsh_index_add(inc, 300, labels, v, err, sizeof err), 0);
    for (size_t i = 0; i < 300; i += 7) {   /* removed before the first commit: not in mu */
        cr_assert_eq(lsh_index_remove(inc, labels[i]), 0);
        removed[i] = 1;
    }
    cr_assert_eq(lsh_index_commit(inc, err, sizeof err), 0);
    cr_assert_eq(lsh_index_add(inc, 400, labels + 300, v + 300 * dim, err, sizeof err), 0);
    for (size_t i = 3; i < n; i += 11)
        if (!removed[i]) {
            cr_assert_eq(lsh_index_remove(inc, labels[i]), 0);
            removed[i] = 1;
        }
    cr_assert_eq(lsh_index_commit(inc, err, sizeof err), 0);

    float mu[20] = {0};
    size_t first = 0;
    for (size_t i = 0; i < 300; i++)
        if (i % 7 != 0) {   /* the rows removed before the first commit */
            first++;
            for (int j = 0; j < dim; j++)
                mu[j] += v[i * dim + j];
        }
    for (int j = 0; j < dim; j++)
        cr_assert_float_eq(lsh_index_center(inc)[j], mu[j] / first, 1e-5);

    float *live = malloc(n * dim * sizeof *live);
    int64_t live_labels[700];
    size_t n_live = 0;
    for (size_t i = 0; i < n; i++)
        if (!removed[i]) {
            memcpy(live + n_live * dim, v + i * dim, dim * sizeof *live);
            live_labels[n_live++] = labels[i];
        }
    lsh_params fp = p;
    fp.center = 0;   /* the centre comes from inc, not from these rows */
    lsh_index *fresh = lsh_index_new(dim, &fp, err, sizeof err);
    cr_assert_eq(lsh_index_set_center(fresh, lsh_index_center(inc), err, sizeof err), 0, "%s", err);
    cr_assert_eq(lsh_index_add(fresh, n_live, live_labels, live, err, sizeof err), 0);
    cr_assert_eq(lsh_index_commit(fresh, err, sizeof err), 0);

    float *q = offset_vecs(12, dim, 31);
    test_assert_same_answers(inc, fresh, q, 12, dim, k);
    free(v);
    free(live);
    free(q);
    lsh_index_free(inc);
    lsh_index_free(fresh);
}

Test(lsh_center, set_center_only_before_rows_are_bucketed)
{
    const int dim = 8;
    float *v = offset_vecs(50, dim, 40);
    float mu[8] = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f, 0.7f, 0.8f};
    lsh_params p = center_params(LSH_HYPERPLANE, 0);
    p.center = 0;
    char err[256];
    lsh_index *ix = lsh_index_new(dim, &p, err, sizeof err);
    cr_assert_eq(lsh_index_set_center(ix, NULL, err, sizeof err), -1);
    cr_assert_eq(lsh_index_set_center(ix, mu, err, sizeof err), 0, "%s", err);
    cr_assert_arr_eq(lsh_index_center(ix), mu, sizeof mu);
    cr_assert_eq(lsh_index_add(ix, 50, NULL, v, err, sizeof err), 0);
    cr_assert_eq(lsh_index_commit(ix, err, sizeof err), 0);
    cr_assert_eq(lsh_index_set_center(ix, mu, err, sizeof err), -1);
    cr_assert(strstr(err, "already"), "%s", err);
    cr_assert_arr_eq(lsh_index_center(ix), mu, sizeof mu, "a refused call changes nothing");
    free(v);
    lsh_index_free(ix);
}
