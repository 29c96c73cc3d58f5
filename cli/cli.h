/*
 * cli.h — shared pieces of the lctx command-line programs.
 *
 * Every cli/lctx-*.c file is one program; the other cli/ .c files are linked
 * into all of them (lctx-model included), so nothing here may define main()
 * and every external name starts with cli_. The programs talk to the engine
 * only through include/lctx.h; what lives here is what two programs share:
 *
 *   treceval.c   TREC evaluation: qrels and run files, nDCG@10, Recall@100,
 *                MRR@10, computed the way trec_eval computes them
 *   util.c       error printing with the program's name, number parsing,
 *                monotonic clock, small string helpers
 *   progress.c   the progress bar lctx-index draws on a terminal
 *   output.c     printing search hits as text or JSON
 *   stats.c      printing a collection's statistics (lctx-index --stats)
 *   batch.c      lctx-search's batch mode (BEIR queries -> TREC run -> metrics)
 *   interactive.c  lctx-search's readline session and its pipe twin
 *
 * Exit status convention of all programs: 0 success, 1 a failed operation,
 * 2 bad usage (CLI_EXIT_*).
 */
#ifndef LCTX_CLI_H
#define LCTX_CLI_H

#include <getopt.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#include "lctx.h"

#define CLI_EXIT_OK    0
#define CLI_EXIT_FAIL  1
#define CLI_EXIT_USAGE 2

/* ================================================================ util.c */

