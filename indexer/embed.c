/*
 * embed.c — chunk vectors on the write path: the collection's embedder
 * settings, the encoder, and embedding a write batch.
 *
 * Settings. A collection's embedder ("use-lite", "bert:DIR", "http:URL" or
 * "none"), its dimension, its vector encoding (int8, f16, f32) and the LSH
 * target recall are written into the catalog's config table when the
 * collection is created, and never change: every stored vector must come
 * from the same model to be comparable. Creating a collection with an
 * embedder therefore opens the encoder once, to learn its dimension. A later
 * open that names a different embedder, or whose encoder answers with a
 * different dimension, is refused with a message naming both values; an
 * open with the default ("none") just uses what the collection has, as
 * searches do.
 *
 * Embedding a batch. The worker thread that tokenizes lctx_add's documents
 * also appends each chunk's text (title, newline, chunk text: the title
 * carries much of a short chunk's topic) to the batch's embed_batch. At
 * lctx_commit, before the SQLite COMMIT, the texts are embedded in groups of
 * EMBED_GROUP (one encoder call each: the model's matrix products work on
 * the whole group), encoded once (store/store.h, vector encodings) and written twice: into
 * the catalog's `vectors` table inside the batch's SQLite transaction, and
 * handed to kv_apply_batch as the rows LMDB stores. An encoder failure
 * (model error, HTTP timeout) therefore happens before the commit point and
 * the batch is rolled back with both stores untouched.
 *
 * Why a copy in SQLite. LMDB is derived state that recovery rebuilds from
 * the catalog (docs/format.md). Re-embedding on replay would work for the
 * local models (they are deterministic) but not for an HTTP embedder, which
 * may be down, slow or changed. Reading the stored bytes back makes the
 * replay exact for every embedder and costs one encoded row per chunk
 * (516 bytes for USE-lite in int8). The first apply writes the very bytes
 * the catalog holds, so a replayed collection is byte-identical.
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attention/attention.h"
#include "indexer/indexer.h"
#include "query/query.h" /* vtune_after_commit: the tuner lives with the LSH index */
#include "store/store.h"

enum { EMBED_GROUP = 64 };

/* ------------------------------------------------------- config records */
int embed_config_set(lctx_db *db, const char *key, const char *value)
{
    return catalog_set_text(db, db->wdb, key, value);
}

static int is_none(const char *spec)
{
    return !spec || !*spec || !strcmp(spec, "none");
}

/* ------------------------------------------------------- the probe
 * A spec names a model, not its weights: a bert folder whose files were
 * replaced, a service that now runs another model of the same size, give
 * vectors of the right dimension that the stored ones cannot be compared
 * with, and every vector search would quietly rank noise. So a collection
 * also records the vector its embedder gave for one fixed text, and every
 * later opening of the encoder embeds the text again and compares. Local
 * models repeat it to float rounding and a service to its own noise; a
 * different model lands far from it (near 0 for an unrelated one). The
 * text must never change: every recorded probe is of it. */
static const char PROBE_TEXT[] =
    "lctx embedder probe. Rivers carry sediment down to the sea, where it settles "
    "into deltas over thousands of years; 42 barges passed Rotterdam on 3 May.";
#define PROBE_MIN_COSINE 0.99

/* The probe's vector from e into a new array (db->dim floats). */
static int probe_encode(lctx_db *db, encoder *e, float **out)
{
    const char *texts[1] = {PROBE_TEXT};
    char err[512] = "";
    float *v = malloc((size_t)db->dim * sizeof *v);
    *out = NULL;
    if (!v)
        return store_err(db, LCTX_ENOMEM, "out of memory");
    if (encoder_encode(e, texts, 1, v, err, sizeof err)) {
        free(v);
        return store_err(db, LCTX_ERROR, "%s: embedder %s: %s", db->path, db->embedder, err);
    }
    double ss = 0;
    for (int i = 0; i < db->dim; i++)
        ss += (double)v[i] * v[i];
    if (!isfinite(ss) || !(ss > 0)) {
        free(v);
        return store_err(db, LCTX_ERROR, "%s: embedder %s gave a vector that is zero or holds "
                         "a value that is not a finite number", db->path, db->embedder);
    }
    *out = v;
    return LCTX_OK;
}

