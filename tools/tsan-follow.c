/*
 * tsan-follow.c — searches on several threads while other processes
 * replace the index, for ThreadSanitizer (make check-tsan).
 *
 * A handle that finds its index retired by another process reopens the
 * current generation under its map lock while its other threads are
 * searching (store/generation.c). tests/test_generations.c checks the
 * answers under ASan; this runs the same situation under TSan, which the
 * Criterion tests cannot use here, to look for data races in the follow:
 * three threads search one read-only handle while lctx-index (the
 * ordinary build, in processes of its own) rebuilds and compacts the
 * collection six times.
 *
 *   tsan-follow CORPUS.jsonl LCTX_INDEX_PROGRAM WORKDIR
 *
 * Exit status 0 when every search succeeded and the handle ends counting
 * the documents a fresh handle counts, 1 otherwise (TSan's own exit code
 * on a report).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <spawn.h>

#include "lctx.h"

extern char **environ;

typedef struct searcher {
    lctx_db *db;
    int *stop;
    long searches, failures;
} searcher;

static void *search_loop(void *arg)
{
    searcher *s = arg;
    while (!__atomic_load_n(s->stop, __ATOMIC_RELAXED)) {
        lctx_search_opts o;
        lctx_search_opts_init(&o);
        o.k = 10;
        o.mode = LCTX_MODE_BM25;
        lctx_results *r;
        if (lctx_search(s->db, "information retrieval of documents", &o, &r) == LCTX_OK)
            lctx_results_free(r);
        else
            s->failures++;
        s->searches++;
    }
    return NULL;
}

/* Runs argv to its end; its exit status (-1 when it could not run). */
static int run(char *const argv[])
{
    pid_t pid;
    int status;
    if (posix_spawn(&pid, argv[0], NULL, NULL, argv, environ) != 0 ||
        waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: tsan-follow CORPUS.jsonl LCTX_INDEX WORKDIR\n");
        return 2;
    }
    char coll[4096];
    snprintf(coll, sizeof coll, "%s/follow.lctx", argv[3]);
    char *index_args[] = {argv[2], "-q", "-c", coll, argv[1], NULL};
    if (run(index_args) != 0) {
        fprintf(stderr, "tsan-follow: indexing %s failed\n", argv[1]);
        return 1;
    }
    lctx_db *db, *again = NULL;
    if (lctx_open(coll, LCTX_OPEN_READONLY, NULL, &db) != LCTX_OK) {
        fprintf(stderr, "tsan-follow: %s\n", lctx_errmsg(db));
        return 1;
    }
    int stop = 0;
    searcher s[3];
    pthread_t th[3];
    for (int i = 0; i < 3; i++) {
        s[i] = (searcher){db, &stop, 0, 0};
        pthread_create(&th[i], NULL, search_loop, &s[i]);
    }
    int failed = 0;
    for (int round = 0; round < 6 && !failed; round++) {
        char id[32];
        snprintf(id, sizeof id, "%d", round + 1);   /* BEIR ids of the dev collections */
        char *rebuild[] = {argv[2], "-q", "-c", coll, "--rebuild-index", NULL};
        char *del[] = {argv[2], "-q", "-c", coll, "--delete", id, NULL};
        char *compact[] = {argv[2], "-q", "-c", coll, "--compact", NULL};
        if (round % 2 == 0)
            failed = run(rebuild) != 0;
        else
            failed = run(del) != 0 || run(compact) != 0;
    }
    __atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
    long searches = 0, failures = 0;
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        searches += s[i].searches;
        failures += s[i].failures;
    }
    /* The long-lived handle must count what a fresh one counts (opened
     * after it is closed: one handle per collection per process). */
    lctx_stats mine, fresh;
    int ok = !failed && failures == 0 && lctx_stats_get(db, &mine) == LCTX_OK;
    lctx_close(db);
    ok = ok && lctx_open(coll, LCTX_OPEN_READONLY, NULL, &again) == LCTX_OK &&
         lctx_stats_get(again, &fresh) == LCTX_OK && mine.documents == fresh.documents;
    lctx_close(again);
    printf("tsan-follow: %ld searches, %ld failed, six replacements%s\n", searches, failures,
           failed ? " (an lctx-index run failed)" : "");
    return ok ? 0 : 1;
}
