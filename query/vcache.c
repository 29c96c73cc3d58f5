/*
 * vcache.c — a collection's LSH tables held in memory, for handles opened
 * with LCTX_OPEN_VECTOR_CACHE.
 *
 * Why. A collection's vector search (vsearch.c) reads everything from LMDB:
 * one cursor range per probed bucket, then one B-tree lookup per candidate
 * for its stored row and another for its chunk record. That is the right
 * cost for a command that answers one query and exits, and it needs no
 * start-up. A pipeline that keeps a handle open and asks thousands of
 * vector or "more like this" queries pays it every time; the in-memory
 * index (lsh_index.c) answers the same probe sequence from flat arrays,
 * and with inline sketches streams the buckets instead of chasing rows.
 *
 * What. The first vector search of a handle with the flag builds, from its
 * own read snapshot, an lsh_index with the collection's tuned parameters
 * (hyperplanes, K, L, seed: the same hasher as the LMDB buckets) holding
 * every stored row verbatim (lsh_index_add_encoded), plus a table from chunk
 * id to document. Since rows and hashes are identical, the candidates and
 * their exact scores are those of the LMDB path; inline sketches are used
 * when they cost at most VCACHE_SKETCH_FACTOR times the vectors themselves
 * (few tables, or short vectors). The cache belongs to one LMDB snapshot
 * (mdb_txn_id): a search from a newer snapshot (any commit since) finds it
 * stale, rebuilds it, and until the new one is ready other searches take the
 * LMDB path. Old caches are freed when their last search ends (a count of
 * users under vcache_mu). A build that runs out of memory turns the cache
 * off for the handle, with a warning: the LMDB path answers the same.
 *
 * Documents. lsh_index_search ranks chunks; a document scores its best
 * chunk. The cache asks for VCACHE_CHUNKS_PER_DOC * k chunks and keeps the
 * first chunk of each allowed document: if that yields k documents they are
 * exactly the top k by best chunk among the candidates (any document not
 * listed has no chunk above the last one listed). If it does not (a
 * selective filter, documents with many chunks), the caller falls back to
 * the LMDB path, which scores every candidate against the filter.
 */
#include <stdlib.h>
#include <string.h>

#include "query/query.h"

enum { VCACHE_CHUNKS_PER_DOC = 4, VCACHE_SKETCH_FACTOR = 4, VCACHE_ADD_BATCH = 4096 };

/* Search scratches kept for reuse: one per concurrent search, up to this
 * many; each holds a bitmap over all rows and its buffers, so allocating
 * one per search would zero and fault in that much memory every time. */
enum { VCACHE_SPARE = 8 };

struct vcache {
    uint64_t txn_id;        /* the LMDB snapshot it reflects */
    lsh_index *ix;
    uint32_t *doc_of;       /* chunk id -> document, UINT32_MAX when none */
    uint32_t n_chunk_ids;   /* doc_of's length */
    int users;              /* searches using it (under db->vcache_mu) */
    int probes;             /* the collection's default probe budget */
    lsh_scratch *spare[VCACHE_SPARE]; /* idle scratches (under db->vcache_mu) */
    int n_spare;
};

void vcache_free(struct vcache *vc)
{
    if (!vc)
        return;
    for (int i = 0; i < vc->n_spare; i++)
        lsh_scratch_free(vc->spare[i]);
    lsh_index_free(vc->ix);
    free(vc->doc_of);
    free(vc);
}

