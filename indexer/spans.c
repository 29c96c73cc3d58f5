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
 * Varints are LEB128 (7 bits per byte, low first), the postings blocks' own
 * codec (store_varint_put / store_varint_get, store/store.h). Decoding checks every bound, so a damaged row is reported as
 * corrupt rather than read past.
 */
#include "indexer/indexer.h"
#include "store/store.h"

size_t chunk_spans_encode(const chunk_span *spans, size_t n, uint8_t *out)
{
    size_t len = 0;
    uint32_t prev = 0;
    for (size_t i = 0; i < n; i++) {
        len += store_varint_put(out + len, spans[i].start - prev);
        len += store_varint_put(out + len, spans[i].end - spans[i].start);
        prev = spans[i].end;
    }
    return len;
}

/* Decodes the next span after prev; -1 when malformed. */
static int next_span(const uint8_t *b, size_t len, size_t *pos, uint32_t prev, chunk_span *out)
{
    uint32_t gap, width;
    if (store_varint_get(b, len, pos, &gap) || store_varint_get(b, len, pos, &width))
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
