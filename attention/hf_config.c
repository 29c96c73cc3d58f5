/*
 * hf_config.c — reading a Hugging Face model directory.
 *
 * A BERT-family checkpoint is not one file but a handful, written by two
 * libraries:
 *
 *   config.json                 transformers: architecture and shapes
 *   tokenizer.json              tokenizers: vocabulary + normalizer settings
 *   vocab.txt                   the older form: one piece per line, id = line
 *   tokenizer_config.json       do_lower_case / strip_accents for vocab.txt
 *   modules.json                sentence-transformers: the module pipeline
 *   1_Pooling/config.json       which pooling (CLS or mean)
 *   sentence_bert_config.json   max_seq_length (the truncation length)
 *
 * This file turns them into an hf_bert_config and a wordpiece tokenizer and
 * refuses, with a message naming the file, anything the C forward pass would
 * compute differently from PyTorch: other architectures, relative position
 * embeddings, max or sqrt-length pooling, non-WordPiece tokenizers, vocab
 * ids with holes. Missing optional files fall back to what
 * sentence-transformers itself would do: mean pooling, normalized.
 */
#include "attention/attention.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* JSON config files are small; anything past this is not a config. */
#define HF_MAX_JSON (64u << 20)

int attn_read_file(const char *path, size_t max, char **out, size_t *len,
                   char *err, size_t errlen)
{
    *out = NULL;
    struct stat sb;
    if (stat(path, &sb) == 0 && !S_ISREG(sb.st_mode)) {   /* a FIFO would block */
        attn_err(err, errlen, "%s: not a regular file", path);
        return -1;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno == ENOENT)
            return 1;
        attn_err(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    const char *why = buf ? NULL : "out of memory";
    while (!why) {
        if (n + 1 >= cap) {
            if (cap >= max) {
                why = "file too large";
                break;
            }
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                why = "out of memory";
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t k = fread(buf + n, 1, cap - n - 1, f);
        n += k;
        if (k == 0)
            break;
    }
    if (!why && ferror(f))
        why = "read error";
    fclose(f);
    if (why) {
        free(buf);
        attn_err(err, errlen, "%s: %s", path, why);
        return -1;
    }
    buf[n] = 0;
    *out = buf;
    if (len)
        *len = n;
    return 0;
}

/* Parses path as JSON. 0, 1 = missing, -1 = error (message set). */
static int read_json(const char *path, cJSON **out, char *err, size_t errlen)
{
    char *buf;
    size_t len;
    *out = NULL;
    int rc = attn_read_file(path, HF_MAX_JSON, &buf, &len, err, errlen);
    if (rc != 0)
        return rc;
    *out = cJSON_ParseWithLength(buf, len);
    free(buf);
    if (!*out) {
        attn_err(err, errlen, "%s: malformed JSON", path);
        return -1;
    }
    return 0;
}

static void join(char *buf, size_t n, const char *dir, const char *file)
{
    snprintf(buf, n, "%s/%s", dir, file);
}

/* An integer field in [lo, hi]; absent gives def (or an error when def < 0
 * is "required"). */
static int get_int(const cJSON *o, const char *key, int def, int lo, int hi, int *out,
                   const char *path, char *err, size_t errlen)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!j) {
        if (def == INT32_MIN) {
            attn_err(err, errlen, "%s: missing \"%s\"", path, key);
            return -1;
        }
        *out = def;
        return 0;
    }
    if (!cJSON_IsNumber(j) || j->valuedouble < lo || j->valuedouble > hi ||
        j->valuedouble != (double)(int)j->valuedouble) {
        attn_err(err, errlen, "%s: \"%s\" must be an integer in [%d, %d]", path, key, lo, hi);
        return -1;
    }
    *out = (int)j->valuedouble;
    return 0;
}

