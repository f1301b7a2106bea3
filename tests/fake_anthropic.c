/*
 * fake-upstream, Anthropic Messages (POST .../v1/messages): the claude-* scenarios listed in
 * t_fake.h, picked by the request's model name, in Anthropic's wire format (a message object,
 * or with "stream": true "event: <type>\ndata: <json>\n\n" events). Like the real API it wants
 * x-api-key (401 authentication_error), anthropic-version, max_tokens and messages, and rejects
 * top-level members it does not know (400 invalid_request_error), so a gateway that forwards
 * OpenAI-only fields is caught.
 */
#include "fake_upstream.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <jansson.h>

#define ANTH_MAX_BLOCKS 4

enum anth_kind {
    ANTH_OK, /* also every unknown model */
    ANTH_TOOLS,
    ANTH_CACHE,
    ANTH_THINKING,
    ANTH_ERROR,
    ANTH_STATUS,
    ANTH_CUT,
    ANTH_SLOW,
    ANTH_ECHO,
};

/* One content block: its deltas (text, thinking or partial_json pieces, NULL-terminated). */
struct anth_block {
    const char *type; /* "text", "thinking", "tool_use" */
    const char *const *parts;
    const char *whole;     /* the text of the JSON reply when it differs from the deltas joined */
    const char *id, *name; /* tool_use */
    const char *signature; /* thinking */
};

/* A whole reply: the JSON message and the stream are both made from it. */
struct anth_reply {
    struct anth_block blocks[ANTH_MAX_BLOCKS];
    size_t nblocks;
    const char *stop_reason;
    long in, out, cache_read, cache_creation;
};

static const char *const anth_hello[] = {"Hel", "lo", NULL};
static const char *const anth_check[] = {"Let me check.", NULL};
static const char *const anth_city[] = {"{\"city\":", "\"Paris\"}", NULL};
static const char *const anth_think[] = {"Let me think", NULL};
static const char *const anth_answer[] = {"Answer", NULL};

/* ---- model names ---- */

static void anth_spec_parse(const char *tagged, struct fake_spec *sp)
{
    static const struct {
        const char *name;
        enum anth_kind kind;
    } fixed[] = {
        {"claude-tools", ANTH_TOOLS},       {"claude-cache", ANTH_CACHE},
        {"claude-thinking", ANTH_THINKING}, {"claude-error", ANTH_ERROR},
        {"claude-cut", ANTH_CUT},           {"claude-echo", ANTH_ECHO},
    };
    struct fake_spec s = {.kind = ANTH_OK};
    const char *p;
    char model[128];
    long code;

    fake_model_base(tagged, model, sizeof(model));
    *sp = s;
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
        if (strcmp(model, fixed[i].name) == 0) {
            sp->kind = fixed[i].kind;
            return;
        }
    }
    if (strncmp(model, "claude-slow-", 12) == 0) {
        if (fake_parse_num(model + 12, '-', 1, FAKE_MAX_N, &s.n, &p) &&
            fake_parse_num(p + 1, '\0', 0, FAKE_MAX_MS, &s.ms, &p)) {
            s.kind = ANTH_SLOW;
            *sp = s;
        }
    } else if (strncmp(model, "claude-status-", 14) == 0) {
        if (fake_parse_num(model + 14, '\0', 200, 599, &code, &p)) {
            s.kind = ANTH_STATUS;
            s.code = (int)code;
            *sp = s;
        }
    }
}

/* ---- JSON documents ---- */

/* The error type Anthropic gives a status (providers.md §2.5). */
static const char *anth_error_type(int code)
{
    switch (code) {
    case 400:
        return "invalid_request_error";
    case 401:
        return "authentication_error";
    case 402:
        return "billing_error";
    case 403:
        return "permission_error";
    case 404:
        return "not_found_error";
    case 413:
        return "request_too_large";
    case 429:
        return "rate_limit_error";
    case 504:
        return "timeout_error";
    case 529:
        return "overloaded_error";
    default:
        return code >= 500 ? "api_error" : "invalid_request_error";
    }
}

static json_t *anth_error_new(const char *type, json_t *message)
{
    json_t *doc = NULL;

    if (message != NULL)
        doc = json_pack("{s:s,s:{s:s,s:O}}", "type", "error", "error", "type", type, "message",
                        message);
    json_decref(message);
    return doc;
}

static void anth_reply_error(struct evhttp_request *req, int status, const char *message)
{
    fake_reply_json(req, status, anth_error_new(anth_error_type(status), json_string(message)));
}

