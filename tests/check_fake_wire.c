/*
 * Tests of the fake provider's other wires (tests/fake_gemini.c, fake_cohere.c, fake_ollama.c,
 * fake_voyage.c) and of its OpenAI embeddings, over plain HTTP: each scenario's reply, the
 * stream framing of each wire (Gemini SSE with CRLF and no [DONE], Cohere typed events, Ollama
 * NDJSON), the errors in each provider's shape, the credentials each wants, what /_last
 * records, and a clean exit (leak-free under SAN) after each test.
 */
#include <check.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "t_fake.h"
#include "t_gw.h"

#define CT "Content-Type: application/json\r\n"
#define GEM_KEY CT "x-goog-api-key: gk-test\r\n"
#define BEARER CT "Authorization: Bearer tok-test\r\n"
#define GEM_BODY "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"hi\"}]}]}"
#define CO_BODY "{\"model\":\"%s\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]%s}"
#define VERTEX "/v1/projects/p1/locations/us-central1/publishers/google/models/"

static struct t_fake wk;

static void wire_up(void)
{
    ck_assert_msg(t_fake_start(&wk) == 0, "fake-upstream ($GW_FAKE) did not start");
}

static void wire_down(void)
{
    t_fake_stop(&wk);
}

/* SIGTERM must give exit status 0 (under SAN this includes LeakSanitizer). */
static void wire_stop_clean(void)
{
    ck_assert_int_eq(t_fake_stop_rc(&wk), 0);
}

/* POSTs the printf-formatted body to path; returns the status. */
__attribute__((format(printf, 4, 5))) static int wpost(const char *path, const char *headers,
                                                       struct t_resp *r, const char *fmt, ...)
{
    char body[2048];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(body, sizeof(body), fmt, ap);
    va_end(ap);
    ck_assert_int_lt(n, (int)sizeof(body));
    ck_assert_int_eq(t_http(wk.port, "POST", path, headers, body, r), 0);
    return r->status;
}

/* The reply's body as JSON (owned); fails the test when it is not JSON. */
static json_t *wjson(struct t_resp *r)
{
    json_t *j = json_loadb(r->body, r->body_len, 0, NULL);

    ck_assert_msg(j != NULL, "not JSON: %s", r->body);
    return j;
}

static const char *wstr(json_t *j, const char *path)
{
    const char *s = json_string_value(t_json_at(j, path));

    ck_assert_msg(s != NULL, "%s is not a string", path);
    return s;
}

static long wint(json_t *j, const char *path)
{
    json_t *v = t_json_at(j, path);

    ck_assert_msg(json_is_integer(v), "%s is not an integer", path);
    return (long)json_integer_value(v);
}

/* The header's value (static buffer; "" when absent). */
static const char *whdr(const struct t_resp *r, const char *name)
{
    static char buf[256];

    return t_header(r, name, buf, sizeof(buf)) != NULL ? buf : "";
}

/* A JSON reply of status whose body is an object; returns it (owned). */
static json_t *wreply(struct t_resp *r, int status)
{
    json_t *j;

    ck_assert_msg(r->status == status, "status %d, want %d: %s", r->status, status, r->body);
    ck_assert_str_eq(whdr(r, "Content-Type"), "application/json");
    j = wjson(r);
    t_resp_free(r);
    return j;
}

/*
 * Splits a streamed body (chunked framing removed) at sep into the JSON objects between (a JSON
 * array, owned); prefix must start each piece and is dropped. Fails on anything after the last
 * separator.
 */
static json_t *wsplit(struct t_resp *r, const char *ctype, const char *prefix, const char *sep)
{
    json_t *out = json_array();
    size_t len;
    char *p;

    ck_assert_int_eq(r->status, 200);
    ck_assert_str_eq(whdr(r, "Content-Type"), ctype);
    len = t_dechunk(r->body, r->body_len);
    r->body[len] = '\0';
    for (p = r->body; *p != '\0';) {
        char *end = strstr(p, sep);
        json_t *j;

        ck_assert_msg(end != NULL, "unterminated piece: %s", p);
        ck_assert_msg(strncmp(p, prefix, strlen(prefix)) == 0, "piece without '%s': %s", prefix, p);
        p += strlen(prefix);
        j = json_loadb(p, (size_t)(end - p), 0, NULL);
        ck_assert_msg(json_is_object(j), "piece is not a JSON object: %.*s", (int)(end - p), p);
        json_array_append_new(out, j);
        p = end + strlen(sep);
    }
    t_resp_free(r);
    return out;
}

