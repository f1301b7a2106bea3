/*
 * Unit tests of the client shapes (prov_shape.h): the bridged Anthropic Messages shape
 * (providers.md §14.2 request rows, §14.3 reply rows, §14.4 stream events including the §15
 * "/v1/messages bridge" fixture, failures before and after message_start, bad chunks, writer
 * failures), the pass-through OpenAI and native Anthropic shapes, and the Anthropic error types.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "providers/prov_shape.h"

/* check.h defines a function-like macro fail(): the ops member is called as (ops.fail)(...). */

static json_t *load(const char *text)
{
    json_error_t e;
    json_t *v = json_loads(text, 0, &e);

    ck_assert_msg(v != NULL, "bad JSON (%s): %s", e.text, text);
    return v;
}

/* got must equal the JSON text want (got is borrowed). */
static void expect_json(const json_t *got, const char *want)
{
    json_t *w = load(want);
    char *g = json_dumps(got, JSON_COMPACT | JSON_ENCODE_ANY);

    ck_assert_msg(json_equal(got, w), "got  %s\nwant %s", g != NULL ? g : "(null)", want);
    free(g);
    json_decref(w);
}

/* ---- Request: Anthropic -> pivot (§14.2) ---- */

/* The pivot of an Anthropic request that must convert (owned). */
static json_t *conv(const char *req)
{
    json_t *r = load(req), *p;
    char err[256] = "";

    p = prov_shape_anthropic_request(r, err, sizeof(err));
    ck_assert_msg(p != NULL, "refused (%s): %s", err, req);
    json_decref(r);
    return p;
}

/* The pivot's messages must equal want. */
static void conv_messages(const char *req, const char *want)
{
    json_t *p = conv(req);

    expect_json(json_object_get(p, "messages"), want);
    json_decref(p);
}

#define REQ(extra) "{\"model\":\"m\",\"max_tokens\":16," extra "}"

START_TEST(req_system_and_user)
{
    /* System string, user string. */
    conv_messages(REQ("\"system\":\"Be brief.\",\"messages\":[{\"role\":\"user\","
                      "\"content\":\"Hi\"}]"),
                  "[{\"role\":\"system\",\"content\":\"Be brief.\"},"
                  "{\"role\":\"user\",\"content\":\"Hi\"}]");
    /* System text blocks are concatenated; cache_control on them is dropped. */
    conv_messages(REQ("\"system\":[{\"type\":\"text\",\"text\":\"A.\"},{\"type\":\"text\","
                      "\"text\":\" B.\",\"cache_control\":{\"type\":\"ephemeral\"}}],"
                      "\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]"),
                  "[{\"role\":\"system\",\"content\":\"A. B.\"},"
                  "{\"role\":\"user\",\"content\":\"Hi\"}]");
    /* No system: no system message. User blocks: text, base64 image, url image. */
    conv_messages(
        REQ("\"messages\":[{\"role\":\"user\",\"content\":["
            "{\"type\":\"text\",\"text\":\"What is this?\",\"cache_control\":{\"type\":\"e\"}},"
            "{\"type\":\"image\",\"source\":{\"type\":\"base64\",\"media_type\":\"image/png\","
            "\"data\":\"iVBORw0K\"}},"
            "{\"type\":\"image\",\"source\":{\"type\":\"url\",\"url\":\"https://x.test/a.jpg\"}}"
            "]}]"),
        "[{\"role\":\"user\",\"content\":["
        "{\"type\":\"text\",\"text\":\"What is this?\"},"
        "{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/png;base64,iVBORw0K\"}},"
        "{\"type\":\"image_url\",\"image_url\":{\"url\":\"https://x.test/a.jpg\"}}]}]");
}
END_TEST

START_TEST(req_tool_results)
{
    /* Results become tool messages in block order; pending user parts are flushed first; a
     * string or text blocks (other blocks skipped) are the content; is_error is ignored. */
    conv_messages(
        REQ("\"messages\":[{\"role\":\"user\",\"content\":["
            "{\"type\":\"text\",\"text\":\"before\"},"
            "{\"type\":\"tool_result\",\"tool_use_id\":\"call_a\",\"content\":\"18C\"},"
            "{\"type\":\"tool_result\",\"tool_use_id\":\"call_b\",\"is_error\":true,"
            "\"content\":[{\"type\":\"text\",\"text\":\"time\"},{\"type\":\"image\","
            "\"source\":{\"type\":\"url\",\"url\":\"u\"}},{\"type\":\"text\",\"text\":\"out\"}]},"
            "{\"type\":\"tool_result\",\"tool_use_id\":\"call_c\"},"
            "{\"type\":\"text\",\"text\":\"after\"}]}]"),
        "[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"before\"}]},"
        "{\"role\":\"tool\",\"tool_call_id\":\"call_a\",\"content\":\"18C\"},"
        "{\"role\":\"tool\",\"tool_call_id\":\"call_b\",\"content\":\"timeout\"},"
        "{\"role\":\"tool\",\"tool_call_id\":\"call_c\",\"content\":\"\"},"
        "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"after\"}]}]");
    /* Only results: no empty user message around them. */
    conv_messages(REQ("\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\","
                      "\"tool_use_id\":\"t1\",\"content\":\"ok\"}]}]"),
                  "[{\"role\":\"tool\",\"tool_call_id\":\"t1\",\"content\":\"ok\"}]");
}
END_TEST

