/*
 * test_store_check.c — lctx_check finds damage in either store and in their
 * agreement, and names it; a healthy collection passes.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lctx.h"
#include "test_tmpdir.h"
#include "store/store.h"

TMPDIR_COLLECTION_SUITE(check, "chk");

static lctx_db *make(void)
{
    lctx_db *db;
    cr_assert_eq(lctx_open(dir, LCTX_OPEN_CREATE, NULL, &db), LCTX_OK);
    cr_assert_eq(lctx_begin(db), LCTX_OK);
    for (int i = 0; i < 300; i++) {
        char id[16], text[64];
        snprintf(id, sizeof id, "d%d", i);
        snprintf(text, sizeof text, "common words here and term%d", i % 17);
        lctx_doc d = {.id = id, .text = text};
        cr_assert_eq(lctx_add(db, &d), LCTX_OK);
    }
    cr_assert_eq(lctx_commit(db, NULL), LCTX_OK);
    cr_assert_eq(lctx_check(db), LCTX_OK, "%s", lctx_errmsg(db));
    return db;
}

static int drop_first_block(lctx_db *db, MDB_txn *txn, void *ctx)
{
    MDB_cursor *c;
    MDB_val k, v;
    cr_assert_eq(mdb_cursor_open(txn, db->dbi_post, &c), 0);
    cr_assert_eq(mdb_cursor_get(c, &k, &v, MDB_FIRST), 0);
    cr_assert_eq(mdb_cursor_del(c, 0), 0);
    mdb_cursor_close(c);
    return LCTX_OK;
}

static int bump_stats(lctx_db *db, MDB_txn *txn, void *ctx)
{
    store_stats st;
    cr_assert_eq(kv_get_stats(db, txn, &st), LCTX_OK);
    st.total_len += 1;
    return kv_put_stats(db, txn, &st);
}

static int garble_block(lctx_db *db, MDB_txn *txn, void *ctx)
{
    MDB_cursor *c;
    MDB_val k, v;
    cr_assert_eq(mdb_cursor_open(txn, db->dbi_post, &c), 0);
    cr_assert_eq(mdb_cursor_get(c, &k, &v, MDB_LAST), 0);
    uint8_t buf[PBLOCK_MAX_BYTES];
    memcpy(buf, v.mv_data, v.mv_size);
    MDB_val nv = {v.mv_size - 1, buf}; /* truncated */
    uint8_t key[8];
    memcpy(key, k.mv_data, 8);
    MDB_val nk = {8, key};
    mdb_cursor_close(c);
    cr_assert_eq(mdb_put(txn, db->dbi_post, &nk, &nv, 0), 0);
    return LCTX_OK;
}

Test(check, missing_postings_block)
{
    lctx_db *db = make();
    cr_assert_eq(kv_write(db, drop_first_block, NULL), LCTX_OK);
    cr_assert_eq(lctx_check(db), LCTX_ECORRUPT);
    cr_assert(strstr(lctx_errmsg(db), "integrity check failed") != NULL, "%s", lctx_errmsg(db));
    lctx_close(db);
}

Test(check, statistics_disagree)
{
    lctx_db *db = make();
    cr_assert_eq(kv_write(db, bump_stats, NULL), LCTX_OK);
    cr_assert_eq(lctx_check(db), LCTX_ECORRUPT);
    cr_assert(strstr(lctx_errmsg(db), "statistics") != NULL, "%s", lctx_errmsg(db));
    lctx_close(db);
}

Test(check, malformed_block)
{
    lctx_db *db = make();
    cr_assert_eq(kv_write(db, garble_block, NULL), LCTX_OK);
    cr_assert_eq(lctx_check(db), LCTX_ECORRUPT);
    cr_assert(strstr(lctx_errmsg(db), "decode") != NULL, "%s", lctx_errmsg(db));
    lctx_close(db);
}

Test(check, catalog_chunk_missing_from_index)
{
    lctx_db *db = make();
    cr_assert_eq(catalog_exec(db, db->wdb, "INSERT INTO documents VALUES(100000,'ghost','','',"
                              "NULL,'ghost text',1,100000,1,X'0005',1,NULL);"), LCTX_OK);
    cr_assert_eq(lctx_check(db), LCTX_ECORRUPT);
    cr_assert(strstr(lctx_errmsg(db), "missing from the index") != NULL, "%s", lctx_errmsg(db));
    lctx_close(db);
}

/* A batch the catalog committed and the index lacks is what a full disk
 * after the catalog's commit leaves: a writer's open or lctx_begin
 * replays it, and so does a read-write check, rather than call it damage. */
Test(check, catalog_ahead_of_index_is_replayed)
{
    lctx_db *db = make();
    cr_assert_eq(catalog_exec(db, db->wdb, "INSERT INTO batches VALUES(7,'committed',0,0,0,1,1)"),
                 LCTX_OK);
    cr_assert_eq(lctx_check(db), LCTX_OK, "%s", lctx_errmsg(db));
    lctx_stats st;
    cr_assert_eq(lctx_stats_get(db, &st), LCTX_OK);
    cr_assert_eq(st.last_seq, 7, "the index took the batch");
    lctx_close(db);
}

Test(check, read_only_handle_checks_too)
{
    lctx_db *db = make();
    lctx_close(db);
    cr_assert_eq(lctx_open(dir, LCTX_OPEN_READONLY, NULL, &db), LCTX_OK);
    cr_assert_eq(lctx_check(db), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_compact(db), LCTX_ESTATE);
    lctx_close(db);
}
