/*
 * ingest_run.c — lctx_ingest: documents from a path (ingest.c reads them)
 * into the open batch, committing every N documents when asked.
 *
 * It is the library's own loop over ingest_path, with what a caller of
 * lctx_add would have to get right by hand: a malformed line or unreadable
 * file names FILE:LINE and rolls the batch back unless --skip-bad, warnings
 * and progress go to the caller's callbacks, and commit_every keeps the
 * writer lock across the commits it makes (below).
 */
#include <pthread.h>
#include <string.h>

#include "indexer/indexer.h"
#include "store/store.h"

void lctx_ingest_opts_init(lctx_ingest_opts *opts)
{
    if (!opts)
        return;
    memset(opts, 0, sizeof *opts);
    opts->format = LCTX_FORMAT_AUTO;
}

/* commit_every: every N documents lctx_ingest commits the open batch and
 * begins the next one, so memory stays bounded and progress is durable on a
 * corpus of any size. It goes through lctx_commit and lctx_begin themselves
 * (one commit path, one recovery story), with two details:
 *
 *  - the handle's write mutex is released around them (they take it);
 *  - the cross-process writer lock is kept from one batch to the next
 *    (db->lock_keep: the batch's end does not release it, and lctx_begin
 *    finds it already held). Another process therefore cannot slip a
 *    batch in between, and our next lctx_begin cannot fail with EBUSY.
 *
 * N counts documents added to the open batch (w->n_added), so the count
 * carries across lctx_ingest calls on the same batch, and ndocs in the
 * committed callback is exactly what the batch holds. Unchanged documents
 * (no-op upserts) add nothing and count nothing. */
typedef struct ingest_ctx {
    lctx_db *db;
    const lctx_ingest_opts *opts;
    uint64_t n;
    int rc;
} ingest_ctx;

/* Commits the open batch and begins the next one, keeping the writer lock.
 * Called with write_mu held; returns with it held. On failure the status is
 * returned with the error set; there is then no open batch. */
static int ingest_commit_batch(ingest_ctx *ic)
{
    lctx_db *db = ic->db;
    uint64_t ndocs = write_batch_added(db->batch), seq = 0;
    db->lock_keep = 1;                  /* keep the writer lock across the two batches */
    pthread_mutex_unlock(&db->write_mu);
    int rc = lctx_commit(db, &seq);
    if (rc == LCTX_OK) {
        if (ic->opts->committed)
            ic->opts->committed(ic->opts->progress_ctx, seq, ndocs);
        rc = lctx_begin(db);            /* the lock is already ours */
    }
    pthread_mutex_lock(&db->write_mu);
    db->lock_keep = 0;
    if (rc != LCTX_OK && !db->batch)
        store_unlock(db);               /* no batch open: release the lock */
    return rc;
}

/* Names the document in the handle's error and stops the reader: as the
 * message's FILE:LINE (or FILE) when the document is what is wrong
 * (LCTX_EINVAL), else after it, "(at FILE:LINE)": a full disk or a folder
 * that refuses a temporary file is not a matter of that line, and a user
 * sent to it would look for a fault that is not there. */
static int ingest_fail(ingest_ctx *ic, const ingest_doc *d, int rc)
{
    char why[512], at[300];
    snprintf(why, sizeof why, "%s", lctx_errmsg(ic->db));
    if (d->line)
        snprintf(at, sizeof at, "%s:%ld", d->source, d->line);
    else
        snprintf(at, sizeof at, "%s", d->source);
    if (rc == LCTX_EINVAL)
        store_err(ic->db, rc, "%s: %s", at, why);
    else
        store_err(ic->db, rc, "%s (at %s)", why, at);
    ic->rc = rc;
    return 1;
}

static int ingest_one(void *ctx, const ingest_doc *d)
{
    ingest_ctx *ic = ctx;
    lctx_doc doc = {d->id, d->title, d->text, d->text_len, d->uri, d->metadata};
    if (ingest_blank(d->text, d->text_len))
        doc.text = NULL; /* empty body: text_len 0 would mean strlen */
    if (!doc.text && ingest_blank(doc.title, doc.title ? strlen(doc.title) : 0)) {
        store_warn(ic->db, "%s:%ld: document '%s' is empty, skipped", d->source, d->line, d->id);
        return 0;
    }
    /* ndocs counts what changed: an unchanged document is not added again */
    uint64_t before = write_batch_added(ic->db->batch);
    int rc = write_add_doc(ic->db, ic->db->batch, &doc, 0);
    if (rc)
        return ingest_fail(ic, d, rc);
    ic->n += write_batch_added(ic->db->batch) > before;
    uint64_t every = ic->opts->commit_every;
    if (every && write_batch_added(ic->db->batch) >= every && (rc = ingest_commit_batch(ic)))
        return ingest_fail(ic, d, rc);
    return 0;
}

static void ingest_warn(void *ctx, const char *msg)
{
    ingest_ctx *ic = ctx;
    store_warn(ic->db, "%s", msg);
}

static void ingest_progress(void *ctx, uint64_t done, uint64_t total)
{
    ingest_ctx *ic = ctx;
    if (ic->opts->progress)
        ic->opts->progress(ic->opts->progress_ctx, done, total);
}

int lctx_ingest(lctx_db *db, const char *path, const lctx_ingest_opts *opts, uint64_t *ndocs)
{
    if (!db || !path)
        return store_err(db, LCTX_EINVAL, "lctx_ingest: NULL argument");
    lctx_ingest_opts defaults;
    if (!opts) {
        lctx_ingest_opts_init(&defaults);
        opts = &defaults;
    }
    if (ndocs)
        *ndocs = 0;
    if ((unsigned)opts->format > LCTX_FORMAT_BEIR)
        return store_err(db, LCTX_EINVAL, "lctx_ingest: unknown format %d", (int)opts->format);
    pthread_mutex_lock(&db->write_mu);
    if (!db->batch) {
        pthread_mutex_unlock(&db->write_mu);
        return store_err(db, LCTX_ESTATE, "lctx_ingest: no batch (call lctx_begin)");
    }
    ingest_ctx ic = {db, opts, 0, LCTX_OK};
    ingest_opts io = {(ingest_format)opts->format, opts->skip_bad, ingest_warn,
                      ingest_progress, &ic, db->path};
    char err[512] = "";
    int r = ingest_path(path, &io, ingest_one, err, sizeof err);
    int rc = LCTX_OK;
    if (r < 0)
        rc = store_err(db, LCTX_EINVAL, "%s", err[0] ? err : path);
    else if (r > 0)
        rc = ic.rc ? ic.rc : LCTX_ERROR;
    if (ndocs)
        *ndocs = ic.n;
    pthread_mutex_unlock(&db->write_mu);
    return rc;
}
