/*
 * lctx-index — builds and maintains a collection.
 *
 *   lctx-index -c COLL [--format auto|text|jsonl|beir] [--embedder SPEC]
 *              [--language L] [--no-stopwords] [--chunk-words N] [--bm25-k1 K1]
 *              [--bm25-b B] [--title-weight W]
 *              [--skip-bad] [--batch-docs N] [--batch-memory MB] [--quiet] INPUT...
 *   lctx-index -c COLL --delete ID...
 *   lctx-index -c COLL [--rebuild-index] [--compact] [--check] [--retune [--target R]]
 *              [--stats [--json]]
 *
 * Adding is one atomic batch by default: every INPUT goes into it, and any
 * failure (a malformed JSONL line, an unreadable file, a full disk) rolls it
 * back, so the collection is exactly as it was before the command ran and
 * the message says so ("nothing was committed"). That is the property that
 * makes re-running a failed command safe. --batch-docs N trades it for
 * bounded memory and visible progress on huge corpora: a commit whenever N
 * documents have accumulated, each one reported; a failure then loses only
 * the open batch. Memory does not need it: a batch's postings past
 * --batch-memory (default 64 MiB) go to temporary files in the collection
 * and are read back at the commit.
 *
 * The steps of one invocation run in a fixed order: rebuild the index,
 * delete or add, then compact, then check, then stats — so `--stats` after
 * adding shows the result. Exit status: 0 success, 1 a failed operation, 2
 * bad usage.
 *
 * --rebuild-index discards the collection's index and rebuilds it from the
 * catalog (LCTX_OPEN_REBUILD_INDEX): for an index --check finds damaged,
 * or one an older lctx wrote in a format this one no longer reads.
 *
 * --embedder (use-lite, bert:DIR, http:URL or none) is fixed when the
 * collection is created: every chunk is embedded with it at indexing time.
 * So are the tokenizer's language and stopwords, the passage length and
 * BM25's parameters (lctx_config). Naming a different value of any of them
 * for an existing collection is an error, not a switch or an ignored option:
 * vectors of two models, or terms stemmed two ways, do not match.
 * --retune re-tunes the LSH parameters for --target R (the collection's
 * target recall by default) and rebuilds the buckets.
 */
#include "cli/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const PROG = "lctx-index";

typedef struct index_args {
    const char *coll;
    enum lctx_format format;
    int skip_bad;
    int quiet;
    int json;
    int stats;
    int check;
    int compact;
    int rebuild;
    int delete_ids;          /* positionals are ids to delete */
    long batch_docs;         /* 0 = one batch */
    long batch_memory;       /* MiB, -1 = the library's default */
    const char *embedder;    /* NULL = not given */
    /* Creation settings; NULL or negative = not given. */
    const char *language;
    int no_stopwords;
    int accents;             /* LCTX_ACCENTS_*; DEFAULT = not given */
    long chunk_words;
    double bm25_k1, bm25_b, title_weight;
    int retune;
    double target;           /* --target, 0 = the collection's */
    char **inputs;           /* INPUTs, or ids with --delete */
    int ninputs;
} index_args;

