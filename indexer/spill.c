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
 * unlinked mkstemp file where the file system lacks O_TMPFILE (a crash
 * between its creation and its unlink leaves a spill-XXXXXX, which the
 * next writer removes: spill_remove_strays). A run is a
 * sequence of records in term byte order:
 *
 *   u32 term length, u32 postings count, the term's bytes padded to 4,
 *   count store_bposting (8 bytes each, in chunk order)
 *
 * in the machine's byte order: the file never outlives its process.
 *
 * Reading back (spill_source): every run gets a cursor, which reads it in
 * order through a small buffer of its own; a binary heap of cursors by
 * term yields the terms of all runs in byte order, as LMDB sorts keys, and
 * for each term its records, one chain per file (a lane's runs hold its
 * documents in order, so its records of one term concatenate in chunk
 * order; lanes interleave, and apply merges the chains by chunk:
 * store_term_chains). So applying a spilled batch needs the cursors'
 * buffers (32 KiB a run, or a term's postings in one run where longer),
 * not the batch.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
    int reading;               /* spill_source has it: no more runs */
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

void spill_remove_strays(lctx_db *db)
{
    DIR *d = opendir(db->path);
    if (!d)
        return;
    for (struct dirent *e; (e = readdir(d));) {
        if (strncmp(e->d_name, "spill-", 6) != 0 || strlen(e->d_name) != 12)
            continue;
        char name[4200];
        if (snprintf(name, sizeof name, "%s/%s", db->path, e->d_name) < (int)sizeof name)
            unlink(name);
    }
    closedir(d);
}

void spill_close(spill_file *f)
{
    if (!f)
        return;
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
    if (f->reading)
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
/* A cursor reads its run through a buffer of its own, SPILL_READ bytes
 * (or one record, when a term's postings are longer) at a time: the runs
 * are read once, in order, so memory for reading is the cursors' buffers,
 * not the runs. (Mapping the file instead left its pages resident: the
 * kernel maps a whole large folio of page cache at a fault, and the runs
 * were counted in the process's memory however soon they were read.) */
#define SPILL_READ ((size_t)32 << 10)

typedef struct run_cursor {
    int fd;
    uint64_t off, end;             /* the file's next unread byte, the run's end */
    uint8_t *buf;                  /* records read, from buf[at] to buf[len] */
    size_t at, len, cap;
    int file;                      /* chain */
    size_t run;                    /* in its file */
    const char *term;              /* the current record, in buf */
    uint32_t len_term;
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
    size_t *took;                  /* the cursors of the last term given */
    size_t n_took;
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
    int c = term_cmp(a->term, a->len_term, b->term, b->len_term);
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

/* Makes buf[at..len) hold at least `need` bytes of the run (fewer only at
 * its end): what is left moves to the front (records are multiples of 4
 * bytes, so postings stay aligned), and the rest is read. 0, or -1 with
 * errno set. */
static int cursor_fill(run_cursor *c, size_t need)
{
    if (c->len - c->at >= need)
        return 0;
    size_t left = c->len - c->at;
    if (need > c->cap) {
        size_t cap = c->cap ? c->cap : SPILL_READ;
        while (cap < need)
            cap *= 2;
        uint8_t *b = malloc(cap);
        if (!b) {
            errno = ENOMEM;
            return -1;
        }
        if (left)
            memcpy(b, c->buf + c->at, left);
        free(c->buf);
        c->buf = b;
        c->cap = cap;
    } else if (left) {
        memmove(c->buf, c->buf + c->at, left);
    }
    c->at = 0;
    c->len = left;
    while (c->len < c->cap && c->off < c->end) {
        size_t want = c->cap - c->len;
        if (want > c->end - c->off)
            want = (size_t)(c->end - c->off);
        ssize_t got = pread(c->fd, c->buf + c->len, want, (off_t)c->off);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            if (got == 0)
                errno = EIO;   /* the file is shorter than its runs */
            return -1;
        }
        c->len += (size_t)got;
        c->off += (uint64_t)got;
    }
    return 0;
}

/* Reads the next record: 1 when there is one, 0 at the run's end, -1 when
 * it is malformed, -2 when it cannot be read (errno set). */
static int cursor_read(run_cursor *c)
{
    uint32_t head[2];
    if (cursor_fill(c, sizeof head))
        return -2;
    if (c->len == c->at)
        return 0;
    if (c->len - c->at < sizeof head)
        return -1;
    memcpy(head, c->buf + c->at, sizeof head);
    size_t padded = ((size_t)head[0] + 3) & ~(size_t)3;
    if (head[0] == 0 || head[1] == 0 || head[1] > (SIZE_MAX - 64 - padded) / 8)
        return -1;
    size_t bytes = sizeof head + padded + (size_t)head[1] * sizeof(store_bposting);
    if (cursor_fill(c, bytes))
        return -2;
    if (c->len - c->at < bytes)
        return -1;
    const uint8_t *r = c->buf + c->at;
    c->term = (const char *)r + sizeof head;
    c->len_term = head[0];
    c->p = (const store_bposting *)(r + sizeof head + padded);
    c->n = head[1];
    c->at += bytes;
    return 1;
}

static int source_fail(spill_source *s, int got)
{
    if (got == -1)
        return store_err(s->db, LCTX_ECORRUPT, "%s: the batch's temporary postings file is "
                         "malformed", s->db->path);
    return store_err(s->db, errno == ENOMEM ? LCTX_ENOMEM : LCTX_EIO, "%s: cannot read back "
                     "the batch's postings from a temporary file: %s", s->db->path,
                     strerror(errno));
}

/* Reads cursor k's next record into the heap, unless its run has ended. */
static int cursor_next(spill_source *s, size_t k)
{
    int got = cursor_read(&s->cur[k]);
    if (got < 0)
        return source_fail(s, got);
    if (got)
        heap_push(s, k);
    return LCTX_OK;
}

static int source_rewind(void *ctx)
{
    spill_source *s = ctx;
    s->n_heap = s->n_took = 0;
    size_t k = 0;
    int rc = LCTX_OK;
    for (int fi = 0; fi < s->n_files; fi++) {
        const spill_file *f = s->files[fi];
        for (size_t r = 0; r < f->n_runs && !rc; r++, k++) {
            run_cursor *c = &s->cur[k];
            *c = (run_cursor){.fd = f->fd, .off = f->runs[r].off,
                              .end = f->runs[r].off + f->runs[r].bytes, .buf = c->buf,
                              .cap = c->cap, .file = fi, .run = r};
            rc = cursor_next(s, k);
        }
    }
    return rc;
}

static int source_next(void *ctx, const store_term_chains **out)
{
    spill_source *s = ctx;
    *out = NULL;
    /* The cursors of the term given last move on only now: its view
     * pointed into their buffers until apply asked for the next one. */
    for (size_t i = 0; i < s->n_took; i++) {
        int rc = cursor_next(s, s->took[i]);
        if (rc)
            return rc;
    }
    s->n_took = 0;
    if (!s->n_heap)
        return LCTX_OK;
    /* Every cursor at the smallest term, in chain then run order (the
     * heap breaks ties that way, so they come out in it). */
    size_t n = 0;
    do
        s->took[n++] = heap_pop(s);
    while (s->n_heap && !term_cmp(s->cur[s->heap[0]].term, s->cur[s->heap[0]].len_term,
                                  s->cur[s->took[0]].term, s->cur[s->took[0]].len_term));
    s->n_took = n;
    store_term_chains *v = &s->view;
    memset(v, 0, sizeof *v);
    v->term = s->cur[s->took[0]].term;
    v->len = s->cur[s->took[0]].len_term;
    for (size_t i = 0; i < n; i++) {
        const run_cursor *c = &s->cur[s->took[i]];
        s->segs[c->file][v->n_seg[c->file]++] = (store_seg){c->p, c->n};
        v->n += c->n;
    }
    for (int k = 0; k < STORE_CHAINS; k++)
        v->seg[k] = s->segs[k];
    *out = v;
    return LCTX_OK;
}

void spill_source_close(spill_source *s)
{
    if (!s)
        return;
    for (size_t i = 0; s->cur && i < s->n_cur; i++)
        free(s->cur[i].buf);
    free(s->cur);
    free(s->heap);
    free(s->took);
    for (int k = 0; k < STORE_CHAINS; k++)
        free(s->segs[k]);
    free(s);
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
        /* the last bytes written go to the file; its writer is done */
        if (!(rc = flush_buf(files[k]))) {
            free(files[k]->buf);
            files[k]->buf = NULL;
            files[k]->reading = 1;
        }
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
