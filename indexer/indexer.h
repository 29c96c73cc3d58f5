/*
 * indexer.h — the write path's text side: tokenizer, chunker, input readers,
 * and (further down) the postings builder.
 *
 * Internal header of the indexer/ module. Symbols use the prefixes tok_,
 * chunk_, ingest_, utf8_ and postings_build_; the public lctx_ prefix is kept
 * for include/lctx.h.
 *
 * Sections are owned by different people while the project grows: add to
 * your section, never rewrite the file whole.
 */
#ifndef LCTX_INDEXER_H
#define LCTX_INDEXER_H

#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "store/store.h"

/* ======================================================= UTF-8 (utf8.c) */

/* Returns 1 when s[0..len) is valid UTF-8; otherwise 0 and *bad_offset is
 * the offset of the first invalid byte. */
int utf8_validate(const char *s, size_t len, size_t *bad_offset);
/* Returns a malloc'd copy with each invalid sequence replaced by U+FFFD;
 * *out_len gets its length; *n_repairs (may be NULL) counts replacements. */
char *utf8_repair(const char *s, size_t len, size_t *out_len, size_t *n_repairs);
/* Heuristic: 1 when the bytes look binary (NUL bytes, or mostly control
 * characters in the first 8 KiB). */
int utf8_looks_binary(const char *s, size_t len);
/* UTF16_LE or UTF16_BE when s starts with that byte order mark, else 0. */
enum { UTF16_LE = 1, UTF16_BE = 2 };
int utf16_bom(const char *s, size_t len);
/* s[0..len), UTF-16 of the given order after its mark, as a malloc'd
 * NUL-terminated UTF-8 copy (*out_len bytes). Unpaired surrogates and an
 * odd last byte become U+FFFD: *n_repairs counts them (may be NULL), and
 * *first_bad (may be NULL) gets the offset in s of the first. NULL when
 * out of memory. */
char *utf16_decode(const char *s, size_t len, int order, size_t *out_len, size_t *n_repairs,
                   size_t *first_bad);
/* Scripts written without spaces between words, which the tokenizer splits
 * into character bigrams and the chunker counts a character as a word:
 * UTF8_SCRIPT_CJ (Han ideographs, hiragana, katakana: bigrams run across
 * them, as Japanese mixes them inside one word) and UTF8_SCRIPT_HANGUL. */
enum { UTF8_SCRIPT_OTHER = 0, UTF8_SCRIPT_CJ = 1, UTF8_SCRIPT_HANGUL = 2 };
int utf8_script(int32_t cp);

/* ================================================ tokenizer (tokenize.c) */

/* Tokenizer rules, recorded by each collection (docs/tokenizer.md):
 * 5 (current) indexes the last character of a CJK run also as a unigram
 * (tokenize.c); 4 splits Thai, Lao, Khmer and Myanmar runs into words with
 * ICU's dictionaries (tok_sea.c); 3 adds elision (French, Italian,
 * Catalan), Turkish apostrophes and dotted/dotless I, Hebrew acronyms,
 * ZWSP as a word break, decimal
 * digits of every script as ASCII, and a limit of TOK_MAX_TERM characters
 * rather than bytes (tok_rules3.c); 2 keeps fullwidth , . ' inside words as
 * their ASCII forms and composes decomposed Hangul (tokenize.c); 1 is what
 * collections made before 2026-11-23 were indexed with. */
#define TOK_RULES 5
typedef struct tok_config {
    const char *language;   /* Snowball language ("english", ...) or "none" */
    int stopwords;          /* drop stopwords of the language (English list built in) */
    int stem;               /* apply the stemmer (ignored when language is "none") */
    int rules;              /* 0: TOK_RULES; else the collection's (1, 2, ...) */
    int fold_accents;       /* 1: cafe = café in the Latin and Greek scripts (tok_accents.c) */
} tok_config;

typedef struct tok_token {
    uint32_t term;          /* offset of the NUL-terminated term in tok_list.terms */
    uint32_t term_len;      /* bytes, without the NUL */
    uint32_t start, end;    /* byte range in the original text */
    uint32_t pos;           /* position: counts every word, stopwords included,
                               so phrase adjacency survives stopword removal */
    uint32_t slot;          /* word cache slot the term came from, plus one; 0: none
                               (see tok_slot_tag) */
} tok_token;

typedef struct tok_list {
    tok_token *tokens;
    size_t n, cap;
    char *terms;            /* arena of NUL-terminated terms */
    size_t terms_len, terms_cap;
    uint32_t n_positions;   /* positions used (>= n) */
    uint32_t n_long;        /* words dropped as longer than the limit (TOK_MAX_TERM) */
} tok_list;

typedef struct tok_tokenizer tok_tokenizer;

/* A tokenizer holds a Snowball stemmer, which is not thread-safe: use one per
 * thread. Returns NULL and writes err on failure (unknown language). */
tok_tokenizer *tok_new(const tok_config *cfg, char *err, size_t errlen);
void tok_free(tok_tokenizer *t);
/* Faults the word cache in now, on the calling thread (see lane_init in
 * write.c for why the thread matters). Changes nothing a caller can see. */
void tok_warm(tok_tokenizer *t);

