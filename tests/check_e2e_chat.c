/*
 * End-to-end tests of POST /v1/chat/completions against the real binary and a fake OpenAI-wire
 * provider (tests/fake_upstream.c): what reaches the provider (pass-through fields, config
 * defaults and headers, forced stream usage), what the client sees (JSON relayed, SSE events in
 * order with the usage-only chunk stripped, heartbeats), every upstream failure mapped as in
 * DESIGN.md §2.3 with the provider key scrubbed, timeouts, validation and routing errors that never
 * reach the provider, and backpressure from a client that does not read.
 * Billing and budgets have their own suite (check_e2e_billing.c).
 */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "t_llm.h"

#define CHAT "/v1/chat/completions"

static void chat_up(void)
{
    t_llm_up("    parallel_tool_calls: false\n"
             "    client_args:\n"
             "      custom_headers:\n"
             "        X-Test-Header: from-config\n"
             "  vllm:\n"
             "    api_key: sk-vllm-key-456\n"
             "    api_base: http://127.0.0.1:%d/v1\n"
             "    timeout: 1\n"
             "  lmstudio:\n"
             "    api_base: http://127.0.0.1:1/v1\n"
             "  cohere:\n"
             "    api_key: co-unused\n"
             "    api_base: http://127.0.0.1:1\n"
             "  databricks:\n"
             "    api_key: sk-db-unused\n",
             "stream_heartbeat: 1\n"
             "pricing:\n"
             "  \"openai:fake-ok\":\n"
             "    input_price_per_million: 1.0\n"
             "    output_price_per_million: 2.0\n");
}

/* POSTs body to the chat endpoint with key (NULL: no credentials). */
static void chat(const char *key, const char *body, struct t_resp *r)
{
    char hdr[256];

    if (key != NULL)
        snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s\r\nContent-Type: application/json\r\n",
                 key);
    else
        snprintf(hdr, sizeof(hdr), "Content-Type: application/json\r\n");
    ck_assert_int_eq(t_http(t_api.port, "POST", CHAT, hdr, body, r), 0);
}

/*
 * Occurrences of needle in s. A plain loop: sanitizer builds intercept strstr() and re-measure
 * the whole haystack on every call, which is quadratic on a 20 MB stream.
 */
static int count(const char *s, const char *needle)
{
    size_t n = strlen(needle);
    int c = 0;

    for (; *s != '\0'; s++)
        if (*s == needle[0] && strncmp(s, needle, n) == 0)
            c++;
    return c;
}

/* The fake's record of the last request it received (owned). */
static json_t *last_upstream(void)
{
    json_t *j = t_fake_get(&t_llm_fake, "/_last");

    ck_assert_ptr_nonnull(j);
    return j;
}

