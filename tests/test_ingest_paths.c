/*
 * test_ingest_paths.c — what the readers do with paths and with input that
 * would otherwise lose data without a word:
 *
 *   - a text file's id is its path as given (tidied), so two trees with
 *     the same file names stay apart, and --delete names what was indexed;
 *   - a walk passes over the collection's own folder, and says how many
 *     files it passed over by their names;
 *   - --format beir on a folder without corpus.jsonl is refused, not
 *     walked for whatever JSONL it holds;
 *   - a file name that is not UTF-8 is skipped (walk) or refused (named);
 *   - a file's head decides binary before the rest is read, and a file
 *     over LCTX_MAX_TEXT is skipped unread;
 *   - JSONL: "\u0000" and raw control characters in strings are refused
 *     (cJSON would cut the string or take them), so is a top-level key
 *     given twice (cJSON takes the first, Python and jq the last), numeric
 *     ids only when exact;
 *   - lctx_add refuses ids and uris that are not UTF-8 and texts over
 *     LCTX_MAX_TEXT; lctx_ingest's count leaves out unchanged documents,
 *     and its JSONL FILE:LINE uri is not content (a re-exported dump is
 *     unchanged).
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "indexer/indexer.h"
#include "lctx.h"
#include "test_hits.h"
#include "test_tmpdir.h"

static char root[256];

static void suite_init(void)
{
    tmpdir_make(root, sizeof root, "paths");
}

static void suite_fini(void)
{
    tmpdir_remove(root);
}

TestSuite(paths, .init = suite_init, .fini = suite_fini);

#define MAXDOCS 16

typedef struct seen {
    size_t n, nwarn;
    char id[MAXDOCS][512], warn[8][600];
} seen;

static int on_doc(void *ctx, const ingest_doc *d)
{
    seen *s = ctx;
    cr_assert_lt(s->n, MAXDOCS);
    snprintf(s->id[s->n++], sizeof s->id[0], "%s", d->id);
    return 0;
}

static void on_warn(void *ctx, const char *msg)
{
    seen *s = ctx;
    if (s->nwarn < 8)
        snprintf(s->warn[s->nwarn], sizeof s->warn[0], "%s", msg);
    s->nwarn++;
}

static int run(const char *path, const char *collection, seen *s, char *err, size_t errlen)
{
    ingest_opts o;
    memset(&o, 0, sizeof o);
    o.warn = on_warn;
    o.ctx = s;
    o.collection = collection;
    return ingest_path(path, &o, on_doc, err, errlen);
}

/* root/rel with the given bytes (folders made on the way). */
static void put(const char *rel, const void *bytes, size_t n)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    for (char *p = path + strlen(root) + 1; (p = strchr(p, '/')); p++) {
        *p = 0;
        mkdir(path, 0777);
        *p = '/';
    }
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "%s", path);
    cr_assert_eq(fwrite(bytes, 1, n, f), n);
    fclose(f);
}

static void puts_file(const char *rel, const char *text)
{
    put(rel, text, strlen(text));
}

static int warned(const seen *s, const char *needle)
{
    for (size_t i = 0; i < s->nwarn && i < 8; i++)
        if (strstr(s->warn[i], needle))
            return 1;
    return 0;
}

