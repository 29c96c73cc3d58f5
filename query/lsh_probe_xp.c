/*
 * lsh_probe_xp.c — query-directed multi-probe sequences for cross-polytope
 * LSH (lsh_hasher_new_xp, FALCONN's family).
 *
 * A cross-polytope function's value is the signed coordinate with the
 * largest value v_j (v_j = z_i for j = i, -z_i for j = i + m). The next most
 * likely buckets of a neighbour are the next largest v_j; an alternative's
 * score is v_max - v_j, how much the neighbour's rotation would have to move
 * for j to win. A probe of a table picks one alternative rank per function
 * (rank 0 = home) and scores the sum over the table's F functions. Only the
 * XP_ALTS best alternatives per function are kept. The sequence is every
 * table's home bucket, in table order, then the other tuples by ascending
 * (score, table, ranks): deterministic, since no two tuples share a key.
 *
 * How the best P tuples are found. An earlier version enumerated them with
 * a min-heap, each pop pushing the tuple's successors: exact, but about a
 * hundred cycles per probe, and on GloVe (L = 24, a thousand probes a query)
 * it and the alternatives below took a quarter of the search. Here the
 * P best are selected by score instead: bisect a threshold T (over the bit
 * patterns of non-negative floats, which order as the floats do) until the
 * tuples scoring <= T number between P and P + P/4 (counting them is a few
 * vector compares per table, since each function's alternatives are sorted),
 * write their keys out in (table, ranks) order, and sort them by score with
 * a stable radix sort, which leaves equal scores in (table, ranks) order:
 * exactly the heap's order. Ties so massive that no threshold separates
 * them (a zero query: every score 0) end the bisection at two adjacent
 * floats; then the tuples at the upper one are taken in key order until the
 * work array is full, still the heap's order.
 *
 * The sequence is written in installments (lsh_probe_xp_start / _next) so
 * that a search stopping at its candidate limit never pays for turning keys
 * into codes it will not read; the selection itself is done at start.
 */
#include "query/query.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

enum { XP_ALTS = 16, XP_MAX_F = 4, XP_MAX_CP = LSH_MAX_CP_DIM, XP_MAX_TABLES = LSH_MAX_XP_TABLES };

typedef struct xp_alt {
    float score;
    uint32_t bucket;
} xp_alt;

/* alt[0..n) = the best alternatives of one function, by ascending score;
 * alt[0] is the home bucket. Returns n (<= XP_ALTS, <= 2m).
 *
 * Of the pair (z_i, -z_i) only the positive one can be among the best m:
 * the m values |z_i| are all >= 0 and their negatives all <= 0. So the best
 * XP_ALTS of the 2m signed values are the best of |z_i|, each with its
 * sign's bucket (i for z_i >= 0, i + m otherwise), followed, only when m <
 * XP_ALTS, by the negatives. They are found without a
 * data-dependent branch per value, which matters because this runs for
 * every function of every table on every query: bisect a threshold t until
 * between XP_ALTS and 1.25 XP_ALTS of the |z_i| reach it (each step one
 * vectorisable counting pass), keep those, and insertion-sort the few kept.
 * Ties keep coordinate order (the sort is stable). */
static int count_at_least(const float *a, int m, float t)
{
    int c = 0;
    for (int i = 0; i < m; i++)
        c += a[i] >= t;
    return c;
}

