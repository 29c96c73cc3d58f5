/*
 * test_fuzz_model_file.c — the model-file fuzzer's seeds, and mutants of
 * them, replayed under ASan and UBSan with every test run
 * (tests/test_fuzz_seeds.h says why and how).
 *
 * fuzz/fuzz_model_file.c parses its input as a model file (its first byte
 * even: with the checksum recomputed, so the structure itself meets the
 * checks), walks what it accepts, tokenizes with its vocabulary and runs
 * the USE-lite encoder when the dimensions are small; it aborts when a
 * refusal does not name what is wrong or a token id leaves the
 * vocabulary. The seeds must still be files the parser accepts, or the
 * fuzzer would start from nothing; and the mutants must land on both
 * sides, accepted and refused, or they test only one of them.
 */
#include <criterion/criterion.h>
#include <dirent.h>

#include "../fuzz/fuzz_model_file.c"
#include "test_fuzz_seeds.h"

#define MUTANTS 400

/* Whether the parser accepts input as the fuzz target reads it. */
static int target_accepts(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t n = size - 1;
    uint8_t *buf = aligned_alloc(64, (n + 63) / 64 * 64 + 64);
    cr_assert_not_null(buf);
    memcpy(buf, data + 1, n);
    if ((data[0] & 1) == 0 && n >= MODEL_FILE_CHECKSUM_OFFSET + 8) {
        uint64_t h = model_file_hash(buf, n);
        memcpy(buf + MODEL_FILE_CHECKSUM_OFFSET, &h, 8);
    }
    char err[256];
    model_file *m = model_file_parse(buf, n, "seed", err, sizeof err);
    model_file_close(m);
    free(buf);
    return m != NULL;
}

Test(fuzz_model_file, seeds_and_their_mutants_replay_clean)
{
    const char *dir = "fuzz/corpus/model_file";
    DIR *d = opendir(dir);
    cr_assert_not_null(d, "%s: run from the repository root", dir);
    size_t seeds = 0, accepted = 0, refused = 0;
    uint64_t rng = 0x9E3779B97F4A7C15ull;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.')
            continue;
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        size_t n;
        uint8_t *seed = seed_read(path, &n);
        cr_assert_not_null(seed, "%s", path);
        cr_assert(target_accepts(seed, n), "%s: the parser no longer accepts this seed", path);
        cr_assert_eq(LLVMFuzzerTestOneInput(seed, n), 0, "%s", path);
        uint8_t *m = malloc(n);
        cr_assert_not_null(m);
        for (unsigned k = 0; k < MUTANTS; k++) {
            size_t len = seed_mutant(seed, n, k, MUTANTS, &rng, m);
            if (target_accepts(m, len))
                accepted++;
            else
                refused++;
            cr_assert_eq(LLVMFuzzerTestOneInput(m, len), 0, "%s, mutant %u", path, k);
        }
        free(m);
        free(seed);
        seeds++;
    }
    closedir(d);
    cr_assert_geq(seeds, 2, "only %zu seeds in %s", seeds, dir);
    cr_assert_gt(accepted, 0, "no mutant was accepted: only the refusals were tested");
    cr_assert_gt(refused, 0, "no mutant was refused: the checks were not reached");
}
