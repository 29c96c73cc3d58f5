/*
 * test_content_hash.c — the content hash that makes re-adding an unchanged
 * document a no-op (indexer/write.c, content_hash). New collections record
 * 'mix64' in their config; collections without the record keep the FNV-1a
 * they were made with, checked here against a plain FNV-1a written from its
 * definition; an unknown hash name is refused. A batch of only unchanged
 * documents writes nothing at all (lctx_commit), and an empty first batch
 * still leaves the new collection, empty.
 */
#include <criterion/criterion.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lctx.h"
#include "test_tmpdir.h"

TMPDIR_COLLECTION_SUITE(content_hash, "chash");

static void add_one(const char *id, const char *title, const char *text)
{
    lctx_db *db = NULL;
    cr_assert_eq(lctx_open(dir, LCTX_OPEN_CREATE, NULL, &db), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_begin(db), LCTX_OK, "%s", lctx_errmsg(db));
    lctx_doc d = {.id = id, .title = title, .text = text};
    cr_assert_eq(lctx_add(db, &d), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_commit(db, NULL), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_check(db), LCTX_OK, "%s", lctx_errmsg(db));
    lctx_close(db);
}

/* Runs sql on the catalog; returns the first column of the first row of
 * the last statement that has one (or -1). */
static long long catalog(const char *sql)
{
    char file[512];
    snprintf(file, sizeof file, "%s/catalog.db", dir);
    sqlite3 *c;
    cr_assert_eq(sqlite3_open(file, &c), SQLITE_OK);
    long long v = -1;
    const char *tail = sql;
    while (tail && *tail) {
        sqlite3_stmt *st;
        cr_assert_eq(sqlite3_prepare_v2(c, tail, -1, &st, &tail), SQLITE_OK, "%s",
                     sqlite3_errmsg(c));
        if (!st)
            break;
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
            v = sqlite3_column_int64(st, 0);
        else
            cr_assert_eq(rc, SQLITE_DONE, "%s", sqlite3_errmsg(c));
        sqlite3_finalize(st);
    }
    sqlite3_close(c);
    return v;
}

/* FNV-1a over title, text, uri and metadata, each followed by a 0xff byte,
 * from the offset basis lctx has always used: 1469598103934665603, one
 * digit short of the published 14695981039346656037 (docs/format.md). */
static long long fnv_reference(const char *title, const char *text)
{
    const char *parts[4] = {title, text, "", ""};
    unsigned long long h = 1469598103934665603ull;
    for (int p = 0; p < 4; p++) {
        for (const unsigned char *s = (const unsigned char *)parts[p]; *s; s++)
            h = (h ^ *s) * 1099511628211ull;
        h = (h ^ 0xff) * 1099511628211ull;
    }
    return (long long)h;
}

Test(content_hash, new_collections_record_mix64_and_skip_unchanged)
{
    add_one("d", "Plum", "cake recipes");
    cr_assert_eq(catalog("SELECT value='mix64' FROM config WHERE key='content_hash'"), 1);
    add_one("d", "Plum", "cake recipes");                /* unchanged: no new row */
    cr_assert_eq(catalog("SELECT count(*) FROM documents"), 1);
    add_one("d", "Plu", "mcake recipes");                /* the same bytes, cut elsewhere */
    cr_assert_eq(catalog("SELECT count(*) FROM documents"), 2, "a moved boundary is a change");
    cr_assert_eq(catalog("SELECT count(*) FROM documents WHERE deleted_seq IS NULL"), 1);
    add_one("d", "Plu", "mcake recipeS");                /* one byte */
    cr_assert_eq(catalog("SELECT count(*) FROM documents"), 3);
}

