/*
 * test_bert_encoder.c — BERT models agree with PyTorch/transformers.
 *
 * tests/data/bert/{minilm,bge,cross} are randomly initialised models of the
 * real architectures saved by transformers' save_pretrained (float32, float16
 * and bfloat16 safetensors respectively); reference.json holds the token ids
 * and the pooled, normalised embeddings / cross-encoder logits PyTorch
 * computed for them (tools/make-bert-fixtures.py). We require the same ids
 * and every output within 1e-4. Then the refusal paths: wrong architecture,
 * missing vocabulary, truncated weights, shape mismatch — each a one-line
 * error naming the file.
 */
#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>
#include <unistd.h>

#include "attention/attention.h"

#define DATA "tests/data/bert/"

static cJSON *reference(void)
{
    FILE *f = fopen(DATA "reference.json", "rb");
    cr_assert(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = 0;
    fclose(f);
    cJSON *j = cJSON_Parse(buf);
    free(buf);
    cr_assert(j);
    return j;
}

static void check_ids(encoder *e, const char *text, const cJSON *want)
{
    int32_t *ids;
    int n;
    char err[256];
    cr_assert_eq(e->vt->tokenize(e, text, &ids, &n, err, sizeof err), 0, "%s", err);
    cr_assert_eq(n, cJSON_GetArraySize(want), "token count for '%.40s'", text);
    for (int i = 0; i < n; i++)
        cr_assert_eq(ids[i], cJSON_GetArrayItem(want, i)->valueint, "token %d of '%.40s'", i,
                     text);
    free(ids);
}

static void check_embedder(int which, const char *dir)
{
    cJSON *ref = reference();
    cJSON *m = cJSON_GetArrayItem(cJSON_GetObjectItem(ref, "models"), which);
    char err[512] = "";
    encoder *e = encoder_bert_open(dir, err, sizeof err);
    cr_assert(e, "%s", err);
    int dim = cJSON_GetObjectItem(m, "dim")->valueint;
    cr_assert_eq(e->info.dim, dim);
    cr_assert_eq(e->info.is_cross_encoder, 0);
    cr_assert_eq(e->info.max_tokens, cJSON_GetObjectItem(m, "max_seq_length")->valueint);
    cJSON *cases = cJSON_GetObjectItem(m, "cases");
    int n = cJSON_GetArraySize(cases);
    const char **texts = calloc((size_t)n, sizeof *texts);
    for (int i = 0; i < n; i++) {
        cJSON *c = cJSON_GetArrayItem(cases, i);
        texts[i] = cJSON_GetObjectItem(c, "text")->valuestring;
        check_ids(e, texts[i], cJSON_GetObjectItem(c, "ids"));
    }
    float *out = calloc((size_t)n * dim, sizeof *out);
    double worst = 0;
    cr_assert_eq(e->vt->encode(e, texts, n, out, err, sizeof err), 0, "%s", err);
    for (int i = 0; i < n; i++) {
        cJSON *want = cJSON_GetObjectItem(cJSON_GetArrayItem(cases, i), "embedding");
        cr_assert_eq(cJSON_GetArraySize(want), dim);
        double maxd = 0, dot = 0;
        for (int j = 0; j < dim; j++) {
            double w = cJSON_GetArrayItem(want, j)->valuedouble;
            double d = fabs(out[(size_t)i * dim + j] - w);
            maxd = d > maxd ? d : maxd;
            dot += w * out[(size_t)i * dim + j];
        }
        cr_expect_leq(maxd, 1e-4, "%s case %d: max |diff| %g", dir, i, maxd);
        worst = maxd > worst ? maxd : worst;
        cr_expect_geq(dot, 0.9999, "%s case %d: cosine %g", dir, i, dot);
    }
    cr_log_info("%s: worst |diff| %g over %d texts", dir, worst, n);
    free(out);
    free(texts);
    e->vt->close(e);
    cJSON_Delete(ref);
}

Test(bert_encoder, minilm_f32_mean_pooling_matches_pytorch)
{
    check_embedder(0, DATA "minilm");
}

Test(bert_encoder, bge_f16_cls_pooling_tokenizer_json_matches_pytorch)
{
    check_embedder(1, DATA "bge");
}

Test(bert_encoder, cross_encoder_bf16_logits_match_pytorch)
{
    cJSON *ref = reference();
    cJSON *cases = cJSON_GetObjectItem(cJSON_GetObjectItem(ref, "cross"), "cases");
    char err[512] = "";
    encoder *e = encoder_bert_open(DATA "cross", err, sizeof err);
    cr_assert(e, "%s", err);
    cr_assert_eq(e->info.is_cross_encoder, 1);
    cr_assert_null(e->vt->encode);
    const bert_model *m = e->impl;
    int n = cJSON_GetArraySize(cases);
    for (int i = 0; i < n; i++) {
        cJSON *c = cJSON_GetArrayItem(cases, i);
        const char *q = cJSON_GetObjectItem(c, "query")->valuestring;
        const char *p = cJSON_GetObjectItem(c, "passage")->valuestring;
        int32_t *ids, *tt;
        int len;
        cr_assert_eq(wordpiece_encode(bert_model_tokenizer(m), q, p, 512, &ids, &tt, &len, err,
                                      sizeof err), 0);
        cJSON *wi = cJSON_GetObjectItem(c, "ids"), *wt = cJSON_GetObjectItem(c, "type_ids");
        cr_assert_eq(len, cJSON_GetArraySize(wi));
        for (int j = 0; j < len; j++) {
            cr_assert_eq(ids[j], cJSON_GetArrayItem(wi, j)->valueint);
            cr_assert_eq(tt[j], cJSON_GetArrayItem(wt, j)->valueint);
        }
        free(ids);
        free(tt);
        float s;
        const char *passages[1] = {p};
        cr_assert_eq(e->vt->score(e, q, passages, 1, &s, err, sizeof err), 0, "%s", err);
        double want = cJSON_GetObjectItem(c, "logit")->valuedouble;
        cr_expect_leq(fabs(s - want), 1e-4, "pair %d: %g vs %g", i, s, want);
        cr_log_info("cross pair %d: %.7f vs %.7f", i, s, want);
    }
    e->vt->close(e);
    cJSON_Delete(ref);
}

Test(bert_encoder, same_text_same_vector_regardless_of_batch)
{
    char err[512];
    encoder *e = encoder_bert_open(DATA "minilm", err, sizeof err);
    cr_assert(e, "%s", err);
    const char *a[] = {"hello world"};
    const char *b[] = {"something much longer than the other text", "hello world"};
    float va[128], vb[256];
    cr_assert_eq(e->vt->encode(e, a, 1, va, err, sizeof err), 0);
    cr_assert_eq(e->vt->encode(e, b, 2, vb, err, sizeof err), 0);
    for (int j = 0; j < 128; j++)
        cr_assert_float_eq(va[j], vb[128 + j], 1e-6);
    e->vt->close(e);
}

Test(bert_encoder, batched_scores_equal_single_scores)
{
    char err[512];
    encoder *e = encoder_bert_open(DATA "cross", err, sizeof err);
    cr_assert(e, "%s", err);
    const char *p[] = {"Paris is the capital of France.", "", "a dog barks",
                       "naïve résumé of the 北京 meeting"};
    float all[4], one;
    cr_assert_eq(e->vt->score(e, "capital of france", p, 4, all, err, sizeof err), 0, "%s", err);
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(e->vt->score(e, "capital of france", p + i, 1, &one, err, sizeof err), 0);
        cr_assert_float_eq(all[i], one, 1e-5, "passage %d", i);
    }
    e->vt->close(e);
}

