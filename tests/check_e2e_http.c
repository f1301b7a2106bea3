/*
 * End-to-end tests of the HTTP foundation against the real binary: health probes, 404/405,
 * limits (413/431/408), CORS, security headers, request ids, the database it creates, the CLI
 * and graceful shutdown.
 */
#include <check.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <sqlite3.h>

#include "t_gw.h"
#include "t_pg.h"

static struct t_gw gw;

static void start_or_fail(const char *yaml)
{
    ck_assert_msg(t_gw_start(&gw, yaml, NULL, NULL) == 0, "gateway did not start");
}

static void stop_ok(void)
{
    ck_assert_int_eq(t_gw_stop(&gw, SIGTERM, 10000), 0);
}

static json_t *body_json(const struct t_resp *r)
{
    json_t *j = json_loadb(r->body, r->body_len, JSON_DECODE_ANY, NULL);
    ck_assert_msg(j != NULL, "body is not JSON: %s", r->body);
    return j;
}

/* Checks the DESIGN.md §2.3 error shape and returns the detail string. */
static void assert_error(const struct t_resp *r, int status, const char *detail, const char *type)
{
    char ct[128];
    json_t *j;

    ck_assert_int_eq(r->status, status);
    ck_assert_ptr_nonnull(t_header(r, "Content-Type", ct, sizeof(ct)));
    ck_assert_str_eq(ct, "application/json");
    j = body_json(r);
    ck_assert_str_eq(json_string_value(json_object_get(j, "detail")), detail);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "error"), "message")),
                     detail);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "error"), "type")), type);
    json_decref(j);
}

START_TEST(health_endpoints)
{
    struct t_resp r;
    char h[256];
    json_t *j;

    start_or_fail(NULL);
    ck_assert_int_eq(t_http(gw.port, "GET", "/health", NULL, NULL, &r), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "{\"status\":\"healthy\"}");
    ck_assert_str_eq(t_header(&r, "Content-Type", h, sizeof(h)), "application/json");
    ck_assert_str_eq(t_header(&r, "X-Content-Type-Options", h, sizeof(h)), "nosniff");
    ck_assert_str_eq(t_header(&r, "X-Frame-Options", h, sizeof(h)), "DENY");
    ck_assert_str_eq(t_header(&r, "Referrer-Policy", h, sizeof(h)),
                     "strict-origin-when-cross-origin");
    /* /health* paths are cacheable: no Cache-Control / Vary from the security middleware. */
    ck_assert_ptr_null(t_header(&r, "Cache-Control", h, sizeof(h)));
    ck_assert_ptr_null(t_header(&r, "Vary", h, sizeof(h)));
    t_resp_free(&r);

    ck_assert_int_eq(t_http(gw.port, "GET", "/health/liveness", NULL, NULL, &r), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "\"I'm alive!\"");
    t_resp_free(&r);

    ck_assert_int_eq(t_http(gw.port, "GET", "/health/readiness", NULL, NULL, &r), 0);
    ck_assert_int_eq(r.status, 200);
    j = body_json(&r);
    ck_assert_str_eq(json_string_value(json_object_get(j, "status")), "healthy");
    ck_assert_str_eq(json_string_value(json_object_get(j, "database")), "connected");
    ck_assert_ptr_nonnull(json_string_value(json_object_get(j, "version")));
    ck_assert_int_eq(json_object_size(j), 3);
    json_decref(j);
    t_resp_free(&r);
    stop_ok();
}
END_TEST

START_TEST(readiness_fails_without_database)
{
    struct t_resp r;
    json_t *j, *d;

    start_or_fail(NULL);
    /* Break the schema under the running gateway: readiness must notice, then recover. */
    ck_assert_int_eq(t_sql_exec(gw.db, "ALTER TABLE schema_migrations RENAME TO sm_moved"), 0);
    ck_assert_int_eq(t_http(gw.port, "GET", "/health/readiness", NULL, NULL, &r), 0);
    ck_assert_int_eq(r.status, 503);
    j = body_json(&r);
    d = json_object_get(j, "detail");
    ck_assert_str_eq(json_string_value(json_object_get(d, "status")), "unhealthy");
    ck_assert_str_eq(json_string_value(json_object_get(d, "database")), "unavailable");
    ck_assert_ptr_nonnull(json_string_value(json_object_get(d, "version")));
    ck_assert_ptr_nonnull(json_object_get(j, "error"));
    json_decref(j);
    t_resp_free(&r);
    ck_assert_int_eq(t_sql_exec(gw.db, "ALTER TABLE sm_moved RENAME TO schema_migrations"), 0);
    ck_assert_int_eq(t_http(gw.port, "GET", "/health/readiness", NULL, NULL, &r), 0);
    ck_assert_int_eq(r.status, 200);
    t_resp_free(&r);
    stop_ok();
}
END_TEST

