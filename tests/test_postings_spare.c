/*
 * test_postings_spare.c — the postings builder's short lists, checked
 * against a count made without it, and its reuse of the copies that a
 * list's doubling leaves behind.
 *
 * A term's list starts with room for two postings in the builder's arena
 * and doubles, moving each time, up to POSTINGS_ARENA_LIST bytes; the copy it
 * leaves goes on a free list of its size, and the next list to need that
 * size takes it (postings_arena.c). A copy handed out while its list still
 * used it, or to a list of another size, would corrupt postings; both
 * tests below would see it. The first feeds a corpus whose terms' lists
 * grow through every size, interleaved, so that copies change hands
 * thousands of times, and compares every list with counts made from the
 * tokens alone. The second checks the reuse itself: a term that grows the
 * way another did takes all of its room from the other's copies.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "indexer/indexer.h"
#include "store/store.h"
#include "test_rand.h"
#include "test_tok.h"

/* One posting as the reference counts it: a term (the tokenizer's folded,
 * stemmed bytes) in a chunk, with its two counts. */
typedef struct ref_posting {
    char term[32];
    uint32_t chunk, tf_text, tf_title;
} ref_posting;

typedef struct ref_count {
    ref_posting *p;
    size_t n, cap;
} ref_count;

static void ref_add(ref_count *r, const tok_list *l, uint32_t chunk, int title)
{
    for (size_t i = 0; i < l->n; i++) {
        const char *term = l->terms + l->tokens[i].term;
        cr_assert_lt(strlen(term), sizeof r->p->term);
        if (r->n == r->cap) {
            r->cap = r->cap ? r->cap * 2 : 1024;
            r->p = realloc(r->p, r->cap * sizeof *r->p);
            cr_assert_not_null(r->p);
        }
        ref_posting *q = &r->p[r->n++];
        memset(q, 0, sizeof *q);
        strcpy(q->term, term);
        q->chunk = chunk;
        *(title ? &q->tf_title : &q->tf_text) = 1;
    }
}

static int cmp_ref(const void *a, const void *b)
{
    const ref_posting *x = a, *y = b;
    int c = strcmp(x->term, y->term);
    return c ? c : (x->chunk > y->chunk) - (x->chunk < y->chunk);
}

/* Sorts by term, then chunk, and sums the counts of equal pairs. */
static void ref_finish(ref_count *r)
{
    qsort(r->p, r->n, sizeof *r->p, cmp_ref);
    size_t k = 0;
    for (size_t i = 0; i < r->n; i++) {
        if (k && !cmp_ref(&r->p[k - 1], &r->p[i])) {
            r->p[k - 1].tf_text += r->p[i].tf_text;
            r->p[k - 1].tf_title += r->p[i].tf_title;
        } else {
            r->p[k++] = r->p[i];
        }
    }
    r->n = k;
}

/* Word w<r> of a skewed vocabulary: r = u^2 / 3000 for u uniform below
 * 3000, so a few words are in most chunks (lists past 512 postings, on
 * the heap), hundreds in tens of chunks, and the rest in a few. */
static void skewed_words(unsigned *seed, char *buf, size_t cap, int n)
{
    size_t o = 0;
    for (int i = 0; i < n; i++) {
        unsigned u = next_rand(seed) % 3000;
        o += (size_t)snprintf(buf + o, cap - o, "w%u ", u * u / 3000);
    }
}