/* Normalises (NFKC + case fold via utf8proc), splits on Unicode word
 * boundaries (letters, marks, digits; numbers kept whole, e.g. "3.14",
 * "2024"), emits CJK ideographs/kana/hangul as overlapping character bigrams
 * (a lone character as a unigram), drops stopwords, stems. Appends to *out
 * (call tok_list_reset first to reuse); positions continue from
 * out->n_positions. The text should be valid UTF-8 (invalid bytes are
 * treated as separators). Apostrophes between letters stay in the word
 * ("don't"), English "'s" is stripped, hyphens split; words longer than
 * TOK_MAX_TERM bytes are dropped (position kept). docs/tokenizer.md has the
 * rules. Returns 0 or -1 (out of memory, or text longer than 4 GiB). */
int tok_tokenize(tok_tokenizer *t, const char *text, size_t len, tok_list *out);

/* The same tokens, found byte by byte only (no 64-byte blocks): the
 * reference the block scanner is tested against. */
int tok_tokenize_bytes(tok_tokenizer *t, const char *text, size_t len, tok_list *out);

/* 64 bytes of text as bit masks, bit k for byte k (tok_block.c): ASCII
 * letters, bytes inside a word by the ASCII rules (letters, digits, an
 * apostrophe between letters, '.' or ',' between digits; bit 63 cannot see
 * the next byte), bytes >= 0x80; and the bytes with A-Z lowercased.
 * tok_block_read uses the CPU's vector instructions where it can,
 * tok_block_read_plain is the portable loop; both give the same block.
 * The tokenizer reads blocks only where they are vector code. */
#if defined(__SSE2__)
#define TOK_BLOCK_VECTOR 1
#else
#define TOK_BLOCK_VECTOR 0
#endif
typedef struct tok_block {
    uint64_t word, letter, high;
    unsigned char lower[64];
} tok_block;

void tok_block_read(const unsigned char *s, tok_block *b);
void tok_block_read_plain(const unsigned char *s, tok_block *b);

/* The tag of the word cache slot a token came from (its slot field), for
 * remembering what a client made of the term (the postings builder keeps
 * its entry number there, sparing a second hash lookup per token). Each
 * client of a tokenizer takes a number of its own (tok_new_owner, never 0)
 * and passes it here: a slot's tag belongs to the client that last asked
 * for it, and reads as 0 to any other, as it does whenever the slot takes
 * another word. So a nonzero tag is always one this client set for this
 * term. NULL when the token has no slot or the slot no longer holds
 * term[0..len). */
uint32_t tok_new_owner(tok_tokenizer *t);
uint32_t *tok_slot_tag(tok_tokenizer *t, uint32_t slot, const char *term, size_t len,
                       uint32_t owner);

/* 1 when folded_word (already normalised and case folded, not stemmed) is a
 * stopword of the tokenizer's language and stopwords are enabled. */
int tok_is_stopword(const tok_tokenizer *t, const char *folded_word);

void tok_list_init(tok_list *l);
void tok_list_reset(tok_list *l);
void tok_list_free(tok_list *l);

/* Character classes for segmentation; tok_class_cp (tok_class.c) gives
 * that of a character >= U+0080 under the rules. */
enum {
    TC_SEP = 0, TC_LETTER, TC_DIGIT, TC_MARK, TC_FORMAT, TC_CJ, TC_HANGUL,
    TC_APOS, TC_NUMSEP,
    TC_SEA                  /* a Thai, Lao, Khmer or Myanmar letter (rules 4) */
};
int tok_class_cp(int32_t cp, int rules);
/* The class of each ASCII byte (tok_class.c). */
extern const unsigned char tok_ascii_class[128];

/* Words of Thai, Lao, Khmer and Myanmar runs, by ICU's dictionaries
 * (tok_sea.c). tok_sea_script: whether cp is of one of those scripts.
 * tok_sea_new opens ICU (soname NULL: the one the headers describe; tests
 * name a missing one): NULL with a one-line err when it cannot.
 * tok_sea_run takes the run of those scripts' letters (and the marks on
 * them) that starts at text[i] (a TC_SEA letter), sets *end past it and
 * *bounds to its word boundaries, byte offsets from i, 0 first and
 * *end - i last, *nb of them, valid until the next call; -1 when out of
 * memory or ICU fails. */
typedef struct tok_sea tok_sea;
int tok_sea_script(int32_t cp);
tok_sea *tok_sea_new(const char *soname, char *err, size_t errlen);
int tok_sea_run(tok_sea *s, const char *text, size_t len, size_t i, int rules, size_t *end,
                const uint32_t **bounds, size_t *nb);
void tok_sea_free(tok_sea *s);
/* The major version of the ICU that tok_sea_new opens (the headers'):
 * collections record it, as its dictionaries decide these words. */
int tok_icu_version(void);

/* Longest term kept after normalisation: TOK_MAX_TERM bytes under rules 1
 * and 2; TOK_MAX_TERM characters and at most TOK_MAX_TERM_BYTES bytes under
 * rules 3, so that a word of a script of 3-byte characters (Tamil, Thai)
 * gets as many characters as an English one. Longer words are dropped
 * (their position still counts). LMDB keys (terms) may have 511 bytes. */
