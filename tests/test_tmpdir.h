/*
 * test_tmpdir.h — a fresh collection directory for each test.
 *
 * Most API tests want the same thing from their suite's .init and .fini:
 * a new directory under /tmp made by mkdtemp(), a collection path inside
 * it ("DIR/c.lctx"), and afterwards the whole directory gone again. The
 * tag names the suite in the directory's name, so a directory left behind
 * by a crashed run says which test made it.
 *
 * TMPDIR_COLLECTION_SUITE(suite, tag) is that whole fixture: the path in
 * a file-level `dir`, made before each test of the suite and removed
 * after it.
 *
 * Header-only (static functions) because the Makefile builds each
 * tests/test_*.c as its own binary, and any other .c file in tests/ would
 * be linked into every one of them.
 */
#ifndef LCTX_TEST_TMPDIR_H
#define LCTX_TEST_TMPDIR_H

#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Make a new directory "/tmp/lctx-test-TAG-XXXXXX" into dir. */
__attribute__((unused))
static void tmpdir_make(char *dir, size_t len, const char *tag)
{
    snprintf(dir, len, "/tmp/lctx-test-%s-XXXXXX", tag);
    cr_assert_not_null(mkdtemp(dir));
}

/* Remove dir and all in it. */
__attribute__((unused))
static void tmpdir_remove(const char *dir)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

/* Make a new directory and leave "DIR/c.lctx", a collection path in it,
 * in path. */
__attribute__((unused))
static void tmpdir_collection(char *path, size_t len, const char *tag)
{
    tmpdir_make(path, len, tag);
    cr_assert_lt(strlen(path) + sizeof "/c.lctx", len);
    strcat(path, "/c.lctx");
}

/* Remove the directory that holds the collection path, and all in it. */
__attribute__((unused))
static void tmpdir_collection_remove(char *path)
{
    *strrchr(path, '/') = 0;
    tmpdir_remove(path);
}

/* How many index generations (folders "index" and "index.N") the
 * collection at coll holds; the path of the last one found into out. */
__attribute__((unused))
static int tmpdir_index_folders(const char *coll, char *out, size_t len)
{
    DIR *d = opendir(coll);
    int n = 0;
    cr_assert_not_null(d, "%s", coll);
    for (struct dirent *e; (e = readdir(d));)
        if (strcmp(e->d_name, "index") == 0 || strncmp(e->d_name, "index.", 6) == 0) {
            snprintf(out, len, "%s/%s", coll, e->d_name);
            n++;
        }
    closedir(d);
    return n;
}

/* The path of a file of the collection's index (its one generation). */
__attribute__((unused))
static void tmpdir_index_file(const char *coll, const char *name, char *out, size_t len)
{
    char folder[512];
    cr_assert_eq(tmpdir_index_folders(coll, folder, sizeof folder), 1,
                 "%s: one index generation expected", coll);
    snprintf(out, len, "%s/%s", folder, name);
}

/* A Criterion suite whose every test gets a fresh collection path in dir. */
#define TMPDIR_COLLECTION_SUITE(suite, tag)                   \
    static char dir[256];                                     \
    static void tmpdir_suite_init(void)                       \
    {                                                         \
        tmpdir_collection(dir, sizeof dir, tag);              \
    }                                                         \
    static void tmpdir_suite_fini(void)                       \
    {                                                         \
        tmpdir_collection_remove(dir);                        \
    }                                                         \
    TestSuite(suite, .init = tmpdir_suite_init, .fini = tmpdir_suite_fini)

#endif
