/*
 * test_tok_stem.c — the tokenizer's stems against Snowball's UTF-8 stemmer,
 * in every language libstemmer has.
 *
 * The tokenizer stems a pure-ASCII word with the ISO-8859-1 build of the
 * language's algorithm (faster: no UTF-8 decoding) and every other word
 * with the UTF-8 build. The two must never disagree on ASCII, and the
 * byte build must never see anything else. The reference here is the
 * UTF-8 stemmer alone, called on each word as the tokenizer would fold it:
 * the sample corpus (real English prose, every word ASCII) and a few
 * words of other languages, with and without accents.
 */
#include <criterion/criterion.h>
#include <libstemmer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "indexer/indexer.h"

#define SAMPLE "data/sample/corpus.jsonl"

/* Words whose stems depend on their accents: a stemmer reading UTF-8 as
 * Latin-1 sees "Ã©" where "é" is, and stems them differently. Already
 * lowercase and NFC, so they are their own fold. */
static const char accented[] =
    "considérée éléments nationalité häuser grünen überwältigenden "
    "corazón canción naïveté mañana përfshirë können réalisées ";
/* ASCII spellings that reach the other languages' suffix rules. */
static const char foreign_ascii[] =
    "wohnungen laufenden nationalement corriendo cantavano gezondheid "
    "bibliotekerne undersokelser kaupungeissa hazakban realizacoes ";

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    cr_assert_eq(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    cr_assert_gt(n, 100000, "%s is the sample corpus, hundreds of KiB", path);
    rewind(f);
    char *buf = malloc((size_t)n + 1);
    cr_assert_not_null(buf);
    cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    buf[n] = '\0';
    *len = (size_t)n;
    return buf;
}

/* The UTF-8 stemmer's answer for the token's original text: lowercased
 * (ASCII) or as is (the accented words), the English possessive dropped
 * as the tokenizer drops it (in the languages with the English stoplist),
 * numbers unstemmed. Writes it to out. */
static void reference(struct sb_stemmer *utf8, int english, const char *raw, size_t n,
                      char *out, size_t cap)
{
    char w[256];
    int letter = 0;
    cr_assert_lt(n, sizeof w);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)raw[i];
        w[i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
        letter |= (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c >= 0x80;
    }
    if (english && n >= 2 && w[n - 2] == '\'' && w[n - 1] == 's')
        n -= 2;
    if (!letter) {
        cr_assert_lt(n, cap);
        memcpy(out, w, n);
        out[n] = '\0';
        return;
    }
    const sb_symbol *st = sb_stemmer_stem(utf8, (const sb_symbol *)w, (int)n);
    cr_assert_not_null(st);
    int len = sb_stemmer_length(utf8);
    cr_assert_lt((size_t)len, cap);
    memcpy(out, st, (size_t)len);
    out[len] = '\0';
}

/* Tokenizes text with lang's tokenizer (no stopwords) and compares every
 * term with the reference; returns how many terms were compared. */
static size_t compare_language(const char *lang, const char *text, size_t len)
{
    /* Rules 2: rules 3 change some words before the stemmer (elision in
     * French, Italian and Catalan, Turkish I and apostrophes), which the
     * reference does not; test_tok_rules3 tests those. The stemmer each
     * word goes to is chosen the same way under every rules. */
    tok_config cfg = {lang, 0, 1, 2, 0};
    char err[128];
    tok_tokenizer *t = tok_new(&cfg, err, sizeof err);
    cr_assert_not_null(t, "%s: %s", lang, err);
    struct sb_stemmer *utf8 = sb_stemmer_new(lang, "UTF_8");
    cr_assert_not_null(utf8, "%s", lang);
    int english = tok_stoplist_for(lang) != NULL;   /* English and its aliases */
    tok_list l;
    tok_list_init(&l);
    cr_assert_eq(tok_tokenize(t, text, len, &l), 0, "%s", lang);
    char want[256];
    for (size_t i = 0; i < l.n; i++) {
        const tok_token *k = &l.tokens[i];
        reference(utf8, english, text + k->start, k->end - k->start, want, sizeof want);
        cr_assert_str_eq(tok_term(&l, i), want, "%s: \"%.*s\" became \"%s\", Snowball says \"%s\"",
                         lang, (int)(k->end - k->start), text + k->start, tok_term(&l, i), want);
    }
    size_t n = l.n;
    tok_list_free(&l);
    sb_stemmer_delete(utf8);
    tok_free(t);
    return n;
}

Test(tok_stem, every_language_agrees_with_the_utf8_stemmer)
{
    size_t len;
    char *sample = slurp(SAMPLE, &len);
    /* Only ASCII words of up to TOK_MAX_TERM bytes, so that the reference
     * needs no Unicode folding: blank out anything else. */
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)sample[i] >= 0x80 || sample[i] == '\\')
            sample[i] = ' ';
    size_t extra_len = strlen(accented) + strlen(foreign_ascii);
    char *text = malloc(len + extra_len + 1);
    cr_assert_not_null(text);
    memcpy(text, accented, strlen(accented));
    memcpy(text + strlen(accented), foreign_ascii, strlen(foreign_ascii));
    memcpy(text + extra_len, sample, len + 1);
    free(sample);
    /* A long ASCII run could exceed TOK_MAX_TERM and be dropped, which the
     * comparison would not see (it walks the tokens): fine either way. */
    const char **langs = sb_stemmer_list();
    int n_langs = 0, with_latin1 = 0;
    for (; langs[n_langs]; n_langs++) {
        if (strcmp(langs[n_langs], "none") == 0)
            continue;
        size_t compared = compare_language(langs[n_langs], text, len + extra_len);
        cr_assert_gt(compared, 50000, "%s: %zu terms", langs[n_langs], compared);
        struct sb_stemmer *b = sb_stemmer_new(langs[n_langs], "ISO_8859_1");
        if (b) {
            with_latin1++;
            sb_stemmer_delete(b);
        }
    }
    free(text);
    cr_assert_gt(n_langs, 10, "libstemmer lists %d languages", n_langs);
    cr_assert_gt(with_latin1, 10, "%d languages have a byte build to take the ASCII words",
                 with_latin1);
}