/* The usage object, the cache fields included (the API always sends them). */
static json_t *anth_usage_new(const struct anth_reply *r, long output)
{
    return json_pack("{s:I,s:I,s:I,s:I}", "input_tokens", (json_int_t)r->in,
                     "cache_creation_input_tokens", (json_int_t)r->cache_creation,
                     "cache_read_input_tokens", (json_int_t)r->cache_read, "output_tokens",
                     (json_int_t)output);
}

/* The message object; content NULL means [] (message_start), and stop_reason may be NULL. */
static json_t *anth_message_new(const char *model, json_t *content, const char *stop_reason,
                                json_t *usage)
{
    json_t *doc = NULL;

    if (usage != NULL)
        doc =
            json_pack("{s:s,s:s,s:s,s:o,s:s,s:s?,s:n,s:O}", "id", "msg_fake", "type", "message",
                      "role", "assistant", "content", content != NULL ? content : json_array(),
                      "model", model, "stop_reason", stop_reason, "stop_sequence", "usage", usage);
    else
        json_decref(content);
    json_decref(usage);
    return doc;
}

/* The deltas of b joined (or b->whole), as a new string. */
static json_t *anth_block_text(const struct anth_block *b)
{
    struct evbuffer *buf;
    json_t *s = NULL;

    if (b->whole != NULL)
        return json_string(b->whole);
    buf = evbuffer_new();
    if (buf == NULL)
        return NULL;
    for (size_t i = 0; b->parts[i] != NULL; i++)
        if (evbuffer_add(buf, b->parts[i], strlen(b->parts[i])) < 0)
            goto out;
    s = json_stringn((const char *)evbuffer_pullup(buf, -1), evbuffer_get_length(buf));
out:
    evbuffer_free(buf);
    return s;
}

/* A content block: whole (JSON reply) or as content_block_start announces it (empty). */
static json_t *anth_block_new(const struct anth_block *b, bool whole)
{
    json_t *text = whole ? anth_block_text(b) : json_string("");
    json_t *doc = NULL;

    if (text == NULL)
        return NULL;
    if (strcmp(b->type, "tool_use") == 0)
        doc = json_pack("{s:s,s:s,s:s,s:o}", "type", "tool_use", "id", b->id, "name", b->name,
                        "input",
                        whole ? json_loads(json_string_value(text), 0, NULL) : json_object());
    else if (strcmp(b->type, "thinking") == 0)
        doc = json_pack("{s:s,s:O,s:s}", "type", "thinking", "thinking", text, "signature",
                        whole ? b->signature : "");
    else
        doc = json_pack("{s:s,s:O}", "type", "text", "text", text);
    json_decref(text);
    return doc;
}

static json_t *anth_reply_new(const char *model, const struct anth_reply *r)
{
    json_t *content = json_array();

    if (content == NULL)
        return NULL;
    for (size_t i = 0; i < r->nblocks; i++) {
        if (json_array_append_new(content, anth_block_new(&r->blocks[i], true)) < 0) {
            json_decref(content);
            return NULL;
        }
    }
    return anth_message_new(model, content, r->stop_reason, anth_usage_new(r, r->out));
}

/* ---- stream events ---- */

/* Sends doc as "event: <its type>" (doc taken). content: a delta, counted in chunks_sent. */
static int anth_send(struct fake_srv *srv, struct evhttp_request *req, json_t *doc, bool content,
                     fake_sent_fn *cb, void *arg)
{
    const char *type = json_string_value(json_object_get(doc, "type"));

    if (type == NULL) {
        json_decref(doc);
        return -1;
    }
    return fake_send_event(srv, req, type, doc, content, cb, arg);
}

/* message_start (output_tokens 1 as the API says) and, when first != NULL, that block's
 * content_block_start at index 0 and a ping. */
static int anth_send_start(struct fake_srv *srv, struct evhttp_request *req, const char *model,
                           const struct anth_reply *r, const struct anth_block *first)
{
    if (anth_send(srv, req,
                  json_pack("{s:s,s:o}", "type", "message_start", "message",
                            anth_message_new(model, NULL, NULL, anth_usage_new(r, 1))),
                  false, NULL, NULL) < 0)
        return -1;
    if (first == NULL)
        return 0;
    if (anth_send(srv, req,
                  json_pack("{s:s,s:i,s:o}", "type", "content_block_start", "index", 0,
                            "content_block", anth_block_new(first, false)),
                  false, NULL, NULL) < 0)
        return -1;
    return anth_send(srv, req, json_pack("{s:s}", "type", "ping"), false, NULL, NULL);
}

