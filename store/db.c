/*
 * db.c — the collection handle: open/close, errors, the writer lock, the
 * pool of read connections, statistics and document text.
 *
 * Opening a collection read-write also reconciles the two stores: when
 * SQLite holds batches that LMDB lacks (a crash between the two commits),
 * they are replayed into LMDB before lctx_open returns (write_recover in
 * indexer/write.c, which owns tokenization). Recovery needs the writer lock;
 * when another process holds it, that process is alive and mid-batch, so
 * there is nothing to recover and opening proceeds. Read-only handles never
 * recover: they read LMDB as of its last commit, which is always consistent.
 * LCTX_OPEN_REBUILD_INDEX is the same recovery from an empty index
 * (rebuild_start, below).
 *
 * The writer lock is an flock on NAME.lctx/write.lock taken by lctx_begin
 * (and by recovery and compaction) and released when the batch ends; the
 * creator of a new collection holds it until its first batch commits
 * (create.c). It is
 * non-blocking: a second writer gets LCTX_EBUSY at once rather than hanging
 * behind a long indexing run. flock locks vanish with their process, so a
 * kill -9 never leaves a stale lock behind.
 *
 * Errors: every failure records a one-line message in the handle (under a
 * mutex, since searches run on several threads) and returns a status.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <libstemmer.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "indexer/indexer.h"
#include "query/query.h"
#include "store/store.h"

/* ------------------------------------------------------------------ errors */
/* Each thread's last failure on a handle. Threads searching one handle at
 * once each read their own message (lctx_errmsg), not whichever failure
 * came last; past STORE_ERR_THREADS threads the least recent slot is
 * reused. */
#define STORE_ERR_THREADS 16
typedef struct store_errslot {
    pthread_t thread;
    uint64_t used;                /* 0: free; else a stamp from clock */
    char msg[512];
} store_errslot;

struct store_errs {
    store_errslot slot[STORE_ERR_THREADS];
    uint64_t clock;
};

/* thread's slot (err_mu held); with make, one is taken for it: a free
 * one, else the least recently used. NULL when it has none. */
static store_errslot *err_slot_of(lctx_db *db, pthread_t thread, int make)
{
    store_errslot *oldest = &db->errs->slot[0];
    for (int i = 0; i < STORE_ERR_THREADS; i++) {
        store_errslot *e = &db->errs->slot[i];
        if (e->used && pthread_equal(e->thread, thread))
            return e;
        if (e->used < oldest->used)
            oldest = e;
    }
    if (!make)
        return NULL;
    oldest->thread = thread;
    oldest->used = ++db->errs->clock;
    oldest->msg[0] = 0;
    return oldest;
}

/* The calling thread's slot. */
static store_errslot *err_slot(lctx_db *db, int make)
{
    return err_slot_of(db, pthread_self(), make);
}

int store_err(lctx_db *db, int rc, const char *fmt, ...)
{
    if (!db)
        return rc;
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&db->err_mu);
    store_errslot *e = err_slot(db, 1);
    e->used = ++db->errs->clock;
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    pthread_mutex_unlock(&db->err_mu);
    va_end(ap);
    return rc;
}

int store_err_adopt(lctx_db *db, pthread_t from, int rc)
{
    pthread_mutex_lock(&db->err_mu);
    store_errslot *mine = err_slot(db, 0), *theirs = err_slot_of(db, from, 0);
    if (theirs && theirs != mine && (!mine || theirs->used > mine->used)) {
        mine = err_slot(db, 1);
        memcpy(mine->msg, theirs->msg, sizeof mine->msg);
        mine->used = ++db->errs->clock;
    }
    pthread_mutex_unlock(&db->err_mu);
    return rc;
}

void store_clear_err(lctx_db *db)
{
    pthread_mutex_lock(&db->err_mu);
    store_errslot *e = err_slot(db, 0);
    if (e)
        e->msg[0] = 0;
    pthread_mutex_unlock(&db->err_mu);
}

