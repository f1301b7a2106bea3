/*
 * fake-upstream: a scriptable provider for the end-to-end tests, speaking the OpenAI wire
 * (fake_openai.c), Anthropic Messages (fake_anthropic.c), Gemini / Vertex AI (fake_gemini.c),
 * Cohere v2 (fake_cohere.c), Ollama (fake_ollama.c), Voyage (fake_voyage.c) and watsonx with
 * IBM IAM (fake_watsonx.c), Bedrock and SageMaker (fake_aws.c). The model name
 * picks the behaviour (fake-ok, fake-slow-N-MS, claude-tools, claude-status-CODE, ...; see
 * t_fake.h), and GET /_last, GET /_stats and POST /_reset let a test see what the gateway sent.
 * Single-threaded evhttp on 127.0.0.1:0; the port goes to --port-file once listening.
 * SIGTERM/SIGINT free everything and exit 0, so LeakSanitizer runs of the tests also check this
 * program. This file: the process, routing, the control endpoints, reply helpers and calls answered
 * over time.
 */
#include "fake_upstream.h"

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

#define FAKE_DUMP_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(9))

/* ---- model names ---- */

char *fake_pct_decode(const char *s, size_t n, bool form)
{
    char *d = malloc(n + 1);
    size_t o = 0;
    unsigned v;

    if (d == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '%') {
            d[o++] = form && s[i] == '+' ? ' ' : s[i];
        } else if (i + 2 < n && isxdigit((unsigned char)s[i + 1]) &&
                   isxdigit((unsigned char)s[i + 2]) && sscanf(s + i + 1, "%2x", &v) == 1 &&
                   v != 0) {
            d[o++] = (char)v;
            i += 2;
        } else {
            free(d);
            return NULL;
        }
    }
    d[o] = '\0';
    return d;
}

