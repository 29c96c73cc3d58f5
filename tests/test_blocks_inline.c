/*
 * test_blocks_inline.c — a term with one postings block keeps it in its
 * dictionary entry (format 3, store/blocks.c); a term with more keeps them
 * all in the postings table. Checked through LMDB itself: where the blocks
 * are after a bulk load, after a term grows past one block (topped up,
 * moved when full) and after compaction shrinks it back, and that searches,
 * exclusions and lctx_check read both layouts. The expected document
 * counts come from how each corpus is made, not from the index.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lctx.h"
#include "test_hits.h"
#include "test_tmpdir.h"
#include "store/store.h"

TMPDIR_COLLECTION_SUITE(inl, "inl");

static lctx_db *open_new(void)
{
    lctx_db *db;
    cr_assert_eq(lctx_open(dir, LCTX_OPEN_CREATE, NULL, &db), LCTX_OK, "%s", lctx_errmsg(db));
    return db;
}

/* One batch of documents "ID<first>".."ID<first+n-1>", each "alpha WORD". */
static void add(lctx_db *db, const char *id, int first, int n, const char *word)
{
    cr_assert_eq(lctx_begin(db), LCTX_OK, "%s", lctx_errmsg(db));
    for (int i = first; i < first + n; i++) {
        char ext[32], text[64];
        snprintf(ext, sizeof ext, "%s%d", id, i);
        snprintf(text, sizeof text, "alpha %s", word);
        lctx_doc d = {.id = ext, .text = text};
        cr_assert_eq(lctx_add(db, &d), LCTX_OK, "%s", lctx_errmsg(db));
    }
    cr_assert_eq(lctx_commit(db, NULL), LCTX_OK, "%s", lctx_errmsg(db));
}

/* Deletes "ID0".."ID<n-1>" in the open batch. */
static void delete_ids(lctx_db *db, const char *id, int n)
{
    for (int i = 0; i < n; i++) {
        char ext[32];
        snprintf(ext, sizeof ext, "%s%d", id, i);
        cr_assert_eq(lctx_delete(db, ext), LCTX_OK, "%s", lctx_errmsg(db));
    }
}

typedef struct layout {
    int found;
    store_term t;
    size_t inline_bytes;     /* 0: no inline block */
    size_t table_blocks;     /* blocks of the term in the postings table */
} layout;

/* Where term's blocks are, read straight from LMDB. */
static layout where(lctx_db *db, const char *term)
{
    layout l = {0};
    MDB_txn *txn;
    MDB_val inl;
    cr_assert_eq(kv_read_begin(db, &txn), LCTX_OK);
    int rc = kv_term_get(db, txn, term, strlen(term), &l.t, &inl);
    cr_assert(rc == LCTX_OK || rc == LCTX_ENOTFOUND, "%s", lctx_errmsg(db));
    l.found = rc == LCTX_OK;
    if (l.found) {
        l.inline_bytes = inl.mv_size;
        MDB_cursor *c;
        uint8_t kb[8];
        pblock_key(kb, l.t.id, 0);
        MDB_val k = {8, kb}, v;
        cr_assert_eq(mdb_cursor_open(txn, db->dbi_post, &c), 0);
        for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
             rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
            uint32_t tid, last;
            pblock_key_parse(k.mv_data, &tid, &last);
            if (tid != l.t.id)
                break;
            l.table_blocks++;
        }
        mdb_cursor_close(c);
    }
    kv_read_end(db, txn);
    return l;
}

static void expect_inline(lctx_db *db, const char *term, uint32_t df)
{
    layout l = where(db, term);
    cr_assert(l.found, "%s", term);
    cr_assert_eq(l.t.df, df, "%s: df %u", term, l.t.df);
    cr_assert_eq(l.t.n_blocks, 1, "%s", term);
    cr_assert_gt(l.inline_bytes, 0, "%s: block not inline", term);
    cr_assert_eq(l.table_blocks, 0, "%s: %zu blocks in the table", term, l.table_blocks);
}

static void expect_table(lctx_db *db, const char *term, uint32_t df, uint32_t blocks)
{
    layout l = where(db, term);
    cr_assert(l.found, "%s", term);
    cr_assert_eq(l.t.df, df, "%s: df %u", term, l.t.df);
    cr_assert_eq(l.t.n_blocks, blocks, "%s: %u blocks", term, l.t.n_blocks);
    cr_assert_eq(l.inline_bytes, 0, "%s: inline bytes on a long list", term);
    cr_assert_eq(l.table_blocks, blocks, "%s: %zu blocks in the table", term, l.table_blocks);
}

