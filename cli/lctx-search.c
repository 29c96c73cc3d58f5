/*
 * lctx-search — asks a collection questions.
 *
 *   lctx-search -c COLL [--mode M] [--fusion rrf|linear] [--alpha A] [--like ID]
 *               [-k N] [--json] [--explain] [--filter EXPR] QUERY
 *   lctx-search -c COLL [options]                       (interactive, or one query per stdin line)
 *   lctx-search -c COLL --queries Q.jsonl [--run OUT.trec] [--tag T] [--qrels QRELS.tsv] [--json]
 *               (--run, --qrels or both)
 *
 * Three ways in, one way of answering: a QUERY argument is answered once
 * (several words without quotes are joined with spaces); no QUERY on a
 * terminal starts a readline session; no QUERY on a pipe answers each input
 * line; --queries runs a whole BEIR query set, writes a TREC run and, given
 * judgments, prints nDCG@10, Recall@100 and MRR@10 (see cli/treceval.c for
 * how they follow trec_eval).
 *
 * The collection is opened read-only: searching never writes, never waits on
 * a writer, and works on a collection another process is indexing.
 *
 * Features whose API has not reached include/lctx.h yet (re-ranking, context
 * assembly, generation) are recognised and refused with exit status 2 and a
 * message saying they are not in this build, so scripts written against the
 * documented contract fail loudly instead of getting plain BM25 silently.
 * --no-rerank is accepted: it is what this build does anyway.
 *
 * A --tag must be one word (it is a field of a blank-separated run line);
 * anything else is bad usage rather than a run that no evaluator reads.
 */
#include "cli/cli.h"

#include <ctype.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const PROG = "lctx-search";

typedef struct search_args {
    const char *coll;
    lctx_search_opts search;
    int k_given;
    int json, explain;
    const char *queries, *run, *tag, *qrels;
    const char *unsupported;     /* first not-yet-available flag seen */
    char *query;                 /* joined positionals, malloc'd; NULL = none */
} search_args;

static void usage(FILE *f)
{
    fprintf(f,
        "usage: lctx-search -c COLL [options] [QUERY...]\n"
        "       lctx-search -c COLL --queries Q.jsonl [--run OUT.trec [--tag T]] [--qrels QRELS]\n"
        "                   [-k N] [--json]   (--run, --qrels or both)\n"
        "\n"
        "Without QUERY: an interactive session on a terminal, else one query per\n"
        "line of standard input.\n"
        "\n"
        "  -c, --collection COLL   the collection directory\n"
        "  --mode M                bm25, vector, hybrid (default: hybrid when the\n"
        "                          collection has vectors, else bm25)\n"
        "  --fusion F              hybrid: linear (default) or rrf\n"
        "  --alpha A               linear fusion: weight of the vector side (0..1)\n"
        "  --like ID               more like this document (its vectors are the query)\n"
        "  -k N                    number of hits (10; 100 in batch mode)\n"
        "  --json                  JSON output (one object per query)\n"
        "  --explain               per-term score contributions\n"
        "  --filter EXPR           SQLite JSON1 expression over document metadata\n"
        "  --queries Q.jsonl       batch mode: BEIR queries (_id, text)\n"
        "  --run OUT.trec          batch mode: write a TREC run ('-' = stdout)\n"
        "  --tag T                 batch mode: run tag (default lctx)\n"
        "  --qrels QRELS           batch mode: print nDCG@10, Recall@100, MRR@10\n"
        "  --rerank, --no-rerank, --context, --budget N, --generate: later versions\n"
        "  -h, --help  --version\n");
}

static int parse_mode(const char *s, enum lctx_mode *m)
{
    if (!strcmp(s, "bm25")) *m = LCTX_MODE_BM25;
    else if (!strcmp(s, "vector")) *m = LCTX_MODE_VECTOR;
    else if (!strcmp(s, "hybrid")) *m = LCTX_MODE_HYBRID;
    else if (!strcmp(s, "default")) *m = LCTX_MODE_DEFAULT;
    else return -1;
    return 0;
}

/* Joins argv[0..n) with single spaces; malloc'd; NULL when n == 0. */
static char *join_words(char **argv, int n)
{
    if (n <= 0)
        return NULL;
    size_t len = 1;
    for (int i = 0; i < n; i++)
        len += strlen(argv[i]) + 1;
    char *q = malloc(len);
    if (!q)
        return NULL;
    q[0] = '\0';
    for (int i = 0; i < n; i++) {
        if (i)
            strcat(q, " ");
        strcat(q, argv[i]);
    }
    return q;
}

enum { OPT_MODE = 256, OPT_JSON, OPT_EXPLAIN, OPT_FILTER, OPT_QUERIES, OPT_RUN, OPT_TAG,
       OPT_QRELS, OPT_RERANK, OPT_NO_RERANK, OPT_CONTEXT, OPT_BUDGET, OPT_GENERATE,
       OPT_VERSION, OPT_FUSION, OPT_ALPHA, OPT_LIKE };

