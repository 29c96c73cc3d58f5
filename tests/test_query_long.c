/*
 * test_query_long.c — a query uses every one of its terms, however many.
 *
 * Queries once kept their first 64 distinct terms and dropped the rest
 * without a word. Here: the parser keeps thousands of terms with their
 * weights; a term far past 64 finds its document through lctx_search and
 * scores there exactly as alone; and on random corpora a query of 300
 * distinct words ranks as an independent oracle says (each document's
 * score is the sum of its single-term scores: one chunk per document makes
 * BM25 additive) and block-max WAND returns exactly the exhaustive ranking,
 * also on multi-chunk documents with phrases, exclusions and deletions.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lctx.h"
#include "query/query.h"
#include "test_churn.h"
#include "test_rand.h"
#include "test_tmpdir.h"
#include "test_tok.h"

TMPDIR_COLLECTION_SUITE(qlong, "qlong");

#define VOCAB 700
static char vocab[VOCAB][16];
static unsigned rng = 0x9E3779B9u;

static uint32_t rnd(void)
{
    return next_rand(&rng);
}

/* Zipf-ish: low ids much more frequent, so some lists span many blocks. */
static int word_id(void)
{
    uint32_t r = rnd() % 1000;
    return (int)((r * r / 1000) * VOCAB / 1000);
}

/* Letters only, distinct, and left alone by the stemmer ("q" + base 20
 * digits from consonants): each word is its own term. */
static void make_vocab(void)
{
    static const char digit[] = "bcdfghjklmnpqrstvwxz";
    for (int i = 0; i < VOCAB; i++)
        snprintf(vocab[i], sizeof vocab[i], "q%c%c%cz", digit[i / 400 % 20], digit[i / 20 % 20],
                 digit[i % 20]);
}

static void random_text(char *buf, size_t cap, int words)
{
    size_t n = 0;
    buf[0] = 0;
    for (int i = 0; i < words && n + 20 < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%s", vocab[word_id()],
                              rnd() % 9 == 0 ? ". " : " ");
}

static lctx_db *build(int ndocs, int chunk_words, int churn)
{
    lctx_config cfg;
    lctx_config_init(&cfg);
    cfg.chunk_words = chunk_words;
    lctx_db *db;
    cr_assert_eq(lctx_open(dir, LCTX_OPEN_CREATE, &cfg, &db), LCTX_OK);
    char text[4096], title[128], id[32];
    cr_assert_eq(lctx_begin(db), LCTX_OK, "%s", lctx_errmsg(db));
    for (int i = 0; i < ndocs; i++) {
        random_text(text, sizeof text, 5 + (int)(rnd() % 60));
        random_text(title, sizeof title, (int)(rnd() % 4));
        snprintf(id, sizeof id, "doc%d", i);
        lctx_doc d = {.id = id, .title = title, .text = text};
        cr_assert_eq(lctx_add(db, &d), LCTX_OK, "%s", lctx_errmsg(db));
    }
    cr_assert_eq(lctx_commit(db, NULL), LCTX_OK, "%s", lctx_errmsg(db));
    if (!churn)
        return db;
    churn_batch(db, ndocs, rnd, random_text);
    return db;
}

/* A query of `distinct` different vocabulary words, some repeated, plus
 * `extra` (phrases, exclusions) at the end. */
static void long_query(char *qs, size_t cap, int distinct, const char *extra)
{
    static int used[VOCAB];
    memset(used, 0, sizeof used);
    size_t n = 0;
    for (int got = 0; got < distinct;) {
        int w = (int)(rnd() % VOCAB);
        if (!used[w]++)
            got++;
        n += (size_t)snprintf(qs + n, cap - n, "%s ", vocab[w]);
        if (rnd() % 7 == 0) /* a repeat weighs more */
            n += (size_t)snprintf(qs + n, cap - n, "%s ", vocab[w]);
        cr_assert_lt(n + 64, cap);
    }
    snprintf(qs + n, cap - n, "%s", extra);
}

/* Everything one internal search holds. */
typedef struct run {
    query_parsed q;
    MDB_txn *txn;
    sqlite3 *conn;
    bm25_search s;
    int prepared;
} run;

static void run_open(run *r, lctx_db *db, tok_tokenizer *tok, const char *qs)
{
    char err[128];
    memset(r, 0, sizeof *r);
    cr_assert_eq(query_parse(tok, qs, &r->q, err, sizeof err), LCTX_OK, "%s", err);
    cr_assert_eq(kv_read_begin(db, &r->txn), LCTX_OK);
    cr_assert_not_null(r->conn = store_conn_get(db));
    r->prepared = bm25_prepare(&r->s, db, r->txn, &r->q, r->conn, tok);
    cr_assert_geq(r->prepared, 0, "%s", lctx_errmsg(db));
}

