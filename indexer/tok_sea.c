/*
 * tok_sea.c — words of Thai, Lao, Khmer and Myanmar text, which is written
 * without spaces between them (tokenizer rules 4).
 *
 * Unicode's default word boundaries (UAX #29) do not split these scripts:
 * a run of Thai letters is one "word", often a whole clause, and under
 * rules 1 to 3 the tokenizer indexed it so, findable only whole. Finding
 * the words takes a dictionary of each language, which ICU has (its
 * dictionary-based break iterator, the same that Lucene's ICUTokenizer
 * and ThaiTokenizer use); utf8proc, which does the rest of the
 * tokenizer's Unicode work, has none. So the tokenizer hands each run of
 * these scripts to ICU's word break iterator and indexes the words it
 * returns (tokenize.c, tok_scan_sea); everything else stays as it was.
 * CJK keeps its bigrams: ICU's Chinese and Japanese dictionary is a
 * different trade (precision for recall) and would change every CJK
 * collection's terms.
 *
 * ICU is opened with dlopen on the first such run, not linked: libicuuc
 * and libicudata (30 MB, C++ runtime included) cost every process that
 * links lctx about 3 ms to load, for text most collections never hold
 * (attention/dynlib.c has the same reasoning for libcurl and OpenBLAS).
 * Each tokenizer opens its own iterator (an iterator is not shared between
 * threads; a tokenizer never is), the loader counts the opens. Opening
 * takes about 1 ms and the first segmentation another 1.5 (ICU loads the
 * dictionary); then a 96-byte Thai run takes about 2 us.
 *
 * ICU's names carry its major version (ubrk_open is ubrk_open_72 in
 * ICU 72), which unicode/urename.h adds to every call; the names to bind
 * are made the same way, so they name what the headers describe. A
 * different ICU at query time than at indexing time may split some words
 * differently (its dictionaries change), as with any dictionary tokenizer.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>
#include <unicode/ubrk.h>
#include <unicode/utext.h>
#include <unicode/uversion.h>

#include "attention/attention.h"
#include "indexer/indexer.h"

#define SEA_STR(x) #x
#define SEA_XSTR(x) SEA_STR(x)
#define ICU_SONAME "libicuuc.so." SEA_XSTR(U_ICU_VERSION_MAJOR_NUM)
/* A name as ICU's headers rename it (ubrk_open -> "ubrk_open_72"). */
#define ICU_NAME(f) SEA_XSTR(f)

typedef struct icu_api {
    void *lib;   /* first, as dyn_open wants */
    UBreakIterator *(*brk_open)(UBreakIteratorType type, const char *locale,
                                const UChar *text, int32_t len, UErrorCode *status);
    void (*brk_close)(UBreakIterator *bi);
    void (*brk_set_utext)(UBreakIterator *bi, UText *text, UErrorCode *status);
    int32_t (*brk_first)(UBreakIterator *bi);
    int32_t (*brk_next)(UBreakIterator *bi);
    UText *(*utext_open_utf8)(UText *ut, const char *s, int64_t len, UErrorCode *status);
    UText *(*utext_close)(UText *ut);
} icu_api;

static const dyn_sym icu_syms[] = {
    {ICU_NAME(ubrk_open), offsetof(icu_api, brk_open)},
    {ICU_NAME(ubrk_close), offsetof(icu_api, brk_close)},
    {ICU_NAME(ubrk_setUText), offsetof(icu_api, brk_set_utext)},
    {ICU_NAME(ubrk_first), offsetof(icu_api, brk_first)},
    {ICU_NAME(ubrk_next), offsetof(icu_api, brk_next)},
    {ICU_NAME(utext_openUTF8), offsetof(icu_api, utext_open_utf8)},
    {ICU_NAME(utext_close), offsetof(icu_api, utext_close)},
};

struct tok_sea {
    icu_api icu;
    UBreakIterator *bi;
    UText *ut;             /* reused run after run */
    uint32_t *bounds;      /* the last run's word boundaries */
    size_t cap;
};

