/*
 * End to end through watsonx (providers.md §11) against the real binary and the fake's watsonx
 * and IBM IAM endpoints (tests/fake_watsonx.c): the official OpenAI Node SDK chats and streams
 * with usage through "watsonx:<model>", the IAM token is fetched once and sent as the bearer,
 * the request is the watsonx body (project_id, version, no OpenAI-only keys), a 400 is relayed
 * with watsonx's message, a mid-stream error ends the stream, usage rows are written; then a
 * gateway with a wrong API key answers 502 with IAM's reason and never the key.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "t_llm.h"
#include "t_sdk.h"

#define CHAT "/v1/chat/completions"
#define WX_BAD_KEY "wx-wrong-key-98765"

/*
 * The fake, then the gateway with one worker (so one token cache: one IAM exchange) and watsonx
 * pointed at the fake for both the API and IAM, with api_key key ("%1$d": the fake's port).
 */
static void wx_up_with(const char *key)
{
    static const char *const args[] = {"--workers", "1", NULL};
    char providers[1024];

    snprintf(providers, sizeof(providers),
             "  watsonx:\n"
             "    api_key: \"%s\"\n"
             "    api_base: http://127.0.0.1:%%1$d\n"
             "    project_id: proj-1\n"
             "    client_args:\n"
             "      iam_url: http://127.0.0.1:%%1$d/identity/token\n",
             key);
    t_llm_up_args(providers, "", args);
}

static void wx_up(void)
{
    wx_up_with(T_FAKE_WATSONX_KEY);
}

static void wx_up_bad(void)
{
    wx_up_with(WX_BAD_KEY);
}

static json_t *wx_sdk(const char *kase, const char *model, const char *key)
{
    const char *env[] = {"GW_MODEL", model, NULL};

    return t_sdk_run("openai_chat.mjs", kase, NULL, "/v1", key, env);
}

static long wx_int(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);

    ck_assert_msg(json_is_integer(v), "%s is not an integer", k);
    return (long)json_integer_value(v);
}

/* The fake's record of the last call: path, query, its bearer and body. */
static void wx_last_is(const char *path, const char *bearer)
{
    json_t *last = t_fake_get(&t_llm_fake, "/_last"), *body;
    const char *auth;

    ck_assert_ptr_nonnull(last);
    ck_assert_str_eq(json_string_value(json_object_get(last, "path")), path);
    ck_assert_str_eq(json_string_value(json_object_get(last, "query")), "version=2025-02-06");
    auth = json_string_value(json_object_get(json_object_get(last, "headers"), "authorization"));
    ck_assert_msg(auth != NULL && strcmp(auth, bearer) == 0, "%s", auth);
    body = json_object_get(last, "body");
    ck_assert_str_eq(json_string_value(json_object_get(body, "model_id")), "ibm/granite-3");
    ck_assert_str_eq(json_string_value(json_object_get(body, "project_id")), "proj-1");
    ck_assert_ptr_null(json_object_get(body, "stream"));
    ck_assert_ptr_null(json_object_get(body, "stream_options"));
    ck_assert_ptr_null(json_object_get(body, "model"));
    json_decref(last);
}

START_TEST(sdk_chat_and_stream)
{
    char *key;
    json_t *j, *u;

    t_llm_need();
    t_sdk_need();
    key = t_llm_user_key("wx-user");
    j = wx_sdk("chat", "watsonx:ibm/granite-3", key);
    ck_assert_str_eq(json_string_value(json_object_get(j, "content")), "Hello from watsonx");
    ck_assert_str_eq(json_string_value(json_object_get(j, "model")), "ibm/granite-3");
    u = json_object_get(j, "usage");
    ck_assert_int_eq(wx_int(u, "prompt_tokens"), 10);
    ck_assert_int_eq(wx_int(u, "completion_tokens"), 5);
    ck_assert_int_eq(wx_int(u, "total_tokens"), 15);
    json_decref(j);
    wx_last_is("/ml/v1/text/chat", "Bearer iam-1");
    j = wx_sdk("stream_usage", "watsonx:ibm/granite-3", key);
    ck_assert_str_eq(json_string_value(json_object_get(j, "text")), "Hello");
    u = json_object_get(j, "usage");
    ck_assert_int_eq(wx_int(u, "prompt_tokens"), 10);
    ck_assert_int_eq(wx_int(u, "completion_tokens"), 5);
    json_decref(j);
    wx_last_is("/ml/v1/text/chat_stream", "Bearer iam-1");
    /* A stream without include_usage still bills the usage. */
    j = wx_sdk("stream", "watsonx:ibm/granite-3", key);
    ck_assert_str_eq(json_string_value(json_object_get(j, "text")), "Hello");
    ck_assert(json_is_null(json_object_get(j, "usage")));
    json_decref(j);
    /* One IAM exchange for all three calls: the token is cached. */
    ck_assert_int_eq(t_fake_stat(&t_llm_fake, "iam_requests"), 1);
    t_wait_sql("3|10|5|watsonx|0",
               "SELECT count(*) || '|' || min(prompt_tokens) || '|' || "
               "max(completion_tokens) || '|' || min(provider) || '|' || "
               "max(CASE WHEN usage_estimated THEN 1 ELSE 0 END) FROM usage_logs WHERE user_id = "
               "'wx-user' AND status = 'success'");
    free(key);
}
END_TEST

