/*
 * lsh_probe.c — query-directed multi-probe sequences for hyperplane LSH.
 *
 * Why. With K bits per table, a near neighbour lands in the query's own
 * bucket only when it agrees on all K bits. Rather than adding tables (each
 * costs memory and a hash), multi-probe also looks in the buckets next door:
 * those whose codes differ from the query's on bits where the query sits close
 * to the hyperplane, because a neighbour is most likely on the other side of
 * exactly those (Lv, Josephson, Wang, Charikar, Li: "Multi-Probe LSH", 2007).
 *
 * Score of a probe = sum over flipped bits of margin^2 (margin = |rotated
 * coordinate|, the query's distance to that hyperplane); lower is more
 * promising. Rotations are orthonormal, so margins of different tables are
 * on one scale and a single ordering runs across all tables: a table whose
 * query lies far from every hyperplane gets few extra probes, one whose
 * query straddles a boundary gets many.
 *
 * How. Per table, sort the bits by margin, ascending: position i holds the
 * i-th least confident bit. A perturbation set is a set of positions; from a
 * set whose largest position is `last`, two successors are generated:
 *   shift:  replace last by last+1      (score - m2[last] + m2[last+1])
 *   expand: add last+1                  (score + m2[last+1])
 * Starting from {0}, every non-empty subset is generated exactly once, and
 * each successor scores at least its parent (margins sorted), so popping a
 * min-heap yields subsets in increasing score. Home buckets (empty set,
 * score 0) come first, one per table. Each pop pushes at most two nodes, so
 * the heap never exceeds tables + 2 * max_probes nodes.
 */
#include "query/query.h"

#include <stdint.h>
#include <math.h>
#include <string.h>

typedef struct probe_node {
    float score;
    int table;
    uint32_t set;   /* bit i set: sorted position i flipped */
    int last;       /* largest position in set */
} probe_node;

/* Layout of the caller's work memory: heap nodes, then per-table bit order
 * (int) and squared sorted margins (float). */
size_t lsh_probe_work_bytes(int tables, int k, int max_probes)
{
    size_t nodes = (size_t)tables + 2 * (size_t)(max_probes > 0 ? max_probes : 0) + 1;
    return nodes * sizeof(probe_node) + (size_t)tables * (size_t)k * (sizeof(int) + sizeof(float));
}

/* a before b: lower score; ties by table then set, so sequences are
 * deterministic. */
static int node_less(const probe_node *a, const probe_node *b)
{
    if (a->score != b->score)
        return a->score < b->score;
    if (a->table != b->table)
        return a->table < b->table;
    return a->set < b->set;
}

/* A binary min-heap over an array of TYPE ordered by LESS: PUSH adds x
 * (the array has room), POP removes and returns the least (the heap is not
 * empty). Both probe orders in this file keep one, each over its own node
 * type; a macro rather than a void* heap keeps the nodes copied by value and
 * the comparison inlined on the probing path. POP is Floyd's bottom-up
 * deletion: the hole left by the top walks down to a leaf along the smaller
 * children (chosen without a branch), and the last element climbs back from
 * there, usually a level or two. The textbook sift-down's "stop here?" test
 * at every level is a coin flip the branch predictor loses half the time. */
#define PROBE_HEAP(TYPE, LESS, PUSH, POP)                                   \
    /* Puts x at hole i after moving the hole up past every greater      \
     * parent. */                                                         \
    static void PUSH##_up(TYPE *heap, size_t i, TYPE x)                    \
    {                                                                       \
        while (i > 0) {                                                     \
            size_t parent = (i - 1) / 2;                                    \
            if (!LESS(&x, &heap[parent]))                                   \
                break;                                                      \
            heap[i] = heap[parent];                                         \
            i = parent;                                                     \
        }                                                                   \
        heap[i] = x;                                                        \
    }                                                                       \
                                                                            \
    static void PUSH(TYPE *heap, size_t *n, TYPE x)                         \
    {                                                                       \
        PUSH##_up(heap, (*n)++, x);                                         \
    }                                                                       \
                                                                            \
    static TYPE POP(TYPE *heap, size_t *n)                                  \
    {                                                                       \
        TYPE top = heap[0];                                                 \
        size_t m = --(*n), i = 0;                                           \
        if (m == 0)                                                         \
            return top;                                                     \
        for (;;) {                                                          \
            size_t c = 2 * i + 1;                                           \
            if (c >= m)                                                     \
                break;                                                      \
            if (c + 1 < m)                                                  \
                c += (size_t)LESS(&heap[c + 1], &heap[c]);                  \
            heap[i] = heap[c];                                              \
            i = c;                                                          \
        }                                                                   \
        PUSH##_up(heap, i, heap[m]);                                        \
        return top;                                                         \
    }

