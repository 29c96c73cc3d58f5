/*
 * chunkpage.c — the two forms of a page of chunk records in LMDB "chunks".
 *
 * Chunk ids only grow and are never reused, and a page holds the records
 * of 1024 consecutive ids (STORE_PAGE). A fresh batch fills its pages
 * densely: an array of store_chunkrec up to the highest used slot, which
 * the query loop indexes directly. Compaction clears the records of
 * deleted chunks to {0, 0}, and a page keeps its full length as long as
 * one record in it is live. A collection whose stable documents sit among
 * ones replaced every day keeps a few live chunks in nearly every page:
 * after 200 days of 500 upserts and 20 new documents a day, its chunk
 * pages took 1.25 MB against 61 KB for a fresh build of the same
 * documents, and the index was 2.2x the fresh one (tools/churn.sh).
 *
 * So a page whose live records are few is stored sparse (format 4):
 *
 *   u32 count | 128-byte bitmap, bit i = slot i holds a record |
 *   count records, in slot order
 *
 * 132 + 8 * count bytes, which is 4 modulo 8, where a dense page is a
 * multiple of 8: the size says which form a value is. Writers choose the
 * smaller form each time they store a page (chunk_page_sparse_size), so a
 * page goes back to dense as later batches fill it. A slot's record in a
 * sparse page is found by its rank: the bits set before it, from a prefix
 * count per 64-bit word that kv_chunk computes once per page it loads.
 *
 * Format 3 indexes have only dense pages, and an lctx that knows only
 * format 3 would read a sparse page as garbage records, so sparse pages
 * are written only into an index whose statistics say format 4
 * (chunk_page_sparse_ok). Compaction raises a format 3 index to 4 before
 * it rewrites pages; every new index starts at 4.
 */
#include <string.h>

#include "store/store.h"

#define SPARSE_HEAD 4u
#define SPARSE_BITMAP (STORE_PAGE / 8)

int chunk_page_sparse_ok(const store_stats *st)
{
    return st->format_version >= 4;
}

static int rec_used(const store_chunkrec *r)
{
    return r->doc != 0 || r->len != 0;
}

size_t chunk_page_sparse_size(const store_chunkrec *recs, uint32_t n)
{
    size_t count = 0;
    for (uint32_t i = 0; i < n; i++)
        count += (size_t)rec_used(&recs[i]);
    return SPARSE_HEAD + SPARSE_BITMAP + count * sizeof *recs;
}

size_t chunk_page_size(const store_chunkrec *recs, uint32_t n, const store_stats *st)
{
    size_t dense = n * sizeof *recs;
    if (!chunk_page_sparse_ok(st))
        return dense;
    size_t sparse = chunk_page_sparse_size(recs, n);
    return sparse < dense ? sparse : dense;
}

int chunk_page_put(MDB_txn *txn, MDB_dbi dbi, MDB_val *key, const store_chunkrec *recs,
                   uint32_t n, const store_stats *st, unsigned flags)
{
    MDB_val v = {chunk_page_size(recs, n, st), (void *)recs};
    int sparse = chunk_page_sparse(v.mv_size);
    /* the sparse form is written in place, into the room LMDB reserves */
    int rc = mdb_put(txn, dbi, key, &v, flags | (sparse ? MDB_RESERVE : 0));
    if (!rc && sparse)
        chunk_page_sparse_write(recs, n, v.mv_data);
    return rc;
}

void chunk_page_sparse_write(const store_chunkrec *recs, uint32_t n, void *out)
{
    uint8_t *p = out, *bits = p + SPARSE_HEAD, *dst = bits + SPARSE_BITMAP;
    uint32_t count = 0;
    memset(bits, 0, SPARSE_BITMAP);
    for (uint32_t i = 0; i < n; i++) {
        if (!rec_used(&recs[i]))
            continue;
        bits[i >> 3] |= (uint8_t)(1u << (i & 7));
        memcpy(dst + (size_t)count * sizeof *recs, &recs[i], sizeof *recs);
        count++;
    }
    memcpy(p, &count, sizeof count);
}

