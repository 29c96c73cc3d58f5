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
 * The queries file is read and checked whole before the first search, so a
 * bad line stops the run before the run file is opened (an existing file
 * is left as it was). Checked: each line is one JSON object and nothing
 * after it; the id is a string or an integer below 2^53 in magnitude (a
 * double, which is what cJSON keeps, cannot hold other numbers exactly),
 * the text a string; both are UTF-8 (the library would refuse the query
 * only when its turn came, after part of the run was written) and neither
 * holds \u0000, which cJSON would take as the end of the C string and so
 * cut the id or text short without a word; and no id is given twice,
 * since a run with two blocks for one query is one every evaluator refuses
 * or misreads; nor is a key that is read ("_id", "id", "text", "query")
 * given twice in a line, which readers of JSON resolve differently.
 * Errors name FILE:LINE.
 *
 * The run is written in the order trec_eval will read it: score descending,
 * ties by document id descending. The library breaks ties its own way (by
 * the order documents were added); re-sorting the tied hits here makes the
 * rank column say what every evaluator will actually use, and makes our
 * own metrics (which follow trec_eval) agree with the file. Scores are
 * compared as written (six decimals), since that is all an evaluator of
 * the file can see.
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
 * it is given -c). They go to standard output, or to standard error when
 * the run does ("--run -"), so the run stays a run a pipe can evaluate.
 *
 * The run is written to OUT.tmp.PID beside OUT and renamed over it once
 * every query has been answered: a run that fails part way (a document id
 * a run cannot hold, a search error) leaves OUT as it was, not half of a
 * new run that an evaluator would score without a word.
 */
#include "cli/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

