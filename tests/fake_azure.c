/*
 * fake-upstream, Azure OpenAI (POST /openai/deployments/{d}/chat/completions|embeddings and
 * /openai/v1/...; providers.md §3) and Azure AI Inference (POST .../chat/completions|embeddings
 * with ?api-version=; §4): the az-* scenarios listed in t_fake.h. Like the services it wants
 * api-key (or an Entra bearer) on the Azure OpenAI paths and Authorization plus api-key on the
 * AI Inference ones, and (AI Inference) refuses
 * members outside its schema unless extra-parameters says pass-through. Streams open with the
 * {"choices":[],"prompt_filter_results":[...]} chunk and end in data: [DONE].
 */
#include "fake_upstream.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <event2/http.h>
#include <jansson.h>

/* {"error":{"code":C,"message":M}} */
static void az_error(struct evhttp_request *req, int status, const char *code, const char *message)
{
    fake_reply_json(req, status,
                    json_pack("{s:{s:s,s:s,s:n,s:n}}", "error", "code", code, "message", message,
                              "param", "type"));
}

static const char *az_header(struct evhttp_request *req, const char *name)
{
    const char *v = evhttp_find_header(evhttp_request_get_input_headers(req), name);

    return v != NULL && v[0] != '\0' ? v : NULL;
}

/* The deployment of /openai/deployments/{d}/... into out (empty when the path has none). */
static void az_deployment(const char *path, char *out, size_t outlen)
{
    const char *p = strstr(path, "/openai/deployments/"), *end;
    size_t n;

    out[0] = '\0';
    if (p == NULL)
        return;
    p += strlen("/openai/deployments/");
    end = strchr(p, '/');
    n = end != NULL ? (size_t)(end - p) : strlen(p);
    if (n < outlen) {
        memcpy(out, p, n);
        out[n] = '\0';
    }
}

/* Sends one chunk (doc taken) as "data: <json>". Returns 0 or -1. */
static int az_send(struct fake_srv *srv, struct evhttp_request *req, json_t *doc, bool content)
{
    return fake_send_event(srv, req, NULL, doc, content, NULL, NULL);
}

static json_t *az_usage_new(long p, long c)
{
    return json_pack("{s:I,s:I,s:I}", "prompt_tokens", (json_int_t)p, "completion_tokens",
                     (json_int_t)c, "total_tokens", (json_int_t)(p + c));
}

/* A chunk with one choice: delta (taken), finish_reason (NULL: null). */
static json_t *az_chunk_new(const char *model, json_t *delta, const char *finish)
{
    return json_pack("{s:s,s:s,s:i,s:s,s:[{s:i,s:o,s:s?,s:{}}]}", "id", "chatcmpl-az1", "object",
                     "chat.completion.chunk", "created", 1700000000, "model", model, "choices",
                     "index", 0, "delta", delta, "finish_reason", finish, "content_filter_results");
}

static void az_stream(struct fake_srv *srv, struct evhttp_request *req, const char *model,
                      bool filtered, bool usage_chunk)
{
    const char *finish = filtered ? "content_filter" : "stop";
    int rc;

    fake_stream_start(req);
    /* Azure's first chunk: no id, no model, no choices, the prompt's filter results. */
    rc = az_send(srv, req,
                 json_pack("{s:s,s:s,s:i,s:s,s:[],s:[{s:i,s:{s:{s:b,s:s}}}]}", "id", "", "object",
                           "", "created", 0, "model", "", "choices", "prompt_filter_results",
                           "prompt_index", 0, "content_filter_results", "hate", "filtered", 0,
                           "severity", "safe"),
                 false);
    if (rc == 0)
        rc =
            az_send(srv, req,
                    az_chunk_new(
                        model, json_pack("{s:s,s:s}", "role", "assistant", "content", "Hel"), NULL),
                    true);
    if (rc == 0 && !filtered)
        rc =
            az_send(srv, req, az_chunk_new(model, json_pack("{s:s}", "content", "lo"), NULL), true);
    if (rc == 0) {
        json_t *last = az_chunk_new(model, json_object(), finish);
        /* AI Inference reports usage on its last chunk; Azure OpenAI in a usage-only chunk when
           asked (stream_options.include_usage). */
        if (!usage_chunk && last != NULL &&
            json_object_set_new(last, "usage", az_usage_new(9, 2)) < 0) {
            json_decref(last);
            last = NULL;
        }
        rc = az_send(srv, req, last, false);
    }
    if (rc == 0 && usage_chunk)
        rc = az_send(srv, req,
                     json_pack("{s:s,s:s,s:i,s:s,s:[],s:o}", "id", "chatcmpl-az1", "object",
                               "chat.completion.chunk", "created", 1700000000, "model", model,
                               "choices", "usage", az_usage_new(9, 2)),
                     false);
    if (rc == 0)
        rc = fake_send_raw(req, "data: [DONE]\n\n", 14, NULL, NULL);
    if (rc < 0)
        fprintf(stderr, "fake-upstream: cannot send an azure chunk\n");
    evhttp_send_reply_end(req);
}

