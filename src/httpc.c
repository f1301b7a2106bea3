/*
 * Upstream HTTP client: libcurl multi driven by libevent, in the shape of curl's hiperfifo.c.
 * curl tells us which sockets to watch (multi_sock_cb) and when to time out (multi_timer_cb);
 * both only (re)arm libevent events. curl_multi_socket_action() runs only from those events,
 * and every run is followed by draining curl_multi_info_read(). Anything that must not happen
 * inside a curl callback (removing a cancelled transfer, unpausing, adding a transfer started
 * from a callback) is queued and done from one zero-timeout "work" event.
 *
 * DNS: with CURL_VERSION_ASYNCHDNS (Debian's libcurl4-openssl uses the threaded resolver)
 * lookups run on a helper thread and only its socketpair is watched here; resolved names are
 * cached in the multi handle (60 s). Without it, httpc_new() warns: lookups would block.
 */
#include "httpc.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <event2/event_struct.h>

#include "log.h"

#define HTTPC_DEFAULT_IDLE_HANDLES 16
#define HTTPC_SCRUB_MIN 4 /* shorter header values are not secrets worth mangling text for */

/*
 * State of one socket curl asked us to watch. Sockets of upstream connections are ours from
 * opening to closing (open_sock_cb/close_sock_cb): when curl stops watching one (it went back
 * to the connection pool), its read event stays registered ("parked"), so the next transfer on
 * the connection asks for what is already there and costs no epoll_ctl. A parked socket that
 * turns readable (the server closed it, or sent junk) is only unregistered; curl finds out
 * when it reuses the connection, as it always did.
 */
struct httpc_sock {
    struct httpc *h;
    struct event ev; /* persistent, re-assigned on every change curl asks for */
    short kind;      /* EV_READ/EV_WRITE registered, 0 = none */
    curl_socket_t fd;
    bool ours;   /* opened by open_sock_cb: close_sock_cb frees it */
    bool parked; /* curl does not watch it now */
    LIST_ENTRY(httpc_sock) link;
};

struct httpc_headers {
    CURL *easy;
};

/*
 * A URL parsed once and handed to curl as a CURLU handle (CURLOPT_CURLU), so that a transfer to
 * a URL used before skips curl's parse of the text (the URL of a provider's endpoint repeats on
 * every call). curl reads the handle and never changes it; a slot in use by a request (refs > 0)
 * is never replaced.
 */
#define HTTPC_URLS 16

struct httpc_url {
    char *url;      /* the text, NULL when the slot is free */
    char *query;    /* its query string (scrubbed from error texts), or NULL */
    CURLU *u;       /* parsed */
    unsigned refs;  /* requests using it */
    uint64_t stamp; /* last use, for the replacement of the least recently used */
};

struct httpc_req {
    struct httpc *h;
    CURL *easy;
    struct httpc_url *url;   /* the parsed URL this transfer uses, or NULL (given as text) */
    struct httpc_headers hv; /* what on_headers sees */
    struct curl_slist *hdrs; /* "Name: value" lines; also scanned to scrub error text */
    char *body;
    char *query; /* the URL's query string, kept only to scrub it from error text (owned when
                    url is NULL, else url->query) */
    struct httpc_cbs cbs;
    void *arg;
    size_t max_response;
    size_t received;
    char *buf; /* collect mode */
    size_t cap;
    struct timespec t0;
    LIST_ENTRY(httpc_req) link;  /* h->reqs: every live request */
    LIST_ENTRY(httpc_req) plink; /* h->pending: queued for the work event */
    unsigned in_multi : 1;
    unsigned add_pending : 1; /* started from inside a curl callback: add from work event */
    unsigned queued : 1;      /* on h->pending */
    unsigned cancelled : 1;   /* httpc_cancel(): silent from now on, reaped by work event */
    unsigned finishing : 1;   /* inside req_finish (on_done running) */
    unsigned hdrs_done : 1;   /* final header block seen (on_headers called if set) */
    unsigned paused : 1;      /* caller asked for a pause */
    unsigned curl_paused : 1; /* we returned CURL_WRITEFUNC_PAUSE: curl holds data */
    unsigned resume_pending : 1;
    unsigned aborted : 1; /* a callback returned HTTPC_ABORT */
    unsigned too_large : 1;
    unsigned oom : 1;
    char errbuf[CURL_ERROR_SIZE];
};

struct httpc {
    struct event_base *base;
    CURLM *multi;
    struct event *timer; /* curl's single timeout */
    struct event *work;  /* zero-timeout: drains h->pending */
    LIST_HEAD(, httpc_req) reqs;
    LIST_HEAD(, httpc_req) pending;
    LIST_HEAD(, httpc_sock) socks;
    struct httpc_sock **byfd; /* our connection sockets by descriptor */
    size_t nbyfd;
    CURL **idle; /* reset easy handles kept for reuse */
    int nidle;
    int max_idle;
    int cb_depth; /* >0 while inside a curl write/header callback */
    size_t active;
    bool closing;
    char *ca_file;
    char *proxy;
    long recv_buffer_size;
    bool http2;
    struct httpc_url urls[HTTPC_URLS];
    uint64_t url_clock;
};

