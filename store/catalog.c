/*
 * catalog.c — the SQLite side of a collection (catalog.db).
 *
 * The catalog holds the documents (external id, title, uri, metadata JSON,
 * the body text used for snippets and for replaying a batch, a content hash
 * for upserts), their chunks with byte ranges, the collection config, and
 * one row per committed batch. It is the commit point of every write batch:
 * a batch is committed once its SQLite transaction is, because everything
 * LMDB needs can be recomputed from these rows (docs/format.md).
 *
 * Hence WAL with synchronous=FULL: a batch reported committed must survive a
 * power cut, and WAL makes that one fsync of the log per batch. A new
 * catalog is created, and takes its first batch, with its rollback journal
 * in memory and no flush before that batch's COMMIT (create.c says why
 * that is safe; catalog_use_wal why not WAL, and catalog_batch_mode when
 * it switches), all of its creation in one transaction. Deleted and
 * replaced documents keep their rows, marked with the batch that deleted them
 * (deleted_seq), until compaction: a replay needs them, and readers that see
 * LMDB a batch behind SQLite can still resolve the chunks they find.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "indexer/indexer.h"
#include "store/store.h"

static const char *SCHEMA =
    "CREATE TABLE IF NOT EXISTS config(key TEXT PRIMARY KEY, value) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS documents("
    "  doc_id INTEGER PRIMARY KEY, ext_id TEXT NOT NULL, title TEXT, uri TEXT,"
    "  metadata TEXT, text BLOB, content_hash INTEGER NOT NULL,"
    "  first_chunk INTEGER NOT NULL, n_chunks INTEGER NOT NULL, spans BLOB,"
    "  batch_seq INTEGER NOT NULL, deleted_seq INTEGER);"
    "CREATE UNIQUE INDEX IF NOT EXISTS documents_live_ext"
    "  ON documents(ext_id) WHERE deleted_seq IS NULL;"
    "CREATE INDEX IF NOT EXISTS documents_deleted ON documents(deleted_seq)"
    "  WHERE deleted_seq IS NOT NULL;"
    "CREATE TABLE IF NOT EXISTS vectors(chunk_id INTEGER PRIMARY KEY, vec BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS batches("
    "  seq INTEGER PRIMARY KEY, state TEXT NOT NULL, n_added INTEGER NOT NULL,"
    "  n_deleted INTEGER NOT NULL, time INTEGER NOT NULL,"
    "  first_doc INTEGER NOT NULL, end_doc INTEGER NOT NULL);";

/* The status for a failed SQLite call's (primary or extended) code. */
static int status_of(int rc)
{
    rc &= 0xff;
    return (rc == SQLITE_FULL || rc == SQLITE_IOERR) ? LCTX_EIO
         : (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) ? LCTX_EBUSY
         : (rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB) ? LCTX_ECORRUPT : LCTX_ERROR;
}

int catalog_exec(lctx_db *db, sqlite3 *conn, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(conn, sql, NULL, NULL, &msg);
    if (rc == SQLITE_OK)
        return LCTX_OK;
    int st = status_of(rc);
    store_err(db, st, "%s/catalog.db: %s", db->path, msg ? msg : sqlite3_errstr(rc));
    sqlite3_free(msg);
    return st;
}

int catalog_fail(lctx_db *db, sqlite3 *conn, const char *what)
{
    return store_err(db, status_of(sqlite3_extended_errcode(conn)), "%s/catalog.db: %s: %s",
                     db->path, what, sqlite3_errmsg(conn));
}

int catalog_get_text(sqlite3 *conn, const char *key, char *buf, size_t len)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(conn, "SELECT value FROM config WHERE key=?", -1, &st, NULL))
        return -1;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    int found = -1;
    if (sqlite3_step(st) == SQLITE_ROW) {
        const unsigned char *v = sqlite3_column_text(st, 0);
        snprintf(buf, len, "%s", v ? (const char *)v : "");
        found = 0;
    }
    sqlite3_finalize(st);
    return found;
}