START_TEST(json_relayed_with_passthrough)
{
    char *key;
    struct t_resp r;
    json_t *j, *last, *body, *hdrs;

    t_llm_need();
    key = t_llm_user_key("chat-json");
    chat(key,
         "{\"model\":\"openai:fake-ok\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
         "\"seed\":7,\"logit_bias\":{\"15\":2},\"reasoning_effort\":\"low\"}",
         &r);
    ck_assert_int_eq(r.status, 200);
    j = t_json(&r);
    ck_assert_str_eq(
        json_string_value(json_object_get(
            json_object_get(json_array_get(json_object_get(j, "choices"), 0), "message"),
            "content")),
        "Hello from fake");
    ck_assert_int_eq(
        json_integer_value(json_object_get(json_object_get(j, "usage"), "total_tokens")), 15);
    json_decref(j);
    t_resp_free(&r);

    last = last_upstream();
    body = json_object_get(last, "body");
    hdrs = json_object_get(last, "headers");
    ck_assert_str_eq(json_string_value(json_object_get(last, "path")), "/v1/chat/completions");
    ck_assert_str_eq(json_string_value(json_object_get(body, "model")), "fake-ok");
    /* Fields the gateway does not interpret reach the provider unchanged (DESIGN §2.1). */
    ck_assert_int_eq(json_integer_value(json_object_get(body, "seed")), 7);
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(body, "logit_bias"), "15")),
                     2);
    ck_assert_str_eq(json_string_value(json_object_get(body, "reasoning_effort")), "low");
    /* Config fields are defaults; a JSON request gets no stream_options. */
    ck_assert(json_is_false(json_object_get(body, "parallel_tool_calls")));
    ck_assert_ptr_null(json_object_get(body, "stream_options"));
    ck_assert_str_eq(json_string_value(json_object_get(hdrs, "authorization")),
                     "Bearer " T_PROVIDER_KEY);
    ck_assert_str_eq(json_string_value(json_object_get(hdrs, "x-test-header")), "from-config");
    json_decref(last);

    /* A field the request sets wins over the config's. */
    chat(key,
         "{\"model\":\"openai:fake-ok\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
         "\"parallel_tool_calls\":true}",
         &r);
    ck_assert_int_eq(r.status, 200);
    t_resp_free(&r);
    last = last_upstream();
    ck_assert(json_is_true(json_object_get(json_object_get(last, "body"), "parallel_tool_calls")));
    /* Nothing but the model changes: the client's bytes go out as sent, only the model edited. */
    ck_assert_str_eq(json_string_value(json_object_get(last, "raw")),
                     "{\"model\":\"fake-ok\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
                     "\"parallel_tool_calls\":true}");
    json_decref(last);

    /* Values the validation coerces (pydantic's lax mode) go out coerced, not as sent. */
    chat(key,
         "{\"model\":\"openai:fake-ok\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
         "\"parallel_tool_calls\":true, \"temperature\":\"0.5\",\"max_tokens\":16.0}",
         &r);
    ck_assert_int_eq(r.status, 200);
    t_resp_free(&r);
    last = last_upstream();
    body = json_object_get(last, "body");
    ck_assert(json_is_real(json_object_get(body, "temperature")));
    ck_assert(json_real_value(json_object_get(body, "temperature")) == 0.5);
    ck_assert(json_is_integer(json_object_get(body, "max_tokens")));
    ck_assert_int_eq(json_integer_value(json_object_get(body, "max_tokens")), 16);
    ck_assert_str_eq(json_string_value(json_object_get(body, "model")), "fake-ok");
    json_decref(last);
    free(key);
}
END_TEST

