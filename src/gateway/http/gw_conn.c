/*
 * Per-connection request framer between the socket and evhttp (contract in gw_conn.h): a
 * bufferevent filter over a socket bufferevent. Its input side feeds the socket bytes to
 * gw_frame and hands evhttp whole requests only; a violation or a read timeout becomes the
 * synthetic reject request. Its output side writes evhttp's bytes straight to the socket
 * ("write-through", see conn_output()), because libevent 2.1's filter reports a response as
 * written as soon as it reaches the socket bufferevent's buffer, and evhttp then frees the
 * connection of a "Connection: close" response before any byte was sent. After the first
 * bytes, the socket bufferevent no longer reads: conn_read_cb() does, into its input buffer,
 * so that evhttp's per-request read disable/enable costs no epoll_ctl (see conn_read_cb()).
 */
#include "gateway/http/gw_conn.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>

#include "gateway/http/gw_early.h"
#include "gateway/http/gw_frame.h"
#include "log.h"
#include "util.h"

#define CONN_NVEC 8         /* socket-input chains looked at per evbuffer_peek() */
#define CONN_COPY_MAX 2048  /* requests parts up to this size are copied, not moved */
#define CONN_READ_SIZE 4032 /* bytes asked of the socket per read (a 4 KiB evbuffer chain) */
#define CONN_READS 4        /* reads per readiness callback while the socket fills them */

static const char conn_continue[] = "HTTP/1.1 100 Continue\r\n\r\n";

/* The marker secret: 32 hex digits from the CSPRNG, "" when it could not be drawn. */
static char conn_secret[33];
static pthread_once_t conn_secret_once = PTHREAD_ONCE_INIT;

struct gw_conn {
    const struct gw_conn_limits *lim;
    struct bufferevent *bev;          /* the filter, evhttp's bufferevent */
    struct bufferevent *under;        /* the socket bufferevent below it (its input only) */
    struct gw_frame *fr;              /* the request being received */
    struct event *timer;              /* read timeout of a begun request, or NULL */
    struct event *wev;                /* "flush now" / "socket writable", or NULL */
    struct event *rev;                /* the socket reader (conn_read_cb), or NULL */
    struct evbuffer *pre;             /* rest of a partly sent 100 Continue, or NULL */
    struct evbuffer_cb_entry *out_cb; /* conn_out_added() on evhttp's output */
    size_t scanned;                   /* bytes at the front of the socket input fed to fr */
    struct event *ltimer;             /* lingering close: idle / total time limit, or NULL */
    int64_t linger_end_us;            /* monotonic deadline of the lingering */
    uint64_t linger_left;             /* bytes still to discard before the close */
    bool rejected;                    /* the reject request went out: drop all further input */
    bool head_done;                   /* the current request's head was parsed */
    bool linger;                      /* lingering: evhttp's close is held until linger_over */
    bool linger_over;                 /* enough was discarded (or timed out): let evhttp close */
    bool held;     /* a placeholder byte in evhttp's output holds its close (the answer is sent) */
    bool adding;   /* we add the placeholder ourselves (not evhttp's output) */
    bool shut;     /* the socket's write side is shut down */
    bool flushing; /* conn_output() may write (we are in conn_write_cb) */
    bool write_failed;
    bool nodelay;                /* TCP_NODELAY is set on the socket */
    bool paused;                 /* rev is off: a whole request waits for a busy evhttp */
    struct gw_conn_set *set;     /* lim->set, or NULL */
    struct gw_conn *prev, *next; /* in set */
    int64_t active_us;           /* monotonic time of the last bytes read */
};

struct gw_conn_set {
    struct gw_conn *head;
    size_t n;
};

/* bufferevent_free() clears the callbacks; evhttp always has an event callback until then. */
static bool conn_is_closing(struct gw_conn *c)
{
    bufferevent_event_cb eventcb = NULL;

    bufferevent_getcb(c->bev, NULL, NULL, &eventcb, NULL);
    return eventcb == NULL;
}

static void conn_timer_cb(evutil_socket_t fd, short what, void *arg);
static void conn_write_cb(evutil_socket_t fd, short what, void *arg);
static void conn_write_schedule(struct gw_conn *c, bool now);

