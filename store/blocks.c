/*
 * blocks.c — a term's postings blocks, wherever they are stored.
 *
 * Since format 3 a term whose postings fit in one block (STORE_BLOCK
 * entries) keeps that block in its dictionary entry, right after the
 * store_term; only terms with two blocks or more use the postings table,
 * under keys (term id, last chunk). Nearly every term of a collection is
 * rare: in the dev collections 94 to 99 % have a single block. Keeping
 * it inline halves the puts of a bulk load (one per term instead of two),
 * makes the index 14-21 % smaller (a key and a node fewer per term), and
 * lets a search read a rare term's postings with the lookup that found
 * the term.
 *
 * The rule the writers keep (apply.c, compact.c) and lctx_check verifies:
 * a term has exactly one block if and only if it is inline. Readers do not
 * depend on it: they go through kv_blocks, which serves either layout.
 */
#include <string.h>

#include "store/store.h"

int kv_term_parse(lctx_db *db, const MDB_val *v, store_term *out, MDB_val *inl)
{
    if (v->mv_size < sizeof *out)
        return store_err(db, LCTX_ECORRUPT, "%s/index: malformed term entry", db->path);
    memcpy(out, v->mv_data, sizeof *out);
    MDB_val block = {v->mv_size - sizeof *out, (uint8_t *)v->mv_data + sizeof *out};
    /* An inline block is the term's only one; anything else after the
     * entry is damage. */
    if (block.mv_size && (out->n_blocks != 1 || block.mv_size > PBLOCK_MAX_BYTES))
        return store_err(db, LCTX_ECORRUPT, "%s/index: malformed term entry", db->path);
    if (inl)
        *inl = block.mv_size ? block : (MDB_val){0, NULL};
    return LCTX_OK;
}

int kv_term_get(lctx_db *db, MDB_txn *txn, const char *term, size_t len, store_term *out,
                MDB_val *inl)
{
    MDB_val k = {len, (void *)term}, v;
    int rc = mdb_get(txn, db->dbi_terms, &k, &v);
    if (rc == MDB_NOTFOUND)
        return LCTX_ENOTFOUND;
    if (rc)
        return kv_err(db, rc, "read term");
    return kv_term_parse(db, &v, out, inl);
}

int kv_blocks_open(lctx_db *db, MDB_txn *txn, const store_term *t, const MDB_val *inl,
                   kv_blocks *b)
{
    memset(b, 0, sizeof *b);
    b->id = t->id;
    if (inl && inl->mv_size) {
        b->inl = *inl;
        b->inl_last = t->last_chunk;
        return LCTX_OK;
    }
    int rc = mdb_cursor_open(txn, db->dbi_post, &b->mc);
    return rc ? kv_err(db, rc, "open cursor") : LCTX_OK;
}

/* The block under the table cursor after a get that returned rc. */
static int table_block(lctx_db *db, kv_blocks *b, const MDB_val *k, const MDB_val *v, int rc,
                       kv_block *out)
{
    memset(out, 0, sizeof *out);
    b->state = KV_BLOCKS_ENDED;
    if (rc == MDB_NOTFOUND)
        return LCTX_OK;
    if (rc)
        return kv_err(db, rc, "read postings");
    if (k->mv_size != 8)
        return store_err(db, LCTX_ECORRUPT, "%s/index: bad postings key", db->path);
    uint32_t tid, last;
    pblock_key_parse(k->mv_data, &tid, &last);
    if (tid != b->id)
        return LCTX_OK;
    out->data = v->mv_data;
    out->len = v->mv_size;
    out->last = last;
    b->state = KV_BLOCKS_AT;
    return LCTX_OK;
}

static void inline_block(kv_blocks *b, kv_block *out, int found)
{
    memset(out, 0, sizeof *out);
    b->state = KV_BLOCKS_ENDED;  /* nothing comes after the one block */
    if (!found)
        return;
    out->data = b->inl.mv_data;
    out->len = b->inl.mv_size;
    out->last = b->inl_last;
}

int kv_blocks_seek(lctx_db *db, kv_blocks *b, uint32_t target, kv_block *out)
{
    if (!b->mc) {
        inline_block(b, out, b->inl_last >= target);
        return LCTX_OK;
    }
    uint8_t kb[8];
    pblock_key(kb, b->id, target);
    MDB_val k = {8, kb}, v;
    int rc = mdb_cursor_get(b->mc, &k, &v, MDB_SET_RANGE);
    return table_block(db, b, &k, &v, rc, out);
}

int kv_blocks_next(lctx_db *db, kv_blocks *b, kv_block *out)
{
    if (b->state == KV_BLOCKS_FRESH)
        return kv_blocks_seek(db, b, 0, out);
    memset(out, 0, sizeof *out);
    if (b->state == KV_BLOCKS_ENDED)
        return LCTX_OK;
    MDB_val k, v;
    int rc = mdb_cursor_get(b->mc, &k, &v, MDB_NEXT);
    return table_block(db, b, &k, &v, rc, out);
}

void kv_blocks_close(kv_blocks *b)
{
    if (b->mc)
        mdb_cursor_close(b->mc);
    b->mc = NULL;
}
