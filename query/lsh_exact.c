/*
 * lsh_exact.c — exact top-k by cosine similarity with OpenBLAS sgemm: the
 * ground truth that tuning and the tests measure LSH against, and the
 * brute-force baseline of the benchmark.
 *
 * For a block of queries Q (qb x d) and a block of base rows B (bb x d), one
 * sgemm computes S = Q B^T (qb x bb), every similarity of the block at the
 * BLAS's full FLOP rate; each query then keeps its best k in a min-heap. The
 * blocks (64 queries x 8192 rows = 2 MiB of scores) keep S in cache between
 * the sgemm and the heap scan. Vectors are assumed L2-normalised, so the dot
 * product is the cosine.
 */
#include "query/query.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>

enum { EXACT_QB = 64, EXACT_BB = 8192 };

typedef struct exact_hit {
    float score;
    int64_t id;
} exact_hit;

/* a ranks below b: lower score, ties by larger id (so ranking is by score
 * descending, then id ascending, as lsh_index_search ranks). */
static int exact_worse(exact_hit a, exact_hit b)
{
    return a.score < b.score || (a.score == b.score && a.id > b.id);
}

static void exact_offer(exact_hit *heap, int *n, int k, exact_hit h)
{
    int i;
    if (*n < k) {
        i = (*n)++;
        while (i > 0 && exact_worse(h, heap[(i - 1) / 2])) {
            heap[i] = heap[(i - 1) / 2];
            i = (i - 1) / 2;
        }
        heap[i] = h;
        return;
    }
    if (!exact_worse(heap[0], h))
        return;
    i = 0;
    for (;;) {
        int c = 2 * i + 1;
        if (c >= *n)
            break;
        if (c + 1 < *n && exact_worse(heap[c + 1], heap[c]))
            c++;
        if (!exact_worse(heap[c], h))
            break;
        heap[i] = heap[c];
        i = c;
    }
    heap[i] = h;
}

static int cmp_exact_desc(const void *a, const void *b)
{
    exact_hit x = *(const exact_hit *)a, y = *(const exact_hit *)b;
    return exact_worse(x, y) ? 1 : exact_worse(y, x) ? -1 : 0;
}

int lsh_exact_topk(const float *base, size_t n, int dim, const float *queries, size_t nq,
                   int k, const int64_t *skip_self, int64_t *ids, float *scores)
{
    if (k < 1 || dim < 1 || blas_ready(NULL, 0))
        return -1;
    float *S = malloc((size_t)EXACT_QB * EXACT_BB * sizeof *S);
    exact_hit *heaps = malloc((size_t)EXACT_QB * k * sizeof *heaps);
    int *fill = malloc(EXACT_QB * sizeof *fill);
    if (!S || !heaps || !fill) {
        free(S);
        free(heaps);
        free(fill);
        return -1;
    }
    for (size_t q0 = 0; q0 < nq; q0 += EXACT_QB) {
        int qb = (int)(nq - q0 < EXACT_QB ? nq - q0 : EXACT_QB);
        memset(fill, 0, EXACT_QB * sizeof *fill);
        for (size_t b0 = 0; b0 < n; b0 += EXACT_BB) {
            int bb = (int)(n - b0 < EXACT_BB ? n - b0 : EXACT_BB);
            /* S[qb x bb] = Q[qb x d] * B[bb x d]^T */
            blas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, qb, bb, dim, 1.0f,
                       queries + q0 * dim, dim, base + b0 * dim, dim, 0.0f, S, bb);
            for (int i = 0; i < qb; i++) {
                const float *row = S + (size_t)i * bb;
                int64_t self = skip_self ? skip_self[q0 + i] : -1;
                exact_hit *heap = heaps + (size_t)i * k;
                for (int j = 0; j < bb; j++) {
                    exact_hit h = {row[j], (int64_t)(b0 + j)};
                    if (h.id == self)
                        continue;
                    /* cheap reject before the heap call: most rows lose */
                    if (fill[i] == k && !exact_worse(heap[0], h))
                        continue;
                    exact_offer(heap, &fill[i], k, h);
                }
            }
        }
        for (int i = 0; i < qb; i++) {
            exact_hit *heap = heaps + (size_t)i * k;
            qsort(heap, (size_t)fill[i], sizeof *heap, cmp_exact_desc);
            for (int j = 0; j < k; j++) {
                ids[(q0 + i) * k + j] = j < fill[i] ? heap[j].id : -1;
                if (scores)
                    scores[(q0 + i) * k + j] = j < fill[i] ? heap[j].score : 0.0f;
            }
        }
    }
    free(S);
    free(heaps);
    free(fill);
    return 0;
}
