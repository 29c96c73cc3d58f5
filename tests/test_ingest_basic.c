/*
 * test_ingest_basic.c — the input readers: JSONL/BEIR fields and errors,
 * directory walks (every file read as text under a forced TEXT format),
 * text files, binary and invalid UTF-8 handling, UTF-16 text files with a
 * byte order mark.
 *
 * Fixtures live in tests/data/ingest/ (run from the repository root, as
 * `make test` does). Files with odd bytes (binary, invalid UTF-8) are
 * written at test time into a temporary directory instead of being
 * committed.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "indexer/indexer.h"

#define FIX "tests/data/ingest/"
#define MAXDOCS 32

typedef struct seen {
    size_t n;
    char *id[MAXDOCS], *title[MAXDOCS], *text[MAXDOCS], *meta[MAXDOCS], *uri[MAXDOCS];
    long line[MAXDOCS];
    size_t nwarn;
    char warn[16][512];
    int stop_after;     /* >0: callback returns 7 after this many docs */
    uint64_t last_done, last_total;
    int progress_calls;
} seen;

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static int on_doc(void *ctx, const ingest_doc *d)
{
    seen *s = ctx;
    cr_assert_lt(s->n, MAXDOCS);
    cr_assert_not_null(d->id);
    cr_assert_not_null(d->title);
    cr_assert_not_null(d->text);
    cr_assert(utf8_validate(d->text, d->text_len, NULL), "doc %s text not UTF-8", d->id);
    s->id[s->n] = strdup(d->id);
    s->title[s->n] = strdup(d->title);
    s->text[s->n] = strndup(d->text, d->text_len);
    s->meta[s->n] = dup_or_null(d->metadata);
    s->uri[s->n] = dup_or_null(d->uri);
    s->line[s->n] = d->line;
    s->n++;
    if (s->stop_after && (int)s->n >= s->stop_after)
        return 7;
    return 0;
}

static void on_warn(void *ctx, const char *msg)
{
    seen *s = ctx;
    if (s->nwarn < 16)
        snprintf(s->warn[s->nwarn], sizeof s->warn[0], "%s", msg);
    s->nwarn++;
}

static void on_progress(void *ctx, uint64_t done, uint64_t total)
{
    seen *s = ctx;
    cr_assert_geq(done, s->last_done, "progress went backwards");
    s->last_done = done;
    s->last_total = total;
    s->progress_calls++;
}

static void seen_free(seen *s)
{
    size_t i;
    for (i = 0; i < s->n; i++) {
        free(s->id[i]);
        free(s->title[i]);
        free(s->text[i]);
        free(s->meta[i]);
        free(s->uri[i]);
    }
}

static int run(const char *path, ingest_format fmt, int skip_bad, seen *s, char *err,
               size_t errlen)
{
    ingest_opts o;
    memset(&o, 0, sizeof o);
    o.format = fmt;
    o.skip_bad = skip_bad;
    o.warn = on_warn;
    o.progress = on_progress;
    o.ctx = s;
    return ingest_path(path, &o, on_doc, err, errlen);
}

static int has_warning(const seen *s, const char *needle)
{
    size_t i;
    for (i = 0; i < s->nwarn && i < 16; i++)
        if (strstr(s->warn[i], needle))
            return 1;
    return 0;
}

/* A fresh temporary directory holding one file with the given bytes. */
static char *temp_file(char *dir_tmpl, const char *name, const void *bytes, size_t n)
{
    static char path[512];
    cr_assert_not_null(mkdtemp(dir_tmpl));
    snprintf(path, sizeof path, "%s/%s", dir_tmpl, name);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(bytes, 1, n, f), n);
    fclose(f);
    return path;
}

static void remove_temp(const char *dir, const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    unlink(path);
    rmdir(dir);
}

