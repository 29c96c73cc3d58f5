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
 *
 * Handing over costs more than it seems: a document of a short-passage
 * corpus is tokenized in a few microseconds, about what one futex wake and
 * the context switch behind it cost. So the two threads talk in batches:
 * the worker takes the whole queue at once and sleeps only when it is
 * empty; the producer wakes a sleeping worker only once WORKER_WAKE_JOBS
 * jobs or WORKER_WAKE_BYTES bytes are waiting (or at finish), and the
 * worker wakes a blocked producer only when one is blocked. A job is one
 * allocation: its header followed by the title and text copies.
 *
 * Memory never crosses threads to be freed: glibc frees a block into the
 * arena of the thread that allocated it, under that arena's lock, so a
 * worker freeing the producer's jobs contended with every malloc of the
 * producer (it showed as futex calls, about one per document). Finished
 * jobs go back to the producer instead (the done list, handed over in the
 * same locked section as the queue) and are reused for later documents
 * when large enough; the producer frees the rest, and the spans.
 *
 * The worker is the slower half on most corpora (tokenizing costs more
 * than the SQLite inserts), and a producer that waits on a full queue
 * leaves a core idle. So past WORKER_SELF_JOBS queued jobs (or
 * WORKER_SELF_BYTES) the producer tokenizes the document itself, through
 * a second index function into a builder of its own, and the two threads
 * stay busy whatever the ratio of the two halves. Its documents
 * interleave with the worker's, which postings_build_merge undoes at
 * commit (each builder sees its documents in id order).
 *
 * At finish the producer has nothing left to do but wait, and the worker
 * may still have a backlog of up to WORKER_SELF_JOBS documents. So finish
 * can share it: the producer detaches the tail of the queue (about half of
 * what the worker still has, counting the jobs in its hands; the worker
 * takes at most WORKER_TAKE_JOBS at a time so that a backlog stays in the
 * queue) and runs it through the same second index function. Often the
 * worker has run dry and sleeps instead; then finish runs the worker's end
 * (sorting its builder) itself rather than wait about a millisecond for
 * the sleeper to wake, and the thread is joined later (write_worker_reap).
 *
 * No wake-up is lost: the worker sleeps only with an empty queue, so a
 * producer that finds the queue full (WORKER_MAX_JOBS > WORKER_WAKE_JOBS,
 * WORKER_MAX_BYTES > WORKER_WAKE_BYTES) has crossed the wake threshold on
 * the way, with the worker asleep, and signalled it then.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "indexer/indexer.h"

#define WORKER_MAX_JOBS 1024
#define WORKER_MAX_BYTES ((size_t)32 << 20)
#define WORKER_WAKE_JOBS 8
#define WORKER_WAKE_BYTES ((size_t)128 << 10)
/* The worker takes at most this many jobs at once, so that a backlog stays
 * in the shared queue where finish can split it. */
#define WORKER_TAKE_JOBS 4
/* finish shares the backlog only when the caller's part has this many
 * bytes: below that, a second tokenizer costs more than it saves. */
#define WORKER_SHARE_MIN_BYTES ((size_t)32 << 10)
/* Past this many jobs or bytes waiting, the producer tokenizes a document
 * itself (write_worker_submit with self_fn) instead of queueing it: more
 * than the wake thresholds, so the worker is awake and busy by then. Small,
 * because whatever is queued when lctx_commit comes is tokenized inside
 * the commit: with 256 jobs allowed, a batch of 423 news articles left
 * more than half of its documents to the commit, and one of 1,400
 * abstracts a sixth. Each wake of the worker costs a futex call, a few
 * microseconds, so the wake threshold stays above one job. */
#define WORKER_SELF_JOBS 16
#define WORKER_SELF_BYTES ((size_t)256 << 10)
/* Job buffers are rounded up to a power of two from this, and recycled up
 * to WORKER_KEEP_BYTES; larger ones are freed after use. */
#define WORKER_MIN_CAP ((size_t)1024)
#define WORKER_KEEP_BYTES ((size_t)1 << 20)

