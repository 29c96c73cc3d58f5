/*
 * lsh_index.c — the in-memory LSH vector index: stored vectors, L tables of
 * K-bit buckets (with their inline sketches), incremental add/remove.
 *
 * Layout, chosen for query speed. Vectors live in one block of fixed-size
 * encoded rows (store/store.h, vector encodings), addressed by row number. Each table is a
 * CSR bucket array: offsets[2^K + 1] and rows[], where bucket c holds
 * rows[offsets[c] .. offsets[c+1]), ascending. A probe is then two loads and
 * a contiguous run of 4-byte row numbers, with no hashing and no pointer
 * chasing; offsets cost 4 * 2^K bytes per table, hence K <= LSH_MAX_BITS.
 * (Collections persist the same buckets in LMDB as a dupsort database keyed
 * by (table, code), store/lsh_store.c; a handle opened with
 * LCTX_OPEN_VECTOR_CACHE builds this structure from them, query/vcache.c,
 * and it is what the benchmark measures.)
 *
 * Incremental updates. CSR arrays do not take inserts, so new rows first go
 * to a tail: their codes are kept aside and searches re-score every tail row
 * exactly (correct, just slower). lsh_index_commit merges the tail into the
 * buckets in one pass per table, a counting sort that costs O(2^K + entries)
 * and needs no re-hashing: a committed row's code is the bucket it sits in.
 * Removal sets a tombstone bit at once; commit drops the row's entries. The
 * buckets after any sequence of adds, removes and a commit are exactly those
 * of a fresh build over the live rows (tests/test_lsh_index.c checks this).
 * Codes are computed from the stored (encoded, then decoded) vector, so an
 * index rebuilt from stored rows hashes every vector the same way. Tail rows
 * are hashed when they are committed, not when added: until then nothing
 * reads their codes.
 *
 * Centring (lsh_params.center). Random rotations spread directions evenly
 * over the sphere, but real embeddings do not fill it: GloVe's vectors, like
 * most trained embeddings, share a large common component, so they sit in
 * one cap of the sphere and crowd a fraction of the buckets (the rare words
 * that GloVe's held-out queries mostly are crowd it most). Hashing x - mu,
 * mu the mean of the data, spreads them over the buckets again (FALCONN
 * centres its GloVe data for the same reason). Neighbours stay neighbours:
 * for unit vectors |x - q|^2 = 2 - 2 x.q, and translation keeps distances.
 * On GloVe a query needs about a third fewer candidates for a given
 * recall. The sketches are of x - mu as well: they rank by q.(x - mu) =
 * q.x - q.mu, the same order (q.mu is one number per query, added back so
 * that sketch and exact scores share one scale), with a finer grid since
 * the common part no longer takes up the quantiser's range. mu is fixed at the first commit
 * (the mean of its rows) and kept: moving it would re-hash every row.
 *
 * Searching is lsh_search.c; the structures both files read are in
 * query/query.h ("LSH index internals").
 */
#include "query/query.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void set_err(char *err, size_t errlen, const char *msg)
{
    if (err && errlen)
        snprintf(err, errlen, "%s", msg);
}

void lsh_params_init(lsh_params *p)
{
    memset(p, 0, sizeof *p);
    p->k_bits = 16;
    p->n_tables = 32;
    p->probes = 0;
    p->seed = 0x6c6374786c7368ull;  /* "lctxlsh" */
    p->encoding = VECSTORE_F32;
}