Test(ingest_jsonl, fields_ids_metadata)
{
    seen s = { 0 };
    char err[256] = "";
    cr_assert_eq(run(FIX "corpus.jsonl", INGEST_AUTO, 0, &s, err, sizeof err), 0, "%s", err);
    cr_assert_eq(s.n, 3);
    cr_assert_str_eq(s.id[0], "doc1");
    cr_assert_str_eq(s.title[0], "First");
    cr_assert_str_eq(s.text[0], "Hello world.");
    cr_assert_str_eq(s.meta[0], "{\"year\":2020}");
    cr_assert_str_eq(s.uri[0], FIX "corpus.jsonl:1");
    cr_assert_eq(s.line[0], 1);
    /* numeric id; an extra field goes to metadata unless metadata has it */
    cr_assert_str_eq(s.id[1], "42");
    cr_assert_str_eq(s.meta[1], "{\"url\":\"kept\"}");
    /* line 3 is empty and skipped; no title gives "" */
    cr_assert_str_eq(s.id[2], "doc3");
    cr_assert_eq(s.line[2], 4);
    cr_assert_str_eq(s.title[2], "");
    cr_assert_str_eq(s.meta[2], "{\"pmid\":\"123\"}");
    cr_assert_eq(s.nwarn, 0);
    cr_assert_gt(s.progress_calls, 0);
    cr_assert_eq(s.last_done, s.last_total);
    seen_free(&s);
}

Test(ingest_jsonl, malformed_json_names_line)
{
    seen s = { 0 };
    char err[256] = "";
    cr_assert_eq(run(FIX "bad_json.jsonl", INGEST_AUTO, 0, &s, err, sizeof err), -1);
    cr_assert(strstr(err, FIX "bad_json.jsonl:3: malformed JSON") == err, "%s", err);
    cr_assert_eq(s.n, 2, "stops at the bad line");
    seen_free(&s);
}

Test(ingest_jsonl, skip_bad_warns_and_continues)
{
    seen s = { 0 };
    char err[256] = "";
    cr_assert_eq(run(FIX "bad_json.jsonl", INGEST_AUTO, 1, &s, err, sizeof err), 0, "%s", err);
    cr_assert_eq(s.n, 3);
    cr_assert_str_eq(s.id[2], "d");
    cr_assert_eq(s.nwarn, 1);
    cr_assert(has_warning(&s, "bad_json.jsonl:3: malformed JSON"), "%s", s.warn[0]);
    seen_free(&s);
}

Test(ingest_jsonl, missing_id)
{
    seen s = { 0 };
    char err[256] = "";
    cr_assert_eq(run(FIX "missing_id.jsonl", INGEST_JSONL, 0, &s, err, sizeof err), -1);
    cr_assert_str_eq(err, FIX "missing_id.jsonl:2: missing _id/id");
    cr_assert_eq(s.n, 1);
    seen_free(&s);
}

Test(ingest_jsonl, odd_lines)
{
    seen s = { 0 };
    char err[256] = "";
    /* every line of odd.jsonl is bad in its own way */
    cr_assert_eq(run(FIX "odd.jsonl", INGEST_AUTO, 1, &s, err, sizeof err), 0, "%s", err);
    cr_assert_eq(s.n, 0);
    cr_assert_eq(s.nwarn, 5);
    cr_assert(has_warning(&s, "odd.jsonl:1: malformed JSON (unexpected data at byte 24)"),
              "%s", s.warn[0]);
    cr_assert(has_warning(&s, "odd.jsonl:2: malformed JSON (not an object)"), "%s", s.warn[1]);
    cr_assert(has_warning(&s, "odd.jsonl:3: \"title\" is not a string"), "%s", s.warn[2]);
    cr_assert(has_warning(&s, "odd.jsonl:4: \"metadata\" is not an object"), "%s", s.warn[3]);
    cr_assert(has_warning(&s, "odd.jsonl:5: missing _id/id"), "%s", s.warn[4]);
    seen_free(&s);
}

Test(ingest_jsonl, invalid_utf8_names_line_and_byte)
{
    char dir[] = "/tmp/lctx-ingest-XXXXXX";
    const char bytes[] = "{\"_id\":\"a\",\"text\":\"ok\"}\n{\"_id\":\"b\",\"text\":\"caf\xE9\"}\n";
    char *path = temp_file(dir, "bad.jsonl", bytes, sizeof bytes - 1);
    seen s = { 0 };
    char err[512] = "", want[600];
    cr_assert_eq(run(path, INGEST_AUTO, 0, &s, err, sizeof err), -1);
    snprintf(want, sizeof want, "%s:2: invalid UTF-8 at byte 22 of the line", path);
    cr_assert_str_eq(err, want);
    cr_assert_eq(s.n, 1);
    remove_temp(dir, "bad.jsonl");
    seen_free(&s);
    /* UTF-16 is named as such (a line holds one byte of the two-byte '\n') */
    char dir16[] = "/tmp/lctx-ingest-XXXXXX";
    const char utf16[] = "\xFF\xFE{\0}\0\n\0";
    path = temp_file(dir16, "u16.jsonl", utf16, sizeof utf16 - 1);
    seen t = { 0 };
    cr_assert_eq(run(path, INGEST_AUTO, 0, &t, err, sizeof err), -1);
    snprintf(want, sizeof want, "%s:1: invalid UTF-8 at byte 0 of the line (UTF-16's byte "
             "order mark: JSONL must be UTF-8)", path);
    cr_assert_str_eq(err, want);
    remove_temp(dir16, "u16.jsonl");
    seen_free(&t);
}

