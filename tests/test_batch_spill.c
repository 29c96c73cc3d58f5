/*
 * test_batch_spill.c — a batch whose postings outgrow its memory
 * (lctx_set_batch_memory) writes them to temporary runs and reads them
 * back at the commit (indexer/spill.c); the index it writes must be the
 * one the same batches write in memory, byte for byte.
 *
 * LMDB's data file is the reference: apply writes the same keys in the
 * same order when it gets the same terms and postings, and LMDB zeroes
 * the pages it allocates, so two indexes built from equal batches are
 * equal files, and any posting lost, doubled, reordered or miscounted in
 * a run shows up as a difference. Searches are compared as well, for a
 * failure to read as something a user would see.
 *
 * The corpus exercises what a run must carry: terms in every run and in
 * one, postings from the calling thread's lane interleaved with the
 * worker's (store_test_caller_every), counts past 16 bits (store_wide),
 * titles, documents replaced and deleted within the batch and across
 * batches, and a second batch appended to an index that has terms with
 * inline and with full blocks.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lctx.h"
#include "store/store.h"
#include "test_tmpdir.h"

TMPDIR_COLLECTION_SUITE(spill, "spill");

#define DOCS 400

/* A document of 20..99 words from a skewed vocabulary of 3,000 (word k
 * appears about 1/k as often), so some terms are in every run and most in
 * a few; deterministic in (i, salt). */
static char *doc_text(int i, int salt)
{
    unsigned x = (unsigned)(i * 2654435761u) ^ (unsigned)salt * 40503u;
    size_t cap = 4096, n = 0;
    char *t = malloc(cap);
    cr_assert_not_null(t);
    int words = 20 + (int)(x % 80);
    for (int w = 0; w < words; w++) {
        x = x * 1103515245u + 12345u;
        unsigned r = (x >> 8) % 3000 + 1;
        unsigned k = 3000 / r;   /* small k often */
        n += (size_t)snprintf(t + n, cap - n, "%sw%u", w ? " " : "", k);
    }
    return t;
}

static void add(lctx_db *db, const char *id, const char *title, const char *text)
{
    lctx_doc d = {.id = id, .title = title, .text = text};
    cr_assert_eq(lctx_add(db, &d), LCTX_OK, "%s: %s", id, lctx_errmsg(db));
}

static void add_generated(lctx_db *db, int i, int salt)
{
    char id[32], title[64];
    snprintf(id, sizeof id, "d%d", i);
    snprintf(title, sizeof title, "title w%d w%d", i % 7, i % 50);
    char *t = doc_text(i, salt);
    add(db, id, i % 3 ? title : NULL, t);
    free(t);
}

/* "apple" 70,000 times: a count past STORE_TF_WIDE, whose exact value the
 * batch keeps beside the posting. */
static char *wide_text(void)
{
    size_t n = 70000;
    char *t = malloc(n * 6 + 1);
    cr_assert_not_null(t);
    for (size_t i = 0; i < n; i++)
        memcpy(t + i * 6, "apple ", 6);
    t[n * 6] = 0;
    return t;
}

/* Two batches into path with the given batch memory and calling-thread
 * share; returns the runs the handle spilled. With crash, the second
 * batch stops after the catalog's commit and is replayed by the next
 * lctx_begin on the same handle, under the same batch memory. */
static unsigned long build(const char *path, size_t memory, unsigned caller_every, int crash)
{
    lctx_db *db;
    cr_assert_eq(lctx_open(path, LCTX_OPEN_CREATE, NULL, &db), LCTX_OK, "%s", lctx_errmsg(db));
    lctx_set_batch_memory(db, memory);
    store_test_caller_every(db, caller_every);
    cr_assert_eq(lctx_begin(db), LCTX_OK, "%s", lctx_errmsg(db));
    for (int i = 0; i < DOCS; i++) {
        add_generated(db, i, 1);
        if (i == DOCS / 2) {
            char *w = wide_text();
            add(db, "wide", "apple pie", w);
            free(w);
            add_generated(db, 17, 2);   /* replaced within the batch */
        }
    }
    cr_assert_eq(lctx_commit(db, NULL), LCTX_OK, "%s", lctx_errmsg(db));
    store_test_stop_after_sqlite(db, crash);
    cr_assert_eq(lctx_begin(db), LCTX_OK, "%s", lctx_errmsg(db));
    for (int i = DOCS; i < DOCS + DOCS / 2; i++)
        add_generated(db, i, 3);
    for (int i = 0; i < 40; i++)
        add_generated(db, i * 5, 4);    /* replaced from the first batch */
    cr_assert_eq(lctx_delete(db, "d3"), LCTX_OK);
    cr_assert_eq(lctx_delete(db, "wide"), LCTX_OK);
    cr_assert_eq(lctx_commit(db, NULL), LCTX_OK, "%s", lctx_errmsg(db));
    if (crash) {
        store_test_stop_after_sqlite(db, 0);
        cr_assert_eq(lctx_begin(db), LCTX_OK, "%s", lctx_errmsg(db));   /* replays batch 2 */
        cr_assert_eq(lctx_rollback(db), LCTX_OK);
    }
    cr_assert_eq(lctx_check(db), LCTX_OK, "%s", lctx_errmsg(db));
    unsigned long spills = db->n_spills;
    cr_assert_eq(lctx_close(db), LCTX_OK);
    return spills;
}

