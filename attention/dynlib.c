/*
 * dynlib.c — libcurl and libcrypto, loaded when something first needs them.
 *
 * Only two features use them: the HTTP embedder and the Hugging Face
 * download (libcurl), and SHA-256 of downloaded model files (libcrypto).
 * Linked in, they were loaded by every process that links lctx, and
 * libcurl brings thirty more libraries with it (GnuTLS, Kerberos, LDAP,
 * SSH, RTMP, ...). Resolving and faulting in those made start-up most of
 * a one-shot BM25 query on the development VM: `lctx-search --version`
 * took 21.6 ms and a query 27.6, against 10.6 and 14.9 without them
 * (`perf stat -r 30`, docs/ARCHITECTURE.md). So
 * the library is linked without them, and an object that needs one opens
 * it here with dlopen, by its soname (the ABI the headers we compiled with
 * describe), and closes it when it is done. The dynamic loader counts
 * opens, so a second open is cheap and nothing here is global: each user
 * holds its own table of entry points.
 *
 * The packages are still dependencies (Debian's libcurl4-openssl-dev and
 * libssl-dev provide the headers, and pull in the libraries); on a system
 * without them only the features that need them fail, with a message that
 * names the library, instead of every program failing to start.
 */
#include "attention/attention.h"

#include <dlfcn.h>
#include <openssl/opensslv.h>
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

/* Opens soname; NULL with err set (naming the package to install). */
static void *open_lib(const char *soname, const char *package, char *err, size_t errlen)
{
    void *lib = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        const char *why = dlerror();
        attn_err(err, errlen, "%s (install Debian's %s)", why ? why : soname, package);
    }
    return lib;
}

/* Points *slot at lib's symbol name; -1 with err set when it is missing.
 * POSIX guarantees a function's address survives the trip through void *. */
static int bind_sym(void *lib, const char *soname, const char *name, void *slot, char *err,
                    size_t errlen)
{
    void *p = dlsym(lib, name);
    if (!p) {
        attn_err(err, errlen, "%s: no symbol %s", soname, name);
        return -1;
    }
    memcpy(slot, &p, sizeof p);
    return 0;
}

#define BIND(lib, soname, api, field, name) \
    bind_sym(lib, soname, name, &(api)->field, err, errlen)

int dyn_curl_open_from(dyn_curl *c, const char *soname, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    void *lib = open_lib(soname, "libcurl4", err, errlen);
    if (!lib)
        return -1;
    if (BIND(lib, soname, c, global_init, "curl_global_init") ||
        BIND(lib, soname, c, global_cleanup, "curl_global_cleanup") ||
        BIND(lib, soname, c, easy_init, "curl_easy_init") ||
        BIND(lib, soname, c, easy_setopt, "curl_easy_setopt") ||
        BIND(lib, soname, c, easy_perform, "curl_easy_perform") ||
        BIND(lib, soname, c, easy_getinfo, "curl_easy_getinfo") ||
        BIND(lib, soname, c, easy_cleanup, "curl_easy_cleanup") ||
        BIND(lib, soname, c, easy_strerror, "curl_easy_strerror") ||
        BIND(lib, soname, c, slist_append, "curl_slist_append") ||
        BIND(lib, soname, c, slist_free_all, "curl_slist_free_all")) {
        dlclose(lib);
        memset(c, 0, sizeof *c);
        return -1;
    }
    c->lib = lib;
    return 0;
}

int dyn_curl_open(dyn_curl *c, char *err, size_t errlen)
{
    return dyn_curl_open_from(c, CURL_SONAME, err, errlen);
}

void dyn_curl_close(dyn_curl *c)
{
    if (c && c->lib)
        dlclose(c->lib);
    if (c)
        memset(c, 0, sizeof *c);
}

int dyn_crypto_open_from(dyn_crypto *c, const char *soname, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    void *lib = open_lib(soname, "libssl3", err, errlen);
    if (!lib)
        return -1;
    if (BIND(lib, soname, c, sha256, "EVP_sha256") ||
        BIND(lib, soname, c, digest, "EVP_Digest") ||
        BIND(lib, soname, c, ctx_new, "EVP_MD_CTX_new") ||
        BIND(lib, soname, c, ctx_free, "EVP_MD_CTX_free") ||
        BIND(lib, soname, c, init_ex, "EVP_DigestInit_ex") ||
        BIND(lib, soname, c, update, "EVP_DigestUpdate") ||
        BIND(lib, soname, c, final_ex, "EVP_DigestFinal_ex")) {
        dlclose(lib);
        memset(c, 0, sizeof *c);
        return -1;
    }
    c->lib = lib;
    return 0;
}

int dyn_crypto_open(dyn_crypto *c, char *err, size_t errlen)
{
    return dyn_crypto_open_from(c, CRYPTO_SONAME, err, errlen);
}

void dyn_crypto_close(dyn_crypto *c)
{
    if (c && c->lib)
        dlclose(c->lib);
    if (c)
        memset(c, 0, sizeof *c);
}
