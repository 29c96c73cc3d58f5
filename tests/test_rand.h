/*
 * test_rand.h — xorshift32, the pseudo-random numbers of the tests that
 * generate corpora: the same sequence from a seed on every machine, so a
 * failure names a case anyone can run again. Header-only, for Criterion
 * test files.
 */
#ifndef LCTX_TEST_RAND_H
#define LCTX_TEST_RAND_H

static inline unsigned next_rand(unsigned *seed)
{
    unsigned x = *seed;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *seed = x;
}

#endif
