/*
 * postings_build.c — the in-memory postings of one write batch.
 *
 * Tokens stream in chunk by chunk. Each distinct term has one entry in an
 * open-addressing hash table holding its postings list for the batch; since
 * chunks arrive in id order, a token either bumps the tf of the term's last
 * posting (same chunk) or appends a new posting, so no per-chunk counting
 * table is needed and every list comes out sorted.
 *
 * Titles are indexed BM25F style: a document's title tokens are added to
 * each of its chunks as tf_title (weighted at query time by title_weight),
 * and count into the chunk's length. So a title match lifts every chunk of
 * the document, and the document's best chunk still decides its score.
 */
#include <stdlib.h>
#include <string.h>

#include "indexer/indexer.h"
#include "store/store.h"

#define ARENA_BLOCK (64 * 1024)

typedef struct arena_block {
    struct arena_block *next;
    size_t used, cap;
    char data[];
} arena_block;

/* A term's list as the builder keeps it: the public view first, so a
 * pb_entry pointer is also a store_term_postings pointer. */
typedef struct pb_entry {
    store_term_postings tp;
    uint32_t last_chunk;           /* chunk of the last posting, UINT32_MAX if none */
} pb_entry;

struct postings_builder {
    pb_entry **slots;              /* hash table, NULL = empty */
    store_term_postings **entries; /* insertion order */
    size_t n_entries, cap_entries;
    size_t n_slots;                /* power of two */
    arena_block *arena;
    store_chunkrec *chunks;
    size_t n_chunks, cap_chunks;
    uint32_t first_chunk;
    uint32_t *tomb;
    size_t n_tomb, cap_tomb;
    size_t bytes;
    store_term_postings **sorted;
};

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return h ^ (h >> 29);
}

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap * 2 : 64;
    while (n < need)
        n *= 2;
    void *q = realloc(*p, n * elem);
    if (!q)
        return -1;
    *p = q;
    *cap = n;
    return 0;
}

postings_builder *postings_build_new(void)
{
    postings_builder *pb = calloc(1, sizeof *pb);
    if (!pb)
        return NULL;
    pb->n_slots = 1024;
    pb->slots = calloc(pb->n_slots, sizeof *pb->slots);
    if (!pb->slots) {
        free(pb);
        return NULL;
    }
    return pb;
}

void postings_build_free(postings_builder *pb)
{
    if (!pb)
        return;
    for (size_t i = 0; i < pb->n_entries; i++)
        free(pb->entries[i]->p);
    while (pb->arena) {
        arena_block *next = pb->arena->next;
        free(pb->arena);
        pb->arena = next;
    }
    free(pb->slots);
    free(pb->entries);
    free(pb->chunks);
    free(pb->tomb);
    free(pb->sorted);
    free(pb);
}

static void *arena_alloc(postings_builder *pb, size_t n)
{
    n = (n + 7) & ~(size_t)7;
    if (!pb->arena || pb->arena->used + n > pb->arena->cap) {
        size_t cap = n > ARENA_BLOCK ? n : ARENA_BLOCK;
        arena_block *b = malloc(sizeof *b + cap);
        if (!b)
            return NULL;
        b->next = pb->arena;
        b->used = 0;
        b->cap = cap;
        pb->arena = b;
        pb->bytes += cap;
    }
    void *p = pb->arena->data + pb->arena->used;
    pb->arena->used += n;
    return p;
}

static int rehash(postings_builder *pb)
{
    size_t n = pb->n_slots * 2;
    pb_entry **slots = calloc(n, sizeof *slots);
    if (!slots)
        return -1;
    for (size_t i = 0; i < pb->n_slots; i++) {
        pb_entry *e = pb->slots[i];
        if (!e)
            continue;
        size_t j = hash_bytes(e->tp.term, e->tp.len) & (n - 1);
        while (slots[j])
            j = (j + 1) & (n - 1);
        slots[j] = e;
    }
    free(pb->slots);
    pb->slots = slots;
    pb->n_slots = n;
    return 0;
}