PROBE_HEAP(probe_node, node_less, heap_push, heap_pop)

/* order[0..k) = bit indices sorted by margin ascending (insertion sort: k is
 * at most 32); m2[i] = margin of order[i], squared. */
static void sort_bits(const float *margin, int k, int *order, float *m2)
{
    for (int j = 0; j < k; j++) {
        int i = j;
        while (i > 0 && margin[order[i - 1]] > margin[j]) {
            order[i] = order[i - 1];
            i--;
        }
        order[i] = j;
    }
    for (int i = 0; i < k; i++)
        m2[i] = margin[order[i]] * margin[order[i]];
}

/* The code reached by flipping the sorted positions in set. */
static uint32_t apply_set(uint32_t code, uint32_t set, const int *order)
{
    for (int i = 0; set; i++, set >>= 1)
        if (set & 1)
            code ^= 1u << order[i];
    return code;
}

/* Both probe orders start the same way: every table's own bucket, at
 * score 0, table order. Returns how many were written (max_probes at most). */
static int home_probes(const uint32_t *codes, int tables, int max_probes, lsh_probe *out)
{
    int n_out = 0;
    for (int t = 0; t < tables && n_out < max_probes; t++) {
        out[n_out].table = t;
        out[n_out].code = codes[t];
        out[n_out].score = 0.0f;
        n_out++;
    }
    return n_out;
}

int lsh_probe_sequence(const uint32_t *codes, const float *margins, int tables, int k,
                       int max_probes, void *work, lsh_probe *out)
{
    if (tables < 1 || k < 1 || k > 32 || max_probes < 1)
        return 0;
    size_t nodes_cap = (size_t)tables + 2 * (size_t)max_probes + 1;
    probe_node *heap = work;
    int *order = (int *)(heap + nodes_cap);
    float *m2 = (float *)(order + (size_t)tables * k);

    int n_out = home_probes(codes, tables, max_probes, out);
    if (n_out == max_probes)
        return n_out;

    size_t n_heap = 0;
    for (int t = 0; t < tables; t++) {
        sort_bits(margins + (size_t)t * k, k, order + (size_t)t * k, m2 + (size_t)t * k);
        probe_node first = {m2[(size_t)t * k], t, 1u, 0};
        heap_push(heap, &n_heap, first);
    }
    while (n_out < max_probes && n_heap > 0) {
        probe_node x = heap_pop(heap, &n_heap);
        const int *ord = order + (size_t)x.table * k;
        const float *m = m2 + (size_t)x.table * k;
        out[n_out].table = x.table;
        out[n_out].code = apply_set(codes[x.table], x.set, ord);
        out[n_out].score = x.score;
        n_out++;
        if (x.last + 1 < k) {
            int nx = x.last + 1;
            probe_node shift = {x.score - m[x.last] + m[nx], x.table,
                                (x.set & ~(1u << x.last)) | (1u << nx), nx};
            probe_node expand = {x.score + m[nx], x.table, x.set | (1u << nx), nx};
            heap_push(heap, &n_heap, shift);
            heap_push(heap, &n_heap, expand);
        }
    }
    return n_out;
}