int catalog_get_u64(lctx_db *db, sqlite3 *conn, const char *key, uint64_t *v)
{
    char buf[64];
    if (catalog_get_text(conn, key, buf, sizeof buf))
        return store_err(db, LCTX_ECORRUPT, "%s/catalog.db: config key %s missing", db->path, key);
    *v = strtoull(buf, NULL, 10);
    return LCTX_OK;
}

/* One INSERT OR REPLACE into the config table: put_begin prepares it with
 * the key bound, the caller binds the value (parameter 2), put_end runs it. */
static int config_put_begin(lctx_db *db, sqlite3 *conn, const char *key, sqlite3_stmt **st)
{
    if (sqlite3_prepare_v2(conn, "INSERT OR REPLACE INTO config(key,value) VALUES(?,?)",
                           -1, st, NULL))
        return store_err(db, LCTX_ERROR, "%s/catalog.db: %s", db->path, sqlite3_errmsg(conn));
    sqlite3_bind_text(*st, 1, key, -1, SQLITE_STATIC);
    return LCTX_OK;
}

static int config_put_end(lctx_db *db, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return store_err(db, rc == SQLITE_FULL ? LCTX_EIO : LCTX_ERROR, "%s/catalog.db: %s",
                         db->path, sqlite3_errstr(rc));
    return LCTX_OK;
}

int catalog_set_text(lctx_db *db, sqlite3 *conn, const char *key, const char *value)
{
    sqlite3_stmt *st;
    int rc = config_put_begin(db, conn, key, &st);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
    return config_put_end(db, st);
}

#define INDEX_GEN_SQL "SELECT value FROM config WHERE key='index_gen'"

/* The index generation the catalog names, 0 when the key is absent. keep:
 * conn is a pooled reader, which keeps the statement. Every search asks
 * its catalog snapshot for the generation first (query/search.c), and
 * preparing the statement each time cost 3 us of a 50 us search; a reader
 * finds it again among its statements (at that point it has no other),
 * and catalog_close_reader finalizes it. */
static int index_gen_read(lctx_db *db, sqlite3 *conn, int keep, uint64_t *gen)
{
    sqlite3_stmt *st = NULL;
    *gen = 0;
    for (sqlite3_stmt *s = keep ? sqlite3_next_stmt(conn, NULL) : NULL; s && !st;
         s = sqlite3_next_stmt(conn, s))
        if (strcmp(sqlite3_sql(s), INDEX_GEN_SQL) == 0)
            st = s;
    int rc = st ? SQLITE_OK : sqlite3_prepare_v3(conn, INDEX_GEN_SQL, -1,
                                                 keep ? SQLITE_PREPARE_PERSISTENT : 0, &st, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const unsigned char *v = sqlite3_column_text(st, 0);
        *gen = v ? strtoull((const char *)v, NULL, 10) : 0;
        rc = SQLITE_DONE;
    }
    if (keep)
        sqlite3_reset(st);
    else
        sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return store_err(db, status_of(rc), "%s/catalog.db: reading the index generation: %s",
                         db->path, sqlite3_errstr(rc));
    return LCTX_OK;
}

int catalog_index_gen(lctx_db *db, sqlite3 *conn, uint64_t *gen)
{
    return index_gen_read(db, conn, 0, gen);
}

int catalog_reader_gen(lctx_db *db, sqlite3 *conn, uint64_t *gen)
{
    return index_gen_read(db, conn, 1, gen);
}

void catalog_close_reader(sqlite3 *conn)
{
    sqlite3_stmt *st;
    while (conn && (st = sqlite3_next_stmt(conn, NULL)))
        sqlite3_finalize(st);
    sqlite3_close(conn);
}

