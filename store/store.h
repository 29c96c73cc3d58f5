/*
 * store.h — the on-disk side of a collection: the handle, the SQLite catalog,
 * the LMDB index, the postings block codec and the write-batch protocol.
 *
 * Internal header of the store/ module (also used by indexer/ and query/,
 * which share the handle). Prefixes: store_ (handle, errors, locks),
 * catalog_ (SQLite), kv_ (LMDB), pblock_ (postings blocks).
 *
 * Why two stores: SQLite keeps what is looked up by key or filtered by
 * expression (documents, their text, metadata JSON, chunk byte ranges, config);
 * LMDB keeps what the query loop reads millions of times per second (term
 * dictionary, postings blocks, chunk lengths) through zero-copy memory maps.
 * SQLite is the commit point of a batch; LMDB is derived from it and can be
 * replayed (see docs/format.md, "Batches and recovery").
 */
#ifndef LCTX_STORE_H
#define LCTX_STORE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <lmdb.h>
#include <sqlite3.h>

#include "lctx.h"

/* Postings are grouped in blocks of this many entries. */
#define STORE_BLOCK 128
/* Chunk records live in pages of 1 << STORE_PAGE_SHIFT chunks. */
#define STORE_PAGE_SHIFT 10
#define STORE_PAGE (1u << STORE_PAGE_SHIFT)
/* High bit of a chunk record's len: the chunk is tombstoned. */
#define STORE_DELETED 0x80000000u
#define STORE_LEN_MASK 0x7fffffffu
/* Initial LMDB map size; doubled whenever a write transaction fills it. */
#define STORE_MAP_INITIAL ((size_t)64 << 20)
#define STORE_POOL_MAX 8

/* One chunk as the query loop sees it: its document and its length in
 * tokens (text + title), with STORE_DELETED set when tombstoned. */
typedef struct store_chunkrec {
    uint32_t doc;
    uint32_t len;
} store_chunkrec;

/* Collection-wide counters kept in LMDB meta under "stats". Chunk and length
 * totals include tombstoned chunks until compaction, as Lucene counts
 * deleted documents until a merge: idf and avgdl stay consistent with df. */
typedef struct store_stats {
    uint64_t format_version;
    uint64_t last_seq;       /* last batch applied to LMDB */
    uint64_t n_chunks;       /* chunk records (including tombstoned) */
    uint64_t n_deleted;      /* tombstoned chunk records */
    uint64_t total_len;      /* sum of len over n_chunks */
    uint64_t next_term;      /* next term id to assign */
    uint64_t n_terms;        /* terms in the dictionary */
    uint64_t n_postings;     /* posting entries including tombstoned */
} store_stats;

/* A term dictionary entry (LMDB "terms": term bytes -> this struct). */
typedef struct store_term {
    uint32_t id;
    uint32_t df;             /* postings, including tombstoned */
    uint32_t n_blocks;
    uint32_t last_chunk;     /* key of the last block is (id, last_chunk) */
    float max_tf;            /* max over postings of tf_text + w * tf_title */
    uint32_t min_len;        /* min chunk length over postings */
} store_term;

/* ------------------------------------------------------ a write batch
 * What one batch changes in LMDB, built in memory by the postings builder
 * (indexer/postings_build.c) from tokenized chunks, and applied in one LMDB
 * write transaction by kv_apply_batch. Chunk ids of a batch are contiguous
 * from first_chunk. Postings of each term are in ascending chunk order. */
typedef struct store_posting {
    uint32_t chunk;
    uint32_t tf_text;
    uint32_t tf_title;
} store_posting;

typedef struct store_term_postings {
    const char *term;
    uint32_t len;
    store_posting *p;
    size_t n, cap;
} store_term_postings;

typedef struct store_batch {
    uint64_t seq;
    store_term_postings **terms;  /* sorted by term bytes */
    size_t n_terms;
    uint32_t first_chunk;
    store_chunkrec *chunks;       /* records of the new chunks */
    size_t n_chunks;
    uint32_t *tomb;               /* chunk ids tombstoned by this batch */
    size_t n_tomb;
} store_batch;

struct write_batch;               /* indexer/write.c */
struct tok_tokenizer;             /* indexer/tokenize.c */

/* ------------------------------------------------------------ the handle */
struct lctx_db {
    char *path;                   /* NAME.lctx */
    unsigned flags;
    lctx_config cfg;
    char language[32];            /* cfg.language points here */
    int format_version;

    sqlite3 *wdb;                 /* writer connection (NULL when read-only) */
    pthread_mutex_t pool_mu;      /* read connections, one per concurrent search */
    sqlite3 *pool[STORE_POOL_MAX];
    int n_pool;
    struct tok_tokenizer *tok_pool[STORE_POOL_MAX]; /* query tokenizers (a stemmer each) */
    int n_tok_pool;

    MDB_env *env;
    MDB_dbi dbi_terms, dbi_post, dbi_chunks, dbi_meta;
    pthread_rwlock_t map_lock;    /* held shared by transactions, exclusive to grow the map */

    pthread_mutex_t err_mu;
    char errmsg[512];
    lctx_warning_fn warn;
    void *warn_ctx;

    pthread_mutex_t write_mu;     /* one batch per handle at a time */
    int lock_fd;                  /* write.lock, flock'ed while writing */
    int lock_held;
    struct write_batch *batch;