/* ------------------------------------------------ cross-polytope probing
 *
 * A cross-polytope function's value is the signed coordinate with the
 * largest value v_j (v_j = z_i for j = i, -z_i for j = i + m). The next most
 * likely buckets of a neighbour are the next largest v_j; an alternative's
 * score is v_max - v_j, how much the neighbour's rotation would have to move
 * for j to win. A probe of a table picks one alternative rank per function
 * (rank 0 = home) and scores the sum. Tuples are enumerated best first with
 * the same heap as above: from a tuple whose last raised function is `pivot`,
 * raise the rank of any function f >= pivot by one. Every tuple is reached
 * exactly once (along the path raising functions in non-decreasing order),
 * and scores never decrease along it because each function's alternatives
 * are sorted. Only the XP_ALTS best alternatives per function are kept.
 */
enum { XP_ALTS = 16, XP_MAX_F = 4, XP_MAX_CP = LSH_MAX_CP_DIM, XP_MAX_TABLES = LSH_MAX_XP_TABLES };

typedef struct xp_alt {
    float score;
    uint32_t bucket;
} xp_alt;

/* A tuple is one 64-bit key, so the heap compares and moves single words:
 *   bits 63..32  its score, a float >= 0 (whose bits order as integers do)
 *   bits 31..20  its table
 *   bits 19..4   the rank of function f in bits 19-4f..16-4f (XP_ALTS = 16)
 *   bits  3..0   its pivot
 * Comparing keys orders by score, then table, then ranks: a total order,
 * since no tuple is reached twice, so probes come out deterministically. */
typedef uint64_t xp_node;
_Static_assert(XP_ALTS <= 16 && XP_MAX_F <= 4, "xp_node packs 4 ranks of 4 bits");

static uint64_t xp_key(float score, int table, const int *rank, int per_table, int pivot)
{
    uint32_t bits;
    memcpy(&bits, &score, 4);
    uint64_t k = (uint64_t)bits << 32 | (uint64_t)table << 20 | (uint64_t)pivot;
    for (int f = 0; f < per_table; f++)
        k |= (uint64_t)rank[f] << (16 - 4 * f);
    return k;
}

static float xp_key_score(xp_node k)
{
    uint32_t bits = (uint32_t)(k >> 32);
    float score;
    memcpy(&score, &bits, 4);
    return score;
}

static int xp_key_table(xp_node k) { return (int)((k >> 20) & 0xFFF); }
static int xp_key_rank(xp_node k, int f) { return (int)((k >> (16 - 4 * f)) & 15); }
static int xp_key_pivot(xp_node k) { return (int)(k & 15); }

/* The generator's state, at the start of the caller's work memory, then
 * n_alt (one int per function, rounded to an even count so what follows
 * stays 8-aligned), the alternatives, and the heap. */
typedef struct xp_state {
    const uint32_t *codes;
    int tables, per_table, fn_bits, max_probes;
    int emitted;          /* probes written so far, homes included */
    int n_funcs;
    size_t n_heap;
} xp_state;

static size_t xp_funcs_padded(int tables, int per_table)
{
    return ((size_t)tables * per_table + 1) & ~(size_t)1;
}

