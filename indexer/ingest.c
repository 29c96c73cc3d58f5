/*
 * ingest.c — from a path on the command line to a stream of documents.
 *
 * ingest_path decides what a path is and hands each document to the
 * caller's callback, one at a time, so memory stays flat however large the
 * corpus:
 *
 *   "-"              JSONL on stdin.
 *   a BEIR folder    a directory holding corpus.jsonl: that file is the
 *                    corpus (queries.jsonl and qrels/ are for evaluation).
 *   a directory      walked recursively. Entries are visited in byte order
 *                    of their names so that two runs over the same tree
 *                    index the same documents in the same order. Hidden
 *                    entries (".git", ".DS_Store") are skipped silently, as
 *                    are symlinks to directories (a link back up the tree
 *                    would loop forever; symlinks to files are read) and
 *                    the collection's own folder, should it lie inside.
 *                    Text files (.txt .md .markdown .rst .text, or no
 *                    extension) become one document each; .jsonl/.ndjson
 *                    files are read as JSONL; other files are passed over,
 *                    and one warning at the end counts them, with a few of
 *                    their extensions, so that a tree of .c or .html files
 *                    does not index as "0 documents" without a word. With
 *                    the TEXT format every regular file is read as text.
 *   a file           .jsonl/.ndjson as JSONL, anything else as text (the
 *                    user named it, so the extension is not second-guessed;
 *                    binary content is still skipped with a warning).
 *
 * A text file's id is its path as given, tidied (ingest_path_id): the
 * file named, or the directory named joined with the path below it. So
 * "lctx-index -c C proj1 proj2" keeps proj1/README.md and proj2/README.md
 * apart, indexing the same tree again with the same spelling replaces each
 * document, and "--delete ~/notes/old.txt" names what "~/notes" indexed.
 * Ids are UTF-8 text, so a file whose name is not valid UTF-8 is skipped
 * with a warning (named on the command line, it is an error).
 *
 * A forced format changes the reading: TEXT reads every file as text,
 * JSONL reads only JSONL files (and a BEIR folder's corpus.jsonl), BEIR
 * wants a BEIR folder (a directory without corpus.jsonl is an error: the
 * user said what it was) or a JSONL file.
 *
 * Progress is reported in bytes. The walk first lists the files, so the
 * total is known before the first document; for stdin it is 0 (unknown).
 */
#include "indexer/indexer.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define INGEST_MAX_DEPTH 128
#define INGEST_PROGRESS_STEP (1u << 20)

enum { KIND_SKIP = 0, KIND_TEXT, KIND_JSONL };

typedef struct walk_entry {
    char *path;     /* as opened */
    char *id;       /* relative to the walked directory */
    int kind;
    uint64_t size;
} walk_entry;

/* What a walk found: the files to read, and what it passed over. */
typedef struct walk_list {
    walk_entry *v;
    size_t n, cap;
    size_t passed;              /* files not ours to read by their names */
    char exts[4][16];           /* a few of their extensions, for the warning */
    int n_exts, more_exts;      /* more_exts: some did not fit */
    int has_skip;               /* skip_dev/skip_ino: the collection's folder */
    dev_t skip_dev;
    ino_t skip_ino;
} walk_list;

/* ----------------------------------------------------------- messages */

void ingest_run_warn(ingest_run *r, const char *fmt, ...)
{
    char msg[4096];
    va_list ap;

    if (!r->opts->warn)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    r->opts->warn(r->opts->ctx, msg);
}

