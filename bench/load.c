/*
 * bench/load.c: the benchmark's own load generator on libevent (bench/README.md).
 *
 *   load rate    --url U [--body-file F] [-H 'K: V']... --rate R --duration S [--warmup S]
 *                [--connections C] [--drain S]
 *       Open loop: request i is due at t0 + i/R whatever happened before; it goes out on the
 *       first idle keep-alive connection, waiting in a queue when all C are busy. Latency is
 *       measured from the intended (due) time, so a stalled server is charged for every
 *       request it delayed (no coordinated omission). Requests still unanswered when the
 *       drain time is over are counted as "incomplete" with their latency so far.
 *   load ttfb    --url U [--body-file F] [-H ...] --count N [--gap-us G] [--warmup N]
 *       One keep-alive connection, one streaming request at a time: time from sending the
 *       request to the first "data:" byte of the answer (TTFB) and to the end of the stream.
 *   load streams --url U [--body-file F] [-H ...] --streams N [--pid P]... [--hold-ms H]
 *                [--timeout S] [--pending B]
 *       Opens N connections, each holding one long SSE stream; once every stream delivered
 *       its first event (or the timeout passed), waits H ms and reads VmRSS of each --pid
 *       from /proc (summed), then closes everything.
 *
 * Each mode prints one JSON object on stdout. Only http:// URLs with a numeric IPv4 host.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

enum { M_RATE, M_TTFB, M_STREAMS };
enum { S_IDLE, S_HEAD, S_BODY_LEN, S_CHUNK_SIZE, S_CHUNK_DATA, S_TRAILER, S_BODY_CLOSE };

struct lconn {
    struct bufferevent *bev;
    int id;
    int connected;
    int state;
    int status;
    int close_after;
    int got_first;
    long remain;
    long req;         /* request index (rate mode), -1 when idle */
    uint64_t t_due;   /* intended send time, ns */
    uint64_t t_sent;  /* actual send time, ns */
    uint64_t t_first; /* first "data:" seen, ns */
    struct lconn *next_idle;
};

static struct {
    int mode;
    struct sockaddr_in addr;
    char *req;
    size_t req_len;
    struct event_base *base;
    /* rate */
    double rate, duration, warmup, drain;
    int nconn;
    long total, warm_n, next_i, q_head, inflight;
    uint64_t t0;
    uint32_t *lat; /* µs, recorded requests only */
    unsigned char *lat_set;
    long ok, non2xx, errors, incomplete, done_recorded;
    struct lconn *conns, *idle;
    struct event *tick, *deadline;
    int finished;
    /* ttfb */
    long count, ttfb_warm, seq;
    long gap_us;
    uint32_t *ttfb, *ttotal;
    long ttfb_n;
    /* streams */
    long streams, opened, established, failed, ended, pending_max, pending;
    long hold_ms;
    double timeout;
    int pids[16];
    int npids;
    uint64_t t_start;
    struct event *hold;
} g;

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static struct timeval tv_ns(uint64_t ns)
{
    struct timeval tv;

    tv.tv_sec = (time_t)(ns / 1000000000u);
    tv.tv_usec = (suseconds_t)((ns % 1000000000u) / 1000u);
    return tv;
}

static void die(const char *msg)
{
    fprintf(stderr, "load: %s\n", msg);
    exit(2);
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;

    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET))
        die("cannot read the body file");
    buf = malloc((size_t)n + 1);
    if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n)
        die("cannot read the body file");
    fclose(f);
    buf[n] = '\0';
    *len = (size_t)n;
    return buf;
}

static long rss_kb(int pid)
{
    char path[64], line[256];
    long kb = -1;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/status", pid);
    f = fopen(path, "r");
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL)
        if (strncmp(line, "VmRSS:", 6) == 0)
            kb = strtol(line + 6, NULL, 10);
    fclose(f);
    return kb;
}

static long rss_total_kb(void)
{
    long sum = 0, v;
    int i;

    for (i = 0; i < g.npids; i++) {
        v = rss_kb(g.pids[i]);
        if (v < 0)
            return -1;
        sum += v;
    }
    return sum;
}

