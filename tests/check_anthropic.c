/*
 * Unit tests of the Anthropic Messages dialects (prov_anthropic.h): the pivot request translated
 * per providers.md §2.2 (every row, the errors and the fields left out), URL and headers for
 * anthropic and azureanthropic, the §15 fixtures (JSON reply, text stream, tool stream, error
 * event, cache tokens) with each stream fed through prov_sse split at every byte, the native
 * /v1/messages table and error bodies.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "providers/prov_conf.h"
#include "providers/prov_dialect.h"
#include "providers/prov_registry.h"
#include "t_xlate.h"

static const struct prov_dialect_ops *anth(void)
{
    return prov_dialect_get(PROV_D_ANTHROPIC);
}

static const struct prov_dialect_ops *native(void)
{
    return prov_dialect_native_messages(PROV_D_ANTHROPIC);
}

static void clear_env(void)
{
    static const char *const vars[] = {"ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL",
                                       "AZURE_ANTHROPIC_API_KEY", "AZURE_ANTHROPIC_API_BASE"};

    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
        unsetenv(vars[i]);
}

/* ---- Request building ---- */

static void build_with(const struct prov_dialect_ops *d, struct tx_built *b,
                       const struct prov_conf *c, const char *req, bool stream, const char *version,
                       const char *beta)
{
    tx_build_in(b, d, c,
                (struct prov_chat_in){.model = "claude-x",
                                      .stream = stream,
                                      .anthropic_version = version,
                                      .anthropic_beta = beta},
                req, false);
}

static void build(struct tx_built *b, const struct prov_conf *c, const char *req, bool stream)
{
    build_with(anth(), b, c, req, stream, NULL, NULL);
}

/* chat_build of req must be a 400 whose reason holds needle. */
static void rejects(const struct prov_conf *c, const char *req, const char *needle)
{
    tx_rejects(anth(), c, req, false, needle);
}

#define USER_HI "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]"

START_TEST(tables)
{
    ck_assert_ptr_eq(anth(), &prov_dialect_anthropic);
    ck_assert_ptr_eq(native(), &prov_dialect_anthropic_native);
    ck_assert_ptr_null(prov_dialect_native_messages(PROV_D_OPENAI));
    ck_assert_ptr_null(prov_dialect_native_messages(PROV_D_GEMINI));
    ck_assert_ptr_nonnull(anth()->chat_build);
    ck_assert_ptr_nonnull(anth()->chat_reply);
    ck_assert_ptr_nonnull(anth()->chat_event);
    ck_assert_ptr_nonnull(anth()->error_message);
    ck_assert_ptr_nonnull(native()->chat_build);
    ck_assert_ptr_nonnull(native()->chat_reply);
    ck_assert_ptr_nonnull(native()->chat_event);
    ck_assert_ptr_nonnull(native()->error_message);
}
END_TEST

START_TEST(http_line_and_headers)
{
    struct prov_confs *pc;
    struct tx_built b;

    /* The default base has no /v1; the key comes from the environment. */
    clear_env();
    setenv("ANTHROPIC_API_KEY", "sk-ant-env", 1);
    pc = tx_confs(NULL);
    build(&b, tx_conf(pc, "anthropic"), "{" USER_HI "}", false);
    ck_assert_msg(b.rc == 0, "%s", b.err);
    ck_assert_str_eq(b.h.url, "https://api.anthropic.com/v1/messages");
    ck_assert_str_eq(tx_header(&b.h, "x-api-key"), "sk-ant-env");
    ck_assert_str_eq(tx_header(&b.h, "anthropic-version"), "2023-06-01");
    ck_assert_str_eq(tx_header(&b.h, "content-type"), "application/json");
    ck_assert_ptr_null(tx_header(&b.h, "Authorization"));
    ck_assert_ptr_null(tx_header(&b.h, "api-key"));
    ck_assert_ptr_null(tx_header(&b.h, "anthropic-beta"));
    tx_built_free(&b);
    prov_confs_free(pc);
    clear_env();

    /* Configured base (trailing slash dropped), custom headers added after ours. */
    pc = tx_confs("{\"anthropic\":{\"api_key\":\"sk-ant-1\",\"api_base\":\"http://up.example:9/\","
                  "\"client_args\":{\"custom_headers\":{\"X-Org\":\"acme\"}}},"
                  "\"azureanthropic\":{\"api_key\":\"az-1\","
                  "\"api_base\":\"https://res.services.ai.azure.com/anthropic\"}}");
    build(&b, tx_conf(pc, "anthropic"), "{" USER_HI "}", true);
    ck_assert_msg(b.rc == 0, "%s", b.err);
    ck_assert_str_eq(b.h.url, "http://up.example:9/v1/messages");
    ck_assert_str_eq(tx_header(&b.h, "x-api-key"), "sk-ant-1");
    ck_assert_str_eq(tx_header(&b.h, "X-Org"), "acme");
    ck_assert_str_eq(tx_header(&b.h, "accept"), "text/event-stream");
    tx_built_free(&b);

    /* azureanthropic: the key twice, as x-api-key and api-key. */
    build(&b, tx_conf(pc, "azureanthropic"), "{" USER_HI "}", false);
    ck_assert_msg(b.rc == 0, "%s", b.err);
    ck_assert_str_eq(b.h.url, "https://res.services.ai.azure.com/anthropic/v1/messages");
    ck_assert_str_eq(tx_header(&b.h, "x-api-key"), "az-1");
    ck_assert_str_eq(tx_header(&b.h, "api-key"), "az-1");
    ck_assert_str_eq(tx_header(&b.h, "anthropic-version"), "2023-06-01");
    tx_built_free(&b);
    prov_confs_free(pc);

    /* No base URL: the gateway's fault (-1), with a reason naming the setting. */
    pc = tx_confs("{\"azureanthropic\":{\"api_key\":\"az-1\"}}");
    build(&b, tx_conf(pc, "azureanthropic"), "{" USER_HI "}", false);
    ck_assert_int_eq(b.rc, -1);
    ck_assert_ptr_nonnull(strstr(b.err, "AZURE_ANTHROPIC_API_BASE"));
    tx_built_free(&b);
    prov_confs_free(pc);

    /* vertexaianthropic without an access token is refused, even with a base URL (its URL and
       body: check_google.c). */
    pc = tx_confs("{\"vertexaianthropic\":{\"api_base\":\"http://v:1\"}}");
    build(&b, tx_conf(pc, "vertexaianthropic"), "{" USER_HI "}", false);
    ck_assert_int_eq(b.rc, -1);
    ck_assert_ptr_nonnull(strstr(b.err, "no access token"));
    tx_built_free(&b);
    build_with(native(), &b, tx_conf(pc, "vertexaianthropic"), "{" USER_HI "}", false, NULL, NULL);
    ck_assert_int_eq(b.rc, -1);
    tx_built_free(&b);
    prov_confs_free(pc);

    /* A custom anthropic-version replaces the default (never sent twice). */
    pc = tx_confs("{\"anthropic\":{\"api_key\":\"k\",\"client_args\":{\"custom_headers\":"
                  "{\"anthropic-version\":\"2099-01-01\"}}}}");
    build(&b, tx_conf(pc, "anthropic"), "{" USER_HI "}", false);
    ck_assert_str_eq(tx_header(&b.h, "anthropic-version"), "2099-01-01");
    tx_built_free(&b);
    prov_confs_free(pc);
}
END_TEST

