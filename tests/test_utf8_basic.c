/*
 * test_utf8_basic.c — UTF-8 validation with offsets, repair, binary
 * sniffing, the script classes used for CJK bigrams, and UTF-16 text with
 * a byte order mark decoded to UTF-8 (against the test's own encoders).
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "indexer/indexer.h"

static void assert_bad_at(const char *s, size_t len, size_t want)
{
    size_t off = 12345;
    cr_assert_eq(utf8_validate(s, len, &off), 0, "accepted invalid input");
    cr_assert_eq(off, want, "bad offset %zu, want %zu", off, want);
}

Test(utf8, valid_inputs)
{
    const char *s = "plain ASCII, caf\xC3\xA9, \xE4\xB8\xAD, \xF0\x9F\x91\x8D";
    size_t off = 99;
    cr_assert(utf8_validate(s, strlen(s), &off));
    cr_assert_eq(off, 99, "offset touched on success");
    cr_assert(utf8_validate("", 0, NULL));
    cr_assert(utf8_validate(NULL, 0, NULL));
    /* U+10FFFF and U+FFFF (noncharacters are valid UTF-8) */
    cr_assert(utf8_validate("\xF4\x8F\xBF\xBF\xEF\xBF\xBF", 7, NULL));
}

Test(utf8, invalid_inputs_with_offsets)
{
    assert_bad_at("abc\xFF", 4, 3);
    assert_bad_at("ab\xC3", 3, 2);                 /* truncated at the end */
    assert_bad_at("a\xC3(", 3, 1);                 /* bad continuation */
    assert_bad_at("xx\xC0\x80", 4, 2);             /* overlong NUL */
    assert_bad_at("\xE0\x80\xAF", 3, 0);           /* overlong '/' */
    assert_bad_at("ok \xED\xA0\x80", 6, 3);        /* surrogate U+D800 */
    assert_bad_at("\xF4\x90\x80\x80", 4, 0);       /* > U+10FFFF */
    assert_bad_at("caf\xC3\xA9 \x80", 7, 6);       /* stray continuation */
}

/* ASCII is skipped eight bytes at a time: a bad byte or a valid character
 * at any offset of a long ASCII run, however it falls against the eight,
 * is found exactly there. */
Test(utf8, long_ascii_runs_every_offset)
{
    char s[48];
    for (size_t pos = 0; pos < 40; pos++) {
        memset(s, 'a', sizeof s);
        s[pos] = (char)0xFF;
        assert_bad_at(s, sizeof s, pos);
        s[pos] = (char)0xC3;   /* a valid "é", then one bad byte further on */
        s[pos + 1] = (char)0xA9;
        cr_assert(utf8_validate(s, pos + 2, NULL), "é at %zu rejected", pos);
        s[pos + 5] = (char)0x80;
        assert_bad_at(s, sizeof s, pos + 5);
    }
}

Test(utf8, repair_replaces_each_sequence_once)
{
    const char s[] = "a\xFF" "b\xE2\x82" "c\xC0\x80" "d\xC3\xA9";
    size_t out_len = 0, reps = 0;
    char *r = utf8_repair(s, sizeof s - 1, &out_len, &reps);
    const char *want = "a\xEF\xBF\xBD" "b\xEF\xBF\xBD" "c\xEF\xBF\xBD" "d\xC3\xA9";
    cr_assert_not_null(r);
    cr_assert_eq(reps, 3);
    cr_assert_eq(out_len, strlen(want));
    cr_assert_str_eq(r, want);
    cr_assert(utf8_validate(r, out_len, NULL));
    free(r);
}

Test(utf8, repair_valid_is_identity)
{
    const char *s = "caf\xC3\xA9 \xE4\xB8\xAD";
    size_t out_len, reps = 7;
    char *r = utf8_repair(s, strlen(s), &out_len, &reps);
    cr_assert_not_null(r);
    cr_assert_eq(reps, 0);
    cr_assert_eq(out_len, strlen(s));
    cr_assert_str_eq(r, s);
    free(r);
    r = utf8_repair("", 0, &out_len, NULL);
    cr_assert_not_null(r);
    cr_assert_eq(out_len, 0);
    free(r);
}