/* ---------------------------------------------------------------------- response parsing */

/* Called when a whole response has arrived on c. */
static void on_response(struct lconn *c);
/* Called when c failed or was closed. */
static void on_conn_lost(struct lconn *c, int during_request);

static void note_first_data(struct lconn *c, struct evbuffer *in)
{
    if (!c->got_first && evbuffer_search(in, "data:", 5, NULL).pos >= 0) {
        c->got_first = 1;
        c->t_first = now_ns();
    }
}

/* Drops up to c->remain body bytes from in; returns 1 once all of them went. */
static int drain_remain(struct lconn *c, struct evbuffer *in)
{
    size_t have = evbuffer_get_length(in);
    size_t take = have < (size_t)c->remain ? have : (size_t)c->remain;

    note_first_data(c, in);
    evbuffer_drain(in, take);
    c->remain -= (long)take;
    return c->remain <= 0;
}

/* Parses what is in the input buffer; returns 1 when a response completed. */
static int parse(struct lconn *c)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);

    for (;;) {
        switch (c->state) {
        case S_IDLE:
            evbuffer_drain(in, evbuffer_get_length(in));
            return 0;
        case S_HEAD: {
            struct evbuffer_ptr p = evbuffer_search(in, "\r\n\r\n", 4, NULL);
            char *head, *line, *save = NULL;
            long clen = -1;
            int chunked = 0;

            if (p.pos < 0)
                return 0;
            head = malloc((size_t)p.pos + 5);
            if (head == NULL)
                die("out of memory");
            evbuffer_remove(in, head, (size_t)p.pos + 4);
            head[p.pos + 4] = '\0';
            c->status = 0;
            if (strncmp(head, "HTTP/1.", 7) == 0 && strlen(head) > 12)
                c->status = atoi(head + 9);
            c->close_after = strncmp(head, "HTTP/1.0", 8) == 0;
            for (line = strtok_r(head, "\r\n", &save); line != NULL;
                 line = strtok_r(NULL, "\r\n", &save)) {
                if (strncasecmp(line, "content-length:", 15) == 0)
                    clen = strtol(line + 15, NULL, 10);
                else if (strncasecmp(line, "transfer-encoding:", 18) == 0 &&
                         strcasestr(line, "chunked"))
                    chunked = 1;
                else if (strncasecmp(line, "connection:", 11) == 0) {
                    if (strcasestr(line, "close"))
                        c->close_after = 1;
                    else if (strcasestr(line, "keep-alive"))
                        c->close_after = 0;
                }
            }
            free(head);
            note_first_data(c, in);
            if (chunked)
                c->state = S_CHUNK_SIZE;
            else if (clen >= 0) {
                c->state = S_BODY_LEN;
                c->remain = clen;
            } else {
                c->state = S_BODY_CLOSE;
                c->close_after = 1;
            }
            break;
        }
        case S_BODY_LEN:
            if (!drain_remain(c, in))
                return 0;
            c->state = S_IDLE;
            return 1;
        case S_CHUNK_SIZE: {
            size_t n = 0;
            char *line;

            note_first_data(c, in);
            line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF);
            if (line == NULL)
                return 0;
            c->remain = strtol(line, NULL, 16);
            free(line);
            if (c->remain == 0)
                c->state = S_TRAILER;
            else {
                c->remain += 2; /* the CRLF after the data */
                c->state = S_CHUNK_DATA;
            }
            break;
        }
        case S_CHUNK_DATA:
            if (!drain_remain(c, in))
                return 0;
            c->state = S_CHUNK_SIZE;
            break;
        case S_TRAILER: {
            size_t n = 0;
            char *line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF);

            if (line == NULL)
                return 0;
            free(line);
            if (n == 0) {
                c->state = S_IDLE;
                return 1;
            }
            break;
        }
        case S_BODY_CLOSE:
            note_first_data(c, in);
            evbuffer_drain(in, evbuffer_get_length(in));
            return 0;
        }
    }
}

