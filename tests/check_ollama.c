/*
 * Unit tests of the Ollama native dialect (providers.md §10) and the Voyage dialect (§12): the
 * Ollama request mapping ("stream" always explicit, options with num_ctx from the config, images,
 * tool calls and results, format, think), the §15 fixtures (tool reply, NDJSON stream fed through
 * prov_ndjson cut at every byte, 404 body), embeddings of both, Voyage's chat refusal and errors;
 * and prov_ndjson itself (CRLF, empty lines, a last line without newline, the line limit).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "providers/prov_ndjson.h"
#include "t_xlate.h"

static const struct prov_dialect_ops *ol(void)
{
    return prov_dialect_get(PROV_D_OLLAMA);
}

static const struct prov_dialect_ops *vo(void)
{
    return prov_dialect_get(PROV_D_VOYAGE);
}

#define USER_HI "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]"
#define HI_MSGS "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]"

START_TEST(table_and_http)
{
    struct prov_confs *pc;
    struct tx_built b;

    ck_assert_ptr_eq(ol(), &prov_dialect_ollama);
    ck_assert_int_eq(ol()->framing, PROV_FRAME_NDJSON);
    unsetenv("OLLAMA_HOST");
    pc = tx_confs(NULL);
    /* §15: "stream":false on a non-streaming call, options.num_ctx (default 32000), no auth. */
    tx_build(&b, ol(), tx_conf(pc, "ollama"), "{" USER_HI "}", false, false);
    tx_body_is(&b,
               "{\"model\":\"m1\"," HI_MSGS ",\"stream\":false,\"options\":{\"num_ctx\":32000}}");
    ck_assert_str_eq(b.h.url, "http://localhost:11434/api/chat");
    ck_assert_ptr_null(tx_header(&b.h, "Authorization"));
    ck_assert_str_eq(tx_header(&b.h, "Accept"), "application/json");
    tx_built_free(&b);
    prov_confs_free(pc);

    /* OLLAMA_HOST without a scheme; stream true; include_usage read. */
    setenv("OLLAMA_HOST", "127.0.0.1:9", 1);
    pc = tx_confs(NULL);
    tx_build(&b, ol(), tx_conf(pc, "ollama"),
             "{" USER_HI ",\"stream\":true,\"stream_options\":{\"include_usage\":true}}", true,
             false);
    ck_assert_str_eq(b.h.url, "http://127.0.0.1:9/api/chat");
    ck_assert(json_is_true(json_object_get(b.body, "stream")));
    ck_assert_ptr_null(json_object_get(b.body, "stream_options"));
    ck_assert(b.client_usage);
    ck_assert_str_eq(tx_header(&b.h, "Accept"), "application/x-ndjson");
    tx_built_free(&b);
    prov_confs_free(pc);
    unsetenv("OLLAMA_HOST");

    /* A configured key (then Bearer), num_ctx and keep_alive from the config, a default
       temperature merged, unknown config keys not sent. */
    pc = tx_confs("{\"ollama\":{\"api_key\":\"ok\",\"api_base\":\"https://ol.example/\","
                  "\"num_ctx\":8192,\"keep_alive\":\"5m\",\"temperature\":0.1,\"mirostat\":1}}");
    tx_build(&b, ol(), tx_conf(pc, "ollama"), "{" USER_HI "}", false, false);
    tx_body_is(&b, "{\"model\":\"m1\"," HI_MSGS ",\"stream\":false,\"keep_alive\":\"5m\","
                   "\"options\":{\"temperature\":0.1,\"num_ctx\":8192}}");
    ck_assert_str_eq(b.h.url, "https://ol.example/api/chat");
    ck_assert_str_eq(tx_header(&b.h, "Authorization"), "Bearer ok");
    tx_built_free(&b);
    prov_confs_free(pc);

    /* num_ctx 0: Ollama's own default (not sent); a bad num_ctx is the config's fault (-1). */
    pc = tx_confs("{\"ollama\":{\"num_ctx\":0}}");
    tx_build(&b, ol(), tx_conf(pc, "ollama"), "{" USER_HI "}", false, false);
    tx_body_is(&b, "{\"model\":\"m1\"," HI_MSGS ",\"stream\":false,\"options\":{}}");
    tx_built_free(&b);
    prov_confs_free(pc);
    pc = tx_confs("{\"ollama\":{\"num_ctx\":\"big\"}}");
    tx_build(&b, ol(), tx_conf(pc, "ollama"), "{" USER_HI "}", false, false);
    ck_assert_int_eq(b.rc, -1);
    ck_assert_ptr_nonnull(strstr(b.err, "providers.ollama.num_ctx"));
    tx_built_free(&b);
    prov_confs_free(pc);
}
END_TEST