Test(paths, ids_are_paths_as_given)
{
    puts_file("p/proj1/README.md", "alpha one\n");
    puts_file("p/proj2/README.md", "beta two\n");
    char a[600], b[600], tidy[600], err[256] = "";
    snprintf(a, sizeof a, "%s/p/proj1", root);
    snprintf(b, sizeof b, "%s//p/./proj2/", root);
    seen s = {0};
    cr_assert_eq(run(a, NULL, &s, err, sizeof err), 0, "%s", err);
    cr_assert_eq(run(b, NULL, &s, err, sizeof err), 0, "%s", err);
    cr_assert_eq(s.n, 2);
    snprintf(tidy, sizeof tidy, "%s/p/proj1/README.md", root);
    cr_assert_str_eq(s.id[0], tidy);
    snprintf(tidy, sizeof tidy, "%s/p/proj2/README.md", root);
    cr_assert_str_eq(s.id[1], tidy, "repeated slashes, '.' and the trailing slash tidied");
    /* relative spellings stay relative; "." adds nothing */
    char cwd[600];
    cr_assert_not_null(getcwd(cwd, sizeof cwd));
    cr_assert_eq(chdir(root), 0);
    seen r = {0};
    cr_assert_eq(run(".", NULL, &r, err, sizeof err), 0, "%s", err);
    cr_assert_eq(run("./p/proj1/README.md", NULL, &r, err, sizeof err), 0, "%s", err);
    cr_assert_eq(chdir(cwd), 0);
    cr_assert_eq(r.n, 3);
    cr_assert_str_eq(r.id[0], "p/proj1/README.md");
    cr_assert_str_eq(r.id[1], "p/proj2/README.md");
    cr_assert_str_eq(r.id[2], "p/proj1/README.md", "the same file, the same id");
}

Test(paths, walk_passes_over_the_collection_and_counts_other_files)
{
    puts_file("w/notes/a.txt", "a note\n");
    puts_file("w/src/f.c", "int x;\n");
    puts_file("w/src/g.c", "int y;\n");
    puts_file("w/src/f.py", "x = 1\n");
    char walk[600], coll[600], err[256] = "";
    snprintf(walk, sizeof walk, "%s/w", root);
    snprintf(coll, sizeof coll, "%s/w/my.lctx", root);
    lctx_db *db;
    cr_assert_eq(lctx_open(coll, LCTX_OPEN_CREATE, NULL, &db), LCTX_OK, "%s", lctx_errmsg(db));
    lctx_close(db);                     /* an empty collection: its files are there */
    seen s = {0};
    cr_assert_eq(run(walk, coll, &s, err, sizeof err), 0, "%s", err);
    cr_assert_eq(s.n, 1, "only the note: got %zu, first %s", s.n, s.id[0]);
    cr_assert(strstr(s.id[0], "notes/a.txt"));
    cr_assert_eq(s.nwarn, 1, "%s", s.warn[0]);
    cr_assert(warned(&s, ": 3 files passed over, not text or JSONL by name (.c .py)"), "%s",
              s.warn[0]);
    /* the collection named as the input is refused */
    seen t = {0};
    cr_assert_eq(run(coll, coll, &t, err, sizeof err), -1);
    cr_assert(strstr(err, "is the collection itself"), "%s", err);
}

Test(paths, beir_format_wants_a_beir_folder)
{
    puts_file("b/notes/a.txt", "a note\n");
    puts_file("b/more.jsonl", "{\"_id\":\"m1\",\"text\":\"more\"}\n");
    char dir[600], err[256] = "";
    snprintf(dir, sizeof dir, "%s/b", root);
    ingest_opts o;
    memset(&o, 0, sizeof o);
    seen s = {0};
    o.warn = on_warn;
    o.ctx = &s;
    o.format = INGEST_BEIR;
    cr_assert_eq(ingest_path(dir, &o, on_doc, err, sizeof err), -1);
    cr_assert(strstr(err, "/b: not a BEIR folder (no corpus.jsonl in it)"), "%s", err);
    cr_assert_eq(s.n, 0);
    /* forced JSONL walks the folder for JSONL files, as before */
    o.format = INGEST_JSONL;
    cr_assert_eq(ingest_path(dir, &o, on_doc, err, sizeof err), 0, "%s", err);
    cr_assert_eq(s.n, 1);
    cr_assert_str_eq(s.id[0], "m1");
    /* with corpus.jsonl it is the corpus; a JSONL file named is read too */
    puts_file("b/corpus.jsonl", "{\"_id\":\"c1\",\"text\":\"corpus\"}\n");
    o.format = INGEST_BEIR;
    cr_assert_eq(ingest_path(dir, &o, on_doc, err, sizeof err), 0, "%s", err);
    cr_assert_eq(s.n, 2);
    cr_assert_str_eq(s.id[1], "c1");
    snprintf(dir, sizeof dir, "%s/b/more.jsonl", root);
    cr_assert_eq(ingest_path(dir, &o, on_doc, err, sizeof err), 0, "%s", err);
    cr_assert_eq(s.n, 3);
    cr_assert_str_eq(s.id[2], "m1");
}

