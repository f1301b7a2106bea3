/*
 * Unit tests of the Bedrock Converse translation (providers.md §7): every §7.2 row and its
 * refusals, the model path encoding, the §7.3 reply fixture, the §15 streams as decoded
 * event-stream messages (text, tool use with input in pieces, a throttlingException), error
 * bodies and their status, and Titan embeddings.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "providers/prov_aws.h"
#include "providers/prov_bedrock.h"
#include "t_xlate.h"

/* The functions as a dialect table, for the t_xlate.h helpers. */
static int bt_chat_build(const struct prov_conf *pc, const struct prov_chat_in *in,
                         bool *client_usage, struct prov_http *out, char *err, size_t errlen)
{
    *client_usage = false;
    return prov_bedrock_build_body(pc, in, &out->body, &out->body_len, err, errlen);
}

static int bt_embed_build(const struct prov_conf *pc, const struct prov_chat_in *in,
                          struct prov_http *out, char *err, size_t errlen)
{
    (void)pc;
    return prov_bedrock_embed_body(in, &out->body, &out->body_len, err, errlen);
}

static void bt_error(const char *body, size_t len, char *out, size_t outlen, char *code,
                     size_t codelen)
{
    prov_bedrock_error_message(body, len, NULL, out, outlen, code, codelen);
}

static const struct prov_dialect_ops bt = {
    .name = "bedrock",
    .chat_build = bt_chat_build,
    .chat_reply = prov_bedrock_reply,
    .error_message = bt_error,
    .embed_build = bt_embed_build,
    .embed_reply = prov_bedrock_embed_reply,
};

#define CLAUDE "us.anthropic.claude-3-5-haiku-20241022-v1:0"
#define USER_HI "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]"
#define HI_TURN "\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"hi\"}]}]"

static struct prov_confs *confs;

static const struct prov_conf *conf(void)
{
    if (confs == NULL)
        confs = tx_confs("{\"bedrock\":{\"api_key\":\"k\",\"region_name\":\"us-east-1\","
                         "\"aws_secret_access_key\":\"s\",\"top_p\":0.5}}");
    return tx_conf(confs, "bedrock");
}

static void body_for(const char *model, bool stream, const char *req, const char *expect)
{
    struct tx_built b;

    tx_build_in(&b, &bt, conf(), (struct prov_chat_in){.model = model, .stream = stream}, req,
                false);
    tx_body_is(&b, expect);
    tx_built_free(&b);
}

static void refused_for(const char *model, bool stream, const char *req, const char *needle)
{
    struct tx_built b;

    tx_build_in(&b, &bt, conf(), (struct prov_chat_in){.model = model, .stream = stream}, req,
                false);
    ck_assert_msg(b.rc == PROV_E_REQUEST, "accepted (%d): %s", b.rc, req);
    ck_assert_msg(strstr(b.err, needle) != NULL, "'%s' lacks '%s'", b.err, needle);
    ck_assert_ptr_null(b.h.body);
    tx_built_free(&b);
}

START_TEST(path_encoding)
{
    char p[256];

    ck_assert_int_eq(prov_bedrock_path(CLAUDE, false, p, sizeof(p)), 0);
    ck_assert_str_eq(p, "/model/us.anthropic.claude-3-5-haiku-20241022-v1%3A0/converse");
    ck_assert_int_eq(prov_bedrock_path(CLAUDE, true, p, sizeof(p)), 0);
    ck_assert_str_eq(p, "/model/us.anthropic.claude-3-5-haiku-20241022-v1%3A0/converse-stream");
    ck_assert_int_eq(prov_bedrock_path("arn:aws:bedrock:us-east-1:123456789012:"
                                       "inference-profile/us.meta.llama3 x~_",
                                       false, p, sizeof(p)),
                     0);
    ck_assert_str_eq(p, "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3A"
                        "inference-profile%2Fus.meta.llama3%20x~_/converse");
    ck_assert_int_eq(prov_bedrock_invoke_path("amazon.titan-embed-text-v2:0", p, sizeof(p)), 0);
    ck_assert_str_eq(p, "/model/amazon.titan-embed-text-v2%3A0/invoke");
    /* Does not fit: -1 at every size short of the whole path. */
    for (size_t n = 0; n <= strlen("/model/a%3Ab/converse"); n++)
        ck_assert_int_eq(prov_bedrock_path("a:b", false, p, n), -1);
    ck_assert_int_eq(prov_bedrock_path("a:b", false, p, strlen("/model/a%3Ab/converse") + 1), 0);
}
END_TEST