START_TEST(build_fields)
{
    struct prov_confs *pc = tx_confs("{\"ollama\":{}}");
    const struct prov_conf *c = tx_conf(pc, "ollama");
    struct tx_built b;
    json_t *e;

    tx_build(&b, ol(), c,
             "{" USER_HI ",\"max_tokens\":5,\"max_completion_tokens\":9,\"temperature\":0.2,"
             "\"top_p\":0.9,\"top_k\":4,\"seed\":3,\"presence_penalty\":0.5,"
             "\"frequency_penalty\":0.25,\"stop\":\"END\",\"user\":\"u\",\"n\":1,"
             "\"logit_bias\":{},\"parallel_tool_calls\":false,"
             "\"response_format\":{\"type\":\"json_object\"},\"reasoning_effort\":\"none\"}",
             false, false);
    tx_body_is(&b, "{\"model\":\"m1\"," HI_MSGS ",\"stream\":false,\"format\":\"json\","
                   "\"think\":false,\"options\":{\"temperature\":0.2,\"top_p\":0.9,\"top_k\":4,"
                   "\"seed\":3,\"presence_penalty\":0.5,\"frequency_penalty\":0.25,"
                   "\"num_predict\":9,\"stop\":[\"END\"],\"num_ctx\":32000}}");
    tx_built_free(&b);
    tx_build(&b, ol(), c,
             "{" USER_HI ",\"response_format\":{\"type\":\"json_schema\",\"json_schema\":"
             "{\"schema\":{\"type\":\"object\"}}},\"reasoning_effort\":\"xhigh\"}",
             false, false);
    e = tx_load("{\"type\":\"object\"}");
    ck_assert(json_equal(json_object_get(b.body, "format"), e));
    json_decref(e);
    ck_assert_str_eq(json_string_value(json_object_get(b.body, "think")), "high");
    tx_built_free(&b);
    tx_build(&b, ol(), c, "{" USER_HI ",\"reasoning_effort\":\"minimal\"}", false, false);
    ck_assert_str_eq(json_string_value(json_object_get(b.body, "think")), "low");
    tx_built_free(&b);

    tx_rejects(ol(), c, "{" USER_HI ",\"max_tokens\":-1}", false, "max_tokens");
    tx_rejects(ol(), c, "{" USER_HI ",\"stop\":{}}", false, "stop");
    tx_rejects(ol(), c, "{" USER_HI ",\"seed\":\"x\"}", false, "seed");
    tx_rejects(ol(), c, "{" USER_HI ",\"response_format\":{\"type\":\"xml\"}}", false, "xml");
    tx_rejects(ol(), c, "{" USER_HI ",\"reasoning_effort\":3}", false, "reasoning_effort");
    prov_confs_free(pc);
}
END_TEST

