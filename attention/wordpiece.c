/*
 * wordpiece.c — BERT's tokenizer, id-for-id with Hugging Face `tokenizers`.
 *
 * A BERT model only means something with the exact token ids it was trained
 * on, so this file follows the reference pipeline step by step rather than
 * approximating it:
 *
 *   1. added tokens: literal "[CLS]", "[MASK]" ... in the raw text are cut
 *      out first and map straight to their ids (HF matches its special
 *      tokens before normalization);
 *   2. BertNormalizer, in HF's order: clean text (drop NUL, U+FFFD and
 *      "other" characters — categories Cc Cf Co Cs except \t \n \r — and turn
 *      whitespace into ' '), put spaces around CJK ideographs, strip accents
 *      (NFD, then drop nonspacing marks Mn) when lowercasing unless told
 *      otherwise, lowercase (simple per-character mapping; İ becomes i +
 *      U+0307 like Rust's char::to_lowercase);
 *   3. BertPreTokenizer: split on whitespace, and make every punctuation
 *      character (Unicode P* plus the ASCII symbols $ + < = > ^ ` | ~) a
 *      word of its own;
 *   4. WordPiece: per word, greedy longest match first, continuation pieces
 *      prefixed "##"; a word with no full cover, or longer than
 *      max_chars_per_word characters, becomes a single [UNK].
 *
 * Unicode tables come from utf8proc (categories, NFD, lowercase). The vocab
 * lookup is an open-addressing hash over the piece bytes. A wordpiece is
 * immutable after wordpiece_new, so threads may share it.
 */
#include "attention/attention.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#define WP_MAX_SPECIAL 16

struct wordpiece {
    wordpiece_opts o;
    int n;
    char **pieces;           /* id -> piece */
    int32_t *slots;          /* hash table of ids, -1 = empty */
    size_t nslots;           /* power of two */
    int unk, cls, sep, pad;
    int n_special;
    int special_ids[WP_MAX_SPECIAL];
};

/* A growable array of int32 (code points or ids). */
typedef struct ibuf {
    int32_t *v;
    size_t n, cap;
} ibuf;

static int ib_push(ibuf *b, int32_t x)
{
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        int32_t *v = realloc(b->v, cap * sizeof *v);
        if (!v)
            return -1;
        b->v = v;
        b->cap = cap;
    }
    b->v[b->n++] = x;
    return 0;
}

void wordpiece_opts_init(wordpiece_opts *o)
{
    o->clean_text = 1;
    o->chinese_chars = 1;
    o->lowercase = 1;
    o->strip_accents = -1;
    o->max_chars_per_word = 100;
}

/* ------------------------------------------------------------ vocab hash */

static uint64_t fnv1a(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return h;
}

static int lookup(const wordpiece *w, const char *s, size_t len)
{
    size_t mask = w->nslots - 1;
    for (size_t i = fnv1a(s, len) & mask;; i = (i + 1) & mask) {
        int32_t id = w->slots[i];
        if (id < 0)
            return -1;
        if (strlen(w->pieces[id]) == len && memcmp(w->pieces[id], s, len) == 0)
            return id;
    }
}

int wordpiece_id(const wordpiece *w, const char *piece)
{
    return w && piece ? lookup(w, piece, strlen(piece)) : -1;
}