#define TOK_MAX_TERM 64
#define TOK_MAX_TERM_BYTES (TOK_MAX_TERM * 4)
/* The rules of t (TOK_RULES, or the collection's). */
int tok_rules(const tok_tokenizer *t);
/* Why t's last failed call failed: "out of memory", with *out_of_memory
 * set, unless it said otherwise (ICU missing, for Thai text under rules 4). */
const char *tok_error(const tok_tokenizer *t, int *out_of_memory);
/* Tests: t opens ICU by this soname from its next Thai run (a missing one
 * exercises the error). */
void tok_test_icu(tok_tokenizer *t, const char *soname);
/* How many runs ICU split for t since the last call (then 0 again). */
uint64_t tok_take_icu_runs(tok_tokenizer *t);
/* 1 when t stems English (the query parser's prefix completions). */
int tok_stems_english(const tok_tokenizer *t);
/* A word NFKC-case-folded as the tokenizer folds it (accents included),
 * in t's scratch until its next call; NULL when too long or out of memory. */
const char *tok_fold_word(tok_tokenizer *t, const char *s, size_t n, size_t *out_len);

/* Rules 3 (tok_rules3.c). A per-language step on the folded word, before
 * the stopword check and the stemmer: */
enum {
    TOK_FILTER_NONE = 0,
    TOK_FILTER_POSSESSIVE,  /* English "'s" (all rules) */
    TOK_FILTER_FRENCH,      /* elision of the language's articles */
    TOK_FILTER_ITALIAN,
    TOK_FILTER_CATALAN,
    TOK_FILTER_TURKISH,     /* the apostrophe and what follows it dropped */
};
/* The elision or apostrophe filter of language lang under rules (NONE
 * before rules 3, or for other languages). */
int tok_word_filter_for(const char *lang, int rules);
/* w[0..*n) (folded) with the filter applied: a suffix of it (elision) or a
 * prefix (Turkish); sets *n. */
const char *tok_filter_word(int filter, const char *w, size_t *n);
/* Turkish case: utf8proc's per-character hook (I -> ı, İ -> i), and the
 * ASCII fold with I -> ı into out (2n + 1 bytes); returns its length. */
int32_t tok_turkish_cp(int32_t cp, void *data);
size_t tok_fold_ascii_turkish(const char *s, size_t n, char *out);
/* The decomposed, case folded code points cps[0..n) of a word, rewritten
 * by rules 3: decimal digits as ASCII, geresh and gershayim as ' and ",
 * (Turkish) i or ı with U+0307 as i. Returns the new count (<= n). */
size_t tok_fold_rules3(int32_t *cps, size_t n, int turkish);
/* Folds accents away from the n code points of a case-folded word, in
 * place; returns how many are left (tok_accents.c). */
size_t tok_fold_accents(int32_t *cps, size_t n);
/* Whether the folded term f[0..n), over TOK_MAX_TERM bytes, is too long
 * under rules. */
int tok_too_long(int rules, const char *f, size_t n);
/* The digit value of a decimal digit (Nd) of any script, else -1. */
int tok_digit_value(int32_t cp);
/* UAX #29's Hebrew_Letter; whether s[i] starts one. */
int tok_hebrew_letter(int32_t cp);
int tok_hebrew_at(const unsigned char *s, size_t len, size_t i);
/* Whether the punctuation at s[j] stays in a word whose last letter
 * (past marks) is a Hebrew one: '"' or gershayim before another Hebrew
 * letter, an apostrophe or geresh (then *ends when no letter follows).
 * Returns its length, 0: it does not. */
size_t tok_hebrew_join(const unsigned char *s, size_t len, size_t j, int *ends);
/* Whether the '"' at text[i] is inside a word (between two Hebrew
 * letters, marks aside) rather than a quote: for the query parser. */
int tok_hebrew_quote(const char *text, size_t len, size_t i);

/* Built-in stopword lists (stopwords.c): Lucene's 33-word English set, used
 * for "english" (and its aliases) and "none"; other languages have none. */
typedef struct tok_stoplist {
    const char *const *words;   /* sorted */
    size_t n;
} tok_stoplist;
const tok_stoplist *tok_stoplist_for(const char *language);   /* NULL: no list */
/* Whether language is one of English's names, "none" included (NULL and ""
 * too): those take English's stopwords and, by default, fold accents. */
int tok_language_english(const char *language);
int tok_stoplist_contains(const tok_stoplist *l, const char *w, size_t len);
static inline const char *tok_term(const tok_list *l, size_t i)
{
    return l->terms + l->tokens[i].term;
}

/* The n bytes (at most 8) at p as a little-endian number, the same on
 * every machine (for values that are stored or must not depend on it);
 * eight bytes on a little-endian machine are one load. */
static inline uint64_t le_load(const void *p, size_t n)
{
    const unsigned char *u = (const unsigned char *)p;
    uint64_t w = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (n == 8) {   /* where the byte loop is not folded into one load */
        memcpy(&w, u, 8);
        return w;
    }
#endif
    for (size_t i = 0; i < n; i++)
        w |= (uint64_t)u[i] << (8 * i);
    return w;
}

