/*
 * encoder_bert.c — BERT-family models from Hugging Face: BertModel for
 * sentence embeddings, BertForSequenceClassification for re-ranking.
 *
 * Loading reads config.json (shapes), the tokenizer, and model.safetensors,
 * checks every tensor's shape against the config, and widens all weights to
 * float32 once, so the forward pass is plain float32 linear algebra. Tensor
 * names are those transformers writes: "embeddings.word_embeddings.weight",
 * "encoder.layer.3.attention.self.query.weight", ... with a "bert." prefix
 * in task models (the cross-encoder), plus "classifier.*" outside it.
 *
 * The forward pass for one sequence of n tokens (H hidden, I intermediate):
 *
 *   x = LayerNorm(word[id] + position[i] + token_type[t])          n x H
 *   per layer:
 *     q, k, v = x Wq^T + bq, x Wk^T + bk, x Wv^T + bv
 *     c = softmax(q k^T / sqrt(d)) v     per head (attn_forward, dense)
 *     x = LayerNorm(x + c Wo^T + bo)
 *     x = LayerNorm(x + GELU(x Wi^T + bi) Wo2^T + bo2)
 *   embedding: mean of the rows (or row 0, CLS), then L2-normalised
 *   cross-encoder: logit = w . tanh(Wp x[0] + bp) + b
 *
 * Each text is its own sequence — no padding, no key mask — so an embedding
 * cannot depend on what else was in the batch; several sequences are stacked
 * row-wise so the linear layers run as one large matrix product, and only
 * attention is done per sequence (bert_model_forward_batch). Inputs
 * longer than max_seq_length (sentence_bert_config.json, else the position
 * table) are truncated, as sentence-transformers does; pairs are truncated
 * longest-first. All model state is read-only after open: threads may call
 * encode and score concurrently.
 */
#include "attention/attention.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct bert_layer {
    float *q_w, *q_b, *k_w, *k_b, *v_w, *v_b;
    float *ao_w, *ao_b, *ao_g, *ao_beta;
    float *i_w, *i_b, *o_w, *o_b, *o_g, *o_beta;
} bert_layer;

struct bert_model {
    hf_bert_config cfg;
    wordpiece *tok;
    float *word, *pos, *type, *emb_g, *emb_b;
    bert_layer *layers;
    float *pool_w, *pool_b, *cls_w, *cls_b;   /* cross-encoder only */
};

/* ---------------------------------------------------------------- loading */

typedef struct loader {
    const safetensors *st;
    const char *path;
    const char *prefix;       /* "" or "bert." */
    char *err;
    size_t errlen;
    int failed;
} loader;

/* Finds prefix+name (LayerNorm .weight/.bias also as the older .gamma/.beta),
 * checks its shape is [d0] or [d0, d1], returns a float32 copy. */
static float *load(loader *L, const char *name, int64_t d0, int64_t d1)
{
    if (L->failed)
        return NULL;
    char full[256];
    snprintf(full, sizeof full, "%s%s", L->prefix, name);
    const safetensors_tensor *t = safetensors_find(L->st, full);
    if (!t && strstr(name, "LayerNorm.")) {
        char alt[256];
        snprintf(alt, sizeof alt, "%s", full);
        char *w = strstr(alt, "LayerNorm.weight"), *b = strstr(alt, "LayerNorm.bias");
        if (w)
            strcpy(w, "LayerNorm.gamma");
        else if (b)
            strcpy(b, "LayerNorm.beta");
        t = safetensors_find(L->st, alt);
    }
    if (!t) {
        attn_err(L->err, L->errlen, "%s: tensor %s is missing (not a BERT checkpoint?)", L->path,
                 full);
        L->failed = 1;
        return NULL;
    }
    int want_ndim = d1 > 0 ? 2 : 1;
    if (t->ndim != want_ndim || t->shape[0] != d0 || (d1 > 0 && t->shape[1] != d1)) {
        char got[96] = "", want[64];
        for (int i = 0; i < t->ndim && strlen(got) < 64; i++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", i ? "," : "",
                     (long long)t->shape[i]);
        if (d1 > 0)
            snprintf(want, sizeof want, "%lld,%lld", (long long)d0, (long long)d1);
        else
            snprintf(want, sizeof want, "%lld", (long long)d0);
        attn_err(L->err, L->errlen, "%s: tensor %s has shape [%s] but config.json implies [%s]",
                 L->path, full, got, want);
        L->failed = 1;
        return NULL;
    }
    float *p = safetensors_to_f32(t);
    if (!p) {
        attn_err(L->err, L->errlen, "%s: out of memory", L->path);
        L->failed = 1;
    }
    return p;
}