lsh_index *lsh_index_new(int dim, const lsh_params *p, char *err, size_t errlen)
{
    lsh_params prm;
    if (p)
        prm = *p;
    else
        lsh_params_init(&prm);
    if (prm.family == LSH_CROSSPOLYTOPE) {
        if (prm.cp_dim > LSH_MAX_CP_DIM || prm.n_tables > LSH_MAX_XP_TABLES) {
            set_err(err, errlen, "lsh_index_new: cross-polytope needs at most 2048 coordinates"
                                 " per function and 4096 tables");
            return NULL;
        }
        int fn_bits = 1;
        while (prm.cp_dim > 0 && (1 << fn_bits) < 2 * prm.cp_dim)
            fn_bits++;
        prm.k_bits = prm.per_table * fn_bits;
    }
    if (prm.k_bits < 1 || prm.k_bits > LSH_MAX_BITS) {
        set_err(err, errlen, "lsh_index_new: bits per table must be in 1..24");
        return NULL;
    }
    if (vecstore_row_bytes(prm.encoding, dim) == 0 || dim < 1) {
        set_err(err, errlen, "lsh_index_new: bad dimension or encoding");
        return NULL;
    }
    if (prm.inline_codes != 0 && prm.inline_codes != 4 && prm.inline_codes != 8) {
        set_err(err, errlen, "lsh_index_new: inline codes must be 0, 4 or 8 bits");
        return NULL;
    }
    if (prm.probes <= 0)
        prm.probes = 4 * prm.n_tables;
    lsh_index *ix = calloc(1, sizeof *ix);
    if (!ix) {
        set_err(err, errlen, "lsh_index_new: out of memory");
        return NULL;
    }
    ix->dim = dim;
    ix->prm = prm;
    /* Rows start on cache lines: a 104-byte int8 row then costs 2 line
     * fetches instead of 2.6 on average, and re-scoring is bound by them. */
    ix->row_bytes = (vecstore_row_bytes(prm.encoding, dim) + 63) & ~(size_t)63;
    ix->sk_bytes = prm.inline_codes ? lsh_sketch_bytes(dim, prm.inline_codes) : 0;
    if (prm.family == LSH_CROSSPOLYTOPE)
        ix->hasher = lsh_hasher_new_xp(dim, prm.per_table, prm.cp_dim, prm.n_tables, prm.seed,
                                       err, errlen);
    else
        ix->hasher = lsh_hasher_new(dim, prm.k_bits, prm.n_tables, prm.seed, err, errlen);
    if (!ix->hasher) {
        free(ix);
        return NULL;
    }
    ix->tables = calloc((size_t)prm.n_tables, sizeof *ix->tables);
    int ok = ix->tables != NULL;
    size_t nb = (size_t)1 << prm.k_bits;
    for (int t = 0; ok && t < prm.n_tables; t++) {
        ix->tables[t].offsets = calloc(nb + 1, sizeof(uint32_t));
        ok = ix->tables[t].offsets != NULL;
    }
    if (!ok) {
        lsh_index_free(ix);
        set_err(err, errlen, "lsh_index_new: out of memory");
        return NULL;
    }
    return ix;
}

static void table_free(lsh_table *t)
{
    free(t->offsets);
    free(t->rows);
    free(t->sk);
}

void lsh_index_free(lsh_index *ix)
{
    if (!ix)
        return;
    for (int t = 0; ix->tables && t < ix->prm.n_tables; t++)
        table_free(&ix->tables[t]);
    free(ix->tables);
    free(ix->center);
    free(ix->vecs);
    free(ix->labels);
    free(ix->removed);
    lsh_hasher_free(ix->hasher);
    free(ix);
}

/* Room for `need` rows: vectors, labels, tombstones and tail codes. */
static int reserve_rows(lsh_index *ix, size_t need)
{
    if (need <= ix->cap_rows)
        return 0;
    if (need > UINT32_MAX)
        return -1;
    /* Double for a stream of small adds; exactly `need` for one big batch,
     * so a bulk build holds no slack. */
    size_t cap = ix->cap_rows ? 2 * ix->cap_rows : 1024;
    if (cap < need)
        cap = need;
    if (cap > UINT32_MAX)
        cap = UINT32_MAX;
    void *v = NULL;
    if (posix_memalign(&v, 64, cap * ix->row_bytes) != 0)
        return -1;
    if (ix->vecs)
        memcpy(v, ix->vecs, ix->n_rows * ix->row_bytes);
    free(ix->vecs);
    ix->vecs = v;
    int64_t *l = realloc(ix->labels, cap * sizeof *l);
    if (!l)
        return -1;
    ix->labels = l;
    size_t old_words = (ix->cap_rows + 63) / 64, words = (cap + 63) / 64;
    uint64_t *r = realloc(ix->removed, words * sizeof *r);
    if (!r)
        return -1;
    memset(r + old_words, 0, (words - old_words) * sizeof *r);
    ix->removed = r;
    ix->cap_rows = cap;
    return 0;
}

const float *lsh_index_center(const lsh_index *ix) { return ix->center; }

int lsh_index_set_center(lsh_index *ix, const float *mu, char *err, size_t errlen)
{
    if (!ix || !mu) {
        set_err(err, errlen, "lsh_index_set_center: null argument");
        return -1;
    }
    if (ix->n_entries > 0) {
        set_err(err, errlen, "lsh_index_set_center: the buckets already hold rows hashed without it");
        return -1;
    }
    float *c = malloc((size_t)ix->dim * sizeof *c);
    if (!c) {
        set_err(err, errlen, "lsh_index_set_center: out of memory");
        return -1;
    }
    memcpy(c, mu, (size_t)ix->dim * sizeof *c);
    free(ix->center);
    ix->center = c;
    return 0;
}

