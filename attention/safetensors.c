/*
 * safetensors.c — reader for Hugging Face's safetensors files.
 *
 * The format is deliberately simple: an unsigned 64-bit little-endian header
 * length N, N bytes of JSON mapping tensor names to {dtype, shape,
 * data_offsets: [begin, end]} (plus an optional "__metadata__" object of
 * strings), then the data section that the offsets index into.
 *
 * Simple formats still arrive truncated or tampered, so nothing is trusted:
 * the header must fit the file, every tensor must have a known dtype (F32,
 * F16, BF16 — what BERT checkpoints use), a shape whose element count times
 * the dtype size equals end - begin with no overflow anywhere, offsets inside
 * the data section, and no two tensors may overlap. Only then does a caller
 * see a data pointer, so later code can read tensors without re-checking.
 *
 * The file is mmap'ed read-only: a 400 MB model costs no copy until weights
 * are widened to float32 (safetensors_to_f32), which the encoder does once at
 * load so the forward pass only ever sees float32.
 */
#include "attention/attention.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* A header bigger than this is not a model header but an attack or garbage;
 * real ones are a few hundred KB at most. */
#define SAFETENSORS_MAX_HEADER (100u << 20)

struct safetensors {
    const uint8_t *buf;       /* whole file */
    size_t len;
    void *map;                /* non-NULL when we own an mmap */
    safetensors_tensor *tensors;
    int n;
    char *names;              /* all names, NUL separated */
};

static void st_err(char *err, size_t errlen, const char *name, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    attn_verr_named(err, errlen, name ? name : "safetensors", fmt, ap);
    va_end(ap);
}

const char *safetensors_dtype_name(safetensors_dtype d)
{
    switch (d) {
    case SAFETENSORS_F32: return "F32";
    case SAFETENSORS_F16: return "F16";
    case SAFETENSORS_BF16: return "BF16";
    }
    return "?";
}

static int parse_dtype(const char *s, safetensors_dtype *d, unsigned *size)
{
    if (strcmp(s, "F32") == 0) { *d = SAFETENSORS_F32; *size = 4; return 0; }
    if (strcmp(s, "F16") == 0) { *d = SAFETENSORS_F16; *size = 2; return 0; }
    if (strcmp(s, "BF16") == 0) { *d = SAFETENSORS_BF16; *size = 2; return 0; }
    return -1;
}

/* A JSON number that is a non-negative integer representable exactly (cJSON
 * stores numbers as double, exact up to 2^53, far beyond any real file). */
static int json_u64(const cJSON *j, uint64_t *out)
{
    if (!cJSON_IsNumber(j))
        return -1;
    double v = j->valuedouble;
    if (!(v >= 0) || v > 9007199254740992.0 || v != (double)(uint64_t)v)
        return -1;
    *out = (uint64_t)v;
    return 0;
}

static int cmp_by_begin(const void *a, const void *b)
{
    const safetensors_tensor *x = a, *y = b;
    const uint8_t *p = x->data, *q = y->data;
    return p < q ? -1 : p > q ? 1 : 0;
}

static int cmp_by_name(const void *a, const void *b)
{
    const safetensors_tensor *x = a, *y = b;
    return strcmp(x->name, y->name);
}

