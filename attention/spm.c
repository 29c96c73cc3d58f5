/*
 * spm.c — the SentencePiece unigram tokenizer of USE-lite.
 *
 * A unigram model gives every piece a log-probability (its score); the
 * tokenization of a text is the segmentation into pieces with the highest
 * total score, found by Viterbi over the positions of the text. That is the
 * textbook algorithm, but lctx must reproduce the *TensorFlow.js* tokenizer
 * that the model was exported with (tfjs-models/universal-sentence-encoder,
 * also used by @energetic-ai/embeddings), id for id, because the embeddings
 * are only right if the ids are. That tokenizer has quirks we copy on purpose:
 *
 *  - Input: NFKC, then every ASCII space (only U+0020) becomes U+2581 and
 *    one U+2581 is put in front of a non-empty text.
 *  - Positions are Unicode code points.
 *  - At each position the candidates are the vocabulary pieces (ids >=
 *    `reserved`; the first six are control symbols) that are prefixes of the
 *    rest of the text. Only when there is none does the character become an
 *    unknown: id 0, score 0, length 1.
 *  - best[] starts at 0 and 0 also means "not set yet": an end position takes
 *    a candidate when best == 0 or score >= best. Candidates for one end
 *    position are visited by ascending start, so on a tie the shorter piece
 *    wins. A position no segmentation reaches keeps best = 0, which later
 *    candidates then read as a (too good) score of 0; we keep that too.
 *  - The backward walk steps back by the JavaScript string length of the
 *    chosen piece, i.e. in UTF-16 code units, not code points (the same for
 *    every piece of this vocabulary, which is all in the BMP).
 *  - Consecutive unknowns are merged into one id 0.
 *  - When a piece occurs twice in the vocabulary, the later id wins.
 *
 * Scores are kept as doubles, as JavaScript does, so ties break identically.
 *
 * Lookup is a hash table over the UTF-8 bytes of the pieces instead of the
 * original's trie: "all pieces that are prefixes of the text at i" is the
 * same set either way, we just probe lengths 1..longest piece. The tokenizer
 * is immutable after spm_new and safe to share between threads; every call
 * allocates its own lattice.
 */
#include "attention/attention.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#define SPM_WORD_START 0x2581  /* '▁' */

typedef struct spm_slot {
    uint32_t off, len;  /* piece bytes in s->blob; len 0 = empty slot */
    int32_t id;
    double score;
} spm_slot;

struct spm {
    int n;
    int reserved;
    int max_cp;         /* longest piece, in code points */
    char *blob;         /* all pieces' bytes */
    uint32_t *off, *len;
    uint8_t *u16len;    /* JavaScript length of each piece */
    spm_slot *table;
    uint32_t mask;      /* table size - 1 */
};

static uint32_t hash_bytes(const char *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 16777619u;
    return h;
}

/* Counts code points and UTF-16 units of a (valid) UTF-8 piece. */
static void piece_lengths(const char *p, size_t n, int *cps, int *u16)
{
    utf8proc_ssize_t i = 0;
    int c = 0, u = 0;
    while ((size_t)i < n) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)p + i, (utf8proc_ssize_t)n - i, &cp);
        if (k <= 0) {
            k = 1;
            cp = 0xFFFD;
        }
        c++;
        u += cp >= 0x10000 ? 2 : 1;
        i += k;
    }
    *cps = c;
    *u16 = u;
}

static const spm_slot *spm_lookup(const spm *s, const char *p, size_t n)
{
    uint32_t i = hash_bytes(p, n) & s->mask;
    while (s->table[i].len) {
        const spm_slot *e = &s->table[i];
        if (e->len == n && memcmp(s->blob + e->off, p, n) == 0)
            return e;
        i = (i + 1) & s->mask;
    }
    return NULL;
}

static void spm_insert(spm *s, uint32_t off, uint32_t len, int32_t id, double score)
{
    uint32_t i = hash_bytes(s->blob + off, len) & s->mask;
    while (s->table[i].len) {
        spm_slot *e = &s->table[i];
        if (e->len == len && memcmp(s->blob + e->off, s->blob + off, len) == 0)
            break;  /* duplicate piece: the later id replaces it, as in the trie */
        i = (i + 1) & s->mask;
    }
    s->table[i] = (spm_slot){ off, len, id, score };
}