START_TEST(errors_relayed)
{
    struct t_resp r;
    char hdr[256], body[256], *key;
    json_t *j;

    t_llm_need();
    t_sdk_need();
    key = t_llm_user_key("wx-err");
    j = wx_sdk("error", "watsonx:wx-status-400", key);
    ck_assert_int_eq(wx_int(j, "status"), 400);
    ck_assert_msg(
        strstr(json_string_value(json_object_get(j, "message")), "fake watsonx error 400") != NULL,
        "%s", json_string_value(json_object_get(j, "message")));
    json_decref(j);
    /* Mid-stream "event: error": the error event, then [DONE]. */
    snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s\r\nContent-Type: application/json\r\n",
             key);
    snprintf(body, sizeof(body),
             "{\"model\":\"watsonx:wx-miderror\",\"stream\":true,\"messages\":[{\"role\":"
             "\"user\",\"content\":\"hi\"}]}");
    ck_assert_int_eq(t_http(t_api.port, "POST", CHAT, hdr, body, &r), 0);
    r.body_len = t_dechunk(r.body, r.body_len);
    r.body[r.body_len] = '\0';
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.body, "\"content\":\"Hel\""));
    ck_assert_ptr_nonnull(strstr(r.body, "An error occurred during streaming"));
    ck_assert(t_ends_with(r.body, "data: [DONE]\n\n"));
    t_resp_free(&r);
    t_wait_sql("2", "SELECT count(*) FROM usage_logs WHERE user_id = 'wx-err' AND status = "
                    "'error'");
    t_assert_sql("1", "SELECT count(*) FROM usage_logs WHERE user_id = 'wx-err' AND "
                      "error_message LIKE '%%fake watsonx failure mid-stream%%'");
    free(key);
}
END_TEST

/* A wrong API key: IAM refuses it; 502 naming IAM's reason, never the key; no chat call. */
START_TEST(iam_refused)
{
    struct t_resp r;
    char hdr[256], *key;
    const char *body = "{\"model\":\"watsonx:ibm/granite-3\",\"messages\":[{\"role\":\"user\","
                       "\"content\":\"hi\"}]}";

    t_llm_need();
    key = t_llm_user_key("wx-bad");
    snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s\r\nContent-Type: application/json\r\n",
             key);
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(t_http(t_api.port, "POST", CHAT, hdr, body, &r), 0);
        ck_assert_int_eq(r.status, 502);
        ck_assert_msg(strstr(r.body, "Provided API key could not be found") != NULL, "%s", r.body);
        ck_assert_ptr_nonnull(strstr(r.body, "access token"));
        ck_assert_ptr_null(strstr(r.body, WX_BAD_KEY));
        ck_assert_ptr_null(strstr(r.body, "wx-wrong"));
        t_resp_free(&r);
    }
    /* A failed exchange is not remembered: each request tries again. */
    ck_assert_int_eq(t_fake_stat(&t_llm_fake, "iam_requests"), 2);
    ck_assert_int_eq(t_fake_stat(&t_llm_fake, "requests"), 0);
    free(key);
}
END_TEST

Suite *e2e_watsonx_suite(void)
{
    Suite *s = suite_create("e2e_watsonx");
    TCase *tc = tcase_create("watsonx");
    TCase *bad = tcase_create("watsonx_bad_key");

    tcase_add_unchecked_fixture(tc, wx_up, t_llm_down);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, sdk_chat_and_stream);
    tcase_add_test(tc, errors_relayed);
    t_api_add_shutdown_test(tc);
    suite_add_tcase(s, tc);
    tcase_add_unchecked_fixture(bad, wx_up_bad, t_llm_down);
    tcase_set_timeout(bad, 30);
    tcase_add_test(bad, iam_refused);
    t_api_add_shutdown_test(bad);
    suite_add_tcase(s, bad);
    return s;
}
