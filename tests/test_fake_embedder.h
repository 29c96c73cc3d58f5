/*
 * test_fake_embedder.h — what a fake OpenAI-compatible embeddings service
 * answers, for tests that run one on loopback (test_loopback.h).
 *
 * fake_vector draws 8 numbers in [-0.5, 0.5) from an FNV-1a hash of the
 * text, so equal texts get equal vectors and unrelated texts unrelated
 * ones; salt picks another "model" (0 is the first). fake_respond answers
 * a request's input array with such vectors, made by the caller's vec;
 * fake_service_start starts the service and a test's folder.
 *
 * Header-only (static functions) for the reason test_tmpdir.h gives.
 */
#ifndef LCTX_TEST_FAKE_EMBEDDER_H
#define LCTX_TEST_FAKE_EMBEDDER_H

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "test_loopback.h"
#include "test_tmpdir.h"

#define FAKE_DIM 8

__attribute__((unused))
static void fake_vector(const char *t, uint32_t salt, float v[FAKE_DIM])
{
    uint32_t h = 2166136261u;
    for (const char *p = t; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    for (int j = 0; j < FAKE_DIM; j++) {
        uint32_t x = h * (2654435761u + (uint32_t)j * 40503u + salt);
        x ^= x >> 15;
        v[j] = (float)(x % 1000) / 1000.0f - 0.5f;
    }
}

/* Answers connection c with one vector per text of input, from vec. */
__attribute__((unused))
static void fake_respond(int c, cJSON *input, void (*vec)(const char *t, float v[FAKE_DIM]))
{
    cJSON *root = cJSON_CreateObject(), *data = cJSON_AddArrayToObject(root, "data");
    for (int i = 0; i < cJSON_GetArraySize(input); i++) {
        float v[FAKE_DIM];
        vec(cJSON_GetArrayItem(input, i)->valuestring, v);
        cJSON *it = cJSON_CreateObject();
        cJSON_AddNumberToObject(it, "index", i);
        cJSON_AddItemToObject(it, "embedding", cJSON_CreateFloatArray(v, FAKE_DIM));
        cJSON_AddItemToArray(data, it);
    }
    char *out = cJSON_PrintUnformatted(root);
    loopback_respond(c, 200, out);
    free(out);
    cJSON_Delete(root);
}

/* The vector of t with no salt: a service of one fixed model. */
__attribute__((unused))
static void fake_plain_vector(const char *t, float v[FAKE_DIM])
{
    fake_vector(t, 0, v);
}

/* Reads one embeddings request on c and answers it with vec's vectors. */
__attribute__((unused))
static void fake_serve(int c, void (*vec)(const char *t, float v[FAKE_DIM]))
{
    static char buf[1 << 17];
    char *body = loopback_read_request(c, buf, sizeof buf);
    if (!body)
        return;
    cJSON *req = cJSON_Parse(body);
    fake_respond(c, cJSON_GetObjectItem(req, "input"), vec);
    cJSON_Delete(req);
}

/* Starts lb serving with handle (for at most seconds), makes a fresh
 * folder (tag) into dir, the collection path in it into coll and the
 * service's embedder spec into url; the service answers FAKE_DIM numbers. */
__attribute__((unused))
static void fake_service_start(loopback *lb, void (*handle)(int), int seconds, const char *tag,
                               char dir[256], char url[128], char coll[300])
{
    loopback_start(lb, handle, seconds);
    snprintf(url, 128, "http:http://127.0.0.1:%d/v1", lb->port);
    tmpdir_make(dir, 256, tag);
    snprintf(coll, 300, "%s/c.lctx", dir);
    setenv("LCTX_EMBED_DIM", "8", 1);
}

#endif
