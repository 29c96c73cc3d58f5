/*
 * test_readonly_media.c — searching a collection the process may not
 * write (store/readonly.c): a read-only mount, or another user's files.
 *
 * Each test makes its collection, takes the write permission away
 * (chmod -R a-w) and reads it from a child process. When the tests run as
 * root, which permissions do not stop, the child becomes the user nobody
 * first, so the test means the same as root and as anyone else:
 *
 *   - the child's read-only handle answers exactly what a handle that can
 *     write the folder answers, and leaves no file behind; a read-write
 *     open says why it cannot write;
 *   - while the child has the collection open, writers get LCTX_EBUSY, and
 *     get in once it has closed;
 *   - while a writer is at work the child's open gets LCTX_EBUSY, and once
 *     the batch has committed the child reads it;
 *   - a catalog whose write-ahead log holds batches but has no -shm beside
 *     it is refused with what to do, not read without those batches;
 *   - `lctx-index --check` checks such a collection as it stands, and
 *     reports a batch that awaits recovery instead of passing it.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lctx.h"
#include "store/store.h"
#include "test_tmpdir.h"

static char dir[256];   /* the collection, DIR/c.lctx */
static char top[256];   /* DIR */

static void sh(const char *fmt, const char *a, const char *b)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, fmt, a, b);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
}

static void setup(void)
{
    tmpdir_collection(dir, sizeof dir, "romedia");
    snprintf(top, sizeof top, "%.*s", (int)(strrchr(dir, '/') - dir), dir);
    cr_assert_eq(chmod(top, 0755), 0);   /* nobody may pass through */
}

static void teardown(void)
{
    sh("chmod -R u+w '%s'%s", top, "");
    tmpdir_remove(top);
}

TestSuite(romedia, .init = setup, .fini = teardown);

static void lock_down(const char *coll) { sh("chmod -R a-w '%s'%s", coll, ""); }
static void unlock(const char *coll) { sh("chmod -R u+w '%s'%s", coll, ""); }

static void add_batch(lctx_db *db, const char *id, const char *text)
{
    lctx_doc d = {.id = id, .title = "", .text = text};
    cr_assert_eq(lctx_begin(db), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_add(db, &d), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_commit(db, NULL), LCTX_OK, "%s", lctx_errmsg(db));
}

/* Two batches, so that the catalog is in WAL mode, and one deletion. */
static void build(const char *coll)
{
    lctx_db *db;
    cr_assert_eq(lctx_open(coll, LCTX_OPEN_CREATE, NULL, &db), LCTX_OK, "%s", lctx_errmsg(db));
    add_batch(db, "a", "zebras cross the river at dawn");
    add_batch(db, "b", "a zebra and a lion share the river bank");
    add_batch(db, "c", "lions sleep most of the day");
    cr_assert_eq(lctx_begin(db), LCTX_OK);
    cr_assert_eq(lctx_delete(db, "c"), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_commit(db, NULL), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_close(db), LCTX_OK);
}

/* What a search and a text read answer, as one line ("ERR n: message" when
 * the open fails). */
static void answer(const char *coll, char *out, size_t cap)
{
    lctx_db *db;
    int rc = lctx_open(coll, LCTX_OPEN_READONLY, NULL, &db);
    if (rc) {
        snprintf(out, cap, "ERR %d: %s", rc, lctx_errmsg(db));
        lctx_close(db);
        return;
    }
    lctx_results *r;
    size_t n = 0;
    n += (size_t)snprintf(out, cap, "search:");
    if (lctx_search(db, "zebra river lion", NULL, &r) == LCTX_OK) {
        for (size_t i = 0; i < lctx_results_count(r) && n < cap; i++) {
            const lctx_hit *h = lctx_results_get(r, i);
            n += (size_t)snprintf(out + n, cap - n, " %s=%.9g", h->id, h->score);
        }
        lctx_results_free(r);
    } else {
        n += (size_t)snprintf(out + n, cap - n, " failed: %s", lctx_errmsg(db));
    }
    char *text = NULL;
    size_t len = 0;
    if (n < cap && lctx_get_text(db, "b", &text, &len) == LCTX_OK)
        snprintf(out + n, cap - n, "; b: %.*s", (int)len, text);
    else if (n < cap)
        snprintf(out + n, cap - n, "; b failed: %s", lctx_errmsg(db));
    free(text);
    lctx_close(db);
}