START_TEST(build_basic_and_params)
{
    /* Plain: system dropped when none; config defaults merged (top_p), AWS keys not. */
    body_for("m1", false, "{" USER_HI "}", "{" HI_TURN ",\"inferenceConfig\":{\"topP\":0.5}}");
    /* System and developer messages in order, max_completion_tokens wins, stop as array,
       dropped fields (seed, n 1, penalties, user, stream_options). */
    body_for("m1", true,
             "{\"messages\":[{\"role\":\"system\",\"content\":\"be brief\"},{\"role\":"
             "\"developer\",\"content\":[{\"type\":\"text\",\"text\":\"a\"},{\"type\":\"text\","
             "\"text\":\"b\"}]},{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":5,"
             "\"max_completion_tokens\":64,\"temperature\":0.2,\"top_p\":0.9,\"stop\":\"END\","
             "\"seed\":1,\"n\":1,\"presence_penalty\":1,\"frequency_penalty\":1,\"user\":\"u\","
             "\"stream_options\":{\"include_usage\":true},\"logit_bias\":{}}",
             "{\"system\":[{\"text\":\"be brief\"},{\"text\":\"a\\nb\"}]," HI_TURN
             ",\"inferenceConfig\":{\"maxTokens\":64,\"temperature\":0.2,\"topP\":0.9,"
             "\"stopSequences\":[\"END\"]}}");
    refused_for("m1", false, "{" USER_HI ",\"n\":2}", "n > 1");
    refused_for("m1", false, "{" USER_HI ",\"max_tokens\":0}", "max_tokens");
    refused_for("m1", false, "{" USER_HI ",\"temperature\":\"hot\"}", "temperature");
    refused_for("m1", false, "{" USER_HI ",\"stop\":[1]}", "stop[0]");
    refused_for("m1", false, "{\"messages\":{}}", "messages must be an array");
    refused_for("m1", false, "{\"messages\":[{\"content\":\"x\"}]}", "role is required");
    refused_for("m1", false, "{\"messages\":[{\"role\":\"function\",\"content\":\"x\"}]}",
                "role 'function'");
}
END_TEST

START_TEST(build_images)
{
    body_for("m1", false,
             "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":"
             "\"what\"},{\"type\":\"image_url\",\"image_url\":{\"url\":"
             "\"data:image/jpg;base64,QUJD\"}},{\"type\":\"image_url\",\"image_url\":"
             "\"data:image/webp;base64,REVG\"}]}]}",
             "{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"what\"},{\"image\":{"
             "\"format\":\"jpeg\",\"source\":{\"bytes\":\"QUJD\"}}},{\"image\":{\"format\":"
             "\"webp\",\"source\":{\"bytes\":\"REVG\"}}}]}],\"inferenceConfig\":{\"topP\":0.5}}");
    refused_for("m1", false,
                "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\","
                "\"image_url\":{\"url\":\"https://x/cat.png\"}}]}]}",
                "data URIs only, not URLs");
    refused_for("m1", false,
                "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\","
                "\"image_url\":{\"url\":\"data:image/bmp;base64,QQ==\"}}]}]}",
                "image type 'image/bmp'");
    refused_for("m1", false,
                "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\","
                "\"image_url\":{\"url\":\"data:image/png,QQ==\"}}]}]}",
                "a data URI must be");
    refused_for(
        "m1", false,
        "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"file\",\"file\":{}}]}]}",
        "content part type 'file'");
    refused_for("m1", false, "{\"messages\":[{\"role\":\"user\",\"content\":7}]}",
                "content must be a string");
}
END_TEST

START_TEST(build_tool_turns)
{
    /* toolUse with parsed input (empty arguments: {}), consecutive tool results in one user
       turn (json when an object, else text) merged with the user text that follows; two user
       messages in a row merged; empty assistant text dropped. */
    body_for(
        "m1", false,
        "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"},{\"role\":\"user\",\"content\":"
        "\"b\"},{\"role\":\"assistant\",\"content\":\"let me\",\"tool_calls\":[{\"id\":\"t1\","
        "\"type\":\"function\",\"function\":{\"name\":\"w\",\"arguments\":\"{\\\"city\\\":"
        "\\\"Paris\\\"}\"}},{\"id\":\"t2\",\"type\":\"function\",\"function\":{\"name\":\"now\","
        "\"arguments\":\"\"}}]},{\"role\":\"tool\",\"tool_call_id\":\"t1\",\"content\":"
        "\"{\\\"temp\\\":20}\"},{\"role\":\"tool\",\"tool_call_id\":\"t2\",\"content\":[{\"type\":"
        "\"text\",\"text\":\"noon\"}]},{\"role\":\"user\",\"content\":\"thanks\"},{\"role\":"
        "\"assistant\",\"content\":\"\"}]}",
        "{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"a\"},{\"text\":\"b\"}]},"
        "{\"role\":\"assistant\",\"content\":[{\"text\":\"let me\"},{\"toolUse\":{\"toolUseId\":"
        "\"t1\",\"name\":\"w\",\"input\":{\"city\":\"Paris\"}}},{\"toolUse\":{\"toolUseId\":"
        "\"t2\",\"name\":\"now\",\"input\":{}}}]},{\"role\":\"user\",\"content\":[{\"toolResult\":"
        "{\"toolUseId\":\"t1\",\"content\":[{\"json\":{\"temp\":20}}]}},{\"toolResult\":{"
        "\"toolUseId\":\"t2\",\"content\":[{\"text\":\"noon\"}]}},{\"text\":\"thanks\"}]}],"
        "\"inferenceConfig\":{\"topP\":0.5}}");
    refused_for("m1", false,
                "{\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"t\",\"function\":"
                "{\"name\":\"w\",\"arguments\":\"{nope\"}}]}]}",
                "must be a JSON object");
    refused_for("m1", false,
                "{\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"function\":"
                "{\"name\":\"w\"}}]}]}",
                "id and function.name are required");
    refused_for("m1", false, "{\"messages\":[{\"role\":\"tool\",\"content\":\"x\"}]}",
                "needs tool_call_id");
}
END_TEST

