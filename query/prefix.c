/*
 * prefix.c — prefix queries: "turb*" searches the index's terms that start
 * with "turb", as one group.
 *
 * The pattern is normalised like any word (parse.c), stemmer included,
 * because the dictionary holds stems: "happy*" becomes "happi", which
 * finds "happi" (happy, happiness) and "happier", where the unstemmed
 * "happy" would find neither; a stopword, which the tokenizer drops, is
 * case-folded alone ("the*" finds "theori"). A stem can be shorter than
 * the part of the word typed: no term starts with "turbulen", since
 * turbulent and turbulence are "turbul". So in English collections the
 * parser also stems the typed word completed by common endings (parse.c,
 * prefix_endings) and adds the stems that differ as more prefixes of the
 * same pattern: "turbulen" + "t" gives "turbul". Expanding a pattern reads
 * the term
 * dictionary in byte order from each prefix (an LMDB range scan) and keeps
 * the QUERY_PREFIX_TERMS terms of the highest document frequency: a short
 * prefix can match thousands of rare terms, and the frequent ones are
 * what a person typing it most likely means. The kept terms join the
 * query as terms of one group, so block-max WAND, the exhaustive
 * reference, phrases, exclusions and snippet highlights treat them like
 * any term but for how they score.
 *
 * Scored each with its own IDF, a prefix's rarest expansions would rank
 * first (a misspelling beats the word meant); Lucene answers that with a
 * constant score, Xapian with a synonym (one term whose frequency is the
 * group's). lctx scores the group as a synonym too (bm25.c): its IDF
 * comes from the sum of the members' document frequencies (at most N),
 * and its tf in a chunk is the sum of theirs, saturated once. Which of
 * the prefix's words a chunk holds does not matter, how often it holds
 * them does.
 *
 * An excluded prefix (-turb*) must exclude every document holding any of
 * its terms, so it is not cut to the most frequent: all its terms join
 * the excluded words. A required one (+turb*) scores as turb* does and
 * keeps every term in its `all`, from which constrain.c excludes the
 * documents holding none. A prefix matching more than QUERY_XPREFIX_TERMS
 * is refused for either with a message rather than half applied.
 */
#include <stdlib.h>
#include <string.h>

#include "query/query.h"

/* A candidate expansion: a dictionary key (valid while the transaction
 * lives) and its document frequency. */
typedef struct prefix_cand {
    const char *term;
    uint32_t len;
    uint64_t df;
} prefix_cand;

/* 1 when a ranks below b: lower df, or at equal df later in byte order. */
static int cand_below(const prefix_cand *a, const prefix_cand *b)
{
    if (a->df != b->df)
        return a->df < b->df;
    size_t n = a->len < b->len ? a->len : b->len;
    int c = memcmp(a->term, b->term, n);
    return c ? c > 0 : a->len > b->len;
}

/* Min-heap of the best candidates: h[0] is the lowest kept. */
static void heap_down(prefix_cand *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        if (l < n && cand_below(&h[l], &h[m]))
            m = l;
        if (l + 1 < n && cand_below(&h[l + 1], &h[m]))
            m = l + 1;
        if (m == i)
            return;
        prefix_cand t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

static void heap_up(prefix_cand *h, size_t i)
{
    while (i > 0 && cand_below(&h[i], &h[(i - 1) / 2])) {
        prefix_cand t = h[i];
        h[i] = h[(i - 1) / 2];
        h[(i - 1) / 2] = t;
        i = (i - 1) / 2;
    }
}

static int cand_order(const void *a, const void *b)
{
    const prefix_cand *x = a, *y = b;
    return cand_below(y, x) ? -1 : cand_below(x, y) ? 1 : 0;
}

/* What a scan does with each term it finds (df > 0): keep the best
 * QUERY_PREFIX_TERMS in a heap, list them all (an excluded or required
 * prefix), or both (a required one: one scan serves its score and its
 * constraint). */
typedef struct prefix_scan {
    prefix_cand *h;          /* the heap, or NULL */
    size_t n;                /* in the heap */
    char ***list;            /* q->excluded, a required pattern's all, or NULL */
    size_t *n_list;
    size_t listed;           /* by this scan */
} prefix_scan;

static int visit(lctx_db *db, prefix_scan *sc, const prefix_cand *c)
{
    if (sc->list) {
        if (sc->listed == QUERY_XPREFIX_TERMS)
            return LCTX_EINVAL;
        char **v = realloc(*sc->list, (*sc->n_list + 1) * sizeof *v);
        char *s = v ? malloc(c->len + 1) : NULL;
        if (v)
            *sc->list = v;
        if (!s)
            return store_err(db, LCTX_ENOMEM, "out of memory");
        memcpy(s, c->term, c->len);
        s[c->len] = '\0';
        v[(*sc->n_list)++] = s;
        sc->listed++;
    }
    if (!sc->h)
        return LCTX_OK;
    if (sc->n < QUERY_PREFIX_TERMS) {
        sc->h[sc->n] = *c;
        heap_up(sc->h, sc->n++);
    } else if (cand_below(&sc->h[0], c)) {
        sc->h[0] = *c;
        heap_down(sc->h, sc->n, 0);
    }
    return LCTX_OK;
}

/* Visits the terms starting with prefix[0..len). */
static int scan_prefix(lctx_db *db, MDB_txn *txn, const char *prefix, size_t len,
                       prefix_scan *sc)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, db->dbi_terms, &cur);
    if (rc)
        return kv_err(db, rc, "open cursor");
    MDB_val k = {len, (void *)prefix}, v;
    int vrc = LCTX_OK;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0 && !vrc;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size < len || memcmp(k.mv_data, prefix, len) != 0)
            break;
        store_term t;
        MDB_val inl;
        if ((vrc = kv_term_parse(db, &v, &t, &inl)))
            break;
        prefix_cand c = {k.mv_data, (uint32_t)k.mv_size, t.df};
        if (t.df > 0)
            vrc = visit(db, sc, &c);
    }
    mdb_cursor_close(cur);
    if (vrc)
        return vrc;
    if (rc && rc != MDB_NOTFOUND)
        return kv_err(db, rc, "read terms");
    return LCTX_OK;
}

