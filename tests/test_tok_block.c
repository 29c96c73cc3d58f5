/*
 * test_tok_block.c — the tokenizer's 64-byte ASCII path (tok_block.c and
 * the block loop of tokenize.c) against the byte-at-a-time scan it
 * replaces for ASCII text.
 *
 * The byte scan (tok_tokenize_bytes) is the reference: it is the code the
 * tokenizer tests (test_tok_basic.c) were written against, and it still
 * handles every non-ASCII byte. Two tokenizers fed the same texts in the
 * same order must give the same tokens: term, byte range, position, and
 * even the word cache slot (the caches fill alike).
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "indexer/indexer.h"
#include "test_tok.h"

/* xorshift64: the same texts on every machine */
static uint64_t next_rand(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Both scans of text[0..len) give the same tokens. */
static void assert_same_tokens(tok_tokenizer *fast, tok_tokenizer *ref, const char *text,
                               size_t len)
{
    tok_list a, b;
    tok_list_init(&a);
    tok_list_init(&b);
    cr_assert_eq(tok_tokenize(fast, text, len, &a), 0);
    cr_assert_eq(tok_tokenize_bytes(ref, text, len, &b), 0);
    cr_assert_eq(a.n, b.n, "%zu tokens against %zu in \"%.*s\"", a.n, b.n, (int)len, text);
    cr_assert_eq(a.n_positions, b.n_positions, "positions in \"%.*s\"", (int)len, text);
    for (size_t i = 0; i < a.n; i++) {
        const tok_token *x = &a.tokens[i], *y = &b.tokens[i];
        cr_assert(x->start == y->start && x->end == y->end && x->pos == y->pos,
                  "token %zu: [%u,%u) pos %u against [%u,%u) pos %u in \"%.*s\"", i, x->start,
                  x->end, x->pos, y->start, y->end, y->pos, (int)len, text);
        cr_assert(x->term_len == y->term_len &&
                  memcmp(a.terms + x->term, b.terms + y->term, x->term_len) == 0,
                  "token %zu: \"%s\" against \"%s\"", i, a.terms + x->term, b.terms + y->term);
        cr_assert_eq(x->slot, y->slot, "token %zu: cache slot", i);
    }
    tok_list_free(&a);
    tok_list_free(&b);
}

/* The same for the text cut right after a piece placed in it, and whole. */
static void assert_cut_and_whole(tok_tokenizer *fast, tok_tokenizer *ref, const char *text,
                                 size_t cut, size_t size)
{
    assert_same_tokens(fast, ref, text, cut);
    assert_same_tokens(fast, ref, text, size);
}

Test(tok_block, vector_and_plain_masks_agree)
{
    /* Bytes drawn mostly from the classes that matter, with high bytes. */
    static const char pick[] = "aZz0 9'.,-_AQ\n";
    unsigned char buf[64];
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    for (int round = 0; round < 20000; round++) {
        for (int k = 0; k < 64; k++) {
            uint64_t r = next_rand(&seed);
            buf[k] = r % 5 == 0 ? (unsigned char)(r >> 8) : (unsigned char)pick[(r >> 8) % 14];
        }
        tok_block v, p;
        tok_block_read(buf, &v);
        tok_block_read_plain(buf, &p);
        cr_assert_eq(v.word, p.word, "round %d: word mask", round);
        cr_assert_eq(v.letter, p.letter, "round %d: letter mask", round);
        cr_assert_eq(v.high, p.high, "round %d: high mask", round);
        cr_assert_eq(memcmp(v.lower, p.lower, 64), 0, "round %d: lowercased bytes", round);
    }
}

Test(tok_block, plain_masks_follow_the_rules)
{
    tok_block b;
    unsigned char s[64];
    memset(s, ' ', sizeof s);
    memcpy(s, "Don't 3.14 x'' 1,a A.B \x80", 24);
    tok_block_read_plain(s, &b);
    /* D o n ' t: the apostrophe joins; "3.14" joins; "x''" does not;
     * "1,a" splits at the comma; "A.B" splits at the dot. */
    uint64_t want = 0x1full | 0xfull << 6 | 1ull << 11 | 1ull << 15 | 1ull << 17 |
                    1ull << 19 | 1ull << 21;
    cr_assert_eq(b.word, want, "word mask %llx, want %llx", (unsigned long long)b.word,
                 (unsigned long long)want);
    cr_assert_eq(b.high, 1ull << 23);
    cr_assert_eq(memcmp(b.lower, "don't", 5), 0);
    cr_assert_eq(b.lower[19], 'a');
}

Test(tok_block, words_across_block_edges)
{
    tok_tokenizer *fast = english_tokenizer(), *ref = english_tokenizer();
    char text[300];
    /* A word, an apostrophe or a decimal point at every offset around the
     * first block's end (bytes 60-66), and words of 61 to 66 letters. */
    static const char *pieces[] = {"rock'n'roll", "3.14159", "o'", "1,", "can't",
                                   "Sphinx", "x'y", "9.z"};
    for (size_t p = 0; p < sizeof pieces / sizeof *pieces; p++)
        for (size_t at = 50; at < 70; at++) {
            memset(text, ' ', sizeof text);
            memcpy(text + at, pieces[p], strlen(pieces[p]));
            for (size_t len = at + 1; len <= at + strlen(pieces[p]) + 2; len++)
                assert_same_tokens(fast, ref, text, len);
            assert_same_tokens(fast, ref, text, sizeof text);
        }
    for (size_t n = 58; n <= 70; n++)
        for (size_t at = 0; at < 4; at++) {
            memset(text, ' ', sizeof text);
            memset(text + at, 'q', n);
            assert_cut_and_whole(fast, ref, text, at + n, sizeof text);
        }
    tok_free(fast);
    tok_free(ref);
}

Test(tok_block, non_ascii_next_to_ascii_words)
{
    tok_tokenizer *fast = english_tokenizer(), *ref = english_tokenizer();
    /* An apostrophe before a non-ASCII letter joins it; a combining mark
     * continues the word before it; CJK becomes bigrams. */
    static const char *cases[] = {
        "the l'\xc3\xa9t\xc3\xa9 word", "cafe\xcc\x81 and caf\xc3\xa9",
        "John\xe2\x80\x99s book", "iPhone\xe6\x89\x8b\xe6\x9c\xba is", "soft\xc2\xadhyphen",
        "\xef\xbc\xa1\xef\xbc\xa2\xef\xbc\xa3 fullwidth"};
    char text[400];
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++)
        for (size_t at = 0; at < 80; at++) {
            memset(text, 'x', sizeof text);
            for (size_t k = 3; k < sizeof text; k += 7)
                text[k] = ' ';
            size_t n = strlen(cases[c]);
            memcpy(text + at, cases[c], n);
            assert_cut_and_whole(fast, ref, text, at + n, sizeof text);
        }
    tok_free(fast);
    tok_free(ref);
}

