/*
 * End-to-end tests of the Anthropic dialects against the real binary and the fake provider's
 * Anthropic Messages mode (tests/fake_upstream.c): /v1/chat/completions to an `anthropic`
 * provider (the request translated, the reply and stream translated back, errors mapped, cache
 * tokens billed), and POST /v1/messages natively to `anthropic` and bridged to an OpenAI-wire
 * provider (replies and event sequences, Anthropic-shaped errors, usage rows with endpoint
 * /v1/messages, disconnects billed as cancelled).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "t_llm.h"

#define CHAT "/v1/chat/completions"
#define MSGS "/v1/messages"
#define ANT_KEY "sk-ant-provider-key-789"

static void ant_up(void)
{
    t_llm_up("  anthropic:\n"
             "    api_key: " ANT_KEY "\n"
             "    api_base: http://127.0.0.1:%d\n",
             "pricing:\n"
             "  \"anthropic:claude-cache\":\n"
             "    input_price_per_million: 1.0\n"
             "    output_price_per_million: 2.0\n"
             "  \"openai:fake-ok\":\n"
             "    input_price_per_million: 1.0\n"
             "    output_price_per_million: 2.0\n");
}

/* POSTs body to path with key in header hname ("Authorization" gets "Bearer "). */
static void post(const char *path, const char *hname, const char *key, const char *extra,
                 const char *body, struct t_resp *r)
{
    char hdr[512], te[32];

    snprintf(hdr, sizeof(hdr), "%s: %s%s\r\nContent-Type: application/json\r\n%s", hname,
             strcmp(hname, "Authorization") == 0 ? "Bearer " : "", key, extra != NULL ? extra : "");
    ck_assert_int_eq(t_http(t_api.port, "POST", path, hdr, body, r), 0);
    if (t_header(r, "Transfer-Encoding", te, sizeof(te)) != NULL && strcmp(te, "chunked") == 0)
        r->body_len = t_dechunk(r->body, r->body_len);
    r->body[r->body_len] = '\0';
}

static json_t *last_upstream(void)
{
    json_t *j = t_fake_get(&t_llm_fake, "/_last");

    ck_assert_ptr_nonnull(j);
    return j;
}

/* The "data:" JSON of every SSE event in body, in order (owned array). */
static json_t *sse_data(const char *body)
{
    json_t *out = json_array();
    const char *p = body;

    while ((p = strstr(p, "data: ")) != NULL) {
        const char *end = strstr(p, "\n\n");
        json_t *j;
        if (end == NULL)
            break;
        p += 6;
        if ((size_t)(end - p) == 6 && strncmp(p, "[DONE]", 6) == 0) {
            json_array_append_new(out, json_string("[DONE]"));
        } else {
            j = json_loadb(p, (size_t)(end - p), 0, NULL);
            ck_assert_msg(j != NULL, "bad event data in %s", body);
            json_array_append_new(out, j);
        }
        p = end + 2;
    }
    return out;
}

/* The event names of an Anthropic stream, comma-joined (pings left out). */
static void event_names(const char *body, char *out, size_t len)
{
    const char *p = body;
    size_t used = 0;

    out[0] = '\0';
    while ((p = strstr(p, "event: ")) != NULL) {
        size_t n = strcspn(p + 7, "\n");
        if (!(n == 4 && strncmp(p + 7, "ping", 4) == 0))
            used += (size_t)snprintf(out + used, len - used, "%s%.*s", used > 0 ? "," : "", (int)n,
                                     p + 7);
        ck_assert(used < len);
        p += 7 + n;
    }
}

static const char *jstr(json_t *j, const char *path)
{
    json_t *v = j;
    char buf[128], *save = NULL, *tok;

    snprintf(buf, sizeof(buf), "%s", path);
    for (tok = strtok_r(buf, ".", &save); tok != NULL && v != NULL;
         tok = strtok_r(NULL, ".", &save))
        v = json_is_array(v) ? json_array_get(v, strtoul(tok, NULL, 10)) : json_object_get(v, tok);
    return json_string_value(v);
}

