/*
 * vcheck.c — lctx_check's vector part: the vectors and LSH buckets agree
 * with the chunk records.
 *
 * Invariants (indexer/vecapply.c keeps them, in the batch's transaction):
 *   - every vector belongs to a live chunk (tombstoning a chunk removes its
 *     vector), and every live chunk has one: their counts are equal;
 *   - every bucket entry names a chunk that has a vector, and each vector
 *     is in exactly one bucket per table: entries = vectors x tables.
 * Bucket codes are not recomputed here (that needs the hasher, which the
 * store does not depend on); a wrong code would show as a count mismatch
 * after the next delete, and test_vector_store.c checks codes directly.
 */
#include <stdio.h>
#include <string.h>

#include "store/store.h"

static int vcorrupt(lctx_db *db, const char *what)
{
    return store_err(db, LCTX_ECORRUPT, "%s: integrity check failed: %s", db->path, what);
}

static int check_rows(lctx_db *db, MDB_txn *txn, const vecstore *vs, uint64_t *n)
{
    MDB_cursor *c;
    int m = mdb_cursor_open(txn, vs->dbi, &c);
    if (m)
        return kv_err(db, m, "open cursor");
    kv_page_cache pc = {0};
    MDB_val k, v;
    int rc = LCTX_OK;
    *n = 0;
    for (m = mdb_cursor_get(c, &k, &v, MDB_FIRST); m == 0 && !rc;
         m = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        uint32_t chunk;
        store_chunkrec rec;
        char msg[160];
        if (k.mv_size != 4 || v.mv_size != vs->row_bytes) {
            rc = vcorrupt(db, "malformed vector record");
            break;
        }
        memcpy(&chunk, k.mv_data, 4);
        if (kv_chunk(db, txn, &pc, chunk, &rec) != 0 || (rec.len & STORE_DELETED)) {
            snprintf(msg, sizeof msg, "chunk %u has a vector but is deleted or missing", chunk);
            rc = vcorrupt(db, msg);
        }
        (*n)++;
    }
    mdb_cursor_close(c);
    if (!rc && m != MDB_NOTFOUND && m != 0)
        rc = kv_err(db, m, "read vectors");
    return rc;
}

static int check_buckets(lctx_db *db, MDB_txn *txn, const vecstore *vs, const lsh_store *ls,
                         uint64_t want)
{
    MDB_cursor *c;
    int m = mdb_cursor_open(txn, ls->dbi, &c);
    if (m)
        return kv_err(db, m, "open cursor");
    MDB_val k, v;
    uint64_t n = 0;
    int rc = LCTX_OK;
    for (m = mdb_cursor_get(c, &k, &v, MDB_FIRST); m == 0 && !rc;
         m = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        uint32_t chunk;
        const void *row;
        if (k.mv_size != 8 || v.mv_size != 4) {
            rc = vcorrupt(db, "malformed lsh bucket entry");
            break;
        }
        memcpy(&chunk, v.mv_data, 4);
        if (vecstore_get(txn, vs, chunk, &row) != 0) {
            char msg[160];
            snprintf(msg, sizeof msg, "lsh bucket entry for chunk %u, which has no vector", chunk);
            rc = vcorrupt(db, msg);
        }
        n++;
    }
    mdb_cursor_close(c);
    if (!rc && m != MDB_NOTFOUND && m != 0)
        rc = kv_err(db, m, "read lsh buckets");
    if (!rc && n != want) {
        char msg[160];
        snprintf(msg, sizeof msg, "lsh buckets hold %llu entries, expected %llu",
                 (unsigned long long)n, (unsigned long long)want);
        rc = vcorrupt(db, msg);
    }
    return rc;
}

int check_vectors(lctx_db *db, MDB_txn *txn, const store_stats *st)
{
    if (!db->has_vectors)
        return LCTX_OK;
    vecstore vs;
    lsh_store ls;
    vecstore_of(db, &vs, &ls);
    uint64_t n = 0;
    int rc = check_rows(db, txn, &vs, &n);
    if (rc)
        return rc;
    if (n != st->n_chunks - st->n_deleted) {
        char msg[160];
        snprintf(msg, sizeof msg, "%llu vectors for %llu live chunks", (unsigned long long)n,
                 (unsigned long long)(st->n_chunks - st->n_deleted));
        return vcorrupt(db, msg);
    }
    lsh_store_config cfg;
    int m = lsh_store_config_get(txn, &ls, &cfg);
    if (m == MDB_NOTFOUND)
        cfg.n_tables = 0;
    else if (m)
        return kv_err(db, m, "read lsh configuration");
    return check_buckets(db, txn, &vs, &ls, n * cfg.n_tables);
}
