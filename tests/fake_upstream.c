/*
 * fake-upstream: a scriptable OpenAI-wire provider for the end-to-end tests. The request's model
 * name picks the behaviour (fake-ok, fake-slow-N-MS, fake-big-N, fake-status-CODE, ...), and
 * GET /_last, GET /_stats and POST /_reset let a test see what the gateway sent. Single-threaded
 * evhttp on 127.0.0.1:0; the port goes to --port-file once listening. SIGTERM/SIGINT free
 * everything and exit 0, so LeakSanitizer runs of the tests also check this program.
 */
#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <netinet/in.h>

#define FAKE_CREATED 1700000000
#define FAKE_HWM (256 * 1024) /* fake-big stops queueing above this much evhttp output */
#define FAKE_BIG_LEN 1000     /* content bytes per fake-big chunk */
#define FAKE_MAX_N 10000000L
#define FAKE_MAX_MS 600000L
#define FAKE_DUMP_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(9))

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
};

struct fake_spec {
    enum fake_kind kind;
    long n;          /* content chunks (slow, big) */
    long ms;         /* delay before each chunk (slow) */
    int code;        /* HTTP status (status) */
    int cut;         /* status: characters cut off the end of the echoed token (fake-keycut-) */
    long completion; /* reported completion tokens when > 0 (overrun), else n */
};

struct fake_call;

struct fake_srv {
    struct event_base *base;
    struct evhttp *http;
    TAILQ_HEAD(fake_call_list, fake_call) calls; /* requests still being answered */
    long requests;                               /* POSTs received since the last reset */
    long active;                                 /* length of calls */
    long client_closed;
    long chunks_sent; /* SSE content chunks handed to evhttp */
    json_t *last;     /* the /_last document; NULL when no POST since the last reset */
};

/*
 * One request answered over time (streams, delays, hangs). It is owned by srv->calls and ends
 * in exactly one of: fake_call_release (we answered), fake_call_closed (the client left, from
 * evhttp's close callback), fake_call_abort (we cut the connection), or shutdown.
 */
struct fake_call {
    TAILQ_ENTRY(fake_call) link;
    struct fake_srv *srv;
    struct evhttp_request *req;
    struct evhttp_connection *evcon;
    struct fake_spec sp;
    char *model;
    bool stream;
    bool usage;     /* stream_options.include_usage */
    bool close_now; /* the next tick cuts the connection (fake-midfail, internal errors) */
    long sent;      /* content chunks sent */
    struct event *timer;
    struct event *watch; /* EOF detector while no reply has started */
};

typedef void fake_sent_fn(struct evhttp_connection *evcon, void *arg);

/* ---- model names ---- */

/* Parses a decimal in [min, max] at s that ends at stop; *end points at the stop character. */
static bool fake_parse_num(const char *s, char stop, long min, long max, long *out,
                           const char **end)
{
    char *e;
    long v;

    if (!isdigit((unsigned char)*s))
        return false;
    errno = 0;
    v = strtol(s, &e, 10);
    if (errno != 0 || *e != stop || v < min || v > max)
        return false;
    *out = v;
    *end = e;
    return true;
}

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
    };
    struct fake_spec s = {.kind = FAKE_OK};
    const char *p, *tilde = strchr(tagged, '~');
    char model[128];
    long code;

    snprintf(model, sizeof(model), "%.*s",
             (int)(tilde != NULL ? (size_t)(tilde - tagged) : strlen(tagged)), tagged);
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

static json_t *fake_error_new(const char *message, const char *type, const char *code)
{
    return json_pack("{s:{s:s,s:s,s:s?}}", "error", "message", message, "type", type, "code", code);
}

/* ---- replies ---- */

static int fake_dump_cb(const char *buf, size_t len, void *arg)
{
    return evbuffer_add(arg, buf, len);
}

