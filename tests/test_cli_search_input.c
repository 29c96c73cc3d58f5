/*
 * test_cli_search_input.c — lctx-search refusing input it would otherwise
 * misread, end to end through the sanitized binaries.
 *
 * Each test is a way a script fed lctx-search something that used to be
 * taken silently and come out wrong later: a run tag that breaks the run
 * format, a query id given twice, a key given twice in one line, a JSON
 * string cut short by \u0000, text after the JSON object, a number where
 * the query text goes, invalid UTF-8
 * in a query's text or id, a qrels line mistaken for a header, a byte order
 * mark taken into a qrels or run file's first query id, an exclusion on
 * the command line taken for an option without a word of help, and lines
 * of a pipe that vanished from the output so answers no longer lined up
 * with questions, and a run that failed part way and left half a run file
 * in place of the last one. The tests check the exit
 * status, that the message names FILE:LINE (or stdin:N), and that no run
 * file is left behind when the queries file was refused.
 */
#include "test_cli_harness.h"

#include <dirent.h>

TestSuite(cli_search_input, .fini = cleanup_tmpdir, .timeout = 60);

static const char QUERIES[] =
    "{\"_id\":\"1\",\"text\":\"moon astronauts\"}\n"
    "{\"_id\":\"2\",\"text\":\"bread flour\"}\n";

static int exists(const char *path)
{
    return access(path, F_OK) == 0;
}

/* Splits text into lines in place; returns the count (at most max). */
static int split_lines(char *text, char **lines, int max)
{
    int n = 0;
    for (char *p = text; *p && n < max;) {
        char *nl = strchr(p, '\n');
        lines[n++] = p;
        if (!nl)
            break;
        *nl = '\0';
        p = nl + 1;
    }
    return n;
}

/* ------------------------------------------------------------ run tags */

Test(cli_search_input, tag_must_be_one_word)
{
    const char *coll = make_collection();
    const char *q = tpath("queries.jsonl"), *out = tpath("run.trec");
    write_file(q, QUERIES);
    const char *bad[] = { "my tag", "", "tab\there", "nl\n" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cmd_result r = run(NULL, "lctx-search", "-c", coll, "--queries", q, "--run", out,
                           "--tag", bad[i], NULL);
        expect_status(r, 2);
        expect_contains(r.err, "lctx-search: --tag");
        cr_assert(!exists(out), "tag \"%s\": a run was written", bad[i]);
        result_free(&r);
    }
    /* A tag of one word still goes into the sixth field, and lctx-eval
     * reads the run. */
    cmd_result r = run(NULL, "lctx-search", "-c", coll, "--queries", q, "--run", out,
                       "--tag", "run-1.b", NULL);
    expect_status(r, 0);
    result_free(&r);
    char *text = read_file(out);
    expect_contains(text, " run-1.b\n");
    free(text);
    const char *qrels = tpath("qrels.tsv");
    write_file(qrels, "1\td1\t1\n2\td2\t1\n");
    r = run(NULL, "lctx-eval", qrels, out, NULL);
    expect_status(r, 0);
    result_free(&r);
}

/* ------------------------------------------------------- queries files */

Test(cli_search_input, duplicate_query_id_names_second_line)
{
    const char *coll = make_collection();
    const char *q = tpath("queries.jsonl"), *out = tpath("run.trec"), *qrels = tpath("qrels.tsv");
    write_file(q, "{\"_id\":\"7\",\"text\":\"moon\"}\n"
                  "{\"_id\":\"2\",\"text\":\"bread\"}\n"
                  "\n"
                  "{\"id\":7,\"query\":\"coffee\"}\n"       /* the same id, spelled as a number */
                  "{\"_id\":\"2\",\"text\":\"water\"}\n");
    write_file(qrels, "7\td1\t1\n2\td2\t1\n");
    cmd_result r = run(NULL, "lctx-search", "-c", coll, "--queries", q, "--run", out, NULL);
    expect_status(r, 1);
    expect_contains(r.err, "queries.jsonl:4: ");
    expect_contains(r.err, "\"7\"");
    expect_contains(r.err, "line 1");
    cr_assert(!exists(out), "a partial run was written");
    result_free(&r);
    r = run(NULL, "lctx-search", "-c", coll, "--queries", q, "--qrels", qrels, NULL);
    expect_status(r, 1);
    expect_contains(r.err, "queries.jsonl:4: ");
    cr_assert_eq(strlen(r.out), 0, "metrics printed: %s", r.out);
    result_free(&r);
}

