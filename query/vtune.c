/*
 * vtune.c — when a collection's vector search uses LSH, and with which
 * parameters (lctx_retune, and the check after every commit).
 *
 * Below VTUNE_THRESHOLD vectors search scans every vector exactly
 * (vsearch.c): one sequential pass over a few MB is faster than hashing,
 * probing and re-scoring, and it is exact. When a commit first takes the
 * count over the threshold, and again each time the count doubles since the
 * last tuning, the tuner (lsh_tune.c) picks K, L and the probe budget that
 * reach the collection's target recall@10 on a sample of its own vectors
 * (held-out rows used as queries, exact ground truth), and every bucket is
 * rebuilt with them in one LMDB write transaction (indexer/vecapply.c), so
 * a search sees either the old tables or the new ones. The parameters and
 * the measured recall go into lsh_meta (what searches read) and into the
 * catalog config (what lctx_stats and people read); lsh_tuned_vectors
 * records the count tuned at.
 *
 * The tables are random hyperplanes (SimHash bits) probed query-directed:
 * their codes are a function of (dim, K, L, seed) only, which is all
 * lsh_meta needs to describe them.
 *
 * Tuning reads at most VTUNE_SAMPLE vectors (evenly spaced in chunk order):
 * enough for the 200 sample queries' recall to be measured against a
 * realistic neighbourhood, bounded in memory and time on big collections.
 */
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "query/query.h"

enum { VTUNE_SAMPLE = 50000 };
/* Every tuning hashes with this seed, so the parameters the catalog
 * records are enough to rebuild the same tables (vtune_restore). */
#define VTUNE_SEED 0x6c6374786c7368ull

static size_t threshold(const lctx_db *db)
{
    return db->test_lsh_threshold ? db->test_lsh_threshold : VTUNE_THRESHOLD;
}

static int vector_count(lctx_db *db, size_t *n)
{
    MDB_txn *txn;
    int rc = kv_read_begin(db, &txn);
    if (rc)
        return rc;
    MDB_stat st;
    int m = mdb_stat(txn, db->dbi_vec, &st);
    kv_read_end(db, txn);
    if (m)
        return kv_err(db, m, "vector statistics");
    *n = st.ms_entries;
    return LCTX_OK;
}

/* Up to VTUNE_SAMPLE stored vectors, decoded, evenly spaced. */
static int read_sample(lctx_db *db, size_t total, float **out, size_t *n)
{
    size_t want = total < VTUNE_SAMPLE ? total : VTUNE_SAMPLE;
    float *v = malloc(want * (size_t)db->dim * sizeof *v);
    if (!v)
        return store_err(db, LCTX_ENOMEM, "out of memory");
    MDB_txn *txn;
    int rc = kv_read_begin(db, &txn);
    if (rc) {
        free(v);
        return rc;
    }
    vecstore vs;
    vecstore_of(db, &vs, NULL);
    MDB_cursor *cur;
    int m = mdb_cursor_open(txn, vs.dbi, &cur);
    size_t got = 0, i = 0;
    MDB_val k, val;
    if (!m) {
        for (m = mdb_cursor_get(cur, &k, &val, MDB_FIRST); m == 0 && got < want;
             m = mdb_cursor_get(cur, &k, &val, MDB_NEXT), i++) {
            /* row i is taken when it crosses the next multiple of total/want */
            if ((i * want) / total != ((i + 1) * want) / total && val.mv_size == vs.row_bytes)
                vecstore_decode(vs.enc, vs.dim, val.mv_data, v + got++ * (size_t)db->dim);
        }
        mdb_cursor_close(cur);
        if (m == MDB_NOTFOUND || got == want)
            m = 0;
    }
    kv_read_end(db, txn);
    if (m) {
        free(v);
        return kv_err(db, m, "read vectors");
    }
    *out = v;
    *n = got;
    return LCTX_OK;
}

static int record(lctx_db *db, const lsh_store_config *c, size_t tuned_at)
{
    char v[64];
    int rc;
    snprintf(v, sizeof v, "%u", c->k_bits);
    if ((rc = embed_config_set(db, "lsh_bits", v)))
        return rc;
    snprintf(v, sizeof v, "%u", c->n_tables);
    if ((rc = embed_config_set(db, "lsh_tables", v)))
        return rc;
    snprintf(v, sizeof v, "%u", c->probes);
    if ((rc = embed_config_set(db, "lsh_probes", v)))
        return rc;
    snprintf(v, sizeof v, "%.6f", c->measured_recall);
    if ((rc = embed_config_set(db, "lsh_recall", v)))
        return rc;
    snprintf(v, sizeof v, "%.17g", c->target_recall);
    if ((rc = embed_config_set(db, "lsh_target_recall", v)))
        return rc;
    snprintf(v, sizeof v, "%zu", tuned_at);
    return embed_config_set(db, "lsh_tuned_vectors", v);
}

