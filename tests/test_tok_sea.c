/*
 * test_tok_sea.c — tokenizer rules 4: Thai, Lao, Khmer and Myanmar runs
 * split into words by ICU's dictionaries (indexer/tok_sea.c), and what
 * collections with older rules keep.
 *
 * The expected words are the languages' own (a Thai reader splits
 * สวัสดีครับผมชื่อสมชาย "hello / (polite) / I / name / Somchai" the same
 * way); under rules 3 each run was one term. A test of the byte ranges
 * checks that every word points at its own bytes of the original text,
 * which snippets highlight.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "indexer/indexer.h"
#include "lctx.h"
#include "store/store.h"
#include "test_catalog_sql.h"
#include "test_hits.h"
#include "test_tmpdir.h"
#include "test_tok.h"

#define TH_HELLO "สวัสดีครับผมชื่อสมชาย"
#define ZWSP "\xe2\x80\x8b"
#define DAM "ด\xe0\xb9\x8d\xe0\xb8\xb2"      /* ดำ folded (NFKC) */
#define NO_ICU "libicuuc-lctx-test-missing.so.0"

static const char *words(int rules, const char *s)
{
    return tok_terms_of("english", 1, rules, s);
}

Test(tok_sea, thai_lao_khmer_myanmar_runs_are_words)
{
    cr_assert_str_eq(words(0, TH_HELLO), "สวัสดี ครับ ผม ชื่อ สมชาย");
    cr_assert_str_eq(words(0, "ฉันกินข้าว"), "ฉัน กิน ข้าว");
    cr_assert_str_eq(words(0, "ພາສາລາວເປັນພາສາ"), "ພາສາ ລາວ ເປັນ ພາສາ");
    cr_assert_str_eq(words(0, "ភាសាខ្មែរជាភាសា"), "ភាសាខ្មែរ ជា ភាសា");
    cr_assert_str_eq(words(0, "မြန်မာဘာသာစကား"), "မြန်မာဘာသာ စကား");
}

Test(tok_sea, other_scripts_digits_and_breaks_end_a_run)
{
    /* Latin and Thai digits are words of their own; Thai digits are ASCII
     * (rules 3); ZWSP, spaces and punctuation end a run. NFKC, applied to
     * each word as to any other, splits SARA AM (U+0E33) into NIKHAHIT and
     * SARA AA: ดำ is indexed, and searched, as ด + U+0E4D U+0E32. */
    cr_assert_str_eq(words(0, "iPhoneแมวดำ๑๒๓หมา"), "iphon แมว " DAM " 123 หมา");
    cr_assert_str_eq(words(0, "แมว" ZWSP "ดำ, หมาวิ่งเร็ว"), "แมว " DAM " หมา วิ่ง เร็ว");
    /* English around it is untouched: stemmed, stopwords dropped */
    cr_assert_str_eq(words(0, "the cats ฉันกินข้าว running"), "cat ฉัน กิน ข้าว run");
}

Test(tok_sea, rules_3_keep_a_run_whole)
{
    cr_assert_str_eq(words(3, TH_HELLO), TH_HELLO);
    cr_assert_str_eq(words(3, "ฉันกินข้าว แมว"), "ฉันกินข้าว แมว");
}

Test(tok_sea, words_point_at_their_bytes)
{
    const char *s = "ok " TH_HELLO " ฉันกินข้าว";
    tok_tokenizer *t = english_tokenizer();
    tok_list l;
    tok_list_init(&l);
    cr_assert_eq(tok_tokenize(t, s, strlen(s), &l), 0);
    cr_assert_eq(l.n, 9);
    for (size_t i = 0; i < l.n; i++) {
        size_t a = l.tokens[i].start, e = l.tokens[i].end;
        cr_assert_lt(a, e);
        cr_assert_eq(e - a, l.tokens[i].term_len, "%zu", i);   /* no folding in Thai */
        cr_assert_eq(memcmp(s + a, tok_term(&l, i), e - a), 0, "%zu", i);
        cr_assert_eq(l.tokens[i].pos, i);
        if (i)
            cr_assert_geq(a, l.tokens[i - 1].end);
    }
    cr_assert_eq(l.tokens[1].start, 3);                        /* สวัสดี: 6 characters */
    cr_assert_eq(l.tokens[1].end, 3 + 18);
    tok_list_free(&l);
    tok_free(t);
}

