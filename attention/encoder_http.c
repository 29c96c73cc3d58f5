/*
 * encoder_http.c — embeddings from an OpenAI-compatible HTTP endpoint.
 *
 * "http:URL" lets a collection use any embedding server that speaks
 * POST /v1/embeddings {"model": M, "input": [texts]} and answers
 * {"data": [{"index": i, "embedding": [floats]}, ...]} — OpenAI itself,
 * vLLM, llama.cpp's server, text-embeddings-inference, Ollama, LiteLLM.
 *
 * Remote services fail in ways a local model does not, so the client is
 * defensive about each:
 *   - texts go in batches (64 by default) so one request stays bounded;
 *   - connect and whole-request timeouts, so a dead server cannot hang the
 *     indexer;
 *   - timeouts, 429 and 5xx are retried with exponential backoff, a bounded
 *     number of times; other 4xx (bad key, bad model) fail at once, since
 *     retrying cannot fix them;
 *   - the reply is checked: valid JSON, one vector per input, every index
 *     present once, every vector the same dimension as at open, all finite;
 *     data[] is placed by "index", not by position, as the API allows any
 *     order;
 *   - the API key ($LCTX_EMBED_API_KEY) goes only into the Authorization
 *     header: never into an error message, never logged (verbose off).
 * Vectors are L2-normalised like every other encoder's. The dimension is
 * learnt at open by embedding one probe text (unless the caller states it),
 * which also surfaces a wrong URL or key before indexing starts.
 *
 * Each call uses its own curl handle, so encode is thread-safe. libcurl
 * itself is opened with the encoder and closed with it (dynlib.c).
 */
#include "attention/attention.h"
#include "lctx.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define HTTP_MAX_REPLY (256u << 20)
#define HTTP_MAX_BACKOFF_MS 30000L

typedef struct http_embed {
    dyn_curl cu;             /* libcurl, opened for this encoder */
    http_embed_opts o;       /* strings below are owned copies */
    char *endpoint;
    char *model;
    char *auth;              /* "Authorization: Bearer KEY" or NULL */
} http_embed;

void http_embed_opts_init(http_embed_opts *o)
{
    memset(o, 0, sizeof *o);
    o->batch = 64;
    o->connect_timeout_ms = 10000;
    o->timeout_ms = 60000;
    o->max_retries = 4;
    o->backoff_ms = 500;
}

/* base ".../v1" or ".../v1/" -> ".../v1/embeddings"; a URL already ending
 * in "/embeddings" is kept; anything else gets "/v1/embeddings". */
static char *endpoint_of(const char *url)
{
    size_t n = strlen(url);
    while (n > 0 && url[n - 1] == '/')
        n--;
    const char *suffix = "/v1/embeddings";
    if (n >= 11 && memcmp(url + n - 11, "/embeddings", 11) == 0)
        suffix = "";
    else if (n >= 3 && memcmp(url + n - 3, "/v1", 3) == 0)
        suffix = "/embeddings";
    char *e = malloc(n + strlen(suffix) + 1);
    if (e) {
        memcpy(e, url, n);
        strcpy(e + n, suffix);
    }
    return e;
}

/* ------------------------------------------------------------ transport */

typedef struct reply {
    char *buf;
    size_t len, cap;
    int too_big;
} reply;

static size_t on_data(char *p, size_t size, size_t nmemb, void *ctx)
{
    reply *r = ctx;
    size_t n = size * nmemb;
    if (r->len + n + 1 > HTTP_MAX_REPLY) {
        r->too_big = 1;
        return 0;
    }
    if (r->len + n + 1 > r->cap) {
        size_t cap = r->cap ? r->cap : 16384;
        while (cap < r->len + n + 1)
            cap *= 2;
        char *b = realloc(r->buf, cap);
        if (!b)
            return 0;
        r->buf = b;
        r->cap = cap;
    }
    memcpy(r->buf + r->len, p, n);
    r->len += n;
    r->buf[r->len] = 0;
    return n;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* The server's own explanation, if its error body is OpenAI-shaped JSON,
 * else the start of the body; at most ~200 bytes, on one line. */
static void server_message(const reply *r, char *out, size_t outlen)
{
    out[0] = 0;
    if (!r->buf || outlen < 2)
        return;
    cJSON *j = cJSON_ParseWithLength(r->buf, r->len);
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "error"),
                                                      "message");
    if (!cJSON_IsString(m))
        m = cJSON_GetObjectItemCaseSensitive(j, "error");
    const char *src = cJSON_IsString(m) ? m->valuestring : r->buf;
    size_t k = 0;
    for (; src[k] && k < 200 && k + 1 < outlen; k++)
        out[k] = (src[k] == '\n' || src[k] == '\r') ? ' ' : src[k];
    out[k] = 0;
    cJSON_Delete(j);
}

