/*
 * parse.c — the keyword query language.
 *
 *   words            scored with BM25 (any of them may match)
 *   "quoted phrase"  its terms are required, adjacent and in order; they are
 *                    also scored like words
 *   +word            the word is required, as "word" is; a word the
 *                    tokenizer splits is required as the phrase of its
 *                    terms; +"quoted phrase" is the phrase
 *   title:word       the word is required in the document's title (each
 *                    term of a word the tokenizer splits); title:"a b" is
 *                    the phrase, its terms in the title; +title:word is
 *                    title:word; -title:word excludes the documents with
 *                    the word (any of its terms) in their title
 *   word*            any term that starts with the word (prefix.c), among
 *                    the other words; +word* also requires one of them;
 *                    in a phrase the '*' is punctuation. A word of one CJK character is the
 *                    prefix of its bigrams (lone_cjk)
 *   -word*           documents containing any term that starts with the
 *                    word are excluded (every such term, at most
 *                    QUERY_XPREFIX_TERMS of them)
 *   -word            documents containing the word are excluded; a word
 *                    the tokenizer splits into several terms (CJK bigrams,
 *                    "e-mail") is excluded as the phrase of its terms
 *   -"quoted phrase" documents containing the phrase are excluded (a phrase
 *                    of one term after stopwords is a -word)
 *
 * Typographic quotes (“ ” „ ＂), guillemets (« ») and CJK corner brackets
 * (「 」) count as '"'; a minus sign (−) or fullwidth hyphen-minus (－)
 * that starts a word counts as '-'. A '"' between two Hebrew letters is
 * not a quote but part of an acronym (צה"ל), in collections whose
 * tokenizer keeps it in the word (rules 3).
 *
 * Each piece is run through the collection's tokenizer, so queries and
 * documents are normalised identically (case folding, stemming, stopwords,
 * CJK bigrams). Positions from the tokenizer count stopwords, which lets
 * "king of england" match through the dropped "of". A repeated word weighs
 * more, as a repeated clause does in Lucene.
 *
 * There is no limit on the number of distinct terms: every term of a long
 * query (a pasted paragraph) is scored, as exhaustive BM25 would score it.
 * Repeats are found through a hash of the terms seen so far, so a long query
 * parses in linear time.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <utf8proc.h>

#include "query/query.h"

enum seg_kind {
    SEG_WORDS, SEG_PHRASE, SEG_EXCLUDE, SEG_XPHRASE, SEG_PREFIX, SEG_XPREFIX, SEG_RPREFIX,
    SEG_TITLE, SEG_TITLE_PHRASE, SEG_XTITLE
};

/* What query_parse carries between segments. */
typedef struct parse_ctx {
    tok_tokenizer *tok;
    query_parsed *q;
    tok_list l;
    uint32_t *slot;          /* open addressing: term index + 1, 0 = empty */
    size_t mask;             /* slots - 1 (slots a power of two), 0 = no table yet */
    int words;               /* a word or phrase to search for was given */
    int excludes;            /* a -word or -"phrase" was given */
    uint32_t positions;      /* words of words and phrases, terms or not */
    uint32_t too_long;       /* of those, dropped for their length */
} parse_ctx;

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static char *dup_term(const char *term, size_t len)
{
    char *s = malloc(len + 1);
    if (s) {
        memcpy(s, term, len);
        s[len] = 0;
    }
    return s;
}

static size_t term_hash(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return (size_t)(h ^ h >> 32);
}

/* The slot of term: where it is, or the empty slot where it would go. */
static size_t find_slot(const parse_ctx *c, const char *term, size_t len)
{
    size_t j = term_hash(term, len) & c->mask;
    for (; c->slot[j]; j = (j + 1) & c->mask) {
        const query_term *t = &c->q->terms[c->slot[j] - 1];
        if (t->len == len && memcmp(t->term, term, len) == 0)
            break;
    }
    return j;
}

/* Keeps the table at most half full: rehashes every term into twice the
 * slots when the next term would pass that. */
