/*
 * test_rebuild_index.c — LCTX_OPEN_REBUILD_INDEX rebuilds a collection's
 * index from its catalog: after batches, upserts, deletions and a
 * compaction the rebuilt index answers every query with the same
 * documents and the same scores, holds the same statistics and passes
 * lctx_check; a damaged index comes back whole; a format-2 collection is
 * refused by a plain open and upgraded by a rebuild; format 1 and misuse
 * are refused; a writer that had the collection open meanwhile loses
 * nothing. The reference is the collection's own answers before the
 * rebuild, so a rebuild that lost, duplicated or reweighted anything
 * shows up as a difference.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lctx.h"
#include "test_corpus.h"
#include "test_tmpdir.h"
#include "store/store.h"

TMPDIR_COLLECTION_SUITE(rebuild, "rebuild");

/* The collection of the tests: four batches, upserts, deletions of which
 * the older ones are compacted away (holes in the replayed batches) and
 * the newer ones only tombstoned. */
static lctx_db *build(void)
{
    lctx_db *db;
    cr_assert_eq(lctx_open(dir, LCTX_OPEN_CREATE, NULL, &db), LCTX_OK);
    add_batch(db, 0, 300, 0);
    add_batch(db, 300, 200, 0);
    add_batch(db, 100, 50, 1);         /* upserts: new versions of d100..d149 */
    delete_ids(db, 0, 300, 3);
    cr_assert_eq(lctx_compact(db), LCTX_OK, "%s", lctx_errmsg(db));
    add_batch(db, 500, 150, 0);
    delete_ids(db, 400, 200, 7);       /* tombstoned, not compacted */
    cr_assert_eq(lctx_check(db), LCTX_OK, "%s", lctx_errmsg(db));
    return db;
}

static lctx_stats stats_of(lctx_db *db)
{
    lctx_stats s;
    memset(&s, 0, sizeof s);
    cr_assert_eq(lctx_stats_get(db, &s), LCTX_OK, "%s", lctx_errmsg(db));
    return s;
}

static lctx_db *reopen(unsigned flags)
{
    lctx_db *db;
    int rc = lctx_open(dir, flags, NULL, &db);
    cr_assert_eq(rc, LCTX_OK, "%s", lctx_errmsg(db));
    return db;
}

static void expect_same(lctx_db *db, const char *before, const lctx_stats *sb)
{
    cr_assert_eq(lctx_check(db), LCTX_OK, "%s", lctx_errmsg(db));
    char *after = answers(db);
    cr_assert_str_eq(after, before);
    lctx_stats sa = stats_of(db);
    cr_assert_eq(sa.documents, sb->documents);
    cr_assert_eq(sa.chunks, sb->chunks);
    cr_assert_eq(sa.deleted_chunks, sb->deleted_chunks);
    cr_assert_eq(sa.terms, sb->terms);
    cr_assert_eq(sa.postings, sb->postings);
    cr_assert_eq(sa.last_seq, sb->last_seq);
    free(after);
}

Test(rebuild, rebuilt_index_answers_the_same)
{
    lctx_db *db = build();
    char *before = answers(db);
    lctx_stats sb = stats_of(db);
    cr_assert_gt(strlen(before), 1000, "the queries match little: a weak test");
    lctx_close(db);
    db = reopen(LCTX_OPEN_REBUILD_INDEX);
    expect_same(db, before, &sb);
    /* and it keeps working as an index: one more batch, then compaction */
    add_batch(db, 650, 20, 2);
    cr_assert_eq(lctx_compact(db), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_check(db), LCTX_OK, "%s", lctx_errmsg(db));
    lctx_close(db);
    free(before);
}

