/*
 * tokenize.c — the Unicode tokenizer shared by indexing and querying.
 *
 * Documents and queries go through this same code, so whatever it decides
 * about a word, it decides the same way on both sides; the rules below are
 * chosen for recall first and simplicity second. docs/tokenizer.md has the
 * long version.
 *
 * 1. Segmentation works on the ORIGINAL bytes, so every token carries the
 *    byte range of the text it came from (snippets highlight exactly that).
 *    Characters are classed by Unicode general category (utf8proc):
 *    letters (L*) and digits (N*) make words; marks (M*) and invisible
 *    format characters (Cf: ZWJ, soft hyphen) continue a word but never
 *    start one; everything else (spaces, punctuation, symbols, emoji)
 *    separates words. Inside a word an apostrophe (' or U+2019) between two
 *    letters is kept ("don't", "o'neill"), and '.' or ',' between two digits
 *    is kept ("3.14", "1,000"), as are their fullwidth and small forms,
 *    which NFKC makes the same ("１，０００"). Hyphens, underscores and
 *    other dots split ("state-of-the-art", "snake_case", "U.S.A").
 * 2. Han, kana and Hangul are written without spaces; their runs become
 *    overlapping character bigrams (a run of one character is a unigram),
 *    each bigram's byte range covering its two characters; rules 5 add the
 *    run's last character as a unigram at the last bigram's position, so
 *    that a query of one character, which looks for the unigram and the
 *    bigrams it starts, finds it at the end of a run too (the query parser
 *    drops it from its own runs). Han and kana form
 *    one run (Japanese mixes them inside a word); Hangul runs separately; a
 *    change to or from any other script ends the run ("iPhone手机").
 *    Decomposed Hangul (an initial, a vowel, a final: NFD) is one character,
 *    its vowel and final attaching like marks, so it bigrams as the
 *    composed syllable does.
 *    The fullwidth forms and decomposed Hangul came with rules 2
 *    (TOK_RULES, 2026-11-23); a collection that recorded no rules keeps
 *    rules 1, which split both, until its index is rebuilt.
 * 3. Each word is normalised alone: NFKC + case fold + removal of default
 *    ignorable characters (utf8proc), which is Unicode's NFKC_Casefold in
 *    all but name; U+2019 becomes "'". A pure-ASCII word skips utf8proc,
 *    since for ASCII all that reduces to lowercasing. Accents: tok_accents.c.
 * 4. English possessives lose their "'s" ("John's" -> "john"), the word is
 *    checked against the stopword list, then stemmed with Snowball (words
 *    without letters, i.e. numbers, are not stemmed). The outcome of both
 *    steps, keyed by the folded word, is cached (a stopword or an empty stem
 *    is cached as "drop"), as the same few thousand words make up most of
 *    any text: a hit costs one hash and one compare instead of a binary
 *    search of the stoplist plus a Snowball call. A pure-ASCII word goes to
 *    the ISO-8859-1 build of the same Snowball algorithm where the
 *    language has one: Snowball generates both from one source, ASCII is
 *    the same bytes in both encodings, and the byte version skips the UTF-8
 *    decoding in every character test (168 against 210 ns a word on
 *    lisa's vocabulary); test_tok_stem checks every language agrees.
 * 5. Words longer than TOK_MAX_TERM characters after normalisation
 *    (base64, hex dumps, DNA) are dropped: they are almost never searched
 *    for and each would add a dictionary entry. Rules 1 and 2 counted
 *    bytes, which left Tamil or Thai 21 characters. Stopwords and dropped
 *    words still take a position, so "a b c" with "b" dropped never
 *    matches the phrase "a c".
 * 6. Rules 3 (TOK_RULES 3) add, in tok_rules3.c: elision (French,
 *    Italian, Catalan), Turkish apostrophes and I/İ, Hebrew acronyms
 *    (צה"ל, a '"' between Hebrew letters), decimal digits of every script
 *    as ASCII; and here ZWSP as a word break and the limit in characters.
 *    A collection keeps the rules it recorded (1 or 2) until rebuilt.
 *
 * Performance: no allocation per token (arrays grow by doubling, scratch
 * buffers are kept). ASCII text goes 64 bytes at a time (tok_block.c),
 * anything else and words of 63 bytes or more byte by byte; both give the
 * same tokens (tok_tokenize_bytes is the tests' reference). On lisa's
 * texts: 15.1 ms against 22.8 byte by byte (bench-tokenize).
 */
