/*
 * test_renumber.c — compaction gives documents and chunks dense ids again
 * (store/renumber.c).
 *
 * Ids are 32-bit and never reused, so upserts spend them; renumbering at
 * compaction is what keeps a collection from filling up. What must hold:
 *  - afterwards the live documents have ids 1..n and their chunks 1..m in
 *    the old order, the next ids follow them, and every batch's range
 *    still holds exactly its documents (replay reads them by range);
 *  - every search answers exactly as before (ids, scores to the bit, byte
 *    ranges; vector and hybrid searches too), lctx_check passes, later
 *    batches and a full rebuild of the index agree with it;
 *  - a collection whose ids ran out ("collection is full") takes new
 *    documents again after a plain compaction;
 *  - a renumbering that fails inside its commit changes neither store;
 *  - a search whose index snapshot is from before a renumbering in another
 *    process, and whose catalog reads come after it, still answers with
 *    the right documents (it must not look old ids up in the new catalog).
 */
#define _GNU_SOURCE /* strcasestr, in test_loopback.h */
#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lctx.h"
#include "store/store.h"
#include "test_corpus.h"
#include "test_fake_embedder.h"
#include "test_tmpdir.h"

static char dir[256], url[128], coll[300];
static loopback lb;
static test_warnings warned;

static void handle(int c)
{
    fake_serve(c, fake_plain_vector);
}

static void setup(void)
{
    fake_service_start(&lb, handle, 120, "ren", dir, url, coll);
    warned.n = 0;
}

static void teardown(void)
{
    loopback_stop(&lb);
    tmpdir_remove(dir);
}

TestSuite(renumber, .init = setup, .fini = teardown, .timeout = 120);

/* A collection with passages of 5 words, so that documents have one to
 * three chunks, with or without vectors. */
static lctx_db *open_coll(int vectors)
{
    lctx_config cfg;
    lctx_config_init(&cfg);
    cfg.chunk_words = 5;
    if (vectors)
        cfg.embedder = url;
    lctx_db *db;
    cr_assert_eq(lctx_open(coll, LCTX_OPEN_CREATE, &cfg, &db), LCTX_OK, "%s", lctx_errmsg(db));
    if (vectors)
        store_test_lsh_threshold(db, 32);   /* buckets, not only exact search */
    lctx_set_warning_handler(db, warnings_count, &warned);
    return db;
}

/* Batches, upserts, deletions, a blank document (no chunk) and a title
 * alone (one empty chunk): holes in both id ranges. */
static void churn(lctx_db *db)
{
    add_batch(db, 0, 300, 0);
    add_batch(db, 300, 200, 0);
    add_batch(db, 100, 100, 1);
    delete_ids(db, 0, 500, 3);
    cr_assert_eq(lctx_begin(db), LCTX_OK);
    lctx_doc blank = {.id = "blank", .text = "   "};
    lctx_doc titled = {.id = "titled", .title = "copper lantern"};
    cr_assert_eq(lctx_add(db, &blank), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_add(db, &titled), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_commit(db, NULL), LCTX_OK);
    add_batch(db, 500, 50, 0);
    delete_ids(db, 500, 20, 2);
}

/* Every query's top 50 in mode as "query id score start end" lines,
 * scores exact; chunk ids left out, as they are what changes. */
static char *answers_in(lctx_db *db, enum lctx_mode mode)
{
    size_t cap = 1 << 16, n = 0;
    char *out = malloc(cap);
    cr_assert_not_null(out);
    out[0] = 0;
    for (int q = 0; q < NQUERIES; q++) {
        lctx_search_opts o;
        lctx_search_opts_init(&o);
        o.k = 50;
        o.mode = mode;
        lctx_results *r;
        cr_assert_eq(lctx_search(db, QUERIES[q], &o, &r), LCTX_OK, "%s", lctx_errmsg(db));
        for (size_t i = 0; i < lctx_results_count(r); i++) {
            const lctx_hit *h = lctx_results_get(r, i);
            if (n + 160 > cap)
                cr_assert_not_null(out = realloc(out, cap *= 2));
            n += (size_t)snprintf(out + n, cap - n, "%d %s %a %a %llu %llu\n", q, h->id,
                                  h->score, h->vector_score, (unsigned long long)h->start,
                                  (unsigned long long)h->end);
        }
        lctx_results_free(r);
    }
    return out;
}

