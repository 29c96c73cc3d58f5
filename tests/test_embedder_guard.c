/*
 * test_embedder_guard.c — what a collection holds its embedder to.
 *
 *   - An embedder that yields NaN never reaches the index. A copy of the
 *     MiniLM fixture gets one NaN weight (the first element of
 *     embeddings.LayerNorm.bias, found through the safetensors header),
 *     which turns every vector it makes into NaNs; a collection with that
 *     embedder must refuse to be made or to take a batch, rather than store
 *     vectors that score every search NaN.
 *   - A bert: model named by a relative path is recorded absolute, so the
 *     collection works from any working directory, and other spellings of
 *     the same folder match it.
 */
#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lctx.h"
#include "test_safetensors.h"
#include "test_tmpdir.h"

static char root[256];

static void suite_init(void)
{
    tmpdir_make(root, sizeof root, "nanw");
}

static void suite_fini(void)
{
    tmpdir_remove(root);
}

TestSuite(embedder_guard, .init = suite_init, .fini = suite_fini, .timeout = 120);

/* Writes a NaN over the first float32 of tensor name in the safetensors
 * file at path (header: 8-byte little-endian length, then JSON). */
static void poison(const char *path, const char *name)
{
    FILE *f = fopen(path, "r+b");
    cr_assert_not_null(f, "%s", path);
    long data;
    cJSON *h = st_read_header(f, &data);
    cJSON *t = cJSON_GetObjectItem(h, name);
    cr_assert_not_null(t, "no tensor %s", name);
    cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(t, "dtype")), "F32");
    long begin = (long)cJSON_GetArrayItem(cJSON_GetObjectItem(t, "data_offsets"), 0)->valuedouble;
    float nan = NAN;
    cr_assert_eq(fseek(f, data + begin, SEEK_SET), 0);
    cr_assert_eq(fwrite(&nan, sizeof nan, 1, f), 1);
    fclose(f);
    cJSON_Delete(h);
}

Test(embedder_guard, a_model_that_yields_nan_makes_no_vectors)
{
    char model[400], cmd[1000], coll[400];
    snprintf(model, sizeof model, "%s/minilm", root);
    snprintf(cmd, sizeof cmd, "cp -r tests/data/bert/minilm '%s'", model);
    cr_assert_eq(system(cmd), 0);
    char weights[500];
    snprintf(weights, sizeof weights, "%s/model.safetensors", model);
    poison(weights, "embeddings.LayerNorm.bias");

    lctx_config c;
    lctx_config_init(&c);
    char spec[420];
    snprintf(spec, sizeof spec, "bert:%s", model);
    c.embedder = spec;
    snprintf(coll, sizeof coll, "%s/c.lctx", root);
    lctx_db *db;
    int rc = lctx_open(coll, LCTX_OPEN_CREATE, &c, &db);
    if (rc == LCTX_OK) {                /* the open need not embed: the batch does */
        cr_assert_eq(lctx_begin(db), LCTX_OK, "%s", lctx_errmsg(db));
        lctx_doc d = {.id = "a", .text = "the moon over the sea"};
        cr_assert_eq(lctx_add(db, &d), LCTX_OK, "%s", lctx_errmsg(db));
        rc = lctx_commit(db, NULL);
    }
    cr_assert_neq(rc, LCTX_OK, "NaN vectors were committed");
    cr_assert(strstr(lctx_errmsg(db), "not a finite number"), "%s", lctx_errmsg(db));
    lctx_close(db);
    struct stat sb;
    cr_assert_neq(stat(coll, &sb), 0, "the failed creation left %s", coll);
}

Test(embedder_guard, a_relative_bert_path_is_recorded_absolute)
{
    char model[400], cmd[1000], cwd[400], coll[400];
    snprintf(model, sizeof model, "%s/rel/m", root);
    snprintf(cmd, sizeof cmd, "mkdir -p '%s/rel/sub' && cp -r tests/data/bert/minilm '%s'", root,
             model);
    cr_assert_eq(system(cmd), 0);
    cr_assert_not_null(getcwd(cwd, sizeof cwd));
    snprintf(coll, sizeof coll, "%s/rel/c.lctx", root);
    char rel[420];
    snprintf(rel, sizeof rel, "%s/rel", root);
    cr_assert_eq(chdir(rel), 0);
    lctx_config c;
    lctx_config_init(&c);
    c.embedder = "bert:m";
    lctx_db *db;
    int rc = lctx_open(coll, LCTX_OPEN_CREATE, &c, &db);
    cr_assert_eq(rc, LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_begin(db), LCTX_OK);
    lctx_doc d = {.id = "a", .text = "the moon over the sea"};
    cr_assert_eq(lctx_add(db, &d), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_commit(db, NULL), LCTX_OK, "%s", lctx_errmsg(db));
    lctx_close(db);
    /* from elsewhere: default open searches vectors, and "bert:../m" is the
     * same model */
    cr_assert_eq(chdir("sub"), 0);
    cr_assert_eq(lctx_open(coll, 0, NULL, &db), LCTX_OK, "%s", lctx_errmsg(db));
    lctx_stats st;
    cr_assert_eq(lctx_stats_get(db, &st), LCTX_OK);
    char real[PATH_MAX];
    cr_assert_not_null(realpath(model, real));
    cr_assert(strncmp(st.embedder, "bert:", 5) == 0 && strcmp(st.embedder + 5, real) == 0,
              "recorded %s, the folder is %s", st.embedder, real);
    lctx_search_opts o;
    lctx_search_opts_init(&o);
    o.mode = LCTX_MODE_VECTOR;
    lctx_results *r;
    cr_assert_eq(lctx_search(db, "moon", &o, &r), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_results_count(r), 1);
    lctx_results_free(r);
    lctx_close(db);
    c.embedder = "bert:../m";
    cr_assert_eq(lctx_open(coll, 0, &c, &db), LCTX_OK, "%s", lctx_errmsg(db));
    lctx_close(db);
    c.embedder = "bert:../sub";
    cr_assert_eq(lctx_open(coll, 0, &c, &db), LCTX_EINVAL);
    lctx_close(db);
    cr_assert_eq(chdir(cwd), 0);
}
