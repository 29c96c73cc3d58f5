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
 *
 * A window of tokens is no bound on length: words the tokenizer drops (over
 * TOK_MAX_TERM: Thai sentences, base64, long URLs) take no token, so a Thai
 * document with one Latin match was a "window" of the whole 648 KB chunk.
 * So the excerpt is also cut to SNIPPET_MAX_CHARS characters (query.h says
 * why 800), centred on the highlights (narrow): a cut falls after/before a
 * space when one is near, else on a grapheme boundary (never between a
 * base and its combining marks), always on a UTF-8 character boundary, and
 * never inside a highlight (highlights that do not fit are left out whole,
 * so the markers stay balanced).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "query/query.h"

#define SNIPPET_WINDOW 32
/* How far (characters) a cut looks inward for a space to fall on. */
#define SNIPPET_SNAP 16
/* A chunk without a single token shows its head, this many bytes at most. */
#define SNIPPET_HEAD_BYTES 240

/* One highlight: the byte range [s, e) of the text. */
typedef struct span {
    size_t s, e;
} span;

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

/* ------------------------------------------------- cutting to the cap */

static int is_cont(char c)
{
    return ((unsigned char)c & 0xC0) == 0x80;
}

/* The character boundary after i (i < hi) and before i (i > lo): continuation
 * bytes are stepped over whole, so a cut never falls inside a sequence. */
static size_t cp_next(const char *t, size_t i, size_t hi)
{
    for (i++; i < hi && is_cont(t[i]); i++)
        ;
    return i;
}

static size_t cp_prev(const char *t, size_t i, size_t lo)
{
    for (i--; i > lo && is_cont(t[i]); i--)
        ;
    return i;
}

/* Steps forward from i over at most budget characters, not past hi; *used
 * gets how many. A whitespace run is one character, as it prints. */
static size_t fwd_chars(const char *t, size_t i, size_t hi, size_t budget, size_t *used)
{
    size_t n = 0;
    for (; i < hi && n < budget; n++) {
        if (!is_ws(t[i])) {
            i = cp_next(t, i, hi);
            continue;
        }
        while (i < hi && is_ws(t[i]))
            i++;
    }
    *used = n;
    return i;
}

static size_t back_chars(const char *t, size_t i, size_t lo, size_t budget, size_t *used)
{
    size_t n = 0;
    for (; i > lo && n < budget; n++) {
        if (!is_ws(t[i - 1])) {
            i = cp_prev(t, i, lo);
            continue;
        }
        while (i > lo && is_ws(t[i - 1]))
            i--;
    }
    *used = n;
    return i;
}

/* Characters in [a, b), counted up to cap + 1 (enough to know "over"). */
static size_t chars_upto(const char *t, size_t a, size_t b, size_t cap)
{
    size_t n;
    fwd_chars(t, a, b, cap + 1, &n);
    return n;
}

/* 1 when a grapheme may end at i: the characters either side of it are not
 * one cluster (a base and its combining marks, a ZWJ sequence, CR LF). */
static int grapheme_edge(const char *t, size_t i, size_t lo, size_t hi)
{
    utf8proc_int32_t a, b;
    if (i <= lo || i >= hi)
        return 1;
    size_t p = cp_prev(t, i, lo);
    if (utf8proc_iterate((const utf8proc_uint8_t *)t + p, (utf8proc_ssize_t)(i - p), &a) < 0 ||
        utf8proc_iterate((const utf8proc_uint8_t *)t + i, (utf8proc_ssize_t)(hi - i), &b) < 0)
        return 1;
    utf8proc_int32_t state = 0;
    return utf8proc_grapheme_break_stateful(a, b, &state);
}

/* Moves a cut start forward, not past limit, to a word's start within
 * SNIPPET_SNAP characters, else to a grapheme boundary. */
static size_t snap_start(const char *t, size_t cs, size_t limit)
{
    size_t i = cs;
    for (int k = 0; i < limit && k <= SNIPPET_SNAP; k++) {
        if (is_ws(t[i - 1]) || is_ws(t[i])) {
            while (i < limit && is_ws(t[i]))
                i++;
            return i;
        }
        i = cp_next(t, i, limit);
    }
    for (i = cs; i < limit && !grapheme_edge(t, i, 0, limit); i = cp_next(t, i, limit))
        ;
    return i;
}

/* Moves a cut end backward, not before limit, to a word's end within
 * SNIPPET_SNAP characters, else to a grapheme boundary. hi: the text's end. */
static size_t snap_end(const char *t, size_t ce, size_t limit, size_t hi)
{
    size_t i = ce;
    for (int k = 0; i > limit && k <= SNIPPET_SNAP; k++) {
        if (is_ws(t[i]) || is_ws(t[i - 1])) {
            while (i > limit && is_ws(t[i - 1]))
                i--;
            return i;
        }
        i = cp_prev(t, i, limit);
    }
    for (i = ce; i > limit && !grapheme_edge(t, i, limit, hi); i = cp_prev(t, i, limit))
        ;
    return i;
}

/* Cuts [*from, *to) (the token window) to SNIPPET_MAX_CHARS characters
 * centred on the window's highlights sp[0, n_sp): from the first on, those
 * that fit whole, a lone one longer than the cap (a CJK run as long as the
 * query) kept whole rather than cut. The slack is shared either side, what
 * one side cannot use going to the other, within the whole chunk [0, len):
 * once the cap binds, the window's own ends are no longer the point. */
