/*
 * apply.c — applying one write batch to LMDB.
 *
 * The batch arrives fully built (store_batch: new chunk records, postings
 * per term in chunk order, tombstoned chunk ids) and is applied in a single
 * LMDB write transaction, so LMDB moves from batch seq-1 to batch seq or not
 * at all; meta "stats".last_seq records which batch LMDB holds.
 *
 * Chunk ids only grow, so each term's new postings go after its existing
 * ones: the term's last block is topped up to STORE_BLOCK entries (its key
 * changes because the key carries the block's last chunk id) and further
 * blocks are appended. Nothing else is rewritten, which keeps a batch's cost
 * proportional to its own size. A term with a single block keeps it in its
 * dictionary entry (blocks.c): topping it up rewrites the entry, and a
 * second block moves the first to the postings table.
 *
 * Applying is deterministic in the batch: replaying a batch from SQLite after
 * a crash (indexer/write.c) builds the same store_batch and therefore the
 * same LMDB state, term ids included (new terms get ids in sorted order).
 *
 * A batch too large for memory comes with its terms in runs on disk
 * (indexer/spill.c) instead of terms[]: b->source yields them in the same
 * byte order, each term's postings in chains that put_chained merges by
 * chunk, so the same keys are written in the same order and the index is
 * the same, byte for byte (tests/test_batch_spill.c).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"

float kv_tf_bound(double tf)
{
    float f = (float)tf;
    if ((double)f < tf)
        f = nextafterf(f, INFINITY);
    return f;
}

static void page_key(uint8_t kb[4], uint32_t page)
{
    kb[0] = (uint8_t)(page >> 24);
    kb[1] = (uint8_t)(page >> 16);
    kb[2] = (uint8_t)(page >> 8);
    kb[3] = (uint8_t)page;
}

/* Loads page into recs (zero-filled beyond what is stored, either form);
 * *n gets one past its last used slot. */
static int page_load(lctx_db *db, MDB_txn *txn, uint32_t page, store_chunkrec *recs,
                     uint32_t *n)
{
    uint8_t kb[4];
    page_key(kb, page);
    MDB_val k = {4, kb}, v;
    memset(recs, 0, STORE_PAGE * sizeof *recs);
    *n = 0;
    int rc = mdb_get(txn, db->dbi_chunks, &k, &v);
    if (rc == MDB_NOTFOUND)
        return LCTX_OK;
    if (rc)
        return kv_err(db, rc, "read chunk page");
    if (chunk_page_decode(v.mv_data, v.mv_size, recs, n))
        return store_err(db, LCTX_ECORRUPT, "%s/index: malformed chunk page %u", db->path, page);
    return LCTX_OK;
}

/* Stores recs[0..n) in the smaller form the index allows (chunkpage.c). */
static int page_store(lctx_db *db, MDB_txn *txn, uint32_t page, const store_chunkrec *recs,
                      uint32_t n, unsigned flags, const store_stats *st)
{
    uint8_t kb[4];
    page_key(kb, page);
    MDB_val k = {4, kb};
    int rc = chunk_page_put(txn, db->dbi_chunks, &k, recs, n, st, flags);
    return rc ? kv_err(db, rc, "write chunk page") : LCTX_OK;
}

