/*
 * test_lsh_probe_xp.c — the cross-polytope probe sequence
 * (query/lsh_probe_xp.c) against a brute-force enumeration.
 *
 * The reference does what the generator's contract says, the slow way: per
 * function, all 2m signed values, best first, the best 16 kept; per table,
 * every tuple of them, scored as the sum of v_max - v_j over the functions;
 * homes first, then every other tuple sorted by (score, table, ranks). The
 * generator selects by a bisected threshold and a radix sort; the two must
 * agree probe for probe at any budget, for 1 to 3 functions per table and
 * with fewer than 16 alternatives per function. A zero query (every score
 * tied) must still give distinct probes in key order.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "attention/attention.h"
#include "query/query.h"

enum { ALTS = 16 };

typedef struct ref_probe {
    float score;
    int table;
    int rank[4];
    uint32_t code;
} ref_probe;

static int ref_cmp(const void *a, const void *b)
{
    const ref_probe *x = a, *y = b;
    if (x->score != y->score)
        return x->score < y->score ? -1 : 1;
    if (x->table != y->table)
        return x->table - y->table;
    for (int f = 0; f < 4; f++)
        if (x->rank[f] != y->rank[f])
            return x->rank[f] - y->rank[f];
    return 0;
}

/* One function's alternatives: signed value index j (bucket) and score
 * v_max - v_j, best first, at most ALTS. */
static int ref_alternatives(const float *z, int m, int *bucket, float *score)
{
    int n = 2 * m;
    float *v = malloc(n * sizeof *v);
    int *idx = malloc(n * sizeof *idx);
    for (int j = 0; j < n; j++) {
        v[j] = j < m ? z[j] : -z[j - m];
        idx[j] = j;
    }
    for (int i = 1; i < n; i++)   /* by descending value, then index */
        for (int j = i; j > 0 && v[idx[j - 1]] < v[idx[j]]; j--) {
            int t = idx[j];
            idx[j] = idx[j - 1];
            idx[j - 1] = t;
        }
    int k = n < ALTS ? n : ALTS;
    for (int i = 0; i < k; i++) {
        bucket[i] = idx[i];
        score[i] = v[idx[0]] - v[idx[i]];
    }
    free(v);
    free(idx);
    return k;
}

/* All probes of all tables, homes first then sorted; returns the count. */
static size_t ref_sequence(const float *z, int L, int F, int m, int bits, ref_probe **out)
{
    int bucket[64][ALTS], nalt[64];
    float score[64][ALTS];
    size_t per = 1;
    for (int r = 0; r < L * F; r++)
        nalt[r] = ref_alternatives(z + (size_t)r * m, m, bucket[r], score[r]);
    for (int f = 0; f < F; f++)
        per *= (size_t)nalt[f];
    ref_probe *p = malloc((size_t)L * per * sizeof *p);
    size_t n = 0;
    for (int t = 0; t < L; t++) {
        int rank[4] = {0, 0, 0, 0};
        for (;;) {
            ref_probe x = {0.0f, t, {rank[0], rank[1], rank[2], rank[3]}, 0};
            for (int f = 0; f < F; f++) {
                x.score += score[t * F + f][rank[f]];
                x.code |= (uint32_t)bucket[t * F + f][rank[f]] << (f * bits);
            }
            p[n++] = x;
            int f = F - 1;   /* next tuple, the last function fastest */
            while (f >= 0 && ++rank[f] == nalt[t * F + f])
                rank[f--] = 0;
            if (f < 0)
                break;
        }
    }
    /* homes (all ranks 0) first in table order, then the rest sorted */
    ref_probe *s = malloc(n * sizeof *s);
    size_t h = 0, o = (size_t)L;
    for (size_t i = 0; i < n; i++) {
        int home = 1;
        for (int f = 0; f < F; f++)
            home &= p[i].rank[f] == 0;
        if (home)
            s[h++] = p[i];
        else
            s[o++] = p[i];
    }
    qsort(s + L, n - (size_t)L, sizeof *s, ref_cmp);
    free(p);
    *out = s;
    return n;
}

static void check_against_reference(int L, int F, int m, unsigned seed)
{
    int bits = 1;
    while ((1 << bits) < 2 * m)
        bits++;
    float *z = malloc((size_t)L * F * m * sizeof *z);
    srand(seed);
    for (int i = 0; i < L * F * m; i++)
        z[i] = (float)rand() / RAND_MAX * 2.0f - 1.0f;
    uint32_t codes[16];
    for (int t = 0; t < L; t++) {
        codes[t] = 0;
        for (int f = 0; f < F; f++)
            codes[t] |= (uint32_t)lsh_argmax_signed(z + (t * F + f) * m, m) << (f * bits);
    }
    ref_probe *ref;
    size_t total = ref_sequence(z, L, F, m, bits, &ref);
    const int budgets[] = {1, L, L + 1, L + 7, 100, 333, (int)total - 1, (int)total, (int)total + 50};
    for (size_t b = 0; b < sizeof budgets / sizeof *budgets; b++) {
        int P = budgets[b];
        if (P < 1)
            continue;
        void *work = malloc(lsh_probe_xp_work_bytes(L, F, m, P));
        lsh_probe *out = malloc((size_t)P * sizeof *out);
        int n = lsh_probe_sequence_xp(codes, z, L, F, m, bits, P, work, out);
        cr_assert_eq(n, P < (int)total ? P : (int)total, "F %d m %d budget %d", F, m, P);
        for (int i = 0; i < n; i++) {
            cr_assert_eq(out[i].table, ref[i].table, "F %d m %d budget %d probe %d", F, m, P, i);
            cr_assert_eq(out[i].code, ref[i].code, "F %d m %d budget %d probe %d", F, m, P, i);
            cr_assert_float_eq(out[i].score, ref[i].score, 1e-6, "F %d m %d probe %d", F, m, i);
        }
        free(work);
        free(out);
    }
    free(ref);
    free(z);
}

Test(lsh_probe_xp, best_probes_equal_brute_force)
{
    check_against_reference(6, 2, 8, 1);    /* 16 alternatives: all values */
    check_against_reference(5, 2, 32, 2);   /* 64 values, the best 16 kept */
    check_against_reference(7, 1, 16, 3);
    check_against_reference(3, 3, 8, 4);
    check_against_reference(4, 2, 4, 5);    /* only 8 alternatives per function */
}

/* Every score 0 (a zero query): no threshold separates the tuples, yet the
 * sequence is P distinct probes in key order, table 0's tuples first. */
Test(lsh_probe_xp, tied_scores_still_give_distinct_probes_in_key_order)
{
    const int L = 3, F = 2, m = 8, bits = 4, P = 100;
    float z[3 * 2 * 8] = {0};
    uint32_t codes[3] = {0, 0, 0};
    void *work = malloc(lsh_probe_xp_work_bytes(L, F, m, P));
    lsh_probe out[100];
    int n = lsh_probe_sequence_xp(codes, z, L, F, m, bits, P, work, out);
    cr_assert_eq(n, P);
    int seen[3][256] = {{0}};
    for (int i = 0; i < n; i++) {
        cr_assert_eq(out[i].score, 0.0f);
        cr_assert_eq(seen[out[i].table][out[i].code], 0, "probe %d repeats a bucket", i);
        seen[out[i].table][out[i].code] = 1;
        if (i < L)
            cr_assert_eq(out[i].table, i, "homes first");
        else
            cr_assert_eq(out[i].table, 0, "ties go in key order: table 0 has 255 more tuples");
    }
    free(work);
}
