/*
 * test_generations.c — replacing the index under open handles
 * (store/generation.c).
 *
 * Compaction ends by replacing LMDB's file with a dense copy, and a
 * rebuild writes a new index beside the old one; both switch the catalog
 * to the new generation and retire the old one. What must hold:
 *  - the copy answers exactly as the index it replaces (ids, scores to the
 *    bit, best chunks) and is much smaller than the compacted file;
 *  - a replacement that fails before its commit point leaves the old index
 *    current, with a warning, and no folder behind;
 *  - a handle opened before a replacement in another process moves to the
 *    new index by itself: it sees batches committed after the
 *    replacement, which the retired index never gets; and a writer whose
 *    replacer died right after the commit point, before unlinking the old
 *    index, still writes into the new one;
 *  - a rebuild killed at any moment leaves a collection that opens, passes
 *    lctx_check, answers as before and keeps one generation after the next
 *    read-write open.
 */
#include "test_cli_harness.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lctx.h"
#include "test_corpus.h"
#include "test_hits.h"
#include "test_tmpdir.h"
#include "store/store.h"

TMPDIR_COLLECTION_SUITE(generations, "gen");

static test_warnings warned;

/* Three batches, a third of them deleted. */
static lctx_db *build(void)
{
    lctx_db *db;
    cr_assert_eq(lctx_open(dir, LCTX_OPEN_CREATE, NULL, &db), LCTX_OK);
    add_batch(db, 0, 400, 0);
    add_batch(db, 400, 300, 0);
    add_batch(db, 200, 100, 1);
    delete_ids(db, 0, 700, 3);
    lctx_set_warning_handler(db, warnings_count, &warned);
    warned.n = 0;
    return db;
}

static off_t index_size(void)
{
    char file[600];
    struct stat st;
    tmpdir_index_file(dir, "data.mdb", file, sizeof file);
    cr_assert_eq(stat(file, &st), 0, "%s", file);
    return st.st_size;
}

static const char *index_name(void)
{
    static char folder[512];
    cr_assert_eq(tmpdir_index_folders(dir, folder, sizeof folder), 1);
    return strrchr(folder, '/') + 1;
}

/* A batch of n documents of rare words: thousands of terms, which later
 * batches insert between earlier ones, so LMDB's pages split half-full. */
static void add_rare_words(lctx_db *db, int first, int n, unsigned seed)
{
    cr_assert_eq(lctx_begin(db), LCTX_OK, "%s", lctx_errmsg(db));
    for (int i = first; i < first + n; i++) {
        char id[16], text[256];
        size_t len = 0;
        for (int w = 0; w < 8; w++) {
            seed = seed * 1103515245u + 12345u;
            len += (size_t)snprintf(text + len, sizeof text - len, "q%05u ", seed >> 16 & 0x7fff);
        }
        snprintf(id, sizeof id, "r%d", i);
        lctx_doc d = {.id = id, .text = text};
        cr_assert_eq(lctx_add(db, &d), LCTX_OK, "%s", lctx_errmsg(db));
    }
    cr_assert_eq(lctx_commit(db, NULL), LCTX_OK, "%s", lctx_errmsg(db));
}

