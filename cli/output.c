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
 * A query that fails (an error from the engine, a line of standard input
 * that is not a query) prints, in JSON output, the same shape with the
 * reason instead of hits,
 *
 *   {"query":"...","hits":[],"error":"..."}
 *
 * so a stream of JSON answers stays one line per query asked; the reason
 * also goes to stderr as usual.
 *
 * Text output is for terminals, and a terminal obeys the control bytes it
 * is sent. Ids, titles, uris and snippets are whatever was indexed, so each
 * is printed through put_safe: C0 controls, DEL, C1 controls and bytes that
 * are not UTF-8 become U+FFFD, and a document cannot move the cursor,
 * retitle the window or clear the screen. Nor can it turn the rest of the
 * line around: the bidirectional embeddings, overrides and isolates
 * (U+202A-U+202E, U+2066-U+2069) that a field leaves open are closed at
 * its end, so an RLO in a title reverses the title and not the score and
 * id printed after it ("Trojan Source"). They are kept, not replaced,
 * because right-to-left text uses them legitimately. The highlighting
 * this file wants on a terminal survives because the library is asked to mark matches with
 * bytes that never occur in UTF-8 (0xFF, 0xFE), and the engine stores only
 * UTF-8: put_safe turns exactly those into ANSI bold and reset. JSON output
 * is left exact; cJSON escapes what JSON requires.
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

/* Highlight markers asked of the library for a terminal (see above). */
#define MARK_OPEN  "\xff"
#define MARK_CLOSE "\xfe"

static int is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* Whether s is NULL or only whitespace. */
static int blank(const char *s)
{
    if (s)
        for (; *s; s++)
            if (!is_space((unsigned char)*s))
                return 0;
    return 1;
}

/* Unicode's limit on nested bidi levels (UAX #9, max_depth); a field that
 * opens more gets the excess replaced. */
#define BIDI_MAX_DEPTH 125

/* The bidi controls a field has open, innermost last: for each, whether it
 * is an isolate (closed by PDI) or an embedding/override (closed by PDF). */
typedef struct bidi_stack {
    unsigned char isolate[BIDI_MAX_DEPTH];
    int n;
} bidi_stack;

/* Tracks cp on b; returns 0 to print it, -1 to replace it (too deep). An
 * unmatched closer is printed: nothing of ours is open for it to close. */
static int bidi_track(bidi_stack *b, uint32_t cp)
{
    int isolate = cp >= 0x2066 && cp <= 0x2068;       /* LRI, RLI, FSI */
    if (isolate || (cp >= 0x202A && cp <= 0x202E && cp != 0x202C)) {
        if (b->n == BIDI_MAX_DEPTH)
            return -1;
        b->isolate[b->n++] = (unsigned char)isolate;
    } else if (cp == 0x202C) {                       /* PDF: the innermost embedding */
        if (b->n > 0 && !b->isolate[b->n - 1])
            b->n--;
    } else if (cp == 0x2069) {                       /* PDI: its isolate and all inside */
        int i = b->n;
        while (i > 0 && !b->isolate[i - 1])
            i--;
        if (i > 0)
            b->n = i - 1;
    }
    return 0;
}

/* Closes what b has open, innermost first. */
static void bidi_close(FILE *f, bidi_stack *b)
{
    while (b->n > 0)
        fputs(b->isolate[--b->n] ? "\xe2\x81\xa9" : "\xe2\x80\xac", f);   /* PDI, PDF */
}

/* Writes s for a terminal. squash: runs of whitespace become one space and
 * the ends are dropped (titles and snippets are prose; a newline in one
 * would break the layout); otherwise whitespace other than ' ' is a control
 * like any other. marks: MARK_OPEN/MARK_CLOSE become ANSI bold/reset. */
static void put_safe(FILE *f, const char *s, int squash, int marks)
{
    size_t n = s ? strlen(s) : 0;
    int space = 0, started = 0;
    bidi_stack bidi = {.n = 0};
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        if (squash && is_space(c)) {
            space = started;
            i++;
            continue;
        }
        if (space)
            fputc(' ', f);
        space = 0;
        started = 1;
        uint32_t cp = 0;
        size_t len = cli_utf8_next(s + i, n - i, &cp);
        if (marks && (c == 0xFF || c == 0xFE)) {
            fputs(c == 0xFF ? ANSI_BOLD : ANSI_RESET, f);
            len = 1;
        } else if (len == 0 || cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) ||
                   bidi_track(&bidi, cp) != 0) {
            fputs(CLI_REPLACEMENT, f);
            len = len ? len : 1;
        } else {
            fwrite(s + i, 1, len, f);
        }
        i += len;
    }
    bidi_close(f, &bidi);
}

