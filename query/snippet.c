/*
 * snippet.c — a highlighted excerpt of a hit's best chunk.
 *
 * The chunk text is re-tokenized with the collection's tokenizer, so a
 * match is exactly a token whose normalised term is a query term ("Running"
 * highlights for the query "run"), and the highlight covers the token's
 * original bytes. The excerpt is the window of SNIPPET_WINDOW tokens holding
 * the most distinct query terms (then the most matches), widened to the
 * chunk's ends when they are near, with runs of whitespace collapsed to one
 * space so a snippet prints on one line. "…" marks cut ends.
 */
#include <stdlib.h>
#include <string.h>

#include "query/query.h"

#define SNIPPET_WINDOW 32

typedef struct sbuf {
    char *s;
    size_t n, cap;
    int oom;
} sbuf;

static void put(sbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = (b->cap + n + 1) * 2;
        char *p = realloc(b->s, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = 0;
}

static int is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* Copies text[from, to) collapsing whitespace runs. */
static void put_text(sbuf *b, const char *text, size_t from, size_t to)
{
    size_t i = from;
    while (i < to) {
        if (is_ws(text[i])) {
            while (i < to && is_ws(text[i]))
                i++;
            if (b->n == 0 || b->s[b->n - 1] != ' ')
                put(b, " ", 1);
            continue;
        }
        size_t j = i;
        while (j < to && !is_ws(text[j]))
            j++;
        put(b, text + i, j - i);
        i = j;
    }
}

static long match_of(const query_parsed *q, const tok_list *l, size_t i)
{
    const char *term = tok_term(l, i);
    for (size_t t = 0; t < q->n_terms; t++)
        if (strcmp(q->terms[t].term, term) == 0)
            return (long)t;
    return -1;
}

/* Picks the token window [*ws, *we) with the most distinct matched terms.
 * seen: one entry per query term, zeroed; a term counts once in the window
 * starting at token s when its entry is not yet s + 1 (a query may have
 * any number of terms, so no bit mask). */
static void best_window(const query_parsed *q, const tok_list *l, const long *m, size_t *seen,
                        size_t *ws, size_t *we)
{
    size_t best_start = 0, best_d = 0, best_c = 0;
    for (size_t s = 0; s < l->n; s++) {
        if (m[s] < 0)
            continue; /* windows worth having start on a match */
        size_t d = 0, c = 0;
        for (size_t i = s; i < l->n && i < s + SNIPPET_WINDOW; i++) {
            if (m[i] < 0)
                continue;
            c++;
            if (seen[m[i]] != s + 1) {
                seen[m[i]] = s + 1;
                d++;
            }
        }
        if (d > best_d || (d == best_d && c > best_c)) {
            best_d = d;
            best_c = c;
            best_start = s;
        }
    }
    (void)q;
    /* Start a few tokens before the first match for context. */
    *ws = best_start > 4 ? best_start - 4 : 0;
    *we = *ws + SNIPPET_WINDOW < l->n ? *ws + SNIPPET_WINDOW : l->n;
}

char *snippet_make(tok_tokenizer *tok, const query_parsed *q, const char *text, size_t len,
                   const char *open, const char *close)
{
    tok_list l;
    tok_list_init(&l);
    sbuf b = {0};
    put(&b, "", 0);
    if (len && tok_tokenize(tok, text, len, &l)) {
        tok_list_free(&l);
        free(b.s);
        return NULL;
    }
    if (l.n == 0) {
        put_text(&b, text, 0, len < 240 ? len : 240);
        tok_list_free(&l);
        if (b.oom) {
            free(b.s);
            return NULL;
        }
        return b.s;
    }
    long *m = malloc(l.n * sizeof *m);
    size_t *seen = calloc(q->n_terms ? q->n_terms : 1, sizeof *seen);
    if (!m || !seen) {
        free(m);
        free(seen);
        tok_list_free(&l);
        free(b.s);
        return NULL;
    }
    for (size_t i = 0; i < l.n; i++)
        m[i] = match_of(q, &l, i);
    size_t ws, we;
    best_window(q, &l, m, seen, &ws, &we);
    free(seen);
    size_t from = ws == 0 ? 0 : l.tokens[ws].start;
    size_t to = we == l.n ? len : l.tokens[we - 1].end;
    if (from > 0)
        put(&b, "\xe2\x80\xa6", 3);
    /* Matches that overlap (a CJK word's bigrams: 東京, 京タ, タワ) are one
     * highlight over their union, [東京タワ], not the first of each pair. */
    size_t at = from, hs = 0, he = 0;
    int open_span = 0;
    for (size_t i = ws; i <= we; i++) {
        size_t st = i < we ? l.tokens[i].start : len, en = i < we ? l.tokens[i].end : len;
        if (i < we && m[i] < 0)
            continue;
        if (open_span && i < we && st < he) {
            if (en > he)
                he = en;
            continue;
        }
        if (open_span) {
            put_text(&b, text, at, hs);
            put(&b, open, strlen(open));
            put(&b, text + hs, he - hs);
            put(&b, close, strlen(close));
            at = he;
        }
        open_span = i < we;
        hs = st;
        he = en;
    }
    put_text(&b, text, at, to);
    if (to < len)
        put(&b, "\xe2\x80\xa6", 3);
    free(m);
    tok_list_free(&l);
    if (b.oom) {
        free(b.s);
        return NULL;
    }
    /* trim the spaces collapsing left at the ends */
    size_t s0 = 0;
    while (b.s[s0] == ' ')
        s0++;
    while (b.n > s0 && b.s[b.n - 1] == ' ')
        b.s[--b.n] = 0;
    if (s0)
        memmove(b.s, b.s + s0, b.n - s0 + 1);
    return b.s;
}