static void req_finish(struct httpc_req *r, CURLcode rc, const char *why);
static void req_destroy(struct httpc_req *r);

static void url_slot_clear(struct httpc_url *s)
{
    curl_url_cleanup(s->u);
    free(s->url);
    free(s->query);
    memset(s, 0, sizeof(*s));
}

const char *httpc_kind_name(enum httpc_kind kind)
{
    switch (kind) {
    case HTTPC_OK:
        return "ok";
    case HTTPC_TIMEOUT:
        return "timeout";
    case HTTPC_CONNECT_FAILED:
        return "connect_failed";
    case HTTPC_ABORTED:
        return "aborted";
    case HTTPC_TOO_LARGE:
        return "too_large";
    case HTTPC_ERROR:
        break;
    }
    return "error";
}

int httpc_global_init(void)
{
    CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);

    if (rc != CURLE_OK) {
        LOG_ERR("httpc: curl_global_init: %s", curl_easy_strerror(rc));
        return -1;
    }
    return 0;
}

void httpc_global_cleanup(void)
{
    curl_global_cleanup();
}

bool httpc_has_async_dns(void)
{
    const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);

    return v != NULL && (v->features & CURL_VERSION_ASYNCHDNS) != 0;
}

size_t httpc_active(const struct httpc *h)
{
    return h->active;
}

/* ---- event glue ---- */

/* Drains every finished transfer; runs after each curl_multi_socket_action(). */
static void drain_info(struct httpc *h)
{
    CURLMsg *m;
    int left;

    while ((m = curl_multi_info_read(h->multi, &left)) != NULL) {
        struct httpc_req *r = NULL;
        char *priv = NULL;
        CURLcode rc;

        if (m->msg != CURLMSG_DONE)
            continue;
        /* The message dies with curl_multi_remove_handle(): read it first. */
        rc = m->data.result;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
        r = (struct httpc_req *)priv;
        if (r == NULL) {
            curl_multi_remove_handle(h->multi, m->easy_handle);
            continue;
        }
        if (r->cancelled)
            req_destroy(r);
        else
            req_finish(r, rc, NULL);
    }
}

static void sock_event_cb(evutil_socket_t fd, short what, void *arg)
{
    struct httpc_sock *sk = arg;
    struct httpc *h = sk->h;
    int action = 0;
    int running = 0;
    CURLMcode mc;

    if (sk->parked) {
        /* An idle pooled connection turned readable: stop watching it (see httpc_sock). */
        event_del(&sk->ev);
        sk->kind = 0;
        return;
    }
    if (what & EV_READ)
        action |= CURL_CSELECT_IN;
    if (what & EV_WRITE)
        action |= CURL_CSELECT_OUT;
    mc = curl_multi_socket_action(h->multi, fd, action, &running);
    if (mc != CURLM_OK)
        LOG_ERR("httpc: curl_multi_socket_action: %s", curl_multi_strerror(mc));
    drain_info(h);
}

static void timer_event_cb(evutil_socket_t fd, short what, void *arg)
{
    struct httpc *h = arg;
    int running = 0;
    CURLMcode mc;

    (void)fd;
    (void)what;
    mc = curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    if (mc != CURLM_OK)
        LOG_ERR("httpc: curl_multi_socket_action(timeout): %s", curl_multi_strerror(mc));
    drain_info(h);
}

/* CURLMOPT_TIMERFUNCTION: only arms or disarms our timer, never calls back into curl. */
static int multi_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    struct httpc *h = userp;
    struct timeval tv;

    (void)multi;
    if (timeout_ms < 0) {
        evtimer_del(h->timer);
        return 0;
    }
    tv.tv_sec = timeout_ms / 1000;
    tv.tv_usec = (timeout_ms % 1000) * 1000;
    return evtimer_add(h->timer, &tv) == 0 ? 0 : -1;
}

static struct httpc_sock *sock_by_fd(struct httpc *h, curl_socket_t s)
{
    return s >= 0 && (size_t)s < h->nbyfd ? h->byfd[s] : NULL;
}

static void sock_free(struct httpc *h, struct httpc_sock *sk)
{
    if (sk->kind != 0)
        event_del(&sk->ev);
    if (sk->ours && sock_by_fd(h, sk->fd) == sk)
        h->byfd[sk->fd] = NULL;
    LIST_REMOVE(sk, link);
    free(sk);
}

static struct httpc_sock *sock_new(struct httpc *h, curl_socket_t s)
{
    struct httpc_sock *sk = calloc(1, sizeof(*sk));

