/*
 * docset.c — a set of document ids, as a bitmap.
 *
 * A metadata filter (lctx_search_opts.filter) turns into the set of
 * documents it allows, and a -word into the set of documents it excludes;
 * both recalls (BM25 in bm25.c, vectors in vsearch.c and vcache.c) test
 * candidates against them, so membership must be one load: one bit per
 * document id up to the largest id added. Vector recall takes one allowed
 * set only, so constrain.c folds the exclusions into it (fill, subtract).
 * Document ids are dense (assigned in order), so the bitmap stays small:
 * 125 KB for a million documents. docset_has is inline in query.h.
 */
#include <stdlib.h>
#include <string.h>

#include "query/query.h"

int docset_add(docset *s, uint32_t doc)
{
    if (!s->bits || doc > s->max) {
        uint32_t max = s->bits ? s->max : 0;
        uint32_t nmax = doc > 2 * max + 1023 ? doc : 2 * max + 1023;
        uint8_t *b = realloc(s->bits, (size_t)nmax / 8 + 1);
        if (!b)
            return -1;
        size_t old = s->bits ? (size_t)max / 8 + 1 : 0;
        memset(b + old, 0, (size_t)nmax / 8 + 1 - old);
        s->bits = b;
        s->max = nmax;
    }
    s->bits[doc >> 3] |= (uint8_t)(1u << (doc & 7));
    return 0;
}

void docset_free(docset *s)
{
    free(s->bits);
    s->bits = NULL;
    s->max = 0;
}

int docset_fill(docset *s, uint32_t max)
{
    if (docset_add(s, max))
        return -1;
    memset(s->bits, 0xff, (size_t)max / 8);
    for (uint32_t d = max & ~7u; d <= max; d++)
        s->bits[d >> 3] |= (uint8_t)(1u << (d & 7));
    return 0;
}

void docset_remove(docset *s, uint32_t doc)
{
    if (s->bits && doc <= s->max)
        s->bits[doc >> 3] &= (uint8_t)~(1u << (doc & 7));
}

void docset_subtract(docset *s, const docset *b)
{
    if (!s->bits || !b->bits)
        return;
    size_t n = (size_t)(s->max < b->max ? s->max : b->max) / 8 + 1;
    for (size_t i = 0; i < n; i++)
        s->bits[i] &= (uint8_t)~b->bits[i];
}
