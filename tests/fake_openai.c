/*
 * fake-upstream, OpenAI wire (POST .../chat/completions): the fake-* scenarios listed in t_fake.h,
 * picked by the request's model name. Embeddings are in fake_openai_embed.c.
 */
#include "fake_upstream.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>

#define FAKE_CREATED 1700000000
#define FAKE_HWM (256 * 1024) /* fake-big stops queueing above this much evhttp output */
#define FAKE_BIG_LEN 1000     /* content bytes per fake-big chunk */

enum fake_kind {
    FAKE_OK, /* also every unknown model */
    FAKE_NOUSAGE,
    FAKE_SLOW,
    FAKE_BIG,
    FAKE_MIDFAIL,
    FAKE_MIDERROR,
    FAKE_STATUS,
    FAKE_HANG,
    FAKE_BADJSON,
    FAKE_ECHO,
    FAKE_TOOLS,
};

/* ---- model names ---- */

/* The scenario of model; a "~tag" suffix (the soak test's request tags) is ignored. */
static void fake_spec_parse(const char *tagged, struct fake_spec *sp)
{
    static const struct {
        const char *name;
        enum fake_kind kind;
    } fixed[] = {
        {"fake-nousage", FAKE_NOUSAGE},   {"fake-midfail", FAKE_MIDFAIL},
        {"fake-miderror", FAKE_MIDERROR}, {"fake-hang", FAKE_HANG},
        {"fake-badjson", FAKE_BADJSON},   {"fake-echo", FAKE_ECHO},
        {"fake-tools", FAKE_TOOLS},
    };
    struct fake_spec s = {.kind = FAKE_OK};
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
    if (strncmp(model, "fake-slow-", 10) == 0) {
        if (fake_parse_num(model + 10, '-', 1, FAKE_MAX_N, &s.n, &p) &&
            fake_parse_num(p + 1, '\0', 0, FAKE_MAX_MS, &s.ms, &p)) {
            s.kind = FAKE_SLOW;
            *sp = s;
        }
    } else if (strncmp(model, "fake-overrun-", 13) == 0) {
        /* fake-overrun-<c>-<ms>: one chunk after ms, usage 10/c whatever max_tokens said. */
        if (fake_parse_num(model + 13, '-', 1, FAKE_MAX_N, &s.completion, &p) &&
            fake_parse_num(p + 1, '\0', 0, FAKE_MAX_MS, &s.ms, &p)) {
            s.kind = FAKE_SLOW;
            s.n = 1;
            *sp = s;
        }
    } else if (strncmp(model, "fake-big-", 9) == 0) {
        if (fake_parse_num(model + 9, '\0', 1, FAKE_MAX_N, &s.n, &p)) {
            s.kind = FAKE_BIG;
            *sp = s;
        }
    } else if (strncmp(model, "fake-status-", 12) == 0) {
        if (fake_parse_num(model + 12, '\0', 200, 599, &code, &p)) {
            s.kind = FAKE_STATUS;
            s.code = (int)code;
            *sp = s;
        }
    } else if (strncmp(model, "fake-keycut-", 12) == 0) {
        if (fake_parse_num(model + 12, '\0', 200, 599, &code, &p)) {
            s.kind = FAKE_STATUS;
            s.code = (int)code;
            s.cut = 1;
            *sp = s;
        }
    }
}

/* ---- JSON documents ---- */

static json_t *fake_usage_new(long prompt, long completion)
{
    return json_pack("{s:I,s:I,s:I}", "prompt_tokens", (json_int_t)prompt, "completion_tokens",
                     (json_int_t)completion, "total_tokens", (json_int_t)(prompt + completion));
}

/* A chat.completion; takes ownership of content and usage (usage may be NULL: no key). */
static json_t *fake_completion_new(const char *model, json_t *content, json_t *usage)
{
    json_t *doc = NULL;

    if (content == NULL)
        goto out;
    doc = json_pack("{s:s,s:s,s:i,s:s,s:[{s:i,s:{s:s,s:O},s:s}]}", "id", "chatcmpl-fake", "object",
                    "chat.completion", "created", FAKE_CREATED, "model", model, "choices", "index",
                    0, "message", "role", "assistant", "content", content, "finish_reason", "stop");
    if (doc != NULL && usage != NULL && json_object_set(doc, "usage", usage) < 0) {
        json_decref(doc);
        doc = NULL;
    }
out:
    json_decref(content);
    json_decref(usage);
    return doc;
}

