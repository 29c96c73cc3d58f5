/*
 * lsh_index.c — the in-memory LSH vector index: stored vectors, L tables of
 * K-bit buckets, incremental add/remove, multi-probe search with exact
 * re-scoring.
 *
 * Layout, chosen for query speed. Vectors live in one block of fixed-size
 * encoded rows (store/store.h, vector encodings), addressed by row number. Each table is a
 * CSR bucket array: offsets[2^K + 1] and rows[], where bucket c holds
 * rows[offsets[c] .. offsets[c+1]), ascending. A probe is then two loads and
 * a contiguous run of 4-byte row numbers, with no hashing and no pointer
 * chasing; offsets cost 4 * 2^K bytes per table, hence K <= LSH_MAX_BITS.
 * (Collections persist the same buckets in LMDB as a dupsort database keyed
 * by (table, code), store/lsh_store.c; this structure is what a search
 * process builds from it, and what the benchmark measures.)
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
 * index rebuilt from stored rows hashes every vector the same way.
 *
 * Search: hash the query (codes + margins), generate the probe sequence
 * (lsh_probe.c), gather distinct candidate rows with a bitmap, re-score them
 * with the exact dot product against the stored rows (prefetching a few rows
 * ahead: candidates are scattered, so this loop is memory-bound), keep the
 * top k in a min-heap. The bitmap is cleared through the candidate list, so a
 * query costs time in proportion to its candidates, not to the index size.
 *
 * Inline sketches (lsh_params.inline_codes). Re-scoring scattered rows is
 * bound by memory latency: at 40K candidates a query spends most of its time
 * waiting for rows, whatever the encoding (an int8 row is still two cache
 * lines somewhere in a 100+ MB block). With inline codes, every bucket entry
 * also carries an int8 sketch of its vector (the unit vector times 127/amax,
 * rounded; zero-padded to a multiple of 32 bytes, so the dot product has
 * no scalar remainder loop) in an array parallel to
 * rows[], so a probe reads one contiguous run of sketches that the hardware
 * prefetcher streams. The query is sketched the same way and scored against
 * every new candidate with an integer dot product (a loop the compiler turns
 * into multiply-add instructions); the best LSH_RERANK_MIN / 4k of those go
 * through exact re-scoring against the stored rows as before. The price is
 * memory, L sketches per vector, which is why it pays with few tables (the
 * tuned layouts use 4 to 12) and is an option, not the default.
 */
#include "query/query.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct lsh_table {
    uint32_t *offsets;  /* 2^K + 1 */
    uint32_t *rows;     /* entries, grouped by code, ascending rows within a code */
    uint8_t *sk;        /* inline codes only: entry e's sketch at sk + e * sk_bytes */
} lsh_table;

struct lsh_index {
    int dim;
    lsh_params prm;
    lsh_hasher *hasher;
    size_t row_bytes;      /* stride between rows: the encoded row rounded up
                              to whole 64-byte cache lines (see reserve_rows) */
    size_t sk_bytes;       /* inline codes: bytes of one entry's sketch */

    unsigned char *vecs;   /* cap_rows * row_bytes */
    int64_t *labels;
    uint64_t *removed;     /* bitmap over rows */
    size_t n_rows, cap_rows;
    size_t n_removed;

    size_t n_committed;    /* rows below this are in the buckets unless removed before commit */
    size_t n_entries;      /* entries per table */
    uint32_t *tail_codes;  /* (n_rows - n_committed) * L codes of the tail rows */
    size_t tail_cap;       /* rows tail_codes has room for */
    lsh_table *tables;
};

enum { LSH_PREFETCH = 12 };

/* Inline codes: sketch-scored candidates kept for exact re-scoring, at least
 * this many and at least 4k. Sketch scores err by about 1e-3 (int8 steps of
 * amax/127 on both sides), far less than the gap between a true top-10 hit
 * and the 40th candidate on real data. */
enum { LSH_RERANK_MIN = 40 };