static int garble(lctx_db *db, MDB_txn *txn, void *ctx)
{
    MDB_cursor *c;
    MDB_val k, v;
    cr_assert_eq(mdb_cursor_open(txn, db->dbi_post, &c), 0);
    cr_assert_eq(mdb_cursor_get(c, &k, &v, MDB_FIRST), 0);
    uint8_t key[8], buf[PBLOCK_MAX_BYTES];
    memcpy(key, k.mv_data, 8);
    memcpy(buf, v.mv_data, v.mv_size);
    MDB_val nk = {8, key}, nv = {v.mv_size - 2, buf};
    mdb_cursor_close(c);
    cr_assert_eq(mdb_put(txn, db->dbi_post, &nk, &nv, 0), 0);
    return LCTX_OK;
}

Test(rebuild, damaged_index_comes_back)
{
    lctx_db *db = build();
    char *before = answers(db);
    lctx_stats sb = stats_of(db);
    cr_assert_eq(kv_write(db, garble, NULL), LCTX_OK);
    cr_assert_eq(lctx_check(db), LCTX_ECORRUPT, "the damage went unseen");
    lctx_close(db);
    db = reopen(LCTX_OPEN_REBUILD_INDEX);
    expect_same(db, before, &sb);
    lctx_close(db);
    free(before);
}

static void set_format(lctx_db *db, const char *v)
{
    char sql[128];
    snprintf(sql, sizeof sql, "UPDATE config SET value='%s' WHERE key='format_version'", v);
    cr_assert_eq(catalog_exec(db, db->wdb, sql), LCTX_OK, "%s", lctx_errmsg(db));
}

Test(rebuild, format_2_is_upgraded_by_a_rebuild)
{
    lctx_db *db = build();
    char *before = answers(db);
    lctx_stats sb = stats_of(db);
    set_format(db, "2");
    lctx_close(db);
    cr_assert_eq(lctx_open(dir, 0, NULL, &db), LCTX_EVERSION);
    cr_assert(strstr(lctx_errmsg(db), "--rebuild-index"), "%s", lctx_errmsg(db));
    lctx_close(db);
    cr_assert_eq(lctx_open(dir, LCTX_OPEN_READONLY, NULL, &db), LCTX_EVERSION);
    lctx_close(db);
    db = reopen(LCTX_OPEN_REBUILD_INDEX);
    cr_assert_eq(stats_of(db).format_version, LCTX_FORMAT_VERSION);
    expect_same(db, before, &sb);
    lctx_close(db);
    db = reopen(LCTX_OPEN_READONLY);        /* a plain open reads it again */
    expect_same(db, before, &sb);
    lctx_close(db);
    free(before);
}

Test(rebuild, format_1_is_refused_even_for_a_rebuild)
{
    lctx_db *db = build();
    set_format(db, "1");
    lctx_close(db);
    cr_assert_eq(lctx_open(dir, LCTX_OPEN_REBUILD_INDEX, NULL, &db), LCTX_EVERSION);
    cr_assert(strstr(lctx_errmsg(db), "from its sources"), "%s", lctx_errmsg(db));
    lctx_close(db);
    /* the refusal touched nothing: the index is still there */
    char file[600];
    tmpdir_index_file(dir, "data.mdb", file, sizeof file);
    cr_assert_eq(access(file, F_OK), 0);
}

/* lctx_open(flags) in another process (one handle per process: see
 * store/once.c); its status, or 100 when its message lacks want. */
static int open_elsewhere(unsigned flags, const char *want)
{
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        lctx_db *other;
        int rc = lctx_open(dir, flags, NULL, &other);
        if (!strstr(lctx_errmsg(other), want))
            rc = 100;
        lctx_close(other);
        _exit(rc);
    }
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

Test(rebuild, misuse_is_refused)
{
    lctx_db *db = build();
    cr_assert_eq(lctx_begin(db), LCTX_OK);          /* holds the writer lock */
    cr_assert_eq(open_elsewhere(LCTX_OPEN_REBUILD_INDEX, "another writer"), LCTX_EBUSY);
    cr_assert_eq(lctx_rollback(db), LCTX_OK);
    cr_assert_eq(open_elsewhere(LCTX_OPEN_REBUILD_INDEX | LCTX_OPEN_READONLY, ""), LCTX_EINVAL);
    cr_assert_eq(lctx_check(db), LCTX_OK, "%s", lctx_errmsg(db));
    lctx_close(db);
}