#define TOOLS                                                                                      \
    "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"w\",\"description\":\"weather\","  \
    "\"parameters\":{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}}}}},"      \
    "{\"type\":\"function\",\"function\":{\"name\":\"now\"}}]"
#define SPECS                                                                                      \
    "\"tools\":[{\"toolSpec\":{\"name\":\"w\",\"description\":\"weather\",\"inputSchema\":{"       \
    "\"json\":{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}}}}}},"           \
    "{\"toolSpec\":{\"name\":\"now\",\"description\":\" \",\"inputSchema\":{\"json\":{\"type\":"   \
    "\"object\",\"properties\":{}}}}}]"
#define IC ",\"inferenceConfig\":{\"topP\":0.5}"

START_TEST(build_tools_and_choice)
{
    body_for("m1", false, "{" USER_HI "," TOOLS "}", "{" HI_TURN IC ",\"toolConfig\":{" SPECS "}}");
    body_for("m1", false, "{" USER_HI "," TOOLS ",\"tool_choice\":\"auto\"}",
             "{" HI_TURN IC ",\"toolConfig\":{" SPECS ",\"toolChoice\":{\"auto\":{}}}}");
    body_for("m1", false, "{" USER_HI "," TOOLS ",\"tool_choice\":\"required\"}",
             "{" HI_TURN IC ",\"toolConfig\":{" SPECS ",\"toolChoice\":{\"any\":{}}}}");
    body_for("m1", false,
             "{" USER_HI "," TOOLS ",\"tool_choice\":{\"type\":\"function\",\"function\":{"
             "\"name\":\"now\"}}}",
             "{" HI_TURN IC ",\"toolConfig\":{" SPECS ",\"toolChoice\":{\"tool\":{\"name\":"
             "\"now\"}}}}");
    body_for("m1", false, "{" USER_HI "," TOOLS ",\"tool_choice\":\"none\"}", "{" HI_TURN IC "}");
    body_for("m1", false, "{" USER_HI ",\"tool_choice\":\"auto\"}", "{" HI_TURN IC "}");
    refused_for("m1", false, "{" USER_HI ",\"tool_choice\":\"required\"}", "needs tools");
    refused_for("m1", false, "{" USER_HI "," TOOLS ",\"tool_choice\":\"always\"}",
                "tool_choice must be");
    refused_for("m1", false, "{" USER_HI ",\"tools\":{}}", "tools must be an array");
    refused_for("m1", false, "{" USER_HI ",\"tools\":[{\"type\":\"web\"}]}",
                "expected a function tool");
}
END_TEST

START_TEST(build_reasoning_and_format)
{
    static const char *const efforts[][2] = {{"minimal", "1024"}, {"low", "2048"},
                                             {"medium", "8192"},  {"high", "24576"},
                                             {"xhigh", "32768"},  {"max", "32768"}};
    char req[256], expect[512];

    for (size_t i = 0; i < sizeof(efforts) / sizeof(efforts[0]); i++) {
        snprintf(req, sizeof(req), "{" USER_HI ",\"reasoning_effort\":\"%s\"}", efforts[i][0]);
        snprintf(expect, sizeof(expect),
                 "{" HI_TURN IC ",\"additionalModelRequestFields\":{\"reasoning_config\":{"
                 "\"type\":\"enabled\",\"budget_tokens\":%s}}}",
                 efforts[i][1]);
        body_for(CLAUDE, false, req, expect);
        /* Not a Claude model: dropped. */
        body_for("amazon.nova-pro-v1:0", false, req, "{" HI_TURN IC "}");
    }
    body_for(CLAUDE, false, "{" USER_HI ",\"reasoning_effort\":\"none\"}", "{" HI_TURN IC "}");
    refused_for(CLAUDE, false, "{" USER_HI ",\"reasoning_effort\":\"huge\"}", "reasoning_effort");
    refused_for(CLAUDE, false, "{" USER_HI ",\"reasoning_effort\":3}", "must be a string");

    /* response_format: Claude, no stream, no reasoning: a forced structured-output tool. */
    body_for(CLAUDE, false,
             "{" USER_HI ",\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{"
             "\"name\":\"x\",\"schema\":{\"type\":\"object\",\"properties\":{\"a\":{\"type\":"
             "\"integer\"}}}}}}",
             "{" HI_TURN IC ",\"toolConfig\":{\"tools\":[{\"toolSpec\":{\"name\":"
             "\"any_llm_structured_output\",\"description\":\"Answer with the structured "
             "output.\",\"inputSchema\":{\"json\":{\"type\":\"object\",\"properties\":{\"a\":{"
             "\"type\":\"integer\"}}}}}}],\"toolChoice\":{\"tool\":{\"name\":"
             "\"any_llm_structured_output\"}}}}");
    body_for("m1", false, "{" USER_HI ",\"response_format\":{\"type\":\"text\"}}",
             "{" HI_TURN IC "}");
#define RF "\"response_format\":{\"type\":\"json_object\"}"
    refused_for("amazon.nova-pro-v1:0", false, "{" USER_HI "," RF "}", "Claude models only");
    refused_for(CLAUDE, true, "{" USER_HI "," RF "}", "without stream");
    refused_for(CLAUDE, false, "{" USER_HI "," RF ",\"reasoning_effort\":\"low\"}",
                "reasoning_effort");
    refused_for(CLAUDE, false, "{" USER_HI "," RF "," TOOLS ",\"tool_choice\":\"required\"}",
                "cannot be combined with tool_choice");
    refused_for(CLAUDE, false, "{" USER_HI ",\"response_format\":{\"type\":\"json_schema\"}}",
                "schema must be an object");
    refused_for(CLAUDE, false, "{" USER_HI ",\"response_format\":{\"type\":\"yaml\"}}",
                "'yaml' is not supported");
    refused_for(CLAUDE, false, "{" USER_HI ",\"response_format\":{}}", "needs a type");
}
END_TEST

