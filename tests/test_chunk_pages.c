/*
 * test_chunk_pages.c — chunk pages in their two forms (store/chunkpage.c).
 *
 *  - the sparse form decodes to the records it was written from, and a
 *    lookup of every slot through the page cache agrees with indexing
 *    the dense array (random pages of every density, tombstones included);
 *  - malformed values are refused: a count that disagrees with the size
 *    or with the bitmap, an empty record stored, a dense page too long;
 *  - a collection whose kept documents sit among ones replaced batch after
 *    batch compacts to pages no larger than their live records need, and
 *    answers exactly as a fresh build of the same documents, also after
 *    later batches fill the sparse pages again;
 *  - a format 3 index is read and written as it is (dense pages only, even
 *    where deletions would make sparse ones smaller) until a compaction
 *    makes it format 4, with the same answers; lctx_check refuses a sparse
 *    page in an index that says format 3.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lctx.h"
#include "test_hits.h"
#include "test_tmpdir.h"
#include "store/store.h"

TMPDIR_COLLECTION_SUITE(pages, "cpage");

static uint32_t rng(uint32_t *s)
{
    *s = *s * 1103515245u + 12345u;
    return *s >> 8;
}

/* A page of n slots where each slot holds a record with probability
 * permille / 1000; some records are tombstoned. */
static void random_page(store_chunkrec *recs, uint32_t *n, int permille, uint32_t *seed)
{
    memset(recs, 0, STORE_PAGE * sizeof *recs);
    *n = 0;
    for (uint32_t i = 0; i < STORE_PAGE; i++) {
        if ((int)(rng(seed) % 1000) >= permille)
            continue;
        recs[i].doc = 1 + rng(seed) % 100000;
        recs[i].len = 1 + rng(seed) % 500;
        if (rng(seed) % 7 == 0)
            recs[i].len |= STORE_DELETED;
        *n = i + 1;
    }
}

Test(pages, sparse_form_round_trips_and_looks_up_like_the_dense_array)
{
    static store_chunkrec recs[STORE_PAGE], back[STORE_PAGE];
    static uint8_t buf[4 + STORE_PAGE / 8 + STORE_PAGE * sizeof(store_chunkrec)];
    const int density[] = {1, 5, 30, 100, 400, 900, 1000};
    uint32_t seed = 7;
    for (size_t d = 0; d < sizeof density / sizeof density[0]; d++) {
        for (int round = 0; round < 20; round++) {
            uint32_t n, m;
            random_page(recs, &n, density[d], &seed);
            if (n == 0)
                continue;
            size_t size = chunk_page_sparse_size(recs, n);
            cr_assert(chunk_page_sparse(size));
            cr_assert_leq(size, sizeof buf);
            chunk_page_sparse_write(recs, n, buf);
            cr_assert_eq(chunk_page_decode(buf, size, back, &m), 0);
            cr_assert_eq(m, n);
            cr_assert_eq(memcmp(recs, back, sizeof recs), 0);

            /* every slot through the cache, sparse and dense, against the
             * array itself */
            kv_page_cache sp = {0}, dn = {0};
            cr_assert_eq(chunk_page_load(&sp, 3, buf, size), 0);
            cr_assert_eq(chunk_page_load(&dn, 3, recs, n * sizeof *recs), 0);
            cr_assert_null(dn.bits);
            cr_assert_not_null(sp.bits);
            for (uint32_t i = 0; i < STORE_PAGE; i++) {
                store_chunkrec a = {9, 9}, b = {9, 9};
                int want = recs[i].doc || recs[i].len ? 0 : MDB_NOTFOUND;
                cr_assert_eq(chunk_page_get(&sp, i, &a), want, "slot %u", i);
                cr_assert_eq(chunk_page_get(&dn, i, &b), want, "slot %u", i);
                if (want == 0) {
                    cr_assert(a.doc == recs[i].doc && a.len == recs[i].len, "slot %u", i);
                    cr_assert(b.doc == recs[i].doc && b.len == recs[i].len, "slot %u", i);
                }
            }
        }
    }
}

