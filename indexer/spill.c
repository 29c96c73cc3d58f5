/*
 * spill.c — a write batch's postings on disk when they outgrow memory.
 *
 * A batch keeps its postings in memory until it commits (postings_build.c),
 * about 1.2 bytes per byte of prose indexed. A batch of gigabytes (the
 * default for lctx-index, which adds every input in one atomic batch)
 * would need as much memory, so once a piece of the batch (a lane of
 * write.c) holds more than its share of the handle's batch memory
 * (lctx_set_batch_memory), it writes its terms, sorted, as one run to a
 * temporary file and starts over empty. This is how Lucene, Tantivy and
 * FTS5 bound indexing memory too; what differs is that the batch stays one
 * transaction: the runs are only read back by the batch's LMDB apply,
 * which merges them term by term.
 *
 * The file: one per lane, made with O_TMPFILE in the collection's folder
 * (same file system as the index, so the space a user provisioned for the
 * index is the space used; nothing is left behind by a crash), with an
 * unlinked mkstemp file where the file system lacks O_TMPFILE. A run is a
 * sequence of records in term byte order:
 *
 *   u32 term length, u32 postings count, the term's bytes padded to 4,
 *   count store_bposting (8 bytes each, in chunk order)
 *
 * in the machine's byte order: the file never outlives its process.
 *
 * Reading back (spill_source): each file is mapped read-only and every run
 * gets a cursor; a binary heap of cursors by term yields the terms of all
 * runs in byte order, as LMDB sorts keys, and for each term its records,
 * one chain per file (a lane's runs hold its documents in order, so its
 * records of one term concatenate in chunk order; lanes interleave, and
 * apply merges the chains by chunk: store_term_chains). The mapped pages
 * are the page cache's, which the kernel can drop and read again, so
 * applying a spilled batch needs about a run's worth of memory per lane
 * at most, not the batch's.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "indexer/indexer.h"
#include "store/store.h"

#define SPILL_BUF ((size_t)1 << 20)

typedef struct spill_run {
    size_t off, bytes;
} spill_run;

struct spill_file {
    lctx_db *db;
    int fd;
    uint8_t *buf;              /* write buffer */
    size_t used;               /* bytes in buf */
    size_t size;               /* bytes of the file, buffer included */
    spill_run *runs;
    size_t n_runs, cap_runs;
    const uint8_t *map;        /* spill_source: the file, mapped */
    size_t mapped;
};

static int spill_fail(spill_file *f, const char *what)
{
    return store_err(f->db, LCTX_EIO, "%s: %s the batch's postings in a temporary file: %s",
                     f->db->path, what, strerror(errno));
}

/* An unnamed file in the collection's folder. */
static int make_file(lctx_db *db)
{
    int fd = open(db->path, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL))
        return fd;
    char name[4096];
    if (snprintf(name, sizeof name, "%s/spill-XXXXXX", db->path) >= (int)sizeof name) {
        errno = ENAMETOOLONG;
        return -1;
    }
    fd = mkostemp(name, O_CLOEXEC);
    if (fd >= 0)
        unlink(name);
    return fd;
}

void lctx_set_batch_memory(lctx_db *db, size_t bytes)
{
    if (!db)
        return;
    pthread_mutex_lock(&db->write_mu);
    db->batch_memory = bytes;
    pthread_mutex_unlock(&db->write_mu);
}

int spill_open(lctx_db *db, spill_file **out)
{
    spill_file *f = calloc(1, sizeof *f);
    if (!f || !(f->buf = malloc(SPILL_BUF))) {
        free(f);
        return store_err(db, LCTX_ENOMEM, "out of memory");
    }
    f->db = db;
    if ((f->fd = make_file(db)) < 0) {
        int rc = spill_fail(f, "cannot keep");
        free(f->buf);
        free(f);
        return rc;
    }
    *out = f;
    return LCTX_OK;
}

void spill_close(spill_file *f)
{
    if (!f)
        return;
    if (f->map)
        munmap((void *)f->map, f->mapped);
    close(f->fd);
    free(f->buf);
    free(f->runs);
    free(f);
}

size_t spill_runs(const spill_file *f)
{
    return f ? f->n_runs : 0;
}

static int flush_buf(spill_file *f)
{
    size_t done = 0;
    while (done < f->used) {
        ssize_t w = write(f->fd, f->buf + done, f->used - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            if (w == 0)
                errno = ENOSPC;
            return spill_fail(f, "cannot write");
        }
        done += (size_t)w;
    }
    f->used = 0;
    return LCTX_OK;
}

