/*
 * test_tok_basic.c — the tokenizer: words, Unicode normalisation, CJK
 * bigrams, numbers, stemming, stopwords, positions and byte offsets.
 *
 * Most tests render the token list as one string ("term@pos term@pos") so a
 * failure shows the whole tokenization at once.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "indexer/indexer.h"

static tok_tokenizer *tk;
static tok_list tl;
static char rendered[8192];

static void setup_english(void)
{
    tok_config cfg = { "english", 1, 1, 0, 0};
    char err[128];
    tk = tok_new(&cfg, err, sizeof err);
    cr_assert_not_null(tk, "%s", err);
    tok_list_init(&tl);
}

static void teardown(void)
{
    tok_free(tk);
    tok_list_free(&tl);
}

/* Tokenizes s and renders "term term ..." (or "term@pos" when with_pos). */
static const char *toks(const char *s, int with_pos)
{
    size_t i, o = 0;
    tok_list_reset(&tl);
    cr_assert_eq(tok_tokenize(tk, s, strlen(s), &tl), 0);
    rendered[0] = '\0';
    for (i = 0; i < tl.n; i++) {
        int w = with_pos
            ? snprintf(rendered + o, sizeof rendered - o, "%s%s@%u", i ? " " : "",
                       tok_term(&tl, i), tl.tokens[i].pos)
            : snprintf(rendered + o, sizeof rendered - o, "%s%s", i ? " " : "",
                       tok_term(&tl, i));
        cr_assert(w > 0 && (size_t)w < sizeof rendered - o);
        o += (size_t)w;
    }
    return rendered;
}

TestSuite(tok, .init = setup_english, .fini = teardown);

Test(tok, ascii_words_and_offsets)
{
    const char *s = "Hello, World!  Searching engines";
    cr_assert_str_eq(toks(s, 1), "hello@0 world@1 search@2 engin@3");
    cr_assert_eq(tl.tokens[0].start, 0);
    cr_assert_eq(tl.tokens[0].end, 5);
    cr_assert_eq(tl.tokens[1].start, 7);
    cr_assert_eq(tl.tokens[1].end, 12);
    cr_assert_eq(tl.n_positions, 4);
}

Test(tok, empty_and_separators_only)
{
    cr_assert_str_eq(toks("", 0), "");
    cr_assert_str_eq(toks("  ,.;!? -- ... \n\t", 0), "");
    cr_assert_eq(tl.n, 0);
}

Test(tok, stemming)
{
    cr_assert_str_eq(toks("running connections connected generously", 0),
                     "run connect connect generous");
}

Test(tok, stopwords_keep_positions)
{
    cr_assert_str_eq(toks("The state of the art", 1), "state@1 art@4");
    cr_assert(tok_is_stopword(tk, "the"));
    cr_assert(tok_is_stopword(tk, "with"));
    cr_assert_not(tok_is_stopword(tk, "what"));
    cr_assert_not(tok_is_stopword(tk, "thee"));
    cr_assert_not(tok_is_stopword(tk, ""));
}

Test(tok, hyphens_split)
{
    cr_assert_str_eq(toks("state-of-the-art", 1), "state@0 art@3");
    cr_assert_str_eq(toks("snake_case e-mail", 0), "snake case e mail");
}

Test(tok, apostrophes_and_possessives)
{
    cr_assert_str_eq(toks("don't John's dogs' O'Neill", 0), "don't john dog o'neil");
    /* the typographic apostrophe folds to the ASCII one */
    cr_assert_str_eq(toks("don\xE2\x80\x99t John\xE2\x80\x99s", 0), "don't john");
    /* a possessive stopword is still a stopword: "it's" -> "it" */
    cr_assert_str_eq(toks("it's 'quoted'", 0), "quot");
}

