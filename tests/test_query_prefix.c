/*
 * test_query_prefix.c — prefix queries (query/prefix.c): "word*" searches
 * the index's terms that start with the word.
 *
 *   - the documents found are exactly those holding a word with the
 *     prefix (the oracle reads the fixture's words, never the engine),
 *     alone, beside other words, under +required and -excluded words;
 *   - the pattern is stemmed as the dictionary is ("happy*" finds
 *     happiness), and a stopword is taken folded ("the*" finds theory);
 *     a word typed past its stem is completed ("turbulen*" finds
 *     turbulent, indexed as "turbul") where the stemmer is English;
 *   - expansions share one IDF, the group's: two documents alike but for
 *     which expansion they hold score the same, and each scores less than
 *     its expansion searched alone (a rarer term);
 *   - a prefix keeps the QUERY_PREFIX_TERMS terms of the highest document
 *     frequency, most frequent first;
 *   - a query word of one CJK character is the prefix of the bigrams it
 *     starts, so it is found inside runs, not only where it stands alone;
 *   - -word* excludes the documents holding any term with the prefix, all
 *     of them (a prefix with too many is refused, not cut);
 *   - +word* requires one of the prefix's terms (all of them count);
 *   - '*' inside a phrase, alone, doubled or inside a word is punctuation,
 *     and batch mode's plain words are tested in test_cli_search.c.
 */
#include <criterion/criterion.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lctx.h"
#include "query/query.h"
#include "test_hits.h"
#include "test_tmpdir.h"

static const char *DOCS[][2] = {
    {"t1", "turbulent boundary layer on a flat plate"},
    {"t2", "turbines and turbojets for aircraft"},
    {"t3", "laminar flow over a flat plate"},
    {"t4", "the theory of thermal stresses"},
    {"t5", "happiness is a warm engine"},
    {"t6", "a happy pilot lands the plane"},
    {"t7", "boundary conditions of heat flow"},
    {"z1", "zetab zetab zetab marker one"},
    {"z2", "zetab marker two"},
    {"z3", "zetaa marker two"},
    {"z4", "zetab marker three"},
    {"c1", "我的猫很可爱"},
    {"c2", "猫"},
    {"c3", "狗很可爱"},
};
#define NDOCS (int)(sizeof DOCS / sizeof DOCS[0])

static char dir[256];
static lctx_db *db;

/* The fixture's documents in a new collection dir/name, stemming in
 * `language`. */
static lctx_db *make_collection(const char *name, const char *language)
{
    char path[300];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    lctx_config cfg;
    lctx_config_init(&cfg);
    cfg.language = language;
    lctx_db *h = NULL;
    cr_assert_eq(lctx_open(path, LCTX_OPEN_CREATE, &cfg, &h), LCTX_OK, "%s", lctx_errmsg(h));
    cr_assert_eq(lctx_begin(h), LCTX_OK);
    for (int i = 0; i < NDOCS; i++) {
        lctx_doc d = {.id = DOCS[i][0], .text = DOCS[i][1]};
        cr_assert_eq(lctx_add(h, &d), LCTX_OK, "%s", lctx_errmsg(h));
    }
    cr_assert_eq(lctx_commit(h, NULL), LCTX_OK, "%s", lctx_errmsg(h));
    return h;
}

static void setup(void)
{
    tmpdir_make(dir, sizeof dir, "qprefix");
    db = make_collection("c.lctx", "english");
}

static void teardown(void)
{
    lctx_close(db);
    tmpdir_remove(dir);
}

TestSuite(prefix, .init = setup, .fini = teardown, .timeout = 60);

/* Whether document i holds a word starting with p. */
static int has_prefix(int i, const char *p)
{
    char t[256];
    snprintf(t, sizeof t, " %s ", DOCS[i][1]);
    for (char *s = t; (s = strchr(s, ' ')) && s[1]; s++)
        if (strncmp(s + 1, p, strlen(p)) == 0)
            return 1;
    return 0;
}

static int has_word(int i, const char *w)
{
    char t[256], pat[64];
    snprintf(t, sizeof t, " %s ", DOCS[i][1]);
    snprintf(pat, sizeof pat, " %s ", w);
    return strstr(t, pat) != NULL;
}