START_TEST(build_messages_and_tools)
{
    struct prov_confs *pc = tx_confs("{\"ollama\":{\"num_ctx\":null}}");
    const struct prov_conf *c = tx_conf(pc, "ollama");
    struct tx_built b;

    tx_build(&b, ol(), c,
             "{\"messages\":["
             "{\"role\":\"developer\",\"content\":[{\"type\":\"text\",\"text\":\"a\"},"
             "{\"type\":\"text\",\"text\":\"b\"}]},"
             "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"What\"},"
             "{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/png;base64,QUJD\"}},"
             "{\"type\":\"text\",\"text\":\"is this?\"}]},"
             "{\"role\":\"assistant\",\"content\":null,\"reasoning\":{\"content\":\"r\"},"
             "\"tool_calls\":[{\"id\":\"c1\",\"type\":\"function\",\"function\":{\"name\":"
             "\"get_weather\",\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}},{\"id\":\"c2\","
             "\"function\":{\"name\":\"now\",\"arguments\":\"\"}}]},"
             "{\"role\":\"tool\",\"tool_call_id\":\"c2\",\"content\":\"noon\"},"
             "{\"role\":\"tool\",\"tool_call_id\":\"c1\",\"content\":[{\"type\":\"text\","
             "\"text\":\"sunny\"}]},"
             "{\"role\":\"tool\",\"tool_call_id\":\"zz\",\"content\":\"?\"}],"
             "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
             "\"parameters\":{\"type\":\"object\"},\"strict\":true}}],\"tool_choice\":"
             "\"required\"}",
             false, false);
    tx_body_is(&b, "{\"model\":\"m1\",\"stream\":false,\"options\":{},\"messages\":["
                   "{\"role\":\"system\",\"content\":\"a\\nb\"},"
                   "{\"role\":\"user\",\"content\":\"What is this?\",\"images\":[\"QUJD\"]},"
                   "{\"role\":\"assistant\",\"content\":\"\",\"thinking\":\"r\",\"tool_calls\":["
                   "{\"function\":{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Paris\"}}},"
                   "{\"function\":{\"name\":\"now\",\"arguments\":{}}}]},"
                   "{\"role\":\"tool\",\"content\":\"noon\",\"tool_name\":\"now\"},"
                   "{\"role\":\"tool\",\"content\":\"sunny\",\"tool_name\":\"get_weather\"},"
                   "{\"role\":\"tool\",\"content\":\"?\"}],"
                   "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
                   "\"parameters\":{\"type\":\"object\"}}}]}");
    tx_built_free(&b);
    /* tool_choice none: no tools sent. */
    tx_build(&b, ol(), c,
             "{" USER_HI ",\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}],"
             "\"tool_choice\":\"none\"}",
             false, false);
    ck_assert_ptr_null(json_object_get(b.body, "tools"));
    tx_built_free(&b);

    tx_rejects(ol(), c,
               "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\","
               "\"image_url\":{\"url\":\"https://x/y.png\"}}]}]}",
               false, "data URIs only");
    tx_rejects(ol(), c,
               "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"file\",\"file\":{}}]}]}",
               false, "'file'");
    tx_rejects(ol(), c,
               "{\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"c\",\"function\":"
               "{\"name\":\"f\",\"arguments\":\"[1]\"}}]}]}",
               false, "not a JSON object");
    tx_rejects(ol(), c,
               "{\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"c\",\"function\":"
               "{\"name\":\"f\",\"arguments\":\"{bad\"}}]}]}",
               false, "not a JSON object");
    tx_rejects(ol(), c, "{\"messages\":[{\"role\":\"oracle\",\"content\":\"x\"}]}", false,
               "'oracle'");
    tx_rejects(ol(), c, "{\"messages\":[{\"role\":\"user\",\"content\":5}]}", false,
               "messages[0].content");
    tx_rejects(ol(), c, "{" USER_HI ",\"tools\":[{}]}", false, "tools[0]");
    prov_confs_free(pc);
}
END_TEST

/* ---- Replies ---- */

/* §10.1 / §15 (1). */
static const char reply_fixture[] =
    "{\"model\":\"llama3.2\",\"created_at\":\"2026-01-05T10:00:00.123456789Z\","
    "\"message\":{\"role\":\"assistant\",\"content\":\"\",\"thinking\":\"Let me see.\","
    "\"tool_calls\":[{\"function\":{\"name\":\"get_weather\",\"arguments\":{\"city\":"
    "\"Paris\"}}}]},\"done\":true,\"done_reason\":\"stop\",\"total_duration\":812000000,"
    "\"load_duration\":2000000,\"prompt_eval_count\":41,\"prompt_eval_duration\":90000000,"
    "\"eval_count\":17,\"eval_duration\":700000000}";

