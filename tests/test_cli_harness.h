/*
 * test_cli_harness.h — running the lctx programs from end-to-end tests.
 *
 * The end-to-end tests run the sanitized builds of the real programs
 * ($LCTX_BUILD/san/lctx-*, default build/san) exactly as a user would: a
 * fresh temporary directory, arguments, a standard input, and then the exit
 * status, stdout and stderr to look at. Output goes through files rather
 * than pipes so a chatty program can never block on a full pipe while the
 * test waits for it.
 *
 * Header-only (static functions) because the Makefile builds each
 * tests/test_*.c as its own binary; the unused attribute keeps -Wall quiet
 * in a test file that does not use every helper.
 */
#ifndef LCTX_TEST_CLI_HARNESS_H
#define LCTX_TEST_CLI_HARNESS_H

/* nftw() is X/Open; this header comes first in the test files. */
#ifndef _XOPEN_SOURCE
#define _XOPEN_SOURCE 700
#endif

#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <fcntl.h>
#include <ftw.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define HARNESS_UNUSED __attribute__((unused))

extern char **environ;

typedef struct cmd_result {
    int status;      /* exit status, or 128+signal */
    char *out;       /* stdout, NUL-terminated */
    char *err;       /* stderr */
} cmd_result;

/* The temporary directory of the running test (one per test process). */
static char harness_dir[64];

HARNESS_UNUSED static const char *tmpdir(void)
{
    if (!harness_dir[0]) {
        snprintf(harness_dir, sizeof harness_dir, "/tmp/lctx-cli-XXXXXX");
        cr_assert_not_null(mkdtemp(harness_dir), "mkdtemp failed");
    }
    return harness_dir;
}

/* "DIR/name" in the test's temporary directory, into buf. */
static void tjoin(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "%s/%s", tmpdir(), name);
}

/* "DIR/name" for the tests themselves: a ring of 16 static buffers, so a
 * test can hold a handful at once. The helpers below never use it, so
 * calling them does not invalidate a test's paths. */
HARNESS_UNUSED static const char *tpath(const char *name)
{
    static char bufs[16][512];
    static int next;
    char *b = bufs[next++ % 16];
    tjoin(b, sizeof bufs[0], name);
    return b;
}

static int harness_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st; (void)flag; (void)ftw;
    return remove(path);
}

HARNESS_UNUSED static void cleanup_tmpdir(void)
{
    if (harness_dir[0])
        nftw(harness_dir, harness_rm, 16, FTW_DEPTH | FTW_PHYS);
    harness_dir[0] = '\0';
}

HARNESS_UNUSED static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "cannot write %s", path);
    fputs(text, f);
    fclose(f);
}

HARNESS_UNUSED static char *read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return strdup("");
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    cr_assert_not_null(s);
    size_t got = fread(s, 1, (size_t)n, f);
    s[got] = '\0';
    fclose(f);
    return s;
}

/* $LCTX_BUILD/san/NAME (default build/san/NAME). */
HARNESS_UNUSED static const char *program(const char *name)
{
    static char bufs[4][512];
    static int next;
    char *b = bufs[next++ % 4];
    const char *build = getenv("LCTX_BUILD");
    snprintf(b, sizeof bufs[0], "%s/san/%s", build && *build ? build : "build", name);
    cr_assert(access(b, X_OK) == 0, "%s is not built (make test builds it)", b);
    return b;
}

/* Runs argv (NULL-terminated) with stdin_text as standard input (NULL:
 * /dev/null) and returns what it did. */
HARNESS_UNUSED static cmd_result run_argv(const char *stdin_text, char *const argv[])
{
    char in[512], out[512], err[512];
    tjoin(in, sizeof in, ".stdin");
    tjoin(out, sizeof out, ".stdout");
    tjoin(err, sizeof err, ".stderr");
    write_file(in, stdin_text ? stdin_text : "");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, stdin_text ? in : "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_t pid;
    int rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    cr_assert_eq(rc, 0, "cannot run %s", argv[0]);
    int ws = 0;
    cr_assert_eq(waitpid(pid, &ws, 0), pid);
    cmd_result r;
    r.status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
    r.out = read_file(out);
    r.err = read_file(err);
    return r;
}

/* run(stdin, "lctx-index", "-c", coll, ..., NULL) */
HARNESS_UNUSED static cmd_result run(const char *stdin_text, const char *prog, ...)
{
    char *argv[64];
    int n = 0;
    argv[n++] = (char *)program(prog);
    va_list ap;
    va_start(ap, prog);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL) {
        cr_assert(n < 63, "too many arguments");
        argv[n++] = (char *)a;
    }
    va_end(ap);
    argv[n] = NULL;
    return run_argv(stdin_text, argv);
}

HARNESS_UNUSED static void result_free(cmd_result *r)
{
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
}