/* Sends doc (ownership taken; NULL means an earlier allocation failed: 500) as the reply. */
static void fake_reply_json(struct evhttp_request *req, int status, json_t *doc)
{
    struct evbuffer *b = evbuffer_new();

    if (b == NULL || doc == NULL || json_dump_callback(doc, fake_dump_cb, b, FAKE_DUMP_FLAGS) < 0 ||
        evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                          "application/json") < 0) {
        fprintf(stderr, "fake-upstream: cannot build a reply\n");
        evhttp_send_error(req, 500, NULL);
    } else {
        evhttp_send_reply(req, status, NULL, b);
    }
    if (b != NULL)
        evbuffer_free(b);
    json_decref(doc);
}

static void fake_reply_error(struct evhttp_request *req, int status, const char *message,
                             const char *type)
{
    fake_reply_json(req, status, fake_error_new(message, type, NULL));
}

/* Starts a 200 SSE reply (chunked: evhttp adds Transfer-Encoding for HTTP/1.1 clients). */
static void fake_stream_start(struct evhttp_request *req)
{
    struct evkeyvalq *out = evhttp_request_get_output_headers(req);

    if (evhttp_add_header(out, "Content-Type", "text/event-stream") < 0 ||
        evhttp_add_header(out, "Cache-Control", "no-cache") < 0)
        fprintf(stderr, "fake-upstream: cannot add stream headers\n");
    evhttp_send_reply_start(req, 200, "OK");
}

/* Hands len bytes to evhttp as one HTTP chunk; cb (may be NULL) runs once evhttp's output has
 * drained. */
static int fake_send_raw(struct evhttp_request *req, const char *data, size_t len, fake_sent_fn *cb,
                         void *arg)
{
    struct evbuffer *b = evbuffer_new();

    if (b == NULL || evbuffer_add(b, data, len) < 0) {
        if (b != NULL)
            evbuffer_free(b);
        return -1;
    }
    evhttp_send_reply_chunk_with_cb(req, b, cb, arg);
    evbuffer_free(b);
    return 0;
}

/* Sends "data: <doc>\n\n" (doc taken; NULL fails). content: count it in chunks_sent. */
static int fake_send_event(struct fake_srv *srv, struct evhttp_request *req, json_t *doc,
                           bool content, fake_sent_fn *cb, void *arg)
{
    struct evbuffer *b = evbuffer_new();
    int rc = -1;

    if (b == NULL || doc == NULL)
        goto out;
    if (evbuffer_add(b, "data: ", 6) < 0 ||
        json_dump_callback(doc, fake_dump_cb, b, FAKE_DUMP_FLAGS) < 0 ||
        evbuffer_add(b, "\n\n", 2) < 0)
        goto out;
    evhttp_send_reply_chunk_with_cb(req, b, cb, arg);
    if (content)
        srv->chunks_sent++;
    rc = 0;
out:
    if (b != NULL)
        evbuffer_free(b);
    json_decref(doc);
    return rc;
}

/* Ends a started stream: the usage chunk when usage != NULL (taken), [DONE], end of reply.
 * req is freed by evhttp afterwards. */
static void fake_stream_finish(struct fake_srv *srv, struct evhttp_request *req, const char *model,
                               json_t *usage)
{
    static const char done[] = "data: [DONE]\n\n";

    if (usage != NULL &&
        fake_send_event(srv, req, fake_usage_chunk_new(model, usage), false, NULL, NULL) < 0)
        fprintf(stderr, "fake-upstream: cannot send the usage chunk\n");
    if (fake_send_raw(req, done, sizeof(done) - 1, NULL, NULL) < 0)
        fprintf(stderr, "fake-upstream: cannot send [DONE]\n");
    evhttp_send_reply_end(req);
}

/* ---- calls answered over time ---- */

static void fake_call_tick(evutil_socket_t fd, short what, void *arg);
static void fake_call_closed(struct evhttp_connection *evcon, void *arg);

static void fake_call_free(struct fake_call *c)
{
    if (c == NULL)
        return;
    TAILQ_REMOVE(&c->srv->calls, c, link);
    c->srv->active--;
    if (c->timer != NULL)
        event_free(c->timer);
    if (c->watch != NULL)
        event_free(c->watch);
    free(c->model);
    free(c);
}

