/*
 * pblock.c — the postings block codec.
 *
 * A term's postings are cut into blocks of up to STORE_BLOCK (128) entries,
 * each stored under the LMDB key (term id, last chunk id in the block), both
 * big-endian so keys sort by term and then by chunk. Keying by the *last*
 * chunk lets a cursor jump to the only block that may contain chunk c with a
 * single MDB_SET_RANGE on (term, c): the basis of skipping in block-max WAND.
 *
 * Each block starts with a small header the query loop reads without
 * decoding the entries: count, first chunk id, the block's largest term
 * frequency (tf_text + w * tf_title, as a float rounded up) and its smallest
 * chunk length. BM25 grows with tf and shrinks with length, so
 * bm25(max_tf, min_len) bounds every score in the block, under any avgdl:
 * block bounds never need rewriting when collection statistics move.
 *
 * Entries are varints: chunk-id delta from the previous entry (the first
 * entry is the header's first id), then tf_text << 1 | has_title, then
 * tf_title when present. Titles are short and most chunks do not match them,
 * so the common entry costs two bytes.
 */
#include <string.h>

#include "store/store.h"

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

void pblock_key(uint8_t key[8], uint32_t term_id, uint32_t last_chunk)
{
    put_be32(key, term_id);
    put_be32(key + 4, last_chunk);
}

void pblock_key_parse(const uint8_t key[8], uint32_t *term_id, uint32_t *last_chunk)
{
    *term_id = get_be32(key);
    *last_chunk = get_be32(key + 4);
}

size_t pblock_encode(const store_posting *p, size_t n, float max_tf, uint32_t min_len,
                     uint8_t *out)
{
    size_t w = 0;
    w += store_varint_put(out + w, (uint32_t)n);
    w += store_varint_put(out + w, p[0].chunk);
    memcpy(out + w, &max_tf, sizeof max_tf);
    w += sizeof max_tf;
    w += store_varint_put(out + w, min_len);
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            w += store_varint_put(out + w, p[i].chunk - p[i - 1].chunk);
        w += store_varint_put(out + w, p[i].tf_text << 1 | (p[i].tf_title ? 1u : 0u));
        if (p[i].tf_title)
            w += store_varint_put(out + w, p[i].tf_title);
    }
    return w;
}

int pblock_header_read(const uint8_t *buf, size_t len, pblock_header *h)
{
    size_t pos = 0;
    if (store_varint_get(buf, len, &pos, &h->count) || h->count == 0 || h->count > STORE_BLOCK)
        return -1;
    if (store_varint_get(buf, len, &pos, &h->first))
        return -1;
    if (pos + sizeof h->max_tf > len)
        return -1;
    memcpy(&h->max_tf, buf + pos, sizeof h->max_tf);
    pos += sizeof h->max_tf;
    if (store_varint_get(buf, len, &pos, &h->min_len))
        return -1;
    h->header_bytes = pos;
    return 0;
}

int pblock_decode(const uint8_t *buf, size_t len, pblock_header *h, store_posting *out)
{
    if (pblock_header_read(buf, len, h))
        return -1;
    size_t pos = h->header_bytes;
    uint32_t chunk = h->first;
    for (uint32_t i = 0; i < h->count; i++) {
        uint32_t d = 0, tf, tt = 0;
        if (i > 0) {
            if (store_varint_get(buf, len, &pos, &d) || d == 0 || chunk + d < chunk)
                return -1;
            chunk += d;
        }
        if (store_varint_get(buf, len, &pos, &tf))
            return -1;
        if ((tf & 1) && (store_varint_get(buf, len, &pos, &tt) || tt == 0))
            return -1;
        out[i].chunk = chunk;
        out[i].tf_text = tf >> 1;
        out[i].tf_title = tt;
    }
    return pos == len ? 0 : -1;
}
