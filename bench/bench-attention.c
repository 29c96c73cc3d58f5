/*
 * bench-attention.c — how fast and how lean the attention kernels are.
 *
 * Everything runs with OpenBLAS on ONE thread, for sgemm and for attention
 * alike, so "percent of sgemm" compares the same resources. The sgemm
 * reference is a square 1024^3 product measured in the same run: the rate a
 * well-shaped matrix product reaches on this core, i.e. the ceiling the tiled
 * kernel aims at (target: >= 60% of it at n >= 2K). It is measured once at
 * the start (the "sgemm" row, and the markdown header) and again right
 * before each kernel row (that row's sgemm_gflops), so that load from other
 * processes on a shared machine moves both sides of the ratio alike.
 *
 * Rows (one JSON object per line with --json; always written to
 * OUT/attention.jsonl and a markdown table OUT/attention.md):
 *   sgemm        the reference rate
 *   dense_tiled  n in {512, 2K, 8K, 32K}, d = 64, 8 heads
 *   naive        same, while its n x n scores fit (n <= 8K)
 *   window       w = 256, 16 globals, n = 4K .. 1M (1 head; time/n is the point)
 *   infini       segment 2048, n = 4K .. 256K (1 head; memory constant)
 *   lsh          64 buckets, 2 rounds, n = 4K .. 64K (1 head)
 *
 * FLOP convention (docs/attention.md): 4 d FLOPs per visible (query, key)
 * pair and head (2 d for q.k, 2 d for p v); dense = 4 n^2 d per head, halved
 * for causal; window and LSH count their visible pairs. `seconds` is the
 * median of the repeats; `peak_bytes` is attn_workspace_bytes (the one
 * allocation the kernel makes, counted by the same code that lays it out);
 * inputs and outputs, O(n d), are the caller's and not included.
 *
 * usage: bench-attention [--json] [--quick] [--out DIR] [--only FAMILY]
 *   --quick  small sizes only (a smoke run: seconds, not minutes)
 *   --only   dense | window | infini | lsh
 *   --max-n  skip sizes above N
 */
#include "attention/attention.h"
#include "attention/attention.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

typedef struct bench_opts {
    int json, quick;
    const char *out_dir;
    const char *only;   /* run just this kernel family (dense, window, infini, lsh) */
    int max_n;          /* skip sizes above this (0 = no limit) */
} bench_opts;

