/*
 * Tests of the fake provider (tests/fake_*.c) and its client (t_fake.c) over plain HTTP: every
 * scenario's status and body, SSE event order with and without include_usage, the control
 * endpoints, client-close detection, backpressure, and a clean (leak-free under SAN) exit with
 * requests still in flight; the same for the Anthropic Messages mode (message shape, event
 * order and framing, error types and retry-after, the checks a real API makes). The Gemini,
 * Cohere, Ollama and Voyage wires and the OpenAI embeddings are tested in check_fake_wire.c.
 */
#include <check.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>

#include "t_fake.h"
#include "t_gw.h"

#define JSON_CT "Content-Type: application/json\r\n"

static struct t_fake fk;

static long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Checked fixture: one fake per test (each test runs in its own process). */
static void fake_up(void)
{
    ck_assert_msg(t_fake_start(&fk) == 0, "fake-upstream ($GW_FAKE) did not start");
}

static void fake_down(void)
{
    t_fake_stop(&fk);
}

/* Ends a test: SIGTERM must give exit status 0 (under SAN this includes LeakSanitizer). */
static void fake_stop_clean(void)
{
    ck_assert_int_eq(t_fake_stop_rc(&fk), 0);
}

/* POSTs a chat request for model with extra top-level members (",..." or ""). */
static void chat(const char *model, const char *extra, const char *headers, struct t_resp *r)
{
    char body[1024], hdrs[512];

    snprintf(body, sizeof(body),
             "{\"model\":\"%s\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]%s}", model,
             extra);
    snprintf(hdrs, sizeof(hdrs), JSON_CT "%s", headers != NULL ? headers : "");
    ck_assert_int_eq(t_http(fk.port, "POST", "/v1/chat/completions", hdrs, body, r), 0);
}

static json_t *body_json(const struct t_resp *r)
{
    json_t *j = json_loadb(r->body, r->body_len, 0, NULL);

    ck_assert_msg(j != NULL, "body is not JSON: %s", r->body);
    return j;
}

static void assert_header(const struct t_resp *r, const char *name, const char *want)
{
    char buf[256];

    ck_assert_msg(t_header(r, name, buf, sizeof(buf)) != NULL, "no %s header", name);
    ck_assert_str_eq(buf, want);
}

/* json_string_value of a dotted path of object keys ("error.message"). */
static const char *jstr(json_t *j, const char *path)
{
    char key[64];

    while (j != NULL && *path != '\0') {
        size_t n = strcspn(path, ".");

        snprintf(key, sizeof(key), "%.*s", (int)n, path);
        j = json_object_get(j, key);
        path += n + (path[n] == '.');
    }
    return json_string_value(j);
}

static long jint(json_t *j, const char *k1, const char *k2)
{
    json_t *v = json_object_get(json_object_get(j, k1), k2);

    ck_assert_msg(json_is_integer(v), "%s.%s is not an integer", k1, k2);
    return (long)json_integer_value(v);
}

/*
 * Decodes an HTTP/1.1 chunked body into *out (owned, NUL-terminated). Returns 1 when the final
 * zero-size chunk was seen, 0 when the body stops early (truncated transfer).
 */
static int dechunk(const char *in, size_t len, char **out)
{
    size_t pos = 0, n = 0;
    char *buf = malloc(len + 1);

    ck_assert_ptr_nonnull(buf);
    *out = buf;
    for (;;) {
        char *end;
        unsigned long size;

        buf[n] = '\0';
        if (pos >= len || memchr(in + pos, '\n', len - pos) == NULL)
            return 0;
        size = strtoul(in + pos, &end, 16);
        ck_assert_msg(end != in + pos && end[0] == '\r' && end[1] == '\n', "bad chunk header");
        pos = (size_t)(end + 2 - in);
        if (size == 0)
            return pos + 2 <= len && memcmp(in + pos, "\r\n", 2) == 0 ? 1 : 0;
        if (pos + size + 2 > len) {
            memcpy(buf + n, in + pos, len - pos);
            n += len - pos;
            buf[n] = '\0';
            return 0;
        }
        memcpy(buf + n, in + pos, size);
        n += size;
        ck_assert_msg(memcmp(in + pos + size, "\r\n", 2) == 0, "chunk not followed by CRLF");
        pos += size + 2;
    }
}

/*
 * Splits an SSE body into its "data: " payloads (a JSON array of strings, owned). Every event
 * must be exactly "data: <payload>\n\n". *complete: the chunked body had its final chunk.
 */
static json_t *sse_events(const struct t_resp *r, int *complete)
{
    json_t *events = json_array();
    char *text, *p;

    ck_assert_int_eq(r->status, 200);
    assert_header(r, "Content-Type", "text/event-stream");
    assert_header(r, "Transfer-Encoding", "chunked");
    *complete = dechunk(r->body, r->body_len, &text);
    for (p = text; *p != '\0';) {
        char *end = strstr(p, "\n\n");

        ck_assert_msg(strncmp(p, "data: ", 6) == 0, "event without data: %s", p);
        ck_assert_msg(end != NULL, "unterminated event: %s", p);
        json_array_append_new(events, json_stringn(p + 6, (size_t)(end - p - 6)));
        p = end + 2;
    }
    free(text);
    return events;
}

/* Event i parsed as a JSON object (owned). */
static json_t *event_json(json_t *events, size_t i)
{
    const char *s = json_string_value(json_array_get(events, i));
    json_t *j;

    ck_assert_msg(s != NULL, "no event %zu", i);
    j = json_loads(s, 0, NULL);
    ck_assert_msg(json_is_object(j), "event %zu is not a JSON object: %s", i, s);
    return j;
}

/* Checks a content chunk: id/object/model, the delta text, role only on the first, finish. */
static void assert_chunk(json_t *events, size_t i, const char *model, const char *content,
                         bool first, const char *finish)
{
    json_t *j = event_json(events, i);
    json_t *choice = json_array_get(json_object_get(j, "choices"), 0);
    json_t *fr = json_object_get(choice, "finish_reason");

    ck_assert_str_eq(jstr(j, "id"), "chatcmpl-fake");
    ck_assert_str_eq(jstr(j, "object"), "chat.completion.chunk");
    ck_assert_str_eq(jstr(j, "model"), model);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "created")), 1700000000);
    ck_assert_int_eq(json_array_size(json_object_get(j, "choices")), 1);
    ck_assert_str_eq(jstr(choice, "delta.content"), content);
    if (first)
        ck_assert_str_eq(jstr(choice, "delta.role"), "assistant");
    else
        ck_assert_ptr_null(json_object_get(json_object_get(choice, "delta"), "role"));
    if (finish != NULL)
        ck_assert_str_eq(json_string_value(fr), finish);
    else
        ck_assert_msg(json_is_null(fr), "finish_reason of event %zu is not null", i);
    ck_assert_ptr_null(json_object_get(j, "usage"));
    json_decref(j);
}