Test(utf8, binary_sniffing)
{
    char buf[4096];
    size_t i;
    const char *text = "Hello\tworld\r\nline two\n\x1B[1mbold\x1B[0m\n";
    cr_assert_not(utf8_looks_binary(text, strlen(text)));
    cr_assert_not(utf8_looks_binary("", 0));
    /* a NUL anywhere in the first 8 KiB */
    cr_assert(utf8_looks_binary("abc\0def", 7));
    /* dense control bytes without NUL */
    for (i = 0; i < sizeof buf; i++)
        buf[i] = (char)(1 + i % 31);
    cr_assert(utf8_looks_binary(buf, sizeof buf));
    /* Latin-1 text: mostly ASCII with a few invalid bytes is still text */
    memset(buf, 'a', sizeof buf);
    for (i = 0; i < sizeof buf; i += 50)
        buf[i] = (char)0xE9;
    cr_assert_not(utf8_looks_binary(buf, sizeof buf));
    /* random-looking high bytes: binary */
    for (i = 0; i < sizeof buf; i++)
        buf[i] = (char)(0x80 + (i * 37) % 128);
    cr_assert(utf8_looks_binary(buf, sizeof buf));
}

Test(utf8, scripts)
{
    cr_assert_eq(utf8_script('a'), UTF8_SCRIPT_OTHER);
    cr_assert_eq(utf8_script(0xE9), UTF8_SCRIPT_OTHER);
    cr_assert_eq(utf8_script(0x4E2D), UTF8_SCRIPT_CJ);    /* 中 */
    cr_assert_eq(utf8_script(0x3042), UTF8_SCRIPT_CJ);    /* あ */
    cr_assert_eq(utf8_script(0x30AB), UTF8_SCRIPT_CJ);    /* カ */
    cr_assert_eq(utf8_script(0x30FB), UTF8_SCRIPT_OTHER); /* ・ punctuation */
    cr_assert_eq(utf8_script(0xFF76), UTF8_SCRIPT_CJ);    /* ｶ */
    cr_assert_eq(utf8_script(0xD55C), UTF8_SCRIPT_HANGUL);/* 한 */
    cr_assert_eq(utf8_script(0x20BB7), UTF8_SCRIPT_CJ);   /* 𠮷 */
    cr_assert_eq(utf8_script(0x1F600), UTF8_SCRIPT_OTHER);/* emoji */
    cr_assert_eq(utf8_script(0x3002), UTF8_SCRIPT_OTHER); /* 。 */
}

/* ------------------------------------------------------------- UTF-16 */

/* The test's own encoders, naive and independent of iconv: code point c
 * as UTF-16 units of the given order at p (2 or 4 bytes), and as UTF-8. */
static size_t put_utf16(unsigned char *p, uint32_t c, int big)
{
    uint16_t u[2];
    size_t n = 1;
    if (c >= 0x10000) {
        c -= 0x10000;
        u[0] = (uint16_t)(0xD800 | (c >> 10));
        u[1] = (uint16_t)(0xDC00 | (c & 0x3FF));
        n = 2;
    } else {
        u[0] = (uint16_t)c;
    }
    for (size_t i = 0; i < n; i++) {
        p[2 * i + (big ? 0 : 1)] = (unsigned char)(u[i] >> 8);
        p[2 * i + (big ? 1 : 0)] = (unsigned char)(u[i] & 0xFF);
    }
    return 2 * n;
}

