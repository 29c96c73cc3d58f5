/*
 * tok_rules3.c — what the tokenizer's rules 3 (TOK_RULES 3) add to
 * tokenize.c, for text that is not English. Each rule follows Lucene or
 * UAX #29; docs/tokenizer.md has the reasons.
 *
 *  - elision (French, Italian, Catalan): "l'école" is "école", as Lucene's
 *    ElisionFilter does with each language's articles;
 *  - Turkish: the apostrophe that sets off a suffix goes with the suffix
 *    ("Ankara'da" is "ankara", Lucene's ApostropheFilter), and I/İ fold as
 *    Turkish folds them (I -> ı, İ -> i, Lucene's TurkishLowerCaseFilter);
 *  - Hebrew acronyms and abbreviations: '"' or gershayim between two
 *    Hebrew letters stays in the word ("צה"ל"), as does an apostrophe or
 *    geresh after one (UAX #29 WB7a-c); both spellings of each fold to one;
 *  - decimal digits of every script fold to ASCII ("٢٠٢٤" is "2024",
 *    Lucene's DecimalDigitFilter).
 * Segmentation changes (ZWSP splits words) and the longer word limit are
 * in tokenize.c, beside the rules they change.
 *
 * All of it runs on words that are not ASCII, or after the word cache's
 * key is known, so English text pays nothing for it.
 */
#include "indexer/indexer.h"

#include <string.h>
#include <utf8proc.h>

/* ------------------------------------------------------- languages */

/* The names libstemmer takes for each language (its modules.txt). */
static const char *const tok_names_fr[] = {"french", "fr", "fre", "fra", NULL};
static const char *const tok_names_it[] = {"italian", "it", "ita", NULL};
static const char *const tok_names_ca[] = {"catalan", "ca", "cat", NULL};
static const char *const tok_names_tr[] = {"turkish", "tr", "tur", NULL};

static int tok_name_in(const char *lang, const char *const *names)
{
    for (; *names; names++)
        if (strcmp(lang, *names) == 0)
            return 1;
    return 0;
}

int tok_word_filter_for(const char *lang, int rules)
{
    if (rules < 3 || !lang)
        return TOK_FILTER_NONE;
    if (tok_name_in(lang, tok_names_fr))
        return TOK_FILTER_FRENCH;
    if (tok_name_in(lang, tok_names_it))
        return TOK_FILTER_ITALIAN;
    if (tok_name_in(lang, tok_names_ca))
        return TOK_FILTER_CATALAN;
    if (tok_name_in(lang, tok_names_tr))
        return TOK_FILTER_TURKISH;
    return TOK_FILTER_NONE;
}

/* ------------------------------------------------------- word filters */

/* Lucene's article sets (FrenchAnalyzer, ItalianAnalyzer,
 * CatalanAnalyzer DEFAULT_ARTICLES), case folded. */
static const char *const tok_elided_fr[] = {
    "l", "m", "t", "qu", "n", "s", "j", "d", "c", "jusqu", "quoiqu", "lorsqu", "puisqu", NULL,
};
static const char *const tok_elided_it[] = {
    "c", "l", "all", "dall", "dell", "nell", "sull", "coll", "pell", "gl", "agl", "dagl",
    "degl", "negl", "sugl", "un", "m", "t", "s", "v", "d", NULL,
};
static const char *const tok_elided_ca[] = {"d", "l", "m", "n", "s", "t", NULL};

static int tok_elided(int filter, const char *w, size_t n)
{
    const char *const *set = filter == TOK_FILTER_FRENCH    ? tok_elided_fr
                             : filter == TOK_FILTER_ITALIAN ? tok_elided_it
                                                            : tok_elided_ca;
    for (; *set; set++)
        if (strlen(*set) == n && memcmp(*set, w, n) == 0)
            return 1;
    return 0;
}

const char *tok_filter_word(int filter, const char *w, size_t *n)
{
    /* Every in-word apostrophe is "'" once folded (tokenize.c folds U+2019,
     * NFKC the fullwidth one), and a word never starts with one. */
    const char *a = memchr(w, '\'', *n);
    if (!a)
        return w;
    size_t k = (size_t)(a - w);
    if (filter == TOK_FILTER_TURKISH) {
        *n = k;
        return w;
    }
    if (k <= 6 && tok_elided(filter, w, k)) {
        *n -= k + 1;
        return a + 1;
    }
    return w;
}

/* ------------------------------------------------------- Turkish */

/* Before utf8proc's case folding, which is not Turkish (I -> i, İ -> i +
 * U+0307): I becomes ı, İ becomes i, and folding keeps both. */
int32_t tok_turkish_cp(int32_t cp, void *data)
{
    (void)data;
    return cp == 'I' ? 0x131 : cp == 0x130 ? 'i' : cp;
}

size_t tok_fold_ascii_turkish(const char *s, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == 'I') {
            out[o++] = (char)0xC4;    /* ı, U+0131 */
            out[o++] = (char)0xB1;
        } else {
            out[o++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
        }
    }
    out[o] = '\0';
    return o;
}

/* ------------------------------------------------------- length */

int tok_too_long(int rules, const char *f, size_t n)
{
    /* Rules 3 count characters: a byte that does not continue one starts
     * one. Only words over TOK_MAX_TERM bytes get here. */
    if (rules < 3 || n > TOK_MAX_TERM_BYTES)
        return 1;
    size_t chars = 0;
    for (size_t i = 0; i < n; i++)
        chars += ((unsigned char)f[i] & 0xC0) != 0x80;
    return chars > TOK_MAX_TERM;
}

