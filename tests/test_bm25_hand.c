/*
 * test_bm25_hand.c — BM25 scores against values worked out by hand from
 * the formula (Lucene variant, here with k1 = 0.9, b = 0.4 set explicitly, BM25F title weighting).
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lctx.h"
#include "test_hits.h"
#include "test_tmpdir.h"
#include "test_wide.h"

TMPDIR_COLLECTION_SUITE(bm25, "bm25");

static lctx_db *make(double title_weight, const lctx_doc *docs, int n)
{
    lctx_config cfg;
    lctx_config_init(&cfg);
    cfg.title_weight = title_weight;
    /* Non-default parameters on purpose: the hand computations below use
     * Lucene's 0.9 / 0.4, which also checks the collection honours them. */
    cfg.bm25_k1 = 0.9;
    cfg.bm25_b = 0.4;
    lctx_db *db;
    cr_assert_eq(lctx_open(dir, LCTX_OPEN_CREATE, &cfg, &db), LCTX_OK);
    cr_assert_eq(lctx_begin(db), LCTX_OK);
    for (int i = 0; i < n; i++)
        cr_assert_eq(lctx_add(db, &docs[i]), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_commit(db, NULL), LCTX_OK);
    return db;
}

static lctx_results *run(lctx_db *db, const char *q)
{
    lctx_search_opts o;
    lctx_search_opts_init(&o);
    o.explain = 1;
    lctx_results *r;
    cr_assert_eq(lctx_search(db, q, &o, &r), LCTX_OK, "%s", lctx_errmsg(db));
    return r;
}

Test(bm25, body_only)
{
    lctx_doc docs[] = {
        {.id = "A", .text = "apple banana apple"},   /* len 3 */
        {.id = "B", .text = "banana cherry"},        /* len 2 */
        {.id = "C", .text = "cherry date fig grape"} /* len 4 */
    };
    lctx_db *db = make(1.0, docs, 3);
    /* N = 3, avgdl = 9 / 3 = 3 */
    lctx_results *r = run(db, "apple");
    cr_assert_eq(lctx_results_count(r), 1);
    double idf = log(1 + (3 - 1 + 0.5) / (1 + 0.5));            /* 0.98082925 */
    double want = idf * 2.0 / (2.0 + 0.9 * (1 - 0.4 + 0.4 * 3.0 / 3.0));
    cr_assert_float_eq(lctx_results_get(r, 0)->score, want, 1e-12);
    cr_assert_float_eq(want, 0.676434, 1e-6); /* the hand-computed number */
    cr_assert(strstr(lctx_results_get(r, 0)->explain, "\"tf_text\":2") != NULL);
    lctx_results_free(r);

    r = run(db, "banana");
    cr_assert_eq(lctx_results_count(r), 2);
    idf = log(1 + (3 - 2 + 0.5) / (2 + 0.5));                   /* ln 1.6 */
    double a = idf * 1.0 / (1.0 + 0.9 * (0.6 + 0.4 * 3.0 / 3.0));
    double b = idf * 1.0 / (1.0 + 0.9 * (0.6 + 0.4 * 2.0 / 3.0));
    cr_assert_str_eq(lctx_results_get(r, 0)->id, "B"); /* shorter wins */
    cr_assert_float_eq(lctx_results_get(r, 0)->score, b, 1e-12);
    cr_assert_float_eq(lctx_results_get(r, 1)->score, a, 1e-12);
    cr_assert_float_eq(b, 0.264047, 1e-6);
    lctx_results_free(r);

    /* two terms add up */
    r = run(db, "apple cherry");
    cr_assert_eq(lctx_results_count(r), 3);
    cr_assert_str_eq(lctx_results_get(r, 0)->id, "A");
    lctx_results_free(r);
    lctx_close(db);
}

Test(bm25, title_weighted)
{
    lctx_doc docs[] = {
        {.id = "A", .title = "apple", .text = "kiwi lemon"}, /* len 3, tf 2 x 1 */
        {.id = "B", .text = "apple kiwi"},                   /* len 2, tf 1 */
    };
    lctx_db *db = make(2.0, docs, 2);
    lctx_results *r = run(db, "apple");
    cr_assert_eq(lctx_results_count(r), 2);
    double idf = log(1 + (2 - 2 + 0.5) / (2 + 0.5));          /* ln 1.2 */
    double avg = 2.5;
    double a = idf * 2.0 / (2.0 + 0.9 * (0.6 + 0.4 * 3 / avg));
    double b = idf * 1.0 / (1.0 + 0.9 * (0.6 + 0.4 * 2 / avg));
    cr_assert_str_eq(lctx_results_get(r, 0)->id, "A");
    cr_assert_float_eq(lctx_results_get(r, 0)->score, a, 1e-12);
    cr_assert_float_eq(lctx_results_get(r, 1)->score, b, 1e-12);
    cr_assert(strstr(lctx_results_get(r, 0)->explain, "\"tf_title\":1") != NULL,
              "%s", lctx_results_get(r, 0)->explain);
    lctx_results_free(r);
    lctx_close(db);
}

/* --explain lists the query terms a hit holds; a term it lacks adds
 * nothing and is not listed. */
