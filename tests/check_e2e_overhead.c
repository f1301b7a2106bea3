/*
 * End-to-end tests of the X-Gateway-Overhead-Ms response header (DESIGN.md §2.9): present on
 * relayed JSON replies, on mapped provider errors, on the gateway's own errors and on streams,
 * always a non-negative number of milliseconds with three decimals, and without the time the
 * provider took to answer.
 */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "t_llm.h"

#define CHAT "/v1/chat/completions"
#define SLOW_MS 400 /* the provider's delay in the slow cases */

static void overhead_up(void)
{
    t_llm_up("", "");
}

/* POSTs a chat request for model (stream or not) with key (NULL: no credentials). */
static void chat(const char *key, const char *model, bool stream, struct t_resp *r)
{
    char hdr[256], body[256];

    if (key != NULL)
        snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s\r\nContent-Type: application/json\r\n",
                 key);
    else
        snprintf(hdr, sizeof(hdr), "Content-Type: application/json\r\n");
    snprintf(body, sizeof(body),
             "{\"model\":\"openai:%s\",\"stream\":%s,"
             "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
             model, stream ? "true" : "false");
    ck_assert_int_eq(t_http(t_api.port, "POST", CHAT, hdr, body, r), 0);
}

/* The header's value in milliseconds; fails unless it is digits, a dot and three digits. */
static double overhead_ms(const struct t_resp *r)
{
    char v[64];
    const char *h = t_header(r, "X-Gateway-Overhead-Ms", v, sizeof(v));
    const char *dot;
    size_t n;

    ck_assert_msg(h != NULL, "no X-Gateway-Overhead-Ms on a %d reply", r->status);
    n = strlen(h);
    dot = strchr(h, '.');
    ck_assert_msg(dot != NULL && dot > h && n - (size_t)(dot - h) == 4, "bad value '%s'", h);
    for (const char *p = h; *p != '\0'; p++)
        ck_assert_msg(p == dot || (*p >= '0' && *p <= '9'), "bad value '%s'", h);
    return strtod(h, NULL);
}

/* A chat request answered with status and a well-formed overhead; returns it in ms. */
static double expect_overhead(const char *key, const char *model, bool stream, int status)
{
    struct t_resp r;
    double ms;

    chat(key, model, stream, &r);
    ck_assert_int_eq(r.status, status);
    if (stream)
        ck_assert_ptr_nonnull(strstr(r.body, "data: [DONE]"));
    ms = overhead_ms(&r);
    t_resp_free(&r);
    return ms;
}

START_TEST(json_reply_has_overhead)
{
    char *key;

    t_llm_need();
    key = t_llm_user_key("ovh-json");
    ck_assert(expect_overhead(key, "fake-ok", false, 200) >= 0);
    free(key);
}
END_TEST

START_TEST(error_replies_have_overhead)
{
    char *key;
    struct t_resp r;

    t_llm_need();
    key = t_llm_user_key("ovh-err");
    /* A provider error mapped by the gateway (500 -> 502), one relayed with its own status. */
    ck_assert(expect_overhead(key, "fake-status-500", false, 502) >= 0);
    ck_assert(expect_overhead(key, "fake-status-429", false, 429) >= 0);
    /* The gateway's own errors, before any provider is called. */
    ck_assert(expect_overhead(NULL, "fake-ok", false, 401) >= 0);
    ck_assert_int_eq(t_http(t_api.port, "POST", CHAT, T_AUTH "Content-Type: application/json\r\n",
                            "{not json", &r),
                     0);
    ck_assert_int_eq(r.status, 422);
    ck_assert(overhead_ms(&r) >= 0);
    t_resp_free(&r);
    free(key);
}
END_TEST

START_TEST(stream_has_overhead)
{
    char *key;

    t_llm_need();
    key = t_llm_user_key("ovh-stream");
    ck_assert(expect_overhead(key, "fake-ok", true, 200) >= 0);
    free(key);
}
END_TEST

/* The provider's own time is not the gateway's: a slow provider leaves the overhead small. */
START_TEST(provider_time_left_out)
{
    char *key, model[64];
    double ms;

    t_llm_need();
    key = t_llm_user_key("ovh-slow");
    snprintf(model, sizeof(model), "fake-slow-1-%d", SLOW_MS);
    ms = expect_overhead(key, model, false, 200);
    ck_assert_msg(ms < SLOW_MS / 2, "overhead %.3f ms", ms);
    /* A stream's overhead counts up to the provider's headers, not its chunks' delays. */
    ms = expect_overhead(key, model, true, 200);
    ck_assert_msg(ms < SLOW_MS / 2, "overhead %.3f ms", ms);
    free(key);
}
END_TEST

Suite *e2e_overhead_suite(void)
{
    Suite *s = suite_create("e2e_overhead");
    TCase *tc = tcase_create("overhead");

    tcase_add_unchecked_fixture(tc, overhead_up, t_llm_down);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, json_reply_has_overhead);
    tcase_add_test(tc, error_replies_have_overhead);
    tcase_add_test(tc, stream_has_overhead);
    tcase_add_test(tc, provider_time_left_out);
    suite_add_tcase(s, tc);
    return s;
}
