/*
 * test_catalog_wal.c — the catalog's write-ahead log stays small while a
 * handle stays open.
 *
 * A pipeline keeps its writer open and commits small batches all day.
 * With SQLite's defaults the log was checkpointed every 1,000 pages (16
 * MiB of 16 KiB pages) and never cut back while the handle was open, so a
 * catalog of a few hundred KiB carried a 16 MiB log. store/catalog.c
 * checkpoints every 256 pages and cuts the log to 4 MiB: here, hundreds of
 * one-document batches must never leave a log over 4 MiB plus one batch.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "lctx.h"
#include "test_tmpdir.h"

TMPDIR_COLLECTION_SUITE(wal, "wal");

Test(wal, a_long_lived_writer_keeps_the_log_small, .timeout = 120)
{
    lctx_db *db = NULL;
    cr_assert_eq(lctx_open(dir, LCTX_OPEN_CREATE, NULL, &db), LCTX_OK, "%s", lctx_errmsg(db));
    char wal[512], text[4096], id[32];
    snprintf(wal, sizeof wal, "%s/catalog.db-wal", dir);
    off_t largest = 0;
    for (int i = 0; i < 400; i++) {
        snprintf(id, sizeof id, "doc%d", i);
        size_t n = 0;
        while (n + 16 < sizeof text)   /* a few pages of text per batch */
            n += (size_t)snprintf(text + n, sizeof text - n, "word%d ", (int)(n * 7 + i) % 997);
        lctx_doc d = {.id = id, .title = id, .text = text};
        cr_assert_eq(lctx_begin(db), LCTX_OK, "%s", lctx_errmsg(db));
        cr_assert_eq(lctx_add(db, &d), LCTX_OK, "%s", lctx_errmsg(db));
        cr_assert_eq(lctx_commit(db, NULL), LCTX_OK, "%s", lctx_errmsg(db));
        struct stat sb;
        if (stat(wal, &sb) == 0 && sb.st_size > largest)
            largest = sb.st_size;
    }
    cr_assert_gt(largest, 0, "the catalog never used its log");
    cr_assert_leq(largest, (4 << 20) + (1 << 20), "the log reached %lld bytes",
                  (long long)largest);
    lctx_stats st;
    cr_assert_eq(lctx_stats_get(db, &st), LCTX_OK);
    cr_assert_eq(st.documents, 400);
    lctx_close(db);
}
