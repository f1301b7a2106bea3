/*
 * Unit tests of the watsonx dialect and the IBM IAM exchange (providers.md §11): the request
 * mapping (fields of §11, tool_choice split, developer → system, no unknown keys, config fields
 * kept out), URL and headers, the project/space rules, the §15 fixtures (reply with usage, SSE
 * stream fed through prov_sse cut at every byte, 400 errors body), mid-stream errors, and the
 * IAM form body and replies (prov_ibm.h).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "providers/prov_ibm.h"
#include "t_xlate.h"

static const struct prov_dialect_ops *wx(void)
{
    return prov_dialect_get(PROV_D_WATSONX);
}

#define USER_HI "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]"
#define WX_CONF                                                                                    \
    "{\"watsonx\":{\"api_key\":\"wk\",\"api_base\":\"https://us-south.ml.cloud.ibm.com/\","        \
    "\"project_id\":\"p-1\"}}"

static void build(struct tx_built *b, const struct prov_conf *c, const char *req, bool stream,
                  const char *bearer)
{
    tx_build_in(b, wx(), c,
                (struct prov_chat_in){.model = "ibm/granite", .stream = stream, .bearer = bearer},
                req, false);
}

START_TEST(table_conf_and_http)
{
    struct prov_confs *pc;
    const struct prov_conf *c;
    const struct prov_info *info = prov_find("watsonx");
    struct tx_built b;

    ck_assert_ptr_eq(wx(), &prov_dialect_watsonx);
    ck_assert_int_eq(wx()->framing, PROV_FRAME_SSE);
    ck_assert_ptr_null(wx()->embed_build);
    ck_assert_int_eq(info->auth, PROV_AUTH_IBM_IAM);
    ck_assert_uint_eq(prov_caps(info), PROV_CAP_CHAT | PROV_CAP_STREAM);
    unsetenv("WATSONX_IAM_URL");
    pc = tx_confs(WX_CONF);
    c = tx_conf(pc, "watsonx");
    ck_assert_str_eq(c->iam_url, "https://iam.cloud.ibm.com/identity/token");
    ck_assert_str_eq(c->version, "2025-02-06");
    ck_assert_ptr_null(c->problem);
    build(&b, c, "{" USER_HI "}", false, "iam-tok");
    ck_assert_msg(b.rc == 0, "%s", b.err);
    ck_assert_str_eq(b.h.url,
                     "https://us-south.ml.cloud.ibm.com/ml/v1/text/chat?version=2025-02-06");
    ck_assert_str_eq(tx_header(&b.h, "Authorization"), "Bearer iam-tok");
    ck_assert_str_eq(tx_header(&b.h, "Content-Type"), "application/json");
    ck_assert_str_eq(tx_header(&b.h, "Accept"), "application/json");
    tx_body_is(&b, "{\"model_id\":\"ibm/granite\",\"project_id\":\"p-1\",\"messages\":[{\"role\":"
                   "\"user\",\"content\":\"hi\"}]}");
    tx_built_free(&b);
    /* No token: never the API key as a bearer. */
    build(&b, c, "{" USER_HI "}", false, NULL);
    ck_assert_int_eq(b.rc, -1);
    ck_assert_ptr_null(strstr(b.err, "wk"));
    tx_built_free(&b);
    prov_confs_free(pc);

    /* space_id, version and iam_url under client_args; none of them a request field. */
    setenv("WATSONX_IAM_URL", "http://env.invalid/identity/token", 1);
    pc = tx_confs("{\"watsonx\":{\"api_key\":\"wk\",\"api_base\":\"http://127.0.0.1:9\","
                  "\"temperature\":0.5,\"client_args\":{\"space_id\":\"s-9\",\"version\":"
                  "\"2024-05-01\",\"custom_headers\":{\"X-Tag\":\"t\"}}}}");
    c = tx_conf(pc, "watsonx");
    ck_assert_str_eq(c->iam_url, "http://env.invalid/identity/token");
    build(&b, c,
          "{" USER_HI ",\"stream\":true,\"stream_options\":{\"include_usage\":true},"
          "\"user\":\"u1\",\"metadata\":{\"a\":1}}",
          true, "iam-tok");
    ck_assert_msg(b.rc == 0, "%s", b.err);
    ck_assert_str_eq(b.h.url, "http://127.0.0.1:9/ml/v1/text/chat_stream?version=2024-05-01");
    ck_assert_str_eq(tx_header(&b.h, "Accept"), "text/event-stream");
    ck_assert_str_eq(tx_header(&b.h, "X-Tag"), "t");
    ck_assert(b.client_usage);
    tx_body_is(&b, "{\"model_id\":\"ibm/granite\",\"space_id\":\"s-9\",\"messages\":[{\"role\":"
                   "\"user\",\"content\":\"hi\"}],\"temperature\":0.5}");
    tx_built_free(&b);
    prov_confs_free(pc);
    unsetenv("WATSONX_IAM_URL");

    /* iam_url at the top level; a version that is not a date is a configuration problem. */
    pc = tx_confs("{\"watsonx\":{\"api_key\":\"wk\",\"iam_url\":\"http://127.0.0.1:1/identity/"
                  "token\",\"version\":\"2025/01\"}}");
    c = tx_conf(pc, "watsonx");
    ck_assert_str_eq(c->iam_url, "http://127.0.0.1:1/identity/token");
    ck_assert_ptr_nonnull(c->problem);
    ck_assert_ptr_nonnull(strstr(c->problem, "providers.watsonx.version"));
    ck_assert_int_eq(json_object_size(c->kwargs), 0);
    prov_confs_free(pc);
    /* Configured without a key: named. */
    unsetenv("WATSONX_API_KEY");
    pc = tx_confs("{\"watsonx\":{\"project_id\":\"p\"}}");
    ck_assert_ptr_nonnull(strstr(tx_conf(pc, "watsonx")->problem, "WATSONX_API_KEY"));
    prov_confs_free(pc);
}
END_TEST