static void run_close(run *r, lctx_db *db)
{
    bm25_release(&r->s);
    store_conn_put(db, r->conn);
    kv_read_end(db, r->txn);
    query_parsed_free(&r->q);
}

/* Top-k and exhaustive agree exactly (documents, order, scores, chunks). */
static size_t compare(lctx_db *db, tok_tokenizer *tok, const char *qs, int k)
{
    run r;
    run_open(&r, db, tok, qs);
    bm25_hit *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    if (r.prepared == 0) {
        cr_assert_eq(bm25_topk(&r.s, k, &a, &na), LCTX_OK, "%s", lctx_errmsg(db));
        cr_assert_eq(bm25_exhaustive(&r.s, k, &b, &nb), LCTX_OK, "%s", lctx_errmsg(db));
    }
    cr_assert_eq(na, nb, "k=%d: %zu vs %zu hits", k, na, nb);
    for (size_t i = 0; i < na; i++) {
        cr_assert_eq(a[i].doc, b[i].doc, "k=%d rank %zu: doc %u vs %u", k, i, a[i].doc, b[i].doc);
        cr_assert(a[i].score == b[i].score, "k=%d rank %zu: score differs", k, i);
        cr_assert_eq(a[i].chunk, b[i].chunk, "k=%d rank %zu: chunk differs", k, i);
    }
    free(a);
    free(b);
    run_close(&r, db);
    return na;
}

Test(qlong, parser_keeps_every_term)
{
    make_vocab();
    tok_tokenizer *tok = english_tokenizer();
    /* 700 distinct words, each once, then word 5 twice more and word 650
     * once more: nothing is dropped and repeats weigh more. */
    size_t cap = VOCAB * 16 + 256, n = 0;
    char *qs = malloc(cap);
    for (int i = 0; i < VOCAB; i++)
        n += (size_t)snprintf(qs + n, cap - n, "%s ", vocab[i]);
    snprintf(qs + n, cap - n, "%s %s %s -%s", vocab[5], vocab[650], vocab[5], vocab[3]);
    query_parsed q;
    char err[128];
    cr_assert_eq(query_parse(tok, qs, &q, err, sizeof err), LCTX_OK, "%s", err);
    cr_assert_eq(q.n_terms, (size_t)VOCAB);
    for (int i = 0; i < VOCAB; i++) {
        cr_assert_str_eq(q.terms[i].term, vocab[i], "term %d in query order", i);
        double want = i == 5 ? 3 : i == 650 ? 2 : 1;
        cr_assert_float_eq(q.terms[i].weight, want, 0, "term %d weight", i);
    }
    cr_assert_eq(q.n_excluded, 1);
    cr_assert_str_eq(q.excluded[0], vocab[3]);
    query_parsed_free(&q);
    free(qs);
    tok_free(tok);
}

Test(qlong, a_term_past_the_old_limit_finds_and_scores)
{
    /* Documents "wordN ... " each holding a few query words; the one we
     * look for holds only the query's last word. */
    lctx_db *db;
    cr_assert_eq(lctx_open(dir, LCTX_OPEN_CREATE, NULL, &db), LCTX_OK);
    cr_assert_eq(lctx_begin(db), LCTX_OK);
    char text[256], id[32];
    for (int i = 0; i < 100; i++) {
        snprintf(text, sizeof text, "uniq%d uniq%d filler", i, (i + 1) % 100);
        snprintf(id, sizeof id, "d%d", i);
        lctx_doc d = {.id = id, .text = text};
        cr_assert_eq(lctx_add(db, &d), LCTX_OK, "%s", lctx_errmsg(db));
    }
    lctx_doc last = {.id = "target", .text = "the boundary of everything, and filler"};
    cr_assert_eq(lctx_add(db, &last), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_commit(db, NULL), LCTX_OK, "%s", lctx_errmsg(db));

    lctx_search_opts o;
    lctx_search_opts_init(&o);
    o.k = 200;
    o.snippets = 1; /* the snippet window counts distinct terms past 64 too */
    lctx_results *alone;
    cr_assert_eq(lctx_search(db, "boundary", &o, &alone), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_results_count(alone), 1);
    double want = lctx_results_get(alone, 0)->score;

    char q[2048];
    size_t n = 0;
    for (int i = 0; i < 100; i++)
        n += (size_t)snprintf(q + n, sizeof q - n, "uniq%d ", i);
    snprintf(q + n, sizeof q - n, "boundary");
    lctx_results *r;
    cr_assert_eq(lctx_search(db, q, &o, &r), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_results_count(r), 101, "every document matches some term");
    int found = 0;
    for (size_t i = 0; i < lctx_results_count(r); i++) {
        const lctx_hit *h = lctx_results_get(r, i);
        if (strcmp(h->id, "target") == 0) {
            found = 1;
            cr_assert_float_eq(h->score, want, 1e-12, "its only term scores as alone");
            cr_assert(strstr(h->snippet, "[boundary]"), "%s", h->snippet);
        } else {
            /* d_i holds uniq_i and uniq_{i+1}: both highlighted, whatever
             * their place in the query */
            cr_assert_eq(strstr(h->snippet, "[uniq") != strrchr(h->snippet, '['), 1,
                         "two highlights: %s", h->snippet);
        }
    }
    cr_assert(found, "the document holding only the 101st term is found");
    const char *json = lctx_results_query_json(r);
    cr_assert(strstr(json, "\"boundari\"") || strstr(json, "\"boundary\""), "%s", json);
    lctx_results_free(r);
    lctx_results_free(alone);
    lctx_close(db);
}

