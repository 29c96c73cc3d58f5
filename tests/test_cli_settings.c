/*
 * test_cli_settings.c — lctx-index's creation settings, end to end.
 *
 * A collection's language, stopwords, passage length and BM25 parameters
 * are fixed when it is created (lctx_config). lctx-index names them with
 * --language, --no-stopwords, --chunk-words, --bm25-k1, --bm25-b and
 * --title-weight. What a user relies on: each reaches the collection
 * (--stats shows it and searches behave by it); a value the library cannot
 * honour is refused before anything is created; and naming a different
 * value for an existing collection is an error that names the setting and
 * changes nothing, not an option silently ignored.
 */
#include "test_cli_harness.h"

TestSuite(cli_settings, .fini = cleanup_tmpdir, .timeout = 60);

static const char GERMAN[] =
    "{\"id\":\"g1\",\"title\":\"Häuser\",\"text\":\"Die Häuser der Altstadt sind alt und schön.\"}\n"
    "{\"id\":\"g2\",\"title\":\"Verkehr\",\"text\":\"Das Auto fährt schnell über die Brücke.\"}\n";

/* Indexes text into a new collection name with the extra arguments
 * (NULL-terminated, at most 16); returns its path. */
static const char *make(const char *name, const char *text, ...)
{
    const char *corpus = tpath("in.jsonl");
    write_file(corpus, text);
    const char *coll = tpath(name);
    char *argv[24] = { (char *)program("lctx-index"), "-c", (char *)coll, "--quiet" };
    int n = 4;
    va_list ap;
    va_start(ap, text);
    for (const char *s; n < 20 && (s = va_arg(ap, const char *)); )
        argv[n++] = (char *)s;
    va_end(ap);
    argv[n++] = (char *)corpus;
    argv[n] = NULL;
    cmd_result r = run_argv(NULL, argv);
    expect_status(r, 0);
    result_free(&r);
    return coll;
}

static char *stats_of(const char *coll)
{
    cmd_result r = run(NULL, "lctx-index", "-c", coll, "--stats", NULL);
    expect_status(r, 0);
    char *out = r.out;
    r.out = NULL;
    result_free(&r);
    return out;
}

/* The top hit's score of a --json search, or -1 with no hits. */
static double top_score(const char *coll, const char *query)
{
    cmd_result r = run(NULL, "lctx-search", "-c", coll, "--json", query, NULL);
    expect_status(r, 0);
    cJSON *o = cJSON_Parse(r.out);
    cr_assert_not_null(o, "not JSON: %s", r.out);
    cJSON *first = cJSON_GetArrayItem(cJSON_GetObjectItem(o, "hits"), 0);
    double s = first ? cJSON_GetNumberValue(cJSON_GetObjectItem(first, "score")) : -1;
    cJSON_Delete(o);
    result_free(&r);
    return s;
}

Test(cli_settings, each_setting_reaches_the_collection)
{
    const char *coll = make("de.lctx", GERMAN, "--language", "german", "--no-stopwords",
                            "--chunk-words", "50", "--bm25-k1", "1.5", "--bm25-b", "0.5",
                            "--title-weight", "1", "--accents", "fold", NULL);
    char *st = stats_of(coll);
    expect_contains(st, "language: german\n");
    expect_contains(st, "accents: fold\n");
    expect_contains(st, "stopwords: off\n");
    expect_contains(st, "chunk_words: 50\n");
    expect_contains(st, "bm25_k1: 1.5\n");
    expect_contains(st, "bm25_b: 0.5\n");
    expect_contains(st, "title_weight: 1\n");
    free(st);

    /* German stemming joins Haus and Häuser; the English stemmer does not. */
    char *ids = hit_ids(coll, "Haus");
    cr_assert_str_eq(ids, "g1");
    free(ids);
    const char *en = make("en.lctx", GERMAN, NULL);
    ids = hit_ids(en, "Haus");
    cr_assert_str_eq(ids, "", "english stemming matched Haus: %s", ids);
    free(ids);
    st = stats_of(en);
    expect_contains(st, "language: english\n");
    expect_contains(st, "stopwords: on\n");
    expect_contains(st, "chunk_words: 400\n");
    expect_contains(st, "accents: fold\n");
    expect_contains(st, "doc_ids_spent: 2\n");   /* two documents, one passage each */
    expect_contains(st, "chunk_ids_spent: 2\n");
    free(st);
    cmd_result j = run(NULL, "lctx-index", "-c", en, "--stats", "--json", NULL);
    expect_status(j, 0);
    expect_contains(j.out, "\"accents\":\"fold\"");
    expect_contains(j.out, "\"doc_ids_spent\":2,");
    result_free(&j);
    /* "Hauser" finds Häuser where accents fold: English's default. With
     * --accents keep, English stems the two apart. (German's stemmer takes
     * umlauts off by itself, so German would find it either way.) */
    ids = hit_ids(coll, "Altstadt Hauser");
    cr_assert_str_eq(ids, "g1");
    free(ids);
    const char *kept = make("kept.lctx", GERMAN, "--accents", "keep", NULL);
    st = stats_of(kept);
    expect_contains(st, "accents: keep\n");
    free(st);
    ids = hit_ids(kept, "Hauser");
    cr_assert_str_eq(ids, "", "--accents keep folded Häuser: %s", ids);
    free(ids);
    ids = hit_ids(en, "Hauser");
    cr_assert_str_eq(ids, "g1", "english folds accents by default");
    free(ids);
}

