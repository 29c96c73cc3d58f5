/*
 * test_ingest_commit_cli.c — lctx-index --batch-docs N on top of
 * lctx_ingest_opts.commit_every: commits fall every N documents inside one
 * input (not only at file boundaries), each is reported as "committed batch
 * SEQ: N documents", and a bad line keeps the batches before it.
 */
#include "test_cli_harness.h"

TestSuite(ingest_commit_cli, .fini = cleanup_tmpdir, .timeout = 60);

static void write_docs(const char *path, int n, int bad_line)
{
    char *buf = malloc((size_t)n * 64 + 1);
    cr_assert_not_null(buf);
    size_t len = 0;
    for (int i = 1; i <= n; i++)
        len += (size_t)sprintf(buf + len, i == bad_line ? "{\"_id\": \"d%d\", \"text\":\n"
                                                         : "{\"_id\":\"d%d\",\"text\":\"doc %d\"}\n",
                               i, i);
    write_file(path, buf);
    free(buf);
}

Test(ingest_commit_cli, commits_inside_one_file)
{
    const char *in = tpath("five.jsonl"), *coll = tpath("c.lctx");
    write_docs(in, 5, 0);
    cmd_result r = run(NULL, "lctx-index", "-c", coll, "--batch-docs", "2", in, NULL);
    expect_status(r, 0);
    expect_contains(r.err, "committed batch 1: 2 documents");
    expect_contains(r.err, "committed batch 2: 2 documents");
    expect_contains(r.err, "committed batch 3: 1 document\n");
    cr_assert_null(strstr(r.err, "committed batch 4"), "stderr: %s", r.err);
    result_free(&r);
    cr_assert_eq(documents(coll), 5);
}

Test(ingest_commit_cli, exact_multiple_leaves_no_empty_batch)
{
    const char *in = tpath("four.jsonl"), *coll = tpath("c.lctx");
    write_docs(in, 4, 0);
    cmd_result r = run(NULL, "lctx-index", "-c", coll, "--batch-docs", "2", in, NULL);
    expect_status(r, 0);
    expect_contains(r.err, "committed batch 2: 2 documents");
    cr_assert_null(strstr(r.err, "committed batch 3"), "empty batch committed: %s", r.err);
    result_free(&r);
    cr_assert_eq(documents(coll), 4);
}

Test(ingest_commit_cli, bad_line_keeps_earlier_batches)
{
    const char *in = tpath("bad.jsonl"), *coll = tpath("c.lctx");
    write_docs(in, 6, 4);
    cmd_result r = run(NULL, "lctx-index", "-c", coll, "--batch-docs", "2", in, NULL);
    expect_status(r, 1);
    expect_contains(r.err, "committed batch 1: 2 documents");
    expect_contains(r.err, "bad.jsonl:4");
    expect_contains(r.err, "2 documents in earlier batches are committed");
    result_free(&r);
    cr_assert_eq(documents(coll), 2);
}
