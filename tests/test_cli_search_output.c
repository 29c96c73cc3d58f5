/*
 * test_cli_search_output.c — what lctx-search shows, end to end through
 * the sanitized binaries: text output that a document cannot use to drive
 * the terminal, JSON output that stays exact, the tie order the man page
 * promises, the message --like gives on a collection without vectors, a
 * run written to standard output that stays a run when judged (--qrels),
 * the exit status of an interactive session in which a query failed, and
 * a snippet of a document without spaces that stays short.
 *
 * The session runs on a real pseudo-terminal (test_pty.h), as in
 * test_cli_interactive.c.
 */
/* POSIX_SPAWN_SETSID is a GNU extension of posix_spawn. */
#define _GNU_SOURCE
#include "test_pty.h"

#include <errno.h>
#include <poll.h>

TestSuite(cli_search_output, .fini = cleanup_tmpdir, .timeout = 60);

/* A document whose id, title and text carry escape sequences, BEL, DEL and
 * a C1 control (U+009B, CSI on terminals that honour C1), next to a plain
 * one. */
static const char ESC_CORPUS[] =
    "{\"_id\":\"e\\u001b[31mX\\u0007\",\"title\":\"T\\u001b]0;pwned\\u0007 bell\\u007f del \\u009b c1\","
    "\"text\":\"zebra \\u001b[2J clear \\u0085 screen\"}\n"
    "{\"_id\":\"plain\",\"title\":\"Zebra facts\",\"text\":\"a zebra has stripes\"}\n";

/* Indexes text (JSONL) from a file named file into DIR/name; returns the
 * collection's path (a ring of static buffers). */
static const char *index_corpus(const char *name, const char *file, const char *text)
{
    static char bufs[4][512];
    static int next;
    char *coll = bufs[next++ % 4];
    char corpus[512];
    tjoin(corpus, sizeof corpus, file);
    tjoin(coll, sizeof bufs[0], name);
    write_file(corpus, text);
    cmd_result r = run(NULL, "lctx-index", "-c", coll, "--quiet", corpus, NULL);
    expect_status(r, 0);
    result_free(&r);
    return coll;
}

/* Asserts that s holds no control character but '\n': no C0, DEL or C1. */
static void expect_no_controls(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        cr_assert(*p >= 0x20 || *p == '\n', "control byte 0x%02x at %zu in:\n%s",
                  *p, (size_t)(p - (const unsigned char *)s), s);
        cr_assert(*p != 0x7f, "DEL at %zu in:\n%s", (size_t)(p - (const unsigned char *)s), s);
        cr_assert(!(p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f),
                  "C1 control at %zu in:\n%s", (size_t)(p - (const unsigned char *)s), s);
    }
}

Test(cli_search_output, text_output_shows_controls_as_replacement)
{
    /* The file name holds an escape too: it is the hits' uri. */
    const char *coll = index_corpus("esc.lctx", "c\033[31m.jsonl", ESC_CORPUS);
    cmd_result r = run(NULL, "lctx-search", "-c", coll, "zebra", NULL);
    expect_status(r, 0);
    expect_no_controls(r.out);
    expect_contains(r.out, "e\xef\xbf\xbd[31mX\xef\xbf\xbd");            /* id */
    expect_contains(r.out, "T\xef\xbf\xbd]0;pwned\xef\xbf\xbd bell");    /* title */
    expect_contains(r.out, "c\xef\xbf\xbd[31m.jsonl:1");                 /* uri */
    expect_contains(r.out, "[zebra] \xef\xbf\xbd[2J clear");             /* snippet */
    expect_contains(r.out, "plain");
    result_free(&r);

    /* The "== QUERY" heading of pipe mode is text output too. */
    r = run("zebra \033[2J\n", "lctx-search", "-c", coll, NULL);
    expect_status(r, 0);
    expect_no_controls(r.out);
    expect_contains(r.out, "== zebra \xef\xbf\xbd[2J\n");
    result_free(&r);
}

/* Documents whose id, title and text open bidi overrides, embeddings and
 * isolates and leave them open, next to one that closes its own. */
static const char BIDI_CORPUS[] =
    "{\"_id\":\"a\\u202eb\",\"title\":\"x\\u2067y zebra\",\"text\":\"zebra \\u202b\\u2067z\"}\n"
    "{\"_id\":\"shut\",\"title\":\"\\u202eq\\u202c zebra\",\"text\":\"a zebra\"}\n";

/* The bidi controls left open at the end of each line of s, counted the
 * way a terminal implementing UAX #9 would: 0 means every line closes
 * what it opened. */
