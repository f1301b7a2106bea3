/*
 * Unit tests of the Cohere v2 dialect (providers.md §9): the request mapping (every row of §9.1,
 * the refusals, no unknown keys), URL and headers, the §15 fixtures (tool reply, text stream fed
 * through prov_sse cut at every byte, 429 body, embed reply), tool and reasoning streams, errors
 * in message-end, and embeddings requests.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "t_xlate.h"

static const struct prov_dialect_ops *co(void)
{
    return prov_dialect_get(PROV_D_COHERE);
}

#define USER_HI "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]"

START_TEST(table_and_http)
{
    struct prov_confs *pc;
    struct tx_built b;

    ck_assert_ptr_eq(co(), &prov_dialect_cohere);
    ck_assert_int_eq(co()->framing, PROV_FRAME_SSE);
    ck_assert_ptr_nonnull(co()->embed_build);
    unsetenv("CO_API_URL");
    unsetenv("COHERE_API_KEY");
    setenv("CO_API_KEY", "co-alt", 1); /* the alternate variable */
    pc = tx_confs(NULL);
    tx_build(&b, co(), tx_conf(pc, "cohere"), "{" USER_HI "}", false, false);
    ck_assert_msg(b.rc == 0, "%s", b.err);
    ck_assert_str_eq(b.h.url, "https://api.cohere.com/v2/chat");
    ck_assert_str_eq(tx_header(&b.h, "Authorization"), "Bearer co-alt");
    ck_assert_str_eq(tx_header(&b.h, "Content-Type"), "application/json");
    ck_assert_str_eq(tx_header(&b.h, "Accept"), "application/json");
    ck_assert(!b.client_usage);
    /* No "stream" key on a plain call (Cohere rejects nothing here, but says less is more). */
    tx_body_is(&b, "{\"model\":\"m1\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
    tx_built_free(&b);
    prov_confs_free(pc);
    unsetenv("CO_API_KEY");

    pc = tx_confs("{\"cohere\":{\"api_key\":\"k1\",\"api_base\":\"http://127.0.0.1:9/\","
                  "\"temperature\":0.5,\"safety_mode\":\"OFF\","
                  "\"client_args\":{\"custom_headers\":{\"X-Client-Name\":\"gw\"}}}}");
    tx_build(&b, co(), tx_conf(pc, "cohere"),
             "{" USER_HI ",\"stream\":true,\"stream_options\":{\"include_usage\":true}}", true,
             false);
    ck_assert_msg(b.rc == 0, "%s", b.err);
    ck_assert_str_eq(b.h.url, "http://127.0.0.1:9/v2/chat");
    ck_assert_str_eq(tx_header(&b.h, "Authorization"), "Bearer k1");
    ck_assert_str_eq(tx_header(&b.h, "Accept"), "text/event-stream");
    ck_assert_str_eq(tx_header(&b.h, "X-Client-Name"), "gw");
    ck_assert(b.client_usage);
    /* Config defaults merged in OpenAI names; unknown ones (safety_mode) never sent. */
    tx_body_is(&b, "{\"model\":\"m1\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
                   "\"temperature\":0.5,\"stream\":true}");
    tx_built_free(&b);
    prov_confs_free(pc);
}
END_TEST

