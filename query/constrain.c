/*
 * constrain.c — what a keyword query demands of a document besides a score,
 * and vector recall under the same demands.
 *
 *   "a b"    some chunk holds every required (quoted) term, and every
 *            phrase occurs either in the document's title or in that
 *            chunk's text, its terms adjacent and in order
 *   -word    documents with the word in a live chunk are excluded
 *   -"a b"   documents where the phrase occurs in the title or in one
 *            chunk's text are excluded: exactly the documents "a b" would
 *            accept, so a query with "a b" and the same query with -"a b"
 *            never return the same document
 *
 * Adjacency is verified by re-tokenizing the chunk's title and text
 * (positions are not stored: ARCHITECTURE.md, "Phrase adjacency"). A phrase
 * is looked for within one chunk, so one that straddles a chunk boundary is
 * found by neither form.
 *
 * BM25 (bm25.c) checks required phrases lazily, only on chunks about to
 * enter the top-k, and exclusions through s->excluded, the document set
 * bm25_collect_excluded fills up front: the postings of each -word, and for
 * each -"phrase" the chunks holding all its terms (an intersection of
 * postings lists), each re-tokenized unless its document is already out.
 * So a -"phrase" of common words costs a pass over many chunks' text.
 *
 * Vector recall scores no terms, so a constrained vector search (vector
 * mode, and the vector side of hybrid) runs among the documents BM25 could
 * match, which keeps it exact:
 *   1. the allowed set: the documents with an admissible chunk (live, not
 *      excluded, inside the metadata filter) holding every required term,
 *      from the intersection of their postings; without required terms,
 *      the filter (or every document) minus the excluded;
 *   2. the vector top-k within that set. With phrases, each hit's chunks
 *      holding the required terms are re-tokenized; a document that fails
 *      leaves the set and the search runs again twice as deep, until k
 *      documents pass or none are left. The answer is the k best documents
 *      by vector score among those meeting every constraint, and the phrase
 *      check runs on the hits only, as in BM25.
 */
#include <stdlib.h>
#include <string.h>

#include "query/query.h"

/* ------------------------------------------------------------ postings */
typedef int (*posting_fn)(bm25_search *s, void *ctx, const store_posting *p);

/* Calls fn on each posting of term, in chunk order, until it returns
 * nonzero (that status is returned). */
static int each_posting(bm25_search *s, const store_term *term, const MDB_val *inl,
                        posting_fn fn, void *ctx)
{
    kv_blocks bl;
    int rc = kv_blocks_open(s->db, s->txn, term, inl, &bl);
    if (rc)
        return rc;
    store_posting buf[STORE_BLOCK];
    kv_block b;
    for (rc = kv_blocks_next(s->db, &bl, &b); !rc && b.data; rc = kv_blocks_next(s->db, &bl, &b)) {
        pblock_header h;
        if (pblock_decode(b.data, b.len, &h, buf)) {
            rc = store_err(s->db, LCTX_ECORRUPT, "%s/index: malformed postings block",
                           s->db->path);
            break;
        }
        for (uint32_t i = 0; i < h.count && !rc; i++)
            rc = fn(s, ctx, &buf[i]);
    }
    kv_blocks_close(&bl);
    return rc;
}

static int append_posting(bm25_search *s, void *ctx, const store_posting *p)
{
    bm25_list *l = ctx;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : STORE_BLOCK;
        store_posting *q = realloc(l->p, cap * sizeof *q);
        if (!q)
            return store_err(s->db, LCTX_ENOMEM, "out of memory");
        l->p = q;
        l->cap = cap;
    }
    l->p[l->n++] = *p;
    return 0;
}

int bm25_read_list(bm25_search *s, const store_term *term, const MDB_val *inl, bm25_list *l)
{
    return each_posting(s, term, inl, append_posting, l);
}

/* Ascending chunk ids. */
typedef struct chunk_list {
    uint32_t *id;
    size_t n, cap, r; /* r: merge_posting's read place */
} chunk_list;