/* Embeds the probe with e and records it in the writer's open transaction. */
static int probe_record(lctx_db *db, encoder *e)
{
    float *v;
    int rc = probe_encode(db, e, &v);
    if (rc)
        return rc;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db->wdb, "INSERT OR REPLACE INTO config(key,value) "
                           "VALUES('embedder_probe',?)", -1, &st, NULL)) {
        free(v);
        return store_err(db, LCTX_EIO, "%s/catalog.db: %s", db->path, sqlite3_errmsg(db->wdb));
    }
    sqlite3_bind_blob(st, 1, v, db->dim * (int)sizeof *v, SQLITE_STATIC);
    rc = sqlite3_step(st) == SQLITE_DONE ? LCTX_OK
         : store_err(db, LCTX_EIO, "%s/catalog.db: %s", db->path, sqlite3_errmsg(db->wdb));
    sqlite3_finalize(st);
    if (rc)
        free(v);
    else {
        free(db->embed_probe);
        db->embed_probe = v;
    }
    return rc;
}

/* The recorded probe into db->embed_probe; none is fine (a collection made
 * before probes were recorded gets one with its next batch). */
static int probe_load(lctx_db *db, sqlite3 *conn)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(conn, "SELECT value FROM config WHERE key='embedder_probe'", -1, &st,
                           NULL))
        return store_err(db, LCTX_EIO, "%s/catalog.db: %s", db->path, sqlite3_errmsg(conn));
    int rc = LCTX_OK;
    if (sqlite3_step(st) == SQLITE_ROW) {
        size_t want = (size_t)db->dim * sizeof(float);
        if ((size_t)sqlite3_column_bytes(st, 0) != want ||
            sqlite3_column_type(st, 0) != SQLITE_BLOB)
            rc = store_err(db, LCTX_ECORRUPT, "%s/catalog.db: the embedder probe is not %d "
                           "floats", db->path, db->dim);
        else if (!(db->embed_probe = malloc(want)))
            rc = store_err(db, LCTX_ENOMEM, "out of memory");
        else
            memcpy(db->embed_probe, sqlite3_column_blob(st, 0), want);
    }
    sqlite3_finalize(st);
    return rc;
}

/* e against the recorded probe: LCTX_OK, or why its vectors do not belong. */
static int probe_check(lctx_db *db, encoder *e)
{
    if (!db->embed_probe)
        return LCTX_OK;
    float *v;
    int rc = probe_encode(db, e, &v);
    if (rc)
        return rc;
    double dot = 0, na = 0, nb = 0;
    for (int i = 0; i < db->dim; i++) {
        dot += (double)v[i] * db->embed_probe[i];
        na += (double)v[i] * v[i];
        nb += (double)db->embed_probe[i] * db->embed_probe[i];
    }
    free(v);
    double cos = na > 0 && nb > 0 ? dot / sqrt(na * nb) : 0;
    if (cos >= PROBE_MIN_COSINE)
        return LCTX_OK;
    return store_err(db, LCTX_EINVAL, "%s: embedder %s is not the model this collection was "
                     "built with: its vector for a fixed probe text has cosine %.3f with the "
                     "one recorded at creation (at least %.2f expected); restore that model, "
                     "or index into a new collection", db->path, db->embedder, cos,
                     PROBE_MIN_COSINE);
}

/* spec as the collection records it: bert:DIR with DIR made absolute, so
 * that the collection works from any working directory and "bert:./m" and
 * "bert:m" name one model; other specs as given. 0, or -1 when DIR cannot
 * be resolved (spec is then copied as given, for the encoder to report)
 * or the result does not fit. */
static int canonical_spec(const char *spec, char *out, size_t len)
{
    char abs[PATH_MAX];
    if (strncmp(spec, "bert:", 5) == 0 && spec[5] && spec[5] != '/' && realpath(spec + 5, abs))
        return snprintf(out, len, "bert:%s", abs) < (int)len ? 0 : -1;
    return snprintf(out, len, "%s", spec) < (int)len ? 0 : -1;
}

/* The encoding names users write; stored canonical. */
static const char *enc_name(int e)
{
    return e == VECSTORE_I8 ? "int8" : e == VECSTORE_F16 ? "f16" : "f32";
}

const char *embed_encoding_name(int enc)
{
    return enc_name(enc);
}