typedef struct job {
    struct job *next;
    uint32_t doc, first_chunk;
    const char *title;       /* both point into data[] */
    size_t title_len;
    const char *text;
    chunk_span *spans;
    size_t n_spans;
    size_t bytes;            /* counted against the queue bounds */
    size_t cap;              /* bytes of data[] */
    char data[];             /* title NUL text NUL */
} job;

struct write_worker {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t can_take, can_put;
    job *head, *tail;        /* queued, not yet taken */
    job *done;               /* processed, waiting for the producer to take back */
    job *spare;              /* the producer's own: taken back, ready for reuse */
    size_t q_jobs, q_bytes;  /* in the queue */
    /* rc, n_jobs and bytes change under mu only, but the producer reads
     * them without it for its checks on every document (write_worker_error,
     * the busy test of write_worker_submit): three lock round trips a
     * document, with the worker taking the same lock on the other core,
     * were 2 % of a build's CPU. */
    _Atomic size_t n_jobs, bytes; /* queued or being processed: the bound */
    int taker_waiting;       /* the worker sleeps on can_take */
    int putter_waiting;      /* the producer sleeps on can_put */
    int closing;             /* no more jobs will come */
    int end_here;            /* finish ran end on its own thread (see stop) */
    _Atomic int rc;          /* first error of fn (0 = none) */
    write_index_fn fn;
    write_end_fn end;
    void *ctx;
};

static void job_free(job *j)
{
    if (!j)
        return;
    free(j->spans);
    free(j);
}

static void job_free_list(job *j)
{
    while (j) {
        job *next = j->next;
        job_free(j);
        j = next;
    }
}

/* Runs (or, after an error, skips) a list of jobs; returns how many jobs
 * and bytes it retired, its last job, and the first error. */
static int run_jobs(write_index_fn fn, void *ctx, job *list, int rc, size_t *n, size_t *bytes,
                    job **last)
{
    *n = 0;
    *bytes = 0;
    for (job *j = list; j; j = j->next) {
        if (!rc)
            rc = fn(ctx, j->doc, j->first_chunk, j->title, j->title_len, j->text, j->spans,
                    j->n_spans);
        (*n)++;
        *bytes += j->bytes;
        *last = j;
    }
    return rc;
}

/* A job with room for need bytes of data: a spare one when the first spare
 * is large enough, else a new one. Runs on the producer thread only. */
static job *job_get(write_worker *w, size_t need)
{
    job *j = w->spare;
    if (j) {
        w->spare = j->next;
        free(j->spans);
        j->spans = NULL;
        if (j->cap >= need)
            return j;
        free(j);
    }
    size_t cap = WORKER_MIN_CAP;
    while (cap < need)
        cap *= 2;
    j = malloc(sizeof *j + cap);
    if (j) {
        j->spans = NULL;
        j->cap = cap;
    }
    return j;
}

/* Takes the worker's finished jobs back onto the spare list, freeing the
 * large ones. Producer thread, w->mu held. */
static void take_back(write_worker *w)
{
    job *j = w->done;
    w->done = NULL;
    while (j) {
        job *next = j->next;
        if (j->cap > WORKER_KEEP_BYTES) {
            job_free(j);
        } else {
            j->next = w->spare;
            w->spare = j;
        }
        j = next;
    }
}

/* Detaches up to WORKER_TAKE_JOBS jobs from the head of the queue. w->mu held. */
static job *take_head(write_worker *w)
{
    job *list = w->head, *last = list;
    if (!list)
        return NULL;
    size_t n = 1, bytes = list->bytes;
    while (last->next && n < WORKER_TAKE_JOBS) {
        last = last->next;
        n++;
        bytes += last->bytes;
    }
    w->head = last->next;
    if (!w->head)
        w->tail = NULL;
    last->next = NULL;
    w->q_jobs -= n;
    w->q_bytes -= bytes;
    return list;
}

/* Detaches the tail of the queue that leaves the worker about half of what
 * it still has to do (queued plus in hand); NULL when that tail would be
 * small. w->mu held. */
