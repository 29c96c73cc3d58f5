/*
 * test_cli_interactive.c — lctx-search's readline session, on a real
 * pseudo-terminal.
 *
 * The session only starts when standard input is a terminal, so the test
 * gives the sanitized binary one: a pty whose slave side becomes the
 * child's stdin, stdout and stderr (and controlling terminal, through a new
 * session). The test types a query and a few commands into the master side,
 * reads everything the program writes until it exits, and checks the
 * answers, the effect of :k, the bold highlighting a terminal gets, and the
 * history file.
 */
/* POSIX_SPAWN_SETSID is a GNU extension of posix_spawn. */
#define _GNU_SOURCE
#include "test_pty.h"

TestSuite(cli_interactive, .fini = cleanup_tmpdir, .timeout = 60);

Test(cli_interactive, session_answers_commands_and_keeps_history)
{
    const char *coll = make_collection();
    char hist[512];
    snprintf(hist, sizeof hist, "%s", tpath("history"));
    int status = -1;
    char *out = run_on_pty(coll, hist,
                           "sourdough starter\n:k 1\nmoon\n:mode psychic\n:quit\n", NULL, 0, &status);
    cr_assert_eq(status, 0, "status %d; output:\n%s", status, out);
    expect_contains(out, "d2");                       /* the first answer */
    expect_contains(out, "k = 1");
    expect_contains(out, "\033[1m");                  /* bold on a terminal */
    expect_contains(out, ":mode wants");              /* a bad command is explained */
    /* After :k 1, "moon" shows exactly one hit: rank 2 never appears. */
    const char *moon = strstr(out, "k = 1");
    cr_assert_not_null(moon);
    cr_assert_null(strstr(moon, "  2. "), "more than one hit after :k 1:\n%s", moon);
    free(out);

    char *h = read_file(hist);
    expect_contains(h, "sourdough starter");
    expect_contains(h, ":k 1");
    free(h);
}

Test(cli_interactive, end_of_input_leaves_cleanly)
{
    const char *coll = make_collection();
    char hist[512];
    snprintf(hist, sizeof hist, "%s", tpath("history"));
    int status = -1;
    char *out = run_on_pty(coll, hist, "espresso\n", "\004", 2, &status);   /* then Ctrl-D */
    cr_assert_eq(status, 0, "status %d; output:\n%s", status, out);
    expect_contains(out, "d4");
    free(out);
}
