/*
 * bench-phases.c — where the time of one BM25 build goes: open, add,
 * commit, close, each as wall time and as CPU time of the whole process
 * (all threads), medians over repeated builds.
 *
 * bench-bm25 gives one number per build, which is what the brief's target
 * is about; this one splits it, which is what tuning needs. The add phase
 * runs on two threads (the caller's SQLite inserts, the worker's
 * tokenizing), so its CPU time over its wall time says how busy both
 * cores were; the commit's wall time mostly waits for the disk. Builds go
 * into a fresh folder each, as bench-bm25's do, through include/lctx.h
 * alone.
 *
 * usage: bench-phases --corpus corpus.jsonl --dir WORKDIR [--builds 9] [--json] [--each]
 * --each prints every build on stderr, its phases and their page faults
 * (minor faults, and of those the transparent huge pages the kernel
 * faulted in, from /proc/vmstat, -1 where it cannot be read): the first
 * builds of a process are slower (fresh memory) than the later ones, and
 * bench-bm25 reports the median of five.
 * With OPENBLAS_NUM_THREADS=1, as every lctx benchmark (docs/ARCHITECTURE.md).
 * Compare two builds of the library by alternating the two programs, several
 * rounds each: the machine's speed drifts by a tenth within minutes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "lctx.h"

#include "bm25_common.h"

enum { PH_OPEN, PH_ADD, PH_COMMIT, PH_CLOSE, PH_N };
static const char *const phase_names[PH_N] = {"open", "add", "commit", "close"};

static double cpu_seconds(void)
{
    struct rusage r;
    getrusage(RUSAGE_SELF, &r);
    return (double)r.ru_utime.tv_sec + (double)r.ru_stime.tv_sec +
           1e-6 * (double)(r.ru_utime.tv_usec + r.ru_stime.tv_usec);
}

/* First touches of fresh memory, which cost about 10 us each on the
 * development VM (tools/fault-cost.c): --each prints them per phase. */
static long minflt(void)
{
    struct rusage r;
    getrusage(RUSAGE_SELF, &r);
    return r.ru_minflt;
}

/* Huge pages faulted in by the whole machine (thp_fault_alloc), or -1:
 * each costs zeroing 2 MiB, and far more when the hypervisor has to back
 * that memory again. Other processes count too: read it on an otherwise
 * idle machine. */
static long huge_faults(void)
{
    FILE *f = fopen("/proc/vmstat", "r");
    if (!f)
        return -1;
    char key[64];
    long v, n = -1;
    while (fscanf(f, "%63s %ld", key, &v) == 2)
        if (!strcmp(key, "thp_fault_alloc")) {
            n = v;
            break;
        }
    fclose(f);
    return n;
}

static void check(lctx_db *db, int rc, const char *what)
{
    if (rc != LCTX_OK)
        bm25_die("%s: %s: %s", what, lctx_strstatus(rc), db ? lctx_errmsg(db) : "");
}

/* The state of the process between two phases. Reading the huge page
 * count parses /proc/vmstat, tens of microseconds, so it happens only for
 * --each and between an end mark and a start mark, outside both phases. */
typedef struct mark {
    double wall_end, cpu_end;      /* where the phase before ended */
    long flt_end;
    long huge;                     /* -1: not read */
    double wall_start, cpu_start;  /* where the phase after starts */
    long flt_start;
} mark;

static void take_mark(mark *m, int each)
{
    m->wall_end = bm25_now();
    m->cpu_end = cpu_seconds();
    m->flt_end = minflt();
    m->huge = each ? huge_faults() : -1;
    m->flt_start = minflt();
    m->cpu_start = cpu_seconds();
    m->wall_start = bm25_now();
}

/* One build into dir; wall[p] and cpu[p] get each phase's seconds, flt[p]
 * its minor page faults, huge[p] its huge page faults (-1: not counted). */
static void build(const char *dir, const bm25_doc *docs, size_t n, int each, double *wall,
                  double *cpu, long *flt, long *huge)
{
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/bench.lctx", dir) >= (int)sizeof path)
        bm25_die("%s: path too long", dir);
    lctx_db *db = NULL;
    mark m[PH_N + 1];
    take_mark(&m[0], each);
    check(db, lctx_open(path, LCTX_OPEN_CREATE, NULL, &db), path);
    check(db, lctx_begin(db), "begin");
    take_mark(&m[1], each);
    for (size_t i = 0; i < n; i++) {
        if (docs[i].title_len == 0 && docs[i].text_len == 0)
            continue;
        lctx_doc d;
        memset(&d, 0, sizeof d);
        d.id = docs[i].id;
        d.title = docs[i].title_len ? docs[i].title : NULL;
        d.text = docs[i].text;
        d.text_len = docs[i].text_len;
        check(db, lctx_add(db, &d), docs[i].id);
    }
    take_mark(&m[2], each);
    check(db, lctx_commit(db, NULL), "commit");
    take_mark(&m[3], each);
    check(NULL, lctx_close(db), "close");
    take_mark(&m[4], each);
    for (int p = 0; p < PH_N; p++) {
        wall[p] = m[p + 1].wall_end - m[p].wall_start;
        cpu[p] = m[p + 1].cpu_end - m[p].cpu_start;
        flt[p] = m[p + 1].flt_end - m[p].flt_start;
        huge[p] = m[p].huge < 0 || m[p + 1].huge < 0 ? -1 : m[p + 1].huge - m[p].huge;
    }
}

