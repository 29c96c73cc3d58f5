/*
 * lsh_search.c — multi-probe search of the in-memory LSH index
 * (lsh_index.c) with exact re-scoring.
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
 * also carries a 4- or 8-bit sketch of its vector (lsh_sketch.c) in an array
 * parallel to rows[], so a probe reads one contiguous run of sketches. The
 * query is sketched at 8 bits and scored against every new candidate with an
 * integer dot product; the best max(4k, LSH_RERANK_MIN) of those go through
 * exact re-scoring against the stored rows, so returned scores are exact.
 * Buckets hold a handful of entries, too few for the hardware prefetcher,
 * so each bucket's start is prefetched LSH_PROBE_AHEAD probes ahead (its
 * offsets entry twice as far), and cross-polytope probes are ordered in
 * installments, so a search stopped by its candidate limit does not order
 * probes it will never read. The price is memory, L sketches per vector,
 * which is why the layout goes with 8 to 32 tables rather than 64 to 128.
 * Entries are scored before they are deduplicated (sketch_scan says why).
 *
 * A centred index (lsh_index.c) hashes q - mu; its sketches are of x - mu,
 * so a sketch score estimates q.x - q.mu and q.mu is added back, which puts
 * the sketch-scored and the exactly scored (tail) candidates on one scale.
 *
 * A search belongs to one thread and its lsh_scratch; many run at once on
 * one index, which they only read.
 */
