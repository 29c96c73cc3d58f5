/*
 * chunk.c — splitting a document into passages.
 *
 * The retrieval unit is the passage ("chunk"), not the document: BM25 over
 * passages (400 words by default) finds the relevant part of a long document, and the
 * reranker and context assembly work on passages anyway. A passage is a
 * byte range of the document text, so snippets and citations point back
 * into the original.
 *
 * One pass over the text, linear in its length:
 *
 *   words      maximal runs of non-space characters; each Han/kana/Hangul
 *              character counts as a word of its own (those scripts have
 *              no spaces), every CHUNK_SEA_LETTERS letters of Thai, Lao,
 *              Khmer or Myanmar count as one (below), and runs of pure
 *              punctuation ("--", "*") count as no word at all.
 *   sentences  end after '.', '!' or '?' (closing quotes and brackets may
 *              follow) before a space, except after a one-letter word ("J.
 *              Smith"), a common abbreviation ("e.g.", "Dr.") or before a
 *              lowercase word; after the CJK, Myanmar and Khmer full
 *              stops (which need no space after them); at a space after
 *              Thai, Lao, Khmer or Myanmar (chunk_sea_last); at a paragraph
 *              break (blank line); at the end of a markdown heading line.
 *   passages   sentences are added greedily; before adding one that would
 *              take the passage past the target, the passage is closed if
 *              that leaves it closer to the target than adding would. A
 *              markdown heading always starts a new passage. A sentence
 *              reaching 2*target words (or a text with no punctuation at
 *              all) is cut at word boundaries into passages of about target
 *              words, so no passage ever exceeds 2*target words.
 *
 * Most documents of a collection are shorter than one passage, and this
 * runs on the thread that feeds the catalog, so texts without a heading or
 * CJK and with at most target words take a shortcut (chunk_single): one
 * pass that only counts words and finds the first and last non-space
 * characters, which is exactly what the full scan would return for them.
 * The full scan itself steps through a word's ASCII bytes eight at a time
 * (chunk_word_run: bit masks of spaces, bytes >= 0x80, letters and
 * digits), since most bytes of a long text are inside words and only a
 * word's end needs the slower path: time's 423 news articles (1.5 MB, the
 * one dev collection of long texts) take 4.5 ms instead of 5.7. (With it,
 * le_load became one load where it had been eight shifts, which took the
 * shortcut from 0.74 to 0.53 ns a byte on cranfield.) chunk_text_bytes is
 * the byte loop alone, which tests compare with.
 *
 * Spans exclude the whitespace around them; whitespace between two spans
 * belongs to neither. Invalid UTF-8 bytes are treated as one-byte word
 * characters, so the function is total on any input.
 */
#include "indexer/indexer.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#define CHUNK_DEFAULT_WORDS 200

/* Thai, Lao, Khmer and Myanmar put no space between words, only between
 * phrases or sentences, so a space-delimited run of them holds several
 * words (Thai about 11). Counted as one word, their passages ran five to
 * ten times the target. The chunker does not segment them (the tokenizer
 * asks ICU's dictionaries, rules 4; passages must not depend on a library
 * that may be missing or change), so it counts one word per this many of
 * their letters, combining marks not counted: ICU's words average 3.6
 * such letters in Thai, 3.9 in Lao, 4.5 in Khmer and 2.7 in Myanmar (a
 * paragraph of each, segmented by the tokenizer). Each counted word ends
 * a unit the chunker may cut at when a sentence runs past twice the
 * target, so a text without spaces is cut between letters, as CJK is
 * between characters; never before a combining mark. */
#define CHUNK_SEA_LETTERS 4

typedef struct chunk_state {
    const unsigned char *s;
    size_t len;
    size_t target;
    chunk_span *spans;
    size_t n, cap;
    /* the open passage: committed sentences */
    size_t p_start, p_end, p_words;
    /* the open sentence: its extent, and the ends of its words since its
     * start or its last cut (at most 2*target of them) */
    int s_has;
    size_t s_start, s_end;
    uint32_t *w_end;
    size_t s_words, w_cap;      /* w_end grows up to 2*target entries */
    int failed;
    int blocks;                 /* skip through ASCII word bytes eight at a time */
} chunk_state;