static long jint(json_t *j, const char *path)
{
    json_t *v = j;
    char buf[128], *save = NULL, *tok;

    snprintf(buf, sizeof(buf), "%s", path);
    for (tok = strtok_r(buf, ".", &save); tok != NULL && v != NULL;
         tok = strtok_r(NULL, ".", &save))
        v = json_is_array(v) ? json_array_get(v, strtoul(tok, NULL, 10)) : json_object_get(v, tok);
    ck_assert_msg(json_is_integer(v), "%s is not an integer", path);
    return (long)json_integer_value(v);
}

#define CHAT_BODY(model, extra)                                                                    \
    "{\"model\":\"anthropic:" model "\",\"messages\":[{\"role\":\"system\",\"content\":\"Be "      \
    "brief\"},{\"role\":\"user\",\"content\":\"hi\"}],\"user\":\"end-user-1\",\"seed\":3," extra   \
    "\"n\":1}"

START_TEST(chat_json_translated)
{
    struct t_resp r;
    json_t *j, *last, *body;
    char *key;

    t_llm_need();
    key = t_llm_user_key("ant-json");
    post(CHAT, "Authorization", key, NULL, CHAT_BODY("claude-tools", ""), &r);
    ck_assert_msg(r.status == 200, "%d %s", r.status, r.body);
    j = t_json(&r);
    ck_assert_str_eq(jstr(j, "object"), "chat.completion");
    ck_assert_str_eq(jstr(j, "choices.0.finish_reason"), "tool_calls");
    ck_assert_str_eq(jstr(j, "choices.0.message.content"), "Let me check.");
    ck_assert_str_eq(jstr(j, "choices.0.message.tool_calls.0.id"), "toolu_01B");
    ck_assert_str_eq(jstr(j, "choices.0.message.tool_calls.0.function.name"), "get_weather");
    ck_assert_str_eq(jstr(j, "choices.0.message.tool_calls.0.function.arguments"),
                     "{\"city\":\"Paris\"}");
    ck_assert_int_eq(jint(j, "usage.prompt_tokens"), 120);
    ck_assert_int_eq(jint(j, "usage.completion_tokens"), 40);
    ck_assert_int_eq(jint(j, "usage.total_tokens"), 160);
    json_decref(j);
    t_resp_free(&r);

    /* What Anthropic got: its path, its headers, the provider key, no field it rejects. */
    last = last_upstream();
    body = json_object_get(last, "body");
    ck_assert_str_eq(jstr(last, "path"), "/v1/messages");
    ck_assert_str_eq(jstr(last, "headers.x-api-key"), ANT_KEY);
    ck_assert_str_eq(jstr(last, "headers.anthropic-version"), "2023-06-01");
    ck_assert_ptr_null(json_object_get(json_object_get(last, "headers"), "authorization"));
    ck_assert_str_eq(jstr(body, "model"), "claude-tools");
    ck_assert_str_eq(jstr(body, "system"), "Be brief");
    ck_assert_int_eq(jint(body, "max_tokens"), 8192);
    ck_assert_str_eq(jstr(body, "messages.0.role"), "user");
    ck_assert_ptr_null(json_object_get(body, "seed"));
    ck_assert_ptr_null(json_object_get(body, "n"));
    ck_assert_ptr_null(json_object_get(body, "user"));
    ck_assert_ptr_null(json_object_get(body, "stream_options"));
    json_decref(last);

    /* Thinking comes back as message.reasoning with its signature in extra_content, and the
       signature goes back to Anthropic on the next turn (providers.md §1.3, §2.2). */
    post(CHAT, "Authorization", key, NULL, CHAT_BODY("claude-thinking", ""), &r);
    ck_assert_msg(r.status == 200, "%d %s", r.status, r.body);
    j = t_json(&r);
    ck_assert_str_eq(jstr(j, "choices.0.message.content"), "Answer");
    ck_assert_str_eq(jstr(j, "choices.0.message.reasoning.content"), "Let me think");
    ck_assert_str_eq(jstr(j, "choices.0.message.extra_content.anthropic.signature"), "sig123");
    json_decref(j);
    t_resp_free(&r);
    post(CHAT, "Authorization", key, NULL,
         "{\"model\":\"anthropic:claude-ok\",\"messages\":[{\"role\":\"user\",\"content\":\"q\"},"
         "{\"role\":\"assistant\",\"content\":\"Answer\",\"reasoning\":{\"content\":\"Let me "
         "think\"},\"extra_content\":{\"anthropic\":{\"signature\":\"sig123\"}}},{\"role\":"
         "\"user\",\"content\":\"and?\"}]}",
         &r);
    ck_assert_msg(r.status == 200, "%d %s", r.status, r.body);
    t_resp_free(&r);
    last = last_upstream();
    ck_assert_str_eq(jstr(last, "body.messages.1.role"), "assistant");
    ck_assert_str_eq(jstr(last, "body.messages.1.content.0.type"), "thinking");
    ck_assert_str_eq(jstr(last, "body.messages.1.content.0.thinking"), "Let me think");
    ck_assert_str_eq(jstr(last, "body.messages.1.content.0.signature"), "sig123");
    json_decref(last);

    t_wait_sql("claude-tools|anthropic|/v1/chat/completions|120|40|160|success",
               "SELECT model || '|' || provider || '|' || endpoint || '|' || prompt_tokens || '|' "
               "|| completion_tokens || '|' || total_tokens || '|' || status FROM usage_logs "
               "WHERE user_id = 'ant-json' AND model = 'claude-tools'");
    free(key);
}
END_TEST