int catalog_last_seq(lctx_db *db, sqlite3 *conn, uint64_t *seq)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(conn, "SELECT coalesce(max(seq),0) FROM batches", -1, &st, NULL))
        return store_err(db, LCTX_ERROR, "%s/catalog.db: %s", db->path, sqlite3_errmsg(conn));
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *seq = (uint64_t)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW)
        return store_err(db, LCTX_EIO, "%s/catalog.db: %s", db->path, sqlite3_errstr(rc));
    return LCTX_OK;
}

/* Writes the defaults of a new collection, then reads back whatever the
 * collection holds (the stored config wins over cfg for existing ones). */
static int config_init(lctx_db *db, const lctx_config *cfg)
{
    char sql[1024];
    snprintf(sql, sizeof sql,
             "INSERT OR IGNORE INTO config VALUES('format_version',%d);"
             "INSERT OR IGNORE INTO config VALUES('language','%s');"
             "INSERT OR IGNORE INTO config VALUES('stopwords',%d);"
             "INSERT OR IGNORE INTO config VALUES('chunk_words',%d);"
             "INSERT OR IGNORE INTO config VALUES('bm25_k1',%.17g);"
             "INSERT OR IGNORE INTO config VALUES('bm25_b',%.17g);"
             "INSERT OR IGNORE INTO config VALUES('title_weight',%.17g);"
             "INSERT OR IGNORE INTO config VALUES('next_doc',1);"
             "INSERT OR IGNORE INTO config VALUES('next_chunk',1);",
             LCTX_FORMAT_VERSION, cfg->language, cfg->stopwords, cfg->chunk_words,
             cfg->bm25_k1, cfg->bm25_b, cfg->title_weight);
    return catalog_exec(db, db->wdb, sql);
}