/* Asserts the exit status, showing stderr when it is wrong. */
#define expect_status(r, want) \
    cr_assert_eq((r).status, (want), "exit status %d, want %d; stderr:\n%s\nstdout:\n%s", \
                 (r).status, (want), (r).err, (r).out)

#define expect_contains(hay, needle) \
    cr_assert(strstr((hay), (needle)) != NULL, "expected \"%s\" in:\n%s", (needle), (hay))

/* Each case is up to four arguments (a NULL ends a shorter one) after the
 * program's name; each must be refused as bad usage: exit status 2 and a
 * message on stderr that starts with the program's name. */
HARNESS_UNUSED static void expect_usage_errors(const char *prog, const char *const cases[][4],
                                               size_t ncases)
{
    char prefix[64];
    snprintf(prefix, sizeof prefix, "%s: ", prog);
    for (size_t i = 0; i < ncases; i++) {
        char *argv[8] = { (char *)program(prog) };
        int n = 1;
        for (int j = 0; j < 4 && cases[i][j]; j++)
            argv[n++] = (char *)cases[i][j];
        argv[n] = NULL;
        cmd_result r = run_argv(NULL, argv);
        cr_assert_eq(r.status, 2, "case %zu: status %d, stderr: %s", i, r.status, r.err);
        expect_contains(r.err, prefix);
        result_free(&r);
    }
}

/* A small corpus with distinct topics, so each query has one clear answer. */
static const char CORPUS[] =
    "{\"_id\":\"d1\",\"title\":\"Apollo program\",\"text\":\"The Apollo program landed astronauts on the moon in 1969.\",\"metadata\":{\"kind\":\"space\",\"year\":1969}}\n"
    "{\"_id\":\"d2\",\"title\":\"Bread baking\",\"text\":\"Sourdough bread needs flour, water, salt and a lively starter culture.\",\"metadata\":{\"kind\":\"food\",\"year\":2020}}\n"
    "{\"_id\":\"d3\",\"title\":\"Rocket engines\",\"text\":\"Liquid rocket engines burn fuel with an oxidizer to produce thrust.\",\"metadata\":{\"kind\":\"space\",\"year\":1960}}\n"
    "{\"_id\":\"d4\",\"title\":\"Coffee\",\"text\":\"Espresso is brewed by forcing hot water through finely ground coffee beans.\",\"metadata\":{\"kind\":\"food\",\"year\":2001}}\n"
    "{\"_id\":\"d5\",\"title\":\"Moon geology\",\"text\":\"Lunar rocks returned by astronauts revealed the volcanic past of the moon.\",\"metadata\":{\"kind\":\"space\",\"year\":1975}}\n";

/* Writes CORPUS and indexes it into DIR/c.lctx; returns that path (a
 * static buffer, valid for the whole test). */
HARNESS_UNUSED static const char *make_collection(void)
{
    static char coll[512];
    char corpus[512];
    tjoin(corpus, sizeof corpus, "corpus.jsonl");
    tjoin(coll, sizeof coll, "c.lctx");
    write_file(corpus, CORPUS);
    cmd_result r = run(NULL, "lctx-index", "-c", coll, "--quiet", corpus, NULL);
    expect_status(r, 0);
    result_free(&r);
    return coll;
}

/* The value of "key: value" in lctx-index --stats output, or -1. */
HARNESS_UNUSED static long stat_value(const char *stats, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "%s: ", key);
    for (const char *p = stats; (p = strstr(p, pat)) != NULL; p++)
        if (p == stats || p[-1] == '\n')
            return strtol(p + strlen(pat), NULL, 10);
    return -1;
}

HARNESS_UNUSED static long documents(const char *coll)
{
    cmd_result r = run(NULL, "lctx-index", "-c", coll, "--stats", NULL);
    expect_status(r, 0);
    long n = stat_value(r.out, "documents");
    result_free(&r);
    return n;
}

/* Ids of the hits of a one-shot --json search, space separated, in order. */
HARNESS_UNUSED static char *hit_ids(const char *coll, const char *query)
{
    cmd_result r = run(NULL, "lctx-search", "-c", coll, "--json", query, NULL);
    expect_status(r, 0);
    cJSON *o = cJSON_Parse(r.out);
    cr_assert_not_null(o, "not JSON: %s", r.out);
    cJSON *hits = cJSON_GetObjectItem(o, "hits");
    cr_assert(cJSON_IsArray(hits));
    char *ids = calloc(1, 4096);
    cr_assert_not_null(ids);
    cJSON *h;
    cJSON_ArrayForEach(h, hits) {
        const char *id = cJSON_GetStringValue(cJSON_GetObjectItem(h, "id"));
        cr_assert_not_null(id);
        if (*ids)
            strncat(ids, " ", 4095 - strlen(ids));
        strncat(ids, id, 4095 - strlen(ids));
    }
    cJSON_Delete(o);
    result_free(&r);
    return ids;
}

#endif /* LCTX_TEST_CLI_HARNESS_H */