START_TEST(project_or_space_required)
{
    struct prov_confs *pc =
        tx_confs("{\"watsonx\":{\"api_key\":\"wk\",\"api_base\":\"http://h\"}}");
    struct tx_built b;

    build(&b, tx_conf(pc, "watsonx"), "{" USER_HI "}", false, "t");
    ck_assert_int_eq(b.rc, -1);
    ck_assert_msg(strstr(b.err, "providers.watsonx.project_id") != NULL, "%s", b.err);
    tx_built_free(&b);
    prov_confs_free(pc);
    /* No base URL: named. */
    unsetenv("WATSONX_URL");
    pc = tx_confs("{\"watsonx\":{\"api_key\":\"wk\",\"project_id\":\"p\"}}");
    build(&b, tx_conf(pc, "watsonx"), "{" USER_HI "}", false, "t");
    ck_assert_int_eq(b.rc, -1);
    ck_assert_msg(strstr(b.err, "WATSONX_URL") != NULL, "%s", b.err);
    tx_built_free(&b);
    prov_confs_free(pc);
}
END_TEST

START_TEST(build_fields_and_tools)
{
    struct prov_confs *pc = tx_confs(WX_CONF);
    const struct prov_conf *c = tx_conf(pc, "watsonx");
    struct tx_built b;

    build(&b, c,
          "{\"messages\":[{\"role\":\"developer\",\"content\":[{\"type\":\"text\",\"text\":\"A\"},"
          "{\"type\":\"text\",\"text\":\"B\"}]},{\"role\":\"user\",\"content\":[{\"type\":\"text\","
          "\"text\":\"hi\"}]},{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":"
          "\"c1\",\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]},"
          "{\"role\":\"tool\",\"tool_call_id\":\"c1\",\"content\":\"ok\"}],"
          "\"max_tokens\":10,\"max_completion_tokens\":20,\"temperature\":0.2,\"top_p\":0.9,"
          "\"stop\":\"END\",\"seed\":7,\"n\":1,\"presence_penalty\":0.1,\"frequency_penalty\":0.3,"
          "\"logprobs\":true,\"top_logprobs\":2,\"response_format\":{\"type\":\"json_object\"},"
          "\"time_limit\":1000,\"user\":\"u\",\"logit_bias\":{},\"parallel_tool_calls\":true,"
          "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":{}}}],"
          "\"tool_choice\":\"required\"}",
          false, "t");
    ck_assert_msg(b.rc == 0, "%s", b.err);
    tx_body_is(
        &b, "{\"model_id\":\"ibm/granite\",\"project_id\":\"p-1\",\"messages\":[{\"role\":"
            "\"system\",\"content\":\"A\\nB\"},{\"role\":\"user\",\"content\":[{\"type\":\"text\","
            "\"text\":\"hi\"}]},{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":"
            "\"c1\",\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]},"
            "{\"role\":\"tool\",\"tool_call_id\":\"c1\",\"content\":\"ok\"}],\"temperature\":0.2,"
            "\"top_p\":0.9,\"presence_penalty\":0.1,\"frequency_penalty\":0.3,\"seed\":7,\"n\":1,"
            "\"top_logprobs\":2,\"time_limit\":1000,\"logprobs\":true,\"response_format\":{"
            "\"type\":\"json_object\"},\"max_tokens\":20,\"stop\":[\"END\"],\"tools\":[{\"type\":"
            "\"function\",\"function\":{\"name\":\"f\",\"parameters\":{}}}],"
            "\"tool_choice_option\":\"required\"}");
    tx_built_free(&b);
    /* A named function: tool_choice as it is. */
    build(&b, c,
          "{" USER_HI ",\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"f\"}}}",
          false, "t");
    ck_assert_msg(b.rc == 0, "%s", b.err);
    tx_body_is(&b, "{\"model_id\":\"ibm/granite\",\"project_id\":\"p-1\",\"messages\":[{\"role\":"
                   "\"user\",\"content\":\"hi\"}],\"tool_choice\":{\"type\":\"function\","
                   "\"function\":{\"name\":\"f\"}}}");
    tx_built_free(&b);
    tx_rejects(wx(), c, "{\"messages\":[]}", false, "messages");
    tx_rejects(wx(), c, "{\"messages\":[{\"role\":\"robot\",\"content\":\"x\"}]}", false, "robot");
    tx_rejects(wx(), c, "{" USER_HI ",\"temperature\":\"hot\"}", false, "temperature");
    tx_rejects(wx(), c, "{" USER_HI ",\"max_tokens\":0}", false, "max_tokens");
    tx_rejects(wx(), c, "{" USER_HI ",\"tool_choice\":\"sometimes\"}", false, "tool_choice");
    tx_rejects(wx(), c, "{" USER_HI ",\"tools\":{}}", false, "tools");
    tx_rejects(wx(), c, "{" USER_HI ",\"stop\":[1]}", false, "stop");
    prov_confs_free(pc);
}
END_TEST