static int grow_table(parse_ctx *c)
{
    size_t n = c->q->n_terms, cap = c->mask ? c->mask + 1 : 16;
    if (c->mask && (n + 1) * 2 <= cap)
        return 0;
    while ((n + 1) * 2 > cap)
        cap *= 2;
    uint32_t *s = calloc(cap, sizeof *s);
    if (!s)
        return -1;
    free(c->slot);
    c->slot = s;
    c->mask = cap - 1;
    for (size_t i = 0; i < n; i++)
        c->slot[find_slot(c, c->q->terms[i].term, c->q->terms[i].len)] = (uint32_t)i + 1;
    return 0;
}

/* Adds (or finds) a scored term; returns its index or -1 (out of memory). */
static long add_term(parse_ctx *c, const char *term, size_t len, int required)
{
    query_parsed *q = c->q;
    if (grow_table(c))
        return -1;
    size_t j = find_slot(c, term, len);
    if (c->slot[j]) {
        query_term *t = &q->terms[c->slot[j] - 1];
        t->weight += 1;
        t->required |= required;
        return (long)c->slot[j] - 1;
    }
    if (q->n_terms >= UINT32_MAX - 1)
        return -1;
    query_term *p = realloc(q->terms, (q->n_terms + 1) * sizeof *p);
    if (!p)
        return -1;
    q->terms = p;
    char *s = dup_term(term, len);
    if (!s)
        return -1;
    q->terms[q->n_terms] = (query_term){s, (uint32_t)len, 1.0, required, 0};
    c->slot[j] = (uint32_t)q->n_terms + 1;
    return (long)q->n_terms++;
}

/* Adds (or counts again) a pattern to the list *v of *n; *added says
 * which. Its index, or -1 out of memory. */
static long add_pattern(query_prefix **v, size_t *n, const char *prefix, size_t len, int *added)
{
    *added = 0;
    for (size_t i = 0; i < *n; i++)
        if ((*v)[i].len == len && memcmp((*v)[i].prefix, prefix, len) == 0) {
            (*v)[i].weight += 1;
            return (long)i;
        }
    query_prefix *p = realloc(*v, (*n + 1) * sizeof *p);
    if (!p)
        return -1;
    *v = p;
    char *s = dup_term(prefix, len);
    if (!s)
        return -1;
    p[*n] = (query_prefix){s, (uint32_t)len, 1.0, NULL, 0, 0, NULL, 0};
    *added = 1;
    return (long)(*n)++;
}

static long add_prefix(query_parsed *q, const char *prefix, size_t len, int *added)
{
    return add_pattern(&q->prefixes, &q->n_prefixes, prefix, len, added);
}

/* Endings that complete an English word typed in part: "turbulen*" means
 * turbulent or turbulence, whose stem "turbul" is shorter than what was
 * typed, so no indexed term starts with "turbulen". */
static const char *const prefix_endings[] = {
    "s", "e", "es", "ed", "ing", "t", "ce", "nt", "nce", "tion", "al", "y", "er", "ly",
    "ness", "ment", "ity",
};

/* Adds to p, the pattern just made from the word w[0..n), the stems of w
 * completed by each ending (prefix_endings) that are not p's own prefix
 * and at least 3 bytes long: "turbulen" + "t" stems to "turbul". 0, or -1
 * out of memory. */
