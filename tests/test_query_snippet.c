/*
 * test_query_snippet.c — a snippet is bounded in characters, not only in
 * tokens.
 *
 * Words the tokenizer drops (over TOK_MAX_TERM bytes: Thai written without
 * spaces, base64, long URLs) take no token, so a 32-token window could be a
 * whole megabyte. Each snippet here is checked for what a reader relies on:
 * valid UTF-8, at most SNIPPET_MAX_CHARS characters of text (so at most 4
 * bytes each, plus markers and "…"), highlights whole and balanced, "…"
 * exactly at the ends that were cut, the match in the middle when there is
 * text either side, and no cut between a base character and its combining
 * marks. An English window stays exactly what it was before the cap.
 *
 * Most tests call snippet_make directly (the text is the chunk); the last
 * goes through lctx_search on a 1 MB document of one passage, as the
 * report did. Thai
 * without spaces stands for text the tokenizer cannot split: under rules
 * 1 to 3 a run of it is one word, dropped past TOK_MAX_TERM. Rules 4 split
 * Thai with ICU's dictionaries (test_tok_sea.c), so these tests use rules
 * 3, which collections made before keep, and which any other script
 * written without spaces still gets.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "indexer/indexer.h"
#include "lctx.h"
#include "query/query.h"
#include "test_catalog_sql.h"
#include "test_tmpdir.h"

#define OPEN "<b>"
#define CLOSE "</b>"
#define ELLIPSIS "\xe2\x80\xa6"
#define MB (1u << 20)

static const char THAI[] = "ภาษาไทยเป็นภาษาที่มีระดับเสียงของคำแน่นอนหรือวรรณยุกต์";

/* The snippet of text for query q, highlights as OPEN/CLOSE. */
static char *snip(const char *q, const char *text, size_t len)
{
    tok_config cfg = {.language = "english", .stopwords = 1, .stem = 1, .rules = 3};
    char err[256] = "";
    tok_tokenizer *t = tok_new(&cfg, err, sizeof err);
    cr_assert_not_null(t, "%s", err);
    query_parsed p;
    cr_assert_eq(query_parse(t, q, &p, err, sizeof err), 0, "%s", err);
    char *s = snippet_make(t, &p, text, len, OPEN, CLOSE);
    cr_assert_not_null(s);
    query_parsed_free(&p);
    tok_free(t);
    return s;
}

/* n copies of unit, then mid, then m more copies (malloc'd, NUL-ended). */
static char *repeat(const char *unit, size_t n, const char *mid, size_t m, size_t *len)
{
    size_t u = strlen(unit), k = strlen(mid);
    char *s = malloc(u * (n + m) + k + 1);
    cr_assert_not_null(s);
    char *p = s;
    for (size_t i = 0; i < n; i++, p += u)
        memcpy(p, unit, u);
    memcpy(p, mid, k);
    p += k;
    for (size_t i = 0; i < m; i++, p += u)
        memcpy(p, unit, u);
    *p = 0;
    *len = (size_t)(p - s);
    return s;
}

/* What the checks found: the text's characters (markers and end "…"
 * left out), the highlights, the characters before the first. */
typedef struct shape {
    size_t chars, highlights, before, after;
    int cut_left, cut_right;
} shape;

static int starts(const char *s, const char *p)
{
    return strncmp(s, p, strlen(p)) == 0;
}

/* Checks the invariants every snippet keeps and measures it. */
static shape check(const char *s)
{
    shape r = {0};
    size_t n = strlen(s), open = 0;
    cr_assert(utf8_validate(s, n, NULL), "snippet is not valid UTF-8");
    const char *p = s, *end = s + n;
    if ((r.cut_left = starts(p, ELLIPSIS)))
        p += 3;
    if ((r.cut_right = n >= 3 && !strcmp(end - 3, ELLIPSIS) && end - 3 >= p))
        end -= 3;
    while (p < end) {
        if (starts(p, OPEN)) {
            cr_assert_eq(open, 0, "nested highlight");
            open = 1;
            r.highlights++;
            p += strlen(OPEN);
            continue;
        }
        if (starts(p, CLOSE)) {
            cr_assert_eq(open, 1, "close without open");
            open = 0;
            p += strlen(CLOSE);
            continue;
        }
        utf8proc_int32_t c;
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)p, end - p, &c);
        cr_assert_gt(k, 0);
        p += k;
        r.chars++;
        if (r.highlights == 0)
            r.before++;
        else if (!open)
            r.after++;
    }
    cr_assert_eq(open, 0, "highlight left open");
    cr_assert_leq(r.chars, SNIPPET_MAX_CHARS, "%zu characters", r.chars);
    cr_assert_leq(n, 4 * SNIPPET_MAX_CHARS + 6 + r.highlights * (strlen(OPEN) + strlen(CLOSE)),
                  "%zu bytes", n);
    return r;
}