static void load_layer(loader *L, int i, const hf_bert_config *c, bert_layer *ly)
{
    char n[160];
    int H = c->hidden, I = c->intermediate;
#define LW(field, suffix, d0, d1) \
    (snprintf(n, sizeof n, "encoder.layer.%d.%s", i, suffix), ly->field = load(L, n, d0, d1))
    LW(q_w, "attention.self.query.weight", H, H);
    LW(q_b, "attention.self.query.bias", H, 0);
    LW(k_w, "attention.self.key.weight", H, H);
    LW(k_b, "attention.self.key.bias", H, 0);
    LW(v_w, "attention.self.value.weight", H, H);
    LW(v_b, "attention.self.value.bias", H, 0);
    LW(ao_w, "attention.output.dense.weight", H, H);
    LW(ao_b, "attention.output.dense.bias", H, 0);
    LW(ao_g, "attention.output.LayerNorm.weight", H, 0);
    LW(ao_beta, "attention.output.LayerNorm.bias", H, 0);
    LW(i_w, "intermediate.dense.weight", I, H);
    LW(i_b, "intermediate.dense.bias", I, 0);
    LW(o_w, "output.dense.weight", H, I);
    LW(o_b, "output.dense.bias", H, 0);
    LW(o_g, "output.LayerNorm.weight", H, 0);
    LW(o_beta, "output.LayerNorm.bias", H, 0);
#undef LW
}

void bert_model_close(bert_model *m)
{
    if (!m)
        return;
    wordpiece_free(m->tok);
    float **own[] = {&m->word, &m->pos, &m->type, &m->emb_g, &m->emb_b,
                     &m->pool_w, &m->pool_b, &m->cls_w, &m->cls_b};
    for (size_t i = 0; i < sizeof own / sizeof *own; i++)
        tensor_free(*own[i]);
    if (m->layers) {
        for (int l = 0; l < m->cfg.layers; l++) {
            bert_layer *ly = &m->layers[l];
            float *ps[] = {ly->q_w, ly->q_b, ly->k_w, ly->k_b, ly->v_w, ly->v_b,
                           ly->ao_w, ly->ao_b, ly->ao_g, ly->ao_beta, ly->i_w, ly->i_b,
                           ly->o_w, ly->o_b, ly->o_g, ly->o_beta};
            for (size_t i = 0; i < sizeof ps / sizeof *ps; i++)
                tensor_free(ps[i]);
        }
        free(m->layers);
    }
    free(m);
}

