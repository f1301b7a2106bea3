/*
 * Tests of the upstream HTTP client (src/httpc.c) against a fake upstream: an evhttp server on
 * 127.0.0.1:0 in the same event_base as the client. Covers JSON round trips, connection reuse,
 * chunked streaming, pause/resume, timeouts, connect failures, cancellation, httpc_free with
 * transfers in flight, size limits, Retry-After, and secret scrubbing in error text.
 */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "httpc.h"

/* ---- fake upstream ---- */

struct env {
    struct event_base *base;
    struct evhttp *http;
    struct httpc *h;
    int port;
    int conns;          /* connections accepted by the server */
    int nreq;           /* requests seen by the server */
    int streams_closed; /* streams cut short by the client going away */
    int pending;        /* client requests not yet done; the loop breaks at 0 */
    char method[16];
    char xtest[64];
    char auth[128];
    char ctype[64];
    char expect[32];
    char body[512];
    size_t body_len;
};

struct stream {
    struct env *e;
    struct evhttp_request *req;
    struct event *tick;
    int left;
    int size;
    int ms;
    int stall_after; /* stop sending (never end) after this many chunks; 0 = never */
    int sent;
};

static long long now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

static struct bufferevent *srv_bevcb(struct event_base *base, void *arg)
{
    struct env *e = arg;

    e->conns++;
    return bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
}

static void stream_free(struct stream *st)
{
    event_free(st->tick);
    free(st);
}

static void stream_closed(struct evhttp_connection *evcon, void *arg)
{
    struct stream *st = arg;

    (void)evcon;
    st->e->streams_closed++;
    /* On EOF mid-reply libevent detaches the request instead of freeing it. */
    if (evhttp_request_get_connection(st->req) == NULL)
        evhttp_request_free(st->req);
    stream_free(st);
}

static void stream_tick(evutil_socket_t fd, short what, void *arg)
{
    struct stream *st = arg;
    struct evbuffer *b = evbuffer_new();
    struct timeval tv = {st->ms / 1000, (st->ms % 1000) * 1000};
    int i;

    (void)fd;
    (void)what;
    for (i = 0; i < st->size; i++)
        evbuffer_add(b, &"abcdefghijklmnopqrstuvwxyz"[st->sent % 26], 1);
    evhttp_send_reply_chunk(st->req, b);
    evbuffer_free(b);
    st->sent++;
    st->left--;
    if (st->stall_after > 0 && st->sent >= st->stall_after)
        return; /* keep the connection open without sending more */
    if (st->left > 0) {
        evtimer_add(st->tick, &tv);
        return;
    }
    evhttp_connection_set_closecb(evhttp_request_get_connection(st->req), NULL, NULL);
    evhttp_send_reply_end(st->req);
    stream_free(st);
}

static int qint(const struct evkeyvalq *q, const char *k, int dflt)
{
    const char *v = evhttp_find_header(q, k);

    return v != NULL ? atoi(v) : dflt;
}

static void copy_hdr(char *dst, size_t len, struct evkeyvalq *in, const char *name)
{
    const char *v = evhttp_find_header(in, name);

    snprintf(dst, len, "%s", v != NULL ? v : "");
}

static void srv_gencb(struct evhttp_request *req, void *arg)
{
    struct env *e = arg;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
    const char *query = uri != NULL ? evhttp_uri_get_query(uri) : NULL;
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    struct evkeyvalq *out = evhttp_request_get_output_headers(req);
    struct evkeyvalq q;
    struct evbuffer *b = evbuffer_new();
    struct evbuffer *body = evhttp_request_get_input_buffer(req);

    if (path == NULL)
        path = "/";
    TAILQ_INIT(&q);
    if (query != NULL)
        evhttp_parse_query_str(query, &q);
    e->nreq++;
    if (strcmp(path, "/echo") == 0) {
        static const char *const names[] = {"GET",    "POST",  "HEAD",   "PUT",
                                            "DELETE", "PATCH", "OPTIONS"};
        enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
        int idx = cmd == EVHTTP_REQ_GET      ? 0
                  : cmd == EVHTTP_REQ_POST   ? 1
                  : cmd == EVHTTP_REQ_HEAD   ? 2
                  : cmd == EVHTTP_REQ_PUT    ? 3
                  : cmd == EVHTTP_REQ_DELETE ? 4
                  : cmd == EVHTTP_REQ_PATCH  ? 5
                                             : 6;

        snprintf(e->method, sizeof(e->method), "%s", names[idx]);
        copy_hdr(e->xtest, sizeof(e->xtest), in, "X-Test");
        copy_hdr(e->auth, sizeof(e->auth), in, "Authorization");
        copy_hdr(e->ctype, sizeof(e->ctype), in, "Content-Type");
        copy_hdr(e->expect, sizeof(e->expect), in, "Expect");
        e->body_len = evbuffer_get_length(body);
        if (e->body_len >= sizeof(e->body))
            e->body_len = sizeof(e->body) - 1;
        evbuffer_copyout(body, e->body, e->body_len);
        e->body[e->body_len] = '\0';
        evhttp_add_header(out, "Content-Type", "application/json");
        evhttp_add_header(out, "X-Reply", "yes");
        evbuffer_add_printf(b, "{\"ok\":true,\"n\":%d}", e->nreq);
        evhttp_send_reply(req, 200, "OK", b);
    } else if (strcmp(path, "/stream") == 0) {
        struct stream *st = calloc(1, sizeof(*st));

        ck_assert_ptr_nonnull(st);
        st->e = e;
        st->req = req;
        st->left = qint(&q, "n", 5);
        st->size = qint(&q, "size", 10);
        st->ms = qint(&q, "ms", 40);
        st->stall_after = qint(&q, "stall", 0);
        st->tick = evtimer_new(e->base, stream_tick, st);
        evhttp_connection_set_closecb(evhttp_request_get_connection(req), stream_closed, st);
        evhttp_add_header(out, "Content-Type", "text/event-stream");
        evhttp_send_reply_start(req, 200, "OK");
        stream_tick(-1, 0, st);
    } else if (strcmp(path, "/big") == 0) {
        int i, n = qint(&q, "n", 100000);

        for (i = 0; i < n; i++)
            evbuffer_add(b, "x", 1);
        evhttp_send_reply(req, 200, "OK", b);
    } else if (strcmp(path, "/429") == 0) {
        evhttp_add_header(out, "Content-Type", "application/json");
        evhttp_add_header(out, "Retry-After", "7");
        evbuffer_add_printf(b, "{\"error\":{\"message\":\"slow down\"}}");
        evhttp_send_reply(req, 429, "Too Many Requests", b);
    } else {
        evhttp_send_reply(req, 404, "Not Found", b);
    }
    evhttp_clear_headers(&q);
    evbuffer_free(b);
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
    ck_assert_int_eq(httpc_global_init(), 0);
}