START_TEST(req_assistant)
{
    /* Texts concatenated, tool_use -> tool_calls with the input as JSON text, thinking dropped. */
    conv_messages(
        REQ("\"messages\":[{\"role\":\"user\",\"content\":\"Weather?\"},"
            "{\"role\":\"assistant\",\"content\":["
            "{\"type\":\"thinking\",\"thinking\":\"hmm\",\"signature\":\"sig\"},"
            "{\"type\":\"redacted_thinking\",\"data\":\"xx\"},"
            "{\"type\":\"text\",\"text\":\"Let me \"},{\"type\":\"text\",\"text\":\"check.\"},"
            "{\"type\":\"tool_use\",\"id\":\"call_0\",\"name\":\"get_weather\","
            "\"input\":{\"city\":\"Paris\"}},"
            "{\"type\":\"tool_use\",\"id\":\"call_1\",\"name\":\"noargs\"}]}]"),
        "[{\"role\":\"user\",\"content\":\"Weather?\"},"
        "{\"role\":\"assistant\",\"content\":\"Let me check.\",\"tool_calls\":["
        "{\"id\":\"call_0\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
        "\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}},"
        "{\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"noargs\","
        "\"arguments\":\"{}\"}}]}]");
    /* Tool use only: content null. A string content stays a string; no tool_calls key. */
    conv_messages(REQ("\"messages\":[{\"role\":\"assistant\",\"content\":[{\"type\":\"tool_use\","
                      "\"id\":\"c\",\"name\":\"f\",\"input\":{}}]},"
                      "{\"role\":\"assistant\",\"content\":\"plain\"},"
                      "{\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":\"t\"}]}]"),
                  "[{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"c\","
                  "\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]},"
                  "{\"role\":\"assistant\",\"content\":\"plain\"},"
                  "{\"role\":\"assistant\",\"content\":\"t\"}]");
}
END_TEST

START_TEST(req_parameters)
{
    json_t *p;

    /* Every mapped field, and nothing else: metadata, top_k, cache_control, unknown keys drop. */
    p = conv("{\"model\":\"gemini:gemini-2.5-flash\",\"max_tokens\":512,\"temperature\":0.5,"
             "\"top_p\":0.9,\"top_k\":40,\"stop_sequences\":[\"END\",\"STOP\"],\"stream\":true,"
             "\"metadata\":{\"user_id\":\"alice\"},\"cache_control\":{\"type\":\"ephemeral\"},"
             "\"service_tier\":\"auto\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}");
    expect_json(p, "{\"model\":\"gemini:gemini-2.5-flash\",\"max_tokens\":512,"
                   "\"temperature\":0.5,\"top_p\":0.9,\"stop\":[\"END\",\"STOP\"],\"stream\":true,"
                   "\"stream_options\":{\"include_usage\":true},"
                   "\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}");
    json_decref(p);

    /* Not streaming: no stream keys; nulls are not copied. */
    p = conv(REQ("\"stream\":false,\"temperature\":null,\"messages\":[]"));
    expect_json(p, "{\"model\":\"m\",\"max_tokens\":16,\"messages\":[]}");
    json_decref(p);
}
END_TEST

START_TEST(req_tools_and_choice)
{
    static const struct {
        const char *in, *out;
    } choices[] = {
        {"{\"type\":\"auto\"}", "{\"tool_choice\":\"auto\"}"},
        {"{\"type\":\"any\"}", "{\"tool_choice\":\"required\"}"},
        {"{\"type\":\"none\"}", "{\"tool_choice\":\"none\"}"},
        {"{\"type\":\"tool\",\"name\":\"get_weather\"}",
         "{\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"get_weather\"}}}"},
        {"{\"type\":\"auto\",\"disable_parallel_tool_use\":true}",
         "{\"tool_choice\":\"auto\",\"parallel_tool_calls\":false}"},
        {"{\"type\":\"any\",\"disable_parallel_tool_use\":false}",
         "{\"tool_choice\":\"required\"}"},
    };
    char req[512];
    json_t *p, *want;

    p = conv(REQ("\"messages\":[],\"tools\":[{\"name\":\"get_weather\",\"description\":\"Wx\","
                 "\"input_schema\":{\"type\":\"object\",\"properties\":{\"city\":"
                 "{\"type\":\"string\"}}},\"cache_control\":{\"type\":\"ephemeral\"}},"
                 "{\"name\":\"ping\",\"type\":\"custom\"}]"));
    expect_json(json_object_get(p, "tools"),
                "[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
                "\"description\":\"Wx\",\"parameters\":{\"type\":\"object\",\"properties\":"
                "{\"city\":{\"type\":\"string\"}}}}},"
                "{\"type\":\"function\",\"function\":{\"name\":\"ping\"}}]");
    json_decref(p);

    for (size_t i = 0; i < sizeof(choices) / sizeof(choices[0]); i++) {
        snprintf(req, sizeof(req), REQ("\"messages\":[],\"tool_choice\":%s"), choices[i].in);
        p = conv(req);
        want = load("{\"model\":\"m\",\"max_tokens\":16,\"messages\":[]}");
        ck_assert_int_eq(json_object_update_new(want, load(choices[i].out)), 0);
        ck_assert_msg(json_equal(p, want), "tool_choice %s", choices[i].in);
        json_decref(want);
        json_decref(p);
    }
}
END_TEST