Test(bm25, explain_lists_the_terms_a_hit_holds)
{
    lctx_doc docs[] = {{.id = "A", .text = "apple pie"}, {.id = "B", .text = "cherry pie"}};
    lctx_db *db = make(1.0, docs, 2);
    lctx_results *r = run(db, "apple cherry kiwi");
    cr_assert_eq(lctx_results_count(r), 2);
    for (size_t i = 0; i < 2; i++) {
        const lctx_hit *h = lctx_results_get(r, i);
        const char *own = strcmp(h->id, "A") == 0 ? "appl" : "cherri";   /* stems */
        const char *other = strcmp(h->id, "A") == 0 ? "cherri" : "appl";
        char want[64], unwanted[64];
        snprintf(want, sizeof want, "\"term\":\"%s\"", own);
        snprintf(unwanted, sizeof unwanted, "\"term\":\"%s\"", other);
        cr_assert(strstr(h->explain, want), "%s: %s", h->id, h->explain);
        cr_assert_null(strstr(h->explain, unwanted), "%s: %s", h->id, h->explain);
        cr_assert_null(strstr(h->explain, "\"term\":\"kiwi\""), "%s: %s", h->id, h->explain);
    }
    lctx_results_free(r);
    lctx_close(db);
}

Test(bm25, repeated_query_term_weighs_double)
{
    lctx_doc docs[] = {{.id = "A", .text = "apple pie"}, {.id = "B", .text = "cherry pie"}};
    lctx_db *db = make(1.0, docs, 2);
    lctx_results *r1 = run(db, "apple"), *r2 = run(db, "apple apple");
    cr_assert_float_eq(lctx_results_get(r2, 0)->score, 2 * lctx_results_get(r1, 0)->score, 1e-12);
    lctx_results_free(r1);
    lctx_results_free(r2);
    lctx_close(db);
}

/* A batch holds counts in 16 bits and the exact values of larger ones
 * aside (store_wide): the index must still get the exact counts. The text
 * has no space, so the chunker sees one word and makes one chunk of 70,001
 * tokens; the title counts in that chunk 66,000 times. */
Test(bm25, counts_past_16_bits_are_exact)
{
    char *text = repeat_str("apple-", 70000, ""), *title = repeat_str("pear ", 66000, "apple");
    lctx_doc docs[] = {
        {.id = "A", .title = title, .text = text},
        {.id = "B", .text = "apple pear kiwi"},
    };
    lctx_db *db = make(1.0, docs, 2);
    cr_assert_eq(hits(db, "apple"), 2);
    cr_assert_eq(hits(db, "pear"), 2);
    char *ex = explain_first(db, "apple", "A");
    cr_assert(strstr(ex, "\"tf_text\":70000") && strstr(ex, "\"tf_title\":1"), "%s", ex);
    free(ex);
    ex = explain_first(db, "pear", "A");
    cr_assert(strstr(ex, "\"tf_title\":66000") && strstr(ex, "\"tf_text\":0"), "%s", ex);
    free(ex);
    cr_assert_eq(lctx_check(db), LCTX_OK, "%s", lctx_errmsg(db));
    lctx_close(db);
    free(text);
    free(title);
}

/* A prefix's expansions are one synonym: their tf add up and saturate
 * once, with the group's IDF (document frequencies summed). A chunk with
 * two different expansions scores what one with the same expansion twice
 * does; scored as two terms it would score more. --explain splits the
 * group's score between the expansions by tf. */
Test(bm25, prefix_group_is_one_synonym)
{
    lctx_doc docs[] = {
        {.id = "A", .text = "zapa zapb kiwi"},  /* len 3, group tf 2 */
        {.id = "B", .text = "zapa zapa kiwi"},  /* len 3, group tf 2 */
        {.id = "C", .text = "zapb lemon"},      /* len 2, group tf 1 */
        {.id = "D", .text = "lemon kiwi fig"},
        {.id = "E", .text = "fig"},
        {.id = "F", .text = "lemon fig"},
    };
    lctx_db *db = make(1.0, docs, 6);
    /* N = 6, avgdl = 14 / 6; df(zapa) = 2, df(zapb) = 2: the group's 4 */
    double avg = 14.0 / 6.0, idf = log(1 + (6 - 4 + 0.5) / (4 + 0.5));
    double ab = idf * 2.0 / (2.0 + 0.9 * (0.6 + 0.4 * 3 / avg));
    double c = idf * 1.0 / (1.0 + 0.9 * (0.6 + 0.4 * 2 / avg));
    lctx_results *r = run(db, "zap*");
    cr_assert_eq(lctx_results_count(r), 3);
    cr_assert_str_eq(lctx_results_get(r, 0)->id, "A", "equal scores: the lower id first");
    cr_assert_str_eq(lctx_results_get(r, 1)->id, "B");
    cr_assert_str_eq(lctx_results_get(r, 2)->id, "C");
    cr_assert_float_eq(lctx_results_get(r, 0)->score, ab, 1e-12);
    cr_assert_float_eq(lctx_results_get(r, 1)->score, ab, 1e-12);
    cr_assert_float_eq(lctx_results_get(r, 2)->score, c, 1e-12);
    cr_assert_float_eq(ab, 0.294275, 1e-6);   /* the hand-computed number */
    /* A's explanation: each expansion, tf 1 of the group's 2, half the score */
    const char *ex = lctx_results_get(r, 0)->explain;
    cr_assert(strstr(ex, "\"prefix\":\"zap\"") && strstr(ex, "\"group_tf\":2"), "%s", ex);
    cr_assert(strstr(ex, "\"term\":\"zapa\"") && strstr(ex, "\"term\":\"zapb\""), "%s", ex);
    double share = 0;
    int n_shares = 0;
    for (const char *p = ex; (p = strstr(p, "\"tf\":1,")); p++) {
        const char *sc = strstr(p, "\"score\":");
        cr_assert(sc, "%s", ex);
        cr_assert_float_eq(strtod(sc + 8, NULL), ab / 2, 1e-9, "%s", ex);
        share += strtod(sc + 8, NULL);
        n_shares++;
    }
    cr_assert_eq(n_shares, 2, "%s", ex);
    cr_assert_float_eq(share, ab, 1e-9, "the shares sum to the hit's score: %s", ex);
    lctx_results_free(r);
    lctx_close(db);
}
