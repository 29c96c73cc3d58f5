/*
 * bench-vectors.c — lctx's LSH vector index against exact search, on real
 * vectors (GloVe 6B 100d, fetched by tools/fetch-glove.sh), single thread.
 *
 * What is measured. Ground truth is the exact top-10 by cosine similarity
 * (OpenBLAS sgemm). Then, one JSON object per line with --json:
 *
 *   exact-blas-batch   all queries in blocks of 64 through sgemm: the best
 *                      case for brute force (the base streams through cache
 *                      once per 64 queries)
 *   exact-blas-1q      one query at a time (sgemv-shaped), as an interactive
 *                      search runs: memory-bound, reads the whole base per query
 *   lctx-lsh           the in-memory index (query/lsh_index.c) at each
 *                      (K, L, encoding) of --configs and each probe budget of
 *                      --probes (a multiple of L): recall@10, queries/second,
 *                      build seconds, index bytes, mean candidates re-scored
 *   lctx-lsh-tuned     with --tune T: the parameters lsh_tune picks for
 *                      target recall T, measured on the held-out queries
 *
 * The in-memory index is what is measured: collections persist buckets and
 * vectors in LMDB and a searcher loads this structure from them.
 * The peers (FAISS, hnswlib) are in bench-vectors-peers.cc, fed the same
 * files; bench/vectors.mk runs both and plots.
 *
 * usage: bench-vectors [--base F --queries F] [--json] [--nbase N] [--nq N]
 *        [--configs K:L[:enc[:layout][:center]],... | xp:F:m:L[:enc[:layout][:center]],...]
 *        [--probes m1,m2,...] [--tune T] [--no-exact] [--max-candidates N,...]
 *
 * --max-candidates: a list of candidate caps (0 = none, default
 * "0,15000,20000,25000,30000,35000,40000,50000"); each probe sweep runs once
 * per cap (lsh_scratch_set_limit; with inline sketches it counts sketches
 * scored, a vector found in several tables once per table).
 * Configurations: K:L[:enc] is hyperplane LSH with K bits and L tables;
 * xp:F:m:L[:enc] is cross-polytope LSH with F functions per table, each the
 * signed argmax over m rotated coordinates (F*log2(2m) bits). enc is the
 * stored encoding f32, f16 or i8; layout is rows (default: buckets hold row
 * numbers) or inline8 / inline4 (each bucket entry also carries an 8- or
 * 4-bit sketch of its vector, lsh_params.inline_codes); a last ":center"
 * hashes vectors minus the base's mean (lsh_params.center).
 */
#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "query/query.h"

enum { TOPK = 10 };

typedef struct matrix {
    uint32_t n, d;
    float *v;
} matrix;

typedef struct bench_opts {
    const char *base, *queries, *configs, *probes, *caps;
    int json, no_exact;
    long nbase, nq;
    double tune;
} bench_opts;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Reads a float32 matrix with a (uint32 n, uint32 d) little-endian header,
 * keeping at most max_rows rows (0 = all). */
static int load_matrix(const char *path, long max_rows, matrix *m)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "bench-vectors: %s: %s (run tools/fetch-glove.sh)\n", path, strerror(errno));
        return -1;
    }
    uint32_t hdr[2];
    if (fread(hdr, 4, 2, f) != 2 || hdr[1] == 0 || hdr[1] > 65536) {
        fprintf(stderr, "bench-vectors: %s: bad header\n", path);
        fclose(f);
        return -1;
    }
    m->n = hdr[0];
    m->d = hdr[1];
    if (max_rows > 0 && (uint32_t)max_rows < m->n)
        m->n = (uint32_t)max_rows;
    m->v = malloc((size_t)m->n * m->d * sizeof *m->v);
    if (!m->v || fread(m->v, sizeof *m->v, (size_t)m->n * m->d, f) != (size_t)m->n * m->d) {
        fprintf(stderr, "bench-vectors: %s: short file or out of memory\n", path);
        fclose(f);
        free(m->v);
        return -1;
    }
    fclose(f);
    for (uint32_t i = 0; i < m->n; i++) {   /* cosine: normalise */
        float *x = m->v + (size_t)i * m->d;
        double ss = 0;
        for (uint32_t j = 0; j < m->d; j++)
            ss += (double)x[j] * x[j];
        float inv = ss > 0 ? (float)(1.0 / sqrt(ss)) : 0.0f;
        for (uint32_t j = 0; j < m->d; j++)
            x[j] *= inv;
    }
    return 0;
}

