/*
 * bench/mock.c: a fast mock OpenAI-wire upstream for the benchmark (bench/README.md).
 *
 * A minimal HTTP/1.1 server on libevent bufferevents (keep-alive, Content-Length bodies, no
 * pipelining needed). Routes:
 *   POST .../chat/completions   JSON completion with usage, or an SSE stream when the body has
 *                               "stream": true. The stream sends a role chunk at once, then
 *                               N content chunks spaced by D ms, then a finish chunk, a usage
 *                               chunk and [DONE] (chunked transfer encoding, keep-alive).
 *                               N and D come from, highest priority first: a path prefix
 *                               /p/N/D/ (for proxies that drop unknown fields: give them the
 *                               base URL http://HOST:PORT/p/N/D/v1), the query string
 *                               (?chunks=N&delay_ms=D), the body fields "mock_chunks" and
 *                               "mock_delay_ms" (the gateway passes unknown fields through),
 *                               then --chunks / --delay-ms.
 *   POST .../messages           the same on the Anthropic Messages wire: a message with usage,
 *                               or its event stream (message_start, content_block_start,
 *                               N content_block_delta, content_block_stop, message_delta with
 *                               usage, message_stop). A translating gateway does not pass
 *                               unknown fields through, so N and D may also come from the model
 *                               name ("...@N/D", after the path and query, before the body
 *                               fields).
 *   GET  .../models             a one-model list.
 *   anything else               404.
 *
 * Usage: mock [--host 127.0.0.1] [--port N] [--port-file F] [--threads T] [--chunks N]
 *             [--delay-ms D]
 * --port 0 (the default) picks a free port; it is written to --port-file and stdout.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#define MOCK_MAX_HEAD 16384
#define MOCK_MAX_BODY (8 * 1024 * 1024)

static long opt_chunks = 20;
static long opt_delay_ms = 0;

static const char mock_json[] =
    "{\"id\":\"chatcmpl-mock\",\"object\":\"chat.completion\",\"created\":1700000000,"
    "\"model\":\"mock-model\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
    "\"content\":\"Hello from the benchmark mock upstream.\"},\"finish_reason\":\"stop\"}],"
    "\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":8,\"total_tokens\":20}}";

static const char mock_models[] = "{\"object\":\"list\",\"data\":[{\"id\":\"mock-model\","
                                  "\"object\":\"model\",\"created\":1700000000,"
                                  "\"owned_by\":\"mock\"}]}";

static const char mock_not_found[] = "{\"error\":{\"message\":\"not found\",\"type\":\"mock\"}}";

#define CHUNK_PREFIX                                                                               \
    "data: {\"id\":\"chatcmpl-mock\",\"object\":\"chat.completion.chunk\",\"created\":1700000000," \
    "\"model\":\"mock-model\",\"choices\":[{\"index\":0,\"delta\":"

static const char sse_role[] = CHUNK_PREFIX "{\"role\":\"assistant\",\"content\":\"\"},"
                                            "\"finish_reason\":null}]}\n\n";
static const char sse_token[] = CHUNK_PREFIX "{\"content\":\"tok \"},\"finish_reason\":null}]}\n\n";
static const char sse_finish[] = CHUNK_PREFIX "{},\"finish_reason\":\"stop\"}]}\n\n";
static const char sse_usage[] =
    "data: {\"id\":\"chatcmpl-mock\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,"
    "\"model\":\"mock-model\",\"choices\":[],\"usage\":{\"prompt_tokens\":12,"
    "\"completion_tokens\":%ld,\"total_tokens\":%ld}}\n\n";
static const char sse_done[] = "data: [DONE]\n\n";

/* The Anthropic Messages wire. */
static const char an_json[] =
    "{\"id\":\"msg_mock\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"mock-model\","
    "\"content\":[{\"type\":\"text\",\"text\":\"Hello from the benchmark mock upstream.\"}],"
    "\"stop_reason\":\"end_turn\",\"stop_sequence\":null,"
    "\"usage\":{\"input_tokens\":12,\"output_tokens\":8}}";
