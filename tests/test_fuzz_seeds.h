/*
 * test_fuzz_seeds.h — what the tests that replay a fuzz target share: a
 * file read whole, and the mutants a seed is replayed with.
 *
 * `make fuzz` needs clang's libFuzzer and minutes, so CI does not run it.
 * A test instead compiles one fuzz target in (each defines
 * LLVMFuzzerTestOneInput, so one target per test binary) and feeds it its
 * seeds and a fixed set of mutants of them under ASan and UBSan: cut short
 * at spread-out lengths, and with a few bytes overwritten at positions a
 * seeded generator picks. The generator is fixed, so a failure replays the
 * same way; what a mutant reaches is the target's to check (its abort()s)
 * and the sanitizers'.
 */
#ifndef LCTX_TEST_FUZZ_SEEDS_H
#define LCTX_TEST_FUZZ_SEEDS_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The whole file at path, malloc'd, its length in *len; NULL if unreadable. */
static uint8_t *seed_read(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    uint8_t *buf = NULL;
    long n = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    if (n >= 0 && fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1)) &&
        fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *len = buf ? (size_t)n : 0;
    return buf;
}

/* xorshift64: the mutants' positions and bytes. */
static uint64_t seed_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Mutant k of seed[0..n) into out (room for n bytes); returns its length.
 * Even k: the seed cut to a length spread over the whole seed (k / 2 of
 * `count / 2` steps), byte 0 (the targets' mode byte) always kept. Odd k:
 * the whole seed with one to four bytes past byte 0 overwritten, half of
 * them in its first 64 bytes, where the formats keep their headers. */
static size_t seed_mutant(const uint8_t *seed, size_t n, unsigned k, unsigned count,
                          uint64_t *rng, uint8_t *out)
{
    memcpy(out, seed, n);
    if (n < 2)
        return n;
    if (k % 2 == 0) {
        unsigned steps = count / 2 ? count / 2 : 1;
        return 1 + (size_t)((n - 1) * (uint64_t)(k / 2) / steps);
    }
    int flips = 1 + (int)(seed_next(rng) % 4);
    for (int i = 0; i < flips; i++) {
        size_t span = (seed_next(rng) & 1) && n > 65 ? 64 : n - 1;
        out[1 + seed_next(rng) % span] = (uint8_t)seed_next(rng);
    }
    return n;
}

#endif
