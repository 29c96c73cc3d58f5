/*
 * stage-split.c — a measured prototype of a write path the library does not
 * use: lctx_add's work split between two threads by stage instead of by
 * document.
 *
 * The library splits by document (indexer/write_worker.c): the calling
 * thread writes each document's catalog row and a worker tokenizes it into
 * a postings builder; past a backlog the caller tokenizes documents itself
 * into a second builder. Each thread then keeps its own word cache (each
 * distinct word is stemmed twice) and its own postings lists, which the
 * commit merges. Splitting by stage would keep one of each: the calling
 * thread checks, hashes, chunks and tokenizes, numbering terms in a lexicon
 * of its own, and hands the worker each document's row plus its term
 * numbers; the worker inserts the row and appends the postings, indexing a
 * dense array by term number with no hashing at all. On paper that is less
 * work in all, with each thread's tables in its own core's cache.
 *
 * This program measures both ways on a corpus, without LMDB and without the
 * commit: "one" does every step on the calling thread, "split" hands the
 * second half to a worker through a queue as the library's does (documents
 * copied into recycled jobs, the worker woken past eight jobs, finished
 * jobs handed back so that memory is freed by the thread that took it).
 * The catalog is SQLite with the library's schema and first-batch settings
 * (16 KiB pages, 2 MiB cache, journal in memory, no syncs); chunking and
 * tokenizing are the library's (indexer/indexer.h). It prints each round's
 * wall time and each thread's CPU time; compare "split" with the add phase
 * of `build/bench-phases` on the same corpus. docs/ARCHITECTURE.md has the
 * figures and why the library keeps splitting by document.
 *
 * Build (after make) and run:
 *   cc -std=c11 -O3 -march=native -D_DEFAULT_SOURCE -Iinclude -I. \
 *      -I/usr/include/cjson -o /tmp/stage-split tools/stage-split.c \
 *      build/liblctx.a -lsqlite3 -llmdb -lopenblas -lcurl -lutf8proc \
 *      -lcjson -lcrypto -lstemmer -lm -lpthread
 *   /tmp/stage-split --corpus C/corpus.jsonl [--rounds 7] [--db /tmp/stage-split.db]
 */
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "indexer/indexer.h"

#include "bench/bm25_common.h"

#define WAKE_JOBS 8

static double cpu_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec * 1e-6;
}

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n);
    if (!q)
        bm25_die("out of memory");
    return q;
}

/* ------------------------------------------------ lexicon (calling thread) */

/* Term bytes to dense numbers: open addressing over the numbers plus one. */
typedef struct lexicon {
    char *bytes;
    size_t used, room;
    uint32_t *off, *len;
    uint32_t n, cap;
    uint32_t *slots;
    size_t n_slots;
} lexicon;

static uint64_t term_hash(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h ^ (h >> 29);
}

static void lexicon_rehash(lexicon *x)
{
    size_t n = x->n_slots ? x->n_slots * 2 : (size_t)1 << 14;
    uint32_t *s = calloc(n, sizeof *s);
    if (!s)
        bm25_die("out of memory");
    for (uint32_t i = 0; i < x->n; i++) {
        size_t k = term_hash(x->bytes + x->off[i], x->len[i]) & (n - 1);
        while (s[k])
            k = (k + 1) & (n - 1);
        s[k] = i + 1;
    }
    free(x->slots);
    x->slots = s;
    x->n_slots = n;
}

static uint32_t lexicon_number(lexicon *x, const char *t, size_t n)
{
    if ((size_t)x->n * 2 >= x->n_slots)
        lexicon_rehash(x);
    size_t k = term_hash(t, n) & (x->n_slots - 1);
    for (; x->slots[k]; k = (k + 1) & (x->n_slots - 1)) {
        uint32_t i = x->slots[k] - 1;
        if (x->len[i] == n && !memcmp(x->bytes + x->off[i], t, n))
            return i;
    }
    if (x->n == x->cap) {
        x->cap = x->cap ? x->cap * 2 : 4096;
        x->off = xrealloc(x->off, x->cap * sizeof *x->off);
        x->len = xrealloc(x->len, x->cap * sizeof *x->len);
    }
    if (x->used + n + 1 > x->room) {
        x->room = x->room ? x->room * 2 : (size_t)1 << 16;
        while (x->room < x->used + n + 1)
            x->room *= 2;
        x->bytes = xrealloc(x->bytes, x->room);
    }
    memcpy(x->bytes + x->used, t, n);
    x->off[x->n] = (uint32_t)x->used;
    x->len[x->n] = (uint32_t)n;
    x->used += n + 1;
    x->slots[k] = x->n + 1;
    return x->n++;
}