START_TEST(chat_stream_translated)
{
    struct t_resp r;
    json_t *ev, *last;
    char *key, args[128] = "";
    size_t i;

    t_llm_need();
    key = t_llm_user_key("ant-stream");
    post(CHAT, "Authorization", key, NULL,
         CHAT_BODY("claude-ok", "\"stream\":true,\"stream_options\":{\"include_usage\":true},"),
         &r);
    ck_assert_msg(r.status == 200, "%d %s", r.status, r.body);
    ev = sse_data(r.body);
    /* role chunk, "Hel", "lo", finish, usage, [DONE]; one id for all (providers.md §1.3) */
    ck_assert_msg(json_array_size(ev) == 6, "%s", r.body);
    ck_assert_str_eq(jstr(ev, "0.choices.0.delta.role"), "assistant");
    ck_assert_str_eq(jstr(ev, "1.choices.0.delta.content"), "Hel");
    ck_assert_str_eq(jstr(ev, "2.choices.0.delta.content"), "lo");
    ck_assert_str_eq(jstr(ev, "3.choices.0.finish_reason"), "stop");
    ck_assert_int_eq(json_array_size(json_object_get(json_array_get(ev, 4), "choices")), 0);
    ck_assert_int_eq(jint(ev, "4.usage.prompt_tokens"), 10);
    ck_assert_int_eq(jint(ev, "4.usage.completion_tokens"), 5);
    ck_assert_str_eq(json_string_value(json_array_get(ev, 5)), "[DONE]");
    for (i = 1; i < 5; i++)
        ck_assert_str_eq(jstr(ev, "0.id"),
                         json_string_value(json_object_get(json_array_get(ev, i), "id")));
    json_decref(ev);
    t_resp_free(&r);
    last = last_upstream();
    ck_assert(json_is_true(json_object_get(json_object_get(last, "body"), "stream")));
    ck_assert_ptr_null(json_object_get(json_object_get(last, "body"), "stream_options"));
    json_decref(last);

    /* A tool stream: tool index 0 (not the block index 1), arguments assembled. */
    post(CHAT, "Authorization", key, NULL, CHAT_BODY("claude-tools", "\"stream\":true,"), &r);
    ck_assert_msg(r.status == 200, "%d %s", r.status, r.body);
    ev = sse_data(r.body);
    for (i = 0; i < json_array_size(ev); i++) {
        json_t *tc = json_array_get(
            json_object_get(
                json_object_get(
                    json_array_get(json_object_get(json_array_get(ev, i), "choices"), 0), "delta"),
                "tool_calls"),
            0);
        if (tc == NULL)
            continue;
        ck_assert_int_eq(json_integer_value(json_object_get(tc, "index")), 0);
        if (jstr(tc, "function.arguments") != NULL)
            strncat(args, jstr(tc, "function.arguments"), sizeof(args) - strlen(args) - 1);
    }
    ck_assert_str_eq(args, "{\"city\":\"Paris\"}");
    /* Without include_usage no usage chunk reaches the client, but the row has the usage. */
    ck_assert_ptr_null(strstr(r.body, "\"usage\""));
    ck_assert_str_eq(jstr(ev, "0.choices.0.delta.role"), "assistant");
    json_decref(ev);
    t_resp_free(&r);
    t_wait_sql("2|130|45", "SELECT count(*) || '|' || sum(prompt_tokens) || '|' || "
                           "sum(completion_tokens) FROM usage_logs WHERE user_id = 'ant-stream'");
    free(key);
}
END_TEST

