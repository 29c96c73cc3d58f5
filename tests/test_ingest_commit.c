/*
 * test_ingest_commit.c — lctx_ingest with commit_every: a commit every N
 * documents, reported through the committed callback, the count carried
 * across inputs of one batch, the writer lock kept between batches, and a
 * failure that keeps the earlier batches and leaves only the open one to
 * roll back.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lctx.h"
#include "test_tmpdir.h"

static char dir[256], coll[300];

static void setup(void)
{
    tmpdir_make(dir, sizeof dir, "commit");
    snprintf(coll, sizeof coll, "%s/c.lctx", dir);
}

static void teardown(void)
{
    tmpdir_remove(dir);
}

TestSuite(commit, .init = setup, .fini = teardown);

#define MAXCALLS 16

typedef struct calls {
    int n;
    uint64_t seq[MAXCALLS], ndocs[MAXCALLS];
    int probe_lock;          /* 1: check another process cannot begin */
    int other_rc;
} calls;

static void on_committed(void *ctx, uint64_t seq, uint64_t ndocs)
{
    calls *c = ctx;
    cr_assert_lt(c->n, MAXCALLS);
    c->seq[c->n] = seq;
    c->ndocs[c->n] = ndocs;
    c->n++;
    if (c->probe_lock) {      /* another process, as writers are (store/once.c) */
        fflush(NULL);
        pid_t pid = fork();
        cr_assert_geq(pid, 0);
        if (pid == 0) {
            lctx_db *other = NULL;
            int rc = lctx_open(coll, 0, NULL, &other);
            if (rc == LCTX_OK && (rc = lctx_begin(other)) == LCTX_OK)
                lctx_rollback(other);
            lctx_close(other);
            _exit(rc);
        }
        int st;
        cr_assert_eq(waitpid(pid, &st, 0), pid);
        c->other_rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    }
}

/* Writes n JSONL documents with ids PREFIX1..PREFIXn; bad_line > 0 puts a
 * malformed line at that line number instead. Returns the path. */
static const char *write_jsonl(const char *name, const char *prefix, int n, int bad_line)
{
    static char paths[4][300];
    static int next;
    char *path = paths[next++ % 4];
    snprintf(path, sizeof paths[0], "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    for (int i = 1; i <= n; i++) {
        if (i == bad_line)
            fprintf(f, "{\"_id\": \"%s%d\", \"text\": \n", prefix, i);
        else
            fprintf(f, "{\"_id\":\"%s%d\",\"text\":\"word%s%d common text\"}\n", prefix, i,
                    prefix, i);
    }
    cr_assert_eq(fclose(f), 0);
    return path;
}

static lctx_db *open_rw(void)
{
    lctx_db *db = NULL;
    cr_assert_eq(lctx_open(coll, LCTX_OPEN_CREATE, NULL, &db), LCTX_OK, "%s", lctx_errmsg(db));
    return db;
}

static uint64_t live_docs(lctx_db *db)
{
    lctx_stats st;
    cr_assert_eq(lctx_stats_get(db, &st), LCTX_OK, "%s", lctx_errmsg(db));
    return st.documents;
}

static size_t hits(lctx_db *db, const char *q)
{
    lctx_search_opts o;
    lctx_search_opts_init(&o);
    o.mode = LCTX_MODE_BM25;
    lctx_results *r = NULL;
    cr_assert_eq(lctx_search(db, q, &o, &r), LCTX_OK, "%s", lctx_errmsg(db));
    size_t n = lctx_results_count(r);
    lctx_results_free(r);
    return n;
}

static void opts_for(lctx_ingest_opts *io, calls *c, uint64_t every)
{
    lctx_ingest_opts_init(io);
    io->commit_every = every;
    io->committed = on_committed;
    io->progress_ctx = c;
}