/* Finds or creates the entry of term. */
static pb_entry *lookup(postings_builder *pb, const char *term, size_t len)
{
    size_t mask = pb->n_slots - 1, j = hash_bytes(term, len) & mask;
    for (pb_entry *e; (e = pb->slots[j]); j = (j + 1) & mask)
        if (e->tp.len == len && memcmp(e->tp.term, term, len) == 0)
            return e;
    if (grow((void **)&pb->entries, &pb->cap_entries, pb->n_entries + 1, sizeof *pb->entries))
        return NULL;
    pb_entry *e = arena_alloc(pb, sizeof *e + len + 1);
    if (!e)
        return NULL;
    char *s = (char *)(e + 1);
    memcpy(s, term, len);
    s[len] = 0;
    memset(e, 0, sizeof *e);
    e->tp.term = s;
    e->tp.len = (uint32_t)len;
    e->last_chunk = UINT32_MAX;
    pb->entries[pb->n_entries++] = &e->tp;
    pb->slots[j] = e;
    if (pb->n_entries * 2 > pb->n_slots && rehash(pb))
        return NULL;
    return e;
}

static int add_token(postings_builder *pb, const char *term, size_t len, uint32_t chunk,
                     int title)
{
    pb_entry *e = lookup(pb, term, len);
    if (!e)
        return -1;
    store_term_postings *tp = &e->tp;
    if (e->last_chunk != chunk) {
        if (tp->n == tp->cap) {
            size_t ncap = tp->cap ? tp->cap * 2 : 2;
            store_posting *p = realloc(tp->p, ncap * sizeof *p);
            if (!p)
                return -1;
            pb->bytes += (ncap - tp->cap) * sizeof *p;
            tp->p = p;
            tp->cap = ncap;
        }
        tp->p[tp->n++] = (store_posting){chunk, 0, 0};
        e->last_chunk = chunk;
    }
    if (title)
        tp->p[tp->n - 1].tf_title++;
    else
        tp->p[tp->n - 1].tf_text++;
    return 0;
}

int postings_build_chunk(postings_builder *pb, uint32_t chunk, uint32_t doc,
                         const tok_list *text, const tok_list *title, uint32_t *len)
{
    if (pb->n_chunks == 0)
        pb->first_chunk = chunk;
    else if (chunk != pb->first_chunk + pb->n_chunks)
        return -1;
    if (grow((void **)&pb->chunks, &pb->cap_chunks, pb->n_chunks + 1, sizeof *pb->chunks))
        return -1;
    for (size_t i = 0; text && i < text->n; i++)
        if (add_token(pb, tok_term(text, i), text->tokens[i].term_len, chunk, 0))
            return -1;
    for (size_t i = 0; title && i < title->n; i++)
        if (add_token(pb, tok_term(title, i), title->tokens[i].term_len, chunk, 1))
            return -1;
    uint32_t n = (uint32_t)((text ? text->n : 0) + (title ? title->n : 0));
    if (n > STORE_LEN_MASK)
        n = STORE_LEN_MASK;
    pb->chunks[pb->n_chunks++] = (store_chunkrec){doc, n};
    *len = n;
    return 0;
}

int postings_build_tomb(postings_builder *pb, uint32_t first, uint32_t n)
{
    if (grow((void **)&pb->tomb, &pb->cap_tomb, pb->n_tomb + n, sizeof *pb->tomb))
        return -1;
    for (uint32_t i = 0; i < n; i++)
        pb->tomb[pb->n_tomb++] = first + i;
    return 0;
}

static int cmp_term(const void *a, const void *b)
{
    const store_term_postings *x = *(store_term_postings *const *)a;
    const store_term_postings *y = *(store_term_postings *const *)b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->term, y->term, n);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

int postings_build_finish(postings_builder *pb, struct store_batch *out)
{
    free(pb->sorted);
    pb->sorted = malloc((pb->n_entries ? pb->n_entries : 1) * sizeof *pb->sorted);
    if (!pb->sorted)
        return -1;
    if (pb->n_entries)
        memcpy(pb->sorted, pb->entries, pb->n_entries * sizeof *pb->sorted);
    qsort(pb->sorted, pb->n_entries, sizeof *pb->sorted, cmp_term);
    out->terms = pb->sorted;
    out->n_terms = pb->n_entries;
    out->first_chunk = pb->first_chunk;
    out->chunks = pb->chunks;
    out->n_chunks = pb->n_chunks;
    out->tomb = pb->tomb;
    out->n_tomb = pb->n_tomb;
    return 0;
}

size_t postings_build_bytes(const postings_builder *pb)
{
    return pb->bytes + pb->cap_chunks * sizeof(store_chunkrec) + pb->n_slots * sizeof(void *);
}
