/*
 * spans.c — a document's chunk spans as the catalog stores them.
 *
 * Format version 1 kept one row per chunk in a `chunks` table (chunk id,
 * document, ordinal, start, end) with an index on the document: per chunk a
 * table insert and an index insert, on the thread that is the bottleneck of
 * indexing short documents. Nothing ever looked a chunk up by anything but
 * its id or its document, and a document's chunk ids are already the range
 * [first_chunk, first_chunk + n_chunks) in its row, while LMDB's chunk
 * records map a chunk id to its document. So format version 2 keeps only
 * the byte ranges, as one small blob in the document's row:
 *
 *     per span: varint (start - end of the previous span, 0 for the first)
 *               varint (end - start)
 *
 * which is two or three bytes for the usual one-chunk document. Readers
 * (replay, snippets, phrase checks) fetch the row by document id and decode
 * span number chunk - first_chunk.
 *
 * Varints are LEB128 (7 bits per byte, low first), as in the postings
 * blocks. Decoding checks every bound, so a damaged row is reported as
 * corrupt rather than read past.
 */
#include "indexer/indexer.h"

static size_t put_varint(uint8_t *out, uint32_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        out[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    out[n++] = (uint8_t)v;
    return n;
}

/* Reads a varint at *pos; -1 past the end or beyond 32 bits. */
static int get_varint(const uint8_t *b, size_t len, size_t *pos, uint32_t *v)
{
    uint64_t x = 0;
    for (int shift = 0; shift < 35; shift += 7) {
        if (*pos >= len)
            return -1;
        uint8_t c = b[(*pos)++];
        x |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) {
            if (x > UINT32_MAX)
                return -1;
            *v = (uint32_t)x;
            return 0;
        }
    }
    return -1;
}

size_t chunk_spans_encode(const chunk_span *spans, size_t n, uint8_t *out)
{
    size_t len = 0;
    uint32_t prev = 0;
    for (size_t i = 0; i < n; i++) {
        len += put_varint(out + len, spans[i].start - prev);
        len += put_varint(out + len, spans[i].end - spans[i].start);
        prev = spans[i].end;
    }
    return len;
}

/* Decodes the next span after prev; -1 when malformed. */
static int next_span(const uint8_t *b, size_t len, size_t *pos, uint32_t prev, chunk_span *out)
{
    uint32_t gap, width;
    if (get_varint(b, len, pos, &gap) || get_varint(b, len, pos, &width))
        return -1;
    uint64_t start = (uint64_t)prev + gap, end = start + width;
    if (end > UINT32_MAX)
        return -1;
    out->start = (uint32_t)start;
    out->end = (uint32_t)end;
    return 0;
}

int chunk_spans_decode(const void *blob, size_t len, size_t n, size_t text_len,
                       chunk_span *out)
{
    const uint8_t *b = blob;
    size_t pos = 0;
    uint32_t prev = 0;
    if (n && !b)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (next_span(b, len, &pos, prev, &out[i]) || out[i].end > text_len)
            return -1;
        prev = out[i].end;
    }
    return pos == len ? 0 : -1;
}

int chunk_span_at(const void *blob, size_t len, size_t i, chunk_span *out)
{
    const uint8_t *b = blob;
    size_t pos = 0;
    chunk_span s = {0, 0};
    if (!b)
        return -1;
    for (size_t k = 0; k <= i; k++)
        if (next_span(b, len, &pos, s.end, &s))
            return -1;
    *out = s;
    return 0;
}