typedef struct bench_row {
    const char *kernel;
    int n, d, heads, kv_heads, window, globals, segment, causal;
    double seconds, flops, gflops, sgemm_gflops;
    size_t peak_bytes;
    long rss_peak_bytes;
    double max_err;     /* vs naive where measured, else -1 */
} bench_row;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static long rss_peak(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss * 1024L;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *t, int n)
{
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

static float *random_floats(size_t n, uint64_t seed)
{
    float *x = tensor_alloc(n);
    if (!x)
        return NULL;
    uint64_t s = seed * 0x9e3779b97f4a7c15ull + 1;
    for (size_t i = 0; i < n; i++) {
        s ^= s << 13; s ^= s >> 7; s ^= s << 17;
        x[i] = (float)((double)(s >> 11) / 9007199254740992.0 * 2.0 - 1.0);
    }
    return x;
}

/* Repeats a call: 5 times when it is quick, 3 under 5 s, else once. */
#define TIME_REPEATS(result_seconds, call)                          \
    do {                                                            \
        double t_[5];                                               \
        int reps_ = 0, max_ = 5;                                    \
        while (reps_ < max_) {                                      \
            double t0_ = now();                                     \
            call;                                                   \
            t_[reps_++] = now() - t0_;                              \
            if (reps_ == 1 && t_[0] > 5.0) max_ = 1;                \
            else if (reps_ == 1 && t_[0] > 0.2) max_ = 3;           \
        }                                                           \
        (result_seconds) = median(t_, reps_);                       \
    } while (0)

/* ------------------------------------------------------------ output */

static void print_row(FILE *f, const bench_row *r)
{
    fprintf(f, "{\"kernel\":\"%s\",\"n\":%d,\"d\":%d,\"heads\":%d,\"kv_heads\":%d,"
               "\"window\":%d,\"globals\":%d,\"segment\":%d,\"causal\":%d,"
               "\"seconds\":%.6g,\"gflops\":%.4g,\"sgemm_gflops\":%.4g,"
               "\"pct_of_sgemm\":%.1f,\"peak_bytes\":%zu,\"rss_peak_bytes\":%ld,"
               "\"us_per_token\":%.4g,\"threads\":1",
            r->kernel, r->n, r->d, r->heads, r->kv_heads, r->window, r->globals, r->segment,
            r->causal, r->seconds, r->gflops, r->sgemm_gflops,
            100.0 * r->gflops / r->sgemm_gflops, r->peak_bytes, r->rss_peak_bytes,
            1e6 * r->seconds / r->n);
    if (r->max_err >= 0)
        fprintf(f, ",\"max_abs_err_vs_naive\":%.3g", r->max_err);
    fprintf(f, "}\n");
}

static void emit(const bench_opts *o, FILE *jl, FILE *md, bench_row *r)
{
    r->gflops = r->seconds > 0 ? r->flops / r->seconds * 1e-9 : 0.0;
    r->rss_peak_bytes = rss_peak();
    if (o->json)
        print_row(stdout, r);
    else
        fprintf(stderr, "%-12s%s n=%-8d %.4f s  %.1f GFLOP/s  %.1f%% of sgemm  %zu B\n",
                r->kernel, r->causal ? "/causal" : "", r->n, r->seconds, r->gflops, 100.0 * r->gflops / r->sgemm_gflops,
                r->peak_bytes);
    if (jl)
        print_row(jl, r);
    if (md) {
        char err[32] = "";
        if (r->max_err >= 0)
            snprintf(err, sizeof err, "%.1e", r->max_err);
        fprintf(md, "| %s%s | %d | %d | %d/%d | %d | %.4f | %.3f | %.1f | %.1f%% | %.2f | %s |\n",
                r->kernel, r->causal ? " (causal)" : "", r->n, r->d, r->heads, r->kv_heads, r->window, r->seconds,
                1e6 * r->seconds / r->n, r->gflops, 100.0 * r->gflops / r->sgemm_gflops,
                r->peak_bytes / 1048576.0, err);
        fflush(md);
    }
    fflush(stdout);
}

/* ------------------------------------------------------------ sgemm */

static double sgemm_rate(int m)
{
    float *A = random_floats((size_t)m * m, 1), *B = random_floats((size_t)m * m, 2),
          *C = tensor_zalloc((size_t)m * m);
    double sec = 0.0;
    if (A && B && C) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, m, m, 1.0f, A, m, B, m,
                    0.0f, C, m); /* warm up */
        TIME_REPEATS(sec, cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, m, m,
                                      1.0f, A, m, B, m, 0.0f, C, m));
    }
    tensor_free(A); tensor_free(B); tensor_free(C);
    return sec > 0 ? 2.0 * m * m * (double)m / sec * 1e-9 : 0.0;
}

/* ------------------------------------------------------------ runs */

typedef struct inputs {
    float *q, *k, *v, *out;
} inputs;

static int inputs_make(inputs *in, int n, int heads, int kv_heads, int d)
{
    in->q = random_floats((size_t)n * heads * d, 11);
    in->k = random_floats((size_t)n * kv_heads * d, 12);
    in->v = random_floats((size_t)n * kv_heads * d, 13);
    in->out = tensor_alloc((size_t)n * heads * d);
    return in->q && in->k && in->v && in->out ? 0 : -1;
}

static void inputs_free(inputs *in)
{
    tensor_free(in->q); tensor_free(in->k); tensor_free(in->v); tensor_free(in->out);
}