Test(paths, names_that_are_not_utf8)
{
    puts_file("u/good.txt", "good words\n");
    puts_file("u/bad\xff.txt", "bad name words\n");
    char walk[600], named[600], err[256] = "";
    snprintf(walk, sizeof walk, "%s/u", root);
    seen s = {0};
    cr_assert_eq(run(walk, NULL, &s, err, sizeof err), 0, "%s", err);
    cr_assert_eq(s.n, 1);
    cr_assert(strstr(s.id[0], "good.txt"));
    cr_assert(warned(&s, "name is not valid UTF-8 (byte 3), skipped"), "%s", s.warn[0]);
    snprintf(named, sizeof named, "%s/u/bad\xff.txt", root);
    seen t = {0};
    cr_assert_eq(run(named, NULL, &t, err, sizeof err), -1);
    cr_assert(strstr(err, "name is not valid UTF-8"), "%s", err);
    cr_assert_eq(t.n, 0);
}

/* A FIFO whose writer sends a binary head and then blocks for ever: the
 * reader must judge it by the head and stop, not wait for the end. */
Test(paths, binary_head_is_judged_before_the_rest, .timeout = 30)
{
    char fifo[600], err[256] = "";
    snprintf(fifo, sizeof fifo, "%s/stream.txt", root);
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        int fd = open(fifo, O_WRONLY);
        char zeros[9000] = {0};
        if (fd < 0 || write(fd, zeros, sizeof zeros) != (ssize_t)sizeof zeros)
            _exit(1);
        pause();                        /* never closes: no end of file */
        _exit(0);
    }
    seen s = {0};
    cr_assert_eq(run(fifo, NULL, &s, err, sizeof err), 0, "%s", err);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    unlink(fifo);
    cr_assert_eq(s.n, 0);
    cr_assert(warned(&s, "binary file skipped"), "%s", s.warn[0]);
}

Test(paths, a_file_over_the_limit_is_skipped_unread)
{
    char big[600], err[256] = "";
    snprintf(big, sizeof big, "%s/big.txt", root);
    int fd = open(big, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, "text ", 5), 5);
    cr_assert_eq(ftruncate(fd, (off_t)LCTX_MAX_TEXT + 4), 0);   /* sparse */
    close(fd);
    seen s = {0};
    cr_assert_eq(run(big, NULL, &s, err, sizeof err), 0, "%s", err);
    unlink(big);
    cr_assert_eq(s.n, 0);
    cr_assert(warned(&s, "over the 256 MiB a document may hold, skipped"), "%s", s.warn[0]);
    /* UTF-16 may take twice the bytes, but no more */
    fd = open(big, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, "\xFF\xFEt\0", 4), 4);
    cr_assert_eq(ftruncate(fd, 2 * (off_t)LCTX_MAX_TEXT + 3), 0);
    close(fd);
    seen t = {0};
    cr_assert_eq(run(big, NULL, &t, err, sizeof err), 0, "%s", err);
    unlink(big);
    cr_assert_eq(t.n, 0);
    cr_assert(warned(&t, "over the 256 MiB a document may hold, skipped"), "%s", t.warn[0]);
}

/* One JSONL line as a file; the reader's result and message. */
static int jsonl(const char *line, seen *s, char *err, size_t errlen)
{
    char path[600];
    put("line.jsonl", line, strlen(line));
    snprintf(path, sizeof path, "%s/line.jsonl", root);
    memset(s, 0, sizeof *s);
    return run(path, NULL, s, err, errlen);
}

