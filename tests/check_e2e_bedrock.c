/*
 * End to end through bedrock (providers.md §7) against the real binary and the fake AWS endpoint
 * (tests/fake_aws.c), which checks each request's SigV4 signature with its own code: JSON chat
 * (the Converse body sent: system, messages, inferenceConfig, toolConfig; the reply with cache
 * tokens in the usage), streams (role chunk, text, tool arguments reassembled from split deltas,
 * finish, usage, [DONE]), ARN and inference-profile ids as one encoded path segment, mid-stream
 * exceptions and a bad CRC as the stream's error event, HTTP errors mapped (400 with AWS's
 * message, 429, 504, 502), Titan embeddings, usage rows and spend, the OpenAI Node SDK and the
 * Anthropic SDK (/v1/messages bridged); then temporary credentials (session token signed), a
 * Bedrock API key (bearer), and a wrong secret (502, the secret nowhere). SageMaker (§8) on the
 * same fake: OpenAI JSON and streams spanning PayloadParts, TGI replies and streams, errors
 * mapped, a ModelStreamError mid-stream, embeddings.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "t_llm.h"
#include "t_sdk.h"

#define CHAT "/v1/chat/completions"
#define BD_BAD_SECRET "wrongSecret/For+Bedrock0123456789abcdef"
#define ARN "arn:aws:bedrock:us-west-2:123456789012:inference-profile/us.bd-ok"
#define ARN_SEG "arn%3Aaws%3Abedrock%3Aus-west-2%3A123456789012%3Ainference-profile%2Fus.bd-ok"

/* The gateway with bedrock pointed at the fake; creds: the credential lines of the section. */
static void bd_up_with(const char *creds)
{
    char providers[1024];

    snprintf(providers, sizeof(providers),
             "  bedrock:\n"
             "    api_base: http://127.0.0.1:%%1$d\n"
             "    region_name: " T_FAKE_AWS_REGION "\n%s",
             creds);
    t_llm_up(providers, "pricing:\n"
                        "  \"bedrock:bd-ok\":\n"
                        "    input_price_per_million: 1.0\n"
                        "    output_price_per_million: 2.0\n");
}

static void bd_up(void)
{
    bd_up_with("    aws_access_key_id: " T_FAKE_AWS_KEY_ID "\n"
               "    aws_secret_access_key: \"" T_FAKE_AWS_SECRET "\"\n");
}

static void bd_up_temp(void)
{
    bd_up_with("    aws_access_key_id: " T_FAKE_AWS_TEMP_KEY_ID "\n"
               "    aws_secret_access_key: \"" T_FAKE_AWS_SECRET "\"\n"
               "    aws_session_token: \"" T_FAKE_AWS_TOKEN "\"\n");
}

static void bd_up_bearer(void)
{
    bd_up_with("    api_key: " T_FAKE_BEDROCK_API_KEY "\n");
}

static void bd_up_bad(void)
{
    bd_up_with("    aws_access_key_id: " T_FAKE_AWS_KEY_ID "\n"
               "    aws_secret_access_key: \"" BD_BAD_SECRET "\"\n");
}

/* POSTs body to path as key; a chunked reply is dechunked. */
static void bd_post(const char *path, const char *key, const char *body, struct t_resp *r)
{
    char hdr[256], te[32];

    snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s\r\nContent-Type: application/json\r\n",
             key);
    ck_assert_int_eq(t_http(t_api.port, "POST", path, hdr, body, r), 0);
    if (t_header(r, "Transfer-Encoding", te, sizeof(te)) != NULL && strcmp(te, "chunked") == 0)
        r->body_len = t_dechunk(r->body, r->body_len);
    r->body[r->body_len] = '\0';
}

/* A chat request for model, streamed or not. */
static void bd_chat(const char *key, const char *model, bool stream, struct t_resp *r)
{
    char body[512];

    snprintf(body, sizeof(body),
             "{\"model\":\"%s\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]%s}", model,
             stream ? ",\"stream\":true,\"stream_options\":{\"include_usage\":true}" : "");
    bd_post(CHAT, key, body, r);
}

static const char *at_str(json_t *j, const char *path)
{
    const char *s = json_string_value(t_json_at(j, path));

    ck_assert_msg(s != NULL, "no string at %s", path);
    return s;
}

static long at_int(json_t *j, const char *path)
{
    ck_assert_msg(json_is_integer(t_json_at(j, path)), "no integer at %s", path);
    return (long)json_integer_value(t_json_at(j, path));
}

