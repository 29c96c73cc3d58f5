/*
 * renumber.c — giving a compacted collection dense ids again.
 *
 * Document and chunk ids are 32-bit and handed out in order, never reused:
 * the order is what lets a batch be a range of ids, a postings block be
 * keyed by its last chunk, and ties rank in the order documents came. So
 * every upsert spends ids, and a pipeline that replaces a thousand
 * documents a second spends the 2^32 of them in seven weeks, compacting or
 * not, after which lctx_add answered "collection is full".
 *
 * Compaction is where ids come back. After it has dropped the deleted
 * documents, the live ones keep their order but are spread over the whole
 * range; renumbering gives the i-th live document id i + 1 and its chunks
 * the next ids after the previous document's, so the order of everything
 * stays as it was and only the numbers shrink. Both stores hold ids:
 *
 *   the index (LMDB): chunk ids in postings (keys, blocks, the dictionary's
 *     last_chunk and inline blocks), in the chunk pages (their keys, and the
 *     document of each record), as vector keys and in the LSH buckets;
 *   the catalog (SQLite): documents (doc_id, first_chunk), the vectors'
 *     copies (chunk_id), the batches' ranges (first_doc, end_doc) and the
 *     next ids to hand out.
 *
 * The two cannot change in one transaction, so renumbering rides on the
 * index generations (generation.c): the translated index is written as the
 * next generation, by the same key-by-key dense copy that ends a compaction
 * with every id mapped on the way, and the catalog's ids change in the
 * transaction that names the new generation. Before that commit both stores
 * hold the old ids, after it both the new ones. A handle that still reads
 * the old generation must not look its ids up in the new catalog, so a
 * search checks the catalog's generation first (query/search.c).
 *
 * Renumbering rewrites every catalog row that moves, text included, so it
 * runs only when it gives back a good part of the id space: when the ids
 * spent and not live reach RENUMBER_HOLES (a quarter of it), which a
 * collection that upserts reaches long before it is full.
 *
 * The map: the live documents in id order, each with its old id, its old
 * first chunk and its new first chunk. An old chunk id is found by binary
 * search on the old first chunks (a document of no chunks has the first
 * chunk the next document got, so among equal ones the last is the one
 * that can hold the chunk). A chunk or document the map lacks means the
 * stores disagree, which is reported as corruption and leaves both as
 * they were.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"

#define RENUMBER_HOLES (1ull << 30)

struct renumber_map {
    size_t n;                /* live documents */
    uint32_t *doc;           /* the i-th's old id (its new one is i + 1) */
    uint32_t *first;         /* its old first chunk */
    uint32_t *nfirst;        /* its new first chunk; nfirst[n]: the next chunk id */
    size_t hint;             /* the document the last chunk lookup found */
};

void renumber_map_free(renumber_map *m)
{
    if (!m)
        return;
    free(m->doc);
    free(m->first);
    free(m->nfirst);
    free(m);
}

int renumber_wanted(lctx_db *db, int *want)
{
    uint64_t next_doc, next_chunk, docs = 0, chunks = 0;
    *want = 0;
    int rc = catalog_get_u64(db, db->wdb, "next_doc", &next_doc);
    if (!rc)
        rc = catalog_get_u64(db, db->wdb, "next_chunk", &next_chunk);
    if (rc)
        return rc;
    if (db->test_renumber) {
        *want = 1;
        return LCTX_OK;
    }
    if (next_doc <= RENUMBER_HOLES && next_chunk <= RENUMBER_HOLES)
        return LCTX_OK;     /* too few ids spent to free a quarter of them */
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db->wdb, "SELECT count(*), coalesce(sum(n_chunks), 0) FROM "
                           "documents", -1, &st, NULL))
        return catalog_fail(db, db->wdb, "renumbering");
    if (sqlite3_step(st) == SQLITE_ROW) {
        docs = (uint64_t)sqlite3_column_int64(st, 0);
        chunks = (uint64_t)sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
    *want = next_doc >= docs + 1 + RENUMBER_HOLES || next_chunk >= chunks + 1 + RENUMBER_HOLES;
    return LCTX_OK;
}