/* Loads config from conn into db->cfg; refuses newer format versions. */
static int config_load(lctx_db *db, sqlite3 *conn)
{
    char buf[64];
    if (catalog_get_text(conn, "format_version", buf, sizeof buf))
        return store_err(db, LCTX_ECORRUPT, "%s: not an lctx collection (no format_version)",
                         db->path);
    db->format_version = atoi(buf);
    if (db->format_version > LCTX_FORMAT_VERSION)
        return store_err(db, LCTX_EVERSION,
                         "%s: format version %d is newer than this lctx supports (%d); "
                         "upgrade lctx", db->path, db->format_version, LCTX_FORMAT_VERSION);
    if (db->format_version < 1)
        return store_err(db, LCTX_ECORRUPT, "%s: bad format version %s", db->path, buf);
    /* A catalog as recent as LCTX_FORMAT_OLDEST_CATALOG is this format's,
     * and only the index differs: that can be rebuilt from the catalog. */
    if (db->format_version < LCTX_FORMAT_OLDEST_CATALOG)
        return store_err(db, LCTX_EVERSION,
                         "%s: format version %d is older than this lctx supports (%d); "
                         "rebuild the collection from its sources", db->path,
                         db->format_version, LCTX_FORMAT_VERSION);
    if (db->format_version < LCTX_FORMAT_OLDEST_INDEX && !db->rebuilding)
        return store_err(db, LCTX_EVERSION,
                         "%s: format version %d is older than this lctx supports (%d); "
                         "rebuild its index (lctx-index --rebuild-index, or "
                         "LCTX_OPEN_REBUILD_INDEX)", db->path, db->format_version,
                         LCTX_FORMAT_VERSION);
    if (!catalog_get_text(conn, "language", buf, sizeof buf))
        snprintf(db->language, sizeof db->language, "%.31s", buf);
    db->cfg.language = db->language;
    if (!catalog_get_text(conn, "stopwords", buf, sizeof buf))
        db->cfg.stopwords = atoi(buf);
    if (!catalog_get_text(conn, "chunk_words", buf, sizeof buf))
        db->cfg.chunk_words = atoi(buf);
    if (!catalog_get_text(conn, "bm25_k1", buf, sizeof buf))
        db->cfg.bm25_k1 = strtod(buf, NULL);
    if (!catalog_get_text(conn, "bm25_b", buf, sizeof buf))
        db->cfg.bm25_b = strtod(buf, NULL);
    if (!catalog_get_text(conn, "title_weight", buf, sizeof buf))
        db->cfg.title_weight = strtod(buf, NULL);
    /* Collections made before 'content_hash' was recorded hash with FNV-1a,
     * and their stored hashes must keep matching (write.c, content_hash). */
    db->hash_fnv = catalog_get_text(conn, "content_hash", buf, sizeof buf) != 0;
    if (!db->hash_fnv && strcmp(buf, "mix64") != 0)
        return store_err(db, LCTX_EVERSION, "%s: content hash '%s' is unknown to this lctx; "
                         "upgrade lctx", db->path, buf);
    /* Collections made before 'tokenizer_rules' was recorded keep the first
     * rules, which their postings were made with, until a rebuild of their
     * index (which re-tokenizes every document, so takes the current ones:
     * generation.c records them when it commits). */
    db->tok_rules = catalog_get_text(conn, "tokenizer_rules", buf, sizeof buf) ? 1 : atoi(buf);
    if (db->tok_rules < 1 || db->tok_rules > TOK_RULES)
        return store_err(db, LCTX_EVERSION, "%s: tokenizer rules '%s' are unknown to this lctx; "
                         "upgrade lctx", db->path, buf);
    if (db->rebuilding)
        db->tok_rules = TOK_RULES;
    /* The ICU whose dictionaries split the collection's Thai, Lao, Khmer
     * and Myanmar words: another one may split them differently, which
     * store_tok_put says once. Recorded at creation and by a rebuild;
     * collections made before have none, and nothing is said for them. */
    db->icu_version = db->rebuilding ? tok_icu_version()
                    : catalog_get_text(conn, "icu_version", buf, sizeof buf) ? 0 : atoi(buf);
    /* Recorded at creation only: collections made before keep accents,
     * as their postings do (tok_accents.c). */
    if (catalog_get_text(conn, "accents", buf, sizeof buf))
        db->fold_accents = 0;
    else if (!strcmp(buf, "fold") || !strcmp(buf, "keep"))
        db->fold_accents = buf[0] == 'f';
    else
        return store_err(db, LCTX_EVERSION, "%s: accents setting '%s' is unknown to this lctx; "
                         "upgrade lctx", db->path, buf);
    return LCTX_OK;
}

/* Whether a new collection made with cfg folds accents: as it says, or by
 * default in English and with no language (lctx.h, LCTX_ACCENTS_*). */
static int folds_accents(const lctx_config *cfg)
{
    if (cfg->accents != LCTX_ACCENTS_DEFAULT)
        return cfg->accents == LCTX_ACCENTS_FOLD;
    return tok_language_english(cfg->language);
}

/* How long a connection waits for a lock another connection holds. */
#define CATALOG_BUSY_MS 10000

static int open_conn(lctx_db *db, const char *file, int flags, sqlite3 **out)
{
    sqlite3 *conn = NULL;
    int rc = sqlite3_open_v2(file, &conn, flags | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        int st = rc == SQLITE_CANTOPEN ? LCTX_ENOTFOUND : LCTX_EIO;
        store_err(db, st, "%s: cannot open catalog: %s", file,
                  conn ? sqlite3_errmsg(conn) : sqlite3_errstr(rc));
        sqlite3_close(conn);
        return st;
    }
    sqlite3_busy_timeout(conn, CATALOG_BUSY_MS);
    *out = conn;
    return LCTX_OK;
}