/* Inline codes: how many probes ahead a bucket's first lines are fetched. */
enum { LSH_PROBE_AHEAD = 4, LSH_PREFETCH_BYTES = 4096 };

/* Cross-polytope probes are ordered in installments of this many. */
enum { LSH_PROBE_BATCH = 64 };

/* A kept candidate: its row, not its label, so re-scoring touches the
 * labels array (one more cache miss per candidate) only on score ties. */
typedef struct row_hit {
    float score;
    uint32_t row;
} row_hit;

struct lsh_scratch {
    uint32_t *codes;       /* L */
    float *margins;        /* L*K */
    float *work;           /* hasher work */
    float *q;              /* normalised query */
    void *probe_work;
    lsh_probe *probes;
    int probes_cap;
    int n_gen;             /* probes[0..n_gen) generated for this query */
    int gen_done;          /* the sequence is complete (or cut at its budget) */
    uint64_t *seen;        /* bitmap over rows */
    size_t seen_rows;
    uint32_t *cand;
    size_t cand_cap;
    row_hit *heap;
    int heap_cap;
    row_hit *pre;          /* inline codes: the sketch-scored shortlist */
    int pre_cap;
    int8_t *qlo, *qhi;     /* inline codes: the query's sketch (sk_bytes each) */
    size_t max_candidates; /* 0 = no limit (lsh_scratch_set_limit) */
};

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

static int bit_get(const uint64_t *b, size_t i) { return (int)((b[i >> 6] >> (i & 63)) & 1); }
static void bit_set(uint64_t *b, size_t i) { b[i >> 6] |= 1ull << (i & 63); }
static void bit_clear(uint64_t *b, size_t i) { b[i >> 6] &= ~(1ull << (i & 63)); }

