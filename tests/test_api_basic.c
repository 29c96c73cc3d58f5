/*
 * test_api_basic.c — the public API end to end: create, add, commit,
 * search, upsert, delete, reopen, bad input, read-only handles.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lctx.h"
#include "test_tmpdir.h"

TMPDIR_COLLECTION_SUITE(api, "api");

static lctx_db *open_rw(void)
{
    lctx_db *db = NULL;
    int rc = lctx_open(dir, LCTX_OPEN_CREATE, NULL, &db);
    cr_assert_eq(rc, LCTX_OK, "open: %s", lctx_errmsg(db));
    return db;
}

static void add(lctx_db *db, const char *id, const char *title, const char *text)
{
    lctx_doc d = {.id = id, .title = title, .text = text};
    int rc = lctx_add(db, &d);
    cr_assert_eq(rc, LCTX_OK, "add %s: %s", id, lctx_errmsg(db));
}

static lctx_results *search(lctx_db *db, const char *q, int k)
{
    lctx_search_opts o;
    lctx_search_opts_init(&o);
    o.k = k;
    o.snippets = 1;
    o.explain = 1;
    lctx_results *r = NULL;
    int rc = lctx_search(db, q, &o, &r);
    cr_assert_eq(rc, LCTX_OK, "search '%s': %s", q, lctx_errmsg(db));
    return r;
}

static void seed(lctx_db *db)
{
    uint64_t seq = 0;
    cr_assert_eq(lctx_begin(db), LCTX_OK, "%s", lctx_errmsg(db));
    add(db, "a", "Cats", "The cat sat on the mat. Cats like warm places.");
    add(db, "b", "Dogs", "The dog chased the cat around the garden.");
    add(db, "c", "Birds", "Birds sing in the morning. A bird flew over the garden.");
    cr_assert_eq(lctx_commit(db, &seq), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(seq, 1);
}

Test(api, add_and_search)
{
    lctx_db *db = open_rw();
    seed(db);
    lctx_results *r = search(db, "cat", 10);
    cr_assert_eq(lctx_results_count(r), 2);
    const lctx_hit *h = lctx_results_get(r, 0);
    cr_assert_str_eq(h->id, "a"); /* title + two mentions */
    cr_assert_str_eq(h->title, "Cats");
    cr_assert_not_null(h->snippet);
    cr_assert(strstr(h->snippet, "[cat]") != NULL, "snippet: %s", h->snippet);
    cr_assert(strstr(h->explain, "\"idf\"") != NULL);
    cr_assert_gt(h->score, lctx_results_get(r, 1)->score);
    lctx_results_free(r);
    r = search(db, "garden", 10);
    cr_assert_eq(lctx_results_count(r), 2);
    lctx_results_free(r);
    cr_assert_eq(lctx_close(db), LCTX_OK);
}

Test(api, phrase_and_exclusion)
{
    lctx_db *db = open_rw();
    seed(db);
    lctx_results *r = search(db, "\"the garden\" -dog", 10);
    cr_assert_eq(lctx_results_count(r), 1);
    cr_assert_str_eq(lctx_results_get(r, 0)->id, "c");
    lctx_results_free(r);
    r = search(db, "\"cat chased\"", 10);
    cr_assert_eq(lctx_results_count(r), 0);
    lctx_results_free(r);
    r = search(db, "\"chased the cat\"", 10);
    cr_assert_eq(lctx_results_count(r), 1);
    cr_assert_str_eq(lctx_results_get(r, 0)->id, "b");
    lctx_results_free(r);
    lctx_close(db);
}

Test(api, stopwords_and_empty)
{
    lctx_db *db = open_rw();
    seed(db);
    lctx_results *r = search(db, "the of and", 10);
    cr_assert_eq(lctx_results_count(r), 0);
    cr_assert(strstr(lctx_errmsg(db), "stopwords") != NULL, "%s", lctx_errmsg(db));
    lctx_results_free(r);
    r = search(db, "   ", 10);
    cr_assert_eq(lctx_results_count(r), 0);
    cr_assert(strstr(lctx_errmsg(db), "no searchable terms") != NULL);
    lctx_results_free(r);
    r = search(db, "zebra", 10);
    cr_assert_eq(lctx_results_count(r), 0);
    lctx_results_free(r);
    lctx_close(db);
}

Test(api, upsert_and_delete)
{
    lctx_db *db = open_rw();
    seed(db);
    cr_assert_eq(lctx_begin(db), LCTX_OK);
    add(db, "a", "Fish", "Fish swim in the sea.");
    cr_assert_eq(lctx_delete(db, "b"), LCTX_OK);
    cr_assert_eq(lctx_delete(db, "nope"), LCTX_ENOTFOUND);
    cr_assert_eq(lctx_commit(db, NULL), LCTX_OK, "%s", lctx_errmsg(db));
    lctx_results *r = search(db, "cat", 10);
    cr_assert_eq(lctx_results_count(r), 0);
    lctx_results_free(r);
    r = search(db, "fish", 10);
    cr_assert_eq(lctx_results_count(r), 1);
    cr_assert_str_eq(lctx_results_get(r, 0)->id, "a");
    lctx_results_free(r);
    lctx_stats st;
    cr_assert_eq(lctx_stats_get(db, &st), LCTX_OK);
    cr_assert_eq(st.documents, 2);
    cr_assert_eq(st.last_seq, 2);
    cr_assert_gt(st.deleted_chunks, 0);
    char *text;
    size_t len;
    cr_assert_eq(lctx_get_text(db, "a", &text, &len), LCTX_OK);
    cr_assert_str_eq(text, "Fish swim in the sea.");
    free(text);
    cr_assert_eq(lctx_get_text(db, "b", &text, &len), LCTX_ENOTFOUND);
    lctx_close(db);
    /* reopen read-only: same answers */
    cr_assert_eq(lctx_open(dir, LCTX_OPEN_READONLY, NULL, &db), LCTX_OK);
    r = search(db, "fish", 10);
    cr_assert_eq(lctx_results_count(r), 1);
    lctx_results_free(r);
    cr_assert_eq(lctx_begin(db), LCTX_ESTATE);
    lctx_close(db);
}