Test(paths, jsonl_refuses_what_cjson_would_lose)
{
    seen s;
    char err[256];
    cr_assert_eq(jsonl("{\"id\":\"x\\u0000evil\",\"text\":\"a\"}\n", &s, err, sizeof err), -1);
    cr_assert(strstr(err, "line.jsonl:1: \\u0000 in a string at byte 8"), "%s", err);
    cr_assert_eq(jsonl("{\"id\":\"y\",\"text\":\"a\\u0000b\"}\n", &s, err, sizeof err), -1);
    cr_assert(strstr(err, "\\u0000 in a string"), "%s", err);
    cr_assert_eq(jsonl("{\"id\":\"y\",\"text\":\"a\tb\"}\n", &s, err, sizeof err), -1);
    cr_assert(strstr(err, "control character 0x09 in a string at byte 19"), "%s", err);
    /* an escaped backslash before u0000 is text, and an escaped quote does
     * not end the string */
    cr_assert_eq(jsonl("{\"id\":\"q\\\"\\\\\",\"text\":\"ok \\\\u0000 here\"}\n", &s, err,
                       sizeof err), 0, "%s", err);
    cr_assert_eq(s.n, 1);
    cr_assert_str_eq(s.id[0], "q\"\\");
}

Test(paths, jsonl_refuses_a_key_given_twice)
{
    seen s;
    char err[256];
    /* each field the reader uses, and one it folds into metadata */
    const char *twice[][2] = {
        {"{\"id\":\"a\",\"text\":\"first\",\"text\":\"second\"}\n", "\"text\""},
        {"{\"_id\":\"a\",\"_id\":\"b\",\"text\":\"x\"}\n", "\"_id\""},
        {"{\"title\":\"t\",\"id\":\"a\",\"title\":\"u\"}\n", "\"title\""},
        {"{\"id\":\"a\",\"url\":\"p\",\"text\":\"x\",\"url\":\"q\"}\n", "\"url\""},
    };
    for (size_t i = 0; i < sizeof twice / sizeof twice[0]; i++) {
        cr_assert_eq(jsonl(twice[i][0], &s, err, sizeof err), -1, "%s", twice[i][0]);
        cr_assert(strstr(err, "line.jsonl:1: key ") && strstr(err, twice[i][1]) &&
                  strstr(err, "appears twice"), "%s", err);
        cr_assert_eq(s.n, 0);
    }
    /* a long key is cut on a character's start: after "x", each é is two
     * bytes, so byte 40 is the second byte of one and the cut falls at 39 */
    char line[512], key[64] = "x";
    for (int i = 0; i < 25; i++)
        strcat(key, "\xc3\xa9");
    snprintf(line, sizeof line, "{\"id\":\"a\",\"%s\":1,\"%s\":2}\n", key, key);
    cr_assert_eq(jsonl(line, &s, err, sizeof err), -1);
    char want[128];
    snprintf(want, sizeof want, "key \"%.39s\" appears twice", key);
    cr_assert(strstr(err, want), "%s", err);
    /* the same names in different objects are not duplicates */
    cr_assert_eq(jsonl("{\"id\":\"a\",\"text\":\"x\",\"metadata\":{\"id\":1,\"text\":2}}\n", &s,
                       err, sizeof err), 0, "%s", err);
    cr_assert_eq(s.n, 1);
}