static job *take_share(write_worker *w)
{
    size_t in_hand = w->bytes - w->q_bytes, keep = w->bytes / 2, have = 0;
    if (w->q_bytes < 2 * WORKER_SHARE_MIN_BYTES || w->rc)
        return NULL;
    job *prev = NULL, *j = w->head;
    for (have = in_hand; j && have < keep; prev = j, j = j->next)
        have += j->bytes;
    if (!j || w->bytes - have < WORKER_SHARE_MIN_BYTES)
        return NULL;
    size_t n = 0, bytes = 0;
    for (job *k = j; k; k = k->next) {
        n++;
        bytes += k->bytes;
    }
    if (prev)
        prev->next = NULL;
    else
        w->head = NULL;
    w->tail = prev;
    w->q_jobs -= n;
    w->q_bytes -= bytes;
    w->n_jobs -= n;
    w->bytes -= bytes;
    return j;
}

static void *worker_main(void *arg)
{
    write_worker *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->head && !w->closing) {
            w->taker_waiting = 1;
            pthread_cond_wait(&w->can_take, &w->mu);
            w->taker_waiting = 0;
        }
        job *list = take_head(w);
        if (!list)
            break; /* closing and drained */
        int rc = w->rc;
        pthread_mutex_unlock(&w->mu);
        size_t n, bytes;
        job *last = NULL;
        rc = run_jobs(w->fn, w->ctx, list, rc, &n, &bytes, &last);
        pthread_mutex_lock(&w->mu);
        last->next = w->done;
        w->done = list;
        if (rc && !w->rc)
            w->rc = rc;
        w->n_jobs -= n;
        w->bytes -= bytes;
        if (w->putter_waiting)
            pthread_cond_signal(&w->can_put);
    }
    int rc = w->rc, end_here = w->end_here;
    pthread_mutex_unlock(&w->mu);
    if (!rc && w->end && !end_here && (rc = w->end(w->ctx)) != 0) {
        pthread_mutex_lock(&w->mu);
        w->rc = rc;
        pthread_mutex_unlock(&w->mu);
    }
    return NULL;
}

write_worker *write_worker_start(write_index_fn fn, write_end_fn end, void *ctx)
{
    write_worker *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->fn = fn;
    w->end = end;
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

pthread_t write_worker_thread(const write_worker *w)
{
    return w->thread;
}

int write_worker_error(write_worker *w)
{
    return w->rc;
}

/* Records a failure of a document tokenized outside the worker as if the
 * worker had failed: later submits and finish report the first error. */
static void write_worker_set_error(write_worker *w, int rc)
{
    pthread_mutex_lock(&w->mu);
    if (!w->rc)
        w->rc = rc;
    pthread_mutex_unlock(&w->mu);
}

int write_worker_run_here(write_worker *w, write_index_fn fn, void *ctx, uint32_t doc,
                          uint32_t first_chunk, const char *title, size_t title_len,
                          const char *text, chunk_span *spans, size_t n_spans)
{
    int rc = fn(ctx, doc, first_chunk, title, title_len, text, spans, n_spans);
    free(spans);
    if (rc)
        write_worker_set_error(w, rc);
    return rc;
}

int write_worker_submit(write_worker *w, uint32_t doc, uint32_t first_chunk, const char *title,
                        size_t title_len, const char *text, size_t text_len,
                        chunk_span *spans, size_t n_spans, write_index_fn self_fn,
                        void *self_ctx)
{
    if (self_fn) {
        int rc = w->rc;
        int busy = w->n_jobs >= WORKER_SELF_JOBS || w->bytes >= WORKER_SELF_BYTES;
        if (rc) {
            free(spans);
            return rc;
        }
        if (busy)
            return write_worker_run_here(w, self_fn, self_ctx, doc, first_chunk, title,
                                         title_len, text, spans, n_spans);
    }
    job *j = job_get(w, title_len + text_len + 2);
    if (!j) {
        free(spans);
        return -1;
    }
    char *buf = j->data;
    memcpy(buf, title, title_len);
    buf[title_len] = 0;
    if (text_len)
        memcpy(buf + title_len + 1, text, text_len);
    buf[title_len + 1 + text_len] = 0;
    j->next = NULL;
    j->doc = doc;
    j->first_chunk = first_chunk;
    j->title = buf;
    j->title_len = title_len;
    j->text = buf + title_len + 1;
    j->spans = spans;
    j->n_spans = n_spans;
    j->bytes = title_len + text_len + sizeof *j;
    pthread_mutex_lock(&w->mu);
    while ((w->n_jobs >= WORKER_MAX_JOBS || w->bytes >= WORKER_MAX_BYTES) && !w->rc) {
        w->putter_waiting = 1;
        pthread_cond_wait(&w->can_put, &w->mu);
        w->putter_waiting = 0;
    }
    int rc = w->rc;
    if (!rc) {
        if (w->tail)
            w->tail->next = j;
        else
            w->head = j;
        w->tail = j;
        w->n_jobs++;
        w->bytes += j->bytes;
        w->q_jobs++;
        w->q_bytes += j->bytes;
        if (w->taker_waiting &&
            (w->q_jobs >= WORKER_WAKE_JOBS || w->q_bytes >= WORKER_WAKE_BYTES))
            pthread_cond_signal(&w->can_take);
    }
    take_back(w);
    pthread_mutex_unlock(&w->mu);
    if (rc)
        job_free(j);
    return rc;
}

/* Frees a worker whose thread has been joined. */
static void worker_free(write_worker *w)
{
    job_free_list(w->done);
    job_free_list(w->spare);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->can_take);
    pthread_cond_destroy(&w->can_put);
    free(w);
}

