/*
 * hub.c — download a model from the Hugging Face hub (`lctx-model fetch
 * hf:ORG/NAME`) with libcurl.
 *
 * Files come from ENDPOINT/ORG/NAME/resolve/main/FILE, ENDPOINT being
 * $LCTX_HF_ENDPOINT or https://huggingface.co (mirrors and the tests use the
 * variable). config.json and model.safetensors are required, and one of
 * tokenizer.json / vocab.txt; the sentence-transformers files are fetched
 * when present (a 404 there is normal).
 *
 * Model files are hundreds of megabytes over connections that drop, so each
 * file is written to FILE.part and resumed with an HTTP Range request on the
 * next run; only a complete file is renamed into place. The hub announces
 * the SHA-256 of large (LFS) files in an X-Linked-Etag header: when present,
 * the downloaded file must match it. Every file's SHA-256 is recorded in
 * dest/manifest.sha256 (sha256sum's format, so `sha256sum -c` checks it).
 * $HF_TOKEN, when set, is sent for gated models (and dropped by curl on a
 * redirect to another host).
 *
 * SHA-256 comes from OpenSSL's libcrypto (Debian's libssl-dev, which
 * libcurl4-openssl-dev already pulls in): model integrity checks need a
 * vetted digest, not a hand-written one. Both libraries are opened here
 * when needed (dynlib.c), not linked.
 */
#include "attention/attention.h"
#include "lctx.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---------------------------------------------------------------- SHA-256
 * OpenSSL's libcrypto (EVP digests); one-shot for buffers, streamed for files. */

int hub_sha256(const void *data, size_t len, uint8_t out[32], char *err, size_t errlen)
{
    dyn_crypto cr;
    if (dyn_crypto_open(&cr, err, errlen))
        return -1;
    unsigned int n = 32;
    int ok = cr.digest(data, len, out, &n, cr.sha256(), NULL);
    dyn_crypto_close(&cr);
    if (!ok) {
        attn_err(err, errlen, "SHA-256 failed (libcrypto)");
        return -1;
    }
    return 0;
}

int hub_sha256_file(const char *path, char hex[65], char *err, size_t errlen)
{
    dyn_crypto cr;
    if (dyn_crypto_open(&cr, err, errlen))
        return -1;
    FILE *f = fopen(path, "rb");
    if (!f) {
        attn_err(err, errlen, "%s: %s", path, strerror(errno));
        dyn_crypto_close(&cr);
        return -1;
    }
    EVP_MD_CTX *c = cr.ctx_new();
    if (!c || !cr.init_ex(c, cr.sha256(), NULL)) {
        cr.ctx_free(c);
        fclose(f);
        dyn_crypto_close(&cr);
        attn_err(err, errlen, "%s: cannot start SHA-256 (libcrypto)", path);
        return -1;
    }
    uint8_t buf[65536], d[32];
    size_t k;
    int bad = 0;
    while (!bad && (k = fread(buf, 1, sizeof buf, f)) > 0)
        bad = !cr.update(c, buf, k);
    bad = bad || ferror(f);
    fclose(f);
    unsigned int dn = 32;
    bad = bad || !cr.final_ex(c, d, &dn);
    cr.ctx_free(c);
    dyn_crypto_close(&cr);
    if (bad) {
        attn_err(err, errlen, "%s: read error", path);
        return -1;
    }
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
    return 0;
}

/* ------------------------------------------------------------- download */

typedef struct dl {
    const dyn_curl *cu;
    CURL *curl;
    FILE *f;
    const char *part;
    uint64_t offset;         /* bytes already in .part when we started */
    int checked;             /* response code looked at */
    char etag[65];           /* X-Linked-Etag sha256, if the hub sent one */
    void (*progress)(void *, uint64_t, uint64_t);
    void *ctx;
} dl;

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
    dl *d = arg;
    size_t len = size * n;
    static const char name[] = "x-linked-etag:";
    if (len > sizeof name && strncasecmp(p, name, sizeof name - 1) == 0) {
        const char *v = p + sizeof name - 1;
        size_t k = 0;
        while (v < p + len && (*v == ' ' || *v == '"'))
            v++;
        while (v + k < p + len && isxdigit((unsigned char)v[k]) && k < 64)
            k++;
        if (k == 64) {
            for (size_t i = 0; i < 64; i++)
                d->etag[i] = (char)tolower((unsigned char)v[i]);
            d->etag[64] = 0;
        }
    }
    return len;
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    dl *d = arg;
    if (!d->checked) {
        long status = 0;
        d->cu->easy_getinfo(d->curl, CURLINFO_RESPONSE_CODE, &status);
        d->checked = 1;
        if (status == 200 && d->offset > 0) {
            /* The server ignored our Range: start the file over. */
            if (ftruncate(fileno(d->f), 0) != 0 || fseek(d->f, 0, SEEK_SET) != 0)
                return 0;
            d->offset = 0;
        } else if (status != 200 && status != 206) {
            return size * n;       /* error page: read and drop it */
        }
    }
    long status = 0;
    d->cu->easy_getinfo(d->curl, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200 && status != 206)
        return size * n;
    return fwrite(p, size, n, d->f) * size;
}

