/*
 * query.h — the keyword read path: query parsing, BM25 top-k (block-max
 * WAND over chunks, document = best chunk), exhaustive reference scoring,
 * the query's document constraints (constrain.c), snippets and
 * explanations.
 *
 * Internal header of the query/ module. Prefixes: query_ (parsing and the
 * search driver), bm25_ (scoring and top-k), snippet_.
 */
#ifndef LCTX_QUERY_H
#define LCTX_QUERY_H

#include <stddef.h>
#include <stdint.h>

#include "attention/attention.h"
#include "indexer/indexer.h"
#include "store/store.h"

/* ------------------------------------------------------ parsing (parse.c) */
typedef struct query_term {
    char *term;              /* normalised (folded, stemmed) */
    uint32_t len;
    double weight;           /* occurrences in the query */
    int required;            /* appears in a phrase */
    uint32_t group;          /* an expansion of prefixes[group - 1]; 0: a word */
} query_term;

/* A prefix pattern ("turb*"): its terms are the dictionary's terms that
 * start with it, added by query_expand_prefixes (prefix.c). */
typedef struct query_prefix {
    char *prefix;            /* normalised like a term */
    uint32_t len;
    double weight;           /* occurrences in the query */
    char **alt;              /* more prefixes of the same group (parse.c) */
    size_t n_alt;
    int required;            /* +word*: a document must hold one of its terms */
    char **all;              /* required: every term of the pattern (prefix.c) */
    size_t n_all;
} query_prefix;

/* A phrase: its normalised terms at positions relative to the first. */
typedef struct query_phrase {
    char **word;
    uint32_t *offset;
    size_t n;
} query_phrase;

typedef struct query_parsed {
    query_term *terms;       /* as many as the query has (no limit) */
    size_t n_terms;
    char **excluded;         /* normalised terms after '-' */
    size_t n_excluded;
    query_phrase *phrases;   /* required: only phrases of 2+ terms */
    size_t n_phrases;
    query_phrase *xphrases;  /* excluded (-"..."): only phrases of 2+ terms */
    size_t n_xphrases;
    int stopwords_only;      /* words were given but all were stopwords or too long */
    uint32_t too_long;       /* words dropped as longer than the tokenizer's limit */
    int only_too_long;       /* words were given but all were too long */
    int exclusions_only;     /* no words were given, only -words or -"phrases" */
    char **title;            /* title:word, its terms: also required */
    size_t n_title;
    char **xtitle;           /* -title:word, its terms */
    size_t n_xtitle;
    query_prefix *prefixes;  /* word* patterns */
    size_t n_prefixes;
    query_prefix *xprefixes; /* -word* patterns: every term of each is excluded */
    size_t n_xprefixes;
    int expanded;            /* query_expand_prefixes has run */
} query_parsed;

/* Parses q with tokenizer t. LCTX_OK, LCTX_EINVAL (bad UTF-8) or
 * LCTX_ENOMEM; err gets a message. */
int query_parse(tok_tokenizer *t, const char *q, query_parsed *out, char *err, size_t errlen);
void query_parsed_free(query_parsed *q);
/* The parsed query as JSON (malloc'd). */
char *query_parsed_json(const query_parsed *q, const char *message);

/* ------------------------------------------------ prefix queries (prefix.c) */
/* Most terms one prefix expands to: those of the highest document
 * frequency. */
#define QUERY_PREFIX_TERMS 64
/* Most terms an excluded or required prefix may match: all of them
 * count, so a shorter prefix is refused rather than cut. */
#define QUERY_XPREFIX_TERMS 4096
/* Adds each prefix's terms from the index (once per query), every term
 * of each excluded prefix to the excluded terms, and every term of each
 * required prefix to its `all`. LCTX_OK, or an error status set on db
 * (LCTX_EINVAL: an excluded or required prefix matches more than
 * QUERY_XPREFIX_TERMS terms). */
int query_expand_prefixes(lctx_db *db, MDB_txn *txn, query_parsed *q);
/* The document frequency a group of expansions is scored with: the sum
 * of its members' (present), at most N. */
double query_group_df(const query_parsed *q, uint32_t group, const double *df, double N);

/* --------------------------------------------------- scoring (bm25.c) */
/* A set of document ids (docset.c); zero-initialise, docset_free after. */
typedef struct docset {
    uint8_t *bits;
    uint32_t max;            /* ids > max are not in the set */
} docset;