/* Whether a starts with b (b no longer). */
static int starts_with(const char *a, size_t al, const char *b, size_t bl)
{
    return bl <= al && memcmp(a, b, bl) == 0;
}

/* Visits the terms of pattern p. Its prefixes are scanned but for those
 * another of them starts: the terms of the rest are then disjoint, so no
 * term comes twice. */
static int scan_pattern(lctx_db *db, MDB_txn *txn, const query_prefix *p, prefix_scan *sc)
{
    for (size_t i = 0; i <= p->n_alt; i++) {
        const char *a = i ? p->alt[i - 1] : p->prefix;
        size_t al = i ? strlen(a) : p->len, j;
        for (j = 0; j <= p->n_alt; j++) {
            const char *b = j ? p->alt[j - 1] : p->prefix;
            size_t bl = j ? strlen(b) : p->len;
            if (j != i && starts_with(a, al, b, bl) && (bl < al || j < i))
                break;           /* b's scan finds a's terms (equal ones: the first) */
        }
        int rc = j <= p->n_alt ? LCTX_OK : scan_prefix(db, txn, a, al, sc);
        if (rc == LCTX_EINVAL)
            return store_err(db, rc, "%c%s*: more than %d terms start with it; %s a longer "
                             "prefix", p->required ? '+' : '-', p->prefix, QUERY_XPREFIX_TERMS,
                             p->required ? "require" : "exclude");
        if (rc)
            return rc;
    }
    return LCTX_OK;
}

/* The best terms of pattern g as expansions of group g + 1; every term
 * into its `all` too when it is required. */
static int expand(lctx_db *db, MDB_txn *txn, query_parsed *q, size_t g)
{
    query_prefix *p = &q->prefixes[g];
    prefix_cand h[QUERY_PREFIX_TERMS];
    prefix_scan sc = {h, 0, p->required ? &p->all : NULL, &p->n_all, 0};
    int rc = scan_pattern(db, txn, p, &sc);
    if (rc)
        return rc;
    qsort(h, sc.n, sizeof *h, cand_order);
    query_term *terms = realloc(q->terms, (q->n_terms + sc.n + 1) * sizeof *terms);
    if (!terms)
        return store_err(db, LCTX_ENOMEM, "out of memory");
    q->terms = terms;
    for (size_t i = 0; i < sc.n; i++) {
        char *s = malloc(h[i].len + 1);
        if (!s)
            return store_err(db, LCTX_ENOMEM, "out of memory");
        memcpy(s, h[i].term, h[i].len);
        s[h[i].len] = '\0';
        q->terms[q->n_terms++] = (query_term){s, h[i].len, q->prefixes[g].weight, 0,
                                              (uint32_t)g + 1};
    }
    return LCTX_OK;
}

int query_expand_prefixes(lctx_db *db, MDB_txn *txn, query_parsed *q)
{
    if (q->expanded)
        return LCTX_OK;
    for (size_t g = 0; g < q->n_prefixes; g++) {
        int rc = expand(db, txn, q, g);
        if (rc)
            return rc;
    }
    for (size_t x = 0; x < q->n_xprefixes; x++) {
        prefix_scan sc = {NULL, 0, &q->excluded, &q->n_excluded, 0};
        int rc = scan_pattern(db, txn, &q->xprefixes[x], &sc);
        if (rc)
            return rc;
    }
    q->expanded = 1;
    return LCTX_OK;
}

double query_group_df(const query_parsed *q, uint32_t group, const double *df, double N)
{
    double sum = 0;
    for (size_t t = 0; t < q->n_terms; t++)
        if (q->terms[t].group == group)
            sum += df[t];
    return sum < N ? sum : N;
}