/* Visible (query, key) pairs of the window pattern, summed exactly. */
static double window_pairs(int n, int w, const int *globals, int G)
{
    double pairs = 0.0;
    char *is_global = calloc((size_t)n, 1);
    if (!is_global)
        return 0.0;
    for (int g = 0; g < G; g++)
        is_global[globals[g]] = 1;
    for (int i = 0; i < n; i++) {
        if (is_global[i]) {
            pairs += n;
            continue;
        }
        int lo = i - w < 0 ? 0 : i - w, hi = i + w > n - 1 ? n - 1 : i + w;
        pairs += hi - lo + 1;
        for (int g = 0; g < G; g++)
            pairs += globals[g] < lo || globals[g] > hi;
    }
    free(is_global);
    return pairs;
}

/* Pairs the LSH kernel evaluates against the bucket rule: per round and
 * bucket, |queries in it| x |keys in it| (counts keys matching in several
 * rounds once per round: an upper bound of the distinct visible pairs). */
static double lsh_pairs(const attn_config *cfg, const inputs *in, int n)
{
    lsh_hasher *h = attn_lsh_hasher(cfg, NULL, 0);
    int B = cfg->lsh_buckets, d = cfg->head_dim;
    double *qn = calloc((size_t)B, sizeof *qn), *kn = calloc((size_t)B, sizeof *kn);
    float *work = tensor_alloc((size_t)lsh_hasher_padded_dim(h ? h : NULL) + 1);
    double pairs = 0.0;
    if (h && qn && kn && work) {
        for (int r = 0; r < cfg->lsh_rounds; r++) {
            memset(qn, 0, (size_t)B * sizeof *qn);
            memset(kn, 0, (size_t)B * sizeof *kn);
            for (int i = 0; i < n; i++) {
                qn[attn_lsh_bucket(h, r, B, in->q + (size_t)i * d, work)] += 1;
                kn[attn_lsh_bucket(h, r, B, in->k + (size_t)i * d, work)] += 1;
            }
            for (int b = 0; b < B; b++)
                pairs += qn[b] * kn[b];
        }
    }
    lsh_hasher_free(h);
    free(qn); free(kn); tensor_free(work);
    return pairs;
}

static double run_kernel(const attn_config *cfg, const inputs *in, int n)
{
    double sec = 0.0;
    int rc = 0;
    attn_forward(cfg, in->q, in->k, in->v, NULL, n, in->out); /* warm up, page in */
    TIME_REPEATS(sec, rc |= attn_forward(cfg, in->q, in->k, in->v, NULL, n, in->out));
    return rc ? -1.0 : sec;
}

static void bench_dense(const bench_opts *o, FILE *jl, FILE *md, double sgemm)
{
    static const int full[] = { 512, 2048, 8192, 32768 }, quick[] = { 512, 2048 };
    const int *ns = o->quick ? quick : full;
    int count = o->quick ? 2 : 4, H = 8, d = 64;
    for (int t = 0; t < count; t++) {
        int n = ns[t];
        if (o->max_n && n > o->max_n)
            break;
        inputs in;
        if (inputs_make(&in, n, H, H, d) != 0) {
            fprintf(stderr, "bench-attention: out of memory at n=%d\n", n);
            inputs_free(&in);
            return;
        }
        attn_config cfg;
        attn_config_init(&cfg, H, d);
        bench_row r = { "dense_tiled", n, d, H, H, 0, 0, 0, 0, 0, 0, 0, sgemm_rate(1024), 0, 0, -1 };
        r.seconds = run_kernel(&cfg, &in, n);
        r.flops = 4.0 * n * (double)n * d * H;
        r.peak_bytes = attn_workspace_bytes(&cfg, n);

        /* the naive kernel while n x n scores fit comfortably (8K: 256 MiB) */
        bench_row nv = r;
        nv.kernel = "naive";
        if (n <= 8192) {
            float *dense_out = tensor_alloc((size_t)n * H * d);
            if (dense_out)
                memcpy(dense_out, in.out, (size_t)n * H * d * sizeof(float));
            attn_config ncfg = cfg;
            ncfg.kind = ATTN_NAIVE;
            nv.seconds = run_kernel(&ncfg, &in, n);
            nv.peak_bytes = attn_workspace_bytes(&ncfg, n);
            if (dense_out) {
                float err = 0.0f;
                for (size_t i = 0; i < (size_t)n * H * d; i++) {
                    float e = fabsf(dense_out[i] - in.out[i]);
                    err = e > err ? e : err;
                }
                r.max_err = err;
                tensor_free(dense_out);
            }
        }
        emit(o, jl, md, &r);
        if (n <= 8192)
            emit(o, jl, md, &nv);

        /* causal, same n: half the tiles */
        cfg.causal = 1;
        bench_row c = r;
        c.causal = 1;
        c.max_err = -1;
        c.sgemm_gflops = sgemm_rate(1024);
        c.seconds = run_kernel(&cfg, &in, n);
        c.flops = r.flops / 2;
        emit(o, jl, md, &c);
        inputs_free(&in);
    }
}

