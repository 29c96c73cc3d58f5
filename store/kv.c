/*
 * kv.c — the LMDB side of a collection (index/): environment, map growth,
 * chunk records, statistics, and applying a write batch.
 *
 * Named databases:
 *   terms    term bytes -> store_term (id, df, block count, last block, bounds),
 *            then the term's postings block when it has only one (blocks.c)
 *   postings (term id BE32, last chunk BE32) -> postings block (pblock.c), for
 *            terms with two blocks or more
 *   chunks   page number BE32 (chunk id >> 10) -> store_chunkrec array, dense
 *            or sparse (chunkpage.c)
 *   meta     "stats" -> store_stats
 *
 * The environment is opened with MDB_NOTLS so read transactions are not tied
 * to threads, and MDB_NOMETASYNC: data pages are synced on commit but the
 * meta page is not, so a power cut can lose the last LMDB transactions but
 * never corrupts the environment. That is enough because LMDB is derived
 * state: a lost batch is replayed from SQLite on the next open.
 *
 * The map starts at STORE_MAP_INITIAL and doubles when a write transaction
 * fills it (MDB_MAP_FULL): the transaction is aborted, the map grown under the
 * handle's exclusive map lock (LMDB requires no live transaction in the
 * process while resizing), and the whole transaction function retried. Other
 * processes notice with MDB_MAP_RESIZED and adopt the new size.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "store/store.h"

static int kv_status(int rc)
{
    switch (rc) {
    case MDB_SUCCESS: return LCTX_OK;
    case MDB_NOTFOUND: return LCTX_ENOTFOUND;
    case MDB_CORRUPTED: case MDB_PAGE_NOTFOUND: case MDB_INVALID: return LCTX_ECORRUPT;
    case MDB_VERSION_MISMATCH: return LCTX_EVERSION;
    case ENOMEM: return LCTX_ENOMEM;
    case ENOSPC: case EIO: case EDQUOT: case EFBIG: case EROFS: case MDB_MAP_FULL:
        return LCTX_EIO;
    case EAGAIN: case EBUSY: return LCTX_EBUSY;
    default: return LCTX_ERROR;
    }
}

int kv_err(lctx_db *db, int rc, const char *what)
{
    if (rc == MDB_MAP_FULL)
        db->kv_full = 1;
    /* LMDB reports a short write as EIO, which is what a full disk mostly
     * gives it: say so when the file system has no room left. */
    struct statvfs fs;
    const char *full = rc == EIO && !statvfs(db->path, &fs) && fs.f_bavail == 0
                           ? " (no space left on the device)" : "";
    char dir[4200];
    index_dir(db, db->index_gen, dir, sizeof dir);
    return store_err(db, kv_status(rc), "%s: %s: %s%s", dir, what, mdb_strerror(rc), full);
}

static int open_dbis(lctx_db *db, int readonly)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(db->env, NULL, readonly ? MDB_RDONLY : 0, &txn);
    if (rc)
        return kv_err(db, rc, "begin");
    unsigned fl = readonly ? 0 : MDB_CREATE;
    if ((rc = mdb_dbi_open(txn, "terms", fl, &db->dbi_terms)) ||
        (rc = mdb_dbi_open(txn, "postings", fl, &db->dbi_post)) ||
        (rc = mdb_dbi_open(txn, "chunks", fl, &db->dbi_chunks)) ||
        (rc = mdb_dbi_open(txn, "meta", fl, &db->dbi_meta))) {
        mdb_txn_abort(txn);
        if (rc == MDB_NOTFOUND)
            return store_err(db, LCTX_ECORRUPT, "%s/index: missing LMDB databases", db->path);
        return kv_err(db, rc, "open databases");
    }
    if (!readonly) {
        store_stats st;
        MDB_val k = {5, "stats"}, v;
        if ((rc = mdb_get(txn, db->dbi_meta, &k, &v)) == MDB_NOTFOUND) {
            memset(&st, 0, sizeof st);
            st.format_version = LCTX_FORMAT_VERSION;
            st.next_term = 1;
            v.mv_size = sizeof st;
            v.mv_data = &st;
            rc = mdb_put(txn, db->dbi_meta, &k, &v, 0);
        }
        if (rc) {
            mdb_txn_abort(txn);
            return kv_err(db, rc, "init meta");
        }
    }
    if ((rc = mdb_txn_commit(txn)))
        return kv_err(db, rc, "commit");
    return LCTX_OK;
}

