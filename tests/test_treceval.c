/*
 * test_treceval.c — the evaluation measures against hand-computed answers.
 *
 * Every number here was worked out on paper from the definitions trec_eval
 * uses (see cli/treceval.c): graded gains, log2(rank+1) discount, ties by
 * docid descending, rank column ignored, queries without relevant judgments
 * left out. The CLI support files are not in the library, so the evaluator
 * is compiled into this test directly.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/treceval.c"

#define EPS 1e-9

static void judge(cli_qrels *q, const char *qid, const char *doc, int rel)
{
    cr_assert_eq(cli_qrels_add(q, qid, doc, rel), 0);
}

static void ret(cli_run *r, const char *qid, const char *doc, double score)
{
    cr_assert_eq(cli_run_add(r, qid, doc, score), 0);
}

static cli_metrics eval_over(cli_qrels *q, cli_run *r, enum cli_eval_over over)
{
    cli_eval_opts o = { over, NULL, 0, NULL, NULL };
    cli_metrics m;
    char err[256] = "";
    cr_assert_eq(cli_evaluate(q, r, &o, &m, err, sizeof err), 0, "evaluate failed: %s", err);
    return m;
}

/* A file with the given text in a fresh temp path; caller unlinks. */
static char *temp_file(const char *text)
{
    char *path = strdup("/tmp/lctx-treceval-XXXXXX");
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    size_t n = strlen(text);
    cr_assert_eq(write(fd, text, n), (ssize_t)n);
    close(fd);
    return path;
}

Test(treceval, graded_single_query)
{
    cli_qrels q = { 0 };
    cli_run r = { 0 };
    judge(&q, "q1", "d1", 3);
    judge(&q, "q1", "d2", 2);
    judge(&q, "q1", "d3", 1);
    judge(&q, "q1", "d4", 0);
    /* ranking: d4 (judged non-relevant), d2 (2), d9 (unjudged), d1 (3) */
    ret(&r, "q1", "d1", 7);
    ret(&r, "q1", "d9", 8);
    ret(&r, "q1", "d2", 9);
    ret(&r, "q1", "d4", 10);
    cli_metrics m = eval_over(&q, &r, CLI_EVAL_RUN_QUERIES);
    /* DCG = 2/log2(3) + 3/log2(5); IDCG = 3/log2(2) + 2/log2(3) + 1/log2(4) */
    cr_assert_eq(m.queries, 1);
    cr_assert_float_eq(m.ndcg10, 0.5363218250207072, 1e-12);
    cr_assert_float_eq(m.recall100, 2.0 / 3.0, EPS);
    cr_assert_float_eq(m.mrr10, 0.5, EPS);
    cli_qrels_free(&q);
    cli_run_free(&r);
}

Test(treceval, ties_broken_by_docid_descending)
{
    cli_qrels q = { 0 };
    cli_run r = { 0 };
    judge(&q, "q1", "a", 1);
    /* Equal scores: trec_eval puts "b" before "a", whatever the input order. */
    ret(&r, "q1", "a", 5);
    ret(&r, "q1", "b", 5);
    cli_metrics m = eval_over(&q, &r, CLI_EVAL_RUN_QUERIES);
    cr_assert_float_eq(m.mrr10, 0.5, EPS);
    cr_assert_float_eq(m.ndcg10, 0.6309297535714575, 1e-12);
    cr_assert_float_eq(m.recall100, 1.0, EPS);
    /* strcmp order, not numeric: "995" sorts after "1000". */
    cli_qrels q2 = { 0 };
    cli_run r2 = { 0 };
    judge(&q2, "q", "1000", 1);
    ret(&r2, "q", "1000", 1.5);
    ret(&r2, "q", "995", 1.5);
    m = eval_over(&q2, &r2, CLI_EVAL_RUN_QUERIES);
    cr_assert_float_eq(m.mrr10, 0.5, EPS);
    cli_qrels_free(&q);
    cli_run_free(&r);
    cli_qrels_free(&q2);
    cli_run_free(&r2);
}

