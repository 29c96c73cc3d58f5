/*
 * test_tok_accents.c — folding accents away (tok_accents.c, the collection
 * setting `accents`).
 *
 *   - a folding tokenizer gives accented words the terms of their plain
 *     spellings (café/cafe, Łódź/lodz, Ørsted/orsted, Ελλάδα/ελλαδα),
 *     through both segmenters, with byte ranges still on the accented text;
 *     one that keeps accents does not;
 *   - against Unicode itself, over every code point of the Latin and Greek
 *     blocks: a letter whose canonical decomposition is a Latin or Greek
 *     letter plus combining marks becomes that letter, any other stays;
 *     the result is folded already (folding twice changes nothing);
 *   - other scripts are untouched, code point by code point: Cyrillic й
 *     stays й, Devanagari keeps its vowel signs, Hebrew its points;
 *   - a collection: English folds by default, another language keeps, and
 *     either way as asked; the setting is recorded at creation only, so a
 *     collection made before it keeps accents and is not given the new
 *     default when opened; a bad value is refused.
 */
#include <criterion/criterion.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <utf8proc.h>

#include "indexer/indexer.h"
#include "lctx.h"
#include "test_hits.h"
#include "test_tmpdir.h"
#include "test_tok.h"

TMPDIR_COLLECTION_SUITE(accents, "accents");

static tok_tokenizer *tokenizer(const char *lang, int fold)
{
    tok_config cfg = {lang, 1, 1, 0, fold};
    char err[128];
    tok_tokenizer *t = tok_new(&cfg, err, sizeof err);
    cr_assert_not_null(t, "%s", err);
    return t;
}

/* The terms of s by t (test_tok.h), copied into out. */
static void terms(tok_tokenizer *t, const char *s, char *out, size_t cap)
{
    snprintf(out, cap, "%s", tok_terms_with(t, s));
}

Test(accents, accented_words_take_the_terms_of_their_plain_spellings)
{
    static const char *const pairs[][2] = {
        {"Café NAÏVE résumé", "cafe naive resume"},
        {"Zürich Łódź Ørsted Đakovo Ħamrun", "zurich lodz orsted dakovo hamrun"},
        {"Pokémon Gödel Dvořák São Ångström", "pokemon godel dvorak sao angstrom"},
        {"Ελλάδα ΐ ϊ ά", "ελλαδα ι ι α"},
        {"Việt Nam", "viet nam"},
        {"q\xCC\x83 x\xCC\x81y", "q xy"},            /* marks with no precomposed form */
        {"e\xCC\x81" "cole", "ecole"},                /* decomposed é */
    };
    tok_tokenizer *fold = tokenizer("english", 1), *keep = tokenizer("english", 0);
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        char a[512], b[512];
        terms(fold, pairs[i][0], a, sizeof a);
        terms(fold, pairs[i][1], b, sizeof b);
        cr_assert_str_eq(a, b, "'%s' and '%s' differ when folding", pairs[i][0], pairs[i][1]);
        terms(keep, pairs[i][0], a, sizeof a);
        terms(keep, pairs[i][1], b, sizeof b);
        cr_assert_str_neq(a, b, "'%s' and '%s' meet while keeping accents", pairs[i][0],
                          pairs[i][1]);
    }
    /* Letters of their own stay: æ, ð, þ, dotless ı (ß is "ss" either way). */
    char a[256], b[256];
    terms(fold, "æsir ðis þorn ılık straße", a, sizeof a);
    terms(keep, "æsir ðis þorn ılık straße", b, sizeof b);
    cr_assert_str_eq(a, b);
    /* The token still covers the accented bytes (snippets highlight them). */
    tok_list l;
    tok_list_init(&l);
    const char *s = "le Café";
    cr_assert_eq(tok_tokenize(fold, s, strlen(s), &l), 0);
    cr_assert_eq(l.n, 2);
    cr_assert_eq(l.tokens[1].start, 3);
    cr_assert_eq(l.tokens[1].end, strlen(s));
    tok_list_free(&l);
    tok_free(fold);
    tok_free(keep);
}

/* Unicode's answer for one code point: the first code point of its full
 * canonical decomposition when that is a Latin or Greek letter and the rest
 * are combining marks, else the code point itself. Written from the
 * standard, apart from tok_accents.c: NFD by utf8proc_map, not by
 * decompose_char, and the script by the letter's name block list below. */
