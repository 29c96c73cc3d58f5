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

#include <math.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <lmdb.h>
#include <sqlite3.h>

#include "lctx.h"

#define STORE_BLOCK 128       /* postings per block */
#define STORE_PAGE_SHIFT 10   /* chunk records live in pages of 1 << this */
#define STORE_PAGE (1u << STORE_PAGE_SHIFT)
#define STORE_DELETED 0x80000000u   /* chunk record's len: tombstoned */
#define STORE_LEN_MASK 0x7fffffffu
#define STORE_MAP_INITIAL ((size_t)64 << 20)   /* doubled whenever a write fills it */
#define STORE_POOL_MAX 8
#define STORE_PENDING 4

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

/* A term dictionary entry (LMDB "terms": term bytes -> this struct, then,
 * for a term whose postings fit in one block, that block: see kv_blocks). */
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

/* A posting as a batch holds it until it commits: 8 bytes, not 12 (npl's
 * build took a tenth less, docs/ARCHITECTURE.md). A count of STORE_TF_WIDE
 * or more is stored as STORE_TF_WIDE, with the exact counts of both fields
 * in the batch's wide list (store_wide): only machine-made text repeats a
 * term tens of thousands of times in one chunk. */
#define STORE_TF_WIDE 0xffffu
typedef struct store_bposting {
    uint32_t chunk;
    uint16_t tf_text;
    uint16_t tf_title;
} store_bposting;

/* The exact counts of a posting with a field at STORE_TF_WIDE. */
typedef struct store_wide {
    const char *term;
    uint32_t len, chunk, tf_text, tf_title;
} store_wide;

/* The order of a batch's wide records, the builder's sort and apply's
 * search alike: by chunk, then term bytes (memcmp, then length). */
static inline int store_wide_cmp(const store_wide *x, uint32_t chunk, const char *term,
                                 uint32_t len)
{
    if (x->chunk != chunk)
        return x->chunk < chunk ? -1 : 1;
    int c = memcmp(x->term, term, x->len < len ? x->len : len);
    return c ? c : (x->len > len) - (x->len < len);
}

/* A term's postings in a batch: p, and when the batch was built in two
 * pieces that both have the term, the other piece's list in p2 (no chunk
 * in both; apply merges the two by chunk). Linking the second list saves
 * copying every shared term's postings at the merge. */
typedef struct store_term_postings {
    const char *term;
    uint32_t len;
    store_bposting *p;
    size_t n, cap;
    const store_bposting *p2;
    size_t n2;
} store_term_postings;

typedef struct store_batch {
    uint64_t seq;
    store_term_postings **terms;  /* sorted by term bytes */
    size_t n_terms;
    uint32_t first_chunk;
    store_chunkrec *chunks;       /* records of the new chunks */
    uint32_t *tomb;               /* chunk ids tombstoned by this batch */
    const store_wide *wide;       /* by chunk, then term bytes (STORE_TF_WIDE) */
    size_t n_chunks, n_tomb, n_wide;
    /* Vectors (collections with an embedder, else NULL): vec_rows holds one
     * encoded row (vecstore_row_bytes of the collection) per new chunk, in
     * chunk order; tombstoned chunks lose their vector and bucket entries. */
    const uint8_t *vec_rows;
    /* Applies the vector half inside apply's transaction (set by the
     * indexer, which owns hashing; NULL for BM25-only collections). */
    int (*apply_vectors)(struct lctx_db *db, MDB_txn *txn, const struct store_batch *b);
    /* A batch too large for memory (indexer/spill.c) gives its terms here
     * instead of in terms[]: NULL otherwise. */
    const struct store_term_source *source;
} store_batch;

/* A term of a spilled batch: chains of segments (one chain per piece of
 * the batch, each in chunk order, no chunk in two), merged by apply. */
#define STORE_CHAINS 4
typedef struct store_seg { const store_bposting *p; size_t n; } store_seg;
typedef struct store_term_chains {
    const char *term;
    uint32_t len;
    size_t n;                     /* postings in all chains */
    const store_seg *seg[STORE_CHAINS];
    size_t n_seg[STORE_CHAINS];
} store_term_chains;
/* Terms in byte order; next gives NULL after the last, rewind starts over
 * (apply's transaction may be retried). Statuses, with the message set. */
