/*
 * test_fuzz_safetensors.c — the BERT model-file fuzzer's inputs, and
 * mutants of them, replayed under ASan and UBSan with every test run
 * (tests/test_fuzz_seeds.h says why and how).
 *
 * fuzz/fuzz_safetensors.c reads its first byte as a mode: 0 parses the
 * rest as safetensors and widens every tensor it accepts, 1 loads it as a
 * tokenizer.json and tokenizes with it, 2 reads it as a model folder's
 * config.json and modules.json. Its seeds are the test fixtures of
 * tests/data/bert, each behind its mode byte, so they stay in step with
 * what the loaders accept: each must still be accepted, and the mutants of
 * the two parsers whose outcome the test can see must land on both sides,
 * accepted and refused.
 */
#include <criterion/criterion.h>

#include "../fuzz/fuzz_safetensors.c"
#include "test_fuzz_seeds.h"

#define MUTANTS 120

/* mode byte + the file at path */
static uint8_t *seed_with_mode(const char *path, uint8_t mode, size_t *len)
{
    size_t n;
    uint8_t *file = seed_read(path, &n);
    cr_assert_not_null(file, "%s: run from the repository root", path);
    uint8_t *seed = malloc(n + 1);
    cr_assert_not_null(seed);
    seed[0] = mode;
    memcpy(seed + 1, file, n);
    free(file);
    *len = n + 1;
    return seed;
}

/* Whether the parser of input's mode accepts it (modes 0 and 1; the
 * target's NUL-terminated copy, as it makes one). */
static int target_accepts(const uint8_t *data, size_t size)
{
    char err[256];
    uint8_t *copy = malloc(size);
    cr_assert_not_null(copy);
    memcpy(copy, data + 1, size - 1);
    copy[size - 1] = 0;
    int ok;
    if (data[0] % 3 == 0) {
        safetensors *st = safetensors_parse(copy, size - 1, "seed", err, sizeof err);
        ok = st != NULL;
        safetensors_close(st);
    } else {
        char path[] = "/tmp/lctx-test-tokenizer-XXXXXX";
        int fd = mkstemp(path);
        cr_assert_geq(fd, 0);
        cr_assert_eq(write(fd, copy, size - 1), (ssize_t)(size - 1));
        close(fd);
        wordpiece *w = hf_tokenizer_json(path, err, sizeof err);
        unlink(path);
        ok = w != NULL;
        wordpiece_free(w);
    }
    free(copy);
    return ok;
}

/* The seed, then its mutants; the accepted and refused among them. */
static void replay(const uint8_t *seed, size_t n, unsigned count, size_t *accepted,
                   size_t *refused)
{
    uint64_t rng = 0xD1B54A32D192ED03ull;
    uint8_t *m = malloc(n);
    cr_assert_not_null(m);
    cr_assert_eq(LLVMFuzzerTestOneInput(seed, n), 0);
    for (unsigned k = 0; k < count; k++) {
        size_t len = seed_mutant(seed, n, k, count, &rng, m);
        if (accepted && target_accepts(m, len))
            (*accepted)++;
        else if (refused)
            (*refused)++;
        cr_assert_eq(LLVMFuzzerTestOneInput(m, len), 0, "mode %d, mutant %u", seed[0], k);
    }
    free(m);
}

/* The fixture at path behind mode byte `mode`: accepted itself, and its
 * mutants on both sides (`what` is what an accepted one goes on to test). */
static void replay_both_sides(const char *path, uint8_t mode, const char *what)
{
    size_t n, accepted = 0, refused = 0;
    uint8_t *seed = seed_with_mode(path, mode, &n);
    cr_assert(target_accepts(seed, n), "%s: the parser no longer accepts the fixture", path);
    replay(seed, n, MUTANTS, &accepted, &refused);
    free(seed);
    cr_assert_gt(accepted, 0, "%s: no mutant was accepted: %s was not tested", path, what);
    cr_assert_gt(refused, 0, "%s: no mutant was refused: the checks were not reached", path);
}

Test(fuzz_safetensors, safetensors_seed_and_mutants_replay_clean)
{
    replay_both_sides("tests/data/bert/cross/model.safetensors", 0, "the widening");
}

Test(fuzz_safetensors, tokenizer_json_seed_and_mutants_replay_clean)
{
    replay_both_sides("tests/data/bert/bge/tokenizer.json", 1, "tokenizing");
}

Test(fuzz_safetensors, config_seeds_and_mutants_replay_clean)
{
    hf_bert_config cfg;
    char err[256];
    cr_assert_eq(hf_read_bert_config("tests/data/bert/bge", &cfg, err, sizeof err), 0, "%s",
                 err);
    const char *files[] = {"tests/data/bert/bge/config.json", "tests/data/bert/bge/modules.json"};
    for (size_t i = 0; i < 2; i++) {
        size_t n;
        uint8_t *seed = seed_with_mode(files[i], 2, &n);
        replay(seed, n, MUTANTS, NULL, NULL);
        free(seed);
    }
}
