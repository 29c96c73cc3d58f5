/*
 * test_query_title.c — title:word restricts a search to documents whose
 * title holds the word, -title:word leaves them out (query/parse.c,
 * query/constrain.c).
 *
 * The expected documents come from the fixture's strings (a word between
 * blanks, lower-cased), never from the engine: title:word finds exactly
 * the documents with the word in the title, whatever their text holds;
 * with other words too it still finds only those, ranked by all of them;
 * title:"a b" needs the phrase and both words in the title; -title:word
 * keeps documents that hold the word only in their text; a word the
 * tokenizer stems is matched as a stem in both; the prefix TITLE: is
 * case-blind, and "subtitle:x" or a bare "title:" are plain words. The
 * vector side of the same rules is in test_query_constraints.c.
 */
#include <criterion/criterion.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lctx.h"
#include "test_hits.h"
#include "test_tmpdir.h"

/* id, title, text */
static const char *DOCS[][3] = {
    {"a", "Rocket engines", "liquid fuel burns in the chamber of the engine"},
    {"b", "Jet engines", "a rocket is mentioned here only in passing"},
    {"c", "Rocket history", "early rockets were made of bamboo and powder"},
    {"d", "Boundary layer notes", "skin friction on a flat plate"},
    {"e", "Plate theory", "the boundary layer grows along the plate"},
    {"f", "", "a rocket without a title at all"},
    {"g", "Layer boundary", "boundary layer of a rocket nozzle"},
};
#define NDOCS (int)(sizeof DOCS / sizeof DOCS[0])

static char dir[256];
static lctx_db *db;

static void setup(void)
{
    tmpdir_make(dir, sizeof dir, "qtitle");
    char path[300];
    snprintf(path, sizeof path, "%s/c.lctx", dir);
    cr_assert_eq(lctx_open(path, LCTX_OPEN_CREATE, NULL, &db), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_begin(db), LCTX_OK);
    for (int i = 0; i < NDOCS; i++) {
        lctx_doc d = {.id = DOCS[i][0], .title = DOCS[i][1], .text = DOCS[i][2]};
        cr_assert_eq(lctx_add(db, &d), LCTX_OK, "%s", lctx_errmsg(db));
    }
    cr_assert_eq(lctx_commit(db, NULL), LCTX_OK, "%s", lctx_errmsg(db));
}

static void teardown(void)
{
    lctx_close(db);
    tmpdir_remove(dir);
}

TestSuite(title, .init = setup, .fini = teardown, .timeout = 60);

/* Whether s holds one of the words (space-separated) in `words`, as a
 * whole word after lower-casing. */
static int holds(const char *s, const char *words)
{
    char t[300], w[64];
    snprintf(t, sizeof t, " %s ", s);
    for (char *p = t; *p; p++)
        *p = (char)(isalnum((unsigned char)*p) ? tolower((unsigned char)*p) : ' ');
    for (const char *p = words; *p;) {
        size_t n = strcspn(p, " ");
        snprintf(w, sizeof w, " %.*s ", (int)n, p);
        if (strstr(t, w))
            return 1;
        p += n + (p[n] == ' ');
    }
    return 0;
}

static int in_title(int i, const char *w) { return holds(DOCS[i][1], w); }
static int in_any(int i, const char *w) { return holds(DOCS[i][1], w) || holds(DOCS[i][2], w); }

static lctx_results *search(const char *q)
{
    return bm25_results(db, q, 100);
}

/* The hits of q are exactly the documents with want[i] set. */
static void expect_exactly(const char *q, const int *want)
{
    lctx_results *r = search(q);
    size_t n = 0;
    for (int i = 0; i < NDOCS; i++) {
        n += want[i] != 0;
        cr_expect_eq(results_has(r, DOCS[i][0]), want[i] != 0, "'%s': %s %s", q, DOCS[i][0],
                     want[i] ? "missing" : "should not be found");
    }
    cr_expect_eq(lctx_results_count(r), n, "'%s'", q);
    lctx_results_free(r);
}

Test(title, restricts_to_the_title)
{
    int want[NDOCS];
    /* "rocket" is in b's, f's and g's text, and in a's and c's titles;
     * "rockets" stems to it */
    for (int i = 0; i < NDOCS; i++)
        want[i] = in_title(i, "rocket rockets");
    expect_exactly("title:rocket", want);
    expect_exactly("title:Rockets", want);
    expect_exactly("TITLE:rocket", want);
    expect_exactly("+title:rocket", want);
    /* other words rank, the title still decides */
    expect_exactly("title:rocket engine bamboo", want);
    lctx_results *r = search("title:rocket bamboo");
    cr_assert_str_eq(lctx_results_get(r, 0)->id, "c", "bamboo lifts c");
    lctx_results_free(r);
}

Test(title, excluded_from_the_title)
{
    int want[NDOCS];
    for (int i = 0; i < NDOCS; i++)
        want[i] = in_any(i, "rocket rockets") && !in_title(i, "rocket rockets");
    expect_exactly("rocket -title:rocket", want);   /* b, f and g: only their text */
    for (int i = 0; i < NDOCS; i++)
        want[i] = in_any(i, "plate") && !in_title(i, "boundary");
    expect_exactly("plate -title:boundary", want);
}

Test(title, a_phrase_in_the_title)
{
    /* d: phrase and words in the title; e: the phrase only in its text;
     * g: both words in the title, the phrase in its text */
    int want[NDOCS] = {0};
    for (int i = 0; i < NDOCS; i++)
        want[i] = in_title(i, "boundary") && in_title(i, "layer");
    cr_assert(want[3] && !want[4] && want[6]);
    expect_exactly("title:\"boundary layer\"", want);
    lctx_results *r = search("title:\"boundary layer\"");
    const char *json = lctx_results_query_json(r);
    cr_expect(strstr(json, "\"title\":[\"boundari\",\"layer\"]") != NULL, "%s", json);
    cr_expect(strstr(json, "\"phrases\":[[\"boundari\",\"layer\"]]") != NULL, "%s", json);
    /* each term counts once, as in the plain phrase */
    cr_expect(strstr(json, "\"term\":\"boundari\",\"weight\":1,\"required\":true") != NULL,
              "%s", json);
    lctx_results_free(r);
}

Test(title, other_prefixes_are_words)
{
    int want[NDOCS];
    for (int i = 0; i < NDOCS; i++)
        want[i] = in_any(i, "rocket rockets");
    /* "subtitle:rocket" is the words subtitle and rocket */
    expect_exactly("subtitle:rocket", want);
    /* "title: rocket": "title" is just a word (f holds it) */
    expect_exactly("title: rocket", want);
    lctx_results *r = search("subtitle:rocket");
    cr_expect(strstr(lctx_results_query_json(r), "\"title\":") == NULL, "%s",
              lctx_results_query_json(r));
    lctx_results_free(r);
    /* only an exclusion: nothing to search for */
    r = search("-title:rocket");
    cr_expect_eq(lctx_results_count(r), 0);
    cr_expect(strstr(lctx_errmsg(db), "only excludes") != NULL, "%s", lctx_errmsg(db));
    lctx_results_free(r);
}
