/*
 * test_cli_search.c — lctx-search and lctx-eval end to end, through the
 * sanitized binaries.
 *
 * Covers the three ways of asking (one-shot, lines on stdin, a BEIR query
 * set), the output contracts scripts depend on (the JSON object, the TREC
 * run format), the agreement of --qrels with lctx-eval on the run it wrote,
 * and the exit status and message for each way of getting it wrong.
 */
#include "test_cli_harness.h"

TestSuite(cli_search, .fini = cleanup_tmpdir, .timeout = 60);

Test(cli_search, one_shot_json)
{
    const char *coll = make_collection();
    cmd_result r = run(NULL, "lctx-search", "-c", coll, "--json", "sourdough starter", NULL);
    expect_status(r, 0);
    cJSON *o = cJSON_Parse(r.out);
    cr_assert_not_null(o, "not JSON: %s", r.out);
    cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(o, "query")), "sourdough starter");
    cr_assert(cJSON_IsNumber(cJSON_GetObjectItem(o, "elapsed_ms")));
    cJSON *hits = cJSON_GetObjectItem(o, "hits");
    cr_assert(cJSON_GetArraySize(hits) >= 1);
    cJSON *h = cJSON_GetArrayItem(hits, 0);
    cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(h, "id")), "d2");
    cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(h, "title")), "Bread baking");
    cr_assert_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(h, "rank")), 1.0);
    cr_assert_gt(cJSON_GetNumberValue(cJSON_GetObjectItem(h, "score")), 0.0);
    cr_assert_not_null(cJSON_GetStringValue(cJSON_GetObjectItem(h, "snippet")));
    cJSON_Delete(o);
    result_free(&r);
}

Test(cli_search, one_shot_text_k_and_explain)
{
    const char *coll = make_collection();
    cmd_result r = run(NULL, "lctx-search", "-c", coll, "moon", "astronauts", NULL);
    expect_status(r, 0);
    expect_contains(r.out, "d1");
    expect_contains(r.out, "d5");
    result_free(&r);

    r = run(NULL, "lctx-search", "-c", coll, "-k", "1", "--json", "--explain", "moon astronauts", NULL);
    expect_status(r, 0);
    cJSON *o = cJSON_Parse(r.out);
    cr_assert_not_null(o, "not JSON: %s", r.out);
    cJSON *hits = cJSON_GetObjectItem(o, "hits");
    cr_assert_eq(cJSON_GetArraySize(hits), 1);
    cJSON *ex = cJSON_GetObjectItem(cJSON_GetArrayItem(hits, 0), "explain");
    cr_assert(ex && !cJSON_IsNull(ex), "no explain in %s", r.out);
    cJSON_Delete(o);
    result_free(&r);
}

Test(cli_search, lines_on_stdin_answered_in_turn)
{
    const char *coll = make_collection();
    cmd_result r = run("espresso\n\nrocket thrust\n", "lctx-search", "-c", coll, "--json", NULL);
    expect_status(r, 0);
    char *save = NULL, *line;
    int n = 0;
    /* One JSON line per input line: the blank one is the empty query. */
    const char *want[] = { "d4", NULL, "d3" };
    for (line = strtok_r(r.out, "\n", &save); line; line = strtok_r(NULL, "\n", &save), n++) {
        cr_assert_lt(n, 3, "more answers than lines: %s", line);
        cJSON *o = cJSON_Parse(line);
        cr_assert_not_null(o, "not JSON: %s", line);
        cJSON *h = cJSON_GetArrayItem(cJSON_GetObjectItem(o, "hits"), 0);
        if (want[n])
            cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(h, "id")), want[n]);
        else
            cr_assert_null(h, "the blank line found something: %s", line);
        cJSON_Delete(o);
    }
    cr_assert_eq(n, 3);
    result_free(&r);
}

Test(cli_search, stopword_only_query_says_why)
{
    const char *coll = make_collection();
    cmd_result r = run(NULL, "lctx-search", "-c", coll, "--json", "the of and", NULL);
    expect_status(r, 0);
    expect_contains(r.err, "lctx-search: ");
    cJSON *o = cJSON_Parse(r.out);
    cr_assert_not_null(o, "not JSON: %s", r.out);
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(o, "hits")), 0);
    cJSON_Delete(o);
    result_free(&r);
}