Test(commit, every_n_documents)
{
    const char *f = write_jsonl("a.jsonl", "a", 7, 0);
    lctx_db *db = open_rw();
    calls c = {0};
    lctx_ingest_opts io;
    opts_for(&io, &c, 3);
    uint64_t n = 0, seq = 0;
    cr_assert_eq(lctx_begin(db), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_ingest(db, f, &io, &n), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(n, 7);
    cr_assert_eq(c.n, 2);
    cr_assert_eq(c.seq[0], 1);
    cr_assert_eq(c.ndocs[0], 3);
    cr_assert_eq(c.seq[1], 2);
    cr_assert_eq(c.ndocs[1], 3);
    /* Two batches are visible already; the seventh document is still open. */
    cr_assert_eq(live_docs(db), 6);
    cr_assert_eq(lctx_commit(db, &seq), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(seq, 3);
    cr_assert_eq(live_docs(db), 7);
    cr_assert_eq(hits(db, "worda7"), 1);
    cr_assert_eq(hits(db, "common"), 7);
    cr_assert_eq(lctx_check(db), LCTX_OK, "%s", lctx_errmsg(db));
    lctx_close(db);
}

Test(commit, count_carries_across_inputs)
{
    const char *a = write_jsonl("a.jsonl", "a", 2, 0);
    const char *b = write_jsonl("b.jsonl", "b", 2, 0);
    lctx_db *db = open_rw();
    calls c = {0};
    lctx_ingest_opts io;
    opts_for(&io, &c, 3);
    uint64_t n = 0;
    cr_assert_eq(lctx_begin(db), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_ingest(db, a, &io, &n), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(c.n, 0);
    cr_assert_eq(lctx_ingest(db, b, &io, &n), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(n, 2);
    cr_assert_eq(c.n, 1);
    cr_assert_eq(c.ndocs[0], 3, "a1 a2 b1 form the first batch");
    cr_assert_eq(lctx_commit(db, NULL), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(live_docs(db), 4);
    lctx_close(db);
}

Test(commit, zero_means_the_caller_commits)
{
    const char *f = write_jsonl("a.jsonl", "a", 5, 0);
    lctx_db *db = open_rw();
    calls c = {0};
    lctx_ingest_opts io;
    opts_for(&io, &c, 0);
    cr_assert_eq(lctx_begin(db), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_ingest(db, f, &io, NULL), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(c.n, 0);
    cr_assert_eq(lctx_rollback(db), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(live_docs(db), 0);
    lctx_close(db);
}

Test(commit, writer_lock_kept_between_batches)
{
    const char *f = write_jsonl("a.jsonl", "a", 4, 0);
    lctx_db *db = open_rw();
    calls c = {0};
    c.probe_lock = 1;
    c.other_rc = -1;
    lctx_ingest_opts io;
    opts_for(&io, &c, 2);
    cr_assert_eq(lctx_begin(db), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_ingest(db, f, &io, NULL), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(c.n, 2);
    cr_assert_eq(c.other_rc, LCTX_EBUSY, "another writer got in between batches");
    cr_assert_eq(lctx_rollback(db), LCTX_OK, "%s", lctx_errmsg(db));
    /* The lock is released with the last batch. */
    cr_assert_eq(lctx_begin(db), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_rollback(db), LCTX_OK, "%s", lctx_errmsg(db));
    lctx_close(db);
}

Test(commit, error_keeps_earlier_batches)
{
    const char *f = write_jsonl("bad.jsonl", "a", 8, 6);
    lctx_db *db = open_rw();
    calls c = {0};
    lctx_ingest_opts io;
    opts_for(&io, &c, 2);
    uint64_t n = 0;
    cr_assert_eq(lctx_begin(db), LCTX_OK, "%s", lctx_errmsg(db));
    int rc = lctx_ingest(db, f, &io, &n);
    cr_assert_neq(rc, LCTX_OK);
    cr_assert_not_null(strstr(lctx_errmsg(db), "bad.jsonl:6"), "message: %s", lctx_errmsg(db));
    cr_assert_eq(n, 5);
    cr_assert_eq(c.n, 2);
    cr_assert_eq(c.seq[0], 1);
    cr_assert_eq(c.seq[1], 2);
    /* a5 is in the open batch, which the caller rolls back. */
    cr_assert_eq(lctx_rollback(db), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(live_docs(db), 4);
    cr_assert_eq(hits(db, "worda4"), 1);
    cr_assert_eq(hits(db, "worda5"), 0);
    cr_assert_eq(lctx_check(db), LCTX_OK, "%s", lctx_errmsg(db));
    lctx_close(db);

    /* Reopened, the two committed batches are all there is. */
    db = open_rw();
    lctx_stats st;
    cr_assert_eq(lctx_stats_get(db, &st), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(st.documents, 4);
    cr_assert_eq(st.last_seq, 2);
    lctx_close(db);
}