static int add_completions(parse_ctx *c, query_prefix *p, const char *w, size_t n)
{
    size_t ne = sizeof prefix_endings / sizeof prefix_endings[0];
    char buf[4 * TOK_MAX_TERM + 8];
    tok_list l;
    int rc = 0;
    if (n + 5 >= sizeof buf)
        return 0;
    tok_list_init(&l);
    for (size_t e = 0; e < ne && !rc; e++) {
        size_t el = strlen(prefix_endings[e]);
        memcpy(buf, w, n);
        memcpy(buf + n, prefix_endings[e], el);
        tok_list_reset(&l);
        if (tok_tokenize(c->tok, buf, n + el, &l)) {
            rc = -1;
            break;
        }
        if (l.n != 1 || l.tokens[0].term_len < 3)
            continue;
        const char *t = tok_term(&l, 0);
        size_t tl = l.tokens[0].term_len, k;
        if (tl >= p->len && memcmp(t, p->prefix, p->len) == 0)
            continue;            /* p finds it already */
        for (k = 0; k < p->n_alt && strcmp(p->alt[k], t) != 0; k++)
            ;
        if (k < p->n_alt)
            continue;
        char **a = realloc(p->alt, (p->n_alt + 1) * sizeof *a);
        if (!a || !(a[p->n_alt] = dup_term(t, tl)))
            rc = -1;
        if (a)
            p->alt = a;
        if (!rc)
            p->n_alt++;
    }
    tok_list_free(&l);
    return rc;
}

/* The prefix of a word the tokenizer drops, a stopword ("the*" is to find
 * "theory"): the word folded as the tokenizer folds words (NFKC, case,
 * accents where the collection folds them), when it is all letters, marks
 * and digits; else none. 0, or -1 out of memory. */
static int add_stopword_prefix(query_parsed *q, tok_tokenizer *tok, const char *s, size_t n)
{
    utf8proc_int32_t cp;
    for (size_t i = 0; i < n;) {
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + i,
                                              (utf8proc_ssize_t)(n - i), &cp);
        if (k <= 0)
            return 0;
        utf8proc_category_t c = utf8proc_category(cp);
        if (c < UTF8PROC_CATEGORY_LU || c > UTF8PROC_CATEGORY_NO)   /* letters, marks, digits */
            return 0;
        i += (size_t)k;
    }
    size_t fl;
    const char *f = tok_fold_word(tok, s, n, &fl);
    int added;
    return f && fl > 0 && fl <= TOK_MAX_TERM * 4 && add_prefix(q, f, fl, &added) < 0 ? -1 : 0;
}

/* Appends a copy of term to the list *v of *n. 0, or -1 out of memory. */
static int add_to_list(char ***v, size_t *n, const char *term, size_t len)
{
    char **p = realloc(*v, (*n + 1) * sizeof *p);
    if (!p)
        return -1;
    *v = p;
    if (!(p[*n] = dup_term(term, len)))
        return -1;
    (*n)++;
    return 0;
}

static int add_excluded(query_parsed *q, const char *term, size_t len)
{
    return add_to_list(&q->excluded, &q->n_excluded, term, len);
}

/* title:word and -title:word: each term of l into the query's title or
 * excluded-title list; with `require`, also a required term (title:"a b"
 * leaves that to its phrase, which would count it twice). */
static int add_title_terms(parse_ctx *c, const tok_list *l, int exclude, int require)
{
    query_parsed *q = c->q;
    for (size_t i = 0; i < l->n; i++) {
        const char *t = tok_term(l, i);
        size_t n = l->tokens[i].term_len;
        if (exclude ? add_to_list(&q->xtitle, &q->n_xtitle, t, n)
                    : add_to_list(&q->title, &q->n_title, t, n))
            return -1;
        if (require && add_term(c, t, n, 1) < 0)
            return -1;
    }
    return 0;
}

static void phrase_free(query_phrase *ph)
{
    for (size_t i = 0; ph->word && i < ph->n; i++)
        free(ph->word[i]);
    free(ph->word);
    free(ph->offset);
}

/* The tokens of l as a phrase (its words copied) appended to *list. */
static int append_phrase(query_phrase **list, size_t *n, const tok_list *l)
{
    query_phrase ph = {calloc(l->n, sizeof(char *)), malloc(l->n * sizeof(uint32_t)), 0};
    int rc = ph.word && ph.offset ? 0 : -1;
    for (size_t i = 0; i < l->n && !rc; i++) {
        if (!(ph.word[i] = dup_term(tok_term(l, i), l->tokens[i].term_len)))
            rc = -1;
        ph.offset[i] = l->tokens[i].pos - l->tokens[0].pos;
        ph.n = i + 1;
    }
    query_phrase *p = rc ? NULL : realloc(*list, (*n + 1) * sizeof *p);
    if (!p) {
        phrase_free(&ph);
        return -1;
    }
    *list = p;
    p[(*n)++] = ph;
    return 0;
}

