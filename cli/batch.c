/*
 * batch.c — lctx-search's batch mode: a BEIR queries file in, a TREC run
 * out, and with judgments the three metrics the project reports.
 *
 *   lctx-search -c COLL --queries Q.jsonl --run OUT.trec [--tag T] [-k N]
 *               [--qrels QRELS.tsv] [--json]
 *
 * Each query line is {"_id": ..., "text": ...} ("id" and "query" are
 * accepted too). Every query is answered with k hits (100 unless -k is
 * given) and written as "qid Q0 docid rank score tag".
 *
 * The run is written in the order trec_eval will read it: score descending,
 * ties by document id descending. The library breaks ties the other way
 * (ascending id); re-sorting the tied hits here makes the rank column say
 * what every evaluator will actually use, and makes our own metrics (which
 * follow trec_eval) agree with the file. Scores are compared as written
 * (six decimals), since that is all an evaluator of the file can see.
 *
 * Query text is taken as plain words: double quotes and a minus sign at the
 * start of a word are blanked before searching. Test collections hold
 * natural-language questions, not query syntax; a stray quote in CISI or
 * CACM would otherwise turn half a question into one required phrase, and
 * Cranfield's "-dash" into an exclusion — and the peers we compare against
 * (FTS5, Xapian) are run as bags of words too.
 *
 * With --qrels the means are over the queries of the qrels that the queries
 * file holds; a query that found nothing scores 0 (a run file cannot show
 * such a query, so lctx-eval on the file averages over fewer queries unless
 * it is given -c).
 */
#include "cli/cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef struct query {
    char *id;
    char *text;
} query;

typedef struct query_list {
    query *v;
    size_t n, cap;
} query_list;

static void queries_free(query_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].id);
        free(l->v[i].text);
    }
    free(l->v);
    memset(l, 0, sizeof *l);
}

/* The string value of key, or a number printed as an integer (some BEIR
 * files write ids as numbers); NULL when absent. malloc'd. */
static char *json_field(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (cJSON_IsString(v) && v->valuestring)
        return strdup(v->valuestring);
    if (cJSON_IsNumber(v)) {
        char buf[64];
        snprintf(buf, sizeof buf, "%.17g", v->valuedouble);
        return strdup(buf);
    }
    return NULL;
}

static int has_blank(const char *s)
{
    return strpbrk(s, " \t\r\n\v\f") != NULL;
}

/* Parses one queries line into q; on failure returns -1 with err set. */
static int parse_query(const char *line, query *q, char *err, size_t errlen)
{
    cJSON *o = cJSON_Parse(line);
    if (!cJSON_IsObject(o)) {
        snprintf(err, errlen, "not a JSON object");
        cJSON_Delete(o);
        return -1;
    }
    q->id = json_field(o, "_id");
    if (!q->id)
        q->id = json_field(o, "id");
    q->text = json_field(o, "text");
    if (!q->text)
        q->text = json_field(o, "query");
    cJSON_Delete(o);
    if (!q->id || !q->text) {
        snprintf(err, errlen, "%s", !q->id ? "missing \"_id\"" : "missing \"text\"");
        free(q->id);
        free(q->text);
        return -1;
    }
    if (!*q->id || has_blank(q->id)) {
        snprintf(err, errlen, "query id \"%s\" is empty or contains blanks (not allowed in a TREC run)", q->id);
        free(q->id);
        free(q->text);
        return -1;
    }
    return 0;
}