Test(ingest_jsonl, empty_file)
{
    seen s = { 0 };
    char err[256] = "";
    cr_assert_eq(run(FIX "empty.jsonl", INGEST_AUTO, 0, &s, err, sizeof err), 0, "%s", err);
    cr_assert_eq(s.n, 0);
    cr_assert_eq(s.nwarn, 0);
    seen_free(&s);
}

Test(ingest_jsonl, callback_stop_value_returned)
{
    seen s = { 0 };
    char err[256] = "";
    s.stop_after = 1;
    cr_assert_eq(run(FIX "corpus.jsonl", INGEST_AUTO, 0, &s, err, sizeof err), 7);
    cr_assert_eq(s.n, 1);
    seen_free(&s);
}

Test(ingest_jsonl, huge_line)
{
    char dir[] = "/tmp/lctx-ingest-XXXXXX";
    size_t n = 3u << 20, i;
    char *buf = malloc(n + 64);
    cr_assert_not_null(buf);
    size_t o = (size_t)sprintf(buf, "{\"_id\":\"big\",\"text\":\"");
    for (i = 0; i < n; i++)
        buf[o++] = (char)('a' + i % 26);
    o += (size_t)sprintf(buf + o, "\"}\n");
    char *path = temp_file(dir, "big.jsonl", buf, o);
    seen s = { 0 };
    char err[256] = "";
    cr_assert_eq(run(path, INGEST_AUTO, 0, &s, err, sizeof err), 0, "%s", err);
    cr_assert_eq(s.n, 1);
    cr_assert_eq(strlen(s.text[0]), n);
    remove_temp(dir, "big.jsonl");
    seen_free(&s);
    free(buf);
}

Test(ingest_beir, folder_reads_corpus_only)
{
    seen s = { 0 };
    char err[256] = "";
    cr_assert_eq(run(FIX "beir", INGEST_AUTO, 0, &s, err, sizeof err), 0, "%s", err);
    cr_assert_eq(s.n, 1);
    cr_assert_str_eq(s.id[0], "b1");
    cr_assert_str_eq(s.title[0], "Beir doc");
    seen_free(&s);
}

Test(ingest_dir, recursive_sorted_hidden_skipped)
{
    seen s = { 0 };
    char err[256] = "";
    cr_assert_eq(run(FIX "docs", INGEST_AUTO, 0, &s, err, sizeof err), 0, "%s", err);
    /* README, alpha.md, bravo.txt, more.jsonl (2 docs), sub/charlie.txt,
     * sub/deeper/delta.md; not .hidden/, .dotfile.txt, picture.png, and
     * zz_empty.txt is skipped with a warning */
    cr_assert_eq(s.n, 7, "got %zu docs", s.n);
    cr_assert_str_eq(s.id[0], FIX "docs/README");
    cr_assert_str_eq(s.title[0], "README without extension.");
    cr_assert_str_eq(s.id[1], FIX "docs/alpha.md");
    cr_assert_str_eq(s.title[1], "Alpha Title");
    cr_assert_str_eq(s.uri[1], FIX "docs/alpha.md");
    cr_assert_eq(s.line[1], 0);
    cr_assert_null(s.meta[1]);
    cr_assert_str_eq(s.id[2], FIX "docs/bravo.txt");
    cr_assert_str_eq(s.title[2], "Bravo heading line");
    cr_assert_str_eq(s.text[2], "Bravo heading line\n\nBravo body.\n");
    cr_assert_str_eq(s.id[3], "j1");
    cr_assert_str_eq(s.id[4], "2");
    cr_assert_str_eq(s.id[5], FIX "docs/sub/charlie.txt");
    cr_assert_str_eq(s.id[6], FIX "docs/sub/deeper/delta.md");
    cr_assert_str_eq(s.title[6], "Delta From Front Matter");
    cr_assert_eq(s.nwarn, 2);
    cr_assert(has_warning(&s, "zz_empty.txt: empty file skipped"), "%s", s.warn[0]);
    /* picture.png, the one file of another kind, is counted, not silent */
    cr_assert(has_warning(&s, FIX "docs: 1 file passed over, not text or JSONL by name (.png)"),
              "%s", s.warn[0]);
    /* the total is known up front and reached at the end */
    cr_assert_gt(s.last_total, 0);
    cr_assert_eq(s.last_done, s.last_total);
    seen_free(&s);
}

