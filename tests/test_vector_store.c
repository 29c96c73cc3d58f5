/*
 * test_vector_store.c — chunk vectors in a collection (USE-lite): stored and
 * removed with their chunks, replayed exactly after a crash, searched
 * exactly and by LSH, and the settings fixed at creation.
 *
 * Needs the USE-lite model ($LCTX_MODEL_DIR or ./models; `make model`).
 * Documents are short so the sanitized encoder stays quick.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "indexer/indexer.h"
#include "query/query.h"
#include "store/store.h"
#include "test_tmpdir.h"

static char dir[256];

static void setup(void)
{
    tmpdir_make(dir, sizeof dir, "vec");
}

static void teardown(void)
{
    tmpdir_remove(dir);
}

TestSuite(vector_store, .init = setup, .fini = teardown, .timeout = 120);

static const char *TEXTS[][2] = {
    {"cats", "Cats are small furry animals that purr and chase mice."},
    {"dogs", "Dogs are loyal animals that bark and fetch sticks."},
    {"rockets", "Rockets carry satellites into orbit around the earth."},
    {"ocean", "The ocean covers most of the planet and is full of fish."},
    {"bread", "Bake bread with flour, water, yeast and a pinch of salt."},
    {"piano", "The piano has eighty-eight keys and is played with both hands."},
};
#define NTEXTS (int)(sizeof TEXTS / sizeof TEXTS[0])

static lctx_db *open_coll(const char *name, const char *embedder)
{
    char path[300];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    lctx_config cfg;
    lctx_config_init(&cfg);
    cfg.embedder = embedder;
    lctx_db *db = NULL;
    int rc = lctx_open(path, LCTX_OPEN_CREATE, &cfg, &db);
    cr_assert_eq(rc, LCTX_OK, "open: %s", lctx_errmsg(db));
    return db;
}

static void add_all(lctx_db *db, int stop_after_sqlite)
{
    cr_assert_eq(lctx_begin(db), LCTX_OK, "%s", lctx_errmsg(db));
    for (int i = 0; i < NTEXTS; i++) {
        lctx_doc d = {TEXTS[i][0], TEXTS[i][0], TEXTS[i][1], 0, NULL, NULL};
        cr_assert_eq(lctx_add(db, &d), LCTX_OK, "%s", lctx_errmsg(db));
    }
    store_test_stop_after_sqlite(db, stop_after_sqlite);
    cr_assert_eq(lctx_commit(db, NULL), LCTX_OK, "%s", lctx_errmsg(db));
    store_test_stop_after_sqlite(db, 0);
}

static lctx_stats stats(lctx_db *db)
{
    lctx_stats s;
    cr_assert_eq(lctx_stats_get(db, &s), LCTX_OK, "%s", lctx_errmsg(db));
    return s;
}

/* Every stored row, concatenated in chunk order; *n rows. */
static uint8_t *dump_vectors(lctx_db *db, size_t *n, size_t *rb)
{
    MDB_txn *txn;
    cr_assert_eq(kv_read_begin(db, &txn), LCTX_OK);
    vecstore vs;
    vecstore_of(db, &vs, NULL);
    MDB_cursor *c;
    cr_assert_eq(mdb_cursor_open(txn, vs.dbi, &c), 0);
    uint8_t *out = NULL;
    *n = 0;
    *rb = vs.row_bytes;
    MDB_val k, v;
    for (int m = mdb_cursor_get(c, &k, &v, MDB_FIRST); m == 0;
         m = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        out = realloc(out, (*n + 1) * (4 + vs.row_bytes));
        memcpy(out + *n * (4 + vs.row_bytes), k.mv_data, 4);
        memcpy(out + *n * (4 + vs.row_bytes) + 4, v.mv_data, vs.row_bytes);
        (*n)++;
    }
    mdb_cursor_close(c);
    kv_read_end(db, txn);
    return out;
}

