/*
 * test_tok_same.c — the short-term helpers behind the tokenizer's word cache
 * and the postings builder's term table (indexer.h): tok_load_short against
 * memcpy, tok_same against memcmp, with a difference at every byte of every
 * length, and tok_hash's independence of where the bytes sit in memory.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "indexer/indexer.h"

Test(tok_same, load_short_is_the_bytes_in_order)
{
    char buf[16];
    for (size_t n = 1; n < 8; n++)
        for (int round = 0; round < 200; round++) {
            for (size_t i = 0; i < sizeof buf; i++)
                buf[i] = (char)(rand() & 0xff);
            uint64_t want = 0;
            for (size_t i = 0; i < n; i++)   /* byte i is bits 8i..8i+7 */
                want |= (uint64_t)(unsigned char)buf[3 + i] << (8 * i);
            cr_assert_eq(tok_load_short(buf + 3, n), want, "n %zu", n);
        }
}

Test(tok_same, agrees_with_memcmp_at_every_length_and_byte)
{
    char a[48], b[48];
    srand(77);
    for (size_t n = 0; n <= 40; n++) {
        for (size_t i = 0; i < n; i++)
            a[i] = (char)('a' + rand() % 26);
        memcpy(b, a, n);
        cr_assert(tok_same(a, b, n), "equal, length %zu", n);
        for (size_t at = 0; at < n; at++) {
            memcpy(b, a, n);
            b[at] = (char)(b[at] ^ (1 << (rand() % 8)));
            cr_assert_not(tok_same(a, b, n), "differ at %zu, length %zu", at, n);
            cr_assert_not(tok_same(b, a, n), "differ at %zu, length %zu (swapped)", at, n);
        }
    }
}

Test(tok_same, hash_depends_on_the_bytes_not_their_address)
{
    char x[64], y[80];
    for (size_t n = 0; n <= 40; n++) {
        for (size_t i = 0; i < n; i++)
            x[i] = (char)(rand() & 0xff);
        for (size_t off = 0; off < 8; off++) {
            memset(y, 0x5a, sizeof y);   /* different bytes around the copy */
            memcpy(y + off, x, n);
            cr_assert_eq(tok_hash(x, n), tok_hash(y + off, n), "length %zu offset %zu", n, off);
        }
    }
    /* and on them: a changed byte changes the hash for these inputs */
    memcpy(x, "stemming", 8);
    memcpy(y, "stemminh", 8);
    for (size_t n = 1; n <= 8; n++)
        cr_assert_eq(tok_hash(x, n) == tok_hash(y, n), n < 8, "length %zu", n);
}