static int put_bytes(spill_file *f, const void *p, size_t n)
{
    const uint8_t *s = p;
    while (n) {
        if (f->used == SPILL_BUF) {
            int rc = flush_buf(f);
            if (rc)
                return rc;
        }
        size_t k = SPILL_BUF - f->used < n ? SPILL_BUF - f->used : n;
        memcpy(f->buf + f->used, s, k);
        f->used += k;
        f->size += k;
        s += k;
        n -= k;
    }
    return LCTX_OK;
}

int spill_write_run(spill_file *f, store_term_postings *const *terms, size_t n)
{
    if (f->map)
        return store_err(f->db, LCTX_ESTATE, "spill: the file is being read");
    if (f->n_runs == f->cap_runs) {
        size_t cap = f->cap_runs ? f->cap_runs * 2 : 16;
        spill_run *r = realloc(f->runs, cap * sizeof *r);
        if (!r)
            return store_err(f->db, LCTX_ENOMEM, "out of memory");
        f->runs = r;
        f->cap_runs = cap;
    }
    size_t off = f->size;
    static const uint8_t zeros[4];
    int rc = LCTX_OK;
    for (size_t i = 0; i < n && !rc; i++) {
        const store_term_postings *tp = terms[i];
        if (tp->n2 || tp->n > UINT32_MAX)   /* a merged builder's term: not ours to spill */
            return store_err(f->db, LCTX_ERROR, "spill: term '%.*s' has a linked list",
                             (int)tp->len, tp->term);
        uint32_t head[2] = {tp->len, (uint32_t)tp->n};
        if (!(rc = put_bytes(f, head, sizeof head)) && !(rc = put_bytes(f, tp->term, tp->len)) &&
            !(rc = put_bytes(f, zeros, (4 - tp->len % 4) % 4)))
            rc = put_bytes(f, tp->p, tp->n * sizeof *tp->p);
    }
    if (rc)
        return rc;
    f->runs[f->n_runs++] = (spill_run){off, f->size - off};
    return LCTX_OK;
}

/* ------------------------------------------------------------ reading */
typedef struct run_cursor {
    const uint8_t *pos, *end;      /* the next record, the run's end */
    int file;                      /* chain */
    size_t run;                    /* in its file */
    const char *term;              /* the current record */
    uint32_t len;
    const store_bposting *p;
    size_t n;
} run_cursor;

struct spill_source {
    lctx_db *db;
    spill_file *files[STORE_CHAINS];
    int n_files;
    run_cursor *cur;
    size_t n_cur;
    size_t *heap;                  /* cursor indices, a min-heap by term */
    size_t n_heap;
    size_t *took;                  /* the cursors of the current term */
    store_seg *segs[STORE_CHAINS]; /* the current term's segments, by chain */
    store_term_chains view;
};

/* Byte order of terms as LMDB compares keys: memcmp, then length. */
static int term_cmp(const char *a, uint32_t la, const char *b, uint32_t lb)
{
    int c = memcmp(a, b, la < lb ? la : lb);
    return c ? c : (la > lb) - (la < lb);
}

static int cursor_before(const spill_source *s, size_t x, size_t y)
{
    const run_cursor *a = &s->cur[x], *b = &s->cur[y];
    int c = term_cmp(a->term, a->len, b->term, b->len);
    if (c)
        return c < 0;
    return a->file != b->file ? a->file < b->file : a->run < b->run;
}

static void heap_push(spill_source *s, size_t c)
{
    size_t i = s->n_heap++;
    s->heap[i] = c;
    while (i > 0 && cursor_before(s, s->heap[i], s->heap[(i - 1) / 2])) {
        size_t p = (i - 1) / 2, t = s->heap[p];
        s->heap[p] = s->heap[i];
        s->heap[i] = t;
        i = p;
    }
}

static size_t heap_pop(spill_source *s)
{
    size_t top = s->heap[0];
    s->heap[0] = s->heap[--s->n_heap];
    for (size_t i = 0;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < s->n_heap && cursor_before(s, s->heap[l], s->heap[m]))
            m = l;
        if (r < s->n_heap && cursor_before(s, s->heap[r], s->heap[m]))
            m = r;
        if (m == i)
            break;
        size_t t = s->heap[m];
        s->heap[m] = s->heap[i];
        s->heap[i] = t;
        i = m;
    }
    return top;
}

/* Reads the record at c->pos: 1 when there is one, 0 at the run's end,
 * -1 when it is malformed. */
static int cursor_read(run_cursor *c)
{
    if (c->pos == c->end)
        return 0;
    uint32_t head[2];
    if ((size_t)(c->end - c->pos) < sizeof head)
        return -1;
    memcpy(head, c->pos, sizeof head);
    size_t padded = ((size_t)head[0] + 3) & ~(size_t)3;
    size_t left = (size_t)(c->end - c->pos) - sizeof head;
    if (head[0] == 0 || head[1] == 0 || padded > left ||
        head[1] > (left - padded) / sizeof(store_bposting))
        return -1;
    c->term = (const char *)c->pos + sizeof head;
    c->len = head[0];
    c->p = (const store_bposting *)(c->pos + sizeof head + padded);
    c->n = head[1];
    c->pos += sizeof head + padded + c->n * sizeof(store_bposting);
    return 1;
}