/* Without a handler the warning waits for one (lctx_open's warnings can
 * have no handler yet), up to STORE_PENDING of them; later ones are
 * dropped, as the API says warnings without a handler are. Searches on
 * several threads can warn at once (an ICU mismatch, a vector cache), so
 * the handler and the pending list are read under err_mu; the handler
 * runs outside it, and is the caller's to make thread-safe. */
void store_warn(lctx_db *db, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&db->err_mu);
    lctx_warning_fn fn = db->warn;
    void *ctx = db->warn_ctx;
    if (!fn && db->n_pending < STORE_PENDING)
        snprintf(db->pending[db->n_pending++], sizeof db->pending[0], "%s", buf);
    pthread_mutex_unlock(&db->err_mu);
    if (fn)
        fn(ctx, buf);
}

/* Only the calling thread writes its slot, so the message stays as it is
 * until that thread's next call on the handle. */
const char *lctx_errmsg(const lctx_db *db)
{
    if (!db)
        return "no collection handle";
    lctx_db *h = (lctx_db *)db;         /* the lock is the handle's own business */
    pthread_mutex_lock(&h->err_mu);
    store_errslot *e = err_slot(h, 0);
    pthread_mutex_unlock(&h->err_mu);
    return e ? e->msg : "";
}

const char *lctx_strstatus(int status)
{
    static const char *names[] = {
        "ok", "error", "not found", "invalid argument", "i/o error", "corrupt",
        "unsupported format version", "out of memory", "busy", "unsupported",
        "call out of order", "timeout", "remote error"};
    if (status < 0 || status >= (int)(sizeof names / sizeof names[0]))
        return "unknown status";
    return names[status];
}

void lctx_set_warning_handler(lctx_db *db, lctx_warning_fn fn, void *ctx)
{
    if (!db)
        return;
    pthread_mutex_lock(&db->err_mu);
    db->warn = fn;
    db->warn_ctx = ctx;
    /* With a handler set nothing is added to the list: read it unlocked. */
    int n = fn ? db->n_pending : 0;
    pthread_mutex_unlock(&db->err_mu);
    for (int i = 0; i < n; i++)
        fn(ctx, db->pending[i]);
    if (n) {
        pthread_mutex_lock(&db->err_mu);
        db->n_pending = 0;
        pthread_mutex_unlock(&db->err_mu);
    }
}

void lctx_config_init(lctx_config *cfg)
{
    if (!cfg)
        return;
    memset(cfg, 0, sizeof *cfg);
    cfg->language = "english";
    cfg->stopwords = 1;
    /* k1 1.2, b 0.75 (Robertson's classic values) and 400-word passages:
     * on the ten dev collections these beat SQLite FTS5 and Xapian on every
     * one, where Lucene's 0.9/0.4 with 200-word passages lost on four
     * (docs/format.md, "Choosing the defaults"). */
    cfg->chunk_words = 400;
    cfg->bm25_k1 = 1.2;
    cfg->bm25_b = 0.75;
    /* Tuned on the dev collections (docs/format.md): 2 beats 0.5, 1 and 3
     * on average, and titles are the densest evidence a document has. */
    cfg->title_weight = 2.0;
    cfg->embedder = "none";
    cfg->model_dir = NULL;
    cfg->vector_encoding = "int8";
    cfg->lsh_target_recall = 0.95;
}