/* s[0..n) for 0 < n < 8 as one number, as memcpy into a zeroed uint64_t
 * gives on a little-endian machine, without a call or a byte loop: two
 * loads that overlap (equal bytes or-ed together change nothing). Terms
 * are short, so this tail is on every hash and every comparison. */
static inline uint64_t tok_load_short(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    if (n >= 4) {
        uint32_t a, b;
        memcpy(&a, s, 4);
        memcpy(&b, s + n - 4, 4);
        return a | (uint64_t)b << (8 * (n - 4));
    }
    return u[0] | (uint64_t)u[n / 2] << (8 * (n / 2)) | (uint64_t)u[n - 1] << (8 * (n - 1));
}

/* a[0..n) == b[0..n) without calling memcmp for the short terms that are
 * nearly all of them: 8 to 16 bytes as a first and a last eight. */
static inline int tok_same(const char *a, const char *b, size_t n)
{
    if (n > 16)
        return memcmp(a, b, n) == 0;
    if (n >= 8) {
        uint64_t x, y, u, v;
        memcpy(&x, a, 8);
        memcpy(&y, b, 8);
        memcpy(&u, a + n - 8, 8);
        memcpy(&v, b + n - 8, 8);
        return ((x ^ y) | (u ^ v)) == 0;
    }
    return n == 0 || tok_load_short(a, n) == tok_load_short(b, n);
}

/* A 32-bit hash of a term's bytes, for in-memory tables (the tokenizer's
 * word cache, the postings builder's term table); it never reaches disk.
 * Multiply-xorshift over 8-byte words: terms are short, and one multiply
 * per word beats FNV's one per byte. Inline: both callers are hot loops. */
static inline uint32_t tok_hash(const char *s, size_t n)
{
    uint64_t h = 0x9e3779b97f4a7c15ull ^ n;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdull;
        h ^= h >> 32;
        s += 8;
        n -= 8;
    }
    if (n)
        h = (h ^ tok_load_short(s, n)) * 0xff51afd7ed558ccdull;
    h ^= h >> 29;
    h *= 0xc4ceb9fe1a85ec53ull;
    return (uint32_t)(h >> 32);
}

/* ================================================== chunker (chunk.c) */

typedef struct chunk_span {
    uint32_t start, end;    /* byte range in the document text */
} chunk_span;

/* Splits text into passages of about target_words words, cutting only at
 * sentence ends (., !, ?, and their CJK forms, followed by space or end) or
 * paragraph breaks (blank line) or markdown headings, which also start a new
 * passage. A sentence longer than 2*target_words is cut at a word boundary.
 * Every byte of the text belongs to exactly one span except leading/trailing
 * whitespace between spans. Empty or all-whitespace text gives zero spans.
 * *spans is malloc'd. Returns 0 or -1 (out of memory). */
int chunk_text(const char *text, size_t len, int target_words,
               chunk_span **spans, size_t *n_spans);
/* The same, byte by byte throughout (no fast paths): the reference that
 * tests compare chunk_text with. */
int chunk_text_bytes(const char *text, size_t len, int target_words,
                     chunk_span **spans, size_t *n_spans);

/* A document's spans as the catalog stores them (documents.spans, format
 * version 2): per span, varint (start - previous end, 0 first) then varint
 * (end - start). A one-chunk document takes two or three bytes. */
#define CHUNK_SPANS_MAX_BYTES(n) ((n) * 10)
/* Encodes n spans into out (CHUNK_SPANS_MAX_BYTES(n) bytes); returns bytes used. */
size_t chunk_spans_encode(const chunk_span *spans, size_t n, uint8_t *out);
/* Decodes exactly n spans from blob into out; -1 when the bytes are
 * malformed, hold another count, or a span ends past text_len. */
int chunk_spans_decode(const void *blob, size_t len, size_t n, size_t text_len,
                       chunk_span *out);
/* Span number i of the encoded spans; -1 when there is none or the bytes
 * are malformed. */
int chunk_span_at(const void *blob, size_t len, size_t i, chunk_span *out);

/* ================================================== input readers (ingest.c) */

typedef enum ingest_format {
    INGEST_AUTO = 0, INGEST_TEXT, INGEST_JSONL, INGEST_BEIR
} ingest_format;

/* One document as read from the input. Strings are owned by the reader and
 * valid only during the callback. text is valid UTF-8 (repaired with a warning
 * for plain-text files, rejected with an error for JSONL). */
typedef struct ingest_doc {
    const char *id;          /* JSONL: _id or id (numbers accepted, as text); files: path relative to the argument */
    const char *title;       /* JSONL: title; markdown: first heading; else file name; may be "" */
    const char *text;
    size_t text_len;
    const char *uri;         /* file path, or "FILE:LINE" for JSONL */
    const char *metadata;    /* JSON object text or NULL */
    const char *source;      /* file name for messages ("-" for stdin) */
    long line;               /* 1-based line for JSONL, 0 for files */
} ingest_doc;

/* Return 0 to continue, non-zero to stop (that value is returned by ingest_path). */
typedef int (*ingest_doc_fn)(void *ctx, const ingest_doc *doc);
typedef void (*ingest_warn_fn)(void *ctx, const char *message);
typedef void (*ingest_progress_fn)(void *ctx, uint64_t done, uint64_t total);

