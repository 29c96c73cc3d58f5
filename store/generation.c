/*
 * generation.c — replacing a collection's index under the processes that
 * have it open.
 *
 * Two operations write a whole new index instead of changing the one in
 * place: --rebuild-index (every batch replayed from the catalog) and the
 * end of --compact (a compacted copy of LMDB's file: LMDB reuses its free
 * pages but never gives them back to the file system). Doing either in
 * place is unsafe for the other processes: LMDB's lock file describes its
 * data file, and a process reading the index keeps both mapped. Deleting
 * them under it left that process reading a ghost (unlinked) index that
 * never saw another batch, for as long as it ran.
 *
 * So the index has generations. Generation 0 lives in NAME.lctx/index,
 * generation N in NAME.lctx/index.N, and the catalog's config names the
 * current one ('index_gen'). A replacement, under the writer lock:
 *
 *   1. writes generation N+1 beside the current one;
 *   2. makes it durable: its data file, its folder, the collection folder;
 *   3. commits index_gen = N+1 in the catalog. That is the commit point: a
 *      crash before it leaves generation N current and a stray folder,
 *      which the next read-write open removes (index_remove_strays); after
 *      it, N+1 is the index;
 *   4. unlinks generation N's files.
 *
 * A process holding generation N notices step 4 (the link count of its data
 * file drops to 0) and moves to the current generation before it reads
 * (index_follow). It looks when a read transaction sees a snapshot newer
 * than the last it looked at, which the one transaction a replacement
 * commits into the index it retires provides, or a second after its last
 * look (index_retired): a search pays no system call for it. A writer
 * also compares the catalog's generation with its own whenever it takes the
 * writer lock (index_writer_follow), so it never writes into a retired
 * index even when step 4 did not happen. Opening reads the generation,
 * opens it and reads it again, so a replacement that committed meanwhile is
 * never missed. Readers keep answering from generation N while N+1 is
 * being written, and the answers of the two are the same.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "query/query.h"
#include "store/store.h"

/* A replacement's free-space test: shrink when at least this fraction
 * (1/n) of the file is free pages. */
#define INDEX_SHRINK_FRACTION 4

/* Everything of the handle that names one LMDB environment. */
typedef struct kv_handles {
    MDB_env *env;
    MDB_dbi terms, post, chunks, meta, vec, lsh, lsh_meta;
    uint64_t gen;
} kv_handles;

static void handles_save(const lctx_db *db, kv_handles *h)
{
    *h = (kv_handles){db->env, db->dbi_terms, db->dbi_post, db->dbi_chunks, db->dbi_meta,
                      db->dbi_vec, db->dbi_lsh, db->dbi_lsh_meta, db->index_gen};
}

static void handles_restore(lctx_db *db, const kv_handles *h)
{
    db->env = h->env;
    db->dbi_terms = h->terms;
    db->dbi_post = h->post;
    db->dbi_chunks = h->chunks;
    db->dbi_meta = h->meta;
    db->dbi_vec = h->vec;
    db->dbi_lsh = h->lsh;
    db->dbi_lsh_meta = h->lsh_meta;
    db->index_gen = h->gen;
}

void index_dir(const lctx_db *db, uint64_t gen, char *buf, size_t len)
{
    if (gen == 0)
        snprintf(buf, len, "%s/index", db->path);
    else
        snprintf(buf, len, "%s/index.%llu", db->path, (unsigned long long)gen);
}