static void bench_window(const bench_opts *o, FILE *jl, FILE *md, double sgemm)
{
    int d = 64, w = 256, G = 16, max_n = o->quick ? 16384 : 1 << 20;
    if (o->max_n && o->max_n < max_n)
        max_n = o->max_n;
    for (int n = 4096; n <= max_n; n *= 4) {
        inputs in;
        if (inputs_make(&in, n, 1, 1, d) != 0) {
            inputs_free(&in);
            return;
        }
        int globals[16];
        for (int g = 0; g < G; g++)
            globals[g] = (int)((long)g * (n - 1) / (G - 1));
        attn_config cfg;
        attn_config_init(&cfg, 1, d);
        cfg.kind = ATTN_WINDOW;
        cfg.window = w;
        cfg.globals = globals;
        cfg.n_globals = G;
        bench_row r = { "window", n, d, 1, 1, w, G, 0, 0, 0, 0, 0, sgemm_rate(1024), 0, 0, -1 };
        r.seconds = run_kernel(&cfg, &in, n);
        r.flops = 4.0 * d * window_pairs(n, w, globals, G);
        r.peak_bytes = attn_workspace_bytes(&cfg, n);
        emit(o, jl, md, &r);
        inputs_free(&in);
    }
}

static void bench_infini(const bench_opts *o, FILE *jl, FILE *md, double sgemm)
{
    int d = 64, S = 2048, max_n = o->quick ? 16384 : 262144;
    if (o->max_n && o->max_n < max_n)
        max_n = o->max_n;
    for (int n = 4096; n <= max_n; n *= 4) {
        inputs in;
        if (inputs_make(&in, n, 1, 1, d) != 0) {
            inputs_free(&in);
            return;
        }
        float beta = 0.0f;
        attn_config cfg;
        attn_config_init(&cfg, 1, d);
        cfg.kind = ATTN_INFINI;
        cfg.segment = S;
        cfg.infini_beta = &beta;
        bench_row r = { "infini", n, d, 1, 1, 0, 0, S, 0, 0, 0, 0, sgemm_rate(1024), 0, 0, -1 };
        r.seconds = run_kernel(&cfg, &in, n);
        /* local attention 4 S^2 d per full segment, memory read + update
         * 2 * 2 d^2 per token */
        r.flops = 4.0 * d * ((double)(n / S) * S * S + (double)(n % S) * (n % S)) +
                  4.0 * (double)d * d * n;
        r.peak_bytes = attn_workspace_bytes(&cfg, n);
        emit(o, jl, md, &r);
        inputs_free(&in);
    }
}