static inline int docset_has(const docset *s, uint32_t doc)
{
    return s->bits && doc <= s->max && (s->bits[doc >> 3] >> (doc & 7) & 1);
}
int docset_add(docset *s, uint32_t doc);   /* 0, or -1 out of memory */
void docset_free(docset *s);
/* Sets every id 0..max (0, or -1 out of memory). */
int docset_fill(docset *s, uint32_t max);
void docset_remove(docset *s, uint32_t doc);
/* Removes every member of b from s. */
void docset_subtract(docset *s, const docset *b);

/* One ranked document. */
typedef struct bm25_hit {
    double score;
    uint32_t doc;
    uint32_t chunk;          /* best chunk (the first among equals) */
} bm25_hit;

/* Everything one search needs, set up by bm25_prepare. */
typedef struct bm25_search {
    lctx_db *db;
    MDB_txn *txn;
    const query_parsed *q;
    double k1, b, avgdl, w_title;
    double N;
    /* per query term, q->n_terms of each (malloc'd by bm25_prepare) */
    store_term *term;
    MDB_val *inl;            /* a term's inline block (kv_term_get) */
    int *present;            /* term is in the dictionary */
    double *idf;
    /* Prefix groups score as synonyms (prefix.c): span[t] is 1 for a
     * word, the group's length for its first expansion and 0 for the
     * others, which count with the first; tf is the scorers' scratch, the
     * tf of every term in the chunk being scored (0: absent). */
    uint32_t *span;
    double *tf;
    const docset *allowed;   /* NULL: all documents */
    docset excluded;         /* by -words and -"phrases" */
    /* phrase verification */
    sqlite3 *conn;
    sqlite3_stmt *st_text;        /* stays on the row of text_doc (constrain.c) */
    int64_t text_doc;             /* -1: none */
    tok_tokenizer *tok;
    tok_list toks;
    int failed;              /* status of an error in a phrase check (which returns -1) */
    /* counters for tests and tuning */
    uint64_t n_scored, n_blocks_skipped;
} bm25_search;

/* Sets up the search: reads statistics and term entries, collects the
 * documents excluded by -terms and -"phrases". Returns 1 when the query
 * cannot match anything (a required term is absent), 0 to go on, <0 on
 * error (status negated). bm25_release after, whatever it returned. */
int bm25_prepare(bm25_search *s, lctx_db *db, MDB_txn *txn, const query_parsed *q,
                 sqlite3 *conn, tok_tokenizer *tok);
void bm25_release(bm25_search *s);
/* The contribution of one term to a chunk score. Shared by every scorer so
 * that top-k and exhaustive scoring agree to the bit. */
static inline double bm25_term_score(const bm25_search *s, size_t t, double tf, double len)
{
    double norm = s->k1 * (1.0 - s->b + s->b * len / s->avgdl);
    return s->q->terms[t].weight * s->idf[t] * (tf / (tf + norm));
}
/* The score of a chunk of length len from s->tf, summed in query-term
 * order: a word adds its term score, a prefix group one term score for
 * the sum of its expansions' tf. Every scorer calls it, so top-k and
 * exhaustive scoring agree to the bit. */
double bm25_chunk_score(const bm25_search *s, double len);
/* Top-k documents by block-max WAND. *out is malloc'd, *n <= k, ranked by
 * score descending then doc ascending. */
int bm25_topk(bm25_search *s, int k, bm25_hit **out, size_t *n);
/* The same ranking by scoring every posting (the reference for tests). */
int bm25_exhaustive(bm25_search *s, int k, bm25_hit **out, size_t *n);
/* tf_text and tf_title of term t in chunk (0 when absent). */
int bm25_term_tf(bm25_search *s, size_t t, uint32_t chunk, uint32_t *tf_text,
                 uint32_t *tf_title);
/* Document-level and chunk-level constraints other than the score and the
 * phrases: the chunk is live, its document neither excluded nor outside
 * s->allowed. 1 (rec filled) or 0. */
int bm25_chunk_admissible(bm25_search *s, kv_page_cache *pc, uint32_t chunk,
                          store_chunkrec *rec);

