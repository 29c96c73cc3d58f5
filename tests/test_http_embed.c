/*
 * test_http_embed.c — the OpenAI-compatible embedder against a loopback
 * server the test starts itself.
 *
 * The server is one thread on 127.0.0.1 (port chosen by the kernel) that
 * answers each request from a script: a good reply (vectors computed from the
 * request, returned in reverse order so placement by "index" is exercised),
 * an HTTP error status, raw bytes (malformed JSON), one vector too few, a
 * vector of the wrong dimension, or a reply that waits longer than the
 * client's timeout. It records the path, Authorization header and body of
 * the last request, and stops when the test ends (or after 20 s at most).
 */
#define _GNU_SOURCE /* strcasestr */
#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "attention/attention.h"
#include "test_loopback.h"

#define DIM 4
#define KEY "sk-test-SECRET-1234"

typedef enum { R_GOOD, R_STATUS, R_RAW, R_WRONG_COUNT, R_WRONG_DIMS, R_SLEEP } rkind;

typedef struct canned {
    rkind kind;
    int status;
    const char *body;
} canned;

typedef struct server {
    loopback lb;
    canned script[8];
    int n_script;
    atomic_int requests;
    char path[256];
    char auth[256];
    char model[128];
    int last_inputs;
} server;

static server S;

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* {"data": [...]} for n inputs, reversed; vector i is (i+1, 1, 0, ...). */
static char *good_body(int n, int drop_one, int short_one)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *data = cJSON_AddArrayToObject(root, "data");
    for (int i = n - 1; i >= (drop_one ? 1 : 0); i--) {
        cJSON *it = cJSON_CreateObject();
        cJSON_AddStringToObject(it, "object", "embedding");
        cJSON_AddNumberToObject(it, "index", i);
        int d = short_one && i == 0 ? DIM - 1 : DIM;
        float v[DIM] = {0};
        v[0] = (float)(i + 1);
        v[1] = 1;
        cJSON_AddItemToObject(it, "embedding", cJSON_CreateFloatArray(v, d));
        cJSON_AddItemToArray(data, it);
    }
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}

static void handle(int c)
{
    char buf[1 << 16];
    char *body = loopback_read_request(c, buf, sizeof buf);
    if (!body)
        return;
    sscanf(buf, "POST %255s", S.path);
    S.auth[0] = 0;
    char *a = strcasestr(buf, "\r\nAuthorization: ");
    if (a && a < body)
        sscanf(a + 17, "%255[^\r]", S.auth);
    cJSON *req = cJSON_Parse(body);
    int n = cJSON_GetArraySize(cJSON_GetObjectItem(req, "input"));
    const cJSON *m = cJSON_GetObjectItem(req, "model");
    snprintf(S.model, sizeof S.model, "%s", cJSON_IsString(m) ? m->valuestring : "");
    cJSON_Delete(req);
    S.last_inputs = n;
    int r = atomic_fetch_add(&S.requests, 1);
    canned cd = S.script[r < S.n_script ? r : S.n_script - 1];
    char *out = NULL;
    switch (cd.kind) {
    case R_GOOD:
        loopback_respond(c, 200, out = good_body(n, 0, 0));
        break;
    case R_WRONG_COUNT:
        loopback_respond(c, 200, out = good_body(n, 1, 0));
        break;
    case R_WRONG_DIMS:
        loopback_respond(c, 200, out = good_body(n, 0, 1));
        break;
    case R_STATUS:
    case R_RAW:
        loopback_respond(c, cd.status ? cd.status : 200, cd.body ? cd.body : "");
        break;
    case R_SLEEP:
        for (int i = 0; i < 50 && !atomic_load(&S.lb.stop); i++)
            sleep_ms(20);
        loopback_respond(c, 200, out = good_body(n, 0, 0));
        break;
    }
    free(out);
}

static void start(const canned *script, int n)
{
    memset(&S, 0, sizeof S);
    memcpy(S.script, script, (size_t)n * sizeof *script);
    S.n_script = n;
    loopback_start(&S.lb, handle, 20);
}

static void stop(void)
{
    loopback_stop(&S.lb);
}

