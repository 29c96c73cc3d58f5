/*
 * lsh_tune.c — picks K (bits per table), L (tables) and the probe budget for
 * a target recall@k, from the collection's own vectors.
 *
 * Why measure instead of using the LSH formulas: the textbook collision
 * probabilities assume a known distance to the neighbours, but what matters
 * is the distribution of neighbour angles in this collection (word vectors
 * and sentence embeddings differ a lot), and the cost of a query is a mix of
 * hashing, probing and re-scoring whose weights depend on the machine. So:
 *
 *   1. draw n_queries rows as queries; ground truth is their exact top-k
 *      among the other rows (lsh_exact.c, OpenBLAS);
 *   2. for each K of the grid (cross-polytope by default: two functions of
 *      K/2 bits per table; or hyperplanes), build one index with max_tables tables. The
 *      first L tables of an index are exactly an L-table index with the same
 *      seed (table t hashes with rotated coordinates t*K .. t*K+K-1 whatever
 *      L is), so searching with `tables = L` evaluates L = max/4, max/2, max
 *      without rebuilding;
 *   3. for each (K, L), find the smallest probe budget reaching the target
 *      (doubling, then bisection; recall grows with the budget because the
 *      probe sequence for a larger budget extends the smaller one), and time
 *      the queries at that budget, single thread;
 *   4. keep the fastest; report its measured recall and time.
 *
 * The measured recall is on the sample used for tuning; the test suite checks
 * it holds on held-out queries.
 */
#include "query/query.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const int default_bits[] = {12, 14, 16, 18, 0};
static const int default_bits_xp[] = {12, 14, 16, 0};

void lsh_tune_opts_init(lsh_tune_opts *o)
{
    memset(o, 0, sizeof *o);
    o->target_recall = 0.95;
    o->k = 10;
    o->n_queries = 200;
    o->max_tables = 64;
    o->bits = NULL;
    o->seed = 0x6c6374786c7368ull;
    o->encoding = VECSTORE_F32;
    o->family = LSH_CROSSPOLYTOPE;
}

/* Index parameters for K bits of the tuned family: hyperplanes take K as
 * is; cross-polytope uses two functions of K/2 bits, cp_dim = 2^(K/2 - 1). */