/* /_last: the path and one header of the latest POST. */
static void wlast(const char *path, const char *header, const char *value)
{
    json_t *last = t_fake_get(&wk, "/_last");

    ck_assert_ptr_nonnull(last);
    ck_assert_str_eq(wstr(last, "path"), path);
    ck_assert_str_eq(wstr(t_json_at(last, "headers"), header), value);
    json_decref(last);
}

/* ---- Gemini, Vertex AI ---- */

START_TEST(gemini_json)
{
    struct t_resp r;
    json_t *j;

    wpost("/v1beta/models/gem-ok:generateContent", GEM_KEY, &r, GEM_BODY);
    j = wreply(&r, 200);
    ck_assert_str_eq(wstr(j, "candidates.0.content.role"), "model");
    ck_assert_str_eq(wstr(j, "candidates.0.content.parts.0.text"), "Hello from gemini");
    ck_assert_str_eq(wstr(j, "candidates.0.finishReason"), "STOP");
    ck_assert_int_eq(wint(j, "usageMetadata.promptTokenCount"), 10);
    ck_assert_int_eq(wint(j, "usageMetadata.candidatesTokenCount"), 5);
    ck_assert_int_eq(wint(j, "usageMetadata.totalTokenCount"), 15);
    ck_assert_str_eq(wstr(j, "modelVersion"), "gem-ok");
    json_decref(j);
    wlast("/v1beta/models/gem-ok:generateContent", "x-goog-api-key", "gk-test");

    /* §5.3 through Vertex: the bearer token, the model from the URL. */
    wpost(VERTEX "gem-tools~t1:generateContent", BEARER, &r, GEM_BODY);
    j = wreply(&r, 200);
    ck_assert_str_eq(wstr(j, "candidates.0.content.parts.0.text"), "Thinking\xe2\x80\xa6");
    ck_assert(json_is_true(t_json_at(j, "candidates.0.content.parts.0.thought")));
    ck_assert_str_eq(wstr(j, "candidates.0.content.parts.1.functionCall.name"), "get_weather");
    ck_assert_str_eq(wstr(j, "candidates.0.content.parts.1.functionCall.args.city"), "Paris");
    ck_assert_str_eq(wstr(j, "candidates.0.content.parts.1.thoughtSignature"), "c2ln");
    ck_assert_int_eq(wint(j, "usageMetadata.promptTokenCount"), 30);
    ck_assert_int_eq(wint(j, "usageMetadata.candidatesTokenCount"), 8);
    ck_assert_int_eq(wint(j, "usageMetadata.thoughtsTokenCount"), 12);
    ck_assert_int_eq(wint(j, "usageMetadata.totalTokenCount"), 50);
    json_decref(j);
    wlast(VERTEX "gem-tools~t1:generateContent", "authorization", "Bearer tok-test");
    wire_stop_clean();
}
END_TEST