START_TEST(build_fields)
{
    struct prov_confs *pc;
    struct tx_built b;

    clear_env();
    pc = tx_confs("{\"anthropic\":{\"api_key\":\"k\",\"temperature\":0.2,\"top_p\":0.5,"
                  "\"max_tokens\":1000}}");
    /* system + developer joined; config fields fill in, request fields win; max_tokens from
       config is the default; stop string -> array; user -> metadata.user_id; everything
       Anthropic would reject is left out. */
    build(&b, tx_conf(pc, "anthropic"),
          "{\"model\":\"anthropic:claude-x\",\"messages\":["
          "{\"role\":\"system\",\"content\":\"Be brief.\"},"
          "{\"role\":\"developer\",\"content\":[{\"type\":\"text\",\"text\":\"Use \"},"
          "{\"type\":\"text\",\"text\":\"French.\"}]},"
          "{\"role\":\"user\",\"content\":\"hi\",\"name\":\"bob\"}],"
          "\"top_p\":0.9,\"stop\":\"END\",\"user\":\"u-1\",\"stream\":false,"
          "\"stream_options\":{\"include_usage\":true},\"n\":1,\"seed\":7,"
          "\"frequency_penalty\":0.1,\"presence_penalty\":0.2,\"logprobs\":true,"
          "\"top_logprobs\":2,\"logit_bias\":{\"1\":2},\"store\":true,\"metadata\":{\"a\":\"b\"},"
          "\"service_tier\":\"auto\",\"modalities\":[\"text\"],\"prediction\":{},"
          "\"audio\":{},\"web_search_options\":{},\"functions\":[],\"function_call\":\"auto\","
          "\"parallel_tool_calls\":true,\"x_unknown\":1}",
          false);
    tx_body_is(&b, "{\"model\":\"claude-x\",\"system\":\"Be brief.\\nUse French.\","
                   "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":1000,"
                   "\"temperature\":0.2,\"top_p\":0.9,\"stop_sequences\":[\"END\"],"
                   "\"metadata\":{\"user_id\":\"u-1\"}}");
    ck_assert(b.client_usage); /* what the client asked for, not sent upstream */
    ck_assert_str_eq(tx_header(&b.h, "accept"), "application/json");
    tx_built_free(&b);
    prov_confs_free(pc);

    pc = tx_confs("{\"anthropic\":{\"api_key\":\"k\"}}");
    /* No max_tokens anywhere: 8192. Stop array, stream on, no usage asked for. */
    build(&b, tx_conf(pc, "anthropic"),
          "{" USER_HI ",\"stop\":[\"a\",\"b\"],\"temperature\":1,\"top_k\":5,\"stream\":true}",
          true);
    tx_body_is(&b,
               "{\"model\":\"claude-x\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
               "\"max_tokens\":8192,\"temperature\":1,\"top_k\":5,\"stop_sequences\":[\"a\",\"b\"],"
               "\"stream\":true}");
    ck_assert(!b.client_usage);
    tx_built_free(&b);

    /* max_completion_tokens wins over max_tokens. */
    build(&b, tx_conf(pc, "anthropic"),
          "{" USER_HI ",\"max_tokens\":10,\"max_completion_tokens\":20,\"stop\":null}", false);
    tx_body_is(&b, "{\"model\":\"claude-x\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
                   "\"max_tokens\":20}");
    tx_built_free(&b);
    build(&b, tx_conf(pc, "anthropic"), "{" USER_HI ",\"max_tokens\":10}", false);
    ck_assert_int_eq(json_integer_value(json_object_get(b.body, "max_tokens")), 10);
    tx_built_free(&b);

    rejects(tx_conf(pc, "anthropic"), "{" USER_HI ",\"max_tokens\":0}", "max_tokens");
    rejects(tx_conf(pc, "anthropic"), "{" USER_HI ",\"max_completion_tokens\":\"x\"}",
            "max_completion_tokens");
    rejects(tx_conf(pc, "anthropic"), "{" USER_HI ",\"stop\":[1]}", "stop[0]");
    rejects(tx_conf(pc, "anthropic"), "{" USER_HI ",\"temperature\":\"hot\"}", "temperature");
    rejects(tx_conf(pc, "anthropic"), "{\"messages\":{}}", "messages");
    rejects(tx_conf(pc, "anthropic"), "{\"messages\":[{\"content\":\"x\"}]}", "role");
    rejects(tx_conf(pc, "anthropic"), "{\"messages\":[{\"role\":\"function\",\"content\":\"x\"}]}",
            "function");
    prov_confs_free(pc);
}
END_TEST