/* What an OpenAI stream said: text, tool arguments, finish reason, usage, order facts. */
struct bd_seen {
    char text[256], args[256], finish[32];
    long prompt, completion, cached;
    bool role_first, done_last, error;
};

static void bd_stream_read(const char *body, struct bd_seen *s)
{
    const char *p = body;
    int n = 0;

    memset(s, 0, sizeof(*s));
    s->prompt = s->completion = s->cached = -1;
    while ((p = strstr(p, "data: ")) != NULL) {
        const char *end = strstr(p, "\n\n");
        json_t *j, *d;
        ck_assert_ptr_nonnull(end);
        p += 6;
        s->done_last = strncmp(p, "[DONE]\n\n", 8) == 0 && end[2] == '\0';
        j = s->done_last ? NULL : json_loadb(p, (size_t)(end - p), 0, NULL);
        ck_assert_msg(s->done_last || j != NULL, "bad event in %s", body);
        d = t_json_at(j, "choices.0.delta");
        if (n++ == 0)
            s->role_first = json_string_value(json_object_get(d, "role")) != NULL &&
                            strcmp(json_string_value(json_object_get(d, "role")), "assistant") == 0;
        if (json_string_value(json_object_get(d, "content")) != NULL)
            strncat(s->text, json_string_value(json_object_get(d, "content")),
                    sizeof(s->text) - strlen(s->text) - 1);
        if (json_string_value(t_json_at(d, "tool_calls.0.function.arguments")) != NULL)
            strncat(s->args, json_string_value(t_json_at(d, "tool_calls.0.function.arguments")),
                    sizeof(s->args) - strlen(s->args) - 1);
        if (json_string_value(t_json_at(j, "choices.0.finish_reason")) != NULL)
            snprintf(s->finish, sizeof(s->finish), "%s", at_str(j, "choices.0.finish_reason"));
        if (json_is_object(json_object_get(j, "usage"))) {
            s->prompt = at_int(j, "usage.prompt_tokens");
            s->completion = at_int(j, "usage.completion_tokens");
            if (json_is_integer(t_json_at(j, "usage.prompt_tokens_details.cached_tokens")))
                s->cached = at_int(j, "usage.prompt_tokens_details.cached_tokens");
        }
        s->error = s->error || json_object_get(j, "error") != NULL;
        json_decref(j);
        p = end + 2;
    }
}

static json_t *bd_last(void)
{
    json_t *j = t_fake_get(&t_llm_fake, "/_last");

    ck_assert_ptr_nonnull(j);
    return j;
}

