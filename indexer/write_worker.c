/*
 * write_worker.c — tokenizing a batch on a second thread.
 *
 * Adding a document costs two things of about equal size: SQLite inserts
 * (the row, its text, its chunk ranges) and tokenization into the postings
 * builder. They touch disjoint state, so lctx_add does the SQLite half and
 * hands the other half to this worker through a bounded queue; on a machine
 * with two cores indexing then runs at the speed of the slower half.
 *
 * One worker per batch, jobs processed strictly in submission order: the
 * builder sees exactly the sequence of documents a single thread would have
 * fed it, so postings, chunk ids and term ids are the same, which crash
 * replay (single-threaded, same index function) relies on.
 *
 * The queue holds copies of title and text (the caller's strings live only
 * during lctx_add) and is bounded in bytes and jobs, so memory stays flat
 * however large the batch. The first error of the index function stops the
 * worker; it is reported by the next submit or by finish.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "indexer/indexer.h"

#define WORKER_MAX_JOBS 1024
#define WORKER_MAX_BYTES ((size_t)32 << 20)

typedef struct job {
    struct job *next;
    uint32_t doc, first_chunk;
    char *title;             /* title and text share one allocation */
    size_t title_len;
    char *text;
    chunk_span *spans;
    size_t n_spans;
    size_t bytes;
} job;

struct write_worker {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t can_take, can_put;
    job *head, *tail;
    size_t n_jobs, bytes;
    int closing;             /* no more jobs will come */
    int rc;                  /* first error of fn (0 = none) */
    write_index_fn fn;
    void *ctx;
};

static void job_free(job *j)
{
    if (!j)
        return;
    free(j->title);
    free(j->spans);
    free(j);
}

static void *worker_main(void *arg)
{
    write_worker *w = arg;
    for (;;) {
        pthread_mutex_lock(&w->mu);
        while (!w->head && !w->closing)
            pthread_cond_wait(&w->can_take, &w->mu);
        job *j = w->head;
        if (j) {
            w->head = j->next;
            if (!w->head)
                w->tail = NULL;
        }
        int stop = w->rc != 0;
        pthread_mutex_unlock(&w->mu);
        if (!j)
            return NULL; /* closing and drained */
        int rc = stop ? 0 : w->fn(w->ctx, j->doc, j->first_chunk, j->title, j->title_len,
                                  j->text, j->spans, j->n_spans);
        pthread_mutex_lock(&w->mu);
        if (rc && !w->rc)
            w->rc = rc;
        w->n_jobs--;
        w->bytes -= j->bytes;
        pthread_cond_signal(&w->can_put);
        pthread_mutex_unlock(&w->mu);
        job_free(j);
    }
}

write_worker *write_worker_start(write_index_fn fn, void *ctx)
{
    write_worker *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->fn = fn;
    w->ctx = ctx;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->can_take, NULL);
    pthread_cond_init(&w->can_put, NULL);
    if (pthread_create(&w->thread, NULL, worker_main, w)) {
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->can_take);
        pthread_cond_destroy(&w->can_put);
        free(w);
        return NULL;
    }
    return w;
}

int write_worker_submit(write_worker *w, uint32_t doc, uint32_t first_chunk, const char *title,
                        size_t title_len, const char *text, size_t text_len,
                        chunk_span *spans, size_t n_spans)
{
    job *j = calloc(1, sizeof *j);
    char *buf = malloc(title_len + text_len + 2);
    if (!j || !buf) {
        free(j);
        free(buf);
        free(spans);
        return -1;
    }
    memcpy(buf, title, title_len);
    buf[title_len] = 0;
    if (text_len)
        memcpy(buf + title_len + 1, text, text_len);
    buf[title_len + 1 + text_len] = 0;
    *j = (job){NULL, doc, first_chunk, buf, title_len, buf + title_len + 1, spans, n_spans,
               title_len + text_len + sizeof *j};
    pthread_mutex_lock(&w->mu);
    while ((w->n_jobs >= WORKER_MAX_JOBS || w->bytes >= WORKER_MAX_BYTES) && !w->rc)
        pthread_cond_wait(&w->can_put, &w->mu);
    int rc = w->rc;
    if (!rc) {
        if (w->tail)
            w->tail->next = j;
        else
            w->head = j;
        w->tail = j;
        w->n_jobs++;
        w->bytes += j->bytes;
        pthread_cond_signal(&w->can_take);
    }
    pthread_mutex_unlock(&w->mu);
    if (rc)
        job_free(j);
    return rc;
}

static int stop(write_worker *w, int abort_jobs)
{
    pthread_mutex_lock(&w->mu);
    w->closing = 1;
    if (abort_jobs && !w->rc)
        w->rc = -1; /* the worker drops what is left */
    pthread_cond_signal(&w->can_take);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    int rc = w->rc;
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->can_take);
    pthread_cond_destroy(&w->can_put);
    free(w);
    return rc;
}

int write_worker_finish(write_worker *w)
{
    return w ? stop(w, 0) : 0;
}

void write_worker_abort(write_worker *w)
{
    if (w)
        stop(w, 1);
}