static void usage(FILE *f)
{
    fprintf(f,
        "usage: lctx-index -c COLL [options] INPUT...\n"
        "       lctx-index -c COLL --delete ID...\n"
        "       lctx-index -c COLL [--rebuild-index] [--compact] [--retune [--target R]]\n"
        "                  [--check] [--stats [--json]]\n"
        "\n"
        "INPUT is a file, a directory (read recursively), a JSONL or BEIR corpus\n"
        "(_id|id, title, text, metadata), or '-' for JSONL on stdin.\n"
        "\n"
        "  -c, --collection COLL   the collection directory (created when adding)\n"
        "  --format F              auto (default), text, jsonl or beir\n"
        "  --embedder E            none (default), use-lite, bert:DIR or http:URL\n"
        "\n"
        "Fixed when the collection is created (naming another value later is an error):\n"
        "  --language L            Snowball stemmer language (default english;\n"
        "                          none: no stemming)\n"
        "  --no-stopwords          keep stopwords (English has a list; others none)\n"
        "  --accents fold|keep     cafe = café? (default: fold in english and none)\n"
        "  --chunk-words N         target passage length in words (default 400)\n"
        "  --bm25-k1 K1            BM25 term saturation (default 1.2)\n"
        "  --bm25-b B              BM25 length normalisation, 0 to 1 (default 0.75)\n"
        "  --title-weight W        weight of title terms against body terms (default 2)\n"
        "\n"
        "  --retune                re-tune the LSH vector index (--target R: recall)\n"
        "  --skip-bad              skip malformed JSONL lines with a warning\n"
        "  --batch-docs N          commit every N documents instead of once\n"
        "  --batch-memory MB       postings a batch keeps in memory before it spills\n"
        "                          them to temporary files (default 64; 0: never)\n"
        "  --delete                delete the documents named by the arguments\n"
        "  --rebuild-index         rebuild the index from the catalog (a damaged\n"
        "                          index, or one of an older format)\n"
        "  --compact               reclaim space held by deleted documents\n"
        "  --check                 verify the collection's integrity\n"
        "  --stats                 print collection statistics (--json for JSON)\n"
        "  -q, --quiet             no progress bar, commit reports or summary\n"
        "  -h, --help  --version\n");
}

static int parse_format(const char *s, enum lctx_format *f)
{
    if (!strcmp(s, "auto")) *f = LCTX_FORMAT_AUTO;
    else if (!strcmp(s, "text")) *f = LCTX_FORMAT_TEXT;
    else if (!strcmp(s, "jsonl")) *f = LCTX_FORMAT_JSONL;
    else if (!strcmp(s, "beir")) *f = LCTX_FORMAT_BEIR;
    else return -1;
    return 0;
}

/* The spec's form only; the library opens it (and says what is wrong with
 * a model directory or an endpoint). Returns an exit status, or -1. */
static int check_embedder(const char *e)
{
    if (!strcmp(e, "none") || !strcmp(e, "use-lite") || (!strncmp(e, "bert:", 5) && e[5]) ||
        (!strncmp(e, "http:", 5) && e[5]) || (!strncmp(e, "https:", 6) && e[6]))
        return -1;
    cli_error(PROG, "--embedder %s: expected none, use-lite, bert:DIR or http:URL", e);
    return cli_bad_usage(PROG, NULL);
}

enum { OPT_FORMAT = 256, OPT_EMBEDDER, OPT_SKIP_BAD, OPT_BATCH_DOCS, OPT_BATCH_MEMORY, OPT_DELETE,
       OPT_COMPACT, OPT_CHECK, OPT_STATS, OPT_JSON, OPT_VERSION, OPT_RETUNE, OPT_TARGET,
       OPT_REBUILD, OPT_LANGUAGE, OPT_NO_STOPWORDS, OPT_CHUNK_WORDS, OPT_BM25_K1, OPT_BM25_B,
       OPT_TITLE_WEIGHT, OPT_ACCENTS };