Test(vector_store, settings_recorded_and_fixed)
{
    lctx_db *db = open_coll("a.lctx", "use-lite");
    lctx_stats s = stats(db);
    cr_expect_str_eq(s.embedder, "use-lite");
    cr_expect_eq(s.dim, 512);
    cr_expect_str_eq(s.vector_encoding, "int8");
    cr_expect_float_eq(s.lsh_target_recall, 0.95, 1e-9);
    cr_expect_eq(s.lsh_tables, 0);
    lctx_close(db);

    /* Reopening with the default ("none") uses what the collection has. */
    db = open_coll("a.lctx", "none");
    cr_expect_str_eq(stats(db).embedder, "use-lite");
    lctx_close(db);

    /* A different embedder is refused, naming the collection and both. */
    char path[300];
    snprintf(path, sizeof path, "%s/a.lctx", dir);
    lctx_config cfg;
    lctx_config_init(&cfg);
    cfg.embedder = "http://127.0.0.1:9/v1";
    db = NULL;
    cr_assert_eq(lctx_open(path, 0, &cfg, &db), LCTX_EINVAL);
    const char *m = lctx_errmsg(db);
    cr_expect(strstr(m, "a.lctx") && strstr(m, "use-lite") && strstr(m, "http://127.0.0.1:9/v1"),
              "message: %s", m);
    lctx_close(db);

    /* A keyword-only collection has no vectors and refuses vector search. */
    db = open_coll("b.lctx", "none");
    cr_expect_str_eq(stats(db).embedder, "none");
    cr_expect_eq(stats(db).dim, 0);
    lctx_search_opts o;
    lctx_search_opts_init(&o);
    o.mode = LCTX_MODE_VECTOR;
    lctx_results *r = NULL;
    cr_expect_eq(lctx_search(db, "cats", &o, &r), LCTX_EUNSUPPORTED);
    cr_expect_eq(lctx_retune(db, 0), LCTX_EUNSUPPORTED);
    lctx_close(db);
}

Test(vector_store, vectors_follow_chunks)
{
    lctx_db *db = open_coll("c.lctx", "use-lite");
    add_all(db, 0);
    lctx_stats s = stats(db);
    cr_expect_eq(s.vectors, s.chunks);
    cr_expect_eq(s.vectors, (uint64_t)NTEXTS);
    cr_expect_eq(lctx_check(db), LCTX_OK, "%s", lctx_errmsg(db));

    /* Upsert replaces the vector, delete removes it. */
    size_t n0, rb;
    uint8_t *before = dump_vectors(db, &n0, &rb);
    cr_assert_eq(lctx_begin(db), LCTX_OK);
    lctx_doc d = {"cats", "cats", "Cats sleep most of the day on warm windowsills.", 0, NULL, NULL};
    cr_assert_eq(lctx_add(db, &d), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_delete(db, "dogs"), LCTX_OK);
    cr_assert_eq(lctx_commit(db, NULL), LCTX_OK, "%s", lctx_errmsg(db));
    s = stats(db);
    cr_expect_eq(s.vectors, (uint64_t)NTEXTS - 1);
    cr_expect_eq(s.vectors, s.chunks);
    size_t n1;
    uint8_t *after = dump_vectors(db, &n1, &rb);
    cr_assert_eq(n1, n0 - 1);
    uint32_t first_before, first_after;
    memcpy(&first_before, before, 4);
    memcpy(&first_after, after, 4);
    cr_expect_neq(first_before, first_after, "the old cats chunk still has a vector");
    cr_expect_eq(lctx_check(db), LCTX_OK, "%s", lctx_errmsg(db));
    /* A batch of deletes alone drops vectors too. */
    cr_assert_eq(lctx_begin(db), LCTX_OK);
    cr_assert_eq(lctx_delete(db, "bread"), LCTX_OK);
    cr_assert_eq(lctx_commit(db, NULL), LCTX_OK, "%s", lctx_errmsg(db));
    cr_expect_eq(stats(db).vectors, (uint64_t)NTEXTS - 2);
    cr_expect_eq(lctx_check(db), LCTX_OK, "%s", lctx_errmsg(db));
    cr_expect_eq(lctx_compact(db), LCTX_OK, "%s", lctx_errmsg(db));
    cr_expect_eq(lctx_check(db), LCTX_OK, "%s", lctx_errmsg(db));
    cr_expect_eq(stats(db).vectors, (uint64_t)NTEXTS - 2);
    free(before);
    free(after);
    lctx_close(db);
}