static int append_chunk(bm25_search *s, void *ctx, const store_posting *p)
{
    chunk_list *c = ctx;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : STORE_BLOCK;
        uint32_t *q = realloc(c->id, cap * sizeof *q);
        if (!q)
            return store_err(s->db, LCTX_ENOMEM, "out of memory");
        c->id = q;
        c->cap = cap;
    }
    c->id[c->n++] = p->chunk;
    return 0;
}

/* Keeps, in place, the chunks of the list that this posting list also has
 * (c->n is the kept count until the pass ends: see common_chunks). */
static int merge_posting(bm25_search *s, void *ctx, const store_posting *p)
{
    chunk_list *c = ctx;
    (void)s;
    while (c->r < c->cap && c->id[c->r] < p->chunk)
        c->r++;
    if (c->r < c->cap && c->id[c->r] == p->chunk)
        c->id[c->n++] = c->id[c->r++];
    return 0;
}

/* The chunks whose postings hold all n terms (each in the dictionary with
 * df > 0): the rarest list read whole, the others merged into it. */
static int common_chunks(bm25_search *s, const store_term *t, const MDB_val *inl, size_t n,
                         chunk_list *out)
{
    size_t rare = 0;
    for (size_t i = 1; i < n; i++)
        if (t[i].df < t[rare].df)
            rare = i;
    int rc = each_posting(s, &t[rare], &inl[rare], append_chunk, out);
    for (size_t i = 0; i < n && !rc && out->n; i++) {
        if (i == rare)
            continue;
        /* cap doubles as the length of the list being merged */
        size_t cap = out->cap;
        out->cap = out->n;
        out->n = out->r = 0;
        rc = each_posting(s, &t[i], &inl[i], merge_posting, out);
        out->cap = cap;
    }
    return rc;
}

/* ---------------------------------------------------------- phrase check */
static int has_phrase(const tok_list *l, const query_phrase *ph)
{
    for (size_t i = 0; i < l->n; i++) {
        if (strcmp(tok_term(l, i), ph->word[0]) != 0)
            continue;
        size_t j, k = i;
        for (j = 1; j < ph->n; j++) {
            uint32_t want = l->tokens[i].pos + ph->offset[j];
            while (k < l->n && l->tokens[k].pos < want)
                k++;
            /* several tokens can share a position (CJK bigrams do not, but be safe) */
            size_t m = k;
            int found = 0;
            for (; m < l->n && l->tokens[m].pos == want; m++)
                if (strcmp(tok_term(l, m), ph->word[j]) == 0)
                    found = 1;
            if (!found)
                break;
        }
        if (j == ph->n)
            return 1;
    }
    return 0;
}

/* The chunk's title and text: its document's row (found through the chunk
 * record), the text cut to the chunk's span. 1 with *title, *text set; 0
 * when the chunk or its document is gone; -1 on an error.
 *
 * The statement stays on the row between calls: chunks are checked in
 * chunk order, so a long document's chunks come one after another, and
 * reading its whole text again for each of them made a phrase on a 40 MB
 * document take a minute (the text is read once per document now). */
