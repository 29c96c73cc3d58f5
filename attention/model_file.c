/*
 * model_file.c — lctx's single-file model format: write, read, validate, mmap.
 *
 * Why a format of our own: the models lctx ships with arrive as a
 * TensorFlow.js graph (a JSON graph, seven weight shards and a JSON
 * vocabulary). Parsing all of that at every start would cost time and a lot
 * of code on the hot path, and would tie the encoder to the shape of someone
 * else's export. So `lctx-model fetch` converts once into one file that the
 * encoder maps read-only and uses in place: tensors are 64-byte aligned
 * little-endian float32, so a pointer into the mapping *is* the weight
 * matrix, and N processes share one copy in the page cache.
 *
 * Layout (docs/model-format.md has the full table):
 *
 *   header     128 bytes: magic "LCTXMDL1", version, sizes, checksum,
 *              architecture name, section counts and offsets
 *   config     n_config x { char key[48]; f64 value }
 *   vocab      n_vocab x { f64 score; u32 offset; u32 len } then the piece bytes
 *   tensors    n_tensors x { char name[64]; u32 dtype; u32 ndim; i64 shape[4];
 *                            u64 offset; u64 nbytes }
 *   data       each tensor at a 64-byte aligned offset
 *
 * Every number in the header and directories is checked against the file
 * size before anything is dereferenced: a truncated download, a flipped bit
 * or a hostile file must produce "PATH: what is wrong", never a crash. The
 * checksum (a 64-bit multiply-xor hash over the whole file with the checksum
 * field taken as zero) catches corruption that keeps the structure intact;
 * it is not a signature — data/models.manifest holds sha256 sums for that.
 *
 * Reading uses memcpy for every field, so neither alignment nor strict
 * aliasing can bite on a malformed file; only the tensor payloads are used
 * in place, after their alignment has been verified.
 */
#include "attention/attention.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define MF_MAGIC "LCTXMDL1"
#define MF_VERSION 1u
#define MF_HEADER_BYTES 128u
#define MF_ARCH_MAX 32
#define MF_KEY_MAX 48
#define MF_CONFIG_ENTRY 56u           /* key[48] + f64 */
#define MF_VOCAB_ENTRY 16u            /* f64 + u32 + u32 */
#define MF_TENSOR_ENTRY 120u          /* name[64] + u32 + u32 + 4*i64 + u64 + u64 */
#define MF_ALIGN 64u
#define MF_MAX_CONFIG 1024u
#define MF_MAX_TENSORS 1024u
#define MF_MAX_VOCAB (1u << 24)
#define MF_DTYPE_F32 0u

/* Header field offsets. */
enum {
    H_MAGIC = 0, H_VERSION = 8, H_HEADER_BYTES = 12, H_FILE_BYTES = 16,
    H_CHECKSUM = MODEL_FILE_CHECKSUM_OFFSET, H_ARCH = 32, H_N_CONFIG = 64, H_N_VOCAB = 68,
    H_N_TENSORS = 72, H_RESERVED = 76, H_CONFIG_OFF = 80, H_VOCAB_OFF = 88,
    H_VOCAB_BYTES = 96, H_TENSOR_OFF = 104, H_DATA_OFF = 112
};

struct model_file {
    const unsigned char *base;
    size_t len;
    int mapped;               /* 1: munmap on close */
    char path[512];
    char arch[MF_ARCH_MAX];
    uint64_t checksum;
    uint32_t n_config, n_vocab, n_tensors;
    uint64_t config_off, vocab_off, vocab_bytes;
    model_tensor *tensors;
};

/* ------------------------------------------------------------ helpers */

static void mf_err(char *err, size_t errlen, const char *name, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    attn_verr_named(err, errlen, name ? name : "(model)", fmt, ap);
    va_end(ap);
}