/* Each bad line, as line 2 of a queries file: refused with FILE:2, and no
 * run file. */
Test(cli_search_input, bad_queries_lines_name_file_and_line)
{
    const char *coll = make_collection();
    const char *q = tpath("queries.jsonl"), *out = tpath("run.trec");
    static const struct { const char *line, *why; } bad[] = {
        { "{\"_id\":\"2\\u0000x\",\"text\":\"bread\"}", "\\u0000" },
        { "{\"_id\":\"2\",\"text\":\"bread\\u0000 moon\"}", "\\u0000" },
        { "{\"_id\":\"2\",\"text\":\"bread\"} trailing", "after the JSON object" },
        { "{\"_id\":\"2\",\"text\":\"bread\"}{\"_id\":\"3\",\"text\":\"moon\"}", "after the JSON object" },
        { "{\"_id\":\"2\",\"text\":123}", "\"text\" is not a string" },
        { "{\"_id\":\"2\",\"query\":[\"bread\"]}", "\"query\" is not a string" },
        { "{\"_id\":null,\"text\":\"bread\"}", "\"_id\" is not a string or a number" },
        { "{\"_id\":\"2\",\"text\":\"bread\",\"text\":\"moon\"}", "key \"text\" appears twice" },
        { "{\"_id\":\"2\",\"_id\":\"3\",\"text\":\"bread\"}", "key \"_id\" appears twice" },
        { "{\"id\":\"2\",\"query\":\"bread\",\"id\":\"3\"}", "key \"id\" appears twice" },
        { "{\"_id\":\"2\",\"query\":\"a\",\"text\":\"b\",\"query\":\"c\"}", "key \"query\" appears twice" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[256];
        snprintf(text, sizeof text, "{\"_id\":\"1\",\"text\":\"moon\"}\n%s\n", bad[i].line);
        write_file(q, text);
        cmd_result r = run(NULL, "lctx-search", "-c", coll, "--queries", q, "--run", out, NULL);
        cr_assert_eq(r.status, 1, "line %s: status %d, stderr %s", bad[i].line, r.status, r.err);
        expect_contains(r.err, "queries.jsonl:2: ");
        expect_contains(r.err, bad[i].why);
        cr_assert(!exists(out), "line %s: a run was written", bad[i].line);
        result_free(&r);
    }
    /* An escaped backslash before u0000 is text, not a NUL. */
    write_file(q, "{\"_id\":\"1\",\"text\":\"moon \\\\u0000\"}\n");
    cmd_result r = run(NULL, "lctx-search", "-c", coll, "--queries", q, "--run", out, NULL);
    expect_status(r, 0);
    result_free(&r);
    /* A key that is never read may repeat: it cannot change the query. */
    write_file(q, "{\"_id\":\"1\",\"text\":\"moon\",\"note\":1,\"note\":2}\n");
    r = run(NULL, "lctx-search", "-c", coll, "--queries", q, "--run", out, NULL);
    expect_status(r, 0);
    result_free(&r);
}

Test(cli_search_input, raw_nul_byte_in_queries_file)
{
    const char *coll = make_collection();
    const char *q = tpath("queries.jsonl"), *out = tpath("run.trec");
    static const char text[] = "{\"_id\":\"1\",\"text\":\"moon\"}\n{\"_id\":\"2\",\"text\":\"x\"}\0junk\n";
    FILE *f = fopen(q, "w");
    cr_assert_not_null(f);
    fwrite(text, 1, sizeof text - 1, f);
    fclose(f);
    cmd_result r = run(NULL, "lctx-search", "-c", coll, "--queries", q, "--run", out, NULL);
    expect_status(r, 1);
    expect_contains(r.err, "queries.jsonl:2: ");
    expect_contains(r.err, "NUL");
    result_free(&r);
}

/* Invalid UTF-8 in a query's text or id used to pass the up-front check
 * and stop the run at that query's turn, after the run file was opened and
 * the earlier queries written, with a message naming no line. */
Test(cli_search_input, invalid_utf8_refused_before_the_run_is_opened)
{
    const char *coll = make_collection();
    const char *q = tpath("queries.jsonl"), *out = tpath("run.trec"), *qrels = tpath("qrels.tsv");
    write_file(qrels, "1\td1\t1\n3\td3\t1\n");
    static const struct { const char *line, *why; } bad[] = {
        { "{\"_id\":\"2\",\"text\":\"mo\xffon\"}", "\"text\" holds invalid UTF-8 at byte 2" },
        { "{\"_id\":\"2\",\"query\":\"caf\xc3\"}", "\"query\" holds invalid UTF-8 at byte 3" },
        { "{\"_id\":\"q\xe9\",\"text\":\"bread\"}", "\"_id\" holds invalid UTF-8 at byte 1" },
        { "{\"id\":\"\xed\xa0\x80\",\"text\":\"bread\"}", "\"id\" holds invalid UTF-8 at byte 0" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[256];
        snprintf(text, sizeof text, "{\"_id\":\"1\",\"text\":\"moon\"}\n%s\n"
                 "{\"_id\":\"3\",\"text\":\"rocket\"}\n", bad[i].line);
        write_file(q, text);
        cmd_result r = run(NULL, "lctx-search", "-c", coll, "--queries", q, "--run", out,
                           "--qrels", qrels, NULL);
        cr_assert_eq(r.status, 1, "case %zu: status %d, stderr %s", i, r.status, r.err);
        expect_contains(r.err, "queries.jsonl:2: ");
        expect_contains(r.err, bad[i].why);
        cr_assert(!exists(out), "case %zu: a run was written", i);
        cr_assert_eq(strlen(r.out), 0, "case %zu: metrics printed: %s", i, r.out);
        result_free(&r);
    }
}

/* A run that fails part way, here at a document whose id (a file name with
 * a blank) a TREC run cannot hold, leaves the run file as it was and no
 * temporary file beside it. */
Test(cli_search_input, a_failed_run_leaves_the_run_file_as_it_was)
{
    const char *coll = tpath("blank.lctx"), *docs = tpath("my docs"), *q = tpath("q.jsonl"),
               *out = tpath("run.trec");
    cr_assert_eq(mkdir(docs, 0755), 0);
    write_file(tpath("my docs/moon.txt"), "astronauts walked on the moon\n");
    cmd_result r = run(NULL, "lctx-index", "-c", coll, "--quiet", docs, NULL);
    expect_status(r, 0);
    result_free(&r);
    write_file(q, "{\"_id\":\"1\",\"text\":\"bread\"}\n{\"_id\":\"2\",\"text\":\"moon\"}\n");
    write_file(out, "an earlier run\n");
    r = run(NULL, "lctx-search", "-c", coll, "--queries", q, "--run", out, NULL);
    cr_assert_eq(r.status, 1, "status %d, stderr %s", r.status, r.err);
    expect_contains(r.err, "contains blanks");
    result_free(&r);
    char *kept = read_file(out);
    cr_assert_str_eq(kept, "an earlier run\n");
    free(kept);
    DIR *d = opendir(tpath(""));
    cr_assert_not_null(d);
    for (struct dirent *e; (e = readdir(d));)
        cr_assert_null(strstr(e->d_name, "run.trec.tmp"), "left behind: %s", e->d_name);
    closedir(d);
}

/* ---------------------------------------------------------------- qrels */

Test(cli_search_input, qrels_first_line_is_a_judgment_unless_a_header)
{
    const char *coll = make_collection();
    const char *q = tpath("queries.jsonl"), *qrels = tpath("qrels.tsv"), *out = tpath("run.trec");
    write_file(q, QUERIES);
    write_file(out, "1 Q0 d1 1 2.0 t\n2 Q0 d2 1 1.0 t\n");
    const char *bad[] = { "1\td1\t1.5\n2\td2\t1\n", "1\td1\tabc\n2\td2\t1\n", "q1\td1\tx\n" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_file(qrels, bad[i]);
        cmd_result r = run(NULL, "lctx-eval", qrels, out, NULL);
        cr_assert_eq(r.status, 1, "qrels %s: status %d", bad[i], r.status);
        expect_contains(r.err, "qrels.tsv:1: ");
        result_free(&r);
        r = run(NULL, "lctx-search", "-c", coll, "--queries", q, "--qrels", qrels, NULL);
        expect_status(r, 1);
        expect_contains(r.err, "qrels.tsv:1: ");
        result_free(&r);
    }
    /* Headers still are headers, and only on line 1. */
    const char *good[] = { "query-id\tcorpus-id\tscore\n1\td1\t1\n2\td2\t1\n",
                           "query_id\tdoc\trel\n1\td1\t1\n2\td2\t1\n" };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        write_file(qrels, good[i]);
        cmd_result r = run(NULL, "lctx-eval", "--json", qrels, out, NULL);
        expect_status(r, 0);
        expect_contains(r.out, "\"queries\":2");
        result_free(&r);
    }
    write_file(qrels, "1\td1\t1\nquery-id\tcorpus-id\tscore\n");
    cmd_result r = run(NULL, "lctx-eval", qrels, out, NULL);
    expect_status(r, 1);
    expect_contains(r.err, "qrels.tsv:2: ");
    result_free(&r);
}

/* A byte order mark used to become part of the first query id, which then
 * matched nothing: a silently wrong score. */
Test(cli_search_input, byte_order_mark_in_qrels_and_run_is_skipped)
{
    const char *coll = make_collection();
    const char *q = tpath("queries.jsonl"), *qrels = tpath("qrels.tsv"), *out = tpath("run.trec");
    const char *plain = tpath("plain.trec");
    write_file(q, "{\"_id\":\"q1\",\"text\":\"apollo program\"}\n");
    write_file(plain, "q1 Q0 a 1 2.0 t\nq1 Q0 b 2 1.0 t\n");
    write_file(out, "\xef\xbb\xbfq1 Q0 a 1 2.0 t\nq1 Q0 b 2 1.0 t\n");
    const char *judged[] = { "\xef\xbb\xbfq1\ta\t1\nq1\tb\t1\n",
                             "\xef\xbb\xbfquery-id\tcorpus-id\tscore\nq1\ta\t1\nq1\tb\t1\n",
                             "\xef\xbb\xbfq1 0 a 1\nq1 0 b 1\n" };
    for (size_t i = 0; i < sizeof judged / sizeof judged[0]; i++) {
        write_file(qrels, judged[i]);
        const char *runs[] = { plain, out };
        for (int j = 0; j < 2; j++) {
            cmd_result r = run(NULL, "lctx-eval", "--json", qrels, runs[j], NULL);
            expect_status(r, 0);
            expect_contains(r.out, "\"queries\":1,");
            expect_contains(r.out, "\"ndcg_10\":1,");
            expect_contains(r.out, "\"mrr_10\":1");
            result_free(&r);
        }
    }
    /* lctx-search --qrels reads the same way: the query is judged. */
    write_file(qrels, "\xef\xbb\xbfq1\td1\t1\n");
    cmd_result r = run(NULL, "lctx-search", "-c", coll, "--queries", q, "--qrels", qrels,
                       "--json", NULL);
    expect_status(r, 0);
    expect_contains(r.out, "\"queries\":1,");
    expect_contains(r.out, "\"ndcg_10\":1,");
    result_free(&r);
    /* Only at the start of the file: later it is part of a field. */
    write_file(qrels, "q1\tb\t1\n\xef\xbb\xbfq1\ta\t1\n");
    r = run(NULL, "lctx-eval", "--json", qrels, plain, NULL);
    expect_status(r, 0);
    expect_contains(r.out, "\"mrr_10\":0.5");
    result_free(&r);
}

/* ------------------------------------------------------ unknown options */

/* "rocket -solid" on the command line is the option -s: still refused,
 * but after the query's words the message says how to pass an exclusion. */
Test(cli_search_input, unknown_option_after_words_hints_at_exclusion)
{
    const char *coll = make_collection();
    static const char *const after[][4] = {
        { "rocket", "-solid", NULL },
        { "rocket", "--solid", NULL },
        { "-k", "3", "rocket", "-x" },
    };
    for (size_t i = 0; i < sizeof after / sizeof after[0]; i++) {
        char *argv[8] = { (char *)program("lctx-search"), "-c", (char *)coll };
        int n = 3;
        for (int j = 0; j < 4 && after[i][j]; j++)
            argv[n++] = (char *)after[i][j];
        argv[n] = NULL;
        cmd_result r = run_argv(NULL, argv);
        expect_status(r, 2);
        /* one line: the hint ends the line that names the option */
        const char *msg = strstr(r.err, "lctx-search: unknown option ");
        cr_assert_not_null(msg, "%s", r.err);
        const char *hint = strstr(msg, " (to exclude a word from a query, put the query "
                                       "after --, or quote it)\n");
        cr_assert_not_null(hint, "no hint: %s", r.err);
        cr_assert_null(memchr(msg, '\n', (size_t)(hint - msg)), "not one line: %s", r.err);
        result_free(&r);
    }
    /* Before any word it is a mistyped option: no hint. */
    cmd_result r = run(NULL, "lctx-search", "-c", coll, "-solid", "rocket", NULL);
    expect_status(r, 2);
    expect_contains(r.err, "lctx-search: unknown option -s\n");
    result_free(&r);
    /* After --, the exclusion works. */
    r = run(NULL, "lctx-search", "-c", coll, "--json", "--", "rocket", "-liquid", NULL);
    expect_status(r, 0);
    cr_assert_null(strstr(r.out, "\"d3\""), "the excluded document was found: %s", r.out);
    result_free(&r);
}

/* ----------------------------------------------------------- pipe mode */

Test(cli_search_input, pipe_json_gives_one_line_per_input_line)
{
    const char *coll = make_collection();
    /* good, blank, invalid UTF-8, NUL byte, good, blank-only */
    static const char in[] = "espresso\n\n\xff\xfe bad\nmoon\0rocket\nrocket thrust\n  \t\n";
    const char *path = tpath("in.txt");
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fwrite(in, 1, sizeof in - 1, f);
    fclose(f);
    /* run() takes stdin as a C string; give it the file through sh. */
    char cmd[1600];
    snprintf(cmd, sizeof cmd, "exec %s -c %s --json < %s", program("lctx-search"), coll, path);
    char *sh[] = { "/bin/sh", "-c", cmd, NULL };
    cmd_result r = run_argv(NULL, sh);
    expect_status(r, 1);                  /* two lines failed */
    char *lines[16];
    int n = split_lines(r.out, lines, 16);
    cr_assert_eq(n, 6, "want 6 output lines for 6 input lines:\n%s", r.out);
    const char *want_query[] = { "espresso", "", "\xef\xbf\xbd\xef\xbf\xbd bad",
                                 "moon\xef\xbf\xbdrocket", "rocket thrust", "" };
    const char *want_top[] = { "d4", NULL, NULL, NULL, "d3", NULL };
    const int want_error[] = { 0, 0, 1, 1, 0, 0 };
    for (int i = 0; i < n; i++) {
        cJSON *o = cJSON_Parse(lines[i]);
        cr_assert_not_null(o, "line %d not JSON: %s", i + 1, lines[i]);
        cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(o, "query")), want_query[i]);
        cJSON *hits = cJSON_GetObjectItem(o, "hits");
        cr_assert(cJSON_IsArray(hits), "line %d has no hits array: %s", i + 1, lines[i]);
        cJSON *err = cJSON_GetObjectItem(o, "error");
        cr_assert_eq(err != NULL, want_error[i], "line %d: %s", i + 1, lines[i]);
        if (want_top[i]) {
            cJSON *h = cJSON_GetArrayItem(hits, 0);
            cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(h, "id")), want_top[i]);
        } else {
            cr_assert_eq(cJSON_GetArraySize(hits), 0, "line %d: %s", i + 1, lines[i]);
        }
        cJSON_Delete(o);
    }
    expect_contains(r.err, "stdin:3: ");
    expect_contains(r.err, "stdin:4: ");
    expect_contains(r.err, "NUL");
    result_free(&r);

    /* Blank lines alone are not failures. */
    r = run("moon\n\nespresso\n", "lctx-search", "-c", coll, "--json", NULL);
    expect_status(r, 0);
    n = split_lines(r.out, lines, 16);
    cr_assert_eq(n, 3, "want one line per input line:\n%s", r.out);
    result_free(&r);
}

Test(cli_search_input, pipe_text_still_answers_the_other_lines)
{
    const char *coll = make_collection();
    cmd_result r = run("espresso\n\xff\nrocket thrust\n", "lctx-search", "-c", coll, NULL);
    expect_status(r, 1);
    expect_contains(r.out, "== espresso\n");
    expect_contains(r.out, "== \xef\xbf\xbd\n");
    expect_contains(r.out, "== rocket thrust\n");
    expect_contains(r.out, "d3");
    expect_contains(r.err, "stdin:2: ");
    result_free(&r);
}