START_TEST(json_chat)
{
    struct t_resp r;
    char *key;
    json_t *j, *body;
    const char *req =
        "{\"model\":\"bedrock:bd-ok\",\"max_tokens\":64,\"temperature\":0.5,\"stop\":[\"END\"],"
        "\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},{\"role\":\"user\","
        "\"content\":\"Weather?\"}],\"tools\":[{\"type\":\"function\",\"function\":{\"name\":"
        "\"get_weather\",\"parameters\":{\"type\":\"object\",\"properties\":{\"city\":{\"type\":"
        "\"string\"}}}}}],\"tool_choice\":\"required\"}";

    t_llm_need();
    key = t_llm_user_key("bd-json");
    bd_post(CHAT, key, req, &r);
    ck_assert_msg(r.status == 200, "%d %s", r.status, r.body);
    j = json_loads(r.body, 0, NULL);
    ck_assert_str_eq(at_str(j, "choices.0.message.content"), "Hello from bedrock");
    ck_assert_str_eq(at_str(j, "choices.0.finish_reason"), "stop");
    ck_assert_int_eq(at_int(j, "usage.prompt_tokens"), 25); /* 20 + cache read 3 + write 2 */
    ck_assert_int_eq(at_int(j, "usage.completion_tokens"), 5);
    ck_assert_int_eq(at_int(j, "usage.prompt_tokens_details.cached_tokens"), 3);
    json_decref(j);
    t_resp_free(&r);
    j = bd_last();
    ck_assert_str_eq(at_str(j, "path"), "/model/bd-ok/converse");
    ck_assert_str_eq(at_str(j, "aws_auth.scheme"), "sigv4");
    ck_assert_str_eq(at_str(j, "aws_auth.service"), "bedrock");
    ck_assert_ptr_nonnull(strstr(at_str(j, "aws_auth.signed_headers"), "content-type"));
    body = json_object_get(j, "body");
    ck_assert_str_eq(at_str(body, "system.0.text"), "Be brief.");
    ck_assert_str_eq(at_str(body, "messages.0.role"), "user");
    ck_assert_str_eq(at_str(body, "messages.0.content.0.text"), "Weather?");
    ck_assert_int_eq(at_int(body, "inferenceConfig.maxTokens"), 64);
    ck_assert(json_real_value(t_json_at(body, "inferenceConfig.temperature")) == 0.5);
    ck_assert_str_eq(at_str(body, "inferenceConfig.stopSequences.0"), "END");
    ck_assert_str_eq(at_str(body, "toolConfig.tools.0.toolSpec.name"), "get_weather");
    ck_assert_str_eq(at_str(body, "toolConfig.tools.0.toolSpec.inputSchema.json.type"), "object");
    ck_assert(json_is_object(t_json_at(body, "toolConfig.toolChoice.any")));
    json_decref(j);
    /* Tools back: tool_calls with the arguments as a JSON string. */
    bd_chat(key, "bedrock:bd-tools", false, &r);
    j = json_loads(r.body, 0, NULL);
    ck_assert_str_eq(at_str(j, "choices.0.finish_reason"), "tool_calls");
    ck_assert_str_eq(at_str(j, "choices.0.message.tool_calls.0.function.name"), "get_weather");
    ck_assert_str_eq(at_str(j, "choices.0.message.tool_calls.0.function.arguments"),
                     "{\"city\":\"Paris\"}");
    json_decref(j);
    t_resp_free(&r);
    /* The priced model's row: 25 in, 5 out at 1 and 2 per million; spend follows. */
    t_wait_sql("2|25|bedrock", "SELECT count(*) || '|' || min(prompt_tokens) || '|' || "
                               "min(provider) FROM usage_logs WHERE user_id = 'bd-json' AND status "
                               "= 'success'");
    t_assert_sql("1", "SELECT count(*) FROM usage_logs WHERE user_id = 'bd-json' AND model = "
                      "'bd-ok' AND completion_tokens = 5 AND cost > 0");
    t_assert_sql("1", "SELECT abs(spend - (SELECT sum(cost) FROM usage_logs WHERE user_id = "
                      "'bd-json')) < 1e-12 AND spend > 0 FROM users WHERE user_id = 'bd-json'");
    free(key);
}
END_TEST

START_TEST(streams)
{
    struct t_resp r;
    struct bd_seen s;
    char *key;

    t_llm_need();
    key = t_llm_user_key("bd-stream");
    bd_chat(key, "bedrock:bd-ok", true, &r);
    ck_assert_int_eq(r.status, 200);
    bd_stream_read(r.body, &s);
    ck_assert_msg(s.role_first, "%s", r.body);
    ck_assert_str_eq(s.text, "Hi there");
    ck_assert_str_eq(s.finish, "stop");
    ck_assert_int_eq(s.prompt, 30); /* 25 + cache read 4 + write 1 */
    ck_assert_int_eq(s.completion, 9);
    ck_assert_int_eq(s.cached, 4);
    ck_assert(s.done_last && !s.error);
    t_resp_free(&r);
    bd_chat(key, "bedrock:bd-tools", true, &r);
    bd_stream_read(r.body, &s);
    ck_assert_str_eq(s.text, "Let me check.");
    ck_assert_str_eq(s.args, "{\"city\":\"Paris\"}");
    ck_assert_str_eq(s.finish, "tool_calls");
    ck_assert_msg(strstr(r.body, "\"name\":\"get_weather\"") != NULL, "%s", r.body);
    ck_assert(s.done_last);
    t_resp_free(&r);
    t_wait_sql("2|30|9", "SELECT count(*) || '|' || min(prompt_tokens) || '|' || "
                         "max(completion_tokens) FROM usage_logs WHERE user_id = 'bd-stream' AND "
                         "status = 'success'");
    free(key);
}
END_TEST

