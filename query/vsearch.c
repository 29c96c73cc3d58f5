/*
 * vsearch.c — vector recall: the documents whose best chunk vector is
 * closest (cosine) to a query vector.
 *
 * Every stored vector belongs to a live chunk (indexer/vecapply.c removes
 * a chunk's vector when the chunk is tombstoned), and the stored rows are
 * read in place from the LMDB map (int8 and f16 kernels read bytes / 16-bit
 * words; f32 rows are copied to an aligned buffer). Two ways to find them:
 *
 *   exact  a cursor over the whole "vectors" database, in chunk order. At a
 *          few thousand chunks this beats any index: it is one sequential
 *          pass over a few MB, with no hashing and no random access, and its
 *          answer is the truth.
 *   LSH    when the collection has tables (vtune.c builds them from
 *          VTUNE_THRESHOLD vectors on): hash the query, list the probe
 *          sequence (query-directed multi-probe, query/lsh_probe.c), read
 *          each probed bucket's chunk ids from the "lsh" database, and
 *          re-score the distinct candidates exactly against their stored
 *          rows. Candidates are re-scored in ascending chunk order, which is
 *          also document order, so the page cache of chunk records hits.
 *
 * A handle opened with LCTX_OPEN_VECTOR_CACHE answers the LSH case from an
 * in-memory copy of the same tables and rows instead (vcache.c), with the
 * same candidates and scores, and comes back here when it cannot.
 *
 * A document scores its best chunk (the first among equals), as in BM25.
 * Filters: documents outside the allowed set are skipped before scoring;
 * when LSH finds fewer than k qualifying documents (a selective filter, or a
 * tiny collection), the exact scan runs instead, so k documents come back
 * whenever k qualify.
 */
#include <stdlib.h>
#include <string.h>

#include "query/query.h"

/* Best chunk per document, gathered in chunk order. */
typedef struct doc_acc {
    bm25_hit *h;
    size_t n, cap;
    bm25_hit cur;
    int have;
} doc_acc;

static int acc_flush(doc_acc *a)
{
    if (!a->have)
        return 0;
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 256;
        bm25_hit *h = realloc(a->h, cap * sizeof *h);
        if (!h)
            return -1;
        a->h = h;
        a->cap = cap;
    }
    a->h[a->n++] = a->cur;
    a->have = 0;
    return 0;
}

static int acc_add(doc_acc *a, uint32_t doc, uint32_t chunk, double score)
{
    if (a->have && a->cur.doc == doc) {
        if (score > a->cur.score) {
            a->cur.score = score;
            a->cur.chunk = chunk;
        }
        return 0;
    }
    if (acc_flush(a))
        return -1;
    a->cur = (bm25_hit){score, doc, chunk};
    a->have = 1;
    return 0;
}

static int cmp_doc_best(const void *x, const void *y)
{
    const bm25_hit *a = x, *b = y;
    if (a->doc != b->doc)
        return a->doc < b->doc ? -1 : 1;
    if (a->score != b->score)
        return a->score > b->score ? -1 : 1;
    return a->chunk < b->chunk ? -1 : a->chunk > b->chunk;
}

static int cmp_rank(const void *x, const void *y)
{
    const bm25_hit *a = x, *b = y;
    if (a->score != b->score)
        return a->score > b->score ? -1 : 1;
    return a->doc < b->doc ? -1 : a->doc > b->doc;
}

/* One entry per document (its best chunk), ranked, cut at k. */
static void acc_finish(doc_acc *a, int k)
{
    if (a->n == 0)
        return;
    qsort(a->h, a->n, sizeof *a->h, cmp_doc_best);
    size_t m = 0;
    for (size_t i = 0; i < a->n; i++)
        if (m == 0 || a->h[m - 1].doc != a->h[i].doc)
            a->h[m++] = a->h[i];
    qsort(a->h, m, sizeof *a->h, cmp_rank);
    a->n = m < (size_t)k ? m : (size_t)k;
}

/* Scores one stored row against q; 1 when the chunk's document is to be
 * skipped, 0 scored, <0 error (status negated). */
static int score_row(lctx_db *db, MDB_txn *txn, kv_page_cache *pc, const vecstore *vs,
                     uint32_t chunk, const void *row, const float *q, const docset *allowed,
                     uint32_t exclude, float *buf, uint32_t *doc, float *score)
{
    store_chunkrec rec;
    if (kv_chunk(db, txn, pc, chunk, &rec) != 0 || (rec.len & STORE_DELETED))
        return 1; /* a chunk the index no longer has, or is deleting */
    if (rec.doc == exclude || (allowed && !docset_has(allowed, rec.doc)))
        return 1;
    *doc = rec.doc;
    if (vs->enc == VECSTORE_F32) {
        memcpy(buf, row, vs->row_bytes);
        *score = vecstore_dot_f32(q, buf, vs->dim);
    } else {
        *score = vecstore_dot(vs->enc, vs->dim, q, row);
    }
    return 0;
}