static encoder *open_with(const char *suffix, int dim, char *err, size_t errlen)
{
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", S.lb.port, suffix);
    http_embed_opts o;
    http_embed_opts_init(&o);
    o.url = url;
    o.api_key = KEY;
    o.model = "test-model";
    o.batch = 3;
    o.timeout_ms = 300;
    o.connect_timeout_ms = 300;
    o.max_retries = 2;
    o.backoff_ms = 5;
    o.dim = dim;
    return http_embed_open(&o, err, errlen);
}

/* Encoding 2 texts must fail with an error containing needle, not the key. */
static void expect_failure(const canned *script, int n, const char *needle)
{
    start(script, n);
    char err[512] = "";
    encoder *e = open_with("/v1", DIM, err, sizeof err);
    cr_assert(e, "%s", err);
    const char *texts[] = {"a", "b"};
    float out[2 * DIM];
    cr_assert_neq(e->vt->encode(e, texts, 2, out, err, sizeof err), 0, "bad reply accepted");
    e->vt->close(e);
    stop();
    cr_assert(strstr(err, needle), "error '%s' lacks '%s'", err, needle);
    cr_assert_null(strstr(err, KEY), "API key leaked into: %s", err);
    cr_assert_null(strchr(err, '\n'));
}

Test(http_embed, batches_orders_normalises_and_authenticates)
{
    canned good[] = {{R_GOOD, 0, NULL}};
    start(good, 1);
    char err[512] = "";
    encoder *e = open_with("/v1", 0, err, sizeof err);   /* dim learnt by a probe */
    cr_assert(e, "%s", err);
    cr_assert_eq(e->info.dim, DIM);
    const char *texts[7] = {"t0", "t1", "t2", "t3", "t4", "t5", "t6"};
    float out[7 * DIM];
    cr_assert_eq(e->vt->encode(e, texts, 7, out, err, sizeof err), 0, "%s", err);
    /* 1 probe + ceil(7 / 3) batches */
    cr_assert_eq(atomic_load(&S.requests), 4);
    cr_assert_eq(S.last_inputs, 1);
    cr_assert_str_eq(S.path, "/v1/embeddings");
    cr_assert_str_eq(S.auth, "Bearer " KEY);
    cr_assert_str_eq(S.model, "test-model");
    for (int b = 0; b < 7; b++) {
        int i = b % 3;          /* index within its batch */
        double norm = sqrt((i + 1.0) * (i + 1.0) + 1.0);
        cr_assert_float_eq(out[b * DIM + 0], (i + 1) / norm, 1e-6, "text %d", b);
        cr_assert_float_eq(out[b * DIM + 1], 1 / norm, 1e-6);
        cr_assert_float_eq(out[b * DIM + 2], 0, 1e-6);
    }
    e->vt->close(e);
    stop();
}

