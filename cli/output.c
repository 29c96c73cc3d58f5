/*
 * output.c — how lctx-search shows a ranked list.
 *
 * Two audiences. People read the text form: one block per hit, rank, score,
 * id and title on the first line, the snippet folded to one line under it,
 * matched words in bold when the output is a terminal (brackets otherwise,
 * so highlights survive a pipe into less or a file). Programs read the JSON
 * form: one object per query,
 *
 *   {"query":"...","terms":[...],"hits":[{"rank":1,"id":"...","title":"...",
 *    "uri":"...","score":12.3,"snippet":"...","explain":{...}}],
 *    "elapsed_ms":1.2}
 *
 * printed on one line, so a stream of queries gives a JSON Lines stream.
 * "explain" is the library's JSON parsed and embedded as an object (kept as
 * a string if it ever fails to parse, rather than losing it); "terms" is the
 * query as the engine normalised it, which is what one needs to understand
 * why a query matched nothing.
 *
 * The one-line JSON printer (cli_print_json) is shared by the commands
 * that print JSON: stats, batch metrics and hits all go out the same way.
 * (treceval.c keeps its own four lines: tests/test_treceval.c compiles it
 * alone, without the other cli/ files.)
 */
#include "cli/cli.h"

#include <stdlib.h>
#include <string.h>

#define ANSI_BOLD  "\033[1m"
#define ANSI_RESET "\033[0m"

const char *cli_hl_open(int color)
{
    return color ? ANSI_BOLD : "[";
}

const char *cli_hl_close(int color)
{
    return color ? ANSI_RESET : "]";
}

/* Adds s to o as a string, or null when s is NULL. */
static void add_str(cJSON *o, const char *key, const char *s)
{
    if (s)
        cJSON_AddStringToObject(o, key, s);
    else
        cJSON_AddNullToObject(o, key);
}

/* Adds the JSON text s under key: as parsed JSON when it parses, else as a
 * string; nothing when s is NULL. */
static void add_raw_json(cJSON *o, const char *key, const char *s)
{
    if (!s)
        return;
    cJSON *v = cJSON_Parse(s);
    if (v)
        cJSON_AddItemToObject(o, key, v);
    else
        cJSON_AddStringToObject(o, key, s);
}

static cJSON *hit_json(const lctx_hit *h, size_t rank)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddNumberToObject(o, "rank", (double)rank);
    add_str(o, "id", h->id);
    add_str(o, "title", h->title);
    add_str(o, "uri", h->uri);
    cJSON_AddNumberToObject(o, "score", h->score);
    if (h->bm25_score != 0 || h->vector_score != 0) {
        cJSON_AddNumberToObject(o, "bm25_score", h->bm25_score);
        cJSON_AddNumberToObject(o, "vector_score", h->vector_score);
    }
    add_str(o, "snippet", h->snippet);
    add_raw_json(o, "explain", h->explain);
    return o;
}

static void print_json(FILE *f, const char *query, const lctx_results *res, double elapsed_ms)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *hits = cJSON_CreateArray();
    if (!o || !hits) {
        cJSON_Delete(o);
        cJSON_Delete(hits);
        fputs("{}\n", f);
        return;
    }
    add_str(o, "query", query);
    if (res)
        add_raw_json(o, "terms", lctx_results_query_json(res));
    size_t n = res ? lctx_results_count(res) : 0;
    for (size_t i = 0; i < n; i++) {
        cJSON *h = hit_json(lctx_results_get(res, i), i + 1);
        if (h)
            cJSON_AddItemToArray(hits, h);
    }
    cJSON_AddItemToObject(o, "hits", hits);
    cJSON_AddNumberToObject(o, "elapsed_ms", (double)(long long)(elapsed_ms * 1000.0) / 1000.0);
    cli_print_json(f, o);
}

void cli_print_json(FILE *f, cJSON *o)
{
    char *s = o ? cJSON_PrintUnformatted(o) : NULL;
    fprintf(f, "%s\n", s ? s : "{}");
    cJSON_free(s);
    cJSON_Delete(o);
}

static void print_hit_text(FILE *f, const lctx_hit *h, size_t rank, const cli_output_opts *o)
{
    char *title = cli_squash_space(h->title);
    fprintf(f, "%3zu. %8.4f  %s", rank, h->score, h->id ? h->id : "?");
    if (title && *title)
        fprintf(f, "  %s%s%s", o->color ? ANSI_BOLD : "", title, o->color ? ANSI_RESET : "");
    fputc('\n', f);
    free(title);
    if (h->snippet) {
        char *snip = cli_squash_space(h->snippet);
        if (snip && *snip)
            fprintf(f, "     %s\n", snip);
        free(snip);
    }
    if (h->uri && *h->uri && (!h->id || strcmp(h->uri, h->id) != 0))
        fprintf(f, "     %s\n", h->uri);
    if (o->explain && (h->bm25_score != 0 || h->vector_score != 0))
        fprintf(f, "     bm25 %.4f  vector %.4f\n", h->bm25_score, h->vector_score);
    if (o->explain && h->explain) {
        /* One line: the library's JSON re-printed compactly. */
        cJSON *v = cJSON_Parse(h->explain);
        char *flat = v ? cJSON_PrintUnformatted(v) : NULL;
        fprintf(f, "     explain: %s\n", flat ? flat : h->explain);
        cJSON_free(flat);
        cJSON_Delete(v);
    }
}

void cli_print_results(FILE *f, const char *query, const lctx_results *res,
                       double elapsed_ms, const cli_output_opts *o)
{
    if (o->json) {
        print_json(f, query, res, elapsed_ms);
        return;
    }
    size_t n = res ? lctx_results_count(res) : 0;
    for (size_t i = 0; i < n; i++)
        print_hit_text(f, lctx_results_get(res, i), i + 1, o);
    if (n == 0)
        fprintf(f, "no results\n");
    if (o->explain && res) {
        const char *terms = lctx_results_query_json(res);
        if (terms)
            fprintf(f, "query terms: %s\n", terms);
    }
}

/* ------------------------------------------------------------- answering */

int cli_answer(const char *prog, lctx_db *db, const char *query,
               const lctx_search_opts *so, const cli_output_opts *oo)
{
    lctx_search_opts opts = *so;
    opts.snippets = 1;
    if (!oo->json) {
        opts.hl_open = cli_hl_open(oo->color);
        opts.hl_close = cli_hl_close(oo->color);
    }
    opts.explain = oo->explain || so->explain;
    lctx_results *res = NULL;
    double t0 = cli_now();
    int rc = lctx_search(db, query, &opts, &res);
    double ms = (cli_now() - t0) * 1000.0;
    if (rc != LCTX_OK) {
        cli_error(prog, "%s", cli_db_error(db, rc));
        lctx_results_free(res);
        return CLI_EXIT_FAIL;
    }
    /* Zero hits with a reason (empty or stopword-only query): say why on
     * stderr; it is still an answer, so the status stays 0. */
    if (!res || lctx_results_count(res) == 0) {
        const char *why = lctx_errmsg(db);
        if (why && *why)
            cli_error(prog, "%s", why);
    }
    cli_print_results(stdout, query, res, ms, oo);
    lctx_results_free(res);
    fflush(stdout);
    return CLI_EXIT_OK;
}