typedef struct store_term_source {
    int (*rewind)(void *ctx);
    int (*next)(void *ctx, const store_term_chains **out);
    void *ctx;
} store_term_source;

struct write_batch;               /* indexer/write.c */
struct tok_tokenizer;             /* indexer/tokenize.c */

/* ------------------------------------------------------------ the handle */
struct lctx_db {
    char *path;                   /* NAME.lctx */
    unsigned flags;
    lctx_config cfg;
    char language[32];            /* cfg.language points here */
    int format_version;
    int hash_fnv;                 /* content_hash is FNV-1a (collections made before mix64) */
    int tok_rules, fold_accents;  /* tokenizer rules (TOK_RULES, or 1: none recorded); accents */
    int icu_version, icu_warned;  /* its ICU major (0: none recorded); said another splits */

    sqlite3 *wdb;                 /* writer connection (NULL when read-only) */
    int wal;                      /* the writer's catalog runs in WAL mode */
    int creating;                 /* NAME.lctx/creating is ours: nothing durable yet (create.c) */
    int creation_failed;          /* a batch ended uncommitted while creating */
    int made_dir;                 /* this open made the collection's folder */
    int opened;                   /* store_open succeeded */
    int rebuilding;               /* LCTX_OPEN_REBUILD_INDEX: older catalogs are read */
    char creation_embedder[160];  /* strings of a config read back from the marker */
    char creation_venc[16];
    pthread_mutex_t pool_mu;      /* read connections, one per concurrent search */
    sqlite3 *pool[STORE_POOL_MAX];
    struct tok_tokenizer *tok_pool[STORE_POOL_MAX]; /* query tokenizers (a stemmer each) */
    int n_pool, n_tok_pool;

    MDB_env *env;
    uint64_t index_gen;           /* the generation env belongs to (generation.c) */
    uint64_t replaced_gen;        /* rebuilding: the generation being replaced */
    uint64_t looked_txn;          /* index_retired: the snapshot last looked at, and */
    int64_t looked_ms;            /* when (atomics: any reading thread updates them) */
    MDB_dbi dbi_terms, dbi_post, dbi_chunks, dbi_meta;
    pthread_rwlock_t map_lock;    /* held shared by transactions, exclusive to grow the map */

    pthread_mutex_t err_mu;
    struct store_errs *errs;      /* each thread's last failure (db.c) */
    lctx_warning_fn warn;
    void *warn_ctx;
    /* Warnings raised before a handler was set: lctx_set_warning_handler's. */
    char pending[STORE_PENDING][1024];
    int n_pending;

    pthread_mutex_t write_mu;     /* one batch per handle at a time */
    int lock_fd, lock_held;       /* write.lock, flock'ed while writing */
    int frozen;                   /* readonly.c: holds write.lock shared; 2: catalog immutable */
    int lock_keep;                /* 1: a batch's end keeps the writer lock (commit_every) */
    struct write_batch *batch;
    size_t batch_memory;          /* postings a batch keeps before spilling (0: never) */
    unsigned long n_spills;       /* runs spilled by this handle (atomic; tests read it) */

    /* test hooks (store_test_*): never set in normal use */
    int test_stop_after_sqlite;   /* commit: no LMDB apply, as a crash; 2: lctx_begin no replay */
    unsigned test_replay_group;   /* recovery: at most this many batches a group (0: any) */
    size_t test_map_initial;      /* initial map size for new environments */
    int test_fail_lmdb;           /* commit: fail the LMDB apply as a full disk would */
    int test_fail_catalog_commit; /* commit: fail the catalog's COMMIT (write.c) */
    int test_fail_vacuum;         /* compact: 1 fails the catalog's VACUUM, 2 its purge */
    int test_fail_replace;        /* new generation: 1 fails before commit point, 2 after */
    int test_renumber;            /* compaction renumbers whatever ids it finds */
    unsigned test_caller_every;   /* add: the caller tokenizes every n-th document */
    uint64_t test_fail_doc;       /* tokenizing document id test_fail_doc - 1 fails */
    const char *test_icu_soname;  /* new tokenizers open ICU by this name (tok_test_icu) */
    unsigned test_fail_spill;     /* spills fail as on a full disk: 1 in the batch, 2 at commit */
    int kv_full;                  /* set by kv.c when LMDB answered MDB_MAP_FULL */

