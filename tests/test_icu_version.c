/*
 * test_icu_version.c — a collection records the ICU whose dictionaries
 * split its Thai, Lao, Khmer and Myanmar words, and says once per handle
 * when another ICU splits such text for it.
 *
 *   - a new collection records this lctx's ICU (lctx_stats.icu_version);
 *   - with another ICU recorded (written into the catalog as a collection
 *     copied from another machine would hold it), a search that needs ICU
 *     warns, naming both versions, and only once per handle (threads
 *     included); a search that splits no Thai does not;
 *   - so does a batch that adds Thai text, and a batch without any does not;
 *   - --rebuild-index records this lctx's ICU, and nothing is said after;
 *   - a collection made before the version was recorded says nothing;
 *   - lctx-search prints the warning on stderr, lctx-index --stats the
 *     version.
 */
#include "test_cli_harness.h"   /* first: it sets _XOPEN_SOURCE */

#include <criterion/criterion.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "indexer/indexer.h"
#include "lctx.h"
#include "test_hits.h"
#include "test_tmpdir.h"

TMPDIR_COLLECTION_SUITE(icu, "icuver");

#define THAI "ภาษาไทยง่ายนิดเดียว"

typedef struct seen {
    int n;
    char last[1024];
} seen;

static void on_warning(void *ctx, const char *message)
{
    seen *s = ctx;
    s->n++;
    snprintf(s->last, sizeof s->last, "%s", message);
}

/* A collection of one English and one Thai document. */
static void make_thai(void)
{
    lctx_db *db = create_collection(dir);
    cr_assert_eq(lctx_begin(db), LCTX_OK);
    lctx_doc en = {.id = "en", .text = "hello world"};
    lctx_doc th = {.id = "th", .text = THAI " hello"};
    cr_assert_eq(lctx_add(db, &en), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_add(db, &th), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_commit(db, NULL), LCTX_OK, "%s", lctx_errmsg(db));
    lctx_close(db);
}

/* Sets the catalog's icu_version (NULL: removes it). */
static void set_recorded(const char *value)
{
    char path[600], sql[200];
    snprintf(path, sizeof path, "%s/catalog.db", dir);
    sqlite3 *c;
    cr_assert_eq(sqlite3_open(path, &c), SQLITE_OK);
    if (value)
        snprintf(sql, sizeof sql, "UPDATE config SET value='%s' WHERE key='icu_version'", value);
    else
        snprintf(sql, sizeof sql, "DELETE FROM config WHERE key='icu_version'");
    cr_assert_eq(sqlite3_exec(c, sql, NULL, NULL, NULL), SQLITE_OK, "%s", sqlite3_errmsg(c));
    cr_assert_eq(sqlite3_changes(c), 1);
    sqlite3_close(c);
}

static lctx_db *open_watched(unsigned flags, seen *s)
{
    lctx_db *db;
    cr_assert_eq(lctx_open(dir, flags, NULL, &db), LCTX_OK, "%s", lctx_errmsg(db));
    memset(s, 0, sizeof *s);
    lctx_set_warning_handler(db, on_warning, s);
    return db;
}

static int recorded(lctx_db *db)
{
    lctx_stats st;
    cr_assert_eq(lctx_stats_get(db, &st), LCTX_OK, "%s", lctx_errmsg(db));
    return st.icu_version;
}

/* A new handle finds the collection recording `want` and searches its
 * Thai without a word of warning. */
static void expect_quiet(int want)
{
    seen s;
    lctx_db *db = open_watched(LCTX_OPEN_READONLY, &s);
    cr_assert_eq(recorded(db), want);
    cr_assert_eq(bm25_hits(db, "ภาษา", 10), 1);
    cr_assert_eq(s.n, 0, "%s", s.last);
    lctx_close(db);
}

Test(icu, new_collection_records_this_icu)
{
    make_thai();
    cr_assert_gt(tok_icu_version(), 0);
    expect_quiet(tok_icu_version());
}

