/*
 * test_recovery_crash.c — batches survive crashes between and during the
 * two commits, a failed LMDB apply leaves both stores as before, the LMDB
 * map grows on demand, and newer format versions are refused.
 *
 * The real-process test forks a writer that commits batches and reports
 * each committed sequence number through a pipe; the parent kill -9s it at
 * a random moment, reopens, runs the integrity check, and verifies every
 * reported batch is present. tools/crash-test.sh runs many more rounds.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lctx.h"
#include "test_hits.h"
#include "test_tmpdir.h"
#include "test_wide.h"
#include "store/store.h"

TMPDIR_COLLECTION_SUITE(recovery, "rec");

static void add(lctx_db *db, const char *id, const char *text)
{
    lctx_doc d = {.id = id, .title = id, .text = text};
    cr_assert_eq(lctx_add(db, &d), LCTX_OK, "%s", lctx_errmsg(db));
}

/* a and b answer q with the same documents and scores; returns how many. */
static size_t assert_same_answers(lctx_db *a, lctx_db *b, const char *q,
                                  const lctx_search_opts *o)
{
    lctx_results *ra, *rb;
    cr_assert_eq(lctx_search(a, q, o, &ra), LCTX_OK);
    cr_assert_eq(lctx_search(b, q, o, &rb), LCTX_OK);
    size_t n = lctx_results_count(ra);
    cr_assert_eq(n, lctx_results_count(rb));
    for (size_t j = 0; j < n; j++) {
        cr_assert_str_eq(lctx_results_get(ra, j)->id, lctx_results_get(rb, j)->id);
        cr_assert(lctx_results_get(ra, j)->score == lctx_results_get(rb, j)->score);
    }
    lctx_results_free(ra);
    lctx_results_free(rb);
    return n;
}

/* The same three batches; the second is interrupted after SQLite when crash.
 * caller_every: store_test_caller_every for the first two batches. */