const char *fake_unknown_member(json_t *body, const char *const *known)
{
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

bool fake_parse_num(const char *s, char stop, long min, long max, long *out, const char **end)
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

void fake_model_base(const char *tagged, char *out, size_t outlen)
{
    const char *tilde = strchr(tagged, '~');

    snprintf(out, outlen, "%.*s", (int)(tilde != NULL ? (size_t)(tilde - tagged) : strlen(tagged)),
             tagged);
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

void fake_reply_json(struct evhttp_request *req, int status, json_t *doc)
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

void fake_reply_error(struct evhttp_request *req, int status, const char *message, const char *type)
{
    fake_reply_json(req, status, fake_error_new(message, type, NULL));
}

void fake_stream_start(struct evhttp_request *req)
{
    struct evkeyvalq *out = evhttp_request_get_output_headers(req);

    if (evhttp_add_header(out, "Content-Type", "text/event-stream") < 0 ||
        evhttp_add_header(out, "Cache-Control", "no-cache") < 0)
        fprintf(stderr, "fake-upstream: cannot add stream headers\n");
    evhttp_send_reply_start(req, 200, "OK");
}

int fake_send_raw(struct evhttp_request *req, const char *data, size_t len, fake_sent_fn *cb,
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

int fake_send_event(struct fake_srv *srv, struct evhttp_request *req, const char *event,
                    json_t *doc, bool content, fake_sent_fn *cb, void *arg)
{
    struct evbuffer *b = evbuffer_new();
    int rc = -1;

    if (b == NULL || doc == NULL)
        goto out;
    if (event != NULL && evbuffer_add_printf(b, "event: %s\n", event) < 0)
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

struct fake_call *fake_call_new(struct fake_srv *srv, struct evhttp_request *req,
                                const struct fake_spec *sp, const char *model, bool stream,
                                bool usage, fake_tick_fn *tick)
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
    c->tick = tick;
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

struct evhttp_request *fake_call_release(struct fake_call *c)
{
    struct evhttp_request *req = c->req;

    evhttp_connection_set_closecb(c->evcon, NULL, NULL);
    fake_call_free(c);
    return req;
}

void fake_call_abort(struct fake_call *c)
{
    struct evhttp_connection *evcon = c->evcon;

    fake_call_release(c);
    evhttp_connection_free(evcon); /* also frees the request, still queued on it */
}

void fake_call_after(struct fake_call *c, long long ms)
{
    struct timeval tv = {.tv_sec = (time_t)(ms / 1000), .tv_usec = (suseconds_t)(ms % 1000) * 1000};

    /* The loop's cached time can be stale by the time a callback runs; the delays are what
     * the tests measure, so count them from now. */
    event_base_update_cache_time(c->srv->base);
    if (evtimer_add(c->timer, &tv) < 0)
        fprintf(stderr, "fake-upstream: evtimer_add failed\n");
}

void fake_call_fail(struct fake_call *c)
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

/* Continues from a timer, outside evhttp's callback. */
void fake_call_flushed(struct evhttp_connection *evcon, void *arg)
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

void fake_call_watch_start(struct fake_call *c)
{
    evutil_socket_t fd = bufferevent_getfd(evhttp_connection_get_bufferevent(c->evcon));

    c->watch = event_new(c->srv->base, fd, EV_READ, fake_call_watch, c);
    if (c->watch == NULL || event_add(c->watch, NULL) < 0)
        fprintf(stderr, "fake-upstream: cannot watch for client close\n");
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
    if (c->tick != NULL)
        c->tick(c);
}

/* ---- control endpoints, routing ---- */

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
    fake_reply_json(
        req, 200,
        json_pack("{s:I,s:I,s:I,s:I,s:I,s:I}", "requests", (json_int_t)srv->requests, "active",
                  (json_int_t)srv->active, "client_closed", (json_int_t)srv->client_closed,
                  "chunks_sent", (json_int_t)srv->chunks_sent, "token_requests",
                  (json_int_t)srv->token_requests, "iam_requests", (json_int_t)srv->iam_requests));
}

/* active is left alone: it counts live calls, which a reset does not end. */
static void fake_reset(struct fake_srv *srv, struct evhttp_request *req)
{
    srv->requests = 0;
    srv->client_closed = 0;
    srv->chunks_sent = 0;
    srv->token_requests = 0;
    srv->iam_requests = 0;
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
    const char *query = uri != NULL ? evhttp_uri_get_query(uri) : NULL;
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
    } else if (cmd == EVHTTP_REQ_POST && fake_ends_with(path, "/identity/token")) {
        fake_watsonx_iam(srv, req, text, len); /* not recorded: /_last is the call */
    } else if (cmd == EVHTTP_REQ_POST && fake_ends_with(path, "/token")) {
        fake_google_token(srv, req, path, text, len); /* not recorded: /_last is the call */
    } else if (cmd == EVHTTP_REQ_POST) {
        fake_record(srv, req, path, text, len);
        if (fake_aws_path(path))
            fake_aws(srv, req, path, text, len);
        else if (fake_azure_path(path, query))
            fake_azure(srv, req, path, text, len);
        else if (fake_ends_with(path, "/chat/completions"))
            fake_chat(srv, req, text, len);
        else if (fake_ends_with(path, "/v1/messages"))
            fake_messages(srv, req, text, len);
        else if (strstr(path, "/publishers/anthropic/models/") != NULL &&
                 (fake_ends_with(path, ":rawPredict") || fake_ends_with(path, ":streamRawPredict")))
            fake_vertex_messages(srv, req, path, text, len);
        else if (fake_ends_with(path, "/embeddings"))
            fake_embeddings(req, text, len);
        else if (fake_gemini_path(path)) /* Gemini, Vertex, Cohere, Ollama (fake_*.c) */
            fake_gemini(srv, req, path, text, len);
        else if (fake_ends_with(path, "/v2/chat") || fake_ends_with(path, "/v2/embed"))
            fake_cohere(srv, req, fake_ends_with(path, "/v2/embed"), text, len);
        else if (fake_ends_with(path, "/ml/v1/text/chat") ||
                 fake_ends_with(path, "/ml/v1/text/chat_stream"))
            fake_watsonx(srv, req, fake_ends_with(path, "_stream"), text, len);
        else if (fake_ends_with(path, "/api/chat") || fake_ends_with(path, "/api/embed"))
            fake_ollama(srv, req, fake_ends_with(path, "/api/embed"), text, len);
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
    const char *port_file = NULL, *pubkey = NULL, *ttl = NULL;
    int rc = 1;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--port-file") == 0 && i + 1 < argc) {
            port_file = argv[++i];
        } else if (strcmp(argv[i], "--google-pubkey") == 0 && i + 1 < argc) {
            pubkey = argv[++i];
        } else if (strcmp(argv[i], "--token-ttl") == 0 && i + 1 < argc) {
            ttl = argv[++i];
        } else {
            port_file = NULL;
            break;
        }
    }
    if (port_file == NULL) {
        fprintf(stderr, "usage: fake-upstream --port-file PATH [--google-pubkey PEM] "
                        "[--token-ttl SECONDS]\n");
        return 2;
    }
    if (fake_google_init(pubkey, ttl) < 0)
        return 2;
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
    fake_google_free();
    libevent_global_shutdown();
    return rc;
}