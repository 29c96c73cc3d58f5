/*
 * compact.c — lctx_compact: drop tombstoned chunks from the postings.
 *
 * Deletes and upserts only flag chunks (STORE_DELETED in their record); the
 * postings keep them, and N, df and avgdl keep counting them, until this
 * rewrite. Compaction runs under the writer lock with both stores in step,
 * in two steps:
 *
 *   1. one LMDB write transaction rewrites every term's postings without
 *      tombstoned chunks (terms left empty are removed, a list left with
 *      one block moves into its dictionary entry), clears the
 *      tombstoned chunk records and recomputes the statistics;
 *   2. one SQLite transaction deletes the deleted documents (their chunk
 *      spans live in their rows) and their chunks' vectors, and VACUUM
 *      gives the room they took back to the file system.
 *
 * A crash between the two leaves rows in SQLite for chunks LMDB has
 * forgotten; they belong to deleted documents, which nothing reads, and the
 * next compaction removes them. Batch sequence numbers are untouched:
 * compaction changes no document.
 */
#include <stdlib.h>
#include <string.h>

#include "indexer/indexer.h"
#include "store/store.h"

typedef struct compact_ctx {
    store_posting *p;
    size_t n, cap;
    uint8_t *kbuf;           /* keys of the term's blocks, 8 bytes each */
    size_t n_keys, cap_keys;
    int committed;           /* the index's compaction committed */
} compact_ctx;

/* Steps to the first key after the one in kb (or the first key when *kl is
 * 0). Cursor positions do not survive writes to their database in LMDB, so
 * the loops below re-seek from a copy of the last key on every step. */
static int step(MDB_cursor *c, uint8_t *kb, size_t *kl, MDB_val *k, MDB_val *v)
{
    int rc;
    if (*kl == 0) {
        rc = mdb_cursor_get(c, k, v, MDB_FIRST);
    } else {
        k->mv_size = *kl;
        k->mv_data = kb;
        rc = mdb_cursor_get(c, k, v, MDB_SET_RANGE);
        if (rc == 0 && k->mv_size == *kl && memcmp(k->mv_data, kb, *kl) == 0)
            rc = mdb_cursor_get(c, k, v, MDB_NEXT);
    }
    if (rc == 0) {
        memcpy(kb, k->mv_data, k->mv_size);
        *kl = k->mv_size;
    }
    return rc;
}

static int push_key(lctx_db *db, compact_ctx *c, const void *key)
{
    if (c->n_keys == c->cap_keys) {
        size_t cap = c->cap_keys ? c->cap_keys * 2 : 64;
        uint8_t *k = realloc(c->kbuf, cap * 8);
        if (!k)
            return store_err(db, LCTX_ENOMEM, "out of memory");
        c->kbuf = k;
        c->cap_keys = cap;
    }
    memcpy(c->kbuf + 8 * c->n_keys++, key, 8);
    return LCTX_OK;
}

/* Reads the live postings of term t (inline block inl) into c->p and
 * remembers the keys of its blocks in the postings table. */
static int read_live(lctx_db *db, MDB_txn *txn, const store_term *t, const MDB_val *inl,
                     compact_ctx *c, kv_page_cache *pc)
{
    kv_blocks bl;
    kv_block b;
    int rc = kv_blocks_open(db, txn, t, inl, &bl);
    if (rc)
        return rc;
    store_posting buf[STORE_BLOCK];
    c->n = c->n_keys = 0;
    for (rc = kv_blocks_next(db, &bl, &b); !rc && b.data; rc = kv_blocks_next(db, &bl, &b)) {
        pblock_header h;
        if (pblock_decode(b.data, b.len, &h, buf)) {
            rc = store_err(db, LCTX_ECORRUPT, "%s/index: malformed postings block", db->path);
            break;
        }
        if (!inl->mv_size) {    /* a block of the postings table, deleted on rewrite */
            uint8_t kb[8];
            pblock_key(kb, t->id, b.last);
            if ((rc = push_key(db, c, kb)))
                break;
        }
        if (c->n + h.count > c->cap) {
            size_t cap = (c->cap + h.count) * 2;
            store_posting *p = realloc(c->p, cap * sizeof *p);
            if (!p) {
                rc = store_err(db, LCTX_ENOMEM, "out of memory");
                break;
            }
            c->p = p;
            c->cap = cap;
        }
        for (uint32_t i = 0; i < h.count; i++) {
            store_chunkrec r;
            if (kv_chunk(db, txn, pc, buf[i].chunk, &r) == 0 && !(r.len & STORE_DELETED))
                c->p[c->n++] = buf[i];
        }
    }
    kv_blocks_close(&bl);
    return rc;
}

