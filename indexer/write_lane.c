/*
 * write_lane.c — the lanes a write batch is tokenized in, and what becomes
 * of them at the commit (the batch protocol itself is write.c).
 *
 * A lane is a tokenizer and a postings builder fed documents in id order:
 * the worker's (write_worker.c), and the calling thread's two, which take
 * documents while the worker has a backlog (write_index_caller_job). At
 * the commit the builders are merged into the worker's lane, in memory
 * (postings_build_merge); or, once any lane's terms outgrew its share of
 * the batch memory and went to a run on disk (lane_spill, spill.c), every
 * lane's remaining terms follow them, only the chunk records are merged,
 * and the LMDB apply reads the terms back from the files
 * (write_batch_finish). index_doc is the same code for a first apply and
 * for replay (replay.c), which is what makes replay exact.
 */
#include <stdlib.h>
#include <string.h>

#include "indexer/indexer.h"
#include "store/store.h"

/* Tokenizers come from and go back to the collection's pool (store_tok_get),
 * which searches share: creating one allocates a stemmer and a stem cache. */
static void lane_free(lctx_db *db, index_lane *l)
{
    spill_close(l->spill);
    postings_build_free(l->pb);
    if (!l->tok_borrowed)
        store_tok_put(db, l->tok);
    tok_list_free(&l->text_toks);
    tok_list_free(&l->title_toks);
}

/* A lane of its own allocation (the caller's): freed with it; NULL is fine. */
static void lane_drop(lctx_db *db, index_lane *l)
{
    if (!l)
        return;
    lane_free(db, l);
    free(l);
}

/* With tok, the lane borrows that tokenizer (a lane of the same thread)
 * instead of taking one from the pool. */
static int lane_init(lctx_db *db, index_lane *l, tok_tokenizer *tok)
{
    l->tok = tok ? tok : store_tok_get(db);
    l->tok_borrowed = tok != NULL;
    l->pb = postings_build_new();
    tok_list_init(&l->text_toks);
    tok_list_init(&l->title_toks);
    if (!l->tok)
        return LCTX_ERROR;   /* store_tok_get said why */
    if (!l->pb || postings_build_warm(l->pb))
        return store_err(db, LCTX_ENOMEM, "out of memory");
    /* The lane's two huge pages (word cache, first arena block) are
     * faulted in here, on the calling thread, even for the worker's lane.
     * This thread freed the last batch's huge pages, and the kernel hands
     * pages just freed back to the CPU that freed them: on the development
     * VM one of those costs about 0.05 ms to fault, one from the free
     * lists about 3 ms, since the hypervisor must back it again
     * (tools/fault-cost.c, "fresh"). The worker's CPU had none to give: its
     * huge pages were the slow kind in about one build in four. */
    tok_warm(l->tok);
    return LCTX_OK;
}

void write_batch_free(struct write_batch *w)
{
    if (!w)
        return;
    write_worker_abort(w->worker);
    write_worker_reap(w->reap);
    spill_source_close(w->src);
    free(w->tombs);
    lane_free(w->db, &w->lane);
    lane_drop(w->db, w->caller);
    lane_drop(w->db, w->share);
    sqlite3_finalize(w->st_find);
    sqlite3_finalize(w->st_del);
    sqlite3_finalize(w->st_doc);
    free(w->spans_buf);
    embed_batch_free(w->eb);
    free(w);
}

/* A batch context without SQLite statements: used by both paths. */
int write_batch_new(lctx_db *db, struct write_batch **out)
{
    struct write_batch *w = calloc(1, sizeof *w);
    if (!w)
        return store_err(db, LCTX_ENOMEM, "out of memory");
    w->db = db;
    /* Two lanes take documents at once (the worker's and the caller's). */
    if (db->batch_memory)
        w->spill_at = db->batch_memory / 2 ? db->batch_memory / 2 : 1;
    int rc = lane_init(db, &w->lane, NULL);
    if (rc) {
        write_batch_free(w);
        return rc;
    }
    *out = w;
    return LCTX_OK;
}

/* Writes the lane's terms as one more run of its spill file and empties
 * its builder (spill.c). Nothing to write and no file yet: nothing done. */
