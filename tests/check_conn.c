/*
 * In-process integration tests of the connection framer: an evhttp with
 * evhttp_set_bevcb(gw_conn_bev_new) on 127.0.0.1:0, its loop in a second thread, and blocking
 * client sockets in the test thread. Checks keep-alive, pipelining, split and chunked bodies,
 * the JSON rejections (431, 413, 408, 400), Expect: 100-continue, and write-through output
 * (Connection: close, large and streamed responses).
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "gateway/gw_app.h"
#include "gateway/http/gw_conn.h"
#include "gateway/http/gw_reply.h"
#include "gateway/http/gw_req.h"

#define BIG_LEN (1024 * 1024)

struct srv {
    struct event_base *base;
    struct evhttp *http;
    struct event *tick;
    struct gw_conn_limits lim;
    pthread_t thread;
    atomic_int stop;
    int port;
};

/* ---- server side (runs on the loop thread) ---- */

static void reply_json(struct evhttp_request *req, int status, const char *reason,
                       struct evbuffer *body)
{
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
    evhttp_send_reply(req, status, reason, body);
}

static void later_reply(evutil_socket_t fd, short what, void *arg)
{
    struct evhttp_request *req = arg;
    struct evbuffer *b = evbuffer_new();

    (void)fd;
    (void)what;
    evbuffer_add_printf(b, "{\"slow\":true}");
    reply_json(req, 200, "OK", b);
    evbuffer_free(b);
}

struct stream {
    struct evhttp_request *req;
    struct event_base *base;
    int sent;
};

static void stream_next(evutil_socket_t fd, short what, void *arg)
{
    struct stream *st = arg;
    struct evbuffer *b = evbuffer_new();
    static const struct timeval tv = {0, 50000};

    (void)fd;
    (void)what;
    evbuffer_add_printf(b, "data: %d\n\n", st->sent++);
    evhttp_send_reply_chunk(st->req, b);
    evbuffer_free(b);
    if (st->sent < 3) {
        event_base_once(st->base, -1, EV_TIMEOUT, stream_next, st, &tv);
        return;
    }
    evhttp_send_reply_end(st->req);
    free(st);
}

static void srv_cb(struct evhttp_request *req, void *arg)
{
    struct srv *s = arg;
    const char *uri = evhttp_request_get_uri(req);
    int status = gw_conn_internal_status(evhttp_request_get_input_headers(req));
    struct evbuffer *b = evbuffer_new();

    if (status > 0) {
        evbuffer_add_printf(b, "{\"error\":{\"status\":%d}}", status);
        reply_json(req, status, "Rejected", b);
    } else if (strcmp(uri, "/big") == 0) {
        /* a small send buffer: the socket fills up many times while writing */
        struct evhttp_connection *evcon = evhttp_request_get_connection(req);
        int fd = bufferevent_getfd(evhttp_connection_get_bufferevent(evcon));
        int sz = 8192;
        char *x = malloc(BIG_LEN);

        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
        memset(x, 'x', BIG_LEN);
        evbuffer_add(b, x, BIG_LEN);
        free(x);
        evhttp_send_reply(req, 200, "OK", b);
    } else if (strcmp(uri, "/nodelay") == 0) {
        struct evhttp_connection *evcon = evhttp_request_get_connection(req);
        int fd = bufferevent_getfd(evhttp_connection_get_bufferevent(evcon)), v = 0;
        socklen_t vlen = sizeof(v);

        getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, &vlen);
        evbuffer_add_printf(b, "{\"nodelay\":%d}", v);
        reply_json(req, 200, "OK", b);
    } else if (strcmp(uri, "/slow") == 0) {
        static const struct timeval tv = {1, 300000};
        event_base_once(s->base, -1, EV_TIMEOUT, later_reply, req, &tv);
    } else if (strcmp(uri, "/stream") == 0) {
        struct stream *st = calloc(1, sizeof(*st));
        st->req = req;
        st->base = s->base;
        evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                          "text/event-stream");
        evhttp_send_reply_start(req, 200, "OK");
        stream_next(-1, 0, st);
    } else {
        struct evkeyvalq *h = evhttp_request_get_input_headers(req);
        evbuffer_add_printf(b, "{\"uri\":\"%s\",\"len\":%zu,\"expect\":%s}", uri,
                            evbuffer_get_length(evhttp_request_get_input_buffer(req)),
                            evhttp_find_header(h, "Expect") != NULL ? "true" : "false");
        reply_json(req, 200, "OK", b);
    }
    evbuffer_free(b);
}

static void srv_tick(evutil_socket_t fd, short what, void *arg)
{
    struct srv *s = arg;

    (void)fd;
    (void)what;
    if (atomic_load(&s->stop))
        event_base_loopbreak(s->base);
}

static void *srv_loop(void *arg)
{
    struct srv *s = arg;

    event_base_dispatch(s->base);
    return NULL;
}

static gw_conn_head_fn *srv_head_check; /* the early check of the next srv_start() */