static void conn_open(struct lconn *c);
static void on_response(struct lconn *c);

static void idle_remove(struct lconn *c)
{
    struct lconn **pp = &g.idle;

    while (*pp != NULL) {
        if (*pp == c) {
            *pp = c->next_idle;
            return;
        }
        pp = &(*pp)->next_idle;
    }
}

static void on_read(struct bufferevent *bev, void *arg)
{
    struct lconn *c = arg;

    (void)bev;
    while (c->bev != NULL && c->state != S_IDLE) {
        int was_first = c->got_first;
        int done = parse(c);

        if (g.mode == M_STREAMS) {
            if (!was_first && c->got_first)
                on_response(c); /* the first event: this stream is established */
            if (done) {         /* the stream ended while it should be held open */
                bufferevent_free(c->bev);
                c->bev = NULL;
                on_conn_lost(c, 0);
            }
            return;
        }
        if (!done)
            return;
        on_response(c);
    }
    if (c->bev != NULL)
        evbuffer_drain(bufferevent_get_input(c->bev),
                       evbuffer_get_length(bufferevent_get_input(c->bev)));
}

static void rate_dispatch(void);

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    struct lconn *c = arg;

    (void)bev;
    if (what & BEV_EVENT_CONNECTED) {
        int one = 1;
        setsockopt(bufferevent_getfd(c->bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        c->connected = 1;
        if (g.mode == M_STREAMS)
            bufferevent_write(c->bev, g.req, g.req_len);
        else if (g.mode == M_RATE && c->req < 0) {
            c->next_idle = g.idle;
            g.idle = c;
            if (g.tick != NULL && !g.finished)
                rate_dispatch();
        }
        return;
    }
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
        int during = c->state != S_IDLE || c->req >= 0;

        bufferevent_free(c->bev);
        c->bev = NULL;
        c->connected = 0;
        if ((what & BEV_EVENT_EOF) && c->state == S_BODY_CLOSE) {
            /* A body delimited by the end of the connection: complete now. */
            c->state = S_IDLE;
            c->close_after = 1;
            on_response(c);
            return;
        }
        c->state = S_IDLE;
        on_conn_lost(c, during);
    }
}

