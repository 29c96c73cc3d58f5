/*
 * write.c — write batches: lctx_begin / lctx_add / lctx_delete /
 * lctx_commit / lctx_rollback (lctx_ingest, which feeds batches from files,
 * is ingest_run.c; crash recovery is replay.c; the lanes a batch is
 * tokenized in, and their spills to disk, write_lane.c).
 *
 * A batch is one SQLite transaction (BEGIN IMMEDIATE at lctx_begin) plus an
 * in-memory postings builder. lctx_add writes the document and its chunk
 * spans to SQLite at once and queues the document for the batch's worker
 * thread, which tokenizes it into the builder (write_worker.c), or tokenizes
 * it itself into a second builder while the worker has a backlog; deletions
 * are chunk ranges, handed to the builder once the worker has drained.
 * lctx_commit then
 *
 *   1. records the batch row and COMMITs SQLite (synchronous=FULL): this is
 *      the commit point — from here the batch survives any crash;
 *   2. applies the builder to LMDB in one write transaction, which sets
 *      LMDB's last_seq to the batch.
 *
 * The two overlap: SQLite's COMMIT, which mostly waits for the disk, runs
 * on a thread of its own from the start of lctx_commit, while this one
 * finishes the tokenizing, merges the builders and writes LMDB's
 * transaction, and that transaction commits only after SQLite's has, so
 * LMDB is never ahead of the commit point. (With an embedder step 1 waits
 * until the chunks are embedded: an embedding service may fail, and must
 * do so before the commit point.)
 *
 * A crash between 1 and 2 leaves SQLite one (or more) batches ahead, and
 * the next read-write open replays them (replay.c) through the same code
 * (index_doc). When anything after step 1 fails without a crash (a full
 * disk for LMDB, memory for the builders), step 1 is undone
 * (catalog_undo_batch): the batch leaves neither store changed.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "indexer/indexer.h"
#include "store/store.h"

/* A status from indexing work, as this thread's failure. Work the worker
 * did set its message in the worker thread's slot (lctx_errmsg is per
 * thread): the newer of that and this thread's own is the one to report.
 * A negative rc is memory that nobody named yet. */
static int worker_failed(lctx_db *db, pthread_t worker, int rc)
{
    if (rc < 0)
        return store_err(db, LCTX_ENOMEM, "out of memory");
    return store_err_adopt(db, worker, rc);
}

int write_sql_fail(lctx_db *db, const char *what)
{
    return catalog_fail(db, db->wdb, what);
}

static int prepare(lctx_db *db, struct write_batch *w)
{
    if (sqlite3_prepare_v2(db->wdb, "SELECT doc_id, content_hash, first_chunk, n_chunks "
                           "FROM documents WHERE ext_id=? AND deleted_seq IS NULL",
                           -1, &w->st_find, NULL) ||
        sqlite3_prepare_v2(db->wdb, "UPDATE documents SET deleted_seq=? WHERE doc_id=?",
                           -1, &w->st_del, NULL) ||
        sqlite3_prepare_v2(db->wdb, "INSERT INTO documents(doc_id, ext_id, title, uri, "
                           "metadata, text, content_hash, first_chunk, n_chunks, spans, "
                           "batch_seq) VALUES(?,?,?,?,?,?,?,?,?,?,?)", -1, &w->st_doc, NULL))
        return write_sql_fail(db, "prepare");
    if (db->has_vectors && !(w->eb = embed_batch_new()))
        return store_err(db, LCTX_ENOMEM, "out of memory");
    return LCTX_OK;
}

static int collection_empty(lctx_db *db, int *empty)
{
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(db->wdb, "SELECT NOT EXISTS (SELECT 1 FROM documents WHERE "
                           "deleted_seq IS NULL)", -1, &s, NULL))
        return write_sql_fail(db, "prepare");
    int rc = sqlite3_step(s);
    *empty = rc == SQLITE_ROW && sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    return rc == SQLITE_ROW ? LCTX_OK : write_sql_fail(db, "query");
}

