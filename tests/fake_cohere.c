/*
 * fake-upstream, Cohere v2 (POST .../v2/chat and .../v2/embed; providers.md §9): the co-*
 * scenarios listed in t_fake.h. Like the real API it wants Authorization: Bearer, refuses
 * top-level members it does not know and an embed without input_type (errors {"id","message"}),
 * and streams "event: <type>\ndata: <json with the same type>\n\n" events without [DONE].
 */
#include "fake_upstream.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <event2/http.h>
#include <jansson.h>

enum co_kind {
    CO_OK, /* also every unknown model */
    CO_TOOLS,
    CO_STATUS,
};

static void co_spec_parse(const char *tagged, struct fake_spec *sp)
{
    char model[128];
    const char *p;
    long code;

    fake_model_base(tagged, model, sizeof(model));
    *sp = (struct fake_spec){.kind = CO_OK};
    if (strcmp(model, "co-tools") == 0) {
        sp->kind = CO_TOOLS;
    } else if (strncmp(model, "co-status-", 10) == 0 &&
               fake_parse_num(model + 10, '\0', 200, 599, &code, &p)) {
        sp->kind = CO_STATUS;
        sp->code = (int)code;
    }
}

/* {"id":"co-fake","message":M} (message taken). */
static void co_error(struct evhttp_request *req, int status, json_t *message)
{
    json_t *doc =
        message != NULL ? json_pack("{s:s,s:O}", "id", "co-fake", "message", message) : NULL;

    json_decref(message);
    fake_reply_json(req, status, doc);
}

/* Sends a 400 for the first top-level member not in known; returns false when it did. */
static bool co_known_members(struct evhttp_request *req, json_t *body, const char *const *known)
{
    const char *key;
    json_t *v;

    json_object_foreach(body, key, v)
    {
        size_t i = 0;

        while (known[i] != NULL && strcmp(key, known[i]) != 0)
            i++;
        if (known[i] == NULL) {
            co_error(req, 400, json_sprintf("invalid request: unknown field \"%.100s\"", key));
            return false;
        }
    }
    return true;
}

/* usage of §9.2: billed units and tokens. */
static json_t *co_usage_new(long billed_in, long in, long out)
{
    return json_pack("{s:{s:I,s:I},s:{s:I,s:I}}", "billed_units", "input_tokens",
                     (json_int_t)billed_in, "output_tokens", (json_int_t)out, "tokens",
                     "input_tokens", (json_int_t)in, "output_tokens", (json_int_t)out);
}

/* Sends doc as "event: <its type>" (doc taken). */
static int co_send(struct fake_srv *srv, struct evhttp_request *req, json_t *doc, bool content)
{
    const char *type = json_string_value(json_object_get(doc, "type"));

    if (type == NULL) {
        json_decref(doc);
        return -1;
    }
    return fake_send_event(srv, req, type, doc, content, NULL, NULL);
}

/* An event {"type", "index"?, "delta":{"message":{field: value}}} (value taken). */
static json_t *co_delta_new(const char *type, int index, const char *field, json_t *value)
{
    json_t *doc = NULL;

    if (value != NULL)
        doc = index >= 0
                  ? json_pack("{s:s,s:i,s:{s:{s:O}}}", "type", type, "index", index, "delta",
                              "message", field, value)
                  : json_pack("{s:s,s:{s:{s:O}}}", "type", type, "delta", "message", field, value);
    json_decref(value);
    return doc;
}

static void co_stream(struct fake_srv *srv, struct evhttp_request *req, bool tools)
{
    int rc;

    fake_stream_start(req);
    rc = co_send(srv, req,
                 json_pack("{s:s,s:s,s:{s:{s:s,s:[],s:s,s:[],s:[]}}}", "id", "co-fake", "type",
                           "message-start", "delta", "message", "role", "assistant", "content",
                           "tool_plan", "", "tool_calls", "citations"),
                 false);
    if (!tools) {
        if (rc == 0)
            rc = co_send(srv, req,
                         co_delta_new("content-start", 0, "content",
                                      json_pack("{s:s,s:s}", "type", "text", "text", "")),
                         false);
        for (int i = 0; rc == 0 && i < 2; i++)
            rc = co_send(srv, req,
                         co_delta_new("content-delta", 0, "content",
                                      json_pack("{s:s}", "text", i == 0 ? "Hel" : "lo")),
                         true);
        if (rc == 0)
            rc =
                co_send(srv, req, json_pack("{s:s,s:i}", "type", "content-end", "index", 0), false);
    } else {
        if (rc == 0)
            rc = co_send(srv, req,
                         co_delta_new("tool-plan-delta", -1, "tool_plan",
                                      json_string("I will look up the weather.")),
                         true);
        if (rc == 0)
            rc = co_send(srv, req,
                         co_delta_new("tool-call-start", 0, "tool_calls",
                                      json_pack("{s:s,s:s,s:{s:s,s:s}}", "id", "get_weather_1",
                                                "type", "function", "function", "name",
                                                "get_weather", "arguments", "")),
                         false);
        for (int i = 0; rc == 0 && i < 2; i++)
            rc = co_send(srv, req,
                         co_delta_new("tool-call-delta", 0, "tool_calls",
                                      json_pack("{s:{s:s}}", "function", "arguments",
                                                i == 0 ? "{\"city\":" : "\"Paris\"}")),
                         true);
        if (rc == 0)
            rc = co_send(srv, req, json_pack("{s:s,s:i}", "type", "tool-call-end", "index", 0),
                         false);
    }
    if (rc == 0)
        rc = co_send(srv, req,
                     json_pack("{s:s,s:{s:s,s:o}}", "type", "message-end", "delta", "finish_reason",
                               tools ? "TOOL_CALL" : "COMPLETE", "usage",
                               tools ? co_usage_new(20, 512, 12) : co_usage_new(10, 10, 5)),
                     false);
    if (rc < 0)
        fprintf(stderr, "fake-upstream: cannot send a cohere event\n");
    evhttp_send_reply_end(req);
}