/* The match is in the middle: as much text before it as after, give or
 * take the room a cut takes to fall on a space or a grapheme boundary. */
static void assert_centred(shape r)
{
    size_t d = r.before > r.after ? r.before - r.after : r.after - r.before;
    cr_assert_leq(d, 40, "%zu before, %zu after", r.before, r.after);
}

static int is_mark(const char *p)
{
    utf8proc_int32_t c;
    cr_assert_gt(utf8proc_iterate((const utf8proc_uint8_t *)p, -1, &c), 0);
    int cat = utf8proc_category(c);
    return cat == UTF8PROC_CATEGORY_MN || cat == UTF8PROC_CATEGORY_MC ||
           cat == UTF8PROC_CATEGORY_ME;
}

TestSuite(snippet_cap, .timeout = 120);

/* The report: one Thai document, no spaces, the match in the middle. */
Test(snippet_cap, thai_without_spaces_1mb)
{
    size_t len, n = MB / 2 / strlen(THAI);
    char *text = repeat(THAI, n, " zzqx ", n, &len);
    char *s = snip("zzqx", text, len);
    shape r = check(s);
    cr_assert_eq(r.highlights, 1);
    cr_assert(strstr(s, OPEN "zzqx" CLOSE));
    cr_assert(r.cut_left && r.cut_right, "%.80s", s);
    cr_assert_geq(r.chars, SNIPPET_MAX_CHARS - 40, "the cap is used, not wasted");
    assert_centred(r);
    cr_assert(!is_mark(s + 3), "a cut left a mark without its base");
    free(s);
    free(text);
}

/* Thai sentences between spaces: each still over TOK_MAX_TERM, so still no
 * tokens; the cuts fall on the spaces when near. */
Test(snippet_cap, thai_sentences_with_spaces)
{
    char unit[sizeof THAI + 1];
    snprintf(unit, sizeof unit, "%s ", THAI);
    size_t len, n = MB / 2 / strlen(unit);
    char *text = repeat(unit, n, "zzqx ", n, &len);
    char *s = snip("zzqx", text, len);
    shape r = check(s);
    cr_assert_eq(r.highlights, 1);
    assert_centred(r);
    free(s);
    free(text);
}

/* A 1 MB ASCII run, base64-like, the match set off by '/' (a URL path). */
Test(snippet_cap, ascii_without_spaces_1mb)
{
    size_t len;
    char *text = repeat("QUJDRA", MB / 12, "/zzqx/", MB / 12, &len);
    char *s = snip("zzqx", text, len);
    shape r = check(s);
    cr_assert_eq(r.highlights, 1);
    cr_assert(r.cut_left && r.cut_right);
    cr_assert_geq(r.chars, SNIPPET_MAX_CHARS - 40);
    assert_centred(r);
    free(s);
    free(text);
}

/* A long word of short tokens (base64 with '+', each piece kept): the
 * 32-token window alone is ~2000 characters. Match in the middle, near the
 * start, at the end. */
Test(snippet_cap, long_word_match_middle_start_end)
{
    const char *piece = "+abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefgh";
    size_t len;
    char *text = repeat(piece, 200, "+zzqx", 200, &len);
    char *s = snip("zzqx", text, len);
    shape r = check(s);
    cr_assert_eq(r.highlights, 1);
    assert_centred(r);
    free(s);
    free(text);

    text = repeat(piece, 0, "zzqx", 200, &len);     /* at the very start */
    s = snip("zzqx", text, len);
    r = check(s);
    cr_assert(starts(s, OPEN "zzqx"), "%.40s", s);
    cr_assert(!r.cut_left && r.cut_right);
    cr_assert_geq(r.chars, SNIPPET_MAX_CHARS - 40, "the room goes to the right");
    free(s);
    free(text);

    text = repeat(piece, 3, "+zzqx", 200, &len);    /* near the start */
    s = snip("zzqx", text, len);
    r = check(s);
    cr_assert(!r.cut_left && r.cut_right);
    cr_assert_eq(r.before, 3 * strlen(piece) + 1);
    free(s);
    free(text);

    text = repeat(piece, 200, "+zzqx", 0, &len);    /* at the end: 4 tokens before */
    s = snip("zzqx", text, len);
    r = check(s);
    cr_assert(r.cut_left && !r.cut_right);
    cr_assert(strstr(s, "zzqx" CLOSE) == s + strlen(s) - strlen("zzqx" CLOSE), "%s", s);
    free(s);
    free(text);

    text = repeat(THAI, 20000, " zzqx", 0, &len);   /* at the end, no tokens before */
    s = snip("zzqx", text, len);
    r = check(s);
    cr_assert(r.cut_left && !r.cut_right);
    cr_assert(strstr(s, "zzqx" CLOSE) == s + strlen(s) - strlen("zzqx" CLOSE), "%s", s);
    cr_assert_geq(r.chars, SNIPPET_MAX_CHARS - 40, "the room goes to the left");
    free(s);
    free(text);
}