static lctx_results *search(const char *q, int k)
{
    return bm25_results(db, q, k);
}

static double score_of(const lctx_results *r, const char *id)
{
    for (size_t i = 0; i < lctx_results_count(r); i++)
        if (strcmp(lctx_results_get(r, i)->id, id) == 0)
            return lctx_results_get(r, i)->score;
    cr_assert_fail("%s not found", id);
    return 0;
}

enum { ANY, REQUIRE, EXCLUDE, EXCLUDE_PREFIX };

/* The hits of q are exactly the documents holding a word with prefix p,
 * combined with w as `how` says (ANY: p or the word w; EXCLUDE_PREFIX: p
 * and no word starting with w). */
static void expect_prefix(const char *q, const char *p, const char *w, int how)
{
    lctx_results *r = search(q, 100);
    size_t want = 0;
    for (int i = 0; i < NDOCS; i++) {
        int pi = has_prefix(i, p), wi = w && (how == EXCLUDE_PREFIX ? has_prefix(i, w)
                                                                     : has_word(i, w));
        int in = how == ANY ? pi || wi : how == REQUIRE ? wi : pi && !wi;
        want += in;
        cr_expect_eq(results_has(r, DOCS[i][0]), in, "'%s': %s %s", q, DOCS[i][0],
                     in ? "missing" : "should not be found");
    }
    cr_expect_eq(lctx_results_count(r), want, "'%s'", q);
    lctx_results_free(r);
}

Test(prefix, finds_the_documents_holding_a_word_with_the_prefix)
{
    expect_prefix("turb*", "turb", NULL, ANY);
    expect_prefix("bound*", "bound", NULL, ANY);
    expect_prefix("pla*", "pla", NULL, ANY);      /* plate, plane */
    expect_prefix("heat turb*", "turb", "heat", ANY);
    expect_prefix("+flat turb*", "turb", "flat", REQUIRE);
    expect_prefix("pla* -flat", "pla", "flat", EXCLUDE);
    /* nothing with the prefix: no hits, no error */
    lctx_results *r = search("xyzzy*", 10);
    cr_expect_eq(lctx_results_count(r), 0);
    lctx_results_free(r);
}

Test(prefix, stemmed_like_the_dictionary_and_stopwords_folded)
{
    expect_prefix("happy*", "happ", NULL, ANY);   /* happi: happy, happiness */
    /* theory and thermal, in t4; "the" itself (t1, t6 too) is not indexed */
    for (int upper = 0; upper < 2; upper++) {
        lctx_results *r = search(upper ? "THE*" : "the*", 10);
        cr_expect_eq(lctx_results_count(r), 1);
        cr_expect(results_has(r, "t4"));
        lctx_results_free(r);
    }
    lctx_results *r = search("the*", 10);
    const char *json = lctx_results_query_json(r);
    cr_expect(strstr(json, "\"prefixes\":[\"the\"]") != NULL, "%s", json);
    cr_expect(strstr(json, "\"term\":\"theori\"") != NULL, "%s", json);
    lctx_results_free(r);
}

Test(prefix, a_word_typed_past_its_stem_is_completed)
{
    /* turbulent is indexed as "turbul": no term starts with "turbulen",
     * but "turbulen" + "t" stems to it */
    lctx_results *r = search("turbulen*", 10);
    cr_expect_eq(lctx_results_count(r), 1);
    cr_expect(results_has(r, "t1"));
    const char *json = lctx_results_query_json(r);
    cr_expect(strstr(json, "\"prefixes\":[\"turbulen\",\"turbul\"]") != NULL, "%s", json);
    lctx_results_free(r);
    /* without a stemmer the word itself is indexed, and no completion is
     * needed or made */
    lctx_db *plain = make_collection("plain.lctx", "none");
    lctx_search_opts o;
    lctx_search_opts_init(&o);
    cr_assert_eq(lctx_search(plain, "turbulen*", &o, &r), LCTX_OK, "%s", lctx_errmsg(plain));
    cr_expect_eq(lctx_results_count(r), 1);
    cr_expect(results_has(r, "t1"));
    json = lctx_results_query_json(r);
    cr_expect(strstr(json, "\"prefixes\":[\"turbulen\"]") != NULL, "%s", json);
    cr_expect(strstr(json, "\"term\":\"turbulent\"") != NULL, "%s", json);
    lctx_results_free(r);
    lctx_close(plain);
}

