/*
 * test_cli_index.c — lctx-index end to end, through the sanitized binary.
 *
 * What a user relies on: documents go in from JSONL, stdin and plain text
 * directories (every file of one with --format text, binary ones skipped);
 * a bad input line is named (FILE:LINE) and leaves the collection
 * untouched; --skip-bad skips it; deletes and upserts take effect; --batch-docs commits in steps; a full disk fails the batch with
 * one error and leaves the collection as it was; exit status 0/1/2 means
 * success, failure, bad usage; --rebuild-index brings back a collection an
 * older format wrote. Each test works in its own temporary directory.
 */
#include "test_cli_harness.h"

#include <sqlite3.h>
#include <sys/resource.h>

TestSuite(cli_index, .fini = cleanup_tmpdir, .timeout = 60);

Test(cli_index, indexes_jsonl_and_reports_stats)
{
    const char *corpus = tpath("corpus.jsonl");
    const char *coll = tpath("c.lctx");
    write_file(corpus, CORPUS);
    cmd_result r = run(NULL, "lctx-index", "-c", coll, corpus, NULL);
    expect_status(r, 0);
    expect_contains(r.err, "committed batch");
    expect_contains(r.err, "indexed 5 documents");
    result_free(&r);

    r = run(NULL, "lctx-index", "-c", coll, "--stats", NULL);
    expect_status(r, 0);
    cr_assert_eq(stat_value(r.out, "documents"), 5, "stats:\n%s", r.out);
    cr_assert_gt(stat_value(r.out, "terms"), 10);
    cr_assert_gt(stat_value(r.out, "last_seq"), 0);
    result_free(&r);

    r = run(NULL, "lctx-index", "-c", coll, "--stats", "--json", NULL);
    expect_status(r, 0);
    cJSON *o = cJSON_Parse(r.out);
    cr_assert_not_null(o, "not JSON: %s", r.out);
    cr_assert_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(o, "documents")), 5.0);
    cr_assert_not_null(cJSON_GetStringValue(cJSON_GetObjectItem(o, "language")));
    cJSON_Delete(o);
    result_free(&r);

    r = run(NULL, "lctx-index", "-c", coll, "--check", "--compact", NULL);
    expect_status(r, 0);
    result_free(&r);
    cr_assert_eq(documents(coll), 5);
}

Test(cli_index, bad_usage_exits_2)
{
    const char *coll = tpath("c.lctx");
    const char *const cases[][4] = {
        { "--stats", NULL },                               /* no -c */
        { "-c", coll, "--bogus", NULL },                   /* unknown option */
        { "-c", coll, NULL },                              /* nothing to do */
        { "-c", coll, "--format", "xml" },                 /* bad format */
        { "-c", coll, "--delete", NULL },                  /* delete what? */
        { "-c", coll, "--batch-docs", "0" },               /* bad number */
        { "-c", "", "--stats" },                           /* empty collection path */
    };
    expect_usage_errors("lctx-index", cases, sizeof cases / sizeof cases[0]);
    struct stat st;
    cr_assert_neq(stat(coll, &st), 0, "bad usage must not create the collection");
    cmd_result u = run(NULL, "lctx-index", "-c", coll, "--format", "text", "-", NULL);
    expect_status(u, 2);
    expect_contains(u.err, "read as JSONL only");
    result_free(&u);

    cmd_result r = run(NULL, "lctx-index", "--help", NULL);
    expect_status(r, 0);
    expect_contains(r.out, "usage: lctx-index");
    result_free(&r);
    r = run(NULL, "lctx-index", "--version", NULL);
    expect_status(r, 0);
    expect_contains(r.out, "lctx-index ");
    result_free(&r);

    /* A missing input is refused before the collection is created. */
    r = run(NULL, "lctx-index", "-c", coll, tpath("typo.jsonl"), NULL);
    expect_status(r, 1);
    expect_contains(r.err, "typo.jsonl");
    result_free(&r);
    cr_assert_neq(stat(coll, &st), 0, "a missing input must not create the collection");
}