START_TEST(stream_relayed_in_order)
{
    char *key, ct[128];
    struct t_resp r;
    json_t *last, *so;
    const char *b, *done;

    t_llm_need();
    key = t_llm_user_key("chat-stream");
    chat(key,
         "{\"model\":\"openai:fake-ok\",\"stream\":true,"
         "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
         &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(t_header(&r, "Content-Type", ct, sizeof(ct)),
                     "text/event-stream; charset=utf-8");
    r.body_len = t_dechunk(r.body, r.body_len);
    b = r.body;
    ck_assert_int_eq(count(b, "data: {"), 3);
    ck_assert_ptr_nonnull(strstr(b, "\"Hel\""));
    ck_assert(strstr(b, "\"Hel\"") < strstr(b, "\"lo\"") &&
              strstr(b, "\"lo\"") < strstr(b, "world"));
    done = strstr(b, "data: [DONE]\n\n");
    ck_assert_ptr_nonnull(done);
    ck_assert_str_eq(done, "data: [DONE]\n\n"); /* the last event */
    /* The client did not ask for usage: the usage-only chunk is not shown (DESIGN §2.4). */
    ck_assert_ptr_null(strstr(b, "\"usage\""));
    t_resp_free(&r);
    last = last_upstream();
    so = json_object_get(json_object_get(last, "body"), "stream_options");
    ck_assert(json_is_true(json_object_get(so, "include_usage")));
    json_decref(last);

    /* Asked for: the usage chunk comes before [DONE]; other stream_options fields are kept. */
    chat(key,
         "{\"model\":\"openai:fake-ok\",\"stream\":true,\"stream_options\":{\"include_usage\":true,"
         "\"x_extra\":1},\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
         &r);
    ck_assert_int_eq(r.status, 200);
    r.body_len = t_dechunk(r.body, r.body_len);
    ck_assert_int_eq(count(r.body, "data: {"), 4);
    ck_assert_ptr_nonnull(strstr(r.body, "\"total_tokens\":15"));
    ck_assert(strstr(r.body, "\"total_tokens\":15") < strstr(r.body, "data: [DONE]"));
    t_resp_free(&r);
    last = last_upstream();
    so = json_object_get(json_object_get(last, "body"), "stream_options");
    ck_assert_int_eq(json_integer_value(json_object_get(so, "x_extra")), 1);
    json_decref(last);
    free(key);
}
END_TEST

/* One upstream status and what the client must get. */
struct err_case {
    const char *model;
    int status;
    const char *detail; /* exact, or NULL: only the prefix below */
};

START_TEST(upstream_errors_mapped)
{
    static const struct err_case cases[] = {
        {"fake-status-400", 400, "fake error 400 for token ***"},
        {"fake-status-404", 404, "fake error 404 for token ***"},
        {"fake-status-413", 413, "fake error 413 for token ***"},
        {"fake-status-422", 422, "fake error 422 for token ***"},
        {"fake-status-429", 429, "fake error 429 for token ***"},
        {"fake-status-401", 502, NULL},
        {"fake-status-403", 502, NULL},
        {"fake-status-500", 502, NULL},
        {"fake-status-503", 502, NULL},
        {"fake-badjson", 502, NULL},
    };
    char *key, body[256], ra[32];
    struct t_resp r;
    char *log;

    t_llm_need();
    key = t_llm_user_key("chat-errors");
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        for (int stream = 0; stream < 2; stream++) {
            json_t *j, *e;
            snprintf(body, sizeof(body),
                     "{\"model\":\"openai:%s\",\"stream\":%s,"
                     "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
                     cases[i].model, stream ? "true" : "false");
            chat(key, body, &r);
            ck_assert_msg(r.status == cases[i].status, "%s stream=%d: %d %s", cases[i].model,
                          stream, r.status, r.body);
            ck_assert_ptr_null(strstr(r.body, T_PROVIDER_KEY));
            j = t_json(&r); /* an error before the stream started is a JSON reply */
            e = json_object_get(j, "error");
            if (cases[i].detail != NULL) {
                ck_assert_str_eq(json_string_value(json_object_get(j, "detail")), cases[i].detail);
                ck_assert_str_eq(json_string_value(json_object_get(e, "code")), "fake_code");
            } else {
                ck_assert_msg(strncmp(json_string_value(json_object_get(j, "detail")),
                                      "The request could not be completed by the provider",
                                      50) == 0,
                              "%s", r.body);
            }
            ck_assert_str_eq(json_string_value(json_object_get(e, "message")),
                             json_string_value(json_object_get(j, "detail")));
            if (cases[i].status == 429)
                ck_assert_str_eq(t_header(&r, "Retry-After", ra, sizeof(ra)), "7");
            json_decref(j);
            t_resp_free(&r);
        }
    }
    /* The provider key is in no log line either. */
    log = t_read_file(t_api.logpath);
    ck_assert_ptr_nonnull(log);
    ck_assert_ptr_null(strstr(log, T_PROVIDER_KEY));
    free(log);
    free(key);
}
END_TEST

START_TEST(timeout_and_unreachable)
{
    char *key;
    struct t_resp r;
    struct timespec a, b;
    json_t *j;

    t_llm_need();
    key = t_llm_user_key("chat-timeout");
    clock_gettime(CLOCK_MONOTONIC, &a);
    chat(key, "{\"model\":\"vllm:fake-hang\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
         &r);
    clock_gettime(CLOCK_MONOTONIC, &b);
    ck_assert_int_eq(r.status, 504);
    ck_assert(b.tv_sec - a.tv_sec < 4);
    j = t_json(&r);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "error"), "type")),
                     "timeout_error");
    json_decref(j);
    t_resp_free(&r);
    /* A stream whose provider never answers times out the same way (the idle limit). */
    clock_gettime(CLOCK_MONOTONIC, &a);
    chat(key,
         "{\"model\":\"vllm:fake-hang\",\"stream\":true,"
         "\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
         &r);
    clock_gettime(CLOCK_MONOTONIC, &b);
    ck_assert_int_eq(r.status, 504);
    ck_assert(b.tv_sec - a.tv_sec < 4);
    t_resp_free(&r);
    /* Silent for longer than the timeout after the stream started: the error event, then end. */
    chat(key,
         "{\"model\":\"vllm:fake-slow-3-1500\",\"stream\":true,"
         "\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
         &r);
    ck_assert_int_eq(r.status, 200);
    r.body_len = t_dechunk(r.body, r.body_len);
    ck_assert_msg(strstr(r.body, "An error occurred during streaming") != NULL, "%s", r.body);
    ck_assert_str_eq(strstr(r.body, "data: [DONE]"), "data: [DONE]\n\n");
    t_resp_free(&r);
    chat(key, "{\"model\":\"lmstudio:m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
         &r);
    ck_assert_int_eq(r.status, 502);
    j = t_json(&r);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "error"), "code")),
                     "upstream_unreachable");
    json_decref(j);
    t_resp_free(&r);
    /* The hung upstream requests were abandoned, not left open. */
    for (int i = 0; i < 50 && t_fake_stat(&t_llm_fake, "active") != 0; i++)
        usleep(20000);
    ck_assert_int_eq(t_fake_stat(&t_llm_fake, "active"), 0);
    free(key);
}
END_TEST

