/*
 * End-to-end tests with the official OpenAI and Anthropic Node SDKs (tests/sdk/openai_chat.mjs
 * and anthropic_messages.mjs, installed into tests/npm by scripts/sdk-deps.sh) driving the real
 * gateway, which forwards to the fake provider (tests/fake_upstream.c): replies, streams with and
 * without usage, relayed provider errors mapped onto the SDK's error classes, a refused key, and
 * the usage rows and spend the requests leave; the OpenAI SDK through an Anthropic provider, and
 * the Anthropic SDK on /v1/messages natively to Anthropic and bridged to an OpenAI-wire provider.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "t_llm.h"
#include "t_sdk.h"

/* 10 prompt tokens at $1/M + 5 completion tokens at $2/M. */
#define SDK_COST "2e-05"

/* Compact JSON of j in a static buffer (for messages and substring checks; no allocation). */
static const char *sdk_dump(const json_t *j)
{
    static char buf[4096];
    size_t n = json_dumpb(j, buf, sizeof(buf) - 1, JSON_COMPACT);

    buf[n < sizeof(buf) ? n : sizeof(buf) - 1] = '\0';
    return buf;
}

/* Unchecked fixture: the fake provider, then a gateway pointed at it with pricing for fake-ok. */
static void sdk_up(void)
{
    t_llm_up("  anthropic:\n"
             "    api_key: sk-ant-sdk-key\n"
             "    api_base: http://127.0.0.1:%d\n",
             "pricing:\n"
             "  \"openai:fake-ok\":\n"
             "    input_price_per_million: 1.0\n"
             "    output_price_per_million: 2.0\n");
}

/* `node tests/sdk/openai_chat.mjs kase` with key (env: NULL or name/value pairs, NULL-ended). */
static json_t *sdk_run_env(const char *kase, const char *key, const char *const *env)
{
    return t_sdk_run("openai_chat.mjs", kase, NULL, "/v1", key, env);
}

static json_t *sdk_run(const char *kase, const char *key)
{
    return sdk_run_env(kase, key, NULL);
}

/* `node tests/sdk/anthropic_messages.mjs kase model` with key sent as auth (GW_AUTH). */
static json_t *sdk_ant(const char *kase, const char *model, const char *key, const char *auth)
{
    const char *env[] = {"GW_AUTH", auth, NULL};

    return t_sdk_run("anthropic_messages.mjs", kase, model, "", key, env);
}

static long sdk_int(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);

    ck_assert_msg(json_is_integer(v), "%s is not an integer", k);
    return (long)json_integer_value(v);
}

static const char *sdk_str(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));

    ck_assert_msg(s != NULL, "%s is not a string in %s", k, sdk_dump(o));
    return s;
}

/* usage must be the fake's {10, 5, 15}. */
static void sdk_check_usage(json_t *usage)
{
    ck_assert_msg(json_is_object(usage), "no usage object");
    ck_assert_int_eq(sdk_int(usage, "prompt_tokens"), 10);
    ck_assert_int_eq(sdk_int(usage, "completion_tokens"), 5);
    ck_assert_int_eq(sdk_int(usage, "total_tokens"), 15);
}

/*
 * The user's usage row: exactly one, successful, openai/fake-ok 10/5/15 at SDK_COST, not
 * estimated, with the key's id; and the user's spend equal to the sum of the costs.
 */
static void sdk_check_row(const char *user)
{
    t_wait_sql("1", "SELECT count(*) FROM usage_logs WHERE user_id = '%s'", user);
    t_assert_sql("success|openai|fake-ok|/v1/chat/completions|10|5|15|0|1",
                 "SELECT status || '|' || provider || '|' || model || '|' || endpoint || '|' || "
                 "prompt_tokens || '|' || completion_tokens || '|' || total_tokens || '|' || "
                 "usage_estimated || '|' || (api_key_id IS NOT NULL) FROM usage_logs "
                 "WHERE user_id = '%s'",
                 user);
    t_assert_sql(
        "1", "SELECT abs(cost - " SDK_COST ") < 1e-15 FROM usage_logs WHERE user_id = '%s'", user);
    /* Spend is incremented by the same writer, possibly a flush after the row. */
    t_wait_sql("1",
               "SELECT abs(spend - (SELECT sum(cost) FROM usage_logs WHERE user_id = '%s')) "
               "< 1e-15 FROM users WHERE user_id = '%s'",
               user, user);
}

/*
 * A failed upstream call leaves one error row (as the reference does) carrying the provider's
 * message without the provider's key, no cost, and no spend.
 */