static void conn_timer_start(struct gw_conn *c)
{
    struct timeval tv = {c->lim->read_timeout, 0};

    if (c->lim->read_timeout <= 0)
        return;
    if (c->timer == NULL) {
        c->timer = evtimer_new(bufferevent_get_base(c->bev), conn_timer_cb, c);
        if (c->timer == NULL) {
            LOG_ERR("conn: cannot create the read timer");
            return;
        }
    }
    evtimer_add(c->timer, &tv);
}

static void conn_timer_stop(struct gw_conn *c)
{
    if (c->timer != NULL)
        evtimer_del(c->timer);
}

/* Moves exactly n bytes from the front of src to dst (whole chains where possible). */
static int conn_move(struct evbuffer *src, struct evbuffer *dst, size_t n)
{
    size_t before = evbuffer_get_length(dst);

    if (n == 0)
        return 0;
    evbuffer_remove_buffer(src, dst, n);
    return evbuffer_get_length(dst) - before == n ? 0 : -1;
}

static void conn_secret_init(void)
{
    unsigned char b[16];

    if (util_random(b, sizeof(b)) < 0)
        return;
    for (size_t i = 0; i < sizeof(b); i++)
        snprintf(conn_secret + 2 * i, 3, "%02x", b[i]);
}

int gw_conn_internal_status(const struct evkeyvalq *headers)
{
    const char *v = evhttp_find_header((struct evkeyvalq *)headers, GW_CONN_MARKER);
    unsigned char diff = 0;
    int status;

    if (v == NULL || conn_secret[0] == '\0' || strlen(v) < 36 || v[32] != ' ')
        return 0;
    for (size_t i = 0; i < 32; i++) /* constant time: the secret is not guessable bit by bit */
        diff |= (unsigned char)(v[i] ^ conn_secret[i]);
    status = atoi(v + 33);
    return diff == 0 && status >= 100 && status <= 599 ? status : 0;
}

static void conn_linger_cb(evutil_socket_t fd, short what, void *arg);

/* Lingering is over: evhttp may close (the held answer is released by conn_write_cb()). */
static void conn_linger_end(struct gw_conn *c)
{
    if (c->linger_over)
        return;
    c->linger_over = true;
    if (c->ltimer != NULL)
        evtimer_del(c->ltimer);
    if (c->held)
        conn_write_schedule(c, true);
}

/* (Re)arms the lingering timer: GW_CONN_LINGER_IDLE_MS, never past the deadline. */
static void conn_linger_arm(struct gw_conn *c)
{
    int64_t left = c->linger_end_us - util_mono_us();
    struct timeval tv;

    if (left > (int64_t)GW_CONN_LINGER_IDLE_MS * 1000)
        left = (int64_t)GW_CONN_LINGER_IDLE_MS * 1000;
    if (left <= 0 || c->ltimer == NULL) {
        conn_linger_end(c);
        return;
    }
    tv.tv_sec = (time_t)(left / 1000000);
    tv.tv_usec = (suseconds_t)(left % 1000000);
    evtimer_add(c->ltimer, &tv);
}

static void conn_linger_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    conn_linger_end(arg);
}

/* n more bytes of the client were discarded while lingering. */
static void conn_linger_took(struct gw_conn *c, size_t n)
{
    if (!c->linger || c->linger_over)
        return;
    if (n >= c->linger_left) {
        c->linger_left = 0;
        conn_linger_end(c);
        return;
    }
    c->linger_left -= n;
    conn_linger_arm(c);
}

/*
 * Starts lingering for the request at the front of src (avail bytes of it are in): the rest of
 * its declared body when the head is known, else the whole stream, within the byte cap.
 */
static void conn_linger_start(struct gw_conn *c, size_t avail)
{
    const struct gw_frame_info *in = gw_frame_info(c->fr);
    uint64_t cap = (uint64_t)c->lim->max_body_size + GW_CONN_LINGER_EXTRA;

    c->linger = true;
    c->linger_left = cap;
    c->linger_end_us = util_mono_us() + (int64_t)GW_CONN_LINGER_MS * 1000;
    if (c->head_done && in->has_content_length && !in->chunked) {
        size_t head = in->skip + in->head_len;
        uint64_t got = avail > head ? avail - head : 0;
        uint64_t rest = in->content_length > got ? in->content_length - got : 0;
        if (rest < cap)
            c->linger_left = rest;
    }
    if (c->linger_left == 0) {
        c->linger_over = true; /* nothing more to come: close after the answer as usual */
        return;
    }
    if (c->ltimer == NULL)
        c->ltimer = evtimer_new(bufferevent_get_base(c->bev), conn_linger_cb, c);
    conn_linger_arm(c);
}

