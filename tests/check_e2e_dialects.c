/*
 * End-to-end tests of the translating dialects of Gemini, Vertex AI (with a service account whose
 * access token comes from the fake's token endpoint), Cohere, Ollama and Voyage against the
 * real binary and the fake provider's wire modules (tests/fake_gemini.c, fake_cohere.c,
 * fake_ollama.c, fake_voyage.c): the official OpenAI Node SDK drives chat, streams with usage and
 * embeddings (base64, its default, and float) through each provider; tool calls, errors and
 * mid-stream failures are checked on the wire; usage rows and spend in the database.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "t_google.h"
#include "t_llm.h"
#include "t_sdk.h"

#define CHAT "/v1/chat/completions"

static struct t_gkeys dia_keys;

/*
 * The fake (given the public half of the service account's key for its token endpoint), then the
 * gateway with every provider pointed at it ("%1$d" is the fake's port, filled by t_llm_up).
 */
static void dia_up(void)
{
    char sa[192], providers[4096];

    t_gkeys_init(&dia_keys);
    snprintf(sa, sizeof(sa), "%s/sa.json", dia_keys.dir);
    t_gsa_write(t_gsa_json(dia_keys.key, NULL, NULL), sa);
    snprintf(providers, sizeof(providers),
             "  vertexai:\n"
             "    credentials: %s\n"
             "    project: proj\n"
             "    location: us-central1\n"
             "    api_base: http://127.0.0.1:%%1$d\n"
             "    token_uri: http://127.0.0.1:%%1$d/token\n"
             "  vertexaianthropic:\n"
             "    credentials: %s\n"
             "    project_id: proj\n"
             "    region: us-east5\n"
             "    api_base: http://127.0.0.1:%%1$d\n"
             "    token_uri: http://127.0.0.1:%%1$d/token\n"
             "  gemini:\n"
             "    api_key: gem-provider-key-1234\n"
             "    api_base: http://127.0.0.1:%%1$d\n"
             "  cohere:\n"
             "    api_key: co-provider-key-1234\n"
             "    api_base: http://127.0.0.1:%%1$d\n"
             "  ollama:\n"
             "    api_base: http://127.0.0.1:%%1$d\n"
             "    num_ctx: 4096\n"
             "  voyage:\n"
             "    api_key: voy-provider-key-1234\n"
             "    api_base: http://127.0.0.1:%%1$d/v1\n",
             sa, sa);
    setenv("FAKE_GOOGLE_PUBKEY", dia_keys.pub, 1);
    t_llm_up(providers, "pricing:\n"
                        "  \"gemini:gem-ok\":\n"
                        "    input_price_per_million: 1.0\n"
                        "    output_price_per_million: 2.0\n"
                        "  \"cohere:embed-v4\":\n"
                        "    input_price_per_million: 1.0\n"
                        "    output_price_per_million: 0\n");
    unsetenv("FAKE_GOOGLE_PUBKEY");
}

static void dia_down(void)
{
    t_llm_down();
    t_gkeys_free(&dia_keys);
}

START_TEST(gemini_sdk)
{
    t_llm_sdk_provider("dia-gem", "gemini:gem-ok", "Hello from gemini", 10, 5, 5, 2,
                       "gemini:text-embedding-004");
    /* Gemini's batchEmbedContents reports no tokens: estimated (10 bytes -> 3) and marked. */
    t_assert_sql("3|1", "SELECT prompt_tokens || '|' || usage_estimated FROM usage_logs WHERE "
                        "user_id = 'dia-gem' AND endpoint = '/v1/embeddings' LIMIT 1");
    /* Spend: 10 x $1/M + 5 x $2/M for the chat, 5 + 2 x 2 for the stream. */
    t_wait_sql("1", "SELECT CASE WHEN abs(spend - 2.9e-05) < 1e-12 THEN 1 ELSE 0 END FROM users "
                    "WHERE user_id = 'dia-gem'");
}
END_TEST

/* Gemini on Vertex AI: the service account's token, the Vertex paths. */
START_TEST(vertex_sdk)
{
    json_t *last;
    const char *auth;

    t_llm_sdk_provider("dia-vtx", "vertexai:gem-ok", "Hello from gemini", 10, 5, 5, 2,
                       "vertexai:text-embedding-005");
    last = t_fake_get(&t_llm_fake, "/_last");
    ck_assert_ptr_nonnull(last);
    ck_assert_str_eq(json_string_value(json_object_get(last, "path")),
                     "/v1/projects/proj/locations/us-central1/publishers/google/models/"
                     "text-embedding-005:predict");
    auth = json_string_value(json_object_get(json_object_get(last, "headers"), "authorization"));
    ck_assert_msg(auth != NULL && strncmp(auth, "Bearer tok-", 11) == 0, "%s", auth);
    json_decref(last);
    /* predict reports the tokens: 4 per input. */
    t_assert_sql("8|0", "SELECT prompt_tokens || '|' || usage_estimated FROM usage_logs WHERE "
                        "user_id = 'dia-vtx' AND endpoint = '/v1/embeddings' LIMIT 1");
    ck_assert_int_ge(t_fake_stat(&t_llm_fake, "token_requests"), 1);
}
END_TEST