static char *slurp(const char *file, size_t *len)
{
    FILE *f = fopen(file, "rb");
    cr_assert_not_null(f, "%s", file);
    struct stat st;
    cr_assert_eq(fstat(fileno(f), &st), 0);
    char *b = malloc((size_t)st.st_size + 1);
    cr_assert_not_null(b);
    cr_assert_eq(fread(b, 1, (size_t)st.st_size, f), (size_t)st.st_size);
    fclose(f);
    *len = (size_t)st.st_size;
    return b;
}

static void assert_same_index(const char *a, const char *b)
{
    char fa[600], fb[600];
    snprintf(fa, sizeof fa, "%s/index/data.mdb", a);
    snprintf(fb, sizeof fb, "%s/index/data.mdb", b);
    size_t la, lb;
    char *x = slurp(fa, &la), *y = slurp(fb, &lb);
    cr_assert_eq(la, lb, "%s: %zu bytes, %s: %zu", fa, la, fb, lb);
    size_t at = 0;
    while (at < la && x[at] == y[at])
        at++;
    cr_assert_eq(at, la, "%s and %s differ at byte %zu", fa, fb, at);
    free(x);
    free(y);
}

static void assert_same_answers(const char *a, const char *b)
{
    static const char *qs[] = {"w1", "w3000 w1500", "title w3", "apple", "\"w2 w1\"",
                               "w7 -w1", "w999"};
    lctx_db *da, *db;
    cr_assert_eq(lctx_open(a, LCTX_OPEN_READONLY, NULL, &da), LCTX_OK);
    lctx_search_opts o;
    lctx_search_opts_init(&o);
    o.k = 50;
    for (size_t q = 0; q < sizeof qs / sizeof *qs; q++) {
        lctx_results *ra, *rb;
        cr_assert_eq(lctx_search(da, qs[q], &o, &ra), LCTX_OK, "%s", lctx_errmsg(da));
        /* one handle per collection per process: b's after a's */
        cr_assert_eq(lctx_open(b, LCTX_OPEN_READONLY, NULL, &db), LCTX_OK);
        cr_assert_eq(lctx_search(db, qs[q], &o, &rb), LCTX_OK, "%s", lctx_errmsg(db));
        size_t n = lctx_results_count(ra);
        cr_assert_eq(n, lctx_results_count(rb), "%s", qs[q]);
        for (size_t j = 0; j < n; j++) {
            cr_assert_str_eq(lctx_results_get(ra, j)->id, lctx_results_get(rb, j)->id);
            cr_assert(lctx_results_get(ra, j)->score == lctx_results_get(rb, j)->score);
        }
        lctx_results_free(ra);
        lctx_results_free(rb);
        lctx_close(db);
    }
    lctx_close(da);
}

static void path_of(char *buf, size_t len, const char *tag)
{
    snprintf(buf, len, "%s.%s", dir, tag);
}

Test(spill, runs_write_the_index_memory_would)
{
    char ref[600], each[600], some[600];
    path_of(ref, sizeof ref, "ref");
    path_of(each, sizeof each, "each");
    path_of(some, sizeof some, "some");
    cr_assert_eq(build(ref, 0, 0, 0), 0, "batch memory 0 never spills");
    /* A byte: every document's terms become a run of their own, on both
     * lanes. 160 KiB: runs of tens of documents, terms in several. */
    unsigned long n_each = build(each, 1, 3, 0), n_some = build(some, 160 << 10, 0, 0);
    cr_log_info("runs: %lu with 1 byte, %lu with 160 KiB", n_each, n_some);
    cr_assert_gt(n_each, DOCS, "every document spilled");
    cr_assert_gt(n_some, 2);
    cr_assert_lt(n_some, n_each);
    assert_same_index(ref, each);
    assert_same_index(ref, some);
    assert_same_answers(ref, each);
}