static int on_progress(void *arg, curl_off_t total, curl_off_t now, curl_off_t ut, curl_off_t un)
{
    dl *d = arg;
    if (d->progress)
        d->progress(d->ctx, d->offset + (uint64_t)now, total ? d->offset + (uint64_t)total : 0);
    return 0;
}

/* Fetches one file. 0 done, 1 not found (404), -1 error (err set). */
static int fetch_file(const dyn_curl *cu, const char *url, const char *dest, const char *auth,
                      const char *shown,
                      void (*progress)(void *, uint64_t, uint64_t), void *ctx,
                      char *err, size_t errlen)
{
    char part[4200];
    if (snprintf(part, sizeof part, "%s.part", dest) >= (int)sizeof part) {
        attn_err(err, errlen, "%s: path too long", shown);
        return -1;
    }
    dl d = {0};
    d.cu = cu;
    d.part = part;
    d.progress = progress;
    d.ctx = ctx;
    struct stat sb;
    if (stat(part, &sb) == 0)
        d.offset = (uint64_t)sb.st_size;
    d.f = fopen(part, "ab");
    if (!d.f) {
        attn_err(err, errlen, "%s: %s", part, strerror(errno));
        return -1;
    }
    CURL *c = cu->easy_init();
    if (!c) {
        fclose(d.f);
        attn_err(err, errlen, "%s: cannot create a curl handle", shown);
        return -1;
    }
    d.curl = c;
    struct curl_slist *hdr = auth ? cu->slist_append(NULL, auth) : NULL;
    char cerr[CURL_ERROR_SIZE] = "";
    cu->easy_setopt(c, CURLOPT_URL, url);
    cu->easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    cu->easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
    cu->easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    cu->easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    cu->easy_setopt(c, CURLOPT_WRITEDATA, &d);
    cu->easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    cu->easy_setopt(c, CURLOPT_HEADERDATA, &d);
    cu->easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    cu->easy_setopt(c, CURLOPT_XFERINFODATA, &d);
    cu->easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    cu->easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 15L);
    cu->easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);    /* stalled for a minute: give up */
    cu->easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
    cu->easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    cu->easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
    cu->easy_setopt(c, CURLOPT_USERAGENT, "lctx/" LCTX_VERSION_STRING);
    if (d.offset > 0)
        cu->easy_setopt(c, CURLOPT_RESUME_FROM_LARGE, (curl_off_t)d.offset);
    CURLcode cc = cu->easy_perform(c);
    long status = 0;
    cu->easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    cu->easy_cleanup(c);
    cu->slist_free_all(hdr);
    int closed = fclose(d.f);
    if (cc == CURLE_COULDNT_RESOLVE_HOST || cc == CURLE_COULDNT_CONNECT ||
        cc == CURLE_COULDNT_RESOLVE_PROXY) {
        if (d.offset == 0)
            unlink(part);          /* nothing came: leave no empty .part behind */
        attn_err(err, errlen, "cannot reach %s (%s): no internet connection? "
                 "(LCTX_HF_ENDPOINT selects a mirror)", url, cerr[0] ? cerr : cu->easy_strerror(cc));
        return -1;
    }
    if (status == 416 && d.offset > 0) {
        /* Range past the end: the .part is already whole. */
    } else if (cc != CURLE_OK && !(cc == CURLE_HTTP_RETURNED_ERROR)) {
        attn_err(err, errlen, "%s: download failed: %s (rerun to resume)", shown,
                 cerr[0] ? cerr : cu->easy_strerror(cc));
        return -1;
    } else if (status == 404) {
        unlink(part);
        return 1;
    } else if (status == 401 || status == 403) {
        unlink(part);
        attn_err(err, errlen, "%s: HTTP %ld: gated or private model (set HF_TOKEN)", shown, status);
        return -1;
    } else if (status != 200 && status != 206) {
        attn_err(err, errlen, "%s: HTTP %ld", shown, status);
        return -1;
    }
    if (closed != 0) {
        attn_err(err, errlen, "%s: write error (disk full?)", part);
        return -1;
    }
    if (d.etag[0]) {
        char hex[65];
        if (hub_sha256_file(part, hex, err, errlen))
            return -1;
        if (strcmp(hex, d.etag) != 0) {
            unlink(part);
            attn_err(err, errlen, "%s: SHA-256 %s does not match the hub's %s (removed; rerun)",
                     shown, hex, d.etag);
            return -1;
        }
    }
    if (rename(part, dest) != 0) {
        attn_err(err, errlen, "%s: %s", dest, strerror(errno));
        return -1;
    }
    return 0;
}

