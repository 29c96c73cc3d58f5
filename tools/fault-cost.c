/*
 * fault-cost.c — what touching fresh memory costs on this machine.
 *
 * The write path allocates megabytes of short-lived tables per batch, and
 * under virtualisation a page fault can cost far more than the zeroing it
 * stands for; docs/ARCHITECTURE.md quotes this program's figures for the
 * development VM. Three ways to get 2 MiB of anonymous memory ready:
 *
 *   4k-touch     512 pages of 4 KiB, each faulted in by a first write;
 *   4k-populate  the same pages filled in by one MADV_POPULATE_WRITE call
 *                (Linux 5.14+), no fault per page;
 *   huge-touch   one transparent huge page (MADV_HUGEPAGE), one fault.
 *
 * each measured twice: "reused", mapping and unmapping the same 2 MiB 30
 * times (the kernel hands back memory it just freed), and "fresh", twelve
 * 2 MiB regions of one new mapping in turn (the kernel must find new
 * memory, which a hypervisor that takes back a guest's free pages has to
 * supply again). Medians, in microseconds per 2 MiB.
 *
 * Build and run: cc -O2 -o /tmp/fault-cost tools/fault-cost.c && /tmp/fault-cost
 */
#define _DEFAULT_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#define MIB2 ((size_t)2 << 20)
#define FRESH 12
#define REUSED 30

enum { TOUCH_4K, POPULATE_4K, TOUCH_HUGE };
static const char *const names[] = {"4k-touch", "4k-populate", "huge-touch"};

static double now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* n regions of 2 MiB, 2 MiB aligned, advised for the mode; NULL on failure.
 * *map and *len get what to unmap. */
static char *regions(size_t n, int mode, char **map, size_t *len)
{
    *len = (n + 1) * MIB2;
    *map = mmap(NULL, *len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (*map == MAP_FAILED)
        return NULL;
    char *q = (char *)(((uintptr_t)*map + MIB2 - 1) & ~(uintptr_t)(MIB2 - 1));
    madvise(q, n * MIB2, mode == TOUCH_HUGE ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
    return q;
}

/* Microseconds to make the 2 MiB at q ready in the given mode, or -1. */
static double ready(char *q, int mode)
{
    double t0 = now_us();
    if (mode == POPULATE_4K) {
        if (madvise(q, MIB2, MADV_POPULATE_WRITE))
            return -1;
    } else {
        for (size_t i = 0; i < MIB2; i += 4096)
            q[i] = 1;
    }
    return now_us() - t0;
}

static double median(double *t, size_t n)
{
    qsort(t, n, sizeof *t, cmp_double);
    return n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
}

int main(void)
{
    printf("%-12s %10s %10s   (us per 2 MiB, median)\n", "mode", "reused", "fresh");
    for (int mode = TOUCH_4K; mode <= TOUCH_HUGE; mode++) {
        double reused[REUSED], fresh[FRESH];
        char *map, *q;
        size_t len;
        for (int r = 0; r < REUSED; r++) {
            if (!(q = regions(1, mode, &map, &len)) || (reused[r] = ready(q, mode)) < 0) {
                perror(names[mode]);
                return 1;
            }
            munmap(map, len);
        }
        if (!(q = regions(FRESH, mode, &map, &len))) {
            perror("mmap");
            return 1;
        }
        for (int r = 0; r < FRESH; r++)
            if ((fresh[r] = ready(q + (size_t)r * MIB2, mode)) < 0) {
                perror(names[mode]);
                return 1;
            }
        munmap(map, len);
        printf("%-12s %10.0f %10.0f\n", names[mode], median(reused, REUSED), median(fresh, FRESH));
    }
    return 0;
}