START_TEST(root_page)
{
    struct t_resp r;
    char h[256];

    start_or_fail(NULL);
    ck_assert_int_eq(t_http(gw.port, "GET", "/", NULL, NULL, &r), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(t_header(&r, "Content-Type", h, sizeof(h)), "text/html; charset=utf-8");
    ck_assert_ptr_nonnull(strstr(r.body, "AI Gateway (Proxy Server)"));
    ck_assert_ptr_nonnull(strstr(r.body, "Gateway Quickstart"));
    ck_assert_ptr_nonnull(strstr(r.body, "bootstrap API key"));
    ck_assert_ptr_nonnull(strstr(r.body, "from openai import OpenAI"));
    ck_assert_ptr_nonnull(strstr(r.body, "YOUR_GATEWAY_KEY"));
    ck_assert_ptr_nonnull(strstr(r.body, "https://docs.mozilla.ai/any-llm/gateway/quickstart/"));
    ck_assert_str_eq(t_header(&r, "Cache-Control", h, sizeof(h)), "private, no-store, no-cache");
    ck_assert_str_eq(t_header(&r, "Vary", h, sizeof(h)), "Authorization");
    t_resp_free(&r);
    stop_ok();
}
END_TEST

START_TEST(not_found_and_method)
{
    struct t_resp r;
    char h[256];

    start_or_fail(NULL);
    ck_assert_int_eq(t_http(gw.port, "GET", "/no/such/path", NULL, NULL, &r), 0);
    assert_error(&r, 404, "Not Found", "not_found_error");
    ck_assert_str_eq(t_header(&r, "Cache-Control", h, sizeof(h)), "private, no-store, no-cache");
    t_resp_free(&r);

    ck_assert_int_eq(t_http(gw.port, "POST", "/health", NULL, "{}", &r), 0);
    assert_error(&r, 405, "Method Not Allowed", "invalid_request_error");
    ck_assert_str_eq(t_header(&r, "Allow", h, sizeof(h)), "GET");
    t_resp_free(&r);

    ck_assert_int_eq(t_http(gw.port, "DELETE", "/health/readiness", NULL, NULL, &r), 0);
    assert_error(&r, 405, "Method Not Allowed", "invalid_request_error");
    t_resp_free(&r);

    /* A path that is not UTF-8 still gets a complete error body. */
    ck_assert_int_eq(t_http(gw.port, "GET", "/v1/pricing/%FFx", NULL, NULL, &r), 0);
    assert_error(&r, 404, "Pricing for model '?x' not found", "not_found_error");
    t_resp_free(&r);

    /* A path that decodes to an embedded NUL is refused, not truncated. */
    ck_assert_int_eq(t_http(gw.port, "GET", "/health%00x", NULL, NULL, &r), 0);
    ck_assert_int_eq(r.status, 400);
    t_resp_free(&r);

    /* Garbage instead of HTTP: an error answer or a close, and the server keeps serving. */
    ck_assert_int_ge(t_http_raw(gw.port, "\x01\x02garbage\r\n\r\n", 13, &r, 3000), -1);
    t_resp_free(&r);
    ck_assert_int_eq(t_http(gw.port, "GET", "/health", NULL, NULL, &r), 0);
    ck_assert_int_eq(r.status, 200);
    t_resp_free(&r);
    stop_ok();
}
END_TEST

/* Protocol errors are JSON like every other error; bytes that are not HTTP are refused at once. */
START_TEST(protocol_errors_json)
{
    static const char hello[] = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03";
    struct t_resp r;
    const char *req;
    char h[256];
    struct timespec t0, t1;

    start_or_fail(NULL);
    /* A TLS ClientHello or an SSH banner: 400 without waiting for read_timeout (30 s). */
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ck_assert_int_eq(t_http_raw(gw.port, hello, sizeof(hello) - 1, &r, 3000), 0);
    assert_error(&r, 400, "Malformed HTTP request", "invalid_request_error");
    t_resp_free(&r);
    req = "SSH-2.0-OpenSSH_9.6\r\n";
    ck_assert_int_eq(t_http_raw(gw.port, req, strlen(req), &r, 3000), 0);
    assert_error(&r, 400, "Malformed HTTP request", "invalid_request_error");
    t_resp_free(&r);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ck_assert_int_lt((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000, 2000);

    /* An unknown method: JSON 501 (libevent answered with an HTML page). */
    req = "BREW /health HTTP/1.1\r\nHost: x\r\n\r\n";
    ck_assert_int_eq(t_http_raw(gw.port, req, strlen(req), &r, 3000), 0);
    assert_error(&r, 501, "Method Not Implemented", "server_error");
    t_resp_free(&r);
    /* A known method the route does not take: JSON 405 with Allow. */
    ck_assert_int_eq(t_http(gw.port, "PUT", "/v1/keys", NULL, "{}", &r), 0);
    assert_error(&r, 405, "Method Not Allowed", "invalid_request_error");
    ck_assert_str_eq(t_header(&r, "Allow", h, sizeof(h)), "POST, GET");
    t_resp_free(&r);

    /* HTTP/1.2 was answered as "HTTP/1.2 200": now 505 in HTTP/1.1. */
    req = "GET /health HTTP/1.2\r\nHost: x\r\n\r\n";
    ck_assert_int_eq(t_http_raw(gw.port, req, strlen(req), &r, 3000), 0);
    ck_assert_int_eq(strncmp(r.head, "HTTP/1.1 505 ", 13), 0);
    assert_error(&r, 505, "HTTP Version Not Supported: use HTTP/1.1", "server_error");
    t_resp_free(&r);
    req = "GET /health HTTP/1.0\r\n\r\n";
    ck_assert_int_eq(t_http_raw(gw.port, req, strlen(req), &r, 3000), 0);
    ck_assert_int_eq(r.status, 200);
    t_resp_free(&r);
    /* The access log shows what the client sent could not be read, not the internal route. */
    {
        char *log = t_gw_log_wait(&gw, "status=505", 3000);
        ck_assert_ptr_nonnull(log);
        ck_assert_msg(strstr(log, "_gw/reject") == NULL, "internal path in the log:\n%s", log);
        ck_assert_ptr_nonnull(strstr(log, "method=- path=- status=501"));
        free(log);
    }
    stop_ok();
}
END_TEST

/* ---- connection cap and descriptor exhaustion ---- */

/* CPU time (user + system) of pid so far, in clock ticks. */
static long proc_cpu_ticks(pid_t pid)
{
    char path[64], buf[1024], *p;
    unsigned long ut = 0, st = 0;
    FILE *f;
    size_t n;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    p = strrchr(buf, ')'); /* fields after the command name: state is field 3, utime 14 */
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st),
                     2);
    return (long)(ut + st);
}