int ingest_run_fail(ingest_run *r, const char *fmt, ...)
{
    va_list ap;

    if (r->err && r->errlen) {
        va_start(ap, fmt);
        vsnprintf(r->err, r->errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

void ingest_run_progress(ingest_run *r, uint64_t bytes, int force)
{
    r->done += bytes;
    if (!r->opts->progress)
        return;
    if (force || r->done - r->reported >= INGEST_PROGRESS_STEP) {
        r->reported = r->done;
        r->opts->progress(r->opts->ctx, r->done,
                          r->total && r->done > r->total ? r->done : r->total);
    }
}

/* ----------------------------------------------------------- kinds */

static const char *ingest_ext(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot && dot != name ? dot + 1 : NULL;
}

static int ingest_is_jsonl_name(const char *name)
{
    const char *e = ingest_ext(name);
    return e && (strcmp(e, "jsonl") == 0 || strcmp(e, "ndjson") == 0);
}

/* What a directory walk does with a file of this name. A forced TEXT
 * format reads every file as text, whatever its name (.jsonl too): the
 * user asked for it, and the passed-over warning tells them to. Binary
 * files are still skipped, by their bytes, when they are read. */
static int ingest_kind_in_dir(const char *name, ingest_format fmt)
{
    static const char *const text_exts[] = { "txt", "md", "markdown", "rst", "text" };
    const char *e = ingest_ext(name);
    size_t i;

    if (fmt == INGEST_TEXT)
        return KIND_TEXT;
    if (ingest_is_jsonl_name(name))
        return KIND_JSONL;
    if (fmt == INGEST_JSONL || fmt == INGEST_BEIR)
        return KIND_SKIP;
    if (!e)
        return KIND_TEXT;
    for (i = 0; i < sizeof text_exts / sizeof text_exts[0]; i++)
        if (strcasecmp(e, text_exts[i]) == 0)
            return KIND_TEXT;
    return KIND_SKIP;
}

/* ----------------------------------------------------------- walking */

static void walk_free(walk_list *l)
{
    size_t i;
    for (i = 0; i < l->n; i++) {
        free(l->v[i].path);
        free(l->v[i].id);
    }
    free(l->v);
}

static char *ingest_join(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    int slash = la > 0 && a[la - 1] != '/';
    char *p = malloc(la + slash + lb + 1);
    if (!p)
        return NULL;
    memcpy(p, a, la);
    if (slash)
        p[la] = '/';
    memcpy(p + la + slash, b, lb + 1);
    return p;
}

/* A tidy copy of path for ids: no "." components, no repeated or
 * trailing slashes ("./docs//a.md" gives "docs/a.md", "." gives ""). */
static char *ingest_path_id(const char *path)
{
    size_t len = strlen(path), n = 0;
    char *id = malloc(len + 1);
    if (!id)
        return NULL;
    const char *p = path;
    if (*p == '/')
        id[n++] = '/';
    while (*p) {
        while (*p == '/')
            p++;
        const char *end = strchr(p, '/');
        size_t seg = end ? (size_t)(end - p) : strlen(p);
        if (seg && !(seg == 1 && p[0] == '.')) {
            if (n && id[n - 1] != '/')
                id[n++] = '/';
            memcpy(id + n, p, seg);
            n += seg;
        }
        p += seg;
    }
    id[n] = '\0';
    return id;
}

/* Counts a file passed over by its name, keeping a few extensions. */
static void walk_pass_over(walk_list *l, const char *name)
{
    const char *e = ingest_ext(name);
    l->passed++;
    for (int i = 0; e && i < l->n_exts; i++)
        if (strcmp(l->exts[i], e) == 0)
            return;
    if (!e || strlen(e) >= sizeof l->exts[0] || l->n_exts == 4)
        l->more_exts = 1;
    else
        snprintf(l->exts[l->n_exts++], sizeof l->exts[0], "%s", e);
}

static int walk_push(walk_list *l, char *path, char *id, int kind, uint64_t size)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        walk_entry *v = realloc(l->v, cap * sizeof *v);
        if (!v)
            return -1;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n].path = path;
    l->v[l->n].id = id;
    l->v[l->n].kind = kind;
    l->v[l->n].size = size;
    l->n++;
    return 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Lists the visible names of dir, sorted. */
static int walk_names(ingest_run *r, const char *dir, char ***out, size_t *n_out)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char **names = NULL;
    size_t n = 0, cap = 0;

    if (!d)
        return ingest_run_fail(r, "%s: %s", dir, strerror(errno));
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;       /* hidden, ".", ".." */
        if (n == cap) {
            cap = cap ? cap * 2 : 32;
            char **p = realloc(names, cap * sizeof *p);
            if (!p)
                goto nomem;
            names = p;
        }
        if (!(names[n] = strdup(de->d_name)))
            goto nomem;
        n++;
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof *names, cmp_names);
    *out = names;
    *n_out = n;
    return 0;
nomem:
    closedir(d);
    while (n > 0)
        free(names[--n]);
    free(names);
    return ingest_run_fail(r, "%s: out of memory", dir);
}