spm *spm_new(const char *const *pieces, const size_t *lens, const double *scores, int n,
             int reserved, char *err, size_t errlen)
{
    if (!pieces || !lens || !scores || n <= 0 || reserved < 0 || reserved >= n) {
        attn_err(err, errlen, "tokenizer: empty or invalid vocabulary (%d pieces, %d reserved)", n, reserved);
        return NULL;
    }
    spm *s = calloc(1, sizeof *s);
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        if (!pieces[i] || lens[i] == 0 || lens[i] > 1024) {
            attn_err(err, errlen, "tokenizer: vocabulary piece %d is empty or too long", i);
            free(s);
            return NULL;
        }
        total += lens[i];
    }
    uint32_t size = 16;
    while (size < 2u * (uint32_t)n)
        size *= 2;
    if (s) {
        s->n = n;
        s->reserved = reserved;
        s->blob = malloc(total);
        s->off = malloc((size_t)n * sizeof *s->off);
        s->len = malloc((size_t)n * sizeof *s->len);
        s->u16len = malloc((size_t)n);
        s->table = calloc(size, sizeof *s->table);
        s->mask = size - 1;
    }
    if (!s || !s->blob || !s->off || !s->len || !s->u16len || !s->table) {
        spm_free(s);
        attn_err(err, errlen, "tokenizer: out of memory");
        return NULL;
    }
    size_t at = 0;
    for (int i = 0; i < n; i++) {
        memcpy(s->blob + at, pieces[i], lens[i]);
        s->off[i] = (uint32_t)at;
        s->len[i] = (uint32_t)lens[i];
        int cps, u16;
        piece_lengths(pieces[i], lens[i], &cps, &u16);
        s->u16len[i] = (uint8_t)(u16 > 255 ? 255 : u16);
        if (i >= reserved) {
            if (cps > s->max_cp)
                s->max_cp = cps;
            spm_insert(s, (uint32_t)at, (uint32_t)lens[i], i, scores[i]);
        }
        at += lens[i];
    }
    return s;
}

spm *spm_from_model(const model_file *m, char *err, size_t errlen)
{
    int n = model_file_vocab_size(m);
    if (n <= 0) {
        attn_err(err, errlen, "%s: the model has no vocabulary", model_file_path(m));
        return NULL;
    }
    double reserved = 6;
    model_file_config(m, "spm_reserved", &reserved);
    if (!(reserved >= 0 && reserved < n) || reserved != (double)(int)reserved) {
        attn_err(err, errlen, "%s: config 'spm_reserved' must be a whole number below the vocabulary size %d",
                 model_file_path(m), n);
        return NULL;
    }
    const char **pieces = malloc((size_t)n * sizeof *pieces);
    size_t *lens = malloc((size_t)n * sizeof *lens);
    double *scores = malloc((size_t)n * sizeof *scores);
    spm *s = NULL;
    if (pieces && lens && scores) {
        for (int i = 0; i < n; i++) {
            pieces[i] = model_file_piece(m, i, &lens[i]);
            scores[i] = model_file_score(m, i);
        }
        char sub[256] = "";
        s = spm_new(pieces, lens, scores, n, (int)reserved, sub, sizeof sub);
        if (!s)
            attn_err(err, errlen, "%s: %s", model_file_path(m), sub);
    } else {
        attn_err(err, errlen, "%s: out of memory", model_file_path(m));
    }
    free(pieces);
    free(lens);
    free(scores);
    return s;
}

void spm_free(spm *s)
{
    if (!s)
        return;
    free(s->blob);
    free(s->off);
    free(s->len);
    free(s->u16len);
    free(s->table);
    free(s);
}

int spm_vocab_size(const spm *s) { return s ? s->n : 0; }

/* ------------------------------------------------------------ input */

/* Replaces every byte that does not start a valid UTF-8 sequence with
 * U+FFFD, as a JavaScript string decoded from the same bytes would hold. */
static char *repair_utf8(const char *text, size_t len, size_t *out_len)
{
    char *out = malloc(len * 3 + 1);
    if (!out)
        return NULL;
    size_t o = 0, i = 0;
    while (i < len) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)text + i, (utf8proc_ssize_t)(len - i), &cp);
        if (k <= 0 || cp == 0) {
            /* invalid byte, or a NUL (which utf8proc would treat as the end) */
            if (k <= 0) {
                memcpy(out + o, "\xEF\xBF\xBD", 3);
                o += 3;
            } else {
                out[o++] = 0;
            }
            i += 1;
            continue;
        }
        memcpy(out + o, text + i, (size_t)k);
        o += (size_t)k;
        i += (size_t)k;
    }
    out[o] = 0;
    *out_len = o;
    return out;
}

/* NFKC, spaces to U+2581, one U+2581 in front; the result as UTF-8 bytes
 * with the byte offset of every code point (off[ncp] = total bytes). */