START_TEST(build_parts)
{
    struct prov_confs *pc;
    struct tx_built b;

    clear_env();
    pc = tx_confs("{\"anthropic\":{\"api_key\":\"k\"}}");
    build(&b, tx_conf(pc, "anthropic"),
          "{\"messages\":[{\"role\":\"user\",\"content\":["
          "{\"type\":\"text\",\"text\":\"look\",\"cache_control\":{\"type\":\"ephemeral\"}},"
          "{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/png;base64,iVBORw0=\"}},"
          "{\"type\":\"image_url\",\"image_url\":{\"url\":\"https://x.example/cat.jpg\"}},"
          "{\"type\":\"file\",\"file\":{\"filename\":\"a.pdf\","
          "\"file_data\":\"data:application/pdf;base64,JVBERi0=\"}}]}]}",
          false);
    tx_body_is(&b,
               "{\"model\":\"claude-x\",\"messages\":[{\"role\":\"user\",\"content\":["
               "{\"type\":\"text\",\"text\":\"look\",\"cache_control\":{\"type\":\"ephemeral\"}},"
               "{\"type\":\"image\",\"source\":{\"type\":\"base64\",\"media_type\":\"image/png\","
               "\"data\":\"iVBORw0=\"}},"
               "{\"type\":\"image\",\"source\":{\"type\":\"url\","
               "\"url\":\"https://x.example/cat.jpg\"}},"
               "{\"type\":\"document\",\"source\":{\"type\":\"base64\","
               "\"media_type\":\"application/pdf\",\"data\":\"JVBERi0=\"}}]}],"
               "\"max_tokens\":8192}");
    tx_built_free(&b);

    rejects(tx_conf(pc, "anthropic"),
            "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"input_audio\","
            "\"input_audio\":{}}]}]}",
            "input_audio");
    rejects(tx_conf(pc, "anthropic"),
            "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\","
            "\"image_url\":{\"url\":\"data:image/png,abc\"}}]}]}",
            "messages[0].content[0]");
    rejects(tx_conf(pc, "anthropic"),
            "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\","
            "\"image_url\":{\"url\":\"ftp://x/y.png\"}}]}]}",
            "URL");
    rejects(tx_conf(pc, "anthropic"),
            "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"file\","
            "\"file\":{\"file_id\":\"file-1\"}}]}]}",
            "file_data");
    rejects(tx_conf(pc, "anthropic"),
            "{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"no type\"}]}]}", "type");
    rejects(tx_conf(pc, "anthropic"), "{\"messages\":[{\"role\":\"user\",\"content\":7}]}",
            "content");
    prov_confs_free(pc);
}
END_TEST

START_TEST(build_tool_turns)
{
    struct prov_confs *pc;
    struct tx_built b;

    clear_env();
    pc = tx_confs("{\"anthropic\":{\"api_key\":\"k\"}}");
    /* Assistant: thinking (reasoning + signature) first, its text, tool_use blocks with parsed
       input ("" -> {}); consecutive tool results -> one user message; an empty assistant turn
       is left out. */
    build(&b, tx_conf(pc, "anthropic"),
          "{\"messages\":[{\"role\":\"user\",\"content\":\"weather?\"},"
          "{\"role\":\"assistant\",\"content\":\"Checking.\","
          "\"reasoning\":{\"content\":\"need tools\"},"
          "\"extra_content\":{\"anthropic\":{\"signature\":\"sig==\"}},"
          "\"tool_calls\":[{\"id\":\"toolu_1\",\"type\":\"function\",\"function\":"
          "{\"name\":\"get_weather\",\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}},"
          "{\"id\":\"toolu_2\",\"type\":\"function\",\"function\":{\"name\":\"now\","
          "\"arguments\":\"\"}}]},"
          "{\"role\":\"tool\",\"tool_call_id\":\"toolu_1\",\"content\":\"18C\"},"
          "{\"role\":\"tool\",\"tool_call_id\":\"toolu_2\",\"content\":[{\"type\":\"text\","
          "\"text\":\"noon\"}]},"
          "{\"role\":\"assistant\",\"content\":\"\"},"
          "{\"role\":\"user\",\"content\":\"thanks\"},"
          "{\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":\"ok\"}],"
          "\"reasoning\":\"no signature: dropped\"}]}",
          false);
    tx_body_is(&b, "{\"model\":\"claude-x\",\"messages\":["
                   "{\"role\":\"user\",\"content\":\"weather?\"},"
                   "{\"role\":\"assistant\",\"content\":["
                   "{\"type\":\"thinking\",\"thinking\":\"need tools\",\"signature\":\"sig==\"},"
                   "{\"type\":\"text\",\"text\":\"Checking.\"},"
                   "{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"get_weather\","
                   "\"input\":{\"city\":\"Paris\"}},"
                   "{\"type\":\"tool_use\",\"id\":\"toolu_2\",\"name\":\"now\",\"input\":{}}]},"
                   "{\"role\":\"user\",\"content\":["
                   "{\"type\":\"tool_result\",\"tool_use_id\":\"toolu_1\",\"content\":\"18C\"},"
                   "{\"type\":\"tool_result\",\"tool_use_id\":\"toolu_2\",\"content\":"
                   "[{\"type\":\"text\",\"text\":\"noon\"}]}]},"
                   "{\"role\":\"user\",\"content\":\"thanks\"},"
                   "{\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":\"ok\"}]}],"
                   "\"max_tokens\":8192}");
    tx_built_free(&b);

    rejects(tx_conf(pc, "anthropic"),
            "{\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"t\",\"type\":"
            "\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{not json\"}}]}]}",
            "messages[0].tool_calls[0].function.arguments");
    rejects(tx_conf(pc, "anthropic"),
            "{\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"t\",\"type\":"
            "\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"[1]\"}}]}]}",
            "not a JSON object");
    rejects(tx_conf(pc, "anthropic"),
            "{\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"type\":\"function\","
            "\"function\":{\"name\":\"f\"}}]}]}",
            "id and function.name");
    rejects(tx_conf(pc, "anthropic"), "{\"messages\":[{\"role\":\"tool\",\"content\":\"x\"}]}",
            "tool_call_id");
    prov_confs_free(pc);
}
END_TEST

#define TOOLS                                                                                      \
    "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"description\":"    \
    "\"Weather\",\"parameters\":{\"type\":\"object\",\"properties\":{\"city\":{\"type\":"          \
    "\"string\"}},\"required\":[\"city\"]},\"strict\":true}},{\"type\":\"function\","              \
    "\"function\":{\"name\":\"now\"}}]"
#define TOOLS_OUT                                                                                  \
    "\"tools\":[{\"name\":\"get_weather\",\"description\":\"Weather\",\"input_schema\":"           \
    "{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}},\"required\":"           \
    "[\"city\"]}},{\"name\":\"now\",\"input_schema\":{\"type\":\"object\"}}]"