START_TEST(midstream_failure_event)
{
    static const char *const models[] = {"fake-midfail", "fake-miderror"};
    char *key, body[256];
    struct t_resp r;

    t_llm_need();
    key = t_llm_user_key("chat-midstream");
    for (size_t i = 0; i < 2; i++) {
        const char *ev;
        snprintf(body, sizeof(body),
                 "{\"model\":\"openai:%s\",\"stream\":true,"
                 "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
                 models[i]);
        chat(key, body, &r);
        ck_assert_int_eq(r.status, 200);
        r.body_len = t_dechunk(r.body, r.body_len);
        ck_assert_ptr_nonnull(strstr(r.body, "\"Hel\""));
        ev = strstr(r.body, "data: {\"error\":{\"message\":\"An error occurred during streaming\","
                            "\"type\":\"server_error\"}}\n\n");
        ck_assert_msg(ev != NULL, "%s: %s", models[i], r.body);
        ck_assert_str_eq(strstr(ev, "data: [DONE]"), "data: [DONE]\n\n");
        ck_assert_ptr_null(strstr(r.body, "boom")); /* the provider's text is logged, not shown */
        t_resp_free(&r);
    }
    free(key);
}
END_TEST

/* POSTs body with key and expects a 422 whose first item has type and loc body.<field>. */
static void expect_422(const char *key, const char *body, const char *type, const char *field,
                       const char *msg)
{
    struct t_resp r;
    json_t *j;

    chat(key, body, &r);
    ck_assert_msg(r.status == 422, "%s -> %d %s", body, r.status, r.body);
    j = t_json(&r);
    t_expect_422_item(j, 0, type, "body", field, msg);
    json_decref(j);
    t_resp_free(&r);
}

START_TEST(validation_before_upstream)
{
    char *key;
    long before;
    struct t_resp r;

    t_llm_need();
    key = t_llm_user_key("chat-valid");
    before = t_fake_stat(&t_llm_fake, "requests");
    /* Authentication comes before the body is parsed (DESIGN.md §2.14; FastAPI: 422 first). */
    chat(NULL, "{\"model\":", &r);
    ck_assert_int_eq(r.status, 401);
    t_resp_free(&r);
    chat(key, "{\"model\":", &r);
    ck_assert_int_eq(r.status, 422);
    t_resp_free(&r);
    expect_422(key, "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", "missing", "model",
               "Field required");
    expect_422(key, "{\"model\":\"openai:fake-ok\"}", "missing", "messages", NULL);
    expect_422(key, "{\"model\":\"openai:fake-ok\",\"messages\":[]}", "too_short", "messages",
               "List should have at least 1 item after validation, not 0");
    expect_422(key,
               "{\"model\":\"openai:fake-ok\",\"messages\":[{\"role\":\"user\",\"content\":\"a\"},"
               "{\"content\":\"b\"}]}",
               "value_error", "messages", "Value error, messages[1]: 'role' is required");
    expect_422(key, "{\"model\":\"openai:fake-ok\",\"messages\":\"hi\"}", "list_type", "messages",
               NULL);
    expect_422(key, "{\"model\":42,\"messages\":[{\"role\":\"user\"}]}", "string_type", "model",
               NULL);
    expect_422(key,
               "{\"model\":\"openai:fake-ok\",\"messages\":[{\"role\":\"user\"}],"
               "\"temperature\":\"hot\"}",
               "float_parsing", "temperature", NULL);
    expect_422(key,
               "{\"model\":\"openai:fake-ok\",\"messages\":[{\"role\":\"user\"}],\"stream\":null}",
               "bool_type", "stream", NULL);
    expect_422(
        key, "{\"model\":\"openai:fake-ok\",\"messages\":[{\"role\":\"user\"}],\"max_tokens\":1.5}",
        "int_from_float", "max_tokens", NULL);
    ck_assert_int_eq(t_fake_stat(&t_llm_fake, "requests"), before);
    /* Extra message keys and null content are fine. */
    chat(key,
         "{\"model\":\"openai:fake-ok\",\"messages\":[{\"role\":\"user\",\"content\":null,"
         "\"name\":\"bob\"}]}",
         &r);
    ck_assert_int_eq(r.status, 200);
    t_resp_free(&r);
    free(key);
}
END_TEST

