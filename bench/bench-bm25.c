/*
 * bench-bm25.c — lctx's side of the BM25 benchmark, through include/lctx.h.
 *
 * It does what an application would do with the public API, nothing more:
 *
 *   indexing  lctx_open(LCTX_OPEN_CREATE) of a fresh collection with the
 *             default configuration, one batch (lctx_begin, one lctx_add
 *             per document with its title and text, lctx_commit), then
 *             lctx_close, all inside the timed part. Documents come from the
 *             harness's in-memory copy of the corpus, exactly as the peers
 *             get them; lctx_ingest would read the JSONL itself and so time
 *             JSON parsing the peers do not pay.
 *   querying  lctx_open(LCTX_OPEN_READONLY), then per query lctx_search in
 *             LCTX_MODE_BM25 with k = 10 and no snippets or explanations,
 *             copying out ids and scores, and lctx_results_free.
 *
 * A corpus line with neither title nor text (cranfield has two) is not
 * added: the API requires one of them, and such a document can match no
 * query, so the peers' empty rows change no ranking. It is still counted in
 * "docs" like in the peers' reports, since every engine was given it.
 *
 * A query the engine refuses as empty (say, only stopwords) answers with no
 * hits, which is what the peers return for it; a note goes to stderr.
 *
 * The harness (arguments, timing, run file, report) is bench/bm25_common.h.
 */
#include <strings.h>

#include "lctx.h"

#include "bm25_common.h"

#define LCTX_COLL "bm25.lctx"

static void lctx_coll_path(const char *dir, char *out, size_t len)
{
    snprintf(out, len, "%s/%s", dir, LCTX_COLL);
}

/* Copies the handle's last error into err and closes it. Returns -1. */
static int lctx_bench_fail(lctx_db *db, int rc, const char *what, char *err, size_t errlen)
{
    const char *msg = db ? lctx_errmsg(db) : "";
    snprintf(err, errlen, "%s: %s%s%s", what, lctx_strstatus(rc), msg[0] ? ": " : "", msg);
    if (db) lctx_close(db);
    return -1;
}

static int lctx_add_all(lctx_db *db, const bm25_doc *docs, size_t n, char *err, size_t errlen)
{
    size_t i;
    int rc;
    for (i = 0; i < n; i++) {
        lctx_doc d;
        if (docs[i].title_len == 0 && docs[i].text_len == 0) continue;
        memset(&d, 0, sizeof d);
        d.id = docs[i].id;
        d.title = docs[i].title_len ? docs[i].title : NULL;
        d.text = docs[i].text;
        d.text_len = docs[i].text_len;
        /* text_len 0 with non-NULL text means strlen: same thing for "". */
        rc = lctx_add(db, &d);
        if (rc != LCTX_OK) return lctx_bench_fail(db, rc, docs[i].id, err, errlen);
    }
    return 0;
}

static int lctx_build(const char *dir, const bm25_doc *docs, size_t n, char *err, size_t errlen)
{
    char path[PATH_MAX];
    lctx_db *db = NULL;
    int rc;
    lctx_coll_path(dir, path, sizeof path);
    rc = lctx_open(path, LCTX_OPEN_CREATE, NULL, &db);
    if (rc != LCTX_OK) return lctx_bench_fail(db, rc, path, err, errlen);
    /* check-tsan sets it to build batches that spill (indexer/spill.c) */
    const char *memory = getenv("LCTX_BENCH_BATCH_MEMORY");
    if (memory)
        lctx_set_batch_memory(db, (size_t)strtoull(memory, NULL, 10));
    rc = lctx_begin(db);
    if (rc != LCTX_OK) return lctx_bench_fail(db, rc, "begin", err, errlen);
    if (lctx_add_all(db, docs, n, err, errlen) != 0) return -1;  /* db closed */
    rc = lctx_commit(db, NULL);
    if (rc != LCTX_OK) return lctx_bench_fail(db, rc, "commit", err, errlen);
    rc = lctx_close(db);
    if (rc != LCTX_OK) {
        snprintf(err, errlen, "close: %s", lctx_strstatus(rc));
        return -1;
    }
    return 0;
}

static void *lctx_bench_open(const char *dir, char *err, size_t errlen)
{
    char path[PATH_MAX];
    lctx_db *db = NULL;
    int rc;
    lctx_coll_path(dir, path, sizeof path);
    rc = lctx_open(path, LCTX_OPEN_READONLY, NULL, &db);
    if (rc != LCTX_OK) {
        lctx_bench_fail(db, rc, path, err, errlen);
        return NULL;
    }
    return db;
}

/* Test collections hold natural-language questions, not query syntax, and
 * the peers run them as bags of words: blank '"' and '*', a word-initial
 * '-' or '+' and the ':' of a word-initial "title:", so a stray quote in
 * CISI or CACM is not a required phrase for lctx alone, nor CACM's "+" a
 * required word (the same rule as lctx-search's batch mode). */
static void plain_words(char *q)
{
    for (char *p = q; *p; p++) {
        int word_start = p == q || p[-1] == ' ' || p[-1] == '\t' || p[-1] == '(';
        if (*p == '"' || *p == '*' || ((*p == '-' || *p == '+') && word_start))
            *p = ' ';
        else if (word_start && strncasecmp(p, "title:", 6) == 0)
            p[5] = ' ';
    }
}

static int lctx_bench_search(void *h, const char *query_text, int k, bm25_hits *out, char *err,
                             size_t errlen)
{
    char *query = strdup(query_text);
    if (!query) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    plain_words(query);
    lctx_db *db = (lctx_db *)h;
    lctx_search_opts opts;
    lctx_results *res = NULL;
    size_t i, n;
    int rc;

    lctx_search_opts_init(&opts);
    opts.mode = LCTX_MODE_BM25;
    opts.k = k;
    opts.snippets = 0;
    opts.explain = 0;
    out->n = 0;
    rc = lctx_search(db, query, &opts, &res);
    free(query);
    if (rc == LCTX_EINVAL) {             /* refused as empty: no hits, like the peers */
        fprintf(stderr, "%s: query \"%s\": %s\n", bm25_prog, query_text, lctx_errmsg(db));
        if (res) lctx_results_free(res);
        return 0;
    }
    if (rc != LCTX_OK) {
        snprintf(err, errlen, "%s: %s", lctx_strstatus(rc), lctx_errmsg(db));
        if (res) lctx_results_free(res);
        return -1;
    }
    n = lctx_results_count(res);
    for (i = 0; i < n && out->n < out->cap; i++) {
        const lctx_hit *hit = lctx_results_get(res, i);
        if (!hit || !hit->id ||
            bm25_hit_set(&out->v[out->n], hit->id, strlen(hit->id), hit->score) != 0) {
            snprintf(err, errlen, "bad hit %zu", i);
            lctx_results_free(res);
            return -1;
        }
        out->n++;
    }
    lctx_results_free(res);
    return 0;
}

static void lctx_bench_close(void *h)
{
    if (h) lctx_close((lctx_db *)h);
}

int main(int argc, char **argv)
{
    bm25_engine e;
    e.method = "lctx";
    e.version = LCTX_VERSION_STRING;
    e.build = lctx_build;
    e.open = lctx_bench_open;
    e.search = lctx_bench_search;
    e.close = lctx_bench_close;
    return bm25_main(argc, argv, &e);
}
