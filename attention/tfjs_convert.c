/*
 * tfjs_convert.c — TensorFlow.js USE-lite (model.json + shards + vocab.json)
 * to an lctx model file.
 *
 * A TF.js graph model is a JSON file with two parts: `modelTopology`, the
 * frozen TensorFlow graph, and `weightsManifest`, a list of groups, each a
 * list of shard files whose concatenation holds the listed weights back to
 * back (float32 and int32, 4 bytes each, in manifest order). The graph of
 * USE-lite was read by hand to write encoder_use.c; this converter only
 * needs the weights, which it finds by their graph names and stores under
 * short, stable names (see docs/model-format.md for the table):
 *
 *   embed [V x 256], timing_inv [128],
 *   l{i}.ln1.g/b, l{i}.qkv.w [in x 3*in], l{i}.qkv.b, l{i}.out.w, l{i}.out.b,
 *   l0.res.w/b (layer 0 projects its 256-wide residual to 512),
 *   l{i}.ln2.g/b, l{i}.ffn1.w/b, l{i}.ffn2.w/b, tanh.w, tanh.b
 *
 * All matrices keep TensorFlow's in x out layout; the 1x1 convolutions'
 * [1,1,in,out] kernels are the same bytes as [in,out].
 *
 * The graph's scalar constants that shape the computation (heads, the query
 * scale, layer-norm epsilon, the 128-token clip, the L2 epsilon) are read from
 * the weights too and written as config entries, so an export with other
 * values is either converted faithfully or refused with a message naming the
 * file and the missing piece, never converted into a silently wrong model.
 */
#include "attention/attention.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define P_APPLY "module_apply_default/Encoder_en/KonaTransformer/"
#define P_VARS "module/Encoder_en/KonaTransformer/"
#define TFJS_MAX_LAYERS 16

typedef struct tfjs_weight {
    const char *name;      /* into the parsed JSON */
    int ndim;
    int64_t shape[MODEL_MAX_DIMS];
    size_t count;
    const void *data;      /* into the shard buffer */
} tfjs_weight;

typedef struct tfjs_model {
    cJSON *json;
    unsigned char *shards; /* all groups' shards, concatenated */
    size_t shards_len;
    tfjs_weight *w;
    int n;
} tfjs_model;

/* Model files of the converter: model.json, the vocabulary and the weight
 * shards (a few MiB each); nothing legitimate comes near this. */
#define TFJS_MAX_FILE ((size_t)1 << 31)

static unsigned char *read_file(const char *path, size_t *len)
{
    char *buf;
    if (attn_read_file(path, TFJS_MAX_FILE, &buf, len, NULL, 0) != 0)
        return NULL;
    return (unsigned char *)buf;
}

static void tfjs_free(tfjs_model *m)
{
    cJSON_Delete(m->json);
    free(m->shards);
    free(m->w);
    memset(m, 0, sizeof *m);
}

/* Appends one shard file to the buffer. */
static int append_shard(tfjs_model *m, const char *dir, const char *name, char *err, size_t errlen)
{
    char path[1024];
    if (strchr(name, '/') || snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path) {
        attn_err(err, errlen, "%s/model.json: bad shard path '%s'", dir, name);
        return -1;
    }
    size_t len;
    unsigned char *b = read_file(path, &len);
    if (!b) {
        attn_err(err, errlen, "%s: cannot read weight shard", path);
        return -1;
    }
    unsigned char *q = realloc(m->shards, m->shards_len + len + 1);
    if (!q) {
        free(b);
        attn_err(err, errlen, "%s: out of memory", path);
        return -1;
    }
    memcpy(q + m->shards_len, b, len);
    m->shards = q;
    m->shards_len += len;
    free(b);
    return 0;
}