START_TEST(gemini_stream)
{
    struct t_resp r;
    json_t *ev;

    wpost("/v1beta/models/gem-ok:streamGenerateContent?alt=sse", GEM_KEY, &r, GEM_BODY);
    ck_assert_ptr_null(strstr(r.body, "[DONE]"));
    ev = wsplit(&r, "text/event-stream", "data: ", "\r\n\r\n");
    ck_assert_int_eq(json_array_size(ev), 2);
    ck_assert_str_eq(wstr(ev, "0.candidates.0.content.parts.0.text"), "Hel");
    ck_assert_ptr_null(t_json_at(ev, "0.candidates.0.finishReason"));
    ck_assert_int_eq(wint(ev, "0.usageMetadata.promptTokenCount"), 5);
    ck_assert_str_eq(wstr(ev, "1.candidates.0.content.parts.0.text"), "lo");
    ck_assert_str_eq(wstr(ev, "1.candidates.0.finishReason"), "STOP");
    ck_assert_int_eq(wint(ev, "1.usageMetadata.candidatesTokenCount"), 2);
    ck_assert_int_eq(wint(ev, "1.usageMetadata.totalTokenCount"), 7);
    json_decref(ev);
    ck_assert_int_eq(t_fake_stat(&wk, "chunks_sent"), 2);

    wpost(VERTEX "gem-tools:streamGenerateContent?alt=sse", BEARER, &r, GEM_BODY);
    ev = wsplit(&r, "text/event-stream", "data: ", "\r\n\r\n");
    ck_assert_int_eq(json_array_size(ev), 2);
    ck_assert(json_is_true(t_json_at(ev, "0.candidates.0.content.parts.0.thought")));
    ck_assert_str_eq(wstr(ev, "1.candidates.0.content.parts.0.functionCall.name"), "get_weather");
    ck_assert_int_eq(wint(ev, "1.usageMetadata.thoughtsTokenCount"), 12);
    json_decref(ev);

    wpost("/v1beta/models/gem-miderror:streamGenerateContent?alt=sse", GEM_KEY, &r, GEM_BODY);
    ev = wsplit(&r, "text/event-stream", "data: ", "\r\n\r\n");
    ck_assert_int_eq(json_array_size(ev), 2);
    ck_assert_str_eq(wstr(ev, "0.candidates.0.content.parts.0.text"), "Hel");
    ck_assert_int_eq(wint(ev, "1.error.code"), 500);
    ck_assert_str_eq(wstr(ev, "1.error.status"), "INTERNAL");
    json_decref(ev);
    wire_stop_clean();
}
END_TEST

/* A Google error of status with that rpc status name. */
static void gem_err(struct t_resp *r, int status, const char *name)
{
    json_t *j = wreply(r, status);

    ck_assert_int_eq(wint(j, "error.code"), status);
    ck_assert_str_eq(wstr(j, "error.status"), name);
    ck_assert(strlen(wstr(j, "error.message")) > 0);
    json_decref(j);
}

START_TEST(gemini_errors)
{
    struct t_resp r;
    json_t *j;

    wpost("/v1beta/models/gem-ok:generateContent", CT, &r, GEM_BODY);
    gem_err(&r, 401, "UNAUTHENTICATED");
    /* Vertex wants a bearer token, not an API key. */
    wpost(VERTEX "gem-ok:generateContent", GEM_KEY, &r, GEM_BODY);
    gem_err(&r, 401, "UNAUTHENTICATED");
    wpost("/v1beta/models/gem-ok:generateContent", GEM_KEY, &r,
          "{\"contents\":[{\"parts\":[]}],\"stream_options\":{}}");
    j = wreply(&r, 400);
    ck_assert_ptr_nonnull(strstr(wstr(j, "error.message"), "Unknown name \"stream_options\""));
    json_decref(j);
    wpost("/v1beta/models/gem-ok:generateContent", GEM_KEY, &r, "{\"contents\":[]}");
    gem_err(&r, 400, "INVALID_ARGUMENT");
    wpost("/v1beta/models/gem-ok:streamGenerateContent", GEM_KEY, &r, GEM_BODY);
    gem_err(&r, 400, "INVALID_ARGUMENT");
    wpost(VERTEX "gem-ok:generateContent", BEARER, &r, "{\"contents\":[{\"parts\":[]}]}");
    gem_err(&r, 400, "INVALID_ARGUMENT");
    wpost("/v1beta/models/gem-ok:countTokens", GEM_KEY, &r, GEM_BODY);
    gem_err(&r, 404, "NOT_FOUND");
    wpost("/v1beta/models/gem-status-503:generateContent", GEM_KEY, &r, GEM_BODY);
    gem_err(&r, 503, "UNAVAILABLE");
    wpost("/v1beta/models/gem-miderror:generateContent", GEM_KEY, &r, GEM_BODY);
    gem_err(&r, 500, "INTERNAL");
    wpost(VERTEX "gem-status-429:streamGenerateContent?alt=sse", BEARER, &r, GEM_BODY);
    j = wreply(&r, 429);
    ck_assert_str_eq(wstr(j, "error.status"), "RESOURCE_EXHAUSTED");
    ck_assert_str_eq(wstr(j, "error.message"), "Resource exhausted");
    ck_assert_str_eq(wstr(j, "error.details.0.retryDelay"), "7s");
    json_decref(j);
    wire_stop_clean();
}
END_TEST

