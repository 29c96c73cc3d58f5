/*
 * test_tok_cjk_tail.c — tokenizer rules 5: the last character of a CJK
 * run is indexed again as a unigram, at the last bigram's position.
 *
 * A query of one CJK character looks for its unigram and the bigrams it
 * starts (query/parse.c, lone_cjk). Under rules 4 the character that ends
 * a run is in neither: 我喜欢猫。 holds 我喜 喜欢 欢猫, so 猫 missed it,
 * and Chinese text puts a noun before punctuation all the time. The tests
 * check what a query finds, under rules 5 and in a collection that kept
 * rules 4 until it was rebuilt; that a query's own runs drop the unigram
 * (a phrase of a run's head must still match a longer run, and a query's
 * terms must not count the character twice); and the highlighting of a
 * one-character match at the end of a run.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "indexer/indexer.h"
#include "lctx.h"
#include "query/query.h"
#include "test_catalog_sql.h"
#include "test_hits.h"
#include "test_tmpdir.h"

TMPDIR_COLLECTION_SUITE(cjk_tail, "cjktail");

#define CAT_END "我喜欢猫。"        /* 猫 ends the run */
#define CAT_MID "这只猫很可爱"      /* 猫 starts the bigram 猫很 */
#define CAT_LONGER "我喜欢猫咪"     /* the run goes on past 猫 */
#define DOG "我喜欢狗。"

static void add_docs(lctx_db *db)
{
    static const char *const docs[][2] = {
        {"end", CAT_END}, {"mid", CAT_MID}, {"longer", CAT_LONGER}, {"dog", DOG},
    };
    cr_assert_eq(lctx_begin(db), LCTX_OK, "%s", lctx_errmsg(db));
    for (size_t i = 0; i < sizeof docs / sizeof *docs; i++) {
        lctx_doc d = {.id = docs[i][0], .text = docs[i][1]};
        cr_assert_eq(lctx_add(db, &d), LCTX_OK, "%s", lctx_errmsg(db));
    }
    cr_assert_eq(lctx_commit(db, NULL), LCTX_OK, "%s", lctx_errmsg(db));
}

/* The ids q finds, in id order, as "a b c". */
static const char *found(lctx_db *db, const char *q)
{
    static char out[256];
    const char *ids[] = {"dog", "end", "longer", "mid"};
    lctx_results *r = bm25_results(db, q, 10);
    out[0] = '\0';
    for (size_t i = 0; i < 4; i++)
        if (results_has(r, ids[i]))
            snprintf(out + strlen(out), sizeof out - strlen(out), "%s%s", out[0] ? " " : "",
                     ids[i]);
    lctx_results_free(r);
    return out;
}

Test(cjk_tail, one_character_finds_it_where_it_ends_a_run)
{
    lctx_db *db = create_collection(dir);
    cr_assert_eq(tokenizer_rules(db), 5);
    add_docs(db);
    cr_assert_str_eq(found(db, "猫"), "end longer mid");
    cr_assert_str_eq(found(db, "狗"), "dog");
    /* a bigram is a bigram: 欢猫 is in both runs that hold it */
    cr_assert_str_eq(found(db, "欢猫"), "end longer");
    /* the head of a longer run, as a phrase, still matches it */
    cr_assert_str_eq(found(db, "\"喜欢猫\""), "end longer");
    cr_assert_str_eq(found(db, "\"我喜欢猫\" -猫咪"), "end");
    lctx_close(db);
}

Test(cjk_tail, a_rules_4_collection_misses_it_until_rebuilt)
{
    lctx_db *db = create_collection(dir);
    add_one_doc(db, "first", "first document");
    lctx_close(db);
    catalog_sql(dir, "UPDATE config SET value='4' WHERE key='tokenizer_rules'");
    cr_assert_eq(lctx_open(dir, 0, NULL, &db), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(tokenizer_rules(db), 4);
    add_docs(db);
    cr_assert_str_eq(found(db, "猫"), "longer mid", "rules 4: not where it ends a run");
    lctx_close(db);
    cr_assert_eq(lctx_open(dir, LCTX_OPEN_REBUILD_INDEX, NULL, &db), LCTX_OK, "%s",
                 lctx_errmsg(db));
    cr_assert_eq(tokenizer_rules(db), 5);
    cr_assert_str_eq(found(db, "猫"), "end longer mid");
    lctx_close(db);
}

Test(cjk_tail, a_query_run_is_its_bigrams_only)
{
    tok_config cfg = {"english", 1, 1, 0, 0};
    char err[200];
    tok_tokenizer *t = tok_new(&cfg, err, sizeof err);
    cr_assert_not_null(t, "%s", err);
    query_parsed q;
    cr_assert_eq(query_parse(t, "我喜欢猫", &q, err, sizeof err), LCTX_OK, "%s", err);
    cr_assert_eq(q.n_terms, 3, "我喜 喜欢 欢猫, not 猫 again: %zu terms", q.n_terms);
    cr_assert_eq(q.n_prefixes, 0);
    query_parsed_free(&q);
    cr_assert_eq(query_parse(t, "\"我喜欢猫\"", &q, err, sizeof err), LCTX_OK, "%s", err);
    cr_assert_eq(q.n_phrases, 1);
    cr_assert_eq(q.phrases[0].n, 3);
    cr_assert_str_eq(q.phrases[0].word[2], "欢猫");
    query_parsed_free(&q);
    /* one character alone stays the prefix of its bigrams, its unigram included */
    cr_assert_eq(query_parse(t, "猫", &q, err, sizeof err), LCTX_OK, "%s", err);
    cr_assert_eq(q.n_terms, 0);
    cr_assert_eq(q.n_prefixes, 1);
    query_parsed_free(&q);
    tok_free(t);
}

Test(cjk_tail, the_match_at_the_end_of_a_run_is_highlighted)
{
    lctx_db *db = create_collection(dir);
    add_docs(db);
    lctx_search_opts o;
    lctx_search_opts_init(&o);
    o.mode = LCTX_MODE_BM25;
    o.snippets = 1;
    o.hl_open = "[";
    o.hl_close = "]";
    lctx_results *r;
    cr_assert_eq(lctx_search(db, "狗", &o, &r), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_results_count(r), 1);
    cr_assert_str_eq(lctx_results_get(r, 0)->snippet, "我喜欢[狗]。");
    lctx_results_free(r);
    lctx_close(db);
}