/* Records the vector settings of a collection being created. */
static int create_settings(lctx_db *db, const lctx_config *cfg)
{
    if (is_none(cfg->embedder))
        return embed_config_set(db, "embedder", "none");
    char spec[sizeof db->embedder];
    if (canonical_spec(cfg->embedder, spec, sizeof spec))
        return store_err(db, LCTX_EINVAL, "embedder spec too long");
    int enc = vecstore_encoding_parse(cfg->vector_encoding ? cfg->vector_encoding : "int8");
    if (enc < 0)
        return store_err(db, LCTX_EINVAL, "vector encoding '%s': expected int8, f16 or f32",
                         cfg->vector_encoding);
    double target = cfg->lsh_target_recall;
    if (!(target > 0 && target <= 1))
        target = 0.95;
    char err[512] = "";
    encoder *e = encoder_open(cfg->embedder, cfg->model_dir, err, sizeof err);
    if (!e)
        return store_err(db, LCTX_EINVAL, "%s: embedder %s: %s", db->path, cfg->embedder, err);
    const encoder_info *info = encoder_get_info(e);
    int dim = info->dim;
    if (info->is_cross_encoder || dim < 1) {
        encoder_close(e);
        return store_err(db, LCTX_EINVAL, "%s: embedder %s does not produce vectors", db->path,
                         cfg->embedder);
    }
    if (dim > VECSTORE_MAX_DIM) {
        encoder_close(e);
        return store_err(db, LCTX_EINVAL, "%s: embedder %s gives %d dimensions; a collection "
                         "holds vectors of at most %d", db->path, cfg->embedder, dim,
                         VECSTORE_MAX_DIM);
    }
    db->encoder = e; /* kept: the first batch needs it anyway */
    db->dim = dim;
    char num[64];
    int rc;
    snprintf(num, sizeof num, "%d", dim);
    if ((rc = embed_config_set(db, "embedder", spec)) ||
        (rc = embed_config_set(db, "dim", num)) ||
        (rc = embed_config_set(db, "vector_encoding", enc_name(enc))) ||
        (rc = probe_record(db, e)))
        return rc;
    snprintf(num, sizeof num, "%.17g", target);
    return embed_config_set(db, "lsh_target_recall", num);
}

/* No embedder record: a new collection (record the caller's choice) or one
 * made before vectors existed (none). The settings go in one transaction:
 * one sync instead of one per key. */
