/*
 * test_embedder_probe.c — a collection notices when its embedder's model
 * changed under the same spec (indexer/embed.c, "the probe").
 *
 *   - An HTTP embedder that starts answering with another model of the
 *     same dimension: vector searches and new batches are refused with a
 *     message that says so, a batch refused that way changes nothing, and
 *     BM25 searches go on. The same service with a little noise (as a GPU
 *     service gives) is still accepted.
 *   - A bert: folder whose weights were replaced (a copy of the MiniLM
 *     fixture with every weight re-drawn): the same refusal, where the
 *     untouched copy was accepted by a fresh handle.
 *   - A collection made before probes were recorded (its probe row deleted
 *     here) records one with its next batch, and is held to it from then.
 *   - A zero vector, which has no direction, is refused like NaN: as a
 *     query (it used to rank the first documents added, score 0, and fill
 *     a hybrid ranking with them) and in a batch, which changes nothing.
 */
#define _GNU_SOURCE /* strcasestr, in test_loopback.h */
#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lctx.h"
#include "test_fake_embedder.h"
#include "test_loopback.h"
#include "test_safetensors.h"
#include "test_tmpdir.h"

/* The service's models: 0 and 1 are unrelated; 2 is model 0 plus noise of
 * about 1e-3 per coordinate; 3 is model 0, but answers zeros for any text
 * holding "zerovec" (a service failing on some inputs). */
static struct {
    loopback lb;
    atomic_int model;
} S;

/* The service's current model's vector for t. */
static void vector_for(const char *t, float v[FAKE_DIM])
{
    int model = atomic_load(&S.model);
    fake_vector(t, model == 1 ? 977u : 0u, v);
    for (int j = 0; j < FAKE_DIM; j++) {
        if (model == 3 && strstr(t, "zerovec"))
            v[j] = 0;
        if (model == 2)     /* about 1e-3, from the value's own digits */
            v[j] += (float)((int)(v[j] * 1e4f + 1e4f) % 3) * 1e-3f - 1e-3f;
    }
}

static void handle(int c)
{
    fake_serve(c, vector_for);
}

static char dir[256], url[128], coll[300];

static void setup(void)
{
    memset(&S, 0, sizeof S);
    fake_service_start(&S.lb, handle, 30, "probe", dir, url, coll);
}

static void teardown(void)
{
    loopback_stop(&S.lb);
    tmpdir_remove(dir);
}

TestSuite(probe, .init = setup, .fini = teardown, .timeout = 120);

static lctx_db *open_with(const char *spec, unsigned flags)
{
    lctx_config cfg;
    lctx_config_init(&cfg);
    cfg.embedder = spec;
    lctx_db *db = NULL;
    cr_assert_eq(lctx_open(coll, flags, &cfg, &db), LCTX_OK, "%s", lctx_errmsg(db));
    return db;
}

static int add_batch(lctx_db *db, const char *id, const char *text)
{
    lctx_doc d = {.id = id, .text = text};
    cr_assert_eq(lctx_begin(db), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_add(db, &d), LCTX_OK, "%s", lctx_errmsg(db));
    return lctx_commit(db, NULL);
}

static int search(lctx_db *db, enum lctx_mode mode, size_t *n)
{
    lctx_search_opts o;
    lctx_search_opts_init(&o);
    o.mode = mode;
    lctx_results *r;
    int rc = lctx_search(db, "moon sea", &o, &r);
    if (!rc) {
        *n = lctx_results_count(r);
        lctx_results_free(r);
    }
    return rc;
}

static void expect_refused(lctx_db *db, int rc)
{
    cr_assert_eq(rc, LCTX_EINVAL, "status %d: %s", rc, lctx_errmsg(db));
    cr_assert(strstr(lctx_errmsg(db), "is not the model this collection was built with"), "%s",
              lctx_errmsg(db));
}