int catalog_open_reader(lctx_db *db, const char *file, sqlite3 **out)
{
    /* A handle that cannot write the collection reads the catalog as an
     * immutable file once a plain connection has failed for want of its
     * -shm (readonly.c). */
    char uri[4400];
    int immutable = __atomic_load_n(&db->frozen, __ATOMIC_RELAXED) == 2;
    int st = immutable ? readonly_catalog_uri(db, file, uri, sizeof uri) : LCTX_OK;
    if (st)
        return st;
    for (;;) {
        int rc = immutable ? open_conn(db, uri, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, out)
                           : open_conn(db, file, SQLITE_OPEN_READONLY, out);
        if (rc)
            return rc;
        /* Touch the schema now so a non-catalog file fails here, not
         * mid-search. */
        rc = catalog_exec(db, *out, "SELECT 1 FROM config LIMIT 1");
        if (!rc)
            return LCTX_OK;
        int no_shm = sqlite3_errcode(*out) == SQLITE_READONLY ||
                     sqlite3_errcode(*out) == SQLITE_CANTOPEN;
        sqlite3_close(*out);
        *out = NULL;
        if (immutable || !db->frozen || !no_shm)
            return rc;
        if ((st = readonly_catalog_uri(db, file, uri, sizeof uri)))
            return st;
        store_clear_err(db);
        immutable = 1;
        __atomic_store_n(&db->frozen, 2, __ATOMIC_RELAXED);
    }
}

int catalog_open(lctx_db *db, const char *file, int create, const lctx_config *cfg)
{
    if (db->flags & LCTX_OPEN_READONLY) {
        sqlite3 *conn;
        int rc = catalog_open_reader(db, file, &conn);
        if (rc)
            return rc;
        rc = config_load(db, conn);
        store_conn_put(db, conn);
        return rc;
    }
    int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0);
    int rc = open_conn(db, file, flags, &db->wdb);
    if (rc)
        return rc;
    /* 16 KiB pages for a new catalog (an existing one keeps its own: the
     * pragma changes nothing once the file has pages): a catalog is mostly
     * document texts of a few KiB, which 4 KiB pages cut into overflow
     * chains, and committing a batch writes its pages one pwrite each; a
     * cranfield build took about 9 % less time. And a 2 MiB page cache,
     * SQLite's default, for the writer too: a batch larger than that
     * spills its pages to the file as it goes instead of holding them all
     * until COMMIT, and memory touched for the first time is not free
     * (docs/ARCHITECTURE.md): with a 64 MiB cache, building a collection
     * of 6,000 abstracts took a fifth more CPU, most of it page faults.
     * The WAL is checkpointed every 256 pages and cut back to 4 MiB after
     * each checkpoint: with SQLite's defaults (1,000 pages, no limit) a
     * handle that stays open, a pipeline's writer or a long-lived reader,
     * kept a 16 MiB log beside a catalog of a few hundred KiB. */
    if ((rc = catalog_exec(db, db->wdb, "PRAGMA page_size=16384;"
                                        "PRAGMA synchronous=FULL;"
                                        "PRAGMA cache_size=-2048;"
                                        "PRAGMA wal_autocheckpoint=256;"
                                        "PRAGMA journal_size_limit=4194304;"
                                        "PRAGMA foreign_keys=OFF;")))
        return rc;
    /* Check the version before touching the schema of a newer collection. */
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db->wdb, "SELECT 1 FROM sqlite_master WHERE name='config'", -1,
                           &st, NULL))
        return store_err(db, LCTX_ECORRUPT, "%s: %s", file, sqlite3_errmsg(db->wdb));
    int exists = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    /* A catalog without its config table that this handle is not creating
     * is another process's creation, not yet committed (or not ours). */
    if (!exists && !db->creating)
        return creation_marked(db)
            ? store_err(db, LCTX_EBUSY, "%s: another handle or process is creating the collection",
                        db->path)
            : store_err(db, LCTX_ECORRUPT, "%s: not an lctx catalog", file);
    if (exists && (rc = config_load(db, db->wdb)))
        return rc;
    /* WAL now if we can; a writer busy in rollback mode (a new collection's
     * first batch) keeps it for catalog_batch_mode. */
    if (exists && (rc = catalog_use_wal(db))) {
        if (rc != LCTX_EBUSY)
            return rc;
        store_clear_err(db);
    }
    /* A collection being created is not durable until its first batch
     * commits (create.c): no flush, and the journal in memory. */
    if (!exists && db->creating &&
        (rc = catalog_exec(db, db->wdb, "PRAGMA journal_mode=MEMORY;PRAGMA synchronous=OFF;")))
        return rc;
    /* An existing catalog's schema and config are brought up to date under
     * the write lock, but without waiting for it: a writer mid-batch holds
     * it, and that writer's own open did this already. Waiting would hold
     * this open for the busy timeout and then fail with "database is
     * locked", where a second writer should hear at once that another
     * holds the collection (lctx_begin, store_lock). */
    if (exists) {
        sqlite3_busy_timeout(db->wdb, 0);
        int busy = sqlite3_exec(db->wdb, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_BUSY;
        sqlite3_busy_timeout(db->wdb, CATALOG_BUSY_MS);
        if (busy)
            return config_load(db, db->wdb);
        if (sqlite3_get_autocommit(db->wdb) && (rc = catalog_exec(db, db->wdb, "BEGIN IMMEDIATE")))
            return rc;
    } else if ((rc = catalog_exec(db, db->wdb, "BEGIN IMMEDIATE"))) {
        return rc;
    }
    /* config_init fills in keys an existing catalog lacks; the content
     * hash, the tokenizer's rules and the accents setting are recorded
     * only at creation, as a catalog without them keeps the hash its
     * documents were stored with and the rules and accents its index was
     * made with (config_load). */
    char made[200];
    snprintf(made, sizeof made, "INSERT INTO config VALUES('content_hash','mix64'),"
             "('tokenizer_rules',%d),('icu_version',%d),('accents','%s')", TOK_RULES,
             tok_icu_version(), folds_accents(cfg) ? "fold" : "keep");
    if ((rc = catalog_exec(db, db->wdb, SCHEMA)) || (rc = config_init(db, cfg)) ||
        (!exists && (rc = catalog_exec(db, db->wdb, made)))) {
        catalog_exec(db, db->wdb, "ROLLBACK");
        return rc;
    }
    /* A new catalog's transaction stays open: the vector settings join it
     * and store_open commits it (one sync for the whole creation). */
    if (exists && (rc = catalog_exec(db, db->wdb, "COMMIT")))
        return rc;
    return config_load(db, db->wdb);
}