/* Reads the manifest of one group: its shards, then its weights in order. */
static int load_group(tfjs_model *m, const char *dir, const cJSON *group, char *err, size_t errlen)
{
    const cJSON *paths = cJSON_GetObjectItemCaseSensitive(group, "paths");
    const cJSON *weights = cJSON_GetObjectItemCaseSensitive(group, "weights");
    if (!cJSON_IsArray(paths) || !cJSON_IsArray(weights)) {
        attn_err(err, errlen, "%s/model.json: weightsManifest group without paths/weights", dir);
        return -1;
    }
    size_t at = m->shards_len;
    const cJSON *p;
    cJSON_ArrayForEach(p, paths) {
        if (!cJSON_IsString(p) || append_shard(m, dir, p->valuestring, err, errlen) != 0) {
            if (!cJSON_IsString(p))
                attn_err(err, errlen, "%s/model.json: shard path is not a string", dir);
            return -1;
        }
    }
    tfjs_weight *nw = realloc(m->w, (size_t)(m->n + cJSON_GetArraySize(weights) + 1) * sizeof *nw);
    if (!nw) {
        attn_err(err, errlen, "%s/model.json: out of memory", dir);
        return -1;
    }
    m->w = nw;
    const cJSON *w;
    cJSON_ArrayForEach(w, weights) {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(w, "name");
        const cJSON *shape = cJSON_GetObjectItemCaseSensitive(w, "shape");
        const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(w, "dtype");
        if (!cJSON_IsString(name) || !cJSON_IsArray(shape) || !cJSON_IsString(dtype)) {
            attn_err(err, errlen, "%s/model.json: malformed weight entry", dir);
            return -1;
        }
        if (cJSON_GetObjectItemCaseSensitive(w, "quantization")) {
            attn_err(err, errlen, "%s/model.json: weight '%s' is quantized; not supported", dir,
                     name->valuestring);
            return -1;
        }
        if (strcmp(dtype->valuestring, "float32") != 0 && strcmp(dtype->valuestring, "int32") != 0) {
            attn_err(err, errlen, "%s/model.json: weight '%s' has dtype %s; only float32/int32 are supported",
                     dir, name->valuestring, dtype->valuestring);
            return -1;
        }
        tfjs_weight *t = &m->w[m->n];
        memset(t, 0, sizeof *t);
        t->name = name->valuestring;
        t->ndim = cJSON_GetArraySize(shape);
        if (t->ndim > MODEL_MAX_DIMS) {
            attn_err(err, errlen, "%s/model.json: weight '%s' has too many dimensions", dir, t->name);
            return -1;
        }
        size_t count = 1;
        for (int d = 0; d < t->ndim; d++) {
            const cJSON *s = cJSON_GetArrayItem(shape, d);
            if (!cJSON_IsNumber(s) || s->valuedouble < 0 || s->valuedouble > 1e9) {
                attn_err(err, errlen, "%s/model.json: weight '%s' has a bad shape", dir, t->name);
                return -1;
            }
            t->shape[d] = (int64_t)s->valuedouble;
            count *= (size_t)t->shape[d];
        }
        t->count = count;
        if (count > (m->shards_len - at) / 4) {
            attn_err(err, errlen, "%s: weight shards too short for '%s' (truncated download?)", dir, t->name);
            return -1;
        }
        t->data = (const void *)(uintptr_t)at;  /* an offset until all shards are read */
        at += count * 4;
        m->n++;
    }
    return 0;
}

static int tfjs_load(tfjs_model *m, const char *dir, char *err, size_t errlen)
{
    memset(m, 0, sizeof *m);
    char path[1024];
    snprintf(path, sizeof path, "%s/model.json", dir);
    size_t len;
    unsigned char *text = read_file(path, &len);
    if (!text) {
        attn_err(err, errlen, "%s: cannot read", path);
        return -1;
    }
    m->json = cJSON_ParseWithLength((const char *)text, len);
    free(text);
    const cJSON *manifest = cJSON_GetObjectItemCaseSensitive(m->json, "weightsManifest");
    if (!m->json || !cJSON_IsArray(manifest)) {
        attn_err(err, errlen, "%s: not a TensorFlow.js graph model (no weightsManifest)", path);
        return -1;
    }
    const cJSON *g;
    cJSON_ArrayForEach(g, manifest) {
        if (load_group(m, dir, g, err, errlen) != 0)
            return -1;
    }
    for (int i = 0; i < m->n; i++)  /* offsets to pointers, now that the buffer is final */
        m->w[i].data = m->shards + (uintptr_t)m->w[i].data;
    return 0;
}