/* One chat.completion.chunk with a content delta; the first also carries the role, the last the
 * finish_reason. */
static json_t *fake_chunk_new(const char *model, const char *text, size_t len, bool first,
                              bool last)
{
    json_t *delta = json_object();
    json_t *doc = NULL;

    if (delta == NULL)
        return NULL;
    if (first && json_object_set_new(delta, "role", json_string("assistant")) < 0)
        goto out;
    if (json_object_set_new(delta, "content", json_stringn(text, len)) < 0)
        goto out;
    doc = json_pack("{s:s,s:s,s:i,s:s,s:[{s:i,s:O,s:s?}]}", "id", "chatcmpl-fake", "object",
                    "chat.completion.chunk", "created", FAKE_CREATED, "model", model, "choices",
                    "index", 0, "delta", delta, "finish_reason", last ? "stop" : NULL);
out:
    json_decref(delta);
    return doc;
}

/* The usage-only chunk sent after the content when include_usage is set; takes usage. */
static json_t *fake_usage_chunk_new(const char *model, json_t *usage)
{
    json_t *doc = NULL;

    if (usage != NULL)
        doc = json_pack("{s:s,s:s,s:i,s:s,s:[],s:O}", "id", "chatcmpl-fake", "object",
                        "chat.completion.chunk", "created", FAKE_CREATED, "model", model, "choices",
                        "usage", usage);
    json_decref(usage);
    return doc;
}

/* Ends a started stream: the usage chunk when usage != NULL (taken), [DONE], end of reply.
 * req is freed by evhttp afterwards. */
static void fake_stream_finish(struct fake_srv *srv, struct evhttp_request *req, const char *model,
                               json_t *usage)
{
    static const char done[] = "data: [DONE]\n\n";

    if (usage != NULL &&
        fake_send_event(srv, req, NULL, fake_usage_chunk_new(model, usage), false, NULL, NULL) < 0)
        fprintf(stderr, "fake-upstream: cannot send the usage chunk\n");
    if (fake_send_raw(req, done, sizeof(done) - 1, NULL, NULL) < 0)
        fprintf(stderr, "fake-upstream: cannot send [DONE]\n");
    evhttp_send_reply_end(req);
}

/* fake-slow stream: one "x<i> " chunk per tick, then usage and [DONE]. */
static void fake_slow_step(struct fake_call *c)
{
    char text[32];
    bool last = c->sent + 1 >= c->sp.n;
    struct fake_srv *srv = c->srv;
    json_t *usage = NULL;
    char *model;

    snprintf(text, sizeof(text), "x%ld ", c->sent);
    if (fake_send_event(c->srv, c->req, NULL,
                        fake_chunk_new(c->model, text, strlen(text), c->sent == 0, last), true,
                        NULL, NULL) < 0) {
        fake_call_abort(c);
        return;
    }
    c->sent++;
    if (!last) {
        fake_call_after(c, c->sp.ms);
        return;
    }
    if (c->usage &&
        (usage = fake_usage_new(10, c->sp.completion > 0 ? c->sp.completion : c->sp.n)) == NULL) {
        fake_call_abort(c);
        return;
    }
    /* Release first: the close callback must be gone before the reply can end. */
    model = c->model;
    c->model = NULL;
    fake_stream_finish(srv, fake_call_release(c), model, usage);
    free(model);
}

/* fake-slow without stream: one answer after n*ms with "x0 x1 ... " as content. */
static void fake_slow_reply(struct fake_call *c)
{
    struct evbuffer *b = evbuffer_new();
    json_t *doc = NULL;

    if (b != NULL) {
        for (long i = 0; i < c->sp.n; i++)
            if (evbuffer_add_printf(b, "x%ld ", i) < 0)
                break;
        doc = fake_completion_new(
            c->model, json_stringn((const char *)evbuffer_pullup(b, -1), evbuffer_get_length(b)),
            fake_usage_new(10, c->sp.completion > 0 ? c->sp.completion : c->sp.n));
        evbuffer_free(b);
    }
    fake_reply_json(fake_call_release(c), 200, doc);
}

/*
 * fake-big: queue chunks until evhttp holds FAKE_HWM bytes, then wait for its output to drain
 * (fake_call_flushed) so a client that stops reading stalls us instead of growing our memory.
 */