/* A content_block_delta of block b's kind at index with text. */
static int anth_send_delta(struct fake_srv *srv, struct evhttp_request *req, size_t index,
                           const char *type, const char *text, fake_sent_fn *cb, void *arg)
{
    json_t *delta;

    if (strcmp(type, "tool_use") == 0)
        delta = json_pack("{s:s,s:s}", "type", "input_json_delta", "partial_json", text);
    else if (strcmp(type, "thinking") == 0)
        delta = json_pack("{s:s,s:s}", "type", "thinking_delta", "thinking", text);
    else
        delta = json_pack("{s:s,s:s}", "type", "text_delta", "text", text);
    return anth_send(srv, req,
                     json_pack("{s:s,s:I,s:o}", "type", "content_block_delta", "index",
                               (json_int_t)index, "delta", delta),
                     true, cb, arg);
}

static int anth_send_block_stop(struct fake_srv *srv, struct evhttp_request *req, size_t index)
{
    return anth_send(
        srv, req, json_pack("{s:s,s:I}", "type", "content_block_stop", "index", (json_int_t)index),
        false, NULL, NULL);
}

/* message_delta (stop reason, cumulative output_tokens), message_stop, end of the reply. */
static void anth_send_end(struct fake_srv *srv, struct evhttp_request *req, const char *stop,
                          long output)
{
    if (anth_send(srv, req,
                  json_pack("{s:s,s:{s:s,s:n},s:{s:I}}", "type", "message_delta", "delta",
                            "stop_reason", stop, "stop_sequence", "usage", "output_tokens",
                            (json_int_t)output),
                  false, NULL, NULL) < 0 ||
        anth_send(srv, req, json_pack("{s:s}", "type", "message_stop"), false, NULL, NULL) < 0)
        fprintf(stderr, "fake-upstream: cannot end an anthropic stream\n");
    evhttp_send_reply_end(req);
}

/* The whole §2.4 sequence for r: every block started, its deltas, stopped; then the end. */
static void anth_stream(struct fake_srv *srv, struct evhttp_request *req, const char *model,
                        const struct anth_reply *r)
{
    int rc;

    fake_stream_start(req);
    rc = anth_send_start(srv, req, model, r, &r->blocks[0]);
    for (size_t i = 0; rc == 0 && i < r->nblocks; i++) {
        const struct anth_block *b = &r->blocks[i];

        if (i > 0)
            rc = anth_send(srv, req,
                           json_pack("{s:s,s:I,s:o}", "type", "content_block_start", "index",
                                     (json_int_t)i, "content_block", anth_block_new(b, false)),
                           false, NULL, NULL);
        for (size_t k = 0; rc == 0 && b->parts[k] != NULL; k++)
            rc = anth_send_delta(srv, req, i, b->type, b->parts[k], NULL, NULL);
        if (rc == 0 && b->signature != NULL)
            rc = anth_send(srv, req,
                           json_pack("{s:s,s:I,s:{s:s,s:s}}", "type", "content_block_delta",
                                     "index", (json_int_t)i, "delta", "type", "signature_delta",
                                     "signature", b->signature),
                           false, NULL, NULL);
        if (rc == 0)
            rc = anth_send_block_stop(srv, req, i);
    }
    if (rc < 0)
        fprintf(stderr, "fake-upstream: cannot send an anthropic event\n");
    anth_send_end(srv, req, r->stop_reason, r->out);
}

/* ---- timed calls (claude-slow, claude-cut) ---- */

static const struct anth_reply anth_slow_reply = {.stop_reason = "end_turn", .in = 10};

/* claude-slow stream: one "x<i> " delta per tick, then the end. */
static void anth_slow_step(struct fake_call *c)
{
    struct fake_srv *srv = c->srv;
    char text[32];
    long n;

    snprintf(text, sizeof(text), "x%ld ", c->sent);
    if (anth_send_delta(srv, c->req, 0, "text", text, NULL, NULL) < 0) {
        fake_call_abort(c);
        return;
    }
    if (++c->sent < c->sp.n) {
        fake_call_after(c, c->sp.ms);
        return;
    }
    if (anth_send_block_stop(srv, c->req, 0) < 0)
        fprintf(stderr, "fake-upstream: cannot stop a block\n");
    n = c->sp.n;
    /* Release first: the close callback must be gone before the reply can end. */
    anth_send_end(srv, fake_call_release(c), "end_turn", n);
}