START_TEST(req_thinking_budget)
{
    static const struct {
        const char *thinking, *effort;
    } rows[] = {
        {"{\"type\":\"enabled\",\"budget_tokens\":1024}", "minimal"},
        {"{\"type\":\"enabled\",\"budget_tokens\":1025}", "low"},
        {"{\"type\":\"enabled\",\"budget_tokens\":2048}", "low"},
        {"{\"type\":\"enabled\",\"budget_tokens\":2049}", "medium"},
        {"{\"type\":\"enabled\",\"budget_tokens\":8192}", "medium"},
        {"{\"type\":\"enabled\",\"budget_tokens\":8193}", "high"},
        {"{\"type\":\"enabled\",\"budget_tokens\":24576}", "high"},
        {"{\"type\":\"enabled\",\"budget_tokens\":24577}", "xhigh"},
        {"{\"type\":\"enabled\",\"budget_tokens\":100000}", "xhigh"},
        {"{\"type\":\"enabled\"}", "medium"},
        {"{\"type\":\"disabled\"}", "none"},
    };
    char req[256];
    json_t *p;

    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        snprintf(req, sizeof(req), REQ("\"messages\":[],\"thinking\":%s"), rows[i].thinking);
        p = conv(req);
        ck_assert_msg(json_object_get(p, "thinking") == NULL, "thinking forwarded");
        ck_assert_str_eq(json_string_value(json_object_get(p, "reasoning_effort")), rows[i].effort);
        json_decref(p);
    }
}
END_TEST

/* Requests that cannot be expressed: NULL with a one-line reason naming the place. */
START_TEST(req_malformed)
{
    static const struct {
        const char *req, *hint;
    } bad[] = {
        {REQ("\"messages\":[1]"), "messages[0]"},
        {REQ("\"messages\":[{\"role\":\"system\",\"content\":\"x\"}]"), "messages[0].role"},
        {REQ("\"messages\":[{\"content\":\"x\"}]"), "messages[0].role"},
        {REQ("\"messages\":[{\"role\":\"user\"}]"), "messages[0].content"},
        {REQ("\"messages\":[{\"role\":\"user\",\"content\":7}]"), "messages[0].content"},
        {REQ("\"messages\":[{\"role\":\"user\",\"content\":[\"x\"]}]"), "content[0]"},
        {REQ("\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\"}]}]"), "text"},
        {REQ("\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"audio\"}]}]"), "audio"},
        {REQ("\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image\","
             "\"source\":{\"type\":\"base64\",\"data\":\"x\"}}]}]"),
         "image"},
        {REQ("\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\"}]}]"),
         "tool_use_id"},
        {REQ("\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\","
             "\"tool_use_id\":\"t\",\"content\":5}]}]"),
         "content[0]"},
        {REQ("\"messages\":[{\"role\":\"assistant\",\"content\":[{\"type\":\"tool_use\","
             "\"name\":\"f\",\"input\":{}}]}]"),
         "tool_use"},
        {REQ("\"messages\":[{\"role\":\"assistant\",\"content\":[{\"type\":\"tool_use\","
             "\"id\":\"c\",\"input\":{}}]}]"),
         "tool_use"},
        {REQ("\"messages\":[{\"role\":\"assistant\",\"content\":[{\"type\":\"image\"}]}]"),
         "image"},
        {REQ("\"messages\":[{\"role\":\"assistant\",\"content\":[null]}]"), "content[0]"},
        {REQ("\"messages\":{}"), "messages"},
        {REQ("\"messages\":[],\"system\":5"), "system"},
        {REQ("\"messages\":[],\"system\":[{\"type\":\"image\"}]"), "system[0]"},
        {REQ("\"messages\":[],\"tools\":{}"), "tools"},
        {REQ("\"messages\":[],\"tools\":[{\"description\":\"no name\"}]"), "tools[0]"},
        {REQ("\"messages\":[],\"tools\":[{\"type\":\"web_search_20250305\",\"name\":\"w\"}]"),
         "web_search"},
        {REQ("\"messages\":[],\"tool_choice\":{\"type\":\"tool\"}"), "tool_choice"},
        {REQ("\"messages\":[],\"tool_choice\":{\"type\":\"maybe\"}"), "tool_choice"},
        {REQ("\"messages\":[],\"tool_choice\":\"auto\""), "tool_choice"},
        {REQ("\"messages\":[],\"thinking\":{\"type\":\"sometimes\"}"), "thinking"},
        {REQ("\"messages\":[],\"thinking\":{\"type\":\"enabled\",\"budget_tokens\":\"x\"}"),
         "budget_tokens"},
    };
    char err[256];
    json_t *r, *p;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        r = load(bad[i].req);
        memset(err, 0, sizeof(err));
        p = prov_shape_anthropic_request(r, err, sizeof(err));
        ck_assert_msg(p == NULL, "accepted: %s", bad[i].req);
        ck_assert_msg(strstr(err, bad[i].hint) != NULL, "%s: err \"%s\" lacks \"%s\"", bad[i].req,
                      err, bad[i].hint);
        ck_assert_ptr_null(strchr(err, '\n'));
        json_decref(r);
    }
    /* Not an object at all. */
    r = json_array();
    ck_assert_ptr_null(prov_shape_anthropic_request(r, err, sizeof(err)));
    ck_assert(err[0] != '\0');
    json_decref(r);
}
END_TEST

/* ---- Reply: chat.completion -> Anthropic message (§14.3) ---- */

/* The Anthropic body of a chat.completion that must convert (owned). */
static json_t *reply_of(const char *body)
{
    char *out = NULL;
    size_t out_len = 0;
    json_t *j;

    ck_assert_msg(prov_shape_anthropic.reply(body, strlen(body), &out, &out_len) == 0,
                  "refused: %s", body);
    ck_assert_ptr_nonnull(out);
    ck_assert_uint_eq(out_len, strlen(out));
    j = load(out);
    free(out);
    return j;
}

#define COMPLETION(msg, finish, usage)                                                             \
    "{\"id\":\"chatcmpl-9x\",\"object\":\"chat.completion\",\"created\":1,"                        \
    "\"model\":\"gemini-2.5-flash\",\"choices\":[{\"index\":0,\"message\":" msg ","                \
    "\"finish_reason\":" finish ",\"logprobs\":null}]" usage "}"

