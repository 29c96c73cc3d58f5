/*
 * test_tok_rules3.c — the tokenizer's rules 3 (kept by rules 4), language by
 * language, and how collections made with rules 1 or 2 keep theirs.
 *
 * Rules 3 (docs/tokenizer.md):
 *  - elision in French, Italian and Catalan (l'école is école);
 *  - Turkish: the apostrophe and the suffix after it go (Ankara'da is
 *    ankara), and I/İ fold as Turkish folds them (İstanbul is istanbul,
 *    IŞIK is ışık);
 *  - ZWSP (U+200B) breaks words, in every language;
 *  - '"' or gershayim between Hebrew letters, and an apostrophe or geresh
 *    after one, stay in the word (צה"ל, ד"ר, פרופ'), each pair as one term;
 *  - decimal digits of every script are ASCII (٢٠٢٤ is 2024);
 *  - the limit on a word is 64 characters (at most 256 bytes), not 64
 *    bytes, and a query of only such words says so.
 * Where a term can be written down it is (stemming off); elsewhere the
 * expected term is that of the plain spelling, which the older tests pin.
 * The rules 1 and 2 outputs below are what lctx before rules 3 gave for
 * the same text (lctx-search --json's query terms, by the previous build).
 *
 * tests/data/nd_digits.txt lists every Nd code point with its value, from
 * python3 -c 'import unicodedata as u; [print("%X %d" % (c, u.digit(chr(c))))
 *   for c in range(0x110000) if u.category(chr(c)) == "Nd"]'
 * (plus its comment lines).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "indexer/indexer.h"
#include "lctx.h"
#include "test_catalog_sql.h"
#include "test_hits.h"
#include "test_tmpdir.h"
#include "test_tok.h"

/* Unstemmed terms, so that they can be written down. */
static const char *plain(const char *lang, int rules, const char *s)
{
    return tok_terms_of(lang, 0, rules, s);
}

/* Whether a and b give the same terms (stemmed) in lang under rules. */
static int same(const char *lang, int rules, const char *a, const char *b)
{
    char ta[4096];
    snprintf(ta, sizeof ta, "%s", tok_terms_of(lang, 1, rules, a));
    return strcmp(ta, tok_terms_of(lang, 1, rules, b)) == 0;
}

/* --------------------------------------------------------- elision */

Test(rules3, elision_french)
{
    cr_assert_str_eq(plain("french", 0, "l'école"), "école");
    cr_assert_str_eq(plain("french", 0, "L'économie"), "économie");
    cr_assert_str_eq(plain("french", 0, "l\xe2\x80\x99" "école"), "école");      /* U+2019 */
    cr_assert_str_eq(plain("french", 0, "l\xef\xbc\x87" "école"), "école");      /* U+FF07 */
    cr_assert_str_eq(plain("french", 0, "qu'il jusqu'ici lorsqu'on"), "il ici on");
    cr_assert_str_eq(plain("french", 0, "aujourd'hui"), "aujourd'hui");   /* not an article */
    cr_assert_str_eq(plain("french", 0, "dell'arte"), "dell'arte");       /* Italian's */
    cr_assert(same("french", 0, "l'école", "école"));
    cr_assert(same("french", 0, "d'abord", "abord"));
    for (const char *const *a = (const char *const[]){"fr", "fre", "fra", NULL}; *a; a++)
        cr_assert_str_eq(plain(*a, 0, "l'Europe"), "europe", "%s", *a);
}

Test(rules3, elision_italian_and_catalan)
{
    cr_assert_str_eq(plain("italian", 0, "dell'arte all'università un'altra"),
                     "arte università altra");
    cr_assert_str_eq(plain("it", 0, "L'Italia"), "italia");
    cr_assert(same("italian", 0, "dell'arte", "arte"));
    cr_assert_str_eq(plain("catalan", 0, "d'aigua l'home"), "aigua home");
    cr_assert_str_eq(plain("ca", 0, "qu'ell"), "qu'ell");        /* qu is French's only */
    cr_assert(same("catalan", 0, "l'home", "home"));
}