static uint32_t rd32(const unsigned char *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t rd64(const unsigned char *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static double rdf64(const unsigned char *p) { double v; memcpy(&v, p, 8); return v; }
static void wr32(unsigned char *p, uint32_t v) { memcpy(p, &v, 4); }
static void wr64(unsigned char *p, uint64_t v) { memcpy(p, &v, 8); }
static void wrf64(unsigned char *p, double v) { memcpy(p, &v, 8); }

static int host_is_little_endian(void)
{
    uint16_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

/* 64-bit hash over the file, reading the 8 checksum bytes as zero.
 * h = (h xor word) * FNV prime per 8-byte word, then a final avalanche; fast
 * enough (~8 bytes per multiply) to run on every open of a 28 MB file. */
static uint64_t mf_hash(const unsigned char *p, size_t len)
{
    const uint64_t prime = 0x100000001b3ULL;
    uint64_t h = 0xcbf29ce484222325ULL ^ (uint64_t)len;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w = (i == H_CHECKSUM) ? 0 : rd64(p + i);
        h = (h ^ w) * prime;
        h ^= h >> 29;
    }
    for (; i < len; i++)
        h = (h ^ p[i]) * prime;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h;
}

/* A fixed-size char field must hold a NUL-terminated, non-empty string. */
static int field_is_cstring(const unsigned char *p, size_t max)
{
    return p[0] != 0 && memchr(p, 0, max) != NULL;
}

static int range_ok(uint64_t off, uint64_t bytes, uint64_t len)
{
    return off <= len && bytes <= len - off;
}

/* ------------------------------------------------------------ parsing */

static int parse_header(model_file *m, const char *name, char *err, size_t errlen)
{
    const unsigned char *b = m->base;
    if (!host_is_little_endian()) {
        mf_err(err, errlen, name, "this machine is big-endian; model files are little-endian");
        return -1;
    }
    if (m->len < MF_HEADER_BYTES) {
        mf_err(err, errlen, name, "truncated: %zu bytes, smaller than the %u-byte header",
               m->len, MF_HEADER_BYTES);
        return -1;
    }
    if (memcmp(b + H_MAGIC, MF_MAGIC, 8) != 0) {
        mf_err(err, errlen, name, "not an lctx model file (bad magic)");
        return -1;
    }
    uint32_t version = rd32(b + H_VERSION);
    if (version != MF_VERSION) {
        mf_err(err, errlen, name, "unsupported format version %u (this lctx reads %u)",
               version, MF_VERSION);
        return -1;
    }
    if (rd32(b + H_HEADER_BYTES) != MF_HEADER_BYTES) {
        mf_err(err, errlen, name, "bad header size %u", rd32(b + H_HEADER_BYTES));
        return -1;
    }
    uint64_t file_bytes = rd64(b + H_FILE_BYTES);
    if (file_bytes != m->len) {
        mf_err(err, errlen, name, "%s: header says %llu bytes, file has %zu",
               file_bytes > m->len ? "truncated" : "trailing data",
               (unsigned long long)file_bytes, m->len);
        return -1;
    }
    m->checksum = rd64(b + H_CHECKSUM);
    if (mf_hash(b, m->len) != m->checksum) {
        mf_err(err, errlen, name, "checksum mismatch: the file is corrupted or was modified");
        return -1;
    }
    if (!field_is_cstring(b + H_ARCH, MF_ARCH_MAX)) {
        mf_err(err, errlen, name, "architecture name missing or not terminated");
        return -1;
    }
    memcpy(m->arch, b + H_ARCH, MF_ARCH_MAX);
    m->n_config = rd32(b + H_N_CONFIG);
    m->n_vocab = rd32(b + H_N_VOCAB);
    m->n_tensors = rd32(b + H_N_TENSORS);
    m->config_off = rd64(b + H_CONFIG_OFF);
    m->vocab_off = rd64(b + H_VOCAB_OFF);
    m->vocab_bytes = rd64(b + H_VOCAB_BYTES);
    if (m->n_config > MF_MAX_CONFIG || m->n_tensors > MF_MAX_TENSORS || m->n_vocab > MF_MAX_VOCAB) {
        mf_err(err, errlen, name, "implausible section sizes (%u config, %u vocab, %u tensors)",
               m->n_config, m->n_vocab, m->n_tensors);
        return -1;
    }
    if (!range_ok(m->config_off, (uint64_t)m->n_config * MF_CONFIG_ENTRY, m->len)) {
        mf_err(err, errlen, name, "config section outside the file");
        return -1;
    }
    if (!range_ok(m->vocab_off, m->vocab_bytes, m->len) ||
        m->vocab_bytes < (uint64_t)m->n_vocab * MF_VOCAB_ENTRY) {
        mf_err(err, errlen, name, "vocabulary section outside the file or too small");
        return -1;
    }
    return 0;
}

static int parse_config(model_file *m, const char *name, char *err, size_t errlen)
{
    for (uint32_t i = 0; i < m->n_config; i++) {
        const unsigned char *e = m->base + m->config_off + (uint64_t)i * MF_CONFIG_ENTRY;
        if (!field_is_cstring(e, MF_KEY_MAX)) {
            mf_err(err, errlen, name, "config entry %u: key missing or not terminated", i);
            return -1;
        }
        if (!isfinite(rdf64(e + MF_KEY_MAX))) {
            mf_err(err, errlen, name, "config entry '%s' is not a finite number", (const char *)e);
            return -1;
        }
    }
    return 0;
}

static int parse_vocab(model_file *m, const char *name, char *err, size_t errlen)
{
    uint64_t strings = (uint64_t)m->n_vocab * MF_VOCAB_ENTRY;
    uint64_t blob = m->vocab_bytes - strings;
    for (uint32_t i = 0; i < m->n_vocab; i++) {
        const unsigned char *e = m->base + m->vocab_off + (uint64_t)i * MF_VOCAB_ENTRY;
        if (!isfinite(rdf64(e))) {
            mf_err(err, errlen, name, "vocabulary piece %u has a non-finite score", i);
            return -1;
        }
        uint32_t off = rd32(e + 8), len = rd32(e + 12);
        if (len == 0 || !range_ok(off, len, blob)) {
            mf_err(err, errlen, name, "vocabulary piece %u lies outside the vocabulary section", i);
            return -1;
        }
    }
    return 0;
}

/* count = product of the shape, refusing overflow and negative sizes. */
static int shape_count(const int64_t *shape, int ndim, uint64_t *count)
{
    uint64_t c = 1;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0 || (shape[d] > 0 && c > UINT64_MAX / 4 / (uint64_t)shape[d]))
            return -1;
        c *= (uint64_t)shape[d];
    }
    *count = c;
    return 0;
}

