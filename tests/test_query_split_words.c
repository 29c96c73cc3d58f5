/*
 * test_query_split_words.c — a query word the tokenizer cuts into several
 * terms (CJK text into overlapping bigrams, "e-mail" and "example.com"
 * into parts) still means the word as a whole.
 *
 *   -word      leaves out the documents that hold the word, not those
 *              that hold any one of its terms: -カメラ must keep a
 *              document with メラニン, -e-mail one with "the mail"
 *   highlight  the word is marked once over its whole extent: the bigrams
 *              東京, 京タ, タワ, ワー of 東京タワー are one highlight, not
 *              [東京][タワ]ー
 *
 * and typographic quotes, as a pasted query has them (“…”, „…“, ＂…＂,
 * «…», 「…」), quote a phrase as '"' does; a minus sign (−) or fullwidth
 * minus (－) at the start of a word excludes it as '-' does.
 *
 * The documents a -word must leave out are found by a plain substring test
 * of the fixture's texts (case folded by hand for the Latin ones), never
 * from the engine.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lctx.h"
#include "test_tmpdir.h"

TMPDIR_COLLECTION_SUITE(split, "split");

/* id, text (all lower case, so a substring test is the reference) */
static const char *DOCS[][2] = {
    {"j1", "新しいカメラを買った"},
    {"j2", "新しいメラニン研究"},
    {"j3", "新しい東京の地図"},
    {"j4", "東京タワーに行きたい。新しいカメラを買った。"},
    {"k1", "새로운 한국어 형태소 분석기"},
    {"k2", "새로운 국어 사전"},
    {"e1", "send an e-mail today"},
    {"e2", "the mail arrived today"},
    {"e3", "visit example.com today"},
    {"e4", "a com port and an example today"},
};
#define NDOCS (sizeof DOCS / sizeof *DOCS)

static lctx_db *open_fixture(void)
{
    lctx_db *db;
    cr_assert_eq(lctx_open(dir, LCTX_OPEN_CREATE, NULL, &db), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_begin(db), LCTX_OK);
    for (size_t i = 0; i < NDOCS; i++) {
        lctx_doc d = {.id = DOCS[i][0], .text = DOCS[i][1]};
        cr_assert_eq(lctx_add(db, &d), LCTX_OK, "%s", lctx_errmsg(db));
    }
    cr_assert_eq(lctx_commit(db, NULL), LCTX_OK, "%s", lctx_errmsg(db));
    return db;
}

/* q's hits, all of them (the fixture is small), with snippets if asked. */
static lctx_results *search(lctx_db *db, const char *q, int snippets)
{
    lctx_search_opts o;
    lctx_search_opts_init(&o);
    o.k = 100;
    o.snippets = snippets;
    lctx_results *r;
    cr_assert_eq(lctx_search(db, q, &o, &r), LCTX_OK, "%s: %s", q, lctx_errmsg(db));
    return r;
}

/* 1 when the result set of q is exactly the documents holding `with` and
 * not holding `without`. */
static void assert_exclusion(lctx_db *db, const char *q, const char *with, const char *without)
{
    lctx_results *r = search(db, q, 0);
    size_t want = 0;
    for (size_t i = 0; i < NDOCS; i++) {
        int in = strstr(DOCS[i][1], with) && !strstr(DOCS[i][1], without);
        int found = 0;
        for (size_t j = 0; j < lctx_results_count(r); j++)
            found |= !strcmp(lctx_results_get(r, j)->id, DOCS[i][0]);
        cr_assert_eq(found, in, "%s: document %s (%s) %s", q, DOCS[i][0], DOCS[i][1],
                     in ? "missing" : "returned");
        want += (size_t)in;
    }
    cr_assert_eq(lctx_results_count(r), want, "%s", q);
    cr_assert_gt(want, 0, "%s: the fixture has a document to find", q);
    lctx_results_free(r);
}