/* Stops the worker: it processes what is queued (or drops it, abort_jobs)
 * and runs end. When the worker sleeps on an empty queue and defer is
 * given, this thread runs end itself and returns without waiting for the
 * worker to wake: *defer gets the worker, for write_worker_reap once it
 * has had time to exit. On the development VM a sleeping thread took about
 * a millisecond to wake (its idle virtual CPU has to be scheduled again),
 * and at a commit the worker has usually run dry: that millisecond was
 * spent waiting, on the commit's critical path, for a thread that had
 * only its sort left to do. */
static int stop(write_worker *w, int abort_jobs, write_index_fn share_fn, write_end_fn share_end,
                void *share_ctx, write_worker **defer)
{
    pthread_mutex_lock(&w->mu);
    w->closing = 1;
    if (abort_jobs && !w->rc)
        w->rc = -1; /* the worker drops what is left */
    int idle = defer && !w->head && w->taker_waiting && w->n_jobs == 0 && !w->rc;
    w->end_here = idle;
    job *share = share_fn ? take_share(w) : NULL;
    pthread_cond_signal(&w->can_take);
    pthread_mutex_unlock(&w->mu);
    /* The share follows every job the worker has: run it here meanwhile. */
    size_t n, bytes;
    job *last = NULL;
    int share_rc = share ? run_jobs(share_fn, share_ctx, share, 0, &n, &bytes, &last) : 0;
    job_free_list(share);
    if (!share_rc && share_end)
        share_rc = share_end(share_ctx);
    if (idle) {
        /* The worker wrote its builder before it last released mu, which
         * this thread has taken since; woken, it sees end_here and leaves
         * the builder alone. */
        int rc = w->end ? w->end(w->ctx) : 0;
        *defer = w;
        return rc ? rc : share_rc;
    }
    if (defer)
        *defer = NULL;
    pthread_join(w->thread, NULL);
    int rc = w->rc ? w->rc : share_rc;
    worker_free(w);
    return rc;
}

int write_worker_finish(write_worker *w, write_index_fn share_fn, write_end_fn share_end,
                        void *share_ctx, write_worker **reap)
{
    *reap = NULL;
    return w ? stop(w, 0, share_fn, share_end, share_ctx, reap) : 0;
}

void write_worker_reap(write_worker *w)
{
    if (!w)
        return;
    pthread_join(w->thread, NULL);
    worker_free(w);
}

void write_worker_abort(write_worker *w)
{
    if (w)
        stop(w, 1, NULL, NULL, NULL, NULL);
}
