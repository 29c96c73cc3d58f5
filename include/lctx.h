/*
 * lctx.h — the public C API of lctx, a long-context retrieval engine.
 *
 * This is the only header a user includes. Everything is reached through
 * opaque handles:
 *
 *   lctx_db       an open collection (a NAME.lctx/ directory: SQLite catalog
 *                 plus LMDB index). Open it once per process; the handle is
 *                 safe to share between threads. Searches run concurrently;
 *                 writes are serialized (one writer, any number of readers,
 *                 across threads and processes).
 *   lctx_results  the ranked hits of one search, owned by the caller.
 *
 * Every call returns a status (LCTX_OK == 0 on success). After a failure,
 * lctx_errmsg(db) returns a one-line explanation naming the input and the
 * reason. The library never exits the process and never prints, except
 * through the warning callback the caller installs.
 *
 * Writes happen in batches: lctx_begin(), any number of lctx_add() /
 * lctx_delete(), then lctx_commit() or lctx_rollback(). A batch is atomic
 * across both stores: after a crash, the collection holds every committed
 * batch and nothing of an uncommitted one.
 */
#ifndef LCTX_H
#define LCTX_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define LCTX_API __attribute__((visibility("default")))
#else
#define LCTX_API
#endif

#define LCTX_VERSION_STRING "0.1.0"
/* On-disk format version written into new collections. A collection with
 * a newer number was made by a newer lctx and is refused (LCTX_EVERSION);
 * one older than LCTX_FORMAT_OLDEST_INDEX must be rebuilt, its index alone
 * (LCTX_OPEN_REBUILD_INDEX) when its catalog is recent enough. */
#define LCTX_FORMAT_VERSION 4
/* The oldest format this lctx reads and writes as it is: format 3 lacks
 * only 4's sparse chunk pages, and becomes 4 when compacted. */
#define LCTX_FORMAT_OLDEST_INDEX 3
/* The oldest format whose catalog this lctx reads: such a collection opens
 * with LCTX_OPEN_REBUILD_INDEX, which rebuilds its index. */
#define LCTX_FORMAT_OLDEST_CATALOG 2

/* ------------------------------------------------------------------ status */
enum lctx_status {
    LCTX_OK = 0,
    LCTX_ERROR = 1,       /* generic failure; see lctx_errmsg */
    LCTX_ENOTFOUND = 2,   /* collection, document or model does not exist */
    LCTX_EINVAL = 3,      /* bad argument or bad input (malformed JSON, bad UTF-8) */
    LCTX_EIO = 4,         /* read/write failure, including a full disk */
    LCTX_ECORRUPT = 5,    /* integrity check failed */
    LCTX_EVERSION = 6,    /* collection of a format version this lctx cannot use (newer,
                           * or older than it reads: lctx-index --rebuild-index) */
    LCTX_ENOMEM = 7,
    LCTX_EBUSY = 8,       /* another writer holds the collection */
    LCTX_EUNSUPPORTED = 9,/* feature not available in this build/collection */
    LCTX_ESTATE = 10,     /* call out of order (add without begin, ...) */
    LCTX_ETIMEOUT = 11,   /* a remote service (generator, embeddings) timed out */
    LCTX_EREMOTE = 12     /* a remote service answered with an error */
};

typedef struct lctx_db lctx_db;
typedef struct lctx_results lctx_results;

/* --------------------------------------------------------------- open/close */
#define LCTX_OPEN_CREATE   0x1u  /* create the collection if it does not exist */
/* Searches only; never writes, never recovers. A process that may not
 * write the collection (a read-only mount, another user's files) can still
 * open it this way, but then keeps writers out (LCTX_EBUSY) until it closes,
 * and gets LCTX_EBUSY itself while a writer is at work. */
#define LCTX_OPEN_READONLY 0x2u
/* Keep the vector index in memory: built from the handle's snapshot on its
 * first LSH vector search (about a second per few hundred thousand vectors),
 * rebuilt on the first search after a commit; searches answer from flat
 * arrays instead of LMDB lookups. For handles that answer many queries
 * (pipelines, lctx-search batch and interactive modes); collections below
 * the LSH threshold scan exactly and do not use it. */