int vtune_run(lctx_db *db, double target)
{
    if (!(target > 0 && target <= 1))
        target = db->lsh_target > 0 ? db->lsh_target : 0.95;
    size_t total = 0;
    int rc = vector_count(db, &total);
    if (rc)
        return rc;
    lsh_store_config c = {1, (uint32_t)db->dim, (uint32_t)db->venc, 0, 0, 0, VTUNE_SEED,
                          target, 0};
    if (total >= threshold(db) && total >= 32) { /* the tuner needs a sample */
        float *v = NULL;
        size_t n = 0;
        if ((rc = read_sample(db, total, &v, &n)))
            return rc;
        lsh_tune_opts o;
        lsh_tune_opts_init(&o);
        o.target_recall = target;
        o.family = LSH_HYPERPLANE;
        o.encoding = (vecstore_encoding)db->venc;
        o.seed = c.seed;
        lsh_tune_result res;
        char err[256] = "";
        int t = lsh_tune(db->dim, n, v, &o, &res, err, sizeof err);
        free(v);
        if (t < 0)
            return store_err(db, LCTX_ERROR, "%s: lsh tuning: %s", db->path, err);
        if (t == 1)
            store_warn(db, "%s: lsh tuning reached recall %.3f, below the target %.3f",
                       db->path, res.recall, target);
        c.k_bits = (uint32_t)res.params.k_bits;
        c.n_tables = (uint32_t)res.params.n_tables;
        c.probes = (uint32_t)res.params.probes;
        c.measured_recall = res.recall;
    }
    if ((rc = vec_lsh_rebuild(db, &c)))
        return rc;
    db->lsh_target = target;
    return record(db, &c, c.n_tables ? total : 0);
}

int vtune_after_commit(lctx_db *db)
{
    if (!db->has_vectors)
        return LCTX_OK;
    size_t total = 0;
    int rc = vector_count(db, &total);
    if (rc || total < threshold(db))
        return rc;
    uint64_t tuned = 0;
    if (catalog_get_u64(db, db->wdb, "lsh_tuned_vectors", &tuned))
        tuned = 0;
    store_clear_err(db);
    if (tuned && total < 2 * tuned)
        return LCTX_OK;
    return vtune_run(db, db->lsh_target);
}

int vtune_restore(lctx_db *db)
{
    uint64_t bits, tables, probes;
    char recall[64];
    if (!db->has_vectors || catalog_get_u64(db, db->wdb, "lsh_tables", &tables) || !tables) {
        store_clear_err(db);
        return LCTX_OK;    /* never tuned: searches scan exactly, as before */
    }
    if (catalog_get_u64(db, db->wdb, "lsh_bits", &bits) ||
        catalog_get_u64(db, db->wdb, "lsh_probes", &probes) ||
        catalog_get_text(db->wdb, "lsh_recall", recall, sizeof recall))
        return store_err(db, LCTX_ECORRUPT, "%s/catalog.db: the last LSH tuning is recorded "
                         "only in part", db->path);
    lsh_store_config c = {1, (uint32_t)db->dim, (uint32_t)db->venc, (uint32_t)bits,
                          (uint32_t)tables, (uint32_t)probes, VTUNE_SEED, db->lsh_target,
                          atof(recall)};
    return vec_lsh_rebuild(db, &c);
}

int lctx_retune(lctx_db *db, double target_recall)
{
    if (!db)
        return LCTX_EINVAL;
    if (db->flags & LCTX_OPEN_READONLY)
        return store_err(db, LCTX_ESTATE, "%s: opened read-only", db->path);
    if (!db->has_vectors)
        return store_err(db, LCTX_EUNSUPPORTED, "%s: collection has no vectors (created "
                         "without an embedder)", db->path);
    if (!(target_recall <= 1))          /* NaN too */
        return store_err(db, LCTX_EINVAL, "target recall must be in (0, 1]");
    pthread_mutex_lock(&db->write_mu);
    int rc;
    if (db->batch)
        rc = store_err(db, LCTX_ESTATE, "lctx_retune: a batch is open");
    else if (!(rc = store_lock(db))) {
        rc = vtune_run(db, target_recall);
        store_unlock(db);
    }
    pthread_mutex_unlock(&db->write_mu);
    return rc;
}