/* The tool_choice a request's tail gives. */
static void choice_is(const struct prov_conf *c, const char *tail, const char *expect)
{
    char req[1024], exp[1024];
    struct tx_built b;

    snprintf(req, sizeof(req), "{" USER_HI "," TOOLS "%s}", tail);
    if (expect != NULL)
        snprintf(exp, sizeof(exp),
                 "{\"model\":\"claude-x\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
                 "\"max_tokens\":8192," TOOLS_OUT ",\"tool_choice\":%s}",
                 expect);
    else
        snprintf(exp, sizeof(exp),
                 "{\"model\":\"claude-x\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
                 "\"max_tokens\":8192," TOOLS_OUT "}");
    build(&b, c, req, false);
    tx_body_is(&b, exp);
    tx_built_free(&b);
}

START_TEST(build_tools_and_choice)
{
    struct prov_confs *pc;
    const struct prov_conf *c;

    clear_env();
    pc = tx_confs("{\"anthropic\":{\"api_key\":\"k\"}}");
    c = tx_conf(pc, "anthropic");
    choice_is(c, "", NULL);
    choice_is(c, ",\"tool_choice\":\"auto\"", "{\"type\":\"auto\"}");
    choice_is(c, ",\"tool_choice\":\"required\"", "{\"type\":\"any\"}");
    choice_is(c, ",\"tool_choice\":\"none\"", "{\"type\":\"none\"}");
    choice_is(c, ",\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"now\"}}",
              "{\"type\":\"tool\",\"name\":\"now\"}");
    choice_is(c, ",\"tool_choice\":\"required\",\"parallel_tool_calls\":false",
              "{\"type\":\"any\",\"disable_parallel_tool_use\":true}");
    choice_is(c,
              ",\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"now\"}},"
              "\"parallel_tool_calls\":false",
              "{\"type\":\"tool\",\"name\":\"now\",\"disable_parallel_tool_use\":true}");
    choice_is(c, ",\"parallel_tool_calls\":false",
              "{\"type\":\"auto\",\"disable_parallel_tool_use\":true}");
    choice_is(c, ",\"tool_choice\":\"none\",\"parallel_tool_calls\":false", "{\"type\":\"none\"}");
    choice_is(c, ",\"parallel_tool_calls\":true", NULL);

    rejects(c, "{" USER_HI "," TOOLS ",\"tool_choice\":\"sometimes\"}", "sometimes");
    rejects(c, "{" USER_HI "," TOOLS ",\"tool_choice\":{\"type\":\"function\"}}", "tool_choice");
    rejects(c, "{" USER_HI ",\"tools\":[{\"type\":\"code_interpreter\"}]}", "tools[0]");
    rejects(c,
            "{" USER_HI ",\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\","
            "\"parameters\":[]}}]}",
            "parameters");
    prov_confs_free(pc);
}
END_TEST

START_TEST(build_output_and_reasoning)
{
    struct prov_confs *pc;
    const struct prov_conf *c;
    struct tx_built b;
    static const char *const efforts[][2] = {{"minimal", "low"},   {"low", "low"},
                                             {"medium", "medium"}, {"high", "high"},
                                             {"xhigh", "xhigh"},   {"max", "max"}};
    char req[256];

    clear_env();
    pc = tx_confs("{\"anthropic\":{\"api_key\":\"k\"}}");
    c = tx_conf(pc, "anthropic");
    build(&b, c,
          "{" USER_HI ",\"response_format\":{\"type\":\"json_schema\",\"json_schema\":"
          "{\"name\":\"w\",\"strict\":true,\"schema\":{\"type\":\"object\"}}},"
          "\"reasoning_effort\":\"medium\"}",
          false);
    tx_body_is(&b, "{\"model\":\"claude-x\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
                   "\"max_tokens\":8192,\"output_config\":{\"format\":{\"type\":\"json_schema\","
                   "\"schema\":{\"type\":\"object\"}},\"effort\":\"medium\"},"
                   "\"thinking\":{\"type\":\"adaptive\"}}");
    tx_built_free(&b);
    for (size_t i = 0; i < sizeof(efforts) / sizeof(efforts[0]); i++) {
        snprintf(req, sizeof(req), "{" USER_HI ",\"reasoning_effort\":\"%s\"}", efforts[i][0]);
        build(&b, c, req, false);
        ck_assert_msg(b.rc == 0, "%s", b.err);
        ck_assert_str_eq(
            json_string_value(json_object_get(json_object_get(b.body, "output_config"), "effort")),
            efforts[i][1]);
        ck_assert_str_eq(
            json_string_value(json_object_get(json_object_get(b.body, "thinking"), "type")),
            "adaptive");
        tx_built_free(&b);
    }
    build(&b, c,
          "{" USER_HI ",\"reasoning_effort\":\"none\",\"response_format\":{\"type\":\"text\"}}",
          false);
    tx_body_is(&b, "{\"model\":\"claude-x\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
                   "\"max_tokens\":8192,\"thinking\":{\"type\":\"disabled\"}}");
    tx_built_free(&b);

    rejects(c, "{" USER_HI ",\"response_format\":{\"type\":\"json_object\"}}", "json_object");
    rejects(c, "{" USER_HI ",\"response_format\":{\"type\":\"json_schema\"}}", "schema");
    rejects(c, "{" USER_HI ",\"reasoning_effort\":\"extreme\"}", "extreme");
    rejects(c, "{" USER_HI ",\"reasoning_effort\":3}", "reasoning_effort");
    prov_confs_free(pc);
}
END_TEST

/* ---- Replies ---- */

static const char reply_fixture[] =
    "{\"id\":\"msg_01A\",\"type\":\"message\",\"role\":\"assistant\",\"model\":"
    "\"claude-sonnet-4-5\",\"content\":[{\"type\":\"text\",\"text\":\"Let me check.\"},"
    "{\"type\":\"tool_use\",\"id\":\"toolu_01B\",\"name\":\"get_weather\",\"input\":"
    "{\"city\":\"Paris\"}}],\"stop_reason\":\"tool_use\",\"stop_sequence\":null,"
    "\"usage\":{\"input_tokens\":120,\"output_tokens\":40,\"cache_read_input_tokens\":0,"
    "\"cache_creation_input_tokens\":0}}";