void cli_put_terminal(FILE *f, const char *s)
{
    put_safe(f, s, 0, 0);
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
    fprintf(f, "%3zu. %8.4f  ", rank, h->score);
    put_safe(f, h->id ? h->id : "?", 0, 0);
    if (!blank(h->title)) {
        fputs(o->color ? "  " ANSI_BOLD : "  ", f);
        put_safe(f, h->title, 1, 0);
        fputs(o->color ? ANSI_RESET : "", f);
    }
    fputc('\n', f);
    if (!blank(h->snippet)) {
        fputs("     ", f);
        put_safe(f, h->snippet, 1, o->color);
        fputc('\n', f);
    }
    if (h->uri && *h->uri && (!h->id || strcmp(h->uri, h->id) != 0)) {
        fputs("     ", f);
        put_safe(f, h->uri, 0, 0);
        fputc('\n', f);
    }
    if (o->explain && (h->bm25_score != 0 || h->vector_score != 0))
        fprintf(f, "     bm25 %.4f  vector %.4f\n", h->bm25_score, h->vector_score);
    if (o->explain && h->explain) {
        /* One line: the library's JSON re-printed compactly (cJSON leaves
         * DEL and C1 unescaped, hence put_safe). */
        cJSON *v = cJSON_Parse(h->explain);
        char *flat = v ? cJSON_PrintUnformatted(v) : NULL;
        fputs("     explain: ", f);
        put_safe(f, flat ? flat : h->explain, 0, 0);
        fputc('\n', f);
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
        if (terms) {
            fputs("query terms: ", f);
            put_safe(f, terms, 0, 0);
            fputc('\n', f);
        }
    }
}

/* ------------------------------------------------------------- answering */

/* "WHERE: " when where is given, for messages about one query of many. */
static const char *at(const char *where, char *buf, size_t len)
{
    if (!where)
        return "";
    snprintf(buf, len, "%s: ", where);
    return buf;
}

void cli_answer_failed(const char *prog, const char *query, size_t len, const char *where,
                       const char *reason, const cli_output_opts *oo)
{
    char buf[64];
    cli_error(prog, "%s%s", at(where, buf, sizeof buf), reason);
    if (!oo->json)
        return;
    /* The query as JSON can hold it: the line may not be UTF-8. */
    char *q = cli_utf8_repair(query ? query : "", query ? len : 0);
    cJSON *o = cJSON_CreateObject();
    if (o) {
        add_str(o, "query", q ? q : "");
        cJSON_AddItemToObject(o, "hits", cJSON_CreateArray());
        add_str(o, "error", reason);
    }
    cli_print_json(stdout, o);
    free(q);
    fflush(stdout);
}

int cli_answer(const char *prog, lctx_db *db, const char *query, const char *where,
               const lctx_search_opts *so, const cli_output_opts *oo)
{
    lctx_search_opts opts = *so;
    opts.snippets = 1;
    if (!oo->json) {
        opts.hl_open = oo->color ? MARK_OPEN : "[";
        opts.hl_close = oo->color ? MARK_CLOSE : "]";
    }
    opts.explain = oo->explain || so->explain;
    lctx_results *res = NULL;
    double t0 = cli_now();
    int rc = lctx_search(db, query, &opts, &res);
    double ms = (cli_now() - t0) * 1000.0;
    if (rc != LCTX_OK) {
        cli_answer_failed(prog, query, strlen(query), where, cli_db_error(db, rc), oo);
        lctx_results_free(res);
        return CLI_EXIT_FAIL;
    }
    /* Zero hits with a reason (empty or stopword-only query): say why on
     * stderr; it is still an answer, so the status stays 0. */
    if (!res || lctx_results_count(res) == 0) {
        const char *why = lctx_errmsg(db);
        char buf[64];
        if (why && *why)
            cli_error(prog, "%s%s", at(where, buf, sizeof buf), why);
    }
    cli_print_results(stdout, query, res, ms, oo);
    lctx_results_free(res);
    fflush(stdout);
    return CLI_EXIT_OK;
}