/* ---- Replies (§7.3) ---- */

/* v must serialise (compactly) to expect. */
static void json_is(const json_t *v, const char *expect)
{
    char *t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

    ck_assert_ptr_nonnull(t);
    ck_assert_str_eq(t, expect);
    free(t);
}

START_TEST(reply_fixture)
{
    struct prov_usage u;
    size_t gen;
    json_t *r, *e;

    r = tx_reply(&bt,
                 "{\"output\":{\"message\":{\"role\":\"assistant\",\"content\":[{"
                 "\"reasoningContent\":{\"reasoningText\":{\"text\":\"think\",\"signature\":"
                 "\"sig\"}}},{\"text\":\"It is sunny.\"}]}},\"stopReason\":\"end_turn\","
                 "\"usage\":{\"inputTokens\":25,\"outputTokens\":9,\"totalTokens\":34,"
                 "\"cacheReadInputTokens\":0,\"cacheWriteInputTokens\":0},\"metrics\":{"
                 "\"latencyMs\":412}}",
                 &u, &gen);
    ck_assert_str_eq(json_string_value(json_object_get(r, "object")), "chat.completion");
    ck_assert(strncmp(json_string_value(json_object_get(r, "id")), "chatcmpl-", 9) == 0);
    ck_assert(json_integer_value(json_object_get(r, "created")) > 1700000000);
    json_object_del(r, "id");
    json_object_del(r, "created");
    e = tx_load("{\"object\":\"chat.completion\",\"model\":\"\",\"choices\":[{\"index\":0,"
                "\"message\":{\"role\":\"assistant\",\"content\":\"It is sunny.\",\"reasoning\":{"
                "\"content\":\"think\"}},\"finish_reason\":\"stop\",\"logprobs\":null}],\"usage\":"
                "{\"prompt_tokens\":25,\"completion_tokens\":9,\"total_tokens\":34,"
                "\"prompt_tokens_details\":{\"cached_tokens\":0}}}");
    ck_assert(json_equal(r, e));
    json_decref(e);
    json_decref(r);
    ck_assert(u.seen);
    ck_assert_int_eq(u.prompt_tokens, 25);
    ck_assert_int_eq(u.completion_tokens, 9);
    ck_assert_int_eq(u.total_tokens, 34);
    ck_assert_uint_eq(gen, strlen("It is sunny.") + strlen("think"));
}
END_TEST

static const char *finish_of(const char *stop)
{
    static char f[32];
    char body[256];
    struct prov_usage u;
    size_t gen;
    json_t *r;

    snprintf(body, sizeof(body),
             "{\"output\":{\"message\":{\"content\":[{\"text\":\"x\"}]}},\"stopReason\":\"%s\"}",
             stop);
    r = tx_reply(&bt, body, &u, &gen);
    snprintf(f, sizeof(f), "%s",
             json_string_value(json_object_get(json_array_get(json_object_get(r, "choices"), 0),
                                               "finish_reason")));
    ck_assert(!u.seen);
    ck_assert_ptr_null(json_object_get(r, "usage"));
    json_decref(r);
    return f;
}

