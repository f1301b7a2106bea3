/*
 * End-to-end tests of azureopenai and azure (providers.md §3, §4) against the real binary and
 * the fake's Azure module (tests/fake_azure.c): the official OpenAI Node SDK drives chat, a
 * stream with usage and embeddings (base64 and float) through each provider; on the wire, the
 * paths, api-version queries and credentials the fake received, extra-parameters, the
 * content_filter finish relayed without Azure's prompt-filter chunk, the content_filter 400,
 * /v1/messages bridged; usage rows in the database.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "t_llm.h"

#define CHAT "/v1/chat/completions"
#define AOAI_KEY "aoai-provider-key-1234"
#define AZI_KEY "azi-provider-key-1234"

static void az_up(void)
{
    t_llm_up("  azureopenai:\n"
             "    api_key: " AOAI_KEY "\n"
             "    api_base: http://127.0.0.1:%1$d\n"
             "    api_version: 2024-10-21\n"
             "  azure:\n"
             "    api_key: " AZI_KEY "\n"
             "    api_base: http://127.0.0.1:%1$d/models\n",
             "");
}

/* The fake's record of the last call: path, query and the header name (lower case). */
static void az_last_is(const char *path, const char *query)
{
    json_t *last = t_fake_get(&t_llm_fake, "/_last");

    ck_assert_ptr_nonnull(last);
    ck_assert_str_eq(json_string_value(json_object_get(last, "path")), path);
    ck_assert_str_eq(json_string_value(json_object_get(last, "query")), query);
    json_decref(last);
}

/* A header of the last call the fake received, or NULL (owned copy). */
static char *az_last_header(const char *name)
{
    json_t *last = t_fake_get(&t_llm_fake, "/_last");
    const char *v;
    char *out;

    ck_assert_ptr_nonnull(last);
    v = json_string_value(json_object_get(json_object_get(last, "headers"), name));
    out = v != NULL ? strdup(v) : NULL;
    json_decref(last);
    return out;
}

static void az_header_is(const char *name, const char *want)
{
    char *v = az_last_header(name);

    if (want == NULL)
        ck_assert_msg(v == NULL, "%s: %s", name, v);
    else
        ck_assert_msg(v != NULL && strcmp(v, want) == 0, "%s: %s", name, v ? v : "(none)");
    free(v);
}

START_TEST(azureopenai_sdk)
{
    t_llm_sdk_provider("az-oai", "azureopenai:az-ok", "Hello from azure", 9, 3, 9, 2,
                       "azureopenai:text-embedding-3-small");
    /* The deployment path with the configured version; api-key only. */
    az_last_is("/openai/deployments/text-embedding-3-small/embeddings", "api-version=2024-10-21");
    az_header_is("api-key", AOAI_KEY);
    az_header_is("authorization", NULL);
    t_assert_sql("8", "SELECT prompt_tokens FROM usage_logs WHERE user_id = 'az-oai' AND "
                      "endpoint = '/v1/embeddings' LIMIT 1");
}
END_TEST

START_TEST(azure_inference_sdk)
{
    /* The fake refuses members outside the schema without extra-parameters: the SDK's chat
       sends seed (inside), its stream stream_options (never sent to azure). */
    t_llm_sdk_provider("az-inf", "azure:az-ok", "Hello from azure", 9, 3, 9, 2, "azure:embed-v3");
    az_last_is("/models/embeddings", "api-version=2024-05-01-preview");
    az_header_is("authorization", "Bearer " AZI_KEY);
    az_header_is("api-key", AZI_KEY);
}
END_TEST

/* POSTs body (a chat request) with key; the reply in r (streams de-chunked). */
static void az_post(const char *key, const char *body, struct t_resp *r)
{
    char hdr[256];

    snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s\r\nContent-Type: application/json\r\n",
             key);
    ck_assert_int_eq(t_http(t_api.port, "POST", CHAT, hdr, body, r), 0);
    if (strstr(body, "\"stream\":true") != NULL && r->status == 200) {
        r->body_len = t_dechunk(r->body, r->body_len);
        r->body[r->body_len] = '\0';
    }
}

#define HI "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]"

/* Both providers: the content_filter finish relayed, Azure's prompt-filter chunk not; usage. */
START_TEST(content_filter_stream)
{
    const char *const models[] = {"azureopenai", "azure"};
    struct t_resp r;
    char body[256], user[32], *key;

    t_llm_need();
    for (size_t i = 0; i < 2; i++) {
        snprintf(user, sizeof(user), "az-cf-%zu", i);
        key = t_llm_user_key(user);
        snprintf(body, sizeof(body), "{\"model\":\"%s:az-cf\",\"stream\":true," HI "}", models[i]);
        az_post(key, body, &r);
        free(key);
        ck_assert_msg(r.status == 200, "%s: %d %s", models[i], r.status, r.body);
        ck_assert_msg(strstr(r.body, "\"finish_reason\":\"content_filter\"") != NULL, "%s", r.body);
        ck_assert_msg(strstr(r.body, "\"content\":\"Hel\"") != NULL, "%s", r.body);
        ck_assert_msg(strstr(r.body, "prompt_filter_results") == NULL, "%s", r.body);
        ck_assert_msg(strstr(r.body, "\"choices\":[]") == NULL, "%s", r.body); /* not asked */
        ck_assert(t_ends_with(r.body, "data: [DONE]\n\n"));
        ck_assert_ptr_null(strstr(r.body, "provider-key-1234"));
        t_resp_free(&r);
        t_wait_sql("1|9|2|success",
                   "SELECT count(*) || '|' || max(prompt_tokens) || '|' || max(completion_tokens) "
                   "|| '|' || max(status) FROM usage_logs WHERE user_id = '%s'",
                   user);
    }
    /* The v1-less request line of azure stream calls: no stream_options, so no pass-through. */
    az_header_is("extra-parameters", NULL);
}
END_TEST

