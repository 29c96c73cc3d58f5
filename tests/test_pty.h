/*
 * test_pty.h — lctx-search's interactive session on a real pseudo-terminal,
 * for the tests that drive it (test_cli_interactive.c, the escape tests in
 * test_cli_search_output.c).
 *
 * The session only starts when standard input is a terminal, so the child
 * gets a pty whose slave side becomes its stdin, stdout and stderr (and
 * controlling terminal, through a new session); the test types into the
 * master side and reads everything the program writes until it exits.
 *
 * Header-only (static functions) for the reason test_tmpdir.h gives. The
 * including file defines _GNU_SOURCE first (POSIX_SPAWN_SETSID).
 */
#ifndef LCTX_TEST_PTY_H
#define LCTX_TEST_PTY_H

#include "test_cli_harness.h"

#include <errno.h>
#include <poll.h>

HARNESS_UNUSED static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

/* Runs lctx-search -c coll on a pty fed with `typed`, then with `later`
 * (may be NULL) once the program has shown its prompt `prompts` times —
 * a Ctrl-D typed ahead would be eaten by the terminal's line discipline
 * before readline takes over. Returns the output and sets *status.
 * LCTX_HISTORY points at hist. */
HARNESS_UNUSED static char *run_on_pty(const char *coll, const char *hist, const char *typed,
                        const char *later, int prompts, int *status)
{
    int master = posix_openpt(O_RDWR | O_NOCTTY);
    cr_assert(master >= 0, "posix_openpt: %s", strerror(errno));
    cr_assert_eq(grantpt(master), 0);
    cr_assert_eq(unlockpt(master), 0);
    const char *slave = ptsname(master);
    cr_assert_not_null(slave);

    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, slave, O_RDWR, 0);
    posix_spawn_file_actions_adddup2(&fa, 0, 1);
    posix_spawn_file_actions_adddup2(&fa, 0, 2);
    posix_spawn_file_actions_addclose(&fa, master);
    posix_spawnattr_t at;
    posix_spawnattr_init(&at);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSID);

    char env_hist[600];
    snprintf(env_hist, sizeof env_hist, "LCTX_HISTORY=%s", hist);
    char *envp[] = { env_hist, "TERM=dumb", "ASAN_OPTIONS=detect_leaks=1", NULL };
    char *argv[] = { (char *)program("lctx-search"), "-c", (char *)coll, NULL };
    pid_t pid;
    int rc = posix_spawn(&pid, argv[0], &fa, &at, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    cr_assert_eq(rc, 0, "posix_spawn: %s", strerror(rc));

    size_t n = strlen(typed);
    cr_assert_eq(write(master, typed, n), (ssize_t)n);

    size_t cap = 1 << 16, len = 0;
    char *out = malloc(cap);
    cr_assert_not_null(out);
    for (;;) {
        struct pollfd p = { master, POLLIN, 0 };
        int ready = poll(&p, 1, 30000);
        cr_assert(ready > 0, "no output for 30 s; so far:\n%.*s", (int)len, out);
        if (len + 4096 > cap) {
            cap *= 2;
            out = realloc(out, cap);
            cr_assert_not_null(out);
        }
        ssize_t got = read(master, out + len, cap - len - 1);
        if (got <= 0)          /* EIO once the child closed the slave */
            break;
        len += (size_t)got;
        out[len] = '\0';
        if (later && count(out, "lctx> ") >= prompts) {
            cr_assert_eq(write(master, later, strlen(later)), (ssize_t)strlen(later));
            later = NULL;
        }
    }
    out[len] = '\0';
    close(master);
    int ws = 0;
    cr_assert_eq(waitpid(pid, &ws, 0), pid);
    *status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
    return out;
}

#endif