/* A required phrase: its terms are scored and required; a phrase of one
 * term (after stopwords) is just a required term. */
static int add_phrase(parse_ctx *c, const tok_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        if (add_term(c, tok_term(l, i), l->tokens[i].term_len, 1) < 0)
            return -1;
    return l->n < 2 ? 0 : append_phrase(&c->q->phrases, &c->q->n_phrases, l);
}

/* An excluded phrase: nothing is scored; one term is a plain -word. */
static int add_xphrase(parse_ctx *c, const tok_list *l)
{
    if (l->n == 1)
        return add_excluded(c->q, tok_term(l, 0), l->tokens[0].term_len);
    return l->n < 2 ? 0 : append_phrase(&c->q->xphrases, &c->q->n_xphrases, l);
}

/* Whether term t[0..n) is one CJK character: in documents that character
 * is a unigram where it stands alone or (rules 5) ends a run, and
 * otherwise inside the bigrams of its run, so a query of it alone is the
 * prefix of those bigrams (the unigram included). */
static int lone_cjk(const char *t, size_t n)
{
    utf8proc_int32_t cp;
    utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)t, (utf8proc_ssize_t)n, &cp);
    return k > 0 && (size_t)k == n && utf8_script(cp) != UTF8_SCRIPT_OTHER;
}

/* Drops the tokens that share the position of the one before: the last
 * character of a CJK run, which rules 5 index again as a unigram so that
 * a query of that character alone (lone_cjk) finds it there. In a query's
 * own run the bigram holds it already: as a term of its own it would
 * count twice, and in a phrase it would ask for the unigram where a
 * document's longer run has a bigram. */
static void drop_run_tails(tok_list *l)
{
    size_t n = 0;
    for (size_t i = 0; i < l->n; i++)
        if (n == 0 || l->tokens[i].pos != l->tokens[n - 1].pos)
            l->tokens[n++] = l->tokens[i];
    l->n = n;
}

