/*
 * treceval.c — nDCG@10, Recall@100 and MRR@10 computed the way trec_eval
 * computes them, so numbers printed by lctx-search --qrels and lctx-eval can
 * be put next to numbers anyone else got from trec_eval (or pytrec_eval, as
 * BEIR uses) on the same run.
 *
 * The details that make two evaluators disagree, and what we do:
 *
 *   order     trec_eval ignores the rank column of a run. It sorts each
 *             query's lines by score descending and breaks ties by document
 *             id in *descending* strcmp order. We do the same, so a run whose
 *             tied documents are listed in another order still scores alike.
 *   relevant  a judgment with level >= 1. Levels 0 and below are judged
 *             non-relevant.
 *   nDCG@10   ndcg_cut_10: gain = the relevance level itself (not 2^rel-1),
 *             discount log2(rank+1) with ranks from 1; the ideal ranking is
 *             every relevant judgment of the query sorted by level, cut at 10.
 *   Recall@100  relevant documents in the top 100 / relevant judgments.
 *   MRR@10    1/rank of the first relevant document when it is in the top 10,
 *             else 0 (trec_eval's recip_rank cut at 10).
 *   queries   a query whose judgments hold no relevant document is left out
 *             of every mean (trec_eval would average in a 0 for it; BEIR-style
 *             qrels rarely have such queries, and a 0 there measures the
 *             judgments, not the system). Otherwise the caller chooses the
 *             set (enum cli_eval_over): trec_eval by default averages over
 *             the queries the run answers; -c over all judged queries.
 *   BOM       a UTF-8 byte order mark opening a qrels or run file is
 *             skipped (kept, it would be part of the first query id).
 *   header    BEIR qrels start with "query-id corpus-id score". The first
 *             line is taken as that header only when it looks like one:
 *             three fields, the first and third names (letters, '-', '_')
 *             rather than values. Any other first line is a judgment, and a
 *             relevance that is not an integer there is an error naming the
 *             line, as anywhere else, instead of a judgment silently lost.
 *   duplicates  a document listed twice for one query in a run is an error
 *             (trec_eval refuses such runs too). A pair judged twice in the
 *             qrels keeps its highest level (trec_eval refuses that file).
 *
 * Everything works on sorted arrays and binary search: qrels sorted by
 * (qid, docid), runs by (qid, score desc, docid desc). That is O(n log n)
 * with no hash tables to get wrong, and fast enough for a million run lines.
 */
#include "cli/cli.h"

#include <ctype.h>
#include <errno.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* --------------------------------------------------------------- building */

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

/* Copies of a (qid, docid) pair into *qid_out and *docid_out: both or
 * neither. */
static int dup_pair(const char *qid, const char *docid, char **qid_out, char **docid_out)
{
    char *q = dup_str(qid), *d = dup_str(docid);
    if (!q || !d) {
        free(q);
        free(d);
        return -1;
    }
    *qid_out = q;
    *docid_out = d;
    return 0;
}

static int grow(void **v, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap)
        return 0;
    size_t ncap = *cap ? *cap * 2 : 256;
    void *nv = realloc(*v, ncap * elem);
    if (!nv)
        return -1;
    *v = nv;
    *cap = ncap;
    return 0;
}

int cli_qrels_add(cli_qrels *q, const char *qid, const char *docid, int rel)
{
    if (grow((void **)&q->v, &q->cap, q->n, sizeof q->v[0]) != 0)
        return -1;
    cli_judgment *j = &q->v[q->n];
    if (dup_pair(qid, docid, &j->qid, &j->docid) != 0)
        return -1;
    j->rel = rel;
    q->n++;
    q->sorted = 0;
    return 0;
}

int cli_run_add(cli_run *r, const char *qid, const char *docid, double score)
{
    if (grow((void **)&r->v, &r->cap, r->n, sizeof r->v[0]) != 0)
        return -1;
    cli_run_entry *e = &r->v[r->n];
    if (dup_pair(qid, docid, &e->qid, &e->docid) != 0)
        return -1;
    e->score = score;
    r->n++;
    r->sorted = 0;
    return 0;
}

void cli_qrels_free(cli_qrels *q)
{
    for (size_t i = 0; i < q->n; i++) {
        free(q->v[i].qid);
        free(q->v[i].docid);
    }
    free(q->v);
    memset(q, 0, sizeof *q);
}

void cli_run_free(cli_run *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free(r->v[i].qid);
        free(r->v[i].docid);
    }
    free(r->v);
    memset(r, 0, sizeof *r);
}

