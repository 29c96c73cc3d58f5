/*
 * bm25_common.h — the shared harness of the three BM25 benchmark programs.
 *
 * bench-bm25 (lctx), bench-fts5 (SQLite FTS5) and bench-xapian (Xapian) must
 * measure exactly the same thing, or their ratios mean nothing. So the whole
 * procedure lives here, once, and each program only supplies an engine: four
 * functions that build an index, open it for searching, run one top-k search
 * and close it. Everything else is common:
 *
 *   1. Arguments: --corpus --queries --index --run [--k 100] [--repeat 5]
 *      [--builds 5] [--collection NAME] (NAME defaults to the corpus file's
 *      folder name).
 *   2. The corpus (BEIR JSONL: _id|id, title, text) and the queries
 *      (_id|id, text|query) are parsed with cJSON into memory before any
 *      clock starts, so JSON parsing never counts as indexing.
 *   3. Indexing is timed from opening the empty index to closing it after
 *      its commit, in this thread: the engine's build() callback. It runs
 *      --builds times, each into a new folder under --index (build-1, ...),
 *      and the median time is reported with the fastest and slowest: one
 *      build of a small collection takes milliseconds, and on a shared
 *      machine a single one is mostly noise. Queries use the last build.
 *   4. Queries: every query is run --repeat times (repeat-major: all queries,
 *      then all queries again), each run timed alone with CLOCK_MONOTONIC.
 *      A timed run is a k=10 search that yields external doc ids and scores
 *      (no snippets), i.e. what a caller needs to show a first result page.
 *      A query's latency is the median of its repeats (so the cold first run
 *      does not count when repeat >= 3); p50/p95/mean are then taken over
 *      queries, percentiles by linear interpolation between order statistics.
 *   5. The TREC run file needs the top --k (100) for Recall@100, so one more,
 *      untimed pass per query asks for k results and writes them. Latency
 *      therefore compares k=10 searches in every engine.
 *   6. Index size is the sum of the sizes of the regular files of the last
 *      build (du --apparent-size style).
 *   7. One JSON line on stdout reports it all; diagnostics go to stderr.
 *
 * --index must not exist or be an empty directory: a benchmark never deletes
 * what it did not create; the driver (tools/bench-bm25.sh) clears its own
 * work folders.
 *
 * This is a header of static functions because only bench/bench-*.c(c) are
 * programs in the Makefile; it compiles as C11 and as C++ (bench-xapian.cc),
 * hence the explicit casts on malloc.
 */
#ifndef BM25_COMMON_H
#define BM25_COMMON_H

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#define BM25_MAX_ID 512     /* longest external document id we accept */
#define BM25_ERRLEN 512

typedef struct bm25_doc {
    char *id;
    char *title;            /* "" when the corpus has none */
    char *text;             /* "" when the corpus has none */
    size_t title_len, text_len;
} bm25_doc;

typedef struct bm25_query {
    char *id;
    char *text;
} bm25_query;

/* One search's results, filled by the engine. Fixed-size id buffers keep
 * allocation out of the timed path; every engine pays the same copy. */
typedef struct bm25_hit {
    char id[BM25_MAX_ID];
    double score;           /* larger is better in every engine */
} bm25_hit;

typedef struct bm25_hits {
    bm25_hit *v;
    int n, cap;
} bm25_hits;

typedef struct bm25_engine {
    const char *method;     /* "lctx", "fts5", "xapian": the run tag too */
    const char *version;    /* engine library version, for the report */
    /* Creates the index inside dir (an existing empty folder) from all docs
     * and closes it. This is the timed indexing. 0 or -1 with err. */
    int (*build)(const char *dir, const bm25_doc *docs, size_t n, char *err, size_t errlen);
    /* Opens the index for searching; NULL with err on failure. */
    void *(*open)(const char *dir, char *err, size_t errlen);
    /* Top-k of query into out (out->cap >= k). 0 or -1 with err. */
    int (*search)(void *h, const char *query, int k, bm25_hits *out, char *err, size_t errlen);
    void (*close)(void *h);
} bm25_engine;