Test(cli_search, unsupported_features_exit_2)
{
    const char *coll = make_collection();
    cmd_result r = run(NULL, "lctx-search", "-c", coll, "--rerank", "moon", NULL);
    expect_status(r, 2);
    expect_contains(r.err, "--rerank: re-ranking is not available in this build yet");
    result_free(&r);
    r = run(NULL, "lctx-search", "-c", coll, "--generate", "moon", NULL);
    expect_status(r, 2);
    expect_contains(r.err, "not available in this build yet");
    result_free(&r);
    r = run(NULL, "lctx-search", "-c", coll, "--no-rerank", "--json", "moon", NULL);
    expect_status(r, 0);
    result_free(&r);
    /* Vector search reaches the library, which says what is missing. */
    r = run(NULL, "lctx-search", "-c", coll, "--mode", "vector", "moon", NULL);
    expect_status(r, 1);
    expect_contains(r.err, "lctx-search: ");
    result_free(&r);
}

Test(cli_search, bad_usage_and_missing_collection)
{
    const char *coll = make_collection();
    const char *const cases[][4] = {
        { "moon", NULL },                                  /* no -c */
        { "-c", coll, "-k", "0" },
        { "-c", coll, "--mode", "psychic" },
        { "-c", coll, "--run", "x.trec" },                 /* --run without --queries */
        { "-c", coll, "--queries", "q.jsonl" },            /* neither --run nor --qrels */
        { "-c", coll, "--frobnicate", NULL },
    };
    expect_usage_errors("lctx-search", cases, sizeof cases / sizeof cases[0]);
    cmd_result r = run(NULL, "lctx-search", "-c", tpath("absent.lctx"), "moon", NULL);
    expect_status(r, 1);
    expect_contains(r.err, "absent.lctx");
    result_free(&r);
}

static const char QUERIES[] =
    "{\"_id\":\"1\",\"text\":\"moon astronauts\"}\n"
    "{\"_id\":\"2\",\"text\":\"bread flour\"}\n"
    "{\"_id\":\"3\",\"text\":\"espresso water\"}\n";

/* Query 1: d5 is the more relevant, d1 relevant; query 2: d2; query 3:
 * d4 relevant, d2 judged non-relevant; query 9 is not in the queries file. */
static const char QRELS[] =
    "query-id\tcorpus-id\tscore\n"
    "1\td5\t2\n1\td1\t1\n2\td2\t1\n3\td4\t1\n3\td2\t0\n9\td3\t1\n";

/* Checks the run file: 6 fields, Q0, the tag, ranks 1.. per query,
 * scores not increasing. Returns the number of lines. */
static int check_run(const char *path, const char *tag)
{
    char *text = read_file(path);
    char *save = NULL, *line, qid_prev[32] = "";
    int lines = 0, rank_prev = 0;
    double score_prev = 0;
    for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char qid[32], q0[8], doc[64], t[32], extra[8];
        int rank;
        double score;
        int n = sscanf(line, "%31s %7s %63s %d %lf %31s %7s", qid, q0, doc, &rank, &score, t, extra);
        cr_assert_eq(n, 6, "bad run line: %s", line);
        cr_assert_str_eq(q0, "Q0");
        cr_assert_str_eq(t, tag);
        if (strcmp(qid, qid_prev) != 0) {
            cr_assert_eq(rank, 1, "first rank of %s is %d", qid, rank);
            snprintf(qid_prev, sizeof qid_prev, "%s", qid);
        } else {
            cr_assert_eq(rank, rank_prev + 1);
            cr_assert_leq(score, score_prev);
        }
        rank_prev = rank;
        score_prev = score;
        lines++;
    }
    free(text);
    return lines;
}

static double num(cJSON *o, const char *key)
{
    cJSON *v = cJSON_GetObjectItem(o, key);
    cr_assert(cJSON_IsNumber(v), "no number %s", key);
    return v->valuedouble;
}

