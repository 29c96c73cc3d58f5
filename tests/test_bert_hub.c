/*
 * test_bert_hub.c — Hugging Face hub download (hub_fetch) and its SHA-256.
 *
 * SHA-256 is checked against FIPS 180-4's published vectors. Downloads go to
 * a loopback HTTP server started by the test (LCTX_HF_ENDPOINT points at
 * it) that serves tests/data/bert/cross as if it were a hub repository:
 * 404 for files it lacks, Range requests answered with 206, and an
 * X-Linked-Etag carrying the SHA-256 of model.safetensors (or a wrong one,
 * to see the mismatch refused). The "no internet" case points the endpoint
 * at a closed port. Expected digests come from sha256sum, not from the code
 * under test.
 */
#define _GNU_SOURCE /* strcasestr */
#include <criterion/criterion.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "attention/attention.h"
#include "test_loopback.h"

#define SRC "tests/data/bert/cross/"
#define MODEL_SHA "f75b9a0d4ddb037adcf3823d50e15d7b9411c00d51eba2b3f499008343bb2dae"
#define CONFIG_SHA "960c521c70e0e4b6c7817efcedb3a097622b78be1f6f77b33aa5aae985006883"

static void hex(const uint8_t d[32], char out[65])
{
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

Test(bert_hub, sha256_standard_vectors)
{
    uint8_t d[32];
    char h[65], err[256];
    cr_assert_eq(hub_sha256("", 0, d, err, sizeof err), 0, "%s", err);
    hex(d, h);
    cr_assert_str_eq(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    cr_assert_eq(hub_sha256("abc", 3, d, err, sizeof err), 0, "%s", err);
    hex(d, h);
    cr_assert_str_eq(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    cr_assert_eq(hub_sha256(two, strlen(two), d, err, sizeof err), 0, "%s", err);
    hex(d, h);
    cr_assert_str_eq(h, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    char *million = malloc(1000000);
    memset(million, 'a', 1000000);
    cr_assert_eq(hub_sha256(million, 1000000, d, err, sizeof err), 0, "%s", err);
    free(million);
    hex(d, h);
    cr_assert_str_eq(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    cr_assert_eq(hub_sha256_file(SRC "model.safetensors", h, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(h, MODEL_SHA);
}

/* ------------------------------------------------------- loopback "hub" */

typedef struct hub_server {
    loopback lb;
    atomic_int requests;
    long last_range;          /* -1: none */
    const char *etag;         /* sent with model.safetensors */
    char dir[256];
} hub_server;

static hub_server H;

static void handle(int c)
{
    char req[8192];
    size_t len = 0;
    struct pollfd p = {c, POLLIN, 0};
    while (len < sizeof req - 1 && poll(&p, 1, 2000) > 0) {
        ssize_t k = recv(c, req + len, sizeof req - 1 - len, 0);
        if (k <= 0)
            break;
        len += (size_t)k;
        req[len] = 0;
        if (strstr(req, "\r\n\r\n"))
            break;
    }
    char path[1024] = "";
    if (sscanf(req, "GET %1023s", path) != 1)
        return;
    atomic_fetch_add(&H.requests, 1);
    const char *f = strstr(path, "/resolve/main/");
    char file[1400];
    snprintf(file, sizeof file, "%s/%s", H.dir, f ? f + 14 : "none");
    FILE *in = fopen(file, "rb");
    if (!in) {
        const char *r = "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nConnection: close\r\n\r\nnot found";
        loopback_send_all(c, r, strlen(r));
        return;
    }
    fseek(in, 0, SEEK_END);
    long size = ftell(in);
    long from = 0;
    char *range = strcasestr(req, "\r\nRange: bytes=");
    H.last_range = -1;
    if (range) {
        from = atol(range + 15);
        H.last_range = from;
    }
    fseek(in, from, SEEK_SET);
    char head[512];
    int k;
    char etag[128] = "";
    if (H.etag && strstr(file, "model.safetensors"))
        snprintf(etag, sizeof etag, "X-Linked-Etag: \"%s\"\r\n", H.etag);
    if (range)
        k = snprintf(head, sizeof head, "HTTP/1.1 206 Partial Content\r\nContent-Length: %ld\r\n"
                     "Content-Range: bytes %ld-%ld/%ld\r\n%sConnection: close\r\n\r\n",
                     size - from, from, size - 1, size, etag);
    else
        k = snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Length: %ld\r\n%s"
                     "Connection: close\r\n\r\n", size, etag);
    loopback_send_all(c, head, (size_t)k);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        loopback_send_all(c, buf, n);
    fclose(in);
}

static char dest[64];

static void start_hub(const char *dir, const char *etag)
{
    memset(&H, 0, sizeof H);
    snprintf(H.dir, sizeof H.dir, "%s", dir);
    H.etag = etag;
    loopback_start(&H.lb, handle, 20);
    char ep[64];
    snprintf(ep, sizeof ep, "http://127.0.0.1:%d", H.lb.port);
    setenv("LCTX_HF_ENDPOINT", ep, 1);
    strcpy(dest, "/tmp/lctx-hub-XXXXXX");
    cr_assert(mkdtemp(dest));
}

static void stop_hub(void)
{
    loopback_stop(&H.lb);
    const char *files[] = {"config.json", "vocab.txt", "model.safetensors", "manifest.sha256",
                           "model.safetensors.part", "1_Pooling"};
    char p[256];
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        snprintf(p, sizeof p, "%s/%s", dest, files[i]);
        unlink(p);
        rmdir(p);
    }
    rmdir(dest);
}

static uint64_t last_done, last_total;
static void progress(void *ctx, uint64_t done, uint64_t total)
{
    (void)ctx;
    last_done = done;
    last_total = total;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    cr_assert(f, "%s", path);
    static char buf[4096];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

Test(bert_hub, fetches_resumes_and_records_sha256)
{
    start_hub("tests/data/bert/cross", MODEL_SHA);
    /* A partial earlier download: the first 100000 bytes. */
    char part[128];
    snprintf(part, sizeof part, "%s/model.safetensors.part", dest);
    FILE *src = fopen(SRC "model.safetensors", "rb"), *dst = fopen(part, "wb");
    static char buf[100000];
    cr_assert_eq(fread(buf, 1, sizeof buf, src), sizeof buf);
    fwrite(buf, 1, sizeof buf, dst);
    fclose(src);
    fclose(dst);
    char err[512] = "";
    int rc = hub_fetch("test-org/tiny-cross", dest, progress, NULL, err, sizeof err);
    long range = H.last_range;
    cr_assert_eq(rc, 0, "%s", err);
    cr_assert_eq(range, 100000, "model.safetensors was not resumed");
    struct stat sb;
    cr_assert_eq(stat(SRC "model.safetensors", &sb), 0);
    cr_assert_eq(last_done, (uint64_t)sb.st_size);
    cr_assert_eq(last_total, (uint64_t)sb.st_size);
    char p[128], h[65];
    snprintf(p, sizeof p, "%s/model.safetensors", dest);
    cr_assert_eq(hub_sha256_file(p, h, err, sizeof err), 0);
    cr_assert_str_eq(h, MODEL_SHA);
    snprintf(p, sizeof p, "%s/manifest.sha256", dest);
    const char *m = slurp(p);
    cr_assert(strstr(m, MODEL_SHA "  model.safetensors\n"), "%s", m);
    cr_assert(strstr(m, CONFIG_SHA "  config.json\n"), "%s", m);
    cr_assert_null(strstr(m, "tokenizer.json"), "a 404 file was recorded: %s", m);
    /* The fetched directory is a working model. */
    encoder *e = encoder_bert_open(dest, err, sizeof err);
    cr_assert(e, "%s", err);
    e->vt->close(e);
    stop_hub();
}

Test(bert_hub, checksum_mismatch_is_refused)
{
    start_hub("tests/data/bert/cross",
              "0000000000000000000000000000000000000000000000000000000000000000");
    char err[512] = "";
    int rc = hub_fetch("test-org/tiny-cross", dest, NULL, NULL, err, sizeof err);
    stop_hub();
    cr_assert_neq(rc, 0);
    cr_assert(strstr(err, "model.safetensors: SHA-256"), "%s", err);
}

Test(bert_hub, missing_model_is_a_clear_error)
{
    start_hub("tests/data/bert/nonexistent", NULL);
    char err[512] = "";
    int rc = hub_fetch("test-org/missing", dest, NULL, NULL, err, sizeof err);
    stop_hub();
    cr_assert_neq(rc, 0);
    cr_assert(strstr(err, "hf:test-org/missing/config.json: not found"), "%s", err);
}

Test(bert_hub, no_internet_is_a_clear_error)
{
    /* Bind then close a port so nothing listens on it. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    socklen_t sl = sizeof sa;
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    close(fd);
    char ep[64];
    snprintf(ep, sizeof ep, "http://127.0.0.1:%d", ntohs(sa.sin_port));
    setenv("LCTX_HF_ENDPOINT", ep, 1);
    char d[] = "/tmp/lctx-hub-XXXXXX", err[512] = "";
    cr_assert(mkdtemp(d));
    int rc = hub_fetch("org/name", d, NULL, NULL, err, sizeof err);
    char p[64];
    snprintf(p, sizeof p, "%s/config.json.part", d);
    unlink(p);
    snprintf(p, sizeof p, "%s/1_Pooling", d);
    rmdir(p);
    rmdir(d);
    cr_assert_neq(rc, 0);
    cr_assert(strstr(err, "cannot reach"), "%s", err);
    cr_assert(strstr(err, "no internet connection"), "%s", err);
}

Test(bert_hub, rejects_bad_names)
{
    char err[256] = "";
    cr_assert_neq(hub_fetch("no-slash", "/tmp/x", NULL, NULL, err, sizeof err), 0);
    cr_assert(strstr(err, "expected hf:ORG/NAME"), "%s", err);
    cr_assert_neq(hub_fetch("../etc/passwd", "/tmp/x", NULL, NULL, err, sizeof err), 0);
    cr_assert_neq(hub_fetch("a/b/c", "/tmp/x", NULL, NULL, err, sizeof err), 0);
}