START_TEST(reply_tool_fixture)
{
    struct prov_usage u;
    size_t gen;
    json_t *r = tx_reply(ol(), reply_fixture, &u, &gen), *ch, *msg, *call, *e;

    ch = json_array_get(json_object_get(r, "choices"), 0);
    msg = json_object_get(ch, "message");
    call = json_array_get(json_object_get(msg, "tool_calls"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(r, "model")), "llama3.2");
    ck_assert_int_eq(json_integer_value(json_object_get(r, "created")), 1767607200);
    ck_assert_str_eq(json_string_value(json_object_get(ch, "finish_reason")), "tool_calls");
    ck_assert(json_is_null(json_object_get(msg, "content")));
    ck_assert_str_eq(
        json_string_value(json_object_get(json_object_get(msg, "reasoning"), "content")),
        "Let me see.");
    ck_assert_str_eq(json_string_value(json_object_get(call, "type")), "function");
    ck_assert_int_eq(strncmp(json_string_value(json_object_get(call, "id")), "call_", 5), 0);
    ck_assert_str_eq(
        json_string_value(json_object_get(json_object_get(call, "function"), "arguments")),
        "{\"city\":\"Paris\"}");
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(call, "function"), "name")),
                     "get_weather");
    e = tx_load("{\"prompt_tokens\":41,\"completion_tokens\":17,\"total_tokens\":58}");
    ck_assert(json_equal(json_object_get(r, "usage"), e));
    json_decref(e);
    ck_assert(u.seen);
    ck_assert_int_eq(u.prompt_tokens, 41);
    ck_assert_int_eq(u.completion_tokens, 17);
    ck_assert_uint_eq(gen, 11 + 11 + 16);
    json_decref(r);
}
END_TEST

START_TEST(reply_text_think_and_finish)
{
    struct prov_usage u;
    size_t gen;
    json_t *r, *ch, *msg;

    /* No thinking field: a <think> prefix of the content is the reasoning; length; no counts. */
    r = tx_reply(ol(),
                 "{\"model\":\"qwen3\",\"message\":{\"role\":\"assistant\",\"content\":"
                 "\"<think>hmm</think>\\n\\nHello\"},\"done\":true,\"done_reason\":\"length\"}",
                 &u, &gen);
    ch = json_array_get(json_object_get(r, "choices"), 0);
    msg = json_object_get(ch, "message");
    ck_assert_str_eq(json_string_value(json_object_get(msg, "content")), "Hello");
    ck_assert_str_eq(
        json_string_value(json_object_get(json_object_get(msg, "reasoning"), "content")), "hmm");
    ck_assert_str_eq(json_string_value(json_object_get(ch, "finish_reason")), "length");
    ck_assert(!u.seen);
    ck_assert_ptr_null(json_object_get(r, "usage"));
    ck_assert(json_integer_value(json_object_get(r, "created")) > 1700000000); /* now */
    json_decref(r);

    r = tx_reply(ol(),
                 "{\"model\":\"m\",\"message\":{\"role\":\"assistant\",\"content\":\"Hi\"},"
                 "\"done\":true,\"done_reason\":\"unload\",\"eval_count\":2}",
                 &u, &gen);
    ch = json_array_get(json_object_get(r, "choices"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(ch, "finish_reason")), "stop");
    ck_assert_ptr_null(json_object_get(json_object_get(ch, "message"), "reasoning"));
    ck_assert(u.seen);
    ck_assert_int_eq(u.prompt_tokens, 0);
    ck_assert_int_eq(u.completion_tokens, 2);
    ck_assert_uint_eq(gen, 2);
    json_decref(r);

    {
        char *out = (char *)1;
        size_t n;
        ck_assert_int_eq(ol()->chat_reply("{\"done\":true}", 13, &u, &gen, &out, &n), -1);
        ck_assert_ptr_null(out);
        ck_assert_int_eq(ol()->chat_reply("x", 1, &u, &gen, &out, &n), -1);
    }
}
END_TEST

/* ---- Streams ---- */

