/*
 * test_lsh_tune.c — auto-tuning (query/lsh_tune.c): the parameters it picks
 * reach the target recall@10 on held-out queries (not the tuning sample),
 * measured against exact search, and it reports the recall it measured.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

#include "query/query.h"

/* Points around 60 random centres (spread 0.35 per unit-variance axis,
 * normalised): neighbourhoods of varying tightness, like real embeddings. */
static float *clustered(size_t n, int dim, unsigned seed)
{
    srand(77);
    float *centres = malloc(60 * (size_t)dim * sizeof *centres);
    for (int i = 0; i < 60 * dim; i++)
        centres[i] = (float)rand() / RAND_MAX * 2.0f - 1.0f;
    srand(seed);
    float *v = malloc(n * dim * sizeof *v);
    for (size_t i = 0; i < n; i++) {
        int c = rand() % 60;
        double ss = 0;
        for (int j = 0; j < dim; j++) {
            float noise = ((float)rand() / RAND_MAX * 2.0f - 1.0f) * 0.35f * 1.7f;
            v[i * dim + j] = centres[c * dim + j] + noise;
            ss += (double)v[i * dim + j] * v[i * dim + j];
        }
        for (int j = 0; j < dim; j++)
            v[i * dim + j] /= (float)sqrt(ss);
    }
    free(centres);
    return v;
}

/* Tunes for recall 0.9 over the given family and K grid, then checks the
 * chosen index on held-out queries. */
static void tune_and_check(int family, const int *bits)
{
    int dim = 32, k = 10;
    size_t n = 4000, nq = 150;
    float *base = clustered(n, dim, 1), *queries = clustered(nq, dim, 2);
    lsh_tune_opts o;
    lsh_tune_opts_init(&o);
    o.target_recall = 0.9;
    o.n_queries = 120;
    o.max_tables = 8;
    o.family = family;
    o.bits = bits;
    lsh_tune_result r;
    char err[256] = "";
    int rc = lsh_tune(dim, n, base, &o, &r, err, sizeof err);
    cr_assert_eq(rc, 0, "rc %d: %s", rc, err);
    cr_assert_geq(r.recall, 0.9);
    cr_assert(r.params.k_bits == bits[0] || r.params.k_bits == bits[1], "K %d", r.params.k_bits);
    cr_assert_eq(r.params.family, family);
    cr_assert(r.params.n_tables >= 2 && r.params.n_tables <= 8);
    cr_assert_geq(r.params.probes, r.params.n_tables);
    cr_assert_gt(r.configs_tried, 1);

    lsh_index *ix = lsh_index_new(dim, &r.params, err, sizeof err);
    cr_assert_not_null(ix);
    cr_assert_eq(lsh_index_add(ix, n, NULL, base, err, sizeof err), 0);
    cr_assert_eq(lsh_index_commit(ix, err, sizeof err), 0);
    lsh_scratch *s = lsh_scratch_new(ix);
    int64_t *truth = malloc(nq * k * sizeof *truth);
    cr_assert_eq(lsh_exact_topk(base, n, dim, queries, nq, k, NULL, truth, NULL), 0);
    lsh_hit hits[10];
    size_t found = 0;
    for (size_t q = 0; q < nq; q++) {
        int got = lsh_index_search(ix, s, queries + q * dim, k, 0, 0, hits, NULL);
        for (int i = 0; i < got; i++)
            for (int j = 0; j < k; j++)
                found += hits[i].label == truth[q * k + j];
    }
    double recall = (double)found / (nq * k);
    /* held-out recall within sampling error (120 queries) of the target */
    cr_assert_geq(recall, 0.87, "held-out recall %.3f (tuned %.3f, K=%d L=%d probes=%d)",
                  recall, r.recall, r.params.k_bits, r.params.n_tables, r.params.probes);
    free(truth);
    lsh_scratch_free(s);
    lsh_index_free(ix);
    free(base);
    free(queries);
}

Test(lsh_tune, hyperplane_tuning_meets_target_on_held_out_queries, .timeout = 60)
{
    static const int bits[] = {6, 9, 0};
    tune_and_check(LSH_HYPERPLANE, bits);
}

/* Cross-polytope: K = 6 is two functions over 4 coordinates, K = 8 over 8. */
Test(lsh_tune, crosspolytope_tuning_meets_target_on_held_out_queries, .timeout = 60)
{
    static const int bits[] = {6, 8, 0};
    tune_and_check(LSH_CROSSPOLYTOPE, bits);
}

Test(lsh_tune, unreachable_target_returns_most_accurate)
{
    int dim = 16;
    size_t n = 500;
    float *base = clustered(n, dim, 3);
    lsh_tune_opts o;
    lsh_tune_opts_init(&o);
    o.target_recall = 1.01;   /* impossible */
    o.n_queries = 30;
    o.max_tables = 2;
    static const int bits[] = {4, 0};
    o.bits = bits;
    o.family = LSH_HYPERPLANE;
    lsh_tune_result r;
    char err[256];
    cr_assert_eq(lsh_tune(dim, n, base, &o, &r, err, sizeof err), 1);
    cr_assert_eq(r.params.k_bits, 4);
    cr_assert(r.recall > 0.0 && r.recall <= 1.0);
    cr_assert_eq(lsh_tune(dim, 5, base, &o, &r, err, sizeof err), -1);
    free(base);
}