int lctx_begin(lctx_db *db)
{
    if (!db)
        return LCTX_EINVAL;
    if (db->flags & LCTX_OPEN_READONLY)
        return store_err(db, LCTX_ESTATE, "%s: opened read-only", db->path);
    pthread_mutex_lock(&db->write_mu);
    int rc = LCTX_OK;
    struct write_batch *w = NULL;
    if (db->batch) {
        rc = store_err(db, LCTX_ESTATE, "lctx_begin: a batch is already open");
        goto out;
    }
    if ((rc = store_lock(db)))
        goto out;
    /* A writer that crashed since we opened may have left a batch behind,
     * and a spill file it had not yet unlinked. */
    spill_remove_strays(db);
    if ((db->test_stop_after_sqlite != 2 && (rc = write_recover(db))) ||
        (rc = catalog_batch_mode(db)) ||
        (rc = write_batch_new(db, &w)) || (rc = prepare(db, w)))
        goto fail;
    if (!(w->worker = write_worker_start(write_index_job, write_sort_worker_lane, w))) {
        rc = store_err(db, LCTX_ENOMEM, "cannot start the indexing thread");
        goto fail;
    }
    if ((rc = catalog_exec(db, db->wdb, "BEGIN IMMEDIATE")))
        goto fail;
    if ((rc = catalog_last_seq(db, db->wdb, &w->seq)) ||
        (rc = catalog_get_u64(db, db->wdb, "next_doc", &w->next_doc)) ||
        (rc = catalog_get_u64(db, db->wdb, "next_chunk", &w->next_chunk))) {
        catalog_exec(db, db->wdb, "ROLLBACK");
        goto fail;
    }
    w->seq++;
    w->first_doc = w->next_doc;
    w->first_chunk = w->next_chunk;
    if ((rc = collection_empty(db, &w->fresh))) {
        catalog_exec(db, db->wdb, "ROLLBACK");
        goto fail;
    }
    db->batch = w;
    goto out;
fail:
    write_batch_free(w);
    store_unlock(db);
out:
    pthread_mutex_unlock(&db->write_mu);
    return rc;
}

/* Marks the live document found by st_find deleted by this batch. */
static int tombstone_found(lctx_db *db, struct write_batch *w)
{
    sqlite3_int64 doc = sqlite3_column_int64(w->st_find, 0);
    uint32_t first = (uint32_t)sqlite3_column_int64(w->st_find, 2);
    uint32_t n = (uint32_t)sqlite3_column_int64(w->st_find, 3);
    sqlite3_reset(w->st_find);
    sqlite3_bind_int64(w->st_del, 1, (sqlite3_int64)w->seq);
    sqlite3_bind_int64(w->st_del, 2, doc);
    int rc = sqlite3_step(w->st_del);
    sqlite3_reset(w->st_del);
    if (rc != SQLITE_DONE)
        return write_sql_fail(db, "delete");
    if (w->n_tombs == w->cap_tombs) {
        size_t cap = w->cap_tombs ? w->cap_tombs * 2 : 64;
        tomb_range *t = realloc(w->tombs, cap * sizeof *t);
        if (!t)
            return store_err(db, LCTX_ENOMEM, "out of memory");
        w->tombs = t;
        w->cap_tombs = cap;
    }
    w->tombs[w->n_tombs++] = (tomb_range){first, n};
    w->n_deleted++;
    return LCTX_OK;
}

/* Tombstones the live document with this id, if any. Returns -1 (not a
 * status) when it exists with the same content: the add is a no-op. */