static void build_two(const char *spec)
{
    lctx_db *db = open_with(spec, LCTX_OPEN_CREATE);
    cr_assert_eq(add_batch(db, "a", "the moon over the sea"), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(add_batch(db, "b", "tides follow the moon"), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_close(db), LCTX_OK);
}

Test(probe, a_service_now_running_another_model_is_refused)
{
    build_two(url);
    size_t n = 0;
    atomic_store(&S.model, 2);           /* the same model, with noise: fine */
    lctx_db *db = open_with(NULL, LCTX_OPEN_READONLY);
    cr_assert_eq(search(db, LCTX_MODE_VECTOR, &n), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(n, 2);
    lctx_close(db);

    atomic_store(&S.model, 1);
    db = open_with(NULL, LCTX_OPEN_READONLY);
    expect_refused(db, search(db, LCTX_MODE_VECTOR, &n));
    expect_refused(db, search(db, LCTX_MODE_HYBRID, &n));
    cr_assert_eq(search(db, LCTX_MODE_BM25, &n), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(n, 2);
    lctx_close(db);

    db = open_with(NULL, 0);
    lctx_stats before, after;
    cr_assert_eq(lctx_stats_get(db, &before), LCTX_OK);
    expect_refused(db, add_batch(db, "c", "the sea at night"));
    cr_assert_eq(lctx_stats_get(db, &after), LCTX_OK);
    cr_assert_eq(after.documents, before.documents);
    cr_assert_eq(after.vectors, before.vectors);
    cr_assert_eq(after.last_seq, before.last_seq);
    cr_assert_eq(lctx_check(db), LCTX_OK, "%s", lctx_errmsg(db));
    lctx_close(db);

    atomic_store(&S.model, 0);           /* the model back: everything works */
    db = open_with(NULL, 0);
    cr_assert_eq(add_batch(db, "c", "the sea at night"), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(search(db, LCTX_MODE_VECTOR, &n), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(n, 3);
    lctx_close(db);
}

/* Overwrites every float32 tensor of the safetensors file at path with
 * values drawn from an LCG, of the size a BERT initialiser gives (±0.05):
 * another randomly initialised model of the same shape. (Re-drawing the
 * word embeddings alone is not enough: a random BERT's outputs all point
 * much the same way, whatever the tokens.) */
static void redraw(const char *path)
{
    FILE *f = fopen(path, "r+b");
    cr_assert_not_null(f, "%s", path);
    long data;
    cJSON *h = st_read_header(f, &data), *t;
    uint32_t x = 12345;
    int n = 0;
    cJSON_ArrayForEach(t, h) {
        const char *dtype = cJSON_GetStringValue(cJSON_GetObjectItem(t, "dtype"));
        if (!dtype || strcmp(dtype, "F32"))
            continue;
        cJSON *off = cJSON_GetObjectItem(t, "data_offsets");
        long begin = (long)cJSON_GetArrayItem(off, 0)->valuedouble;
        long end = (long)cJSON_GetArrayItem(off, 1)->valuedouble;
        cr_assert_eq(fseek(f, data + begin, SEEK_SET), 0);
        for (long i = begin; i < end; i += 4) {
            x = x * 1664525u + 1013904223u;
            float v = (float)(x >> 8) / 16777216.0f * 0.1f - 0.05f;
            cr_assert_eq(fwrite(&v, sizeof v, 1, f), 1);
        }
        n++;
    }
    cr_assert_gt(n, 10, "only %d float32 tensors", n);
    fclose(f);
    cJSON_Delete(h);
}

Test(probe, a_bert_folder_with_other_weights_is_refused)
{
    char model[400], cmd[1000], spec[420], weights[500];
    snprintf(model, sizeof model, "%s/minilm", dir);
    snprintf(cmd, sizeof cmd, "cp -r tests/data/bert/minilm '%s'", model);
    cr_assert_eq(system(cmd), 0);
    snprintf(spec, sizeof spec, "bert:%s", model);
    build_two(spec);
    size_t n = 0;
    lctx_db *db = open_with(NULL, LCTX_OPEN_READONLY);
    cr_assert_eq(search(db, LCTX_MODE_VECTOR, &n), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(n, 2);
    lctx_close(db);

    snprintf(weights, sizeof weights, "%s/model.safetensors", model);
    redraw(weights);
    db = open_with(NULL, LCTX_OPEN_READONLY);
    expect_refused(db, search(db, LCTX_MODE_VECTOR, &n));
    lctx_close(db);
}

/* The probe row of the catalog, deleted (1) or counted (0). */
static int probe_rows(int delete)
{
    char file[400];
    snprintf(file, sizeof file, "%s/catalog.db", coll);
    sqlite3 *c;
    cr_assert_eq(sqlite3_open(file, &c), SQLITE_OK);
    sqlite3_stmt *st;
    cr_assert_eq(sqlite3_prepare_v2(c, delete ? "DELETE FROM config WHERE key='embedder_probe'"
                                              : "SELECT count(*) FROM config WHERE "
                                                "key='embedder_probe'", -1, &st, NULL),
                 SQLITE_OK, "%s", sqlite3_errmsg(c));
    int rc = sqlite3_step(st), n = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
    cr_assert(rc == SQLITE_ROW || rc == SQLITE_DONE, "%s", sqlite3_errmsg(c));
    sqlite3_finalize(st);
    sqlite3_close(c);
    return n;
}

Test(probe, an_older_collection_records_its_probe_with_its_next_batch)
{
    build_two(url);
    cr_assert_eq(probe_rows(0), 1, "creation recorded no probe");
    probe_rows(1);
    cr_assert_eq(probe_rows(0), 0);

    atomic_store(&S.model, 1);           /* unnoticed without a probe */
    size_t n = 0;
    lctx_db *db = open_with(NULL, LCTX_OPEN_READONLY);
    cr_assert_eq(search(db, LCTX_MODE_VECTOR, &n), LCTX_OK, "%s", lctx_errmsg(db));
    lctx_close(db);

    atomic_store(&S.model, 0);
    db = open_with(NULL, 0);
    cr_assert_eq(add_batch(db, "c", "the sea at night"), LCTX_OK, "%s", lctx_errmsg(db));
    lctx_close(db);
    cr_assert_eq(probe_rows(0), 1, "the batch recorded no probe");

    atomic_store(&S.model, 1);
    db = open_with(NULL, LCTX_OPEN_READONLY);
    expect_refused(db, search(db, LCTX_MODE_VECTOR, &n));
    lctx_close(db);
}

Test(probe, a_zero_vector_is_refused)
{
    build_two(url);
    atomic_store(&S.model, 3);
    lctx_db *db = open_with(NULL, 0);
    lctx_search_opts o;
    lctx_search_opts_init(&o);
    lctx_results *r = NULL;
    enum lctx_mode modes[] = {LCTX_MODE_VECTOR, LCTX_MODE_HYBRID};
    for (int i = 0; i < 2; i++) {
        o.mode = modes[i];
        cr_assert_eq(lctx_search(db, "zerovec moon", &o, &r), LCTX_ERROR, "mode %d", modes[i]);
        cr_assert(strstr(lctx_errmsg(db), "zero vector"), "%s", lctx_errmsg(db));
    }
    o.mode = LCTX_MODE_VECTOR;
    cr_assert_eq(lctx_search(db, "moon", &o, &r), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_results_count(r), 2);
    lctx_results_free(r);

    lctx_stats before, after;
    cr_assert_eq(lctx_stats_get(db, &before), LCTX_OK);
    int rc = add_batch(db, "z", "a zerovec document");
    cr_assert_eq(rc, LCTX_ERROR, "status %d", rc);
    cr_assert(strstr(lctx_errmsg(db), "zero vector"), "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_stats_get(db, &after), LCTX_OK);
    cr_assert_eq(after.documents, before.documents);
    cr_assert_eq(after.vectors, before.vectors);
    cr_assert_eq(after.last_seq, before.last_seq);
    lctx_close(db);
}