Test(tok, numbers_kept_whole)
{
    cr_assert_str_eq(toks("pi is 3.14, not 3. In 2024 we sold 1,000,000 units.", 0),
                     "pi 3.14 3 2024 we sold 1,000,000 unit");
    cr_assert_str_eq(toks("v1.2 mp3 covid19 1990s", 0), "v1.2 mp3 covid19 1990s");
    cr_assert_str_eq(toks("end.Start a,b 1.x", 0), "end start b 1 x");
}

Test(tok, accents_and_case)
{
    /* é stays é; É folds to é; decomposed e + U+0301 composes to é */
    cr_assert_str_eq(toks("caf\xC3\xA9 CAF\xC3\x89 cafe\xCC\x81", 0),
                     "caf\xC3\xA9 caf\xC3\xA9 caf\xC3\xA9");
}

Test(tok, nfkc_ligatures_fullwidth)
{
    /* U+FB01 "fi" ligature; fullwidth "Ｆｕｌｌ"; superscript two */
    cr_assert_str_eq(toks("\xEF\xAC\x81nd", 0), "find");
    cr_assert_str_eq(toks("\xEF\xBC\xA6\xEF\xBD\x95\xEF\xBD\x8C\xEF\xBD\x8C", 0), "full");
    cr_assert_str_eq(toks("x\xC2\xB2", 0), "x2");
    /* fullwidth digits are a number */
    cr_assert_str_eq(toks("\xEF\xBC\x92\xEF\xBC\x90\xEF\xBC\x92\xEF\xBC\x94", 0), "2024");
}

Test(tok, german_sharp_s)
{
    /* Straße and STRASSE meet */
    cr_assert_str_eq(toks("Stra\xC3\x9F" "e STRASSE", 0), "strass strass");
}

Test(tok, greek_final_sigma)
{
    /* ΟΔΟΣ, οδος (final ς) and οδοσ all fold alike */
    const char *a = "\xCE\x9F\xCE\x94\xCE\x9F\xCE\xA3";
    const char *b = "\xCE\xBF\xCE\xB4\xCE\xBF\xCF\x82";
    char buf[64];
    snprintf(buf, sizeof buf, "%s %s", a, b);
    cr_assert_str_eq(toks(buf, 0), "\xCE\xBF\xCE\xB4\xCE\xBF\xCF\x83 \xCE\xBF\xCE\xB4\xCE\xBF\xCF\x83");
}

Test(tok, turkish_dotted_i)
{
    /* utf8proc's full case fold (not Turkish-specific): İ (U+0130) becomes
     * "i" + U+0307 combining dot above; dotless ı stays ı; I becomes i.
     * Documented in docs/tokenizer.md; asserted so a library change shows. */
    cr_assert_str_eq(toks("\xC4\xB0stanbul", 0), "i\xCC\x87stanbul");
    cr_assert_str_eq(toks("\xC4\xB1 I", 0), "\xC4\xB1 i");
}

Test(tok, cjk_bigrams_with_offsets)
{
    /* 中文检索 = 4 chars of 3 bytes: bigrams 中文 文检 检索, and (rules 5)
     * the last character 索 again at the last bigram's position */
    const char *s = "\xE4\xB8\xAD\xE6\x96\x87\xE6\xA3\x80\xE7\xB4\xA2";
    cr_assert_str_eq(toks(s, 1),
                     "\xE4\xB8\xAD\xE6\x96\x87@0 \xE6\x96\x87\xE6\xA3\x80@1 "
                     "\xE6\xA3\x80\xE7\xB4\xA2@2 \xE7\xB4\xA2@2");
    cr_assert_eq(tl.tokens[0].start, 0);
    cr_assert_eq(tl.tokens[0].end, 6);
    cr_assert_eq(tl.tokens[1].start, 3);
    cr_assert_eq(tl.tokens[1].end, 9);
    cr_assert_eq(tl.tokens[2].start, 6);
    cr_assert_eq(tl.tokens[2].end, 12);
    cr_assert_eq(tl.tokens[3].start, 9);
    cr_assert_eq(tl.tokens[3].end, 12);
    cr_assert_eq(tl.n_positions, 3, "the last unigram takes no position of its own");
}

