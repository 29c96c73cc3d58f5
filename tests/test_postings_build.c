/*
 * test_postings_build.c — the postings builder's two ways of reaching the
 * same result: word cache tags (tok_slot_tag, postings_build_chunk with a
 * tokenizer) and a batch built in interleaved pieces on two or three
 * threads (postings_build_merge).
 *
 * The tags are only a shortcut: a builder given the tokenizer must build
 * exactly the postings of a builder given none (every token through the
 * hash table). The corpus below has far more distinct words than the cache
 * has slots, so slots are evicted and refilled while tags point at them,
 * and titles are added to every chunk after the chunk's text has reused
 * their slots: the stale-tag paths run many times.
 *
 * The pieces must merge into exactly what one builder fed every document
 * in order holds: the same terms, postings lists and chunk records, for
 * any interleaving, including a piece that starts before the one merged
 * into (its chunk records move) and pieces merged in either order.
 *
 * Counts past a batch posting's 16 bits travel in wide records: a few
 * documents of the corpus have them, in text and title, and they must
 * come through the merge exactly; apply refuses a wide posting without
 * its record.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "indexer/indexer.h"
#include "lctx.h"
#include "store/store.h"
#include "test_rand.h"
#include "test_tmpdir.h"
#include "test_tok.h"
#include "test_wide.h"

/* A new tokenizer, with s tokenized into l (initialised here). */
static tok_tokenizer *tokenized(const char *s, tok_list *l)
{
    tok_tokenizer *t = english_tokenizer();
    tok_list_init(l);
    cr_assert_eq(tok_tokenize(t, s, strlen(s), l), 0);
    return t;
}

Test(tok_tags, slot_tag_follows_the_word)
{
    tok_list l;
    tok_tokenizer *t = tokenized("Running dogs", &l);
    uint32_t me = tok_new_owner(t), other = tok_new_owner(t);
    cr_assert(me != 0 && other != 0 && me != other, "owner numbers are distinct, never 0");
    cr_assert_eq(l.n, 2);
    cr_assert_str_eq(tok_term(&l, 0), "run");
    uint32_t slot = l.tokens[0].slot;
    cr_assert_neq(slot, 0);
    uint32_t *tag = tok_slot_tag(t, slot, "run", 3, me);
    cr_assert_not_null(tag);
    cr_assert_eq(*tag, 0, "a new slot has tag 0");
    *tag = 7;
    cr_assert_null(tok_slot_tag(t, slot, "dog", 3, me), "another term: no tag");
    cr_assert_null(tok_slot_tag(t, 0, "run", 3, me), "no slot: no tag");
    tok_list_reset(&l);
    cr_assert_eq(tok_tokenize(t, "running", 7, &l), 0);
    cr_assert_eq(l.tokens[0].slot, slot, "a cache hit gives the same slot");
    cr_assert_eq(*tok_slot_tag(t, slot, "run", 3, me), 7);
    /* Another client sees 0, and taking the slot over clears ours. */
    tag = tok_slot_tag(t, slot, "run", 3, other);
    cr_assert_eq(*tag, 0, "another owner's tag reads as 0");
    *tag = 9;
    cr_assert_eq(*tok_slot_tag(t, slot, "run", 3, me), 0, "taken over: ours is gone");
    tok_list_free(&l);
    tok_free(t);
}

/* Tokenizes made-up words (fmt with a counter) until one lands in cache
 * slot `slot`: 1 with that word in w and its token in l, 0 when none of
 * 400,000 did. */
static int word_into_slot(tok_tokenizer *t, const char *fmt, uint32_t slot, char *w, size_t wlen,
                          tok_list *l)
{
    for (int i = 0; i < 400000; i++) {
        snprintf(w, wlen, fmt, i);
        tok_list_reset(l);
        cr_assert_eq(tok_tokenize(t, w, strlen(w), l), 0);
        if (l->n == 1 && l->tokens[0].slot == slot)
            return 1;
    }
    return 0;
}