/*
 * Drops the request in progress and everything after it (src is the socket input) and gives
 * evhttp (dst) a synthetic request instead, marked as ours: "GET /_gw/reject/<status>", or with
 * head (the current request's complete head) a body-less copy of it. Our router answers it and
 * evhttp closes once the lingering is over.
 */
static int conn_reject(struct gw_conn *c, struct evbuffer *src, struct evbuffer *dst, int status,
                       const char *head)
{
    char mark[64];
    int rc;

    LOG_DEBUG("conn: request rejected with %d", status);
    snprintf(mark, sizeof(mark), "%s %d", conn_secret, status);
    if (head != NULL)
        rc = gw_early_head_copy(head, gw_frame_info(c->fr)->head_len, GW_CONN_MARKER, mark, dst);
    else
        rc = evbuffer_add_printf(dst,
                                 "GET " GW_CONN_REJECT_PREFIX "%d HTTP/1.1\r\nHost: gw\r\n"
                                 "Connection: close\r\n" GW_CONN_MARKER ": %s\r\n\r\n",
                                 status, mark) < 0
                 ? -1
                 : 0;
    conn_linger_start(c, evbuffer_get_length(src));
    evbuffer_drain(src, evbuffer_get_length(src));
    c->scanned = 0;
    c->rejected = true;
    conn_timer_stop(c);
    return rc;
}

/*
 * A chunked body with chunk extensions (or whitespace) on some size line: evhttp 2.1 refuses
 * those, so each size line is rewritten as bare hex. The framer validated the body already.
 */
static int conn_pass_chunked(struct evbuffer *src, struct evbuffer *dst, size_t left)
{
    for (;;) {
        size_t eol = 0, line;
        uint64_t size = 0;
        struct evbuffer_ptr e = evbuffer_search_eol(src, NULL, &eol, EVBUFFER_EOL_CRLF);
        const unsigned char *p;

        if (e.pos < 0)
            return -1;
        line = (size_t)e.pos;
        p = evbuffer_pullup(src, (ev_ssize_t)line);
        if (p == NULL && line > 0)
            return -1;
        for (size_t i = 0; i < line; i++) {
            unsigned char ch = p[i];
            int d = ch >= '0' && ch <= '9'   ? ch - '0'
                    : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
                    : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
                                             : -1;
            if (d < 0)
                break;
            size = size * 16 + (uint64_t)d;
        }
        evbuffer_drain(src, line + eol);
        left -= line + eol;
        if (evbuffer_add_printf(dst, "%llx\r\n", (unsigned long long)size) < 0)
            return -1;
        if (size == 0)
            break;
        if (conn_move(src, dst, (size_t)size) < 0)
            return -1;
        e = evbuffer_search_eol(src, NULL, &eol, EVBUFFER_EOL_CRLF);
        if (e.pos != 0 || conn_move(src, dst, eol) < 0)
            return -1;
        left -= (size_t)size + eol;
    }
    return conn_move(src, dst, left); /* trailers and the final empty line */
}

/* Hands the complete request at the front of src to evhttp, without its Expect line. */
static int conn_pass(struct gw_conn *c, struct evbuffer *src, struct evbuffer *dst)
{
    const struct gw_frame_info *in = gw_frame_info(c->fr);
    size_t body = in->total_len - in->skip - in->head_len;
    int rc;

    evbuffer_drain(src, in->skip);
    if (in->expect_continue) {
        rc = conn_move(src, dst, in->expect_off);
        evbuffer_drain(src, in->expect_len);
        if (rc == 0)
            rc = conn_move(src, dst, in->head_len - in->expect_off - in->expect_len);
    } else {
        rc = conn_move(src, dst, in->head_len);
    }
    if (rc == 0)
        rc = in->chunk_ext ? conn_pass_chunked(src, dst, body) : conn_move(src, dst, body);
    c->scanned -= in->total_len;
    c->head_done = false;
    conn_timer_stop(c);
    return rc;
}

/*
 * Writes buf to the socket until it is empty or the socket is full. Returns 0, or -1 after a
 * socket error, which is then reported to evhttp as a write error (deferred, like a socket
 * bufferevent would).
 */
