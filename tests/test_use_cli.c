/*
 * test_use_cli.c — `lctx-model` end to end: the line protocols evaluation
 * scripts rely on (tokenize, embed, score), `info`, and the one-line errors
 * for bad models and bad usage. Runs the sanitized build
 * ($LCTX_BUILD/san/lctx-model) with the model from `make model`.
 */
#include "test_cli_harness.h"

#include <math.h>

static void fixture_first_embedding(float *out)
{
    FILE *f = fopen("tests/data/use_lite/reference.jsonl", "r");
    cr_assert(f);
    char *line = NULL;
    size_t cap = 0;
    cr_assert(getline(&line, &cap, f) > 0);   /* meta */
    cr_assert(getline(&line, &cap, f) > 0);   /* "Hello world." */
    cJSON *j = cJSON_Parse(line);
    cr_assert_str_eq(cJSON_GetObjectItem(j, "text")->valuestring, "Hello world.");
    const cJSON *e = cJSON_GetObjectItem(j, "embedding");
    for (int i = 0; i < 512; i++)
        out[i] = (float)cJSON_GetArrayItem(e, i)->valuedouble;
    cJSON_Delete(j);
    free(line);
    fclose(f);
}

Test(use_cli, tokenize_prints_json_ids_per_line, .fini = cleanup_tmpdir)
{
    cmd_result r = run("Hello world.\n\nCaf\xC3\xA9 \xEF\xAC\x81ne\n", "lctx-model", "tokenize", "use-lite", NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_str_eq(r.out, "[341,4125,311,6]\n[]\n[823,209,1133,839]\n");
    result_free(&r);
}

Test(use_cli, embed_prints_unit_vectors_matching_tfjs, .fini = cleanup_tmpdir)
{
    cmd_result r = run("Hello world.\nsecond line\n", "lctx-model", "embed", "use-lite", NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    float ref[512];
    fixture_first_embedding(ref);
    char *save = NULL, *line = strtok_r(r.out, "\n", &save);
    int lines = 0;
    for (; line; line = strtok_r(NULL, "\n", &save), lines++) {
        cJSON *a = cJSON_Parse(line);
        cr_assert(cJSON_IsArray(a) && cJSON_GetArraySize(a) == 512, "line %d is not 512 floats", lines);
        double n2 = 0, dot = 0;
        for (int i = 0; i < 512; i++) {
            double v = cJSON_GetArrayItem(a, i)->valuedouble;
            n2 += v * v;
            dot += v * ref[i];
        }
        cr_assert_float_eq(n2, 1.0, 1e-4, "line %d is not L2-normalised", lines);
        if (lines == 0)
            cr_assert_geq(dot, 0.9999, "'Hello world.' differs from TensorFlow.js: %f", dot);
        cJSON_Delete(a);
    }
    cr_assert_eq(lines, 2);
    result_free(&r);
}

Test(use_cli, score_prints_one_number_per_pair, .fini = cleanup_tmpdir)
{
    cmd_result r = run("capital of france\tParis is the capital of France.\n"
                       "capital of france\tBananas are yellow.\n",
                       "lctx-model", "score", "use-lite", NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    double a, b;
    cr_assert_eq(sscanf(r.out, "%lf\n%lf\n", &a, &b), 2, "%s", r.out);
    cr_assert_gt(a, b, "the relevant passage should score higher (%f vs %f)", a, b);
    result_free(&r);
}

Test(use_cli, info_describes_the_model, .fini = cleanup_tmpdir)
{
    const char *dir = getenv("LCTX_MODEL_DIR");
    char path[512];
    snprintf(path, sizeof path, "%s/use-lite.lctxm", dir && *dir ? dir : "models");
    cmd_result r = run(NULL, "lctx-model", "info", path, NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.out, "arch: use-lite"), "%s", r.out);
    cr_assert(strstr(r.out, "vocabulary: 8000 pieces"), "%s", r.out);
    cr_assert(strstr(r.out, "tensor embed        [8002 x 256]"), "%s", r.out);
    result_free(&r);
}

Test(use_cli, bad_models_and_usage, .fini = cleanup_tmpdir)
{
    cmd_result r = run(NULL, "lctx-model", NULL);
    cr_assert_eq(r.status, 2);
    result_free(&r);
    r = run("x\n", "lctx-model", "embed", "no-such-model", NULL);
    cr_assert_eq(r.status, 1);
    cr_assert(strstr(r.err, "lctx-model: encoder: unknown model 'no-such-model'"), "%s", r.err);
    result_free(&r);

    /* a truncated model file in the model directory */
    const char *dir = tmpdir();
    char path[512];
    tjoin(path, sizeof path, "use-lite.lctxm");
    write_file(path, "LCTXMDL1 but nothing else");
    setenv("LCTX_MODEL_DIR", dir, 1);
    r = run("x\n", "lctx-model", "embed", "use-lite", NULL);
    cr_assert_eq(r.status, 1);
    cr_assert(strstr(r.err, path) && strstr(r.err, "truncated"), "%s", r.err);
    cr_assert_eq(strchr(r.err, '\n'), r.err + strlen(r.err) - 1, "one line: %s", r.err);
    result_free(&r);
}

/* `fetch hf:ORG/NAME` without a reachable hub: one clear line, exit 1, and
 * no half-written model left looking usable; a malformed name is bad usage. */
Test(use_cli, fetch_hf_without_network_fails_clearly, .fini = cleanup_tmpdir)
{
    const char *dir = tmpdir();
    setenv("LCTX_MODEL_DIR", dir, 1);
    setenv("LCTX_HF_ENDPOINT", "http://127.0.0.1:9", 1);   /* discard port: refused */
    cmd_result r = run(NULL, "lctx-model", "fetch", "hf:org/model", NULL);
    cr_assert_eq(r.status, 1, "%s", r.err);
    cr_assert(strstr(r.err, "hf:org/model") && strstr(r.err, "cannot reach"), "%s", r.err);
    cr_assert_eq(strchr(r.err, '\n'), r.err + strlen(r.err) - 1, "one line: %s", r.err);
    result_free(&r);
    char cfg[512];
    tjoin(cfg, sizeof cfg, "hf/org--model/config.json");
    cr_assert_neq(access(cfg, F_OK), 0, "no config.json after a failed fetch");

    r = run(NULL, "lctx-model", "fetch", "hf:no-slash", NULL);
    cr_assert_eq(r.status, 2);
    cr_assert(strstr(r.err, "expected hf:ORG/NAME"), "%s", r.err);
    result_free(&r);
    unsetenv("LCTX_HF_ENDPOINT");
}