static void env_setup(struct env *e, const struct httpc_opts *opts)
{
    struct httpc_opts o = {0};
    struct evhttp_bound_socket *bs;
    struct sockaddr_in sin;
    socklen_t slen = sizeof(sin);

    pthread_once(&curl_once, curl_init_once);
    memset(e, 0, sizeof(*e));
    e->base = event_base_new();
    ck_assert_ptr_nonnull(e->base);
    e->http = evhttp_new(e->base);
    ck_assert_ptr_nonnull(e->http);
    evhttp_set_bevcb(e->http, srv_bevcb, e);
    evhttp_set_gencb(e->http, srv_gencb, e);
    evhttp_set_allowed_methods(e->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
                                            EVHTTP_REQ_DELETE | EVHTTP_REQ_PATCH | EVHTTP_REQ_HEAD);
    bs = evhttp_bind_socket_with_handle(e->http, "127.0.0.1", 0);
    ck_assert_ptr_nonnull(bs);
    ck_assert_int_eq(getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&sin, &slen),
                     0);
    e->port = ntohs(sin.sin_port);
    if (opts != NULL)
        o = *opts;
    o.proxy = ""; /* never route the loopback tests through an environment proxy */
    e->h = httpc_new(e->base, &o);
    ck_assert_ptr_nonnull(e->h);
}

static void env_teardown(struct env *e)
{
    httpc_free(e->h);
    evhttp_free(e->http);
    event_base_free(e->base);
}

static void stop_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    event_base_loopbreak(arg);
}

/* Runs the loop until something calls loopbreak or ms elapse. */
static void loop_for(struct event_base *base, int ms)
{
    struct event *t = evtimer_new(base, stop_cb, base);
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

    evtimer_add(t, &tv);
    event_base_dispatch(base);
    event_free(t);
}

/* ---- client side ---- */

struct cl {
    struct env *e;
    struct httpc_req *req;
    bool returned;         /* httpc_start() has returned */
    bool cb_before_return; /* a callback ran before that: must never happen */
    bool cancelled;
    int nheaders, ndata, ndone;
    int status;
    char retry_after[32];
    char xreply[32];
    size_t nbytes;
    long long first_data_us, done_us;
    bool data_after_done;
    int data_while_paused;
    int cancel_at; /* httpc_cancel() inside on_data when ndata reaches this */
    int abort_at;  /* return HTTPC_ABORT when ndata reaches this */
    int pause_ms;  /* >0: return HTTPC_PAUSE on every chunk, resume from a timer after ms */
    bool paused;
    int pauses;
    struct event *resume_ev;
    /* result */
    enum httpc_kind kind;
    int res_status;
    char err[512];
    char body[2048];
    size_t body_len;
    bool has_body;
};

static void note_cb(struct cl *c)
{
    if (!c->returned)
        c->cb_before_return = true;
}

static void client_done(struct env *e)
{
    if (--e->pending == 0)
        event_base_loopbreak(e->base);
}

static enum httpc_action cl_headers(int status, const struct httpc_headers *hd, void *arg)
{
    struct cl *c = arg;
    const char *v;

    note_cb(c);
    c->nheaders++;
    c->status = status;
    v = httpc_headers_get(hd, "retry-after");
    snprintf(c->retry_after, sizeof(c->retry_after), "%s", v != NULL ? v : "");
    v = httpc_headers_get(hd, "X-Reply");
    snprintf(c->xreply, sizeof(c->xreply), "%s", v != NULL ? v : "");
    return HTTPC_CONTINUE;
}

static void cl_resume_cb(evutil_socket_t fd, short what, void *arg)
{
    struct cl *c = arg;

    (void)fd;
    (void)what;
    c->paused = false;
    httpc_resume(c->req);
}

static enum httpc_action cl_data(const char *b, size_t n, void *arg)
{
    struct cl *c = arg;

    (void)b;
    note_cb(c);
    if (c->ndone > 0 || c->cancelled)
        c->data_after_done = true;
    if (c->paused)
        c->data_while_paused++;
    c->ndata++;
    c->nbytes += n;
    if (c->ndata == 1)
        c->first_data_us = now_us();
    if (c->cancel_at > 0 && c->ndata == c->cancel_at) {
        httpc_cancel(c->req);
        c->cancelled = true;
        client_done(c->e);
        return HTTPC_PAUSE; /* ignored after a cancel */
    }
    if (c->abort_at > 0 && c->ndata == c->abort_at)
        return HTTPC_ABORT;
    if (c->pause_ms > 0) {
        struct timeval tv = {0, c->pause_ms * 1000};

        if (c->resume_ev == NULL)
            c->resume_ev = evtimer_new(c->e->base, cl_resume_cb, c);
        evtimer_add(c->resume_ev, &tv);
        c->paused = true;
        c->pauses++;
        return HTTPC_PAUSE;
    }
    return HTTPC_CONTINUE;
}

