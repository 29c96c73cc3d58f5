/*
 * vecapply.c — the vector half of a write batch in LMDB, and rebuilding the
 * LSH buckets.
 *
 * kv_apply_batch (store/apply.c) calls vec_apply inside the batch's LMDB
 * write transaction, after the postings: each new chunk's encoded row goes
 * into "vectors" as is (the bytes the catalog holds, so a replay writes the
 * same), and when the collection has LSH tables, one bucket entry per table
 * into "lsh". A tombstoned chunk loses its vector and its bucket entries at
 * once, so every stored vector belongs to a live chunk: vector search needs
 * no tombstone check and compaction has nothing to do for vectors. Bucket
 * codes are always computed from the decoded stored row (never from the
 * encoder's floats), so deleting recomputes exactly the codes inserting
 * used. The hashing lives here rather than in store/ because it belongs to
 * attention/ (lsh_hash.c), which the store does not depend on.
 *
 * Small collections have no tables (lsh_meta absent or n_tables 0): search
 * scans every vector exactly. vec_lsh_rebuild replaces all buckets in one
 * write transaction when the tuner picks new parameters (query/vtune.c).
 */
#include <stdlib.h>
#include <string.h>

#include "attention/attention.h"
#include "indexer/indexer.h"
#include "store/store.h"

/* The collection's hasher, or NULL (exact search) with *rc 0. */
static lsh_hasher *hasher_for(lctx_db *db, MDB_txn *txn, const lsh_store *ls,
                              lsh_store_config *cfg, int *rc)
{
    *rc = lsh_store_config_get(txn, ls, cfg);
    if (*rc == MDB_NOTFOUND) {
        *rc = 0;
        return NULL;
    }
    if (*rc) {
        *rc = kv_err(db, *rc, "read lsh configuration");
        return NULL;
    }
    if (cfg->n_tables == 0)
        return NULL;
    char err[256] = "";
    lsh_hasher *h = lsh_hasher_new(db->dim, (int)cfg->k_bits, (int)cfg->n_tables, cfg->seed,
                                   err, sizeof err);
    if (!h)
        *rc = store_err(db, LCTX_ECORRUPT, "%s/index: lsh configuration: %s", db->path, err);
    return h;
}

typedef struct hash_work {
    float *x, *work;
    uint32_t *codes;
} hash_work;

static int work_new(lctx_db *db, const lsh_hasher *h, hash_work *w)
{
    memset(w, 0, sizeof *w);
    w->x = malloc((size_t)db->dim * sizeof *w->x);
    w->work = h ? malloc(lsh_hasher_work_floats(h) * sizeof *w->work) : NULL;
    w->codes = h ? malloc((size_t)lsh_hasher_tables(h) * sizeof *w->codes) : NULL;
    if (!w->x || (h && (!w->work || !w->codes)))
        return store_err(db, LCTX_ENOMEM, "out of memory");
    return LCTX_OK;
}

static void work_free(hash_work *w)
{
    free(w->x);
    free(w->work);
    free(w->codes);
}

/* Codes of a stored row. */
static void row_codes(lctx_db *db, const lsh_hasher *h, const void *row, hash_work *w)
{
    vecstore_decode((vecstore_encoding)db->venc, db->dim, row, w->x);
    lsh_hasher_hash(h, w->x, w->codes, NULL, w->work);
}

static int put_new(lctx_db *db, MDB_txn *txn, const store_batch *b, const vecstore *vs,
                   const lsh_store *ls, const lsh_hasher *h, hash_work *w)
{
    for (size_t i = 0; i < b->n_chunks; i++) {
        if (b->chunks[i].doc == 0)
            continue;   /* a hole (postings_build_allow_holes): no vector */
        uint32_t chunk = b->first_chunk + (uint32_t)i;
        const uint8_t *row = b->vec_rows + i * vs->row_bytes;
        int rc = vecstore_put_row(txn, vs, chunk, row);
        if (rc)
            return kv_err(db, rc, "write vector");
        if (h) {
            row_codes(db, h, row, w);
            if ((rc = lsh_store_add(txn, ls, chunk, w->codes, lsh_hasher_tables(h))))
                return kv_err(db, rc, "write lsh buckets");
        }
    }
    return LCTX_OK;
}