Test(api, same_id_twice_in_one_batch)
{
    lctx_db *db = open_rw();
    /* fresh collection: the duplicate is caught by the unique index */
    cr_assert_eq(lctx_begin(db), LCTX_OK);
    add(db, "x", "X", "first version mentions apples");
    add(db, "y", "Y", "unrelated");
    add(db, "x", "X", "second version mentions pears");
    add(db, "x", "X", "second version mentions pears"); /* identical again */
    cr_assert_eq(lctx_commit(db, NULL), LCTX_OK, "%s", lctx_errmsg(db));
    lctx_results *r = search(db, "apples", 10);
    cr_assert_eq(lctx_results_count(r), 0);
    lctx_results_free(r);
    r = search(db, "pears", 10);
    cr_assert_eq(lctx_results_count(r), 1);
    lctx_results_free(r);
    /* non-empty collection: the lookup path, with the content-hash no-op */
    cr_assert_eq(lctx_begin(db), LCTX_OK);
    add(db, "x", "X", "second version mentions pears");
    add(db, "y", "Y", "now about plums");
    add(db, "y", "Y", "now about plums and figs");
    cr_assert_eq(lctx_commit(db, NULL), LCTX_OK, "%s", lctx_errmsg(db));
    lctx_stats st;
    cr_assert_eq(lctx_stats_get(db, &st), LCTX_OK);
    cr_assert_eq(st.documents, 2);
    r = search(db, "figs", 10);
    cr_assert_eq(lctx_results_count(r), 1);
    lctx_results_free(r);
    r = search(db, "pears", 10);
    cr_assert_eq(lctx_results_count(r), 1);
    lctx_results_free(r);
    cr_assert_eq(lctx_check(db), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_compact(db), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_check(db), LCTX_OK, "%s", lctx_errmsg(db));
    lctx_close(db);
}

Test(api, bad_input)
{
    lctx_db *db = NULL;
    cr_assert_eq(lctx_open(dir, 0, NULL, &db), LCTX_ENOTFOUND);
    cr_assert(strlen(lctx_errmsg(db)) > 0);
    lctx_close(db);
    db = open_rw();
    lctx_doc d = {.id = "x", .text = "ok"};
    cr_assert_eq(lctx_add(db, &d), LCTX_ESTATE);
    cr_assert_eq(lctx_commit(db, NULL), LCTX_ESTATE);
    cr_assert_eq(lctx_begin(db), LCTX_OK);
    cr_assert_eq(lctx_begin(db), LCTX_ESTATE);
    lctx_doc bad = {.id = "y", .text = "bad \xff byte"};
    cr_assert_eq(lctx_add(db, &bad), LCTX_EINVAL);
    cr_assert(strstr(lctx_errmsg(db), "byte 4") != NULL, "%s", lctx_errmsg(db));
    lctx_doc nometa = {.id = "z", .text = "t", .metadata = "[1]"};
    cr_assert_eq(lctx_add(db, &nometa), LCTX_EINVAL);
    lctx_doc noid = {.text = "t"};
    cr_assert_eq(lctx_add(db, &noid), LCTX_EINVAL);
    cr_assert_eq(lctx_rollback(db), LCTX_OK);
    lctx_search_opts o;
    lctx_search_opts_init(&o);
    o.mode = LCTX_MODE_VECTOR;
    lctx_results *r = NULL;
    cr_assert_eq(lctx_search(db, "x", &o, &r), LCTX_EUNSUPPORTED);
    cr_assert_null(r);
    cr_assert(strstr(lctx_errmsg(db), "no vectors") != NULL);
    lctx_close(db);
}

Test(api, filter)
{
    lctx_db *db = open_rw();
    cr_assert_eq(lctx_begin(db), LCTX_OK);
    for (int i = 0; i < 30; i++) {
        char id[16], meta[64];
        snprintf(id, sizeof id, "d%d", i);
        snprintf(meta, sizeof meta, "{\"year\": %d}", 1990 + i);
        lctx_doc d = {.id = id, .text = "solar energy panels", .metadata = meta};
        cr_assert_eq(lctx_add(db, &d), LCTX_OK, "%s", lctx_errmsg(db));
    }
    cr_assert_eq(lctx_commit(db, NULL), LCTX_OK);
    lctx_search_opts o;
    lctx_search_opts_init(&o);
    o.k = 5;
    o.filter = "json_extract(metadata, '$.year') >= 2015";
    lctx_results *r = NULL;
    cr_assert_eq(lctx_search(db, "solar", &o, &r), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_results_count(r), 5);
    for (size_t i = 0; i < 5; i++) {
        int n = atoi(lctx_results_get(r, i)->id + 1);
        cr_assert_geq(n, 25);
    }
    lctx_results_free(r);
    o.filter = "1); DROP TABLE documents; --";
    cr_assert_eq(lctx_search(db, "solar", &o, &r), LCTX_EINVAL);
    lctx_close(db);
}