static void srv_start(struct srv *s, size_t max_head, size_t max_body, int read_timeout)
{
    static const struct timeval tick = {0, 10000};
    struct evhttp_bound_socket *bound;
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);

    memset(s, 0, sizeof(*s));
    s->lim.max_header_size = max_head;
    s->lim.max_body_size = max_body;
    s->lim.read_timeout = read_timeout;
    s->lim.head_check = srv_head_check; /* set before the loop thread starts */
    s->base = event_base_new();
    ck_assert_ptr_nonnull(s->base);
    s->http = evhttp_new(s->base);
    ck_assert_ptr_nonnull(s->http);
    evhttp_set_allowed_methods(s->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT);
    evhttp_set_bevcb(s->http, gw_conn_bev_new, &s->lim);
    evhttp_set_gencb(s->http, srv_cb, s);
    bound = evhttp_bind_socket_with_handle(s->http, "127.0.0.1", 0);
    ck_assert_ptr_nonnull(bound);
    ck_assert_int_eq(getsockname(evhttp_bound_socket_get_fd(bound), (struct sockaddr *)&sa, &sl),
                     0);
    s->port = ntohs(sa.sin_port);
    s->tick = event_new(s->base, -1, EV_PERSIST, srv_tick, s);
    ck_assert_ptr_nonnull(s->tick);
    ck_assert_int_eq(event_add(s->tick, &tick), 0);
    ck_assert_int_eq(pthread_create(&s->thread, NULL, srv_loop, s), 0);
}

static void srv_stop(struct srv *s)
{
    atomic_store(&s->stop, 1);
    pthread_join(s->thread, NULL);
    event_free(s->tick);
    evhttp_free(s->http);
    event_base_free(s->base);
}

/* ---- client side (blocking sockets, test thread) ---- */

struct cl {
    int fd;
    char *buf; /* bytes received and not yet parsed */
    size_t len, cap;
};

struct resp {
    int status;
    char head[2048];
    char *body; /* NUL-terminated */
    size_t body_len;
};

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void cl_timeout(struct cl *c, int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

    ck_assert_int_eq(setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
}

static void cl_open(struct cl *c, const struct srv *s)
{
    struct sockaddr_in sa;
    int one = 1;

    memset(c, 0, sizeof(*c));
    c->cap = 2 * BIG_LEN;
    c->buf = malloc(c->cap);
    ck_assert_ptr_nonnull(c->buf);
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(c->fd, 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)s->port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    cl_timeout(c, 2500);
}

static void cl_close(struct cl *c)
{
    close(c->fd);
    free(c->buf);
}

static void cl_send(struct cl *c, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
        ck_assert_int_gt(w, 0);
        p += w;
        n -= (size_t)w;
    }
}

static void cl_sends(struct cl *c, const char *s)
{
    cl_send(c, s, strlen(s));
}

/* Receives more bytes; returns the count, 0 at EOF, -1 on timeout or error. */
static ssize_t cl_recv(struct cl *c)
{
    ssize_t n;

    ck_assert_uint_lt(c->len, c->cap);
    n = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
    if (n > 0)
        c->len += (size_t)n;
    return n;
}

/* memmem() without _GNU_SOURCE. */
static const char *find(const char *hay, size_t n, const char *needle)
{
    size_t k = strlen(needle);

    for (size_t i = 0; i + k <= n; i++) {
        if (memcmp(hay + i, needle, k) == 0)
            return hay + i;
    }
    return NULL;
}

static const char *head_value(const char *head, const char *name)
{
    size_t n = strlen(name);

    for (const char *p = strstr(head, "\r\n"); p != NULL; p = strstr(p + 2, "\r\n")) {
        if (strncasecmp(p + 2, name, n) == 0 && p[2 + n] == ':')
            return p + 3 + n;
    }
    return NULL;
}

/* Decodes a complete chunked body at p (len bytes); returns bytes used, 0 if incomplete. */
static size_t dechunk(const char *p, size_t len, char *out, size_t *out_len)
{
    size_t i = 0;

    *out_len = 0;
    for (;;) {
        const char *eol = find(p + i, len - i, "\r\n");
        unsigned long sz;

        if (eol == NULL)
            return 0;
        sz = strtoul(p + i, NULL, 16);
        i = (size_t)(eol - p) + 2;
        if (sz == 0)
            return len - i >= 2 ? i + 2 : 0;
        if (len - i < sz + 2)
            return 0;
        memcpy(out + *out_len, p + i, sz);
        *out_len += sz;
        i += sz + 2;
    }
}

/* Reads one response (a 1xx included; without a length, up to EOF). Returns 0, or -1 on
 * timeout / EOF before it is whole. */