Test(rules3, elision_only_in_those_languages_and_rules)
{
    cr_assert_str_eq(plain("none", 0, "l'école"), "l'école");
    cr_assert_str_eq(plain("spanish", 0, "l'école"), "l'école");
    cr_assert_str_eq(plain("french", 2, "l'école"), "l'école");
    cr_assert_str_eq(plain("italian", 1, "dell'arte"), "dell'arte");
}

/* --------------------------------------------------------- Turkish */

#define I_DOT "\xc4\xb0"          /* İ U+0130 */
#define DOTLESS "\xc4\xb1"        /* ı U+0131 */
#define DOT_ABOVE "\xcc\x87"      /* U+0307 */

Test(rules3, turkish_apostrophe)
{
    cr_assert_str_eq(plain("turkish", 0, "Ankara'da"), "ankara");
    cr_assert_str_eq(plain("turkish", 0, "Türkiye'nin"), "türkiye");
    cr_assert_str_eq(plain("turkish", 0, "Türkiye\xe2\x80\x99nin"), "türkiye");
    cr_assert(same("turkish", 0, "Ankara'dan", "Ankara"));
    cr_assert(same("tr", 0, "Türkiye'nin", "Türkiye"));
    cr_assert_str_eq(plain("turkish", 2, "Ankara'da"), "ankara'da");
}

Test(rules3, turkish_dotted_and_dotless_i)
{
    const char *istanbul[] = {I_DOT "STANBUL", I_DOT "stanbul", "istanbul",
                              "I" DOT_ABOVE "stanbul", "i" DOT_ABOVE "stanbul"};
    for (size_t i = 0; i < sizeof istanbul / sizeof *istanbul; i++) {
        cr_assert_str_eq(plain("turkish", 0, istanbul[i]), "istanbul", "%s", istanbul[i]);
        cr_assert(same("turkish", 0, istanbul[i], "istanbul"), "%s", istanbul[i]);
    }
    cr_assert_str_eq(plain("turkish", 0, "I\xc5\x9eIK"), DOTLESS "\xc5\x9f" DOTLESS "k");
    cr_assert(same("turkish", 0, "I\xc5\x9eIK", DOTLESS "\xc5\x9f" DOTLESS "k"));
    cr_assert_str_eq(plain("turkish", 0, "TRAF" I_DOT "\xc4\x9e" I_DOT), "trafi\xc4\x9fi");
    /* ASCII words too (the 64-byte blocks fold I as i) */
    cr_assert_str_eq(plain("turkish", 0, "ILIK IRMAK"), DOTLESS "l" DOTLESS "k " DOTLESS "rmak");
    /* other languages and older rules: utf8proc's language-neutral fold */
    cr_assert_str_eq(plain("none", 0, "ILIK"), "ilik");
    cr_assert_str_eq(plain("turkish", 2, I_DOT "stanbul"), "i" DOT_ABOVE "stanbul");
    cr_assert_str_eq(plain("turkish", 2, "ILIK"), "ilik");
}

/* --------------------------------------------------------- ZWSP */

#define ZWSP "\xe2\x80\x8b"

Test(rules3, zwsp_breaks_words)
{
    cr_assert_str_eq(plain("none", 0, "hello" ZWSP "world"), "hello world");
    cr_assert_str_eq(plain("english", 0, "hello" ZWSP "world"), "hello world");
    /* Thai segmented with ZWSP, as Thai editors and ICU write it */
    cr_assert_str_eq(plain("none", 0, "สวัสดี" ZWSP "ครับ"), "สวัสดี ครับ");
    /* between CJK it ends a run: two unigrams, not a bigram */
    cr_assert_str_eq(plain("none", 0, "東" ZWSP "京"), "東 京");
    /* word joiner, ZWNJ and ZWJ still join, as before */
    cr_assert_str_eq(plain("none", 0, "hello\xe2\x81\xa0world"), "helloworld");
    cr_assert_str_eq(plain("none", 0, "hello\xe2\x80\x8cworld"), "helloworld");
    cr_assert_str_eq(plain("none", 0, "hello\xe2\x80\x8dworld"), "helloworld");
    cr_assert_str_eq(plain("none", 2, "hello" ZWSP "world"), "helloworld");
    cr_assert_str_eq(plain("none", 1, "hello" ZWSP "world"), "helloworld");
}