static int queries_load(const char *prog, const char *path, query_list *l)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (!f) {
        cli_error(prog, "%s: %s", path, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    long lineno = 0;
    int rc = 0;
    while (getline(&line, &cap, f) >= 0) {
        lineno++;
        if (strspn(line, " \t\r\n") == strlen(line))
            continue;
        if (l->n == l->cap) {
            size_t ncap = l->cap ? l->cap * 2 : 64;
            query *nv = realloc(l->v, ncap * sizeof *nv);
            if (!nv) {
                cli_error(prog, "%s:%ld: out of memory", path, lineno);
                rc = -1;
                break;
            }
            l->v = nv;
            l->cap = ncap;
        }
        char err[256];
        if (parse_query(line, &l->v[l->n], err, sizeof err) != 0) {
            cli_error(prog, "%s:%ld: %s", path, lineno, err);
            rc = -1;
            break;
        }
        l->n++;
    }
    free(line);
    if (f != stdin)
        fclose(f);
    return rc;
}

/* One hit as the run file will hold it. */
typedef struct run_hit {
    const char *docid;
    double score;              /* as written, after rounding to 6 decimals */
    char text[48];
} run_hit;

static int cmp_run_hit(const void *a, const void *b)
{
    const run_hit *x = a, *y = b;
    if (x->score > y->score)
        return -1;
    if (x->score < y->score)
        return 1;
    return strcmp(y->docid, x->docid);
}

/* Writes one query's hits to out (may be NULL) and adds them to run (may be
 * NULL). Returns -1 on a document id a run cannot hold, or ENOMEM. */
static int emit_hits(const char *prog, const query *q, const lctx_results *res,
                     FILE *out, const char *tag, cli_run *run)
{
    size_t n = lctx_results_count(res);
    if (n == 0)
        return 0;
    run_hit *h = calloc(n, sizeof *h);
    if (!h) {
        cli_error(prog, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        const lctx_hit *hit = lctx_results_get(res, i);
        h[i].docid = hit->id ? hit->id : "";
        if (!*h[i].docid || has_blank(h[i].docid)) {
            cli_error(prog, "query %s: document id \"%s\" is empty or contains blanks "
                      "(not allowed in a TREC run)", q->id, h[i].docid);
            free(h);
            return -1;
        }
        snprintf(h[i].text, sizeof h[i].text, "%.6f", hit->score);
        h[i].score = strtod(h[i].text, NULL);
    }
    qsort(h, n, sizeof *h, cmp_run_hit);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (out)
            fprintf(out, "%s Q0 %s %zu %s %s\n", q->id, h[i].docid, i + 1, h[i].text, tag);
        if (run && cli_run_add(run, q->id, h[i].docid, h[i].score) != 0) {
            cli_error(prog, "out of memory");
            rc = -1;
        }
    }
    free(h);
    return rc;
}

/* Blanks query syntax in place: '"' anywhere, '-' at the start of a word. */
static void plain_words(char *q)
{
    for (char *p = q; *p; p++) {
        if (*p == '"' || (*p == '-' && (p == q || *(p - 1) == ' ' || *(p - 1) == '\t' || *(p - 1) == '(')))
            *p = ' ';
    }
}

/* Runs every query; returns an exit status. */
static int run_queries(const char *prog, lctx_db *db, const cli_batch_opts *o,
                       const query_list *ql, FILE *out, cli_run *run)
{
    lctx_search_opts so = o->search;
    so.snippets = 0;
    so.explain = 0;
    const char *tag = o->tag ? o->tag : "lctx";
    for (size_t i = 0; i < ql->n; i++) {
        lctx_results *res = NULL;
        plain_words(ql->v[i].text);
        int rc = lctx_search(db, ql->v[i].text, &so, &res);
        if (rc != LCTX_OK) {
            cli_error(prog, "query %s: %s", ql->v[i].id, cli_db_error(db, rc));
            lctx_results_free(res);
            return CLI_EXIT_FAIL;
        }
        if (!res || lctx_results_count(res) == 0) {
            const char *why = lctx_errmsg(db);
            cli_warn(prog, "query %s: no results%s%s", ql->v[i].id,
                     why && *why ? ": " : "", why && *why ? why : "");
        } else if (emit_hits(prog, &ql->v[i], res, out, tag, run) != 0) {
            lctx_results_free(res);
            return CLI_EXIT_FAIL;
        }
        lctx_results_free(res);
    }
    return CLI_EXIT_OK;
}

static int evaluate(const char *prog, const cli_batch_opts *o, cli_qrels *qrels,
                    cli_run *run, const query_list *ql, double elapsed)
{
    const char **ids = malloc((ql->n ? ql->n : 1) * sizeof *ids);
    if (!ids) {
        cli_error(prog, "out of memory");
        return CLI_EXIT_FAIL;
    }
    for (size_t i = 0; i < ql->n; i++)
        ids[i] = ql->v[i].id;
    cli_eval_opts eo = { CLI_EVAL_LISTED, ids, ql->n, NULL, NULL };
    cli_metrics m;
    char err[512];
    int rc = cli_evaluate(qrels, run, &eo, &m, err, sizeof err);
    free(ids);
    if (rc != 0) {
        cli_error(prog, "%s", err);
        return CLI_EXIT_FAIL;
    }
    if (m.queries == 0)
        cli_warn(prog, "no query of %s has relevant judgments in %s", o->queries, o->qrels);
    if (o->json) {
        cJSON *j = cli_metrics_json(&m);
        if (j) {
            cJSON_AddNumberToObject(j, "queries_run", (double)ql->n);
            cJSON_AddNumberToObject(j, "elapsed_ms", (double)(long long)(elapsed * 1e3));
        }
        cli_print_json(stdout, j);
    } else {
        cli_metrics_print(stdout, &m, 0);
    }
    return CLI_EXIT_OK;
}

int cli_batch_run(const char *prog, lctx_db *db, const cli_batch_opts *o)
{
    cli_qrels qrels = { 0 };
    cli_run run = { 0 };
    query_list ql = { 0 };
    FILE *out = NULL;
    int status = CLI_EXIT_FAIL;
    char err[512];

    /* Read the judgments before spending time on the queries. */
    if (o->qrels && cli_qrels_load(o->qrels, &qrels, err, sizeof err) != 0) {
        cli_error(prog, "%s", err);
        goto done;
    }
    if (queries_load(prog, o->queries, &ql) != 0)
        goto done;
    if (o->run) {
        out = strcmp(o->run, "-") == 0 ? stdout : fopen(o->run, "w");
        if (!out) {
            cli_error(prog, "%s: %s", o->run, strerror(errno));
            goto done;
        }
    }
    double t0 = cli_now();
    status = run_queries(prog, db, o, &ql, out, o->qrels ? &run : NULL);
    double elapsed = cli_now() - t0;
    if (out && out != stdout) {
        if (fclose(out) != 0 && status == CLI_EXIT_OK) {
            cli_error(prog, "%s: %s", o->run, strerror(errno));
            status = CLI_EXIT_FAIL;
        }
        out = NULL;
    }
    if (status != CLI_EXIT_OK)
        goto done;
    fprintf(stderr, "%s: %zu queries in %.2f s (%.1f queries/s)\n", prog, ql.n, elapsed,
            elapsed > 0 ? (double)ql.n / elapsed : 0.0);
    if (o->qrels)
        status = evaluate(prog, o, &qrels, &run, &ql, elapsed);
done:
    if (out && out != stdout)
        fclose(out);
    fflush(stdout);
    queries_free(&ql);
    cli_qrels_free(&qrels);
    cli_run_free(&run);
    return status;
}
