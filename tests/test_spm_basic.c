/*
 * test_spm_basic.c — the SentencePiece unigram tokenizer on a hand-made
 * vocabulary, one test per rule of the TensorFlow.js tokenizer it copies
 * (spm.c's top comment lists them). Every expected id list below was also
 * produced by the Tokenizer of @tensorflow-models/universal-sentence-encoder
 * 1.3.3 given this same vocabulary. The real vocabulary is checked against
 * TensorFlow.js's ids in test_use_encoder.c.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "attention/attention.h"

#define WS "\xE2\x96\x81" /* U+2581 */

/* ids 0..5 are reserved (never matched) */
static const char *pieces[] = {
    "\xEF\xBF\xBD", "<s>", "</s>", "r3", "r4", "r5",
    WS "a",  /* 6 */
    WS "b",  /* 7 */
    "a",     /* 8 */
    "b",     /* 9 */
    WS,      /* 10 */
    WS "ab", /* 11 */
    "ab",    /* 12, replaced by 15 */
    "c",     /* 13 */
    "fi",    /* 14 */
    "ab",    /* 15: duplicate, the later one wins */
    "x",     /* 16 */
    WS "x",  /* 17 */
};
static const double scores[] = { 0, 0, 0, 0, 0, 0,
    -1.0, -1.5, -2.0, -2.0, -3.0, -2.5, -2.2, -4.0, -1.0, -0.5, -1.0, -4.0 };
#define NP ((int)(sizeof pieces / sizeof *pieces))

static spm *make(void)
{
    size_t lens[NP];
    for (int i = 0; i < NP; i++)
        lens[i] = strlen(pieces[i]);
    char err[256];
    spm *s = spm_new(pieces, lens, scores, NP, 6, err, sizeof err);
    cr_assert(s, "%s", err);
    return s;
}

static void expect(const char *text, size_t len, const int32_t *want, int n_want)
{
    spm *s = make();
    int32_t *ids = NULL;
    int n = -1;
    char err[256];
    cr_assert_eq(spm_encode(s, text, len, &ids, &n, err, sizeof err), 0, "%s", err);
    cr_assert_eq(n, n_want, "'%s': %d ids, expected %d", text, n, n_want);
    for (int i = 0; i < n; i++)
        cr_assert_eq(ids[i], want[i], "'%s': id %d is %d, expected %d", text, i, ids[i], want[i]);
    free(ids);
    spm_free(s);
}

#define EXPECT(text, ...)                                                           \
    do {                                                                            \
        const int32_t w_[] = { __VA_ARGS__ };                                       \
        expect(text, strlen(text), w_, (int)(sizeof w_ / sizeof *w_));              \
    } while (0)

Test(spm, best_segmentation_wins)
{
    /* ▁ab alone (-2.5) beats ▁a + b (-3.0) */
    EXPECT("ab", 11);
}

Test(spm, spaces_become_word_starts)
{
    EXPECT("a b", 6, 7);
    /* two spaces: the second is a bare ▁ */
    EXPECT("a  b", 6, 10, 7);
}

Test(spm, empty_text_has_no_ids)
{
    spm *s = make();
    int32_t *ids = (int32_t *)1;
    int n = -1;
    cr_assert_eq(spm_encode(s, "", 0, &ids, &n, NULL, 0), 0);
    cr_assert_eq(n, 0);
    cr_assert_null(ids);
    spm_free(s);
}

Test(spm, nfkc_applies_before_matching)
{
    /* U+FF41 (fullwidth a) is "a" after NFKC */
    EXPECT("\xEF\xBD\x81", 6);
}

Test(spm, unreachable_positions_read_as_score_zero)
{
    /* U+FB01 becomes "fi"; "f" alone is not a piece, so position 2 is never
     * reached and keeps best = 0. The unknown "i" starting there then scores
     * 0 + 0, beats "fi" (-1 + -3), and the walk back crosses position 2 as
     * another unknown: ▁, unk, unk, merged to ▁, unk. TensorFlow.js does the
     * same, and the model was trained on what it does. */
    EXPECT("\xEF\xAC\x81", 10, 0);
}

Test(spm, unknowns_are_zero_and_merged)
{
    /* two characters outside the vocabulary become one id 0 */
    EXPECT("a\xC2\xA7\xC2\xA7 b", 6, 0, 7);
    /* one unknown between known pieces stays one id 0 */
    EXPECT("a\xC2\xA7" "a", 6, 0, 8);
}

Test(spm, reserved_pieces_never_match)
{
    /* U+FFFD is piece 0's text, but reserved: still an unknown */
    EXPECT("a\xEF\xBF\xBD", 6, 0);
}

Test(spm, invalid_utf8_is_repaired_not_refused)
{
    EXPECT("a\xFF", 6, 0);
    EXPECT("\xC3", 10, 0);
}

Test(spm, ties_go_to_the_later_shorter_piece)
{
    /* "▁x": ▁x alone (-4) ties with ▁ (-3) + x (-1); candidates are visited
     * longest first and `>=` lets the later one win: the split. */
    EXPECT("x", 10, 16);
}

Test(spm, duplicate_piece_keeps_the_later_id)
{
    /* ▁ c ab: "ab" is id 15 (-0.5), not 12 */
    EXPECT("cab", 10, 13, 15);
}

Test(spm, refuses_a_bad_vocabulary)
{
    char err[128];
    size_t lens[1] = { 0 };
    const char *p[1] = { "" };
    double sc[1] = { 0 };
    cr_assert_null(spm_new(p, lens, sc, 1, 0, err, sizeof err));
    cr_assert(strlen(err) > 0);
    cr_assert_null(spm_new(pieces, lens, scores, 0, 0, err, sizeof err));
}
