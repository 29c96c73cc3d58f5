/*
 * ingest_files.c — reading one plain-text or markdown file as a document.
 *
 * The whole file becomes the document text (the chunker splits it into
 * passages later). What needs care is what a plain file lacks:
 *
 *   encoding  we only store UTF-8. A file that is not valid UTF-8 is most
 *             likely Latin-1 or damaged; it is repaired (each bad sequence
 *             becomes U+FFFD) with a warning naming the first bad byte,
 *             rather than refused: one odd byte should not cost a document.
 *             A UTF-8 byte order mark is dropped. UTF-16 with its byte
 *             order mark (Windows' "Unicode" text) is decoded to UTF-8
 *             first, and judged binary, empty or too big as decoded.
 *   binary    images, archives and object files that happen to sit in a
 *             directory are skipped with a warning, judged by the bytes
 *             (utf8_looks_binary), not by the name.
 *   title     YAML front matter's "title:" in markdown; else the first
 *             non-empty line when it is a heading ("# Intro" gives
 *             "Intro") or short enough to be a title; else, in markdown,
 *             the first heading near the top; else the file name.
 *   empty     a file with nothing but whitespace is skipped with a warning:
 *             it would be a document nothing can ever match.
 */
#include "indexer/indexer.h"
#include "lctx.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define FILES_TITLE_MAX_LINE 120   /* a first line longer than this is prose, not a title */
#define FILES_HEADING_MAX 300
#define FILES_HEADING_SCAN 4096    /* markdown: look for a heading this far in */

int ingest_is_markdown(const char *name)
{
    const char *dot = strrchr(name, '.');
    const char *slash = strrchr(name, '/');
    if (!dot || (slash && dot < slash))
        return 0;
    return strcmp(dot, ".md") == 0 || strcmp(dot, ".markdown") == 0 ||
           strcmp(dot, ".MD") == 0;
}

/* files_slurp's answers besides 0 and errno values. */
#define FILES_BINARY (-1)
#define FILES_TOO_BIG (-2)
/* The head that decides binary or text: what utf8_looks_binary inspects,
 * after a byte order mark. */
#define FILES_HEAD (8192 + 3)

/* 1 when the head of a file (its first bytes, len of them) is binary. */
static int files_head_binary(const char *s, size_t len)
{
    if (len >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) {
        s += 3;
        len -= 3;
    }
    return utf8_looks_binary(s, len);
}

/* The most bytes a UTF-16 file of LCTX_MAX_TEXT bytes of UTF-8 can take
 * (ASCII: two bytes each), its mark included. */
#define FILES_UTF16_MAX (2 * (size_t)LCTX_MAX_TEXT + 2)

/* Reads the whole file into a malloc'd, NUL-terminated buffer. Returns 0,
 * an errno value, FILES_BINARY when its head is binary, or FILES_TOO_BIG
 * past LCTX_MAX_TEXT. The head is judged before the rest is read, and the
 * size checked as it grows: a disk image or /dev/zero, named by mistake,
 * is refused at once instead of filling memory. A head with a UTF-16 byte
 * order mark is not judged here (its NUL bytes are text) and may be up to
 * twice as long; *utf16 gets its order (utf16_bom), for the caller to
 * decode and judge. On FILES_BINARY and FILES_TOO_BIG, *out_len is the
 * file's size, the bytes the skip accounts for in progress (a walk's total
 * counts every file it listed). */