static void az_chat(struct fake_srv *srv, struct evhttp_request *req, const char *model,
                    json_t *body, bool inference)
{
    bool stream = json_is_true(json_object_get(body, "stream"));
    bool filtered = strncmp(model, "az-cf", 5) == 0;
    bool usage =
        json_is_true(json_object_get(json_object_get(body, "stream_options"), "include_usage"));

    if (strncmp(model, "az-filter", 9) == 0) {
        az_error(req, 400, "content_filter",
                 "The response was filtered due to the prompt triggering Azure OpenAI's content "
                 "management policy.");
        return;
    }
    if (stream) {
        az_stream(srv, req, model, filtered, !inference && usage);
        return;
    }
    fake_reply_json(
        req, 200,
        json_pack("{s:s,s:s,s:i,s:s,s:[{s:i,s:{}}],s:[{s:i,s:{s:s,s:s},s:s,s:n,s:{}}],s:o}", "id",
                  "chatcmpl-az1", "object", "chat.completion", "created", 1700000000, "model",
                  model, "prompt_filter_results", "prompt_index", 0, "content_filter_results",
                  "choices", "index", 0, "message", "role", "assistant", "content",
                  filtered ? "Hel" : "Hello from azure", "finish_reason",
                  filtered ? "content_filter" : "stop", "logprobs", "content_filter_results",
                  "usage", az_usage_new(9, 3)));
}

/* One vector per input (fake_vector_new), floats or base64 as asked; usage 4 per input. */
static void az_embed(struct evhttp_request *req, const char *model, json_t *body)
{
    json_t *input = json_object_get(body, "input"), *data = json_array();
    const char *format = json_string_value(json_object_get(body, "encoding_format"));
    size_t n = json_is_string(input) ? 1 : json_array_size(input);

    for (size_t i = 0; data != NULL && i < n; i++) {
        json_t *vec = fake_vector_new(i);
        if (vec != NULL && format != NULL && strcmp(format, "base64") == 0) {
            double v[3];
            for (size_t k = 0; k < 3; k++)
                v[k] = json_number_value(json_array_get(vec, k));
            json_decref(vec);
            vec = fake_base64_floats(v, 3);
        }
        if (json_array_append_new(data, json_pack("{s:s,s:I,s:o}", "object", "embedding", "index",
                                                  (json_int_t)i, "embedding", vec)) < 0) {
            json_decref(data);
            data = NULL;
        }
    }
    if (n == 0) {
        json_decref(data);
        az_error(req, 400, "invalid_request", "input is required");
        return;
    }
    fake_reply_json(req, 200,
                    data == NULL
                        ? NULL
                        : json_pack("{s:s,s:o,s:s,s:{s:I,s:I}}", "object", "list", "data", data,
                                    "model", model, "usage", "prompt_tokens", (json_int_t)(4 * n),
                                    "total_tokens", (json_int_t)(4 * n)));
}

/* The first member of body outside AI Inference's chat schema (providers.md §4), or NULL. */
static const char *az_extra_member(json_t *body)
{
    static const char *const known[] = {"messages",
                                        "model",
                                        "stream",
                                        "frequency_penalty",
                                        "presence_penalty",
                                        "temperature",
                                        "top_p",
                                        "max_tokens",
                                        "response_format",
                                        "stop",
                                        "tools",
                                        "tool_choice",
                                        "seed",
                                        NULL};
    const char *key;
    json_t *v;

    json_object_foreach(body, key, v)
    {
        size_t i = 0;
        while (known[i] != NULL && strcmp(key, known[i]) != 0)
            i++;
        if (known[i] == NULL)
            return key;
    }
    return NULL;
}

bool fake_azure_path(const char *path, const char *query)
{
    return strncmp(path, "/openai/v1/", 11) == 0 ||
           (query != NULL && strstr(query, "api-version=") != NULL);
}

void fake_azure(struct fake_srv *srv, struct evhttp_request *req, const char *path,
                const char *text, size_t len)
{
    json_t *body = json_loadb(text, len, 0, NULL);
    bool inference = strncmp(path, "/openai/", 8) != 0;
    bool embed = strstr(path, "/embeddings") != NULL;
    const char *extra, *model;
    char deployment[128];

    if (inference ? az_header(req, "api-key") == NULL || fake_bearer(req) == NULL
                  : az_header(req, "api-key") == NULL && fake_bearer(req) == NULL) {
        az_error(req, 401, "401",
                 "Access denied due to invalid subscription key or wrong API endpoint.");
        goto out;
    }
    if (!json_is_object(body)) {
        az_error(req, 400, "invalid_request", "the body is not a JSON object");
        goto out;
    }
    az_deployment(path, deployment, sizeof(deployment));
    model = deployment[0] != '\0' ? deployment : json_string_value(json_object_get(body, "model"));
    if (model == NULL) {
        az_error(req, 400, "invalid_request", "model is required");
        goto out;
    }
    if (embed) {
        az_embed(req, model, body);
        goto out;
    }
    extra = inference ? az_extra_member(body) : NULL;
    if (extra != NULL && az_header(req, "extra-parameters") == NULL) {
        char msg[200];
        snprintf(msg, sizeof(msg),
                 "Extra parameters ['%.60s'] are not allowed when extra-parameters is not set or "
                 "set to be 'error'.",
                 extra);
        az_error(req, 400, "invalid_request", msg);
        goto out;
    }
    az_chat(srv, req, model, body, inference);
out:
    json_decref(body);
}
