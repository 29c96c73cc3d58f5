/*
 * lsh_store.h — vectors and LSH buckets of a collection in LMDB
 * (store/vecstore.c, store/lsh_store.c). The encodings and kernels are in
 * store/vecstore.h; the hashing in attention/lsh_hash.c; the in-memory index
 * and querying in query/lsh.h.
 */
#ifndef LCTX_LSH_STORE_H
#define LCTX_LSH_STORE_H

#include <lmdb.h>
#include <stddef.h>
#include <stdint.h>

#include "store/vecstore.h"

/* ============================================ LMDB vector store (vecstore.c)
 * Named database "vectors": key = chunk id (uint32, MDB_INTEGERKEY), value =
 * one encoded row. LMDB values are only 2-byte aligned in the map, so i8 and
 * f16 rows are scored in place (their kernels read bytes / uint16) and f32
 * rows are copied to an aligned buffer first. Functions take the caller's
 * transaction and return LMDB codes (0, MDB_NOTFOUND, MDB_MAP_FULL, ...) so
 * store/kv.c maps them to statuses and retries a full map as for postings.
 * The configuration (dimension, encoding, LSH parameters and measured
 * recall) is one record in "lsh_meta" (lsh_store.c), mirrored by the
 * catalog for --stats. */

typedef struct vecstore {
    MDB_dbi dbi;
    int dim;
    vecstore_encoding enc;
    size_t row_bytes;
} vecstore;

/* Opens (create != 0: creates) the "vectors" database in txn. */
int vecstore_open(MDB_txn *txn, int create, int dim, vecstore_encoding enc, vecstore *vs);
/* Normalises vec and stores it under chunk (replacing any previous row). */
int vecstore_put(MDB_txn *txn, const vecstore *vs, uint32_t chunk, const float *vec);
/* *row points into the map, valid until txn ends. */
int vecstore_get(MDB_txn *txn, const vecstore *vs, uint32_t chunk, const void **row);
int vecstore_del(MDB_txn *txn, const vecstore *vs, uint32_t chunk);
/* *out = decoded stored vector (dim floats). */
int vecstore_read(MDB_txn *txn, const vecstore *vs, uint32_t chunk, float *out);
/* *score = q . stored vector of chunk, in place where alignment allows. */
int vecstore_score(MDB_txn *txn, const vecstore *vs, uint32_t chunk, const float *q, float *score);

/* ============================================ LMDB LSH buckets (lsh_store.c)
 * Named database "lsh": key = (table, code) as two big-endian uint32 (so
 * keys sort by table then code), MDB_DUPSORT | MDB_DUPFIXED | MDB_INTEGERDUP
 * with 4-byte chunk ids as values: a bucket is one key and its sorted
 * duplicates, read with one cursor positioning plus MDB_GET_MULTIPLE pages.
 * Codes come from attention/lsh_hash.c (computed by the caller from the
 * stored, decoded vector, so delete recomputes exactly the inserted codes). */
typedef struct lsh_store {
    MDB_dbi dbi;       /* "lsh" */
    MDB_dbi meta;      /* "lsh_meta" */
} lsh_store;

typedef struct lsh_store_config {
    uint32_t version;        /* 1 */
    uint32_t dim;
    uint32_t encoding;       /* vecstore_encoding */
    uint32_t k_bits;
    uint32_t n_tables;
    uint32_t probes;
    uint64_t seed;
    double target_recall;
    double measured_recall;  /* by lsh_tune at build / --retune; 0 = not tuned */
} lsh_store_config;

int lsh_store_open(MDB_txn *txn, int create, lsh_store *ls);
int lsh_store_config_put(MDB_txn *txn, const lsh_store *ls, const lsh_store_config *cfg);
int lsh_store_config_get(MDB_txn *txn, const lsh_store *ls, lsh_store_config *cfg);
/* Adds / removes chunk in the buckets codes[0..n_tables). Removing an entry
 * that is not there is not an error (idempotent replay after a crash). */
int lsh_store_add(MDB_txn *txn, const lsh_store *ls, uint32_t chunk, const uint32_t *codes,
                  int n_tables);
int lsh_store_del(MDB_txn *txn, const lsh_store *ls, uint32_t chunk, const uint32_t *codes,
                  int n_tables);
/* Calls fn(ctx, ids, n) for the chunk ids of bucket (table, code), ascending,
 * a page of duplicates at a time; stops early when fn returns non-zero.
 * 0 (also for an empty bucket) or an LMDB error. */
typedef int (*lsh_store_bucket_fn)(void *ctx, const uint32_t *ids, size_t n);
int lsh_store_bucket(MDB_txn *txn, const lsh_store *ls, uint32_t table, uint32_t code,
                     lsh_store_bucket_fn fn, void *ctx);
/* Entries in the database (all tables). */
int lsh_store_count(MDB_txn *txn, const lsh_store *ls, size_t *entries);


#endif /* LCTX_LSH_STORE_H */