static sqlite3 *catalog(void)
{
    char file[400];
    sqlite3 *c;
    snprintf(file, sizeof file, "%s/catalog.db", coll);
    cr_assert_eq(sqlite3_open_v2(file, &c, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    sqlite3_busy_timeout(c, 5000);
    return c;
}

static long long scalar(sqlite3 *c, const char *sql)
{
    sqlite3_stmt *st;
    cr_assert_eq(sqlite3_prepare_v2(c, sql, -1, &st, NULL), SQLITE_OK, "%s: %s", sql,
                 sqlite3_errmsg(c));
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW, "%s", sql);
    long long v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* 1 when the catalog's ids are dense: documents 1..n, chunks 1..m in
 * order, the next ids right after, vectors on live chunks only, and every
 * batch's range holding its documents. */
static int dense(void)
{
    sqlite3 *c = catalog();
    long long docs = scalar(c, "SELECT count(*) FROM documents"),
              chunks = scalar(c, "SELECT coalesce(sum(n_chunks), 0) FROM documents");
    int ok = scalar(c, "SELECT coalesce(max(doc_id), 0) FROM documents") == docs &&
             scalar(c, "SELECT value FROM config WHERE key='next_doc'") == docs + 1 &&
             scalar(c, "SELECT value FROM config WHERE key='next_chunk'") == chunks + 1 &&
             scalar(c, "SELECT count(*) FROM documents d WHERE first_chunk != 1 + (SELECT "
                       "coalesce(sum(n_chunks), 0) FROM documents e WHERE e.doc_id < d.doc_id)")
                 == 0;
    cr_assert_eq(scalar(c, "SELECT count(*) FROM documents d JOIN batches b ON d.batch_seq = "
                           "b.seq WHERE d.doc_id < b.first_doc OR d.doc_id >= b.end_doc"), 0,
                 "a document outside its batch's range");
    cr_assert_eq(scalar(c, "SELECT count(*) FROM vectors v WHERE NOT EXISTS (SELECT 1 FROM "
                           "documents d WHERE v.chunk_id >= d.first_chunk AND v.chunk_id < "
                           "d.first_chunk + d.n_chunks)"), 0, "a vector of no live chunk");
    sqlite3_close(c);
    return ok;
}

/* The ids lctx_stats says are spent, less the live documents and chunks. */
static void ids_beyond_live(lctx_db *db, uint64_t *docs, uint64_t *chunks)
{
    lctx_stats st;
    cr_assert_eq(lctx_stats_get(db, &st), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_geq(st.doc_ids_spent, st.documents);
    cr_assert_geq(st.chunk_ids_spent, st.chunks);
    *docs = st.doc_ids_spent - st.documents;
    *chunks = st.chunk_ids_spent - st.chunks;
}

static void renumber_keeps_answers(int vectors)
{
    lctx_db *db = open_coll(vectors);
    churn(db);
    enum lctx_mode modes[] = {LCTX_MODE_BM25, LCTX_MODE_VECTOR, LCTX_MODE_HYBRID};
    int n_modes = vectors ? 3 : 1;
    char *before[3], *after[3];
    cr_assert_eq(lctx_compact(db), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_not(dense(), "plain compaction renumbered: this test proves nothing");
    uint64_t gone_docs, gone_chunks;
    ids_beyond_live(db, &gone_docs, &gone_chunks);
    cr_assert(gone_docs > 0 && gone_chunks > 0);
    for (int m = 0; m < n_modes; m++)
        before[m] = answers_in(db, modes[m]);

    store_test_renumber(db, 1);
    cr_assert_eq(lctx_compact(db), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(warned.n, 0, "%s", warned.last);
    cr_assert(dense(), "ids are not dense after renumbering");
    ids_beyond_live(db, &gone_docs, &gone_chunks);
    cr_assert(gone_docs == 0 && gone_chunks == 0, "stats: %llu %llu ids beyond the live ones",
              (unsigned long long)gone_docs, (unsigned long long)gone_chunks);
    cr_assert_eq(lctx_check(db), LCTX_OK, "%s", lctx_errmsg(db));
    for (int m = 0; m < n_modes; m++) {
        after[m] = answers_in(db, modes[m]);
        cr_assert_str_eq(after[m], before[m], "mode %d answers differ", m);
        free(after[m]);
    }

    /* Later batches go on from the new ids, and a rebuild replays every
     * batch by its new range into the same index. */
    store_test_renumber(db, 0);
    add_batch(db, 600, 40, 0);
    delete_ids(db, 600, 10, 1);
    cr_assert_eq(lctx_check(db), LCTX_OK, "%s", lctx_errmsg(db));
    for (int m = 0; m < n_modes; m++) {
        free(before[m]);
        before[m] = answers_in(db, modes[m]);
    }
    cr_assert_eq(lctx_close(db), LCTX_OK);
    cr_assert_eq(lctx_open(coll, LCTX_OPEN_REBUILD_INDEX, NULL, &db), LCTX_OK, "%s",
                 lctx_errmsg(db));
    cr_assert_eq(lctx_check(db), LCTX_OK, "%s", lctx_errmsg(db));
    for (int m = 0; m < n_modes; m++) {
        after[m] = answers_in(db, modes[m]);
        cr_assert_str_eq(after[m], before[m], "mode %d answers differ after a rebuild", m);
        free(after[m]);
        free(before[m]);
    }
    cr_assert_eq(lctx_close(db), LCTX_OK);
}

Test(renumber, ids_come_back_dense_and_answers_stay)
{
    renumber_keeps_answers(0);
}

Test(renumber, vectors_and_buckets_follow_their_chunks)
{
    renumber_keeps_answers(1);
}

Test(renumber, a_failed_renumbering_changes_nothing)
{
    lctx_db *db = open_coll(0);
    churn(db);
    cr_assert_eq(lctx_compact(db), LCTX_OK, "%s", lctx_errmsg(db));
    char *before = answers_in(db, LCTX_MODE_BM25);
    store_test_renumber(db, 1);
    store_test_fail_replace(db, 3);   /* after the catalog's ids moved, before COMMIT */
    warned.n = 0;
    cr_assert_eq(lctx_compact(db), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(warned.n, 1, "the failure must be a warning");
    cr_assert(strstr(warned.last, "not shrunk"), "%s", warned.last);
    cr_assert_not(dense());
    cr_assert_eq(lctx_check(db), LCTX_OK, "%s", lctx_errmsg(db));
    char *after = answers_in(db, LCTX_MODE_BM25);
    cr_assert_str_eq(after, before);
    free(after);
    char folder[1024];
    cr_assert_eq(tmpdir_index_folders(coll, folder, sizeof folder), 1, "a stray generation");

    store_test_fail_replace(db, 0);    /* and the next compaction does it */
    cr_assert_eq(lctx_compact(db), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert(dense());
    after = answers_in(db, LCTX_MODE_BM25);
    cr_assert_str_eq(after, before);
    free(after);
    free(before);
    cr_assert_eq(lctx_close(db), LCTX_OK);
}

/* Sets the next ids the catalog hands out, with no handle open. */
static void set_next_ids(long long next)
{
    sqlite3 *c = catalog();
    char sql[200];
    snprintf(sql, sizeof sql, "UPDATE config SET value=%lld WHERE key IN ('next_doc', "
             "'next_chunk')", next);
    cr_assert_eq(sqlite3_exec(c, sql, NULL, NULL, NULL), SQLITE_OK, "%s", sqlite3_errmsg(c));
    sqlite3_close(c);
}

Test(renumber, a_full_collection_takes_documents_again_after_compaction)
{
    lctx_db *db = open_coll(0);
    add_batch(db, 0, 20, 0);
    cr_assert_eq(lctx_close(db), LCTX_OK);
    set_next_ids(4294967296LL - 30);   /* 30 ids left of each kind */
    db = open_coll(0);

    cr_assert_eq(lctx_begin(db), LCTX_OK);
    int added = 0, rc = LCTX_OK;
    for (int i = 1000; rc == LCTX_OK && i < 1100; i++) {
        char id[16], text[256], title[32];
        snprintf(id, sizeof id, "d%d", i);
        doc_text(i, 0, text, sizeof text, title, sizeof title);
        lctx_doc d = {.id = id, .text = text};
        if ((rc = lctx_add(db, &d)) == LCTX_OK)
            added++;
    }
    cr_assert_eq(rc, LCTX_EINVAL);
    cr_assert(strstr(lctx_errmsg(db), "full") && strstr(lctx_errmsg(db), "compact"), "%s",
              lctx_errmsg(db));
    cr_assert(added > 0 && added < 30, "%d added", added);
    cr_assert_eq(lctx_commit(db, NULL), LCTX_OK, "%s", lctx_errmsg(db));
    lctx_stats st;
    cr_assert_eq(lctx_stats_get(db, &st), LCTX_OK);
    cr_assert_geq(st.chunk_ids_spent, 4294967296ULL - 4, "%llu",
                  (unsigned long long)st.chunk_ids_spent);
    delete_ids(db, 10, 10, 1);

    /* No test hook: a quarter of the id space is holes, so compaction
     * renumbers by itself. */
    cr_assert_eq(lctx_compact(db), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(warned.n, 0, "%s", warned.last);
    cr_assert(dense());
    cr_assert_eq(ids_found(db, "d1", 2), 1, "d1 (kept) is lost");
    cr_assert_eq(ids_found(db, "d1", 3), 0, "d10..d19 were deleted");
    cr_assert_eq(ids_found(db, "d10", 5), added, "documents of the full batch are lost");
    add_batch(db, 2000, 200, 0);
    cr_assert_eq(ids_found(db, "d2", 5), 200);
    cr_assert_eq(lctx_check(db), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_close(db), LCTX_OK);
}

/* The race: a search takes its index snapshot, another process renumbers,
 * then the search reads the catalog. d0..d5 are deleted, so the new ids of
 * d12 and d13 are the old ones of d6 and d7, the only documents with
 * "alpha": looked up in the new catalog, the old snapshot's hits name d12
 * and d13. The search runs in a child process whose snapshot hook hands
 * over to the parent, which compacts with renumbering, and back. */
static int to_parent[2], to_child[2];

static void hand_over(void *ctx)
{
    int *done = ctx;
    char b = 0;
    if ((*done)++)
        return;   /* the search's later runs */
    if (write(to_parent[1], "s", 1) != 1 || read(to_child[0], &b, 1) != 1 || b != 'c')
        _exit(3);
}

/* In the child: the hits are d6 and d7, with "alpha" in their snippets. */
static int search_in_child(void)
{
    lctx_db *db;
    int done = 0;
    if (lctx_open(coll, LCTX_OPEN_READONLY, NULL, &db))
        return 2;
    store_test_after_snapshot(db, hand_over, &done);
    lctx_search_opts o;
    lctx_search_opts_init(&o);
    o.mode = LCTX_MODE_BM25;
    o.snippets = 1;
    lctx_results *r;
    if (lctx_search(db, "alpha", &o, &r))
        return 4;
    int bad = lctx_results_count(r) != 2;
    for (size_t i = 0; i < lctx_results_count(r); i++) {
        const lctx_hit *h = lctx_results_get(r, i);
        if ((strcmp(h->id, "d6") && strcmp(h->id, "d7")) || !h->snippet ||
            !strstr(h->snippet, "alpha"))
            bad = 1;
    }
    lctx_results_free(r);
    lctx_close(db);
    return bad ? 5 : done == 2 ? 0 : 6;   /* 6: the search never ran again */
}

Test(renumber, a_search_never_mixes_the_two_numberings)
{
    lctx_db *db = open_coll(0);
    cr_assert_eq(lctx_begin(db), LCTX_OK);
    for (int i = 0; i < 46; i++) {
        char id[16], text[64];
        snprintf(id, sizeof id, "d%d", i);
        snprintf(text, sizeof text, "uniq%d%s", i, i == 6 || i == 7 ? " alpha" : "");
        lctx_doc d = {.id = id, .text = text};
        cr_assert_eq(lctx_add(db, &d), LCTX_OK, "%s", lctx_errmsg(db));
    }
    cr_assert_eq(lctx_commit(db, NULL), LCTX_OK);
    delete_ids(db, 0, 6, 1);
    cr_assert_eq(lctx_compact(db), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_close(db), LCTX_OK);

    cr_assert_eq(pipe(to_parent), 0);
    cr_assert_eq(pipe(to_child), 0);
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0)
        _exit(search_in_child());
    char b = 0;
    cr_assert_eq(read(to_parent[0], &b, 1), 1, "the child never searched");
    cr_assert_eq(lctx_open(coll, 0, NULL, &db), LCTX_OK, "%s", lctx_errmsg(db));
    store_test_renumber(db, 1);
    cr_assert_eq(lctx_compact(db), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert(dense());
    cr_assert_eq(lctx_close(db), LCTX_OK);
    cr_assert_eq(write(to_child[1], "c", 1), 1);
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %d", WEXITSTATUS(st));
}

/* Stores that disagree (a live document's row removed behind lctx's back):
 * the map lacks its chunks, so renumbering stops with a warning naming
 * one, and both stores keep their ids. */
Test(renumber, stores_that_disagree_are_not_renumbered)
{
    lctx_db *db = open_coll(0);
    churn(db);
    cr_assert_eq(lctx_compact(db), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_close(db), LCTX_OK);
    sqlite3 *c = catalog();
    long long before = scalar(c, "SELECT max(doc_id) FROM documents");
    cr_assert_eq(sqlite3_exec(c, "DELETE FROM documents WHERE ext_id='d4'", NULL, NULL, NULL),
                 SQLITE_OK);
    sqlite3_close(c);
    db = open_coll(0);
    store_test_renumber(db, 1);
    warned.n = 0;
    cr_assert_eq(lctx_compact(db), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(warned.n, 1, "%d warnings", warned.n);
    cr_assert(strstr(warned.last, "belongs to no live document"), "%s", warned.last);
    char folder[1024];
    cr_assert_eq(tmpdir_index_folders(coll, folder, sizeof folder), 1, "a stray generation");
    c = catalog();
    cr_assert_eq(scalar(c, "SELECT max(doc_id) FROM documents"), before);
    sqlite3_close(c);
    cr_assert_eq(lctx_close(db), LCTX_OK);
}