START_TEST(reply_example)
{
    json_t *m = reply_of(COMPLETION(
        "{\"role\":\"assistant\",\"content\":\"It is sunny.\",\"reasoning\":{\"content\":\"…\"},"
        "\"tool_calls\":[{\"id\":\"call_0\",\"type\":\"function\",\"function\":{\"name\":"
        "\"get_weather\",\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}}]}",
        "\"tool_calls\"",
        ",\"usage\":{\"prompt_tokens\":30,\"completion_tokens\":9,\"total_tokens\":39,"
        "\"prompt_tokens_details\":{\"cached_tokens\":12}}"));

    expect_json(m, "{\"id\":\"chatcmpl-9x\",\"type\":\"message\",\"role\":\"assistant\","
                   "\"model\":\"gemini-2.5-flash\",\"content\":["
                   "{\"type\":\"thinking\",\"thinking\":\"…\",\"signature\":\"\"},"
                   "{\"type\":\"text\",\"text\":\"It is sunny.\"},"
                   "{\"type\":\"tool_use\",\"id\":\"call_0\",\"name\":\"get_weather\","
                   "\"input\":{\"city\":\"Paris\"}}],"
                   "\"stop_reason\":\"tool_use\",\"stop_sequence\":null,"
                   "\"usage\":{\"input_tokens\":18,\"cache_read_input_tokens\":12,"
                   "\"output_tokens\":9}}");
    json_decref(m);
}
END_TEST

START_TEST(reply_rows)
{
    static const struct {
        const char *finish, *stop;
    } stops[] = {
        {"\"stop\"", "end_turn"},           {"\"length\"", "max_tokens"},
        {"\"tool_calls\"", "tool_use"},     {"\"function_call\"", "tool_use"},
        {"\"content_filter\"", "end_turn"}, {"null", "end_turn"},
    };
    char body[1024];
    json_t *m;

    for (size_t i = 0; i < sizeof(stops) / sizeof(stops[0]); i++) {
        snprintf(body, sizeof(body),
                 COMPLETION("{\"role\":\"assistant\",\"content\":\"x\"}", "%s", ""),
                 stops[i].finish);
        m = reply_of(body);
        ck_assert_str_eq(json_string_value(json_object_get(m, "stop_reason")), stops[i].stop);
        json_decref(m);
    }

    /* No blocks: one empty text block; no usage: zeros, no cache field. */
    m = reply_of(COMPLETION("{\"role\":\"assistant\",\"content\":null}", "\"stop\"", ""));
    expect_json(json_object_get(m, "content"), "[{\"type\":\"text\",\"text\":\"\"}]");
    expect_json(json_object_get(m, "usage"), "{\"input_tokens\":0,\"output_tokens\":0}");
    json_decref(m);

    /* Empty text is no block; unparsable, empty or non-object arguments -> {}; the signature
     * rides back from extra_content; reasoning_content as a string. */
    m = reply_of(
        COMPLETION("{\"role\":\"assistant\",\"content\":\"\",\"reasoning_content\":\"r\","
                   "\"extra_content\":{\"anthropic\":{\"signature\":\"sig1\"}},\"tool_calls\":["
                   "{\"id\":\"a\",\"function\":{\"name\":\"f\",\"arguments\":\"{bad\"}},"
                   "{\"id\":\"b\",\"function\":{\"name\":\"g\",\"arguments\":\"\"}},"
                   "{\"id\":\"c\",\"function\":{\"name\":\"h\",\"arguments\":\"[1]\"}}]}",
                   "\"tool_calls\"", ""));
    expect_json(json_object_get(m, "content"),
                "[{\"type\":\"thinking\",\"thinking\":\"r\",\"signature\":\"sig1\"},"
                "{\"type\":\"tool_use\",\"id\":\"a\",\"name\":\"f\",\"input\":{}},"
                "{\"type\":\"tool_use\",\"id\":\"b\",\"name\":\"g\",\"input\":{}},"
                "{\"type\":\"tool_use\",\"id\":\"c\",\"name\":\"h\",\"input\":{}}]");
    json_decref(m);

    /* Content as parts: one text block per non-empty text part. */
    m = reply_of(COMPLETION("{\"role\":\"assistant\",\"content\":[{\"type\":\"text\","
                            "\"text\":\"a\"},{\"type\":\"text\",\"text\":\"\"},"
                            "{\"type\":\"refusal\",\"refusal\":\"no\"},"
                            "{\"type\":\"text\",\"text\":\"b\"}]}",
                            "\"stop\"", ""));
    expect_json(json_object_get(m, "content"), "[{\"type\":\"text\",\"text\":\"a\"},"
                                               "{\"type\":\"text\",\"text\":\"b\"}]");
    json_decref(m);

    /* Cached is clamped to [0, prompt_tokens]. */
    m = reply_of(COMPLETION("{\"content\":\"x\"}", "\"stop\"",
                            ",\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2,"
                            "\"prompt_tokens_details\":{\"cached_tokens\":9}}"));
    expect_json(json_object_get(m, "usage"),
                "{\"input_tokens\":0,\"cache_read_input_tokens\":5,\"output_tokens\":2}");
    json_decref(m);
    m = reply_of(COMPLETION("{\"content\":\"x\"}", "\"stop\"",
                            ",\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2,"
                            "\"prompt_tokens_details\":{\"cached_tokens\":-3}}"));
    expect_json(json_object_get(m, "usage"), "{\"input_tokens\":5,\"output_tokens\":2}");
    json_decref(m);
}
END_TEST

START_TEST(reply_not_a_completion)
{
    static const char *const bad[] = {
        "",
        "not json",
        "[]",
        "{}",
        "{\"choices\":[]}",
        "{\"choices\":[{\"message\":\"x\"}]}",
        "{\"error\":{\"message\":\"boom\"}}",
    };
    char *out;
    size_t out_len;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        out = (char *)"sentinel";
        out_len = 9;
        ck_assert_msg(prov_shape_anthropic.reply(bad[i], strlen(bad[i]), &out, &out_len) == -1,
                      "accepted: %s", bad[i]);
        ck_assert_ptr_null(out);
        ck_assert_uint_eq(out_len, 0);
    }
}
END_TEST