static int files_slurp(const char *path, char **out, size_t *out_len, int *utf16)
{
    FILE *f = fopen(path, "rb");
    struct stat st;
    size_t cap, len = 0, limit = FILES_UTF16_MAX;
    int judged = 0, rc = 0;
    char *buf;

    *utf16 = 0;
    if (!f)
        return errno;
    int regular = fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode);
    *out_len = regular ? (size_t)st.st_size : 0;
    if (regular && (uint64_t)st.st_size > limit) {
        fclose(f);
        return FILES_TOO_BIG;
    }
    cap = regular && st.st_size > 0 ? (size_t)st.st_size + 1 : 4096;
    if (cap < FILES_HEAD + 1)
        cap = FILES_HEAD + 1;
    if (!(buf = malloc(cap))) {
        fclose(f);
        return ENOMEM;
    }
    for (;;) {
        /* the head first, then the rest */
        size_t want = judged ? cap - len - 1 : FILES_HEAD - len;
        size_t n = fread(buf + len, 1, want, f);
        len += n;
        int eof = n < want;
        if (eof && ferror(f)) {
            rc = errno ? errno : EIO;
            break;
        }
        if (!judged && (eof || len == FILES_HEAD)) {
            judged = 1;
            *utf16 = utf16_bom(buf, len);
            if (!*utf16)
                limit = LCTX_MAX_TEXT + 3;
            if (regular && (uint64_t)st.st_size > limit) {
                rc = FILES_TOO_BIG;
                break;
            }
            if (!*utf16 && files_head_binary(buf, len)) {
                rc = FILES_BINARY;
                break;
            }
        }
        if (len > limit) {
            rc = FILES_TOO_BIG;
            break;
        }
        if (eof)
            break;
        if (len + 1 == cap) {   /* the file grew since fstat, or is no file */
            char *p = realloc(buf, cap * 2);
            if (!p) {
                rc = ENOMEM;
                break;
            }
            buf = p;
            cap *= 2;
        }
    }
    fclose(f);
    if (rc) {
        free(buf);
        if (!regular && (rc == FILES_BINARY || rc == FILES_TOO_BIG))
            *out_len = len;
        return rc;
    }
    buf[len] = '\0';
    *out = buf;
    *out_len = len;
    return 0;
}

static int files_is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

/* Trims [*a, *b) of surrounding spaces. */
static void files_trim(const char *s, size_t *a, size_t *b)
{
    while (*a < *b && files_is_space(s[*a]))
        (*a)++;
    while (*b > *a && files_is_space(s[*b - 1]))
        (*b)--;
}

/* The next line [*a, *b) starting at i; returns the offset after it. */
static size_t files_line(const char *s, size_t len, size_t i, size_t *a, size_t *b)
{
    const char *nl = memchr(s + i, '\n', len - i);
    size_t e = nl ? (size_t)(nl - s) : len;
    *a = i;
    *b = e;
    return nl ? e + 1 : len;
}

/* If the line is an ATX heading, narrows [*a, *b) to its text. */
static int files_heading(const char *s, size_t *a, size_t *b)
{
    size_t i = *a, hashes = 0;
    while (i < *b && s[i] == '#' && hashes < 7) {
        i++;
        hashes++;
    }
    if (hashes == 0 || hashes > 6 || i >= *b || (s[i] != ' ' && s[i] != '\t'))
        return 0;
    size_t e = *b;
    while (e > i && (s[e - 1] == '#' || files_is_space(s[e - 1])))
        e--;        /* closing "##" */
    files_trim(s, &i, &e);
    if (i == e || e - i > FILES_HEADING_MAX)
        return 0;
    *a = i;
    *b = e;
    return 1;
}

/* Markdown front matter ("---" ... "---") with a "title:" line. */
static int files_front_matter_title(const char *s, size_t len, size_t *ta, size_t *tb)
{
    size_t i, a, b;
    if (len < 4 || memcmp(s, "---", 3) != 0 || (s[3] != '\n' && s[3] != '\r'))
        return 0;
    i = files_line(s, len, 0, &a, &b);
    while (i < len) {
        i = files_line(s, len, i, &a, &b);
        files_trim(s, &a, &b);
        if (b - a == 3 && (memcmp(s + a, "---", 3) == 0 || memcmp(s + a, "...", 3) == 0))
            return 0;
        if (b - a > 6 && memcmp(s + a, "title:", 6) == 0) {
            a += 6;
            files_trim(s, &a, &b);
            if (b - a >= 2 && (s[a] == '"' || s[a] == '\'') && s[b - 1] == s[a]) {
                a++;
                b--;
            }
            if (a == b || b - a > FILES_HEADING_MAX)
                return 0;
            *ta = a;
            *tb = b;
            return 1;
        }
    }
    return 0;
}

/* Finds the title as a byte range of the text; 0 when the file name should
 * be used. */
static int files_title(const char *s, size_t len, int markdown, size_t *ta, size_t *tb)
{
    size_t i = 0, a = 0, b = 0;

    if (markdown && files_front_matter_title(s, len, ta, tb))
        return 1;
    while (i < len) {   /* first non-empty line */
        i = files_line(s, len, i, &a, &b);
        files_trim(s, &a, &b);
        if (a < b)
            break;
    }
    if (a < b) {
        if (files_heading(s, &a, &b) || b - a <= FILES_TITLE_MAX_LINE) {
            *ta = a;
            *tb = b;
            return 1;
        }
    }
    if (!markdown)
        return 0;
    size_t lim = len < FILES_HEADING_SCAN ? len : FILES_HEADING_SCAN;
    for (i = 0; i < lim;) {
        i = files_line(s, len, i, &a, &b);
        if (files_heading(s, &a, &b)) {
            *ta = a;
            *tb = b;
            return 1;
        }
    }
    return 0;
}

