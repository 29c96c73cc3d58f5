/*
 * utf8.c — checking, repairing and sniffing UTF-8 input.
 *
 * Everything the engine stores is UTF-8, and every byte offset it keeps
 * (tokens, chunks, snippets) is an offset into that UTF-8. So input is
 * checked once, at the door:
 *
 *   utf8_validate   says whether a buffer is valid and where the first bad
 *                   byte is, so JSONL errors can name "line 12, byte 340".
 *   utf8_repair     makes a valid copy of a plain-text file that is not, by
 *                   replacing each invalid sequence with U+FFFD. A sequence
 *                   here is the offending byte plus the continuation bytes
 *                   (at most three) that follow it, so a truncated or
 *                   overlong character becomes one U+FFFD, not several.
 *   utf8_looks_binary  decides whether a file is text at all. Binary files
 *                   (images, archives, object files) are skipped with a
 *                   warning rather than indexed as garbage.
 *   utf16_bom       and utf16_decode: text that Windows tools save as
 *                   "Unicode" is UTF-16 with a byte order mark. Its NUL
 *                   bytes made it "binary"; it is decoded to UTF-8 instead
 *                   (glibc's iconv), each unpaired surrogate or odd last
 *                   byte becoming U+FFFD as a bad UTF-8 sequence does.
 *                   Without a mark UTF-16 cannot be told from binary data
 *                   reliably, so it stays binary.
 *   utf8_script     tells the tokenizer and the chunker which characters
 *                   belong to scripts written without spaces (Han, kana,
 *                   Hangul), which get character bigrams instead of words.
 *
 * Decoding itself is utf8proc_iterate, which rejects overlong forms,
 * surrogates and code points past U+10FFFF. Pure ASCII runs, the common case,
 * skip the decoder entirely.
 */
#include "indexer/indexer.h"

#include <errno.h>
#include <iconv.h>
#include <string.h>
#include <stdlib.h>
#include <utf8proc.h>

/* How much of a buffer utf8_looks_binary inspects. */
#define UTF8_SNIFF_BYTES 8192

/* Length of the valid sequence at s (1..4), or 0 when the bytes at s are not
 * valid UTF-8. */
static size_t utf8_seq_len(const unsigned char *s, size_t len)
{
    utf8proc_int32_t cp;
    size_t room = len < 4 ? len : 4;
    utf8proc_ssize_t n = utf8proc_iterate(s, (utf8proc_ssize_t)room, &cp);
    return n > 0 ? (size_t)n : 0;
}

int utf8_validate(const char *s, size_t len, size_t *bad_offset)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;

    if (!s && len)
        return 0;
    while (i < len) {
        if (p[i] < 0x80) {
            /* eight ASCII bytes at a time while they last */
            uint64_t x;
            while (i + 8 <= len && (memcpy(&x, p + i, 8), !(x & 0x8080808080808080ull)))
                i += 8;
            while (i < len && p[i] < 0x80)
                i++;
            continue;
        }
        size_t n = utf8_seq_len(p + i, len - i);
        if (n == 0) {
            if (bad_offset)
                *bad_offset = i;
            return 0;
        }
        i += n;
    }
    return 1;
}

/* Bytes an invalid sequence at p[0] spans: the byte itself plus up to three
 * continuation bytes that follow it. */
static size_t utf8_bad_span(const unsigned char *p, size_t len)
{
    size_t n = 1;
    while (n < len && n < 4 && (p[n] & 0xC0) == 0x80)
        n++;
    return n;
}

char *utf8_repair(const char *s, size_t len, size_t *out_len, size_t *n_repairs)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t repairs = 0, o = 0, i = 0;
    char *out;

    if (!s && len)
        return NULL;
    /* A bad byte (1 byte in) becomes 3 bytes out, so 3*len bounds the copy;
     * overflow of that product means the input cannot exist in memory. */
    if (len > (SIZE_MAX - 1) / 3)
        return NULL;
    out = malloc(len * 3 + 1);
    if (!out)
        return NULL;
    while (i < len) {
        if (p[i] < 0x80) {
            out[o++] = (char)p[i++];
            continue;
        }
        size_t n = utf8_seq_len(p + i, len - i);
        if (n) {
            memcpy(out + o, p + i, n);
            o += n;
            i += n;
            continue;
        }
        i += utf8_bad_span(p + i, len - i);
        memcpy(out + o, "\xEF\xBF\xBD", 3);
        o += 3;
        repairs++;
    }
    out[o] = '\0';
    if (out_len)
        *out_len = o;
    if (n_repairs)
        *n_repairs = repairs;
    return out;
}

int utf8_looks_binary(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = len < UTF8_SNIFF_BYTES ? len : UTF8_SNIFF_BYTES;
    size_t controls = 0, invalid = 0, i = 0;

    if (!s)
        return 0;
    while (i < n) {
        unsigned char c = p[i];
        if (c == 0)
            return 1;       /* text formats we read never contain NUL */
        if (c < 0x80) {
            if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\f'
                 && c != '\v' && c != 0x1B) || c == 0x7F)
                controls++;
            i++;
            continue;
        }
        size_t k = utf8_seq_len(p + i, n - i);
        if (k == 0) {
            /* A character cut by the sniff window is not evidence. */
            if (n - i < 4 && n < len)
                break;
            invalid++;
            k = 1;
        }
        i += k;
    }
    /* Text in a legacy 8-bit encoding (Latin-1) is mostly ASCII with a few
     * invalid bytes; binary data is dense with both controls and invalid
     * bytes. The thresholds leave room for the former. */
    if (n == 0)
        return 0;
    if (controls * 10 > n)
        return 1;
    if ((controls + invalid) * 3 > n)
        return 1;
    return 0;
}

