/*
 * test_dynlib.c — libcurl, libcrypto and OpenBLAS opened on demand
 * (attention/dynlib.c).
 *
 * Checks that the tables bind every entry point and that the entry points
 * work (curl's error strings, a SHA-256 through the streamed interface, a
 * product through the bound sgemm and sgemv); that a missing library and a
 * library without the symbols each fail with a message naming what is
 * missing; and that the programs do not link the three libraries, which is
 * the point: `readelf -d` on the built commands must not list them among
 * the libraries loaded at start-up. This test binary links none of them
 * either, so OpenBLAS comes through dlopen here, as in the commands.
 */
#include "test_cli_harness.h"

#include <cblas.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attention/attention.h"

Test(dynlib, curl_binds_every_entry_point)
{
    dyn_curl c;
    char err[256] = "";
    cr_assert_eq(dyn_curl_open(&c, err, sizeof err), 0, "%s", err);
    cr_assert_not_null(c.lib);
    void (*const fns[])(void) = {
        (void (*)(void))c.global_init, (void (*)(void))c.global_cleanup,
        (void (*)(void))c.easy_init, (void (*)(void))c.easy_setopt,
        (void (*)(void))c.easy_perform, (void (*)(void))c.easy_getinfo,
        (void (*)(void))c.easy_cleanup, (void (*)(void))c.easy_strerror,
        (void (*)(void))c.slist_append, (void (*)(void))c.slist_free_all};
    for (size_t i = 0; i < sizeof fns / sizeof *fns; i++)
        cr_assert_not_null(fns[i], "entry point %zu unbound", i);
    cr_assert_str_eq(c.easy_strerror(CURLE_OK), "No error");
    struct curl_slist *l = c.slist_append(NULL, "X-Test: 1");
    cr_assert_not_null(l);
    cr_assert_str_eq(l->data, "X-Test: 1");
    c.slist_free_all(l);
    dyn_curl_close(&c);
    cr_assert_null(c.lib);
}

Test(dynlib, crypto_streams_a_sha256)
{
    dyn_crypto c;
    char err[256] = "";
    cr_assert_eq(dyn_crypto_open(&c, err, sizeof err), 0, "%s", err);
    EVP_MD_CTX *x = c.ctx_new();
    cr_assert_not_null(x);
    cr_assert(c.init_ex(x, c.sha256(), NULL));
    cr_assert(c.update(x, "ab", 2));
    cr_assert(c.update(x, "c", 1));
    unsigned char d[32];
    unsigned int n = 0;
    cr_assert(c.final_ex(x, d, &n));
    c.ctx_free(x);
    dyn_crypto_close(&c);
    cr_assert_eq(n, 32);
    char hex[65];
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
    /* FIPS 180-2, "abc" */
    cr_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

Test(dynlib, blas_is_bound_on_first_use)
{
    char err[256] = "";
    cr_assert_eq(blas_ready(err, sizeof err), 0, "%s", err);
    /* [1 2; 3 4] [5 6; 7 8] = [19 22; 43 50]; with B transposed, [17 23; 39 53] */
    const float a[4] = {1, 2, 3, 4}, b[4] = {5, 6, 7, 8};
    float c[4] = {1, 1, 1, 1};
    blas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 2, 2, 2, 1.0f, a, 2, b, 2, 0.0f, c, 2);
    cr_assert(c[0] == 19 && c[1] == 22 && c[2] == 43 && c[3] == 50);
    blas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, 2, 2, 2, 1.0f, a, 2, b, 2, 0.0f, c, 2);
    cr_assert(c[0] == 17 && c[1] == 23 && c[2] == 39 && c[3] == 53);
    float y[2] = {0, 0};
    const float x[2] = {1, -1};
    blas_sgemv(CblasRowMajor, CblasNoTrans, 2, 2, 2.0f, a, 2, x, 1, 0.0f, y, 1);
    cr_assert(y[0] == -2 && y[1] == -2);
    int before = blas_get_threads();
    blas_set_threads(1);
    cr_assert_eq(blas_get_threads(), 1);
    blas_set_threads(before);
    cr_assert_eq(blas_get_threads(), before);
}

Test(dynlib, a_missing_library_is_named)
{
    dyn_curl c;
    dyn_crypto k;
    char err[256] = "";
    cr_assert_eq(dyn_curl_open_from(&c, "libcurl-lctx-test-missing.so.4", err, sizeof err), -1);
    cr_assert_null(c.lib);
    cr_assert(strstr(err, "libcurl-lctx-test-missing.so.4"), "%s", err);
    cr_assert(strstr(err, "libcurl4"), "the package to install: %s", err);
    err[0] = 0;
    cr_assert_eq(dyn_crypto_open_from(&k, "libcrypto-lctx-test-missing.so.3", err, sizeof err),
                 -1);
    cr_assert_null(k.lib);
    cr_assert(strstr(err, "libcrypto-lctx-test-missing.so.3"), "%s", err);
}

Test(dynlib, a_library_without_the_symbols_is_refused)
{
    /* libm is always there and has none of curl's or OpenSSL's names. */
    dyn_curl c;
    dyn_crypto k;
    char err[256] = "";
    cr_assert_eq(dyn_curl_open_from(&c, "libm.so.6", err, sizeof err), -1);
    cr_assert_null(c.lib);
    cr_assert(strstr(err, "no symbol curl_global_init"), "%s", err);
    err[0] = 0;
    cr_assert_eq(dyn_crypto_open_from(&k, "libm.so.6", err, sizeof err), -1);
    cr_assert_null(k.lib);
    cr_assert(strstr(err, "no symbol EVP_sha256"), "%s", err);
}

/* The NEEDED entries of a built program, one per line, from readelf. */
static char *needed_of(const char *path)
{
    char cmd[640];
    snprintf(cmd, sizeof cmd, "readelf -d '%s' 2>&1 | grep NEEDED", path);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    size_t cap = (size_t)1 << 14;
    char *buf = malloc(cap);
    cr_assert_not_null(buf);
    size_t n = fread(buf, 1, cap - 1, p);
    buf[n] = 0;
    cr_assert_eq(pclose(p), 0, "readelf on %s failed: %s", path, buf);
    return buf;
}

Test(dynlib, the_programs_do_not_load_curl_crypto_or_openblas_at_start)
{
    const char *names[] = {"lctx-index", "lctx-search"};
    for (size_t i = 0; i < 2; i++) {
        const char *path = program(names[i]);
        char *needed = needed_of(path);
        cr_assert(strstr(needed, "libsqlite3"), "%s: NEEDED not read: %s", path, needed);
        cr_assert_null(strstr(needed, "libcurl"), "%s links libcurl:\n%s", path, needed);
        cr_assert_null(strstr(needed, "libcrypto"), "%s links libcrypto:\n%s", path, needed);
        cr_assert_null(strstr(needed, "libopenblas"), "%s links OpenBLAS:\n%s", path, needed);
        free(needed);
    }
}