/* Appends n rows to the tail: each either a float vector (vecs, normalised
 * and encoded here) or an already encoded row (rows, copied verbatim); commit
 * hashes them as stored, i.e. decoded. who names the caller in errors. */
static int add_rows(lsh_index *ix, size_t n, const int64_t *labels, const float *vecs,
                    const void *rows, const char *who, char *err, size_t errlen)
{
    char msg[96];
    const int dim = ix->dim;
    const size_t rb = vecstore_row_bytes(ix->prm.encoding, dim);
    float *buf = malloc((size_t)dim * sizeof *buf);
    if (!buf || reserve_rows(ix, ix->n_rows + n) != 0) {
        free(buf);
        snprintf(msg, sizeof msg, "%s: out of memory", who);
        set_err(err, errlen, msg);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        size_t row = ix->n_rows;
        unsigned char *dst = ix->vecs + row * ix->row_bytes;
        if (vecs) {
            const float *x = vecs + i * (size_t)dim;
            double ss = 0.0;
            for (int j = 0; j < dim; j++)
                ss += (double)x[j] * x[j];
            float inv = ss > 0.0 ? (float)(1.0 / sqrt(ss)) : 0.0f;
            for (int j = 0; j < dim; j++)
                buf[j] = x[j] * inv;
            vecstore_encode(ix->prm.encoding, dim, buf, dst);
        } else {
            memcpy(dst, (const unsigned char *)rows + i * rb, rb);
        }
        memset(dst + rb, 0, ix->row_bytes - rb);
        ix->labels[row] = labels ? labels[i] : (int64_t)row;
        ix->n_rows++;
    }
    free(buf);
    if (ix->n_rows - ix->n_committed > 4096 + ix->n_committed / 16)
        return lsh_index_commit(ix, err, errlen);
    return 0;
}

int lsh_index_add(lsh_index *ix, size_t n, const int64_t *labels, const float *vecs,
                  char *err, size_t errlen)
{
    if (!ix || (n && !vecs)) {
        set_err(err, errlen, "lsh_index_add: null argument");
        return -1;
    }
    return add_rows(ix, n, labels, vecs, NULL, "lsh_index_add", err, errlen);
}

int lsh_index_add_encoded(lsh_index *ix, size_t n, const int64_t *labels, const void *rows,
                          char *err, size_t errlen)
{
    if (!ix || (n && (!rows || !labels))) {
        set_err(err, errlen, "lsh_index_add_encoded: null argument");
        return -1;
    }
    return add_rows(ix, n, labels, NULL, rows, "lsh_index_add_encoded", err, errlen);
}

int lsh_index_remove(lsh_index *ix, int64_t label)
{
    for (size_t row = 0; row < ix->n_rows; row++) {
        if (ix->labels[row] == label && !lsh_bit_get(ix->removed, row)) {
            lsh_bit_set(ix->removed, row);
            ix->n_removed++;
            return 0;
        }
    }
    return -1;
}

/* The mean of the live tail rows as stored (decoded): the centre a first
 * commit fixes. NULL when there are none, or out of memory (*oom set). */
static float *tail_mean(const lsh_index *ix, int *oom)
{
    const int dim = ix->dim;
    double *sum = calloc((size_t)dim, sizeof *sum);
    float *x = malloc((size_t)dim * sizeof *x), *mu = malloc((size_t)dim * sizeof *mu);
    size_t n = 0;
    *oom = !sum || !x || !mu;
    for (size_t row = ix->n_committed; !*oom && row < ix->n_rows; row++) {
        if (lsh_bit_get(ix->removed, row))
            continue;
        vecstore_decode(ix->prm.encoding, dim, ix->vecs + row * ix->row_bytes, x);
        for (int j = 0; j < dim; j++)
            sum[j] += x[j];
        n++;
    }
    if (!*oom && n > 0)
        for (int j = 0; j < dim; j++)
            mu[j] = (float)(sum[j] / (double)n);
    free(sum);
    free(x);
    if (*oom || n == 0) {
        free(mu);
        return NULL;
    }
    return mu;
}

/* Codes (L per row) and, with inline codes, sketches of the tail rows, both
 * of the stored (decoded) vector minus the centre mu (NULL: none); row r's
 * at r - n_committed. Every table copies the same sketch bytes. Returns 0,
 * or -1 out of memory with nothing allocated. */
