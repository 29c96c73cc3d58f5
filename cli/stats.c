/*
 * stats.c — how lctx-index --stats shows a collection.
 *
 * Two forms of the same lctx_stats: "key: value" lines for people, one
 * per setting or count, and with --json one object for programs, in
 * which the counts are numbers, stopwords a boolean and settings never
 * recorded (icu_version of an older collection) null rather than 0. The
 * keys are the same in both and are listed in docs/lctx-index.1; tests
 * read them back (tests/test_cli_settings.c, test_cli_index.c), so a
 * renamed key is a changed interface, not a cosmetic edit.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

void cli_print_stats(const lctx_stats *s, int json)
{
    if (json) {
        cJSON *o = cJSON_CreateObject();
        if (o) {
            cJSON_AddNumberToObject(o, "documents", (double)s->documents);
            cJSON_AddNumberToObject(o, "chunks", (double)s->chunks);
            cJSON_AddNumberToObject(o, "deleted_chunks", (double)s->deleted_chunks);
            cJSON_AddNumberToObject(o, "terms", (double)s->terms);
            cJSON_AddNumberToObject(o, "postings", (double)s->postings);
            cJSON_AddNumberToObject(o, "avg_chunk_len", s->avg_chunk_len);
            cJSON_AddNumberToObject(o, "last_seq", (double)s->last_seq);
            cJSON_AddNumberToObject(o, "awaiting_recovery", (double)s->awaiting_recovery);
            cJSON_AddNumberToObject(o, "doc_ids_spent", (double)s->doc_ids_spent);
            cJSON_AddNumberToObject(o, "chunk_ids_spent", (double)s->chunk_ids_spent);
            cJSON_AddNumberToObject(o, "disk_bytes", (double)s->disk_bytes);
            cJSON_AddNumberToObject(o, "format_version", s->format_version);
            cJSON_AddStringToObject(o, "language", s->language);
            cJSON_AddNumberToObject(o, "bm25_k1", s->bm25_k1);
            cJSON_AddNumberToObject(o, "bm25_b", s->bm25_b);
            cJSON_AddNumberToObject(o, "title_weight", s->title_weight);
            cJSON_AddBoolToObject(o, "stopwords", s->stopwords != 0);
            cJSON_AddStringToObject(o, "accents", s->fold_accents ? "fold" : "keep");
            cJSON_AddNumberToObject(o, "chunk_words", s->chunk_words);
            cJSON_AddNumberToObject(o, "tokenizer_rules", s->tokenizer_rules);
            if (s->icu_version)
                cJSON_AddNumberToObject(o, "icu_version", s->icu_version);
            else
                cJSON_AddNullToObject(o, "icu_version");
            cJSON_AddStringToObject(o, "embedder", s->embedder[0] ? s->embedder : "none");
            cJSON_AddNumberToObject(o, "dim", s->dim);
            cJSON_AddStringToObject(o, "vector_encoding", s->vector_encoding);
            cJSON_AddNumberToObject(o, "vectors", (double)s->vectors);
            cJSON_AddNumberToObject(o, "lsh_bits", s->lsh_bits);
            cJSON_AddNumberToObject(o, "lsh_tables", s->lsh_tables);
            cJSON_AddNumberToObject(o, "lsh_probes", s->lsh_probes);
            cJSON_AddNumberToObject(o, "lsh_target_recall", s->lsh_target_recall);
            cJSON_AddNumberToObject(o, "lsh_measured_recall", s->lsh_measured_recall);
        }
        cli_print_json(stdout, o);
        return;
    }
    printf("documents: %llu\n", (unsigned long long)s->documents);
    printf("chunks: %llu\n", (unsigned long long)s->chunks);
    printf("deleted_chunks: %llu\n", (unsigned long long)s->deleted_chunks);
    printf("terms: %llu\n", (unsigned long long)s->terms);
    printf("postings: %llu\n", (unsigned long long)s->postings);
    printf("avg_chunk_len: %.2f\n", s->avg_chunk_len);
    printf("last_seq: %llu\n", (unsigned long long)s->last_seq);
    if (s->awaiting_recovery)
        printf("awaiting_recovery: %llu batches (replayed at the next write or --check)\n",
               (unsigned long long)s->awaiting_recovery);
    printf("doc_ids_spent: %llu\n", (unsigned long long)s->doc_ids_spent);
    printf("chunk_ids_spent: %llu\n", (unsigned long long)s->chunk_ids_spent);
    printf("disk_bytes: %llu\n", (unsigned long long)s->disk_bytes);
    printf("format_version: %d\n", s->format_version);
    printf("language: %s\n", s->language);
    printf("bm25_k1: %g\n", s->bm25_k1);
    printf("bm25_b: %g\n", s->bm25_b);
    printf("title_weight: %g\n", s->title_weight);
    printf("stopwords: %s\n", s->stopwords ? "on" : "off");
    printf("accents: %s\n", s->fold_accents ? "fold" : "keep");
    printf("chunk_words: %d\n", s->chunk_words);
    printf("tokenizer_rules: %d\n", s->tokenizer_rules);
    if (s->icu_version)
        printf("icu_version: %d\n", s->icu_version);
    else
        printf("icu_version: not recorded\n");
    printf("embedder: %s\n", s->embedder[0] ? s->embedder : "none");
    if (!s->embedder[0] || !strcmp(s->embedder, "none"))
        return;
    printf("dim: %d\n", s->dim);
    printf("vector_encoding: %s\n", s->vector_encoding);
    printf("vectors: %llu\n", (unsigned long long)s->vectors);
    if (s->lsh_tables)
        printf("vector_search: lsh (bits %d, tables %d, probes %d, recall@10 %.3f, target "
               "%.3f)\n", s->lsh_bits, s->lsh_tables, s->lsh_probes, s->lsh_measured_recall,
               s->lsh_target_recall);
    else
        printf("vector_search: exact (lsh target recall %.3f)\n", s->lsh_target_recall);
}
