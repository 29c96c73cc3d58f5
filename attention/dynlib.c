/*
 * dynlib.c — libraries opened when something first needs them: libcurl,
 * libcrypto and OpenBLAS here, ICU for the tokenizer (indexer/tok_sea.c,
 * through dyn_open).
 *
 * libcurl serves the HTTP embedder and the Hugging Face download, libcrypto
 * SHA-256 of downloaded model files, OpenBLAS the encoders and exact vector
 * search. A BM25 collection needs none of them, yet linked they were loaded
 * by every process that links lctx, and libcurl brings thirty more
 * libraries with it (GnuTLS, Kerberos, LDAP, SSH, RTMP, ...) while
 * OpenBLAS starts its thread pool at load. Resolving and faulting them in
 * made start-up most of a one-shot BM25 query on the development VM
 * (`perf stat -r 30`, docs/ARCHITECTURE.md has the figures). So the
 * library is linked without them.
 *
 * libcurl and libcrypto: an object that needs one opens it with dlopen, by
 * its soname (the ABI the headers we compiled with describe), and closes it
 * when it is done. The dynamic loader counts opens, so a second open is
 * cheap, and each user holds its own table of entry points.
 *
 * OpenBLAS is called from kernels that carry no handle a table could live
 * in, so its entry points are bound once per process (blas_ready and the
 * blas_* calls): those of the program itself when it links OpenBLAS or
 * defines all four (weak references: a benchmark that interposes
 * cblas_sgemm keeps doing so), else OpenBLAS's, opened here. That table is the one process-wide object in
 * lctx: written once under pthread_once and never again, it is what the
 * dynamic linker used to bind at load, bound later. The code paths that
 * reach BLAS check blas_ready at their entry (opening an encoder, exact
 * search) and fail there with a message when OpenBLAS is missing.
 *
 * Once loaded, a library stays mapped (RTLD_NODELETE, below). The packages
 * are still dependencies (their headers); on a system without one, only
 * the features that need it fail, with a message that names the library
 * and the package, instead of every program failing to start.
 */
#include "attention/attention.h"

#include <cblas.h>
#include <dlfcn.h>
#include <openssl/opensslv.h>
#include <pthread.h>
#include <stddef.h>
#include <string.h>

/* libcurl's soname has been 4 since 2006 (7.16), through curl 8. */
#define CURL_SONAME "libcurl.so.4"
/* OpenSSL 3 numbers its soname by major version; 1.1 by major.minor. */
#define DYN_STR(x) #x
#define DYN_XSTR(x) DYN_STR(x)
#if defined(OPENSSL_VERSION_MAJOR) && OPENSSL_VERSION_MAJOR >= 3
#define CRYPTO_SONAME "libcrypto.so." DYN_XSTR(OPENSSL_VERSION_MAJOR)
#else
#define CRYPTO_SONAME "libcrypto.so.1.1"
#endif
/* Debian's alternatives name, as a linked program's NEEDED entry was. */
#define OPENBLAS_SONAME "libopenblas.so.0"

static const dyn_sym curl_syms[] = {
    {"curl_global_init", offsetof(dyn_curl, global_init)},
    {"curl_global_cleanup", offsetof(dyn_curl, global_cleanup)},
    {"curl_easy_init", offsetof(dyn_curl, easy_init)},
    {"curl_easy_setopt", offsetof(dyn_curl, easy_setopt)},
    {"curl_easy_perform", offsetof(dyn_curl, easy_perform)},
    {"curl_easy_getinfo", offsetof(dyn_curl, easy_getinfo)},
    {"curl_easy_cleanup", offsetof(dyn_curl, easy_cleanup)},
    {"curl_easy_strerror", offsetof(dyn_curl, easy_strerror)},
    {"curl_slist_append", offsetof(dyn_curl, slist_append)},
    {"curl_slist_free_all", offsetof(dyn_curl, slist_free_all)},
};

static const dyn_sym crypto_syms[] = {
    {"EVP_sha256", offsetof(dyn_crypto, sha256)},
    {"EVP_Digest", offsetof(dyn_crypto, digest)},
    {"EVP_MD_CTX_new", offsetof(dyn_crypto, ctx_new)},
    {"EVP_MD_CTX_free", offsetof(dyn_crypto, ctx_free)},
    {"EVP_DigestInit_ex", offsetof(dyn_crypto, init_ex)},
    {"EVP_DigestUpdate", offsetof(dyn_crypto, update)},
    {"EVP_DigestFinal_ex", offsetof(dyn_crypto, final_ex)},
};

/* The program's own, if it links OpenBLAS or defines them: NULL otherwise. */
#pragma weak cblas_sgemm
#pragma weak cblas_sgemv
#pragma weak openblas_set_num_threads
#pragma weak openblas_get_num_threads

/* OpenBLAS's entry points, typed as cblas.h declares them; the handle
 * comes first, as dyn_open wants. */
typedef struct dyn_blas {
    void *lib;
    void (*sgemm)(OPENBLAS_CONST enum CBLAS_ORDER, OPENBLAS_CONST enum CBLAS_TRANSPOSE,
                  OPENBLAS_CONST enum CBLAS_TRANSPOSE, OPENBLAS_CONST blasint,
                  OPENBLAS_CONST blasint, OPENBLAS_CONST blasint, OPENBLAS_CONST float,
                  OPENBLAS_CONST float *, OPENBLAS_CONST blasint, OPENBLAS_CONST float *,
                  OPENBLAS_CONST blasint, OPENBLAS_CONST float, float *, OPENBLAS_CONST blasint);
    void (*sgemv)(OPENBLAS_CONST enum CBLAS_ORDER, OPENBLAS_CONST enum CBLAS_TRANSPOSE,
                  OPENBLAS_CONST blasint, OPENBLAS_CONST blasint, OPENBLAS_CONST float,
                  OPENBLAS_CONST float *, OPENBLAS_CONST blasint, OPENBLAS_CONST float *,
                  OPENBLAS_CONST blasint, OPENBLAS_CONST float, float *, OPENBLAS_CONST blasint);
    void (*set_num_threads)(int);
    int (*get_num_threads)(void);
} dyn_blas;