static int read_pooling(const char *dir, hf_bert_config *cfg, char *err, size_t errlen)
{
    char path[4096], ppath[4096];
    cJSON *mods = NULL;
    join(path, sizeof path, dir, "modules.json");
    int rc = read_json(path, &mods, err, errlen);
    cfg->pooling = HF_POOL_MEAN;
    cfg->normalize = 1;
    if (rc == 1)
        return 0;
    if (rc < 0)
        return -1;
    if (!cJSON_IsArray(mods)) {
        cJSON_Delete(mods);
        attn_err(err, errlen, "%s: expected a JSON array of modules", path);
        return -1;
    }
    const char *pool_dir = NULL;
    int normalize = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, mods) {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(m, "type");
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(m, "path");
        if (!cJSON_IsString(type))
            continue;
        if (strstr(type->valuestring, "Pooling") && cJSON_IsString(p))
            pool_dir = p->valuestring;
        else if (strstr(type->valuestring, "Normalize"))
            normalize = 1;
    }
    cfg->normalize = normalize;
    rc = 0;
    if (pool_dir) {
        if (strstr(pool_dir, "..")) {
            attn_err(err, errlen, "%s: pooling path '%s' leaves the model directory", path,
                     pool_dir);
            rc = -1;
        } else {
            snprintf(ppath, sizeof ppath, "%s/%s/config.json", dir, pool_dir);
            cJSON *pc = NULL;
            int prc = read_json(ppath, &pc, err, errlen);
            if (prc == 0) {
                if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(pc, "pooling_mode_cls_token")))
                    cfg->pooling = HF_POOL_CLS;
                else if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(pc, "pooling_mode_mean_tokens")))
                    cfg->pooling = HF_POOL_MEAN;
                else {
                    attn_err(err, errlen, "%s: only CLS and mean pooling are supported", ppath);
                    rc = -1;
                }
            } else if (prc < 0) {
                rc = -1;
            }
            cJSON_Delete(pc);
        }
    }
    cJSON_Delete(mods);
    return rc;
}

int hf_read_bert_config(const char *dir, hf_bert_config *cfg, char *err, size_t errlen)
{
    char path[4096];
    cJSON *c = NULL;
    memset(cfg, 0, sizeof *cfg);
    join(path, sizeof path, dir, "config.json");
    int rc = read_json(path, &c, err, errlen);
    if (rc == 1)
        attn_err(err, errlen, "%s: missing (not a Hugging Face model directory?)", path);
    if (rc != 0)
        return -1;
    rc = -1;
    const cJSON *arch = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(c, "architectures"), 0);
    const cJSON *mtype = cJSON_GetObjectItemCaseSensitive(c, "model_type");
    const char *a = cJSON_IsString(arch) ? arch->valuestring : NULL;
    if (a && strcmp(a, "BertForSequenceClassification") == 0) {
        cfg->is_cross_encoder = 1;
    } else if (a && strcmp(a, "BertModel") != 0) {
        attn_err(err, errlen, "%s: architecture %s is not supported (BertModel, "
                 "BertForSequenceClassification are)", path, a);
        goto out;
    } else if (!a && !(cJSON_IsString(mtype) && strcmp(mtype->valuestring, "bert") == 0)) {
        attn_err(err, errlen, "%s: neither architectures nor model_type says BERT", path);
        goto out;
    }
    const cJSON *pe = cJSON_GetObjectItemCaseSensitive(c, "position_embedding_type");
    if (cJSON_IsString(pe) && strcmp(pe->valuestring, "absolute") != 0) {
        attn_err(err, errlen, "%s: position_embedding_type %s is not supported", path,
                 pe->valuestring);
        goto out;
    }
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(c, "hidden_act");
    if (cJSON_IsString(act)) {
        if (strcmp(act->valuestring, "gelu_new") == 0 ||
            strcmp(act->valuestring, "gelu_pytorch_tanh") == 0)
            cfg->gelu_tanh = 1;
        else if (strcmp(act->valuestring, "gelu") != 0) {
            attn_err(err, errlen, "%s: hidden_act %s is not supported", path, act->valuestring);
            goto out;
        }
    }
    if (get_int(c, "vocab_size", INT32_MIN, 1, 1 << 22, &cfg->vocab_size, path, err, errlen) ||
        get_int(c, "hidden_size", INT32_MIN, 1, 16384, &cfg->hidden, path, err, errlen) ||
        get_int(c, "num_hidden_layers", INT32_MIN, 1, 256, &cfg->layers, path, err, errlen) ||
        get_int(c, "num_attention_heads", INT32_MIN, 1, 1024, &cfg->heads, path, err, errlen) ||
        get_int(c, "intermediate_size", INT32_MIN, 1, 1 << 17, &cfg->intermediate, path, err, errlen) ||
        get_int(c, "max_position_embeddings", 512, 3, 1 << 16, &cfg->max_positions, path, err, errlen) ||
        get_int(c, "type_vocab_size", 2, 1, 1 << 10, &cfg->type_vocab, path, err, errlen))
        goto out;
    if (cfg->hidden % cfg->heads != 0) {
        attn_err(err, errlen, "%s: hidden_size %d is not a multiple of num_attention_heads %d",
                 path, cfg->hidden, cfg->heads);
        goto out;
    }
    const cJSON *eps = cJSON_GetObjectItemCaseSensitive(c, "layer_norm_eps");
    cfg->ln_eps = cJSON_IsNumber(eps) && eps->valuedouble > 0 && eps->valuedouble < 1
                      ? (float)eps->valuedouble : 1e-12f;
    cfg->num_labels = 0;
    if (cfg->is_cross_encoder) {
        const cJSON *id2 = cJSON_GetObjectItemCaseSensitive(c, "id2label");
        int nl = cJSON_IsObject(id2) ? cJSON_GetArraySize(id2) : 2;
        if (get_int(c, "num_labels", nl, 1, 1 << 16, &nl, path, err, errlen))
            goto out;
        if (nl != 1) {
            attn_err(err, errlen, "%s: %d labels; only one-logit cross-encoders are supported",
                     path, nl);
            goto out;
        }
        cfg->num_labels = 1;
    }
    cfg->max_seq_length = cfg->max_positions;
    cJSON *sb = NULL;
    join(path, sizeof path, dir, "sentence_bert_config.json");
    int src = read_json(path, &sb, err, errlen);
    if (src < 0)
        goto out;
    if (src == 0) {
        int msl;
        if (get_int(sb, "max_seq_length", cfg->max_positions, 3, 1 << 16, &msl, path, err,
                    errlen)) {
            cJSON_Delete(sb);
            goto out;
        }
        cfg->max_seq_length = msl < cfg->max_positions ? msl : cfg->max_positions;
        cJSON_Delete(sb);
    }
    if (!cfg->is_cross_encoder && read_pooling(dir, cfg, err, errlen))
        goto out;
    rc = 0;
