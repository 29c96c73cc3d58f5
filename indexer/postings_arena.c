/*
 * postings_arena.c — the postings builder's memory: blocks of huge pages,
 * and its short lists, which double there.
 *
 * A builder allocates a term entry for every distinct term of a batch and a
 * postings list for each, and frees nothing until the batch ends; so it
 * takes its memory from blocks it owns (a bump allocator) and gives it all
 * back at once. The blocks double from ARENA_BLOCK, one 2 MiB huge page, up
 * to ARENA_BLOCK_MAX, all 2 MiB aligned and advised as transparent huge
 * pages: first touches of fresh memory (page faults, expensive under
 * virtualisation) were a tenth of the builder's time with 4 KiB pages. The
 * first block used to be 64 KiB, doubling in 4 KiB pages up to 2 MiB: 512
 * faults where a huge page costs one, and a batch of a thousand abstracts
 * fills it.
 *
 * A list starts with room for two postings and doubles, moving each time;
 * up to POSTINGS_ARENA_LIST bytes it lives in the blocks, past that on the
 * heap (realloc). Most terms of a batch have a handful of postings, and
 * per-list realloc used to be the builder's largest cost. The copy a
 * doubling leaves goes on a free list of its size (POSTINGS_ARENA_CLASSES
 * of them, 16 bytes to POSTINGS_ARENA_LIST), from which the next list to
 * need that size takes it before the blocks grow: abandoned, those copies
 * were as many bytes as the lists themselves, and every new block is a
 * huge page or more to fault in (lisa's builds faulted 4-5 huge pages,
 * now 2-3; docs/ARCHITECTURE.md). The free lists thread through the
 * copies themselves: a copy's first 8 bytes point at the next.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "indexer/indexer.h"
#include "store/store.h"

#define ARENA_HUGE ((size_t)2 << 20)
#define ARENA_BLOCK ARENA_HUGE
#define ARENA_BLOCK_MAX ((size_t)8 << 20)

typedef struct arena_block {
    struct arena_block *next;
    size_t used, cap;
    char data[];
} arena_block;

/* A block of sizeof(arena_block) + cap bytes (at least ARENA_BLOCK, see
 * postings_arena_alloc), huge-page backed (the advice is only a hint:
 * without THP it is a plain allocation). */
static arena_block *block_new(size_t cap)
{
    size_t bytes = sizeof(arena_block) + cap;
    void *p = NULL;
    if (posix_memalign(&p, ARENA_HUGE, bytes))
        return NULL;
#ifdef MADV_HUGEPAGE
    madvise(p, bytes & ~(ARENA_HUGE - 1), MADV_HUGEPAGE);
#endif
    return p;
}

void *postings_arena_alloc(postings_arena *a, size_t n)
{
    n = (n + 7) & ~(size_t)7;
    if (!a->blocks || a->blocks->used + n > a->blocks->cap) {
        /* A block a rewind set aside first: its pages are faulted in. */
        for (arena_block **q = &a->idle; *q; q = &(*q)->next)
            if ((*q)->cap >= n) {
                arena_block *r = *q;
                *q = r->next;
                r->used = 0;
                r->next = a->blocks;
                a->blocks = r;
                goto take;
            }
        size_t want = a->next_block ? a->next_block : ARENA_BLOCK;
        size_t cap = n > want - sizeof(arena_block) ? n : want - sizeof(arena_block);
        arena_block *b = block_new(cap);
        if (!b)
            return NULL;
        if (want < ARENA_BLOCK_MAX)
            a->next_block = want * 2;
        b->next = a->blocks;
        b->used = 0;
        b->cap = cap;
        a->blocks = b;
    }
take:;
    void *p = a->blocks->data + a->blocks->used;
    a->blocks->used += n;
    return p;
}

int postings_arena_warm(postings_arena *a)
{
    if (a->blocks)
        return 0;
    /* A new block's header is written at once: that is its first touch. */
    return postings_arena_alloc(a, 0) ? 0 : -1;
}

size_t postings_arena_used(const postings_arena *a)
{
    size_t n = 0;
    for (const arena_block *b = a->blocks; b; b = b->next)
        n += b->used;
    return n;
}

static void free_blocks(arena_block *b)
{
    while (b) {
        arena_block *next = b->next;
        free(b);
        b = next;
    }
}

void postings_arena_free(postings_arena *a)
{
    free_blocks(a->blocks);
    free_blocks(a->idle);
    memset(a, 0, sizeof *a);
}

void postings_arena_rewind(postings_arena *a)
{
    while (a->blocks) {
        arena_block *b = a->blocks;
        a->blocks = b->next;
        b->next = a->idle;
        a->idle = b;
    }
    memset(a->spare, 0, sizeof a->spare);
}

/* The size class of a list of `bytes` in the arena (16 << k). */
static unsigned list_class(size_t bytes)
{
    return (unsigned)__builtin_ctzll(bytes) - 4;
}

/* Room for a list of `bytes`: a spare one of that size if any. */
static store_bposting *list_alloc(postings_arena *a, size_t bytes)
{
    void **spare = &a->spare[list_class(bytes)];
    void *p = *spare;
    if (!p)
        return postings_arena_alloc(a, bytes);
    memcpy(spare, p, sizeof p);
    return p;
}

void postings_arena_list_spare(postings_arena *a, store_bposting *p, size_t cap)
{
    void **spare = &a->spare[list_class(cap * sizeof *p)];
    memcpy(p, spare, sizeof *spare);
    *spare = p;
}

store_bposting *postings_arena_list_double(postings_arena *a, store_bposting *p, size_t n,
                                           size_t cap, uint32_t *heap)
{
    size_t bytes = (cap ? cap * 2 : 2) * sizeof *p;
    if (*heap)
        return realloc(p, bytes);
    store_bposting *q = bytes <= POSTINGS_ARENA_LIST ? list_alloc(a, bytes) : malloc(bytes);
    if (!q)
        return NULL;
    if (n)
        memcpy(q, p, n * sizeof *p);
    if (bytes > POSTINGS_ARENA_LIST)
        *heap = 1;
    return q;
}