#define LCTX_OPEN_VECTOR_CACHE 0x4u
/* Rebuild the index (the collection's LMDB folder) from the catalog before
 * returning: every committed batch is replayed in order (consecutive ones
 * in one transaction) from the documents the catalog keeps into a new
 * index beside the old one, the vector buckets
 * are rebuilt with the LSH parameters last tuned, and the new index then
 * replaces the old, which other handles keep reading until then and leave
 * by themselves after. For an index lctx_check finds damaged, or one of an
 * older format whose catalog this lctx still reads (format 2). Holds the
 * writer lock meanwhile (LCTX_EBUSY while another process writes); not
 * with LCTX_OPEN_READONLY. */
#define LCTX_OPEN_REBUILD_INDEX 0x8u

/* Settings fixed when a collection is created. When it exists, its own
 * are used and these are not compared, with two exceptions: they must still
 * be valid (an unknown language is LCTX_EINVAL), and an embedder other than
 * "none" must be the collection's. A caller that wants a mismatch reported
 * compares them with lctx_stats_get, as lctx-index does. */
typedef struct lctx_config {
    const char *language;   /* Snowball stemmer language, "english" by default; "none" disables stemming */
    int stopwords;          /* 1: drop the language's stopwords (default 1) */
    int chunk_words;        /* target passage length in words (default 400) */
    double bm25_k1;         /* default 1.2 */
    double bm25_b;          /* default 0.75 */
    double title_weight;    /* BM25F weight of title terms relative to body terms (default set by the engine) */
    /* Vectors. embedder is "none" (default: BM25 only), "use-lite",
     * "bert:DIR" or "http:URL"; every chunk is embedded at indexing time. */
    const char *embedder;
    const char *model_dir;       /* where built-in models live; NULL = $LCTX_MODEL_DIR or ./models */
    const char *vector_encoding; /* "int8" (default), "f16" or "f32" */
    double lsh_target_recall;    /* recall@10 the LSH tuner aims for (default 0.95) */
    /* Whether "cafe" finds "café" (accents of the Latin and Greek scripts
     * folded away on both sides): LCTX_ACCENTS_DEFAULT folds them in
     * English and with no language, and keeps them in the other languages,
     * whose stemmers expect them (docs/tokenizer.md). */
    int accents;
} lctx_config;

#define LCTX_ACCENTS_DEFAULT 0
#define LCTX_ACCENTS_KEEP 1
#define LCTX_ACCENTS_FOLD 2

/* Fills *cfg with the defaults. */
LCTX_API void lctx_config_init(lctx_config *cfg);

/* Opens (and with LCTX_OPEN_CREATE creates) the collection directory at path.
 * cfg may be NULL for defaults. On failure *out is still set when possible so
 * lctx_errmsg(*out) can explain; lctx_close(*out) must then be called. One
 * handle per collection per process: a handle is thread-safe for searches
 * and writes, and a second open of a collection this process has open is
 * LCTX_EBUSY (LMDB's locks cannot tell two handles of one process apart). */
LCTX_API int lctx_open(const char *path, unsigned flags, const lctx_config *cfg, lctx_db **out);
/* A collection this handle created and whose first batch never committed
 * stays, empty, if no batch failed or was rolled back; if one did, or the
 * creating open itself failed, lctx_close removes it (the folder too when
 * the open made it), leaving things as they were before. */
LCTX_API int lctx_close(lctx_db *db);
/* The calling thread's last failure on this handle, as one line; "" when
 * none. Threads sharing a handle each get their own (up to 16 at a time).
 * Read it after a call that returned a failure: a later call that fails
 * replaces it, and one that succeeds may clear it or leave it, so an empty
 * message is not a test of success (the status code is). */
LCTX_API const char *lctx_errmsg(const lctx_db *db);
/* A static name for a status code. */
LCTX_API const char *lctx_strstatus(int status);

/* Warnings (skipped binary file, repaired UTF-8, skipped bad line) go here.
 * The first four raised before any handler was set (lctx_open's among
 * them: an interrupted creation started over) reach the first handler when
 * it is set; others without a handler are dropped. */
typedef void (*lctx_warning_fn)(void *ctx, const char *message);
LCTX_API void lctx_set_warning_handler(lctx_db *db, lctx_warning_fn fn, void *ctx);