Test(cli_index, embedder_fixed_at_creation)
{
    const char *corpus = tpath("corpus.jsonl");
    write_file(corpus, CORPUS);
    cmd_result r = run(NULL, "lctx-index", "-c", tpath("c.lctx"), "--embedder", "use-lite",
                       "--quiet", corpus, NULL);
    expect_status(r, 0);
    result_free(&r);
    r = run(NULL, "lctx-index", "-c", tpath("c.lctx"), "--stats", NULL);
    expect_status(r, 0);
    expect_contains(r.out, "embedder: use-lite");
    expect_contains(r.out, "dim: 512");
    expect_contains(r.out, "vector_encoding: int8");
    expect_contains(r.out, "vector_search: exact");
    result_free(&r);
    /* Another embedder on the existing collection is an error naming both. */
    r = run(NULL, "lctx-index", "-c", tpath("c.lctx"), "--embedder", "none", "--quiet", corpus,
            NULL);
    expect_status(r, 1);
    expect_contains(r.err, "created with embedder use-lite, not none");
    result_free(&r);
    r = run(NULL, "lctx-index", "-c", tpath("c.lctx"), "--retune", "--target", "0.9", NULL);
    expect_status(r, 0);
    result_free(&r);
    r = run(NULL, "lctx-index", "-c", tpath("c.lctx"), "--target", "0.9", "--stats", NULL);
    expect_status(r, 2);
    expect_contains(r.err, "--target goes with --retune");
    result_free(&r);
    r = run(NULL, "lctx-index", "-c", tpath("d.lctx"), "--embedder", "word2vec", corpus, NULL);
    expect_status(r, 2);
    expect_contains(r.err, "--embedder word2vec: expected none, use-lite, bert:DIR or http:URL");
    result_free(&r);
    r = run(NULL, "lctx-index", "-c", tpath("d.lctx"), "--embedder", "none", "--quiet", corpus,
            NULL);
    expect_status(r, 0);
    result_free(&r);
}

Test(cli_index, missing_collection_exits_1)
{
    cmd_result r = run(NULL, "lctx-index", "-c", tpath("absent.lctx"), "--stats", NULL);
    expect_status(r, 1);
    expect_contains(r.err, "lctx-index: ");
    expect_contains(r.err, "absent.lctx");
    result_free(&r);
}