/* Returns -1 to go on, or an exit status. */
static int parse_args(int argc, char **argv, index_args *a)
{
    static const struct option longopts[] = {
        { "collection", required_argument, NULL, 'c' },
        { "format", required_argument, NULL, OPT_FORMAT },
        { "embedder", required_argument, NULL, OPT_EMBEDDER },
        { "language", required_argument, NULL, OPT_LANGUAGE },
        { "no-stopwords", no_argument, NULL, OPT_NO_STOPWORDS },
        { "accents", required_argument, NULL, OPT_ACCENTS },
        { "chunk-words", required_argument, NULL, OPT_CHUNK_WORDS },
        { "bm25-k1", required_argument, NULL, OPT_BM25_K1 },
        { "bm25-b", required_argument, NULL, OPT_BM25_B },
        { "title-weight", required_argument, NULL, OPT_TITLE_WEIGHT },
        { "skip-bad", no_argument, NULL, OPT_SKIP_BAD },
        { "batch-docs", required_argument, NULL, OPT_BATCH_DOCS },
        { "batch-memory", required_argument, NULL, OPT_BATCH_MEMORY },
        { "delete", no_argument, NULL, OPT_DELETE },
        { "compact", no_argument, NULL, OPT_COMPACT },
        { "rebuild-index", no_argument, NULL, OPT_REBUILD },
        { "check", no_argument, NULL, OPT_CHECK },
        { "stats", no_argument, NULL, OPT_STATS },
        { "json", no_argument, NULL, OPT_JSON },
        { "retune", no_argument, NULL, OPT_RETUNE },
        { "target", required_argument, NULL, OPT_TARGET },
        { "quiet", no_argument, NULL, 'q' },
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, OPT_VERSION },
        { NULL, 0, NULL, 0 }
    };
    memset(a, 0, sizeof *a);
    a->batch_memory = -1;
    a->chunk_words = -1;
    a->bm25_k1 = a->bm25_b = a->title_weight = -1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":c:qh", longopts, NULL)) != -1) {
        switch (c) {
        case 'c': a->coll = optarg; break;
        case 'q': a->quiet = 1; break;
        case 'h': usage(stdout); return CLI_EXIT_OK;
        case OPT_VERSION: printf("lctx-index %s\n", LCTX_VERSION_STRING); return CLI_EXIT_OK;
        case OPT_FORMAT:
            if (parse_format(optarg, &a->format) != 0)
                return cli_bad_usage(PROG, "--format wants auto, text, jsonl or beir");
            break;
        case OPT_EMBEDDER: a->embedder = optarg; break;
        case OPT_LANGUAGE: a->language = optarg; break;
        case OPT_NO_STOPWORDS: a->no_stopwords = 1; break;
        case OPT_ACCENTS:
            if (strcmp(optarg, "fold") && strcmp(optarg, "keep"))
                return cli_bad_usage(PROG, "--accents wants fold or keep");
            a->accents = optarg[0] == 'f' ? LCTX_ACCENTS_FOLD : LCTX_ACCENTS_KEEP;
            break;
        case OPT_CHUNK_WORDS:
            if (cli_parse_long(optarg, 1, 1000000L, &a->chunk_words) != 0)
                return cli_bad_usage(PROG, "--chunk-words wants a number of words from 1 to "
                                           "1000000");
            break;
        case OPT_BM25_K1:
            if (cli_parse_double(optarg, 0, 1e6, &a->bm25_k1) != 0)
                return cli_bad_usage(PROG, "--bm25-k1 wants a number >= 0");
            break;
        case OPT_BM25_B:
            if (cli_parse_double(optarg, 0, 1, &a->bm25_b) != 0)
                return cli_bad_usage(PROG, "--bm25-b wants a number from 0 to 1");
            break;
        case OPT_TITLE_WEIGHT:
            if (cli_parse_double(optarg, 0, 1e6, &a->title_weight) != 0)
                return cli_bad_usage(PROG, "--title-weight wants a number >= 0");
            break;
        case OPT_RETUNE: a->retune = 1; break;
        case OPT_TARGET:
            if (cli_parse_double(optarg, 0, 1, &a->target) != 0 || a->target == 0)
                return cli_bad_usage(PROG, "--target wants a recall in (0, 1]");
            break;
        case OPT_SKIP_BAD: a->skip_bad = 1; break;
        case OPT_BATCH_DOCS:
            if (cli_parse_long(optarg, 1, 1000000000L, &a->batch_docs) != 0)
                return cli_bad_usage(PROG, "--batch-docs wants a positive number");
            break;
        case OPT_BATCH_MEMORY:
            if (cli_parse_long(optarg, 0, 1L << 30, &a->batch_memory) != 0)
                return cli_bad_usage(PROG, "--batch-memory wants a number of MiB (0: never spill)");
            break;
        case OPT_DELETE: a->delete_ids = 1; break;
        case OPT_COMPACT: a->compact = 1; break;
        case OPT_REBUILD: a->rebuild = 1; break;
        case OPT_CHECK: a->check = 1; break;
        case OPT_STATS: a->stats = 1; break;
        case OPT_JSON: a->json = 1; break;
        default:
            cli_getopt_error(PROG, c, argv);
            return cli_bad_usage(PROG, NULL);
        }
    }
    a->inputs = argv + optind;
    a->ninputs = argc - optind;
    if (!a->coll)
        return cli_bad_usage(PROG, "missing -c COLL");
    if (!*a->coll)
        return cli_bad_usage(PROG, "-c wants a collection path, not an empty one");
    int e = a->embedder ? check_embedder(a->embedder) : -1;
    if (e >= 0)
        return e;
    if (a->target > 0 && !a->retune)
        return cli_bad_usage(PROG, "--target goes with --retune");
    if (a->delete_ids && a->ninputs == 0)
        return cli_bad_usage(PROG, "--delete wants one or more document ids");
    if (a->ninputs == 0 && !a->compact && !a->check && !a->stats && !a->retune && !a->rebuild)
        return cli_bad_usage(PROG, "nothing to do: give INPUTs, --delete, --rebuild-index, "
                                   "--compact, --check, --retune or --stats");
    if (a->json && !a->stats)
        return cli_bad_usage(PROG, "--json goes with --stats");
    for (int i = 0; !a->delete_ids && a->format == LCTX_FORMAT_TEXT && i < a->ninputs; i++)
        if (strcmp(a->inputs[i], "-") == 0)
            return cli_bad_usage(PROG, "--format text: standard input ('-') is read as JSONL only");
    return -1;
}