/* POSTs body; on 200 leaves the reply in *r and returns 0. Otherwise -1 with
 * err set, after retrying what is worth retrying. */
static int post(const http_embed *h, const char *body, reply *r, char *err, size_t errlen)
{
    long delay = h->o.backoff_ms > 0 ? h->o.backoff_ms : 0;
    for (int attempt = 0;; attempt++) {
        CURL *c = h->cu.easy_init();
        if (!c) {
            attn_err(err, errlen, "http:%s: cannot create a curl handle", h->o.url);
            return -1;
        }
        struct curl_slist *hdr = h->cu.slist_append(NULL, "Content-Type: application/json");
        if (hdr && h->auth)
            hdr = h->cu.slist_append(hdr, h->auth);
        char cerr[CURL_ERROR_SIZE] = "";
        free(r->buf);
        memset(r, 0, sizeof *r);
        h->cu.easy_setopt(c, CURLOPT_URL, h->endpoint);
        h->cu.easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
        h->cu.easy_setopt(c, CURLOPT_POSTFIELDS, body);
        h->cu.easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
        h->cu.easy_setopt(c, CURLOPT_WRITEDATA, r);
        h->cu.easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, h->o.connect_timeout_ms);
        h->cu.easy_setopt(c, CURLOPT_TIMEOUT_MS, h->o.timeout_ms);
        h->cu.easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        h->cu.easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
        h->cu.easy_setopt(c, CURLOPT_USERAGENT, "lctx/" LCTX_VERSION_STRING);
        CURLcode cc = h->cu.easy_perform(c);
        long status = 0;
        h->cu.easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        h->cu.easy_cleanup(c);
        h->cu.slist_free_all(hdr);
        if (cc == CURLE_OK && status == 200)
            return 0;
        int timed_out = cc == CURLE_OPERATION_TIMEDOUT;
        int retry = timed_out || (cc == CURLE_OK && (status == 429 || status >= 500));
        if (!retry || attempt >= h->o.max_retries) {
            char msg[256];
            if (r->too_big)
                attn_err(err, errlen, "http:%s: reply larger than %u MB", h->o.url,
                         HTTP_MAX_REPLY >> 20);
            else if (timed_out)
                attn_err(err, errlen, "http:%s: timed out after %ld ms (%d attempts)",
                         h->endpoint, h->o.timeout_ms, attempt + 1);
            else if (cc != CURLE_OK)
                attn_err(err, errlen, "http:%s: %s", h->endpoint,
                         cerr[0] ? cerr : h->cu.easy_strerror(cc));
            else {
                server_message(r, msg, sizeof msg);
                attn_err(err, errlen, "http:%s: HTTP %ld%s%s%s", h->endpoint, status,
                         attempt ? " after retries" : "", msg[0] ? ": " : "", msg);
            }
            return -1;
        }
        sleep_ms(delay);
        delay = delay * 2 > HTTP_MAX_BACKOFF_MS ? HTTP_MAX_BACKOFF_MS : delay * 2;
    }
}

/* ---------------------------------------------------------------- reply */