/* ---- Streams: pivot chunks -> Anthropic events (§14.4) ---- */

/* What a shape wrote; fail_after > 0: the write after that many fails. */
struct out {
    char *p;
    size_t len, cap;
    int writes, fail_after;
};

static int out_write(const char *p, size_t n, void *arg)
{
    struct out *o = arg;

    if (o->fail_after > 0 && ++o->writes > o->fail_after)
        return -1;
    if (o->len + n + 1 > o->cap) {
        o->cap = (o->len + n + 1) * 2;
        o->p = realloc(o->p, o->cap);
        ck_assert_ptr_nonnull(o->p);
    }
    memcpy(o->p + o->len, p, n);
    o->len += n;
    o->p[o->len] = '\0';
    return 0;
}

static int feed(struct prov_shape_stream *st, struct out *o, const char *chunk)
{
    return prov_shape_anthropic.chunk(st, NULL, chunk, strlen(chunk), out_write, o);
}

/*
 * Splits the written events (each "event: T\ndata: J\n\n", J having "type" T), appends their
 * data objects to *events (owned) and returns a summary: "start", "open<i>:<type>",
 * "d<i>:<text>", "stop<i>", "delta:<stop_reason>", "end", "error", joined by '|'.
 */
static char *summarize(const struct out *o, json_t **events)
{
    static char sum[4096];
    const char *p = o->p != NULL ? o->p : "", *nl, *end;
    char type[64], item[512];
    json_t *d;

    *events = json_array();
    sum[0] = '\0';
    while (*p != '\0') {
        ck_assert_msg(strncmp(p, "event: ", 7) == 0, "not an event at: %s", p);
        nl = strchr(p, '\n');
        ck_assert_ptr_nonnull(nl);
        snprintf(type, sizeof(type), "%.*s", (int)(nl - p - 7), p + 7);
        ck_assert_msg(strncmp(nl + 1, "data: ", 6) == 0, "no data line at: %s", nl + 1);
        end = strstr(nl + 1, "\n\n");
        ck_assert_ptr_nonnull(end);
        {
            char *text = strndup(nl + 7, (size_t)(end - nl - 7));
            ck_assert_ptr_null(strchr(text, '\n'));
            d = load(text);
            free(text);
        }
        ck_assert_str_eq(json_string_value(json_object_get(d, "type")), type);
        json_array_append(*events, d);
        if (strcmp(type, "message_start") == 0) {
            snprintf(item, sizeof(item), "start");
        } else if (strcmp(type, "content_block_start") == 0) {
            snprintf(
                item, sizeof(item), "open%d:%s",
                (int)json_integer_value(json_object_get(d, "index")),
                json_string_value(json_object_get(json_object_get(d, "content_block"), "type")));
        } else if (strcmp(type, "content_block_delta") == 0) {
            json_t *dd = json_object_get(d, "delta");
            const char *t = json_string_value(json_object_get(dd, "text"));
            if (t == NULL)
                t = json_string_value(json_object_get(dd, "thinking"));
            if (t == NULL)
                t = json_string_value(json_object_get(dd, "partial_json"));
            snprintf(item, sizeof(item), "d%d:%s",
                     (int)json_integer_value(json_object_get(d, "index")), t);
        } else if (strcmp(type, "content_block_stop") == 0) {
            snprintf(item, sizeof(item), "stop%d",
                     (int)json_integer_value(json_object_get(d, "index")));
        } else if (strcmp(type, "message_delta") == 0) {
            json_t *r = json_object_get(json_object_get(d, "delta"), "stop_reason");
            snprintf(item, sizeof(item), "delta:%s",
                     json_is_null(r) ? "null" : json_string_value(r));
        } else if (strcmp(type, "message_stop") == 0) {
            snprintf(item, sizeof(item), "end");
        } else {
            snprintf(item, sizeof(item), "%s", type);
        }
        if (sum[0] != '\0')
            strncat(sum, "|", sizeof(sum) - strlen(sum) - 1);
        strncat(sum, item, sizeof(sum) - strlen(sum) - 1);
        json_decref(d);
        p = end + 2;
    }
    return sum;
}

/* The first event data of the given type (borrowed from events). */
static json_t *event_of(json_t *events, const char *type)
{
    size_t i;
    json_t *e;

    json_array_foreach(events, i, e)
    {
        if (strcmp(json_string_value(json_object_get(e, "type")), type) == 0)
            return e;
    }
    ck_abort_msg("no %s event", type);
    return NULL;
}

#define CHUNK(delta, finish)                                                                       \
    "{\"id\":\"chatcmpl-br\",\"object\":\"chat.completion.chunk\",\"created\":1,"                  \
    "\"model\":\"gpt-x\",\"choices\":[{\"index\":0,\"delta\":" delta ","                           \
    "\"finish_reason\":" finish "}]}"
#define TOOL(body) CHUNK("{\"tool_calls\":[" body "]}", "null")