/* Room for n documents in m (grown by doubling). */
static int map_grow(lctx_db *db, renumber_map *m, size_t *cap)
{
    if (m->n + 1 < *cap)
        return LCTX_OK;
    size_t c = *cap ? *cap * 2 : 1024;
    uint32_t *d = realloc(m->doc, c * sizeof *d);
    if (d)
        m->doc = d;
    uint32_t *f = d ? realloc(m->first, c * sizeof *f) : NULL;
    if (f)
        m->first = f;
    uint32_t *nf = f ? realloc(m->nfirst, c * sizeof *nf) : NULL;
    if (!nf)
        return store_err(db, LCTX_ENOMEM, "renumbering: out of memory");
    m->nfirst = nf;
    *cap = c;
    return LCTX_OK;
}

int renumber_map_load(lctx_db *db, renumber_map **out)
{
    *out = NULL;
    renumber_map *m = calloc(1, sizeof *m);
    sqlite3_stmt *st = NULL;
    if (!m)
        return store_err(db, LCTX_ENOMEM, "renumbering: out of memory");
    int rc = LCTX_OK, s;
    size_t cap = 0;
    uint64_t next = 1, old_end = 0;   /* new ids handed out; end of the last old range */
    if (sqlite3_prepare_v2(db->wdb, "SELECT doc_id, first_chunk, n_chunks, deleted_seq FROM "
                           "documents ORDER BY doc_id", -1, &st, NULL))
        rc = catalog_fail(db, db->wdb, "renumbering");
    while (!rc && (s = sqlite3_step(st)) == SQLITE_ROW) {
        sqlite3_int64 doc = sqlite3_column_int64(st, 0), first = sqlite3_column_int64(st, 1),
                      n = sqlite3_column_int64(st, 2);
        if (sqlite3_column_type(st, 3) != SQLITE_NULL)
            rc = store_err(db, LCTX_ESTATE, "%s: renumbering: document %lld is deleted but "
                           "still in the catalog", db->path, (long long)doc);
        else if (doc < 1 || doc > UINT32_MAX || first < 1 || n < 0 ||
                 (uint64_t)first < old_end || (uint64_t)first + (uint64_t)n > 1ull + UINT32_MAX)
            rc = store_err(db, LCTX_ECORRUPT, "%s/catalog.db: document %lld's chunk ids "
                           "[%lld, +%lld) are out of order or range", db->path, (long long)doc,
                           (long long)first, (long long)n);
        else if (!(rc = map_grow(db, m, &cap))) {
            m->doc[m->n] = (uint32_t)doc;
            m->first[m->n] = (uint32_t)first;
            m->nfirst[m->n] = (uint32_t)next;
            m->n++;
            next += (uint64_t)n;
            old_end = (uint64_t)first + (uint64_t)n;
        }
    }
    if (!rc && s != SQLITE_DONE)
        rc = catalog_fail(db, db->wdb, "renumbering");
    sqlite3_finalize(st);
    if (!rc && !(rc = map_grow(db, m, &cap)))
        m->nfirst[m->n] = (uint32_t)next;   /* next <= old next_chunk: it fits */
    if (rc) {
        renumber_map_free(m);
        return rc;
    }
    *out = m;
    return LCTX_OK;
}

/* Old chunk c: its new id and the index of its document; -1 when no live
 * document holds it. */
static int map_chunk(renumber_map *m, uint32_t c, uint32_t *to, size_t *doc)
{
    size_t i = m->hint;
    if (!(i < m->n && m->first[i] <= c && c - m->first[i] < m->nfirst[i + 1] - m->nfirst[i])) {
        size_t lo = 0, hi = m->n;          /* the last i with first[i] <= c */
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (m->first[mid] <= c)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo == 0)
            return -1;
        i = lo - 1;
        if (c - m->first[i] >= m->nfirst[i + 1] - m->nfirst[i])
            return -1;
        m->hint = i;
    }
    *to = m->nfirst[i] + (c - m->first[i]);
    *doc = i;
    return 0;
}

/* The number of live documents whose old id is below d: new ids below
 * d's place are 1 .. that. */