static int add_segment(parse_ctx *c, enum seg_kind kind, const char *s, size_t n)
{
    tok_list *l = &c->l;
    tok_list_reset(l);
    if (kind == SEG_EXCLUDE || kind == SEG_XPHRASE || kind == SEG_XTITLE || kind == SEG_XPREFIX)
        c->excludes = 1;
    if (n == 0)
        return 0;
    if (tok_tokenize(c->tok, s, n, l))
        return -1;
    drop_run_tails(l);
    if (l->n_positions > 0 && kind != SEG_EXCLUDE && kind != SEG_XPHRASE &&
        kind != SEG_XTITLE && kind != SEG_XPREFIX) {
        c->words = 1;
        c->positions += l->n_positions;
        c->too_long += l->n_long;
    }
    if (kind == SEG_PHRASE)
        return add_phrase(c, l);
    if (kind == SEG_TITLE || kind == SEG_XTITLE)
        return add_title_terms(c, l, kind == SEG_XTITLE, kind == SEG_TITLE);
    if (kind == SEG_TITLE_PHRASE)
        return add_title_terms(c, l, 0, 0) || add_phrase(c, l);
    /* -word*: one term's prefix; a word the tokenizer splits is excluded
     * whole, as a -word is, its '*' dropped */
    if (kind == SEG_XPREFIX && l->n == 1) {
        int added;
        query_parsed *q = c->q;
        long at = add_pattern(&q->xprefixes, &q->n_xprefixes, tok_term(l, 0),
                              l->tokens[0].term_len, &added);
        if (at < 0)
            return -1;
        return added && tok_stems_english(c->tok)
                   ? add_completions(c, &q->xprefixes[at], s + l->tokens[0].start,
                                     l->tokens[0].end - l->tokens[0].start)
                   : 0;
    }
    /* A -word the tokenizer splits (CJK bigrams, e-mail, example.com) is
     * the word as a whole: the phrase of its terms, not each of them. */
    if (kind == SEG_XPHRASE || kind == SEG_EXCLUDE || kind == SEG_XPREFIX)
        return add_xphrase(c, l);
    /* +word* of one term: the prefix, required; a word the tokenizer
     * splits is required whole, as a +word is, its '*' dropped */
    if (kind == SEG_RPREFIX && l->n != 1)
        return add_phrase(c, l);
    /* word*: the word's last term is the prefix, any before it ("e-mai*")
     * are words */
    size_t words = kind != SEG_WORDS && l->n ? l->n - 1 : l->n;
    for (size_t i = 0; i < words; i++) {
        const char *t = tok_term(l, i);
        size_t tl = l->tokens[i].term_len;
        int added;
        if (lone_cjk(t, tl) ? add_prefix(c->q, t, tl, &added) < 0 : add_term(c, t, tl, 0) < 0)
            return -1;
    }
    if (kind != SEG_PREFIX && kind != SEG_RPREFIX)
        return 0;
    if (!l->n)
        return l->n_positions == 1 && !l->n_long ? add_stopword_prefix(c->q, c->tok, s, n) : 0;
    const tok_token *last = &l->tokens[l->n - 1];
    int added;
    long at = add_prefix(c->q, tok_term(l, l->n - 1), last->term_len, &added);
    if (at < 0)
        return -1;
    if (kind == SEG_RPREFIX)   /* the pattern just added, or the same one met before */
        c->q->prefixes[at].required = 1;
    if (!added || !tok_stems_english(c->tok))
        return 0;
    return add_completions(c, &c->q->prefixes[at], s + last->start, last->end - last->start);
}

/* Whether qs[i] is a '*' that ends a word of at least one other
 * character: a prefix pattern. */
static int star_at(const char *qs, size_t len, size_t i)
{
    return qs[i] == '*' && i > 0 && !is_space(qs[i - 1]) && qs[i - 1] != '*' &&
           (i + 1 == len || is_space(qs[i + 1]));
}

/* The end of the quoted text opened at qs[open]: the closing quote or the
 * end of the query. */
static size_t quote_end(const char *qs, size_t len, size_t open)
{
    size_t j = open + 1;
    while (j < len && qs[j] != '"')
        j++;
    return j;
}

/* Whether qs[i] is a '-' or '+' that starts a word and is followed by
 * one: the sign of what follows. A lone sign, "--x", "+-x" and "++x" are
 * words, whose signs the tokenizer drops. */
static int sign_at(const char *qs, size_t len, size_t i)
{
    int at_word_start = i == 0 || is_space(qs[i - 1]);
    if ((qs[i] != '-' && qs[i] != '+') || !at_word_start || i + 1 >= len || is_space(qs[i + 1]))
        return 0;
    return qs[i + 1] != '-' && !(qs[i] == '+' && qs[i + 1] == '+');
}

/* Whether qs[i] starts "title:" at the start of a word (after a sign, if
 * any), followed by something. */
static int title_at(const char *qs, size_t len, size_t i)
{
    int signed_word = i > 0 && (qs[i - 1] == '-' || qs[i - 1] == '+') &&
                      (i == 1 || is_space(qs[i - 2]));
    int at_word_start = i == 0 || is_space(qs[i - 1]) || signed_word;
    return at_word_start && i + 6 < len && strncasecmp(qs + i, "title:", 6) == 0 &&
           !is_space(qs[i + 6]);
}

/* The segment of title:... at qs[i] (i at 't'), sign s ('-', '+' or 0);
 * returns the offset after it. */