size_t lsh_probe_xp_work_bytes(int tables, int per_table, int cp_dim, int max_probes)
{
    size_t alts = (size_t)tables * per_table * XP_ALTS;
    size_t nodes = ((size_t)tables + (size_t)(max_probes > 0 ? max_probes : 0) + 1) * (size_t)per_table + 1;
    (void)cp_dim;
    return sizeof(xp_state) + xp_funcs_padded(tables, per_table) * sizeof(int) +
           alts * sizeof(xp_alt) + nodes * sizeof(xp_node);
}

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
    for (int i = 0; i < m; i++)
        hi = a[i] > hi ? a[i] : hi;
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
    int idx[XP_MAX_CP];
    int n = 0;
    for (int i = 0; i < m; i++) {
        idx[n] = i;
        n += a[i] >= t;
    }
    for (int i = 1; i < n; i++) {   /* by descending |z|, then coordinate */
        int x = idx[i], j = i;
        while (j > 0 && a[idx[j - 1]] < a[x]) {
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = x;
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

static int xp_less(const xp_node *a, const xp_node *b) { return *a < *b; }

PROBE_HEAP(xp_node, xp_less, xp_push, xp_pop)

/* Pushes the successors of x: function f >= pivot raised by one rank. A
 * score is summed afresh over the functions (at most XP_MAX_F terms, each
 * >= 0), not updated by a difference that rounding could make negative. */
static void xp_successors(xp_node *heap, size_t *n, xp_node x, const xp_alt *alts,
                          const int *n_alt, int per_table)
{
    const int t = xp_key_table(x);
    const xp_alt *ta = alts + (size_t)t * per_table * XP_ALTS;
    int rank[XP_MAX_F];
    for (int f = 0; f < per_table; f++)
        rank[f] = xp_key_rank(x, f);
    for (int f = xp_key_pivot(x); f < per_table; f++) {
        if (rank[f] + 1 >= n_alt[t * per_table + f])
            continue;
        rank[f]++;
        float score = 0.0f;
        for (int g = 0; g < per_table; g++)
            score += ta[g * XP_ALTS + rank[g]].score;
        xp_push(heap, n, xp_key(score, t, rank, per_table, f));
        rank[f]--;
    }
}

static int *xp_n_alt(xp_state *st) { return (int *)(st + 1); }
static xp_alt *xp_alts(xp_state *st)
{
    return (xp_alt *)(xp_n_alt(st) + xp_funcs_padded(st->tables, st->per_table));
}
static xp_node *xp_heap(xp_state *st)
{
    return (xp_node *)(xp_alts(st) + (size_t)st->tables * st->per_table * XP_ALTS);
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
    st->n_funcs = tables * per_table;
    int *n_alt = xp_n_alt(st);
    xp_alt *alts = xp_alts(st);
    xp_node *heap = xp_heap(st);
    for (int t = 0; t < tables; t++) {
        for (int f = 0; f < per_table; f++) {
            int r = t * per_table + f;
            n_alt[r] = xp_alternatives(z + (size_t)r * cp_dim, cp_dim, alts + (size_t)r * XP_ALTS);
        }
        static const int home[XP_MAX_F] = {0, 0, 0, 0};
        xp_successors(heap, &st->n_heap, xp_key(0.0f, t, home, per_table, 0), alts, n_alt,
                      per_table);
    }
    return 0;
}

int lsh_probe_xp_next(void *work, int n, lsh_probe *out)
{
    xp_state *st = work;
    if (st->tables < 1)
        return 0;
    const int *n_alt = xp_n_alt(st);
    const xp_alt *alts = xp_alts(st);
    xp_node *heap = xp_heap(st);
    int room = st->max_probes - st->emitted, n_out = 0;
    if (n > room)
        n = room;
    if (st->emitted < st->tables) {   /* homes first */
        n_out = home_probes(st->codes + st->emitted, st->tables - st->emitted, n, out);
        for (int i = 0; i < n_out; i++)
            out[i].table += st->emitted;
    }
    const int per_table = st->per_table, fn_bits = st->fn_bits;
    const uint32_t mask = (fn_bits >= 32) ? 0xFFFFFFFFu : ((1u << fn_bits) - 1);
    while (n_out < n && st->emitted + n_out >= st->tables && st->n_heap > 0) {
        xp_node x = xp_pop(heap, &st->n_heap);
        int t = xp_key_table(x);
        uint32_t code = st->codes[t];
        for (int f = 0; f < per_table; f++) {
            const xp_alt *a = alts + ((size_t)t * per_table + f) * XP_ALTS;
            code &= ~(mask << (f * fn_bits));
            code |= a[xp_key_rank(x, f)].bucket << (f * fn_bits);
        }
        out[n_out].table = t;
        out[n_out].code = code;
        out[n_out].score = xp_key_score(x);
        n_out++;
        xp_successors(heap, &st->n_heap, x, alts, n_alt, per_table);
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
