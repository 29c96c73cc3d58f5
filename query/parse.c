/*
 * parse.c — the keyword query language.
 *
 *   words            scored with BM25 (any of them may match)
 *   "quoted phrase"  its terms are required, adjacent and in order; they are
 *                    also scored like words
 *   -word            documents containing the word are excluded
 *
 * Each piece is run through the collection's tokenizer, so queries and
 * documents are normalised identically (case folding, stemming, stopwords,
 * CJK bigrams). Positions from the tokenizer count stopwords, which lets
 * "king of england" match through the dropped "of". A repeated word weighs
 * more, as a repeated clause does in Lucene.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query/query.h"

enum seg_kind { SEG_WORDS, SEG_PHRASE, SEG_EXCLUDE };

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* Adds (or finds) a scored term; returns its index or -1. */
static long add_term(query_parsed *q, const char *term, size_t len, int required)
{
    for (size_t i = 0; i < q->n_terms; i++) {
        if (q->terms[i].len == len && memcmp(q->terms[i].term, term, len) == 0) {
            q->terms[i].weight += 1;
            q->terms[i].required |= required;
            return (long)i;
        }
    }
    if (q->n_terms == QUERY_MAX_TERMS)
        return -2; /* silently ignore terms past the limit */
    query_term *p = realloc(q->terms, (q->n_terms + 1) * sizeof *p);
    if (!p)
        return -1;
    q->terms = p;
    char *s = malloc(len + 1);
    if (!s)
        return -1;
    memcpy(s, term, len);
    s[len] = 0;
    q->terms[q->n_terms] = (query_term){s, (uint32_t)len, 1.0, required};
    return (long)q->n_terms++;
}

static int add_excluded(query_parsed *q, const char *term, size_t len)
{
    char **p = realloc(q->excluded, (q->n_excluded + 1) * sizeof *p);
    if (!p)
        return -1;
    q->excluded = p;
    if (!(p[q->n_excluded] = malloc(len + 1)))
        return -1;
    memcpy(p[q->n_excluded], term, len);
    p[q->n_excluded][len] = 0;
    q->n_excluded++;
    return 0;
}

static int add_phrase(query_parsed *q, const tok_list *l)
{
    query_phrase ph = {malloc(l->n * sizeof(uint32_t)), malloc(l->n * sizeof(uint32_t)), 0};
    if (!ph.term || !ph.offset) {
        free(ph.term);
        free(ph.offset);
        return -1;
    }
    for (size_t i = 0; i < l->n; i++) {
        long t = add_term(q, tok_term(l, i), l->tokens[i].term_len, 1);
        if (t == -1) {
            free(ph.term);
            free(ph.offset);
            return -1;
        }
        if (t < 0)
            continue;
        ph.term[ph.n] = (uint32_t)t;
        ph.offset[ph.n] = l->tokens[i].pos - l->tokens[0].pos;
        ph.n++;
    }
    if (ph.n < 2) {
        free(ph.term);
        free(ph.offset);
        return 0;
    }
    query_phrase *p = realloc(q->phrases, (q->n_phrases + 1) * sizeof *p);
    if (!p) {
        free(ph.term);
        free(ph.offset);
        return -1;
    }
    q->phrases = p;
    q->phrases[q->n_phrases++] = ph;
    return 0;
}

static int add_segment(tok_tokenizer *t, query_parsed *q, enum seg_kind kind, const char *s,
                       size_t n, tok_list *l, int *words)
{
    tok_list_reset(l);
    if (n == 0)
        return 0;
    if (tok_tokenize(t, s, n, l))
        return -1;
    if (l->n_positions > 0)
        *words = 1;
    if (kind == SEG_PHRASE)
        return add_phrase(q, l);
    for (size_t i = 0; i < l->n; i++) {
        const char *term = tok_term(l, i);
        uint32_t len = l->tokens[i].term_len;
        if (kind == SEG_EXCLUDE ? add_excluded(q, term, len) : add_term(q, term, len, 0) == -1)
            return -1;
    }
    return 0;
}