/* Fills t from one header entry; checks everything except overlap. */
static int parse_entry(const cJSON *e, const uint8_t *data, uint64_t data_len,
                       safetensors_tensor *t, const char *name, char *err, size_t errlen)
{
    const char *tn = e->string;
    if (!cJSON_IsObject(e)) {
        st_err(err, errlen, name, "tensor '%s': header entry is not an object", tn);
        return -1;
    }
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *off = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    unsigned esize = 0;
    if (!cJSON_IsString(dt) || parse_dtype(dt->valuestring, &t->dtype, &esize) != 0) {
        st_err(err, errlen, name, "tensor '%s': unsupported dtype %s (F32, F16, BF16 are)",
               tn, cJSON_IsString(dt) ? dt->valuestring : "(missing)");
        return -1;
    }
    if (!cJSON_IsArray(sh) || cJSON_GetArraySize(sh) > SAFETENSORS_MAX_DIMS) {
        st_err(err, errlen, name, "tensor '%s': bad shape", tn);
        return -1;
    }
    uint64_t count = 1;
    t->ndim = 0;
    const cJSON *d;
    cJSON_ArrayForEach(d, sh) {
        uint64_t v;
        if (json_u64(d, &v) != 0 || v > INT64_MAX) {
            st_err(err, errlen, name, "tensor '%s': bad shape", tn);
            return -1;
        }
        if (v != 0 && count > UINT64_MAX / v) {
            st_err(err, errlen, name, "tensor '%s': shape overflows", tn);
            return -1;
        }
        count *= v;
        t->shape[t->ndim++] = (int64_t)v;
    }
    uint64_t b, en;
    if (!cJSON_IsArray(off) || cJSON_GetArraySize(off) != 2 ||
        json_u64(cJSON_GetArrayItem(off, 0), &b) != 0 ||
        json_u64(cJSON_GetArrayItem(off, 1), &en) != 0 || en < b) {
        st_err(err, errlen, name, "tensor '%s': bad data_offsets", tn);
        return -1;
    }
    if (en > data_len) {
        st_err(err, errlen, name,
               "tensor '%s': data_offsets [%llu, %llu] run past the end of the file "
               "(data section is %llu bytes; truncated?)", tn,
               (unsigned long long)b, (unsigned long long)en, (unsigned long long)data_len);
        return -1;
    }
    if (count > UINT64_MAX / esize || count * esize != en - b) {
        st_err(err, errlen, name, "tensor '%s': %llu bytes for %llu %s elements",
               tn, (unsigned long long)(en - b), (unsigned long long)count,
               safetensors_dtype_name(t->dtype));
        return -1;
    }
    t->count = count;
    t->nbytes = en - b;
    t->data = data + b;
    return 0;
}

static int parse_header(safetensors *st, const char *name, char *err, size_t errlen)
{
    if (st->len < 8) {
        st_err(err, errlen, name, "file too short for a safetensors header (%zu bytes)", st->len);
        return -1;
    }
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = hlen << 8 | st->buf[i];
    if (hlen > SAFETENSORS_MAX_HEADER || hlen > st->len - 8) {
        st_err(err, errlen, name, "header length %llu exceeds the file (%zu bytes); "
               "not a safetensors file or truncated", (unsigned long long)hlen, st->len);
        return -1;
    }
    const uint8_t *data = st->buf + 8 + hlen;
    uint64_t data_len = st->len - 8 - hlen;
    cJSON *root = cJSON_ParseWithLength((const char *)st->buf + 8, (size_t)hlen);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        st_err(err, errlen, name, "header is not a JSON object");
        return -1;
    }
    int n = 0;
    size_t names_len = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, root) {
        if (strcmp(e->string, "__metadata__") == 0)
            continue;
        n++;
        names_len += strlen(e->string) + 1;
    }
    st->tensors = calloc(n ? (size_t)n : 1, sizeof *st->tensors);
    st->names = malloc(names_len ? names_len : 1);
    if (!st->tensors || !st->names) {
        cJSON_Delete(root);
        st_err(err, errlen, name, "out of memory");
        return -1;
    }
    char *np = st->names;
    int rc = 0;
    cJSON_ArrayForEach(e, root) {
        if (strcmp(e->string, "__metadata__") == 0)
            continue;
        safetensors_tensor *t = &st->tensors[st->n];
        size_t k = strlen(e->string) + 1;
        memcpy(np, e->string, k);
        t->name = np;
        np += k;
        if ((rc = parse_entry(e, data, data_len, t, name, err, errlen)) != 0)
            break;
        st->n++;
    }
    cJSON_Delete(root);
    if (rc != 0)
        return -1;
    /* Overlap check: sort a copy by start, then neighbours must not cross. */
    safetensors_tensor *tmp = malloc((n ? (size_t)n : 1) * sizeof *tmp);
    if (!tmp) {
        st_err(err, errlen, name, "out of memory");
        return -1;
    }
    memcpy(tmp, st->tensors, (size_t)n * sizeof *tmp);
    qsort(tmp, (size_t)n, sizeof *tmp, cmp_by_begin);
    int prev = -1;            /* last non-empty tensor; empty ones occupy nothing */
    for (int i = 0; i < n; i++) {
        if (tmp[i].nbytes == 0)
            continue;
        if (prev >= 0 &&
            (const uint8_t *)tmp[i].data < (const uint8_t *)tmp[prev].data + tmp[prev].nbytes) {
            st_err(err, errlen, name, "tensors '%s' and '%s' overlap", tmp[prev].name,
                   tmp[i].name);
            free(tmp);
            return -1;
        }
        prev = i;
    }
    /* Names must be unique, or "which tensor is this" has two answers. */
    qsort(tmp, (size_t)n, sizeof *tmp, cmp_by_name);
    for (int i = 1; i < n; i++) {
        if (strcmp(tmp[i - 1].name, tmp[i].name) == 0) {
            st_err(err, errlen, name, "tensor '%s' appears twice", tmp[i].name);
            free(tmp);
            return -1;
        }
    }
    free(tmp);
    return 0;
}

