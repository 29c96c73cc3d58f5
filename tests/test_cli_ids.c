/*
 * test_cli_ids.c — ids given as JSON numbers, end to end through the
 * sanitized binaries.
 *
 * cJSON keeps every number as a double, which holds each integer below
 * 2^53 exactly and nothing else: 2^53 + 1 reads as 2^53, 0.1 as
 * 0.10000000000000001. An id that is not what the file says either makes
 * two documents one (the second silently replacing the first) or gives a
 * run whose query ids match no judgment. Both programs refuse such ids
 * with FILE:LINE, before anything is written, and keep integers below 2^53
 * exactly as they were printed before.
 */
#include "test_cli_harness.h"

TestSuite(cli_ids, .fini = cleanup_tmpdir, .timeout = 60);

static int exists(const char *path)
{
    return access(path, F_OK) == 0;
}

Test(cli_ids, document_ids_from_2_pow_53_are_refused)
{
    const char *coll = tpath("n.lctx"), *corpus = tpath("num.jsonl");
    write_file(corpus, "{\"_id\":9007199254740992,\"title\":\"\",\"text\":\"first doc zebra\"}\n"
                       "{\"_id\":9007199254740993,\"title\":\"\",\"text\":\"second doc zebra\"}\n");
    cmd_result r = run(NULL, "lctx-index", "-c", coll, "--quiet", corpus, NULL);
    expect_status(r, 1);
    expect_contains(r.err, "num.jsonl:1: ");
    expect_contains(r.err, "quote it");
    result_free(&r);
    if (exists(coll))           /* nothing committed: no collection, or an empty one */
        cr_assert_eq(documents(coll), 0);

    /* Below 2^53 ids are kept and printed in full, as before. */
    write_file(corpus, "{\"_id\":9007199254740991,\"title\":\"\",\"text\":\"first doc zebra\"}\n"
                       "{\"_id\":-9007199254740991,\"title\":\"\",\"text\":\"second doc zebra\"}\n");
    r = run(NULL, "lctx-index", "-c", coll, "--quiet", corpus, NULL);
    expect_status(r, 0);
    result_free(&r);
    cr_assert_eq(documents(coll), 2);
    char *ids = hit_ids(coll, "zebra");
    expect_contains(ids, "9007199254740991");
    expect_contains(ids, "-9007199254740991");
    free(ids);
}

Test(cli_ids, numeric_query_ids_must_be_exact)
{
    const char *coll = make_collection();
    const char *q = tpath("queries.jsonl"), *out = tpath("run.trec");
    static const char *const bad[] = {
        "9007199254740993", "9007199254740992", "-9007199254740992", "0.1",
        "12345678901234567890", "1e400",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[256];
        snprintf(text, sizeof text, "{\"_id\":\"1\",\"text\":\"moon\"}\n"
                 "{\"_id\":%s,\"text\":\"bread\"}\n", bad[i]);
        write_file(q, text);
        cmd_result r = run(NULL, "lctx-search", "-c", coll, "--queries", q, "--run", out, NULL);
        cr_assert_eq(r.status, 1, "id %s: status %d, stderr %s", bad[i], r.status, r.err);
        expect_contains(r.err, "queries.jsonl:2: ");
        expect_contains(r.err, "quote it");
        cr_assert(!exists(out), "id %s: a run was written", bad[i]);
        result_free(&r);
    }
    /* Integers below 2^53 keep the text they had: "%.17g" of the double. */
    write_file(q, "{\"_id\":9007199254740991,\"text\":\"apollo program\"}\n"
                  "{\"_id\":-42,\"text\":\"bread\"}\n"
                  "{\"id\":7,\"query\":\"coffee\"}\n");
    cmd_result r = run(NULL, "lctx-search", "-c", coll, "--queries", q, "--run", out, NULL);
    expect_status(r, 0);
    result_free(&r);
    char *run_text = read_file(out);
    expect_contains(run_text, "9007199254740991 Q0 d1 1 ");
    expect_contains(run_text, "\n-42 Q0 d2 1 ");
    expect_contains(run_text, "\n7 Q0 d4 1 ");
    free(run_text);
}