/* A slot that takes another word drops its tag and owner: the new word
 * never inherits the old word's entry. */
Test(tok_tags, a_refilled_slot_has_no_tag)
{
    tok_tokenizer *t = english_tokenizer();
    uint32_t me = tok_new_owner(t);
    tok_list l;
    tok_list_init(&l);
    cr_assert_eq(tok_tokenize(t, "alpha", 5, &l), 0);
    uint32_t slot = l.tokens[0].slot;
    *tok_slot_tag(t, slot, "alpha", 5, me) = 3;
    /* Fill the cache until alpha's slot holds something else. */
    char w[32];
    cr_assert(word_into_slot(t, "zq%dx", slot, w, sizeof w, &l), "the slot was reused");
    uint32_t *tag = tok_slot_tag(t, slot, tok_term(&l, 0), l.tokens[0].term_len, me);
    cr_assert_not_null(tag);
    cr_assert_eq(*tag, 0, "the new word starts without a tag");
    tok_list_free(&l);
    tok_free(t);
}

/* tok_warm writes into the cache's first slot (to fault its huge page in);
 * a tokenizer from the pool has words there, which must stay, tag and all. */
Test(tok_tags, warming_keeps_the_first_slot)
{
    tok_tokenizer *t = english_tokenizer();
    uint32_t me = tok_new_owner(t);
    tok_list l;
    tok_list_init(&l);
    char w[32];
    cr_assert(word_into_slot(t, "qv%dk", 1, w, sizeof w, &l), "a word landed in the first slot");
    *tok_slot_tag(t, 1, tok_term(&l, 0), l.tokens[0].term_len, me) = 5;
    tok_warm(t);
    tok_warm(t);
    tok_list_reset(&l);
    cr_assert_eq(tok_tokenize(t, w, strlen(w), &l), 0);
    cr_assert_eq(l.tokens[0].slot, 1, "still a cache hit in the first slot");
    uint32_t *tag = tok_slot_tag(t, 1, tok_term(&l, 0), l.tokens[0].term_len, me);
    cr_assert_not_null(tag);
    cr_assert_eq(*tag, 5, "the tag survives warming");
    tok_list_free(&l);
    tok_free(t);
}

Test(tok_tags, numbers_and_cjk_have_no_slot)
{
    tok_list l;
    tok_tokenizer *t = tokenized("3.14 \xe4\xb8\xad\xe6\x96\x87", &l);
    cr_assert_eq(l.n, 3);   /* 3.14, the bigram 中文 and (rules 5) its last character */
    for (size_t i = 0; i < l.n; i++)
        cr_assert_eq(l.tokens[i].slot, 0, "token %zu", i);
    tok_list_free(&l);
    tok_free(t);
}

/* A pseudo-random word of syllables, so words repeat often but the
 * distinct ones far outnumber the cache's slots. */
static void random_word(unsigned *seed, char *w)
{
    static const char *syl[] = { "ka", "ri", "to", "ne", "su", "mo", "ing", "ed", "s", "er",
                                 "tion", "al", "pre", "un", "ly", "ment", "ba", "lo", "fi",
                                 "gu", "ze", "wa", "po", "di" };
    size_t n = 1 + next_rand(seed) % 5, o = 0;
    for (size_t i = 0; i < n; i++) {
        const char *p = syl[next_rand(seed) % 24];
        size_t k = strlen(p);
        memcpy(w + o, p, k);
        o += k;
    }
    w[o] = 0;
}

/* Documents 7, 1007 and 2007 have a title of WIDE_TITLE "tword" and a
 * first chunk of WIDE_TEXT "wword" and one "tword": counts past the 16 bits
 * a batch posting holds, so their exact values go to wide records (one per
 * chunk for tword, whose title counts in both chunks, one for wword). */
#define WIDE_TEXT 70000
#define WIDE_TITLE 65600
#define WIDE_RECORDS 9

static int wide_doc(uint32_t doc)
{
    return doc % 1000 == 7;
}