/* ---------------------------------------------------------------- reading */

#define MAX_FIELDS 8

/* Splits line on blanks into at most MAX_FIELDS fields; returns the count
 * (MAX_FIELDS + 1 when there were more). */
static int split_fields(char *line, char **f)
{
    int n = 0;
    char *save = NULL;
    for (char *t = strtok_r(line, " \t\r\n", &save); t; t = strtok_r(NULL, " \t\r\n", &save)) {
        if (n == MAX_FIELDS)
            return MAX_FIELDS + 1;
        f[n++] = t;
    }
    return n;
}

static int parse_int(const char *s, int *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < -1000000 || v > 1000000)
        return -1;
    *out = (int)v;
    return 0;
}

static int parse_score(const char *s, double *out)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

/* The line past a UTF-8 byte order mark when it is line 1 of the file.
 * Editors on Windows put one there; left in, it would be part of the first
 * query id, which would then match nothing and score 0 without a word. */
static char *skip_bom(char *line, long lineno)
{
    return lineno == 1 && strncmp(line, "\xEF\xBB\xBF", 3) == 0 ? line + 3 : line;
}

/* Whether s is a column name such as "query-id" or "score": letters, '-'
 * and '_' only, at least one letter. */
static int is_name(const char *s)
{
    int letters = 0;
    for (; *s; s++) {
        if (isalpha((unsigned char)*s))
            letters++;
        else if (*s != '-' && *s != '_')
            return 0;
    }
    return letters > 0;
}

/* Whether the first line of a qrels file, split into n fields, is BEIR's
 * header (see the top of the file). */
static int is_header(char **fld, int n)
{
    return n == 3 && is_name(fld[0]) && is_name(fld[2]);
}

int cli_qrels_load(const char *path, cli_qrels *q, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    long lineno = 0;
    int rc = 0, first = 1;
    while (rc == 0 && getline(&line, &cap, f) >= 0) {
        lineno++;
        char *fld[MAX_FIELDS];
        int n = split_fields(skip_bom(line, lineno), fld);
        if (n == 0)
            continue;
        int header = first && is_header(fld, n);
        first = 0;
        if (header)
            continue;
        const char *qid, *docid, *rels;
        if (n == 3) {                 /* BEIR: query-id corpus-id score */
            qid = fld[0], docid = fld[1], rels = fld[2];
        } else if (n == 4) {          /* TREC: qid iter docid rel */
            qid = fld[0], docid = fld[2], rels = fld[3];
        } else {
            snprintf(err, errlen, "%s:%ld: expected 3 fields (query-id corpus-id score) "
                     "or 4 (qid iter docid rel), found %d", path, lineno, n);
            rc = -1;
            break;
        }
        int rel;
        if (parse_int(rels, &rel) != 0) {
            snprintf(err, errlen, "%s:%ld: relevance '%s' is not an integer", path, lineno, rels);
            rc = -1;
            break;
        }
        if (cli_qrels_add(q, qid, docid, rel) != 0) {
            snprintf(err, errlen, "%s:%ld: out of memory", path, lineno);
            rc = -1;
        }
    }
    if (rc == 0 && ferror(f)) {
        snprintf(err, errlen, "%s: read error", path);
        rc = -1;
    }
    free(line);
    fclose(f);
    return rc;
}

int cli_run_load(const char *path, cli_run *r, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    long lineno = 0;
    int rc = 0;
    while (rc == 0 && getline(&line, &cap, f) >= 0) {
        lineno++;
        char *fld[MAX_FIELDS];
        int n = split_fields(skip_bom(line, lineno), fld);
        if (n == 0)
            continue;
        double score;
        if (n != 6) {
            snprintf(err, errlen, "%s:%ld: expected 6 fields (qid Q0 docid rank score tag), found %d",
                     path, lineno, n);
            rc = -1;
        } else if (parse_score(fld[4], &score) != 0) {
            snprintf(err, errlen, "%s:%ld: score '%s' is not a number", path, lineno, fld[4]);
            rc = -1;
        } else if (cli_run_add(r, fld[0], fld[2], score) != 0) {
            snprintf(err, errlen, "%s:%ld: out of memory", path, lineno);
            rc = -1;
        }
    }
    if (rc == 0 && ferror(f)) {
        snprintf(err, errlen, "%s: read error", path);
        rc = -1;
    }
    free(line);
    fclose(f);
    return rc;
}

/* ---------------------------------------------------------------- sorting */

static int cmp_judgment(const void *a, const void *b)
{
    const cli_judgment *x = a, *y = b;
    int c = strcmp(x->qid, y->qid);
    return c ? c : strcmp(x->docid, y->docid);
}