/* chat_reply of body; returns the translated reply (owned). */
static json_t *reply(const char *body, struct prov_usage *u, size_t *gen)
{
    char *out = NULL;
    size_t out_len = 0;
    json_t *j;

    ck_assert_int_eq(anth()->chat_reply(body, strlen(body), u, gen, &out, &out_len), 0);
    ck_assert_ptr_nonnull(out);
    ck_assert_uint_eq(out_len, strlen(out));
    j = tx_load(out);
    free(out);
    return j;
}

START_TEST(reply_tool_fixture)
{
    struct prov_usage u;
    size_t gen;
    json_t *j = reply(reply_fixture, &u, &gen), *msg, *call, *usage;
    json_t *choice = json_array_get(json_object_get(j, "choices"), 0);

    ck_assert_str_eq(json_string_value(json_object_get(j, "id")), "msg_01A");
    ck_assert_str_eq(json_string_value(json_object_get(j, "object")), "chat.completion");
    ck_assert_str_eq(json_string_value(json_object_get(j, "model")), "claude-sonnet-4-5");
    ck_assert_int_gt(json_integer_value(json_object_get(j, "created")), 1700000000);
    ck_assert_str_eq(json_string_value(json_object_get(choice, "finish_reason")), "tool_calls");
    msg = json_object_get(choice, "message");
    ck_assert_str_eq(json_string_value(json_object_get(msg, "role")), "assistant");
    ck_assert_str_eq(json_string_value(json_object_get(msg, "content")), "Let me check.");
    ck_assert_uint_eq(json_array_size(json_object_get(msg, "tool_calls")), 1);
    call = json_array_get(json_object_get(msg, "tool_calls"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(call, "id")), "toolu_01B");
    ck_assert_str_eq(json_string_value(json_object_get(call, "type")), "function");
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(call, "function"), "name")),
                     "get_weather");
    ck_assert_str_eq(
        json_string_value(json_object_get(json_object_get(call, "function"), "arguments")),
        "{\"city\":\"Paris\"}");
    ck_assert_ptr_null(json_object_get(msg, "reasoning"));
    usage = json_object_get(j, "usage");
    ck_assert_int_eq(json_integer_value(json_object_get(usage, "prompt_tokens")), 120);
    ck_assert_int_eq(json_integer_value(json_object_get(usage, "completion_tokens")), 40);
    ck_assert_int_eq(json_integer_value(json_object_get(usage, "total_tokens")), 160);
    ck_assert(u.seen);
    ck_assert_int_eq(u.prompt_tokens, 120);
    ck_assert_int_eq(u.completion_tokens, 40);
    ck_assert_int_eq(u.total_tokens, 160);
    /* "Let me check." 13, "get_weather" 11, {"city":"Paris"} 16 */
    ck_assert_uint_eq(gen, 13 + 11 + 16);
    json_decref(j);
}
END_TEST

START_TEST(reply_thinking_cache_and_stops)
{
    static const char *const stops[][2] = {
        {"end_turn", "stop"},          {"stop_sequence", "stop"},
        {"pause_turn", "stop"},        {"max_tokens", "length"},
        {"refusal", "content_filter"}, {"model_context_window_exceeded", "length"}};
    struct prov_usage u;
    size_t gen;
    char body[512];
    json_t *j, *msg, *usage;

    j = reply("{\"id\":\"msg_2\",\"type\":\"message\",\"model\":\"m\",\"content\":["
              "{\"type\":\"thinking\",\"thinking\":\"Hmm. \",\"signature\":\"s1\"},"
              "{\"type\":\"redacted_thinking\",\"data\":\"xx\"},"
              "{\"type\":\"thinking\",\"thinking\":\"Yes.\",\"signature\":\"s2\"},"
              "{\"type\":\"text\",\"text\":\"A\"},{\"type\":\"text\",\"text\":\"B\"}],"
              "\"stop_reason\":\"end_turn\",\"usage\":{\"input_tokens\":10,"
              "\"output_tokens\":5,\"cache_read_input_tokens\":100,"
              "\"cache_creation_input_tokens\":20}}",
              &u, &gen);
    msg = json_object_get(json_array_get(json_object_get(j, "choices"), 0), "message");
    ck_assert_str_eq(json_string_value(json_object_get(msg, "content")), "AB");
    ck_assert_str_eq(
        json_string_value(json_object_get(json_object_get(msg, "reasoning"), "content")),
        "Hmm. Yes.");
    ck_assert_str_eq(
        json_string_value(json_object_get(
            json_object_get(json_object_get(msg, "extra_content"), "anthropic"), "signature")),
        "s2");
    ck_assert_ptr_null(json_object_get(msg, "tool_calls"));
    /* DESIGN §2.11: cache reads and writes count as prompt tokens; reads are cached_tokens. */
    usage = json_object_get(j, "usage");
    ck_assert_int_eq(json_integer_value(json_object_get(usage, "prompt_tokens")), 130);
    ck_assert_int_eq(json_integer_value(json_object_get(usage, "total_tokens")), 135);
    ck_assert_int_eq(json_integer_value(json_object_get(
                         json_object_get(usage, "prompt_tokens_details"), "cached_tokens")),
                     100);
    ck_assert_int_eq(u.prompt_tokens, 130);
    ck_assert_int_eq(u.completion_tokens, 5);
    ck_assert_int_eq(u.total_tokens, 135);
    ck_assert_uint_eq(gen, 2 + 9);
    json_decref(j);

    for (size_t i = 0; i < sizeof(stops) / sizeof(stops[0]); i++) {
        snprintf(body, sizeof(body), "{\"type\":\"message\",\"content\":[],\"stop_reason\":\"%s\"}",
                 stops[i][0]);
        j = reply(body, &u, &gen);
        ck_assert_str_eq(json_string_value(json_object_get(
                             json_array_get(json_object_get(j, "choices"), 0), "finish_reason")),
                         stops[i][1]);
        /* No text at all: content "", and no usage reported. */
        ck_assert_str_eq(
            json_string_value(json_object_get(
                json_object_get(json_array_get(json_object_get(j, "choices"), 0), "message"),
                "content")),
            "");
        ck_assert(!u.seen);
        ck_assert_ptr_null(json_object_get(j, "usage"));
        json_decref(j);
    }
}
END_TEST