static const dyn_sym blas_syms[] = {
    {"cblas_sgemm", offsetof(dyn_blas, sgemm)},
    {"cblas_sgemv", offsetof(dyn_blas, sgemv)},
    {"openblas_set_num_threads", offsetof(dyn_blas, set_num_threads)},
    {"openblas_get_num_threads", offsetof(dyn_blas, get_num_threads)},
};

/* POSIX guarantees a function's address survives the trip through void *. */
int dyn_open(void *api, size_t size, const char *soname, const char *package,
             const dyn_sym *syms, size_t n, char *err, size_t errlen)
{
    memset(api, 0, size);
    /* RTLD_NODELETE: the last close leaves the library mapped. libcurl and
     * the TLS, Kerberos and LDAP libraries it brings register thread and
     * exit handlers of their own; unmapped under them, a thread exiting
     * later, or the process at exit, would call into nothing. */
    void *lib = dlopen(soname, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    if (!lib) {
        const char *why = dlerror();
        attn_err(err, errlen, "%s (install Debian's %s)", why ? why : soname, package);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        void *p = dlsym(lib, syms[i].name);
        if (!p) {
            attn_err(err, errlen, "%s: no symbol %s", soname, syms[i].name);
            dlclose(lib);
            memset(api, 0, size);
            return -1;
        }
        memcpy((char *)api + syms[i].at, &p, sizeof p);
    }
    memcpy(api, &lib, sizeof lib);
    return 0;
}

void dyn_close(void *api, size_t size)
{
    void *lib;
    memcpy(&lib, api, sizeof lib);
    if (lib)
        dlclose(lib);
    memset(api, 0, size);
}

int dyn_curl_open_from(dyn_curl *c, const char *soname, char *err, size_t errlen)
{
    return dyn_open(c, sizeof *c, soname, "libcurl4", curl_syms,
                    sizeof curl_syms / sizeof *curl_syms, err, errlen);
}

int dyn_curl_open(dyn_curl *c, char *err, size_t errlen)
{
    return dyn_curl_open_from(c, CURL_SONAME, err, errlen);
}

void dyn_curl_close(dyn_curl *c)
{
    if (c)
        dyn_close(c, sizeof *c);
}

int dyn_crypto_open_from(dyn_crypto *c, const char *soname, char *err, size_t errlen)
{
    return dyn_open(c, sizeof *c, soname, "libssl3", crypto_syms,
                    sizeof crypto_syms / sizeof *crypto_syms, err, errlen);
}

int dyn_crypto_open(dyn_crypto *c, char *err, size_t errlen)
{
    return dyn_crypto_open_from(c, CRYPTO_SONAME, err, errlen);
}

void dyn_crypto_close(dyn_crypto *c)
{
    if (c)
        dyn_close(c, sizeof *c);
}

/* -------------------------------------------------------------- OpenBLAS */

/* Written once, under blas_once (see the top of the file). */
static pthread_once_t blas_once = PTHREAD_ONCE_INIT;
static dyn_blas blas_bound;
static char blas_why[256];

static void blas_bind(void)
{
    if (cblas_sgemm && cblas_sgemv && openblas_set_num_threads && openblas_get_num_threads) {
        blas_bound.sgemm = cblas_sgemm;
        blas_bound.sgemv = cblas_sgemv;
        blas_bound.set_num_threads = openblas_set_num_threads;
        blas_bound.get_num_threads = openblas_get_num_threads;
        return;
    }
    /* On failure dyn_open leaves the table zeroed: blas_ready reports why. */
    dyn_open(&blas_bound, sizeof blas_bound, OPENBLAS_SONAME, "libopenblas0-pthread", blas_syms,
             sizeof blas_syms / sizeof *blas_syms, blas_why, sizeof blas_why);
}

static const dyn_blas *blas_table(void)
{
    pthread_once(&blas_once, blas_bind);
    return &blas_bound;
}

int blas_ready(char *err, size_t errlen)
{
    if (blas_table()->sgemm)
        return 0;
    attn_err(err, errlen, "%s", blas_why);
    return -1;
}

void blas_sgemm(int order, int trans_a, int trans_b, int m, int n, int k, float alpha,
                const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc)
{
    blas_table()->sgemm((enum CBLAS_ORDER)order, (enum CBLAS_TRANSPOSE)trans_a,
                        (enum CBLAS_TRANSPOSE)trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c,
                        ldc);
}

void blas_sgemv(int order, int trans, int m, int n, float alpha, const float *a, int lda,
                const float *x, int incx, float beta, float *y, int incy)
{
    blas_table()->sgemv((enum CBLAS_ORDER)order, (enum CBLAS_TRANSPOSE)trans, m, n, alpha, a,
                        lda, x, incx, beta, y, incy);
}

/* These two also serve code that never multiplied (a setting saved and
 * restored around embedding), so they do nothing without OpenBLAS. */
void blas_set_threads(int n)
{
    const dyn_blas *b = blas_table();
    if (b->set_num_threads)
        b->set_num_threads(n);
}

int blas_get_threads(void)
{
    const dyn_blas *b = blas_table();
    return b->get_num_threads ? b->get_num_threads() : 1;
}