out:
    cJSON_Delete(c);
    return rc;
}

/* ------------------------------------------------------------ tokenizers */

wordpiece *hf_vocab_txt(const char *path, char *err, size_t errlen)
{
    char *buf;
    size_t len;
    int rc = attn_read_file(path, HF_MAX_JSON, &buf, &len, err, errlen);
    if (rc == 1)
        attn_err(err, errlen, "%s: missing vocabulary", path);
    if (rc != 0)
        return NULL;
    size_t lines = 1;
    for (size_t i = 0; i < len; i++)
        lines += buf[i] == '\n';
    const char **toks = malloc(lines * sizeof *toks);
    if (!toks) {
        free(buf);
        attn_err(err, errlen, "%s: out of memory", path);
        return NULL;
    }
    int n = 0;
    char *p = buf, *end = buf + len;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *e = nl ? nl : end;
        if (e > p && e[-1] == '\r')
            e[-1] = 0;
        *e = 0;
        toks[n++] = p;
        p = e + 1;
    }
    /* Lowercasing for vocab.txt comes from tokenizer_config.json when it is
     * next to it; uncased is the common case and the default. */
    wordpiece_opts o;
    wordpiece_opts_init(&o);
    char cpath[4096];
    snprintf(cpath, sizeof cpath, "%s", path);
    char *slash = strrchr(cpath, '/');
    if (slash) {
        snprintf(slash + 1, sizeof cpath - (size_t)(slash + 1 - cpath), "tokenizer_config.json");
        cJSON *tc = NULL;
        char ignore[8];
        if (read_json(cpath, &tc, ignore, sizeof ignore) == 0) {
            const cJSON *lc = cJSON_GetObjectItemCaseSensitive(tc, "do_lower_case");
            const cJSON *sa = cJSON_GetObjectItemCaseSensitive(tc, "strip_accents");
            if (cJSON_IsBool(lc))
                o.lowercase = cJSON_IsTrue(lc);
            if (cJSON_IsBool(sa))
                o.strip_accents = cJSON_IsTrue(sa);
        }
        cJSON_Delete(tc);
    }
    wordpiece *w = wordpiece_new(toks, n, &o, path, err, errlen);
    free(toks);
    free(buf);
    return w;
}

