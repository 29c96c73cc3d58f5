/*
 * test_create.c — the creation protocol (store/create.c): a new collection
 * is marked by NAME.lctx/creating until its first batch commits or its
 * creator closes it; a creation whose creator died starts over, empty,
 * with the config it was created with; a live creator is left alone; a
 * creation whose open or first batch failed leaves nothing behind; and two
 * processes creating the same collection at once leave one collection.
 *
 * Crashes are real: a forked child creates the collection and is killed
 * with SIGKILL at a chosen point (or a random moment of its first batch),
 * and the parent reopens.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lctx.h"
#include "test_hits.h"
#include "test_tmpdir.h"

TMPDIR_COLLECTION_SUITE(create, "create");

static int marked(void)
{
    char f[300];
    struct stat sb;
    snprintf(f, sizeof f, "%s/creating", dir);
    return stat(f, &sb) == 0;
}

static void add(lctx_db *db, const char *id, const char *text)
{
    lctx_doc d = {.id = id, .text = text};
    cr_assert_eq(lctx_add(db, &d), LCTX_OK, "%s", lctx_errmsg(db));
}

static lctx_stats stats(lctx_db *db)
{
    lctx_stats s;
    cr_assert_eq(lctx_stats_get(db, &s), LCTX_OK, "%s", lctx_errmsg(db));
    return s;
}

/* A config unlike the defaults in everything a marker records for BM25. */
static lctx_config odd_config(void)
{
    lctx_config c;
    lctx_config_init(&c);
    c.language = "french";
    c.bm25_k1 = 0.7;
    c.bm25_b = 0.3;
    c.chunk_words = 33;
    return c;
}

static void assert_odd_config(lctx_db *db)
{
    lctx_stats s = stats(db);
    cr_assert_str_eq(s.language, "french");
    cr_assert_float_eq(s.bm25_k1, 0.7, 1e-12);
    cr_assert_float_eq(s.bm25_b, 0.3, 1e-12);
}