static size_t title_segment(parse_ctx *c, const char *qs, size_t len, size_t i, char s,
                            int *rc)
{
    size_t v = i + 6, j;
    if (qs[v] == '"') {
        j = quote_end(qs, len, v);
        *rc = add_segment(c, s == '-' ? SEG_XTITLE : SEG_TITLE_PHRASE, qs + v + 1, j - v - 1);
        return j < len ? j + 1 : j;
    }
    for (j = v; j < len && !is_space(qs[j]) && qs[j] != '"'; j++)
        ;
    *rc = add_segment(c, s == '-' ? SEG_XTITLE : SEG_TITLE, qs + v, j - v);
    return j;
}

static int parse_segments(parse_ctx *c, const char *qs, size_t len)
{
    int rc = 0;
    size_t i = 0, plain = 0; /* plain: start of the pending run of words */
    while (i < len && !rc) {
        int sign = sign_at(qs, len, i), minus = sign && qs[i] == '-';
        if (title_at(qs, len, i + (sign ? 1 : 0))) {
            rc = add_segment(c, SEG_WORDS, qs + plain, i - plain);
            if (!rc)
                i = plain = title_segment(c, qs, len, i + (sign ? 1 : 0), sign ? qs[i] : 0, &rc);
        } else if (qs[i] == '"' || (sign && qs[i + 1] == '"')) {
            size_t open = qs[i] == '"' ? i : i + 1, j = quote_end(qs, len, open);
            rc = add_segment(c, SEG_WORDS, qs + plain, i - plain);
            if (!rc)
                rc = add_segment(c, minus ? SEG_XPHRASE : SEG_PHRASE, qs + open + 1,
                                 j - open - 1);
            i = plain = j < len ? j + 1 : j;
        } else if (sign) {
            rc = add_segment(c, SEG_WORDS, qs + plain, i - plain);
            size_t j = i + 1;
            while (j < len && !is_space(qs[j]) && qs[j] != '"')
                j++;
            int star = star_at(qs, j, j - 1) && j - 1 > i + 1;
            enum seg_kind kind = minus ? (star ? SEG_XPREFIX : SEG_EXCLUDE)
                                       : (star ? SEG_RPREFIX : SEG_PHRASE);
            if (!rc)
                rc = add_segment(c, kind, qs + i + 1, j - i - 1 - (size_t)star);
            i = plain = j;
        } else if (star_at(qs, len, i)) {
            size_t w = i;   /* the word's start */
            while (w > plain && !is_space(qs[w - 1]))
                w--;
            rc = add_segment(c, SEG_WORDS, qs + plain, w - plain);
            if (!rc)
                rc = add_segment(c, SEG_PREFIX, qs + w, i - w);
            i = plain = i + 1;
        } else {
            i++;
        }
    }
    if (!rc)
        rc = add_segment(c, SEG_WORDS, qs + plain, len - plain);
    return rc;
}

/* Marks that stand for '"' or '-' in queries as people type or paste
 * them: typographic quotes from word processors and web pages, the quotes
 * of French, Russian and Japanese text, and the minus signs that phone
 * and CJK keyboards give. A minus counts only where it starts a word: in
 * "3−2" it is the tokenizer's to split on, as in the document. */
typedef struct query_mark {
    const char *utf8;
    char ascii;
    int word_start;          /* only at the start of a word */
} query_mark;

static const query_mark query_marks[] = {
    {"\xe2\x80\x9c", '"', 0}, {"\xe2\x80\x9d", '"', 0},   /* U+201C “  U+201D ” */
    {"\xe2\x80\x9e", '"', 0}, {"\xef\xbc\x82", '"', 0},   /* U+201E „  U+FF02 ＂ */
    {"\xc2\xab", '"', 0},      {"\xc2\xbb", '"', 0},        /* U+00AB «  U+00BB » */
    {"\xe3\x80\x8c", '"', 0}, {"\xe3\x80\x8d", '"', 0},   /* U+300C 「 U+300D 」 */
    {"\xe2\x88\x92", '-', 1}, {"\xef\xbc\x8d", '-', 1},   /* U+2212 −  U+FF0D － */
};