/* Feeds 3000 documents of two chunks each, chunk ids from 100, to n
 * builders: document d goes to builder pick(d) (each builder sees its
 * documents in order, on its own tokenizer, with or without tags). */
static void build_pieces(postings_builder **pb, tok_tokenizer **t, int use_tags, unsigned seed,
                         int n, unsigned pick_seed)
{
    tok_list text, title;
    tok_list_init(&text);
    tok_list_init(&title);
    char buf[4096], w[64];
    char *wide_title = repeat_str("tword ", WIDE_TITLE, "");
    char *wide_text = repeat_str("wword ", WIDE_TEXT, "tword");
    size_t wide_title_len = strlen(wide_title), wide_text_len = strlen(wide_text);
    uint32_t chunk = 100;
    for (uint32_t doc = 0; doc < 3000; doc++) {
        int k = n > 1 ? (int)(next_rand(&pick_seed) % (unsigned)n) : 0;
        size_t o = 0;
        for (int i = 0; i < 3; i++) {
            random_word(&seed, w);
            o += (size_t)snprintf(buf + o, sizeof buf - o, "%s ", w);
        }
        tok_list_reset(&title);
        if (wide_doc(doc))
            cr_assert_eq(tok_tokenize(t[k], wide_title, wide_title_len, &title), 0);
        else
            cr_assert_eq(tok_tokenize(t[k], buf, o, &title), 0);
        for (int c = 0; c < 2; c++) {
            o = 0;
            for (int i = 0; i < 60; i++) {
                random_word(&seed, w);
                o += (size_t)snprintf(buf + o, sizeof buf - o, "%s ", w);
            }
            tok_list_reset(&text);
            if (wide_doc(doc) && c == 0)
                cr_assert_eq(tok_tokenize(t[k], wide_text, wide_text_len, &text), 0);
            else
                cr_assert_eq(tok_tokenize(t[k], buf, o, &text), 0);
            uint32_t len;
            cr_assert_eq(postings_build_chunk(pb[k], use_tags ? t[k] : NULL, chunk++, doc,
                                              &text, &title, &len), 0);
        }
    }
    tok_list_free(&text);
    tok_list_free(&title);
    free(wide_title);
    free(wide_text);
}

static void build(postings_builder *pb, tok_tokenizer *t, int use_tags, unsigned seed)
{
    build_pieces(&pb, &t, use_tags, seed, 1, 0);
}

/* A term's postings in chunk order, p and the linked p2 merged (as apply
 * reads them); malloc'd, *n set. Asserts that p2 is in order too and that
 * no chunk is in both. */
static store_bposting *flat(const store_term_postings *tp, size_t *n)
{
    store_bposting *out = malloc((tp->n + tp->n2 + 1) * sizeof *out);
    cr_assert_not_null(out);
    size_t i = 0, j = 0, k = 0;
    while (i < tp->n || j < tp->n2) {
        if (j < tp->n2 && i < tp->n)
            cr_assert_neq(tp->p[i].chunk, tp->p2[j].chunk, "a chunk in both lists");
        out[k++] = j == tp->n2 || (i < tp->n && tp->p[i].chunk < tp->p2[j].chunk) ? tp->p[i++]
                                                                                  : tp->p2[j++];
        if (k > 1)
            cr_assert_lt(out[k - 2].chunk, out[k - 1].chunk, "term %.*s out of order",
                         (int)tp->len, tp->term);
    }
    *n = k;
    return out;
}