/* Everything of --stats except disk_bytes, which WAL checkpoints may move. */
static char *stable_stats(const char *coll)
{
    cmd_result r = run(NULL, "lctx-index", "-c", coll, "--stats", NULL);
    expect_status(r, 0);
    char *out = calloc(1, strlen(r.out) + 1);
    cr_assert_not_null(out);
    char *save = NULL;
    for (char *l = strtok_r(r.out, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        if (strncmp(l, "disk_bytes:", 11) != 0) {
            strcat(out, l);
            strcat(out, "\n");
        }
    }
    result_free(&r);
    return out;
}

/* After a failed batch: coll's stats are still `before` (freed here) and
 * query, which only the failed batch's documents answer, finds nothing. */
static void expect_unchanged(const char *coll, char *before, const char *query)
{
    char *after = stable_stats(coll);
    cr_assert_str_eq(after, before);
    char *ids = hit_ids(coll, query);
    cr_assert_str_eq(ids, "", "a document of the failed batch is searchable: %s", ids);
    free(ids);
    free(before);
    free(after);
}

static const char BAD[] =
    "{\"_id\":\"n1\",\"title\":\"Zebra\",\"text\":\"Zebras have stripes.\"}\n"
    "{\"_id\":\"n2\",\"title\":\"Broken\",\"text\": oops not json}\n"
    "{\"_id\":\"n3\",\"title\":\"Giraffe\",\"text\":\"Giraffes have long necks.\"}\n";

Test(cli_index, malformed_line_is_named_and_nothing_is_committed)
{
    const char *coll = make_collection();
    const char *bad = tpath("bad.jsonl");
    write_file(bad, BAD);
    char *before = stable_stats(coll);

    cmd_result r = run(NULL, "lctx-index", "-c", coll, bad, NULL);
    expect_status(r, 1);
    expect_contains(r.err, "lctx-index: ");
    expect_contains(r.err, "bad.jsonl:2");
    expect_contains(r.err, "nothing was committed");
    result_free(&r);

    expect_unchanged(coll, before, "zebras stripes");
}

Test(cli_index, skip_bad_skips_with_a_warning)
{
    const char *coll = make_collection();
    const char *bad = tpath("bad.jsonl");
    write_file(bad, BAD);
    cmd_result r = run(NULL, "lctx-index", "-c", coll, "--skip-bad", bad, NULL);
    expect_status(r, 0);
    expect_contains(r.err, "lctx-index: warning: ");
    result_free(&r);
    cr_assert_eq(documents(coll), 7);
    char *ids = hit_ids(coll, "giraffes");
    cr_assert_str_eq(ids, "n3");
    free(ids);
}

Test(cli_index, delete_and_missing_id)
{
    const char *coll = make_collection();
    cmd_result r = run(NULL, "lctx-index", "-c", coll, "--delete", "d2", NULL);
    expect_status(r, 0);
    result_free(&r);
    cr_assert_eq(documents(coll), 4);
    char *ids = hit_ids(coll, "sourdough");
    cr_assert_str_eq(ids, "");
    free(ids);

    /* One id missing: the whole batch is refused, d4 stays. */
    r = run(NULL, "lctx-index", "-c", coll, "--delete", "d4", "no-such-doc", NULL);
    expect_status(r, 1);
    expect_contains(r.err, "no-such-doc");
    expect_contains(r.err, "nothing was committed");
    result_free(&r);
    cr_assert_eq(documents(coll), 4);
    ids = hit_ids(coll, "espresso");
    cr_assert_str_eq(ids, "d4");
    free(ids);

    /* A path spelled with ./ is not how a file's id is stored: a hint. */
    r = run(NULL, "lctx-index", "-c", coll, "--delete", "./notes//a.md", NULL);
    expect_status(r, 1);
    expect_contains(r.err, "./notes//a.md: no such document (a file's id has no ./ or repeated "
                           "slashes)");
    result_free(&r);
}

Test(cli_index, upsert_replaces_by_id)
{
    const char *coll = make_collection();
    cmd_result r = run("{\"_id\":\"d1\",\"title\":\"Airships\",\"text\":\"A zeppelin is a rigid airship.\"}\n",
                       "lctx-index", "-c", coll, "--quiet", "-", NULL);
    expect_status(r, 0);
    cr_assert_str_eq(r.err, "", "--quiet printed: %s", r.err);
    result_free(&r);
    cr_assert_eq(documents(coll), 5);
    char *ids = hit_ids(coll, "zeppelin");
    cr_assert_str_eq(ids, "d1");
    free(ids);
    ids = hit_ids(coll, "apollo");
    cr_assert_str_eq(ids, "", "old version still found: %s", ids);
    free(ids);

    /* The same document again changes nothing, and no batch is committed. */
    r = run(NULL, "lctx-index", "-c", coll, "--stats", NULL);
    long seq = stat_value(r.out, "last_seq");
    result_free(&r);
    r = run("{\"_id\":\"d1\",\"title\":\"Airships\",\"text\":\"A zeppelin is a rigid airship.\"}\n",
            "lctx-index", "-c", coll, "-", NULL);
    expect_status(r, 0);
    expect_contains(r.err, "no new or changed documents; nothing to commit");
    cr_assert_null(strstr(r.err, "committed batch"), "%s", r.err);
    result_free(&r);
    r = run(NULL, "lctx-index", "-c", coll, "--stats", NULL);
    cr_assert_eq(stat_value(r.out, "last_seq"), seq);
    result_free(&r);
}

Test(cli_index, batch_docs_commits_in_steps)
{
    const char *a = tpath("a.jsonl"), *b = tpath("b.jsonl"), *coll = tpath("c.lctx");
    write_file(a, "{\"_id\":\"a1\",\"text\":\"alpha one\"}\n{\"_id\":\"a2\",\"text\":\"alpha two\"}\n");
    write_file(b, "{\"_id\":\"b1\",\"text\":\"beta one\"}\n");
    cmd_result r = run(NULL, "lctx-index", "-c", coll, "--batch-docs", "2", a, b, NULL);
    expect_status(r, 0);
    const char *first = strstr(r.err, "committed batch");
    cr_assert_not_null(first, "stderr: %s", r.err);
    cr_assert_not_null(strstr(first + 1, "committed batch"), "one commit only: %s", r.err);
    expect_contains(r.err, ": 2 documents");
    expect_contains(r.err, ": 1 document\n");
    result_free(&r);
    cr_assert_eq(documents(coll), 3);
}

Test(cli_index, text_directory_input)
{
    const char *dir = tpath("docs");
    cr_assert_eq(mkdir(dir, 0755), 0);
    cr_assert_eq(mkdir(tpath("docs/sub"), 0755), 0);
    write_file(tpath("docs/one.txt"), "Photosynthesis turns light into chemical energy.\n");
    write_file(tpath("docs/sub/two.txt"), "Mitochondria are the powerhouse of the cell.\n");
    const char *coll = tpath("t.lctx");
    cmd_result r = run(NULL, "lctx-index", "-c", coll, "--quiet", dir, NULL);
    expect_status(r, 0);
    result_free(&r);
    cr_assert_eq(documents(coll), 2);
    char *ids = hit_ids(coll, "mitochondria");
    char want[600];
    snprintf(want, sizeof want, "%s/sub/two.txt", dir);
    cr_assert_str_eq(ids, want, "a file's id is its path as given");
    free(ids);
    /* so the path deletes it, named twice or not */
    r = run(NULL, "lctx-index", "-c", coll, want, "--delete", want, want, NULL);
    expect_status(r, 0);
    expect_contains(r.err, "deleted 1 document\n");
    result_free(&r);
    cr_assert_eq(documents(coll), 1);
}

/* The report's tree: "--format text" on a directory reads every file as
 * text whatever its name (the passed-over warning's own advice), a .pdf
 * holding plain text included, and still skips a .png of real image bytes
 * as binary; by default the .pdf and .png are passed over by name. */
Test(cli_index, format_text_directory_reads_every_file)
{
    static const char png[] = "\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06";
    cr_assert_eq(mkdir(tpath("notes"), 0755), 0);
    cr_assert_eq(mkdir(tpath("notes/sub"), 0755), 0);
    write_file(tpath("notes/a.md"), "# Alpha\n\nAlpha notes.\n");
    write_file(tpath("notes/README"), "Readme notes.\n");
    write_file(tpath("notes/sub/b.txt"), "Bravo notes.\n");
    write_file(tpath("notes/d.jsonl"), "{\"_id\":\"d1\",\"text\":\"quokka\"}\n");
    write_file(tpath("notes/c.pdf"), "A mimeograph of plain text under a pdf name.\n");
    FILE *f = fopen(tpath("notes/img.png"), "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(png, 1, sizeof png - 1, f), sizeof png - 1);
    fclose(f);
    const char *dir = tpath("notes"), *coll = tpath("n.lctx");
    char want[600];

    cmd_result r = run(NULL, "lctx-index", "-c", coll, "--format", "text", dir, NULL);
    expect_status(r, 0);
    cr_assert_null(strstr(r.err, "passed over"), "%s", r.err);
    snprintf(want, sizeof want, "%s/img.png: binary file skipped", dir);
    expect_contains(r.err, want);
    result_free(&r);
    cr_assert_eq(documents(coll), 5);
    char *ids = hit_ids(coll, "mimeograph");
    snprintf(want, sizeof want, "%s/c.pdf", dir);
    cr_assert_str_eq(ids, want);
    free(ids);
    ids = hit_ids(coll, "quokka");   /* the .jsonl file as one text document */
    snprintf(want, sizeof want, "%s/d.jsonl", dir);
    cr_assert_str_eq(ids, want);
    free(ids);

    coll = tpath("auto.lctx");
    r = run(NULL, "lctx-index", "-c", coll, dir, NULL);
    expect_status(r, 0);
    expect_contains(r.err, "2 files passed over, not text or JSONL by name (.pdf .png)");
    result_free(&r);
    cr_assert_eq(documents(coll), 4);
    ids = hit_ids(coll, "mimeograph");
    cr_assert_str_eq(ids, "");
    free(ids);
    ids = hit_ids(coll, "quokka");   /* read as JSONL: its _id */
    cr_assert_str_eq(ids, "d1");
    free(ids);
}

Test(cli_index, missing_input_fails_without_creating_documents)
{
    const char *coll = make_collection();
    cmd_result r = run(NULL, "lctx-index", "-c", coll, tpath("nope.jsonl"), NULL);
    expect_status(r, 1);
    expect_contains(r.err, "nope.jsonl");
    expect_contains(r.err, "nothing was committed");
    result_free(&r);
    cr_assert_eq(documents(coll), 5);
}

/* A full disk, played by a file size limit that the spawned lctx-index
 * inherits (tests/test_full_disk.c sweeps it through the library): no
 * file of the collection may grow, so the batch cannot commit. lctx-index
 * must say which store failed and that nothing was committed, exit 1,
 * and leave the collection exactly as it was, rather than die of SIGXFSZ. */
Test(cli_index, full_disk_fails_the_batch_and_changes_nothing)
{
    const char *coll = make_collection();
    const char *big = tpath("big.jsonl");
    FILE *f = fopen(big, "w");
    cr_assert_not_null(f);
    for (int i = 0; i < 2000; i++) {
        fprintf(f, "{\"_id\":\"z%d\",\"title\":\"Zorblax %d\",\"text\":\"", i, i);
        for (int w = 0; w < 80; w++)
            fprintf(f, "zorblax%d word%d ", (i * 31 + w) % 4000, (i + w * 7) % 900);
        fprintf(f, "\"}\n");
    }
    fclose(f);
    char *before = stable_stats(coll);
    off_t largest = 0;
    const char *files[] = {"catalog.db", "index/data.mdb"};
    for (int i = 0; i < 2; i++) {
        char p[512];
        struct stat st;
        snprintf(p, sizeof p, "%s/%s", coll, files[i]);
        cr_assert_eq(stat(p, &st), 0, "%s", p);
        if (st.st_size > largest)
            largest = st.st_size;
    }

    struct rlimit old, lim;
    cr_assert_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = (rlim_t)largest;
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
    cmd_result r = run(NULL, "lctx-index", "-c", coll, big, NULL);
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &old), 0);

    expect_status(r, 1);
    expect_contains(r.err, "lctx-index: ");
    expect_contains(r.err, coll);
    expect_contains(r.err, "nothing was committed");
    result_free(&r);
    expect_unchanged(coll, before, "zorblax");
    r = run(NULL, "lctx-index", "-c", coll, "--check", NULL);
    expect_status(r, 0);
    result_free(&r);
}