bert_model *bert_model_open(const char *dir, char *err, size_t errlen)
{
    if (!dir || !*dir) {
        attn_err(err, errlen, "bert: no model directory given");
        return NULL;
    }
    char why[256];
    if (blas_ready(why, sizeof why)) {   /* every layer is an sgemm */
        attn_err(err, errlen, "%s: %s", dir, why);
        return NULL;
    }
    bert_model *m = calloc(1, sizeof *m);
    if (!m) {
        attn_err(err, errlen, "%s: out of memory", dir);
        return NULL;
    }
    if (hf_read_bert_config(dir, &m->cfg, err, errlen) != 0) {
        free(m);
        return NULL;
    }
    const hf_bert_config *c = &m->cfg;
    if (!(m->tok = hf_read_tokenizer(dir, err, errlen)))
        goto fail;
    if (wordpiece_vocab_size(m->tok) > c->vocab_size) {
        attn_err(err, errlen, "%s: tokenizer has %d entries but config.json vocab_size is %d",
                 dir, wordpiece_vocab_size(m->tok), c->vocab_size);
        goto fail;
    }
    if (c->is_cross_encoder && c->type_vocab < 2) {
        attn_err(err, errlen, "%s/config.json: a cross-encoder needs type_vocab_size >= 2", dir);
        goto fail;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    safetensors *st = safetensors_open(path, err, errlen);
    if (!st)
        goto fail;
    loader L = {st, path, "", err, errlen, 0};
    if (!safetensors_find(st, "embeddings.word_embeddings.weight") &&
        safetensors_find(st, "bert.embeddings.word_embeddings.weight"))
        L.prefix = "bert.";
    int H = c->hidden;
    m->word = load(&L, "embeddings.word_embeddings.weight", c->vocab_size, H);
    m->pos = load(&L, "embeddings.position_embeddings.weight", c->max_positions, H);
    m->type = load(&L, "embeddings.token_type_embeddings.weight", c->type_vocab, H);
    m->emb_g = load(&L, "embeddings.LayerNorm.weight", H, 0);
    m->emb_b = load(&L, "embeddings.LayerNorm.bias", H, 0);
    m->layers = calloc((size_t)c->layers, sizeof *m->layers);
    if (!m->layers && !L.failed) {
        attn_err(err, errlen, "%s: out of memory", path);
        L.failed = 1;
    }
    for (int l = 0; l < c->layers && !L.failed; l++)
        load_layer(&L, l, c, &m->layers[l]);
    /* More layers in the weights than config.json names would run silently
     * as a shallower, different model. */
    char next[160];
    snprintf(next, sizeof next, "%sencoder.layer.%d.attention.self.query.weight", L.prefix,
             c->layers);
    if (!L.failed && safetensors_find(st, next)) {
        attn_err(err, errlen, "%s: has tensor %s, but config.json says num_hidden_layers is %d",
                 path, next, c->layers);
        L.failed = 1;
    }
    if (c->is_cross_encoder) {
        m->pool_w = load(&L, "pooler.dense.weight", H, H);
        m->pool_b = load(&L, "pooler.dense.bias", H, 0);
        L.prefix = "";
        m->cls_w = load(&L, "classifier.weight", 1, H);
        m->cls_b = load(&L, "classifier.bias", 1, 0);
    }
    safetensors_close(st);
    if (L.failed)
        goto fail;
    return m;
fail:
    bert_model_close(m);
    return NULL;
}

const hf_bert_config *bert_model_config(const bert_model *m) { return &m->cfg; }
const wordpiece *bert_model_tokenizer(const bert_model *m) { return m->tok; }

/* ---------------------------------------------------------------- forward */

int bert_model_forward_batch(const bert_model *m, const int32_t *ids, const int32_t *type_ids,
                             const int *lens, int nseq, float *out, char *err, size_t errlen)
{
    const hf_bert_config *c = &m->cfg;
    int H = c->hidden, I = c->intermediate, heads = c->heads;
    size_t n = 0;
    for (int s = 0; s < nseq; s++) {
        if (lens[s] <= 0 || lens[s] > c->max_positions) {
            attn_err(err, errlen, "bert: sequence of %d tokens (1..%d allowed)", lens[s],
                     c->max_positions);
            return -1;
        }
        n += (size_t)lens[s];
    }
    if (n == 0 || n > INT32_MAX / (size_t)(I > H ? I : H)) {
        attn_err(err, errlen, "bert: batch of %zu tokens", n);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        int t = type_ids ? type_ids[i] : 0;
        if (ids[i] < 0 || ids[i] >= c->vocab_size || t < 0 || t >= c->type_vocab) {
            attn_err(err, errlen, "bert: token %d (type %d) out of range", ids[i], t);
            return -1;
        }
    }
    int rows = (int)n;
    size_t nh = n * (size_t)H;
    float *q = tensor_alloc(nh), *k = tensor_alloc(nh), *v = tensor_alloc(nh);
    float *ctx = tensor_alloc(nh), *tmp = tensor_alloc(nh);
    float *mid = tensor_alloc(n * (size_t)I);
    int rc = -1;
    if (!q || !k || !v || !ctx || !tmp || !mid) {
        attn_err(err, errlen, "bert: out of memory");
        goto done;
    }
    float *x = out;
    /* Embeddings: word + position (restarting in each sequence) + token type,
     * then LayerNorm. */
    for (int s = 0, row = 0; s < nseq; s++) {
        for (int i = 0; i < lens[s]; i++, row++) {
            const float *w = m->word + (size_t)ids[row] * H;
            const float *p = m->pos + (size_t)i * H;
            const float *t = m->type + (size_t)(type_ids ? type_ids[row] : 0) * H;
            float *xr = x + (size_t)row * H;
            for (int j = 0; j < H; j++)
                xr[j] = w[j] + p[j] + t[j];
        }
    }
    tensor_layernorm(x, rows, H, m->emb_g, m->emb_b, c->ln_eps);
    attn_config ac;
    attn_config_init(&ac, heads, H / heads);
    /* Every step but attention is row-wise, so the sequences are stacked and
     * share each matrix product; attention runs per sequence on its rows. */
    for (int l = 0; l < c->layers; l++) {
        const bert_layer *ly = &m->layers[l];
        tensor_linear(x, rows, H, ly->q_w, ly->q_b, H, q);
        tensor_linear(x, rows, H, ly->k_w, ly->k_b, H, k);
        tensor_linear(x, rows, H, ly->v_w, ly->v_b, H, v);
        size_t off = 0;
        for (int s = 0; s < nseq; s++) {
            if (attn_forward(&ac, q + off, k + off, v + off, NULL, lens[s], ctx + off) != 0) {
                attn_err(err, errlen, "bert: attention failed (layer %d)", l);
                goto done;
            }
            off += (size_t)lens[s] * H;
        }
        /* x = LayerNorm(x + ctx Wo^T + bo) */
        tensor_linear(ctx, rows, H, ly->ao_w, ly->ao_b, H, tmp);
        tensor_add(tmp, x, nh);
        tensor_layernorm(tmp, rows, H, ly->ao_g, ly->ao_beta, c->ln_eps);
        /* x = LayerNorm(x + GELU(x Wi^T + bi) Wo2^T + bo2) */
        tensor_linear(tmp, rows, H, ly->i_w, ly->i_b, I, mid);
        if (c->gelu_tanh)
            tensor_gelu_tanh(mid, n * (size_t)I);
        else
            tensor_gelu_erf(mid, n * (size_t)I);
        tensor_linear(mid, rows, I, ly->o_w, ly->o_b, H, x);
        tensor_add(x, tmp, nh);
        tensor_layernorm(x, rows, H, ly->o_g, ly->o_beta, c->ln_eps);
    }
    rc = 0;
done:
    tensor_free(q);
    tensor_free(k);
    tensor_free(v);
    tensor_free(ctx);
    tensor_free(tmp);
    tensor_free(mid);
    return rc;
}

int bert_model_forward(const bert_model *m, const int32_t *ids, const int32_t *type_ids,
                       int n, float *out, char *err, size_t errlen)
{
    return bert_model_forward_batch(m, ids, type_ids, &n, 1, out, err, errlen);
}

/* ------------------------------------------------------- encoder backend */

static bert_model *model_of(encoder *e) { return e->impl; }

/* Texts are tokenized, then run in groups of about BERT_BATCH_TOKENS
 * tokens: enough rows for the matrix products to run near the machine's
 * FLOP rate, few enough to bound working memory (~ tokens * (5H + I) floats). */
#define BERT_BATCH_TOKENS 4096

/* Pools rows h[n x H] of one sequence into out[H] and normalises it. */
static void pool(const hf_bert_config *c, const float *h, int n, float *out)
{
    int H = c->hidden;
    if (c->pooling == HF_POOL_CLS) {
        memcpy(out, h, (size_t)H * sizeof *out);
    } else {
        /* Mean over all tokens, [CLS] and [SEP] included (attention mask 1). */
        for (int j = 0; j < H; j++) {
            double s = 0;
            for (int i = 0; i < n; i++)
                s += h[(size_t)i * H + j];
            out[j] = (float)(s / n);
        }
    }
    /* The interface promises unit vectors, whether or not modules.json asks. */
    tensor_l2_normalize_rows(out, 1, H);
}

/* Embeds texts[0..n) (one group) into out[n x H]. */
static int embed_group(const bert_model *m, const char *const *texts, int n, float *out,
                       char *err, size_t errlen)
{
    const hf_bert_config *c = &m->cfg;
    int32_t **seq = calloc((size_t)n, sizeof *seq);
    int *lens = calloc((size_t)n, sizeof *lens);
    int32_t *ids = NULL;
    float *h = NULL;
    int rc = -1;
    size_t total = 0;
    if (!seq || !lens) {
        attn_err(err, errlen, "bert: out of memory");
        goto done;
    }
    for (int i = 0; i < n; i++) {
        if (wordpiece_encode(m->tok, texts[i] ? texts[i] : "", NULL, c->max_seq_length,
                             &seq[i], NULL, &lens[i], err, errlen))
            goto done;
        total += (size_t)lens[i];
    }
    ids = malloc(total * sizeof *ids);
    h = tensor_alloc(total * (size_t)c->hidden);
    if (!ids || !h) {
        attn_err(err, errlen, "bert: out of memory");
        goto done;
    }
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        memcpy(ids + off, seq[i], (size_t)lens[i] * sizeof *ids);
        off += (size_t)lens[i];
    }
    if (bert_model_forward_batch(m, ids, NULL, lens, n, h, err, errlen))
        goto done;
    off = 0;
    for (int i = 0; i < n; i++) {
        pool(c, h + off * c->hidden, lens[i], out + (size_t)i * c->hidden);
        off += (size_t)lens[i];
    }
    rc = 0;
done:
    if (seq)
        for (int i = 0; i < n; i++)
            free(seq[i]);
    free(seq);
    free(lens);
    free(ids);
    tensor_free(h);
    return rc;
}