static int chunk_is_space(int32_t cp)
{
    return cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r' || cp == '\f' ||
           cp == '\v' || cp == 0xA0 || cp == 0x3000 || cp == 0x2028 || cp == 0x2029;
}

/* 。！？｡, Myanmar's ။ and Khmer's ។ ៕ */
static int chunk_is_full_stop(int32_t cp)
{
    return cp == 0x3002 || cp == 0xFF01 || cp == 0xFF1F || cp == 0xFF61 || cp == 0x104B ||
           cp == 0x17D4 || cp == 0x17D5;
}

/* Decodes one character; invalid bytes are returned as themselves, length 1. */
static size_t chunk_decode(const unsigned char *s, size_t len, size_t i, int32_t *cp)
{
    if (s[i] < 0x80) {
        *cp = s[i];
        return 1;
    }
    size_t room = len - i < 4 ? len - i : 4;
    utf8proc_ssize_t n = utf8proc_iterate(s + i, (utf8proc_ssize_t)room, cp);
    if (n <= 0) {
        *cp = s[i];     /* a Latin-1 guess; only its class matters here */
        return 1;
    }
    return (size_t)n;
}

static void chunk_emit(chunk_state *st, size_t start, size_t end)
{
    if (st->failed || end <= start)
        return;
    if (st->n == st->cap) {
        size_t cap = st->cap ? st->cap * 2 : 16;
        chunk_span *p = realloc(st->spans, cap * sizeof *p);
        if (!p) {
            st->failed = 1;
            return;
        }
        st->spans = p;
        st->cap = cap;
    }
    st->spans[st->n].start = (uint32_t)start;
    st->spans[st->n].end = (uint32_t)end;
    st->n++;
}

/* Closes the open passage. One without words (a "---" rule, a lone "*")
 * stays open to become the head of the next passage, unless this is the end
 * of the text, where it joins the previous span. */
static void chunk_close_passage(chunk_state *st, int at_end)
{
    if (st->p_end <= st->p_start)
        return;
    if (st->p_words == 0 && !at_end)
        return;
    if (st->p_words == 0 && st->n > 0)
        st->spans[st->n - 1].end = (uint32_t)st->p_end;
    else
        chunk_emit(st, st->p_start, st->p_end);
    st->p_words = 0;
    st->p_start = st->p_end = 0;
}

/* Adds text[start..end) holding words words to the open passage. */
static void chunk_add_to_passage(chunk_state *st, size_t start, size_t end, size_t words)
{
    if (st->p_end <= st->p_start)
        st->p_start = start;
    st->p_end = end;
    st->p_words += words;
}

static size_t chunk_dist(size_t a, size_t b)
{
    return a > b ? a - b : b - a;
}

/* The open sentence is complete: put it in a passage. */
static void chunk_end_sentence(chunk_state *st)
{
    if (!st->s_has)
        return;
    size_t w = st->s_words;
    if (st->p_words > 0 && st->p_words + w > st->target &&
        chunk_dist(st->p_words, st->target) <= chunk_dist(st->p_words + w, st->target))
        chunk_close_passage(st, 0);
    chunk_add_to_passage(st, st->s_start, st->s_end, w);
    st->s_words = 0;
    st->s_has = 0;
}

/* Next non-space byte at or after i (or len). */
static size_t chunk_skip_space(const chunk_state *st, size_t i)
{
    while (i < st->len) {
        int32_t cp;
        size_t n = chunk_decode(st->s, st->len, i, &cp);
        if (!chunk_is_space(cp))
            break;
        i += n;
    }
    return i;
}

/* The open sentence reached 2*target words: cut off its head so that the
 * open passage plus the head make about target words, and emit that. */
static void chunk_cut_long_sentence(chunk_state *st)
{
    size_t take, rest, cut;

    if (st->p_words >= st->target / 2)
        chunk_close_passage(st, 0);
    take = st->target > st->p_words ? st->target - st->p_words : 1;
    cut = st->w_end[take - 1];
    chunk_add_to_passage(st, st->s_start, cut, take);
    chunk_close_passage(st, 0);
    rest = st->s_words - take;
    memmove(st->w_end, st->w_end + take, rest * sizeof *st->w_end);
    st->s_words = rest;
    st->s_start = chunk_skip_space(st, cut);
}

