/*
 * test_safetensors.c — the safetensors reader accepts real files, converts
 * f16/bf16 exactly, and refuses every kind of damaged header with a message.
 *
 * Files are built in memory: 8-byte little-endian header length, JSON header,
 * data. The real fixture files (written by the Python safetensors package)
 * must open too.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attention/attention.h"

static uint8_t blob[4096];

/* header JSON + data_len bytes of data (filled with data, may be NULL). */
static size_t make(const char *header, const void *data, size_t data_len)
{
    size_t h = strlen(header);
    cr_assert_leq(8 + h + data_len, sizeof blob);
    for (int i = 0; i < 8; i++)
        blob[i] = (uint8_t)((uint64_t)h >> (8 * i));
    memcpy(blob + 8, header, h);
    if (data)
        memcpy(blob + 8 + h, data, data_len);
    else
        memset(blob + 8 + h, 0, data_len);
    return 8 + h + data_len;
}

static void refused(size_t len, const char *needle)
{
    char err[512] = "";
    safetensors *st = safetensors_parse(blob, len, "bad.safetensors", err, sizeof err);
    if (st)
        safetensors_close(st);
    cr_assert_null(st, "accepted a bad file (expected '%s')", needle);
    cr_assert(strstr(err, needle), "error '%s' lacks '%s'", err, needle);
    cr_assert(strstr(err, "bad.safetensors"), "error '%s' does not name the file", err);
}

Test(safetensors, reads_f32_f16_bf16)
{
    float f[2] = {1.5f, -3.25f};
    uint16_t h[4] = {0x3C00, 0xC000, 0x0001, 0x7C00};   /* 1, -2, 2^-24, inf */
    uint16_t b[2] = {0x3F80, 0xC0A0};                    /* 1, -5 */
    uint8_t data[8 + 8 + 4];
    memcpy(data, f, 8);
    memcpy(data + 8, h, 8);
    memcpy(data + 16, b, 4);
    size_t len = make("{\"__metadata__\":{\"format\":\"pt\"},"
                      "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                      "\"h\":{\"dtype\":\"F16\",\"shape\":[2,2],\"data_offsets\":[8,16]},"
                      "\"b\":{\"dtype\":\"BF16\",\"shape\":[1,2],\"data_offsets\":[16,20]}}",
                      data, sizeof data);
    char err[256];
    safetensors *st = safetensors_parse(blob, len, "t", err, sizeof err);
    cr_assert(st, "%s", err);
    cr_assert_eq(safetensors_count(st), 3);
    const safetensors_tensor *t = safetensors_find(st, "h");
    cr_assert(t);
    cr_assert_eq(t->ndim, 2);
    cr_assert_eq(t->count, 4);
    float *x = safetensors_to_f32(t);
    cr_assert_eq(x[0], 1.0f);
    cr_assert_eq(x[1], -2.0f);
    cr_assert_eq(x[2], ldexpf(1.0f, -24));
    cr_assert(isinf(x[3]));
    tensor_free(x);
    x = safetensors_to_f32(safetensors_find(st, "b"));
    cr_assert_eq(x[0], 1.0f);
    cr_assert_eq(x[1], -5.0f);
    tensor_free(x);
    x = safetensors_to_f32(safetensors_find(st, "a"));
    cr_assert_eq(x[0], 1.5f);
    cr_assert_eq(x[1], -3.25f);
    tensor_free(x);
    cr_assert_null(safetensors_find(st, "__metadata__"));
    safetensors_close(st);
}

Test(safetensors, f16_conversion_covers_normal_range)
{
    /* Every finite half: widened value must round back to the same bits
     * under the standard formula sign * 2^(e-15) * (1 + m/1024). */
    for (uint32_t u = 0; u < 0x10000; u++) {
        uint16_t hbits = (uint16_t)u;
        int e = (hbits >> 10) & 31, m = hbits & 1023;
        if (e == 31 || e == 0)
            continue;
        double want = ldexp(1.0 + m / 1024.0, e - 15) * ((hbits >> 15) ? -1 : 1);
        cr_assert_eq(safetensors_f16_to_f32(hbits), (float)want, "half 0x%04x", u);
    }
}

Test(safetensors, opens_the_real_fixtures)
{
    const char *files[] = {"tests/data/bert/minilm/model.safetensors",
                           "tests/data/bert/bge/model.safetensors",
                           "tests/data/bert/cross/model.safetensors"};
    safetensors_dtype want[] = {SAFETENSORS_F32, SAFETENSORS_F16, SAFETENSORS_BF16};
    for (int i = 0; i < 3; i++) {
        char err[512];
        safetensors *st = safetensors_open(files[i], err, sizeof err);
        cr_assert(st, "%s", err);
        const safetensors_tensor *t = safetensors_find(st, i == 2
            ? "bert.embeddings.word_embeddings.weight" : "embeddings.word_embeddings.weight");
        cr_assert(t, "%s", files[i]);
        cr_assert_eq(t->dtype, want[i]);
        cr_assert_eq(t->shape[0], 2000);
        safetensors_close(st);
    }
}

Test(safetensors, refuses_damage)
{
    char err[256];
    refused(make("{}", NULL, 0) - 8 + 4, "too short"); /* 4 bytes: shorter than the length */
    /* header length pointing past the end */
    size_t len = make("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", NULL, 4);
    blob[0] = 0xff;
    blob[3] = 0x10;
    refused(len, "header length");
    refused(make("not json at all", NULL, 0), "not a JSON object");
    refused(make("[1,2]", NULL, 0), "not a JSON object");
    refused(make("{\"a\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}}", NULL, 8),
            "unsupported dtype I64");
    refused(make("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", NULL, 8),
            "truncated");
    refused(make("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", NULL, 8),
            "8 bytes for 3 F32");
    refused(make("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", NULL, 8),
            "bad data_offsets");
    refused(make("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", NULL, 8),
            "bad data_offsets");
    refused(make("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", NULL, 8),
            "bad shape");
    refused(make("{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", NULL, 8),
            "bad shape");
    refused(make("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],"
                 "\"data_offsets\":[0,4]}}", NULL, 8), "overflows");
    refused(make("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                 "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", NULL, 8),
            "overlap");
    refused(make("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                 "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", NULL, 8),
            "appears twice");
    refused(make("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],"
                 "\"data_offsets\":[0,4]}}", NULL, 8), "bad shape");
    refused(make("{\"a\":[]}", NULL, 8), "not an object");
    cr_assert_null(safetensors_open("tests/data/bert/no-such-file.safetensors", err, sizeof err));
    cr_assert(strstr(err, "no-such-file.safetensors"), "%s", err);
}

Test(safetensors, empty_tensor_and_scalar)
{
    size_t len = make("{\"e\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[0,0]},"
                      "\"s\":{\"dtype\":\"F16\",\"shape\":[],\"data_offsets\":[0,2]}}", NULL, 2);
    char err[256];
    safetensors *st = safetensors_parse(blob, len, "t", err, sizeof err);
    cr_assert(st, "%s", err);
    cr_assert_eq(safetensors_find(st, "e")->count, 0);
    cr_assert_eq(safetensors_find(st, "s")->count, 1);
    safetensors_close(st);
}