/* §15 (2), the last line without its newline. */
static const char text_stream[] =
    "{\"model\":\"llama3.2\",\"created_at\":\"2026-01-05T10:00:00Z\",\"message\":{\"role\":"
    "\"assistant\",\"content\":\"Hel\"},\"done\":false}\n"
    "{\"model\":\"llama3.2\",\"created_at\":\"2026-01-05T10:00:01Z\",\"message\":{\"role\":"
    "\"assistant\",\"content\":\"lo\"},\"done\":false}\r\n\n"
    "{\"model\":\"llama3.2\",\"message\":{\"role\":\"assistant\",\"content\":\"\"},\"done\":true,"
    "\"done_reason\":\"stop\",\"prompt_eval_count\":5,\"eval_count\":2}";

#define CHUNK(delta, finish)                                                                       \
    "-|{\"id\":\"chatcmpl-GEN\",\"object\":\"chat.completion.chunk\",\"created\":0,\"model\":"     \
    "\"llama3.2\",\"choices\":[{\"index\":0,\"delta\":" delta ",\"finish_reason\":" finish "}]}\n"
#define ROLE "{\"role\":\"assistant\",\"content\":\"\"}"

START_TEST(stream_text_fixture)
{
    static struct tx_run r;

    for (int cu = 0; cu <= 1; cu++) {
        tx_run_everywhere(&r, ol(), text_stream, cu == 1);
        ck_assert_str_eq(
            r.k.log,
            cu == 1
                ? CHUNK(ROLE, "null") CHUNK("{\"content\":\"Hel\"}",
                                            "null") CHUNK("{\"content\":\"lo\"}", "null")
                      CHUNK("{}",
                            "\"stop\"") "-|{\"id\":\"chatcmpl-GEN\",\"object\":\"chat.completion."
                                        "chunk\",\"created\":0,\"model\":\"llama3.2\",\"choices\":"
                                        "[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2,"
                                        "\"total_tokens\":7}}\n"
                : CHUNK(ROLE, "null") CHUNK("{\"content\":\"Hel\"}", "null")
                      CHUNK("{\"content\":\"lo\"}", "null") CHUNK("{}", "\"stop\""));
        ck_assert(r.s.done);
        ck_assert(!r.s.failed);
        ck_assert_int_eq(r.s.usage.prompt_tokens, 5);
        ck_assert_int_eq(r.s.usage.completion_tokens, 2);
        ck_assert_int_eq(r.s.usage.total_tokens, 7);
        ck_assert_uint_eq(r.s.gen_bytes, 5);
        /* One created for the whole stream: the first line's. */
        ck_assert_int_eq(r.s.x.created, 1767607200);
    }
}
END_TEST

START_TEST(stream_tools_thinking_and_errors)
{
    static struct tx_run r;

    tx_run_everywhere(
        &r, ol(),
        "{\"model\":\"llama3.2\",\"message\":{\"role\":\"assistant\",\"thinking\":\"hm\","
        "\"content\":\"\"},\"done\":false}\n"
        "{\"model\":\"llama3.2\",\"message\":{\"role\":\"assistant\",\"content\":\"\","
        "\"tool_calls\":[{\"function\":{\"name\":\"a\",\"arguments\":{\"x\":1}}}]},"
        "\"done\":false}\n"
        "{\"model\":\"llama3.2\",\"message\":{\"role\":\"assistant\",\"content\":\"\","
        "\"tool_calls\":[{\"id\":\"k2\",\"function\":{\"name\":\"b\",\"arguments\":{}}}]},"
        "\"done\":false}\n"
        "{\"model\":\"llama3.2\",\"message\":{\"role\":\"assistant\",\"content\":\"\"},"
        "\"done\":true,\"done_reason\":\"stop\",\"prompt_eval_count\":3,\"eval_count\":4}\n",
        false);
    ck_assert_str_eq(
        r.k.log,
        CHUNK(ROLE, "null") CHUNK("{\"reasoning\":{\"content\":\"hm\"}}", "null")
            CHUNK("{\"tool_calls\":[{\"index\":0,\"id\":\"call_GEN\",\"type\":\"function\","
                  "\"function\":{\"name\":\"a\",\"arguments\":\"\"}}]}",
                  "null") CHUNK("{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":"
                                "\"{\\\"x\\\":1}\"}}]}",
                                "null")
                CHUNK("{\"tool_calls\":[{\"index\":1,\"id\":\"k2\",\"type\":\"function\","
                      "\"function\":{\"name\":\"b\",\"arguments\":\"\"}}]}",
                      "null") CHUNK("{\"tool_calls\":[{\"index\":1,\"function\":{\"arguments\":"
                                    "\"{}\"}}]}",
                                    "null") CHUNK("{}", "\"tool_calls\""));
    ck_assert(r.s.done);
    ck_assert_int_eq(r.s.usage.total_tokens, 7);

    /* A mid-stream error line. */
    tx_run_everywhere(&r, ol(),
                      "{\"model\":\"llama3.2\",\"message\":{\"content\":\"a\"},\"done\":false}\n"
                      "{\"error\":\"out of\\nmemory\"}\n"
                      "{\"model\":\"llama3.2\",\"message\":{\"content\":\"b\"},\"done\":false}\n",
                      false);
    ck_assert(r.s.failed);
    ck_assert(!r.s.done);
    ck_assert_str_eq(r.s.error, "out of memory");
    ck_assert_str_eq(r.k.log, CHUNK(ROLE, "null") CHUNK("{\"content\":\"a\"}", "null"));
    tx_run_everywhere(&r, ol(), "not json\n", false);
    ck_assert(r.s.failed);
    ck_assert_str_eq(r.s.error, "malformed stream line from the provider");
}
END_TEST