static int source_corrupt(spill_source *s)
{
    return store_err(s->db, LCTX_ECORRUPT, "%s: the batch's temporary postings file is "
                     "malformed", s->db->path);
}

static int source_rewind(void *ctx)
{
    spill_source *s = ctx;
    s->n_heap = 0;
    size_t k = 0;
    for (int fi = 0; fi < s->n_files; fi++) {
        const spill_file *f = s->files[fi];
        for (size_t r = 0; r < f->n_runs; r++, k++) {
            run_cursor *c = &s->cur[k];
            c->pos = f->map + f->runs[r].off;
            c->end = c->pos + f->runs[r].bytes;
            c->file = fi;
            c->run = r;
            int got = cursor_read(c);
            if (got < 0)
                return source_corrupt(s);
            if (got)
                heap_push(s, k);
        }
    }
    return LCTX_OK;
}

static int source_next(void *ctx, const store_term_chains **out)
{
    spill_source *s = ctx;
    *out = NULL;
    if (!s->n_heap)
        return LCTX_OK;
    /* Every cursor at the smallest term, in chain then run order (the
     * heap breaks ties that way, so they come out in it). */
    size_t n = 0;
    do
        s->took[n++] = heap_pop(s);
    while (s->n_heap && !term_cmp(s->cur[s->heap[0]].term, s->cur[s->heap[0]].len,
                                  s->cur[s->took[0]].term, s->cur[s->took[0]].len));
    store_term_chains *v = &s->view;
    memset(v, 0, sizeof *v);
    v->term = s->cur[s->took[0]].term;
    v->len = s->cur[s->took[0]].len;
    for (size_t i = 0; i < n; i++) {
        const run_cursor *c = &s->cur[s->took[i]];
        s->segs[c->file][v->n_seg[c->file]++] = (store_seg){c->p, c->n};
        v->n += c->n;
    }
    for (int k = 0; k < STORE_CHAINS; k++)
        v->seg[k] = s->segs[k];
    /* The view points into the map, not the cursors: move them on. */
    for (size_t i = 0; i < n; i++) {
        int got = cursor_read(&s->cur[s->took[i]]);
        if (got < 0)
            return source_corrupt(s);
        if (got)
            heap_push(s, s->took[i]);
    }
    *out = v;
    return LCTX_OK;
}

void spill_source_close(spill_source *s)
{
    if (!s)
        return;
    free(s->cur);
    free(s->heap);
    free(s->took);
    for (int k = 0; k < STORE_CHAINS; k++)
        free(s->segs[k]);
    free(s);
}

/* Flushes f and maps it for reading (once). */
static int map_file(spill_file *f)
{
    if (f->map)
        return LCTX_OK;
    int rc = flush_buf(f);
    if (rc)
        return rc;
    if (f->size == 0)
        return LCTX_OK;
    void *m = mmap(NULL, f->size, PROT_READ, MAP_PRIVATE, f->fd, 0);
    if (m == MAP_FAILED)
        return spill_fail(f, "cannot read back");
    f->map = m;
    f->mapped = f->size;
    return LCTX_OK;
}

int spill_source_open(lctx_db *db, spill_file *const *files, int n, spill_source **out,
                      store_term_source *src)
{
    if (n < 1 || n > STORE_CHAINS)
        return store_err(db, LCTX_ERROR, "spill: %d files for %d chains", n, STORE_CHAINS);
    spill_source *s = calloc(1, sizeof *s);
    if (!s)
        return store_err(db, LCTX_ENOMEM, "out of memory");
    s->db = db;
    s->n_files = n;
    int rc = LCTX_OK;
    for (int k = 0; k < n && !rc; k++) {
        s->files[k] = files[k];
        s->n_cur += files[k]->n_runs;
        rc = map_file(files[k]);
        if (!rc && !(s->segs[k] = malloc((files[k]->n_runs + 1) * sizeof *s->segs[k])))
            rc = store_err(db, LCTX_ENOMEM, "out of memory");
    }
    if (!rc && (!(s->cur = calloc(s->n_cur + 1, sizeof *s->cur)) ||
                !(s->heap = malloc((s->n_cur + 1) * sizeof *s->heap)) ||
                !(s->took = malloc((s->n_cur + 1) * sizeof *s->took))))
        rc = store_err(db, LCTX_ENOMEM, "out of memory");
    if (rc) {
        spill_source_close(s);
        return rc;
    }
    *out = s;
    *src = (store_term_source){source_rewind, source_next, s};
    return LCTX_OK;
}