START_TEST(reply_fixture)
{
    struct prov_usage u;
    size_t gen;
    json_t *r, *ch, *msg, *tc;

    r = tx_reply(wx(),
                 "{\"id\":\"chat-1\",\"model_id\":\"ibm/granite-3-8b-instruct\",\"model_version\":"
                 "\"1.1.0\",\"created\":1767225600,\"created_at\":\"2026-01-01T00:00:00.000Z\","
                 "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":"
                 "\"Hello\"},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":12,"
                 "\"completion_tokens\":3,\"total_tokens\":15}}",
                 &u, &gen);
    ck_assert_str_eq(json_string_value(json_object_get(r, "model")), "ibm/granite-3-8b-instruct");
    ck_assert_str_eq(json_string_value(json_object_get(r, "id")), "chat-1");
    ck_assert_str_eq(json_string_value(json_object_get(r, "object")), "chat.completion");
    ck_assert_int_eq(json_integer_value(json_object_get(r, "created")), 1767225600);
    ch = json_array_get(json_object_get(r, "choices"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(ch, "finish_reason")), "stop");
    msg = json_object_get(ch, "message");
    ck_assert_str_eq(json_string_value(json_object_get(msg, "content")), "Hello");
    ck_assert(u.seen);
    ck_assert_int_eq(u.prompt_tokens, 12);
    ck_assert_int_eq(u.completion_tokens, 3);
    ck_assert_int_eq(u.total_tokens, 15);
    ck_assert_int_eq(
        json_integer_value(json_object_get(json_object_get(r, "usage"), "total_tokens")), 15);
    ck_assert_uint_eq(gen, 5);
    json_decref(r);

    /* Tool calls (object arguments serialised), time_limit → length, no usage. */
    r = tx_reply(wx(),
                 "{\"model_id\":\"m\",\"choices\":[{\"index\":0,\"message\":{\"role\":"
                 "\"assistant\",\"tool_calls\":[{\"id\":\"c1\",\"type\":\"function\",\"function\":"
                 "{\"name\":\"f\",\"arguments\":{\"a\":1}}}]},\"finish_reason\":\"time_limit\"}]}",
                 &u, &gen);
    ch = json_array_get(json_object_get(r, "choices"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(ch, "finish_reason")), "length");
    msg = json_object_get(ch, "message");
    ck_assert(json_is_null(json_object_get(msg, "content")));
    tc = json_array_get(json_object_get(msg, "tool_calls"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(tc, "id")), "c1");
    ck_assert_str_eq(
        json_string_value(json_object_get(json_object_get(tc, "function"), "arguments")),
        "{\"a\":1}");
    ck_assert(!u.seen);
    ck_assert_ptr_null(json_object_get(r, "usage"));
    json_decref(r);
    for (int i = 0; i < 2; i++) {
        r = tx_reply(wx(),
                     i == 0 ? "{\"choices\":[{\"message\":{\"content\":\"x\"},\"finish_reason\":"
                              "\"error\"}]}"
                            : "{\"choices\":[{\"message\":{\"content\":\"x\"},\"finish_reason\":"
                              "\"cancelled\"}]}",
                     &u, &gen);
        ch = json_array_get(json_object_get(r, "choices"), 0);
        ck_assert_str_eq(json_string_value(json_object_get(ch, "finish_reason")), "stop");
        json_decref(r);
    }
}
END_TEST