/* The §15 "/v1/messages bridge" fixture. */
START_TEST(stream_bridge_fixture)
{
    static const char *const chunks[] = {
        CHUNK("{\"role\":\"assistant\",\"content\":\"\"}", "null"),
        CHUNK("{\"reasoning\":{\"content\":\"Let me \"}}", "null"),
        CHUNK("{\"reasoning\":{\"content\":\"think.\"}}", "null"),
        CHUNK("{\"content\":\"Checking \"}", "null"),
        CHUNK("{\"content\":\"both.\"}", "null"),
        TOOL("{\"index\":0,\"id\":\"call_a\",\"type\":\"function\",\"function\":{\"name\":"
             "\"get_weather\",\"arguments\":\"\"}}"),
        TOOL("{\"index\":1,\"id\":\"call_b\",\"type\":\"function\",\"function\":{\"name\":"
             "\"get_time\",\"arguments\":\"\"}}"),
        TOOL("{\"index\":0,\"function\":{\"arguments\":\"{\\\"city\\\":\"}}"),
        TOOL("{\"index\":1,\"function\":{\"arguments\":\"{\\\"tz\\\":\"}}"),
        TOOL("{\"index\":0,\"function\":{\"arguments\":\"\\\"Paris\\\"}\"}}"),
        TOOL("{\"index\":1,\"function\":{\"arguments\":\"\\\"CET\\\"}\"}}"),
        CHUNK("{}", "\"tool_calls\""),
        "{\"id\":\"chatcmpl-br\",\"object\":\"chat.completion.chunk\",\"created\":1,"
        "\"model\":\"gpt-x\",\"choices\":[],\"usage\":{\"prompt_tokens\":40,"
        "\"completion_tokens\":25,\"total_tokens\":65,"
        "\"prompt_tokens_details\":{\"cached_tokens\":10}}}",
    };
    struct prov_shape_stream st = {0};
    struct out o = {0};
    json_t *ev, *e;

    for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++)
        ck_assert_msg(feed(&st, &o, chunks[i]) == 0, "chunk %zu", i);
    ck_assert_int_eq(prov_shape_anthropic.finish(&st, out_write, &o), 0);
    ck_assert_str_eq(summarize(&o, &ev), "start|open0:thinking|d0:Let me |d0:think.|stop0|"
                                         "open1:text|d1:Checking |d1:both.|stop1|"
                                         "open2:tool_use|open3:tool_use|"
                                         "d2:{\"city\":|d3:{\"tz\":|d2:\"Paris\"}|d3:\"CET\"}|"
                                         "stop2|stop3|delta:tool_use|end");
    expect_json(event_of(ev, "message_start"),
                "{\"type\":\"message_start\",\"message\":{\"id\":\"chatcmpl-br\","
                "\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":\"gpt-x\","
                "\"stop_reason\":null,\"stop_sequence\":null,"
                "\"usage\":{\"input_tokens\":0,\"output_tokens\":0}}}");
    expect_json(json_array_get(ev, 1),
                "{\"type\":\"content_block_start\",\"index\":0,"
                "\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\"}}");
    expect_json(json_array_get(ev, 2),
                "{\"type\":\"content_block_delta\",\"index\":0,"
                "\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"Let me \"}}");
    expect_json(json_array_get(ev, 5), "{\"type\":\"content_block_start\",\"index\":1,"
                                       "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}");
    expect_json(json_array_get(ev, 6),
                "{\"type\":\"content_block_delta\",\"index\":1,"
                "\"delta\":{\"type\":\"text_delta\",\"text\":\"Checking \"}}");
    expect_json(json_array_get(ev, 9),
                "{\"type\":\"content_block_start\",\"index\":2,\"content_block\":"
                "{\"type\":\"tool_use\",\"id\":\"call_a\",\"name\":\"get_weather\","
                "\"input\":{}}}");
    expect_json(json_array_get(ev, 10),
                "{\"type\":\"content_block_start\",\"index\":3,\"content_block\":"
                "{\"type\":\"tool_use\",\"id\":\"call_b\",\"name\":\"get_time\","
                "\"input\":{}}}");
    expect_json(json_array_get(ev, 11),
                "{\"type\":\"content_block_delta\",\"index\":2,\"delta\":"
                "{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"city\\\":\"}}");
    expect_json(json_array_get(ev, 15), "{\"type\":\"content_block_stop\",\"index\":2}");
    /* The trailing usage-only chunk is in message_delta. */
    e = event_of(ev, "message_delta");
    expect_json(e, "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\","
                   "\"stop_sequence\":null},\"usage\":{\"input_tokens\":30,"
                   "\"cache_read_input_tokens\":10,\"output_tokens\":25}}");
    expect_json(event_of(ev, "message_stop"), "{\"type\":\"message_stop\"}");
    json_decref(ev);
    free(o.p);
}
END_TEST

START_TEST(stream_text_only)
{
    struct prov_shape_stream st = {0};
    struct out o = {0};
    json_t *ev;

    /* Usage on the first chunk shows in message_start; later zeros do not erase it. */
    ck_assert_int_eq(feed(&st, &o,
                          "{\"id\":\"c1\",\"model\":\"llama\",\"choices\":[{\"index\":0,"
                          "\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}],"
                          "\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":0}}"),
                     0);
    ck_assert_int_eq(feed(&st, &o, CHUNK("{\"content\":\"Hel\"}", "null")), 0);
    ck_assert_int_eq(feed(&st, &o, CHUNK("{\"content\":\"lo\"}", "null")), 0);
    ck_assert_int_eq(feed(&st, &o, CHUNK("{\"content\":\"\"}", "\"length\"")), 0);
    ck_assert_int_eq(feed(&st, &o,
                          "{\"choices\":[],\"usage\":{\"prompt_tokens\":0,"
                          "\"completion_tokens\":3}}"),
                     0);
    ck_assert_int_eq(prov_shape_anthropic.finish(&st, out_write, &o), 0);
    ck_assert_str_eq(summarize(&o, &ev),
                     "start|open0:text|d0:Hel|d0:lo|stop0|delta:max_tokens|end");
    expect_json(json_object_get(json_object_get(event_of(ev, "message_start"), "message"), "usage"),
                "{\"input_tokens\":7,\"output_tokens\":0}");
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_object_get(event_of(ev, "message_start"), "message"), "id")),
                     "c1");
    expect_json(json_object_get(event_of(ev, "message_delta"), "usage"),
                "{\"input_tokens\":7,\"output_tokens\":3}");
    json_decref(ev);
    free(o.p);
}
END_TEST

