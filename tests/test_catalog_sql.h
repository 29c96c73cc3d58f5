/*
 * test_catalog_sql.h — one SQL statement run on a collection's catalog
 * from outside lctx, for tests that make a collection look older (its
 * recorded tokenizer rules, say) than the library would make it.
 *
 * Header-only (static functions) for the reason test_tmpdir.h gives.
 */
#ifndef LCTX_TEST_CATALOG_SQL_H
#define LCTX_TEST_CATALOG_SQL_H

#include <criterion/criterion.h>
#include <sqlite3.h>
#include <stdio.h>

/* Runs stmt on coll/catalog.db; it must succeed. */
__attribute__((unused))
static void catalog_sql(const char *coll, const char *stmt)
{
    char file[600];
    snprintf(file, sizeof file, "%s/catalog.db", coll);
    sqlite3 *c;
    cr_assert_eq(sqlite3_open(file, &c), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(c, stmt, NULL, NULL, NULL), SQLITE_OK, "%s", sqlite3_errmsg(c));
    sqlite3_close(c);
}

#endif