static void emit(const bench_opts *o, const char *method, const char *params, double recall,
                 double qps, double build_s, size_t mem, double cand)
{
    if (o->json)
        printf("{\"method\":\"%s\",\"params\":%s,\"recall_at_10\":%.4f,\"qps\":%.1f,"
               "\"build_seconds\":%.3f,\"memory_bytes\":%zu,\"mean_candidates\":%.0f}\n",
               method, params, recall, qps, build_s, mem, cand);
    else
        printf("%-18s %-52s recall@10 %.4f  %9.1f q/s  build %7.2f s  mem %7.1f MB  cand %8.0f\n",
               method, params, recall, qps, build_s, mem / 1048576.0, cand);
    fflush(stdout);
}

static double recall_of(const int64_t *truth, const int64_t *got, size_t nq)
{
    size_t found = 0;
    for (size_t q = 0; q < nq; q++)
        for (int i = 0; i < TOPK; i++)
            for (int j = 0; j < TOPK; j++)
                found += got[q * TOPK + i] >= 0 && got[q * TOPK + i] == truth[q * TOPK + j];
    return (double)found / ((double)nq * TOPK);
}

static void bench_exact(const bench_opts *o, const matrix *b, const matrix *q, const int64_t *truth,
                        int64_t *got)
{
    double t0 = now_s();
    lsh_exact_topk(b->v, b->n, (int)b->d, q->v, q->n, TOPK, NULL, got, NULL);
    double dt = now_s() - t0;
    size_t mem = (size_t)b->n * b->d * sizeof(float);
    emit(o, "exact-blas-batch", "{\"block\":64}", recall_of(truth, got, q->n), q->n / dt, 0, mem, b->n);
    size_t n1 = q->n < 200 ? q->n : 200;   /* one at a time: slow, fewer queries */
    t0 = now_s();
    for (size_t i = 0; i < n1; i++)
        lsh_exact_topk(b->v, b->n, (int)b->d, q->v + i * q->d, 1, TOPK, NULL, got + i * TOPK, NULL);
    dt = now_s() - t0;
    emit(o, "exact-blas-1q", "{\"block\":1}", recall_of(truth, got, n1), n1 / dt, 0, mem, b->n);
}

/* Runs every query at one probe budget; returns recall, sets qps and mean
 * candidates. */
static double run_queries(const lsh_index *ix, lsh_scratch *s, const matrix *q, int probes,
                          const int64_t *truth, int64_t *got, double *qps, double *cand)
{
    lsh_hit hits[TOPK];
    size_t cand_total = 0;
    double t0 = now_s();
    for (size_t i = 0; i < q->n; i++) {
        lsh_search_stats st = {0, 0};
        int n = lsh_index_search(ix, s, q->v + i * q->d, TOPK, probes, 0, hits, &st);
        for (int j = 0; j < TOPK; j++)
            got[i * TOPK + j] = j < n ? hits[j].label : -1;
        cand_total += st.candidates;
    }
    double dt = now_s() - t0;
    *qps = q->n / dt;
    *cand = (double)cand_total / q->n;
    return recall_of(truth, got, q->n);
}

static lsh_index *build_index(const matrix *b, const lsh_params *p, double *build_s)
{
    char err[256];
    double t0 = now_s();
    lsh_index *ix = lsh_index_new((int)b->d, p, err, sizeof err);
    if (!ix || lsh_index_add(ix, b->n, NULL, b->v, err, sizeof err) != 0 ||
        lsh_index_commit(ix, err, sizeof err) != 0) {
        fprintf(stderr, "bench-vectors: %s\n", err);
        lsh_index_free(ix);
        return NULL;
    }
    *build_s = now_s() - t0;
    return ix;
}

