/*
 * test_chunk_blocks.c — the chunker's fast paths against its byte loop.
 *
 * chunk_text takes two shortcuts: a text of one passage skips the full
 * scan (chunk_single), and inside a word the full scan steps over ASCII
 * bytes eight at a time (chunk_word_run). chunk_text_bytes runs every
 * text through the byte loop alone; the two must return the same spans
 * for every text and target. Random texts are built from pieces that put
 * word ends, spaces, newlines, non-ASCII bytes and sentence ends at every
 * offset of an 8-byte window, and the sample corpus gives real prose
 * (man pages and docs with headings, lists and code).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "indexer/indexer.h"

#define SAMPLE "data/sample/corpus.jsonl"

static void assert_same_spans(const char *s, size_t len, int target, const char *what)
{
    chunk_span *a, *b;
    size_t na, nb;
    cr_assert_eq(chunk_text(s, len, target, &a, &na), 0);
    cr_assert_eq(chunk_text_bytes(s, len, target, &b, &nb), 0);
    cr_assert_eq(na, nb, "%s, target %d: %zu spans, the byte loop %zu", what, target, na, nb);
    for (size_t i = 0; i < na; i++)
        cr_assert(a[i].start == b[i].start && a[i].end == b[i].end,
                  "%s, target %d: span %zu [%u,%u), the byte loop [%u,%u)", what, target, i,
                  a[i].start, a[i].end, b[i].start, b[i].end);
    free(a);
    free(b);
}

/* Words of every length from 1 to 19 bytes (so that word ends fall on
 * every offset of an 8-byte window), digits, punctuation-only runs,
 * sentence ends, abbreviations, headings, non-ASCII words and spaces,
 * CJK characters and stops, Thai, Lao, Khmer and Myanmar with their
 * marks and stops. */
static const char *const pieces[] = {
    "a", "to", "the", "word", "words", "passage", "sentence", "retrieval",
    "incorporated", "nevertheless", "internationally", "counterrevolution",
    "antidisestablish", "electroencephalogr", "1989", "3.14", "x86_64", "--", "***",
    "end.", "End!", "why?", "(see", "it)", "\"quoted.\"", "Dr.", "e.g.", "J.", "U.S.A.",
    "# Heading", "## Sub", "#tag", "caf\xC3\xA9", "na\xC3\xAFve.", "\xCE\xA9mega",
    "x\xE2\x80\x9Cq\xE2\x80\x9D", "\xE4\xB8\xAD\xE6\x96\x87", "\xE3\x80\x82",
    "\xED\x95\x9C\xEA\xB5\xAD", "\xF0\x9F\x91\x8D", "\xFF", "ab\xC2\xA0" "cd",
    "ภาษาไทย", "ไม้", "x\xE0\xB8\xA1", "ພາສາ", "ខ្មែរ។", "မြန်မာ။", "။", "ok\xE1\x9F\x94" "ok",
};
static const char *const gaps[] = {
    " ", " ", " ", "  ", "\t", "\n", "\n\n", " \n ", "\r\n", "\xC2\xA0", "\xE3\x80\x80",
};

Test(chunk_blocks, random_texts_agree_with_the_byte_loop)
{
    const size_t np = sizeof pieces / sizeof pieces[0], ng = sizeof gaps / sizeof gaps[0];
    static char s[16384];
    srand(2026);
    for (int round = 0; round < 2000; round++) {
        size_t len = 0, words = 1 + (size_t)rand() % 700;
        for (size_t w = 0; w < words; w++) {
            const char *p = pieces[(size_t)rand() % np];
            const char *g = gaps[(size_t)rand() % ng];
            size_t pl = strlen(p), gl = strlen(g);
            if (len + pl + gl >= sizeof s)
                break;
            memcpy(s + len, p, pl);
            len += pl;
            if (rand() % 8) {   /* sometimes two pieces run into one word */
                memcpy(s + len, g, gl);
                len += gl;
            }
        }
        s[len] = '\0';
        char what[32];
        snprintf(what, sizeof what, "round %d", round);
        /* targets around the word counts, so both one-passage texts and
         * long sentences that get cut occur */
        assert_same_spans(s, len, 1 + rand() % 12, what);
        assert_same_spans(s, len, 50 + rand() % 400, what);
    }
}

/* Every document of the sample corpus, as JSON lines (the escapes are
 * text too), at three targets. */
Test(chunk_blocks, sample_corpus_agrees_with_the_byte_loop)
{
    FILE *f = fopen(SAMPLE, "r");
    cr_assert_not_null(f, "%s", SAMPLE);
    char *line = NULL;
    size_t cap = 0, lines = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, f)) > 0) {
        char what[32];
        snprintf(what, sizeof what, "line %zu", ++lines);
        assert_same_spans(line, (size_t)n, 20, what);
        assert_same_spans(line, (size_t)n, 200, what);
        assert_same_spans(line, (size_t)n, 400, what);
    }
    free(line);
    fclose(f);
    cr_assert_gt(lines, 100, "%zu documents in %s", lines, SAMPLE);
}