typedef struct query {
    char *id;
    char *text;
    long line;                 /* in the queries file, for messages */
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

/* Integers a double holds exactly and tells apart from its neighbours:
 * from 2^53 on, cJSON reads 2^53 + 1 as 2^53. */
#define QUERY_ID_LIMIT 9007199254740992.0     /* 2^53 */

/* A numeric id as text: "%.17g", which prints every integer below 2^53 in
 * full. Anything else is refused, to be quoted: cJSON keeps numbers as
 * doubles, so 0.1 would become "0.10000000000000001" and a large id its
 * rounded neighbour. 0, or -1 with err set. */
static int number_id(const cJSON *v, const char *name, char *buf, size_t buflen,
                     char *err, size_t errlen)
{
    double d = v->valuedouble;
    /* range first: casting an out-of-range double is undefined */
    if (!(d > -QUERY_ID_LIMIT && d < QUERY_ID_LIMIT) || d != (double)(long long)d) {
        snprintf(err, errlen, "numeric \"%s\" is not an integer below 2^53 in magnitude, "
                 "so not kept exactly: quote it as a string", name);
        return -1;
    }
    snprintf(buf, buflen, "%.17g", d);
    return 0;
}

/* Refuses a string that is not UTF-8: it could not be searched, and would
 * go into the run file as it is. 0, or -1 with err set. */
static int check_utf8(const char *s, const char *name, char *err, size_t errlen)
{
    size_t bad;
    if (cli_utf8_check(s, strlen(s), &bad) == 0)
        return 0;
    snprintf(err, errlen, "\"%s\" holds invalid UTF-8 at byte %zu of its value", name, bad);
    return -1;
}

/* Refuses key given more than once at the top level of o: cJSON answers
 * with the first, Python's json and jq with the last, so two tools would
 * run two different queries from the line. Only the keys read are
 * checked; others are never looked at. 0, or -1 with err set. */
static int check_once(const cJSON *o, const char *key, char *err, size_t errlen)
{
    int seen = 0;
    for (const cJSON *c = o->child; c; c = c->next)
        if (c->string && strcmp(c->string, key) == 0 && ++seen == 2) {
            snprintf(err, errlen, "key \"%s\" appears twice (readers disagree on which counts)",
                     key);
            return -1;
        }
    return 0;
}

/* Takes the value of key (or, when absent, of alt) into *out, malloc'd: a
 * UTF-8 string, or with numbers_ok an integer number (some BEIR files
 * write ids as numbers). 0, or -1 with err set. */
static int take_field(const cJSON *o, const char *key, const char *alt, int numbers_ok,
                      char **out, char *err, size_t errlen)
{
    const char *name = key;
    if (check_once(o, key, err, errlen) != 0 || check_once(o, alt, err, errlen) != 0)
        return -1;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v)
        v = cJSON_GetObjectItemCaseSensitive(o, name = alt);
    if (!v) {
        snprintf(err, errlen, "missing \"%s\"", key);
        return -1;
    }
    if (cJSON_IsString(v) && v->valuestring) {
        if (check_utf8(v->valuestring, name, err, errlen) != 0)
            return -1;
        *out = strdup(v->valuestring);
    } else if (numbers_ok && cJSON_IsNumber(v)) {
        char buf[64];
        if (number_id(v, name, buf, sizeof buf, err, errlen) != 0)
            return -1;
        *out = strdup(buf);
    } else {
        snprintf(err, errlen, "\"%s\" is not a string%s", name, numbers_ok ? " or a number" : "");
        return -1;
    }
    if (!*out) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

static int has_blank(const char *s)
{
    return strpbrk(s, " \t\r\n\v\f") != NULL;
}

/* Whether a JSON string in s holds the escape \u0000. */
static int has_nul_escape(const char *s)
{
    int in_string = 0;
    for (; *s; s++) {
        if (*s == '"') {
            in_string = !in_string;
        } else if (in_string && *s == '\\') {
            if (s[1] == 'u' && strncmp(s + 2, "0000", 4) == 0)
                return 1;
            if (s[1])
                s++;            /* the escaped character, '"' included */
        }
    }
    return 0;
}

/* Parses the JSON object of one line (len bytes) into o; -1 with err set. */
static int parse_object(const char *line, size_t len, cJSON **o, char *err, size_t errlen)
{
    if (memchr(line, '\0', len)) {
        snprintf(err, errlen, "line holds a NUL byte");
        return -1;
    }
    if (has_nul_escape(line)) {
        snprintf(err, errlen, "a string holds \\u0000 (NUL), which would cut it short");
        return -1;
    }
    const char *end = NULL;
    *o = cJSON_ParseWithOpts(line, &end, 0);
    if (!cJSON_IsObject(*o)) {
        snprintf(err, errlen, "not a JSON object");
        cJSON_Delete(*o);
        return -1;
    }
    end += strspn(end, " \t\r\n");
    if (*end) {
        snprintf(err, errlen, "unexpected text after the JSON object");
        cJSON_Delete(*o);
        return -1;
    }
    return 0;
}

/* Parses one queries line into q; on failure returns -1 with err set. */
static int parse_query(const char *line, size_t len, query *q, char *err, size_t errlen)
{
    cJSON *o = NULL;
    if (parse_object(line, len, &o, err, errlen) != 0)
        return -1;
    q->id = q->text = NULL;
    int rc = take_field(o, "_id", "id", 1, &q->id, err, errlen);
    if (rc == 0)
        rc = take_field(o, "text", "query", 0, &q->text, err, errlen);
    cJSON_Delete(o);
    if (rc == 0 && (!*q->id || has_blank(q->id))) {
        snprintf(err, errlen, "query id \"%s\" is empty or contains blanks (not allowed in a TREC run)", q->id);
        rc = -1;
    }
    if (rc != 0) {
        free(q->id);
        free(q->text);
    }
    return rc;
}

static int cmp_query_id(const void *a, const void *b)
{
    const query *x = *(const query *const *)a, *y = *(const query *const *)b;
    int c = strcmp(x->id, y->id);
    return c ? c : (x->line > y->line) - (x->line < y->line);
}

/* Refuses an id given twice, naming the repeat that comes first in the
 * file. Sorting a copy finds them all in O(n log n). 0 or -1. */
static int check_duplicates(const char *prog, const char *path, const query_list *l)
{
    if (l->n < 2)
        return 0;
    const query **v = malloc(l->n * sizeof *v);
    if (!v) {
        cli_error(prog, "%s: out of memory", path);
        return -1;
    }
    for (size_t i = 0; i < l->n; i++)
        v[i] = &l->v[i];
    qsort(v, l->n, sizeof *v, cmp_query_id);
    const query *first = NULL, *again = NULL;
    for (size_t i = 1; i < l->n; i++) {
        if (strcmp(v[i]->id, v[i - 1]->id) == 0 && (!again || v[i]->line < again->line)) {
            again = v[i];
            /* the earliest line of this id: walk back over its run */
            size_t j = i - 1;
            while (j > 0 && strcmp(v[j - 1]->id, v[i]->id) == 0)
                j--;
            first = v[j];
        }
    }
    if (again)
        cli_error(prog, "%s:%ld: query id \"%s\" given twice (first on line %ld)",
                  path, again->line, again->id, first->line);
    free(v);
    return again ? -1 : 0;
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
    ssize_t len;
    long lineno = 0;
    int rc = 0;
    while ((len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        if (strspn(line, " \t\r\n") == (size_t)len)
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
        if (parse_query(line, (size_t)len, &l->v[l->n], err, sizeof err) != 0) {
            cli_error(prog, "%s:%ld: %s", path, lineno, err);
            rc = -1;
            break;
        }
        l->v[l->n++].line = lineno;
    }
    if (rc == 0 && ferror(f)) {
        cli_error(prog, "%s: read error", path);
        rc = -1;
    }
    free(line);
    if (f != stdin)
        fclose(f);
    if (rc == 0)
        rc = check_duplicates(prog, path, l);
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

/* Blanks query syntax in place: '"' and '*' anywhere, '-' and '+' at the
 * start of a word, the ':' of a word-initial "title:". */
static void plain_words(char *q)
{
    for (char *p = q; *p; p++) {
        int word_start = p == q || *(p - 1) == ' ' || *(p - 1) == '\t' || *(p - 1) == '(';
        if (*p == '"' || *p == '*' || ((*p == '-' || *p == '+') && word_start))
            *p = ' ';
        else if (word_start && strncasecmp(p, "title:", 6) == 0)
            p[5] = ' ';
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
    FILE *f = stdout;
    if (o->run && strcmp(o->run, "-") == 0) {
        fflush(stdout);         /* the run first, where both reach one terminal */
        f = stderr;
    }
    if (o->json) {
        cJSON *j = cli_metrics_json(&m);
        if (j) {
            cJSON_AddNumberToObject(j, "queries_run", (double)ql->n);
            cJSON_AddNumberToObject(j, "elapsed_ms", (double)(long long)(elapsed * 1e3));
        }
        cli_print_json(f, j);
    } else {
        cli_metrics_print(f, &m, 0);
    }
    return CLI_EXIT_OK;
}

/* A new file beside path for the run, with the permissions a plain
 * fopen would give it; its name into tmp. NULL with the message printed. */
static FILE *open_run_tmp(const char *prog, const char *path, char *tmp, size_t len)
{
    if (snprintf(tmp, len, "%s.tmp.%ld", path, (long)getpid()) >= (int)len) {
        cli_error(prog, "%s: name too long", path);
        return NULL;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        cli_error(prog, "%s: %s", tmp, strerror(errno));
        if (fd >= 0) {
            close(fd);
            unlink(tmp);
        }
    }
    return f;
}

int cli_batch_run(const char *prog, lctx_db *db, const cli_batch_opts *o)
{
    cli_qrels qrels = { 0 };
    cli_run run = { 0 };
    query_list ql = { 0 };
    FILE *out = NULL;
    int status = CLI_EXIT_FAIL;
    char err[512], tmp[4096] = "";

    /* Read the judgments before spending time on the queries. */
    if (o->qrels && cli_qrels_load(o->qrels, &qrels, err, sizeof err) != 0) {
        cli_error(prog, "%s", err);
        goto done;
    }
    if (queries_load(prog, o->queries, &ql) != 0)
        goto done;
    if (o->run) {
        out = strcmp(o->run, "-") == 0 ? stdout : open_run_tmp(prog, o->run, tmp, sizeof tmp);
        if (!out)
            goto done;
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
        if (status == CLI_EXIT_OK && rename(tmp, o->run) != 0) {
            cli_error(prog, "%s: %s", o->run, strerror(errno));
            status = CLI_EXIT_FAIL;
        }
        if (status != CLI_EXIT_OK)
            unlink(tmp);
    }
    if (status != CLI_EXIT_OK)
        goto done;
    fprintf(stderr, "%s: %zu queries in %.2f s (%.1f queries/s)\n", prog, ql.n, elapsed,
            elapsed > 0 ? (double)ql.n / elapsed : 0.0);
    if (o->qrels)
        status = evaluate(prog, o, &qrels, &run, &ql, elapsed);
done:
    if (out && out != stdout) {
        fclose(out);
        unlink(tmp);
    }
    fflush(stdout);
    queries_free(&ql);
    cli_qrels_free(&qrels);
    cli_run_free(&run);
    return status;
}