START_TEST(chat_cache_tokens_billed)
{
    struct t_resp r;
    json_t *j;
    char *key;

    t_llm_need();
    key = t_llm_user_key("ant-cache");
    post(CHAT, "Authorization", key, NULL, CHAT_BODY("claude-cache", ""), &r);
    ck_assert_msg(r.status == 200, "%d %s", r.status, r.body);
    j = t_json(&r);
    /* DESIGN.md §2.11: input 10 + cache read 100 + cache write 20 */
    ck_assert_int_eq(jint(j, "usage.prompt_tokens"), 130);
    ck_assert_int_eq(jint(j, "usage.prompt_tokens_details.cached_tokens"), 100);
    ck_assert_int_eq(jint(j, "usage.completion_tokens"), 5);
    json_decref(j);
    t_resp_free(&r);
    /* 130 x $1/M + 5 x $2/M */
    t_wait_sql(
        "130|5|1",
        "SELECT prompt_tokens || '|' || completion_tokens || '|' || "
        "(CASE WHEN abs(cost - 0.00014) < 1e-12 THEN 1 ELSE 0 END) FROM usage_logs WHERE user_id = "
        "'ant-cache'");
    free(key);
}
END_TEST

START_TEST(chat_errors_mapped)
{
    struct t_resp r;
    char *key, buf[64];
    struct {
        const char *model;
        int status;
        const char *needle;
    } cases[] = {
        {"claude-status-400", 400, "fake anthropic error 400"},
        {"claude-status-401", 502, "credentials"},
        {"claude-status-429", 429, "fake anthropic error 429"},
        {"claude-status-529", 429, "fake anthropic error 529"},
        {"claude-status-500", 502, "HTTP 500"},
    };

    t_llm_need();
    key = t_llm_user_key("ant-err");
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char body[512];
        snprintf(body, sizeof(body),
                 "{\"model\":\"anthropic:%s\",\"messages\":[{\"role\":\"user\",\"content\":"
                 "\"x\"}]}",
                 cases[i].model);
        post(CHAT, "Authorization", key, NULL, body, &r);
        ck_assert_msg(r.status == cases[i].status, "%s -> %d %s", cases[i].model, r.status, r.body);
        ck_assert_msg(strstr(r.body, cases[i].needle) != NULL, "%s: %s", cases[i].model, r.body);
        ck_assert_ptr_null(strstr(r.body, ANT_KEY));
        if (cases[i].status == 429)
            ck_assert_str_eq(t_header(&r, "Retry-After", buf, sizeof(buf)), "7");
        t_resp_free(&r);
    }
    /* A request Anthropic cannot express: 400 before any upstream call. */
    post(CHAT, "Authorization", key, NULL,
         "{\"model\":\"anthropic:claude-ok\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
         "\"response_format\":{\"type\":\"json_object\"}}",
         &r);
    ck_assert_msg(r.status == 400, "%d %s", r.status, r.body);
    t_resp_free(&r);
    /* A stream that fails mid-way: the OpenAI error event and [DONE]. */
    post(CHAT, "Authorization", key, NULL,
         "{\"model\":\"anthropic:claude-error\",\"stream\":true,\"messages\":[{\"role\":\"user\","
         "\"content\":\"x\"}]}",
         &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.body, "An error occurred during streaming"));
    ck_assert(t_ends_with(r.body, "data: [DONE]\n\n"));
    t_resp_free(&r);
    t_wait_sql("1", "SELECT count(*) FROM usage_logs WHERE user_id = 'ant-err' AND status = "
                    "'error' AND error_message LIKE '%%Overloaded%%'");
    /* A stream Anthropic cuts mid-way (TCP closed): the same error event and end, an error row. */
    post(CHAT, "Authorization", key, NULL,
         "{\"model\":\"anthropic:claude-cut\",\"stream\":true,\"messages\":[{\"role\":\"user\","
         "\"content\":\"x\"}]}",
         &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.body, "\"content\":\"Hel\""));
    ck_assert_ptr_nonnull(strstr(r.body, "An error occurred during streaming"));
    ck_assert(t_ends_with(r.body, "data: [DONE]\n\n"));
    t_resp_free(&r);
    t_wait_sql("1", "SELECT count(*) FROM usage_logs WHERE user_id = 'ant-err' AND model = "
                    "'claude-cut' AND status = 'error'");
    free(key);
}
END_TEST