/* For the duplicate check: (qid, docid). */
static int cmp_run_docid(const void *a, const void *b)
{
    const cli_run_entry *x = a, *y = b;
    int c = strcmp(x->qid, y->qid);
    return c ? c : strcmp(x->docid, y->docid);
}

/* trec_eval's order: score descending, then docid descending. */
static int cmp_run_eval(const void *a, const void *b)
{
    const cli_run_entry *x = a, *y = b;
    int c = strcmp(x->qid, y->qid);
    if (c)
        return c;
    if (x->score > y->score)
        return -1;
    if (x->score < y->score)
        return 1;
    return strcmp(y->docid, x->docid);
}

static void qrels_sort(cli_qrels *q)
{
    if (q->sorted)
        return;
    if (q->n > 1)
        qsort(q->v, q->n, sizeof q->v[0], cmp_judgment);
    /* A pair judged twice keeps its highest level: qsort is not stable, so
     * "the last line wins" could not be honoured anyway, and the highest is
     * the same answer whatever order the lines came in. */
    size_t w = 0;
    for (size_t i = 0; i < q->n; i++) {
        if (w > 0 && cmp_judgment(&q->v[w - 1], &q->v[i]) == 0) {
            if (q->v[i].rel > q->v[w - 1].rel)
                q->v[w - 1].rel = q->v[i].rel;
            free(q->v[i].qid);
            free(q->v[i].docid);
            continue;
        }
        q->v[w++] = q->v[i];
    }
    q->n = w;
    q->sorted = 1;
}

int cli_run_finish(cli_run *r, char *err, size_t errlen)
{
    if (r->sorted)
        return 0;
    if (r->n > 1)
        qsort(r->v, r->n, sizeof r->v[0], cmp_run_docid);
    for (size_t i = 1; i < r->n; i++) {
        if (cmp_run_docid(&r->v[i - 1], &r->v[i]) == 0) {
            snprintf(err, errlen, "run lists document %s twice for query %s",
                     r->v[i].docid, r->v[i].qid);
            return -1;
        }
    }
    if (r->n > 1)
        qsort(r->v, r->n, sizeof r->v[0], cmp_run_eval);
    r->sorted = 1;
    return 0;
}

/* ------------------------------------------------------------- evaluation */

/* [begin, end) of the entries for one query in an array sorted by qid. */
typedef struct span { size_t begin, end; } span;

static span qrels_span(const cli_qrels *q, const char *qid)
{
    size_t lo = 0, hi = q->n;
    while (lo < hi) {                         /* first entry with qid >= */
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(q->v[mid].qid, qid) < 0) lo = mid + 1; else hi = mid;
    }
    span s = { lo, lo };
    while (s.end < q->n && strcmp(q->v[s.end].qid, qid) == 0)
        s.end++;
    return s;
}

static span run_span(const cli_run *r, const char *qid)
{
    size_t lo = 0, hi = r->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(r->v[mid].qid, qid) < 0) lo = mid + 1; else hi = mid;
    }
    span s = { lo, lo };
    while (s.end < r->n && strcmp(r->v[s.end].qid, qid) == 0)
        s.end++;
    return s;
}

/* Relevance level of docid within one query's judgments; 0 when unjudged. */
static int judged_rel(const cli_qrels *q, span s, const char *docid)
{
    size_t lo = s.begin, hi = s.end;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(q->v[mid].docid, docid);
        if (c == 0)
            return q->v[mid].rel;
        if (c < 0) lo = mid + 1; else hi = mid;
    }
    return 0;
}

static int cmp_int_desc(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x < y) - (x > y);
}

/* Ideal DCG@10 and the number of relevant judgments of one query. */
static int ideal(const cli_qrels *q, span s, double *idcg, size_t *nrel)
{
    size_t n = 0;
    for (size_t i = s.begin; i < s.end; i++)
        n += q->v[i].rel >= 1;
    *nrel = n;
    *idcg = 0;
    if (n == 0)
        return 0;
    int *gains = malloc(n * sizeof *gains);
    if (!gains)
        return -1;
    size_t k = 0;
    for (size_t i = s.begin; i < s.end; i++)
        if (q->v[i].rel >= 1)
            gains[k++] = q->v[i].rel;
    qsort(gains, n, sizeof *gains, cmp_int_desc);
    for (size_t i = 0; i < n && i < 10; i++)
        *idcg += gains[i] / log2((double)i + 2.0);
    free(gains);
    return 0;
}