Test(tok_sea, without_icu_thai_fails_and_says_why)
{
    tok_tokenizer *t = english_tokenizer();
    tok_list l;
    tok_list_init(&l);
    tok_test_icu(t, NO_ICU);
    cr_assert_eq(tok_tokenize(t, "ok " TH_HELLO, strlen("ok " TH_HELLO), &l), -1);
    int mem = -1;
    const char *why = tok_error(t, &mem);
    cr_assert_not_null(strstr(why, "needs ICU"), "%s", why);
    cr_assert_not_null(strstr(why, "libicu-dev"), "%s", why);
    cr_assert_eq(mem, 0);
    /* text without those scripts needs no ICU, and the reason is not kept */
    tok_list_reset(&l);
    cr_assert_eq(tok_tokenize(t, "plain words", 11, &l), 0);
    cr_assert_eq(l.n, 2);
    cr_assert_str_eq(tok_error(t, &mem), "out of memory");
    cr_assert_eq(mem, 1);
    tok_list_free(&l);
    tok_free(t);
    char err[200];
    cr_assert_null(tok_sea_new(NO_ICU, err, sizeof err));
    cr_assert_not_null(strstr(err, NO_ICU), "%s", err);
}

/* ------------------------------------------------------- collections */
TMPDIR_COLLECTION_SUITE(tok_sea_coll, "toksea");

Test(tok_sea_coll, a_word_inside_a_thai_run_is_found)
{
    lctx_db *db = create_collection(dir);
    cr_assert_eq(tokenizer_rules(db), TOK_RULES);
    add_one_doc(db, "th", TH_HELLO " ฉันกินข้าว");
    add_one_doc(db, "lo", "ພາສາລາວເປັນພາສາ");
    cr_assert_eq(hits(db, "สมชาย"), 1);
    cr_assert_eq(hits(db, "กิน"), 1);
    cr_assert_eq(hits(db, "ລາວ"), 1);
    cr_assert_eq(hits(db, "\"ผมชื่อ\""), 1);          /* adjacent words, as a phrase */
    cr_assert_eq(hits(db, "\"ชื่อผม\""), 0);          /* the phrase's order */
    cr_assert_eq(hits(db, "ชื่อผม"), 1);              /* both words, any order */
    cr_assert_eq(hits(db, "-ครับ สมชาย"), 0);
    cr_assert_eq(hits(db, "แมว"), 0);
    lctx_close(db);
}

Test(tok_sea_coll, without_icu_the_batch_fails_and_changes_nothing)
{
    lctx_db *db = create_collection(dir);
    add_one_doc(db, "en", "plain english words");
    lctx_close(db);
    cr_assert_eq(lctx_open(dir, 0, NULL, &db), LCTX_OK, "%s", lctx_errmsg(db));
    store_test_icu(db, NO_ICU);
    cr_assert_eq(lctx_begin(db), LCTX_OK, "%s", lctx_errmsg(db));
    lctx_doc d = {.id = "th", .text = TH_HELLO};
    int rc = lctx_add(db, &d);
    if (rc == LCTX_OK)
        rc = lctx_commit(db, NULL);   /* the worker's failure comes out here */
    else
        lctx_rollback(db);
    cr_assert_neq(rc, LCTX_OK);
    cr_assert_not_null(strstr(lctx_errmsg(db), "needs ICU"), "%s", lctx_errmsg(db));
    lctx_search_opts o;
    lctx_search_opts_init(&o);
    o.mode = LCTX_MODE_BM25;
    lctx_results *r = NULL;
    cr_assert_neq(lctx_search(db, "สมชาย", &o, &r), LCTX_OK);
    cr_assert_not_null(strstr(lctx_errmsg(db), "needs ICU"), "%s", lctx_errmsg(db));
    cr_assert_eq(hits(db, "english"), 1);
    lctx_stats st;
    cr_assert_eq(lctx_stats_get(db, &st), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(st.documents, 1);
    lctx_close(db);
}

static void sql(const char *stmt)
{
    catalog_sql(dir, stmt);
}

Test(tok_sea_coll, a_rules_3_collection_keeps_whole_runs_until_rebuilt)
{
    lctx_db *db = create_collection(dir);
    add_one_doc(db, "a", "first document");
    lctx_close(db);
    sql("UPDATE config SET value='3' WHERE key='tokenizer_rules'");
    cr_assert_eq(lctx_open(dir, 0, NULL, &db), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(tokenizer_rules(db), 3);
    add_one_doc(db, "th", TH_HELLO);
    cr_assert_eq(hits(db, "สมชาย"), 0);
    cr_assert_eq(hits(db, TH_HELLO), 1);
    lctx_close(db);
    cr_assert_eq(lctx_open(dir, LCTX_OPEN_REBUILD_INDEX, NULL, &db), LCTX_OK, "%s",
                 lctx_errmsg(db));
    cr_assert_eq(tokenizer_rules(db), TOK_RULES);
    cr_assert_eq(hits(db, "สมชาย"), 1);
    cr_assert_eq(hits(db, TH_HELLO), 1);   /* its words, all of them */
    lctx_close(db);
}