/* fsync of a file or folder by name: what makes a new entry durable. */
static int sync_path(lctx_db *db, const char *path, int dir)
{
    int fd = open(path, (dir ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
    if (fd < 0 || fsync(fd)) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return store_err(db, LCTX_EIO, "%s: cannot sync: %s", path, strerror(e));
    }
    close(fd);
    return LCTX_OK;
}

/* Removes a generation's files and folder (none there is fine). */
static int remove_gen(lctx_db *db, const char *dir)
{
    int rc = kv_remove(db, dir);
    if (!rc && rmdir(dir) && errno != ENOENT)
        rc = store_err(db, LCTX_EIO, "%s: cannot remove: %s", dir, strerror(errno));
    return rc;
}

/* The environment in dir into the handle, with the vector databases when
 * vectors (embed_open opens them itself at open time). */
static int open_env(lctx_db *db, const char *dir, int vectors)
{
    int rc = kv_open(db, dir, (db->flags & LCTX_OPEN_READONLY) != 0);
    if (!rc && vectors)
        rc = kv_open_vectors(db);
    return rc;
}

/* Opens the catalog's current generation into the handle and reads the
 * generation again afterwards: a replacement that committed meanwhile means
 * opening again. create: a read-write open, which may create an empty
 * environment where the current generation has none (a new collection, or
 * an index deleted by hand: recovery fills it); otherwise a missing one is
 * an error. vectors: open the vector databases too (embed_open does it at
 * open time). */
static int open_current(lctx_db *db, sqlite3 *conn, int create, int vectors)
{
    for (int tries = 0; tries < 8; tries++) {
        uint64_t gen, again;
        char dir[4200], file[4300];
        int rc = catalog_index_gen(db, conn, &gen);
        if (rc)
            return rc;
        index_dir(db, gen, dir, sizeof dir);
        snprintf(file, sizeof file, "%s/data.mdb", dir);
        if (create || access(file, F_OK) == 0) {
            rc = open_env(db, dir, vectors);
        } else {
            rc = store_err(db, LCTX_ENOTFOUND, "%s: no index (not an lctx collection?)", dir);
        }
        if (rc && rc != LCTX_ENOTFOUND) {
            kv_close(db);
            return rc;
        }
        int ro = catalog_index_gen(db, conn, &again);
        if (ro) {
            kv_close(db);
            return ro;
        }
        if (again == gen) {
            if (rc)
                return rc;   /* genuinely missing */
            db->index_gen = gen;
            store_clear_err(db);
            return LCTX_OK;
        }
        kv_close(db);        /* replaced meanwhile: open the new one */
    }
    return store_err(db, LCTX_EBUSY, "%s: the index keeps being replaced", db->path);
}

int index_open(lctx_db *db)
{
    int readonly = (db->flags & LCTX_OPEN_READONLY) != 0;
    sqlite3 *conn = readonly ? store_conn_get(db) : db->wdb;
    if (!conn)
        return LCTX_EIO;
    int rc = open_current(db, conn, !readonly, 0);
    if (readonly)
        store_conn_put(db, conn);
    return rc;
}

int index_stale(lctx_db *db)
{
    int fd;
    struct stat sb;
    if (!db->env || mdb_env_get_fd(db->env, &fd) || fstat(fd, &sb))
        return 0;
    return sb.st_nlink == 0;
}

/* fstat is a system call, and a search runs two or three read
 * transactions: 3-5 % of a fast query's time when every transaction
 * looked (MS MARCO p50 0.073 -> 0.076 ms, cranfield 0.150 -> 0.158). A
 * snapshot id that has not changed since the last look cannot be
 * a retired index's last one, so it looks again only after a commit, or
 * after INDEX_LOOK_MS, which bounds how long a retirement that could not
 * commit its last transaction goes unnoticed. */
#define INDEX_LOOK_MS 1000

int index_retired(lctx_db *db, MDB_txn *txn)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
    int64_t ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
    uint64_t id = (uint64_t)mdb_txn_id(txn);
    if (id == __atomic_load_n(&db->looked_txn, __ATOMIC_RELAXED) &&
        ms - __atomic_load_n(&db->looked_ms, __ATOMIC_RELAXED) < INDEX_LOOK_MS)
        return 0;
    if (index_stale(db))
        return 1;
    __atomic_store_n(&db->looked_txn, id, __ATOMIC_RELAXED);
    __atomic_store_n(&db->looked_ms, ms, __ATOMIC_RELAXED);
    return 0;
}

/* Moves the handle to the catalog's current generation; the caller holds
 * the map lock exclusively. On failure the handle keeps the old one. */