static int conn_write_buf(struct gw_conn *c, struct evbuffer *buf)
{
    evutil_socket_t fd = bufferevent_getfd(c->under);

    while (evbuffer_get_length(buf) > 0) {
        int n = evbuffer_write(buf, fd);
        if (n > 0)
            continue;
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0 || errno == EAGAIN || errno == EWOULDBLOCK)
            return 0;
        LOG_DEBUG("conn: write failed: %s", strerror(errno));
        c->write_failed = true;
        evbuffer_drain(buf, evbuffer_get_length(buf));
        bufferevent_trigger_event(c->bev, BEV_EVENT_WRITING | BEV_EVENT_ERROR,
                                  BEV_TRIG_DEFER_CALLBACKS);
        return -1;
    }
    return 0;
}

/* Runs conn_write_cb() soon (now) or once the socket is writable. */
static void conn_write_schedule(struct gw_conn *c, bool now)
{
    evutil_socket_t fd = bufferevent_getfd(c->under);

    if (fd < 0)
        return;
    if (c->wev != NULL && event_get_fd(c->wev) != fd) {
        event_free(c->wev);
        c->wev = NULL;
    }
    if (c->wev == NULL) {
        c->wev = event_new(bufferevent_get_base(c->bev), fd, EV_WRITE, conn_write_cb, c);
        if (c->wev == NULL) {
            LOG_ERR("conn: cannot create the write event");
            return;
        }
    }
    if (now)
        event_active(c->wev, EV_WRITE, 0);
    else
        event_add(c->wev, NULL);
}

/*
 * Sends a 100 Continue when the head of a request with "Expect: 100-continue" is complete, its
 * length fits, and no body byte came yet. Only while evhttp waits for a request: otherwise the
 * answer to an earlier request is still due and must go first, so the client waits its own
 * timeout (RFC 9110 allows the server to skip the 100).
 */
static void conn_maybe_continue(struct gw_conn *c, struct evbuffer *src, struct evbuffer *dst)
{
    const struct gw_frame_info *in = gw_frame_info(c->fr);
    bufferevent_data_cb readcb = NULL;
    size_t len = sizeof(conn_continue) - 1;
    evutil_socket_t fd = bufferevent_getfd(c->under);
    ssize_t n;

    if (!in->expect_continue || !in->http11 || fd < 0)
        return;
    if (evbuffer_get_length(src) > in->skip + in->head_len)
        return;
    bufferevent_getcb(c->bev, &readcb, NULL, NULL, NULL);
    if (readcb == NULL || evbuffer_get_length(dst) > 0 ||
        evbuffer_get_length(bufferevent_get_output(c->bev)) > 0 ||
        (c->pre != NULL && evbuffer_get_length(c->pre) > 0))
        return;
    n = send(fd, conn_continue, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n <= 0 || (size_t)n == len)
        return; /* sent, or not at all (a full or broken socket) */
    if (c->pre == NULL)
        c->pre = evbuffer_new();
    if (c->pre == NULL || evbuffer_add(c->pre, conn_continue + n, len - (size_t)n) < 0) {
        LOG_ERR("conn: out of memory");
        return;
    }
    conn_write_schedule(c, false);
}

/* True when the request at the front of src is in it whole: its head and its declared body. */
static bool conn_all_in(const struct gw_conn *c, const struct evbuffer *src)
{
    const struct gw_frame_info *in = gw_frame_info(c->fr);
    uint64_t have = evbuffer_get_length(src), head = (uint64_t)in->skip + in->head_len;

    if (in->chunked || have < head)
        return false;
    return !in->has_content_length || in->content_length <= have - head;
}

/* One framer event for the request at the front of src. */
static int conn_event(struct gw_conn *c, enum gw_frame_ev ev, struct evbuffer *src,
                      struct evbuffer *dst)
{
    const struct gw_frame_info *in = gw_frame_info(c->fr);

    if (ev == GW_FRAME_HEAD) {
        /* Contiguous already unless the head straddles two reads. */
        const unsigned char *p = evbuffer_pullup(src, (ev_ssize_t)(in->skip + in->head_len));
        if (p == NULL)
            return -1;
        ev = gw_frame_head(c->fr, (const char *)p + in->skip);
        c->head_done = true;
        if (ev != GW_FRAME_ERROR && c->lim->head_check != NULL && !conn_all_in(c, src)) {
            /* Before any body byte is taken and before a 100 Continue (DESIGN.md §2.14). A
             * request already whole in the buffer costs nothing more to receive: its handler
             * checks the credentials before it reads the body. */
            int st = c->lim->head_check(c->lim->head_arg, (const char *)p + in->skip, in->head_len);
            if (st > 0)
                return conn_reject(c, src, dst, st, (const char *)p + in->skip);
        }
        if (ev == GW_FRAME_MORE)
            conn_maybe_continue(c, src, dst);
    }
    if (ev == GW_FRAME_DONE)
        return conn_pass(c, src, dst);
    if (ev == GW_FRAME_ERROR)
        return conn_reject(c, src, dst, in->status, NULL);
    return 0;
}