/* ------------------------------------------------------------- writer lock */
int store_lock(lctx_db *db)
{
    if (db->lock_held)
        return LCTX_OK;
    if (db->lock_fd < 0) {
        char file[4096];
        snprintf(file, sizeof file, "%s/write.lock", db->path);
        db->lock_fd = open(file, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
        if (db->lock_fd < 0)
            return store_err(db, LCTX_EIO, "%s: %s", file, strerror(errno));
    }
    if (flock(db->lock_fd, LOCK_EX | LOCK_NB)) {
        if (errno == EWOULDBLOCK)
            return store_err(db, LCTX_EBUSY, "%s: another writer holds the collection, or "
                             "a reader that may not write it", db->path);
        return store_err(db, LCTX_EIO, "%s/write.lock: %s", db->path, strerror(errno));
    }
    db->lock_held = 1;
    /* Another process may have replaced the index since this handle last
     * wrote (generation.c); a rebuild's own generation is not current yet. */
    int rc = db->env && !db->rebuilding && !db->creating ? index_writer_follow(db) : LCTX_OK;
    if (rc)
        store_unlock(db);
    return rc;
}

void store_unlock(lctx_db *db)
{
    if (db->creating)
        return;     /* held until the creation is durable (create.c) */
    if (db->lock_held)
        flock(db->lock_fd, LOCK_UN);
    db->lock_held = 0;
}

/* ------------------------------------------------------- read connections */
sqlite3 *store_conn_get(lctx_db *db)
{
    sqlite3 *conn = NULL;
    pthread_mutex_lock(&db->pool_mu);
    if (db->n_pool > 0)
        conn = db->pool[--db->n_pool];
    pthread_mutex_unlock(&db->pool_mu);
    if (conn)
        return conn;
    char file[4096];
    snprintf(file, sizeof file, "%s/catalog.db", db->path);
    if (catalog_open_reader(db, file, &conn))
        return NULL;
    return conn;
}

void store_conn_put(lctx_db *db, sqlite3 *conn)
{
    if (!conn)
        return;
    pthread_mutex_lock(&db->pool_mu);
    if (db->n_pool < STORE_POOL_MAX) {
        db->pool[db->n_pool++] = conn;
        conn = NULL;
    }
    pthread_mutex_unlock(&db->pool_mu);
    catalog_close_reader(conn);
}

/* A tokenizer is worth pooling: creating one allocates its stemmer and a
 * stem cache, which would dominate a fast query. */
struct tok_tokenizer *store_tok_get(lctx_db *db)
{
    tok_tokenizer *t = NULL;
    pthread_mutex_lock(&db->pool_mu);
    if (db->n_tok_pool > 0)
        t = db->tok_pool[--db->n_tok_pool];
    pthread_mutex_unlock(&db->pool_mu);
    if (t)
        return t;
    tok_config tc = {db->cfg.language, db->cfg.stopwords, strcmp(db->cfg.language, "none") != 0,
                     db->tok_rules, db->fold_accents};
    char err[256] = "";
    t = tok_new(&tc, err, sizeof err);
    if (!t)
        store_err(db, LCTX_ERROR, "tokenizer: %s", err[0] ? err : "out of memory");
    else if (db->test_icu_soname)
        tok_test_icu(t, db->test_icu_soname);
    return t;
}

/* Every tokenizer comes back here, from searches and batches alike, so
 * this is where lctx notices that the ICU it runs split words of a
 * collection made with another ICU. It says so once per handle: the
 * queries' Thai words may not be split as the index's were, nor a new
 * batch's as the earlier ones'. */
static void warn_other_icu(lctx_db *db, tok_tokenizer *tok)
{
    if (tok_take_icu_runs(tok) && db->icu_version && db->icu_version != tok_icu_version() &&
        !__atomic_exchange_n(&db->icu_warned, 1, __ATOMIC_RELAXED))
        store_warn(db, "%s: its Thai, Lao, Khmer and Myanmar words were split by ICU %d, "
                   "this lctx uses ICU %d, which may split them differently; "
                   "lctx-index --rebuild-index splits them again", db->path, db->icu_version,
                   tok_icu_version());
}

void store_tok_put(lctx_db *db, struct tok_tokenizer *tok)
{
    if (!tok)
        return;
    warn_other_icu(db, tok);
    pthread_mutex_lock(&db->pool_mu);
    if (db->n_tok_pool < STORE_POOL_MAX) {
        db->tok_pool[db->n_tok_pool++] = tok;
        tok = NULL;
    }
    pthread_mutex_unlock(&db->pool_mu);
    tok_free(tok);
}

/* ------------------------------------------------------------- open/close */
static int valid_language(const char *s)
{
    if (!s || !*s || strlen(s) >= 32)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || *s == '_'))
            return 0;
    return 1;
}