Test(rebuild, a_crash_part_way_is_finished_by_the_next_open)
{
    lctx_db *db = build();
    char *before = answers(db);
    lctx_stats sb = stats_of(db);
    lctx_close(db);
    /* What a crash after the index was discarded leaves: a catalog of the
     * current format and no index at all. */
    char file[600];
    tmpdir_index_file(dir, "data.mdb", file, sizeof file);
    cr_assert_eq(unlink(file), 0);
    tmpdir_index_file(dir, "lock.mdb", file, sizeof file);
    cr_assert_eq(unlink(file), 0);
    db = reopen(0);
    expect_same(db, before, &sb);
    lctx_close(db);
    free(before);
}

Test(rebuild, a_writer_open_meanwhile_loses_nothing)
{
    lctx_db *db = build();
    char *before = answers(db);
    /* db stays open, idle, while another process rebuilds the index */
    pid_t pid = fork_rebuild(dir);
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the rebuild failed");
    /* The old handle answers as before (from the rebuilt index, which it
     * moved to by itself: test_generations.c), and what it commits now
     * is in the index a new handle opens. */
    char *old_view = answers(db);
    cr_assert_str_eq(old_view, before);
    add_batch(db, 700, 10, 3);
    lctx_close(db);
    db = reopen(0);
    cr_assert_eq(lctx_check(db), LCTX_OK, "%s", lctx_errmsg(db));
    int found = ids_found(db, "d70", 4);
    cr_assert_eq(found, 10, "%d of the 10 documents committed meanwhile found", found);
    lctx_close(db);
    free(old_view);
    free(before);
}

/* Thirty batches after the first: new documents, new versions of old
 * ones, deletions of documents added two batches before and of a document
 * upserted the batch before. */
static void feed_batches(lctx_db *db)
{
    for (int k = 0; k < 30; k++) {
        if (k % 3 == 0) {
            add_batch(db, 100 + k * 10, 10, 0);
        } else if (k % 3 == 1) {
            add_batch(db, k * 3, 5, k);
        } else {
            delete_ids(db, 100 + (k - 2) * 10, 10, 3);
            delete_ids(db, (k - 1) * 3, 1, 1);
        }
    }
}

/* Batches the index lacks are replayed in groups (indexer/replay.c): here
 * about 40 of them, in groups of 7 (the last smaller), each group one LMDB
 * transaction holding several batches' documents and deletions, some of
 * documents added in the same group. The index must end as the one that
 * took the same batches one at a time: the same answers, chunk ids and
 * statistics. */
Test(rebuild, lagging_batches_replay_in_groups)
{
    char ref[512];
    snprintf(ref, sizeof ref, "%s-ref", dir);
    lctx_db *r, *db;
    cr_assert_eq(lctx_open(ref, LCTX_OPEN_CREATE, NULL, &r), LCTX_OK);
    add_batch(r, 0, 100, 0);
    feed_batches(r);
    char *want = answers(r);
    lctx_stats sr = stats_of(r);
    lctx_close(r);

    cr_assert_eq(lctx_open(dir, LCTX_OPEN_CREATE, NULL, &db), LCTX_OK);
    add_batch(db, 0, 100, 0);
    db->test_stop_after_sqlite = 2;    /* the catalog alone takes the rest */
    feed_batches(db);
    db->test_stop_after_sqlite = 0;
    lctx_stats lag = stats_of(db);
    cr_assert_eq(lag.last_seq, 1);
    cr_assert_eq(lag.awaiting_recovery, sr.last_seq - 1, "%llu awaiting, %llu batches",
                 (unsigned long long)lag.awaiting_recovery, (unsigned long long)sr.last_seq);
    cr_assert_geq(lag.awaiting_recovery, 30);
    db->test_replay_group = 7;
    cr_assert_eq(lctx_check(db), LCTX_OK, "%s", lctx_errmsg(db));   /* replays, then checks */
    expect_same(db, want, &sr);
    lctx_close(db);
    free(want);
}