int vsearch_exact(lctx_db *db, MDB_txn *txn, const float *q, int k, const docset *allowed,
                  uint32_t exclude_doc, bm25_hit **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    vecstore vs;
    vecstore_of(db, &vs, NULL);
    float *buf = malloc(vs.row_bytes);
    MDB_cursor *cur = NULL;
    doc_acc a = {0};
    int rc = LCTX_OK, m;
    if (!buf)
        return store_err(db, LCTX_ENOMEM, "out of memory");
    if ((m = mdb_cursor_open(txn, vs.dbi, &cur))) {
        free(buf);
        return kv_err(db, m, "open vectors");
    }
    kv_page_cache pc = {0};
    MDB_val key, val;
    for (m = mdb_cursor_get(cur, &key, &val, MDB_FIRST); m == 0;
         m = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
        uint32_t chunk, doc;
        float s;
        if (key.mv_size != 4 || val.mv_size != vs.row_bytes) {
            rc = store_err(db, LCTX_ECORRUPT, "%s/index: malformed vector record", db->path);
            break;
        }
        memcpy(&chunk, key.mv_data, 4);
        if (score_row(db, txn, &pc, &vs, chunk, val.mv_data, q, allowed, exclude_doc, buf,
                      &doc, &s))
            continue;
        if (acc_add(&a, doc, chunk, s)) {
            rc = store_err(db, LCTX_ENOMEM, "out of memory");
            break;
        }
    }
    if (!rc && m != MDB_NOTFOUND)
        rc = kv_err(db, m, "read vectors");
    mdb_cursor_close(cur);
    free(buf);
    if (!rc && acc_flush(&a))
        rc = store_err(db, LCTX_ENOMEM, "out of memory");
    if (rc) {
        free(a.h);
        return rc;
    }
    acc_finish(&a, k);
    *out = a.h;
    *n = a.n;
    return LCTX_OK;
}

/* ------------------------------------------------------------------- LSH */
typedef struct cand_list {
    uint32_t *id;
    size_t n, cap;
    int oom;
} cand_list;

static int cand_add(void *ctx, const uint32_t *ids, size_t n)
{
    cand_list *c = ctx;
    if (c->n + n > c->cap) {
        size_t cap = c->cap ? c->cap : 1024;
        while (cap < c->n + n)
            cap *= 2;
        uint32_t *p = realloc(c->id, cap * sizeof *p);
        if (!p) {
            c->oom = 1;
            return 1;
        }
        c->id = p;
        c->cap = cap;
    }
    memcpy(c->id + c->n, ids, n * sizeof *ids);
    c->n += n;
    return 0;
}

static int cmp_u32(const void *x, const void *y)
{
    uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
    return a < b ? -1 : a > b;
}

/* The candidates of the probe sequence, sorted and distinct. */
static int gather(lctx_db *db, MDB_txn *txn, const lsh_store_config *cfg, const float *q,
                  int probes, cand_list *c)
{
    char err[256] = "";
    int L = (int)cfg->n_tables, K = (int)cfg->k_bits;
    lsh_hasher *h = lsh_hasher_new(db->dim, K, L, cfg->seed, err, sizeof err);
    if (!h)
        return store_err(db, LCTX_ECORRUPT, "%s/index: lsh configuration: %s", db->path, err);
    uint64_t all = (uint64_t)L << K;
    int budget = probes > 0 ? probes : (int)cfg->probes;
    if (budget < L)
        budget = L;
    if ((uint64_t)budget > all)
        budget = (int)all;
    uint32_t *codes = malloc((size_t)L * sizeof *codes);
    float *margins = malloc((size_t)L * (size_t)K * sizeof *margins);
    float *work = malloc(lsh_hasher_work_floats(h) * sizeof *work);
    void *pwork = malloc(lsh_probe_work_bytes(L, K, budget));
    lsh_probe *seq = malloc((size_t)budget * sizeof *seq);
    int rc = LCTX_OK;
    if (!codes || !margins || !work || !pwork || !seq) {
        rc = store_err(db, LCTX_ENOMEM, "out of memory");
    } else {
        lsh_hasher_hash(h, q, codes, margins, work);
        int np = lsh_probe_sequence(codes, margins, L, K, budget, pwork, seq);
        lsh_store ls;
        vecstore_of(db, NULL, &ls);
        for (int i = 0; i < np && !rc; i++) {
            int m = lsh_store_bucket(txn, &ls, (uint32_t)seq[i].table, seq[i].code, cand_add, c);
            if (c->oom)
                rc = store_err(db, LCTX_ENOMEM, "out of memory");
            else if (m)
                rc = kv_err(db, m, "read lsh bucket");
        }
    }
    free(codes);
    free(margins);
    free(work);
    free(pwork);
    free(seq);
    lsh_hasher_free(h);
    if (rc)
        return rc;
    if (c->n > 1)
        qsort(c->id, c->n, sizeof *c->id, cmp_u32);
    size_t m = 0;
    for (size_t i = 0; i < c->n; i++)
        if (m == 0 || c->id[m - 1] != c->id[i])
            c->id[m++] = c->id[i];
    c->n = m;
    return LCTX_OK;
}