static int move_to_current(lctx_db *db, sqlite3 *conn)
{
    kv_handles old;
    handles_save(db, &old);
    db->env = NULL;
    int rc = open_current(db, conn, 0, db->has_vectors);
    if (rc) {
        handles_restore(db, &old);
        return rc;
    }
    mdb_env_close(old.env);
    __atomic_store_n(&db->looked_txn, 0, __ATOMIC_RELAXED);
    vcache_forget(db);
    return LCTX_OK;
}

int index_follow(lctx_db *db)
{
    sqlite3 *conn = store_conn_get(db);
    if (!conn)
        return LCTX_EIO;
    pthread_rwlock_wrlock(&db->map_lock);
    int rc = index_stale(db) ? move_to_current(db, conn) : LCTX_OK;
    pthread_rwlock_unlock(&db->map_lock);
    store_conn_put(db, conn);
    return rc;
}

int index_catch_up(lctx_db *db)
{
    uint64_t gen;
    sqlite3 *conn = store_conn_get(db);
    if (!conn)
        return LCTX_EIO;
    int rc = catalog_index_gen(db, conn, &gen);
    if (!rc) {
        pthread_rwlock_wrlock(&db->map_lock);
        if (gen != db->index_gen)
            rc = move_to_current(db, conn);
        pthread_rwlock_unlock(&db->map_lock);
    }
    store_conn_put(db, conn);
    return rc;
}

int index_writer_follow(lctx_db *db)
{
    uint64_t gen;
    int rc = catalog_index_gen(db, db->wdb, &gen);
    if (rc)
        return rc;
    pthread_rwlock_wrlock(&db->map_lock);
    if (gen != db->index_gen || index_stale(db))
        rc = move_to_current(db, db->wdb);
    pthread_rwlock_unlock(&db->map_lock);
    return rc;
}

/* Steps 2 and 3 for generation gen, whose environment is written: makes
 * its folder durable and names it in the catalog (with the current format
 * when rebuilding, which is what a rebuild from an older format is for;
 * with the catalog's ids mapped as the new index's are, when m is given). */
static int replace_commit(lctx_db *db, uint64_t gen, const renumber_map *m)
{
    char dir[4200], sql[400], format[160] = "";
    index_dir(db, gen, dir, sizeof dir);
    int rc = sync_path(db, dir, 1);
    if (!rc)
        rc = sync_path(db, db->path, 1);
    if (!rc && db->test_fail_replace == 1)
        rc = store_err(db, LCTX_EIO, "%s: simulated failure before the commit point", dir);
    if (rc)
        return rc;
    if (db->rebuilding)   /* its documents were tokenized with TOK_RULES */
        snprintf(format, sizeof format,
                 "INSERT OR REPLACE INTO config VALUES('format_version',%d),"
                 "('tokenizer_rules',%d),('icu_version',%d);", LCTX_FORMAT_VERSION, TOK_RULES,
                 tok_icu_version());
    snprintf(sql, sizeof sql,
             "BEGIN IMMEDIATE;"
             "INSERT OR REPLACE INTO config VALUES('index_gen',%llu);"
             "%s",
             (unsigned long long)gen, format);
    if (!(rc = catalog_exec(db, db->wdb, sql)) && m)
        rc = renumber_catalog(db, m);
    if (!rc && db->test_fail_replace == 3)
        rc = store_err(db, LCTX_EIO, "%s: simulated failure inside the commit", dir);
    if (rc || (rc = catalog_exec(db, db->wdb, "COMMIT"))) {
        if (!sqlite3_get_autocommit(db->wdb))
            sqlite3_exec(db->wdb, "ROLLBACK", NULL, NULL, NULL);
        return rc;
    }
    if (db->rebuilding)
        db->format_version = LCTX_FORMAT_VERSION;
    return LCTX_OK;
}

/* The last transaction of a retired index: any write changes the snapshot
 * id that readers of it compare (index_retired), so they look, and find its
 * file unlinked. Best effort: they look within INDEX_LOOK_MS anyway. */