Test(content_hash, collections_without_the_record_keep_fnv1a)
{
    add_one("d", "Plum", "cake recipes");
    char sql[256];
    snprintf(sql, sizeof sql, "DELETE FROM config WHERE key='content_hash';"
             "UPDATE documents SET content_hash=%lld;", fnv_reference("Plum", "cake recipes"));
    catalog(sql);
    add_one("d", "Plum", "cake recipes");
    cr_assert_eq(catalog("SELECT count(*) FROM documents"), 1,
                 "the stored FNV-1a hash must still match");
    add_one("d", "Plum", "cake recipes, revised");
    cr_assert_eq(catalog("SELECT count(*) FROM documents"), 2);
    cr_assert_eq(catalog("SELECT count(*) FROM config WHERE key='content_hash'"), 0,
                 "an old collection is not relabelled");
    cr_assert_eq(catalog("SELECT content_hash FROM documents WHERE deleted_seq IS NULL"),
                 fnv_reference("Plum", "cake recipes, revised"));
}

Test(content_hash, unknown_hash_is_refused)
{
    add_one("d", "Plum", "cake recipes");
    catalog("UPDATE config SET value='sha3' WHERE key='content_hash'");
    lctx_db *db = NULL;
    cr_assert_eq(lctx_open(dir, 0, NULL, &db), LCTX_EVERSION);
    cr_assert(strstr(lctx_errmsg(db), "sha3") != NULL, "%s", lctx_errmsg(db));
    lctx_close(db);
}

/* The bytes of the collection's LMDB data file, malloc'd; *n its size. */
static char *index_bytes(size_t *n)
{
    char file[512];
    snprintf(file, sizeof file, "%s/index/data.mdb", dir);
    FILE *f = fopen(file, "rb");
    cr_assert_not_null(f, "%s", file);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    rewind(f);
    char *b = malloc(*n ? *n : 1);
    cr_assert_not_null(b);
    cr_assert_eq(fread(b, 1, *n, f), *n);
    fclose(f);
    return b;
}

Test(content_hash, a_batch_that_changes_nothing_writes_nothing)
{
    add_one("d", "Plum", "cake recipes");
    size_t n0, n1;
    char *before = index_bytes(&n0);
    lctx_db *db = NULL;
    cr_assert_eq(lctx_open(dir, 0, NULL, &db), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_begin(db), LCTX_OK, "%s", lctx_errmsg(db));
    lctx_doc d = {.id = "d", .title = "Plum", .text = "cake recipes"};
    cr_assert_eq(lctx_add(db, &d), LCTX_OK, "%s", lctx_errmsg(db));
    uint64_t seq = 99;
    cr_assert_eq(lctx_commit(db, &seq), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(seq, 1, "an unchanged batch reports the last committed one, got %llu",
                 (unsigned long long)seq);
    char *after = index_bytes(&n1);
    cr_assert(n0 == n1 && memcmp(before, after, n0) == 0, "the index was written");
    free(before);
    free(after);
    cr_assert_eq(catalog("SELECT count(*) FROM batches"), 1);
    /* The next batch that changes something is the second, not the third. */
    cr_assert_eq(lctx_begin(db), LCTX_OK, "%s", lctx_errmsg(db));
    d.text = "cake recipes, revised";
    cr_assert_eq(lctx_add(db, &d), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_commit(db, &seq), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(seq, 2);
    cr_assert_eq(lctx_check(db), LCTX_OK, "%s", lctx_errmsg(db));
    lctx_close(db);
    cr_assert_eq(catalog("SELECT count(*) FROM batches"), 2);
}

Test(content_hash, an_empty_first_batch_leaves_an_empty_collection)
{
    lctx_db *db = NULL;
    cr_assert_eq(lctx_open(dir, LCTX_OPEN_CREATE, NULL, &db), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_begin(db), LCTX_OK, "%s", lctx_errmsg(db));
    uint64_t seq = 99;
    cr_assert_eq(lctx_commit(db, &seq), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(seq, 0);
    cr_assert_eq(lctx_close(db), LCTX_OK);
    /* Not taken for a failed creation: it opens without LCTX_OPEN_CREATE. */
    cr_assert_eq(lctx_open(dir, 0, NULL, &db), LCTX_OK, "%s", lctx_errmsg(db));
    lctx_stats st;
    cr_assert_eq(lctx_stats_get(db, &st), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(st.documents, 0);
    cr_assert_eq(st.last_seq, 0);
    cr_assert_eq(lctx_check(db), LCTX_OK, "%s", lctx_errmsg(db));
    lctx_close(db);
}
