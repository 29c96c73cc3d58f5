/*
 * test_safetensors.h — the header of a safetensors file, for tests that
 * change a model's weights in place (a NaN, re-drawn values).
 *
 * The format: an 8-byte little-endian header length, then that many bytes
 * of JSON naming each tensor's dtype, shape and data_offsets (relative to
 * the end of the header), then the data.
 *
 * Header-only (static functions) for the reason test_tmpdir.h gives.
 */
#ifndef LCTX_TEST_SAFETENSORS_H
#define LCTX_TEST_SAFETENSORS_H

#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* Reads the header of the file f is open on (from its start); the parsed
 * JSON, and where the data begins in *data_start. */
__attribute__((unused))
static cJSON *st_read_header(FILE *f, long *data_start)
{
    unsigned char lenb[8];
    cr_assert_eq(fseek(f, 0, SEEK_SET), 0);
    cr_assert_eq(fread(lenb, 1, 8, f), 8);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = hlen << 8 | lenb[i];
    char *json = malloc(hlen + 1);
    cr_assert_not_null(json);
    cr_assert_eq(fread(json, 1, hlen, f), hlen);
    json[hlen] = 0;
    cJSON *h = cJSON_Parse(json);
    free(json);
    cr_assert_not_null(h, "a safetensors header that is not JSON");
    *data_start = 8 + (long)hlen;
    return h;
}

#endif
