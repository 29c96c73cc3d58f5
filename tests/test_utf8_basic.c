/*
 * test_utf8_basic.c — UTF-8 validation with offsets, repair, binary
 * sniffing and the script classes used for CJK bigrams.
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