#define GEM_BATCH                                                                                  \
    "{\"requests\":[{\"model\":\"models/%s\",\"content\":{\"parts\":[{\"text\":\"a\"}]}},"         \
    "{\"model\":\"models/%s\",\"content\":{\"parts\":[{\"text\":\"b\"}]}}]}"

START_TEST(gemini_embeddings)
{
    struct t_resp r;
    json_t *j;

    wpost("/v1beta/models/gemini-embedding-001:batchEmbedContents", GEM_KEY, &r, GEM_BATCH,
          "gemini-embedding-001", "gemini-embedding-001");
    j = wreply(&r, 200);
    ck_assert_int_eq(json_array_size(t_json_at(j, "embeddings")), 2);
    ck_assert_double_eq(json_real_value(t_json_at(j, "embeddings.0.values.0")), 0.5);
    ck_assert_double_eq(json_real_value(t_json_at(j, "embeddings.1.values.0")), 1.5);
    ck_assert_double_eq(json_real_value(t_json_at(j, "embeddings.1.values.2")), 0.25);
    ck_assert_int_eq(json_object_size(j), 1); /* no usage */
    json_decref(j);
    wpost("/v1beta/models/gemini-embedding-001:batchEmbedContents", GEM_KEY, &r, GEM_BATCH,
          "gemini-embedding-001", "other");
    gem_err(&r, 400, "INVALID_ARGUMENT");
    wpost("/v1beta/models/gem-status-429:batchEmbedContents", GEM_KEY, &r, GEM_BATCH,
          "gem-status-429", "gem-status-429");
    gem_err(&r, 429, "RESOURCE_EXHAUSTED");

    wpost(VERTEX "text-embedding-005:predict", BEARER, &r,
          "{\"instances\":[{\"content\":\"a\"},{\"content\":\"b\"},{\"content\":\"c\"}],"
          "\"parameters\":{\"outputDimensionality\":3}}");
    j = wreply(&r, 200);
    ck_assert_int_eq(json_array_size(t_json_at(j, "predictions")), 3);
    ck_assert_double_eq(json_real_value(t_json_at(j, "predictions.2.embeddings.values.0")), 2.5);
    ck_assert_int_eq(wint(j, "predictions.2.embeddings.statistics.token_count"), 4);
    json_decref(j);
    wlast(VERTEX "text-embedding-005:predict", "authorization", "Bearer tok-test");
    wire_stop_clean();
}
END_TEST

/* ---- Cohere ---- */

START_TEST(cohere_chat)
{
    struct t_resp r;
    json_t *j;

    wpost("/v2/chat", BEARER, &r, CO_BODY, "co-ok", "");
    j = wreply(&r, 200);
    ck_assert_str_eq(wstr(j, "message.content.0.text"), "Hello from cohere");
    ck_assert_str_eq(wstr(j, "finish_reason"), "COMPLETE");
    ck_assert_int_eq(wint(j, "usage.tokens.input_tokens"), 10);
    ck_assert_int_eq(wint(j, "usage.tokens.output_tokens"), 5);
    json_decref(j);
    wlast("/v2/chat", "authorization", "Bearer tok-test");

    wpost("/v2/chat", BEARER, &r, CO_BODY, "co-tools", ",\"tools\":[]");
    j = wreply(&r, 200);
    ck_assert_str_eq(wstr(j, "finish_reason"), "TOOL_CALL");
    ck_assert_str_eq(wstr(j, "message.tool_plan"), "I will look up the weather.");
    ck_assert_str_eq(wstr(j, "message.tool_calls.0.id"), "get_weather_1");
    ck_assert_str_eq(wstr(j, "message.tool_calls.0.function.arguments"), "{\"city\":\"Paris\"}");
    ck_assert_int_eq(wint(j, "usage.tokens.input_tokens"), 512);
    ck_assert_int_eq(wint(j, "usage.billed_units.input_tokens"), 20);
    ck_assert_int_eq(wint(j, "usage.tokens.output_tokens"), 12);
    json_decref(j);

    wpost("/v2/chat", CT, &r, CO_BODY, "co-ok", "");
    j = wreply(&r, 401);
    ck_assert(strlen(wstr(j, "message")) > 0);
    json_decref(j);
    wpost("/v2/chat", BEARER, &r, CO_BODY, "co-ok", ",\"stream_options\":{}");
    j = wreply(&r, 400);
    ck_assert_ptr_nonnull(strstr(wstr(j, "message"), "stream_options"));
    json_decref(j);
    wpost("/v2/chat", BEARER, &r, CO_BODY, "co-status-429", "");
    j = wreply(&r, 429);
    ck_assert_ptr_nonnull(strstr(wstr(j, "message"), "Trial key"));
    json_decref(j);
    wire_stop_clean();
}
END_TEST