static void family_params(const lsh_tune_opts *o, int bits, lsh_params *p)
{
    lsh_params_init(p);
    p->k_bits = bits;
    p->seed = o->seed;
    p->encoding = o->encoding;
    if (o->family == LSH_CROSSPOLYTOPE) {
        p->family = LSH_CROSSPOLYTOPE;
        p->per_table = 2;
        p->cp_dim = 1 << (bits / 2 - 1);
    }
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void tune_err(char *err, size_t errlen, const char *msg)
{
    if (err && errlen)
        snprintf(err, errlen, "%s", msg);
}

/* Everything one evaluation needs. */
typedef struct tune_ctx {
    const lsh_index *ix;
    lsh_scratch *s;
    const float *queries;   /* nq x dim, normalised */
    const int64_t *self;    /* row of each query */
    const int64_t *truth;   /* nq x k */
    int nq, k, dim;
    lsh_hit *hits;          /* k + 1 */
} tune_ctx;

/* Mean recall@k of the sample at (tables, probes); *seconds = total time;
 * *cand = mean candidates. The query's own row is dropped from its answers,
 * so k + 1 are asked for. -1 on failure. */
static double evaluate(tune_ctx *c, int tables, int probes, double *seconds, double *cand)
{
    size_t found_total = 0, cand_total = 0;
    double t0 = now_seconds();
    for (int q = 0; q < c->nq; q++) {
        lsh_search_stats st;
        int n = lsh_index_search(c->ix, c->s, c->queries + (size_t)q * c->dim, c->k + 1,
                                 probes, tables, c->hits, &st);
        if (n < 0)
            return -1.0;
        cand_total += st.candidates;
        const int64_t *gt = c->truth + (size_t)q * c->k;
        int kept = 0;
        for (int i = 0; i < n && kept < c->k; i++) {
            if (c->hits[i].label == c->self[q])
                continue;
            kept++;
            for (int j = 0; j < c->k; j++)
                if (gt[j] == c->hits[i].label) {
                    found_total++;
                    break;
                }
        }
    }
    *seconds = now_seconds() - t0;
    *cand = (double)cand_total / c->nq;
    return (double)found_total / ((double)c->nq * c->k);
}

/* Smallest budget in [tables, cap] reaching target (or cap); returns its
 * recall, sets *probes. */
static double smallest_budget(tune_ctx *c, int tables, double target, size_t n, int *probes)
{
    double secs, cand;
    int lo = tables, hi = tables;
    double r = evaluate(c, tables, hi, &secs, &cand);
    const int cap = tables * 256;
    while (r >= 0 && r < target && hi < cap && cand < 0.5 * (double)n) {
        lo = hi;
        hi *= 2;
        r = evaluate(c, tables, hi, &secs, &cand);
    }
    if (r < target) {
        *probes = hi;
        return r;
    }
    double r_hi = r;
    while (hi - lo > tables / 4 + 1) {   /* bisection to within ~L/4 probes */
        int mid = lo + (hi - lo) / 2;
        double rm = evaluate(c, tables, mid, &secs, &cand);
        if (rm >= target) {
            hi = mid;
            r_hi = rm;
        } else {
            lo = mid;
        }
    }
    *probes = hi;
    return r_hi;
}

/* Draws nq distinct rows (partial Fisher-Yates with an LCG; deterministic). */
static int64_t *sample_rows(size_t n, int nq, uint64_t seed)
{
    uint32_t *perm = malloc(n * sizeof *perm);
    int64_t *rows = malloc((size_t)nq * sizeof *rows);
    if (!perm || !rows) {
        free(perm);
        free(rows);
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        perm[i] = (uint32_t)i;
    uint64_t x = seed | 1;
    for (int i = 0; i < nq; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        size_t j = i + (size_t)((x >> 33) % (n - (size_t)i));
        uint32_t tmp = perm[i];
        perm[i] = perm[j];
        perm[j] = tmp;
        rows[i] = perm[i];
    }
    free(perm);
    return rows;
}

static float *normalised_copy(const float *v, size_t n, int dim)
{
    float *out = malloc(n * (size_t)dim * sizeof *out);
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        const float *x = v + i * dim;
        double ss = 0.0;
        for (int j = 0; j < dim; j++)
            ss += (double)x[j] * x[j];
        float inv = ss > 0.0 ? (float)(1.0 / sqrt(ss)) : 0.0f;
        for (int j = 0; j < dim; j++)
            out[i * dim + j] = x[j] * inv;
    }
    return out;
}

/* Tries every L of the grid on one built index; updates best / fallback. */
static void tune_tables(tune_ctx *c, const lsh_tune_opts *o, int bits, size_t n,
                        double build_s, lsh_tune_result *best, lsh_tune_result *most)
{
    for (int L = o->max_tables / 4 > 0 ? o->max_tables / 4 : 1; L <= o->max_tables; L *= 2) {
        int probes;
        double r = smallest_budget(c, L, o->target_recall, n, &probes);
        if (r < 0)
            return;
        double secs, cand;
        r = evaluate(c, L, probes, &secs, &cand);   /* timed at the chosen budget */
        double us = secs * 1e6 / c->nq;
        lsh_tune_result cur;
        memset(&cur, 0, sizeof cur);
        family_params(o, bits, &cur.params);
        cur.params.n_tables = L;
        cur.params.probes = probes;
        cur.recall = r;
        cur.query_us = us;
        cur.build_seconds = build_s * L / o->max_tables;
        int tried = best->configs_tried + 1;
        if (r >= o->target_recall && (best->params.k_bits == 0 || us < best->query_us))
            *best = cur;
        if (most->params.k_bits == 0 || r > most->recall)
            *most = cur;
        best->configs_tried = tried;
        if (L == o->max_tables)
            break;
    }
}

int lsh_tune(int dim, size_t n, const float *vecs, const lsh_tune_opts *opts,
             lsh_tune_result *out, char *err, size_t errlen)
{
    lsh_tune_opts o;
    if (opts)
        o = *opts;
    else
        lsh_tune_opts_init(&o);
    if (!vecs || !out || dim < 1 || o.k < 1 || o.max_tables < 1 || o.n_queries < 1) {
        tune_err(err, errlen, "lsh_tune: bad arguments");
        return -1;
    }
    if (n < (size_t)o.k + 2) {
        tune_err(err, errlen, "lsh_tune: too few vectors to tune on");
        return -1;
    }
    if ((size_t)o.n_queries > n / 2)
        o.n_queries = (int)(n / 2);
    const int *bits = o.bits ? o.bits : o.family == LSH_CROSSPOLYTOPE ? default_bits_xp : default_bits;
    memset(out, 0, sizeof *out);
    lsh_tune_result most;
    memset(&most, 0, sizeof most);

    float *base = normalised_copy(vecs, n, dim);
    int64_t *self = sample_rows(n, o.n_queries, o.seed);
    int64_t *truth = malloc((size_t)o.n_queries * o.k * sizeof *truth);
    float *queries = malloc((size_t)o.n_queries * dim * sizeof *queries);
    lsh_hit *hits = malloc(((size_t)o.k + 1) * sizeof *hits);
    int rc = (base && self && truth && queries && hits) ? 0 : -1;
    if (rc == 0) {
        for (int q = 0; q < o.n_queries; q++)
            memcpy(queries + (size_t)q * dim, base + (size_t)self[q] * dim, (size_t)dim * sizeof *queries);
        rc = lsh_exact_topk(base, n, dim, queries, (size_t)o.n_queries, o.k, self, truth, NULL);
    }
    if (rc != 0)
        tune_err(err, errlen, "lsh_tune: out of memory");

    for (int b = 0; rc == 0 && bits[b]; b++) {
        if (o.family == LSH_CROSSPOLYTOPE && (bits[b] % 2 || bits[b] < 4))
            continue;   /* two functions of K/2 >= 2 bits each */
        lsh_params p;
        family_params(&o, bits[b], &p);
        p.n_tables = o.max_tables;
        double t0 = now_seconds();
        lsh_index *ix = lsh_index_new(dim, &p, err, errlen);
        if (!ix || lsh_index_add(ix, n, NULL, base, err, errlen) != 0 ||
            lsh_index_commit(ix, err, errlen) != 0) {
            lsh_index_free(ix);
            rc = -1;
            break;
        }
        double build_s = now_seconds() - t0;
        lsh_scratch *s = lsh_scratch_new(ix);
        if (!s) {
            lsh_index_free(ix);
            tune_err(err, errlen, "lsh_tune: out of memory");
            rc = -1;
            break;
        }
        tune_ctx c = {ix, s, queries, self, truth, o.n_queries, o.k, dim, hits};
        tune_tables(&c, &o, bits[b], n, build_s, out, &most);
        lsh_scratch_free(s);
        lsh_index_free(ix);
    }
    int tried = out->configs_tried;
    if (rc == 0 && out->params.k_bits == 0) {
        *out = most;          /* nothing reached the target: the most accurate */
        out->configs_tried = tried;
        rc = 1;
    }
    free(base);
    free(self);
    free(truth);
    free(queries);
    free(hits);
    return rc;
}