/* claude-slow without stream: the message after n*ms, text "x0 x1 ... ". */
static void anth_slow_reply_send(struct fake_call *c)
{
    struct anth_reply r = anth_slow_reply;
    struct evbuffer *b = evbuffer_new();
    json_t *doc = NULL;

    r.out = c->sp.n;
    if (b != NULL) {
        for (long i = 0; i < c->sp.n; i++)
            if (evbuffer_add_printf(b, "x%ld ", i) < 0)
                break;
        doc = anth_message_new(
            c->model,
            json_pack("[{s:s,s:o}]", "type", "text", "text",
                      json_stringn((const char *)evbuffer_pullup(b, -1), evbuffer_get_length(b))),
            "end_turn", anth_usage_new(&r, r.out));
        evbuffer_free(b);
    }
    fake_reply_json(fake_call_release(c), 200, doc);
}

static void anth_tick(struct fake_call *c)
{
    if (c->stream)
        anth_slow_step(c);
    else
        anth_slow_reply_send(c);
}

static void anth_slow(struct fake_srv *srv, struct evhttp_request *req, const struct fake_spec *sp,
                      const char *model, bool stream)
{
    static const char *const none[] = {NULL};
    const struct anth_block text = {.type = "text", .parts = none};
    struct fake_call *c = fake_call_new(srv, req, sp, model, stream, false, anth_tick);

    if (c == NULL) {
        anth_reply_error(req, 500, "fake-upstream: out of memory");
        return;
    }
    if (!stream) {
        fake_call_watch_start(c);
        fake_call_after(c, (long long)sp->n * sp->ms);
        return;
    }
    fake_stream_start(req); /* headers and the start now, the first delta after ms */
    if (anth_send_start(srv, req, model, &anth_slow_reply, &text) < 0)
        fake_call_fail(c);
    else
        fake_call_after(c, sp->ms);
}

/* claude-cut: the start and one delta, then the TCP connection closes (no reply without stream). */
static void anth_cut(struct fake_srv *srv, struct evhttp_request *req, const struct fake_spec *sp,
                     const char *model, bool stream)
{
    static const struct anth_block text = {.type = "text", .parts = anth_hello};
    static const struct anth_reply r = {.in = 10};
    struct fake_call *c = fake_call_new(srv, req, sp, model, stream, false, NULL);

    if (c == NULL) {
        anth_reply_error(req, 500, "fake-upstream: out of memory");
        return;
    }
    c->close_now = true;
    if (!stream) {
        fake_call_after(c, 0);
        return;
    }
    fake_stream_start(req);
    if (anth_send_start(srv, req, model, &r, &text) < 0 ||
        anth_send_delta(srv, req, 0, "text", "Hel", fake_call_flushed, c) < 0)
        fake_call_after(c, 0);
    /* Otherwise fake_call_flushed closes once the delta reached the socket. */
}

/* ---- endpoint ---- */

/* claude-error: the start, one delta, an error event and the end of the body; 500 without
 * stream. */
static void anth_midstream_error(struct fake_srv *srv, struct evhttp_request *req,
                                 const char *model, bool stream)
{
    static const struct anth_block text = {.type = "text", .parts = anth_hello};
    static const struct anth_reply r = {.in = 10};

    if (!stream) {
        anth_reply_error(req, 500, "fake anthropic error 500");
        return;
    }
    fake_stream_start(req);
    if (anth_send_start(srv, req, model, &r, &text) < 0 ||
        anth_send_delta(srv, req, 0, "text", "Hel", NULL, NULL) < 0 ||
        anth_send(srv, req, anth_error_new("overloaded_error", json_string("Overloaded")), false,
                  NULL, NULL) < 0)
        fprintf(stderr, "fake-upstream: cannot send the anthropic error event\n");
    evhttp_send_reply_end(req);
}

static void anth_status(struct evhttp_request *req, int code)
{
    if ((code == 429 || code == 529) &&
        evhttp_add_header(evhttp_request_get_output_headers(req), "retry-after", "7") < 0)
        fprintf(stderr, "fake-upstream: cannot add retry-after\n");
    fake_reply_json(
        req, code,
        anth_error_new(anth_error_type(code), json_sprintf("fake anthropic error %d", code)));
}

/* What the real API checks before anything else: credentials, version, the body's shape. Sends
 * the error reply and returns false when the request is refused. */