static void cl_done(const struct httpc_result *res, void *arg)
{
    struct cl *c = arg;

    note_cb(c);
    c->ndone++;
    c->done_us = now_us();
    c->kind = res->kind;
    c->res_status = res->status;
    ck_assert_ptr_nonnull(res->error);
    snprintf(c->err, sizeof(c->err), "%s", res->error);
    c->has_body = res->body != NULL;
    if (res->body != NULL) {
        c->body_len = res->body_len < sizeof(c->body) - 1 ? res->body_len : sizeof(c->body) - 1;
        memcpy(c->body, res->body, c->body_len);
        c->body[c->body_len] = '\0';
        ck_assert_int_eq(res->body[res->body_len], '\0');
    }
    if (c->resume_ev != NULL) {
        event_free(c->resume_ev);
        c->resume_ev = NULL;
    }
    c->req = NULL;
    client_done(c->e);
}

static const struct httpc_cbs cbs_stream = {cl_headers, cl_data, cl_done};
static const struct httpc_cbs cbs_collect = {cl_headers, NULL, cl_done};

static struct httpc_req *cl_start(struct cl *c, struct env *e, const struct httpc_spec *spec,
                                  const struct httpc_cbs *cbs)
{
    c->e = e;
    c->returned = false;
    c->req = httpc_start(e->h, spec, cbs, c);
    c->returned = true;
    if (c->req != NULL)
        e->pending++;
    return c->req;
}

static void url_of(char *dst, size_t len, const struct env *e, const char *path)
{
    snprintf(dst, len, "http://127.0.0.1:%d%s", e->port, path);
}

/* Points spec at path on the test server (url is the caller's buffer for the URL). */
static void spec_url(struct httpc_spec *spec, char *url, size_t len, const struct env *e,
                     const char *path)
{
    url_of(url, len, e, path);
    spec->url = url;
}

/* A port with nothing listening on it. */
static int closed_port(void)
{
    struct sockaddr_in sin;
    socklen_t slen = sizeof(sin);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    ck_assert_int_ge(fd, 0);
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &slen), 0);
    close(fd);
    return ntohs(sin.sin_port);
}

/* ---- tests ---- */

START_TEST(test_get_json)
{
    struct env e;
    struct cl c = {0};
    struct httpc_header hd[] = {{"X-Test", "abc"}, {"Accept", "application/json"}};
    struct httpc_spec spec = {0};
    char url[128];

    env_setup(&e, NULL);
    spec_url(&spec, url, sizeof(url), &e, "/echo");
    spec.headers = hd;
    spec.nheaders = 2;
    spec.timeout_ms = 2000;
    ck_assert_ptr_nonnull(cl_start(&c, &e, &spec, &cbs_collect));
    ck_assert_uint_eq(httpc_active(e.h), 1);
    loop_for(e.base, 2000);
    ck_assert(!c.cb_before_return);
    ck_assert_int_eq(c.ndone, 1);
    ck_assert_int_eq(c.kind, HTTPC_OK);
    ck_assert_int_eq(c.res_status, 200);
    ck_assert_str_eq(c.err, "");
    ck_assert_int_eq(c.nheaders, 1);
    ck_assert_int_eq(c.status, 200);
    ck_assert_str_eq(c.xreply, "yes");
    ck_assert(c.has_body);
    ck_assert_str_eq(c.body, "{\"ok\":true,\"n\":1}");
    ck_assert_str_eq(e.method, "GET");
    ck_assert_str_eq(e.xtest, "abc");
    ck_assert_uint_eq(e.body_len, 0);
    ck_assert_uint_eq(httpc_active(e.h), 0);
    env_teardown(&e);
}
END_TEST

START_TEST(test_post_json)
{
    static const char body[] =
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    struct env e;
    struct cl c = {0};
    struct httpc_header hd[] = {{"Content-Type", "application/json"},
                                {"Authorization", "Bearer sk-test-0123456789"}};
    struct httpc_spec spec = {0};
    char url[128];
    char *copy = strdup(body);

    env_setup(&e, NULL);
    spec_url(&spec, url, sizeof(url), &e, "/echo");
    spec.headers = hd;
    spec.nheaders = 2;
    spec.body = copy;
    spec.body_len = strlen(copy);
    spec.timeout_ms = 2000;
    ck_assert_ptr_nonnull(cl_start(&c, &e, &spec, &cbs_collect));
    /* The body is copied: the caller's buffer may go away at once. */
    memset(copy, 'Z', strlen(copy));
    free(copy);
    loop_for(e.base, 2000);
    ck_assert_int_eq(c.ndone, 1);
    ck_assert_int_eq(c.kind, HTTPC_OK);
    ck_assert_int_eq(c.res_status, 200);
    ck_assert_str_eq(e.method, "POST");
    ck_assert_str_eq(e.ctype, "application/json");
    ck_assert_str_eq(e.auth, "Bearer sk-test-0123456789");
    ck_assert_str_eq(e.expect, "");
    ck_assert_str_eq(e.body, body);
    ck_assert_str_eq(c.body, "{\"ok\":true,\"n\":1}");

    /* A custom method with a body, no Content-Type given: curl's form type is suppressed. */
    memset(&c, 0, sizeof(c));
    spec.method = "PUT";
    spec.headers = NULL;
    spec.nheaders = 0;
    spec.body = "xyz";
    spec.body_len = 3;
    ck_assert_ptr_nonnull(cl_start(&c, &e, &spec, &cbs_collect));
    loop_for(e.base, 2000);
    ck_assert_int_eq(c.kind, HTTPC_OK);
    ck_assert_str_eq(e.method, "PUT");
    ck_assert_str_eq(e.body, "xyz");
    ck_assert_str_eq(e.ctype, "");
    ck_assert_str_eq(e.auth, "");
    env_teardown(&e);
}
END_TEST

#define NCONC 50