/* Cohere events "event: T\ndata: {..\"type\":\"T\"..}\n\n" (a JSON array, owned), without [DONE];
 * their types joined by spaces go to types. */
static json_t *co_events(struct t_resp *r, char *types, size_t len)
{
    json_t *ev = json_array(), *j;
    size_t n = 0;
    char *p;

    ck_assert_int_eq(r->status, 200);
    ck_assert_str_eq(whdr(r, "Content-Type"), "text/event-stream");
    r->body[t_dechunk(r->body, r->body_len)] = '\0';
    ck_assert_ptr_null(strstr(r->body, "[DONE]"));
    types[0] = '\0';
    for (p = r->body; *p != '\0';) {
        char *nl = strchr(p, '\n'), *end = strstr(p, "\n\n");

        ck_assert_msg(strncmp(p, "event: ", 7) == 0 && nl != NULL && end != NULL &&
                          strncmp(nl + 1, "data: ", 6) == 0,
                      "bad event: %s", p);
        j = json_loadb(nl + 7, (size_t)(end - nl - 7), 0, NULL);
        ck_assert_msg(json_is_object(j), "bad data: %s", p);
        ck_assert_int_eq(strlen(wstr(j, "type")), (size_t)(nl - p - 7));
        ck_assert_int_eq(strncmp(wstr(j, "type"), p + 7, (size_t)(nl - p - 7)), 0);
        n += (size_t)snprintf(types + n, len - n, "%s%s", n > 0 ? " " : "", wstr(j, "type"));
        ck_assert_uint_lt(n, len);
        json_array_append_new(ev, j);
        p = end + 2;
    }
    t_resp_free(r);
    return ev;
}

START_TEST(cohere_stream)
{
    struct t_resp r;
    char types[512];
    json_t *ev;

    wpost("/v2/chat", BEARER, &r, CO_BODY, "co-ok", ",\"stream\":true");
    ev = co_events(&r, types, sizeof(types));
    ck_assert_str_eq(types, "message-start content-start content-delta content-delta content-end "
                            "message-end");
    ck_assert_str_eq(wstr(ev, "2.delta.message.content.text"), "Hel");
    ck_assert_str_eq(wstr(ev, "3.delta.message.content.text"), "lo");
    ck_assert_str_eq(wstr(ev, "5.delta.finish_reason"), "COMPLETE");
    ck_assert_int_eq(wint(ev, "5.delta.usage.tokens.input_tokens"), 10);
    ck_assert_int_eq(wint(ev, "5.delta.usage.tokens.output_tokens"), 5);
    json_decref(ev);

    wpost("/v2/chat", BEARER, &r, CO_BODY, "co-tools", ",\"stream\":true");
    ev = co_events(&r, types, sizeof(types));
    ck_assert_str_eq(types, "message-start tool-plan-delta tool-call-start tool-call-delta "
                            "tool-call-delta tool-call-end message-end");
    ck_assert_str_eq(wstr(ev, "2.delta.message.tool_calls.function.name"), "get_weather");
    ck_assert_str_eq(wstr(ev, "3.delta.message.tool_calls.function.arguments"), "{\"city\":");
    ck_assert_str_eq(wstr(ev, "6.delta.finish_reason"), "TOOL_CALL");
    ck_assert_int_eq(wint(ev, "6.delta.usage.tokens.input_tokens"), 512);
    json_decref(ev);
    wire_stop_clean();
}
END_TEST

