/*
 * test_use_encoder.c — USE-lite against TensorFlow.js, and the encoder
 * interface around it.
 *
 * The reference is tests/data/use_lite/reference.jsonl, written by
 * tools/make-use-fixture.mjs: TensorFlow.js (pure-JS CPU backend) running the
 * original model files, and the original tokenizer. For every sentence the
 * token ids must be identical and the embedding's cosine with the reference
 * at least 0.9999. Sentences over 128 tokens are compared in lctx's
 * truncating mode, which is what the original graph computes.
 *
 * Needs the converted model: $LCTX_MODEL_DIR/use-lite.lctxm, else
 * ./models/use-lite.lctxm (`make model` fetches it).
 */
#include <criterion/criterion.h>
#include <cJSON.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attention/attention.h"

#define FIXTURE "tests/data/use_lite/reference.jsonl"
#define DIM 512

static const char *model_path(char *buf, size_t n)
{
    char dir[512];
    encoder_model_dir(NULL, dir, sizeof dir);
    snprintf(buf, n, "%s/use-lite.lctxm", dir);
    return buf;
}

static use_model *open_model(void)
{
    char path[600], err[512];
    use_model *u = use_model_open(model_path(path, sizeof path), err, sizeof err);
    cr_assert(u, "%s (run `make model` first)", err);
    return u;
}

typedef struct ref {
    char *text;
    int32_t *ids;
    int n_ids;
    int truncated;
    float emb[DIM];
} ref;

static ref *load_fixture(int *count)
{
    FILE *f = fopen(FIXTURE, "r");
    cr_assert(f, "cannot open " FIXTURE);
    ref *refs = NULL;
    int n = 0, cap = 0;
    char *line = NULL;
    size_t lcap = 0;
    while (getline(&line, &lcap, f) > 0) {
        cJSON *j = cJSON_Parse(line);
        cr_assert(j, "bad fixture line");
        if (cJSON_GetObjectItem(j, "meta")) {
            cJSON_Delete(j);
            continue;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 256;
            refs = realloc(refs, (size_t)cap * sizeof *refs);
        }
        ref *r = &refs[n++];
        const cJSON *ids = cJSON_GetObjectItem(j, "ids"), *emb = cJSON_GetObjectItem(j, "embedding");
        r->text = strdup(cJSON_GetObjectItem(j, "text")->valuestring);
        r->truncated = cJSON_IsTrue(cJSON_GetObjectItem(j, "truncated"));
        r->n_ids = cJSON_GetArraySize(ids);
        r->ids = malloc((size_t)(r->n_ids ? r->n_ids : 1) * sizeof *r->ids);
        for (int i = 0; i < r->n_ids; i++)
            r->ids[i] = (int32_t)cJSON_GetArrayItem(ids, i)->valuedouble;
        cr_assert_eq(cJSON_GetArraySize(emb), DIM);
        for (int i = 0; i < DIM; i++)
            r->emb[i] = (float)cJSON_GetArrayItem(emb, i)->valuedouble;
        cJSON_Delete(j);
    }
    free(line);
    fclose(f);
    *count = n;
    return refs;
}

static void free_fixture(ref *refs, int n)
{
    for (int i = 0; i < n; i++) {
        free(refs[i].text);
        free(refs[i].ids);
    }
    free(refs);
}

static double cosine(const float *a, const float *b, int d)
{
    double s = 0, x = 0, y = 0;
    for (int i = 0; i < d; i++) {
        s += (double)a[i] * b[i];
        x += (double)a[i] * a[i];
        y += (double)b[i] * b[i];
    }
    return s / sqrt(x * y);
}

Test(use_lite, token_ids_match_tensorflow_js)
{
    use_model *u = open_model();
    int n;
    ref *refs = load_fixture(&n);
    cr_assert_geq(n, 200, "the fixture should hold at least 200 sentences");
    for (int i = 0; i < n; i++) {
        int32_t *ids;
        int k;
        char err[256];
        cr_assert_eq(spm_encode(use_model_spm(u), refs[i].text, strlen(refs[i].text), &ids, &k, err,
                                sizeof err), 0, "%s", err);
        cr_assert_eq(k, refs[i].n_ids, "sentence %d: %d ids, TF.js has %d", i, k, refs[i].n_ids);
        for (int j = 0; j < k; j++)
            cr_assert_eq(ids[j], refs[i].ids[j], "sentence %d, token %d: %d vs TF.js %d", i, j,
                         ids[j], refs[i].ids[j]);
        free(ids);
    }
    free_fixture(refs, n);
    use_model_close(u);
}