static int parse_tensors(model_file *m, const char *name, char *err, size_t errlen)
{
    uint64_t dir = rd64(m->base + H_TENSOR_OFF);
    uint64_t data_off = rd64(m->base + H_DATA_OFF);
    if (!range_ok(dir, (uint64_t)m->n_tensors * MF_TENSOR_ENTRY, m->len) || data_off > m->len) {
        mf_err(err, errlen, name, "tensor directory outside the file");
        return -1;
    }
    m->tensors = calloc(m->n_tensors ? m->n_tensors : 1, sizeof *m->tensors);
    if (!m->tensors) {
        mf_err(err, errlen, name, "out of memory");
        return -1;
    }
    for (uint32_t i = 0; i < m->n_tensors; i++) {
        const unsigned char *e = m->base + dir + (uint64_t)i * MF_TENSOR_ENTRY;
        model_tensor *t = &m->tensors[i];
        if (!field_is_cstring(e, MODEL_NAME_MAX)) {
            mf_err(err, errlen, name, "tensor %u: name missing or not terminated", i);
            return -1;
        }
        memcpy(t->name, e, MODEL_NAME_MAX);
        uint32_t dtype = rd32(e + 64), ndim = rd32(e + 68);
        if (dtype != MF_DTYPE_F32) {
            mf_err(err, errlen, name, "tensor '%s': unsupported dtype %u", t->name, dtype);
            return -1;
        }
        if (ndim > MODEL_MAX_DIMS) {
            mf_err(err, errlen, name, "tensor '%s': %u dimensions (at most %d)", t->name, ndim,
                   MODEL_MAX_DIMS);
            return -1;
        }
        t->ndim = (int)ndim;
        for (int d = 0; d < MODEL_MAX_DIMS; d++)
            t->shape[d] = (int64_t)rd64(e + 72 + 8 * d);
        uint64_t count, off = rd64(e + 104), nbytes = rd64(e + 112);
        if (shape_count(t->shape, t->ndim, &count) != 0 || count * 4 != nbytes) {
            mf_err(err, errlen, name, "tensor '%s': shape does not match its %llu bytes", t->name,
                   (unsigned long long)nbytes);
            return -1;
        }
        if (off % MF_ALIGN != 0 || off < data_off || !range_ok(off, nbytes, m->len)) {
            mf_err(err, errlen, name, "tensor '%s': data outside the file or misaligned%s", t->name,
                   off + nbytes > m->len ? " (truncated?)" : "");
            return -1;
        }
        if (((uintptr_t)(m->base + off)) % sizeof(float) != 0) {
            mf_err(err, errlen, name, "tensor '%s': buffer not float-aligned", t->name);
            return -1;
        }
        for (uint32_t j = 0; j < i; j++) {
            if (strcmp(m->tensors[j].name, t->name) == 0) {
                mf_err(err, errlen, name, "tensor '%s' appears twice", t->name);
                return -1;
            }
        }
        t->count = (size_t)count;
        t->data = (const float *)(const void *)(m->base + off);
    }
    return 0;
}