#define CO_EMBED "{\"model\":\"%s\",\"texts\":[\"a\",\"b\"]%s}"

START_TEST(cohere_embed)
{
    struct t_resp r;
    json_t *j;

    wpost("/v2/embed", BEARER, &r, CO_EMBED, "embed-v4.0",
          ",\"input_type\":\"search_document\",\"embedding_types\":[\"float\"]");
    j = wreply(&r, 200);
    ck_assert_int_eq(json_array_size(t_json_at(j, "embeddings.float")), 2);
    ck_assert_double_eq(json_real_value(t_json_at(j, "embeddings.float.1.0")), 1.5);
    ck_assert_double_eq(json_real_value(t_json_at(j, "embeddings.float.1.1")), -1.0);
    ck_assert_int_eq(wint(j, "meta.billed_units.input_tokens"), 8);
    json_decref(j);
    wpost("/v2/embed", BEARER, &r, CO_EMBED, "embed-v4.0", ""); /* input_type is required */
    json_decref(wreply(&r, 400));
    wpost("/v2/embed", CT, &r, CO_EMBED, "embed-v4.0", ",\"input_type\":\"search_query\"");
    json_decref(wreply(&r, 401));
    wpost("/v2/embed", BEARER, &r, CO_EMBED, "co-status-500", ",\"input_type\":\"search_query\"");
    json_decref(wreply(&r, 500));
    wire_stop_clean();
}
END_TEST

/* ---- Ollama ---- */

START_TEST(ollama_chat)
{
    struct t_resp r;
    json_t *j;

    wpost("/api/chat", CT, &r, CO_BODY, "oll-ok", ",\"stream\":false");
    j = wreply(&r, 200);
    ck_assert_str_eq(wstr(j, "message.content"), "Hello from ollama");
    ck_assert(json_is_true(t_json_at(j, "done")));
    ck_assert_str_eq(wstr(j, "done_reason"), "stop");
    ck_assert_int_eq(wint(j, "prompt_eval_count"), 5);
    ck_assert_int_eq(wint(j, "eval_count"), 2);
    json_decref(j);

    /* Without "stream", Ollama streams. */
    wpost("/api/chat", CT, &r, CO_BODY, "oll-ok", "");
    j = wsplit(&r, "application/x-ndjson", "", "\n");
    ck_assert_int_eq(json_array_size(j), 3);
    ck_assert_str_eq(wstr(j, "0.message.content"), "Hel");
    ck_assert(json_is_false(t_json_at(j, "0.done")));
    ck_assert_str_eq(wstr(j, "1.message.content"), "lo");
    ck_assert(json_is_true(t_json_at(j, "2.done")));
    ck_assert_int_eq(wint(j, "2.prompt_eval_count"), 5);
    ck_assert_int_eq(wint(j, "2.eval_count"), 2);
    json_decref(j);
    ck_assert_int_eq(t_fake_stat(&wk, "chunks_sent"), 2);

    wpost("/api/chat", CT, &r, CO_BODY, "oll-tools", ",\"stream\":false");
    j = wreply(&r, 200);
    ck_assert_str_eq(wstr(j, "message.tool_calls.0.function.name"), "get_weather");
    ck_assert_str_eq(wstr(j, "message.tool_calls.0.function.arguments.city"), "Paris");
    ck_assert_int_eq(wint(j, "prompt_eval_count"), 41);
    ck_assert_int_eq(wint(j, "eval_count"), 17);
    json_decref(j);
    wpost("/api/chat", CT, &r, CO_BODY, "oll-tools", ",\"stream\":true");
    j = wsplit(&r, "application/x-ndjson", "", "\n");
    ck_assert_int_eq(json_array_size(j), 3);
    ck_assert_str_eq(wstr(j, "0.message.thinking"), "Checking the weather.");
    ck_assert_str_eq(wstr(j, "1.message.tool_calls.0.function.arguments.city"), "Paris");
    ck_assert_int_eq(wint(j, "2.eval_count"), 17);
    json_decref(j);

    wpost("/api/chat", CT, &r, CO_BODY, "oll-miderror", ",\"stream\":true");
    j = wsplit(&r, "application/x-ndjson", "", "\n");
    ck_assert_int_eq(json_array_size(j), 2);
    ck_assert_str_eq(wstr(j, "1.error"), "fake ollama mid-stream error");
    json_decref(j);
    wpost("/api/chat", CT, &r, CO_BODY, "oll-missing", ",\"stream\":false");
    j = wreply(&r, 404);
    ck_assert_str_eq(wstr(j, "error"), "model \"oll-missing\" not found, try pulling it first");
    json_decref(j);
    wire_stop_clean();
}
END_TEST

