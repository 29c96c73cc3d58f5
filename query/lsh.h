/*
 * lsh.h — the in-memory LSH vector index: multi-probe querying with exact
 * re-scoring, and auto-tuning of its parameters.
 *
 *   query/lsh_index.c  vectors + L tables of K-bit buckets (CSR arrays),
 *                      incremental add/remove, search
 *   query/lsh_probe.c  query-directed probe sequences (least confident bits
 *                      flipped first), across all tables
 *   query/lsh_tune.c   picks K, L and the probe budget for a target recall
 *
 * Vectors are compared by cosine similarity: they are L2-normalised on the
 * way in and scores are dot products. Hashing is attention/lsh_hash.c;
 * vector encodings are store/vecstore.h. Internal header (prefix lsh_).
 *
 * Threads: searches may run concurrently with each other, each with its own
 * lsh_scratch; add/remove/commit need exclusive access (one writer).
 */
#ifndef LCTX_LSH_H
#define LCTX_LSH_H

#include <stddef.h>
#include <stdint.h>

#include "attention/attention.h"
#include "store/vecstore.h"

#define LSH_MAX_BITS 24   /* CSR offsets are 2^K + 1 per table */

typedef struct lsh_params {
    int k_bits;           /* bits per table (1..LSH_MAX_BITS), default 16 */
    int n_tables;         /* L, default 32 */
    int probes;           /* default probe budget: buckets looked at over all
                             tables, home buckets included (>= L); default 4L */
    uint64_t seed;        /* rotations; default fixed */
    vecstore_encoding encoding; /* stored vectors, default VECSTORE_F32 */
    int family;           /* LSH_HYPERPLANE (default) or LSH_CROSSPOLYTOPE */
    int per_table;        /* cross-polytope: functions per table (1..4) */
    int cp_dim;           /* cross-polytope: coordinates per function (power of
                             two); k_bits is then per_table * log2(2 cp_dim) */
} lsh_params;

void lsh_params_init(lsh_params *p);

typedef struct lsh_index lsh_index;
typedef struct lsh_scratch lsh_scratch;

typedef struct lsh_hit {
    int64_t label;        /* the caller's id (a chunk id) */
    float score;          /* cosine similarity against the stored vector */
} lsh_hit;

typedef struct lsh_search_stats {
    size_t probes;        /* buckets probed */
    size_t candidates;    /* distinct vectors re-scored */
} lsh_search_stats;

lsh_index *lsh_index_new(int dim, const lsh_params *p, char *err, size_t errlen);
void lsh_index_free(lsh_index *ix);

/* Adds n vectors (row-major n x dim; normalised on the way in) with labels
 * (NULL: labels are the running row numbers 0, 1, ...). Labels should be
 * unique; remove deletes the first match. New rows go to a tail that searches
 * scan exhaustively until the next commit, which merges them into the bucket
 * arrays (add commits by itself when the tail grows past 1/16 of the index).
 * Returns 0, or -1 with err set. */
int lsh_index_add(lsh_index *ix, size_t n, const int64_t *labels, const float *vecs,
                  char *err, size_t errlen);
/* Removes the vector with this label: a tombstone at once (searches skip it),
 * its bucket entries at the next commit. 0, or -1 when there is no such label. */
int lsh_index_remove(lsh_index *ix, int64_t label);
/* Merges the tail and drops removed rows from the buckets. 0, or -1 (memory). */
int lsh_index_commit(lsh_index *ix, char *err, size_t errlen);

size_t lsh_index_size(const lsh_index *ix);      /* live vectors */
int lsh_index_dim(const lsh_index *ix);
const lsh_params *lsh_index_params(const lsh_index *ix);
size_t lsh_index_memory(const lsh_index *ix);    /* bytes held */
/* Committed bucket of row `row` in table t as code, or -1 when the row is
 * not in that table's buckets (tail or removed). For tests. */
int64_t lsh_index_bucket_of(const lsh_index *ix, int t, size_t row);
/* The row's label, its stored vector decoded into out[dim]. For tests/tools. */
int lsh_index_row(const lsh_index *ix, size_t row, int64_t *label, float *out);
size_t lsh_index_rows(const lsh_index *ix);      /* rows ever added */
/* Committed rows of bucket `code` of table t (ascending; removed rows stay
 * until commit); *count their number. For tests and the LMDB mirror. */
const uint32_t *lsh_index_bucket(const lsh_index *ix, int t, uint32_t code, size_t *count);
const lsh_hasher *lsh_index_hasher(const lsh_index *ix);
/* 1 when row was removed. */
int lsh_index_is_removed(const lsh_index *ix, size_t row);

