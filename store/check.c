/*
 * check.c — lctx_check: verify both stores and their agreement.
 *
 * In order, stopping at the first problem (its message names it):
 *   1. SQLite PRAGMA integrity_check;
 *   2. the batch both stores last committed agree (skipped while another
 *      process holds the writer lock: it may be between its two commits);
 *   3. chunk pages: records well formed, totals equal the LMDB statistics;
 *   4. every term's postings: blocks decode, chunk ids strictly increase
 *      within and across blocks, each block's key names its last chunk, the
 *      block header bounds (max tf, min length) hold for every entry, block
 *      and posting counts match the dictionary, every posting's chunk has a
 *      record, a term's block is inline exactly when it is its only one
 *      (blocks.c); the totals match the statistics, and the postings table
 *      holds no block of a term the dictionary lacks;
 *   5. every chunk of a document live as of LMDB's last batch (the catalog
 *      may be ahead while a writer is between its commits) has a live LMDB
 *      record for the same document, and the live chunk counts agree;
 *   6. vectors and LSH buckets agree with the chunk records (vcheck.c).
 * It reads everything once: cost is linear in the collection.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "indexer/indexer.h"
#include "store/store.h"

static int corrupt(lctx_db *db, const char *what)
{
    return store_err(db, LCTX_ECORRUPT, "%s: integrity check failed: %s", db->path, what);
}

static int check_sqlite(lctx_db *db, sqlite3 *conn)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(conn, "PRAGMA integrity_check", -1, &st, NULL))
        return corrupt(db, sqlite3_errmsg(conn));
    int rc = LCTX_OK;
    if (sqlite3_step(st) != SQLITE_ROW)
        rc = corrupt(db, sqlite3_errmsg(conn));
    else if (strcmp((const char *)sqlite3_column_text(st, 0), "ok") != 0) {
        char msg[300];
        snprintf(msg, sizeof msg, "catalog.db: %s", sqlite3_column_text(st, 0));
        rc = corrupt(db, msg);
    }
    sqlite3_finalize(st);
    return rc;
}

static int check_chunks(lctx_db *db, MDB_txn *txn, const store_stats *st)
{
    MDB_cursor *cc;
    int rc = mdb_cursor_open(txn, db->dbi_chunks, &cc);
    if (rc)
        return kv_err(db, rc, "open cursor");
    uint64_t n = 0, del = 0, total = 0;
    MDB_val k, v;
    int s = LCTX_OK;
    store_chunkrec *r = malloc(STORE_PAGE * sizeof *r);
    if (!r) {
        mdb_cursor_close(cc);
        return store_err(db, LCTX_ENOMEM, "out of memory");
    }
    for (rc = mdb_cursor_get(cc, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cc, &k, &v, MDB_NEXT)) {
        uint32_t nr;
        if (k.mv_size != 4 || chunk_page_decode(v.mv_data, v.mv_size, r, &nr)) {
            s = corrupt(db, "malformed chunk page");
            break;
        }
        if (chunk_page_sparse(v.mv_size) && !chunk_page_sparse_ok(st)) {
            s = corrupt(db, "sparse chunk page in a format 3 index");
            break;
        }
        for (size_t i = 0; i < nr; i++) {
            if (!r[i].doc)
                continue;
            n++;
            total += r[i].len & STORE_LEN_MASK;
            del += (r[i].len & STORE_DELETED) != 0;
        }
    }
    free(r);
    mdb_cursor_close(cc);
    if (s)
        return s;
    if (n != st->n_chunks || del != st->n_deleted || total != st->total_len) {
        char msg[256];
        snprintf(msg, sizeof msg, "chunk records (%llu, %llu deleted, length %llu) disagree "
                 "with statistics (%llu, %llu, %llu)", (unsigned long long)n,
                 (unsigned long long)del, (unsigned long long)total,
                 (unsigned long long)st->n_chunks, (unsigned long long)st->n_deleted,
                 (unsigned long long)st->total_len);
        return corrupt(db, msg);
    }
    return LCTX_OK;
}

/* "term 'NAME': " into msg; returns its length. */
static size_t term_prefix(char *msg, size_t len, const MDB_val *name)
{
    snprintf(msg, len, "term '%.*s': ", (int)(name->mv_size > 64 ? 64 : name->mv_size),
             (const char *)name->mv_data);
    return strlen(msg);
}

/* Checks one term's blocks; adds to *table the blocks it keeps in the
 * postings table. */