/* ------------------------------------------------------------------ writes */
typedef struct lctx_doc {
    const char *id;          /* external id, required, unique; same id replaces (upsert) */
    const char *title;       /* may be NULL */
    const char *text;        /* body, UTF-8; may be NULL when title is set */
    size_t text_len;         /* bytes of text; 0 with non-NULL text means strlen(text) */
    const char *uri;         /* where it came from; may be NULL */
    const char *metadata;    /* a JSON object as text; may be NULL */
} lctx_doc;

/* The most bytes of text one document may hold (256 MiB). Indexing takes
 * about four times a document's size in memory while it is added for prose
 * (more where nearly every token is a new term: about 200 bytes per
 * distinct term, so 4 MB of random CJK characters, whose bigrams are 1.2
 * million terms, take 280 MB), and a
 * "document" larger than this is almost always a mistake (a log, a dump)
 * that should fail with a message, not run the machine out of memory. */
#define LCTX_MAX_TEXT ((size_t)256 << 20)

/* How much memory a batch's postings may take before they are written,
 * sorted, to temporary files in the collection's folder and read back at
 * commit (a batch of gigabytes then needs about this much memory for its
 * postings, not the gigabytes; the batch stays one transaction). Default
 * LCTX_BATCH_MEMORY (64 MiB); 0: never spill. Takes effect at the next
 * lctx_begin (batches replayed by lctx_open use the default). Not covered:
 * the index pages a batch changes, which LMDB keeps in memory until the
 * commit, up to about 512 MiB; the chunk records (8 bytes a passage); with
 * an embedder, the passages' text and vectors. The runs take about three
 * times what the batch adds to the index in disk space while it commits. */
#define LCTX_BATCH_MEMORY ((size_t)64 << 20)
LCTX_API void lctx_set_batch_memory(lctx_db *db, size_t bytes);

LCTX_API int lctx_begin(lctx_db *db);
/* Adds or replaces a document. Id, title, text and uri must be valid UTF-8
 * (LCTX_EINVAL names the byte offset otherwise), text at most LCTX_MAX_TEXT
 * bytes. An unchanged document (the same title, text, uri and metadata) is
 * a no-op. A document with neither text nor title is LCTX_EINVAL; one whose
 * text is empty or blank is stored and counted but has no passage, so no
 * search finds it (lctx_ingest skips such documents with a warning). */
LCTX_API int lctx_add(lctx_db *db, const lctx_doc *doc);
/* Deletes by external id; LCTX_ENOTFOUND when no such document. */
LCTX_API int lctx_delete(lctx_db *db, const char *id);
/* Commits the batch; *seq (may be NULL) receives its sequence number. A
 * batch that changed nothing (no document added or replaced, none deleted:
 * an unchanged document is a no-op) writes nothing, and *seq receives the
 * last committed batch's number (0 when there is none): the collection as
 * of that batch holds what this one added. A
 * failure is all or nothing, with one exception the message names: when
 * the index fails (a full disk) after the catalog has committed, the batch
 * is kept, LCTX_EIO is returned, and the index takes it at the next
 * lctx_begin, lctx_check or read-write open. */
LCTX_API int lctx_commit(lctx_db *db, uint64_t *seq);
LCTX_API int lctx_rollback(lctx_db *db);

/* Rewrites postings without tombstoned entries, removes deleted documents
 * from the catalog and gives the freed room back to the file system: the
 * catalog is vacuumed, and the index replaced by a dense copy that other
 * handles, in this process or others, move to before their next read (a
 * failure of either step is a warning). Ids are 32-bit and never handed
 * out twice; once a quarter of them are spent on documents no longer
 * there, the copy also renumbers the live ones densely, in order, which
 * is what lets a collection that lctx_add calls full take documents
 * again. */
LCTX_API int lctx_compact(lctx_db *db);
/* Verifies both stores and their agreement; LCTX_ECORRUPT with a message
 * naming the first problem. On a read-write handle it first replays a
 * batch the catalog holds and the index lacks (see lctx_commit). */
LCTX_API int lctx_check(lctx_db *db);

/* ------------------------------------------------------------------ ingest */
enum lctx_format { LCTX_FORMAT_AUTO = 0, LCTX_FORMAT_TEXT, LCTX_FORMAT_JSONL, LCTX_FORMAT_BEIR };