static const tfjs_weight *find_weight(const tfjs_model *m, const char *name)
{
    for (int i = 0; i < m->n; i++)
        if (strcmp(m->w[i].name, name) == 0)
            return &m->w[i];
    return NULL;
}

/* A float scalar constant of the graph. */
static int scalar(const tfjs_model *m, const char *dir, const char *name, int is_int, double *out,
                  char *err, size_t errlen)
{
    const tfjs_weight *w = find_weight(m, name);
    if (!w || w->count != 1) {
        attn_err(err, errlen, "%s/model.json: missing constant '%s' (not USE-lite?)", dir, name);
        return -1;
    }
    if (is_int) {
        int32_t v;
        memcpy(&v, w->data, 4);
        *out = v;
    } else {
        float v;
        memcpy(&v, w->data, 4);
        *out = v;
    }
    return 0;
}

/* Adds weight `src` as `dst`, checking its element count and reshaping it to
 * rows x cols (cols 0: a vector of rows). */
static int add_weight(model_writer *wr, const tfjs_model *m, const char *dir, const char *src,
                      const char *dst, int64_t rows, int64_t cols, char *err, size_t errlen)
{
    const tfjs_weight *w = find_weight(m, src);
    if (!w) {
        attn_err(err, errlen, "%s/model.json: missing weight '%s' (not USE-lite?)", dir, src);
        return -1;
    }
    int64_t shape[2] = { rows, cols };
    size_t want = (size_t)rows * (size_t)(cols ? cols : 1);
    if (w->count != want) {
        attn_err(err, errlen, "%s/model.json: weight '%s' has %zu values, expected %zu", dir, src,
                 w->count, want);
        return -1;
    }
    if (model_writer_tensor(wr, dst, cols ? 2 : 1, shape, w->data) != 0) {
        attn_err(err, errlen, "%s: cannot add tensor '%s'", dir, dst);
        return -1;
    }
    return 0;
}

static int add_layer(model_writer *wr, const tfjs_model *m, const char *dir, int l, int64_t in,
                     int64_t d_model, int64_t ffn, char *err, size_t errlen)
{
    char src[512], dst[64];
#define W(SRC_FMT, DST_FMT, R, C)                                                   \
    do {                                                                            \
        snprintf(src, sizeof src, SRC_FMT, l);                                      \
        snprintf(dst, sizeof dst, DST_FMT, l);                                      \
        if (add_weight(wr, m, dir, src, dst, R, C, err, errlen) != 0)              \
            return -1;                                                              \
    } while (0)
    W(P_APPLY "Encode/Layer_%d/TransformerLayer/layer_prepostprocess/layer_norm/layer_norm_scale/ConcatPartitions/concat", "l%d.ln1.g", in, 0);
    W(P_APPLY "Encode/Layer_%d/TransformerLayer/layer_prepostprocess/layer_norm/layer_norm_bias/ConcatPartitions/concat", "l%d.ln1.b", in, 0);
    W(P_VARS "Encode/Layer_%d/TransformerLayer/MultiheadAttention/qkv_transform_single/kernel/part_0", "l%d.qkv.w", in, 3 * in);
    W(P_APPLY "Encode/Layer_%d/TransformerLayer/MultiheadAttention/qkv_transform_single/bias/ConcatPartitions/concat", "l%d.qkv.b", 3 * in, 0);
    W(P_VARS "Encode/Layer_%d/TransformerLayer/MultiheadAttention/output_transform_single/kernel/part_0", "l%d.out.w", in, d_model);
    W(P_APPLY "Encode/Layer_%d/TransformerLayer/MultiheadAttention/output_transform_single/bias/ConcatPartitions/concat", "l%d.out.b", d_model, 0);
    if (in != d_model) {
        W(P_APPLY "Encode/Layer_%d/TransformerLayer/dense/kernel/ConcatPartitions/concat", "l%d.res.w", in, d_model);
        W(P_APPLY "Encode/Layer_%d/TransformerLayer/dense/bias/ConcatPartitions/concat", "l%d.res.b", d_model, 0);
    }
    W(P_APPLY "Encode/Layer_%d/TransformerLayer/FFN/layer_prepostprocess/layer_norm/layer_norm_scale/ConcatPartitions/concat", "l%d.ln2.g", d_model, 0);
    W(P_APPLY "Encode/Layer_%d/TransformerLayer/FFN/layer_prepostprocess/layer_norm/layer_norm_bias/ConcatPartitions/concat", "l%d.ln2.b", d_model, 0);
    W(P_APPLY "Encode/TransformerStack/Layer_%d/TransformerLayer/FFN/conv1/Tensordot/Reshape_1", "l%d.ffn1.w", d_model, ffn);
    W(P_APPLY "Encode/Layer_%d/TransformerLayer/FFN/conv1/bias/ConcatPartitions/concat", "l%d.ffn1.b", ffn, 0);
    W(P_APPLY "Encode/TransformerStack/Layer_%d/TransformerLayer/FFN/conv2/Tensordot/Reshape_1", "l%d.ffn2.w", ffn, d_model);
    W(P_APPLY "Encode/Layer_%d/TransformerLayer/FFN/conv2/bias/ConcatPartitions/concat", "l%d.ffn2.b", d_model, 0);
#undef W
    /* the query scale, checked against 1/sqrt(head_dim) by the encoder */
    double qs;
    snprintf(src, sizeof src, P_APPLY "Encode/TransformerStack/Layer_%d/TransformerLayer/MultiheadAttention/mul/y", l);
    snprintf(dst, sizeof dst, "l%d.q_scale", l);
    if (scalar(m, dir, src, 0, &qs, err, errlen) != 0 || model_writer_config(wr, dst, qs) != 0)
        return -1;
    return 0;
}