int kv_open(lctx_db *db, const char *dir, int readonly)
{
    int rc;
    if (!readonly && mkdir(dir, 0777) && errno != EEXIST)
        return store_err(db, LCTX_EIO, "%s: cannot create: %s", dir, strerror(errno));
    if (!readonly && (rc = kv_reserve_lock(db, dir)))
        return rc;
    if ((rc = mdb_env_create(&db->env)))
        return kv_err(db, rc, "create environment");
    mdb_env_set_maxdbs(db->env, 8);
    mdb_env_set_maxreaders(db->env, 510);
    size_t initial = db->test_map_initial ? db->test_map_initial : STORE_MAP_INITIAL;
    mdb_env_set_mapsize(db->env, initial);
    /* A collection being created is not durable until its first batch
     * commits (create.c): the new environment skips its flushes. */
    /* A frozen handle keeps every writer out, so it needs no reader table
     * (readonly.c). */
    unsigned fl = MDB_NOTLS | MDB_NOMETASYNC | (readonly ? MDB_RDONLY : 0) |
                  (db->creating ? MDB_NOSYNC : 0) | (db->frozen ? MDB_NOLOCK : 0);
    if ((rc = mdb_env_open(db->env, dir, fl, 0666))) {
        int st = kv_err(db, rc, "open");
        if (rc == ENOENT)
            st = store_err(db, LCTX_ENOTFOUND, "%s: no index (not an lctx collection?)", dir);
        mdb_env_close(db->env);
        db->env = NULL;
        return st;
    }
    int dead = 0;
    mdb_reader_check(db->env, &dead); /* clears slots of crashed readers */
    if ((rc = open_dbis(db, readonly)))
        return rc;
    if (db->creating && (rc = mdb_env_set_flags(db->env, MDB_NOSYNC, 0)))
        return kv_err(db, rc, "set flags");
    /* A bare read transaction: nobody else uses a handle being opened, and
     * a generation being followed (generation.c) holds the map lock. */
    MDB_txn *txn;
    store_stats st;
    if ((rc = mdb_txn_begin(db->env, NULL, MDB_RDONLY, &txn)) == MDB_MAP_RESIZED &&
        !(rc = mdb_env_set_mapsize(db->env, 0)))
        rc = mdb_txn_begin(db->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return kv_err(db, rc, "read transaction");
    rc = kv_get_stats(db, txn, &st);
    mdb_txn_abort(txn);
    if (rc)
        return rc;
    if (st.format_version > LCTX_FORMAT_VERSION)
        return store_err(db, LCTX_EVERSION, "%s: index format version %llu is newer than this "
                         "lctx supports (%d)", db->path, (unsigned long long)st.format_version,
                         LCTX_FORMAT_VERSION);
    return LCTX_OK;
}

/* LMDB writes its reader table through a shared map of lock.mdb, which it
 * sizes with ftruncate: on a full disk the first store to a page the file
 * system cannot supply is a SIGBUS, which kills the host process instead
 * of failing the call (a rebuild, or a creation, with the disk full).
 * Reserving the file's blocks first makes that an ENOSPC here. The table
 * for 510 readers is about 33 KiB; LMDB keeps a larger file as it is. */
#define KV_LOCK_BYTES (64 * 1024)

int kv_reserve_lock(lctx_db *db, const char *dir)
{
    char file[4200];
    snprintf(file, sizeof file, "%s/lock.mdb", dir);
    int fd = open(file, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0)
        return store_err(db, LCTX_EIO, "%s: %s", file, strerror(errno));
    int e = posix_fallocate(fd, 0, KV_LOCK_BYTES);
    close(fd);
    return e ? store_err(db, LCTX_EIO, "%s: cannot reserve its %d KiB: %s", file,
                         KV_LOCK_BYTES / 1024, strerror(e))
             : LCTX_OK;
}

int kv_remove(lctx_db *db, const char *dir)
{
    static const char *const files[] = {"data.mdb", "lock.mdb"};
    for (size_t i = 0; i < 2; i++) {
        char file[4200];
        snprintf(file, sizeof file, "%s/%s", dir, files[i]);
        if (unlink(file) && errno != ENOENT)
            return store_err(db, LCTX_EIO, "%s: cannot remove: %s", file, strerror(errno));
    }
    return LCTX_OK;
}

void kv_close(lctx_db *db)
{
    if (db->env)
        mdb_env_close(db->env);
    db->env = NULL;
}

int kv_read_begin(lctx_db *db, MDB_txn **txn)
{
    for (int tries = 0; tries < 4; tries++) {
        pthread_rwlock_rdlock(&db->map_lock);
        int rc = mdb_txn_begin(db->env, NULL, MDB_RDONLY, txn);
        if (rc == MDB_SUCCESS && !index_retired(db, *txn))
            return LCTX_OK;
        if (rc == MDB_SUCCESS) {
            /* Another process replaced the index: move to the current one
             * (generation.c) and begin again there. */
            mdb_txn_abort(*txn);
            pthread_rwlock_unlock(&db->map_lock);
            if ((rc = index_follow(db)))
                return rc;
            continue;
        }
        pthread_rwlock_unlock(&db->map_lock);
        if (rc != MDB_MAP_RESIZED)
            return kv_err(db, rc, "read transaction");
        /* Another process grew the map: adopt its size. */
        pthread_rwlock_wrlock(&db->map_lock);
        mdb_env_set_mapsize(db->env, 0);
        pthread_rwlock_unlock(&db->map_lock);
    }
    return store_err(db, LCTX_EBUSY, "%s/index: map keeps being resized or replaced", db->path);
}

void kv_read_end(lctx_db *db, MDB_txn *txn)
{
    mdb_txn_abort(txn);
    pthread_rwlock_unlock(&db->map_lock);
}

int kv_get_stats(lctx_db *db, MDB_txn *txn, store_stats *st)
{
    MDB_val k = {5, "stats"}, v;
    int rc = mdb_get(txn, db->dbi_meta, &k, &v);
    if (rc == MDB_NOTFOUND || (rc == 0 && v.mv_size != sizeof *st))
        return store_err(db, LCTX_ECORRUPT, "%s/index: statistics missing or malformed", db->path);
    if (rc)
        return kv_err(db, rc, "read statistics");
    memcpy(st, v.mv_data, sizeof *st);
    return LCTX_OK;
}

int kv_put_stats(lctx_db *db, MDB_txn *txn, const store_stats *st)
{
    MDB_val k = {5, "stats"}, v = {sizeof *st, (void *)st};
    int rc = mdb_put(txn, db->dbi_meta, &k, &v, 0);
    return rc ? kv_err(db, rc, "write statistics") : LCTX_OK;
}

int kv_chunk(lctx_db *db, MDB_txn *txn, kv_page_cache *pc, uint32_t chunk, store_chunkrec *out)
{
    uint32_t page = chunk >> STORE_PAGE_SHIFT;
    if (!pc->recs || pc->page != page) {
        uint8_t kb[4] = {(uint8_t)(page >> 24), (uint8_t)(page >> 16), (uint8_t)(page >> 8),
                         (uint8_t)page};
        MDB_val k = {4, kb}, v;
        int rc = mdb_get(txn, db->dbi_chunks, &k, &v);
        if (rc)
            return rc;
        if (chunk_page_load(pc, page, v.mv_data, v.mv_size)) {
            pc->recs = NULL;
            return store_err(db, LCTX_ECORRUPT, "%s/index: malformed chunk page %u", db->path,
                             page);
        }
    }
    return chunk_page_get(pc, chunk & (STORE_PAGE - 1), out);
}

/* Grows the map to twice its size. Called with no transaction open. */
static int grow_map(lctx_db *db)
{
    MDB_envinfo info;
    pthread_rwlock_wrlock(&db->map_lock);
    mdb_env_info(db->env, &info);
    size_t want = info.me_mapsize * 2;
    int rc = mdb_env_set_mapsize(db->env, want);
    pthread_rwlock_unlock(&db->map_lock);
    return rc ? kv_err(db, rc, "grow map") : LCTX_OK;
}

int kv_write(lctx_db *db, kv_write_fn fn, void *ctx)
{
    return kv_write_gated(db, fn, ctx, NULL, NULL);
}

int kv_write_gated(lctx_db *db, kv_write_fn fn, void *ctx, kv_gate_fn gate, void *gate_ctx)
{
    for (int tries = 0; tries < 40; tries++) {
        MDB_txn *txn;
        pthread_rwlock_rdlock(&db->map_lock);
        int rc = mdb_txn_begin(db->env, NULL, 0, &txn);
        if (rc) {
            pthread_rwlock_unlock(&db->map_lock);
            if (rc == MDB_MAP_RESIZED) {
                pthread_rwlock_wrlock(&db->map_lock);
                mdb_env_set_mapsize(db->env, 0);
                pthread_rwlock_unlock(&db->map_lock);
                continue;
            }
            return kv_err(db, rc, "write transaction");
        }
        db->kv_full = 0;
        rc = fn(db, txn, ctx);
        if (rc == LCTX_OK && gate && (rc = gate(gate_ctx)) != LCTX_OK) {
            mdb_txn_abort(txn);   /* the other store said no: nothing written */
            pthread_rwlock_unlock(&db->map_lock);
            return rc;
        }
        if (rc == LCTX_OK) {
            int mrc = mdb_txn_commit(txn);
            pthread_rwlock_unlock(&db->map_lock);
            if (mrc == MDB_SUCCESS)
                return LCTX_OK;
            if (mrc != MDB_MAP_FULL)
                return kv_err(db, mrc, "commit");
        } else {
            mdb_txn_abort(txn);
            pthread_rwlock_unlock(&db->map_lock);
            if (!db->kv_full)
                return rc;
        }
        if ((rc = grow_map(db)))
            return rc;
        store_clear_err(db);
    }
    return store_err(db, LCTX_EIO, "%s/index: map cannot grow enough", db->path);
}
