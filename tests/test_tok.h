/*
 * test_tok.h — the English tokenizer (stopwords and stemming on) that the
 * tokenizer and postings tests build their cases on, and the terms of a
 * text as one string, checked by both segmenters. Header-only, for
 * Criterion test files.
 */
#ifndef LCTX_TEST_TOK_H
#define LCTX_TEST_TOK_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "indexer/indexer.h"

/* "term term ..." of s by t, into a static buffer. The block and byte
 * segmenters must give the same tokens. */
static inline const char *tok_terms_with(tok_tokenizer *t, const char *s)
{
    static char out[8192];
    tok_list a, b;
    tok_list_init(&a);
    tok_list_init(&b);
    cr_assert_eq(tok_tokenize(t, s, strlen(s), &a), 0);
    cr_assert_eq(tok_tokenize_bytes(t, s, strlen(s), &b), 0);
    cr_assert_eq(a.n, b.n, "%s", s);
    size_t o = 0;
    out[0] = 0;
    for (size_t i = 0; i < a.n; i++) {
        cr_assert_str_eq(tok_term(&a, i), tok_term(&b, i));
        cr_assert_eq(a.tokens[i].start, b.tokens[i].start);
        cr_assert_eq(a.tokens[i].end, b.tokens[i].end);
        o += (size_t)snprintf(out + o, sizeof out - o, "%s%s", i ? " " : "", tok_term(&a, i));
    }
    tok_list_free(&a);
    tok_list_free(&b);
    return out;
}

/* The same by lang's tokenizer (stopwords on; stem: 0 or 1) under rules
 * (0: TOK_RULES), accents kept. */
static inline const char *tok_terms_of(const char *lang, int stem, int rules, const char *s)
{
    tok_config cfg = {lang, 1, stem, rules, 0};
    char err[128];
    tok_tokenizer *t = tok_new(&cfg, err, sizeof err);
    cr_assert_not_null(t, "%s", err);
    const char *out = tok_terms_with(t, s);
    tok_free(t);
    return out;
}

/* A tokenizer of lang, stopwords and stemming on, the current rules. */
static inline tok_tokenizer *language_tokenizer(const char *lang)
{
    tok_config cfg = {lang, 1, 1, 0, 0};
    char err[128];
    tok_tokenizer *t = tok_new(&cfg, err, sizeof err);
    cr_assert_not_null(t, "%s", err);
    return t;
}

static inline tok_tokenizer *english_tokenizer(void)
{
    return language_tokenizer("english");
}

#endif