/* Rewrites term t from c->p; updates *t. A list left with one block goes
 * into the dictionary entry (blocks.c): its bytes to inl, their count to
 * *inl_len (0 when the blocks went to the postings table). */
static int rewrite_term(lctx_db *db, MDB_txn *txn, store_term *t, compact_ctx *c,
                        kv_page_cache *pc, uint8_t *inl, size_t *inl_len)
{
    for (size_t i = 0; i < c->n_keys; i++) {
        MDB_val k = {8, c->kbuf + 8 * i};
        int rc = mdb_del(txn, db->dbi_post, &k, NULL);
        if (rc)
            return kv_err(db, rc, "delete postings");
    }
    t->df = (uint32_t)c->n;
    t->n_blocks = 0;
    t->max_tf = 0;
    t->min_len = UINT32_MAX;
    *inl_len = 0;
    uint8_t out[PBLOCK_MAX_BYTES], kb[8];
    for (size_t s = 0; s < c->n; s += STORE_BLOCK) {
        size_t n = c->n - s < STORE_BLOCK ? c->n - s : STORE_BLOCK;
        float max_tf = 0;
        uint32_t min_len = UINT32_MAX;
        for (size_t i = s; i < s + n; i++) {
            store_chunkrec r = {0, 0};
            kv_chunk(db, txn, pc, c->p[i].chunk, &r);
            float tf = kv_tf_bound(c->p[i].tf_text + db->cfg.title_weight * c->p[i].tf_title);
            uint32_t len = r.len & STORE_LEN_MASK;
            if (tf > max_tf)
                max_tf = tf;
            if (len < min_len)
                min_len = len;
        }
        t->last_chunk = c->p[s + n - 1].chunk;
        t->n_blocks++;
        if (max_tf > t->max_tf)
            t->max_tf = max_tf;
        if (min_len < t->min_len)
            t->min_len = min_len;
        if (c->n <= STORE_BLOCK) {
            *inl_len = pblock_encode(c->p + s, n, max_tf, min_len, inl);
            break;
        }
        size_t len = pblock_encode(c->p + s, n, max_tf, min_len, out);
        pblock_key(kb, t->id, t->last_chunk);
        MDB_val k = {8, kb}, v = {len, out};
        int rc = mdb_put(txn, db->dbi_post, &k, &v, 0);
        if (rc)
            return kv_err(db, rc, "write postings");
    }
    return LCTX_OK;
}

static int compact_terms(lctx_db *db, MDB_txn *txn, store_stats *st, compact_ctx *c)
{
    MDB_cursor *tc;
    int rc = mdb_cursor_open(txn, db->dbi_terms, &tc);
    if (rc)
        return kv_err(db, rc, "open cursor");
    kv_page_cache pc = {0};
    MDB_val k, v;
    int s = LCTX_OK;
    uint8_t kb[512];
    size_t kl = 0;
    st->n_terms = st->n_postings = 0;
    for (rc = step(tc, kb, &kl, &k, &v); rc == 0 && !s; rc = step(tc, kb, &kl, &k, &v)) {
        store_term t;
        MDB_val inl;
        if ((s = kv_term_parse(db, &v, &t, &inl)) || (s = read_live(db, txn, &t, &inl, c, &pc)))
            break;
        if (c->n == t.df) {     /* nothing tombstoned in this list: the entry stays */
            st->n_terms++;
            st->n_postings += t.df;
            continue;
        }
        uint8_t val[sizeof t + PBLOCK_MAX_BYTES];
        size_t inl_len;
        if ((s = rewrite_term(db, txn, &t, c, &pc, val + sizeof t, &inl_len)))
            break;
        MDB_val key = {kl, kb};
        if (t.df == 0) {
            if ((rc = mdb_del(txn, db->dbi_terms, &key, NULL))) {
                s = kv_err(db, rc, "delete term");
                break;
            }
            continue;
        }
        st->n_terms++;
        st->n_postings += t.df;
        memcpy(val, &t, sizeof t);
        MDB_val nv = {sizeof t + inl_len, val};
        if ((rc = mdb_put(txn, db->dbi_terms, &key, &nv, 0))) {
            s = kv_err(db, rc, "write term");
            break;
        }
    }
    mdb_cursor_close(tc);
    if (!s && rc && rc != MDB_NOTFOUND)
        s = kv_err(db, rc, "read terms");
    return s;
}