static int cl_response(struct cl *c, struct resp *r)
{
    bool eof = false;

    memset(r, 0, sizeof(*r));
    for (;;) {
        const char *end = find(c->buf, c->len, "\r\n\r\n");

        if (end != NULL) {
            size_t hl = (size_t)(end - c->buf) + 4, used = 0;
            const char *cl;

            ck_assert_uint_lt(hl, sizeof(r->head));
            memcpy(r->head, c->buf, hl);
            r->head[hl] = '\0';
            r->status = atoi(r->head + 9);
            cl = head_value(r->head, "Content-Length");
            free(r->body);
            r->body = malloc(c->len - hl + 1);
            if (r->status / 100 == 1) {
                used = hl;
            } else if (cl != NULL) {
                size_t n = strtoul(cl, NULL, 10);
                if (c->len - hl >= n) {
                    memcpy(r->body, c->buf + hl, n);
                    r->body_len = n;
                    used = hl + n;
                }
            } else if (head_value(r->head, "Transfer-Encoding") != NULL) {
                size_t k = dechunk(c->buf + hl, c->len - hl, r->body, &r->body_len);
                used = k > 0 ? hl + k : 0;
            } else if (eof) {
                memcpy(r->body, c->buf + hl, c->len - hl);
                r->body_len = c->len - hl;
                used = c->len;
            }
            if (used > 0) {
                r->body[r->body_len] = '\0';
                memmove(c->buf, c->buf + used, c->len - used);
                c->len -= used;
                return 0;
            }
        }
        if (eof)
            return -1;
        if (cl_recv(c) <= 0)
            eof = true; /* one more pass: a response without a length ends here */
    }
}

static void resp_free(struct resp *r)
{
    free(r->body);
    r->body = NULL;
}

/* True when the peer closed (EOF or reset) within the receive timeout. */
static bool cl_closed(struct cl *c)
{
    ssize_t n = cl_recv(c);

    return n == 0 || (n < 0 && errno == ECONNRESET);
}

static void expect_json(struct resp *r, int status)
{
    char want[64];

    ck_assert_int_eq(r->status, status);
    snprintf(want, sizeof(want), "{\"error\":{\"status\":%d}}", status);
    ck_assert_str_eq(r->body, want);
    ck_assert_ptr_nonnull(strstr(r->head, "application/json"));
}

/* Reads the next response on c and checks it is our JSON error with this status. */
static void expect_json_reply(struct cl *c, int status)
{
    struct resp r = {0};

    ck_assert_int_eq(cl_response(c, &r), 0);
    expect_json(&r, status);
    resp_free(&r);
}

/* Sends one request and checks a 200 echo answer with body length len. */
static void expect_echo(struct cl *c, const char *uri, size_t len)
{
    struct resp r = {0};
    char want[256];

    ck_assert_int_eq(cl_response(c, &r), 0);
    ck_assert_int_eq(r.status, 200);
    snprintf(want, sizeof(want), "{\"uri\":\"%s\",\"len\":%zu,\"expect\":false}", uri, len);
    ck_assert_str_eq(r.body, want);
    resp_free(&r);
}

/* GET path on c must answer 200 with exactly body. */
static void expect_get_body(struct cl *c, const char *path, const char *body)
{
    char req[256];
    struct resp r = {0};

    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path);
    cl_sends(c, req);
    ck_assert_int_eq(cl_response(c, &r), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, body);
    resp_free(&r);
}

/* ---- tests ---- */

