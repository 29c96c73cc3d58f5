/*
 * test_model_file_basic.c — lctx model files: round trip, and bad input.
 *
 * A tiny but complete USE-lite-shaped model (2 layers, widths 4 -> 8) is
 * written with model_writer, then read back, truncated at many lengths,
 * tampered byte by byte, and rebuilt with structural damage behind a valid
 * checksum. Every bad file must give NULL and a one-line message naming the
 * file; nothing may crash (ASan/UBSan watch the reads). The same tiny model
 * also runs the encoder end to end, which catches loader/forward mismatches
 * without the 28 MB real model.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attention/attention.h"
#include "test_tmpdir.h"

#define TINY_E 4
#define TINY_D 8
#define TINY_F 16

static const char *tiny_pieces[] = {
    "\xEF\xBF\xBD", "<s>", "</s>", "x1", "x2", "x3",
    "\xE2\x96\x81" "a", "\xE2\x96\x81" "b", "a", "b", "c", "\xE2\x96\x81",
    "\xE2\x96\x81" "ab", "ab", "abc", "." };
#define TINY_V ((int)(sizeof tiny_pieces / sizeof *tiny_pieces))

typedef struct tiny_opts {
    const char *arch;
    int with_vocab;
    int bad_shape;       /* l1.ffn1.w gets the wrong shape */
    int drop_tensor;     /* tanh.b missing */
} tiny_opts;

/* Deterministic pseudo-random weights in [-0.5, 0.5). */
static float *fill(size_t n, unsigned seed)
{
    float *p = malloc(n * sizeof *p);
    unsigned s = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        s = s * 1103515245u + 12345u;
        p[i] = (float)((s >> 8) & 0xFFFF) / 65536.0f - 0.5f;
    }
    return p;
}

static float *keep[64];
static int n_keep;

static void add(model_writer *w, const char *name, int64_t r, int64_t c)
{
    int64_t shape[2] = { r, c };
    float *d = fill((size_t)(r * (c ? c : 1)), (unsigned)n_keep + 7);
    keep[n_keep++] = d;
    cr_assert_eq(model_writer_tensor(w, name, c ? 2 : 1, shape, d), 0);
}

static void free_kept(void)
{
    for (int i = 0; i < n_keep; i++)
        free(keep[i]);
    n_keep = 0;
}

static void write_tiny(const char *path, const tiny_opts *o)
{
    model_writer *w = model_writer_new(o->arch ? o->arch : "use-lite");
    cr_assert(w);
    model_writer_config(w, "n_layers", 2);
    model_writer_config(w, "d_embed", TINY_E);
    model_writer_config(w, "d_model", TINY_D);
    model_writer_config(w, "ffn_dim", TINY_F);
    model_writer_config(w, "heads", 2);
    model_writer_config(w, "max_tokens", 8);
    model_writer_config(w, "ln_eps", 1e-6);
    model_writer_config(w, "l2_eps", 1e-12);
    model_writer_config(w, "spm_reserved", 6);
    model_writer_config(w, "embed_rows", TINY_V);
    model_writer_config(w, "l0.q_scale", 1 / sqrt(TINY_E / 2.0));
    model_writer_config(w, "l1.q_scale", 1 / sqrt(TINY_D / 2.0));
    if (o->with_vocab)
        for (int i = 0; i < TINY_V; i++)
            model_writer_piece(w, tiny_pieces[i], strlen(tiny_pieces[i]), i < 6 ? 0 : -1.0 - 0.25 * i);
    add(w, "embed", TINY_V, TINY_E);
    add(w, "timing_inv", TINY_E / 2, 0);
    add(w, "tanh.w", TINY_D, TINY_D);
    if (!o->drop_tensor)
        add(w, "tanh.b", TINY_D, 0);
    for (int l = 0; l < 2; l++) {
        int in = l == 0 ? TINY_E : TINY_D;
        char n[64];
#define T(S, R, C) do { snprintf(n, sizeof n, "l%d." S, l); add(w, n, R, C); } while (0)
        T("ln1.g", in, 0); T("ln1.b", in, 0);
        T("qkv.w", in, 3 * in); T("qkv.b", 3 * in, 0);
        T("out.w", in, TINY_D); T("out.b", TINY_D, 0);
        if (l == 0) { T("res.w", in, TINY_D); T("res.b", TINY_D, 0); }
        T("ln2.g", TINY_D, 0); T("ln2.b", TINY_D, 0);
        if (l == 1 && o->bad_shape)
            T("ffn1.w", TINY_D + 1, TINY_F);
        else
            T("ffn1.w", TINY_D, TINY_F);
        T("ffn1.b", TINY_F, 0);
        T("ffn2.w", TINY_F, TINY_D); T("ffn2.b", TINY_D, 0);
#undef T
    }
    char err[256];
    int rc = model_writer_save(w, path, err, sizeof err);
    cr_assert_eq(rc, 0, "save: %s", err);
    model_writer_free(w);
    free_kept();
}

