/*
 * tok_accents.c — folding accents away, so that "cafe" finds "café".
 *
 * People type "cafe", "naive", "pokemon" and "Godel" for words that texts
 * spell with accents. SQLite FTS5 (unicode61's remove_diacritics) and
 * Vespa fold accents by default; Lucene and Xapian keep them. In English
 * text an accented word is a loanword or a name, where the accent never
 * tells two English words apart, so a collection in English (or in no
 * language) folds them unless created with `--accents keep`. In French,
 * Spanish, German or Turkish the accent is spelling (año and ano, schön and
 * schon) and their Snowball stemmers expect it, so those collections keep
 * accents unless created with `--accents fold` (the `accents` setting,
 * recorded at creation; docs/tokenizer.md).
 *
 * Folding runs on a word's code points after NFKC case folding (tok_fold),
 * before the stopword check and the stemmer, so the query's "cafe" and the
 * text's "café" reach the stemmer as the same string. Folding the stem
 * instead would not be enough: the English stemmer takes é for a consonant
 * and e for a vowel, and cuts "cafe" and "café" differently.
 *
 * What folds, and only in the Latin and Greek scripts:
 *   - a letter whose canonical decomposition is a letter plus combining
 *     marks (Mn) becomes that letter: é → e, ǖ → u, ά → α, ΐ → ι;
 *   - a combining mark that NFKC left on its own after such a letter (no
 *     precomposed form exists, as for q̃) is dropped;
 *   - the letters with a stroke or bar that Unicode does not decompose
 *     become the plain letter (ø đ ħ ł ŧ ƀ ɨ ƶ ǥ ȼ ɇ ɉ ɍ ɏ), as FTS5's
 *     remove_diacritics=2 and Lucene's ASCIIFoldingFilter do.
 * Other letters stay: æ, ß (already "ss"), ð, þ and the dotless ı are
 * letters of their own, not accented ones. Other scripts are left alone:
 * to a Russian reader й is not и with a breve, and the vowel signs of the
 * Indic scripts are combining marks that are the word.
 *
 * Pure-ASCII words never come here: tok_fold's ASCII path has nothing to
 * fold, so English text costs nothing more.
 */
#include "indexer/indexer.h"

#include <utf8proc.h>

/* Whether cp is in a block of the Latin or Greek script (letters and the
 * few symbols among them, which never reach a word). */
static int latin_or_greek(int32_t cp)
{
    return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') ||
           (cp >= 0xC0 && cp < 0x250) ||       /* Latin-1 letters, Extended-A and -B */
           (cp >= 0x370 && cp < 0x400) ||      /* Greek and Coptic */
           (cp >= 0x1E00 && cp < 0x2000) ||    /* Latin Extended Additional, Greek Extended */
           (cp >= 0x2C60 && cp < 0x2C80) ||    /* Latin Extended-C */
           (cp >= 0xA720 && cp < 0xA800) ||    /* Latin Extended-D */
           (cp >= 0xAB30 && cp < 0xAB70);      /* Latin Extended-E */
}

/* The plain letter of a (case-folded) letter with a stroke or bar. */
static int32_t unstroke(int32_t cp)
{
    switch (cp) {
    case 0xF8:  return 'o';     /* ø */
    case 0x111: return 'd';     /* đ */
    case 0x127: return 'h';     /* ħ */
    case 0x142: return 'l';     /* ł */
    case 0x167: return 't';     /* ŧ */
    case 0x180: return 'b';     /* ƀ */
    case 0x1B6: return 'z';     /* ƶ */
    case 0x1E5: return 'g';     /* ǥ */
    case 0x23C: return 'c';     /* ȼ */
    case 0x247: return 'e';     /* ɇ */
    case 0x249: return 'j';     /* ɉ */
    case 0x24D: return 'r';     /* ɍ */
    case 0x24F: return 'y';     /* ɏ */
    case 0x268: return 'i';     /* ɨ */
    default:    return cp;
    }
}

/* The letter cp without its accents (cp itself when it has none). */
static int32_t fold_letter(int32_t cp)
{
    utf8proc_int32_t d[8];
    int boundclass = 0;
    utf8proc_ssize_t n = utf8proc_decompose_char(cp, d, 8, UTF8PROC_DECOMPOSE, &boundclass);
    if (n < 2 || n > 8 || !latin_or_greek(d[0]))
        return unstroke(cp);
    for (utf8proc_ssize_t k = 1; k < n; k++)
        if (utf8proc_category(d[k]) != UTF8PROC_CATEGORY_MN)
            return cp;
    return unstroke(d[0]);
}

size_t tok_fold_accents(int32_t *cps, size_t n)
{
    size_t out = 0;
    int after_latin = 0;     /* the last letter kept is Latin or Greek */
    for (size_t i = 0; i < n; i++) {
        int32_t cp = cps[i];
        if (cp < 0x80) {
            after_latin = (cp | 0x20) >= 'a' && (cp | 0x20) <= 'z';
            cps[out++] = cp;
        } else if (after_latin && utf8proc_category(cp) == UTF8PROC_CATEGORY_MN) {
            continue;        /* a mark left on a Latin or Greek letter */
        } else {
            /* No combining mark is in these blocks, so a mark anywhere
             * else (starting the word, after another script's letter)
             * stays, as do the letters of other scripts. */
            after_latin = latin_or_greek(cp);
            cps[out++] = after_latin ? fold_letter(cp) : cp;
        }
    }
    return out;
}