static int hash_tail(const lsh_index *ix, const float *mu, uint32_t **codes_out, uint8_t **sk_out)
{
    const int dim = ix->dim, L = ix->prm.n_tables;
    const size_t n = ix->n_rows - ix->n_committed;
    uint32_t *codes = malloc((n ? n : 1) * (size_t)L * sizeof *codes);
    uint8_t *sk = ix->prm.inline_codes
                      ? calloc((n ? n : 1) * ix->sk_bytes + lsh_sketch_span(ix->sk_bytes), 1)
                      : NULL;
    float *x = malloc(((size_t)dim + lsh_hasher_work_floats(ix->hasher)) * sizeof *x);
    if (!codes || !x || (ix->prm.inline_codes && !sk)) {
        free(codes);
        free(sk);
        free(x);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        vecstore_decode(ix->prm.encoding, dim, ix->vecs + (ix->n_committed + i) * ix->row_bytes, x);
        for (int j = 0; mu && j < dim; j++)
            x[j] -= mu[j];
        lsh_hasher_hash(ix->hasher, x, codes + i * (size_t)L, NULL, x + dim);
        if (sk)
            lsh_sketch_encode(ix->prm.inline_codes, dim, ix->sk_bytes, x, sk + i * ix->sk_bytes);
    }
    free(x);
    *codes_out = codes;
    *sk_out = sk;
    return 0;
}

/* New CSR arrays for table t (into *nt, the table itself untouched): live
 * committed entries in bucket order, then live tail rows, counted then
 * placed (a counting sort by code). */
static int commit_table(const lsh_index *ix, int t, size_t live_entries, const uint32_t *tail_codes,
                        const uint8_t *tail_sk, lsh_table *nt)
{
    const lsh_table *tab = &ix->tables[t];
    const size_t nb = (size_t)1 << ix->prm.k_bits, cap = live_entries ? live_entries : 1;
    const int L = ix->prm.n_tables;
    const int inl = ix->prm.inline_codes;
    uint32_t *off = calloc(nb + 1, sizeof *off);
    uint32_t *rows = malloc(cap * sizeof *rows);
    uint32_t *cursor = malloc(nb * sizeof *cursor);
    nt->sk = inl ? malloc(cap * ix->sk_bytes + lsh_sketch_span(ix->sk_bytes)) : NULL;
    if (nt->sk)   /* the dot products read up to a span past the last sketch */
        memset(nt->sk + cap * ix->sk_bytes, 0, lsh_sketch_span(ix->sk_bytes));
    if (!off || !rows || !cursor || (inl && !nt->sk)) {
        free(off);
        free(rows);
        free(cursor);
        free(nt->sk);
        nt->sk = NULL;
        return -1;
    }
    for (size_t c = 0; c < nb; c++)
        for (uint32_t e = tab->offsets[c]; e < tab->offsets[c + 1]; e++)
            if (!lsh_bit_get(ix->removed, tab->rows[e]))
                off[c + 1]++;
    for (size_t row = ix->n_committed; row < ix->n_rows; row++)
        if (!lsh_bit_get(ix->removed, row))
            off[tail_codes[(row - ix->n_committed) * (size_t)L + t] + 1]++;
    for (size_t c = 0; c < nb; c++)
        off[c + 1] += off[c];
    /* Old entries first, bucket by bucket: each lands at the front of its
     * new bucket; tail rows (all larger) follow, keeping rows ascending. */
    memcpy(cursor, off, nb * sizeof *cursor);
    for (size_t c = 0; c < nb; c++)
        for (uint32_t e = tab->offsets[c]; e < tab->offsets[c + 1]; e++)
            if (!lsh_bit_get(ix->removed, tab->rows[e])) {
                if (inl)
                    memcpy(nt->sk + cursor[c] * ix->sk_bytes, tab->sk + (size_t)e * ix->sk_bytes,
                           ix->sk_bytes);
                rows[cursor[c]++] = tab->rows[e];
            }
    for (size_t row = ix->n_committed; row < ix->n_rows; row++)
        if (!lsh_bit_get(ix->removed, row)) {
            size_t i = row - ix->n_committed;
            uint32_t c = tail_codes[i * (size_t)L + t];
            if (inl)
                memcpy(nt->sk + cursor[c] * ix->sk_bytes, tail_sk + i * ix->sk_bytes, ix->sk_bytes);
            rows[cursor[c]++] = (uint32_t)row;
        }
    free(cursor);
    nt->offsets = off;
    nt->rows = rows;
    return 0;
}