START_TEST(reply_tools_cache_finish)
{
    struct prov_usage u;
    size_t gen;
    char *out = (char *)1;
    size_t n;
    json_t *r, *m;

    r = tx_reply(&bt,
                 "{\"output\":{\"message\":{\"content\":[{\"text\":\"Let me check.\"},{\"toolUse\":"
                 "{\"toolUseId\":\"tooluse_1\",\"name\":\"get_weather\",\"input\":{\"city\":"
                 "\"Paris\"}}}]}},\"stopReason\":\"tool_use\",\"usage\":{\"inputTokens\":10,"
                 "\"outputTokens\":4,\"cacheReadInputTokens\":100,\"cacheWriteInputTokens\":7}}",
                 &u, &gen);
    m = json_object_get(json_array_get(json_object_get(r, "choices"), 0), "message");
    ck_assert_str_eq(json_string_value(json_object_get(m, "content")), "Let me check.");
    json_is(json_object_get(m, "tool_calls"),
            "[{\"id\":\"tooluse_1\",\"type\":\"function\",\"function\":{\"name\":"
            "\"get_weather\",\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}}]");
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_array_get(json_object_get(r, "choices"), 0), "finish_reason")),
                     "tool_calls");
    /* DESIGN §2.11: prompt = input + cache read + cache write; cached = cache read. */
    ck_assert_int_eq(u.prompt_tokens, 117);
    ck_assert_int_eq(u.completion_tokens, 4);
    ck_assert_int_eq(u.total_tokens, 121);
    ck_assert_int_eq(json_integer_value(json_object_get(
                         json_object_get(json_object_get(r, "usage"), "prompt_tokens_details"),
                         "cached_tokens")),
                     100);
    json_decref(r);

    /* The structured-output tool's input comes back as the content, finish stop. */
    r = tx_reply(&bt,
                 "{\"output\":{\"message\":{\"content\":[{\"toolUse\":{\"toolUseId\":\"t\","
                 "\"name\":\"any_llm_structured_output\",\"input\":{\"a\":1}}}]}},"
                 "\"stopReason\":\"tool_use\"}",
                 &u, &gen);
    m = json_object_get(json_array_get(json_object_get(r, "choices"), 0), "message");
    ck_assert_str_eq(json_string_value(json_object_get(m, "content")), "{\"a\":1}");
    ck_assert_ptr_null(json_object_get(m, "tool_calls"));
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_array_get(json_object_get(r, "choices"), 0), "finish_reason")),
                     "stop");
    json_decref(r);

    ck_assert_str_eq(finish_of("end_turn"), "stop");
    ck_assert_str_eq(finish_of("stop_sequence"), "stop");
    ck_assert_str_eq(finish_of("max_tokens"), "length");
    ck_assert_str_eq(finish_of("model_context_window_exceeded"), "length");
    ck_assert_str_eq(finish_of("tool_use"), "tool_calls");
    ck_assert_str_eq(finish_of("guardrail_intervened"), "content_filter");
    ck_assert_str_eq(finish_of("content_filtered"), "content_filter");
    ck_assert_str_eq(finish_of("malformed_tool_use"), "stop");

    /* Not a Converse reply. */
    ck_assert_int_eq(prov_bedrock_reply("{\"message\":\"x\"}", 15, &u, &gen, &out, &n), -1);
    ck_assert_ptr_null(out);
    ck_assert_int_eq(prov_bedrock_reply("nope", 4, &u, &gen, &out, &n), -1);
}
END_TEST

/* ---- Streams (§7.4) ---- */

struct bt_msg {
    bool exception;
    const char *type;
    const char *payload;
};

/* Feeds messages as the gateway would: nothing after done or failed. */
static void bt_run(struct tx_run *r, const struct bt_msg *m, size_t n, bool client_usage)
{
    memset(r, 0, sizeof(*r));
    r->s.client_usage = client_usage;
    for (size_t i = 0; i < n && !r->s.done && !r->s.failed; i++) {
        if (m[i].exception) {
            struct prov_aws_message am = {.message_type = "exception",
                                          .exception_type = m[i].type,
                                          .payload = m[i].payload,
                                          .payload_len = strlen(m[i].payload)};
            prov_aws_stream_fail(&r->s, &am);
        } else
            ck_assert_int_eq(prov_bedrock_event(&r->s, m[i].type, m[i].payload,
                                                strlen(m[i].payload), tx_emit, &r->k),
                             0);
    }
}

#define CHUNK(delta, finish)                                                                       \
    "-|{\"id\":\"chatcmpl-GEN\",\"object\":\"chat.completion.chunk\",\"created\":0,\"model\":"     \
    "\"\",\"choices\":[{\"index\":0,\"delta\":" delta ",\"finish_reason\":" finish "}]}\n"
#define ROLE "{\"role\":\"assistant\",\"content\":\"\"}"