START_TEST(ollama_embed)
{
    struct t_resp r;
    json_t *j, *last;

    wpost("/api/embed", CT, &r, "{\"model\":\"%s\",\"input\":[\"a\",\"b\",\"c\"]}",
          "nomic-embed-text");
    j = wreply(&r, 200);
    ck_assert_str_eq(wstr(j, "model"), "nomic-embed-text");
    ck_assert_int_eq(json_array_size(t_json_at(j, "embeddings")), 3);
    ck_assert_double_eq(json_real_value(t_json_at(j, "embeddings.2.0")), 2.5);
    ck_assert_int_eq(wint(j, "prompt_eval_count"), 12);
    json_decref(j);
    last = t_fake_get(&wk, "/_last");
    ck_assert_str_eq(wstr(last, "path"), "/api/embed");
    ck_assert_str_eq(wstr(last, "body.input.2"), "c");
    json_decref(last);
    wpost("/api/embed", CT, &r, "{\"model\":\"%s\",\"input\":[1]}", "nomic-embed-text");
    json_decref(wreply(&r, 400));
    wpost("/api/embed", CT, &r, "{\"model\":\"%s\",\"input\":\"a\"}", "oll-missing");
    json_decref(wreply(&r, 404));
    wire_stop_clean();
}
END_TEST

/* ---- Voyage, OpenAI embeddings ---- */

/* Decodes base64 of little-endian float32 into v (n values expected). */
static void b64_floats(const char *b64, float *v, size_t n)
{
    unsigned char raw[64];
    int len = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)strlen(b64));

    ck_assert_int_ge(len, (int)(n * 4)); /* EVP_DecodeBlock counts the padding bytes too */
    for (size_t i = 0; i < n; i++) {
        uint32_t u = (uint32_t)raw[i * 4] | (uint32_t)raw[i * 4 + 1] << 8 |
                     (uint32_t)raw[i * 4 + 2] << 16 | (uint32_t)raw[i * 4 + 3] << 24;

        memcpy(&v[i], &u, sizeof(v[i]));
    }
}

START_TEST(openai_embeddings)
{
    struct t_resp r;
    float v[3];
    json_t *j;

    wpost("/v1/embeddings", CT, &r,
          "{\"model\":\"%s\",\"input\":[\"a\",\"b\"],\"encoding_format\":\"base64\"}",
          "text-embedding-3-small");
    j = wreply(&r, 200);
    ck_assert_int_eq(json_array_size(t_json_at(j, "data")), 2);
    ck_assert_str_eq(wstr(j, "data.0.embedding"), "zczMPc3MTD6amZk+");
    b64_floats(wstr(j, "data.1.embedding"), v, 3);
    ck_assert_float_eq(v[0], 1.1f);
    ck_assert_float_eq(v[1], 0.2f);
    ck_assert_float_eq(v[2], 0.3f);
    ck_assert_int_eq(wint(j, "data.1.index"), 1);
    ck_assert_int_eq(wint(j, "usage.prompt_tokens"), 8);
    ck_assert_int_eq(wint(j, "usage.total_tokens"), 8);
    json_decref(j);
    /* Token arrays: one input each; a flat token array is one input. */
    wpost("/v1/embeddings", CT, &r, "{\"model\":\"%s\",\"input\":[[1,2],[3],[4]]%s}", "m",
          ",\"encoding_format\":\"float\"");
    j = wreply(&r, 200);
    ck_assert_int_eq(json_array_size(t_json_at(j, "data")), 3);
    ck_assert_double_eq_tol(json_real_value(t_json_at(j, "data.2.embedding.0")), 2.1, 1e-9);
    ck_assert_int_eq(wint(j, "usage.prompt_tokens"), 12);
    json_decref(j);
    wpost("/v1/embeddings", CT, &r, "{\"model\":\"%s\",\"input\":[1,2,3]}", "m");
    j = wreply(&r, 200);
    ck_assert_int_eq(json_array_size(t_json_at(j, "data")), 1);
    json_decref(j);
    wpost("/v1/embeddings", CT, &r, "{\"model\":\"%s\",\"input\":\"a\"%s}", "m",
          ",\"encoding_format\":\"int8\"");
    json_decref(wreply(&r, 400));
    wpost("/v1/embeddings", CT, &r, "{\"model\":\"%s\",\"input\":[]}", "m");
    json_decref(wreply(&r, 400));
    wpost("/v1/embeddings", BEARER, &r, "{\"model\":\"%s\",\"input\":\"a\"}", "emb-status-429");
    ck_assert_str_eq(whdr(&r, "Retry-After"), "7");
    j = wreply(&r, 429);
    ck_assert_str_eq(wstr(j, "error.message"), "fake error 429 for token tok-test");
    json_decref(j);
    wire_stop_clean();
}
END_TEST