/* 1 when Snowball has a stemmer of that name (or it is "none"). Checked
 * here because a collection records its language at creation: one made
 * with a name the tokenizer then refuses could never take a batch or
 * answer a query. */
static int known_language(const char *s)
{
    if (strcmp(s, "none") == 0)
        return 1;
    struct sb_stemmer *st = sb_stemmer_new(s, "UTF_8");
    sb_stemmer_delete(st);
    return st != NULL;
}

static int check_config(lctx_db *db, const lctx_config *c)
{
    if (!valid_language(c->language))
        return store_err(db, LCTX_EINVAL, "%s: bad language name '%.40s' (Snowball's names are "
                         "lower case, such as english or french, or none)", db->path,
                         c->language ? c->language : "");
    if (!known_language(c->language))
        return store_err(db, LCTX_EINVAL, "%s: unknown language '%s' (Snowball's names, such as "
                         "english or french, or none)", db->path, c->language);
    /* written so that NaN fails every test */
    if (c->chunk_words < 1 || !(c->bm25_k1 >= 0 && isfinite(c->bm25_k1)) ||
        !(c->bm25_b >= 0 && c->bm25_b <= 1) ||
        !(c->title_weight >= 0 && isfinite(c->title_weight)) ||
        !(c->lsh_target_recall >= 0 && c->lsh_target_recall <= 1) ||
        c->accents < LCTX_ACCENTS_DEFAULT || c->accents > LCTX_ACCENTS_FOLD)
        return store_err(db, LCTX_EINVAL, "%s: bad collection config (chunk_words >= 1, "
                         "finite k1 >= 0, 0 <= b <= 1, finite title_weight >= 0, "
                         "0 <= lsh_target_recall <= 1, accents LCTX_ACCENTS_*)", db->path);
    return LCTX_OK;
}

static lctx_db *db_new(const char *path, unsigned flags)
{
    lctx_db *db = calloc(1, sizeof *db);
    if (!db)
        return NULL;
    db->path = strdup(path);
    db->errs = calloc(1, sizeof *db->errs);
    if (!db->path || !db->errs) {
        free(db->path);
        free(db->errs);
        free(db);
        return NULL;
    }
    size_t n = strlen(db->path);
    while (n > 1 && db->path[n - 1] == '/')
        db->path[--n] = 0;
    db->flags = flags;
    db->lock_fd = -1;
    db->batch_memory = LCTX_BATCH_MEMORY;
    pthread_mutex_init(&db->pool_mu, NULL);
    pthread_mutex_init(&db->err_mu, NULL);
    pthread_mutex_init(&db->write_mu, NULL);
    /* Writers first: glibc's default lets a new reader in while a writer
     * waits, so threads searching back to back on one handle kept a
     * writer (a map resize, a move to a new index generation, hence
     * lctx_begin) waiting for as long as they went on, 25 s and more with
     * eight. No thread takes map_lock twice (kv_read_begin is never
     * nested), which the non-recursive kind requires. */
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&db->map_lock, &attr);
    pthread_rwlockattr_destroy(&attr);
    pthread_mutex_init(&db->enc_mu, NULL);
    pthread_mutex_init(&db->vcache_mu, NULL);
    snprintf(db->embedder, sizeof db->embedder, "none");
    lctx_config_init(&db->cfg);
    snprintf(db->language, sizeof db->language, "english");
    db->cfg.language = db->language;
    return db;
}

