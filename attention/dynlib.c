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
 * holds its own table of entry points. Once loaded, a library stays mapped
 * (RTLD_NODELETE, below).
 *
 * The packages are still dependencies (Debian's libcurl4-openssl-dev and
 * libssl-dev provide the headers, and pull in the libraries); on a system
 * without them only the features that need them fail, with a message that
 * names the library, instead of every program failing to start.
 */
#include "attention/attention.h"

#include <dlfcn.h>
#include <openssl/opensslv.h>
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

/* An entry point to bind: its name and where its pointer goes in the table. */
typedef struct dyn_sym {
    const char *name;
    size_t at;
} dyn_sym;

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

/* Opens soname and binds syms into the table api (size bytes, its first
 * member the library handle). 0, or -1 with err set and api zeroed: a
 * missing library names the package to install, a missing symbol itself.
 * POSIX guarantees a function's address survives the trip through void *. */
static int dyn_open(void *api, size_t size, const char *soname, const char *package,
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

/* Closes the library of a table opened by dyn_open (or zeroed). */
static void dyn_close(void *api, size_t size)
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