    /* test hooks (store_test_*): never set in normal use */
    int test_stop_after_sqlite;   /* commit: skip the LMDB apply, as a crash would */
    size_t test_map_initial;      /* initial map size for new environments */
    int test_fail_lmdb;           /* commit: fail the LMDB apply as a full disk would */
    int kv_full;                  /* set by kv.c when LMDB answered MDB_MAP_FULL */
};

/* ------------------------------------------------------------ handle (db.c) */
/* Records a formatted message and returns rc (for `return store_err(...)`). */
int store_err(lctx_db *db, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void store_clear_err(lctx_db *db);
void store_warn(lctx_db *db, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Takes / releases the cross-process writer lock (flock on write.lock).
 * LCTX_EBUSY when another process holds it. */
int store_lock(lctx_db *db);
void store_unlock(lctx_db *db);
/* A read-only SQLite connection from the pool (opened on demand). */
sqlite3 *store_conn_get(lctx_db *db);
void store_conn_put(lctx_db *db, sqlite3 *conn);
/* A tokenizer with the collection's settings, from the pool (created on
 * demand; NULL with the error set on failure). */
struct tok_tokenizer *store_tok_get(lctx_db *db);
void store_tok_put(lctx_db *db, struct tok_tokenizer *tok);

/* lctx_open with an initial LMDB map size (0 = STORE_MAP_INITIAL); tests use
 * a tiny map to exercise growth. */
int store_open(const char *path, unsigned flags, const lctx_config *cfg, size_t map_initial,
               lctx_db **out);
/* Test hooks. */
void store_test_stop_after_sqlite(lctx_db *db, int on);
void store_test_fail_lmdb(lctx_db *db, int on);

/* ---------------------------------------------------- catalog (catalog.c) */
int catalog_open(lctx_db *db, const char *file, int create, const lctx_config *cfg);
int catalog_open_reader(lctx_db *db, const char *file, sqlite3 **out);
int catalog_exec(lctx_db *db, sqlite3 *conn, const char *sql);
/* Last batch recorded in SQLite (0 when none). */
int catalog_last_seq(lctx_db *db, sqlite3 *conn, uint64_t *seq);
int catalog_get_u64(lctx_db *db, sqlite3 *conn, const char *key, uint64_t *v);
int catalog_set_u64(lctx_db *db, sqlite3 *conn, const char *key, uint64_t v);
/* Removes every trace of batch seq from SQLite (used when LMDB failed). */
int catalog_undo_batch(lctx_db *db, uint64_t seq, uint64_t first_doc, uint64_t first_chunk);

/* ---------------------------------------------------------- LMDB (kv.c) */
int kv_open(lctx_db *db, const char *dir, int readonly);
void kv_close(lctx_db *db);
/* Read transaction (MDB_RDONLY) that follows a map grown by another process. */
int kv_read_begin(lctx_db *db, MDB_txn **txn);
void kv_read_end(lctx_db *db, MDB_txn *txn);
int kv_get_stats(lctx_db *db, MDB_txn *txn, store_stats *st);
int kv_put_stats(lctx_db *db, MDB_txn *txn, const store_stats *st);
/* Applies a batch in one write transaction, growing the map when full. */
int kv_apply_batch(lctx_db *db, const store_batch *b);
/* Looks up a chunk record; 0 or MDB_NOTFOUND. *page caches the last page. */
typedef struct kv_page_cache {
    uint32_t page;
    const store_chunkrec *recs;
    uint32_t n;
} kv_page_cache;
int kv_chunk(lctx_db *db, MDB_txn *txn, kv_page_cache *pc, uint32_t chunk,
             store_chunkrec *out);
/* Runs fn inside a write transaction, retrying after growing the map. */
typedef int (*kv_write_fn)(lctx_db *db, MDB_txn *txn, void *ctx);
int kv_write(lctx_db *db, kv_write_fn fn, void *ctx);
int kv_term_get(lctx_db *db, MDB_txn *txn, const char *term, size_t len, store_term *out);
/* Maps an LMDB return code to a status with a message naming what failed. */
int kv_err(lctx_db *db, int rc, const char *what);
/* Rounds a term frequency up to a float (block bounds must never be low). */
float kv_tf_bound(double tf);

/* ------------------------------------------------ postings blocks (pblock.c)
 * Block value: varint count, varint first chunk, 4-byte float max_tf,
 * varint min_len, then per entry: varint chunk delta (not for the first),
 * varint (tf_text << 1 | has_title) (so tf_text < 2^31), [varint tf_title]. The LMDB key is
 * (term id, last chunk id) big-endian, so MDB_SET_RANGE on (term, c) lands
 * on the only block that can hold chunk c. */
#define PBLOCK_MAX_BYTES (16 + STORE_BLOCK * 16)

typedef struct pblock_header {
    uint32_t count;
    uint32_t first;
    float max_tf;
    uint32_t min_len;
    size_t header_bytes;
} pblock_header;

void pblock_key(uint8_t key[8], uint32_t term_id, uint32_t last_chunk);
void pblock_key_parse(const uint8_t key[8], uint32_t *term_id, uint32_t *last_chunk);
/* Encodes n (1..STORE_BLOCK) postings; returns bytes written to out. */
size_t pblock_encode(const store_posting *p, size_t n, float max_tf, uint32_t min_len,
                     uint8_t *out);
/* 0 on success, -1 when the bytes are malformed. */
int pblock_header_read(const uint8_t *buf, size_t len, pblock_header *h);
/* Decodes all entries (up to STORE_BLOCK); -1 when malformed. */
int pblock_decode(const uint8_t *buf, size_t len, pblock_header *h, store_posting *out);

#endif /* LCTX_STORE_H */