Test(generations, compaction_replaces_the_index_with_a_dense_copy)
{
    lctx_db *db = build();
    for (int b = 0; b < 4; b++)
        add_rare_words(db, b * 500, 500, 11u + (unsigned)b);
    /* First a compaction whose replacement fails: compacted in place. */
    store_test_fail_replace(db, 1);
    cr_assert_eq(lctx_compact(db), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(warned.n, 1);
    cr_assert(strstr(warned.last, "not shrunk"), "%s", warned.last);
    cr_assert_str_eq(index_name(), "index", "the failed copy left no folder");
    off_t compacted = index_size();
    char *before = answers(db);
    cr_assert_eq(lctx_check(db), LCTX_OK, "%s", lctx_errmsg(db));

    /* Then one that succeeds: nothing left to remove, but the file is now
     * mostly free pages and half-empty ones. */
    store_test_fail_replace(db, 0);
    cr_assert_eq(lctx_compact(db), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(warned.n, 1, "%s", warned.last);
    cr_assert_str_eq(index_name(), "index.1");
    off_t dense = index_size();
    /* LMDB's own compacting copy (MDB_CP_COMPACT) gives 42 % here. */
    cr_assert_lt(dense * 5, compacted * 2, "%lld bytes after, %lld before", (long long)dense,
                 (long long)compacted);
    char *after = answers(db);
    cr_assert_str_eq(after, before);
    cr_assert_eq(lctx_check(db), LCTX_OK, "%s", lctx_errmsg(db));
    /* A dense index with nothing to remove is left alone. */
    cr_assert_eq(lctx_compact(db), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_str_eq(index_name(), "index.1");

    /* It takes batches, and a new handle reads the same generation. */
    add_batch(db, 900, 20, 0);
    cr_assert_eq(bm25_hits(db, ALL_WORDS, 1000),
                 (size_t)(700 - 234 + 20));
    free(after);
    after = answers(db);
    lctx_close(db);
    cr_assert_eq(lctx_open(dir, LCTX_OPEN_READONLY, NULL, &db), LCTX_OK, "%s", lctx_errmsg(db));
    char *reread = answers(db);
    cr_assert_str_eq(reread, after);
    lctx_close(db);
    free(before);
    free(after);
    free(reread);
}

/* In another process: fn on a read-write handle, then exit. */
static void in_child(void (*fn)(lctx_db *db), unsigned flags)
{
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        lctx_db *other;
        int rc = lctx_open(dir, flags, NULL, &other);
        if (rc == LCTX_OK)
            fn(other);
        lctx_close(other);
        _exit(rc == LCTX_OK ? 0 : 1);
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the other process failed");
}

static void compact_then_add(lctx_db *db)
{
    cr_assert_eq(lctx_compact(db), LCTX_OK, "%s", lctx_errmsg(db));
    add_batch(db, 2000, 10, 0);
}

static void add_later(lctx_db *db)
{
    add_batch(db, 2000, 10, 0);
}

/* Documents d2000..d2009 that a handle finds. */
static int later_docs(lctx_db *db)
{
    return ids_found(db, "d200", 5);
}

Test(generations, a_reader_follows_a_compaction_in_another_process)
{
    lctx_db *db = build();
    lctx_close(db);
    cr_assert_eq(lctx_open(dir, LCTX_OPEN_READONLY, NULL, &db), LCTX_OK);
    cr_assert_eq(later_docs(db), 0);
    in_child(compact_then_add, 0);
    cr_assert_str_eq(index_name(), "index.1", "the old generation was retired");
    cr_assert_eq(later_docs(db), 10, "the reader still reads the retired index");
    lctx_close(db);
}

static void compact_and_stop(lctx_db *db)
{
    store_test_fail_replace(db, 2);
    cr_assert_eq(lctx_compact(db), LCTX_OK, "%s", lctx_errmsg(db));
}

Test(generations, a_writer_never_writes_into_a_retired_index)
{
    lctx_db *db = build();
    const char *all = ALL_WORDS;
    size_t live = bm25_hits(db, all, 1000);
    /* The other process switches generations but dies before it retires
     * the old one, so nothing tells this handle but the catalog. */
    in_child(compact_and_stop, 0);
    char folder[512];
    cr_assert_eq(tmpdir_index_folders(dir, folder, sizeof folder), 2);
    add_batch(db, 2000, 10, 0);
    lctx_close(db);
    cr_assert_eq(lctx_open(dir, LCTX_OPEN_READONLY, NULL, &db), LCTX_OK);
    cr_assert_eq(later_docs(db), 10, "the batch went to the retired index");
    cr_assert_eq(bm25_hits(db, all, 1000), live + 10);
    lctx_close(db);
    cr_assert_eq(lctx_open(dir, 0, NULL, &db), LCTX_OK);
    cr_assert_str_eq(index_name(), "index.1", "the old generation was removed at last");
    cr_assert_eq(lctx_check(db), LCTX_OK, "%s", lctx_errmsg(db));
    lctx_close(db);
}

Test(generations, handles_follow_a_rebuild_in_another_process)
{
    lctx_db *db = build();
    const char *all = ALL_WORDS;
    size_t live = bm25_hits(db, all, 1000);
    in_child(add_later, LCTX_OPEN_REBUILD_INDEX);
    cr_assert_str_eq(index_name(), "index.1");
    /* The writer's first call after the rebuild is a batch: it must go to
     * the new generation, not the retired one. (Readers follow in
     * a_reader_follows_a_compaction_in_another_process: one handle per
     * process, store/once.c.) */
    add_batch(db, 3000, 5, 0);
    cr_assert_eq(later_docs(db), 10);
    cr_assert_eq(bm25_hits(db, all, 1000), live + 15);
    cr_assert_eq(lctx_check(db), LCTX_OK, "%s", lctx_errmsg(db));
    lctx_close(db);
    cr_assert_eq(lctx_open(dir, LCTX_OPEN_READONLY, NULL, &db), LCTX_OK);
    cr_assert_eq(bm25_hits(db, all, 1000), live + 15, "a batch was lost");
    lctx_close(db);
}

Test(generations, a_failed_rebuild_leaves_the_old_index_current)
{
    lctx_db *db = build();
    char *before = answers(db);
    lctx_close(db);
    /* What a rebuild that died before its commit point leaves: a next
     * generation that the catalog does not name. */
    char stray[600];
    snprintf(stray, sizeof stray, "%s/index.1", dir);
    cr_assert_eq(mkdir(stray, 0777), 0);
    snprintf(stray, sizeof stray, "%s/index.1/data.mdb", dir);
    FILE *f = fopen(stray, "w");
    cr_assert_not_null(f);
    fputs("half a rebuild", f);
    fclose(f);
    char folder[512];
    cr_assert_eq(tmpdir_index_folders(dir, folder, sizeof folder), 2);
    cr_assert_eq(lctx_open(dir, LCTX_OPEN_READONLY, NULL, &db), LCTX_OK, "%s", lctx_errmsg(db));
    char *ro = answers(db);
    cr_assert_str_eq(ro, before);
    lctx_close(db);
    cr_assert_eq(lctx_open(dir, 0, NULL, &db), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_str_eq(index_name(), "index", "the stray generation was removed");
    cr_assert_eq(lctx_check(db), LCTX_OK, "%s", lctx_errmsg(db));
    lctx_close(db);
    free(ro);
    free(before);
}

Test(generations, a_rebuild_killed_at_any_moment_loses_nothing)
{
    lctx_db *db = build();
    char *before = answers(db);
    lctx_close(db);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    cr_assert_eq(lctx_open(dir, LCTX_OPEN_REBUILD_INDEX, NULL, &db), LCTX_OK);
    lctx_close(db);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long span_us = (t1.tv_sec - t0.tv_sec) * 1000000L + (t1.tv_nsec - t0.tv_nsec) / 1000;
    srand(7);
    for (int round = 0; round < 12; round++) {
        pid_t pid = fork_rebuild(dir);
        usleep((useconds_t)(rand() % (span_us + 1)));
        kill(pid, SIGKILL);
        int status;
        cr_assert_eq(waitpid(pid, &status, 0), pid);
        cr_assert_eq(lctx_open(dir, 0, NULL, &db), LCTX_OK, "round %d: %s", round,
                     lctx_errmsg(db));
        char folder[512];
        cr_assert_eq(tmpdir_index_folders(dir, folder, sizeof folder), 1, "round %d", round);
        cr_assert_eq(lctx_check(db), LCTX_OK, "round %d: %s", round, lctx_errmsg(db));
        char *now = answers(db);
        cr_assert_str_eq(now, before, "round %d", round);
        free(now);
        lctx_close(db);
    }
    free(before);
}

/* Threads searching one handle while other processes replace its index
 * again and again: every search succeeds, and the handle ends on the last
 * generation with every batch in it. */
typedef struct searcher {
    lctx_db *db;
    volatile int *stop;
    int failures, searches;
} searcher;

static void *search_loop(void *arg)
{
    searcher *s = arg;
    while (!*s->stop) {
        lctx_search_opts o;
        lctx_search_opts_init(&o);
        o.k = 20;
        o.mode = LCTX_MODE_BM25;
        lctx_results *r;
        if (lctx_search(s->db, "river glacier ember", &o, &r) != LCTX_OK)
            s->failures++;
        else
            lctx_results_free(r);
        s->searches++;
    }
    return NULL;
}

/* Round r of the replacements: a rebuild, or documents deleted, added and
 * compacted away, by lctx-index in a process of its own (spawned: forking
 * a process whose threads are searching could copy a lock they hold). */
static void replace_round(int r)
{
    char del[16], jsonl[1024];
    size_t n = 0;
    cmd_result c;
    if (r % 2 == 0) {
        c = run(NULL, "lctx-index", "-q", "-c", dir, "--rebuild-index", NULL);
    } else {
        snprintf(del, sizeof del, "d%d", r * 3 + 1);   /* one build() kept */
        c = run(NULL, "lctx-index", "-q", "-c", dir, "--delete", del, NULL);
        cr_assert_eq(c.status, 0, "%s", c.err);
        result_free(&c);
        for (int i = 0; i < 10; i++)
            n += (size_t)snprintf(jsonl + n, sizeof jsonl - n,
                                  "{\"_id\":\"x%d_%d\",\"text\":\"river glacier ember %d\"}\n",
                                  r, i, i);
        c = run(jsonl, "lctx-index", "-q", "-c", dir, "--compact", "-", NULL);
    }
    cr_assert_eq(c.status, 0, "round %d: %s", r, c.err);
    result_free(&c);
}

Test(generations, searches_go_on_across_replacements)
{
    lctx_db *db = build();
    lctx_close(db);
    cr_assert_eq(lctx_open(dir, LCTX_OPEN_READONLY, NULL, &db), LCTX_OK);
    /* static: a failed assertion ends the test while the threads run */
    static volatile int stop;
    static searcher s[3];
    pthread_t th[3];
    stop = 0;
    for (int i = 0; i < 3; i++) {
        s[i] = (searcher){db, &stop, 0, 0};
        cr_assert_eq(pthread_create(&th[i], NULL, search_loop, &s[i]), 0);
    }
    for (int round = 0; round < 6; round++)
        replace_round(round);
    stop = 1;
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        cr_assert_eq(s[i].failures, 0, "thread %d: %d of %d searches failed", i,
                     s[i].failures, s[i].searches);
        cr_assert_gt(s[i].searches, 0);
    }
    char *now = answers(db);
    lctx_close(db);
    cr_assert_eq(lctx_open(dir, LCTX_OPEN_READONLY, NULL, &db), LCTX_OK);
    char *fresh = answers(db);
    cr_assert_str_eq(now, fresh, "the long-lived handle missed a replacement");
    cr_assert_str_eq(index_name(), "index.6");
    lctx_close(db);
    free(now);
    free(fresh);
}
