/*
 * test_search_vs_compact.c — a search that meets a compaction half-way
 * still finds an upserted document (query/search.c, fill_hits).
 *
 * A search reads the index from one snapshot and the catalog after it.
 * When, between the two, a document is replaced and a compaction removes
 * the old version's row from the catalog, the index snapshot still has
 * only the old version and the catalog only the new one. The search used
 * to drop that hit, so a document that was always there went missing from
 * the answer (found by a bug hunt: 5 of 600 searches in a pipe session
 * beside an upsert-and-compact loop). Compaction now also replaces the
 * index, so the search notices the new generation and runs again.
 *
 * To place the writer exactly in that window, a test hook runs it, as
 * another process, right after the search took its index snapshot. The
 * collection's embedder is a loopback HTTP service, which answers the
 * writer's embedding requests meanwhile.
 *
 * The same for a filtered search, which a replacement alone used to
 * defeat: its filter read the catalog after the index snapshot and left
 * out the old version as deleted, while the snapshot had only that one.
 */
#define _GNU_SOURCE /* strcasestr, in test_loopback.h */
#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lctx.h"
#include "store/store.h"
#include "test_fake_embedder.h"
#include "test_loopback.h"
#include "test_tmpdir.h"

#define QUERY "zqmarker"

static loopback lb;
static char dir[256], url[128], coll[300];
static int hook_runs;

static void handle(int c)
{
    fake_serve(c, fake_plain_vector);
}

static void setup(void)
{
    hook_runs = 0;
    fake_service_start(&lb, handle, 60, "svc", dir, url, coll);
}

static void teardown(void)
{
    loopback_stop(&lb);
    tmpdir_remove(dir);
}

TestSuite(search_vs_compact, .init = setup, .fini = teardown, .timeout = 60);

/* The test hook: replace m1 and compact, as another process would:
 * lctx-index, twice, once. (Another handle in this process would not do:
 * LMDB must not have one environment open twice in a process.) */
static void replace_and_compact(void *arg)
{
    (void)arg;
    if (hook_runs++)
        return;
    const char *build = getenv("LCTX_BUILD");
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "echo '{\"id\":\"m1\",\"text\":\"" QUERY " marker, second "
             "version\"}' | %s/san/lctx-index -q -c '%s' --format jsonl - && "
             "%s/san/lctx-index -q -c '%s' --compact", build ? build : "build", coll,
             build ? build : "build", coll);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
}

static void search_meets_compaction(enum lctx_mode mode)
{
    lctx_config cfg;
    lctx_config_init(&cfg);
    cfg.embedder = url;
    lctx_db *db;
    cr_assert_eq(lctx_open(coll, LCTX_OPEN_CREATE, &cfg, &db), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_begin(db), LCTX_OK);
    const char *texts[] = {"the moon over the sea", "tides follow the moon",
                           "lions sleep most of the day", QUERY " marker, first version"};
    const char *ids[] = {"a", "b", "c", "m1"};
    for (int i = 0; i < 4; i++) {
        lctx_doc d = {.id = ids[i], .text = texts[i]};
        cr_assert_eq(lctx_add(db, &d), LCTX_OK, "%s", lctx_errmsg(db));
    }
    cr_assert_eq(lctx_commit(db, NULL), LCTX_OK, "%s", lctx_errmsg(db));

    store_test_after_snapshot(db, replace_and_compact, NULL);
    lctx_search_opts o;
    lctx_search_opts_init(&o);
    o.mode = mode;
    o.k = 50;
    lctx_results *r;
    cr_assert_eq(lctx_search(db, QUERY, &o, &r), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_gt(hook_runs, 1, "the writer never ran inside the search, or the search never "
                 "ran again after it");
    int m1 = 0;
    for (size_t i = 0; i < lctx_results_count(r); i++)
        m1 += strcmp(lctx_results_get(r, i)->id, "m1") == 0;
    cr_assert_eq(m1, 1, "m1 appears %d times in %zu hits", m1, lctx_results_count(r));
    lctx_results_free(r);

    /* The hit is the new version: its text is what lctx_get_text gives. */
    char *text = NULL;
    cr_assert_eq(lctx_get_text(db, "m1", &text, NULL), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert(strstr(text, "second version"), "%s", text);
    free(text);
    cr_assert_eq(lctx_close(db), LCTX_OK);
}

Test(search_vs_compact, vector_search_keeps_an_upserted_document)
{
    search_meets_compaction(LCTX_MODE_VECTOR);
}

Test(search_vs_compact, hybrid_search_keeps_an_upserted_document)
{
    search_meets_compaction(LCTX_MODE_HYBRID);
}

/* The test hook: replace x from another process, once. */
static void replace_x(void *arg)
{
    (void)arg;
    if (hook_runs++)
        return;
    const char *build = getenv("LCTX_BUILD");
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "echo '{\"id\":\"x\",\"text\":\"" QUERY " second version\","
             "\"metadata\":{\"k\":1}}' | %s/san/lctx-index -q -c '%s' --format jsonl -",
             build ? build : "build", coll);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
}

Test(search_vs_compact, a_filtered_search_keeps_a_document_replaced_under_it)
{
    lctx_db *db;
    cr_assert_eq(lctx_open(coll, LCTX_OPEN_CREATE, NULL, &db), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_begin(db), LCTX_OK);
    lctx_doc docs[] = {{.id = "a", .text = QUERY " other", .metadata = "{\"k\":2}"},
                       {.id = "x", .text = QUERY " first version", .metadata = "{\"k\":1}"}};
    for (int i = 0; i < 2; i++)
        cr_assert_eq(lctx_add(db, &docs[i]), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_commit(db, NULL), LCTX_OK, "%s", lctx_errmsg(db));
    store_test_after_snapshot(db, replace_x, NULL);
    lctx_search_opts o;
    lctx_search_opts_init(&o);
    o.filter = "json_extract(metadata, '$.k') = 1";
    lctx_results *r;
    cr_assert_eq(lctx_search(db, QUERY, &o, &r), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(hook_runs, 1, "the writer never ran inside the search");
    cr_assert_eq(lctx_results_count(r), 1, "%zu hits", lctx_results_count(r));
    cr_assert_str_eq(lctx_results_get(r, 0)->id, "x");
    lctx_results_free(r);
    /* The next search sees the new version, still through the filter. */
    cr_assert_eq(lctx_search(db, QUERY, &o, &r), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_results_count(r), 1);
    cr_assert_str_eq(lctx_results_get(r, 0)->id, "x");
    lctx_results_free(r);
    cr_assert_eq(lctx_close(db), LCTX_OK);
}