#define MSG_BODY(model, extra)                                                                     \
    "{\"model\":\"" model "\",\"max_tokens\":100,\"system\":\"Be brief\",\"messages\":[{\"role\":" \
    "\"user\",\"content\":\"hi\"}]" extra "}"

START_TEST(messages_native)
{
    struct t_resp r;
    json_t *j, *last;
    char *key, names[512];

    t_llm_need();
    key = t_llm_user_key("msg-native");
    post(MSGS, "x-api-key", key, "anthropic-version: 2023-06-01\r\nanthropic-beta: b1,b2\r\n",
         MSG_BODY("anthropic:claude-ok", ",\"metadata\":{\"user_id\":\"someone\"},\"top_k\":5"),
         &r);
    ck_assert_msg(r.status == 200, "%d %s", r.status, r.body);
    j = t_json(&r);
    ck_assert_str_eq(jstr(j, "type"), "message");
    ck_assert_str_eq(jstr(j, "content.0.text"), "Hello from claude");
    ck_assert_str_eq(jstr(j, "stop_reason"), "end_turn");
    json_decref(j);
    t_resp_free(&r);
    last = last_upstream();
    /* Model rewritten, the provider's key (never the client's), headers forwarded, other
       fields untouched. */
    ck_assert_str_eq(jstr(last, "body.model"), "claude-ok");
    ck_assert_int_eq(jint(last, "body.top_k"), 5);
    ck_assert_str_eq(jstr(last, "headers.x-api-key"), ANT_KEY);
    ck_assert_str_eq(jstr(last, "headers.anthropic-beta"), "b1,b2");
    ck_assert_str_eq(jstr(last, "headers.anthropic-version"), "2023-06-01");
    json_decref(last);

    post(MSGS, "x-api-key", key, NULL, MSG_BODY("anthropic:claude-tools", ",\"stream\":true"), &r);
    ck_assert_msg(r.status == 200, "%d %s", r.status, r.body);
    event_names(r.body, names, sizeof(names));
    ck_assert_str_eq(names, "message_start,content_block_start,content_block_delta,"
                            "content_block_stop,content_block_start,content_block_delta,"
                            "content_block_delta,content_block_stop,message_delta,message_stop");
    ck_assert_ptr_nonnull(strstr(r.body, "input_json_delta"));
    t_resp_free(&r);
    t_wait_sql("2|130|45|/v1/messages",
               "SELECT count(*) || '|' || sum(prompt_tokens) || '|' || sum(completion_tokens) || "
               "'|' || max(endpoint) FROM usage_logs WHERE user_id = 'msg-native'");
    free(key);
}
END_TEST