static void lexicon_free(lexicon *x)
{
    free(x->bytes);
    free(x->off);
    free(x->len);
    free(x->slots);
}

/* --------------------------------------------------------------- a job */

/* One document for the worker: its row, copies of title and text, and its
 * term numbers: the title's count and numbers, then per chunk its count and
 * numbers. */
typedef struct job {
    struct job *next;
    const bm25_doc *d;
    uint32_t doc, first_chunk, n_chunks, n_terms;
    uint64_t hash;
    uint8_t *spans;              /* encoded chunk spans, as the catalog keeps them */
    size_t spans_len;
    uint32_t *nums;
    size_t n_nums, cap_nums;
    char *copy;                  /* title NUL text */
} job;

static void job_push(job *j, uint32_t v)
{
    if (j->n_nums == j->cap_nums) {
        j->cap_nums = j->cap_nums ? j->cap_nums * 2 : 256;
        j->nums = xrealloc(j->nums, j->cap_nums * sizeof *j->nums);
    }
    j->nums[j->n_nums++] = v;
}

static void job_free(job *j)
{
    free(j->nums);
    free(j->copy);
    free(j->spans);
    free(j);
}

/* ------------------------------------------- postings and row (worker) */

typedef struct posting {
    uint32_t chunk;
    uint16_t tf_text, tf_title;
} posting;

typedef struct term_list {
    posting *p;
    uint32_t n, cap, last;
} term_list;

typedef struct back {
    sqlite3 *db;
    sqlite3_stmt *insert;
    term_list *lists;
    uint32_t n_lists;
    size_t n_postings;
} back;

static void back_count(back *b, uint32_t num, uint32_t chunk, int title)
{
    term_list *l = &b->lists[num];
    if (l->n == 0 || l->last != chunk) {
        if (l->n == l->cap) {
            l->cap = l->cap ? l->cap * 2 : 2;
            l->p = xrealloc(l->p, l->cap * sizeof *l->p);
        }
        l->p[l->n++] = (posting){chunk, 0, 0};
        l->last = chunk;
        b->n_postings++;
    }
    posting *q = &l->p[l->n - 1];
    if (title)
        q->tf_title++;
    else
        q->tf_text++;
}

static void back_take(back *b, const job *j)
{
    if (j->n_terms > b->n_lists) {
        uint32_t n = b->n_lists ? b->n_lists : 4096;
        while (n < j->n_terms)
            n *= 2;
        b->lists = xrealloc(b->lists, n * sizeof *b->lists);
        memset(b->lists + b->n_lists, 0, (n - b->n_lists) * sizeof *b->lists);
        b->n_lists = n;
    }
    const bm25_doc *d = j->d;
    sqlite3_stmt *s = b->insert;
    sqlite3_bind_int64(s, 1, j->doc);
    sqlite3_bind_text(s, 2, d->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, j->copy, (int)d->title_len, SQLITE_STATIC);
    sqlite3_bind_null(s, 4);
    sqlite3_bind_null(s, 5);
    sqlite3_bind_blob(s, 6, j->copy + d->title_len + 1, (int)d->text_len, SQLITE_STATIC);
    sqlite3_bind_int64(s, 7, (sqlite3_int64)(j->hash >> 1));
    sqlite3_bind_int64(s, 8, j->first_chunk);
    sqlite3_bind_int64(s, 9, j->n_chunks);
    sqlite3_bind_blob(s, 10, j->spans, (int)j->spans_len, SQLITE_STATIC);
    sqlite3_bind_int64(s, 11, 1);
    if (sqlite3_step(s) != SQLITE_DONE)
        bm25_die("insert: %s", sqlite3_errmsg(b->db));
    sqlite3_reset(s);
    const uint32_t *p = j->nums;
    uint32_t n_title = *p++;
    const uint32_t *title = p;
    p += n_title;
    for (uint32_t c = 0; c < j->n_chunks; c++) {
        uint32_t n = *p++, chunk = j->first_chunk + c;
        for (uint32_t k = 0; k < n; k++)
            back_count(b, p[k], chunk, 0);
        p += n;
        for (uint32_t k = 0; k < n_title; k++)
            back_count(b, title[k], chunk, 1);
    }
}