static void conn_open(struct lconn *c)
{
    c->bev = bufferevent_socket_new(g.base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (c->bev == NULL)
        die("bufferevent_socket_new failed");
    c->state = S_IDLE;
    c->connected = 0;
    c->got_first = 0;
    bufferevent_setcb(c->bev, on_read, NULL, on_event, c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    if (bufferevent_socket_connect(c->bev, (struct sockaddr *)&g.addr, sizeof(g.addr)) < 0) {
        bufferevent_free(c->bev);
        c->bev = NULL;
        g.errors++;
        if (g.mode == M_STREAMS)
            on_conn_lost(c, 0);
    }
}

static void send_req(struct lconn *c)
{
    c->state = S_HEAD;
    c->got_first = 0;
    c->t_sent = now_ns();
    bufferevent_write(c->bev, g.req, g.req_len);
}

/* ------------------------------------------------------------------------------ rate mode */

static uint64_t due_ns(long i)
{
    return g.t0 + (uint64_t)((double)i * 1e9 / g.rate);
}

static void rate_record(long idx, uint64_t t_end, int incomplete)
{
    long k = idx - g.warm_n;
    uint64_t d;

    if (k < 0 || g.lat_set[k])
        return;
    d = t_end > due_ns(idx) ? (t_end - due_ns(idx)) / 1000u : 0;
    g.lat[k] = d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
    g.lat_set[k] = 1;
    g.done_recorded++;
    if (incomplete)
        g.incomplete++;
}

static void rate_finish(void);

static void rate_dispatch(void)
{
    while (g.q_head < g.next_i && g.idle != NULL) {
        struct lconn *c = g.idle;
        g.idle = c->next_idle;
        c->req = g.q_head++;
        c->t_due = due_ns(c->req);
        g.inflight++;
        send_req(c);
    }
    if (!g.finished && g.next_i >= g.total && g.q_head >= g.total && g.inflight == 0)
        rate_finish();
}

static void rate_tick(evutil_socket_t fd, short what, void *arg)
{
    uint64_t t = now_ns();
    struct timeval tv;

    (void)fd;
    (void)what;
    (void)arg;
    while (g.next_i < g.total && due_ns(g.next_i) <= t)
        g.next_i++;
    rate_dispatch();
    if (g.next_i < g.total) {
        uint64_t due = due_ns(g.next_i);
        tv = tv_ns(due > t ? due - t : 0);
        evtimer_add(g.tick, &tv);
    }
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

    return x < y ? -1 : x > y;
}

static double pct(const uint32_t *sorted, long n, double p)
{
    long i;

    if (n <= 0)
        return -1;
    i = (long)(p / 100.0 * (double)n + 0.5) - 1;
    if (i < 0)
        i = 0;
    if (i >= n)
        i = n - 1;
    return sorted[i];
}

static void rate_finish(void)
{
    uint64_t t = now_ns();
    long i, n = 0, rec = g.total - g.warm_n;
    uint32_t *v;
    double sum = 0;

    g.finished = 1;
    /* Whatever is still queued or in flight: latency so far, counted as incomplete. */
    for (i = 0; i < g.nconn; i++)
        if (g.conns[i].req >= 0)
            rate_record(g.conns[i].req, t, 1);
    for (i = g.q_head; i < g.total; i++)
        rate_record(i, t, 1);
    v = malloc(sizeof(*v) * (size_t)(rec > 0 ? rec : 1));
    for (i = 0; i < rec; i++)
        if (g.lat_set[i]) {
            v[n++] = g.lat[i];
            sum += g.lat[i];
        }
    qsort(v, (size_t)n, sizeof(*v), cmp_u32);
    printf("{\"mode\":\"rate\",\"rate\":%.0f,\"duration_s\":%.3f,\"connections\":%d,"
           "\"requests\":%ld,\"ok\":%ld,\"non2xx\":%ld,\"errors\":%ld,\"incomplete\":%ld,"
           "\"achieved_rps\":%.1f,\"lat_us\":{\"p50\":%.0f,\"p90\":%.0f,\"p99\":%.0f,"
           "\"p999\":%.0f,\"max\":%.0f,\"mean\":%.1f}}\n",
           g.rate, g.duration, g.nconn, rec, g.ok, g.non2xx, g.errors, g.incomplete,
           (double)(g.ok + g.non2xx) / g.duration, pct(v, n, 50), pct(v, n, 90), pct(v, n, 99),
           pct(v, n, 99.9), n > 0 ? (double)v[n - 1] : -1, n > 0 ? sum / (double)n : -1);
    fflush(stdout);
    free(v);
    event_base_loopbreak(g.base);
}

static void rate_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    if (!g.finished)
        rate_finish();
}

static void rate_start(evutil_socket_t fd, short what, void *arg)
{
    struct timeval tv;

    (void)fd;
    (void)what;
    (void)arg;
    g.t0 = now_ns();
    g.tick = evtimer_new(g.base, rate_tick, NULL);
    g.deadline = evtimer_new(g.base, rate_deadline, NULL);
    tv = tv_ns((uint64_t)((g.warmup + g.duration + g.drain) * 1e9));
    evtimer_add(g.deadline, &tv);
    rate_tick(-1, 0, NULL);
}

/* ------------------------------------------------------------------------------ ttfb mode */

static void ttfb_next(evutil_socket_t fd, short what, void *arg)
{
    struct lconn *c = &g.conns[0];

    (void)fd;
    (void)what;
    (void)arg;
    if (g.seq >= g.count + g.ttfb_warm) {
        uint32_t *a = g.ttfb, *b = g.ttotal;
        long n = g.ttfb_n;
        double sa = 0, sb = 0;
        long i;
        for (i = 0; i < n; i++) {
            sa += a[i];
            sb += b[i];
        }
        qsort(a, (size_t)n, sizeof(*a), cmp_u32);
        qsort(b, (size_t)n, sizeof(*b), cmp_u32);
        printf("{\"mode\":\"ttfb\",\"requests\":%ld,\"ok\":%ld,\"non2xx\":%ld,\"errors\":%ld,"
               "\"ttfb_us\":{\"p50\":%.0f,\"p90\":%.0f,\"p99\":%.0f,\"mean\":%.1f},"
               "\"total_us\":{\"p50\":%.0f,\"p90\":%.0f,\"p99\":%.0f,\"mean\":%.1f}}\n",
               n, g.ok, g.non2xx, g.errors, pct(a, n, 50), pct(a, n, 90), pct(a, n, 99),
               n ? sa / (double)n : -1, pct(b, n, 50), pct(b, n, 90), pct(b, n, 99),
               n ? sb / (double)n : -1);
        fflush(stdout);
        event_base_loopbreak(g.base);
        return;
    }
    if (c->bev == NULL)
        conn_open(c);
    if (!c->connected) {
        struct timeval tv = {0, 1000};
        event_base_once(g.base, -1, EV_TIMEOUT, ttfb_next, NULL, &tv);
        return;
    }
    c->req = g.seq++;
    send_req(c);
}

/* --------------------------------------------------------------------------- streams mode */

static void streams_report(evutil_socket_t fd, short what, void *arg)
{
    long rss = rss_total_kb();

    (void)fd;
    (void)what;
    (void)arg;
    printf("{\"mode\":\"streams\",\"streams\":%ld,\"established\":%ld,\"open\":%ld,"
           "\"failed\":%ld,\"ended_early\":%ld,\"setup_s\":%.3f,\"rss_kb\":%ld}\n",
           g.streams, g.established, g.established - g.ended, g.failed, g.ended,
           (double)(now_ns() - g.t_start) / 1e9, rss);
    fflush(stdout);
    event_base_loopbreak(g.base);
}

static void streams_fill(void)
{
    while (g.opened < g.streams && g.pending < g.pending_max) {
        struct lconn *c = &g.conns[g.opened++];
        g.pending++;
        c->req = 0;
        conn_open(c);
        if (c->bev != NULL) {
            c->state = S_HEAD;
            c->t_sent = now_ns();
        }
    }
    if (g.hold == NULL && g.opened >= g.streams && g.pending == 0) {
        struct timeval tv = {g.hold_ms / 1000, (g.hold_ms % 1000) * 1000};
        g.hold = evtimer_new(g.base, streams_report, NULL);
        evtimer_add(g.hold, &tv);
    }
}

static void streams_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    fprintf(stderr, "load: streams: timeout with %ld of %ld established\n", g.established,
            g.streams);
    streams_report(-1, 0, NULL);
}