static int walk_dir(ingest_run *r, const char *dir, const char *rel, int depth,
                    walk_list *out);

/* One directory entry: recurse, list, or pass over. */
static int walk_entry_at(ingest_run *r, const char *dir, const char *rel,
                         const char *name, int depth, walk_list *out)
{
    struct stat lst, st;
    char *path = ingest_join(dir, name);
    char *id = rel[0] ? ingest_join(rel, name) : strdup(name);
    int rc = 0, kind;
    size_t bad;

    if (!path || !id) {
        rc = ingest_run_fail(r, "%s: out of memory", dir);
        goto done;
    }
    if (lstat(path, &lst) != 0 || stat(path, &st) != 0) {
        ingest_run_warn(r, "%s: %s, skipped", path, strerror(errno));
        goto done;
    }
    if (out->has_skip && st.st_dev == out->skip_dev && st.st_ino == out->skip_ino)
        goto done;          /* the collection itself */
    if (!utf8_validate(name, strlen(name), &bad)) {
        ingest_run_warn(r, "%s: name is not valid UTF-8 (byte %zu), skipped", path, bad);
        goto done;
    }
    if (S_ISDIR(st.st_mode)) {
        if (!S_ISLNK(lst.st_mode))
            rc = walk_dir(r, path, id, depth + 1, out);
        goto done;
    }
    if (!S_ISREG(st.st_mode))
        goto done;          /* fifos, sockets, devices */
    kind = ingest_kind_in_dir(name, r->opts->format);
    if (kind == KIND_SKIP) {
        walk_pass_over(out, name);
        goto done;
    }
    if (walk_push(out, path, id, kind, (uint64_t)st.st_size) < 0) {
        rc = ingest_run_fail(r, "%s: out of memory", dir);
        goto done;
    }
    return 0;               /* the list owns path and id now */
done:
    free(path);
    free(id);
    return rc;
}