Test(treceval, missing_queries_and_query_sets)
{
    cli_qrels q = { 0 };
    cli_run r = { 0 };
    judge(&q, "q1", "d1", 1);        /* answered perfectly */
    judge(&q, "q2", "d5", 2);        /* never answered */
    judge(&q, "q3", "d7", 0);        /* no relevant document: always left out */
    ret(&r, "q1", "d1", 3.0);
    ret(&r, "q3", "d7", 3.0);
    ret(&r, "q4", "d1", 3.0);        /* not judged at all */

    cli_metrics m = eval_over(&q, &r, CLI_EVAL_RUN_QUERIES);
    cr_assert_eq(m.queries, 1);
    cr_assert_float_eq(m.ndcg10, 1.0, EPS);
    cr_assert_float_eq(m.mrr10, 1.0, EPS);

    m = eval_over(&q, &r, CLI_EVAL_ALL_QRELS);
    cr_assert_eq(m.queries, 2);
    cr_assert_float_eq(m.ndcg10, 0.5, EPS);
    cr_assert_float_eq(m.recall100, 0.5, EPS);
    cr_assert_float_eq(m.mrr10, 0.5, EPS);

    const char *ids[] = { "q2", "q4", "q1", "q2" };
    cli_eval_opts o = { CLI_EVAL_LISTED, ids, 4, NULL, NULL };
    char err[128];
    cr_assert_eq(cli_evaluate(&q, &r, &o, &m, err, sizeof err), 0);
    cr_assert_eq(m.queries, 2);      /* q1 and q2; q4 unjudged, duplicate q2 once */
    cr_assert_float_eq(m.ndcg10, 0.5, EPS);
    cli_qrels_free(&q);
    cli_run_free(&r);
}

Test(treceval, cutoffs_at_10_and_100)
{
    cli_qrels q = { 0 };
    cli_run r = { 0 };
    judge(&q, "q", "rel11", 2);
    judge(&q, "q", "rel101", 1);
    judge(&q, "q", "never", 1);
    char doc[32];
    for (int rank = 1; rank <= 101; rank++) {
        if (rank == 11)
            snprintf(doc, sizeof doc, "rel11");
        else if (rank == 101)
            snprintf(doc, sizeof doc, "rel101");
        else
            snprintf(doc, sizeof doc, "x%03d", rank);
        ret(&r, "q", doc, 1000.0 - rank);
    }
    cli_metrics m = eval_over(&q, &r, CLI_EVAL_RUN_QUERIES);
    cr_assert_float_eq(m.ndcg10, 0.0, EPS);      /* first relevant at rank 11 */
    cr_assert_float_eq(m.mrr10, 0.0, EPS);
    cr_assert_float_eq(m.recall100, 1.0 / 3.0, EPS);  /* rank 101 does not count */
    cli_qrels_free(&q);
    cli_run_free(&r);
}

Test(treceval, means_over_several_queries_and_negative_levels)
{
    cli_qrels q = { 0 };
    cli_run r = { 0 };
    judge(&q, "1", "a", 1);
    judge(&q, "1", "b", -1);         /* judged non-relevant, not in the ideal */
    judge(&q, "2", "c", 1);
    judge(&q, "2", "d", 1);
    ret(&r, "1", "b", 9);            /* rank 1, non-relevant */
    ret(&r, "1", "a", 8);            /* rank 2 */
    ret(&r, "2", "c", 4);            /* rank 1 */
    ret(&r, "2", "z", 3);
    ret(&r, "2", "d", 2);            /* rank 3 */
    cli_metrics m = eval_over(&q, &r, CLI_EVAL_RUN_QUERIES);
    double n1 = 1.0 / log2(3.0);
    double n2 = (1.0 + 1.0 / log2(4.0)) / (1.0 + 1.0 / log2(3.0));
    cr_assert_eq(m.queries, 2);
    cr_assert_float_eq(m.ndcg10, (n1 + n2) / 2, 1e-12);
    cr_assert_float_eq(m.ndcg10, 0.7753, 1e-4);
    cr_assert_float_eq(m.mrr10, 0.75, EPS);
    cr_assert_float_eq(m.recall100, 1.0, EPS);
    cli_qrels_free(&q);
    cli_run_free(&r);
}

Test(treceval, duplicate_run_document_is_an_error)
{
    cli_qrels q = { 0 };
    cli_run r = { 0 };
    judge(&q, "q", "a", 1);
    ret(&r, "q", "a", 2);
    ret(&r, "q", "b", 1.5);
    ret(&r, "q", "a", 1);
    cli_metrics m;
    char err[256] = "";
    cr_assert_eq(cli_evaluate(&q, &r, NULL, &m, err, sizeof err), -1);
    cr_assert(strstr(err, "twice") && strstr(err, "a"), "message: %s", err);
    cli_qrels_free(&q);
    cli_run_free(&r);
}

