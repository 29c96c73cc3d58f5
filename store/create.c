/*
 * create.c — creating a collection without paying for its durability
 * twice.
 *
 * A collection is created once and, nearly always, filled at once by its
 * first batch. Made durable step by step, that costs the disk a dozen
 * flushes: LMDB's new environment, the catalog's creation transaction
 * (rollback journal, directory, journal header, database), then the first
 * batch's own commit in rollback mode (the same four, and the directory
 * after the journal's unlink). On a collection of a thousand abstracts
 * those flushes were a fifth of the whole build; FTS5 pays half as many.
 *
 * Yet nothing of a new collection is worth keeping before its first batch
 * commits: an empty collection is its config, and that fits in a file. So
 * a collection under creation is marked by NAME.lctx/creating, a small
 * JSON file with the creation config, written, and its directory entry
 * made durable by syncing the folder, before anything else is written;
 * while it exists the rule is
 *
 *     nothing in the folder is durable; after a crash, start over.
 *
 * Under that rule the catalog is created with synchronous=OFF and takes
 * its first batch with an in-memory rollback journal (journal_mode=MEMORY:
 * ROLLBACK still works inside the process, a crash may leave the file
 * torn), and LMDB's environment is created with MDB_NOSYNC. The first
 * batch's commit then flushes the catalog once (synchronous=FULL still
 * syncs the database file), LMDB once, as it always does, and only then
 * is the marker unlinked and the directory synced: that unlink is the
 * first batch's commit point (creation_finish). The next batch switches
 * the catalog to WAL as before (catalog_batch_mode).
 *
 * Who may start over: the creator holds the writer lock (write.lock) from
 * before it writes the marker until after it unlinks it (store_unlock
 * leaves the lock alone while db->creating). So a marker whose lock is
 * free belongs to a creator that died: the next read-write open takes the
 * lock, deletes the catalog and LMDB files and creates them again from the
 * marker's config (an unreadable marker, which a power cut can leave,
 * falls back to the opener's config), and a read-only open refuses with a
 * message saying so. A marker whose lock is held belongs to a live creator
 * and is left alone. Starting over is said in a warning, which waits in
 * the handle for the handler its caller sets after lctx_open returns.
 *
 * Closing a collection whose first batch never came makes the creation
 * durable then: both files are flushed, then the marker goes. One whose
 * open or first batch failed is undone instead (creation_abandon): before
 * it there was no collection, and a failed command should leave none, not
 * an empty one holding the settings (say, an unreachable embedder) that
 * made it fail. Two processes may set out to create the same collection
 * at once: creation_start looks again, under the lock, for a catalog or a
 * marker that appeared since the opener looked, and then opens what is
 * there instead of creating it over the other's.
 */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/store.h"

#define CREATING_FILE "creating"
#define MARKER_MAX 4096

static void marker_path(const lctx_db *db, char *out, size_t len)
{
    snprintf(out, len, "%s/" CREATING_FILE, db->path);
}

int creation_marked(const lctx_db *db)
{
    char file[4200];
    struct stat sb;
    marker_path(db, file, sizeof file);
    return stat(file, &sb) == 0;
}

/* fsync of the collection folder: makes a file's creation or removal in it
 * durable. */
static int sync_dir(lctx_db *db)
{
    int fd = open(db->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return store_err(db, LCTX_EIO, "%s: %s", db->path, strerror(errno));
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    return rc ? store_err(db, LCTX_EIO, "%s: cannot sync the folder: %s", db->path,
                          strerror(e))
              : LCTX_OK;
}

/* The creation config as JSON (the strings the catalog and embed_open
 * record; model_dir is the opener's business, not the collection's). */
static char *marker_text(const lctx_config *cfg)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "language", cfg->language ? cfg->language : "english");
    cJSON_AddNumberToObject(o, "stopwords", cfg->stopwords);
    cJSON_AddNumberToObject(o, "chunk_words", cfg->chunk_words);
    cJSON_AddNumberToObject(o, "bm25_k1", cfg->bm25_k1);
    cJSON_AddNumberToObject(o, "bm25_b", cfg->bm25_b);
    cJSON_AddNumberToObject(o, "title_weight", cfg->title_weight);
    cJSON_AddStringToObject(o, "embedder", cfg->embedder ? cfg->embedder : "none");
    cJSON_AddStringToObject(o, "vector_encoding",
                            cfg->vector_encoding ? cfg->vector_encoding : "int8");
    cJSON_AddNumberToObject(o, "lsh_target_recall", cfg->lsh_target_recall);
    cJSON_AddNumberToObject(o, "accents", cfg->accents);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