static void co_chat(struct fake_srv *srv, struct evhttp_request *req, json_t *body)
{
    static const char *const known[] = {
        "model",
        "messages",
        "tools",
        "documents",
        "citation_options",
        "response_format",
        "safety_mode",
        "max_tokens",
        "stop_sequences",
        "temperature",
        "seed",
        "frequency_penalty",
        "presence_penalty",
        "k",
        "p",
        "logprobs",
        "tool_choice",
        "thinking",
        "stream",
        "strict_tools",
        "priority",
        NULL,
    };
    bool stream = json_is_true(json_object_get(body, "stream"));
    struct fake_spec sp;

    if (!co_known_members(req, body, known))
        return;
    if (!json_is_string(json_object_get(body, "model")) ||
        json_array_size(json_object_get(body, "messages")) == 0) {
        co_error(req, 400, json_string("invalid request: model and messages are required"));
        return;
    }
    co_spec_parse(json_string_value(json_object_get(body, "model")), &sp);
    if (sp.kind == CO_STATUS)
        co_error(req, sp.code,
                 sp.code == 429 ? json_string("You are using a Trial key, which is limited to 10 "
                                              "API calls / minute.")
                                : json_sprintf("fake cohere error %d", sp.code));
    else if (stream)
        co_stream(srv, req, sp.kind == CO_TOOLS);
    else if (sp.kind == CO_TOOLS)
        fake_reply_json(req, 200,
                        json_pack("{s:s,s:s,s:{s:s,s:s,s:[{s:s,s:s,s:{s:s,s:s}}]},s:o}", "id",
                                  "co-fake", "finish_reason", "TOOL_CALL", "message", "role",
                                  "assistant", "tool_plan", "I will look up the weather.",
                                  "tool_calls", "id", "get_weather_1", "type", "function",
                                  "function", "name", "get_weather", "arguments",
                                  "{\"city\":\"Paris\"}", "usage", co_usage_new(20, 512, 12)));
    else
        fake_reply_json(req, 200,
                        json_pack("{s:s,s:s,s:{s:s,s:[{s:s,s:s}]},s:o}", "id", "co-fake",
                                  "finish_reason", "COMPLETE", "message", "role", "assistant",
                                  "content", "type", "text", "text", "Hello from cohere", "usage",
                                  co_usage_new(10, 10, 5)));
}

/* embed: embeddings.float, one [0.5+i, -1.0, 0.25] per text, billed_units 4 per text. */
static void co_embed(struct evhttp_request *req, json_t *body)
{
    static const char *const known[] = {
        "model",
        "texts",
        "images",
        "inputs",
        "input_type",
        "embedding_types",
        "output_dimension",
        "truncate",
        "max_tokens",
        "priority",
        NULL,
    };
    json_t *texts = json_object_get(body, "texts"),
           *types = json_object_get(body, "embedding_types");
    json_t *vecs, *t;
    struct fake_spec sp;
    size_t i, n = json_array_size(texts);
    bool wants_float = types == NULL;

    if (!co_known_members(req, body, known))
        return;
    json_array_foreach(types, i, t)
    {
        if (json_is_string(t) && strcmp(json_string_value(t), "float") == 0)
            wants_float = true;
    }
    if (!json_is_string(json_object_get(body, "model")) || n == 0 ||
        !json_is_string(json_object_get(body, "input_type")) || !wants_float) {
        co_error(req, 400,
                 json_string("invalid request: model, texts, input_type and the float "
                             "embedding type are required"));
        return;
    }
    co_spec_parse(json_string_value(json_object_get(body, "model")), &sp);
    if (sp.kind == CO_STATUS) {
        co_error(req, sp.code, json_sprintf("fake cohere error %d", sp.code));
        return;
    }
    vecs = json_array();
    for (i = 0; vecs != NULL && i < n; i++) {
        if (json_array_append_new(vecs, fake_vector_new(i)) < 0) {
            json_decref(vecs);
            vecs = NULL;
        }
    }
    fake_reply_json(req, 200,
                    vecs == NULL ? NULL
                                 : json_pack("{s:s,s:{s:o},s:O,s:{s:{s:I}},s:s}", "id", "co-fake",
                                             "embeddings", "float", vecs, "texts", texts, "meta",
                                             "billed_units", "input_tokens", (json_int_t)(4 * n),
                                             "response_type", "embeddings_by_type"));
}

void fake_cohere(struct fake_srv *srv, struct evhttp_request *req, bool embed, const char *text,
                 size_t len)
{
    json_t *body;

    if (fake_bearer(req) == NULL) {
        co_error(req, 401, json_string("no api key supplied"));
        return;
    }
    body = json_loadb(text, len, 0, NULL);
    if (!json_is_object(body))
        co_error(req, 400, json_string("invalid request: body is not a JSON object"));
    else if (embed)
        co_embed(req, body);
    else
        co_chat(srv, req, body);
    json_decref(body);
}