Test(split, an_excluded_word_is_excluded_whole)
{
    lctx_db *db = open_fixture();
    assert_exclusion(db, "新しい -カメラ", "新しい", "カメラ");
    assert_exclusion(db, "새로운 -한국어", "새로운", "한국어");
    assert_exclusion(db, "today -e-mail", "today", "e-mail");
    assert_exclusion(db, "today -example.com", "today", "example.com");
    /* the quoted form means the same */
    assert_exclusion(db, "新しい -\"カメラ\"", "新しい", "カメラ");
    lctx_close(db);
}

static char *first_snippet(lctx_db *db, const char *q)
{
    lctx_results *r = search(db, q, 1);
    cr_assert_gt(lctx_results_count(r), 0, "%s", q);
    char *s = strdup(lctx_results_get(r, 0)->snippet);
    lctx_results_free(r);
    return s;
}

Test(split, a_cjk_word_is_highlighted_whole)
{
    lctx_db *db = open_fixture();
    static const char *cases[][2] = {
        {"東京タワー", "[東京タワー]"},
        {"カメラ", "[カメラ]"},
        {"한국어", "[한국어]"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *s = first_snippet(db, cases[i][0]);
        cr_assert_not_null(strstr(s, cases[i][1]), "%s: %s", cases[i][0], s);
        /* one opening mark per occurrence of the word */
        size_t marks = 0;
        for (const char *p = s; (p = strchr(p, '[')); p++)
            marks++;
        cr_assert_eq(marks, 1, "%s: %s", cases[i][0], s);
        free(s);
    }
    /* words apart stay apart */
    char *s = first_snippet(db, "send today");
    cr_assert_not_null(strstr(s, "[send] an e-mail [today]"), "%s", s);
    free(s);
    lctx_close(db);
}

/* The ids of q's hits, in order, as one string. */
static char *ids_of(lctx_db *db, const char *q)
{
    lctx_results *r = search(db, q, 0);
    char *s = calloc(1, 1024);
    for (size_t j = 0; j < lctx_results_count(r); j++) {
        strcat(s, lctx_results_get(r, j)->id);
        strcat(s, " ");
    }
    lctx_results_free(r);
    return s;
}

Test(split, typographic_quotes_quote_a_phrase)
{
    lctx_db *db = open_fixture();
    char *plain = ids_of(db, "\"mail arrived\""), *words = ids_of(db, "mail arrived");
    cr_assert_str_eq(plain, "e2 ", "the phrase is in e2 alone");
    cr_assert_str_neq(words, plain, "the words alone find more: %s", words);
    static const char *typo[] = {
        "\u201cmail arrived\u201d", "\u201email arrived\u201c", "\uff02mail arrived\uff02",
        "\u00abmail arrived\u00bb", "\u00ab mail arrived \u00bb", "\u300cmail arrived\u300d",
    };
    for (size_t i = 0; i < sizeof typo / sizeof *typo; i++) {
        char *got = ids_of(db, typo[i]);
        cr_assert_str_eq(got, plain, "%s", typo[i]);
        free(got);
    }
    char *ex = ids_of(db, "today -\u201cmail arrived\u201d");
    cr_assert_null(strstr(ex, "e2"), "%s", ex);
    cr_assert_not_null(strstr(ex, "e1"), "%s", ex);
    free(ex);
    free(plain);
    free(words);
    lctx_close(db);
}

Test(split, minus_signs_exclude_as_hyphen_minus_does)
{
    lctx_db *db = open_fixture();
    assert_exclusion(db, "\u65b0\u3057\u3044 -\u30ab\u30e1\u30e9", "\u65b0\u3057\u3044",
                     "\u30ab\u30e1\u30e9");
    assert_exclusion(db, "\u65b0\u3057\u3044 \uff0d\u30ab\u30e1\u30e9", "\u65b0\u3057\u3044",
                     "\u30ab\u30e1\u30e9");
    assert_exclusion(db, "today \u2212e-mail", "today", "e-mail");
    /* Inside a word a minus sign is not an exclusion: "today−mail" is the
     * tokenizer's to split, and finds what today and mail find. */
    char *inner = ids_of(db, "today\u2212mail"), *words = ids_of(db, "today mail");
    cr_assert_str_eq(inner, words);
    free(inner);
    free(words);
    lctx_close(db);
}