static int chunk_fields(bm25_search *s, uint32_t chunk, const char **title, size_t *title_len,
                        const char **text, size_t *text_len)
{
    kv_page_cache pc = {0};
    store_chunkrec rec;
    if (kv_chunk(s->db, s->txn, &pc, chunk, &rec))
        return 0;
    if (!s->st_text &&
        sqlite3_prepare_v2(s->conn, "SELECT title, text, first_chunk, spans FROM documents "
                           "WHERE doc_id = ?", -1, &s->st_text, NULL))
        return s->failed = store_err(s->db, LCTX_ERROR, "%s/catalog.db: %s", s->db->path,
                                     sqlite3_errmsg(s->conn)), -1;
    if (s->text_doc != (int64_t)rec.doc) {
        sqlite3_reset(s->st_text);
        s->text_doc = -1;
        sqlite3_bind_int64(s->st_text, 1, rec.doc);
        if (sqlite3_step(s->st_text) != SQLITE_ROW)
            return 0;
        s->text_doc = rec.doc;
    }
    chunk_span sp;
    uint32_t first = (uint32_t)sqlite3_column_int64(s->st_text, 2);
    const char *body = sqlite3_column_blob(s->st_text, 1);
    size_t body_len = (size_t)sqlite3_column_bytes(s->st_text, 1);
    if (chunk < first ||
        chunk_span_at(sqlite3_column_blob(s->st_text, 3),
                      (size_t)sqlite3_column_bytes(s->st_text, 3), chunk - first, &sp) ||
        sp.end > body_len)
        return 0;
    *title = sqlite3_column_blob(s->st_text, 0);
    *title_len = (size_t)sqlite3_column_bytes(s->st_text, 0);
    *text = body ? body + sp.start : NULL;
    *text_len = sp.end - sp.start;
    return 1;
}

/* 1 when all n phrases occur in the title of chunk's document, or all in
 * the chunk's text; 0 when not or the chunk is gone; -1 on an error (its
 * status in s->failed). */
static int chunk_has_phrases(bm25_search *s, uint32_t chunk, const query_phrase *ph, size_t n)
{
    const char *field_text[2];
    size_t field_len[2];
    int ok = chunk_fields(s, chunk, &field_text[0], &field_len[0], &field_text[1],
                          &field_len[1]);
    int all = 0;
    for (int f = 0; f < 2 && ok > 0 && !all; f++) {
        tok_list_reset(&s->toks);
        if (field_text[f] && field_len[f] > 0 &&
            tok_tokenize(s->tok, field_text[f], field_len[f], &s->toks)) {
            ok = -1;
            s->failed = store_err(s->db, LCTX_ENOMEM, "out of memory");
            break;
        }
        all = 1;
        for (size_t i = 0; i < n && all; i++)
            all = has_phrase(&s->toks, &ph[i]);
    }
    return ok < 0 ? -1 : ok && all;
}

void bm25_phrase_done(bm25_search *s)
{
    if (s->st_text)
        sqlite3_reset(s->st_text);
    s->text_doc = -1;
}

int bm25_phrase_ok(bm25_search *s, uint32_t chunk)
{
    if (s->q->n_phrases == 0)
        return 1;
    return chunk_has_phrases(s, chunk, s->q->phrases, s->q->n_phrases);
}

/* ------------------------------------------------------------ exclusions */
/* Adds the document of p's chunk, when live, to set. */
static int add_doc_of(bm25_search *s, kv_page_cache *pc, const store_posting *p, docset *set)
{
    store_chunkrec r;
    if (kv_chunk(s->db, s->txn, pc, p->chunk, &r) == 0 && !(r.len & STORE_DELETED) &&
        docset_add(set, r.doc))
        return store_err(s->db, LCTX_ENOMEM, "out of memory");
    return 0;
}

static int exclude_posting(bm25_search *s, void *ctx, const store_posting *p)
{
    return add_doc_of(s, ctx, p, &s->excluded);
}

/* What a title constraint's postings exclude: with in_title, the
 * documents holding the term in their title (-title:word); without, those
 * holding it only outside it (title:word, whose term is also required, so
 * documents without it are out anyway). A document's title terms count in
 * every one of its chunks, so any posting tells. */
typedef struct title_rule {
    kv_page_cache *pc;
    int in_title;
} title_rule;

static int exclude_by_title(bm25_search *s, void *ctx, const store_posting *p)
{
    const title_rule *r = ctx;
    return (p->tf_title > 0) == r->in_title ? exclude_posting(s, r->pc, p) : 0;
}

static int exclude_titles(bm25_search *s, char *const *terms, size_t n, int in_title,
                          kv_page_cache *pc)
{
    title_rule rule = {pc, in_title};
    for (size_t e = 0; e < n; e++) {
        store_term t;
        MDB_val inl;
        int rc = kv_term_get(s->db, s->txn, terms[e], strlen(terms[e]), &t, &inl);
        if (rc == LCTX_ENOTFOUND)
            continue;
        if (rc || (rc = each_posting(s, &t, &inl, exclude_by_title, &rule)))
            return rc;
    }
    return LCTX_OK;
}

