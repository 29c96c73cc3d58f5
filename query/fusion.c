/*
 * fusion.c — merging the BM25 and vector rankings of a hybrid search.
 *
 * Two methods, both over documents (each list holds a document once, with
 * its best chunk):
 *
 *   RRF     score = sum over the lists a document is in of 1 / (k + rank),
 *           rank 1-based, k = 60 by default (Cormack et al. 2009). It uses
 *           ranks only, so it needs no calibration — but it gives both lists
 *           equal say, which hurts when one side is much weaker.
 *   LINEAR  score = (1 - alpha) norm(bm25) + alpha norm(cos), each side
 *           min-max normalised over its own list: (x - min) / (max - min),
 *           1 when every score of the list is equal; a document missing from
 *           a list gets 0 on that side. alpha weighs the vector side.
 *
 * With a weak dense model (USE-lite) the measured default is LINEAR with a
 * small alpha (docs/lsh.md, "Fusion"): the vector side then only reorders
 * documents whose BM25 scores are close. Results rank by fused score
 * descending, then document id ascending, like every ranking in lctx.
 */
#include <stdlib.h>
#include <string.h>

#include "query/query.h"

static int cmp_doc(const void *x, const void *y)
{
    const fused_hit *a = x, *b = y;
    return a->doc < b->doc ? -1 : a->doc > b->doc;
}

static int cmp_score(const void *x, const void *y)
{
    const fused_hit *a = x, *b = y;
    if (a->score != b->score)
        return a->score > b->score ? -1 : 1;
    return a->doc < b->doc ? -1 : a->doc > b->doc;
}

/* The union of both lists, one entry per document, raw scores and ranks. */
static int merge(const bm25_hit *a, size_t na, const bm25_hit *b, size_t nb, fused_hit **out,
                 size_t *n)
{
    *out = NULL;
    *n = 0;
    fused_hit *f = calloc(na + nb ? na + nb : 1, sizeof *f);
    if (!f)
        return -1;
    for (size_t i = 0; i < na; i++) {
        f[i].doc = a[i].doc;
        f[i].chunk = a[i].chunk;
        f[i].bm25 = a[i].score;
        f[i].rank_bm25 = (int)i + 1;
    }
    for (size_t i = 0; i < nb; i++) {
        f[na + i].doc = b[i].doc;
        f[na + i].chunk = b[i].chunk;
        f[na + i].vec = b[i].score;
        f[na + i].rank_vec = (int)i + 1;
    }
    qsort(f, na + nb, sizeof *f, cmp_doc);
    size_t m = 0;
    for (size_t i = 0; i < na + nb; i++) {
        if (m > 0 && f[m - 1].doc == f[i].doc) {
            fused_hit *d = &f[m - 1];
            if (f[i].rank_bm25) { /* keep BM25's chunk: its snippet shows the terms */
                d->bm25 = f[i].bm25;
                d->rank_bm25 = f[i].rank_bm25;
                d->chunk = f[i].chunk;
            }
            if (f[i].rank_vec) {
                d->vec = f[i].vec;
                d->rank_vec = f[i].rank_vec;
            }
            continue;
        }
        f[m++] = f[i];
    }
    *out = f;
    *n = m;
    return 0;
}

int fusion_rrf(const bm25_hit *a, size_t na, const bm25_hit *b, size_t nb, int rrf_k,
               fused_hit **out, size_t *n)
{
    if (rrf_k <= 0)
        rrf_k = 60;
    if (merge(a, na, b, nb, out, n))
        return -1;
    for (size_t i = 0; i < *n; i++) {
        fused_hit *f = &(*out)[i];
        f->score = 0;
        if (f->rank_bm25)
            f->score += 1.0 / (rrf_k + f->rank_bm25);
        if (f->rank_vec)
            f->score += 1.0 / (rrf_k + f->rank_vec);
    }
    qsort(*out, *n, sizeof **out, cmp_score);
    return 0;
}

static void min_max(const bm25_hit *h, size_t n, double *lo, double *hi)
{
    *lo = *hi = n ? h[0].score : 0;
    for (size_t i = 1; i < n; i++) {
        if (h[i].score < *lo)
            *lo = h[i].score;
        if (h[i].score > *hi)
            *hi = h[i].score;
    }
}

static double norm(double x, double lo, double hi)
{
    return hi > lo ? (x - lo) / (hi - lo) : 1.0;
}

int fusion_linear(const bm25_hit *a, size_t na, const bm25_hit *b, size_t nb, double alpha,
                  fused_hit **out, size_t *n)
{
    if (alpha < 0)
        alpha = 0;
    if (alpha > 1)
        alpha = 1;
    double alo, ahi, blo, bhi;
    min_max(a, na, &alo, &ahi);
    min_max(b, nb, &blo, &bhi);
    if (merge(a, na, b, nb, out, n))
        return -1;
    for (size_t i = 0; i < *n; i++) {
        fused_hit *f = &(*out)[i];
        f->nbm25 = f->rank_bm25 ? norm(f->bm25, alo, ahi) : 0.0;
        f->nvec = f->rank_vec ? norm(f->vec, blo, bhi) : 0.0;
        f->score = (1.0 - alpha) * f->nbm25 + alpha * f->nvec;
    }
    qsort(*out, *n, sizeof **out, cmp_score);
    return 0;
}