START_TEST(reply_malformed)
{
    static const char *const bad[] = {
        "",
        "not json",
        "[]",
        "{\"type\":\"message\"}",
        "{\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"x\"},\"content\":[]}",
        "{\"choices\":[]}"};
    struct prov_usage u;
    size_t gen;
    char *out;
    size_t out_len;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        out = (char *)1;
        ck_assert_msg(anth()->chat_reply(bad[i], strlen(bad[i]), &u, &gen, &out, &out_len) == -1,
                      "accepted %s", bad[i]);
        ck_assert_ptr_null(out);
        ck_assert_msg(native()->chat_reply(bad[i], strlen(bad[i]), &u, &gen, &out, &out_len) == -1,
                      "native accepted %s", bad[i]);
    }
}
END_TEST

/* ---- Streams ---- */

#define EV(type, json) "event: " type "\ndata: " json "\n\n"

/* providers.md §2.4, with CRLF endings on one event. */
static const char text_stream[] = EV(
    "message_start",
    "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_01A\",\"type\":\"message\","
    "\"role\":\"assistant\",\"content\":[],\"model\":\"claude-sonnet-4-5\",\"stop_reason\":"
    "null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":120,\"output_tokens\":1}}}")
    EV("content_block_start", "{\"type\":\"content_block_start\",\"index\":0,"
                              "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}")
        EV("ping", "{\"type\":\"ping\"}") "event: content_block_delta\r\ndata: "
                                          "{\"type\":\"content_block_delta\",\"index\":0,"
                                          "\"delta\":{\"type\":\"text_delta\",\"text\":"
                                          "\"Hello\"}}\r\n\r\n" EV(
                                              "content_block_stop",
                                              "{\"type\":\"content_block_stop\",\"index\":0}")
                                              EV("message_delta",
                                                 "{\"type\":\"message_delta\",\"delta\":{\"stop_"
                                                 "reason\":\"end_turn\","
                                                 "\"stop_sequence\":null},\"usage\":{\"output_"
                                                 "tokens\":12}}")
                                                  EV("message_stop", "{\"type\":\"message_stop\"}");

#define CHUNK(delta, finish)                                                                       \
    "-|{\"id\":\"msg_01A\",\"object\":\"chat.completion.chunk\",\"created\":0,\"model\":"          \
    "\"claude-sonnet-4-5\",\"choices\":[{\"index\":0,\"delta\":" delta                             \
    ",\"finish_reason\":" finish "}]}\n"

START_TEST(stream_text_fixture)
{
    static struct tx_run r;

    for (int cu = 0; cu <= 1; cu++) {
        tx_run_everywhere(&r, anth(), text_stream, cu == 1);
        ck_assert_str_eq(
            r.k.log,
            cu == 1
                ? CHUNK("{\"role\":\"assistant\",\"content\":\"\"}", "null")
                      CHUNK("{\"content\":\"Hello\"}", "null") CHUNK(
                          "{}",
                          "\"stop\"") "-|{\"id\":\"msg_01A\",\"object\":\"chat.completion.chunk\","
                                      "\"created\":0,\"model\":\"claude-sonnet-4-5\",\"choices\":[]"
                                      ","
                                      "\"usage\":{\"prompt_tokens\":120,\"completion_tokens\":12,"
                                      "\"total_tokens\":132,\"prompt_tokens_details\":"
                                      "{\"cached_tokens\":0}}}\n"
                : CHUNK("{\"role\":\"assistant\",\"content\":\"\"}", "null")
                      CHUNK("{\"content\":\"Hello\"}", "null") CHUNK("{}", "\"stop\""));
        ck_assert(r.s.done);
        ck_assert(!r.s.failed);
        ck_assert(r.s.usage.seen);
        ck_assert_int_eq(r.s.usage.prompt_tokens, 120);
        ck_assert_int_eq(r.s.usage.completion_tokens, 12);
        ck_assert_int_eq(r.s.usage.total_tokens, 132);
        ck_assert_uint_eq(r.s.gen_bytes, 5);
    }
}
END_TEST

/* §15 (3): a text block, then a tool_use block at index 1 whose input comes in two pieces;
   thinking and a signature first; cache tokens in message_start. */
static const char tool_stream[] = EV(
    "message_start",
    "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_T\",\"model\":\"claude-x\","
    "\"usage\":{\"input_tokens\":50,\"cache_read_input_tokens\":200,"
    "\"cache_creation_input_tokens\":10,\"output_tokens\":1}}}") EV("content_block_start",
                                                                    "{\"type\":\"content_block_"
                                                                    "start\",\"index\":0,"
                                                                    "\"content_block\":{\"type\":"
                                                                    "\"thinking\",\"thinking\":"
                                                                    "\"\"}}")
    EV("content_block_delta", "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":"
                              "\"thinking_delta\",\"thinking\":\"Hmm\"}}")
        EV("content_block_delta", "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":"
                                  "{\"type\":\"signature_delta\",\"signature\":\"c2ln\"}}")
            EV("content_block_stop", "{\"type\":\"content_block_stop\",\"index\":0}") EV(
                "content_block_start", "{\"type\":\"content_block_start\",\"index\":1,"
                                       "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}")
                EV("content_block_delta", "{\"type\":\"content_block_delta\",\"index\":1,"
                                          "\"delta\":{\"type\":\"text_delta\",\"text\":\"Caf\\u00e9"
                                          " \xF0\x9F\x98\x80\"}}")
                    EV("content_block_stop", "{\"type\":\"content_block_stop\",\"index\":1}") EV(
                        "content_block_start",
                        "{\"type\":\"content_block_start\",\"index\":2,\"content_block\":{\"type\":"
                        "\"tool_use\",\"id\":\"toolu_9\",\"name\":\"get_weather\",\"input\":{}}}")
                        EV("content_block_delta",
                           "{\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":"
                           "\"input_json_delta\",\"partial_json\":\"\"}}")
                            EV("content_block_delta",
                               "{\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":"
                               "\"input_json_delta\",\"partial_json\":\"{\\\"city\\\":\"}}")
                                EV("content_block_delta",
                                   "{\"type\":\"content_block_delta\",\"index\":2,\"delta\":"
                                   "{\"type\":\"input_json_delta\",\"partial_json\":"
                                   "\"\\\"Paris\\\"}\"}}")
                                    EV("content_block_stop",
                                       "{\"type\":\"content_block_stop\",\"index\":2}")
                                        EV("message_delta",
                                           "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"
                                           "\"tool_use\"},\"usage\":{\"output_tokens\":30}}")
                                            EV("message_stop", "{\"type\":\"message_stop\"}");

