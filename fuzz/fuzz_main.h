/*
 * fuzz_main.h — a main() for running a fuzz target without libFuzzer.
 *
 * Built with -DFUZZ_STANDALONE, a target reads each file named on the
 * command line and hands its bytes to LLVMFuzzerTestOneInput once: the way
 * to replay a crash-* file under a debugger or a plain compiler. Included
 * at the end of each target, after its LLVMFuzzerTestOneInput.
 */
#ifndef LCTX_FUZZ_MAIN_H
#define LCTX_FUZZ_MAIN_H

#ifdef FUZZ_STANDALONE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        if (!f)
            continue;
        fseek(f, 0, SEEK_END);
        long n = ftell(f);
        fseek(f, 0, SEEK_SET);
        uint8_t *buf = malloc(n > 0 ? (size_t)n : 1);
        if (buf && fread(buf, 1, (size_t)n, f) == (size_t)n)
            LLVMFuzzerTestOneInput(buf, (size_t)n);
        free(buf);
        fclose(f);
    }
    return 0;
}
#endif

#endif