Test(tok, cjk_unigram_and_script_change)
{
    /* "iPhone手机 和 Android": Latin word, a bigram and its last character,
     * a lone unigram, Latin */
    const char *s = "iPhone\xE6\x89\x8B\xE6\x9C\xBA \xE5\x92\x8C Android";
    cr_assert_str_eq(toks(s, 1), "iphon@0 \xE6\x89\x8B\xE6\x9C\xBA@1 \xE6\x9C\xBA@1 "
                                 "\xE5\x92\x8C@2 android@3");
    cr_assert_eq(tl.tokens[1].start, 6);
    cr_assert_eq(tl.tokens[1].end, 12);
    cr_assert_eq(tl.tokens[2].start, 9);
    cr_assert_eq(tl.tokens[2].end, 12);
    cr_assert_eq(tl.tokens[3].start, 13);
    cr_assert_eq(tl.tokens[3].end, 16);
}

Test(tok, japanese_kana_kanji_one_run)
{
    /* 東京へ行く: kanji and kana bigram across the script change; the
     * ideographic full stop separates runs */
    const char *s = "\xE6\x9D\xB1\xE4\xBA\xAC\xE3\x81\xB8\xE8\xA1\x8C\xE3\x81\x8F"
                    "\xE3\x80\x82\xE3\x82\xAB\xE3\x83\xA1\xE3\x83\xA9";
    cr_assert_str_eq(toks(s, 0),
                     "\xE6\x9D\xB1\xE4\xBA\xAC \xE4\xBA\xAC\xE3\x81\xB8 \xE3\x81\xB8\xE8\xA1\x8C "
                     "\xE8\xA1\x8C\xE3\x81\x8F \xE3\x81\x8F \xE3\x82\xAB\xE3\x83\xA1 "
                     "\xE3\x83\xA1\xE3\x83\xA9 \xE3\x83\xA9");
}

Test(tok, halfwidth_katakana_folds)
{
    /* halfwidth ｶﾒﾗ folds to fullwidth カメラ: bigrams カメ メラ, and ラ */
    const char *s = "\xEF\xBD\xB6\xEF\xBE\x92\xEF\xBE\x97";
    cr_assert_str_eq(toks(s, 0), "\xE3\x82\xAB\xE3\x83\xA1 \xE3\x83\xA1\xE3\x83\xA9 "
                                 "\xE3\x83\xA9");
}

Test(tok, hangul_separate_from_han)
{
    /* 한국 then 語: Hangul and Han runs do not join */
    const char *s = "\xED\x95\x9C\xEA\xB5\xAD\xE8\xAA\x9E";
    cr_assert_str_eq(toks(s, 0), "\xED\x95\x9C\xEA\xB5\xAD \xEA\xB5\xAD \xE8\xAA\x9E");
}

Test(tok, emoji_dropped)
{
    /* 👍, a ZWJ family sequence, a flag, and a skin-tone modifier */
    const char *s = "good \xF0\x9F\x91\x8D fam \xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9"
                    " \xF0\x9F\x87\xAB\xF0\x9F\x87\xB7 \xF0\x9F\x91\x8B\xF0\x9F\x8F\xBD end";
    cr_assert_str_eq(toks(s, 1), "good@0 fam@1 end@2");
}

Test(tok, zero_width_and_soft_hyphen_inside_words)
{
    /* ZWJ, ZWNJ, ZWSP-free format chars and the soft hyphen vanish inside a
     * word instead of splitting it */
    cr_assert_str_eq(toks("co\xC2\xAD" "operate", 0), "cooper");
    cr_assert_str_eq(toks("ab\xE2\x80\x8D" "cd", 0), "abcd");
    cr_assert_eq(tl.tokens[0].end, strlen("ab\xE2\x80\x8D" "cd"));
    /* a leading format character does not start a word */
    cr_assert_str_eq(toks("\xE2\x80\x8D" "word", 0), "word");
    cr_assert_eq(tl.tokens[0].start, 3);
}