static void chunk_add_word(chunk_state *st, size_t start, size_t end, int counts)
{
    if (!st->s_has) {
        st->s_has = 1;
        st->s_start = start;
    }
    st->s_end = end;
    if (!counts) {
        /* punctuation-only runs belong to the sentence but count as no word */
        if (st->s_words > 0)
            st->w_end[st->s_words - 1] = (uint32_t)end;
        return;
    }
    if (st->s_words == st->w_cap) {
        size_t cap = st->w_cap * 2 < 2 * st->target ? st->w_cap * 2 : 2 * st->target;
        uint32_t *p = realloc(st->w_end, cap * sizeof *p);
        if (!p) {
            st->failed = 1;
            return;
        }
        st->w_end = p;
        st->w_cap = cap;
    }
    st->w_end[st->s_words++] = (uint32_t)end;
    if (st->s_words >= 2 * st->target)
        chunk_cut_long_sentence(st);
}

/* Abbreviations that end in '.' without ending a sentence (lower case,
 * without the final '.'). */
static const char *const chunk_abbrevs[] = {
    "al", "approx", "cf", "co", "corp", "dept", "dr", "e.g", "eq", "est", "etc",
    "fig", "figs", "i.e", "inc", "jr", "ltd", "mr", "mrs", "ms", "no", "nos",
    "p", "pp", "prof", "ref", "sec", "sr", "st", "vol", "vs",
};