Test(ingest_dir, forced_jsonl_reads_only_jsonl)
{
    seen s = { 0 };
    char err[256] = "";
    cr_assert_eq(run(FIX "docs", INGEST_JSONL, 0, &s, err, sizeof err), 0, "%s", err);
    cr_assert_eq(s.n, 2);
    cr_assert_str_eq(s.id[0], "j1");
    seen_free(&s);
}

Test(ingest_file, single_file_id_is_its_path)
{
    seen s = { 0 };
    char err[256] = "";
    cr_assert_eq(run("./" FIX "docs//sub/./charlie.txt", INGEST_AUTO, 0, &s, err, sizeof err), 0,
                 "%s", err);
    cr_assert_eq(s.n, 1);
    cr_assert_str_eq(s.id[0], FIX "docs/sub/charlie.txt");
    cr_assert_str_eq(s.text[0], "Charlie text in a subdirectory.\n");
    seen_free(&s);
}

Test(ingest_file, binary_skipped_with_warning)
{
    char dir[] = "/tmp/lctx-ingest-XXXXXX";
    const char bytes[] = "\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01";
    char *path = temp_file(dir, "image.txt", bytes, sizeof bytes - 1);
    seen s = { 0 };
    char err[256] = "", want[600];
    cr_assert_eq(run(path, INGEST_AUTO, 0, &s, err, sizeof err), 0, "%s", err);
    cr_assert_eq(s.n, 0);
    snprintf(want, sizeof want, "%s: binary file skipped", path);
    cr_assert_eq(s.nwarn, 1);
    cr_assert_str_eq(s.warn[0], want);
    remove_temp(dir, "image.txt");
    seen_free(&s);
}

Test(ingest_file, invalid_utf8_repaired_with_offset)
{
    char dir[] = "/tmp/lctx-ingest-XXXXXX";
    const char bytes[] = "\xEF\xBB\xBFna\xEFve caf\xE9 text\n";  /* BOM, then Latin-1 */
    char *path = temp_file(dir, "latin1.txt", bytes, sizeof bytes - 1);
    seen s = { 0 };
    char err[256] = "", want[600];
    cr_assert_eq(run(path, INGEST_AUTO, 0, &s, err, sizeof err), 0, "%s", err);
    cr_assert_eq(s.n, 1);
    cr_assert_str_eq(s.text[0], "na\xEF\xBF\xBDve caf\xEF\xBF\xBD text\n");
    cr_assert_eq(s.nwarn, 1);
    /* the offset counts the BOM: it is a byte offset in the file */
    snprintf(want, sizeof want, "%s: invalid UTF-8 at byte 5, repaired (2 replacements)", path);
    cr_assert_str_eq(s.warn[0], want);
    remove_temp(dir, "latin1.txt");
    seen_free(&s);
}

/* ASCII text as UTF-16 of the given order, with its mark: 2 + 2 * strlen. */
static size_t ascii_utf16(const char *text, int big, char *out)
{
    size_t n = 0;
    out[n++] = big ? '\xFE' : '\xFF';
    out[n++] = big ? '\xFF' : '\xFE';
    for (const char *p = text; *p; p++) {
        out[n++] = big ? 0 : *p;
        out[n++] = big ? *p : 0;
    }
    return n;
}

Test(ingest_file, utf16_with_a_mark_is_decoded)
{
    const char *text = "Whale songs\nHumpback whales sing in the winter.\n";
    for (int big = 0; big < 2; big++) {
        char dir[] = "/tmp/lctx-ingest-XXXXXX", bytes[256];
        size_t n = ascii_utf16(text, big, bytes);
        char *path = temp_file(dir, "notes.txt", bytes, n);
        seen s = { 0 };
        char err[256] = "";
        cr_assert_eq(run(path, INGEST_AUTO, 0, &s, err, sizeof err), 0, "%s", err);
        cr_assert_eq(s.n, 1, "order %d", big);
        cr_assert_str_eq(s.text[0], text);
        cr_assert_str_eq(s.title[0], "Whale songs");
        cr_assert_eq(s.nwarn, 0, "%s", s.warn[0]);
        remove_temp(dir, "notes.txt");
        seen_free(&s);
    }
}