Test(inl, bulk_load_inlines_single_blocks)
{
    lctx_db *db = open_new();
    cr_assert_eq(lctx_begin(db), LCTX_OK);
    for (int i = 0; i < 420; i++) {
        char ext[16], text[64];
        snprintf(ext, sizeof ext, "d%d", i);
        snprintf(text, sizeof text, "alpha %s", i < 300 ? "zebra" : i < 400 ? "quokka" : "");
        lctx_doc d = {.id = ext, .text = text};
        cr_assert_eq(lctx_add(db, &d), LCTX_OK, "%s", lctx_errmsg(db));
    }
    cr_assert_eq(lctx_commit(db, NULL), LCTX_OK, "%s", lctx_errmsg(db));
    expect_inline(db, "quokka", 100);
    expect_table(db, "zebra", 300, 3);
    expect_table(db, "alpha", 420, 4);
    cr_assert_eq(lctx_check(db), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(bm25_hits(db, "quokka", 5000), 100);
    cr_assert_eq(bm25_hits(db, "zebra", 5000), 300);
    cr_assert_eq(bm25_hits(db, "alpha -quokka", 5000), 320);
    cr_assert_eq(bm25_hits(db, "alpha -zebra", 5000), 120);
    cr_assert_eq(bm25_hits(db, "\"alpha quokka\"", 5000), 100);
    lctx_close(db);
}

Test(inl, growth_tops_up_then_moves_to_table)
{
    lctx_db *db = open_new();
    add(db, "q", 0, 100, "quokka");
    add(db, "y", 0, 128, "yak");           /* a full block, inline */
    expect_inline(db, "quokka", 100);
    expect_inline(db, "yak", 128);
    add(db, "q", 100, 28, "quokka");       /* topped up to exactly one full block */
    expect_inline(db, "quokka", 128);
    add(db, "q", 128, 1, "quokka");        /* a second block: both to the table */
    expect_table(db, "quokka", 129, 2);
    add(db, "y", 128, 5, "yak");           /* the full inline block moves as it is */
    expect_table(db, "yak", 133, 2);
    cr_assert_eq(lctx_check(db), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(bm25_hits(db, "quokka", 5000), 129);
    cr_assert_eq(bm25_hits(db, "yak", 5000), 133);
    cr_assert_eq(bm25_hits(db, "alpha -yak", 5000), 129);
    /* and it all survives closing and reopening */
    lctx_close(db);
    cr_assert_eq(lctx_open(dir, 0, NULL, &db), LCTX_OK);
    cr_assert_eq(lctx_check(db), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(bm25_hits(db, "quokka yak", 5000), 262);
    lctx_close(db);
}

Test(inl, compaction_brings_a_short_list_inline)
{
    lctx_db *db = open_new();
    add(db, "z", 0, 200, "zebra");
    add(db, "k", 0, 3, "kiwi");
    expect_table(db, "zebra", 200, 2);
    cr_assert_eq(lctx_begin(db), LCTX_OK);
    delete_ids(db, "z", 150);
    delete_ids(db, "k", 3);
    cr_assert_eq(lctx_commit(db, NULL), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_compact(db), LCTX_OK, "%s", lctx_errmsg(db));
    expect_inline(db, "zebra", 50);
    cr_assert_not(where(db, "kiwi").found, "an emptied term stays in the dictionary");
    cr_assert_eq(lctx_check(db), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(bm25_hits(db, "zebra", 5000), 50);
    cr_assert_eq(bm25_hits(db, "alpha", 5000), 50);
    lctx_close(db);
}

Test(inl, blocks_walk_an_inline_block)
{
    lctx_db *db = open_new();
    add(db, "q", 0, 40, "quokka");
    MDB_txn *txn;
    store_term t;
    MDB_val inl;
    cr_assert_eq(kv_read_begin(db, &txn), LCTX_OK);
    cr_assert_eq(kv_term_get(db, txn, "quokka", 6, &t, &inl), LCTX_OK);
    kv_blocks bl;
    kv_block b;
    pblock_header h;
    store_posting p[STORE_BLOCK];
    cr_assert_eq(kv_blocks_open(db, txn, &t, &inl, &bl), LCTX_OK);
    cr_assert_eq(kv_blocks_next(db, &bl, &b), LCTX_OK);
    cr_assert_not_null(b.data);
    cr_assert_eq(b.last, t.last_chunk);
    cr_assert_eq(pblock_decode(b.data, b.len, &h, p), 0);
    cr_assert_eq(h.count, 40);
    cr_assert_eq(p[39].chunk, b.last);
    cr_assert_eq(kv_blocks_next(db, &bl, &b), LCTX_OK);
    cr_assert_null(b.data, "one block, then the end");
    cr_assert_eq(kv_blocks_seek(db, &bl, t.last_chunk, &b), LCTX_OK);
    cr_assert_not_null(b.data, "the block holds its last chunk");
    cr_assert_eq(kv_blocks_seek(db, &bl, t.last_chunk + 1, &b), LCTX_OK);
    cr_assert_null(b.data, "nothing beyond the last chunk");
    kv_blocks_close(&bl);
    kv_read_end(db, txn);
    lctx_close(db);
}

/* ------------------------------------------------------- damage found */
typedef struct damage {
    const char *term;
    int how;
} damage;

enum { TRUNCATE, TO_TABLE, CLAIM_TWO };

static int do_damage(lctx_db *db, MDB_txn *txn, void *ctx)
{
    const damage *d = ctx;
    MDB_val k = {strlen(d->term), (void *)d->term}, v;
    cr_assert_eq(mdb_get(txn, db->dbi_terms, &k, &v), 0);
    uint8_t buf[sizeof(store_term) + PBLOCK_MAX_BYTES];
    cr_assert_gt(v.mv_size, sizeof(store_term));
    memcpy(buf, v.mv_data, v.mv_size);
    store_term t;
    memcpy(&t, buf, sizeof t);
    MDB_val nv = {v.mv_size, buf};
    if (d->how == TRUNCATE) {
        nv.mv_size--;
    } else if (d->how == TO_TABLE) {
        uint8_t kb[8];
        pblock_key(kb, t.id, t.last_chunk);
        MDB_val pk = {8, kb}, pv = {v.mv_size - sizeof t, buf + sizeof t};
        cr_assert_eq(mdb_put(txn, db->dbi_post, &pk, &pv, 0), 0);
        nv.mv_size = sizeof t;
    } else {
        t.n_blocks = 2;
        memcpy(buf, &t, sizeof t);
    }
    cr_assert_eq(mdb_put(txn, db->dbi_terms, &k, &nv, 0), 0);
    return LCTX_OK;
}

static void expect_damage(int how, const char *message)
{
    lctx_db *db = open_new();
    add(db, "q", 0, 30, "quokka");
    damage d = {"quokka", how};
    cr_assert_eq(kv_write(db, do_damage, &d), LCTX_OK);
    cr_assert_eq(lctx_check(db), LCTX_ECORRUPT, "damage %d passed", how);
    cr_assert(strstr(lctx_errmsg(db), message) != NULL, "%s", lctx_errmsg(db));
    lctx_close(db);
}

Test(inl, check_finds_a_torn_inline_block)
{
    expect_damage(TRUNCATE, "block does not decode");
}

Test(inl, check_finds_a_single_block_in_the_table)
{
    expect_damage(TO_TABLE, "not in its dictionary entry");
}

Test(inl, check_finds_an_inline_block_on_a_long_list)
{
    expect_damage(CLAIM_TWO, "malformed term entry");
}

Test(inl, search_refuses_a_malformed_entry)
{
    lctx_db *db = open_new();
    add(db, "q", 0, 30, "quokka");
    damage d = {"quokka", CLAIM_TWO};
    cr_assert_eq(kv_write(db, do_damage, &d), LCTX_OK);
    lctx_search_opts o;
    lctx_search_opts_init(&o);
    o.mode = LCTX_MODE_BM25;
    lctx_results *r = NULL;
    cr_assert_eq(lctx_search(db, "quokka", &o, &r), LCTX_ECORRUPT);
    cr_assert(strstr(lctx_errmsg(db), "malformed term entry") != NULL, "%s", lctx_errmsg(db));
    lctx_results_free(r);
    lctx_close(db);
}

Test(inl, format_2_collections_are_refused)
{
    lctx_db *db = open_new();
    add(db, "q", 0, 3, "quokka");
    cr_assert_eq(catalog_exec(db, db->wdb, "UPDATE config SET value='2' "
                              "WHERE key='format_version'"), LCTX_OK);
    lctx_close(db);
    cr_assert_eq(lctx_open(dir, 0, NULL, &db), LCTX_EVERSION);
    cr_assert(strstr(lctx_errmsg(db), "older") && strstr(lctx_errmsg(db), "rebuild"), "%s",
              lctx_errmsg(db));
    lctx_close(db);
}
