/*
 * lsh_store.c — the LSH buckets of a collection in LMDB, and the record of
 * its vector and LSH configuration.
 *
 * Layout. The "lsh" database has one key per non-empty bucket: (table,
 * code) as two big-endian uint32, so keys sort by table and then code, and
 * the chunk ids of the bucket as its duplicates (MDB_DUPSORT | MDB_DUPFIXED
 * | MDB_INTEGERDUP: 4-byte values compared as integers, packed into
 * sub-pages of a fixed element size). Reading a bucket is one MDB_SET_KEY
 * and then MDB_GET_MULTIPLE / MDB_NEXT_MULTIPLE, each returning a whole page
 * of ids as a plain uint32 array: the on-disk equivalent of the in-memory
 * index's CSR run (query/lsh_index.c).
 *
 * Updates. Adding a chunk puts one (key, id) pair per table; deleting
 * deletes exactly those pairs (mdb_del with the data argument), recomputing
 * the codes from the stored vector, which is why codes are always computed
 * from the decoded stored row and never from the caller's float vector. Both
 * run in the batch's write transaction, so buckets never disagree with the
 * vectors. A pair that is already there / already gone is not an error:
 * recovery may replay a batch.
 *
 * The "lsh_meta" database holds one record, "config" (lsh_store_config):
 * dimension, encoding, K, L, probe budget, seed, target and measured recall,
 * written at build and on --retune.
 */
#include "store/store.h"

#include <errno.h>
#include <string.h>

static void bucket_key(uint8_t key[8], uint32_t table, uint32_t code)
{
    for (int i = 0; i < 4; i++) {
        key[i] = (uint8_t)(table >> (24 - 8 * i));
        key[4 + i] = (uint8_t)(code >> (24 - 8 * i));
    }
}

int lsh_store_open(MDB_txn *txn, int create, lsh_store *ls)
{
    if (!txn || !ls)
        return EINVAL;
    unsigned c = create ? MDB_CREATE : 0;
    int rc = mdb_dbi_open(txn, "lsh", MDB_DUPSORT | MDB_DUPFIXED | MDB_INTEGERDUP | c, &ls->dbi);
    if (rc == 0)
        rc = mdb_dbi_open(txn, "lsh_meta", c, &ls->meta);
    return rc;
}

int lsh_store_config_put(MDB_txn *txn, const lsh_store *ls, const lsh_store_config *cfg)
{
    MDB_val key = {6, "config"}, val = {sizeof *cfg, (void *)cfg};
    return mdb_put(txn, ls->meta, &key, &val, 0);
}

int lsh_store_config_get(MDB_txn *txn, const lsh_store *ls, lsh_store_config *cfg)
{
    MDB_val key = {6, "config"}, val;
    int rc = mdb_get(txn, ls->meta, &key, &val);
    if (rc != 0)
        return rc;
    if (val.mv_size != sizeof *cfg)
        return MDB_CORRUPTED;
    memcpy(cfg, val.mv_data, sizeof *cfg);
    return cfg->version == 1 ? 0 : MDB_VERSION_MISMATCH;
}

int lsh_store_add(MDB_txn *txn, const lsh_store *ls, uint32_t chunk, const uint32_t *codes,
                  int n_tables)
{
    for (int t = 0; t < n_tables; t++) {
        uint8_t kb[8];
        bucket_key(kb, (uint32_t)t, codes[t]);
        MDB_val key = {8, kb}, val = {sizeof chunk, &chunk};
        int rc = mdb_put(txn, ls->dbi, &key, &val, MDB_NODUPDATA);
        if (rc != 0 && rc != MDB_KEYEXIST)
            return rc;
    }
    return 0;
}

int lsh_store_del(MDB_txn *txn, const lsh_store *ls, uint32_t chunk, const uint32_t *codes,
                  int n_tables)
{
    for (int t = 0; t < n_tables; t++) {
        uint8_t kb[8];
        bucket_key(kb, (uint32_t)t, codes[t]);
        MDB_val key = {8, kb}, val = {sizeof chunk, &chunk};
        int rc = mdb_del(txn, ls->dbi, &key, &val);
        if (rc != 0 && rc != MDB_NOTFOUND)
            return rc;
    }
    return 0;
}

int lsh_store_bucket(MDB_txn *txn, const lsh_store *ls, uint32_t table, uint32_t code,
                     lsh_store_bucket_fn fn, void *ctx)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, ls->dbi, &cur);
    if (rc != 0)
        return rc;
    uint8_t kb[8];
    bucket_key(kb, table, code);
    MDB_val key = {8, kb}, val;
    rc = mdb_cursor_get(cur, &key, &val, MDB_SET_KEY);
    if (rc == 0)
        rc = mdb_cursor_get(cur, &key, &val, MDB_GET_MULTIPLE);
    uint32_t copy[256];
    while (rc == 0) {
        /* A page of a big bucket is 4-byte aligned; the sub-page of a small
         * one sits inside a node, only 2-byte aligned: copy those. */
        size_t n = val.mv_size / sizeof(uint32_t);
        int stop = 0;
        if (((uintptr_t)val.mv_data & 3) == 0) {
            stop = fn(ctx, (const uint32_t *)val.mv_data, n);
        } else {
            for (size_t i = 0; i < n && !stop; i += 256) {
                size_t m = n - i < 256 ? n - i : 256;
                memcpy(copy, (const unsigned char *)val.mv_data + i * 4, m * 4);
                stop = fn(ctx, copy, m);
            }
        }
        if (stop)
            break;
        rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT_MULTIPLE);
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

int lsh_store_count(MDB_txn *txn, const lsh_store *ls, size_t *entries)
{
    MDB_stat st;
    int rc = mdb_stat(txn, ls->dbi, &st);
    if (rc == 0)
        *entries = st.ms_entries;
    return rc;
}