/* Fills out[n x *dim] from the reply. *dim == 0 means "learn it". */
static int parse_reply(const http_embed *h, const reply *r, int n, int *dim, float *out,
                       char *err, size_t errlen)
{
    cJSON *j = cJSON_ParseWithLength(r->buf ? r->buf : "", r->len);
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(j, "data");
    uint8_t *seen = calloc((size_t)n, 1);
    int rc = -1;
    if (!seen) {
        attn_err(err, errlen, "http:%s: out of memory", h->o.url);
        goto out;
    }
    if (!cJSON_IsArray(data)) {
        attn_err(err, errlen, "http:%s: malformed reply (no data array)", h->endpoint);
        goto out;
    }
    if (cJSON_GetArraySize(data) != n) {
        attn_err(err, errlen, "http:%s: %d embeddings for %d inputs", h->endpoint,
                 cJSON_GetArraySize(data), n);
        goto out;
    }
    int pos = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, data) {
        const cJSON *idx = cJSON_GetObjectItemCaseSensitive(item, "index");
        const cJSON *emb = cJSON_GetObjectItemCaseSensitive(item, "embedding");
        double di = cJSON_IsNumber(idx) ? idx->valuedouble : pos;
        pos++;
        int i = di >= 0 && di < n ? (int)di : -1;     /* range first: no UB cast */
        if (i < 0 || seen[i] || di != i) {
            attn_err(err, errlen, "http:%s: bad or repeated index in reply", h->endpoint);
            goto out;
        }
        seen[i] = 1;
        if (!cJSON_IsArray(emb)) {
            attn_err(err, errlen, "http:%s: data[%d] has no embedding array (base64 replies "
                     "are not supported)", h->endpoint, pos - 1);
            goto out;
        }
        int d = cJSON_GetArraySize(emb);
        if (*dim == 0 && d > 0 && d <= 65536)
            *dim = d;
        if (d != *dim) {
            attn_err(err, errlen, "http:%s: embedding %d has dimension %d, expected %d",
                     h->endpoint, i, d, *dim);
            goto out;
        }
        if (!out)
            continue;
        int k = 0;
        const cJSON *x;
        cJSON_ArrayForEach(x, emb) {
            /* a double past float's range would become inf, then NaN */
            if (!cJSON_IsNumber(x) || !isfinite((float)x->valuedouble)) {
                attn_err(err, errlen, "http:%s: embedding %d holds a non-number", h->endpoint, i);
                goto out;
            }
            out[(size_t)i * d + k++] = (float)x->valuedouble;
        }
    }
    if (out)
        tensor_l2_normalize_rows(out, n, *dim);
    rc = 0;
out:
    free(seen);
    cJSON_Delete(j);
    return rc;
}

/* One request for texts[0..n). */
static int embed_batch(const http_embed *h, const char *const *texts, int n, int *dim,
                       float *out, char *err, size_t errlen)
{
    cJSON *req = cJSON_CreateObject();
    cJSON *input = cJSON_AddArrayToObject(req, "input");
    cJSON_AddStringToObject(req, "model", h->model);
    for (int i = 0; input && i < n; i++)
        cJSON_AddItemToArray(input, cJSON_CreateString(texts[i] ? texts[i] : ""));
    char *body = input ? cJSON_PrintUnformatted(req) : NULL;
    cJSON_Delete(req);
    if (!body) {
        attn_err(err, errlen, "http:%s: out of memory (or text not UTF-8)", h->o.url);
        return -1;
    }
    reply r = {0};
    int rc = post(h, body, &r, err, errlen);
    if (rc == 0)
        rc = parse_reply(h, &r, n, dim, out, err, errlen);
    free(body);
    free(r.buf);
    return rc;
}

/* ------------------------------------------------------- encoder backend */

static int http_encode(encoder *e, const char *const *texts, int n, float *out,
                       char *err, size_t errlen)
{
    const http_embed *h = e->impl;
    for (int i = 0; i < n; i += h->o.batch) {
        int k = n - i < h->o.batch ? n - i : h->o.batch;
        int dim = e->info.dim;
        if (embed_batch(h, texts + i, k, &dim, out + (size_t)i * e->info.dim, err, errlen))
            return -1;
    }
    return 0;
}

static void http_close(encoder *e)
{
    if (!e)
        return;
    http_embed *h = e->impl;
    if (h) {
        free(h->endpoint);
        free(h->model);
        free((char *)h->o.url);
        if (h->auth) {                    /* the key is a secret: wipe it */
            volatile char *p = h->auth;
            while (*p)
                *p++ = 0;
            free(h->auth);
        }
        if (h->cu.lib) {
            h->cu.global_cleanup();
            dyn_curl_close(&h->cu);
        }
        free(h);
    }
    free(e);
}

static const encoder_vtable http_vt = {http_encode, NULL, NULL, http_close};

