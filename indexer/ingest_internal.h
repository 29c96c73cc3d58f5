/*
 * ingest_internal.h — what the input readers share among themselves.
 *
 * ingest.c walks paths and dispatches; ingest_jsonl.c reads JSONL/BEIR;
 * ingest_files.c reads plain-text and markdown files. A run carries the
 * caller's options and callbacks, the error buffer, and the progress count,
 * so the readers need no state of their own. Private to those three files.
 */
#ifndef LCTX_INGEST_INTERNAL_H
#define LCTX_INGEST_INTERNAL_H

#include "indexer/indexer.h"

typedef struct ingest_run {
    const ingest_opts *opts;
    ingest_doc_fn fn;
    char *err;
    size_t errlen;
    uint64_t done, total;        /* bytes, for progress; total 0 = unknown */
    uint64_t reported;           /* done at the last progress call */
} ingest_run;

#if defined(__GNUC__)
#define INGEST_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define INGEST_PRINTF(a, b)
#endif

/* Sends a formatted warning to opts->warn (if any). */
void ingest_warn(ingest_run *r, const char *fmt, ...) INGEST_PRINTF(2, 3);
/* Writes a formatted error into the run's buffer; returns -1. */
int ingest_fail(ingest_run *r, const char *fmt, ...) INGEST_PRINTF(2, 3);
/* Counts bytes done; reports every MiB, and always when force is set. */
void ingest_progress(ingest_run *r, uint64_t bytes, int force);

/* Reads the JSONL file at path ("-": stdin). Returns 0, -1 with the error
 * set, or the callback's non-zero value. */
int ingest_jsonl_file(ingest_run *r, const char *path);
int ingest_jsonl_stream(ingest_run *r, FILE *f, const char *name);

/* Reads one plain-text/markdown file as one document with the given id.
 * Binary and empty files are skipped with a warning; invalid UTF-8 is
 * repaired with a warning. Same returns as above. */
int ingest_text_file(ingest_run *r, const char *path, const char *id);

/* 1 when the name has a markdown extension (.md, .markdown). */
int ingest_is_markdown(const char *name);

#endif /* LCTX_INGEST_INTERNAL_H */