/* Metrics of one query: its judgments qs, its ranked run lines rs. */
static void score_query(const cli_qrels *q, span qs, const cli_run *r, span rs,
                        double idcg, size_t nrel, cli_metrics *m)
{
    double dcg = 0, rr = 0;
    size_t found = 0;
    for (size_t i = rs.begin, rank = 1; i < rs.end && rank <= 100; i++, rank++) {
        int rel = judged_rel(q, qs, r->v[i].docid);
        if (rel < 1)
            continue;
        found++;
        if (rank <= 10) {
            dcg += rel / log2((double)rank + 1.0);
            if (rr == 0)
                rr = 1.0 / (double)rank;
        }
    }
    m->queries = 1;
    m->ndcg10 = idcg > 0 ? dcg / idcg : 0;
    m->recall100 = nrel ? (double)found / (double)nrel : 0;
    m->mrr10 = rr;
}

static int cmp_str_ptr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int listed(const char *const *sorted, size_t n, const char *qid)
{
    return sorted && bsearch(&qid, sorted, n, sizeof *sorted, cmp_str_ptr) != NULL;
}

int cli_evaluate(cli_qrels *q, cli_run *r, const cli_eval_opts *opts,
                 cli_metrics *out, char *err, size_t errlen)
{
    static const cli_eval_opts defaults = { CLI_EVAL_RUN_QUERIES, NULL, 0, NULL, NULL };
    if (!opts)
        opts = &defaults;
    memset(out, 0, sizeof *out);
    qrels_sort(q);
    if (cli_run_finish(r, err, errlen) != 0)
        return -1;

    const char **list = NULL;
    if (opts->over == CLI_EVAL_LISTED && opts->nqids > 0) {
        list = malloc(opts->nqids * sizeof *list);
        if (!list) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        memcpy(list, opts->qids, opts->nqids * sizeof *list);
        qsort(list, opts->nqids, sizeof *list, cmp_str_ptr);
    }

    double sum_ndcg = 0, sum_recall = 0, sum_mrr = 0;
    int rc = 0;
    for (size_t i = 0; i < q->n; ) {
        span qs = qrels_span(q, q->v[i].qid);
        i = qs.end;
        const char *qid = q->v[qs.begin].qid;
        span rs = run_span(r, qid);
        if (opts->over == CLI_EVAL_RUN_QUERIES && rs.begin == rs.end)
            continue;
        if (opts->over == CLI_EVAL_LISTED && !listed(list, opts->nqids, qid))
            continue;
        double idcg;
        size_t nrel;
        if (ideal(q, qs, &idcg, &nrel) != 0) {
            snprintf(err, errlen, "out of memory");
            rc = -1;
            break;
        }
        if (nrel == 0)
            continue;
        cli_metrics m;
        score_query(q, qs, r, rs, idcg, nrel, &m);
        if (opts->per_query)
            opts->per_query(opts->ctx, qid, &m);
        out->queries++;
        sum_ndcg += m.ndcg10;
        sum_recall += m.recall100;
        sum_mrr += m.mrr10;
    }
    free(list);
    if (rc == 0 && out->queries > 0) {
        out->ndcg10 = sum_ndcg / (double)out->queries;
        out->recall100 = sum_recall / (double)out->queries;
        out->mrr10 = sum_mrr / (double)out->queries;
    }
    return rc;
}

/* Four decimals, as trec_eval prints them. */
static double round4(double x)
{
    return round(x * 10000.0) / 10000.0;
}

cJSON *cli_metrics_json(const cli_metrics *m)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddNumberToObject(o, "queries", (double)m->queries);
    cJSON_AddNumberToObject(o, "ndcg_10", round4(m->ndcg10));
    cJSON_AddNumberToObject(o, "recall_100", round4(m->recall100));
    cJSON_AddNumberToObject(o, "mrr_10", round4(m->mrr10));
    return o;
}

void cli_metrics_print(FILE *f, const cli_metrics *m, int json)
{
    if (json) {
        cJSON *o = cli_metrics_json(m);
        char *s = o ? cJSON_PrintUnformatted(o) : NULL;
        fprintf(f, "%s\n", s ? s : "{}");
        cJSON_free(s);
        cJSON_Delete(o);
        return;
    }
    fprintf(f, "queries     %zu\n", m->queries);
    fprintf(f, "nDCG@10     %.4f\n", m->ndcg10);
    fprintf(f, "Recall@100  %.4f\n", m->recall100);
    fprintf(f, "MRR@10      %.4f\n", m->mrr10);
}