static const char an_start[] =
    "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_mock\","
    "\"type\":\"message\",\"role\":\"assistant\",\"model\":\"mock-model\",\"content\":[],"
    "\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":12,"
    "\"output_tokens\":1}}}\n\n"
    "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,"
    "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n";
static const char an_token[] =
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
    "\"delta\":{\"type\":\"text_delta\",\"text\":\"tok \"}}\n\n";
static const char an_finish[] =
    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n";
static const char an_usage[] =
    "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"
    "\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":%ld}}\n\n";
static const char an_done[] = "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";

/* One wire's stream events (the usage event is formatted by stream_finish()). */
struct wire {
    const char *start, *token, *finish, *done;
};
static const struct wire wire_openai = {sse_role, sse_token, sse_finish, sse_done};
static const struct wire wire_anthropic = {an_start, an_token, an_finish, an_done};

struct mconn {
    struct bufferevent *bev;
    struct event *timer; /* next stream chunk */
    long chunks_left;    /* content chunks still to send */
    long chunks_total;
    long delay_ms;
    const struct wire *wire;
    int streaming;
    int close_after;
};

static void mconn_free(struct mconn *c)
{
    if (c->timer != NULL)
        event_free(c->timer);
    bufferevent_free(c->bev);
    free(c);
}

/* One HTTP chunk (chunked transfer encoding) holding one SSE event. */
static void put_chunk(struct evbuffer *out, const char *data, size_t len)
{
    evbuffer_add_printf(out, "%zx\r\n", len);
    evbuffer_add(out, data, len);
    evbuffer_add(out, "\r\n", 2);
}

static void stream_finish(struct mconn *c)
{
    struct evbuffer *out = bufferevent_get_output(c->bev);
    char usage[sizeof(sse_usage) + sizeof(an_usage) + 64];
    int n;

    put_chunk(out, c->wire->finish, strlen(c->wire->finish));
    if (c->wire == &wire_anthropic)
        n = snprintf(usage, sizeof(usage), an_usage, c->chunks_total);
    else
        n = snprintf(usage, sizeof(usage), sse_usage, c->chunks_total, c->chunks_total + 12);
    put_chunk(out, usage, (size_t)n);
    put_chunk(out, c->wire->done, strlen(c->wire->done));
    evbuffer_add(out, "0\r\n\r\n", 5);
    c->streaming = 0;
}

static void mconn_process(struct mconn *c);

static void stream_tick(evutil_socket_t fd, short what, void *arg)
{
    struct mconn *c = arg;
    struct evbuffer *out = bufferevent_get_output(c->bev);
    struct timeval tv;

    (void)fd;
    (void)what;
    if (c->chunks_left > 0) {
        put_chunk(out, c->wire->token, strlen(c->wire->token));
        c->chunks_left--;
    }
    if (c->chunks_left > 0) {
        tv.tv_sec = c->delay_ms / 1000;
        tv.tv_usec = (c->delay_ms % 1000) * 1000;
        evtimer_add(c->timer, &tv);
        return;
    }
    stream_finish(c);
    if (!c->close_after)
        mconn_process(c); /* a request that arrived meanwhile */
}

static void stream_start(struct mconn *c, const struct wire *wire, long chunks, long delay_ms)
{
    struct evbuffer *out = bufferevent_get_output(c->bev);

    evbuffer_add_printf(out,
                        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                        "Cache-Control: no-cache\r\nX-Accel-Buffering: no\r\n"
                        "Transfer-Encoding: chunked\r\n%s\r\n",
                        c->close_after ? "Connection: close\r\n" : "");
    c->wire = wire;
    put_chunk(out, wire->start, strlen(wire->start));
    c->streaming = 1;
    c->chunks_left = chunks;
    c->chunks_total = chunks;
    c->delay_ms = delay_ms;
    if (delay_ms <= 0) {
        while (c->chunks_left > 0) {
            put_chunk(out, wire->token, strlen(wire->token));
            c->chunks_left--;
        }
        stream_finish(c);
        return;
    }
    if (c->timer == NULL)
        c->timer = evtimer_new(bufferevent_get_base(c->bev), stream_tick, c);
    stream_tick(-1, 0, c);
}