static int xp_alternatives(const float *z, int m, xp_alt *alt)
{
    float a[XP_MAX_CP];
    float hi = 0.0f, lo = 0.0f;
    for (int i = 0; i < m; i++)
        a[i] = fabsf(z[i]);
    /* The maximum in 16 independent lanes: one running maximum would be a
     * chain of dependent instructions, and without -ffast-math the
     * compiler may not reassociate it. */
    float lane[16] = {0.0f};
    int i16 = m & ~15;
    for (int i = 0; i < i16; i += 16)
        for (int l = 0; l < 16; l++)
            lane[l] = a[i + l] > lane[l] ? a[i + l] : lane[l];
    for (int i = i16; i < m; i++)
        hi = a[i] > hi ? a[i] : hi;
    for (int l = 0; l < 16; l++)
        hi = lane[l] > hi ? lane[l] : hi;
    int want = XP_ALTS < m ? XP_ALTS : m;
    float t = 0.0f;   /* with t = 0 every value is kept: the fallback */
    for (int step = 0; step < 24 && want < m; step++) {
        float mid = 0.5f * (lo + hi);
        int c = count_at_least(a, m, mid);
        if (c < want) {
            hi = mid;
        } else {
            t = mid;
            lo = mid;
            if (c <= XP_ALTS + XP_ALTS / 4)
                break;
        }
    }
    int kept[XP_MAX_CP], idx[XP_MAX_CP];
    float v[XP_MAX_CP];
    int n = 0;
    for (int i = 0; i < m; i++) {
        kept[n] = i;
        v[n] = a[i];
        n += a[i] >= t;
    }
    /* By descending |z|, then coordinate: each kept value's place is the
     * number of values above it plus the equal ones before it, counted
     * without a branch (an insertion sort mispredicted on every move). */
    for (int i = 0; i < n; i++) {
        int r = 0;
        for (int j = 0; j < n; j++)
            r += (v[j] > v[i]) | ((v[j] == v[i]) & (j < i));
        idx[r] = kept[i];
    }
    if (n == 0)   /* only for m < 1 or NaN coordinates: no alternatives */
        return 0;
    if (n > want)
        n = want;
    float vmax = a[idx[0]];
    for (int i = 0; i < n; i++) {
        int c = idx[i];
        alt[i].score = vmax - a[c];   /* v_max - v_j >= 0 */
        alt[i].bucket = (uint32_t)(z[c] >= 0.0f ? c : c + m);
    }
    /* Fewer coordinates than alternatives wanted (tiny m): the other signs
     * follow, the largest of them (smallest |z_i|) first. */
    for (int i = m - 1; n < XP_ALTS && n < 2 * m && i >= 0; i--, n++) {
        int c = idx[i];
        alt[n].score = vmax + a[c];
        alt[n].bucket = (uint32_t)(z[c] >= 0.0f ? c + m : c);
    }
    return n;
}

/* A tuple is one 64-bit key:
 *   bits 63..32  its score, a float >= 0 (whose bits order as integers do)
 *   bits 31..20  its table
 *   bits 19..4   the rank of function f in bits 19-4f..16-4f (XP_ALTS = 16)
 *   bits  3..0   unused
 * Keys written in (table, ranks) order ascend in their low 32 bits, so a
 * stable sort on the high 32 bits orders them by (score, table, ranks). */
_Static_assert(XP_ALTS <= 16 && XP_MAX_F <= 4, "a key packs 4 ranks of 4 bits");

static uint32_t score_bits(float score)
{
    uint32_t bits;
    memcpy(&bits, &score, 4);
    return bits;
}

static float bits_score(uint32_t bits)
{
    float score;
    memcpy(&score, &bits, 4);
    return score;
}

/* The generator's state, at the start of the caller's work memory; then the
 * alternatives' scores (XP_ALTS per function, +inf past the last), their
 * buckets, and two arrays of cap keys (the second is the sort's buffer). */
typedef struct xp_state {
    const uint32_t *codes;
    int tables, per_table, fn_bits, max_probes;
    int emitted;          /* probes written so far, homes included */
    size_t n_keys;        /* selected non-home tuples, sorted */
    size_t cap;           /* room for keys */
} xp_state;

static size_t keys_cap(int tables, int max_probes)
{
    size_t p = (size_t)(max_probes > tables ? max_probes - tables : 0);
    return p + p / 4 + 64;
}

size_t lsh_probe_xp_work_bytes(int tables, int per_table, int cp_dim, int max_probes)
{
    size_t fns = (size_t)(tables > 0 ? tables : 0) * (size_t)(per_table > 0 ? per_table : 0);
    (void)cp_dim;
    return sizeof(xp_state) + fns * XP_ALTS * (sizeof(float) + sizeof(uint32_t)) +
           2 * keys_cap(tables, max_probes) * sizeof(uint64_t);
}

static float *xp_scores(xp_state *st) { return (float *)(st + 1); }
static uint32_t *xp_buckets(xp_state *st)
{
    return (uint32_t *)(xp_scores(st) + (size_t)st->tables * st->per_table * XP_ALTS);
}
static uint64_t *xp_keys(xp_state *st)
{
    return (uint64_t *)(xp_buckets(st) + (size_t)st->tables * st->per_table * XP_ALTS);
}

/* Tuples of one table scoring <= t (home included), functions f.. given the
 * score acc of the functions before; s = the table's scores. Scores are
 * summed in function order, acc + s, as emit_table sums them, so both
 * agree to the last bit. The last function is a branch-free count. */
