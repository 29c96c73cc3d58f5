/*
 * test_chunk_sea.c — passages of Thai, Lao, Khmer and Myanmar text.
 *
 * These scripts put spaces between phrases, not words, so the chunker
 * counts one word per CHUNK_SEA_LETTERS (4) of their letters, combining
 * marks not counted (indexer/chunk.c). The tests check the sizes that
 * gives against a count made here, that passages end at the spaces these
 * scripts put between phrases, that a text without any space is cut
 * between letters and never before a mark, that Myanmar's and Khmer's full
 * stops end sentences, and that the one-passage shortcut and the byte loop
 * agree on such text.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "indexer/indexer.h"

/* Two paragraphs of Thai (ICU segments them into about 110 words). */
static const char *const thai =
    "ประเทศไทยมีประชากรประมาณหกสิบหกล้านคน กรุงเทพมหานครเป็นเมืองหลวงและเป็น"
    "ศูนย์กลางทางเศรษฐกิจของประเทศ ภาษาไทยเป็นภาษาราชการที่ใช้กันทั่วประเทศ "
    "นักท่องเที่ยวจำนวนมากเดินทางมาเที่ยวชายหาดและวัดวาอารามต่างๆ ทุกปี "
    "อาหารไทยมีชื่อเสียงไปทั่วโลกเพราะมีรสชาติที่กลมกล่อมทั้งเปรี้ยวหวานเค็มและเผ็ด\n"
    "การศึกษาในประเทศไทยแบ่งออกเป็นหลายระดับ ตั้งแต่ระดับประถมศึกษาไปจนถึงระดับ"
    "อุดมศึกษา มหาวิทยาลัยหลายแห่งได้รับการยอมรับในระดับนานาชาติ "
    "รัฐบาลได้ส่งเสริมให้เด็กทุกคนได้รับการศึกษาขั้นพื้นฐานอย่างทั่วถึง";

static int is_mark(int32_t cp)
{
    utf8proc_category_t c = utf8proc_category(cp);
    return c == UTF8PROC_CATEGORY_MN || c == UTF8PROC_CATEGORY_MC || c == UTF8PROC_CATEGORY_ME;
}

/* Letters of these scripts in s[a..b), marks not counted; spaces in *spaces. */
static size_t sea_letters(const char *s, size_t a, size_t b, size_t *spaces)
{
    size_t n = 0;
    if (spaces)
        *spaces = 0;
    for (size_t i = a; i < b;) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + i,
                                              (utf8proc_ssize_t)(b - i), &cp);
        cr_assert_gt(k, 0, "invalid UTF-8 at byte %zu", i);
        if (tok_sea_script(cp) && !is_mark(cp))
            n++;
        if (spaces && (cp == ' ' || cp == '\n'))
            (*spaces)++;
        i += (size_t)k;
    }
    return n;
}

/* chunk_text and chunk_text_bytes agree; returns the spans. */
static size_t chunk_both(const char *s, int target, chunk_span **out)
{
    chunk_span *a, *b;
    size_t na, nb, len = strlen(s);
    cr_assert_eq(chunk_text(s, len, target, &a, &na), 0);
    cr_assert_eq(chunk_text_bytes(s, len, target, &b, &nb), 0);
    cr_assert_eq(na, nb, "target %d: %zu spans, the byte loop %zu", target, na, nb);
    for (size_t i = 0; i < na; i++)
        cr_assert(a[i].start == b[i].start && a[i].end == b[i].end, "target %d: span %zu",
                  target, i);
    free(b);
    *out = a;
    return na;
}

/* Spans in order, covering everything but the spaces between them. */
static void check_cover(const char *s, const chunk_span *sp, size_t n)
{
    size_t prev = 0, len = strlen(s);
    for (size_t i = 0; i < n; i++) {
        cr_assert_lt(sp[i].start, sp[i].end);
        for (size_t k = prev; k < sp[i].start; k++)
            cr_assert(s[k] == ' ' || s[k] == '\n', "byte %zu between spans", k);
        prev = sp[i].end;
    }
    cr_assert_eq(prev, len, "the text's end is not in a span");
}

