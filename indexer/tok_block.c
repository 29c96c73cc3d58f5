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
 * With AVX-512BW the masks are a handful of byte compares; elsewhere
 * tok_block_read_plain computes the same masks in a loop that compilers
 * vectorise. Tests compare the two, and the block scanner against the
 * byte-at-a-time tokenizer (test_tok_block.c).
 */
#include "indexer/indexer.h"

#if defined(__AVX512BW__)
#include <immintrin.h>
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
#if defined(__AVX512BW__)
    __m512i v = _mm512_loadu_si512((const void *)s);
    /* lowercase: add 32 to A-Z (c - 'A' < 26 as an unsigned byte) */
    __mmask64 upper = _mm512_cmplt_epu8_mask(_mm512_sub_epi8(v, _mm512_set1_epi8('A')),
                                             _mm512_set1_epi8(26));
    __m512i lower = _mm512_mask_add_epi8(v, upper, v, _mm512_set1_epi8(32));
    _mm512_storeu_si512((void *)b->lower, lower);
    b->letter = _mm512_cmplt_epu8_mask(_mm512_sub_epi8(lower, _mm512_set1_epi8('a')),
                                       _mm512_set1_epi8(26));
    b->high = _mm512_movepi8_mask(v);
    uint64_t digit = _mm512_cmplt_epu8_mask(_mm512_sub_epi8(v, _mm512_set1_epi8('0')),
                                            _mm512_set1_epi8(10));
    uint64_t apos = _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8('\''));
    uint64_t numsep = _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8('.')) |
                      _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8(','));
    tok_block_words_mask(b, digit, apos, numsep);
#else
    tok_block_read_plain(s, b);
#endif
}
