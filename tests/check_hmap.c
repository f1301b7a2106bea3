/*
 * Unit tests of the hash map: put/get/replace/delete, growth past many entries, tombstone reuse.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "hmap.h"

static void count_cb(const char *key, void *value, void *arg)
{
    (void)key;
    *(long *)arg += (long)(intptr_t)value;
}

START_TEST(basic)
{
    struct hmap *m = hmap_new();
    int a = 1, b = 2;

    ck_assert_ptr_null(hmap_get(m, "x"));
    ck_assert_int_eq(hmap_put(m, "x", &a), 0);
    ck_assert_ptr_eq(hmap_get(m, "x"), &a);
    ck_assert_int_eq(hmap_put(m, "x", &b), 0); /* replace */
    ck_assert_ptr_eq(hmap_get(m, "x"), &b);
    ck_assert_uint_eq(hmap_count(m), 1);
    ck_assert_ptr_eq(hmap_del(m, "x"), &b);
    ck_assert_ptr_null(hmap_get(m, "x"));
    ck_assert_ptr_null(hmap_del(m, "x"));
    ck_assert_uint_eq(hmap_count(m), 0);
    hmap_free(m);
    hmap_free(NULL);
}
END_TEST

START_TEST(many_and_churn)
{
    struct hmap *m = hmap_new();
    char k[32];
    long sum = 0;

    for (long i = 1; i <= 5000; i++) {
        snprintf(k, sizeof(k), "key-%ld", i);
        ck_assert_int_eq(hmap_put(m, k, (void *)(intptr_t)i), 0);
    }
    for (long i = 1; i <= 5000; i += 2) {
        snprintf(k, sizeof(k), "key-%ld", i);
        ck_assert_ptr_eq(hmap_del(m, k), (void *)(intptr_t)i);
    }
    /* Churn: many deletes and inserts must reuse tombstones, not fill the table. */
    for (int round = 0; round < 20; round++) {
        for (long i = 1; i <= 5000; i += 2) {
            snprintf(k, sizeof(k), "tmp-%ld", i);
            ck_assert_int_eq(hmap_put(m, k, (void *)(intptr_t)1), 0);
            ck_assert_ptr_nonnull(hmap_del(m, k));
        }
    }
    ck_assert_uint_eq(hmap_count(m), 2500);
    for (long i = 2; i <= 5000; i += 2) {
        snprintf(k, sizeof(k), "key-%ld", i);
        ck_assert_ptr_eq(hmap_get(m, k), (void *)(intptr_t)i);
    }
    hmap_each(m, count_cb, &sum);
    ck_assert_int_eq(sum, 2500L * 2501L); /* 2+4+...+5000 */
    hmap_free(m);
}
END_TEST

Suite *hmap_suite(void)
{
    Suite *s = suite_create("hmap");
    TCase *tc = tcase_create("hmap");

    tcase_add_test(tc, basic);
    tcase_add_test(tc, many_and_churn);
    suite_add_tcase(s, tc);
    return s;
}