Test(vector_store, replay_gives_same_vectors)
{
    lctx_db *a = open_coll("plain.lctx", "use-lite");
    add_all(a, 0);
    lctx_db *b = open_coll("crashed.lctx", "use-lite");
    add_all(b, 1); /* SQLite committed, LMDB not: as a crash would leave it */
    cr_expect_eq(stats(b).vectors, 0);
    lctx_close(b);
    b = open_coll("crashed.lctx", "none"); /* recovery replays the batch */
    size_t na, nb, rb;
    uint8_t *va = dump_vectors(a, &na, &rb), *vb = dump_vectors(b, &nb, &rb);
    cr_assert_eq(na, (size_t)NTEXTS);
    cr_assert_eq(nb, na);
    cr_expect_eq(memcmp(va, vb, na * (4 + rb)), 0, "replayed vectors differ");
    cr_expect_eq(lctx_check(b), LCTX_OK, "%s", lctx_errmsg(b));
    free(va);
    free(vb);
    lctx_close(a);
    lctx_close(b);
}

/* Brute force over the stored vectors: best chunk per document. */
static void brute_force(lctx_db *db, const float *q, double *best_by_doc, uint32_t max_doc)
{
    for (uint32_t i = 0; i <= max_doc; i++)
        best_by_doc[i] = -2;
    MDB_txn *txn;
    cr_assert_eq(kv_read_begin(db, &txn), LCTX_OK);
    vecstore vs;
    vecstore_of(db, &vs, NULL);
    kv_page_cache pc = {0};
    float x[512];
    for (uint32_t c = 1; c < 64; c++) {
        store_chunkrec rec;
        if (kv_chunk(db, txn, &pc, c, &rec) || (rec.len & STORE_DELETED))
            continue;
        cr_assert_eq(vecstore_read(txn, &vs, c, x), 0);
        double s = 0;
        for (int i = 0; i < 512; i++)
            s += (double)q[i] * x[i];
        if (rec.doc <= max_doc && s > best_by_doc[rec.doc])
            best_by_doc[rec.doc] = s;
    }
    kv_read_end(db, txn);
}

static void query_vec(lctx_db *db, const char *text, float *q)
{
    cr_assert_eq(embed_texts(db, &text, 1, q), LCTX_OK, "%s", lctx_errmsg(db));
}