static void assert_same_batch(const store_batch *x, const store_batch *y)
{
    cr_assert_eq(x->n_terms, y->n_terms);
    cr_assert_eq(x->first_chunk, y->first_chunk);
    cr_assert_eq(x->n_chunks, y->n_chunks);
    cr_assert_eq(memcmp(x->chunks, y->chunks, x->n_chunks * sizeof *x->chunks), 0);
    for (size_t i = 0; i < x->n_terms; i++) {
        const store_term_postings *p = x->terms[i], *q = y->terms[i];
        cr_assert_eq(p->len, q->len);
        cr_assert_eq(memcmp(p->term, q->term, p->len), 0);
        size_t np, nq;
        store_bposting *fp = flat(p, &np), *fq = flat(q, &nq);
        cr_assert_eq(np, nq, "term %s", p->term);
        cr_assert_eq(memcmp(fp, fq, np * sizeof *fp), 0, "term %s", p->term);
        free(fp);
        free(fq);
    }
    cr_assert_eq(x->n_wide, y->n_wide);
    for (size_t i = 0; i < x->n_wide; i++) {
        const store_wide *a = &x->wide[i], *b = &y->wide[i];
        cr_assert_eq(a->len, b->len);
        cr_assert_eq(memcmp(a->term, b->term, a->len), 0);
        cr_assert_eq(a->chunk, b->chunk);
        cr_assert_eq(a->tf_text, b->tf_text);
        cr_assert_eq(a->tf_title, b->tf_title);
    }
}

/* A warmed builder (first arena block allocated up front) builds what an
 * unwarmed one does, and warming twice allocates nothing more. */
Test(tok_tags, warmed_builder_equals_cold_builder)
{
    const char *text = "the quick brown fox jumps over the lazy dog; dogs and foxes run";
    postings_builder *cold = postings_build_new(), *warm = postings_build_new();
    cr_assert(cold && warm);
    cr_assert_eq(postings_build_warm(warm), 0);
    cr_assert_eq(postings_build_warm(warm), 0);
    tok_tokenizer *t = english_tokenizer();
    tok_list l, title;
    tok_list_init(&l);
    tok_list_init(&title);
    for (uint32_t c = 0; c < 3; c++) {
        tok_list_reset(&l);
        cr_assert_eq(tok_tokenize(t, text + 4 * c, strlen(text) - 4 * c, &l), 0);
        uint32_t len_a, len_b;
        cr_assert_eq(postings_build_chunk(cold, NULL, c, c, &l, &title, &len_a), 0);
        cr_assert_eq(postings_build_chunk(warm, NULL, c, c, &l, &title, &len_b), 0);
        cr_assert_eq(len_a, len_b);
    }
    store_batch a, b;
    cr_assert_eq(postings_build_finish(cold, &a), 0);
    cr_assert_eq(postings_build_finish(warm, &b), 0);
    cr_assert_gt(a.n_terms, 5);
    assert_same_batch(&a, &b);
    tok_list_free(&l);
    tok_list_free(&title);
    tok_free(t);
    postings_build_free(cold);
    postings_build_free(warm);
}

/* The wide records of the three wide documents hold their exact counts,
 * and their postings say so. */
static void assert_wide(const store_batch *x)
{
    cr_assert_eq(x->n_wide, WIDE_RECORDS);
    int seen_text = 0, seen_title = 0;
    for (size_t i = 0; i < x->n_wide; i++) {
        const store_wide *w = &x->wide[i];
        if (i > 0)
            cr_assert_geq(w->chunk, x->wide[i - 1].chunk, "records by chunk");
        if (w->len == 5 && memcmp(w->term, "wword", 5) == 0) {
            cr_assert_eq(w->tf_text, WIDE_TEXT);
            cr_assert_eq(w->tf_title, 0);
            seen_text++;
        } else {
            cr_assert(w->len == 5 && memcmp(w->term, "tword", 5) == 0);
            cr_assert_eq(w->tf_title, WIDE_TITLE);
            /* tword is in the first chunk's text once */
            cr_assert_eq(w->tf_text, (w->chunk - 100) % 2 == 0 ? 1u : 0u);
            seen_title++;
        }
    }
    cr_assert_eq(seen_text, 3);
    cr_assert_eq(seen_title, 6);
    for (size_t i = 0; i < x->n_terms; i++) {
        const store_term_postings *p = x->terms[i];
        if (p->len != 5 || memcmp(p->term, "wword", 5) != 0)
            continue;
        size_t n;
        store_bposting *fp = flat(p, &n);
        cr_assert_eq(n, 3);
        for (size_t j = 0; j < n; j++)
            cr_assert_eq(fp[j].tf_text, STORE_TF_WIDE);
        free(fp);
        return;
    }
    cr_assert_fail("wword has no postings");
}