/* Feeds the bytes of src not scanned yet to the framer; each event may change src. */
static int conn_scan(struct gw_conn *c, struct evbuffer *src, struct evbuffer *dst)
{
    struct evbuffer_iovec vec[CONN_NVEC];
    struct evbuffer_ptr pos;

restart:
    while (!c->rejected && c->scanned < evbuffer_get_length(src)) {
        int n;

        if (evbuffer_ptr_set(src, &pos, c->scanned, EVBUFFER_PTR_SET) < 0)
            return -1;
        n = evbuffer_peek(src, -1, &pos, vec, CONN_NVEC);
        if (n > CONN_NVEC)
            n = CONN_NVEC;
        for (int k = 0; k < n; k++) {
            const char *p = vec[k].iov_base;
            size_t len = vec[k].iov_len, used = 0;

            while (len > 0) {
                enum gw_frame_ev ev = gw_frame_feed(c->fr, p, len, &used);
                c->scanned += used;
                p += used;
                len -= used;
                if (ev == GW_FRAME_MORE)
                    continue;
                if (conn_event(c, ev, src, dst) < 0)
                    return -1;
                goto restart; /* the event moved, drained or linearised src */
            }
        }
    }
    return 0;
}

/*
 * Feeds the socket bytes not seen yet (src) to the framer; whole requests move to evhttp's input
 * (dst). Returns 1 when new bytes were seen, 0 when none, -1 when out of memory.
 */
