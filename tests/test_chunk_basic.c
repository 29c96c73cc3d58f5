/*
 * test_chunk_basic.c — the passage chunker: coverage of the text, cuts at
 * sentence ends, the target size, headings, texts without punctuation, CJK,
 * and a large input.
 */
#include <criterion/criterion.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "indexer/indexer.h"

static int is_ws(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* The contract: spans in order, non-empty, not overlapping, trimmed, and
 * everything between them (and around them) is whitespace. */
static void check_cover(const char *s, size_t len, const chunk_span *sp, size_t n)
{
    size_t prev = 0, i, k;
    for (i = 0; i < n; i++) {
        cr_assert_lt(sp[i].start, sp[i].end, "span %zu empty", i);
        cr_assert_leq(sp[i].end, len);
        cr_assert_geq(sp[i].start, prev, "span %zu overlaps", i);
        for (k = prev; k < sp[i].start; k++)
            cr_assert(is_ws((unsigned char)s[k]), "byte %zu outside spans is not space", k);
        cr_assert_not(is_ws((unsigned char)s[sp[i].start]), "span %zu starts with space", i);
        cr_assert_not(is_ws((unsigned char)s[sp[i].end - 1]), "span %zu ends with space", i);
        prev = sp[i].end;
    }
    for (k = prev; k < len; k++)
        cr_assert(is_ws((unsigned char)s[k]), "trailing byte %zu outside spans", k);
}

static size_t count_words(const char *s, size_t a, size_t b)
{
    size_t n = 0, i;
    int in = 0;
    for (i = a; i < b; i++) {
        int w = !is_ws((unsigned char)s[i]);
        if (w && !in)
            n++;
        in = w;
    }
    return n;
}

static size_t chunk(const char *s, int target, chunk_span **sp)
{
    size_t n = 0;
    cr_assert_eq(chunk_text(s, strlen(s), target, sp, &n), 0);
    check_cover(s, strlen(s), *sp, n);
    return n;
}

static void assert_span(const char *s, const chunk_span *sp, const char *want)
{
    size_t n = sp->end - sp->start;
    cr_assert_eq(n, strlen(want), "span '%.*s' != '%s'", (int)n, s + sp->start, want);
    cr_assert(memcmp(s + sp->start, want, n) == 0, "span '%.*s' != '%s'", (int)n,
              s + sp->start, want);
}

Test(chunk, empty_and_whitespace)
{
    chunk_span *sp = (chunk_span *)1;
    size_t n = 7;
    cr_assert_eq(chunk_text("", 0, 200, &sp, &n), 0);
    cr_assert_eq(n, 0);
    free(sp);
    cr_assert_eq(chunk_text(" \n\t\n  ", 6, 200, &sp, &n), 0);
    cr_assert_eq(n, 0);
    free(sp);
    cr_assert_eq(chunk_text(NULL, 0, 200, &sp, &n), 0);
    cr_assert_eq(n, 0);
    free(sp);
}

Test(chunk, sentences_at_target)
{
    const char *s = "  One two three. Four five six!  Seven eight nine?\n";
    chunk_span *sp;
    size_t n = chunk(s, 3, &sp);
    cr_assert_eq(n, 3);
    assert_span(s, &sp[0], "One two three.");
    assert_span(s, &sp[1], "Four five six!");
    assert_span(s, &sp[2], "Seven eight nine?");
    free(sp);
}

Test(chunk, short_text_one_span)
{
    const char *s = "Just a few words. And another sentence.";
    chunk_span *sp;
    size_t n = chunk(s, 200, &sp);
    cr_assert_eq(n, 1);
    assert_span(s, &sp[0], s);
    free(sp);
}

Test(chunk, abbreviations_initials_and_lowercase_do_not_cut)
{
    const char *s = "Dr. Smith met J. Doe at 3 p.m. today, e.g. here. He slept. "
                    "It was fine. vs. what?";
    chunk_span *sp;
    size_t n = chunk(s, 6, &sp);
    /* first sentence (11 words) stays whole: it is under 2*target */
    cr_assert_geq(n, 2);
    assert_span(s, &sp[0], "Dr. Smith met J. Doe at 3 p.m. today, e.g. here.");
    free(sp);
}

Test(chunk, quotes_after_period)
{
    const char *s = "He said \"stop.\" Then left. Again (twice.) Done now.";
    chunk_span *sp;
    size_t n = chunk(s, 2, &sp);
    cr_assert_eq(n, 4);
    assert_span(s, &sp[0], "He said \"stop.\"");
    assert_span(s, &sp[2], "Again (twice.)");
    free(sp);
}

Test(chunk, heading_starts_passage)
{
    const char *s = "# Intro\nShort text.\n\n## Details\nMore words here.\n";
    chunk_span *sp;
    size_t n = chunk(s, 200, &sp);
    cr_assert_eq(n, 2);
    assert_span(s, &sp[0], "# Intro\nShort text.");
    assert_span(s, &sp[1], "## Details\nMore words here.");
    free(sp);
}

Test(chunk, hash_not_heading_midline)
{
    const char *s = "Use #tags and C# often. #hashtag here.";
    chunk_span *sp;
    size_t n = chunk(s, 200, &sp);
    cr_assert_eq(n, 1);
    free(sp);
}

Test(chunk, paragraph_break_is_a_cut_point)
{
    /* no sentence punctuation at all, but a blank line */
    const char *s = "alpha beta gamma delta\n\nepsilon zeta eta theta";
    chunk_span *sp;
    size_t n = chunk(s, 4, &sp);
    cr_assert_eq(n, 2);
    assert_span(s, &sp[0], "alpha beta gamma delta");
    assert_span(s, &sp[1], "epsilon zeta eta theta");
    free(sp);
}

Test(chunk, leading_and_trailing_punctuation_covered)
{
    const char *s = "-- hello there. --- \n***";
    chunk_span *sp;
    size_t n = chunk(s, 200, &sp);
    cr_assert_eq(n, 1);
    assert_span(s, &sp[0], s);
    free(sp);
}

/* A paragraph without words joins the open passage, or the next one when
 * none is open. */
Test(chunk, wordless_paragraphs)
{
    const char *s = "First part.\n\n---\n\n# Next\nSecond part.";
    chunk_span *sp;
    size_t n = chunk(s, 200, &sp);
    cr_assert_eq(n, 2);
    assert_span(s, &sp[0], "First part.\n\n---");
    assert_span(s, &sp[1], "# Next\nSecond part.");
    free(sp);
    s = "***\n\n# Title\nBody.";
    n = chunk(s, 200, &sp);
    cr_assert_eq(n, 1);
    assert_span(s, &sp[0], s);
    free(sp);
}

Test(chunk, no_punctuation_cut_at_words)
{
    size_t words = 1000, i, o = 0;
    char *s = malloc(words * 8 + 1);
    chunk_span *sp;
    cr_assert_not_null(s);
    for (i = 0; i < words; i++)
        o += (size_t)sprintf(s + o, "w%zu ", i % 1000);
    size_t n = chunk(s, 100, &sp);
    cr_assert_geq(n, 5);
    cr_assert_leq(n, 20);
    for (i = 0; i < n; i++) {
        size_t w = count_words(s, sp[i].start, sp[i].end);
        cr_assert_leq(w, 200, "span %zu has %zu words", i, w);
        cr_assert_geq(w, 1);
    }
    free(sp);
    free(s);
}

/* Sentences of 3..17 words: every cut is at a sentence end and passages stay
 * near the target. */
Test(chunk, cuts_only_at_sentence_ends)
{
    size_t cap = 200000, o = 0, i, w;
    char *s = malloc(cap);
    unsigned seed = 12345;
    chunk_span *sp;
    cr_assert_not_null(s);
    while (o < cap - 200) {
        seed = seed * 1103515245u + 12345u;
        size_t nw = 3 + (seed >> 16) % 15;
        for (w = 0; w < nw; w++)
            o += (size_t)sprintf(s + o, w ? " word%u" : "Word%u", (unsigned)(w * 7 % 13));
        o += (size_t)sprintf(s + o, "%s", (seed >> 8) % 5 == 0 ? ".\n\n" : ". ");
    }
    s[o] = '\0';
    size_t n = chunk(s, 50, &sp);
    cr_assert_gt(n, 10);
    for (i = 0; i < n; i++) {
        size_t nw = count_words(s, sp[i].start, sp[i].end);
        cr_assert_eq(s[sp[i].end - 1], '.', "span %zu does not end a sentence", i);
        cr_assert(isupper((unsigned char)s[sp[i].start]), "span %zu starts mid-sentence", i);
        cr_assert_leq(nw, 100);
        if (i + 1 < n)
            cr_assert_geq(nw, 25, "span %zu is only %zu words", i, nw);
    }
    free(sp);
    free(s);
}

Test(chunk, cjk_sentences_and_characters_as_words)
{
    /* 今天天气很好。明天下雨。: 5 and 4 characters */
    const char *s = "\xE4\xBB\x8A\xE5\xA4\xA9\xE5\xA4\xA9\xE6\xB0\x94\xE5\xBE\x88\xE5\xA5\xBD"
                    "\xE3\x80\x82\xE6\x98\x8E\xE5\xA4\xA9\xE4\xB8\x8B\xE9\x9B\xA8\xE3\x80\x82";
    chunk_span *sp;
    size_t n = chunk(s, 4, &sp);
    cr_assert_eq(n, 2);
    cr_assert_eq(sp[0].start, 0);
    cr_assert_eq(sp[0].end, 21);
    cr_assert_eq(sp[1].start, 21);
    cr_assert_eq(sp[1].end, strlen(s));
    free(sp);
}

Test(chunk, cjk_without_punctuation_cut_between_characters)
{
    /* 30 × 中: cut into pieces at character boundaries, never mid-character */
    char s[30 * 3 + 1];
    size_t i, n;
    chunk_span *sp;
    for (i = 0; i < 30; i++)
        memcpy(s + 3 * i, "\xE4\xB8\xAD", 3);
    s[90] = '\0';
    n = chunk(s, 5, &sp);
    cr_assert_geq(n, 3);
    for (i = 0; i < n; i++) {
        cr_assert_eq(sp[i].start % 3, 0);
        cr_assert_eq(sp[i].end % 3, 0);
        cr_assert_leq((sp[i].end - sp[i].start) / 3, 10);
    }
    free(sp);
}

Test(chunk, default_target_when_nonpositive)
{
    size_t words = 1000, i, o = 0;
    char *s = malloc(words * 6 + 1);
    chunk_span *sp;
    size_t n;
    for (i = 0; i < words; i++)
        o += (size_t)sprintf(s + o, "ab. ");
    cr_assert_eq(chunk_text(s, o, 0, &sp, &n), 0);
    cr_assert_eq(n, 5);     /* 1000 one-word sentences, 200 per passage */
    check_cover(s, o, sp, n);
    free(sp);
    free(s);
}

Test(chunk, invalid_utf8_is_total)
{
    const char s[] = "bad \xFF\xFE bytes. more \xC0 text.";
    chunk_span *sp;
    size_t n;
    cr_assert_eq(chunk_text(s, sizeof s - 1, 2, &sp, &n), 0);
    cr_assert_geq(n, 2);
    check_cover(s, sizeof s - 1, sp, n);
    free(sp);
}

Test(chunk, huge_input)
{
    const char *pat = "The quick brown fox jumps over the lazy dog again. ";
    size_t pl = strlen(pat), reps = (4u << 20) / pl, i, n;
    char *s = malloc(reps * pl + 1);
    chunk_span *sp;
    cr_assert_not_null(s);
    for (i = 0; i < reps; i++)
        memcpy(s + i * pl, pat, pl);
    s[reps * pl] = '\0';
    cr_assert_eq(chunk_text(s, reps * pl, 200, &sp, &n), 0);
    /* 10 words a sentence, 200 a passage */
    cr_assert_eq(n, (reps + 19) / 20);
    cr_assert_eq(sp[0].start, 0);
    cr_assert_eq(sp[n - 1].end, reps * pl - 1);
    free(sp);
    free(s);
}

/* Random texts from awkward pieces: the coverage contract holds and spans
 * start and end on character boundaries. Fixed seed. */
Test(chunk, random_pieces_keep_contract)
{
    static const char *const pieces[] = {
        "word", " ", "  ", "\n", "\n\n", ".", "!", "?", "\"", ")", "# ", "## ",
        "#", "Dr.", "e.g.", "J.", "\xE4\xB8\xAD", "\xE3\x80\x82", "---", "*",
        "caf\xC3\xA9", "\xF0\x9F\x91\x8D", "\xE3\x80\x80", "\t", "x.", "Y",
    };
    const size_t np = sizeof pieces / sizeof pieces[0];
    unsigned seed = 7;
    char s[2048];
    int iter;

    for (iter = 0; iter < 300; iter++) {
        size_t o = 0, k, i, n;
        chunk_span *sp;
        seed = seed * 1103515245u + 12345u;
        size_t npieces = 1 + (seed >> 16) % 300;
        for (k = 0; k < npieces; k++) {
            seed = seed * 1103515245u + 12345u;
            const char *p = pieces[(seed >> 16) % np];
            size_t pl = strlen(p);
            if (o + pl >= sizeof s)
                break;
            memcpy(s + o, p, pl);
            o += pl;
        }
        s[o] = '\0';
        int target = 1 + (int)((seed >> 8) % 12);
        cr_assert_eq(chunk_text(s, o, target, &sp, &n), 0);
        /* U+3000 (ideographic space) is space to the chunker but not to
         * check_cover's ASCII test, so check the contract piecewise */
        size_t prev = 0;
        for (i = 0; i < n; i++) {
            cr_assert_lt(sp[i].start, sp[i].end);
            cr_assert_geq(sp[i].start, prev);
            cr_assert_leq(sp[i].end, o);
            cr_assert_neq((unsigned char)s[sp[i].start] & 0xC0, 0x80);
            cr_assert(sp[i].end == o || ((unsigned char)s[sp[i].end] & 0xC0) != 0x80);
            cr_assert_not(is_ws((unsigned char)s[sp[i].start]));
            cr_assert_not(is_ws((unsigned char)s[sp[i].end - 1]));
            for (k = prev; k < sp[i].start; k++)
                cr_assert(is_ws((unsigned char)s[k]) || (unsigned char)s[k] >= 0x80,
                          "byte %zu '%c' left out in '%s'", k, s[k], s);
            prev = sp[i].end;
        }
        for (k = prev; k < o; k++)
            cr_assert(is_ws((unsigned char)s[k]) || (unsigned char)s[k] >= 0x80,
                      "trailing byte %zu left out in '%s'", k, s);
        free(sp);
    }
}

Test(chunk, enormous_target_is_fine)
{
    const char *s = "One sentence. Two sentence. Three.";
    chunk_span *sp;
    size_t n;
    cr_assert_eq(chunk_text(s, strlen(s), 2000000000, &sp, &n), 0);
    cr_assert_eq(n, 1);
    free(sp);
}

/* The single-passage fast path (chunk_single) must agree with the full
 * scan. A text goes to the full scan when it holds a '#', so each random
 * text is chunked twice: as is, and with one ASCII letter inside a word (not
 * at its start, so no heading) turned into '#', which changes no word and no
 * space. The word pool mixes ASCII words, which the fast path takes, with
 * non-ASCII ones (Latin-1 letters, Greek, Devanagari, dashes and curly
 * quotes, the no-break space, the line separator, Hangul, kana, the
 * ideographic full stop), and the targets sit around the word counts, so a
 * fast path that took a text it should not, or cut it differently, shows. */
Test(chunk, fast_path_agrees_with_full_scan)
{
    static const char *pool[] = {
        "café", "naïve", "Ωmega", "hindiहिंदी", "xa–b", "x“quoted”", "plain", "word.",
        "End.", "ab\xC2\xA0" "cd", "ab\xE2\x80\xA8" "cd", "x한국", "xかな", "x。", "x×y", "1989",
    };
    static const char *gaps[] = {" ", "  ", "\t", "\n", "\n\n", " \n ", "\r\n", "\f", "\v",
                                 "   \t    "};
    const size_t np = sizeof pool / sizeof pool[0], ng = sizeof gaps / sizeof gaps[0];
    srand(4242);
    for (int round = 0; round < 3000; round++) {
        char s[512] = "", t[512];
        int words = 1 + rand() % 9;
        if (rand() % 3 == 0)
            strcat(s, gaps[rand() % ng]);
        for (int w = 0; w < words; w++) {
            if (w)
                strcat(s, gaps[rand() % ng]);
            strcat(s, pool[rand() % np]);
        }
        if (rand() % 3 == 0)
            strcat(s, gaps[rand() % ng]);
        size_t len = strlen(s), hash_at = len;
        for (size_t i = 1; i < len && hash_at == len; i++)   /* an 'x'..'z' or letter inside a word */
            if (isalpha((unsigned char)s[i]) && !is_ws((unsigned char)s[i - 1]))
                hash_at = i;
        if (hash_at == len)
            continue;
        memcpy(t, s, len + 1);
        t[hash_at] = '#';
        int target = 1 + rand() % 10;
        chunk_span *a, *b;
        size_t na, nb;
        cr_assert_eq(chunk_text(s, len, target, &a, &na), 0);
        cr_assert_eq(chunk_text(t, len, target, &b, &nb), 0);
        cr_assert_eq(na, nb, "'%s' target %d: %zu spans, %zu by the full scan", s, target, na, nb);
        for (size_t i = 0; i < na; i++)
            cr_assert(a[i].start == b[i].start && a[i].end == b[i].end,
                      "'%s' target %d: span %zu [%u,%u) against [%u,%u)", s, target, i,
                      a[i].start, a[i].end, b[i].start, b[i].end);
        free(a);
        free(b);
    }
}