START_TEST(auth_and_user_resolution)
{
    struct t_resp r;
    long before;
    char *key;

    t_llm_need();
    key = t_llm_user_key("chat-auth");
    before = t_fake_stat(&t_llm_fake, "requests");
    chat(NULL, "{\"model\":\"openai:fake-ok\",\"messages\":[{\"role\":\"user\"}]}", &r);
    ck_assert_int_eq(r.status, 401);
    t_resp_free(&r);
    chat("gw-invalid", "{\"model\":\"openai:fake-ok\",\"messages\":[{\"role\":\"user\"}]}", &r);
    ck_assert_int_eq(r.status, 401);
    t_resp_free(&r);
    t_expect_error("POST", CHAT, T_AUTH_JSON,
                   "{\"model\":\"openai:fake-ok\",\"messages\":[{\"role\":\"user\"}]}", 400,
                   "When using master key, 'user' field is required in request body");
    t_expect_error("POST", CHAT, T_AUTH_JSON,
                   "{\"model\":\"openai:fake-ok\",\"user\":\"nobody\","
                   "\"messages\":[{\"role\":\"user\"}]}",
                   404, "User 'nobody' not found");
    ck_assert_int_eq(t_fake_stat(&t_llm_fake, "requests"), before);
    json_decref(t_call("POST", CHAT, T_AUTH_JSON,
                       "{\"model\":\"openai:fake-ok\",\"user\":\"chat-auth\","
                       "\"messages\":[{\"role\":\"user\"}]}",
                       200));
    /* The user field is forwarded upstream, as the reference does. */
    {
        json_t *last = last_upstream();
        ck_assert_str_eq(json_string_value(json_object_get(json_object_get(last, "body"), "user")),
                         "chat-auth");
        json_decref(last);
    }
    free(key);
}
END_TEST

START_TEST(model_routing_errors)
{
    struct t_resp r;
    long before;
    char *key;
    json_t *j;
    struct {
        const char *model;
        int status;
        const char *needle;
    } cases[] = {
        {"gpt-4o", 400, "provider:model"},
        {"nosuch:gpt", 400, "nosuch"},
        {"openai:", 400, "provider:model"},
        /* A translating dialect (nothing listens at its base): routed. */
        {"cohere:command-r", 502, "cannot connect"},
        {"databricks:dbrx", 502, "DATABRICKS_HOST"},
        /* DESIGN.md §2.13: providers without a section or key variable are not reachable,
           local servers at their default addresses included. */
        {"llamacpp:x", 400, "Provider 'llamacpp' is not configured"},
        {"ollama:llama3", 400, "Provider 'ollama' is not configured"},
        {"mistral:mistral-small", 400, "Provider 'mistral' is not configured"},
        {"gemini:gemini-2.5-flash", 400, "Provider 'gemini' is not configured"},
    };

    t_llm_need();
    key = t_llm_user_key("chat-models");
    before = t_fake_stat(&t_llm_fake, "requests");
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char body[256];
        snprintf(body, sizeof(body),
                 "{\"model\":\"%s\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
                 cases[i].model);
        chat(key, body, &r);
        ck_assert_msg(r.status == cases[i].status, "%s -> %d %s", cases[i].model, r.status, r.body);
        j = t_json(&r);
        ck_assert_msg(strstr(json_string_value(json_object_get(j, "detail")), cases[i].needle),
                      "%s: %s", cases[i].model, r.body);
        ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "error"), "message")),
                         json_string_value(json_object_get(j, "detail")));
        json_decref(j);
        t_resp_free(&r);
    }
    ck_assert_int_eq(t_fake_stat(&t_llm_fake, "requests"), before);
    /* The legacy provider/model form still routes. */
    chat(key, "{\"model\":\"openai/fake-ok\",\"messages\":[{\"role\":\"user\"}]}", &r);
    ck_assert_int_eq(r.status, 200);
    t_resp_free(&r);
    free(key);
}
END_TEST