/* ---- prov_ndjson ---- */

struct lines {
    char log[512];
    int n;
    int stop_at; /* the callback returns 7 on this line (1-based), 0: never */
};

static int on_line(const char *line, size_t len, void *arg)
{
    struct lines *l = arg;

    ck_assert_uint_eq(strlen(line), len);
    strncat(l->log, line, sizeof(l->log) - strlen(l->log) - 2);
    strcat(l->log, "|");
    return ++l->n == l->stop_at ? 7 : 0;
}

START_TEST(ndjson_framing)
{
    static const char text[] = "a\r\n\n\r\nbc\nd\r\n\ne";
    struct prov_ndjson p;
    struct lines l;
    size_t n = strlen(text);

    /* Every split gives the same lines: CRLF dropped, empty lines skipped, a last line kept. */
    for (size_t cut = 0; cut <= n; cut++) {
        memset(&l, 0, sizeof(l));
        prov_ndjson_init(&p, 0, on_line, &l);
        ck_assert_int_eq(prov_ndjson_feed(&p, text, cut), 0);
        ck_assert_int_eq(prov_ndjson_feed(&p, text + cut, n - cut), 0);
        ck_assert_int_eq(prov_ndjson_finish(&p), 0);
        ck_assert_str_eq(l.log, "a|bc|d|e|");
        prov_ndjson_cleanup(&p);
    }
    /* Byte by byte. */
    memset(&l, 0, sizeof(l));
    prov_ndjson_init(&p, 0, on_line, &l);
    for (size_t i = 0; i < n; i++)
        ck_assert_int_eq(prov_ndjson_feed(&p, text + i, 1), 0);
    ck_assert_int_eq(prov_ndjson_finish(&p), 0);
    ck_assert_str_eq(l.log, "a|bc|d|e|");
    /* finish resets: the parser serves another stream; a lone "\r" is an empty line. */
    memset(&l, 0, sizeof(l));
    ck_assert_int_eq(prov_ndjson_feed(&p, "\r", 1), 0);
    ck_assert_int_eq(prov_ndjson_finish(&p), 0);
    ck_assert_int_eq(l.n, 0);
    prov_ndjson_cleanup(&p);
    prov_ndjson_cleanup(NULL);

    /* A callback's non-zero value stops the feed and sticks. */
    memset(&l, 0, sizeof(l));
    l.stop_at = 2;
    prov_ndjson_init(&p, 0, on_line, &l);
    ck_assert_int_eq(prov_ndjson_feed(&p, "x\ny\nz\n", 6), 7);
    ck_assert_int_eq(prov_ndjson_feed(&p, "w\n", 2), -1);
    ck_assert_str_eq(l.log, "x|y|");
    prov_ndjson_cleanup(&p);
}
END_TEST

