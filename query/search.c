/*
 * search.c — lctx_search: the keyword search driver and the result set.
 *
 * One search = one LMDB read transaction (a consistent snapshot of the
 * index, shared with no one) plus a pooled read-only SQLite connection for
 * what the index does not hold: the metadata filter, phrase verification,
 * hit details and snippets. Handles are shared by threads: nothing here
 * touches handle state except through those pools and the error message.
 *
 * The metadata filter is a SQLite expression over the documents table
 * (json_extract(metadata, '$.year') > 2000). It is evaluated once per search
 * into a document bitmap, checked by the top-k loop before scoring, so the
 * top-k stays exact: documents outside the filter never take a heap slot and
 * k results come back whenever k matching documents exist. The expression
 * runs on a read-only connection and must be a single expression (no
 * trailing statements), so it cannot change the collection.
 *
 * Every mode honours the query's constraints (required phrases, -words,
 * -"phrases"): BM25 while scoring, vector recall by searching only the
 * documents BM25 could match (constrain.c), so hybrid fuses two lists that
 * obey the same rules. A query with nothing to search for (empty, only
 * stopwords or characters that make no terms, only exclusions) finds
 * nothing in every mode, with the reason as the handle's message; only a
 * caller's vector or "more like this" document is a query without text.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query/query.h"

/* Hybrid defaults, measured on the dev collections with USE-lite (docs/lsh.md,
 * "Fusion"): min-max linear fusion with a small vector weight. */
#define SEARCH_FUSION_DEFAULT LCTX_FUSION_LINEAR
#define SEARCH_ALPHA_DEFAULT 0.1
/* Runs of one search when compactions keep removing documents under it
 * (lctx_search); the last run answers with what its catalog still has. */
#define SEARCH_TRIES 4

struct lctx_results {
    lctx_hit *hits;
    size_t n;
    char *query_json;
};

void lctx_search_opts_init(lctx_search_opts *opts)
{
    if (!opts)
        return;
    memset(opts, 0, sizeof *opts);
    opts->mode = LCTX_MODE_DEFAULT;
    opts->k = 10;
    opts->hl_open = "[";
    opts->hl_close = "]";
    opts->alpha = -1.0;   /* the collection default */
}

size_t lctx_results_count(const lctx_results *r)
{
    return r ? r->n : 0;
}

const lctx_hit *lctx_results_get(const lctx_results *r, size_t i)
{
    return r && i < r->n ? &r->hits[i] : NULL;
}

const char *lctx_results_query_json(const lctx_results *r)
{
    return r && r->query_json ? r->query_json : "{}";
}

/* Frees r's hits and leaves it empty. */
static void results_clear(lctx_results *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free((char *)r->hits[i].id);
        free((char *)r->hits[i].title);
        free((char *)r->hits[i].uri);
        free((char *)r->hits[i].snippet);
        free((char *)r->hits[i].explain);
    }
    free(r->hits);
    r->hits = NULL;
    r->n = 0;
}

void lctx_results_free(lctx_results *r)
{
    if (!r)
        return;
    results_clear(r);
    free(r->query_json);
    free(r);
}

static char *dup_col(sqlite3_stmt *st, int col)
{
    const unsigned char *s = sqlite3_column_text(st, col);
    int n = sqlite3_column_bytes(st, col);
    char *p = malloc((size_t)n + 1);
    if (p) {
        if (n)
            memcpy(p, s, (size_t)n);
        p[n] = 0;
    }
    return p;
}

/* Evaluates the metadata filter into a set of allowed documents. */
/* 1 when expr keeps to its parentheses: outside quoted strings and names
 * ('..', "..", `..`, [..]) no ')' closes what expr did not open, every
 * '(' is closed, and there is no comment or ';'. filter_docs pastes expr
 * inside "AND (...)"; "1) OR (1" would otherwise step out of that clause
 * and past deleted_seq IS NULL, and a comment could cut the rest off. */