static size_t count_table(const float *s, int f, int per_table, float acc, float t)
{
    if (f >= XP_MAX_F)
        return 0;
    const float *sf = s + (size_t)f * XP_ALTS;
    size_t c = 0;
    if (f == per_table - 1) {
        for (int r = 0; r < XP_ALTS; r++)
            c += acc + sf[r] <= t;
        return c;
    }
    for (int r = 0; r < XP_ALTS && acc + sf[r] <= t; r++)
        c += count_table(s, f + 1, per_table, acc + sf[r], t);
    return c;
}

/* Non-home tuples of all tables scoring <= t, stopping once past the room
 * for keys (the caller only compares the count with that). */
static size_t count_all(const xp_state *st, const float *scores, float t)
{
    size_t c = 0;
    for (int tb = 0; tb < st->tables && c <= st->cap; tb++) {
        size_t ct = count_table(scores + (size_t)tb * st->per_table * XP_ALTS, 0, st->per_table, 0.0f, t);
        c += ct ? ct - 1 : 0;   /* the home is not counted (none: no alternatives at all) */
    }
    return c;
}

/* Writes the keys of table tb's non-home tuples scoring <= t_all, and of
 * those scoring <= t_band while band_room lasts, in ranks order. */
typedef struct emit_ctx {
    const float *s;
    int table, per_table;
    float t_all, t_band;
    size_t band_room;
    uint64_t *keys;
    size_t n;
} emit_ctx;

static void emit_table(emit_ctx *e, int f, float acc, int *rank)
{
    if (f >= XP_MAX_F)
        return;
    const float *sf = e->s + (size_t)f * XP_ALTS;
    for (int r = 0; r < XP_ALTS && acc + sf[r] <= e->t_band; r++) {
        float sc = acc + sf[r];
        rank[f] = r;
        if (f < e->per_table - 1) {
            emit_table(e, f + 1, sc, rank);
            continue;
        }
        int home = 1;
        for (int g = 0; g < e->per_table; g++)
            home &= rank[g] == 0;
        if (home)
            continue;
        if (sc > e->t_all) {   /* in the band of tied scores: while there is room */
            if (e->band_room == 0)
                continue;
            e->band_room--;
        }
        uint64_t k = (uint64_t)score_bits(sc) << 32 | (uint64_t)e->table << 20;
        for (int g = 0; g < e->per_table; g++)
            k |= (uint64_t)rank[g] << (16 - 4 * g);
        e->keys[e->n++] = k;
    }
    rank[f] = 0;
}

/* Stable LSD radix sort of keys by their high 32 bits, 8 bits a pass
 * (passes where every key has the same digit are skipped). */
static void sort_by_score(uint64_t *keys, uint64_t *buf, size_t n)
{
    for (int shift = 32; shift < 64; shift += 8) {
        size_t count[257] = {0};
        for (size_t i = 0; i < n; i++)
            count[((keys[i] >> shift) & 255) + 1]++;
        int one_digit = 0;
        for (int d = 1; d <= 256; d++)
            one_digit |= count[d] == n;
        if (one_digit)
            continue;
        for (int d = 0; d < 256; d++)
            count[d + 1] += count[d];
        for (size_t i = 0; i < n; i++)
            buf[count[(keys[i] >> shift) & 255]++] = keys[i];
        memcpy(keys, buf, n * sizeof *keys);
    }
}

/* Selects and sorts the best `want` non-home tuples into the key array. */
static void select_tuples(xp_state *st, size_t want)
{
    const float *scores = xp_scores(st);
    uint64_t *keys = xp_keys(st);
    st->n_keys = 0;
    if (want == 0)
        return;
    /* hi: the largest finite score of any tuple, so count(hi) = all tuples */
    float top = 0.0f;
    for (int tb = 0; tb < st->tables; tb++) {
        float sum = 0.0f;
        for (int f = 0; f < st->per_table; f++) {
            const float *sf = scores + ((size_t)tb * st->per_table + f) * XP_ALTS;
            float mx = 0.0f;
            for (int r = 0; r < XP_ALTS; r++)
                mx = isinf(sf[r]) ? mx : sf[r];
            sum += mx;
        }
        top = sum > top ? sum : top;
    }
    int64_t lo = -1;   /* count(lo) < want; -1: below every score */
    int64_t hi = score_bits(top);
    size_t c_hi = count_all(st, scores, top);
    while (c_hi > st->cap && hi - lo > 1) {
        int64_t mid = lo + (hi - lo) / 2;
        size_t c = count_all(st, scores, bits_score((uint32_t)mid));
        if (c < want) {
            lo = mid;
        } else {
            hi = mid;
            c_hi = c;
        }
    }
    /* All tuples <= hi when they fit; else those <= lo and, of the tied
     * ones at hi, as many as fit, in key order. */
    size_t n_lo = lo < 0 ? 0 : count_all(st, scores, bits_score((uint32_t)lo));
    emit_ctx e = {.per_table = st->per_table,
                  .t_all = c_hi <= st->cap ? bits_score((uint32_t)hi)
                                           : lo < 0 ? -1.0f : bits_score((uint32_t)lo),
                  .t_band = bits_score((uint32_t)hi), .band_room = st->cap - n_lo, .keys = keys};
    for (int tb = 0; tb < st->tables; tb++) {
        int rank[XP_MAX_F] = {0};
        e.s = scores + (size_t)tb * st->per_table * XP_ALTS;
        e.table = tb;
        emit_table(&e, 0, 0.0f, rank);
    }
    sort_by_score(keys, keys + st->cap, e.n);
    st->n_keys = e.n < want ? e.n : want;
}

