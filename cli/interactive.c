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
 * When stdin is not a terminal the same program reads one query per line and
 * answers each in turn (text output heads each answer with "== QUERY"; JSON
 * output is one object per line), which makes `cat queries.txt | lctx-search -c C`
 * work without a queries file format. Blank lines are skipped; one failed
 * query does not stop the others, but the exit status reports it.
 */
#include "cli/cli.h"

#include <stdlib.h>
#include <string.h>

#include <readline/history.h>
#include <readline/readline.h>

#define HISTORY_MAX 1000

/* Trims leading and trailing blanks in place; returns the start. */
static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
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
    fputs("type a query, or a command:\n"
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
    int status = CLI_EXIT_OK;
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
                status = cli_answer(prog, db, q, &o->search, &o->out) == CLI_EXIT_OK
                         ? status : CLI_EXIT_FAIL;
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
    return status;
}

int cli_answer_lines(const char *prog, lctx_db *db, FILE *f, const cli_session_opts *o)
{
    char *line = NULL;
    size_t cap = 0;
    int status = CLI_EXIT_OK;
    unsigned long answered = 0;
    while (getline(&line, &cap, f) >= 0) {
        char *q = trim(line);
        if (!*q)
            continue;
        if (!o->out.json) {        /* text: say which query each block answers */
            printf("%s== %s\n", answered++ ? "\n" : "", q);
            fflush(stdout);
        }
        if (cli_answer(prog, db, q, &o->search, &o->out) != CLI_EXIT_OK)
            status = CLI_EXIT_FAIL;
    }
    free(line);
    return status;
}