/* ARNs and inference profiles travel as one encoded segment (and are signed that way). */
START_TEST(model_ids_encoded)
{
    struct t_resp r;
    char *key;
    json_t *j;

    t_llm_need();
    key = t_llm_user_key("bd-ids");
    bd_chat(key, "bedrock:" ARN, false, &r);
    ck_assert_msg(r.status == 200, "%d %s", r.status, r.body);
    t_resp_free(&r);
    j = bd_last();
    ck_assert_str_eq(at_str(j, "path"), "/model/" ARN_SEG "/converse");
    ck_assert_str_eq(at_str(j, "model_id"), ARN);
    json_decref(j);
    bd_chat(key, "bedrock:us.anthropic.claude-3-5-haiku-20241022-v1:0", true, &r);
    ck_assert_int_eq(r.status, 200);
    t_resp_free(&r);
    j = bd_last();
    ck_assert_str_eq(at_str(j, "path"),
                     "/model/us.anthropic.claude-3-5-haiku-20241022-v1%3A0/converse-stream");
    json_decref(j);
    free(key);
}
END_TEST

START_TEST(stream_failures)
{
    static const char *const models[] = {"bedrock:bd-midthrottle", "bedrock:bd-miderror",
                                         "bedrock:bd-badcrc"};
    struct t_resp r;
    struct bd_seen s;
    char *key;

    t_llm_need();
    key = t_llm_user_key("bd-midfail");
    for (size_t i = 0; i < 3; i++) {
        bd_chat(key, models[i], true, &r);
        ck_assert_int_eq(r.status, 200);
        bd_stream_read(r.body, &s);
        ck_assert_msg(strcmp(s.text, "Hi") == 0 && s.error && s.done_last, "%s: %s", models[i],
                      r.body);
        ck_assert_ptr_nonnull(strstr(r.body, "An error occurred during streaming"));
        t_resp_free(&r);
    }
    t_wait_sql("3", "SELECT count(*) FROM usage_logs WHERE user_id = 'bd-midfail' AND status = "
                    "'error'");
    t_assert_sql("1", "SELECT count(*) FROM usage_logs WHERE user_id = 'bd-midfail' AND "
                      "error_message LIKE '%%Too many requests%%'");
    free(key);
}
END_TEST

START_TEST(http_errors)
{
    static const struct {
        const char *model;
        int status;
        const char *text;
    } t[] = {
        {"bedrock:bd-status-400", 400, "Malformed input request: fake validation failure"},
        {"bedrock:bd-status-429", 429, NULL},
        {"bedrock:bd-status-408", 504, NULL},
        {"bedrock:bd-status-424", 502, NULL},
        {"bedrock:bd-status-500", 502, NULL},
    };
    struct t_resp r;
    char *key;

    t_llm_need();
    key = t_llm_user_key("bd-errors");
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        for (int stream = 0; stream < 2; stream++) {
            bd_chat(key, t[i].model, stream, &r);
            ck_assert_msg(r.status == t[i].status, "%s stream=%d: %d %s", t[i].model, stream,
                          r.status, r.body);
            ck_assert_msg(t[i].text == NULL || strstr(r.body, t[i].text) != NULL, "%s", r.body);
            t_resp_free(&r);
        }
    }
    t_wait_sql("10", "SELECT count(*) FROM usage_logs WHERE user_id = 'bd-errors' AND status = "
                     "'error'");
    free(key);
}
END_TEST

START_TEST(titan_embeddings)
{
    struct t_resp r;
    char *key;
    json_t *j;

    t_llm_need();
    key = t_llm_user_key("bd-embed");
    /* One input per call (the gateway refuses several for Titan; providers.md §7.6 would make one
     * InvokeModel per input). */
    bd_post("/v1/embeddings", key,
            "{\"model\":\"bedrock:amazon.titan-embed-text-v2:0\",\"input\":\"hi there you\","
            "\"dimensions\":4}",
            &r);
    ck_assert_msg(r.status == 200, "%d %s", r.status, r.body);
    j = json_loads(r.body, 0, NULL);
    ck_assert_int_eq(json_array_size(t_json_at(j, "data.0.embedding")), 4);
    ck_assert(json_number_value(t_json_at(j, "data.0.embedding.0")) == 12.0);
    ck_assert(json_number_value(t_json_at(j, "data.0.embedding.1")) == -1.0);
    ck_assert(json_number_value(t_json_at(j, "data.0.embedding.2")) == 0.25);
    ck_assert_str_eq(at_str(j, "object"), "list");
    ck_assert_int_eq(at_int(j, "usage.prompt_tokens"), 3);
    json_decref(j);
    t_resp_free(&r);
    j = bd_last();
    ck_assert_str_eq(at_str(j, "path"), "/model/amazon.titan-embed-text-v2%3A0/invoke");
    ck_assert_str_eq(at_str(j, "body.inputText"), "hi there you");
    ck_assert_int_eq(at_int(j, "body.dimensions"), 4);
    ck_assert_str_eq(at_str(j, "aws_auth.scheme"), "sigv4");
    json_decref(j);
    t_wait_sql("1|3|/v1/embeddings", "SELECT count(*) || '|' || min(prompt_tokens) || '|' || "
                                     "min(endpoint) FROM usage_logs WHERE user_id = 'bd-embed'");
    free(key);
}
END_TEST