/* What each not-yet-available flag is about, for the refusal message. */
static const char *unsupported_what(int c)
{
    switch (c) {
    case OPT_RERANK: return "--rerank: re-ranking";
    case OPT_CONTEXT: return "--context: context assembly";
    case OPT_BUDGET: return "--budget: context assembly";
    case OPT_GENERATE: return "--generate: answer generation";
    default: return "this option";
    }
}

/* A run tag is the sixth field of "qid Q0 docid rank score tag"; evaluators
 * split lines on blanks, so an empty tag or one with blanks gives lines
 * with the wrong number of fields and a run no evaluator (ours included)
 * will read. */
static int valid_tag(const char *t)
{
    if (!*t)
        return 0;
    for (; *t; t++)
        if (isspace((unsigned char)*t))
            return 0;
    return 1;
}

/* Checks the combination of options. Returns -1 to go on, or a status. */
static int validate(search_args *a)
{
    if (!a->coll)
        return cli_bad_usage(PROG, "missing -c COLL");
    if (a->unsupported) {
        cli_error(PROG, "%s is not available in this build yet", a->unsupported);
        return CLI_EXIT_USAGE;
    }
    if (a->search.like && a->search.mode == LCTX_MODE_BM25)
        return cli_bad_usage(PROG, "--like needs --mode vector or hybrid");
    /* The default mode is hybrid on a collection with vectors and bm25
     * without (lctx.h); asking for hybrid outright changes nothing on the
     * first and makes the library say what is wrong on the second (no
     * vectors) rather than that bm25 cannot search by example. */
    if (a->search.like && a->search.mode == LCTX_MODE_DEFAULT)
        a->search.mode = LCTX_MODE_HYBRID;
    if (a->queries) {
        if (a->query)
            return cli_bad_usage(PROG, "give either QUERY or --queries, not both");
        if (!a->run && !a->qrels)
            return cli_bad_usage(PROG, "--queries wants --run OUT.trec, --qrels QRELS or both");
        if (a->tag && !valid_tag(a->tag))
            return cli_bad_usage(PROG, "--tag wants a non-empty tag without blanks "
                                 "(a TREC run line is 6 blank-separated fields)");
        if (!a->k_given)
            a->search.k = 100;
    } else if (a->run || a->qrels || a->tag) {
        return cli_bad_usage(PROG, "--run, --qrels and --tag go with --queries");
    }
    return -1;
}

#define OPTSTRING ":c:k:h"

/* An unknown option after the query's words is most likely an exclusion
 * ("rocket -solid") that getopt took for options; the message says how to
 * pass it. The option stays refused: taking it as query text would make
 * a mistyped option silently part of the query. */
static int unknown_option(int argc, char **argv, char **orig, const struct option *longopts,
                          int c)
{
    /* what to print is read from getopt's state before the rescan resets it */
    int unknown = c == '?', opt = optopt, ind = optind;
    int after = unknown && cli_getopt_after_words(argc, orig, OPTSTRING, longopts);
    optopt = opt;
    optind = ind;
    cli_getopt_error_hint(PROG, c, argv, after ? "(to exclude a word from a query, put the "
                                                 "query after --, or quote it)" : NULL);
    return cli_bad_usage(PROG, NULL);
}

/* The getopt loop of parse_args. Returns -1 to go on, or an exit status. */
static int parse_options(int argc, char **argv, char **orig, const struct option *longopts,
                         search_args *a)
{
    long k;
    int c;
    while ((c = getopt_long(argc, argv, OPTSTRING, longopts, NULL)) != -1) {
        switch (c) {
        case 'c': a->coll = optarg; break;
        case 'k':
            if (cli_parse_long(optarg, 1, 100000, &k) != 0)
                return cli_bad_usage(PROG, "-k wants a number from 1 to 100000");
            a->search.k = (int)k;
            a->k_given = 1;
            break;
        case 'h': usage(stdout); return CLI_EXIT_OK;
        case OPT_VERSION: printf("lctx-search %s\n", LCTX_VERSION_STRING); return CLI_EXIT_OK;
        case OPT_MODE:
            if (parse_mode(optarg, &a->search.mode) != 0)
                return cli_bad_usage(PROG, "--mode wants bm25, vector or hybrid");
            break;
        case OPT_FUSION:
            if (!strcmp(optarg, "rrf"))
                a->search.fusion = LCTX_FUSION_RRF;
            else if (!strcmp(optarg, "linear"))
                a->search.fusion = LCTX_FUSION_LINEAR;
            else
                return cli_bad_usage(PROG, "--fusion wants rrf or linear");
            break;
        case OPT_ALPHA:
            if (cli_parse_double(optarg, 0, 1, &a->search.alpha) != 0)
                return cli_bad_usage(PROG, "--alpha wants a number from 0 to 1");
            break;
        case OPT_LIKE: a->search.like = optarg; break;
        case OPT_JSON: a->json = 1; break;
        case OPT_EXPLAIN: a->explain = 1; break;
        case OPT_FILTER: a->search.filter = optarg; break;
        case OPT_QUERIES: a->queries = optarg; break;
        case OPT_RUN: a->run = optarg; break;
        case OPT_TAG: a->tag = optarg; break;
        case OPT_QRELS: a->qrels = optarg; break;
        case OPT_NO_RERANK: break;
        case OPT_RERANK: case OPT_CONTEXT: case OPT_BUDGET: case OPT_GENERATE:
            if (!a->unsupported)
                a->unsupported = unsupported_what(c);
            break;
        default:
            return unknown_option(argc, argv, orig, longopts, c);
        }
    }
    return -1;
}

