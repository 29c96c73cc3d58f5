/*
 * interactive.c — lctx-search without a QUERY argument.
 *
 * On a terminal it is a small session: readline for editing and history
 * (kept in $LCTX_HISTORY, else ~/.lctx_history, so queries survive between
 * sessions), results with matched words in bold, and a few commands that
 * change the search without restarting:
 *
 *   :k N            number of hits
 *   :mode M         bm25 | vector | hybrid | default
 *   :explain        toggle per-term score explanations
 *   :json           toggle JSON output
 *   :filter EXPR    metadata filter (SQLite JSON1 expression); ":filter" clears
 *   :help  :quit
 *
 * A session that ends with :quit or Ctrl-D exits 0 whatever its queries
 * did: each error was shown when it happened, and the person has moved on.
 *
 * When stdin is not a terminal the same program reads one query per line and
 * answers each in turn, which makes `cat queries.txt | lctx-search -c C` work
 * without a queries file format. Text output heads each answer with
 * "== QUERY" and skips blank lines. JSON output is exactly one line per input
 * line, so `cut -f2 q.tsv | lctx-search -c C --json | paste q.tsv -` lines
 * up: a blank line is answered as the empty query (no hits, and the terms
 * object says why), and a line that cannot be answered (invalid UTF-8, a NUL
 * byte, an engine error) prints {"query":...,"hits":[],"error":...}. One
 * failed line does not stop the others, but the exit status is 1 when any
 * failed; messages name the line as "stdin:N".
 */
#include "cli/cli.h"

#include <stdlib.h>
#include <string.h>

#include <readline/history.h>
#include <readline/readline.h>

#define HISTORY_MAX 1000

static int is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Trims leading and trailing blanks of s[0..*n) in place (s may hold NUL
 * bytes); returns the start and sets *n to the trimmed length. */
static char *trim_n(char *s, size_t *n)
{
    size_t len = *n;
    while (len > 0 && is_blank(*s))
        s++, len--;
    while (len > 0 && is_blank(s[len - 1]))
        len--;
    s[len] = '\0';
    *n = len;
    return s;
}

static char *trim(char *s)
{
    size_t n = strlen(s);
    return trim_n(s, &n);
}

/* $LCTX_HISTORY, else $HOME/.lctx_history; malloc'd, NULL when neither. */
static char *history_path(void)
{
    const char *env = getenv("LCTX_HISTORY");
    if (env && *env)
        return strdup(env);
    const char *home = getenv("HOME");
    if (!home || !*home)
        return NULL;
    size_t n = strlen(home) + sizeof "/.lctx_history";
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/.lctx_history", home);
    return p;
}

static int parse_mode(const char *s, enum lctx_mode *m)
{
    static const struct { const char *name; enum lctx_mode mode; } modes[] = {
        { "default", LCTX_MODE_DEFAULT }, { "bm25", LCTX_MODE_BM25 },
        { "vector", LCTX_MODE_VECTOR }, { "hybrid", LCTX_MODE_HYBRID },
    };
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        if (strcmp(s, modes[i].name) == 0) {
            *m = modes[i].mode;
            return 0;
        }
    }
    return -1;
}

static void session_help(void)
{
    fputs("type a query: words (any may match), \"a phrase\", +required, -excluded,\n"
          "-\"excluded phrase\", title:word, -title:word, prefix*, +prefix*,\n"
          "-prefix*; or a command:\n"
          "  :k N          number of hits\n"
          "  :mode M       bm25 | vector | hybrid | default\n"
          "  :explain      toggle score explanations\n"
          "  :json         toggle JSON output\n"
          "  :filter EXPR  metadata filter (empty clears)\n"
          "  :help  :quit\n", stderr);
}

/* Session state that outlives one line: the filter text is owned here. */
typedef struct session {
    cli_session_opts *o;
    char *filter;
} session;