/* Random texts of the atoms, ASCII only in half of them, with long words,
 * at lengths around the block size. */
static void random_texts(tok_tokenizer *fast, tok_tokenizer *ref, const char *const *atoms,
                         size_t n_atoms, uint64_t seed)
{
    static const size_t lens[] = {1, 5, 30, 62, 63, 64, 65, 66, 127, 128, 129, 200, 700};
    char text[1024];
    for (int round = 0; round < 4000; round++) {
        size_t want = lens[next_rand(&seed) % (sizeof lens / sizeof *lens)], len = 0;
        int ascii_only = next_rand(&seed) % 2;
        while (len < want) {
            uint64_t r = next_rand(&seed);
            const char *a = atoms[r % n_atoms];
            size_t n = a[0] ? strlen(a) : 1;   /* "\0": a NUL byte in the text */
            if (r % 50 == 0) {                 /* a long word */
                n = 55 + (r >> 8) % 20;
                if (len + n > want)
                    break;
                memset(text + len, 'w', n);
                len += n;
                continue;
            }
            if (ascii_only && (unsigned char)a[0] >= 0x80)
                continue;
            if (len + n > want)
                break;
            memcpy(text + len, a, n);
            len += n;
        }
        assert_same_tokens(fast, ref, text, len);
    }
}

Test(tok_block, random_texts)
{
    tok_tokenizer *fast = english_tokenizer(), *ref = english_tokenizer();
    static const char *atoms[] = {
        "a", "Z", "0", "9", "'", ".", ",", " ", "-", "_", "\n", "'s", "\xe2\x80\x99",
        "\xc3\xa9", "\xe4\xb8\xad", "\xed\x95\x9c", "\xcc\x81", "\xc2\xad", "\xef\xbe\x9e",
        "\xc3\x9f", "the", "Stemming", "running", "1.5", "a'b", "x,y", "..", "''", "\x80",
        "\xff", "\0"};
    random_texts(fast, ref, atoms, sizeof atoms / sizeof *atoms, 12345);
    tok_free(fast);
    tok_free(ref);
}

/* Turkish folds I to ı (and İ to i), so its ASCII words with an I must
 * leave the blocks, whose lowercase makes it i; the apostrophe drops a
 * suffix. The atoms put I at every place in words and blocks. */
Test(tok_block, turkish_capital_i)
{
    tok_tokenizer *fast = language_tokenizer("turkish"), *ref = language_tokenizer("turkish");
    tok_list l;
    tok_list_init(&l);
    cr_assert_eq(tok_tokenize(fast, "ILIK su", 7, &l), 0);
    cr_assert(l.n >= 1 && strncmp(l.terms + l.tokens[0].term, "\xc4\xb1", 2) == 0,
              "ILIK must fold to \xc4\xb1l\xc4\xb1k, got %s", l.n ? l.terms + l.tokens[0].term : "");
    tok_list_free(&l);
    static const char *atoms[] = {
        "I", "i", "a", "Z", "0", " ", " ", "'", ".", ",", "\n", "ILIK", "Istanbul", "KITAP",
        "Ankara'da", "IIII", "xI", "Ix", "\xc4\xb0", "\xc4\xb1", "\xc3\xa7", "\xc5\x9f", "1.5",
        "evler", "\0"};
    random_texts(fast, ref, atoms, sizeof atoms / sizeof *atoms, 777);
    tok_free(fast);
    tok_free(ref);
}
