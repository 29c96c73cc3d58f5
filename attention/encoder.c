/*
 * encoder.c — one embedding interface over every provider.
 *
 * The indexer (chunk vectors) and the query side (query vectors, re-ranking)
 * only ever see `encoder *`; which model sits behind it is decided here, by
 * the prefix of the spec string that the user gives on the command line or
 * that a collection recorded when it was created:
 *
 *   "use-lite"    built-in Universal Sentence Encoder lite, read from
 *                 MODEL_DIR/use-lite.lctxm (encoder_use.c)
 *   "bert:DIR"    a Hugging Face BERT-family model directory (encoder_bert.c)
 *   "http:URL"    an OpenAI-compatible /v1/embeddings endpoint (encoder_http.c)
 *
 * Each backend returns a struct encoder with a vtable; the functions below
 * check arguments, then call through it. Keeping the checks here means every
 * backend gets the same behaviour for n == 0, NULL outputs and unsupported
 * operations, and the backends stay about the model.
 */
#include "attention/attention.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *encoder_model_dir(const char *model_dir, char *buf, size_t buflen)
{
    const char *env = getenv("LCTX_MODEL_DIR");
    const char *dir = model_dir && *model_dir ? model_dir : env && *env ? env : "./models";
    snprintf(buf, buflen, "%s", dir);
    return buf;
}

static int has_prefix(const char *s, const char *p) { return strncmp(s, p, strlen(p)) == 0; }

encoder *encoder_open(const char *spec, const char *model_dir, char *err, size_t errlen)
{
    if (!spec || !*spec) {
        attn_err(err, errlen, "encoder: empty model spec (use-lite, bert:DIR or http:URL)");
        return NULL;
    }
    encoder *e = NULL;
    if (strcmp(spec, "use-lite") == 0) {
        char dir[768], path[1024];
        encoder_model_dir(model_dir, dir, sizeof dir);
        snprintf(path, sizeof path, "%s/use-lite.lctxm", dir);
        e = encoder_use_open(path, err, errlen);
    } else if (has_prefix(spec, "bert:") && spec[5]) {
        e = encoder_bert_open(spec + 5, err, errlen);
    } else if (has_prefix(spec, "http:") || has_prefix(spec, "https:")) {
        /* "http:URL" carries the URL after the prefix; a bare http(s)://
         * URL is accepted too */
        const char *url = has_prefix(spec, "http:") && !has_prefix(spec, "http://") ? spec + 5 : spec;
        e = encoder_http_open(url, err, errlen);
    } else {
        attn_err(err, errlen, "encoder: unknown model '%s' (use-lite, bert:DIR or http:URL)", spec);
        return NULL;
    }
    if (e && (!e->vt || !e->vt->close)) {
        attn_err(err, errlen, "encoder: backend for '%s' returned no vtable", spec);
        return NULL;
    }
    return e;
}

void encoder_close(encoder *e)
{
    if (e && e->vt && e->vt->close)
        e->vt->close(e);
}

const encoder_info *encoder_get_info(const encoder *e)
{
    return e ? &e->info : NULL;
}

int encoder_encode(encoder *e, const char *const *texts, int n, float *out, char *err, size_t errlen)
{
    if (!e || n < 0 || (n > 0 && (!texts || !out))) {
        attn_err(err, errlen, "encoder: invalid arguments");
        return -1;
    }
    if (!e->vt->encode || e->info.is_cross_encoder) {
        attn_err(err, errlen, "%s: a cross-encoder scores pairs; it does not embed texts", e->info.name);
        return -1;
    }
    return n == 0 ? 0 : e->vt->encode(e, texts, n, out, err, errlen);
}

int encoder_score(encoder *e, const char *query, const char *const *passages, int n, float *scores,
                  char *err, size_t errlen)
{
    if (!e || !query || n < 0 || (n > 0 && (!passages || !scores))) {
        attn_err(err, errlen, "encoder: invalid arguments");
        return -1;
    }
    if (!e->vt->score) {
        attn_err(err, errlen, "%s: not a cross-encoder; it cannot score (query, passage) pairs",
                 e->info.name);
        return -1;
    }
    return n == 0 ? 0 : e->vt->score(e, query, passages, n, scores, err, errlen);
}

int encoder_tokenize(encoder *e, const char *text, int32_t **ids, int *n_ids, char *err, size_t errlen)
{
    if (!e || !text || !ids || !n_ids) {
        attn_err(err, errlen, "encoder: invalid arguments");
        return -1;
    }
    if (!e->vt->tokenize) {
        attn_err(err, errlen, "%s: this model does not expose its tokenizer", e->info.name);
        return -1;
    }
    return e->vt->tokenize(e, text, ids, n_ids, err, errlen);
}