static int conn_take(struct gw_conn *c, struct evbuffer *src, struct evbuffer *dst)
{
    if (c->rejected) {
        size_t n = evbuffer_get_length(src);
        evbuffer_drain(src, n);
        conn_linger_took(c, n);
        return 0;
    }
    if (evbuffer_get_length(src) == c->scanned)
        return 0;
    if (c->set != NULL)
        c->active_us = util_mono_us();
    if (!c->nodelay) {
        /*
         * Without it, a stream's second small write waits for the client's delayed ACK of the
         * first (Nagle): ~40 ms per stream. Replies are whole writes already; chunks are not.
         */
        int one = 1;
        evutil_socket_t fd = bufferevent_getfd(c->under);
        if (fd >= 0)
            (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        c->nodelay = true;
    }
    if (conn_scan(c, src, dst) < 0) {
        LOG_ERR("conn: out of memory while framing a request");
        return -1;
    }
    if (!c->rejected && gw_frame_is_busy(c->fr)) {
        if (c->timer == NULL || !evtimer_pending(c->timer, NULL))
            conn_timer_start(c);
    } else {
        conn_timer_stop(c);
    }
    return 1;
}

/* Reads once into src. Returns the bytes read, 0 at end of file, -1 with errno. */
static ssize_t conn_readv(evutil_socket_t fd, struct evbuffer *src)
{
    struct evbuffer_iovec vec[2];
    int nvec = evbuffer_reserve_space(src, CONN_READ_SIZE, vec, 2);
    ssize_t n;

    if (nvec <= 0) {
        errno = ENOMEM;
        return -1;
    }
    do
        n = readv(fd, (struct iovec *)vec, nvec);
    while (n < 0 && errno == EINTR);
    if (n <= 0) {
        evbuffer_commit_space(src, vec, 0);
        return n;
    }
    for (int k = 0, left = (int)n; k < nvec; k++) {
        size_t take = (size_t)left < vec[k].iov_len ? (size_t)left : vec[k].iov_len;
        vec[k].iov_len = take;
        left -= (int)take;
    }
    evbuffer_commit_space(src, vec, nvec);
    return n;
}

/* The socket bufferevent keeps the end of its input frozen except while it reads itself. */
static ssize_t conn_read(evutil_socket_t fd, struct evbuffer *src)
{
    ssize_t n;
    int err;

    evbuffer_unfreeze(src, 0);
    n = conn_readv(fd, src);
    err = errno;
    evbuffer_freeze(src, 0);
    errno = err;
    return n;
}

/*
 * The socket reader: the socket stays registered for reading for the whole connection (no
 * epoll_ctl per request, as evhttp's disable/enable around each request would cost) and its
 * bytes go through the framer even while evhttp is busy with a request. A client's close is so
 * seen at once and reported to evhttp, which fails the connection (its close callback runs).
 * Once a whole request waits for a busy evhttp, reading pauses until the reply is written
 * (conn_write_cb), so a pipelining client cannot make us buffer without bound.
 */
static void conn_read_cb(evutil_socket_t fd, short what, void *arg)
{
    struct gw_conn *c = arg;
    struct evbuffer *src = bufferevent_get_input(c->under);
    struct evbuffer *dst = bufferevent_get_input(c->bev);
    short end = 0;
    ssize_t n = 0;
    int seen;

    (void)what;
    if (conn_is_closing(c)) {
        event_del(c->rev);
        return;
    }
    for (int k = 0; k < CONN_READS; k++) {
        n = conn_read(fd, src);
        if (n < (ssize_t)CONN_READ_SIZE)
            break;
    }
    if (n == 0)
        end = BEV_EVENT_EOF | BEV_EVENT_READING;
    else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
        end = BEV_EVENT_ERROR | BEV_EVENT_READING;
    bufferevent_incref(c->bev); /* evhttp may free the connection in its callbacks */
    seen = conn_take(c, src, dst);
    if (seen < 0)
        end = BEV_EVENT_ERROR | BEV_EVENT_READING;
    if (seen > 0 && (bufferevent_get_enabled(c->bev) & EV_READ)) {
        /* Enabling again restarts evhttp's idle timeout, as a socket read would. */
        bufferevent_enable(c->bev, EV_READ);
        if (evbuffer_get_length(dst) > 0)
            bufferevent_trigger(c->bev, EV_READ, 0);
    }
    if (end != 0) {
        event_del(c->rev);
        if (!conn_is_closing(c))
            bufferevent_trigger_event(c->bev, end, 0);
    } else if (!conn_is_closing(c) && !(bufferevent_get_enabled(c->bev) & EV_READ) &&
               evbuffer_get_length(dst) > 0) {
        event_del(c->rev);
        c->paused = true;
    }
    bufferevent_decref(c->bev);
}

/* First bytes of the connection: the socket bufferevent read them; conn_read_cb() takes over. */
static void conn_reader_start(struct gw_conn *c)
{
    evutil_socket_t fd = bufferevent_getfd(c->under);

    if (fd < 0)
        return;
    c->rev = event_new(bufferevent_get_base(c->bev), fd, EV_READ | EV_PERSIST, conn_read_cb, c);
    if (c->rev == NULL || event_add(c->rev, NULL) < 0) {
        LOG_ERR("conn: cannot create the socket reader");
        if (c->rev != NULL)
            event_free(c->rev);
        c->rev = NULL;
        return; /* the socket bufferevent goes on reading */
    }
    bufferevent_disable(c->under, EV_READ);
}

/*
 * Input filter, for the connection's first bytes only (see conn_read_cb()): src is the socket
 * input, dst evhttp's input. Returns BEV_OK when new bytes were seen (this also restarts
 * evhttp's own idle timeout), BEV_NEED_MORE otherwise. The read limit is ignored: evhttp sets no
 * read watermark, and a request cannot be handed over in parts anyway.
 */
static enum bufferevent_filter_result conn_input(struct evbuffer *src, struct evbuffer *dst,
                                                 ev_ssize_t limit, enum bufferevent_flush_mode mode,
                                                 void *arg)
{
    struct gw_conn *c = arg;
    int seen;

    (void)limit;
    (void)mode;
    if (c->rev == NULL)
        conn_reader_start(c);
    seen = conn_take(c, src, dst);
    return seen < 0 ? BEV_ERROR : seen > 0 ? BEV_OK : BEV_NEED_MORE;
}

/*
 * Output filter. evhttp learns that its output was sent from the filter's write callback, which
 * runs when this filter empties src; so the bytes go straight to the socket here and the
 * callback fires only once the kernel has them all (evhttp may then shut the socket down).
 * Called from inside evhttp's own evbuffer_add() it does nothing: writing there could run the
 * write callback before evhttp has set it; conn_out_added() scheduled conn_write_cb() instead.
 */
static enum bufferevent_filter_result conn_output(struct evbuffer *src, struct evbuffer *dst,
                                                  ev_ssize_t limit,
                                                  enum bufferevent_flush_mode mode, void *arg)
{
    struct gw_conn *c = arg;
    size_t before = evbuffer_get_length(src);

    (void)dst;
    (void)limit;
    (void)mode;
    if (!c->flushing || c->write_failed)
        return BEV_NEED_MORE;
    if (c->held) {
        evbuffer_drain(src, 1); /* the placeholder: never sent */
        c->held = false;
        if (evbuffer_get_length(src) == 0)
            return c->linger_over ? BEV_OK : BEV_NEED_MORE;
    }
    if (c->linger && !c->linger_over && evbuffer_get_length(bufferevent_get_input(c->bev)) == 0) {
        /*
         * The answer to our synthetic request (evhttp took it): it goes out through pre, and a
         * placeholder byte stays in evhttp's output so that evhttp, which closes as soon as its
         * output is empty, waits until the lingering is over.
         */
        if (c->pre == NULL && (c->pre = evbuffer_new()) == NULL)
            return BEV_ERROR;
        if (evbuffer_add_buffer(c->pre, src) < 0)
            return BEV_ERROR;
        c->adding = true;
        c->held = evbuffer_add(src, "", 1) == 0;
        c->adding = false;
        conn_write_schedule(c, true);
        return c->held ? BEV_NEED_MORE : BEV_OK;
    }
    if (conn_write_buf(c, src) < 0)
        return BEV_ERROR;
    return evbuffer_get_length(src) < before ? BEV_OK : BEV_NEED_MORE;
}

static void conn_out_added(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    struct gw_conn *c = arg;

    (void)buf;
    if (info->n_added > 0 && !c->write_failed && !c->adding)
        conn_write_schedule(c, true);
}

static void conn_write_cb(evutil_socket_t fd, short what, void *arg)
{
    struct gw_conn *c = arg;
    struct evbuffer *out = bufferevent_get_output(c->bev);

    (void)fd;
    (void)what;
    if (c->write_failed || conn_is_closing(c))
        return;
    if (c->pre != NULL && evbuffer_get_length(c->pre) > 0) {
        if (conn_write_buf(c, c->pre) < 0)
            return;
        if (evbuffer_get_length(c->pre) > 0) {
            conn_write_schedule(c, false);
            return;
        }
    }
    if (c->held && !c->shut) {
        /* The whole answer is out: the client sees its end while we go on discarding. */
        (void)shutdown(bufferevent_getfd(c->under), SHUT_WR);
        c->shut = true;
    }
    if (evbuffer_get_length(out) == 0 || (c->held && !c->linger_over))
        return;
    /* BEV_FLUSH: the filter calls conn_output() even while evhttp has writing disabled. */
    bufferevent_incref(c->bev);
    c->flushing = true;
    bufferevent_flush(c->bev, EV_WRITE, BEV_FLUSH);
    c->flushing = false;
    if (!c->write_failed && !conn_is_closing(c) && evbuffer_get_length(out) > 0 && !c->held)
        conn_write_schedule(c, false);
    if (c->paused && !conn_is_closing(c) && (bufferevent_get_enabled(c->bev) & EV_READ)) {
        /* The reply is out and evhttp reads again (it takes the waiting request itself). */
        c->paused = false;
        event_add(c->rev, NULL);
    }
    bufferevent_decref(c->bev);
}

/*
 * A request began read_timeout seconds ago and is still incomplete: answer 408. Not while evhttp
 * has reading off (it is busy with an earlier request and we read nothing meanwhile).
 */
static void conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct gw_conn *c = arg;

    (void)fd;
    (void)what;
    if (c->rejected || conn_is_closing(c))
        return;
    if (!(bufferevent_get_enabled(c->bev) & EV_READ)) {
        conn_timer_start(c);
        return;
    }
    if (conn_reject(c, bufferevent_get_input(c->under), bufferevent_get_input(c->bev), 408, NULL) <
        0) {
        LOG_ERR("conn: out of memory");
        return;
    }
    bufferevent_trigger(c->bev, EV_READ, BEV_TRIG_DEFER_CALLBACKS);
}

