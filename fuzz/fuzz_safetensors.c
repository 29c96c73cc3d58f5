/*
 * fuzz_safetensors.c — fuzz target for the BERT model-file parsers.
 *
 * The first input byte (mod 3) picks the parser, the rest is its input:
 *   0: safetensors_parse over the bytes (header length, JSON header,
 *      offsets, dtypes, shapes) and, when accepted, widening every tensor
 *      to float32 — which reads exactly the bytes validation vouched for;
 *   1: the bytes written as a tokenizer.json and loaded with
 *      hf_tokenizer_json, then (if accepted) used to tokenize the input
 *      itself, which also drives the normalizer over arbitrary UTF-8;
 *   2: the bytes written as config.json and modules.json of a model
 *      directory and read with hf_read_bert_config.
 *
 * Build with clang's libFuzzer:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -I. \
 *     $(pkg-config --cflags libcjson libutf8proc openblas) fuzz/fuzz_safetensors.c \
 *     attention/safetensors.c attention/wordpiece.c attention/hf_config.c attention/tensor.c \
 *     $(pkg-config --libs libcjson libutf8proc openblas) -lm -o fuzz_safetensors
 *   ./fuzz_safetensors -max_total_time=60 tests/data/bert/bge
 * Without libFuzzer, -DFUZZ_STANDALONE gives a main() that runs each file
 * named on the command line once (for replaying crashes under gdb).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attention/attention.h"

static void fuzz_safetensors(const uint8_t *data, size_t size)
{
    char err[256];
    safetensors *st = safetensors_parse(data, size, "fuzz", err, sizeof err);
    if (!st)
        return;
    for (int i = 0; i < safetensors_count(st); i++) {
        const safetensors_tensor *t = safetensors_at(st, i);
        if (t->count > (1u << 20))
            continue;
        float *x = safetensors_to_f32(t);
        tensor_free(x);
    }
    safetensors_close(st);
}

static void fuzz_tokenizer_json(const uint8_t *data, size_t size)
{
    char path[] = "/tmp/fuzz-tokenizer-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return;
    if (write(fd, data, size) != (ssize_t)size) {
        close(fd);
        unlink(path);
        return;
    }
    close(fd);
    char err[256];
    wordpiece *w = hf_tokenizer_json(path, err, sizeof err);
    unlink(path);
    if (!w)
        return;
    int32_t *ids = NULL, *tt = NULL;
    int n = 0;
    if (wordpiece_encode(w, (const char *)data, (const char *)data, 64, &ids, &tt, &n, err,
                         sizeof err) == 0) {
        free(ids);
        free(tt);
    }
    wordpiece_free(w);
}

static void fuzz_config(const uint8_t *data, size_t size)
{
    char dir[] = "/tmp/fuzz-model-XXXXXX";
    if (!mkdtemp(dir))
        return;
    const char *names[] = {"config.json", "modules.json"};
    char path[64];
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        FILE *f = fopen(path, "wb");
        if (f) {
            fwrite(data, 1, size, f);
            fclose(f);
        }
    }
    hf_bert_config cfg;
    char err[256];
    (void)hf_read_bert_config(dir, &cfg, err, sizeof err);
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    /* NUL-terminated copy so text APIs can take it. */
    uint8_t *copy = malloc(size);
    if (!copy)
        return 0;
    memcpy(copy, data + 1, size - 1);
    copy[size - 1] = 0;
    if (data[0] % 3 == 0)
        fuzz_safetensors(copy, size - 1);
    else if (data[0] % 3 == 1)
        fuzz_tokenizer_json(copy, size - 1);
    else
        fuzz_config(copy, size - 1);
    free(copy);
    return 0;
}

#include "fuzz_main.h"