/* Characters of 1 to 4 bytes, the match at every alignment: every cut is
 * on a character boundary and the bytes stay under the cap. */
Test(snippet_cap, multibyte_boundaries)
{
    static const char *const units[] = {"x", "\xc3\xa9", "\xe0\xb8\x81", "\xf0\x9f\x98\x80",
                                        "\xc3\xa9\xe0\xb8\x81\xf0\x9f\x98\x80"};
    static const char *const mids[] = {" zzqx ", "a zzqx ", "ab zzqx b", " zzqx abc"};
    for (size_t u = 0; u < sizeof units / sizeof *units; u++)
        for (size_t m = 0; m < sizeof mids / sizeof *mids; m++) {
            size_t len, n = 100000 / strlen(units[u]);
            char *text = repeat(units[u], n, mids[m], n + m, &len);
            char *s = snip("zzqx", text, len);
            shape r = check(s);
            cr_assert_eq(r.highlights, 1, "unit %zu mid %zu", u, m);
            if (u == 3) /* 4-byte characters only: the byte bound is tight */
                cr_assert_geq(strlen(s), 3 * SNIPPET_MAX_CHARS);
            free(s);
            free(text);
        }
}

/* A cut never parts a base from its combining marks: "e" + U+0301, and
 * Thai "ที่" (a consonant, a vowel mark, a tone mark). */
Test(snippet_cap, combining_marks_stay_with_their_base)
{
    static const char *const clusters[] = {"e\xcc\x81", "ที่", "a\xcc\x81\xcc\xa3"};
    for (size_t c = 0; c < sizeof clusters / sizeof *clusters; c++)
        for (size_t shift = 0; shift < 3; shift++) {
            size_t len, n = 3000;
            char mid[16];
            snprintf(mid, sizeof mid, "%.*s zzqx ", (int)shift, "xyz");
            char *text = repeat(clusters[c], n, mid, n, &len);
            char *s = snip("zzqx", text, len);
            shape r = check(s);
            cr_assert(r.cut_left && r.cut_right);
            cr_assert(!is_mark(s + 3), "cluster %zu: starts on a mark: %.20s", c, s);
            /* it ends on a whole cluster: the last one before "…" */
            size_t k = strlen(clusters[c]), n_s = strlen(s);
            cr_assert(!memcmp(s + n_s - 3 - k, clusters[c], k), "cluster %zu: %s", c,
                      s + n_s - 20);
            free(s);
            free(text);
        }
}

/* Many matches, far apart: those that fit are highlighted whole, the rest
 * left out, never half a highlight or an unclosed marker. */
Test(snippet_cap, highlights_whole_and_balanced)
{
    char unit[sizeof THAI + 16];
    snprintf(unit, sizeof unit, "%s zzqx ", THAI);
    size_t len;
    char *text = repeat(unit, 60, "", 0, &len);
    char *s = snip("zzqx", text, len);
    shape r = check(s);
    cr_assert_gt(r.highlights, 1);
    cr_assert_lt(r.highlights, 32, "not the whole window's");
    for (const char *p = strstr(s, OPEN); p; p = strstr(p + 1, OPEN))
        cr_assert(starts(p, OPEN "zzqx" CLOSE), "%.20s", p);
    cr_assert_leq(r.before, strlen("ภาษาไทยเป็นภาษาที่มีระดับเสียงของคำแน่นอนหรือวรรณยุกต์ "),
                  "from the first match on");
    free(s);
    free(text);

    /* two query terms, the second far after the first: the snippet keeps
     * the first and what fits, not a half of the second */
    char *far = repeat("ก", 2000, " alpha ", 0, &len);
    char *text2 = malloc(len + 20000);
    cr_assert_not_null(text2);
    int n = sprintf(text2, "%s", far);
    for (int i = 0; i < 2000; i++)
        n += sprintf(text2 + n, "ข");
    n += sprintf(text2 + n, " beta");
    s = snip("alpha beta", text2, (size_t)n);
    r = check(s);
    cr_assert_eq(r.highlights, 1, "%s", s);
    cr_assert(strstr(s, OPEN "alpha" CLOSE));
    assert_centred(r);
    free(s);
    free(text2);
    free(far);
}