/* Through the public dispatcher (encoder.c): specs "bert:DIR". */
Test(bert_encoder, dispatcher_opens_bert_specs)
{
    cJSON *ref = reference();
    cJSON *c0 = cJSON_GetArrayItem(cJSON_GetObjectItem(
        cJSON_GetArrayItem(cJSON_GetObjectItem(ref, "models"), 0), "cases"), 0);
    char err[512] = "";
    encoder *e = encoder_open("bert:" DATA "minilm", NULL, err, sizeof err);
    cr_assert(e, "%s", err);
    cr_assert_eq(encoder_get_info(e)->dim, 128);
    cr_assert(strstr(encoder_get_info(e)->name, "bert:"));
    const char *t[] = {cJSON_GetObjectItem(c0, "text")->valuestring};
    float v[128];
    cr_assert_eq(encoder_encode(e, t, 1, v, err, sizeof err), 0, "%s", err);
    cJSON *want = cJSON_GetObjectItem(c0, "embedding");
    for (int j = 0; j < 128; j++)
        cr_assert_float_eq(v[j], cJSON_GetArrayItem(want, j)->valuedouble, 1e-4);
    float s;
    cr_assert_neq(encoder_score(e, "q", t, 1, &s, err, sizeof err), 0, "bi-encoder scored");
    encoder_close(e);
    e = encoder_open("bert:" DATA "cross", NULL, err, sizeof err);
    cr_assert(e, "%s", err);
    cr_assert_eq(encoder_get_info(e)->is_cross_encoder, 1);
    cr_assert_eq(encoder_score(e, "what is the capital of france", (const char *const[]){
                     "Paris is the capital of France."}, 1, &s, err, sizeof err), 0, "%s", err);
    double logit = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(
        cJSON_GetObjectItem(ref, "cross"), "cases"), 0), "logit")->valuedouble;
    cr_assert_float_eq(s, logit, 1e-4);
    encoder_close(e);
    cJSON_Delete(ref);
}