/* Every stored row into ix, in chunk order, VCACHE_ADD_BATCH at a time. */
static int load_rows(lctx_db *db, MDB_txn *txn, const vecstore *vs, lsh_index *ix,
                     uint32_t *max_chunk)
{
    MDB_cursor *cur;
    int m = mdb_cursor_open(txn, vs->dbi, &cur);
    if (m)
        return kv_err(db, m, "open vectors");
    int64_t *labels = malloc(VCACHE_ADD_BATCH * sizeof *labels);
    uint8_t *rows = malloc(VCACHE_ADD_BATCH * vs->row_bytes);
    int rc = labels && rows ? LCTX_OK : store_err(db, LCTX_ENOMEM, "out of memory");
    size_t n = 0;
    char err[256] = "";
    MDB_val key, val;
    *max_chunk = 0;
    for (m = mdb_cursor_get(cur, &key, &val, MDB_FIRST); !rc && m == 0;
         m = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
        uint32_t chunk;
        if (key.mv_size != 4 || val.mv_size != vs->row_bytes) {
            rc = store_err(db, LCTX_ECORRUPT, "%s/index: malformed vector record", db->path);
            break;
        }
        memcpy(&chunk, key.mv_data, 4);
        *max_chunk = chunk > *max_chunk ? chunk : *max_chunk;
        labels[n] = chunk;
        memcpy(rows + n * vs->row_bytes, val.mv_data, vs->row_bytes);
        if (++n == VCACHE_ADD_BATCH) {
            if (lsh_index_add_encoded(ix, n, labels, rows, err, sizeof err))
                rc = store_err(db, LCTX_ENOMEM, "vector cache: %s", err);
            n = 0;
        }
    }
    if (!rc && m != 0 && m != MDB_NOTFOUND)
        rc = kv_err(db, m, "read vectors");
    if (!rc && n && lsh_index_add_encoded(ix, n, labels, rows, err, sizeof err))
        rc = store_err(db, LCTX_ENOMEM, "vector cache: %s", err);
    if (!rc && lsh_index_commit(ix, err, sizeof err))
        rc = store_err(db, LCTX_ENOMEM, "vector cache: %s", err);
    mdb_cursor_close(cur);
    free(labels);
    free(rows);
    return rc;
}

/* doc_of[chunk] for every chunk up to max_chunk (live chunk records only). */
static int load_docs(lctx_db *db, MDB_txn *txn, struct vcache *vc, uint32_t max_chunk)
{
    vc->n_chunk_ids = max_chunk + 1;
    vc->doc_of = malloc((size_t)vc->n_chunk_ids * sizeof *vc->doc_of);
    if (!vc->doc_of)
        return store_err(db, LCTX_ENOMEM, "out of memory");
    kv_page_cache pc = {0};
    for (uint32_t c = 0; c < vc->n_chunk_ids; c++) {
        store_chunkrec rec;
        int found = kv_chunk(db, txn, &pc, c, &rec) == 0 && !(rec.len & STORE_DELETED);
        vc->doc_of[c] = found ? rec.doc : UINT32_MAX;
    }
    return LCTX_OK;
}

static int build(lctx_db *db, MDB_txn *txn, const lsh_store_config *cfg, struct vcache **out)
{
    vecstore vs;
    vecstore_of(db, &vs, NULL);
    lsh_params p;
    lsh_params_init(&p);
    p.k_bits = (int)cfg->k_bits;
    p.n_tables = (int)cfg->n_tables;
    p.probes = (int)cfg->probes;
    p.seed = cfg->seed;
    p.encoding = vs.enc;
    if ((size_t)p.n_tables * lsh_sketch_bytes(db->dim, 4) <= VCACHE_SKETCH_FACTOR * vs.row_bytes)
        p.inline_codes = 4;
    char err[256] = "";
    struct vcache *vc = calloc(1, sizeof *vc);
    if (!vc)
        return store_err(db, LCTX_ENOMEM, "out of memory");
    vc->txn_id = (uint64_t)mdb_txn_id(txn);
    vc->probes = (int)cfg->probes;
    vc->ix = lsh_index_new(db->dim, &p, err, sizeof err);
    if (!vc->ix) {
        free(vc);
        return store_err(db, LCTX_ECORRUPT, "%s/index: lsh configuration: %s", db->path, err);
    }
    uint32_t max_chunk = 0;
    int rc = load_rows(db, txn, &vs, vc->ix, &max_chunk);
    if (!rc)
        rc = load_docs(db, txn, vc, max_chunk);
    if (rc) {
        vcache_free(vc);
        return rc;
    }
    *out = vc;
    return LCTX_OK;
}

/* Takes a use of the cache for this snapshot, building it first when there
 * is none for it and nobody else is building; NULL when the caller should
 * take the LMDB path (status in *rc on failure). */
static struct vcache *acquire(lctx_db *db, MDB_txn *txn, const lsh_store_config *cfg, int *rc)
{
    uint64_t id = (uint64_t)mdb_txn_id(txn);
    struct vcache *vc = NULL;
    *rc = LCTX_OK;
    pthread_mutex_lock(&db->vcache_mu);
    if (db->vcache && db->vcache->txn_id == id) {
        vc = db->vcache;
        vc->users++;
    }
    int mine = !vc && !db->vcache_building && !db->vcache_off;
    if (mine)
        db->vcache_building = 1;
    pthread_mutex_unlock(&db->vcache_mu);
    if (!mine)
        return vc;