    if (sk == NULL) {
        LOG_ERR("httpc: out of memory for socket state");
        return NULL;
    }
    sk->h = h;
    sk->fd = s;
    LIST_INSERT_HEAD(&h->socks, sk, link);
    return sk;
}

/*
 * CURLMOPT_SOCKETFUNCTION. Socket state hangs off curl's socketp (sockets are shared by easy
 * handles through the pool), or for a parked one of ours, off h->byfd. event_assign() is not
 * allowed on a pending event, so del first; a change to what is registered already is skipped.
 */
static int multi_sock_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    struct httpc *h = userp;
    struct httpc_sock *sk = socketp;
    short kind = 0;

    (void)easy;
    if (sk == NULL)
        sk = sock_by_fd(h, s);
    if (what == CURL_POLL_REMOVE) {
        curl_multi_assign(h->multi, s, NULL);
        if (sk == NULL)
            return 0;
        if (!sk->ours) {
            sock_free(h, sk);
            return 0;
        }
        sk->parked = true;
        if (sk->kind & EV_WRITE) { /* a writable idle socket would fire all the time */
            event_del(&sk->ev);
            sk->kind = 0;
        }
        return 0;
    }
    if (sk == NULL && (sk = sock_new(h, s)) == NULL)
        return -1;
    if (socketp == NULL)
        curl_multi_assign(h->multi, s, sk);
    sk->parked = false;
    if (what & CURL_POLL_IN)
        kind |= EV_READ;
    if (what & CURL_POLL_OUT)
        kind |= EV_WRITE;
    if (kind == sk->kind)
        return 0;
    if (sk->kind != 0)
        event_del(&sk->ev);
    sk->kind = 0;
    if (kind == 0)
        return 0;
    event_assign(&sk->ev, h->base, s, (short)(kind | EV_PERSIST), sock_event_cb, sk);
    if (event_add(&sk->ev, NULL) != 0) {
        LOG_ERR("httpc: event_add failed for socket %d", (int)s);
        return -1;
    }
    sk->kind = kind;
    return 0;
}

/* CURLOPT_OPENSOCKETFUNCTION: an upstream connection's socket, ours until close_sock_cb. */
static curl_socket_t open_sock_cb(void *clientp, curlsocktype purpose, struct curl_sockaddr *a)
{
    struct httpc *h = clientp;
    struct httpc_sock *sk;
    curl_socket_t s;

    (void)purpose;
    s = socket(a->family, a->socktype, a->protocol);
    if (s == CURL_SOCKET_BAD)
        return s;
    if ((size_t)s >= h->nbyfd) {
        size_t n = h->nbyfd ? h->nbyfd : 64;
        struct httpc_sock **nb;

        while (n <= (size_t)s)
            n *= 2;
        nb = realloc(h->byfd, n * sizeof(*nb));
        if (nb == NULL) {
            close(s);
            return CURL_SOCKET_BAD;
        }
        memset(nb + h->nbyfd, 0, (n - h->nbyfd) * sizeof(*nb));
        h->byfd = nb;
        h->nbyfd = n;
    }
    if (h->byfd[s] != NULL) /* a descriptor number reused behind our back */
        sock_free(h, h->byfd[s]);
    if ((sk = sock_new(h, s)) == NULL) {
        close(s);
        return CURL_SOCKET_BAD;
    }
    sk->ours = true;
    h->byfd[s] = sk;
    return s;
}

/* CURLOPT_CLOSESOCKETFUNCTION: drops the socket's event before the descriptor goes away. */
static int close_sock_cb(void *clientp, curl_socket_t s)
{
    struct httpc *h = clientp;
    struct httpc_sock *sk = sock_by_fd(h, s);

    if (sk != NULL)
        sock_free(h, sk);
    return close(s);
}

static void work_schedule(struct httpc *h)
{
    static const struct timeval zero = {0, 0};

    if (!evtimer_pending(h->work, NULL))
        evtimer_add(h->work, &zero);
}

static void req_queue(struct httpc_req *r)
{
    if (!r->queued) {
        LIST_INSERT_HEAD(&r->h->pending, r, plink);
        r->queued = 1;
    }
    work_schedule(r->h);
}

static int req_add(struct httpc_req *r)
{
    CURLMcode mc = curl_multi_add_handle(r->h->multi, r->easy);

    if (mc != CURLM_OK) {
        LOG_ERR("httpc: curl_multi_add_handle: %s", curl_multi_strerror(mc));
        return -1;
    }
    r->in_multi = 1;
    return 0;
}