wordpiece *wordpiece_new(const char *const *tokens, int n, const wordpiece_opts *o,
                         const char *name, char *err, size_t errlen)
{
    name = name ? name : "vocabulary";
    if (!tokens || n <= 0) {
        attn_err(err, errlen, "%s: empty vocabulary", name);
        return NULL;
    }
    wordpiece *w = calloc(1, sizeof *w);
    if (!w)
        goto oom;
    if (o)
        w->o = *o;
    else
        wordpiece_opts_init(&w->o);
    if (w->o.max_chars_per_word <= 0)
        w->o.max_chars_per_word = 100;
    w->nslots = 16;
    while (w->nslots < (size_t)n * 2)
        w->nslots <<= 1;
    w->pieces = calloc((size_t)n, sizeof *w->pieces);
    w->slots = malloc(w->nslots * sizeof *w->slots);
    if (!w->pieces || !w->slots)
        goto oom;
    memset(w->slots, 0xff, w->nslots * sizeof *w->slots);
    w->n = n;
    for (int i = 0; i < n; i++) {
        const char *t = tokens[i] ? tokens[i] : "";
        if (!(w->pieces[i] = strdup(t)))
            goto oom;
        size_t len = strlen(t);
        /* A duplicate piece keeps its first id, as vocab.txt readers do. */
        if (lookup(w, t, len) >= 0)
            continue;
        size_t mask = w->nslots - 1, j = fnv1a(t, len) & mask;
        while (w->slots[j] >= 0)
            j = (j + 1) & mask;
        w->slots[j] = i;
    }
    w->unk = wordpiece_id(w, "[UNK]");
    w->cls = wordpiece_id(w, "[CLS]");
    w->sep = wordpiece_id(w, "[SEP]");
    w->pad = wordpiece_id(w, "[PAD]");
    if (w->unk < 0 || w->cls < 0 || w->sep < 0) {
        attn_err(err, errlen, "%s: vocabulary lacks %s", name,
                 w->unk < 0 ? "[UNK]" : w->cls < 0 ? "[CLS]" : "[SEP]");
        wordpiece_free(w);
        return NULL;
    }
    if (w->pad < 0)
        w->pad = 0;
    static const char *const specials[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
    for (size_t i = 0; i < sizeof specials / sizeof *specials; i++) {
        int id = wordpiece_id(w, specials[i]);
        if (id >= 0)
            w->special_ids[w->n_special++] = id;
    }
    return w;
oom:
    attn_err(err, errlen, "%s: out of memory", name);
    wordpiece_free(w);
    return NULL;
}

void wordpiece_free(wordpiece *w)
{
    if (!w)
        return;
    if (w->pieces)
        for (int i = 0; i < w->n; i++)
            free(w->pieces[i]);
    free(w->pieces);
    free(w->slots);
    free(w);
}

int wordpiece_vocab_size(const wordpiece *w) { return w ? w->n : 0; }
int wordpiece_cls(const wordpiece *w) { return w->cls; }
int wordpiece_sep(const wordpiece *w) { return w->sep; }
int wordpiece_pad(const wordpiece *w) { return w->pad; }

/* ------------------------------------------------------ character classes */

/* HF's is_control: "other" categories, except the three whitespace controls. */
static int is_control(int32_t c)
{
    if (c == '\t' || c == '\n' || c == '\r')
        return 0;
    utf8proc_category_t k = utf8proc_category(c);
    return k == UTF8PROC_CATEGORY_CC || k == UTF8PROC_CATEGORY_CF ||
           k == UTF8PROC_CATEGORY_CO || k == UTF8PROC_CATEGORY_CS;
}

/* Rust's char::is_whitespace (the Unicode White_Space property). */
static int is_whitespace(int32_t c)
{
    return (c >= 0x09 && c <= 0x0d) || c == 0x20 || c == 0x85 || c == 0xa0 ||
           c == 0x1680 || (c >= 0x2000 && c <= 0x200a) || c == 0x2028 ||
           c == 0x2029 || c == 0x202f || c == 0x205f || c == 0x3000;
}

/* The CJK Unified Ideograph blocks BERT treats as one-character words
 * (not Hangul, not kana: those are written with spaces or handled by
 * WordPiece). */
static int is_chinese(int32_t c)
{
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
           (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
           (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

static int is_punct(int32_t c)
{
    if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) ||
        (c >= 123 && c <= 126))
        return 1;
    utf8proc_category_t k = utf8proc_category(c);
    return k >= UTF8PROC_CATEGORY_PC && k <= UTF8PROC_CATEGORY_PO;
}

/* ------------------------------------------------------------ normalizer */

static int decode_utf8(const char *s, size_t len, ibuf *out)
{
    const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)s;
    size_t i = 0;
    while (i < len) {
        utf8proc_int32_t c;
        utf8proc_ssize_t k = utf8proc_iterate(p + i, (utf8proc_ssize_t)(len - i), &c);
        if (k <= 0) {           /* invalid byte: replacement char, skip one byte */
            c = 0xFFFD;
            k = 1;
        }
        if (ib_push(out, c) != 0)
            return -1;
        i += (size_t)k;
    }
    return 0;
}

/* NFD of cps[0..n), dropping nonspacing marks, appended to out. */
static int strip_accents(const int32_t *cps, size_t n, ibuf *out)
{
    utf8proc_int32_t tmp[32];
    for (size_t i = 0; i < n; i++) {
        int last_bc = 0;
        utf8proc_ssize_t k = utf8proc_decompose_char(cps[i], tmp, 32, UTF8PROC_DECOMPOSE,
                                                     &last_bc);
        if (k < 0 || k > 32) {
            tmp[0] = cps[i];
            k = 1;
        }
        for (utf8proc_ssize_t j = 0; j < k; j++)
            if (utf8proc_category(tmp[j]) != UTF8PROC_CATEGORY_MN && ib_push(out, tmp[j]))
                return -1;
    }
    return 0;
}

/* Steps 2 of the pipeline over one segment of code points. */
static int normalize(const wordpiece *w, const ibuf *in, ibuf *out)
{
    ibuf a = {0}, b = {0};
    int rc = -1;
    for (size_t i = 0; i < in->n; i++) {
        int32_t c = in->v[i];
        if (w->o.clean_text) {
            if (c == 0 || c == 0xFFFD || is_control(c))
                continue;
            if (is_whitespace(c))
                c = ' ';
        }
        if (w->o.chinese_chars && is_chinese(c)) {
            if (ib_push(&a, ' ') || ib_push(&a, c) || ib_push(&a, ' '))
                goto done;
        } else if (ib_push(&a, c)) {
            goto done;
        }
    }
    int strip = w->o.strip_accents < 0 ? w->o.lowercase : w->o.strip_accents;
    ibuf *cur = &a;
    if (strip) {
        if (strip_accents(a.v, a.n, &b))
            goto done;
        cur = &b;
    }
    for (size_t i = 0; i < cur->n; i++) {
        int32_t c = cur->v[i];
        if (w->o.lowercase) {
            if (c == 0x130) {           /* İ: full lowercase is two chars */
                if (ib_push(out, 'i') || ib_push(out, 0x307))
                    goto done;
                continue;
            }
            c = utf8proc_tolower(c);
        }
        if (ib_push(out, c))
            goto done;
    }
    rc = 0;
done:
    free(a.v);
    free(b.v);
    return rc;
}

/* ------------------------------------------------------------- WordPiece */

/* Greedy longest-match-first over the word cps[0..n). */
static int wordpiece_word(const wordpiece *w, const int32_t *cps, size_t n, ibuf *ids)
{
    if (n == 0)
        return 0;
    if (n > (size_t)w->o.max_chars_per_word)
        return ib_push(ids, w->unk);
    /* UTF-8 of the word, with offs[i] = byte offset of character i; a
     * scratch buffer holds "##" + substring for continuation lookups. */
    size_t cap = 4 * n + 3;
    char *buf = malloc(cap), *scratch = malloc(cap);
    size_t *offs = malloc((n + 1) * sizeof *offs);
    size_t mark = ids->n;
    int rc = -1;
    if (!buf || !scratch || !offs)
        goto done;
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        offs[i] = len;
        len += (size_t)utf8proc_encode_char(cps[i], (utf8proc_uint8_t *)buf + len);
    }
    offs[n] = len;
    scratch[0] = '#';
    scratch[1] = '#';
    size_t start = 0;
    while (start < n) {
        int found = -1;
        size_t end = n;
        for (; end > start && found < 0; end--) {
            size_t sub = offs[end] - offs[start];
            if (start == 0) {
                found = lookup(w, buf, sub);
            } else {
                memcpy(scratch + 2, buf + offs[start], sub);
                found = lookup(w, scratch, sub + 2);
            }
        }
        if (found < 0) {          /* no cover: the whole word is unknown */
            ids->n = mark;
            rc = ib_push(ids, w->unk);
            goto done;
        }
        if (ib_push(ids, found))
            goto done;
        start = end + 1;          /* the loop decremented past the match */
    }
    rc = 0;
done:
    free(buf);
    free(scratch);
    free(offs);
    return rc;
}