static int check_term(lctx_db *db, MDB_txn *txn, const MDB_val *name, const store_term *t,
                      const MDB_val *inl, kv_page_cache *cache, uint64_t *table)
{
    store_posting p[STORE_BLOCK];
    uint64_t df = 0, nb = 0;
    int64_t prev = -1;
    char msg[300];
    size_t m = term_prefix(msg, sizeof msg, name);
    kv_blocks bl;
    kv_block b;
    int rc = kv_blocks_open(db, txn, t, inl, &bl);
    if (rc)
        return rc;
    for (rc = kv_blocks_next(db, &bl, &b); !rc && b.data; rc = kv_blocks_next(db, &bl, &b)) {
        pblock_header h;
        if (pblock_decode(b.data, b.len, &h, p)) {
            snprintf(msg + m, sizeof msg - m, "block does not decode");
            break;
        }
        if ((int64_t)p[0].chunk <= prev || p[h.count - 1].chunk != b.last) {
            snprintf(msg + m, sizeof msg - m, "blocks out of order");
            break;
        }
        for (uint32_t i = 0; i < h.count && !msg[m]; i++) {
            store_chunkrec r;
            float tf = kv_tf_bound(p[i].tf_text + db->cfg.title_weight * p[i].tf_title);
            if (p[i].tf_text == 0 && p[i].tf_title == 0)
                snprintf(msg + m, sizeof msg - m, "zero tf");
            else if (kv_chunk(db, txn, cache, p[i].chunk, &r))
                snprintf(msg + m, sizeof msg - m, "posting for missing chunk %u", p[i].chunk);
            else if (tf > h.max_tf || (r.len & STORE_LEN_MASK) < h.min_len)
                snprintf(msg + m, sizeof msg - m, "block bound too low");
        }
        if (msg[m])
            break;
        prev = b.last;
        df += h.count;
        nb++;
    }
    kv_blocks_close(&bl);
    if (rc)
        return rc;
    /* The writers' rule (blocks.c): one block, and only then, inline. */
    if (!msg[m] && !inl->mv_size && nb == 1)
        snprintf(msg + m, sizeof msg - m, "its one block is not in its dictionary entry");
    if (!msg[m] && (df != t->df || nb != t->n_blocks || (nb && (uint32_t)prev != t->last_chunk)))
        snprintf(msg + m, sizeof msg - m, "dictionary entry disagrees with its postings");
    if (msg[m])
        return corrupt(db, msg);
    if (!inl->mv_size)
        *table += nb;
    return LCTX_OK;
}

static int check_postings(lctx_db *db, MDB_txn *txn, const store_stats *st)
{
    MDB_cursor *tc;
    int rc = mdb_cursor_open(txn, db->dbi_terms, &tc);
    if (rc)
        return kv_err(db, rc, "open cursor");
    kv_page_cache cache = {0};
    uint64_t terms = 0, postings = 0, table = 0;
    MDB_val k, v;
    int s = LCTX_OK;
    for (rc = mdb_cursor_get(tc, &k, &v, MDB_FIRST); rc == 0 && !s;
         rc = mdb_cursor_get(tc, &k, &v, MDB_NEXT)) {
        store_term t;
        MDB_val inl;
        if (kv_term_parse(db, &v, &t, &inl)) {
            s = corrupt(db, "malformed term entry");
            break;
        }
        if (t.id >= st->next_term)
            s = corrupt(db, "term id beyond the allocated range");
        else
            s = check_term(db, txn, &k, &t, &inl, &cache, &table);
        terms++;
        postings += t.df;
    }
    mdb_cursor_close(tc);
    if (s)
        return s;
    if (rc != MDB_NOTFOUND)
        return kv_err(db, rc, "read terms");
    MDB_stat ms;
    if ((rc = mdb_stat(txn, db->dbi_post, &ms)))
        return kv_err(db, rc, "stat");
    if (terms != st->n_terms || postings != st->n_postings)
        return corrupt(db, "term or posting counts disagree with statistics");
    if (ms.ms_entries != table)
        return corrupt(db, "postings blocks without a dictionary entry");
    return LCTX_OK;
}