int lsh_probe_xp_start(const uint32_t *codes, const float *z, int tables, int per_table,
                       int cp_dim, int fn_bits, int max_probes, void *work)
{
    xp_state *st = work;
    memset(st, 0, sizeof *st);
    if (tables < 1 || tables > XP_MAX_TABLES || per_table < 1 || per_table > XP_MAX_F ||
        max_probes < 1 || cp_dim < 1 || cp_dim > XP_MAX_CP)
        return -1;
    st->codes = codes;
    st->tables = tables;
    st->per_table = per_table;
    st->fn_bits = fn_bits;
    st->max_probes = max_probes;
    st->cap = keys_cap(tables, max_probes);
    float *scores = xp_scores(st);
    uint32_t *buckets = xp_buckets(st);
    for (int r = 0; r < tables * per_table; r++) {
        xp_alt alt[XP_ALTS];
        int n = xp_alternatives(z + (size_t)r * cp_dim, cp_dim, alt);
        for (int i = 0; i < XP_ALTS; i++) {
            scores[(size_t)r * XP_ALTS + i] = i < n ? alt[i].score : INFINITY;
            buckets[(size_t)r * XP_ALTS + i] = i < n ? alt[i].bucket : 0;
        }
    }
    select_tuples(st, (size_t)(max_probes > tables ? max_probes - tables : 0));
    return 0;
}

/* Homes first, then the selected tuples, each key turned into its code. */
int lsh_probe_xp_next(void *work, int n, lsh_probe *out)
{
    xp_state *st = work;
    if (st->tables < 1)
        return 0;
    const uint32_t *buckets = xp_buckets(st);
    const uint64_t *keys = xp_keys(st);
    int room = st->max_probes - st->emitted, n_out = 0;
    if (n > room)
        n = room;
    for (int t = st->emitted; t < st->tables && n_out < n; t++, n_out++) {   /* homes */
        out[n_out].table = t;
        out[n_out].code = st->codes[t];
        out[n_out].score = 0.0f;
    }
    const int per_table = st->per_table, fn_bits = st->fn_bits;
    const uint32_t mask = (fn_bits >= 32) ? 0xFFFFFFFFu : ((1u << fn_bits) - 1);
    for (; n_out < n; n_out++) {
        size_t i = (size_t)(st->emitted + n_out - st->tables);
        if (st->emitted + n_out < st->tables || i >= st->n_keys)
            break;
        uint64_t k = keys[i];
        int t = (int)((k >> 20) & 0xFFF);
        uint32_t code = st->codes[t];
        for (int f = 0; f < per_table; f++) {
            int rank = (int)((k >> (16 - 4 * f)) & 15);
            code &= ~(mask << (f * fn_bits));
            code |= buckets[((size_t)t * per_table + f) * XP_ALTS + rank] << (f * fn_bits);
        }
        out[n_out].table = t;
        out[n_out].code = code;
        out[n_out].score = bits_score((uint32_t)(k >> 32));
    }
    st->emitted += n_out;
    return n_out;
}

int lsh_probe_sequence_xp(const uint32_t *codes, const float *z, int tables, int per_table,
                          int cp_dim, int fn_bits, int max_probes, void *work, lsh_probe *out)
{
    if ((size_t)tables * per_table > 4096 ||
        lsh_probe_xp_start(codes, z, tables, per_table, cp_dim, fn_bits, max_probes, work) != 0)
        return 0;
    return lsh_probe_xp_next(work, max_probes, out);
}