Test(create, marker_lives_until_the_first_commit)
{
    lctx_db *db;
    cr_assert_eq(lctx_open(dir, LCTX_OPEN_CREATE, NULL, &db), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert(marked());
    cr_assert_eq(lctx_begin(db), LCTX_OK);
    add(db, "a", "first words of a new collection");
    cr_assert_eq(lctx_rollback(db), LCTX_OK);
    cr_assert(marked(), "a rolled-back batch commits nothing");
    cr_assert_eq(lctx_begin(db), LCTX_OK);
    add(db, "a", "first words of a new collection");
    cr_assert_eq(lctx_commit(db, NULL), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert(!marked());
    cr_assert_eq(lctx_begin(db), LCTX_OK);
    add(db, "b", "second batch words");
    cr_assert_eq(lctx_commit(db, NULL), LCTX_OK, "%s", lctx_errmsg(db));
    lctx_close(db);
    cr_assert_eq(lctx_open(dir, LCTX_OPEN_READONLY, NULL, &db), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(hits(db, "words"), 2);
    cr_assert_eq(stats(db).last_seq, 2);
    lctx_close(db);
    cr_assert_eq(lctx_open(dir, 0, NULL, &db), LCTX_OK);
    cr_assert_eq(lctx_check(db), LCTX_OK, "%s", lctx_errmsg(db));
    lctx_close(db);
}

Test(create, closing_without_a_batch_keeps_the_collection)
{
    lctx_db *db;
    lctx_config c = odd_config();
    cr_assert_eq(lctx_open(dir, LCTX_OPEN_CREATE, &c, &db), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert(marked());
    cr_assert_eq(lctx_close(db), LCTX_OK);
    cr_assert(!marked());
    cr_assert_eq(lctx_open(dir, LCTX_OPEN_READONLY, NULL, &db), LCTX_OK, "%s", lctx_errmsg(db));
    assert_odd_config(db);
    cr_assert_eq(stats(db).documents, 0);
    lctx_close(db);
}

/* The child creates the collection with odd_config, adds documents, and
 * stops (SIGSTOP) before committing: the parent then kills it. */
static pid_t creator_stopped_before_commit(void)
{
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        lctx_db *db;
        lctx_config c = odd_config();
        if (lctx_open(dir, LCTX_OPEN_CREATE, &c, &db) || lctx_begin(db))
            _exit(3);
        for (int i = 0; i < 200; i++) {
            char id[32];
            snprintf(id, sizeof id, "d%d", i);
            lctx_doc d = {.id = id, .text = "never committed text about zeppelins"};
            if (lctx_add(db, &d))
                _exit(4);
        }
        raise(SIGSTOP);
        _exit(5);
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, WUNTRACED), pid);
    cr_assert(WIFSTOPPED(status), "the creator failed before its commit");
    return pid;
}

static void kill_and_reap(pid_t pid)
{
    int status;
    kill(pid, SIGKILL);
    cr_assert_eq(waitpid(pid, &status, 0), pid);
}

Test(create, live_creator_is_left_alone)
{
    pid_t pid = creator_stopped_before_commit();
    lctx_db *db;
    /* its lock is held: the creation is not taken for an abandoned one
     * (a second read-write handle on a live creation is in
     * test_api_threads, second_writer_is_busy) */
    cr_assert_eq(lctx_open(dir, LCTX_OPEN_READONLY, NULL, &db), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(stats(db).documents, 0);
    lctx_close(db);
    cr_assert(marked());
    kill_and_reap(pid);
    cr_assert_eq(lctx_open(dir, LCTX_OPEN_READONLY, NULL, &db), LCTX_ENOTFOUND);
    lctx_close(db);
}

/* Collects the warnings a handle delivers, one per line. */
typedef struct warnings {
    char text[2048];
    int n;
} warnings;

static void collect(void *ctx, const char *message)
{
    warnings *w = ctx;
    size_t used = strlen(w->text);
    snprintf(w->text + used, sizeof w->text - used, "%s\n", message);
    w->n++;
}

Test(create, interrupted_creation_starts_over_with_its_config)
{
    kill_and_reap(creator_stopped_before_commit());
    cr_assert(marked());
    lctx_db *db;
    /* read-only cannot start over: it says why */
    cr_assert_eq(lctx_open(dir, LCTX_OPEN_READONLY, NULL, &db), LCTX_ENOTFOUND);
    cr_assert(strstr(lctx_errmsg(db), "interrupted") != NULL, "%s", lctx_errmsg(db));
    lctx_close(db);
    /* a plain read-write open (lctx-index --check) starts over, with the
     * config the collection was created with, not the defaults */
    cr_assert_eq(lctx_open(dir, 0, NULL, &db), LCTX_OK, "%s", lctx_errmsg(db));
    /* and says so, to the handler set after the open; once */
    warnings w = {{0}, 0};
    lctx_set_warning_handler(db, collect, &w);
    cr_assert_eq(w.n, 1, "%s", w.text);
    cr_assert(strstr(w.text, "interrupted") && strstr(w.text, "settings it was created with"),
              "%s", w.text);
    lctx_set_warning_handler(db, collect, &w);
    cr_assert_eq(w.n, 1, "delivered once");
    assert_odd_config(db);
    cr_assert_eq(stats(db).documents, 0);
    cr_assert_eq(hits(db, "zeppelins"), 0);
    cr_assert_eq(lctx_check(db), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert(marked());
    cr_assert_eq(lctx_begin(db), LCTX_OK, "%s", lctx_errmsg(db));
    add(db, "x", "a fresh start about airships");
    cr_assert_eq(lctx_commit(db, NULL), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert(!marked());
    lctx_close(db);
    cr_assert_eq(lctx_open(dir, LCTX_OPEN_READONLY, NULL, &db), LCTX_OK, "%s", lctx_errmsg(db));
    assert_odd_config(db);
    cr_assert_eq(hits(db, "airships"), 1);
    cr_assert_eq(stats(db).last_seq, 1);
    lctx_close(db);
}

/* A power cut can leave the marker empty and the catalog torn: starting
 * over needs neither, and takes the opener's config. */
Test(create, torn_marker_and_catalog_start_over)
{
    kill_and_reap(creator_stopped_before_commit());
    char f[300];
    snprintf(f, sizeof f, "%s/creating", dir);
    cr_assert_eq(truncate(f, 0), 0);
    snprintf(f, sizeof f, "%s/catalog.db", dir);
    int fd = open(f, O_WRONLY);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, "garbage, not a database header", 30), 30);
    close(fd);
    lctx_db *db;
    lctx_config c;
    lctx_config_init(&c);
    c.bm25_k1 = 1.5;
    cr_assert_eq(lctx_open(dir, 0, &c, &db), LCTX_OK, "%s", lctx_errmsg(db));
    warnings w = {{0}, 0};
    lctx_set_warning_handler(db, collect, &w);
    cr_assert(w.n == 1 && strstr(w.text, "this open's settings"), "%s", w.text);
    cr_assert_float_eq(stats(db).bm25_k1, 1.5, 1e-12);
    cr_assert_eq(lctx_check(db), LCTX_OK, "%s", lctx_errmsg(db));
    lctx_close(db);
    cr_assert(!marked());
}

/* The writer is killed at a random moment of its first batches, the
 * creation included; every reopen gives a collection that passes the
 * check and holds every batch reported committed. */
Test(create, kill9_during_creation, .timeout = 120)
{
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    for (int round = 0; round < 8; round++) {
        int p[2];
        cr_assert_eq(pipe(p), 0);
        pid_t pid = fork();
        cr_assert_geq(pid, 0);
        if (pid == 0) {
            close(p[0]);
            lctx_db *db;
            if (lctx_open(dir, LCTX_OPEN_CREATE, NULL, &db))
                _exit(3);
            for (int b = 0; b < 3; b++) {
                if (lctx_begin(db))
                    _exit(4);
                for (int i = 0; i < 300; i++) {
                    char id[32], text[96];
                    snprintf(id, sizeof id, "r%d-b%d-%d", round, b, i);
                    snprintf(text, sizeof text, "round%d batch%d item%d words about crashes",
                             round, b, i);
                    lctx_doc d = {.id = id, .text = text};
                    if (lctx_add(db, &d))
                        _exit(5);
                }
                if (lctx_commit(db, NULL))
                    _exit(6);
                if (write(p[1], &b, sizeof b) != sizeof b)
                    _exit(7);
            }
            lctx_close(db);
            _exit(0);
        }
        close(p[1]);
        usleep((useconds_t)(rand() % 150000));
        kill(pid, SIGKILL);
        int status, b, last = -1;
        waitpid(pid, &status, 0);
        while (read(p[0], &b, sizeof b) == sizeof b)
            last = b;
        close(p[0]);
        /* CREATE: a kill before the marker was written leaves no
         * collection at all, only perhaps its empty folder */
        lctx_db *db;
        cr_assert_eq(lctx_open(dir, LCTX_OPEN_CREATE, NULL, &db), LCTX_OK, "round %d: %s", round,
                     lctx_errmsg(db));
        cr_assert_eq(lctx_check(db), LCTX_OK, "round %d: %s", round, lctx_errmsg(db));
        for (int k = 0; k <= last; k++) {
            char q[64];
            snprintf(q, sizeof q, "\"round%d batch%d item7\"", round, k);
            cr_assert_eq(hits(db, q), 1, "round %d: batch %d lost", round, k);
        }
        lctx_close(db);
        tmpdir_collection_remove(dir);
        tmpdir_collection(dir, sizeof dir, "create");
    }
}

static int exists(const char *name)
{
    char f[300];
    struct stat sb;
    snprintf(f, sizeof f, "%s%s%s", dir, name[0] ? "/" : "", name);
    return stat(f, &sb) == 0;
}

/* Before the failed batch there was no collection, and after it there is
 * none: not an empty one that keeps the settings it was made with. A
 * folder the caller made keeps only the writer's lock file. */
Test(create, a_failed_first_batch_leaves_no_collection)
{
    for (int made = 0; made < 2; made++) {
        if (made)
            cr_assert_eq(mkdir(dir, 0777), 0);
        lctx_db *db;
        cr_assert_eq(lctx_open(dir, LCTX_OPEN_CREATE, NULL, &db), LCTX_OK, "%s", lctx_errmsg(db));
        cr_assert_eq(lctx_begin(db), LCTX_OK);
        add(db, "a", "words never committed");
        cr_assert_eq(lctx_rollback(db), LCTX_OK);
        cr_assert_eq(lctx_close(db), LCTX_OK, "%s", lctx_errmsg(db));
        cr_assert_eq(exists(""), made, "made %d", made);
        cr_assert(!exists("catalog.db") && !exists("index") && !exists("creating"));
        cr_assert_eq(lctx_open(dir, 0, NULL, &db), LCTX_ENOTFOUND);
        lctx_close(db);
        /* and a later creation takes its own settings */
        lctx_config c = odd_config();
        cr_assert_eq(lctx_open(dir, LCTX_OPEN_CREATE, &c, &db), LCTX_OK, "%s", lctx_errmsg(db));
        cr_assert_eq(lctx_begin(db), LCTX_OK);
        add(db, "b", "words that stay");
        cr_assert_eq(lctx_commit(db, NULL), LCTX_OK, "%s", lctx_errmsg(db));
        lctx_close(db);
        cr_assert_eq(lctx_open(dir, LCTX_OPEN_READONLY, NULL, &db), LCTX_OK, "%s", lctx_errmsg(db));
        assert_odd_config(db);
        cr_assert_eq(hits(db, "words"), 1);
        lctx_close(db);
        tmpdir_collection_remove(dir);
        tmpdir_collection(dir, sizeof dir, "create");
    }
}

/* An embedder that cannot be loaded fails the open after the marker and
 * the catalog exist; nothing of them stays, so the next creation is not
 * held to that embedder. */
Test(create, a_failed_creating_open_leaves_no_collection)
{
    lctx_config c;
    lctx_config_init(&c);
    c.embedder = "bert:/nonexistent/model/dir";
    lctx_db *db;
    cr_assert_neq(lctx_open(dir, LCTX_OPEN_CREATE, &c, &db), LCTX_OK);
    cr_assert(strstr(lctx_errmsg(db), "/nonexistent/model/dir"), "%s", lctx_errmsg(db));
    lctx_close(db);
    cr_assert(!exists(""), "the folder this open made is gone");
    cr_assert_eq(lctx_open(dir, LCTX_OPEN_CREATE, NULL, &db), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_begin(db), LCTX_OK, "%s", lctx_errmsg(db));
    add(db, "x", "plain keyword collection");
    cr_assert_eq(lctx_commit(db, NULL), LCTX_OK, "%s", lctx_errmsg(db));
    lctx_close(db);
}

/* A child creates the collection with 50 documents of its own: 0 when
 * committed, 2 when refused because the other one was first, 3 otherwise. */
static int concurrent_creator(int who)
{
    lctx_db *db;
    int rc = lctx_open(dir, LCTX_OPEN_CREATE, NULL, &db);
    if (rc == LCTX_OK)
        rc = lctx_begin(db);
    if (rc != LCTX_OK) {
        int busy = rc == LCTX_EBUSY && (strstr(lctx_errmsg(db), "is creating the collection") ||
                                        strstr(lctx_errmsg(db), "another writer"));
        if (!busy)
            fprintf(stderr, "creator %d: %s\n", who, lctx_errmsg(db));
        lctx_close(db);
        return busy ? 2 : 3;
    }
    for (int i = 0; i < 50; i++) {
        char id[32];
        snprintf(id, sizeof id, "c%d-%d", who, i);
        lctx_doc d = {.id = id, .text = "a document from one of two creators"};
        if (lctx_add(db, &d))
            return 3;
    }
    rc = lctx_commit(db, NULL);
    lctx_close(db);
    return rc ? 3 : 0;
}

Test(create, two_creators_at_once_leave_one_collection, .timeout = 120)
{
    for (int round = 0; round < 12; round++) {
        pid_t pid[2];
        for (int k = 0; k < 2; k++) {
            pid[k] = fork();
            cr_assert_geq(pid[k], 0);
            if (pid[k] == 0)
                _exit(concurrent_creator(k));
        }
        int committed = 0;
        for (int k = 0; k < 2; k++) {
            int status;
            cr_assert_eq(waitpid(pid[k], &status, 0), pid[k]);
            cr_assert(WIFEXITED(status) && WEXITSTATUS(status) != 3,
                      "round %d: creator %d failed for another reason", round, k);
            committed += WEXITSTATUS(status) == 0;
        }
        cr_assert_geq(committed, 1, "round %d: neither creator committed", round);
        lctx_db *db;
        cr_assert_eq(lctx_open(dir, 0, NULL, &db), LCTX_OK, "round %d: %s", round, lctx_errmsg(db));
        cr_assert(!marked());
        cr_assert_eq(lctx_check(db), LCTX_OK, "round %d: %s", round, lctx_errmsg(db));
        cr_assert_eq(stats(db).documents, 50 * (uint64_t)committed, "round %d", round);
        lctx_close(db);
        tmpdir_collection_remove(dir);
        tmpdir_collection(dir, sizeof dir, "create");
    }
}

/* A creating open that fails before its marker exists (here the marker's
 * write, under a file size limit of 0 bytes, as a full disk would) leaves
 * no folder behind either: only the writer's lock file was in it. */
Test(create, a_folder_made_for_a_failed_creation_goes)
{
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {0, 0};
        if (setrlimit(RLIMIT_FSIZE, &rl))
            _exit(3);
        lctx_db *db;
        int rc = lctx_open(dir, LCTX_OPEN_CREATE, NULL, &db);
        int said = db && strstr(lctx_errmsg(db), "creating") != NULL;
        lctx_close(db);
        _exit(rc == LCTX_OK ? 4 : said ? 0 : 5);
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d",
              WEXITSTATUS(status));
    cr_assert(!exists(""), "the failed creation left its folder");
}