#include "indexer/indexer.h"

#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <libstemmer.h>
#include <sys/mman.h>
#include <utf8proc.h>

/* A word longer than this in the original text is dropped without being
 * normalised: NFKC can shrink a character at most from 4 bytes to 1, so it
 * could never come back under TOK_MAX_TERM (barring a pile of ignorable
 * characters, which we do not care to honour). Keeps the cost of a 10 MB
 * "word" linear. */
#define TOK_MAX_RAW (TOK_MAX_TERM * 4)
#define TOK_MAX_RAW3 (TOK_MAX_TERM_BYTES * 4)      /* the same for rules 3 */

/* Word cache (stopword check + stem): two-way set associative (pairs of
 * adjacent slots, newest first), 64-byte slots, words and stems up to
 * TOK_CACHE_KEY bytes. On 5K MS MARCO passages (16K distinct words) the
 * former 4096-slot direct-mapped cache missed on one word in four, and a
 * miss is a Snowball call of a few thousand instructions.
 *
 * Each slot also holds a tag for the tokenizer's client (tok_slot_tag)
 * and the number of the client that set it (its owner), both reset
 * whenever the slot takes another word, and each token carries the number
 * of its slot: the postings builder keeps its entry number for the stem
 * there and so finds a token's postings list without hashing the stem
 * again, and, the owner being its own, without reading the entry to check
 * it (two builders can share a tokenizer). Tag and owner took four bytes
 * from the key and the value (31 -> 27); longer words are rare enough to
 * go uncached.
 *
 * A hit is one random access into the cache, so its cost is a cache and
 * TLB miss: the table is exactly one 2 MiB huge page (32768 slots), mapped
 * aligned and advised MADV_HUGEPAGE, which turns 512 TLB entries into one.
 * The mapping is anonymous, so its pages are zero and touched only as
 * words arrive; without transparent huge pages it is plain 4 KiB pages. */
#define TOK_CACHE_SLOTS 32768
#define TOK_CACHE_BYTES ((size_t)TOK_CACHE_SLOTS * 64)
#define TOK_CACHE_KEY 27

#define TOK_FOLD_OPTS (UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT | \
                       UTF8PROC_CASEFOLD | UTF8PROC_IGNORE)

typedef struct tok_cache_slot {
    unsigned char klen, vlen;       /* klen 0: empty; vlen 0: drop the word */
    char key[TOK_CACHE_KEY];
    char val[TOK_CACHE_KEY];
    uint32_t owner;                 /* the client that set tag (tok_new_owner); 0: none */
    uint32_t tag;                   /* the owner's (tok_slot_tag); 0 when the slot is filled */
} tok_cache_slot;
_Static_assert(sizeof(tok_cache_slot) == 64, "a cache slot is one cache line");

struct tok_tokenizer {
    struct sb_stemmer *stemmer;     /* NULL: no stemming */
    struct sb_stemmer *stemmer_ascii;   /* ISO-8859-1 build for ASCII words; NULL: none */
    const tok_stoplist *stop;       /* NULL: no stopwords */
    int filter;                     /* TOK_FILTER_*: "'s", elision, Turkish apostrophe */
    int turkish, fold_accents;      /* Turkish I (rules 3); accents fold (tok_accents.c) */
    size_t max_raw;                 /* longest word normalised (TOK_MAX_RAW, _RAW3) */
    utf8proc_int32_t *cps;          /* normalisation scratch, cps_cap entries */
    size_t cps_cap;
    char word[2 * TOK_MAX_RAW3 + 1];    /* ASCII fold output (Turkish I takes 2 bytes) */
    uint32_t *units;                /* start offsets of CJK characters in a run */
    size_t units_cap;
    tok_cache_slot *cache;
    uint32_t owners;                /* the last owner number handed out */
    int rules;                      /* segmentation rules (TOK_RULES, or 1) */
    tok_sea *sea;                   /* ICU's word breaks, opened at the first run (rules 4) */
    uint64_t icu_runs;              /* runs ICU split (tok_take_icu_runs) */
    const char *icu_soname;         /* NULL: ICU's (tok_test_icu names another) */
    char err[320];                  /* why the last call failed, when not for memory */
};