typedef struct bm25_args {
    const char *corpus, *queries, *index, *run, *collection;
    int k, repeat, builds;
} bm25_args;

static const char *bm25_prog = "bench";

/* ------------------------------------------------------------ small utils */

static void bm25_die(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", bm25_prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

static void *bm25_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) bm25_die("out of memory (%zu bytes)", n);
    return p;
}

static char *bm25_xstrdup(const char *s)
{
    size_t n = strlen(s);
    char *p = (char *)bm25_xmalloc(n + 1);
    memcpy(p, s, n + 1);
    return p;
}

static double bm25_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Copies id into a hit; -1 when it does not fit (never silently truncated,
 * a truncated id would score as a wrong document). */
__attribute__((unused))   /* bench-phases uses only the loading half */
static int bm25_hit_set(bm25_hit *h, const char *id, size_t len, double score)
{
    if (len >= BM25_MAX_ID) return -1;
    memcpy(h->id, id, len);
    h->id[len] = '\0';
    h->score = score;
    return 0;
}

/* ---------------------------------------------------------------- args */

static void bm25_usage(void)
{
    fprintf(stderr,
            "usage: %s --corpus corpus.jsonl --queries queries.jsonl --index DIR "
            "--run OUT.trec [--k 100] [--repeat 5] [--builds 5] [--collection NAME]\n",
            bm25_prog);
    exit(2);
}

static int bm25_posint(const char *s, int *out)
{
    char *end;
    long v;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || *end || v < 1 || v > 100000) return -1;
    *out = (int)v;
    return 0;
}

/* The collection's name is the folder holding the corpus: .../ir/cisi/corpus.jsonl -> cisi. */
static const char *bm25_collection_name(const char *corpus)
{
    static char name[256];
    const char *end = strrchr(corpus, '/');
    const char *start;
    size_t len;
    if (!end) return "unknown";
    start = end;
    while (start > corpus && start[-1] != '/') start--;
    len = (size_t)(end - start);
    if (len == 0 || len >= sizeof name) return "unknown";
    memcpy(name, start, len);
    name[len] = '\0';
    return name;
}

static void bm25_parse_args(int argc, char **argv, bm25_args *a)
{
    int i;
    memset(a, 0, sizeof *a);
    a->k = 100;
    a->repeat = 5;
    a->builds = 5;
    for (i = 1; i < argc; i++) {
        const char *o = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) bm25_usage();
        if (!strcmp(o, "--corpus")) a->corpus = v;
        else if (!strcmp(o, "--queries")) a->queries = v;
        else if (!strcmp(o, "--index")) a->index = v;
        else if (!strcmp(o, "--run")) a->run = v;
        else if (!strcmp(o, "--collection")) a->collection = v;
        else if (!strcmp(o, "--k")) { if (bm25_posint(v, &a->k)) bm25_usage(); }
        else if (!strcmp(o, "--repeat")) { if (bm25_posint(v, &a->repeat)) bm25_usage(); }
        else if (!strcmp(o, "--builds")) { if (bm25_posint(v, &a->builds)) bm25_usage(); }
        else bm25_usage();
        i++;
    }
    if (!a->corpus || !a->queries || !a->index || !a->run) bm25_usage();
    if (!a->collection) a->collection = bm25_collection_name(a->corpus);
}

/* ------------------------------------------------------------ JSONL input */

/* The string member named a or (when absent) b; NULL when neither is a string. */
static const char *bm25_member(const cJSON *o, const char *a, const char *b)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, a);
    if (!cJSON_IsString(v) && b) v = cJSON_GetObjectItemCaseSensitive(o, b);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Calls fn(obj, ctx) for every non-blank line of a JSONL file. Dies naming
 * FILE:LINE on a malformed line: benchmark inputs are ours and must be clean. */
static void bm25_each_line(const char *path, void (*fn)(const cJSON *, void *), void *ctx)
{
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    long lineno = 0;
    if (!f) bm25_die("%s: %s", path, strerror(errno));
    while ((len = getline(&line, &cap, f)) >= 0) {
        cJSON *o;
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = '\0';
        if (len == 0) continue;
        o = cJSON_ParseWithLength(line, (size_t)len);
        if (!o || !cJSON_IsObject(o)) bm25_die("%s:%ld: not a JSON object", path, lineno);
        fn(o, ctx);
        cJSON_Delete(o);
    }
    if (ferror(f)) bm25_die("%s: read error", path);
    free(line);
    fclose(f);
}