Test(http_embed, full_endpoint_url_is_kept)
{
    canned good[] = {{R_GOOD, 0, NULL}};
    start(good, 1);
    char err[512] = "";
    encoder *e = open_with("/v1/embeddings", DIM, err, sizeof err);
    cr_assert(e, "%s", err);
    const char *texts[] = {"x"};
    float out[DIM];
    cr_assert_eq(e->vt->encode(e, texts, 1, out, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(S.path, "/v1/embeddings");
    e->vt->close(e);
    stop();
}

Test(http_embed, retries_server_errors_then_succeeds)
{
    canned script[] = {{R_STATUS, 500, "{\"error\":{\"message\":\"busy\"}}"},
                       {R_STATUS, 503, "oops"}, {R_GOOD, 0, NULL}};
    start(script, 3);
    char err[512] = "";
    encoder *e = open_with("/v1", DIM, err, sizeof err);
    cr_assert(e, "%s", err);
    const char *texts[] = {"a", "b"};
    float out[2 * DIM];
    cr_assert_eq(e->vt->encode(e, texts, 2, out, err, sizeof err), 0, "%s", err);
    cr_assert_eq(atomic_load(&S.requests), 3);
    e->vt->close(e);
    stop();
}

Test(http_embed, client_error_is_not_retried)
{
    canned script[] = {{R_STATUS, 400, "{\"error\":{\"message\":\"unknown model\"}}"},
                       {R_GOOD, 0, NULL}};
    expect_failure(script, 2, "HTTP 400: unknown model");
    cr_assert_eq(atomic_load(&S.requests), 1);
}

Test(http_embed, rate_limit_retries_are_bounded)
{
    canned script[] = {{R_STATUS, 429, "{\"error\":\"slow down\"}"}};
    expect_failure(script, 1, "HTTP 429 after retries: slow down");
    cr_assert_eq(atomic_load(&S.requests), 3);   /* 1 + max_retries */
}

Test(http_embed, malformed_json)
{
    canned script[] = {{R_RAW, 200, "{\"data\": [ {\"embedding\": [1,2"}};
    expect_failure(script, 1, "malformed reply");
}

Test(http_embed, wrong_count)
{
    canned script[] = {{R_WRONG_COUNT, 0, NULL}};
    expect_failure(script, 1, "1 embeddings for 2 inputs");
}

/* A number JSON allows but a float cannot hold would become inf, then
 * NaN once normalised, and score every search NaN. */
Test(http_embed, numbers_past_float_range)
{
    canned script[] = {{R_RAW, 200, "{\"data\":[{\"index\":0,\"embedding\":[1e39,0,0,0]},"
                                    "{\"index\":1,\"embedding\":[1,0,0,0]}]}"}};
    expect_failure(script, 1, "embedding 0 holds a non-number");
}

Test(http_embed, wrong_dimension)
{
    canned script[] = {{R_WRONG_DIMS, 0, NULL}};
    expect_failure(script, 1, "dimension 3, expected 4");
}

Test(http_embed, timeout)
{
    canned script[] = {{R_SLEEP, 0, NULL}};
    expect_failure(script, 1, "timed out");
}

Test(http_embed, refused_connection_fails_at_open)
{
    canned good[] = {{R_GOOD, 0, NULL}};
    start(good, 1);
    int port = S.lb.port;
    stop();                  /* nothing listens on port any more */
    char url[128], err[512] = "";
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1", port);
    http_embed_opts o;
    http_embed_opts_init(&o);
    o.url = url;
    o.api_key = KEY;
    o.timeout_ms = 500;
    encoder *e = http_embed_open(&o, err, sizeof err);
    cr_assert_null(e);
    cr_assert(strstr(err, "127.0.0.1"), "%s", err);
    cr_assert_null(strstr(err, KEY), "%s", err);
}

Test(http_embed, rejects_non_http_urls)
{
    char err[256] = "";
    cr_assert_null(encoder_http_open("ftp://example.org", err, sizeof err));
    cr_assert(strstr(err, "http://"), "%s", err);
}

/* The URL is recorded in the collection and quoted in messages: a password
 * in it is refused, and never repeated. */
Test(http_embed, rejects_credentials_in_the_url)
{
    char err[512] = "";
    cr_assert_null(encoder_http_open("https://user:s3cret@example.org/v1", err, sizeof err));
    cr_assert(strstr(err, "LCTX_EMBED_API_KEY"), "%s", err);
    cr_assert_null(strstr(err, "s3cret"), "%s", err);
    /* an '@' in the path is not a credential */
    err[0] = 0;
    encoder *e = encoder_http_open("http://127.0.0.1:1/v1/@models", err, sizeof err);
    if (e)
        e->vt->close(e);
    cr_assert_null(strstr(err, "credentials"), "%s", err);
}

/* A setting that is not a number is an error, not the default in silence. */
Test(http_embed, bad_environment_settings_are_errors)
{
    const char *names[] = {"LCTX_EMBED_TIMEOUT_MS", "LCTX_EMBED_BATCH", "LCTX_EMBED_DIM"};
    const char *bad[] = {"abc", "0", "-1", "12x"};
    for (size_t n = 0; n < 3; n++)
        for (size_t b = 0; b < 4; b++) {
            char err[512] = "";
            setenv(names[n], bad[b], 1);
            cr_assert_null(encoder_http_open("http://127.0.0.1:1/v1", err, sizeof err));
            cr_assert(strstr(err, names[n]) && strstr(err, "not a whole number"), "%s=%s: %s",
                      names[n], bad[b], err);
            unsetenv(names[n]);
        }
}