/* Claude on Vertex AI through the OpenAI SDK: rawPredict / streamRawPredict with the token. */
START_TEST(vertex_anthropic_sdk)
{
    char *key;
    json_t *j, *last;

    t_sdk_need();
    key = t_llm_user_key("dia-vant");
    j = t_llm_sdk("chat", "vertexaianthropic:claude-ok", key);
    ck_assert_str_eq(json_string_value(json_object_get(j, "content")), "Hello from claude");
    json_decref(j);
    j = t_llm_sdk("stream_usage", "vertexaianthropic:claude-ok", key);
    ck_assert_str_eq(json_string_value(json_object_get(j, "text")), "Hello");
    ck_assert_int_eq(t_llm_int(json_object_get(j, "usage"), "completion_tokens"), 5);
    json_decref(j);
    last = t_fake_get(&t_llm_fake, "/_last");
    ck_assert_ptr_nonnull(last);
    ck_assert_str_eq(json_string_value(json_object_get(last, "path")),
                     "/v1/projects/proj/locations/us-east5/publishers/anthropic/models/"
                     "claude-ok:streamRawPredict");
    json_decref(last);
    t_wait_sql("2|20|10", "SELECT count(*) || '|' || sum(prompt_tokens) || '|' || "
                          "sum(completion_tokens) FROM usage_logs WHERE user_id = 'dia-vant'");
    free(key);
}
END_TEST

START_TEST(cohere_sdk)
{
    char *key;
    json_t *j;

    t_llm_sdk_provider("dia-co", "cohere:co-ok", "Hello from cohere", 10, 5, 10, 5,
                       "cohere:embed-v4");
    /* Cohere's replies name no model: the request's is given. */
    key = t_llm_user_key("dia-co-model");
    j = t_llm_sdk("chat", "cohere:co-ok", key);
    ck_assert_str_eq(json_string_value(json_object_get(j, "model")), "co-ok");
    json_decref(j);
    free(key);
    t_assert_sql("8|0|1", "SELECT prompt_tokens || '|' || usage_estimated || '|' || CASE WHEN "
                          "abs(cost - 8e-06) < 1e-12 THEN 1 ELSE 0 END FROM usage_logs WHERE "
                          "user_id = 'dia-co' AND endpoint = '/v1/embeddings' LIMIT 1");
}
END_TEST

START_TEST(ollama_sdk)
{
    json_t *last;

    t_llm_sdk_provider("dia-oll", "ollama:oll-ok", "Hello from ollama", 5, 2, 5, 2,
                       "ollama:nomic-embed-text");
    t_assert_sql("8", "SELECT prompt_tokens FROM usage_logs WHERE user_id = 'dia-oll' AND "
                      "endpoint = '/v1/embeddings' LIMIT 1");
    /* num_ctx from the provider's config reaches Ollama's options, not the request's top. */
    last = t_fake_get(&t_llm_fake, "/_last");
    ck_assert_ptr_nonnull(last);
    ck_assert_str_eq(json_string_value(json_object_get(last, "path")), "/api/embed");
    json_decref(last);
}
END_TEST

START_TEST(voyage_sdk)
{
    struct t_resp r;
    char hdr[256], *key;

    t_llm_sdk_provider("dia-voy", NULL, NULL, 0, 0, 0, 0, "voyage:voy-ok");
    t_assert_sql("8", "SELECT prompt_tokens FROM usage_logs WHERE user_id = 'dia-voy' LIMIT 1");
    /* Voyage has no chat. */
    key = t_llm_user_key("dia-voy-chat");
    snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s\r\nContent-Type: application/json\r\n",
             key);
    ck_assert_int_eq(t_http(t_api.port, "POST", CHAT, hdr,
                            "{\"model\":\"voyage:voy-ok\",\"messages\":[{\"role\":\"user\","
                            "\"content\":\"x\"}]}",
                            &r),
                     0);
    ck_assert_msg(r.status == 400 && strstr(r.body, "voyage") != NULL, "%d %s", r.status, r.body);
    t_resp_free(&r);
    free(key);
}
END_TEST