START_TEST(ndjson_line_limit)
{
    struct prov_ndjson p;
    struct lines l;

    /* A line of exactly max bytes passes (a CR before the newline counts towards the limit). */
    memset(&l, 0, sizeof(l));
    prov_ndjson_init(&p, 4, on_line, &l);
    ck_assert_int_eq(prov_ndjson_feed(&p, "abcd\n", 5), 0);
    ck_assert_str_eq(l.log, "abcd|");
    /* One byte more fails, however it is split, and the parser stays failed. */
    ck_assert_int_eq(prov_ndjson_feed(&p, "ab", 2), 0);
    ck_assert_int_eq(prov_ndjson_feed(&p, "cde", 3), -1);
    ck_assert_int_eq(prov_ndjson_feed(&p, "\n", 1), -1);
    ck_assert_int_eq(l.n, 1);
    prov_ndjson_cleanup(&p);
    memset(&l, 0, sizeof(l));
    prov_ndjson_init(&p, 4, on_line, &l);
    ck_assert_int_eq(prov_ndjson_feed(&p, "abcde\n", 6), -1);
    ck_assert_int_eq(l.n, 0);
    prov_ndjson_cleanup(&p);
    /* The default limit is used for max 0. */
    prov_ndjson_init(&p, 0, on_line, &l);
    ck_assert_uint_eq(p.max, PROV_NDJSON_DEFAULT_MAX);
    prov_ndjson_cleanup(&p);
}
END_TEST

/* ---- Errors ---- */

START_TEST(error_bodies)
{
    char msg[128], code[32];

    /* §15 (3): the 404 body. */
    tx_error(ol(), "{\"error\":\"model \\\"x\\\" not found, try pulling it first\"}", msg,
             sizeof(msg), code, sizeof(code));
    ck_assert_str_eq(msg, "model \"x\" not found, try pulling it first");
    ck_assert_str_eq(code, "");
    tx_error(ol(), "{\"error\":{\"message\":\"openai-shaped\",\"type\":\"x\"}}", msg, sizeof(msg),
             NULL, 0);
    ck_assert_str_eq(msg, "openai-shaped");
    tx_error(ol(), "404 page not found", msg, sizeof(msg), code, sizeof(code));
    ck_assert_str_eq(msg, "404 page not found");

    /* Voyage: {"detail": ...} (§15: the 401 body). */
    tx_error(vo(), "{\"detail\":\"Provided API key is invalid.\"}", msg, sizeof(msg), code,
             sizeof(code));
    ck_assert_str_eq(msg, "Provided API key is invalid.");
    ck_assert_str_eq(code, "");
}
END_TEST

/* ---- Embeddings ---- */

START_TEST(ollama_embeddings)
{
    struct prov_confs *pc = tx_confs("{\"ollama\":{}}");
    struct tx_built b;
    struct prov_usage u;
    json_t *r, *e;

    tx_build(&b, ol(), tx_conf(pc, "ollama"),
             "{\"input\":\"hi\",\"dimensions\":64,\"user\":\"u\",\"encoding_format\":\"base64\"}",
             false, true);
    tx_body_is(&b, "{\"model\":\"m1\",\"input\":[\"hi\"],\"dimensions\":64}");
    ck_assert_str_eq(b.h.url, "http://localhost:11434/api/embed");
    tx_built_free(&b);
    tx_rejects(ol(), tx_conf(pc, "ollama"), "{\"input\":[1,2]}", true, "input[0]");

    r = tx_embed_reply(ol(),
                       "{\"model\":\"all-minilm\",\"embeddings\":[[0.5,1],[2,3]],"
                       "\"total_duration\":1,\"prompt_eval_count\":6}",
                       &u);
    e = tx_load("{\"object\":\"list\",\"data\":[{\"object\":\"embedding\",\"index\":0,"
                "\"embedding\":[0.5,1]},{\"object\":\"embedding\",\"index\":1,\"embedding\":"
                "[2,3]}],\"model\":\"all-minilm\",\"usage\":{\"prompt_tokens\":6,"
                "\"total_tokens\":6}}");
    ck_assert(json_equal(r, e));
    json_decref(e);
    json_decref(r);
    ck_assert(u.seen);
    ck_assert_int_eq(u.prompt_tokens, 6);
    {
        char *out = (char *)1;
        size_t n;
        ck_assert_int_eq(ol()->embed_reply("{}", 2, &u, &out, &n), -1);
        ck_assert_ptr_null(out);
    }
    prov_confs_free(pc);
}
END_TEST

