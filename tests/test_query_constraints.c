/*
 * test_query_constraints.c — the query's constraints hold in every mode,
 * and a query with nothing to search for finds nothing in every mode.
 *
 *   "a b"    required phrase: only documents holding it
 *   -word    documents holding the word are left out
 *   -"a b"   documents holding the phrase are left out; a document with
 *            both words apart stays
 *   +word    only documents holding the word; +"a b" is "a b"
 *   title:w  only documents with w in their title; -title:w the others
 *
 * The expected documents come from the fixture's texts by plain string
 * tests (lower-case substring "boundary layer" for the phrase, a word
 * between blanks for a word), never from the engine. Vector mode ranks every
 * document, so with k = all its answer must be exactly the documents the
 * constraints allow; "more like this" gives a fixed query vector, so a
 * constrained ranking must equal the unconstrained one with the failing
 * documents struck out, at every k (small k makes the search go deeper).
 * Hybrid must obey the same rules on both of its recalls. Empty,
 * stopword-only, emoji-only and exclusion-only queries return no hits and
 * the same message in bm25, vector and hybrid modes; a caller's vector or a
 * liked document still searches. Needs the USE-lite model (`make model`)
 * for the vector suite.
 */
#include <criterion/criterion.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lctx.h"
#include "query/query.h"
#include "store/store.h"
#include "test_tmpdir.h"

/* id, title, text, group */
static const char *DOCS[][4] = {
    {"adj", "", "the boundary layer grows along the plate in a wind tunnel", "a"},
    {"apart", "", "a layer of air forms near the boundary of the plate", "b"},
    {"gap", "", "boundary and layer effects on a heated plate", "a"},
    {"one", "", "boundary conditions for a vibrating plate", "b"},
    {"none", "", "laminar flow over a flat plate at low speed", "a"},
    {"title", "Boundary Layer Notes", "measurements of skin friction on a plate", "b"},
    {"turb1", "", "turbulent boundary layer separation on a plate", "a"},
    {"turb2", "", "turbulent mixing of air behind a plate", "b"},
    {"cats", "", "cats are small furry animals that purr and chase mice", "a"},
    {"dogs", "", "dogs are loyal animals that bark and fetch sticks", "b"},
    {"bread", "", "bake bread with flour water yeast and a pinch of salt", "a"},
    {"rockets", "", "rockets carry satellites into orbit around the earth", "b"},
    /* with 12-word chunks the phrase is in a later chunk than "plate" */
    {"later", "", "plate one two three four five six seven eight nine ten eleven. "
                  "twelve thirteen fourteen fifteen. the boundary layer thickens downstream",
     "a"},
};
#define NDOCS (int)(sizeof DOCS / sizeof DOCS[0])

static char dir[256];
static lctx_db *db;

static void open_collection(const char *embedder)
{
    tmpdir_make(dir, sizeof dir, "qcons");
    char path[300];
    snprintf(path, sizeof path, "%s/c.lctx", dir);
    lctx_config cfg;
    lctx_config_init(&cfg);
    cfg.chunk_words = 12;
    if (embedder)
        cfg.embedder = embedder;
    cr_assert_eq(lctx_open(path, LCTX_OPEN_CREATE, &cfg, &db), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_begin(db), LCTX_OK);
    for (int i = 0; i < NDOCS; i++) {
        char meta[64];
        snprintf(meta, sizeof meta, "{\"group\":\"%s\"}", DOCS[i][3]);
        lctx_doc d = {.id = DOCS[i][0], .title = DOCS[i][1], .text = DOCS[i][2],
                      .metadata = meta};
        cr_assert_eq(lctx_add(db, &d), LCTX_OK, "%s", lctx_errmsg(db));
    }
    cr_assert_eq(lctx_commit(db, NULL), LCTX_OK, "%s", lctx_errmsg(db));
}

static void setup_bm25(void)
{
    open_collection(NULL);
}

static void setup_vectors(void)
{
    open_collection("use-lite");
}

static void teardown(void)
{
    lctx_close(db);
    tmpdir_remove(dir);
}