static void sdk_check_error_row(const char *user, const char *model)
{
    t_wait_sql("1", "SELECT count(*) FROM usage_logs WHERE user_id = '%s'", user);
    t_assert_sql("error|openai|1|1|1",
                 "SELECT status || '|' || provider || '|' || (model = '%s') || '|' || "
                 "(cost IS NULL OR cost = 0) || '|' || "
                 "(instr(coalesce(error_message, ''), '" T_PROVIDER_KEY "') = 0) "
                 "FROM usage_logs WHERE user_id = '%s'",
                 model, user);
    t_assert_sql("1", "SELECT spend = 0 FROM users WHERE user_id = '%s'", user);
}

/* The last request the fake received (body and headers), owned. */
static json_t *sdk_fake_last(void)
{
    json_t *j = t_fake_get(&t_llm_fake, "/_last");

    ck_assert_msg(json_is_object(j), "GET /_last on the fake gave no JSON object");
    return j;
}

START_TEST(sdk_chat)
{
    char *key;
    json_t *j, *last, *body, *hdrs;
    const char *auth;

    t_sdk_need();
    key = t_llm_user_key("sdk-chat");
    j = sdk_run("chat", key);
    ck_assert_str_eq(sdk_str(j, "content"), "Hello from fake");
    sdk_check_usage(json_object_get(j, "usage"));
    ck_assert_str_ne(sdk_str(j, "id"), "");
    ck_assert_str_ne(sdk_str(j, "model"), "");
    json_decref(j);

    /* What reached the provider: the bare model, the unknown field seed (passed through), the
     * provider's key and not the client's. */
    last = sdk_fake_last();
    body = json_object_get(last, "body");
    ck_assert_msg(json_is_object(body), "/_last has no body object");
    ck_assert_str_eq(sdk_str(body, "model"), "fake-ok");
    ck_assert_msg(json_integer_value(json_object_get(body, "seed")) == 7,
                  "seed did not reach the provider: body %s", sdk_dump(body));
    hdrs = json_object_get(last, "headers");
    auth = json_string_value(json_object_get(hdrs, "authorization")); /* names lower-cased */
    ck_assert_msg(auth != NULL && strcmp(auth, "Bearer " T_PROVIDER_KEY) == 0,
                  "the provider got Authorization '%s'", auth != NULL ? auth : "(none)");
    json_decref(last);

    sdk_check_row("sdk-chat");
    free(key);
}
END_TEST

START_TEST(sdk_stream)
{
    char *key;
    json_t *j, *last, *so;

    t_sdk_need();
    key = t_llm_user_key("sdk-stream");
    j = sdk_run("stream", key);
    ck_assert_str_eq(sdk_str(j, "text"), "Hello world");
    ck_assert_int_ge(sdk_int(j, "chunks"), 3);
    /* The client did not ask for usage: the usage-only chunk is not shown... */
    ck_assert_msg(json_is_null(json_object_get(j, "usage")), "usage shown unasked: %s",
                  sdk_dump(j));
    json_decref(j);

    /* ...but the gateway asked the provider for it, so the stream is billed. */
    last = sdk_fake_last();
    so = json_object_get(json_object_get(last, "body"), "stream_options");
    ck_assert_msg(json_is_true(json_object_get(so, "include_usage")),
                  "the gateway did not ask for usage: %s", sdk_dump(json_object_get(last, "body")));
    json_decref(last);
    sdk_check_row("sdk-stream");
    free(key);
}
END_TEST

START_TEST(sdk_stream_usage)
{
    char *key;
    json_t *j;

    t_sdk_need();
    key = t_llm_user_key("sdk-stream-usage");
    j = sdk_run("stream_usage", key);
    ck_assert_str_eq(sdk_str(j, "text"), "Hello world");
    sdk_check_usage(json_object_get(j, "usage"));
    json_decref(j);
    sdk_check_row("sdk-stream-usage");
    free(key);
}
END_TEST

START_TEST(sdk_error)
{
    char *key;
    json_t *j;
    const char *msg;

    t_sdk_need();
    key = t_llm_user_key("sdk-error");
    j = sdk_run("error", key);
    ck_assert_int_eq(sdk_int(j, "status"), 400);
    ck_assert_str_eq(sdk_str(j, "name"), "BadRequestError");
    ck_assert_msg(json_is_true(json_object_get(j, "instanceofBadRequest")),
                  "not a BadRequestError");
    msg = sdk_str(j, "message");
    /* The provider's own message is relayed, with the provider's key scrubbed from it. */
    ck_assert_msg(strstr(msg, "fake error 400") != NULL, "provider message not relayed: %s", msg);
    ck_assert_msg(strstr(msg, T_PROVIDER_KEY) == NULL, "provider key leaked: %s", msg);
    ck_assert_msg(strstr(sdk_dump(j), T_PROVIDER_KEY) == NULL, "provider key leaked: %s",
                  sdk_dump(j));
    json_decref(j);
    sdk_check_error_row("sdk-error", "fake-status-400");
    free(key);
}
END_TEST