static void bench_lsh(const bench_opts *o, FILE *jl, FILE *md, double sgemm)
{
    int d = 64, max_n = o->quick ? 4096 : 65536;
    if (o->max_n && o->max_n < max_n)
        max_n = o->max_n;
    for (int n = 4096; n <= max_n; n *= 4) {
        inputs in;
        if (inputs_make(&in, n, 1, 1, d) != 0) {
            inputs_free(&in);
            return;
        }
        attn_config cfg;
        attn_config_init(&cfg, 1, d);
        cfg.kind = ATTN_LSH;
        cfg.lsh_buckets = 64;
        cfg.lsh_rounds = 2;
        cfg.lsh_chunk = 128;
        bench_row r = { "lsh", n, d, 1, 1, 0, 0, 0, 0, 0, 0, 0, sgemm_rate(1024), 0, 0, -1 };
        r.seconds = run_kernel(&cfg, &in, n);
        r.flops = 4.0 * d * lsh_pairs(&cfg, &in, n);
        r.peak_bytes = attn_workspace_bytes(&cfg, n);
        emit(o, jl, md, &r);
        inputs_free(&in);
    }
}

/* ------------------------------------------------------------ main */

static FILE *open_out(const char *dir, const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f)
        fprintf(stderr, "bench-attention: cannot write %s\n", path);
    return f;
}

int main(int argc, char **argv)
{
    bench_opts o = { 0, 0, "bench/results", NULL, 0 };
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json"))
            o.json = 1;
        else if (!strcmp(argv[i], "--quick"))
            o.quick = 1;
        else if (!strcmp(argv[i], "--out") && i + 1 < argc)
            o.out_dir = argv[++i];
        else if (!strcmp(argv[i], "--only") && i + 1 < argc)
            o.only = argv[++i];
        else if (!strcmp(argv[i], "--max-n") && i + 1 < argc)
            o.max_n = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: bench-attention [--json] [--quick] [--out DIR] "
                            "[--only dense|window|infini|lsh] [--max-n N]\n");
            return 2;
        }
    }
    /* one thread for sgemm and attention alike: an apples-to-apples ratio */
    tensor_set_threads(1);
    fprintf(stderr, "bench-attention: OpenBLAS threads = %d (sgemm and attention alike)%s\n",
            tensor_get_threads(), o.quick ? ", quick sizes" : "");

    FILE *jl = open_out(o.out_dir, "attention.jsonl"), *md = open_out(o.out_dir, "attention.md");
    double sgemm = sgemm_rate(1024);
    if (md) {
        fprintf(md, "# Attention kernels\n\nOne core (OpenBLAS 1 thread). Reference: "
                    "OpenBLAS sgemm 1024^3 = **%.1f GFLOP/s**, measured in the same run. "
                    "FLOPs: 4 d per visible (query, key) pair and head (dense: 4 n^2 d H, "
                    "causal half). peak MiB = the kernel's workspace (attn_workspace_bytes).\n\n"
                    "| kernel | n | d | heads/kv | window | seconds | us/token | GFLOP/s | "
                    "of sgemm | peak MiB | max err vs naive |\n"
                    "|---|---|---|---|---|---|---|---|---|---|---|\n", sgemm);
    }
    bench_row s = { "sgemm", 1024, 1024, 1, 1, 0, 0, 0, 0, 0, 2.0 * 1024 * 1024 * 1024.0,
                    0, sgemm, (size_t)3 * 1024 * 1024 * sizeof(float), 0, -1 };
    s.seconds = s.flops / (sgemm * 1e9);
    emit(&o, jl, md, &s);

    if (!o.only || !strcmp(o.only, "dense"))
        bench_dense(&o, jl, md, sgemm);
    if (!o.only || !strcmp(o.only, "window"))
        bench_window(&o, jl, md, sgemm);
    if (!o.only || !strcmp(o.only, "infini"))
        bench_infini(&o, jl, md, sgemm);
    if (!o.only || !strcmp(o.only, "lsh"))
        bench_lsh(&o, jl, md, sgemm);
    if (jl)
        fclose(jl);
    if (md)
        fclose(md);
    return 0;
}