/* A filtered prompt: 400 with Azure's message, for both providers. */
START_TEST(content_filter_400)
{
    const char *const models[] = {"azureopenai", "azure"};
    struct t_resp r;
    char body[256], *key;

    t_llm_need();
    key = t_llm_user_key("az-400");
    for (size_t i = 0; i < 2; i++) {
        snprintf(body, sizeof(body), "{\"model\":\"%s:az-filter\"," HI "}", models[i]);
        az_post(key, body, &r);
        ck_assert_msg(r.status == 400 && strstr(r.body, "content management policy") != NULL &&
                          strstr(r.body, "\"code\":\"content_filter\"") != NULL,
                      "%s: %d %s", models[i], r.status, r.body);
        ck_assert_ptr_null(strstr(r.body, "provider-key-1234"));
        t_resp_free(&r);
    }
    t_wait_sql("2", "SELECT count(*) FROM usage_logs WHERE user_id = 'az-400' AND status = "
                    "'error'");
    free(key);
}
END_TEST

/* azure: a member outside §4's list goes with extra-parameters: pass-through (the fake would
   refuse it otherwise); the deployment path of azureopenai chat calls. */
START_TEST(wire_details)
{
    struct t_resp r;
    char *key;

    t_llm_need();
    key = t_llm_user_key("az-wire");
    az_post(key, "{\"model\":\"azure:az-ok\",\"user\":\"u1\",\"logprobs\":false," HI "}", &r);
    ck_assert_msg(r.status == 200, "%d %s", r.status, r.body);
    t_resp_free(&r);
    az_last_is("/models/chat/completions", "api-version=2024-05-01-preview");
    az_header_is("extra-parameters", "pass-through");
    az_post(key, "{\"model\":\"azure:az-ok\"," HI "}", &r);
    ck_assert_msg(r.status == 200, "%d %s", r.status, r.body);
    t_resp_free(&r);
    az_header_is("extra-parameters", NULL);
    az_post(key, "{\"model\":\"azureopenai:gpt 4o\"," HI "}", &r);
    ck_assert_msg(r.status == 200 && strstr(r.body, "Hello from azure") != NULL, "%d %s", r.status,
                  r.body);
    t_resp_free(&r);
    az_last_is("/openai/deployments/gpt%204o/chat/completions", "api-version=2024-10-21");
    az_header_is("api-key", AOAI_KEY);
    t_wait_sql("3|27|9", "SELECT count(*) || '|' || sum(prompt_tokens) || '|' || "
                         "sum(completion_tokens) FROM usage_logs WHERE user_id = 'az-wire'");
    free(key);
}
END_TEST

/* /v1/messages bridged to both: Azure's stream becomes Anthropic events, its usage the
   message_delta's; the prompt-filter chunk leaves no trace. */
START_TEST(messages_bridged)
{
    const char *const models[] = {"azureopenai", "azure"};
    struct t_resp r;
    char hdr[256], body[256], *key;

    t_llm_need();
    key = t_llm_user_key("az-msg");
    snprintf(hdr, sizeof(hdr),
             "x-api-key: %s\r\nanthropic-version: 2023-06-01\r\nContent-Type: "
             "application/json\r\n",
             key);
    for (size_t i = 0; i < 2; i++) {
        snprintf(body, sizeof(body),
                 "{\"model\":\"%s:az-ok\",\"max_tokens\":50,\"stream\":true," HI "}", models[i]);
        ck_assert_int_eq(t_http(t_api.port, "POST", "/v1/messages", hdr, body, &r), 0);
        r.body_len = t_dechunk(r.body, r.body_len);
        r.body[r.body_len] = '\0';
        ck_assert_msg(r.status == 200, "%s: %d %s", models[i], r.status, r.body);
        ck_assert_msg(strstr(r.body, "event: message_start") != NULL &&
                          strstr(r.body, "\"text\":\"Hel\"") != NULL &&
                          strstr(r.body, "\"text\":\"lo\"") != NULL &&
                          strstr(r.body, "\"stop_reason\":\"end_turn\"") != NULL &&
                          strstr(r.body, "\"output_tokens\":2") != NULL &&
                          strstr(r.body, "event: message_stop") != NULL,
                      "%s: %s", models[i], r.body);
        ck_assert_ptr_null(strstr(r.body, "prompt_filter"));
        t_resp_free(&r);
    }
    t_wait_sql("2|18|4", "SELECT count(*) || '|' || sum(prompt_tokens) || '|' || "
                         "sum(completion_tokens) FROM usage_logs WHERE user_id = 'az-msg'");
    free(key);
}
END_TEST

Suite *e2e_azure_suite(void)
{
    Suite *s = suite_create("e2e_azure");
    TCase *tc = tcase_create("azure");

    tcase_add_unchecked_fixture(tc, az_up, t_llm_down);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, azureopenai_sdk);
    tcase_add_test(tc, azure_inference_sdk);
    tcase_add_test(tc, content_filter_stream);
    tcase_add_test(tc, content_filter_400);
    tcase_add_test(tc, wire_details);
    tcase_add_test(tc, messages_bridged);
    t_api_add_shutdown_test(tc);
    suite_add_tcase(s, tc);
    return s;
}