/* The ASCII mark the bytes at qs[i] stand for, and their length in *n;
 * 0 when none. */
static char query_mark_at(const char *qs, size_t len, size_t i, size_t *n)
{
    int word_start = i == 0 || is_space(qs[i - 1]);
    for (size_t k = 0; k < sizeof query_marks / sizeof query_marks[0]; k++) {
        const query_mark *m = &query_marks[k];
        size_t ml = strlen(m->utf8);
        if (i + ml <= len && memcmp(qs + i, m->utf8, ml) == 0 && (!m->word_start || word_start)) {
            *n = ml;
            return m->ascii;
        }
    }
    return 0;
}

/* A copy of qs with each mark above as its ASCII form (2 or 3 bytes
 * become 1). And a '"' inside a Hebrew word, when the tokenizer keeps it
 * there, becomes the gershayim it stands for (1 byte becomes 2), which the
 * tokenizer folds back to '"'. NULL when out of memory. */
static char *plain_marks(const tok_tokenizer *t, const char *qs, size_t *len)
{
    char *out = malloc(2 * *len + 1);
    size_t o = 0, n;
    int hebrew = tok_rules(t) >= 3;
    if (!out)
        return NULL;
    for (size_t i = 0; i < *len;) {
        char a = (unsigned char)qs[i] >= 0xC2 ? query_mark_at(qs, *len, i, &n) : 0;
        if (hebrew && qs[i] == '"' && tok_hebrew_quote(qs, *len, i)) {
            out[o++] = (char)0xD7;    /* U+05F4 */
            out[o++] = (char)0xB4;
            i++;
        } else if (a) {
            out[o++] = a;
            i += n;
        } else {
            out[o++] = qs[i++];
        }
    }
    out[o] = 0;
    *len = o;
    return out;
}

int query_parse(tok_tokenizer *t, const char *qs, query_parsed *q, char *err, size_t errlen)
{
    memset(q, 0, sizeof *q);
    size_t len = strlen(qs), bad;
    if (!utf8_validate(qs, len, &bad)) {
        snprintf(err, errlen, "query: invalid UTF-8 at byte %zu", bad);
        return LCTX_EINVAL;
    }
    parse_ctx c = {.tok = t, .q = q};
    tok_list_init(&c.l);
    char *plain = plain_marks(t, qs, &len);
    int rc = plain ? parse_segments(&c, plain, len) : -1, had_plain = plain != NULL;
    free(plain);
    tok_list_free(&c.l);
    free(c.slot);
    if (rc) {
        /* The tokenizer's reason, if it was not memory (no ICU for Thai). */
        int mem = 1;
        const char *why = had_plain ? tok_error(t, &mem) : "out of memory";
        query_parsed_free(q);
        snprintf(err, errlen, "query: %s", why);
        return mem ? LCTX_ENOMEM : LCTX_ERROR;
    }
    int none = q->n_terms == 0 && q->n_prefixes == 0;
    q->stopwords_only = c.words && none;
    q->too_long = c.too_long;
    q->only_too_long = c.words && none && c.too_long == c.positions;
    q->exclusions_only = !c.words && c.excludes && none;
    return LCTX_OK;
}

static void patterns_free(query_prefix *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].prefix);
        for (size_t k = 0; k < v[i].n_alt; k++)
            free(v[i].alt[k]);
        free(v[i].alt);
        for (size_t k = 0; k < v[i].n_all; k++)
            free(v[i].all[k]);
        free(v[i].all);
    }
    free(v);
}