static int put_chunks(lctx_db *db, MDB_txn *txn, const store_batch *b, store_chunkrec *recs,
                      store_stats *st, unsigned flags)
{
    size_t i = 0;
    while (i < b->n_chunks) {
        uint32_t id = b->first_chunk + (uint32_t)i;
        uint32_t page = id >> STORE_PAGE_SHIFT, n = 0;
        int rc = LCTX_OK;
        if (flags & MDB_APPEND)   /* an empty index has no page to load */
            memset(recs, 0, STORE_PAGE * sizeof *recs);
        else
            rc = page_load(db, txn, page, recs, &n);
        if (rc)
            return rc;
        for (; i < b->n_chunks && ((b->first_chunk + i) >> STORE_PAGE_SHIFT) == page; i++) {
            if (b->chunks[i].doc == 0)
                continue;   /* a hole: a replayed document compaction removed */
            uint32_t slot = (b->first_chunk + (uint32_t)i) & (STORE_PAGE - 1);
            recs[slot] = b->chunks[i];
            if (slot + 1 > n)
                n = slot + 1;
            st->total_len += b->chunks[i].len & STORE_LEN_MASK;
            st->n_chunks++;
        }
        if ((rc = page_store(db, txn, page, recs, n, flags, st)))
            return rc;
    }
    return LCTX_OK;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static int put_tombstones(lctx_db *db, MDB_txn *txn, const store_batch *b,
                          store_chunkrec *recs, store_stats *st)
{
    if (b->n_tomb == 0)
        return LCTX_OK;
    uint32_t *ids = malloc(b->n_tomb * sizeof *ids);
    if (!ids)
        return store_err(db, LCTX_ENOMEM, "out of memory");
    memcpy(ids, b->tomb, b->n_tomb * sizeof *ids);
    qsort(ids, b->n_tomb, sizeof *ids, cmp_u32);
    int rc = LCTX_OK;
    size_t i = 0;
    while (i < b->n_tomb && !rc) {
        uint32_t page = ids[i] >> STORE_PAGE_SHIFT, n;
        if ((rc = page_load(db, txn, page, recs, &n)))
            break;
        for (; i < b->n_tomb && (ids[i] >> STORE_PAGE_SHIFT) == page; i++) {
            uint32_t slot = ids[i] & (STORE_PAGE - 1);
            if (slot < n && recs[slot].doc != 0 && !(recs[slot].len & STORE_DELETED)) {
                recs[slot].len |= STORE_DELETED;
                st->n_deleted++;
            }
        }
        rc = page_store(db, txn, page, recs, n, 0, st);
    }
    free(ids);
    return rc;
}

static uint32_t chunk_len(const store_batch *b, uint32_t chunk)
{
    return b->chunks[chunk - b->first_chunk].len & STORE_LEN_MASK;
}

typedef struct block_acc {
    store_posting p[STORE_BLOCK];
    size_t n;
    float max_tf;
    uint32_t min_len;
} block_acc;

/* Where the terms go: a cursor on each table, the put flags, the block
 * being filled. A put through an open cursor skips mdb_put's cursor setup
 * and, with MDB_APPEND, its walk down the tree: the cursor already sits at
 * the end. lisa's bulk load (13,000 terms, 27,000 puts in format 2; about
 * 15,000 since single blocks are inline) went from 6.6-7.0 to 5.7-6.5 ms of
 * apply, cranfield's from 2.4-2.7 to 2.1-2.3.
 * (Encoding the last five eighths of a bulk load's terms on a helper
 * thread, for this one to write, made the apply slower: 7.7-8.7 ms.) */
typedef struct term_writer {
    MDB_cursor *post, *terms;
    unsigned flags;
    block_acc acc;
} term_writer;

static int flush_block(lctx_db *db, term_writer *tw, store_term *t)
{
    block_acc *a = &tw->acc;
    uint8_t buf[PBLOCK_MAX_BYTES], kb[8];
    size_t len = pblock_encode(a->p, a->n, a->max_tf, a->min_len, buf);
    uint32_t last = a->p[a->n - 1].chunk;
    pblock_key(kb, t->id, last);
    MDB_val k = {8, kb}, v = {len, buf};
    int rc = mdb_cursor_put(tw->post, &k, &v, tw->flags);
    if (rc)
        return kv_err(db, rc, "write postings");
    t->n_blocks++;
    t->last_chunk = last;
    a->n = 0;
    a->max_tf = 0;
    a->min_len = UINT32_MAX;
    return LCTX_OK;
}

/* Decodes block v into the accumulator when it has room; *full says it
 * had none (and the accumulator is left empty). */
static int acc_take(lctx_db *db, block_acc *a, const MDB_val *v, int *full)
{
    pblock_header h;
    if (pblock_header_read(v->mv_data, v->mv_size, &h))
        return store_err(db, LCTX_ECORRUPT, "%s/index: malformed postings block", db->path);
    *full = h.count >= STORE_BLOCK;
    if (*full)
        return LCTX_OK;
    if (pblock_decode(v->mv_data, v->mv_size, &h, a->p))
        return store_err(db, LCTX_ECORRUPT, "%s/index: malformed postings block", db->path);
    a->n = h.count;
    a->max_tf = h.max_tf;
    a->min_len = h.min_len;
    return LCTX_OK;
}

/* An inline block (the term's only one) goes back into the accumulator
 * when it has room. A full one moves to the postings table as the first
 * of the blocks the term now has; it is copied before the put, which may
 * move the page it lies in. */
static int reopen_inline(lctx_db *db, term_writer *tw, store_term *t, const MDB_val *inl)
{
    int full, rc = acc_take(db, &tw->acc, inl, &full);
    if (rc)
        return rc;
    if (!full) {
        t->n_blocks = 0;
        return LCTX_OK;
    }
    uint8_t buf[PBLOCK_MAX_BYTES], kb[8];
    memcpy(buf, inl->mv_data, inl->mv_size);
    pblock_key(kb, t->id, t->last_chunk);
    MDB_val k = {8, kb}, v = {inl->mv_size, buf};
    rc = mdb_cursor_put(tw->post, &k, &v, 0);
    return rc ? kv_err(db, rc, "write postings") : LCTX_OK;
}

/* Pulls the term's last block back into the accumulator when it has room. */
static int reopen_last_block(lctx_db *db, MDB_txn *txn, store_term *t, block_acc *a)
{
    uint8_t kb[8];
    pblock_key(kb, t->id, t->last_chunk);
    MDB_val k = {8, kb}, v;
    int rc = mdb_get(txn, db->dbi_post, &k, &v);
    if (rc)
        return rc == MDB_NOTFOUND
            ? store_err(db, LCTX_ECORRUPT, "%s/index: last postings block of term %u missing",
                        db->path, t->id)
            : kv_err(db, rc, "read postings");
    int full;
    if ((rc = acc_take(db, a, &v, &full)) || full)
        return rc;
    if ((rc = mdb_del(txn, db->dbi_post, &k, NULL)))
        return kv_err(db, rc, "delete postings");
    t->n_blocks--;
    return LCTX_OK;
}

/* The wide record of (term, chunk): binary search of the batch's list,
 * ordered by chunk, then term bytes. NULL when it has none. */
static const store_wide *find_wide(const store_batch *b, const char *term, uint32_t len,
                                   uint32_t chunk)
{
    size_t lo = 0, hi = b->n_wide;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const store_wide *x = &b->wide[mid];
        int c = store_wide_cmp(x, chunk, term, len);
        if (!c)
            return x;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* One term being appended to: its dictionary entry as it will be written,
 * whether its postings will all fit one inline block, and its name. */
typedef struct term_put {
    store_term t;
    int one_block;
    size_t added;
    const char *term;
    uint32_t len;
} term_put;

/* Looks the term up (a new one gets the next id) and reopens its last
 * block, inline or not, when that has room; `added` postings will follow. */
static int term_open(lctx_db *db, MDB_txn *txn, const char *term, uint32_t len, size_t added,
                     store_stats *st, term_writer *tw, term_put *tp)
{
    store_term *t = &tp->t;
    MDB_val inl = {0, NULL};
    block_acc *a = &tw->acc;
    int rc = (tw->flags & MDB_APPEND) ? LCTX_ENOTFOUND
                                      : kv_term_get(db, txn, term, len, t, &inl);
    a->n = 0;
    a->max_tf = 0;
    a->min_len = UINT32_MAX;
    tp->term = term;
    tp->len = len;
    tp->added = added;
    if (rc == LCTX_ENOTFOUND) {
        memset(t, 0, sizeof *t);
        t->id = (uint32_t)st->next_term++;
        t->min_len = UINT32_MAX;
        st->n_terms++;
    } else if (rc) {
        return rc;
    } else if (inl.mv_size && (rc = reopen_inline(db, tw, t, &inl))) {
        return rc;
    } else if (!inl.mv_size && t->n_blocks > 0 && (rc = reopen_last_block(db, txn, t, a))) {
        return rc;
    }
    tp->one_block = t->n_blocks == 0 && a->n + added <= STORE_BLOCK;
    return LCTX_OK;
}

/* Appends one batch posting (in chunk order) with its exact counts. */
static inline int term_take(lctx_db *db, const store_batch *b, term_writer *tw, term_put *tp,
                            const store_bposting *bp)
{
    block_acc *a = &tw->acc;
    store_term *t = &tp->t;
    store_posting *p = &a->p[a->n];
    *p = (store_posting){bp->chunk, bp->tf_text, bp->tf_title};
    if (bp->tf_text == STORE_TF_WIDE || bp->tf_title == STORE_TF_WIDE) {
        const store_wide *w = find_wide(b, tp->term, tp->len, bp->chunk);
        if (!w)   /* a builder bug */
            return store_err(db, LCTX_ERROR, "batch: term '%.*s' lacks the exact counts of "
                             "chunk %u", (int)tp->len, tp->term, bp->chunk);
        p->tf_text = w->tf_text;
        p->tf_title = w->tf_title;
    }
    a->n++;
    float tf = kv_tf_bound(p->tf_text + db->cfg.title_weight * p->tf_title);
    uint32_t len = chunk_len(b, p->chunk);
    if (tf > a->max_tf)
        a->max_tf = tf;
    if (len < a->min_len)
        a->min_len = len;
    if (tf > t->max_tf)
        t->max_tf = tf;
    if (len < t->min_len)
        t->min_len = len;
    if (a->n == STORE_BLOCK && !tp->one_block)
        return flush_block(db, tw, t);
    return LCTX_OK;
}

/* Writes what the accumulator holds: the inline block of a term that
 * has one, else a last block; then the dictionary entry. */
static int term_close(lctx_db *db, term_writer *tw, term_put *tp, store_stats *st)
{
    block_acc *a = &tw->acc;
    store_term *t = &tp->t;
    uint8_t val[sizeof *t + PBLOCK_MAX_BYTES];
    size_t inline_len = 0;
    int rc;
    if (tp->one_block && a->n > 0) {
        inline_len = pblock_encode(a->p, a->n, a->max_tf, a->min_len, val + sizeof *t);
        t->n_blocks = 1;
        t->last_chunk = a->p[a->n - 1].chunk;
    } else if (a->n > 0 && (rc = flush_block(db, tw, t))) {
        return rc;
    }
    t->df += (uint32_t)tp->added;
    st->n_postings += tp->added;
    memcpy(val, t, sizeof *t);
    MDB_val k = {tp->len, (void *)tp->term}, v = {sizeof *t + inline_len, val};
    if ((rc = mdb_cursor_put(tw->terms, &k, &v, tw->flags)))
        return kv_err(db, rc, "write term");
    return LCTX_OK;
}

/* Appends the batch's postings of one term. A term that ends up with a
 * single block keeps it in its dictionary entry (blocks.c); one with more
 * keeps them all in the postings table. */
static int put_term(lctx_db *db, MDB_txn *txn, const store_batch *b,
                    const store_term_postings *tp, store_stats *st, term_writer *tw)
{
    term_put put;
    int rc = term_open(db, txn, tp->term, tp->len, tp->n + tp->n2, st, tw, &put);
    for (size_t i = 0, j = 0; !rc && (i < tp->n || j < tp->n2);) {
        /* p and p2 merged by chunk */
        const store_bposting *bp = j == tp->n2 || (i < tp->n && tp->p[i].chunk < tp->p2[j].chunk)
                                   ? &tp->p[i++] : &tp->p2[j++];
        rc = term_take(db, b, tw, &put, bp);
    }
    return rc ? rc : term_close(db, tw, &put, st);
}

/* Where one chain of a spilled term is: segment s, posting i in it. */
typedef struct chain_pos {
    const store_seg *seg;
    size_t n_seg, s, i;
} chain_pos;

static const store_bposting *chain_head(const chain_pos *c)
{
    return c->s < c->n_seg ? &c->seg[c->s].p[c->i] : NULL;
}

static void chain_step(chain_pos *c)
{
    if (++c->i == c->seg[c->s].n) {
        c->i = 0;
        do
            c->s++;
        while (c->s < c->n_seg && c->seg[c->s].n == 0);
    }
}

/* The same for a term of a spilled batch: its chains merged by chunk. */
static int put_chained(lctx_db *db, MDB_txn *txn, const store_batch *b,
                       const store_term_chains *tc, store_stats *st, term_writer *tw)
{
    chain_pos c[STORE_CHAINS];
    for (int k = 0; k < STORE_CHAINS; k++) {
        c[k] = (chain_pos){tc->seg[k], tc->n_seg[k], 0, 0};
        while (c[k].s < c[k].n_seg && c[k].seg[c[k].s].n == 0)
            c[k].s++;
    }
    term_put put;
    int rc = term_open(db, txn, tc->term, tc->len, tc->n, st, tw, &put);
    for (size_t taken = 0; !rc && taken < tc->n; taken++) {
        int best = -1;
        const store_bposting *bp = NULL;
        for (int k = 0; k < STORE_CHAINS; k++) {
            const store_bposting *h = chain_head(&c[k]);
            if (h && (!bp || h->chunk < bp->chunk)) {
                bp = h;
                best = k;
            }
        }
        if (!bp)
            return store_err(db, LCTX_ERROR, "batch: term '%.*s' has fewer postings than "
                             "it counts", (int)tc->len, tc->term);
        rc = term_take(db, b, tw, &put, bp);
        chain_step(&c[best]);
    }
    return rc ? rc : term_close(db, tw, &put, st);
}

/* Every term of a spilled batch, from its source. */
static int put_source_terms(lctx_db *db, MDB_txn *txn, const store_batch *b, store_stats *st,
                            term_writer *tw)
{
    const store_term_source *src = b->source;
    int rc = src->rewind(src->ctx);
    const store_term_chains *tc;
    while (!rc && !(rc = src->next(src->ctx, &tc)) && tc)
        rc = put_chained(db, txn, b, tc, st, tw);
    return rc;
}

/* 1 when the index holds no chunk page, term or postings list, 0 when it
 * does, -rc on an LMDB error. Its statistics alone cannot tell: a
 * collection emptied by deletions and compacted counts no chunk and no
 * term, yet chunk numbers go on from where they were, and a page its
 * compaction kept (or one written before compaction cleared pages) would
 * be appended to. */
static int index_is_empty(lctx_db *db, MDB_txn *txn, const store_stats *st)
{
    if (st->n_chunks || st->n_terms)
        return 0;
    MDB_dbi dbis[3] = {db->dbi_chunks, db->dbi_terms, db->dbi_post};
    for (int i = 0; i < 3; i++) {
        MDB_stat ms;
        int rc = mdb_stat(txn, dbis[i], &ms);
        if (rc)
            return -rc;
        if (ms.ms_entries)
            return 0;
    }
    return 1;
}

static int apply_txn(lctx_db *db, MDB_txn *txn, void *ctx)
{
    const store_batch *b = ctx;
    store_stats st;
    int rc = kv_get_stats(db, txn, &st);
    if (rc)
        return rc;
    if (st.last_seq >= b->seq)
        return store_err(db, LCTX_ESTATE, "%s/index: batch %llu already applied", db->path,
                         (unsigned long long)b->seq);
    store_chunkrec *recs = malloc(STORE_PAGE * sizeof *recs);
    term_writer *tw = malloc(sizeof *tw);
    if (!recs || !tw) {
        free(recs);
        free(tw);
        return store_err(db, LCTX_ENOMEM, "out of memory");
    }
    /* Bulk load: into an index that holds no chunk or term, every
     * key of this batch is new and arrives in LMDB's key order (chunk pages
     * by number; terms sorted bytewise, as LMDB compares them, and numbered
     * in that order, so postings keys (term, last chunk) ascend too). Then
     * there is nothing to look up, and MDB_APPEND puts each key at the end
     * of its tree without a search, filling pages instead of splitting them
     * in half. A key out of order fails the put (MDB_KEYEXIST) and the
     * whole batch with it, rather than building a wrong tree. */
    int empty = index_is_empty(db, txn, &st);
    unsigned flags = empty > 0 ? MDB_APPEND : 0;
    rc = empty < 0 ? kv_err(db, -empty, "read index statistics")
                   : put_chunks(db, txn, b, recs, &st, flags);
    tw->flags = flags;
    tw->post = tw->terms = NULL;
    if (!rc && ((rc = mdb_cursor_open(txn, db->dbi_post, &tw->post)) ||
                (rc = mdb_cursor_open(txn, db->dbi_terms, &tw->terms))))
        rc = kv_err(db, rc, "open cursor");
    if (!rc && b->source)
        rc = put_source_terms(db, txn, b, &st, tw);
    for (size_t i = 0; i < b->n_terms && !rc; i++) {
        /* The terms' lists lie scattered over the builders' memory, and
         * waiting for each one's header, then its postings, was half of
         * this loop: ask for the header eight terms ahead and, once that
         * has arrived, for the postings (both pieces') four ahead. */
        if (i + 8 < b->n_terms)
            __builtin_prefetch(b->terms[i + 8]);
        if (i + 4 < b->n_terms) {
            __builtin_prefetch(b->terms[i + 4]->p);
            __builtin_prefetch(b->terms[i + 4]->p2);
        }
        rc = put_term(db, txn, b, b->terms[i], &st, tw);
    }
    /* A write transaction's cursors are closed before it ends. */
    if (tw->post)
        mdb_cursor_close(tw->post);
    if (tw->terms)
        mdb_cursor_close(tw->terms);
    if (!rc)
        rc = put_tombstones(db, txn, b, recs, &st);
    /* Vectors and buckets after the tombstones' records, in the same
     * transaction: a chunk's vector lives and dies with its postings. */
    if (!rc && b->apply_vectors)
        rc = b->apply_vectors(db, txn, b);
    free(recs);
    free(tw);
    if (rc)
        return rc;
    st.last_seq = b->seq;
    return kv_put_stats(db, txn, &st);
}

int kv_apply_batch(lctx_db *db, const store_batch *b, kv_gate_fn gate, void *gate_ctx)
{
    if (db->test_fail_lmdb)
        return store_err(db, LCTX_EIO, "%s/index: write failed: No space left on device "
                         "(simulated)", db->path);
    return kv_write_gated(db, apply_txn, (void *)b, gate, gate_ctx);
}