START_TEST(build_fields)
{
    struct prov_confs *pc = tx_confs("{\"cohere\":{\"api_key\":\"k\"}}");
    const struct prov_conf *c = tx_conf(pc, "cohere");
    struct tx_built b;

    /* Every sampling row of §9.1; dropped fields (user, logit_bias, n=1, logprobs, metadata). */
    tx_build(&b, co(), c,
             "{" USER_HI ",\"max_tokens\":10,\"max_completion_tokens\":20,\"temperature\":0.2,"
             "\"top_p\":0.9,\"top_k\":5,\"seed\":7,\"frequency_penalty\":0.1,"
             "\"presence_penalty\":0.3,\"stop\":\"END\",\"user\":\"u1\",\"logit_bias\":{},"
             "\"n\":1,\"logprobs\":true,\"metadata\":{\"a\":\"b\"},\"parallel_tool_calls\":true,"
             "\"stream_options\":{\"include_usage\":true}}",
             false, false);
    tx_body_is(&b, "{\"model\":\"m1\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
                   "\"max_tokens\":20,\"temperature\":0.2,\"p\":0.9,\"k\":5,\"seed\":7,"
                   "\"frequency_penalty\":0.1,\"presence_penalty\":0.3,"
                   "\"stop_sequences\":[\"END\"]}");
    tx_built_free(&b);

    /* response_format json_object / json_schema, reasoning_effort none / medium. */
    tx_build(&b, co(), c,
             "{" USER_HI ",\"response_format\":{\"type\":\"json_object\"},"
             "\"reasoning_effort\":\"none\",\"stop\":[\"a\",\"b\"],\"max_tokens\":3}",
             false, false);
    tx_body_is(&b, "{\"model\":\"m1\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
                   "\"max_tokens\":3,\"stop_sequences\":[\"a\",\"b\"],"
                   "\"response_format\":{\"type\":\"json_object\"},"
                   "\"thinking\":{\"type\":\"disabled\"}}");
    tx_built_free(&b);
    tx_build(&b, co(), c,
             "{" USER_HI ",\"response_format\":{\"type\":\"json_schema\",\"json_schema\":"
             "{\"name\":\"x\",\"schema\":{\"type\":\"object\"}}},\"reasoning_effort\":\"medium\"}",
             false, false);
    tx_body_is(&b, "{\"model\":\"m1\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
                   "\"response_format\":{\"type\":\"json_object\",\"json_schema\":"
                   "{\"type\":\"object\"}},\"thinking\":{\"type\":\"enabled\","
                   "\"token_budget\":8192}}");
    tx_built_free(&b);
    tx_build(&b, co(), c,
             "{" USER_HI ",\"response_format\":{\"type\":\"text\"},\"reasoning_effort\":\"max\"}",
             false, false);
    ck_assert_int_eq(
        json_integer_value(json_object_get(json_object_get(b.body, "thinking"), "token_budget")),
        32768);
    ck_assert_ptr_null(json_object_get(b.body, "response_format"));
    tx_built_free(&b);

    tx_rejects(co(), c, "{" USER_HI ",\"n\":2}", false, "n > 1");
    tx_rejects(co(), c, "{" USER_HI ",\"parallel_tool_calls\":false}", false,
               "parallel_tool_calls");
    tx_rejects(co(), c, "{" USER_HI ",\"max_tokens\":0}", false, "max_tokens");
    tx_rejects(co(), c, "{" USER_HI ",\"stop\":[1]}", false, "stop[0]");
    tx_rejects(co(), c, "{" USER_HI ",\"top_p\":\"x\"}", false, "top_p");
    tx_rejects(co(), c, "{" USER_HI ",\"seed\":1.5}", false, "seed");
    tx_rejects(co(), c, "{" USER_HI ",\"response_format\":{\"type\":\"grammar\"}}", false,
               "grammar");
    tx_rejects(co(), c, "{" USER_HI ",\"response_format\":{\"type\":\"json_schema\"}}", false,
               "schema");
    tx_rejects(co(), c, "{" USER_HI ",\"reasoning_effort\":\"huge\"}", false, "reasoning_effort");
    prov_confs_free(pc);
}
END_TEST