#define TCHUNK(delta, finish)                                                                      \
    "-|{\"id\":\"msg_T\",\"object\":\"chat.completion.chunk\",\"created\":0,\"model\":"            \
    "\"claude-x\",\"choices\":[{\"index\":0,\"delta\":" delta ",\"finish_reason\":" finish "}]}\n"

START_TEST(stream_tool_fixture)
{
    static struct tx_run r;

    tx_run_everywhere(&r, anth(), tool_stream, true);
    ck_assert_str_eq(
        r.k.log,
        TCHUNK("{\"role\":\"assistant\",\"content\":\"\"}", "null") TCHUNK(
            "{\"reasoning\":{\"content\":\"Hmm\"}}",
            "null") TCHUNK("{\"extra_content\":{\"anthropic\":{\"signature\":\"c2ln\"}}}",
                           "null") TCHUNK("{\"content\":\"Caf\xC3\xA9 \xF0\x9F\x98\x80\"}", "null")
            TCHUNK("{\"tool_calls\":[{\"index\":0,\"id\":\"toolu_9\",\"type\":\"function\","
                   "\"function\":{\"name\":\"get_weather\",\"arguments\":\"\"}}]}",
                   "null") TCHUNK("{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":"
                                  "\"{\\\"city\\\":\"}}]}",
                                  "null") TCHUNK("{\"tool_calls\":[{\"index\":0,\"function\":{"
                                                 "\"arguments\":"
                                                 "\"\\\"Paris\\\"}\"}}]}",
                                                 "null")
                TCHUNK("{}",
                       "\"tool_calls\"") "-|{\"id\":\"msg_T\",\"object\":\"chat.completion.chunk\","
                                         "\"created\":0,\"model\":\"claude-x\",\"choices\":[],"
                                         "\"usage\":"
                                         "{\"prompt_tokens\":260,\"completion_tokens\":30,\"total_"
                                         "tokens\":290,"
                                         "\"prompt_tokens_details\":{\"cached_tokens\":200}}}\n");
    ck_assert(r.s.done);
    ck_assert_int_eq(r.s.usage.prompt_tokens, 260);
    ck_assert_int_eq(r.s.usage.completion_tokens, 30);
    ck_assert_int_eq(r.s.usage.total_tokens, 290);
    /* Hmm 3, "Café 😀" 10, get_weather 11, arguments 16 */
    ck_assert_uint_eq(r.s.gen_bytes, 3 + 10 + 11 + 16);
}
END_TEST

static const char error_stream[] =
    EV("message_start", "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_E\",\"model\":"
                        "\"m\",\"usage\":{\"input_tokens\":7,\"output_tokens\":1}}}")
        EV("content_block_delta", "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":"
                                  "{\"type\":\"text_delta\",\"text\":\"Hi\"}}")
            EV("error", "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\","
                        "\"message\":\"Overloaded\"}}")
                EV("message_stop", "{\"type\":\"message_stop\"}");

START_TEST(stream_error_event)
{
    static struct tx_run r;
    const char *p;

    tx_run_everywhere(&r, anth(), error_stream, true);
    ck_assert(r.s.failed);
    ck_assert(!r.s.done);
    ck_assert_str_eq(r.s.error, "Overloaded");
    ck_assert_int_eq(r.k.n, 2); /* role, "Hi"; nothing for the error or after it */
    ck_assert_ptr_nonnull(strstr(r.k.log, "\"Hi\""));
    ck_assert_int_eq(r.s.usage.prompt_tokens, 7);

    /* Malformed data fails the stream without emitting. */
    static const char *const bad[] = {"not json", "[1]", "{\"no\":\"type\"}", ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&r, 0, sizeof(r));
        ck_assert_int_eq(anth()->chat_event(&r.s, "message", bad[i], strlen(bad[i]), tx_emit, &r.k),
                         0);
        ck_assert_msg(r.s.failed, "not failed: %s", bad[i]);
        ck_assert_int_eq(r.k.n, 0);
    }
    /* An event type not known yet is ignored. */
    memset(&r, 0, sizeof(r));
    p = "{\"type\":\"future_event\"}";
    ck_assert_int_eq(anth()->chat_event(&r.s, "x", p, strlen(p), tx_emit, &r.k), 0);
    ck_assert(!r.s.failed);
    ck_assert_int_eq(r.k.n, 0);
}
END_TEST

/* ---- The native table ---- */

START_TEST(native_build)
{
    struct prov_confs *pc;
    struct tx_built b;

    clear_env();
    pc = tx_confs("{\"anthropic\":{\"api_key\":\"sk-ant-prov\",\"api_base\":\"http://up:1\","
                  "\"top_k\":3,\"temperature\":0.1}}");
    build_with(native(), &b, tx_conf(pc, "anthropic"),
               "{\"model\":\"anthropic:claude-x\",\"max_tokens\":5,\"temperature\":0.7,"
               "\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"hi\","
               "\"cache_control\":{\"type\":\"ephemeral\"}}]}],\"top_p\":0.3,\"stream\":true}",
               true, "2024-01-01", "tools-2024,pdfs");
    tx_body_is(&b, "{\"model\":\"claude-x\",\"max_tokens\":5,\"temperature\":0.7,\"messages\":"
                   "[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"hi\","
                   "\"cache_control\":{\"type\":\"ephemeral\"}}]}],\"top_p\":0.3,\"stream\":true,"
                   "\"top_k\":3}");
    ck_assert(!b.client_usage);
    ck_assert_str_eq(b.h.url, "http://up:1/v1/messages");
    ck_assert_str_eq(tx_header(&b.h, "x-api-key"), "sk-ant-prov");
    ck_assert_str_eq(tx_header(&b.h, "anthropic-version"), "2024-01-01");
    ck_assert_str_eq(tx_header(&b.h, "anthropic-beta"), "tools-2024,pdfs");
    ck_assert_ptr_null(tx_header(&b.h, "Authorization"));
    tx_built_free(&b);

    /* Without client headers: the default version, no beta. */
    build_with(native(), &b, tx_conf(pc, "anthropic"),
               "{\"model\":\"x\",\"max_tokens\":5,\"messages\":[]}", false, NULL, NULL);
    ck_assert_msg(b.rc == 0, "%s", b.err);
    ck_assert_str_eq(tx_header(&b.h, "anthropic-version"), "2023-06-01");
    ck_assert_ptr_null(tx_header(&b.h, "anthropic-beta"));
    ck_assert_str_eq(json_string_value(json_object_get(b.body, "model")), "claude-x");
    tx_built_free(&b);
    prov_confs_free(pc);

    pc = tx_confs("{\"azureanthropic\":{\"api_key\":\"az\"}}");
    build_with(native(), &b, tx_conf(pc, "azureanthropic"), "{\"model\":\"x\"}", false, NULL, NULL);
    ck_assert_int_eq(b.rc, -1);
    tx_built_free(&b);
    prov_confs_free(pc);
}
END_TEST