    /* vectors (indexer/embed.c, vecapply.c, query/vsearch.c), fixed at creation */
    int has_vectors;              /* 0: BM25 only */
    char embedder[160];           /* the spec, "none" without vectors */
    int dim;
    int venc;                     /* vecstore_encoding */
    double lsh_target;            /* recall@10 the tuner aims for */
    MDB_dbi dbi_vec, dbi_lsh, dbi_lsh_meta;
    pthread_mutex_t enc_mu;       /* guards opening the encoder */
    struct encoder *encoder;      /* opened on first use; thread-safe */
    float *embed_probe;           /* its vector for embed.c's probe text, as recorded */
    char model_dir[1024];         /* lctx_config.model_dir ("" = default) */
    size_t test_lsh_threshold;    /* test hook: vector count that triggers LSH (0 = default) */
    void (*test_after_snapshot)(void *), *test_after_snapshot_ctx; /* a search's snapshot */

    /* LCTX_OPEN_VECTOR_CACHE (query/vcache.c): the in-memory LSH index of
     * one snapshot, its users counted under vcache_mu. */
    pthread_mutex_t vcache_mu;
    struct vcache *vcache;
    int vcache_building, vcache_off; /* off: a build ran out of memory, LMDB path only */
};

/* ------------------------------------------------------------ handle (db.c) */
/* Records a formatted message and returns rc (for `return store_err(...)`). */
int store_err(lctx_db *db, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void store_clear_err(lctx_db *db);
int store_err_adopt(lctx_db *db, pthread_t from, int rc);  /* rc that thread `from` set */
void store_warn(lctx_db *db, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Takes / releases the writer lock (flock on write.lock); LCTX_EBUSY if taken. */
int store_lock(lctx_db *db);
void store_unlock(lctx_db *db);
/* Opening a collection this process cannot write (readonly.c). */
int readonly_write_denied(lctx_db *db);   /* errno, 0 when it can */
int readonly_prepare(lctx_db *db);
int once_check(lctx_db *db);   /* LCTX_EBUSY when another handle here has it (once.c) */
int readonly_catalog_uri(lctx_db *db, const char *file, char *uri, size_t cap);
sqlite3 *store_conn_get(lctx_db *db);     /* a pooled read-only connection */
void store_conn_put(lctx_db *db, sqlite3 *conn);
/* A tokenizer with the collection's settings, from the pool (NULL: error set). */
struct tok_tokenizer *store_tok_get(lctx_db *db);
void store_tok_put(lctx_db *db, struct tok_tokenizer *tok);

/* ------------------------------------------------------ creation (create.c) */
/* NAME.lctx/creating marks a new collection, none of it durable, until its
 * first batch commits or its creator closes it (create.c). creation_start
 * takes the writer lock and, unless a catalog or marker appeared since the
 * caller looked, writes and syncs the marker with cfg, setting creating. */
int creation_start(lctx_db *db, const lctx_config *cfg);
/* Read-write open of an existing folder: when a marker is there and its
 * creator is gone, removes the stores, puts the marker's config into *cfg
 * and sets db->creating (the lock held), to be created again. */
int creation_resume(lctx_db *db, lctx_config *cfg);
int creation_interrupted(lctx_db *db);    /* 1: an abandoned creation (read-only opens) */
int creation_marked(const lctx_db *db);   /* 1: the marker exists */
/* Both stores hold the first batch durably: puts the catalog back on a
 * disk journal, unlinks the marker, syncs the folder (the commit point). */
int creation_finish(lctx_db *db);
/* Closing while still creating: flushes both stores, then finishes. */
int creation_close(lctx_db *db);
/* Closing a creation whose open or first batch failed, its stores closed
 * and the lock held: removes the stores, the marker, the folder it made. */
int creation_abandon(lctx_db *db);
/* An open that made the folder and failed before creating: the folder goes. */
void creation_unmake_dir(lctx_db *db);

/* lctx_open with an initial LMDB map size (0: STORE_MAP_INITIAL); test hooks. */
int store_open(const char *path, unsigned flags, const lctx_config *cfg, size_t map_initial,
               lctx_db **out);
void store_test_stop_after_sqlite(lctx_db *db, int on);
void store_test_fail_lmdb(lctx_db *db, int on);
void store_test_fail_catalog_commit(lctx_db *db, int on);
void store_test_fail_vacuum(lctx_db *db, int on);
void store_test_fail_replace(lctx_db *db, int on);
void store_test_renumber(lctx_db *db, int on);
void store_test_caller_every(lctx_db *db, unsigned n);  /* caller tokenizes every n-th doc */
void store_test_fail_doc(lctx_db *db, uint64_t doc_id);  /* fails as no memory (UINT64_MAX: none) */
void store_test_icu(lctx_db *db, const char *soname);   /* a missing ICU: the error */
void store_test_lsh_threshold(lctx_db *db, size_t n);   /* LSH from n vectors (0: default) */
void store_test_after_snapshot(lctx_db *db, void (*fn)(void *), void *ctx);

/* ---------------------------------------------------- catalog (catalog.c) */
int catalog_open(lctx_db *db, const char *file, int create, const lctx_config *cfg);
int catalog_open_reader(lctx_db *db, const char *file, sqlite3 **out);
int catalog_use_wal(lctx_db *db);  /* the writer's catalog to WAL (catalog.c) */
/* Before a batch's BEGIN: a catalog with committed batches to WAL (a failure
 * only warns); synchronous FULL in WAL mode, EXTRA in rollback mode. */
int catalog_batch_mode(lctx_db *db);
int catalog_exec(lctx_db *db, sqlite3 *conn, const char *sql);
int catalog_fail(lctx_db *db, sqlite3 *conn, const char *what);  /* conn's last error */
int catalog_last_seq(lctx_db *db, sqlite3 *conn, uint64_t *seq);  /* 0 when none */
int catalog_get_u64(lctx_db *db, sqlite3 *conn, const char *key, uint64_t *v);
/* A config key's text into buf: 0, or -1 when absent (or the query failed). */
int catalog_get_text(sqlite3 *conn, const char *key, char *buf, size_t len);
int catalog_set_text(lctx_db *db, sqlite3 *conn, const char *key, const char *value);
/* The index generation the catalog names ('index_gen', 0 when absent);
 * the same on a pooled reader, its statement kept; closing a reader. */
int catalog_index_gen(lctx_db *db, sqlite3 *conn, uint64_t *gen);
int catalog_reader_gen(lctx_db *db, sqlite3 *conn, uint64_t *gen);
void catalog_close_reader(sqlite3 *conn);
/* Removes every trace of batch seq from SQLite (used when LMDB failed). */
int catalog_undo_batch(lctx_db *db, uint64_t seq, uint64_t first_doc);
/* The end of a batch's catalog transaction, `sql` (last rows, COMMIT), on
 * a thread of its own while the caller builds the LMDB half (write.c). The
 * thread touches only the writer connection and *cc; catalog_commit_join
 * waits for it and reports a failure as catalog_exec would, after rolling
 * back. Without a thread (pthread_create failed) the SQL runs at start. */
typedef struct catalog_commit {
    lctx_db *db;
    pthread_t thread;
    int threaded, joined, sqlite_rc, status;
    char sql[512], msg[256];
} catalog_commit;
void catalog_commit_start(lctx_db *db, catalog_commit *cc, const char *sql);
int catalog_commit_join(catalog_commit *cc);
/* catalog_commit_join as a kv_write gate (ctx is the catalog_commit). */
int catalog_commit_gate(void *ctx);

/* ------------------------------------ index generations (generation.c) */
/* The index lives in NAME.lctx/index (generation 0) or index.N, the one the
 * catalog names; rebuilding and shrinking write the next generation beside
 * it and switch the catalog over, and handles that had the old one move to
 * the new one before their next transaction. */
void index_dir(const lctx_db *db, uint64_t gen, char *buf, size_t len);
/* Opens the current generation (read-write: an empty one where none is). */
int index_open(lctx_db *db);
/* 1 when another process replaced the handle's generation (its data file
 * is unlinked); call with the map lock held. */
int index_stale(lctx_db *db);
/* index_stale for a read transaction just begun, called only when the
 * snapshot is newer than the last one looked at or a second has passed. */
int index_retired(lctx_db *db, MDB_txn *txn);
/* Moves a stale handle to the current generation (takes the map lock). */
int index_follow(lctx_db *db);
/* A writer that just took the lock: moves to the catalog's generation. */
int index_writer_follow(lctx_db *db);
/* LCTX_OPEN_REBUILD_INDEX: opens an empty next generation for recovery to
 * fill; index_rebuild_commit makes it current and retires the old one. */
int index_rebuild_open(lctx_db *db);
int index_rebuild_commit(lctx_db *db);
void index_rebuild_abandon(lctx_db *db);   /* a failed rebuild's generation goes */
/* After compaction (writer lock held): when it removed documents, a quarter
 * of LMDB's file is free pages or ids are due for renumbering (renumber.c),
 * swaps in a dense copy, renumbered when due (handles follow). */
int index_shrink(lctx_db *db, int removed);
int index_catch_up(lctx_db *db);   /* moves to the catalog's generation */
/* Removes generations other than the handle's (writer lock held), as a crash
 * during a replacement or a failed retirement leaves them. */
void index_remove_strays(lctx_db *db);
/* fn(path of each generation's lock.mdb) until it returns non-zero: that, or 0. */
int index_each_lock_file(lctx_db *db, int (*fn)(const char *file, void *ctx), void *ctx);

/* ------------------------------------ renumbering ids (renumber.c)
 * Whether compaction should renumber; the map of old ids to new; a database
 * copied with its ids mapped (LCTX_ENOTFOUND: it holds none); the catalog's
 * ids mapped in the caller's transaction. */
typedef struct renumber_map renumber_map;
int renumber_wanted(lctx_db *db, int *want);
int renumber_map_load(lctx_db *db, renumber_map **out);
void renumber_map_free(renumber_map *m);
int renumber_copy(lctx_db *db, renumber_map *m, const char *name, MDB_cursor *src,
                  MDB_cursor *dst, const store_stats *st);
int renumber_catalog(lctx_db *db, const renumber_map *m);

/* ---------------------------------------------------------- LMDB (kv.c) */
int kv_open(lctx_db *db, const char *dir, int readonly);
/* Before a writable environment opens in dir: reserves lock.mdb's blocks. */
int kv_reserve_lock(lctx_db *db, const char *dir);
int kv_remove(lctx_db *db, const char *dir);   /* dir's environment files, if any */
void kv_close(lctx_db *db);
/* Read transaction (MDB_RDONLY) that follows a map grown by another process. */
int kv_read_begin(lctx_db *db, MDB_txn **txn);
void kv_read_end(lctx_db *db, MDB_txn *txn);
int kv_get_stats(lctx_db *db, MDB_txn *txn, store_stats *st);
int kv_put_stats(lctx_db *db, MDB_txn *txn, const store_stats *st);
/* Applies a batch in one write transaction, growing the map when full.
 * With a gate, the transaction commits only once gate(gate_ctx) returns
 * LCTX_OK; any other status aborts it and is returned. */
typedef int (*kv_gate_fn)(void *ctx);
int kv_apply_batch(lctx_db *db, const store_batch *b, kv_gate_fn gate, void *gate_ctx);
/* Opens (writer: creates) the vectors / lsh / lsh_meta databases into
 * db->dbi_vec, dbi_lsh, dbi_lsh_meta (vecstore.c). */
int kv_open_vectors(lctx_db *db);
/* Looks up a chunk record; 0 or MDB_NOTFOUND. *page caches the last page:
 * dense (bits NULL, recs indexed by slot) or sparse (chunkpage.c). */
typedef struct kv_page_cache {
    uint32_t page, n;
    const store_chunkrec *recs;
    const uint8_t *bits;
    uint16_t rank[STORE_PAGE / 64];
} kv_page_cache;
int kv_chunk(lctx_db *db, MDB_txn *txn, kv_page_cache *pc, uint32_t chunk,
             store_chunkrec *out);
/* Chunk pages (chunkpage.c): whether st's index may hold sparse ones; the
 * sparse form's size and writing it; the smaller form st allows, its size
 * and putting it (an MDB status); either form decoded (-1: malformed); a
 * value's form; loading into the cache, and a slot's record there. */
int chunk_page_sparse_ok(const store_stats *st);
size_t chunk_page_sparse_size(const store_chunkrec *recs, uint32_t n);
size_t chunk_page_size(const store_chunkrec *recs, uint32_t n, const store_stats *st);
int chunk_page_put(MDB_txn *txn, MDB_dbi dbi, MDB_val *key, const store_chunkrec *recs,
                   uint32_t n, const store_stats *st, unsigned flags);
void chunk_page_sparse_write(const store_chunkrec *recs, uint32_t n, void *out);
int chunk_page_decode(const void *v, size_t size, store_chunkrec *recs, uint32_t *n);
int chunk_page_sparse(size_t size);
int chunk_page_load(kv_page_cache *pc, uint32_t page, const void *v, size_t size);
int chunk_page_get(const kv_page_cache *pc, uint32_t slot, store_chunkrec *out);
/* Runs fn inside a write transaction, retrying after growing the map;
 * kv_write_gated commits only after gate (may be NULL) says LCTX_OK. */
typedef int (*kv_write_fn)(lctx_db *db, MDB_txn *txn, void *ctx);
int kv_write(lctx_db *db, kv_write_fn fn, void *ctx);
int kv_write_gated(lctx_db *db, kv_write_fn fn, void *ctx, kv_gate_fn gate, void *gate_ctx);
/* A dictionary entry: *out, and in *inl (when not NULL) the term's block
 * when it is inline ({0, NULL} otherwise), pointing into LMDB's memory. */
int kv_term_get(lctx_db *db, MDB_txn *txn, const char *term, size_t len, store_term *out,
                MDB_val *inl);
/* The same for a value read from the terms table; LCTX_ECORRUPT when it
 * is neither a bare entry nor an entry of one block followed by it. */
int kv_term_parse(lctx_db *db, const MDB_val *v, store_term *out, MDB_val *inl);
/* Maps an LMDB return code to a status with a message naming what failed. */
int kv_err(lctx_db *db, int rc, const char *what);
/* Rounds a term frequency up to a float (block bounds must never be low). */
float kv_tf_bound(double tf);

/* ------------------------------------------------------------ varints
 * LEB128, low 7 bits first: postings blocks (pblock.c, on the query path,
 * hence inline) and the catalog's chunk spans (indexer/spans.c). */
static inline size_t store_varint_put(uint8_t *out, uint32_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        out[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    out[n++] = (uint8_t)v;
    return n;
}

/* Reads a varint at *pos; -1 when it runs past len or overflows 32 bits. */
static inline int store_varint_get(const uint8_t *buf, size_t len, size_t *pos, uint32_t *v)
{
    uint32_t x = 0;
    for (int shift = 0; shift <= 28; shift += 7) {
        if (*pos >= len)
            return -1;
        uint8_t c = buf[(*pos)++];
        if (shift == 28 && c > 0x0f)
            return -1;
        x |= (uint32_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) {
            *v = x;
            return 0;
        }
    }
    return -1;
}

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

/* --------------------------------------------- a term's blocks (blocks.c)
 * Where a term's postings blocks are (format 3): a term with one block
 * keeps it in its dictionary entry, after the store_term; a term with more
 * keeps them all in the postings table. Readers walk them through this. */
typedef struct kv_blocks {
    MDB_cursor *mc;          /* postings table; NULL for an inline block */
    uint32_t id;
    MDB_val inl;             /* the inline block */
    uint32_t inl_last;       /* its last chunk */
    enum { KV_BLOCKS_FRESH, KV_BLOCKS_AT, KV_BLOCKS_ENDED } state;
} kv_blocks;

typedef struct kv_block {
    const uint8_t *data;     /* NULL past the last block */
    size_t len;
    uint32_t last;           /* the block's last chunk (its key's) */
} kv_block;

/* inl: from kv_term_get/kv_term_parse, valid for the transaction. */
int kv_blocks_open(lctx_db *db, MDB_txn *txn, const store_term *t, const MDB_val *inl,
                   kv_blocks *b);
/* The first block whose last chunk is >= target. */
int kv_blocks_seek(lctx_db *db, kv_blocks *b, uint32_t target, kv_block *out);
/* The block after the one last returned (the first after open). */
int kv_blocks_next(lctx_db *db, kv_blocks *b, kv_block *out);
void kv_blocks_close(kv_blocks *b);

/* ================================================ vectors and LSH buckets
 * Compact encodings of L2-normalised vectors (f32, f16, or i8 with a
 * per-vector scale: vecstore.c says why), in rows of a fixed size, and the
 * dot products that re-score LSH candidates against them. The kernels are
 * static inline so the re-scoring loop in query/lsh_index.c inlines them;
 * they are straight loops with 8 independent accumulators, which the
 * compiler turns into SIMD without -ffast-math.
 */
typedef enum vecstore_encoding {
    VECSTORE_F32 = 0,
    VECSTORE_F16 = 1,
    VECSTORE_I8 = 2
} vecstore_encoding;

static inline const char *vecstore_encoding_name(vecstore_encoding e)
{
    return e == VECSTORE_F32 ? "f32" : e == VECSTORE_F16 ? "f16" : e == VECSTORE_I8 ? "i8" : "?";
}

/* -1 for an unknown name. */
static inline int vecstore_encoding_parse(const char *s)
{
    if (!s)
        return -1;
    if (!strcmp(s, "f32") || !strcmp(s, "float32"))
        return VECSTORE_F32;
    if (!strcmp(s, "f16") || !strcmp(s, "fp16"))
        return VECSTORE_F16;
    if (!strcmp(s, "i8") || !strcmp(s, "int8"))
        return VECSTORE_I8;
    return -1;
}

/* Bytes of one encoded row, a multiple of 4; 0 for a bad encoding. */
static inline size_t vecstore_row_bytes(vecstore_encoding e, int dim)
{
    switch (e) {
    case VECSTORE_F32: return 4 * (size_t)dim;
    case VECSTORE_F16: return (2 * (size_t)dim + 3) & ~(size_t)3;
    case VECSTORE_I8: return (4 + (size_t)dim + 3) & ~(size_t)3;
    }
    return 0;
}

/* IEEE half <-> float by bit manipulation (round to nearest even on the way
 * down; subnormals handled; unit-vector components never overflow). */
static inline uint16_t vecstore_f32_to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000u;
    uint32_t mag = x & 0x7FFFFFFFu;
    if (mag >= 0x47800000u)                 /* >= 65536 or inf/nan */
        return (uint16_t)(sign | (mag > 0x7F800000u ? 0x7E00u : 0x7C00u));
    if (mag < 0x38800000u) {                /* below the smallest normal half */
        if (mag < 0x33000000u)
            return (uint16_t)sign;
        uint32_t m = (mag & 0x7FFFFFu) | 0x800000u;
        int shift = 126 - (int)(mag >> 23);     /* value = m 2^(e-150) = r 2^-24 */
        uint32_t r = m >> shift;
        uint32_t rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (r & 1)))
            r++;
        return (uint16_t)(sign | r);
    }
    uint32_t r = ((mag - 0x38000000u) >> 13);
    uint32_t rem = mag & 0x1FFFu;
    if (rem > 0x1000u || (rem == 0x1000u && (r & 1)))
        r++;
    return (uint16_t)(sign | r);
}