static int proc_nfds(pid_t pid)
{
    char cmd[96];
    FILE *f;
    int n = -1;

    snprintf(cmd, sizeof(cmd), "ls /proc/%d/fd | wc -l", (int)pid);
    f = popen(cmd, "r");
    ck_assert_ptr_nonnull(f);
    if (fscanf(f, "%d", &n) != 1)
        n = -1;
    pclose(f);
    return n;
}

/* A connected socket that sends nothing. */
static int idle_conn(int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

/* True when the server closed fd (EOF or reset), without waiting. */
static bool closed_by_server(int fd)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    char c;

    if (poll(&pfd, 1, 0) <= 0)
        return false;
    return recv(fd, &c, 1, MSG_DONTWAIT) <= 0;
}

static int count_lines(const char *path, const char *needle)
{
    char *log = t_read_file(path);
    int n = 0;

    for (const char *p = log; p != NULL && (p = strstr(p, needle)) != NULL; p++)
        n++;
    free(log);
    return n;
}

/*
 * Out of file descriptors with idle clients holding them: accepting pauses instead of spinning
 * (was: 100 % CPU per worker and "Too many open files" logged in a loop), one warning a second
 * at most, and idle connections are closed so that a new request is still served.
 */
START_TEST(fd_exhaustion_no_spin)
{
    enum { NIDLE = 40 };
    int fds[NIDLE], nfd;
    struct rlimit rl;
    struct t_resp r;
    long c0, c1;

    start_or_fail(NULL);
    nfd = proc_nfds(gw.pid);
    ck_assert_int_gt(nfd, 0);
    rl.rlim_cur = rl.rlim_max = (rlim_t)nfd + 8;
    ck_assert_int_eq(syscall(SYS_prlimit64, gw.pid, RLIMIT_NOFILE, &rl, NULL), 0);
    for (int i = 0; i < NIDLE; i++)
        fds[i] = idle_conn(gw.port);
    usleep(300000);
    c0 = proc_cpu_ticks(gw.pid);
    usleep(1000000);
    c1 = proc_cpu_ticks(gw.pid);
    ck_assert_msg(c1 - c0 < 30, "gateway used %ld ticks of CPU in 1 s", c1 - c0);
    ck_assert_int_ge(count_lines(gw.logpath, "cannot accept connections"), 1);
    ck_assert_int_le(count_lines(gw.logpath, "cannot accept connections"), 6);
    ck_assert_int_le(count_lines(gw.logpath, "Too many open files"), 6);
    /* Idle connections make room, oldest first: a new client is served. */
    ck_assert_int_eq(t_http(gw.port, "GET", "/health", NULL, NULL, &r), 0);
    ck_assert_int_eq(r.status, 200);
    t_resp_free(&r);
    for (int i = 0; i < NIDLE; i++)
        close(fds[i]);
    stop_ok();
}
END_TEST

