/*
 * fake-upstream, Gemini API and Gemini on Vertex AI (providers.md §5, §6): the gem-* scenarios
 * listed in t_fake.h. The model comes from the URL:
 *   POST /v1beta/models/{model}:generateContent | :streamGenerateContent?alt=sse |
 *        :batchEmbedContents                                  (x-goog-api-key required)
 *   POST /v1/projects/{p}/locations/{loc}/publishers/google/models/{model}:generateContent |
 *        :streamGenerateContent?alt=sse | :predict            (Authorization: Bearer required)
 * Like the real API, errors are {"error":{"code","message","status"}}, unknown top-level request
 * members are refused (400 INVALID_ARGUMENT), streams are "data: <json>\r\n\r\n" events without
 * [DONE], and Vertex wants a role on every contents entry.
 */
#include "fake_upstream.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#define GEM_DUMP_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(9))

enum gem_kind {
    GEM_OK, /* also every unknown model */
    GEM_TOOLS,
    GEM_STATUS,
    GEM_MIDERROR,
};

enum gem_method { GEM_GENERATE, GEM_STREAM, GEM_BATCH_EMBED, GEM_PREDICT, GEM_UNKNOWN };

bool fake_gemini_path(const char *path)
{
    return strstr(path, "/v1beta/models/") != NULL ||
           strstr(path, "/publishers/google/models/") != NULL;
}

static void gem_spec_parse(const char *tagged, struct fake_spec *sp)
{
    char model[128];
    const char *p;
    long code;

    fake_model_base(tagged, model, sizeof(model));
    *sp = (struct fake_spec){.kind = GEM_OK};
    if (strcmp(model, "gem-tools") == 0)
        sp->kind = GEM_TOOLS;
    else if (strcmp(model, "gem-miderror") == 0)
        sp->kind = GEM_MIDERROR;
    else if (strncmp(model, "gem-status-", 11) == 0 &&
             fake_parse_num(model + 11, '\0', 200, 599, &code, &p)) {
        sp->kind = GEM_STATUS;
        sp->code = (int)code;
    }
}

/* ---- errors ---- */

/* The google.rpc status name of an HTTP status. */
static const char *gem_status_name(int code)
{
    switch (code) {
    case 400:
        return "INVALID_ARGUMENT";
    case 401:
        return "UNAUTHENTICATED";
    case 403:
        return "PERMISSION_DENIED";
    case 404:
        return "NOT_FOUND";
    case 409:
        return "ABORTED";
    case 429:
        return "RESOURCE_EXHAUSTED";
    case 499:
        return "CANCELLED";
    case 501:
        return "NOT_IMPLEMENTED";
    case 503:
        return "UNAVAILABLE";
    case 504:
        return "DEADLINE_EXCEEDED";
    default:
        return code >= 500 ? "INTERNAL" : "FAILED_PRECONDITION";
    }
}

/* {"error":{"code","message","status"}} (message taken); 429 adds a RetryInfo of 7 s. */
static json_t *gem_error_new(int code, json_t *message)
{
    json_t *doc = NULL;

    if (message == NULL)
        return NULL;
    if (code == 429)
        doc = json_pack("{s:{s:i,s:O,s:s,s:[{s:s,s:s}]}}", "error", "code", code, "message",
                        message, "status", gem_status_name(code), "details", "@type",
                        "type.googleapis.com/google.rpc.RetryInfo", "retryDelay", "7s");
    else
        doc = json_pack("{s:{s:i,s:O,s:s}}", "error", "code", code, "message", message, "status",
                        gem_status_name(code));
    json_decref(message);
    return doc;
}

static void gem_reply_error(struct evhttp_request *req, int code, const char *message)
{
    fake_reply_json(req, code, gem_error_new(code, json_string(message)));
}

/* ---- request checks ---- */

/* Refuses (400) a top-level member not in known; returns false when it sent the error. */
static bool gem_known_members(struct evhttp_request *req, json_t *body, const char *const *known)
{
    const char *key = fake_unknown_member(body, known);
    char msg[200];

    if (key == NULL)
        return true;
    snprintf(msg, sizeof(msg),
             "Invalid JSON payload received. Unknown name \"%.100s\": Cannot find field.", key);
    gem_reply_error(req, 400, msg);
    return false;
}

