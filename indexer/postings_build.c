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
 *
 * Speed (this runs once per token of the corpus, on the worker thread):
 *  - most tokens skip the hash table: the tokenizer's word cache slot that
 *    produced the token carries a tag (tok_slot_tag), where the builder
 *    keeps the number of the term's entry. The tokenizer checks the slot
 *    still holds the term, and the builder's owner number (tok_new_owner)
 *    makes any nonzero tag one it set itself, so a token costs one read of
 *    that slot (just touched by the tokenizer, so in cache) instead of a
 *    hash and a probe of a table far larger than the cache;
 *  - until the builder is sorted, what a token updates (the list, its
 *    length and room, the chunk of its last posting) sits in a dense array
 *    by entry id (pb_hot, 24 bytes), not in the entry: entries lie at any
 *    8-byte offset of the arena, and reading one cost a cache miss or two
 *    per token (add_token went from 14 to 11 % of a lisa build's CPU);
 *  - the hash table keeps each term's 32-bit hash next to its pointer, so a
 *    probe that misses never touches the entry's memory; the hash reads the
 *    term eight bytes at a time;
 *  - postings lists start in the builder's arena of huge pages and move
 *    there as they double, the copy they leave going to the next list of
 *    that size (postings_arena.c); most terms of a batch have a handful of
 *    postings, and per-list realloc used to be the builder's largest cost;
 *  - finish sorts the terms by an 8-byte big-endian prefix first (a radix
 *    sort) and calls memcmp only on ties, which the qsort of full strings
 *    did every time.
 *
 * A batch may be built in two pieces, one per thread (write.c: the caller
 * tokenizes a document itself whenever the worker's queue is full, and
 * shares the worker's backlog at commit), each piece a builder fed its
 * documents in id order. The pieces interleave, so a builder's chunk
 * records may have holes (PB_HOLE) where the other piece's chunks go, and
 * postings_build_merge fills them, joins the two sorted term lists (each
 * thread sorts its own piece when it is done: postings_build_sort) and
 * gives a term found in both the other piece's list as a second one
 * (store_term_postings.p2), which apply merges by chunk id as it encodes:
 * copying every shared term's postings at the merge took lisa's merge 2.2
 * ms, linking them 0.3 (a third piece's lists are merged by copying). No
 * chunk is in both pieces (a document goes to one), so the batch holds
 * exactly what one builder fed every document in order would; finish
 * refuses a builder with a hole left.
 *
 * A piece that outgrows the batch's memory writes its sorted terms to a
 * run on disk (write.c, spill.c) and drops them (postings_build_drop_terms):
 * the builder starts over empty but keeps its chunk records, tombstones
 * and exact counts, whose terms it copies out of the arena it reuses.
 */
#include <stdlib.h>
#include <string.h>

#include "indexer/indexer.h"
#include "store/store.h"

/* A term's list as the builder keeps it: the public view first, so a
 * pb_entry pointer is also a store_term_postings pointer. */
typedef struct pb_entry {
    store_term_postings tp;
    uint32_t last_chunk;           /* chunk of the last posting, UINT32_MAX if none */
    uint32_t heap;                 /* 1: tp.p is malloc'd, else it lives in the arena */
    uint32_t id;                   /* index in entries[] */
    uint64_t prefix;               /* first 8 term bytes, big-endian: the sort key */
} pb_entry;

/* A chunk record not (yet) filled: the other piece of the batch has it.
 * Real lengths never reach it (STORE_LEN_MASK). */
#define PB_HOLE UINT32_MAX

typedef struct pb_slot {
    pb_entry *e;                   /* NULL = empty */
    uint32_t hash;
} pb_slot;

/* What a token touches of its term while the builder takes tokens, apart
 * from the entry, in an array by entry id: 24 bytes, where the entry and
 * its term (56 bytes and more, at any 8-byte offset of the arena) cost one
 * or two cache misses per token. The entry's own fields take these over
 * when the builder is sorted (sync_hot). */
typedef struct pb_hot {
    store_bposting *p;             /* the term's postings list */
    uint32_t n, cap;
    uint32_t last_chunk;           /* chunk of the last posting, UINT32_MAX if none */
    uint32_t heap;                 /* 1: p is malloc'd, else it lives in the arena */
} pb_hot;

struct postings_builder {
    pb_slot *slots;                /* hash table, open addressing, linear probing */
    store_term_postings **entries; /* insertion order */
    size_t n_entries, cap_entries;
    pb_hot *hot;                   /* by entry id until sorted, then NULL */
    size_t cap_hot;
    tok_tokenizer *owner_tok;      /* the tokenizer whose cache tags name our entries */
    uint32_t owner;                /* our owner number there (tok_new_owner) */
    size_t n_slots;                /* power of two */
    postings_arena arena;          /* entries and short lists (postings_arena.c) */
    store_chunkrec *chunks;        /* chunk first_chunk + i at i, holes PB_HOLE */
    size_t n_chunks, cap_chunks;   /* n_chunks: the range, holes included */
    size_t n_filled;               /* records that are not holes */
    int holes_ok;                  /* postings_build_allow_holes */
    uint32_t first_chunk;
    uint32_t *tomb;
    size_t n_tomb, cap_tomb;
    store_wide *wide;              /* exact counts of postings at STORE_TF_WIDE */
    size_t n_wide, cap_wide;
    size_t n_wide_own;             /* wide[0..n_wide_own) name terms in `own` */
    char **own;                    /* their terms' copies, made when terms are dropped */
    size_t n_own, cap_own;
    size_t heap_bytes;             /* lists on the heap (past POSTINGS_ARENA_LIST) */
    store_term_postings **sorted;  /* the terms in byte order (postings_build_sort) */
    size_t n_sorted;
    int sorted_valid;              /* sorted lists every term */
    int merged;                    /* sorted holds other builders' terms too */
    int frozen;                    /* sorted: the table's memory holds the order */
};

static uint64_t term_prefix(const char *s, size_t n)
{
    uint64_t p = 0;
    for (size_t i = 0; i < 8; i++)
        p = p << 8 | (i < n ? (uint8_t)s[i] : 0);
    return p;
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
    pb->n_slots = 4096;
    pb->slots = calloc(pb->n_slots, sizeof *pb->slots);
    if (!pb->slots) {
        free(pb);
        return NULL;
    }
    return pb;
}

/* Frees the lists that went to the heap. */
static void free_heap_lists(postings_builder *pb)
{
    for (size_t i = 0; i < pb->n_entries; i++) {
        if (pb->hot ? pb->hot[i].heap : ((pb_entry *)pb->entries[i])->heap)
            free(pb->hot ? (void *)pb->hot[i].p : (void *)pb->entries[i]->p);
    }
}

void postings_build_free(postings_builder *pb)
{
    if (!pb)
        return;
    free_heap_lists(pb);
    free(pb->hot);
    for (size_t i = 0; i < pb->n_own; i++)
        free(pb->own[i]);
    free(pb->own);
    postings_arena_free(&pb->arena);
    if (pb->sorted != (void *)pb->slots)
        free(pb->sorted);
    free(pb->slots);
    free(pb->entries);
    free(pb->chunks);
    free(pb->tomb);
    free(pb->wide);
    free(pb);
}

int postings_build_warm(postings_builder *pb)
{
    return postings_arena_warm(&pb->arena);
}

size_t postings_build_arena_used(const postings_builder *pb)
{
    return postings_arena_used(&pb->arena);
}

size_t postings_build_memory(const postings_builder *pb)
{
    return postings_arena_used(&pb->arena) + pb->heap_bytes + pb->n_slots * sizeof(pb_slot) +
           pb->cap_entries * sizeof *pb->entries + pb->cap_hot * sizeof(pb_hot);
}

static int rehash(postings_builder *pb)
{
    size_t n = pb->n_slots * 2;
    pb_slot *slots = calloc(n, sizeof *slots);
    if (!slots)
        return -1;
    for (size_t i = 0; i < pb->n_slots; i++) {
        if (!pb->slots[i].e)
            continue;
        size_t j = pb->slots[i].hash & (n - 1);
        while (slots[j].e)
            j = (j + 1) & (n - 1);
        slots[j] = pb->slots[i];
    }
    free(pb->slots);
    pb->slots = slots;
    pb->n_slots = n;
    return 0;
}

/* Finds or creates the entry of term. */
static pb_entry *lookup(postings_builder *pb, const char *term, size_t len)
{
    uint32_t h = tok_hash(term, len);
    size_t mask = pb->n_slots - 1, j = h & mask;
    for (pb_entry *e; (e = pb->slots[j].e); j = (j + 1) & mask)
        if (pb->slots[j].hash == h && e->tp.len == len && tok_same(e->tp.term, term, len))
            return e;
    if (grow((void **)&pb->entries, &pb->cap_entries, pb->n_entries + 1, sizeof *pb->entries) ||
        grow((void **)&pb->hot, &pb->cap_hot, pb->n_entries + 1, sizeof *pb->hot))
        return NULL;
    pb_entry *e = postings_arena_alloc(&pb->arena, sizeof *e + len + 1);
    if (!e)
        return NULL;
    char *s = (char *)(e + 1);
    memcpy(s, term, len);
    s[len] = 0;
    memset(e, 0, sizeof *e);
    e->tp.term = s;
    e->tp.len = (uint32_t)len;
    e->last_chunk = UINT32_MAX;
    e->id = (uint32_t)pb->n_entries;
    pb->hot[e->id] = (pb_hot){NULL, 0, 0, UINT32_MAX, 0};
    e->prefix = term_prefix(term, len);
    pb->entries[pb->n_entries++] = &e->tp;
    pb->slots[j] = (pb_slot){e, h};
    pb->sorted_valid = 0;
    if (pb->n_entries * 2 > pb->n_slots && rehash(pb))
        return NULL;
    return e;
}

/* Doubles e's postings list (after sync_hot: merges). */
static int grow_list(postings_builder *pb, pb_entry *e)
{
    store_term_postings *tp = &e->tp;
    uint32_t was_heap = e->heap;
    store_bposting *p = postings_arena_list_double(&pb->arena, tp->p, tp->n, tp->cap, &e->heap);
    if (!p)
        return -1;
    if (e->heap)
        pb->heap_bytes += (tp->cap ? tp->cap * 2 : 2) * sizeof *p -
                          (was_heap ? tp->cap * sizeof *p : 0);
    tp->p = p;
    tp->cap = tp->cap ? tp->cap * 2 : 2;
    return 0;
}

/* The same for a list still in the hot array. */
static int grow_hot(postings_builder *pb, pb_hot *h)
{
    if (h->cap > UINT32_MAX / 2)
        return -1;
    uint32_t was_heap = h->heap;
    store_bposting *p = postings_arena_list_double(&pb->arena, h->p, h->n, h->cap, &h->heap);
    if (!p)
        return -1;
    /* Only a hot list is surely in this builder's arena: after a merge, a
     * list that grow_list doubles may lie in another piece's. */
    if (h->cap && !was_heap)
        postings_arena_list_spare(&pb->arena, h->p, h->cap);
    if (h->heap)
        pb->heap_bytes += (h->cap ? (size_t)h->cap * 2 : 2) * sizeof *p -
                          (was_heap ? (size_t)h->cap * sizeof *p : 0);
    h->p = p;
    h->cap = h->cap ? h->cap * 2 : 2;
    return 0;
}

/* Makes the chunk records cover n chunks from first_chunk, the new ones
 * holes. */
static int cover(postings_builder *pb, size_t n)
{
    if (n <= pb->n_chunks)
        return 0;
    if (grow((void **)&pb->chunks, &pb->cap_chunks, n, sizeof *pb->chunks))
        return -1;
    for (size_t i = pb->n_chunks; i < n; i++)
        pb->chunks[i] = (store_chunkrec){0, PB_HOLE};
    pb->n_chunks = n;
    return 0;
}

/* The entry id of a token's term: through its word cache tag when the
 * builder has set one (owner numbers make any nonzero tag ours, and the
 * tokenizer checked the slot still holds the term), else the hash table,
 * and the tag learns it. -1 when memory runs out. */
static long token_id(postings_builder *pb, tok_tokenizer *tok, const tok_list *l, size_t i)
{
    const char *term = tok_term(l, i);
    size_t len = l->tokens[i].term_len;
    uint32_t *tag = l->tokens[i].slot
        ? tok_slot_tag(tok, l->tokens[i].slot, term, len, pb->owner) : NULL;
    if (tag && *tag && *tag <= pb->n_entries)
        return (long)*tag - 1;
    pb_entry *e = lookup(pb, term, len);
    if (!e)
        return -1;
    if (tag)
        *tag = e->id + 1;
    return e->id;
}

/* Counts one more occurrence into a posting with a field about to reach
 * STORE_TF_WIDE: from then on the exact counts of both its fields live in
 * a wide record, and the posting holds them capped at STORE_TF_WIDE. The
 * builder takes its chunks in order, so the records of the chunk being
 * built are the last ones; within a builder an entry's term pointer names
 * it. */
static int count_wide(postings_builder *pb, pb_entry *e, store_bposting *q, int title)
{
    store_wide *w = NULL;
    for (size_t k = pb->n_wide; k > 0 && pb->wide[k - 1].chunk == q->chunk; k--)
        if (pb->wide[k - 1].term == e->tp.term) {
            w = &pb->wide[k - 1];
            break;
        }
    if (!w) {
        if (grow((void **)&pb->wide, &pb->cap_wide, pb->n_wide + 1, sizeof *pb->wide))
            return -1;
        w = &pb->wide[pb->n_wide++];
        *w = (store_wide){e->tp.term, e->tp.len, q->chunk, q->tf_text, q->tf_title};
    }
    if (title)
        w->tf_title++;
    else
        w->tf_text++;
    q->tf_text = w->tf_text < STORE_TF_WIDE ? (uint16_t)w->tf_text : STORE_TF_WIDE;
    q->tf_title = w->tf_title < STORE_TF_WIDE ? (uint16_t)w->tf_title : STORE_TF_WIDE;
    return 0;
}

static int add_token(postings_builder *pb, tok_tokenizer *tok, const tok_list *l, size_t i,
                     uint32_t chunk, int title)
{
    long id = token_id(pb, tok, l, i);
    if (id < 0)
        return -1;
    pb_hot *h = &pb->hot[id];
    if (h->last_chunk != chunk) {
        if (h->n == h->cap && grow_hot(pb, h))
            return -1;
        h->p[h->n++] = (store_bposting){chunk, 0, 0};
        h->last_chunk = chunk;
    }
    /* A posting with a wide field counts in its record only. */
    store_bposting *q = &h->p[h->n - 1];
    uint16_t *f = title ? &q->tf_title : &q->tf_text;
    if (*f < STORE_TF_WIDE - 1 && q->tf_text != STORE_TF_WIDE && q->tf_title != STORE_TF_WIDE) {
        (*f)++;
        return 0;
    }
    return count_wide(pb, (pb_entry *)pb->entries[id], q, title);
}

int postings_build_chunk(postings_builder *pb, tok_tokenizer *tok, uint32_t chunk,
                         uint32_t doc, const tok_list *text, const tok_list *title,
                         uint32_t *len)
{
    if (pb->merged || pb->frozen)
        return -1;   /* its term list is no longer its own, or it is sorted */
    if (tok && tok != pb->owner_tok) {   /* without a tokenizer: no tags */
        pb->owner = tok_new_owner(tok);
        pb->owner_tok = tok;
    }
    if (pb->n_chunks == 0)
        pb->first_chunk = chunk;
    else if (chunk < pb->first_chunk + pb->n_chunks)
        return -1;
    size_t at = chunk - pb->first_chunk;
    if (cover(pb, at + 1))
        return -1;
    for (size_t i = 0; text && i < text->n; i++)
        if (add_token(pb, tok, text, i, chunk, 0))
            return -1;
    for (size_t i = 0; title && i < title->n; i++)
        if (add_token(pb, tok, title, i, chunk, 1))
            return -1;
    uint32_t n = (uint32_t)((text ? text->n : 0) + (title ? title->n : 0));
    if (n > STORE_LEN_MASK)
        n = STORE_LEN_MASK;
    pb->chunks[at] = (store_chunkrec){doc, n};
    pb->n_filled++;
    *len = n;
    return 0;
}

/* Merges n postings (ascending chunks, none of them in e's list) into e's
 * list: an append when they all follow it, the usual case; otherwise a
 * merge from the back, in place, into the grown list. */
static int merge_postings(postings_builder *pb, pb_entry *e, const store_bposting *p, size_t n)
{
    store_term_postings *tp = &e->tp;
    if (n == 0)
        return 0;
    while (tp->cap - tp->n < n)
        if (grow_list(pb, e))
            return -1;
    size_t i = tp->n, j = n, out = tp->n + n;
    while (j > 0 && i > 0 && tp->p[i - 1].chunk > p[j - 1].chunk)
        tp->p[--out] = tp->p[--i];
    while (j > 0) {
        tp->p[--out] = p[--j];
        while (j > 0 && i > 0 && tp->p[i - 1].chunk > p[j - 1].chunk)
            tp->p[--out] = tp->p[--i];
    }
    tp->n += n;
    e->last_chunk = tp->p[tp->n - 1].chunk;
    return 0;
}

/* Folds e's linked second list into its own (merge_postings). */
static int flatten(postings_builder *pb, pb_entry *e)
{
    const store_bposting *p2 = e->tp.p2;
    size_t n2 = e->tp.n2;
    e->tp.p2 = NULL;
    e->tp.n2 = 0;
    return merge_postings(pb, e, p2, n2);
}

/* Gives x, of pb, the postings of y, another piece's entry for the same
 * term: by linking y's list as x's second one (apply merges the two), or,
 * where either already has a second list (a third piece), by merging. */
static int join_lists(postings_builder *pb, pb_entry *x, const pb_entry *y)
{
    if (!x->tp.n2 && !y->tp.n2) {
        x->tp.p2 = y->tp.p;
        x->tp.n2 = y->tp.n;
        return 0;
    }
    return flatten(pb, x) || merge_postings(pb, x, y->tp.p, y->tp.n) ||
           merge_postings(pb, x, y->tp.p2, y->tp.n2);
}

/* Moves pb's chunk records so that they start at chunk `first` (<= its
 * own first chunk), the records in front holes. */
static int rebase(postings_builder *pb, uint32_t first)
{
    size_t shift = pb->first_chunk - first, n = pb->n_chunks;
    if (!shift)
        return 0;
    if (grow((void **)&pb->chunks, &pb->cap_chunks, n + shift, sizeof *pb->chunks))
        return -1;
    memmove(pb->chunks + shift, pb->chunks, n * sizeof *pb->chunks);
    for (size_t i = 0; i < shift; i++)
        pb->chunks[i] = (store_chunkrec){0, PB_HOLE};
    pb->first_chunk = first;
    pb->n_chunks = n + shift;
    return 0;
}

static int cmp_entries(const pb_entry *x, const pb_entry *y);

/* Fills the holes of pb's chunk records with other's records. */
static int merge_chunks(postings_builder *pb, const postings_builder *other)
{
    if (pb->n_chunks == 0)
        pb->first_chunk = other->first_chunk;
    else if (other->first_chunk < pb->first_chunk && rebase(pb, other->first_chunk))
        return -1;
    size_t at = other->first_chunk - pb->first_chunk;
    if (cover(pb, at + other->n_chunks))
        return -1;
    for (size_t i = 0; i < other->n_chunks; i++) {
        if (other->chunks[i].len == PB_HOLE)
            continue;
        if (pb->chunks[at + i].len != PB_HOLE)
            return -1;   /* a chunk in both pieces */
        pb->chunks[at + i] = other->chunks[i];
        pb->n_filled++;
    }
    return 0;
}

/* other's exact counts after pb's: they name other's terms, which outlive
 * the merge; finish orders the lot. */
static int take_wide(postings_builder *pb, const postings_builder *other)
{
    if (!other->n_wide)
        return 0;
    if (grow((void **)&pb->wide, &pb->cap_wide, pb->n_wide + other->n_wide, sizeof *pb->wide))
        return -1;
    memcpy(pb->wide + pb->n_wide, other->wide, other->n_wide * sizeof *pb->wide);
    pb->n_wide += other->n_wide;
    return 0;
}

/* The chunk records first, then the two sorted term lists, merged as two
 * sorted runs are: a term in both keeps pb's entry (or, in a later merge,
 * whichever entry the list holds), whose postings take the other's in. */
int postings_build_merge(postings_builder *pb, postings_builder *other)
{
    if (other->n_filled == 0)
        return 0;
    if (merge_chunks(pb, other) || postings_build_sort(pb) || postings_build_sort(other) ||
        take_wide(pb, other))
        return -1;
    size_t na = pb->n_sorted, nb = other->n_sorted, i = 0, j = 0, k = 0;
    store_term_postings **m = malloc((na + nb ? na + nb : 1) * sizeof *m);
    if (!m)
        return -1;
    while (i < na && j < nb) {
        /* Entries lie scattered over the arenas: ask for the ones the
         * next rounds compare while this one waits for its own. */
        if (i + 8 < na)
            __builtin_prefetch(pb->sorted[i + 8]);
        if (j + 8 < nb)
            __builtin_prefetch(other->sorted[j + 8]);
        pb_entry *x = (pb_entry *)pb->sorted[i], *y = (pb_entry *)other->sorted[j];
        int c = cmp_entries(x, y);
        if (c < 0) {
            m[k++] = pb->sorted[i++];
        } else if (c > 0) {
            m[k++] = other->sorted[j++];
        } else {
            if (join_lists(pb, x, y)) {
                free(m);
                return -1;
            }
            m[k++] = pb->sorted[i++];
            j++;
        }
    }
    while (i < na)
        m[k++] = pb->sorted[i++];
    while (j < nb)
        m[k++] = other->sorted[j++];
    if (pb->sorted != (void *)pb->slots)
        free(pb->sorted);
    pb->sorted = m;
    pb->n_sorted = k;
    pb->merged = 1;
    return 0;
}

int postings_build_merge_records(postings_builder *pb, const postings_builder *other)
{
    if (other->n_filled == 0)
        return 0;
    return merge_chunks(pb, other) || take_wide(pb, other) ? -1 : 0;
}

void postings_build_sorted(const postings_builder *pb, store_term_postings *const **terms,
                           size_t *n)
{
    *terms = pb->sorted;
    *n = pb->sorted_valid ? pb->n_sorted : 0;
}

/* The exact counts recorded so far keep their terms in copies of their
 * own: the arena that holds the terms is about to be reused. */
static int own_wide_terms(postings_builder *pb)
{
    for (; pb->n_wide_own < pb->n_wide; pb->n_wide_own++) {
        store_wide *w = &pb->wide[pb->n_wide_own];
        char *t = malloc(w->len + 1);
        if (!t || grow((void **)&pb->own, &pb->cap_own, pb->n_own + 1, sizeof *pb->own)) {
            free(t);
            return -1;
        }
        memcpy(t, w->term, w->len);
        t[w->len] = 0;
        pb->own[pb->n_own++] = t;
        w->term = t;
    }
    return 0;
}

int postings_build_drop_terms(postings_builder *pb)
{
    if (pb->merged || own_wide_terms(pb))
        return -1;
    free_heap_lists(pb);
    free(pb->hot);
    pb->hot = NULL;
    pb->cap_hot = 0;
    pb->heap_bytes = 0;
    if (pb->sorted != (void *)pb->slots)
        free(pb->sorted);
    pb->sorted = NULL;
    pb->n_sorted = 0;
    pb->sorted_valid = pb->frozen = 0;
    memset(pb->slots, 0, pb->n_slots * sizeof *pb->slots);   /* the sort used it */
    pb->n_entries = 0;
    postings_arena_rewind(&pb->arena);
    /* The word cache's tags name entries that are gone: a new owner
     * number (taken at the next chunk) makes every old tag read 0. */
    pb->owner_tok = NULL;
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

/* Byte order of two terms with equal prefixes: memcmp, then length (a
 * term never contains NUL, so padding sorts a shorter term first). */
static int cmp_rest(const pb_entry *ex, const pb_entry *ey)
{
    const store_term_postings *x = &ex->tp, *y = &ey->tp;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->term, y->term, n);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* Byte order of two entries' terms. */
static int cmp_entries(const pb_entry *x, const pb_entry *y)
{
    if (x->prefix != y->prefix)
        return x->prefix < y->prefix ? -1 : 1;
    return cmp_rest(x, y);
}

typedef struct sort_item {
    uint64_t key;                  /* the entry's prefix */
    pb_entry *e;
} sort_item;

/* Runs of equal prefixes longer than this are sorted by qsort: insertion
 * sort is quadratic, and a corpus can hold many words that share their
 * first 8 bytes. */
#define PB_INSERTION_MAX 32

static int cmp_items(const void *a, const void *b)
{
    return cmp_rest(((const sort_item *)a)->e, ((const sort_item *)b)->e);
}

/* Puts the entries in byte order of their terms into pb->sorted, which is
 * the hash table's memory: the builder is done taking tokens, and its table
 * (n_slots >= 2 n entries of 16 bytes) holds exactly the sort's two buffers
 * of n 16-byte items, which fresh memory would cost page faults. An LSD
 * radix sort on the 8-byte big-endian prefix, one byte per pass (a pass
 * where every key has the same byte is skipped), then insertion sort by
 * the rest of the term within each run of equal prefixes, which is
 * usually short: qsort's indirect comparisons over all the terms were
 * about 7 % of a whole build. */
static void sort_terms(postings_builder *pb)
{
    size_t n = pb->n_entries;
    _Static_assert(sizeof(sort_item) == sizeof(pb_slot), "the sort fills the table");
    sort_item *base = (sort_item *)pb->slots, *a = base, *b = base + n;
    pb->sorted = (store_term_postings **)pb->slots;
    if (n == 0)
        return;
    for (size_t i = 0; i < n; i++) {
        pb_entry *e = (pb_entry *)pb->entries[i];
        a[i] = (sort_item){e->prefix, e};
    }
    for (unsigned shift = 0; shift < 64; shift += 8) {
        size_t count[256] = {0};
        for (size_t i = 0; i < n; i++)
            count[(a[i].key >> shift) & 255]++;
        if (count[(a[0].key >> shift) & 255] == n)
            continue;
        size_t sum = 0;
        for (int d = 0; d < 256; d++) {
            size_t c = count[d];
            count[d] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++)
            b[count[(a[i].key >> shift) & 255]++] = a[i];
        sort_item *t = a;
        a = b;
        b = t;
    }
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && a[j].key == a[i].key)
            j++;
        if (j - i > PB_INSERTION_MAX)   /* a corpus of look-alike words */
            qsort(a + i, j - i, sizeof *a, cmp_items);
        for (size_t k = i + 1; k < j && j - i <= PB_INSERTION_MAX; k++) {
            sort_item x = a[k];
            size_t m = k;
            for (; m > i && cmp_rest(a[m - 1].e, x.e) > 0; m--)
                a[m] = a[m - 1];
            a[m] = x;
        }
        i = j;
    }
    /* Into the front of the same memory: sorted[i] takes bytes [8i, 8i + 8),
     * which lie before a[i + 1] whichever half a is, so each item is read
     * before anything overwrites it. */
    for (size_t i = 0; i < n; i++) {
        store_term_postings *tp = &a[i].e->tp;
        pb->sorted[i] = tp;
    }
}

/* The lists go back into their entries, where merges, apply and free
 * find them from here on. */
static void sync_hot(postings_builder *pb)
{
    for (size_t i = 0; i < pb->n_entries && pb->hot; i++) {
        pb_entry *e = (pb_entry *)pb->entries[i];
        const pb_hot *h = &pb->hot[i];
        e->tp.p = h->p;
        e->tp.n = h->n;
        e->tp.cap = h->cap;
        e->last_chunk = h->last_chunk;
        e->heap = h->heap;
    }
    free(pb->hot);
    pb->hot = NULL;
    pb->cap_hot = 0;
}

int postings_build_sort(postings_builder *pb)
{
    if (pb->sorted_valid)
        return 0;
    if (pb->frozen)
        return -1;   /* unreachable: a frozen builder's order stays valid */
    sync_hot(pb);
    sort_terms(pb);
    pb->n_sorted = pb->n_entries;
    pb->sorted_valid = 1;
    pb->frozen = 1;
    return 0;
}

/* Wide records in the order apply searches them (store_wide_cmp). */
static int cmp_wide(const void *a, const void *b)
{
    const store_wide *y = b;
    return store_wide_cmp(a, y->chunk, y->term, y->len);
}

void postings_build_allow_holes(postings_builder *pb)
{
    pb->holes_ok = 1;
}

int postings_build_finish(postings_builder *pb, struct store_batch *out)
{
    if (pb->n_filled != pb->n_chunks && !pb->holes_ok)
        return -1;   /* a hole: a piece of the batch was never merged */
    if (postings_build_sort(pb))
        return -1;
    if (pb->n_wide > 1)
        qsort(pb->wide, pb->n_wide, sizeof *pb->wide, cmp_wide);
    out->wide = pb->wide;
    out->n_wide = pb->n_wide;
    out->terms = pb->sorted;
    out->n_terms = pb->n_sorted;
    out->first_chunk = pb->first_chunk;
    out->chunks = pb->chunks;
    out->n_chunks = pb->n_chunks;
    out->tomb = pb->tomb;
    out->n_tomb = pb->n_tomb;
    return 0;
}