static void fake_big_pump(struct fake_call *c)
{
    struct evbuffer *out = bufferevent_get_output(evhttp_connection_get_bufferevent(c->evcon));
    struct fake_srv *srv = c->srv;
    char text[FAKE_BIG_LEN];
    json_t *usage = NULL;
    char *model;

    memset(text, 'a', sizeof(text));
    while (c->sent < c->sp.n && evbuffer_get_length(out) < FAKE_HWM) {
        json_t *chunk =
            fake_chunk_new(c->model, text, sizeof(text), c->sent == 0, c->sent + 1 == c->sp.n);

        if (fake_send_event(c->srv, c->req, NULL, chunk, true, fake_call_flushed, c) < 0) {
            fake_call_fail(c);
            return;
        }
        c->sent++;
    }
    if (c->sent < c->sp.n)
        return;
    if (c->usage && (usage = fake_usage_new(10, c->sp.n * 250)) == NULL) {
        fake_call_fail(c);
        return;
    }
    /* The plain chunks and the end replace fake_call_flushed as evhttp's write callback. */
    model = c->model;
    c->model = NULL;
    fake_stream_finish(srv, fake_call_release(c), model, usage);
    free(model);
}

static void fake_openai_tick(struct fake_call *c)
{
    if (c->sp.kind == FAKE_SLOW && c->stream)
        fake_slow_step(c);
    else if (c->sp.kind == FAKE_SLOW)
        fake_slow_reply(c);
    else if (c->sp.kind == FAKE_BIG)
        fake_big_pump(c);
}

/* ---- endpoints ---- */

/* Synchronous streams (fake-ok, fake-nousage, fake-echo): the given deltas, then the end. */
static void fake_stream_now(struct fake_srv *srv, struct evhttp_request *req, const char *model,
                            const char *const *parts, const size_t *lens, size_t n, json_t *usage)
{
    fake_stream_start(req);
    for (size_t i = 0; i < n; i++) {
        if (fake_send_event(srv, req, NULL,
                            fake_chunk_new(model, parts[i], lens[i], i == 0, i + 1 == n), true,
                            NULL, NULL) < 0)
            fprintf(stderr, "fake-upstream: cannot send a chunk\n");
    }
    fake_stream_finish(srv, req, model, usage);
}

/*
 * fake-tools (providers.md §15, the /v1/messages bridge fixture): reasoning, text, then two
 * parallel tool calls whose argument fragments interleave, finish tool_calls, and a usage-only
 * chunk (30 prompt with 10 cached, 25 completion) when include_usage is set.
 */
static void fake_tools(struct fake_srv *srv, struct evhttp_request *req, bool stream, bool usage)
{
#define FAKE_TC(i, rest) "{\"tool_calls\":[{\"index\":" #i "," rest "}]}"
    static const char *const deltas[] = {
        "{\"role\":\"assistant\",\"content\":\"\"}",
        "{\"reasoning\":{\"content\":\"Thinking\"}}",
        "{\"content\":\"Checking.\"}",
        FAKE_TC(0, "\"id\":\"call_a\",\"type\":\"function\",\"function\":{\"name\":"
                   "\"get_weather\",\"arguments\":\"\"}"),
        FAKE_TC(1, "\"id\":\"call_b\",\"type\":\"function\",\"function\":{\"name\":"
                   "\"get_time\",\"arguments\":\"\"}"),
        FAKE_TC(0, "\"function\":{\"arguments\":\"{\\\"city\\\":\"}"),
        FAKE_TC(1, "\"function\":{\"arguments\":\"{\\\"tz\\\":\"}"),
        FAKE_TC(0, "\"function\":{\"arguments\":\"\\\"Paris\\\"}\"}"),
        FAKE_TC(1, "\"function\":{\"arguments\":\"\\\"CET\\\"}\"}"),
    };
#undef FAKE_TC
    static const char usage_json[] = "{\"prompt_tokens\":30,\"completion_tokens\":25,"
                                     "\"total_tokens\":55,\"prompt_tokens_details\":"
                                     "{\"cached_tokens\":10}}";
    char buf[1024];
    int n;

    if (!stream) {
        n = snprintf(buf, sizeof(buf),
                     "{\"id\":\"chatcmpl-tools\",\"object\":\"chat.completion\",\"created\":%d,"
                     "\"model\":\"fake-tools\",\"choices\":[{\"index\":0,\"message\":{\"role\":"
                     "\"assistant\",\"content\":\"Checking.\",\"reasoning\":{\"content\":"
                     "\"Thinking\"},\"tool_calls\":[{\"id\":\"call_a\",\"type\":\"function\","
                     "\"function\":{\"name\":\"get_weather\",\"arguments\":\"{\\\"city\\\":"
                     "\\\"Paris\\\"}\"}}]},\"finish_reason\":\"tool_calls\"}],\"usage\":%s}",
                     FAKE_CREATED, usage_json);
        fake_reply_json(req, 200, json_loadb(buf, (size_t)n, 0, NULL));
        return;
    }
    (void)srv;
    fake_stream_start(req);
    for (size_t i = 0; i <= sizeof(deltas) / sizeof(deltas[0]); i++) {
        n = snprintf(buf, sizeof(buf),
                     "data: {\"id\":\"chatcmpl-tools\",\"object\":\"chat.completion.chunk\","
                     "\"created\":%d,\"model\":\"fake-tools\",\"choices\":[{\"index\":0,"
                     "\"delta\":%s,\"finish_reason\":%s}]}\n\n",
                     FAKE_CREATED, i < sizeof(deltas) / sizeof(deltas[0]) ? deltas[i] : "{}",
                     i < sizeof(deltas) / sizeof(deltas[0]) ? "null" : "\"tool_calls\"");
        if (fake_send_raw(req, buf, (size_t)n, NULL, NULL) < 0)
            fprintf(stderr, "fake-upstream: cannot send a chunk\n");
    }
    if (usage) {
        n = snprintf(buf, sizeof(buf),
                     "data: {\"id\":\"chatcmpl-tools\",\"object\":\"chat.completion.chunk\","
                     "\"created\":%d,\"model\":\"fake-tools\",\"choices\":[],\"usage\":%s}\n\n",
                     FAKE_CREATED, usage_json);
        if (fake_send_raw(req, buf, (size_t)n, NULL, NULL) < 0)
            fprintf(stderr, "fake-upstream: cannot send the usage chunk\n");
    }
    if (fake_send_raw(req, "data: [DONE]\n\n", 14, NULL, NULL) < 0)
        fprintf(stderr, "fake-upstream: cannot send [DONE]\n");
    evhttp_send_reply_end(req);
}

