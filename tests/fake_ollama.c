/*
 * fake-upstream, Ollama native API (POST .../api/chat and .../api/embed; providers.md §10): the
 * oll-* scenarios listed in t_fake.h. Like Ollama it needs no credentials, streams unless the
 * body says "stream": false (NDJSON, application/x-ndjson, one object per line, the last with
 * "done": true and the counts) and answers errors as {"error": M}.
 */
#include "fake_upstream.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <jansson.h>

#define OLL_CREATED_AT "2026-01-05T10:00:00.123456789Z"
#define OLL_DUMP_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(9))

enum oll_kind {
    OLL_OK, /* also every unknown model */
    OLL_TOOLS,
    OLL_MISSING,
    OLL_MIDERROR,
};

static int oll_kind_of(const char *tagged)
{
    char model[128];

    fake_model_base(tagged, model, sizeof(model));
    if (strcmp(model, "oll-tools") == 0)
        return OLL_TOOLS;
    if (strcmp(model, "oll-missing") == 0)
        return OLL_MISSING;
    if (strcmp(model, "oll-miderror") == 0)
        return OLL_MIDERROR;
    return OLL_OK;
}

static void oll_error(struct evhttp_request *req, int status, json_t *message)
{
    json_t *doc = message != NULL ? json_pack("{s:O}", "error", message) : NULL;

    json_decref(message);
    fake_reply_json(req, status, doc);
}

/* One chat line / reply: message taken; done adds done_reason and the counts. */
static json_t *oll_line_new(const char *model, json_t *message, bool done, long prompt, long eval)
{
    json_t *doc = NULL;

    if (message == NULL)
        return NULL;
    if (done)
        doc = json_pack("{s:s,s:s,s:O,s:b,s:s,s:I,s:I,s:I,s:I,s:I,s:I}", "model", model,
                        "created_at", OLL_CREATED_AT, "message", message, "done", 1, "done_reason",
                        "stop", "total_duration", (json_int_t)812000000, "load_duration",
                        (json_int_t)2000000, "prompt_eval_count", (json_int_t)prompt,
                        "prompt_eval_duration", (json_int_t)90000000, "eval_count",
                        (json_int_t)eval, "eval_duration", (json_int_t)700000000);
    else
        doc = json_pack("{s:s,s:s,s:O,s:b}", "model", model, "created_at", OLL_CREATED_AT,
                        "message", message, "done", 0);
    json_decref(message);
    return doc;
}

static json_t *oll_text_new(const char *text)
{
    return json_pack("{s:s,s:s}", "role", "assistant", "content", text);
}

static json_t *oll_thinking_new(void)
{
    return json_pack("{s:s,s:s,s:s}", "role", "assistant", "content", "", "thinking",
                     "Checking the weather.");
}

/* §10.1: one tool call with object arguments (content "", thinking only in the JSON reply). */
static json_t *oll_call_new(bool thinking)
{
    json_t *m =
        json_pack("{s:s,s:s,s:[{s:{s:s,s:{s:s}}}]}", "role", "assistant", "content", "",
                  "tool_calls", "function", "name", "get_weather", "arguments", "city", "Paris");

    if (m != NULL && thinking &&
        json_object_set_new(m, "thinking", json_string("Checking the weather.")) < 0) {
        json_decref(m);
        m = NULL;
    }
    return m;
}