#include "query/query.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    float *qc;             /* centred index: q - mu, what is hashed */
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
    s->qc = malloc((size_t)ix->dim * sizeof *s->qc);
    if (!s->codes || !s->margins || !s->work || !s->q || !s->qc) {
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
    free(s->qc);
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
        if (!s->qlo && !(s->qlo = malloc(lsh_sketch_span(ix->sk_bytes))))
            return -1;
        if (!s->qhi && !(s->qhi = malloc(lsh_sketch_span(ix->sk_bytes))))
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


/* Marks row seen and lists it in s->cand (through which the bitmap is
 * cleared): 1 when it was new, 0 when already seen, -1 out of memory. */
static inline int mark_seen(lsh_scratch *s, uint32_t row, size_t *n)
{
    if (lsh_bit_get(s->seen, row))
        return 0;
    lsh_bit_set(s->seen, row);
    return push_candidate(s, row, n) == 0 ? 1 : -1;
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
        lsh_bit_clear(s->seen, s->cand[i]);
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

/* The offsets entry of the probe 2 * LSH_PROBE_AHEAD ahead, then the bucket
 * of the one LSH_PROBE_AHEAD ahead (inline layout). */
static void prefetch_ahead(const lsh_index *ix, lsh_scratch *s, int i)
{
    int ahead = probes_upto(s, i + 2 * LSH_PROBE_AHEAD + 1);
    if (i + 2 * LSH_PROBE_AHEAD < ahead) {
        const lsh_probe *p = &s->probes[i + 2 * LSH_PROBE_AHEAD];
        __builtin_prefetch(ix->tables[p->table].offsets + p->code);
    }
    if (i + LSH_PROBE_AHEAD < ahead)
        prefetch_bucket(ix, &s->probes[i + LSH_PROBE_AHEAD]);
}

/* Row layout: the distinct candidate rows of the probed buckets, then every
 * tail row, into s->cand (*n_cand of them; the caller clears the bitmap
 * through them, failure included). Probing stops after the bucket that
 * reaches the scratch's candidate limit: a query in a crowded region (rare
 * words in GloVe) then costs a bounded time, at some recall for that query. */
static int gather(const lsh_index *ix, lsh_scratch *s, int *n_probed, size_t *n_cand)
{
    size_t n = 0;
    int i = 0;
    for (; i < probes_upto(s, i + 1); i++) {
        if (s->max_candidates && n >= s->max_candidates)
            break;
        const lsh_table *tab = &ix->tables[s->probes[i].table];
        uint32_t code = s->probes[i].code;
        for (uint32_t e = tab->offsets[code]; e < tab->offsets[code + 1]; e++)
            if (mark_seen(s, tab->rows[e], &n) < 0)
                goto fail;
    }
    *n_probed = i;
    for (size_t row = ix->n_committed; row < ix->n_rows; row++)
        if (push_candidate(s, (uint32_t)row, &n) != 0)
            goto fail;
    *n_cand = n;
    return 0;
fail:
    *n_cand = n;
    return -1;
}

/* Inline layout: sketch-score every entry of the probed buckets, keeping the
 * best `depth` rows in s->pre (*n_pre of them); tail rows have no sketch and
 * enter with their exact score. *n_scored counts the sketches scored, the
 * measure the candidate limit applies to here.
 *
 * Rows are not deduplicated before scoring. A row found in several tables
 * has the same sketch, hence the same score, in each, so only a row that
 * beats the shortlist's threshold needs the seen bitmap: the first time it
 * is offered, and never again (the threshold only rises, so a row turned
 * down once is turned down every time). Scoring the 10-15 % duplicates
 * costs less than the bitmap test before every score did: that test was a
 * branch on a random bit, so mispredicted for every duplicate, and kept
 * the row numbers on the hot path. Measured on GloVe (L = 24): about 18 %
 * more queries per second at the same recall. Rows offered go to s->cand
 * (*n_marked), through which the caller clears the bitmap. */
static int sketch_scan(const lsh_index *ix, lsh_scratch *s, int depth, int *n_probed,
                       size_t *n_scored, size_t *n_marked, int *n_pre)
{
    const size_t skb = ix->sk_bytes;
    const int bits = ix->prm.inline_codes;
    int32_t bias = 0;
    const float sq = lsh_sketch_query(bits, ix->dim, skb, s->q, s->qlo, s->qhi, &bias);
    float qmu = 0.0f;   /* centred sketches estimate q.x - q.mu */
    for (int j = 0; ix->center && j < ix->dim; j++)
        qmu += s->q[j] * ix->center[j];
    size_t scored = 0, n = 0;
    float thr = -INFINITY;   /* the shortlist's worst score once it is full */
    int np = 0, i = 0;
    for (; i < probes_upto(s, i + 1); i++) {
        if (s->max_candidates && scored >= s->max_candidates)
            break;
        prefetch_ahead(ix, s, i);
        const lsh_table *tab = &ix->tables[s->probes[i].table];
        uint32_t code = s->probes[i].code;
        uint32_t e0 = tab->offsets[code], e1 = tab->offsets[code + 1];
        const uint8_t *sk = tab->sk + (size_t)e0 * skb;
        scored += e1 - e0;
        for (uint32_t e = e0; e < e1; e++, sk += skb) {
            float a = qmu + sq * lsh_sketch_score(bits, skb, s->qlo, s->qhi, bias, sk);
            if (a < thr)
                continue;   /* the common case once the shortlist is full */
            uint32_t row = tab->rows[e];
            int fresh = mark_seen(s, row, &n);
            if (fresh < 0)
                goto fail;
            if (!fresh)
                continue;
            if (ix->n_removed && lsh_bit_get(ix->removed, row))
                continue;
            topk_offer(ix, s->pre, &np, depth, (row_hit){a, row});
            if (np == depth)
                thr = s->pre[0].score;
        }
    }
    *n_probed = i;
    for (size_t row = ix->n_committed; row < ix->n_rows; row++) {
        scored++;
        if (lsh_bit_get(ix->removed, row))
            continue;
        row_hit h = {vecstore_dot(ix->prm.encoding, ix->dim, s->q, ix->vecs + row * ix->row_bytes),
                     (uint32_t)row};
        topk_offer(ix, s->pre, &np, depth, h);
    }
    *n_scored = scored;
    *n_marked = n;
    *n_pre = np;
    return 0;
fail:
    *n_marked = n;
    *n_pre = 0;
    return -1;
}

/* Inline codes: sketch-score the probed buckets, then re-score the shortlist
 * exactly into s->heap. */
static int score_inline(const lsh_index *ix, lsh_scratch *s, int k, int *n_probed,
                        size_t *n_scored, size_t *n_marked, int *n_heap)
{
    int n_pre = 0;
    if (sketch_scan(ix, s, rerank_depth(k), n_probed, n_scored, n_marked, &n_pre) != 0)
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
        if (lsh_bit_get(ix->removed, row))
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

    const float *hq = s->q;
    if (ix->center) {
        for (int j = 0; j < dim; j++)
            s->qc[j] = s->q[j] - ix->center[j];
        hq = s->qc;
    }
    lsh_hasher_hash(ix->hasher, hq, s->codes, s->margins, s->work);
    probes_begin(ix, s, tables, probes);
    size_t n_cand = 0, n_marked = 0;
    int n_heap = 0, n_probes = 0;
    int rc;
    if (ix->prm.inline_codes) {
        rc = score_inline(ix, s, k, &n_probes, &n_cand, &n_marked, &n_heap);
    } else {
        rc = score_gathered(ix, s, k, &n_probes, &n_cand, &n_heap);
        n_marked = n_cand;
    }
    clear_seen(s, n_marked);
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