typedef struct ingest_opts {
    ingest_format format;
    int skip_bad;            /* skip malformed JSONL lines with a warning */
    ingest_warn_fn warn;     /* may be NULL */
    ingest_progress_fn progress; /* may be NULL */
    void *ctx;               /* passed to all callbacks */
    const char *collection;  /* the collection's folder, never read as input; may be NULL */
} ingest_opts;

/* Reads path: a regular file (.jsonl/.ndjson as JSONL, anything else as
 * text; its id is the path as given), a directory (recursive, sorted
 * order, ids the directory as given joined with the path below it; hidden
 * entries and symlinked directories passed over silently, files of other
 * extensions counted in one warning, binary, empty, oversized and
 * non-UTF-8-named files skipped with a warning), a BEIR folder (has
 * corpus.jsonl), or "-" for JSONL on stdin. opts may be NULL. Calls fn for
 * each document. Details: docs/tokenizer.md.
 * Returns 0 on success, the callback's non-zero value if it stopped, or -1 on
 * an input error with err holding "FILE:LINE: reason" (or "FILE: reason"). */
int ingest_path(const char *path, const ingest_opts *opts, ingest_doc_fn fn,
                char *err, size_t errlen);

/* ============================================ postings arena (postings_arena.c)
 * The postings builder's memory: blocks of huge pages, freed all at once,
 * and the short postings lists that double inside them (the copy a
 * doubling leaves is kept for the next list of that size). Zeroed, it is
 * empty. */
struct store_bposting;
struct arena_block;
/* Lists up to this many bytes live in the arena, in POSTINGS_ARENA_CLASSES
 * sizes of 16 << k bytes (2 to 512 postings). */
#define POSTINGS_ARENA_LIST 4096
#define POSTINGS_ARENA_CLASSES 9
typedef struct postings_arena {
    struct arena_block *blocks;   /* newest first */
    struct arena_block *idle;     /* set aside by a rewind, for reuse */
    size_t next_block;            /* size of the next block */
    void *spare[POSTINGS_ARENA_CLASSES]; /* copies left by doublings, by size */
} postings_arena;

/* n bytes, 8-byte aligned; NULL when out of memory. */
void *postings_arena_alloc(postings_arena *a, size_t n);
/* Allocates the first block now (its first touch on this thread). 0 or -1. */
int postings_arena_warm(postings_arena *a);
/* Bytes handed out so far (not the blocks' spare room). */
size_t postings_arena_used(const postings_arena *a);
void postings_arena_free(postings_arena *a);
/* Forgets everything allocated; the blocks are reused before new ones. */
void postings_arena_rewind(postings_arena *a);
/* A list of n postings at p (room for cap; p may be NULL when cap is 0)
 * moved to twice the room: in the arena while at most POSTINGS_ARENA_LIST
 * bytes, on the heap after (*heap then 1; a heap list is realloc'd). The
 * old copy stays where it was: postings_arena_list_spare can give it back.
 * NULL when out of memory. */
struct store_bposting *postings_arena_list_double(postings_arena *a, struct store_bposting *p,
                                                  size_t n, size_t cap, uint32_t *heap);
/* Gives back an arena list of room cap (the copy a doubling left), for the
 * next list of that size. Only for lists of this arena. */
void postings_arena_list_spare(postings_arena *a, struct store_bposting *p, size_t cap);

/* ============================================ postings builder (postings_build.c)
 * Owned by the engine work (store + BM25); see store/store.h.
 *
 * Accumulates one write batch in memory: for each term, the (chunk, tf_text,
 * tf_title) postings of the batch's chunks in chunk order; the new chunk
 * records; the chunk ids the batch tombstones. postings_build_finish exposes
 * it as a store_batch for kv_apply_batch. */
struct store_batch;
struct store_term_postings;
struct store_term_source;
struct lctx_db;
typedef struct postings_builder postings_builder;

postings_builder *postings_build_new(void);
void postings_build_free(postings_builder *pb);
/* Allocates the first arena block now and faults it in on the calling
 * thread (as tok_warm). -1 when out of memory. */
int postings_build_warm(postings_builder *pb);
/* Adds chunk `chunk` of document `doc` (ids ascending within a builder;
 * ids skipped are holes for another builder's chunks, to be filled by
 * postings_build_merge before finish) from its text tokens and its document's title tokens (may be NULL).
 * tok (may be NULL) is the tokenizer that made them, used by this builder
 * alone: its word cache tags then lead from a token to its term's entry.
 * *len gets the chunk length (text + title tokens). 0, or -1 out of memory. */
int postings_build_chunk(postings_builder *pb, tok_tokenizer *tok, uint32_t chunk,
                         uint32_t doc, const tok_list *text, const tok_list *title,
                         uint32_t *len);
/* Sorts the builder's terms for finish or a merge, unless that is done; a
 * thread can sort its own builder while others still work. 0 or -1. */
int postings_build_sort(postings_builder *pb);
/* Merges other's chunks and postings into pb: the two builders hold
 * disjoint chunks of one batch, in any interleaving (other without
 * tombstones). Both are sorted if they are not, and their sorted term
 * lists merged; other must live as long as pb (the merged list shares its
 * entries), and pb takes no more chunks. The result equals one builder fed
 * both in chunk order. 0, or -1 (out of memory, or a chunk in both). */