static int collect_doc(bm25_search *s, void *ctx, const store_posting *p)
{
    void **c = ctx;          /* page cache, docset */
    return add_doc_of(s, c[0], p, c[1]);
}

static int max_doc(bm25_search *s, uint32_t *max, int *none);

/* +word*: excludes every document holding none of the pattern's terms. */
static int exclude_without(bm25_search *s, const query_prefix *p, kv_page_cache *pc)
{
    docset has = {0};
    void *ctx[2] = {pc, &has};
    int rc = LCTX_OK, none;
    uint32_t max;
    for (size_t i = 0; i < p->n_all && !rc; i++) {
        store_term t;
        MDB_val inl;
        rc = kv_term_get(s->db, s->txn, p->all[i], strlen(p->all[i]), &t, &inl);
        if (rc == LCTX_ENOTFOUND)
            rc = LCTX_OK;
        else if (!rc)
            rc = each_posting(s, &t, &inl, collect_doc, ctx);
    }
    if (!rc)
        rc = max_doc(s, &max, &none);
    for (uint32_t d = 0; !rc && !none; d++) {
        if (!docset_has(&has, d) && docset_add(&s->excluded, d))
            rc = store_err(s->db, LCTX_ENOMEM, "out of memory");
        if (d == max)
            break;
    }
    docset_free(&has);
    return rc;
}

/* Excludes the documents where phrase ph occurs. */
static int exclude_phrase(bm25_search *s, const query_phrase *ph, kv_page_cache *pc)
{
    store_term *t = calloc(ph->n, sizeof *t);
    MDB_val *inl = calloc(ph->n, sizeof *inl);
    chunk_list c = {0};
    int rc = t && inl ? LCTX_OK : store_err(s->db, LCTX_ENOMEM, "out of memory");
    int absent = 0;
    for (size_t i = 0; i < ph->n && !rc && !absent; i++) {
        rc = kv_term_get(s->db, s->txn, ph->word[i], strlen(ph->word[i]), &t[i], &inl[i]);
        absent = rc == LCTX_ENOTFOUND || (!rc && t[i].df == 0);
        if (rc == LCTX_ENOTFOUND)
            rc = LCTX_OK;
    }
    /* a term no document has: no document has the phrase */
    if (!rc && !absent)
        rc = common_chunks(s, t, inl, ph->n, &c);
    for (size_t i = 0; i < c.n && !rc; i++) {
        store_chunkrec r;
        if (kv_chunk(s->db, s->txn, pc, c.id[i], &r) || (r.len & STORE_DELETED) ||
            docset_has(&s->excluded, r.doc))
            continue;
        int has = chunk_has_phrases(s, c.id[i], ph, 1);
        if (has < 0)
            rc = s->failed;
        else if (has && docset_add(&s->excluded, r.doc))
            rc = store_err(s->db, LCTX_ENOMEM, "out of memory");
    }
    free(c.id);
    free(t);
    free(inl);
    return rc;
}

int bm25_collect_excluded(bm25_search *s)
{
    kv_page_cache pc = {0};
    for (size_t e = 0; e < s->q->n_excluded; e++) {
        store_term t;
        MDB_val inl;
        const char *w = s->q->excluded[e];
        int rc = kv_term_get(s->db, s->txn, w, strlen(w), &t, &inl);
        if (rc == LCTX_ENOTFOUND)
            continue;
        if (rc || (rc = each_posting(s, &t, &inl, exclude_posting, &pc)))
            return rc;
    }
    for (size_t e = 0; e < s->q->n_xphrases; e++) {
        int rc = exclude_phrase(s, &s->q->xphrases[e], &pc);
        if (rc)
            return rc;
    }
    int rc = exclude_titles(s, s->q->title, s->q->n_title, 0, &pc);
    if (!rc)
        rc = exclude_titles(s, s->q->xtitle, s->q->n_xtitle, 1, &pc);
    for (size_t i = 0; i < s->q->n_prefixes && !rc; i++)
        if (s->q->prefixes[i].required)
            rc = exclude_without(s, &s->q->prefixes[i], &pc);
    return rc;
}