Test(tok, combining_mark_does_not_start_word)
{
    cr_assert_str_eq(toks(" \xCC\x81" "abc", 1), "abc@0");
}

Test(tok, long_words_dropped_but_counted)
{
    char s[400];
    memset(s, 'x', 300);
    memcpy(s, "alpha ", 6);
    memcpy(s + 290, " omega", 7);      /* alpha, 284 x's, omega */
    cr_assert_str_eq(toks(s, 1), "alpha@0 omega@2");
    /* exactly TOK_MAX_TERM bytes is kept, one more is dropped */
    char w[TOK_MAX_TERM + 2];
    memset(w, 'q', TOK_MAX_TERM);
    w[TOK_MAX_TERM] = '\0';
    cr_assert_eq(strlen(toks(w, 0)), TOK_MAX_TERM);
    w[TOK_MAX_TERM] = 'q';
    w[TOK_MAX_TERM + 1] = '\0';
    cr_assert_str_eq(toks(w, 0), "");
}

Test(tok, huge_word_linear)
{
    size_t n = 2u << 20;
    char *s = malloc(n + 1);
    cr_assert_not_null(s);
    memset(s, 'a', n);
    s[n] = '\0';
    tok_list_reset(&tl);
    cr_assert_eq(tok_tokenize(tk, s, n, &tl), 0);
    cr_assert_eq(tl.n, 0);
    cr_assert_eq(tl.n_positions, 1);
    free(s);
}

Test(tok, invalid_utf8_does_not_crash)
{
    const char s[] = "ok \xFF\xFE bad \xE2\x82 end \xC0\x80";
    tok_list_reset(&tl);
    cr_assert_eq(tok_tokenize(tk, s, sizeof s - 1, &tl), 0);
    cr_assert_str_eq(toks(s, 0), "ok bad end");
}

Test(tok, append_continues_positions)
{
    tok_list_reset(&tl);
    cr_assert_eq(tok_tokenize(tk, "alpha beta", 10, &tl), 0);
    cr_assert_eq(tok_tokenize(tk, "gamma", 5, &tl), 0);
    cr_assert_eq(tl.n, 3);
    cr_assert_eq(tl.tokens[2].pos, 2);
    cr_assert_str_eq(tok_term(&tl, 2), "gamma");
}

/* Every token's [start,end) slice, tokenized alone, gives back exactly that
 * token's term: what snippets highlight is what was indexed. A CJK bigram
 * that ends a run also gives its last character (rules 5), at its own
 * position: one_token checks that. */
static void one_token(const tok_list *one, const char *term, const char *what)
{
    int tail = one->n == 2 && one->tokens[1].pos == one->tokens[0].pos &&
               one->tokens[1].start > one->tokens[0].start &&
               one->tokens[1].end == one->tokens[0].end;
    cr_assert(one->n == 1 || tail, "%s: slice of '%s' gave %zu tokens", what, term, one->n);
    cr_assert_str_eq(tok_term(one, 0), term, "%s", what);
}