static int valid_name(const char *s)
{
    int slashes = 0;
    if (!s || !*s || *s == '/' || *s == '.')
        return 0;
    for (const char *p = s; *p; p++) {
        if (*p == '/')
            slashes++;
        else if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_' && *p != '.')
            return 0;
    }
    return slashes == 1 && !strstr(s, "..") && s[strlen(s) - 1] != '/';
}

int hub_fetch(const char *org_name, const char *dest_dir,
              void (*progress)(void *, uint64_t, uint64_t), void *ctx,
              char *err, size_t errlen)
{
    static const struct { const char *file; int required; } files[] = {
        {"config.json", 1}, {"tokenizer.json", 0}, {"vocab.txt", 0},
        {"tokenizer_config.json", 0}, {"modules.json", 0}, {"sentence_bert_config.json", 0},
        {"1_Pooling/config.json", 0}, {"model.safetensors", 1}};
    if (!valid_name(org_name)) {
        attn_err(err, errlen, "hf:%s: expected hf:ORG/NAME", org_name ? org_name : "");
        return -1;
    }
    if (!dest_dir || !*dest_dir) {
        attn_err(err, errlen, "hf:%s: no destination directory", org_name);
        return -1;
    }
    const char *endpoint = getenv("LCTX_HF_ENDPOINT");
    if (!endpoint || !*endpoint)
        endpoint = "https://huggingface.co";
    char sub[4200];
    snprintf(sub, sizeof sub, "%s/1_Pooling", dest_dir);
    if ((mkdir(dest_dir, 0755) != 0 && errno != EEXIST) || (mkdir(sub, 0755) != 0 && errno != EEXIST)) {
        attn_err(err, errlen, "%s: %s", dest_dir, strerror(errno));
        return -1;
    }
    const char *token = getenv("HF_TOKEN");
    char *auth = NULL;
    if (token && *token) {
        size_t n = strlen(token) + 32;
        if ((auth = malloc(n)))
            snprintf(auth, n, "Authorization: Bearer %s", token);
    }
    dyn_curl cu;
    char why[256];
    if (dyn_curl_open(&cu, why, sizeof why)) {
        free(auth);
        attn_err(err, errlen, "hf:%s: %s", org_name, why);
        return -1;
    }
    if (cu.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        free(auth);
        dyn_curl_close(&cu);
        attn_err(err, errlen, "hf:%s: libcurl initialisation failed", org_name);
        return -1;
    }
    int rc = 0, have_vocab = 0;
    int got[sizeof files / sizeof *files] = {0};
    for (size_t i = 0; i < sizeof files / sizeof *files && rc == 0; i++) {
        char url[4200], dest[4200], shown[512];
        snprintf(url, sizeof url, "%s/%s/resolve/main/%s", endpoint, org_name, files[i].file);
        snprintf(dest, sizeof dest, "%s/%s", dest_dir, files[i].file);
        snprintf(shown, sizeof shown, "hf:%s/%s", org_name, files[i].file);
        int r = fetch_file(&cu, url, dest, auth, shown, progress, ctx, err, errlen);
        if (r < 0) {
            rc = -1;
        } else if (r == 1 && files[i].required) {
            attn_err(err, errlen, "%s: not found on %s (wrong name, or not a safetensors "
                     "BERT model?)", shown, endpoint);
            rc = -1;
        } else if (r == 0) {
            got[i] = 1;
            if (i == 1 || i == 2)
                have_vocab = 1;
        }
        /* Stop early when both vocabulary forms are missing. */
        if (rc == 0 && i == 2 && !have_vocab) {
            attn_err(err, errlen, "hf:%s: neither tokenizer.json nor vocab.txt found", org_name);
            rc = -1;
        }
    }
    if (auth) {
        volatile char *p = auth;
        while (*p)
            *p++ = 0;
        free(auth);
    }
    cu.global_cleanup();
    dyn_curl_close(&cu);
    if (rc != 0)
        return -1;
    /* manifest.sha256 in sha256sum's format. */
    char mpath[4200], tmp[4200];
    snprintf(mpath, sizeof mpath, "%s/manifest.sha256", dest_dir);
    if (snprintf(tmp, sizeof tmp, "%s.tmp", mpath) >= (int)sizeof tmp) {
        attn_err(err, errlen, "%s: path too long", dest_dir);
        return -1;
    }
    FILE *m = fopen(tmp, "w");
    if (!m) {
        attn_err(err, errlen, "%s: %s", tmp, strerror(errno));
        return -1;
    }
    for (size_t i = 0; i < sizeof files / sizeof *files && rc == 0; i++) {
        if (!got[i])
            continue;
        char path[4200], hex[65];
        snprintf(path, sizeof path, "%s/%s", dest_dir, files[i].file);
        if (hub_sha256_file(path, hex, err, errlen) == 0)
            fprintf(m, "%s  %s\n", hex, files[i].file);
        else
            rc = -1;
    }
    if (fclose(m) != 0 || rc != 0 || rename(tmp, mpath) != 0) {
        if (rc == 0)
            attn_err(err, errlen, "%s: cannot write", mpath);
        unlink(tmp);
        return -1;
    }
    return 0;
}