Test(pages, malformed_values_are_refused)
{
    static store_chunkrec recs[STORE_PAGE], back[STORE_PAGE];
    static uint8_t buf[4 + STORE_PAGE / 8 + 4 * sizeof(store_chunkrec)];
    uint32_t n;
    kv_page_cache pc = {0};
    memset(recs, 0, sizeof recs);
    recs[5] = (store_chunkrec){1, 10};
    recs[700] = (store_chunkrec){2, 20};
    size_t size = chunk_page_sparse_size(recs, 701);
    cr_assert_eq(size, 4 + STORE_PAGE / 8 + 2 * sizeof(store_chunkrec));
    chunk_page_sparse_write(recs, 701, buf);
    cr_assert_eq(chunk_page_decode(buf, size, back, &n), 0);
    cr_assert_eq(n, 701);

    uint32_t count = 3;                       /* count disagrees with the size */
    memcpy(buf, &count, 4);
    cr_assert_eq(chunk_page_decode(buf, size, back, &n), -1);
    cr_assert_eq(chunk_page_load(&pc, 0, buf, size), -1);
    count = 2;
    memcpy(buf, &count, 4);
    buf[4 + 100] |= 1;                        /* a third bit, two records */
    cr_assert_eq(chunk_page_decode(buf, size, back, &n), -1);
    cr_assert_eq(chunk_page_load(&pc, 0, buf, size), -1);
    buf[4 + 100] &= (uint8_t)~1u;
    buf[4 + 700 / 8] &= (uint8_t)~(1u << (700 % 8)); /* one bit, two records */
    cr_assert_eq(chunk_page_decode(buf, size, back, &n), -1);
    cr_assert_eq(chunk_page_load(&pc, 0, buf, size), -1);
    buf[4 + 700 / 8] |= (uint8_t)(1u << (700 % 8));
    memset(buf + 4 + STORE_PAGE / 8, 0, sizeof(store_chunkrec)); /* an empty record stored */
    cr_assert_eq(chunk_page_decode(buf, size, back, &n), -1);
    cr_assert_eq(chunk_page_decode(buf, 12, back, &n), -1);  /* shorter than a bitmap */
    count = 0;
    memcpy(buf, &count, 4);
    cr_assert_eq(chunk_page_decode(buf, 4 + STORE_PAGE / 8, back, &n), -1);
    /* a dense page longer than a page */
    static store_chunkrec big[STORE_PAGE + 1];
    cr_assert_eq(chunk_page_decode(big, sizeof big, back, &n), -1);
    cr_assert_eq(chunk_page_load(&pc, 0, big, sizeof big), -1);
}

/* ------------------------------------------------------------ collections */

static lctx_db *open_new(const char *path)
{
    lctx_db *db;
    cr_assert_eq(lctx_open(path, LCTX_OPEN_CREATE, NULL, &db), LCTX_OK, "%s",
                 lctx_errmsg(db));
    return db;
}

static void put_doc(lctx_db *db, const char *id, int seed)
{
    static const char *const words[] = {"amber", "basalt", "cedar", "delta", "ember",
                                        "fjord", "garnet", "heron", "inlet", "juniper",
                                        "kestrel", "lagoon"};
    char text[256];
    size_t len = 0;
    for (int w = 0; w < 5 + seed % 4; w++)
        len += (size_t)snprintf(text + len, sizeof text - len, "%s ",
                                words[(seed * 5 + w * w + w) % 12]);
    lctx_doc d = {.id = id, .text = text};
    cr_assert_eq(lctx_add(db, &d), LCTX_OK, "%s", lctx_errmsg(db));
}

/* Day d: two documents kept for good ("k<d>_<i>") and forty upserts of
 * sixty rotating ids, so the kept ones end up scattered over many pages. */
static void day(lctx_db *db, int d)
{
    char id[32];
    cr_assert_eq(lctx_begin(db), LCTX_OK, "%s", lctx_errmsg(db));
    for (int i = 0; i < 2; i++) {
        snprintf(id, sizeof id, "k%d_%d", d, i);
        put_doc(db, id, d * 3 + i);
    }
    for (int i = 0; i < 40; i++) {
        snprintf(id, sizeof id, "u%d", (d * 40 + i) % 60);
        put_doc(db, id, d * 11 + i + 1);
    }
    cr_assert_eq(lctx_commit(db, NULL), LCTX_OK, "%s", lctx_errmsg(db));
}

/* The same documents as days 0..days-1 left live, in one batch. */
static void fresh_build(lctx_db *db, int days)
{
    char id[32];
    cr_assert_eq(lctx_begin(db), LCTX_OK);
    for (int d = 0; d < days; d++)
        for (int i = 0; i < 2; i++) {
            snprintf(id, sizeof id, "k%d_%d", d, i);
            put_doc(db, id, d * 3 + i);
        }
    for (int u = 0; u < 60; u++) {
        /* the last day that wrote u, and its i */
        for (int d = days - 1; d >= 0; d--) {
            int i = (u - d * 40 % 60 + 60) % 60;
            if (i < 40) {
                snprintf(id, sizeof id, "u%d", u);
                put_doc(db, id, d * 11 + i + 1);
                break;
            }
        }
    }
    cr_assert_eq(lctx_commit(db, NULL), LCTX_OK);
}