/* --------------------------------------------------------- Hebrew */

#define GERESH "\xd7\xb3"
#define GERSHAYIM "\xd7\xb4"

Test(rules3, hebrew_acronyms_are_one_word)
{
    cr_assert_str_eq(plain("none", 0, "צה\"ל"), "צה\"ל");
    cr_assert_str_eq(plain("none", 0, "צה" GERSHAYIM "ל"), "צה\"ל");
    cr_assert_str_eq(plain("none", 0, "ד\"ר כהן"), "ד\"ר כהן");
    cr_assert_str_eq(plain("english", 0, "ארה\"ב"), "ארה\"ב");
    /* a point (U+05B8) between the letter and the mark: still the word's */
    cr_assert_str_eq(plain("none", 0, "צה\u05b8\"ל"), "צה\u05b8\"ל");
    cr_assert_str_eq(plain("none", 0, "פרופ\u05b8' לוי"), "פרופ\u05b8' לוי");
    /* quotes around a word are quotes */
    cr_assert_str_eq(plain("none", 0, "\"שלום\" עולם"), "שלום עולם");
    cr_assert_str_eq(plain("none", 0, "שלום\"\"עולם"), "שלום עולם");
    /* not between Hebrew letters: as before */
    cr_assert_str_eq(plain("none", 0, "ab\"cd"), "ab cd");
    cr_assert_str_eq(plain("none", 0, "צה\"ab"), "צה ab");
    /* the token covers the whole acronym */
    tok_config cfg = {"none", 1, 0, 0, 0};
    tok_tokenizer *t = tok_new(&cfg, NULL, 0);
    tok_list l;
    tok_list_init(&l);
    const char *s = "אמר צה\"ל.";
    cr_assert_eq(tok_tokenize(t, s, strlen(s), &l), 0);
    cr_assert_eq(l.n, 2);
    cr_assert_eq(l.tokens[1].start, strlen("אמר "));
    cr_assert_eq(l.tokens[1].end, strlen("אמר צה\"ל"));
    tok_list_free(&l);
    tok_free(t);
    /* rules 2 split them */
    cr_assert_str_eq(plain("none", 2, "צה\"ל"), "צה ל");
    cr_assert_str_eq(plain("none", 2, "צה" GERSHAYIM "ל"), "צה ל");
}

Test(rules3, hebrew_geresh)
{
    cr_assert_str_eq(plain("none", 0, "ג'ירפה"), "ג'ירפה");
    cr_assert_str_eq(plain("none", 0, "ג" GERESH "ירפה"), "ג'ירפה");
    /* after the last letter too (UAX #29 WB7a): an abbreviation */
    cr_assert_str_eq(plain("none", 0, "פרופ' לוי"), "פרופ' לוי");
    cr_assert_str_eq(plain("none", 0, "פרופ" GERESH " לוי"), "פרופ' לוי");
    /* only after a Hebrew letter */
    cr_assert_str_eq(plain("none", 0, "rock' n"), "rock n");
    cr_assert_str_eq(plain("none", 2, "פרופ' לוי"), "פרופ לוי");
    cr_assert_str_eq(plain("none", 2, "ג" GERESH "ירפה"), "ג ירפה");
}

/* --------------------------------------------------------- digits */