/* finish lists the terms in strictly ascending byte order (memcmp, then
 * length), the order LMDB keeps them in. */
static size_t assert_sorted(const store_batch *x)
{
    size_t shared = 0;
    for (size_t i = 1; i < x->n_terms; i++) {
        const store_term_postings *p = x->terms[i - 1], *q = x->terms[i];
        size_t n = p->len < q->len ? p->len : q->len;
        int c = memcmp(p->term, q->term, n);
        cr_assert(c < 0 || (c == 0 && p->len < q->len), "%.*s before %.*s", (int)p->len,
                  p->term, (int)q->len, q->term);
        shared += n >= 8 && memcmp(p->term, q->term, 8) == 0;
    }
    return shared;
}

Test(tok_tags, builder_with_tags_equals_builder_without)
{
    tok_tokenizer *t1 = english_tokenizer(), *t2 = english_tokenizer();
    postings_builder *a = postings_build_new(), *b = postings_build_new();
    build(a, t1, 1, 42);
    build(b, t2, 0, 42);
    store_batch x, y;
    cr_assert_eq(postings_build_finish(a, &x), 0);
    cr_assert_eq(postings_build_finish(b, &y), 0);
    cr_assert_gt(x.n_terms, 40000, "the corpus must overflow the word cache (%zu terms)",
                 x.n_terms);
    cr_assert_gt(assert_sorted(&x), 1000, "neighbours sharing 8 bytes test the tie order");
    assert_wide(&x);
    assert_same_batch(&x, &y);
    postings_build_free(a);
    postings_build_free(b);
    tok_free(t1);
    tok_free(t2);
}

/* Three pieces (the worker's, the caller's, the caller's share at commit)
 * merged into the first, in both orders, for a few interleavings: the
 * result is the one builder's. With these seeds document 0 never goes to
 * piece 0, so every merge into it must also move its chunk records. */
Test(postings_merge, interleaved_pieces_equal_one_builder)
{
    tok_tokenizer *t1 = english_tokenizer();
    postings_builder *one = postings_build_new();
    build(one, t1, 1, 42);
    store_batch ref;
    cr_assert_eq(postings_build_finish(one, &ref), 0);
    assert_wide(&ref);
    for (unsigned pick = 1; pick <= 4; pick++) {
        for (int order = 0; order < 2; order++) {
            postings_builder *pb[3];
            tok_tokenizer *t[3];
            for (int k = 0; k < 3; k++) {
                pb[k] = postings_build_new();
                t[k] = english_tokenizer();
            }
            build_pieces(pb, t, 1, 42, 3, 0x9e3779b9u * pick);
            store_batch part;
            cr_assert_eq(postings_build_finish(pb[0], &part), -1,
                         "a piece with holes must not finish");
            cr_assert_eq(postings_build_merge(pb[0], pb[order ? 2 : 1]), 0);
            cr_assert_eq(postings_build_merge(pb[0], pb[order ? 1 : 2]), 0);
            cr_assert_eq(postings_build_merge(pb[0], pb[1]), -1, "a chunk merged twice");
            store_batch x;
            cr_assert_eq(postings_build_finish(pb[0], &x), 0);
            size_t linked = 0;
            for (size_t i = 0; i < x.n_terms; i++)
                linked += x.terms[i]->n2 > 0;
            cr_assert_gt(linked, 0, "some terms keep a linked second list");
            assert_same_batch(&x, &ref);
            for (int k = 0; k < 3; k++) {
                postings_build_free(pb[k]);
                tok_free(t[k]);
            }
        }
    }
    postings_build_free(one);
    tok_free(t1);
}

/* Thousands of terms sharing their first 8 bytes: the radix passes leave
 * one long run, which must still come out in byte order (qsort takes runs
 * that insertion sort would take quadratic time on). */