/* ---------------------------------------------------------------- writing */

typedef struct warn_ctx {
    cli_progress *progress;
} warn_ctx;

static void on_warning(void *ctx, const char *message)
{
    warn_ctx *w = ctx;
    if (w && w->progress)
        cli_progress_clear(w->progress);
    cli_warn(PROG, "%s", message);
}

/* Sum of the input sizes when they are all regular files, else 0. */
static uint64_t inputs_size(const index_args *a)
{
    uint64_t total = 0;
    for (int i = 0; i < a->ninputs; i++) {
        struct stat st;
        if (strcmp(a->inputs[i], "-") == 0 || stat(a->inputs[i], &st) != 0 || !S_ISREG(st.st_mode))
            return 0;
        total += (uint64_t)st.st_size;
    }
    return total;
}

/* Refuses before touching the collection when an input does not exist, so
 * a typo never leaves a new, empty collection behind. Exit status or -1. */
static int inputs_exist(const index_args *a)
{
    for (int i = 0; i < a->ninputs; i++) {
        struct stat st;
        if (strcmp(a->inputs[i], "-") != 0 && stat(a->inputs[i], &st) != 0) {
            cli_error(PROG, "%s: %s", a->inputs[i], strerror(errno));
            cli_error(PROG, "nothing was committed");
            return CLI_EXIT_FAIL;
        }
    }
    return -1;
}

static uint64_t file_size(const char *path)
{
    struct stat st;
    if (strcmp(path, "-") == 0 || stat(path, &st) != 0 || !S_ISREG(st.st_mode))
        return 0;
    return (uint64_t)st.st_size;
}

/* After a failed batch (its error printed): what survived. A batch whose
 * catalog committed but whose index could not be written is not rolled
 * back but replayed at the next open, and the library's message says so. */
static void report_rollback(lctx_db *db, uint64_t committed)
{
    const char *m = lctx_errmsg(db);
    if (m && strstr(m, "will be replayed"))
        return;
    if (committed == 0)
        cli_error(PROG, "nothing was committed");
    else
        cli_error(PROG, "the open batch was rolled back; %llu %s in earlier batches are committed",
                  (unsigned long long)committed, cli_documents(committed));
}

/* Commits the open batch and reports it; committed: documents of earlier
 * batches. 0 or -1 (message printed). */