Test(rules3, decimal_digits_of_every_script_are_ascii)
{
    cr_assert_str_eq(plain("none", 0, "٢٠٢٤"), "2024");         /* Arabic-Indic */
    cr_assert_str_eq(plain("none", 0, "۲۰۲۴"), "2024");         /* Extended (Persian) */
    cr_assert_str_eq(plain("none", 0, "२०२४"), "2024");         /* Devanagari */
    cr_assert_str_eq(plain("none", 0, "๒๕๖๗ ৩.১৪"), "2567 3.14");  /* Thai, Bengali */
    cr_assert_str_eq(plain("arabic", 0, "عام ٢٠٢٤"), "عام 2024");
    cr_assert(same("english", 0, "in ٢٠٢٤", "in 2024"));
    /* No (other numbers) are not decimal digits: NFKC's business */
    cr_assert_str_eq(plain("none", 0, "x²"), "x2");
    cr_assert_str_eq(plain("none", 2, "٢٠٢٤"), "٢٠٢٤");
}

Test(rules3, every_nd_digit_has_its_value)
{
    FILE *f = fopen("tests/data/nd_digits.txt", "r");
    cr_assert_not_null(f);
    static signed char want[0x110000];
    memset(want, -1, sizeof want);
    char line[256];
    size_t n = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned cp;
        int v;
        if (line[0] == '#')
            continue;
        cr_assert_eq(sscanf(line, "%x %d", &cp, &v), 2, "%s", line);
        cr_assert_lt(cp, 0x110000u);
        want[cp] = (signed char)v;
        n++;
    }
    fclose(f);
    cr_assert_geq(n, 600);
    size_t checked = 0;
    for (int32_t cp = 0; cp < 0x110000; cp++) {
        int nd = utf8proc_category(cp) == UTF8PROC_CATEGORY_ND;
        if (want[cp] >= 0 && nd) {
            cr_assert_eq(tok_digit_value(cp), want[cp], "U+%04X", (unsigned)cp);
            checked++;
        } else if (nd) {
            /* newer than the fixture's Unicode: a run of exactly ten */
            int32_t a = cp, b = cp;
            while (utf8proc_category(a - 1) == UTF8PROC_CATEGORY_ND)
                a--;
            while (utf8proc_category(b + 1) == UTF8PROC_CATEGORY_ND)
                b++;
            cr_assert_eq(b - a + 1, 10, "U+%04X", (unsigned)cp);
            cr_assert_eq(tok_digit_value(cp), cp - a, "U+%04X", (unsigned)cp);
        } else {
            cr_assert_eq(tok_digit_value(cp), -1, "U+%04X", (unsigned)cp);
        }
    }
    cr_assert_geq(checked, 600);
}

/* --------------------------------------------------------- long words */

/* n copies of the character c (UTF-8) into buf */
static const char *repeat(char *buf, size_t cap, const char *c, size_t n)
{
    size_t l = strlen(c);
    cr_assert_lt(n * l, cap);
    for (size_t i = 0; i < n; i++)
        memcpy(buf + i * l, c, l);
    buf[n * l] = 0;
    return buf;
}

/* The number of terms and long words of s (none, rules). */
static size_t count(int rules, const char *s, uint32_t *n_long)
{
    tok_config cfg = {"none", 1, 0, rules, 0};
    tok_tokenizer *t = tok_new(&cfg, NULL, 0);
    tok_list l;
    tok_list_init(&l);
    cr_assert_eq(tok_tokenize(t, s, strlen(s), &l), 0);
    size_t n = l.n;
    *n_long = l.n_long;
    tok_list_free(&l);
    tok_free(t);
    return n;
}

#define TAMIL_22 "ஒருங்கிணைக்கப்பட்டுள்ள"    /* 22 characters, 66 bytes */

