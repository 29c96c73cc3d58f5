/*
 * test_hybrid_fusion.c — fusing BM25 and vector rankings: the formulas on
 * hand-computed examples, hybrid search end to end, filters over both
 * recalls, and "more like this". Needs the USE-lite model (`make model`).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "indexer/indexer.h"
#include "query/query.h"
#include "store/store.h"
#include "test_tmpdir.h"

/* ------------------------------------------------------------- formulas */
static const bm25_hit A[] = {{10, 1, 11}, {6, 2, 21}, {2, 3, 31}};
static const bm25_hit B[] = {{0.9, 3, 32}, {0.5, 4, 41}, {0.1, 1, 12}};

Test(fusion, rrf_hand_computed)
{
    fused_hit *f = NULL;
    size_t n = 0;
    cr_assert_eq(fusion_rrf(A, 3, B, 3, 60, &f, &n), 0);
    cr_assert_eq(n, 4);
    /* docs 1 and 3 both have ranks 1 and 3: a tie, broken by doc id. */
    cr_expect_eq(f[0].doc, 1);
    cr_expect_eq(f[1].doc, 3);
    cr_expect_eq(f[2].doc, 2);
    cr_expect_eq(f[3].doc, 4);
    cr_expect_float_eq(f[0].score, 1.0 / 61 + 1.0 / 63, 1e-15);
    cr_expect_float_eq(f[1].score, 1.0 / 63 + 1.0 / 61, 1e-15);
    cr_expect_float_eq(f[2].score, 1.0 / 62, 1e-15);
    cr_expect_float_eq(f[3].score, 1.0 / 62, 1e-15);
    cr_expect_eq(f[2].rank_vec, 0, "doc 2 is missing from the vector list");
    cr_expect_eq(f[3].rank_bm25, 0, "doc 4 is missing from the BM25 list");
    /* BM25's chunk is the one shown when both recalled the document. */
    cr_expect_eq(f[1].chunk, 31);
    cr_expect_eq(f[3].chunk, 41);
    free(f);
    cr_assert_eq(fusion_rrf(A, 3, B, 3, 0, &f, &n), 0); /* 0 means 60 */
    cr_expect_float_eq(f[0].score, 1.0 / 61 + 1.0 / 63, 1e-15);
    free(f);
}

Test(fusion, linear_hand_computed)
{
    fused_hit *f = NULL;
    size_t n = 0;
    cr_assert_eq(fusion_linear(A, 3, B, 3, 0.25, &f, &n), 0);
    cr_assert_eq(n, 4);
    double want[][2] = {{1, 0.75}, {2, 0.375}, {3, 0.25}, {4, 0.125}};
    for (int i = 0; i < 4; i++) {
        cr_expect_eq(f[i].doc, (uint32_t)want[i][0]);
        cr_expect_float_eq(f[i].score, want[i][1], 1e-12, "doc %u: %f", f[i].doc, f[i].score);
    }
    cr_expect_float_eq(f[0].nbm25, 1.0, 1e-12);
    cr_expect_float_eq(f[0].nvec, 0.0, 1e-12);
    cr_expect_float_eq(f[1].nvec, 0.0, 1e-12); /* missing side counts 0 */
    cr_expect_float_eq(f[0].bm25, 10, 0);
    cr_expect_float_eq(f[0].vec, 0.1, 1e-12);
    free(f);
    /* alpha 1: the vector ranking alone; one-entry lists normalise to 1. */
    cr_assert_eq(fusion_linear(A, 3, B, 3, 1.0, &f, &n), 0);
    cr_expect_eq(f[0].doc, 3);
    cr_expect_eq(f[1].doc, 4);
    free(f);
    cr_assert_eq(fusion_linear(A, 1, NULL, 0, 0.5, &f, &n), 0);
    cr_assert_eq(n, 1);
    cr_expect_float_eq(f[0].score, 0.5, 1e-12);
    free(f);
    cr_assert_eq(fusion_linear(NULL, 0, NULL, 0, 0.5, &f, &n), 0);
    cr_expect_eq(n, 0);
    free(f);
}

/* ------------------------------------------------------------ end to end */
static char dir[256];
static lctx_db *db;