Test(prefix, one_cjk_character_is_the_prefix_of_its_bigrams)
{
    /* 猫 inside a run is in the bigram 猫很 (c1), alone a unigram (c2) */
    lctx_results *r = search("猫", 10);
    cr_expect(results_has(r, "c1"), "inside a run");
    cr_expect(results_has(r, "c2"), "alone");
    cr_expect(!results_has(r, "c3"));
    cr_expect_eq(lctx_results_count(r), 2);
    const char *json = lctx_results_query_json(r);
    cr_expect(strstr(json, "\"prefixes\":[\"猫\"]") != NULL, "%s", json);
    lctx_results_free(r);
    /* two characters are a bigram as before, not a prefix */
    r = search("可爱", 10);
    cr_expect_eq(lctx_results_count(r), 2);
    cr_expect(strstr(lctx_results_query_json(r), "\"prefixes\"") == NULL, "%s",
              lctx_results_query_json(r));
    lctx_results_free(r);
}

Test(prefix, expansions_share_the_group_idf)
{
    /* z3 (zetaa, df 1) and z2 (zetab, df 3) are alike but for the
     * expansion: one group IDF, one score */
    lctx_results *r = search("zeta*", 10);
    cr_assert_eq(lctx_results_count(r), 4);
    double s2 = score_of(r, "z2"), s3 = score_of(r, "z3");
    cr_expect(s2 == s3, "z2 %.17g, z3 %.17g", s2, s3);
    cr_expect_gt(score_of(r, "z1"), s2, "three occurrences score more");
    lctx_results_free(r);
    /* alone, each is scored with its own, larger IDF */
    r = search("zetaa", 10);
    cr_expect_gt(score_of(r, "z3"), s3);
    double alone3 = score_of(r, "z3");
    lctx_results_free(r);
    r = search("zetab", 10);
    cr_expect_gt(score_of(r, "z2"), s2);
    cr_expect_gt(alone3, score_of(r, "z2"), "zetaa is the rarer term");
    lctx_results_free(r);
}

Test(prefix, keeps_the_most_frequent_terms)
{
    /* 100 terms qx + two consonants (no vowel: the stemmer leaves them);
     * term i is in documents 0 .. i, so its df is i + 1: byte order is the
     * reverse of frequency, so the first terms of a scan are the ones to
     * drop */
    static const char C[] = "bcdfghkmpt";
    char term[100][8];
    for (int i = 0; i < 100; i++)
        snprintf(term[i], sizeof term[i], "qx%c%c", C[i / 10], C[i % 10]);
    cr_assert_eq(lctx_begin(db), LCTX_OK);
    for (int d = 0; d < 100; d++) {
        char text[1024] = "", id[16];
        size_t n = 0;
        for (int i = d; i < 100; i++)
            n += (size_t)snprintf(text + n, sizeof text - n, "%s ", term[i]);
        snprintf(id, sizeof id, "q%d", d);
        lctx_doc doc = {.id = id, .text = text};
        cr_assert_eq(lctx_add(db, &doc), LCTX_OK, "%s", lctx_errmsg(db));
    }
    cr_assert_eq(lctx_commit(db, NULL), LCTX_OK, "%s", lctx_errmsg(db));
    lctx_results *r = search("qx*", 200);
    cr_expect_eq(lctx_results_count(r), 100, "every document holds qxtt");
    const char *json = lctx_results_query_json(r);
    /* the QUERY_PREFIX_TERMS most frequent terms, most frequent first, and
     * no other */
    const char *at = json;
    for (int i = 99; i >= 0; i--) {
        char pat[32];
        snprintf(pat, sizeof pat, "\"term\":\"%s\"", term[i]);
        const char *p = strstr(json, pat);
        if (i >= 100 - QUERY_PREFIX_TERMS) {
            cr_assert_not_null(p, "%s missing from %s", term[i], json);
            cr_assert_gt(p, at, "%s out of order", term[i]);
            at = p;
        } else {
            cr_assert_null(p, "%s (df %d) kept", term[i], i + 1);
        }
    }
    lctx_results_free(r);
}