static void last_transaction(MDB_env *env)
{
    MDB_txn *txn;
    MDB_dbi meta;
    MDB_val k = {7, "retired"}, v = {1, "1"};
    mdb_env_set_flags(env, MDB_NOSYNC, 1);
    if (mdb_txn_begin(env, NULL, 0, &txn))
        return;
    if (mdb_dbi_open(txn, "meta", 0, &meta) || mdb_put(txn, meta, &k, &v, 0))
        mdb_txn_abort(txn);
    else
        mdb_txn_commit(txn);
}

/* Step 4: the old generation's files go, then its last transaction. old is
 * its environment when the caller has it open, else NULL (it is opened
 * here when it can be: a rebuild never opened a damaged index). A failure
 * only warns, as the replacement has committed (the next read-write open
 * removes the folder). */
static void retire(lctx_db *db, uint64_t gen, MDB_env *old)
{
    char dir[4200];
    MDB_env *own = NULL;
    if (db->test_fail_replace == 2)
        return;      /* as a crash right after the commit point would */
    index_dir(db, gen, dir, sizeof dir);
    if (!old && !mdb_env_create(&own) && !mdb_env_set_maxdbs(own, 8) &&
        !mdb_env_open(own, dir, MDB_NOTLS | MDB_NOSYNC, 0666))
        old = own;
    if (remove_gen(db, dir)) {
        store_warn(db, "%s", lctx_errmsg(db));
        store_clear_err(db);
    }
    if (old)
        last_transaction(old);
    if (own)
        mdb_env_close(own);
}

int index_rebuild_open(lctx_db *db)
{
    uint64_t gen;
    char dir[4200];
    int rc = catalog_index_gen(db, db->wdb, &gen);
    if (rc)
        return rc;
    index_dir(db, gen + 1, dir, sizeof dir);
    if ((rc = remove_gen(db, dir)) || (rc = kv_open(db, dir, 0)))
        return rc;
    db->index_gen = gen + 1;
    db->replaced_gen = gen;
    return LCTX_OK;
}

void index_rebuild_abandon(lctx_db *db)
{
    uint64_t gen;
    kv_close(db);
    if (!db->wdb || catalog_index_gen(db, db->wdb, &gen)) {
        store_clear_err(db);   /* the failure being reported stays the first */
        return;                /* the next read-write open removes it */
    }
    db->index_gen = gen;
    index_remove_strays(db);
}

int index_rebuild_commit(lctx_db *db)
{
    int rc = mdb_env_sync(db->env, 1);
    if (rc)
        return kv_err(db, rc, "sync");
    if ((rc = replace_commit(db, db->index_gen, NULL)))
        return rc;
    retire(db, db->replaced_gen, NULL);
    return LCTX_OK;
}

/* 1 when at least 1/INDEX_SHRINK_FRACTION of the data file is free pages
 * (LMDB's free list: each value is a list of page numbers, its length
 * first). */
static int worth_shrinking(lctx_db *db)
{
    MDB_txn *txn;
    MDB_cursor *c;
    MDB_val k, v;
    MDB_envinfo info;
    size_t free_pages = 0;
    if (kv_read_begin(db, &txn))
        return 0;
    int rc = mdb_cursor_open(txn, 0 /* the free list */, &c);
    if (rc == 0) {
        for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
            size_t n;   /* values need not be aligned */
            memcpy(&n, v.mv_data, sizeof n);
            free_pages += n;
        }
        mdb_cursor_close(c);
    }
    mdb_env_info(db->env, &info);
    kv_read_end(db, txn);
    store_clear_err(db);
    return rc == MDB_NOTFOUND && free_pages * INDEX_SHRINK_FRACTION >= info.me_last_pgno + 1;
}