lsh_scratch *lsh_scratch_new(const lsh_index *ix);
void lsh_scratch_free(lsh_scratch *s);
/* Stop probing once this many candidates were gathered (0 = no limit, the
 * default): bounds the cost of queries that land in crowded buckets. */
void lsh_scratch_set_limit(lsh_scratch *s, size_t max_candidates);

/* Top-k by cosine similarity among the candidates found by probing `probes`
 * buckets (0 = the index default) over the first `tables` tables (0 = all).
 * out has room for k hits, sorted by descending score (ties: ascending label);
 * returns the number found (<= k), or -1 when the scratch is too small for
 * the index (make a new one after adds). stats may be NULL. */
int lsh_index_search(const lsh_index *ix, lsh_scratch *s, const float *query, int k,
                     int probes, int tables, lsh_hit *out, lsh_search_stats *stats);

/* ------------------------------------------------------------ lsh_probe.c
 * Query-directed multi-probe (Lv et al. 2007). A probe flips a set of bits of
 * one table's home code; its score is the sum of the squared margins of the
 * flipped bits, an estimate of how unlikely a neighbour lies across them.
 * lsh_probe_sequence writes, in order of increasing score over all tables, up
 * to max_probes (table, code) pairs, home buckets (score 0) first. */
typedef struct lsh_probe {
    int table;
    uint32_t code;
    float score;
} lsh_probe;

/* margins: tables*k floats from lsh_hasher_hash (table t's bits at t*k).
 * work: lsh_probe_work_bytes(tables, k, max_probes) bytes, 8-aligned, owned
 * by the caller. Returns the number of probes written (<= max_probes; fewer
 * only when every bucket of every table was listed). */
size_t lsh_probe_work_bytes(int tables, int k, int max_probes);
int lsh_probe_sequence(const uint32_t *codes, const float *margins, int tables, int k,
                       int max_probes, void *work, lsh_probe *out);

/* Cross-polytope tables (lsh_hasher_new_xp): z = the rotated coordinates
 * from lsh_hasher_hash (margins), fn_bits = lsh_hasher_fn_bits; at most 4
 * functions per table and 4096 functions in all. Same output contract. */
size_t lsh_probe_xp_work_bytes(int tables, int per_table, int cp_dim, int max_probes);
int lsh_probe_sequence_xp(const uint32_t *codes, const float *z, int tables, int per_table,
                          int cp_dim, int fn_bits, int max_probes, void *work, lsh_probe *out);

/* ------------------------------------------------------------ lsh_tune.c */
typedef struct lsh_tune_opts {
    double target_recall; /* recall@k to reach, default 0.95 */
    int k;                /* default 10 */
    int n_queries;        /* sample of the collection used as queries, default 200 */
    int max_tables;       /* largest L tried, default 64 */
    const int *bits;      /* K values tried (0-terminated), NULL = 12,14,16,18
                             (hyperplanes) or 12,14,16 (cross-polytope) */
    int family;           /* default LSH_CROSSPOLYTOPE: two functions per table,
                             K bits = 2 * log2(2 cp_dim), so K must be even */
    uint64_t seed;
    vecstore_encoding encoding;
} lsh_tune_opts;

typedef struct lsh_tune_result {
    lsh_params params;    /* chosen K, L, probes (probes = default budget) */
    double recall;        /* measured recall@k at those parameters */
    double query_us;      /* measured mean query time, one thread */
    double build_seconds; /* of the chosen index */
    int configs_tried;
} lsh_tune_result;

void lsh_tune_opts_init(lsh_tune_opts *o);
/* Picks the fastest (K, L, probes) reaching the target recall on a sample of
 * the n vectors themselves used as queries (each query's own row excluded
 * from its ground truth and its answers), ground truth by exact search.
 * When nothing tried reaches the target, returns the most accurate setting
 * and 1 (so the caller can warn); 0 on success; -1 with err set on failure. */
int lsh_tune(int dim, size_t n, const float *vecs, const lsh_tune_opts *opts,
             lsh_tune_result *out, char *err, size_t errlen);

/* Exact top-k of each of nq queries over n base vectors (both row-major,
 * assumed normalised) by OpenBLAS sgemm in blocks; ids[nq*k], scores may be
 * NULL. Rows equal to skip_self[i] (when skip_self is not NULL) are excluded
 * for query i. Returns 0 or -1 (memory). */
int lsh_exact_topk(const float *base, size_t n, int dim, const float *queries, size_t nq,
                   int k, const int64_t *skip_self, int64_t *ids, float *scores);

#endif /* LCTX_LSH_H */