/* Two threads encoding at once get what one thread gets. */
typedef struct job {
    encoder *e;
    const char *const *texts;
    float out[4 * 128];
    int rc;
} job;

static void *run_job(void *arg)
{
    job *j = arg;
    char err[256];
    for (int r = 0; r < 3 && j->rc == 0; r++)
        j->rc = j->e->vt->encode(j->e, j->texts, 4, j->out, err, sizeof err);
    return NULL;
}

Test(bert_encoder, concurrent_encode_is_consistent)
{
    char err[512];
    encoder *e = encoder_bert_open(DATA "minilm", err, sizeof err);
    cr_assert(e, "%s", err);
    const char *texts[] = {"first text", "a second, longer text with café", "北京", ""};
    static job a, b, ref;
    a.e = b.e = ref.e = e;
    a.texts = b.texts = ref.texts = texts;
    run_job(&ref);
    pthread_t ta, tb;
    cr_assert_eq(pthread_create(&ta, NULL, run_job, &a), 0);
    cr_assert_eq(pthread_create(&tb, NULL, run_job, &b), 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    cr_assert_eq(a.rc, 0);
    cr_assert_eq(b.rc, 0);
    for (int i = 0; i < 4 * 128; i++) {
        cr_assert_float_eq(a.out[i], ref.out[i], 1e-6);
        cr_assert_float_eq(b.out[i], ref.out[i], 1e-6);
    }
    e->vt->close(e);
}

/* ------------------------------------------------------------ bad inputs */

static char tmpdir[64];

static void copy_file(const char *from, const char *to, long truncate_to)
{
    FILE *f = fopen(from, "rb"), *g = fopen(to, "wb");
    cr_assert(f && g, "%s -> %s", from, to);
    char buf[65536];
    size_t k;
    long total = 0;
    while ((k = fread(buf, 1, sizeof buf, f)) > 0) {
        if (truncate_to >= 0 && total + (long)k > truncate_to)
            k = (size_t)(truncate_to - total);
        fwrite(buf, 1, k, g);
        total += (long)k;
        if (truncate_to >= 0 && total >= truncate_to)
            break;
    }
    fclose(f);
    fclose(g);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    cr_assert(f);
    fputs(text, f);
    fclose(f);
}

/* A fresh copy of the cross model (small, vocab.txt) to damage. */
static void make_copy(void)
{
    strcpy(tmpdir, "/tmp/lctx-bert-XXXXXX");
    cr_assert(mkdtemp(tmpdir));
    char p[256];
    snprintf(p, sizeof p, "%s/config.json", tmpdir);
    copy_file(DATA "cross/config.json", p, -1);
    snprintf(p, sizeof p, "%s/vocab.txt", tmpdir);
    copy_file(DATA "cross/vocab.txt", p, -1);
    snprintf(p, sizeof p, "%s/model.safetensors", tmpdir);
    copy_file(DATA "cross/model.safetensors", p, -1);
}

static void remove_copy(void)
{
    const char *files[] = {"config.json", "vocab.txt", "model.safetensors"};
    char p[256];
    for (size_t i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", tmpdir, files[i]);
        unlink(p);
    }
    rmdir(tmpdir);
}

static void expect_open_error(const char *needle, const char *file)
{
    char err[512] = "";
    encoder *e = encoder_bert_open(tmpdir, err, sizeof err);
    if (e)
        e->vt->close(e);
    cr_assert_null(e, "opened a damaged model");
    cr_assert(strstr(err, needle), "error '%s' lacks '%s'", err, needle);
    cr_assert(strstr(err, file), "error '%s' does not name %s", err, file);
    cr_assert_null(strchr(err, '\n'), "error is not one line: %s", err);
}

Test(bert_encoder, damaged_copy_opens_fine_first, .init = make_copy, .fini = remove_copy)
{
    char err[512] = "";
    encoder *e = encoder_bert_open(tmpdir, err, sizeof err);
    cr_assert(e, "%s", err);
    e->vt->close(e);
}

Test(bert_encoder, wrong_architecture, .init = make_copy, .fini = remove_copy)
{
    char p[256];
    snprintf(p, sizeof p, "%s/config.json", tmpdir);
    write_text(p, "{\"architectures\": [\"GPT2LMHeadModel\"], \"model_type\": \"gpt2\"}");
    expect_open_error("GPT2LMHeadModel", "config.json");
}

Test(bert_encoder, missing_vocabulary, .init = make_copy, .fini = remove_copy)
{
    char p[256];
    snprintf(p, sizeof p, "%s/vocab.txt", tmpdir);
    unlink(p);
    expect_open_error("missing vocabulary", tmpdir);
}

Test(bert_encoder, truncated_weights, .init = make_copy, .fini = remove_copy)
{
    char p[256];
    snprintf(p, sizeof p, "%s/model.safetensors", tmpdir);
    copy_file(DATA "cross/model.safetensors", p, 700000);
    expect_open_error("truncated", "model.safetensors");
}

Test(bert_encoder, dimension_mismatch, .init = make_copy, .fini = remove_copy)
{
    char p[256];
    snprintf(p, sizeof p, "%s/config.json", tmpdir);
    write_text(p, "{\"architectures\": [\"BertForSequenceClassification\"], \"vocab_size\": 2000,"
                  " \"hidden_size\": 64, \"num_hidden_layers\": 2, \"num_attention_heads\": 4,"
                  " \"intermediate_size\": 512, \"num_labels\": 1}");
    expect_open_error("shape", "model.safetensors");
}

Test(bert_encoder, vocab_larger_than_model, .init = make_copy, .fini = remove_copy)
{
    char p[256];
    snprintf(p, sizeof p, "%s/config.json", tmpdir);
    write_text(p, "{\"architectures\": [\"BertForSequenceClassification\"], \"vocab_size\": 1000,"
                  " \"hidden_size\": 128, \"num_hidden_layers\": 2, \"num_attention_heads\": 4,"
                  " \"intermediate_size\": 512, \"num_labels\": 1}");
    expect_open_error("vocab_size", tmpdir);
}

Test(bert_encoder, malformed_config, .init = make_copy, .fini = remove_copy)
{
    char p[256];
    snprintf(p, sizeof p, "%s/config.json", tmpdir);
    write_text(p, "{\"architectures\": [\"BertModel\"], \"hidden_size\": ");
    expect_open_error("malformed JSON", "config.json");
}

/* Fewer layers in config.json than in the weights: refused, not run as a
 * shallower model. */
Test(bert_encoder, config_with_fewer_layers_than_the_weights, .init = make_copy,
     .fini = remove_copy)
{
    char p[256], text[4096];
    snprintf(p, sizeof p, "%s/config.json", tmpdir);
    FILE *f = fopen(p, "rb");
    cr_assert(f);
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = 0;
    char *k = strstr(text, "\"num_hidden_layers\"");
    cr_assert(k, "fixture config lacks num_hidden_layers");
    char *colon = strchr(k, ':');
    int layers = atoi(colon + 1);
    cr_assert_gt(layers, 1, "the fixture needs two layers or more");
    char *end = colon + 1;
    while (*end == ' ' || (*end >= '0' && *end <= '9'))
        end++;
    char fixed[4200];
    snprintf(fixed, sizeof fixed, "%.*s %d%s", (int)(colon + 1 - text), text, layers - 1, end);
    write_text(p, fixed);
    expect_open_error("num_hidden_layers", "model.safetensors");
}

/* A FIFO in place of a model file (say, a download still being piped in)
 * is refused at once, not waited on for ever. */
Test(bert_encoder, fifo_in_place_of_a_file, .init = make_copy, .fini = remove_copy,
     .timeout = 30)
{
    const char *names[] = {"model.safetensors", "config.json", "vocab.txt"};
    for (int i = 0; i < 3; i++) {
        char p[256], keep[300];
        snprintf(p, sizeof p, "%s/%s", tmpdir, names[i]);
        snprintf(keep, sizeof keep, "%s.kept", p);
        cr_assert_eq(rename(p, keep), 0);
        cr_assert_eq(mkfifo(p, 0600), 0);
        char err[512] = "";
        encoder *e = encoder_bert_open(tmpdir, err, sizeof err);
        cr_assert_null(e, "opened with a FIFO for %s", names[i]);
        cr_assert(strstr(err, names[i]), "error '%s' does not name %s", err, names[i]);
        unlink(p);
        cr_assert_eq(rename(keep, p), 0);
    }
}