START_TEST(test_concurrent_reuse)
{
    struct httpc_opts o = {0};
    struct env e;
    struct cl *c = calloc(NCONC, sizeof(*c));
    struct httpc_spec spec = {0};
    char url[128];
    int i, ok = 0, conns_after_first;

    ck_assert_ptr_nonnull(c);
    o.max_host_connections = 4;
    env_setup(&e, &o);
    spec_url(&spec, url, sizeof(url), &e, "/echo");
    spec.timeout_ms = 2500;
    for (i = 0; i < NCONC; i++)
        ck_assert_ptr_nonnull(cl_start(&c[i], &e, &spec, &cbs_collect));
    ck_assert_uint_eq(httpc_active(e.h), NCONC);
    loop_for(e.base, 2500);
    for (i = 0; i < NCONC; i++) {
        ck_assert_int_eq(c[i].ndone, 1);
        ok += c[i].kind == HTTPC_OK && c[i].res_status == 200;
    }
    ck_assert_int_eq(ok, NCONC);
    ck_assert_int_eq(e.nreq, NCONC);
    ck_assert_int_ge(e.conns, 1);
    ck_assert_int_le(e.conns, 4);
    conns_after_first = e.conns;

    /* A second wave reuses the pooled connections. */
    memset(c, 0, NCONC * sizeof(*c));
    for (i = 0; i < 10; i++)
        ck_assert_ptr_nonnull(cl_start(&c[i], &e, &spec, &cbs_collect));
    loop_for(e.base, 2000);
    for (i = 0; i < 10; i++)
        ck_assert_int_eq(c[i].kind, HTTPC_OK);
    ck_assert_int_eq(e.conns, conns_after_first);
    ck_assert_int_eq(e.nreq, NCONC + 10);
    free(c);
    env_teardown(&e);
}
END_TEST

/*
 * Parsed URLs are kept per client (HTTPC_URLS slots, a slot in use never replaced): more distinct
 * URLs in flight than slots, then waves that reuse and replace slots, each answer the size its own
 * URL asked for; a URL curl cannot parse fails as before.
 */
START_TEST(test_url_slots)
{
    struct httpc_opts o = {0};
    struct env e;
    struct cl *c = calloc(40, sizeof(*c));
    struct httpc_spec spec = {0};
    char urls[40][128];
    int i, wave;

    ck_assert_ptr_nonnull(c);
    env_setup(&e, &o);
    for (i = 0; i < 40; i++) {
        snprintf(urls[i], sizeof(urls[i]), "http://127.0.0.1:%d/big?n=%d", e.port, i + 1);
        spec = (struct httpc_spec){.url = urls[i], .timeout_ms = 5000};
        ck_assert_ptr_nonnull(cl_start(&c[i], &e, &spec, &cbs_collect));
    }
    loop_for(e.base, 3000);
    for (i = 0; i < 40; i++) {
        ck_assert_int_eq(c[i].kind, HTTPC_OK);
        ck_assert_uint_eq(c[i].body_len, (size_t)i + 1);
    }
    for (wave = 0; wave < 3; wave++) {
        memset(c, 0, 40 * sizeof(*c));
        for (i = 0; i < 20; i++) {
            int n = (wave * 7 + i) % 25;

            snprintf(urls[i], sizeof(urls[i]), "http://127.0.0.1:%d/big?n=%d", e.port, n + 1);
            spec = (struct httpc_spec){.url = urls[i], .timeout_ms = 5000};
            ck_assert_ptr_nonnull(cl_start(&c[i], &e, &spec, &cbs_collect));
        }
        loop_for(e.base, 2000);
        for (i = 0; i < 20; i++) {
            ck_assert_int_eq(c[i].kind, HTTPC_OK);
            ck_assert_uint_eq(c[i].body_len, (size_t)((wave * 7 + i) % 25) + 1);
        }
    }
    memset(c, 0, sizeof(*c));
    snprintf(urls[0], sizeof(urls[0]), "http://127.0.0.1:%d/big?n=1 2", e.port);
    spec = (struct httpc_spec){.url = urls[0], .timeout_ms = 5000};
    if (cl_start(&c[0], &e, &spec, &cbs_collect) != NULL) {
        loop_for(e.base, 1000);
        ck_assert_int_eq(c[0].ndone, 1);
        ck_assert_int_ne(c[0].kind, HTTPC_OK);
    }
    free(c);
    env_teardown(&e);
}
END_TEST

/* Each on_done starts the next request: all go over one kept-alive connection. */
struct chain {
    struct env *e;
    struct httpc_spec spec;
    int left;
    int ok;
};

static void chain_done(const struct httpc_result *res, void *arg);

static const struct httpc_cbs cbs_chain = {NULL, NULL, chain_done};

static void chain_done(const struct httpc_result *res, void *arg)
{
    struct chain *ch = arg;

    ch->ok += res->kind == HTTPC_OK && res->status == 200;
    if (--ch->left > 0)
        ck_assert_ptr_nonnull(httpc_start(ch->e->h, &ch->spec, &cbs_chain, ch));
    else
        event_base_loopbreak(ch->e->base);
}

START_TEST(test_sequential_reuse)
{
    struct env e;
    struct chain ch = {0};
    char url[128];

    env_setup(&e, NULL);
    url_of(url, sizeof(url), &e, "/echo");
    ch.e = &e;
    ch.spec.url = url;
    ch.spec.timeout_ms = 2000;
    ch.left = 5;
    ck_assert_ptr_nonnull(httpc_start(e.h, &ch.spec, &cbs_chain, &ch));
    loop_for(e.base, 2000);
    ck_assert_int_eq(ch.ok, 5);
    ck_assert_int_eq(e.nreq, 5);
    ck_assert_int_eq(e.conns, 1);
    env_teardown(&e);
}
END_TEST

START_TEST(test_stream_chunks)
{
    struct env e;
    struct cl c = {0};
    struct httpc_spec spec = {0};
    char url[128];

    env_setup(&e, NULL);
    spec_url(&spec, url, sizeof(url), &e, "/stream?n=5&ms=50&size=10");
    spec.low_speed_limit = 1;
    spec.low_speed_time_s = 2;
    ck_assert_ptr_nonnull(cl_start(&c, &e, &spec, &cbs_stream));
    loop_for(e.base, 2500);
    ck_assert(!c.cb_before_return);
    ck_assert_int_eq(c.ndone, 1);
    ck_assert_int_eq(c.kind, HTTPC_OK);
    ck_assert_int_eq(c.nheaders, 1);
    ck_assert_uint_eq(c.nbytes, 50);
    /* Delivered as the chunks arrived, not buffered until the end. */
    ck_assert_int_ge(c.ndata, 4);
    ck_assert(!c.data_after_done);
    ck_assert_int_ge(c.done_us - c.first_data_us, 150000);
    ck_assert(!c.has_body);
    env_teardown(&e);
}
END_TEST