static int lane_spill(lctx_db *db, struct write_batch *w, index_lane *l, int final)
{
    store_term_postings *const *terms;
    size_t n;
    int rc = LCTX_OK;
    if (postings_build_sort(l->pb))
        return store_err(db, LCTX_ENOMEM, "out of memory");
    postings_build_sorted(l->pb, &terms, &n);
    if (!n && !l->spill)
        return LCTX_OK;
    if (db->test_fail_spill == (final ? 2u : 1u))
        return store_err(db, LCTX_EIO, "%s: cannot write the batch's postings in a temporary "
                         "file: No space left on device (simulated)", db->path);
    if (!l->spill) {
        if ((rc = spill_open(db, &l->spill)))
            return rc;
        __atomic_store_n(&w->spilled, 1, __ATOMIC_RELEASE);
    }
    if (n && (rc = spill_write_run(l->spill, terms, n)))
        return rc;
    if (postings_build_drop_terms(l->pb))
        return store_err(db, LCTX_ENOMEM, "out of memory");
    __atomic_fetch_add(&db->n_spills, 1, __ATOMIC_RELAXED);
    return LCTX_OK;
}

/* The tokenizer's failure: memory, or a library it needed (ICU). */
static int tok_failed(lctx_db *db, const tok_tokenizer *tok)
{
    int mem;
    const char *why = tok_error(tok, &mem);
    return store_err(db, mem ? LCTX_ENOMEM : LCTX_ERROR, "%s", why);
}

/* Tokenizes one document's chunks into the builder. Identical for first
 * apply and replay: that is what makes replay exact. */
static int index_doc(lctx_db *db, struct write_batch *w, index_lane *l, uint32_t doc_id,
                     uint32_t first_chunk, const char *title, size_t title_len,
                     const char *text, const chunk_span *spans, size_t n_spans)
{
    if (db->test_fail_doc && db->test_fail_doc == (uint64_t)doc_id + 1)
        return store_err(db, LCTX_ENOMEM, "out of memory (simulated)");
    tok_list_reset(&l->title_toks);
    if (title_len && tok_tokenize(l->tok, title, title_len, &l->title_toks))
        return tok_failed(db, l->tok);
    for (size_t i = 0; i < n_spans; i++) {
        tok_list_reset(&l->text_toks);
        size_t n = spans[i].end - spans[i].start;
        uint32_t len;
        if (n && tok_tokenize(l->tok, text + spans[i].start, n, &l->text_toks))
            return tok_failed(db, l->tok);
        if (postings_build_chunk(l->pb, l->tok, first_chunk + (uint32_t)i, doc_id,
                                 &l->text_toks, &l->title_toks, &len))
            return store_err(db, LCTX_ENOMEM, "out of memory");
        /* First apply only (replay reads the stored vectors back). */
        if (w->eb && embed_batch_chunk(w->eb, first_chunk + (uint32_t)i, title, title_len,
                                       text + spans[i].start, n))
            return store_err(db, LCTX_ENOMEM, "out of memory");
    }
    l->end_chunk = (uint64_t)first_chunk + n_spans;
    /* Between documents: a run holds whole documents. */
    if (w->spill_at && postings_build_memory(l->pb) > w->spill_at)
        return lane_spill(db, w, l, 0);
    return LCTX_OK;
}

/* The worker's entry point: index_doc for a queued document. */
int write_index_job(void *ctx, uint32_t doc, uint32_t first_chunk, const char *title,
                    size_t title_len, const char *text, const chunk_span *spans, size_t n)
{
    struct write_batch *w = ctx;
    return index_doc(w->db, w, &w->lane, doc, first_chunk, title, title_len, text, spans, n);
}

/* The worker's last act: sorting its builder's terms while the caller
 * still tokenizes its share (the merge at commit wants both sorted). */
int write_sort_worker_lane(void *ctx)
{
    struct write_batch *w = ctx;
    return postings_build_sort(w->lane.pb) ? store_err(w->db, LCTX_ENOMEM, "out of memory") : 0;
}

/* The same for the caller's builders, once its share is done. */
int write_sort_caller_lanes(void *ctx)
{
    struct write_batch *w = ctx;
    if ((w->caller && postings_build_sort(w->caller->pb)) ||
        (w->share && postings_build_sort(w->share->pb)))
        return store_err(w->db, LCTX_ENOMEM, "out of memory");
    return 0;
}