static void fake_midfail(struct fake_srv *srv, struct evhttp_request *req,
                         const struct fake_spec *sp, const char *model, bool stream)
{
    struct fake_call *c = fake_call_new(srv, req, sp, model, stream, false, NULL);

    if (c == NULL) {
        fake_reply_error(req, 500, "fake-upstream: out of memory", "server_error");
        return;
    }
    c->close_now = true;
    if (!stream) {
        fake_call_after(c, 0); /* no reply at all, just the close */
        return;
    }
    fake_stream_start(req);
    if (fake_send_event(srv, req, NULL, fake_chunk_new(model, "Hel", 3, true, false), true, NULL,
                        NULL) < 0 ||
        fake_send_event(srv, req, NULL, fake_chunk_new(model, "lo", 2, false, false), true,
                        fake_call_flushed, c) < 0)
        fake_call_after(c, 0);
    /* Otherwise fake_call_flushed closes once both chunks reached the socket. */
}

static void fake_miderror(struct fake_srv *srv, struct evhttp_request *req, const char *model,
                          bool stream)
{
    static const char err[] =
        "data: {\"error\":{\"message\":\"boom mid-stream\",\"type\":\"server_error\"}}\n\n";

    if (!stream) {
        fake_reply_error(req, 500, "boom mid-stream", "server_error");
        return;
    }
    fake_stream_start(req);
    if (fake_send_event(srv, req, NULL, fake_chunk_new(model, "Hel", 3, true, false), true, NULL,
                        NULL) < 0 ||
        fake_send_raw(req, err, sizeof(err) - 1, NULL, NULL) < 0)
        fprintf(stderr, "fake-upstream: cannot send the mid-stream error\n");
    evhttp_send_reply_end(req);
}

/* The bearer token the client sent (Authorization, else x-api-key / api-key), "" if none. */
static const char *fake_token(struct evhttp_request *req)
{
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    const char *v = evhttp_find_header(in, "Authorization");

    if (v != NULL) {
        if (strncasecmp(v, "Bearer ", 7) == 0)
            v += 7;
        return v;
    }
    v = evhttp_find_header(in, "x-api-key");
    if (v == NULL)
        v = evhttp_find_header(in, "api-key");
    return v != NULL ? v : "";
}

