/*
 * Unit tests of the logging helpers: level parsing and secret redaction.
 */
#include <check.h>
#include <string.h>

#include "log.h"

START_TEST(levels)
{
    ck_assert_int_eq(log_parse_level("10"), 10);
    ck_assert_int_eq(log_parse_level("debug"), LOG_LVL_DEBUG);
    ck_assert_int_eq(log_parse_level("WARNING"), LOG_LVL_WARN);
    ck_assert_int_eq(log_parse_level("critical"), LOG_LVL_CRIT);
    ck_assert_int_eq(log_parse_level("loud"), -1);
    ck_assert_int_eq(log_parse_level(""), -1);
    ck_assert_int_eq(log_parse_level(NULL), -1);
    ck_assert_int_eq(log_set_level("error"), 0);
    ck_assert_int_eq(log_threshold, LOG_LVL_ERROR);
    ck_assert_int_eq(log_set_level("nope"), -1);
    ck_assert_int_eq(log_threshold, LOG_LVL_ERROR);
}
END_TEST

START_TEST(redact_secrets)
{
    char out[256];

    ck_assert_str_eq(log_redact(out, sizeof(out), "postgresql://gw:s3cret@db:5432/gw"),
                     "postgresql://gw:***@db:5432/gw");
    /* Found by fuzzing: a URL without a port, or after another URL, kept its password. */
    ck_assert_str_eq(log_redact(out, sizeof(out), "postgresql://gw:s3cret@db/gw"),
                     "postgresql://gw:***@db/gw");
    ck_assert_str_eq(log_redact(out, sizeof(out), "see https://a/b then postgresql://u:pw@h/d"),
                     "see https://a/b then postgresql://u:***@h/d");
    ck_assert_str_eq(log_redact(out, sizeof(out), "https://h:443/p x://u:a:b/c@h"),
                     "https://h:443/p x://u:***@h");
    ck_assert_str_eq(log_redact(out, sizeof(out), "sqlite:///./any-llm-gateway.db"),
                     "sqlite:///./any-llm-gateway.db");
    ck_assert_str_eq(log_redact(out, sizeof(out), "key gw-AbC_d-123 used"), "key gw-*** used");
    ck_assert_str_eq(log_redact(out, sizeof(out), "Authorization: Bearer abc.def"),
                     "Authorization: Bearer ***");
    ck_assert_str_eq(log_redact(out, sizeof(out), "upstream said sk-proj-XYZ is invalid"),
                     "upstream said sk-*** is invalid");
    ck_assert_str_eq(log_redact(out, sizeof(out), "host=db password=hunter2 user=x"),
                     "host=db password=*** user=x");
    /* Words that merely contain the prefixes are left alone. */
    ck_assert_str_eq(log_redact(out, sizeof(out), "risk-free task-list"), "risk-free task-list");
    /* Control characters cannot forge a second log line. */
    ck_assert_str_eq(log_redact(out, sizeof(out), "a\nb\rc"), "a?b?c");
    ck_assert_str_eq(log_redact(out, sizeof(out), NULL), "");
}
END_TEST

START_TEST(redact_truncates_safely)
{
    char out[8];

    log_redact(out, sizeof(out), "0123456789abcdef");
    ck_assert_str_eq(out, "0123456");
    log_redact(out, sizeof(out), "xx gw-secretsecret");
    ck_assert_uint_lt(strlen(out), sizeof(out));
    ck_assert_ptr_null(strstr(out, "secret"));
}
END_TEST

Suite *log_suite(void)
{
    Suite *s = suite_create("log");
    TCase *tc = tcase_create("log");

    tcase_add_test(tc, levels);
    tcase_add_test(tc, redact_secrets);
    tcase_add_test(tc, redact_truncates_safely);
    suite_add_tcase(s, tc);
    return s;
}