static void assert_usage_chunk(json_t *events, size_t i, long prompt, long completion)
{
    json_t *j = event_json(events, i);

    ck_assert_str_eq(jstr(j, "object"), "chat.completion.chunk");
    ck_assert_int_eq(json_array_size(json_object_get(j, "choices")), 0);
    ck_assert_int_eq(jint(j, "usage", "prompt_tokens"), prompt);
    ck_assert_int_eq(jint(j, "usage", "completion_tokens"), completion);
    ck_assert_int_eq(jint(j, "usage", "total_tokens"), prompt + completion);
    json_decref(j);
}

static void assert_done(json_t *events, size_t i)
{
    ck_assert_str_eq(json_string_value(json_array_get(events, i)), "[DONE]");
}

/* Waits up to ms for /_stats name == want. */
static bool wait_stat(const char *name, long want, int ms)
{
    long deadline = now_ms() + ms;

    do {
        if (t_fake_stat(&fk, name) == want)
            return true;
        usleep(5000);
    } while (now_ms() < deadline);
    return false;
}

/* Opens a connection and POSTs body to path with extra headers without reading the answer. */
static int raw_post(const char *path, const char *headers, const char *body)
{
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)fk.port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    char req[1024];
    int fd = socket(AF_INET, SOCK_STREAM, 0), n;

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    n = snprintf(req, sizeof(req),
                 "POST %s HTTP/1.1\r\nHost: x\r\n" JSON_CT "%sContent-Length: %zu\r\n\r\n%s", path,
                 headers, strlen(body), body);
    ck_assert_int_lt(n, (int)sizeof(req));
    ck_assert_int_eq(send(fd, req, (size_t)n, MSG_NOSIGNAL), n);
    return fd;
}

/* Opens a connection and sends a chat request for model without reading the answer. */
static int raw_chat(const char *model, bool stream)
{
    char body[256];

    snprintf(body, sizeof(body), "{\"model\":\"%s\",\"stream\":%s}", model,
             stream ? "true" : "false");
    return raw_post("/v1/chat/completions", "", body);
}

START_TEST(start_stop_and_port_file)
{
    struct t_fake zero = {0};
    char path[256], dir[128], *text;
    struct stat st;
    int st_rc = -1;

    ck_assert_int_gt(fk.port, 0);
    snprintf(path, sizeof(path), "%s/port", fk.dir);
    text = t_read_file(path);
    ck_assert_ptr_nonnull(text);
    ck_assert_int_eq(atoi(text), fk.port);
    ck_assert_int_eq(text[strlen(text) - 1], '\n');
    free(text);
    snprintf(dir, sizeof(dir), "%s", fk.dir);
    fake_stop_clean();
    ck_assert_int_ne(stat(dir, &st), 0); /* directory removed */
    ck_assert_int_eq(fk.pid, 0);
    t_fake_stop(&fk); /* twice, and on a never-started struct: no-ops */
    t_fake_stop(&zero);
    ck_assert_int_eq(t_fake_stop_rc(&zero), -1);
    /* SIGINT exits cleanly too (waited for: a SIGTERM sent while it exits could find the
       default action back and kill it). */
    ck_assert_int_eq(t_fake_start(&fk), 0);
    kill(fk.pid, SIGINT);
    for (int i = 0; i < 1000 && waitpid(fk.pid, &st_rc, WNOHANG) != fk.pid; i++)
        usleep(10000);
    ck_assert_msg(WIFEXITED(st_rc) && WEXITSTATUS(st_rc) == 0, "status %d", st_rc);
    fk.pid = 0; /* reaped: t_fake_stop() only removes its directory */
    t_fake_stop(&fk);
}
END_TEST

START_TEST(ok_json)
{
    static const char *const models[] = {"fake-ok", "gpt-4o-mini"};

    for (size_t i = 0; i < 2; i++) {
        struct t_resp r;
        json_t *j, *choice;

        chat(models[i], "", NULL, &r);
        ck_assert_int_eq(r.status, 200);
        assert_header(&r, "Content-Type", "application/json");
        j = body_json(&r);
        ck_assert_str_eq(jstr(j, "id"), "chatcmpl-fake");
        ck_assert_str_eq(jstr(j, "object"), "chat.completion");
        ck_assert_str_eq(jstr(j, "model"), models[i]);
        ck_assert_int_eq(json_integer_value(json_object_get(j, "created")), 1700000000);
        choice = json_array_get(json_object_get(j, "choices"), 0);
        ck_assert_int_eq(json_integer_value(json_object_get(choice, "index")), 0);
        ck_assert_str_eq(jstr(choice, "message.role"), "assistant");
        ck_assert_str_eq(jstr(choice, "message.content"), "Hello from fake");
        ck_assert_str_eq(jstr(choice, "finish_reason"), "stop");
        ck_assert_int_eq(jint(j, "usage", "prompt_tokens"), 10);
        ck_assert_int_eq(jint(j, "usage", "completion_tokens"), 5);
        ck_assert_int_eq(jint(j, "usage", "total_tokens"), 15);
        json_decref(j);
        t_resp_free(&r);
    }
    /* Any prefix before /chat/completions; a stream request that asks nothing else. */
    {
        struct t_resp r;
        json_t *j;

        ck_assert_int_eq(t_http(fk.port, "POST", "/openai/deployments/x/chat/completions?v=1",
                                JSON_CT, "{\"model\":\"fake-ok\",\"stream\":false}", &r),
                         0);
        ck_assert_int_eq(r.status, 200);
        j = body_json(&r);
        ck_assert_str_eq(jstr(j, "model"), "fake-ok");
        json_decref(j);
        t_resp_free(&r);
    }
    ck_assert_int_eq(t_fake_stat(&fk, "requests"), 3);
    ck_assert_int_eq(t_fake_stat(&fk, "chunks_sent"), 0);
    fake_stop_clean();
}
END_TEST

START_TEST(ok_stream_without_usage)
{
    struct t_resp r;
    json_t *ev;
    int complete;

    chat("fake-ok", ",\"stream\":true", NULL, &r);
    ev = sse_events(&r, &complete);
    ck_assert_int_eq(complete, 1);
    ck_assert_int_eq(json_array_size(ev), 4);
    assert_chunk(ev, 0, "fake-ok", "Hel", true, NULL);
    assert_chunk(ev, 1, "fake-ok", "lo", false, NULL);
    assert_chunk(ev, 2, "fake-ok", " world", false, "stop");
    assert_done(ev, 3);
    json_decref(ev);
    t_resp_free(&r);
    /* include_usage false is the same as absent. */
    chat("other-model", ",\"stream\":true,\"stream_options\":{\"include_usage\":false}", NULL, &r);
    ev = sse_events(&r, &complete);
    ck_assert_int_eq(json_array_size(ev), 4);
    assert_chunk(ev, 2, "other-model", " world", false, "stop");
    assert_done(ev, 3);
    json_decref(ev);
    t_resp_free(&r);
    ck_assert_int_eq(t_fake_stat(&fk, "chunks_sent"), 6);
    ck_assert_int_eq(t_fake_stat(&fk, "active"), 0);
    fake_stop_clean();
}
END_TEST

