/*
 * bm25.c — BM25 top-k over chunks with block-max WAND, documents ranked by
 * their best chunk.
 *
 * Scoring is Lucene's BM25 (since Lucene 8): for each query term
 *   weight * idf * tf / (tf + k1 * (1 - b + b * len / avgdl)),
 *   idf = ln(1 + (N - df + 0.5) / (df + 0.5)),
 * with BM25F-style fields: tf = tf_text + title_weight * tf_title and len
 * counting text and title tokens. N, df and avgdl count tombstoned chunks
 * until compaction (as Lucene counts deleted documents until a merge).
 *
 * Top-k is block-max WAND (Ding & Suel, 2011) over chunks with a heap keyed
 * by document: a document's entry holds its best chunk so far and the
 * threshold is the k-th best document score. That is exact: a chunk below
 * the threshold can neither enter the heap nor improve a document in it, so
 * skipping it changes nothing. Pruning only skips chunks whose bound is
 * strictly below the threshold, so ties (broken by ascending document id)
 * come out exactly as exhaustive scoring ranks them. Bounds are the term's
 * (or block's) bm25(max_tf, min_len), nudged up by a relative 1e-9 so that
 * summing in a different order than the scorer can never make a bound land
 * below the true score.
 *
 * Scores are always summed in query-term order by bm25_chunk_score, in
 * bm25_topk and bm25_exhaustive alike, so both produce bit-identical scores:
 * the tests compare rankings with ==. A query may have any number of terms:
 * the per-term arrays are sized by bm25_prepare.
 *
 * A prefix's expansions (prefix.c) are one synonym, as Xapian's
 * OP_SYNONYM: the group's tf in a chunk is the sum of its members', and
 * it saturates once, so a chunk holding turbine and turbojet scores what
 * one holding turbine twice does, not two saturated terms. Each member's
 * bound still holds for its share (tf / (tf + norm) is concave and 0 at
 * 0, so the group's term score is at most the sum of its members'), and
 * a group never adds more than weight * idf, the limit of its term score:
 * sums of bounds take a group's members up to that cap (take_bound), or
 * a prefix of 64 expansions would weigh 64 words and WAND would prune
 * nothing.
 *
 * The query's other demands (required phrases, -words, -"phrases") are
 * constrain.c's: here they are a call before a chunk takes a heap slot
 * (bm25_phrase_ok) and a document set tested with the filter
 * (bm25_chunk_admissible), so they never affect a bound.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "query/query.h"

#define BOUND_SLACK (1.0 + 1e-9)

/* ------------------------------------------------------------------ cursor */
typedef struct cursor {
    size_t t;                /* query term index */
    uint32_t g;              /* its prefix group (0: a word) */
    double ub;               /* bound over the whole list */
    kv_blocks blocks;
    int open;                /* blocks needs closing */
    int exhausted;           /* no more blocks */
    uint32_t blk_last;       /* current block: last chunk, header, bound */
    pblock_header h;
    double blk_ub;
    const uint8_t *data;
    size_t len;
    int decoded;
    uint32_t i;              /* index in post when decoded */
    uint32_t cur;            /* current posting's chunk, UINT32_MAX at the end */
    store_posting post[STORE_BLOCK];
} cursor;

static double tf_of(const bm25_search *s, const store_posting *p)
{
    return (double)p->tf_text + s->w_title * (double)p->tf_title;
}

static double bound(const bm25_search *s, size_t t, double max_tf, uint32_t min_len)
{
    return bm25_term_score(s, t, max_tf, (double)min_len) * BOUND_SLACK;
}

/* Loads the header of block b (exhausted when there is none). */
static int load_block(bm25_search *s, cursor *c, const kv_block *b)
{
    if (!b->data) {
        c->exhausted = 1;
        return 0;
    }
    if (pblock_header_read(b->data, b->len, &c->h))
        return store_err(s->db, LCTX_ECORRUPT, "%s/index: malformed postings block",
                         s->db->path);
    c->blk_last = b->last;
    c->data = b->data;
    c->len = b->len;
    c->decoded = 0;
    c->blk_ub = c->t == SIZE_MAX ? 0 : bound(s, c->t, c->h.max_tf, c->h.min_len);
    return 0;
}

/* Moves the block pointer to the block that may hold chunk target (the
 * first with last >= target), without decoding. */