/* free_context of the filter: runs when the filter bufferevent is finalised. */
static void conn_free(void *arg)
{
    struct gw_conn *c = arg;

    if (c->set != NULL) {
        *(c->prev != NULL ? &c->prev->next : &c->set->head) = c->next;
        if (c->next != NULL)
            c->next->prev = c->prev;
        c->set->n--;
    }
    /* libevent's free functions are not NULL-safe. */
    if (c->out_cb != NULL)
        evbuffer_remove_cb_entry(bufferevent_get_output(c->bev), c->out_cb);
    if (c->timer != NULL)
        event_free(c->timer);
    if (c->ltimer != NULL)
        event_free(c->ltimer);
    if (c->wev != NULL)
        event_free(c->wev);
    if (c->rev != NULL)
        event_free(c->rev);
    if (c->pre != NULL)
        evbuffer_free(c->pre);
    gw_frame_free(c->fr);
    free(c);
}

struct bufferevent *gw_conn_bev_new(struct event_base *base, void *arg)
{
    const struct gw_conn_limits *lim = arg;
    struct bufferevent *under = NULL;
    struct gw_conn *c = calloc(1, sizeof(*c));

    if (c == NULL)
        goto fail;
    pthread_once(&conn_secret_once, conn_secret_init);
    if (conn_secret[0] == '\0') {
        LOG_ERR("conn: no random bytes for the marker secret");
        free(c);
        return NULL;
    }
    c->lim = lim;
    c->fr = gw_frame_new(lim->max_header_size, lim->max_body_size);
    if (c->fr == NULL)
        goto fail;
    under = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (under == NULL)
        goto fail;
    c->bev =
        bufferevent_filter_new(under, conn_input, conn_output, BEV_OPT_CLOSE_ON_FREE, conn_free, c);
    if (c->bev == NULL)
        goto fail;
    /* From here on the filter owns c (conn_free) and under (BEV_OPT_CLOSE_ON_FREE). */
    c->under = under;
    bufferevent_disable(under, EV_WRITE); /* conn_output() writes; the socket side only reads */
    c->out_cb = evbuffer_add_cb(bufferevent_get_output(c->bev), conn_out_added, c);
    if (c->out_cb == NULL) {
        LOG_ERR("conn: out of memory");
        bufferevent_free(c->bev);
        return NULL;
    }
    if ((c->set = lim->set) != NULL) {
        c->active_us = util_mono_us();
        c->next = c->set->head;
        if (c->next != NULL)
            c->next->prev = c;
        c->set->head = c;
        c->set->n++;
    }
    return c->bev;

fail:
    LOG_ERR("conn: out of memory");
    if (under != NULL)
        bufferevent_free(under);
    if (c != NULL)
        gw_frame_free(c->fr);
    free(c);
    return NULL;
}