/* Code point ranges of the scripts the tokenizer bigrams. Han includes the
 * iteration marks and CJK compatibility ideographs; kana includes the
 * halfwidth forms and the prolonged sound mark. */
static const struct { int32_t lo, hi; int script; } utf8_script_ranges[] = {
    { 0x1100, 0x11FF, UTF8_SCRIPT_HANGUL },  /* Hangul Jamo */
    { 0x3005, 0x3007, UTF8_SCRIPT_CJ },      /* 々 〆 〇 */
    { 0x3021, 0x3029, UTF8_SCRIPT_CJ },      /* Hangzhou numerals */
    { 0x3031, 0x3035, UTF8_SCRIPT_CJ },      /* kana repeat marks */
    { 0x3038, 0x303C, UTF8_SCRIPT_CJ },
    { 0x3041, 0x309F, UTF8_SCRIPT_CJ },      /* Hiragana (and combining voicing marks) */
    { 0x30A0, 0x30FA, UTF8_SCRIPT_CJ },      /* Katakana up to U+30FA */
    { 0x30FC, 0x30FF, UTF8_SCRIPT_CJ },      /* ー ヽ ヾ ヿ (U+30FB middle dot is punctuation) */
    { 0x3131, 0x318E, UTF8_SCRIPT_HANGUL },  /* Hangul compatibility jamo */
    { 0x31F0, 0x31FF, UTF8_SCRIPT_CJ },      /* Katakana phonetic extensions */
    { 0x3400, 0x4DBF, UTF8_SCRIPT_CJ },      /* CJK extension A */
    { 0x4E00, 0x9FFF, UTF8_SCRIPT_CJ },      /* CJK unified ideographs */
    { 0xA960, 0xA97F, UTF8_SCRIPT_HANGUL },
    { 0xAC00, 0xD7AF, UTF8_SCRIPT_HANGUL },  /* Hangul syllables */
    { 0xD7B0, 0xD7FF, UTF8_SCRIPT_HANGUL },
    { 0xF900, 0xFAFF, UTF8_SCRIPT_CJ },      /* CJK compatibility ideographs */
    { 0xFF66, 0xFF9F, UTF8_SCRIPT_CJ },      /* halfwidth katakana */
    { 0xFFA0, 0xFFDC, UTF8_SCRIPT_HANGUL },  /* halfwidth Hangul */
    { 0x1B000, 0x1B16F, UTF8_SCRIPT_CJ },    /* kana supplement/extended */
    { 0x20000, 0x3FFFF, UTF8_SCRIPT_CJ },    /* CJK extensions B.. */
};

int utf8_script(int32_t cp)
{
    size_t lo = 0, hi = sizeof utf8_script_ranges / sizeof utf8_script_ranges[0];

    if (cp < 0x1100)
        return UTF8_SCRIPT_OTHER;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < utf8_script_ranges[mid].lo)
            hi = mid;
        else if (cp > utf8_script_ranges[mid].hi)
            lo = mid + 1;
        else
            return utf8_script_ranges[mid].script;
    }
    return UTF8_SCRIPT_OTHER;
}

int utf16_bom(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    if (len < 2)
        return 0;
    if (p[0] == 0xFF && p[1] == 0xFE)   /* FF FE 00 00 is UTF-32's mark */
        return len >= 4 && p[2] == 0 && p[3] == 0 ? 0 : UTF16_LE;
    return p[0] == 0xFE && p[1] == 0xFF ? UTF16_BE : 0;
}

char *utf16_decode(const char *s, size_t len, int order, size_t *out_len, size_t *n_repairs,
                   size_t *first_bad)
{
    /* Two bytes give at most three (a pair of four gives four), and a bad
     * unit or a last odd byte gives U+FFFD's three: 3 * (len / 2) + 3. */
    if (len > (SIZE_MAX - 8) / 2)
        return NULL;
    size_t cap = 3 * (len / 2) + 4, repairs = 0;
    char *out = malloc(cap);
    iconv_t cd = iconv_open("UTF-8", order == UTF16_BE ? "UTF-16BE" : "UTF-16LE");
    if (!out || cd == (iconv_t)-1) {
        free(out);
        if (cd != (iconv_t)-1)
            iconv_close(cd);
        return NULL;
    }
    char *in = (char *)s, *o = out;
    size_t in_left = len, out_left = cap - 1;
    while (in_left > 0) {
        if (iconv(cd, &in, &in_left, &o, &out_left) != (size_t)-1)
            break;
        if (errno != EILSEQ && errno != EINVAL) {   /* E2BIG cannot happen: see cap */
            iconv_close(cd);
            free(out);
            return NULL;
        }
        /* an unpaired surrogate (EILSEQ), or a lone high surrogate or odd
         * byte at the end (EINVAL): one unit becomes U+FFFD */
        if (repairs++ == 0 && first_bad)
            *first_bad = (size_t)(in - s);
        memcpy(o, "\xEF\xBF\xBD", 3);
        o += 3;
        out_left -= 3;
        size_t skip = in_left < 2 ? in_left : 2;
        in += skip;
        in_left -= skip;
        iconv(cd, NULL, NULL, NULL, NULL);
    }
    iconv_close(cd);
    *o = '\0';
    *out_len = (size_t)(o - out);
    if (n_repairs)
        *n_repairs = repairs;
    return out;
}
