/*
 * test_postings_codec.c — postings blocks round-trip through the codec, and
 * malformed blocks are rejected rather than misread.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "store/store.h"

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}

Test(postings, roundtrip_random)
{
    store_posting in[STORE_BLOCK], out[STORE_BLOCK];
    uint8_t buf[PBLOCK_MAX_BYTES];
    for (int iter = 0; iter < 2000; iter++) {
        size_t n = 1 + rnd() % STORE_BLOCK;
        uint32_t c = rnd() % 1000;
        int big = iter % 7 == 0; /* huge gaps and frequencies */
        for (size_t i = 0; i < n; i++) {
            c += 1 + (big ? rnd() % 30000000 : rnd() % 40);
            in[i].chunk = c;
            in[i].tf_text = big ? rnd() % (1u << 31) : rnd() % 5; /* codec limit: tf < 2^31 */
            in[i].tf_title = rnd() % 3 == 0 ? 1 + rnd() % (big ? 1000000 : 3) : 0;
            if (!in[i].tf_text && !in[i].tf_title)
                in[i].tf_text = 1;
        }
        size_t len = pblock_encode(in, n, 3.5f, 17, buf);
        cr_assert_leq(len, sizeof buf);
        pblock_header h;
        cr_assert_eq(pblock_decode(buf, len, &h, out), 0, "iteration %d", iter);
        cr_assert_eq(h.count, n);
        cr_assert_eq(h.first, in[0].chunk);
        cr_assert_float_eq(h.max_tf, 3.5f, 0);
        cr_assert_eq(h.min_len, 17);
        for (size_t i = 0; i < n; i++) {
            cr_assert_eq(out[i].chunk, in[i].chunk);
            cr_assert_eq(out[i].tf_text, in[i].tf_text);
            cr_assert_eq(out[i].tf_title, in[i].tf_title);
        }
        /* every strict prefix is malformed */
        size_t cut = rnd() % len;
        cr_assert_eq(pblock_decode(buf, cut, &h, out), -1, "prefix %zu of %zu", cut, len);
    }
}

Test(postings, common_entry_is_small)
{
    store_posting in[STORE_BLOCK];
    for (uint32_t i = 0; i < STORE_BLOCK; i++)
        in[i] = (store_posting){1000 + 3 * i, 1, 0};
    uint8_t buf[PBLOCK_MAX_BYTES];
    size_t len = pblock_encode(in, STORE_BLOCK, 1, 10, buf);
    /* header (<= 12 bytes) + two bytes per entry */
    cr_assert_leq(len, 12 + 2 * STORE_BLOCK);
}

Test(postings, malformed)
{
    pblock_header h;
    store_posting out[STORE_BLOCK];
    uint8_t zero_count[] = {0, 1, 0, 0, 0, 0, 1, 2};
    cr_assert_eq(pblock_decode(zero_count, sizeof zero_count, &h, out), -1);
    uint8_t too_many[] = {0x81, 0x01, 1, 0, 0, 0, 0, 1};
    cr_assert_eq(pblock_header_read(too_many, sizeof too_many, &h), -1);
    uint8_t overlong[] = {1, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    cr_assert_eq(pblock_header_read(overlong, sizeof overlong, &h), -1);
    store_posting two[2] = {{5, 1, 0}, {9, 2, 1}};
    uint8_t buf[64];
    size_t len = pblock_encode(two, 2, 3, 4, buf);
    buf[len] = 0;
    cr_assert_eq(pblock_decode(buf, len + 1, &h, out), -1, "trailing bytes");
    cr_assert_eq(pblock_decode(buf, len, &h, out), 0);
    /* a zero delta (duplicate chunk) is rejected */
    store_posting dup[2] = {{5, 1, 0}, {5, 1, 0}};
    len = pblock_encode(dup, 2, 1, 1, buf);
    cr_assert_eq(pblock_decode(buf, len, &h, out), -1);
}

Test(postings, keys_sort_by_term_then_chunk)
{
    uint8_t a[8], b[8], c[8];
    pblock_key(a, 1, 0xffffffffu);
    pblock_key(b, 2, 0);
    pblock_key(c, 2, 300);
    cr_assert_lt(memcmp(a, b, 8), 0);
    cr_assert_lt(memcmp(b, c, 8), 0);
    uint32_t t, l;
    pblock_key_parse(c, &t, &l);
    cr_assert_eq(t, 2);
    cr_assert_eq(l, 300);
}

Test(postings, tf_bound_rounds_up)
{
    for (int i = 0; i < 1000; i++) {
        double tf = (rnd() % 1000) + (rnd() % 1000) * 0.3;
        cr_assert_geq((double)kv_tf_bound(tf), tf);
    }
}