START_TEST(sdk_ratelimit)
{
    char *key;
    json_t *j;

    t_sdk_need();
    key = t_llm_user_key("sdk-ratelimit");
    j = sdk_run("ratelimit", key);
    ck_assert_int_eq(sdk_int(j, "status"), 429);
    ck_assert_str_eq(sdk_str(j, "name"), "RateLimitError");
    ck_assert_msg(json_is_true(json_object_get(j, "instanceofRateLimit")), "not a RateLimitError");
    ck_assert_msg(json_is_string(json_object_get(j, "retryAfter")), "no Retry-After: %s",
                  sdk_dump(j));
    ck_assert_str_eq(sdk_str(j, "retryAfter"), "7");
    ck_assert_msg(strstr(sdk_dump(j), T_PROVIDER_KEY) == NULL, "provider key leaked: %s",
                  sdk_dump(j));
    json_decref(j);
    sdk_check_error_row("sdk-ratelimit", "fake-status-429");
    free(key);
}
END_TEST

START_TEST(sdk_authfail)
{
    json_t *j;
    long before;

    t_sdk_need();
    before = t_fake_stat(&t_llm_fake, "requests");
    j = sdk_run("authfail", "gw-invalid");
    ck_assert_int_eq(sdk_int(j, "status"), 401);
    ck_assert_str_eq(sdk_str(j, "name"), "AuthenticationError");
    ck_assert_msg(json_is_true(json_object_get(j, "instanceofAuth")), "not an AuthenticationError");
    json_decref(j);
    /* A refused key never reaches the provider. */
    ck_assert_int_eq(t_fake_stat(&t_llm_fake, "requests"), before);
}
END_TEST

/* The OpenAI SDK on /v1/chat/completions to an Anthropic provider (translated both ways). */
START_TEST(sdk_openai_to_anthropic)
{
    const char *env[] = {"GW_PREFIX", "anthropic:", NULL};
    char *key;
    json_t *j;

    t_sdk_need();
    key = t_llm_user_key("sdk-oa-ant");
    j = sdk_run_env("chat", key, env);
    ck_assert_str_eq(sdk_str(j, "content"), "Hello from claude");
    sdk_check_usage(json_object_get(j, "usage"));
    json_decref(j);
    j = sdk_run_env("stream_usage", key, env);
    ck_assert_str_eq(sdk_str(j, "text"), "Hello");
    sdk_check_usage(json_object_get(j, "usage"));
    json_decref(j);
    t_wait_sql("2|anthropic|/v1/chat/completions|20|10",
               "SELECT count(*) || '|' || max(provider) || '|' || max(endpoint) || '|' || "
               "sum(prompt_tokens) || '|' || sum(completion_tokens) FROM usage_logs WHERE "
               "user_id = 'sdk-oa-ant'");
    free(key);
}
END_TEST

/* The SDK's JSON summary of a message: text, stop reason, usage. */
static void sdk_ant_check(json_t *j, const char *text, const char *stop, long in, long out)
{
    json_t *u = json_object_get(j, "usage");

    ck_assert_str_eq(sdk_str(j, "text"), text);
    ck_assert_str_eq(sdk_str(j, "stop_reason"), stop);
    ck_assert_int_eq(sdk_int(u, "input_tokens"), in);
    ck_assert_int_eq(sdk_int(u, "output_tokens"), out);
}

/* The events an SDK saw, comma-joined. */
static const char *sdk_events(json_t *j)
{
    static char buf[1024];
    size_t used = 0, i;
    json_t *e;

    buf[0] = '\0';
    json_array_foreach(json_object_get(j, "events"), i, e)
    {
        used += (size_t)snprintf(buf + used, sizeof(buf) - used, "%s%s", i > 0 ? "," : "",
                                 json_string_value(e));
        ck_assert(used < sizeof(buf));
    }
    return buf;
}

/*
 * The Anthropic SDK on /v1/messages, natively to Anthropic (prefix "anthropic:", the fake's
 * claude-* scenarios) or bridged to an OpenAI-wire provider ("openai:", fake-*): create, stream
 * with finalMessage(), tool use both ways, typed errors, both ways of sending the key.
 */