/* The zero-timeout work event: reaps cancelled requests, unpauses, adds deferred starts. */
static void work_event_cb(evutil_socket_t fd, short what, void *arg)
{
    struct httpc *h = arg;
    struct httpc_req *r;

    (void)fd;
    (void)what;
    while ((r = LIST_FIRST(&h->pending)) != NULL) {
        LIST_REMOVE(r, plink);
        r->queued = 0;
        if (r->cancelled) {
            req_destroy(r);
            continue;
        }
        if (r->add_pending) {
            r->add_pending = 0;
            if (req_add(r) != 0) {
                req_finish(r, CURLE_OUT_OF_MEMORY, NULL);
                continue;
            }
        }
        if (r->resume_pending) {
            CURLcode rc;

            r->resume_pending = 0;
            r->curl_paused = 0;
            /* May deliver held data to on_data right here, which may pause or cancel again. */
            rc = curl_easy_pause(r->easy, CURLPAUSE_CONT);
            if (rc != CURLE_OK && !r->cancelled)
                req_finish(r, rc, NULL);
        }
    }
}

/* ---- curl callbacks for one transfer ---- */

static bool is_blank_line(const char *b, size_t n)
{
    return (n == 2 && b[0] == '\r' && b[1] == '\n') || (n == 1 && b[0] == '\n');
}

static size_t header_cb(char *b, size_t size, size_t nitems, void *ud)
{
    struct httpc_req *r = ud;
    size_t n = size * nitems;
    long code = 0;
    enum httpc_action act = HTTPC_CONTINUE;

    if (r->cancelled)
        return 0;
    if (r->hdrs_done || !is_blank_line(b, n))
        return n; /* a header line, or a trailer */
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &code);
    if (code < 200)
        return n; /* end of a 1xx interim block */
    r->hdrs_done = 1;
    if (r->cbs.on_headers == NULL)
        return n;
    r->h->cb_depth++;
    act = r->cbs.on_headers((int)code, &r->hv, r->arg);
    r->h->cb_depth--;
    if (r->cancelled)
        return 0;
    if (act == HTTPC_ABORT) {
        r->aborted = 1;
        return 0;
    }
    return n;
}

static int collect(struct httpc_req *r, const char *b, size_t n)
{
    if (r->received + n + 1 > r->cap) {
        size_t cap = r->cap ? r->cap : 1024;
        char *nb;

        while (cap < r->received + n + 1)
            cap *= 2;
        nb = realloc(r->buf, cap);
        if (nb == NULL)
            return -1;
        r->buf = nb;
        r->cap = cap;
    }
    memcpy(r->buf + r->received, b, n);
    r->buf[r->received + n] = '\0';
    return 0;
}

static size_t write_cb(char *b, size_t size, size_t nitems, void *ud)
{
    struct httpc_req *r = ud;
    size_t n = size * nitems;
    enum httpc_action act;

    if (r->cancelled)
        return 0;
    if (r->paused) {
        /* curl keeps this buffer and delivers it again after CURLPAUSE_CONT. */
        r->curl_paused = 1;
        return CURL_WRITEFUNC_PAUSE;
    }
    if (r->max_response > 0 && n > r->max_response - r->received) {
        r->too_large = 1;
        return 0;
    }
    if (r->cbs.on_data == NULL) {
        if (collect(r, b, n) != 0) {
            r->oom = 1;
            return 0;
        }
        r->received += n;
        return n;
    }
    r->received += n;
    r->h->cb_depth++;
    act = r->cbs.on_data(b, n, r->arg);
    r->h->cb_depth--;
    if (r->cancelled)
        return 0;
    if (act == HTTPC_ABORT) {
        r->aborted = 1;
        return 0;
    }
    if (act == HTTPC_PAUSE)
        r->paused = 1; /* lazily: the next write returns CURL_WRITEFUNC_PAUSE */
    return n;
}

/* ---- completion ---- */

/* Masks needle (if long enough) in s, whole or cut to a prefix of 8+ characters (log_scrub);
 * an auth scheme ("Bearer xyz") is masked with and without it. */
static void scrub(char *s, const char *needle, size_t nlen)
{
    const char *sp;

    if (nlen < HTTPC_SCRUB_MIN)
        return;
    log_scrub(s, needle);
    if ((sp = strchr(needle, ' ')) != NULL && sp[1] != '\0' && strchr(sp + 1, ' ') == NULL)
        log_scrub(s, sp + 1);
}

static void scrub_secrets(const struct httpc_req *r, char *s)
{
    const struct curl_slist *l;
    char *q;

    for (l = r->hdrs; l != NULL; l = l->next) {
        const char *v = strchr(l->data, ':');

        if (v == NULL)
            continue;
        v++;
        while (*v == ' ')
            v++;
        scrub(s, v, strlen(v));
    }
    if (r->query == NULL)
        return;
    scrub(s, r->query, strlen(r->query));
    for (q = r->query; *q != '\0';) {
        size_t plen = strcspn(q, "&");
        char *eq = memchr(q, '=', plen);
        char save = q[plen];

        q[plen] = '\0';
        if (eq != NULL)
            scrub(s, eq + 1, strlen(eq + 1));
        q[plen] = save;
        q += plen;
        if (*q == '&')
            q++;
    }
}