/* The same on the calling thread, into a lane of its own (created on its
 * first document), merged into the worker's at commit: documents lctx_add
 * tokenizes itself while the worker has a backlog, and the caller's share
 * of that backlog at commit. A builder takes its documents in id order,
 * and the backlog is older than the documents lctx_add kept, so the part
 * of the share that does not follow them goes to a third lane. Never used
 * with an embedder, whose chunk texts must arrive in order. */
int write_index_caller_job(void *ctx, uint32_t doc, uint32_t first_chunk, const char *title,
                           size_t title_len, const char *text, const chunk_span *spans, size_t n)
{
    struct write_batch *w = ctx;
    index_lane **slot = w->caller && first_chunk < w->caller->end_chunk ? &w->share : &w->caller;
    if (!*slot) {
        index_lane *l = calloc(1, sizeof *l);
        if (!l)
            return store_err(w->db, LCTX_ENOMEM, "out of memory");
        /* The share lane borrows the caller lane's tokenizer: both run on
         * this thread, and a tokenizer of its own would start with a cold
         * word cache (a Snowball call for every distinct word again) and
         * 2 MiB to zero. The two builders then take each other's slots
         * over (each has its owner number, tok_slot_tag), which costs the
         * other a hash lookup when it meets that word again. */
        int rc = lane_init(w->db, l, slot == &w->share ? w->caller->tok : NULL);
        if (rc) {
            lane_drop(w->db, l);
            return rc;
        }
        *slot = l;
    }
    return index_doc(w->db, w, *slot, doc, first_chunk, title, title_len, text, spans, n);
}

int write_batch_finish(struct write_batch *w, uint64_t seq, store_batch *b)
{
    lctx_db *db = w->db;
    index_lane *lanes[3] = {&w->lane, w->caller, w->share};
    int spilled = write_batch_spilled(w), rc;
    if (!spilled) {
        /* The caller's builders into the worker's, all in memory. */
        for (int i = 1; i < 3; i++)
            if (lanes[i] && postings_build_merge(w->lane.pb, lanes[i]->pb))
                return store_err(db, LCTX_ENOMEM, "out of memory");
    } else {
        /* Some lane outgrew memory: every lane's remaining terms go to its
         * file too, the worker's lane takes the others' chunk records, and
         * apply reads the terms back from the files, one chain each. */
        spill_file *files[3];
        int n = 0;
        for (int i = 0; i < 3; i++) {
            if (!lanes[i])
                continue;
            if ((rc = lane_spill(db, w, lanes[i], 1)))
                return rc;
            if (lanes[i]->spill)
                files[n++] = lanes[i]->spill;
            if (i > 0 && postings_build_merge_records(w->lane.pb, lanes[i]->pb))
                return store_err(db, LCTX_ENOMEM, "out of memory");
        }
        if ((rc = spill_source_open(db, files, n, &w->src, &w->source)))
            return rc;
    }
    if (postings_build_finish(w->lane.pb, b))
        return store_err(db, LCTX_ENOMEM, "out of memory");
    b->source = spilled ? &w->source : NULL;
    b->vec_rows = NULL;
    b->apply_vectors = NULL;
    b->seq = seq;
    return LCTX_OK;
}

/* replay.c's way in: the same index_doc, into the batch's own lane. */
int write_batch_index(struct write_batch *w, uint32_t doc, uint32_t first_chunk,
                      const char *title, size_t title_len, const char *text,
                      const chunk_span *spans, size_t n)
{
    return index_doc(w->db, w, &w->lane, doc, first_chunk, title, title_len, text, spans, n);
}

void write_batch_allow_holes(struct write_batch *w)
{
    postings_build_allow_holes(w->lane.pb);
}

int write_batch_tomb(struct write_batch *w, uint32_t first, uint32_t n)
{
    return postings_build_tomb(w->lane.pb, first, n)
        ? store_err(w->db, LCTX_ENOMEM, "out of memory") : LCTX_OK;
}

int write_batch_spilled(struct write_batch *w)
{
    return __atomic_load_n(&w->spilled, __ATOMIC_ACQUIRE);
}

void write_batch_drop_spills(struct write_batch *w)
{
    spill_source_close(w->src);
    w->src = NULL;
    index_lane *lanes[3] = {&w->lane, w->caller, w->share};
    for (int i = 0; i < 3; i++)
        if (lanes[i]) {
            spill_close(lanes[i]->spill);
            lanes[i]->spill = NULL;
        }
}