Test(ingest_file, utf16_is_judged_as_decoded)
{
    static const struct { const char *name, *bytes; size_t n; const char *warning; } cases[] = {
        /* U+0000 five times: binary once decoded */
        { "nul.txt", "\xFF\xFE\0\0\0\0\0\0\0\0\0\0A\0", 14, "binary file skipped" },
        { "blank.txt", "\xFE\xFF\0 \0\n\0\t", 8, "empty file skipped" },
        { "odd.txt", "\xFF\xFEh\0i\0\x00\xDC!", 9,
          "invalid UTF-16 at byte 6, repaired (2 replacements)" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char dir[] = "/tmp/lctx-ingest-XXXXXX", want[600];
        char *path = temp_file(dir, cases[i].name, cases[i].bytes, cases[i].n);
        seen s = { 0 };
        char err[256] = "";
        cr_assert_eq(run(path, INGEST_AUTO, 0, &s, err, sizeof err), 0, "%s", err);
        snprintf(want, sizeof want, "%s: %s", path, cases[i].warning);
        cr_assert_eq(s.nwarn, 1, "%s: %zu warnings", cases[i].name, s.nwarn);
        cr_assert_str_eq(s.warn[0], want);
        if (i == 2) {
            cr_assert_eq(s.n, 1);
            cr_assert_str_eq(s.text[0], "hi\xEF\xBF\xBD\xEF\xBF\xBD");
        } else {
            cr_assert_eq(s.n, 0, "%s", cases[i].name);
        }
        remove_temp(dir, cases[i].name);
        seen_free(&s);
    }
}

Test(ingest_file, missing_path_is_error)
{
    seen s = { 0 };
    char err[256] = "";
    cr_assert_eq(run(FIX "no/such/file.txt", INGEST_AUTO, 0, &s, err, sizeof err), -1);
    cr_assert(strstr(err, "no/such/file.txt: ") != NULL, "%s", err);
    seen_free(&s);
}

Test(ingest_file, stdin_dash)
{
    char dir[] = "/tmp/lctx-ingest-XXXXXX";
    const char bytes[] = "{\"_id\":\"s1\",\"text\":\"from stdin\"}\n";
    char *path = temp_file(dir, "in.jsonl", bytes, sizeof bytes - 1);
    seen s = { 0 };
    char err[256] = "";
    cr_assert_not_null(freopen(path, "rb", stdin));
    cr_assert_eq(run("-", INGEST_AUTO, 0, &s, err, sizeof err), 0, "%s", err);
    cr_assert_eq(s.n, 1);
    cr_assert_str_eq(s.id[0], "s1");
    cr_assert_str_eq(s.uri[0], "-:1");
    remove_temp(dir, "in.jsonl");
    seen_free(&s);
}

Test(ingest_dir, symlinked_dir_not_followed)
{
    char dir[] = "/tmp/lctx-ingest-XXXXXX";
    char sub[600], link[600], file[600];
    seen s = { 0 };
    char err[256] = "";
    cr_assert_not_null(mkdtemp(dir));
    snprintf(sub, sizeof sub, "%s/real", dir);
    snprintf(link, sizeof link, "%s/real/loop", dir);
    snprintf(file, sizeof file, "%s/real/note.txt", dir);
    cr_assert_eq(mkdir(sub, 0700), 0);
    FILE *f = fopen(file, "w");
    cr_assert_not_null(f);
    fputs("A note.\n", f);
    fclose(f);
    cr_assert_eq(symlink("..", link), 0);   /* a loop back up */
    cr_assert_eq(run(dir, INGEST_AUTO, 0, &s, err, sizeof err), 0, "%s", err);
    cr_assert_eq(s.n, 1);
    cr_assert_str_eq(s.id[0], file);
    unlink(link);
    unlink(file);
    rmdir(sub);
    rmdir(dir);
    seen_free(&s);
}

Test(ingest_jsonl, id_fallback_and_both_ids)
{
    char dir[] = "/tmp/lctx-ingest-XXXXXX";
    const char bytes[] = "{\"_id\":null,\"id\":\"from-id\",\"text\":\"a\"}\n"
                         "{\"_id\":\"u\",\"id\":\"other\",\"text\":\"b\",\"title\":null}\n"
                         "{\"_id\":12345678901,\"text\":\"c\"}\n";
    char *path = temp_file(dir, "ids.jsonl", bytes, sizeof bytes - 1);
    seen s = { 0 };
    char err[256] = "";
    cr_assert_eq(run(path, INGEST_AUTO, 0, &s, err, sizeof err), 0, "%s", err);
    cr_assert_eq(s.n, 3);
    cr_assert_str_eq(s.id[0], "from-id");
    cr_assert_str_eq(s.id[1], "u");
    cr_assert_str_eq(s.meta[1], "{\"id\":\"other\"}");   /* the unused id is kept */
    cr_assert_str_eq(s.title[1], "");
    cr_assert_str_eq(s.id[2], "12345678901");
    remove_temp(dir, "ids.jsonl");
    seen_free(&s);
}

/* 2^53 + 1 reads as 2^53 (a double cannot tell them apart), so both are
 * refused and two documents cannot become one; 2^53 - 1 and its negative
 * are the largest kept, printed in full. */
Test(ingest_jsonl, numeric_ids_refused_from_2_pow_53)
{
    static const char *const bad[] = {
        "9007199254740992", "9007199254740993", "-9007199254740992", "-9007199254740993",
        "0.5", "1e300",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char dir[] = "/tmp/lctx-ingest-XXXXXX", bytes[256], want[600];
        int n = snprintf(bytes, sizeof bytes, "{\"_id\":\"a\",\"text\":\"x\"}\n"
                         "{\"_id\":%s,\"text\":\"y\"}\n", bad[i]);
        char *path = temp_file(dir, "num.jsonl", bytes, (size_t)n);
        seen s = { 0 };
        char err[512] = "";
        cr_assert_eq(run(path, INGEST_AUTO, 0, &s, err, sizeof err), -1, "id %s accepted", bad[i]);
        snprintf(want, sizeof want, "%s:2: numeric id is not an integer within 2^53", path);
        cr_assert(strstr(err, want), "id %s: %s", bad[i], err);
        cr_assert(strstr(err, "quote it"), "%s", err);
        cr_assert_eq(s.n, 1);
        remove_temp(dir, "num.jsonl");
        seen_free(&s);
    }
    char dir[] = "/tmp/lctx-ingest-XXXXXX";
    const char bytes[] = "{\"_id\":9007199254740991,\"text\":\"a\"}\n"
                         "{\"_id\":-9007199254740991,\"text\":\"b\"}\n"
                         "{\"_id\":0,\"text\":\"c\"}\n{\"_id\":2.0,\"text\":\"d\"}\n";
    char *path = temp_file(dir, "ok.jsonl", bytes, sizeof bytes - 1);
    seen s = { 0 };
    char err[256] = "";
    cr_assert_eq(run(path, INGEST_AUTO, 0, &s, err, sizeof err), 0, "%s", err);
    cr_assert_eq(s.n, 4);
    cr_assert_str_eq(s.id[0], "9007199254740991");
    cr_assert_str_eq(s.id[1], "-9007199254740991");
    cr_assert_str_eq(s.id[2], "0");
    cr_assert_str_eq(s.id[3], "2");
    remove_temp(dir, "ok.jsonl");
    seen_free(&s);
}

/* ------------------------------------------------ --format text on a dir */

/* dir/rel with the given bytes, a "sub" folder made when rel needs it. */
static void put_file(const char *dir, const char *rel, const void *bytes, size_t n)
{
    char path[600];
    if (strchr(rel, '/')) {
        snprintf(path, sizeof path, "%s/sub", dir);
        mkdir(path, 0700);
    }
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(bytes, 1, n, f), n);
    fclose(f);
}

