/*
 * bench-compact.c — what renumbering adds to a compaction.
 *
 * Compaction renumbers ids only when a quarter of the 32-bit id space is
 * spent on documents no longer there (store/renumber.c), which takes
 * billions of upserts; so its cost is measured here with the store's test
 * hook that makes every compaction renumber. Each round builds the corpus
 * into a fresh collection, deletes every other document and compacts,
 * alternately with and without renumbering (same work otherwise: both
 * replace the index with a dense copy and vacuum the catalog), and times
 * the compaction alone. Medians over the rounds, and their ratio; every
 * query's answers (ids and scores) are compared between the two kinds, as
 * renumbering must not change them.
 *
 * usage: bench-compact --corpus corpus.jsonl --queries queries.jsonl --dir WORKDIR
 *                      [--rounds 5] [--json]
 * With OPENBLAS_NUM_THREADS=1, as every lctx benchmark.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lctx.h"
#include "store/store.h"

#include "bm25_common.h"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void check(lctx_db *db, int rc, const char *what)
{
    if (rc)
        bm25_die("%s: %s", what, lctx_errmsg(db));
}

/* Every query's top 10 as "id score" lines (malloc'd). */
static char *answers(lctx_db *db, const bm25_query *q, size_t nq)
{
    size_t cap = 1 << 16, n = 0;
    char *out = bm25_xmalloc(cap);
    out[0] = 0;
    lctx_search_opts o;
    lctx_search_opts_init(&o);
    o.mode = LCTX_MODE_BM25;
    for (size_t i = 0; i < nq; i++) {
        lctx_results *r;
        check(db, lctx_search(db, q[i].text, &o, &r), "search");
        for (size_t j = 0; j < lctx_results_count(r); j++) {
            const lctx_hit *h = lctx_results_get(r, j);
            if (n + BM25_MAX_ID + 64 > cap && !(out = realloc(out, cap *= 2)))
                bm25_die("out of memory");
            n += (size_t)snprintf(out + n, cap - n, "%zu %s %a\n", i, h->id, h->score);
        }
        lctx_results_free(r);
    }
    return out;
}

/* One round: build, delete every other document, compact; the seconds the
 * compaction took, and the answers after it into *ans. */
static double round_once(const char *path, const bm25_doc *d, size_t n, const bm25_query *q,
                         size_t nq, int renumber, char **ans)
{
    lctx_db *db;
    if (lctx_open(path, LCTX_OPEN_CREATE, NULL, &db))
        bm25_die("%s: %s", path, lctx_errmsg(db));
    check(db, lctx_begin(db), "begin");
    for (size_t i = 0; i < n; i++) {
        lctx_doc doc = {.id = d[i].id, .title = d[i].title, .text = d[i].text};
        check(db, lctx_add(db, &doc), d[i].id);
    }
    check(db, lctx_commit(db, NULL), "commit");
    check(db, lctx_begin(db), "begin");
    for (size_t i = 0; i < n; i += 2)
        check(db, lctx_delete(db, d[i].id), d[i].id);
    check(db, lctx_commit(db, NULL), "commit");
    store_test_renumber(db, renumber);
    double t0 = bm25_now();
    check(db, lctx_compact(db), "compact");
    double t = bm25_now() - t0;
    *ans = answers(db, q, nq);
    check(db, lctx_close(db), "close");
    return t;
}

int main(int argc, char **argv)
{
    const char *corpus = NULL, *queries = NULL, *dir = NULL;
    int rounds = 5, json = 0;
    bm25_prog = "bench-compact";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--corpus") && i + 1 < argc)
            corpus = argv[++i];
        else if (!strcmp(argv[i], "--queries") && i + 1 < argc)
            queries = argv[++i];
        else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
            dir = argv[++i];
        else if (!strcmp(argv[i], "--rounds") && i + 1 < argc && !bm25_posint(argv[i + 1], &rounds))
            i++;
        else if (!strcmp(argv[i], "--json"))
            json = 1;
        else
            corpus = NULL, i = argc;
    }
    if (!corpus || !queries || !dir)
        bm25_die("usage: bench-compact --corpus corpus.jsonl --queries queries.jsonl --dir "
                 "WORKDIR [--rounds N] [--json]");
    size_t n, nq;
    bm25_doc *docs = bm25_load_docs(corpus, &n);
    bm25_query *q = bm25_load_queries(queries, &nq);
    bm25_prepare_dir(dir);
    double *t[2] = {bm25_xmalloc(sizeof(double) * (size_t)rounds),
                    bm25_xmalloc(sizeof(double) * (size_t)rounds)};
    char *first[2] = {NULL, NULL};
    int same = 1;
    for (int r = 0; r < rounds; r++) {
        for (int k = 0; k < 2; k++) {
            int renumber = (r + k) % 2;     /* alternate which kind goes first */
            char path[4200], *ans;
            snprintf(path, sizeof path, "%s/c%d-%d.lctx", dir, r, renumber);
            t[renumber][r] = round_once(path, docs, n, q, nq, renumber, &ans);
            if (!first[renumber])
                first[renumber] = ans;
            else
                free(ans);
        }
    }
    same = strcmp(first[0], first[1]) == 0;
    qsort(t[0], (size_t)rounds, sizeof(double), cmp_double);
    qsort(t[1], (size_t)rounds, sizeof(double), cmp_double);
    double plain = t[0][rounds / 2] * 1e3, renum = t[1][rounds / 2] * 1e3;
    const char *name = bm25_collection_name(corpus);
    if (json)
        printf("{\"bench\":\"compact\",\"collection\":\"%s\",\"docs\":%zu,\"deleted\":%zu,"
               "\"rounds\":%d,\"plain_ms\":%.2f,\"renumber_ms\":%.2f,\"ratio\":%.3f,"
               "\"same_answers\":%s}\n", name, n, (n + 1) / 2, rounds, plain, renum,
               renum / plain, same ? "true" : "false");
    else
        printf("%s: %zu documents, %zu deleted; compaction median of %d: plain %.2f ms, "
               "renumbering %.2f ms (%.2fx); answers %s\n", name, n, (n + 1) / 2, rounds,
               plain, renum, renum / plain, same ? "identical" : "DIFFER");
    free(first[0]);
    free(first[1]);
    free(t[0]);
    free(t[1]);
    bm25_free_docs(docs, n);
    bm25_free_queries(q, nq);
    return same ? 0 : 1;
}