START_TEST(ok_stream_with_usage)
{
    struct t_resp r;
    json_t *ev;
    int complete;

    chat("fake-ok", ",\"stream\":true,\"stream_options\":{\"include_usage\":true}", NULL, &r);
    ev = sse_events(&r, &complete);
    ck_assert_int_eq(complete, 1);
    ck_assert_int_eq(json_array_size(ev), 5);
    assert_chunk(ev, 0, "fake-ok", "Hel", true, NULL);
    assert_chunk(ev, 1, "fake-ok", "lo", false, NULL);
    assert_chunk(ev, 2, "fake-ok", " world", false, "stop");
    assert_usage_chunk(ev, 3, 10, 5);
    assert_done(ev, 4);
    json_decref(ev);
    t_resp_free(&r);
    fake_stop_clean();
}
END_TEST

START_TEST(nousage)
{
    struct t_resp r;
    json_t *j, *ev;
    int complete;

    chat("fake-nousage", "", NULL, &r);
    ck_assert_int_eq(r.status, 200);
    j = body_json(&r);
    ck_assert_str_eq(jstr(json_array_get(json_object_get(j, "choices"), 0), "message.content"),
                     "Hello from fake");
    ck_assert_ptr_null(json_object_get(j, "usage"));
    json_decref(j);
    t_resp_free(&r);
    chat("fake-nousage", ",\"stream\":true,\"stream_options\":{\"include_usage\":true}", NULL, &r);
    ev = sse_events(&r, &complete);
    ck_assert_int_eq(complete, 1);
    ck_assert_int_eq(json_array_size(ev), 4);
    assert_chunk(ev, 2, "fake-nousage", " world", false, "stop");
    assert_done(ev, 3);
    json_decref(ev);
    t_resp_free(&r);
    fake_stop_clean();
}
END_TEST

START_TEST(slow)
{
    struct t_resp r;
    json_t *j, *ev;
    int complete;
    long t0 = now_ms();

    chat("fake-slow-3-60", ",\"stream\":true,\"stream_options\":{\"include_usage\":true}", NULL,
         &r);
    ck_assert_int_ge(now_ms() - t0, 180 - 5); /* 5 ms for clock granularity */
    ev = sse_events(&r, &complete);
    ck_assert_int_eq(complete, 1);
    ck_assert_int_eq(json_array_size(ev), 5);
    assert_chunk(ev, 0, "fake-slow-3-60", "x0 ", true, NULL);
    assert_chunk(ev, 1, "fake-slow-3-60", "x1 ", false, NULL);
    assert_chunk(ev, 2, "fake-slow-3-60", "x2 ", false, "stop");
    assert_usage_chunk(ev, 3, 10, 3);
    assert_done(ev, 4);
    json_decref(ev);
    t_resp_free(&r);

    t0 = now_ms();
    chat("fake-slow-2-60", "", NULL, &r);
    ck_assert_int_ge(now_ms() - t0, 120 - 5);
    ck_assert_int_eq(r.status, 200);
    j = body_json(&r);
    ck_assert_str_eq(jstr(json_array_get(json_object_get(j, "choices"), 0), "message.content"),
                     "x0 x1 ");
    ck_assert_int_eq(jint(j, "usage", "completion_tokens"), 2);
    ck_assert_int_eq(jint(j, "usage", "total_tokens"), 12);
    json_decref(j);
    t_resp_free(&r);
    /* A malformed slow name is just an unknown model. */
    chat("fake-slow-x", "", NULL, &r);
    j = body_json(&r);
    ck_assert_str_eq(jstr(json_array_get(json_object_get(j, "choices"), 0), "message.content"),
                     "Hello from fake");
    json_decref(j);
    t_resp_free(&r);
    ck_assert_int_eq(t_fake_stat(&fk, "active"), 0);
    fake_stop_clean();
}
END_TEST

START_TEST(big)
{
    struct t_resp r;
    json_t *ev;
    int complete;
    char a1000[1001];

    memset(a1000, 'a', 1000);
    a1000[1000] = '\0';
    /* 300 KB: more than the 256 KB queue limit, so the drain callback has to resume it. */
    chat("fake-big-300", ",\"stream\":true,\"stream_options\":{\"include_usage\":true}", NULL, &r);
    ev = sse_events(&r, &complete);
    ck_assert_int_eq(complete, 1);
    ck_assert_int_eq(json_array_size(ev), 302);
    assert_chunk(ev, 0, "fake-big-300", a1000, true, NULL);
    assert_chunk(ev, 150, "fake-big-300", a1000, false, NULL);
    assert_chunk(ev, 299, "fake-big-300", a1000, false, "stop");
    assert_usage_chunk(ev, 300, 10, 300 * 250);
    assert_done(ev, 301);
    json_decref(ev);
    t_resp_free(&r);
    ck_assert_int_eq(t_fake_stat(&fk, "chunks_sent"), 300);
    ck_assert_int_eq(t_fake_stat(&fk, "active"), 0);
    fake_stop_clean();
}
END_TEST

/* A client that never reads holds the fake to what the socket buffers and 256 KB can take. */
START_TEST(big_backpressure)
{
    int fd = raw_chat("fake-big-100000", true);
    long a, b;

    ck_assert(wait_stat("active", 1, 2000));
    do {
        a = t_fake_stat(&fk, "chunks_sent");
        usleep(100000);
        b = t_fake_stat(&fk, "chunks_sent");
    } while (a != b);
    ck_assert_int_gt(b, 200);
    ck_assert_int_lt(b, 50000); /* 100 MB would have been queued without backpressure */
    ck_assert_int_eq(t_fake_stat(&fk, "active"), 1);
    close(fd);
    ck_assert(wait_stat("client_closed", 1, 2000));
    ck_assert_int_eq(t_fake_stat(&fk, "active"), 0);
    fake_stop_clean();
}
END_TEST

START_TEST(midfail)
{
    struct t_resp r;
    json_t *ev;
    int complete;

    chat("fake-midfail", ",\"stream\":true,\"stream_options\":{\"include_usage\":true}", NULL, &r);
    ev = sse_events(&r, &complete);
    ck_assert_int_eq(complete, 0); /* no terminating zero-size chunk */
    ck_assert_int_eq(json_array_size(ev), 2);
    assert_chunk(ev, 0, "fake-midfail", "Hel", true, NULL);
    assert_chunk(ev, 1, "fake-midfail", "lo", false, NULL);
    ck_assert_ptr_null(strstr(r.body, "0\r\n\r\n"));
    json_decref(ev);
    t_resp_free(&r);
    ck_assert_int_eq(t_fake_stat(&fk, "chunks_sent"), 2);
    ck_assert_int_eq(t_fake_stat(&fk, "client_closed"), 0);
    ck_assert_int_eq(t_fake_stat(&fk, "active"), 0);
    /* Without stream: the connection closes with no reply at all. */
    ck_assert_int_eq(t_http(fk.port, "POST", "/v1/chat/completions", JSON_CT,
                            "{\"model\":\"fake-midfail\"}", &r),
                     -1);
    t_resp_free(&r);
    ck_assert_int_eq(t_fake_stat(&fk, "requests"), 2);
    ck_assert_int_eq(t_fake_stat(&fk, "active"), 0);
    fake_stop_clean();
}
END_TEST