lsh_index *lsh_index_new(int dim, const lsh_params *p, char *err, size_t errlen)
{
    lsh_params prm;
    if (p)
        prm = *p;
    else
        lsh_params_init(&prm);
    if (prm.family == LSH_CROSSPOLYTOPE) {
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
    free(ix->tail_codes);
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

/* Room for the codes of a tail of `rows` rows (they go when committed). */
static int reserve_tail(lsh_index *ix, size_t rows)
{
    if (rows <= ix->tail_cap)
        return 0;
    size_t cap = 2 * ix->tail_cap > rows ? 2 * ix->tail_cap : rows;
    uint32_t *tc = realloc(ix->tail_codes, cap * (size_t)ix->prm.n_tables * sizeof *tc);
    if (!tc)
        return -1;
    ix->tail_codes = tc;
    ix->tail_cap = cap;
    return 0;
}

int lsh_index_add(lsh_index *ix, size_t n, const int64_t *labels, const float *vecs,
                  char *err, size_t errlen)
{
    if (!ix || (n && !vecs)) {
        set_err(err, errlen, "lsh_index_add: null argument");
        return -1;
    }
    if (reserve_rows(ix, ix->n_rows + n) != 0 ||
        reserve_tail(ix, ix->n_rows + n - ix->n_committed) != 0) {
        set_err(err, errlen, "lsh_index_add: out of memory");
        return -1;
    }
    const int dim = ix->dim, L = ix->prm.n_tables;
    float *buf = malloc(((size_t)dim + lsh_hasher_work_floats(ix->hasher)) * sizeof *buf);
    if (!buf) {
        set_err(err, errlen, "lsh_index_add: out of memory");
        return -1;
    }
    float *work = buf + dim;
    for (size_t i = 0; i < n; i++) {
        const float *x = vecs + i * (size_t)dim;
        double ss = 0.0;
        for (int j = 0; j < dim; j++)
            ss += (double)x[j] * x[j];
        float inv = ss > 0.0 ? (float)(1.0 / sqrt(ss)) : 0.0f;
        for (int j = 0; j < dim; j++)
            buf[j] = x[j] * inv;
        size_t row = ix->n_rows;
        unsigned char *dst = ix->vecs + row * ix->row_bytes;
        vecstore_encode(ix->prm.encoding, dim, buf, dst);
        vecstore_decode(ix->prm.encoding, dim, dst, buf);  /* hash what is stored */
        lsh_hasher_hash(ix->hasher, buf, ix->tail_codes + (row - ix->n_committed) * (size_t)L,
                        NULL, work);
        ix->labels[row] = labels ? labels[i] : (int64_t)row;
        ix->n_rows++;
    }
    free(buf);
    if (ix->n_rows - ix->n_committed > 4096 + ix->n_committed / 16)
        return lsh_index_commit(ix, err, errlen);
    return 0;
}

int lsh_index_add_encoded(lsh_index *ix, size_t n, const int64_t *labels, const void *rows,
                          char *err, size_t errlen)
{
    if (!ix || (n && (!rows || !labels))) {
        set_err(err, errlen, "lsh_index_add_encoded: null argument");
        return -1;
    }
    if (reserve_rows(ix, ix->n_rows + n) != 0 ||
        reserve_tail(ix, ix->n_rows + n - ix->n_committed) != 0) {
        set_err(err, errlen, "lsh_index_add_encoded: out of memory");
        return -1;
    }
    const int dim = ix->dim, L = ix->prm.n_tables;
    const size_t rb = vecstore_row_bytes(ix->prm.encoding, dim);
    float *buf = malloc(((size_t)dim + lsh_hasher_work_floats(ix->hasher)) * sizeof *buf);
    if (!buf) {
        set_err(err, errlen, "lsh_index_add_encoded: out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        size_t row = ix->n_rows;
        unsigned char *dst = ix->vecs + row * ix->row_bytes;
        memcpy(dst, (const unsigned char *)rows + i * rb, rb);
        memset(dst + rb, 0, ix->row_bytes - rb);
        vecstore_decode(ix->prm.encoding, dim, dst, buf);
        lsh_hasher_hash(ix->hasher, buf, ix->tail_codes + (row - ix->n_committed) * (size_t)L,
                        NULL, buf + dim);
        ix->labels[row] = labels[i];
        ix->n_rows++;
    }
    free(buf);
    if (ix->n_rows - ix->n_committed > 4096 + ix->n_committed / 16)
        return lsh_index_commit(ix, err, errlen);
    return 0;
}

int lsh_index_remove(lsh_index *ix, int64_t label)
{
    for (size_t row = 0; row < ix->n_rows; row++) {
        if (ix->labels[row] == label && !bit_get(ix->removed, row)) {
            bit_set(ix->removed, row);
            ix->n_removed++;
            return 0;
        }
    }
    return -1;
}

/* Sketches of the tail rows, from their stored (decoded) vectors, so every
 * table copies the same bytes: row r's at (r - n_committed) * sk_bytes. */
static uint8_t *tail_sketches(const lsh_index *ix)
{
    size_t n = ix->n_rows - ix->n_committed;
    uint8_t *sk = malloc((n ? n : 1) * ix->sk_bytes);
    float *x = malloc((size_t)ix->dim * sizeof *x);
    if (!sk || !x) {
        free(sk);
        free(x);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        size_t row = ix->n_committed + i;
        vecstore_decode(ix->prm.encoding, ix->dim, ix->vecs + row * ix->row_bytes, x);
        lsh_sketch_encode(ix->prm.inline_codes, ix->dim, ix->sk_bytes, x, sk + i * ix->sk_bytes);
    }
    free(x);
    return sk;
}

/* New CSR arrays for table t (into *nt, the table itself untouched): live
 * committed entries in bucket order, then live tail rows, counted then
 * placed (a counting sort by code). */
static int commit_table(const lsh_index *ix, int t, size_t live_entries, const uint8_t *tail_sk,
                        lsh_table *nt)
{
    const lsh_table *tab = &ix->tables[t];
    const size_t nb = (size_t)1 << ix->prm.k_bits, cap = live_entries ? live_entries : 1;
    const int L = ix->prm.n_tables;
    const int inl = ix->prm.inline_codes;
    uint32_t *off = calloc(nb + 1, sizeof *off);
    uint32_t *rows = malloc(cap * sizeof *rows);
    uint32_t *cursor = malloc(nb * sizeof *cursor);
    nt->sk = inl ? malloc(cap * ix->sk_bytes) : NULL;
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
            if (!bit_get(ix->removed, tab->rows[e]))
                off[c + 1]++;
    for (size_t row = ix->n_committed; row < ix->n_rows; row++)
        if (!bit_get(ix->removed, row))
            off[ix->tail_codes[(row - ix->n_committed) * (size_t)L + t] + 1]++;
    for (size_t c = 0; c < nb; c++)
        off[c + 1] += off[c];
    /* Old entries first, bucket by bucket: each lands at the front of its
     * new bucket; tail rows (all larger) follow, keeping rows ascending. */
    memcpy(cursor, off, nb * sizeof *cursor);
    for (size_t c = 0; c < nb; c++)
        for (uint32_t e = tab->offsets[c]; e < tab->offsets[c + 1]; e++)
            if (!bit_get(ix->removed, tab->rows[e])) {
                if (inl)
                    memcpy(nt->sk + cursor[c] * ix->sk_bytes, tab->sk + (size_t)e * ix->sk_bytes,
                           ix->sk_bytes);
                rows[cursor[c]++] = tab->rows[e];
            }
    for (size_t row = ix->n_committed; row < ix->n_rows; row++)
        if (!bit_get(ix->removed, row)) {
            size_t i = row - ix->n_committed;
            uint32_t c = ix->tail_codes[i * (size_t)L + t];
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
 * (memory) leaves the index exactly as it was. */
int lsh_index_commit(lsh_index *ix, char *err, size_t errlen)
{
    const int L = ix->prm.n_tables;
    size_t live = ix->n_rows - ix->n_removed;
    uint8_t *tail_sk = NULL;
    if (ix->prm.inline_codes && !(tail_sk = tail_sketches(ix))) {
        set_err(err, errlen, "lsh_index_commit: out of memory");
        return -1;
    }
    lsh_table *nt = calloc((size_t)L, sizeof *nt);
    int t = 0;
    while (nt && t < L && commit_table(ix, t, live, tail_sk, &nt[t]) == 0)
        t++;
    free(tail_sk);
    if (!nt || t < L) {
        for (int i = 0; nt && i < t; i++)
            table_free(&nt[i]);
        free(nt);
        set_err(err, errlen, "lsh_index_commit: out of memory");
        return -1;
    }
    for (int i = 0; i < L; i++) {
        table_free(&ix->tables[i]);
        ix->tables[i] = nt[i];
    }
    free(nt);
    ix->n_entries = live;
    ix->n_committed = ix->n_rows;
    free(ix->tail_codes);   /* the tail is empty now */
    ix->tail_codes = NULL;
    ix->tail_cap = 0;
    return 0;
}

size_t lsh_index_size(const lsh_index *ix) { return ix->n_rows - ix->n_removed; }
size_t lsh_index_rows(const lsh_index *ix) { return ix->n_rows; }
int lsh_index_dim(const lsh_index *ix) { return ix->dim; }
const lsh_params *lsh_index_params(const lsh_index *ix) { return &ix->prm; }
const lsh_hasher *lsh_index_hasher(const lsh_index *ix) { return ix->hasher; }
int lsh_index_is_removed(const lsh_index *ix, size_t row)
{
    return row < ix->n_rows && bit_get(ix->removed, row);
}

size_t lsh_index_memory(const lsh_index *ix)
{
    size_t nb = (size_t)1 << ix->prm.k_bits;
    size_t bytes = sizeof *ix + ix->cap_rows * (ix->row_bytes + sizeof(int64_t))
                 + (ix->cap_rows + 63) / 64 * 8
                 + ix->tail_cap * (size_t)ix->prm.n_tables * 4
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

/* ------------------------------------------------------------- searching */

lsh_scratch *lsh_scratch_new(const lsh_index *ix)
{
    lsh_scratch *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    int L = ix->prm.n_tables;
    s->codes = malloc((size_t)L * sizeof *s->codes);
    s->margins = malloc(lsh_hasher_margin_floats(ix->hasher) * sizeof *s->margins);
    s->work = malloc(lsh_hasher_work_floats(ix->hasher) * sizeof *s->work);
    s->q = malloc((size_t)ix->dim * sizeof *s->q);
    if (!s->codes || !s->margins || !s->work || !s->q) {
        lsh_scratch_free(s);
        return NULL;
    }
    return s;
}

void lsh_scratch_free(lsh_scratch *s)
{
    if (!s)
        return;
    free(s->codes);
    free(s->margins);
    free(s->work);
    free(s->q);
    free(s->probe_work);
    free(s->probes);
    free(s->seen);
    free(s->cand);
    free(s->heap);
    free(s->pre);
    free(s->qlo);
    free(s->qhi);
    free(s);
}

/* Inline codes: how many sketch-scored candidates get exact re-scoring. */
static int rerank_depth(int k)
{
    return 4 * k > LSH_RERANK_MIN ? 4 * k : LSH_RERANK_MIN;
}

/* Grows the scratch for this index and request; it belongs to one thread. */
static int scratch_fit(lsh_scratch *s, const lsh_index *ix, int tables, int probes, int k)
{
    if (probes > s->probes_cap) {
        free(s->probe_work);
        free(s->probes);
        if (ix->prm.family == LSH_CROSSPOLYTOPE)
            s->probe_work = malloc(lsh_probe_xp_work_bytes(ix->prm.n_tables, ix->prm.per_table,
                                                           ix->prm.cp_dim, probes));
        else
            s->probe_work = malloc(lsh_probe_work_bytes(ix->prm.n_tables, ix->prm.k_bits, probes));
        s->probes = malloc((size_t)probes * sizeof *s->probes);
        s->probes_cap = (s->probe_work && s->probes) ? probes : 0;
        if (!s->probes_cap)
            return -1;
    }
    if (ix->n_rows > s->seen_rows) {
        size_t words = (ix->n_rows + 63) / 64;
        free(s->seen);
        s->seen = calloc(words, sizeof *s->seen);
        s->seen_rows = s->seen ? words * 64 : 0;
        if (!s->seen)
            return -1;
    }
    if (k > s->heap_cap) {
        free(s->heap);
        s->heap = malloc((size_t)k * sizeof *s->heap);
        s->heap_cap = s->heap ? k : 0;
        if (!s->heap)
            return -1;
    }
    if (ix->prm.inline_codes) {
        int depth = rerank_depth(k);
        if (depth > s->pre_cap) {
            free(s->pre);
            s->pre = malloc((size_t)depth * sizeof *s->pre);
            s->pre_cap = s->pre ? depth : 0;
            if (!s->pre)
                return -1;
        }
        if (!s->qlo && !(s->qlo = malloc(ix->sk_bytes)))
            return -1;
        if (!s->qhi && !(s->qhi = malloc(ix->sk_bytes)))
            return -1;
    }
    (void)tables;
    return 0;
}

static int push_candidate(lsh_scratch *s, uint32_t row, size_t *n)
{
    if (*n == s->cand_cap) {
        size_t cap = s->cand_cap ? 2 * s->cand_cap : 4096;
        uint32_t *c = realloc(s->cand, cap * sizeof *c);
        if (!c)
            return -1;
        s->cand = c;
        s->cand_cap = cap;
    }
    s->cand[(*n)++] = row;
    return 0;
}


/* a ranks below b: lower score, or equal score and larger label. */
static int row_worse(const lsh_index *ix, row_hit a, row_hit b)
{
    if (a.score != b.score)
        return a.score < b.score;
    return ix->labels[a.row] > ix->labels[b.row];
}

/* Min-heap of the best k so far; heap[0] is the worst kept. */
static void topk_offer(const lsh_index *ix, row_hit *heap, int *n, int k, row_hit h)
{
    int i;
    if (*n < k) {
        i = (*n)++;
        while (i > 0 && row_worse(ix, h, heap[(i - 1) / 2])) {
            heap[i] = heap[(i - 1) / 2];
            i = (i - 1) / 2;
        }
        heap[i] = h;
        return;
    }
    if (!row_worse(ix, heap[0], h))
        return;
    i = 0;
    for (;;) {
        int c = 2 * i + 1;
        if (c >= *n)
            break;
        if (c + 1 < *n && row_worse(ix, heap[c + 1], heap[c]))
            c++;
        if (!row_worse(ix, heap[c], h))
            break;
        heap[i] = heap[c];
        i = c;
    }
    heap[i] = h;
}

/* Final order: descending score, ties by ascending label. */
static int cmp_hit_desc(const void *a, const void *b)
{
    const lsh_hit *x = a, *y = b;
    if (x->score != y->score)
        return x->score < y->score ? 1 : -1;
    return (x->label > y->label) - (x->label < y->label);
}

void lsh_scratch_set_limit(lsh_scratch *s, size_t max_candidates)
{
    s->max_candidates = max_candidates;
}

/* Resets the seen bitmap after a query: bit by bit through the candidate
 * list when it is short, by memset when the candidates are many (a big
 * query touches most words anyway, and one sequential clear of a few tens
 * of KB beats tens of thousands of scattered read-modify-writes). */
static void clear_seen(lsh_scratch *s, size_t n_cand)
{
    size_t words = s->seen_rows / 64;
    if (n_cand > words / 8) {
        memset(s->seen, 0, words * sizeof *s->seen);
        return;
    }
    for (size_t i = 0; i < n_cand; i++)
        bit_clear(s->seen, s->cand[i]);
}

/* The query's probe sequence. Hyperplane sequences are written whole;
 * cross-polytope ones are ordered in installments as the scan asks for them
 * (probes_upto), since a search that reaches its candidate limit stops
 * early and the rest of a long sequence would be ordered for nothing. */
static void probes_begin(const lsh_index *ix, lsh_scratch *s, int tables, int probes)
{
    s->n_gen = 0;
    s->gen_done = 1;
    if (ix->prm.family == LSH_CROSSPOLYTOPE)
        s->gen_done = lsh_probe_xp_start(s->codes, s->margins, tables, ix->prm.per_table,
                                         ix->prm.cp_dim, lsh_hasher_fn_bits(ix->hasher), probes,
                                         s->probe_work) != 0;
    else
        s->n_gen = lsh_probe_sequence(s->codes, s->margins, tables, ix->prm.k_bits, probes,
                                      s->probe_work, s->probes);
}

/* How many of the first `want` probes exist, generating more if needed. */
static inline int probes_upto(lsh_scratch *s, int want)
{
    while (s->n_gen < want && !s->gen_done) {
        int got = lsh_probe_xp_next(s->probe_work, want - s->n_gen + LSH_PROBE_BATCH,
                                    s->probes + s->n_gen);
        s->n_gen += got;
        s->gen_done = got == 0;
    }
    return s->n_gen < want ? s->n_gen : want;
}

/* Distinct candidate rows of the probed buckets, then every tail row.
 * Probing stops after the bucket that reaches the scratch's candidate limit:
 * a query in a crowded region (rare words in GloVe) then costs a bounded
 * time, at some recall for that query. */
static int gather(const lsh_index *ix, lsh_scratch *s, int *n_probed, size_t *n_cand)
{
    size_t n = 0;
    int i = 0;
    for (; i < probes_upto(s, i + 1); i++) {
        if (s->max_candidates && n >= s->max_candidates)
            break;
        const lsh_table *tab = &ix->tables[s->probes[i].table];
        uint32_t code = s->probes[i].code;
        for (uint32_t e = tab->offsets[code]; e < tab->offsets[code + 1]; e++) {
            uint32_t row = tab->rows[e];
            if (bit_get(s->seen, row))
                continue;
            bit_set(s->seen, row);
            if (push_candidate(s, row, &n) != 0) {
                *n_cand = n;   /* the caller clears the bitmap through them */
                return -1;
            }
        }
    }
    *n_probed = i;
    for (size_t row = ix->n_committed; row < ix->n_rows; row++)
        if (push_candidate(s, (uint32_t)row, &n) != 0) {
            *n_cand = n;
            return -1;
        }
    *n_cand = n;
    return 0;
}

/* A probe's bucket (its first LSH_PREFETCH_BYTES of sketches), a few probes
 * ahead of the scan: a bucket is contiguous but each probe jumps to a new
 * one, and a typical bucket (tens of entries) is over before the hardware
 * prefetcher has caught on. */
static void prefetch_bucket(const lsh_index *ix, const lsh_probe *p)
{
    const lsh_table *tab = &ix->tables[p->table];
    uint32_t e = tab->offsets[p->code], end = tab->offsets[p->code + 1];
    for (uint32_t r = e; r < end; r += 16)
        __builtin_prefetch(tab->rows + r);
    const uint8_t *sk = tab->sk + (size_t)e * ix->sk_bytes;
    size_t bytes = (size_t)(end - e) * ix->sk_bytes;
    if (bytes > LSH_PREFETCH_BYTES)
        bytes = LSH_PREFETCH_BYTES;
    for (size_t b = 0; b < bytes; b += 64)
        __builtin_prefetch(sk + b);
}

/* Inline codes: gather and sketch-score in one pass over the probed buckets
 * (see the top of the file), keeping the best `depth` in s->pre; tail rows
 * have no sketch and enter with their exact score. Fills s->cand like gather
 * (the bitmap is cleared from it). */
static int scan_inline(const lsh_index *ix, lsh_scratch *s, int depth, int *n_probed,
                       size_t *n_cand, int *n_pre)
{
    const size_t skb = ix->sk_bytes;
    const int bits = ix->prm.inline_codes;
    const float sq = lsh_sketch_query(bits, ix->dim, skb, s->q, s->qlo, s->qhi);
    size_t n = 0;
    int np = 0, i = 0;
    for (; i < probes_upto(s, i + 1); i++) {
        if (s->max_candidates && n >= s->max_candidates)
            break;
        int ahead = probes_upto(s, i + 2 * LSH_PROBE_AHEAD + 1);
        if (i + 2 * LSH_PROBE_AHEAD < ahead) {  /* its offsets first, then its bucket */
            const lsh_probe *p = &s->probes[i + 2 * LSH_PROBE_AHEAD];
            __builtin_prefetch(ix->tables[p->table].offsets + p->code);
        }
        if (i + LSH_PROBE_AHEAD < ahead)
            prefetch_bucket(ix, &s->probes[i + LSH_PROBE_AHEAD]);
        const lsh_table *tab = &ix->tables[s->probes[i].table];
        uint32_t code = s->probes[i].code;
        for (uint32_t e = tab->offsets[code]; e < tab->offsets[code + 1]; e++) {
            uint32_t row = tab->rows[e];
            if (bit_get(s->seen, row))
                continue;
            bit_set(s->seen, row);
            if (push_candidate(s, row, &n) != 0)
                goto fail;
            if (ix->n_removed && bit_get(ix->removed, row))
                continue;
            float a = sq * lsh_sketch_score(bits, skb, s->qlo, s->qhi, tab->sk + (size_t)e * skb);
            if (np == depth && a < s->pre[0].score)
                continue;   /* the common case once the shortlist is full */
            topk_offer(ix, s->pre, &np, depth, (row_hit){a, row});
        }
    }
    *n_probed = i;
    for (size_t row = ix->n_committed; row < ix->n_rows; row++) {
        if (push_candidate(s, (uint32_t)row, &n) != 0)
            goto fail;
        if (bit_get(ix->removed, row))
            continue;
        row_hit h = {vecstore_dot(ix->prm.encoding, ix->dim, s->q, ix->vecs + row * ix->row_bytes),
                     (uint32_t)row};
        topk_offer(ix, s->pre, &np, depth, h);
    }
    *n_cand = n;
    *n_pre = np;
    return 0;
fail:
    *n_cand = n;
    *n_pre = 0;
    return -1;
}

/* Inline codes: sketch-score the probed buckets, then re-score the shortlist
 * exactly into s->heap. */
static int score_inline(const lsh_index *ix, lsh_scratch *s, int k, int *n_probed,
                        size_t *n_cand, int *n_heap)
{
    int n_pre = 0;
    if (scan_inline(ix, s, rerank_depth(k), n_probed, n_cand, &n_pre) != 0)
        return -1;
    for (int i = 0; i < n_pre; i++)
        __builtin_prefetch(ix->vecs + (size_t)s->pre[i].row * ix->row_bytes);
    for (int i = 0; i < n_pre; i++) {
        uint32_t row = s->pre[i].row;
        row_hit h = {vecstore_dot(ix->prm.encoding, ix->dim, s->q, ix->vecs + (size_t)row * ix->row_bytes),
                     row};
        topk_offer(ix, s->heap, n_heap, k, h);
    }
    return 0;
}

/* Row layout: gather distinct candidates, then the exact re-scoring of each,
 * score = q . decode(row), every cache line of a row prefetched LSH_PREFETCH
 * candidates ahead (rows are scattered: without it each row costs a full
 * memory latency). */
static int score_gathered(const lsh_index *ix, lsh_scratch *s, int k, int *n_probed,
                          size_t *n_cand, int *n_heap)
{
    if (gather(ix, s, n_probed, n_cand) != 0)
        return -1;
    const size_t n = *n_cand;
    for (size_t i = 0; i < n; i++) {
        if (i + LSH_PREFETCH < n) {
            uintptr_t a = (uintptr_t)(ix->vecs + (size_t)s->cand[i + LSH_PREFETCH] * ix->row_bytes);
            for (uintptr_t line = a & ~(uintptr_t)63; line < a + ix->row_bytes; line += 64)
                __builtin_prefetch((const void *)line);
        }
        uint32_t row = s->cand[i];
        if (bit_get(ix->removed, row))
            continue;
        row_hit h = {vecstore_dot(ix->prm.encoding, ix->dim, s->q, ix->vecs + (size_t)row * ix->row_bytes),
                     row};
        topk_offer(ix, s->heap, n_heap, k, h);
    }
    return 0;
}

int lsh_index_search(const lsh_index *ix, lsh_scratch *s, const float *query, int k,
                     int probes, int tables, lsh_hit *out, lsh_search_stats *stats)
{
    if (!ix || !s || !query || !out || k < 1)
        return -1;
    const int L = ix->prm.n_tables, dim = ix->dim;
    if (tables <= 0 || tables > L)
        tables = L;
    if (probes <= 0)
        probes = ix->prm.probes;
    if (probes < tables)
        probes = tables;
    if (scratch_fit(s, ix, tables, probes, k) != 0)
        return -1;

    double ss = 0.0;
    for (int j = 0; j < dim; j++)
        ss += (double)query[j] * query[j];
    float inv = ss > 0.0 ? (float)(1.0 / sqrt(ss)) : 0.0f;
    for (int j = 0; j < dim; j++)
        s->q[j] = query[j] * inv;

    lsh_hasher_hash(ix->hasher, s->q, s->codes, s->margins, s->work);
    probes_begin(ix, s, tables, probes);
    size_t n_cand = 0;
    int n_heap = 0, n_probes = 0;
    int rc = ix->prm.inline_codes ? score_inline(ix, s, k, &n_probes, &n_cand, &n_heap)
                                  : score_gathered(ix, s, k, &n_probes, &n_cand, &n_heap);
    clear_seen(s, n_cand);
    if (rc != 0)
        return -1;
    for (int i = 0; i < n_heap; i++) {
        out[i].label = ix->labels[s->heap[i].row];
        out[i].score = s->heap[i].score;
    }
    qsort(out, (size_t)n_heap, sizeof *out, cmp_hit_desc);
    if (stats) {
        stats->probes = (size_t)n_probes;
        stats->candidates = n_cand;
    }
    return n_heap;
}