/* Sends doc (taken) as one "<json>\n" chunk. */
static int oll_send(struct fake_srv *srv, struct evhttp_request *req, json_t *doc, bool content)
{
    char *s = doc != NULL ? json_dumps(doc, OLL_DUMP_FLAGS) : NULL;
    struct evbuffer *b = evbuffer_new();
    int rc = -1;

    if (s != NULL && b != NULL && evbuffer_add_printf(b, "%s\n", s) >= 0) {
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

static void oll_stream(struct fake_srv *srv, struct evhttp_request *req, const char *model,
                       int kind)
{
    int rc;

    if (evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                          "application/x-ndjson") < 0)
        fprintf(stderr, "fake-upstream: cannot add the ndjson header\n");
    evhttp_send_reply_start(req, 200, "OK");
    if (kind == OLL_TOOLS) {
        rc = oll_send(srv, req, oll_line_new(model, oll_thinking_new(), false, 0, 0), true);
        if (rc == 0)
            rc = oll_send(srv, req, oll_line_new(model, oll_call_new(false), false, 0, 0), true);
        if (rc == 0)
            rc = oll_send(srv, req, oll_line_new(model, oll_text_new(""), true, 41, 17), false);
    } else {
        rc = oll_send(srv, req, oll_line_new(model, oll_text_new("Hel"), false, 0, 0), true);
        if (rc == 0 && kind == OLL_MIDERROR)
            rc = oll_send(srv, req, json_pack("{s:s}", "error", "fake ollama mid-stream error"),
                          false);
        else if (rc == 0)
            rc = oll_send(srv, req, oll_line_new(model, oll_text_new("lo"), false, 0, 0), true);
        if (rc == 0 && kind != OLL_MIDERROR)
            rc = oll_send(srv, req, oll_line_new(model, oll_text_new(""), true, 5, 2), false);
    }
    if (rc < 0)
        fprintf(stderr, "fake-upstream: cannot send an ollama line\n");
    evhttp_send_reply_end(req);
}

static void oll_chat(struct fake_srv *srv, struct evhttp_request *req, const char *model,
                     json_t *body, int kind)
{
    /* Ollama streams unless told otherwise. */
    bool stream = !json_is_false(json_object_get(body, "stream"));

    if (!json_is_array(json_object_get(body, "messages"))) {
        oll_error(req, 400, json_string("messages is required"));
        return;
    }
    if (stream)
        oll_stream(srv, req, model, kind);
    else if (kind == OLL_MIDERROR)
        oll_error(req, 500, json_string("fake ollama error 500"));
    else if (kind == OLL_TOOLS)
        fake_reply_json(req, 200, oll_line_new(model, oll_call_new(true), true, 41, 17));
    else
        fake_reply_json(req, 200,
                        oll_line_new(model, oll_text_new("Hello from ollama"), true, 5, 2));
}

/* embed: input string or strings; one [0.5+i, -1.0, 0.25] each, prompt_eval_count 4 each. */
static void oll_embed(struct evhttp_request *req, const char *model, json_t *body)
{
    json_t *input = json_object_get(body, "input"), *vecs, *v;
    size_t i, n = json_is_string(input) ? 1 : json_array_size(input);

    json_array_foreach(input, i, v)
    {
        if (!json_is_string(v))
            n = 0;
    }
    if (n == 0) {
        oll_error(req, 400, json_string("invalid input type"));
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
                    vecs == NULL
                        ? NULL
                        : json_pack("{s:s,s:o,s:I,s:I,s:I}", "model", model, "embeddings", vecs,
                                    "total_duration", (json_int_t)14000000, "load_duration",
                                    (json_int_t)1000000, "prompt_eval_count", (json_int_t)(4 * n)));
}

void fake_ollama(struct fake_srv *srv, struct evhttp_request *req, bool embed, const char *text,
                 size_t len)
{
    json_t *body = json_loadb(text, len, 0, NULL);
    const char *model = json_string_value(json_object_get(body, "model"));
    int kind;

    if (!json_is_object(body) || model == NULL) {
        oll_error(req, 400,
                  json_string(model == NULL && json_is_object(body)
                                  ? "model is required"
                                  : "invalid character in request body"));
        goto out;
    }
    kind = oll_kind_of(model);
    if (kind == OLL_MISSING)
        oll_error(req, 404, json_sprintf("model \"%s\" not found, try pulling it first", model));
    else if (embed)
        oll_embed(req, model, body);
    else
        oll_chat(srv, req, model, body, kind);
out:
    json_decref(body);
}