START_TEST(miderror)
{
    struct t_resp r;
    json_t *ev, *j;
    int complete;

    chat("fake-miderror", ",\"stream\":true,\"stream_options\":{\"include_usage\":true}", NULL, &r);
    ev = sse_events(&r, &complete);
    ck_assert_int_eq(complete, 1); /* the reply ends normally... */
    ck_assert_int_eq(json_array_size(ev), 2);
    assert_chunk(ev, 0, "fake-miderror", "Hel", true, NULL);
    j = event_json(ev, 1); /* ...after an error event and without [DONE] */
    ck_assert_str_eq(jstr(j, "error.message"), "boom mid-stream");
    ck_assert_str_eq(jstr(j, "error.type"), "server_error");
    json_decref(j);
    json_decref(ev);
    t_resp_free(&r);
    ck_assert_int_eq(t_fake_stat(&fk, "chunks_sent"), 1);
    fake_stop_clean();
}
END_TEST

START_TEST(status_errors)
{
    struct t_resp r;
    char buf[64];
    json_t *j;

    chat("fake-status-429", "", "Authorization: Bearer sk-secret-123\r\n", &r);
    ck_assert_int_eq(r.status, 429);
    assert_header(&r, "Retry-After", "7");
    assert_header(&r, "Content-Type", "application/json");
    j = body_json(&r);
    ck_assert_str_eq(jstr(j, "error.message"), "fake error 429 for token sk-secret-123");
    ck_assert_str_eq(jstr(j, "error.type"), "fake_type");
    ck_assert_str_eq(jstr(j, "error.code"), "fake_code");
    json_decref(j);
    t_resp_free(&r);
    /* Streams get the same plain JSON error; only 429 carries Retry-After. */
    chat("fake-status-503", ",\"stream\":true", "Authorization: Bearer other-token\r\n", &r);
    ck_assert_int_eq(r.status, 503);
    assert_header(&r, "Content-Type", "application/json");
    ck_assert_ptr_null(t_header(&r, "Retry-After", buf, sizeof(buf)));
    j = body_json(&r);
    ck_assert_str_eq(jstr(j, "error.message"), "fake error 503 for token other-token");
    json_decref(j);
    t_resp_free(&r);
    chat("fake-status-400", "", NULL, &r);
    ck_assert_int_eq(r.status, 400);
    j = body_json(&r);
    ck_assert_str_eq(jstr(j, "error.message"), "fake error 400 for token ");
    json_decref(j);
    t_resp_free(&r);
    fake_stop_clean();
}
END_TEST

START_TEST(badjson_echo_embeddings)
{
    static const char body[] = "{\"model\": \"fake-echo\",  \"messages\": [{\"x\": \"\\u00e9\"}]}";
    struct t_resp r;
    json_t *j, *emb;

    chat("fake-badjson", "", NULL, &r);
    ck_assert_int_eq(r.status, 200);
    assert_header(&r, "Content-Type", "application/json");
    ck_assert_str_eq(r.body, "this is not json");
    t_resp_free(&r);

    ck_assert_int_eq(t_http(fk.port, "POST", "/v1/chat/completions", JSON_CT, body, &r), 0);
    ck_assert_int_eq(r.status, 200);
    j = body_json(&r);
    ck_assert_str_eq(jstr(json_array_get(json_object_get(j, "choices"), 0), "message.content"),
                     body);
    ck_assert_str_eq(jstr(j, "model"), "fake-echo");
    json_decref(j);
    t_resp_free(&r);

    ck_assert_int_eq(t_http(fk.port, "POST", "/v1/embeddings", JSON_CT,
                            "{\"model\":\"text-embedding-3-small\",\"input\":\"hi\"}", &r),
                     0);
    ck_assert_int_eq(r.status, 200);
    j = body_json(&r);
    ck_assert_str_eq(jstr(j, "object"), "list");
    ck_assert_str_eq(jstr(j, "model"), "text-embedding-3-small");
    emb = json_object_get(json_array_get(json_object_get(j, "data"), 0), "embedding");
    ck_assert_int_eq(json_array_size(emb), 3);
    ck_assert_double_eq_tol(json_real_value(json_array_get(emb, 0)), 0.1, 1e-9);
    ck_assert_double_eq_tol(json_real_value(json_array_get(emb, 2)), 0.3, 1e-9);
    ck_assert_str_eq(jstr(json_array_get(json_object_get(j, "data"), 0), "object"), "embedding");
    ck_assert_int_eq(jint(j, "usage", "prompt_tokens"), 4);
    ck_assert_int_eq(jint(j, "usage", "total_tokens"), 4);
    json_decref(j);
    t_resp_free(&r);
    fake_stop_clean();
}
END_TEST

START_TEST(bad_requests)
{
    struct t_resp r;
    json_t *j;

    ck_assert_int_eq(t_http(fk.port, "POST", "/v1/chat/completions", JSON_CT, "{not json", &r), 0);
    ck_assert_int_eq(r.status, 400);
    j = body_json(&r);
    ck_assert_str_eq(jstr(j, "error.type"), "invalid_request_error");
    json_decref(j);
    t_resp_free(&r);
    ck_assert_int_eq(t_http(fk.port, "POST", "/v1/embeddings", JSON_CT, "[1]", &r), 0);
    ck_assert_int_eq(r.status, 400);
    t_resp_free(&r);
    ck_assert_int_eq(t_http(fk.port, "POST", "/v1/nothing", JSON_CT, "{}", &r), 0);
    ck_assert_int_eq(r.status, 404);
    t_resp_free(&r);
    ck_assert_int_eq(t_http(fk.port, "GET", "/v1/chat/completions", NULL, NULL, &r), 0);
    ck_assert_int_eq(r.status, 404);
    t_resp_free(&r);
    ck_assert_int_eq(t_fake_stat(&fk, "requests"), 3); /* every POST counts */
    fake_stop_clean();
}
END_TEST