static inline float vecstore_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1Fu, man = h & 0x3FFu, x;
    if (exp == 0) {
        float f = (float)man * (1.0f / 16777216.0f);  /* man * 2^-24 */
        return sign ? -f : f;
    }
    if (exp == 31)
        x = sign | 0x7F800000u | (man << 13);
    else
        x = sign | ((exp + 112u) << 23) | (man << 13);
    float f;
    memcpy(&f, &x, 4);
    return f;
}

/* row = encoding of x[0..dim). Padding bytes are zeroed so rows compare equal
 * byte for byte when their vectors do. */
static inline void vecstore_encode(vecstore_encoding e, int dim, const float *x, void *row)
{
    memset(row, 0, vecstore_row_bytes(e, dim));
    if (e == VECSTORE_F32) {
        memcpy(row, x, 4 * (size_t)dim);
    } else if (e == VECSTORE_F16) {
        uint16_t *h = (uint16_t *)row;
        for (int i = 0; i < dim; i++)
            h[i] = vecstore_f32_to_f16(x[i]);
    } else if (e == VECSTORE_I8) {
        float amax = 0.0f;
        for (int i = 0; i < dim; i++)
            amax = fmaxf(amax, fabsf(x[i]));
        float s = amax > 0.0f ? amax / 127.0f : 1.0f;
        memcpy(row, &s, 4);
        int8_t *q = (int8_t *)row + 4;
        for (int i = 0; i < dim; i++)
            q[i] = (int8_t)lrintf(x[i] / s);
    }
}