static lctx_db *three_batches(const char *path, int crash, unsigned caller_every)
{
    lctx_db *db;
    cr_assert_eq(lctx_open(path, LCTX_OPEN_CREATE, NULL, &db), LCTX_OK, "%s", lctx_errmsg(db));
    store_test_caller_every(db, caller_every);
    cr_assert_eq(lctx_begin(db), LCTX_OK);
    add(db, "one", "the quick brown fox jumps over the lazy dog");
    add(db, "two", "a lazy afternoon with a brown dog");
    cr_assert_eq(lctx_commit(db, NULL), LCTX_OK);
    store_test_stop_after_sqlite(db, crash);
    uint64_t seq = 0;
    cr_assert_eq(lctx_begin(db), LCTX_OK);
    add(db, "three", "foxes are quick and clever animals");
    add(db, "one", "the quick brown fox was replaced"); /* upsert */
    cr_assert_eq(lctx_delete(db, "two"), LCTX_OK);
    cr_assert_eq(lctx_commit(db, &seq), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(seq, 2);
    if (crash) {
        /* the "crash": the handle goes away without LMDB having the batch */
        lctx_close(db);
        cr_assert_eq(lctx_open(path, 0, NULL, &db), LCTX_OK, "%s", lctx_errmsg(db));
    }
    cr_assert_eq(lctx_begin(db), LCTX_OK, "%s", lctx_errmsg(db));
    add(db, "four", "clever dogs and quick foxes");
    cr_assert_eq(lctx_commit(db, &seq), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(seq, 3);
    return db;
}

/* a crashes between the stores in batch 2 and replays it on reopen, on one
 * thread; its first two batches were tokenized partly on the calling
 * thread (documents 0, 2, 4, ...), b's on the worker alone. */
Test(recovery, between_stores_replays_exactly)
{
    char ref[300];
    snprintf(ref, sizeof ref, "%s.ref", dir);
    lctx_db *a = three_batches(dir, 1, 2), *b = three_batches(ref, 0, 0);
    cr_assert_eq(lctx_check(a), LCTX_OK, "%s", lctx_errmsg(a));
    lctx_stats sa, sb;
    cr_assert_eq(lctx_stats_get(a, &sa), LCTX_OK);
    cr_assert_eq(lctx_stats_get(b, &sb), LCTX_OK);
    cr_assert_eq(sa.last_seq, 3);
    cr_assert_eq(sa.documents, 3);
    cr_assert_eq(sa.terms, sb.terms);
    cr_assert_eq(sa.postings, sb.postings);
    cr_assert_eq(sa.chunks, sb.chunks);
    cr_assert_eq(sa.deleted_chunks, sb.deleted_chunks);
    cr_assert_float_eq(sa.avg_chunk_len, sb.avg_chunk_len, 0);
    const char *qs[] = {"quick fox", "lazy", "clever", "replaced", "dog"};
    for (int i = 0; i < 5; i++)
        assert_same_answers(a, b, qs[i], NULL);
    cr_assert_eq(hits(a, "lazy"), 0); /* "two" deleted, "one" replaced */
    cr_assert_eq(hits(a, "replaced"), 1);
    lctx_close(a);
    lctx_close(b);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", ref);
    cr_assert_eq(system(cmd), 0);
}

/* Counts past a batch posting's 16 bits (store_wide) come back exactly
 * when the batch is replayed from the catalog after a crash between the
 * stores, as when it was first applied. */
/* While a batch awaits recovery (the catalog has it, the index not yet), a
 * reader's statistics are the index's, documents included, and say how
 * many batches wait; a read-write open replays them and the counts move. */
Test(recovery, stats_while_a_batch_awaits_recovery)
{
    lctx_db *db;
    cr_assert_eq(lctx_open(dir, LCTX_OPEN_CREATE, NULL, &db), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_begin(db), LCTX_OK);
    add(db, "one", "the quick brown fox");
    add(db, "two", "a lazy dog");
    cr_assert_eq(lctx_commit(db, NULL), LCTX_OK, "%s", lctx_errmsg(db));
    store_test_stop_after_sqlite(db, 1);
    cr_assert_eq(lctx_begin(db), LCTX_OK);
    add(db, "three", "foxes are clever");
    cr_assert_eq(lctx_delete(db, "two"), LCTX_OK);
    cr_assert_eq(lctx_commit(db, NULL), LCTX_OK, "%s", lctx_errmsg(db));
    lctx_close(db);
    cr_assert_eq(lctx_open(dir, LCTX_OPEN_READONLY, NULL, &db), LCTX_OK, "%s", lctx_errmsg(db));
    lctx_stats st;
    cr_assert_eq(lctx_stats_get(db, &st), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(st.last_seq, 1);
    cr_assert_eq(st.awaiting_recovery, 1);
    cr_assert_eq(st.documents, 2, "as of batch 1: one and two");
    cr_assert_eq(st.chunks, 2);
    lctx_close(db);
    cr_assert_eq(lctx_open(dir, 0, NULL, &db), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_stats_get(db, &st), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(st.last_seq, 2);
    cr_assert_eq(st.awaiting_recovery, 0);
    cr_assert_eq(st.documents, 2, "one and three");
    cr_assert_eq(st.chunks, 2);
    lctx_close(db);
}

Test(recovery, wide_counts_replay_exactly)
{
    char *text = repeat_str("apple-", 70000, ""), *title = repeat_str("pear ", 66000, "");
    lctx_db *db;
    cr_assert_eq(lctx_open(dir, LCTX_OPEN_CREATE, NULL, &db), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_begin(db), LCTX_OK);
    add(db, "small", "apple pear kiwi");
    cr_assert_eq(lctx_commit(db, NULL), LCTX_OK, "%s", lctx_errmsg(db));
    store_test_stop_after_sqlite(db, 1);
    cr_assert_eq(lctx_begin(db), LCTX_OK);
    lctx_doc d = {.id = "wide", .title = title, .text = text};
    cr_assert_eq(lctx_add(db, &d), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_commit(db, NULL), LCTX_OK, "%s", lctx_errmsg(db));
    lctx_close(db);
    cr_assert_eq(lctx_open(dir, 0, NULL, &db), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_check(db), LCTX_OK, "%s", lctx_errmsg(db));
    lctx_stats st;
    cr_assert_eq(lctx_stats_get(db, &st), LCTX_OK);
    cr_assert_eq(st.last_seq, 2);
    char *ex = explain_first(db, "apple", "wide");
    cr_assert(strstr(ex, "\"tf_text\":70000"), "%s", ex);
    free(ex);
    ex = explain_first(db, "pear", "wide");
    cr_assert(strstr(ex, "\"tf_title\":66000"), "%s", ex);
    free(ex);
    lctx_close(db);
    free(text);
    free(title);
}

/* A collection whose one batch holds "keep". */
static lctx_db *one_kept_document(void)
{
    lctx_db *db;
    cr_assert_eq(lctx_open(dir, LCTX_OPEN_CREATE, NULL, &db), LCTX_OK);
    cr_assert_eq(lctx_begin(db), LCTX_OK);
    add(db, "keep", "stable content here");
    cr_assert_eq(lctx_commit(db, NULL), LCTX_OK);
    return db;
}

/* A batch that adds "lost" (with this text) and deletes "keep"; returns
 * what its commit returned. */
static int lost_batch(lctx_db *db, const char *text)
{
    cr_assert_eq(lctx_begin(db), LCTX_OK);
    add(db, "lost", text);
    cr_assert_eq(lctx_delete(db, "keep"), LCTX_OK);
    return lctx_commit(db, NULL);
}

/* After a failed batch that added "lost" and deleted "keep": neither store
 * changed. */
static void assert_failed_batch_left_nothing(lctx_db *db)
{
    char *t;
    size_t n;
    cr_assert_eq(lctx_get_text(db, "lost", &t, &n), LCTX_ENOTFOUND);
    cr_assert_eq(lctx_get_text(db, "keep", &t, &n), LCTX_OK);
    free(t);
    cr_assert_eq(hits(db, "stable"), 1);
    cr_assert_eq(lctx_check(db), LCTX_OK, "%s", lctx_errmsg(db));
}

/* The next batch takes the failed one's number, and it all reopens clean.
 * Closes db. */
static void assert_next_batch_lands(lctx_db *db)
{
    uint64_t seq;
    cr_assert_eq(lctx_begin(db), LCTX_OK);
    add(db, "next", "after the failure");
    cr_assert_eq(lctx_commit(db, &seq), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(seq, 2);
    lctx_close(db);
    cr_assert_eq(lctx_open(dir, 0, NULL, &db), LCTX_OK);
    cr_assert_eq(lctx_check(db), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(hits(db, "failure"), 1);
    lctx_close(db);
}

Test(recovery, failed_lmdb_apply_rolls_back)
{
    lctx_db *db = one_kept_document();
    store_test_fail_lmdb(db, 1);
    cr_assert_eq(lost_batch(db, "this batch never lands"), LCTX_EIO);
    cr_assert(strstr(lctx_errmsg(db), "No space left") != NULL, "%s", lctx_errmsg(db));
    cr_assert(strstr(lctx_errmsg(db), "rolled back") != NULL, "%s", lctx_errmsg(db));
    store_test_fail_lmdb(db, 0);
    assert_failed_batch_left_nothing(db);
    assert_next_batch_lands(db);
}

/* The catalog's COMMIT runs on a thread of its own while LMDB's transaction
 * is written (write.c: commit_both); when the catalog fails, that
 * transaction must be thrown away, not committed. */
Test(recovery, failed_catalog_commit_leaves_lmdb_untouched)
{
    lctx_db *db = one_kept_document();
    for (int round = 0; round < 2; round++) {
        store_test_fail_catalog_commit(db, 1);
        cr_assert_neq(lost_batch(db, "zeppelin batch never lands"), LCTX_OK);
        cr_assert(strstr(lctx_errmsg(db), "catalog.db") != NULL, "%s", lctx_errmsg(db));
        store_test_fail_catalog_commit(db, 0);
        cr_assert_eq(hits(db, "zeppelin"), 0);
        assert_failed_batch_left_nothing(db);
    }
    assert_next_batch_lands(db);
    cr_assert_eq(lctx_open(dir, 0, NULL, &db), LCTX_OK);
    cr_assert_eq(hits(db, "zeppelin"), 0);
    lctx_close(db);
}

/* A fresh index is loaded in LMDB's key order (MDB_APPEND, store/apply.c);
 * a batch into an index that already holds something goes the ordinary way.
 * The same 400 documents, all in one batch or the first alone and then the
 * rest, must answer alike, scores included. */
static const char *words[] = {"alpha", "beta", "gamma", "delta", "epsilon", "zeta",
                              "eta", "theta", "iota", "kappa", "lambda", "mu"};

/* Opens dir as a and dir-ref as b, both new. */
static void open_pair(lctx_db **a, lctx_db **b)
{
    char ref[300];
    snprintf(ref, sizeof ref, "%s-ref", dir);
    cr_assert_eq(lctx_open(dir, LCTX_OPEN_CREATE, NULL, a), LCTX_OK);
    cr_assert_eq(lctx_open(ref, LCTX_OPEN_CREATE, NULL, b), LCTX_OK);
}

/* The same 400 documents of random words into a (one batch) and b (one
 * batch, or the first document alone then the rest when split_b); commits
 * both, checks a, and compares the answers for every word; closes both. */
static void load_and_compare(lctx_db *a, lctx_db *b, int split_b)
{
    cr_assert_eq(lctx_begin(a), LCTX_OK);
    cr_assert_eq(lctx_begin(b), LCTX_OK);
    srand(99);
    for (int d = 0; d < 400; d++) {   /* several postings blocks per term */
        char id[32], text[400];
        text[0] = 0;
        snprintf(id, sizeof id, "d%d", d);
        for (int w = 0; w < 12; w++) {
            strcat(text, words[rand() % 12]);
            strcat(text, w % 5 == 4 ? ". " : " ");
        }
        add(a, id, text);
        add(b, id, text);
        if (d == 0 && split_b) {
            cr_assert_eq(lctx_commit(b, NULL), LCTX_OK, "%s", lctx_errmsg(b));
            cr_assert_eq(lctx_begin(b), LCTX_OK);
        }
    }
    cr_assert_eq(lctx_commit(a, NULL), LCTX_OK, "%s", lctx_errmsg(a));
    cr_assert_eq(lctx_commit(b, NULL), LCTX_OK, "%s", lctx_errmsg(b));
    cr_assert_eq(lctx_check(a), LCTX_OK, "%s", lctx_errmsg(a));
    lctx_search_opts o;
    lctx_search_opts_init(&o);
    o.k = 500;
    for (int i = 0; i < 12; i++)
        cr_assert_gt(assert_same_answers(a, b, words[i], &o), 100);
    lctx_close(a);
    lctx_close(b);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s-ref'", dir);
    cr_assert_eq(system(cmd), 0);
}

/* A fresh index is bulk loaded (store/apply.c): the same answers as one
 * that took its first document in a batch of its own. */
Test(recovery, bulk_load_equals_ordinary_load)
{
    lctx_db *a, *b;
    open_pair(&a, &b);
    load_and_compare(a, b, 1);
}

/* Documents tokenized on the calling thread (as when the worker has a
 * backlog) are merged into the worker's postings at commit: the same
 * answers as a batch the worker tokenized. Document 0 goes to the caller,
 * so the merge also moves the worker's chunk records. */
Test(recovery, caller_tokenized_documents_change_nothing)
{
    lctx_db *a, *b;
    open_pair(&a, &b);
    store_test_caller_every(a, 3);
    load_and_compare(a, b, 0);
}

/* lctx_rollback drops the documents tokenized on the calling thread with
 * the rest of the batch, and the next batch builds as usual. */
Test(recovery, rollback_drops_caller_tokenized_documents)
{
    lctx_db *db = one_kept_document();
    store_test_caller_every(db, 2);
    char id[32];
    cr_assert_eq(lctx_begin(db), LCTX_OK);
    for (int d = 0; d < 6; d++) {
        snprintf(id, sizeof id, "gone%d", d);
        add(db, id, "ephemeral words only");
    }
    cr_assert_eq(lctx_rollback(db), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(hits(db, "ephemeral"), 0);
    cr_assert_eq(hits(db, "keep"), 1);
    cr_assert_eq(lctx_begin(db), LCTX_OK);
    for (int d = 0; d < 6; d++) {
        snprintf(id, sizeof id, "back%d", d);
        add(db, id, "returning words");
    }
    cr_assert_eq(lctx_commit(db, NULL), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(hits(db, "returning"), 6);
    cr_assert_eq(hits(db, "ephemeral"), 0);
    cr_assert_eq(lctx_check(db), LCTX_OK, "%s", lctx_errmsg(db));
    lctx_close(db);
}

/* Six documents ("lost", "lost1".."lost5") and the deletion of "keep" in
 * a batch where tokenizing the third document fails, on the worker or on
 * the calling thread (caller_every): lctx_add or lctx_commit reports it,
 * the batch commits nothing, and the next one lands. */
static void fail_tokenizing(unsigned caller_every)
{
    lctx_db *db = one_kept_document();
    store_test_caller_every(db, caller_every);
    cr_assert_eq(lctx_begin(db), LCTX_OK);
    lctx_stats st;
    cr_assert_eq(lctx_stats_get(db, &st), LCTX_OK);
    store_test_fail_doc(db, st.documents + 2);   /* ids continue from the kept one */
    int reported = 0;
    for (int d = 0; d < 6; d++) {
        char id[32];
        snprintf(id, sizeof id, d ? "lost%d" : "lost", d);
        lctx_doc doc = {.id = id, .title = id, .text = "doomed words"};
        int rc = lctx_add(db, &doc);
        cr_assert(!reported || rc != LCTX_OK, "add %d after the failure succeeded", d);
        if (rc != LCTX_OK) {
            cr_assert_eq(rc, LCTX_ENOMEM, "%s", lctx_errmsg(db));
            reported++;
        }
    }
    cr_assert_eq(lctx_delete(db, "keep"), LCTX_OK);
    int rc = lctx_commit(db, NULL);
    cr_assert_eq(rc, LCTX_ENOMEM, "the batch must fail (%d)", rc);
    cr_assert(strstr(lctx_errmsg(db), "simulated") != NULL, "%s", lctx_errmsg(db));
    if (caller_every == 1)   /* the failing add reports it at once */
        cr_assert(reported >= 1 && reported <= 5, "%d adds failed", reported);
    store_test_fail_doc(db, UINT64_MAX);
    cr_assert_eq(hits(db, "doomed"), 0);
    assert_failed_batch_left_nothing(db);
    assert_next_batch_lands(db);
}

Test(recovery, failed_tokenizing_on_worker_fails_batch)
{
    fail_tokenizing(0);
}

Test(recovery, failed_tokenizing_on_caller_fails_batch)
{
    fail_tokenizing(1);
}

Test(recovery, map_grows)
{
    lctx_db *db;
    cr_assert_eq(store_open(dir, LCTX_OPEN_CREATE, NULL, 256 * 1024, &db), LCTX_OK,
                 "%s", lctx_errmsg(db));
    char text[2048], id[32];
    cr_assert_eq(lctx_begin(db), LCTX_OK);
    for (int i = 0; i < 400; i++) {
        size_t m = 0;
        for (int w = 0; w < 150 && m + 16 < sizeof text; w++)
            m += (size_t)snprintf(text + m, sizeof text - m, "w%dx%d ", (i * 7 + w) % 3000, w % 5);
        snprintf(id, sizeof id, "d%d", i);
        add(db, id, text);
    }
    cr_assert_eq(lctx_commit(db, NULL), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_check(db), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_gt(hits(db, "w17x2"), 0);
    char file[300];
    struct stat sb;
    snprintf(file, sizeof file, "%s/index/data.mdb", dir);
    cr_assert_eq(stat(file, &sb), 0);
    cr_assert_gt(sb.st_size, 256 * 1024, "the map must have grown past its initial size");
    lctx_close(db);
}

Test(recovery, newer_format_refused)
{
    lctx_db *db;
    cr_assert_eq(lctx_open(dir, LCTX_OPEN_CREATE, NULL, &db), LCTX_OK);
    lctx_close(db);
    char file[300];
    snprintf(file, sizeof file, "%s/catalog.db", dir);
    sqlite3 *c;
    cr_assert_eq(sqlite3_open(file, &c), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(c, "UPDATE config SET value=99 WHERE key='format_version'",
                              NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(c);
    cr_assert_eq(lctx_open(dir, 0, NULL, &db), LCTX_EVERSION);
    cr_assert(strstr(lctx_errmsg(db), "newer") != NULL, "%s", lctx_errmsg(db));
    lctx_close(db);
    cr_assert_eq(lctx_open(dir, LCTX_OPEN_READONLY, NULL, &db), LCTX_EVERSION);
    lctx_close(db);
}

/* The writer: commits batches of 10 documents forever, reporting each. */
static void child_writer(const char *path, int round, int fd)
{
    lctx_db *db;
    if (lctx_open(path, LCTX_OPEN_CREATE, NULL, &db))
        _exit(3);
    for (uint32_t b = 0;; b++) {
        if (lctx_begin(db))
            _exit(4);
        for (int i = 0; i < 10; i++) {
            char id[64], text[256];
            snprintf(id, sizeof id, "r%d-b%u-%d", round, b, i);
            snprintf(text, sizeof text, "round%d batch%u item%d common words about crashes "
                     "and recovery of stores number %u", round, b, i, b * 10 + (uint32_t)i);
            lctx_doc d = {.id = id, .text = text};
            if (lctx_add(db, &d))
                _exit(5);
        }
        if (b % 3 == 2 && b > 0) { /* some deletes and upserts too */
            char id[64];
            snprintf(id, sizeof id, "r%d-b%u-0", round, b - 1);
            lctx_delete(db, id);
        }
        if (lctx_commit(db, NULL))
            _exit(6);
        if (write(fd, &b, sizeof b) != sizeof b)
            _exit(7);
    }
}

Test(recovery, kill9_during_indexing, .timeout = 120)
{
    srand((unsigned)time(NULL));
    for (int round = 0; round < 4; round++) {
        int p[2];
        cr_assert_eq(pipe(p), 0);
        pid_t pid = fork();
        cr_assert_geq(pid, 0);
        if (pid == 0) {
            close(p[0]);
            child_writer(dir, round, p[1]);
        }
        close(p[1]);
        /* let it commit a few batches, then kill at a random moment */
        uint32_t b, last = UINT32_MAX;
        int want = 1 + rand() % 4;
        for (int i = 0; i < want && read(p[0], &b, sizeof b) == sizeof b; i++)
            last = b;
        usleep((useconds_t)(rand() % 30000));
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        cr_assert(WIFSIGNALED(status), "writer exited early with %d", WEXITSTATUS(status));
        while (read(p[0], &b, sizeof b) == sizeof b)
            last = b;
        close(p[0]);
        cr_assert_neq(last, UINT32_MAX, "no batch committed in round %d", round);
        lctx_db *db;
        cr_assert_eq(lctx_open(dir, 0, NULL, &db), LCTX_OK, "%s", lctx_errmsg(db));
        cr_assert_eq(lctx_check(db), LCTX_OK, "round %d: %s", round, lctx_errmsg(db));
        for (uint32_t k = 0; k <= last; k++) {
            char id[64];
            snprintf(id, sizeof id, "r%d-b%u-5", round, k);
            char *t;
            size_t n;
            cr_assert_eq(lctx_get_text(db, id, &t, &n), LCTX_OK, "round %d: batch %u lost",
                         round, k);
            free(t);
            char q[64];
            snprintf(q, sizeof q, "\"round%d batch%u item5\"", round, k);
            cr_assert_eq(hits(db, q), 1, "round %d: batch %u not searchable", round, k);
        }
        lctx_close(db);
    }
}
