/*
 * test_wide.h — documents with counts past a batch posting's 16 bits
 * (store_wide), and the per-term counts a search explains, for the tests
 * that check such counts reach the index exactly: through the builder's
 * pieces (test_postings_build.c), first applied (test_bm25_hand.c) and
 * replayed after a crash (test_recovery_crash.c).
 *
 * Header-only (static functions) for the reason test_tmpdir.h gives.
 */
#ifndef LCTX_TEST_WIDE_H
#define LCTX_TEST_WIDE_H

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "lctx.h"

/* n copies of unit, then tail. malloc'd. */
__attribute__((unused))
static char *repeat_str(const char *unit, int n, const char *tail)
{
    size_t k = strlen(unit), t = strlen(tail);
    char *s = malloc(k * (size_t)n + t + 1);
    cr_assert_not_null(s);
    for (int i = 0; i < n; i++)
        memcpy(s + k * (size_t)i, unit, k);
    memcpy(s + k * (size_t)n, tail, t + 1);
    return s;
}

/* The explain JSON of the first hit of q, which must be document id.
 * malloc'd. */
__attribute__((unused))
static char *explain_first(lctx_db *db, const char *q, const char *id)
{
    lctx_search_opts o;
    lctx_search_opts_init(&o);
    o.explain = 1;
    lctx_results *r;
    cr_assert_eq(lctx_search(db, q, &o, &r), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_geq(lctx_results_count(r), 1);
    cr_assert_str_eq(lctx_results_get(r, 0)->id, id);
    char *ex = strdup(lctx_results_get(r, 0)->explain);
    lctx_results_free(r);
    return ex;
}

#endif
