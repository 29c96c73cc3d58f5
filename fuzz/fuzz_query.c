/*
 * fuzz_query.c — fuzz target for the keyword query language and snippets.
 *
 * Queries are the one input every user types by hand, and the parser has
 * grown syntax (phrases, +/- signs, prefix patterns with their English
 * completions, typographic marks, Hebrew quotes): each byte sequence must
 * parse, print as JSON and highlight a text without a sanitizer report.
 *
 * The first input byte picks the tokenizer (English under rules 5 or 1,
 * no language, French, Turkish; accents folded in the first, the third and
 * the last, as a new collection's defaults and --accents fold make them;
 * one of each, made once and kept for the
 * process, as a tokenizer is costly to make); the rest, up to a NUL or
 * its end, is the query. When it parses, the checks are the ones a
 * caller relies on: terms, prefixes (kept and excluded) and title terms
 * non-empty and NUL-terminated at their length, groups naming a prefix;
 * then query_parsed_json and snippet_make over the query's own bytes as
 * the text.
 *
 * Build and run: make fuzz-query (FUZZ_SECONDS, default 60). With
 * -DFUZZ_STANDALONE each file named on the command line runs once.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query/query.h"

#define FUZZ_TOKENIZERS 5

static tok_tokenizer *fuzz_tokenizer(unsigned which)
{
    static tok_tokenizer *made[FUZZ_TOKENIZERS];
    static const tok_config cfg[FUZZ_TOKENIZERS] = {
        {"english", 1, 1, 5, 1}, {"english", 1, 1, 1, 0}, {"none", 0, 0, 3, 1},
        {"french", 1, 1, 3, 0},  {"turkish", 1, 1, 3, 1},  /* last: accents folded */
    };
    which %= FUZZ_TOKENIZERS;
    if (!made[which]) {
        char err[128];
        made[which] = tok_new(&cfg[which], err, sizeof err);
        if (!made[which]) {
            fprintf(stderr, "fuzz_query: %s\n", err);
            abort();
        }
    }
    return made[which];
}

static void check_patterns(const query_prefix *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!v[i].len || strlen(v[i].prefix) != v[i].len || v[i].weight < 1)
            abort();
        for (size_t k = 0; k < v[i].n_alt; k++)
            if (!v[i].alt[k][0])
                abort();
    }
}

static void check_parsed(const query_parsed *q)
{
    for (size_t i = 0; i < q->n_terms; i++) {
        const query_term *t = &q->terms[i];
        if (!t->len || strlen(t->term) != t->len || t->weight < 1 ||
            t->group > q->n_prefixes)
            abort();
    }
    check_patterns(q->prefixes, q->n_prefixes);
    check_patterns(q->xprefixes, q->n_xprefixes);
    for (size_t i = 0; i < q->n_title; i++)
        if (!q->title[i][0])
            abort();
    for (size_t i = 0; i < q->n_xtitle; i++)
        if (!q->xtitle[i][0])
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    tok_tokenizer *tok = fuzz_tokenizer(data[0]);
    char *text = malloc(size);
    if (!text)
        return 0;
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    query_parsed q;
    char err[256];
    if (query_parse(tok, text, &q, err, sizeof err) == LCTX_OK) {
        check_parsed(&q);
        free(query_parsed_json(&q, "fuzz"));
        free(snippet_make(tok, &q, text, strlen(text), "[", "]"));
        query_parsed_free(&q);
    }
    free(text);
    return 0;
}

#include "fuzz_main.h"