START_TEST(test_pause_resume)
{
    struct env e;
    struct cl c = {0};
    struct httpc_spec spec = {0};
    char url[128];

    env_setup(&e, NULL);
    /* The server sends everything within ~100 ms; each chunk is held ~60 ms by the client. */
    spec_url(&spec, url, sizeof(url), &e, "/stream?n=6&ms=20&size=100");
    spec.timeout_ms = 2500;
    c.pause_ms = 60;
    ck_assert_ptr_nonnull(cl_start(&c, &e, &spec, &cbs_stream));
    loop_for(e.base, 2500);
    ck_assert_int_eq(c.ndone, 1);
    ck_assert_int_eq(c.kind, HTTPC_OK);
    ck_assert_uint_eq(c.nbytes, 600);
    ck_assert_int_eq(c.data_while_paused, 0);
    ck_assert_int_ge(c.pauses, 1);
    ck_assert_int_eq(c.pauses, c.ndata);
    env_teardown(&e);
}
END_TEST

/* Pause on the first chunk only; check nothing arrives during a long pause, then resume. */
static void check_paused_cb(evutil_socket_t fd, short what, void *arg)
{
    struct cl *c = arg;

    (void)fd;
    (void)what;
    ck_assert_int_eq(c->ndata, 1);
    ck_assert_int_eq(c->ndone, 0);
    c->pause_ms = 0;
    c->paused = false;
    httpc_resume(c->req);
    httpc_resume(c->req); /* a second resume is a no-op */
}

START_TEST(test_pause_long)
{
    struct env e;
    struct cl c = {0};
    struct httpc_spec spec = {0};
    struct event *chk;
    struct timeval tv = {0, 300000};
    char url[128];

    env_setup(&e, NULL);
    spec_url(&spec, url, sizeof(url), &e, "/stream?n=8&ms=10&size=1000");
    spec.timeout_ms = 2500;
    c.pause_ms = 1000000; /* resumed by check_paused_cb instead */
    ck_assert_ptr_nonnull(cl_start(&c, &e, &spec, &cbs_stream));
    chk = evtimer_new(e.base, check_paused_cb, &c);
    evtimer_add(chk, &tv);
    loop_for(e.base, 2500);
    event_free(chk);
    ck_assert_int_eq(c.ndone, 1);
    ck_assert_int_eq(c.kind, HTTPC_OK);
    ck_assert_uint_eq(c.nbytes, 8000);
    ck_assert_int_eq(c.data_while_paused, 0);
    ck_assert_int_ge(c.done_us - c.first_data_us, 250000);
    env_teardown(&e);
}
END_TEST

START_TEST(test_total_timeout)
{
    struct env e;
    struct cl c = {0};
    struct httpc_spec spec = {0};
    struct sockaddr_in sin;
    socklen_t slen = sizeof(sin);
    char url[128];
    long long t0, ms;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    /* Accepted by the kernel (backlog), never read or answered. */
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    ck_assert_int_eq(listen(fd, 8), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &slen), 0);
    env_setup(&e, NULL);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1/chat/completions", ntohs(sin.sin_port));
    spec.url = url;
    spec.body = "{}";
    spec.body_len = 2;
    spec.connect_timeout_ms = 1000;
    spec.timeout_ms = 300;
    t0 = now_us();
    ck_assert_ptr_nonnull(cl_start(&c, &e, &spec, &cbs_collect));
    loop_for(e.base, 2500);
    ms = (now_us() - t0) / 1000;
    ck_assert_int_eq(c.ndone, 1);
    ck_assert_int_eq(c.kind, HTTPC_TIMEOUT);
    ck_assert_int_eq(c.res_status, 0);
    ck_assert_int_eq(c.nheaders, 0);
    ck_assert_ptr_nonnull(strstr(c.err, "timeout"));
    ck_assert_int_ge(ms, 280);
    ck_assert_int_le(ms, 1500);
    close(fd);
    env_teardown(&e);
}
END_TEST

START_TEST(test_low_speed_timeout)
{
    struct env e;
    struct cl c = {0};
    struct httpc_spec spec = {0};
    char url[128];
    long long t0, ms;

    env_setup(&e, NULL);
    /* Two chunks, then silence: below 100 B/s for 1 s ends it. */
    spec_url(&spec, url, sizeof(url), &e, "/stream?n=10&ms=10&size=10&stall=2");
    spec.low_speed_limit = 100;
    spec.low_speed_time_s = 1;
    t0 = now_us();
    ck_assert_ptr_nonnull(cl_start(&c, &e, &spec, &cbs_stream));
    loop_for(e.base, 2800);
    ms = (now_us() - t0) / 1000;
    ck_assert_int_eq(c.ndone, 1);
    ck_assert_int_ge(ms, 900);
    ck_assert_int_le(ms, 2600);
    ck_assert_int_eq(c.kind, HTTPC_TIMEOUT);
    ck_assert_int_eq(c.res_status, 200);
    ck_assert_uint_eq(c.nbytes, 20);
    env_teardown(&e);
}
END_TEST

START_TEST(test_connect_failed)
{
    struct env e;
    struct cl c = {0};
    struct httpc_spec spec = {0};
    char url[128];

    env_setup(&e, NULL);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", closed_port());
    spec.url = url;
    spec.connect_timeout_ms = 1000;
    ck_assert_ptr_nonnull(cl_start(&c, &e, &spec, &cbs_stream));
    ck_assert_int_eq(c.ndone, 0);
    loop_for(e.base, 2000);
    ck_assert(!c.cb_before_return);
    ck_assert_int_eq(c.ndone, 1);
    ck_assert_int_eq(c.kind, HTTPC_CONNECT_FAILED);
    ck_assert_int_eq(c.res_status, 0);
    ck_assert_int_eq(c.nheaders, 0);
    ck_assert_int_eq(c.ndata, 0);
    ck_assert_ptr_nonnull(strstr(c.err, "connect_failed: "));
    ck_assert_str_eq(httpc_kind_name(c.kind), "connect_failed");
    env_teardown(&e);
}
END_TEST