START_TEST(messages_bridged)
{
    struct t_resp r;
    json_t *j, *last, *ev;
    char *key, names[512];

    t_llm_need();
    key = t_llm_user_key("msg-bridge");
    post(MSGS, "x-api-key", key, NULL, MSG_BODY("openai:fake-ok", ""), &r);
    ck_assert_msg(r.status == 200, "%d %s", r.status, r.body);
    j = t_json(&r);
    ck_assert_str_eq(jstr(j, "type"), "message");
    ck_assert_str_eq(jstr(j, "role"), "assistant");
    ck_assert_str_eq(jstr(j, "content.0.type"), "text");
    ck_assert_str_eq(jstr(j, "content.0.text"), "Hello from fake");
    ck_assert_str_eq(jstr(j, "stop_reason"), "end_turn");
    ck_assert_int_eq(jint(j, "usage.input_tokens"), 10);
    ck_assert_int_eq(jint(j, "usage.output_tokens"), 5);
    json_decref(j);
    t_resp_free(&r);
    last = last_upstream();
    ck_assert_str_eq(jstr(last, "path"), "/v1/chat/completions");
    ck_assert_str_eq(jstr(last, "body.model"), "fake-ok");
    ck_assert_str_eq(jstr(last, "body.messages.0.role"), "system");
    ck_assert_str_eq(jstr(last, "body.messages.0.content"), "Be brief");
    ck_assert_str_eq(jstr(last, "body.messages.1.content"), "hi");
    ck_assert_int_eq(jint(last, "body.max_tokens"), 100);
    ck_assert_str_eq(jstr(last, "headers.authorization"), "Bearer " T_PROVIDER_KEY);
    json_decref(last);

    post(MSGS, "Authorization", key, NULL, MSG_BODY("openai:fake-ok", ",\"stream\":true"), &r);
    ck_assert_msg(r.status == 200, "%d %s", r.status, r.body);
    event_names(r.body, names, sizeof(names));
    ck_assert_str_eq(names, "message_start,content_block_start,content_block_delta,"
                            "content_block_delta,content_block_delta,content_block_stop,"
                            "message_delta,message_stop");
    ev = sse_data(r.body);
    ck_assert_str_eq(jstr(ev, "2.delta.text"), "Hel");
    ck_assert_str_eq(jstr(ev, "6.delta.stop_reason"), "end_turn");
    /* The trailing usage chunk reaches message_delta (providers.md §14.4 step 7). */
    ck_assert_int_eq(jint(ev, "6.usage.output_tokens"), 5);
    ck_assert_int_eq(jint(ev, "6.usage.input_tokens"), 10);
    ck_assert_ptr_null(strstr(r.body, "[DONE]"));
    json_decref(ev);
    t_resp_free(&r);
    t_wait_sql("2|20|10|/v1/messages|2",
               "SELECT count(*) || '|' || sum(prompt_tokens) || '|' || sum(completion_tokens) || "
               "'|' || max(endpoint) || '|' || sum(CASE WHEN cost > 0 THEN 1 ELSE 0 END) FROM "
               "usage_logs WHERE user_id = "
               "'msg-bridge'");
    free(key);
}
END_TEST