START_TEST(last_stats_reset)
{
    struct t_resp r;
    json_t *last, *hdrs;

    last = t_fake_get(&fk, "/_last");
    ck_assert_ptr_nonnull(last);
    ck_assert(json_is_null(json_object_get(last, "method")));
    ck_assert(json_is_null(json_object_get(last, "body")));
    json_decref(last);

    chat("fake-ok", ",\"temperature\":0.5",
         "Authorization: Bearer sk-up\r\nX-Test: one\r\nx-test: two\r\n", &r);
    t_resp_free(&r);
    last = t_fake_get(&fk, "/_last");
    ck_assert_ptr_nonnull(last);
    ck_assert_str_eq(jstr(last, "method"), "POST");
    ck_assert_str_eq(jstr(last, "path"), "/v1/chat/completions");
    ck_assert_str_eq(jstr(last, "body.model"), "fake-ok");
    ck_assert_double_eq(
        json_real_value(json_object_get(json_object_get(last, "body"), "temperature")), 0.5);
    hdrs = json_object_get(last, "headers");
    ck_assert_str_eq(jstr(hdrs, "authorization"), "Bearer sk-up");
    ck_assert_str_eq(jstr(hdrs, "content-type"), "application/json");
    ck_assert_str_eq(jstr(hdrs, "x-test"), "one, two");
    json_decref(last);

    /* A non-JSON body is recorded as null; GETs are neither recorded nor counted. */
    ck_assert_int_eq(t_http(fk.port, "POST", "/v1/embeddings?x=1", NULL, "plain text", &r), 0);
    t_resp_free(&r);
    last = t_fake_get(&fk, "/_last");
    ck_assert_str_eq(jstr(last, "path"), "/v1/embeddings");
    ck_assert_str_eq(jstr(last, "query"), "x=1");
    ck_assert(json_is_null(json_object_get(last, "body")));
    json_decref(last);
    chat("fake-ok", ",\"stream\":true", NULL, &r);
    t_resp_free(&r);
    ck_assert_int_eq(t_fake_stat(&fk, "requests"), 3);
    ck_assert_int_eq(t_fake_stat(&fk, "chunks_sent"), 3);
    ck_assert_int_eq(t_fake_stat(&fk, "active"), 0);
    ck_assert_int_eq(t_fake_stat(&fk, "client_closed"), 0);

    t_fake_reset(&fk);
    ck_assert_int_eq(t_fake_stat(&fk, "requests"), 0);
    ck_assert_int_eq(t_fake_stat(&fk, "chunks_sent"), 0);
    last = t_fake_get(&fk, "/_last");
    ck_assert(json_is_null(json_object_get(last, "method")));
    json_decref(last);
    ck_assert_ptr_null(t_fake_get(&fk, "/nothing"));
    fake_stop_clean();
}
END_TEST

/* fake-hang and a slow stream: active while open, client_closed once the client leaves. */
START_TEST(client_close)
{
    int hang = raw_chat("fake-hang", true);
    int wait = raw_chat("fake-slow-1-100000", false);
    int stream = raw_chat("fake-slow-50-100", true);
    char buf[256];

    ck_assert(wait_stat("active", 3, 2000));
    ck_assert_int_gt(recv(stream, buf, sizeof(buf), 0), 0); /* headers came first */
    ck_assert_int_eq(strncmp(buf, "HTTP/1.1 200", 12), 0);
    close(hang);
    ck_assert(wait_stat("client_closed", 1, 2000));
    ck_assert_int_eq(t_fake_stat(&fk, "active"), 2);
    close(wait);
    ck_assert(wait_stat("client_closed", 2, 2000));
    for (long t0 = now_ms(); t_fake_stat(&fk, "chunks_sent") < 1 && now_ms() - t0 < 2000;)
        usleep(5000);
    close(stream); /* mid-stream: 50 chunks would take 5 s */
    ck_assert(wait_stat("client_closed", 3, 2000));
    ck_assert_int_eq(t_fake_stat(&fk, "active"), 0);
    ck_assert_int_lt(t_fake_stat(&fk, "chunks_sent"), 50);
    ck_assert_int_gt(t_fake_stat(&fk, "chunks_sent"), 0);
    fake_stop_clean();
}
END_TEST

/* SIGTERM with calls of every kind in flight still exits 0 (and leak-free under SAN). */
START_TEST(shutdown_in_flight)
{
    int fds[5];

    fds[0] = raw_chat("fake-hang", false);
    fds[1] = raw_chat("fake-slow-1-100000", false);
    fds[2] = raw_chat("fake-slow-10-100000", true);
    fds[3] = raw_chat("fake-big-100000", true);
    fds[4] = raw_chat("fake-slow-1-10", true); /* finished and kept alive */
    ck_assert(wait_stat("active", 4, 2000));
    fake_stop_clean();
    for (size_t i = 0; i < 5; i++)
        close(fds[i]);
}
END_TEST

/* ---- Anthropic Messages mode ---- */

#define ANTH_AUTH "x-api-key: sk-ant-test\r\nanthropic-version: 2023-06-01\r\n"

/* POSTs a Messages request for model with extra top-level members (",..." or "") and headers
 * (NULL: ANTH_AUTH) to /v1/messages. */
static void messages(const char *model, const char *extra, const char *headers, struct t_resp *r)
{
    char body[1024], hdrs[512];

    snprintf(body, sizeof(body),
             "{\"model\":\"%s\",\"max_tokens\":64,\"messages\":[{\"role\":\"user\",\"content\":"
             "\"hi\"}]%s}",
             model, extra);
    snprintf(hdrs, sizeof(hdrs), JSON_CT "%s", headers != NULL ? headers : ANTH_AUTH);
    ck_assert_int_eq(t_http(fk.port, "POST", "/v1/messages", hdrs, body, r), 0);
}

/*
 * Splits an Anthropic SSE body into its data objects (a JSON array, owned). Every event must be
 * exactly "event: <type>\ndata: <json>\n\n" with <type> equal to the data's "type".
 * *complete: the chunked body had its final chunk.
 */
static json_t *anth_events(const struct t_resp *r, int *complete)
{
    json_t *events = json_array();
    char *text, *p;

    ck_assert_int_eq(r->status, 200);
    assert_header(r, "Content-Type", "text/event-stream");
    *complete = dechunk(r->body, r->body_len, &text);
    for (p = text; *p != '\0';) {
        char *nl = strchr(p, '\n'), *end = strstr(p, "\n\n");
        json_t *j;

        ck_assert_msg(strncmp(p, "event: ", 7) == 0, "event without a name: %s", p);
        ck_assert_msg(nl != NULL && end != NULL && nl < end, "unterminated event: %s", p);
        ck_assert_msg(strncmp(nl + 1, "data: ", 6) == 0, "event without data: %s", p);
        j = json_loadb(nl + 7, (size_t)(end - nl - 7), 0, NULL);
        ck_assert_msg(json_is_object(j), "event data is not a JSON object: %s", p);
        ck_assert_msg(jstr(j, "type") != NULL && strlen(jstr(j, "type")) == (size_t)(nl - p - 7) &&
                          strncmp(jstr(j, "type"), p + 7, (size_t)(nl - p - 7)) == 0,
                      "event name is not the data's type: %s", p);
        json_array_append_new(events, j);
        p = end + 2;
    }
    free(text);
    return events;
}