/* "PROG: message\n" on stderr, printf style. */
void cli_error(const char *prog, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* "PROG: warning: message\n" on stderr. */
void cli_warn(const char *prog, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Bad usage: "PROG: msg" (when msg is not NULL) and "Try 'PROG --help'."
 * on stderr; returns CLI_EXIT_USAGE. */
int cli_bad_usage(const char *prog, const char *msg);
/* Parses a whole decimal integer in [lo, hi]; 0 on success, -1 otherwise. */
int cli_parse_long(const char *s, long lo, long hi, long *out);
/* Parses a whole number (strtod's forms, finite) in [lo, hi]; 0 or -1. */
int cli_parse_double(const char *s, double lo, double hi, double *out);
/* "document" for 1, "documents" otherwise: the noun of a count in messages. */
const char *cli_documents(unsigned long long n);
/* Reports getopt_long's ':' (missing argument) or '?' (unknown option);
 * the optstring must start with ":". */
void cli_getopt_error(const char *prog, int c, char **argv);
/* The same, with hint (NULL for none) after an unknown option's name, on
 * the same line. */
void cli_getopt_error_hint(const char *prog, int c, char **argv, const char *hint);
/* After getopt_long refused an option: 1 when a word (non-option argument)
 * comes before it in orig_argv, a copy of argv taken before the getopt
 * loop (getopt reorders argv). Restarts getopt; call it last. */
int cli_getopt_after_words(int argc, char **orig_argv, const char *optstring,
                           const struct option *longopts);
/* Seconds from a monotonic clock. */
double cli_now(void);
/* The message of the last failure on db, or the status name when the
 * library left none (or db is NULL). */
const char *cli_db_error(const lctx_db *db, int status);
/* Reports a failed lctx_open of path (db may be NULL). */
void cli_open_error(const char *prog, const char *path, const lctx_db *db, int status);

/* U+FFFD, what a byte that cannot be shown or stored is replaced with. */
#define CLI_REPLACEMENT "\xef\xbf\xbd"
/* Decodes the UTF-8 sequence at s (n bytes available): its length (1..4)
 * with the code point in *cp, or 0 when the bytes at s are not valid UTF-8
 * (overlong forms, surrogates and truncated sequences included). */
size_t cli_utf8_next(const char *s, size_t n, uint32_t *cp);
/* 0 when s[0..n) is valid UTF-8 without NULs, else -1 with the offset of
 * the first bad byte in *bad. */
int cli_utf8_check(const char *s, size_t n, size_t *bad);
/* Copies s[0..n) as valid UTF-8 without NULs: each invalid byte and each
 * NUL becomes U+FFFD. malloc'd, NULL on ENOMEM. */
char *cli_utf8_repair(const char *s, size_t n);

/* ============================================================ treceval.c */

/* One judgment: document docid judged for query qid at level rel. trec_eval
 * counts a document relevant when rel >= 1; negative levels are allowed and
 * mean "judged non-relevant". */
typedef struct cli_judgment {
    char *qid;
    char *docid;
    int rel;
} cli_judgment;

typedef struct cli_qrels {
    cli_judgment *v;
    size_t n, cap;
    int sorted;             /* v sorted by (qid, docid) */
} cli_qrels;

/* One line of a run: document docid retrieved for query qid with score. The
 * rank column of a TREC run is ignored, as trec_eval ignores it. */
typedef struct cli_run_entry {
    char *qid;
    char *docid;
    double score;
} cli_run_entry;

typedef struct cli_run {
    cli_run_entry *v;
    size_t n, cap;
    int sorted;             /* v in evaluation order, see cli_run_finish */
} cli_run;

typedef struct cli_metrics {
    size_t queries;         /* queries the means are over */
    double ndcg10;          /* nDCG@10, gain = relevance level */
    double recall100;       /* relevant retrieved in the top 100 / relevant */
    double mrr10;           /* 1/rank of the first relevant in the top 10 */
} cli_metrics;

/* Which queries the means are over. Queries whose judgments hold no
 * relevant document are always left out. */
enum cli_eval_over {
    CLI_EVAL_RUN_QUERIES = 0,  /* queries of the qrels that the run answers (trec_eval's default) */
    CLI_EVAL_ALL_QRELS,        /* every query of the qrels; unanswered ones score 0 (trec_eval -c) */
    CLI_EVAL_LISTED            /* queries of the qrels named in the list; unanswered ones score 0 */
};

typedef struct cli_eval_opts {
    enum cli_eval_over over;
    const char *const *qids;   /* CLI_EVAL_LISTED: the list (any order, duplicates allowed) */
    size_t nqids;
    /* Called once per evaluated query, in qid order, when not NULL. */
    void (*per_query)(void *ctx, const char *qid, const cli_metrics *m);
    void *ctx;
} cli_eval_opts;

/* Adds one judgment/run line (the strings are copied). 0 or -1 on ENOMEM. */
int cli_qrels_add(cli_qrels *q, const char *qid, const char *docid, int rel);
int cli_run_add(cli_run *r, const char *qid, const char *docid, double score);
void cli_qrels_free(cli_qrels *q);
void cli_run_free(cli_run *r);

/* Reads a qrels file: BEIR TSV ("query-id corpus-id score", header line
 * optional) or TREC ("qid iter docid rel"). On failure returns -1 with
 * "FILE:LINE: reason" in err. */
int cli_qrels_load(const char *path, cli_qrels *q, char *err, size_t errlen);
/* Reads a TREC run ("qid Q0 docid rank score tag"). Same error contract. */
int cli_run_load(const char *path, cli_run *r, char *err, size_t errlen);

/* Puts the run in trec_eval's evaluation order: by qid, then score
 * descending, then docid descending (strcmp), and refuses a document listed
 * twice for one query. Called by cli_evaluate; 0 or -1 with err set. */
int cli_run_finish(cli_run *r, char *err, size_t errlen);

/* Computes the means. 0 on success; -1 with err set (duplicate run lines,
 * ENOMEM). out->queries == 0 when no query qualified (all means 0). */
int cli_evaluate(cli_qrels *q, cli_run *r, const cli_eval_opts *opts,
                 cli_metrics *out, char *err, size_t errlen);

/* The metrics as a cJSON object (rounded to 4 decimals); NULL on ENOMEM. */
cJSON *cli_metrics_json(const cli_metrics *m);
/* Prints the metrics as "name value" lines, or with json as one object
 * {"queries":N,"ndcg_10":x,"recall_100":x,"mrr_10":x}. */
void cli_metrics_print(FILE *f, const cli_metrics *m, int json);

/* ============================================================ progress.c */

/* A one-line progress bar redrawn in place on a terminal. Does nothing when
 * not enabled, so callers need no checks of their own. */
typedef struct cli_progress {
    FILE *out;
    int enabled;
    double started;         /* cli_now() at cli_progress_init */
    double last_draw;
    uint64_t base_bytes;    /* bytes of inputs already finished */
    uint64_t total_bytes;   /* of all inputs, 0 when unknown */
    uint64_t docs;          /* documents of inputs already finished */
    int drawn;              /* a line is on screen and needs clearing */
} cli_progress;

void cli_progress_init(cli_progress *p, FILE *out, int enabled, uint64_t total_bytes);
/* lctx_ingest_opts.progress adapter: ctx is a cli_progress; done/total are
 * of the current input. */
void cli_progress_update(void *ctx, uint64_t done, uint64_t total);
/* An input finished: adds its bytes and documents to the base. */
void cli_progress_input_done(cli_progress *p, uint64_t bytes, uint64_t docs);
/* Erases the bar so the next message starts on a clean line. */
void cli_progress_clear(cli_progress *p);

/* ============================================================== output.c */

typedef struct cli_output_opts {
    int json;               /* one JSON object per query */
    int explain;            /* show hit.explain */
    int color;              /* ANSI bold highlights (text output on a terminal) */
} cli_output_opts;

/* Prints one query's results to f. elapsed_ms goes into the JSON object. */
void cli_print_results(FILE *f, const char *query, const lctx_results *res,
                       double elapsed_ms, const cli_output_opts *o);

/* Prints o to f as one line of JSON ("{}" when o is NULL or cannot be
 * printed) and frees o. */
void cli_print_json(FILE *f, cJSON *o);

/* Writes s for a terminal: control characters (C0, DEL, C1) and bytes that
 * are not UTF-8 become U+FFFD, so text from a document or an input line
 * cannot send the terminal an escape sequence. */
void cli_put_terminal(FILE *f, const char *s);

/* =============================================================== stats.c */

/* Prints s on stdout: "key: value" lines, or with json one JSON object. */
void cli_print_stats(const lctx_stats *s, int json);

/* =============================================================== batch.c */

typedef struct cli_batch_opts {
    const char *queries;    /* BEIR queries JSONL (_id|id, text|query) */
    const char *run;        /* TREC run output, "-" = stdout, NULL = none */
    const char *qrels;      /* NULL = no evaluation */
    const char *tag;        /* run tag, default "lctx" */
    int json;               /* metrics as JSON */
    lctx_search_opts search;
} cli_batch_opts;

/* Runs every query, writes the run, prints metrics. Returns an exit status. */
int cli_batch_run(const char *prog, lctx_db *db, const cli_batch_opts *o);

/* ========================================================= interactive.c */

typedef struct cli_session_opts {
    lctx_search_opts search;  /* changed by :k, :mode, :explain, :filter */
    cli_output_opts out;
} cli_session_opts;

/* Readline session on a terminal: history, :commands. Exit status. */
int cli_interactive(const char *prog, lctx_db *db, cli_session_opts *o);
/* One query per line from f, each answered in turn. Exit status. */
int cli_answer_lines(const char *prog, lctx_db *db, FILE *f, const cli_session_opts *o);
/* Runs one query and prints it; shared by one-shot, pipe and session modes.
 * where (NULL for none) says which of many queries it is ("stdin:3") and
 * prefixes its messages. A failed query goes to cli_answer_failed. Returns
 * an exit status. */
int cli_answer(const char *prog, lctx_db *db, const char *query, const char *where,
               const lctx_search_opts *so, const cli_output_opts *oo);
/* Reports a query that failed, or could not be asked (query[0..len) may be
 * any bytes): the reason on stderr and, with JSON output, the object
 * {"query":Q,"hits":[],"error":REASON} on stdout, Q made valid UTF-8. */
void cli_answer_failed(const char *prog, const char *query, size_t len, const char *where,
                       const char *reason, const cli_output_opts *oo);

#endif /* LCTX_CLI_H */