/* LCTX_OPEN_REBUILD_INDEX. The index is derived state: the catalog keeps
 * every committed batch's documents (text, chunk ranges, the batch that
 * added and the one that deleted each) and their vectors, which is what
 * crash recovery replays from (indexer/replay.c). So rebuilding is: take
 * the writer lock for the whole of it, read the catalog even when an older
 * format wrote it, open an empty next generation of the index beside the
 * current one (generation.c), let recovery replay every batch into it, give
 * the vector buckets the tables last tuned (vtune_restore), and switch the
 * catalog to the new generation, recording the current format in the same
 * transaction. Until that switch the old index stays current, and other
 * processes keep reading it; a crash part-way leaves it current (a catalog
 * of an older format asks for the rebuild again) and a stray generation
 * that the next read-write open removes. */
static int rebuild_start(lctx_db *db)
{
    if (db->flags & LCTX_OPEN_READONLY)
        return store_err(db, LCTX_EINVAL, "%s: LCTX_OPEN_REBUILD_INDEX needs a read-write open",
                         db->path);
    int rc = store_lock(db);
    if (rc)
        return rc;
    db->rebuilding = 1;
    return LCTX_OK;
}

static int open_stores(lctx_db *db, const lctx_config *cfg)
{
    struct stat sb;
    int rc;
    int readonly = (db->flags & LCTX_OPEN_READONLY) != 0;
    int create = (db->flags & LCTX_OPEN_CREATE) && !readonly;
    if (stat(db->path, &sb)) {
        if (!create)
            return store_err(db, LCTX_ENOTFOUND, "%s: no such collection", db->path);
        if (mkdir(db->path, 0777) && errno != EEXIST)
            return store_err(db, LCTX_EIO, "%s: cannot create: %s", db->path, strerror(errno));
        db->made_dir = errno != EEXIST;
    } else if (!S_ISDIR(sb.st_mode)) {
        return store_err(db, LCTX_EINVAL, "%s: not a directory", db->path);
    }
    if ((rc = once_check(db)))
        return rc;
    int denied = readonly ? 0 : readonly_write_denied(db);
    if (denied)
        return store_err(db, LCTX_EIO, "%s: cannot write the collection: %s (a read-only "
                         "open can search it)", db->path, strerror(denied));
    char file[4096];
    snprintf(file, sizeof file, "%s/catalog.db", db->path);
    lctx_config resumed;
    if (readonly && creation_interrupted(db))
        return store_err(db, LCTX_ENOTFOUND, "%s: its creation was interrupted before the first "
                         "batch committed; open it for writing to start over", db->path);
    if (!readonly && create && stat(file, &sb) && !creation_marked(db) &&
        (rc = creation_start(db, cfg)))
        return rc;
    if (!readonly && !db->creating) {
        resumed = *cfg;
        if ((rc = creation_resume(db, &resumed)))
            return rc;
        if (db->creating)
            cfg = &resumed;
    }
    if (!db->creating && stat(file, &sb))
        return creation_marked(db)
            ? store_err(db, LCTX_EBUSY, "%s: another handle or process is creating the collection",
                        db->path)
            : store_err(db, LCTX_ENOTFOUND, "%s: not an lctx collection (no catalog.db)",
                        db->path);
    /* A reader that cannot write the lock files keeps writers out while
     * it is open (readonly.c). */
    if (readonly && (rc = readonly_prepare(db)))
        return rc;
    /* A collection being created has no index worth rebuilding. */
    if ((db->flags & LCTX_OPEN_REBUILD_INDEX) && !db->creating && (rc = rebuild_start(db)))
        return rc;
    if ((rc = catalog_open(db, file, db->creating, cfg)))
        return rc;
    if ((rc = db->rebuilding ? index_rebuild_open(db) : index_open(db)))
        return rc;
    /* Vector settings and databases: replay needs them. A new catalog's
     * creation transaction (catalog_open) ends here, settings included. */
    if ((rc = embed_open(db, cfg)))
        return rc;
    if (db->wdb && !sqlite3_get_autocommit(db->wdb) &&
        (rc = catalog_exec(db, db->wdb, "COMMIT")))
        return rc;
    /* Created without a flush; the first batch's COMMIT flushes it all. */
    if (db->creating)
        return catalog_exec(db, db->wdb, "PRAGMA synchronous=FULL");
    if (readonly)
        return LCTX_OK;
    /* Reconcile the stores unless a live writer is mid-batch. */
    rc = store_lock(db);
    if (rc == LCTX_EBUSY) {
        store_clear_err(db);
        return LCTX_OK;
    }
    if (rc)
        return rc;
    rc = write_recover(db);
    if (!rc && db->rebuilding && !(rc = vtune_restore(db)))
        rc = index_rebuild_commit(db);
    if (!rc)
        index_remove_strays(db);
    else if (db->rebuilding)
        index_rebuild_abandon(db);
    db->rebuilding = 0;
    store_unlock(db);
    return rc;
}