static int commit_batch(lctx_db *db, const index_args *a, uint64_t ndocs, uint64_t committed,
                        cli_progress *pg)
{
    uint64_t seq = 0;
    int rc = lctx_commit(db, &seq);
    cli_progress_clear(pg);
    if (rc != LCTX_OK) {
        cli_error(PROG, "%s", cli_db_error(db, rc));
        report_rollback(db, committed);
        lctx_rollback(db);
        return -1;
    }
    if (!a->quiet && ndocs == 0)    /* the library wrote nothing (lctx_commit) */
        fprintf(stderr, "%s: no new or changed documents; nothing to commit\n", PROG);
    else if (!a->quiet)
        fprintf(stderr, "%s: committed batch %llu: %llu %s\n", PROG,
                (unsigned long long)seq, (unsigned long long)ndocs, cli_documents(ndocs));
    return 0;
}

/* The failure path of adding: roll back, say what survived. */
static int ingest_failed(lctx_db *db, int rc, const char *input, uint64_t committed)
{
    const char *m = lctx_errmsg(db);
    if (m && *m)
        cli_error(PROG, "%s", m);
    else
        cli_error(PROG, "%s: %s", input, lctx_strstatus(rc));
    report_rollback(db, committed);
    lctx_rollback(db);
    return CLI_EXIT_FAIL;
}

/* What the library's ingest callbacks need: the progress bar, and with
 * --batch-docs the count of documents committed so far. */
typedef struct ingest_state {
    cli_progress *pg;
    int quiet;
    uint64_t committed;
} ingest_state;

static void on_progress(void *ctx, uint64_t done, uint64_t total)
{
    cli_progress_update(((ingest_state *)ctx)->pg, done, total);
}

static void on_committed(void *ctx, uint64_t seq, uint64_t ndocs)
{
    ingest_state *st = ctx;
    cli_progress_clear(st->pg);
    st->committed += ndocs;
    if (!st->quiet)
        fprintf(stderr, "%s: committed batch %llu: %llu %s\n", PROG,
                (unsigned long long)seq, (unsigned long long)ndocs, cli_documents(ndocs));
}

/* Adds every input. With --batch-docs N the library commits every N
 * documents (lctx_ingest_opts.commit_every, counted across inputs) and
 * reports each commit through on_committed; what is left after the last
 * input is committed here. */
static int add_inputs(lctx_db *db, const index_args *a, cli_progress *pg)
{
    ingest_state st = {pg, a->quiet, 0};
    lctx_ingest_opts io;
    lctx_ingest_opts_init(&io);
    io.format = a->format;
    io.skip_bad = a->skip_bad;
    io.progress = on_progress;
    io.progress_ctx = &st;
    io.commit_every = a->batch_docs > 0 ? (uint64_t)a->batch_docs : 0;
    io.committed = on_committed;

    if (a->batch_memory >= 0)
        lctx_set_batch_memory(db, (size_t)a->batch_memory << 20);
    double t0 = cli_now();
    uint64_t total = 0;
    int rc = lctx_begin(db);
    if (rc != LCTX_OK) {
        cli_error(PROG, "%s", cli_db_error(db, rc));
        return CLI_EXIT_FAIL;
    }
    for (int i = 0; i < a->ninputs; i++) {
        uint64_t n = 0;
        rc = lctx_ingest(db, a->inputs[i], &io, &n);
        cli_progress_input_done(pg, file_size(a->inputs[i]), n);
        if (rc != LCTX_OK) {
            cli_progress_clear(pg);
            return ingest_failed(db, rc, a->inputs[i], st.committed);
        }
        total += n;
    }
    /* The last automatic commit may have left an empty batch open. */
    if (st.committed > 0 && total == st.committed)
        lctx_rollback(db);
    else if (commit_batch(db, a, total - st.committed, st.committed, pg) != 0)
        return CLI_EXIT_FAIL;
    double secs = cli_now() - t0;
    if (!a->quiet)
        fprintf(stderr, "%s: indexed %llu %s in %.2f s (%.0f docs/s)\n", PROG,
                (unsigned long long)total, cli_documents(total), secs, secs > 0 ? (double)total / secs : 0.0);
    return CLI_EXIT_OK;
}

/* An id and where it was named. */
typedef struct named_id {
    const char *id;
    int pos;
} named_id;

static int by_id_then_position(const void *x, const void *y)
{
    const named_id *p = x, *q = y;
    int c = strcmp(p->id, q->id);
    return c ? c : (p->pos > q->pos) - (p->pos < q->pos);
}