int tok_sea_script(int32_t cp)
{
    return (cp >= 0x0E00 && cp <= 0x0EFF)      /* Thai, Lao */
        || (cp >= 0x1000 && cp <= 0x109F)      /* Myanmar */
        || (cp >= 0x1780 && cp <= 0x17FF)      /* Khmer */
        || (cp >= 0x19E0 && cp <= 0x19FF)      /* Khmer symbols */
        || (cp >= 0xA9E0 && cp <= 0xA9FF)      /* Myanmar extended-B */
        || (cp >= 0xAA60 && cp <= 0xAA7F);     /* Myanmar extended-A */
}

int tok_icu_version(void)
{
    return U_ICU_VERSION_MAJOR_NUM;
}

void tok_sea_free(tok_sea *s)
{
    if (!s)
        return;
    if (s->ut)
        s->icu.utext_close(s->ut);
    if (s->bi)
        s->icu.brk_close(s->bi);
    dyn_close(&s->icu, sizeof s->icu);
    free(s->bounds);
    free(s);
}

tok_sea *tok_sea_new(const char *soname, char *err, size_t errlen)
{
    tok_sea *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    char why[300];
    if (dyn_open(&s->icu, sizeof s->icu, soname ? soname : ICU_SONAME, "libicu-dev", icu_syms,
                 sizeof icu_syms / sizeof *icu_syms, why, sizeof why)) {
        snprintf(err, errlen, "Thai, Lao, Khmer and Myanmar text needs ICU: %s", why);
        free(s);
        return NULL;
    }
    UErrorCode st = U_ZERO_ERROR;
    s->bi = s->icu.brk_open(UBRK_WORD, "", NULL, 0, &st);
    if (U_FAILURE(st)) {
        snprintf(err, errlen, "ICU: cannot open a word break iterator (error %d)", (int)st);
        s->bi = NULL;
        tok_sea_free(s);
        return NULL;
    }
    return s;
}

/* The word boundaries of run[0..n). */
static int sea_split(tok_sea *s, const char *run, size_t n, const uint32_t **bounds, size_t *nb)
{
    UErrorCode st = U_ZERO_ERROR;
    if (n > INT32_MAX)
        return -1;   /* ICU's offsets are 32-bit; the caller's runs are far shorter */
    UText *ut = s->icu.utext_open_utf8(s->ut, run, (int64_t)n, &st);
    if (U_FAILURE(st))
        return -1;
    s->ut = ut;
    s->icu.brk_set_utext(s->bi, ut, &st);
    if (U_FAILURE(st))
        return -1;
    size_t k = 0;
    for (int32_t b = s->icu.brk_first(s->bi); b != UBRK_DONE; b = s->icu.brk_next(s->bi)) {
        if (k == s->cap) {
            size_t cap = s->cap ? s->cap * 2 : 64;
            uint32_t *p = realloc(s->bounds, cap * sizeof *p);
            if (!p)
                return -1;
            s->bounds = p;
            s->cap = cap;
        }
        s->bounds[k++] = (uint32_t)b;
    }
    *bounds = s->bounds;
    *nb = k;
    return 0;
}

int tok_sea_run(tok_sea *s, const char *text, size_t len, size_t i, int rules, size_t *end,
                const uint32_t **bounds, size_t *nb)
{
    /* The run: the scripts' letters and the marks and format characters
     * on them (all past ASCII, so an ASCII byte ends it). */
    size_t j = i;
    while (j < len) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t m = utf8proc_iterate((const utf8proc_uint8_t *)text + j,
                                              (utf8proc_ssize_t)(len - j), &cp);
        if (m <= 0 || cp < 0x80)
            break;
        int c = tok_class_cp(cp, rules);
        if (c != TC_SEA && c != TC_MARK && c != TC_FORMAT)
            break;
        j += (size_t)m;
    }
    *end = j;
    return sea_split(s, text + i, j - i, bounds, nb);
}
