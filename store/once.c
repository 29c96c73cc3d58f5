/*
 * once.c — one handle per collection per process.
 *
 * LMDB must not have one environment open twice in a process. Its locks
 * are POSIX record locks on lock.mdb, and a process never conflicts with
 * its own record locks. Closing any descriptor of the file also drops all
 * of them. So a second handle on the same index breaks the first one in
 * two ways:
 *
 *   - Opening it takes the "only user" lock, which never conflicts with
 *     the process's own locks, and so it resets the reader table. A read
 *     transaction that the first handle has running drops out of the table.
 *     Writers then reuse the pages it is reading: a bug hunt's search read
 *     "malformed vector record" this way.
 *   - Closing it drops the first handle's locks. Every other process then
 *     takes the first handle's readers for dead and clears their slots
 *     (mdb_reader_check, which every lctx open runs). It may even reset the
 *     whole table.
 *
 * SQLite avoids this with a process-wide table of open files. lctx keeps
 * no global state, so it refuses instead. Before opening, it looks in
 * /proc/locks for a POSIX lock that this process holds on the lock file of
 * any index generation of the collection. Every open LMDB environment
 * holds one, and only the process that took a lock holds it. Open file
 * descriptors would not do: LMDB opens data.mdb without O_CLOEXEC, so
 * commands that a process with a handle starts inherit it, and a child
 * made by fork inherits all of its parent's descriptors but none of its
 * locks. If such a lock is there, another handle has the collection open,
 * and lctx_open fails with LCTX_EBUSY. A handle is thread-safe, so one
 * handle serves every thread of a process, for searches and writes alike.
 * A handle that reads without locks (readonly.c) holds none and finds
 * none: such handles have nothing to break.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/store.h"

enum { ONCE_MAX_FILES = 64 };

/* The inode numbers of the index generations' lock files, up to
 * ONCE_MAX_FILES. (Inodes alone: /proc/locks names a device the way the
 * kernel numbers it, which need not be stat's.) */
typedef struct lock_inodes {
    unsigned long ino[ONCE_MAX_FILES];
    size_t n;
} lock_inodes;

static int add_inode(const char *file, void *ctx)
{
    lock_inodes *li = ctx;
    struct stat sb;
    if (stat(file, &sb) == 0)
        li->ino[li->n++] = (unsigned long)sb.st_ino;
    return li->n == ONCE_MAX_FILES;
}

int once_check(lctx_db *db)
{
    lock_inodes li = {.n = 0};
    index_each_lock_file(db, add_inode, &li);
    FILE *f = li.n ? fopen("/proc/locks", "re") : NULL;
    if (!f)
        return LCTX_OK;   /* no index yet, or no /proc: nothing to look at */
    int self = (int)getpid(), found = 0;
    char line[256];
    /* "1: POSIX  ADVISORY  READ 1234 fd:01:5678 0 0"; waiters have "->"
     * after the number, and hold nothing. */
    while (!found && fgets(line, sizeof line, f)) {
        char kind[16];
        int pid;
        unsigned maj, min;
        unsigned long inode;
        if (sscanf(line, "%*d: %15s %*s %*s %d %x:%x:%lu", kind, &pid, &maj, &min, &inode) != 5 ||
            strcmp(kind, "POSIX") != 0 || pid != self)
            continue;
        for (size_t i = 0; i < li.n && !found; i++)
            found = inode == li.ino[i];
    }
    fclose(f);
    if (!found)
        return LCTX_OK;
    return store_err(db, LCTX_EBUSY, "%s: this process has the collection open in another "
                     "handle already; LMDB allows one per process, so share that handle "
                     "between threads (it is thread-safe)", db->path);
}