/* generateContent bodies: known members, non-empty contents, a role on each entry (Vertex). */
static bool gem_generate_ok(struct evhttp_request *req, json_t *body, bool vertex)
{
    static const char *const known[] = {
        "contents",         "systemInstruction", "tools",  "toolConfig", "safetySettings",
        "generationConfig", "cachedContent",     "labels", NULL,
    };
    json_t *contents = json_object_get(body, "contents"), *c;
    size_t i;

    if (!gem_known_members(req, body, known))
        return false;
    if (json_array_size(contents) == 0) {
        gem_reply_error(req, 400, "* GenerateContentRequest.contents: contents is not specified");
        return false;
    }
    json_array_foreach(contents, i, c)
    {
        if (vertex && json_string_value(json_object_get(c, "role")) == NULL) {
            gem_reply_error(req, 400, "Please use a valid role: user, model.");
            return false;
        }
    }
    return true;
}

/* batchEmbedContents: each request names models/{model} and has content.parts. Returns the
 * number of requests, 0 after sending an error. */
static size_t gem_batch_ok(struct evhttp_request *req, json_t *body, const char *model)
{
    static const char *const known[] = {"requests", NULL};
    json_t *reqs = json_object_get(body, "requests"), *r;
    char want[160];
    size_t i;

    if (!gem_known_members(req, body, known))
        return 0;
    snprintf(want, sizeof(want), "models/%s", model);
    json_array_foreach(reqs, i, r)
    {
        const char *m = json_string_value(json_object_get(r, "model"));

        if (m == NULL || strcmp(m, want) != 0) {
            gem_reply_error(req, 400,
                            "* BatchEmbedContentsRequest.requests: model must match "
                            "the model in the URL");
            return 0;
        }
        if (!json_is_array(json_object_get(json_object_get(r, "content"), "parts"))) {
            gem_reply_error(req, 400,
                            "* BatchEmbedContentsRequest.requests: content is not "
                            "specified");
            return 0;
        }
    }
    if (json_array_size(reqs) == 0)
        gem_reply_error(req, 400,
                        "* BatchEmbedContentsRequest.requests: requests is not "
                        "specified");
    return json_array_size(reqs);
}

/* Vertex predict: instances of {"content": string}. Returns their number, 0 after an error. */
static size_t gem_predict_ok(struct evhttp_request *req, json_t *body)
{
    static const char *const known[] = {"instances", "parameters", NULL};
    json_t *inst = json_object_get(body, "instances"), *x;
    size_t i;

    if (!gem_known_members(req, body, known))
        return 0;
    json_array_foreach(inst, i, x)
    {
        if (!json_is_string(json_object_get(x, "content"))) {
            gem_reply_error(req, 400, "instances[].content is required");
            return 0;
        }
    }
    if (json_array_size(inst) == 0)
        gem_reply_error(req, 400, "instances is required");
    return json_array_size(inst);
}

/* ---- replies ---- */

/* A GenerateContentResponse; parts and usage taken; finish may be NULL (a stream's first). */
static json_t *gem_response_new(const char *model, json_t *parts, const char *finish, json_t *usage)
{
    json_t *doc = NULL, *cand;

    if (parts == NULL || usage == NULL)
        goto out;
    cand = json_pack("{s:{s:s,s:O},s:i}", "content", "role", "model", "parts", parts, "index", 0);
    if (cand != NULL && finish != NULL &&
        json_object_set_new(cand, "finishReason", json_string(finish)) < 0) {
        json_decref(cand);
        cand = NULL;
    }
    if (cand != NULL)
        doc = json_pack("{s:[o],s:O,s:s,s:s}", "candidates", cand, "usageMetadata", usage,
                        "modelVersion", model, "responseId", "gem-fake");
out:
    json_decref(parts);
    json_decref(usage);
    return doc;
}

/* Sends "data: <doc>\r\n\r\n" (doc taken) as one chunk; content counts in chunks_sent. */
static int gem_send(struct fake_srv *srv, struct evhttp_request *req, json_t *doc, bool content)
{
    char *s = doc != NULL ? json_dumps(doc, GEM_DUMP_FLAGS) : NULL;
    struct evbuffer *b = evbuffer_new();
    int rc = -1;

    if (s != NULL && b != NULL && evbuffer_add_printf(b, "data: %s\r\n\r\n", s) >= 0) {
        evhttp_send_reply_chunk(req, b);
        if (content)
            srv->chunks_sent++;
        rc = 0;
    }
    if (b != NULL)
        evbuffer_free(b);
    free(s);
    json_decref(doc);
    return rc;
}