typedef struct bm25_vec {
    void *v;
    size_t n, cap, size;
} bm25_vec;

static void *bm25_vec_push(bm25_vec *vec)
{
    if (vec->n == vec->cap) {
        size_t cap = vec->cap ? vec->cap * 2 : 1024;
        void *p = realloc(vec->v, cap * vec->size);
        if (!p) bm25_die("out of memory");
        vec->v = p;
        vec->cap = cap;
    }
    return (char *)vec->v + vec->size * vec->n++;
}

static void bm25_doc_line(const cJSON *o, void *ctx)
{
    bm25_vec *vec = (bm25_vec *)ctx;
    const char *id = bm25_member(o, "_id", "id");
    const char *title = bm25_member(o, "title", NULL);
    const char *text = bm25_member(o, "text", NULL);
    bm25_doc *d;
    if (!id) bm25_die("document %zu has no _id/id string", vec->n + 1);
    if (strlen(id) >= BM25_MAX_ID) bm25_die("document id too long: %.40s...", id);
    d = (bm25_doc *)bm25_vec_push(vec);
    d->id = bm25_xstrdup(id);
    d->title = bm25_xstrdup(title ? title : "");
    d->text = bm25_xstrdup(text ? text : "");
    d->title_len = strlen(d->title);
    d->text_len = strlen(d->text);
}

static void bm25_query_line(const cJSON *o, void *ctx)
{
    bm25_vec *vec = (bm25_vec *)ctx;
    const char *id = bm25_member(o, "_id", "id");
    const char *text = bm25_member(o, "text", "query");
    bm25_query *q;
    if (!id || !text) bm25_die("query %zu lacks _id/id or text/query", vec->n + 1);
    q = (bm25_query *)bm25_vec_push(vec);
    q->id = bm25_xstrdup(id);
    q->text = bm25_xstrdup(text);
}

static bm25_doc *bm25_load_docs(const char *path, size_t *n)
{
    bm25_vec vec;
    memset(&vec, 0, sizeof vec);
    vec.size = sizeof(bm25_doc);
    bm25_each_line(path, bm25_doc_line, &vec);
    if (vec.n == 0) bm25_die("%s: no documents", path);
    *n = vec.n;
    return (bm25_doc *)vec.v;
}

static bm25_query *bm25_load_queries(const char *path, size_t *n)
{
    bm25_vec vec;
    memset(&vec, 0, sizeof vec);
    vec.size = sizeof(bm25_query);
    bm25_each_line(path, bm25_query_line, &vec);
    if (vec.n == 0) bm25_die("%s: no queries", path);
    *n = vec.n;
    return (bm25_query *)vec.v;
}

static void bm25_free_docs(bm25_doc *d, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) { free(d[i].id); free(d[i].title); free(d[i].text); }
    free(d);
}

static void bm25_free_queries(bm25_query *q, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) { free(q[i].id); free(q[i].text); }
    free(q);
}

/* ------------------------------------------------------------ index folder */

/* Creates dir, or accepts it when it exists and is empty. */
static void bm25_prepare_dir(const char *dir)
{
    DIR *d;
    struct dirent *e;
    if (mkdir(dir, 0777) == 0) return;
    if (errno != EEXIST) bm25_die("%s: %s", dir, strerror(errno));
    d = opendir(dir);
    if (!d) bm25_die("%s: %s", dir, strerror(errno));
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            closedir(d);
            bm25_die("%s: index folder is not empty (remove it first)", dir);
        }
    }
    closedir(d);
}