static enum httpc_kind map_kind(const struct httpc_req *r, CURLcode rc)
{
    if (r->too_large || rc == CURLE_FILESIZE_EXCEEDED)
        return HTTPC_TOO_LARGE;
    if (r->aborted)
        return HTTPC_ABORTED;
    switch (rc) {
    case CURLE_OK:
        return HTTPC_OK;
    case CURLE_OPERATION_TIMEDOUT:
        return HTTPC_TIMEOUT;
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
        return HTTPC_CONNECT_FAILED;
    default:
        return HTTPC_ERROR;
    }
}

static long long elapsed_us(const struct timespec *t0)
{
    struct timespec t1;

    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (long long)(t1.tv_sec - t0->tv_sec) * 1000000LL + (t1.tv_nsec - t0->tv_nsec) / 1000;
}

/*
 * Removes the transfer, calls on_done once (unless cancelled) and frees the request.
 * why != NULL forces HTTPC_ABORTED with that text (httpc_free). Never called from inside a
 * curl callback.
 */
static void req_finish(struct httpc_req *r, CURLcode rc, const char *why)
{
    struct httpc_result res;
    char raw[CURL_ERROR_SIZE + 96];
    char msg[CURL_ERROR_SIZE + 96];
    long code = 0;

    r->finishing = 1;
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &code);
    if (r->in_multi) {
        curl_multi_remove_handle(r->h->multi, r->easy);
        r->in_multi = 0;
    }
    memset(&res, 0, sizeof(res));
    res.kind = why != NULL ? HTTPC_ABORTED : map_kind(r, rc);
    res.status = (int)code;
    res.body_len = r->received;
    res.total_us = elapsed_us(&r->t0);
    if (r->cbs.on_data == NULL)
        res.body = r->buf != NULL ? r->buf : "";
    raw[0] = '\0';
    if (why != NULL)
        snprintf(raw, sizeof(raw), "%s", why);
    else if (res.kind == HTTPC_TOO_LARGE)
        snprintf(raw, sizeof(raw), "too_large: response body exceeds %zu bytes", r->max_response);
    else if (r->aborted)
        snprintf(raw, sizeof(raw), "aborted: by callback");
    else if (r->oom)
        snprintf(raw, sizeof(raw), "error: out of memory");
    else if (res.kind != HTTPC_OK)
        snprintf(raw, sizeof(raw), "%s: %s", httpc_kind_name(res.kind),
                 r->errbuf[0] ? r->errbuf : curl_easy_strerror(rc));
    msg[0] = '\0';
    if (raw[0] != '\0') {
        scrub_secrets(r, raw);
        log_redact(msg, sizeof(msg), raw);
    }
    res.error = msg;
    if (!r->cancelled)
        r->cbs.on_done(&res, r->arg);
    req_destroy(r);
}

/* Frees everything of r; the easy handle goes back to the idle cache when there is room. */
static void req_destroy(struct httpc_req *r)
{
    struct httpc *h = r->h;

    LIST_REMOVE(r, link);
    if (r->queued)
        LIST_REMOVE(r, plink);
    if (r->easy != NULL) {
        if (r->in_multi)
            curl_multi_remove_handle(h->multi, r->easy);
        if (h->nidle < h->max_idle && !h->closing) {
            curl_easy_reset(r->easy);
            h->idle[h->nidle++] = r->easy;
        } else {
            curl_easy_cleanup(r->easy);
        }
        r->easy = NULL;
    }
    curl_slist_free_all(r->hdrs);
    free(r->body);
    if (r->url != NULL)
        r->url->refs--;
    else
        free(r->query);
    free(r->buf);
    h->active--;
    free(r);
}

/* ---- public API ---- */

struct httpc *httpc_new(struct event_base *base, const struct httpc_opts *opts)
{
    static const struct httpc_opts defaults;
    struct httpc *h = NULL;

