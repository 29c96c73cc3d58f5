/*
 * test_tok.h — the English tokenizer (stopwords and stemming on) that the
 * tokenizer and postings tests build their cases on. Header-only, for
 * Criterion test files.
 */
#ifndef LCTX_TEST_TOK_H
#define LCTX_TEST_TOK_H

#include <criterion/criterion.h>

#include "indexer/indexer.h"

static inline tok_tokenizer *english_tokenizer(void)
{
    tok_config cfg = {"english", 1, 1, 0};
    char err[128];
    tok_tokenizer *t = tok_new(&cfg, err, sizeof err);
    cr_assert_not_null(t, "%s", err);
    return t;
}

#endif