encoder *http_embed_open(const http_embed_opts *opts, char *err, size_t errlen)
{
    if (!opts || !opts->url || !*opts->url) {
        attn_err(err, errlen, "http: no URL given (use http:https://host/v1)");
        return NULL;
    }
    /* user:password@host: the URL is recorded in the collection and named
     * in every message, so a secret does not belong in it. Checked before
     * any message quotes the URL. */
    const char *host = strstr(opts->url, "://");
    host = host ? host + 3 : opts->url;
    const char *at = strchr(host, '@'), *slash = strchr(host, '/');
    if (at && (!slash || at < slash)) {
        attn_err(err, errlen, "http: the URL holds credentials (user@host), which would be "
                 "recorded in the collection and shown in messages; give the key in "
                 "LCTX_EMBED_API_KEY");
        return NULL;
    }
    if (strncmp(opts->url, "http://", 7) != 0 && strncmp(opts->url, "https://", 8) != 0) {
        attn_err(err, errlen, "http:%s: URL must start with http:// or https://", opts->url);
        return NULL;
    }
    encoder *e = calloc(1, sizeof *e);
    http_embed *h = calloc(1, sizeof *h);
    if (!e || !h) {
        free(e);
        free(h);
        attn_err(err, errlen, "http:%s: out of memory", opts->url);
        return NULL;
    }
    char why[256];
    if (dyn_curl_open(&h->cu, why, sizeof why) ||
        h->cu.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        attn_err(err, errlen, "http:%s: %s", opts->url,
                 h->cu.lib ? "libcurl initialisation failed" : why);
        dyn_curl_close(&h->cu);
        free(e);
        free(h);
        return NULL;
    }
    e->impl = h;
    e->vt = &http_vt;
    h->o = *opts;
    h->o.url = strdup(opts->url);
    if (h->o.batch <= 0)
        h->o.batch = 64;
    if (h->o.max_retries < 0)
        h->o.max_retries = 0;
    const char *model = opts->model ? opts->model : getenv("LCTX_EMBED_MODEL");
    h->model = strdup(model && *model ? model : "text-embedding-3-small");
    h->endpoint = endpoint_of(opts->url);
    const char *key = opts->api_key ? opts->api_key : getenv("LCTX_EMBED_API_KEY");
    if (key && *key) {
        size_t n = strlen(key) + 32;
        if ((h->auth = malloc(n)))
            snprintf(h->auth, n, "Authorization: Bearer %s", key);
    }
    if (!h->o.url || !h->model || !h->endpoint || (key && *key && !h->auth)) {
        http_close(e);
        attn_err(err, errlen, "http:%s: out of memory", opts->url);
        return NULL;
    }
    snprintf(e->info.name, sizeof e->info.name, "http:%s", opts->url);
    e->info.max_tokens = 0;
    e->info.dim = opts->dim > 0 ? opts->dim : 0;
    if (e->info.dim == 0) {
        const char *probe[1] = {"lctx dimension probe"};
        int dim = 0;
        if (embed_batch(h, probe, 1, &dim, NULL, err, errlen)) {
            http_close(e);
            return NULL;
        }
        e->info.dim = dim;
    }
    return e;
}

/* The environment variable name as a positive number into *out when set;
 * -1 (err set) when it is set to anything else: a typo there would
 * otherwise leave the default in force without a word. */
static int env_positive(const char *name, long max, long *out, char *err, size_t errlen)
{
    const char *s = getenv(name);
    if (!s)
        return 0;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < 1 || v > max) {
        attn_err(err, errlen, "%s=%s: not a whole number from 1 to %ld", name, s, max);
        return -1;
    }
    *out = v;
    return 0;
}

encoder *encoder_http_open(const char *url, char *err, size_t errlen)
{
    http_embed_opts o;
    http_embed_opts_init(&o);
    o.url = url;
    long timeout = o.timeout_ms, batch = o.batch, dim = o.dim;
    if (env_positive("LCTX_EMBED_TIMEOUT_MS", 3600000L, &timeout, err, errlen) ||
        env_positive("LCTX_EMBED_BATCH", 4096, &batch, err, errlen) ||
        env_positive("LCTX_EMBED_DIM", 65536, &dim, err, errlen))
        return NULL;
    o.timeout_ms = timeout;
    o.batch = (int)batch;
    o.dim = (int)dim;
    return http_embed_open(&o, err, errlen);
}