static size_t put_utf8(char *p, uint32_t c)
{
    if (c < 0x80) {
        p[0] = (char)c;
        return 1;
    }
    if (c < 0x800) {
        p[0] = (char)(0xC0 | c >> 6);
        p[1] = (char)(0x80 | (c & 0x3F));
        return 2;
    }
    if (c < 0x10000) {
        p[0] = (char)(0xE0 | c >> 12);
        p[1] = (char)(0x80 | (c >> 6 & 0x3F));
        p[2] = (char)(0x80 | (c & 0x3F));
        return 3;
    }
    p[0] = (char)(0xF0 | c >> 18);
    p[1] = (char)(0x80 | (c >> 12 & 0x3F));
    p[2] = (char)(0x80 | (c >> 6 & 0x3F));
    p[3] = (char)(0x80 | (c & 0x3F));
    return 4;
}

Test(utf16, byte_order_marks)
{
    cr_assert_eq(utf16_bom("\xFF\xFEh\0", 4), UTF16_LE);
    cr_assert_eq(utf16_bom("\xFE\xFF\0h", 4), UTF16_BE);
    cr_assert_eq(utf16_bom("\xFF\xFE", 2), UTF16_LE);
    cr_assert_eq(utf16_bom("\xFF\xFE\0\0", 4), 0, "UTF-32LE's mark");
    cr_assert_eq(utf16_bom("\xFF", 1), 0);
    cr_assert_eq(utf16_bom("\xEF\xBB\xBFhi", 5), 0, "UTF-8's mark");
    cr_assert_eq(utf16_bom("hi", 2), 0);
}

Test(utf16, decodes_random_code_points_both_orders)
{
    enum { N = 4000 };
    unsigned char *in = malloc(4 * N);
    char *want = malloc(4 * N + 1);
    cr_assert(in && want);
    srand(16);
    for (int big = 0; big < 2; big++) {
        size_t ni = 0, nw = 0;
        for (int i = 0; i < N; i++) {
            uint32_t c;
            switch (rand() % 4) {       /* each length of UTF-8, surrogates left out */
            case 0: c = 1 + (uint32_t)rand() % 0x7F; break;
            case 1: c = 0x80 + (uint32_t)rand() % (0x800 - 0x80); break;
            case 2: c = 0x800 + (uint32_t)rand() % (0xD800 - 0x800); break;
            default: c = 0x10000 + (uint32_t)rand() % (0x110000 - 0x10000); break;
            }
            ni += put_utf16(in + ni, c, big);
            nw += put_utf8(want + nw, c);
        }
        size_t n = 0, reps = 9;
        char *got = utf16_decode((const char *)in, ni, big ? UTF16_BE : UTF16_LE, &n, &reps,
                                 NULL);
        cr_assert_not_null(got);
        cr_assert_eq(reps, 0);
        cr_assert_eq(n, nw, "order %d: %zu bytes, want %zu", big, n, nw);
        cr_assert(memcmp(got, want, n) == 0, "order %d", big);
        cr_assert_eq(got[n], '\0');
        free(got);
    }
    free(in);
    free(want);
}

Test(utf16, unpaired_surrogates_and_odd_byte_become_replacements)
{
    /* LE: 'a', lone high surrogate, 'b', lone low surrogate, 'c', then a
     * high surrogate and one odd byte at the end */
    const char s[] = "a\0" "\x00\xD8" "b\0" "\x00\xDC" "c\0" "\x3D\xD8" "x";
    size_t n = 0, reps = 0, bad = 99;
    char *got = utf16_decode(s, sizeof s - 1, UTF16_LE, &n, &reps, &bad);
    const char *want = "a\xEF\xBF\xBD" "b\xEF\xBF\xBD" "c\xEF\xBF\xBD\xEF\xBF\xBD";
    cr_assert_not_null(got);
    cr_assert_str_eq(got, want);
    cr_assert_eq(n, strlen(want));
    cr_assert_eq(reps, 4);
    cr_assert_eq(bad, 2, "the first bad unit is at byte 2");
    cr_assert(utf8_validate(got, n, NULL));
    free(got);
    /* nothing at all */
    got = utf16_decode("", 0, UTF16_BE, &n, &reps, NULL);
    cr_assert_not_null(got);
    cr_assert_eq(n, 0);
    cr_assert_eq(reps, 0);
    free(got);
}
