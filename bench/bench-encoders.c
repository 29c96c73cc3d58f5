/*
 * bench-encoders.c — embedding throughput of USE-lite and of a BERT-base
 * shaped model, with the share of time spent in sgemm and sgemm's peak.
 *
 * What it reports, one JSON line per configuration (and a markdown table):
 *   sentences/s and tokens/s at batch 1 and batch 32;
 *   sgemm_share: the fraction of the wall time spent inside cblas_sgemm;
 *   flops_per_token (matrix products only), and `efficiency` = tokens/s
 *   divided by what sgemm's measured peak would allow for those FLOPs — the
 *   brief's target is >= 0.5.
 *
 * How sgemm time is measured: this program defines cblas_sgemm itself, so
 * the library's calls (tensor_linear*, the attention tiles) link to this
 * wrapper, which times the call and forwards it to OpenBLAS's through
 * dlsym(RTLD_NEXT). Nothing in the library is instrumented.
 *
 * The BERT-base shape (12 layers, hidden 768, 12 heads, FFN 3072, GELU,
 * post-norm) runs with random weights through the same tensor_* helpers and
 * attn_forward the real BERT encoder uses; sequences are 128 tokens. Its
 * purpose is the cost of that shape on this machine, not its outputs.
 *
 * Everything runs on one thread (tensor_set_threads(1)): the per-core number
 * is what the indexer multiplies by its worker count, and the CI machine's
 * two cores are shared.
 *
 * usage: bench-encoders [--model-dir DIR] [--json OUT.jsonl] [--md OUT.md] [--quick]
 */
#define _GNU_SOURCE
#include "attention/attention.h"

#include <cJSON.h>
#include <cblas.h>
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ------------------------------------------------------------ sgemm timing */

typedef void (*sgemm_fn)(OPENBLAS_CONST enum CBLAS_ORDER, OPENBLAS_CONST enum CBLAS_TRANSPOSE,
                         OPENBLAS_CONST enum CBLAS_TRANSPOSE, OPENBLAS_CONST blasint,
                         OPENBLAS_CONST blasint, OPENBLAS_CONST blasint, OPENBLAS_CONST float,
                         OPENBLAS_CONST float *, OPENBLAS_CONST blasint, OPENBLAS_CONST float *,
                         OPENBLAS_CONST blasint, OPENBLAS_CONST float, float *,
                         OPENBLAS_CONST blasint);

static double sgemm_seconds;   /* a benchmark program: one thread, plain globals */
static double sgemm_flops;

/* CPU time of the process, not wall time: everything runs on one thread, so
 * this is the time the work took, and a shared, busy machine (CI has two
 * cores for everyone) does not stretch it. */