/* Each document's expected score: the sum of its single-term scores, each
 * times the term's weight in the long query. */
static double *additive_scores(lctx_db *db, tok_tokenizer *tok, const query_parsed *lq,
                               uint32_t *ndocs)
{
    size_t cap = 4096;
    double *sum = calloc(cap, sizeof *sum);
    for (size_t t = 0; t < lq->n_terms; t++) {
        run r;
        run_open(&r, db, tok, lq->terms[t].term);
        cr_assert_eq(r.q.n_terms, 1);
        bm25_hit *h = NULL;
        size_t n = 0;
        if (r.prepared == 0)
            cr_assert_eq(bm25_exhaustive(&r.s, 1000000, &h, &n), LCTX_OK);
        for (size_t i = 0; i < n; i++) {
            cr_assert_lt(h[i].doc, cap);
            sum[h[i].doc] += lq->terms[t].weight * h[i].score;
        }
        free(h);
        run_close(&r, db);
    }
    *ndocs = (uint32_t)cap;
    return sum;
}

static int cmp_desc(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

Test(qlong, three_hundred_terms_rank_as_the_sum_of_their_parts, .timeout = 240)
{
    make_vocab();
    lctx_db *db = build(1200, 400, 0); /* one chunk per document */
    tok_tokenizer *tok = english_tokenizer();
    char *qs = malloc(64 * 1024);
    for (int round = 0; round < 3; round++) {
        long_query(qs, 64 * 1024, 300, "");
        run r;
        run_open(&r, db, tok, qs);
        cr_assert_eq(r.q.n_terms, 300);
        uint32_t nd;
        double *want = additive_scores(db, tok, &r.q, &nd);
        double *sorted = malloc(nd * sizeof *sorted);
        memcpy(sorted, want, nd * sizeof *sorted);
        qsort(sorted, nd, sizeof *sorted, cmp_desc);
        int ks[] = {1, 10, 100};
        for (int ki = 0; ki < 3; ki++) {
            bm25_hit *h = NULL;
            size_t n = 0;
            cr_assert_eq(bm25_topk(&r.s, ks[ki], &h, &n), LCTX_OK, "%s", lctx_errmsg(db));
            cr_assert_eq(n, (size_t)ks[ki]);
            for (size_t i = 0; i < n; i++) {
                double tol = 1e-9 * sorted[0];
                cr_assert_float_eq(h[i].score, want[h[i].doc], tol,
                                   "round %d rank %zu doc %u: %.17g, sum of parts %.17g", round,
                                   i, h[i].doc, h[i].score, want[h[i].doc]);
                cr_assert_float_eq(h[i].score, sorted[i], tol,
                                   "round %d rank %zu: %.17g, expected %.17g", round, i,
                                   h[i].score, sorted[i]);
            }
            free(h);
        }
        free(sorted);
        free(want);
        run_close(&r, db);
        for (int k = 1; k <= 300; k *= 3)
            compare(db, tok, qs, k);
    }
    free(qs);
    tok_free(tok);
    lctx_close(db);
}

Test(qlong, wand_equals_exhaustive_on_long_queries, .timeout = 240)
{
    make_vocab();
    lctx_db *db = build(1500, 12, 1); /* several chunks per document, churn */
    tok_tokenizer *tok = english_tokenizer();
    char *qs = malloc(64 * 1024);
    size_t found = 0;
    const char *extras[] = {"", "-qbbcz -qbbdz", "\"qbbbz qbbcz\"", "-\"qbbbz qbbcz\" qbbfz"};
    for (int i = 0; i < 8; i++) {
        long_query(qs, 64 * 1024, 100 + (int)(rnd() % 400), extras[i % 4]);
        int ks[] = {1, 10, 50, 300};
        found += compare(db, tok, qs, ks[i % 4]);
    }
    cr_assert_gt(found, 100, "long queries find documents");
    cr_assert_eq(lctx_compact(db), LCTX_OK, "%s", lctx_errmsg(db));
    long_query(qs, 64 * 1024, 300, "");
    cr_assert_gt(compare(db, tok, qs, 100), 0);
    free(qs);
    tok_free(tok);
    lctx_close(db);
}