START_TEST(test_secret_scrubbed)
{
    struct env e;
    struct cl c = {0};
    /* curl's message names the host, so a header whose value is the host must be scrubbed. */
    struct httpc_header hd[] = {{"Authorization", "Bearer sk-secret-ABCDEFGH1234"},
                                {"x-api-key", "127.0.0.1"},
                                {"x-goog-api-key", "AIzaSECRET99"}};
    struct httpc_spec spec = {0};
    char url[128];

    env_setup(&e, NULL);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1beta/models?key=QUERYSECRET77&alt=sse",
             closed_port());
    spec.url = url;
    spec.headers = hd;
    spec.nheaders = 3;
    spec.body = "{\"secret\":\"no\"}";
    spec.body_len = strlen(spec.body);
    ck_assert_ptr_nonnull(cl_start(&c, &e, &spec, &cbs_collect));
    loop_for(e.base, 2000);
    ck_assert_int_eq(c.kind, HTTPC_CONNECT_FAILED);
    ck_assert_ptr_nonnull(strstr(c.err, "connect_failed: "));
    ck_assert_ptr_null(strstr(c.err, "sk-secret"));
    ck_assert_ptr_null(strstr(c.err, "ABCDEFGH1234"));
    ck_assert_ptr_null(strstr(c.err, "AIzaSECRET99"));
    ck_assert_ptr_null(strstr(c.err, "QUERYSECRET77"));
    ck_assert_ptr_null(strstr(c.err, "127.0.0.1"));
    ck_assert_ptr_nonnull(strstr(c.err, "***"));
    env_teardown(&e);
}
END_TEST

START_TEST(test_cancel_in_on_data)
{
    struct env e;
    struct cl c = {0};
    struct httpc_spec spec = {0};
    char url[128];

    env_setup(&e, NULL);
    spec_url(&spec, url, sizeof(url), &e, "/stream?n=10&ms=30&size=10");
    c.cancel_at = 2;
    ck_assert_ptr_nonnull(cl_start(&c, &e, &spec, &cbs_stream));
    loop_for(e.base, 2000);
    ck_assert(c.cancelled);
    ck_assert_int_eq(c.ndata, 2);
    /* Keep the loop running while the server would still be sending. */
    loop_for(e.base, 400);
    ck_assert_int_eq(c.ndata, 2);
    ck_assert_int_eq(c.ndone, 0);
    ck_assert(!c.data_after_done);
    ck_assert_uint_eq(httpc_active(e.h), 0);
    /* The connection was closed, not returned to the pool. */
    ck_assert_int_eq(e.streams_closed, 1);
    env_teardown(&e);
}
END_TEST

static void cancel_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct cl *c = arg;

    (void)fd;
    (void)what;
    ck_assert_int_ge(c->ndata, 1);
    httpc_cancel(c->req);
    httpc_cancel(c->req); /* idempotent until the reaper runs */
    c->cancelled = true;
    client_done(c->e);
}

START_TEST(test_cancel_from_timer)
{
    struct env e;
    struct cl c = {0};
    struct httpc_spec spec = {0};
    struct event *t;
    struct timeval tv = {0, 100000};
    char url[128];
    int seen;

    env_setup(&e, NULL);
    spec_url(&spec, url, sizeof(url), &e, "/stream?n=20&ms=25&size=10");
    ck_assert_ptr_nonnull(cl_start(&c, &e, &spec, &cbs_stream));
    t = evtimer_new(e.base, cancel_timer_cb, &c);
    evtimer_add(t, &tv);
    loop_for(e.base, 2000);
    ck_assert(c.cancelled);
    seen = c.ndata;
    loop_for(e.base, 300);
    event_free(t);
    ck_assert_int_eq(c.ndata, seen);
    ck_assert_int_eq(c.ndone, 0);
    ck_assert(!c.data_after_done);
    ck_assert_uint_eq(httpc_active(e.h), 0);
    ck_assert_int_eq(e.streams_closed, 1);
    env_teardown(&e);
}
END_TEST

/* Cancelled while paused (curl holds unread data): reaped, nothing more delivered. */
START_TEST(test_cancel_while_paused)
{
    struct env e;
    struct cl c = {0};
    struct httpc_spec spec = {0};
    struct event *t;
    struct timeval tv = {0, 150000};
    char url[128];

    env_setup(&e, NULL);
    spec_url(&spec, url, sizeof(url), &e, "/stream?n=20&ms=10&size=100");
    c.pause_ms = 1000000; /* never resumed */
    ck_assert_ptr_nonnull(cl_start(&c, &e, &spec, &cbs_stream));
    t = evtimer_new(e.base, cancel_timer_cb, &c);
    evtimer_add(t, &tv);
    loop_for(e.base, 2000);
    ck_assert(c.cancelled);
    loop_for(e.base, 300);
    event_free(t);
    event_free(c.resume_ev);
    ck_assert_int_eq(c.ndata, 1);
    ck_assert_int_eq(c.ndone, 0);
    ck_assert_int_eq(c.data_while_paused, 0);
    ck_assert_uint_eq(httpc_active(e.h), 0);
    env_teardown(&e);
}
END_TEST

static enum httpc_action cancel_headers(int status, const struct httpc_headers *hd, void *arg)
{
    struct cl *c = arg;

    (void)hd;
    c->nheaders++;
    c->status = status;
    httpc_cancel(c->req);
    c->cancelled = true;
    client_done(c->e);
    return HTTPC_CONTINUE;
}