static int filter_contained(const char *expr)
{
    int depth = 0;
    for (const char *p = expr; *p; p++) {
        char close = *p == '\'' ? '\'' : *p == '"' ? '"' : *p == '`' ? '`' : *p == '[' ? ']' : 0;
        if (close) {
            /* to the closing quote; a doubled one ('it''s') stays inside */
            for (p++; *p && !(*p == close && p[1] != close); p++)
                if (*p == close && close != ']')
                    p++;
            if (!*p)
                return 0;
        } else if (*p == '(') {
            depth++;
        } else if (*p == ')') {
            if (--depth < 0)
                return 0;
        } else if (*p == ';' || (*p == '-' && p[1] == '-') || (*p == '/' && p[1] == '*')) {
            return 0;
        }
    }
    return depth == 0;
}

static int filter_docs(lctx_db *db, sqlite3 *conn, MDB_txn *txn, const char *expr,
                       docset *out)
{
    if (!filter_contained(expr))
        return store_err(db, LCTX_EINVAL, "filter '%s': must be one expression with balanced "
                         "parentheses and no comment or ';'", expr);
    /* The documents live in the search's index snapshot: the catalog is
     * read after it, and a document deleted or replaced since (a batch
     * later than the snapshot's last) is still live there. Leaving it out
     * would lose a replaced document, whose new version that snapshot
     * does not have yet. */
    store_stats st;
    int rc = kv_get_stats(db, txn, &st);
    if (rc)
        return rc;
    size_t n = strlen(expr);
    char *sql = malloc(n + 128);
    if (!sql)
        return store_err(db, LCTX_ENOMEM, "out of memory");
    snprintf(sql, n + 128, "SELECT doc_id FROM documents WHERE (deleted_seq IS NULL OR "
             "deleted_seq > %llu) AND (%s)", (unsigned long long)st.last_seq, expr);
    sqlite3_stmt *stmt = NULL;
    const char *tail = NULL;
    rc = sqlite3_prepare_v2(conn, sql, -1, &stmt, &tail);
    if (rc != SQLITE_OK || !stmt) {
        rc = store_err(db, LCTX_EINVAL, "filter '%s': %s", expr, sqlite3_errmsg(conn));
        sqlite3_finalize(stmt);
        free(sql);
        return rc;
    }
    while (tail && (*tail == ' ' || *tail == '\n' || *tail == '\t' || *tail == ';'))
        tail++;
    if ((tail && *tail) || !sqlite3_stmt_readonly(stmt)) {
        sqlite3_finalize(stmt);
        free(sql);
        return store_err(db, LCTX_EINVAL, "filter '%s': must be a single expression", expr);
    }
    free(sql);
    /* An empty filter result still needs a non-NULL set: allocate one bit. */
    rc = docset_add(out, 0) ? LCTX_ENOMEM : LCTX_OK;
    out->bits[0] = 0;
    int s;
    while (!rc && (s = sqlite3_step(stmt)) == SQLITE_ROW)
        if (docset_add(out, (uint32_t)sqlite3_column_int64(stmt, 0)))
            rc = LCTX_ENOMEM;
    if (!rc && s != SQLITE_DONE)
        rc = store_err(db, LCTX_EINVAL, "filter '%s': %s", expr, sqlite3_errmsg(conn));
    else if (rc == LCTX_ENOMEM)
        store_err(db, rc, "out of memory");
    sqlite3_finalize(stmt);
    return rc;
}

