/*
 * Unit tests of the parse-memory bound (jmem.h): jmem_estimate() is never below what jansson
 * really allocates at its peak, measured with a counting allocator over documents of every
 * shape (tiny values, long strings, deep nesting, many keys, escapes, invalid JSON), and a
 * document over its limit is refused without a parse.
 */
#include <check.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "jmem.h"

static size_t t_used, t_peak;

static void *t_malloc(size_t n)
{
    void *p = malloc(n);

    if (p != NULL) {
        t_used += malloc_usable_size(p);
        if (t_used > t_peak)
            t_peak = t_used;
    }
    return p;
}

static void t_free(void *p)
{
    if (p != NULL)
        t_used -= malloc_usable_size(p);
    free(p);
}

/* Parses doc with the counting allocator; returns the peak of jansson's live bytes. */
static size_t t_peak_of(const char *doc, size_t len)
{
    json_t *j;

    json_set_alloc_funcs(t_malloc, t_free);
    t_used = t_peak = 0;
    j = json_loadb(doc, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, NULL);
    json_decref(j);
    json_set_alloc_funcs(malloc, free);
    return t_peak;
}

static void t_check(const char *what, const char *doc, size_t len)
{
    size_t peak = t_peak_of(doc, len), est = jmem_estimate(doc, len);

    ck_assert_msg(est >= peak, "%s: estimate %zu < peak %zu (%zu bytes)", what, est, peak, len);
}

/* A growable text buffer for the generated documents. */
struct t_buf {
    char *p;
    size_t len, cap;
};

static void t_put(struct t_buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->p = realloc(b->p, b->cap);
        ck_assert_ptr_nonnull(b->p);
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void t_puts(struct t_buf *b, const char *s)
{
    t_put(b, s, strlen(s));
}

/* n copies of item separated by commas, inside open/close. */
static void t_repeat(struct t_buf *b, const char *open, const char *item, size_t n,
                     const char *close)
{
    b->len = 0;
    t_puts(b, open);
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            t_puts(b, ",");
        t_puts(b, item);
    }
    t_puts(b, close);
}

START_TEST(estimate_bounds_shapes)
{
    static const char *const items[] = {"1",
                                        "-1.5e300",
                                        "true",
                                        "null",
                                        "\"\"",
                                        "\"ab\"",
                                        "[]",
                                        "{}",
                                        "[1]",
                                        "{\"a\":1}",
                                        "\"\\u00e9\\n\"",
                                        "[[[]]]",
                                        "{\"k\":[1,2,{\"x\":\"y\"}]}"};
    static const size_t counts[] = {1, 7, 8, 9, 100, 1000, 50000};
    struct t_buf b = {0};
    char label[64];

    for (size_t i = 0; i < sizeof(items) / sizeof(items[0]); i++) {
        for (size_t c = 0; c < sizeof(counts) / sizeof(counts[0]); c++) {
            snprintf(label, sizeof(label), "[%s x %zu]", items[i], counts[c]);
            t_repeat(&b, "[", items[i], counts[c], "]");
            t_check(label, b.p, b.len);
        }
    }
    /* objects with many distinct keys (the hashtable grows) */
    for (size_t c = 1; c <= 40000; c *= 7) {
        b.len = 0;
        t_puts(&b, "{");
        for (size_t k = 0; k < c; k++) {
            char m[48];
            snprintf(m, sizeof(m), "%s\"key%zu\":%zu", k ? "," : "", k, k);
            t_puts(&b, m);
        }
        t_puts(&b, "}");
        t_check("object keys", b.p, b.len);
    }
    free(b.p);
}
END_TEST

START_TEST(estimate_bounds_strings_and_nesting)
{
    static const size_t sizes[] = {0, 1, 15, 16, 17, 1000, 65536, 1 << 20, 5 << 20};
    struct t_buf b = {0};
    char *s;

    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        s = malloc(sizes[i] + 1);
        memset(s, 'a', sizes[i]);
        s[sizes[i]] = '\0';
        b.len = 0;
        t_puts(&b, "{\"model\":\"x\",\"messages\":[{\"content\":\"");
        t_puts(&b, s);
        t_puts(&b, "\"}]}");
        t_check("long string", b.p, b.len);
        /* the same length as a key */
        b.len = 0;
        t_puts(&b, "{\"");
        t_puts(&b, s);
        t_puts(&b, "\":true}");
        t_check("long key", b.p, b.len);
        free(s);
    }
    /* escapes everywhere: every byte of the text is an escape */
    t_repeat(&b, "[\"", "\\n\\\"\\u0041", 100000, "\"]");
    t_check("escapes", b.p, b.len);
    /* deep nesting up to jansson's depth limit and beyond */
    b.len = 0;
    for (int d = 0; d < 3000; d++)
        t_puts(&b, "[");
    t_check("deep (invalid)", b.p, b.len);
    b.len = 0;
    for (int d = 0; d < 2000; d++)
        t_puts(&b, "{\"a\":[");
    t_check("deep objects (invalid)", b.p, b.len);
    /* invalid documents fail part-way: the bound still holds */
    t_repeat(&b, "[", "1", 100000, "");
    t_check("unterminated", b.p, b.len);
    t_repeat(&b, "[", "\"x\"", 1000, ",}");
    t_check("garbage at end", b.p, b.len);
    free(b.p);
}
END_TEST

START_TEST(loadb_refuses_over_limit)
{
    struct t_buf b = {0};
    json_error_t err;
    bool over = true;
    json_t *j;

    /* 16 MiB of tiny values: ~300 MB of jansson values, refused before any parse */
    t_repeat(&b, "[", "1", 8u << 20, "]");
    t_used = t_peak = 0;
    json_set_alloc_funcs(t_malloc, t_free);
    j = jmem_loadb(b.p, b.len, 0, jmem_limit_for(b.len), &err, &over);
    json_set_alloc_funcs(malloc, free);
    ck_assert_ptr_null(j);
    ck_assert(over);
    ck_assert_uint_eq(t_peak, 0);
    ck_assert_msg(strstr(err.text, "too complex") != NULL, "%s", err.text);

    /* a 16 MiB string (an image as a data URL, say) is within the limit */
    b.len = 0;
    t_puts(&b, "{\"content\":\"");
    for (int i = 0; i < 16; i++) {
        char chunk[1 << 16];
        memset(chunk, 'A', sizeof(chunk));
        for (int k = 0; k < 16; k++)
            t_put(&b, chunk, sizeof(chunk));
    }
    t_puts(&b, "\"}");
    j = jmem_loadb(b.p, b.len, 0, jmem_limit_for(b.len), &err, &over);
    ck_assert_ptr_nonnull(j);
    ck_assert(!over);
    json_decref(j);

    /* invalid JSON within the limit: jansson's own error */
    j = jmem_loadb("{\"a\":", 5, 0, jmem_limit_for(5), &err, &over);
    ck_assert_ptr_null(j);
    ck_assert(!over);
    free(b.p);
}
END_TEST

Suite *jmem_suite(void)
{
    Suite *s = suite_create("jmem");
    TCase *tc = tcase_create("estimate");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, estimate_bounds_shapes);
    tcase_add_test(tc, estimate_bounds_strings_and_nesting);
    tcase_add_test(tc, loadb_refuses_over_limit);
    suite_add_tcase(s, tc);
    return s;
}
