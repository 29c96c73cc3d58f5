/*
 * replay.c — crash recovery: bringing LMDB up to the catalog.
 *
 * A batch is committed once the catalog's transaction is (write.c), and
 * LMDB takes it after. A crash between the two leaves the catalog one or
 * more batches ahead, which it records (the batches table) together with
 * everything needed to rebuild them: each document's text, its chunk
 * ranges and the batch that added it (batch_seq), and the batch that
 * deleted it (deleted_seq). Opening the collection read-write, or the next
 * lctx_begin, calls write_recover, which replays each missing batch in
 * order: its documents re-tokenized from their stored chunk ranges with
 * the stored tokenizer settings, its deletions tombstoned again, through
 * the same index_doc as the first apply (write_batch_index) and one LMDB
 * transaction. So LMDB ends exactly as the original apply would have left
 * it, term ids included; vectors are read back from the catalog
 * (embed_replay), never recomputed.
 *
 * Rebuilding the whole index (LCTX_OPEN_REBUILD_INDEX, store/db.c) is the
 * same replay from batch 1. Compaction has deleted the rows of deleted
 * documents by then, so an old batch may come back without some of its
 * documents: their chunk ids are holes, which the batch passes over
 * (write_batch_allow_holes) and the apply skips. That index is the one
 * compaction left, up to term ids.
 *
 * Consecutive batches are replayed together, as one write batch and one
 * LMDB transaction, up to REPLAY_GROUP_BYTES of text or
 * REPLAY_GROUP_CHUNKS chunks: each batch's documents, then its deletions,
 * in order, which is what the batches did one after another (a deletion
 * of a document added earlier in the group tombstones it inside the
 * group, as lctx_delete does within a batch). A collection fed one
 * document at a time for weeks has thousands of batches, and replaying
 * them one transaction each took 24 s for 4,001 documents; the bounds
 * keep a group's LMDB dirty pages (about a fifth of its text) and its
 * vectors (a row per chunk) well inside memory.
 */
#include <stdlib.h>

#include "indexer/indexer.h"
#include "store/store.h"

/* Reads the spans of the document at the statement's row into *spans
 * (grown as needed). */
static int replay_spans(lctx_db *db, sqlite3_stmt *sd, size_t text_len, chunk_span **spans,
                        size_t *cap)
{
    uint32_t doc = (uint32_t)sqlite3_column_int64(sd, 0);
    size_t n = (size_t)sqlite3_column_int64(sd, 4);
    if (n > *cap) {
        chunk_span *p = realloc(*spans, n * sizeof *p);
        if (!p)
            return store_err(db, LCTX_ENOMEM, "out of memory");
        *spans = p;
        *cap = n;
    }
    const void *blob = sqlite3_column_blob(sd, 5);
    size_t len = (size_t)sqlite3_column_bytes(sd, 5);
    if (chunk_spans_decode(blob, len, n, text_len, *spans))
        return store_err(db, LCTX_ECORRUPT, "%s/catalog.db: chunk spans of document %u are "
                         "malformed", db->path, doc);
    return LCTX_OK;
}

/* Replay groups: at most this much document text, or this many chunks. */
#define REPLAY_GROUP_BYTES (64u << 20)
#define REPLAY_GROUP_CHUNKS 65536u

/* Adds batch seq's documents to w; *bytes and *chunks grow by their text
 * and their chunks. */
