/*
 * test_vecs.h — random unit vectors and a naive exact top-k, the reference
 * the LSH tests (test_lsh_index.c, test_lsh_inline.c) compare against.
 *
 * The top-k is a double-precision loop over every vector, deliberately
 * independent of lsh_exact.c (which uses OpenBLAS sgemm). With random floats
 * there are no ties. Also: the check that two indexes answer alike.
 */
#ifndef LCTX_TEST_VECS_H
#define LCTX_TEST_VECS_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

/* n uniform random vectors in [-1, 1]^dim, each scaled to unit length. */
static inline float *test_unit_vecs(size_t n, int dim, unsigned seed)
{
    float *v = malloc(n * dim * sizeof *v);
    srand(seed);
    for (size_t i = 0; i < n * dim; i++)
        v[i] = (float)rand() / RAND_MAX * 2.0f - 1.0f;
    for (size_t i = 0; i < n; i++) {
        double ss = 0;
        for (int j = 0; j < dim; j++) ss += (double)v[i * dim + j] * v[i * dim + j];
        for (int j = 0; j < dim; j++) v[i * dim + j] /= (float)sqrt(ss);
    }
    return v;
}

/* ids[0..k) (and scores, when not NULL) of the k best dot products with q,
 * best first. */
static inline void test_naive_topk(const float *base, size_t n, int dim, const float *q, int k,
                                   int64_t *ids, double *scores)
{
    double *best = malloc(k * sizeof *best);
    for (int j = 0; j < k; j++) { best[j] = -1e30; ids[j] = -1; }
    for (size_t i = 0; i < n; i++) {
        double s = 0;
        for (int d = 0; d < dim; d++) s += (double)base[i * dim + d] * q[d];
        int j = k - 1;
        if (s <= best[j]) continue;
        while (j > 0 && best[j - 1] < s) { best[j] = best[j - 1]; ids[j] = ids[j - 1]; j--; }
        best[j] = s;
        ids[j] = (int64_t)i;
    }
    for (int j = 0; scores && j < k; j++)
        scores[j] = best[j];
    free(best);
}

/* Two indexes that should hold the same buckets and sketches answer every
 * query alike at partial budgets (3, 12, 48 probes): same candidates, same
 * labels, same scores, not only the same exact top-k (k <= 16). Needs
 * criterion.h and query/query.h included first. */
static inline void test_assert_same_answers(const lsh_index *a, const lsh_index *b,
                                            const float *q, int nq, int dim, int k)
{
    lsh_scratch *s1 = lsh_scratch_new(a), *s2 = lsh_scratch_new(b);
    lsh_hit h1[16], h2[16];
    for (int budget = 3; budget <= 48; budget *= 4)
        for (int i = 0; i < nq; i++) {
            lsh_search_stats a1, a2;
            int na = lsh_index_search(a, s1, q + i * dim, k, budget, 0, h1, &a1);
            int nb = lsh_index_search(b, s2, q + i * dim, k, budget, 0, h2, &a2);
            cr_assert_eq(na, nb);
            cr_assert_eq(a1.candidates, a2.candidates);
            for (int j = 0; j < na; j++) {
                cr_assert_eq(h1[j].label, h2[j].label, "budget %d query %d rank %d", budget, i, j);
                cr_assert_eq(h1[j].score, h2[j].score);
            }
        }
    lsh_scratch_free(s1);
    lsh_scratch_free(s2);
}

#endif