Test(vector_store, exact_and_lsh_equal_brute_force)
{
    lctx_db *db = open_coll("s.lctx", "use-lite");
    add_all(db, 0);
    float q[512];
    query_vec(db, "pets that meow", q);
    double best[16];
    brute_force(db, q, best, 15);

    lctx_search_opts o;
    lctx_search_opts_init(&o);
    o.mode = LCTX_MODE_VECTOR;
    o.vector = q;
    o.vector_dim = 512;
    o.k = NTEXTS;
    lctx_results *r = NULL;
    cr_assert_eq(lctx_search(db, NULL, &o, &r), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_results_count(r), (size_t)NTEXTS);
    cr_expect_str_eq(lctx_results_get(r, 0)->id, "cats");
    double prev = 2;
    for (size_t i = 0; i < lctx_results_count(r); i++) {
        const lctx_hit *h = lctx_results_get(r, i);
        int doc = -1;
        for (int d = 0; d < NTEXTS; d++)
            if (!strcmp(h->id, TEXTS[d][0]))
                doc = d + 1; /* doc ids follow insertion order from 1 */
        cr_assert(doc > 0);
        cr_expect_float_eq(h->score, best[doc], 1e-5, "%s: %f vs %f", h->id, h->score,
                           best[doc]);
        cr_expect_float_eq(h->vector_score, h->score, 1e-12);
        cr_expect_leq(h->score, prev);
        prev = h->score;
    }
    lctx_results_free(r);

    /* LSH with every bucket probed finds exactly what the exact scan finds. */
    lsh_store_config cfg = {1, 512, VECSTORE_I8, 3, 2, 2 << 3, 42, 0.95, 1.0};
    cr_assert_eq(vec_lsh_rebuild(db, &cfg), LCTX_OK, "%s", lctx_errmsg(db));
    cr_expect_eq(stats(db).lsh_tables, 2);
    MDB_txn *txn;
    cr_assert_eq(kv_read_begin(db, &txn), LCTX_OK);
    lsh_store ls;
    vecstore_of(db, NULL, &ls);
    size_t entries = 0;
    cr_assert_eq(lsh_store_count(txn, &ls, &entries), 0);
    cr_expect_eq(entries, (size_t)NTEXTS * 2);
    bm25_hit *ex = NULL, *lh = NULL;
    size_t nex = 0, nlh = 0;
    cr_assert_eq(vsearch_exact(db, txn, q, 4, NULL, 0, &ex, &nex), LCTX_OK);
    cr_assert_eq(vsearch_topk(db, txn, q, 4, NULL, 0, 16, &lh, &nlh), LCTX_OK);
    kv_read_end(db, txn);
    cr_assert_eq(nlh, nex);
    for (size_t i = 0; i < nex; i++) {
        cr_expect_eq(lh[i].doc, ex[i].doc);
        cr_expect_eq(lh[i].chunk, ex[i].chunk);
        cr_expect_float_eq(lh[i].score, ex[i].score, 0);
    }
    free(ex);
    free(lh);

    /* Bucket entries follow later deletes and adds. */
    cr_assert_eq(lctx_begin(db), LCTX_OK);
    cr_assert_eq(lctx_delete(db, "piano"), LCTX_OK);
    lctx_doc d = {"violin", "violin", "The violin has four strings and is played with a bow.", 0,
                  NULL, NULL};
    cr_assert_eq(lctx_add(db, &d), LCTX_OK);
    cr_assert_eq(lctx_commit(db, NULL), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(kv_read_begin(db, &txn), LCTX_OK);
    cr_assert_eq(lsh_store_count(txn, &ls, &entries), 0);
    kv_read_end(db, txn);
    cr_expect_eq(entries, (size_t)NTEXTS * 2);
    cr_expect_eq(lctx_check(db), LCTX_OK, "%s", lctx_errmsg(db));
    lctx_close(db);
}

/* lctx_search in vector mode through two handles on one collection. */
static void vector_ids(lctx_db *db, const float *q, int k, const char *filter, char ids[][16],
                       double *scores, size_t *n)
{
    lctx_search_opts o;
    lctx_search_opts_init(&o);
    o.mode = LCTX_MODE_VECTOR;
    o.vector = q;
    o.vector_dim = 512;
    o.k = k;
    o.filter = filter;
    lctx_results *r = NULL;
    cr_assert_eq(lctx_search(db, NULL, &o, &r), LCTX_OK, "%s", lctx_errmsg(db));
    *n = lctx_results_count(r);
    for (size_t i = 0; i < *n; i++) {
        snprintf(ids[i], 16, "%s", lctx_results_get(r, i)->id);
        scores[i] = lctx_results_get(r, i)->score;
    }
    lctx_results_free(r);
}

/* One search's answer: document ids and scores. */
typedef struct answer {
    char ids[8][16];
    double sc[8];
    size_t n;
} answer;

#define ASK_PER_QUERY 4
#define ASK_FILTER "json_extract(metadata, '$.x') IS NULL"

/* h's answers for each of the nq query vectors: k = 1..3 unfiltered, and
 * k = 2 with ASK_FILTER (ASK_PER_QUERY answers each). */
static void ask_all(lctx_db *h, float (*q)[512], int nq, answer *out)
{
    for (int i = 0, j = 0; i < nq; i++) {
        for (int k = 1; k <= 3; k++, j++)
            vector_ids(h, q[i], k, NULL, out[j].ids, out[j].sc, &out[j].n);
        vector_ids(h, q[i], 2, ASK_FILTER, out[j].ids, out[j].sc, &out[j].n);
        j++;
    }
}

static void expect_same_answers(const answer *a, const answer *b, int n)
{
    for (int j = 0; j < n; j++) {
        cr_assert_eq(a[j].n, b[j].n, "answer %d", j);
        for (size_t i = 0; i < a[j].n; i++) {
            cr_expect_str_eq(a[j].ids[i], b[j].ids[i], "answer %d rank %zu", j, i);
            cr_expect_float_eq(a[j].sc[i], b[j].sc[i], 1e-6, "answer %d rank %zu", j, i);
        }
    }
}

/* A handle with the vector cache answers exactly like one reading LMDB:
 * same documents, same scores, with and without a filter, and again after a
 * commit changed the collection (the cache is rebuilt for the new snapshot).
 * The handles take turns: one per process at a time (store/once.c). */
Test(vector_store, vector_cache_answers_like_lmdb)
{
    lctx_db *db = open_coll("vc.lctx", "use-lite");
    add_all(db, 0);
    lsh_store_config cfg = {1, 512, VECSTORE_I8, 3, 2, 6, 42, 0.95, 1.0};
    cr_assert_eq(vec_lsh_rebuild(db, &cfg), LCTX_OK, "%s", lctx_errmsg(db));
    char path[300];
    snprintf(path, sizeof path, "%s/vc.lctx", dir);
    const char *texts[] = {"pets that meow", "space travel", "baking at home", "music lessons"};
    float q[4][512];
    for (int i = 0; i < 4; i++)
        query_vec(db, texts[i], q[i]);
    answer plain[4 * ASK_PER_QUERY], cached[4 * ASK_PER_QUERY];
    ask_all(db, q, 4, plain);
    cr_expect_null(db->vcache);
    lctx_close(db);

    cr_assert_eq(lctx_open(path, LCTX_OPEN_VECTOR_CACHE, NULL, &db), LCTX_OK, "%s",
                 lctx_errmsg(db));
    ask_all(db, q, 4, cached);
    expect_same_answers(plain, cached, 4 * ASK_PER_QUERY);
    cr_expect_not_null(db->vcache, "the cache was built");

    /* A commit makes the snapshot newer: the next search rebuilds. */
    cr_assert_eq(lctx_begin(db), LCTX_OK);
    cr_assert_eq(lctx_delete(db, "cats"), LCTX_OK);
    lctx_doc d = {"kittens", "kittens", "Kittens are young cats that purr and play.", 0, NULL, NULL};
    cr_assert_eq(lctx_add(db, &d), LCTX_OK);
    cr_assert_eq(lctx_commit(db, NULL), LCTX_OK, "%s", lctx_errmsg(db));
    ask_all(db, q, 1, cached);
    cr_assert_eq(cached[2].n, 3);
    for (size_t i = 0; i < cached[2].n; i++)
        cr_expect_str_neq(cached[2].ids[i], "cats", "a deleted document is gone from the cache");
    lctx_close(db);
    cr_assert_eq(lctx_open(path, LCTX_OPEN_READONLY, NULL, &db), LCTX_OK, "%s", lctx_errmsg(db));
    ask_all(db, q, 1, plain);
    expect_same_answers(plain, cached, ASK_PER_QUERY);
    cr_expect_null(db->vcache);
    lctx_close(db);
}

/* A passage searched by its own embedded text (title, newline, text)
 * scores a cosine of 1 to within the int8 encoding's error, which used to
 * show as 1.0001; no reported cosine passes 1 (query/search.c,
 * cosine_clamp), and the ranking is the same. */
Test(vector_store, a_cosine_is_never_reported_past_one)
{
    lctx_db *db = open_coll("cos.lctx", "use-lite");
    add_all(db, 0);
    for (int i = 0; i < NTEXTS; i++) {
        char q[2048];
        snprintf(q, sizeof q, "%s\n%s", TEXTS[i][0], TEXTS[i][1]);
        lctx_search_opts o;
        lctx_search_opts_init(&o);
        o.mode = LCTX_MODE_VECTOR;
        o.k = NTEXTS;
        lctx_results *r;
        cr_assert_eq(lctx_search(db, q, &o, &r), LCTX_OK, "%s", lctx_errmsg(db));
        const lctx_hit *top = lctx_results_get(r, 0);
        cr_assert_str_eq(top->id, TEXTS[i][0]);
        cr_assert_gt(top->vector_score, 0.99, "%s: %.9f", top->id, top->vector_score);
        for (size_t j = 0; j < lctx_results_count(r); j++) {
            const lctx_hit *h = lctx_results_get(r, j);
            cr_assert(h->vector_score <= 1 && h->vector_score >= -1 && h->score <= 1,
                      "%s: cosine %.9f, score %.9f", h->id, h->vector_score, h->score);
            cr_assert(j == 0 || h->score <= lctx_results_get(r, j - 1)->score);
        }
        lctx_results_free(r);
    }
    lctx_close(db);
}

/* A commit embeds its chunks in groups on several threads at once (one
 * sgemm caller per core). Every stored vector must be the text's own
 * embedding, as embedded alone: a BLAS library that is not safe for
 * concurrent calls corrupts some of them silently (it happened with
 * Debian's serial OpenBLAS; see docs/ARCHITECTURE.md). */
Test(vector_store, concurrent_embedding_matches_single)
{
    enum { N = 200 };
    static const char *words[] = {"river", "engine", "violin", "harvest", "glacier", "protein",
                                  "lantern", "orbit", "meadow", "circuit", "falcon", "pottery"};
    lctx_db *db = open_coll("cc.lctx", "use-lite");
    char ids[N][16], texts[N][96];
    cr_assert_eq(lctx_begin(db), LCTX_OK, "%s", lctx_errmsg(db));
    for (int i = 0; i < N; i++) {
        snprintf(ids[i], sizeof ids[i], "d%d", i);
        snprintf(texts[i], sizeof texts[i], "The %s and the %s near the %s, note %d.",
                 words[i % 12], words[(i / 12) % 12], words[(i * 7) % 12], i);
        lctx_doc d = {ids[i], NULL, texts[i], 0, NULL, NULL};
        cr_assert_eq(lctx_add(db, &d), LCTX_OK, "%s", lctx_errmsg(db));
    }
    cr_assert_eq(lctx_commit(db, NULL), LCTX_OK, "%s", lctx_errmsg(db));
    size_t n, rb;
    uint8_t *rows = dump_vectors(db, &n, &rb);
    cr_assert_eq(n, (size_t)N);
    float stored[512], single[512];
    for (int i = 0; i < N; i++) {
        uint32_t chunk;
        memcpy(&chunk, rows + (size_t)i * (4 + rb), 4);
        vecstore_decode((vecstore_encoding)db->venc, 512, rows + (size_t)i * (4 + rb) + 4, stored);
        const char *t = texts[i];   /* chunk i is document i: one short chunk each */
        cr_assert_eq(embed_texts(db, &t, 1, single), LCTX_OK, "%s", lctx_errmsg(db));
        double dot = 0, ns = 0, nq = 0;
        for (int j = 0; j < 512; j++) {
            dot += (double)stored[j] * single[j];
            ns += (double)stored[j] * stored[j];
            nq += (double)single[j] * single[j];
        }
        cr_expect_geq(dot / sqrt(ns * nq), 0.999, "chunk %u (%s): cosine %f", chunk, t,
                      dot / sqrt(ns * nq));
    }
    free(rows);
    lctx_close(db);
}

/* One batch of n short notes "n0".."n<n-1>" on six topics: enough
 * vectors, with the threshold lowered, for the LSH tuner. */
static void add_notes(lctx_db *db, int n)
{
    static const char *topics[] = {"tea", "rain", "chess", "trains", "gardens", "coins"};
    cr_assert_eq(lctx_begin(db), LCTX_OK);
    for (int i = 0; i < n; i++) {
        char id[16], text[128];
        snprintf(id, sizeof id, "n%d", i);
        snprintf(text, sizeof text, "Note %d is about %s and how people enjoy %s.", i,
                 topics[i % 6], topics[(i / 6) % 6]);
        lctx_doc d = {id, NULL, text, 0, NULL, NULL};
        cr_assert_eq(lctx_add(db, &d), LCTX_OK);
    }
    cr_assert_eq(lctx_commit(db, NULL), LCTX_OK, "%s", lctx_errmsg(db));
}

/* lctx_begin on the collection name from another process: its status. */
static int other_process_begins(const char *name)
{
    char path[300];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        lctx_db *other;
        int rc = lctx_open(path, 0, NULL, &other);
        if (!rc && !(rc = lctx_begin(other)))
            lctx_rollback(other);
        lctx_close(other);
        _exit(rc);
    }
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

Test(vector_store, retune_builds_lsh_above_threshold)
{
    lctx_db *db = open_coll("t.lctx", "use-lite");
    add_all(db, 0);
    cr_expect_eq(lctx_retune(db, 0.9), LCTX_OK, "%s", lctx_errmsg(db));
    cr_expect_eq(stats(db).lsh_tables, 0, "below the threshold search stays exact");
    store_test_lsh_threshold(db, 32);
    /* The next commit crosses the (lowered) threshold and tunes, holding
     * the writer lock for that too, and lets go of it after. */
    add_notes(db, 30);
    cr_assert_eq(other_process_begins("t.lctx"), LCTX_OK, "the writer lock stayed taken");
    lctx_stats s = stats(db);
    cr_expect_gt(s.lsh_tables, 0);
    cr_expect_gt(s.lsh_bits, 0);
    cr_expect_geq(s.lsh_probes, s.lsh_tables);
    cr_expect_gt(s.lsh_measured_recall, 0);
    cr_expect_eq(lctx_check(db), LCTX_OK, "%s", lctx_errmsg(db));
    /* Searches still answer, and the closest document comes first. */
    lctx_search_opts o;
    lctx_search_opts_init(&o);
    o.mode = LCTX_MODE_VECTOR;
    o.k = 1;
    lctx_results *r = NULL;
    cr_assert_eq(lctx_search(db, "kitten", &o, &r), LCTX_OK, "%s", lctx_errmsg(db));
    cr_expect_eq(lctx_results_count(r), 1);
    lctx_results_free(r);
    lctx_close(db);
}

Test(vector_store, wrong_dimension_is_einval)
{
    lctx_db *db = open_coll("w.lctx", "use-lite");
    add_all(db, 0);
    float q[3] = {1, 0, 0};
    lctx_search_opts o;
    lctx_search_opts_init(&o);
    o.mode = LCTX_MODE_VECTOR;
    o.vector = q;
    o.vector_dim = 3;
    lctx_results *r = NULL;
    cr_expect_eq(lctx_search(db, NULL, &o, &r), LCTX_EINVAL);
    cr_expect_null(r);
    cr_expect(strstr(lctx_errmsg(db), "3 dimensions") && strstr(lctx_errmsg(db), "512"),
              "message: %s", lctx_errmsg(db));
    lctx_close(db);
}

static int drop_one_vector(lctx_db *db, MDB_txn *txn, void *ctx)
{
    vecstore vs;
    vecstore_of(db, &vs, NULL);
    return vecstore_del(txn, &vs, *(uint32_t *)ctx) ? LCTX_ERROR : LCTX_OK;
}

Test(vector_store, check_finds_a_missing_vector)
{
    lctx_db *db = open_coll("k.lctx", "use-lite");
    add_all(db, 0);
    cr_assert_eq(lctx_check(db), LCTX_OK, "%s", lctx_errmsg(db));
    uint32_t chunk = 2;
    cr_assert_eq(kv_write(db, drop_one_vector, &chunk), LCTX_OK);
    cr_expect_eq(lctx_check(db), LCTX_ECORRUPT);
    cr_expect(strstr(lctx_errmsg(db), "5 vectors for 6 live chunks"), "message: %s",
              lctx_errmsg(db));
    lctx_close(db);
}

/* Vector search's answers as "id score" lines. */
static char *vector_answers(lctx_db *db)
{
    static const char *queries[] = {"kitten", "boats on the sea", "a game of chess", "money"};
    size_t cap = 8192, n = 0;
    char *out = malloc(cap);
    cr_assert_not_null(out);
    out[0] = 0;
    for (size_t q = 0; q < sizeof queries / sizeof queries[0]; q++) {
        lctx_search_opts o;
        lctx_search_opts_init(&o);
        o.mode = LCTX_MODE_VECTOR;
        o.k = 8;
        lctx_results *r = NULL;
        cr_assert_eq(lctx_search(db, queries[q], &o, &r), LCTX_OK, "%s", lctx_errmsg(db));
        for (size_t i = 0; i < lctx_results_count(r) && n + 96 < cap; i++) {
            const lctx_hit *h = lctx_results_get(r, i);
            n += (size_t)snprintf(out + n, cap - n, "%zu %s %a\n", q, h->id, h->score);
        }
        lctx_results_free(r);
    }
    return out;
}

static size_t bucket_entries(lctx_db *db)
{
    MDB_txn *txn;
    MDB_stat st;
    cr_assert_eq(kv_read_begin(db, &txn), LCTX_OK);
    cr_assert_eq(mdb_stat(txn, db->dbi_lsh, &st), 0);
    kv_read_end(db, txn);
    return st.ms_entries;
}

/* A collection with LSH tables and two documents deleted (not compacted
 * yet). */
static lctx_db *tuned_with_deletions(const char *name)
{
    lctx_db *db = open_coll(name, "use-lite");
    store_test_lsh_threshold(db, 32);
    add_all(db, 0);
    add_notes(db, 36);
    cr_assert_eq(lctx_begin(db), LCTX_OK);
    cr_assert_eq(lctx_delete(db, "n3"), LCTX_OK);
    cr_assert_eq(lctx_delete(db, "n20"), LCTX_OK);
    cr_assert_eq(lctx_commit(db, NULL), LCTX_OK, "%s", lctx_errmsg(db));
    return db;
}

/* After an index replacement: the same LSH parameters, vector count,
 * bucket entries and vector answers as before it, and a clean check. */
static void expect_same_vectors(lctx_db *db, const lctx_stats *before, size_t buckets,
                                const char *answers)
{
    cr_assert_eq(lctx_check(db), LCTX_OK, "%s", lctx_errmsg(db));
    lctx_stats after = stats(db);
    cr_assert_eq(after.lsh_tables, before->lsh_tables);
    cr_assert_eq(after.lsh_bits, before->lsh_bits);
    cr_assert_eq(after.lsh_probes, before->lsh_probes);
    cr_assert_eq(after.vectors, before->vectors);
    cr_assert_eq(bucket_entries(db), buckets);
    char *again = vector_answers(db);
    cr_assert_str_eq(again, answers);
    free(again);
}

Test(vector_store, rebuilt_index_keeps_vectors_and_lsh_tables)
{
    lctx_db *db = tuned_with_deletions("r.lctx");
    /* Compacted: holes, without vectors, in the replayed batch. */
    cr_assert_eq(lctx_compact(db), LCTX_OK, "%s", lctx_errmsg(db));
    lctx_stats before = stats(db);
    cr_assert_gt(before.lsh_tables, 0, "the test wants LSH tables");
    size_t buckets = bucket_entries(db);
    cr_assert_eq(buckets, (size_t)before.lsh_tables * 40);
    char *answers = vector_answers(db);
    char path[300];
    snprintf(path, sizeof path, "%s/r.lctx", dir);
    lctx_close(db);

    cr_assert_eq(lctx_open(path, LCTX_OPEN_REBUILD_INDEX, NULL, &db), LCTX_OK, "%s",
                 lctx_errmsg(db));
    expect_same_vectors(db, &before, buckets, answers);
    free(answers);
    lctx_close(db);
}

Test(vector_store, a_shrunk_index_keeps_vectors_and_lsh_tables)
{
    lctx_db *db = tuned_with_deletions("s.lctx");
    /* Compacted in place first (the dense copy made to fail), then copied
     * by a second compaction: the copy must hold every vector and bucket. */
    store_test_fail_replace(db, 1);
    cr_assert_eq(lctx_compact(db), LCTX_OK, "%s", lctx_errmsg(db));
    lctx_stats before = stats(db);
    cr_assert_gt(before.lsh_tables, 0, "the test wants LSH tables");
    size_t buckets = bucket_entries(db);
    char *answers = vector_answers(db);
    store_test_fail_replace(db, 0);
    uint64_t gen = db->index_gen;
    cr_assert_eq(lctx_compact(db), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(db->index_gen, gen + 1, "the index was not replaced");
    expect_same_vectors(db, &before, buckets, answers);
    free(answers);
    lctx_close(db);
}