/* ----------------------------------------- query constraints (constrain.c) */
/* One term's postings, decoded whole (no skipping); i is the reader's place. */
typedef struct bm25_list {
    store_posting *p;
    size_t n, cap, i;
} bm25_list;

int bm25_read_list(bm25_search *s, const store_term *term, const MDB_val *inl, bm25_list *l);
/* Fills s->excluded from the -words and -"phrases" (bm25_prepare). */
int bm25_collect_excluded(bm25_search *s);
/* 1 when chunk passes every required phrase, 0 when not, -1 on error. */
int bm25_phrase_ok(bm25_search *s, uint32_t chunk);
/* Lets go of the document row phrase checks keep (before the catalog's
 * read transaction ends). */
void bm25_phrase_done(bm25_search *s);
/* 1 when the query has constraints a vector recall must honour: a required
 * term (quoted), a -word or a -"phrase". */
int query_constrains(const query_parsed *q);

/* ------------------------------------------------------ snippets (snippet.c) */
/* The cap on a snippet's text, in characters (code points; a whitespace run
 * counts as the one space it prints as; highlight markers and the "…" of
 * cut ends are not counted), so at most 4 bytes each. About 3x a usual
 * snippet: on data/sample, 32-token windows printed 264 characters at the
 * median and 599 at most, so English windows are left as they were; it
 * bites where the tokenizer drops words (Thai, base64, long URLs). */
#define SNIPPET_MAX_CHARS 800

/* A window of the chunk text around the best cluster of query terms, with
 * matches wrapped in open/close, cut to SNIPPET_MAX_CHARS characters.
 * malloc'd; NULL on out of memory. */
char *snippet_make(tok_tokenizer *tok, const query_parsed *q, const char *text, size_t len,
                   const char *open, const char *close);

/* ====================================================================
 * The in-memory LSH vector index (formerly query/lsh.h).
 * ==================================================================== */
/*
 * The in-memory LSH vector index: multi-probe querying with exact
 * re-scoring, and auto-tuning of its parameters.
 *
 *   query/lsh_index.c  vectors + L tables of K-bit buckets (CSR arrays),
 *                      incremental add/remove
 *   query/lsh_search.c multi-probe search with exact re-scoring
 *   query/lsh_probe.c  query-directed probe sequences (least confident bits
 *                      flipped first), across all tables
 *   query/lsh_sketch.c short int8 / int4 copies of the vectors kept inside
 *                      the buckets by the inline-code layout
 *   query/lsh_tune.c   picks K, L and the probe budget for a target recall
 *
 * Vectors are compared by cosine similarity: they are L2-normalised on the
 * way in and scores are dot products. Hashing is attention/lsh_hash.c;
 * vector encodings are in store/store.h. Prefix lsh_.
 *
 * Threads: searches may run concurrently with each other, each with its own
 * lsh_scratch; add/remove/commit need exclusive access (one writer).
 */


#define LSH_MAX_BITS 24   /* CSR offsets are 2^K + 1 per table */
#define LSH_MAX_CP_DIM 2048   /* cross-polytope coordinates per function (probe work arrays) */
#define LSH_MAX_XP_TABLES 4096   /* cross-polytope tables (12 bits of a probe key) */

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
    int inline_codes;     /* 0 (default), 8 or 4: every bucket entry carries a
                             sketch of its vector with this many bits per
                             component, so a probe streams a contiguous run of
                             sketches instead of chasing rows (lsh_index.c);
                             costs L sketches per vector. */
    int center;           /* 1: hash (and sketch) x - mu, mu the mean of the
                             rows of the first commit (lsh_index.c says why);
                             0 (default): hash x, or a mean given with
                             lsh_index_set_center */
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
    size_t candidates;    /* row layout: distinct vectors re-scored; inline
                             layout: sketches scored, i.e. bucket entries (a
                             vector in several probed tables counts each time)
                             plus tail rows */
} lsh_search_stats;

lsh_index *lsh_index_new(int dim, const lsh_params *p, char *err, size_t errlen);
void lsh_index_free(lsh_index *ix);

/* Centring (lsh_params.center): mu, or NULL while there is none. set_center
 * fixes mu (dim floats, copied) before anything is committed, e.g. to give a
 * rebuilt index the centre of the one it replaces; -1 with err otherwise. */
const float *lsh_index_center(const lsh_index *ix);
int lsh_index_set_center(lsh_index *ix, const float *mu, char *err, size_t errlen);

