/*
 * test_fuzz_corpus.c — the query fuzzer's seed corpus, replayed under ASan
 * and UBSan with every test run.
 *
 * `make fuzz` needs clang's libFuzzer and minutes, so CI does not run it;
 * a change that broke a fuzz target's build, or made one of its seeds
 * (each a case that once mattered) crash or fail the target's own checks,
 * would go unseen until the next fuzzing session. So fuzz/fuzz_query.c's
 * LLVMFuzzerTestOneInput is compiled into this test and every file of
 * fuzz/corpus/query goes through it: a sanitizer report or the target's
 * abort() fails the test, and so does finding too few seeds. (Each fuzz
 * target defines the same symbol, so each has a test binary of its own:
 * test_fuzz_model_file.c and test_fuzz_safetensors.c, which also replay
 * mutants of their seeds.)
 */
#include <criterion/criterion.h>
#include <dirent.h>

#include "../fuzz/fuzz_query.c"

Test(fuzz_corpus, query_seeds_replay_clean)
{
    const char *dir = "fuzz/corpus/query";
    DIR *d = opendir(dir);
    cr_assert_not_null(d, "%s: run from the repository root", dir);
    size_t replayed = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.')
            continue;
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "rb");
        cr_assert_not_null(f, "%s", path);
        uint8_t buf[4096];
        size_t n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        cr_assert_eq(LLVMFuzzerTestOneInput(buf, n), 0, "%s", path);
        replayed++;
    }
    closedir(d);
    cr_assert_geq(replayed, 40, "only %zu seeds in %s", replayed, dir);
}