static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void cblas_sgemm(OPENBLAS_CONST enum CBLAS_ORDER order, OPENBLAS_CONST enum CBLAS_TRANSPOSE ta,
                 OPENBLAS_CONST enum CBLAS_TRANSPOSE tb, OPENBLAS_CONST blasint m,
                 OPENBLAS_CONST blasint n, OPENBLAS_CONST blasint k, OPENBLAS_CONST float alpha,
                 OPENBLAS_CONST float *a, OPENBLAS_CONST blasint lda, OPENBLAS_CONST float *b,
                 OPENBLAS_CONST blasint ldb, OPENBLAS_CONST float beta, float *c,
                 OPENBLAS_CONST blasint ldc)
{
    static sgemm_fn real;
    if (!real)
        real = (sgemm_fn)dlsym(RTLD_NEXT, "cblas_sgemm");
    if (!real) {
        fprintf(stderr, "bench-encoders: cannot find OpenBLAS's cblas_sgemm\n");
        abort();
    }
    double t = now();
    real(order, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    sgemm_seconds += now() - t;
    sgemm_flops += 2.0 * m * n * k;
}

/* Peak: the best of a few 1024^3 products. */
static double sgemm_peak_gflops(int quick)
{
    int n = quick ? 512 : 1024;
    float *a = tensor_alloc((size_t)n * n), *b = tensor_alloc((size_t)n * n), *c = tensor_alloc((size_t)n * n);
    for (size_t i = 0; i < (size_t)n * n; i++)
        a[i] = b[i] = (float)(i % 7) * 0.1f;
    double best = 0;
    for (int r = 0; r < 5; r++) {
        double t = now();
        tensor_gemm(n, n, n, 1.0f, a, b, 0.0f, c);
        double g = 2.0 * n * n * n / (now() - t) / 1e9;
        best = g > best ? g : best;
    }
    tensor_free(a);
    tensor_free(b);
    tensor_free(c);
    return best;
}

/* ------------------------------------------------------------ results */

typedef struct result {
    const char *model;
    int batch;
    double sentences, tokens, seconds, sgemm_seconds, flops_per_token;
} result;

static void report(const result *r, double peak, FILE *json, FILE *md)
{
    double sps = r->sentences / r->seconds, tps = r->tokens / r->seconds;
    double share = r->sgemm_seconds / r->seconds;
    double allowed = peak * 1e9 / r->flops_per_token;
    printf("%-16s batch %2d: %9.1f sentences/s %10.1f tokens/s  sgemm %4.1f%%  "
           "%.1f MFLOP/token  efficiency %.2f of sgemm peak\n",
           r->model, r->batch, sps, tps, 100 * share, r->flops_per_token / 1e6, tps / allowed);
    if (json)
        fprintf(json, "{\"bench\":\"encoders\",\"model\":\"%s\",\"batch\":%d,\"sentences_per_s\":%.2f,"
                      "\"tokens_per_s\":%.2f,\"sgemm_share\":%.4f,\"flops_per_token\":%.0f,"
                      "\"sgemm_peak_gflops\":%.2f,\"efficiency\":%.4f,\"threads\":1}\n",
                r->model, r->batch, sps, tps, share, r->flops_per_token, peak, tps / allowed);
    if (md)
        fprintf(md, "| %s | %d | %.1f | %.1f | %.1f%% | %.1f | %.2f |\n", r->model, r->batch, sps, tps,
                100 * share, r->flops_per_token / 1e6, tps / allowed);
}

/* ------------------------------------------------------------ USE-lite */

static char **load_texts(int *n)
{
    FILE *f = fopen("tests/data/use_lite/reference.jsonl", "r");
    static const char *fallback[] = { "The quick brown fox jumps over the lazy dog.",
                                      "How do I configure a network interface on Debian?",
                                      "Paris is the capital and most populous city of France." };
    char **texts = NULL;
    int k = 0, cap = 0;
    char *line = NULL;
    size_t lc = 0;
    while (f && getline(&line, &lc, f) > 0) {
        cJSON *j = cJSON_Parse(line);
        const cJSON *t = cJSON_GetObjectItem(j, "text");
        if (cJSON_IsString(t)) {
            if (k == cap)
                texts = realloc(texts, (size_t)(cap = cap ? cap * 2 : 256) * sizeof *texts);
            texts[k++] = strdup(t->valuestring);
        }
        cJSON_Delete(j);
    }
    free(line);
    if (f)
        fclose(f);
    if (k == 0) {
        texts = malloc(3 * sizeof *texts);
        for (k = 0; k < 3; k++)
            texts[k] = strdup(fallback[k]);
    }
    *n = k;
    return texts;
}

/* Matrix FLOPs of one USE-lite token (2 per multiply-add), attention for a
 * sequence of avg_len tokens included, the per-sentence tanh layer spread
 * over the sentence's tokens. */
static double use_flops_per_token(double avg_len)
{
    double f = 0;
    f += 2.0 * 256 * 768 + 2.0 * 256 * 512 * 2;           /* layer 0: qkv, out, residual */
    f += 2.0 * 512 * 1536 + 2.0 * 512 * 512;              /* layer 1: qkv, out */
    f += 2 * (2.0 * 512 * 1536 * 2);                      /* two FFNs */
    f += 4.0 * avg_len * 256 + 4.0 * avg_len * 512;       /* QK^T and AV */
    f += 2.0 * 512 * 512 / avg_len;                       /* tanh layer */
    return f;
}

static int bench_use(const char *model_dir, int quick, double peak, FILE *json, FILE *md)
{
    char dir[512], path[600], err[512];
    encoder_model_dir(model_dir, dir, sizeof dir);
    snprintf(path, sizeof path, "%s/use-lite.lctxm", dir);
    use_model *u = use_model_open(path, err, sizeof err);
    if (!u) {
        fprintf(stderr, "bench-encoders: %s (run `make model`); skipping USE-lite\n", err);
        return -1;
    }
    int n;
    char **texts = load_texts(&n);
    double tokens = 0;
    for (int i = 0; i < n; i++) {
        int32_t *ids;
        int k;
        if (spm_encode(use_model_spm(u), texts[i], strlen(texts[i]), &ids, &k, err, sizeof err) == 0)
            tokens += k;
        free(ids);
    }
    float *out = malloc((size_t)32 * use_model_dim(u) * sizeof(float));
    int batches[2] = { 1, 32 };
    for (int b = 0; b < 2; b++) {
        int reps = quick ? 1 : 3;
        sgemm_seconds = 0;
        double t = now();
        for (int r = 0; r < reps; r++)
            for (int i = 0; i < n; i += batches[b]) {
                int m = n - i < batches[b] ? n - i : batches[b];
                use_embed_texts(u, (const char *const *)texts + i, m, USE_LONG_WINDOW, out, err, sizeof err);
            }
        result res = { "use-lite", batches[b], (double)n * reps, tokens * reps, now() - t,
                       sgemm_seconds, use_flops_per_token(tokens / n) };
        report(&res, peak, json, md);
    }
    free(out);
    for (int i = 0; i < n; i++)
        free(texts[i]);
    free(texts);
    use_model_close(u);
    return 0;
}

/* ------------------------------------------------------------ BERT-base shape */

#define BB_LAYERS 12
#define BB_H 768
#define BB_HEADS 12
#define BB_FFN 3072
#define BB_SEQ 128

typedef struct bb_layer {
    float *wq, *wk, *wv, *wo, *w1, *w2;  /* out x in (PyTorch layout) */
    float *bq, *bk, *bv, *bo, *b1, *b2, *g1, *n1, *g2, *n2;
} bb_layer;

static float *randw(size_t n, unsigned *s, float scale)
{
    float *p = tensor_alloc(n);
    for (size_t i = 0; p && i < n; i++) {
        *s = *s * 1664525u + 1013904223u;
        p[i] = ((float)(*s >> 9) / 8388608.0f - 0.5f) * scale;
    }
    return p;
}

static void bb_init(bb_layer *L, unsigned seed)
{
    float sc = 0.05f;
    L->wq = randw((size_t)BB_H * BB_H, &seed, sc);
    L->wk = randw((size_t)BB_H * BB_H, &seed, sc);
    L->wv = randw((size_t)BB_H * BB_H, &seed, sc);
    L->wo = randw((size_t)BB_H * BB_H, &seed, sc);
    L->w1 = randw((size_t)BB_FFN * BB_H, &seed, sc);
    L->w2 = randw((size_t)BB_H * BB_FFN, &seed, sc);
    L->bq = randw(BB_H, &seed, sc); L->bk = randw(BB_H, &seed, sc); L->bv = randw(BB_H, &seed, sc);
    L->bo = randw(BB_H, &seed, sc); L->b1 = randw(BB_FFN, &seed, sc); L->b2 = randw(BB_H, &seed, sc);
    L->g1 = randw(BB_H, &seed, 0.1f); L->n1 = randw(BB_H, &seed, 0.1f);
    L->g2 = randw(BB_H, &seed, 0.1f); L->n2 = randw(BB_H, &seed, 0.1f);
    for (int i = 0; i < BB_H; i++) {
        L->g1[i] += 1.0f;
        L->g2[i] += 1.0f;
    }
}

static void bb_free(bb_layer *L)
{
    float **p[] = { &L->wq, &L->wk, &L->wv, &L->wo, &L->w1, &L->w2, &L->bq, &L->bk, &L->bv,
                    &L->bo, &L->b1, &L->b2, &L->g1, &L->n1, &L->g2, &L->n2 };
    for (size_t i = 0; i < sizeof p / sizeof *p; i++)
        tensor_free(*p[i]);
}

/* One post-norm BERT layer over `seqs` packed sequences of BB_SEQ tokens. */
static void bb_layer_forward(const bb_layer *L, float *x, int seqs, float *q, float *k, float *v,
                             float *a, float *h, float *f)
{
    int T = seqs * BB_SEQ;
    tensor_linear(x, T, BB_H, L->wq, L->bq, BB_H, q);
    tensor_linear(x, T, BB_H, L->wk, L->bk, BB_H, k);
    tensor_linear(x, T, BB_H, L->wv, L->bv, BB_H, v);
    attn_config cfg;
    attn_config_init(&cfg, BB_HEADS, BB_H / BB_HEADS);
    for (int s = 0; s < seqs; s++) {
        size_t o = (size_t)s * BB_SEQ * BB_H;
        attn_forward(&cfg, q + o, k + o, v + o, NULL, BB_SEQ, a + o);
    }
    tensor_linear(a, T, BB_H, L->wo, L->bo, BB_H, h);
    tensor_add(h, x, (size_t)T * BB_H);
    tensor_layernorm(h, T, BB_H, L->g1, L->n1, 1e-12f);
    tensor_linear(h, T, BB_H, L->w1, L->b1, BB_FFN, f);
    tensor_gelu_erf(f, (size_t)T * BB_FFN);
    tensor_linear(f, T, BB_FFN, L->w2, L->b2, BB_H, x);
    tensor_add(x, h, (size_t)T * BB_H);
    tensor_layernorm(x, T, BB_H, L->g2, L->n2, 1e-12f);
}

static void bench_bert_shape(int quick, double peak, FILE *json, FILE *md)
{
    static bb_layer layers[BB_LAYERS];
    for (int l = 0; l < BB_LAYERS; l++)
        bb_init(&layers[l], 1234u + (unsigned)l);
    int batches[2] = { 1, 32 };
    size_t T = (size_t)32 * BB_SEQ;
    unsigned seed = 99;
    float *x = randw(T * BB_H, &seed, 1.0f);
    float *q = tensor_alloc(T * BB_H), *k = tensor_alloc(T * BB_H), *v = tensor_alloc(T * BB_H);
    float *a = tensor_alloc(T * BB_H), *h = tensor_alloc(T * BB_H), *f = tensor_alloc(T * BB_FFN);
    double flops = BB_LAYERS * (2.0 * BB_H * BB_H * 4 + 2.0 * 2 * BB_H * BB_FFN + 4.0 * BB_SEQ * BB_H);
    for (int b = 0; b < 2; b++) {
        int reps = quick ? 1 : (batches[b] == 1 ? 8 : 1);
        sgemm_seconds = 0;
        double t = now();
        for (int r = 0; r < reps; r++)
            for (int l = 0; l < BB_LAYERS; l++)
                bb_layer_forward(&layers[l], x, batches[b], q, k, v, a, h, f);
        double secs = now() - t;
        result res = { "bert-base-shape", batches[b], (double)batches[b] * reps,
                       (double)batches[b] * reps * BB_SEQ, secs, sgemm_seconds, flops };
        report(&res, peak, json, md);
    }
    float *bufs[] = { x, q, k, v, a, h, f };
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
        tensor_free(bufs[i]);
    for (int l = 0; l < BB_LAYERS; l++)
        bb_free(&layers[l]);
}

/* ------------------------------------------------------------ main */

int main(int argc, char **argv)
{
    const char *model_dir = NULL, *json_path = NULL, *md_path = NULL;
    int quick = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--model-dir") == 0 && i + 1 < argc)
            model_dir = argv[++i];
        else if (strcmp(argv[i], "--json") == 0 && i + 1 < argc)
            json_path = argv[++i];
        else if (strcmp(argv[i], "--md") == 0 && i + 1 < argc)
            md_path = argv[++i];
        else if (strcmp(argv[i], "--quick") == 0)
            quick = 1;
        else {
            fprintf(stderr, "usage: bench-encoders [--model-dir DIR] [--json OUT] [--md OUT] [--quick]\n");
            return 2;
        }
    }
    tensor_set_threads(1);
    FILE *json = json_path ? fopen(json_path, "a") : NULL;
    FILE *md = md_path ? fopen(md_path, "w") : NULL;
    double peak = sgemm_peak_gflops(quick);
    printf("sgemm peak: %.1f GFLOP/s (1 thread)\n", peak);
    if (json)
        fprintf(json, "{\"bench\":\"encoders\",\"sgemm_peak_gflops\":%.2f,\"threads\":1}\n", peak);
    if (md)
        fprintf(md, "sgemm peak: %.1f GFLOP/s on one thread\n\n"
                    "| model | batch | sentences/s | tokens/s | time in sgemm | MFLOP/token | of sgemm peak |\n"
                    "|---|---|---|---|---|---|---|\n", peak);
    bench_use(model_dir, quick, peak, json, md);
    bench_bert_shape(quick, peak, json, md);
    if (json)
        fclose(json);
    if (md)
        fclose(md);
    return 0;
}
