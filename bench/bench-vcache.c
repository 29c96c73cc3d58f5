/*
 * bench-vcache.c — vector search in a collection, from LMDB against the
 * in-memory vector cache (LCTX_OPEN_VECTOR_CACHE), through include/lctx.h.
 *
 * The workload is a recommendation pipeline's: "more like this" by document
 * id (lctx_search_opts.like), vector mode, k = 10, one thread. It uses the
 * stored vectors, so no query is embedded and the figures are the search
 * itself. Two read-only handles on the same collection, one with the flag;
 * the queries alternate between them (so drift in the machine's speed hits
 * both alike), and every pair of answers is compared: the cache must return
 * the same documents with the same scores.
 *
 * The collection must have LSH tables (at least 20,000 vectors; the
 * bench/vcache.mk target builds one from three dev collections). The first
 * cached search builds the cache; its time is reported as build_seconds and
 * left out of the latencies.
 *
 * usage: bench-vcache --collection C.lctx --ids IDS.txt [--n 1000] [--k 10] [--json]
 * IDS.txt: one document id per line; the first n are the queries.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lctx.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double percentile(double *v, size_t n, double p)
{
    qsort(v, n, sizeof *v, cmp_double);
    size_t i = (size_t)ceil(p * (double)n) - 1;
    return v[i < n ? i : n - 1];
}

/* One more-like-this search; its latency in ms, or < 0 on failure. */
static double like(lctx_db *db, const char *id, int k, lctx_results **out)
{
    lctx_search_opts o;
    lctx_search_opts_init(&o);
    o.mode = LCTX_MODE_VECTOR;
    o.like = id;
    o.k = k;
    double t0 = now_s();
    int rc = lctx_search(db, NULL, &o, out);
    double ms = (now_s() - t0) * 1e3;
    if (rc != LCTX_OK) {
        fprintf(stderr, "bench-vcache: like '%s': %s\n", id, lctx_errmsg(db));
        return -1;
    }
    return ms;
}

static int same(const lctx_results *a, const lctx_results *b)
{
    size_t n = lctx_results_count(a);
    if (n != lctx_results_count(b))
        return 0;
    for (size_t i = 0; i < n; i++) {
        const lctx_hit *x = lctx_results_get(a, i), *y = lctx_results_get(b, i);
        if (strcmp(x->id, y->id) != 0 || fabs(x->score - y->score) > 1e-5)
            return 0;
    }
    return 1;
}

static char **read_ids(const char *path, size_t want, size_t *n)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        return NULL;
    }
    char **ids = calloc(want, sizeof *ids), line[1024];
    *n = 0;
    while (ids && *n < want && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        if (line[0])
            ids[(*n)++] = strdup(line);
    }
    fclose(f);
    return ids;
}

int main(int argc, char **argv)
{
    const char *coll = NULL, *ids_path = NULL;
    size_t want = 1000;
    int k = 10, json = 0;
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(argv[i], "--collection") && v) coll = argv[++i];
        else if (!strcmp(argv[i], "--ids") && v) ids_path = argv[++i];
        else if (!strcmp(argv[i], "--n") && v) want = (size_t)atol(argv[++i]);
        else if (!strcmp(argv[i], "--k") && v) k = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--json")) json = 1;
        else {
            fprintf(stderr, "usage: bench-vcache --collection C.lctx --ids IDS.txt [--n 1000] "
                            "[--k 10] [--json]\n");
            return 2;
        }
    }
    if (!coll || !ids_path || want == 0 || k < 1) {
        fprintf(stderr, "bench-vcache: --collection and --ids are required\n");
        return 2;
    }
    size_t n = 0;
    char **ids = read_ids(ids_path, want, &n);
    /* The two handles take turns, all plain queries first: a process may
     * have one handle on a collection at a time (store/once.c). */
    lctx_db *plain = NULL, *cached = NULL;
    if (!ids || n == 0 || lctx_open(coll, LCTX_OPEN_READONLY, NULL, &plain) != LCTX_OK) {
        fprintf(stderr, "bench-vcache: cannot open %s or read %s\n", coll, ids_path);
        return 1;
    }
    lctx_stats st;
    if (lctx_stats_get(plain, &st) != LCTX_OK || st.lsh_tables == 0) {
        fprintf(stderr, "bench-vcache: %s has no LSH tables (fewer than 20,000 vectors?)\n", coll);
        return 1;
    }
    double *lat_plain = malloc(n * sizeof *lat_plain), *lat_cached = malloc(n * sizeof *lat_cached);
    lctx_results **answers = calloc(n, sizeof *answers);
    if (!lat_plain || !lat_cached || !answers)
        return 1;
    for (size_t i = 0; i < n; i++)
        if ((lat_plain[i] = like(plain, ids[i], k, &answers[i])) < 0)
            return 1;
    lctx_close(plain);
    if (lctx_open(coll, LCTX_OPEN_READONLY | LCTX_OPEN_VECTOR_CACHE, NULL, &cached) != LCTX_OK) {
        fprintf(stderr, "bench-vcache: cannot open %s\n", coll);
        return 1;
    }
    lctx_results *r = NULL;
    double t0 = now_s();
    if (like(cached, ids[0], k, &r) < 0)
        return 1;
    double build_s = now_s() - t0;
    lctx_results_free(r);

    size_t agree = 0;
    for (size_t i = 0; i < n; i++) {
        lctx_results *b = NULL;
        if ((lat_cached[i] = like(cached, ids[i], k, &b)) < 0)
            return 1;
        agree += (size_t)same(answers[i], b);
        lctx_results_free(answers[i]);
        lctx_results_free(b);
    }
    free(answers);
    double sum_p = 0, sum_c = 0;
    for (size_t i = 0; i < n; i++) {
        sum_p += lat_plain[i];
        sum_c += lat_cached[i];
    }
    double p50p = percentile(lat_plain, n, 0.5), p95p = percentile(lat_plain, n, 0.95);
    double p50c = percentile(lat_cached, n, 0.5), p95c = percentile(lat_cached, n, 0.95);
    if (json) {
        printf("{\"method\":\"lmdb\",\"vectors\":%llu,\"lsh_tables\":%d,\"queries\":%zu,\"k\":%d,"
               "\"p50_ms\":%.4f,\"p95_ms\":%.4f,\"qps\":%.1f}\n",
               (unsigned long long)st.vectors, st.lsh_tables, n, k, p50p, p95p, 1e3 * n / sum_p);
        printf("{\"method\":\"vector-cache\",\"vectors\":%llu,\"lsh_tables\":%d,\"queries\":%zu,"
               "\"k\":%d,\"p50_ms\":%.4f,\"p95_ms\":%.4f,\"qps\":%.1f,\"build_seconds\":%.3f,"
               "\"same_answers\":%zu}\n",
               (unsigned long long)st.vectors, st.lsh_tables, n, k, p50c, p95c, 1e3 * n / sum_c,
               build_s, agree);
    } else {
        printf("%llu vectors, %d LSH tables, %zu more-like-this queries, k = %d\n",
               (unsigned long long)st.vectors, st.lsh_tables, n, k);
        printf("LMDB          p50 %.3f ms  p95 %.3f ms\n", p50p, p95p);
        printf("vector cache  p50 %.3f ms  p95 %.3f ms  (built in %.2f s)\n", p50c, p95c, build_s);
        printf("same answers: %zu of %zu\n", agree, n);
    }
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
    free(lat_plain);
    free(lat_cached);
    lctx_close(cached);
    return agree == n ? 0 : 1;
}