/* Handles a ":command" line. Returns 1 to leave the session, else 0. */
static int session_command(const char *prog, session *s, char *cmd)
{
    char *arg = cmd + strcspn(cmd, " \t");
    if (*arg)
        *arg++ = '\0';
    arg = trim(arg);
    if (!strcmp(cmd, ":quit") || !strcmp(cmd, ":q") || !strcmp(cmd, ":exit"))
        return 1;
    if (!strcmp(cmd, ":help") || !strcmp(cmd, ":h")) {
        session_help();
    } else if (!strcmp(cmd, ":k")) {
        long k;
        if (cli_parse_long(arg, 1, 100000, &k) == 0)
            s->o->search.k = (int)k;
        else
            cli_error(prog, ":k wants a number from 1 to 100000");
        fprintf(stderr, "k = %d\n", s->o->search.k);
    } else if (!strcmp(cmd, ":mode")) {
        if (parse_mode(arg, &s->o->search.mode) != 0)
            cli_error(prog, ":mode wants bm25, vector, hybrid or default");
    } else if (!strcmp(cmd, ":explain")) {
        s->o->out.explain = !s->o->out.explain;
        fprintf(stderr, "explain %s\n", s->o->out.explain ? "on" : "off");
    } else if (!strcmp(cmd, ":json")) {
        s->o->out.json = !s->o->out.json;
        fprintf(stderr, "json %s\n", s->o->out.json ? "on" : "off");
    } else if (!strcmp(cmd, ":filter")) {
        free(s->filter);
        s->filter = *arg ? strdup(arg) : NULL;
        s->o->search.filter = s->filter;
        fprintf(stderr, "filter %s\n", s->filter ? s->filter : "cleared");
    } else {
        cli_error(prog, "unknown command %s (try :help)", cmd);
    }
    return 0;
}

int cli_interactive(const char *prog, lctx_db *db, cli_session_opts *o)
{
    char *hist = history_path();
    using_history();
    stifle_history(HISTORY_MAX);
    if (hist)
        read_history(hist);   /* a missing file is the normal first run */
    fprintf(stderr, "lctx %s — type a query; :help for commands, :quit or Ctrl-D to leave\n",
            LCTX_VERSION_STRING);

    session s = { o, NULL };
    const char *saved_filter = o->search.filter;
    for (;;) {
        char *line = readline("lctx> ");
        if (!line) {
            fputc('\n', stderr);
            break;
        }
        char *q = trim(line);
        int leave = 0;
        if (*q) {
            add_history(q);
            if (q[0] == ':')
                leave = session_command(prog, &s, q);
            else
                cli_answer(prog, db, q, NULL, &o->search, &o->out);
        }
        free(line);
        if (leave)
            break;
    }
    if (hist) {
        write_history(hist);
        history_truncate_file(hist, HISTORY_MAX);
    }
    clear_history();
    free(hist);
    o->search.filter = saved_filter;
    free(s.filter);
    return CLI_EXIT_OK;
}

/* Answers one line of standard input; returns an exit status. */
static int answer_line(const char *prog, lctx_db *db, char *line, size_t len,
                       unsigned long lineno, unsigned long *answered, const cli_session_opts *o)
{
    int has_nul = memchr(line, '\0', len) != NULL;
    char *q = trim_n(line, &len);
    if (len == 0 && !o->out.json)
        return CLI_EXIT_OK;
    if (!o->out.json) {        /* text: say which query each block answers */
        char *shown = cli_utf8_repair(q, len);
        printf("%s== ", (*answered)++ ? "\n" : "");
        cli_put_terminal(stdout, shown ? shown : "");
        putchar('\n');
        fflush(stdout);
        free(shown);
    }
    char where[48];
    snprintf(where, sizeof where, "stdin:%lu", lineno);
    if (has_nul) {
        /* The engine takes C strings: searching would silently drop the
         * rest of the line. */
        cli_answer_failed(prog, q, len, where, "query holds a NUL byte", &o->out);
        return CLI_EXIT_FAIL;
    }
    return cli_answer(prog, db, q, where, &o->search, &o->out);
}

int cli_answer_lines(const char *prog, lctx_db *db, FILE *f, const cli_session_opts *o)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int status = CLI_EXIT_OK;
    unsigned long lineno = 0, answered = 0;
    while ((len = getline(&line, &cap, f)) >= 0) {
        if (answer_line(prog, db, line, (size_t)len, ++lineno, &answered, o) != CLI_EXIT_OK)
            status = CLI_EXIT_FAIL;
    }
    free(line);
    return status;
}
