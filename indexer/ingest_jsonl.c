/*
 * ingest_jsonl.c — reading JSONL and BEIR corpora.
 *
 * One JSON object per line:
 *
 *   {"_id": "d1", "title": "...", "text": "...", "metadata": {...}}
 *
 * "_id" (BEIR) or "id" names the document; a number is accepted and turned
 * into its decimal text when it is an integer below 2^53 in size: cJSON
 * keeps numbers as doubles, so a larger one (or a fraction) may not be the
 * number written, and two ids could silently become one (2^53 + 1 is read
 * as 2^53, so 2^53 itself is refused too); those are refused, to be
 * quoted. "title" and "text" are strings or
 * absent. "metadata", when present, must be an object. Any other top-level
 * field (BEIR corpora carry a few, such as "url" or "pmid") is folded into
 * metadata, so nothing in the input is silently lost and filters can reach
 * it; a key already in "metadata" wins.
 *
 * cJSON is lenient where JSON is not, in two ways that would lose data
 * without a word, so each line is checked for them first (jsonl_strict):
 * it keeps strings NUL-terminated, so "\u0000" would cut an id or a text
 * short, and it takes raw control characters inside strings. A third is
 * checked after parsing (jsonl_duplicate): a key given twice at the top
 * level. cJSON keeps both and answers lookups with the first, where
 * Python's json and jq take the last, so the same line would mean two
 * different documents to two tools; it is refused, naming the key.
 *
 * Lines are read with getline, so there is no length limit. Empty lines are
 * skipped. Each bad line is reported as "FILE:LINE: reason": invalid UTF-8
 * with its byte offset in the line, malformed JSON with the offset where
 * cJSON stopped, a missing id. By default the first bad line stops the
 * read (the caller then rolls the batch back, so the index is unchanged);
 * with skip_bad the line is reported as a warning and the read goes on.
 */
#include "indexer/indexer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

/* One parsed line, ready for the callback; owns its strings. */
typedef struct jsonl_doc {
    cJSON *root;
    char id_buf[64];
    const char *id, *title, *text;
    char *metadata;             /* cJSON_PrintUnformatted output or NULL */
} jsonl_doc;

static void jsonl_doc_free(jsonl_doc *d)
{
    cJSON_Delete(d->root);
    free(d->metadata);
}

/* Integers below this a double holds exactly and tells apart from their
 * neighbours; 2^53 itself is also what 2^53 + 1 reads as. */
#define JSONL_ID_LIMIT 9007199254740992.0     /* 2^53 */

/* The id field as text; NULL when missing or of the wrong type, "" for a
 * number that cannot be kept exactly. */
static const char *jsonl_id(cJSON *item, char *buf, size_t buflen)
{
    if (cJSON_IsString(item) && item->valuestring && item->valuestring[0])
        return item->valuestring;
    if (cJSON_IsNumber(item)) {
        double v = item->valuedouble;
        /* range first: casting an out-of-range double is undefined */
        if (!(v > -JSONL_ID_LIMIT && v < JSONL_ID_LIMIT) || v != (double)(long long)v)
            return "";
        snprintf(buf, buflen, "%lld", (long long)v);
        return buf;
    }
    return NULL;
}

/* The two things cJSON accepts that would lose data (see the top): a
 * "\u0000" escape and a raw control character inside a string. NULL, or
 * the reason with its byte offset in buf. A malformed line is left for
 * cJSON to place its error. */
static const char *jsonl_strict(const char *line, size_t len, char *buf, size_t buflen)
{
    int in_string = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)line[i];
        if (!in_string) {
            in_string = c == '"';
        } else if (c == '"') {
            in_string = 0;
        } else if (c < 0x20) {
            snprintf(buf, buflen, "control character 0x%02x in a string at byte %zu "
                     "(JSON wants it escaped)", c, i);
            return buf;
        } else if (c == '\\') {
            if (i + 5 < len && memcmp(line + i + 1, "u0000", 5) == 0) {
                snprintf(buf, buflen, "\\u0000 in a string at byte %zu "
                         "(text cannot hold NUL characters)", i);
                return buf;
            }
            i++;                /* the escaped character, a quote perhaps */
        }
    }
    return NULL;
}

static int jsonl_key_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A key given twice among the object's top-level members, or NULL (also
 * when out of memory: then the first one counts, as before this check).
 * Sorted, so a line with thousands of keys costs n log n, not n^2. */