START_TEST(sdks)
{
    const char *env[] = {"GW_AUTH", "apikey", NULL};
    char *key;
    json_t *j;

    t_llm_need();
    t_sdk_need();
    key = t_llm_user_key("bd-sdk");
    j = t_llm_sdk("chat", "bedrock:bd-ok", key);
    ck_assert_str_eq(at_str(j, "content"), "Hello from bedrock");
    ck_assert_int_eq(at_int(j, "usage.prompt_tokens"), 25);
    json_decref(j);
    j = t_llm_sdk("stream_usage", "bedrock:bd-ok", key);
    ck_assert_str_eq(at_str(j, "text"), "Hi there");
    ck_assert_int_eq(at_int(j, "usage.completion_tokens"), 9);
    json_decref(j);
    j = t_sdk_run("anthropic_messages.mjs", "create", "bedrock:bd-ok", "", key, env);
    ck_assert_str_eq(at_str(j, "text"), "Hello from bedrock");
    ck_assert_str_eq(at_str(j, "stop_reason"), "end_turn");
    json_decref(j);
    j = t_sdk_run("anthropic_messages.mjs", "stream", "bedrock:bd-ok", "", key, env);
    ck_assert_str_eq(at_str(j, "text"), "Hi there");
    ck_assert_str_eq(at_str(j, "stop_reason"), "end_turn");
    json_decref(j);
    j = t_sdk_run("anthropic_messages.mjs", "stream_tools", "bedrock:bd-tools", "", key, env);
    ck_assert_str_eq(at_str(j, "tool.name"), "get_weather");
    ck_assert_str_eq(at_str(j, "tool.input.city"), "Paris");
    json_decref(j);
    t_wait_sql("5|2", "SELECT count(*) || '|' || sum(CASE WHEN endpoint = '/v1/chat/completions' "
                      "THEN 1 ELSE 0 END) FROM usage_logs WHERE user_id = 'bd-sdk' AND status = "
                      "'success'");
    free(key);
}
END_TEST

/* Temporary credentials: the session token is sent and signed. */
START_TEST(session_token)
{
    struct t_resp r;
    char *key;
    json_t *j;

    t_llm_need();
    key = t_llm_user_key("bd-temp");
    bd_chat(key, "bedrock:bd-ok", false, &r);
    ck_assert_msg(r.status == 200, "%d %s", r.status, r.body);
    t_resp_free(&r);
    j = bd_last();
    ck_assert_str_eq(at_str(j, "aws_auth.key_id"), T_FAKE_AWS_TEMP_KEY_ID);
    ck_assert_ptr_nonnull(strstr(at_str(j, "aws_auth.signed_headers"), "x-amz-security-token"));
    ck_assert_str_eq(at_str(j, "headers.x-amz-security-token"), T_FAKE_AWS_TOKEN);
    json_decref(j);
    free(key);
}
END_TEST

/* A Bedrock API key: Authorization: Bearer, nothing signed. */
START_TEST(api_key_bearer)
{
    struct t_resp r;
    char *key;
    json_t *j;

    t_llm_need();
    key = t_llm_user_key("bd-bearer");
    bd_chat(key, "bedrock:bd-ok", true, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.body, "there"));
    t_resp_free(&r);
    j = bd_last();
    ck_assert_str_eq(at_str(j, "aws_auth.scheme"), "bearer");
    ck_assert_ptr_null(t_json_at(j, "headers.x-amz-date"));
    json_decref(j);
    free(key);
}
END_TEST