/* The events' types joined by spaces ("message_start content_block_start ..."). */
static void anth_types(json_t *events, char *buf, size_t len)
{
    size_t i, n = 0;
    json_t *e;

    buf[0] = '\0';
    json_array_foreach(events, i, e)
    {
        n += (size_t)snprintf(buf + n, len - n, "%s%s", i > 0 ? " " : "", jstr(e, "type"));
        ck_assert_uint_lt(n, len);
    }
}

/* Event i's delta.<field> (content_block_delta at index). */
static const char *anth_delta(json_t *events, size_t i, long index, const char *dtype,
                              const char *field)
{
    json_t *e = json_array_get(events, i), *d = json_object_get(e, "delta");

    ck_assert_str_eq(jstr(e, "type"), "content_block_delta");
    ck_assert_int_eq(json_integer_value(json_object_get(e, "index")), index);
    ck_assert_str_eq(jstr(d, "type"), dtype);
    return jstr(d, field);
}

static void anth_assert_usage(json_t *usage, long in, long cread, long ccreate, long out)
{
    ck_assert_int_eq(json_integer_value(json_object_get(usage, "input_tokens")), in);
    ck_assert_int_eq(json_integer_value(json_object_get(usage, "cache_read_input_tokens")), cread);
    ck_assert_int_eq(json_integer_value(json_object_get(usage, "cache_creation_input_tokens")),
                     ccreate);
    ck_assert_int_eq(json_integer_value(json_object_get(usage, "output_tokens")), out);
}

/* A JSON reply: the message envelope for model; returns its content array (borrowed from *j). */
static json_t *anth_message(const struct t_resp *r, const char *model, const char *stop, json_t **j)
{
    ck_assert_int_eq(r->status, 200);
    assert_header(r, "Content-Type", "application/json");
    *j = body_json(r);
    ck_assert_str_eq(jstr(*j, "id"), "msg_fake");
    ck_assert_str_eq(jstr(*j, "type"), "message");
    ck_assert_str_eq(jstr(*j, "role"), "assistant");
    ck_assert_str_eq(jstr(*j, "model"), model);
    ck_assert_str_eq(jstr(*j, "stop_reason"), stop);
    ck_assert(json_is_null(json_object_get(*j, "stop_sequence")));
    return json_object_get(*j, "content");
}

START_TEST(anthropic_json)
{
    static const char *const models[] = {"claude-ok", "claude-sonnet-4-5", "claude-cache~t1"};
    struct t_resp r;
    json_t *j, *content, *b;

    for (size_t i = 0; i < 3; i++) {
        messages(models[i], "", NULL, &r);
        content = anth_message(&r, models[i], "end_turn", &j);
        ck_assert_int_eq(json_array_size(content), 1);
        ck_assert_str_eq(jstr(json_array_get(content, 0), "type"), "text");
        ck_assert_str_eq(jstr(json_array_get(content, 0), "text"), "Hello from claude");
        anth_assert_usage(json_object_get(j, "usage"), 10, i == 2 ? 100 : 0, i == 2 ? 20 : 0, 5);
        json_decref(j);
        t_resp_free(&r);
    }
    messages("claude-tools", "", NULL, &r);
    content = anth_message(&r, "claude-tools", "tool_use", &j);
    ck_assert_int_eq(json_array_size(content), 2);
    ck_assert_str_eq(jstr(json_array_get(content, 0), "text"), "Let me check.");
    b = json_array_get(content, 1);
    ck_assert_str_eq(jstr(b, "type"), "tool_use");
    ck_assert_str_eq(jstr(b, "id"), "toolu_01B");
    ck_assert_str_eq(jstr(b, "name"), "get_weather");
    ck_assert_str_eq(jstr(b, "input.city"), "Paris");
    ck_assert_int_eq(json_object_size(json_object_get(b, "input")), 1);
    anth_assert_usage(json_object_get(j, "usage"), 120, 0, 0, 40);
    json_decref(j);
    t_resp_free(&r);
    messages("claude-thinking", "", NULL, &r);
    content = anth_message(&r, "claude-thinking", "end_turn", &j);
    ck_assert_int_eq(json_array_size(content), 2);
    b = json_array_get(content, 0);
    ck_assert_str_eq(jstr(b, "type"), "thinking");
    ck_assert_str_eq(jstr(b, "thinking"), "Let me think");
    ck_assert_str_eq(jstr(b, "signature"), "sig123");
    ck_assert_str_eq(jstr(json_array_get(content, 1), "text"), "Answer");
    json_decref(j);
    t_resp_free(&r);
    ck_assert_int_eq(t_fake_stat(&fk, "requests"), 5);
    fake_stop_clean();
}
END_TEST