START_TEST(reply_malformed)
{
    struct prov_usage u;
    size_t gen, n;
    char *out;
    const char *bad[] = {"nope", "[]", "{}", "{\"choices\":[]}", "{\"choices\":[{}]}"};

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_int_eq(wx()->chat_reply(bad[i], strlen(bad[i]), &u, &gen, &out, &n), -1);
        ck_assert_ptr_null(out);
    }
}
END_TEST

#define EV(data) "id: 1\nevent: message\ndata: " data "\n\n"
#define CHUNK(delta, finish)                                                                       \
    "-|{\"id\":\"wx-1\",\"object\":\"chat.completion.chunk\",\"created\":0,\"model\":\"m\","       \
    "\"choices\":[{\"index\":0,\"delta\":" delta ",\"finish_reason\":" finish "}]}\n"
#define ROLE "{\"role\":\"assistant\",\"content\":\"\"}"
#define USAGE_CHUNK                                                                                \
    "-|{\"id\":\"wx-1\",\"object\":\"chat.completion.chunk\",\"created\":0,\"model\":\"m\","       \
    "\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":2,\"total_tokens\":9}}\n"

/* §15: role+"Hi", " there", then finish stop with usage on the last chunk; [DONE] tolerated. */
static const char text_stream[] = EV("{\"id\":\"wx-1\",\"model_id\":\"m\",\"created\":5,"
                                     "\"choices\":[{\"index\":0,\"delta\":{"
                                     "\"role\":\"assistant\",\"content\":\"Hi\"},\"finish_reason\":"
                                     "null}]}") "id: 2\r\nevent: message\r\ndata: "
                                                "{\"id\":\"wx-1\",\"model_id\":\"m\",\"choices\":[{"
                                                "\"index\":0,\"delta\":{\"content\":\" "
                                                "there\"},\"finish_reason\":null}]}\r\n\r\n" EV(
                                                    "{\"id\":\"wx-1\",\"model_id\":\"m\","
                                                    "\"choices\":[{\"index\":0,\"delta\":{},"
                                                    "\"finish_reason\":\"stop\"}],\"usage\":{"
                                                    "\"prompt_tokens\":7,\"completion_tokens\":2,"
                                                    "\"total_tokens\":9}}") "data: [DONE]\n\n";