safetensors *safetensors_parse(const void *buf, size_t len, const char *name,
                               char *err, size_t errlen)
{
    safetensors *st = calloc(1, sizeof *st);
    if (!st) {
        st_err(err, errlen, name, "out of memory");
        return NULL;
    }
    st->buf = buf;
    st->len = len;
    if (!buf && len) {
        free(st);
        st_err(err, errlen, name, "no buffer");
        return NULL;
    }
    if (parse_header(st, name, err, errlen) != 0) {
        safetensors_close(st);
        return NULL;
    }
    return st;
}

safetensors *safetensors_open(const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);   /* a FIFO must not block */
    if (fd < 0) {
        st_err(err, errlen, path, "%s", strerror(errno));
        return NULL;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        st_err(err, errlen, path, "not a regular file");
        return NULL;
    }
    size_t len = (size_t)sb.st_size;
    void *map = NULL;
    if (len > 0) {
        map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            close(fd);
            st_err(err, errlen, path, "mmap: %s", strerror(errno));
            return NULL;
        }
    }
    close(fd);
    safetensors *st = safetensors_parse(map ? map : "", len, path, err, errlen);
    if (!st) {
        if (map)
            munmap(map, len);
        return NULL;
    }
    st->map = map;
    return st;
}

void safetensors_close(safetensors *st)
{
    if (!st)
        return;
    if (st->map)
        munmap(st->map, st->len);
    free(st->tensors);
    free(st->names);
    free(st);
}

int safetensors_count(const safetensors *st) { return st ? st->n : 0; }

const safetensors_tensor *safetensors_at(const safetensors *st, int i)
{
    return st && i >= 0 && i < st->n ? &st->tensors[i] : NULL;
}

const safetensors_tensor *safetensors_find(const safetensors *st, const char *name)
{
    if (!st || !name)
        return NULL;
    for (int i = 0; i < st->n; i++)
        if (strcmp(st->tensors[i].name, name) == 0)
            return &st->tensors[i];
    return NULL;
}

/* IEEE half: 1 sign, 5 exponent (bias 15), 10 mantissa bits. Subnormals
 * (exponent 0) are mantissa * 2^-24; exponent 31 is inf/NaN. */
float safetensors_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h >> 15) << 31;
    uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff;
    uint32_t bits;
    if (exp == 0) {
        float v = (float)man * (1.0f / 16777216.0f); /* 2^-24 */
        return sign ? -v : v;
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (man << 13);
    } else {
        bits = sign | ((exp - 15 + 127) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* bfloat16 is the top half of a float32: widen by shifting. */
float safetensors_bf16_to_f32(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

float *safetensors_to_f32(const safetensors_tensor *t)
{
    if (!t || t->count > SIZE_MAX / sizeof(float))
        return NULL;
    float *out = tensor_alloc(t->count ? (size_t)t->count : 1);
    if (!out)
        return NULL;
    const uint8_t *p = t->data;
    /* Byte-wise little-endian reads: the mapping has no alignment promise. */
    for (uint64_t i = 0; i < t->count; i++) {
        if (t->dtype == SAFETENSORS_F32) {
            uint32_t b = (uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 |
                         (uint32_t)p[4 * i + 2] << 16 | (uint32_t)p[4 * i + 3] << 24;
            memcpy(&out[i], &b, 4);
        } else {
            uint16_t h = (uint16_t)(p[2 * i] | p[2 * i + 1] << 8);
            out[i] = t->dtype == SAFETENSORS_F16 ? safetensors_f16_to_f32(h)
                                                 : safetensors_bf16_to_f32(h);
        }
    }
    return out;
}