/* Occurrences of needle in the gateway's log once it has settled (the log is written async). */
static int log_count(const char *needle)
{
    int n = 0;

    for (int i = 0; i < 40; i++) {
        char *log = t_read_file(t_api.logpath);
        int now = log != NULL ? count(log, needle) : 0;

        free(log);
        if (now > 0 && now == n)
            break;
        n = now;
        usleep(50000);
    }
    return n;
}

/*
 * A model string is at most 256 bytes (a 10 MB one used to go into the usage table), and the
 * "No pricing configured" warning is logged once per model per interval, not per request.
 */
START_TEST(model_length_and_unpriced_warning)
{
    char *key, *body, model[300];
    size_t big = 1 << 20;
    long before;
    struct t_resp r;
    json_t *j;

    t_llm_need();
    key = t_llm_user_key("chat-model-len");
    snprintf(model, sizeof(model), "openai:%0249d", 7); /* 256 bytes */
    ck_assert_uint_eq(strlen(model), 256);
    body = malloc(big + 256);
    ck_assert_ptr_nonnull(body);
    snprintf(body, big + 256, "{\"model\":\"%s\",\"messages\":[{\"role\":\"user\"}]}", model);
    chat(key, body, &r);
    ck_assert_msg(r.status == 200, "%d %s", r.status, r.body);
    t_resp_free(&r);

    before = t_fake_stat(&t_llm_fake, "requests");
    snprintf(body, big + 256, "{\"model\":\"%s8\",\"messages\":[{\"role\":\"user\"}]}",
             model); /* 257 bytes */
    chat(key, body, &r);
    ck_assert_int_eq(r.status, 400);
    j = t_json(&r);
    ck_assert_str_eq(json_string_value(json_object_get(j, "detail")),
                     "Model name is too long: 257 bytes, at most 256 are accepted");
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "error"), "code")),
                     "invalid_model");
    json_decref(j);
    t_resp_free(&r);
    /* A 1 MiB model name. */
    memcpy(body, "{\"model\":\"openai:", 17);
    memset(body + 17, 'm', big);
    snprintf(body + 17 + big, 64, "\",\"messages\":[{\"role\":\"user\"}]}");
    chat(key, body, &r);
    ck_assert_int_eq(r.status, 400);
    ck_assert_ptr_nonnull(strstr(r.body, "Model name is too long"));
    t_resp_free(&r);
    ck_assert_int_eq(t_fake_stat(&t_llm_fake, "requests"), before);
    free(body);

    /* Three requests for one unpriced model: one warning. */
    for (int i = 0; i < 3; i++) {
        chat(key, "{\"model\":\"openai:fake-unpriced-w\",\"messages\":[{\"role\":\"user\"}]}", &r);
        ck_assert_int_eq(r.status, 200);
        t_resp_free(&r);
    }
    ck_assert_int_eq(log_count("No pricing configured for 'openai:fake-unpriced-w'"), 1);
    free(key);
}
END_TEST