/*
 * max_connections: idle connections beyond the cap are closed, oldest first, but never one with
 * a request in progress; a new client is served.
 */
START_TEST(max_connections_cap)
{
    enum { NIDLE = 10 };
    const char *part = "GET /health HTTP/1.1\r\nHost: x\r\n";
    int fds[NIDLE], busy, closed = 0;
    struct t_resp r;
    char buf[512];
    ssize_t n;

    start_or_fail("max_connections: 4\n"); /* 2 workers: 2 each */
    busy = idle_conn(gw.port);
    ck_assert_int_eq(send(busy, part, strlen(part), 0), (ssize_t)strlen(part));
    for (int i = 0; i < NIDLE; i++) {
        fds[i] = idle_conn(gw.port);
        usleep(20000);
    }
    for (int k = 0; k < 50 && closed < NIDLE - 4; k++) {
        usleep(100000);
        closed = 0;
        for (int i = 0; i < NIDLE; i++)
            closed += closed_by_server(fds[i]);
    }
    ck_assert_msg(closed >= NIDLE - 4, "only %d idle connections closed", closed);
    /* The connection with a request in progress was kept: it completes now. */
    ck_assert_int_eq(send(busy, "\r\n", 2, 0), 2);
    {
        struct pollfd pfd = {.fd = busy, .events = POLLIN};
        ck_assert_int_eq(poll(&pfd, 1, 5000), 1);
    }
    n = recv(busy, buf, sizeof(buf) - 1, 0);
    ck_assert_int_gt(n, 12);
    buf[n] = '\0';
    ck_assert_int_eq(strncmp(buf, "HTTP/1.1 200 ", 13), 0);
    ck_assert_int_eq(t_http(gw.port, "GET", "/health", NULL, NULL, &r), 0);
    ck_assert_int_eq(r.status, 200);
    t_resp_free(&r);
    close(busy);
    for (int i = 0; i < NIDLE; i++)
        close(fds[i]);
    stop_ok();
}
END_TEST

/* serve raises the soft descriptor limit to the hard one. */
START_TEST(fd_limit_raised)
{
    struct rlimit rl;
    char path[64], *limits = NULL, want[128];
    const char *line;

    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max <= 256)
        return; /* nothing to raise */
    rl.rlim_cur = 256;
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0); /* inherited by the gateway */
    start_or_fail(NULL);
    snprintf(path, sizeof(path), "cat /proc/%d/limits", (int)gw.pid);
    {
        FILE *f = popen(path, "r");
        size_t n;
        ck_assert_ptr_nonnull(f);
        limits = calloc(1, 8192);
        n = fread(limits, 1, 8191, f);
        pclose(f);
        ck_assert_uint_gt(n, 0);
    }
    line = strstr(limits, "Max open files");
    ck_assert_ptr_nonnull(line);
    if (rl.rlim_max == RLIM_INFINITY)
        snprintf(want, sizeof(want), "unlimited");
    else
        snprintf(want, sizeof(want), "%llu", (unsigned long long)rl.rlim_max);
    ck_assert_msg(strncmp(line + 26, want, strlen(want)) == 0, "limits: %.80s", line);
    free(limits);
    stop_ok();
}
END_TEST

