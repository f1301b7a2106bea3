/*
 * End-to-end tests of the gateway's edge against hostile or careless clients (DESIGN.md §2.14):
 * credentials are checked from the head before the body is read (401 even for a malformed,
 * chunked, pipelined or 100-continue body, and a keyless 16 MiB body costs no memory), error
 * answers are readable by clients that write their whole body first (lingering close), and the
 * framer's internal reject route cannot be called from outside.
 */
#include <check.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>

#include "t_api.h"
#include "t_gw.h"

/* A well-formed virtual key that no database knows. */
#define EDGE_UNKNOWN_KEY "gw-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
#define EDGE_MIB (1024 * 1024)

static struct t_gw gw;

static void edge_start(const char *yaml_extra)
{
    char yaml[512];

    snprintf(yaml, sizeof(yaml), "master_key: " T_MASTER_KEY "\nbootstrap_api_key: false\n%s",
             yaml_extra != NULL ? yaml_extra : "");
    ck_assert_msg(t_gw_start(&gw, yaml, NULL, NULL) == 0, "gateway did not start");
}

static void edge_stop(void)
{
    ck_assert_int_eq(t_gw_stop(&gw, SIGTERM, 10000), 0);
}

/* Asserts status and the detail string of an error answer (DESIGN.md §2.3 shape). */
static void edge_assert_error(const struct t_resp *r, int status, const char *detail)
{
    json_t *j = t_json(r);

    ck_assert_int_eq(r->status, status);
    ck_assert_str_eq(json_string_value(json_object_get(j, "detail")), detail);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "error"), "message")),
                     detail);
    json_decref(j);
}

/* Sends raw bytes on a new connection and asserts the error answer. */
static void edge_expect(const char *req, int status, const char *detail)
{
    struct t_resp r;

    ck_assert_int_eq(t_http_raw(gw.port, req, strlen(req), &r, 5000), 0);
    edge_assert_error(&r, status, detail);
    t_resp_free(&r);
}

static int edge_connect(void)
{
    int fd = t_connect(gw.port);

    ck_assert_int_ge(fd, 0);
    return fd;
}

static void edge_send(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        ck_assert_msg(w > 0, "send failed: the gateway closed under the client");
        p += w;
        n -= (size_t)w;
    }
}

static void edge_sends(int fd, const char *s)
{
    edge_send(fd, s, strlen(s));
}

/* Sends n bytes of body in a blocking fashion from a small send buffer. */
static void edge_send_body(int fd, size_t n)
{
    static char chunk[65536];
    int sz = 16384;

    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
    memset(chunk, 'b', sizeof(chunk));
    while (n > 0) {
        size_t k = n < sizeof(chunk) ? n : sizeof(chunk);
        edge_send(fd, chunk, k);
        n -= k;
    }
}

/* Every byte the gateway sends on fd until it closes (or timeout_ms); owned, NUL-terminated. */
static char *edge_read_all(int fd, int timeout_ms)
{
    size_t cap = 65536, got = 0;
    char *buf = malloc(cap);

    ck_assert_ptr_nonnull(buf);
    for (;;) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        ssize_t n;
        if (poll(&pfd, 1, timeout_ms) <= 0)
            break;
        n = recv(fd, buf + got, cap - got - 1, 0);
        if (n <= 0)
            break;
        got += (size_t)n;
        ck_assert_uint_lt(got, cap - 1);
    }
    buf[got] = '\0';
    return buf;
}

/* Peak resident set of the gateway (VmHWM, KiB). */
static long edge_hwm_kib(void)
{
    char path[64], *status, *p;
    long kib = -1;

    snprintf(path, sizeof(path), "/proc/%d/status", (int)gw.pid);
    status = t_read_file(path);
    ck_assert_ptr_nonnull(status);
    p = strstr(status, "VmHWM:");
    if (p != NULL)
        kib = strtol(p + 6, NULL, 10);
    free(status);
    return kib;
}