START_TEST(build_messages_and_tools)
{
    struct prov_confs *pc = tx_confs("{\"cohere\":{\"api_key\":\"k\"}}");
    const struct prov_conf *c = tx_conf(pc, "cohere");
    struct tx_built b;

    tx_build(&b, co(), c,
             "{\"messages\":["
             "{\"role\":\"system\",\"content\":\"Be brief.\"},"
             "{\"role\":\"developer\",\"content\":[{\"type\":\"text\",\"text\":\"a\"},"
             "{\"type\":\"text\",\"text\":\"b\"}]},"
             "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Weather?\"},"
             "{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/png;base64,AAA\","
             "\"detail\":\"low\"}}]},"
             "{\"role\":\"assistant\",\"content\":\"I will look.\",\"tool_calls\":[{\"id\":\"c1\","
             "\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":"
             "\"{\\\"city\\\":\\\"Paris\\\"}\"}},{\"id\":\"c2\",\"type\":\"function\","
             "\"function\":{\"name\":\"now\",\"arguments\":\"\"}}]},"
             "{\"role\":\"tool\",\"tool_call_id\":\"c1\",\"name\":\"get_weather\","
             "\"content\":\"sunny\"},"
             "{\"role\":\"tool\",\"tool_call_id\":\"c2\",\"content\":[{\"type\":\"text\","
             "\"text\":\"noon\"}]},"
             "{\"role\":\"assistant\",\"content\":null},"
             "{\"role\":\"assistant\",\"content\":\"ok\"}],"
             "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
             "\"description\":\"d\",\"parameters\":{\"type\":\"object\"},\"strict\":true}}],"
             "\"tool_choice\":\"required\"}",
             false, false);
    tx_body_is(
        &b, "{\"model\":\"m1\",\"messages\":["
            "{\"role\":\"system\",\"content\":\"Be brief.\"},"
            "{\"role\":\"system\",\"content\":\"a\\nb\"},"
            "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Weather?\"},"
            "{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/png;base64,AAA\"}}]},"
            "{\"role\":\"assistant\",\"tool_plan\":\"I will look.\",\"tool_calls\":[{\"id\":\"c1\","
            "\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":"
            "\"{\\\"city\\\":\\\"Paris\\\"}\"}},{\"id\":\"c2\",\"type\":\"function\","
            "\"function\":{\"name\":\"now\",\"arguments\":\"{}\"}}]},"
            "{\"role\":\"tool\",\"tool_call_id\":\"c1\",\"content\":\"sunny\"},"
            "{\"role\":\"tool\",\"tool_call_id\":\"c2\",\"content\":\"noon\"},"
            "{\"role\":\"assistant\",\"content\":\"\"},"
            "{\"role\":\"assistant\",\"content\":\"ok\"}],"
            "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
            "\"description\":\"d\",\"parameters\":{\"type\":\"object\"}}}],"
            "\"tool_choice\":\"REQUIRED\"}");
    tx_built_free(&b);

    tx_build(&b, co(), c, "{" USER_HI ",\"tool_choice\":\"none\"}", false, false);
    ck_assert_str_eq(json_string_value(json_object_get(b.body, "tool_choice")), "NONE");
    tx_built_free(&b);
    tx_build(&b, co(), c, "{" USER_HI ",\"tool_choice\":\"auto\"}", false, false);
    ck_assert_ptr_null(json_object_get(b.body, "tool_choice"));
    tx_built_free(&b);

    tx_rejects(co(), c,
               "{" USER_HI ",\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":"
               "\"f\"}}}",
               false, "naming a function");
    tx_rejects(co(), c, "{" USER_HI ",\"tool_choice\":\"any\"}", false, "'any'");
    tx_rejects(co(), c, "{" USER_HI ",\"tools\":[{\"type\":\"function\"}]}", false, "tools[0]");
    tx_rejects(co(), c,
               "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"file\",\"file\":{}}]}]}",
               false, "'file'");
    tx_rejects(co(), c, "{\"messages\":[{\"role\":\"tool\",\"content\":\"x\"}]}", false,
               "tool_call_id");
    tx_rejects(co(), c, "{\"messages\":[{\"role\":\"critic\",\"content\":\"x\"}]}", false,
               "'critic'");
    tx_rejects(co(), c,
               "{\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"c\",\"function\":"
               "{\"name\":\"f\",\"arguments\":{\"a\":1}}}]}]}",
               false, "must be a string");
    tx_rejects(co(), c, "{\"messages\":{}}", false, "messages must be an array");
    prov_confs_free(pc);
}
END_TEST

/* ---- Replies ---- */