/* providers.md §15's bridge fixture: reasoning, text, two parallel tools, trailing usage. */
START_TEST(messages_bridged_tools)
{
    struct t_resp r;
    json_t *j, *ev;
    char *key, names[1024];
    size_t i;
    int tool_starts = 0;

    t_llm_need();
    key = t_llm_user_key("msg-tools");
    post(MSGS, "x-api-key", key, NULL, MSG_BODY("openai:fake-tools", ""), &r);
    ck_assert_msg(r.status == 200, "%d %s", r.status, r.body);
    j = t_json(&r);
    ck_assert_str_eq(jstr(j, "content.0.type"), "thinking");
    ck_assert_str_eq(jstr(j, "content.0.thinking"), "Thinking");
    ck_assert_str_eq(jstr(j, "content.1.text"), "Checking.");
    ck_assert_str_eq(jstr(j, "content.2.type"), "tool_use");
    ck_assert_str_eq(jstr(j, "content.2.input.city"), "Paris");
    ck_assert_str_eq(jstr(j, "stop_reason"), "tool_use");
    ck_assert_int_eq(jint(j, "usage.input_tokens"), 20);
    ck_assert_int_eq(jint(j, "usage.cache_read_input_tokens"), 10);
    ck_assert_int_eq(jint(j, "usage.output_tokens"), 25);
    json_decref(j);
    t_resp_free(&r);

    post(MSGS, "x-api-key", key, NULL, MSG_BODY("openai:fake-tools", ",\"stream\":true"), &r);
    ck_assert_msg(r.status == 200, "%d %s", r.status, r.body);
    event_names(r.body, names, sizeof(names));
    ck_assert_str_eq(names, "message_start,content_block_start,content_block_delta,"
                            "content_block_stop,content_block_start,content_block_delta,"
                            "content_block_stop,content_block_start,content_block_start,"
                            "content_block_delta,content_block_delta,content_block_delta,"
                            "content_block_delta,content_block_stop,content_block_stop,"
                            "message_delta,message_stop");
    ev = sse_data(r.body);
    for (i = 0; i < json_array_size(ev); i++) {
        json_t *e = json_array_get(ev, i);
        if (strcmp(jstr(e, "type"), "content_block_start") == 0 &&
            strcmp(jstr(e, "content_block.type"), "tool_use") == 0) {
            ck_assert_int_eq(jint(e, "index"), 2 + tool_starts);
            tool_starts++;
        }
    }
    ck_assert_int_eq(tool_starts, 2);
    ck_assert_str_eq(jstr(ev, "9.delta.partial_json"), "{\"city\":");
    ck_assert_int_eq(jint(ev, "9.index"), 2);
    ck_assert_int_eq(jint(ev, "10.index"), 3);
    ck_assert_str_eq(jstr(ev, "15.delta.stop_reason"), "tool_use");
    ck_assert_int_eq(jint(ev, "15.usage.input_tokens"), 20);
    ck_assert_int_eq(jint(ev, "15.usage.cache_read_input_tokens"), 10);
    ck_assert_int_eq(jint(ev, "15.usage.output_tokens"), 25);
    json_decref(ev);
    t_resp_free(&r);
    t_wait_sql("2|60|50", "SELECT count(*) || '|' || sum(prompt_tokens) || '|' || "
                          "sum(completion_tokens) FROM usage_logs WHERE user_id = 'msg-tools'");
    free(key);
}
END_TEST

/* An error on /v1/messages in Anthropic's shape. */
static void expect_ant_error(const struct t_resp *r, int status, const char *type,
                             const char *needle)
{
    json_t *j = t_json(r);

    ck_assert_msg(r->status == status, "want %d: %d %s", status, r->status, r->body);
    ck_assert_str_eq(jstr(j, "type"), "error");
    ck_assert_str_eq(jstr(j, "error.type"), type);
    ck_assert_msg(strstr(jstr(j, "error.message"), needle) != NULL, "%s", r->body);
    json_decref(j);
}