/* §15 (2): the payload of the contentBlockDelta in the fixture's hex. */
static const struct bt_msg text_stream[] = {
    {false, "messageStart", "{\"role\":\"assistant\"}"},
    {false, "contentBlockDelta", "{\"contentBlockIndex\":0,\"delta\":{\"text\":\"Hi\"}}"},
    {false, "contentBlockStop", "{\"contentBlockIndex\":0,\"p\":\"abcd\"}"},
    {false, "messageStop", "{\"stopReason\":\"end_turn\"}"},
    {false, "metadata",
     "{\"usage\":{\"inputTokens\":25,\"outputTokens\":9,\"totalTokens\":34},\"metrics\":{"
     "\"latencyMs\":400}}"},
};

START_TEST(stream_text_fixture)
{
    static struct tx_run r;

    for (int cu = 0; cu <= 1; cu++) {
        bt_run(&r, text_stream, 5, cu == 1);
        ck_assert_str_eq(r.k.log,
                         cu == 1 ? CHUNK(ROLE, "null") CHUNK("{\"content\":\"Hi\"}", "null")
                                       CHUNK("{}", "\"stop\"") "-|{\"id\":\"chatcmpl-GEN\","
                                                               "\"object\":\"chat.completion."
                                                               "chunk\",\"created\":0,\"model\":"
                                                               "\"\",\"choices\":[],\"usage\":{"
                                                               "\"prompt_tokens\":25,"
                                                               "\"completion_tokens\":9,"
                                                               "\"total_tokens\":34,"
                                                               "\"prompt_tokens_details\":{"
                                                               "\"cached_tokens\":0}}}\n"
                                 : CHUNK(ROLE, "null") CHUNK("{\"content\":\"Hi\"}", "null")
                                       CHUNK("{}", "\"stop\""));
        ck_assert(r.s.done);
        ck_assert(!r.s.failed);
        ck_assert(r.s.usage.seen);
        ck_assert_int_eq(r.s.usage.prompt_tokens, 25);
        ck_assert_int_eq(r.s.usage.completion_tokens, 9);
        ck_assert_int_eq(r.s.usage.total_tokens, 34);
        ck_assert_uint_eq(r.s.gen_bytes, 2);
    }
    /* The stream is not done before metadata (usage still to come). */
    bt_run(&r, text_stream, 4, false);
    ck_assert(!r.s.done);
    ck_assert_int_eq(r.k.n, 3);
}
END_TEST

/* Reasoning (its signature skipped), text, an unknown event (ignored), then a tool use (block 2)
   whose input comes in three pieces. */
static const struct bt_msg tool_stream[] = {
    {false, "messageStart", "{\"role\":\"assistant\"}"},
    {false, "contentBlockDelta",
     "{\"contentBlockIndex\":0,\"delta\":{\"reasoningContent\":{\"text\":\"hmm\"}}}"},
    {false, "contentBlockDelta",
     "{\"contentBlockIndex\":0,\"delta\":{\"reasoningContent\":{\"signature\":\"c2ln\"}}}"},
    {false, "contentBlockStop", "{\"contentBlockIndex\":0}"},
    {false, "contentBlockDelta", "{\"contentBlockIndex\":1,\"delta\":{\"text\":\"Let me\"}}"},
    {false, "contentBlockStop", "{\"contentBlockIndex\":1}"},
    {false, "someFutureEvent", "{\"contentBlockIndex\":1,\"delta\":{\"text\":\"no\"}}"},
    {false, "contentBlockStart",
     "{\"contentBlockIndex\":2,\"start\":{\"toolUse\":{\"toolUseId\":\"tooluse_x\",\"name\":"
     "\"get_weather\"}}}"},
    {false, "contentBlockDelta",
     "{\"contentBlockIndex\":2,\"delta\":{\"toolUse\":{\"input\":\"{\\\"city\\\":\"}}}"},
    {false, "contentBlockDelta",
     "{\"contentBlockIndex\":2,\"delta\":{\"toolUse\":{\"input\":\"\\\"Par\"}}}"},
    {false, "contentBlockDelta",
     "{\"contentBlockIndex\":2,\"delta\":{\"toolUse\":{\"input\":\"is\\\"}\"}}}"},
    {false, "contentBlockStop", "{\"contentBlockIndex\":2}"},
    {false, "messageStop", "{\"stopReason\":\"tool_use\"}"},
    {false, "metadata",
     "{\"usage\":{\"inputTokens\":5,\"outputTokens\":20,\"cacheReadInputTokens\":30,"
     "\"cacheWriteInputTokens\":1}}"},
};