static int open_bidi_at_line_ends(const char *s)
{
    int stack[256], n = 0, left = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '\n') {
            left += n;
            n = 0;
            continue;
        }
        if (p[0] != 0xe2 || !p[1] || !p[2])
            continue;
        unsigned cp = ((p[0] & 0x0fu) << 12) | ((p[1] & 0x3fu) << 6) | (p[2] & 0x3fu);
        if ((cp >= 0x202a && cp <= 0x202e && cp != 0x202c) || (cp >= 0x2066 && cp <= 0x2068))
            stack[n < 255 ? n++ : n] = cp >= 0x2066;
        else if (cp == 0x202c && n > 0 && !stack[n - 1])
            n--;
        else if (cp == 0x2069) {
            while (n > 0 && !stack[n - 1])
                n--;
            if (n > 0)
                n--;
        }
    }
    return left + n;
}

Test(cli_search_output, bidi_controls_do_not_outlive_their_field)
{
    const char *coll = index_corpus("bidi.lctx", "bidi.jsonl", BIDI_CORPUS);
    cmd_result r = run(NULL, "lctx-search", "-c", coll, "zebra", NULL);
    expect_status(r, 0);
    cr_assert_eq(open_bidi_at_line_ends(r.out), 0, "bidi controls left open:\n%s", r.out);
    /* Kept where they were, and closed right at the end of their field. */
    expect_contains(r.out, "a\u202eb\u202c ");                  /* id: PDF */
    expect_contains(r.out, "x\u2067y zebra\u2069\n");           /* title: PDI */
    expect_contains(r.out, "\u202b\u2067z\u2069\u202c");        /* snippet: both */
    /* A field that closes its own gets nothing added. */
    expect_contains(r.out, "\u202eq\u202c zebra\n");
    result_free(&r);
}

Test(cli_search_output, json_output_stays_exact)
{
    const char *coll = index_corpus("esc.lctx", "c.jsonl", ESC_CORPUS);
    cmd_result r = run(NULL, "lctx-search", "-c", coll, "--json", "zebra", NULL);
    expect_status(r, 0);
    cJSON *o = cJSON_Parse(r.out);
    cr_assert_not_null(o, "not JSON: %s", r.out);
    cJSON *h, *found = NULL;
    cJSON_ArrayForEach(h, cJSON_GetObjectItem(o, "hits"))
        if (!strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(h, "id")), "e\033[31mX\a"))
            found = h;
    cr_assert_not_null(found, "the id did not come back exactly: %s", r.out);
    cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(found, "title")),
                     "T\033]0;pwned\a bell\x7f del \xc2\x9b c1");
    expect_contains(cJSON_GetStringValue(cJSON_GetObjectItem(found, "snippet")),
                    "\033[2J clear \xc2\x85 screen");
    cJSON_Delete(o);
    result_free(&r);
}

/* The man page's rule: equal scores come in the order the documents were
 * added, and a document re-indexed with changed text counts as added then. */
Test(cli_search_output, ties_follow_the_order_documents_were_added)
{
    const char *coll = index_corpus("t.lctx", "t.jsonl",
                                    "{\"_id\":\"b\",\"text\":\"zebra\"}\n"
                                    "{\"_id\":\"c\",\"text\":\"zebra\"}\n"
                                    "{\"_id\":\"a\",\"text\":\"zebra\"}\n");
    char *ids = hit_ids(coll, "zebra");
    cr_assert_str_eq(ids, "b c a");
    free(ids);
    char again[512];
    tjoin(again, sizeof again, "again.jsonl");
    write_file(again, "{\"_id\":\"b\",\"text\":\"zebra.\"}\n");      /* same terms, new text */
    cmd_result r = run(NULL, "lctx-index", "-c", coll, "--quiet", again, NULL);
    expect_status(r, 0);
    result_free(&r);
    ids = hit_ids(coll, "zebra");
    cr_assert_str_eq(ids, "c a b");
    free(ids);
}

Test(cli_search_output, like_without_vectors_says_so)
{
    const char *coll = make_collection();
    cmd_result r = run(NULL, "lctx-search", "-c", coll, "--like", "d1", NULL);
    expect_status(r, 1);
    expect_contains(r.err, "no vectors");
    cr_assert_null(strstr(r.err, "needs mode"), "blames the mode: %s", r.err);
    result_free(&r);
    r = run(NULL, "lctx-search", "-c", coll, "--like", "d1", "--json", NULL);
    expect_status(r, 1);
    expect_contains(r.out, "\"error\"");
    result_free(&r);
    r = run(NULL, "lctx-search", "-c", coll, "--like", "d1", "--mode", "bm25", NULL);
    expect_status(r, 2);
    result_free(&r);
}

/* --run - with --qrels: the run alone on standard output, so it can be
 * piped to an evaluator; the metrics on standard error. (They used to
 * follow the run lines on standard output, and no evaluator read that.) */