static int check_agreement(lctx_db *db, MDB_txn *txn, sqlite3 *conn, const store_stats *st)
{
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(conn, "SELECT doc_id, first_chunk, n_chunks FROM documents "
                           "WHERE batch_seq <= ?1 AND (deleted_seq IS NULL OR "
                           "deleted_seq > ?1)", -1, &s, NULL))
        return corrupt(db, sqlite3_errmsg(conn));
    sqlite3_bind_int64(s, 1, (sqlite3_int64)st->last_seq);
    kv_page_cache cache = {0};
    uint64_t live = 0;
    int rc = LCTX_OK;
    while (!rc && sqlite3_step(s) == SQLITE_ROW) {
        uint32_t doc = (uint32_t)sqlite3_column_int64(s, 0);
        uint32_t first = (uint32_t)sqlite3_column_int64(s, 1);
        uint32_t n = (uint32_t)sqlite3_column_int64(s, 2);
        for (uint32_t chunk = first; chunk - first < n && !rc; chunk++) {
            store_chunkrec r;
            if (kv_chunk(db, txn, &cache, chunk, &r) || r.doc != doc ||
                (r.len & STORE_DELETED)) {
                char msg[160];
                snprintf(msg, sizeof msg, "chunk %u of document %u is missing from the index",
                         chunk, doc);
                rc = corrupt(db, msg);
            }
            live++;
        }
    }
    sqlite3_finalize(s);
    if (!rc && live != st->n_chunks - st->n_deleted)
        rc = corrupt(db, "live chunk counts of the catalog and the index disagree");
    return rc;
}

/* The index against itself and against the catalog, from one snapshot of
 * each. The catalog's ids are the index's only while both name the same
 * generation (renumbering changes them when the generation changes):
 * *moved says they did not, and nothing was checked. */
static int check_index(lctx_db *db, sqlite3 *conn, int locked, int *moved)
{
    MDB_txn *txn = NULL;
    store_stats st;
    uint64_t gen;
    *moved = 0;
    int rc = kv_read_begin(db, &txn);
    if (rc)
        return rc;
    int tx = sqlite3_exec(conn, "BEGIN", NULL, NULL, NULL) == SQLITE_OK;
    if (!(rc = catalog_reader_gen(db, conn, &gen)) && gen != db->index_gen)
        *moved = 1;
    else if (!rc && !(rc = kv_get_stats(db, txn, &st))) {
        uint64_t sq = 0;
        /* A frozen handle keeps writers out (readonly.c): the stores stand
         * still, but it may not replay what awaits recovery. */
        if ((locked || db->frozen) && !(rc = catalog_last_seq(db, conn, &sq)) &&
            sq != st.last_seq) {
            char msg[256];
            snprintf(msg, sizeof msg, "catalog is at batch %llu, index at %llu%s",
                     (unsigned long long)sq, (unsigned long long)st.last_seq,
                     !locked && sq > st.last_seq
                         ? " (awaiting recovery, which needs a read-write open)" : "");
            rc = corrupt(db, msg);
        }
        if (!rc)
            rc = check_chunks(db, txn, &st);
        if (!rc)
            rc = check_postings(db, txn, &st);
        if (!rc)
            rc = check_agreement(db, txn, conn, &st);
        if (!rc)
            rc = check_vectors(db, txn, &st);
    }
    if (tx)
        sqlite3_exec(conn, "COMMIT", NULL, NULL, NULL);
    kv_read_end(db, txn);
    return rc;
}

int lctx_check(lctx_db *db)
{
    if (!db)
        return LCTX_EINVAL;
    sqlite3 *conn = store_conn_get(db);
    if (!conn)
        return LCTX_EIO;
    int rc = check_sqlite(db, conn);
    /* Hold the writer lock (when free) so both stores stand still; without
     * it, compare against LMDB's snapshot only (SQLite may be ahead). */
    int mu = 0, locked = 0;
    if (!rc && !(db->flags & LCTX_OPEN_READONLY)) {
        pthread_mutex_lock(&db->write_mu);
        mu = 1;
        if (!db->batch) {
            locked = store_lock(db) == LCTX_OK;
            if (!locked)
                store_clear_err(db);
        }
    }
    /* A batch the catalog holds and the index lacks (a full disk after the
     * catalog's commit) is not damage: it is replayed, as lctx_begin and a
     * writer's open would, and a failure to do so is reported as such. */
    if (!rc && locked)
        rc = write_recover(db);
    for (int tries = 1, moved = 1; !rc && moved; tries++) {
        if (!(rc = check_index(db, conn, locked, &moved)) && moved)
            rc = tries == 3 ? store_err(db, LCTX_EBUSY, "%s: the index keeps being replaced",
                                        db->path)
                            : index_catch_up(db);
    }
    if (locked)
        store_unlock(db);
    if (mu)
        pthread_mutex_unlock(&db->write_mu);
    store_conn_put(db, conn);
    if (!rc)
        store_clear_err(db);
    return rc;
}