void query_parsed_free(query_parsed *q)
{
    for (size_t i = 0; i < q->n_terms; i++)
        free(q->terms[i].term);
    for (size_t i = 0; i < q->n_excluded; i++)
        free(q->excluded[i]);
    for (size_t i = 0; i < q->n_title; i++)
        free(q->title[i]);
    for (size_t i = 0; i < q->n_xtitle; i++)
        free(q->xtitle[i]);
    free(q->title);
    free(q->xtitle);
    for (size_t i = 0; i < q->n_phrases; i++)
        phrase_free(&q->phrases[i]);
    for (size_t i = 0; i < q->n_xphrases; i++)
        phrase_free(&q->xphrases[i]);
    patterns_free(q->prefixes, q->n_prefixes);
    patterns_free(q->xprefixes, q->n_xprefixes);
    free(q->terms);
    free(q->excluded);
    free(q->phrases);
    free(q->xphrases);
    memset(q, 0, sizeof *q);
}

static cJSON *phrases_json(const query_phrase *ph, size_t n)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++) {
        cJSON *p = cJSON_CreateArray();
        for (size_t j = 0; j < ph[i].n; j++)
            cJSON_AddItemToArray(p, cJSON_CreateString(ph[i].word[j]));
        cJSON_AddItemToArray(a, p);
    }
    return a;
}

/* Every prefix of the patterns, alternatives included. */
static cJSON *patterns_json(const query_prefix *v, size_t n)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++) {
        cJSON_AddItemToArray(a, cJSON_CreateString(v[i].prefix));
        for (size_t k = 0; k < v[i].n_alt; k++)
            cJSON_AddItemToArray(a, cJSON_CreateString(v[i].alt[k]));
    }
    return a;
}

char *query_parsed_json(const query_parsed *q, const char *message)
{
    cJSON *root = cJSON_CreateObject(), *terms = cJSON_AddArrayToObject(root, "terms");
    for (size_t i = 0; i < q->n_terms; i++) {
        cJSON *t = cJSON_CreateObject();
        cJSON_AddStringToObject(t, "term", q->terms[i].term);
        cJSON_AddNumberToObject(t, "weight", q->terms[i].weight);
        cJSON_AddBoolToObject(t, "required", q->terms[i].required);
        if (q->terms[i].group)
            cJSON_AddStringToObject(t, "prefix", q->prefixes[q->terms[i].group - 1].prefix);
        cJSON_AddItemToArray(terms, t);
    }
    /* Only when there are some, so ordinary queries print as before. */
    if (q->n_prefixes)
        cJSON_AddItemToObject(root, "prefixes", patterns_json(q->prefixes, q->n_prefixes));
    if (q->n_xprefixes)
        cJSON_AddItemToObject(root, "excluded_prefixes", patterns_json(q->xprefixes,
                                                                        q->n_xprefixes));
    cJSON *rp = NULL;
    for (size_t i = 0; i < q->n_prefixes; i++)
        if (q->prefixes[i].required &&
            (rp || (rp = cJSON_AddArrayToObject(root, "required_prefixes"))))
            cJSON_AddItemToArray(rp, cJSON_CreateString(q->prefixes[i].prefix));
    cJSON_AddItemToObject(root, "phrases", phrases_json(q->phrases, q->n_phrases));
    cJSON *ex = cJSON_AddArrayToObject(root, "excluded");
    for (size_t i = 0; i < q->n_excluded; i++)
        cJSON_AddItemToArray(ex, cJSON_CreateString(q->excluded[i]));
    /* Only when there are some, so ordinary queries print as before. */
    if (q->n_title || q->n_xtitle) {
        cJSON *ti = cJSON_AddArrayToObject(root, "title");
        for (size_t i = 0; i < q->n_title; i++)
            cJSON_AddItemToArray(ti, cJSON_CreateString(q->title[i]));
        cJSON *xt = cJSON_AddArrayToObject(root, "excluded_title");
        for (size_t i = 0; i < q->n_xtitle; i++)
            cJSON_AddItemToArray(xt, cJSON_CreateString(q->xtitle[i]));
    }
    if (q->n_xphrases)
        cJSON_AddItemToObject(root, "excluded_phrases", phrases_json(q->xphrases, q->n_xphrases));
    if (message && *message)
        cJSON_AddStringToObject(root, "message", message);
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}