/* ----------------------------------------------------------------------- shared callbacks */

static void on_response(struct lconn *c)
{
    if (g.mode == M_STREAMS) {
        if (c->got_first && c->req == 0) {
            c->req = 1; /* established */
            g.established++;
            g.pending--;
            streams_fill();
        }
        return;
    }
    if (g.mode != M_RATE || c->req >= g.warm_n) {
        if (c->status >= 200 && c->status < 300)
            g.ok++;
        else
            g.non2xx++;
    }
    if (g.mode == M_RATE) {
        if (c->req >= 0) {
            rate_record(c->req, now_ns(), 0);
            c->req = -1;
            g.inflight--;
        }
        if (c->close_after) {
            if (c->bev != NULL)
                bufferevent_free(c->bev);
            c->bev = NULL;
            if (!g.finished)
                conn_open(c); /* joins the idle list once connected */
            return;
        }
        c->next_idle = g.idle;
        g.idle = c;
        if (!g.finished)
            rate_dispatch();
        return;
    }
    /* ttfb */
    if (c->req >= g.ttfb_warm && g.ttfb_n < g.count) {
        uint64_t t = now_ns();
        g.ttfb[g.ttfb_n] = (uint32_t)(((c->got_first ? c->t_first : t) - c->t_sent) / 1000u);
        g.ttotal[g.ttfb_n] = (uint32_t)((t - c->t_sent) / 1000u);
        g.ttfb_n++;
    }
    if (c->close_after && c->bev != NULL) {
        bufferevent_free(c->bev);
        c->bev = NULL;
    }
    {
        struct timeval tv = {0, g.gap_us};
        event_base_once(g.base, -1, EV_TIMEOUT, ttfb_next, NULL, &tv);
    }
}