static char *explain_json(bm25_search *s, const bm25_hit *h, uint32_t len)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddNumberToObject(root, "chunk", h->chunk);
    cJSON_AddNumberToObject(root, "score", h->score);
    cJSON_AddNumberToObject(root, "chunk_len", len);
    cJSON_AddNumberToObject(root, "avg_chunk_len", s->avgdl);
    cJSON_AddNumberToObject(root, "chunks", s->N);
    cJSON_AddNumberToObject(root, "k1", s->k1);
    cJSON_AddNumberToObject(root, "b", s->b);
    cJSON_AddNumberToObject(root, "title_weight", s->w_title);
    cJSON *terms = cJSON_AddArrayToObject(root, "terms");
    /* Every term's tf first: a prefix group's score needs all of its own. */
    size_t nt = s->q->n_terms;
    uint32_t *tt = calloc(nt ? 2 * nt : 1, sizeof *tt), *ti = tt + nt;
    if (!tt) {
        cJSON_Delete(root);
        store_err(s->db, LCTX_ENOMEM, "out of memory");
        return NULL;
    }
    for (size_t t = 0; t < nt; t++)
        if (bm25_term_tf(s, t, h->chunk, &tt[t], &ti[t])) {
            free(tt);
            cJSON_Delete(root);
            return NULL;
        }
    for (size_t first = 0; first < nt; first++) {
        if (s->span[first] == 0)
            continue;        /* not reached: groups are skipped whole below */
        size_t end = first + s->span[first];
        double group_tf = 0;
        for (size_t t = first; t < end; t++)
            group_tf += (double)tt[t] + s->w_title * (double)ti[t];
        double group_score = group_tf > 0 ? bm25_term_score(s, first, group_tf, len) : 0;
        for (size_t t = first; t < end; t++) {
            /* Only the terms the chunk holds: the others add 0, and listing
             * them made a 400-term query with -k 20000 build 7 GB of JSON. */
            if (tt[t] == 0 && ti[t] == 0)
                continue;
            double tf = (double)tt[t] + s->w_title * (double)ti[t];
            cJSON *j = cJSON_CreateObject();
            cJSON_AddStringToObject(j, "term", s->q->terms[t].term);
            cJSON_AddNumberToObject(j, "df", s->present[t] ? s->term[t].df : 0);
            cJSON_AddNumberToObject(j, "idf", s->idf[t]);
            cJSON_AddNumberToObject(j, "weight", s->q->terms[t].weight);
            cJSON_AddNumberToObject(j, "tf_text", tt[t]);
            cJSON_AddNumberToObject(j, "tf_title", ti[t]);
            cJSON_AddNumberToObject(j, "tf", tf);
            /* An expansion's share of its group's score, by tf: the group
             * saturates once (bm25.c), so the shares still sum to it. */
            if (s->q->terms[t].group) {
                cJSON_AddStringToObject(j, "prefix",
                                        s->q->prefixes[s->q->terms[t].group - 1].prefix);
                cJSON_AddNumberToObject(j, "group_tf", group_tf);
                cJSON_AddNumberToObject(j, "group_score", group_score);
            }
            cJSON_AddNumberToObject(j, "score", s->q->terms[t].group
                                                    ? group_score * tf / group_tf
                                                    : bm25_term_score(s, t, tf, len));
            cJSON_AddItemToArray(terms, j);
        }
        first = end - 1;
    }
    free(tt);
    char *out = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return out;
}

/* Explanation of one hit of a vector or hybrid search: both sides and the
 * fusion (the BM25 side's per-term detail when BM25 recalled it). */
static char *explain_fused(bm25_search *s, const fused_hit *f, const lctx_search_opts *o,
                           int mode, int fusion, double alpha, int rrf_k, uint32_t len)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "mode", mode == LCTX_MODE_VECTOR ? "vector" : "hybrid");
    cJSON_AddNumberToObject(root, "score", f->score);
    cJSON_AddNumberToObject(root, "chunk", f->chunk);
    if (mode == LCTX_MODE_HYBRID) {
        cJSON *fu = cJSON_AddObjectToObject(root, "fusion");
        cJSON_AddStringToObject(fu, "method", fusion == LCTX_FUSION_RRF ? "rrf" : "linear");
        if (fusion == LCTX_FUSION_RRF)
            cJSON_AddNumberToObject(fu, "rrf_k", rrf_k);
        else
            cJSON_AddNumberToObject(fu, "alpha", alpha);
        cJSON *b = cJSON_AddObjectToObject(root, "bm25");
        cJSON_AddNumberToObject(b, "rank", f->rank_bm25);
        cJSON_AddNumberToObject(b, "score", f->bm25);
        if (fusion != LCTX_FUSION_RRF)
            cJSON_AddNumberToObject(b, "norm", f->nbm25);
        if (f->rank_bm25 && s) {
            bm25_hit h = {f->bm25, f->doc, f->chunk};
            char *j = explain_json(s, &h, len);
            cJSON *d = j ? cJSON_Parse(j) : NULL;
            free(j);
            if (d)
                cJSON_AddItemToObject(b, "explain", d);
        }
    }
    cJSON *v = cJSON_AddObjectToObject(root, "vector");
    cJSON_AddNumberToObject(v, "rank", f->rank_vec);
    cJSON_AddNumberToObject(v, "cosine", f->vec);
    if (mode == LCTX_MODE_HYBRID && fusion != LCTX_FUSION_RRF)
        cJSON_AddNumberToObject(v, "norm", f->nvec);
    (void)o;
    char *out = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return out;
}