static inline void vecstore_decode(vecstore_encoding e, int dim, const void *row, float *x)
{
    if (e == VECSTORE_F32) {
        memcpy(x, row, 4 * (size_t)dim);
    } else if (e == VECSTORE_F16) {
        const uint16_t *h = (const uint16_t *)row;
        for (int i = 0; i < dim; i++)
            x[i] = vecstore_f16_to_f32(h[i]);
    } else if (e == VECSTORE_I8) {
        float s;
        memcpy(&s, row, 4);
        const int8_t *q = (const int8_t *)row + 4;
        for (int i = 0; i < dim; i++)
            x[i] = s * (float)q[i];
    }
}

/* sum_i a_i b_i with 8 running partial sums (vectorisable, deterministic). */
static inline float vecstore_dot_f32(const float *a, const float *b, int dim)
{
    float acc[8] = {0};
    int i = 0;
    for (; i + 8 <= dim; i += 8)
        for (int u = 0; u < 8; u++)
            acc[u] += a[i + u] * b[i + u];
    float s = 0.0f;
    for (; i < dim; i++)
        s += a[i] * b[i];
    return s + ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

/* q . x with x ~= s * qi: s * sum_i q_i qi_i. */
static inline float vecstore_dot_i8(const float *q, const void *row, int dim)
{
    float s;
    memcpy(&s, row, 4);
    const int8_t *v = (const int8_t *)row + 4;
    float acc[8] = {0};
    int i = 0;
    for (; i + 8 <= dim; i += 8)
        for (int u = 0; u < 8; u++)
            acc[u] += q[i + u] * (float)v[i + u];
    float t = 0.0f;
    for (; i < dim; i++)
        t += q[i] * (float)v[i];
    return s * (t + ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7])));
}