int query_parse(tok_tokenizer *t, const char *qs, query_parsed *q, char *err, size_t errlen)
{
    memset(q, 0, sizeof *q);
    size_t len = strlen(qs), bad;
    if (!utf8_validate(qs, len, &bad)) {
        snprintf(err, errlen, "query: invalid UTF-8 at byte %zu", bad);
        return LCTX_EINVAL;
    }
    tok_list l;
    tok_list_init(&l);
    int words = 0, rc = 0;
    size_t i = 0, plain = 0; /* plain: start of the pending run of words */
    while (i < len && !rc) {
        int at_word_start = i == 0 || is_space(qs[i - 1]);
        if (qs[i] == '"') {
            rc = add_segment(t, q, SEG_WORDS, qs + plain, i - plain, &l, &words);
            size_t j = i + 1;
            while (j < len && qs[j] != '"')
                j++;
            if (!rc)
                rc = add_segment(t, q, SEG_PHRASE, qs + i + 1, j - i - 1, &l, &words);
            i = plain = j < len ? j + 1 : j;
        } else if (qs[i] == '-' && at_word_start && i + 1 < len && !is_space(qs[i + 1]) &&
                   qs[i + 1] != '-' && qs[i + 1] != '"') {
            rc = add_segment(t, q, SEG_WORDS, qs + plain, i - plain, &l, &words);
            size_t j = i + 1;
            while (j < len && !is_space(qs[j]) && qs[j] != '"')
                j++;
            if (!rc)
                rc = add_segment(t, q, SEG_EXCLUDE, qs + i + 1, j - i - 1, &l, &words);
            i = plain = j;
        } else {
            i++;
        }
    }
    if (!rc)
        rc = add_segment(t, q, SEG_WORDS, qs + plain, len - plain, &l, &words);
    tok_list_free(&l);
    if (rc) {
        query_parsed_free(q);
        snprintf(err, errlen, "query: out of memory");
        return LCTX_ENOMEM;
    }
    q->stopwords_only = words && q->n_terms == 0;
    return LCTX_OK;
}

void query_parsed_free(query_parsed *q)
{
    for (size_t i = 0; i < q->n_terms; i++)
        free(q->terms[i].term);
    for (size_t i = 0; i < q->n_excluded; i++)
        free(q->excluded[i]);
    for (size_t i = 0; i < q->n_phrases; i++) {
        free(q->phrases[i].term);
        free(q->phrases[i].offset);
    }
    free(q->terms);
    free(q->excluded);
    free(q->phrases);
    memset(q, 0, sizeof *q);
}

char *query_parsed_json(const query_parsed *q, const char *message)
{
    cJSON *root = cJSON_CreateObject(), *terms = cJSON_AddArrayToObject(root, "terms");
    for (size_t i = 0; i < q->n_terms; i++) {
        cJSON *t = cJSON_CreateObject();
        cJSON_AddStringToObject(t, "term", q->terms[i].term);
        cJSON_AddNumberToObject(t, "weight", q->terms[i].weight);
        cJSON_AddBoolToObject(t, "required", q->terms[i].required);
        cJSON_AddItemToArray(terms, t);
    }
    cJSON *phrases = cJSON_AddArrayToObject(root, "phrases");
    for (size_t i = 0; i < q->n_phrases; i++) {
        cJSON *p = cJSON_CreateArray();
        for (size_t j = 0; j < q->phrases[i].n; j++)
            cJSON_AddItemToArray(p, cJSON_CreateString(q->terms[q->phrases[i].term[j]].term));
        cJSON_AddItemToArray(phrases, p);
    }
    cJSON *ex = cJSON_AddArrayToObject(root, "excluded");
    for (size_t i = 0; i < q->n_excluded; i++)
        cJSON_AddItemToArray(ex, cJSON_CreateString(q->excluded[i]));
    if (message && *message)
        cJSON_AddStringToObject(root, "message", message);
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}