Test(chunk_sea, thai_passages_count_a_word_per_four_letters)
{
    size_t spaces, letters = sea_letters(thai, 0, strlen(thai), &spaces);
    /* Counted a word per space-delimited run, this is one passage of 20. */
    cr_assert_lt(spaces + 1, 20, "the text must be fewer than 20 runs");
    cr_assert_gt(letters / 4, 3 * 20, "and more than 60 counted words");
    chunk_span *sp;
    size_t n = chunk_both(thai, 20, &sp);
    check_cover(thai, sp, n);
    cr_assert_geq(n, 3, "%zu letters make about %zu words: %zu passages of 20", letters,
                  letters / 4, n);
    for (size_t i = 0; i < n; i++) {
        size_t words = (sea_letters(thai, sp[i].start, sp[i].end, NULL) + 3) / 4;
        cr_assert_leq(words, 2 * 20, "passage %zu: about %zu words", i, words);
        /* it has spaces to cut at: every passage but the last ends at one */
        if (i + 1 < n)
            cr_assert(thai[sp[i].end] == ' ' || thai[sp[i].end] == '\n',
                      "passage %zu ends inside a run", i);
    }
    free(sp);
}

Test(chunk_sea, thai_without_spaces_is_cut_between_letters_never_before_a_mark)
{
    char s[4096];
    size_t len = 0;
    for (const char *p = thai; *p; p++)
        if (*p != ' ' && *p != '\n')
            s[len++] = *p;
    s[len] = '\0';
    size_t letters = sea_letters(s, 0, len, NULL);
    chunk_span *sp;
    size_t n = chunk_both(s, 20, &sp);
    check_cover(s, sp, n);
    cr_assert_geq(n, letters / 4 / 40, "%zu letters, %zu passages", letters, n);
    for (size_t i = 0; i < n; i++) {
        utf8proc_int32_t cp;
        cr_assert_gt(utf8proc_iterate((const utf8proc_uint8_t *)s + sp[i].start, 4, &cp), 0,
                     "passage %zu starts inside a character", i);
        cr_assert_not(is_mark(cp), "passage %zu starts with U+%04X, a mark", i, (unsigned)cp);
        cr_assert_leq(sea_letters(s, sp[i].start, sp[i].end, NULL), 2 * 20 * 4,
                      "passage %zu", i);
    }
    free(sp);
}

Test(chunk_sea, myanmar_and_khmer_full_stops_end_sentences)
{
    /* Two Myanmar sentences, each ending in ။, and two Khmer ones ending in
     * ។, of 5 to 8 counted words each and with no space anywhere: with a
     * target of five every sentence closes a passage, at its stop. */
    const char *s = "မြန်မာနိုင်ငံသည်အရှေ့တောင်အာရှတွင်တည်ရှိသည်။"
                    "ရန်ကုန်မြို့သည်အကြီးဆုံးမြို့ဖြစ်သည်။"
                    "ភាសាខ្មែរគឺជាភាសាផ្លូវការ។ប្រជាជនភាគច្រើនប្រកបរបរកសិកម្ម។";
    chunk_span *sp;
    size_t n = chunk_both(s, 5, &sp);
    check_cover(s, sp, n);
    static const char *const ends[] = {"\xE1\x81\x8B", "\xE1\x81\x8B", "\xE1\x9F\x94",
                                       "\xE1\x9F\x94"};
    cr_assert_eq(n, 4, "%zu passages", n);
    for (size_t i = 0; i < n; i++)
        cr_assert(memcmp(s + sp[i].end - 3, ends[i], 3) == 0, "passage %zu: '%.*s'", i,
                  (int)(sp[i].end - sp[i].start), s + sp[i].start);
    free(sp);
}

Test(chunk_sea, short_texts_are_one_passage_by_either_path)
{
    static const char *const texts[] = {
        "สวัสดีครับ", "ພາສາລາວ ແມ່ນ້ຳຂອງ", "ភាសាខ្មែរ", "ok ภาษาไทย 2024.",
        "မြန်မာ", "ไม้", "  ไทย  ",
    };
    for (size_t t = 0; t < sizeof texts / sizeof *texts; t++) {
        chunk_span *sp;
        size_t n = chunk_both(texts[t], 200, &sp);
        cr_assert_eq(n, 1, "'%s': %zu passages", texts[t], n);
        const char *s = texts[t];
        size_t a = 0, b = strlen(s);
        while (s[a] == ' ')
            a++;
        while (b > a && s[b - 1] == ' ')
            b--;
        cr_assert(sp[0].start == a && sp[0].end == b, "'%s': [%u,%u)", s, sp[0].start,
                  sp[0].end);
        free(sp);
    }
}