/* again[i] = 1 when ids[i] was named before position i: an id named twice
 * is deleted once. Sorting keeps this O(n log n) (a pairwise scan took
 * minutes for 80,000 ids); NULL when out of memory. */
static unsigned char *repeated_ids(char **ids, int n)
{
    named_id *order = malloc((size_t)(n ? n : 1) * sizeof *order);
    unsigned char *again = calloc((size_t)(n ? n : 1), 1);
    if (!order || !again) {
        free(order);
        free(again);
        return NULL;
    }
    for (int i = 0; i < n; i++)
        order[i] = (named_id){ids[i], i};
    qsort(order, (size_t)n, sizeof *order, by_id_then_position);
    for (int k = 1; k < n; k++)
        again[order[k].pos] = strcmp(order[k].id, order[k - 1].id) == 0;
    free(order);
    return again;
}

static int delete_ids(lctx_db *db, const index_args *a)
{
    unsigned char *again = repeated_ids(a->inputs, a->ninputs);
    if (!again) {
        cli_error(PROG, "out of memory");
        return CLI_EXIT_FAIL;
    }
    int rc = lctx_begin(db);
    if (rc != LCTX_OK) {
        cli_error(PROG, "%s", cli_db_error(db, rc));
        free(again);
        return CLI_EXIT_FAIL;
    }
    int deleted = 0;
    for (int i = 0; i < a->ninputs; i++) {
        if (again[i])
            continue;
        deleted++;
        rc = lctx_delete(db, a->inputs[i]);
        if (rc != LCTX_OK) {
            if (rc == LCTX_ENOTFOUND)   /* file ids are stored tidied (lctx_ingest) */
                cli_error(PROG, "%s: no such document%s", a->inputs[i],
                          !strncmp(a->inputs[i], "./", 2) || strstr(a->inputs[i], "/./") ||
                          strstr(a->inputs[i], "//")
                              ? " (a file's id has no ./ or repeated slashes)" : "");
            else
                cli_error(PROG, "%s: %s", a->inputs[i], cli_db_error(db, rc));
            lctx_rollback(db);
            cli_error(PROG, "nothing was committed");
            free(again);
            return CLI_EXIT_FAIL;
        }
    }
    free(again);
    uint64_t seq = 0;
    rc = lctx_commit(db, &seq);
    if (rc != LCTX_OK) {
        cli_error(PROG, "%s", cli_db_error(db, rc));
        report_rollback(db, 0);
        lctx_rollback(db);
        return CLI_EXIT_FAIL;
    }
    if (!a->quiet)
        fprintf(stderr, "%s: committed batch %llu: deleted %d %s\n", PROG,
                (unsigned long long)seq, deleted, cli_documents((unsigned long long)deleted));
    return CLI_EXIT_OK;
}

/* ------------------------------------------------------------ maintenance */