/* Clears tombstoned chunk records and recomputes chunk statistics. A page
 * is rewritten when a record was cleared or when the sparse form would be
 * smaller than the stored one (a page that format 3 left with few live
 * records), in the smaller form (chunkpage.c). */
static int compact_chunks(lctx_db *db, MDB_txn *txn, store_stats *st)
{
    MDB_cursor *cc;
    int rc = mdb_cursor_open(txn, db->dbi_chunks, &cc);
    if (rc)
        return kv_err(db, rc, "open cursor");
    store_chunkrec *recs = malloc(STORE_PAGE * sizeof *recs);
    if (!recs) {
        mdb_cursor_close(cc);
        return store_err(db, LCTX_ENOMEM, "out of memory");
    }
    MDB_val k, v;
    int s = LCTX_OK;
    uint8_t kb[512];
    size_t kl = 0;
    st->n_chunks = st->n_deleted = st->total_len = 0;
    for (rc = step(cc, kb, &kl, &k, &v); rc == 0; rc = step(cc, kb, &kl, &k, &v)) {
        uint32_t n;
        if (chunk_page_decode(v.mv_data, v.mv_size, recs, &n)) {
            s = store_err(db, LCTX_ECORRUPT, "%s/index: malformed chunk page", db->path);
            break;
        }
        int changed = 0, live = 0;
        uint32_t used = 0;
        for (uint32_t i = 0; i < n; i++) {
            if (recs[i].len & STORE_DELETED) {
                recs[i].doc = recs[i].len = 0;
                changed = 1;
            } else if (recs[i].doc) {
                st->n_chunks++;
                st->total_len += recs[i].len;
                live = 1;
                used = i + 1;
            }
        }
        /* A page of cleared records reads as a missing one (page_load), so
         * it goes: an emptied index then holds no chunk pages at all. */
        if (!changed && chunk_page_size(recs, used, st) >= v.mv_size)
            continue;
        MDB_val key = {kl, kb};
        if ((rc = live ? chunk_page_put(txn, db->dbi_chunks, &key, recs, used, st, 0)
                       : mdb_del(txn, db->dbi_chunks, &key, NULL))) {
            s = kv_err(db, rc, "write chunk page");
            break;
        }
    }
    if (!s && rc && rc != MDB_NOTFOUND)
        s = kv_err(db, rc, "read chunk pages");
    free(recs);
    mdb_cursor_close(cc);
    return s;
}

static int compact_txn(lctx_db *db, MDB_txn *txn, void *ctx)
{
    compact_ctx *c = ctx;
    store_stats st;
    int rc = kv_get_stats(db, txn, &st);
    if (rc)
        return rc;
    /* Terms first: they read the tombstone flags compact_chunks clears.
     * A format 3 index becomes format 4 here, so that its pages may be
     * sparse; an lctx that knows only format 3 then refuses it. */
    st.format_version = LCTX_FORMAT_VERSION;
    if ((rc = compact_terms(db, txn, &st, c)) || (rc = compact_chunks(db, txn, &st)))
        return rc;
    return kv_put_stats(db, txn, &st);
}

/* Deleting rows leaves their pages free inside catalog.db, for later
 * batches to fill; VACUUM gives them back to the file system, which is
 * what compacting after deletions is for to whoever watches the disk. It
 * rewrites the file (time, and for a moment free space, in proportion to
 * the catalog), so it runs only when compaction removed something, and
 * its failure (a full disk) is a warning: the compaction has committed.
 * In WAL mode the rewritten pages pass through the WAL, which the
 * checkpoint then truncates. */
static void shrink_catalog(lctx_db *db)
{
    char *err = NULL;
    const char *sql = db->test_fail_vacuum ? "VACUUM simulated_failure"
                                           : "VACUUM; PRAGMA wal_checkpoint(TRUNCATE);";
    if (sqlite3_exec(db->wdb, sql, NULL, NULL, &err))
        store_warn(db, "%s/catalog.db: compacted, but its free space was not given back: %s",
                   db->path, err ? err : sqlite3_errmsg(db->wdb));
    sqlite3_free(err);
}