static json_t *gem_text_parts(const char *text)
{
    return json_pack("[{s:s}]", "text", text);
}

/* The §5.3 parts: a thought, then a functionCall with its thoughtSignature. */
static json_t *gem_tools_parts(bool thought, bool call)
{
    json_t *parts = json_array();

    if (parts != NULL && thought &&
        json_array_append_new(
            parts, json_pack("{s:s,s:b}", "text", "Thinking\xe2\x80\xa6", "thought", 1)) < 0)
        goto fail;
    if (parts != NULL && call &&
        json_array_append_new(parts, json_pack("{s:{s:s,s:{s:s}},s:s}", "functionCall", "name",
                                               "get_weather", "args", "city", "Paris",
                                               "thoughtSignature", "c2ln")) < 0)
        goto fail;
    return parts;
fail:
    json_decref(parts);
    return NULL;
}

/* usageMetadata; cand < 0: the prompt count alone (a stream's early chunk); thoughts > 0 adds
 * thoughtsTokenCount and cachedContentTokenCount 0 (§5.3). */
static json_t *gem_usage_new(long prompt, long cand, long thoughts, long total)
{
    json_t *u;

    if (cand < 0)
        return json_pack("{s:I}", "promptTokenCount", (json_int_t)prompt);
    u = json_pack("{s:I,s:I,s:I}", "promptTokenCount", (json_int_t)prompt, "candidatesTokenCount",
                  (json_int_t)cand, "totalTokenCount", (json_int_t)total);
    if (u != NULL && thoughts > 0 &&
        (json_object_set_new(u, "thoughtsTokenCount", json_integer(thoughts)) < 0 ||
         json_object_set_new(u, "cachedContentTokenCount", json_integer(0)) < 0)) {
        json_decref(u);
        u = NULL;
    }
    return u;
}

/* generateContent / streamGenerateContent for gem-ok, gem-tools and gem-miderror. */
static void gem_generate(struct fake_srv *srv, struct evhttp_request *req, const char *model,
                         int kind, bool stream)
{
    int rc;

    if (!stream) {
        if (kind == GEM_MIDERROR)
            gem_reply_error(req, 500, "fake gemini error 500");
        else if (kind == GEM_TOOLS)
            fake_reply_json(req, 200,
                            gem_response_new(model, gem_tools_parts(true, true), "STOP",
                                             gem_usage_new(30, 8, 12, 50)));
        else
            fake_reply_json(req, 200,
                            gem_response_new(model, gem_text_parts("Hello from gemini"), "STOP",
                                             gem_usage_new(10, 5, 0, 15)));
        return;
    }
    fake_stream_start(req);
    if (kind == GEM_TOOLS) {
        rc = gem_send(srv, req,
                      gem_response_new(model, gem_tools_parts(true, false), NULL,
                                       gem_usage_new(30, -1, 0, 0)),
                      true);
        if (rc == 0)
            rc = gem_send(srv, req,
                          gem_response_new(model, gem_tools_parts(false, true), "STOP",
                                           gem_usage_new(30, 8, 12, 50)),
                          true);
    } else {
        rc = gem_send(
            srv, req,
            gem_response_new(model, gem_text_parts("Hel"), NULL, gem_usage_new(5, -1, 0, 0)), true);
        if (rc == 0 && kind == GEM_MIDERROR)
            rc = gem_send(srv, req, gem_error_new(500, json_string("fake gemini mid-stream error")),
                          false);
        else if (rc == 0)
            rc = gem_send(
                srv, req,
                gem_response_new(model, gem_text_parts("lo"), "STOP", gem_usage_new(5, 2, 0, 7)),
                true);
    }
    if (rc < 0)
        fprintf(stderr, "fake-upstream: cannot send a gemini chunk\n");
    evhttp_send_reply_end(req); /* no [DONE]: the end of the body ends the stream */
}

/* batchEmbedContents ({"embeddings":[{"values"}]}, no usage) or Vertex predict (predictions
 * with statistics.token_count 4 each). */