Test(tok, slices_retokenize_to_same_term)
{
    const char *s =
        "The QUICK brown fox's don't-stop café Straße \xEF\xAC\x81nd 3.14 1,000 "
        "\xE4\xB8\xAD\xE6\x96\x87\xE6\xA3\x80\xE7\xB4\xA2 iPhone\xE6\x89\x8B\xE6\x9C\xBA "
        "\xE6\x9D\xB1\xE4\xBA\xAC\xE3\x81\xB8 co\xC2\xAD" "operate \xED\x95\x9C\xEA\xB5\xAD"
        " \xEF\xBC\xA6\xEF\xBD\x95\xEF\xBD\x8C\xEF\xBD\x8C running x\xC2\xB2 \xE5\x92\x8C";
    tok_list all, one;
    size_t i;

    tok_list_init(&all);
    tok_list_init(&one);
    cr_assert_eq(tok_tokenize(tk, s, strlen(s), &all), 0);
    cr_assert_gt(all.n, 15);
    for (i = 0; i < all.n; i++) {
        const tok_token *t = &all.tokens[i];
        tok_list_reset(&one);
        cr_assert_lt(t->start, t->end);
        cr_assert_eq(tok_tokenize(tk, s + t->start, t->end - t->start, &one), 0);
        one_token(&one, tok_term(&all, i), "the sample");
    }
    tok_list_free(&all);
    tok_list_free(&one);
}

Test(tok_config, none_language_no_stemming)
{
    tok_config cfg = { "none", 1, 1, 0, 0};
    tok_tokenizer *t = tok_new(&cfg, NULL, 0);
    tok_list l;
    cr_assert_not_null(t);
    tok_list_init(&l);
    cr_assert_eq(tok_tokenize(t, "the running dogs", 16, &l), 0);
    cr_assert_eq(l.n, 2);
    cr_assert_str_eq(tok_term(&l, 0), "running");
    cr_assert_str_eq(tok_term(&l, 1), "dogs");
    tok_list_free(&l);
    tok_free(t);
}

Test(tok_config, stopwords_off)
{
    tok_config cfg = { "english", 0, 1, 0, 0};
    tok_tokenizer *t = tok_new(&cfg, NULL, 0);
    tok_list l;
    cr_assert_not_null(t);
    cr_assert_not(tok_is_stopword(t, "the"));
    tok_list_init(&l);
    cr_assert_eq(tok_tokenize(t, "the cats", 8, &l), 0);
    cr_assert_eq(l.n, 2);
    cr_assert_str_eq(tok_term(&l, 0), "the");
    cr_assert_str_eq(tok_term(&l, 1), "cat");
    tok_list_free(&l);
    tok_free(t);
}

Test(tok_config, other_language_and_unknown)
{
    tok_config cfg = { "german", 1, 1, 0, 0};
    char err[128] = "";
    tok_tokenizer *t = tok_new(&cfg, err, sizeof err);
    tok_list l;
    cr_assert_not_null(t);
    tok_list_init(&l);
    /* German stemmer; no German stopword list, so "die" stays */
    cr_assert_eq(tok_tokenize(t, "die Häuser", strlen("die Häuser"), &l), 0);
    cr_assert_eq(l.n, 2);
    cr_assert_str_eq(tok_term(&l, 0), "die");
    cr_assert_str_eq(tok_term(&l, 1), "haus");
    tok_list_free(&l);
    tok_free(t);

    cfg.language = "klingon";
    cr_assert_null(tok_new(&cfg, err, sizeof err));
    cr_assert(strstr(err, "klingon") != NULL);
}

Test(tok_config, null_config_defaults_to_english)
{
    tok_tokenizer *t = tok_new(NULL, NULL, 0);
    tok_list l;
    cr_assert_not_null(t);
    tok_list_init(&l);
    cr_assert_eq(tok_tokenize(t, "The connections", 15, &l), 0);
    cr_assert_eq(l.n, 1);
    cr_assert_str_eq(tok_term(&l, 0), "connect");
    tok_list_free(&l);
    tok_free(t);
}

Test(tok_config, stoplist_sorted_and_complete)
{
    const tok_stoplist *l = tok_stoplist_for("english");
    size_t i;
    cr_assert_not_null(l);
    cr_assert_eq(l->n, 33);
    for (i = 0; i < l->n; i++) {
        if (i > 0)
            cr_assert_lt(strcmp(l->words[i - 1], l->words[i]), 0, "not sorted at %zu", i);
        cr_assert(tok_stoplist_contains(l, l->words[i], strlen(l->words[i])));
    }
    cr_assert(tok_stoplist_contains(l, "then", 3));       /* the first 3 bytes: "the" */
    cr_assert_not(tok_stoplist_contains(l, "thes", 4));
    cr_assert(tok_stoplist_contains(l, "then", 4));
    cr_assert_null(tok_stoplist_for("german"));
    cr_assert_eq(tok_stoplist_for("none"), l);
}

