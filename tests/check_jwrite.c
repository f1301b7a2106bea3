/*
 * Unit tests of the compact JSON writer (jwrite.h): for documents of every value kind (reals at
 * the edges of "%.17g", escapes, every control character, non-ASCII text, NUL in strings and keys,
 * empty and nested containers, insertion order, duplicate-free rewrites) jw_dumps() gives the
 * bytes of json_dumps(JSON_COMPACT | JSON_ENCODE_ANY); depth over the bound and NULL are refused.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "jwrite.h"

/* jw_dumps(v) must equal jansson's text, and equal want when want is not NULL. */
static void t_same(const json_t *v, const char *want)
{
    size_t len = 0;
    char *ours = jw_dumps(v, &len), *theirs = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

    ck_assert_ptr_nonnull(ours);
    ck_assert_ptr_nonnull(theirs);
    ck_assert_uint_eq(len, strlen(ours));
    ck_assert_str_eq(ours, theirs);
    if (want != NULL)
        ck_assert_str_eq(ours, want);
    free(ours);
    free(theirs);
}

static void t_doc(const char *text, const char *want)
{
    json_error_t err;
    json_t *v = json_loadb(text, strlen(text), JSON_DECODE_ANY, &err);

    ck_assert_msg(v != NULL, "%s: %s", text, err.text);
    t_same(v, want);
    json_decref(v);
}

START_TEST(scalars_and_containers)
{
    t_doc("null", "null");
    t_doc("true", "true");
    t_doc("false", "false");
    t_doc("0", "0");
    t_doc("-9223372036854775808", "-9223372036854775808");
    t_doc("9223372036854775807", "9223372036854775807");
    t_doc("{}", "{}");
    t_doc("[]", "[]");
    t_doc("[[],{},[{}]]", "[[],{},[{}]]");
    t_doc(" { \"b\" : 1 , \"a\" : [ 1 , 2 ] , \"c\" : { \"d\" : null } } ",
          "{\"b\":1,\"a\":[1,2],\"c\":{\"d\":null}}");
    t_doc("{\"id\":\"chatcmpl-1\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
          "\"content\":\"hi\"},\"finish_reason\":\"stop\",\"logprobs\":null}],"
          "\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":8,\"total_tokens\":20}}",
          NULL);
}
END_TEST

START_TEST(reals_as_jansson_writes_them)
{
    static const double reals[] = {0.0,
                                   -0.0,
                                   1.0,
                                   -1.5,
                                   0.1,
                                   1e100,
                                   1e-100,
                                   1.5e300,
                                   2.5e-7,
                                   1e21,
                                   123456789.0,
                                   1e16,
                                   1e17,
                                   3.14159,
                                   5e-324,
                                   1.7976931348623157e308,
                                   0.30000000000000004};
    char text[64];

    for (size_t i = 0; i < sizeof(reals) / sizeof(reals[0]); i++) {
        json_t *v = json_real(reals[i]);

        t_same(v, NULL);
        json_decref(v);
    }
    t_doc("1.0", "1.0");
    t_doc("1e+100", "1e100");
    t_doc("2.5E-7", NULL);
    t_doc("[0.5,-0.25]", "[0.5,-0.25]");
    for (int e = -320; e <= 308; e += 7) {
        json_t *v;

        snprintf(text, sizeof(text), "1.2345e%d", e);
        v = json_real(strtod(text, NULL));
        t_same(v, NULL);
        json_decref(v);
    }
}
END_TEST

START_TEST(strings_escaped_as_jansson_does)
{
    char raw[40];
    json_t *v;

    t_doc("\"plain\"", "\"plain\"");
    t_doc("\"q\\\"b\\\\s\\/\"", "\"q\\\"b\\\\s/\"");
    t_doc("\"\\b\\f\\n\\r\\t\"", "\"\\b\\f\\n\\r\\t\"");
    t_doc("\"\\u0001\\u001f\\u007f\"", "\"\\u0001\\u001F\x7f\"");
    t_doc("\"h\\u00e9llo \\u20ac \\ud83d\\ude00\"",
          "\"h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80\"");
    for (int c = 0; c < 32; c++)
        raw[c] = (char)(c + 1 < 32 ? c + 1 : 'x');
    v = json_stringn(raw, 32);
    t_same(v, NULL);
    json_decref(v);
    /* NUL inside a string and a key */
    v = json_object();
    json_object_setn_new(v, "k\0ey", 4, json_stringn("a\0b", 3));
    t_same(v, "{\"k\\u0000ey\":\"a\\u0000b\"}");
    json_decref(v);
}
END_TEST

START_TEST(order_and_edits)
{
    json_t *v = json_pack("{s:i, s:s, s:[i, f, b]}", "z", 1, "a", "x", "m", 2, 0.5, 1);

    json_object_set_new(v, "b", json_null());
    json_object_del(v, "a");
    json_object_set_new(v, "z", json_string("replaced"));
    t_same(v, "{\"z\":\"replaced\",\"m\":[2,0.5,true],\"b\":null}");
    json_decref(v);
}
END_TEST

START_TEST(depth_bound_and_null)
{
    json_t *root = json_array(), *cur = root;

    ck_assert_ptr_null(jw_dumps(NULL, NULL));
    for (int i = 0; i < JW_MAX_DEPTH; i++) {
        json_t *next = json_array();

        json_array_append_new(cur, next);
        cur = next;
    }
    t_same(root, NULL); /* JW_MAX_DEPTH + 1 arrays: the deepest at depth JW_MAX_DEPTH */
    json_array_append_new(cur, json_array());
    ck_assert_ptr_null(jw_dumps(root, NULL));
    json_decref(root);
}
END_TEST

Suite *jwrite_suite(void)
{
    Suite *s = suite_create("jwrite");
    TCase *tc = tcase_create("dumps");

    tcase_add_test(tc, scalars_and_containers);
    tcase_add_test(tc, reals_as_jansson_writes_them);
    tcase_add_test(tc, strings_escaped_as_jansson_does);
    tcase_add_test(tc, order_and_edits);
    tcase_add_test(tc, depth_bound_and_null);
    suite_add_tcase(s, tc);
    return s;
}