int creation_start(lctx_db *db, const lctx_config *cfg)
{
    int rc = store_lock(db);
    if (rc == LCTX_EBUSY)
        return store_err(db, rc, "%s: another handle or process is creating the collection", db->path);
    if (rc)
        return rc;
    char file[4200];
    struct stat sb;
    snprintf(file, sizeof file, "%s/catalog.db", db->path);
    if (!stat(file, &sb) || creation_marked(db)) {
        store_unlock(db);   /* made (or begun and abandoned) while we looked */
        return LCTX_OK;
    }
    marker_path(db, file, sizeof file);
    char *text = marker_text(cfg);
    if (!text) {
        store_unlock(db);
        return store_err(db, LCTX_ENOMEM, "out of memory");
    }
    /* The folder's sync below makes the marker's entry durable, which is
     * what the rule needs. Its content is not flushed: a process that
     * dies leaves it in the page cache, readable; only a power cut can
     * leave it empty, and then the restart takes the opener's config, as
     * for a torn marker. Flushing it cost 0.35 ms of a 2 ms open. */
    int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    size_t len = strlen(text);
    int ok = fd >= 0 && write(fd, text, len) == (ssize_t)len;
    int e = errno;
    if (fd >= 0)
        close(fd);
    cJSON_free(text);
    if (!ok) {
        unlink(file);
        store_unlock(db);
        return store_err(db, LCTX_EIO, "%s: %s", file, strerror(e));
    }
    if ((rc = sync_dir(db))) {
        store_unlock(db);
        return rc;
    }
    db->creating = 1;
    return LCTX_OK;
}

/* Copies the string item key of o into buf (when present and fitting). */
static void marker_string(const cJSON *o, const char *key, char *buf, size_t len)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (cJSON_IsString(v) && strlen(v->valuestring) < len)
        snprintf(buf, len, "%s", v->valuestring);
}

static void marker_number(const cJSON *o, const char *key, double *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (cJSON_IsNumber(v))
        *out = v->valuedouble;
}

/* The config in the marker over *cfg (which holds the opener's, so a
 * missing or torn marker leaves that; -1 then); strings go to
 * db->language and db->creation_*. */
static int marker_config(lctx_db *db, lctx_config *cfg)
{
    char file[4200], text[MARKER_MAX + 1];
    marker_path(db, file, sizeof file);
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, text, MARKER_MAX) : -1;
    if (fd >= 0)
        close(fd);
    cJSON *o = n > 0 ? cJSON_ParseWithLength(text, (size_t)n) : NULL;
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return -1;
    }
    snprintf(db->language, sizeof db->language, "%s", cfg->language ? cfg->language : "english");
    snprintf(db->creation_embedder, sizeof db->creation_embedder, "%s",
             cfg->embedder ? cfg->embedder : "none");
    snprintf(db->creation_venc, sizeof db->creation_venc, "%s",
             cfg->vector_encoding ? cfg->vector_encoding : "int8");
    marker_string(o, "language", db->language, sizeof db->language);
    marker_string(o, "embedder", db->creation_embedder, sizeof db->creation_embedder);
    marker_string(o, "vector_encoding", db->creation_venc, sizeof db->creation_venc);
    double stop = cfg->stopwords, words = cfg->chunk_words, accents = cfg->accents;
    marker_number(o, "stopwords", &stop);
    marker_number(o, "accents", &accents);
    marker_number(o, "chunk_words", &words);
    marker_number(o, "bm25_k1", &cfg->bm25_k1);
    marker_number(o, "bm25_b", &cfg->bm25_b);
    marker_number(o, "title_weight", &cfg->title_weight);
    marker_number(o, "lsh_target_recall", &cfg->lsh_target_recall);
    cJSON_Delete(o);
    cfg->stopwords = (int)stop;
    cfg->chunk_words = (int)words;
    cfg->accents = accents >= LCTX_ACCENTS_DEFAULT && accents <= LCTX_ACCENTS_FOLD
                   ? (int)accents : LCTX_ACCENTS_DEFAULT;
    cfg->language = db->language;
    cfg->embedder = db->creation_embedder;
    cfg->vector_encoding = db->creation_venc;
    return 0;
}

/* Deletes the stores of an interrupted creation (never anything else). */
static int remove_stores(lctx_db *db)
{
    static const char *const files[] = {
        "catalog.db", "catalog.db-journal", "catalog.db-wal", "catalog.db-shm"};
    char file[4200];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(file, sizeof file, "%s/%s", db->path, files[i]);
        if (unlink(file) && errno != ENOENT)
            return store_err(db, LCTX_EIO, "%s: cannot remove: %s", file, strerror(errno));
    }
    snprintf(file, sizeof file, "%s/index", db->path);
    return kv_remove(db, file);
}

int creation_resume(lctx_db *db, lctx_config *cfg)
{
    if (!creation_marked(db))
        return LCTX_OK;
    int rc = store_lock(db);
    if (rc == LCTX_EBUSY) {     /* its creator is alive: not ours to touch */
        store_clear_err(db);
        return LCTX_OK;
    }
    if (rc)
        return rc;
    if (!creation_marked(db)) { /* the creator finished while we looked */
        store_unlock(db);
        return LCTX_OK;
    }
    int torn = marker_config(db, cfg) != 0;   /* the opener's config stays */
    if ((rc = remove_stores(db))) {
        store_unlock(db);
        return rc;
    }
    db->creating = 1;
    store_warn(db, "%s: its creation was interrupted before the first batch committed; "
               "started over with %s", db->path,
               torn ? "this open's settings (the creation's record was unreadable)"
                    : "the settings it was created with");
    return LCTX_OK;
}