/* One database of the current environment into dst's, key by key in order
 * with MDB_APPEND: pages come out full, as from a bulk load. (LMDB's own
 * compacting copy only leaves the free pages out; it keeps each page as
 * full as it was, and pages filled by later batches and by compaction are
 * half empty: lisa with half its documents deleted and compacted, 1.48 MB
 * that way against 0.9 MB.) Sorted duplicates (the LSH buckets) are
 * appended as duplicates of the key before them. */
static int copy_db(MDB_cursor *rcur, MDB_cursor *wc)
{
    MDB_val k, v, last = {0, NULL};
    int rc;
    for (int op = MDB_FIRST; !(rc = mdb_cursor_get(rcur, &k, &v, op)); op = MDB_NEXT) {
        int same = last.mv_data && k.mv_size == last.mv_size &&
                   memcmp(k.mv_data, last.mv_data, k.mv_size) == 0;
        if ((rc = mdb_cursor_put(wc, &k, &v, same ? MDB_APPENDDUP : MDB_APPEND)))
            break;
        last = k;
    }
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Database s of rt into wt, under its name, its ids mapped when m is given
 * (renumber.c). */
static int copy_named(lctx_db *db, MDB_txn *rt, MDB_dbi s, MDB_txn *wt, const char *name,
                      renumber_map *m, const store_stats *st)
{
    MDB_dbi d;
    unsigned flags;
    MDB_cursor *rcur = NULL, *wc = NULL;
    int rc = mdb_dbi_flags(rt, s, &flags);
    if (!rc)
        rc = mdb_dbi_open(wt, name, flags | MDB_CREATE, &d);
    if (!rc)
        rc = mdb_cursor_open(rt, s, &rcur);
    if (!rc)
        rc = mdb_cursor_open(wt, d, &wc);
    int status = rc ? kv_err(db, rc, "dense copy") : LCTX_ENOTFOUND;
    if (!rc && m)
        status = renumber_copy(db, m, name, rcur, wc, st);
    if (status == LCTX_ENOTFOUND)
        status = (rc = copy_db(rcur, wc)) ? kv_err(db, rc, "dense copy") : LCTX_OK;
    if (wc)
        mdb_cursor_close(wc);
    if (rcur)
        mdb_cursor_close(rcur);
    return status;
}

/* A dense copy of the current environment into dir, flushed; with its ids
 * mapped when m is given. */
static int copy_dense(lctx_db *db, const char *dir, renumber_map *m)
{
    const struct { const char *name; MDB_dbi dbi; } dbs[] = {
        {"terms", db->dbi_terms}, {"postings", db->dbi_post}, {"chunks", db->dbi_chunks},
        {"meta", db->dbi_meta}, {"vectors", db->dbi_vec}, {"lsh", db->dbi_lsh},
        {"lsh_meta", db->dbi_lsh_meta}};
    size_t n = db->has_vectors ? 7 : 4;
    MDB_env *dst = NULL;
    MDB_txn *rt = NULL, *wt;
    MDB_envinfo info;
    store_stats st;
    if (mkdir(dir, 0777) && errno != EEXIST)
        return store_err(db, LCTX_EIO, "%s: cannot create: %s", dir, strerror(errno));
    int rc = kv_reserve_lock(db, dir), status = LCTX_OK;
    if (rc || (rc = kv_read_begin(db, &rt)))
        return rc;
    if ((status = kv_get_stats(db, rt, &st))) {
        kv_read_end(db, rt);
        return status;
    }
    mdb_env_info(db->env, &info);
    if (!(rc = mdb_env_create(&dst)) && !(rc = mdb_env_set_maxdbs(dst, 8)) &&
        !(rc = mdb_env_set_mapsize(dst, info.me_mapsize)) &&
        !(rc = mdb_env_open(dst, dir, MDB_NOSYNC, 0666)) &&
        !(rc = mdb_txn_begin(dst, NULL, 0, &wt))) {
        for (size_t i = 0; i < n && !status; i++)
            status = copy_named(db, rt, dbs[i].dbi, wt, dbs[i].name, m, &st);
        if (status)
            mdb_txn_abort(wt);
        else if (!(rc = mdb_txn_commit(wt)))   /* frees wt, committed or not */
            rc = mdb_env_sync(dst, 1);
    }
    kv_read_end(db, rt);
    if (dst)
        mdb_env_close(dst);
    return status ? status : rc ? kv_err(db, rc, "dense copy") : LCTX_OK;
}

/* Whether to replace the index, and with ids renumbered (*m, else NULL). */
static int shrink_plan(lctx_db *db, int removed, int *go, renumber_map **m)
{
    int want;
    *m = NULL;
    *go = 0;
    int rc = renumber_wanted(db, &want);
    if (!rc && want)
        rc = renumber_map_load(db, m);
    if (rc)
        return rc;
    *go = *m || removed || worth_shrinking(db);
    return LCTX_OK;
}

int index_shrink(lctx_db *db, int removed)
{
    /* A collection being created has nothing durable to replace. */
    if (db->creating)
        return LCTX_OK;
    renumber_map *m;
    int go, rc = shrink_plan(db, removed, &go, &m);
    if (rc || !go)
        return rc;
    uint64_t gen = db->index_gen + 1;
    char dir[4200];
    index_dir(db, gen, dir, sizeof dir);
    rc = remove_gen(db, dir);
    if (!rc)
        rc = copy_dense(db, dir, m);
    if (!rc) {
        /* Open the copy, then commit: a failed commit goes back to the old
         * environment, which never stopped being current. */
        kv_handles old;
        pthread_rwlock_wrlock(&db->map_lock);
        handles_save(db, &old);
        db->env = NULL;
        rc = open_env(db, dir, db->has_vectors);
        if (!rc)
            rc = replace_commit(db, gen, m);
        if (rc) {
            kv_close(db);
            handles_restore(db, &old);
        } else {
            db->index_gen = gen;
            __atomic_store_n(&db->looked_txn, 0, __ATOMIC_RELAXED);
            vcache_forget(db);
        }
        pthread_rwlock_unlock(&db->map_lock);
        if (!rc) {
            /* No transaction of this handle uses the old environment now. */
            retire(db, old.gen, old.env);
            mdb_env_close(old.env);
            renumber_map_free(m);
            return LCTX_OK;
        }
    }
    renumber_map_free(m);
    char why[512];
    snprintf(why, sizeof why, "%s", lctx_errmsg(db));
    remove_gen(db, dir);
    return store_err(db, rc, "%s", why);
}

/* A folder name of a generation: "index" (0) or "index.N"; -1 otherwise. */
static int gen_of_name(const char *name, uint64_t *gen)
{
    if (strcmp(name, "index") == 0) {
        *gen = 0;
        return 0;
    }
    if (strncmp(name, "index.", 6) != 0 || !name[6])
        return -1;
    char *end;
    errno = 0;
    unsigned long long g = strtoull(name + 6, &end, 10);
    if (*end || errno || name[6] < '1' || name[6] > '9')
        return -1;
    *gen = g;
    return 0;
}

int index_each_lock_file(lctx_db *db, int (*fn)(const char *file, void *ctx), void *ctx)
{
    DIR *d = opendir(db->path);
    if (!d)
        return 0;
    struct dirent *e;
    int rc = 0;
    while (!rc && (e = readdir(d))) {
        uint64_t gen;
        char dir[4200], file[4300];
        if (gen_of_name(e->d_name, &gen))
            continue;
        index_dir(db, gen, dir, sizeof dir);
        snprintf(file, sizeof file, "%s/lock.mdb", dir);
        rc = fn(file, ctx);
    }
    closedir(d);
    return rc;
}

void index_remove_strays(lctx_db *db)
{
    DIR *d = opendir(db->path);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        uint64_t gen;
        char dir[4200];
        if (gen_of_name(e->d_name, &gen) || gen == db->index_gen)
            continue;
        index_dir(db, gen, dir, sizeof dir);
        if (remove_gen(db, dir)) {
            store_warn(db, "%s", lctx_errmsg(db));
            store_clear_err(db);
        }
    }
    closedir(d);
}