static char tmpdir[64];

static void setup(void)
{
    tmpdir_make(tmpdir, sizeof tmpdir, "mf");
}

static void teardown(void)
{
    tmpdir_remove(tmpdir);
}

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert(f);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(*len);
    cr_assert_eq(fread(b, 1, *len, f), *len);
    fclose(f);
    return b;
}

static void spit(const char *path, const unsigned char *b, size_t len)
{
    FILE *f = fopen(path, "wb");
    cr_assert(f);
    cr_assert_eq(fwrite(b, 1, len, f), len);
    fclose(f);
}

static void tiny_path(char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "%s/%s", tmpdir, name);
}

Test(model_file, round_trip, .init = setup, .fini = teardown)
{
    char path[128], err[256];
    tiny_path(path, sizeof path, "tiny.lctxm");
    tiny_opts o = { .with_vocab = 1 };
    write_tiny(path, &o);
    model_file *m = model_file_open(path, err, sizeof err);
    cr_assert(m, "open: %s", err);
    cr_assert_str_eq(model_file_arch(m), "use-lite");
    double v = 0;
    cr_assert_eq(model_file_config(m, "d_model", &v), 0);
    cr_assert_eq(v, TINY_D);
    cr_assert_eq(model_file_config(m, "nope", &v), -1);
    cr_assert_eq(model_file_vocab_size(m), TINY_V);
    size_t len;
    const char *p = model_file_piece(m, 12, &len);
    cr_assert_eq(len, strlen(tiny_pieces[12]));
    cr_assert_eq(memcmp(p, tiny_pieces[12], len), 0);
    cr_assert_eq(model_file_score(m, 12), -1.0 - 0.25 * 12);
    const model_tensor *t = model_file_tensor(m, "l1.ffn1.w");
    cr_assert(t);
    cr_assert_eq(t->ndim, 2);
    cr_assert_eq(t->shape[0], TINY_D);
    cr_assert_eq(t->shape[1], TINY_F);
    cr_assert_eq(((uintptr_t)t->data) % 64, 0, "tensor data must be 64-byte aligned");
    /* the bytes are the writer's: regenerate the same stream and compare */
    const model_tensor *e = model_file_tensor(m, "embed");
    float *ref = fill((size_t)TINY_V * TINY_E, 7);
    cr_assert_eq(memcmp(e->data, ref, (size_t)TINY_V * TINY_E * sizeof(float)), 0);
    free(ref);
    cr_assert_null(model_file_tensor(m, "missing"));
    model_file_close(m);
}

Test(model_file, every_truncation_fails_cleanly, .init = setup, .fini = teardown)
{
    char path[128], cut[128], err[256];
    tiny_path(path, sizeof path, "tiny.lctxm");
    tiny_path(cut, sizeof cut, "cut.lctxm");
    tiny_opts o = { .with_vocab = 1 };
    write_tiny(path, &o);
    size_t len;
    unsigned char *b = slurp(path, &len);
    for (size_t k = 0; k < len; k += (k < 256 ? 1 : 61)) {
        spit(cut, b, k);
        err[0] = 0;
        model_file *m = model_file_open(cut, err, sizeof err);
        cr_assert_null(m, "a file cut to %zu of %zu bytes was accepted", k, len);
        cr_assert(strstr(err, cut) == err, "message must start with the file name: %s", err);
        cr_assert_null(strchr(err, '\n'), "one line: %s", err);
    }
    free(b);
}

Test(model_file, every_flipped_byte_is_detected, .init = setup, .fini = teardown)
{
    char path[128], bad[128], err[256];
    tiny_path(path, sizeof path, "tiny.lctxm");
    tiny_path(bad, sizeof bad, "bad.lctxm");
    tiny_opts o = { .with_vocab = 1 };
    write_tiny(path, &o);
    size_t len;
    unsigned char *b = slurp(path, &len);
    for (size_t k = 0; k < len; k += 13) {
        b[k] ^= 0x20;
        model_file *m = model_file_parse(b, len, bad, err, sizeof err);
        cr_assert_null(m, "a flipped byte at %zu was not detected", k);
        cr_assert(strstr(err, bad) == err, "%s", err);
        b[k] ^= 0x20;
    }
    free(b);
}

/* Damage behind a recomputed checksum: the structural checks must hold on
 * their own. */
static void expect_structural_error(unsigned char *b, size_t len, const char *what)
{
    char err[256];
    uint64_t h = model_file_hash(b, len);
    memcpy(b + MODEL_FILE_CHECKSUM_OFFSET, &h, 8);
    model_file *m = model_file_parse(b, len, "damaged.lctxm", err, sizeof err);
    cr_assert_null(m, "%s was accepted", what);
    cr_assert(strstr(err, "damaged.lctxm: ") == err, "%s: %s", what, err);
}