model_file *model_file_parse(const void *buf, size_t len, const char *name, char *err, size_t errlen)
{
    if (!buf && len) {
        mf_err(err, errlen, name, "no data");
        return NULL;
    }
    model_file *m = calloc(1, sizeof *m);
    if (!m) {
        mf_err(err, errlen, name, "out of memory");
        return NULL;
    }
    m->base = buf;
    m->len = len;
    snprintf(m->path, sizeof m->path, "%s", name ? name : "(memory)");
    if (parse_header(m, name, err, errlen) != 0 || parse_config(m, name, err, errlen) != 0 ||
        parse_vocab(m, name, err, errlen) != 0 || parse_tensors(m, name, err, errlen) != 0) {
        free(m->tensors);
        free(m);
        return NULL;
    }
    return m;
}

model_file *model_file_open(const char *path, char *err, size_t errlen)
{
    if (!path) {
        mf_err(err, errlen, "(null)", "no model path given");
        return NULL;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);   /* a FIFO must not block */
    if (fd < 0) {
        mf_err(err, errlen, path, "%s", strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        mf_err(err, errlen, path, "not a regular file");
        close(fd);
        return NULL;
    }
    size_t len = (size_t)st.st_size;
    if (len < MF_HEADER_BYTES) {
        mf_err(err, errlen, path, "truncated: %zu bytes, smaller than the %u-byte header", len,
               MF_HEADER_BYTES);
        close(fd);
        return NULL;
    }
    void *p = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (p == MAP_FAILED) {
        mf_err(err, errlen, path, "mmap: %s", strerror(errno));
        return NULL;
    }
    model_file *m = model_file_parse(p, len, path, err, errlen);
    if (!m) {
        munmap(p, len);
        return NULL;
    }
    m->mapped = 1;
    return m;
}

void model_file_close(model_file *m)
{
    if (!m)
        return;
    if (m->mapped)
        munmap((void *)m->base, m->len);
    free(m->tensors);
    free(m);
}

uint64_t model_file_hash(const void *buf, size_t len)
{
    return buf ? mf_hash(buf, len) : 0;
}

/* ------------------------------------------------------------ accessors */

const char *model_file_arch(const model_file *m) { return m ? m->arch : ""; }
const char *model_file_path(const model_file *m) { return m ? m->path : ""; }
uint64_t model_file_checksum(const model_file *m) { return m ? m->checksum : 0; }
int model_file_n_config(const model_file *m) { return m ? (int)m->n_config : 0; }
int model_file_n_tensors(const model_file *m) { return m ? (int)m->n_tensors : 0; }
int model_file_vocab_size(const model_file *m) { return m ? (int)m->n_vocab : 0; }

const char *model_file_config_key(const model_file *m, int i, double *value)
{
    if (!m || i < 0 || (uint32_t)i >= m->n_config)
        return NULL;
    const unsigned char *e = m->base + m->config_off + (uint64_t)i * MF_CONFIG_ENTRY;
    if (value)
        *value = rdf64(e + MF_KEY_MAX);
    return (const char *)e;
}

int model_file_config(const model_file *m, const char *key, double *out)
{
    for (int i = 0; i < model_file_n_config(m); i++) {
        double v = 0;
        const char *k = model_file_config_key(m, i, &v);
        if (k && strcmp(k, key) == 0) {
            if (out)
                *out = v;
            return 0;
        }
    }
    return -1;
}

const model_tensor *model_file_tensor_at(const model_file *m, int i)
{
    if (!m || i < 0 || (uint32_t)i >= m->n_tensors)
        return NULL;
    return &m->tensors[i];
}

const model_tensor *model_file_tensor(const model_file *m, const char *name)
{
    for (int i = 0; i < model_file_n_tensors(m); i++)
        if (strcmp(m->tensors[i].name, name) == 0)
            return &m->tensors[i];
    return NULL;
}

const char *model_file_piece(const model_file *m, int i, size_t *len)
{
    if (!m || i < 0 || (uint32_t)i >= m->n_vocab)
        return NULL;
    const unsigned char *e = m->base + m->vocab_off + (uint64_t)i * MF_VOCAB_ENTRY;
    const unsigned char *blob = m->base + m->vocab_off + (uint64_t)m->n_vocab * MF_VOCAB_ENTRY;
    if (len)
        *len = rd32(e + 12);
    return (const char *)blob + rd32(e + 8);
}

double model_file_score(const model_file *m, int i)
{
    if (!m || i < 0 || (uint32_t)i >= m->n_vocab)
        return 0;
    return rdf64(m->base + m->vocab_off + (uint64_t)i * MF_VOCAB_ENTRY);
}

/* ------------------------------------------------------------ writer */

typedef struct mw_config { char key[MF_KEY_MAX]; double value; } mw_config;
typedef struct mw_piece { double score; uint32_t off, len; } mw_piece;

struct model_writer {
    char arch[MF_ARCH_MAX];
    mw_config *config;
    int n_config, cap_config;
    mw_piece *pieces;
    int n_pieces, cap_pieces;
    char *blob;
    size_t blob_len, blob_cap;
    model_tensor *tensors;
    int n_tensors, cap_tensors;
    int failed;               /* an add failed (allocation / bad argument) */
};

static int grow(void **p, int *cap, int need, size_t elem)
{
    if (need <= *cap)
        return 0;
    int nc = *cap ? *cap * 2 : 16;
    while (nc < need)
        nc *= 2;
    void *q = realloc(*p, (size_t)nc * elem);
    if (!q)
        return -1;
    *p = q;
    *cap = nc;
    return 0;
}

model_writer *model_writer_new(const char *arch)
{
    if (!arch || !*arch || strlen(arch) >= MF_ARCH_MAX)
        return NULL;
    model_writer *w = calloc(1, sizeof *w);
    if (w)
        snprintf(w->arch, sizeof w->arch, "%s", arch);
    return w;
}

void model_writer_free(model_writer *w)
{
    if (!w)
        return;
    free(w->config);
    free(w->pieces);
    free(w->blob);
    free(w->tensors);
    free(w);
}

int model_writer_config(model_writer *w, const char *key, double value)
{
    if (!w || !key || !*key || strlen(key) >= MF_KEY_MAX || !isfinite(value) ||
        grow((void **)&w->config, &w->cap_config, w->n_config + 1, sizeof *w->config) != 0) {
        if (w)
            w->failed = 1;
        return -1;
    }
    mw_config *c = &w->config[w->n_config++];
    memset(c->key, 0, sizeof c->key);
    memcpy(c->key, key, strlen(key));
    c->value = value;
    return 0;
}

int model_writer_tensor(model_writer *w, const char *name, int ndim, const int64_t *shape,
                        const float *data)
{
    uint64_t count;
    if (!w || !name || !*name || strlen(name) >= MODEL_NAME_MAX || ndim < 0 ||
        ndim > MODEL_MAX_DIMS || (ndim && !shape) || shape_count(shape, ndim, &count) != 0 ||
        (count && !data) ||
        grow((void **)&w->tensors, &w->cap_tensors, w->n_tensors + 1, sizeof *w->tensors) != 0) {
        if (w)
            w->failed = 1;
        return -1;
    }
    model_tensor *t = &w->tensors[w->n_tensors++];
    memset(t, 0, sizeof *t);
    memcpy(t->name, name, strlen(name));
    t->ndim = ndim;
    for (int d = 0; d < ndim; d++)
        t->shape[d] = shape[d];
    t->count = (size_t)count;
    t->data = data;
    return 0;
}

int model_writer_piece(model_writer *w, const char *piece, size_t len, double score)
{
    if (!w || !piece || len == 0 || len > UINT32_MAX || !isfinite(score) ||
        grow((void **)&w->pieces, &w->cap_pieces, w->n_pieces + 1, sizeof *w->pieces) != 0) {
        if (w)
            w->failed = 1;
        return -1;
    }
    if (w->blob_len + len > w->blob_cap) {
        size_t nc = w->blob_cap ? w->blob_cap * 2 : 4096;
        while (nc < w->blob_len + len)
            nc *= 2;
        char *q = realloc(w->blob, nc);
        if (!q) {
            w->failed = 1;
            return -1;
        }
        w->blob = q;
        w->blob_cap = nc;
    }
    mw_piece *p = &w->pieces[w->n_pieces++];
    p->score = score;
    p->off = (uint32_t)w->blob_len;
    p->len = (uint32_t)len;
    memcpy(w->blob + w->blob_len, piece, len);
    w->blob_len += len;
    return 0;
}

static uint64_t align_up(uint64_t x) { return (x + MF_ALIGN - 1) / MF_ALIGN * MF_ALIGN; }

/* Lays the whole file out in memory (models are tens of MB), fills the
 * checksum, then writes it in one go. */
static unsigned char *writer_render(const model_writer *w, size_t *out_len)
{
    uint64_t config_off = MF_HEADER_BYTES;
    uint64_t vocab_off = config_off + (uint64_t)w->n_config * MF_CONFIG_ENTRY;
    uint64_t vocab_bytes = (uint64_t)w->n_pieces * MF_VOCAB_ENTRY + w->blob_len;
    uint64_t tensor_off = align_up(vocab_off + vocab_bytes);
    uint64_t data_off = align_up(tensor_off + (uint64_t)w->n_tensors * MF_TENSOR_ENTRY);
    uint64_t end = data_off;
    for (int i = 0; i < w->n_tensors; i++)
        end = align_up(end + (uint64_t)w->tensors[i].count * 4);
    unsigned char *b = calloc(1, (size_t)end);
    if (!b)
        return NULL;
    memcpy(b + H_MAGIC, MF_MAGIC, 8);
    wr32(b + H_VERSION, MF_VERSION);
    wr32(b + H_HEADER_BYTES, MF_HEADER_BYTES);
    wr64(b + H_FILE_BYTES, end);
    memcpy(b + H_ARCH, w->arch, strlen(w->arch));
    wr32(b + H_N_CONFIG, (uint32_t)w->n_config);
    wr32(b + H_N_VOCAB, (uint32_t)w->n_pieces);
    wr32(b + H_N_TENSORS, (uint32_t)w->n_tensors);
    wr64(b + H_CONFIG_OFF, config_off);
    wr64(b + H_VOCAB_OFF, vocab_off);
    wr64(b + H_VOCAB_BYTES, vocab_bytes);
    wr64(b + H_TENSOR_OFF, tensor_off);
    wr64(b + H_DATA_OFF, data_off);
    for (int i = 0; i < w->n_config; i++) {
        unsigned char *e = b + config_off + (uint64_t)i * MF_CONFIG_ENTRY;
        memcpy(e, w->config[i].key, MF_KEY_MAX);
        wrf64(e + MF_KEY_MAX, w->config[i].value);
    }
    for (int i = 0; i < w->n_pieces; i++) {
        unsigned char *e = b + vocab_off + (uint64_t)i * MF_VOCAB_ENTRY;
        wrf64(e, w->pieces[i].score);
        wr32(e + 8, w->pieces[i].off);
        wr32(e + 12, w->pieces[i].len);
    }
    if (w->blob_len)
        memcpy(b + vocab_off + (uint64_t)w->n_pieces * MF_VOCAB_ENTRY, w->blob, w->blob_len);
    uint64_t off = data_off;
    for (int i = 0; i < w->n_tensors; i++) {
        const model_tensor *t = &w->tensors[i];
        unsigned char *e = b + tensor_off + (uint64_t)i * MF_TENSOR_ENTRY;
        memcpy(e, t->name, MODEL_NAME_MAX);
        wr32(e + 64, MF_DTYPE_F32);
        wr32(e + 68, (uint32_t)t->ndim);
        for (int d = 0; d < MODEL_MAX_DIMS; d++)
            wr64(e + 72 + 8 * d, d < t->ndim ? (uint64_t)t->shape[d] : 0);
        wr64(e + 104, off);
        wr64(e + 112, (uint64_t)t->count * 4);
        if (t->count)
            memcpy(b + off, t->data, t->count * 4);
        off = align_up(off + (uint64_t)t->count * 4);
    }
    wr64(b + H_CHECKSUM, mf_hash(b, (size_t)end));
    *out_len = (size_t)end;
    return b;
}

int model_writer_save(model_writer *w, const char *path, char *err, size_t errlen)
{
    if (!w || !path) {
        mf_err(err, errlen, path, "no writer or path");
        return -1;
    }
    if (w->failed) {
        mf_err(err, errlen, path, "an earlier addition to the model failed (bad name or out of memory)");
        return -1;
    }
    if (!host_is_little_endian()) {
        mf_err(err, errlen, path, "writing model files on big-endian machines is not supported");
        return -1;
    }
    size_t len = 0;
    unsigned char *buf = writer_render(w, &len);
    if (!buf) {
        mf_err(err, errlen, path, "out of memory");
        return -1;
    }
    char tmp[1024];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp) {
        free(buf);
        mf_err(err, errlen, path, "path too long");
        return -1;
    }
    FILE *f = fopen(tmp, "wb");
    int rc = -1;
    if (!f) {
        mf_err(err, errlen, tmp, "%s", strerror(errno));
    } else if (fwrite(buf, 1, len, f) != len || fflush(f) != 0 || fsync(fileno(f)) != 0) {
        mf_err(err, errlen, tmp, "write failed: %s", strerror(errno));
        fclose(f);
        unlink(tmp);
    } else if (fclose(f) != 0) {
        mf_err(err, errlen, tmp, "close failed: %s", strerror(errno));
        unlink(tmp);
    } else if (rename(tmp, path) != 0) {
        mf_err(err, errlen, path, "rename: %s", strerror(errno));
        unlink(tmp);
    } else {
        rc = 0;
    }
    free(buf);
    return rc;
}