int main(int argc, char **argv)
{
    const char *corpus = NULL, *dir = NULL;
    int builds = 9, json = 0, each = 0;
    bm25_prog = "bench-phases";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--corpus") && i + 1 < argc)
            corpus = argv[++i];
        else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
            dir = argv[++i];
        else if (!strcmp(argv[i], "--builds") && i + 1 < argc && bm25_posint(argv[i + 1], &builds) == 0)
            i++;
        else if (!strcmp(argv[i], "--json"))
            json = 1;
        else if (!strcmp(argv[i], "--each"))
            each = 1;
        else
            bm25_die("usage: bench-phases --corpus corpus.jsonl --dir WORKDIR [--builds N] [--json] [--each]");
    }
    if (!corpus || !dir)
        bm25_die("usage: bench-phases --corpus corpus.jsonl --dir WORKDIR [--builds N] [--json] [--each]");
    size_t n;
    bm25_doc *docs = bm25_load_docs(corpus, &n);
    bm25_prepare_dir(dir);
    double *wall = bm25_xmalloc(sizeof *wall * PH_N * (size_t)builds);
    double *cpu = bm25_xmalloc(sizeof *cpu * PH_N * (size_t)builds);
    double *total = bm25_xmalloc(sizeof *total * (size_t)builds);
    for (int b = 0; b < builds; b++) {
        char sub[PATH_MAX];
        if (snprintf(sub, sizeof sub, "%s/build-%d", dir, b + 1) >= (int)sizeof sub)
            bm25_die("%s: path too long", dir);
        bm25_prepare_dir(sub);
        double w[PH_N], c[PH_N];
        long f[PH_N], hp[PH_N];
        build(sub, docs, n, each, w, c, f, hp);
        total[b] = 0;
        for (int p = 0; p < PH_N; p++) {
            wall[p * builds + b] = w[p];
            cpu[p * builds + b] = c[p];
            total[b] += w[p];
        }
        if (each)
            fprintf(stderr, "build %d: %.2f ms (open %.2f add %.2f commit %.2f close %.2f)\n"
                    "   faults open %ld add %ld commit %ld close %ld"
                    " (huge pages open %ld add %ld commit %ld close %ld)\n", b + 1,
                    1e3 * total[b], 1e3 * w[0], 1e3 * w[1], 1e3 * w[2], 1e3 * w[3], f[0], f[1],
                    f[2], f[3], hp[0], hp[1], hp[2], hp[3]);
    }
    /* Medians phase by phase (they need not add up to the median total). */
    double mw[PH_N], mc[PH_N];
    for (int p = 0; p < PH_N; p++) {
        qsort(wall + p * builds, (size_t)builds, sizeof *wall, bm25_cmp_double);
        qsort(cpu + p * builds, (size_t)builds, sizeof *cpu, bm25_cmp_double);
        mw[p] = bm25_quantile(wall + p * builds, (size_t)builds, 0.5);
        mc[p] = bm25_quantile(cpu + p * builds, (size_t)builds, 0.5);
    }
    qsort(total, (size_t)builds, sizeof *total, bm25_cmp_double);
    double mt = bm25_quantile(total, (size_t)builds, 0.5);
    if (json) {
        printf("{\"corpus\":\"%s\",\"docs\":%zu,\"builds\":%d,\"total_ms\":%.2f", corpus, n,
               builds, 1e3 * mt);
        for (int p = 0; p < PH_N; p++)
            printf(",\"%s_ms\":%.2f,\"%s_cpu_ms\":%.2f", phase_names[p], 1e3 * mw[p],
                   phase_names[p], 1e3 * mc[p]);
        printf("}\n");
    } else {
        printf("%zu documents, median of %d builds: %.2f ms\n", n, builds, 1e3 * mt);
        printf("%-8s %10s %10s\n", "phase", "wall ms", "cpu ms");
        for (int p = 0; p < PH_N; p++)
            printf("%-8s %10.2f %10.2f\n", phase_names[p], 1e3 * mw[p], 1e3 * mc[p]);
    }
    free(wall);
    free(cpu);
    free(total);
    bm25_free_docs(docs, n);
    return 0;
}