START_TEST(limits_body_and_headers)
{
    struct t_resp r;
    char *big, *hdr;
    const char *req;

    start_or_fail("max_body_size: 1024\nmax_header_size: 2048\n");
    /* Declared length over the limit: 413 without reading the body. */
    req = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n";
    ck_assert_int_eq(t_http_raw(gw.port, req, strlen(req), &r, 5000), 0);
    assert_error(&r, 413, "Request body too large (limit 1024 bytes)", "invalid_request_error");
    t_resp_free(&r);

    /* A full oversized body too. */
    big = malloc(3000);
    memset(big, 'a', 2999);
    big[2999] = '\0';
    ck_assert_int_eq(t_http(gw.port, "POST", "/v1/chat/completions", NULL, big, &r), 0);
    ck_assert_int_eq(r.status, 413);
    t_resp_free(&r);
    free(big);

    /* Headers over the limit: 431. */
    hdr = malloc(4000);
    memcpy(hdr, "X-Big: ", 7);
    memset(hdr + 7, 'b', 3000);
    memcpy(hdr + 3007, "\r\n", 3);
    ck_assert_int_eq(t_http(gw.port, "GET", "/health", hdr, NULL, &r), 0);
    assert_error(&r, 431, "Request header fields too large (limit 2048 bytes)",
                 "invalid_request_error");
    t_resp_free(&r);
    free(hdr);

    /* Still serving. */
    ck_assert_int_eq(t_http(gw.port, "GET", "/health", NULL, NULL, &r), 0);
    ck_assert_int_eq(r.status, 200);
    t_resp_free(&r);
    stop_ok();
}
END_TEST

START_TEST(limits_read_timeout)
{
    struct t_resp r;
    const char *partial = "POST /v1/nosuch HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{";

    start_or_fail("read_timeout: 1\n");
    ck_assert_int_eq(t_http_raw(gw.port, partial, strlen(partial), &r, 5000), 0);
    ck_assert_int_eq(r.status, 408);
    ck_assert_ptr_nonnull(strstr(r.body, "\"detail\""));
    t_resp_free(&r);
    stop_ok();
}
END_TEST

START_TEST(request_id)
{
    struct t_resp r;
    char h[256], h2[256];

    start_or_fail(NULL);
    ck_assert_int_eq(t_http(gw.port, "GET", "/health", "X-Request-Id: abc-123.x\r\n", NULL, &r), 0);
    ck_assert_str_eq(t_header(&r, "X-Request-Id", h, sizeof(h)), "abc-123.x");
    t_resp_free(&r);
    /* An unsafe id is replaced by a generated one. */
    ck_assert_int_eq(t_http(gw.port, "GET", "/nope", "X-Request-Id: a b<script>\r\n", NULL, &r), 0);
    ck_assert_ptr_nonnull(t_header(&r, "X-Request-Id", h, sizeof(h)));
    ck_assert_ptr_null(strchr(h, '<'));
    ck_assert_int_ge(strlen(h), 16);
    t_resp_free(&r);
    ck_assert_int_eq(t_http(gw.port, "GET", "/health", NULL, NULL, &r), 0);
    ck_assert_ptr_nonnull(t_header(&r, "X-Request-Id", h2, sizeof(h2)));
    ck_assert_str_ne(h, h2);
    t_resp_free(&r);
    stop_ok();
}
END_TEST

START_TEST(cors_explicit_origin)
{
    struct t_resp r;
    char h[256];

    start_or_fail("cors_allow_origins: [\"https://app.example\"]\n");
    ck_assert_int_eq(t_http(gw.port, "GET", "/health", "Origin: https://app.example\r\n", NULL, &r),
                     0);
    ck_assert_str_eq(t_header(&r, "Access-Control-Allow-Origin", h, sizeof(h)),
                     "https://app.example");
    ck_assert_str_eq(t_header(&r, "Access-Control-Allow-Credentials", h, sizeof(h)), "true");
    t_resp_free(&r);

    ck_assert_int_eq(
        t_http(gw.port, "GET", "/health", "Origin: https://evil.example\r\n", NULL, &r), 0);
    ck_assert_ptr_null(t_header(&r, "Access-Control-Allow-Origin", h, sizeof(h)));
    t_resp_free(&r);

    ck_assert_int_eq(t_http(gw.port, "OPTIONS", "/v1/chat/completions",
                            "Origin: https://app.example\r\n"
                            "Access-Control-Request-Method: POST\r\n"
                            "Access-Control-Request-Headers: content-type, x-anyllm-key\r\n",
                            NULL, &r),
                     0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "OK");
    ck_assert_str_eq(t_header(&r, "Access-Control-Allow-Origin", h, sizeof(h)),
                     "https://app.example");
    ck_assert_str_eq(t_header(&r, "Access-Control-Allow-Methods", h, sizeof(h)),
                     "GET, POST, PATCH, DELETE, OPTIONS");
    ck_assert_ptr_nonnull(
        strstr(t_header(&r, "Access-Control-Allow-Headers", h, sizeof(h)), "X-AnyLLM-Key"));
    ck_assert_str_eq(t_header(&r, "Access-Control-Allow-Credentials", h, sizeof(h)), "true");
    ck_assert_str_eq(t_header(&r, "Access-Control-Max-Age", h, sizeof(h)), "600");
    /* Preflight answers do not pass through the security headers. */
    ck_assert_ptr_null(t_header(&r, "X-Frame-Options", h, sizeof(h)));
    t_resp_free(&r);

    ck_assert_int_eq(t_http(gw.port, "OPTIONS", "/v1/models",
                            "Origin: https://evil.example\r\n"
                            "Access-Control-Request-Method: PUT\r\n",
                            NULL, &r),
                     0);
    ck_assert_int_eq(r.status, 400);
    ck_assert_str_eq(r.body, "Disallowed CORS origin, method");
    t_resp_free(&r);
    stop_ok();
}
END_TEST