/* A new catalog runs its first batch with SQLite's rollback journal: with
 * no earlier pages to save, that writes each page once, where WAL writes it
 * to the log and again at the checkpoint. It switches to WAL (concurrent
 * readers while a writer commits) here, when the next batch begins
 * (catalog_batch_mode) or on the next read-write open, whichever comes
 * first. */
int catalog_use_wal(lctx_db *db)
{
    if (db->wal)
        return LCTX_OK;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db->wdb, "PRAGMA journal_mode=WAL", -1, &st, NULL))
        return store_err(db, LCTX_ERROR, "%s/catalog.db: %s", db->path, sqlite3_errmsg(db->wdb));
    int rc = sqlite3_step(st);
    const unsigned char *mode = rc == SQLITE_ROW ? sqlite3_column_text(st, 0) : NULL;
    db->wal = mode && strcmp((const char *)mode, "wal") == 0;
    sqlite3_finalize(st);
    if (!db->wal)
        return store_err(db, rc == SQLITE_BUSY ? LCTX_EBUSY : LCTX_EIO,
                         "%s/catalog.db: cannot switch to WAL: %s", db->path,
                         sqlite3_errstr(rc == SQLITE_ROW ? SQLITE_BUSY : rc));
    return LCTX_OK;
}

/* The switch is not made at the end of the first batch: it is a
 * transaction of its own (four syncs in rollback mode, a quarter of the
 * cost of creating and loading a small collection), and a collection that
 * is built once and then only searched never needs it: readers share a
 * rollback-mode catalog as well as a WAL one while no batch is open. So the
 * next batch makes it, before its BEGIN.
 *
 * A batch in rollback mode commits by unlinking the journal, which
 * synchronous=FULL does not make durable (the directory is not synced): a
 * power cut right after could bring the journal back and roll the batch
 * back after LMDB took it. synchronous=EXTRA syncs the directory after the
 * unlink, so rollback-mode batches run with it. */