static void reply(struct mconn *c, int status, const char *type, const char *body, size_t len)
{
    struct evbuffer *out = bufferevent_get_output(c->bev);

    evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s\r\n",
                        status, status == 200 ? "OK" : "Not Found", type, len,
                        c->close_after ? "Connection: close\r\n" : "");
    evbuffer_add(out, body, len);
}

/* Integer value of "name": N in a JSON body, or of name=N in a query string; -1 if absent. */
static long find_json_int(const char *body, size_t len, const char *name)
{
    size_t nl = strlen(name);
    const char *p = body, *end = body + len;

    while ((p = memmem(p, (size_t)(end - p), name, nl)) != NULL) {
        const char *q = p + nl;
        p = q;
        if (q >= end || *q != '"')
            continue;
        q++;
        while (q < end && (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r'))
            q++;
        if (q >= end || *q != ':')
            continue;
        q++;
        while (q < end && (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r'))
            q++;
        if (q < end && *q >= '0' && *q <= '9')
            return strtol(q, NULL, 10);
    }
    return -1;
}

static int body_wants_stream(const char *body, size_t len)
{
    const char *p = body, *end = body + len;

    while ((p = memmem(p, (size_t)(end - p), "\"stream\"", 8)) != NULL) {
        const char *q = p + 8;
        p = q;
        while (q < end && (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r' || *q == ':'))
            q++;
        if ((size_t)(end - q) >= 4 && memcmp(q, "true", 4) == 0)
            return 1;
    }
    return 0;
}

static long query_int(const char *query, const char *name)
{
    size_t nl = strlen(name);
    const char *p = query;

    while (p != NULL && *p != '\0') {
        if (strncmp(p, name, nl) == 0 && p[nl] == '=')
            return strtol(p + nl + 1, NULL, 10);
        p = strchr(p, '&');
        if (p != NULL)
            p++;
    }
    return -1;
}

/* N (which 0) or D (which 1) of a model name "...@N/D" in the body, or -1. */
static long model_setting(const char *body, size_t len, int which)
{
    const char *p = memmem(body, len, "\"model\"", 7), *end = body + len, *q;
    char *e;
    long n, d;

    if (p == NULL)
        return -1;
    q = memchr(p + 7, '"', (size_t)(end - p - 7)); /* the value's opening quote */
    if (q == NULL || (q = memchr(q + 1, '"', (size_t)(end - q - 1))) == NULL)
        return -1;
    for (p = q; p > body && *p != '@' && *p != ':'; p--)
        ;
    if (*p != '@')
        return -1;
    n = strtol(p + 1, &e, 10);
    if (*e != '/')
        return -1;
    d = strtol(e + 1, &e, 10);
    if (e != q)
        return -1;
    return which == 0 ? n : d;
}

/* A stream setting: the /p/N/D/ path value, else ?qname=, else the model name's "@N/D", else the
 * body's jname, else def. */
static long pick_setting(long path_value, const char *query, const char *qname, const char *body,
                         size_t body_len, const char *jname, long def)
{
    long v = path_value;

    if (v < 0 && query != NULL)
        v = query_int(query, qname);
    if (v < 0)
        v = model_setting(body, body_len, strcmp(qname, "chunks") == 0 ? 0 : 1);
    if (v < 0)
        v = find_json_int(body, body_len, jname);
    return v < 0 ? def : v;
}

static int ends_with(const char *s, size_t n, const char *suffix)
{
    size_t k = strlen(suffix);

    return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

/* Handles every complete request in the input buffer (stops while a stream is in progress). */
static void mconn_process(struct mconn *c)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);

    while (!c->streaming && !c->close_after) {
        struct evbuffer_ptr eoh = evbuffer_search(in, "\r\n\r\n", 4, NULL);
        char head[MOCK_MAX_HEAD + 1], method[16], target[1024], *line, *save = NULL;
        char *body = NULL, *query;
        size_t head_len, body_len = 0, path_len;
        long chunks, delay, path_chunks, path_delay;
        int want_close = 0;

        if (eoh.pos < 0) {
            if (evbuffer_get_length(in) > MOCK_MAX_HEAD)
                c->close_after = 1;
            return;
        }
        head_len = (size_t)eoh.pos + 4;
        if (head_len > MOCK_MAX_HEAD) {
            c->close_after = 1;
            return;
        }
        evbuffer_copyout(in, head, head_len);
        head[head_len] = '\0';
        /* Content-Length and Connection. */
        for (line = strtok_r(head, "\r\n", &save); line != NULL;
             line = strtok_r(NULL, "\r\n", &save)) {
            if (strncasecmp(line, "content-length:", 15) == 0)
                body_len = strtoul(line + 15, NULL, 10);
            else if (strncasecmp(line, "connection:", 11) == 0 && strcasestr(line, "close"))
                want_close = 1;
        }
        if (body_len > MOCK_MAX_BODY) {
            c->close_after = 1;
            return;
        }
        if (evbuffer_get_length(in) < head_len + body_len)
            return; /* the rest of the body comes later */
        c->close_after = want_close;
        evbuffer_copyout(in, head, head_len);
        head[head_len] = '\0';
        if (sscanf(head, "%15s %1023s", method, target) != 2) {
            c->close_after = 1;
            return;
        }
        evbuffer_drain(in, head_len);
        if (body_len > 0) {
            body = malloc(body_len + 1);
            if (body == NULL) {
                c->close_after = 1;
                return;
            }
            evbuffer_remove(in, body, body_len);
            body[body_len] = '\0';
        }
        query = strchr(target, '?');
        if (query != NULL)
            *query++ = '\0';
        path_chunks = path_delay = -1;
        if (strncmp(target, "/p/", 3) == 0) {
            char *end1, *end2;
            path_chunks = strtol(target + 3, &end1, 10);
            if (*end1 == '/') {
                path_delay = strtol(end1 + 1, &end2, 10);
                if (*end2 != '/')
                    path_chunks = path_delay = -1;
            } else
                path_chunks = -1;
        }
        path_len = strlen(target);
        if (strcmp(method, "POST") == 0 && (ends_with(target, path_len, "/chat/completions") ||
                                            ends_with(target, path_len, "/messages"))) {
            int an = ends_with(target, path_len, "/messages");

            if (body != NULL && body_wants_stream(body, body_len)) {
                chunks = pick_setting(path_chunks, query, "chunks", body, body_len, "mock_chunks",
                                      opt_chunks);
                delay = pick_setting(path_delay, query, "delay_ms", body, body_len, "mock_delay_ms",
                                     opt_delay_ms);
                stream_start(c, an ? &wire_anthropic : &wire_openai, chunks, delay);
            } else if (an) {
                reply(c, 200, "application/json", an_json, sizeof(an_json) - 1);
            } else {
                reply(c, 200, "application/json", mock_json, sizeof(mock_json) - 1);
            }
        } else if (strcmp(method, "GET") == 0 && ends_with(target, path_len, "/models")) {
            reply(c, 200, "application/json", mock_models, sizeof(mock_models) - 1);
        } else {
            reply(c, 404, "application/json", mock_not_found, sizeof(mock_not_found) - 1);
        }
        free(body);
    }
}

static void on_read(struct bufferevent *bev, void *arg)
{
    struct mconn *c = arg;

    (void)bev;
    mconn_process(c);
    if (c->close_after && !c->streaming && evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
        mconn_free(c);
}

static void on_write(struct bufferevent *bev, void *arg)
{
    struct mconn *c = arg;

    (void)bev;
    if (c->close_after && !c->streaming)
        mconn_free(c);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
        mconn_free(arg);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len,
                      void *arg)
{
    struct event_base *base = evconnlistener_get_base(l);
    struct mconn *c = calloc(1, sizeof(*c));
    int one = 1;

    (void)sa;
    (void)len;
    (void)arg;
    if (c == NULL) {
        close(fd);
        return;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (c->bev == NULL) {
        close(fd);
        free(c);
        return;
    }
    bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

struct worker {
    pthread_t tid;
    struct event_base *base;
    struct evconnlistener *lis;
};

static void *worker_run(void *arg)
{
    struct worker *w = arg;

    event_base_dispatch(w->base);
    return NULL;
}

static struct evconnlistener *listen_on(struct event_base *base, const char *host, int port)
{
    struct sockaddr_in sin;

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((unsigned short)port);
    if (inet_pton(AF_INET, host, &sin.sin_addr) != 1)
        return NULL;
    return evconnlistener_new_bind(
        base, on_accept, NULL, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_REUSEABLE_PORT,
        4096, (struct sockaddr *)&sin, sizeof(sin));
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    event_base_loopbreak(arg);
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1", *port_file = NULL;
    int port = 0, threads = 1, i;
    struct worker *ws;
    struct sockaddr_in sin;
    socklen_t sl = sizeof(sin);
    struct rlimit rl;
    struct event *sigint, *sigterm;

    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v == NULL) {
            fprintf(stderr, "mock: %s needs a value\n", a);
            return 2;
        }
        if (strcmp(a, "--host") == 0)
            host = v;
        else if (strcmp(a, "--port") == 0)
            port = atoi(v);
        else if (strcmp(a, "--port-file") == 0)
            port_file = v;
        else if (strcmp(a, "--threads") == 0)
            threads = atoi(v);
        else if (strcmp(a, "--chunks") == 0)
            opt_chunks = atol(v);
        else if (strcmp(a, "--delay-ms") == 0)
            opt_delay_ms = atol(v);
        else {
            fprintf(stderr, "mock: unknown option %s\n", a);
            return 2;
        }
        i++;
    }
    if (threads < 1)
        threads = 1;
    signal(SIGPIPE, SIG_IGN);
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    ws = calloc((size_t)threads, sizeof(*ws));
    for (i = 0; i < threads; i++) {
        struct event_config *cfg = event_config_new();
        event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER);
        ws[i].base = event_base_new_with_config(cfg);
        event_config_free(cfg);
        ws[i].lis = listen_on(ws[i].base, host, port);
        if (ws[i].lis == NULL) {
            fprintf(stderr, "mock: cannot listen on %s:%d: %s\n", host, port, strerror(errno));
            return 1;
        }
        if (port == 0) {
            getsockname(evconnlistener_get_fd(ws[i].lis), (struct sockaddr *)&sin, &sl);
            port = ntohs(sin.sin_port);
        }
    }
    if (port_file != NULL) {
        char tmp[4096];
        FILE *f;
        snprintf(tmp, sizeof(tmp), "%s.tmp", port_file);
        f = fopen(tmp, "w");
        if (f == NULL || fprintf(f, "%d\n", port) < 0 || fclose(f) != 0 ||
            rename(tmp, port_file) != 0) {
            fprintf(stderr, "mock: cannot write %s\n", port_file);
            return 1;
        }
    }
    printf("%d\n", port);
    fflush(stdout);
    for (i = 1; i < threads; i++)
        pthread_create(&ws[i].tid, NULL, worker_run, &ws[i]);
    sigint = evsignal_new(ws[0].base, SIGINT, on_signal, ws[0].base);
    sigterm = evsignal_new(ws[0].base, SIGTERM, on_signal, ws[0].base);
    evsignal_add(sigint, NULL);
    evsignal_add(sigterm, NULL);
    event_base_dispatch(ws[0].base);
    /* Other threads are not joined: the process exits with them. */
    return 0;
}
