/*
 * tok_block.c — classifies 64 bytes of text at once for the tokenizer.
 *
 * Nearly every byte lctx indexes is ASCII, and for ASCII the tokenizer's
 * segmentation rules (tokenize.c) reduce to a few byte classes: letters and
 * digits make words, an apostrophe between two letters and a '.' or ','
 * between two digits stay inside one, everything else separates. Scanning
 * byte by byte costs a table lookup and a branch per byte, and the branch
 * that ends a word is mispredicted once a word: that loop was about a
 * third of the tokenizer's time. Here 64 bytes become bit masks (bit k for
 * byte k), so a word is a run of ones in `word`, found with two
 * count-trailing-zeros; the same pass lowercases the block, which is the
 * whole of case folding for ASCII.
 *
 *   letter = bytes in A-Z or a-z
 *   digit  = bytes in 0-9
 *   word   = letter | digit
 *          | (apostrophe & letter << 1 & letter >> 1)   a letter on each side
 *          | ('.' or ',' & digit << 1 & digit >> 1)     a digit on each side
 *   high   = bytes >= 0x80: the tokenizer's byte-at-a-time path takes over
 *
 * Bit 63 of `word` cannot see byte 64, so the caller trusts bits 0-62 only
 * (or all 64 when the block is the zero-padded end of the text).
 *
 * With SSE2 (every x86-64) the masks are a dozen byte compares on each
 * quarter of the block; AVX-512 did the whole block at once, but the
 * tokenizer was no faster for it (15.0 ms on lisa's texts either way).
 * Elsewhere the tokenizer does not use blocks (TOK_BLOCK_VECTOR in
 * indexer.h): the portable loop, tok_block_read_plain, costs more than the
 * byte scan it would replace (lisa's texts: 27 ms against 21), and stays
 * as the reference the tests compare the vector code with
 * (test_tok_block.c).
 */
#include "indexer/indexer.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* The masks' shared last step: words from the byte classes. */
static void tok_block_words_mask(tok_block *b, uint64_t digit, uint64_t apos, uint64_t numsep)
{
    uint64_t letter = b->letter;
    b->word = letter | digit | (apos & letter << 1 & letter >> 1) |
              (numsep & digit << 1 & digit >> 1);
}

void tok_block_read_plain(const unsigned char *s, tok_block *b)
{
    uint64_t letter = 0, digit = 0, apos = 0, numsep = 0, high = 0;
    for (unsigned k = 0; k < 64; k++) {
        unsigned c = s[k];
        unsigned lower = c >= 'A' && c <= 'Z' ? c + 32 : c;
        letter |= (uint64_t)(lower >= 'a' && lower <= 'z') << k;
        digit |= (uint64_t)(c >= '0' && c <= '9') << k;
        apos |= (uint64_t)(c == '\'') << k;
        numsep |= (uint64_t)(c == '.' || c == ',') << k;
        high |= (uint64_t)(c >= 0x80) << k;
        b->lower[k] = (unsigned char)lower;
    }
    b->letter = letter;
    b->high = high;
    tok_block_words_mask(b, digit, apos, numsep);
}

void tok_block_read(const unsigned char *s, tok_block *b)
{
#if defined(__SSE2__)
    /* Four 16-byte quarters. SSE2 compares bytes as signed only, so a
     * range test c - lo < n (unsigned) becomes (c - lo) - 128 < n - 128. */
    const __m128i bias = _mm_set1_epi8((char)0x80);
    uint64_t letter = 0, digit = 0, apos = 0, numsep = 0, high = 0;
    for (unsigned q = 0; q < 4; q++) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(s + 16 * q));
        __m128i up = _mm_cmplt_epi8(_mm_xor_si128(_mm_sub_epi8(v, _mm_set1_epi8('A')), bias),
                                    _mm_set1_epi8((char)(26 - 128)));
        __m128i lower = _mm_add_epi8(v, _mm_and_si128(up, _mm_set1_epi8(32)));
        _mm_storeu_si128((__m128i *)(void *)(b->lower + 16 * q), lower);
        __m128i let = _mm_cmplt_epi8(_mm_xor_si128(_mm_sub_epi8(lower, _mm_set1_epi8('a')), bias),
                                     _mm_set1_epi8((char)(26 - 128)));
        __m128i dig = _mm_cmplt_epi8(_mm_xor_si128(_mm_sub_epi8(v, _mm_set1_epi8('0')), bias),
                                     _mm_set1_epi8((char)(10 - 128)));
        __m128i ap = _mm_cmpeq_epi8(v, _mm_set1_epi8('\''));
        __m128i ns = _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('.')),
                                  _mm_cmpeq_epi8(v, _mm_set1_epi8(',')));
        unsigned sh = 16 * q;
        letter |= (uint64_t)(unsigned)_mm_movemask_epi8(let) << sh;
        digit |= (uint64_t)(unsigned)_mm_movemask_epi8(dig) << sh;
        apos |= (uint64_t)(unsigned)_mm_movemask_epi8(ap) << sh;
        numsep |= (uint64_t)(unsigned)_mm_movemask_epi8(ns) << sh;
        high |= (uint64_t)(unsigned)_mm_movemask_epi8(v) << sh;
    }
    b->letter = letter;
    b->high = high;
    tok_block_words_mask(b, digit, apos, numsep);
#else
    tok_block_read_plain(s, b);
#endif
}