START_TEST(anthropic_stream)
{
    struct t_resp r;
    json_t *ev, *start, *md;
    int complete;
    char types[1024];

    messages("claude-cache", ",\"stream\":true", NULL, &r);
    ev = anth_events(&r, &complete);
    ck_assert_int_eq(complete, 1);
    anth_types(ev, types, sizeof(types));
    ck_assert_str_eq(types, "message_start content_block_start ping content_block_delta "
                            "content_block_delta content_block_stop message_delta message_stop");
    start = json_object_get(json_array_get(ev, 0), "message");
    ck_assert_str_eq(jstr(start, "id"), "msg_fake");
    ck_assert_str_eq(jstr(start, "model"), "claude-cache");
    ck_assert_int_eq(json_array_size(json_object_get(start, "content")), 0);
    ck_assert(json_is_null(json_object_get(start, "stop_reason")));
    anth_assert_usage(json_object_get(start, "usage"), 10, 100, 20, 1);
    ck_assert_str_eq(jstr(json_array_get(ev, 1), "content_block.type"), "text");
    ck_assert_str_eq(jstr(json_array_get(ev, 1), "content_block.text"), "");
    ck_assert_str_eq(anth_delta(ev, 3, 0, "text_delta", "text"), "Hel");
    ck_assert_str_eq(anth_delta(ev, 4, 0, "text_delta", "text"), "lo");
    md = json_array_get(ev, 6);
    ck_assert_str_eq(jstr(md, "delta.stop_reason"), "end_turn");
    ck_assert_int_eq(jint(md, "usage", "output_tokens"), 5);
    json_decref(ev);
    t_resp_free(&r);

    messages("claude-tools", ",\"stream\":true", NULL, &r);
    ev = anth_events(&r, &complete);
    anth_types(ev, types, sizeof(types));
    ck_assert_str_eq(types, "message_start content_block_start ping content_block_delta "
                            "content_block_stop content_block_start content_block_delta "
                            "content_block_delta content_block_stop message_delta message_stop");
    anth_assert_usage(json_object_get(json_object_get(json_array_get(ev, 0), "message"), "usage"),
                      120, 0, 0, 1);
    ck_assert_str_eq(anth_delta(ev, 3, 0, "text_delta", "text"), "Let me check.");
    start = json_array_get(ev, 5);
    ck_assert_int_eq(json_integer_value(json_object_get(start, "index")), 1);
    ck_assert_str_eq(jstr(start, "content_block.type"), "tool_use");
    ck_assert_str_eq(jstr(start, "content_block.id"), "toolu_01B");
    ck_assert_str_eq(jstr(start, "content_block.name"), "get_weather");
    ck_assert_int_eq(
        json_object_size(json_object_get(json_object_get(start, "content_block"), "input")), 0);
    ck_assert_str_eq(anth_delta(ev, 6, 1, "input_json_delta", "partial_json"), "{\"city\":");
    ck_assert_str_eq(anth_delta(ev, 7, 1, "input_json_delta", "partial_json"), "\"Paris\"}");
    md = json_array_get(ev, 9);
    ck_assert_str_eq(jstr(md, "delta.stop_reason"), "tool_use");
    ck_assert_int_eq(jint(md, "usage", "output_tokens"), 40);
    json_decref(ev);
    t_resp_free(&r);

    messages("claude-thinking", ",\"stream\":true", NULL, &r);
    ev = anth_events(&r, &complete);
    anth_types(ev, types, sizeof(types));
    ck_assert_str_eq(types, "message_start content_block_start ping content_block_delta "
                            "content_block_delta content_block_stop content_block_start "
                            "content_block_delta content_block_stop message_delta message_stop");
    ck_assert_str_eq(jstr(json_array_get(ev, 1), "content_block.type"), "thinking");
    ck_assert_str_eq(anth_delta(ev, 3, 0, "thinking_delta", "thinking"), "Let me think");
    ck_assert_str_eq(anth_delta(ev, 4, 0, "signature_delta", "signature"), "sig123");
    ck_assert_str_eq(anth_delta(ev, 7, 1, "text_delta", "text"), "Answer");
    json_decref(ev);
    t_resp_free(&r);
    /* Deltas with content count as chunks: 2 + 3 + 2 (not the signature). */
    ck_assert_int_eq(t_fake_stat(&fk, "chunks_sent"), 7);
    ck_assert_int_eq(t_fake_stat(&fk, "active"), 0);
    fake_stop_clean();
}
END_TEST

/* The Anthropic error body of r: status, error.type, error.message. */
static void anth_assert_error(const struct t_resp *r, int status, const char *type,
                              const char *message)
{
    json_t *j;

    ck_assert_int_eq(r->status, status);
    assert_header(r, "Content-Type", "application/json");
    j = body_json(r);
    ck_assert_str_eq(jstr(j, "type"), "error");
    ck_assert_str_eq(jstr(j, "error.type"), type);
    ck_assert_str_eq(jstr(j, "error.message"), message);
    json_decref(j);
}

START_TEST(anthropic_errors)
{
    static const struct {
        const char *model, *type, *message;
        int status;
        bool retry;
    } cases[] = {
        {"claude-status-429", "rate_limit_error", "fake anthropic error 429", 429, true},
        {"claude-status-529", "overloaded_error", "fake anthropic error 529", 529, true},
        {"claude-status-400", "invalid_request_error", "fake anthropic error 400", 400, false},
        {"claude-status-401", "authentication_error", "fake anthropic error 401", 401, false},
        {"claude-status-413", "request_too_large", "fake anthropic error 413", 413, false},
        {"claude-status-503", "api_error", "fake anthropic error 503", 503, false},
        {"claude-error", "api_error", "fake anthropic error 500", 500, false},
    };
    struct t_resp r;
    json_t *ev, *err;
    int complete;
    char buf[64], types[512];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        /* A stream request is refused the same way, before any event. */
        messages(cases[i].model, i % 2 == 0 ? "" : ",\"stream\":true", NULL, &r);
        anth_assert_error(&r, cases[i].status, cases[i].type, cases[i].message);
        if (cases[i].retry)
            assert_header(&r, "retry-after", "7");
        else
            ck_assert_ptr_null(t_header(&r, "retry-after", buf, sizeof(buf)));
        t_resp_free(&r);
    }
    messages("claude-error", ",\"stream\":true", NULL, &r);
    ev = anth_events(&r, &complete);
    ck_assert_int_eq(complete, 1); /* the body ends normally after the error event */
    anth_types(ev, types, sizeof(types));
    ck_assert_str_eq(types, "message_start content_block_start ping content_block_delta error");
    ck_assert_str_eq(anth_delta(ev, 3, 0, "text_delta", "text"), "Hel");
    err = json_array_get(ev, 4);
    ck_assert_str_eq(jstr(err, "error.type"), "overloaded_error");
    ck_assert_str_eq(jstr(err, "error.message"), "Overloaded");
    json_decref(ev);
    t_resp_free(&r);
    fake_stop_clean();
}
END_TEST

/* What the real API refuses before looking at the model: credentials, version, shape. */
START_TEST(anthropic_request_checks)
{
    struct t_resp r;

    messages("claude-ok", "", "anthropic-version: 2023-06-01\r\nAuthorization: Bearer sk-x\r\n",
             &r);
    anth_assert_error(&r, 401, "authentication_error", "x-api-key header is required");
    t_resp_free(&r);
    messages("claude-ok", "", "x-api-key: k\r\n", &r);
    anth_assert_error(&r, 400, "invalid_request_error", "anthropic-version: header is required");
    t_resp_free(&r);
    messages("claude-ok", ",\"stream_options\":{\"include_usage\":true}", NULL, &r);
    anth_assert_error(&r, 400, "invalid_request_error",
                      "stream_options: Extra inputs are not permitted");
    t_resp_free(&r);
    ck_assert_int_eq(t_http(fk.port, "POST", "/v1/messages", JSON_CT ANTH_AUTH,
                            "{\"model\":\"claude-ok\",\"messages\":[]}", &r),
                     0);
    anth_assert_error(&r, 400, "invalid_request_error", "max_tokens: Field required");
    t_resp_free(&r);
    ck_assert_int_eq(t_http(fk.port, "POST", "/v1/messages", JSON_CT ANTH_AUTH, "[1]", &r), 0);
    anth_assert_error(&r, 400, "invalid_request_error", "request body is not a JSON object");
    t_resp_free(&r);
    /* Every path ending in /v1/messages; the OpenAI path still answers the OpenAI way. */
    ck_assert_int_eq(t_http(fk.port, "POST", "/anthropic/v1/messages", JSON_CT ANTH_AUTH,
                            "{\"model\":\"m\",\"max_tokens\":1,\"messages\":[]}", &r),
                     0);
    ck_assert_int_eq(r.status, 200);
    t_resp_free(&r);
    chat("claude-ok", "", NULL, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.body, "Hello from fake"));
    t_resp_free(&r);
    ck_assert_int_eq(t_fake_stat(&fk, "requests"), 7);
    fake_stop_clean();
}
END_TEST