/* Returns -1 to go on, or an exit status. */
static int parse_args(int argc, char **argv, search_args *a)
{
    static const struct option longopts[] = {
        { "collection", required_argument, NULL, 'c' },
        { "mode", required_argument, NULL, OPT_MODE },
        { "fusion", required_argument, NULL, OPT_FUSION },
        { "alpha", required_argument, NULL, OPT_ALPHA },
        { "like", required_argument, NULL, OPT_LIKE },
        { "json", no_argument, NULL, OPT_JSON },
        { "explain", no_argument, NULL, OPT_EXPLAIN },
        { "filter", required_argument, NULL, OPT_FILTER },
        { "queries", required_argument, NULL, OPT_QUERIES },
        { "run", required_argument, NULL, OPT_RUN },
        { "tag", required_argument, NULL, OPT_TAG },
        { "qrels", required_argument, NULL, OPT_QRELS },
        { "rerank", no_argument, NULL, OPT_RERANK },
        { "no-rerank", no_argument, NULL, OPT_NO_RERANK },
        { "context", no_argument, NULL, OPT_CONTEXT },
        { "budget", required_argument, NULL, OPT_BUDGET },
        { "generate", no_argument, NULL, OPT_GENERATE },
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, OPT_VERSION },
        { NULL, 0, NULL, 0 }
    };
    memset(a, 0, sizeof *a);
    lctx_search_opts_init(&a->search);
    opterr = 0;
    /* getopt_long reorders argv; the original order tells whether a bad
     * option came after the query's words (unknown_option). */
    char **orig = malloc(((size_t)argc + 1) * sizeof *orig);
    if (!orig) {
        cli_error(PROG, "out of memory");
        return CLI_EXIT_FAIL;
    }
    memcpy(orig, argv, ((size_t)argc + 1) * sizeof *orig);
    int status = parse_options(argc, argv, orig, longopts, a);
    free(orig);
    if (status >= 0)
        return status;
    if (optind < argc && !(a->query = join_words(argv + optind, argc - optind))) {
        cli_error(PROG, "out of memory");
        return CLI_EXIT_FAIL;
    }
    return validate(a);
}

static int run(lctx_db *db, search_args *a)
{
    if (a->queries) {
        cli_batch_opts bo = { a->queries, a->run, a->qrels, a->tag, a->json, a->search };
        return cli_batch_run(PROG, db, &bo);
    }
    cli_session_opts so;
    so.search = a->search;
    so.out.json = a->json;
    so.out.explain = a->explain;
    so.out.color = !a->json && isatty(STDOUT_FILENO) && !getenv("NO_COLOR");
    if (a->query)
        return cli_answer(PROG, db, a->query, NULL, &so.search, &so.out);
    if (a->search.like) /* more like this needs no words */
        return cli_answer(PROG, db, "", NULL, &so.search, &so.out);
    if (isatty(STDIN_FILENO))
        return cli_interactive(PROG, db, &so);
    return cli_answer_lines(PROG, db, stdin, &so);
}

/* The library's warnings (a vector cache it could not build, a collection
 * made with another ICU) on stderr, as lctx-index prints its own. */
static void on_warning(void *ctx, const char *message)
{
    (void)ctx;
    cli_warn(PROG, "%s", message);
}

int main(int argc, char **argv)
{
    search_args a;
    int status = parse_args(argc, argv, &a);
    if (status >= 0) {
        free(a.query);
        return status;
    }
    lctx_db *db = NULL;
    /* Many queries (a batch file, stdin lines, a session) pay for the vector
     * cache's build once; a single query, by words or --like alone (run),
     * would pay it for nothing: a one-shot --like read every vector. */
    int one_shot = a.query || (a.search.like && !a.queries);
    unsigned flags = LCTX_OPEN_READONLY | (one_shot ? 0 : LCTX_OPEN_VECTOR_CACHE);
    int rc = lctx_open(a.coll, flags, NULL, &db);
    if (rc != LCTX_OK) {
        if (rc == LCTX_ENOTFOUND)
            cli_error(PROG, "%s: no such collection", a.coll);
        else
            cli_open_error(PROG, a.coll, db, rc);
        if (db)
            lctx_close(db);
        free(a.query);
        return CLI_EXIT_FAIL;
    }
    lctx_set_warning_handler(db, on_warning, NULL);
    status = run(db, &a);
    lctx_close(db);
    free(a.query);
    if (fflush(stdout) != 0 && status == CLI_EXIT_OK)
        status = CLI_EXIT_FAIL;
    return status;
}