/* One (K, L, encoding) configuration over the probe sweep. */
static int bench_config(const bench_opts *o, const matrix *b, const matrix *q, const lsh_params *pp,
                        const int64_t *truth, int64_t *got)
{
    lsh_params p = *pp;
    const int L = p.n_tables;
    const vecstore_encoding enc = p.encoding;
    double build_s;
    lsh_index *ix = build_index(b, &p, &build_s);
    if (!ix)
        return -1;
    lsh_scratch *s = lsh_scratch_new(ix);
    char caps_list[256];
    snprintf(caps_list, sizeof caps_list, "%s", o->caps);
    char *save_cap = NULL;
    for (char *ctok = strtok_r(caps_list, ",", &save_cap); s && ctok;
         ctok = strtok_r(NULL, ",", &save_cap)) {
        long cap = atol(ctok);
        lsh_scratch_set_limit(s, (size_t)(cap > 0 ? cap : 0));
        char probes_list[256];
        snprintf(probes_list, sizeof probes_list, "%s", o->probes);
        char *save_p = NULL;
        for (char *tok = strtok_r(probes_list, ",", &save_p); tok; tok = strtok_r(NULL, ",", &save_p)) {
            double mult = atof(tok);
            int probes = (int)(mult * L + 0.5);
            if (probes < L)
                probes = L;
            double qps, cand;
            double r = run_queries(ix, s, q, probes, truth, got, &qps, &cand);
            char params[256];
            if (p.family == LSH_CROSSPOLYTOPE)
                snprintf(params, sizeof params,
                         "{\"family\":\"xp\",\"F\":%d,\"m\":%d,\"K\":%d,\"L\":%d,\"probes\":%d,\"encoding\":\"%s\",\"layout\":\"%s\",\"center\":%s,\"max_candidates\":%ld}",
                         p.per_table, p.cp_dim, lsh_index_params(ix)->k_bits, L, probes,
                         vecstore_encoding_name(enc), p.inline_codes == 8 ? "inline8" : p.inline_codes == 4 ? "inline4" : "rows",
                         p.center ? "true" : "false", cap);
            else
                snprintf(params, sizeof params,
                         "{\"family\":\"hp\",\"K\":%d,\"L\":%d,\"probes\":%d,\"encoding\":\"%s\",\"layout\":\"%s\",\"center\":%s,\"max_candidates\":%ld}",
                         p.k_bits, L, probes, vecstore_encoding_name(enc),
                         p.inline_codes == 8 ? "inline8" : p.inline_codes == 4 ? "inline4" : "rows",
                         p.center ? "true" : "false", cap);
            emit(o, "lctx-lsh", params, r, qps, build_s, lsh_index_memory(ix), cand);
        }
    }
    lsh_scratch_free(s);
    lsh_index_free(ix);
    return 0;
}

static int bench_tuned(const bench_opts *o, const matrix *b, const matrix *q, const int64_t *truth,
                       int64_t *got)
{
    lsh_tune_opts to;
    lsh_tune_opts_init(&to);
    to.target_recall = o->tune;
    to.encoding = VECSTORE_I8;
    lsh_tune_result tr;
    char err[256];
    double t0 = now_s();
    int rc = lsh_tune((int)b->d, b->n, b->v, &to, &tr, err, sizeof err);
    double tune_s = now_s() - t0;
    if (rc < 0) {
        fprintf(stderr, "bench-vectors: %s\n", err);
        return -1;
    }
    double build_s;
    lsh_index *ix = build_index(b, &tr.params, &build_s);
    if (!ix)
        return -1;
    lsh_scratch *s = lsh_scratch_new(ix);
    double qps, cand;
    double r = run_queries(ix, s, q, 0, truth, got, &qps, &cand);
    char params[256];
    snprintf(params, sizeof params,
             "{\"family\":\"%s\",\"K\":%d,\"L\":%d,\"probes\":%d,\"encoding\":\"%s\",\"target\":%.2f,"
             "\"tuned_recall\":%.4f,\"tune_seconds\":%.1f}",
             tr.params.family == LSH_CROSSPOLYTOPE ? "xp" : "hp",
             tr.params.k_bits, tr.params.n_tables, tr.params.probes,
             vecstore_encoding_name(tr.params.encoding), o->tune, tr.recall, tune_s);
    emit(o, "lctx-lsh-tuned", params, r, qps, build_s, lsh_index_memory(ix), cand);
    lsh_scratch_free(s);
    lsh_index_free(ix);
    return 0;
}