TestSuite(qsyntax, .init = setup_bm25, .fini = teardown, .timeout = 60);
TestSuite(qvector, .init = setup_vectors, .fini = teardown, .timeout = 240);

/* ------------------------------------------------------------- oracles */
static int row_of(const char *id)
{
    for (int i = 0; i < NDOCS; i++)
        if (strcmp(DOCS[i][0], id) == 0)
            return i;
    cr_assert_fail("unknown id %s", id);
    return -1;
}

static int contains_lower(const char *s, const char *needle)
{
    char buf[512];
    size_t n = 0;
    for (; s[n] && n + 1 < sizeof buf; n++)
        buf[n] = (char)tolower((unsigned char)s[n]);
    buf[n] = 0;
    return strstr(buf, needle) != NULL;
}

/* The phrase "boundary layer" within the title or within the text. */
static int has_phrase(int i)
{
    return contains_lower(DOCS[i][1], "boundary layer") ||
           contains_lower(DOCS[i][2], "boundary layer");
}

/* The word w (between blanks or the ends) in the title or the text. */
static int has_word(int i, const char *w)
{
    char t[600];
    snprintf(t, sizeof t, " %s %s ", DOCS[i][1], DOCS[i][2]);
    for (char *p = t; *p; p++)
        *p = (char)(isalnum((unsigned char)*p) ? tolower((unsigned char)*p) : ' ');
    char pat[64];
    snprintf(pat, sizeof pat, " %s ", w);
    return strstr(t, pat) != NULL;
}

typedef int (*doc_pred)(int i);

static int p_phrase(int i) { return has_phrase(i); }
static int p_no_phrase(int i) { return !has_phrase(i); }
static int p_no_turbulent(int i) { return !has_word(i, "turbulent"); }
static int p_no_boundary(int i) { return !has_word(i, "boundary"); }
static int p_plate_no_boundary(int i) { return has_word(i, "plate") && !has_word(i, "boundary"); }
static int p_plate_no_phrase(int i) { return has_word(i, "plate") && !has_phrase(i); }
static int p_plate_no_phrases(int i)
{
    return p_plate_no_phrase(i) && !contains_lower(DOCS[i][2], "turbulent mixing");
}
static int p_phrase_no_turbulent(int i) { return has_phrase(i) && !has_word(i, "turbulent"); }
static int p_turbulent(int i) { return has_word(i, "turbulent"); }
static int p_turbulent_no_boundary(int i) { return p_turbulent(i) && !has_word(i, "boundary"); }
static int p_plate_or_turbulent(int i) { return has_word(i, "plate") || p_turbulent(i); }
/* "boundary" in the title: only the document "title" has one */
static int p_title_boundary(int i) { return contains_lower(DOCS[i][1], "boundary"); }
static int p_no_title_boundary(int i) { return !p_title_boundary(i); }
static int p_any(int i) { (void)i; return 1; }

/* ---------------------------------------------------------------- helpers */
static lctx_results *search(const char *q, int mode, int k, const char *like)
{
    lctx_search_opts o;
    lctx_search_opts_init(&o);
    o.mode = mode;
    o.k = k;
    o.like = like;
    lctx_results *r = NULL;
    cr_assert_eq(lctx_search(db, q, &o, &r), LCTX_OK, "'%s': %s", q ? q : "(null)",
                 lctx_errmsg(db));
    return r;
}

/* The results are exactly the documents satisfying pred (k = all). */
static void expect_exactly(const char *q, int mode, doc_pred pred)
{
    lctx_results *r = search(q, mode, 100, NULL);
    int seen[NDOCS] = {0}, want = 0;
    for (size_t i = 0; i < lctx_results_count(r); i++) {
        int row = row_of(lctx_results_get(r, i)->id);
        cr_expect(pred(row), "mode %d '%s': %s should not be found", mode, q, DOCS[row][0]);
        seen[row] = 1;
    }
    for (int i = 0; i < NDOCS; i++) {
        want += pred(i) != 0;
        cr_expect(!pred(i) || seen[i], "mode %d '%s': %s is missing", mode, q, DOCS[i][0]);
    }
    cr_expect_eq(lctx_results_count(r), (size_t)want, "mode %d '%s'", mode, q);
    lctx_results_free(r);
}

