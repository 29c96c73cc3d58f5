/*
 * test_full_disk.c — a batch that runs out of disk space fails with
 * LCTX_EIO and a message naming the store, and loses nothing: reopened
 * with room again, the collection passes lctx_check, holds exactly what it
 * held before the batch, and takes the next batch.
 *
 * RLIMIT_FSIZE stands in for a full disk (SIGXFSZ ignored): a write that
 * reaches the limit's offset in any file is cut short or fails, as it
 * would on a full file system, without a file system of our own (tmpfs or
 * a loop device need privileges CI may not have). Each test sweeps the
 * limit from below the files' sizes to what the batch needs, so the
 * failure lands at every point of the write path in turn (the catalog's
 * writes at lctx_begin and its COMMIT, LMDB's commit behind it; for a new
 * collection also the creation marker and LMDB's first open), and each
 * case is checked.
 *
 * One outcome is not "exactly as before": when LMDB cannot write after the
 * catalog committed (the commit point), lctx takes the batch back out of
 * the catalog, which needs room too. When it cannot, the batch stays
 * committed in the catalog and the message says it will be replayed at the
 * next open; the test then requires the whole batch, and nothing less,
 * after reopening (docs/format.md, recovery).
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "lctx.h"
#include "test_tmpdir.h"

static char dir[256];

static void init(void)
{
    tmpdir_make(dir, sizeof dir, "disk");
    /* A write past the limit raises SIGXFSZ, whose default kills the
     * process; ignored, the write fails with EFBIG instead. */
    signal(SIGXFSZ, SIG_IGN);
}

static void fini(void)
{
    tmpdir_remove(dir);
}

TestSuite(full_disk, .init = init, .fini = fini);

#define BASE_DOCS 40
#define BATCH_DOCS 300

/* The batch memory of the batch under test (lctx_set_batch_memory). */
static size_t batch_memory = LCTX_BATCH_MEMORY;

/* A plain document of about 60 words; batch documents carry "zorblax",
 * which no base document has. */
static void add_doc(lctx_db *db, int i, int batch, int *rc)
{
    char id[32], text[1024];
    int n = snprintf(text, sizeof text, "%s document %d about topic%d", batch ? "zorblax" : "plain",
                     i, i % 37);
    for (int w = 0; w < 56 && n < (int)sizeof text - 16; w++)
        n += snprintf(text + n, sizeof text - (size_t)n, " word%d", (i * 7 + w * 13) % 1500);
    snprintf(id, sizeof id, "d%d", i);
    lctx_doc d = {.id = id, .title = "a title", .text = text};
    if (*rc == LCTX_OK)
        *rc = lctx_add(db, &d);
}

/* Documents [from, to) as one batch; the first failing call's status. */
static int batch(lctx_db *db, int from, int to, int zorblax)
{
    int rc = lctx_begin(db);
    if (rc)
        return rc;
    for (int i = from; i < to; i++)
        add_doc(db, i, zorblax, &rc);
    if (rc) {
        lctx_rollback(db);
        return rc;
    }
    return lctx_commit(db, NULL);
}

/* The soft limit; RLIM_INFINITY gives back as much as the hard limit
 * allows. */
static void set_fsize(rlim_t limit)
{
    struct rlimit rl;
    cr_assert_eq(getrlimit(RLIMIT_FSIZE, &rl), 0);
    rl.rlim_cur = limit < rl.rlim_max ? limit : rl.rlim_max;
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
}

/* The largest file of the collection, its index folder included. */
static off_t largest_file(const char *path)
{
    static const char *names[] = {"catalog.db", "catalog.db-wal", "index/data.mdb"};
    off_t max = 0;
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        char f[600];
        struct stat st;
        snprintf(f, sizeof f, "%s/%s", path, names[i]);
        if (stat(f, &st) == 0 && st.st_size > max)
            max = st.st_size;
    }
    return max;
}

/* How many documents hold q (all of them, not the first ten). */
static size_t matching(lctx_db *db, const char *q)
{
    lctx_search_opts o;
    lctx_search_opts_init(&o);
    o.k = 100000;
    lctx_results *r;
    cr_assert_eq(lctx_search(db, q, &o, &r), LCTX_OK, "%s", lctx_errmsg(db));
    size_t n = lctx_results_count(r);
    lctx_results_free(r);
    return n;
}

typedef struct outcome {
    int failed, committed, replayed;   /* counts over the sweep */
    int spill_failed;                  /* failures writing the batch's temporary file */
} outcome;

/* Reopens path with room to spare and checks it holds `docs` documents,
 * `zorblax` of them from the batch, then that a further batch commits.
 * After a failed creation (docs 0) the folder may hold a half-made
 * collection or nothing: opening with LCTX_OPEN_CREATE starts it over. */