START_TEST(stream_tool_use)
{
    static struct tx_run r;

    bt_run(&r, tool_stream, sizeof(tool_stream) / sizeof(tool_stream[0]), true);
    ck_assert_str_eq(
        r.k.log,
        CHUNK(ROLE, "null") CHUNK("{\"reasoning\":{\"content\":\"hmm\"}}", "null") CHUNK(
            "{\"content\":\"Let me\"}",
            "null") CHUNK("{\"tool_calls\":[{\"index\":0,\"id\":\"tooluse_x\",\"type\":"
                          "\"function\","
                          "\"function\":{\"name\":\"get_weather\",\"arguments\":\"\"}}]}",
                          "null") CHUNK("{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":"
                                        "\"{\\\"city\\\":\"}}]}",
                                        "null")
            CHUNK("{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":"
                  "\"\\\"Par\"}}]}",
                  "null") CHUNK("{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":"
                                "\"is\\\"}\"}}]}",
                                "null")
                CHUNK("{}",
                      "\"tool_calls\"") "-|{\"id\":\"chatcmpl-GEN\",\"object\":\"chat.completion."
                                        "chunk\","
                                        "\"created\":0,\"model\":\"\",\"choices\":[],\"usage\":{"
                                        "\"prompt_tokens\":36,\"completion_tokens\":20,\"total_"
                                        "tokens\":"
                                        "56,\"prompt_tokens_details\":{\"cached_tokens\":30}}}\n");
    ck_assert(r.s.done);
    ck_assert_uint_eq(r.s.gen_bytes, 3 + 6 + 11 + 8 + 4 + 4);
}
END_TEST

START_TEST(stream_failures)
{
    static struct tx_run r;
    static const struct bt_msg throttled[] = {
        {false, "messageStart", "{\"role\":\"assistant\"}"},
        {false, "contentBlockDelta", "{\"contentBlockIndex\":0,\"delta\":{\"text\":\"Hi\"}}"},
        {true, "throttlingException", "{\"message\":\"Too many requests\"}"},
        {false, "contentBlockDelta", "{\"contentBlockIndex\":0,\"delta\":{\"text\":\"no\"}}"},
    };
    static const struct bt_msg orphan[] = {
        {false, "contentBlockDelta",
         "{\"contentBlockIndex\":3,\"delta\":{\"toolUse\":{\"input\":\"{}\"}}}"},
    };
    static const struct bt_msg junk[] = {{false, "contentBlockDelta", "not json"}};
    static const struct bt_msg upper[] = {
        {true, "modelStreamErrorException", "{\"Message\":\"model\\nfailed\"}"}};
    static const struct bt_msg bare[] = {{true, "", "{}"}};

    /* §15 (3): a throttlingException after one delta; nothing after it counts. */
    bt_run(&r, throttled, 4, true);
    ck_assert(r.s.failed);
    ck_assert(!r.s.done);
    ck_assert_str_eq(r.s.error, "throttlingException: Too many requests");
    ck_assert_str_eq(r.k.log, CHUNK(ROLE, "null") CHUNK("{\"content\":\"Hi\"}", "null"));
    bt_run(&r, upper, 1, false);
    ck_assert_str_eq(r.s.error, "modelStreamErrorException: model failed");
    bt_run(&r, bare, 1, false);
    ck_assert_str_eq(r.s.error, "exception: error from the provider");
    /* Tool input without a tool-use start; a payload that is no JSON. */
    bt_run(&r, orphan, 1, false);
    ck_assert(r.s.failed);
    ck_assert_str_eq(r.s.error, "tool input for a content block that started no tool use");
    bt_run(&r, junk, 1, false);
    ck_assert(r.s.failed);
    ck_assert_str_eq(r.s.error, "malformed stream event from the provider");
    ck_assert_int_eq(r.k.n, 0);
}
END_TEST

/* ---- Errors (§7.5) ---- */

START_TEST(error_bodies_and_status)
{
    char msg[128], code[64];

    /* §15: HTTP 400 with x-amzn-ErrorType: ValidationException. */
    prov_bedrock_error_message("{\"message\":\"Malformed input request\"}", 37,
                               "ValidationException:http://internal.amazon.com/coral/"
                               "com.amazon.bedrock/",
                               msg, sizeof(msg), code, sizeof(code));
    ck_assert_str_eq(msg, "Malformed input request");
    ck_assert_str_eq(code, "ValidationException");
    ck_assert_int_eq(prov_bedrock_status(400, code), 400);
    prov_bedrock_error_message("{\"Message\":\"User is not authorized\"}", 36,
                               "AccessDeniedException", msg, sizeof(msg), code, sizeof(code));
    ck_assert_str_eq(msg, "User is not authorized");
    ck_assert_str_eq(code, "AccessDeniedException");
    /* No header: the code from __type; neither: no code. Not JSON: the start of the body. */
    tx_error(&bt,
             "{\"__type\":\"com.amazon.coral.service#ThrottlingException\",\"message\":\"slow\"}",
             msg, sizeof(msg), code, sizeof(code));
    ck_assert_str_eq(code, "ThrottlingException");
    ck_assert_str_eq(msg, "slow");
    tx_error(&bt, "<html>\nBad Gateway</html>", msg, sizeof(msg), code, sizeof(code));
    ck_assert_str_eq(msg, "<html> Bad Gateway</html>");
    ck_assert_str_eq(code, "");
    tx_error(&bt, "{\"message\":\"m\"}", msg, sizeof(msg), NULL, 0);
    ck_assert_str_eq(msg, "m");

    ck_assert_int_eq(prov_bedrock_status(400, "ValidationException"), 400);
    ck_assert_int_eq(prov_bedrock_status(404, "ResourceNotFoundException"), 404);
    ck_assert_int_eq(prov_bedrock_status(429, "ThrottlingException"), 429);
    ck_assert_int_eq(prov_bedrock_status(400, "ServiceQuotaExceededException"), 429);
    ck_assert_int_eq(prov_bedrock_status(429, "ModelNotReadyException"), 429);
    ck_assert_int_eq(prov_bedrock_status(408, "ModelTimeoutException"), 504);
    ck_assert_int_eq(prov_bedrock_status(408, NULL), 504);
    ck_assert_int_eq(prov_bedrock_status(403, "AccessDeniedException"), 502);
    ck_assert_int_eq(prov_bedrock_status(403, "UnrecognizedClientException"), 502);
    ck_assert_int_eq(prov_bedrock_status(403, "InvalidSignatureException"), 502);
    ck_assert_int_eq(prov_bedrock_status(403, NULL), 502);
    ck_assert_int_eq(prov_bedrock_status(401, ""), 502);
    ck_assert_int_eq(prov_bedrock_status(424, "ModelErrorException"), 502);
    ck_assert_int_eq(prov_bedrock_status(424, NULL), 502);
    ck_assert_int_eq(prov_bedrock_status(500, "InternalServerException"), 502);
    ck_assert_int_eq(prov_bedrock_status(503, NULL), 502);
    ck_assert_int_eq(prov_bedrock_status(429, NULL), 429);
    ck_assert_int_eq(prov_bedrock_status(413, NULL), 413);
    ck_assert_int_eq(prov_bedrock_status(409, "ConflictException"), 400);
}
END_TEST