Test(cli_search_output, run_on_stdout_keeps_the_metrics_off_it)
{
    const char *coll = make_collection();
    const char *q = tpath("queries.jsonl"), *qrels = tpath("qrels.tsv");
    const char *saved = tpath("stdout.trec");
    write_file(q, "{\"_id\":\"1\",\"text\":\"apollo program\"}\n"
                  "{\"_id\":\"2\",\"text\":\"bread flour\"}\n");
    write_file(qrels, "1\td1\t1\n2\td2\t1\n");
    for (int json = 0; json < 2; json++) {
        cmd_result r = run(NULL, "lctx-search", "-c", coll, "--queries", q, "--run", "-",
                           "--qrels", qrels, json ? "--json" : NULL, NULL);
        expect_status(r, 0);
        cr_assert_null(strstr(r.out, "nDCG"), "metrics on stdout:\n%s", r.out);
        cr_assert_null(strstr(r.out, "ndcg"), "metrics on stdout:\n%s", r.out);
        expect_contains(r.out, "1 Q0 d1 1 ");
        expect_contains(r.err, json ? "\"ndcg_10\":1," : "nDCG@10     1.0000");
        /* what came out is a run lctx-eval reads, and scores alike */
        write_file(saved, r.out);
        result_free(&r);
        r = run(NULL, "lctx-eval", "--json", qrels, saved, NULL);
        expect_status(r, 0);
        expect_contains(r.out, "\"queries\":2,\"ndcg_10\":1,");
        result_free(&r);
    }
    /* With the run in a file the metrics stay on standard output. */
    cmd_result r = run(NULL, "lctx-search", "-c", coll, "--queries", q, "--run", saved,
                       "--qrels", qrels, NULL);
    expect_status(r, 0);
    expect_contains(r.out, "nDCG@10     1.0000");
    result_free(&r);
}

/* ---------------------------------------------------- the session, on a pty */

Test(cli_search_output, session_with_a_failed_query_quits_with_0)
{
    const char *coll = index_corpus("esc.lctx", "c.jsonl", ESC_CORPUS);
    int status = -1;
    char *out = run_on_pty(coll, tpath("history"),
                           ":mode vector\nzebra\n:mode bm25\nzebra\n:quit\n", NULL, 0, &status);
    cr_assert_eq(status, 0, "status %d; output:\n%s", status, out);
    expect_contains(out, "no vectors");              /* the failure was shown */
    /* The answer after it: bold highlights, and none of the document's own
     * escape sequences. */
    expect_contains(out, "\033[1mzebra\033[0m");
    cr_assert_null(strstr(out, "\033[2J"), "screen clear reached the terminal:\n%s", out);
    cr_assert_null(strstr(out, "\033]0;"), "title change reached the terminal:\n%s", out);
    cr_assert_null(strstr(out, "\033[31m"), "colour reached the terminal:\n%s", out);
    free(out);

    /* Leaving with Ctrl-D after a failure is clean too. */
    out = run_on_pty(coll, tpath("history"), ":filter no_such_column = 1\nzebra\n", "\004", 3,
                     &status);
    cr_assert_eq(status, 0, "status %d; output:\n%s", status, out);
    expect_contains(out, "filter");
    free(out);
}

/* The report: a 648 KB Thai text file, no spaces but around one Latin
 * word, printed the whole file as its snippet. Now the snippet is at most
 * 800 characters (3 bytes each in Thai), cut at both ends with "…". */
Test(cli_search_output, a_thai_document_gives_a_bounded_snippet)
{
    static const char thai[] = "ภาษาไทยเป็นภาษาที่มีระดับเสียงของคำแน่นอนหรือวรรณยุกต์";
    size_t n = 648 * 1024 / 2 / strlen(thai), len = 0;
    char *text = malloc(2 * n * strlen(thai) + 8);
    cr_assert_not_null(text);
    for (size_t i = 0; i < 2 * n; i++) {
        if (i == n)
            len += (size_t)sprintf(text + len, " zzqx ");
        len += (size_t)sprintf(text + len, "%s", thai);
    }
    write_file(tpath("big.txt"), text);
    free(text);
    const char *coll = tpath("big.lctx");
    cmd_result r = run(NULL, "lctx-index", "-c", coll, "--quiet", tpath("big.txt"), NULL);
    expect_status(r, 0);
    result_free(&r);
    r = run(NULL, "lctx-search", "-c", coll, "zzqx", NULL);
    expect_status(r, 0);
    expect_contains(r.out, "[zzqx]");
    expect_contains(r.out, "\xe2\x80\xa6");
    cr_assert_lt(strlen(r.out), 3 * 800 + 600, "%zu bytes of output", strlen(r.out));
    result_free(&r);
}