/* Steps 2-4 over one segment of raw code points (no special tokens in it). */
static int tokenize_segment(const wordpiece *w, const ibuf *seg, ibuf *ids)
{
    ibuf norm = {0};
    if (normalize(w, seg, &norm)) {
        free(norm.v);
        return -1;
    }
    size_t start = 0;
    int rc = 0;
    for (size_t i = 0; i <= norm.n && rc == 0; i++) {
        int32_t c = i < norm.n ? norm.v[i] : ' ';
        if (is_whitespace(c)) {
            rc = wordpiece_word(w, norm.v + start, i - start, ids);
            start = i + 1;
        } else if (is_punct(c)) {
            rc = wordpiece_word(w, norm.v + start, i - start, ids);
            if (rc == 0)
                rc = wordpiece_word(w, norm.v + i, 1, ids);
            start = i + 1;
        }
    }
    free(norm.v);
    return rc;
}

/* Length in bytes of a special token starting at s, and its id. */
static size_t match_special(const wordpiece *w, const char *s, size_t left, int *id)
{
    size_t best = 0;
    for (int k = 0; k < w->n_special; k++) {
        const char *p = w->pieces[w->special_ids[k]];
        size_t len = strlen(p);
        if (len > best && len <= left && memcmp(s, p, len) == 0) {
            best = len;
            *id = w->special_ids[k];
        }
    }
    return best;
}