/* The preflight's requested method is one exact, case-sensitive token of the allowed list. */
START_TEST(cors_method_exact_token)
{
    static const char *const bad[] = {"OST", "ETE", "GE", "post", "GET, POST", "POSTX", ","};
    static const char *const good[] = {"GET", "POST", "PATCH", "DELETE", "OPTIONS"};
    struct t_resp r;
    char hdr[256];

    start_or_fail("cors_allow_origins: [\"https://app.example\"]\n");
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(hdr, sizeof(hdr),
                 "Origin: https://app.example\r\nAccess-Control-Request-Method: %s\r\n", bad[i]);
        ck_assert_int_eq(t_http(gw.port, "OPTIONS", "/v1/chat/completions", hdr, NULL, &r), 0);
        ck_assert_msg(r.status == 400, "method '%s' got %d", bad[i], r.status);
        ck_assert_str_eq(r.body, "Disallowed CORS method");
        t_resp_free(&r);
    }
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        snprintf(hdr, sizeof(hdr),
                 "Origin: https://app.example\r\nAccess-Control-Request-Method: %s\r\n", good[i]);
        ck_assert_int_eq(t_http(gw.port, "OPTIONS", "/v1/chat/completions", hdr, NULL, &r), 0);
        ck_assert_msg(r.status == 200, "method '%s' got %d", good[i], r.status);
        t_resp_free(&r);
    }
    stop_ok();
}
END_TEST

START_TEST(cors_wildcard_and_off)
{
    struct t_resp r;
    char h[256];

    start_or_fail("cors_allow_origins: [\"*\"]\n");
    ck_assert_int_eq(t_http(gw.port, "GET", "/health", "Origin: https://any.example\r\n", NULL, &r),
                     0);
    ck_assert_str_eq(t_header(&r, "Access-Control-Allow-Origin", h, sizeof(h)), "*");
    ck_assert_ptr_null(t_header(&r, "Access-Control-Allow-Credentials", h, sizeof(h)));
    t_resp_free(&r);
    stop_ok();

    /* No origins configured: no CORS at all, OPTIONS is just another method. */
    start_or_fail(NULL);
    ck_assert_int_eq(t_http(gw.port, "OPTIONS", "/health",
                            "Origin: https://any.example\r\n"
                            "Access-Control-Request-Method: GET\r\n",
                            NULL, &r),
                     0);
    ck_assert_int_eq(r.status, 405);
    ck_assert_ptr_null(t_header(&r, "Access-Control-Allow-Origin", h, sizeof(h)));
    t_resp_free(&r);
    stop_ok();
}
END_TEST

START_TEST(database_created_and_migrated)
{
    char *v;

    start_or_fail(NULL);
    v = t_sql(gw.db, "SELECT count(*) FROM schema_migrations WHERE version = '0001_initial'");
    ck_assert_ptr_nonnull(v);
    ck_assert_str_eq(v, "1");
    free(v);
    v = t_sql(gw.db, t_pg_backend()
                         ? "SELECT count(*) FROM information_schema.tables WHERE "
                           "table_schema = 'public' AND table_name IN "
                           "('budgets','model_pricing','users','api_keys','usage_logs',"
                           "'budget_reset_logs')"
                         : "SELECT count(*) FROM sqlite_master WHERE type='table' AND name IN "
                           "('budgets','model_pricing','users','api_keys','usage_logs',"
                           "'budget_reset_logs')");
    ck_assert_str_eq(v, "6");
    free(v);
    if (!t_pg_backend()) {
        v = t_sql(gw.db, "PRAGMA journal_mode");
        ck_assert_str_eq(v, "wal");
        free(v);
    }
    stop_ok();
}
END_TEST