Test(model_file, structural_damage_with_valid_checksum, .init = setup, .fini = teardown)
{
    char path[128];
    tiny_path(path, sizeof path, "tiny.lctxm");
    tiny_opts o = { .with_vocab = 1 };
    write_tiny(path, &o);
    size_t len;
    unsigned char *orig = slurp(path, &len);
    unsigned char *b = malloc(len);
    uint64_t tensor_dir, v64;
    uint32_t v32;
    memcpy(&tensor_dir, orig + 104, 8);

    memcpy(b, orig, len); v32 = 99; memcpy(b + 72, &v32, 4);             /* n_tensors */
    expect_structural_error(b, len, "a tensor count past the directory");
    memcpy(b, orig, len); v64 = len * 2; memcpy(b + 104, &v64, 8);        /* directory offset */
    expect_structural_error(b, len, "a directory outside the file");
    memcpy(b, orig, len); v32 = 5; memcpy(b + tensor_dir + 68, &v32, 4);  /* ndim */
    expect_structural_error(b, len, "a 5-dimensional tensor");
    memcpy(b, orig, len); v64 = 1000; memcpy(b + tensor_dir + 72, &v64, 8);   /* shape[0] */
    expect_structural_error(b, len, "a shape that does not match the byte count");
    memcpy(b, orig, len); v64 = len - 4; memcpy(b + tensor_dir + 104, &v64, 8); /* data offset */
    expect_structural_error(b, len, "misaligned tensor data past the end");
    memcpy(b, orig, len); memset(b + tensor_dir, 'A', MODEL_NAME_MAX);       /* name */
    expect_structural_error(b, len, "an unterminated tensor name");
    memcpy(b, orig, len); v32 = 7; memcpy(b + tensor_dir + 64, &v32, 4);     /* dtype */
    expect_structural_error(b, len, "an unknown dtype");
    memcpy(b, orig, len); v32 = 2; memcpy(b + 8, &v32, 4);                   /* version */
    expect_structural_error(b, len, "a future format version");
    memcpy(b, orig, len); memset(b + 32, 0, 32);                              /* arch */
    expect_structural_error(b, len, "an empty architecture");
    free(b);
    free(orig);
}

Test(model_file, missing_file_names_it)
{
    char err[256];
    cr_assert_null(model_file_open("/nonexistent/dir/x.lctxm", err, sizeof err));
    cr_assert(strstr(err, "/nonexistent/dir/x.lctxm: ") == err, "%s", err);
}

static void expect_use_error(const tiny_opts *o, const char *needle)
{
    char path[128], err[256];
    tiny_path(path, sizeof path, "variant.lctxm");
    write_tiny(path, o);
    use_model *u = use_model_open(path, err, sizeof err);
    cr_assert_null(u, "variant accepted (expected '%s')", needle);
    cr_assert(strstr(err, path) == err, "message must name the file: %s", err);
    cr_assert(strstr(err, needle), "expected '%s' in: %s", needle, err);
}

Test(model_file, encoder_refuses_wrong_models, .init = setup, .fini = teardown)
{
    tiny_opts wrong_arch = { .arch = "bert", .with_vocab = 1 };
    expect_use_error(&wrong_arch, "architecture 'bert' is not use-lite");
    tiny_opts no_vocab = { .with_vocab = 0 };
    expect_use_error(&no_vocab, "vocabulary missing");
    tiny_opts bad_shape = { .with_vocab = 1, .bad_shape = 1 };
    expect_use_error(&bad_shape, "'l1.ffn1.w' has the wrong shape");
    tiny_opts dropped = { .with_vocab = 1, .drop_tensor = 1 };
    expect_use_error(&dropped, "'tanh.b' missing");
}

static double dot(const float *a, const float *b, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++)
        s += (double)a[i] * b[i];
    return s;
}

Test(model_file, tiny_model_encodes, .init = setup, .fini = teardown)
{
    char path[128], err[256];
    tiny_path(path, sizeof path, "tiny.lctxm");
    tiny_opts o = { .with_vocab = 1 };
    write_tiny(path, &o);
    use_model *u = use_model_open(path, err, sizeof err);
    cr_assert(u, "%s", err);
    cr_assert_eq(use_model_dim(u), TINY_D);
    /* the second text is longer than max_tokens (8): the window path */
    const char *texts[3] = { "ab c", "a b abc a b abc a b abc a b", "" };
    float out[3 * TINY_D], one[TINY_D];
    cr_assert_eq(use_embed_texts(u, texts, 3, USE_LONG_WINDOW, out, err, sizeof err), 0, "%s", err);
    for (int i = 0; i < 3; i++) {
        cr_assert_float_eq(dot(out + i * TINY_D, out + i * TINY_D, TINY_D), 1.0, 1e-5,
                           "embedding %d is not unit length", i);
        /* alone or in a batch: the same vector */
        cr_assert_eq(use_embed_texts(u, &texts[i], 1, USE_LONG_WINDOW, one, err, sizeof err), 0);
        cr_assert_float_eq(dot(out + i * TINY_D, one, TINY_D), 1.0, 1e-5, "batch changes text %d", i);
    }
    use_model_close(u);
}
