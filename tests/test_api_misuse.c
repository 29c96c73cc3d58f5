/*
 * test_api_misuse.c — include/lctx.h against callers who get things wrong
 * or push a shared handle hard:
 *
 *   - configs the library cannot honour (an unknown language, NaN or
 *     infinite numbers) are refused at open, before anything is created;
 *   - a bad open still gives a handle whose message says why; unknown flags
 *     and formats are refused; the *_init functions take NULL;
 *   - lctx_check replays a batch the catalog holds and the index lacks,
 *     instead of calling that state corrupt;
 *   - threads sharing a handle each read their own failure's message;
 *   - threads searching back to back do not keep a writer out.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lctx.h"
#include "store/store.h"
#include "test_hits.h"
#include "test_tmpdir.h"

TMPDIR_COLLECTION_SUITE(misuse, "misuse");

static void add(lctx_db *db, const char *id, const char *text)
{
    lctx_doc d = {.id = id, .text = text};
    cr_assert_eq(lctx_add(db, &d), LCTX_OK, "%s", lctx_errmsg(db));
}

/* Opens with c; expects EINVAL naming want, and no collection made. */
static void expect_refused(const lctx_config *c, const char *want)
{
    lctx_db *db;
    cr_assert_eq(lctx_open(dir, LCTX_OPEN_CREATE, c, &db), LCTX_EINVAL);
    cr_assert(strstr(lctx_errmsg(db), want), "%s", lctx_errmsg(db));
    cr_assert(strstr(lctx_errmsg(db), dir), "the message names the collection: %s",
              lctx_errmsg(db));
    lctx_close(db);
    struct stat sb;
    cr_assert_neq(stat(dir, &sb), 0, "a refused config created %s", dir);
}