static int replace_live(lctx_db *db, struct write_batch *w, const char *id, uint64_t hash)
{
    sqlite3_bind_text(w->st_find, 1, id, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(w->st_find);
    if (rc == SQLITE_ROW) {
        if (hash && (uint64_t)sqlite3_column_int64(w->st_find, 1) == hash) {
            sqlite3_reset(w->st_find);
            return -1;
        }
        return tombstone_found(db, w);
    }
    sqlite3_reset(w->st_find);
    return rc == SQLITE_DONE ? LCTX_OK : write_sql_fail(db, "find document");
}

/* Encodes the spans into the batch's buffer; *len gets the bytes. */
static int encode_spans(struct write_batch *w, const chunk_span *spans, size_t n, size_t *len)
{
    size_t need = CHUNK_SPANS_MAX_BYTES(n) + 1;
    if (need > w->spans_cap) {
        uint8_t *p = realloc(w->spans_buf, need);
        if (!p)
            return -1;
        w->spans_buf = p;
        w->spans_cap = need;
    }
    *len = chunk_spans_encode(spans, n, w->spans_buf);
    return 0;
}

static int insert_doc(lctx_db *db, struct write_batch *w, const lctx_doc *d, size_t text_len,
                      uint64_t hash, uint32_t doc_id, uint32_t first, const chunk_span *spans,
                      size_t n_chunks)
{
    size_t spans_len;
    if (encode_spans(w, spans, n_chunks, &spans_len))
        return store_err(db, LCTX_ENOMEM, "out of memory");
    sqlite3_stmt *s = w->st_doc;
    sqlite3_bind_int64(s, 1, doc_id);
    sqlite3_bind_text(s, 2, d->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, d->title ? d->title : "", -1, SQLITE_STATIC);
    if (d->uri)
        sqlite3_bind_text(s, 4, d->uri, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(s, 4);
    if (d->metadata)
        sqlite3_bind_text(s, 5, d->metadata, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(s, 5);
    sqlite3_bind_blob(s, 6, d->text ? d->text : "", (int)text_len, SQLITE_STATIC);
    sqlite3_bind_int64(s, 7, (sqlite3_int64)hash);
    sqlite3_bind_int64(s, 8, first);
    sqlite3_bind_int64(s, 9, (sqlite3_int64)n_chunks);
    sqlite3_bind_blob(s, 10, w->spans_buf, (int)spans_len, SQLITE_STATIC);
    sqlite3_bind_int64(s, 11, (sqlite3_int64)w->seq);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc == SQLITE_CONSTRAINT && w->fresh) {
        /* The id repeats within a fresh batch: replace the earlier copy
         * (even when identical: its chunk ids are already taken). */
        if ((rc = replace_live(db, w, d->id, 0)) != LCTX_OK) {
            sqlite3_clear_bindings(s);
            return rc;
        }
        rc = sqlite3_step(s);
        sqlite3_reset(s);
    }
    sqlite3_clear_bindings(s);
    return rc == SQLITE_DONE ? LCTX_OK : write_sql_fail(db, "insert document");
}

uint64_t write_batch_added(const struct write_batch *w)
{
    return w->n_added;
}

int write_add_doc(lctx_db *db, struct write_batch *w, const lctx_doc *d, int uri_is_content)
{
    size_t text_len = d->text ? (d->text_len ? d->text_len : strlen(d->text)) : 0;
    /* A document that failed to tokenize has doomed the batch (lctx_commit
     * will roll it back): say so again rather than add to it. */
    int rc = write_worker_error(w->worker);
    if (rc)
        return worker_failed(db, write_worker_thread(w->worker), rc);
    if ((rc = doc_check(db, d, text_len)))
        return rc;
    uint64_t hash = doc_content_hash(db, d, text_len, uri_is_content);
    /* Loading a fresh collection, an id can only repeat within the batch;
     * the unique index catches that on insert (replace_dup), so the lookup
     * per document is skipped. */
    if (!w->fresh && (rc = replace_live(db, w, d->id, hash)) != LCTX_OK)
        return rc == -1 ? LCTX_OK : rc;
    chunk_span *spans = NULL;
    size_t n_spans = 0;
    if (text_len && chunk_text(d->text, text_len, db->cfg.chunk_words, &spans, &n_spans))
        return store_err(db, LCTX_ENOMEM, "out of memory");
    if (n_spans == 0 && d->title && *d->title) {
        free(spans); /* a title-only document is one empty chunk */
        if (!(spans = calloc(1, sizeof *spans)))
            return store_err(db, LCTX_ENOMEM, "out of memory");
        n_spans = 1;
    }
    if (w->next_doc > UINT32_MAX || w->next_chunk + n_spans > UINT32_MAX) {
        free(spans);
        return store_err(db, LCTX_EINVAL, "%s: collection is full (2^32 ids spent): compacting "
                         "it (lctx-index --compact) gives back those of deleted and replaced "
                         "documents", db->path);
    }
    uint32_t doc_id = (uint32_t)w->next_doc, first = (uint32_t)w->next_chunk;
    const char *title = d->title ? d->title : "";
    rc = insert_doc(db, w, d, text_len, hash, doc_id, first, spans, n_spans);
    if (rc) {
        free(spans);
        return rc;
    }
    /* The row holds its ids from here, whatever happens next. */
    w->next_doc++;
    w->next_chunk += n_spans;
    /* The worker owns spans from here, even on failure. */
    write_index_fn self = w->eb ? NULL : write_index_caller_job;
    if (self && db->test_caller_every && doc_id % db->test_caller_every == 0) {
        rc = write_worker_run_here(w->worker, self, w, doc_id, first, title, strlen(title),
                                   d->text ? d->text : "", spans, n_spans);
    } else {
        rc = write_worker_submit(w->worker, doc_id, first, title, strlen(title),
                                 d->text ? d->text : "", text_len, spans, n_spans, self, w);
    }
    if (rc)
        return worker_failed(db, write_worker_thread(w->worker), rc);
    w->n_added++;
    return LCTX_OK;
}

int lctx_add(lctx_db *db, const lctx_doc *doc)
{
    if (!db || !doc)
        return store_err(db, LCTX_EINVAL, "lctx_add: NULL argument");
    pthread_mutex_lock(&db->write_mu);
    int rc = db->batch ? write_add_doc(db, db->batch, doc, 1)
                       : store_err(db, LCTX_ESTATE, "lctx_add: no batch (call lctx_begin)");
    pthread_mutex_unlock(&db->write_mu);
    return rc;
}

int lctx_delete(lctx_db *db, const char *id)
{
    if (!db || !id)
        return store_err(db, LCTX_EINVAL, "lctx_delete: NULL argument");
    pthread_mutex_lock(&db->write_mu);
    struct write_batch *w = db->batch;
    int rc;
    if (!w) {
        rc = store_err(db, LCTX_ESTATE, "lctx_delete: no batch (call lctx_begin)");
    } else {
        sqlite3_bind_text(w->st_find, 1, id, -1, SQLITE_TRANSIENT);
        rc = sqlite3_step(w->st_find);
        if (rc == SQLITE_ROW) {
            rc = tombstone_found(db, w);
        } else {
            sqlite3_reset(w->st_find);
            rc = rc == SQLITE_DONE ? store_err(db, LCTX_ENOTFOUND, "%s: no document with id '%s'",
                                               db->path, id)
                                   : write_sql_fail(db, "find document");
        }
    }
    pthread_mutex_unlock(&db->write_mu);
    return rc;
}

/* Frees the batch and, unless an ingest keeps it, the writer lock. */
static void release_batch(lctx_db *db)
{
    write_batch_free(db->batch);
    db->batch = NULL;
    if (!db->lock_keep)
        store_unlock(db);
}

static void end_batch(lctx_db *db)
{
    /* Still creating: this first batch did not commit (create.c). */
    if (db->creating)
        db->creation_failed = 1;
    release_batch(db);
}

/* A batch that changed nothing: every document in it was already stored as
 * it is, and nothing was deleted. Committing it would sync both stores and
 * add a batch to the collection's history for nothing, and a pipeline that
 * re-sends its corpus every hour would do so every hour. So it ends as a
 * rollback would, except that a collection being created stays (empty)
 * rather than being taken for a failed creation, and *seq receives the
 * last committed batch: the collection as of that batch already holds
 * everything this one added. */
static int commit_unchanged(lctx_db *db, struct write_batch *w, uint64_t *seq)
{
    int rc = sqlite3_get_autocommit(db->wdb) ? LCTX_OK : catalog_exec(db, db->wdb, "ROLLBACK");
    if (!rc && seq)
        *seq = w->seq - 1;
    if (rc)
        end_batch(db);
    else
        release_batch(db);
    return rc;
}

int lctx_rollback(lctx_db *db)
{
    if (!db)
        return LCTX_EINVAL;
    pthread_mutex_lock(&db->write_mu);
    int rc = LCTX_OK;
    if (!db->batch)
        rc = store_err(db, LCTX_ESTATE, "lctx_rollback: no batch");
    else {
        if (!sqlite3_get_autocommit(db->wdb))
            rc = catalog_exec(db, db->wdb, "ROLLBACK");
        end_batch(db);
    }
    pthread_mutex_unlock(&db->write_mu);
    return rc;
}

/* Starts the batch's catalog COMMIT (its batches row and id counters first)
 * on a thread of its own: catalog_commit_start. */
static void commit_sqlite_start(lctx_db *db, struct write_batch *w, catalog_commit *cc)
{
    char sql[448];
    snprintf(sql, sizeof sql, "%sINSERT INTO batches VALUES(%llu,'committed',%llu,%llu,%lld,"
             "%llu,%llu);INSERT OR REPLACE INTO config(key,value) VALUES('next_doc',%llu),"
             "('next_chunk',%llu);COMMIT",
             db->test_fail_catalog_commit ? "INSERT INTO simulated_commit_failure VALUES(0);" : "",
             (unsigned long long)w->seq,
             (unsigned long long)w->n_added, (unsigned long long)w->n_deleted,
             (long long)time(NULL), (unsigned long long)w->first_doc,
             (unsigned long long)w->next_doc, (unsigned long long)w->next_doc,
             (unsigned long long)w->next_chunk);
    catalog_commit_start(db, cc, sql);
}

/* LMDB failed (status rc) after the catalog committed: undo the catalog's
 * batch so neither store changed, or say it will be replayed. */
static int undo_committed(lctx_db *db, struct write_batch *w, int rc)
{
    char why[512];
    snprintf(why, sizeof why, "%s", lctx_errmsg(db));
    write_batch_drop_spills(w);   /* their room, for the undo on a full disk */
    if (catalog_undo_batch(db, w->seq, w->first_doc) == LCTX_OK) {
        if (w->eb)
            embed_undo(db, w->first_chunk);
        return store_err(db, rc, "%s (batch rolled back)", why);
    }
    return store_err(db, rc, "%s (batch kept in the catalog; it will be replayed when the "
                     "collection is next opened)", why);
}

/* The two stores of a batch, the catalog first (the commit point), then
 * LMDB, which must never get ahead of it. The catalog's COMMIT mostly waits
 * for the disk, so it runs on its own thread (cc) while this one finishes
 * the postings and writes the LMDB transaction; that transaction commits
 * only once the catalog has (kv_apply_batch's gate), and aborts if it
 * failed. Usually lctx_commit has started cc already (started); with an
 * embedder the postings are finished and embedded first, and cc starts
 * here: embedding may fail (an HTTP timeout), and must do so before the
 * commit point. So must a spilled batch's last runs, which may find the
 * disk full. b is the batch for LMDB, filled here. */
static int commit_both(lctx_db *db, struct write_batch *w, store_batch *b, catalog_commit *cc,
                       int started)
{
    int rc = write_batch_finish(w, w->seq, b);
    if (!started) {
        if (!rc && w->eb)
            rc = embed_batch_run(db, w->eb, b);
        if (rc) {
            catalog_exec(db, db->wdb, "ROLLBACK");
            return rc;
        }
        commit_sqlite_start(db, w, cc);
    }
    if (!rc && !db->test_stop_after_sqlite)
        rc = kv_apply_batch(db, b, catalog_commit_gate, cc);
    int sq = catalog_commit_join(cc);    /* from here this thread has the catalog again */
    if (sq != LCTX_OK)
        return sq;                       /* nothing committed anywhere */
    if (rc)
        return undo_committed(db, w, rc);
    /* The first batch of a new collection counts once the creation marker
     * is gone (store/create.c). */
    if (db->creating && (rc = creation_finish(db))) {
        char why[512];
        snprintf(why, sizeof why, "%s", lctx_errmsg(db));
        return store_err(db, rc, "%s (the batch is not committed: the collection will start "
                         "over when next opened)", why);
    }
    return LCTX_OK;
}

/* Tokenizing the backlog or merging the builders failed (status rc, the
 * message set). Rolls the catalog's transaction back, or, where cc started
 * its COMMIT already, takes the batch back out of the catalog: either way
 * neither store changed. */
static int abandon_batch(lctx_db *db, struct write_batch *w, int rc, catalog_commit *cc)
{
    write_batch_drop_spills(w);
    if (!cc) {
        catalog_exec(db, db->wdb, "ROLLBACK");
        return rc;
    }
    char why[512];
    snprintf(why, sizeof why, "%s", lctx_errmsg(db));
    if (catalog_commit_join(cc) != LCTX_OK)
        return store_err(db, rc, "%s", why);   /* the COMMIT failed too: nothing committed */
    return undo_committed(db, w, rc);
}

int lctx_commit(lctx_db *db, uint64_t *seq)
{
    if (!db)
        return LCTX_EINVAL;
    pthread_mutex_lock(&db->write_mu);
    struct write_batch *w = db->batch;
    int rc;
    if (!w) {
        rc = store_err(db, LCTX_ESTATE, "lctx_commit: no batch (call lctx_begin)");
        goto out;
    }
    if (w->n_added == 0 && w->n_deleted == 0) {
        rc = commit_unchanged(db, w, seq);
        goto out;
    }
    /* Without an embedder nothing from here on can fail but memory, which
     * is rare enough to pay for with an undo: so the catalog's COMMIT (the
     * commit point; mostly waiting for the disk) starts now, while the
     * worker finishes its backlog and the builders are merged, not after.
     * On a collection of a thousand short documents that wait is most of
     * what a commit costs. */
    catalog_commit cc = {0};
    /* A batch that spilled writes its last runs first: were the disk to
     * fill meanwhile, the COMMIT would have to be undone on a full disk. */
    int early = !w->eb && write_worker_error(w->worker) == 0 && !write_batch_spilled(w);
    if (early)
        commit_sqlite_start(db, w, &cc);
    /* The worker's error, if any, already set the message. This thread
     * tokenizes its share of the backlog meanwhile (not with an embedder);
     * then the caller's builders are merged into the worker's. */
    pthread_t worker = write_worker_thread(w->worker);
    rc = write_worker_finish(w->worker, w->eb ? NULL : write_index_caller_job,
                             write_sort_caller_lanes, w, &w->reap);
    w->worker = NULL;
    for (size_t i = 0; i < w->n_tombs && !rc; i++)
        if (postings_build_tomb(w->lane.pb, w->tombs[i].first, w->tombs[i].n))
            rc = -1;
    if (rc) {
        rc = worker_failed(db, worker, rc);
        rc = abandon_batch(db, w, rc, early ? &cc : NULL);
        end_batch(db);
        goto out;
    }
    store_batch b;
    rc = commit_both(db, w, &b, &cc, early);
    if (!rc && seq)
        *seq = w->seq;
    int tune = !rc && w->eb != NULL && !db->test_stop_after_sqlite;
    /* Crossing the LSH threshold builds buckets; a failure there leaves
     * the batch committed (search stays exact) and is reported. Tuning
     * writes both stores, so the batch's writer lock is kept for it:
     * released first, another writer got in meanwhile (a compaction ran
     * beside the tuning, whose buckets were then lost). */
    int keep = db->lock_keep;
    db->lock_keep = keep || tune;
    /* A new catalog took its first batch with the rollback journal; the
     * next batch switches it to WAL (catalog_batch_mode). */
    end_batch(db);
    db->lock_keep = keep;
    if (tune) {
        embed_after_commit(db);
        if (!keep)
            store_unlock(db);
    }
out:
    pthread_mutex_unlock(&db->write_mu);
    return rc;
}