/* Embeds all fixture sentences in batches of 32 in the given mode. */
static float *embed_all(use_model *u, ref *refs, int n, use_long_mode mode)
{
    float *out = malloc((size_t)n * DIM * sizeof(float));
    const char **texts = malloc((size_t)n * sizeof *texts);
    for (int i = 0; i < n; i++)
        texts[i] = refs[i].text;
    char err[256];
    for (int i = 0; i < n; i += 32) {
        int m = n - i < 32 ? n - i : 32;
        cr_assert_eq(use_embed_texts(u, texts + i, m, mode, out + (size_t)i * DIM, err, sizeof err),
                     0, "%s", err);
    }
    free(texts);
    return out;
}

Test(use_lite, embeddings_match_tensorflow_js)
{
    use_model *u = open_model();
    int n, truncated = 0;
    ref *refs = load_fixture(&n);
    float *trunc = embed_all(u, refs, n, USE_LONG_TRUNCATE);
    double worst = 1;
    for (int i = 0; i < n; i++) {
        double c = cosine(trunc + (size_t)i * DIM, refs[i].emb, DIM);
        cr_assert_geq(c, 0.9999, "sentence %d ('%.40s'): cosine %.6f", i, refs[i].text, c);
        worst = c < worst ? c : worst;
        truncated += refs[i].truncated;
    }
    cr_assert_gt(truncated, 0, "the fixture should include sentences over 128 tokens");
    cr_log_info("USE-lite vs TensorFlow.js: %d sentences, worst cosine %.9f", n, worst);
    free(trunc);
    free_fixture(refs, n);
    use_model_close(u);
}

Test(use_lite, default_mode_is_the_original_up_to_128_tokens)
{
    use_model *u = open_model();
    int n, m = 0, idx[64];
    ref *refs = load_fixture(&n);
    const char *texts[64];
    for (int i = 0; i < n && m < 64; i++)   /* short ones only: no window */
        if (!refs[i].truncated) {
            idx[m] = i;
            texts[m++] = refs[i].text;
        }
    float *win = malloc((size_t)m * DIM * sizeof(float));
    char err[256];
    cr_assert_eq(use_embed_texts(u, texts, m, USE_LONG_WINDOW, win, err, sizeof err), 0, "%s", err);
    for (int k = 0; k < m; k++)
        cr_assert_geq(cosine(win + (size_t)k * DIM, refs[idx[k]].emb, DIM), 0.9999, "sentence %d", idx[k]);
    free(win);
    free_fixture(refs, n);
    use_model_close(u);
}

static const char *doc_sentences[] = {
    "The quick brown fox jumps over the lazy dog.", "How do I configure a network interface on Debian?",
    "Paris is the capital and most populous city of France.", "The mitochondria is the powerhouse of the cell.",
    "In 1969, Apollo 11 landed on the Moon.", "The price rose 12.5% to $1,234.56 in Q3 2023.",
    "Neural networks learn representations from data.", "Sparse retrieval with BM25 is a strong baseline.",
    "The patient presented with fever and a persistent cough.", "Protein folding determines biological function.",
    "The court ruled in favor of the defendant.", "Stock markets fell sharply after the announcement.",
    "She plays the violin beautifully.", "Water boils at 100 degrees Celsius at sea level.",
    "Photosynthesis converts light into chemical energy.", "Please restart your computer to finish installing updates.",
    "Once upon a time, in a land far away, there lived a king.", "SQLite is a small, fast, self-contained SQL database engine.",
    "LMDB is a memory-mapped key-value store.", "The transformer architecture relies on self-attention.",
    "Temperatures ranged from -40 C to 45 C over the year.", "The orchestra performed the ninth symphony.",
    "Rainforests are home to millions of species.", "Dr. Jane Doe spoke about climate change.",
};
#define N_DOC ((int)(sizeof doc_sentences / sizeof *doc_sentences))

/* The long-input choice, validated: a document of 24 different sentences
 * (~330 tokens) should embed close to the mean of its sentences' embeddings.
 * The sliding window (positions modulo 128) must beat truncation, and stay
 * close to full dense attention over the same positions. */