/* In a child: become nobody when root (permissions stop nobody). */
static void drop_privileges(void)
{
    if (geteuid() != 0)
        return;
    if (setgroups(0, NULL) || setgid(65534) || setuid(65534))
        _exit(99);
}

/* In a child that cannot write coll: the shell command cmd, or answer()
 * when cmd is NULL. Its standard output into out; its exit status. */
static int run_as_reader(const char *coll, const char *cmd, char *out, size_t cap)
{
    int fd[2];
    cr_assert_eq(pipe(fd), 0);
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        close(fd[0]);
        drop_privileges();
        dup2(fd[1], STDOUT_FILENO);
        if (cmd) {
            execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
            _exit(127);
        }
        char buf[2048];
        answer(coll, buf, sizeof buf);
        ssize_t w = write(STDOUT_FILENO, buf, strlen(buf));
        _exit(w == (ssize_t)strlen(buf) ? 0 : 98);
    }
    close(fd[1]);
    size_t n = 0;
    ssize_t got;
    while (n + 1 < cap && (got = read(fd[0], out + n, cap - 1 - n)) > 0)
        n += (size_t)got;
    out[n] = 0;
    close(fd[0]);
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st), "reader child: status %d", st);
    return WEXITSTATUS(st);
}

/* answer() from a child that cannot write coll. */
static void answer_as_reader(const char *coll, char *out, size_t cap)
{
    cr_assert_eq(run_as_reader(coll, NULL, out, cap), 0, "reader child failed");
}

/* The names in folder, sorted, as one line. */
static void listing(const char *folder, char *out, size_t cap)
{
    struct dirent **names;
    int n = scandir(folder, &names, NULL, alphasort);
    cr_assert_geq(n, 0, "%s", folder);
    size_t len = 0;
    out[0] = 0;
    for (int i = 0; i < n; i++) {
        if (len < cap)
            len += (size_t)snprintf(out + len, cap - len, "%s ", names[i]->d_name);
        free(names[i]);
    }
    free(names);
}

Test(romedia, answers_what_a_writable_handle_answers_and_leaves_nothing)
{
    build(dir);
    char want[2048], got[2048], before[512], after[512];
    answer(dir, want, sizeof want);
    cr_assert(strstr(want, "search: b=") && strstr(want, " a=") && !strstr(want, " c="),
              "%s", want);
    cr_assert(strstr(want, "; b: a zebra and a lion"), "%s", want);
    lock_down(dir);
    listing(dir, before, sizeof before);
    answer_as_reader(dir, got, sizeof got);
    cr_assert_str_eq(got, want);
    listing(dir, after, sizeof after);
    cr_assert_str_eq(after, before, "the reader left files behind");
}

/* A read-write open by the child: it says why it cannot go on. */
Test(romedia, a_read_write_open_says_it_cannot_write)
{
    build(dir);
    lock_down(dir);
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        drop_privileges();
        lctx_db *db;
        int rc = lctx_open(dir, 0, NULL, &db);
        int ok = rc == LCTX_EIO && strstr(lctx_errmsg(db), "cannot write the collection") &&
                 strstr(lctx_errmsg(db), "read-only open");
        lctx_close(db);
        _exit(ok ? 0 : 1);
    }
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %d", st);
}

Test(romedia, keeps_writers_out_until_it_closes)
{
    build(dir);
    lock_down(dir);
    int opened[2], go[2];
    cr_assert_eq(pipe(opened), 0);
    cr_assert_eq(pipe(go), 0);
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        close(opened[0]);
        close(go[1]);
        drop_privileges();
        lctx_db *db;
        char rc = (char)lctx_open(dir, LCTX_OPEN_READONLY, NULL, &db);
        if (write(opened[1], &rc, 1) != 1)
            _exit(97);
        char c;
        if (read(go[0], &c, 1) != 1)
            _exit(96);
        lctx_close(db);
        _exit(0);
    }
    close(opened[1]);
    close(go[0]);
    char rc = 99;
    cr_assert_eq(read(opened[0], &rc, 1), 1);
    cr_assert_eq(rc, LCTX_OK, "the reader could not open");
    unlock(dir);
    lctx_db *w;
    cr_assert_eq(lctx_open(dir, 0, NULL, &w), LCTX_OK, "%s", lctx_errmsg(w));
    cr_assert_eq(lctx_begin(w), LCTX_EBUSY, "a writer got in beside a frozen reader");
    cr_assert(strstr(lctx_errmsg(w), "a reader that may not write it"), "%s",
              lctx_errmsg(w));
    cr_assert_eq(write(go[1], "x", 1), 1);
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %d", st);
    add_batch(w, "d", "zebra foals");
    cr_assert_eq(lctx_close(w), LCTX_OK);
}