Test(misuse, configs_that_cannot_be_honoured)
{
    lctx_config c;
    lctx_config_init(&c);
    c.language = "klingon";
    expect_refused(&c, "unknown language 'klingon'");
    c.language = "German";
    expect_refused(&c, "bad language name 'German' (Snowball's names are lower case");
    c.language = "";
    expect_refused(&c, "bad language name ''");
    double bad[] = {NAN, INFINITY, -1};
    for (int i = 0; i < 3; i++) {
        lctx_config_init(&c);
        c.bm25_k1 = bad[i];
        expect_refused(&c, "bad collection config");
        lctx_config_init(&c);
        c.bm25_b = bad[i];
        expect_refused(&c, "bad collection config");
        lctx_config_init(&c);
        c.title_weight = bad[i];
        expect_refused(&c, "bad collection config");
        lctx_config_init(&c);
        c.lsh_target_recall = i == 2 ? 5 : bad[i];
        expect_refused(&c, "bad collection config");
    }
    /* what the config allows still works */
    lctx_config_init(&c);
    c.language = "french";
    lctx_db *db;
    cr_assert_eq(lctx_open(dir, LCTX_OPEN_CREATE, &c, &db), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_begin(db), LCTX_OK, "%s", lctx_errmsg(db));
    add(db, "f", "les chevaux mangent");
    cr_assert_eq(lctx_commit(db, NULL), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(hits(db, "cheval"), 1, "french stemming");
    lctx_close(db);
}

Test(misuse, bad_calls_say_why)
{
    lctx_db *db = NULL;
    cr_assert_eq(lctx_open("", LCTX_OPEN_CREATE, NULL, &db), LCTX_EINVAL);
    cr_assert_not_null(db, "a handle to read the message from");
    cr_assert(strstr(lctx_errmsg(db), "no collection path"), "%s", lctx_errmsg(db));
    lctx_close(db);
    cr_assert_eq(lctx_open(NULL, 0, NULL, &db), LCTX_EINVAL);
    lctx_close(db);
    cr_assert_eq(lctx_open(dir, LCTX_OPEN_CREATE | 0x100u, NULL, &db), LCTX_EINVAL);
    cr_assert(strstr(lctx_errmsg(db), "unknown flags 0x100"), "%s", lctx_errmsg(db));
    lctx_close(db);
    /* NULL is no crash */
    lctx_config_init(NULL);
    lctx_ingest_opts_init(NULL);
    cr_assert_eq(lctx_open(dir, LCTX_OPEN_CREATE, NULL, &db), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_begin(db), LCTX_OK);
    lctx_ingest_opts io;
    lctx_ingest_opts_init(&io);
    io.format = (enum lctx_format)99;
    cr_assert_eq(lctx_ingest(db, "tests/data/ingest/docs", &io, NULL), LCTX_EINVAL);
    cr_assert(strstr(lctx_errmsg(db), "unknown format 99"), "%s", lctx_errmsg(db));
    lctx_rollback(db);
    lctx_close(db);
}

/* The catalog has the batch, the index does not (what a full disk after
 * the catalog's commit leaves, played by stopping after SQLite). */
Test(misuse, check_replays_a_batch_the_index_lacks)
{
    lctx_db *db;
    cr_assert_eq(lctx_open(dir, LCTX_OPEN_CREATE, NULL, &db), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_begin(db), LCTX_OK);
    add(db, "a", "first batch words");
    cr_assert_eq(lctx_commit(db, NULL), LCTX_OK, "%s", lctx_errmsg(db));
    store_test_stop_after_sqlite(db, 1);
    cr_assert_eq(lctx_begin(db), LCTX_OK);
    add(db, "b", "second batch zeppelin");
    cr_assert_eq(lctx_commit(db, NULL), LCTX_OK, "%s", lctx_errmsg(db));
    store_test_stop_after_sqlite(db, 0);
    cr_assert_eq(hits(db, "zeppelin"), 0, "the index lacks the batch");
    cr_assert_eq(lctx_check(db), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(hits(db, "zeppelin"), 1, "and has it after the check");
    lctx_close(db);
}

/* Two threads fail in different ways, again and again, on one handle;
 * each must read its own reason, never the other's or a torn one. */
typedef struct failer {
    lctx_db *db;
    int kind;
    int wrong;
} failer;

static void *fail_often(void *arg)
{
    failer *f = arg;
    const char *want = f->kind ? "invalid UTF-8" : "k must be between";
    for (int i = 0; i < 3000; i++) {
        lctx_search_opts o;
        lctx_search_opts_init(&o);
        o.mode = LCTX_MODE_BM25;
        if (f->kind == 0)
            o.k = 100000000;
        lctx_results *r = NULL;
        int rc = lctx_search(f->db, f->kind ? "bad \xff query" : "words", &o, &r);
        if (rc == LCTX_OK) {
            lctx_results_free(r);
            f->wrong++;
        } else if (!strstr(lctx_errmsg(f->db), want)) {
            f->wrong++;
        }
    }
    return NULL;
}

Test(misuse, each_thread_reads_its_own_error, .timeout = 120)
{
    lctx_db *db;
    cr_assert_eq(lctx_open(dir, LCTX_OPEN_CREATE, NULL, &db), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_begin(db), LCTX_OK);
    add(db, "a", "some words");
    cr_assert_eq(lctx_commit(db, NULL), LCTX_OK, "%s", lctx_errmsg(db));
    failer f[2] = {{db, 0, 0}, {db, 1, 0}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, fail_often, &f[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    cr_assert_eq(f[0].wrong + f[1].wrong, 0, "%d and %d messages were another thread's",
                 f[0].wrong, f[1].wrong);
    lctx_close(db);
}

/* Eight readers search back to back on the writer's handle; each lctx_begin
 * waits for the map lock (index_writer_follow), and must get it. With
 * glibc's default reader-first lock it waited as long as they searched
 * (this test then ran into its timeout; a release build's first
 * lctx_begin waited 21.5 s, the next for ever). */
typedef struct reader {
    lctx_db *db;
    volatile int *stop;
    long searches;
} reader;

static void *search_on(void *arg)
{
    reader *r = arg;
    while (!__atomic_load_n(r->stop, __ATOMIC_ACQUIRE)) {
        lctx_results *res;
        if (lctx_search(r->db, "words batch", NULL, &res) == LCTX_OK)
            lctx_results_free(res);
        r->searches++;
    }
    return NULL;
}

Test(misuse, searching_threads_do_not_keep_the_writer_out, .timeout = 120)
{
    lctx_db *db;
    cr_assert_eq(lctx_open(dir, LCTX_OPEN_CREATE, NULL, &db), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_begin(db), LCTX_OK);
    for (int i = 0; i < 3000; i++) {   /* every search reads a long list */
        char id[16], text[64];
        snprintf(id, sizeof id, "d%d", i);
        snprintf(text, sizeof text, "words of the first batch, number %d", i % 100);
        add(db, id, text);
    }
    cr_assert_eq(lctx_commit(db, NULL), LCTX_OK, "%s", lctx_errmsg(db));
    volatile int stop = 0;
    reader r[8];
    pthread_t t[8];
    for (int i = 0; i < 8; i++) {
        r[i] = (reader){db, &stop, 0};
        cr_assert_eq(pthread_create(&t[i], NULL, search_on, &r[i]), 0);
    }
    for (int b = 0; b < 5; b++) {
        cr_assert_eq(lctx_begin(db), LCTX_OK, "%s", lctx_errmsg(db));
        char id[16];
        snprintf(id, sizeof id, "late%d", b);
        add(db, id, "words of a later batch");
        cr_assert_eq(lctx_commit(db, NULL), LCTX_OK, "%s", lctx_errmsg(db));
    }
    __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
    long searches = 0;
    for (int i = 0; i < 8; i++) {
        pthread_join(t[i], NULL);
        searches += r[i].searches;
    }
    cr_assert_gt(searches, 0);
    cr_assert_eq(hits(db, "later"), 5);
    lctx_close(db);
}
