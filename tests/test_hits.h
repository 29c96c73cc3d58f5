/*
 * test_hits.h — how many results a default search returns, for tests that
 * check through include/lctx.h alone that a document is (or is not)
 * searchable after a crash, a replay or a restart.
 *
 * Also a batch of one document, the way those tests put text in, and the
 * BM25 results of a query with whether they hold a document.
 *
 * Header-only (static functions) for the reason test_tmpdir.h gives.
 */
#ifndef LCTX_TEST_HITS_H
#define LCTX_TEST_HITS_H

#include <criterion/criterion.h>
#include <string.h>

#include "lctx.h"

/* Results of q with the default options; the search must succeed. */
__attribute__((unused))
static size_t hits(lctx_db *db, const char *q)
{
    lctx_results *r;
    cr_assert_eq(lctx_search(db, q, NULL, &r), LCTX_OK, "%s", lctx_errmsg(db));
    size_t n = lctx_results_count(r);
    lctx_results_free(r);
    return n;
}

/* A BM25 search for q with up to k documents; it must succeed. */
__attribute__((unused))
static lctx_results *bm25_results(lctx_db *db, const char *q, int k)
{
    lctx_search_opts o;
    lctx_search_opts_init(&o);
    o.k = k;
    o.mode = LCTX_MODE_BM25;
    lctx_results *r = NULL;
    cr_assert_eq(lctx_search(db, q, &o, &r), LCTX_OK, "'%s': %s", q, lctx_errmsg(db));
    return r;
}

/* Results of a BM25 search for q with up to k documents. */
__attribute__((unused))
static size_t bm25_hits(lctx_db *db, const char *q, int k)
{
    lctx_results *r = bm25_results(db, q, k);
    size_t n = lctx_results_count(r);
    lctx_results_free(r);
    return n;
}

/* Whether the results hold document id. */
__attribute__((unused))
static int results_has(const lctx_results *r, const char *id)
{
    for (size_t i = 0; i < lctx_results_count(r); i++)
        if (strcmp(lctx_results_get(r, i)->id, id) == 0)
            return 1;
    return 0;
}

/* A new collection at path, with the default config; the open must succeed. */
__attribute__((unused))
static lctx_db *create_collection(const char *path)
{
    lctx_db *db;
    cr_assert_eq(lctx_open(path, LCTX_OPEN_CREATE, NULL, &db), LCTX_OK, "%s", lctx_errmsg(db));
    return db;
}

/* The tokenizer rules the collection records (lctx_stats_get). */
__attribute__((unused))
static int tokenizer_rules(lctx_db *db)
{
    lctx_stats st;
    cr_assert_eq(lctx_stats_get(db, &st), LCTX_OK, "%s", lctx_errmsg(db));
    return st.tokenizer_rules;
}

/* Commits a batch holding one document (id, text). */
__attribute__((unused))
static void add_one_doc(lctx_db *db, const char *id, const char *text)
{
    cr_assert_eq(lctx_begin(db), LCTX_OK, "%s", lctx_errmsg(db));
    lctx_doc d = {.id = id, .text = text};
    cr_assert_eq(lctx_add(db, &d), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_commit(db, NULL), LCTX_OK, "%s", lctx_errmsg(db));
}

/* Warnings a handle raised: how many, and the last (reset n to 0 to start
 * again). lctx_set_warning_handler(db, warnings_count, &w). */
typedef struct test_warnings {
    int n;
    char last[512];
} test_warnings;

__attribute__((unused))
static void warnings_count(void *ctx, const char *msg)
{
    test_warnings *w = ctx;
    w->n++;
    snprintf(w->last, sizeof w->last, "%s", msg);
}

#endif