static int seek_block(bm25_search *s, cursor *c, uint32_t target)
{
    if (c->exhausted || (c->data && c->blk_last >= target))
        return 0;
    kv_block b;
    int rc = kv_blocks_seek(s->db, &c->blocks, target, &b);
    return rc ? rc : load_block(s, c, &b);
}

static int decode_block(bm25_search *s, cursor *c)
{
    if (pblock_decode(c->data, c->len, &c->h, c->post))
        return store_err(s->db, LCTX_ECORRUPT, "%s/index: malformed postings block",
                         s->db->path);
    c->decoded = 1;
    c->i = 0;
    return 0;
}

/* Advances to the first posting >= target (cur = UINT32_MAX at the end). */
static int next_geq(bm25_search *s, cursor *c, uint32_t target)
{
    if (c->cur != UINT32_MAX && c->cur >= target && c->decoded)
        return 0;
    int rc = seek_block(s, c, target);
    if (rc)
        return rc;
    if (c->exhausted) {
        c->cur = UINT32_MAX;
        return 0;
    }
    if (!c->decoded && (rc = decode_block(s, c)))
        return rc;
    while (c->i < c->h.count && c->post[c->i].chunk < target)
        c->i++;
    if (c->i == c->h.count) /* cannot happen: blk_last >= target */
        return store_err(s->db, LCTX_ECORRUPT, "%s/index: postings block key disagrees "
                         "with its contents", s->db->path);
    c->cur = c->post[c->i].chunk;
    return 0;
}

/* A cursor on the postings of term (with its inline block inl), at its
 * first posting; t is the query term it scores, SIZE_MAX for none. */
static int cursor_open(bm25_search *s, cursor *c, size_t t, const store_term *term,
                       const MDB_val *inl)
{
    memset(c, 0, sizeof *c);
    c->t = t;
    if (t != SIZE_MAX)
        c->ub = bound(s, t, term->max_tf, term->min_len);
    int rc = kv_blocks_open(s->db, s->txn, term, inl, &c->blocks);
    if (rc)
        return rc;
    c->open = 1;
    c->cur = UINT32_MAX;
    return next_geq(s, c, 0);
}

static void cursor_close(cursor *c)
{
    if (c->open)
        kv_blocks_close(&c->blocks);
    c->open = 0;
}

/* ------------------------------------------------------------ preparation */
int bm25_prepare(bm25_search *s, lctx_db *db, MDB_txn *txn, const query_parsed *q,
                 sqlite3 *conn, tok_tokenizer *tok)
{
    memset(s, 0, sizeof *s);
    s->text_doc = -1;
    s->db = db;
    s->txn = txn;
    s->q = q;
    s->conn = conn;
    s->tok = tok;
    tok_list_init(&s->toks);
    s->k1 = db->cfg.bm25_k1;
    s->b = db->cfg.bm25_b;
    s->w_title = db->cfg.title_weight;
    store_stats st;
    int rc = kv_get_stats(db, txn, &st);
    if (rc)
        return -rc;
    s->N = (double)st.n_chunks;
    s->avgdl = st.n_chunks ? (double)st.total_len / (double)st.n_chunks : 1.0;
    if (s->avgdl <= 0)
        s->avgdl = 1.0;
    size_t nt = q->n_terms ? q->n_terms : 1;
    s->term = calloc(nt, sizeof *s->term);
    s->inl = calloc(nt, sizeof *s->inl);
    s->present = calloc(nt, sizeof *s->present);
    s->idf = calloc(nt, sizeof *s->idf);
    s->span = calloc(nt, sizeof *s->span);
    s->tf = calloc(nt, sizeof *s->tf);
    if (!s->term || !s->inl || !s->present || !s->idf || !s->span || !s->tf)
        return -store_err(db, LCTX_ENOMEM, "out of memory");
    int impossible = 0;
    for (size_t t = 0; t < q->n_terms; t++) {
        rc = kv_term_get(db, txn, q->terms[t].term, q->terms[t].len, &s->term[t], &s->inl[t]);
        if (rc && rc != LCTX_ENOTFOUND)
            return -rc;
        s->present[t] = rc == LCTX_OK && s->term[t].df > 0;
        if (!s->present[t] && q->terms[t].required)
            impossible = 1;
    }
    /* The IDFs; a prefix's expansions share their group's (prefix.c). */
    double *df = malloc(nt * sizeof *df);
    if (!df)
        return -store_err(db, LCTX_ENOMEM, "out of memory");
    for (size_t t = 0; t < q->n_terms; t++)
        df[t] = s->present[t] ? s->term[t].df : 0;
    for (size_t t = 0; t < q->n_terms; t++) {
        double d = q->terms[t].group ? query_group_df(q, q->terms[t].group, df, s->N) : df[t];
        s->idf[t] = log(1.0 + (s->N - d + 0.5) / (d + 0.5));
    }
    free(df);
    /* A group's expansions are consecutive terms (prefix.c appends them);
     * the first carries the run. */
    for (size_t t = 0; t < q->n_terms; t++) {
        uint32_t g = q->terms[t].group;
        if (g && t > 0 && q->terms[t - 1].group == g)
            continue;
        size_t e = t + 1;
        while (g && e < q->n_terms && q->terms[e].group == g)
            e++;
        s->span[t] = (uint32_t)(e - t);
    }
    if ((rc = bm25_collect_excluded(s)))
        return -rc;
    return impossible;
}