static int lsh_topk(lctx_db *db, MDB_txn *txn, const lsh_store_config *cfg, const float *q,
                    int k, const docset *allowed, uint32_t exclude, int probes, doc_acc *a)
{
    cand_list c = {0};
    int rc = gather(db, txn, cfg, q, probes, &c);
    vecstore vs;
    vecstore_of(db, &vs, NULL);
    float *buf = malloc(vs.row_bytes);
    if (!rc && !buf)
        rc = store_err(db, LCTX_ENOMEM, "out of memory");
    kv_page_cache pc = {0};
    for (size_t i = 0; i < c.n && !rc; i++) {
        const void *row;
        int m = vecstore_get(txn, &vs, c.id[i], &row);
        if (m == MDB_NOTFOUND)
            continue;
        if (m) {
            rc = kv_err(db, m, "read vector");
            break;
        }
        uint32_t doc;
        float s;
        if (score_row(db, txn, &pc, &vs, c.id[i], row, q, allowed, exclude, buf, &doc, &s))
            continue;
        if (acc_add(a, doc, c.id[i], s))
            rc = store_err(db, LCTX_ENOMEM, "out of memory");
    }
    if (!rc && acc_flush(a))
        rc = store_err(db, LCTX_ENOMEM, "out of memory");
    free(buf);
    free(c.id);
    if (!rc)
        acc_finish(a, k);
    return rc;
}

int vsearch_topk(lctx_db *db, MDB_txn *txn, const float *q, int k, const docset *allowed,
                 uint32_t exclude_doc, int probes, bm25_hit **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    lsh_store ls;
    lsh_store_config cfg;
    vecstore_of(db, NULL, &ls);
    int m = lsh_store_config_get(txn, &ls, &cfg);
    if (m && m != MDB_NOTFOUND)
        return kv_err(db, m, "read lsh configuration");
    if (m == MDB_NOTFOUND || cfg.n_tables == 0)
        return vsearch_exact(db, txn, q, k, allowed, exclude_doc, out, n);
    if (db->flags & LCTX_OPEN_VECTOR_CACHE) {
        int used = 0, rc = vcache_topk(db, txn, &cfg, q, k, allowed, exclude_doc, probes, out, n,
                                       &used);
        if (rc || used)
            return rc;
    }
    doc_acc a = {0};
    int rc = lsh_topk(db, txn, &cfg, q, k, allowed, exclude_doc, probes, &a);
    if (rc) {
        free(a.h);
        return rc;
    }
    if (a.n < (size_t)k) { /* too few qualified: the exact scan finds them all */
        free(a.h);
        return vsearch_exact(db, txn, q, k, allowed, exclude_doc, out, n);
    }
    *out = a.h;
    *n = a.n;
    return LCTX_OK;
}

int vsearch_like(lctx_db *db, MDB_txn *txn, sqlite3 *conn, const char *ext_id, float *q,
                 uint32_t *doc)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(conn, "SELECT doc_id, first_chunk, n_chunks FROM documents WHERE "
                           "ext_id=? AND deleted_seq IS NULL", -1, &st, NULL))
        return store_err(db, LCTX_ERROR, "%s/catalog.db: %s", db->path, sqlite3_errmsg(conn));
    sqlite3_bind_text(st, 1, ext_id, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_finalize(st);
        return store_err(db, LCTX_ENOTFOUND, "%s: no document with id '%s'", db->path, ext_id);
    }
    *doc = (uint32_t)sqlite3_column_int64(st, 0);
    uint32_t first = (uint32_t)sqlite3_column_int64(st, 1);
    uint32_t nc = (uint32_t)sqlite3_column_int64(st, 2);
    sqlite3_finalize(st);
    vecstore vs;
    vecstore_of(db, &vs, NULL);
    float *x = malloc((size_t)db->dim * sizeof *x);
    if (!x)
        return store_err(db, LCTX_ENOMEM, "out of memory");
    memset(q, 0, (size_t)db->dim * sizeof *q);
    uint32_t got = 0;
    int rc = LCTX_OK;
    for (uint32_t c = first; c < first + nc && !rc; c++) {
        int m = vecstore_read(txn, &vs, c, x);
        if (m == MDB_NOTFOUND)
            continue;
        if (m) {
            rc = kv_err(db, m, "read vector");
            break;
        }
        for (int i = 0; i < db->dim; i++)
            q[i] += x[i];
        got++;
    }
    free(x);
    if (rc)
        return rc;
    if (!got)
        return store_err(db, LCTX_ENOTFOUND, "%s: document '%s' has no vectors yet", db->path,
                         ext_id);
    /* The mean of unit vectors, renormalised: the document's centroid. Its
     * chunks' vectors may cancel out (or be zero, stored before zero
     * vectors were refused): then there is no direction to search in. */
    double ss = 0;
    for (int i = 0; i < db->dim; i++)
        ss += (double)q[i] * q[i];
    if (!(ss > 0))
        return store_err(db, LCTX_EINVAL, "%s: document '%s' has a zero vector, which has no "
                         "direction to search by", db->path, ext_id);
    for (int i = 0; i < db->dim; i++)
        q[i] = (float)(q[i] / sqrt(ss));
    return LCTX_OK;
}
