/*
 * test_lsh_store.c — vectors and LSH buckets in LMDB (store/vecstore.c,
 * store/lsh_store.c) against direct computation: every bucket read by cursor
 * holds exactly the chunks whose stored vector hashes to it; deletes remove
 * exactly their entries (the store then equals a rebuild over the live
 * chunks); multi-page buckets come back whole; a search over LMDB probing
 * every bucket equals exact search over the stored vectors; the config
 * record round-trips.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "query/query.h"
#include "store/store.h"

typedef struct env_fixture {
    char dir[64];
    MDB_env *env;
} env_fixture;

static void env_open(env_fixture *f)
{
    snprintf(f->dir, sizeof f->dir, "/tmp/lctx-lshstore-XXXXXX");
    cr_assert_not_null(mkdtemp(f->dir));
    cr_assert_eq(mdb_env_create(&f->env), 0);
    mdb_env_set_maxdbs(f->env, 8);
    mdb_env_set_mapsize(f->env, (size_t)64 << 20);
    cr_assert_eq(mdb_env_open(f->env, f->dir, 0, 0644), 0);
}

static void env_close(env_fixture *f)
{
    mdb_env_close(f->env);
    char path[128];
    snprintf(path, sizeof path, "%s/data.mdb", f->dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/lock.mdb", f->dir);
    unlink(path);
    rmdir(f->dir);
}

static float *random_vecs(size_t n, int dim, unsigned seed)
{
    float *v = malloc(n * dim * sizeof *v);
    srand(seed);
    for (size_t i = 0; i < n * dim; i++)
        v[i] = (float)rand() / RAND_MAX * 2.0f - 1.0f;
    return v;
}

/* Codes of the stored (decoded) vector of chunk, as insert and delete use. */
static void stored_codes(MDB_txn *txn, const vecstore *vs, const lsh_hasher *h, uint32_t chunk,
                         uint32_t *codes)
{
    float x[64];
    float *work = malloc(lsh_hasher_work_floats(h) * sizeof *work);
    cr_assert_eq(vecstore_read(txn, vs, chunk, x), 0);
    lsh_hasher_hash(h, x, codes, NULL, work);
    free(work);
}

typedef struct id_list {
    uint32_t *ids;
    size_t n, cap;
} id_list;

static int collect(void *ctx, const uint32_t *ids, size_t n)
{
    id_list *l = ctx;
    if (l->n + n > l->cap) {
        l->cap = 2 * (l->n + n);
        l->ids = realloc(l->ids, l->cap * sizeof *l->ids);
    }
    memcpy(l->ids + l->n, ids, n * sizeof *ids);
    l->n += n;
    return 0;
}

/* Every bucket of every table holds exactly the live chunks hashing to it. */
static void assert_buckets(MDB_txn *txn, const lsh_store *ls, const vecstore *vs,
                           const lsh_hasher *h, const int *live, uint32_t n, int K, int L)
{
    uint32_t (*codes)[8] = calloc(n, sizeof *codes);
    for (uint32_t c = 0; c < n; c++)
        if (live[c])
            stored_codes(txn, vs, h, c, codes[c]);
    for (int t = 0; t < L; t++)
        for (uint32_t code = 0; code < (1u << K); code++) {
            id_list got = {0};
            cr_assert_eq(lsh_store_bucket(txn, ls, t, code, collect, &got), 0);
            size_t j = 0;
            for (uint32_t c = 0; c < n; c++) {
                if (!live[c] || codes[c][t] != code)
                    continue;
                cr_assert_lt(j, got.n, "table %d code %u: missing chunk %u", t, code, c);
                cr_assert_eq(got.ids[j], c, "table %d code %u", t, code);
                j++;
            }
            cr_assert_eq(j, got.n, "table %d code %u: %zu extra ids", t, code, got.n - j);
            free(got.ids);
        }
    free(codes);
}