static int prepare(const char *text, size_t len, char **bytes, uint32_t **off, int *ncp)
{
    size_t rlen;
    char *fixed = repair_utf8(text ? text : "", text ? len : 0, &rlen);
    if (!fixed)
        return -1;
    utf8proc_uint8_t *norm = NULL;
    utf8proc_ssize_t nlen = utf8proc_map((const utf8proc_uint8_t *)fixed, (utf8proc_ssize_t)rlen, &norm,
                                         UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT);
    free(fixed);
    if (nlen < 0)
        return -1;
    /* at most one extra code point in front; '▁' is 3 bytes where ' ' was 1 */
    size_t cap = (size_t)nlen * 3 + 4;
    char *b = malloc(cap);
    uint32_t *o = malloc((cap + 1) * sizeof *o);
    if (!b || !o) {
        free(norm);
        free(b);
        free(o);
        return -1;
    }
    size_t at = 0;
    int n = 0;
    utf8proc_ssize_t i = 0;
    if (nlen > 0) {
        o[n++] = (uint32_t)at;
        at += (size_t)utf8proc_encode_char(SPM_WORD_START, (utf8proc_uint8_t *)b + at);
    }
    while (i < nlen) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate(norm + i, nlen - i, &cp);
        if (k <= 0) {
            k = 1;
            cp = 0xFFFD;
        }
        if (cp == ' ')
            cp = SPM_WORD_START;
        o[n++] = (uint32_t)at;
        at += (size_t)utf8proc_encode_char(cp, (utf8proc_uint8_t *)b + at);
        i += k;
    }
    o[n] = (uint32_t)at;
    free(norm);
    *bytes = b;
    *off = o;
    *ncp = n;
    return 0;
}

/* ------------------------------------------------------------ Viterbi */

int spm_encode(const spm *s, const char *text, size_t len, int32_t **ids, int *n_ids,
               char *err, size_t errlen)
{
    if (!s || !ids || !n_ids) {
        attn_err(err, errlen, "tokenizer: invalid arguments");
        return -1;
    }
    *ids = NULL;
    *n_ids = 0;
    char *u = NULL;
    uint32_t *off = NULL;
    int n = 0;
    if (prepare(text, len, &u, &off, &n) != 0) {
        attn_err(err, errlen, "tokenizer: out of memory or invalid text");
        return -1;
    }
    double *best = calloc((size_t)n + 1, sizeof *best);
    int32_t *words = calloc((size_t)n + 1, sizeof *words);
    uint8_t *matched = calloc((size_t)n + 1, 1);   /* any piece starts here */
    int32_t *out = malloc(((size_t)n + 1) * sizeof *out);
    if (!best || !words || !matched || !out) {
        free(u); free(off); free(best); free(words); free(matched); free(out);
        attn_err(err, errlen, "tokenizer: out of memory");
        return -1;
    }
    for (int i = 0; i < n; i++) {
        for (int L = 1; L <= s->max_cp && i + L <= n && !matched[i]; L++)
            if (spm_lookup(s, u + off[i], off[i + L] - off[i]))
                matched[i] = 1;
    }
    /* For each end position, candidates by ascending start (longest first):
     * best[end] takes score(piece) + best[start] when unset (0) or >=. */
    for (int end = 1; end <= n; end++) {
        int lo = end - s->max_cp > 0 ? end - s->max_cp : 0;
        for (int start = lo; start < end; start++) {
            double sc;
            int32_t id;
            if (!matched[start]) {
                if (end != start + 1)
                    continue;
                sc = 0;                  /* unknown character */
                id = 0;
            } else {
                const spm_slot *e = spm_lookup(s, u + off[start], off[end] - off[start]);
                if (!e)
                    continue;
                sc = e->score;
                id = e->id;
            }
            double total = sc + best[start];
            if (best[end] == 0 || total >= best[end]) {
                best[end] = total;
                words[end] = id;
            }
        }
    }
    /* Backward walk by the JavaScript length of each chosen piece; then
     * merge runs of unknowns (the walk yields ids last to first). */
    int k = 0, prev_unk = 0;
    for (int it = n; it > 0;) {
        int32_t id = words[it];
        if (!(prev_unk && id == 0))
            out[k++] = id;
        prev_unk = id == 0;
        it -= s->u16len[id] ? s->u16len[id] : 1;
    }
    for (int i = 0; i < k / 2; i++) {
        int32_t t = out[i];
        out[i] = out[k - 1 - i];
        out[k - 1 - i] = t;
    }
    free(u); free(off); free(best); free(words); free(matched);
    if (k == 0) {
        free(out);
        out = NULL;
    }
    *ids = out;
    *n_ids = k;
    return 0;
}
