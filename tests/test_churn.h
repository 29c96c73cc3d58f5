/*
 * test_churn.h — one batch of random upserts and deletions over documents
 * "doc0".."doc<ndocs-1>", for the tests that compare a pruned top-k with
 * exhaustive scoring on an index that has seen replacements and
 * tombstones (test_wand_random.c, test_query_long.c). Each test file brings
 * its own generator and texts.
 *
 * Header-only (a static function) for the reason test_tmpdir.h gives.
 */
#ifndef LCTX_TEST_CHURN_H
#define LCTX_TEST_CHURN_H

#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>

#include "lctx.h"

/* ndocs/10 changes in one committed batch: every other one re-adds a
 * random document with new text, the others delete one (perhaps gone). */
__attribute__((unused))
static void churn_batch(lctx_db *db, int ndocs, uint32_t (*rnd)(void),
                        void (*random_text)(char *buf, size_t cap, int words))
{
    char id[32], text[4096];
    cr_assert_eq(lctx_begin(db), LCTX_OK);
    for (int i = 0; i < ndocs / 10; i++) {
        snprintf(id, sizeof id, "doc%u", rnd() % (uint32_t)ndocs);
        if (i % 2) {
            random_text(text, sizeof text, 10 + (int)(rnd() % 40));
            lctx_doc d = {.id = id, .title = "", .text = text};
            cr_assert_eq(lctx_add(db, &d), LCTX_OK, "%s", lctx_errmsg(db));
        } else {
            int rc = lctx_delete(db, id);
            cr_assert(rc == LCTX_OK || rc == LCTX_ENOTFOUND);
        }
    }
    cr_assert_eq(lctx_commit(db, NULL), LCTX_OK, "%s", lctx_errmsg(db));
}

#endif