START_TEST(keepalive_get_post)
{
    struct srv s;
    struct cl c;

    srv_start(&s, 4096, 1 << 20, 5);
    cl_open(&c, &s);
    cl_sends(&c, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
    expect_echo(&c, "/a", 0);
    cl_sends(&c, "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
    expect_echo(&c, "/b", 5);
    cl_sends(&c, "PUT /c HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
    expect_echo(&c, "/c", 0);
    cl_close(&c);
    srv_stop(&s);
}
END_TEST

START_TEST(pipelined_one_write)
{
    struct srv s;
    struct cl c;

    srv_start(&s, 4096, 1 << 20, 5);
    cl_open(&c, &s);
    cl_sends(&c, "GET /1 HTTP/1.1\r\nHost: x\r\n\r\n"
                 "POST /2 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
                 "POST /3 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "4\r\nwxyz\r\n0\r\n\r\n"
                 "GET /4 HTTP/1.1\r\nHost: x\r\n\r\n");
    expect_echo(&c, "/1", 0);
    expect_echo(&c, "/2", 3);
    expect_echo(&c, "/3", 4);
    expect_echo(&c, "/4", 0);
    cl_close(&c);
    srv_stop(&s);
}
END_TEST

START_TEST(body_in_small_writes)
{
    char req[1024];
    struct srv s;
    struct cl c;
    int n =
        snprintf(req, sizeof(req), "POST /s HTTP/1.1\r\nHost: x\r\nContent-Length: 300\r\n\r\n");

    memset(req + n, 'q', 300);
    srv_start(&s, 4096, 1 << 20, 5);
    cl_open(&c, &s);
    for (int i = 0; i < n + 300; i++) {
        cl_send(&c, req + i, 1);
        usleep(100);
    }
    expect_echo(&c, "/s", 300);
    cl_close(&c);
    srv_stop(&s);
}
END_TEST

START_TEST(chunked_body)
{
    struct srv s;
    struct cl c;

    srv_start(&s, 4096, 1 << 20, 5);
    cl_open(&c, &s);
    /* extensions and whitespace on size lines (evhttp alone refuses them), trailers */
    cl_sends(&c, "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b\r\nhel");
    usleep(20000);
    cl_sends(&c, "lo\r\nA \r\n0123456789\r\n");
    usleep(20000);
    cl_sends(&c, "0;end\r\nX-Trailer: yes\r\n\r\n");
    expect_echo(&c, "/c", 15);
    cl_close(&c);
    srv_stop(&s);
}
END_TEST

START_TEST(head_too_big_431)
{
    char req[4096];
    struct srv s;
    struct cl c;
    struct resp r = {0};
    int n = snprintf(req, sizeof(req), "GET /h HTTP/1.1\r\nHost: x\r\nX-Pad: ");

    memset(req + n, 'p', 2000);
    memcpy(req + n + 2000, "\r\n\r\n", 4);
    srv_start(&s, 1024, 1 << 20, 5);
    cl_open(&c, &s);
    cl_send(&c, req, (size_t)n + 2004);
    ck_assert_int_eq(cl_response(&c, &r), 0);
    expect_json(&r, 431);
    ck_assert(cl_closed(&c));
    resp_free(&r);
    cl_close(&c);
    srv_stop(&s);
}
END_TEST

START_TEST(content_length_too_big_413)
{
    struct srv s;
    struct cl c;
    struct resp r = {0};
    double t0;

    srv_start(&s, 4096, 1000, 5);
    cl_open(&c, &s);
    t0 = now_s();
    cl_sends(&c, "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n");
    ck_assert_int_eq(cl_response(&c, &r), 0);
    ck_assert_double_lt(now_s() - t0, 0.5); /* without sending the body */
    expect_json(&r, 413);
    ck_assert(cl_closed(&c));
    resp_free(&r);
    cl_close(&c);
    srv_stop(&s);
}
END_TEST

START_TEST(chunked_too_big_413)
{
    struct srv s;
    struct cl c;
    char data[600];

    memset(data, 'd', sizeof(data));
    srv_start(&s, 4096, 1000, 5);
    cl_open(&c, &s);
    cl_sends(&c, "POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n258\r\n");
    cl_send(&c, data, sizeof(data));
    cl_sends(&c, "\r\n258\r\n");
    expect_json_reply(&c, 413);
    cl_close(&c);
    srv_stop(&s);
}
END_TEST

START_TEST(invalid_content_length_400)
{
    struct srv s;
    struct cl c;
    struct resp r = {0};

    srv_start(&s, 4096, 1000, 5);
    cl_open(&c, &s);
    cl_sends(&c, "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 12abc\r\n\r\n");
    expect_json_reply(&c, 400);
    cl_close(&c);
    /* a request after a good one on the same connection */
    cl_open(&c, &s);
    cl_sends(&c, "GET /ok HTTP/1.1\r\nHost: x\r\n\r\n"
                 "POST /x HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n");
    expect_echo(&c, "/ok", 0);
    ck_assert_int_eq(cl_response(&c, &r), 0);
    expect_json(&r, 400);
    ck_assert(cl_closed(&c));
    resp_free(&r);
    cl_close(&c);
    srv_stop(&s);
}
END_TEST

/* A client that does not speak HTTP (TLS, SSH) gets its 400 at once, not after read_timeout. */
START_TEST(not_http_rejected_at_once)
{
    static const char hello[] = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03";
    static const char *const lines[] = {"SSH-2.0-OpenSSH_9.6\r\n", "GET / HTTP/1.1 x"};
    struct srv s;
    struct cl c;
    struct resp r = {0};
    double t0;

    srv_start(&s, 4096, 1000, 5);
    cl_open(&c, &s);
    t0 = now_s();
    cl_send(&c, hello, sizeof(hello) - 1);
    ck_assert_int_eq(cl_response(&c, &r), 0);
    ck_assert_double_lt(now_s() - t0, 1.0);
    expect_json(&r, 400);
    ck_assert(cl_closed(&c));
    resp_free(&r);
    cl_close(&c);
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        cl_open(&c, &s);
        t0 = now_s();
        cl_sends(&c, lines[i]);
        ck_assert_int_eq(cl_response(&c, &r), 0);
        ck_assert_double_lt(now_s() - t0, 1.0);
        expect_json(&r, 400);
        resp_free(&r);
        cl_close(&c);
    }
    /* Versions and methods evhttp would mishandle reach the reject route too. */
    cl_open(&c, &s);
    cl_sends(&c, "GET /a HTTP/1.2\r\nHost: x\r\n\r\n");
    expect_json_reply(&c, 505);
    cl_close(&c);
    cl_open(&c, &s);
    cl_sends(&c, "BREW /pot HTTP/1.1\r\nHost: x\r\n\r\n");
    expect_json_reply(&c, 501);
    cl_close(&c);
    srv_stop(&s);
}
END_TEST

START_TEST(read_timeout_408)
{
    struct srv s;
    struct cl c;
    struct resp r = {0};
    double t0, dt;

    srv_start(&s, 4096, 1000, 1);
    cl_open(&c, &s);
    t0 = now_s();
    cl_sends(&c, "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc");
    ck_assert_int_eq(cl_response(&c, &r), 0);
    dt = now_s() - t0;
    ck_assert_double_ge(dt, 0.9);
    ck_assert_double_lt(dt, 2.0);
    expect_json(&r, 408);
    ck_assert(cl_closed(&c));
    resp_free(&r);
    cl_close(&c);
    srv_stop(&s);
}
END_TEST

/* An idle keep-alive connection is not timed; the timer starts with a request's first byte. */
START_TEST(idle_is_not_timed)
{
    struct srv s;
    struct cl c;

    srv_start(&s, 4096, 1000, 1);
    cl_open(&c, &s);
    cl_sends(&c, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
    expect_echo(&c, "/a", 0);
    cl_timeout(&c, 1300);
    ck_assert_int_lt(cl_recv(&c), 0);
    ck_assert(errno == EAGAIN || errno == EWOULDBLOCK);
    cl_timeout(&c, 2500);
    cl_sends(&c, "GET /b HTTP/1.1\r\nHost: x\r\n\r\n");
    expect_echo(&c, "/b", 0);
    cl_close(&c);
    srv_stop(&s);
}
END_TEST

/* The next response on c is the one of /slow. */
static void expect_slow(struct cl *c)
{
    struct resp r = {0};

    ck_assert_int_eq(cl_response(c, &r), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "{\"slow\":true}");
    resp_free(&r);
}

/* The read timer is not the client's fault while evhttp is busy and reads nothing. */
START_TEST(timer_waits_for_busy_evhttp)
{
    struct srv s;
    struct cl c;

    srv_start(&s, 4096, 1000, 1);
    cl_open(&c, &s);
    cl_sends(&c, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\nGET /next HTTP/1.1\r\nHo");
    usleep(200000);
    cl_sends(&c, "st: x\r\n\r\n");
    expect_slow(&c);
    expect_echo(&c, "/next", 0);
    cl_close(&c);
    srv_stop(&s);
}
END_TEST

/*
 * Requests pipelined while evhttp is busy: the framer takes the first waiting one, pauses until
 * the slow reply is out, then reads on; all are answered in order.
 */
START_TEST(pipelined_while_busy)
{
    struct srv s;
    struct cl c;

    srv_start(&s, 4096, 1000, 5);
    cl_open(&c, &s);
    cl_sends(&c, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
    usleep(100000);
    cl_sends(&c, "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n");
    usleep(100000);
    cl_sends(&c, "GET /c HTTP/1.1\r\nHost: x\r\n\r\n");
    expect_slow(&c);
    expect_echo(&c, "/a", 0);
    expect_echo(&c, "/b", 0);
    expect_echo(&c, "/c", 0);
    cl_close(&c);
    srv_stop(&s);
}
END_TEST

/* A client that leaves while its request is being handled: the late reply goes nowhere. */
START_TEST(client_gone_while_busy)
{
    struct srv s;
    struct cl c;

    srv_start(&s, 4096, 1000, 5);
    cl_open(&c, &s);
    cl_sends(&c, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
    usleep(100000);
    cl_close(&c);
    usleep(1400000); /* /slow answers after 1.3 s, on a connection that is gone */
    cl_open(&c, &s);
    cl_sends(&c, "GET /alive HTTP/1.1\r\nHost: x\r\n\r\n");
    expect_echo(&c, "/alive", 0);
    cl_close(&c);
    srv_stop(&s);
}
END_TEST

START_TEST(expect_continue)
{
    struct srv s;
    struct cl c;
    struct resp r = {0};
    double t0;

    srv_start(&s, 4096, 1000, 5);
    cl_open(&c, &s);
    cl_timeout(&c, 500);
    t0 = now_s();
    cl_sends(&c,
             "POST /e HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
    ck_assert_int_eq(cl_response(&c, &r), 0);
    ck_assert_double_lt(now_s() - t0, 0.4);
    ck_assert_int_eq(r.status, 100);
    ck_assert_str_eq(r.head, "HTTP/1.1 100 Continue\r\n\r\n");
    resp_free(&r);
    cl_timeout(&c, 2500);
    cl_sends(&c, "hello");
    expect_echo(&c, "/e", 5); /* the handler does not see the Expect header */
    /* too large: 413 at once, no 100 */
    cl_sends(&c,
             "POST /e HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5000\r\n\r\n");
    expect_json_reply(&c, 413);
    cl_close(&c);
    srv_stop(&s);
}
END_TEST

/* Responses after which evhttp closes at once still arrive whole (write-through output). */
START_TEST(close_and_big_responses)
{
    struct srv s;
    struct cl c;
    struct resp r = {0};

    srv_start(&s, 4096, 1000, 5);
    cl_open(&c, &s);
    cl_sends(&c, "GET /big HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    ck_assert_int_eq(cl_response(&c, &r), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_uint_eq(r.body_len, BIG_LEN);
    ck_assert(r.body[0] == 'x' && r.body[BIG_LEN - 1] == 'x');
    ck_assert(cl_closed(&c));
    resp_free(&r);
    cl_close(&c);
    cl_open(&c, &s);
    cl_sends(&c, "GET /a HTTP/1.0\r\n\r\n");
    expect_echo(&c, "/a", 0); /* read up to the close: no Content-Length in HTTP/1.0 */
    cl_close(&c);
    /* keep-alive after a large answer */
    cl_open(&c, &s);
    cl_sends(&c, "GET /big HTTP/1.1\r\nHost: x\r\n\r\nGET /after HTTP/1.1\r\nHost: x\r\n\r\n");
    ck_assert_int_eq(cl_response(&c, &r), 0);
    ck_assert_uint_eq(r.body_len, BIG_LEN);
    resp_free(&r);
    expect_echo(&c, "/after", 0);
    cl_close(&c);
    srv_stop(&s);
}
END_TEST

/* A client that leaves while a large answer is still being written. */
START_TEST(client_gone_mid_response)
{
    struct srv s;
    struct cl c;

    srv_start(&s, 4096, 1000, 5);
    for (int i = 0; i < 3; i++) {
        cl_open(&c, &s);
        cl_sends(&c, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n");
        ck_assert_int_gt(cl_recv(&c), 0);
        cl_close(&c);
    }
    usleep(50000);
    cl_open(&c, &s);
    cl_sends(&c, "GET /alive HTTP/1.1\r\nHost: x\r\n\r\n");
    expect_echo(&c, "/alive", 0);
    cl_close(&c);
    srv_stop(&s);
}
END_TEST

START_TEST(streamed_response)
{
    struct srv s;
    struct cl c;

    srv_start(&s, 4096, 1000, 5);
    cl_open(&c, &s);
    expect_get_body(&c, "/stream", "data: 0\n\ndata: 1\n\ndata: 2\n\n");
    cl_sends(&c, "GET /again HTTP/1.1\r\nHost: x\r\n\r\n");
    expect_echo(&c, "/again", 0);
    cl_close(&c);
    srv_stop(&s);
}
END_TEST

/* Stream chunks are small writes: without TCP_NODELAY each waits for the client's delayed ACK. */
START_TEST(client_socket_nodelay)
{
    struct srv s;
    struct cl c;

    srv_start(&s, 4096, 1000, 5);
    cl_open(&c, &s);
    expect_get_body(&c, "/nodelay", "{\"nodelay\":1}");
    cl_close(&c);
    srv_stop(&s);
}
END_TEST

START_TEST(pipelined_then_rejected)
{
    char req[4096];
    struct srv s;
    struct cl c;
    struct resp r = {0};
    int n = snprintf(req, sizeof(req), "GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nX: ");

    memset(req + n, 'p', 1500);
    srv_start(&s, 1024, 1000, 5);
    cl_open(&c, &s);
    cl_send(&c, req, (size_t)n + 1500);
    expect_echo(&c, "/1", 0);
    ck_assert_int_eq(cl_response(&c, &r), 0);
    expect_json(&r, 431);
    ck_assert(cl_closed(&c));
    resp_free(&r);
    cl_close(&c);
    srv_stop(&s);
}
END_TEST

/* Clients that leave mid-request (the read timer pending) do not disturb the server. */
START_TEST(client_gone_mid_request)
{
    struct srv s;
    struct cl c;

    srv_start(&s, 4096, 1000, 1);
    for (int i = 0; i < 5; i++) {
        cl_open(&c, &s);
        cl_sends(&c, i % 2 ? "POST /x HTTP/1.1\r\nContent-Length: 9\r\n\r\nab" : "GET /x HTT");
        usleep(20000);
        cl_close(&c);
    }
    cl_open(&c, &s);
    cl_sends(&c, "POST /x HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 9\r\n\r\n");
    usleep(20000);
    cl_close(&c);
    cl_open(&c, &s);
    cl_sends(&c, "GET /alive HTTP/1.1\r\nHost: x\r\n\r\n");
    expect_echo(&c, "/alive", 0);
    cl_close(&c);
    srv_stop(&s);
}
END_TEST

/* ---- early refusal (limits.head_check) and lingering close ---- */

/* The test's credential rule: a head must carry "Authorization: ok". */
static int refuse_keyless(void *arg, const char *head, size_t len)
{
    (void)arg;
    return find(head, len, "\r\nAuthorization: ok\r\n") != NULL ? 0 : 401;
}

static void srv_start_checked(struct srv *s, size_t max_body)
{
    srv_head_check = refuse_keyless;
    srv_start(s, 4096, max_body, 5);
    srv_head_check = NULL;
}

/* Sends n body bytes in a blocking fashion; returns the bytes the kernel accepted. */
static size_t cl_send_body(struct cl *c, size_t n)
{
    char chunk[16384];
    size_t sent = 0;

    memset(chunk, 'b', sizeof(chunk));
    while (sent < n) {
        size_t k = n - sent < sizeof(chunk) ? n - sent : sizeof(chunk);
        ssize_t w = send(c->fd, chunk, k, MSG_NOSIGNAL);
        if (w <= 0)
            break;
        sent += (size_t)w;
    }
    return sent;
}

/* A small send buffer: the client cannot park the body in the kernel and must really send it. */
static void cl_small_sndbuf(struct cl *c)
{
    int sz = 16384;

    ck_assert_int_eq(setsockopt(c->fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz)), 0);
}

START_TEST(refused_before_body)
{
    struct srv s;
    struct cl c;
    double t0;

    srv_start_checked(&s, 1 << 20);
    cl_open(&c, &s);
    t0 = now_s();
    cl_sends(&c, "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n{bad");
    expect_json_reply(&c, 401);
    ck_assert_double_lt(now_s() - t0, 0.5);
    ck_assert(cl_closed(&c)); /* the write side is shut once the answer is out */
    cl_close(&c);
    srv_stop(&s);
}
END_TEST

/* No 100 Continue for a refused request; a request that passes still gets it. */
START_TEST(refused_expect_continue)
{
    struct srv s;
    struct cl c;
    struct resp r = {0};

    srv_start_checked(&s, 1 << 20);
    cl_open(&c, &s);
    cl_sends(&c, "POST /e HTTP/1.1\r\nHost: x\r\nAuthorization: ok\r\n"
                 "Expect: 100-continue\r\nContent-Length: 5\r\n\r\n");
    ck_assert_int_eq(cl_response(&c, &r), 0);
    ck_assert_int_eq(r.status, 100);
    resp_free(&r);
    cl_sends(&c, "hello");
    expect_echo(&c, "/e", 5);
    cl_sends(&c,
             "POST /e HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
    expect_json_reply(&c, 401);
    cl_close(&c);
    srv_stop(&s);
}
END_TEST

/* Pipelining and chunked bodies do not get past the check. */
START_TEST(refused_pipelined_chunked)
{
    struct srv s;
    struct cl c;

    srv_start_checked(&s, 1 << 20);
    cl_open(&c, &s);
    cl_sends(&c, "GET /a HTTP/1.1\r\nHost: x\r\nAuthorization: ok\r\n\r\n"
                 "POST /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel");
    expect_echo(&c, "/a", 0);
    expect_json_reply(&c, 401);
    cl_close(&c);
    srv_stop(&s);
}
END_TEST

/* A request that carries the framer's marker with a wrong secret is an ordinary request. */
START_TEST(marker_cannot_be_forged)
{
    struct srv s;
    struct cl c;

    srv_start(&s, 4096, 1000, 5);
    cl_open(&c, &s);
    cl_sends(&c, "GET /_gw/reject/413 HTTP/1.1\r\nHost: x\r\n" GW_CONN_MARKER
                 ": 00000000000000000000000000000000 413\r\n\r\n");
    expect_echo(&c, "/_gw/reject/413", 0);
    cl_close(&c);
    srv_stop(&s);
}
END_TEST

/*
 * A client that writes its whole oversized body before reading (Python's http.client, httpx)
 * reads the 413: the framer discards the body instead of closing under it.
 */
START_TEST(blocking_client_reads_413)
{
    struct srv s;
    struct cl c;
    size_t n = 512 * 1024;
    char head[128];

    srv_start(&s, 4096, 1000, 5);
    cl_open(&c, &s);
    cl_small_sndbuf(&c);
    snprintf(head, sizeof(head), "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n", n);
    cl_sends(&c, head);
    usleep(100000); /* the answer is out before the body is sent */
    ck_assert_uint_eq(cl_send_body(&c, n), n);
    expect_json_reply(&c, 413);
    ck_assert(cl_closed(&c));
    cl_close(&c);
    srv_stop(&s);
    /* the same for a refused request */
    srv_start_checked(&s, 1000);
    cl_open(&c, &s);
    cl_small_sndbuf(&c);
    snprintf(head, sizeof(head), "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 900\r\n\r\n");
    cl_sends(&c, head);
    usleep(100000);
    ck_assert_uint_eq(cl_send_body(&c, 900), 900);
    expect_json_reply(&c, 401);
    cl_close(&c);
    srv_stop(&s);
}
END_TEST

/* The discarding is bounded: past max_body_size + GW_CONN_LINGER_EXTRA bytes the socket closes. */
START_TEST(linger_bounded_in_bytes)
{
    struct srv s;
    struct cl c;
    size_t n = 16u << 20;

    srv_start(&s, 4096, 1000, 5);
    cl_open(&c, &s);
    cl_small_sndbuf(&c);
    cl_sends(&c, "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 16777216\r\n\r\n");
    ck_assert_uint_lt(cl_send_body(&c, n), n);
    expect_json_reply(&c, 413);
    cl_close(&c);
    srv_stop(&s);
}
END_TEST

/* ... and in time: a client that stops sending is closed GW_CONN_LINGER_IDLE_MS later. */
START_TEST(linger_bounded_in_time)
{
    struct srv s;
    struct cl c;
    size_t sent = 0;
    double t0;

    srv_start(&s, 4096, 1000, 5);
    cl_open(&c, &s);
    cl_sends(&c, "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n");
    expect_json_reply(&c, 413);
    t0 = now_s();
    usleep((GW_CONN_LINGER_IDLE_MS + 300) * 1000);
    for (int i = 0; i < 20 && sent == (size_t)i * 100; i++) {
        sent += cl_send_body(&c, 100); /* the closed socket answers with a reset */
        usleep(20000);
    }
    ck_assert_uint_lt(sent, 2000);
    ck_assert_double_lt(now_s() - t0, 3.0);
    cl_close(&c);
    srv_stop(&s);
}
END_TEST

/* A request whose libevent request is gone already (client left, shutdown). */
static struct gw_req *gone_req(struct gw_worker *w)
{
    struct gw_req *r = calloc(1, sizeof(*r));

    ck_assert_ptr_nonnull(r);
    r->w = w;
    r->path = strdup("/v1/models");
    ck_assert_ptr_nonnull(r->path);
    snprintf(r->rid, sizeof(r->rid), "test");
    w->inflight++;
    return r;
}

/* Every reply path ends a request whose r->ev is NULL without touching libevent. */
START_TEST(reply_without_evhttp_request)
{
    static const char *const origins[] = {"*"};
    struct cfg cfg = {.cors_allow_origins = (char **)origins, .n_cors_allow_origins = 1};
    struct gw_app app = {.cfg = &cfg};
    struct gw_worker w = {.app = &app};
    struct evbuffer *buf = evbuffer_new();
    struct gw_req *r;

    ck_assert_ptr_nonnull(buf);
    r = gone_req(&w);
    gw_reply_header(r, "Retry-After", "1");
    gw_reply_error(r, 503, "service_starting", "starting");
    r = gone_req(&w);
    gw_reply_json(r, 200, json_pack("{s:i}", "a", 1));
    r = gone_req(&w);
    gw_reply_raw(r, 200, "text/plain", "ok", 2);
    r = gone_req(&w);
    gw_reply_errorf(r, 404, "not_found", "no %s", "thing");
    r = gone_req(&w);
    gw_reply_stream_start(r, 200, "text/event-stream");
    evbuffer_add_printf(buf, "data: x\n\n");
    ck_assert_uint_eq(gw_reply_stream_send(r, buf, NULL, NULL), 0);
    ck_assert_uint_eq(evbuffer_get_length(buf), 0);
    gw_reply_stream_end(r);
    r = gone_req(&w);
    gw_reply_gone(r);
    ck_assert_uint_eq(w.inflight, 0);
    evbuffer_free(buf);
}
END_TEST

Suite *conn_suite(void)
{
    Suite *s = suite_create("conn");
    TCase *pass = tcase_create("pass");
    TCase *reject = tcase_create("reject");
    TCase *timer = tcase_create("timeout");
    TCase *out = tcase_create("output");
    TCase *early = tcase_create("early");
    TCase *reply = tcase_create("reply");

    tcase_add_test(pass, keepalive_get_post);
    tcase_add_test(pass, pipelined_one_write);
    tcase_add_test(pass, body_in_small_writes);
    tcase_add_test(pass, chunked_body);
    tcase_add_test(pass, expect_continue);
    tcase_add_test(pass, client_gone_mid_request);
    tcase_add_test(pass, pipelined_while_busy);
    tcase_add_test(pass, client_gone_while_busy);
    tcase_add_test(reject, head_too_big_431);
    tcase_add_test(reject, content_length_too_big_413);
    tcase_add_test(reject, chunked_too_big_413);
    tcase_add_test(reject, invalid_content_length_400);
    tcase_add_test(reject, pipelined_then_rejected);
    tcase_add_test(reject, not_http_rejected_at_once);
    tcase_add_test(timer, read_timeout_408);
    tcase_add_test(timer, idle_is_not_timed);
    tcase_add_test(timer, timer_waits_for_busy_evhttp);
    tcase_add_test(out, close_and_big_responses);
    tcase_add_test(out, streamed_response);
    tcase_add_test(out, client_socket_nodelay);
    tcase_add_test(out, client_gone_mid_response);
    tcase_add_test(early, refused_before_body);
    tcase_add_test(early, refused_expect_continue);
    tcase_add_test(early, refused_pipelined_chunked);
    tcase_add_test(early, marker_cannot_be_forged);
    tcase_add_test(early, blocking_client_reads_413);
    tcase_add_test(early, linger_bounded_in_bytes);
    tcase_add_test(early, linger_bounded_in_time);
    tcase_add_test(reply, reply_without_evhttp_request);
    tcase_set_timeout(timer, 6);
    tcase_set_timeout(early, 10);
    suite_add_tcase(s, pass);
    suite_add_tcase(s, reject);
    suite_add_tcase(s, timer);
    suite_add_tcase(s, out);
    suite_add_tcase(s, early);
    suite_add_tcase(s, reply);
    return s;
}