static const char *DOCS[][3] = {
    {"cats", "Cats are small furry animals that purr and chase mice.", "a"},
    {"cats2", "Cats are small furry animals that purr and chase mice all day long.", "b"},
    {"dogs", "Dogs are loyal animals that bark and fetch sticks.", "b"},
    {"rockets", "Rockets carry satellites into orbit around the earth.", "a"},
    {"ocean", "The ocean covers most of the planet and is full of fish.", "b"},
    {"bread", "Bake bread with flour, water, yeast and a pinch of salt.", "a"},
    {"piano", "The piano has eighty-eight keys and is played with both hands.", "b"},
    {"horses", "Horses are large animals that gallop across fields.", "b"},
};
#define NDOCS (int)(sizeof DOCS / sizeof DOCS[0])

static void setup(void)
{
    tmpdir_make(dir, sizeof dir, "hyb");
    char path[300];
    snprintf(path, sizeof path, "%s/h.lctx", dir);
    lctx_config cfg;
    lctx_config_init(&cfg);
    cfg.embedder = "use-lite";
    cr_assert_eq(lctx_open(path, LCTX_OPEN_CREATE, &cfg, &db), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_begin(db), LCTX_OK);
    for (int i = 0; i < NDOCS; i++) {
        char meta[64];
        snprintf(meta, sizeof meta, "{\"group\":\"%s\"}", DOCS[i][2]);
        lctx_doc d = {DOCS[i][0], NULL, DOCS[i][1], 0, NULL, meta};
        cr_assert_eq(lctx_add(db, &d), LCTX_OK, "%s", lctx_errmsg(db));
    }
    cr_assert_eq(lctx_commit(db, NULL), LCTX_OK, "%s", lctx_errmsg(db));
}

static void teardown(void)
{
    lctx_close(db);
    tmpdir_remove(dir);
}

TestSuite(hybrid, .init = setup, .fini = teardown, .timeout = 120);

static const char *group_of(const char *id)
{
    for (int i = 0; i < NDOCS; i++)
        if (!strcmp(DOCS[i][0], id))
            return DOCS[i][2];
    return "?";
}