void bm25_release(bm25_search *s)
{
    free(s->term);
    free(s->inl);
    free(s->present);
    free(s->idf);
    free(s->span);
    free(s->tf);
    s->span = NULL;
    s->tf = NULL;
    s->term = NULL;
    s->inl = NULL;
    s->present = NULL;
    s->idf = NULL;
    docset_free(&s->excluded);
    tok_list_free(&s->toks);
    sqlite3_finalize(s->st_text);
    s->st_text = NULL;
}

/* ------------------------------------------------------------------ heap */
typedef struct topk {
    bm25_hit *h;             /* min-heap: h[0] is the worst */
    size_t n, k;
    uint32_t *slot_doc;      /* doc -> heap index hash (open addressing) */
    uint32_t *slot_idx;
    size_t mask;
} topk;

static int worse(const bm25_hit *a, const bm25_hit *b)
{
    return a->score < b->score || (a->score == b->score && a->doc > b->doc);
}

static size_t hslot(const topk *t, uint32_t doc)
{
    size_t j = (doc * 0x9E3779B1u) & t->mask;
    while (t->slot_doc[j] && t->slot_doc[j] != doc)
        j = (j + 1) & t->mask;
    return j;
}

static void hdel(topk *t, uint32_t doc)
{
    size_t j = hslot(t, doc);
    t->slot_doc[j] = 0;
    /* backward-shift deletion keeps probe chains intact */
    for (size_t i = (j + 1) & t->mask; t->slot_doc[i]; i = (i + 1) & t->mask) {
        uint32_t d = t->slot_doc[i], x = t->slot_idx[i];
        t->slot_doc[i] = 0;
        size_t k = hslot(t, d);
        t->slot_doc[k] = d;
        t->slot_idx[k] = x;
    }
}

static void hswap(topk *t, size_t a, size_t b)
{
    bm25_hit x = t->h[a];
    t->h[a] = t->h[b];
    t->h[b] = x;
    t->slot_idx[hslot(t, t->h[a].doc)] = (uint32_t)a;
    t->slot_idx[hslot(t, t->h[b].doc)] = (uint32_t)b;
}

static void sift_down(topk *t, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < t->n && worse(&t->h[l], &t->h[m]))
            m = l;
        if (r < t->n && worse(&t->h[r], &t->h[m]))
            m = r;
        if (m == i)
            return;
        hswap(t, i, m);
        i = m;
    }
}

