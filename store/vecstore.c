/*
 * vecstore.c — one L2-normalised vector per chunk in LMDB, stored compactly.
 *
 * The "vectors" database maps a chunk id (uint32, MDB_INTEGERKEY: LMDB
 * compares it as a native integer, so rows sit in chunk order and an insert
 * of increasing ids appends) to one fixed-size encoded row (store/store.h:
 * f32, f16 or int8 with a per-vector scale). Fixed-size rows keep every page
 * full and make a row's address arithmetic, and with int8 a 100-dimensional
 * vector is 104 bytes: 340K vectors in 35 MB of map.
 *
 * A collection stores one unit vector per chunk, in one of three encodings
 * recorded in its config:
 *
 *   f32  4*dim bytes, exact.
 *   f16  2*dim bytes, IEEE half; relative error about 5e-4 per component.
 *   i8   4 + dim bytes (rounded up to a multiple of 4): a float scale s, then
 *        q_i = round(x_i / s) with s = max|x_i| / 127, so x_i ~= s * q_i.
 *        For a unit vector the error of a dot product is below s/2 * |q|_1,
 *        a few 1e-3 for 100 dimensions: enough to order neighbours whose
 *        similarities differ by more than that, and 4x less memory traffic
 *        than f32, which is what re-scoring scattered candidates is bound by.
 *
 * Rows have a fixed size (vecstore_row_bytes), a multiple of 4 bytes, so an
 * array of rows is directly addressable: the in-memory index keeps them in
 * one block and LMDB values can be read in place from the memory map.
 *
 * Exact re-scoring reads rows in place: vecstore_score hands the mapped bytes
 * straight to the kernel for i8 and f16 (byte / 16-bit loads, safe at the
 * 2-byte alignment LMDB guarantees for values) and copies f32 rows to an
 * aligned buffer first (a float load from an odd address is undefined).
 *
 * Everything runs inside the caller's transaction, so vectors are written
 * and deleted atomically with the batch that adds or deletes their chunks.
 * Return values are LMDB codes; store/kv.c turns them into statuses.
 */
#include "store/store.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int vecstore_open(MDB_txn *txn, int create, int dim, vecstore_encoding enc, vecstore *vs)
{
    if (!txn || !vs || dim < 1 || dim > VECSTORE_MAX_DIM || vecstore_row_bytes(enc, dim) == 0)
        return EINVAL;
    memset(vs, 0, sizeof *vs);
    int rc = mdb_dbi_open(txn, "vectors", MDB_INTEGERKEY | (create ? MDB_CREATE : 0), &vs->dbi);
    if (rc != 0)
        return rc;
    vs->dim = dim;
    vs->enc = enc;
    vs->row_bytes = vecstore_row_bytes(enc, dim);
    return 0;
}

int vecstore_put(MDB_txn *txn, const vecstore *vs, uint32_t chunk, const float *vec)
{
    if (!vec)
        return EINVAL;
    float x[VECSTORE_MAX_DIM];
    double ss = 0.0;
    for (int i = 0; i < vs->dim; i++)
        ss += (double)vec[i] * vec[i];
    float inv = ss > 0.0 ? (float)(1.0 / sqrt(ss)) : 0.0f;
    for (int i = 0; i < vs->dim; i++)
        x[i] = vec[i] * inv;
    MDB_val key = {sizeof chunk, &chunk}, val = {vs->row_bytes, NULL};
    /* MDB_RESERVE: LMDB hands out the space, the row is encoded into it. */
    int rc = mdb_put(txn, vs->dbi, &key, &val, MDB_RESERVE);
    if (rc != 0)
        return rc;
    vecstore_encode(vs->enc, vs->dim, x, val.mv_data);
    return 0;
}

int vecstore_get(MDB_txn *txn, const vecstore *vs, uint32_t chunk, const void **row)
{
    MDB_val key = {sizeof chunk, &chunk}, val;
    int rc = mdb_get(txn, vs->dbi, &key, &val);
    if (rc != 0)
        return rc;
    if (val.mv_size != vs->row_bytes)
        return MDB_CORRUPTED;
    *row = val.mv_data;
    return 0;
}

int vecstore_del(MDB_txn *txn, const vecstore *vs, uint32_t chunk)
{
    MDB_val key = {sizeof chunk, &chunk};
    return mdb_del(txn, vs->dbi, &key, NULL);
}

int vecstore_read(MDB_txn *txn, const vecstore *vs, uint32_t chunk, float *out)
{
    const void *row;
    int rc = vecstore_get(txn, vs, chunk, &row);
    if (rc != 0)
        return rc;
    if (vs->enc == VECSTORE_F32) {
        memcpy(out, row, vs->row_bytes);
        return 0;
    }
    vecstore_decode(vs->enc, vs->dim, row, out);
    return 0;
}

int vecstore_score(MDB_txn *txn, const vecstore *vs, uint32_t chunk, const float *q, float *score)
{
    const void *row;
    int rc = vecstore_get(txn, vs, chunk, &row);
    if (rc != 0)
        return rc;
    if (vs->enc == VECSTORE_F32) {
        float x[VECSTORE_MAX_DIM];
        memcpy(x, row, vs->row_bytes);
        *score = vecstore_dot_f32(q, x, vs->dim);
        return 0;
    }
    *score = vecstore_dot(vs->enc, vs->dim, q, row);
    return 0;
}

int vecstore_put_row(MDB_txn *txn, const vecstore *vs, uint32_t chunk, const void *row)
{
    if (!row)
        return EINVAL;
    MDB_val key = {sizeof chunk, &chunk}, val = {vs->row_bytes, (void *)row};
    return mdb_put(txn, vs->dbi, &key, &val, 0);
}

/* ------------------------------------------------ the collection's databases
 * A collection with an embedder has three more named databases; the handle
 * keeps their handles (opened once, valid for every later transaction). */
void vecstore_of(const lctx_db *db, vecstore *vs, lsh_store *ls)
{
    if (vs) {
        memset(vs, 0, sizeof *vs);
        vs->dbi = db->dbi_vec;
        vs->dim = db->dim;
        vs->enc = (vecstore_encoding)db->venc;
        vs->row_bytes = vecstore_row_bytes(vs->enc, db->dim);
    }
    if (ls) {
        ls->dbi = db->dbi_lsh;
        ls->meta = db->dbi_lsh_meta;
    }
}

int kv_open_vectors(lctx_db *db)
{
    int readonly = (db->flags & LCTX_OPEN_READONLY) != 0;
    MDB_txn *txn;
    int rc = mdb_txn_begin(db->env, NULL, readonly ? MDB_RDONLY : 0, &txn);
    if (rc)
        return kv_err(db, rc, "begin");
    vecstore vs;
    lsh_store ls;
    if ((rc = vecstore_open(txn, !readonly, db->dim, (vecstore_encoding)db->venc, &vs)) ||
        (rc = lsh_store_open(txn, !readonly, &ls))) {
        mdb_txn_abort(txn);
        if (rc == MDB_NOTFOUND)
            return store_err(db, LCTX_ECORRUPT, "%s/index: vector databases missing", db->path);
        return kv_err(db, rc, "open vector databases");
    }
    if ((rc = mdb_txn_commit(txn)))
        return kv_err(db, rc, "commit");
    db->dbi_vec = vs.dbi;
    db->dbi_lsh = ls.dbi;
    db->dbi_lsh_meta = ls.meta;
    return LCTX_OK;
}