START_TEST(test_cancel_in_on_headers)
{
    static const struct httpc_cbs cbs = {cancel_headers, cl_data, cl_done};
    struct env e;
    struct cl c = {0};
    struct httpc_spec spec = {0};
    char url[128];

    env_setup(&e, NULL);
    spec_url(&spec, url, sizeof(url), &e, "/stream?n=5&ms=20&size=10");
    ck_assert_ptr_nonnull(cl_start(&c, &e, &spec, &cbs));
    loop_for(e.base, 2000);
    loop_for(e.base, 200);
    ck_assert(c.cancelled);
    ck_assert_int_eq(c.nheaders, 1);
    ck_assert_int_eq(c.status, 200);
    ck_assert_int_eq(c.ndata + c.ndone, 0);
    ck_assert_uint_eq(httpc_active(e.h), 0);
    env_teardown(&e);
}
END_TEST

START_TEST(test_cancel_before_io)
{
    struct env e;
    struct cl c = {0}, c2 = {0};
    struct httpc_spec spec = {0};
    char url[128];

    env_setup(&e, NULL);
    spec_url(&spec, url, sizeof(url), &e, "/echo");
    ck_assert_ptr_nonnull(cl_start(&c, &e, &spec, &cbs_collect));
    httpc_cancel(c.req);
    e.pending--;
    /* A second, uncancelled request still completes. */
    ck_assert_ptr_nonnull(cl_start(&c2, &e, &spec, &cbs_collect));
    loop_for(e.base, 2000);
    loop_for(e.base, 100);
    ck_assert_int_eq(c.ndone + c.nheaders + c.ndata, 0);
    ck_assert_int_eq(c2.ndone, 1);
    ck_assert_int_eq(c2.kind, HTTPC_OK);
    ck_assert_uint_eq(httpc_active(e.h), 0);
    env_teardown(&e);
}
END_TEST

START_TEST(test_abort_from_on_data)
{
    struct env e;
    struct cl c = {0};
    struct httpc_spec spec = {0};
    char url[128];

    env_setup(&e, NULL);
    spec_url(&spec, url, sizeof(url), &e, "/stream?n=10&ms=20&size=10");
    c.abort_at = 3;
    ck_assert_ptr_nonnull(cl_start(&c, &e, &spec, &cbs_stream));
    loop_for(e.base, 2000);
    ck_assert_int_eq(c.ndone, 1);
    ck_assert_int_eq(c.kind, HTTPC_ABORTED);
    ck_assert_int_eq(c.res_status, 200);
    ck_assert_int_eq(c.ndata, 3);
    ck_assert_str_eq(c.err, "aborted: by callback");
    env_teardown(&e);
}
END_TEST

/* httpc_free with transfers in flight: each uncancelled one gets on_done(ABORTED) once. */
struct freectx {
    struct env *e;
    struct cl *c;
    int n;
};

static void free_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct freectx *f = arg;

    (void)fd;
    (void)what;
    httpc_cancel(f->c[0].req);
    f->c[0].cancelled = true;
    httpc_free(f->e->h);
    f->e->h = NULL;
    event_base_loopbreak(f->e->base);
}

START_TEST(test_free_inflight)
{
    struct env e;
    struct cl c[3] = {{0}};
    struct freectx f = {&e, c, 3};
    struct httpc_spec spec = {0};
    struct event *t;
    struct timeval tv = {0, 100000};
    char url[128];
    int i;

    env_setup(&e, NULL);
    spec_url(&spec, url, sizeof(url), &e, "/stream?n=50&ms=20&size=10");
    for (i = 0; i < 3; i++)
        ck_assert_ptr_nonnull(cl_start(&c[i], &e, &spec, &cbs_stream));
    t = evtimer_new(e.base, free_timer_cb, &f);
    evtimer_add(t, &tv);
    loop_for(e.base, 2000);
    event_free(t);
    ck_assert_ptr_null(e.h);
    ck_assert_int_eq(c[0].ndone, 0);
    for (i = 1; i < 3; i++) {
        ck_assert_int_ge(c[i].ndata, 1);
        ck_assert_int_eq(c[i].ndone, 1);
        ck_assert_int_eq(c[i].kind, HTTPC_ABORTED);
        ck_assert_int_eq(c[i].res_status, 200);
        ck_assert_str_eq(c[i].err, "aborted: client closed");
    }
    /* The server notices the closed connections; nothing of the client is left. */
    loop_for(e.base, 200);
    for (i = 0; i < 3; i++)
        ck_assert(!c[i].data_after_done || i == 0);
    env_teardown(&e);
}
END_TEST

START_TEST(test_too_large)
{
    struct env e;
    struct cl c = {0}, c2 = {0};
    struct httpc_spec spec = {0};
    char url[128], url2[128];

    env_setup(&e, NULL);
    /* Known Content-Length: refused before the body is read. */
    spec_url(&spec, url, sizeof(url), &e, "/big?n=100000");
    spec.timeout_ms = 2000;
    spec.max_response = 10000;
    ck_assert_ptr_nonnull(cl_start(&c, &e, &spec, &cbs_collect));
    /* Chunked: counted as it arrives. */
    url_of(url2, sizeof(url2), &e, "/stream?n=10&ms=5&size=4000");
    spec.url = url2;
    ck_assert_ptr_nonnull(cl_start(&c2, &e, &spec, &cbs_stream));
    loop_for(e.base, 2500);
    ck_assert_int_eq(c.ndone, 1);
    ck_assert_int_eq(c.kind, HTTPC_TOO_LARGE);
    ck_assert_int_eq(c.res_status, 200);
    ck_assert_ptr_nonnull(strstr(c.err, "exceeds 10000 bytes"));
    ck_assert_int_eq(c2.ndone, 1);
    ck_assert_int_eq(c2.kind, HTTPC_TOO_LARGE);
    ck_assert_uint_le(c2.nbytes, 10000);
    ck_assert_uint_ge(c2.nbytes, 8000);
    env_teardown(&e);
}
END_TEST