struct gw_conn_set *gw_conn_set_new(void)
{
    return calloc(1, sizeof(struct gw_conn_set));
}

void gw_conn_set_free(struct gw_conn_set *set)
{
    free(set);
}

size_t gw_conn_set_count(const struct gw_conn_set *set)
{
    return set->n;
}

/* Between requests: evhttp waits to read one, and nothing is begun, pending or unsent. */
static bool conn_is_idle(struct gw_conn *c)
{
    return !conn_is_closing(c) && !c->rejected && !c->paused && !gw_frame_is_busy(c->fr) &&
           (bufferevent_get_enabled(c->bev) & EV_READ) &&
           evbuffer_get_length(bufferevent_get_input(c->bev)) == 0 &&
           evbuffer_get_length(bufferevent_get_output(c->bev)) == 0 &&
           (c->pre == NULL || evbuffer_get_length(c->pre) == 0);
}

bool gw_conn_set_close_idle(struct gw_conn_set *set, int64_t min_idle_us)
{
    struct gw_conn *oldest = NULL;
    int64_t before = util_mono_us() - min_idle_us;

    for (struct gw_conn *c = set->head; c != NULL; c = c->next) {
        if (conn_is_idle(c) && (oldest == NULL || c->active_us <= oldest->active_us))
            oldest = c;
    }
    if (oldest == NULL || oldest->active_us > before)
        return false;
    LOG_DEBUG("conn: closing the longest-idle connection");
    bufferevent_incref(oldest->bev); /* evhttp frees the connection in its event callback */
    if (oldest->rev != NULL)
        event_del(oldest->rev);
    bufferevent_trigger_event(oldest->bev, BEV_EVENT_EOF | BEV_EVENT_READING, 0);
    bufferevent_decref(oldest->bev);
    return true;
}