Test(rules3, words_up_to_64_characters)
{
    char w[2048];
    uint32_t nl;
    cr_assert_eq(strlen(TAMIL_22), 66);
    cr_assert_str_eq(plain("none", 0, TAMIL_22), TAMIL_22);
    cr_assert_eq(count(2, TAMIL_22, &nl), 0);     /* rules 2: over 64 bytes */
    cr_assert_eq(nl, 1);
    /* 3-byte letters (Tamil க; not Thai, which rules 4 split into words
     * with ICU), ASCII, 4-byte letters (Gothic 𐌰) */
    const char *chars[] = {"\xe0\xae\x95", "q", "\xf0\x90\x8c\xb0"};
    for (size_t k = 0; k < 3; k++) {
        cr_assert_eq(count(0, repeat(w, sizeof w, chars[k], TOK_MAX_TERM), &nl), 1, "%zu", k);
        cr_assert_eq(nl, 0);
        cr_assert_eq(count(0, repeat(w, sizeof w, chars[k], TOK_MAX_TERM + 1), &nl), 0);
        cr_assert_eq(nl, 1);
    }
    /* decomposed text counts its composed characters: 64 é as e + U+0301 */
    cr_assert_eq(count(0, repeat(w, sizeof w, "e\xcc\x81", TOK_MAX_TERM), &nl), 1);
    /* rules 2: bytes, as before */
    cr_assert_eq(count(2, repeat(w, sizeof w, "q", TOK_MAX_TERM), &nl), 1);
    cr_assert_eq(count(2, repeat(w, sizeof w, "\xe0\xb8\x81", 22), &nl), 0);
    cr_assert_eq(count(2, repeat(w, sizeof w, "\xe0\xb8\x81", 21), &nl), 1);
}

/* ------------------------------------------------------- collections */
TMPDIR_COLLECTION_SUITE(rules3_coll, "rules3");

static lctx_db *create(const char *language)
{
    lctx_config cfg;
    lctx_config_init(&cfg);
    cfg.language = language;
    lctx_db *db;
    cr_assert_eq(lctx_open(dir, LCTX_OPEN_CREATE, &cfg, &db), LCTX_OK, "%s", lctx_errmsg(db));
    return db;
}

static void sql(const char *stmt)
{
    catalog_sql(dir, stmt);
}

Test(rules3_coll, french_and_turkish_queries_meet_documents)
{
    lctx_db *db = create("french");
    cr_assert_eq(tokenizer_rules(db), TOK_RULES);   /* rules 3 and what came after */
    add_one_doc(db, "fr", "L'économie de l'Europe");
    cr_assert_eq(hits(db, "économie"), 1);
    cr_assert_eq(hits(db, "l\xe2\x80\x99" "economie"), 0);   /* accents are kept */
    cr_assert_eq(hits(db, "l\xe2\x80\x99" "économie"), 1);
    cr_assert_eq(hits(db, "europe"), 1);
    lctx_close(db);
    tmpdir_collection_remove(dir);
    tmpdir_collection(dir, sizeof dir, "rules3");
    db = create("turkish");
    add_one_doc(db, "tr", I_DOT "STANBUL'da TRAF" I_DOT "\xc4\x9e" I_DOT " ve I\xc5\x9eIK");
    cr_assert_eq(hits(db, "istanbul"), 1);
    cr_assert_eq(hits(db, I_DOT "stanbul"), 1);
    cr_assert_eq(hits(db, "trafi\xc4\x9fi"), 1);
    cr_assert_eq(hits(db, DOTLESS "\xc5\x9f" DOTLESS "k"), 1);
    cr_assert_eq(hits(db, "isik"), 0);
    lctx_close(db);
}