/* -------------------------------------------------- constrained vectors */
int query_constrains(const query_parsed *q)
{
    if (q->n_excluded || q->n_xphrases || q->n_xtitle)
        return 1;
    for (size_t i = 0; i < q->n_prefixes; i++)
        if (q->prefixes[i].required)
            return 1;
    for (size_t t = 0; t < q->n_terms; t++)
        if (q->terms[t].required)
            return 1;
    return 0;
}

/* An admissible chunk holding every required term, and its document. */
typedef struct doc_chunk {
    uint32_t doc, chunk;
} doc_chunk;

typedef struct req_chunks {
    doc_chunk *v;
    size_t n;
} req_chunks;

static int cmp_doc_chunk(const void *a, const void *b)
{
    const doc_chunk *x = a, *y = b;
    if (x->doc != y->doc)
        return x->doc < y->doc ? -1 : 1;
    return (x->chunk > y->chunk) - (x->chunk < y->chunk);
}

/* The admissible chunks holding every required term (sorted by document)
 * into req, their documents into set. */
static int required_docs(bm25_search *s, docset *set, req_chunks *req)
{
    const query_parsed *q = s->q;
    store_term *t = calloc(q->n_terms, sizeof *t);
    MDB_val *inl = calloc(q->n_terms, sizeof *inl);
    chunk_list c = {0};
    size_t n = 0;
    int rc = t && inl ? LCTX_OK : store_err(s->db, LCTX_ENOMEM, "out of memory");
    int absent = 0; /* bm25_prepare said so already: nothing matches */
    for (size_t i = 0; i < q->n_terms && !rc; i++) {
        if (!q->terms[i].required)
            continue;
        absent |= !s->present[i];
        t[n] = s->term[i];
        inl[n++] = s->inl[i];
    }
    if (!rc && !absent)
        rc = common_chunks(s, t, inl, n, &c);
    if (!rc && c.n && !(req->v = malloc(c.n * sizeof *req->v)))
        rc = store_err(s->db, LCTX_ENOMEM, "out of memory");
    kv_page_cache pc = {0};
    for (size_t i = 0; i < c.n && !rc; i++) {
        store_chunkrec r;
        if (!bm25_chunk_admissible(s, &pc, c.id[i], &r))
            continue;
        req->v[req->n++] = (doc_chunk){r.doc, c.id[i]};
        if (docset_add(set, r.doc))
            rc = store_err(s->db, LCTX_ENOMEM, "out of memory");
    }
    if (req->n > 1)
        qsort(req->v, req->n, sizeof *req->v, cmp_doc_chunk);
    free(c.id);
    free(t);
    free(inl);
    return rc;
}

/* The catalog's largest document id; *none when it has no document. */
static int max_doc(bm25_search *s, uint32_t *max, int *none)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->conn, "SELECT max(doc_id) FROM documents", -1, &st, NULL))
        return store_err(s->db, LCTX_ERROR, "%s/catalog.db: %s", s->db->path,
                         sqlite3_errmsg(s->conn));
    int step = sqlite3_step(st);
    *none = sqlite3_column_type(st, 0) == SQLITE_NULL;
    *max = (uint32_t)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (step != SQLITE_ROW)
        return store_err(s->db, LCTX_EIO, "%s/catalog.db: %s", s->db->path,
                         sqlite3_errmsg(s->conn));
    return LCTX_OK;
}

/* The filter's documents (or all: ids up to the catalog's largest) minus
 * the excluded ones. */