static const char *jsonl_duplicate(const cJSON *root)
{
    const char *dup = NULL;
    size_t n = 0, i = 0;
    const cJSON *item;

    for (item = root->child; item; item = item->next)
        n++;
    if (n < 2)
        return NULL;
    const char **keys = malloc(n * sizeof *keys);
    if (!keys)
        return NULL;
    for (item = root->child; item; item = item->next)
        keys[i++] = item->string ? item->string : "";
    qsort(keys, n, sizeof *keys, jsonl_key_cmp);
    for (i = 1; i < n && !dup; i++)
        if (strcmp(keys[i - 1], keys[i]) == 0)
            dup = keys[i];
    free(keys);
    return dup;
}

/* Builds the metadata object: "metadata" plus every field not otherwise
 * used. Returns 0, or an error string. */
static const char *jsonl_metadata(jsonl_doc *d, const cJSON *id_item)
{
    cJSON *meta = cJSON_GetObjectItemCaseSensitive(d->root, "metadata");
    cJSON *item, *next;

    if (meta && cJSON_IsNull(meta)) {
        cJSON_Delete(cJSON_DetachItemViaPointer(d->root, meta));
        meta = NULL;
    }
    if (meta && !cJSON_IsObject(meta))
        return "\"metadata\" is not an object";
    if (meta)
        meta = cJSON_DetachItemViaPointer(d->root, meta);
    for (item = d->root->child; item; item = next) {
        next = item->next;
        const char *k = item->string;
        if (item == id_item || !k || strcmp(k, "title") == 0 || strcmp(k, "text") == 0)
            continue;
        if (!meta && !(meta = cJSON_CreateObject()))
            return "out of memory";
        if (cJSON_GetObjectItemCaseSensitive(meta, k))
            continue;
        cJSON_AddItemToObject(meta, k, cJSON_DetachItemViaPointer(d->root, item));
    }
    if (meta && meta->child) {
        d->metadata = cJSON_PrintUnformatted(meta);
        cJSON_Delete(meta);
        if (!d->metadata)
            return "out of memory";
    } else {
        cJSON_Delete(meta);
    }
    return NULL;
}

/* A string field: NULL error when absent or null (value ""), an error when
 * of another type. */
static const char *jsonl_string(cJSON *root, const char *name, const char **out)
{
    cJSON *item = cJSON_GetObjectItemCaseSensitive(root, name);
    *out = "";
    if (!item || cJSON_IsNull(item))
        return NULL;
    if (!cJSON_IsString(item) || !item->valuestring)
        return strcmp(name, "title") == 0 ? "\"title\" is not a string"
                                          : "\"text\" is not a string";
    *out = item->valuestring;
    return NULL;
}

/* Parses line[0..len) into d. Returns NULL or the reason it is bad, in
 * why (a message) with detail written to buf. */
static const char *jsonl_parse(const char *line, size_t len, jsonl_doc *d,
                               char *buf, size_t buflen)
{
    const char *end = NULL, *why;
    size_t bad;

    memset(d, 0, sizeof *d);
    if (!utf8_validate(line, len, &bad)) {
        /* JSON travels as UTF-8 (RFC 8259); say so to whoever exported it
         * from Windows as "Unicode" */
        snprintf(buf, buflen, "invalid UTF-8 at byte %zu of the line%s", bad,
                 bad == 0 && utf16_bom(line, len) ? " (UTF-16's byte order mark: JSONL must "
                                                    "be UTF-8)"
                                                  : "");
        return buf;
    }
    if ((why = jsonl_strict(line, len, buf, buflen)) != NULL)
        return why;
    d->root = cJSON_ParseWithLengthOpts(line, len, &end, 0);
    if (!d->root) {
        size_t at = end && end >= line && end <= line + len ? (size_t)(end - line) : 0;
        snprintf(buf, buflen, "malformed JSON (error near byte %zu)", at);
        return buf;
    }
    while (end && end < line + len && (*end == ' ' || *end == '\t' || *end == '\r'))
        end++;
    if (end && end < line + len) {
        snprintf(buf, buflen, "malformed JSON (unexpected data at byte %zu)",
                 (size_t)(end - line));
        return buf;
    }
    if (!cJSON_IsObject(d->root))
        return "malformed JSON (not an object)";
    const char *dup = jsonl_duplicate(d->root);
    if (dup) {
        /* the key is the input's: cut to 40 bytes, on a character's start */
        int cut = (int)strnlen(dup, 41);
        if (cut > 40)
            for (cut = 40; cut > 0 && ((unsigned char)dup[cut] & 0xC0) == 0x80; cut--)
                ;
        snprintf(buf, buflen, "key \"%.*s\" appears twice (readers disagree on which counts)",
                 cut, dup);
        return buf;
    }
    cJSON *id = cJSON_GetObjectItemCaseSensitive(d->root, "_id");
    d->id = jsonl_id(id, d->id_buf, sizeof d->id_buf);
    if (!d->id) {       /* "_id" absent or unusable: try "id" */
        id = cJSON_GetObjectItemCaseSensitive(d->root, "id");
        d->id = jsonl_id(id, d->id_buf, sizeof d->id_buf);
    }
    if (!d->id)
        return "missing _id/id";
    if (!d->id[0])
        return "numeric id is not an integer within 2^53 (below it in magnitude), "
               "so not kept exactly: quote it as a string";
    if ((why = jsonl_string(d->root, "title", &d->title)) != NULL)
        return why;
    if ((why = jsonl_string(d->root, "text", &d->text)) != NULL)
        return why;
    return jsonl_metadata(d, id);
}