START_TEST(voyage)
{
    struct prov_confs *pc;
    struct tx_built b;
    struct prov_usage u;
    json_t *r, *e;

    ck_assert_ptr_eq(vo(), &prov_dialect_voyage);
    unsetenv("VOYAGE_API_BASE");
    setenv("VOYAGE_API_KEY", "vk", 1);
    pc = tx_confs(NULL);
    /* Chat: a clear 400, nothing built. */
    tx_rejects(vo(), tx_conf(pc, "voyage"), "{" USER_HI "}", false, "embeddings only");
    tx_build(&b, vo(), tx_conf(pc, "voyage"),
             "{\"input\":[\"a\",\"b\"],\"dimensions\":512,\"input_type\":\"query\","
             "\"truncation\":false,\"user\":\"u\",\"encoding_format\":\"float\"}",
             false, true);
    tx_body_is(&b, "{\"input\":[\"a\",\"b\"],\"model\":\"m1\",\"output_dtype\":\"float\","
                   "\"output_dimension\":512,\"input_type\":\"query\",\"truncation\":false}");
    ck_assert_str_eq(b.h.url, "https://api.voyageai.com/v1/embeddings");
    ck_assert_str_eq(tx_header(&b.h, "Authorization"), "Bearer vk");
    tx_built_free(&b);
    tx_rejects(vo(), tx_conf(pc, "voyage"), "{\"input\":\"a\",\"input_type\":\"poem\"}", true,
               "input_type");
    tx_rejects(vo(), tx_conf(pc, "voyage"), "{\"input\":[]}", true, "non-empty");
    prov_confs_free(pc);
    unsetenv("VOYAGE_API_KEY");

    /* §15: prompt_tokens = usage.total_tokens; data put in index order. */
    r = tx_embed_reply(vo(),
                       "{\"object\":\"list\",\"data\":[{\"object\":\"embedding\",\"embedding\":"
                       "[3],\"index\":1},{\"object\":\"embedding\",\"embedding\":[1.5],\"index\":"
                       "0}],\"model\":\"voyage-3\",\"usage\":{\"total_tokens\":9}}",
                       &u);
    e = tx_load("{\"object\":\"list\",\"data\":[{\"object\":\"embedding\",\"index\":0,"
                "\"embedding\":[1.5]},{\"object\":\"embedding\",\"index\":1,\"embedding\":[3]}],"
                "\"model\":\"voyage-3\",\"usage\":{\"prompt_tokens\":9,\"total_tokens\":9}}");
    ck_assert(json_equal(r, e));
    json_decref(e);
    json_decref(r);
    ck_assert(u.seen);
    ck_assert_int_eq(u.prompt_tokens, 9);
    ck_assert_int_eq(u.total_tokens, 9);
    {
        char *out = (char *)1;
        size_t n;
        const char *bad = "{\"data\":[{\"index\":5,\"embedding\":[1]}]}";
        ck_assert_int_eq(vo()->embed_reply(bad, strlen(bad), &u, &out, &n), -1);
        ck_assert_ptr_null(out);
    }
}
END_TEST

Suite *ollama_suite(void)
{
    Suite *s = suite_create("ollama");
    TCase *tc = tcase_create("ollama");

    tcase_add_test(tc, table_and_http);
    tcase_add_test(tc, build_fields);
    tcase_add_test(tc, build_messages_and_tools);
    tcase_add_test(tc, reply_tool_fixture);
    tcase_add_test(tc, reply_text_think_and_finish);
    tcase_add_test(tc, stream_text_fixture);
    tcase_add_test(tc, stream_tools_thinking_and_errors);
    tcase_add_test(tc, ndjson_framing);
    tcase_add_test(tc, ndjson_line_limit);
    tcase_add_test(tc, error_bodies);
    tcase_add_test(tc, ollama_embeddings);
    tcase_add_test(tc, voyage);
    suite_add_tcase(s, tc);
    return s;
}