START_TEST(sigint_and_keepalive_shutdown)
{
    struct t_resp r;
    const char *two = "GET /health HTTP/1.1\r\nHost: x\r\n\r\nGET /health/liveness HTTP/1.1\r\n"
                      "Host: x\r\nConnection: close\r\n\r\n";

    start_or_fail(NULL);
    /* Two pipelined requests on one keep-alive connection. */
    ck_assert_int_eq(t_http_raw(gw.port, two, strlen(two), &r, 5000), 0);
    ck_assert_int_eq(r.status, 200);
    t_resp_free(&r);
    ck_assert_int_eq(t_gw_stop(&gw, SIGINT, 10000), 0);
}
END_TEST

/*
 * SIGTERM while a request is in flight: the gateway stops accepting, finishes the request,
 * then exits 0. The request is held in flight by a write lock the test keeps on the database.
 */
START_TEST(sigterm_drains_in_flight)
{
    const char *req = "POST /v1/budgets HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                      "Authorization: Bearer mk\r\nContent-Length: 19\r\n\r\n"
                      "{\"max_budget\": 7.5}";
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    char buf[4096], *v;
    sqlite3 *lock = NULL;
    void *pglock = NULL;
    ssize_t n, got = 0;
    int fd, st;

    start_or_fail("master_key: mk\nshutdown_timeout: 10\n");
    /* Another writer holds the database, so the insert below waits in flight. */
    if (t_pg_backend()) {
        pglock = t_pg_hold(gw.db, "LOCK TABLE budgets IN EXCLUSIVE MODE");
        ck_assert_ptr_nonnull(pglock);
    } else {
        ck_assert_int_eq(sqlite3_open(gw.db, &lock), SQLITE_OK);
        ck_assert_int_eq(sqlite3_exec(lock, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    }
    sa.sin_port = htons((uint16_t)gw.port);
    fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(send(fd, req, strlen(req), 0), (ssize_t)strlen(req));
    usleep(300 * 1000); /* the insert now waits for the lock */
    kill(gw.pid, SIGTERM);
    usleep(300 * 1000);
    ck_assert_int_eq(waitpid(gw.pid, &st, WNOHANG), 0); /* still draining */
    /* No new connections once draining. */
    ck_assert_int_ne(t_http(gw.port, "GET", "/health", NULL, NULL, &(struct t_resp){0}), 0);
    if (lock != NULL)
        sqlite3_exec(lock, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(lock);
    t_pg_release(pglock);
    while ((n = recv(fd, buf + got, sizeof(buf) - 1 - (size_t)got, 0)) > 0)
        got += n;
    buf[got] = '\0';
    close(fd);
    ck_assert_msg(strncmp(buf, "HTTP/1.1 200", 12) == 0, "got: %s", buf);
    v = t_sql(gw.db, "SELECT max_budget FROM budgets");
    ck_assert_str_eq(v, "7.5");
    free(v);
    ck_assert_int_eq(t_gw_stop(&gw, SIGTERM, 10000), 0);
}
END_TEST

START_TEST(cli_version_help_and_errors)
{
    const char *ver[] = {"--version", NULL};
    const char *help[] = {"--help", NULL};
    const char *bad[] = {"serve", "--frobnicate", NULL};
    char *out = NULL;

    ck_assert_int_eq(t_run(ver, NULL, &out), 0);
    ck_assert_ptr_nonnull(strstr(out, "any-llm-gateway"));
    free(out);
    ck_assert_int_eq(t_run(help, NULL, &out), 0);
    ck_assert_ptr_nonnull(strstr(out, "serve"));
    ck_assert_ptr_nonnull(strstr(out, "migrate"));
    free(out);
    ck_assert_int_eq(t_run(bad, NULL, &out), 2);
    ck_assert_ptr_nonnull(strstr(out, "--frobnicate"));
    free(out);
}
END_TEST

START_TEST(cli_bad_config_exits_2)
{
    char path[] = "/tmp/gwcfg-XXXXXX";
    int fd = mkstemp(path);
    const char *argv[] = {"serve", "--config", path, NULL};
    const char *chk[] = {"check-config", "--config", path, NULL};
    char *out = NULL;

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, "host: 127.0.0.1\nport: -5\n", 25), 25);
    close(fd);
    ck_assert_int_eq(t_run(argv, NULL, &out), 2);
    ck_assert_msg(strstr(out, ":2:") != NULL && strstr(out, "port") != NULL, "got: %s", out);
    free(out);

    fd = open(path, O_WRONLY | O_TRUNC);
    ck_assert_int_eq(write(fd, "host: \"unterminated\nport: 1\n", 28), 28);
    close(fd);
    ck_assert_int_eq(t_run(chk, NULL, &out), 2);
    ck_assert_msg(strstr(out, path) != NULL, "got: %s", out);
    free(out);

    fd = open(path, O_WRONLY | O_TRUNC);
    ck_assert_int_eq(write(fd, "port: 8123\nmodels: {}\n", 22), 22);
    close(fd);
    ck_assert_int_eq(t_run(chk, NULL, &out), 0);
    ck_assert_ptr_nonnull(strstr(out, "models")); /* unknown key warned about */
    ck_assert_ptr_nonnull(strstr(out, "Configuration OK"));
    free(out);
    unlink(path);
}
END_TEST

START_TEST(cli_migrate_and_init_db)
{
    char dir[] = "/tmp/gwmig-XXXXXX", url[300], dbfile[256];
    const char *mig[] = {"migrate", "--database-url", url, NULL};
    const char *init[] = {"init-db", "--database-url", url, NULL};
    const char *mig_head[] = {"migrate", "--database-url", url, "--revision", "head", NULL};
    const char *mig_bad[] = {"migrate", "--database-url", url, "--revision=zz9", NULL};
    char *out = NULL, *v;

    ck_assert_ptr_nonnull(mkdtemp(dir));
    if (t_pg_backend()) {
        ck_assert_int_eq(t_pg_newdb(dbfile, sizeof(dbfile)), 0);
        snprintf(url, sizeof(url), "%s", dbfile);
    } else {
        snprintf(dbfile, sizeof(dbfile), "%s/m.db", dir);
        snprintf(url, sizeof(url), "sqlite:///%s", dbfile);
    }
    ck_assert_int_eq(t_run(mig, NULL, &out), 0);
    free(out);
    v = t_sql(dbfile, "SELECT count(*) FROM schema_migrations");
    ck_assert_int_ge(atoi(v), 1);
    free(v);
    ck_assert_int_eq(t_run(init, NULL, &out), 0); /* idempotent */
    free(out);
    v = t_sql(dbfile, t_pg_backend()
                          ? "SELECT count(*) FROM information_schema.tables WHERE "
                            "table_schema = 'public' AND table_name = 'usage_logs'"
                          : "SELECT count(*) FROM sqlite_master WHERE name='usage_logs'");
    ck_assert_str_eq(v, "1");
    free(v);
    ck_assert_int_eq(t_run(mig_head, NULL, &out), 0);
    free(out);
    ck_assert_int_eq(t_run(mig_bad, NULL, &out), 1);
    ck_assert_msg(strstr(out, "unknown revision 'zz9' (known: head, 0001_initial") != NULL,
                  "got: %s", out);
    free(out);
    if (t_pg_backend())
        t_pg_dropdb(dbfile);
    else
        unlink(dbfile);
    rmdir(dir);
}
END_TEST

Suite *e2e_http_suite(void)
{
    Suite *s = suite_create("e2e_http");
    TCase *tc = tcase_create("http");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, health_endpoints);
    tcase_add_test(tc, readiness_fails_without_database);
    tcase_add_test(tc, root_page);
    tcase_add_test(tc, not_found_and_method);
    tcase_add_test(tc, protocol_errors_json);
    tcase_add_test(tc, limits_body_and_headers);
    tcase_add_test(tc, fd_exhaustion_no_spin);
    tcase_add_test(tc, max_connections_cap);
    tcase_add_test(tc, fd_limit_raised);
    tcase_add_test(tc, limits_read_timeout);
    tcase_add_test(tc, request_id);
    tcase_add_test(tc, cors_explicit_origin);
    tcase_add_test(tc, cors_method_exact_token);
    tcase_add_test(tc, cors_wildcard_and_off);
    tcase_add_test(tc, database_created_and_migrated);
    tcase_add_test(tc, sigint_and_keepalive_shutdown);
    tcase_add_test(tc, sigterm_drains_in_flight);
    tcase_add_test(tc, cli_version_help_and_errors);
    tcase_add_test(tc, cli_bad_config_exits_2);
    tcase_add_test(tc, cli_migrate_and_init_db);
    suite_add_tcase(s, tc);
    return s;
}