    struct vcache *fresh = NULL;
    *rc = build(db, txn, cfg, &fresh);
    int no_memory = *rc == LCTX_ENOMEM;
    if (no_memory) {   /* the LMDB path needs little memory: use it from now on */
        store_warn(db, "%s: vector cache off: %s", db->path, lctx_errmsg(db));
        store_clear_err(db);
        *rc = LCTX_OK;
    }
    pthread_mutex_lock(&db->vcache_mu);
    db->vcache_building = 0;
    db->vcache_off |= no_memory;
    if (fresh) {
        struct vcache *old = db->vcache;
        if (old && old->users == 0)
            vcache_free(old);
        else if (old)
            old->txn_id = 0;   /* orphaned: its last user frees it */
        db->vcache = fresh;
        fresh->users = 1;
    }
    pthread_mutex_unlock(&db->vcache_mu);
    return fresh;
}

/* A scratch for one search on vc: an idle one, or a new one (NULL: memory). */
static lsh_scratch *scratch_take(lctx_db *db, struct vcache *vc)
{
    lsh_scratch *s = NULL;
    pthread_mutex_lock(&db->vcache_mu);
    if (vc->n_spare > 0)
        s = vc->spare[--vc->n_spare];
    pthread_mutex_unlock(&db->vcache_mu);
    return s ? s : lsh_scratch_new(vc->ix);
}

static void scratch_give(lctx_db *db, struct vcache *vc, lsh_scratch *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&db->vcache_mu);
    if (vc->n_spare < VCACHE_SPARE) {
        vc->spare[vc->n_spare++] = s;
        s = NULL;
    }
    pthread_mutex_unlock(&db->vcache_mu);
    lsh_scratch_free(s);
}

static void release(lctx_db *db, struct vcache *vc)
{
    pthread_mutex_lock(&db->vcache_mu);
    int orphan = --vc->users == 0 && vc != db->vcache;
    pthread_mutex_unlock(&db->vcache_mu);
    if (orphan)
        vcache_free(vc);
}

void vcache_forget(lctx_db *db)
{
    pthread_mutex_lock(&db->vcache_mu);
    struct vcache *vc = db->vcache;
    db->vcache = NULL;
    int unused = vc && vc->users == 0;
    pthread_mutex_unlock(&db->vcache_mu);
    if (unused)
        vcache_free(vc);
}

/* The best chunk of each allowed document, from the ranked chunks, up to k
 * documents; returns how many. Chunks come best first, so a document's
 * first chunk is its best. */
static size_t to_docs(const struct vcache *vc, const lsh_hit *hits, int n_hits, int k,
                      const docset *allowed, uint32_t exclude, bm25_hit *out)
{
    size_t n = 0;
    for (int i = 0; i < n_hits && n < (size_t)k; i++) {
        uint32_t chunk = (uint32_t)hits[i].label;
        uint32_t doc = chunk < vc->n_chunk_ids ? vc->doc_of[chunk] : UINT32_MAX;
        if (doc == UINT32_MAX || doc == exclude || (allowed && !docset_has(allowed, doc)))
            continue;
        int seen = 0;
        for (size_t j = 0; j < n && !seen; j++)
            seen = out[j].doc == doc;
        if (!seen)
            out[n++] = (bm25_hit){hits[i].score, doc, chunk};
    }
    return n;
}

int vcache_topk(lctx_db *db, MDB_txn *txn, const lsh_store_config *cfg, const float *q, int k,
                const docset *allowed, uint32_t exclude_doc, int probes, bm25_hit **out,
                size_t *n, int *used)
{
    *out = NULL;
    *n = 0;
    *used = 0;
    int rc;
    struct vcache *vc = acquire(db, txn, cfg, &rc);
    if (!vc)
        return rc;
    int want = k * VCACHE_CHUNKS_PER_DOC;
    lsh_scratch *s = scratch_take(db, vc);
    lsh_hit *hits = malloc((size_t)want * sizeof *hits);
    bm25_hit *docs = malloc((size_t)k * sizeof *docs);
    int got = -1;
    if (s && hits && docs)
        got = lsh_index_search(vc->ix, s, q, want, probes > 0 ? probes : vc->probes, 0, hits, NULL);
    rc = got < 0 ? store_err(db, LCTX_ENOMEM, "out of memory") : LCTX_OK;
    size_t nd = got > 0 ? to_docs(vc, hits, got, k, allowed, exclude_doc, docs) : 0;
    scratch_give(db, vc, s);
    free(hits);
    release(db, vc);
    if (rc || nd < (size_t)k) {
        free(docs);
        return rc;
    }
    *out = docs;
    *n = nd;
    *used = 1;
    return LCTX_OK;
}