/* Reads vocab.json ([[piece, score], ...]) into the writer. The writer keeps
 * copies of the bytes, so the JSON can go right after. */
static int add_vocab(model_writer *wr, const char *vocab_path, int *n_out, char *err, size_t errlen)
{
    size_t len;
    unsigned char *text = read_file(vocab_path, &len);
    if (!text) {
        attn_err(err, errlen, "%s: cannot read the vocabulary", vocab_path);
        return -1;
    }
    cJSON *v = cJSON_ParseWithLength((const char *)text, len);
    free(text);
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) == 0) {
        attn_err(err, errlen, "%s: not a vocabulary (expected [[piece, score], ...])", vocab_path);
        cJSON_Delete(v);
        return -1;
    }
    int i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, v) {
        const cJSON *p = cJSON_GetArrayItem(e, 0), *s = cJSON_GetArrayItem(e, 1);
        /* The shipped vocabulary has null scores for seven pieces with ':'
         * in them (":", "://", "▁:)", ...). The JavaScript tokenizer adds the
         * score to a number, and null + x == x, so null means 0 — which makes
         * these the most likely pieces there are. We keep that meaning. */
        double score = cJSON_IsNull(s) ? 0.0 : cJSON_IsNumber(s) ? s->valuedouble : NAN;
        if (!cJSON_IsString(p) || isnan(score) || !p->valuestring[0] ||
            model_writer_piece(wr, p->valuestring, strlen(p->valuestring), score) != 0) {
            attn_err(err, errlen, "%s: entry %d is not a [piece, score] pair", vocab_path, i);
            cJSON_Delete(v);
            return -1;
        }
        i++;
    }
    cJSON_Delete(v);
    *n_out = i;
    return 0;
}

