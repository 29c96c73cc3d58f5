/*
 * tok_class.c — the class of a character, for the tokenizer's
 * segmentation: ASCII bytes by a table (tok_ascii_class, which tokenize.c
 * reads inline, as every byte of the corpus goes through it), the rest by
 * tok_class_cp. Classes come from the Unicode general category (utf8proc),
 * with the exceptions each set of rules (TOK_RULES) makes;
 * docs/tokenizer.md has the table.
 */
#include "indexer/indexer.h"

#include <utf8proc.h>

/* Classes of the ASCII bytes, a table because segmentation looks up every
 * byte of the corpus (inline, in tokenize.c's tok_next): letters, digits,
 * the apostrophe, '.' and ','. */
#define S TC_SEP
#define L TC_LETTER
#define D TC_DIGIT
#define A TC_APOS
#define N TC_NUMSEP
const unsigned char tok_ascii_class[128] = {
    S, S, S, S, S, S, S, S, S, S, S, S, S, S, S, S,
    S, S, S, S, S, S, S, S, S, S, S, S, S, S, S, S,
    S, S, S, S, S, S, S, A, S, S, S, S, N, S, N, S,
    D, D, D, D, D, D, D, D, D, D, S, S, S, S, S, S,
    S, L, L, L, L, L, L, L, L, L, L, L, L, L, L, L,
    L, L, L, L, L, L, L, L, L, L, L, S, S, S, S, S,
    S, L, L, L, L, L, L, L, L, L, L, L, L, L, L, L,
    L, L, L, L, L, L, L, L, L, L, L, S, S, S, S, S,
};
#undef S
#undef L
#undef D
#undef A
#undef N

int tok_class_cp(int32_t cp, int rules)
{
    if (cp < 0x80)
        return TC_SEP;      /* not asked: tok_ascii_class */
    if (cp == 0x2019)
        return TC_APOS;
    if (cp == 0x200B && rules >= 3)
        return TC_SEP;      /* ZWSP marks a word break (UAX #29: not Format) */
    if (rules >= 2) {
        /* What NFKC makes ' , . (fullwidth, small): inside a word as those
         * are (１，０００ is 1,000; don＇t is don't). */
        if (cp == 0xFF07)
            return TC_APOS;
        if (cp == 0xFF0C || cp == 0xFF0E || cp == 0xFE50 || cp == 0xFE52)
            return TC_NUMSEP;
        /* Conjoining vowels and finals belong to the syllable their initial
         * starts (NFD Hangul, as macOS and PDF text have it): marks attach
         * to the character before, and NFKC composes the three. */
        if ((cp >= 0x1160 && cp <= 0x11FF) || (cp >= 0xD7B0 && cp <= 0xD7FF))
            return TC_MARK;
    }
    if (cp == 0xFF9E || cp == 0xFF9F)
        return TC_MARK;     /* halfwidth voicing marks: NFKC composes them */
    switch (utf8proc_category(cp)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_NL: {
        int s = utf8_script(cp);
        if (s == UTF8_SCRIPT_OTHER && rules >= 4 && tok_sea_script(cp))
            return TC_SEA;   /* words from ICU's dictionaries (tok_sea.c) */
        return s == UTF8_SCRIPT_CJ ? TC_CJ : s == UTF8_SCRIPT_HANGUL ? TC_HANGUL : TC_LETTER;
    }
    case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_NO:
        return TC_DIGIT;
    case UTF8PROC_CATEGORY_MN: case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME:
        return TC_MARK;
    case UTF8PROC_CATEGORY_CF:
        return TC_FORMAT;
    default:
        return TC_SEP;
    }
}