Test(cli_search, batch_run_and_metrics_agree_with_lctx_eval)
{
    const char *coll = make_collection();
    const char *q = tpath("queries.jsonl"), *qrels = tpath("qrels.tsv"), *out = tpath("run.trec");
    write_file(q, QUERIES);
    write_file(qrels, QRELS);

    cmd_result r = run(NULL, "lctx-search", "-c", coll, "--queries", q, "--run", out,
                       "--tag", "mytag", "-k", "3", NULL);
    expect_status(r, 0);
    result_free(&r);
    int lines = check_run(out, "mytag");
    cr_assert(lines >= 3 && lines <= 9, "%d run lines", lines);

    r = run(NULL, "lctx-search", "-c", coll, "--queries", q, "--run", out, "--qrels", qrels,
            "--json", NULL);
    expect_status(r, 0);
    check_run(out, "lctx");
    cJSON *s = cJSON_Parse(r.out);
    cr_assert_not_null(s, "not JSON: %s", r.out);
    result_free(&r);

    r = run(NULL, "lctx-eval", "--json", qrels, out, NULL);
    expect_status(r, 0);
    cJSON *e = cJSON_Parse(r.out);
    cr_assert_not_null(e, "not JSON: %s", r.out);
    result_free(&r);

    cr_assert_eq(num(s, "queries"), 3.0);          /* 9 is not in the queries file */
    cr_assert_eq(num(e, "queries"), 3.0);
    cr_assert_float_eq(num(s, "ndcg_10"), num(e, "ndcg_10"), 1e-9);
    cr_assert_float_eq(num(s, "recall_100"), num(e, "recall_100"), 1e-9);
    cr_assert_float_eq(num(s, "mrr_10"), num(e, "mrr_10"), 1e-9);
    cr_assert_float_eq(num(s, "mrr_10"), 1.0, 1e-9, "each query's best hit is relevant");
    cr_assert_float_eq(num(s, "recall_100"), 1.0, 1e-9);
    cr_assert_gt(num(s, "ndcg_10"), 0.5);
    cJSON_Delete(s);
    cJSON_Delete(e);

    /* Text form names the three measures; -q adds one line per query. */
    r = run(NULL, "lctx-eval", "-q", qrels, out, NULL);
    expect_status(r, 0);
    expect_contains(r.out, "nDCG@10");
    expect_contains(r.out, "Recall@100");
    expect_contains(r.out, "MRR@10");
    int nl = 0;
    for (const char *p = r.out; *p; p++)
        nl += *p == '\n';
    cr_assert_eq(nl, 3 + 4, "want 3 per-query lines and 4 summary lines:\n%s", r.out);
    expect_contains(r.out, "2\t1.0000\t1.0000\t1.0000\n");
    result_free(&r);
}

Test(cli_search, lctx_eval_errors)
{
    const char *qrels = tpath("qrels.tsv"), *run_file = tpath("run.trec");
    write_file(qrels, QRELS);
    write_file(run_file, "1 Q0 d5 1 2.5 t\n1 Q0 d1 2 notanumber t\n");
    cmd_result r = run(NULL, "lctx-eval", qrels, NULL);
    expect_status(r, 2);
    result_free(&r);
    r = run(NULL, "lctx-eval", qrels, tpath("missing.trec"), NULL);
    expect_status(r, 1);
    expect_contains(r.err, "missing.trec");
    result_free(&r);
    r = run(NULL, "lctx-eval", qrels, run_file, NULL);
    expect_status(r, 1);
    expect_contains(r.err, "run.trec:2:");
    result_free(&r);
}

Test(cli_search, malformed_queries_file_names_line)
{
    const char *coll = make_collection();
    const char *q = tpath("queries.jsonl");
    write_file(q, "{\"_id\":\"1\",\"text\":\"moon\"}\n{\"_id\":\"2\"}\n");
    cmd_result r = run(NULL, "lctx-search", "-c", coll, "--queries", q, "--run", tpath("o.trec"), NULL);
    expect_status(r, 1);
    expect_contains(r.err, "queries.jsonl:2:");
    result_free(&r);
}

Test(cli_search, metadata_filter)
{
    const char *coll = make_collection();
    cmd_result r = run(NULL, "lctx-search", "-c", coll, "--json",
                       "--filter", "json_extract(metadata, '$.kind') = 'food'", "moon water", NULL);
    expect_status(r, 0);
    cJSON *o = cJSON_Parse(r.out);
    cr_assert_not_null(o, "not JSON: %s", r.out);
    cJSON *hits = cJSON_GetObjectItem(o, "hits"), *h;
    cr_assert_eq(cJSON_GetArraySize(hits), 2, "want d2 and d4: %s", r.out);
    cJSON_ArrayForEach(h, hits) {
        const char *id = cJSON_GetStringValue(cJSON_GetObjectItem(h, "id"));
        cr_assert(id && (!strcmp(id, "d2") || !strcmp(id, "d4")), "unfiltered hit %s", id);
    }
    cJSON_Delete(o);
    result_free(&r);

    r = run(NULL, "lctx-search", "-c", coll, "--filter", "no_such_column = 1", "moon", NULL);
    expect_status(r, 1);
    expect_contains(r.err, "lctx-search: ");
    expect_contains(r.err, "filter");
    result_free(&r);
}