int postings_build_merge(postings_builder *pb, postings_builder *other);
/* Records that chunks [first, first + n) are tombstoned by the batch. */
int postings_build_tomb(postings_builder *pb, uint32_t first, uint32_t n);
/* Sorts the terms and fills *out (views into the builder). 0, or -1 (out
 * of memory, or a hole left in the chunk range). */
int postings_build_finish(postings_builder *pb, struct store_batch *out);
/* Lets finish pass holes (records {0, ...}, which the apply skips): a batch
 * replayed after compaction removed some of its documents. */
void postings_build_allow_holes(postings_builder *pb);
/* Bytes the builder has taken from its arena so far (entries and short
 * lists, not the blocks' spare room): for tests of its memory use. */
size_t postings_build_arena_used(const postings_builder *pb);
/* About the bytes its terms and postings hold now (arena, lists on the
 * heap, hash table, term arrays): what decides when a lane spills. */
size_t postings_build_memory(const postings_builder *pb);
/* Its terms in byte order (after postings_build_sort), as views. */
void postings_build_sorted(const postings_builder *pb,
                           struct store_term_postings *const **terms, size_t *n);
/* Forgets every term and posting (spilled: spill.c), keeping the chunk
 * records, tombstones and exact counts; takes chunks again after. 0 or -1. */
int postings_build_drop_terms(postings_builder *pb);
/* postings_build_merge's chunk records and exact counts only: for a batch
 * whose terms were all spilled. 0, or -1 (out of memory, a chunk in both). */
int postings_build_merge_records(postings_builder *pb, const postings_builder *other);

/* ============================================ spilled postings (spill.c)
 * A batch's terms in sorted runs on disk once they outgrow memory, read
 * back by apply through a store_term_source. */
typedef struct spill_file spill_file;
/* A temporary file in the collection's folder, gone when closed. */
int spill_open(struct lctx_db *db, spill_file **out);
/* Removes spill files a crashed writer left named (writer lock held). */
void spill_remove_strays(struct lctx_db *db);
void spill_close(spill_file *f);
/* Appends terms[0..n) (in byte order, no linked second list) as a run. */
int spill_write_run(spill_file *f, struct store_term_postings *const *terms, size_t n);
size_t spill_runs(const spill_file *f);
/* A source over files[0..n) (n <= STORE_CHAINS), each a chain: apply's
 * store_batch.source; the files stay open until it is closed. */
typedef struct spill_source spill_source;
int spill_source_open(struct lctx_db *db, spill_file *const *files, int n, spill_source **out,
                      struct store_term_source *src);
void spill_source_close(spill_source *s);

/* ======================================== write worker (write_worker.c)
 * Owned by the engine work. Runs the tokenizing half of lctx_add on a second
 * thread, in submission order (see write_worker.c). */
typedef struct write_worker write_worker;
/* Called on the worker thread for each document; returns 0 or a status. */
typedef int (*write_index_fn)(void *ctx, uint32_t doc, uint32_t first_chunk, const char *title,
                              size_t title_len, const char *text, const chunk_span *spans,
                              size_t n_spans);
/* Called once on the thread that ran the jobs, after its last one. */
typedef int (*write_end_fn)(void *ctx);
/* end (may be NULL) runs on the worker after the last job, unless a job
 * failed; its error is the worker's. */
write_worker *write_worker_start(write_index_fn fn, write_end_fn end, void *ctx);
/* Queues a copy of title and text; takes ownership of spans (malloc'd).
 * When the worker has a backlog and self_fn is given, runs self_fn on the
 * document here instead (write_worker_run_here); without self_fn, blocks
 * while the queue is full. 0, the worker's first error, or -1. */
int write_worker_submit(write_worker *w, uint32_t doc, uint32_t first_chunk, const char *title,
                        size_t title_len, const char *text, size_t text_len,
                        chunk_span *spans, size_t n_spans, write_index_fn self_fn,
                        void *self_ctx);
/* Runs fn on a document on the calling thread instead of queueing it (the
 * self path of write_worker_submit), frees spans, and records a failure as
 * the worker's first error. Returns fn's status. */
int write_worker_run_here(write_worker *w, write_index_fn fn, void *ctx, uint32_t doc,
                          uint32_t first_chunk, const char *title, size_t title_len,
                          const char *text, chunk_span *spans, size_t n_spans);
/* The worker's first error so far, or 0. */
int write_worker_error(write_worker *w);
/* The worker's thread, whose failures' messages are in its own slot of
 * the handle (store_err_adopt). */
pthread_t write_worker_thread(const write_worker *w);
/* Processes what is queued, stops the thread, frees; the first error or 0.
 * With share_fn, a long enough tail of the queue is run through share_fn on
 * the calling thread meanwhile (in order), then share_end (may be NULL).
 * When the worker sleeps on an empty queue, its end runs on the calling
 * thread and the worker, still waking, goes to *reap (else NULL), to be
 * passed to write_worker_reap later: its thread exits on its own. */
int write_worker_finish(write_worker *w, write_index_fn share_fn, write_end_fn share_end,
                        void *share_ctx, write_worker **reap);