Test(romedia, waits_for_a_writer_at_work)
{
    build(dir);
    lctx_db *w;
    cr_assert_eq(lctx_open(dir, 0, NULL, &w), LCTX_OK, "%s", lctx_errmsg(w));
    cr_assert_eq(lctx_begin(w), LCTX_OK, "%s", lctx_errmsg(w));
    lctx_doc d = {.id = "d", .text = "zebra river lion cubs"};
    cr_assert_eq(lctx_add(w, &d), LCTX_OK, "%s", lctx_errmsg(w));
    lock_down(dir);
    char got[2048];
    answer_as_reader(dir, got, sizeof got);
    cr_assert(strstr(got, "ERR 8: ") && strstr(got, "a writer is at work"), "%s", got);
    unlock(dir);
    cr_assert_eq(lctx_commit(w, NULL), LCTX_OK, "%s", lctx_errmsg(w));
    cr_assert_eq(lctx_close(w), LCTX_OK);
    lock_down(dir);
    answer_as_reader(dir, got, sizeof got);
    cr_assert(strstr(got, "search: d="), "the committed batch is missing: %s", got);
}

/* A copy taken while a writer had the catalog open: its log holds the
 * last batches, and no -shm came with it. */
Test(romedia, a_log_without_its_shm_is_refused)
{
    build(dir);
    char copy[300];
    snprintf(copy, sizeof copy, "%s/copy.lctx", top);
    lctx_db *w;
    cr_assert_eq(lctx_open(dir, 0, NULL, &w), LCTX_OK, "%s", lctx_errmsg(w));
    add_batch(w, "d", "zebra foals by the river");
    sh("cp -r '%s' '%s'", dir, copy);
    cr_assert_eq(lctx_close(w), LCTX_OK);
    char shm[400], wal[400];
    snprintf(shm, sizeof shm, "%s/catalog.db-shm", copy);
    snprintf(wal, sizeof wal, "%s/catalog.db-wal", copy);
    struct stat sb;
    cr_assert_eq(stat(wal, &sb), 0, "the copy has no write-ahead log");
    cr_assert_gt(sb.st_size, 0);
    cr_assert_eq(unlink(shm), 0);
    lock_down(copy);
    char got[2048];
    answer_as_reader(copy, got, sizeof got);
    cr_assert(strstr(got, "ERR ") && strstr(got, "write-ahead log"), "%s", got);
    /* The log did hold the last batch: a handle that may write reads it. */
    unlock(copy);
    answer(copy, got, sizeof got);
    cr_assert(strstr(got, "search: d=") || strstr(got, " d="), "%s", got);
}

/* The exit status and output of `lctx-index -c coll --check`, run by a
 * child that cannot write coll. */
static int check_as_reader(const char *coll, char *out, size_t cap)
{
    const char *build = getenv("LCTX_BUILD");
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "%s/san/lctx-index -c '%s' --check 2>&1", build ? build : "build",
             coll);
    return run_as_reader(coll, cmd, out, cap);
}

Test(romedia, the_check_command_checks_it_as_it_stands)
{
    build(dir);
    lock_down(dir);
    char out[2048];
    cr_assert_eq(check_as_reader(dir, out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "check passed"), "%s", out);

    /* A batch the catalog committed and the index lacks, as a crash
     * between the two stores leaves it: not passed, and said why. */
    unlock(dir);
    lctx_db *w;
    cr_assert_eq(lctx_open(dir, 0, NULL, &w), LCTX_OK, "%s", lctx_errmsg(w));
    store_test_stop_after_sqlite(w, 1);
    add_batch(w, "d", "zebra foals");
    lctx_close(w);
    lock_down(dir);
    cr_assert_eq(check_as_reader(dir, out, sizeof out), 1, "%s", out);
    cr_assert(strstr(out, "awaiting recovery"), "%s", out);
}
