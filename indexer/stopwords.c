/*
 * stopwords.c — the built-in stopword lists.
 *
 * Stopwords are dropped from the index (their positions still count, so
 * phrase adjacency survives). The list is deliberately small: it is the
 * English stop set of Lucene's EnglishAnalyzer (33 words), which is what the
 * Lucene/Anserini BM25 baselines on BEIR use. Longer lists (Snowball's 174
 * words) remove pronouns and auxiliaries that sometimes carry meaning in a
 * query ("who", "what", "should"), and buy little: BM25's idf already makes
 * frequent words nearly free. Matching that baseline also keeps our scores
 * comparable with the published ones.
 *
 * The words are compared after normalisation (NFKC + case fold) and before
 * stemming, so the list is lower case and unstemmed. Only English has a
 * built-in list; other languages get none. The "none" language (no stemmer)
 * still uses the English list: it means "do not stem", not "not English".
 */
#include "indexer/indexer.h"

#include <string.h>

/* Sorted (strcmp order) for binary search. */
static const char *const tok_english_stopwords[] = {
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if",
    "in", "into", "is", "it", "no", "not", "of", "on", "or", "such", "that",
    "the", "their", "then", "there", "these", "they", "this", "to", "was",
    "will", "with",
};

static const tok_stoplist tok_english = {
    tok_english_stopwords,
    sizeof tok_english_stopwords / sizeof tok_english_stopwords[0],
};

/* Languages whose texts use the English list, by Snowball's names and
 * codes. */
static const char *const tok_english_names[] = {
    "english", "en", "eng", "porter", "none",
};

int tok_language_english(const char *language)
{
    if (!language || !*language)
        return 1;
    for (size_t i = 0; i < sizeof tok_english_names / sizeof tok_english_names[0]; i++)
        if (strcmp(language, tok_english_names[i]) == 0)
            return 1;
    return 0;
}

const tok_stoplist *tok_stoplist_for(const char *language)
{
    return tok_language_english(language) ? &tok_english : NULL;
}

/* Compares the NUL-terminated s with the len bytes of w, as strcmp would
 * compare s with w's NUL-terminated copy. */
static int tok_cmp_word(const char *s, const char *w, size_t len)
{
    size_t i;
    for (i = 0; i < len; i++) {
        unsigned char a = (unsigned char)s[i], b = (unsigned char)w[i];
        if (a != b)
            return a < b ? -1 : 1;   /* a == 0 sorts first, as in strcmp */
    }
    return s[len] ? 1 : 0;
}

int tok_stoplist_contains(const tok_stoplist *l, const char *w, size_t len)
{
    size_t lo = 0, hi;

    if (!l || !w || len == 0)
        return 0;
    hi = l->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = tok_cmp_word(l->words[mid], w, len);
        if (c == 0)
            return 1;
        if (c > 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return 0;
}