/* providers.md §9.2 / §15 (1). */
static const char reply_fixture[] =
    "{\"id\":\"c14c80c3\",\"finish_reason\":\"TOOL_CALL\","
    "\"message\":{\"role\":\"assistant\",\"tool_plan\":\"I will look up the weather.\","
    "\"tool_calls\":[{\"id\":\"get_weather_1\",\"type\":\"function\",\"function\":{\"name\":"
    "\"get_weather\",\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}}]},"
    "\"usage\":{\"billed_units\":{\"input_tokens\":20,\"output_tokens\":12},"
    "\"tokens\":{\"input_tokens\":512,\"output_tokens\":12}}}";

START_TEST(reply_tool_fixture)
{
    struct prov_usage u;
    size_t gen;
    json_t *r = tx_reply(co(), reply_fixture, &u, &gen), *ch, *msg, *e;

    ch = json_array_get(json_object_get(r, "choices"), 0);
    msg = json_object_get(ch, "message");
    ck_assert_str_eq(json_string_value(json_object_get(r, "id")), "c14c80c3");
    ck_assert_str_eq(json_string_value(json_object_get(r, "object")), "chat.completion");
    ck_assert(json_integer_value(json_object_get(r, "created")) > 1700000000);
    ck_assert_str_eq(json_string_value(json_object_get(ch, "finish_reason")), "tool_calls");
    ck_assert_str_eq(json_string_value(json_object_get(msg, "content")),
                     "I will look up the weather.");
    e = tx_load("[{\"id\":\"get_weather_1\",\"type\":\"function\",\"function\":{\"name\":"
                "\"get_weather\",\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}}]");
    ck_assert(json_equal(json_object_get(msg, "tool_calls"), e));
    json_decref(e);
    e = tx_load("{\"prompt_tokens\":512,\"completion_tokens\":12,\"total_tokens\":524}");
    ck_assert(json_equal(json_object_get(r, "usage"), e));
    json_decref(e);
    ck_assert(u.seen);
    ck_assert_int_eq(u.prompt_tokens, 512);
    ck_assert_int_eq(u.completion_tokens, 12);
    ck_assert_int_eq(u.total_tokens, 524);
    /* tool plan (28) + name (11) + arguments (15) */
    ck_assert_uint_eq(gen, 28 + 11 + 15);
    json_decref(r);
}
END_TEST

START_TEST(reply_text_thinking_finish)
{
    static const char *const finishes[][2] = {
        {"COMPLETE", "stop"},  {"STOP_SEQUENCE", "stop"}, {"MAX_TOKENS", "length"},
        {"TOOL_CALL", "stop"}, {"ERROR", "stop"},         {"TIMEOUT", "stop"},
    };
    struct prov_usage u;
    size_t gen;
    char body[512];
    json_t *r, *msg;

    r = tx_reply(co(),
                 "{\"id\":\"x\",\"finish_reason\":\"COMPLETE\",\"message\":{\"role\":"
                 "\"assistant\",\"content\":[{\"type\":\"thinking\",\"thinking\":\"hmm\"},"
                 "{\"type\":\"text\",\"text\":\"Hel\"},{\"type\":\"text\",\"text\":\"lo\"}]},"
                 "\"usage\":{\"billed_units\":{\"input_tokens\":3,\"output_tokens\":4}}}",
                 &u, &gen);
    msg = json_object_get(json_array_get(json_object_get(r, "choices"), 0), "message");
    ck_assert_str_eq(json_string_value(json_object_get(msg, "content")), "Hello");
    ck_assert_str_eq(
        json_string_value(json_object_get(json_object_get(msg, "reasoning"), "content")), "hmm");
    ck_assert_ptr_null(json_object_get(msg, "tool_calls"));
    /* No usage.tokens: billed_units (§1.6). */
    ck_assert(u.seen);
    ck_assert_int_eq(u.prompt_tokens, 3);
    ck_assert_int_eq(u.completion_tokens, 4);
    ck_assert_uint_eq(gen, 8);
    json_decref(r);

    for (size_t i = 0; i < sizeof(finishes) / sizeof(finishes[0]); i++) {
        snprintf(body, sizeof(body),
                 "{\"id\":\"x\",\"finish_reason\":\"%s\",\"message\":{\"role\":\"assistant\","
                 "\"content\":[]}}",
                 finishes[i][0]);
        r = tx_reply(co(), body, &u, &gen);
        ck_assert_str_eq(json_string_value(json_object_get(
                             json_array_get(json_object_get(r, "choices"), 0), "finish_reason")),
                         finishes[i][1]);
        ck_assert(json_is_null(json_object_get(
            json_object_get(json_array_get(json_object_get(r, "choices"), 0), "message"),
            "content")));
        ck_assert(!u.seen);
        ck_assert_ptr_null(json_object_get(r, "usage"));
        json_decref(r);
    }
}
END_TEST