static const char *files_basename(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash && slash[1] ? slash + 1 : path;
}

int ingest_blank(const char *s, size_t len)
{
    for (size_t i = 0; s && i < len; i++)
        if (!files_is_space(s[i]))
            return 0;
    return 1;
}

/* Replaces *buf, a UTF-16 file of the given order (utf16_bom), with its
 * text as UTF-8, warning of repairs; then judges it as files_slurp judges
 * UTF-8. Returns 0, FILES_BINARY or FILES_TOO_BIG (*buf freed), or -1
 * after ingest_run_fail. */
static int files_from_utf16(ingest_run *r, const char *path, char **buf, size_t *len,
                            int order)
{
    size_t n = 0, nrep = 0, bad = 0;
    char *text = utf16_decode(*buf + 2, *len - 2, order, &n, &nrep, &bad);
    free(*buf);
    *buf = NULL;
    if (!text)
        return ingest_run_fail(r, "%s: out of memory", path);
    if (nrep)
        ingest_run_warn(r, "%s: invalid UTF-16 at byte %zu, repaired (%zu replacement%s)",
                        path, bad + 2, nrep, nrep == 1 ? "" : "s");
    int rc = files_head_binary(text, n < FILES_HEAD ? n : FILES_HEAD) ? FILES_BINARY
             : n > LCTX_MAX_TEXT                                      ? FILES_TOO_BIG
                                                                      : 0;
    if (rc) {
        free(text);
        return rc;
    }
    *buf = text;
    *len = n;
    return 0;
}

int ingest_text_file(ingest_run *r, const char *path, const char *id)
{
    char *buf = NULL, *text, *title = NULL;
    size_t len = 0, bad = 0, ta = 0, tb = 0;
    int e, rc, utf16, progressed = 0;

    e = files_slurp(path, &buf, &len, &utf16);
    if (e == FILES_BINARY || e == FILES_TOO_BIG)
        ingest_run_progress(r, len, 0);
    if (e == 0 && utf16) {
        ingest_run_progress(r, len, 0);
        e = files_from_utf16(r, path, &buf, &len, utf16);
        if (e < 0)
            return -1;
        progressed = 1;
    }
    if (e == FILES_BINARY) {
        ingest_run_warn(r, "%s: binary file skipped", path);
        return 0;
    }
    if (e == FILES_TOO_BIG) {
        ingest_run_warn(r, "%s: over the %zu MiB a document may hold, skipped", path,
                        LCTX_MAX_TEXT >> 20);
        return 0;
    }
    if (e != 0)
        return ingest_run_fail(r, "%s: %s", path, strerror(e));
    if (!progressed)
        ingest_run_progress(r, len, 0);
    text = buf;
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) {
        text += 3;
        len -= 3;
    }
    if (!utf8_validate(text, len, &bad)) {
        size_t n = 0, nrep = 0;
        char *fixed = utf8_repair(text, len, &n, &nrep);
        if (!fixed) {
            free(buf);
            return ingest_run_fail(r, "%s: out of memory", path);
        }
        ingest_run_warn(r, "%s: invalid UTF-8 at byte %zu, repaired (%zu replacement%s)",
                    path, bad + (size_t)(text - buf), nrep, nrep == 1 ? "" : "s");
        free(buf);
        buf = text = fixed;
        len = n;
    }
    if (ingest_blank(text, len)) {
        ingest_run_warn(r, "%s: empty file skipped", path);
        free(buf);
        return 0;
    }
    if (files_title(text, len, ingest_is_markdown(path), &ta, &tb)) {
        title = malloc(tb - ta + 1);
        if (!title) {
            free(buf);
            return ingest_run_fail(r, "%s: out of memory", path);
        }
        memcpy(title, text + ta, tb - ta);
        title[tb - ta] = '\0';
    }

    ingest_doc doc;
    memset(&doc, 0, sizeof doc);
    doc.id = id;
    doc.title = title ? title : files_basename(path);
    doc.text = text;
    doc.text_len = len;
    doc.uri = path;
    doc.metadata = NULL;
    doc.source = path;
    doc.line = 0;
    rc = r->fn(r->opts->ctx, &doc);
    free(title);
    free(buf);
    return rc;
}