/* Edge cases: empty content only, no chunks, tool calls in one chunk, text after tools. */
START_TEST(stream_edges)
{
    struct prov_shape_stream st = {0};
    struct out o = {0};
    json_t *ev;

    /* Only an empty content and a stop: one empty text block, end_turn. */
    ck_assert_int_eq(feed(&st, &o, CHUNK("{\"role\":\"assistant\",\"content\":\"\"}", "null")), 0);
    ck_assert_int_eq(feed(&st, &o, CHUNK("{}", "\"stop\"")), 0);
    ck_assert_int_eq(prov_shape_anthropic.finish(&st, out_write, &o), 0);
    ck_assert_str_eq(summarize(&o, &ev), "start|open0:text|stop0|delta:end_turn|end");
    json_decref(ev);

    /* No chunk ever: a well-formed empty message; no finish_reason: end_turn. */
    memset(&st, 0, sizeof(st));
    o.len = 0;
    ck_assert_int_eq(prov_shape_anthropic.finish(&st, out_write, &o), 0);
    ck_assert_str_eq(summarize(&o, &ev), "start|open0:text|stop0|delta:end_turn|end");
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_object_get(event_of(ev, "message_start"), "message"), "id")),
                     "msg_bridged");
    json_decref(ev);

    /* Two tool calls in one chunk (with arguments), then text: the text closes both; a late
     * fragment for a closed tool block is dropped; no id: one is made up. Stop reasons map. */
    memset(&st, 0, sizeof(st));
    o.len = 0;
    ck_assert_int_eq(feed(&st, &o, CHUNK("{\"content\":\"a\"}", "null")), 0);
    ck_assert_int_eq(feed(&st, &o,
                          TOOL("{\"index\":0,\"id\":\"x\",\"function\":{\"name\":\"f\","
                               "\"arguments\":\"{}\"}},{\"index\":1,\"function\":{\"name\":"
                               "\"g\",\"arguments\":\"{\\\"k\\\":1}\"}}")),
                     0);
    ck_assert_int_eq(feed(&st, &o, CHUNK("{\"content\":\"b\"}", "null")), 0);
    ck_assert_int_eq(feed(&st, &o, TOOL("{\"index\":0,\"function\":{\"arguments\":\"late\"}}")), 0);
    ck_assert_int_eq(feed(&st, &o, CHUNK("{}", "\"function_call\"")), 0);
    ck_assert_int_eq(prov_shape_anthropic.finish(&st, out_write, &o), 0);
    ck_assert_str_eq(summarize(&o, &ev), "start|open0:text|d0:a|stop0|open1:tool_use|d1:{}|"
                                         "open2:tool_use|d2:{\"k\":1}|stop1|stop2|open3:text|"
                                         "d3:b|stop3|delta:tool_use|end");
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_object_get(json_array_get(ev, 6), "content_block"), "id")),
                     "call_1");
    json_decref(ev);

    /* A tool index beyond what is tracked cannot be translated. */
    memset(&st, 0, sizeof(st));
    o.len = 0;
    ck_assert_int_eq(feed(&st, &o, TOOL("{\"index\":128,\"id\":\"z\",\"function\":{}}")), -1);
    ck_assert_int_eq(feed(&st, &o, TOOL("{\"index\":-1,\"id\":\"z\",\"function\":{}}")), -1);
    free(o.p);
}
END_TEST

START_TEST(stream_fail_before_start)
{
    struct prov_shape_stream st = {0};
    struct out o = {0};
    json_t *ev;

    ck_assert_int_eq((prov_shape_anthropic.fail)(&st, out_write, &o), 0);
    ck_assert_str_eq(summarize(&o, &ev), "start|delta:null|error");
    expect_json(event_of(ev, "message_delta"),
                "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":null,"
                "\"stop_sequence\":null},\"usage\":{\"input_tokens\":0,\"output_tokens\":0}}");
    expect_json(event_of(ev, "error"), "{\"type\":\"error\",\"error\":{\"type\":\"api_error\","
                                       "\"message\":\"An error occurred during streaming\"}}");
    json_decref(ev);
    free(o.p);
}
END_TEST

START_TEST(stream_fail_after_start)
{
    struct prov_shape_stream st = {0};
    struct out o = {0};
    json_t *ev;

    ck_assert_int_eq(feed(&st, &o,
                          "{\"id\":\"c2\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":"
                          "{\"content\":\"Hi\"}}],\"usage\":{\"prompt_tokens\":11,"
                          "\"completion_tokens\":1}}"),
                     0);
    ck_assert_int_eq((prov_shape_anthropic.fail)(&st, out_write, &o), 0);
    /* The open block is closed; the usage so far; no message_stop. */
    ck_assert_str_eq(summarize(&o, &ev), "start|open0:text|d0:Hi|stop0|delta:null|error");
    expect_json(json_object_get(event_of(ev, "message_delta"), "usage"),
                "{\"input_tokens\":11,\"output_tokens\":1}");
    ck_assert_ptr_null(strstr(o.p, "message_stop"));
    json_decref(ev);
    free(o.p);
}
END_TEST

