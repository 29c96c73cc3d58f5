/*
 * test_tok_rules.c — the tokenizer's rules 2 (TOK_RULES) and how a
 * collection keeps the rules its index was made with.
 *
 * Rules 2 read text the way NFKC already normalises it:
 *  - fullwidth and small ', , and . stay inside words as the ASCII ones do
 *    (１，０００ is one term, 1,000; don＇t is don't), where rules 1 split
 *    them (1 and 000);
 *  - decomposed (NFD) Hangul, an initial, a vowel and a final per syllable,
 *    is bigrammed by syllable and so gives the terms composed text gives,
 *    where rules 1 made bigrams of single jamo.
 * The expected terms are those of the ASCII or composed spelling, which the
 * tokenizer's older tests pin down, never the engine's output for the new
 * spelling itself.
 *
 * A collection made before rules were recorded keeps rules 1 (its postings
 * were made with them), searches with them, and takes rules 2 when its
 * index is rebuilt from the catalog.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "indexer/indexer.h"
#include "lctx.h"
#include "test_catalog_sql.h"
#include "test_hits.h"
#include "test_tmpdir.h"
#include "test_tok.h"

/* 한국어 decomposed: 한 = U+1112 U+1161 U+11AB, 국 = U+1100 U+116E U+11A8,
 * 어 = U+110B U+1165. */
#define NFD_HANGUGEO "\xe1\x84\x92\xe1\x85\xa1\xe1\x86\xab\xe1\x84\x80\xe1\x85\xae\xe1\x86\xa8" \
                     "\xe1\x84\x8b\xe1\x85\xa5"

/* "term term ..." of s with rules (0 = TOK_RULES), by both segmenters,
 * which must agree. */
static const char *terms(const char *s, int rules)
{
    return tok_terms_of("english", 1, rules, s);
}

Test(tok_rules, fullwidth_separators_inside_words)
{
    static const char *pairs[][2] = {
        {"price \xef\xbc\x91\xef\xbc\x8c\xef\xbc\x90\xef\xbc\x90\xef\xbc\x90 yen", "price 1,000 yen"},
        {"\xef\xbc\x93\xef\xbc\x8e\xef\xbc\x91\xef\xbc\x94", "3.14"},          /* ３．１４ */
        {"3\xef\xbc\x8e" "14", "3.14"},                                        /* 3．14 */
        {"1\xef\xb9\x90" "000", "1,000"},                                      /* small comma */
        {"don\xef\xbc\x87t stop", "don't stop"},                               /* don＇t */
    };
    for (size_t i = 0; i < sizeof pairs / sizeof *pairs; i++) {
        char want[256];
        snprintf(want, sizeof want, "%s", terms(pairs[i][1], 0));
        cr_assert_str_eq(terms(pairs[i][0], 0), want, "%s", pairs[i][0]);
    }
    /* not between two digits or two letters: a separator, as in ASCII */
    cr_assert_str_eq(terms("end\xef\xbc\x8e next", 0), terms("end. next", 0));
    /* rules 1: split, as collections made before rules 2 were indexed */
    cr_assert_str_eq(terms("\xef\xbc\x91\xef\xbc\x8c\xef\xbc\x90\xef\xbc\x90\xef\xbc\x90", 1),
                     "1 000");
}

Test(tok_rules, decomposed_hangul_bigrams_by_syllable)
{
    char want[256];
    snprintf(want, sizeof want, "%s", terms("한국어", 0));
    cr_assert_str_eq(want, "한국 국어 어");   /* rules 5: and the run's last syllable */
    cr_assert_str_eq(terms(NFD_HANGUGEO, 0), want);
    /* each bigram's bytes are its two syllables' jamo */
    tok_config cfg = {"english", 1, 1, 0, 0};
    tok_tokenizer *t = tok_new(&cfg, NULL, 0);
    tok_list l;
    tok_list_init(&l);
    cr_assert_eq(tok_tokenize(t, NFD_HANGUGEO, strlen(NFD_HANGUGEO), &l), 0);
    cr_assert_eq(l.n, 3);
    cr_assert_eq(l.tokens[0].start, 0);
    cr_assert_eq(l.tokens[0].end, 18);
    cr_assert_eq(l.tokens[1].start, 9);
    cr_assert_eq(l.tokens[1].end, 24);
    cr_assert_eq(l.tokens[2].start, 18);
    cr_assert_eq(l.tokens[2].end, 24);
    tok_list_free(&l);
    tok_free(t);
    /* rules 1 bigrammed jamo: none of the composed terms */
    cr_assert_null(strstr(terms(NFD_HANGUGEO, 1), "한국"));
}

/* ------------------------------------------------------- collections */
TMPDIR_COLLECTION_SUITE(tok_coll, "tokrules");

#define FULLWIDTH_1000 "\xef\xbc\x91\xef\xbc\x8c\xef\xbc\x90\xef\xbc\x90\xef\xbc\x90"

/* A new collection at dir with one committed document, closed. */
static void make_one_document(void)
{
    lctx_db *db;
    cr_assert_eq(lctx_open(dir, LCTX_OPEN_CREATE, NULL, &db), LCTX_OK, "%s", lctx_errmsg(db));
    add_one_doc(db, "a", "first document");
    lctx_close(db);
}

Test(tok_coll, a_new_collection_uses_the_current_rules)
{
    lctx_db *db;
    cr_assert_eq(lctx_open(dir, LCTX_OPEN_CREATE, NULL, &db), LCTX_OK, "%s", lctx_errmsg(db));
    add_one_doc(db, "fw", "it costs " FULLWIDTH_1000 " yen");
    cr_assert_eq(hits(db, "1,000"), 1);
    cr_assert_eq(hits(db, "000"), 0);
    lctx_close(db);
}

Test(tok_coll, an_older_collection_keeps_its_rules_until_rebuilt)
{
    lctx_db *db;
    make_one_document();
    /* as a collection made before rules were recorded */
    catalog_sql(dir, "DELETE FROM config WHERE key='tokenizer_rules'");
    cr_assert_eq(lctx_open(dir, 0, NULL, &db), LCTX_OK, "%s", lctx_errmsg(db));
    add_one_doc(db, "fw", "it costs " FULLWIDTH_1000 " yen");
    /* indexed and searched with rules 1: 1 and 000, and the query alike */
    cr_assert_eq(hits(db, "000"), 1);
    cr_assert_eq(hits(db, FULLWIDTH_1000), 1);
    cr_assert_eq(hits(db, "1,000"), 0);
    lctx_close(db);
    cr_assert_eq(lctx_open(dir, LCTX_OPEN_REBUILD_INDEX, NULL, &db), LCTX_OK, "%s",
                 lctx_errmsg(db));
    lctx_close(db);
    cr_assert_eq(lctx_open(dir, 0, NULL, &db), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(hits(db, "1,000"), 1);
    cr_assert_eq(hits(db, FULLWIDTH_1000), 1);
    cr_assert_eq(hits(db, "000"), 0);
    cr_assert_eq(lctx_check(db), LCTX_OK, "%s", lctx_errmsg(db));
    lctx_close(db);
}

Test(tok_coll, rules_from_a_newer_lctx_are_refused)
{
    lctx_db *db;
    make_one_document();
    catalog_sql(dir, "UPDATE config SET value='9' WHERE key='tokenizer_rules'");
    cr_assert_eq(lctx_open(dir, 0, NULL, &db), LCTX_EVERSION);
    cr_assert_not_null(strstr(lctx_errmsg(db), "tokenizer rules"), "%s", lctx_errmsg(db));
    lctx_close(db);
}