Test(cli_index, rebuild_index_reads_an_older_format_again)
{
    const char *coll = make_collection();
    cmd_result before = run(NULL, "lctx-search", "-c", coll, "-k", "5", "moon astronauts",
                            NULL);
    expect_status(before, 0);
    expect_contains(before.out, "d5");
    /* what format 2 left: the same catalog, marked 2 */
    char catalog[600];
    snprintf(catalog, sizeof catalog, "%s/catalog.db", coll);
    sqlite3 *c;
    cr_assert_eq(sqlite3_open(catalog, &c), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(c, "UPDATE config SET value='2' WHERE key='format_version'",
                              NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(c);

    cmd_result r = run(NULL, "lctx-search", "-c", coll, "moon", NULL);
    expect_status(r, 1);
    expect_contains(r.err, "format version 2 is older");
    expect_contains(r.err, "--rebuild-index");
    result_free(&r);

    r = run(NULL, "lctx-index", "-c", coll, "--rebuild-index", "--check", NULL);
    expect_status(r, 0);
    expect_contains(r.err, "rebuilt the index");
    expect_contains(r.err, "check passed");
    result_free(&r);

    r = run(NULL, "lctx-search", "-c", coll, "-k", "5", "moon astronauts", NULL);
    expect_status(r, 0);
    cr_assert_str_eq(r.out, before.out);
    result_free(&r);
    result_free(&before);
}