/* ----------------------------------------------------------- token lists */

/* Appends a token (tok_list_init and the rest: tok_list.c). Inline: the
 * tokenizer's hot path. */
static inline int tok_list_push(tok_list *l, const char *term, size_t term_len,
                                size_t start, size_t end, uint32_t pos, uint32_t slot)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 256;
        tok_token *p = realloc(l->tokens, cap * sizeof *p);
        if (!p)
            return -1;
        l->tokens = p;
        l->cap = cap;
    }
    if (l->terms_len + term_len + 1 > l->terms_cap) {
        size_t cap = l->terms_cap ? l->terms_cap * 2 : 2048;
        while (cap < l->terms_len + term_len + 1)
            cap *= 2;
        if (cap > UINT32_MAX)
            return -1;      /* term offsets are 32-bit */
        char *p = realloc(l->terms, cap);
        if (!p)
            return -1;
        l->terms = p;
        l->terms_cap = cap;
    }
    tok_token *t = &l->tokens[l->n++];
    t->term = (uint32_t)l->terms_len;
    t->term_len = (uint32_t)term_len;
    t->start = (uint32_t)start;
    t->end = (uint32_t)end;
    t->pos = pos;
    t->slot = slot;
    memcpy(l->terms + l->terms_len, term, term_len);
    l->terms[l->terms_len + term_len] = '\0';
    l->terms_len += term_len + 1;
    return 0;
}

/* ----------------------------------------------------------- lifecycle */

/* TOK_CACHE_BYTES of zeroed memory aligned to its own size (see above), or
 * NULL. Maps twice the size and trims the unaligned ends. */