static int drop_tombs(lctx_db *db, MDB_txn *txn, const store_batch *b, const vecstore *vs,
                      const lsh_store *ls, const lsh_hasher *h, hash_work *w)
{
    uint8_t *copy = malloc(vs->row_bytes);
    if (!copy)
        return store_err(db, LCTX_ENOMEM, "out of memory");
    int rc = LCTX_OK;
    for (size_t i = 0; i < b->n_tomb && !rc; i++) {
        const void *row;
        int m = vecstore_get(txn, vs, b->tomb[i], &row);
        if (m == MDB_NOTFOUND)
            continue;
        if (m) {
            rc = kv_err(db, m, "read vector");
            break;
        }
        if (h) {
            memcpy(copy, row, vs->row_bytes); /* row moves once pages change */
            row_codes(db, h, copy, w);
            if ((m = lsh_store_del(txn, ls, b->tomb[i], w->codes, lsh_hasher_tables(h)))) {
                rc = kv_err(db, m, "delete lsh buckets");
                break;
            }
        }
        if ((m = vecstore_del(txn, vs, b->tomb[i])) && m != MDB_NOTFOUND)
            rc = kv_err(db, m, "delete vector");
    }
    free(copy);
    return rc;
}

int vec_apply(lctx_db *db, MDB_txn *txn, const store_batch *b)
{
    if (!db->has_vectors)
        return LCTX_OK;
    vecstore vs;
    lsh_store ls;
    lsh_store_config cfg;
    vecstore_of(db, &vs, &ls);
    int rc;
    lsh_hasher *h = hasher_for(db, txn, &ls, &cfg, &rc);
    if (rc)
        return rc;
    hash_work w;
    if (!(rc = work_new(db, h, &w))) {
        if (b->n_chunks && !b->vec_rows)
            rc = store_err(db, LCTX_ERROR, "%s: internal error: batch without vectors",
                           db->path);
        if (!rc)
            rc = put_new(db, txn, b, &vs, &ls, h, &w);
        if (!rc)
            rc = drop_tombs(db, txn, b, &vs, &ls, h, &w);
    }
    work_free(&w);
    lsh_hasher_free(h);
    return rc;
}

/* ------------------------------------------------------------ rebuild */
typedef struct rebuild_ctx {
    const lsh_store_config *cfg;
} rebuild_ctx;

static int rebuild_txn(lctx_db *db, MDB_txn *txn, void *ctx)
{
    const lsh_store_config *cfg = ((rebuild_ctx *)ctx)->cfg;
    vecstore vs;
    lsh_store ls;
    vecstore_of(db, &vs, &ls);
    int rc = mdb_drop(txn, ls.dbi, 0);
    if (rc)
        return kv_err(db, rc, "clear lsh buckets");
    if ((rc = lsh_store_config_put(txn, &ls, cfg)))
        return kv_err(db, rc, "write lsh configuration");
    if (cfg->n_tables == 0)
        return LCTX_OK;
    char err[256] = "";
    lsh_hasher *h = lsh_hasher_new(db->dim, (int)cfg->k_bits, (int)cfg->n_tables, cfg->seed,
                                   err, sizeof err);
    if (!h)
        return store_err(db, LCTX_EINVAL, "lsh parameters: %s", err);
    hash_work w;
    MDB_cursor *cur = NULL;
    if (!(rc = work_new(db, h, &w)) && (rc = mdb_cursor_open(txn, vs.dbi, &cur)))
        rc = kv_err(db, rc, "open cursor");
    if (!rc) {
        MDB_val k, v;
        int m;
        for (m = mdb_cursor_get(cur, &k, &v, MDB_FIRST); m == 0 && !rc;
             m = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
            uint32_t chunk;
            if (k.mv_size != 4 || v.mv_size != vs.row_bytes) {
                rc = store_err(db, LCTX_ECORRUPT, "%s/index: malformed vector", db->path);
                break;
            }
            memcpy(&chunk, k.mv_data, 4);
            row_codes(db, h, v.mv_data, &w);
            if ((m = lsh_store_add(txn, &ls, chunk, w.codes, (int)cfg->n_tables)))
                rc = kv_err(db, m, "write lsh buckets");
        }
        if (!rc && m != MDB_NOTFOUND && m != 0)
            rc = kv_err(db, m, "read vectors");
    }
    if (cur)
        mdb_cursor_close(cur);
    work_free(&w);
    lsh_hasher_free(h);
    return rc;
}

int vec_lsh_rebuild(lctx_db *db, const lsh_store_config *cfg)
{
    rebuild_ctx c = {cfg};
    return kv_write(db, rebuild_txn, &c);
}