/* The tree of the report: notes with a.md, README, sub/b.txt, d.jsonl,
 * img.png (real PNG bytes), c.pdf (plain text under a .pdf name) and
 * e.log (Latin-1, not UTF-8). */
static const char *const mixed_files[] = { "a.md", "README", "sub/b.txt", "d.jsonl",
                                           "img.png", "c.pdf", "e.log" };

static void mixed_tree(char *dir)
{
    static const char png[] = "\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06";
    cr_assert_not_null(mkdtemp(dir));
    put_file(dir, "a.md", "# Alpha\n\nAlpha body.\n", 21);
    put_file(dir, "README", "Readme words.\n", 14);
    put_file(dir, "sub/b.txt", "Bravo in sub.\n", 14);
    put_file(dir, "d.jsonl", "{\"_id\":\"d1\",\"text\":\"jsonl line\"}\n", 33);
    put_file(dir, "img.png", png, sizeof png - 1);
    put_file(dir, "c.pdf", "Plain text that only looks like a PDF by name.\n", 47);
    put_file(dir, "e.log", "caf\xE9 log\n", 9);
}

static void mixed_remove(const char *dir)
{
    char path[600];
    for (size_t i = 0; i < sizeof mixed_files / sizeof mixed_files[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, mixed_files[i]);
        unlink(path);
    }
    snprintf(path, sizeof path, "%s/sub", dir);
    rmdir(path);
    rmdir(dir);
}