static int convert(model_writer *wr, const tfjs_model *m, const char *dir, const char *vocab_path,
                   char *err, size_t errlen)
{
    const tfjs_weight *emb = find_weight(m, "module/Embeddings_en");
    const tfjs_weight *timing = find_weight(m, P_APPLY "Encode/TransformerStack/Layer_0/AddTimingSignal/TimingSignal/ExpandDims_1");
    const tfjs_weight *tanh_w = find_weight(m, "module/Encoder_en/hidden_layers/tanh_layer_0/weights");
    if (!emb || emb->ndim != 2 || !timing || !tanh_w || tanh_w->ndim != 2) {
        attn_err(err, errlen, "%s/model.json: not a USE-lite graph (embeddings, timing signal or tanh layer missing)", dir);
        return -1;
    }
    int64_t rows = emb->shape[0], d_embed = emb->shape[1], d_model = tanh_w->shape[0];
    if (timing->count * 2 != (size_t)d_embed) {
        attn_err(err, errlen, "%s/model.json: timing signal width %zu does not match embeddings %lld", dir,
                 timing->count * 2, (long long)d_embed);
        return -1;
    }
    int layers = 0;
    for (; layers < TFJS_MAX_LAYERS; layers++) {
        char name[512];
        snprintf(name, sizeof name, P_VARS "Encode/Layer_%d/TransformerLayer/MultiheadAttention/qkv_transform_single/kernel/part_0", layers);
        if (!find_weight(m, name))
            break;
    }
    const tfjs_weight *ffn1 = find_weight(m, P_APPLY "Encode/TransformerStack/Layer_0/TransformerLayer/FFN/conv1/Tensordot/Reshape_1");
    if (layers == 0 || !ffn1 || ffn1->ndim != 2) {
        attn_err(err, errlen, "%s/model.json: no transformer layers found (not USE-lite?)", dir);
        return -1;
    }
    int64_t ffn = ffn1->shape[1];
    double heads, max_tokens, ln_eps, l2_eps;
    if (scalar(m, dir, P_APPLY "Encode/TransformerStack/Layer_1/TransformerLayer/MultiheadAttention/split_heads/split_last_dimension/Reshape/shape/2", 1, &heads, err, errlen) ||
        scalar(m, dir, P_APPLY "ClipToMaxLength/Less/y", 1, &max_tokens, err, errlen) ||
        scalar(m, dir, P_APPLY "Encode/TransformerStack/Layer_1/TransformerLayer/FFN/layer_prepostprocess/layer_norm/Cast/x", 0, &ln_eps, err, errlen) ||
        scalar(m, dir, "module_apply_default/Encoder_en/hidden_layers/l2_normalize/Maximum/y", 0, &l2_eps, err, errlen))
        return -1;
    int n_vocab = 0;
    if (add_vocab(wr, vocab_path, &n_vocab, err, errlen) != 0)
        return -1;
    if (n_vocab > rows) {
        attn_err(err, errlen, "%s: %d pieces but only %lld embedding rows", vocab_path, n_vocab, (long long)rows);
        return -1;
    }
    if (model_writer_config(wr, "n_layers", layers) || model_writer_config(wr, "d_embed", (double)d_embed) ||
        model_writer_config(wr, "d_model", (double)d_model) || model_writer_config(wr, "ffn_dim", (double)ffn) ||
        model_writer_config(wr, "heads", heads) || model_writer_config(wr, "max_tokens", max_tokens) ||
        model_writer_config(wr, "ln_eps", ln_eps) || model_writer_config(wr, "l2_eps", l2_eps) ||
        model_writer_config(wr, "spm_reserved", 6) || model_writer_config(wr, "embed_rows", (double)rows)) {
        attn_err(err, errlen, "%s: cannot write config", dir);
        return -1;
    }
    if (add_weight(wr, m, dir, "module/Embeddings_en", "embed", rows, d_embed, err, errlen) ||
        add_weight(wr, m, dir, timing->name, "timing_inv", (int64_t)timing->count, 0, err, errlen) ||
        add_weight(wr, m, dir, tanh_w->name, "tanh.w", d_model, d_model, err, errlen) ||
        add_weight(wr, m, dir, "module/Encoder_en/hidden_layers/tanh_layer_0/bias", "tanh.b", d_model, 0, err, errlen))
        return -1;
    for (int l = 0; l < layers; l++)
        if (add_layer(wr, m, dir, l, l == 0 ? d_embed : d_model, d_model, ffn, err, errlen) != 0)
            return -1;
    return 0;
}

int tfjs_convert_use(const char *dir, const char *vocab_path, const char *out_path, char *err,
                     size_t errlen)
{
    if (!dir || !vocab_path || !out_path) {
        attn_err(err, errlen, "convert: missing argument");
        return -1;
    }
    tfjs_model m = { 0 };
    model_writer *wr = model_writer_new("use-lite");
    int rc = -1;
    if (!wr)
        attn_err(err, errlen, "%s: out of memory", out_path);
    else if (tfjs_load(&m, dir, err, errlen) == 0 &&
             convert(wr, &m, dir, vocab_path, err, errlen) == 0)
        rc = model_writer_save(wr, out_path, err, errlen);
    tfjs_free(&m);
    model_writer_free(wr);
    return rc;
}