static void gem_embed(struct evhttp_request *req, size_t n, bool predict)
{
    json_t *list = json_array();

    for (size_t i = 0; list != NULL && i < n; i++) {
        json_t *e =
            predict ? json_pack("{s:{s:o,s:{s:i,s:b}}}", "embeddings", "values", fake_vector_new(i),
                                "statistics", "token_count", 4, "truncated", 0)
                    : json_pack("{s:o}", "values", fake_vector_new(i));

        if (json_array_append_new(list, e) < 0) {
            json_decref(list);
            list = NULL;
        }
    }
    fake_reply_json(
        req, 200,
        list == NULL ? NULL : json_pack("{s:o}", predict ? "predictions" : "embeddings", list));
}

/* ---- endpoint ---- */

static enum gem_method gem_method_of(const char *name, bool vertex)
{
    if (strcmp(name, "generateContent") == 0)
        return GEM_GENERATE;
    if (strcmp(name, "streamGenerateContent") == 0)
        return GEM_STREAM;
    if (!vertex && strcmp(name, "batchEmbedContents") == 0)
        return GEM_BATCH_EMBED;
    if (vertex && strcmp(name, "predict") == 0)
        return GEM_PREDICT;
    return GEM_UNKNOWN;
}

/* The query has alt=sse. */
static bool gem_alt_sse(struct evhttp_request *req)
{
    const char *q = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
    struct evkeyvalq params;
    const char *alt;
    bool sse;

    TAILQ_INIT(&params);
    if (q == NULL || evhttp_parse_query_str(q, &params) < 0)
        return false;
    alt = evhttp_find_header(&params, "alt");
    sse = alt != NULL && strcmp(alt, "sse") == 0;
    evhttp_clear_headers(&params);
    return sse;
}

void fake_gemini(struct fake_srv *srv, struct evhttp_request *req, const char *path,
                 const char *text, size_t len)
{
    bool vertex = strstr(path, "/publishers/google/models/") != NULL;
    const char *prefix = vertex ? "/publishers/google/models/" : "/v1beta/models/";
    const char *m = strstr(path, prefix) + strlen(prefix);
    const char *colon = strchr(m, ':');
    enum gem_method method = GEM_UNKNOWN;
    json_t *body = NULL;
    struct fake_spec sp;
    char model[128];
    size_t n = 0;

    if (colon != NULL && colon > m && (size_t)(colon - m) < sizeof(model) &&
        memchr(m, '/', (size_t)(colon - m)) == NULL)
        method = gem_method_of(colon + 1, vertex);
    if (method == GEM_UNKNOWN) {
        gem_reply_error(req, 404, "fake-gemini: no such model method");
        return;
    }
    snprintf(model, sizeof(model), "%.*s", (int)(colon - m), m);
    if (vertex
            ? fake_bearer(req) == NULL
            : evhttp_find_header(evhttp_request_get_input_headers(req), "x-goog-api-key") == NULL) {
        gem_reply_error(req, 401,
                        vertex ? "Request is missing required authentication credential. "
                                 "Expected OAuth 2 access token."
                               : "Method doesn't allow unregistered callers. Please use API Key.");
        return;
    }
    if (method == GEM_STREAM && !gem_alt_sse(req)) {
        gem_reply_error(req, 400, "fake-gemini: streams are scripted for alt=sse only");
        return;
    }
    body = json_loadb(text, len, 0, NULL);
    if (!json_is_object(body)) {
        gem_reply_error(req, 400, "Invalid JSON payload received.");
        goto out;
    }
    if (method == GEM_BATCH_EMBED)
        n = gem_batch_ok(req, body, model);
    else if (method == GEM_PREDICT)
        n = gem_predict_ok(req, body);
    else
        n = gem_generate_ok(req, body, vertex) ? 1 : 0;
    if (n == 0)
        goto out;
    gem_spec_parse(model, &sp);
    if (sp.kind == GEM_STATUS)
        fake_reply_json(
            req, sp.code,
            gem_error_new(sp.code, sp.code == 429 ? json_string("Resource exhausted")
                                                  : json_sprintf("fake gemini error %d", sp.code)));
    else if (method == GEM_BATCH_EMBED || method == GEM_PREDICT)
        gem_embed(req, n, method == GEM_PREDICT);
    else
        gem_generate(srv, req, model, sp.kind, method == GEM_STREAM);
out:
    json_decref(body);
}
