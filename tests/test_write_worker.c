/*
 * test_write_worker.c — the tokenizing worker's hand-over at finish
 * (indexer/write_worker.c): documents are processed in order, end runs once
 * after the last one, on the worker when it is busy and on the finishing
 * thread when the worker sleeps on an empty queue, in which case the
 * worker is reaped later.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "indexer/indexer.h"

typedef struct ctx {
    uint32_t seen[64];
    _Atomic int n;
    _Atomic int ends;
    pthread_t end_thread;
    /* a job for document `hold` waits until release is set */
    uint32_t hold;
    _Atomic int holding, release;
} ctx;

static void pause_ms(long ms)
{
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

static int index_fn(void *arg, uint32_t doc, uint32_t first_chunk, const char *title,
                    size_t title_len, const char *text, const chunk_span *spans, size_t n_spans)
{
    ctx *c = arg;
    if (doc == c->hold) {
        c->holding = 1;
        while (!c->release)
            pause_ms(1);
    }
    c->seen[c->n] = doc;
    c->n++;
    return 0;
}

static int end_fn(void *arg)
{
    ctx *c = arg;
    c->end_thread = pthread_self();
    c->ends++;
    return 0;
}

static void submit(write_worker *w, uint32_t doc)
{
    cr_assert_eq(write_worker_submit(w, doc, doc, "t", 1, "text", 4, NULL, 0, NULL, NULL), 0);
}

static void assert_in_order(const ctx *c, int n)
{
    cr_assert_eq(c->n, n);
    for (int i = 0; i < n; i++)
        cr_assert_eq(c->seen[i], (uint32_t)i, "document %d processed as %u", i, c->seen[i]);
    cr_assert_eq(c->ends, 1, "end runs once");
}

/* A worker with nothing left sleeps; finish then runs end here and leaves
 * the worker to be reaped. Whether the worker has gone to sleep 20 ms
 * after its last document is up to the scheduler, so each round accepts
 * either path, checks it is consistent, and the idle one must show up. */
Test(write_worker, idle_worker_ends_on_the_finishing_thread)
{
    int idle = 0;
    for (int round = 0; round < 10; round++) {
        ctx c = {.hold = UINT32_MAX};
        write_worker *w = write_worker_start(index_fn, end_fn, &c), *reap = (write_worker *)1;
        cr_assert_not_null(w);
        for (uint32_t d = 0; d < 5; d++)
            submit(w, d);
        /* below the wake threshold: finish wakes it, or it is already up */
        for (int t = 0; t < 2000 && c.n < 5; t++)
            pause_ms(1);
        pause_ms(20);
        cr_assert_eq(write_worker_finish(w, NULL, NULL, NULL, &reap), 0);
        if (reap) {
            idle++;
            cr_assert(pthread_equal(c.end_thread, pthread_self()), "idle: end runs here");
        } else {
            cr_assert_not(pthread_equal(c.end_thread, pthread_self()), "busy: end on the worker");
        }
        write_worker_reap(reap);
        assert_in_order(&c, 5);
    }
    cr_assert_gt(idle, 0, "the worker was found asleep in some round");
}

static void *release_later(void *arg)
{
    ctx *c = arg;
    pause_ms(100);
    c->release = 1;
    return NULL;
}

/* A worker still busy at finish keeps its backlog and its end. */
Test(write_worker, busy_worker_finishes_its_queue_and_ends_itself)
{
    ctx c = {.hold = 0};
    write_worker *w = write_worker_start(index_fn, end_fn, &c), *reap = (write_worker *)1;
    cr_assert_not_null(w);
    for (uint32_t d = 0; d < 12; d++)   /* past the wake threshold */
        submit(w, d);
    for (int t = 0; t < 2000 && !c.holding; t++)
        pause_ms(1);
    cr_assert(c.holding, "the worker took the first document");
    pthread_t helper;
    cr_assert_eq(pthread_create(&helper, NULL, release_later, &c), 0);
    cr_assert_eq(write_worker_finish(w, NULL, NULL, NULL, &reap), 0);
    cr_assert_null(reap, "joined already");
    cr_assert_not(pthread_equal(c.end_thread, pthread_self()), "end ran on the worker");
    pthread_join(helper, NULL);
    assert_in_order(&c, 12);
}

/* finish(NULL worker) and reap(NULL) do nothing. */
Test(write_worker, null_worker)
{
    write_worker *reap = (write_worker *)1;
    cr_assert_eq(write_worker_finish(NULL, NULL, NULL, NULL, &reap), 0);
    cr_assert_null(reap);
    write_worker_reap(NULL);
}