Test(treceval, loads_beir_and_trec_files)
{
    char *beir = temp_file("query-id\tcorpus-id\tscore\n1\td1\t2\n1\td2\t1\n\n2\td3\t1\n");
    char *trec = temp_file("1 0 d1 2\n1 0 d2 1\n2 0 d3 1\n");
    char *run = temp_file("1 Q0 d2 1 3.5 t\n1 Q0 d1 2 3.0 t\n2 Q0 d9 1 1 t\n");
    cli_qrels a = { 0 }, b = { 0 };
    cli_run r = { 0 };
    char err[256] = "";
    cr_assert_eq(cli_qrels_load(beir, &a, err, sizeof err), 0, "%s", err);
    cr_assert_eq(cli_qrels_load(trec, &b, err, sizeof err), 0, "%s", err);
    cr_assert_eq(cli_run_load(run, &r, err, sizeof err), 0, "%s", err);
    cr_assert_eq(a.n, 3);
    cr_assert_eq(b.n, 3);
    cr_assert_eq(r.n, 3);
    cli_metrics ma = eval_over(&a, &r, CLI_EVAL_RUN_QUERIES);
    cli_metrics mb = eval_over(&b, &r, CLI_EVAL_RUN_QUERIES);
    cr_assert_eq(ma.queries, 2);
    cr_assert_float_eq(ma.ndcg10, mb.ndcg10, EPS);
    /* q1: d2 (1) then d1 (2): DCG = 1 + 2/log2(3), IDCG = 2 + 1/log2(3); q2: 0 */
    double n1 = (1.0 + 2.0 / log2(3.0)) / (2.0 + 1.0 / log2(3.0));
    cr_assert_float_eq(ma.ndcg10, n1 / 2, 1e-12);
    cr_assert_float_eq(ma.mrr10, 0.5, EPS);
    cli_qrels_free(&a);
    cli_qrels_free(&b);
    cli_run_free(&r);
    unlink(beir);
    unlink(trec);
    unlink(run);
    free(beir);
    free(trec);
    free(run);
}

Test(treceval, bad_lines_name_file_and_line)
{
    char *qrels = temp_file("1\td1\t1\n1\td2\tmaybe\n");
    char *run = temp_file("1 Q0 d1 1 2.0 t\n1 Q0 d2 2 high t\n");
    char *shortrun = temp_file("1 Q0 d1 1 2.0\n");
    cli_qrels q = { 0 };
    cli_run r = { 0 };
    char err[512] = "", want[600];
    cr_assert_eq(cli_qrels_load(qrels, &q, err, sizeof err), -1);
    snprintf(want, sizeof want, "%s:2:", qrels);
    cr_assert(strstr(err, want), "message: %s", err);
    cr_assert_eq(cli_run_load(run, &r, err, sizeof err), -1);
    snprintf(want, sizeof want, "%s:2:", run);
    cr_assert(strstr(err, want), "message: %s", err);
    cli_run_free(&r);
    cr_assert_eq(cli_run_load(shortrun, &r, err, sizeof err), -1);
    cr_assert(strstr(err, "6 fields"), "message: %s", err);
    cr_assert_eq(cli_qrels_load("/nonexistent/qrels", &q, err, sizeof err), -1);
    cli_qrels_free(&q);
    cli_run_free(&r);
    unlink(qrels);
    unlink(run);
    unlink(shortrun);
    free(qrels);
    free(run);
    free(shortrun);
}

Test(treceval, no_qualifying_query_gives_zero)
{
    cli_qrels q = { 0 };
    cli_run r = { 0 };
    judge(&q, "q", "a", 0);
    ret(&r, "q", "a", 1);
    cli_metrics m = eval_over(&q, &r, CLI_EVAL_ALL_QRELS);
    cr_assert_eq(m.queries, 0);
    cr_assert_float_eq(m.ndcg10, 0.0, EPS);
    cli_qrels_free(&q);
    cli_run_free(&r);
}

static void count_query(void *ctx, const char *qid, const cli_metrics *m)
{
    (void)qid;
    (void)m;
    (*(int *)ctx)++;
}

Test(treceval, per_query_callback_and_json)
{
    cli_qrels q = { 0 };
    cli_run r = { 0 };
    judge(&q, "a", "x", 1);
    judge(&q, "b", "y", 1);
    ret(&r, "a", "x", 1);
    ret(&r, "b", "x", 1);
    int calls = 0;
    cli_eval_opts o = { CLI_EVAL_RUN_QUERIES, NULL, 0, count_query, &calls };
    cli_metrics m;
    char err[64];
    cr_assert_eq(cli_evaluate(&q, &r, &o, &m, err, sizeof err), 0);
    cr_assert_eq(calls, 2);
    cJSON *j = cli_metrics_json(&m);
    cr_assert_not_null(j);
    cr_assert_float_eq(cJSON_GetObjectItem(j, "ndcg_10")->valuedouble, 0.5, EPS);
    cr_assert_float_eq(cJSON_GetObjectItem(j, "queries")->valuedouble, 2, EPS);
    cJSON_Delete(j);
    cli_qrels_free(&q);
    cli_run_free(&r);
}