Test(cli_settings, stopwords_and_chunk_words_change_what_is_indexed)
{
    char text[4096] = "{\"id\":\"long\",\"text\":\"";
    for (int i = 0; i < 120; i++)
        strcat(text, i % 10 == 9 ? "the end. " : "word ");
    strcat(text, "\"}\n");
    const char *kept = make("kept.lctx", text, "--no-stopwords", "--chunk-words", "30", NULL);
    const char *dropped = make("dropped.lctx", text, NULL);
    char *ids = hit_ids(kept, "the");
    cr_assert_str_eq(ids, "long");
    free(ids);
    cmd_result r = run(NULL, "lctx-search", "-c", dropped, "the", NULL);
    expect_status(r, 0);
    expect_contains(r.err, "stopword");
    result_free(&r);
    char *a = stats_of(kept), *b = stats_of(dropped);
    cr_assert_geq(stat_value(a, "chunks"), 4, "120 words in passages of 30:\n%s", a);
    cr_assert_eq(stat_value(b, "chunks"), 1, "120 words in passages of 400:\n%s", b);
    free(a);
    free(b);
}

Test(cli_settings, bm25_parameters_change_scores)
{
    const char *base = make("base.lctx", CORPUS, NULL);
    const char *k1 = make("k1.lctx", CORPUS, "--bm25-k1", "2", NULL);
    const char *tw = make("tw.lctx", CORPUS, "--title-weight", "0", NULL);
    double s0 = top_score(base, "coffee");
    cr_assert_gt(s0, 0);
    cr_assert_neq(top_score(k1, "coffee"), s0, "k1 2 scored as k1 1.2");
    /* "Coffee" is in d4's title and text: without titles its score drops. */
    double s2 = top_score(tw, "coffee");
    cr_assert(s2 > 0 && s2 < s0, "title weight 0: %g against %g", s2, s0);
}

Test(cli_settings, values_that_cannot_be_honoured_create_nothing)
{
    const char *corpus = tpath("in.jsonl");
    write_file(corpus, CORPUS);
    const char *coll = tpath("x.lctx");
    const char *const usage[][4] = {
        { "-c", coll, "--bm25-b", "2" },
        { "-c", coll, "--bm25-k1", "-1" },
        { "-c", coll, "--bm25-k1", "nan" },
        { "-c", coll, "--chunk-words", "0" },
        { "-c", coll, "--title-weight", "x" },
        { "-c", coll, "--accents", "strip" },
    };
    expect_usage_errors("lctx-index", usage, sizeof usage / sizeof usage[0]);
    cmd_result r = run(NULL, "lctx-index", "-c", coll, "--language", "klingon", corpus, NULL);
    expect_status(r, 1);
    expect_contains(r.err, "unknown language 'klingon'");
    expect_contains(r.err, coll);
    result_free(&r);
    struct stat sb;
    cr_assert_neq(stat(coll, &sb), 0, "a refused setting created %s", coll);
}

Test(cli_settings, another_value_for_an_existing_collection_is_an_error)
{
    const char *coll = make("c.lctx", CORPUS, "--language", "porter", NULL);
    char *before = stats_of(coll);
    const char *corpus = tpath("more.jsonl");
    write_file(corpus, "{\"id\":\"new\",\"text\":\"a new document\"}\n");
    cmd_result r = run(NULL, "lctx-index", "-c", coll, "--language", "english", "--no-stopwords",
                       "--bm25-b", "0.4", "--accents", "keep", corpus, NULL);
    expect_status(r, 1);
    expect_contains(r.err, "created with --accents fold");
    expect_contains(r.err, "created with language porter, not english");
    expect_contains(r.err, "created with stopwords on, not --no-stopwords");
    expect_contains(r.err, "created with --bm25-b 0.75, not 0.4");
    result_free(&r);
    char *after = stats_of(coll);
    const char *keys[] = {"documents", "chunks", "terms", "postings", "last_seq"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        cr_assert_eq(stat_value(after, keys[i]), stat_value(before, keys[i]),
                     "a refused command changed %s:\n%s\nwas\n%s", keys[i], after, before);
    free(after);
    free(before);
    /* The same values are accepted, by searches' collection and writes. */
    r = run(NULL, "lctx-index", "-c", coll, "--language", "porter", "--bm25-b", "0.75",
            "--quiet", corpus, NULL);
    expect_status(r, 0);
    result_free(&r);
    cr_assert_eq(documents(coll), 6);
}