static void check_after(const char *path, uint64_t docs, size_t zorblax, const char *why)
{
    lctx_db *db;
    cr_assert_eq(lctx_open(path, docs ? 0 : LCTX_OPEN_CREATE, NULL, &db), LCTX_OK, "%s",
                 lctx_errmsg(db));
    cr_assert_eq(lctx_check(db), LCTX_OK, "%s: %s", why, lctx_errmsg(db));
    lctx_stats st;
    cr_assert_eq(lctx_stats_get(db, &st), LCTX_OK);
    cr_assert_eq(st.documents, docs, "%s: %llu documents", why, (unsigned long long)st.documents);
    size_t n = matching(db, "zorblax");
    cr_assert_eq(n, zorblax, "%s: %zu documents with zorblax", why, n);
    cr_assert_eq(batch(db, 5000, 5010, 0), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_stats_get(db, &st), LCTX_OK);
    cr_assert_eq(st.documents, docs + 10);
    cr_assert_eq(lctx_close(db), LCTX_OK);
}

/* One batch under a file size limit of `limit` bytes into path, which holds
 * `before` documents (0: the batch creates the collection). */
static void one_limit(const char *path, rlim_t limit, uint64_t before, outcome *o)
{
    lctx_db *db;
    if (before == 0)
        set_fsize(limit);
    int rc = lctx_open(path, LCTX_OPEN_CREATE, NULL, &db);
    if (rc == LCTX_OK) {
        lctx_set_batch_memory(db, batch_memory);
        if (before > 0)
            set_fsize(limit);
        rc = batch(db, 1000, 1000 + BATCH_DOCS, 1);
    }
    char msg[1024], why[1100];
    snprintf(msg, sizeof msg, "%s", db ? lctx_errmsg(db) : "");
    snprintf(why, sizeof why, "limit %llu, status %d (%s)", (unsigned long long)limit, rc, msg);
    set_fsize(RLIM_INFINITY);
    if (db)
        lctx_close(db);
    if (rc == LCTX_OK) {
        o->committed++;
        check_after(path, before + BATCH_DOCS, BATCH_DOCS, why);
        return;
    }
    o->failed++;
    cr_assert_eq(rc, LCTX_EIO, "limit %llu: status %d: %s", (unsigned long long)limit, rc, msg);
    cr_assert_not_null(strstr(msg, path), "limit %llu: '%s' names the collection",
                       (unsigned long long)limit, msg);
    if (strstr(msg, "temporary file"))
        o->spill_failed++;
    if (strstr(msg, "will be replayed")) {
        o->replayed++;
        check_after(path, before + BATCH_DOCS, BATCH_DOCS, why);
    } else {
        check_after(path, before, 0, why);
    }
}

/* Limits in `step`s until a batch commits, and one more: from 0 for a new
 * collection, else from a little below its largest file. */
static outcome sweep(const char *tag, uint64_t before, off_t step)
{
    outcome o = {0};
    int after_commit = 0;
    for (int k = 0; k < 400 && after_commit < 2; k++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s%d.lctx", dir, tag, k);
        if (before > 0) {
            lctx_db *db;
            cr_assert_eq(lctx_open(path, LCTX_OPEN_CREATE, NULL, &db), LCTX_OK);
            cr_assert_eq(batch(db, 0, (int)before, 0), LCTX_OK, "%s", lctx_errmsg(db));
            cr_assert_eq(lctx_close(db), LCTX_OK);
        }
        off_t low = before > 0 ? largest_file(path) - 16384 : 0;
        int committed = o.committed;
        one_limit(path, (rlim_t)(low + k * step), before, &o);
        if (o.committed > committed || after_commit)
            after_commit++;
    }
    return o;
}

Test(full_disk, batch_into_a_collection_fails_whole_or_commits)
{
    outcome o = sweep("c", BASE_DOCS, 8192);
    cr_log_info("into a collection: %d limits failed (%d of them replayed), %d committed",
                o.failed, o.replayed, o.committed);
    cr_assert_gt(o.failed, 0, "some limit failed the batch");
    cr_assert_gt(o.committed, 0, "a large enough limit let it commit");
    cr_assert_gt(o.failed, o.replayed, "not every failure was replayed");
}

Test(full_disk, creating_batch_fails_whole_or_commits)
{
    outcome o = sweep("n", 0, 8192);
    cr_log_info("creating: %d limits failed (%d of them replayed), %d committed", o.failed,
                o.replayed, o.committed);
    cr_assert_gt(o.failed, 0);
    cr_assert_gt(o.committed, 0);
}

/* A batch whose postings go to temporary runs (every document's, with a
 * batch memory of one byte): the runs' file fills up too, at lctx_add or
 * at the commit, and the batch fails whole like any other. */
Test(full_disk, a_spilling_batch_fails_whole_or_commits)
{
    batch_memory = 1;
    outcome o = sweep("s", BASE_DOCS, 8192);
    cr_log_info("spilling: %d limits failed (%d in the temporary file, %d replayed), %d "
                "committed", o.failed, o.spill_failed, o.replayed, o.committed);
    cr_assert_gt(o.spill_failed, 0, "some limit failed the batch's temporary file");
    cr_assert_gt(o.committed, 0);
}