int lctx_open(const char *path, unsigned flags, const lctx_config *cfg, lctx_db **out)
{
    return store_open(path, flags, cfg, 0, out);
}

int store_open(const char *path, unsigned flags, const lctx_config *cfg, size_t map_initial,
               lctx_db **out)
{
    if (!out)
        return LCTX_EINVAL;
    *out = NULL;
    /* A handle even for a bad call, so that lctx_errmsg can say why. */
    lctx_db *db = db_new(path && *path ? path : "", flags);
    if (!db)
        return LCTX_ENOMEM;
    db->test_map_initial = map_initial;
    *out = db;
    if (!path || !*path)
        return store_err(db, LCTX_EINVAL, "lctx_open: no collection path");
    const unsigned known = LCTX_OPEN_CREATE | LCTX_OPEN_READONLY | LCTX_OPEN_VECTOR_CACHE |
                           LCTX_OPEN_REBUILD_INDEX;
    if (flags & ~known)
        return store_err(db, LCTX_EINVAL, "lctx_open: unknown flags 0x%x", flags & ~known);
    lctx_config defaults;
    if (!cfg) {
        lctx_config_init(&defaults);
        cfg = &defaults;
    }
    int rc = check_config(db, cfg);
    if (!rc)
        rc = open_stores(db, cfg);
    if (rc && db->rebuilding) {     /* failed before its replay */
        index_rebuild_abandon(db);
        db->rebuilding = 0;
    }
    db->opened = rc == LCTX_OK;
    return rc;
}

int lctx_close(lctx_db *db)
{
    if (!db)
        return LCTX_OK;
    if (db->batch)
        lctx_rollback(db);
    /* A creation that never committed a batch becomes durable now; one
     * whose open or first batch failed is undone once its stores are
     * closed (create.c). */
    int abandon = db->creating && (!db->opened || db->creation_failed);
    int rc = abandon ? LCTX_OK : creation_close(db);
    kv_close(db);
    embed_close(db);
    for (int i = 0; i < db->n_pool; i++)
        catalog_close_reader(db->pool[i]);
    for (int i = 0; i < db->n_tok_pool; i++)
        tok_free(db->tok_pool[i]);
    if (db->wdb && sqlite3_close(db->wdb) != SQLITE_OK)
        rc = LCTX_ERROR;
    db->wdb = NULL;
    if (abandon)
        rc = creation_abandon(db);
    else if (!db->opened)
        creation_unmake_dir(db);
    db->creating = 0;
    store_unlock(db);
    if (db->lock_fd >= 0)
        close(db->lock_fd);
    pthread_mutex_destroy(&db->pool_mu);
    pthread_mutex_destroy(&db->err_mu);
    pthread_mutex_destroy(&db->write_mu);
    pthread_rwlock_destroy(&db->map_lock);
    pthread_mutex_destroy(&db->enc_mu);
    vcache_free(db->vcache);   /* no search runs once the handle closes */
    pthread_mutex_destroy(&db->vcache_mu);
    free(db->path);
    free(db->errs);
    free(db);
    return rc;
}