Test(cli_search, batch_queries_are_plain_words)
{
    const char *coll = make_collection();
    const char *q = tpath("queries.jsonl"), *out = tpath("run.trec");
    /* As syntax, -apollo would exclude d1, +zeppelin and title:zeppelin
     * require a word no document has and moo* find moon; in batch mode
     * they are just words. */
    write_file(q, "{\"_id\":\"1\",\"text\":\"\\\"moon landed\\\" -apollo +zeppelin\"}\n"
                  "{\"_id\":\"2\",\"text\":\"moo*\"}\n"
                  "{\"_id\":\"3\",\"text\":\"lunar title:zeppelin\"}\n");
    cmd_result r = run(NULL, "lctx-search", "-c", coll, "--queries", q, "--run", out, NULL);
    expect_status(r, 0);
    result_free(&r);
    char *text = read_file(out);
    expect_contains(text, "1 Q0 d1 1 ");
    /* moo* would be a prefix of moon; as a plain word it finds nothing */
    cr_assert_null(strstr(text, "\n2 Q0 "), "batch mode took moo* as a prefix: %s", text);
    /* title:zeppelin would require a title no document has */
    expect_contains(text, "\n3 Q0 d5 ");
    free(text);
    r = run(NULL, "lctx-search", "-c", coll, "--json", "moo*", NULL);
    expect_status(r, 0);
    expect_contains(r.out, "\"d1\"");
    result_free(&r);

    r = run(NULL, "lctx-search", "-c", coll, "--json", "moon -apollo", NULL);
    expect_status(r, 0);
    cr_assert_null(strstr(r.out, "\"d1\""), "one-shot keeps the syntax: %s", r.out);
    result_free(&r);
    r = run(NULL, "lctx-search", "-c", coll, "--json", "moon +zeppelin", NULL);
    expect_status(r, 0);
    cr_assert_null(strstr(r.out, "\"d1\""), "one-shot keeps the syntax: %s", r.out);
    result_free(&r);
}

Test(cli_search, vector_and_hybrid_modes)
{
    char corpus[512], coll[512];
    tjoin(corpus, sizeof corpus, "corpus.jsonl");
    tjoin(coll, sizeof coll, "v.lctx");
    write_file(corpus, CORPUS);
    cmd_result r = run(NULL, "lctx-index", "-c", coll, "--embedder", "use-lite", "--quiet",
                       corpus, NULL);
    expect_status(r, 0);
    result_free(&r);
    r = run(NULL, "lctx-search", "-c", coll, "--mode", "vector", "--json", "moon", NULL);
    expect_status(r, 0);
    expect_contains(r.out, "\"vector_score\"");
    result_free(&r);
    r = run(NULL, "lctx-search", "-c", coll, "--mode", "hybrid", "--fusion", "rrf", "--explain",
            "moon", NULL);
    expect_status(r, 0);
    expect_contains(r.out, "     bm25 ");
    expect_contains(r.out, "\"rrf\"");
    result_free(&r);
    r = run(NULL, "lctx-search", "-c", coll, "--alpha", "0.5", "--explain", "moon", NULL);
    expect_status(r, 0);
    expect_contains(r.out, "\"alpha\":0.5");
    result_free(&r);
    r = run(NULL, "lctx-search", "-c", coll, "--like", "d1", "-k", "2", "--json", NULL);
    expect_status(r, 0);
    cr_expect_null(strstr(r.out, "\"id\":\"d1\""), "the liked document is left out: %s", r.out);
    result_free(&r);
    /* "" too: a script's unset $ALPHA must not turn hybrid into BM25. */
    const char *bad_alpha[] = {"2", "", "0.5x"};
    for (int i = 0; i < 3; i++) {
        r = run(NULL, "lctx-search", "-c", coll, "--alpha", bad_alpha[i], "moon", NULL);
        expect_status(r, 2);
        expect_contains(r.err, "--alpha wants a number from 0 to 1");
        result_free(&r);
    }
    r = run(NULL, "lctx-search", "-c", coll, "--fusion", "max", "moon", NULL);
    expect_status(r, 2);
    result_free(&r);
}