/* The bitmap's word w (slots 64w .. 64w+63), bit j = slot 64w + j. Bytes,
 * not a native u64, so the form does not depend on the byte order. */
static uint64_t bitmap_word(const uint8_t *bits, uint32_t w)
{
    uint64_t x = 0;
    for (int b = 7; b >= 0; b--)
        x = x << 8 | bits[w * 8 + (uint32_t)b];
    return x;
}

int chunk_page_decode(const void *v, size_t size, store_chunkrec *recs, uint32_t *n)
{
    const uint8_t *p = v;
    memset(recs, 0, STORE_PAGE * sizeof *recs);
    *n = 0;
    if (size % sizeof *recs == 0) {     /* dense */
        if (size > STORE_PAGE * sizeof *recs)
            return -1;
        memcpy(recs, v, size);
        *n = (uint32_t)(size / sizeof *recs);
        return 0;
    }
    uint32_t count;
    if (size < SPARSE_HEAD + SPARSE_BITMAP)
        return -1;
    memcpy(&count, p, sizeof count);
    if (count == 0 || count > STORE_PAGE ||
        size != SPARSE_HEAD + SPARSE_BITMAP + (size_t)count * sizeof *recs)
        return -1;
    const uint8_t *bits = p + SPARSE_HEAD, *src = bits + SPARSE_BITMAP;
    uint32_t k = 0;
    for (uint32_t i = 0; i < STORE_PAGE; i++) {
        if (!(bits[i >> 3] >> (i & 7) & 1))
            continue;
        if (k == count)
            return -1;          /* more bits than records */
        memcpy(&recs[i], src + (size_t)k * sizeof *recs, sizeof *recs);
        if (!rec_used(&recs[i]))
            return -1;          /* a sparse page stores only records */
        k++;
        *n = i + 1;
    }
    return k == count ? 0 : -1;
}

int chunk_page_sparse(size_t size)
{
    return size % sizeof(store_chunkrec) != 0;
}

int chunk_page_load(kv_page_cache *pc, uint32_t page, const void *v, size_t size)
{
    const uint8_t *p = v;
    pc->page = page;
    if (!chunk_page_sparse(size)) {
        if (size > STORE_PAGE * sizeof(store_chunkrec))
            return -1;
        pc->bits = NULL;
        pc->recs = v;
        pc->n = (uint32_t)(size / sizeof(store_chunkrec));
        return 0;
    }
    uint32_t count;
    if (size < SPARSE_HEAD + SPARSE_BITMAP)
        return -1;
    memcpy(&count, p, sizeof count);
    if (size != SPARSE_HEAD + SPARSE_BITMAP + (size_t)count * sizeof(store_chunkrec))
        return -1;
    pc->bits = p + SPARSE_HEAD;
    pc->recs = (const void *)(pc->bits + SPARSE_BITMAP);
    pc->n = count;
    uint32_t rank = 0;
    for (uint32_t w = 0; w < STORE_PAGE / 64; w++) {
        pc->rank[w] = (uint16_t)rank;
        rank += (uint32_t)__builtin_popcountll(bitmap_word(pc->bits, w));
    }
    /* kv_chunk trusts the ranks to stay below count (lctx_check looks at
     * the rest) */
    return rank == count ? 0 : -1;
}

int chunk_page_get(const kv_page_cache *pc, uint32_t slot, store_chunkrec *out)
{
    if (!pc->bits) {
        if (slot >= pc->n)
            return MDB_NOTFOUND;
        memcpy(out, &pc->recs[slot], sizeof *out);
        return out->len == 0 && out->doc == 0 ? MDB_NOTFOUND : 0;
    }
    /* rank = records before slot = the word's prefix count plus the bits
     * below slot's in its word */
    uint64_t word = bitmap_word(pc->bits, slot >> 6), below = (1ull << (slot & 63)) - 1;
    if (!(word >> (slot & 63) & 1))
        return MDB_NOTFOUND;
    uint32_t r = pc->rank[slot >> 6] + (uint32_t)__builtin_popcountll(word & below);
    memcpy(out, (const uint8_t *)pc->recs + (size_t)r * sizeof *out, sizeof *out);
    return 0;
}