static int32_t expected_base(int32_t cp)
{
    utf8proc_uint8_t in[8], *nfd = NULL;
    utf8proc_ssize_t n = utf8proc_encode_char(cp, in);
    in[n] = 0;
    utf8proc_ssize_t m = utf8proc_map(in, n, &nfd, UTF8PROC_STABLE | UTF8PROC_DECOMPOSE);
    cr_assert_geq(m, 0);
    int32_t cps[16];
    size_t k = 0;
    for (utf8proc_ssize_t i = 0; i < m && k < 16;) {
        utf8proc_ssize_t step = utf8proc_iterate(nfd + i, m - i, &cps[k++]);
        cr_assert_gt(step, 0);
        i += step;
    }
    free(nfd);
    if (k < 2)
        return cp;
    int32_t b = cps[0];
    int base_ok = (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') ||
                  utf8proc_category(b) <= UTF8PROC_CATEGORY_LO;   /* a letter */
    base_ok = base_ok && (b < 0x250 || (b >= 0x370 && b < 0x400) ||
                          (b >= 0x1E00 && b < 0x2000));
    for (size_t i = 1; i < k; i++)
        if (utf8proc_category(cps[i]) != UTF8PROC_CATEGORY_MN)
            return cp;
    return base_ok ? b : cp;
}

Test(accents, every_latin_and_greek_letter_folds_as_unicode_decomposes_it)
{
    static const int32_t blocks[][2] = {
        {0xC0, 0x250}, {0x370, 0x400}, {0x1E00, 0x2000}, {0x2C60, 0x2C80}, {0xA720, 0xA800},
    };
    static const int32_t strokes[] = {0xF8, 0x111, 0x127, 0x142, 0x167, 0x180, 0x1B6, 0x1E5,
                                      0x23C, 0x247, 0x249, 0x24D, 0x24F, 0x268};
    size_t folded = 0;
    for (size_t b = 0; b < sizeof blocks / sizeof blocks[0]; b++)
        for (int32_t cp = blocks[b][0]; cp < blocks[b][1]; cp++) {
            if (utf8proc_category(cp) > UTF8PROC_CATEGORY_LO)   /* letters only */
                continue;
            int is_stroke = 0;
            for (size_t i = 0; i < sizeof strokes / sizeof strokes[0]; i++)
                is_stroke |= strokes[i] == cp;
            int32_t one[1] = {cp};
            cr_assert_eq(tok_fold_accents(one, 1), 1);
            /* ǿ is ø with an acute: its base then loses the stroke too. */
            int32_t want = expected_base(cp);
            for (size_t i = 0; i < sizeof strokes / sizeof strokes[0]; i++)
                is_stroke |= strokes[i] == want;
            if (is_stroke)
                cr_assert(one[0] < 0x80, "U+%04X (a stroke letter) became U+%04X", cp, one[0]);
            else
                cr_assert_eq(one[0], want, "U+%04X became U+%04X, Unicode says U+%04X", cp,
                             one[0], want);
            folded += one[0] != cp;
            int32_t again[1] = {one[0]};
            tok_fold_accents(again, 1);
            cr_assert_eq(again[0], one[0], "folding U+%04X twice changed it", cp);
        }
    cr_assert_gt(folded, 500, "only %zu letters folded", folded);
}

Test(accents, other_scripts_are_untouched)
{
    /* Every code point of these blocks, alone and after a Latin letter
     * (where only a combining mark may go: those after "a"). */
    static const int32_t blocks[][2] = {
        {0x400, 0x530},   /* Cyrillic, Cyrillic Supplement */
        {0x590, 0x600},   /* Hebrew */
        {0x600, 0x700},   /* Arabic */
        {0x900, 0xA00},   /* Devanagari */
        {0xE00, 0xE80},   /* Thai */
        {0x3040, 0x3100}, /* Hiragana, Katakana */
        {0x4E00, 0x4F00}, /* CJK */
        {0xAC00, 0xAD00}, /* Hangul */
    };
    for (size_t b = 0; b < sizeof blocks / sizeof blocks[0]; b++)
        for (int32_t cp = blocks[b][0]; cp < blocks[b][1]; cp++) {
            int32_t run[3] = {cp, cp, cp};
            cr_assert_eq(tok_fold_accents(run, 3), 3, "U+%04X", cp);
            cr_assert(run[0] == cp && run[1] == cp && run[2] == cp, "U+%04X changed", cp);
        }
    tok_tokenizer *fold = tokenizer("english", 1), *keep = tokenizer("english", 0);
    const char *s = "йогурт иогурт ёлка हिन्दी שָׁלוֹם";
    char a[512], b[512];
    terms(fold, s, a, sizeof a);
    terms(keep, s, b, sizeof b);
    cr_assert_str_eq(a, b);
    char yo[64];
    snprintf(yo, sizeof yo, "%s", tok_terms_of("english", 1, 0, "йогурт"));
    cr_assert_str_neq(yo, tok_terms_of("english", 1, 0, "иогурт"));
    tok_free(fold);
    tok_free(keep);
}

/* A collection of lang (NULL: english) and accents, with one document. */
static lctx_db *make(const char *lang, int accents)
{
    lctx_config cfg;
    lctx_config_init(&cfg);
    if (lang)
        cfg.language = lang;
    cfg.accents = accents;
    lctx_db *db;
    cr_assert_eq(lctx_open(dir, LCTX_OPEN_CREATE, &cfg, &db), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_begin(db), LCTX_OK);
    lctx_doc d = {.id = "d", .title = "Pokémon", .text = "Un café à Zürich."};
    cr_assert_eq(lctx_add(db, &d), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_commit(db, NULL), LCTX_OK, "%s", lctx_errmsg(db));
    return db;
}

static int folds(lctx_db *db)
{
    lctx_stats st;
    cr_assert_eq(lctx_stats_get(db, &st), LCTX_OK, "%s", lctx_errmsg(db));
    return st.fold_accents;
}

Test(accents, english_folds_by_default_and_other_languages_keep)
{
    static const struct { const char *lang; int accents, folds; } cases[] = {
        {NULL, LCTX_ACCENTS_DEFAULT, 1},
        {"none", LCTX_ACCENTS_DEFAULT, 1},
        {NULL, LCTX_ACCENTS_KEEP, 0},
        {"german", LCTX_ACCENTS_DEFAULT, 0},
        {"german", LCTX_ACCENTS_FOLD, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        lctx_db *db = make(cases[i].lang, cases[i].accents);
        cr_assert_eq(folds(db), cases[i].folds, "case %zu", i);
        /* (Not Zürich: the German stemmer itself takes umlauts off.) */
        size_t n = bm25_hits(db, "pokemon", 10);
        cr_assert_eq(n, (size_t)cases[i].folds, "case %zu: %zu hits", i, n);
        cr_assert_eq(bm25_hits(db, "Pokémon", 10), 1,
                     "case %zu: the accented spelling always finds itself", i);
        lctx_close(db);
        tmpdir_remove(dir);     /* the collection; the suite's folder stays */
    }
    lctx_config cfg;
    lctx_config_init(&cfg);
    cfg.accents = 3;
    lctx_db *db;
    cr_assert_eq(lctx_open(dir, LCTX_OPEN_CREATE, &cfg, &db), LCTX_EINVAL);
    cr_assert(strstr(lctx_errmsg(db), "accents"), "%s", lctx_errmsg(db));
    lctx_close(db);
}

Test(accents, a_collection_made_before_the_setting_keeps_accents)
{
    lctx_close(make(NULL, LCTX_ACCENTS_DEFAULT));
    char path[600];
    snprintf(path, sizeof path, "%s/catalog.db", dir);
    sqlite3 *c;
    cr_assert_eq(sqlite3_open(path, &c), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(c, "DELETE FROM config WHERE key='accents'", NULL, NULL, NULL),
                 SQLITE_OK);
    cr_assert_eq(sqlite3_changes(c), 1);
    sqlite3_close(c);
    for (int rw = 0; rw < 2; rw++) {
        lctx_db *db;
        cr_assert_eq(lctx_open(dir, rw ? 0 : LCTX_OPEN_READONLY, NULL, &db), LCTX_OK);
        cr_assert_eq(folds(db), 0, "%s open", rw ? "read-write" : "read-only");
        lctx_close(db);
    }
    /* The read-write open did not write the new default in. */
    cr_assert_eq(sqlite3_open(path, &c), SQLITE_OK);
    sqlite3_stmt *st;
    cr_assert_eq(sqlite3_prepare_v2(c, "SELECT count(*) FROM config WHERE key='accents'", -1,
                                    &st, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    cr_assert_eq(sqlite3_column_int(st, 0), 0);
    sqlite3_finalize(st);
    /* An unknown value is a newer lctx's. */
    cr_assert_eq(sqlite3_exec(c, "INSERT INTO config VALUES('accents','strip')", NULL, NULL,
                              NULL), SQLITE_OK);
    sqlite3_close(c);
    lctx_db *db;
    cr_assert_eq(lctx_open(dir, LCTX_OPEN_READONLY, NULL, &db), LCTX_EVERSION);
    cr_assert(strstr(lctx_errmsg(db), "accents setting 'strip'"), "%s", lctx_errmsg(db));
    lctx_close(db);
}