static void sdk_ant_cases(const char *user, bool native)
{
    const char *ok = native ? "anthropic:claude-ok" : "openai:fake-ok";
    const char *tools = native ? "anthropic:claude-tools" : "openai:fake-tools";
    const char *limited = native ? "anthropic:claude-status-429" : "openai:fake-status-429";
    const char *bad = native ? "anthropic:claude-status-400" : "openai:fake-status-400";
    const char *broken = native ? "anthropic:claude-error" : "openai:fake-miderror";
    char *key;
    json_t *j, *tool;

    t_sdk_need();
    key = t_llm_user_key(user);
    j = sdk_ant("create", ok, key, "apikey");
    sdk_ant_check(j, native ? "Hello from claude" : "Hello from fake", "end_turn", 10, 5);
    json_decref(j);
    j = sdk_ant("stream", ok, key, "apikey");
    sdk_ant_check(j, native ? "Hello" : "Hello world", "end_turn", 10, 5);
    ck_assert_str_eq(sdk_events(j),
                     native ? "message_start,content_block_start,content_block_delta,"
                              "content_block_delta,content_block_stop,message_delta,message_stop"
                            : "message_start,content_block_start,content_block_delta,"
                              "content_block_delta,content_block_delta,content_block_stop,"
                              "message_delta,message_stop");
    json_decref(j);
    for (int streamed = 0; streamed < 2; streamed++) {
        j = sdk_ant(streamed ? "stream_tools" : "tools", tools, key, "bearer");
        tool = json_object_get(j, "tool");
        ck_assert_str_eq(sdk_str(j, "stop_reason"), "tool_use");
        ck_assert_str_eq(sdk_str(tool, "name"), "get_weather");
        ck_assert_str_eq(sdk_str(json_object_get(tool, "input"), "city"), "Paris");
        json_decref(j);
    }
    j = sdk_ant("error", limited, key, "x-api-key");
    ck_assert_str_eq(sdk_str(j, "name"), "RateLimitError");
    ck_assert_int_eq(sdk_int(j, "status"), 429);
    ck_assert_str_eq(sdk_str(j, "retryAfter"), "7");
    ck_assert_str_eq(sdk_str(j, "type"), "rate_limit_error");
    json_decref(j);
    j = sdk_ant("error", bad, key, "apikey");
    ck_assert_str_eq(sdk_str(j, "name"), "BadRequestError");
    ck_assert_str_eq(sdk_str(j, "type"), "invalid_request_error");
    json_decref(j);
    j = sdk_ant("stream_error", broken, key, "apikey");
    ck_assert_msg(json_is_true(json_object_get(j, "instanceofAPIError")), "%s", sdk_dump(j));
    json_decref(j);
    j = sdk_ant("error", ok, "gw-invalid", "apikey");
    ck_assert_str_eq(sdk_str(j, "name"), "AuthenticationError");
    ck_assert_str_eq(sdk_str(j, "type"), "authentication_error");
    json_decref(j);
    j = sdk_ant("auth_xapikey", ok, key, "apikey");
    ck_assert_msg(json_is_true(json_object_get(j, "ok")), "%s", sdk_dump(j));
    json_decref(j);
    /* create, stream, 2 tools, 2 errors and the failed stream, auth_xapikey: all rows on
       /v1/messages; the key was refused before any row. */
    t_wait_sql(
        "8|/v1/messages|5|3",
        "SELECT count(*) || '|' || max(endpoint) || '|' || sum(CASE WHEN status = 'success' THEN 1 "
        "ELSE 0 END) || '|' "
        "|| sum(CASE WHEN status = 'error' THEN 1 ELSE 0 END) FROM usage_logs WHERE user_id = '%s'",
        user);
    free(key);
}

START_TEST(sdk_anthropic_native)
{
    sdk_ant_cases("sdk-ant-native", true);
}
END_TEST

START_TEST(sdk_anthropic_bridged)
{
    sdk_ant_cases("sdk-ant-bridged", false);
}
END_TEST

Suite *e2e_sdk_suite(void)
{
    Suite *s = suite_create("e2e_sdk");
    TCase *tc = tcase_create("openai_node");

    tcase_add_unchecked_fixture(tc, sdk_up, t_llm_down);
    tcase_set_timeout(
        tc, 60); /* 9 tests of several node runs each; node starts slowly on a loaded machine */
    tcase_add_test(tc, sdk_chat);
    tcase_add_test(tc, sdk_stream);
    tcase_add_test(tc, sdk_stream_usage);
    tcase_add_test(tc, sdk_error);
    tcase_add_test(tc, sdk_ratelimit);
    tcase_add_test(tc, sdk_authfail);
    tcase_add_test(tc, sdk_openai_to_anthropic);
    tcase_add_test(tc, sdk_anthropic_native);
    tcase_add_test(tc, sdk_anthropic_bridged);
    t_api_add_shutdown_test(tc);
    suite_add_tcase(s, tc);
    return s;
}