void store_test_stop_after_sqlite(lctx_db *db, int on) { db->test_stop_after_sqlite = on; }
void store_test_fail_lmdb(lctx_db *db, int on) { db->test_fail_lmdb = on; }
void store_test_fail_catalog_commit(lctx_db *db, int on) { db->test_fail_catalog_commit = on; }
void store_test_fail_vacuum(lctx_db *db, int on) { db->test_fail_vacuum = on; }
void store_test_fail_replace(lctx_db *db, int on) { db->test_fail_replace = on; }
void store_test_renumber(lctx_db *db, int on) { db->test_renumber = on; }
void store_test_caller_every(lctx_db *db, unsigned n) { db->test_caller_every = n; }
void store_test_fail_doc(lctx_db *db, uint64_t doc_id) { db->test_fail_doc = doc_id + 1; }
void store_test_icu(lctx_db *db, const char *soname) { db->test_icu_soname = soname; }
void store_test_lsh_threshold(lctx_db *db, size_t n) { db->test_lsh_threshold = n; }
void store_test_after_snapshot(lctx_db *db, void (*fn)(void *), void *ctx)
{
    db->test_after_snapshot = fn;
    db->test_after_snapshot_ctx = ctx;
}

/* ------------------------------------------------------------------ stats */
static uint64_t dir_bytes(const char *path, int depth)
{
    DIR *d = opendir(path);
    if (!d)
        return 0;
    uint64_t total = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char p[4096];
        struct stat sb;
        snprintf(p, sizeof p, "%s/%s", path, e->d_name);
        if (stat(p, &sb))
            continue;
        if (S_ISDIR(sb.st_mode) && depth < 4)
            total += dir_bytes(p, depth + 1);
        else if (S_ISREG(sb.st_mode))
            total += (uint64_t)sb.st_blocks * 512;
    }
    closedir(d);
    return total;
}

/* Vector fields: settings from the handle, count and LSH parameters from
 * LMDB (what searches use; 0s while search is exact). */
static int stats_vectors(lctx_db *db, lctx_stats *out)
{
    snprintf(out->embedder, sizeof out->embedder, "%s", db->embedder);
    out->dim = db->dim;
    snprintf(out->vector_encoding, sizeof out->vector_encoding, "%s",
             embed_encoding_name(db->venc));
    out->lsh_target_recall = db->lsh_target;
    MDB_txn *txn;
    int rc = kv_read_begin(db, &txn);
    if (rc)
        return rc;
    MDB_stat ms;
    lsh_store ls;
    lsh_store_config c;
    vecstore_of(db, NULL, &ls);
    int m = mdb_stat(txn, db->dbi_vec, &ms);
    if (!m)
        out->vectors = ms.ms_entries;
    int g = lsh_store_config_get(txn, &ls, &c);
    if (g == 0) {
        out->lsh_bits = (int)c.k_bits;
        out->lsh_tables = (int)c.n_tables;
        out->lsh_probes = (int)c.probes;
        out->lsh_measured_recall = c.n_tables ? c.measured_recall : 0;
        if (c.target_recall > 0)
            out->lsh_target_recall = c.target_recall;
    }
    kv_read_end(db, txn);
    if (m)
        return kv_err(db, m, "vector statistics");
    if (g && g != MDB_NOTFOUND)
        return kv_err(db, g, "lsh configuration");
    return LCTX_OK;
}