Test(prefix, star_elsewhere_is_punctuation)
{
    /* in a phrase (signed or not), alone, doubled, inside a word: no prefix */
    static const char *q[] = {"\"turb* flow\"", "+\"turb*\"", "-\"turb*\"", "*", "turb**", "t*rb"};
    for (size_t i = 0; i < sizeof q / sizeof q[0]; i++) {
        lctx_results *r = search(q[i], 10);
        const char *json = lctx_results_query_json(r);
        cr_expect(strstr(json, "prefixes\"") == NULL, "'%s': %s", q[i], json);
        lctx_results_free(r);
    }
}

Test(prefix, a_required_prefix_requires_one_of_its_terms)
{
    /* plate only scores: the documents are those with a turb- word */
    expect_prefix("plate +turb*", "turb", NULL, ANY);
    expect_prefix("+turbulen*", "turbulen", NULL, ANY);   /* completed to turbul */
    expect_prefix("+bound* -flow", "bound", "flow", EXCLUDE);
    lctx_results *r = search("plate +turb*", 10);
    const char *json = lctx_results_query_json(r);
    cr_expect(strstr(json, "\"required_prefixes\":[\"turb\"]") != NULL, "%s", json);
    lctx_results_free(r);
    r = search("plate +xyzzy*", 10);   /* no term at all: nothing qualifies */
    cr_expect_eq(lctx_results_count(r), 0);
    lctx_results_free(r);
}

Test(prefix, an_excluded_prefix_excludes_every_term)
{
    expect_prefix("pla* -turb*", "pla", "turb", EXCLUDE_PREFIX);   /* t1 has turbulent */
    expect_prefix("pla* -turbulen*", "pla", "turbulen", EXCLUDE_PREFIX);   /* completed */
    expect_prefix("bound* -hea*", "bound", "hea", EXCLUDE_PREFIX);
    lctx_results *r = search("-turb*", 10);
    cr_expect_eq(lctx_results_count(r), 0);
    cr_expect(strstr(lctx_errmsg(db), "only excludes") != NULL, "%s", lctx_errmsg(db));
    lctx_results_free(r);
    /* every term, not the most frequent: past QUERY_XPREFIX_TERMS the
     * prefix is refused, not cut */
    static const char C[] = "bcdfghkmpt";
    size_t cap = (size_t)(QUERY_XPREFIX_TERMS + 1) * 8 + 1, n = 0;
    char *text = malloc(cap);
    cr_assert_not_null(text);
    for (int i = 0; i <= QUERY_XPREFIX_TERMS; i++)
        n += (size_t)snprintf(text + n, cap - n, "qz%c%c%c%c ", C[i / 1000 % 10],
                              C[i / 100 % 10], C[i / 10 % 10], C[i % 10]);
    cr_assert_eq(lctx_begin(db), LCTX_OK);
    lctx_doc d = {.id = "many", .text = text};
    cr_assert_eq(lctx_add(db, &d), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_commit(db, NULL), LCTX_OK, "%s", lctx_errmsg(db));
    free(text);
    lctx_search_opts o;
    lctx_search_opts_init(&o);
    r = NULL;
    cr_expect_eq(lctx_search(db, "plate -qz*", &o, &r), LCTX_EINVAL);
    cr_expect_null(r);
    cr_expect(strstr(lctx_errmsg(db), "-qz*: more than 4096 terms start with it") != NULL, "%s",
              lctx_errmsg(db));
    cr_expect_eq(lctx_search(db, "plate +qz*", &o, &r), LCTX_EINVAL);
    cr_expect(strstr(lctx_errmsg(db), "+qz*: more than 4096 terms start with it; require") !=
              NULL, "%s", lctx_errmsg(db));
    /* a longer prefix, within the limit, excludes the document */
    r = search("plate qzbbbb -qzb*", 10);
    cr_expect(!results_has(r, "many"));
    cr_expect_gt(lctx_results_count(r), 0);
    lctx_results_free(r);
}