static int record_settings(lctx_db *db, const lctx_config *cfg)
{
    /* A catalog being created is inside its creation transaction already
     * (committed by store_open); otherwise the settings get their own. */
    int own = sqlite3_get_autocommit(db->wdb);
    uint64_t seq = 0;
    int rc = own ? catalog_exec(db, db->wdb, "BEGIN IMMEDIATE") : LCTX_OK;
    if (!rc)
        rc = catalog_last_seq(db, db->wdb, &seq);
    if (!rc)
        rc = seq == 0 ? create_settings(db, cfg) : embed_config_set(db, "embedder", "none");
    if (!rc && own)
        rc = catalog_exec(db, db->wdb, "COMMIT");
    if (rc && own && !sqlite3_get_autocommit(db->wdb))
        sqlite3_exec(db->wdb, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

static int load_settings(lctx_db *db, sqlite3 *conn)
{
    char buf[160];
    if (catalog_get_text(conn, "embedder", db->embedder, sizeof db->embedder) ||
        is_none(db->embedder)) {
        snprintf(db->embedder, sizeof db->embedder, "none");
        db->has_vectors = 0;
        return LCTX_OK;
    }
    db->has_vectors = 1;
    db->dim = catalog_get_text(conn, "dim", buf, sizeof buf) ? 0 : atoi(buf);
    db->venc = catalog_get_text(conn, "vector_encoding", buf, sizeof buf)
                   ? -1 : vecstore_encoding_parse(buf);
    db->lsh_target = catalog_get_text(conn, "lsh_target_recall", buf, sizeof buf)
                         ? 0.95 : strtod(buf, NULL);
    if (db->dim < 1 || db->venc < 0)
        return store_err(db, LCTX_ECORRUPT, "%s/catalog.db: vector settings missing or bad",
                         db->path);
    return db->embed_probe ? LCTX_OK : probe_load(db, conn);
}

/* Called by lctx_open after both stores are open, before recovery. */
int embed_open(lctx_db *db, const lctx_config *cfg)
{
    int readonly = (db->flags & LCTX_OPEN_READONLY) != 0;
    sqlite3 *conn = readonly ? store_conn_get(db) : db->wdb;
    if (!conn)
        return LCTX_EIO;
    int rc = LCTX_OK;
    char buf[160];
    if (!readonly && catalog_get_text(conn, "embedder", buf, sizeof buf))
        rc = record_settings(db, cfg);
    if (!rc)
        rc = load_settings(db, conn);
    if (readonly)
        store_conn_put(db, conn);
    if (rc)
        return rc;
    char spec[sizeof db->embedder] = "";
    if (!is_none(cfg ? cfg->embedder : NULL))
        canonical_spec(cfg->embedder, spec, sizeof spec);
    /* the spec as given still matches a collection recorded before specs
     * were made canonical */
    if (*spec && strcmp(spec, db->embedder) != 0 && strcmp(cfg->embedder, db->embedder) != 0)
        return store_err(db, LCTX_EINVAL, "%s: collection was created with embedder %s, "
                         "not %s", db->path, db->embedder, cfg->embedder);
    if (cfg && cfg->model_dir && !db->model_dir[0])
        snprintf(db->model_dir, sizeof db->model_dir, "%s", cfg->model_dir);
    if (!db->has_vectors)
        return LCTX_OK;
    if (db->encoder) {
        const encoder_info *info = encoder_get_info(db->encoder);
        if (info->dim != db->dim)
            return store_err(db, LCTX_EINVAL, "%s: embedder %s gives %d-dimensional vectors "
                             "but the collection stores %d", db->path, db->embedder, info->dim,
                             db->dim);
    }
    return kv_open_vectors(db);
}

void embed_close(lctx_db *db)
{
    if (db->encoder)
        encoder_close(db->encoder);
    db->encoder = NULL;
    free(db->embed_probe);
    db->embed_probe = NULL;
}

int embed_encoder(lctx_db *db, encoder **out)
{
    *out = NULL;
    if (!db->has_vectors)
        return store_err(db, LCTX_EUNSUPPORTED, "%s: collection has no vectors: index with "
                         "--embedder to use vector or hybrid search", db->path);
    int rc = LCTX_OK;
    pthread_mutex_lock(&db->enc_mu);
    if (!db->encoder) {
        char err[512] = "";
        encoder *e = encoder_open(db->embedder, db->model_dir[0] ? db->model_dir : NULL, err,
                                  sizeof err);
        if (!e)
            rc = store_err(db, LCTX_ERROR, "%s: embedder %s: %s", db->path, db->embedder, err);
        else if (encoder_get_info(e)->dim != db->dim) {
            rc = store_err(db, LCTX_EINVAL, "%s: embedder %s gives %d-dimensional vectors but "
                           "the collection stores %d", db->path, db->embedder,
                           encoder_get_info(e)->dim, db->dim);
            encoder_close(e);
        } else if ((rc = probe_check(db, e))) {
            encoder_close(e);
        } else {
            db->encoder = e;
        }
    }
    *out = db->encoder;
    pthread_mutex_unlock(&db->enc_mu);
    return rc;
}

/* Status of a failed encoder call, from its message. */
static int encode_status(const char *err)
{
    if (strstr(err, "timed out") || strstr(err, "timeout") || strstr(err, "Timeout"))
        return LCTX_ETIMEOUT;
    if (strstr(err, "http") || strstr(err, "HTTP"))
        return LCTX_EREMOTE;
    return LCTX_ERROR;
}

int embed_texts(lctx_db *db, const char *const *texts, int n, float *out)
{
    encoder *e;
    int rc = embed_encoder(db, &e);
    if (rc)
        return rc;
    char err[512] = "";
    if (encoder_encode(e, texts, n, out, err, sizeof err))
        return store_err(db, encode_status(err), "%s: embedder %s: %s", db->path, db->embedder,
                         err);
    for (int t = 0; t < n; t++) {   /* see run_group */
        const float *x = out + (size_t)t * (size_t)db->dim;
        double ss = 0;
        for (int i = 0; i < db->dim; i++)
            ss += (double)x[i] * x[i];
        if (!isfinite(ss))
            return store_err(db, LCTX_ERROR, "%s: embedder %s gave a vector holding a value "
                             "that is not a finite number", db->path, db->embedder);
        if (!(ss > 0))
            return store_err(db, LCTX_ERROR, "%s: embedder %s gave a zero vector, which has "
                             "no direction to rank by", db->path, db->embedder);
    }
    return LCTX_OK;
}

/* ------------------------------------------------------------ a batch */
struct embed_batch {
    uint32_t first_chunk;
    size_t n;                /* chunks collected */
    char *arena;             /* NUL-terminated texts, one per chunk */
    size_t len, cap;
    size_t *off;             /* offset of chunk i's text */
    size_t cap_off;
    uint8_t *rows;           /* encoded rows, after embed_batch_run */
};

embed_batch *embed_batch_new(void)
{
    return calloc(1, sizeof(embed_batch));
}

void embed_batch_free(embed_batch *eb)
{
    if (!eb)
        return;
    free(eb->arena);
    free(eb->off);
    free(eb->rows);
    free(eb);
}

static int arena_put(embed_batch *eb, const char *s, size_t n)
{
    if (eb->len + n + 1 > eb->cap) {
        size_t cap = eb->cap ? eb->cap : 1 << 16;
        while (cap < eb->len + n + 1)
            cap *= 2;
        char *a = realloc(eb->arena, cap);
        if (!a)
            return -1;
        eb->arena = a;
        eb->cap = cap;
    }
    if (n)
        memcpy(eb->arena + eb->len, s, n);
    eb->len += n;
    return 0;
}

int embed_batch_chunk(embed_batch *eb, uint32_t chunk, const char *title, size_t title_len,
                      const char *text, size_t len)
{
    if (eb->n == 0)
        eb->first_chunk = chunk;
    else if (chunk != eb->first_chunk + eb->n)
        return -1; /* chunks arrive in id order; anything else is a bug */
    if (eb->n == eb->cap_off) {
        size_t cap = eb->cap_off ? eb->cap_off * 2 : 1024;
        size_t *o = realloc(eb->off, cap * sizeof *o);
        if (!o)
            return -1;
        eb->off = o;
        eb->cap_off = cap;
    }
    eb->off[eb->n] = eb->len;
    if (arena_put(eb, title, title_len) || (title_len && len && arena_put(eb, "\n", 1)) ||
        arena_put(eb, text, len) || arena_put(eb, "", 1))
        return -1;
    eb->arena[eb->len - 1] = 0;
    eb->n++;
    return 0;
}

/* One group: embed, normalise, encode into rows. Runs on any thread. */
static int run_group(lctx_db *db, embed_batch *eb, size_t from, int n, float *vecs,
                     char *err, size_t errlen)
{
    const char *texts[EMBED_GROUP];
    for (int i = 0; i < n; i++)
        texts[i] = eb->arena + eb->off[from + (size_t)i];
    if (encoder_encode(db->encoder, texts, n, vecs, err, errlen))
        return encode_status(err);
    size_t rb = vecstore_row_bytes((vecstore_encoding)db->venc, db->dim);
    for (int i = 0; i < n; i++) {
        float *x = vecs + (size_t)i * (size_t)db->dim;
        double ss = 0;
        for (int j = 0; j < db->dim; j++)
            ss += (double)x[j] * x[j];
        /* NaN or inf from any embedder (a model with a damaged weight, a
         * service's number past float's range) would be stored and score
         * every search NaN: the batch fails instead. */
        if (!isfinite(ss)) {
            snprintf(err, errlen, "embedder %s gave a vector holding a value that is not a "
                     "finite number (chunk %zu of the batch)", db->embedder, from + (size_t)i);
            return LCTX_ERROR;
        }
        /* A zero vector has no direction: stored, it would score 0 against
         * every query and stand in every ranking as noise; a service that
         * answers zeros is failing, like one that answers NaN. */
        if (!(ss > 0)) {
            snprintf(err, errlen, "embedder %s gave a zero vector (chunk %zu of the batch)",
                     db->embedder, from + (size_t)i);
            return LCTX_ERROR;
        }
        float inv = (float)(1.0 / sqrt(ss));
        for (int j = 0; j < db->dim; j++)
            x[j] *= inv;
        vecstore_encode((vecstore_encoding)db->venc, db->dim, x,
                        eb->rows + (from + (size_t)i) * rb);
    }
    return LCTX_OK;
}

/* Embedding dominates indexing time (a 200-word chunk costs USE-lite a few
 * ms), and an encoder is thread-safe, so the groups of a batch are shared
 * out over one thread per core: each takes the next group until none is
 * left. The first error stops the others at their next group. */
typedef struct embed_pool {
    lctx_db *db;
    embed_batch *eb;
    pthread_mutex_t mu;
    size_t next;             /* first chunk of the next group to take */
    int rc;
    char err[512];
} embed_pool;

static void *embed_thread(void *arg)
{
    embed_pool *p = arg;
    float *vecs = malloc((size_t)EMBED_GROUP * (size_t)p->db->dim * sizeof *vecs);
    for (;;) {
        pthread_mutex_lock(&p->mu);
        size_t from = p->next;
        int stop = p->rc != LCTX_OK || from >= p->eb->n || !vecs;
        if (!vecs && p->rc == LCTX_OK) {
            p->rc = LCTX_ENOMEM;
            snprintf(p->err, sizeof p->err, "out of memory");
        }
        if (!stop)
            p->next += EMBED_GROUP;
        pthread_mutex_unlock(&p->mu);
        if (stop)
            break;
        int n = p->eb->n - from < EMBED_GROUP ? (int)(p->eb->n - from) : EMBED_GROUP;
        char err[512] = "";
        int rc = run_group(p->db, p->eb, from, n, vecs, err, sizeof err);
        if (rc) {
            pthread_mutex_lock(&p->mu);
            if (p->rc == LCTX_OK) {
                p->rc = rc;
                snprintf(p->err, sizeof p->err, "%s", err);
            }
            pthread_mutex_unlock(&p->mu);
        }
    }
    free(vecs);
    return NULL;
}

static int embed_all(lctx_db *db, embed_batch *eb)
{
    embed_pool p = {db, eb, PTHREAD_MUTEX_INITIALIZER, 0, LCTX_OK, ""};
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    size_t groups = (eb->n + EMBED_GROUP - 1) / EMBED_GROUP;
    int nt = cores < 1 ? 1 : cores > 32 ? 32 : (int)cores;
    if ((size_t)nt > groups)
        nt = (int)groups;
    pthread_t th[32];
    int started = 0;
    /* One sgemm thread per worker: OpenBLAS's own threads on top of ours
     * would fight for the same cores (attention/tensor.c). Process-wide,
     * hence restored afterwards. */
    int blas = tensor_get_threads();
    if (nt > 1)
        tensor_set_threads(1);
    for (int i = 1; i < nt; i++) /* the calling thread is the first worker */
        if (pthread_create(&th[started], NULL, embed_thread, &p) == 0)
            started++;
    embed_thread(&p);
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    if (nt > 1)
        tensor_set_threads(blas);
    pthread_mutex_destroy(&p.mu);
    if (p.rc == LCTX_ENOMEM)
        return store_err(db, LCTX_ENOMEM, "out of memory");
    if (p.rc)
        return store_err(db, p.rc, "%s: embedder %s: %s", db->path, db->embedder, p.err);
    return LCTX_OK;
}

int embed_batch_run(lctx_db *db, embed_batch *eb, store_batch *b)
{
    if (b->n_chunks != eb->n || (eb->n && eb->first_chunk != b->first_chunk))
        return store_err(db, LCTX_ERROR, "%s: internal error: %zu chunks to embed, batch has "
                         "%zu", db->path, eb->n, b->n_chunks);
    b->apply_vectors = vec_apply; /* tombstones drop vectors even without new chunks */
    if (eb->n == 0)
        return LCTX_OK;
    encoder *e;
    int rc = embed_encoder(db, &e);
    if (rc)
        return rc;
    /* A collection made before probes were recorded gets one now, in the
     * batch's transaction (the model that embeds the batch is the one the
     * collection goes on with). */
    if (!db->embed_probe && (rc = probe_record(db, e)))
        return rc;
    size_t rb = vecstore_row_bytes((vecstore_encoding)db->venc, db->dim);
    if (!(eb->rows = malloc(eb->n * rb)))
        return store_err(db, LCTX_ENOMEM, "out of memory");
    if ((rc = embed_all(db, eb)))
        return rc;
    /* The catalog's copy, in the batch's SQLite transaction. */
    sqlite3_stmt *ins;
    if (sqlite3_prepare_v2(db->wdb, "INSERT OR REPLACE INTO vectors VALUES(?,?)", -1, &ins,
                           NULL))
        return store_err(db, LCTX_ERROR, "%s/catalog.db: %s", db->path,
                         sqlite3_errmsg(db->wdb));
    for (size_t i = 0; i < eb->n && !rc; i++) {
        sqlite3_bind_int64(ins, 1, (sqlite3_int64)(eb->first_chunk + i));
        sqlite3_bind_blob(ins, 2, eb->rows + i * rb, (int)rb, SQLITE_STATIC);
        int s = sqlite3_step(ins);
        sqlite3_reset(ins);
        if (s != SQLITE_DONE)
            rc = store_err(db, s == SQLITE_FULL ? LCTX_EIO : LCTX_ERROR,
                           "%s/catalog.db: store vectors: %s", db->path, sqlite3_errmsg(db->wdb));
    }
    sqlite3_finalize(ins);
    if (!rc) {
        b->vec_rows = eb->rows;
        b->apply_vectors = vec_apply;
    }
    return rc;
}

/* Replay: the batch's rows as the catalog holds them. *rows is malloc'd. */
int embed_replay(lctx_db *db, store_batch *b, uint8_t **rows)
{
    *rows = NULL;
    b->apply_vectors = vec_apply;
    if (b->n_chunks == 0)
        return LCTX_OK;
    size_t rb = vecstore_row_bytes((vecstore_encoding)db->venc, db->dim);
    uint8_t *r = malloc(b->n_chunks * rb);
    if (!r)
        return store_err(db, LCTX_ENOMEM, "out of memory");
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(db->wdb, "SELECT chunk_id, vec FROM vectors WHERE chunk_id >= ? "
                           "AND chunk_id < ? ORDER BY chunk_id", -1, &s, NULL)) {
        free(r);
        return store_err(db, LCTX_ERROR, "%s/catalog.db: %s", db->path,
                         sqlite3_errmsg(db->wdb));
    }
    sqlite3_bind_int64(s, 1, b->first_chunk);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)b->first_chunk + (sqlite3_int64)b->n_chunks);
    /* Every chunk of the range has its row, in order, but for holes (chunks
     * of documents compaction removed, whose vectors went with them). */
    size_t want = 0, got = 0, at = 0;
    for (size_t i = 0; i < b->n_chunks; i++)
        want += b->chunks[i].doc != 0;
    while (sqlite3_step(s) == SQLITE_ROW) {
        uint64_t id = (uint64_t)sqlite3_column_int64(s, 0);
        while (at < b->n_chunks && b->chunks[at].doc == 0)
            at++;
        if (at == b->n_chunks || id != b->first_chunk + at ||
            (size_t)sqlite3_column_bytes(s, 1) != rb)
            break;
        memcpy(r + at * rb, sqlite3_column_blob(s, 1), rb);
        got++;
        at++;
    }
    sqlite3_finalize(s);
    if (got != want) {
        free(r);
        return store_err(db, LCTX_ECORRUPT, "%s/catalog.db: vectors of chunks %u..%zu missing "
                         "(replay)", db->path, b->first_chunk,
                         (size_t)b->first_chunk + b->n_chunks - 1);
    }
    *rows = r;
    b->vec_rows = r;
    return LCTX_OK;
}

/* After a failed LMDB apply was undone in the catalog: drop the batch's
 * vector copies too (ids from first_chunk on are reassigned next batch;
 * INSERT OR REPLACE would cover leftovers, this keeps the table clean). */
void embed_undo(lctx_db *db, uint64_t first_chunk)
{
    char sql[128];
    snprintf(sql, sizeof sql, "DELETE FROM vectors WHERE chunk_id >= %llu",
             (unsigned long long)first_chunk);
    sqlite3_exec(db->wdb, sql, NULL, NULL, NULL);
}

/* The batch is committed whatever happens here: a tuning failure leaves the
 * previous tables (or the exact scan) in place and is only a warning. */
int embed_after_commit(lctx_db *db)
{
    if (vtune_after_commit(db) != LCTX_OK)
        store_warn(db, "%s", lctx_errmsg(db));
    store_clear_err(db);
    return LCTX_OK;
}