START_TEST(reply_malformed)
{
    static const char *const bad[] = {"", "nope", "[]", "{\"id\":\"x\"}", "{\"message\":\"x\"}"};
    struct prov_usage u;
    size_t gen;
    char *out;
    size_t out_len;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        out = (char *)1;
        ck_assert_int_eq(co()->chat_reply(bad[i], strlen(bad[i]), &u, &gen, &out, &out_len), -1);
        ck_assert_ptr_null(out);
    }
}
END_TEST

/* ---- Streams ---- */

#define EV(type, json) "event: " type "\ndata: " json "\n\n"

/* §15 (2): message-start, content-delta "Hel", "lo", message-end COMPLETE with usage. */
static const char text_stream[] =
    EV("message-start", "{\"type\":\"message-start\",\"id\":\"m-1\",\"delta\":{\"message\":"
                        "{\"role\":\"assistant\"}}}")
        EV("content-start", "{\"type\":\"content-start\",\"index\":0,\"delta\":{\"message\":"
                            "{\"content\":{\"type\":\"text\",\"text\":\"\"}}}}")
            EV("content-delta",
               "{\"type\":\"content-delta\",\"index\":0,\"delta\":{\"message\":"
               "{\"content\":{\"text\":\"Hel\"}}}}") "event: content-delta\r\ndata: "
                                                     "{\"type\":\"content-delta\",\"index\":0,"
                                                     "\"delta\":{\"message\":{\"content\":{"
                                                     "\"text\":\"lo\"}}}}\r\n\r\n" EV(
                                                         "content-end",
                                                         "{\"type\":\"content-end\",\"index\":0}")
                                                         EV("message-end",
                                                            "{\"type\":\"message-end\",\"delta\":{"
                                                            "\"finish_reason\":\"COMPLETE\","
                                                            "\"usage\":{\"billed_units\":{\"input_"
                                                            "tokens\":5,\"output_tokens\":2},"
                                                            "\"tokens\":{\"input_tokens\":15,"
                                                            "\"output_tokens\":2}}}}");

#define CHUNK(id, delta, finish)                                                                   \
    "-|{\"id\":\"" id "\",\"object\":\"chat.completion.chunk\",\"created\":0,\"model\":\"\","      \
    "\"choices\":[{\"index\":0,\"delta\":" delta ",\"finish_reason\":" finish "}]}\n"
#define ROLE "{\"role\":\"assistant\",\"content\":\"\"}"

START_TEST(stream_text_fixture)
{
    static struct tx_run r;

    for (int cu = 0; cu <= 1; cu++) {
        tx_run_everywhere(&r, co(), text_stream, cu == 1);
        ck_assert_str_eq(
            r.k.log, cu == 1
                         ? CHUNK("m-1", ROLE, "null") CHUNK("m-1", "{\"content\":\"Hel\"}", "null")
                               CHUNK("m-1", "{\"content\":\"lo\"}", "null")
                                   CHUNK("m-1", "{}", "\"stop\"") "-|{\"id\":\"m-1\",\"object\":"
                                                                  "\"chat.completion.chunk\","
                                                                  "\"created\":0,\"model\":\"\","
                                                                  "\"choices\":[],\"usage\":{"
                                                                  "\"prompt_tokens\":15,"
                                                                  "\"completion_tokens\":2,"
                                                                  "\"total_tokens\":17}}\n"
                         : CHUNK("m-1", ROLE, "null") CHUNK("m-1", "{\"content\":\"Hel\"}", "null")
                               CHUNK("m-1", "{\"content\":\"lo\"}", "null")
                                   CHUNK("m-1", "{}", "\"stop\""));
        ck_assert(r.s.done);
        ck_assert(!r.s.failed);
        ck_assert(r.s.usage.seen);
        ck_assert_int_eq(r.s.usage.prompt_tokens, 15);
        ck_assert_int_eq(r.s.usage.completion_tokens, 2);
        ck_assert_int_eq(r.s.usage.total_tokens, 17);
        ck_assert_uint_eq(r.s.gen_bytes, 5);
    }
}
END_TEST