static void sift_up(topk *t, size_t i)
{
    while (i > 0 && worse(&t->h[i], &t->h[(i - 1) / 2])) {
        hswap(t, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
}

static int topk_init(topk *t, size_t k)
{
    memset(t, 0, sizeof *t);
    size_t cap = 16;
    while (cap < 4 * k)
        cap *= 2;
    t->k = k;
    t->mask = cap - 1;
    t->h = malloc(k * sizeof *t->h);
    t->slot_doc = calloc(cap, sizeof *t->slot_doc);
    t->slot_idx = calloc(cap, sizeof *t->slot_idx);
    return t->h && t->slot_doc && t->slot_idx ? 0 : -1;
}

static void topk_free(topk *t)
{
    free(t->h);
    free(t->slot_doc);
    free(t->slot_idx);
}

/* Would (doc, score) change the heap? */
static int topk_wants(const topk *t, uint32_t doc, double score)
{
    size_t j = hslot(t, doc);
    if (t->slot_doc[j])
        return score > t->h[t->slot_idx[j]].score;
    if (t->n < t->k)
        return 1;
    bm25_hit c = {score, doc, 0};
    return worse(&t->h[0], &c);
}

static void topk_offer(topk *t, uint32_t doc, uint32_t chunk, double score)
{
    size_t j = hslot(t, doc);
    if (t->slot_doc[j]) {
        size_t i = t->slot_idx[j];
        if (score > t->h[i].score) {
            t->h[i].score = score;
            t->h[i].chunk = chunk;
            sift_down(t, i);
        }
        return;
    }
    bm25_hit c = {score, doc, chunk};
    if (t->n < t->k) {
        t->h[t->n] = c;
        t->slot_doc[j] = doc;
        t->slot_idx[j] = (uint32_t)t->n;
        t->n++;
        sift_up(t, t->n - 1);
    } else if (worse(&t->h[0], &c)) {
        hdel(t, t->h[0].doc);
        t->h[0] = c;
        j = hslot(t, doc);
        t->slot_doc[j] = doc;
        t->slot_idx[j] = 0;
        sift_down(t, 0);
    }
}

static double topk_threshold(const topk *t)
{
    return t->n < t->k ? -INFINITY : t->h[0].score;
}

static int cmp_hit(const void *a, const void *b)
{
    const bm25_hit *x = a, *y = b;
    return worse(x, y) ? 1 : worse(y, x) ? -1 : 0;
}

/* Hands the heap's contents over, ranked. */
static void topk_finish(topk *t, bm25_hit **out, size_t *n)
{
    qsort(t->h, t->n, sizeof *t->h, cmp_hit);
    *out = t->h;
    *n = t->n;
    t->h = NULL;
}

/* ------------------------------------------------------ chunk evaluation */
int bm25_chunk_admissible(bm25_search *s, kv_page_cache *pc, uint32_t chunk,
                          store_chunkrec *rec)
{
    if (kv_chunk(s->db, s->txn, pc, chunk, rec))
        return 0; /* no record: a posting without its chunk, ignored */
    if (rec->len & STORE_DELETED)
        return 0;
    if (s->excluded.bits && docset_has(&s->excluded, rec->doc))
        return 0;
    if (s->allowed && !docset_has(s->allowed, rec->doc))
        return 0;
    return 1;
}

/* Offers a scored chunk; runs the phrase check only when it would count. */
static int offer(bm25_search *s, topk *t, const store_chunkrec *rec, uint32_t chunk,
                 double score)
{
    if (!topk_wants(t, rec->doc, score))
        return 0;
    int ok = bm25_phrase_ok(s, chunk);
    if (ok < 0)
        return s->failed;
    if (ok)
        topk_offer(t, rec->doc, chunk, score);
    return 0;
}

/* ------------------------------------------------------- block-max WAND */
static int required_ok(const bm25_search *s, cursor *const *by_term, uint32_t d)
{
    for (size_t t = 0; t < s->q->n_terms; t++)
        if (s->q->terms[t].required && (!by_term[t] || by_term[t]->cur != d))
            return 0;
    return 1;
}

double bm25_chunk_score(const bm25_search *s, double len)
{
    double score = 0;
    for (size_t t = 0; t < s->q->n_terms; t++) {
        if (s->span[t] == 0)
            continue;
        double tf = s->tf[t];
        for (size_t u = t + 1; u < t + s->span[t]; u++)
            tf += s->tf[u];
        if (tf > 0)
            score += bm25_term_score(s, t, tf, len);
    }
    return score;
}

static double score_at(bm25_search *s, cursor *const *by_term, uint32_t d, double len)
{
    for (size_t t = 0; t < s->q->n_terms; t++) {
        const cursor *c = by_term[t];
        s->tf[t] = c && c->cur == d ? tf_of(s, &c->post[c->i]) : 0;
    }
    return bm25_chunk_score(s, len);
}

/* What cursor c's bound ub adds to a sum of bounds: all of it for a word,
 * for an expansion no more than its group has left of its cap (used[g]
 * is what the sum has taken so far; zero it for each new sum). */
static double take_bound(const cursor *c, double ub, const double *cap, double *used)
{
    if (!c->g)
        return ub;
    double left = cap[c->g] - used[c->g];
    double add = ub < left ? ub : left > 0 ? left : 0;
    used[c->g] += add;
    return add;
}

static void sort_by_cur(cursor **ord, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        cursor *c = ord[i];
        size_t j = i;
        for (; j > 0 && ord[j - 1]->cur > c->cur; j--)
            ord[j] = ord[j - 1];
        ord[j] = c;
    }
}

/* Scores chunk d, on which every cursor in ord[0..p] sits. */
static int evaluate(bm25_search *s, topk *t, kv_page_cache *pc, cursor *const *by_term,
                    uint32_t d)
{
    store_chunkrec rec;
    if (!bm25_chunk_admissible(s, pc, d, &rec) || !required_ok(s, by_term, d))
        return 0;
    s->n_scored++;
    double score = score_at(s, by_term, d, (double)(rec.len & STORE_LEN_MASK));
    return offer(s, t, &rec, d, score);
}

/* cap[g] and used[g] for g = 1..q->n_prefixes: see take_bound. */
static int wand_loop(bm25_search *s, topk *t, cursor **ord, size_t nc, cursor *const *by_term,
                     const double *cap, double *used)
{
    kv_page_cache pc = {0};
    size_t ng = s->q->n_prefixes ? s->q->n_prefixes + 1 : 0;   /* none: used is not read */
    int rc = 0;
    for (;;) {
        sort_by_cur(ord, nc);
        double theta = topk_threshold(t), acc = 0;
        size_t p = 0;
        int found = 0;
        if (ng)
            memset(used, 0, ng * sizeof *used);
        for (; p < nc && ord[p]->cur != UINT32_MAX; p++) {
            acc += take_bound(ord[p], ord[p]->ub, cap, used);
            if (acc >= theta) {
                found = 1;
                break;
            }
        }
        if (!found)
            return 0;
        uint32_t d = ord[p]->cur;
        while (p + 1 < nc && ord[p + 1]->cur == d)
            p++;
        /* Block-max check over the blocks that may hold d. */
        double bsum = 0;
        uint32_t next = UINT32_MAX;
        if (ng)
            memset(used, 0, ng * sizeof *used);
        for (size_t i = 0; i <= p; i++) {
            if ((rc = seek_block(s, ord[i], d)))
                return rc;
            if (ord[i]->exhausted)
                continue;
            bsum += take_bound(ord[i], ord[i]->blk_ub, cap, used);
            if (ord[i]->blk_last + 1 < next)
                next = ord[i]->blk_last + 1;
        }
        if (bsum < theta) {
            if (p + 1 < nc && ord[p + 1]->cur < next)
                next = ord[p + 1]->cur;
            if (next <= d)
                next = d + 1;
            s->n_blocks_skipped++;
            for (size_t i = 0; i <= p && !rc; i++)
                rc = next_geq(s, ord[i], next);
        } else if (ord[0]->cur == d) {
            rc = evaluate(s, t, &pc, by_term, d);
            for (size_t i = 0; i <= p && !rc; i++)
                rc = next_geq(s, ord[i], d + 1);
        } else {
            for (size_t i = 0; i < p && !rc; i++)
                if (ord[i]->cur < d)
                    rc = next_geq(s, ord[i], d);
        }
        if (rc)
            return rc;
    }
}

int bm25_topk(bm25_search *s, int k, bm25_hit **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (k <= 0 || s->q->n_terms == 0)
        return LCTX_OK;
    cursor *cs = calloc(s->q->n_terms, sizeof *cs);
    cursor **ord = calloc(s->q->n_terms, sizeof *ord);
    cursor **by_term = calloc(s->q->n_terms, sizeof *by_term);
    double *cap = calloc(2 * (s->q->n_prefixes + 1), sizeof *cap);
    topk t;
    int rc = LCTX_OK;
    size_t nc = 0;
    if (topk_init(&t, (size_t)k) || !cs || !ord || !by_term || !cap) {
        free(cs);
        free(ord);
        free(by_term);
        free(cap);
        topk_free(&t);
        return store_err(s->db, LCTX_ENOMEM, "out of memory");
    }
    /* A group's term score stays below weight * idf (tf / (tf + norm) < 1). */
    for (size_t i = 0; i < s->q->n_terms; i++)
        if (s->q->terms[i].group)
            cap[s->q->terms[i].group] = s->q->terms[i].weight * s->idf[i] * BOUND_SLACK;
    for (size_t i = 0; i < s->q->n_terms && !rc; i++) {
        if (!s->present[i])
            continue;
        rc = cursor_open(s, &cs[nc], i, &s->term[i], &s->inl[i]);
        cs[nc].g = s->q->terms[i].group;
        if (cs[nc].open) {
            by_term[i] = &cs[nc];
            ord[nc] = &cs[nc];
            nc++;
        }
    }
    if (!rc)
        rc = wand_loop(s, &t, ord, nc, by_term, cap, cap + s->q->n_prefixes + 1);
    for (size_t i = 0; i < nc; i++)
        cursor_close(&cs[i]);
    free(cs);
    free(ord);
    free(by_term);
    free(cap);
    if (!rc)
        topk_finish(&t, out, n);
    topk_free(&t);
    return rc;
}

/* ------------------------------------------------- exhaustive reference */
/* By document, then score descending, then chunk ascending. */
static int cmp_doc_best(const void *a, const void *b)
{
    const bm25_hit *x = a, *y = b;
    if (x->doc != y->doc)
        return x->doc < y->doc ? -1 : 1;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return (x->chunk > y->chunk) - (x->chunk < y->chunk);
}

int bm25_exhaustive(bm25_search *s, int k, bm25_hit **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (k <= 0 || s->q->n_terms == 0)
        return LCTX_OK;
    size_t nt = s->q->n_terms;
    bm25_list *l = calloc(nt, sizeof *l);
    bm25_hit *all = NULL;
    size_t n_all = 0, cap_all = 0;
    int rc = l ? LCTX_OK : store_err(s->db, LCTX_ENOMEM, "out of memory");
    for (size_t t = 0; t < nt && !rc; t++)
        if (s->present[t])
            rc = bm25_read_list(s, &s->term[t], &s->inl[t], &l[t]);
    kv_page_cache pc = {0};
    while (!rc) {
        uint32_t d = UINT32_MAX;
        for (size_t t = 0; t < nt; t++)
            if (l[t].i < l[t].n && l[t].p[l[t].i].chunk < d)
                d = l[t].p[l[t].i].chunk;
        if (d == UINT32_MAX)
            break;
        store_chunkrec rec;
        int ok = bm25_chunk_admissible(s, &pc, d, &rec);
        for (size_t t = 0; t < nt && ok; t++)
            if (s->q->terms[t].required && !(l[t].i < l[t].n && l[t].p[l[t].i].chunk == d))
                ok = 0;
        if (ok) {
            for (size_t t = 0; t < nt; t++)
                s->tf[t] = l[t].i < l[t].n && l[t].p[l[t].i].chunk == d
                         ? tf_of(s, &l[t].p[l[t].i]) : 0;
            double score = bm25_chunk_score(s, (double)(rec.len & STORE_LEN_MASK));
            int ph = bm25_phrase_ok(s, d);
            if (ph < 0)
                rc = s->failed;
            else if (ph) {
                if (n_all == cap_all) {
                    cap_all = cap_all ? cap_all * 2 : 256;
                    bm25_hit *p = realloc(all, cap_all * sizeof *p);
                    if (!p) {
                        rc = store_err(s->db, LCTX_ENOMEM, "out of memory");
                        break;
                    }
                    all = p;
                }
                all[n_all++] = (bm25_hit){score, rec.doc, d};
            }
        }
        for (size_t t = 0; t < nt; t++)
            if (l[t].i < l[t].n && l[t].p[l[t].i].chunk == d)
                l[t].i++;
    }
    for (size_t t = 0; l && t < nt; t++)
        free(l[t].p);
    free(l);
    if (rc) {
        free(all);
        return rc;
    }
    if (n_all == 0) {
        free(all);
        return LCTX_OK;
    }
    /* Document = best chunk (first among equals: chunks came in id order). */
    qsort(all, n_all, sizeof *all, cmp_doc_best);
    size_t n_best = 0;
    for (size_t i = 0; i < n_all; i++)
        if (n_best == 0 || all[n_best - 1].doc != all[i].doc)
            all[n_best++] = all[i];
    qsort(all, n_best, sizeof *all, cmp_hit);
    *out = all;
    *n = n_best < (size_t)k ? n_best : (size_t)k;
    return LCTX_OK;
}

int bm25_term_tf(bm25_search *s, size_t t, uint32_t chunk, uint32_t *tf_text,
                 uint32_t *tf_title)
{
    *tf_text = *tf_title = 0;
    if (!s->present[t])
        return LCTX_OK;
    cursor *c = malloc(sizeof *c);
    if (!c)
        return store_err(s->db, LCTX_ENOMEM, "out of memory");
    int rc = cursor_open(s, c, t, &s->term[t], &s->inl[t]);
    if (!rc)
        rc = next_geq(s, c, chunk);
    if (!rc && c->cur == chunk) {
        *tf_text = c->post[c->i].tf_text;
        *tf_title = c->post[c->i].tf_title;
    }
    cursor_close(c);
    free(c);
    return rc;
}