Test(paths, numeric_ids_only_when_exact)
{
    seen s;
    char err[256];
    cr_assert_eq(jsonl("{\"id\":9007199254740991,\"text\":\"a\"}\n", &s, err, sizeof err), 0,
                 "%s", err);
    cr_assert_str_eq(s.id[0], "9007199254740991");
    cr_assert_eq(jsonl("{\"id\":-42,\"text\":\"a\"}\n", &s, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(s.id[0], "-42");
    /* 2^53 and 2^53 + 1 are one double: neither is kept exactly */
    const char *bad[] = {"{\"id\":12345678901234567890,\"text\":\"a\"}\n",
                         "{\"id\":1e400,\"text\":\"a\"}\n", "{\"_id\":1.5,\"text\":\"a\"}\n",
                         "{\"id\":9007199254740992,\"text\":\"a\"}\n",
                         "{\"id\":9007199254740993,\"text\":\"a\"}\n"};
    for (int i = 0; i < 5; i++) {
        cr_assert_eq(jsonl(bad[i], &s, err, sizeof err), -1, "%s", bad[i]);
        cr_assert(strstr(err, "numeric id is not an integer within 2^53"), "%s", err);
    }
}

Test(paths, lctx_add_refuses_bad_ids_uris_and_oversized_text)
{
    char coll[600];
    snprintf(coll, sizeof coll, "%s/add.lctx", root);
    lctx_db *db;
    cr_assert_eq(lctx_open(coll, LCTX_OPEN_CREATE, NULL, &db), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_begin(db), LCTX_OK);
    lctx_doc d = {.id = "bad\xffid", .text = "words"};
    cr_assert_eq(lctx_add(db, &d), LCTX_EINVAL);
    cr_assert(strstr(lctx_errmsg(db), "document id: invalid UTF-8 at byte 3"), "%s",
              lctx_errmsg(db));
    lctx_doc u = {.id = "u", .text = "words", .uri = "file:\xc3("};
    cr_assert_eq(lctx_add(db, &u), LCTX_EINVAL);
    cr_assert(strstr(lctx_errmsg(db), "invalid UTF-8 in uri at byte 5"), "%s", lctx_errmsg(db));
    /* not even read: the size is refused first (calloc leaves it unfaulted) */
    char *huge = calloc(1, LCTX_MAX_TEXT + 2);
    cr_assert_not_null(huge);
    lctx_doc h = {.id = "h", .text = huge, .text_len = LCTX_MAX_TEXT + 1};
    cr_assert_eq(lctx_add(db, &h), LCTX_EINVAL);
    cr_assert(strstr(lctx_errmsg(db), "over the 256 MiB a document may hold"), "%s",
              lctx_errmsg(db));
    free(huge);
    lctx_doc ok = {.id = "ok", .text = "words that stay"};
    cr_assert_eq(lctx_add(db, &ok), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_commit(db, NULL), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(hits(db, "words"), 1);
    lctx_close(db);
}

/* Run twice over the same tree, lctx_ingest counts nothing the second time;
 * a whitespace-only JSONL text without a title is an empty document. */
Test(paths, ingest_counts_what_changed)
{
    puts_file("c/one.txt", "first file\n");
    puts_file("c/two.txt", "second file\n");
    puts_file("c/blank.jsonl", "{\"id\":\"blank\",\"text\":\" \\n\\t \"}\n");
    char tree[600], coll[600];
    snprintf(tree, sizeof tree, "%s/c", root);
    snprintf(coll, sizeof coll, "%s/count.lctx", root);
    lctx_db *db;
    cr_assert_eq(lctx_open(coll, LCTX_OPEN_CREATE, NULL, &db), LCTX_OK, "%s", lctx_errmsg(db));
    uint64_t n = 99;
    for (int round = 0; round < 2; round++) {
        cr_assert_eq(lctx_begin(db), LCTX_OK);
        cr_assert_eq(lctx_ingest(db, tree, NULL, &n), LCTX_OK, "%s", lctx_errmsg(db));
        cr_assert_eq(lctx_commit(db, NULL), LCTX_OK, "%s", lctx_errmsg(db));
        cr_assert_eq(n, round == 0 ? 2 : 0, "round %d counted %llu", round,
                     (unsigned long long)n);
    }
    puts_file("c/two.txt", "second file, changed\n");
    cr_assert_eq(lctx_begin(db), LCTX_OK);
    cr_assert_eq(lctx_ingest(db, tree, NULL, &n), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_commit(db, NULL), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(n, 1);
    cr_assert_eq(hits(db, "file"), 2);
    lctx_stats st;
    cr_assert_eq(lctx_stats_get(db, &st), LCTX_OK);
    cr_assert_eq(st.documents, 2, "the blank document was not stored");
    lctx_close(db);
}

/* The stored uri of id, into buf. */
static void uri_of(lctx_db *db, const char *id, char *buf, size_t len)
{
    lctx_search_opts o;
    lctx_search_opts_init(&o);
    lctx_results *r = NULL;
    cr_assert_eq(lctx_search(db, id, &o, &r), LCTX_OK, "%s", lctx_errmsg(db));
    buf[0] = 0;
    for (size_t i = 0; i < lctx_results_count(r); i++) {
        const lctx_hit *h = lctx_results_get(r, i);
        if (!strcmp(h->id, id))
            snprintf(buf, len, "%s", h->uri ? h->uri : "");
    }
    lctx_results_free(r);
}

/* A JSONL document read again from another file, or from another line of
 * the same file, is unchanged: its FILE:LINE uri is where it was read, not
 * content, and it keeps the first one. Through lctx_add the caller's uri
 * is content, and a new one replaces the document. */
Test(paths, jsonl_uri_is_not_content)
{
    puts_file("dump1.jsonl", "{\"id\":\"kiwi\",\"text\":\"kiwi fruit\"}\n"
                             "{\"id\":\"fig\",\"text\":\"fig tree\"}\n");
    puts_file("dump2.jsonl", "{\"id\":\"new\",\"text\":\"a new line on top\"}\n"
                             "{\"id\":\"fig\",\"text\":\"fig tree\"}\n"
                             "{\"id\":\"kiwi\",\"text\":\"kiwi fruit\"}\n");
    char d1[600], d2[600], coll[600], uri[600];
    snprintf(d1, sizeof d1, "%s/dump1.jsonl", root);
    snprintf(d2, sizeof d2, "%s/dump2.jsonl", root);
    snprintf(coll, sizeof coll, "%s/uri.lctx", root);
    lctx_db *db;
    cr_assert_eq(lctx_open(coll, LCTX_OPEN_CREATE, NULL, &db), LCTX_OK, "%s", lctx_errmsg(db));
    uint64_t n = 99, seq = 0;
    cr_assert_eq(lctx_begin(db), LCTX_OK);
    cr_assert_eq(lctx_ingest(db, d1, NULL, &n), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_commit(db, &seq), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(n, 2);
    cr_assert_eq(lctx_begin(db), LCTX_OK);
    cr_assert_eq(lctx_ingest(db, d2, NULL, &n), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_commit(db, &seq), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(n, 1, "only the new document changed, counted %llu", (unsigned long long)n);
    lctx_stats st;
    cr_assert_eq(lctx_stats_get(db, &st), LCTX_OK);
    cr_assert_eq(st.deleted_chunks, 0, "an unchanged document was indexed again");
    uri_of(db, "kiwi", uri, sizeof uri);
    cr_assert(strstr(uri, "dump1.jsonl:1"), "kiwi's first uri kept: %s", uri);

    cr_assert_eq(lctx_begin(db), LCTX_OK);
    lctx_doc d = {.id = "kiwi", .text = "kiwi fruit", .uri = "https://example.org/kiwi"};
    cr_assert_eq(lctx_add(db, &d), LCTX_OK, "%s", lctx_errmsg(db));
    cr_assert_eq(lctx_commit(db, &seq), LCTX_OK, "%s", lctx_errmsg(db));
    uri_of(db, "kiwi", uri, sizeof uri);
    cr_assert_str_eq(uri, "https://example.org/kiwi");
    cr_assert_eq(lctx_stats_get(db, &st), LCTX_OK);
    cr_assert_eq(st.deleted_chunks, 1);
    cr_assert_eq(lctx_check(db), LCTX_OK, "%s", lctx_errmsg(db));
    lctx_close(db);
}