/* Reasoning, a tool plan, two tool calls (arguments in pieces), TOOL_CALL; then [DONE]. */
static const char tool_stream[] = EV("message-start", "{\"type\":\"message-start\",\"id\":\"m-2\"}")
    EV("content-delta", "{\"type\":\"content-delta\",\"index\":0,\"delta\":{\"message\":"
                        "{\"content\":{\"thinking\":\"hmm\"}}}}")
        EV("tool-plan-delta", "{\"type\":\"tool-plan-delta\",\"delta\":{\"message\":"
                              "{\"tool_plan\":\"I will\"}}}")
            EV("tool-call-start",
               "{\"type\":\"tool-call-start\",\"index\":0,\"delta\":{\"message\":"
               "{\"tool_calls\":{\"id\":\"t1\",\"type\":\"function\",\"function\":"
               "{\"name\":\"get_weather\",\"arguments\":\"\"}}}}}")
                EV("tool-call-delta",
                   "{\"type\":\"tool-call-delta\",\"index\":0,\"delta\":{\"message\":"
                   "{\"tool_calls\":{\"function\":{\"arguments\":\"{\\\"ci\"}}}}}")
                    EV("tool-call-delta",
                       "{\"type\":\"tool-call-delta\",\"index\":0,\"delta\":{\"message\":"
                       "{\"tool_calls\":{\"function\":{\"arguments\":\"ty\\\":1}\"}}}}}")
                        EV("tool-call-end", "{\"type\":\"tool-call-end\",\"index\":0}")
                            EV("tool-call-start",
                               "{\"type\":\"tool-call-start\",\"index\":1,\"delta\":{"
                               "\"message\":{\"tool_calls\":{\"id\":\"t2\",\"type\":"
                               "\"function\",\"function\":{\"name\":\"now\",\"arguments\":"
                               "\"{}\"}}}}}")
                                EV("tool-call-end", "{\"type\":\"tool-call-end\",\"index\":1}")
                                    EV("debug", "{\"type\":\"debug\"}")
                                        EV("message-end",
                                           "{\"type\":\"message-end\",\"delta\":{\"finish_reason\":"
                                           "\"TOOL_CALL\",\"usage\":{\"tokens\":{\"input_tokens\":"
                                           "9,\"output_tokens\":8}}}}") "data: [DONE]\n\n";

START_TEST(stream_tools_and_reasoning)
{
    static struct tx_run r;

    tx_run_everywhere(&r, co(), tool_stream, false);
    ck_assert_str_eq(
        r.k.log,
        CHUNK("m-2", ROLE, "null") CHUNK("m-2", "{\"reasoning\":{\"content\":\"hmm\"}}", "null")
            CHUNK("m-2", "{\"content\":\"I will\"}", "null")
                CHUNK("m-2",
                      "{\"tool_calls\":[{\"index\":0,\"id\":\"t1\",\"type\":\"function\","
                      "\"function\":{\"name\":\"get_weather\",\"arguments\":\"\"}}]}",
                      "null") CHUNK("m-2",
                                    "{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":"
                                    "\"{\\\"ci\"}}]}",
                                    "null")
                    CHUNK("m-2",
                          "{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":"
                          "\"ty\\\":1}\"}}]}",
                          "null") CHUNK("m-2",
                                        "{\"tool_calls\":[{\"index\":1,\"id\":\"t2\",\"type\":"
                                        "\"function\",\"function\":{\"name\":\"now\",\"arguments\":"
                                        "\"\"}}]}",
                                        "null")
                        CHUNK("m-2",
                              "{\"tool_calls\":[{\"index\":1,\"function\":{\"arguments\":"
                              "\"{}\"}}]}",
                              "null") CHUNK("m-2", "{}", "\"tool_calls\""));
    ck_assert(r.s.done);
    ck_assert(!r.s.failed);
    ck_assert_int_eq(r.s.usage.prompt_tokens, 9);
    ck_assert_int_eq(r.s.usage.completion_tokens, 8);
    ck_assert_uint_eq(r.s.gen_bytes, 3 + 6 + 11 + 4 + 6 + 3 + 2);
}
END_TEST