Test(hybrid, default_mode_fuses_both_sides)
{
    lctx_search_opts o;
    lctx_search_opts_init(&o);
    o.explain = 1;
    lctx_results *r = NULL;
    cr_assert_eq(lctx_search(db, "animals that bark", &o, &r), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_gt(lctx_results_count(r), 0);
    const lctx_hit *h = lctx_results_get(r, 0);
    cr_expect_str_eq(h->id, "dogs");
    cr_expect_gt(h->bm25_score, 0);
    cr_expect_gt(h->vector_score, 0);
    cr_expect(strstr(h->explain, "\"fusion\"") && strstr(h->explain, "\"linear\"") &&
              strstr(h->explain, "\"bm25\"") && strstr(h->explain, "\"vector\""),
              "explain: %s", h->explain);
    lctx_results_free(r);

    o.fusion = LCTX_FUSION_RRF;
    cr_assert_eq(lctx_search(db, "animals that bark", &o, &r), LCTX_OK, "%s", lctx_errmsg(db));
    h = lctx_results_get(r, 0);
    cr_expect(strstr(h->explain, "\"rrf\""), "explain: %s", h->explain);
    cr_expect_leq(h->score, 2.0 / 61 + 1e-12);
    lctx_results_free(r);

    /* BM25 mode is unchanged by vectors: no vector scores. */
    o.mode = LCTX_MODE_BM25;
    cr_assert_eq(lctx_search(db, "animals that bark", &o, &r), LCTX_OK);
    cr_expect_float_eq(lctx_results_get(r, 0)->vector_score, 0, 0);
    cr_expect_float_eq(lctx_results_get(r, 0)->bm25_score, lctx_results_get(r, 0)->score, 0);
    lctx_results_free(r);
}

static void check_filter(int mode)
{
    lctx_search_opts o;
    lctx_search_opts_init(&o);
    o.mode = mode;
    o.k = 3;
    o.filter = "json_extract(metadata, '$.group') = 'b'";
    lctx_results *r = NULL;
    cr_assert_eq(lctx_search(db, "pets and cooking", &o, &r), LCTX_OK, "%s", lctx_errmsg(db));
    if (mode == LCTX_MODE_VECTOR)
        cr_expect_eq(lctx_results_count(r), 3, "k results when enough documents match");
    for (size_t i = 0; i < lctx_results_count(r); i++)
        cr_expect_str_eq(group_of(lctx_results_get(r, i)->id), "b", "%s passed the filter",
                         lctx_results_get(r, i)->id);
    lctx_results_free(r);
}

Test(hybrid, filters_restrict_both_recalls)
{
    check_filter(LCTX_MODE_VECTOR);
    check_filter(LCTX_MODE_HYBRID);
    /* With LSH probing only the home buckets, the filter still yields k. */
    lsh_store_config cfg = {1, 512, VECSTORE_I8, 6, 1, 1, 7, 0.95, 0.5};
    cr_assert_eq(vec_lsh_rebuild(db, &cfg), LCTX_OK, "%s", lctx_errmsg(db));
    check_filter(LCTX_MODE_VECTOR);
    check_filter(LCTX_MODE_HYBRID);
}

Test(hybrid, more_like_this)
{
    lctx_search_opts o;
    lctx_search_opts_init(&o);
    o.mode = LCTX_MODE_VECTOR;
    o.like = "cats";
    o.k = 3;
    lctx_results *r = NULL;
    cr_assert_eq(lctx_search(db, NULL, &o, &r), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_results_count(r), 3);
    cr_expect_str_eq(lctx_results_get(r, 0)->id, "cats2");
    for (size_t i = 0; i < lctx_results_count(r); i++)
        cr_expect_str_neq(lctx_results_get(r, i)->id, "cats");
    lctx_results_free(r);
    o.like = "no-such-doc";
    cr_expect_eq(lctx_search(db, NULL, &o, &r), LCTX_ENOTFOUND);
    o.mode = LCTX_MODE_BM25;
    o.like = "cats";
    cr_expect_eq(lctx_search(db, NULL, &o, &r), LCTX_EINVAL);
}

/* Numbers that are not numbers are refused, not turned into NaN scores. */
Test(hybrid, non_finite_inputs_are_refused)
{
    lctx_stats st;
    cr_assert_eq(lctx_stats_get(db, &st), LCTX_OK);
    float *v = calloc((size_t)st.dim, sizeof *v);
    cr_assert_not_null(v);
    v[0] = 1.0f / 0.0f;
    lctx_search_opts o;
    lctx_search_opts_init(&o);
    o.mode = LCTX_MODE_VECTOR;
    o.vector = v;
    o.vector_dim = st.dim;
    lctx_results *r = NULL;
    cr_assert_eq(lctx_search(db, NULL, &o, &r), LCTX_EINVAL);
    cr_assert(strstr(lctx_errmsg(db), "not a finite number"), "%s", lctx_errmsg(db));
    v[0] = 0.0f / 0.0f;
    cr_assert_eq(lctx_search(db, NULL, &o, &r), LCTX_EINVAL);
    cr_assert(strstr(lctx_errmsg(db), "not a finite number"), "%s", lctx_errmsg(db));
    free(v);
    lctx_search_opts_init(&o);
    o.mode = LCTX_MODE_HYBRID;
    o.fusion = LCTX_FUSION_LINEAR;
    o.alpha = 0.0 / 0.0;
    cr_assert_eq(lctx_search(db, "animals", &o, &r), LCTX_EINVAL);
    cr_assert(strstr(lctx_errmsg(db), "alpha"), "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_retune(db, 0.0 / 0.0), LCTX_EINVAL);
    lctx_search_opts_init(NULL);        /* no crash */
}

/* A filter is pasted inside "AND (...)": one that would close that clause
 * itself, or comment the rest away, is refused; quoted parentheses are
 * text, not structure. */
Test(hybrid, filters_keep_to_their_parentheses)
{
    const char *bad[] = {"1) OR (1", "0) UNION SELECT doc_id FROM documents WHERE (1",
                         "1 -- comment", "1 /* c */", "(1", "1; SELECT 1"};
    lctx_search_opts o;
    lctx_search_opts_init(&o);
    o.mode = LCTX_MODE_BM25;
    lctx_results *r = NULL;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        o.filter = bad[i];
        cr_assert_eq(lctx_search(db, "animals", &o, &r), LCTX_EINVAL, "%s", bad[i]);
        cr_assert(strstr(lctx_errmsg(db), "filter"), "%s", lctx_errmsg(db));
    }
    o.filter = "json_extract(metadata,'$.group') IN ('b', 'x)(''y')";
    cr_assert_eq(lctx_search(db, "animals", &o, &r), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_gt(lctx_results_count(r), 0);
    for (size_t i = 0; i < lctx_results_count(r); i++)
        cr_assert_str_eq(group_of(lctx_results_get(r, i)->id), "b");
    lctx_results_free(r);
}