static void on_conn_lost(struct lconn *c, int during_request)
{
    if (g.mode == M_STREAMS) {
        if (c->req == 0) {
            g.failed++;
            g.pending--;
            c->req = 2;
            streams_fill();
        } else if (c->req == 1) {
            g.ended++;
            c->req = 3;
        }
        return;
    }
    if (during_request)
        g.errors++;
    if (g.mode == M_RATE) {
        idle_remove(c);
        if (c->req >= 0) {
            c->req = -1;
            g.inflight--;
        }
        if (!g.finished) {
            conn_open(c); /* reconnects; joins the idle list once connected */
            rate_dispatch();
        }
        return;
    }
    if (during_request) {
        struct timeval tv = {0, 10000};
        event_base_once(g.base, -1, EV_TIMEOUT, ttfb_next, NULL, &tv);
    }
}

/* ---------------------------------------------------------------------------------- main */

static void parse_url(const char *url, char *host, size_t hlen, int *port, const char **path)
{
    const char *p, *slash, *colon;

    if (strncmp(url, "http://", 7) != 0)
        die("--url must start with http://");
    p = url + 7;
    slash = strchr(p, '/');
    *path = slash != NULL ? slash : "/";
    if (slash == NULL)
        slash = p + strlen(p);
    colon = memchr(p, ':', (size_t)(slash - p));
    *port = colon != NULL ? atoi(colon + 1) : 80;
    if (colon == NULL)
        colon = slash;
    if ((size_t)(colon - p) >= hlen)
        die("host too long");
    memcpy(host, p, (size_t)(colon - p));
    host[colon - p] = '\0';
}

