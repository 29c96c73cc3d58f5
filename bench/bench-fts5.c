/*
 * bench-fts5.c — the SQLite FTS5 baseline of the BM25 benchmark.
 *
 * The peer as Debian ships it (libsqlite3, FTS5 compiled in), configured the
 * way a careful user would: one table
 *
 *     CREATE VIRTUAL TABLE t USING fts5(id UNINDEXED, title, text,
 *                                       tokenize = 'porter unicode61')
 *
 * filled inside one transaction through one prepared INSERT, and queried with
 *
 *     SELECT id, bm25(t) FROM t WHERE t MATCH ?1 ORDER BY bm25(t) LIMIT ?2
 *
 * bm25() is FTS5's built-in ranking (k1 = 1.2, b = 0.75, all columns weight
 * 1); it returns smaller-is-better values, so the run file reports -bm25 to
 * keep "larger is better" everywhere. The external id lives in an UNINDEXED
 * column, so it costs nothing in the full-text index and is read straight
 * from the row.
 *
 * Natural-language queries are not FTS5 syntax ("what's", "-", "AND" and
 * quotes would be parsed as operators or fail), so each query is rewritten
 * into an OR of quoted words: runs of ASCII letters and digits, plus any
 * non-ASCII byte so UTF-8 letters stay inside words; unicode61 then folds and
 * porter stems each quoted word exactly as it did at indexing time. The
 * rewrite happens inside the timed part: lctx parses its queries there too.
 *
 * Pragmas stay at their defaults (journal, cache, page size): we measure the
 * peer as shipped, and one transaction already removes the per-row fsync that
 * would otherwise dominate.
 *
 * The harness (arguments, timing, run file, report) is bench/bm25_common.h.
 */
#include <sqlite3.h>

#include "bm25_common.h"

#define FTS5_FILE "fts5.db"

typedef struct fts5_handle {
    sqlite3 *db;
    sqlite3_stmt *query;
    char *match;            /* MATCH expression buffer, reused */
    size_t match_cap;
} fts5_handle;

static void fts5_path(const char *dir, char *out, size_t len)
{
    snprintf(out, len, "%s/%s", dir, FTS5_FILE);
}

static int fts5_fail(sqlite3 *db, const char *what, char *err, size_t errlen)
{
    snprintf(err, errlen, "%s: %s", what, db ? sqlite3_errmsg(db) : "cannot open");
    return -1;
}

static int fts5_insert_all(sqlite3 *db, const bm25_doc *docs, size_t n, char *err, size_t errlen)
{
    sqlite3_stmt *ins = NULL;
    size_t i;
    if (sqlite3_prepare_v2(db, "INSERT INTO t(id, title, text) VALUES (?1, ?2, ?3)", -1, &ins,
                           NULL) != SQLITE_OK)
        return fts5_fail(db, "prepare insert", err, errlen);
    for (i = 0; i < n; i++) {
        sqlite3_bind_text(ins, 1, docs[i].id, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 2, docs[i].title, (int)docs[i].title_len, SQLITE_STATIC);
        sqlite3_bind_text(ins, 3, docs[i].text, (int)docs[i].text_len, SQLITE_STATIC);
        if (sqlite3_step(ins) != SQLITE_DONE) {
            sqlite3_finalize(ins);
            return fts5_fail(db, docs[i].id, err, errlen);
        }
        sqlite3_reset(ins);
    }
    sqlite3_finalize(ins);
    return 0;
}