/* Every hit satisfies pred (hybrid: its recalls have depth limits). */
static size_t expect_all(const char *q, int mode, doc_pred pred)
{
    lctx_results *r = search(q, mode, 100, NULL);
    size_t n = lctx_results_count(r);
    for (size_t i = 0; i < n; i++) {
        int row = row_of(lctx_results_get(r, i)->id);
        cr_expect(pred(row), "mode %d '%s': %s should not be found", mode, q, DOCS[row][0]);
    }
    lctx_results_free(r);
    return n;
}

static void expect_nothing(const char *q, int mode, const char *why)
{
    lctx_results *r = search(q, mode, 10, NULL);
    cr_expect_eq(lctx_results_count(r), 0, "mode %d '%s' found something", mode, q);
    cr_expect(strstr(lctx_errmsg(db), why) != NULL, "mode %d '%s': message '%s', want '%s'",
              mode, q, lctx_errmsg(db), why);
    lctx_results_free(r);
}

/* ------------------------------------------------------------ BM25 mode */
Test(qsyntax, negated_phrase_excludes_only_the_phrase)
{
    expect_exactly("plate -\"boundary layer\"", LCTX_MODE_BM25, p_plate_no_phrase);
    /* named: both words apart stay, adjacent (text, title, later chunk) go */
    lctx_results *r = search("plate -\"boundary layer\"", LCTX_MODE_BM25, 100, NULL);
    int apart = 0, gap = 0;
    for (size_t i = 0; i < lctx_results_count(r); i++) {
        const char *id = lctx_results_get(r, i)->id;
        apart |= !strcmp(id, "apart");
        gap |= !strcmp(id, "gap");
        cr_expect(strcmp(id, "adj") && strcmp(id, "title") && strcmp(id, "later"), "%s", id);
    }
    cr_expect(apart && gap, "documents with both words apart are kept");
    /* the parse: nothing required, the phrase excluded */
    const char *json = lctx_results_query_json(r);
    cr_expect(strstr(json, "\"required\":true") == NULL, "%s", json);
    cr_expect(strstr(json, "\"excluded_phrases\":[[\"boundari\",\"layer\"]]") != NULL, "%s", json);
    lctx_results_free(r);
    /* in front of the words, or with more than one */
    expect_exactly("-\"boundary layer\" plate", LCTX_MODE_BM25, p_plate_no_phrase);
    expect_exactly("plate -\"boundary layer\" -\"turbulent mixing\"", LCTX_MODE_BM25,
                   p_plate_no_phrases);
}

Test(qsyntax, phrase_and_negated_phrase_split_the_matches)
{
    /* every document with the phrase also has "plate" (the fixture's), so
     * "plate" splits into those with the phrase and those without */
    lctx_results *all = search("plate", LCTX_MODE_BM25, 100, NULL);
    lctx_results *with = search("plate \"boundary layer\"", LCTX_MODE_BM25, 100, NULL);
    lctx_results *without = search("plate -\"boundary layer\"", LCTX_MODE_BM25, 100, NULL);
    cr_assert_gt(lctx_results_count(with), 0);
    cr_assert_gt(lctx_results_count(without), 0);
    for (size_t i = 0; i < lctx_results_count(with); i++)
        for (size_t j = 0; j < lctx_results_count(without); j++)
            cr_expect_str_neq(lctx_results_get(with, i)->id, lctx_results_get(without, j)->id);
    cr_expect_eq(lctx_results_count(with) + lctx_results_count(without),
                 lctx_results_count(all));
    lctx_results_free(all);
    lctx_results_free(with);
    lctx_results_free(without);
}

Test(qsyntax, negated_phrase_of_one_term_is_a_negated_word)
{
    /* "the" is a stopword: -"the boundary" is -boundary */
    expect_exactly("plate -\"the boundary\"", LCTX_MODE_BM25, p_plate_no_boundary);
}

