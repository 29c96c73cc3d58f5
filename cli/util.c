/*
 * util.c — the few helpers every lctx program needs.
 *
 * Error messages follow one shape across the programs, "PROG: reason", so
 * scripts can grep them and people can tell which tool spoke; the library's
 * lctx_errmsg already names FILE:LINE for input errors, so a program only
 * prefixes its own name. The program name is passed in rather than kept in
 * a global: these files are linked into several programs and hold no state.
 */
#include "cli/cli.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void vreport(const char *prog, const char *kind, const char *fmt, va_list ap)
{
    fprintf(stderr, "%s: %s", prog ? prog : "lctx", kind);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

void cli_error(const char *prog, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(prog, "", fmt, ap);
    va_end(ap);
}

int cli_bad_usage(const char *prog, const char *msg)
{
    if (msg)
        cli_error(prog, "%s", msg);
    fprintf(stderr, "Try '%s --help'.\n", prog);
    return CLI_EXIT_USAGE;
}

void cli_warn(const char *prog, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(prog, "warning: ", fmt, ap);
    va_end(ap);
}

int cli_parse_long(const char *s, long lo, long hi, long *out)
{
    if (!s || !*s || isspace((unsigned char)*s))
        return -1;
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

double cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

const char *cli_db_error(const lctx_db *db, int status)
{
    const char *m = db ? lctx_errmsg(db) : NULL;
    if (m && *m)
        return m;
    m = lctx_strstatus(status);
    return m ? m : "unknown error";
}

void cli_open_error(const char *prog, const char *path, const lctx_db *db, int status)
{
    const char *m = db ? lctx_errmsg(db) : NULL;
    if (m && *m)
        cli_error(prog, "%s", m);      /* the library names the path already */
    else
        cli_error(prog, "%s: %s", path, lctx_strstatus(status));
}

char *cli_squash_space(const char *s)
{
    if (!s)
        s = "";
    size_t n = strlen(s);
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    size_t j = 0;
    int pending_space = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
            pending_space = j > 0;
            continue;
        }
        if (pending_space)
            out[j++] = ' ';
        pending_space = 0;
        out[j++] = (char)c;
    }
    out[j] = '\0';
    return out;
}

void cli_getopt_error(const char *prog, int c, char **argv)
{
    const char *arg = optind > 0 ? argv[optind - 1] : "?";
    if (c == ':')
        cli_error(prog, "%s: missing argument", arg);
    else if (optopt > 0 && optopt < 128)
        cli_error(prog, "unknown option -%c", optopt);
    else
        cli_error(prog, "unknown option %s", arg);
}
