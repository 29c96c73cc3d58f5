/*
 * test_corpus.h — a small synthetic corpus and the answers it gives.
 *
 * Tests that rebuild, shrink or replace a collection's index need the
 * same three things: batches of documents made of a handful of words (so
 * every query matches many documents and scores tie and differ in every
 * way), deletions by id, and a fingerprint of what the collection answers:
 * every query's top 50 as "query id score chunk" lines with scores printed
 * exactly (%a), so an index that lost, duplicated or reweighted anything
 * shows up as a difference.
 *
 * Header-only (static functions), as test_tmpdir.h explains.
 */
#ifndef LCTX_TEST_CORPUS_H
#define LCTX_TEST_CORPUS_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lctx.h"
#include "test_hits.h"

static const char *const WORDS[] = {
    "river", "stone", "bridge", "lantern", "harbor", "meadow", "signal", "copper",
    "orchard", "valley", "engine", "compass", "glacier", "market", "thunder", "ember"};
#define NWORDS (int)(sizeof WORDS / sizeof WORDS[0])

static const char *const QUERIES[] = {
    "river stone", "bridge", "lantern harbor meadow", "copper signal engine",
    "\"orchard valley\"", "glacier -thunder", "market ember compass"};
#define NQUERIES (int)(sizeof QUERIES / sizeof QUERIES[0])

/* Document i of the corpus: a few words picked by i, some of them twice,
 * and now and then a title. */
__attribute__((unused))
static void doc_text(int i, int version, char *text, size_t len, char *title, size_t tlen)
{
    size_t n = 0;
    text[0] = 0;
    for (int w = 0; w < 6 + i % 5; w++)
        n += (size_t)snprintf(text + n, len - n, "%s ",
                              WORDS[(i * 7 + w * (3 + version) + w * w) % NWORDS]);
    snprintf(title, tlen, "%s", i % 4 == 0 ? WORDS[(i + version) % NWORDS] : "");
}

__attribute__((unused))
static void add_batch(lctx_db *db, int first, int n, int version)
{
    cr_assert_eq(lctx_begin(db), LCTX_OK, "%s", lctx_errmsg(db));
    for (int i = first; i < first + n; i++) {
        char id[16], text[256], title[32];
        snprintf(id, sizeof id, "d%d", i);
        doc_text(i, version, text, sizeof text, title, sizeof title);
        lctx_doc d = {.id = id, .title = title[0] ? title : NULL, .text = text};
        cr_assert_eq(lctx_add(db, &d), LCTX_OK, "%s", lctx_errmsg(db));
    }
    cr_assert_eq(lctx_commit(db, NULL), LCTX_OK, "%s", lctx_errmsg(db));
}

__attribute__((unused))
static void delete_ids(lctx_db *db, int first, int n, int step)
{
    cr_assert_eq(lctx_begin(db), LCTX_OK);
    for (int i = first; i < first + n; i += step) {
        char id[16];
        snprintf(id, sizeof id, "d%d", i);
        cr_assert_eq(lctx_delete(db, id), LCTX_OK, "%s", lctx_errmsg(db));
    }
    cr_assert_eq(lctx_commit(db, NULL), LCTX_OK, "%s", lctx_errmsg(db));
}

/* Every query's top 50 as "id score" lines, scores printed exactly. */
__attribute__((unused))
static char *answers(lctx_db *db)
{
    size_t cap = 1 << 16, n = 0;
    char *out = malloc(cap);
    cr_assert_not_null(out);
    out[0] = 0;
    for (int q = 0; q < NQUERIES; q++) {
        lctx_results *r = bm25_results(db, QUERIES[q], 50);
        for (size_t i = 0; i < lctx_results_count(r); i++) {
            const lctx_hit *h = lctx_results_get(r, i);
            if (n + 128 > cap)
                cr_assert_not_null(out = realloc(out, cap *= 2));
            n += (size_t)snprintf(out + n, cap - n, "%d %s %a %lld\n", q, h->id, h->score,
                                  (long long)h->chunk);
        }
        lctx_results_free(r);
    }
    return out;
}

/* A query of every word: it matches every document of the corpus. */
#define ALL_WORDS "river stone bridge lantern harbor meadow signal copper orchard valley " \
                  "engine compass glacier market thunder ember"

/* How many of the top 1000 BM25 hits for ALL_WORDS have an id of id_len
 * bytes that starts with prefix ("d200", 5: d2000..d2009). */
__attribute__((unused))
static int ids_found(lctx_db *db, const char *prefix, size_t id_len)
{
    lctx_search_opts o;
    lctx_search_opts_init(&o);
    o.k = 1000;
    o.mode = LCTX_MODE_BM25;
    lctx_results *r;
    cr_assert_eq(lctx_search(db, ALL_WORDS, &o, &r), LCTX_OK, "%s", lctx_errmsg(db));
    int found = 0;
    for (size_t i = 0; i < lctx_results_count(r); i++) {
        const char *id = lctx_results_get(r, i)->id;
        found += strncmp(id, prefix, strlen(prefix)) == 0 && strlen(id) == id_len;
    }
    lctx_results_free(r);
    return found;
}

/* A process of its own that opens coll with LCTX_OPEN_REBUILD_INDEX,
 * closes it and exits 0 (1 when the open failed); its pid. */
__attribute__((unused))
static pid_t fork_rebuild(const char *coll)
{
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        lctx_db *other;
        int rc = lctx_open(coll, LCTX_OPEN_REBUILD_INDEX, NULL, &other);
        lctx_close(other);
        _exit(rc == LCTX_OK ? 0 : 1);
    }
    return pid;
}

#endif