Test(qsyntax, plus_requires_a_word_or_a_phrase)
{
    expect_exactly("plate +turbulent", LCTX_MODE_BM25, p_turbulent);
    expect_exactly("+turbulent plate", LCTX_MODE_BM25, p_turbulent);
    expect_exactly("+turbulent -boundary", LCTX_MODE_BM25, p_turbulent_no_boundary);
    expect_exactly("plate +\"boundary layer\"", LCTX_MODE_BM25, p_phrase);
    /* a sign alone, or doubled, is no syntax: the words are any-of */
    expect_exactly("plate ++turbulent", LCTX_MODE_BM25, p_plate_or_turbulent);
    expect_exactly("plate + turbulent", LCTX_MODE_BM25, p_plate_or_turbulent);
    lctx_results *r = search("plate +turbulent", LCTX_MODE_BM25, 10, NULL);
    const char *json = lctx_results_query_json(r);
    cr_expect(strstr(json, "\"turbul\",\"weight\":1,\"required\":true") != NULL, "%s", json);
    cr_expect(strstr(json, "\"plate\",\"weight\":1,\"required\":false") != NULL, "%s", json);
    lctx_results_free(r);
    /* +word alone with nothing else still searches */
    expect_exactly("+turbulent", LCTX_MODE_BM25, p_turbulent);
}

Test(qsyntax, nothing_to_search_for)
{
    expect_nothing("-boundary", LCTX_MODE_BM25, "nothing to search for: the query only excludes");
    expect_nothing("-\"boundary layer\"", LCTX_MODE_BM25, "only excludes");
    expect_nothing("-boundary -plate", LCTX_MODE_BM25, "only excludes");
    expect_nothing("the of", LCTX_MODE_BM25, "(only stopwords)");
    expect_nothing("\xf0\x9f\x98\x80\xf0\x9f\x8e\x89", LCTX_MODE_BM25, "no searchable terms");
    expect_nothing("", LCTX_MODE_BM25, "no searchable terms");
    lctx_results *r = search("\xf0\x9f\x98\x80", LCTX_MODE_BM25, 10, NULL);
    cr_expect(strstr(lctx_errmsg(db), "stopwords") == NULL, "%s", lctx_errmsg(db));
    lctx_results_free(r);
}

/* ---------------------------------------------------------- vector mode */
static const struct {
    const char *q;
    doc_pred pred;
} CASES[] = {
    {"air flow -turbulent", p_no_turbulent},
    {"\"boundary layer\"", p_phrase},
    {"plate -\"boundary layer\"", p_no_phrase},
    {"\"boundary layer\" -turbulent", p_phrase_no_turbulent},
    {"plate -\"the boundary\"", p_no_boundary},
    {"wind tunnel plate", p_any},
    {"air +turbulent -boundary", p_turbulent_no_boundary},
    {"air -turb*", p_no_turbulent},
    {"air +turb*", p_turbulent},
    {"plate title:boundary", p_title_boundary},
    {"plate -title:boundary", p_no_title_boundary},
};
#define NCASES (int)(sizeof CASES / sizeof CASES[0])

Test(qvector, vector_mode_obeys_the_constraints)
{
    /* vector mode ranks every document: the answer is the allowed set */
    for (int c = 0; c < NCASES; c++)
        expect_exactly(CASES[c].q, LCTX_MODE_VECTOR, CASES[c].pred);
}

Test(qvector, hybrid_obeys_the_constraints)
{
    for (int c = 0; c < NCASES; c++)
        cr_expect_gt(expect_all(CASES[c].q, LCTX_MODE_HYBRID, CASES[c].pred), 0, "%s",
                     CASES[c].q);
}

/* The constrained ranking of "more like `like`" is the unconstrained one
 * with the failing documents struck out, scores and all, at every k. */
