/*
 * bench-tokenize.c — the tokenizer alone on a corpus: the 64-byte block
 * scan that indexing uses (tok_tokenize) against the byte-at-a-time scan
 * it replaced for ASCII text (tok_tokenize_bytes), in the same run.
 *
 * Each round tokenizes every document's text once with a new tokenizer
 * (a cold word cache: every distinct word is folded and stemmed once) and
 * once more with the same one (warm: nearly every word is a cache hit);
 * the two scans alternate round by round, so the machine's drift falls on
 * both. It reports the medians over rounds, in ms, and checks that both
 * scans produced the same number of tokens.
 *
 * usage: bench-tokenize --corpus corpus.jsonl [--language L] [--rounds 7] [--json]
 * (--language: the Snowball language, default english; turkish measures
 * the blocks with Turkish's capital I, which sends its words to the
 * byte scan.)
 * This is internal-API code (indexer/indexer.h), unlike the other BM25
 * benchmarks, which go through include/lctx.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "indexer/indexer.h"

#include "bm25_common.h"

typedef int (*scan_fn)(tok_tokenizer *, const char *, size_t, tok_list *);

/* One cold and one warm pass of scan over the texts: times in ms, tokens. */
static size_t run_pass(scan_fn scan, const char *language, const bm25_doc *docs, size_t n,
                       double *cold, double *warm)
{
    /* accents folded as a new collection of that language folds them */
    tok_config cfg = {language, 1, 1, 0, tok_language_english(language)};
    char err[128];
    tok_tokenizer *t = tok_new(&cfg, err, sizeof err);
    if (!t)
        bm25_die("tokenizer: %s", err);
    tok_list l;
    tok_list_init(&l);
    size_t tokens = 0;
    double *out[2] = {cold, warm};
    for (int pass = 0; pass < 2; pass++) {
        double t0 = bm25_now();
        for (size_t i = 0; i < n; i++) {
            tok_list_reset(&l);
            if (scan(t, docs[i].text, docs[i].text_len, &l))
                bm25_die("document %s: tokenizer failed", docs[i].id);
            if (pass == 0)
                tokens += l.n;
        }
        *out[pass] = (bm25_now() - t0) * 1e3;
    }
    tok_list_free(&l);
    tok_free(t);
    return tokens;
}

int main(int argc, char **argv)
{
    const char *corpus = NULL, *language = "english";
    int rounds = 7, json = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--corpus") && i + 1 < argc)
            corpus = argv[++i];
        else if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
            rounds = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--language") && i + 1 < argc)
            language = argv[++i];
        else if (!strcmp(argv[i], "--json"))
            json = 1;
        else
            corpus = NULL, i = argc;
    }
    if (!corpus || rounds < 1) {
        fprintf(stderr, "usage: bench-tokenize --corpus corpus.jsonl [--language L] [--rounds 7] "
                        "[--json]\n");
        return 2;
    }
    size_t n, bytes = 0;
    bm25_doc *docs = bm25_load_docs(corpus, &n);
    for (size_t i = 0; i < n; i++)
        bytes += docs[i].text_len;
    static const scan_fn scans[2] = {tok_tokenize_bytes, tok_tokenize};
    static const char *const names[2] = {"bytes", "blocks"};
    double *t = bm25_xmalloc(sizeof(double) * 4 * (size_t)rounds);
    size_t tokens[2] = {0, 0};
    for (int r = 0; r < rounds; r++)
        for (int s = 0; s < 2; s++) {
            double *c = &t[(size_t)(2 * s) * (size_t)rounds + (size_t)r];
            tokens[s] = run_pass(scans[s], language, docs, n, c, c + rounds);
        }
    if (tokens[0] != tokens[1])
        bm25_die("the scans disagree: %zu tokens against %zu", tokens[0], tokens[1]);
    for (int s = 0; s < 2; s++) {
        double *cold = &t[(size_t)(2 * s) * (size_t)rounds], *warm = cold + rounds;
        qsort(cold, (size_t)rounds, sizeof *cold, bm25_cmp_double);
        qsort(warm, (size_t)rounds, sizeof *warm, bm25_cmp_double);
        double c = bm25_quantile(cold, (size_t)rounds, 0.5), w = bm25_quantile(warm, (size_t)rounds, 0.5);
        if (json)
            printf("{\"corpus\":\"%s\",\"language\":\"%s\",\"scan\":\"%s\",\"docs\":%zu,\"bytes\":%zu,\"tokens\":%zu,"
                   "\"cold_ms\":%.3f,\"warm_ms\":%.3f,\"rounds\":%d}\n",
                   corpus, language, names[s], n, bytes, tokens[s], c, w, rounds);
        else
            printf("%-6s  %zu docs, %zu bytes, %zu tokens: cold %.2f ms, warm %.2f ms "
                   "(median of %d)\n", names[s], n, bytes, tokens[s], c, w, rounds);
    }
    free(t);
    bm25_free_docs(docs, n);
    return 0;
}