typedef struct lctx_ingest_opts {
    enum lctx_format format;
    int skip_bad;            /* 1: skip malformed JSONL lines with a warning instead of failing */
    /* Called now and then with bytes done / bytes total (total 0 = unknown). */
    void (*progress)(void *ctx, uint64_t done, uint64_t total);
    void *progress_ctx;      /* passed to progress and committed */
    /* 0: the caller commits. N > 0: lctx_ingest commits after every N
     * documents and begins a new batch, calling committed(ctx, seq, ndocs)
     * after each; the documents after the last such commit stay in the open
     * batch for the caller to commit or roll back. */
    uint64_t commit_every;
    void (*committed)(void *ctx, uint64_t seq, uint64_t ndocs);
} lctx_ingest_opts;

LCTX_API void lctx_ingest_opts_init(lctx_ingest_opts *opts);
/* Adds everything at path (a file, a directory walked recursively, a JSONL
 * file, a BEIR folder or its corpus.jsonl; "-" reads JSONL from stdin) to the
 * current batch. Must be inside lctx_begin/lctx_commit. A text file's id is
 * its path as given (a directory's files: the directory as given joined
 * with the path below it; "./" and repeated slashes tidied away). On
 * failure the error names FILE:LINE and the reason; the caller then rolls
 * back. *ndocs (may be NULL) receives the number of documents added or
 * replaced (one identical to the stored document is not counted). Each
 * document's uri is where it was read (the file, or FILE:LINE for JSONL),
 * and it does not count as content here: a document read again from
 * another file or line, with the same title, text and metadata, is
 * unchanged and keeps its first uri. A
 * document's text may hold up to LCTX_MAX_TEXT bytes; a larger file is
 * skipped with a warning. */
LCTX_API int lctx_ingest(lctx_db *db, const char *path, const lctx_ingest_opts *opts, uint64_t *ndocs);

/* ------------------------------------------------------------------- stats */
typedef struct lctx_stats {
    uint64_t documents;      /* live documents */
    uint64_t chunks;         /* live chunks */
    uint64_t deleted_chunks; /* tombstoned, reclaimed by compact */
    uint64_t terms;          /* distinct terms in the dictionary */
    uint64_t postings;       /* posting entries including tombstoned */
    double avg_chunk_len;    /* in tokens */
    uint64_t last_seq;       /* last committed batch */
    uint64_t disk_bytes;     /* size of the collection directory */
    int format_version;
    char language[32];
    double bm25_k1, bm25_b;
    /* vectors (zero / empty when the collection has none) */
    char embedder[160];
    int dim;
    char vector_encoding[8];
    uint64_t vectors;        /* stored chunk vectors */
    int lsh_bits, lsh_tables, lsh_probes; /* 0 when search is exact (small collections) */
    double lsh_target_recall;
    double lsh_measured_recall; /* recall@10 measured by the tuner on held-out sample queries */
    /* Batches the catalog has committed and the index does not hold yet
     * (a crash, or a full disk, between the two stores): the next
     * read-write open replays them. The counts above are the index's, and
     * documents counts what is live as of last_seq, so they agree. */
    uint64_t awaiting_recovery;
    /* The rest of the settings fixed at creation (lctx_config), and the
     * tokenizer rules the index was built with (docs/tokenizer.md). */
    int stopwords;
    int chunk_words;
    double title_weight;
    int tokenizer_rules;
    /* The major version of the ICU whose dictionaries split its Thai,
     * Lao, Khmer and Myanmar words (0: made before lctx recorded it);
     * searching or adding such text with another warns, once per handle. */
    int icu_version;
    /* 1: the collection folds accents (cafe = café); 0: it keeps them, as
     * collections made before the setting existed do. */
    int fold_accents;
    /* Document and chunk ids handed out so far, of 2^32 - 1: they are never
     * handed out twice, so upserts spend them, and lctx_compact renumbers
     * the live ones once a quarter of the space is spent on documents no
     * longer there (then these equal documents and chunks). */
    uint64_t doc_ids_spent, chunk_ids_spent;
} lctx_stats;

LCTX_API int lctx_stats_get(lctx_db *db, lctx_stats *out);

/* Re-tunes the LSH parameters for target_recall (<= 0: the collection's
 * target) on a sample of the stored vectors and rebuilds the buckets. A
 * target given here becomes the collection's target, which later automatic
 * tunings (as the collection grows) aim at too; below the LSH threshold
 * search stays exact, but the target is still recorded. */
LCTX_API int lctx_retune(lctx_db *db, double target_recall);