/* LMDB reuses the pages a compaction frees, but never gives them back:
 * rewriting every touched list in one transaction left lisa's file, half
 * its documents deleted, at 2.8 MB against 1.4 before. So when compaction
 * removed documents (or a quarter of the file is free pages), the index
 * is replaced by a dense copy (generation.c, which other processes
 * follow); a failure is a warning, as for the catalog. */
static void shrink_index(lctx_db *db, int removed)
{
    if (index_shrink(db, removed)) {
        store_warn(db, "%s: compacted, but the index file was not shrunk: %s", db->path,
                   lctx_errmsg(db));
        store_clear_err(db);
    }
}

/* The catalog says the format the compaction gave the index (compact_txn),
 * which is what lctx_stats reports. Its failure is a warning: what keeps an
 * older lctx out of a format 4 index is the index's own number. */
static void record_format(lctx_db *db)
{
    char sql[96];
    snprintf(sql, sizeof sql, "INSERT OR REPLACE INTO config VALUES('format_version',%d);",
             LCTX_FORMAT_VERSION);
    if (catalog_exec(db, db->wdb, sql)) {
        store_warn(db, "%s: compacted, but the catalog still names format %d: %s", db->path,
                   db->format_version, lctx_errmsg(db));
        store_clear_err(db);
        return;
    }
    db->format_version = LCTX_FORMAT_VERSION;
}

int lctx_compact(lctx_db *db)
{
    if (!db)
        return LCTX_EINVAL;
    if (db->flags & LCTX_OPEN_READONLY)
        return store_err(db, LCTX_ESTATE, "%s: opened read-only", db->path);
    pthread_mutex_lock(&db->write_mu);
    int rc = db->batch ? store_err(db, LCTX_ESTATE, "lctx_compact: a batch is open")
                       : store_lock(db);
    if (rc) {
        pthread_mutex_unlock(&db->write_mu);
        return rc;
    }
    compact_ctx c = {0};
    rc = write_recover(db); /* stores in step before rewriting */
    if (!rc && !(rc = kv_write(db, compact_txn, &c)))
        c.committed = 1;
    free(c.p);
    free(c.kbuf);
    sqlite3_int64 changes = sqlite3_total_changes64(db->wdb);
    if (!rc && db->test_fail_vacuum == 2)   /* as a full disk would, after the index */
        rc = catalog_exec(db, db->wdb, "BEGIN IMMEDIATE;INSERT INTO simulated_failure VALUES(0)");
    if (!rc)
        rc = catalog_exec(db, db->wdb,
                          "BEGIN IMMEDIATE;"
                          /* the vectors' catalog copies go with their chunks,
                           * ids [first_chunk, first_chunk + n_chunks) */
                          "WITH RECURSIVE c(id, stop) AS (SELECT first_chunk, "
                          "first_chunk + n_chunks FROM documents WHERE deleted_seq IS NOT "
                          "NULL AND n_chunks > 0 UNION ALL SELECT id + 1, stop FROM c "
                          "WHERE id + 1 < stop) "
                          "DELETE FROM vectors WHERE chunk_id IN (SELECT id FROM c);"
                          "DELETE FROM documents WHERE deleted_seq IS NOT NULL;"
                          "COMMIT;");
    int indexed = rc && c.committed;
    if (rc && db->wdb && !sqlite3_get_autocommit(db->wdb))
        sqlite3_exec(db->wdb, "ROLLBACK", NULL, NULL, NULL);
    /* The index has committed its compaction and the catalog could not
     * drop the deleted documents' rows (a full disk): they stay marked
     * deleted, which reads the same, until the next compaction drops them.
     * As for VACUUM below, that is a warning, not a failed compaction. */
    if (indexed) {
        store_warn(db, "%s: the index is compacted, but the catalog keeps the deleted documents' "
                   "rows until the next compaction: %s", db->path, lctx_errmsg(db));
        store_clear_err(db);
        rc = LCTX_OK;
    }
    /* The index first: switching generations writes the catalog, whose
     * WAL the VACUUM's checkpoint then empties. */
    int removed = !rc && !indexed && sqlite3_total_changes64(db->wdb) > changes;
    if (!rc && !indexed && db->format_version < LCTX_FORMAT_VERSION)
        record_format(db);
    if (!rc && !indexed)
        shrink_index(db, removed);
    if (removed)
        shrink_catalog(db);
    store_unlock(db);
    pthread_mutex_unlock(&db->write_mu);
    return rc;
}