START_TEST(messages_errors)
{
    struct t_resp r;
    char *key, buf[32];

    t_llm_need();
    key = t_llm_user_key("msg-err");
    ck_assert_int_eq(t_http(t_api.port, "POST", MSGS, "Content-Type: application/json\r\n",
                            MSG_BODY("openai:fake-ok", ""), &r),
                     0);
    expect_ant_error(&r, 401, "authentication_error", "");
    t_resp_free(&r);
    post(MSGS, "Authorization", T_MASTER_KEY, NULL, MSG_BODY("openai:fake-ok", ""), &r);
    expect_ant_error(&r, 400, "invalid_request_error", "'metadata.user_id'");
    t_resp_free(&r);
    post(MSGS, "x-api-key", key, NULL,
         "{\"model\":\"openai:fake-ok\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", &r);
    ck_assert_msg(r.status == 422 && strstr(r.body, "max_tokens") != NULL, "%d %s", r.status,
                  r.body);
    t_resp_free(&r);
    post(MSGS, "x-api-key", key, NULL, MSG_BODY("nosuch:model", ""), &r);
    expect_ant_error(&r, 400, "invalid_request_error", "nosuch");
    t_resp_free(&r);
    post(MSGS, "x-api-key", key, NULL, MSG_BODY("openai:fake-status-429", ""), &r);
    expect_ant_error(&r, 429, "rate_limit_error", "fake error 429");
    ck_assert_str_eq(t_header(&r, "Retry-After", buf, sizeof(buf)), "7");
    t_resp_free(&r);
    post(MSGS, "x-api-key", key, NULL, MSG_BODY("anthropic:claude-status-529", ""), &r);
    expect_ant_error(&r, 429, "rate_limit_error", "fake anthropic error 529");
    t_resp_free(&r);
    post(MSGS, "x-api-key", key, NULL, MSG_BODY("openai:fake-status-500", ""), &r);
    expect_ant_error(&r, 502, "api_error", "HTTP 500");
    ck_assert_ptr_null(strstr(r.body, T_PROVIDER_KEY));
    t_resp_free(&r);
    /* The master key with metadata.user_id bills that user. */
    post(MSGS, "Authorization", T_MASTER_KEY, NULL,
         MSG_BODY("openai:fake-ok", ",\"metadata\":{\"user_id\":\"msg-err\"}"), &r);
    ck_assert_msg(r.status == 200, "%d %s", r.status, r.body);
    t_resp_free(&r);
    t_wait_sql("1|1|3", "SELECT sum(CASE WHEN status = 'success' THEN 1 ELSE 0 END) || '|' || "
                        "sum(CASE WHEN api_key_id IS NULL THEN 1 ELSE 0 END) || '|' "
                        "|| sum(CASE WHEN status = 'error' THEN 1 ELSE 0 END) FROM usage_logs "
                        "WHERE user_id = 'msg-err'");
    /* A bridged stream that fails mid-way: message_delta without a stop reason, then error. */
    post(MSGS, "x-api-key", key, NULL, MSG_BODY("openai:fake-miderror", ",\"stream\":true"), &r);
    ck_assert_int_eq(r.status, 200);
    {
        char names[512];
        event_names(r.body, names, sizeof(names));
        ck_assert_msg(t_ends_with(names, "message_delta,error"), "%s", names);
    }
    t_resp_free(&r);
    free(key);
}
END_TEST

/* A client that leaves mid-stream is billed as cancelled, on both paths. */
START_TEST(messages_disconnect_cancelled)
{
    const char *models[] = {"anthropic:claude-slow-40-50", "openai:fake-slow-40-50"};
    char *key;

    t_llm_need();
    key = t_llm_user_key("msg-gone");
    for (size_t i = 0; i < 2; i++) {
        char req[1024], buf[4096];
        int body_len, fd = t_connect(t_api.port);
        ssize_t n;
        char body[512];

        ck_assert_int_ge(fd, 0);
        body_len = snprintf(body, sizeof(body),
                            "{\"model\":\"%s\",\"max_tokens\":50,\"stream\":true,\"messages\":[{"
                            "\"role\":\"user\",\"content\":\"x\"}]}",
                            models[i]);
        snprintf(req, sizeof(req),
                 "POST " MSGS " HTTP/1.1\r\nHost: x\r\nx-api-key: %s\r\nContent-Type: "
                 "application/json\r\nContent-Length: %d\r\n\r\n%s",
                 key, body_len, body);
        ck_assert(write(fd, req, strlen(req)) == (ssize_t)strlen(req));
        n = read(fd, buf, sizeof(buf) - 1); /* the head and the first events */
        ck_assert_int_gt(n, 0);
        usleep(200000);
        close(fd);
    }
    t_wait_sql(
        "2|/v1/messages",
        "SELECT sum(CASE WHEN status = 'cancelled' THEN 1 ELSE 0 END) || '|' || max(endpoint) FROM "
        "usage_logs WHERE user_id = 'msg-gone'");
    free(key);
}
END_TEST

Suite *e2e_anthropic_suite(void)
{
    Suite *s = suite_create("e2e_anthropic");
    TCase *tc = tcase_create("anthropic");

    tcase_add_unchecked_fixture(tc, ant_up, t_llm_down);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, chat_json_translated);
    tcase_add_test(tc, chat_stream_translated);
    tcase_add_test(tc, chat_cache_tokens_billed);
    tcase_add_test(tc, chat_errors_mapped);
    tcase_add_test(tc, messages_native);
    tcase_add_test(tc, messages_bridged);
    tcase_add_test(tc, messages_bridged_tools);
    tcase_add_test(tc, messages_errors);
    tcase_add_test(tc, messages_disconnect_cancelled);
    t_api_add_shutdown_test(tc);
    suite_add_tcase(s, tc);
    return s;
}