    if (base == NULL)
        return NULL;
    if (opts == NULL)
        opts = &defaults;
    if (!httpc_has_async_dns())
        LOG_WARN("httpc: libcurl has no asynchronous resolver; DNS lookups block the loop");
    h = calloc(1, sizeof(*h));
    if (h == NULL)
        goto fail;
    h->base = base;
    LIST_INIT(&h->reqs);
    LIST_INIT(&h->pending);
    LIST_INIT(&h->socks);
    h->recv_buffer_size = opts->recv_buffer_size;
    h->http2 = opts->http2;
    h->max_idle = opts->max_idle_handles == 0  ? HTTPC_DEFAULT_IDLE_HANDLES
                  : opts->max_idle_handles < 0 ? 0
                                               : opts->max_idle_handles;
    if (h->max_idle > 0 && (h->idle = calloc((size_t)h->max_idle, sizeof(CURL *))) == NULL)
        goto fail;
    if (opts->ca_file != NULL && (h->ca_file = strdup(opts->ca_file)) == NULL)
        goto fail;
    if (opts->proxy != NULL && (h->proxy = strdup(opts->proxy)) == NULL)
        goto fail;
    h->timer = evtimer_new(base, timer_event_cb, h);
    h->work = evtimer_new(base, work_event_cb, h);
    if (h->timer == NULL || h->work == NULL)
        goto fail;
    h->multi = curl_multi_init();
    if (h->multi == NULL)
        goto fail;
    if (curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, multi_sock_cb) != CURLM_OK ||
        curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h) != CURLM_OK ||
        curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, multi_timer_cb) != CURLM_OK ||
        curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h) != CURLM_OK ||
        curl_multi_setopt(h->multi, CURLMOPT_MAX_HOST_CONNECTIONS, opts->max_host_connections) !=
            CURLM_OK ||
        curl_multi_setopt(h->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, opts->max_total_connections) !=
            CURLM_OK)
        goto fail;
    if (opts->max_idle_connections > 0 &&
        curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS, opts->max_idle_connections) != CURLM_OK)
        goto fail;
    return h;
fail:
    LOG_ERR("httpc: cannot create client (out of memory or curl setup failed)");
    httpc_free(h);
    return NULL;
}

void httpc_free(struct httpc *h)
{
    struct httpc_req *r;
    struct httpc_sock *sk;
    int i;

    if (h == NULL)
        return;
    h->closing = true;
    while ((r = LIST_FIRST(&h->reqs)) != NULL) {
        if (r->cancelled)
            req_destroy(r);
        else
            req_finish(r, CURLE_OK, "aborted: client closed");
    }
    /* Closing pooled connections may still call multi_sock_cb/multi_timer_cb. */
    if (h->multi != NULL)
        curl_multi_cleanup(h->multi);
    h->multi = NULL;
    while ((sk = LIST_FIRST(&h->socks)) != NULL)
        sock_free(h, sk);
    free(h->byfd);
    for (i = 0; i < h->nidle; i++)
        curl_easy_cleanup(h->idle[i]);
    free(h->idle);
    if (h->timer != NULL)
        event_free(h->timer);
    if (h->work != NULL)
        event_free(h->work);
    for (i = 0; i < HTTPC_URLS; i++)
        url_slot_clear(&h->urls[i]);
    free(h->ca_file);
    free(h->proxy);
    free(h);
}

static bool token_ok(const char *s, size_t max)
{
    size_t n = 0;

    for (; *s != '\0'; s++, n++) {
        if (*s <= ' ' || *s >= 127 || *s == ':' || n >= max)
            return false;
    }
    return n > 0;
}

static bool value_ok(const char *s)
{
    return strpbrk(s, "\r\n") == NULL;
}

static bool has_header(const struct httpc_spec *spec, const char *name)
{
    size_t i;

    for (i = 0; i < spec->nheaders; i++) {
        if (strcasecmp(spec->headers[i].name, name) == 0)
            return true;
    }
    return false;
}

static int add_header(struct curl_slist **list, const char *name, const char *value)
{
    size_t len = strlen(name) + strlen(value) + 3;
    char *line = malloc(len);
    struct curl_slist *nl;

    if (line == NULL)
        return -1;
    /* "Name;" is curl's way to send an empty header; "Name:" removes one of its own. */
    if (value[0] == '\0')
        snprintf(line, len, "%s;", name);
    else
        snprintf(line, len, "%s: %s", name, value);
    nl = curl_slist_append(*list, line);
    free(line);
    if (nl == NULL)
        return -1;
    *list = nl;
    return 0;
}

static int build_headers(struct httpc_req *r, const struct httpc_spec *spec)
{
    size_t i;

    for (i = 0; i < spec->nheaders; i++) {
        const struct httpc_header *hd = &spec->headers[i];

        if (hd->name == NULL || hd->value == NULL || !token_ok(hd->name, 256) ||
            !value_ok(hd->value))
            return -1;
        if (add_header(&r->hdrs, hd->name, hd->value) != 0)
            return -1;
    }
    /* Suppress curl's own Expect: 100-continue (a round trip) and form Content-Type. */
    if (!has_header(spec, "Expect")) {
        struct curl_slist *nl = curl_slist_append(r->hdrs, "Expect:");

        if (nl == NULL)
            return -1;
        r->hdrs = nl;
    }
    if (spec->body != NULL && !has_header(spec, "Content-Type")) {
        struct curl_slist *nl = curl_slist_append(r->hdrs, "Content-Type:");

        if (nl == NULL)
            return -1;
        r->hdrs = nl;
    }
    return 0;
}

