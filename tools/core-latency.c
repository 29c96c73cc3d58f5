/*
 * core-latency.c — what it costs two cores of this machine to hand each
 * other one cache line.
 *
 * Indexing runs on two threads (indexer/write_worker.c), and every byte one
 * of them writes and the other reads crosses between their caches: queued
 * documents, queue counters, the worker's postings read at the commit. How
 * much a design may hand over depends on what one crossing costs, which on
 * a virtual machine depends on where the host put its two virtual CPUs
 * (one core's two hyperthreads, one chiplet, or two). docs/ARCHITECTURE.md
 * quotes this program's figure for the development VM.
 *
 * Two threads bounce one counter: each waits for the other's increment,
 * then adds its own, so every round trip moves the line there and back.
 * It prints the mean round trip over 2 million of them, three times. First
 * it times a loop of multiplies alone and then on both threads at once:
 * if the two CPUs were hyperthreads of one core, each would run it about
 * a third slower beside the other.
 *
 * Build and run: cc -O2 -pthread -o /tmp/core-latency tools/core-latency.c
 *                && /tmp/core-latency
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#define ROUND_TRIPS 2000000L

/* The line that travels; alone in its cache line. */
static _Alignas(64) _Atomic long ball;

static double now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

/* The other side: waits for each odd value and answers with the even one. */
static void *answer(void *arg)
{
    (void)arg;
    for (long i = 0; i < ROUND_TRIPS; i++) {
        while (atomic_load_explicit(&ball, memory_order_acquire) != 2 * i + 1)
            ;
        atomic_store_explicit(&ball, 2 * i + 2, memory_order_release);
    }
    return NULL;
}

/* A loop of dependent multiplies; its time in ms goes to *(double *)arg. */
static void *compute(void *arg)
{
    double t0 = now_ns();
    uint64_t x = 1;
    for (long i = 0; i < 300000000L; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        x ^= x >> 17;
    }
    *(double *)arg = (now_ns() - t0) / 1e6 + (double)(x & 1) * 1e-9;
    return NULL;
}

int main(void)
{
    double alone, both[2];
    pthread_t c[2];
    compute(&alone);
    if (pthread_create(&c[0], NULL, compute, &both[0]) ||
        pthread_create(&c[1], NULL, compute, &both[1])) {
        fprintf(stderr, "core-latency: cannot start a thread\n");
        return 1;
    }
    pthread_join(c[0], NULL);
    pthread_join(c[1], NULL);
    printf("compute loop: alone %.0f ms, two at once %.0f and %.0f ms\n", alone, both[0],
           both[1]);
    for (int run = 0; run < 3; run++) {
        pthread_t t;
        atomic_store(&ball, 0);
        if (pthread_create(&t, NULL, answer, NULL)) {
            fprintf(stderr, "core-latency: cannot start a thread\n");
            return 1;
        }
        double t0 = now_ns();
        for (long i = 0; i < ROUND_TRIPS; i++) {
            atomic_store_explicit(&ball, 2 * i + 1, memory_order_release);
            while (atomic_load_explicit(&ball, memory_order_acquire) != 2 * i + 2)
                ;
        }
        double ns = (now_ns() - t0) / (double)ROUND_TRIPS;
        pthread_join(t, NULL);
        printf("round trip %.0f ns (one way about %.0f ns)\n", ns, ns / 2);
    }
    return 0;
}