static int jsonl_blank(const char *s, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
            return 0;
    return 1;
}

/* Handles one line: parse, then callback or error/warning. */
static int jsonl_line(ingest_run *r, const char *name, long lineno, const char *line,
                      size_t len)
{
    jsonl_doc d;
    char detail[128], uri[64];
    const char *why = jsonl_parse(line, len, &d, detail, sizeof detail);
    int rc = 0;

    if (why) {
        if (r->opts->skip_bad) {
            ingest_run_warn(r, "%s:%ld: %s, line skipped", name, lineno, why);
        } else {
            rc = ingest_run_fail(r, "%s:%ld: %s", name, lineno, why);
        }
        jsonl_doc_free(&d);
        return rc;
    }
    ingest_doc doc;
    memset(&doc, 0, sizeof doc);
    doc.id = d.id;
    doc.title = d.title;
    doc.text = d.text;
    doc.text_len = strlen(d.text);
    /* uri = "FILE:LINE"; a long file name is cut, the line kept */
    snprintf(uri, sizeof uri, ":%ld", lineno);
    size_t nl = strlen(name), ul = strlen(uri);
    char *full = malloc(nl + ul + 1);
    if (!full) {
        jsonl_doc_free(&d);
        return ingest_run_fail(r, "%s:%ld: out of memory", name, lineno);
    }
    memcpy(full, name, nl);
    memcpy(full + nl, uri, ul + 1);
    doc.uri = full;
    doc.metadata = d.metadata;
    doc.source = name;
    doc.line = lineno;
    rc = r->fn(r->opts->ctx, &doc);
    free(full);
    jsonl_doc_free(&d);
    return rc;
}

int ingest_jsonl_stream(ingest_run *r, FILE *f, const char *name)
{
    char *line = NULL;
    size_t cap = 0;
    long lineno = 0;
    ssize_t n;
    int rc = 0;

    errno = 0;
    while ((n = getline(&line, &cap, f)) >= 0) {
        size_t len = (size_t)n;
        lineno++;
        ingest_run_progress(r, len, 0);
        char *s = line;
        if (lineno == 1 && len >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) {
            s += 3;         /* byte order mark */
            len -= 3;
        }
        while (len > 0 && (s[len - 1] == '\n' || s[len - 1] == '\r'))
            len--;
        if (jsonl_blank(s, len))
            continue;
        rc = jsonl_line(r, name, lineno, s, len);
        if (rc != 0)
            break;
    }
    if (rc == 0 && ferror(f))
        rc = ingest_run_fail(r, "%s:%ld: read error: %s", name, lineno + 1,
                         strerror(errno ? errno : EIO));
    free(line);
    return rc;
}

int ingest_jsonl_file(ingest_run *r, const char *path)
{
    FILE *f;
    int rc;

    if (strcmp(path, "-") == 0)
        return ingest_jsonl_stream(r, stdin, "-");
    f = fopen(path, "rb");
    if (!f)
        return ingest_run_fail(r, "%s: %s", path, strerror(errno));
    rc = ingest_jsonl_stream(r, f, path);
    fclose(f);
    return rc;
}