Test(lsh_store, buckets_match_hashing_through_inserts_and_deletes)
{
    env_fixture f;
    env_open(&f);
    int dim = 24, K = 4, L = 3;
    uint32_t n = 400;
    float *v = random_vecs(n, dim, 1);
    lsh_hasher *h = lsh_hasher_new(dim, K, L, 99, NULL, 0);
    MDB_txn *txn;
    vecstore vs;
    lsh_store ls;
    cr_assert_eq(mdb_txn_begin(f.env, NULL, 0, &txn), 0);
    cr_assert_eq(vecstore_open(txn, 1, dim, VECSTORE_I8, &vs), 0);
    cr_assert_eq(lsh_store_open(txn, 1, &ls), 0);
    int *live = calloc(n, sizeof *live);
    for (uint32_t c = 0; c < n; c++) {
        uint32_t codes[8];
        cr_assert_eq(vecstore_put(txn, &vs, c, v + (size_t)c * dim), 0);
        stored_codes(txn, &vs, h, c, codes);
        cr_assert_eq(lsh_store_add(txn, &ls, c, codes, L), 0);
        live[c] = 1;
    }
    cr_assert_eq(mdb_txn_commit(txn), 0);

    cr_assert_eq(mdb_txn_begin(f.env, NULL, MDB_RDONLY, &txn), 0);
    assert_buckets(txn, &ls, &vs, h, live, n, K, L);
    mdb_txn_abort(txn);

    /* delete every third chunk, in one transaction */
    cr_assert_eq(mdb_txn_begin(f.env, NULL, 0, &txn), 0);
    for (uint32_t c = 0; c < n; c += 3) {
        uint32_t codes[8];
        stored_codes(txn, &vs, h, c, codes);
        cr_assert_eq(lsh_store_del(txn, &ls, c, codes, L), 0);
        cr_assert_eq(lsh_store_del(txn, &ls, c, codes, L), 0);  /* replay: no error */
        cr_assert_eq(vecstore_del(txn, &vs, c), 0);
        live[c] = 0;
    }
    cr_assert_eq(mdb_txn_commit(txn), 0);
    cr_assert_eq(mdb_txn_begin(f.env, NULL, MDB_RDONLY, &txn), 0);
    assert_buckets(txn, &ls, &vs, h, live, n, K, L);
    size_t entries, n_live = 0;
    for (uint32_t c = 0; c < n; c++)
        n_live += live[c];
    cr_assert_eq(lsh_store_count(txn, &ls, &entries), 0);
    cr_assert_eq(entries, n_live * L);
    const void *row;
    cr_assert_eq(vecstore_get(txn, &vs, 0, &row), MDB_NOTFOUND);
    mdb_txn_abort(txn);

    free(live);
    free(v);
    lsh_hasher_free(h);
    env_close(&f);
}

/* One table of one bit: two buckets of ~1500 ids, several dupfixed pages. */
Test(lsh_store, large_buckets_read_whole_and_in_order)
{
    env_fixture f;
    env_open(&f);
    lsh_store ls;
    MDB_txn *txn;
    cr_assert_eq(mdb_txn_begin(f.env, NULL, 0, &txn), 0);
    cr_assert_eq(lsh_store_open(txn, 1, &ls), 0);
    for (uint32_t c = 0; c < 3000; c++) {
        uint32_t code = (c * 2654435761u) >> 31;
        cr_assert_eq(lsh_store_add(txn, &ls, c, &code, 1), 0);
    }
    cr_assert_eq(mdb_txn_commit(txn), 0);
    cr_assert_eq(mdb_txn_begin(f.env, NULL, MDB_RDONLY, &txn), 0);
    size_t total = 0;
    for (uint32_t code = 0; code < 2; code++) {
        id_list got = {0};
        cr_assert_eq(lsh_store_bucket(txn, &ls, 0, code, collect, &got), 0);
        uint32_t prev = 0;
        size_t expect = 0;
        for (uint32_t c = 0; c < 3000; c++)
            expect += ((c * 2654435761u) >> 31) == code;
        cr_assert_eq(got.n, expect);
        for (size_t i = 0; i < got.n; i++) {
            cr_assert_eq((got.ids[i] * 2654435761u) >> 31, code);
            if (i)
                cr_assert_gt(got.ids[i], prev);
            prev = got.ids[i];
        }
        total += got.n;
        free(got.ids);
    }
    cr_assert_eq(total, 3000);
    id_list none = {0};
    cr_assert_eq(lsh_store_bucket(txn, &ls, 5, 0, collect, &none), 0);   /* empty bucket */
    cr_assert_eq(none.n, 0);
    mdb_txn_abort(txn);
    env_close(&f);
}

typedef struct score_ctx {
    MDB_txn *txn;
    const vecstore *vs;
    const float *q;
    uint8_t *seen;
    float best[5];
    uint32_t best_id[5];
} score_ctx;