/* A wrong secret: AWS refuses the signature; 502, and the secret appears nowhere. */
START_TEST(bad_signature)
{
    struct t_resp r;
    char *key;

    t_llm_need();
    key = t_llm_user_key("bd-badsig");
    for (int stream = 0; stream < 2; stream++) {
        bd_chat(key, "bedrock:bd-ok", stream, &r);
        ck_assert_msg(r.status == 502, "%d %s", r.status, r.body);
        ck_assert_ptr_null(strstr(r.body, BD_BAD_SECRET));
        ck_assert_ptr_null(strstr(r.body, "wrongSecret"));
        t_resp_free(&r);
    }
    ck_assert_int_eq(t_fake_stat(&t_llm_fake, "requests"), 2); /* refused by the fake's check */
    t_wait_sql("2", "SELECT count(*) FROM usage_logs WHERE user_id = 'bd-badsig' AND status = "
                    "'error'");
    t_assert_sql("0", "SELECT count(*) FROM usage_logs WHERE error_message LIKE '%%wrongSecret%%' "
                      "OR error_message LIKE '%%" BD_BAD_SECRET "%%'");
    t_assert_sql("2", "SELECT count(*) FROM usage_logs WHERE user_id = 'bd-badsig' AND "
                      "error_message IS NOT NULL AND error_message != ''");
    free(key);
}
END_TEST

/* ---- SageMaker (providers.md §8): the same fake, endpoints instead of models ---- */

static void sm_up(void)
{
    t_llm_up("  sagemaker:\n"
             "    api_base: http://127.0.0.1:%1$d\n"
             "    region_name: " T_FAKE_AWS_REGION "\n"
             "    aws_access_key_id: " T_FAKE_AWS_KEY_ID "\n"
             "    aws_secret_access_key: \"" T_FAKE_AWS_SECRET "\"\n",
             "pricing:\n"
             "  \"sagemaker:sm-ok\":\n"
             "    input_price_per_million: 1.0\n"
             "    output_price_per_million: 2.0\n");
}

START_TEST(sagemaker_chat_and_streams)
{
    struct t_resp r;
    struct bd_seen s;
    char *key;
    json_t *j;

    t_llm_need();
    key = t_llm_user_key("sm-chat");
    bd_chat(key, "sagemaker:sm-ok", false, &r);
    ck_assert_msg(r.status == 200, "%d %s", r.status, r.body);
    j = json_loads(r.body, 0, NULL);
    ck_assert_str_eq(at_str(j, "choices.0.message.content"), "Hello from sagemaker");
    ck_assert_str_eq(at_str(j, "model"), "sm-ok");
    ck_assert_int_eq(at_int(j, "usage.prompt_tokens"), 11);
    json_decref(j);
    t_resp_free(&r);
    j = bd_last();
    ck_assert_str_eq(at_str(j, "path"), "/endpoints/sm-ok/invocations");
    ck_assert_str_eq(at_str(j, "aws_auth.service"), "sagemaker");
    ck_assert_str_eq(at_str(j, "body.messages.0.content"), "hi");
    ck_assert_ptr_null(json_object_get(json_object_get(j, "body"), "model"));
    json_decref(j);
    /* A stream whose JSON objects span PayloadParts, with the container's usage. */
    bd_chat(key, "sagemaker:sm-ok", true, &r);
    ck_assert_int_eq(r.status, 200);
    bd_stream_read(r.body, &s);
    ck_assert_msg(s.role_first && strcmp(s.text, "Hello") == 0, "%s", r.body);
    ck_assert_str_eq(s.finish, "stop");
    ck_assert_int_eq(s.prompt, 11);
    ck_assert_int_eq(s.completion, 2);
    ck_assert(s.done_last && !s.error);
    t_resp_free(&r);
    j = bd_last();
    ck_assert_str_eq(at_str(j, "path"), "/endpoints/sm-ok/invocations-response-stream");
    ck_assert(json_is_true(t_json_at(j, "body.stream")));
    json_decref(j);
    /* TGI: a generated_text reply, and a token stream (usage estimated). */
    bd_chat(key, "sagemaker:sm-tgi", false, &r);
    ck_assert_msg(r.status == 200 && strstr(r.body, "Hello from tgi") != NULL, "%s", r.body);
    t_resp_free(&r);
    bd_chat(key, "sagemaker:sm-tgi", true, &r);
    bd_stream_read(r.body, &s);
    ck_assert_msg(strcmp(s.text, "Hello") == 0 && s.done_last && !s.error, "%s", r.body);
    t_resp_free(&r);
    t_wait_sql("4", "SELECT count(*) FROM usage_logs WHERE user_id = 'sm-chat' AND status = "
                    "'success' AND provider = 'sagemaker'");
    t_assert_sql("2", "SELECT count(*) FROM usage_logs WHERE user_id = 'sm-chat' AND model = "
                      "'sm-ok' AND prompt_tokens = 11 AND cost > 0");
    free(key);
}
END_TEST