static size_t docs_below(const renumber_map *m, uint64_t d)
{
    size_t lo = 0, hi = m->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (m->doc[mid] < d)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int unmapped(lctx_db *db, const char *what, uint32_t id)
{
    return store_err(db, LCTX_ECORRUPT, "%s: renumbering: %s %u belongs to no live document",
                     db->path, what, id);
}

/* ----------------------------------------------------------- the index */

/* A postings block with its chunk ids mapped; *last gets its new last id.
 * out holds PBLOCK_MAX_BYTES. */
static int map_block(lctx_db *db, renumber_map *m, const MDB_val *v, uint8_t *out,
                     size_t *out_len, uint32_t *last)
{
    store_posting p[STORE_BLOCK];
    pblock_header h;
    if (pblock_decode(v->mv_data, v->mv_size, &h, p))
        return store_err(db, LCTX_ECORRUPT, "%s/index: malformed postings block", db->path);
    for (uint32_t i = 0; i < h.count; i++) {
        size_t d;
        if (map_chunk(m, p[i].chunk, &p[i].chunk, &d))
            return unmapped(db, "posting of chunk", p[i].chunk);
    }
    *out_len = pblock_encode(p, h.count, h.max_tf, h.min_len, out);
    *last = p[h.count - 1].chunk;
    return LCTX_OK;
}

/* terms: each entry's last_chunk, and its inline block. */
static int copy_terms(lctx_db *db, renumber_map *m, MDB_cursor *src, MDB_cursor *dst)
{
    uint8_t buf[sizeof(store_term) + PBLOCK_MAX_BYTES];
    MDB_val k, v;
    int rc;
    for (int op = MDB_FIRST; !(rc = mdb_cursor_get(src, &k, &v, op)); op = MDB_NEXT) {
        store_term t;
        MDB_val inl, out = {sizeof t, buf};
        size_t d, len = 0;
        int s = kv_term_parse(db, &v, &t, &inl);
        if (!s && inl.mv_size)
            s = map_block(db, m, &inl, buf + sizeof t, &len, &t.last_chunk);
        else if (!s && map_chunk(m, t.last_chunk, &t.last_chunk, &d))
            s = unmapped(db, "last posting of chunk", t.last_chunk);
        if (s)
            return s;
        memcpy(buf, &t, sizeof t);
        out.mv_size += len;
        if ((rc = mdb_cursor_put(dst, &k, &out, MDB_APPEND)))
            break;
    }
    return rc == MDB_NOTFOUND ? LCTX_OK : kv_err(db, rc, "renumbering terms");
}

/* postings: blocks keyed by (term, last chunk), both parts mapped. */
static int copy_postings(lctx_db *db, renumber_map *m, MDB_cursor *src, MDB_cursor *dst)
{
    uint8_t block[PBLOCK_MAX_BYTES], key[8];
    MDB_val k, v;
    int rc;
    for (int op = MDB_FIRST; !(rc = mdb_cursor_get(src, &k, &v, op)); op = MDB_NEXT) {
        uint32_t term, last;
        size_t len;
        if (k.mv_size != 8)
            return store_err(db, LCTX_ECORRUPT, "%s/index: malformed postings key", db->path);
        pblock_key_parse(k.mv_data, &term, &last);
        int s = map_block(db, m, &v, block, &len, &last);
        if (s)
            return s;
        pblock_key(key, term, last);
        MDB_val nk = {8, key}, nv = {len, block};
        if ((rc = mdb_cursor_put(dst, &nk, &nv, MDB_APPEND)))
            break;
    }
    return rc == MDB_NOTFOUND ? LCTX_OK : kv_err(db, rc, "renumbering postings");
}

/* chunks: every record moves to its new slot, naming its new document; the
 * pages fill up in order and are stored as each is complete. */
typedef struct page_out {
    MDB_cursor *dst;
    const store_stats *st;
    store_chunkrec *recs;    /* STORE_PAGE records */
    uint32_t page, used;     /* the page being filled; slots up to the last record */
} page_out;

static int page_flush(page_out *o)
{
    if (!o->used)
        return 0;
    uint8_t key[4] = {o->page >> 24, o->page >> 16, o->page >> 8, o->page};
    MDB_val k = {4, key};
    int rc = chunk_page_put(mdb_cursor_txn(o->dst), mdb_cursor_dbi(o->dst), &k, o->recs, o->used,
                            o->st, MDB_APPEND);
    memset(o->recs, 0, STORE_PAGE * sizeof *o->recs);
    o->used = 0;
    return rc;
}

static int page_add(page_out *o, uint32_t chunk, store_chunkrec r)
{
    int rc = 0;
    if (o->used && chunk >> STORE_PAGE_SHIFT != o->page)
        rc = page_flush(o);
    o->page = chunk >> STORE_PAGE_SHIFT;
    o->recs[chunk & (STORE_PAGE - 1)] = r;
    o->used = (chunk & (STORE_PAGE - 1)) + 1;
    return rc;
}

static int copy_chunks(lctx_db *db, renumber_map *m, MDB_cursor *src, MDB_cursor *dst,
                       const store_stats *st)
{
    store_chunkrec *in = malloc(STORE_PAGE * sizeof *in);
    page_out o = {dst, st, calloc(STORE_PAGE, sizeof *o.recs), 0, 0};
    MDB_val k, v;
    int rc = 0, s = LCTX_OK;
    if (!in || !o.recs)
        s = store_err(db, LCTX_ENOMEM, "renumbering: out of memory");
    for (int op = MDB_FIRST; !s && !(rc = mdb_cursor_get(src, &k, &v, op)); op = MDB_NEXT) {
        uint32_t n;
        if (k.mv_size != 4 || chunk_page_decode(v.mv_data, v.mv_size, in, &n)) {
            s = store_err(db, LCTX_ECORRUPT, "%s/index: malformed chunk page", db->path);
            break;
        }
        const uint8_t *kb = k.mv_data;
        uint32_t page = (uint32_t)kb[0] << 24 | (uint32_t)kb[1] << 16 | kb[2] << 8 | kb[3];
        for (uint32_t i = 0; i < n && !s && !rc; i++) {
            uint32_t c = page << STORE_PAGE_SHIFT | i, to;
            size_t d;
            if (!in[i].doc && !in[i].len)
                continue;                     /* an empty slot */
            if ((in[i].len & STORE_DELETED) || map_chunk(m, c, &to, &d) || m->doc[d] != in[i].doc)
                s = unmapped(db, "chunk", c);
            else
                rc = page_add(&o, to, (store_chunkrec){(uint32_t)d + 1, in[i].len});
        }
        if (rc)
            break;      /* a failed put: not the cursor's next read */
    }
    if (!s && (rc == 0 || rc == MDB_NOTFOUND))
        rc = page_flush(&o);
    if (!s && rc)
        s = kv_err(db, rc, "renumbering chunk records");
    free(in);
    free(o.recs);
    return s;
}

/* vectors (a u32 key in native order) and the LSH buckets (u32 values,
 * sorted duplicates): the chunk ids map, their order stays. */
static int copy_vectors(lctx_db *db, renumber_map *m, MDB_cursor *src, MDB_cursor *dst,
                        int in_value)
{
    MDB_val k, v, last = {0, NULL};
    int rc;
    for (int op = MDB_FIRST; !(rc = mdb_cursor_get(src, &k, &v, op)); op = MDB_NEXT) {
        MDB_val *idv = in_value ? &v : &k;
        uint32_t id, to;
        size_t d;
        if (idv->mv_size != sizeof id)
            return store_err(db, LCTX_ECORRUPT, "%s/index: malformed vector entry", db->path);
        memcpy(&id, idv->mv_data, sizeof id);
        if (map_chunk(m, id, &to, &d))
            return unmapped(db, "vector of chunk", id);
        MDB_val nk = k, nv = v;
        *(in_value ? &nv : &nk) = (MDB_val){sizeof to, &to};
        int same = in_value && last.mv_data && k.mv_size == last.mv_size &&
                   memcmp(k.mv_data, last.mv_data, k.mv_size) == 0;
        if ((rc = mdb_cursor_put(dst, &nk, &nv, same ? MDB_APPENDDUP : MDB_APPEND)))
            break;
        last = k;
    }
    return rc == MDB_NOTFOUND ? LCTX_OK : kv_err(db, rc, "renumbering vectors");
}

int renumber_copy(lctx_db *db, renumber_map *m, const char *name, MDB_cursor *src,
                  MDB_cursor *dst, const store_stats *st)
{
    m->hint = 0;
    if (!strcmp(name, "terms"))
        return copy_terms(db, m, src, dst);
    if (!strcmp(name, "postings"))
        return copy_postings(db, m, src, dst);
    if (!strcmp(name, "chunks"))
        return copy_chunks(db, m, src, dst, st);
    if (!strcmp(name, "vectors") || !strcmp(name, "lsh"))
        return copy_vectors(db, m, src, dst, !strcmp(name, "lsh"));
    return LCTX_ENOTFOUND;   /* holds no ids: copied as it is */
}

/* ---------------------------------------------------------- the catalog */

/* Runs st (ids bound) once. */
static int step_once(lctx_db *db, sqlite3_stmt *st)
{
    int s = sqlite3_step(st);
    sqlite3_reset(st);
    return s == SQLITE_DONE ? LCTX_OK : catalog_fail(db, db->wdb, "renumbering");
}

/* Rows move in ascending order of their old ids. New ids are never larger
 * than old ones, and smaller ids have moved already, so an id a row takes
 * is free (the primary keys never collide on the way). */
static int move_rows(lctx_db *db, const renumber_map *m)
{
    sqlite3_stmt *sd = NULL, *sv = NULL;
    int rc = LCTX_OK;
    if (sqlite3_prepare_v2(db->wdb, "UPDATE documents SET doc_id=?1, first_chunk=?2 WHERE "
                           "doc_id=?3", -1, &sd, NULL) ||
        sqlite3_prepare_v2(db->wdb, "UPDATE vectors SET chunk_id=?1 WHERE chunk_id=?2", -1, &sv,
                           NULL))
        rc = catalog_fail(db, db->wdb, "renumbering");
    for (size_t i = 0; i < m->n && !rc; i++) {
        if (m->doc[i] == i + 1 && m->first[i] == m->nfirst[i])
            continue;
        sqlite3_bind_int64(sd, 1, (sqlite3_int64)i + 1);
        sqlite3_bind_int64(sd, 2, m->nfirst[i]);
        sqlite3_bind_int64(sd, 3, m->doc[i]);
        rc = step_once(db, sd);
        for (uint32_t j = 0; db->has_vectors && !rc && j < m->nfirst[i + 1] - m->nfirst[i]; j++) {
            sqlite3_bind_int64(sv, 1, (sqlite3_int64)m->nfirst[i] + j);
            sqlite3_bind_int64(sv, 2, (sqlite3_int64)m->first[i] + j);
            rc = step_once(db, sv);
        }
    }
    sqlite3_finalize(sd);
    sqlite3_finalize(sv);
    return rc;
}

/* A batch's range [first_doc, end_doc) becomes the new ids of the live
 * documents inside it (empty when none is left). */
static int move_batches(lctx_db *db, const renumber_map *m)
{
    sqlite3_stmt *sb = NULL, *su = NULL;
    int rc = LCTX_OK, s;
    if (sqlite3_prepare_v2(db->wdb, "SELECT seq, first_doc, end_doc FROM batches", -1, &sb, NULL) ||
        sqlite3_prepare_v2(db->wdb, "UPDATE batches SET first_doc=?1, end_doc=?2 WHERE seq=?3",
                           -1, &su, NULL))
        rc = catalog_fail(db, db->wdb, "renumbering");
    while (!rc && (s = sqlite3_step(sb)) == SQLITE_ROW) {
        sqlite3_int64 first = sqlite3_column_int64(sb, 1), end = sqlite3_column_int64(sb, 2);
        sqlite3_int64 nf = (sqlite3_int64)docs_below(m, (uint64_t)(first > 0 ? first : 0)) + 1,
                      ne = (sqlite3_int64)docs_below(m, (uint64_t)(end > 0 ? end : 0)) + 1;
        if (nf == first && ne == end)
            continue;
        sqlite3_bind_int64(su, 1, nf);
        sqlite3_bind_int64(su, 2, ne);
        sqlite3_bind_int64(su, 3, sqlite3_column_int64(sb, 0));
        rc = step_once(db, su);
    }
    if (!rc && s != SQLITE_DONE)
        rc = catalog_fail(db, db->wdb, "renumbering");
    sqlite3_finalize(sb);
    sqlite3_finalize(su);
    return rc;
}

int renumber_catalog(lctx_db *db, const renumber_map *m)
{
    char sql[160];
    int rc = move_rows(db, m);
    if (!rc)
        rc = move_batches(db, m);
    snprintf(sql, sizeof sql, "INSERT OR REPLACE INTO config VALUES('next_doc',%llu),"
             "('next_chunk',%llu);", (unsigned long long)m->n + 1,
             (unsigned long long)m->nfirst[m->n]);
    return rc ? rc : catalog_exec(db, db->wdb, sql);
}