START_TEST(stream_bad_chunks_and_writer)
{
    static const char *const bad[] = {"not json", "", "[1]", "\"x\"", "{\"choices\":"};
    struct prov_shape_stream st = {0};
    struct out o = {0};

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(feed(&st, &o, bad[i]) == -1, "accepted: %s", bad[i]);
    ck_assert_uint_eq(o.len, 0);
    /* A native event is not a pivot chunk. */
    ck_assert_int_eq(prov_shape_anthropic.chunk(&st, "message_start", "{}", 2, out_write, &o), -1);

    /* A failing writer fails the call at every step. */
    for (int n = 1; n <= 15; n++) {
        memset(&st, 0, sizeof(st));
        o = (struct out){.fail_after = n};
        ck_assert_int_eq(feed(&st, &o, CHUNK("{\"content\":\"x\"}", "null")), n < 15 ? -1 : 0);
        free(o.p);
    }
    memset(&st, 0, sizeof(st));
    o = (struct out){.fail_after = 1};
    ck_assert_int_eq(prov_shape_anthropic.finish(&st, out_write, &o), -1);
    free(o.p);
    memset(&st, 0, sizeof(st));
    o = (struct out){.fail_after = 6};
    ck_assert_int_eq((prov_shape_anthropic.fail)(&st, out_write, &o), -1);
    free(o.p);
}
END_TEST

/* ---- Pass-through shapes and error types ---- */

START_TEST(passthrough_openai)
{
    struct prov_shape_stream st = {0};
    struct out o = {0};
    char *out = (char *)"sentinel";
    size_t out_len = 5;

    ck_assert_str_eq(prov_shape_openai.name, "openai");
    ck_assert_int_eq(prov_shape_openai.chunk(&st, NULL, "{\"a\":1}", 7, out_write, &o), 0);
    ck_assert_int_eq(prov_shape_openai.finish(&st, out_write, &o), 0);
    ck_assert_str_eq(o.p, "data: {\"a\":1}\n\ndata: [DONE]\n\n");
    o.len = 0;
    ck_assert_int_eq((prov_shape_openai.fail)(&st, out_write, &o), 0);
    ck_assert_str_eq(o.p, "data: {\"error\":{\"message\":\"An error occurred during streaming\","
                          "\"type\":\"server_error\"}}\n\ndata: [DONE]\n\n");
    ck_assert_int_eq(prov_shape_openai.reply("{}", 2, &out, &out_len), 0);
    ck_assert_ptr_null(out);
    ck_assert_uint_eq(out_len, 0);
    free(o.p);
}
END_TEST

START_TEST(passthrough_native)
{
    const struct prov_shape_ops *n = &prov_shape_anthropic_native;
    struct prov_shape_stream st = {0};
    struct out o = {0};
    char *out = (char *)"sentinel";
    size_t out_len = 5;

    ck_assert_str_eq(n->name, "anthropic-native");
    ck_assert_int_eq(
        n->chunk(&st, "message_start", "{\"type\":\"message_start\"}", 24, out_write, &o), 0);
    ck_assert_str_eq(o.p, "event: message_start\ndata: {\"type\":\"message_start\"}\n\n");
    /* A pivot chunk is not a native event. */
    ck_assert_int_eq(n->chunk(&st, NULL, "{}", 2, out_write, &o), -1);
    o.len = 0;
    o.p[0] = '\0';
    ck_assert_int_eq(n->finish(&st, out_write, &o), 0);
    ck_assert_uint_eq(o.len, 0);
    ck_assert_int_eq((n->fail)(&st, out_write, &o), 0);
    ck_assert_str_eq(o.p, "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":"
                          "\"api_error\",\"message\":\"An error occurred during streaming\"}}\n\n");
    ck_assert_int_eq(n->reply("{}", 2, &out, &out_len), 0);
    ck_assert_ptr_null(out);
    ck_assert_uint_eq(out_len, 0);
    free(o.p);
}
END_TEST

START_TEST(error_types)
{
    static const struct {
        int status;
        const char *type;
    } rows[] = {
        {400, "invalid_request_error"},
        {401, "authentication_error"},
        {402, "billing_error"},
        {403, "permission_error"},
        {404, "not_found_error"},
        {413, "request_too_large"},
        {422, "invalid_request_error"},
        {429, "rate_limit_error"},
        {500, "api_error"},
        {502, "api_error"},
        {503, "overloaded_error"},
        {504, "timeout_error"},
        {529, "overloaded_error"},
        {200, "api_error"},
    };

    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        ck_assert_str_eq(prov_shape_anthropic_error_type(rows[i].status), rows[i].type);
}
END_TEST

Suite *shape_suite(void)
{
    Suite *s = suite_create("shape");
    TCase *tc;

    tc = tcase_create("request");
    tcase_add_test(tc, req_system_and_user);
    tcase_add_test(tc, req_tool_results);
    tcase_add_test(tc, req_assistant);
    tcase_add_test(tc, req_parameters);
    tcase_add_test(tc, req_tools_and_choice);
    tcase_add_test(tc, req_thinking_budget);
    tcase_add_test(tc, req_malformed);
    suite_add_tcase(s, tc);

    tc = tcase_create("reply");
    tcase_add_test(tc, reply_example);
    tcase_add_test(tc, reply_rows);
    tcase_add_test(tc, reply_not_a_completion);
    suite_add_tcase(s, tc);

    tc = tcase_create("stream");
    tcase_add_test(tc, stream_bridge_fixture);
    tcase_add_test(tc, stream_text_only);
    tcase_add_test(tc, stream_edges);
    tcase_add_test(tc, stream_fail_before_start);
    tcase_add_test(tc, stream_fail_after_start);
    tcase_add_test(tc, stream_bad_chunks_and_writer);
    suite_add_tcase(s, tc);

    tc = tcase_create("passthrough");
    tcase_add_test(tc, passthrough_openai);
    tcase_add_test(tc, passthrough_native);
    tcase_add_test(tc, error_types);
    suite_add_tcase(s, tc);
    return s;
}