static inline float vecstore_dot_f16(const float *q, const void *row, int dim)
{
    const uint16_t *h = (const uint16_t *)row;
    float s = 0.0f;
    for (int i = 0; i < dim; i++)
        s += q[i] * vecstore_f16_to_f32(h[i]);
    return s;
}

/* q . decode(row) for a float query q. */
static inline float vecstore_dot(vecstore_encoding e, int dim, const float *q, const void *row)
{
    if (e == VECSTORE_I8)
        return vecstore_dot_i8(q, row, dim);
    if (e == VECSTORE_F16)
        return vecstore_dot_f16(q, row, dim);
    return vecstore_dot_f32(q, (const float *)row, dim);
}

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

#define VECSTORE_MAX_DIM 8192   /* the most dimensions vecstore_open takes */
/* Opens (create != 0: creates) the "vectors" database in txn. */
int vecstore_open(MDB_txn *txn, int create, int dim, vecstore_encoding enc, vecstore *vs);
/* Normalises vec and stores it under chunk (replacing any previous row). */
int vecstore_put(MDB_txn *txn, const vecstore *vs, uint32_t chunk, const float *vec);
/* *row points into the map, valid until txn ends. */
int vecstore_get(MDB_txn *txn, const vecstore *vs, uint32_t chunk, const void **row);
int vecstore_del(MDB_txn *txn, const vecstore *vs, uint32_t chunk);
/* Stores an already encoded row (vs->row_bytes) as is: the first apply and
 * a replay from the catalog's copy then write identical bytes. */
int vecstore_put_row(MDB_txn *txn, const vecstore *vs, uint32_t chunk, const void *row);
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

/* The collection's stores, from the handle's databases (kv_open_vectors). */
void vecstore_of(const lctx_db *db, vecstore *vs, lsh_store *ls);

/* lctx_check's part (vcheck.c): vectors and buckets agree with the chunks. */
int check_vectors(lctx_db *db, MDB_txn *txn, const store_stats *st);

#endif /* LCTX_STORE_H */