/* POSTs a chat body with key; returns the parsed reply (owned) and the status in *status. */
static json_t *dia_chat(const char *key, const char *model, bool stream, struct t_resp *r)
{
    char hdr[256], body[512];

    snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s\r\nContent-Type: application/json\r\n",
             key);
    snprintf(body, sizeof(body),
             "{\"model\":\"%s\",\"stream\":%s,\"messages\":[{\"role\":\"system\",\"content\":"
             "\"Be brief\"},{\"role\":\"user\",\"content\":\"Weather in Paris?\"}],\"tools\":[{"
             "\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"parameters\":{"
             "\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}}}}}]}",
             model, stream ? "true" : "false");
    ck_assert_int_eq(t_http(t_api.port, "POST", CHAT, hdr, body, r), 0);
    if (stream) {
        r->body_len = t_dechunk(r->body, r->body_len);
        r->body[r->body_len] = '\0';
        return NULL;
    }
    return r->status == 200 ? t_json(r) : NULL;
}

static json_t *dia_msg(json_t *j)
{
    return json_object_get(json_array_get(json_object_get(j, "choices"), 0), "message");
}

START_TEST(tool_calls_translated)
{
    struct t_resp r;
    json_t *j, *tc;
    char *key;
    const struct {
        const char *model;
        long prompt, completion;
    } cases[] = {
        {"gemini:gem-tools", 30, 20},
        {"cohere:co-tools", 512, 12},
        {"ollama:oll-tools", 41, 17},
    };

    t_llm_need();
    key = t_llm_user_key("dia-tools");
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        j = dia_chat(key, cases[i].model, false, &r);
        ck_assert_msg(j != NULL, "%s: %d %s", cases[i].model, r.status, r.body);
        tc = json_array_get(json_object_get(dia_msg(j), "tool_calls"), 0);
        ck_assert_msg(tc != NULL, "%s: no tool call in %s", cases[i].model, r.body);
        ck_assert_str_eq(
            json_string_value(json_object_get(json_object_get(tc, "function"), "name")),
            "get_weather");
        ck_assert_msg(
            strstr(json_string_value(json_object_get(json_object_get(tc, "function"), "arguments")),
                   "Paris") != NULL,
            "%s", r.body);
        ck_assert_str_eq(json_string_value(json_object_get(
                             json_array_get(json_object_get(j, "choices"), 0), "finish_reason")),
                         "tool_calls");
        ck_assert_int_eq(t_llm_int(json_object_get(j, "usage"), "prompt_tokens"), cases[i].prompt);
        ck_assert_int_eq(t_llm_int(json_object_get(j, "usage"), "completion_tokens"),
                         cases[i].completion);
        if (i == 0) /* Gemini's thought signature rides on extra_content */
            ck_assert_str_eq(json_string_value(json_object_get(
                                 json_object_get(json_object_get(tc, "extra_content"), "google"),
                                 "thought_signature")),
                             "c2ln");
        json_decref(j);
        t_resp_free(&r);
    }
    free(key);
}
END_TEST

START_TEST(errors_mapped)
{
    struct t_resp r;
    char *key;
    const struct {
        const char *model;
        bool stream;
        int status;
        const char *needle;
    } cases[] = {
        {"gemini:gem-status-429", false, 429, "Resource exhausted"},
        {"gemini:gem-status-400", false, 400, ""},
        {"gemini:gem-status-403", false, 502, "credentials"},
        {"cohere:co-status-429", false, 429, "Trial key"},
        {"ollama:oll-missing", false, 404, "not found"},
        {"gemini:gem-miderror", true, 200, "An error occurred during streaming"},
        {"ollama:oll-miderror", true, 200, "An error occurred during streaming"},
    };

    t_llm_need();
    key = t_llm_user_key("dia-err");
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_decref(dia_chat(key, cases[i].model, cases[i].stream, &r));
        ck_assert_msg(r.status == cases[i].status && strstr(r.body, cases[i].needle) != NULL,
                      "%s -> %d %s", cases[i].model, r.status, r.body);
        ck_assert_ptr_null(strstr(r.body, "provider-key-1234"));
        if (cases[i].stream)
            ck_assert(t_ends_with(r.body, "data: [DONE]\n\n"));
        t_resp_free(&r);
    }
    t_wait_sql("7", "SELECT count(*) FROM usage_logs WHERE user_id = 'dia-err' AND status = "
                    "'error'");
    free(key);
}
END_TEST

Suite *e2e_dialects_suite(void)
{
    Suite *s = suite_create("e2e_dialects");
    TCase *tc = tcase_create("dialects");

    tcase_add_unchecked_fixture(tc, dia_up, dia_down);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, gemini_sdk);
    tcase_add_test(tc, vertex_sdk);
    tcase_add_test(tc, vertex_anthropic_sdk);
    tcase_add_test(tc, cohere_sdk);
    tcase_add_test(tc, ollama_sdk);
    tcase_add_test(tc, voyage_sdk);
    tcase_add_test(tc, tool_calls_translated);
    tcase_add_test(tc, errors_mapped);
    t_api_add_shutdown_test(tc);
    suite_add_tcase(s, tc);
    return s;
}
