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