START_TEST(sagemaker_errors_and_embeddings)
{
    static const struct {
        const char *model;
        int status;
    } t[] = {{"sagemaker:sm-status-400", 400},
             {"sagemaker:sm-status-424", 502},
             {"sagemaker:sm-status-429", 429},
             {"sagemaker:sm-status-503", 502}};
    struct t_resp r;
    struct bd_seen s;
    char *key;
    json_t *j;

    t_llm_need();
    key = t_llm_user_key("sm-errors");
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        bd_chat(key, t[i].model, false, &r);
        ck_assert_msg(r.status == t[i].status, "%s: %d %s", t[i].model, r.status, r.body);
        ck_assert(t[i].status != 400 || strstr(r.body, "fake sagemaker error 400") != NULL);
        t_resp_free(&r);
    }
    /* ModelStreamError mid-stream: the text so far, the error event, [DONE], an error row. */
    bd_chat(key, "sagemaker:sm-miderror", true, &r);
    ck_assert_int_eq(r.status, 200);
    bd_stream_read(r.body, &s);
    ck_assert_msg(strcmp(s.text, "Hel") == 0 && s.error && s.done_last, "%s", r.body);
    t_resp_free(&r);
    t_wait_sql("5", "SELECT count(*) FROM usage_logs WHERE user_id = 'sm-errors' AND status = "
                    "'error'");
    t_assert_sql("1", "SELECT count(*) FROM usage_logs WHERE user_id = 'sm-errors' AND "
                      "error_message LIKE '%%ModelStreamError%%'");
    /* Embeddings: one input per invocation. */
    bd_post("/v1/embeddings", key, "{\"model\":\"sagemaker:sm-embed\",\"input\":\"four\"}", &r);
    ck_assert_msg(r.status == 200, "%d %s", r.status, r.body);
    j = json_loads(r.body, 0, NULL);
    ck_assert(json_number_value(t_json_at(j, "data.0.embedding.0")) == 4.0);
    ck_assert_int_eq(json_array_size(t_json_at(j, "data.0.embedding")), 3);
    json_decref(j);
    t_resp_free(&r);
    j = bd_last();
    ck_assert_str_eq(at_str(j, "body.inputs"), "four");
    json_decref(j);
    bd_post("/v1/embeddings", key, "{\"model\":\"sagemaker:sm-embed\",\"input\":[\"a\",\"b\"]}",
            &r);
    ck_assert_msg(r.status == 400, "%d %s", r.status, r.body);
    t_resp_free(&r);
    free(key);
}
END_TEST

static TCase *bd_tcase(Suite *s, const char *name, void (*up)(void), int timeout)
{
    TCase *tc = tcase_create(name);

    tcase_add_unchecked_fixture(tc, up, t_llm_down);
    tcase_set_timeout(tc, timeout);
    suite_add_tcase(s, tc);
    return tc;
}

Suite *e2e_bedrock_suite(void)
{
    Suite *s = suite_create("e2e_bedrock");
    TCase *tc = bd_tcase(s, "bedrock", bd_up, 90);
    TCase *temp = bd_tcase(s, "bedrock_session_token", bd_up_temp, 30);
    TCase *bearer = bd_tcase(s, "bedrock_api_key", bd_up_bearer, 30);
    TCase *bad = bd_tcase(s, "bedrock_bad_secret", bd_up_bad, 30);
    TCase *sm = bd_tcase(s, "sagemaker", sm_up, 60);

    tcase_add_test(tc, json_chat);
    tcase_add_test(tc, streams);
    tcase_add_test(tc, model_ids_encoded);
    tcase_add_test(tc, stream_failures);
    tcase_add_test(tc, http_errors);
    tcase_add_test(tc, titan_embeddings);
    tcase_add_test(tc, sdks);
    t_api_add_shutdown_test(tc);
    tcase_add_test(temp, session_token);
    t_api_add_shutdown_test(temp);
    tcase_add_test(bearer, api_key_bearer);
    t_api_add_shutdown_test(bearer);
    tcase_add_test(bad, bad_signature);
    tcase_add_test(sm, sagemaker_chat_and_streams);
    tcase_add_test(sm, sagemaker_errors_and_embeddings);
    t_api_add_shutdown_test(bad);
    return s;
}