/* Random texts built from awkward pieces (marks, ZWJ, apostrophes, digits
 * with separators, CJK, emoji, fullwidth, long runs): offsets stay in
 * bounds and on character boundaries, positions never go down, and every
 * slice re-tokenizes to its own term. Fixed seed: failures reproduce. */
Test(tok, random_pieces_keep_invariants)
{
    static const char *const pieces[] = {
        "a", "Z", "don", "'", "\xE2\x80\x99", "s", "3", ".", ",", "-", " ", "\n",
        "\xCC\x81", "\xE2\x80\x8D", "\xC2\xAD", "\xE4\xB8\xAD", "\xE3\x81\xB8",
        "\xE3\x82\xAB", "\xED\x95\x9C", "\xF0\x9F\x91\x8D", "\xEF\xBC\xA6", "\xEF\xAC\x81",
        "\xC3\x9F", "\xCE\xA3", "\xC4\xB0", "\xEF\xBD\xB6", "\xEF\xBE\x9E", "the",
        "running", "_", "\xE3\x80\x82", "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        "\xEF\xB7\xBA", "\xC2\xB2", "\xE2\x91\xA0",
    };
    const size_t np = sizeof pieces / sizeof pieces[0];
    unsigned seed = 42;
    char s[1024];
    tok_list one;
    int iter;

    tok_list_init(&one);
    for (iter = 0; iter < 400; iter++) {
        size_t o = 0, i, k, npieces;
        seed = seed * 1103515245u + 12345u;
        npieces = 1 + (seed >> 16) % 40;
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
        cr_assert(utf8_validate(s, o, NULL));
        tok_list_reset(&tl);
        cr_assert_eq(tok_tokenize(tk, s, o, &tl), 0);
        for (i = 0; i < tl.n; i++) {
            const tok_token *t = &tl.tokens[i];
            cr_assert_lt(t->start, t->end);
            cr_assert_leq(t->end, o);
            cr_assert_neq((unsigned char)s[t->start] & 0xC0, 0x80, "start mid-character");
            cr_assert(t->end == o || ((unsigned char)s[t->end] & 0xC0) != 0x80);
            cr_assert_gt(t->term_len, 0);
            /* rules 3: TOK_MAX_TERM characters, TOK_MAX_TERM_BYTES bytes */
            cr_assert_leq(t->term_len, TOK_MAX_TERM_BYTES);
            size_t chars = 0;
            for (size_t b = 0; b < t->term_len; b++)
                chars += ((unsigned char)tok_term(&tl, i)[b] & 0xC0) != 0x80;
            cr_assert_leq(chars, TOK_MAX_TERM);
            cr_assert_eq(strlen(tok_term(&tl, i)), t->term_len);
            cr_assert_lt(t->pos, tl.n_positions);
            if (i > 0)
                cr_assert_geq(t->pos, tl.tokens[i - 1].pos);
            tok_list_reset(&one);
            cr_assert_eq(tok_tokenize(tk, s + t->start, t->end - t->start, &one), 0);
            one_token(&one, tok_term(&tl, i), s);
            /* a token that shares its position is the last character of
             * the bigram before it (rules 5) */
            if (i > 0 && t->pos == tl.tokens[i - 1].pos)
                cr_assert(t->end == tl.tokens[i - 1].end && t->start > tl.tokens[i - 1].start,
                          "text '%s': token '%s' shares a position", s, tok_term(&tl, i));
        }
    }
    tok_list_free(&one);
}