/* Registers a call for req; its close callback is set until fake_call_release/abort. */
static struct fake_call *fake_call_new(struct fake_srv *srv, struct evhttp_request *req,
                                       const struct fake_spec *sp, const char *model, bool stream,
                                       bool usage)
{
    struct fake_call *c = calloc(1, sizeof(*c));

    if (c == NULL)
        return NULL;
    c->srv = srv;
    c->req = req;
    c->evcon = evhttp_request_get_connection(req);
    c->sp = *sp;
    c->stream = stream;
    c->usage = usage;
    TAILQ_INSERT_TAIL(&srv->calls, c, link);
    srv->active++;
    c->model = strdup(model);
    c->timer = evtimer_new(srv->base, fake_call_tick, c);
    if (c->model == NULL || c->timer == NULL || c->evcon == NULL) {
        fake_call_free(c);
        return NULL;
    }
    evhttp_connection_set_closecb(c->evcon, fake_call_closed, c);
    return c;
}

/* Forgets c before answering its request: the close callback must not fire on a connection that
 * outlives the request (keep-alive) or closes after our reply. Returns the request. */
static struct evhttp_request *fake_call_release(struct fake_call *c)
{
    struct evhttp_request *req = c->req;

    evhttp_connection_set_closecb(c->evcon, NULL, NULL);
    fake_call_free(c);
    return req;
}

/* Cuts the TCP connection without finishing the reply. Never call this from inside an evhttp
 * callback: evhttp_connection_free would pull the connection from under it. */
static void fake_call_abort(struct fake_call *c)
{
    struct evhttp_connection *evcon = c->evcon;

    fake_call_release(c);
    evhttp_connection_free(evcon); /* also frees the request, still queued on it */
}

static void fake_call_after(struct fake_call *c, long long ms)
{
    struct timeval tv = {.tv_sec = (time_t)(ms / 1000), .tv_usec = (suseconds_t)(ms % 1000) * 1000};

    /* The loop's cached time can be stale by the time a callback runs; the delays are what
     * the tests measure, so count them from now. */
    event_base_update_cache_time(c->srv->base);
    if (evtimer_add(c->timer, &tv) < 0)
        fprintf(stderr, "fake-upstream: evtimer_add failed\n");
}

/* Internal failure mid-answer: cut the connection from a fresh event, since this may run inside
 * an evhttp callback. */
static void fake_call_fail(struct fake_call *c)
{
    c->close_now = true;
    fake_call_after(c, 0);
}

/*
 * The client went away (EOF or reset while we still owed an answer). Called by
 * evhttp_connection_free, before it frees the requests still queued on the connection. On a
 * network error libevent first detaches an unfinished request from the connection and leaves
 * it to us, so we free it when it has no connection any more.
 */
static void fake_call_closed(struct evhttp_connection *evcon, void *arg)
{
    struct fake_call *c = arg;

    (void)evcon;
    c->srv->client_closed++;
    if (evhttp_request_get_connection(c->req) == NULL)
        evhttp_request_free(c->req);
    fake_call_free(c);
}

/* evhttp has written everything we queued: continue from a timer, outside its callback. */
static void fake_call_flushed(struct evhttp_connection *evcon, void *arg)
{
    (void)evcon;
    fake_call_after(arg, 0);
}

/*
 * evhttp stops reading a connection once it has a whole request, so without this a client that
 * leaves while we delay the headers goes unnoticed. Peeking leaves the bytes to evhttp.
 */
static void fake_call_watch(evutil_socket_t fd, short what, void *arg)
{
    struct fake_call *c = arg;
    char byte;
    ssize_t r;

    (void)what;
    r = recv(fd, &byte, 1, MSG_PEEK);
    if (r > 0)
        return; /* a pipelined request, not a close: stop watching, evhttp reads it later */
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        if (event_add(c->watch, NULL) < 0)
            fprintf(stderr, "fake-upstream: event_add failed\n");
        return;
    }
    /* Runs fake_call_closed (which frees c and this event) and closes the socket. */
    evhttp_connection_free(c->evcon);
}