static int bert_encode(encoder *e, const char *const *texts, int n, float *out,
                       char *err, size_t errlen)
{
    const bert_model *m = model_of(e);
    /* Group by an upper bound on tokens (every text may reach the window). */
    int per = BERT_BATCH_TOKENS / m->cfg.max_seq_length;
    if (per < 1)
        per = 1;
    for (int i = 0; i < n; i += per) {
        int k = n - i < per ? n - i : per;
        if (embed_group(m, texts + i, k, out + (size_t)i * m->cfg.hidden, err, errlen))
            return -1;
    }
    return 0;
}

/* Scores one group of pairs: all (query, passage) sequences stacked in one
 * forward pass, then logit = w . tanh(Wp h[CLS] + bp) + b per sequence. */
static int score_group(const bert_model *m, const char *query, const char *const *passages,
                       int n, float *scores, char *err, size_t errlen)
{
    const hf_bert_config *c = &m->cfg;
    int H = c->hidden;
    int32_t **seq = calloc((size_t)n, sizeof *seq), **tts = calloc((size_t)n, sizeof *tts);
    int *lens = calloc((size_t)n, sizeof *lens);
    int32_t *ids = NULL, *tt = NULL;
    float *h = NULL, *pooled = tensor_alloc((size_t)H);
    int rc = -1;
    size_t total = 0;
    if (!seq || !tts || !lens || !pooled) {
        attn_err(err, errlen, "bert: out of memory");
        goto done;
    }
    for (int i = 0; i < n; i++) {
        if (wordpiece_encode(m->tok, query ? query : "", passages[i] ? passages[i] : "",
                             c->max_seq_length, &seq[i], &tts[i], &lens[i], err, errlen))
            goto done;
        total += (size_t)lens[i];
    }
    ids = malloc(total * sizeof *ids);
    tt = malloc(total * sizeof *tt);
    h = tensor_alloc(total * (size_t)H);
    if (!ids || !tt || !h) {
        attn_err(err, errlen, "bert: out of memory");
        goto done;
    }
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        memcpy(ids + off, seq[i], (size_t)lens[i] * sizeof *ids);
        memcpy(tt + off, tts[i], (size_t)lens[i] * sizeof *tt);
        off += (size_t)lens[i];
    }
    if (bert_model_forward_batch(m, ids, tt, lens, n, h, err, errlen))
        goto done;
    off = 0;
    for (int i = 0; i < n; i++) {
        tensor_linear(h + off * H, 1, H, m->pool_w, m->pool_b, H, pooled);
        tensor_tanh(pooled, (size_t)H);
        double s = m->cls_b[0];
        for (int j = 0; j < H; j++)
            s += (double)m->cls_w[j] * pooled[j];
        scores[i] = (float)s;
        off += (size_t)lens[i];
    }
    rc = 0;