/* ---- Titan embeddings (§7.6) ---- */

START_TEST(titan_embeddings)
{
    struct tx_built b;
    struct prov_usage u;
    json_t *r, *e;
    char *out = (char *)1;
    size_t n;

    tx_build(&b, &bt, conf(),
             "{\"model\":\"bedrock:amazon.titan-embed-text-v2:0\",\"input\":\"hello\","
             "\"dimensions\":256,\"user\":\"u\",\"encoding_format\":\"base64\"}",
             false, true);
    tx_body_is(&b, "{\"inputText\":\"hello\",\"dimensions\":256}");
    tx_built_free(&b);
    tx_build(&b, &bt, conf(), "{\"input\":[\"only\"]}", false, true);
    tx_body_is(&b, "{\"inputText\":\"only\"}");
    tx_built_free(&b);
    tx_rejects(&bt, conf(), "{\"input\":[\"a\",\"b\"]}", true, "one input per call");
    tx_rejects(&bt, conf(), "{\"input\":[]}", true, "non-empty array");
    tx_rejects(&bt, conf(), "{\"input\":[[1,2]]}", true, "token arrays");
    tx_rejects(&bt, conf(), "{\"input\":\"a\",\"dimensions\":\"big\"}", true, "dimensions");

    r = tx_embed_reply(&bt, "{\"embedding\":[0.5,-1.0,0.25],\"inputTextTokenCount\":3}", &u);
    e = tx_load("{\"object\":\"list\",\"data\":[{\"object\":\"embedding\",\"index\":0,"
                "\"embedding\":[0.5,-1.0,0.25]}],\"model\":\"\",\"usage\":{\"prompt_tokens\":3,"
                "\"total_tokens\":3}}");
    ck_assert(json_equal(r, e));
    json_decref(e);
    json_decref(r);
    ck_assert(u.seen);
    ck_assert_int_eq(u.prompt_tokens, 3);
    r = tx_embed_reply(&bt, "{\"embedding\":[1]}", &u);
    ck_assert(!u.seen);
    ck_assert_ptr_null(json_object_get(r, "usage"));
    json_decref(r);
    ck_assert_int_eq(prov_bedrock_embed_reply("{\"embedding\":{}}", 16, &u, &out, &n), -1);
    ck_assert_ptr_null(out);
}
END_TEST

static void bt_teardown(void)
{
    prov_confs_free(confs);
    confs = NULL;
}

Suite *bedrock_suite(void)
{
    Suite *s = suite_create("bedrock");
    TCase *tc = tcase_create("bedrock");

    tcase_add_checked_fixture(tc, NULL, bt_teardown);
    tcase_add_test(tc, path_encoding);
    tcase_add_test(tc, build_basic_and_params);
    tcase_add_test(tc, build_images);
    tcase_add_test(tc, build_tool_turns);
    tcase_add_test(tc, build_tools_and_choice);
    tcase_add_test(tc, build_reasoning_and_format);
    tcase_add_test(tc, reply_fixture);
    tcase_add_test(tc, reply_tools_cache_finish);
    tcase_add_test(tc, stream_text_fixture);
    tcase_add_test(tc, stream_tool_use);
    tcase_add_test(tc, stream_failures);
    tcase_add_test(tc, error_bodies_and_status);
    tcase_add_test(tc, titan_embeddings);
    suite_add_tcase(s, tc);
    return s;
}