static void back_open(back *b, const char *path)
{
    memset(b, 0, sizeof *b);
    remove(path);
    if (sqlite3_open(path, &b->db) != SQLITE_OK)
        bm25_die("%s: cannot open", path);
    const char *schema =
        "PRAGMA page_size=16384;PRAGMA cache_size=-2048;"
        "PRAGMA journal_mode=MEMORY;PRAGMA synchronous=OFF;"
        "CREATE TABLE documents(doc_id INTEGER PRIMARY KEY, ext_id TEXT NOT NULL, title TEXT,"
        " uri TEXT, metadata TEXT, text BLOB, content_hash INTEGER NOT NULL,"
        " first_chunk INTEGER NOT NULL, n_chunks INTEGER NOT NULL, spans BLOB,"
        " batch_seq INTEGER NOT NULL, deleted_seq INTEGER);"
        "CREATE UNIQUE INDEX documents_live_ext ON documents(ext_id) WHERE deleted_seq IS NULL;"
        "CREATE INDEX documents_deleted ON documents(deleted_seq) WHERE deleted_seq IS NOT NULL;"
        "BEGIN";
    if (sqlite3_exec(b->db, schema, NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(b->db, "INSERT INTO documents(doc_id, ext_id, title, uri, metadata,"
                           " text, content_hash, first_chunk, n_chunks, spans, batch_seq)"
                           " VALUES(?,?,?,?,?,?,?,?,?,?,?)", -1, &b->insert, NULL) != SQLITE_OK)
        bm25_die("%s: %s", path, sqlite3_errmsg(b->db));
}

static void back_close(back *b)
{
    sqlite3_finalize(b->insert);
    sqlite3_exec(b->db, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(b->db);
    for (uint32_t i = 0; i < b->n_lists; i++)
        free(b->lists[i].p);
    free(b->lists);
}

/* ------------------------------------------------------------- the queue */

typedef struct queue {
    pthread_mutex_t mu;
    pthread_cond_t wake;
    job *head, *tail, *done;
    int n_queued, sleeping, closing;
    back b;
    double cpu;
} queue;

static void *worker_main(void *arg)
{
    queue *q = arg;
    double c0 = cpu_ms();
    pthread_mutex_lock(&q->mu);
    for (;;) {
        while (!q->head && !q->closing) {
            q->sleeping = 1;
            pthread_cond_wait(&q->wake, &q->mu);
            q->sleeping = 0;
        }
        job *list = q->head, *last = NULL;
        q->head = q->tail = NULL;
        q->n_queued = 0;
        if (!list)
            break;
        pthread_mutex_unlock(&q->mu);
        for (job *j = list; j; j = j->next) {
            back_take(&q->b, j);
            last = j;
        }
        pthread_mutex_lock(&q->mu);
        last->next = q->done;
        q->done = list;
    }
    pthread_mutex_unlock(&q->mu);
    q->cpu = cpu_ms() - c0;
    return NULL;
}

/* Queues j; frees the jobs the worker has finished with, on this thread. */
static void queue_put(queue *q, job *j)
{
    j->next = NULL;
    pthread_mutex_lock(&q->mu);
    if (q->tail)
        q->tail->next = j;
    else
        q->head = j;
    q->tail = j;
    if (++q->n_queued >= WAKE_JOBS && q->sleeping)
        pthread_cond_signal(&q->wake);
    job *done = q->done;
    q->done = NULL;
    pthread_mutex_unlock(&q->mu);
    while (done) {
        job *next = done->next;
        job_free(done);
        done = next;
    }
}

/* ------------------------------------------------------- the front half */

/* Term numbers of l's tokens: the word cache slot's tag when this client
 * set it, else the lexicon (which then tags the slot). */
static void number_tokens(tok_tokenizer *t, uint32_t owner, lexicon *x, const tok_list *l,
                          job *j)
{
    for (size_t k = 0; k < l->n; k++) {
        const tok_token *tk = &l->tokens[k];
        const char *term = l->terms + tk->term;
        uint32_t *tag = tk->slot ? tok_slot_tag(t, tk->slot, term, tk->term_len, owner) : NULL;
        uint32_t num;
        if (tag && *tag) {
            num = *tag - 1;
        } else {
            num = lexicon_number(x, term, tk->term_len);
            if (tag)
                *tag = num + 1;
        }
        job_push(j, num);
    }
}

static uint64_t text_hash(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull, w;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        memcpy(&w, s + i, 8);
        h = (h ^ w) * 0x9E3779B97F4A7C15ull;
        h ^= h >> 29;
    }
    for (; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

/* One round: every document, on one thread or split; prints the times. */
static void run_round(const bm25_doc *docs, size_t n, int split, const char *db_path, int round)
{
    tok_config cfg = {"english", 1, 1, 0, 1};
    char err[128];
    tok_tokenizer *t = tok_new(&cfg, err, sizeof err);
    if (!t)
        bm25_die("tokenizer: %s", err);
    tok_warm(t);
    uint32_t owner = tok_new_owner(t);
    lexicon x = {0};
    tok_list title, text;
    tok_list_init(&title);
    tok_list_init(&text);
    queue q = {0};
    pthread_mutex_init(&q.mu, NULL);
    pthread_cond_init(&q.wake, NULL);
    back_open(&q.b, db_path);
    pthread_t worker;
    double t0 = bm25_now(), c0 = cpu_ms();
    if (split && pthread_create(&worker, NULL, worker_main, &q))
        bm25_die("cannot start a thread");
    uint32_t chunk = 1;
    for (size_t i = 0; i < n; i++) {
        const bm25_doc *d = &docs[i];
        size_t bad, n_spans = 0;
        chunk_span *spans = NULL;
        if (!utf8_validate(d->text, d->text_len, &bad))
            bm25_die("document %s: invalid UTF-8", d->id);
        job *j = calloc(1, sizeof *j);
        if (!j || chunk_text(d->text, d->text_len, 400, &spans, &n_spans))
            bm25_die("out of memory");
        j->d = d;
        j->doc = (uint32_t)i + 1;
        j->hash = text_hash(d->text, d->text_len) ^ text_hash(d->title, d->title_len);
        j->first_chunk = chunk;
        j->n_chunks = (uint32_t)n_spans;
        j->spans = malloc(CHUNK_SPANS_MAX_BYTES(n_spans) + 1);
        j->copy = malloc(d->title_len + d->text_len + 2);
        if (!j->spans || !j->copy)
            bm25_die("out of memory");
        j->spans_len = chunk_spans_encode(spans, n_spans, j->spans);
        memcpy(j->copy, d->title, d->title_len + 1);
        memcpy(j->copy + d->title_len + 1, d->text, d->text_len + 1);
        tok_list_reset(&title);
        if (d->title_len && tok_tokenize(t, d->title, d->title_len, &title))
            bm25_die("tokenizer failed");
        job_push(j, (uint32_t)title.n);
        number_tokens(t, owner, &x, &title, j);
        for (size_t c = 0; c < n_spans; c++) {
            tok_list_reset(&text);
            if (tok_tokenize(t, d->text + spans[c].start, spans[c].end - spans[c].start, &text))
                bm25_die("tokenizer failed");
            job_push(j, (uint32_t)text.n);
            number_tokens(t, owner, &x, &text, j);
        }
        free(spans);
        j->n_terms = x.n;
        chunk += (uint32_t)n_spans;
        if (split) {
            queue_put(&q, j);
        } else {
            back_take(&q.b, j);
            job_free(j);
        }
    }
    double front_cpu = cpu_ms() - c0;
    if (split) {
        pthread_mutex_lock(&q.mu);
        q.closing = 1;
        pthread_cond_signal(&q.wake);
        pthread_mutex_unlock(&q.mu);
        pthread_join(worker, NULL);
    }
    double wall = (bm25_now() - t0) * 1e3;
    printf("round %d %-5s: %.2f ms (calling thread %.2f ms of CPU, worker %.2f)"
           " %u terms, %zu postings\n", round, split ? "split" : "one", wall, front_cpu, q.cpu,
           x.n, q.b.n_postings);
    for (job *j = q.done; j;) {
        job *next = j->next;
        job_free(j);
        j = next;
    }
    back_close(&q.b);
    pthread_mutex_destroy(&q.mu);
    pthread_cond_destroy(&q.wake);
    tok_list_free(&title);
    tok_list_free(&text);
    tok_free(t);
    lexicon_free(&x);
}

int main(int argc, char **argv)
{
    const char *corpus = NULL, *db_path = "/tmp/stage-split.db";
    int rounds = 7;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--corpus"))
            corpus = argv[i + 1];
        else if (!strcmp(argv[i], "--rounds"))
            rounds = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--db"))
            db_path = argv[i + 1];
    }
    if (!corpus || rounds < 1) {
        fprintf(stderr, "usage: stage-split --corpus corpus.jsonl [--rounds 7] [--db PATH]\n");
        return 2;
    }
    size_t n;
    bm25_doc *docs = bm25_load_docs(corpus, &n);
    for (int r = 0; r < rounds; r++) {
        run_round(docs, n, 0, db_path, r);
        run_round(docs, n, 1, db_path, r);
    }
    remove(db_path);
    bm25_free_docs(docs, n);
    return 0;
}