/* All new tables are built before any replaces the old one, so a failure
 * (memory) leaves the index exactly as it was, its centre included. */
int lsh_index_commit(lsh_index *ix, char *err, size_t errlen)
{
    const int L = ix->prm.n_tables;
    size_t live = ix->n_rows - ix->n_removed;
    float *mu_new = NULL;
    int oom = 0;
    if (ix->prm.center && !ix->center)
        mu_new = tail_mean(ix, &oom);
    uint32_t *tail_codes = NULL;
    uint8_t *tail_sk = NULL;
    if (oom || hash_tail(ix, ix->center ? ix->center : mu_new, &tail_codes, &tail_sk) != 0) {
        free(mu_new);
        set_err(err, errlen, "lsh_index_commit: out of memory");
        return -1;
    }
    lsh_table *nt = calloc((size_t)L, sizeof *nt);
    int t = 0;
    while (nt && t < L && commit_table(ix, t, live, tail_codes, tail_sk, &nt[t]) == 0)
        t++;
    free(tail_codes);
    free(tail_sk);
    if (!nt || t < L) {
        for (int i = 0; nt && i < t; i++)
            table_free(&nt[i]);
        free(nt);
        free(mu_new);
        set_err(err, errlen, "lsh_index_commit: out of memory");
        return -1;
    }
    for (int i = 0; i < L; i++) {
        table_free(&ix->tables[i]);
        ix->tables[i] = nt[i];
    }
    free(nt);
    if (mu_new)
        ix->center = mu_new;
    ix->n_entries = live;
    ix->n_committed = ix->n_rows;
    return 0;
}

size_t lsh_index_size(const lsh_index *ix) { return ix->n_rows - ix->n_removed; }
size_t lsh_index_rows(const lsh_index *ix) { return ix->n_rows; }
int lsh_index_dim(const lsh_index *ix) { return ix->dim; }
const lsh_params *lsh_index_params(const lsh_index *ix) { return &ix->prm; }
const lsh_hasher *lsh_index_hasher(const lsh_index *ix) { return ix->hasher; }
int lsh_index_is_removed(const lsh_index *ix, size_t row)
{
    return row < ix->n_rows && lsh_bit_get(ix->removed, row);
}

size_t lsh_index_memory(const lsh_index *ix)
{
    size_t nb = (size_t)1 << ix->prm.k_bits;
    size_t bytes = sizeof *ix + ix->cap_rows * (ix->row_bytes + sizeof(int64_t))
                 + (ix->cap_rows + 63) / 64 * 8
                 + (ix->center ? (size_t)ix->dim * sizeof(float) : 0)
                 + (size_t)lsh_hasher_rotations(ix->hasher) * 3 * lsh_hasher_padded_dim(ix->hasher) * 4;
    size_t per_entry = 4 + ix->sk_bytes;
    bytes += (size_t)ix->prm.n_tables * ((nb + 1) * 4 + ix->n_entries * per_entry);
    return bytes;
}

const uint32_t *lsh_index_bucket(const lsh_index *ix, int t, uint32_t code, size_t *count)
{
    if (t < 0 || t >= ix->prm.n_tables || code >= ((uint64_t)1 << ix->prm.k_bits)) {
        *count = 0;
        return NULL;
    }
    const lsh_table *tab = &ix->tables[t];
    *count = tab->offsets[code + 1] - tab->offsets[code];
    return tab->rows + tab->offsets[code];
}

int64_t lsh_index_bucket_of(const lsh_index *ix, int t, size_t row)
{
    if (t < 0 || t >= ix->prm.n_tables || row >= ix->n_committed)
        return -1;
    const lsh_table *tab = &ix->tables[t];
    size_t nb = (size_t)1 << ix->prm.k_bits;
    for (size_t c = 0; c < nb; c++)
        for (uint32_t e = tab->offsets[c]; e < tab->offsets[c + 1]; e++)
            if (tab->rows[e] == row)
                return (int64_t)c;
    return -1;
}

int lsh_index_row(const lsh_index *ix, size_t row, int64_t *label, float *out)
{
    if (row >= ix->n_rows)
        return -1;
    if (label)
        *label = ix->labels[row];
    if (out)
        vecstore_decode(ix->prm.encoding, ix->dim, ix->vecs + row * ix->row_bytes, out);
    return 0;
}