START_TEST(voyage_embeddings)
{
    struct t_resp r;
    float v[3];
    json_t *j;

    wpost("/v1/embeddings", BEARER, &r, "{\"model\":\"%s\",\"input\":[\"a\",\"b\"]%s}", "voy-ok",
          ",\"input_type\":\"document\"");
    j = wreply(&r, 200);
    ck_assert_str_eq(wstr(j, "object"), "list");
    ck_assert_str_eq(wstr(j, "model"), "voy-ok");
    ck_assert_double_eq(json_real_value(t_json_at(j, "data.1.embedding.0")), 1.5);
    ck_assert_int_eq(wint(j, "data.1.index"), 1);
    ck_assert_int_eq(wint(j, "usage.total_tokens"), 8);
    ck_assert_ptr_null(t_json_at(j, "usage.prompt_tokens"));
    json_decref(j);
    wlast("/v1/embeddings", "authorization", "Bearer tok-test");
    wpost("/v1/embeddings", BEARER, &r, "{\"model\":\"%s\",\"input\":\"a\"%s}", "voy-3",
          ",\"encoding_format\":\"base64\"");
    j = wreply(&r, 200);
    ck_assert_str_eq(wstr(j, "data.0.embedding"), "AAAAPwAAgL8AAIA+"); /* providers.md §13 */
    b64_floats(wstr(j, "data.0.embedding"), v, 3);
    ck_assert_float_eq(v[1], -1.0f);
    json_decref(j);
    wpost("/v1/embeddings", CT, &r, "{\"model\":\"%s\",\"input\":\"a\"}", "voy-ok");
    j = wreply(&r, 401);
    ck_assert_str_eq(wstr(j, "detail"), "Provided API key is invalid.");
    json_decref(j);
    wpost("/v1/embeddings", BEARER, &r, "{\"model\":\"%s\",\"input\":\"a\"}", "voy-status-401");
    j = wreply(&r, 401);
    ck_assert_str_eq(wstr(j, "detail"), "fake voyage error 401");
    json_decref(j);
    wire_stop_clean();
}
END_TEST

Suite *fake_wire_suite(void)
{
    Suite *s = suite_create("fake_wire");
    TCase *tc = tcase_create("fake_wire");

    tcase_add_checked_fixture(tc, wire_up, wire_down);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, gemini_json);
    tcase_add_test(tc, gemini_stream);
    tcase_add_test(tc, gemini_errors);
    tcase_add_test(tc, gemini_embeddings);
    tcase_add_test(tc, cohere_chat);
    tcase_add_test(tc, cohere_stream);
    tcase_add_test(tc, cohere_embed);
    tcase_add_test(tc, ollama_chat);
    tcase_add_test(tc, ollama_embed);
    tcase_add_test(tc, openai_embeddings);
    tcase_add_test(tc, voyage_embeddings);
    suite_add_tcase(s, tc);
    return s;
}