static void narrow(const char *t, size_t len, const span *sp, size_t n_sp, size_t *from,
                   size_t *to)
{
    size_t k = n_sp, fs = *from, fe = *from, l, r, l2;
    while (k > 1 && chars_upto(t, sp[0].s, sp[k - 1].e, SNIPPET_MAX_CHARS) > SNIPPET_MAX_CHARS)
        k--;
    if (k) {
        fs = sp[0].s;
        fe = sp[k - 1].e;
    }
    size_t fc = chars_upto(t, fs, fe, SNIPPET_MAX_CHARS);
    size_t slack = fc < SNIPPET_MAX_CHARS ? SNIPPET_MAX_CHARS - fc : 0;
    size_t cs = back_chars(t, fs, 0, slack / 2, &l);
    size_t ce = fwd_chars(t, fe, len, slack - l, &r);
    if (l + r < slack)
        cs = back_chars(t, cs, 0, slack - l - r, &l2);
    if (cs > 0)
        cs = snap_start(t, cs, fs);
    if (ce < len)
        ce = snap_end(t, ce, fe, len);
    *from = cs;
    *to = ce;
}

/* Moves the cuts off matches they would halve (the match is left out, the
 * excerpt only shrinks), so every highlight shown is whole, then off the
 * spaces that may leave at the ends ("…" sits against a word, as for a
 * window's cut). Tokens come in order of their starts; the moves chain
 * through overlapping CJK bigrams. */
static void keep_matches_whole(const char *t, size_t len, const tok_list *l, const long *m,
                               size_t *from, size_t *to)
{
    for (size_t i = 0; i < l->n && l->tokens[i].start < *from; i++)
        if (m[i] >= 0 && l->tokens[i].end > *from)
            *from = l->tokens[i].end;
    for (size_t i = l->n; i-- > 0;)
        if (l->tokens[i].start < *to && m[i] >= 0 && l->tokens[i].end > *to)
            *to = l->tokens[i].start;
    while (*from < *to && *from > 0 && is_ws(t[*from]))
        (*from)++;
    while (*to > *from && *to < len && is_ws(t[*to - 1]))
        (*to)--;
    if (*to < *from)
        *to = *from;
}

/* ------------------------------------------------------------ matching */

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

/* The highlights of tokens [ws, we) in order, into sp (room for we - ws).
 * Matches that overlap (a CJK word's bigrams: 東京, 京タ, タワ) are one
 * highlight over their union, [東京タワ], not the first of each pair. */
static size_t collect_spans(const tok_list *l, const long *m, size_t ws, size_t we, span *sp)
{
    size_t n = 0;
    for (size_t i = ws; i < we; i++) {
        if (m[i] < 0)
            continue;
        size_t st = l->tokens[i].start, en = l->tokens[i].end;
        if (n && st < sp[n - 1].e) {
            if (en > sp[n - 1].e)
                sp[n - 1].e = en;
            continue;
        }
        sp[n].s = st;
        sp[n].e = en;
        n++;
    }
    return n;
}

/* The text [from, to) with the matches among tokens [ta, tb) that lie
 * inside it wrapped in open/close (overlapping ones as one, as
 * collect_spans), "…" at cut ends. */
static void put_excerpt(sbuf *b, const char *text, size_t len, size_t from, size_t to,
                        const tok_list *l, const long *m, size_t ta, size_t tb,
                        const char *open, const char *close)
{
    size_t at = from, hs = 0, he = 0;
    int span_open = 0;
    if (from > 0)
        put(b, "\xe2\x80\xa6", 3);
    for (size_t i = ta; i <= tb; i++) {
        int last = i == tb;
        size_t st = last ? 0 : l->tokens[i].start, en = last ? 0 : l->tokens[i].end;
        if (!last && (m[i] < 0 || st < from || en > to))
            continue;
        if (span_open && !last && st < he) {
            if (en > he)
                he = en;
            continue;
        }
        if (span_open) {
            put_text(b, text, at, hs);
            put(b, open, strlen(open));
            put(b, text + hs, he - hs);
            put(b, close, strlen(close));
            at = he;
        }
        span_open = !last;
        hs = st;
        he = en;
    }
    put_text(b, text, at, to);
    if (to < len)
        put(b, "\xe2\x80\xa6", 3);
}

/* Trims the spaces collapsing left at the ends; returns b->s, or NULL (and
 * frees it) when out of memory. */
static char *finish(sbuf *b)
{
    if (b->oom) {
        free(b->s);
        return NULL;
    }
    size_t s0 = 0;
    while (b->s[s0] == ' ')
        s0++;
    while (b->n > s0 && b->s[b->n - 1] == ' ')
        b->s[--b->n] = 0;
    if (s0)
        memmove(b->s, b->s + s0, b->n - s0 + 1);
    return b->s;
}

/* A chunk without tokens: its head, cut where a cap cut would be. */
static char *head_only(sbuf *b, const char *text, size_t len)
{
    size_t to = len;
    if (len > SNIPPET_HEAD_BYTES) {
        to = SNIPPET_HEAD_BYTES;
        while (to > 0 && is_cont(text[to]))
            to--;
        to = snap_end(text, to, 0, len);
    }
    put_excerpt(b, text, len, 0, to, NULL, NULL, 0, 0, "", "");
    return finish(b);
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
        tok_list_free(&l);
        return head_only(&b, text, len);
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
    /* Over the cap only where the window holds words the tokenizer dropped
     * (or very long ones): English windows go out as they always did. */
    if (chars_upto(text, from, to, SNIPPET_MAX_CHARS) > SNIPPET_MAX_CHARS) {
        span sp[SNIPPET_WINDOW];
        narrow(text, len, sp, collect_spans(&l, m, ws, we, sp), &from, &to);
        keep_matches_whole(text, len, &l, m, &from, &to);
        ws = 0;     /* every match inside the cut is shown */
        we = l.n;
    }
    put_excerpt(&b, text, len, from, to, &l, m, ws, we, open, close);
    free(m);
    tok_list_free(&l);
    return finish(&b);
}