static int tok_normalizer(const cJSON *norm, wordpiece_opts *o, const char *path,
                          char *err, size_t errlen)
{
    if (!norm || cJSON_IsNull(norm)) {
        o->clean_text = o->chinese_chars = o->lowercase = 0;
        o->strip_accents = 0;
        return 0;
    }
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(norm, "type");
    if (!cJSON_IsString(type) || strcmp(type->valuestring, "BertNormalizer") != 0) {
        attn_err(err, errlen, "%s: normalizer %s is not supported (BertNormalizer is)", path,
                 cJSON_IsString(type) ? type->valuestring : "?");
        return -1;
    }
    const cJSON *j;
    if ((j = cJSON_GetObjectItemCaseSensitive(norm, "clean_text")) && cJSON_IsBool(j))
        o->clean_text = cJSON_IsTrue(j);
    if ((j = cJSON_GetObjectItemCaseSensitive(norm, "handle_chinese_chars")) && cJSON_IsBool(j))
        o->chinese_chars = cJSON_IsTrue(j);
    if ((j = cJSON_GetObjectItemCaseSensitive(norm, "lowercase")) && cJSON_IsBool(j))
        o->lowercase = cJSON_IsTrue(j);
    j = cJSON_GetObjectItemCaseSensitive(norm, "strip_accents");
    o->strip_accents = cJSON_IsBool(j) ? cJSON_IsTrue(j) : -1;
    return 0;
}

wordpiece *hf_tokenizer_json(const char *path, char *err, size_t errlen)
{
    cJSON *t = NULL;
    int rc = read_json(path, &t, err, errlen);
    if (rc == 1)
        attn_err(err, errlen, "%s: missing", path);
    if (rc != 0)
        return NULL;
    wordpiece *w = NULL;
    const char **toks = NULL;
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(t, "model");
    const cJSON *mtype = cJSON_GetObjectItemCaseSensitive(model, "type");
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    const cJSON *pre = cJSON_GetObjectItemCaseSensitive(t, "pre_tokenizer");
    const cJSON *ptype = cJSON_GetObjectItemCaseSensitive(pre, "type");
    const cJSON *prefix = cJSON_GetObjectItemCaseSensitive(model, "continuing_subword_prefix");
    wordpiece_opts o;
    wordpiece_opts_init(&o);
    if (!cJSON_IsString(mtype) || strcmp(mtype->valuestring, "WordPiece") != 0) {
        attn_err(err, errlen, "%s: model type %s is not supported (WordPiece is)", path,
                 cJSON_IsString(mtype) ? mtype->valuestring : "(missing)");
        goto out;
    }
    if (!cJSON_IsObject(vocab) || cJSON_GetArraySize(vocab) == 0) {
        attn_err(err, errlen, "%s: missing model.vocab", path);
        goto out;
    }
    if (cJSON_IsString(prefix) && strcmp(prefix->valuestring, "##") != 0) {
        attn_err(err, errlen, "%s: continuing_subword_prefix must be \"##\"", path);
        goto out;
    }
    if (!cJSON_IsString(ptype) || strcmp(ptype->valuestring, "BertPreTokenizer") != 0) {
        attn_err(err, errlen, "%s: pre_tokenizer %s is not supported (BertPreTokenizer is)",
                 path, cJSON_IsString(ptype) ? ptype->valuestring : "(missing)");
        goto out;
    }
    if (tok_normalizer(cJSON_GetObjectItemCaseSensitive(t, "normalizer"), &o, path, err, errlen))
        goto out;
    int mc;
    if (get_int(model, "max_input_chars_per_word", 100, 1, 1 << 20, &mc, path, err, errlen))
        goto out;
    o.max_chars_per_word = mc;
    int n = cJSON_GetArraySize(vocab);
    toks = calloc((size_t)n, sizeof *toks);
    if (!toks) {
        attn_err(err, errlen, "%s: out of memory", path);
        goto out;
    }
    const cJSON *e;
    cJSON_ArrayForEach(e, vocab) {
        double id = cJSON_IsNumber(e) ? e->valuedouble : -1;
        if (!(id >= 0 && id < n) || id != (double)(int)id || toks[(int)id]) {
            attn_err(err, errlen, "%s: vocab id of '%s' is invalid or repeated (ids must be "
                     "0..%d)", path, e->string, n - 1);
            goto out;
        }
        toks[(int)id] = e->string;
    }
    w = wordpiece_new(toks, n, &o, path, err, errlen);
out:
    free(toks);
    cJSON_Delete(t);
    return w;
}

wordpiece *hf_read_tokenizer(const char *dir, char *err, size_t errlen)
{
    char path[4096];
    struct stat sb;
    join(path, sizeof path, dir, "tokenizer.json");
    if (stat(path, &sb) == 0)          /* not opened here: a FIFO would block */
        return hf_tokenizer_json(path, err, errlen);
    join(path, sizeof path, dir, "vocab.txt");
    if (stat(path, &sb) != 0) {
        attn_err(err, errlen, "%s: missing vocabulary (neither tokenizer.json nor vocab.txt)", dir);
        return NULL;
    }
    return hf_vocab_txt(path, err, errlen);
}