static bool anth_request_ok(struct evhttp_request *req, json_t *body)
{
    static const char *const known[] = {
        "model",         "messages",      "max_tokens",
        "system",        "temperature",   "top_p",
        "top_k",         "stream",        "stop_sequences",
        "tools",         "tool_choice",   "metadata",
        "thinking",      "service_tier",  "container",
        "mcp_servers",   "output_config", "context_management",
        "cache_control", "inference_geo",
    };
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    const char *key;
    json_t *v;
    char msg[160];

    if (evhttp_find_header(in, "x-api-key") == NULL) {
        anth_reply_error(req, 401, "x-api-key header is required");
        return false;
    }
    if (evhttp_find_header(in, "anthropic-version") == NULL) {
        anth_reply_error(req, 400, "anthropic-version: header is required");
        return false;
    }
    if (!json_is_object(body)) {
        anth_reply_error(req, 400, "request body is not a JSON object");
        return false;
    }
    json_object_foreach(body, key, v)
    {
        size_t i = 0;

        while (i < sizeof(known) / sizeof(known[0]) && strcmp(key, known[i]) != 0)
            i++;
        if (i == sizeof(known) / sizeof(known[0])) {
            snprintf(msg, sizeof(msg), "%.100s: Extra inputs are not permitted", key);
            anth_reply_error(req, 400, msg);
            return false;
        }
    }
    if (!json_is_string(json_object_get(body, "model")))
        snprintf(msg, sizeof(msg), "model: Field required");
    else if (!json_is_integer(json_object_get(body, "max_tokens")))
        snprintf(msg, sizeof(msg), "max_tokens: Field required");
    else if (!json_is_array(json_object_get(body, "messages")))
        snprintf(msg, sizeof(msg), "messages: Field required");
    else
        return true;
    anth_reply_error(req, 400, msg);
    return false;
}

void fake_messages(struct fake_srv *srv, struct evhttp_request *req, const char *text, size_t len)
{
    static const struct anth_reply ok = {
        .blocks = {{.type = "text", .parts = anth_hello, .whole = "Hello from claude"}},
        .nblocks = 1,
        .stop_reason = "end_turn",
        .in = 10,
        .out = 5};
    static const struct anth_reply tools = {.blocks = {{.type = "text", .parts = anth_check},
                                                       {.type = "tool_use",
                                                        .parts = anth_city,
                                                        .id = "toolu_01B",
                                                        .name = "get_weather"}},
                                            .nblocks = 2,
                                            .stop_reason = "tool_use",
                                            .in = 120,
                                            .out = 40};
    static const struct anth_reply thinking = {
        .blocks = {{.type = "thinking", .parts = anth_think, .signature = "sig123"},
                   {.type = "text", .parts = anth_answer}},
        .nblocks = 2,
        .stop_reason = "end_turn",
        .in = 10,
        .out = 5};
    json_t *body = json_loadb(text, len, 0, NULL);
    struct anth_reply r = ok;
    struct fake_spec sp;
    const char *model;
    bool stream;
    char *echo = NULL;
    const char *echo_parts[2] = {NULL, NULL};

    if (!anth_request_ok(req, body))
        goto out;
    model = json_string_value(json_object_get(body, "model"));
    stream = json_is_true(json_object_get(body, "stream"));
    anth_spec_parse(model, &sp);
    switch (sp.kind) {
    case ANTH_TOOLS:
        r = tools;
        break;
    case ANTH_THINKING:
        r = thinking;
        break;
    case ANTH_CACHE:
        r.cache_read = 100;
        r.cache_creation = 20;
        break;
    case ANTH_ECHO:
        echo = strndup(text, len);
        if (echo == NULL) {
            anth_reply_error(req, 500, "fake-upstream: out of memory");
            goto out;
        }
        echo_parts[0] = echo;
        r.blocks[0].parts = echo_parts;
        r.blocks[0].whole = NULL;
        break;
    case ANTH_ERROR:
        anth_midstream_error(srv, req, model, stream);
        goto out;
    case ANTH_STATUS:
        anth_status(req, sp.code);
        goto out;
    case ANTH_CUT:
        anth_cut(srv, req, &sp, model, stream);
        goto out;
    case ANTH_SLOW:
        anth_slow(srv, req, &sp, model, stream);
        goto out;
    default:
        break;
    }
    if (stream)
        anth_stream(srv, req, model, &r);
    else
        fake_reply_json(req, 200, anth_reply_new(model, &r));
out:
    free(echo);
    json_decref(body);
}