void fake_status(struct evhttp_request *req, int code, int cut)
{
    const char *tok = fake_token(req);
    int keep = (int)strlen(tok) > cut ? (int)strlen(tok) - cut : 0;
    json_t *msg = json_sprintf("fake error %d for token %.*s", code, keep, tok);
    json_t *doc = NULL;

    if (msg != NULL)
        doc = json_pack("{s:{s:O,s:s,s:s}}", "error", "message", msg, "type", "fake_type", "code",
                        "fake_code");
    json_decref(msg);
    if (code == 429 &&
        evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", "7") < 0)
        fprintf(stderr, "fake-upstream: cannot add Retry-After\n");
    fake_reply_json(req, code, doc);
}

static void fake_badjson(struct evhttp_request *req)
{
    static const char text[] = "this is not json";
    struct evbuffer *b = evbuffer_new();

    if (b == NULL || evbuffer_add(b, text, sizeof(text) - 1) < 0 ||
        evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                          "application/json") < 0)
        evhttp_send_error(req, 500, NULL);
    else
        evhttp_send_reply(req, 200, "OK", b);
    if (b != NULL)
        evbuffer_free(b);
}

/* The model name picks the scenario (t_fake.h). */
void fake_chat(struct fake_srv *srv, struct evhttp_request *req, const char *text, size_t len)
{
    static const char *const ok_parts[] = {"Hel", "lo", " world"};
    static const size_t ok_lens[] = {3, 2, 6};
    json_t *body = json_loadb(text, len, 0, NULL);
    const char *model;
    struct fake_spec sp;
    struct fake_call *c;
    bool stream, usage;

    if (!json_is_object(body)) {
        fake_reply_error(req, 400, "request body is not a JSON object", "invalid_request_error");
        goto out;
    }
    model = json_string_value(json_object_get(body, "model"));
    if (model == NULL)
        model = "";
    stream = json_is_true(json_object_get(body, "stream"));
    usage = json_is_true(json_object_get(json_object_get(body, "stream_options"), "include_usage"));
    fake_spec_parse(model, &sp);
    switch (sp.kind) {
    case FAKE_OK:
    case FAKE_NOUSAGE:
        if (stream)
            fake_stream_now(srv, req, model, ok_parts, ok_lens, 3,
                            usage && sp.kind == FAKE_OK ? fake_usage_new(10, 5) : NULL);
        else
            fake_reply_json(req, 200,
                            fake_completion_new(model, json_string("Hello from fake"),
                                                sp.kind == FAKE_OK ? fake_usage_new(10, 5) : NULL));
        break;
    case FAKE_ECHO:
        if (stream)
            fake_stream_now(srv, req, model, &text, &len, 1, usage ? fake_usage_new(10, 5) : NULL);
        else
            fake_reply_json(
                req, 200,
                fake_completion_new(model, json_stringn(text, len), fake_usage_new(10, 5)));
        break;
    case FAKE_BIG:
        if (!stream) {
            char *all = malloc((size_t)sp.n * FAKE_BIG_LEN);

            if (all != NULL)
                memset(all, 'a', (size_t)sp.n * FAKE_BIG_LEN);
            fake_reply_json(req, 200,
                            all == NULL ? NULL
                                        : fake_completion_new(
                                              model, json_stringn(all, (size_t)sp.n * FAKE_BIG_LEN),
                                              fake_usage_new(10, sp.n * 250)));
            free(all);
            break;
        }
        c = fake_call_new(srv, req, &sp, model, stream, usage, fake_openai_tick);
        if (c == NULL) {
            fake_reply_error(req, 500, "fake-upstream: out of memory", "server_error");
            break;
        }
        fake_stream_start(req);
        fake_big_pump(c);
        break;
    case FAKE_SLOW:
    case FAKE_HANG:
        c = fake_call_new(srv, req, &sp, model, stream, usage, fake_openai_tick);
        if (c == NULL) {
            fake_reply_error(req, 500, "fake-upstream: out of memory", "server_error");
            break;
        }
        if (sp.kind == FAKE_SLOW && stream) {
            fake_stream_start(req); /* headers now, the first chunk after ms */
            fake_call_after(c, sp.ms);
            break;
        }
        fake_call_watch_start(c);
        if (sp.kind == FAKE_SLOW)
            fake_call_after(c, (long long)sp.n * sp.ms);
        break;
    case FAKE_TOOLS:
        fake_tools(srv, req, stream, usage);
        break;
    case FAKE_MIDFAIL:
        fake_midfail(srv, req, &sp, model, stream);
        break;
    case FAKE_MIDERROR:
        fake_miderror(srv, req, model, stream);
        break;
    case FAKE_STATUS:
        fake_status(req, sp.code, sp.cut);
        break;
    case FAKE_BADJSON:
        fake_badjson(req);
        break;
    }
out:
    json_decref(body);
}