static tok_cache_slot *tok_cache_new(void)
{
    size_t len = TOK_CACHE_BYTES, map = 2 * TOK_CACHE_BYTES;
    char *p = mmap(NULL, map, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    uintptr_t a = ((uintptr_t)p + len - 1) & ~(uintptr_t)(len - 1);
    char *q = (char *)a;
    if (q > p)
        munmap(p, (size_t)(q - p));
    if (q + len < p + map)
        munmap(q + len, (size_t)(p + map - (q + len)));
#ifdef MADV_HUGEPAGE
    madvise(q, len, MADV_HUGEPAGE);
#endif
    return (tok_cache_slot *)q;
}

tok_tokenizer *tok_new(const tok_config *cfg, char *err, size_t errlen)
{
    const char *lang = cfg && cfg->language && *cfg->language ? cfg->language : "english";
    int use_stop = cfg ? cfg->stopwords : 1;
    int use_stem = cfg ? cfg->stem : 1;
    tok_tokenizer *t = calloc(1, sizeof *t);

    if (!t)
        goto nomem;
    t->rules = cfg && cfg->rules ? cfg->rules : TOK_RULES;
    if (use_stem && strcmp(lang, "none") != 0) {
        t->stemmer = sb_stemmer_new(lang, "UTF_8");
        if (!t->stemmer) {
            if (err && errlen)
                snprintf(err, errlen, "unknown stemmer language '%s'", lang);
            free(t);
            return NULL;
        }
        t->stemmer_ascii = sb_stemmer_new(lang, "ISO_8859_1");   /* NULL: UTF-8 only */
    }
    t->stop = use_stop ? tok_stoplist_for(lang) : NULL;
    /* The possessive rule belongs to English, like the list; rules 3 add
     * the other languages' (tok_rules3.c). */
    t->filter = tok_stoplist_for(lang) ? TOK_FILTER_POSSESSIVE
                                       : tok_word_filter_for(lang, t->rules);
    t->turkish = t->filter == TOK_FILTER_TURKISH;
    t->max_raw = t->rules >= 3 ? TOK_MAX_RAW3 : TOK_MAX_RAW;
    t->fold_accents = cfg && cfg->fold_accents;
    if (t->stemmer || t->stop) {
        t->cache = tok_cache_new();
        if (!t->cache)
            goto nomem;
    }
    return t;
nomem:
    if (err && errlen)
        snprintf(err, errlen, "out of memory");
    tok_free(t);
    return NULL;
}

void tok_warm(tok_tokenizer *t)
{
    /* One write per huge page (a plain page without THP: the rest of the
     * cache then faults in as words arrive, as it would have). A read
     * would only map the shared zero page; writing back the byte just read
     * faults the page in and changes no slot, also in a tokenizer from the
     * pool whose cache is full of words. */
    if (t && t->cache)
        for (size_t i = 0; i < TOK_CACHE_SLOTS; i += ((size_t)2 << 20) / sizeof *t->cache) {
            volatile unsigned char *b = &t->cache[i].klen;
            *b = *b;
        }
}

void tok_free(tok_tokenizer *t)
{
    if (!t)
        return;
    sb_stemmer_delete(t->stemmer);          /* both take NULL */
    sb_stemmer_delete(t->stemmer_ascii);
    tok_sea_free(t->sea);
    free(t->cps);
    free(t->units);
    if (t->cache)
        munmap(t->cache, TOK_CACHE_BYTES);
    free(t);
}

const char *tok_error(const tok_tokenizer *t, int *out_of_memory)
{
    return (*out_of_memory = !t || !t->err[0]) ? "out of memory" : t->err;
}

void tok_test_icu(tok_tokenizer *t, const char *soname)
{
    tok_sea_free(t->sea);
    t->sea = NULL;
    t->icu_soname = soname;
}

uint64_t tok_take_icu_runs(tok_tokenizer *t)
{
    uint64_t n = t->icu_runs;
    t->icu_runs = 0;
    return n;
}

int tok_rules(const tok_tokenizer *t)
{
    return t ? t->rules : TOK_RULES;
}

int tok_stems_english(const tok_tokenizer *t)
{
    return t->stemmer && t->filter == TOK_FILTER_POSSESSIVE;
}

uint32_t tok_new_owner(tok_tokenizer *t)
{
    if (!t)
        return 0;
    if (++t->owners == 0) {
        /* Wrapped after 2^32 clients: forget every owner, so that no tag
         * outlives the number of the client that set it. */
        for (size_t i = 0; t->cache && i < TOK_CACHE_SLOTS; i++)
            t->cache[i].owner = t->cache[i].tag = 0;
        t->owners = 1;
    }
    return t->owners;
}

uint32_t *tok_slot_tag(tok_tokenizer *t, uint32_t slot, const char *term, size_t len,
                       uint32_t owner)
{
    if (!t || !t->cache || slot == 0 || slot > TOK_CACHE_SLOTS)
        return NULL;
    tok_cache_slot *c = &t->cache[slot - 1];
    if (c->vlen != len || !tok_same(c->val, term, len))
        return NULL;
    if (c->owner != owner) {
        c->owner = owner;   /* another client's tag means nothing to this one */
        c->tag = 0;
    }
    return &c->tag;
}

int tok_is_stopword(const tok_tokenizer *t, const char *folded_word)
{
    if (!t || !folded_word || !t->stop)
        return 0;
    return tok_stoplist_contains(t->stop, folded_word, strlen(folded_word));
}

/* ----------------------------------------------------------- classes */

/* tok_next past ASCII: decodes with utf8proc. */
static size_t tok_next_cp(const unsigned char *s, size_t len, size_t i, int *cls, int rules)
{
    utf8proc_int32_t cp;
    size_t room = len - i < 4 ? len - i : 4;
    utf8proc_ssize_t n = utf8proc_iterate(s + i, (utf8proc_ssize_t)room, &cp);
    if (n <= 0) {
        *cls = TC_SEP;
        return 1;
    }
    *cls = cp < 0x80 ? tok_ascii_class[cp] : tok_class_cp(cp, rules);
    return (size_t)n;
}

/* Decodes the character at s[i]; returns its length and class. Invalid bytes
 * (the caller promised valid UTF-8, but we do not trust promises) are
 * one-byte separators. Inline with the ASCII case first: segmentation
 * calls it for every byte of the corpus, and as a call it cost a sixth of
 * the tokenizer's time. */
static inline size_t tok_next(const unsigned char *s, size_t len, size_t i, int *cls,
                              int rules)
{
    if (s[i] < 0x80) {
        *cls = tok_ascii_class[s[i]];
        return 1;
    }
    return tok_next_cp(s, len, i, cls, rules);
}

/* ----------------------------------------------------------- normalising */

/* NFKC + case fold of s[0..n) into t's scratch. Returns the folded bytes
 * (NUL-terminated) and their length in *out_len, or NULL on failure. */
static const char *tok_fold(tok_tokenizer *t, const char *s, size_t n, int ascii,
                            size_t *out_len)
{
    if (ascii) {
        if (t->turkish) {
            *out_len = tok_fold_ascii_turkish(s, n, t->word);
            return t->word;
        }
        for (size_t i = 0; i < n; i++) {
            unsigned char c = (unsigned char)s[i];
            t->word[i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
        }
        t->word[n] = '\0';
        *out_len = n;
        return t->word;
    }
    for (;;) {
        utf8proc_ssize_t r = utf8proc_decompose_custom((const utf8proc_uint8_t *)s,
                                                       (utf8proc_ssize_t)n, t->cps,
                                                       (utf8proc_ssize_t)t->cps_cap,
                                                       TOK_FOLD_OPTS,
                                                       t->turkish ? tok_turkish_cp : NULL,
                                                       NULL);
        if (r < 0)
            return NULL;
        /* reencode needs one entry beyond the code points for the NUL */
        if ((size_t)r + 1 > t->cps_cap) {
            size_t cap = t->cps_cap ? t->cps_cap : 64;
            while (cap < (size_t)r + 1)
                cap *= 2;
            utf8proc_int32_t *p = realloc(t->cps, cap * sizeof *p);
            if (!p)
                return NULL;
            t->cps = p;
            t->cps_cap = cap;
            continue;
        }
        if (t->rules >= 3)
            r = (utf8proc_ssize_t)tok_fold_rules3(t->cps, (size_t)r, t->turkish);
        if (t->fold_accents)
            r = (utf8proc_ssize_t)tok_fold_accents(t->cps, (size_t)r);
        for (utf8proc_ssize_t k = 0; k < r; k++)
            if (t->cps[k] == 0x2019)
                t->cps[k] = '\'';
        utf8proc_ssize_t b = utf8proc_reencode(t->cps, r, TOK_FOLD_OPTS);
        if (b < 0)
            return NULL;
        *out_len = (size_t)b;
        return (const char *)t->cps;
    }
}

/* Whether w[0..n) is all ASCII. */
static int tok_ascii(const char *w, size_t n)
{
    unsigned char any = 0;
    for (size_t i = 0; i < n; i++)
        any |= (unsigned char)w[i];
    return any < 0x80;
}

const char *tok_fold_word(tok_tokenizer *t, const char *s, size_t n, size_t *out_len)
{
    *out_len = 0;
    return n <= t->max_raw ? tok_fold(t, s, n, tok_ascii(s, n), out_len) : NULL;
}

/* What becomes of the folded word w[0..n) (it has a letter): the stopword
 * check, then the stemmer (either may be absent). Returns the term and sets
 * *out_len, with *out_len 0 when the word is dropped. Cached: *slot gets
 * the number of the cache slot holding the answer plus one, or 0. */
static const char *tok_resolve(tok_tokenizer *t, const char *w, size_t n, size_t *out_len,
                               uint32_t *slot)
{
    tok_cache_slot *set = NULL;
    size_t first = 0;

    *slot = 0;
    if (n <= TOK_CACHE_KEY) {
        first = tok_hash(w, n) & (TOK_CACHE_SLOTS - 1) & ~(size_t)1;
        set = &t->cache[first];
        for (int k = 0; k < 2; k++)
            if (set[k].klen == n && tok_same(set[k].key, w, n)) {
                *out_len = set[k].vlen;
                *slot = (uint32_t)(first + (size_t)k + 1);
                return set[k].val;
            }
    }
    const char *v = w;
    size_t vl = n;
    if (t->stop && tok_stoplist_contains(t->stop, w, n)) {
        vl = 0;
    } else if (t->stemmer) {
        struct sb_stemmer *sb = t->stemmer_ascii && tok_ascii(w, n) ? t->stemmer_ascii
                                                                     : t->stemmer;
        const sb_symbol *st = sb_stemmer_stem(sb, (const sb_symbol *)w, (int)n);
        if (!st) {  /* out of memory inside Snowball: index the word unstemmed, uncached */
            *out_len = n;
            return w;
        }
        v = (const char *)st;
        vl = (size_t)sb_stemmer_length(sb);
    }
    if (set && vl <= TOK_CACHE_KEY) {
        set[1] = set[0];    /* two ways, newest first: the older entry is evicted */
        set[0].klen = (unsigned char)n;
        set[0].vlen = (unsigned char)vl;
        set[0].owner = 0;
        set[0].tag = 0;
        memcpy(set[0].key, w, n);
        memcpy(set[0].val, v, vl);
        v = set[0].val;
        *slot = (uint32_t)first + 1;
    }
    *out_len = vl;
    return v;
}

/* ----------------------------------------------------------- emitting */

/* A folded word f[0..flen) of text[start..end): the language's filter
 * (possessive, elision), stopword, stem, append. The possessive is tested
 * inline: it is English's, on the hot path. */
static int tok_emit_folded(tok_tokenizer *t, const char *f, size_t flen, size_t start,
                           size_t end, int has_letter, uint32_t pos, tok_list *out)
{
    uint32_t slot = 0;

    if (t->filter) {
        if (t->filter == TOK_FILTER_POSSESSIVE) {
            if (flen >= 2 && f[flen - 2] == '\'' && f[flen - 1] == 's')
                flen -= 2;
        } else {
            f = tok_filter_word(t->filter, f, &flen);
        }
    }
    if (flen == 0)
        return 0;
    if (flen > TOK_MAX_TERM && tok_too_long(t->rules, f, flen)) {
        out->n_long++;
        return 0;
    }
    if (has_letter && t->cache) {
        f = tok_resolve(t, f, flen, &flen, &slot);
        if (flen == 0)
            return 0;
    } else if (t->stop && tok_stoplist_contains(t->stop, f, flen)) {
        return 0;   /* numbers are never stemmed, and the lists hold only letters */
    }
    return tok_list_push(out, f, flen, start, end, pos, slot);
}

/* One word of text[start..end): fold, then as above. */
static int tok_emit_word(tok_tokenizer *t, const char *text, size_t start, size_t end,
                         int ascii, int has_letter, uint32_t pos, tok_list *out)
{
    size_t n = end - start, flen;
    const char *f;

    if (n > t->max_raw) {
        out->n_long++;
        return 0;
    }
    f = tok_fold(t, text + start, n, ascii, &flen);
    if (!f)
        return -1;
    return tok_emit_folded(t, f, flen, start, end, has_letter, pos, out);
}

/* A CJK term (a bigram or a lone character): folded, never stemmed. */
static int tok_emit_cjk(tok_tokenizer *t, const char *text, size_t start, size_t end,
                        uint32_t pos, tok_list *out)
{
    size_t flen;
    const char *f = tok_fold(t, text + start, end - start, 0, &flen);
    if (!f)
        return -1;
    if (flen == 0)
        return 0;
    if (flen > TOK_MAX_TERM && tok_too_long(t->rules, f, flen)) {
        out->n_long++;
        return 0;
    }
    return tok_list_push(out, f, flen, start, end, pos, 0);
}

/* ----------------------------------------------------------- scanning */

/* Whether rules 3 keep the punctuation at s[j] in a Hebrew word
 * (tok_hebrew_join). Nearly every word ends here, so only the lead bytes of
 * the four marks that may stay (" ' and U+05F3, U+05F4) go further, and
 * the word's last letter is looked at then, not tracked on the way. */
#define TOK_HEBREW_MID(s, len, j, rules, ends) \
    ((rules) >= 3 && ((s)[j] == '"' || (s)[j] == '\'' || (s)[j] == 0xD7) \
     ? tok_hebrew_join(s, len, j, ends) : 0)

/* Scans the word starting at i (whose first character has class cls and
 * length n). Returns its end; sets *ascii and *has_letter. */
static size_t tok_scan_word(const unsigned char *s, size_t len, size_t i, size_t n,
                            int cls, int rules, int *ascii, int *has_letter)
{
    size_t j = i + n, k;
    int prev = cls, c, c2, ends = 0;

    *ascii = s[i] < 0x80;
    *has_letter = cls == TC_LETTER;
    while (j < len) {
        size_t m = tok_next(s, len, j, &c, rules);
        if (c == TC_LETTER || c == TC_DIGIT) {
            *has_letter |= c == TC_LETTER;
        } else if (c == TC_MARK || c == TC_FORMAT) {
            /* continues the word; prev stays the base character's class */
            c = prev;
        } else if ((c == TC_APOS && prev == TC_LETTER) ||
                   (c == TC_NUMSEP && prev == TC_DIGIT)) {
            c2 = TC_SEP;
            if (j + m < len)
                tok_next(s, len, j + m, &c2, rules);
            if (c2 != prev) {
                /* a Hebrew letter keeps an apostrophe after it (WB7a) */
                if (prev == TC_LETTER && TOK_HEBREW_MID(s, len, j, rules, &ends))
                    j += m;
                break;
            }
            c = prev;
        } else if (prev == TC_LETTER && (k = TOK_HEBREW_MID(s, len, j, rules, &ends))) {
            j += k;     /* '"' between Hebrew letters, or a geresh */
            if (ends)
                break;
            continue;
        } else {
            break;
        }
        if (s[j] >= 0x80)
            *ascii = 0;
        prev = c;
        j += m;
    }
    return j;
}

static int tok_grow_units(tok_tokenizer *t, size_t need)
{
    if (need <= t->units_cap)
        return 0;
    size_t cap = t->units_cap ? t->units_cap * 2 : 64;
    while (cap < need)
        cap *= 2;
    uint32_t *p = realloc(t->units, cap * sizeof *p);
    if (!p)
        return -1;
    t->units = p;
    t->units_cap = cap;
    return 0;
}

/* A run of CJ or Hangul characters starting at i: bigrams. Returns the end
 * of the run, or 0 on failure (a run never ends at 0). */
static size_t tok_scan_cjk(tok_tokenizer *t, const char *text, size_t len, size_t i,
                           int cls, tok_list *out)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t j = i, nu = 0, k;
    int c;

    while (j < len) {
        size_t m = tok_next(s, len, j, &c, t->rules);
        if (c == cls) {
            if (tok_grow_units(t, nu + 1) < 0)
                return 0;
            t->units[nu++] = (uint32_t)j;
        } else if (!(c == TC_MARK || c == TC_FORMAT)) {
            break;
        }
        j += m;
    }
    if (nu == 1) {
        if (tok_emit_cjk(t, text, t->units[0], j, out->n_positions++, out) < 0)
            return 0;
        return j;
    }
    for (k = 0; k + 1 < nu; k++) {
        size_t end = k + 2 < nu ? t->units[k + 2] : j;
        if (tok_emit_cjk(t, text, t->units[k], end, out->n_positions++, out) < 0)
            return 0;
    }
    /* rules 5: the last character again, at the last bigram's position */
    if (t->rules >= 5 && tok_emit_cjk(t, text, t->units[nu - 1], j, out->n_positions - 1, out) < 0)
        return 0;
    return j;
}

/* A run of Thai, Lao, Khmer or Myanmar letters starting at i: the words
 * ICU finds in it (tok_sea.c), each emitted as a word of any other script.
 * Returns the end of the run, or 0 on failure (t->err says why when it was
 * not memory). */
static size_t tok_scan_sea(tok_tokenizer *t, const char *text, size_t len, size_t i,
                           tok_list *out)
{
    const uint32_t *b;
    size_t end, nb;
    if (!t->sea && !(t->sea = tok_sea_new(t->icu_soname, t->err, sizeof t->err)))
        return 0;
    if (tok_sea_run(t->sea, text, len, i, t->rules, &end, &b, &nb) < 0)
        return 0;
    t->icu_runs++;
    for (size_t k = 0; k + 1 < nb; k++)
        if (tok_emit_word(t, text, i + b[k], i + b[k + 1], 0, 1, out->n_positions++, out) < 0)
            return 0;
    return end;
}

/* The words of a block read at text[i..i+64) (tok_block.c) that end below
 * byte `limit`: past it the block cannot tell whether a word goes on (the
 * next block's first byte, or a byte >= 0x80 that may be a letter). A
 * word's bytes are a run of ones in b->word, its folded form the same bytes
 * of b->lower. Returns the bytes dealt with: the start of the first word
 * that may go on, else limit; -1 on failure. */
static long tok_block_words(tok_tokenizer *t, const tok_block *b, unsigned limit, size_t i,
                            tok_list *out)
{
    uint64_t w = b->word & (limit >= 64 ? ~0ull : (1ull << limit) - 1);
    uint64_t starts = w & ~(w << 1);
    while (starts) {
        unsigned st = (unsigned)__builtin_ctzll(starts);
        uint64_t rest = ~(w >> st);             /* zeros: the word's bytes */
        unsigned end = rest ? st + (unsigned)__builtin_ctzll(rest) : 64;
        if (end >= limit)
            return st;
        unsigned n = end - st;
        int has_letter = ((b->letter >> st) & ((1ull << n) - 1)) != 0;
        if (tok_emit_folded(t, (const char *)b->lower + st, n, i + st, i + end, has_letter,
                            out->n_positions++, out) < 0)
            return -1;
        starts &= starts - 1;
    }
    return limit;
}

/* Reads the block at text[i..) and emits its words (above). Returns the
 * bytes dealt with, 0 when the byte-at-a-time scan must take text[i] (a
 * word of 63 bytes or more, or a byte >= 0x80 within reach), -1 on
 * failure. *slow_until: where the byte scan keeps going until, so that
 * text full of non-ASCII does not read every block twice. */
static long tok_block_step(tok_tokenizer *t, const unsigned char *s, size_t len, size_t i,
                           tok_list *out, size_t *slow_until)
{
    tok_block b;
    size_t rem = len - i;
    unsigned limit = 63;        /* bit 63 of b.word cannot see byte 64 */
    if (rem >= 64) {
        tok_block_read(s + i, &b);
    } else {
        /* The end of the text: zeros after it are separators, so every
         * bit is known. */
        unsigned char pad[64] = {0};
        memcpy(pad, s + i, rem);
        tok_block_read(pad, &b);
        limit = 64;
    }
    /* Turkish folds I to ı, the block to i: a word with an I goes to the
     * byte scan, as one with a non-ASCII byte does. */
    const unsigned char *cap = t->turkish ? memchr(s + i, 'I', rem < 64 ? rem : 64) : NULL;
    if (cap)
        b.high |= 1ull << (cap - (s + i));
    if (b.high) {
        /* The byte before a non-ASCII one may be an apostrophe it joins. */
        unsigned h = (unsigned)__builtin_ctzll(b.high);
        limit = h ? h - 1 : 0;
        *slow_until = i + 64;
    }
    return tok_block_words(t, &b, limit, i, out);
}

static int tok_scan(tok_tokenizer *t, const char *text, size_t len, int blocks, tok_list *out)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0, slow_until = 0;

    if (!t || !out || (!text && len))
        return -1;
    if (len > UINT32_MAX)
        return -1;      /* byte offsets are 32-bit */
    t->err[0] = '\0';
    while (i < len) {
        /* Here no word is open: i starts a word or a separator. */
        if (blocks && i >= slow_until) {
            long done = tok_block_step(t, s, len, i, out, &slow_until);
            if (done < 0)
                return -1;
            if (done > 0) {
                i += (size_t)done;
                continue;
            }
        }
        int cls;
        size_t n = tok_next(s, len, i, &cls, t->rules);
        if (cls == TC_LETTER || cls == TC_DIGIT) {
            int ascii, has_letter;
            size_t end = tok_scan_word(s, len, i, n, cls, t->rules, &ascii, &has_letter);
            if (tok_emit_word(t, text, i, end, ascii, has_letter,
                              out->n_positions++, out) < 0)
                return -1;
            i = end;
        } else if (cls == TC_CJ || cls == TC_HANGUL || cls == TC_SEA) {
            size_t end = cls == TC_SEA ? tok_scan_sea(t, text, len, i, out)
                                       : tok_scan_cjk(t, text, len, i, cls, out);
            if (end == 0)
                return -1;
            i = end;
        } else {
            i += n;
        }
    }
    return 0;
}

int tok_tokenize(tok_tokenizer *t, const char *text, size_t len, tok_list *out)
{
    return tok_scan(t, text, len, TOK_BLOCK_VECTOR, out);
}

int tok_tokenize_bytes(tok_tokenizer *t, const char *text, size_t len, tok_list *out)
{
    return tok_scan(t, text, len, 0, out);
}