/* A chunk with no token at all shows its head, cut on a boundary. */
Test(snippet_cap, no_tokens_head_is_cut_on_a_boundary)
{
    size_t len;
    char *text = repeat("ที่", 100000, "", 0, &len);
    char *s = snip("zzqx", text, len);
    shape r = check(s);
    cr_assert(!r.cut_left && r.cut_right);
    cr_assert_leq(strlen(s), 240 + 3);
    cr_assert(!memcmp(s + strlen(s) - 3 - strlen("ที่"), "ที่", strlen("ที่")), "%s", s);
    free(s);
    free(text);
}

/* English windows are far under the cap and come out as they always did. */
Test(snippet_cap, english_is_unchanged)
{
    const char *text =
        "The Linux kernel is a free and open-source, monolithic, modular, multitasking, "
        "Unix-like operating system kernel. It was originally written in 1991 by Linus "
        "Torvalds for his i386-based PC, and it was soon adopted as the kernel for the GNU "
        "operating system, which was written to be a free replacement for Unix. Since the "
        "late 1990s, it has been included as part of a large number of operating system "
        "distributions, many of which are commonly also called Linux.";
    char *s = snip("torvalds gnu", text, strlen(text));
    cr_assert_str_eq(s, ELLIPSIS "originally written in 1991 by Linus <b>Torvalds</b> for "
                        "his i386-based PC, and it was soon adopted as the kernel for the "
                        "<b>GNU</b> operating system, which was written to be a free "
                        "replacement for Unix. Since the late 1990s, it has been included "
                        "as part of a large number of operating system distributions"
                        ELLIPSIS);
    free(s);
    s = snip("kernel", "A short  note\n about the\tkernel.", 32);
    cr_assert_str_eq(s, "A short note about the <b>kernel</b>.");
    free(s);
}

/* Through lctx_search, as the report ran it: a 1 MB Thai document. */
Test(snippet_cap, search_of_a_1mb_thai_document)
{
    size_t len, n = MB / 2 / strlen(THAI);
    char *text = repeat(THAI, n, " zzqx ", n, &len);
    char dir[256], coll[300];
    tmpdir_make(dir, sizeof dir, "snippet");
    snprintf(coll, sizeof coll, "%s/c.lctx", dir);
    lctx_db *db;
    /* One passage: the chunker counts a word per four Thai letters and
     * ends a sentence at a space after Thai (test_chunk_sea.c), so at the
     * default target the passage holding the match would start at it. */
    lctx_config cfg;
    lctx_config_init(&cfg);
    cfg.chunk_words = 1000000;
    cr_assert_eq(lctx_open(coll, LCTX_OPEN_CREATE, &cfg, &db), LCTX_OK, "%s", lctx_errmsg(db));
    lctx_doc first = {.id = "first", .text = "a first document"};
    cr_assert_eq(lctx_begin(db), LCTX_OK);
    cr_assert_eq(lctx_add(db, &first), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_commit(db, NULL), LCTX_OK, "%s", lctx_errmsg(db));
    lctx_close(db);
    /* a collection made with rules 3 (see the top of the file) */
    catalog_sql(coll, "UPDATE config SET value='3' WHERE key='tokenizer_rules'");
    cr_assert_eq(lctx_open(coll, 0, NULL, &db), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_begin(db), LCTX_OK);
    lctx_doc d = {.id = "thai", .text = text};
    cr_assert_eq(lctx_add(db, &d), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_commit(db, NULL), LCTX_OK, "%s", lctx_errmsg(db));
    lctx_search_opts o;
    lctx_search_opts_init(&o);
    o.snippets = 1;
    o.hl_open = OPEN;
    o.hl_close = CLOSE;
    lctx_results *r;
    cr_assert_eq(lctx_search(db, "zzqx", &o, &r), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_results_count(r), 1);
    shape sh = check(lctx_results_get(r, 0)->snippet);
    cr_assert_eq(sh.highlights, 1);
    assert_centred(sh);
    lctx_results_free(r);
    lctx_close(db);
    tmpdir_remove(dir);
    free(text);
}