START_TEST(test_retry_after_429)
{
    struct env e;
    struct cl c = {0};
    struct httpc_spec spec = {0};
    char url[128];

    env_setup(&e, NULL);
    spec_url(&spec, url, sizeof(url), &e, "/429");
    spec.body = "{}";
    spec.body_len = 2;
    spec.timeout_ms = 2000;
    ck_assert_ptr_nonnull(cl_start(&c, &e, &spec, &cbs_collect));
    loop_for(e.base, 2000);
    ck_assert_int_eq(c.nheaders, 1);
    ck_assert_int_eq(c.status, 429);
    ck_assert_str_eq(c.retry_after, "7");
    ck_assert_str_eq(c.xreply, "");
    ck_assert_int_eq(c.kind, HTTPC_OK);
    ck_assert_int_eq(c.res_status, 429);
    ck_assert_str_eq(c.body, "{\"error\":{\"message\":\"slow down\"}}");
    env_teardown(&e);
}
END_TEST

/* httpc_start from inside on_data (a curl callback): the add is deferred, still completes. */
struct nested {
    struct env *e;
    struct cl inner;
    bool started;
};

static enum httpc_action nested_data(const char *b, size_t n, void *arg)
{
    struct nested *ns = arg;
    struct httpc_spec spec = {0};
    char url[128];

    (void)b;
    (void)n;
    if (!ns->started) {
        url_of(url, sizeof(url), ns->e, "/echo");
        spec.url = url;
        ns->started = true;
        ck_assert_ptr_nonnull(cl_start(&ns->inner, ns->e, &spec, &cbs_collect));
    }
    return HTTPC_CONTINUE;
}

static void nested_done(const struct httpc_result *res, void *arg)
{
    struct nested *ns = arg;

    ck_assert_int_eq(res->kind, HTTPC_OK);
    client_done(ns->e);
}

START_TEST(test_start_inside_callback)
{
    static const struct httpc_cbs cbs = {NULL, nested_data, nested_done};
    struct env e;
    struct nested ns = {0};
    struct httpc_spec spec = {0};
    char url[128];

    env_setup(&e, NULL);
    ns.e = &e;
    spec_url(&spec, url, sizeof(url), &e, "/stream?n=3&ms=20&size=10");
    ck_assert_ptr_nonnull(httpc_start(e.h, &spec, &cbs, &ns));
    e.pending++;
    loop_for(e.base, 2000);
    ck_assert(ns.started);
    ck_assert_int_eq(ns.inner.ndone, 1);
    ck_assert_int_eq(ns.inner.kind, HTTPC_OK);
    ck_assert_str_eq(ns.inner.body, "{\"ok\":true,\"n\":2}");
    env_teardown(&e);
}
END_TEST

START_TEST(test_invalid_spec)
{
    struct env e;
    struct cl c = {0};
    struct httpc_header bad[] = {{"X-Evil", "a\r\nInjected: 1"}};
    struct httpc_header badname[] = {{"Bad Name", "v"}};
    struct httpc_spec spec = {0};
    struct httpc_cbs nodone = {cl_headers, cl_data, NULL};
    char url[128];

    env_setup(&e, NULL);
    url_of(url, sizeof(url), &e, "/echo");
    ck_assert_ptr_null(cl_start(&c, &e, &spec, &cbs_collect)); /* no URL */
    spec.url = url;
    ck_assert_ptr_null(cl_start(&c, &e, &spec, &nodone));
    spec.method = "GE T";
    ck_assert_ptr_null(cl_start(&c, &e, &spec, &cbs_collect));
    spec.method = NULL;
    spec.headers = bad;
    spec.nheaders = 1;
    ck_assert_ptr_null(cl_start(&c, &e, &spec, &cbs_collect));
    spec.headers = badname;
    ck_assert_ptr_null(cl_start(&c, &e, &spec, &cbs_collect));
    spec.headers = NULL;
    spec.nheaders = 0;
    spec.url = "ftp://127.0.0.1/x"; /* rejected by curl at transfer time */
    ck_assert_ptr_nonnull(cl_start(&c, &e, &spec, &cbs_collect));
    loop_for(e.base, 1000);
    ck_assert_int_eq(c.ndone, 1);
    ck_assert_int_eq(c.kind, HTTPC_ERROR);
    ck_assert_uint_eq(httpc_active(e.h), 0);
    ck_assert_int_eq(e.nreq, 0);
    httpc_resume(NULL);
    httpc_cancel(NULL);
    httpc_free(NULL);
    ck_assert_ptr_null(httpc_new(NULL, NULL));
    env_teardown(&e);
}
END_TEST

START_TEST(test_async_dns)
{
    /* Debian's libcurl4-openssl uses the threaded resolver; DNS never blocks the loop. */
    ck_assert(httpc_has_async_dns());
}
END_TEST

Suite *httpc_suite(void)
{
    Suite *s = suite_create("httpc");
    struct {
        const char *name;
        const TTest *fn;
    } cases[] = {
        {"get_json", test_get_json},
        {"post_json", test_post_json},
        {"concurrent_reuse", test_concurrent_reuse},
        {"url_slots", test_url_slots},
        {"sequential_reuse", test_sequential_reuse},
        {"stream_chunks", test_stream_chunks},
        {"pause_resume", test_pause_resume},
        {"pause_long", test_pause_long},
        {"total_timeout", test_total_timeout},
        {"low_speed_timeout", test_low_speed_timeout},
        {"connect_failed", test_connect_failed},
        {"secret_scrubbed", test_secret_scrubbed},
        {"cancel_in_on_data", test_cancel_in_on_data},
        {"cancel_from_timer", test_cancel_from_timer},
        {"cancel_while_paused", test_cancel_while_paused},
        {"cancel_in_on_headers", test_cancel_in_on_headers},
        {"cancel_before_io", test_cancel_before_io},
        {"abort_from_on_data", test_abort_from_on_data},
        {"free_inflight", test_free_inflight},
        {"too_large", test_too_large},
        {"retry_after_429", test_retry_after_429},
        {"start_inside_callback", test_start_inside_callback},
        {"invalid_spec", test_invalid_spec},
        {"async_dns", test_async_dns},
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        TCase *tc = tcase_create(cases[i].name);

        tcase_set_timeout(tc, 5);
        tcase_add_test(tc, cases[i].fn);
        suite_add_tcase(s, tc);
    }
    return s;
}