int catalog_batch_mode(lctx_db *db)
{
    /* The first batch of a collection being created keeps the journal in
     * memory; FULL still flushes the database file at COMMIT, before
     * creation_finish makes the batch count. */
    if (db->creating)
        return catalog_exec(db, db->wdb, "PRAGMA synchronous=FULL");
    if (!db->wal) {
        uint64_t seq;
        int rc = catalog_last_seq(db, db->wdb, &seq);
        if (rc)
            return rc;
        /* A reader in the way only delays the switch to a later batch. */
        if (seq > 0 && catalog_use_wal(db) != LCTX_OK) {
            store_warn(db, "%s", lctx_errmsg(db));
            store_clear_err(db);
        }
    }
    return catalog_exec(db, db->wdb, db->wal ? "PRAGMA synchronous=FULL"
                                             : "PRAGMA synchronous=EXTRA");
}

/* The batch is the newest, so its documents and chunks are exactly those
 * with ids from its first ones on. */
int catalog_undo_batch(lctx_db *db, uint64_t seq, uint64_t first_doc)
{
    char sql[512];
    snprintf(sql, sizeof sql,
             "BEGIN IMMEDIATE;"
             "DELETE FROM documents WHERE doc_id >= %llu;"
             "UPDATE documents SET deleted_seq=NULL WHERE deleted_seq=%llu;"
             "DELETE FROM batches WHERE seq=%llu;"
             "COMMIT;",
             (unsigned long long)first_doc,
             (unsigned long long)seq, (unsigned long long)seq);
    int rc = catalog_exec(db, db->wdb, sql);
    if (rc && !sqlite3_get_autocommit(db->wdb))
        sqlite3_exec(db->wdb, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

/* ------------------------------------------------------ threaded commit */
static void *catalog_commit_run(void *arg)
{
    catalog_commit *cc = arg;
    sqlite3 *conn = cc->db->wdb;
    char *msg = NULL;
    cc->sqlite_rc = sqlite3_exec(conn, cc->sql, NULL, NULL, &msg);
    if (cc->sqlite_rc != SQLITE_OK) {
        snprintf(cc->msg, sizeof cc->msg, "%s", msg ? msg : sqlite3_errstr(cc->sqlite_rc));
        if (!sqlite3_get_autocommit(conn))
            sqlite3_exec(conn, "ROLLBACK", NULL, NULL, NULL);
    }
    sqlite3_free(msg);
    return NULL;
}

void catalog_commit_start(lctx_db *db, catalog_commit *cc, const char *sql)
{
    memset(cc, 0, sizeof *cc);
    cc->db = db;
    snprintf(cc->sql, sizeof cc->sql, "%s", sql);
    cc->threaded = pthread_create(&cc->thread, NULL, catalog_commit_run, cc) == 0;
    if (!cc->threaded)
        catalog_commit_run(cc);
}

int catalog_commit_join(catalog_commit *cc)
{
    if (cc->joined)
        return cc->status;
    if (cc->threaded)
        pthread_join(cc->thread, NULL);
    cc->joined = 1;
    cc->status = LCTX_OK;
    if (cc->sqlite_rc != SQLITE_OK)
        cc->status = store_err(cc->db, status_of(cc->sqlite_rc), "%s/catalog.db: commit: %s",
                               cc->db->path, cc->msg);
    return cc->status;
}

int catalog_commit_gate(void *ctx)
{
    return catalog_commit_join(ctx);
}