static int unexcluded_docs(bm25_search *s, docset *set)
{
    if (s->allowed) {
        if (s->allowed->bits && docset_add(set, s->allowed->max))
            return store_err(s->db, LCTX_ENOMEM, "out of memory");
        if (s->allowed->bits)
            memcpy(set->bits, s->allowed->bits, (size_t)s->allowed->max / 8 + 1);
    } else {
        uint32_t max;
        int none, rc = max_doc(s, &max, &none);
        if (rc)
            return rc;
        if (!none && docset_fill(set, max))
            return store_err(s->db, LCTX_ENOMEM, "out of memory");
    }
    docset_subtract(set, &s->excluded);
    return LCTX_OK;
}

/* 1 when one of doc's chunks in req passes the phrases, 0 when none does,
 * -1 on an error. */
static int doc_has_phrases(bm25_search *s, const req_chunks *req, uint32_t doc)
{
    size_t lo = 0, hi = req->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (req->v[mid].doc < doc)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (; lo < req->n && req->v[lo].doc == doc; lo++) {
        int ok = bm25_phrase_ok(s, req->v[lo].chunk);
        if (ok)
            return ok;
    }
    return 0;
}

/* Keeps the hits whose documents pass the phrases, up to k, in h; removes
 * the others from set. *failed counts those. */
static int keep_passing(bm25_search *s, const req_chunks *req, docset *set, docset *passed,
                        bm25_hit *h, size_t *n, int k, size_t *failed)
{
    size_t m = 0;
    *failed = 0;
    for (size_t i = 0; i < *n && m < (size_t)k; i++) {
        int ok = docset_has(passed, h[i].doc) ? 1 : doc_has_phrases(s, req, h[i].doc);
        if (ok < 0)
            return s->failed;
        if (ok && docset_add(passed, h[i].doc))
            return store_err(s->db, LCTX_ENOMEM, "out of memory");
        if (ok)
            h[m++] = h[i];
        else
            docset_remove(set, h[i].doc), (*failed)++;
    }
    *n = m;
    return LCTX_OK;
}

/* The vector top-k of set whose documents pass the phrases (step 2 above). */
static int phrase_topk(bm25_search *s, const float *qv, int k, docset *set,
                       const req_chunks *req, uint32_t exclude_doc, bm25_hit **out, size_t *n)
{
    docset passed = {0};
    int rc, depth = k;
    for (;;) {
        bm25_hit *h = NULL;
        size_t nh = 0, failed;
        rc = vsearch_topk(s->db, s->txn, qv, depth, set, exclude_doc, 0, &h, &nh);
        size_t got = nh;
        if (!rc)
            rc = keep_passing(s, req, set, &passed, h, &nh, k, &failed);
        if (rc || nh == (size_t)k || got < (size_t)depth || !failed) {
            if (rc)
                free(h), h = NULL, nh = 0;
            *out = h;
            *n = nh;
            break;
        }
        free(h);
        depth = depth > 1 << 29 ? 1 << 30 : depth * 2;
    }
    docset_free(&passed);
    return rc;
}

int vsearch_constrained(bm25_search *s, const float *qv, int k, uint32_t exclude_doc,
                        bm25_hit **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    int required = 0;
    for (size_t t = 0; t < s->q->n_terms; t++)
        required |= s->q->terms[t].required;
    if (!required && !s->excluded.bits) /* the -words are in no live document */
        return vsearch_topk(s->db, s->txn, qv, k, s->allowed, exclude_doc, 0, out, n);
    docset set = {0};
    req_chunks req = {0};
    int rc = required ? required_docs(s, &set, &req) : unexcluded_docs(s, &set);
    /* an empty set has no bits, which vsearch would read as "all" */
    if (!rc && set.bits && s->q->n_phrases == 0)
        rc = vsearch_topk(s->db, s->txn, qv, k, &set, exclude_doc, 0, out, n);
    else if (!rc && set.bits)
        rc = phrase_topk(s, qv, k, &set, &req, exclude_doc, out, n);
    docset_free(&set);
    free(req.v);
    return rc;
}