START_TEST(anthropic_last_and_echo)
{
    static const char body[] =
        "{\"model\": \"claude-echo\", \"max_tokens\": 8, \"messages\": [{\"x\": \"\\u00e9\"}]}";
    struct t_resp r;
    json_t *j, *last, *hdrs, *ev;
    int complete;

    ck_assert_int_eq(t_http(fk.port, "POST", "/v1/messages",
                            JSON_CT ANTH_AUTH "anthropic-beta: a,b\r\n", body, &r),
                     0);
    ck_assert_str_eq(
        jstr(json_array_get(anth_message(&r, "claude-echo", "end_turn", &j), 0), "text"), body);
    json_decref(j);
    t_resp_free(&r);
    last = t_fake_get(&fk, "/_last");
    ck_assert_ptr_nonnull(last);
    ck_assert_str_eq(jstr(last, "path"), "/v1/messages");
    ck_assert_str_eq(jstr(last, "raw"), body);
    ck_assert_str_eq(jstr(last, "body.model"), "claude-echo");
    ck_assert_int_eq(jint(last, "body", "max_tokens"), 8);
    hdrs = json_object_get(last, "headers");
    ck_assert_str_eq(jstr(hdrs, "x-api-key"), "sk-ant-test");
    ck_assert_str_eq(jstr(hdrs, "anthropic-version"), "2023-06-01");
    ck_assert_str_eq(jstr(hdrs, "anthropic-beta"), "a,b");
    ck_assert_ptr_null(json_object_get(hdrs, "authorization"));
    json_decref(last);
    /* Refused requests are recorded too (a test can see what the gateway sent). */
    messages("claude-ok", "", "anthropic-version: 2023-06-01\r\n", &r);
    ck_assert_int_eq(r.status, 401);
    t_resp_free(&r);
    last = t_fake_get(&fk, "/_last");
    ck_assert_ptr_null(json_object_get(json_object_get(last, "headers"), "x-api-key"));
    json_decref(last);
    /* Streamed, the body comes back as one text delta. */
    messages("claude-echo", ",\"stream\":true", NULL, &r);
    ev = anth_events(&r, &complete);
    ck_assert_ptr_nonnull(strstr(anth_delta(ev, 3, 0, "text_delta", "text"), "\"stream\":true"));
    json_decref(ev);
    t_resp_free(&r);
    fake_stop_clean();
}
END_TEST

START_TEST(anthropic_cut_and_slow)
{
    struct t_resp r;
    json_t *ev, *j;
    int complete, fd;
    char types[512];
    long t0;

    messages("claude-cut", ",\"stream\":true", NULL, &r);
    ev = anth_events(&r, &complete);
    ck_assert_int_eq(complete, 0); /* no terminating zero-size chunk */
    anth_types(ev, types, sizeof(types));
    ck_assert_str_eq(types, "message_start content_block_start ping content_block_delta");
    json_decref(ev);
    t_resp_free(&r);
    ck_assert_int_eq(t_http(fk.port, "POST", "/v1/messages", JSON_CT ANTH_AUTH,
                            "{\"model\":\"claude-cut\",\"max_tokens\":1,\"messages\":[]}", &r),
                     -1);
    t_resp_free(&r);

    t0 = now_ms();
    messages("claude-slow-3-60", ",\"stream\":true", NULL, &r);
    ck_assert_int_ge(now_ms() - t0, 180 - 5);
    ev = anth_events(&r, &complete);
    ck_assert_int_eq(complete, 1);
    anth_types(ev, types, sizeof(types));
    ck_assert_str_eq(types, "message_start content_block_start ping content_block_delta "
                            "content_block_delta content_block_delta content_block_stop "
                            "message_delta message_stop");
    ck_assert_str_eq(anth_delta(ev, 5, 0, "text_delta", "text"), "x2 ");
    ck_assert_int_eq(jint(json_array_get(ev, 7), "usage", "output_tokens"), 3);
    json_decref(ev);
    t_resp_free(&r);
    t0 = now_ms();
    messages("claude-slow-2-60", "", NULL, &r);
    ck_assert_int_ge(now_ms() - t0, 120 - 5);
    ck_assert_str_eq(
        jstr(json_array_get(anth_message(&r, "claude-slow-2-60", "end_turn", &j), 0), "text"),
        "x0 x1 ");
    anth_assert_usage(json_object_get(j, "usage"), 10, 0, 0, 2);
    json_decref(j);
    t_resp_free(&r);

    /* A client that leaves mid-stream is noticed; SIGTERM with one in flight exits cleanly. */
    fd = raw_post("/v1/messages", ANTH_AUTH,
                  "{\"model\":\"claude-slow-50-100\",\"max_tokens\":1,\"messages\":[],"
                  "\"stream\":true}");
    ck_assert(wait_stat("active", 1, 2000));
    for (t0 = now_ms(); t_fake_stat(&fk, "chunks_sent") < 6 && now_ms() - t0 < 2000;)
        usleep(5000);
    close(fd);
    ck_assert(wait_stat("client_closed", 1, 2000));
    ck_assert_int_eq(t_fake_stat(&fk, "active"), 0);
    fd = raw_post("/v1/messages", ANTH_AUTH,
                  "{\"model\":\"claude-slow-5-100000\",\"max_tokens\":1,\"messages\":[]}");
    ck_assert(wait_stat("active", 1, 2000));
    fake_stop_clean();
    close(fd);
}
END_TEST

Suite *fake_suite(void)
{
    Suite *s = suite_create("fake");
    TCase *tc = tcase_create("fake");

    tcase_add_checked_fixture(tc, fake_up, fake_down);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, start_stop_and_port_file);
    tcase_add_test(tc, ok_json);
    tcase_add_test(tc, ok_stream_without_usage);
    tcase_add_test(tc, ok_stream_with_usage);
    tcase_add_test(tc, nousage);
    tcase_add_test(tc, slow);
    tcase_add_test(tc, big);
    tcase_add_test(tc, big_backpressure);
    tcase_add_test(tc, midfail);
    tcase_add_test(tc, miderror);
    tcase_add_test(tc, status_errors);
    tcase_add_test(tc, badjson_echo_embeddings);
    tcase_add_test(tc, bad_requests);
    tcase_add_test(tc, last_stats_reset);
    tcase_add_test(tc, client_close);
    tcase_add_test(tc, shutdown_in_flight);
    tcase_add_test(tc, anthropic_json);
    tcase_add_test(tc, anthropic_stream);
    tcase_add_test(tc, anthropic_errors);
    tcase_add_test(tc, anthropic_request_checks);
    tcase_add_test(tc, anthropic_last_and_echo);
    tcase_add_test(tc, anthropic_cut_and_slow);
    suite_add_tcase(s, tc);
    return s;
}