static void fake_call_watch_start(struct fake_call *c)
{
    evutil_socket_t fd = bufferevent_getfd(evhttp_connection_get_bufferevent(c->evcon));

    c->watch = event_new(c->srv->base, fd, EV_READ, fake_call_watch, c);
    if (c->watch == NULL || event_add(c->watch, NULL) < 0)
        fprintf(stderr, "fake-upstream: cannot watch for client close\n");
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
    if (fake_send_event(c->srv, c->req,
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

        if (fake_send_event(c->srv, c->req, chunk, true, fake_call_flushed, c) < 0) {
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

static void fake_call_tick(evutil_socket_t fd, short what, void *arg)
{
    struct fake_call *c = arg;

    (void)fd;
    (void)what;
    if (c->close_now) {
        fake_call_abort(c);
        return;
    }
    switch (c->sp.kind) {
    case FAKE_SLOW:
        if (c->stream)
            fake_slow_step(c);
        else
            fake_slow_reply(c);
        break;
    case FAKE_BIG:
        fake_big_pump(c);
        break;
    default:
        break;
    }
}

/* ---- endpoints ---- */

/* Synchronous streams (fake-ok, fake-nousage, fake-echo): the given deltas, then the end. */
static void fake_stream_now(struct fake_srv *srv, struct evhttp_request *req, const char *model,
                            const char *const *parts, const size_t *lens, size_t n, json_t *usage)
{
    fake_stream_start(req);
    for (size_t i = 0; i < n; i++) {
        if (fake_send_event(srv, req, fake_chunk_new(model, parts[i], lens[i], i == 0, i + 1 == n),
                            true, NULL, NULL) < 0)
            fprintf(stderr, "fake-upstream: cannot send a chunk\n");
    }
    fake_stream_finish(srv, req, model, usage);
}

static void fake_midfail(struct fake_srv *srv, struct evhttp_request *req,
                         const struct fake_spec *sp, const char *model, bool stream)
{
    struct fake_call *c = fake_call_new(srv, req, sp, model, stream, false);

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
    if (fake_send_event(srv, req, fake_chunk_new(model, "Hel", 3, true, false), true, NULL, NULL) <
            0 ||
        fake_send_event(srv, req, fake_chunk_new(model, "lo", 2, false, false), true,
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
    if (fake_send_event(srv, req, fake_chunk_new(model, "Hel", 3, true, false), true, NULL, NULL) <
            0 ||
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

static void fake_status(struct evhttp_request *req, int code, int cut)
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

/* POST .../chat/completions: the model name picks the scenario (see the file comment). */
static void fake_chat(struct fake_srv *srv, struct evhttp_request *req, const char *text,
                      size_t len)
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
        c = fake_call_new(srv, req, &sp, model, stream, usage);
        if (c == NULL) {
            fake_reply_error(req, 500, "fake-upstream: out of memory", "server_error");
            break;
        }
        fake_stream_start(req);
        fake_big_pump(c);
        break;
    case FAKE_SLOW:
    case FAKE_HANG:
        c = fake_call_new(srv, req, &sp, model, stream, usage);
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

static void fake_embeddings(struct evhttp_request *req, const char *text, size_t len)
{
    json_t *body = json_loadb(text, len, 0, NULL);
    const char *model = json_string_value(json_object_get(body, "model"));

    if (!json_is_object(body))
        fake_reply_error(req, 400, "request body is not a JSON object", "invalid_request_error");
    else
        fake_reply_json(req, 200,
                        json_pack("{s:s,s:[{s:s,s:i,s:[f,f,f]}],s:s,s:{s:i,s:i}}", "object", "list",
                                  "data", "object", "embedding", "index", 0, "embedding", 0.1, 0.2,
                                  0.3, "model", model != NULL ? model : "", "usage",
                                  "prompt_tokens", 4, "total_tokens", 4));
    json_decref(body);
}

/* Header names are lower-cased (HTTP names are case-insensitive); repeats are joined by ", ". */
static json_t *fake_headers_new(struct evhttp_request *req)
{
    json_t *h = json_object();
    struct evkeyval *kv;

    if (h == NULL)
        return NULL;
    TAILQ_FOREACH(kv, evhttp_request_get_input_headers(req), next)
    {
        char *name = strdup(kv->key);
        const char *prev;
        json_t *v;

        if (name == NULL)
            goto fail;
        for (char *p = name; *p != '\0'; p++)
            *p = (char)tolower((unsigned char)*p);
        prev = json_string_value(json_object_get(h, name));
        v = prev != NULL ? json_sprintf("%s, %s", prev, kv->value) : json_string(kv->value);
        /* Not UTF-8 (v == NULL): leave that header out rather than fail the request. */
        if (v != NULL && json_object_set_new(h, name, v) < 0) {
            free(name);
            goto fail;
        }
        free(name);
    }
    return h;
fail:
    json_decref(h);
    return NULL;
}

/*
 * Remembers req as the /_last document: method, path, query, headers, parsed body or null, and
 * the body's bytes ("raw", null when they are not UTF-8).
 */
static void fake_record(struct fake_srv *srv, struct evhttp_request *req, const char *path,
                        const char *text, size_t len)
{
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *query = uri != NULL ? evhttp_uri_get_query(uri) : NULL;
    json_t *body = json_loadb(text, len, JSON_DECODE_ANY, NULL);
    json_t *doc;

    srv->requests++;
    doc = json_pack("{s:s,s:s,s:s?,s:o?,s:o?,s:o?}", "method", "POST", "path", path, "query", query,
                    "headers", fake_headers_new(req), "body", body, "raw", json_stringn(text, len));
    if (doc == NULL)
        fprintf(stderr, "fake-upstream: cannot record the request\n");
    json_decref(srv->last);
    srv->last = doc;
}

static void fake_last(struct fake_srv *srv, struct evhttp_request *req)
{
    if (srv->last != NULL)
        fake_reply_json(req, 200, json_incref(srv->last));
    else
        fake_reply_json(req, 200,
                        json_pack("{s:n,s:n,s:n,s:{},s:n,s:n}", "method", "path", "query",
                                  "headers", "body", "raw"));
}

static void fake_stats(struct fake_srv *srv, struct evhttp_request *req)
{
    fake_reply_json(req, 200,
                    json_pack("{s:I,s:I,s:I,s:I}", "requests", (json_int_t)srv->requests, "active",
                              (json_int_t)srv->active, "client_closed",
                              (json_int_t)srv->client_closed, "chunks_sent",
                              (json_int_t)srv->chunks_sent));
}

/* active is left alone: it counts live calls, which a reset does not end. */
static void fake_reset(struct fake_srv *srv, struct evhttp_request *req)
{
    srv->requests = 0;
    srv->client_closed = 0;
    srv->chunks_sent = 0;
    json_decref(srv->last);
    srv->last = NULL;
    fake_reply_json(req, 200, json_pack("{s:b}", "ok", 1));
}

static bool fake_ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);

    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static void fake_route(struct evhttp_request *req, void *arg)
{
    struct fake_srv *srv = arg;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    const char *text = len > 0 ? (const char *)evbuffer_pullup(in, -1) : "";

    if (path == NULL || path[0] == '\0')
        path = "/";
    if (text == NULL) {
        fake_reply_error(req, 500, "fake-upstream: out of memory", "server_error");
        return;
    }
    if (cmd == EVHTTP_REQ_GET && strcmp(path, "/_last") == 0) {
        fake_last(srv, req);
    } else if (cmd == EVHTTP_REQ_GET && strcmp(path, "/_stats") == 0) {
        fake_stats(srv, req);
    } else if (cmd == EVHTTP_REQ_POST && strcmp(path, "/_reset") == 0) {
        fake_reset(srv, req);
    } else if (cmd == EVHTTP_REQ_POST) {
        fake_record(srv, req, path, text, len);
        if (fake_ends_with(path, "/chat/completions"))
            fake_chat(srv, req, text, len);
        else if (fake_ends_with(path, "/embeddings"))
            fake_embeddings(req, text, len);
        else
            fake_reply_error(req, 404, "fake-upstream: no such endpoint", "not_found");
    } else {
        fake_reply_error(req, 404, "fake-upstream: no such endpoint", "not_found");
    }
}

/* ---- process ---- */

static void fake_on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    event_base_loopbreak(arg);
}

/* Writes "<port>\n" to path.tmp, then renames it, so a reader never sees a partial file. */
static int fake_write_port(const char *path, int port)
{
    char tmp[4096];
    FILE *f;
    int n = snprintf(tmp, sizeof(tmp), "%s.tmp", path);

    if (n < 0 || (size_t)n >= sizeof(tmp))
        return -1;
    f = fopen(tmp, "w");
    if (f == NULL)
        return -1;
    if (fprintf(f, "%d\n", port) < 0) {
        fclose(f);
        return -1;
    }
    if (fclose(f) != 0 || rename(tmp, path) != 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct fake_srv srv = {0};
    struct evhttp_bound_socket *bs;
    struct event *sigterm = NULL, *sigint = NULL;
    struct sockaddr_in sin;
    socklen_t slen = sizeof(sin);
    const char *port_file = NULL;
    int rc = 1;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--port-file") == 0 && i + 1 < argc) {
            port_file = argv[++i];
        } else {
            fprintf(stderr, "usage: fake-upstream --port-file PATH\n");
            return 2;
        }
    }
    if (port_file == NULL) {
        fprintf(stderr, "usage: fake-upstream --port-file PATH\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    TAILQ_INIT(&srv.calls);
    srv.base = event_base_new();
    if (srv.base == NULL)
        goto out;
    srv.http = evhttp_new(srv.base);
    if (srv.http == NULL)
        goto out;
    evhttp_set_allowed_methods(srv.http, EVHTTP_REQ_GET | EVHTTP_REQ_POST);
    evhttp_set_gencb(srv.http, fake_route, &srv);
    /* Long enough for any scenario: evhttp would otherwise cut slow streams after 50 s. */
    evhttp_set_timeout(srv.http, 3600);
    bs = evhttp_bind_socket_with_handle(srv.http, "127.0.0.1", 0);
    if (bs == NULL ||
        getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&sin, &slen) != 0) {
        fprintf(stderr, "fake-upstream: cannot listen on 127.0.0.1\n");
        goto out;
    }
    sigterm = evsignal_new(srv.base, SIGTERM, fake_on_signal, srv.base);
    sigint = evsignal_new(srv.base, SIGINT, fake_on_signal, srv.base);
    if (sigterm == NULL || sigint == NULL || event_add(sigterm, NULL) < 0 ||
        event_add(sigint, NULL) < 0)
        goto out;
    if (fake_write_port(port_file, ntohs(sin.sin_port)) < 0) {
        fprintf(stderr, "fake-upstream: cannot write %s: %s\n", port_file, strerror(errno));
        goto out;
    }
    if (event_base_dispatch(srv.base) < 0)
        goto out;
    rc = 0;
out:
    /* Calls first (they clear their close callbacks), then evhttp frees connections and
     * requests. */
    while (!TAILQ_EMPTY(&srv.calls))
        fake_call_release(TAILQ_FIRST(&srv.calls));
    if (srv.http != NULL)
        evhttp_free(srv.http);
    if (sigterm != NULL)
        event_free(sigterm);
    if (sigint != NULL)
        event_free(sigint);
    if (srv.base != NULL)
        event_base_free(srv.base);
    json_decref(srv.last);
    libevent_global_shutdown();
    return rc;
}