int main(int argc, char **argv)
{
    const char *url = NULL, *body_file = NULL, *body_str = NULL, *path;
    char host[256], *headers = NULL, *body;
    size_t hdr_len = 0, body_len;
    int port, i;
    struct rlimit rl;
    struct event_config *cfg;

    if (argc < 2)
        die("usage: load rate|ttfb|streams --url URL ... (see bench/load.c)");
    if (strcmp(argv[1], "rate") == 0)
        g.mode = M_RATE;
    else if (strcmp(argv[1], "ttfb") == 0)
        g.mode = M_TTFB;
    else if (strcmp(argv[1], "streams") == 0)
        g.mode = M_STREAMS;
    else
        die("mode must be rate, ttfb or streams");
    g.rate = 1000;
    g.duration = 5;
    g.drain = 5;
    g.nconn = 64;
    g.count = 200;
    g.gap_us = 200;
    g.streams = 1000;
    g.hold_ms = 1000;
    g.timeout = 60;
    g.pending_max = 256;
    headers = calloc(1, 1);
    for (i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v == NULL)
            die("an option lacks its value");
        if (strcmp(a, "--url") == 0)
            url = v;
        else if (strcmp(a, "--body-file") == 0)
            body_file = v;
        else if (strcmp(a, "--body") == 0)
            body_str = v;
        else if (strcmp(a, "-H") == 0) {
            size_t n = strlen(v);
            headers = realloc(headers, hdr_len + n + 3);
            memcpy(headers + hdr_len, v, n);
            memcpy(headers + hdr_len + n, "\r\n", 3);
            hdr_len += n + 2;
        } else if (strcmp(a, "--rate") == 0)
            g.rate = atof(v);
        else if (strcmp(a, "--duration") == 0)
            g.duration = atof(v);
        else if (strcmp(a, "--warmup") == 0) {
            g.warmup = atof(v);
            g.ttfb_warm = atol(v);
        } else if (strcmp(a, "--drain") == 0)
            g.drain = atof(v);
        else if (strcmp(a, "--connections") == 0)
            g.nconn = atoi(v);
        else if (strcmp(a, "--count") == 0)
            g.count = atol(v);
        else if (strcmp(a, "--gap-us") == 0)
            g.gap_us = atol(v);
        else if (strcmp(a, "--streams") == 0)
            g.streams = atol(v);
        else if (strcmp(a, "--hold-ms") == 0)
            g.hold_ms = atol(v);
        else if (strcmp(a, "--timeout") == 0)
            g.timeout = atof(v);
        else if (strcmp(a, "--pending") == 0)
            g.pending_max = atol(v);
        else if (strcmp(a, "--pid") == 0) {
            if (g.npids < 16)
                g.pids[g.npids++] = atoi(v);
        } else
            die("unknown option (see bench/load.c)");
        i++;
    }
    if (url == NULL)
        die("--url is required");
    parse_url(url, host, sizeof(host), &port, &path);
    memset(&g.addr, 0, sizeof(g.addr));
    g.addr.sin_family = AF_INET;
    g.addr.sin_port = htons((unsigned short)port);
    if (inet_pton(AF_INET, host, &g.addr.sin_addr) != 1)
        die("the URL host must be a numeric IPv4 address");
    if (body_file != NULL)
        body = read_file(body_file, &body_len);
    else {
        body = strdup(body_str != NULL ? body_str : "{}");
        body_len = strlen(body);
    }
    g.req_len = strlen(path) + hdr_len + body_len + strlen(host) + 256;
    g.req = malloc(g.req_len);
    g.req_len = (size_t)snprintf(g.req, g.req_len,
                                 "POST %s HTTP/1.1\r\nHost: %s:%d\r\n"
                                 "Content-Type: application/json\r\n%sContent-Length: %zu\r\n\r\n",
                                 path, host, port, headers, body_len);
    g.req = realloc(g.req, g.req_len + body_len);
    memcpy(g.req + g.req_len, body, body_len);
    g.req_len += body_len;

    signal(SIGPIPE, SIG_IGN);
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    cfg = event_config_new();
    event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER);
    g.base = event_base_new_with_config(cfg);
    event_config_free(cfg);
    if (g.base == NULL)
        die("event_base_new failed");

    if (g.mode == M_RATE) {
        struct timeval tv = {0, 300000}; /* let the connections open first */
        if (g.rate <= 0 || g.duration <= 0 || g.nconn < 1)
            die("--rate, --duration and --connections must be positive");
        g.warm_n = (long)(g.rate * g.warmup);
        g.total = g.warm_n + (long)(g.rate * g.duration);
        g.lat = calloc((size_t)(g.total - g.warm_n + 1), sizeof(*g.lat));
        g.lat_set = calloc((size_t)(g.total - g.warm_n + 1), 1);
        g.conns = calloc((size_t)g.nconn, sizeof(*g.conns));
        for (i = 0; i < g.nconn; i++) {
            g.conns[i].id = i;
            g.conns[i].req = -1;
            conn_open(&g.conns[i]);
        }
        event_base_once(g.base, -1, EV_TIMEOUT, rate_start, NULL, &tv);
    } else if (g.mode == M_TTFB) {
        g.conns = calloc(1, sizeof(*g.conns));
        g.conns[0].req = -1;
        g.ttfb = calloc((size_t)g.count + 1, sizeof(*g.ttfb));
        g.ttotal = calloc((size_t)g.count + 1, sizeof(*g.ttotal));
        event_base_once(g.base, -1, EV_TIMEOUT, ttfb_next, NULL, NULL);
    } else {
        struct timeval tv = tv_ns((uint64_t)(g.timeout * 1e9));
        g.conns = calloc((size_t)g.streams, sizeof(*g.conns));
        g.t_start = now_ns();
        event_base_once(g.base, -1, EV_TIMEOUT, streams_timeout, NULL, &tv);
        streams_fill();
    }
    event_base_dispatch(g.base);
    return 0;
}