/* ------------------------------------------------------------------ search */
enum lctx_mode { LCTX_MODE_DEFAULT = 0, LCTX_MODE_BM25, LCTX_MODE_VECTOR, LCTX_MODE_HYBRID };
/* How hybrid search fuses the two ranked lists. */
enum lctx_fusion { LCTX_FUSION_DEFAULT = 0, LCTX_FUSION_RRF, LCTX_FUSION_LINEAR };

typedef struct lctx_search_opts {
    enum lctx_mode mode;     /* DEFAULT = hybrid when the collection has vectors, else bm25 */
    int k;                   /* number of documents to return (default 10) */
    int snippets;            /* 1: fill hit.snippet with highlighted text: about 32
                                words around the matches, at most 800 characters
                                of text (markers aside), "…" at cut ends */
    const char *hl_open;     /* highlight markers, default "[" and "]" */
    const char *hl_close;
    int explain;             /* 1: fill hit.explain with per-term contributions (JSON) */
    const char *filter;      /* SQLite JSON1 expression over metadata, NULL = none */
    enum lctx_fusion fusion; /* DEFAULT = LINEAR, measured on the dev collections (docs/lsh.md) */
    double alpha;            /* LINEAR: weight of the vector side in [0,1]; < 0 = default (0.1) */
    int rrf_k;               /* RRF constant (0 = 60) */
    int depth_bm25;          /* documents taken from each recall before fusion (0 = 100) */
    int depth_vector;
    /* Query by a caller-supplied vector (mode VECTOR, or HYBRID with text):
     * vector_dim must equal the collection's dimension. */
    const float *vector;
    int vector_dim;
    /* "More like this": the stored vectors of this document (external id)
     * are the query; the document itself is left out of the results. */
    const char *like;
} lctx_search_opts;

LCTX_API void lctx_search_opts_init(lctx_search_opts *opts);

/* Query syntax: words; "quoted phrases" (terms required, adjacent, in order);
 * +word requires the word; -word excludes documents containing it,
 * -"a phrase" those where the phrase occurs; title:word (or title:"a b")
 * keeps only documents with the word in their title, -title:word leaves
 * them out; word* is any of the 64 most
 * frequent indexed terms starting with the word (stemmed like a word),
 * sharing one IDF, in BM25 and hybrid recall; +word* also requires one of
 * the terms that start with the word, -word* excludes every document
 * holding one (LCTX_EINVAL when more than 4096 terms do). Every mode
 * obeys phrases,
 * required words and exclusions (vector recall ranks only documents the
 * keyword query admits). An empty query, one of only stopwords or words
 * over the tokenizer's length limit (64 characters; 64 bytes in
 * collections made before tokenizer rules 3), or one that only excludes,
 * returns zero hits and sets lctx_errmsg to say why (a search by caller
 * vector or "like" needs no text). */
LCTX_API int lctx_search(lctx_db *db, const char *query, const lctx_search_opts *opts,
                         lctx_results **out);

typedef struct lctx_hit {
    const char *id;          /* external document id */
    const char *title;
    const char *uri;
    double score;            /* document score = best chunk's score */
    int64_t chunk;           /* best chunk's id (until a compaction renumbers) */
    uint64_t start, end;     /* best chunk's byte range in the document text */
    const char *snippet;     /* NULL unless opts.snippets */
    const char *explain;     /* NULL unless opts.explain: JSON */
    double bm25_score;       /* the document's BM25 score (0 when not recalled by BM25) */
    double vector_score;     /* cosine of its best chunk (0 when not recalled by vectors) */
} lctx_hit;

LCTX_API size_t lctx_results_count(const lctx_results *r);
/* Hits are ranked by descending score, ties in the order the documents
 * were added (a replaced document counts from its replacement). The
 * pointer stays valid until lctx_results_free. */
LCTX_API const lctx_hit *lctx_results_get(const lctx_results *r, size_t i);
/* Parsed query terms as the engine saw them (after normalisation), as JSON. */
LCTX_API const char *lctx_results_query_json(const lctx_results *r);
LCTX_API void lctx_results_free(lctx_results *r);

/* Reads the full stored document. *text is malloc'd; free() it. */
LCTX_API int lctx_get_text(lctx_db *db, const char *id, char **text, size_t *len);

#ifdef __cplusplus
}
#endif
#endif /* LCTX_H */