/* Waits for a worker from finish's *reap to exit, frees it (NULL: nothing). */
void write_worker_reap(write_worker *w);
/* Drops what is queued, stops the thread, frees. */
void write_worker_abort(write_worker *w);

/* ================================================ write path (write.c)
 * Owned by the engine work. */
struct write_batch;
struct lctx_doc;
struct store_batch;
/* lctx_add's body for the open batch w (write_mu held): validation, upsert,
 * the catalog row, the worker's job. lctx_ingest (ingest_run.c) feeds it.
 * uri_is_content: whether d's uri counts in its content hash (lctx_add: the
 * caller's uri is part of the document; lctx_ingest: its uri is where the
 * document was read, FILE:LINE, which moves when a dump is re-exported). */
int write_add_doc(struct lctx_db *db, struct write_batch *w, const struct lctx_doc *d,
                  int uri_is_content);
/* Documents added to the open batch so far (no-op upserts not counted). */
uint64_t write_batch_added(const struct write_batch *w);
/* For replay.c: a batch without catalog statements, freed with
 * write_batch_free (NULL is fine); its documents tokenized by the same code
 * as lctx_add's (write_batch_index), its deletions (write_batch_tomb), and
 * the finished postings for LMDB as batch seq (write_batch_finish: the
 * builders merged, or read back from their spill files). Statuses set the
 * message. */
int write_batch_new(struct lctx_db *db, struct write_batch **out);
void write_batch_free(struct write_batch *w);
int write_batch_index(struct write_batch *w, uint32_t doc, uint32_t first_chunk,
                      const char *title, size_t title_len, const char *text,
                      const chunk_span *spans, size_t n);
int write_batch_tomb(struct write_batch *w, uint32_t first, uint32_t n);
int write_batch_finish(struct write_batch *w, uint64_t seq, struct store_batch *b);
/* 1 once a lane of w has spilled its terms to disk (any thread may ask). */
int write_batch_spilled(struct write_batch *w);
/* Closes w's spill files and gives their space back: a failed batch's
 * undo may need the room (write.c). */
void write_batch_drop_spills(struct write_batch *w);
/* A replayed batch may miss documents compaction removed since: their
 * chunk ids are holes in its range, which it then passes over. */
void write_batch_allow_holes(struct write_batch *w);
/* A status (LCTX_EIO for a full disk or I/O error, else LCTX_ERROR) with
 * the catalog's message, prefixed by what failed. */
int write_sql_fail(struct lctx_db *db, const char *what);

/* ========================================== crash recovery (replay.c)
 * Owned by the engine work. Replays into LMDB every batch that SQLite holds
 * and LMDB lacks (crash between the two commits). Writer lock held. */
/* doc_check.c: 0 when d may be added (text_len bytes of text), else the
 * status with the handle's message naming the problem. */
int doc_check(struct lctx_db *db, const struct lctx_doc *d, size_t text_len);
/* The content hash stored with a document (mix64, or FNV-1a for older
 * collections: db->hash_fnv); its uri counts only with uri_is_content. */
uint64_t doc_content_hash(const struct lctx_db *db, const struct lctx_doc *d, size_t text_len,
                          int uri_is_content);
int write_recover(struct lctx_db *db);

/* ======================================== vectors (embed.c, vecapply.c)
 * Chunk embedding on the write path; see embed.c for the design. Functions
 * taking the handle return statuses with the message set. */
struct encoder;
struct MDB_txn;
struct lsh_store_config;
struct lctx_config;
typedef struct embed_batch embed_batch;

/* lctx_open: records (new collection) or loads and checks the vector
 * settings, opens the vector databases. Before recovery. */
int embed_open(struct lctx_db *db, const struct lctx_config *cfg);
void embed_close(struct lctx_db *db);
/* The collection's encoder (opened on first use, dimension checked). */
int embed_encoder(struct lctx_db *db, struct encoder **out);
/* out[n x dim] = normalised embeddings of texts. */
int embed_texts(struct lctx_db *db, const char *const *texts, int n, float *out);
/* "int8", "f16" or "f32" for a vecstore_encoding. */
const char *embed_encoding_name(int enc);
/* Writes a config key of the catalog (autocommit or inside a batch). */
int embed_config_set(struct lctx_db *db, const char *key, const char *value);

embed_batch *embed_batch_new(void);
void embed_batch_free(embed_batch *eb);
/* Worker thread: appends chunk `chunk` (ids consecutive). 0 or -1 (memory). */
int embed_batch_chunk(embed_batch *eb, uint32_t chunk, const char *title, size_t title_len,
                      const char *text, size_t len);
/* lctx_commit, before the SQLite COMMIT: embeds the chunks, copies the
 * encoded rows into the catalog and attaches them to b. */
int embed_batch_run(struct lctx_db *db, embed_batch *eb, struct store_batch *b);
/* Replay: attaches the batch's rows read from the catalog (*rows malloc'd). */
int embed_replay(struct lctx_db *db, struct store_batch *b, uint8_t **rows);
/* After a failed LMDB apply was undone: drops the batch's catalog rows. */
void embed_undo(struct lctx_db *db, uint64_t first_chunk);
/* After a commit: builds or re-tunes the LSH buckets when the vector count
 * crossed the threshold or doubled since the last tuning. */