START_TEST(stream_errors)
{
    static struct tx_run r;

    /* message-end carrying an error: a failed stream, its message kept. */
    tx_run_everywhere(&r, co(),
                      EV("message-start", "{\"type\":\"message-start\",\"id\":\"m-3\"}") EV(
                          "message-end", "{\"type\":\"message-end\",\"delta\":{\"finish_reason\":"
                                         "\"ERROR\",\"error\":\"model\\noverloaded\"}}"),
                      false);
    ck_assert(r.s.failed);
    ck_assert(!r.s.done);
    ck_assert_str_eq(r.s.error, "model overloaded");
    ck_assert_str_eq(r.k.log, CHUNK("m-3", ROLE, "null"));

    /* Not JSON, or JSON without a type: failed (a message kept when there is one). */
    tx_run_everywhere(&r, co(), "data: {\"message\":\"internal error\"}\n\n", false);
    ck_assert(r.s.failed);
    ck_assert_str_eq(r.s.error, "internal error");
    ck_assert_int_eq(r.k.n, 0);
    tx_run_everywhere(&r, co(), "data: nope\n\n", false);
    ck_assert(r.s.failed);
    ck_assert_str_eq(r.s.error, "malformed stream event from the provider");

    /* Deltas without message-start: the role chunk still comes first, with a made-up id. */
    tx_run_everywhere(&r, co(),
                      EV("content-delta", "{\"type\":\"content-delta\",\"delta\":{\"message\":"
                                          "{\"content\":{\"text\":\"x\"}}}}") "data: [DONE]\n\n",
                      false);
    ck_assert_str_eq(r.k.log, CHUNK("chatcmpl-GEN", ROLE, "null")
                                  CHUNK("chatcmpl-GEN", "{\"content\":\"x\"}", "null")
                                      CHUNK("chatcmpl-GEN", "{}", "\"stop\""));
    ck_assert(r.s.done);
    ck_assert(!r.s.usage.seen);
}
END_TEST

/* ---- Errors ---- */

START_TEST(error_bodies)
{
    char msg[128], code[32];

    /* §15 (3): the 429 body. */
    tx_error(co(), "{\"id\":\"e1\",\"message\":\"You are using a Trial key, which is limited\"}",
             msg, sizeof(msg), code, sizeof(code));
    ck_assert_str_eq(msg, "You are using a Trial key, which is limited");
    ck_assert_str_eq(code, "");
    tx_error(co(), "{\"error\":{\"message\":\"from a proxy\"}}", msg, sizeof(msg), NULL, 0);
    ck_assert_str_eq(msg, "from a proxy");
    tx_error(co(), "<html>\nBad Gateway</html>", msg, sizeof(msg), code, sizeof(code));
    ck_assert_str_eq(msg, "<html> Bad Gateway</html>");
}
END_TEST

/* ---- Embeddings ---- */