static int replay_docs(lctx_db *db, struct write_batch *w, uint64_t seq, size_t *bytes,
                       size_t *chunks)
{
    sqlite3_stmt *sd = NULL;
    chunk_span *spans = NULL;
    size_t cap = 0;
    int rc = LCTX_OK;
    if (sqlite3_prepare_v2(db->wdb, "SELECT doc_id, title, text, first_chunk, n_chunks, spans "
                           "FROM documents WHERE doc_id >= (SELECT first_doc FROM batches "
                           "WHERE seq=?1) AND doc_id < (SELECT end_doc FROM batches WHERE "
                           "seq=?1) AND batch_seq=?1 ORDER BY doc_id", -1, &sd, NULL))
        return write_sql_fail(db, "replay");   /* nothing allocated yet */
    sqlite3_bind_int64(sd, 1, (sqlite3_int64)seq);
    int s;
    while ((s = sqlite3_step(sd)) == SQLITE_ROW && !rc) {
        uint32_t doc = (uint32_t)sqlite3_column_int64(sd, 0);
        const char *title = (const char *)sqlite3_column_text(sd, 1);
        size_t title_len = (size_t)sqlite3_column_bytes(sd, 1);
        const char *text = sqlite3_column_blob(sd, 2);
        size_t text_len = (size_t)sqlite3_column_bytes(sd, 2);
        uint32_t first = (uint32_t)sqlite3_column_int64(sd, 3);
        size_t n = (size_t)sqlite3_column_int64(sd, 4);
        if ((rc = replay_spans(db, sd, text_len, &spans, &cap)))
            break;
        rc = write_batch_index(w, doc, first, title ? title : "", title ? title_len : 0,
                               text ? text : "", spans, n);
        *bytes += text_len + title_len;
        *chunks += n;
    }
    if (!rc && s != SQLITE_DONE)
        rc = write_sql_fail(db, "replay");
    free(spans);
    sqlite3_finalize(sd);
    return rc;
}

static int replay_tombs(lctx_db *db, struct write_batch *w, uint64_t seq)
{
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(db->wdb, "SELECT first_chunk, n_chunks FROM documents WHERE "
                           "deleted_seq=?", -1, &s, NULL))
        return write_sql_fail(db, "replay");
    sqlite3_bind_int64(s, 1, (sqlite3_int64)seq);
    int rc = LCTX_OK;
    while (sqlite3_step(s) == SQLITE_ROW && !rc)
        rc = write_batch_tomb(w, (uint32_t)sqlite3_column_int64(s, 0),
                              (uint32_t)sqlite3_column_int64(s, 1));
    sqlite3_finalize(s);
    return rc;
}

/* Replays batches from `from` on, at most to `to`, as one group (see
 * above); *last receives the last batch the group took. */
static int replay_group(lctx_db *db, uint64_t from, uint64_t to, uint64_t *last)
{
    struct write_batch *w = NULL;
    int rc = write_batch_new(db, &w);
    if (rc)
        return rc;
    write_batch_allow_holes(w);
    size_t bytes = 0, chunks = 0;
    uint64_t seq = from;
    for (;; seq++) {
        if ((rc = replay_docs(db, w, seq, &bytes, &chunks)) || (rc = replay_tombs(db, w, seq)))
            break;
        if (seq == to || bytes >= REPLAY_GROUP_BYTES || chunks >= REPLAY_GROUP_CHUNKS ||
            seq - from + 1 == db->test_replay_group)
            break;
    }
    store_batch b;
    uint8_t *rows = NULL;
    if (!rc && !(rc = write_batch_finish(w, seq, &b)) &&
        (!db->has_vectors || !(rc = embed_replay(db, &b, &rows))))
        rc = kv_apply_batch(db, &b, NULL, NULL);
    free(rows);
    write_batch_free(w);
    *last = seq;
    return rc;
}

int write_recover(lctx_db *db)
{
    uint64_t sq, lq;
    MDB_txn *txn;
    store_stats st;
    int rc = catalog_last_seq(db, db->wdb, &sq);
    if (rc || (rc = kv_read_begin(db, &txn)))
        return rc;
    rc = kv_get_stats(db, txn, &st);
    kv_read_end(db, txn);
    if (rc)
        return rc;
    lq = st.last_seq;
    if (lq > sq)
        return store_err(db, LCTX_ECORRUPT, "%s: index has batch %llu but the catalog only %llu",
                         db->path, (unsigned long long)lq, (unsigned long long)sq);
    for (uint64_t seq = lq + 1; seq <= sq; seq++)
        if ((rc = replay_group(db, seq, sq, &seq)))
            return rc;
    return LCTX_OK;
}