typedef struct search_env {
    tok_tokenizer *tok;
    sqlite3 *conn;
    MDB_txn *txn;
    query_parsed q;
    docset allowed;
    bm25_search s;
    int prepared;
    int impossible;          /* a required term is in no document */
    int mode;                /* resolved: BM25, VECTOR or HYBRID */
    int fusion;
    double alpha;
    int rrf_k;
    int vanished;            /* hits whose document the catalog no longer has */
    int moved;               /* the catalog names another index generation */
    float *text_qv;          /* the query text's vector (vector and hybrid modes) */
} search_env;

/* The span of chunk in the document row at st (columns 3, 4: first_chunk,
 * spans); 0 when the row does not hold it. */
static int hit_span(sqlite3_stmt *st, uint32_t chunk, chunk_span *sp)
{
    uint32_t first = (uint32_t)sqlite3_column_int64(st, 3);
    return chunk >= first &&
           chunk_span_at(sqlite3_column_blob(st, 4), (size_t)sqlite3_column_bytes(st, 4),
                         chunk - first, sp) == 0;
}

/* A stored int8 or f16 row is a unit vector only to within its rounding,
 * so its dot product with a unit query can pass 1 by that much (1.0001 for
 * a passage searched by its own text). A cosine past ±1 means ±1 within
 * the encoding's error, and is reported as such; the ranking, made before,
 * keeps the unrounded order. */
static double cosine_clamp(double c)
{
    return c > 1 ? 1 : c < -1 ? -1 : c;
}

