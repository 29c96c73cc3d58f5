/*
 * fault-cost.c — what touching fresh memory costs on this machine: 2 MiB of
 * an anonymous mapping touched once per 4 KiB page, as 512 small pages and
 * as one transparent huge page (MADV_HUGEPAGE), 30 times each, averaged.
 *
 * The write path allocates megabytes of short-lived tables per batch, and
 * under virtualisation a page fault can cost far more than the zeroing it
 * stands for; docs/ARCHITECTURE.md quotes this program's figures for the
 * development VM. Build and run: cc -O2 -o /tmp/fault-cost tools/fault-cost.c
 * && /tmp/fault-cost
 */
#define _DEFAULT_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <time.h>

#define MIB2 ((size_t)2 << 20)

static double now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

/* Microseconds to touch a fresh, 2 MiB-aligned 2 MiB region, or -1. */
static double touch_once(int huge)
{
    char *p = mmap(NULL, 2 * MIB2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return -1;
    char *q = (char *)(((uintptr_t)p + MIB2 - 1) & ~(uintptr_t)(MIB2 - 1));
    if (huge)
        madvise(q, MIB2, MADV_HUGEPAGE);
    double t0 = now_us();
    for (size_t i = 0; i < MIB2; i += 4096)
        q[i] = 1;
    double t = now_us() - t0;
    munmap(p, 2 * MIB2);
    return t;
}

int main(void)
{
    for (int huge = 0; huge < 2; huge++) {
        double sum = 0;
        for (int r = 0; r < 30; r++) {
            double t = touch_once(huge);
            if (t < 0) {
                perror("mmap");
                return 1;
            }
            sum += t;
        }
        printf("%-28s %8.0f us per 2 MiB touched\n",
               huge ? "one huge page (MADV_HUGEPAGE)" : "512 pages of 4 KiB", sum / 30);
    }
    return 0;
}