/* Sum of regular file sizes under path (symlinks not followed). */
static unsigned long long bm25_tree_bytes(const char *path)
{
    struct stat st;
    unsigned long long sum = 0;
    DIR *d;
    struct dirent *e;
    if (lstat(path, &st) != 0) return 0;
    if (S_ISREG(st.st_mode)) return (unsigned long long)st.st_size;
    if (!S_ISDIR(st.st_mode)) return 0;
    d = opendir(path);
    if (!d) return 0;
    while ((e = readdir(d)) != NULL) {
        char sub[PATH_MAX];
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        if (snprintf(sub, sizeof sub, "%s/%s", path, e->d_name) >= (int)sizeof sub) continue;
        sum += bm25_tree_bytes(sub);
    }
    closedir(d);
    return sum;
}

/* ---------------------------------------------------------------- stats */

static int bm25_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The p-quantile (0..1) of sorted v[0..n), interpolating linearly between
 * the order statistics around position p*(n-1). */
static double bm25_quantile(const double *v, size_t n, double p)
{
    double pos, frac;
    size_t lo;
    if (n == 0) return 0;
    pos = p * (double)(n - 1);
    lo = (size_t)pos;
    if (lo + 1 >= n) return v[n - 1];
    frac = pos - (double)lo;
    return v[lo] + frac * (v[lo + 1] - v[lo]);
}

/* Rounds for the report: JSON with 17 significant digits helps nobody. */
static double bm25_round(double x, int digits)
{
    double m = 1;
    while (digits-- > 0) m *= 10;
    return (double)llround(x * m) / m;
}

/* ---------------------------------------------------------------- the run */

static void bm25_write_run(FILE *f, const char *qid, const bm25_hits *h, const char *tag)
{
    int i;
    for (i = 0; i < h->n; i++)
        fprintf(f, "%s Q0 %s %d %.6f %s\n", qid, h->v[i].id, i + 1, h->v[i].score, tag);
}

static void bm25_search_or_die(const bm25_engine *e, void *h, const bm25_query *q, int k,
                               bm25_hits *out)
{
    char err[BM25_ERRLEN] = "";
    out->n = 0;
    if (e->search(h, q->text, k, out, err, sizeof err) != 0)
        bm25_die("query %s: %s", q->id, err[0] ? err : "search failed");
}

/* Times every query `repeat` times at k=10; lat[i] receives query i's median
 * in milliseconds. */
static void bm25_time_queries(const bm25_engine *e, void *h, const bm25_query *q, size_t nq,
                              int repeat, double *lat)
{
    double *t = (double *)bm25_xmalloc(sizeof(double) * nq * (size_t)repeat);
    bm25_hits hits;
    size_t i;
    int r;
    hits.v = (bm25_hit *)bm25_xmalloc(sizeof(bm25_hit) * 10);
    hits.cap = 10;
    for (r = 0; r < repeat; r++) {
        for (i = 0; i < nq; i++) {
            double t0 = bm25_now();
            bm25_search_or_die(e, h, &q[i], 10, &hits);
            t[i * (size_t)repeat + (size_t)r] = (bm25_now() - t0) * 1e3;
        }
    }
    for (i = 0; i < nq; i++) {
        double *mine = t + i * (size_t)repeat;
        qsort(mine, (size_t)repeat, sizeof(double), bm25_cmp_double);
        lat[i] = bm25_quantile(mine, (size_t)repeat, 0.5);
    }
    free(hits.v);
    free(t);
}

/* The untimed top-k pass that writes the TREC run. */
static void bm25_make_run(const bm25_engine *e, void *h, const bm25_query *q, size_t nq,
                          int k, const char *path)
{
    FILE *f = fopen(path, "w");
    bm25_hits hits;
    size_t i;
    if (!f) bm25_die("%s: %s", path, strerror(errno));
    hits.v = (bm25_hit *)bm25_xmalloc(sizeof(bm25_hit) * (size_t)k);
    hits.cap = k;
    for (i = 0; i < nq; i++) {
        bm25_search_or_die(e, h, &q[i], k, &hits);
        bm25_write_run(f, q[i].id, &hits, e->method);
    }
    free(hits.v);
    if (fclose(f) != 0) bm25_die("%s: write failed", path);
}