static void check_struck_out(const char *like, const char *q, doc_pred pred)
{
    lctx_results *full = search(NULL, LCTX_MODE_VECTOR, 100, like);
    const lctx_hit *want[NDOCS];
    size_t nw = 0;
    for (size_t i = 0; i < lctx_results_count(full); i++)
        if (pred(row_of(lctx_results_get(full, i)->id)))
            want[nw++] = lctx_results_get(full, i);
    cr_assert_gt(nw, 0);
    for (int k = 1; k <= NDOCS; k++) {
        lctx_results *r = search(q, LCTX_MODE_VECTOR, k, like);
        size_t n = lctx_results_count(r);
        cr_assert_eq(n, nw < (size_t)k ? nw : (size_t)k, "like %s '%s' k=%d", like, q, k);
        for (size_t i = 0; i < n; i++) {
            const lctx_hit *h = lctx_results_get(r, i);
            cr_expect_str_eq(h->id, want[i]->id, "like %s '%s' k=%d rank %zu", like, q, k, i);
            cr_expect(h->score == want[i]->score, "like %s '%s' k=%d rank %zu: score", like, q,
                      k, i);
        }
        lctx_results_free(r);
    }
    lctx_results_free(full);
}

Test(qvector, constrained_ranking_is_the_ranking_struck_out)
{
    check_struck_out("none", "\"boundary layer\"", p_phrase);
    check_struck_out("cats", "\"boundary layer\"", p_phrase); /* far: goes deep */
    check_struck_out("adj", "-turbulent", p_no_turbulent);
    check_struck_out("turb2", "-\"boundary layer\"", p_no_phrase);
    check_struck_out("dogs", "\"boundary layer\" -turbulent", p_phrase_no_turbulent);
}

static int p_group_b_no_phrase(int i)
{
    return !strcmp(DOCS[i][3], "b") && !has_phrase(i);
}

static void check_filtered(int mode)
{
    lctx_search_opts o;
    lctx_search_opts_init(&o);
    o.mode = mode;
    o.k = 100;
    o.filter = "json_extract(metadata, '$.group') = 'b'";
    lctx_results *r = NULL;
    cr_assert_eq(lctx_search(db, "plate -\"boundary layer\"", &o, &r), LCTX_OK, "%s",
                 lctx_errmsg(db));
    size_t want = 0;
    for (int i = 0; i < NDOCS; i++)
        want += p_group_b_no_phrase(i) != 0;
    if (mode == LCTX_MODE_VECTOR)
        cr_expect_eq(lctx_results_count(r), want);
    for (size_t i = 0; i < lctx_results_count(r); i++)
        cr_expect(p_group_b_no_phrase(row_of(lctx_results_get(r, i)->id)), "%s",
                  lctx_results_get(r, i)->id);
    lctx_results_free(r);
}

Test(qvector, constraints_with_a_filter_and_lsh)
{
    check_filtered(LCTX_MODE_VECTOR);
    check_filtered(LCTX_MODE_HYBRID);
    /* LSH probing only home buckets: k results still come when k qualify */
    lsh_store_config cfg = {1, 512, VECSTORE_I8, 6, 1, 1, 7, 0.95, 0.5};
    cr_assert_eq(vec_lsh_rebuild(db, &cfg), LCTX_OK, "%s", lctx_errmsg(db));
    check_filtered(LCTX_MODE_VECTOR);
    check_filtered(LCTX_MODE_HYBRID);
    for (int c = 0; c < NCASES; c++)
        expect_exactly(CASES[c].q, LCTX_MODE_VECTOR, CASES[c].pred);
}

Test(qvector, nothing_to_search_for_in_every_mode)
{
    static const char *const QS[] = {"the of", "\xf0\x9f\x98\x80\xf0\x9f\x8e\x89", "",
                                     "-boundary", "-\"boundary layer\""};
    for (size_t i = 0; i < sizeof QS / sizeof QS[0]; i++) {
        lctx_results *r = search(QS[i], LCTX_MODE_BM25, 10, NULL);
        cr_assert_eq(lctx_results_count(r), 0);
        char why[256];
        snprintf(why, sizeof why, "%s", lctx_errmsg(db));
        cr_assert_neq(why[0], 0, "bm25 '%s' gives a reason", QS[i]);
        lctx_results_free(r);
        expect_nothing(QS[i], LCTX_MODE_VECTOR, why);
        expect_nothing(QS[i], LCTX_MODE_HYBRID, why);
        expect_nothing(QS[i], LCTX_MODE_DEFAULT, why);
    }
}

