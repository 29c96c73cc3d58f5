/*
 * test_wand_random.c — block-max WAND returns exactly the ranking of
 * exhaustive scoring (same documents, same order, bit-identical scores,
 * same best chunk) on random corpora with multi-chunk documents, titles,
 * upserts, deletes, phrases, exclusions, prefix groups (word*, +word*,
 * -word*) and filters; and after compaction.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lctx.h"
#include "test_churn.h"
#include "test_tmpdir.h"
#include "query/query.h"

TMPDIR_COLLECTION_SUITE(wand, "wand");

#define VOCAB 300
static char vocab[VOCAB][16];

static uint64_t rng = 88172645463325252ull;
static uint64_t skipped_total; /* block-max skips seen, so pruning is exercised */
static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

/* Zipf-ish: low ids much more frequent, so frequent terms span many blocks. */
static int word_id(void)
{
    uint32_t r = rnd() % 1000;
    return (int)((r * r / 1000) * VOCAB / 1000);
}

static void make_vocab(void)
{
    static const char *syl[] = {"ka", "lo", "mi", "ne", "su", "tor", "vak", "pim", "zed", "rul"};
    for (int i = 0; i < VOCAB; i++)
        snprintf(vocab[i], sizeof vocab[i], "%s%s%s", syl[i % 10], syl[(i / 10) % 10],
                 syl[(i / 100) % 10]);
}

static void random_text(char *buf, size_t cap, int words)
{
    size_t n = 0;
    buf[0] = 0;
    for (int i = 0; i < words && n + 20 < cap; i++) {
        n += (size_t)snprintf(buf + n, cap - n, "%s%s", vocab[word_id()],
                              (rnd() % 9 == 0) ? ". " : " ");
    }
}

static void build(lctx_db *db, int ndocs)
{
    char text[4096], title[128], id[32], meta[64];
    cr_assert_eq(lctx_begin(db), LCTX_OK, "%s", lctx_errmsg(db));
    for (int i = 0; i < ndocs; i++) {
        random_text(text, sizeof text, 5 + (int)(rnd() % 60));
        random_text(title, sizeof title, (int)(rnd() % 4));
        snprintf(id, sizeof id, "doc%d", i);
        snprintf(meta, sizeof meta, "{\"g\": %u}", rnd() % 4);
        lctx_doc d = {.id = id, .title = title, .text = text, .metadata = meta};
        cr_assert_eq(lctx_add(db, &d), LCTX_OK, "%s", lctx_errmsg(db));
        if (i % 500 == 499) {
            cr_assert_eq(lctx_commit(db, NULL), LCTX_OK, "%s", lctx_errmsg(db));
            cr_assert_eq(lctx_begin(db), LCTX_OK);
        }
    }
    cr_assert_eq(lctx_commit(db, NULL), LCTX_OK, "%s", lctx_errmsg(db));
    /* upserts and deletes */
    churn_batch(db, ndocs, rnd, random_text);
}

