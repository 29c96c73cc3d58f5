/*
 * fuzz_model_file.c — fuzz target for lctx's model-file parser and for
 * everything that trusts what it accepts.
 *
 * A model file carries a checksum over all of its bytes, so almost every
 * mutation would be stopped at the checksum and the structural checks behind
 * it would never be exercised. The first input byte therefore picks a mode:
 *   odd:  the rest is parsed as is (the checksum path);
 *   even: the checksum is recomputed first, so the mutated structure itself
 *         meets the header, config, vocabulary and tensor-directory checks.
 * An accepted file is then walked through every accessor, turned into a
 * tokenizer (spm_from_model) that tokenizes a few strings, and offered to the
 * USE-lite loader; if that accepts it too and its dimensions are small, one
 * sentence is embedded — the forward pass must stay in bounds for any model
 * the loader lets through.
 *
 * Build and run: `make fuzz-model-file FUZZ_SECONDS=60` (bench/models.mk);
 * by hand:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -I. \
 *     $(pkg-config --cflags libcjson libutf8proc openblas) fuzz/fuzz_model_file.c \
 *     attention/[a-z]*.c $(pkg-config --libs libcjson libutf8proc openblas libcurl) -lm -o fuzz_model_file
 *   ./fuzz_model_file -max_total_time=60 fuzz/corpus/model_file
 * -DFUZZ_STANDALONE gives a main() that replays the files named on the
 * command line once (for crashes under gdb).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attention/attention.h"

static void walk(model_file *m)
{
    double v;
    for (int i = 0; i < model_file_n_config(m); i++)
        (void)model_file_config_key(m, i, &v);
    for (int i = 0; i < model_file_n_tensors(m); i++) {
        const model_tensor *t = model_file_tensor_at(m, i);
        float s = 0;
        for (size_t j = 0; j < t->count && j < 4096; j++)
            s += t->data[j];
        (void)s;
    }
    for (int i = 0; i < model_file_vocab_size(m); i++) {
        size_t len;
        const char *p = model_file_piece(m, i, &len);
        if (p && len)
            (void)p[len - 1];
        (void)model_file_score(m, i);
    }
}

static void tokenize_some(const model_file *m)
{
    char err[256];
    spm *s = spm_from_model(m, err, sizeof err);
    if (!s)
        return;
    const char *texts[] = { "hello world", "a  b\xff\xfe c", "\xEF\xAC\x81 \xE6\x9D\xB1", "" };
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
        int32_t *ids = NULL;
        int n = 0;
        if (spm_encode(s, texts[i], strlen(texts[i]), &ids, &n, err, sizeof err) == 0)
            for (int k = 0; k < n; k++)
                if (ids[k] < 0 || ids[k] >= spm_vocab_size(s))
                    abort();  /* an id outside the vocabulary is a bug */
        free(ids);
    }
    spm_free(s);
}

static void try_encoder(model_file *m)
{
    char err[256];
    double d = 0, f = 0, rows = 0;
    model_file_config(m, "d_model", &d);
    model_file_config(m, "ffn_dim", &f);
    model_file_config(m, "embed_rows", &rows);
    use_model *u = use_model_from_file(m, err, sizeof err);  /* takes m */
    if (!u)
        return;
    if (d <= 64 && f <= 256) {
        const char *t[1] = { "the fuzzer says hello hello hello hello" };
        float *out = malloc((size_t)use_model_dim(u) * sizeof(float));
        if (out)
            use_embed_texts(u, t, 1, USE_LONG_WINDOW, out, err, sizeof err);
        free(out);
    }
    use_model_close(u);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int fix_checksum = (data[0] & 1) == 0;
    size = size - 1;
    /* a private, 64-byte aligned copy: the parser needs float alignment */
    uint8_t *buf = aligned_alloc(64, (size + 63) / 64 * 64 + 64);
    if (!buf)
        return 0;
    memcpy(buf, data + 1, size);
    if (fix_checksum && size >= MODEL_FILE_CHECKSUM_OFFSET + 8) {
        uint64_t h = model_file_hash(buf, size);
        memcpy(buf + MODEL_FILE_CHECKSUM_OFFSET, &h, 8);
    }
    char err[256];
    model_file *m = model_file_parse(buf, size, "fuzz", err, sizeof err);
    if (m) {
        walk(m);
        tokenize_some(m);
        try_encoder(m);  /* closes m */
    } else if (!strchr(err, ':')) {
        abort();  /* every refusal must explain itself */
    }
    free(buf);
    return 0;
}

#include "fuzz_main.h"