Test(postings_spare, lists_equal_a_count_made_from_the_tokens)
{
    tok_tokenizer *t = english_tokenizer();
    postings_builder *pb = postings_build_new();
    cr_assert_not_null(pb);
    ref_count ref = {0};
    tok_list text, title;
    tok_list_init(&text);
    tok_list_init(&title);
    char buf[2048];
    unsigned seed = 12345;
    uint32_t chunk = 10;
    for (uint32_t doc = 0; doc < 2000; doc++) {
        skewed_words(&seed, buf, sizeof buf, 3);
        tok_list_reset(&title);
        cr_assert_eq(tok_tokenize(t, buf, strlen(buf), &title), 0);
        for (int c = 0; c < 2; c++, chunk++) {
            skewed_words(&seed, buf, sizeof buf, 40);
            tok_list_reset(&text);
            cr_assert_eq(tok_tokenize(t, buf, strlen(buf), &text), 0);
            uint32_t len;
            cr_assert_eq(postings_build_chunk(pb, t, chunk, doc, &text, &title, &len), 0);
            cr_assert_eq(len, text.n + title.n);
            ref_add(&ref, &text, chunk, 0);
            ref_add(&ref, &title, chunk, 1);
        }
    }
    ref_finish(&ref);

    store_batch b;
    cr_assert_eq(postings_build_finish(pb, &b), 0);
    size_t k = 0, heap_lists = 0, short_lists = 0;
    for (size_t i = 0; i < b.n_terms; i++) {
        const store_term_postings *tp = b.terms[i];
        cr_assert_eq(tp->n2, 0, "one builder links no second list");
        heap_lists += tp->n > 512;
        short_lists += tp->n > 2 && tp->n <= 512;
        for (size_t j = 0; j < tp->n; j++, k++) {
            cr_assert_lt(k, ref.n, "more postings than the tokens make");
            const ref_posting *q = &ref.p[k];
            cr_assert(tp->len == strlen(q->term) && !memcmp(tp->term, q->term, tp->len),
                      "posting %zu: term %.*s, expected %s", k, (int)tp->len, tp->term, q->term);
            cr_assert_eq(tp->p[j].chunk, q->chunk, "term %s", q->term);
            cr_assert_eq(tp->p[j].tf_text, q->tf_text, "term %s chunk %u", q->term, q->chunk);
            cr_assert_eq(tp->p[j].tf_title, q->tf_title, "term %s chunk %u", q->term, q->chunk);
        }
    }
    cr_assert_eq(k, ref.n, "fewer postings than the tokens make");
    /* The corpus does what the test needs: lists of every size. */
    cr_assert_gt(heap_lists, 5);
    cr_assert_gt(short_lists, 500);
    free(ref.p);
    tok_list_free(&text);
    tok_list_free(&title);
    postings_build_free(pb);
    tok_free(t);
}

/* Adds `term` alone as chunks first .. first + n - 1. */
static void one_term_chunks(postings_builder *pb, tok_tokenizer *t, const char *term,
                            uint32_t first, uint32_t n)
{
    tok_list l;
    tok_list_init(&l);
    cr_assert_eq(tok_tokenize(t, term, strlen(term), &l), 0);
    cr_assert_eq(l.n, 1);
    for (uint32_t c = first; c < first + n; c++) {
        uint32_t len;
        cr_assert_eq(postings_build_chunk(pb, t, c, c, &l, NULL, &len), 0);
    }
    tok_list_free(&l);
}

Test(postings_spare, a_list_grows_into_the_copies_another_left)
{
    tok_tokenizer *t = english_tokenizer();
    postings_builder *pb = postings_build_new();
    cr_assert_not_null(pb);
    /* 600 postings: 2, 4, ... 512 in the arena (16 to 4096 bytes, 8176 in
     * all), then the heap. */
    one_term_chunks(pb, t, "alpha", 0, 600);
    size_t after_alpha = postings_build_arena_used(pb);
    cr_assert_geq(after_alpha, 8176);
    one_term_chunks(pb, t, "bravo", 600, 600);
    size_t bravo = postings_build_arena_used(pb) - after_alpha;
    /* bravo's lists were alpha's copies: the arena gave it its entry only. */
    cr_assert_lt(bravo, 256, "bravo took %zu bytes of fresh arena", bravo);

    store_batch b;
    cr_assert_eq(postings_build_finish(pb, &b), 0);
    cr_assert_eq(b.n_terms, 2);
    for (size_t i = 0; i < 2; i++) {
        const store_term_postings *tp = b.terms[i];
        uint32_t first = memcmp(tp->term, "alpha", 5) ? 600 : 0;
        cr_assert_eq(tp->n, 600);
        for (uint32_t j = 0; j < 600; j++) {
            cr_assert_eq(tp->p[j].chunk, first + j);
            cr_assert_eq(tp->p[j].tf_text, 1);
            cr_assert_eq(tp->p[j].tf_title, 0);
        }
    }
    postings_build_free(pb);
    tok_free(t);
}