/* The index of the document whose id ends with suffix, or -1. */
static int doc_ending(const seen *s, const char *suffix)
{
    size_t k = strlen(suffix);
    for (size_t i = 0; i < s->n; i++) {
        size_t n = strlen(s->id[i]);
        if (n >= k && strcmp(s->id[i] + n - k, suffix) == 0)
            return (int)i;
    }
    return -1;
}

/* The warning's advice ("read every file as text (format text)") holds:
 * every regular file is read as text whatever its name, a .jsonl file as
 * one text document (as a named one is), while binary content is still
 * skipped and invalid UTF-8 repaired, each with its warning. */
Test(ingest_dir, forced_text_reads_every_file)
{
    char dir[] = "/tmp/lctx-ingest-XXXXXX";
    seen s = { 0 };
    char err[256] = "", want[600];
    mixed_tree(dir);
    cr_assert_eq(run(dir, INGEST_TEXT, 0, &s, err, sizeof err), 0, "%s", err);
    /* README, a.md, c.pdf, d.jsonl, e.log, sub/b.txt: not img.png */
    cr_assert_eq(s.n, 6, "got %zu docs", s.n);
    int pdf = doc_ending(&s, "/c.pdf"), jl = doc_ending(&s, "/d.jsonl");
    cr_assert_geq(pdf, 0);
    cr_assert_str_eq(s.text[pdf], "Plain text that only looks like a PDF by name.\n");
    cr_assert_geq(jl, 0);
    cr_assert_str_eq(s.text[jl], "{\"_id\":\"d1\",\"text\":\"jsonl line\"}\n");
    cr_assert_geq(doc_ending(&s, "/sub/b.txt"), 0);
    cr_assert_eq(doc_ending(&s, "/img.png"), -1);
    cr_assert_str_eq(s.text[doc_ending(&s, "/e.log")], "caf\xEF\xBF\xBD log\n");
    snprintf(want, sizeof want, "%s/img.png: binary file skipped", dir);
    cr_assert(has_warning(&s, want), "%s", s.warn[0]);
    snprintf(want, sizeof want, "%s/e.log: invalid UTF-8 at byte 3, repaired", dir);
    cr_assert(has_warning(&s, want), "%s", s.warn[0]);
    cr_assert(!has_warning(&s, "passed over"), "nothing passes over by name");
    cr_assert_eq(s.nwarn, 2);
    cr_assert_eq(s.last_done, s.last_total);
    seen_free(&s);
    mixed_remove(dir);
}

/* The same tree by default: JSONL as JSONL, .pdf .log .png by name passed
 * over and counted in one warning. */
Test(ingest_dir, auto_passes_over_other_names)
{
    char dir[] = "/tmp/lctx-ingest-XXXXXX";
    seen s = { 0 };
    char err[256] = "", want[600];
    mixed_tree(dir);
    cr_assert_eq(run(dir, INGEST_AUTO, 0, &s, err, sizeof err), 0, "%s", err);
    /* README, a.md, d1 (from d.jsonl), sub/b.txt */
    cr_assert_eq(s.n, 4, "got %zu docs", s.n);
    cr_assert_str_eq(s.id[2], "d1");
    cr_assert_eq(doc_ending(&s, "/c.pdf"), -1);
    snprintf(want, sizeof want, "%s: 3 files passed over, not text or JSONL by name "
             "(.pdf .log .png); name them, or read every file as text (format text)", dir);
    cr_assert(has_warning(&s, want), "%s", s.warn[0]);
    cr_assert_eq(s.nwarn, 1);
    seen_free(&s);
    mixed_remove(dir);
}
