/*
 * test_compact_vacuum.c — compaction gives the catalog's room back to the
 * file system: after most documents are deleted and compacted, catalog.db
 * is much smaller, its WAL empty, and every kept document still found; a
 * compaction that removed nothing leaves the file alone; and a VACUUM that
 * fails (simulated) is a warning, not a failed compaction, and so is a
 * catalog that cannot drop the deleted rows after the index compacted. A
 * collection emptied by deletions and compacted takes new batches again.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lctx.h"
#include "test_hits.h"
#include "test_tmpdir.h"
#include "store/store.h"

TMPDIR_COLLECTION_SUITE(vacuum, "vac");

static long file_size(const char *name)
{
    char file[400];
    struct stat sb;
    snprintf(file, sizeof file, "%s/%s", dir, name);
    return stat(file, &sb) ? 0 : (long)sb.st_size;
}

static long long mtime_ns(const char *name)
{
    char file[400];
    struct stat sb;
    snprintf(file, sizeof file, "%s/%s", dir, name);
    cr_assert_eq(stat(file, &sb), 0);
    return sb.st_mtim.tv_sec * 1000000000LL + sb.st_mtim.tv_nsec;
}

/* The catalog's bytes on disk: its file and its WAL. */
static long catalog_bytes(void)
{
    return file_size("catalog.db") + file_size("catalog.db-wal");
}

/* Two batches (the second turns on WAL) of documents of ~4 KB each. */
static lctx_db *build(int n)
{
    lctx_db *db;
    cr_assert_eq(lctx_open(dir, LCTX_OPEN_CREATE, NULL, &db), LCTX_OK);
    static char text[4200];
    for (int batch = 0; batch < 2; batch++) {
        cr_assert_eq(lctx_begin(db), LCTX_OK);
        for (int i = batch * n / 2; i < (batch + 1) * n / 2; i++) {
            char id[16];
            snprintf(id, sizeof id, "d%d", i);
            size_t len = (size_t)snprintf(text, sizeof text, "word%d", i);
            for (int j = 0; len < 4000; j++)
                len += (size_t)snprintf(text + len, sizeof text - len, " tree%d", j);
            lctx_doc d = {.id = id, .text = text};
            cr_assert_eq(lctx_add(db, &d), LCTX_OK, "%s", lctx_errmsg(db));
        }
        cr_assert_eq(lctx_commit(db, NULL), LCTX_OK, "%s", lctx_errmsg(db));
    }
    return db;
}

static void delete_all_but_every(lctx_db *db, int n, int keep)
{
    cr_assert_eq(lctx_begin(db), LCTX_OK);
    for (int i = 0; i < n; i++) {
        char id[16];
        snprintf(id, sizeof id, "d%d", i);
        if (i % keep)
            cr_assert_eq(lctx_delete(db, id), LCTX_OK, "%s", lctx_errmsg(db));
    }
    cr_assert_eq(lctx_commit(db, NULL), LCTX_OK, "%s", lctx_errmsg(db));
}


/* Counts warnings; each must contain want. */
typedef struct warned {
    const char *want;
    int n;
} warned;

static void count_warning(void *ctx, const char *message)
{
    warned *w = ctx;
    cr_assert(strstr(message, w->want), "%s", message);
    w->n++;
}

