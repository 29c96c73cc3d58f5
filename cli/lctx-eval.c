/*
 * lctx-eval — scores any TREC run against judgments.
 *
 *   lctx-eval [-c] [-q] [--json] QRELS RUN
 *
 * A small stand-in for trec_eval with the three measures this project
 * reports (nDCG@10, Recall@100, MRR@10), computed exactly as trec_eval
 * computes ndcg_cut_10, recall_100 and recip_rank (cut at 10); see
 * cli/treceval.c for the details. It exists so the benchmark scripts can
 * score SQLite FTS5 and Xapian runs with the very code that scores lctx's
 * own, with no dependency outside this repository.
 *
 * QRELS is BEIR TSV (query-id corpus-id score, header optional) or TREC
 * (qid iter docid rel). RUN is "qid Q0 docid rank score tag".
 * By default the means are over the judged queries the run answers, like
 * trec_eval; -c averages over every judged query (missing ones score 0),
 * like trec_eval -c. -q also prints each query's numbers.
 */
#include "cli/cli.h"

#include <getopt.h>
#include <string.h>

static const char *const PROG = "lctx-eval";

static void usage(FILE *f)
{
    fprintf(f,
        "usage: lctx-eval [-c] [-q] [--json] QRELS RUN\n"
        "\n"
        "  -c, --complete    average over all judged queries (unanswered score 0)\n"
        "  -q, --per-query   also print each query's nDCG@10, Recall@100, MRR@10\n"
        "  --json            print the means as one JSON object\n"
        "  -h, --help  --version\n");
}

typedef struct per_query_ctx {
    int json;
    cJSON *array;            /* --json: collects per-query objects */
} per_query_ctx;

static void print_query(void *ctx, const char *qid, const cli_metrics *m)
{
    per_query_ctx *p = ctx;
    if (!p->json) {
        printf("%s\t%.4f\t%.4f\t%.4f\n", qid, m->ndcg10, m->recall100, m->mrr10);
        return;
    }
    cJSON *o = cli_metrics_json(m);
    if (!o)
        return;
    cJSON_DeleteItemFromObject(o, "queries");
    cJSON_AddStringToObject(o, "qid", qid);
    cJSON_AddItemToArray(p->array, o);
}

enum { OPT_JSON = 256, OPT_VERSION };

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "complete", no_argument, NULL, 'c' },
        { "per-query", no_argument, NULL, 'q' },
        { "json", no_argument, NULL, OPT_JSON },
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, OPT_VERSION },
        { NULL, 0, NULL, 0 }
    };
    int json = 0, per_query = 0, c;
    enum cli_eval_over over = CLI_EVAL_RUN_QUERIES;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":cqh", longopts, NULL)) != -1) {
        switch (c) {
        case 'c': over = CLI_EVAL_ALL_QRELS; break;
        case 'q': per_query = 1; break;
        case OPT_JSON: json = 1; break;
        case 'h': usage(stdout); return CLI_EXIT_OK;
        case OPT_VERSION: printf("lctx-eval %s\n", LCTX_VERSION_STRING); return CLI_EXIT_OK;
        default:
            cli_getopt_error(PROG, c, argv);
            return cli_bad_usage(PROG, NULL);
        }
    }
    if (argc - optind != 2)
        return cli_bad_usage(PROG, "want QRELS and RUN");

    cli_qrels q = { 0 };
    cli_run r = { 0 };
    char err[512];
    int status = CLI_EXIT_FAIL;
    per_query_ctx pq = { json, json && per_query ? cJSON_CreateArray() : NULL };
    cli_eval_opts eo = { over, NULL, 0, per_query ? print_query : NULL, &pq };
    cli_metrics m;
    if (cli_qrels_load(argv[optind], &q, err, sizeof err) != 0 ||
        cli_run_load(argv[optind + 1], &r, err, sizeof err) != 0 ||
        cli_evaluate(&q, &r, &eo, &m, err, sizeof err) != 0) {
        cli_error(PROG, "%s", err);
        goto done;
    }
    if (m.queries == 0)
        cli_warn(PROG, "no judged query with relevant documents to evaluate");
    if (json) {
        cJSON *o = cli_metrics_json(&m);
        if (o && pq.array) {
            cJSON_AddItemToObject(o, "per_query", pq.array);
            pq.array = NULL;
        }
        cli_print_json(stdout, o);
    } else {
        cli_metrics_print(stdout, &m, 0);
    }
    status = fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
done:
    cJSON_Delete(pq.array);
    cli_qrels_free(&q);
    cli_run_free(&r);
    return status;
}