static int maintain(lctx_db *db, const index_args *a)
{
    int rc;
    if (a->compact) {
        double t0 = cli_now();
        lctx_stats before, after;
        int sized = lctx_stats_get(db, &before) == LCTX_OK;
        if ((rc = lctx_compact(db)) != LCTX_OK) {
            cli_error(PROG, "compact: %s", cli_db_error(db, rc));
            return CLI_EXIT_FAIL;
        }
        sized = sized && lctx_stats_get(db, &after) == LCTX_OK;
        if (!a->quiet && sized)
            fprintf(stderr, "%s: compacted in %.2f s (%.1f MB on disk, was %.1f MB)\n", PROG,
                    cli_now() - t0, after.disk_bytes / 1e6, before.disk_bytes / 1e6);
        else if (!a->quiet)
            fprintf(stderr, "%s: compacted in %.2f s\n", PROG, cli_now() - t0);
    }
    if (a->retune) {
        double t0 = cli_now();
        if ((rc = lctx_retune(db, a->target)) != LCTX_OK) {
            cli_error(PROG, "retune: %s", cli_db_error(db, rc));
            return CLI_EXIT_FAIL;
        }
        if (!a->quiet && a->target > 0)
            fprintf(stderr, "%s: retuned in %.2f s; the collection's target recall@10 is now "
                    "%g\n", PROG, cli_now() - t0, a->target);
        else if (!a->quiet)
            fprintf(stderr, "%s: retuned in %.2f s\n", PROG, cli_now() - t0);
    }
    if (a->check) {
        if ((rc = lctx_check(db)) != LCTX_OK) {
            cli_error(PROG, "check: %s", cli_db_error(db, rc));
            return CLI_EXIT_FAIL;
        }
        if (!a->quiet)
            fprintf(stderr, "%s: check passed\n", PROG);
    }
    if (a->stats) {
        lctx_stats s;
        memset(&s, 0, sizeof s);
        if ((rc = lctx_stats_get(db, &s)) != LCTX_OK) {
            cli_error(PROG, "stats: %s", cli_db_error(db, rc));
            return CLI_EXIT_FAIL;
        }
        s.language[sizeof s.language - 1] = '\0';
        cli_print_stats(&s, a->json);
        if (s.awaiting_recovery)
            cli_warn(PROG, "%s: %llu committed batch(es) await recovery and are not counted yet "
                     "(the next write, or --check, replays them)", a->coll,
                     (unsigned long long)s.awaiting_recovery);
    }
    return CLI_EXIT_OK;
}

/* ------------------------------------------------------------------- main */

/* The creation settings the command names (cfg) against those the
 * collection has (s): the library keeps an existing collection's and
 * ignores cfg's, so a mismatch is reported here. --embedder none counts
 * too: the library takes "none" as "whatever the collection has" (searches
 * open that way); any other embedder spec the library compared at open
 * (with a bert: path made absolute). Returns the number of mismatches. */
static int settings_mismatch(const index_args *a, const lctx_stats *s, const char *coll)
{
    int bad = 0;
    const char *have = s->embedder[0] ? s->embedder : "none";
    if (a->embedder && !strcmp(a->embedder, "none") && strcmp(have, "none")) {
        cli_error(PROG, "%s: collection was created with embedder %s, not none", coll, have);
        bad++;
    }
    if (a->language && strcmp(a->language, s->language)) {
        cli_error(PROG, "%s: collection was created with language %s, not %s", coll,
                  s->language, a->language);
        bad++;
    }
    if (a->no_stopwords && s->stopwords) {
        cli_error(PROG, "%s: collection was created with stopwords on, not --no-stopwords",
                  coll);
        bad++;
    }
    if (a->accents && (a->accents == LCTX_ACCENTS_FOLD) != (s->fold_accents != 0)) {
        cli_error(PROG, "%s: collection was created with --accents %s", coll,
                  s->fold_accents ? "fold" : "keep");
        bad++;
    }
    if (a->chunk_words > 0 && a->chunk_words != s->chunk_words) {
        cli_error(PROG, "%s: collection was created with --chunk-words %d, not %ld", coll,
                  s->chunk_words, a->chunk_words);
        bad++;
    }
    struct { const char *opt; double want, have; } num[] = {
        {"--bm25-k1", a->bm25_k1, s->bm25_k1},
        {"--bm25-b", a->bm25_b, s->bm25_b},
        {"--title-weight", a->title_weight, s->title_weight},
    };
    for (size_t i = 0; i < sizeof num / sizeof num[0]; i++)
        if (num[i].want >= 0 && num[i].want != num[i].have) {
            cli_error(PROG, "%s: collection was created with %s %g, not %g", coll, num[i].opt,
                      num[i].have, num[i].want);
            bad++;
        }
    return bad;
}

/* Exit status when the command names settings that differ from the
 * collection's, or -1 to go on. */
static int settings_match(lctx_db *db, const index_args *a)
{
    if (!a->embedder && !a->language && !a->no_stopwords && !a->accents && a->chunk_words < 0 &&
        a->bm25_k1 < 0 && a->bm25_b < 0 && a->title_weight < 0)
        return -1;
    lctx_stats s = {0};
    int rc = lctx_stats_get(db, &s);
    if (rc != LCTX_OK) {
        cli_error(PROG, "%s: %s", a->coll, cli_db_error(db, rc));
        return CLI_EXIT_FAIL;
    }
    s.language[sizeof s.language - 1] = s.embedder[sizeof s.embedder - 1] = '\0';
    return settings_mismatch(a, &s, a->coll) ? CLI_EXIT_FAIL : -1;
}