#define SETOPT(opt, val)                                                                           \
    do {                                                                                           \
        if (rc == CURLE_OK)                                                                        \
            rc = curl_easy_setopt(e, opt, val);                                                    \
    } while (0)

static CURLcode set_method(struct httpc_req *r, const struct httpc_spec *spec, const char *m)
{
    CURL *e = r->easy;
    CURLcode rc = CURLE_OK;

    if (spec->body != NULL) {
        SETOPT(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)spec->body_len);
        SETOPT(CURLOPT_POSTFIELDS, r->body);
        if (strcmp(m, "POST") != 0)
            SETOPT(CURLOPT_CUSTOMREQUEST, m);
    } else if (strcmp(m, "GET") == 0) {
        SETOPT(CURLOPT_HTTPGET, 1L);
    } else if (strcmp(m, "HEAD") == 0) {
        SETOPT(CURLOPT_NOBODY, 1L);
    } else if (strcmp(m, "POST") == 0) {
        SETOPT(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
        SETOPT(CURLOPT_POSTFIELDS, "");
    } else {
        SETOPT(CURLOPT_CUSTOMREQUEST, m);
    }
    return rc;
}

static CURLcode set_options(struct httpc_req *r, const struct httpc_spec *spec, const char *m)
{
    struct httpc *h = r->h;
    CURL *e = r->easy;
    CURLcode rc = CURLE_OK;

    if (r->url != NULL)
        SETOPT(CURLOPT_CURLU, r->url->u);
    else
        SETOPT(CURLOPT_URL, spec->url);
#if LIBCURL_VERSION_NUM >= 0x075500
    SETOPT(CURLOPT_PROTOCOLS_STR, "http,https");
#else
    SETOPT(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    SETOPT(CURLOPT_PRIVATE, (void *)r);
    SETOPT(CURLOPT_ERRORBUFFER, r->errbuf);
    SETOPT(CURLOPT_NOSIGNAL, 1L);
    SETOPT(CURLOPT_SSL_VERIFYPEER, 1L);
    SETOPT(CURLOPT_SSL_VERIFYHOST, 2L);
#if LIBCURL_VERSION_NUM >= 0x075700
    /* Don't join a resolver thread still inside getaddrinfo() when a transfer is removed or
     * times out: that would block the loop. With this the thread is detached and frees its
     * own state when getaddrinfo() returns. */
    SETOPT(CURLOPT_QUICK_EXIT, 1L);
#endif
    SETOPT(CURLOPT_TCP_KEEPALIVE, 1L);
    SETOPT(CURLOPT_HTTP_VERSION,
           h->http2 ? (long)CURL_HTTP_VERSION_2TLS : (long)CURL_HTTP_VERSION_1_1);
    SETOPT(CURLOPT_HTTPHEADER, r->hdrs);
    SETOPT(CURLOPT_HEADERFUNCTION, header_cb);
    SETOPT(CURLOPT_HEADERDATA, (void *)r);
    SETOPT(CURLOPT_WRITEFUNCTION, write_cb);
    SETOPT(CURLOPT_WRITEDATA, (void *)r);
    SETOPT(CURLOPT_OPENSOCKETFUNCTION, open_sock_cb);
    SETOPT(CURLOPT_OPENSOCKETDATA, (void *)h);
    SETOPT(CURLOPT_CLOSESOCKETFUNCTION, close_sock_cb);
    SETOPT(CURLOPT_CLOSESOCKETDATA, (void *)h);
    if (spec->connect_timeout_ms > 0)
        SETOPT(CURLOPT_CONNECTTIMEOUT_MS, spec->connect_timeout_ms);
    if (spec->timeout_ms > 0)
        SETOPT(CURLOPT_TIMEOUT_MS, spec->timeout_ms);
    if (spec->low_speed_limit > 0 && spec->low_speed_time_s > 0) {
        SETOPT(CURLOPT_LOW_SPEED_LIMIT, spec->low_speed_limit);
        SETOPT(CURLOPT_LOW_SPEED_TIME, spec->low_speed_time_s);
    }
    if (spec->max_response > 0)
        SETOPT(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)spec->max_response);
    if (spec->recv_buffer > 0)
        SETOPT(CURLOPT_BUFFERSIZE, spec->recv_buffer);
    else if (h->recv_buffer_size > 0)
        SETOPT(CURLOPT_BUFFERSIZE, h->recv_buffer_size);
    if (h->ca_file != NULL)
        SETOPT(CURLOPT_CAINFO, h->ca_file);
    if (h->proxy != NULL)
        SETOPT(CURLOPT_PROXY, h->proxy);
    if (rc == CURLE_OK)
        rc = set_method(r, spec, m);
    return rc;
}

#undef SETOPT