done:
    for (int i = 0; seq && tts && i < n; i++) {
        free(seq[i]);
        free(tts[i]);
    }
    free(seq);
    free(tts);
    free(lens);
    free(ids);
    free(tt);
    tensor_free(h);
    tensor_free(pooled);
    return rc;
}

static int bert_score(encoder *e, const char *query, const char *const *passages, int n,
                      float *scores, char *err, size_t errlen)
{
    const bert_model *m = model_of(e);
    int per = BERT_BATCH_TOKENS / m->cfg.max_seq_length;
    if (per < 1)
        per = 1;
    for (int i = 0; i < n; i += per) {
        int k = n - i < per ? n - i : per;
        if (score_group(m, query, passages + i, k, scores + i, err, errlen))
            return -1;
    }
    return 0;
}

static int bert_tokenize(encoder *e, const char *text, int32_t **ids, int *n_ids,
                         char *err, size_t errlen)
{
    const bert_model *m = model_of(e);
    return wordpiece_encode(m->tok, text ? text : "", NULL, m->cfg.max_seq_length, ids, NULL,
                            n_ids, err, errlen);
}

static void bert_close(encoder *e)
{
    if (!e)
        return;
    bert_model_close(e->impl);
    free(e);
}

static const encoder_vtable bert_embed_vt = {bert_encode, NULL, bert_tokenize, bert_close};
static const encoder_vtable bert_cross_vt = {NULL, bert_score, bert_tokenize, bert_close};

encoder *encoder_bert_open(const char *dir, char *err, size_t errlen)
{
    bert_model *m = bert_model_open(dir, err, errlen);
    if (!m)
        return NULL;
    encoder *e = calloc(1, sizeof *e);
    if (!e) {
        bert_model_close(m);
        attn_err(err, errlen, "%s: out of memory", dir);
        return NULL;
    }
    e->impl = m;
    e->vt = m->cfg.is_cross_encoder ? &bert_cross_vt : &bert_embed_vt;
    snprintf(e->info.name, sizeof e->info.name, "bert:%s", dir);
    e->info.dim = m->cfg.hidden;
    e->info.max_tokens = m->cfg.max_seq_length;
    e->info.is_cross_encoder = m->cfg.is_cross_encoder;
    return e;
}