START_TEST(heartbeat_while_provider_silent)
{
    struct t_resp r;
    char *key;

    t_llm_need();
    key = t_llm_user_key("chat-beat");
    chat(key,
         "{\"model\":\"openai:fake-slow-2-1600\",\"stream\":true,"
         "\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
         &r);
    ck_assert_int_eq(r.status, 200);
    r.body_len = t_dechunk(r.body, r.body_len);
    ck_assert_msg(strstr(r.body, ": keep-alive\n\n") != NULL, "%s", r.body);
    ck_assert_int_eq(count(r.body, "data: {"), 2);
    ck_assert_str_eq(strstr(r.body, "data: [DONE]"), "data: [DONE]\n\n");
    t_resp_free(&r);
    free(key);
}
END_TEST

/*
 * A connection to the gateway whose receive buffer is fixed at 64 KiB: the kernel's autotuning
 * would otherwise let it grow to several MB (tcp_rmem), which is buffering the test does not
 * mean to measure (a run saw 10,212 of 20,000 chunks sent while the client slept).
 */
static int connect_gw(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)t_api.port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM, 0), rcvbuf = 64 * 1024;

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)), 0);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

START_TEST(slow_reader_backpressure)
{
    /*
     * 60,000 chunks of 1 KB of text: far more than the kernel can hold between the provider and
     * the client (socket buffers autotune to several MB on each of the two connections; a run
     * with 20,000 saw 10,212 sent while the client slept, with backpressure working).
     */
    const int n = 60000;
    char *key, req[1024], *all;
    size_t cap = 1 << 20;
    const char *body = "{\"model\":\"openai:fake-big-60000\",\"stream\":true,"
                       "\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}";
    size_t total = 0;
    long sent_paused;
    int fd, len, events;

    t_llm_need();
    key = t_llm_user_key("chat-slow");
    t_fake_reset(&t_llm_fake);
    len = snprintf(req, sizeof(req),
                   "POST " CHAT " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                   "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
                   "Content-Length: %zu\r\n\r\n%s",
                   key, strlen(body), body);
    all = malloc(cap);
    ck_assert_ptr_nonnull(all);
    fd = connect_gw();
    ck_assert_int_eq(send(fd, req, (size_t)len, 0), len);
    /* Read nothing for a while: the gateway must stop pulling from the provider. */
    usleep(1500000);
    sent_paused = t_fake_stat(&t_llm_fake, "chunks_sent");
    fprintf(stderr, "slow reader: provider sent %ld of %d chunks while the client slept\n",
            sent_paused, n);
    ck_assert_msg(sent_paused > 0 && sent_paused < n / 3, "provider sent %ld of %d chunks",
                  sent_paused, n);
    /* Now read everything; every event arrives. */
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        ssize_t got;
        if (poll(&p, 1, 10000) <= 0)
            break;
        if (total + 65536 + 1 > cap) {
            cap *= 2;
            all = realloc(all, cap);
            ck_assert_ptr_nonnull(all);
        }
        got = recv(fd, all + total, 65536, 0);
        if (got <= 0)
            break;
        total += (size_t)got;
    }
    all[total] = '\0';
    events = count(all, "data: {");
    free(all);
    close(fd);
    ck_assert_int_eq(events, n);
    ck_assert_msg(total > (size_t)n * 1000, "read %zu bytes", total);
    ck_assert_int_eq(t_fake_stat(&t_llm_fake, "chunks_sent"), n);
    free(key);
}
END_TEST

Suite *e2e_chat_suite(void)
{
    Suite *s = suite_create("e2e_chat");
    TCase *tc = tcase_create("chat");

    tcase_add_unchecked_fixture(tc, chat_up, t_llm_down);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, json_relayed_with_passthrough);
    tcase_add_test(tc, stream_relayed_in_order);
    tcase_add_test(tc, upstream_errors_mapped);
    tcase_add_test(tc, timeout_and_unreachable);
    tcase_add_test(tc, midstream_failure_event);
    tcase_add_test(tc, validation_before_upstream);
    tcase_add_test(tc, auth_and_user_resolution);
    tcase_add_test(tc, model_routing_errors);
    tcase_add_test(tc, model_length_and_unpriced_warning);
    tcase_add_test(tc, heartbeat_while_provider_silent);
    tcase_add_test(tc, slow_reader_backpressure);
    t_api_add_shutdown_test(tc);
    suite_add_tcase(s, tc);
    return s;
}