Test(vacuum, compaction_shrinks_the_catalog)
{
    lctx_db *db = build(400);
    delete_all_but_every(db, 400, 4);
    long before = catalog_bytes();
    warned warnings = {"not given back", 0};
    lctx_set_warning_handler(db, count_warning, &warnings);
    cr_assert_eq(lctx_compact(db), LCTX_OK, "%s", lctx_errmsg(db));
    long after = catalog_bytes();
    cr_assert_gt(before, 400 * 4000, "the catalog holds the texts: %ld bytes", before);
    cr_assert_lt(after, before / 2, "catalog.db %ld -> %ld bytes", before, after);
    cr_assert_eq(file_size("catalog.db-wal"), 0, "the WAL keeps %ld bytes",
                 file_size("catalog.db-wal"));
    cr_assert_eq(warnings.n, 0);
    cr_assert_eq(lctx_check(db), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(bm25_hits(db, "tree3", 1000), 100);
    cr_assert_eq(bm25_hits(db, "word8", 1000), 1);
    cr_assert_eq(bm25_hits(db, "word9", 1000), 0);
    /* Nothing left to remove: the file is not even written. */
    long long written = mtime_ns("catalog.db");
    cr_assert_eq(lctx_compact(db), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(catalog_bytes(), after);
    cr_assert_eq(mtime_ns("catalog.db"), written, "VACUUM ran with nothing to give back");
    lctx_close(db);
}

Test(vacuum, a_failed_vacuum_is_a_warning)
{
    lctx_db *db = build(40);
    delete_all_but_every(db, 40, 2);
    warned warnings = {"not given back", 0};
    lctx_set_warning_handler(db, count_warning, &warnings);
    store_test_fail_vacuum(db, 1);
    cr_assert_eq(lctx_compact(db), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(warnings.n, 1);
    cr_assert_eq(lctx_check(db), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(bm25_hits(db, "tree3", 1000), 20);
    lctx_close(db);
}

/* Compacting away every document leaves chunk pages of cleared records
 * and no terms; the next batch must not take the index for a new one (its
 * bulk load appends, and a chunk page that exists fails the append), in
 * this handle or after a reopen. */
Test(vacuum, an_emptied_collection_takes_new_batches)
{
    lctx_db *db = build(40);
    delete_all_but_every(db, 40, 41);
    cr_assert_eq(bm25_hits(db, "tree3", 1000), 1, "d0 alone is kept by keep = 41");
    cr_assert_eq(lctx_begin(db), LCTX_OK);
    cr_assert_eq(lctx_delete(db, "d0"), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_commit(db, NULL), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_compact(db), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(bm25_hits(db, "tree3", 1000), 0);
    for (int round = 0; round < 2; round++) {
        char id[32], text[64];
        cr_assert_eq(lctx_begin(db), LCTX_OK);
        for (int i = 0; i < 3; i++) {
            snprintf(id, sizeof id, "new%d-%d", round, i);
            snprintf(text, sizeof text, "apple%d banana", round);
            lctx_doc d = {.id = id, .text = text};
            cr_assert_eq(lctx_add(db, &d), LCTX_OK, "%s", lctx_errmsg(db));
        }
        cr_assert_eq(lctx_commit(db, NULL), LCTX_OK, "round %d: %s", round, lctx_errmsg(db));
        cr_assert_eq(lctx_check(db), LCTX_OK, "%s", lctx_errmsg(db));
        cr_assert_eq(bm25_hits(db, "banana", 100), 3);
        lctx_close(db);
        cr_assert_eq(lctx_open(dir, 0, NULL, &db), LCTX_OK);
        if (round == 0) {               /* empty it again, then reopen and add */
            cr_assert_eq(lctx_begin(db), LCTX_OK);
            for (int i = 0; i < 3; i++) {
                snprintf(id, sizeof id, "new0-%d", i);
                cr_assert_eq(lctx_delete(db, id), LCTX_OK, "%s", lctx_errmsg(db));
            }
            cr_assert_eq(lctx_commit(db, NULL), LCTX_OK, "%s", lctx_errmsg(db));
            cr_assert_eq(lctx_compact(db), LCTX_OK, "%s", lctx_errmsg(db));
            cr_assert_eq(bm25_hits(db, "banana", 100), 0);
        }
    }
    cr_assert_eq(bm25_hits(db, "apple1", 100), 3);
    cr_assert_eq(bm25_hits(db, "apple0", 100), 0);
    lctx_close(db);
}

/* The index's compaction commits first; when the catalog then cannot drop
 * the deleted documents' rows (a full disk, simulated), the compaction has
 * still happened: a warning, the rows stay marked deleted, and the next
 * compaction drops them. */
Test(vacuum, a_failed_catalog_purge_is_a_warning)
{
    lctx_db *db = build(40);
    delete_all_but_every(db, 40, 2);
    warned warnings = {"the index is compacted, but the catalog keeps", 0};
    lctx_set_warning_handler(db, count_warning, &warnings);
    store_test_fail_vacuum(db, 2);
    cr_assert_eq(lctx_compact(db), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(warnings.n, 1);
    lctx_stats st;
    cr_assert_eq(lctx_stats_get(db, &st), LCTX_OK);
    cr_assert_eq(st.deleted_chunks, 0, "the index is compacted");
    cr_assert_eq(lctx_check(db), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(bm25_hits(db, "tree3", 1000), 20);
    cr_assert_eq(bm25_hits(db, "word1", 1000), 0);
    long before = catalog_bytes();
    store_test_fail_vacuum(db, 0);
    cr_assert_eq(lctx_compact(db), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(warnings.n, 1);
    cr_assert_lt(catalog_bytes(), before, "the next compaction dropped the rows");
    cr_assert_eq(lctx_check(db), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(bm25_hits(db, "tree3", 1000), 20);
    lctx_close(db);
}