static int cmp_line(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every match of a few queries as sorted "query id score" lines (scores
 * exact): chunk ids and the order of ties differ between builds. */
static char *answers_by_id(lctx_db *db)
{
    const char *queries[] = {"amber cedar", "fjord", "heron lagoon kestrel", "juniper delta"};
    char **lines = NULL;
    size_t n = 0, total = 1;
    for (size_t q = 0; q < 4; q++) {
        lctx_results *r = bm25_results(db, queries[q], 5000);
        for (size_t i = 0; i < lctx_results_count(r); i++) {
            const lctx_hit *h = lctx_results_get(r, i);
            cr_assert_not_null(lines = realloc(lines, (n + 1) * sizeof *lines));
            cr_assert_not_null(lines[n] = malloc(96));
            snprintf(lines[n], 96, "%zu %s %a\n", q, h->id, h->score);
            total += strlen(lines[n++]);
        }
        lctx_results_free(r);
    }
    qsort(lines, n, sizeof *lines, cmp_line);
    char *out = malloc(total);
    cr_assert_not_null(out);
    out[0] = 0;
    for (size_t i = 0; i < n; i++) {
        strcat(out, lines[i]);
        free(lines[i]);
    }
    free(lines);
    cr_assert_gt(n, 100u);
    return out;
}

static void expect_same_answers(lctx_db *db, lctx_db *other)
{
    char *a = answers_by_id(db), *b = answers_by_id(other);
    cr_assert_str_eq(a, b);
    free(a);
    free(b);
}

/* Walks the chunk pages: how many are sparse; when tight, checks that
 * none is larger than the smaller form of its records. */
static int sparse_pages(lctx_db *db, int *pages, int tight)
{
    static store_chunkrec recs[STORE_PAGE];
    MDB_txn *txn;
    MDB_cursor *cc;
    MDB_val k, v;
    int sparse = 0;
    *pages = 0;
    cr_assert_eq(kv_read_begin(db, &txn), LCTX_OK);
    cr_assert_eq(mdb_cursor_open(txn, db->dbi_chunks, &cc), 0);
    for (int rc = mdb_cursor_get(cc, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cc, &k, &v, MDB_NEXT)) {
        uint32_t n;
        cr_assert_eq(chunk_page_decode(v.mv_data, v.mv_size, recs, &n), 0);
        size_t smaller = chunk_page_sparse_size(recs, n);
        if (n * sizeof *recs < smaller)
            smaller = n * sizeof *recs;
        if (tight)
            cr_assert_leq(v.mv_size, smaller, "page of %zu bytes, %zu would do", v.mv_size,
                          smaller);
        sparse += chunk_page_sparse(v.mv_size);
        (*pages)++;
    }
    mdb_cursor_close(cc);
    kv_read_end(db, txn);
    return sparse;
}

static int set_index_format(lctx_db *db, MDB_txn *txn, void *ctx)
{
    store_stats st;
    int rc = kv_get_stats(db, txn, &st);
    st.format_version = (uint64_t)*(int *)ctx;
    return rc ? rc : kv_put_stats(db, txn, &st);
}

/* Marks the collection format f, catalog and index. */
static void set_format(lctx_db *db, int f)
{
    char sql[128];
    snprintf(sql, sizeof sql, "UPDATE config SET value='%d' WHERE key='format_version'", f);
    cr_assert_eq(catalog_exec(db, db->wdb, sql), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(kv_write(db, set_index_format, &f), LCTX_OK, "%s", lctx_errmsg(db));
}

static lctx_db *churned(const char *path, int days, int compact_every)
{
    lctx_db *db = open_new(path);
    for (int d = 0; d < days; d++) {
        day(db, d);
        if ((d + 1) % compact_every == 0)
            cr_assert_eq(lctx_compact(db), LCTX_OK, "%s", lctx_errmsg(db));
    }
    return db;
}

Test(pages, a_churned_collection_compacts_to_what_its_live_records_need)
{
    char fresh_path[300];
    snprintf(fresh_path, sizeof fresh_path, "%s.fresh", dir);
    lctx_db *db = churned(dir, 75, 5), *fresh = open_new(fresh_path);
    fresh_build(fresh, 75);
    int pages, fresh_pages;
    cr_assert_gt(sparse_pages(db, &pages, 1), 0);
    cr_assert_eq(sparse_pages(fresh, &fresh_pages, 1), 0, "a fresh build is dense");
    cr_assert_gt(pages, fresh_pages, "the kept documents are spread over pages");
    cr_assert_eq(lctx_check(db), LCTX_OK, "%s", lctx_errmsg(db));
    expect_same_answers(db, fresh);

    /* Later batches fill the last, sparse, page again. The fresh build
     * takes the same batches: both then hold the same live documents and
     * the same replaced versions, which count in the statistics until a
     * compaction, so the answers are the same before it and after. */
    for (int d = 75; d < 80; d++) {
        day(db, d);
        day(fresh, d);
    }
    cr_assert_eq(lctx_check(db), LCTX_OK, "%s", lctx_errmsg(db));
    expect_same_answers(db, fresh);
    cr_assert_eq(lctx_compact(db), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_compact(fresh), LCTX_OK, "%s", lctx_errmsg(fresh));
    sparse_pages(db, &pages, 1);
    cr_assert_eq(lctx_check(db), LCTX_OK, "%s", lctx_errmsg(db));
    expect_same_answers(db, fresh);
    lctx_close(db);
    lctx_close(fresh);
    tmpdir_remove(fresh_path);
}

/* Rewrites every chunk page dense, holes and all: what a format 3
 * compaction left. */
static int make_dense(lctx_db *db, MDB_txn *txn, void *ctx)
{
    static store_chunkrec recs[STORE_PAGE];
    MDB_cursor *cc;
    MDB_val k, v;
    int rc = mdb_cursor_open(txn, db->dbi_chunks, &cc);
    (void)ctx;
    for (rc = rc ? rc : mdb_cursor_get(cc, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cc, &k, &v, MDB_NEXT)) {
        uint32_t n;
        cr_assert_eq(chunk_page_decode(v.mv_data, v.mv_size, recs, &n), 0);
        MDB_val nv = {STORE_PAGE * sizeof *recs, recs};  /* full length, as format 3 kept */
        cr_assert_eq(mdb_cursor_put(cc, &k, &nv, MDB_CURRENT), 0);
    }
    mdb_cursor_close(cc);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

Test(pages, a_format_3_index_stays_dense_until_compacted)
{
    char twin_path[300];
    snprintf(twin_path, sizeof twin_path, "%s.twin", dir);
    lctx_db *db = churned(dir, 30, 10), *twin = churned(twin_path, 30, 10);
    int pages;
    char *before = answers_by_id(db);
    /* what a format 3 lctx left: dense pages with the holes of compaction */
    cr_assert_eq(kv_write(db, make_dense, NULL), LCTX_OK, "%s", lctx_errmsg(db));
    set_format(db, 3);
    cr_assert_eq(sparse_pages(db, &pages, 0), 0);
    lctx_close(db);

    /* opens as it is, no rebuild; batches with deletions keep it dense */
    cr_assert_eq(lctx_open(dir, 0, NULL, &db), LCTX_OK, "%s", lctx_errmsg(db));
    lctx_stats st;
    cr_assert_eq(lctx_stats_get(db, &st), LCTX_OK);
    cr_assert_eq(st.format_version, 3);
    cr_assert_eq(lctx_check(db), LCTX_OK, "%s", lctx_errmsg(db));
    char *now = answers_by_id(db);
    cr_assert_str_eq(before, now);
    free(now);
    for (int d = 30; d < 40; d++) {
        day(db, d);
        day(twin, d);
    }
    cr_assert_eq(sparse_pages(db, &pages, 0), 0);
    cr_assert_eq(lctx_check(db), LCTX_OK, "%s", lctx_errmsg(db));

    /* compaction makes it format 4, sparse, and as the twin that never
     * left format 4 */
    cr_assert_eq(lctx_compact(db), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_compact(twin), LCTX_OK, "%s", lctx_errmsg(twin));
    cr_assert_gt(sparse_pages(db, &pages, 1), 0);
    cr_assert_eq(lctx_stats_get(db, &st), LCTX_OK);
    cr_assert_eq(st.format_version, 4);
    cr_assert_eq(lctx_check(db), LCTX_OK, "%s", lctx_errmsg(db));
    now = answers_by_id(db);
    char *want = answers_by_id(twin);
    cr_assert_str_eq(now, want);
    free(now);
    lctx_close(db);
    /* and another handle reads the upgraded collection */
    cr_assert_eq(lctx_open(dir, LCTX_OPEN_READONLY, NULL, &db), LCTX_OK, "%s", lctx_errmsg(db));
    now = answers_by_id(db);
    cr_assert_str_eq(now, want);
    free(now);
    free(want);
    free(before);
    lctx_close(db);
    lctx_close(twin);
    tmpdir_remove(twin_path);
}

Test(pages, check_refuses_a_sparse_page_in_a_format_3_index)
{
    lctx_db *db = churned(dir, 30, 10);
    int pages;
    cr_assert_gt(sparse_pages(db, &pages, 1), 0);
    int f = 3;
    cr_assert_eq(kv_write(db, set_index_format, &f), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_check(db), LCTX_ECORRUPT);
    cr_assert(strstr(lctx_errmsg(db), "sparse chunk page in a format 3 index"), "%s",
              lctx_errmsg(db));
    lctx_close(db);
}