/* 1: the writer lock is free (or its file missing), 0: someone holds it. */
static int lock_free(const lctx_db *db)
{
    char file[4200];
    snprintf(file, sizeof file, "%s/write.lock", db->path);
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 1;              /* a creator takes the lock before it writes the marker */
    int free_lock = flock(fd, LOCK_SH | LOCK_NB) == 0;
    close(fd);                 /* also releases the shared lock */
    return free_lock;
}

int creation_interrupted(lctx_db *db)
{
    return creation_marked(db) && lock_free(db) && creation_marked(db);
}

/* From the end of the creation a crash must not tear the catalog: writes
 * outside batches (an undo, compaction) journal on disk again, and the
 * next batch moves to WAL (catalog_batch_mode). Unless another handle
 * moved the catalog to WAL already, which is on disk too. */
static int journal_on_disk(lctx_db *db)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db->wdb, "PRAGMA journal_mode", -1, &st, NULL))
        return store_err(db, LCTX_ERROR, "%s/catalog.db: %s", db->path, sqlite3_errmsg(db->wdb));
    int memory = sqlite3_step(st) == SQLITE_ROW &&
                 strcmp((const char *)sqlite3_column_text(st, 0), "memory") == 0;
    sqlite3_finalize(st);
    return memory ? catalog_exec(db, db->wdb, "PRAGMA journal_mode=DELETE") : LCTX_OK;
}

int creation_finish(lctx_db *db)
{
    if (!db->creating)
        return LCTX_OK;
    /* The journal first: once the marker is gone the batch counts, and
     * nothing may fail after that. */
    int rc = db->wdb ? journal_on_disk(db) : LCTX_OK;
    if (rc)
        return rc;
    char file[4200];
    marker_path(db, file, sizeof file);
    if (unlink(file) && errno != ENOENT)
        return store_err(db, LCTX_EIO, "%s: cannot remove: %s", file, strerror(errno));
    if ((rc = sync_dir(db)))
        return rc;
    db->creating = 0;
    return LCTX_OK;
}

/* fdatasync of a file by name: SQLite does not lend its descriptor, and
 * any descriptor of a file flushes the file. */
static int sync_file(lctx_db *db, const char *name)
{
    char file[4200];
    snprintf(file, sizeof file, "%s/%s", db->path, name);
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return store_err(db, LCTX_EIO, "%s: %s", file, strerror(errno));
    int rc = fdatasync(fd);
    int e = errno;
    close(fd);
    return rc ? store_err(db, LCTX_EIO, "%s: cannot sync: %s", file, strerror(e)) : LCTX_OK;
}

int creation_close(lctx_db *db)
{
    if (!db->creating)
        return LCTX_OK;
    int rc = sync_file(db, "catalog.db");
    if (!rc && db->env && mdb_env_sync(db->env, 1) != MDB_SUCCESS)
        rc = store_err(db, LCTX_EIO, "%s/index: cannot sync", db->path);
    return rc ? rc : creation_finish(db);
}

/* 1 when the collection's folder holds nothing but write.lock. */
static int only_lock_file(const lctx_db *db)
{
    DIR *d = opendir(db->path);
    if (!d)
        return 0;
    int other = 0;
    struct dirent *e;
    while (!other && (e = readdir(d)))
        other = strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
                strcmp(e->d_name, "write.lock");
    closedir(d);
    return !other;
}

/* The folder this open made, when nothing but the writer's lock file is
 * left in it (the caller holds the lock): both go. */
static void remove_lone_folder(lctx_db *db)
{
    if (!db->made_dir || !only_lock_file(db))
        return;
    char file[4200];
    snprintf(file, sizeof file, "%s/write.lock", db->path);
    unlink(file);
    rmdir(db->path);
}

int creation_abandon(lctx_db *db)
{
    if (!db->creating)
        return LCTX_OK;
    /* The stores' removal is durable before the marker's: a crash in
     * between leaves a marker over nothing, which the next open starts
     * over from, never a torn catalog without its marker. */
    int rc = remove_stores(db);
    if (!rc)
        rc = sync_dir(db);
    char file[4200];
    marker_path(db, file, sizeof file);
    if (!rc && unlink(file) && errno != ENOENT)
        rc = store_err(db, LCTX_EIO, "%s: cannot remove: %s", file, strerror(errno));
    snprintf(file, sizeof file, "%s/index", db->path);
    rmdir(file);               /* emptied by remove_stores */
    if (!rc)
        remove_lone_folder(db);
    db->creating = 0;
    return rc;
}

void creation_unmake_dir(lctx_db *db)
{
    /* Under the lock, so that no creator that came since is using it. */
    if (!db->made_dir || store_lock(db) != LCTX_OK) {
        store_clear_err(db);
        return;
    }
    remove_lone_folder(db);
    store_unlock(db);
}