int embed_after_commit(struct lctx_db *db);

/* vecapply.c: the vector half of kv_apply_batch (store_batch.apply_vectors),
 * and replacing every bucket for new LSH parameters (n_tables 0: exact
 * search, no buckets) in one write transaction. */
int vec_apply(struct lctx_db *db, struct MDB_txn *txn, const struct store_batch *b);
int vec_lsh_rebuild(struct lctx_db *db, const struct lsh_store_config *cfg);

/* ============================================== input reader internals (ingest*.c)
 * Shared by ingest.c, ingest_jsonl.c and ingest_files.c only.
 */
/*
 * what the input readers share among themselves.
 *
 * ingest.c walks paths and dispatches; ingest_jsonl.c reads JSONL/BEIR;
 * ingest_files.c reads plain-text and markdown files. A run carries the
 * caller's options and callbacks, the error buffer, and the progress count,
 * so the readers need no state of their own. Private to those three files.
 */
typedef struct ingest_run {
    const ingest_opts *opts;
    ingest_doc_fn fn;
    char *err;
    size_t errlen;
    uint64_t done, total;        /* bytes, for progress; total 0 = unknown */
    uint64_t reported;           /* done at the last progress call */
} ingest_run;

#if defined(__GNUC__)
#define INGEST_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define INGEST_PRINTF(a, b)
#endif

/* Sends a formatted warning to opts->warn (if any). */
void ingest_run_warn(ingest_run *r, const char *fmt, ...) INGEST_PRINTF(2, 3);
/* Writes a formatted error into the run's buffer; returns -1. */
int ingest_run_fail(ingest_run *r, const char *fmt, ...) INGEST_PRINTF(2, 3);
/* Counts bytes done; reports every MiB, and always when force is set. */
void ingest_run_progress(ingest_run *r, uint64_t bytes, int force);

/* Reads the JSONL file at path ("-": stdin). Returns 0, -1 with the error
 * set, or the callback's non-zero value. */
int ingest_jsonl_file(ingest_run *r, const char *path);
int ingest_jsonl_stream(ingest_run *r, FILE *f, const char *name);

/* Reads one plain-text/markdown file as one document with the given id.
 * Binary and empty files are skipped with a warning; invalid UTF-8 is
 * repaired with a warning. Same returns as above. */
int ingest_text_file(ingest_run *r, const char *path, const char *id);

/* 1 when the name has a markdown extension (.md, .markdown). */
int ingest_is_markdown(const char *name);
/* 1 when s[0..len) is NULL, empty or only white space: nothing to index. */
int ingest_blank(const char *s, size_t len);

/* ================================== a write batch's state (write.c, write_lane.c)
 * Shared by the batch protocol (write.c) and its lanes (write_lane.c). */
typedef struct tomb_range {
    uint32_t first, n;
} tomb_range;

/* What tokenizing into a builder needs; one per thread that does it. */
typedef struct index_lane {
    tok_tokenizer *tok;
    int tok_borrowed;                /* tok is another lane's (same thread) */
    postings_builder *pb;
    tok_list text_toks, title_toks;
    uint64_t end_chunk;              /* after the last chunk it has */
    spill_file *spill;               /* its runs, once its terms outgrew memory */
} index_lane;

struct write_batch {
    lctx_db *db;
    write_worker *worker;            /* tokenizes lctx_add's documents */
    write_worker *reap;              /* finished, its thread still exiting */
    tomb_range *tombs;               /* deletions, fed to the builder at commit */
    size_t n_tombs, cap_tombs;
    uint64_t seq;
    uint64_t next_doc, next_chunk;
    uint64_t first_doc, first_chunk; /* ids at lctx_begin */
    int fresh;                       /* no live document at lctx_begin */
    uint64_t n_added, n_deleted;
    index_lane lane;                 /* the worker's (and replay's) */
    index_lane *caller;              /* the calling thread's (write_index_caller_job) */
    index_lane *share;               /* the same, for what does not follow it */
    sqlite3_stmt *st_find, *st_del, *st_doc;
    uint8_t *spans_buf;              /* encoded spans of the document being added */
    size_t spans_cap;
    embed_batch *eb;                 /* chunk texts to embed (collections with vectors) */
    size_t spill_at;                 /* a lane's builder spills past this (0: never) */
    spill_source *src;               /* a spilled batch's terms, for apply */
    int spilled;                     /* a lane has spilled (atomic: lanes run on two threads) */
    store_term_source source;
};

/* write_lane.c's lanes, for write.c: the worker's job and its last act,
 * and the calling thread's (write_worker_start, write_worker_finish). */
int write_index_job(void *ctx, uint32_t doc, uint32_t first_chunk, const char *title,
                    size_t title_len, const char *text, const chunk_span *spans, size_t n);
int write_sort_worker_lane(void *ctx);
int write_index_caller_job(void *ctx, uint32_t doc, uint32_t first_chunk, const char *title,
                           size_t title_len, const char *text, const chunk_span *spans, size_t n);
int write_sort_caller_lanes(void *ctx);


#endif /* LCTX_INDEXER_H */