static int walk_dir(ingest_run *r, const char *dir, const char *rel, int depth,
                    walk_list *out)
{
    char **names = NULL;
    size_t n = 0, i;
    int rc;

    if (depth > INGEST_MAX_DEPTH) {
        ingest_run_warn(r, "%s: nested too deep, skipped", dir);
        return 0;
    }
    if ((rc = walk_names(r, dir, &names, &n)) != 0)
        return rc;
    for (i = 0; i < n && rc == 0; i++)
        rc = walk_entry_at(r, dir, rel, names[i], depth, out);
    for (i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc;
}

/* The collection's folder, when it exists, as skip_dev/skip_ino. */
static void walk_skip_collection(const ingest_opts *opts, walk_list *l)
{
    struct stat st;
    if (opts->collection && stat(opts->collection, &st) == 0) {
        l->has_skip = 1;
        l->skip_dev = st.st_dev;
        l->skip_ino = st.st_ino;
    }
}

static void walk_report_passed(ingest_run *r, const char *dir, const walk_list *l)
{
    char exts[80] = "";
    size_t used = 0;
    if (!l->passed)
        return;
    for (int i = 0; i < l->n_exts && used < sizeof exts; i++)
        used += (size_t)snprintf(exts + used, sizeof exts - used, "%s.%s", i ? " " : " (",
                                 l->exts[i]);
    if (l->n_exts && used < sizeof exts)
        snprintf(exts + used, sizeof exts - used, "%s)", l->more_exts ? " ..." : "");
    int jsonl = r->opts->format == INGEST_JSONL || r->opts->format == INGEST_BEIR;
    ingest_run_warn(r, "%s: %zu file%s passed over, not %s by name%s%s", dir, l->passed,
                    l->passed == 1 ? "" : "s", jsonl ? "JSONL" : "text or JSONL", exts,
                    jsonl ? "" : "; name them, or read every file as text (format text)");
}

static int ingest_dir(ingest_run *r, const char *dir)
{
    walk_list l = { 0 };
    size_t i;
    char *prefix = ingest_path_id(dir);
    if (!prefix)
        return ingest_run_fail(r, "%s: out of memory", dir);
    walk_skip_collection(r->opts, &l);
    int rc = walk_dir(r, dir, prefix, 0, &l);
    free(prefix);
    if (rc == 0)
        walk_report_passed(r, dir, &l);
    for (i = 0; rc == 0 && i < l.n; i++)
        r->total += l.v[i].size;
    for (i = 0; rc == 0 && i < l.n; i++) {
        if (l.v[i].kind == KIND_JSONL)
            rc = ingest_jsonl_file(r, l.v[i].path);
        else
            rc = ingest_text_file(r, l.v[i].path, l.v[i].id);
    }
    walk_free(&l);
    return rc;
}

/* ----------------------------------------------------------- entry */

/* A text file named on the command line: id its tidied path. */
static int ingest_named_text(ingest_run *r, const char *path)
{
    size_t bad;
    if (!utf8_validate(path, strlen(path), &bad))
        return ingest_run_fail(r, "%s: name is not valid UTF-8 (byte %zu); ids are UTF-8 text, "
                               "so rename it", path, bad);
    char *id = ingest_path_id(path);
    if (!id)
        return ingest_run_fail(r, "%s: out of memory", path);
    int rc = ingest_text_file(r, path, id);
    free(id);
    return rc;
}

/* 1 when path is the collection's folder (reading it would index the
 * collection's own files). */
static int ingest_is_collection(const ingest_opts *opts, const struct stat *st)
{
    walk_list l = { 0 };
    walk_skip_collection(opts, &l);
    return l.has_skip && st->st_dev == l.skip_dev && st->st_ino == l.skip_ino;
}

int ingest_path(const char *path, const ingest_opts *opts, ingest_doc_fn fn,
                char *err, size_t errlen)
{
    ingest_opts defaults;
    ingest_run r;
    struct stat st;
    int rc;

    if (err && errlen)
        err[0] = '\0';
    if (!opts) {
        memset(&defaults, 0, sizeof defaults);
        opts = &defaults;
    }
    memset(&r, 0, sizeof r);
    r.opts = opts;
    r.fn = fn;
    r.err = err;
    r.errlen = errlen;
    if (!path || !*path || !fn)
        return ingest_run_fail(&r, "ingest: no input path");

    if (strcmp(path, "-") == 0) {
        if (opts->format == INGEST_TEXT)
            return ingest_run_fail(&r, "-: standard input is read as JSONL only");
        rc = ingest_jsonl_stream(&r, stdin, "-");
    } else if (stat(path, &st) != 0) {
        return ingest_run_fail(&r, "%s: %s", path, strerror(errno));
    } else if (ingest_is_collection(opts, &st)) {
        return ingest_run_fail(&r, "%s: is the collection itself, not an input", path);
    } else if (S_ISDIR(st.st_mode)) {
        char *corpus = ingest_join(path, "corpus.jsonl");
        struct stat cst;
        if (!corpus)
            return ingest_run_fail(&r, "%s: out of memory", path);
        if (opts->format != INGEST_TEXT && stat(corpus, &cst) == 0 && S_ISREG(cst.st_mode)) {
            r.total = (uint64_t)cst.st_size;
            rc = ingest_jsonl_file(&r, corpus);
        } else if (opts->format == INGEST_BEIR) {
            rc = ingest_run_fail(&r, "%s: not a BEIR folder (no corpus.jsonl in it)", path);
        } else {
            rc = ingest_dir(&r, path);
        }
        free(corpus);
    } else {
        r.total = S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0;
        int jsonl = opts->format == INGEST_JSONL || opts->format == INGEST_BEIR ||
                    (opts->format == INGEST_AUTO && ingest_is_jsonl_name(path));
        rc = jsonl ? ingest_jsonl_file(&r, path) : ingest_named_text(&r, path);
    }
    if (rc == 0)
        ingest_run_progress(&r, 0, 1);
    return rc;
}