static int parse_args(int argc, char **argv, bench_opts *o)
{
    static char base_def[512], query_def[512];
    const char *cache = getenv("LCTX_CACHE"), *home = getenv("HOME");
    if (cache)
        snprintf(base_def, sizeof base_def, "%s/glove100/base.fbin", cache);
    else
        snprintf(base_def, sizeof base_def, "%s/.cache/lctx/glove100/base.fbin", home ? home : ".");
    snprintf(query_def, sizeof query_def, "%.*s/queries.fbin",
             (int)(strrchr(base_def, '/') - base_def), base_def);
    memset(o, 0, sizeof *o);
    o->base = base_def;
    o->queries = query_def;
    o->configs = "xp:2:128:16:i8:inline4:center,xp:2:128:24:i8:inline4:center,"
                 "xp:2:128:32:i8:inline4:center,xp:2:128:24:i8:inline4,"
                 "xp:2:128:16:f32:inline8,xp:2:128:64:f32,16:128:i8";
    o->probes = "4,8,16,24,32,40,48,64,96,128";
    o->caps = "0,15000,20000,25000,30000,35000,40000,50000";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--json")) o->json = 1;
        else if (!strcmp(a, "--no-exact")) o->no_exact = 1;
        else if (!strcmp(a, "--base") && v) { o->base = v; i++; }
        else if (!strcmp(a, "--queries") && v) { o->queries = v; i++; }
        else if (!strcmp(a, "--configs") && v) { o->configs = v; i++; }
        else if (!strcmp(a, "--probes") && v) { o->probes = v; i++; }
        else if (!strcmp(a, "--nbase") && v) { o->nbase = atol(v); i++; }
        else if (!strcmp(a, "--nq") && v) { o->nq = atol(v); i++; }
        else if (!strcmp(a, "--tune") && v) { o->tune = atof(v); i++; }
        else if (!strcmp(a, "--max-candidates") && v) { o->caps = v; i++; }
        else {
            fprintf(stderr, "usage: bench-vectors [--base F --queries F] [--json] [--nbase N] [--nq N]\n"
                            "       [--configs K:L[:enc[:layout][:center]],...|xp:F:m:L[:enc[:layout][:center]],...]\n"
                            "       [--probes m,...]\n"
                            "       [--tune T] [--no-exact] [--max-candidates N,...]\n");
            return -1;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    bench_opts o;
    if (parse_args(argc, argv, &o) != 0)
        return 2;
    openblas_set_num_threads(1);   /* every method single thread */
    matrix b, q;
    if (load_matrix(o.base, o.nbase, &b) != 0 || load_matrix(o.queries, o.nq, &q) != 0)
        return 1;
    if (b.d != q.d) {
        fprintf(stderr, "bench-vectors: base has %u dims, queries %u\n", b.d, q.d);
        return 1;
    }
    if (!o.json)
        printf("base %u x %u, queries %u, top-%d, cosine, single thread\n", b.n, b.d, q.n, TOPK);
    int64_t *truth = malloc((size_t)q.n * TOPK * sizeof *truth);
    int64_t *got = malloc((size_t)q.n * TOPK * sizeof *got);
    if (!truth || !got || lsh_exact_topk(b.v, b.n, (int)b.d, q.v, q.n, TOPK, NULL, truth, NULL) != 0) {
        fprintf(stderr, "bench-vectors: out of memory\n");
        return 1;
    }
    if (!o.no_exact)
        bench_exact(&o, &b, &q, truth, got);
    char configs[512];
    snprintf(configs, sizeof configs, "%s", o.configs);
    char *save = NULL;
    for (char *tok = strtok_r(configs, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        lsh_params p;
        lsh_params_init(&p);
        char enc_name[40] = "f32";
        int ok;
        if (!strncmp(tok, "xp:", 3)) {   /* xp:F:m:L[:enc] cross-polytope */
            p.family = LSH_CROSSPOLYTOPE;
            ok = sscanf(tok + 3, "%d:%d:%d:%39s", &p.per_table, &p.cp_dim, &p.n_tables, enc_name) >= 3;
        } else {                          /* K:L[:enc] hyperplanes */
            ok = sscanf(tok, "%d:%d:%39s", &p.k_bits, &p.n_tables, enc_name) >= 2;
        }
        char *opt = strchr(enc_name, ':');   /* enc[:rows|inline8|inline4][:center] */
        if (opt)
            *opt++ = 0;
        while (ok && opt) {
            char *next = strchr(opt, ':');
            if (next)
                *next++ = 0;
            if (!strcmp(opt, "inline8") || !strcmp(opt, "inline4"))
                p.inline_codes = opt[6] - '0';
            else if (!strcmp(opt, "center"))
                p.center = 1;
            else
                ok = !strcmp(opt, "rows");
            opt = next;
        }
        if (!ok || vecstore_encoding_parse(enc_name) < 0) {
            fprintf(stderr, "bench-vectors: bad config '%s' (K:L[:enc[:layout][:center]] or "
                            "xp:F:m:L[:enc[:layout][:center]], layout rows, inline8 or inline4)\n", tok);
            return 2;
        }
        p.encoding = (vecstore_encoding)vecstore_encoding_parse(enc_name);
        if (bench_config(&o, &b, &q, &p, truth, got) != 0)
            return 1;
    }
    if (o.tune > 0 && bench_tuned(&o, &b, &q, truth, got) != 0)
        return 1;
    free(truth);
    free(got);
    free(b.v);
    free(q.v);
    return 0;
}