/* Fills hit details (and snippet/explain) for each ranked document. */
static int fill_hits(lctx_db *db, search_env *e, const lctx_search_opts *o,
                     const fused_hit *h, size_t n, lctx_results *r)
{
    sqlite3_stmt *st;
    /* The text is read only for snippets (?2). */
    if (sqlite3_prepare_v2(e->conn, "SELECT ext_id, title, uri, first_chunk, spans, "
                           "CASE WHEN ?2 THEN text END FROM documents WHERE doc_id = ?1",
                           -1, &st, NULL))
        return store_err(db, LCTX_ERROR, "%s/catalog.db: %s", db->path, sqlite3_errmsg(e->conn));
    sqlite3_bind_int(st, 2, o->snippets != 0);
    r->hits = calloc(n ? n : 1, sizeof *r->hits);
    if (!r->hits) {
        sqlite3_finalize(st);
        return store_err(db, LCTX_ENOMEM, "out of memory");
    }
    int rc = LCTX_OK;
    kv_page_cache pc = {0};
    for (size_t i = 0; i < n && !rc; i++) {
        sqlite3_bind_int64(st, 1, h[i].doc);
        int step = sqlite3_step(st);
        chunk_span sp;
        if (step == SQLITE_ROW && !hit_span(st, h[i].chunk, &sp))
            step = SQLITE_DONE;
        if (step == SQLITE_DONE) {
            /* Only a search whose index snapshot predates a delete or an
             * upsert, and the compaction that followed, can meet a chunk
             * the catalog no longer has. Dropping the hit would lose an
             * upserted document's new version too, which that snapshot
             * did not have: lctx_search runs again from a newer one. */
            e->vanished++;
            sqlite3_reset(st);
            continue;
        }
        if (step != SQLITE_ROW) {
            rc = store_err(db, LCTX_EIO, "%s/catalog.db: %s", db->path,
                           sqlite3_errmsg(e->conn));
            break;
        }
        lctx_hit *hit = &r->hits[r->n++];
        hit->id = dup_col(st, 0);
        hit->title = dup_col(st, 1);
        hit->uri = sqlite3_column_type(st, 2) == SQLITE_NULL ? NULL : dup_col(st, 2);
        hit->score = e->mode == LCTX_MODE_VECTOR ? cosine_clamp(h[i].score) : h[i].score;
        hit->bm25_score = h[i].bm25;
        hit->vector_score = cosine_clamp(h[i].vec);
        hit->chunk = h[i].chunk;
        hit->start = sp.start;
        hit->end = sp.end;
        if (!hit->id || !hit->title)
            rc = store_err(db, LCTX_ENOMEM, "out of memory");
        if (!rc && o->snippets) {
            const char *text = sqlite3_column_blob(st, 5);
            size_t len = sp.end - sp.start;
            if (!text || (size_t)sqlite3_column_bytes(st, 5) < sp.end)
                text = "", len = 0;
            else
                text += sp.start;
            hit->snippet = snippet_make(e->tok, &e->q, text, len,
                                        o->hl_open ? o->hl_open : "[",
                                        o->hl_close ? o->hl_close : "]");
            if (!hit->snippet)
                rc = store_err(db, LCTX_ENOMEM, "out of memory");
        }
        if (!rc && o->explain) {
            store_chunkrec rec = {0, 0};
            kv_chunk(db, e->txn, &pc, h[i].chunk, &rec);
            uint32_t len = rec.len & STORE_LEN_MASK;
            if (e->mode == LCTX_MODE_BM25) {
                bm25_hit b = {h[i].score, h[i].doc, h[i].chunk};
                hit->explain = explain_json(&e->s, &b, len);
            } else {
                hit->explain = explain_fused(e->prepared ? &e->s : NULL, &h[i], o, e->mode,
                                             e->fusion, e->alpha, e->rrf_k, len);
            }
            if (!hit->explain)
                rc = store_err(db, LCTX_ENOMEM, "out of memory (explain)");
        }
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    return rc;
}

/* Back to what lctx_search set up, for another run from a new snapshot. */
static void env_restart(lctx_db *db, search_env *e)
{
    if (e->prepared)
        bm25_release(&e->s);
    e->prepared = 0;
    if (e->txn)
        kv_read_end(db, e->txn);
    e->txn = NULL;
    docset_free(&e->allowed);
    e->impossible = 0;
    e->vanished = 0;
    e->moved = 0;
}

static void env_release(lctx_db *db, search_env *e)
{
    if (e->prepared)
        bm25_release(&e->s);
    if (e->txn)
        kv_read_end(db, e->txn);
    store_conn_put(db, e->conn);
    store_tok_put(db, e->tok);
    free(e->text_qv);
    query_parsed_free(&e->q);
    docset_free(&e->allowed);
}

/* Term statistics and the constraints' document sets, for BM25 recall and
 * for vector recall under the query's constraints. */
static int prepare(lctx_db *db, search_env *e)
{
    int p = bm25_prepare(&e->s, db, e->txn, &e->q, e->conn, e->tok);
    e->prepared = 1;
    if (p < 0)
        return -p;
    e->s.allowed = e->allowed.bits ? &e->allowed : NULL;
    e->impossible = p == 1; /* a required term is absent: nothing can match */
    return LCTX_OK;
}

/* BM25 top `depth` documents; *n = 0 when the query cannot match. */
static int recall_bm25(search_env *e, int depth, bm25_hit **hits, size_t *n)
{
    *hits = NULL;
    *n = 0;
    if (e->q.n_terms == 0 || e->impossible)
        return LCTX_OK;
    return bm25_topk(&e->s, depth, hits, n);
}

/* Vector top `depth` documents for qv, among those the constraints allow. */
static int recall_vector(lctx_db *db, search_env *e, const float *qv, int depth,
                         uint32_t exclude, bm25_hit **hits, size_t *n)
{
    *hits = NULL;
    *n = 0;
    if (e->impossible)
        return LCTX_OK;
    if (e->prepared && query_constrains(&e->q))
        return vsearch_constrained(&e->s, qv, depth, exclude, hits, n);
    return vsearch_topk(db, e->txn, qv, depth, e->allowed.bits ? &e->allowed : NULL, exclude,
                        0, hits, n);
}

/* The query vector: the caller's, the liked document's, or the text's. */
static int query_vector(lctx_db *db, search_env *e, const char *query,
                        const lctx_search_opts *o, float *qv, uint32_t *exclude, int *have)
{
    *have = 0;
    *exclude = 0;
    if (o->vector) {
        if (o->vector_dim != db->dim)
            return store_err(db, LCTX_EINVAL, "%s: query vector has %d dimensions, the "
                             "collection's vectors %d", db->path, o->vector_dim, db->dim);
        double ss = 0;
        for (int i = 0; i < db->dim; i++)
            ss += (double)o->vector[i] * o->vector[i];
        if (!isfinite(ss))
            return store_err(db, LCTX_EINVAL, "query vector has a component that is not a "
                             "finite number");
        if (!(ss > 0))
            return store_err(db, LCTX_EINVAL, "query vector is zero");
        for (int i = 0; i < db->dim; i++)
            qv[i] = (float)(o->vector[i] / sqrt(ss));
        *have = 1;
        return LCTX_OK;
    }
    if (o->like) {
        int rc = vsearch_like(db, e->txn, e->conn, o->like, qv, exclude);
        *have = rc == LCTX_OK;
        return rc;
    }
    if (!query || !*query)
        return LCTX_OK;
    memcpy(qv, e->text_qv, (size_t)db->dim * sizeof *qv);
    *have = 1;
    return LCTX_OK;
}

/* The text's vector comes before any snapshot: an embedding service may
 * take its time, and the catalog's snapshot, which in rollback-journal
 * mode holds a writer back, is taken at the search's start (run_search). */
static int embed_query(lctx_db *db, search_env *e, const char *query,
                       const lctx_search_opts *o)
{
    if (e->mode == LCTX_MODE_BM25 || o->vector || o->like || !query || !*query)
        return LCTX_OK;
    if (!(e->text_qv = malloc((size_t)db->dim * sizeof *e->text_qv)))
        return store_err(db, LCTX_ENOMEM, "out of memory");
    return embed_texts(db, &query, 1, e->text_qv);
}

/* One recall's ranking as is (BM25 or vector mode): raw scores. */
static int single_list(int is_bm25, const bm25_hit *h, size_t n, fused_hit **out, size_t *nf)
{
    *nf = 0;
    if (!(*out = calloc(n ? n : 1, sizeof **out)))
        return -1;
    for (size_t i = 0; i < n; i++) {
        fused_hit *f = &(*out)[i];
        f->score = h[i].score;
        f->doc = h[i].doc;
        f->chunk = h[i].chunk;
        if (is_bm25) {
            f->bm25 = h[i].score;
            f->rank_bm25 = (int)i + 1;
        } else {
            f->vec = h[i].score;
            f->rank_vec = (int)i + 1;
        }
    }
    *nf = n;
    return 0;
}

static int run_search(lctx_db *db, search_env *e, const char *query, const lctx_search_opts *o,
                      lctx_results *r)
{
    int rc, k = o->k > 0 ? o->k : 10;
    if ((rc = kv_read_begin(db, &e->txn)))
        return rc;
    if (db->test_after_snapshot)
        db->test_after_snapshot(db->test_after_snapshot_ctx);
    /* The catalog's ids are the index's only while both name the same
     * generation: renumbering (store/renumber.c) changes them in the
     * transaction that switches generations, and a handle may hold the
     * old one for a moment after. This first catalog read also fixes the
     * search's catalog snapshot. */
    uint64_t gen;
    if ((rc = catalog_reader_gen(db, e->conn, &gen)))
        return rc;
    if (gen != db->index_gen) {
        e->moved = 1;
        return LCTX_OK;
    }
    if (o->filter && *o->filter &&
        (rc = filter_docs(db, e->conn, e->txn, o->filter, &e->allowed)))
        return rc;
    /* word* patterns become terms (unused by vector recall), -word*
     * patterns excluded words (obeyed by every recall) */
    if ((rc = query_expand_prefixes(db, e->txn, &e->q)))
        return rc;
    int db25 = e->mode == LCTX_MODE_HYBRID ? (o->depth_bm25 > 0 ? o->depth_bm25 : 100) : k;
    int dvec = e->mode == LCTX_MODE_HYBRID ? (o->depth_vector > 0 ? o->depth_vector : 100) : k;
    if (db25 < k)
        db25 = k;
    if (dvec < k)
        dvec = k;
    bm25_hit *bh = NULL, *vh = NULL;
    size_t nb = 0, nv = 0;
    float *qv = NULL;
    /* Vector mode prepares only for the constraints a vector recall obeys. */
    if (e->mode == LCTX_MODE_VECTOR ? query_constrains(&e->q)
                                    : e->q.n_terms || query_constrains(&e->q))
        rc = prepare(db, e);
    if (!rc && e->mode != LCTX_MODE_VECTOR)
        rc = recall_bm25(e, db25, &bh, &nb);
    if (!rc && e->mode != LCTX_MODE_BM25) {
        uint32_t exclude;
        int have;
        if (!(qv = malloc((size_t)db->dim * sizeof *qv)))
            rc = store_err(db, LCTX_ENOMEM, "out of memory");
        else if (!(rc = query_vector(db, e, query, o, qv, &exclude, &have)) && have)
            rc = recall_vector(db, e, qv, dvec, exclude, &vh, &nv);
    }
    free(qv);
    fused_hit *f = NULL;
    size_t nf = 0;
    if (!rc) {
        int bad;
        if (e->mode == LCTX_MODE_HYBRID && e->fusion == LCTX_FUSION_RRF)
            bad = fusion_rrf(bh, nb, vh, nv, e->rrf_k, &f, &nf);
        else if (e->mode == LCTX_MODE_HYBRID)
            bad = fusion_linear(bh, nb, vh, nv, e->alpha, &f, &nf);
        else
            bad = single_list(e->mode == LCTX_MODE_BM25, e->mode == LCTX_MODE_BM25 ? bh : vh,
                              e->mode == LCTX_MODE_BM25 ? nb : nv, &f, &nf);
        if (bad)
            rc = store_err(db, LCTX_ENOMEM, "out of memory");
    }
    free(bh);
    free(vh);
    if (!rc) /* both recalls obeyed the constraints: the first k are the answer */
        rc = fill_hits(db, e, o, f, nf < (size_t)k ? nf : (size_t)k, r);
    free(f);
    return rc;
}

/* The mode a search runs in, and its fusion settings. */
static int resolve_mode(lctx_db *db, const lctx_search_opts *o, search_env *e)
{
    e->mode = o->mode == LCTX_MODE_DEFAULT ? (db->has_vectors ? LCTX_MODE_HYBRID
                                                               : LCTX_MODE_BM25)
                                           : (int)o->mode;
    if (e->mode != LCTX_MODE_BM25 && e->mode != LCTX_MODE_VECTOR &&
        e->mode != LCTX_MODE_HYBRID)
        return store_err(db, LCTX_EINVAL, "unknown search mode %d", (int)o->mode);
    if ((e->mode != LCTX_MODE_BM25 || o->vector || o->like) && !db->has_vectors)
        return store_err(db, LCTX_EUNSUPPORTED, "%s: collection has no vectors: index with "
                         "--embedder to use vector or hybrid search", db->path);
    if ((o->vector || o->like) && e->mode == LCTX_MODE_BM25)
        return store_err(db, LCTX_EINVAL, "search by vector or like needs mode vector or "
                         "hybrid");
    e->fusion = o->fusion == LCTX_FUSION_DEFAULT ? SEARCH_FUSION_DEFAULT : (int)o->fusion;
    if (e->fusion != LCTX_FUSION_RRF && e->fusion != LCTX_FUSION_LINEAR)
        return store_err(db, LCTX_EINVAL, "unknown fusion method %d", (int)o->fusion);
    e->alpha = o->alpha < 0 ? SEARCH_ALPHA_DEFAULT : o->alpha;
    if (!(e->alpha <= 1))               /* NaN too */
        return store_err(db, LCTX_EINVAL, "alpha must be between 0 and 1");
    e->rrf_k = o->rrf_k > 0 ? o->rrf_k : 60;
    return LCTX_OK;
}

/* Why a query of words has no terms: stopwords, words over the
 * tokenizer's length limit (bytes under rules 1 and 2, characters from
 * rules 3), or both. */
static const char *empty_query_reason(const query_parsed *q, const tok_tokenizer *t,
                                      char *buf, size_t n)
{
    const char *unit = tok_rules(t) >= 3 ? "characters" : "bytes";
    if (!q->too_long)
        return "query has no searchable terms (only stopwords)";
    snprintf(buf, n, "query has no searchable terms (only %swords longer than %d %s)",
             q->only_too_long ? "" : "stopwords and ", TOK_MAX_TERM, unit);
    return buf;
}

int lctx_search(lctx_db *db, const char *query, const lctx_search_opts *opts,
                lctx_results **out)
{
    if (!out)
        return store_err(db, LCTX_EINVAL, "lctx_search: NULL argument");
    *out = NULL;
    lctx_search_opts defaults;
    if (!opts) {
        lctx_search_opts_init(&defaults);
        opts = &defaults;
    }
    if (!db || (!query && !opts->vector && !opts->like))
        return store_err(db, LCTX_EINVAL, "lctx_search: NULL argument");
    if (opts->k < 0 || opts->k > 1000000)
        return store_err(db, LCTX_EINVAL, "k must be between 1 and 1000000");
    search_env e;
    memset(&e, 0, sizeof e);
    int rc = resolve_mode(db, opts, &e);
    if (rc)
        return rc;
    lctx_results *r = calloc(1, sizeof *r);
    if (!r)
        return store_err(db, LCTX_ENOMEM, "out of memory");
    char err[256] = "";
    if (!(e.tok = store_tok_get(db)))
        rc = LCTX_ERROR;
    else if ((rc = query_parse(e.tok, query ? query : "", &e.q, err, sizeof err)))
        store_err(db, rc, "%s", err);
    else if (!(e.conn = store_conn_get(db)))
        rc = LCTX_EIO;
    const char *msg = NULL;
    char why[128];
    /* Text without terms finds nothing in every mode; a caller's vector or
     * liked document is a query of its own. */
    int vector_query = e.mode != LCTX_MODE_BM25 && (opts->vector || opts->like);
    if (!rc && e.q.n_terms == 0 && e.q.n_prefixes == 0 && !vector_query) {
        msg = e.q.stopwords_only ? empty_query_reason(&e.q, e.tok, why, sizeof why)
              : e.q.exclusions_only ? "nothing to search for: the query only excludes terms"
                                    : "query has no searchable terms";
        store_err(db, LCTX_OK, "%s", msg);
        r->hits = calloc(1, sizeof *r->hits);
    } else if (!rc && !(rc = embed_query(db, &e, query, opts))) {
        store_clear_err(db);
        /* One read transaction for all catalog lookups of the search: one
         * lock round-trip instead of one per statement. It takes its
         * snapshot right after the index's (run_search's first read), so it
         * holds every document the index snapshot has, unless a compaction
         * removed some meanwhile (fill_hits) or replaced the index (the
         * generation check): then the search runs again, from snapshots
         * past that compaction. */
        for (int tries = 1;; tries++) {
            int tx = sqlite3_exec(e.conn, "BEGIN", NULL, NULL, NULL) == SQLITE_OK;
            rc = run_search(db, &e, query, opts, r);
            if (e.prepared)
                bm25_phrase_done(&e.s);
            if (tx)
                sqlite3_exec(e.conn, "COMMIT", NULL, NULL, NULL);
            if (rc || (!e.vanished && !e.moved) || (tries == SEARCH_TRIES && !e.moved))
                break;
            if (tries == SEARCH_TRIES) {   /* never answer from ids the catalog does not share */
                rc = store_err(db, LCTX_EBUSY, "%s: the index keeps being replaced", db->path);
                break;
            }
            int moved = e.moved;
            results_clear(r);
            env_restart(db, &e);
            if (moved && (rc = index_catch_up(db)))
                break;
        }
    }
    if (!rc && !(r->query_json = query_parsed_json(&e.q, msg)))
        rc = store_err(db, LCTX_ENOMEM, "out of memory");
    env_release(db, &e);
    if (rc) {
        lctx_results_free(r);
        return rc;
    }
    *out = r;
    return LCTX_OK;
}
