/*
 * util.c — the few helpers every lctx program needs.
 *
 * Error messages follow one shape across the programs, "PROG: reason", so
 * scripts can grep them and people can tell which tool spoke; the library's
 * lctx_errmsg already names FILE:LINE for input errors, so a program only
 * prefixes its own name. The program name is passed in rather than kept in
 * a global: these files are linked into several programs and hold no state.
 *
 * The UTF-8 helpers exist because what the programs print is not always
 * what the engine stored: a line of standard input may be any bytes, and
 * the terminal must never receive a control sequence hidden in a document
 * (output.c). They decode with utf8proc, as the engine does.
 */
#include "cli/cli.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <utf8proc.h>

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

const char *cli_documents(unsigned long long n)
{
    return n == 1 ? "document" : "documents";
}

int cli_parse_double(const char *s, double lo, double hi, double *out)
{
    if (!s || !*s || isspace((unsigned char)*s))
        return -1;
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    /* written so that NaN fails the range test */
    if (errno || *end || !(v >= lo && v <= hi))
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

void cli_getopt_error(const char *prog, int c, char **argv)
{
    cli_getopt_error_hint(prog, c, argv, NULL);
}

void cli_getopt_error_hint(const char *prog, int c, char **argv, const char *hint)
{
    const char *arg = optind > 0 ? argv[optind - 1] : "?";
    const char *sep = hint ? " " : "", *h = hint ? hint : "";
    if (c == ':')
        cli_error(prog, "%s: missing argument", arg);
    else if (optopt > 0 && optopt < 128)
        cli_error(prog, "unknown option -%c%s%s", optopt, sep, h);
    else
        cli_error(prog, "unknown option %s%s%s", arg, sep, h);
}

/* getopt_long permutes argv and keeps to itself where the words were, so
 * the question is asked again of a copy of the original argv with '+':
 * that scan stops at the first word. If it gets there without an error,
 * the option getopt refused comes after a word. */
int cli_getopt_after_words(int argc, char **orig_argv, const char *optstring,
                           const struct option *longopts)
{
    char plus[64];
    snprintf(plus, sizeof plus, "+%s", optstring);
    optind = 0;                 /* glibc: start over, state included */
    int c;
    while ((c = getopt_long(argc, orig_argv, plus, longopts, NULL)) != -1)
        if (c == '?' || c == ':')
            return 0;
    return optind < argc;
}

int cli_utf8_check(const char *s, size_t n, size_t *bad)
{
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t len = cli_utf8_next(s + i, n - i, &cp);
        if (len == 0 || cp == 0) {
            *bad = i;
            return -1;
        }
        i += len;
    }
    return 0;
}

size_t cli_utf8_next(const char *p, size_t n, uint32_t *cp)
{
    utf8proc_int32_t c;
    if (n == 0)
        return 0;
    utf8proc_ssize_t len = utf8proc_iterate((const utf8proc_uint8_t *)p,
                                            (utf8proc_ssize_t)(n < 4 ? n : 4), &c);
    if (len <= 0)
        return 0;               /* overlong, surrogate, past Unicode, cut short */
    *cp = (uint32_t)c;
    return (size_t)len;
}

char *cli_utf8_repair(const char *s, size_t n)
{
    char *out = malloc(n * 3 + 1);      /* each byte grows to U+FFFD at most */
    if (!out)
        return NULL;
    size_t j = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t len = cli_utf8_next(s + i, n - i, &cp);
        if (len == 0 || cp == 0) {
            memcpy(out + j, CLI_REPLACEMENT, 3);
            j += 3;
            i++;
        } else {
            memcpy(out + j, s + i, len);
            j += len;
            i += len;
        }
    }
    out[j] = '\0';
    return out;
}