Test(spill, a_replayed_batch_spills_the_same_way)
{
    char ref[600], crash[600];
    path_of(ref, sizeof ref, "ref");
    path_of(crash, sizeof crash, "crash");
    build(ref, 0, 0, 0);
    unsigned long runs = build(crash, 4096, 2, 1);
    cr_assert_gt(runs, DOCS / 4);
    assert_same_index(ref, crash);
}

Test(spill, the_default_keeps_a_small_batch_in_memory)
{
    lctx_db *db;
    cr_assert_eq(lctx_open(dir, LCTX_OPEN_CREATE, NULL, &db), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(db->batch_memory, LCTX_BATCH_MEMORY);
    cr_assert_eq(lctx_begin(db), LCTX_OK);
    for (int i = 0; i < 50; i++)
        add_generated(db, i, 1);
    cr_assert_eq(lctx_commit(db, NULL), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(db->n_spills, 0);
    lctx_close(db);
}

/* A spill that fails leaves the collection as it was. The runs written at
 * the commit come before the catalog's COMMIT (the commit point): their
 * failure is a plain rollback, never a committed batch to undo, which a
 * full disk can make impossible (then the batch would wait for replay). */
static void failed_spill(int where)
{
    lctx_db *db;
    cr_assert_eq(lctx_open(dir, LCTX_OPEN_CREATE, NULL, &db), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_begin(db), LCTX_OK);
    for (int i = 0; i < 20; i++)
        add_generated(db, i, 1);
    cr_assert_eq(lctx_commit(db, NULL), LCTX_OK, "%s", lctx_errmsg(db));
    lctx_set_batch_memory(db, 1);
    db->test_fail_spill = (unsigned)where;
    cr_assert_eq(lctx_begin(db), LCTX_OK);
    int rc = LCTX_OK;
    for (int i = 20; i < 120 && rc == LCTX_OK; i++) {
        char id[32];
        snprintf(id, sizeof id, "d%d", i);
        char *t = doc_text(i, 1);
        lctx_doc d = {.id = id, .text = t};
        rc = lctx_add(db, &d);
        free(t);
    }
    if (rc == LCTX_OK)
        rc = lctx_commit(db, NULL);
    else
        lctx_rollback(db);
    cr_assert_eq(rc, LCTX_EIO, "status %d: %s", rc, lctx_errmsg(db));
    const char *msg = lctx_errmsg(db);
    cr_assert_not_null(strstr(msg, "temporary file"), "%s", msg);
    cr_assert_null(strstr(msg, "rolled back"), "undone after the commit point: %s", msg);
    cr_assert_null(strstr(msg, "replayed"), "%s", msg);
    db->test_fail_spill = 0;
    lctx_stats st;
    cr_assert_eq(lctx_stats_get(db, &st), LCTX_OK);
    cr_assert_eq(st.documents, 20);
    cr_assert_eq(st.last_seq, 1);
    cr_assert_eq(lctx_check(db), LCTX_OK, "%s", lctx_errmsg(db));
    if (where == 1)
        cr_assert_eq(db->n_spills, 0, "no run was written");
    else
        cr_assert_gt(db->n_spills, 50, "the batch had spilled before its commit");
    lctx_close(db);
}

Test(spill, a_failed_spill_in_the_batch_changes_nothing)
{
    failed_spill(1);
}

Test(spill, the_last_runs_are_written_before_the_commit_point)
{
    failed_spill(2);
}

/* An error of the environment while ingesting (here the temporary file)
 * names the input line as the place it happened, after the reason; only
 * a fault of the document itself starts with FILE:LINE, the form that
 * sends a user to that line. */
Test(spill, an_ingest_error_blames_the_line_only_for_the_document)
{
    char file[600];
    snprintf(file, sizeof file, "%s.jsonl", dir);
    FILE *f = fopen(file, "w");
    cr_assert_not_null(f);
    fputs("{\"_id\":\"a\",\"text\":\"alpha beta\"}\n{\"_id\":\"b\",\"text\":\"gamma\"}\n", f);
    fclose(f);
    lctx_db *db;
    cr_assert_eq(lctx_open(dir, LCTX_OPEN_CREATE, NULL, &db), LCTX_OK, "%s", lctx_errmsg(db));
    lctx_set_batch_memory(db, 1);
    db->test_fail_spill = 1;
    store_test_caller_every(db, 1);   /* the spill fails in lctx_ingest's own call */
    cr_assert_eq(lctx_begin(db), LCTX_OK);
    cr_assert_eq(lctx_ingest(db, file, NULL, NULL), LCTX_EIO, "%s", lctx_errmsg(db));
    char where[700];
    snprintf(where, sizeof where, "(at %s:1)", file);
    const char *msg = lctx_errmsg(db);
    cr_assert_not_null(strstr(msg, where), "%s", msg);
    cr_assert_neq(strncmp(msg, file, strlen(file)), 0, "starts with the file: %s", msg);
    lctx_rollback(db);
    db->test_fail_spill = 0;
    /* a document at fault: FILE:LINE first */
    f = fopen(file, "w");
    cr_assert_not_null(f);
    fputs("{\"_id\":\"a\",\"text\":\"alpha\"}\n{\"_id\":\"b\",\"title\":\"bad \xff byte\"}\n", f);
    fclose(f);
    cr_assert_eq(lctx_begin(db), LCTX_OK);
    int rc = lctx_ingest(db, file, NULL, NULL);
    cr_assert_eq(rc, LCTX_EINVAL, "status %d: %s", rc, lctx_errmsg(db));
    snprintf(where, sizeof where, "%s:2: ", file);
    cr_assert_eq(strncmp(lctx_errmsg(db), where, strlen(where)), 0, "%s", lctx_errmsg(db));
    lctx_rollback(db);
    lctx_close(db);
}

/* Where the file system has no unnamed files, a spill file has a name
 * for a moment; one a crash left behind goes at the next batch. */
Test(spill, a_stray_spill_file_goes_at_the_next_batch)
{
    lctx_db *db;
    cr_assert_eq(lctx_open(dir, LCTX_OPEN_CREATE, NULL, &db), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_begin(db), LCTX_OK);
    add_generated(db, 1, 1);
    cr_assert_eq(lctx_commit(db, NULL), LCTX_OK, "%s", lctx_errmsg(db));
    char stray[700], other[700];
    snprintf(stray, sizeof stray, "%s/spill-AbC123", dir);
    snprintf(other, sizeof other, "%s/spill-notes.txt", dir);
    FILE *f = fopen(stray, "w");
    cr_assert_not_null(f);
    fputs("half a run", f);
    fclose(f);
    cr_assert_not_null(f = fopen(other, "w"));
    fclose(f);
    cr_assert_eq(lctx_begin(db), LCTX_OK);
    cr_assert_eq(access(stray, F_OK), -1, "the stray is gone");
    cr_assert_eq(access(other, F_OK), 0, "a file of another name stays");
    cr_assert_eq(lctx_rollback(db), LCTX_OK);
    lctx_close(db);
}

/* A batch of many distinct terms (CJK text, ids) spills in runs of many
 * documents: what a builder keeps after a run (its hash table and term
 * array, sized for that run, count against the batch memory) must not
 * leave it over its share, which would write a run per document. 1,000
 * documents of 40 words never seen before, 1 MiB of batch memory. */
Test(spill, many_distinct_terms_spill_in_runs_of_many_documents)
{
    lctx_db *db;
    cr_assert_eq(lctx_open(dir, LCTX_OPEN_CREATE, NULL, &db), LCTX_OK, "%s", lctx_errmsg(db));
    lctx_set_batch_memory(db, 1 << 20);
    cr_assert_eq(lctx_begin(db), LCTX_OK);
    unsigned x = 12345;
    for (int i = 0; i < 1000; i++) {
        char id[32], text[1024];
        size_t n = 0;
        for (int w = 0; w < 40; w++) {
            x = x * 1103515245u + 12345u;
            n += (size_t)snprintf(text + n, sizeof text - n, "%sq%08x", w ? " " : "", x);
        }
        snprintf(id, sizeof id, "u%d", i);
        lctx_doc d = {.id = id, .text = text};
        cr_assert_eq(lctx_add(db, &d), LCTX_OK, "%s", lctx_errmsg(db));
    }
    cr_assert_eq(lctx_commit(db, NULL), LCTX_OK, "%s", lctx_errmsg(db));
    cr_log_info("40,000 distinct terms at 1 MiB: %lu runs", db->n_spills);
    cr_assert_gt(db->n_spills, 2, "the batch spilled");
    cr_assert_lt(db->n_spills, 100, "%lu runs: documents spilled one by one", db->n_spills);
    cr_assert_eq(lctx_check(db), LCTX_OK, "%s", lctx_errmsg(db));
    lctx_close(db);
}