static int fts5_build(const char *dir, const bm25_doc *docs, size_t n, char *err, size_t errlen)
{
    char path[PATH_MAX];
    sqlite3 *db = NULL;
    int rc;
    fts5_path(dir, path, sizeof path);
    if (sqlite3_open(path, &db) != SQLITE_OK) {
        fts5_fail(db, path, err, errlen);
        sqlite3_close(db);
        return -1;
    }
    rc = sqlite3_exec(db,
                      "CREATE VIRTUAL TABLE t USING fts5(id UNINDEXED, title, text, "
                      "tokenize = 'porter unicode61'); BEGIN;",
                      NULL, NULL, NULL);
    if (rc != SQLITE_OK) rc = fts5_fail(db, "create table", err, errlen);
    else rc = fts5_insert_all(db, docs, n, err, errlen);
    if (rc == 0 && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        rc = fts5_fail(db, "commit", err, errlen);
    if (sqlite3_close(db) != SQLITE_OK && rc == 0) rc = fts5_fail(db, "close", err, errlen);
    return rc;
}

static void *fts5_open(const char *dir, char *err, size_t errlen)
{
    char path[PATH_MAX];
    fts5_handle *h = (fts5_handle *)bm25_xmalloc(sizeof *h);
    memset(h, 0, sizeof *h);
    fts5_path(dir, path, sizeof path);
    if (sqlite3_open_v2(path, &h->db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(h->db,
                           "SELECT id, bm25(t) FROM t WHERE t MATCH ?1 ORDER BY bm25(t) LIMIT ?2",
                           -1, &h->query, NULL) != SQLITE_OK) {
        fts5_fail(h->db, path, err, errlen);
        sqlite3_close(h->db);
        free(h);
        return NULL;
    }
    return h;
}

static int fts5_word_byte(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80;
}

/* Rewrites text as "w1" OR "w2" OR ... into h->match; returns the number of
 * words. Words never contain a quote, so no escaping is needed. */
static int fts5_match_expr(fts5_handle *h, const char *text)
{
    size_t need = strlen(text) * 7 + 1, len = 0;
    const unsigned char *p = (const unsigned char *)text;
    int words = 0;
    if (need > h->match_cap) {
        free(h->match);
        h->match = (char *)bm25_xmalloc(need);
        h->match_cap = need;
    }
    while (*p) {
        const unsigned char *start;
        while (*p && !fts5_word_byte(*p)) p++;
        if (!*p) break;
        start = p;
        while (*p && fts5_word_byte(*p)) p++;
        if (words++) { memcpy(h->match + len, " OR ", 4); len += 4; }
        h->match[len++] = '"';
        memcpy(h->match + len, start, (size_t)(p - start));
        len += (size_t)(p - start);
        h->match[len++] = '"';
    }
    h->match[len] = '\0';
    return words;
}

static int fts5_search(void *hv, const char *query, int k, bm25_hits *out, char *err,
                       size_t errlen)
{
    fts5_handle *h = (fts5_handle *)hv;
    int rc;
    out->n = 0;
    if (fts5_match_expr(h, query) == 0) return 0;
    sqlite3_bind_text(h->query, 1, h->match, -1, SQLITE_STATIC);
    sqlite3_bind_int(h->query, 2, k);
    while ((rc = sqlite3_step(h->query)) == SQLITE_ROW && out->n < out->cap) {
        const char *id = (const char *)sqlite3_column_text(h->query, 0);
        int len = sqlite3_column_bytes(h->query, 0);
        if (!id || bm25_hit_set(&out->v[out->n], id, (size_t)len,
                                -sqlite3_column_double(h->query, 1)) != 0) {
            snprintf(err, errlen, "bad document id in result");
            sqlite3_reset(h->query);
            return -1;
        }
        out->n++;
    }
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        fts5_fail(h->db, h->match, err, errlen);
        sqlite3_reset(h->query);
        return -1;
    }
    sqlite3_reset(h->query);
    return 0;
}

static void fts5_close(void *hv)
{
    fts5_handle *h = (fts5_handle *)hv;
    if (!h) return;
    sqlite3_finalize(h->query);
    sqlite3_close(h->db);
    free(h->match);
    free(h);
}

int main(int argc, char **argv)
{
    bm25_engine e;
    e.method = "fts5";
    e.version = sqlite3_libversion();
    e.build = fts5_build;
    e.open = fts5_open;
    e.search = fts5_search;
    e.close = fts5_close;
    return bm25_main(argc, argv, &e);
}