Test(postings_sort, one_long_run_of_a_shared_prefix)
{
    tok_tokenizer *t = english_tokenizer();
    postings_builder *pb = postings_build_new();
    tok_list text;
    tok_list_init(&text);
    unsigned seed = 7;
    char buf[64], w[64];
    for (uint32_t c = 0; c < 3000; c++) {
        random_word(&seed, w);
        int n = snprintf(buf, sizeof buf, "zzzzzzzz%s%u", w, c % 97);
        tok_list_reset(&text);
        cr_assert_eq(tok_tokenize(t, buf, (size_t)n, &text), 0);
        uint32_t len;
        cr_assert_eq(postings_build_chunk(pb, t, c, c, &text, NULL, &len), 0);
    }
    store_batch x;
    cr_assert_eq(postings_build_finish(pb, &x), 0);
    cr_assert_gt(x.n_terms, 2000);
    cr_assert_eq(assert_sorted(&x), x.n_terms - 1, "every neighbour shares the prefix");
    tok_list_free(&text);
    postings_build_free(pb);
    tok_free(t);
}

/* A batch whose posting says its counts are wide but that has no record
 * of them is a builder bug: apply refuses it and LMDB keeps its state. */
Test(postings_wide, apply_refuses_a_wide_posting_without_its_record)
{
    char dir[256];
    tmpdir_collection(dir, sizeof dir, "wide");
    lctx_db *db;
    cr_assert_eq(lctx_open(dir, LCTX_OPEN_CREATE, NULL, &db), LCTX_OK);
    cr_assert_eq(lctx_begin(db), LCTX_OK);
    lctx_doc d = {.id = "a", .text = "first document"};
    cr_assert_eq(lctx_add(db, &d), LCTX_OK);
    cr_assert_eq(lctx_commit(db, NULL), LCTX_OK, "%s", lctx_errmsg(db));
    MDB_txn *txn;
    store_stats before, after;
    cr_assert_eq(kv_read_begin(db, &txn), LCTX_OK);
    cr_assert_eq(kv_get_stats(db, txn, &before), LCTX_OK);
    kv_read_end(db, txn);

    store_bposting p = {(uint32_t)before.n_chunks, STORE_TF_WIDE, 0};
    store_term_postings tp = {"zzz", 3, &p, 1, 1, NULL, 0}, *terms[] = {&tp};
    store_chunkrec rec = {1, 70000};
    store_wide wide = {"zzz", 3, p.chunk, 70000, 0};
    store_batch b = {0};
    b.seq = before.last_seq + 1;
    b.terms = terms;
    b.n_terms = 1;
    b.first_chunk = p.chunk;
    b.chunks = &rec;
    b.n_chunks = 1;
    cr_assert_eq(kv_apply_batch(db, &b, NULL, NULL), LCTX_ERROR);
    cr_assert(strstr(lctx_errmsg(db), "lacks the exact counts"), "%s", lctx_errmsg(db));
    cr_assert_eq(kv_read_begin(db, &txn), LCTX_OK);
    cr_assert_eq(kv_get_stats(db, txn, &after), LCTX_OK);
    kv_read_end(db, txn);
    cr_assert_eq(after.last_seq, before.last_seq);
    cr_assert_eq(after.n_terms, before.n_terms);
    cr_assert_eq(after.n_chunks, before.n_chunks);
    /* with its record the same batch applies */
    b.wide = &wide;
    b.n_wide = 1;
    cr_assert_eq(kv_apply_batch(db, &b, NULL, NULL), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(kv_read_begin(db, &txn), LCTX_OK);
    cr_assert_eq(kv_get_stats(db, txn, &after), LCTX_OK);
    kv_read_end(db, txn);
    cr_assert_eq(after.last_seq, b.seq);
    cr_assert_eq(after.n_terms, before.n_terms + 1);
    lctx_close(db);
    tmpdir_collection_remove(dir);
}