Test(rules3_coll, hebrew_digits_zwsp_and_long_words)
{
    lctx_db *db = create("none");
    add_one_doc(db, "he", "הודעת צה\"ל על ד" GERSHAYIM "ר כהן");
    add_one_doc(db, "ar", "في عام ٢٠٢٤");
    add_one_doc(db, "zw", "hello" ZWSP "world");
    add_one_doc(db, "ta", "சொல் " TAMIL_22);
    cr_assert_eq(hits(db, "צה\"ל"), 1);                 /* the '"' is not a quote */
    cr_assert_eq(hits(db, "צה" GERSHAYIM "ל"), 1);
    cr_assert_eq(hits(db, "ד\"ר"), 1);
    cr_assert_eq(hits(db, "\"צה\"ל על\""), 1);          /* inside a phrase */
    cr_assert_eq(hits(db, "\"על צה\"ל\""), 0);          /* the phrase's order */
    cr_assert_eq(hits(db, "-צה\"ל הודעת"), 0);
    cr_assert_eq(hits(db, "צה"), 0);
    cr_assert_eq(hits(db, "2024"), 1);
    cr_assert_eq(hits(db, "२०२४"), 1);
    cr_assert_eq(hits(db, "world"), 1);
    cr_assert_eq(hits(db, TAMIL_22), 1);
    lctx_close(db);
}

Test(rules3_coll, a_query_of_long_words_says_so)
{
    char w[1024], q[2048];
    lctx_db *db = create("english");
    add_one_doc(db, "a", "first document");
    repeat(w, sizeof w, "\xe0\xae\x95", TOK_MAX_TERM + 1);     /* 65 Tamil க */
    cr_assert_eq(hits(db, w), 0);
    cr_assert_not_null(strstr(lctx_errmsg(db), "(only words longer than 64 characters)"),
                       "%s", lctx_errmsg(db));
    snprintf(q, sizeof q, "the %s", w);
    cr_assert_eq(hits(db, q), 0);
    cr_assert_not_null(strstr(lctx_errmsg(db),
                              "(only stopwords and words longer than 64 characters)"),
                       "%s", lctx_errmsg(db));
    cr_assert_eq(hits(db, "the of"), 0);
    cr_assert_not_null(strstr(lctx_errmsg(db), "(only stopwords)"), "%s", lctx_errmsg(db));
    lctx_close(db);
}

Test(rules3_coll, a_rules_2_collection_keeps_its_rules_until_rebuilt)
{
    lctx_db *db = create("french");
    add_one_doc(db, "a", "premier document");
    lctx_close(db);
    sql("UPDATE config SET value='2' WHERE key='tokenizer_rules'");
    cr_assert_eq(lctx_open(dir, 0, NULL, &db), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(tokenizer_rules(db), 2);
    add_one_doc(db, "fr", "l'école hello" ZWSP "world ٢٠٢٤ צה\"ל " TAMIL_22);
    /* indexed and searched with rules 2 */
    cr_assert_eq(hits(db, "école"), 0);
    cr_assert_eq(hits(db, "l'école"), 1);
    cr_assert_eq(hits(db, "world"), 0);
    cr_assert_eq(hits(db, "helloworld"), 1);
    cr_assert_eq(hits(db, "2024"), 0);
    cr_assert_eq(hits(db, "٢٠٢٤"), 1);
    cr_assert_eq(hits(db, "ל"), 1);
    cr_assert_eq(hits(db, TAMIL_22), 0);
    cr_assert_not_null(strstr(lctx_errmsg(db), "(only words longer than 64 bytes)"), "%s",
                       lctx_errmsg(db));
    lctx_close(db);
    cr_assert_eq(lctx_open(dir, LCTX_OPEN_REBUILD_INDEX, NULL, &db), LCTX_OK, "%s",
                 lctx_errmsg(db));
    lctx_close(db);
    cr_assert_eq(lctx_open(dir, 0, NULL, &db), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(tokenizer_rules(db), TOK_RULES);
    cr_assert_eq(hits(db, "école"), 1);
    cr_assert_eq(hits(db, "world"), 1);
    cr_assert_eq(hits(db, "2024"), 1);
    cr_assert_eq(hits(db, "צה\"ל"), 1);
    cr_assert_eq(hits(db, "ל"), 0);
    cr_assert_eq(hits(db, TAMIL_22), 1);
    cr_assert_eq(lctx_check(db), LCTX_OK, "%s", lctx_errmsg(db));
    lctx_close(db);
}
