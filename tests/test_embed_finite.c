/*
 * test_embed_finite.c — an embedder that yields NaN never reaches the
 * index. A copy of the MiniLM fixture gets one NaN weight (the first
 * element of embeddings.LayerNorm.bias, found through the safetensors
 * header), which turns every vector it makes into NaNs; a collection with
 * that embedder must refuse to be made or to take a batch, rather than
 * store vectors that score every search NaN.
 */
#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lctx.h"
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

TestSuite(embed_finite, .init = suite_init, .fini = suite_fini, .timeout = 120);

/* Writes a NaN over the first float32 of tensor name in the safetensors
 * file at path (header: 8-byte little-endian length, then JSON). */
static void poison(const char *path, const char *name)
{
    FILE *f = fopen(path, "r+b");
    cr_assert_not_null(f, "%s", path);
    unsigned char lenb[8];
    cr_assert_eq(fread(lenb, 1, 8, f), 8);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = hlen << 8 | lenb[i];
    char *json = malloc(hlen + 1);
    cr_assert_not_null(json);
    cr_assert_eq(fread(json, 1, hlen, f), hlen);
    json[hlen] = 0;
    cJSON *h = cJSON_Parse(json);
    cJSON *t = cJSON_GetObjectItem(h, name);
    cr_assert_not_null(t, "no tensor %s", name);
    cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(t, "dtype")), "F32");
    long begin = (long)cJSON_GetArrayItem(cJSON_GetObjectItem(t, "data_offsets"), 0)->valuedouble;
    float nan = NAN;
    cr_assert_eq(fseek(f, 8 + (long)hlen + begin, SEEK_SET), 0);
    cr_assert_eq(fwrite(&nan, sizeof nan, 1, f), 1);
    fclose(f);
    cJSON_Delete(h);
    free(json);
}

Test(embed_finite, a_model_that_yields_nan_makes_no_vectors)
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