START_TEST(credentials_before_body)
{
    struct t_resp r;
    char h[128];

    edge_start(NULL);
    /* No key, malformed JSON: 401 (the reference says 422 first). */
    edge_expect(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\n{not json", 401,
        "Missing X-AnyLLM-Key or Authorization header");
    edge_expect("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Basic eA==\r\n"
                "Content-Length: 9\r\n\r\n{not json",
                401, "Invalid header format. Expected 'Bearer <token>'");
    edge_expect(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " EDGE_UNKNOWN_KEY
        "\r\nContent-Length: 9\r\n\r\n{not json",
        401, "Invalid API key");
    edge_expect("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nx-api-key: short\r\n"
                "Content-Length: 9\r\n\r\n{not json",
                401, "Invalid API key format: API key must start with 'gw-' prefix");
    /* Admin routes want the master key: a virtual key is refused the same way. */
    edge_expect("PATCH /v1/users/u1 HTTP/1.1\r\nHost: x\r\nAnyLLM-Key: Bearer " EDGE_UNKNOWN_KEY
                "\r\nContent-Length: 9\r\n\r\n{not json",
                401, "Invalid master key");
    /* The handler's headers: the request id is echoed. */
    ck_assert_int_eq(
        t_http(gw.port, "POST", "/v1/keys", "X-Request-Id: edge-1\r\n", "{not json", &r), 0);
    edge_assert_error(&r, 401, "Missing X-AnyLLM-Key or Authorization header");
    ck_assert_str_eq(t_header(&r, "X-Request-Id", h, sizeof(h)), "edge-1");
    t_resp_free(&r);
    /* A valid key still reaches the handler, which parses the body. */
    ck_assert_int_eq(t_http(gw.port, "POST", "/v1/chat/completions", T_AUTH, "{not json", &r), 0);
    ck_assert_int_eq(r.status, 422);
    t_resp_free(&r);
    /* Public routes need no key. */
    ck_assert_int_eq(t_http(gw.port, "GET", "/v1/pricing", NULL, NULL, &r), 0);
    ck_assert_int_eq(r.status, 200);
    t_resp_free(&r);
    edge_stop();
}
END_TEST

/* 100-continue, chunked and pipelined requests get the 401 from their head alone. */
START_TEST(credentials_expect_chunked_pipelined)
{
    struct t_resp r;
    char *all;
    int fd;

    edge_start(NULL);
    fd = edge_connect();
    edge_sends(fd, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                   "Content-Length: 100000\r\n\r\n");
    ck_assert_int_eq(t_http_read(fd, &r, 2000), 0);
    edge_assert_error(&r, 401, "Missing X-AnyLLM-Key or Authorization header"); /* not a 100 */
    t_resp_free(&r);
    close(fd);

    fd = edge_connect();
    edge_sends(fd,
               "POST /v1/keys HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{not");
    ck_assert_int_eq(t_http_read(fd, &r, 2000), 0);
    edge_assert_error(&r, 401, "Missing X-AnyLLM-Key or Authorization header");
    t_resp_free(&r);
    close(fd);

    fd = edge_connect();
    edge_sends(fd, "GET /v1/models HTTP/1.1\r\nHost: x\r\n" T_AUTH "\r\n"
                   "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                   "Content-Length: 100000\r\n\r\n{\"model\":");
    /* Both answers may come in one read: look at the raw bytes. */
    all = edge_read_all(fd, 3000);
    ck_assert_ptr_nonnull(strstr(all, "HTTP/1.1 200 OK\r\n"));
    ck_assert_ptr_nonnull(strstr(all, "HTTP/1.1 401 Unauthorized\r\n"));
    ck_assert_ptr_nonnull(
        strstr(all, "\"detail\":\"Missing X-AnyLLM-Key or Authorization header\""));
    ck_assert(strstr(all, "HTTP/1.1 200 OK\r\n") < strstr(all, "HTTP/1.1 401"));
    free(all);
    close(fd);
    edge_stop();
}
END_TEST

/* The framer's internal route is not a route for clients. */
START_TEST(reject_route_unreachable)
{
    edge_start(NULL);
    edge_expect("GET /_gw/reject/413 HTTP/1.1\r\nHost: x\r\n\r\n", 404, "Not Found");
    edge_expect("POST /_gw/reject/401 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 404,
                "Not Found");
    edge_expect("GET /_gw/reject/431 HTTP/1.1\r\nHost: x\r\n"
                "X-Gw-Internal: 00000000000000000000000000000000 431\r\n\r\n",
                404, "Not Found");
    edge_stop();
}
END_TEST

/*
 * Clients that write their whole body before reading (Python's http.client, httpx) read the 413,
 * and the early 401, instead of a broken pipe.
 */
START_TEST(blocking_clients_read_errors)
{
    struct t_resp r;
    char head[256];
    int fd;

    edge_start("max_body_size: 65536\n");
    fd = edge_connect();
    snprintf(head, sizeof(head),
             "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n" T_AUTH
             "Content-Length: %d\r\n\r\n",
             EDGE_MIB);
    edge_sends(fd, head);
    usleep(100000); /* the 413 is out before the body is sent */
    edge_send_body(fd, EDGE_MIB);
    ck_assert_int_eq(t_http_read(fd, &r, 5000), 0);
    edge_assert_error(&r, 413, "Request body too large (limit 65536 bytes)");
    t_resp_free(&r);
    close(fd);

    fd = edge_connect();
    snprintf(head, sizeof(head),
             "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 60000\r\n\r\n");
    edge_sends(fd, head);
    usleep(100000);
    edge_send_body(fd, 60000);
    ck_assert_int_eq(t_http_read(fd, &r, 5000), 0);
    edge_assert_error(&r, 401, "Missing X-AnyLLM-Key or Authorization header");
    t_resp_free(&r);
    close(fd);
    edge_stop();
}
END_TEST

/* A keyless 16 MiB body: the 401 comes after the head, and the body is never held in memory. */
START_TEST(keyless_16mib_costs_nothing)
{
    size_t n = 16 * EDGE_MIB;
    struct t_resp r;
    char head[256];
    long hwm0, hwm1;
    int fd;

    edge_start("max_body_size: 33554432\n");
    hwm0 = edge_hwm_kib();
    fd = edge_connect();
    snprintf(head, sizeof(head),
             "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n", n);
    edge_sends(fd, head);
    edge_send_body(fd, 4096);
    ck_assert_int_eq(t_http_read(fd, &r, 3000), 0); /* before the rest of the body */
    edge_assert_error(&r, 401, "Missing X-AnyLLM-Key or Authorization header");
    t_resp_free(&r);
    edge_send_body(fd, n - 4096); /* discarded as it comes */
    close(fd);
    usleep(200000);
    hwm1 = edge_hwm_kib();
    ck_assert_msg(hwm1 - hwm0 < 8 * 1024, "peak RSS grew by %ld KiB", hwm1 - hwm0);
    edge_stop();
}
END_TEST

Suite *e2e_edge_suite(void)
{
    Suite *s = suite_create("e2e_edge");
    TCase *tc = tcase_create("edge");

    tcase_add_test(tc, credentials_before_body);
    tcase_add_test(tc, credentials_expect_chunked_pipelined);
    tcase_add_test(tc, reject_route_unreachable);
    tcase_add_test(tc, blocking_clients_read_errors);
    tcase_add_test(tc, keyless_16mib_costs_nothing);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    return s;
}