static unsigned open_flags(const index_args *a)
{
    if (a->rebuild)
        return LCTX_OPEN_REBUILD_INDEX;
    if (a->ninputs > 0 && !a->delete_ids)
        return LCTX_OPEN_CREATE;
    if (a->ninputs == 0 && !a->compact && !a->check && !a->retune)
        return LCTX_OPEN_READONLY;   /* --stats alone never writes */
    /* --check replays a batch awaiting recovery first, which needs the
     * right to write; without it, it checks the collection as it stands
     * (a read-only open of a collection one cannot write keeps writers
     * out meanwhile, so both stores stand still). */
    if (a->ninputs == 0 && !a->compact && !a->retune &&
        faccessat(AT_FDCWD, a->coll, W_OK, AT_EACCESS) != 0 && errno != ENOENT)
        return LCTX_OPEN_READONLY;
    return 0;
}

int main(int argc, char **argv)
{
    index_args a;
    int status = parse_args(argc, argv, &a);
    if (status >= 0)
        return status;

    if (!a.delete_ids && (status = inputs_exist(&a)) >= 0)
        return status;

    /* A file that may not grow past the process's size limit (ulimit -f)
     * is a full disk to us: the write fails, the batch rolls back and we
     * say so, instead of dying of SIGXFSZ with no word. */
    signal(SIGXFSZ, SIG_IGN);

    cli_progress pg;
    cli_progress_init(&pg, stderr, !a.quiet && isatty(STDERR_FILENO), inputs_size(&a));
    warn_ctx wc = { &pg };

    lctx_db *db = NULL;
    lctx_config cfg;
    lctx_config_init(&cfg);
    if (a.embedder)
        cfg.embedder = a.embedder;
    if (a.language)
        cfg.language = a.language;
    if (a.no_stopwords)
        cfg.stopwords = 0;
    cfg.accents = a.accents;
    if (a.chunk_words > 0)
        cfg.chunk_words = (int)a.chunk_words;
    if (a.bm25_k1 >= 0)
        cfg.bm25_k1 = a.bm25_k1;
    if (a.bm25_b >= 0)
        cfg.bm25_b = a.bm25_b;
    if (a.title_weight >= 0)
        cfg.title_weight = a.title_weight;
    double t0 = cli_now();
    int rc = lctx_open(a.coll, open_flags(&a), &cfg, &db);
    if (rc == LCTX_OK && a.rebuild && !a.quiet)
        fprintf(stderr, "%s: rebuilt the index in %.2f s\n", PROG, cli_now() - t0);
    if (rc != LCTX_OK) {
        if (rc == LCTX_ENOTFOUND && !(open_flags(&a) & LCTX_OPEN_CREATE))
            cli_error(PROG, "%s: no such collection", a.coll);
        else
            cli_open_error(PROG, a.coll, db, rc);
        if (db)
            lctx_close(db);
        return CLI_EXIT_FAIL;
    }
    lctx_set_warning_handler(db, on_warning, &wc);
    if ((status = settings_match(db, &a)) >= 0) {
        lctx_close(db);
        return status;
    }

    status = CLI_EXIT_OK;
    if (a.ninputs > 0)
        status = a.delete_ids ? delete_ids(db, &a) : add_inputs(db, &a, &pg);
    if (status == CLI_EXIT_OK)
        status = maintain(db, &a);
    cli_progress_clear(&pg);

    rc = lctx_close(db);
    if (rc != LCTX_OK && status == CLI_EXIT_OK) {
        cli_error(PROG, "%s: close: %s", a.coll, lctx_strstatus(rc));
        status = CLI_EXIT_FAIL;
    }
    if (fflush(stdout) != 0 && status == CLI_EXIT_OK)
        status = CLI_EXIT_FAIL;
    return status;
}