START_TEST(embed_build_and_reply)
{
    struct prov_confs *pc = tx_confs("{\"cohere\":{\"api_key\":\"k\"}}");
    const struct prov_conf *c = tx_conf(pc, "cohere");
    struct tx_built b;
    struct prov_usage u;
    json_t *r, *e;

    tx_build(&b, co(), c,
             "{\"model\":\"cohere:m1\",\"input\":\"hello\",\"user\":\"u\",\"dimensions\":256,"
             "\"encoding_format\":\"base64\"}",
             false, true);
    tx_body_is(&b, "{\"model\":\"m1\",\"texts\":[\"hello\"],\"input_type\":\"search_document\","
                   "\"embedding_types\":[\"float\"],\"output_dimension\":256}");
    ck_assert_str_eq(b.h.url, "https://api.cohere.com/v2/embed");
    ck_assert_str_eq(tx_header(&b.h, "Authorization"), "Bearer k");
    tx_built_free(&b);
    tx_build(&b, co(), c, "{\"input\":[\"a\",\"b\"],\"input_type\":\"search_query\"}", false, true);
    tx_body_is(&b, "{\"model\":\"m1\",\"texts\":[\"a\",\"b\"],\"input_type\":\"search_query\","
                   "\"embedding_types\":[\"float\"]}");
    tx_built_free(&b);
    tx_rejects(co(), c, "{\"input\":[[1,2]]}", true, "token arrays");
    tx_rejects(co(), c, "{\"input\":\"a\",\"input_type\":\"poem\"}", true, "input_type");

    /* §15: the embed reply with embeddings.float. */
    r = tx_embed_reply(co(),
                       "{\"id\":\"e\",\"embeddings\":{\"float\":[[0.5,-1.0],[0.25,0]]},"
                       "\"texts\":[\"a\",\"b\"],\"meta\":{\"billed_units\":{\"input_tokens\":"
                       "4}}}",
                       &u);
    e = tx_load("{\"object\":\"list\",\"data\":[{\"object\":\"embedding\",\"index\":0,"
                "\"embedding\":[0.5,-1.0]},{\"object\":\"embedding\",\"index\":1,\"embedding\":"
                "[0.25,0]}],\"model\":\"\",\"usage\":{\"prompt_tokens\":4,\"total_tokens\":4}}");
    ck_assert_msg(json_equal(r, e), "%s", json_dumps(r, 0));
    json_decref(e);
    json_decref(r);
    ck_assert(u.seen);
    ck_assert_int_eq(u.prompt_tokens, 4);
    ck_assert_int_eq(u.completion_tokens, 0);
    /* meta.tokens wins over billed_units; no meta: no usage. */
    r = tx_embed_reply(co(),
                       "{\"embeddings\":{\"float\":[[1]]},\"meta\":{\"tokens\":{\"input_tokens\":"
                       "7},\"billed_units\":{\"input_tokens\":4}}}",
                       &u);
    ck_assert_int_eq(u.prompt_tokens, 7);
    json_decref(r);
    r = tx_embed_reply(co(), "{\"embeddings\":{\"float\":[[1]]}}", &u);
    ck_assert(!u.seen);
    ck_assert_ptr_null(json_object_get(r, "usage"));
    json_decref(r);
    {
        char *out = (char *)1;
        size_t n;
        ck_assert_int_eq(co()->embed_reply("{\"embeddings\":{}}", 17, &u, &out, &n), -1);
        ck_assert_ptr_null(out);
    }
    prov_confs_free(pc);
}
END_TEST

Suite *cohere_suite(void)
{
    Suite *s = suite_create("cohere");
    TCase *tc = tcase_create("cohere");

    tcase_add_test(tc, table_and_http);
    tcase_add_test(tc, build_fields);
    tcase_add_test(tc, build_messages_and_tools);
    tcase_add_test(tc, reply_tool_fixture);
    tcase_add_test(tc, reply_text_thinking_finish);
    tcase_add_test(tc, reply_malformed);
    tcase_add_test(tc, stream_text_fixture);
    tcase_add_test(tc, stream_tools_and_reasoning);
    tcase_add_test(tc, stream_errors);
    tcase_add_test(tc, error_bodies);
    tcase_add_test(tc, embed_build_and_reply);
    suite_add_tcase(s, tc);
    return s;
}