START_TEST(native_reply)
{
    struct prov_usage u;
    size_t gen;
    char *out = (char *)1;
    size_t out_len = 9;

    ck_assert_int_eq(
        native()->chat_reply(reply_fixture, strlen(reply_fixture), &u, &gen, &out, &out_len), 0);
    ck_assert_ptr_null(out); /* relayed untouched */
    ck_assert_uint_eq(out_len, 0);
    ck_assert(u.seen);
    ck_assert_int_eq(u.prompt_tokens, 120);
    ck_assert_int_eq(u.completion_tokens, 40);
    ck_assert_int_eq(u.total_tokens, 160);
    ck_assert_uint_eq(gen, 13 + 11 + 16);
}
END_TEST

START_TEST(native_events)
{
    static struct tx_run r;
    char expect[4096];
    const char *p;
    size_t n = 0;

    /* Each event relayed with its JSON type, data byte for byte (the sink only zeroes
       "created", which Anthropic events do not have). */
    tx_run_everywhere(&r, native(), tool_stream, false);
    for (p = tool_stream; (p = strstr(p, "data: ")) != NULL;) {
        const char *end = strstr(p, "\n\n");
        const char *type = strstr(p, "\"type\":\"") + 8;
        n += (size_t)snprintf(expect + n, sizeof(expect) - n, "%.*s|%.*s\n",
                              (int)(strchr(type, '"') - type), type, (int)(end - p - 6), p + 6);
        p = end;
    }
    ck_assert_str_eq(r.k.log, expect);
    ck_assert_int_eq(r.k.n, 15);
    ck_assert(r.s.done);
    ck_assert(!r.s.failed);
    ck_assert_int_eq(r.s.usage.prompt_tokens, 260);
    ck_assert_int_eq(r.s.usage.completion_tokens, 30);
    ck_assert_int_eq(r.s.usage.total_tokens, 290);
    ck_assert_uint_eq(r.s.gen_bytes, 3 + 10 + 11 + 16);

    /* The type comes from the JSON, not the event name; an error is not relayed. */
    tx_run_everywhere(&r, native(), error_stream, false);
    ck_assert(r.s.failed);
    ck_assert(!r.s.done);
    ck_assert_str_eq(r.s.error, "Overloaded");
    ck_assert_int_eq(r.k.n, 2);
    ck_assert_int_eq(strncmp(r.k.log, "message_start|", 14), 0);
    ck_assert_ptr_null(strstr(r.k.log, "error|"));
    ck_assert_int_eq(r.s.usage.prompt_tokens, 7);
}
END_TEST

/* ---- Errors ---- */

START_TEST(error_bodies)
{
    char msg[64], code[32];
    const char *body = "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":"
                       "\"Overloaded\\nnow\"},\"request_id\":\"req_1\"}";

    anth()->error_message(body, strlen(body), msg, sizeof(msg), code, sizeof(code));
    ck_assert_str_eq(msg, "Overloaded now");
    ck_assert_str_eq(code, "overloaded_error");
    native()->error_message(body, strlen(body), msg, sizeof(msg), NULL, 0);
    ck_assert_str_eq(msg, "Overloaded now");

    body = "{\"message\":\"Unauthorized\"}"; /* a front end's own shape */
    anth()->error_message(body, strlen(body), msg, sizeof(msg), code, sizeof(code));
    ck_assert_str_eq(msg, "Unauthorized");
    ck_assert_str_eq(code, "");

    body = "<html>\r\nBad Gateway</html>";
    anth()->error_message(body, strlen(body), msg, sizeof(msg), code, sizeof(code));
    ck_assert_str_eq(msg, "<html>  Bad Gateway</html>");

    /* Cut to the buffer without splitting a UTF-8 sequence. */
    body = "{\"error\":{\"message\":\"abcd\xE2\x82\xAC\"}}";
    anth()->error_message(body, strlen(body), msg, 6, code, sizeof(code));
    ck_assert_str_eq(msg, "abcd");
}
END_TEST

Suite *anthropic_suite(void)
{
    Suite *s = suite_create("anthropic");
    TCase *tc;

    tc = tcase_create("build");
    tcase_add_test(tc, tables);
    tcase_add_test(tc, http_line_and_headers);
    tcase_add_test(tc, build_fields);
    tcase_add_test(tc, build_parts);
    tcase_add_test(tc, build_tool_turns);
    tcase_add_test(tc, build_tools_and_choice);
    tcase_add_test(tc, build_output_and_reasoning);
    suite_add_tcase(s, tc);

    tc = tcase_create("reply");
    tcase_add_test(tc, reply_tool_fixture);
    tcase_add_test(tc, reply_thinking_cache_and_stops);
    tcase_add_test(tc, reply_malformed);
    suite_add_tcase(s, tc);

    tc = tcase_create("stream");
    tcase_add_test(tc, stream_text_fixture);
    tcase_add_test(tc, stream_tool_fixture);
    tcase_add_test(tc, stream_error_event);
    suite_add_tcase(s, tc);

    tc = tcase_create("native");
    tcase_add_test(tc, native_build);
    tcase_add_test(tc, native_reply);
    tcase_add_test(tc, native_events);
    suite_add_tcase(s, tc);

    tc = tcase_create("errors");
    tcase_add_test(tc, error_bodies);
    suite_add_tcase(s, tc);
    return s;
}