int lctx_stats_get(lctx_db *db, lctx_stats *out)
{
    if (!db || !out)
        return store_err(db, LCTX_EINVAL, "lctx_stats_get: NULL argument");
    memset(out, 0, sizeof *out);
    MDB_txn *txn;
    store_stats st;
    int rc = kv_read_begin(db, &txn);
    if (rc)
        return rc;
    rc = kv_get_stats(db, txn, &st);
    kv_read_end(db, txn);
    if (rc)
        return rc;
    sqlite3 *conn = store_conn_get(db);
    if (!conn)
        return LCTX_EIO;
    /* Live as of the index's last batch, so that documents agrees with the
     * other counts while a batch awaits recovery (the catalog has it). */
    sqlite3_stmt *s;
    uint64_t cat_seq = 0;
    if (sqlite3_prepare_v2(conn, "SELECT count(*) FROM documents WHERE batch_seq <= ?1 AND "
                           "(deleted_seq IS NULL OR deleted_seq > ?1)", -1, &s,
                           NULL) == SQLITE_OK) {
        sqlite3_bind_int64(s, 1, (sqlite3_int64)st.last_seq);
        if (sqlite3_step(s) == SQLITE_ROW)
            out->documents = (uint64_t)sqlite3_column_int64(s, 0);
        sqlite3_finalize(s);
    }
    if (catalog_last_seq(db, conn, &cat_seq) == LCTX_OK && cat_seq > st.last_seq)
        out->awaiting_recovery = cat_seq - st.last_seq;
    uint64_t next_doc = 1, next_chunk = 1;
    if (!catalog_get_u64(db, conn, "next_doc", &next_doc) &&
        !catalog_get_u64(db, conn, "next_chunk", &next_chunk)) {
        out->doc_ids_spent = next_doc - 1;
        out->chunk_ids_spent = next_chunk - 1;
    }
    store_clear_err(db);
    store_conn_put(db, conn);
    out->chunks = st.n_chunks - st.n_deleted;
    out->deleted_chunks = st.n_deleted;
    out->terms = st.n_terms;
    out->postings = st.n_postings;
    out->avg_chunk_len = st.n_chunks ? (double)st.total_len / (double)st.n_chunks : 0;
    out->last_seq = st.last_seq;
    out->disk_bytes = dir_bytes(db->path, 0);
    out->format_version = db->format_version;
    snprintf(out->language, sizeof out->language, "%s", db->language);
    out->bm25_k1 = db->cfg.bm25_k1;
    out->bm25_b = db->cfg.bm25_b;
    out->stopwords = db->cfg.stopwords;
    out->chunk_words = db->cfg.chunk_words;
    out->title_weight = db->cfg.title_weight;
    out->tokenizer_rules = db->tok_rules;
    out->icu_version = db->icu_version;
    out->fold_accents = db->fold_accents;
    snprintf(out->embedder, sizeof out->embedder, "%s", db->embedder);
    return db->has_vectors ? stats_vectors(db, out) : LCTX_OK;
}

int lctx_get_text(lctx_db *db, const char *id, char **text, size_t *len)
{
    if (!db || !id || !text)
        return store_err(db, LCTX_EINVAL, "lctx_get_text: NULL argument");
    *text = NULL;
    if (len)
        *len = 0;
    sqlite3 *conn = store_conn_get(db);
    if (!conn)
        return LCTX_EIO;
    sqlite3_stmt *s;
    int rc = LCTX_OK;
    if (sqlite3_prepare_v2(conn, "SELECT text FROM documents WHERE ext_id=? AND "
                           "deleted_seq IS NULL", -1, &s, NULL)) {
        rc = store_err(db, LCTX_ERROR, "%s/catalog.db: %s", db->path, sqlite3_errmsg(conn));
        store_conn_put(db, conn);
        return rc;
    }
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    if (sqlite3_step(s) == SQLITE_ROW) {
        size_t n = (size_t)sqlite3_column_bytes(s, 0);
        const void *p = sqlite3_column_blob(s, 0);
        *text = malloc(n + 1);
        if (!*text) {
            rc = store_err(db, LCTX_ENOMEM, "out of memory");
        } else {
            if (n)
                memcpy(*text, p, n);
            (*text)[n] = 0;
            if (len)
                *len = n;
        }
    } else {
        rc = store_err(db, LCTX_ENOTFOUND, "%s: no document with id '%s'", db->path, id);
    }
    sqlite3_finalize(s);
    store_conn_put(db, conn);
    return rc;
}
