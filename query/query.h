/*
 * query.h — the keyword read path: query parsing, BM25 top-k (block-max
 * WAND over chunks, document = best chunk), exhaustive reference scoring,
 * snippets and explanations.
 *
 * Internal header of the query/ module. Prefixes: query_ (parsing and the
 * search driver), bm25_ (scoring and top-k), snippet_.
 */
#ifndef LCTX_QUERY_H
#define LCTX_QUERY_H

#include <stddef.h>
#include <stdint.h>

#include "indexer/indexer.h"
#include "store/store.h"

/* ------------------------------------------------------ parsing (parse.c) */
#define QUERY_MAX_TERMS 64

typedef struct query_term {
    char *term;              /* normalised (folded, stemmed) */
    uint32_t len;
    double weight;           /* occurrences in the query */
    int required;            /* appears in a phrase */
} query_term;

/* A phrase: terms (indices into query_parsed.terms) at relative positions. */
typedef struct query_phrase {
    uint32_t *term;
    uint32_t *offset;        /* position relative to the first term */
    size_t n;
} query_phrase;

typedef struct query_parsed {
    query_term *terms;
    size_t n_terms;
    char **excluded;         /* normalised terms after '-' */
    size_t n_excluded;
    query_phrase *phrases;   /* only phrases of 2+ terms */
    size_t n_phrases;
    int stopwords_only;      /* words were given but all were stopwords */
} query_parsed;

/* Parses q with tokenizer t. LCTX_OK, LCTX_EINVAL (bad UTF-8) or
 * LCTX_ENOMEM; err gets a message. */
int query_parse(tok_tokenizer *t, const char *q, query_parsed *out, char *err, size_t errlen);
void query_parsed_free(query_parsed *q);
/* The parsed query as JSON (malloc'd). */
char *query_parsed_json(const query_parsed *q, const char *message);

/* --------------------------------------------------- scoring (bm25.c) */
typedef struct docset {
    uint8_t *bits;
    uint32_t max;            /* ids > max are not in the set */
} docset;

int docset_has(const docset *s, uint32_t doc);
int docset_add(docset *s, uint32_t doc);
void docset_free(docset *s);

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
    store_term term[QUERY_MAX_TERMS];
    int present[QUERY_MAX_TERMS]; /* term is in the dictionary */
    double idf[QUERY_MAX_TERMS];
    const docset *allowed;   /* NULL: all documents */
    docset excluded;
    /* phrase verification */
    sqlite3 *conn;
    sqlite3_stmt *st_text;
    tok_tokenizer *tok;
    tok_list toks;
    int failed;              /* an error happened inside a callback */
    /* counters for tests and tuning */
    uint64_t n_scored, n_blocks_skipped;
} bm25_search;

/* Sets up the search: reads statistics and term entries, collects the
 * documents excluded by -terms. Returns 1 when the query cannot match
 * anything (a required term is absent), 0 to go on, <0 on error (status
 * negated). */
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
/* Top-k documents by block-max WAND. *out is malloc'd, *n <= k, ranked by
 * score descending then doc ascending. */
int bm25_topk(bm25_search *s, int k, bm25_hit **out, size_t *n);
/* The same ranking by scoring every posting (the reference for tests). */
int bm25_exhaustive(bm25_search *s, int k, bm25_hit **out, size_t *n);
/* tf_text and tf_title of term t in chunk (0 when absent). */
int bm25_term_tf(bm25_search *s, size_t t, uint32_t chunk, uint32_t *tf_text,
                 uint32_t *tf_title);
/* 1 when chunk passes every phrase, 0 when not, -1 on error. */
int bm25_phrase_ok(bm25_search *s, uint32_t chunk);

/* ------------------------------------------------------ snippets (snippet.c) */
/* A window of the chunk text around the best cluster of query terms, with
 * matches wrapped in open/close. malloc'd; NULL on out of memory. */
char *snippet_make(tok_tokenizer *tok, const query_parsed *q, const char *text, size_t len,
                   const char *open, const char *close);

#endif /* LCTX_QUERY_H */