int wordpiece_tokenize(const wordpiece *w, const char *text, size_t len,
                       int32_t **ids, int *n_ids, char *err, size_t errlen)
{
    *ids = NULL;
    *n_ids = 0;
    if (!w || (!text && len)) {
        attn_err(err, errlen, "wordpiece: no tokenizer or text");
        return -1;
    }
    ibuf out = {0}, seg = {0};
    size_t i = 0, seg_start = 0;
    int rc = 0;
    while (rc == 0 && i <= len) {
        int id = -1;
        size_t m = i < len && text[i] == '[' ? match_special(w, text + i, len - i, &id) : 0;
        if (m == 0 && i < len) {
            i++;
            continue;
        }
        seg.n = 0;
        rc = decode_utf8(text + seg_start, i - seg_start, &seg);
        if (rc == 0)
            rc = tokenize_segment(w, &seg, &out);
        if (rc == 0 && m)
            rc = ib_push(&out, id);
        if (m == 0)
            break;
        i += m;
        seg_start = i;
    }
    free(seg.v);
    if (rc != 0 || out.n > INT32_MAX) {
        free(out.v);
        attn_err(err, errlen, "wordpiece: out of memory");
        return -1;
    }
    *ids = out.v;
    *n_ids = (int)out.n;
    return 0;
}

int wordpiece_encode(const wordpiece *w, const char *a, const char *b, int max_len,
                     int32_t **ids, int32_t **type_ids, int *n_ids, char *err, size_t errlen)
{
    *ids = NULL;
    if (type_ids)
        *type_ids = NULL;
    *n_ids = 0;
    if (!w || !a) {
        attn_err(err, errlen, "wordpiece: no tokenizer or text");
        return -1;
    }
    int32_t *ta = NULL, *tb = NULL;
    int na = 0, nb = 0;
    if (wordpiece_tokenize(w, a, strlen(a), &ta, &na, err, errlen))
        return -1;
    if (b && wordpiece_tokenize(w, b, strlen(b), &tb, &nb, err, errlen)) {
        free(ta);
        return -1;
    }
    int specials = b ? 3 : 2;
    if (max_len > 0) {
        if (max_len < specials + (b ? 2 : 1))
            max_len = specials + (b ? 2 : 1);
        /* Longest first: drop one token at a time from the longer segment
         * (the second on ties), as HF's TruncationStrategy::LongestFirst. */
        while (na + nb + specials > max_len) {
            if (b && nb >= na)
                nb--;
            else
                na--;
        }
    }
    int n = na + nb + specials;
    int32_t *out = malloc((size_t)n * sizeof *out);
    int32_t *tt = type_ids ? malloc((size_t)n * sizeof *tt) : NULL;
    if (!out || (type_ids && !tt)) {
        free(out);
        free(tt);
        free(ta);
        free(tb);
        attn_err(err, errlen, "wordpiece: out of memory");
        return -1;
    }
    int k = 0;
    out[k++] = w->cls;
    for (int i = 0; i < na; i++)
        out[k++] = ta[i];
    out[k++] = w->sep;
    int first = k;
    if (b) {
        for (int i = 0; i < nb; i++)
            out[k++] = tb[i];
        out[k++] = w->sep;
    }
    if (tt)
        for (int i = 0; i < n; i++)
            tt[i] = i < first ? 0 : 1;
    free(ta);
    free(tb);
    *ids = out;
    if (type_ids)
        *type_ids = tt;
    *n_ids = n;
    return 0;
}
