/*
 * test_wordpiece.c — WordPiece tokenization must equal Hugging Face's.
 *
 * tests/data/bert/tokenization.json holds 560 strings (ASCII, accents, CJK,
 * emoji, punctuation, numbers, words over 100 characters, control and
 * whitespace characters, literal special tokens) and the ids that
 * `tokenizers` 0.23 produced for each with the real all-MiniLM-L6-v2 and
 * bge-small-en-v1.5 tokenizer.json files (tools/make-bert-fixtures.py).
 * Every string must match exactly. Smaller tests pin individual rules.
 */
#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attention/attention.h"

#define TOKDIR "tests/data/bert/tokenizers/"

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert(f, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    cr_assert(buf);
    cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = 0;
    fclose(f);
    if (len)
        *len = (size_t)n;
    return buf;
}

static void check_reference(const char *tokfile, const char *key)
{
    char err[512] = "";
    wordpiece *w = hf_tokenizer_json(tokfile, err, sizeof err);
    cr_assert(w, "%s", err);
    char *txt = slurp("tests/data/bert/tokenization.json", NULL);
    cJSON *root = cJSON_Parse(txt);
    free(txt);
    cr_assert(root);
    cJSON *strings = cJSON_GetObjectItem(root, "strings");
    cJSON *expect = cJSON_GetObjectItem(root, key);
    int n = cJSON_GetArraySize(strings);
    cr_assert_geq(n, 500);
    cr_assert_eq(cJSON_GetArraySize(expect), n);
    int bad = 0;
    for (int i = 0; i < n; i++) {
        const char *s = cJSON_GetArrayItem(strings, i)->valuestring;
        cJSON *want = cJSON_GetArrayItem(expect, i);
        int32_t *ids = NULL;
        int nid = 0;
        cr_assert_eq(wordpiece_encode(w, s, NULL, 0, &ids, NULL, &nid, err, sizeof err), 0);
        int same = nid == cJSON_GetArraySize(want);
        for (int j = 0; same && j < nid; j++)
            same = ids[j] == cJSON_GetArrayItem(want, j)->valueint;
        if (!same && bad++ < 5) {
            char *ws = cJSON_PrintUnformatted(want);
            fprintf(stderr, "string %d mismatch: %s\n  want %s\n  got ", i, s, ws);
            for (int j = 0; j < nid; j++)
                fprintf(stderr, "%d ", ids[j]);
            fprintf(stderr, "\n");
            free(ws);
        }
        free(ids);
    }
    cr_expect_eq(bad, 0, "%d of %d strings tokenized differently from HF", bad, n);
    cJSON_Delete(root);
    wordpiece_free(w);
}

Test(wordpiece, minilm_matches_hf_on_560_strings)
{
    check_reference(TOKDIR "all-minilm-l6-v2-tokenizer.json", "minilm");
}

Test(wordpiece, bge_matches_hf_on_560_strings)
{
    check_reference(TOKDIR "bge-small-en-v1.5-tokenizer.json", "bge");
}

/* A toy vocabulary makes each rule visible. */
static wordpiece *toy(void)
{
    static const char *v[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "un", "##aff",
                              "##able", "hello", ",", "!", "cafe", "北", "京", "a", "##a"};
    char err[256];
    wordpiece *w = wordpiece_new(v, (int)(sizeof v / sizeof *v), NULL, "toy", err, sizeof err);
    cr_assert(w, "%s", err);
    return w;
}

static int toks(const wordpiece *w, const char *s, int32_t *out, int cap)
{
    int32_t *ids;
    int n;
    char err[128];
    cr_assert_eq(wordpiece_tokenize(w, s, strlen(s), &ids, &n, err, sizeof err), 0);
    cr_assert_leq(n, cap);
    memcpy(out, ids, (size_t)n * sizeof *ids);
    free(ids);
    return n;
}

Test(wordpiece, greedy_longest_match_and_unknown)
{
    wordpiece *w = toy();
    int32_t o[16];
    int n = toks(w, "Unaffable, HELLO!", o, 16);
    int32_t want[] = {5, 6, 7, 9, 8, 10};
    cr_assert_eq(n, 6);
    cr_assert_arr_eq(o, want, sizeof want);
    n = toks(w, "unaffablex", o, 16);   /* no cover for "x": whole word [UNK] */
    cr_assert_eq(n, 1);
    cr_assert_eq(o[0], 1);
    wordpiece_free(w);
}

Test(wordpiece, accents_cjk_and_specials)
{
    wordpiece *w = toy();
    int32_t o[16];
    int n = toks(w, "CAFÉ北京[MASK]", o, 16);
    int32_t want[] = {11, 12, 13, 4};
    cr_assert_eq(n, 4);
    cr_assert_arr_eq(o, want, sizeof want);
    wordpiece_free(w);
}

Test(wordpiece, long_word_becomes_unk)
{
    wordpiece *w = toy();
    char s[202];
    memset(s, 'a', 101);
    s[101] = 0;
    int32_t o[4];
    cr_assert_eq(toks(w, s, o, 4), 1);
    cr_assert_eq(o[0], 1);
    s[100] = 0;                 /* exactly 100 characters still splits */
    int32_t *ids;
    int n;
    char err[64];
    cr_assert_eq(wordpiece_tokenize(w, s, 100, &ids, &n, err, sizeof err), 0);
    cr_assert_eq(n, 100);
    cr_assert_eq(ids[0], 14);
    cr_assert_eq(ids[99], 15);
    free(ids);
    wordpiece_free(w);
}

Test(wordpiece, pair_truncation_longest_first)
{
    wordpiece *w = toy();
    int32_t *ids, *tt;
    int n;
    char err[64];
    cr_assert_eq(wordpiece_encode(w, "hello hello", "a a a a a a a a", 8, &ids, &tt, &n, err,
                                  sizeof err), 0);
    cr_assert_eq(n, 8);
    /* [CLS] hello hello [SEP] a a a [SEP]: the longer second segment lost 5 */
    int32_t want[] = {2, 8, 8, 3, 14, 14, 14, 3};
    int32_t want_tt[] = {0, 0, 0, 0, 1, 1, 1, 1};
    cr_assert_arr_eq(ids, want, sizeof want);
    cr_assert_arr_eq(tt, want_tt, sizeof want_tt);
    free(ids);
    free(tt);
    wordpiece_free(w);
}

Test(wordpiece, vocab_txt_and_missing_specials)
{
    char err[512] = "";
    wordpiece *w = hf_vocab_txt("tests/data/bert/minilm/vocab.txt", err, sizeof err);
    cr_assert(w, "%s", err);
    cr_assert_eq(wordpiece_vocab_size(w), 2000);
    cr_assert_eq(wordpiece_cls(w), 2);
    cr_assert_eq(wordpiece_sep(w), 3);
    wordpiece_free(w);
    static const char *v[] = {"[PAD]", "[CLS]", "[SEP]", "x"};
    cr_assert_null(wordpiece_new(v, 4, NULL, "novocab", err, sizeof err));
    cr_assert(strstr(err, "[UNK]"), "%s", err);
    cr_assert_null(hf_read_tokenizer("tests/data/bert/nonexistent", err, sizeof err));
    cr_assert(strstr(err, "missing vocabulary"), "%s", err);
}