Test(icu, search_with_another_icu_warns_once)
{
    make_thai();
    set_recorded("60");
    seen s;
    lctx_db *db = open_watched(LCTX_OPEN_READONLY, &s);
    cr_assert_eq(recorded(db), 60);
    /* "world" finds only the English document: no Thai split */
    cr_assert_eq(bm25_hits(db, "world", 10), 1);
    cr_assert_eq(s.n, 0, "%s", s.last);
    cr_assert_eq(bm25_hits(db, "ภาษา", 10), 1);
    cr_assert_eq(s.n, 1);
    char want[64];
    snprintf(want, sizeof want, "by ICU 60, this lctx uses ICU %d", tok_icu_version());
    cr_assert(strstr(s.last, want) && strstr(s.last, "--rebuild-index") &&
              strstr(s.last, dir), "%s", s.last);
    cr_assert_eq(bm25_hits(db, "ไทย", 10), 1);
    cr_assert_eq(s.n, 1, "once per handle");
    lctx_close(db);
}

static void *search_thai(void *arg)
{
    lctx_db *db = arg;
    for (int i = 0; i < 5; i++) {
        lctx_results *r = NULL;
        if (lctx_search(db, "ภาษา", NULL, &r) != LCTX_OK || lctx_results_count(r) != 1) {
            lctx_results_free(r);
            return (void *)1;
        }
        lctx_results_free(r);
    }
    return NULL;
}

/* Four threads searching one handle, no handler yet: one warning waits
 * for it, not four (nor a torn list). */
Test(icu, threads_warn_once)
{
    make_thai();
    set_recorded("60");
    lctx_db *db;
    cr_assert_eq(lctx_open(dir, LCTX_OPEN_READONLY, NULL, &db), LCTX_OK, "%s", lctx_errmsg(db));
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        cr_assert_eq(pthread_create(&th[i], NULL, search_thai, db), 0);
    for (int i = 0; i < 4; i++) {
        void *failed;
        cr_assert_eq(pthread_join(th[i], &failed), 0);
        cr_assert_null(failed, "a search failed");
    }
    seen s = {0};
    lctx_set_warning_handler(db, on_warning, &s);
    cr_assert_eq(s.n, 1);
    cr_assert(strstr(s.last, "by ICU 60"), "%s", s.last);
    lctx_close(db);
}

Test(icu, batch_with_another_icu_warns)
{
    make_thai();
    set_recorded("60");
    seen s;
    lctx_db *db = open_watched(0, &s);
    cr_assert_eq(lctx_begin(db), LCTX_OK);
    lctx_doc en = {.id = "en2", .text = "more english words"};
    cr_assert_eq(lctx_add(db, &en), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_commit(db, NULL), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(s.n, 0, "no Thai in the batch: %s", s.last);
    cr_assert_eq(lctx_begin(db), LCTX_OK);
    lctx_doc th = {.id = "th2", .text = "ภาษาไทย"};
    cr_assert_eq(lctx_add(db, &th), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_commit(db, NULL), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(s.n, 1);
    cr_assert(strstr(s.last, "by ICU 60"), "%s", s.last);
    cr_assert_eq(recorded(db), 60, "a batch does not change what the collection holds");
    lctx_close(db);
}

Test(icu, rebuild_records_this_icu)
{
    make_thai();
    set_recorded("60");
    seen s;
    lctx_db *db = open_watched(LCTX_OPEN_REBUILD_INDEX, &s);
    cr_assert_eq(s.n, 0, "a rebuild splits with this ICU: %s", s.last);
    lctx_close(db);
    expect_quiet(tok_icu_version());
}

Test(icu, unrecorded_says_nothing)
{
    make_thai();
    set_recorded(NULL);
    expect_quiet(0);
}

Test(icu, the_programs_show_it)
{
    make_thai();
    set_recorded("60");
    cmd_result r = run(NULL, "lctx-search", "-c", dir, "ภาษา", NULL);
    expect_status(r, 0);
    expect_contains(r.out, "th");
    expect_contains(r.err, "lctx-search: warning: ");
    expect_contains(r.err, "split by ICU 60");
    result_free(&r);
    r = run(NULL, "lctx-index", "-c", dir, "--stats", NULL);
    expect_status(r, 0);
    cr_assert_eq(stat_value(r.out, "icu_version"), 60, "%s", r.out);
    result_free(&r);
    cleanup_tmpdir();
}