Test(qvector, a_caller_vector_or_liked_document_still_searches)
{
    lctx_results *r = search("the of", LCTX_MODE_VECTOR, 3, "cats");
    cr_expect_eq(lctx_results_count(r), 3, "like with stopword text");
    lctx_results_free(r);
    r = search(NULL, LCTX_MODE_VECTOR, 3, "cats");
    cr_expect_eq(lctx_results_count(r), 3, "like without text");
    lctx_results_free(r);

    lctx_stats st;
    cr_assert_eq(lctx_stats_get(db, &st), LCTX_OK);
    cr_assert_gt(st.dim, 0);
    float *v = calloc((size_t)st.dim, sizeof *v);
    for (int i = 0; i < st.dim; i++)
        v[i] = (float)((i % 7) - 3);
    static const char *const QS[] = {NULL, "", "the of", "\xf0\x9f\x98\x80"};
    for (int mode = LCTX_MODE_VECTOR; mode <= LCTX_MODE_HYBRID; mode++)
        for (size_t i = 0; i < sizeof QS / sizeof QS[0]; i++) {
            lctx_search_opts o;
            lctx_search_opts_init(&o);
            o.mode = mode;
            o.k = 4;
            o.vector = v;
            o.vector_dim = st.dim;
            cr_assert_eq(lctx_search(db, QS[i], &o, &r), LCTX_OK, "%s", lctx_errmsg(db));
            cr_expect_eq(lctx_results_count(r), 4, "mode %d caller vector, text '%s'", mode,
                         QS[i] ? QS[i] : "(null)");
            lctx_results_free(r);
        }
    /* a caller's vector with constraints in the text obeys them */
    lctx_search_opts o;
    lctx_search_opts_init(&o);
    o.mode = LCTX_MODE_VECTOR;
    o.k = 100;
    o.vector = v;
    o.vector_dim = st.dim;
    cr_assert_eq(lctx_search(db, "-\"boundary layer\"", &o, &r), LCTX_OK, "%s", lctx_errmsg(db));
    size_t want = 0;
    for (int i = 0; i < NDOCS; i++)
        want += p_no_phrase(i) != 0;
    cr_expect_eq(lctx_results_count(r), want);
    for (size_t i = 0; i < lctx_results_count(r); i++)
        cr_expect(p_no_phrase(row_of(lctx_results_get(r, i)->id)));
    lctx_results_free(r);
    free(v);
}

/* Phrase checks keep a document's row between its chunks (constrain.c:
 * a long document's text is read once, not once per chunk). The search
 * must still let go of it before its catalog transaction ends: the next
 * search on the handle sees what was committed since, phrases included. */
Test(qsyntax, a_phrase_search_lets_go_of_its_snapshot)
{
    char text[4096] = "";
    for (int i = 0; i < 60; i++)    /* five chunks of 12 words, the phrase in the fourth */
        strcat(text, i == 40 ? "copper kettle " : "plain words ");
    lctx_doc d = {.id = "long", .text = text};
    cr_assert_eq(lctx_begin(db), LCTX_OK);
    cr_assert_eq(lctx_add(db, &d), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_commit(db, NULL), LCTX_OK, "%s", lctx_errmsg(db));
    lctx_results *r;
    cr_assert_eq(lctx_search(db, "\"copper kettle\"", NULL, &r), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_results_count(r), 1);
    cr_assert_str_eq(lctx_results_get(r, 0)->id, "long");
    lctx_results_free(r);
    cr_assert_eq(lctx_search(db, "\"kettle copper\"", NULL, &r), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_results_count(r), 0);
    lctx_results_free(r);
    lctx_doc d2 = {.id = "short", .text = "a copper kettle on the stove"};
    cr_assert_eq(lctx_begin(db), LCTX_OK);
    cr_assert_eq(lctx_add(db, &d2), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_commit(db, NULL), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_search(db, "\"copper kettle\"", NULL, &r), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_results_count(r), 2, "the search after a commit missed it");
    lctx_results_free(r);
}