/* Adds n vectors (row-major n x dim; normalised on the way in) with labels
 * (NULL: labels are the running row numbers 0, 1, ...). Labels should be
 * unique; remove deletes the first match. New rows go to a tail that searches
 * scan exhaustively until the next commit, which merges them into the bucket
 * arrays (add commits by itself when the tail grows past 1/16 of the index).
 * Returns 0, or -1 with err set. */
int lsh_index_add(lsh_index *ix, size_t n, const int64_t *labels, const float *vecs,
                  char *err, size_t errlen);
/* Adds n rows already in the index's encoding (vecstore_row_bytes each, as a
 * collection stores them), copied verbatim and hashed as decoded, without
 * normalising: a collection's stored rows, whose LMDB buckets were computed
 * the same way, land in the same buckets and score the same. */
int lsh_index_add_encoded(lsh_index *ix, size_t n, const int64_t *labels, const void *rows,
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
/* Stop probing once this many candidates (as lsh_search_stats counts them)
 * were gathered (0 = no limit, the default): bounds the cost of queries that
 * land in crowded buckets. */
void lsh_scratch_set_limit(lsh_scratch *s, size_t max_candidates);

/* Top-k by cosine similarity among the candidates found by probing `probes`
 * buckets (0 = the index default) over the first `tables` tables (0 = all).
 * out has room for k hits, sorted by descending score (ties: ascending label);
 * returns the number found (<= k), or -1 when the scratch is too small for
 * the index (make a new one after adds). stats may be NULL. */
int lsh_index_search(const lsh_index *ix, lsh_scratch *s, const float *query, int k,
                     int probes, int tables, lsh_hit *out, lsh_search_stats *stats);

/* ---------------------------------------------- LSH index internals
 * The index's structures, shared by lsh_index.c (building, updating) and
 * lsh_search.c (searching); nothing else reads them. */
typedef struct lsh_table {
    uint32_t *offsets;  /* 2^K + 1 */
    uint32_t *rows;     /* entries, grouped by code, ascending rows within a code */
    uint8_t *sk;        /* inline codes only: entry e's sketch at sk + e * sk_bytes */
} lsh_table;

struct lsh_index {
    int dim;
    lsh_params prm;
    lsh_hasher *hasher;
    size_t row_bytes;      /* stride between rows: the encoded row rounded up
                              to whole 64-byte cache lines (see reserve_rows) */
    size_t sk_bytes;       /* inline codes: bytes of one entry's sketch */

    unsigned char *vecs;   /* cap_rows * row_bytes */
    int64_t *labels;
    uint64_t *removed;     /* bitmap over rows */
    size_t n_rows, cap_rows;
    size_t n_removed;

    size_t n_committed;    /* rows below this are in the buckets unless removed before commit */
    size_t n_entries;      /* entries per table */
    float *center;         /* mu, hashed and sketched vectors are x - mu; NULL: none
                              (yet: lsh_params.center fixes it at the first commit) */
    lsh_table *tables;
};

static inline int lsh_bit_get(const uint64_t *b, size_t i) { return (int)((b[i >> 6] >> (i & 63)) & 1); }
static inline void lsh_bit_set(uint64_t *b, size_t i) { b[i >> 6] |= 1ull << (i & 63); }
static inline void lsh_bit_clear(uint64_t *b, size_t i) { b[i >> 6] &= ~(1ull << (i & 63)); }

/* ------------------------------------------------------------ lsh_sketch.c
 * Sketches of the inline-code layout (layout and error: lsh_sketch.c). */
size_t lsh_sketch_bytes(int dim, int bits);                 /* bits 8 or 4 */
/* Bytes the dot products read from a sketch (and the size of each query
 * array): sk_bytes rounded up to 32. Arrays of sketches keep that much
 * readable past their last one. */
static inline size_t lsh_sketch_span(size_t sk_bytes)
{
    return (sk_bytes + 31) & ~(size_t)31;
}
void lsh_sketch_encode(int bits, int dim, size_t sk_bytes, const float *x, uint8_t *out);
/* The query's 8-bit sketch into lo and hi (sk_bytes each); returns its scale
 * and sets *bias to the code offset times the sum of the query's bytes. */
float lsh_sketch_query(int bits, int dim, size_t sk_bytes, const float *q, int8_t *lo, int8_t *hi,
                       int32_t *bias);

/* The integer dot products of a query's signed bytes with a sketch's
 * unsigned codes (each code is the coordinate plus an offset, so the offset
 * times the sum of the query's bytes is subtracted once per candidate: see
 * lsh_sketch.c). Inline: they run once per candidate on the search path.
 * Where the compiler targets AVX-512 VNNI, four-way byte multiply-adds
 * (vpdpbusd, unsigned times signed, exactly this product) do 32 bytes per
 * instruction; elsewhere plain widening loops over a multiple of 32 bytes,
 * which -O3 vectorises. Both compute the same integer. */
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
#include <immintrin.h>

static inline int32_t lsh_hsum8(__m256i acc)
{
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
    return _mm_cvtsi128_si32(s);
}

static inline int32_t lsh_sketch_dot8(const int8_t *q, const uint8_t *x, size_t n)
{
    __m256i acc = _mm256_setzero_si256();
    for (size_t j = 0; j + 32 <= n; j += 32)
        acc = _mm256_dpbusd_epi32(acc, _mm256_loadu_si256((const __m256i *)(x + j)),
                                  _mm256_loadu_si256((const __m256i *)(q + j)));
    return lsh_hsum8(acc);
}

static inline int32_t lsh_sketch_dot4(const int8_t *lo, const int8_t *hi, const uint8_t *x, size_t n)
{
    const __m256i low4 = _mm256_set1_epi8(15);
    __m256i acc = _mm256_setzero_si256();
    for (size_t j = 0; j + 32 <= n; j += 32) {
        __m256i v = _mm256_loadu_si256((const __m256i *)(x + j));
        __m256i a = _mm256_and_si256(v, low4), b = _mm256_and_si256(_mm256_srli_epi16(v, 4), low4);
        acc = _mm256_dpbusd_epi32(acc, a, _mm256_loadu_si256((const __m256i *)(lo + j)));
        acc = _mm256_dpbusd_epi32(acc, b, _mm256_loadu_si256((const __m256i *)(hi + j)));
    }
    return lsh_hsum8(acc);
}
#else
static inline int32_t lsh_sketch_dot8(const int8_t *q, const uint8_t *x, size_t n)
{
    int32_t s = 0;
    n &= ~(size_t)31;   /* tells the compiler there is no remainder */
    for (size_t j = 0; j < n; j++)
        s += (int32_t)q[j] * (int32_t)x[j];
    return s;
}

static inline int32_t lsh_sketch_dot4(const int8_t *lo, const int8_t *hi, const uint8_t *x, size_t n)
{
    int32_t s = 0;
    n &= ~(size_t)31;
    for (size_t j = 0; j < n; j++)
        s += (int16_t)lo[j] * (int16_t)(x[j] & 15) + (int16_t)hi[j] * (int16_t)(x[j] >> 4);
    return s;
}
#endif

/* Sketch x's scale times its integer dot product with the query sketch:
 * q . x up to the query's own scale. */
static inline float lsh_sketch_score(int bits, size_t sk_bytes, const int8_t *lo, const int8_t *hi,
                                     int32_t bias, const uint8_t *x)
{
    float scale;
    memcpy(&scale, x + sk_bytes - 4, 4);
    const size_t span = lsh_sketch_span(sk_bytes);
    int32_t d = bits == 8 ? lsh_sketch_dot8(lo, x, span) : lsh_sketch_dot4(lo, hi, x, span);
    return scale * (float)(d - bias);
}

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
/* The same sequence in installments, so a search that stops early (its
 * candidate limit) never orders probes it will not look at: start sets up
 * work (codes must stay valid until the last next; -1 on bad arguments),
 * each next writes up to n further probes and returns how many, 0 at the
 * end. lsh_probe_sequence_xp is start plus one next of max_probes. */
int lsh_probe_xp_start(const uint32_t *codes, const float *z, int tables, int per_table,
                       int cp_dim, int fn_bits, int max_probes, void *work);
int lsh_probe_xp_next(void *work, int n, lsh_probe *out);
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

/* ====================================================================
 * Vector recall, fusion and LSH tuning of a collection (vsearch.c,
 * fusion.c, vtune.c). Prefixes vsearch_, fusion_, vtune_.
 * ==================================================================== */

/* Top-k documents by the cosine of their best chunk against q (dim floats,
 * normalised). Exact scan of every stored vector, or LSH multi-probe with
 * exact re-scoring when the collection has tables; allowed (NULL = all)
 * and exclude_doc (0 = none) restrict the documents. Falls back to the exact
 * scan when probing finds fewer than k documents (a selective filter), so k
 * results come back whenever k documents qualify. *out malloc'd, ranked by
 * score descending then doc ascending. probes: 0 = the tuned budget. */
/* The in-memory LSH index of a handle opened with LCTX_OPEN_VECTOR_CACHE
 * (vcache.c). vcache_topk answers like the LSH path of vsearch_topk and sets
 * *used = 1, or sets *used = 0 when the caller must take that path (cache
 * being built by another search, or fewer than k qualifying documents among
 * the best chunks); a status only on failure. */
struct vcache;
int vcache_topk(lctx_db *db, MDB_txn *txn, const lsh_store_config *cfg, const float *q, int k,
                const docset *allowed, uint32_t exclude_doc, int probes, bm25_hit **out,
                size_t *n, int *used);
void vcache_free(struct vcache *vc);
/* Drops the handle's cache (its last user frees it): the index it was built
 * from was replaced (store/generation.c). */
void vcache_forget(lctx_db *db);

int vsearch_topk(lctx_db *db, MDB_txn *txn, const float *q, int k, const docset *allowed,
                 uint32_t exclude_doc, int probes, bm25_hit **out, size_t *n);
/* vsearch_topk among the documents BM25 could match (constrain.c): none
 * excluded by a -word or -"phrase", each with a chunk holding every required
 * term and phrase, inside the metadata filter s->allowed. s: prepared for the
 * query (bm25_prepare returned 0). */
int vsearch_constrained(bm25_search *s, const float *q, int k, uint32_t exclude_doc,
                        bm25_hit **out, size_t *n);
/* The same ranking by scanning every vector (the reference for tests). */
int vsearch_exact(lctx_db *db, MDB_txn *txn, const float *q, int k, const docset *allowed,
                  uint32_t exclude_doc, bm25_hit **out, size_t *n);
/* The query vector of "more like this": the normalised mean of the stored
 * vectors of the live document ext_id; *doc gets its id. */
int vsearch_like(lctx_db *db, MDB_txn *txn, sqlite3 *conn, const char *ext_id, float *q,
                 uint32_t *doc);

/* One fused document: its fused score, each side's raw score and rank
 * (rank 0 = not recalled by that side) and the chunk to show. */
typedef struct fused_hit {
    double score;
    double bm25, vec;        /* raw scores (0 when absent) */
    double nbm25, nvec;      /* min-max normalised (linear fusion) */
    int rank_bm25, rank_vec; /* 1-based; 0 = missing from that list */
    uint32_t doc;
    uint32_t chunk;          /* BM25's best chunk, else the vector side's */
} fused_hit;

/* Reciprocal rank fusion: score = sum over lists of 1 / (rrf_k + rank). */
int fusion_rrf(const bm25_hit *a, size_t na, const bm25_hit *b, size_t nb, int rrf_k,
               fused_hit **out, size_t *n);
/* Min-max linear fusion: score = (1 - alpha) norm(bm25) + alpha norm(cos),
 * norm(x) = (x - min) / (max - min) over the list (1 when all are equal),
 * 0 on the side a document is missing from. */
int fusion_linear(const bm25_hit *a, size_t na, const bm25_hit *b, size_t nb, double alpha,
                  fused_hit **out, size_t *n);

/* Collections reach LSH at this many vectors (below: exact scan). */
#define VTUNE_THRESHOLD 20000
/* Tunes K, L and probes for target recall on the stored vectors (exact
 * search when there are fewer than the threshold) and rebuilds the buckets.
 * Writer lock held. */
int vtune_run(lctx_db *db, double target);
/* After a commit: vtune_run when the count first crosses the threshold or
 * doubled since the last tuning. */
int vtune_after_commit(lctx_db *db);
/* After the index was rebuilt from the catalog (LCTX_OPEN_REBUILD_INDEX):
 * the buckets again, with the parameters the catalog records from the
 * last tuning; nothing when the collection was never tuned. */
int vtune_restore(lctx_db *db);

#endif /* LCTX_QUERY_H */