START_TEST(stream_text_fixture)
{
    static struct tx_run r;

    for (int cu = 0; cu <= 1; cu++) {
        tx_run_everywhere(&r, wx(), text_stream, cu == 1);
        ck_assert_str_eq(r.k.log, cu == 1
                                      ? CHUNK(ROLE, "null") CHUNK("{\"content\":\"Hi\"}", "null")
                                            CHUNK("{\"content\":\" there\"}", "null")
                                                CHUNK("{}", "\"stop\"") USAGE_CHUNK
                                      : CHUNK(ROLE, "null") CHUNK("{\"content\":\"Hi\"}", "null")
                                            CHUNK("{\"content\":\" there\"}", "null")
                                                CHUNK("{}", "\"stop\""));
        ck_assert(r.s.done);
        ck_assert(!r.s.failed);
        ck_assert(r.s.usage.seen);
        ck_assert_int_eq(r.s.usage.prompt_tokens, 7);
        ck_assert_int_eq(r.s.usage.completion_tokens, 2);
        ck_assert_int_eq(r.s.usage.total_tokens, 9);
        ck_assert_uint_eq(r.s.gen_bytes, 8);
    }
}
END_TEST

/* A tool call in pieces; usage in a chunk after the finish. */
static const char tool_stream[] =
    EV("{\"id\":\"wx-1\",\"model_id\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"role\":"
       "\"assistant\",\"tool_calls\":[{\"index\":0,\"id\":\"c1\",\"type\":\"function\","
       "\"function\":{\"name\":\"f\",\"arguments\":\"\"}}]},\"finish_reason\":null}]}")
        EV("{\"id\":\"wx-1\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,"
           "\"function\":{\"arguments\":\"{\\\"a\\\":1}\"}}]},\"finish_reason\":null}]}")
            EV("{\"id\":\"wx-1\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":"
               "\"stop\"}]}") EV("{\"id\":\"wx-1\",\"choices\":[],\"usage\":{\"prompt_tokens\":7,"
                                 "\"completion_tokens\":2}}");

START_TEST(stream_tools_usage_after)
{
    static struct tx_run r;

    tx_run_everywhere(&r, wx(), tool_stream, true);
    ck_assert_str_eq(r.k.log,
                     CHUNK(ROLE, "null")
                         CHUNK("{\"tool_calls\":[{\"index\":0,\"id\":\"c1\",\"type\":\"function\","
                               "\"function\":{\"name\":\"f\",\"arguments\":\"\"}}]}",
                               "null") CHUNK("{\"tool_calls\":[{\"index\":0,\"function\":{"
                                             "\"arguments\":\"{\\\"a\\\":1}\"}}]}",
                                             "null") CHUNK("{}", "\"tool_calls\"") USAGE_CHUNK);
    ck_assert(r.s.done);
    ck_assert_int_eq(r.s.usage.total_tokens, 9);
}
END_TEST

START_TEST(stream_errors)
{
    static struct tx_run r;

    tx_run_everywhere(&r, wx(),
                      EV("{\"id\":\"wx-1\",\"model_id\":\"m\",\"choices\":[{\"index\":0,\"delta\":"
                         "{\"content\":\"Hi\"}}]}") "event: error\ndata: {\"errors\":[{\"code\":"
                                                    "\"x\",\"message\":\"boom\"}]}\n\n",
                      false);
    ck_assert(r.s.failed);
    ck_assert_str_eq(r.s.error, "boom");
    ck_assert_str_eq(r.k.log, CHUNK(ROLE, "null") CHUNK("{\"content\":\"Hi\"}", "null"));
    /* A message event whose body has errors. */
    tx_run_everywhere(&r, wx(),
                      EV("{\"errors\":[{\"code\":\"c\",\"message\":\"quota\"}],\"status_code\":"
                         "429}"),
                      false);
    ck_assert(r.s.failed);
    ck_assert_str_eq(r.s.error, "quota");
    ck_assert_str_eq(r.k.log, "");
    tx_run_everywhere(&r, wx(), "data: nope\n\n", false);
    ck_assert(r.s.failed);
    ck_assert_ptr_nonnull(strstr(r.s.error, "malformed"));
    /* [DONE] alone ends without output. */
    tx_run_everywhere(&r, wx(), "data: [DONE]\n\n", false);
    ck_assert(r.s.done);
    ck_assert_str_eq(r.k.log, "");
}
END_TEST

