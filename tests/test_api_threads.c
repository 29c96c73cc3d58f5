/*
 * test_api_threads.c — one handle shared by searching threads while a
 * writer commits; a second writer is refused with LCTX_EBUSY.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lctx.h"
#include "test_tmpdir.h"

TMPDIR_COLLECTION_SUITE(threads, "thr");

static const char *queries[] = {"alpha", "beta gamma", "\"gamma delta\"", "delta -alpha", "epsilon"};

typedef struct job {
    lctx_db *db;
    int failures;
    size_t expect[5];
} job;

static void *searcher(void *arg)
{
    job *j = arg;
    for (int i = 0; i < 100; i++) {
        lctx_search_opts o;
        lctx_search_opts_init(&o);
        o.k = 50;
        o.snippets = i % 2;
        lctx_results *r;
        if (lctx_search(j->db, queries[i % 5], &o, &r) != LCTX_OK) {
            j->failures++;
            continue;
        }
        /* the writer only adds documents without these words */
        if (lctx_results_count(r) != j->expect[i % 5])
            j->failures++;
        lctx_results_free(r);
    }
    return NULL;
}

Test(threads, concurrent_searches_and_writes, .timeout = 120)
{
    lctx_db *db;
    cr_assert_eq(lctx_open(dir, LCTX_OPEN_CREATE, NULL, &db), LCTX_OK);
    const char *words[] = {"alpha", "beta", "gamma", "delta", "epsilon"};
    cr_assert_eq(lctx_begin(db), LCTX_OK);
    for (int i = 0; i < 200; i++) {
        char id[16], text[128];
        snprintf(id, sizeof id, "d%d", i);
        snprintf(text, sizeof text, "%s %s %s filler", words[i % 5], words[(i / 5) % 5],
                 words[(i / 25) % 5]);
        lctx_doc d = {.id = id, .text = text};
        cr_assert_eq(lctx_add(db, &d), LCTX_OK);
    }
    cr_assert_eq(lctx_commit(db, NULL), LCTX_OK);
    job jobs[4];
    for (int q = 0; q < 5; q++) {
        lctx_search_opts o;
        lctx_search_opts_init(&o);
        o.k = 50;
        lctx_results *r;
        cr_assert_eq(lctx_search(db, queries[q], &o, &r), LCTX_OK);
        for (int t = 0; t < 4; t++)
            jobs[t].expect[q] = lctx_results_count(r);
        cr_assert_gt(lctx_results_count(r), 0, "query %s", queries[q]);
        lctx_results_free(r);
    }
    pthread_t th[4];
    for (int t = 0; t < 4; t++) {
        jobs[t].db = db;
        jobs[t].failures = 0;
        cr_assert_eq(pthread_create(&th[t], NULL, searcher, &jobs[t]), 0);
    }
    /* meanwhile, batches of unrelated documents */
    for (int b = 0; b < 10; b++) {
        cr_assert_eq(lctx_begin(db), LCTX_OK, "%s", lctx_errmsg(db));
        for (int i = 0; i < 20; i++) {
            char id[32];
            snprintf(id, sizeof id, "w%d-%d", b, i);
            lctx_doc d = {.id = id, .text = "unrelated words only here"};
            cr_assert_eq(lctx_add(db, &d), LCTX_OK);
        }
        cr_assert_eq(lctx_commit(db, NULL), LCTX_OK, "%s", lctx_errmsg(db));
    }
    for (int t = 0; t < 4; t++) {
        pthread_join(th[t], NULL);
        cr_assert_eq(jobs[t].failures, 0, "thread %d", t);
    }
    cr_assert_eq(lctx_check(db), LCTX_OK, "%s", lctx_errmsg(db));
    lctx_close(db);
}

/* Another process's writer: begin (and compact) while we hold the writer
 * lock; the exit status says what it got (0: as expected). */
static int other_writer(int expect_busy)
{
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        lctx_db *b;
        int bad = lctx_open(dir, 0, NULL, &b) != LCTX_OK;
        if (!bad && expect_busy)
            bad = lctx_begin(b) != LCTX_EBUSY || !strstr(lctx_errmsg(b), "another writer") ||
                  lctx_compact(b) != LCTX_EBUSY;
        else if (!bad) {
            lctx_results *r = NULL;
            bad = lctx_begin(b) != LCTX_OK || lctx_rollback(b) != LCTX_OK ||
                  lctx_search(b, "hello", NULL, &r) != LCTX_OK || lctx_results_count(r) != 1;
            lctx_results_free(r);
        }
        lctx_close(b);
        _exit(bad);
    }
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

Test(threads, second_writer_is_busy)
{
    lctx_db *a;
    cr_assert_eq(lctx_open(dir, LCTX_OPEN_CREATE, NULL, &a), LCTX_OK);
    lctx_doc d = {.id = "x", .text = "hello"};
    cr_assert_eq(lctx_begin(a), LCTX_OK);
    cr_assert_eq(lctx_add(a, &d), LCTX_OK);
    cr_assert_eq(lctx_commit(a, NULL), LCTX_OK, "%s", lctx_errmsg(a));
    cr_assert_eq(lctx_begin(a), LCTX_OK);
    lctx_doc e = {.id = "y", .text = "hello again"};
    cr_assert_eq(lctx_add(a, &e), LCTX_OK);
    cr_assert_eq(other_writer(1), 0, "the other writer was not kept out");
    cr_assert_eq(lctx_rollback(a), LCTX_OK, "%s", lctx_errmsg(a));
    /* the lock is free again, and the other process reads the document */
    cr_assert_eq(other_writer(0), 0, "the other writer could not begin, or missed the batch");
    lctx_close(a);
}

/* LMDB allows one environment per file per process (store/once.c): a
 * second handle on an open collection is refused, with what to do; once
 * the first is closed, it opens. */
Test(threads, a_second_handle_in_one_process_is_refused)
{
    lctx_db *a, *b;
    cr_assert_eq(lctx_open(dir, LCTX_OPEN_CREATE, NULL, &a), LCTX_OK);
    lctx_doc d = {.id = "x", .text = "hello"};
    cr_assert_eq(lctx_begin(a), LCTX_OK);
    cr_assert_eq(lctx_add(a, &d), LCTX_OK);
    cr_assert_eq(lctx_commit(a, NULL), LCTX_OK, "%s", lctx_errmsg(a));
    unsigned flags[] = {0, LCTX_OPEN_READONLY, LCTX_OPEN_READONLY | LCTX_OPEN_VECTOR_CACHE};
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(lctx_open(dir, flags[i], NULL, &b), LCTX_EBUSY, "flags %u", flags[i]);
        cr_assert(strstr(lctx_errmsg(b), "open in another handle already"), "%s",
                  lctx_errmsg(b));
        lctx_close(b);
    }
    /* the refused opens took nothing from the first handle */
    lctx_results *r;
    cr_assert_eq(lctx_search(a, "hello", NULL, &r), LCTX_OK, "%s", lctx_errmsg(a));
    cr_assert_eq(lctx_results_count(r), 1);
    lctx_results_free(r);
    lctx_close(a);
    cr_assert_eq(lctx_open(dir, LCTX_OPEN_READONLY, NULL, &b), LCTX_OK, "%s", lctx_errmsg(b));
    lctx_close(b);
}