/* Compares top-k and exhaustive for one query; returns hits found. */
static size_t compare(lctx_db *db, tok_tokenizer *tok, const char *qs, int k, const docset *allowed)
{
    query_parsed q;
    char err[128];
    cr_assert_eq(query_parse(tok, qs, &q, err, sizeof err), LCTX_OK);
    MDB_txn *txn;
    cr_assert_eq(kv_read_begin(db, &txn), LCTX_OK);
    cr_assert_eq(query_expand_prefixes(db, txn, &q), LCTX_OK, "%s", lctx_errmsg(db));
    sqlite3 *conn = store_conn_get(db);
    cr_assert_not_null(conn);
    bm25_search s;
    int p = bm25_prepare(&s, db, txn, &q, conn, tok);
    cr_assert_geq(p, 0);
    s.allowed = allowed;
    bm25_hit *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    if (p == 0) {
        cr_assert_eq(bm25_topk(&s, k, &a, &na), LCTX_OK, "%s", lctx_errmsg(db));
        skipped_total += s.n_blocks_skipped;
        cr_assert_eq(bm25_exhaustive(&s, k, &b, &nb), LCTX_OK, "%s", lctx_errmsg(db));
    }
    cr_assert_eq(na, nb, "query '%s' k=%d: %zu vs %zu hits", qs, k, na, nb);
    for (size_t i = 0; i < na; i++) {
        cr_assert_eq(a[i].doc, b[i].doc, "query '%s' k=%d rank %zu: doc %u vs %u (%.17g vs %.17g)",
                     qs, k, i, a[i].doc, b[i].doc, a[i].score, b[i].score);
        cr_assert(a[i].score == b[i].score, "query '%s' rank %zu: score differs", qs, i);
        cr_assert_eq(a[i].chunk, b[i].chunk, "query '%s' rank %zu: chunk differs", qs, i);
    }
    free(a);
    free(b);
    bm25_release(&s);
    store_conn_put(db, conn);
    kv_read_end(db, txn);
    query_parsed_free(&q);
    return na;
}

static void random_queries(lctx_db *db, int n, const docset *allowed)
{
    tok_config tc = {"english", 1, 1, 0, 0};
    char err[128];
    tok_tokenizer *tok = tok_new(&tc, err, sizeof err);
    cr_assert_not_null(tok);
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        char qs[256];
        size_t m = 0;
        int nt = 1 + (int)(rnd() % 5);
        for (int j = 0; j < nt; j++) {
            int kind = (int)(rnd() % 10);
            const char *w = vocab[word_id()], *w2 = vocab[word_id()];
            if (kind == 0)
                m += (size_t)snprintf(qs + m, sizeof qs - m, "\"%s %s\" ", w, w2);
            else if (kind == 3)   /* a prefix group: 2 to 5 letters of a word */
                m += (size_t)snprintf(qs + m, sizeof qs - m, "%.*s* ", 2 + (int)(rnd() % 4), w);
            else if (kind == 4)   /* a required or excluded prefix: 3 to 5 letters */
                m += (size_t)snprintf(qs + m, sizeof qs - m, "%c%.*s* ", rnd() % 2 ? '+' : '-',
                                      3 + (int)(rnd() % 3), w);
            else if (kind == 1)
                m += (size_t)snprintf(qs + m, sizeof qs - m, "-%s ", vocab[rnd() % VOCAB]);
            else
                m += (size_t)snprintf(qs + m, sizeof qs - m, "%s ", kind == 2 ? vocab[rnd() % VOCAB] : w);
        }
        int ks[] = {1, 3, 10, 50};
        total += compare(db, tok, qs, ks[i % 4], allowed);
    }
    cr_assert_gt(total, (size_t)n, "queries should find documents");
    tok_free(tok);
}

Test(wand, equals_exhaustive, .timeout = 120)
{
    make_vocab();
    lctx_config cfg;
    lctx_config_init(&cfg);
    cfg.chunk_words = 12; /* several chunks per document */
    lctx_db *db;
    cr_assert_eq(lctx_open(dir, LCTX_OPEN_CREATE, &cfg, &db), LCTX_OK);
    build(db, 1500);
    random_queries(db, 150, NULL);
    /* with a filter: only even document ids */
    docset even = {0};
    for (uint32_t d = 0; d < 4000; d += 2)
        cr_assert_eq(docset_add(&even, d), 0);
    random_queries(db, 40, &even);
    docset_free(&even);
    cr_assert_eq(lctx_check(db), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_compact(db), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_check(db), LCTX_OK, "%s", lctx_errmsg(db));
    lctx_stats st;
    cr_assert_eq(lctx_stats_get(db, &st), LCTX_OK);
    cr_assert_eq(st.deleted_chunks, 0);
    random_queries(db, 60, NULL);
    cr_assert_gt(skipped_total, 0, "block-max WAND never skipped a block");
    lctx_close(db);
}