/* ------------------------------------------------------- code points */

int tok_digit_value(int32_t cp)
{
    if (cp < 0 || utf8proc_category(cp) != UTF8PROC_CATEGORY_ND)
        return -1;
    /* Unicode keeps every Nd digit in a run of ten, 0 to 9, and runs
     * that touch (the mathematical digits) are whole runs: a digit's value
     * is its distance from the start of its range, modulo ten. Runs are at
     * most 50 long, so the walk back is short. */
    int32_t k = 0;
    while (utf8proc_category(cp - k - 1) == UTF8PROC_CATEGORY_ND)
        k++;
    return (int)(k % 10);
}

int tok_hebrew_letter(int32_t cp)
{
    /* UAX #29's Hebrew_Letter: Hebrew script, category Lo. */
    return (cp >= 0x5D0 && cp <= 0x5EA) || (cp >= 0x5EF && cp <= 0x5F2) ||
           (cp >= 0xFB1D && cp <= 0xFB4F && cp != 0xFB1E && cp != 0xFB29);
}

static int tok_is_mark(int32_t cp)
{
    utf8proc_category_t c = utf8proc_category(cp);
    return c == UTF8PROC_CATEGORY_MN || c == UTF8PROC_CATEGORY_MC ||
           c == UTF8PROC_CATEGORY_ME;
}

/* The code point at s[i] (len - i bytes left) and its length; -1 if bad. */
static int32_t tok_cp_at(const unsigned char *s, size_t len, size_t i, size_t *n)
{
    utf8proc_int32_t cp;
    size_t room = len - i < 4 ? len - i : 4;
    utf8proc_ssize_t r = i < len ? utf8proc_iterate(s + i, (utf8proc_ssize_t)room, &cp) : -1;
    *n = r > 0 ? (size_t)r : 1;
    return r > 0 ? cp : -1;
}

/* ------------------------------------------------------- folding */

size_t tok_fold_rules3(int32_t *cps, size_t n, int turkish)
{
    size_t o = 0;
    for (size_t k = 0; k < n; k++) {
        int32_t cp = cps[k];
        if (cp >= 0x80) {
            int d = tok_digit_value(cp);
            if (d >= 0)
                cp = '0' + d;
            else if (cp == 0x5F3)
                cp = '\'';      /* geresh: an apostrophe in a Hebrew word */
            else if (cp == 0x5F4)
                cp = '"';       /* gershayim: the ASCII quote stands for it */
        }
        if (turkish && (cp == 'i' || cp == 0x131)) {
            /* I or i with a dot above (its marks are in canonical order,
             * so other marks may come first): i, without the dot. */
            size_t m = k + 1;
            while (m < n && cps[m] != 0x307 && tok_is_mark(cps[m]))
                m++;
            if (m < n && cps[m] == 0x307) {
                memmove(cps + m, cps + m + 1, (n - m - 1) * sizeof *cps);
                n--;
                cp = 'i';
            }
        }
        cps[o++] = cp;
    }
    return o;
}

/* ------------------------------------------------------- Hebrew marks */

int tok_hebrew_at(const unsigned char *s, size_t len, size_t i)
{
    size_t n;
    return i < len && (s[i] == 0xD7 || s[i] == 0xEF) && tok_hebrew_letter(tok_cp_at(s, len, i, &n));
}

/* Whether the character before s[i], past any marks (points,
 * cantillation) and format characters, is a Hebrew letter. */
static int tok_hebrew_before(const unsigned char *s, size_t len, size_t i)
{
    size_t m;
    for (size_t p = i; p > 0;) {
        size_t q = p - 1;
        while (q > 0 && (s[q] & 0xC0) == 0x80)
            q--;
        int32_t cp = tok_cp_at(s, len, q, &m);
        if (cp < 0 || !(tok_is_mark(cp) || utf8proc_category(cp) == UTF8PROC_CATEGORY_CF))
            return cp >= 0 && tok_hebrew_letter(cp);
        p = q;
    }
    return 0;
}

size_t tok_hebrew_join(const unsigned char *s, size_t len, size_t j, int *ends)
{
    size_t m, m2;
    *ends = 0;
    int32_t cp = tok_cp_at(s, len, j, &m);
    if (cp != '"' && cp != 0x5F4 && cp != '\'' && cp != 0x5F3)
        return 0;
    if (!tok_hebrew_before(s, len, j))
        return 0;
    if (cp == '"' || cp == 0x5F4)           /* WB7b, WB7c: between Hebrew letters */
        return tok_hebrew_at(s, len, j + m) ? m : 0;
    int32_t next = tok_cp_at(s, len, j + m, &m2);
    utf8proc_category_t c = next < 0 ? UTF8PROC_CATEGORY_CN : utf8proc_category(next);
    /* WB7a: after a Hebrew letter it is the word's, also at its end. */
    *ends = !(c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_LO);
    return m;
}

int tok_hebrew_quote(const char *text, size_t len, size_t i)
{
    const unsigned char *s = (const unsigned char *)text;
    return i < len && s[i] == '"' && tok_hebrew_at(s, len, i + 1) && tok_hebrew_before(s, len, i);
}