static int chunk_is_abbrev(const unsigned char *w, size_t n)
{
    size_t i, k;
    char low[8];

    if (n == 0 || n >= sizeof low)
        return 0;
    for (k = 0; k < n; k++) {
        unsigned char c = w[k];
        low[k] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
    low[n] = '\0';
    for (i = 0; i < sizeof chunk_abbrevs / sizeof chunk_abbrevs[0]; i++)
        if (strcmp(low, chunk_abbrevs[i]) == 0)
            return 1;
    return 0;
}

static int chunk_is_closer(unsigned char c)
{
    return c == '"' || c == '\'' || c == ')' || c == ']' || c == '*' || c == '_';
}

/* Does the word s[ws..we), followed by `next` (the first byte of the next
 * word, 0 at the end), end a sentence? */
static int chunk_word_ends_sentence(const unsigned char *s, size_t ws, size_t we,
                                    unsigned char next)
{
    size_t e = we;
    /* closing quotes/brackets (ASCII, and ” ’ as 3-byte sequences) */
    for (;;) {
        if (e > ws && chunk_is_closer(s[e - 1])) {
            e--;
        } else if (e >= ws + 3 && s[e - 3] == 0xE2 && s[e - 2] == 0x80 &&
                   (s[e - 1] == 0x9D || s[e - 1] == 0x99)) {
            e -= 3;
        } else {
            break;
        }
    }
    if (e == ws)
        return 0;
    unsigned char p = s[e - 1];
    if (p == '!' || p == '?')
        return 1;
    if (p != '.')
        return 0;
    if (next >= 'a' && next <= 'z')
        return 0;
    /* the word before the period, without leading quotes/brackets */
    size_t b = ws;
    while (b < e - 1 && (s[b] == '"' || s[b] == '(' || s[b] == '[' || s[b] == '\''))
        b++;
    size_t n = e - 1 - b;
    if (n == 1 && ((s[b] | 0x20) >= 'a' && (s[b] | 0x20) <= 'z'))
        return 0;           /* an initial: "J. Smith" */
    if (chunk_is_abbrev(s + b, n))
        return 0;
    return 1;
}

/* Whether the word s[ws..we) ends in a Thai, Lao, Khmer or Myanmar
 * character: a space after one ends a sentence. Those scripts put spaces
 * between phrases and sentences only, and most of their text has no other
 * punctuation, so a space is where a passage may be cut without cutting a
 * word. */
static int chunk_sea_last(const unsigned char *s, size_t ws, size_t we)
{
    if (we == ws || s[we - 1] < 0x80)
        return 0;
    size_t b = we - 1;
    while (b > ws && we - b < 4 && (s[b] & 0xC0) == 0x80)
        b--;
    int32_t cp;
    return chunk_decode(s, we, b, &cp) == we - b && tok_sea_script(cp);
}

/* Is the word at ws a markdown heading marker ("#".."######" then space)? */
static int chunk_is_heading(const unsigned char *s, size_t len, size_t ws, size_t we)
{
    size_t n = we - ws, i;
    if (n == 0 || n > 6)
        return 0;
    for (i = ws; i < we; i++)
        if (s[i] != '#')
            return 0;
    return we == len || s[we] == ' ' || s[we] == '\t';
}

/* Class of a non-space character: 2 = CJK (own word), 3 = a Thai, Lao,
 * Khmer or Myanmar letter or digit (CHUNK_SEA_LETTERS of them make a
 * word), 1 = counts as word content, 0 = punctuation or symbol. */
static int chunk_char_class(int32_t cp)
{
    if (cp < 0x80)
        return ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z') || (cp >= '0' && cp <= '9');
    if (utf8_script(cp) != UTF8_SCRIPT_OTHER) {
        utf8proc_category_t c = utf8proc_category(cp);
        return c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_NO ? 2 : 0;
    }
    utf8proc_category_t c = utf8proc_category(cp);
    int content = (c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_NO) ||
                  c == UTF8PROC_CATEGORY_CN || c == UTF8PROC_CATEGORY_CO;
    if (content && tok_sea_script(cp) && c != UTF8PROC_CATEGORY_MN &&
        c != UTF8PROC_CATEGORY_MC && c != UTF8PROC_CATEGORY_ME)
        return 3;
    return content;
}

#define CHUNK_ONES 0x0101010101010101ull
#define CHUNK_HIGH 0x8080808080808080ull

/* Eight high bits (bit 8k+7 for byte k, every other bit clear) as an 8-bit
 * mask, bit k for byte k: bit 8k+7 times 2^(7(7-k)) lands on bit 56+k, and
 * no two products share a bit. */
static unsigned chunk_gather(uint64_t high_bits)
{
    return (unsigned)(((high_bits >> 7) * 0x0102040810204080ull) >> 56);
}

/* The high bit of each byte of x that equals b. */
static uint64_t chunk_bytes_equal(uint64_t x, unsigned char b)
{
    uint64_t t = x ^ (b * CHUNK_ONES), low7 = CHUNK_ONES * 0x7f;
    /* (t & 0x7f) + 0x7f reaches the high bit unless the low seven bits are
     * zero; or-ing t adds the high bit itself: so a high bit stays clear
     * exactly where t's byte is zero. No byte carries into the next. */
    return ~(((t & low7) + low7) | t | low7);
}

/* The bytes of x that are spaces: ' ' or '\t'..'\r', as an 8-bit mask,
 * bit k for byte k (exact for ASCII bytes; bytes >= 0x80 come out as
 * anything). */
static unsigned chunk_space_mask(uint64_t x)
{
    /* (b | 0x80) - 9 keeps its high bit iff b >= 9 (no borrow leaves the
     * byte, as b | 0x80 > 14); likewise for 14: b in 9..13 is the first
     * without the second. */
    uint64_t ge9 = (x | CHUNK_HIGH) - 9 * CHUNK_ONES;
    uint64_t ge14 = (x | CHUNK_HIGH) - 14 * CHUNK_ONES;
    uint64_t sp = (chunk_bytes_equal(x, ' ') | (ge9 & ~ge14)) & CHUNK_HIGH;
    return chunk_gather(sp);
}

/* The bytes of x that are ASCII letters or digits, as chunk_char_class
 * counts them (bytes >= 0x80 come out as anything: mask them off). */
static unsigned chunk_alnum_mask(uint64_t x)
{
    /* (b | 0x80) - c keeps its high bit iff b >= c, for b < 0x80 and any c
     * up to 0x80, with no borrow leaving the byte; | 0x20 folds the case
     * of letters and moves no other byte into 'a'..'z'. */
    uint64_t h = x | CHUNK_HIGH, l = h | 0x20 * CHUNK_ONES;
    uint64_t letter = (l - 'a' * CHUNK_ONES) & ~(l - ('z' + 1) * CHUNK_ONES);
    uint64_t digit = (h - '0' * CHUNK_ONES) & ~(h - ('9' + 1) * CHUNK_ONES);
    return chunk_gather((letter | digit) & CHUNK_HIGH);
}

/* How many bytes from s[i] on, up to eight, continue a word as the byte
 * loop of chunk_scan would take them one at a time (ASCII, not space);
 * *alnum gets whether one of them is a letter or a digit. 0 when fewer
 * than eight bytes are left. */
static size_t chunk_word_run(const unsigned char *s, size_t len, size_t i, int *alnum)
{
    if (i + 8 > len)
        return 0;
    uint64_t x = le_load(s + i, 8);
    unsigned stop = chunk_space_mask(x) | chunk_gather(x & CHUNK_HIGH);
    size_t k = (size_t)__builtin_ctz(stop | 0x100u);
    *alnum = (chunk_alnum_mask(x) & ((1u << k) - 1)) != 0;
    return k;
}

static void chunk_scan(chunk_state *st)
{
    const unsigned char *s = st->s;
    size_t len = st->len, i = 0;
    size_t ws = 0;          /* start of the current non-CJK word */
    int in_word = 0, counts = 0;
    int sea = 0;            /* its Thai, Lao, Khmer, Myanmar letters (CHUNK_SEA_LETTERS) */
    int newlines = 2;       /* newlines in the space run before the next word; start of text counts as a line start */
    int in_heading = 0;

    while (i <= len && !st->failed) {
        /* Most characters continue a word, or are a blank between words:
         * for ASCII these two cases change nothing but the word's class
         * (letters and digits make it count), so they skip the rest; the
         * first of them eight bytes at a time. */
        if (in_word && st->blocks) {
            int alnum;
            size_t k = chunk_word_run(s, len, i, &alnum);
            if (k) {
                counts |= alnum;
                i += k;
                continue;
            }
        }
        if (i < len && s[i] < 0x80) {
            int space = chunk_is_space(s[i]);
            if (in_word && !space) {
                counts |= chunk_char_class(s[i]);
                i++;
                continue;
            }
            if (!in_word && space && s[i] != '\n') {
                i++;
                continue;
            }
        }
        int32_t cp = 0;
        size_t n = i < len ? chunk_decode(s, len, i, &cp) : 0;
        int space = i == len || chunk_is_space(cp);
        int cls = space ? 0 : chunk_char_class(cp);
        int stop = !space && chunk_is_full_stop(cp);

        /* a word ends at space, at a CJK character, and at a full stop (which
         * it then includes) */
        if (in_word && (space || cls == 2)) {
            size_t nx = chunk_skip_space(st, i);
            unsigned char next = nx < len ? s[nx] : 0;
            chunk_add_word(st, ws, i, counts);
            if (chunk_word_ends_sentence(s, ws, i, next) || (space && chunk_sea_last(s, ws, i)))
                chunk_end_sentence(st);
            in_word = 0;
        }
        if (i == len)
            break;
        if (space) {
            if (cp == '\n') {
                newlines++;
                if (in_heading) {
                    chunk_end_sentence(st);
                    in_heading = 0;
                }
            }
            i += n;
            continue;
        }
        if (newlines >= 2 && !in_word)
            chunk_end_sentence(st);         /* paragraph break */
        if (!in_word && newlines >= 1) {
            size_t we = i;
            while (we < len && s[we] == '#')
                we++;
            if (chunk_is_heading(s, len, i, we)) {
                chunk_end_sentence(st);
                chunk_close_passage(st, 0);
                in_heading = 1;
            }
        }
        newlines = 0;
        if (cls == 2) {
            chunk_add_word(st, i, i + n, 1);
        } else if (stop) {
            /* 。 ends the sentence, attached to what precedes it */
            if (in_word) {
                chunk_add_word(st, ws, i + n, counts);
                in_word = 0;
            } else {
                chunk_add_word(st, i, i + n, 0);
            }
            chunk_end_sentence(st);
        } else if (!in_word) {
            in_word = 1;
            ws = i;
            counts = cls != 0;
            sea = cls == 3;
        } else if (cls == 3 && sea == CHUNK_SEA_LETTERS) {
            chunk_add_word(st, ws, i, 1);   /* enough letters for a word: it ends here */
            ws = i;
            counts = 1;
            sea = 1;
        } else {
            counts |= cls != 0;
            sea += cls == 3;
        }
        i += n;
    }
    chunk_end_sentence(st);
    chunk_close_passage(st, 1);
}

/* The common case in one cheap pass: a text without '#' holding at most
 * target whitespace-separated runs, none of them Han, kana, Hangul, Thai,
 * Lao, Khmer or Myanmar, is a
 * single passage, the text without its surrounding whitespace (no heading
 * can start a passage, and with at most target words no sentence can close
 * one or be cut). ASCII goes eight bytes at a time (most texts are ASCII,
 * and counting runs from bit masks has no branch per byte to mispredict);
 * another character is decoded as the full scan decodes it, a space ends a
 * run, a CJK character or stop sends the text to the full scan (each is a
 * word of its own), anything else is run content. Returns 0 when the text
 * does not qualify; else 1 with the span in *out (empty when the text is
 * all whitespace). chunk_scan gives the same answer for every text that
 * qualifies. */
static int chunk_single(const unsigned char *s, size_t len, size_t target, chunk_span *out)
{
    size_t runs = 0, first = len, last = 0;
    unsigned in_run = 0;   /* the byte before i was a non-space */
    for (size_t i = 0; i < len;) {
        if (i + 8 <= len) {
            uint64_t x = le_load(s + i, 8);
            if (!(x & CHUNK_HIGH)) {
                if (chunk_bytes_equal(x, '#') & CHUNK_HIGH)
                    return 0;
                unsigned word = ~chunk_space_mask(x) & 0xffu;
                runs += (size_t)__builtin_popcount(word & ~((word << 1) | in_run));
                if (runs > target)
                    return 0;
                if (word) {
                    if (first == len)
                        first = i + (size_t)__builtin_ctz(word);
                    last = i + 32 - (size_t)__builtin_clz(word);
                }
                in_run = word >> 7;
                i += 8;
                continue;
            }
        }
        unsigned char c = s[i];
        size_t n = 1;
        int space;
        if (c < 0x80) {
            if (c == '#')
                return 0;
            space = chunk_is_space(c);
        } else {
            int32_t cp;
            n = chunk_decode(s, len, i, &cp);
            space = chunk_is_space(cp);
            if (!space && (chunk_is_full_stop(cp) || utf8_script(cp) != UTF8_SCRIPT_OTHER ||
                           tok_sea_script(cp)))
                return 0;
        }
        if (!space) {
            if (!in_run && ++runs > target)
                return 0;
            if (first == len)
                first = i;
            last = i + n;
        }
        in_run = !space;
        i += n;
    }
    out->start = (uint32_t)(first < last ? first : 0);
    out->end = (uint32_t)(first < last ? last : 0);
    return 1;
}

/* chunk_text, or with blocks 0 the reference: every text through the byte
 * loop, without chunk_single or chunk_word_run. */
static int chunk_run(const char *text, size_t len, int target_words, int blocks,
                     chunk_span **spans, size_t *n_spans)
{
    chunk_state st;

    if (!spans || !n_spans || (!text && len))
        return -1;
    *spans = NULL;
    *n_spans = 0;
    if (len > UINT32_MAX)
        return -1;      /* spans are 32-bit */
    memset(&st, 0, sizeof st);
    st.s = (const unsigned char *)text;
    st.len = len;
    st.target = target_words > 0 ? (size_t)target_words : CHUNK_DEFAULT_WORDS;
    st.blocks = blocks;
    chunk_span one;
    if (blocks && chunk_single(st.s, len, st.target, &one)) {
        if (one.end == one.start)
            return 0;
        if (!(*spans = malloc(sizeof **spans)))
            return -1;
        **spans = one;
        *n_spans = 1;
        return 0;
    }
    st.w_cap = 2 * st.target < 1024 ? 2 * st.target : 1024;
    st.w_end = malloc(st.w_cap * sizeof *st.w_end);
    if (!st.w_end)
        return -1;
    chunk_scan(&st);
    free(st.w_end);
    if (st.failed) {
        free(st.spans);
        return -1;
    }
    *spans = st.spans;
    *n_spans = st.n;
    return 0;
}

int chunk_text(const char *text, size_t len, int target_words,
               chunk_span **spans, size_t *n_spans)
{
    return chunk_run(text, len, target_words, 1, spans, n_spans);
}

int chunk_text_bytes(const char *text, size_t len, int target_words,
                     chunk_span **spans, size_t *n_spans)
{
    return chunk_run(text, len, target_words, 0, spans, n_spans);
}
