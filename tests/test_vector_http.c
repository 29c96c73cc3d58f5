/*
 * test_vector_http.c — a collection whose embedder is an HTTP endpoint (a
 * loopback server this test runs, as in test_http_embed.c): an embedder
 * failure during lctx_commit leaves both stores as they were, and an
 * embedder answering with another dimension than the collection's is
 * refused with a message naming both.
 *
 * The server answers every request with 4-dimensional vectors derived from
 * the input's length, or, once `fail` is set, with HTTP 400 (not retried,
 * so the test does not wait on back-off).
 */
#define _GNU_SOURCE /* strcasestr */
#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lctx.h"
#include "test_loopback.h"
#include "test_tmpdir.h"

static struct {
    loopback lb;
    atomic_int fail, requests;
} S;

static char *vectors_for(cJSON *input)
{
    cJSON *root = cJSON_CreateObject(), *data = cJSON_AddArrayToObject(root, "data");
    int n = cJSON_GetArraySize(input);
    for (int i = 0; i < n; i++) {
        const char *t = cJSON_GetArrayItem(input, i)->valuestring;
        float v[4] = {1, (float)(t ? strlen(t) % 7 : 0), (float)i, 0.5f};
        cJSON *it = cJSON_CreateObject();
        cJSON_AddNumberToObject(it, "index", i);
        cJSON_AddItemToObject(it, "embedding", cJSON_CreateFloatArray(v, 4));
        cJSON_AddItemToArray(data, it);
    }
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}

static void handle(int c)
{
    static char buf[1 << 17];
    char *body = loopback_read_request(c, buf, sizeof buf);
    if (!body)
        return;
    atomic_fetch_add(&S.requests, 1);
    if (atomic_load(&S.fail)) {
        loopback_respond(c, 400, "{\"error\":{\"message\":\"model overloaded\"}}");
        return;
    }
    cJSON *req = cJSON_Parse(body);
    char *out = vectors_for(cJSON_GetObjectItem(req, "input"));
    loopback_respond(c, 200, out);
    free(out);
    cJSON_Delete(req);
}

static char dir[256], url[128], path[300];

static void setup(void)
{
    memset(&S, 0, sizeof S);
    loopback_start(&S.lb, handle, 30);
    snprintf(url, sizeof url, "http:http://127.0.0.1:%d/v1", S.lb.port);
    tmpdir_make(dir, sizeof dir, "vhttp");
    snprintf(path, sizeof path, "%s/h.lctx", dir);
    setenv("LCTX_EMBED_DIM", "4", 1);
    setenv("LCTX_EMBED_API_KEY", "sk-test", 1);
}

static void teardown(void)
{
    loopback_stop(&S.lb);
    tmpdir_remove(dir);
}

TestSuite(vector_http, .init = setup, .fini = teardown, .timeout = 60);

static lctx_db *open_http(void)
{
    lctx_config cfg;
    lctx_config_init(&cfg);
    cfg.embedder = url;
    lctx_db *db = NULL;
    cr_assert_eq(lctx_open(path, LCTX_OPEN_CREATE, &cfg, &db), LCTX_OK, "%s", lctx_errmsg(db));
    return db;
}

static void add(lctx_db *db, const char *id, const char *text)
{
    lctx_doc d = {id, NULL, text, 0, NULL, NULL};
    cr_assert_eq(lctx_add(db, &d), LCTX_OK, "%s", lctx_errmsg(db));
}

Test(vector_http, failure_during_commit_changes_nothing)
{
    lctx_db *db = open_http();
    cr_assert_eq(lctx_begin(db), LCTX_OK);
    add(db, "a", "first document about apples");
    add(db, "b", "second document about pears");
    cr_assert_eq(lctx_commit(db, NULL), LCTX_OK, "%s", lctx_errmsg(db));
    lctx_stats before;
    cr_assert_eq(lctx_stats_get(db, &before), LCTX_OK);
    cr_expect_eq(before.vectors, 2);
    cr_expect_eq(before.dim, 4);

    atomic_store(&S.fail, 1);
    cr_assert_eq(lctx_begin(db), LCTX_OK);
    add(db, "c", "third document about plums");
    cr_assert_eq(lctx_delete(db, "a"), LCTX_OK);
    int rc = lctx_commit(db, NULL);
    cr_expect_neq(rc, LCTX_OK);
    const char *m = lctx_errmsg(db);
    cr_expect(strstr(m, "400") || strstr(m, "overloaded"), "message: %s", m);
    cr_expect_null(strchr(m, '\n'), "one line: %s", m);

    lctx_stats after;
    cr_assert_eq(lctx_stats_get(db, &after), LCTX_OK);
    cr_expect_eq(after.documents, before.documents);
    cr_expect_eq(after.chunks, before.chunks);
    cr_expect_eq(after.vectors, before.vectors);
    cr_expect_eq(after.last_seq, before.last_seq);
    char *text = NULL;
    cr_expect_eq(lctx_get_text(db, "a", &text, NULL), LCTX_OK, "the delete was rolled back");
    free(text);
    cr_expect_eq(lctx_get_text(db, "c", &text, NULL), LCTX_ENOTFOUND);
    cr_expect_eq(lctx_check(db), LCTX_OK, "%s", lctx_errmsg(db));

    /* The endpoint back: the same batch goes through. */
    atomic_store(&S.fail, 0);
    cr_assert_eq(lctx_begin(db), LCTX_OK);
    add(db, "c", "third document about plums");
    cr_assert_eq(lctx_commit(db, NULL), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_stats_get(db, &after), LCTX_OK);
    cr_expect_eq(after.vectors, 3);
    cr_expect_eq(lctx_check(db), LCTX_OK, "%s", lctx_errmsg(db));
    lctx_close(db);
}

Test(vector_http, dimension_mismatch_on_reopen)
{
    lctx_db *db = open_http();
    cr_assert_eq(lctx_begin(db), LCTX_OK);
    add(db, "a", "first document about apples");
    cr_assert_eq(lctx_commit(db, NULL), LCTX_OK, "%s", lctx_errmsg(db));
    lctx_close(db);

    setenv("LCTX_EMBED_DIM", "3", 1); /* the endpoint now claims 3 dimensions */
    lctx_config cfg;
    lctx_config_init(&cfg);
    cfg.embedder = url;
    db = NULL;
    int rc = lctx_open(path, 0, &cfg, &db);
    if (rc == LCTX_OK) { /* the encoder opens lazily: the first use refuses */
        lctx_search_opts o;
        lctx_search_opts_init(&o);
        o.mode = LCTX_MODE_VECTOR;
        lctx_results *r = NULL;
        rc = lctx_search(db, "apples", &o, &r);
        cr_expect_null(r);
    }
    cr_expect_eq(rc, LCTX_EINVAL);
    const char *m = lctx_errmsg(db);
    cr_expect(strstr(m, "h.lctx") && strstr(m, "3-dimensional") && strstr(m, "stores 4"),
              "message: %s", m);
    lctx_close(db);
}
