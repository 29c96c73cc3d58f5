/*
 * readonly.c — searching a collection this process cannot write.
 *
 * People ship collections where nobody may write them: baked into a
 * container image, on a read-only mount, or owned by the user who indexed
 * them and read by a search service running as another. SQLite FTS5 and
 * Xapian answer from such files; lctx's read-only open used to fail, for
 * two reasons that have nothing to do with the data:
 *
 *   - LMDB readers register in a table inside the index's lock.mdb, which
 *     they must write; without that right mdb_env_open fails (EACCES).
 *   - A catalog in WAL mode is read through its -shm file, which the first
 *     connection creates in the collection's folder. With no -shm there and
 *     no right to create one, SQLite refuses to read at all.
 *
 * Both files exist so that readers and a writer can run at once. A reader
 * that cannot join them keeps the writers out instead, the way a reader in
 * SQLite's rollback-journal mode holds off a writer's commit: it takes a
 * shared flock on write.lock (every writer of lctx takes it exclusively:
 * batches, recovery, compaction, rebuilds, vector tuning; db.c) and keeps it
 * until the handle closes. While it holds it, nothing in the collection can
 * change, so it may read without the lock files: LMDB with MDB_NOLOCK, and
 * the catalog as an immutable file where it has no -shm to read through.
 * A writer that comes meanwhile gets LCTX_EBUSY, as it would behind another
 * writer; a writer already at work makes this open fail the same way, at
 * once, rather than read a collection that is changing underneath.
 *
 * Where the -shm is there (a writer has the catalog open, or died with it
 * open) the catalog is read through it as usual: SQLite maps it read-only,
 * and a write-ahead log holding committed batches is read with them. An
 * immutable open would ignore that log, so a log without its -shm (a file
 * copied without it) is refused with what to do about it.
 *
 * A process that can write the folder and its lock files (root included)
 * never comes here: its read-only handle reads beside the writers as
 * before, and never blocks them.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/store.h"

/* 0 when this process may write path (or path does not exist), else the
 * errno that says why not: EACCES, EPERM, EROFS. The effective ids count,
 * as they do for open(2). */
static int write_denied(const char *path)
{
    if (faccessat(AT_FDCWD, path, W_OK, AT_EACCESS) == 0 || errno == ENOENT)
        return 0;
    return errno;
}

/* write_denied for index_each_lock_file. */
static int lock_file_denied(const char *file, void *ctx)
{
    (void)ctx;
    return write_denied(file);
}

/* The first reason this process cannot write what a sharing reader writes:
 * the folder (the catalog's -shm is created there), the catalog, write.lock
 * and the lock.mdb of every index generation; 0 when it can. A read-write
 * open asks too, to say why it cannot go on before SQLite says something
 * vaguer. */
int readonly_write_denied(lctx_db *db)
{
    char file[4200];
    int why = write_denied(db->path);
    snprintf(file, sizeof file, "%s/catalog.db", db->path);
    if (!why)
        why = write_denied(file);
    snprintf(file, sizeof file, "%s/write.lock", db->path);
    if (!why)
        why = write_denied(file);
    return why ? why : index_each_lock_file(db, lock_file_denied, NULL);
}

int readonly_prepare(lctx_db *db)
{
    int why = readonly_write_denied(db);
    if (!why)
        return LCTX_OK;
    char file[4200];
    snprintf(file, sizeof file, "%s/write.lock", db->path);
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno != ENOENT)
        return store_err(db, LCTX_EIO, "%s: %s", file, strerror(errno));
    /* No write.lock: no writer has been here since the collection was
     * copied without it. A writer that comes makes it, which needs a
     * right to the folder this process lacks; if another user has that
     * right, this reader is not protected from that user's writes. */
    if (fd >= 0 && flock(fd, LOCK_SH | LOCK_NB)) {
        int busy = errno == EWOULDBLOCK;
        close(fd);
        if (busy)
            return store_err(db, LCTX_EBUSY, "%s: a writer is at work, and this process "
                             "cannot read beside it (%s on the collection's lock files); "
                             "try again when it is done", db->path, strerror(why));
        return store_err(db, LCTX_EIO, "%s: %s", file, strerror(errno));
    }
    db->lock_fd = fd;
    db->frozen = 1;
    return LCTX_OK;
}

/* Called by catalog_open_reader when a frozen handle's plain read-only
 * connection could not read: the -shm is missing and cannot be made. */
int readonly_catalog_uri(lctx_db *db, const char *file, char *uri, size_t cap)
{
    char wal[4200];
    struct stat sb;
    snprintf(wal, sizeof wal, "%s-wal", file);
    if (stat(wal, &sb) == 0 && sb.st_size > 0)
        return store_err(db, LCTX_EIO, "%s: its write-ahead log cannot be read without "
                         "the -shm file beside it, which this process cannot create; open the "
                         "collection once with write permission (lctx-index --check does)",
                         file);
    /* SQLite's URI syntax: '?' and '#' end the path, '%' escapes. */
    size_t n = 0;
    n += (size_t)snprintf(uri, cap, "file:");
    for (const char *p = file; *p && n + 4 < cap; p++) {
        if (*p == '?' || *p == '#' || *p == '%')
            n += (size_t)snprintf(uri + n, cap - n, "%%%02X", (unsigned char)*p);
        else
            uri[n++] = *p;
    }
    if (n + sizeof "?immutable=1" > cap)
        return store_err(db, LCTX_EINVAL, "%s: path too long", file);
    memcpy(uri + n, "?immutable=1", sizeof "?immutable=1");
    return LCTX_OK;
}