Test(use_lite, long_inputs_use_the_window_and_keep_the_content)
{
    use_model *u = open_model();
    char err[256], doc[8192] = "";
    float *parts = malloc((size_t)N_DOC * DIM * sizeof(float)), mean[DIM] = { 0 };
    cr_assert_eq(use_embed_texts(u, doc_sentences, N_DOC, USE_LONG_WINDOW, parts, err, sizeof err), 0);
    for (int i = 0; i < N_DOC; i++) {
        strcat(doc, doc_sentences[i]);
        strcat(doc, " ");
        for (int j = 0; j < DIM; j++)
            mean[j] += parts[(size_t)i * DIM + j];
    }
    int32_t *ids;
    int n;
    cr_assert_eq(spm_encode(use_model_spm(u), doc, strlen(doc), &ids, &n, err, sizeof err), 0);
    free(ids);
    cr_assert_gt(n, 2 * use_model_max_tokens(u), "the document should be well over the window");
    const char *d[1] = { doc };
    float win[DIM], dense[DIM], trunc[DIM];
    cr_assert_eq(use_embed_texts(u, d, 1, USE_LONG_WINDOW, win, err, sizeof err), 0);
    cr_assert_eq(use_embed_texts(u, d, 1, USE_LONG_DENSE, dense, err, sizeof err), 0);
    cr_assert_eq(use_embed_texts(u, d, 1, USE_LONG_TRUNCATE, trunc, err, sizeof err), 0);
    double c_win = cosine(win, mean, DIM), c_trunc = cosine(trunc, mean, DIM);
    double c_wd = cosine(win, dense, DIM);
    cr_log_info("%d tokens: coverage window %.4f, truncate %.4f; window vs dense %.4f", n, c_win,
                c_trunc, c_wd);
    cr_assert_gt(c_win, c_trunc + 0.05, "window %.4f should cover the document better than truncation %.4f",
                 c_win, c_trunc);
    cr_assert_gt(c_win, 0.6, "window coverage %.4f", c_win);
    cr_assert_gt(c_wd, 0.8, "window vs dense %.4f", c_wd);
    free(parts);
    use_model_close(u);
}

typedef struct job {
    encoder *e;
    float out[16 * DIM];
    int rc;
} job;

static const char *thread_texts[16] = {
    "alpha", "beta gamma", "a longer sentence about retrieval", "numbers 1 2 3",
    "Café", "東京", "?", "the end", "one more", "and another one", "x", "y z",
    "information retrieval", "dense vectors", "sparse vectors", "hybrid search",
};

static void *encode_job(void *arg)
{
    job *j = arg;
    char err[256];
    for (int rep = 0; rep < 3 && j->rc == 0; rep++)
        j->rc = encoder_encode(j->e, thread_texts, 16, j->out, err, sizeof err);
    return NULL;
}

Test(use_lite, encoder_interface_and_threads)
{
    char err[512];
    encoder *e = encoder_open("use-lite", NULL, err, sizeof err);
    cr_assert(e, "%s", err);
    const encoder_info *info = encoder_get_info(e);
    cr_assert_eq(info->dim, DIM);
    cr_assert_eq(info->max_tokens, 128);
    cr_assert_eq(info->is_cross_encoder, 0);
    cr_assert_str_eq(info->name, "use-lite");

    float single[16 * DIM];
    cr_assert_eq(encoder_encode(e, thread_texts, 16, single, err, sizeof err), 0, "%s", err);
    static job jobs[2];
    pthread_t t[2];
    for (int i = 0; i < 2; i++) {
        jobs[i].e = e;
        jobs[i].rc = 0;
        cr_assert_eq(pthread_create(&t[i], NULL, encode_job, &jobs[i]), 0);
    }
    for (int i = 0; i < 2; i++) {
        pthread_join(t[i], NULL);
        cr_assert_eq(jobs[i].rc, 0);
        for (int k = 0; k < 16; k++)
            cr_assert_geq(cosine(jobs[i].out + k * DIM, single + k * DIM, DIM), 0.999999);
    }

    int32_t *ids;
    int n;
    cr_assert_eq(encoder_tokenize(e, "Hello world.", &ids, &n, err, sizeof err), 0);
    cr_assert_eq(n, 4);
    cr_assert_eq(ids[0], 341);  /* from the TF.js fixture: [341, 4125, 311, 6] */
    cr_assert_eq(ids[3], 6);
    free(ids);

    float score;
    const char *p = "passage";
    cr_assert_eq(encoder_score(e, "query", &p, 1, &score, err, sizeof err), -1);
    cr_assert(strstr(err, "not a cross-encoder"), "%s", err);
    encoder_close(e);
}

Test(use_lite, dispatcher_errors_name_the_problem)
{
    char err[512];
    cr_assert_null(encoder_open("nonsense", NULL, err, sizeof err));
    cr_assert(strstr(err, "unknown model 'nonsense'"), "%s", err);
    cr_assert_null(encoder_open("use-lite", "/nonexistent-model-dir", err, sizeof err));
    cr_assert(strstr(err, "/nonexistent-model-dir/use-lite.lctxm: "), "%s", err);
    cr_assert_null(encoder_open("", NULL, err, sizeof err));
}