static int score_ids(void *ctx, const uint32_t *ids, size_t n)
{
    score_ctx *s = ctx;
    for (size_t i = 0; i < n; i++) {
        if (s->seen[ids[i]]++)
            continue;
        float sc;
        cr_assert_eq(vecstore_score(s->txn, s->vs, ids[i], s->q, &sc), 0);
        int j = 4;
        if (sc <= s->best[j])
            continue;
        while (j > 0 && s->best[j - 1] < sc) {
            s->best[j] = s->best[j - 1];
            s->best_id[j] = s->best_id[j - 1];
            j--;
        }
        s->best[j] = sc;
        s->best_id[j] = ids[i];
    }
    return 0;
}

/* Probing every bucket through LMDB (probe sequence, cursor ranges, in-place
 * scoring) finds the exact top 5 over the stored vectors, for each encoding. */
Test(lsh_store, lmdb_search_all_probes_equals_exact)
{
    int dim = 16, K = 3, L = 2;
    uint32_t n = 300;
    float *v = random_vecs(n, dim, 5), *q = random_vecs(4, dim, 6);
    vecstore_encoding encs[3] = {VECSTORE_F32, VECSTORE_F16, VECSTORE_I8};
    lsh_hasher *h = lsh_hasher_new(dim, K, L, 3, NULL, 0);
    float *work = malloc(lsh_hasher_work_floats(h) * sizeof *work);
    for (int e = 0; e < 3; e++) {
        env_fixture f;
        env_open(&f);
        MDB_txn *txn;
        vecstore vs;
        lsh_store ls;
        cr_assert_eq(mdb_txn_begin(f.env, NULL, 0, &txn), 0);
        cr_assert_eq(vecstore_open(txn, 1, dim, encs[e], &vs), 0);
        cr_assert_eq(lsh_store_open(txn, 1, &ls), 0);
        lsh_store_config cfg = {1, (uint32_t)dim, encs[e], K, L, 4 * L, 3, 0.95, 0.97};
        cr_assert_eq(lsh_store_config_put(txn, &ls, &cfg), 0);
        for (uint32_t c = 0; c < n; c++) {
            uint32_t codes[2];
            cr_assert_eq(vecstore_put(txn, &vs, c, v + (size_t)c * dim), 0);
            stored_codes(txn, &vs, h, c, codes);
            cr_assert_eq(lsh_store_add(txn, &ls, c, codes, L), 0);
        }
        cr_assert_eq(mdb_txn_commit(txn), 0);
        cr_assert_eq(mdb_txn_begin(f.env, NULL, MDB_RDONLY, &txn), 0);
        lsh_store_config back;
        cr_assert_eq(lsh_store_config_get(txn, &ls, &back), 0);
        cr_assert_eq(memcmp(&back, &cfg, sizeof cfg), 0);
        float *dec = malloc((size_t)n * dim * sizeof *dec);
        for (uint32_t c = 0; c < n; c++)
            cr_assert_eq(vecstore_read(txn, &vs, c, dec + (size_t)c * dim), 0);
        for (int i = 0; i < 4; i++) {
            float qn[16];
            double ss = 0;
            for (int d = 0; d < dim; d++) ss += (double)q[i * dim + d] * q[i * dim + d];
            for (int d = 0; d < dim; d++) qn[d] = q[i * dim + d] / (float)sqrt(ss);
            uint32_t codes[2];
            float margins[6];
            lsh_hasher_hash(h, qn, codes, margins, work);
            int budget = L << K;
            void *pw = malloc(lsh_probe_work_bytes(L, K, budget));
            lsh_probe *pr = malloc(budget * sizeof *pr);
            cr_assert_eq(lsh_probe_sequence(codes, margins, L, K, budget, pw, pr), budget);
            score_ctx s = {txn, &vs, qn, calloc(n, 1), {-9, -9, -9, -9, -9}, {0}};
            for (int p = 0; p < budget; p++)
                cr_assert_eq(lsh_store_bucket(txn, &ls, pr[p].table, pr[p].code, score_ids, &s), 0);
            int64_t ids[5];
            cr_assert_eq(lsh_exact_topk(dec, n, dim, qn, 1, 5, NULL, ids, NULL), 0);
            for (int j = 0; j < 5; j++)
                cr_assert_eq(s.best_id[j], (uint32_t)ids[j], "%s query %d rank %d",
                             vecstore_encoding_name(encs[e]), i, j);
            free(s.seen);
            free(pw);
            free(pr);
        }
        free(dec);
        mdb_txn_abort(txn);
        env_close(&f);
    }
    free(work);
    free(v);
    free(q);
    lsh_hasher_free(h);
}