/* The query string of url (owned), or NULL with *oom set when out of memory. */
static char *url_query(const char *url, bool *oom)
{
    const char *q = strchr(url, '?');
    char *s;

    *oom = false;
    if (q == NULL)
        return NULL;
    q++;
    s = strndup(q, strcspn(q, "#"));
    *oom = s == NULL;
    return s;
}

/*
 * The slot holding url parsed, filled now when it is new, or NULL: when curl does not parse it
 * (the transfer then gets the text, and curl reports the error as usual), when every slot is in
 * use, or out of memory.
 */
static struct httpc_url *url_slot_get(struct httpc *h, const char *url)
{
    struct httpc_url *slot = NULL;
    CURLU *u;
    char *copy, *query;
    bool oom;
    int i;

    for (i = 0; i < HTTPC_URLS; i++) {
        struct httpc_url *s = &h->urls[i];

        if (s->url != NULL && strcmp(s->url, url) == 0) {
            s->stamp = ++h->url_clock;
            return s;
        }
        if (s->refs == 0 &&
            (slot == NULL || s->url == NULL || (slot->url != NULL && s->stamp < slot->stamp)))
            slot = s;
    }
    if (slot == NULL || (u = curl_url()) == NULL)
        return NULL;
    /* Parsed and copied before the slot is touched: a URL curl refuses evicts nothing. */
    if (curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK ||
        (copy = strdup(url)) == NULL) {
        curl_url_cleanup(u);
        return NULL;
    }
    query = url_query(url, &oom);
    if (oom) {
        curl_url_cleanup(u);
        free(copy);
        return NULL;
    }
    url_slot_clear(slot);
    slot->u = u;
    slot->url = copy;
    slot->query = query;
    slot->stamp = ++h->url_clock;
    return slot;
}

struct httpc_req *httpc_start(struct httpc *h, const struct httpc_spec *spec,
                              const struct httpc_cbs *cbs, void *arg)
{
    struct httpc_req *r = NULL;
    const char *m;
    CURLcode rc;

    if (h == NULL || spec == NULL || spec->url == NULL || cbs == NULL || cbs->on_done == NULL ||
        h->closing)
        return NULL;
    m = spec->method != NULL ? spec->method : spec->body != NULL ? "POST" : "GET";
    if (!token_ok(m, 32) || (spec->nheaders > 0 && spec->headers == NULL))
        return NULL;
    r = calloc(1, sizeof(*r));
    if (r == NULL)
        return NULL;
    r->h = h;
    r->cbs = *cbs;
    r->arg = arg;
    r->max_response = spec->max_response;
    clock_gettime(CLOCK_MONOTONIC, &r->t0);
    LIST_INSERT_HEAD(&h->reqs, r, link);
    h->active++;
    if (h->nidle > 0)
        r->easy = h->idle[--h->nidle];
    else
        r->easy = curl_easy_init();
    if (r->easy == NULL)
        goto fail;
    r->hv.easy = r->easy;
    if (build_headers(r, spec) != 0)
        goto fail;
    if ((r->url = url_slot_get(h, spec->url)) != NULL) {
        r->url->refs++;
        r->query = r->url->query;
    } else {
        bool oom;

        r->query = url_query(spec->url, &oom);
        if (oom)
            goto fail;
    }
    if (spec->body != NULL) {
        r->body = malloc(spec->body_len + 1);
        if (r->body == NULL)
            goto fail;
        memcpy(r->body, spec->body, spec->body_len);
        r->body[spec->body_len] = '\0';
    }
    rc = set_options(r, spec, m);
    if (rc != CURLE_OK) {
        LOG_ERR("httpc: curl_easy_setopt: %s", curl_easy_strerror(rc));
        goto fail;
    }
    /* curl refuses multi calls from inside its own callbacks: defer to the work event. */
    if (h->cb_depth > 0) {
        r->add_pending = 1;
        req_queue(r);
    } else if (req_add(r) != 0) {
        goto fail;
    }
    return r;
fail:
    req_destroy(r);
    return NULL;
}

const char *httpc_headers_get(const struct httpc_headers *hdrs, const char *name)
{
    struct curl_header *hh = NULL;

    if (hdrs == NULL || name == NULL)
        return NULL;
    if (curl_easy_header(hdrs->easy, name, 0, CURLH_HEADER, -1, &hh) != CURLHE_OK)
        return NULL;
    return hh->value;
}

void httpc_resume(struct httpc_req *r)
{
    if (r == NULL || r->cancelled || r->finishing || !r->paused)
        return;
    r->paused = 0;
    if (r->curl_paused) {
        r->resume_pending = 1;
        req_queue(r);
    }
}

void httpc_cancel(struct httpc_req *r)
{
    if (r == NULL || r->cancelled || r->finishing)
        return;
    r->cancelled = 1;
    r->resume_pending = 0;
    req_queue(r);
}