START_TEST(error_bodies)
{
    char msg[256], code[64];

    tx_error(wx(),
             "{\"errors\":[{\"code\":\"json_validation_error\",\"message\":\"Json document "
             "validation error: 'x' is not allowed\",\"more_info\":\"https://x\"}],\"trace\":"
             "\"t\",\"status_code\":400}",
             msg, sizeof(msg), code, sizeof(code));
    ck_assert_str_eq(msg, "Json document validation error: 'x' is not allowed");
    ck_assert_str_eq(code, "json_validation_error");
    tx_error(wx(), "{\"error\":{\"message\":\"from a proxy\"}}", msg, sizeof(msg), NULL, 0);
    ck_assert_str_eq(msg, "from a proxy");
    tx_error(wx(), "<html>\nBad Gateway</html>", msg, sizeof(msg), code, sizeof(code));
    ck_assert_str_eq(msg, "<html> Bad Gateway</html>");
    ck_assert_str_eq(code, "");
}
END_TEST

/* prov_ibm_token_reply of body at unix time 1000000. */
static int iam(int status, const char *body, char **tok, long *ttl, char *err, size_t errlen)
{
    return prov_ibm_token_reply(status, body, strlen(body), 1000000, tok, ttl, err, errlen);
}

START_TEST(iam_form_and_reply)
{
    char *f = prov_ibm_token_form("ab-c_9.~/+= &%"), *tok, err[320];
    long ttl;

    ck_assert_str_eq(f, "grant_type=urn%3Aibm%3Aparams%3Aoauth%3Agrant-type%3Aapikey"
                        "&apikey=ab-c_9.~%2F%2B%3D%20%26%25");
    free(f);
    /* expiration (unix time) sets the lifetime; expires_in caps it. */
    ck_assert_int_eq(iam(200,
                         "{\"access_token\":\"T\",\"refresh_token\":\"r\",\"token_type\":"
                         "\"Bearer\",\"expires_in\":3600,\"expiration\":1000600}",
                         &tok, &ttl, err, sizeof(err)),
                     0);
    ck_assert_str_eq(tok, "T");
    ck_assert_int_eq(ttl, 600);
    free(tok);
    ck_assert_int_eq(iam(200, "{\"access_token\":\"T\",\"expires_in\":60,\"expiration\":1003600}",
                         &tok, &ttl, err, sizeof(err)),
                     0);
    ck_assert_int_eq(ttl, 60);
    free(tok);
    ck_assert_int_eq(
        iam(200, "{\"access_token\":\"T\",\"expires_in\":1200}", &tok, &ttl, err, sizeof(err)), 0);
    ck_assert_int_eq(ttl, 1200);
    free(tok);
    ck_assert_int_eq(iam(200, "{\"access_token\":\"T\"}", &tok, &ttl, err, sizeof(err)), 0);
    ck_assert_int_eq(ttl, PROV_IBM_DEFAULT_TTL);
    free(tok);
    /* Errors: IBM's body in one line, malformed replies, an expired token. */
    ck_assert_int_eq(iam(400,
                         "{\"errorCode\":\"BXNIM0415E\",\"errorMessage\":\"Provided API key "
                         "could not be found.\",\"context\":{\"requestId\":\"x\"}}",
                         &tok, &ttl, err, sizeof(err)),
                     -1);
    ck_assert_ptr_null(tok);
    ck_assert_str_eq(err, "the IAM endpoint answered HTTP 400: BXNIM0415E: Provided API key "
                          "could not be found.");
    ck_assert_int_eq(iam(502, "<html>", &tok, &ttl, err, sizeof(err)), -1);
    ck_assert_str_eq(err, "the IAM endpoint answered HTTP 502");
    ck_assert_int_eq(iam(200, "{}", &tok, &ttl, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "no access_token"));
    ck_assert_int_eq(
        iam(200, "{\"access_token\":\"T\",\"expiration\":5}", &tok, &ttl, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "expired"));
    ck_assert_ptr_null(tok);
}
END_TEST

Suite *watsonx_suite(void)
{
    Suite *s = suite_create("watsonx");
    TCase *tc = tcase_create("watsonx");

    tcase_add_test(tc, table_conf_and_http);
    tcase_add_test(tc, project_or_space_required);
    tcase_add_test(tc, build_fields_and_tools);
    tcase_add_test(tc, reply_fixture);
    tcase_add_test(tc, reply_malformed);
    tcase_add_test(tc, stream_text_fixture);
    tcase_add_test(tc, stream_tools_usage_after);
    tcase_add_test(tc, stream_errors);
    tcase_add_test(tc, error_bodies);
    tcase_add_test(tc, iam_form_and_reply);
    suite_add_tcase(s, tc);
    return s;
}