/* bt: the build times, sorted. */
static void bm25_report(const bm25_engine *e, const bm25_args *a, size_t ndocs, const double *bt,
                        unsigned long long bytes, size_t nq, double *lat)
{
    double secs = bm25_quantile(bt, (size_t)a->builds, 0.5);
    cJSON *o = cJSON_CreateObject();
    double mean = 0;
    char *s;
    size_t i;
    for (i = 0; i < nq; i++) mean += lat[i];
    mean /= (double)nq;
    qsort(lat, nq, sizeof(double), bm25_cmp_double);
    cJSON_AddStringToObject(o, "method", e->method);
    cJSON_AddStringToObject(o, "collection", a->collection);
    cJSON_AddNumberToObject(o, "docs", (double)ndocs);
    cJSON_AddNumberToObject(o, "index_seconds", bm25_round(secs, 4));
    cJSON_AddNumberToObject(o, "docs_per_second", bm25_round((double)ndocs / secs, 1));
    cJSON_AddNumberToObject(o, "builds", a->builds);
    cJSON_AddNumberToObject(o, "index_seconds_min", bm25_round(bt[0], 4));
    cJSON_AddNumberToObject(o, "index_seconds_max", bm25_round(bt[a->builds - 1], 4));
    cJSON_AddNumberToObject(o, "index_bytes", (double)bytes);
    cJSON_AddNumberToObject(o, "queries", (double)nq);
    cJSON_AddNumberToObject(o, "query_p50_ms", bm25_round(bm25_quantile(lat, nq, 0.50), 4));
    cJSON_AddNumberToObject(o, "query_p95_ms", bm25_round(bm25_quantile(lat, nq, 0.95), 4));
    cJSON_AddNumberToObject(o, "query_mean_ms", bm25_round(mean, 4));
    cJSON_AddNumberToObject(o, "repeat", a->repeat);
    cJSON_AddNumberToObject(o, "k_timed", 10);
    cJSON_AddNumberToObject(o, "k_run", a->k);
    cJSON_AddStringToObject(o, "version", e->version ? e->version : "");
    s = cJSON_PrintUnformatted(o);
    if (!s) bm25_die("out of memory");
    printf("%s\n", s);
    fflush(stdout);
    cJSON_free(s);
    cJSON_Delete(o);
}

/* The whole benchmark for one engine; returns the exit status. */
__attribute__((unused))
static int bm25_main(int argc, char **argv, const bm25_engine *e)
{
    bm25_args a;
    bm25_doc *docs;
    bm25_query *queries;
    size_t ndocs, nq;
    double t0, *bt, *lat;
    char last[PATH_MAX];
    int b;
    char err[BM25_ERRLEN] = "";
    unsigned long long bytes;
    void *h;

    const char *slash = strrchr(argv[0], '/');
    bm25_prog = slash ? slash + 1 : argv[0];
    bm25_parse_args(argc, argv, &a);
    docs = bm25_load_docs(a.corpus, &ndocs);
    queries = bm25_load_queries(a.queries, &nq);
    bm25_prepare_dir(a.index);

    bt = (double *)bm25_xmalloc(sizeof(double) * (size_t)a.builds);
    for (b = 0; b < a.builds; b++) {
        if (snprintf(last, sizeof last, "%s/build-%d", a.index, b + 1) >= (int)sizeof last)
            bm25_die("%s: path too long", a.index);
        bm25_prepare_dir(last);
        t0 = bm25_now();
        if (e->build(last, docs, ndocs, err, sizeof err) != 0)
            bm25_die("indexing %s: %s", a.corpus, err);
        bt[b] = bm25_now() - t0;
    }
    qsort(bt, (size_t)a.builds, sizeof(double), bm25_cmp_double);
    bytes = bm25_tree_bytes(last);
    bm25_free_docs(docs, ndocs);

    h = e->open(last, err, sizeof err);
    if (!h) bm25_die("opening %s: %s", last, err);
    lat = (double *)bm25_xmalloc(sizeof(double) * nq);
    bm25_time_queries(e, h, queries, nq, a.repeat, lat);
    bm25_make_run(e, h, queries, nq, a.k, a.run);
    e->close(h);

    bm25_report(e, &a, ndocs, bt, bytes, nq, lat);
    free(bt);
    free(lat);
    bm25_free_queries(queries, nq);
    return 0;
}

#endif /* BM25_COMMON_H */
