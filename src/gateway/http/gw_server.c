/*
 * Worker threads and their listeners: one event_base + evhttp per thread, all accepting on one
 * SO_REUSEPORT port so the kernel spreads connections over every core. The main thread waits
 * for gw_server_stop() (main.c's signal thread) and drives the graceful shutdown.
 */
#include "gateway/http/gw_server.h"

#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <event2/util.h>

#include "acct/acct_index.h"
#include "config.h"
#include "gateway/gw_app.h"
#include "gateway/http/gw_conn.h"
#include "gateway/http/gw_early.h"
#include "gateway/http/gw_route.h"
#include "gateway/metrics/gw_metrics.h"
#include "gateway/metrics/gw_mx.h"
#include "httpc.h"
#include "log.h"
#include "providers/prov_token.h"
#include "util.h"

#define GW_MAX_WORKERS 256
#define GW_LISTEN_BACKLOG 1024
#define GW_UPSTREAM_IDLE_CONNECTIONS 1024 /* per worker, see gw_httpc_opts */
#define GW_ACCEPT_PAUSE_US 100000         /* accepting pauses this long when it cannot go on */
#define GW_ACCEPT_WARN_US 1000000         /* at most one accept warning a second per worker */
#define GW_IDLE_GRACE_US 100000           /* a connection this new is not closed as idle */

struct gw_server {
    struct gw_app app; /* first: a worker's app pointer is its server */
    struct addrinfo *ai;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;     /* under mu: 0 serving, 1 drain asked, 2 cut everything now */
    int finished; /* under mu: workers whose loop has returned */
};

/* Creates a non-blocking listening socket on addr with SO_REUSEPORT. Returns fd or -1. */
static int gw_listen(const struct addrinfo *ai)
{
    int one = 1;
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, GW_LISTEN_BACKLOG) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

static int gw_bound_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);

    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        return -1;
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

/* Worker 0, every second: batch the keys' last_used_at writes off the request path. */
static void gw_worker_flush(evutil_socket_t fd, short what, void *arg)
{
    struct gw_worker *w = arg;

    (void)fd;
    (void)what;
    acct_index_flush_touched(w->app->index, w->app->db, w->base);
}

/*
 * The upstream pool of each worker. curl's default cache holds 4 connections per transfer in
 * flight at the moment one ends, so after a lull a burst found too few and connected again
 * (connection churn, TIME_WAIT sockets, a handshake added to those requests): keep a fixed
 * number instead. Idle ones still close after curl's idle limit (CURLOPT_MAXAGE_CONN, 118 s).
 */
static const struct httpc_opts gw_httpc_opts = {
    .max_idle_connections = GW_UPSTREAM_IDLE_CONNECTIONS,
};

/* One warning a second at most (accept() fails in a loop otherwise); the others are counted. */
static void gw_accept_warn(struct gw_worker *w, const char *what)
{
    int64_t now = util_mono_us();

    if (w->warn_us != 0 && now - w->warn_us < GW_ACCEPT_WARN_US) {
        w->warn_suppressed++;
        return;
    }
    if (w->warn_suppressed > 0)
        LOG_WARN("worker %d: %s (%u more since the last message)", w->id, what, w->warn_suppressed);
    else
        LOG_WARN("worker %d: %s", w->id, what);
    w->warn_us = now;
    w->warn_suppressed = 0;
}

/* Stops accepting; gw_accept_check() runs again in GW_ACCEPT_PAUSE_US. */
static void gw_accept_pause(struct gw_worker *w)
{
    static const struct timeval tv = {0, GW_ACCEPT_PAUSE_US};

    if (!w->accept_paused)
        evconnlistener_disable(w->listener);
    w->accept_paused = true;
    evtimer_add(w->accept_ev, &tv);
}

/*
 * Runs after an accept that reached the worker's connection cap, after a failed accept, and
 * every GW_ACCEPT_PAUSE_US while accepting is paused. At the cap or out of descriptors, the
 * longest-idle keep-alive connection is closed to make room; when descriptors ran out, or the
 * cap is reached and nothing is idle, accepting pauses (new clients wait in the listen queue)
 * instead of failing accept() in a busy loop.
 */
static void gw_accept_check(evutil_socket_t fd, short what, void *arg)
{
    struct gw_worker *w = arg;
    size_t n, need, closed = 0;

    (void)fd;
    (void)what;
    if (w->draining || w->listener == NULL)
        return;
    /* Several accepts may come in one listener callback: bring the count under the cap. */
    n = gw_conn_set_count(w->conns);
    need = n >= w->conn_cap ? n - w->conn_cap + 1 : 0;
    if (need == 0 && w->fd_exhausted)
        need = 1;
    while (closed < need && gw_conn_set_close_idle(w->conns, GW_IDLE_GRACE_US))
        closed++;
    if (w->fd_exhausted) {
        w->fd_exhausted = false;
        gw_accept_pause(w);
        return;
    }
    if (n - closed >= w->conn_cap) {
        /* The closed ones are freed by the next check; nothing idle long enough otherwise. */
        if (closed == 0) {
            char msg[128];
            snprintf(msg, sizeof(msg),
                     "%zu connections open (max_connections share), none idle: accepting paused",
                     n);
            gw_accept_warn(w, msg);
        }
        gw_accept_pause(w);
        return;
    }
    if (w->accept_paused)
        evconnlistener_enable(w->listener);
    w->accept_paused = false;
}

/*
 * The worker whose loop runs on this thread: the listener's error callback gets evhttp's
 * argument (the evhttp), not ours.
 */
static _Thread_local struct gw_worker *gw_this_worker;

/* accept() failed (libevent retries EINTR, EAGAIN and ECONNABORTED itself). */
static void gw_accept_error(struct evconnlistener *l, void *arg)
{
    struct gw_worker *w = gw_this_worker;
    int err = EVUTIL_SOCKET_ERROR();
    char msg[160];

    (void)arg;
    if (w == NULL || w->listener != l) {
        evconnlistener_disable(l); /* not ours to manage: at least do not spin */
        return;
    }
    snprintf(msg, sizeof(msg), "cannot accept connections: %s; pausing accept for %d ms",
             strerror(err), GW_ACCEPT_PAUSE_US / 1000);
    gw_accept_warn(w, msg);
    w->fd_exhausted = true; /* EMFILE, ENFILE, ENOBUFS, ENOMEM: whatever it is, do not spin */
    if (!w->accept_paused)
        evconnlistener_disable(w->listener);
    w->accept_paused = true;
    event_active(w->accept_ev, EV_TIMEOUT, 0);
}

/* evhttp's bufferevent factory: the framer, counted in this worker's connection set. */
static struct bufferevent *gw_worker_bev_new(struct event_base *base, void *arg)
{
    struct gw_worker *w = arg;
    struct bufferevent *bev = gw_conn_bev_new(base, &w->conn_limits);

    if (gw_conn_set_count(w->conns) >= w->conn_cap)
        event_active(w->accept_ev, EV_TIMEOUT, 0);
    return bev;
}

static int gw_worker_init(struct gw_worker *w, const struct addrinfo *ai)
{
    const struct cfg *cfg = w->app->cfg;

    if (util_random(&w->rid_seed, sizeof(w->rid_seed)) < 0)
        return -1;
    w->listen_fd = gw_listen(ai);
    if (w->listen_fd < 0) {
        LOG_ERR("cannot listen on %s:%d: %s", cfg->host, w->app->port, strerror(errno));
        return -1;
    }
    w->base = event_base_new();
    w->http = w->base != NULL ? evhttp_new(w->base) : NULL;
    if (w->http == NULL) {
        LOG_ERR("cannot create event loop");
        return -1;
    }
    if ((w->httpc = httpc_new(w->base, &gw_httpc_opts)) == NULL ||
        (w->tokens = prov_tokens_new(w->httpc)) == NULL) {
        LOG_ERR("cannot create the upstream HTTP client");
        return -1;
    }
    evhttp_set_allowed_methods(w->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                            EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                                            EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE |
                                            EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
    evhttp_set_timeout(w->http, cfg->idle_timeout);
    /* The framer (gw_conn.c) enforces our limits with JSON answers; these are a safety net. */
    evhttp_set_max_headers_size(w->http, (ev_ssize_t)cfg->max_header_size + 4096);
    evhttp_set_max_body_size(w->http, (ev_ssize_t)cfg->max_body_size + 1);
    w->conns = gw_conn_set_new();
    w->accept_ev = evtimer_new(w->base, gw_accept_check, w);
    if (w->conns == NULL || w->accept_ev == NULL) {
        LOG_ERR("cannot create the connection set");
        return -1;
    }
    w->conn_limits = w->app->limits;
    w->conn_limits.set = w->conns;
    evhttp_set_bevcb(w->http, gw_worker_bev_new, w);
    evhttp_set_gencb(w->http, gw_route_dispatch, w);
    if (w->id == 0) {
        static const struct timeval one_second = {1, 0};
        w->flush = event_new(w->base, -1, EV_PERSIST, gw_worker_flush, w);
        if (w->flush == NULL || event_add(w->flush, &one_second) < 0) {
            LOG_ERR("cannot start the key-use flush timer");
            return -1;
        }
    }
    w->bound = evhttp_accept_socket_with_handle(w->http, w->listen_fd);
    if (w->bound == NULL) {
        LOG_ERR("cannot accept on %s:%d", cfg->host, w->app->port);
        close(w->listen_fd);
        w->listen_fd = -1;
        return -1;
    }
    w->listener = evhttp_bound_socket_get_listener(w->bound);
    evconnlistener_set_error_cb(w->listener, gw_accept_error);
    return 0;
}

static void gw_worker_cleanup(struct gw_worker *w)
{
    if (w->accept_ev != NULL)
        event_free(w->accept_ev);
    w->accept_ev = NULL;
    if (w->deadline != NULL)
        event_free(w->deadline);
    w->deadline = NULL;
    if (w->flush != NULL)
        event_free(w->flush);
    w->flush = NULL;
    if (w->trim != NULL)
        event_free(w->trim);
    w->trim = NULL;
    prov_tokens_free(w->tokens);
    w->tokens = NULL;
    httpc_free(w->httpc); /* a worker that never ran: its calls end before their connections */
    w->httpc = NULL;
    if (w->http != NULL)
        evhttp_free(w->http); /* closes the listener and every connection */
    w->http = NULL;
    if (w->bound == NULL && w->listen_fd >= 0)
        close(w->listen_fd);
    w->listen_fd = -1;
    if (w->base != NULL)
        event_base_free(w->base);
    w->base = NULL;
    gw_conn_set_free(w->conns); /* every connection is gone with the base */
    w->conns = NULL;
}

static void *gw_worker_main(void *arg)
{
    struct gw_worker *w = arg;
    struct gw_server *srv = (struct gw_server *)w->app;

    gw_this_worker = w;
    event_base_dispatch(w->base);
    /*
     * Upstream calls still running after the shutdown deadline end here, on their own thread,
     * while the usage writer still takes their rows (billed as cancelled: see gw_call.c).
     */
    prov_tokens_free(w->tokens);
    w->tokens = NULL;
    httpc_free(w->httpc);
    w->httpc = NULL;
    pthread_mutex_lock(&srv->mu);
    srv->finished++;
    pthread_cond_broadcast(&srv->cv);
    pthread_mutex_unlock(&srv->mu);
    return NULL;
}

/* A second stop signal: cut what is still in flight on this worker now. */
static void gw_worker_force(evutil_socket_t fd, short what, void *arg)
{
    struct gw_worker *w = arg;

    (void)fd;
    (void)what;
    if (w->inflight > 0)
        LOG_WARN("stopping now: cutting %u request(s) still in flight on worker %d", w->inflight,
                 w->id);
    event_base_loopexit(w->base, NULL);
}

static void gw_worker_deadline(evutil_socket_t fd, short what, void *arg)
{
    struct gw_worker *w = arg;

    (void)fd;
    (void)what;
    LOG_WARN("shutdown deadline reached with %u request(s) still in flight on worker %d",
             w->inflight, w->id);
    event_base_loopexit(w->base, NULL);
}

/* Runs on the worker's own loop: stop accepting, then exit once nothing is in flight. */
static void gw_worker_drain(evutil_socket_t fd, short what, void *arg)
{
    struct gw_worker *w = arg;
    struct timeval tv = {.tv_sec = w->app->cfg->shutdown_timeout, .tv_usec = 0};

    (void)fd;
    (void)what;
    w->draining = true;
    if (w->flush != NULL)
        acct_index_flush_touched(w->app->index, w->app->db, w->base);
    if (w->accept_ev != NULL)
        evtimer_del(w->accept_ev);
    if (w->bound != NULL)
        evhttp_del_accept_socket(w->http, w->bound); /* closes the listening socket */
    w->bound = NULL;
    w->listener = NULL;
    w->listen_fd = -1;
    if (w->inflight == 0) {
        event_base_loopexit(w->base, NULL);
        return;
    }
    w->deadline = evtimer_new(w->base, gw_worker_deadline, w);
    if (w->deadline == NULL || evtimer_add(w->deadline, &tv) < 0)
        event_base_loopexit(w->base, NULL);
}

static int gw_resolve(const char *host, int port, struct addrinfo **res)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    char portstr[16];
    int rc;

    snprintf(portstr, sizeof(portstr), "%d", port);
    rc = getaddrinfo(host, portstr, &hints, res);
    if (rc != 0) {
        LOG_ERR("cannot resolve host '%s': %s", host, gai_strerror(rc));
        return -1;
    }
    return 0;
}

/*
 * Each worker's share of max_connections, which is held to half the process's descriptor
 * limit: the other half is for upstream and database connections, so that the cap, not
 * EMFILE, is what a flood of clients meets first.
 */
static size_t gw_conn_cap(const struct cfg *cfg, int nworkers)
{
    struct rlimit rl;
    size_t total = (size_t)cfg->max_connections, cap;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur / 2 < total) {
        total = rl.rlim_cur / 2 > 0 ? (size_t)(rl.rlim_cur / 2) : 1;
        LOG_INFO("max_connections %d lowered to %zu: the file-descriptor limit is %llu",
                 cfg->max_connections, total, (unsigned long long)rl.rlim_cur);
    }
    cap = (total + (size_t)nworkers - 1) / (size_t)nworkers;
    return cap > 0 ? cap : 1;
}

void gw_server_free(struct gw_server *srv)
{
    if (srv == NULL)
        return;
    for (int i = 0; srv->app.workers != NULL && i < srv->app.nworkers; i++)
        gw_worker_cleanup(&srv->app.workers[i]);
    free(srv->app.workers);
    gw_mx_free(srv->app.mx);
    if (srv->ai != NULL)
        freeaddrinfo(srv->ai);
    pthread_mutex_destroy(&srv->mu);
    pthread_cond_destroy(&srv->cv);
    free(srv);
}

struct gw_server *gw_server_new(const struct cfg *cfg, struct db *db, struct acct_index *index,
                                const struct prov_confs *provs, struct acct_usage *usage)
{
    struct gw_server *srv = calloc(1, sizeof(*srv));
    struct gw_app *app;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

    if (srv == NULL)
        return NULL;
    pthread_mutex_init(&srv->mu, NULL);
    pthread_cond_init(&srv->cv, NULL);
    app = &srv->app;
    app->cfg = cfg;
    app->db = db;
    app->index = index;
    app->provs = provs;
    app->usage = usage;
    app->nworkers = cfg->workers > 0 ? cfg->workers : (ncpu > 0 ? (int)ncpu : 1);
    if (app->nworkers > GW_MAX_WORKERS)
        app->nworkers = GW_MAX_WORKERS;
    app->limits.max_header_size = cfg->max_header_size;
    app->limits.max_body_size = cfg->max_body_size;
    app->limits.read_timeout = cfg->read_timeout;
    app->limits.head_check = gw_early_check; /* DESIGN.md §2.14 */
    app->limits.head_arg = app;
    app->port = cfg->port;
    app->conn_cap = gw_conn_cap(cfg, app->nworkers);
    app->workers = calloc((size_t)app->nworkers, sizeof(*app->workers));
    if (app->workers == NULL || gw_resolve(cfg->host, cfg->port, &srv->ai) < 0)
        goto fail;
    if (cfg->enable_metrics && (app->mx = gw_metrics_new(app->nworkers)) == NULL) {
        LOG_ERR("start-up failed: out of memory for the metrics");
        goto fail;
    }
    for (int i = 0; i < app->nworkers; i++)
        app->workers[i].listen_fd = -1;
    for (int i = 0; i < app->nworkers; i++) {
        struct gw_worker *w = &app->workers[i];
        w->app = app;
        w->id = i;
        w->conn_cap = app->conn_cap;
        w->mx = gw_mx_shard(app->mx, i);
        if (gw_worker_init(w, srv->ai) < 0)
            goto fail;
        if (i == 0 && app->port == 0) {
            /* Port 0: the kernel picked one; every other worker joins it. */
            struct sockaddr *sa = srv->ai->ai_addr;
            app->port = gw_bound_port(w->listen_fd);
            if (srv->ai->ai_family == AF_INET6)
                ((struct sockaddr_in6 *)sa)->sin6_port = htons((uint16_t)app->port);
            else
                ((struct sockaddr_in *)sa)->sin_port = htons((uint16_t)app->port);
        }
    }
    return srv;
fail:
    gw_server_free(srv);
    return NULL;
}

void gw_server_set_sync(struct gw_server *srv, struct acct_sync *sync)
{
    atomic_store(&srv->app.sync, sync);
}

void gw_server_set_ready(struct gw_server *srv)
{
    atomic_store(&srv->app.ready, true);
}

void gw_server_stop(struct gw_server *srv, bool force)
{
    pthread_mutex_lock(&srv->mu);
    if (srv->stop < (force ? 2 : 1))
        srv->stop = force ? 2 : 1;
    pthread_cond_broadcast(&srv->cv);
    pthread_mutex_unlock(&srv->mu);
}

/* Runs fn on every started worker's loop (or breaks the loop when that cannot be queued). */
static void gw_server_post(struct gw_app *app, int started, event_callback_fn fn)
{
    static const struct timeval zero = {0, 0};

    for (int i = 0; i < started; i++) {
        struct gw_worker *w = &app->workers[i];
        if (event_base_once(w->base, -1, EV_TIMEOUT, fn, w, &zero) < 0)
            event_base_loopbreak(w->base);
    }
}

int gw_server_run(struct gw_server *srv)
{
    struct gw_app *app = &srv->app;
    const struct cfg *cfg = app->cfg;
    int started = 0, rc = -1;
    bool forced = false;

    for (; started < app->nworkers; started++) {
        if (pthread_create(&app->workers[started].thread, NULL, gw_worker_main,
                           &app->workers[started]) != 0) {
            LOG_ERR("cannot start worker thread %d", started);
            break;
        }
    }
    if (started == app->nworkers) {
        LOG_INFO("any-llm-gateway %s listening on http://%s:%d (%d worker%s, up to %zu "
                 "connections each)",
                 GW_VERSION, cfg->host, app->port, app->nworkers, app->nworkers == 1 ? "" : "s",
                 app->conn_cap);
        pthread_mutex_lock(&srv->mu);
        while (srv->stop == 0)
            pthread_cond_wait(&srv->cv, &srv->mu);
        pthread_mutex_unlock(&srv->mu);
        rc = 0;
    }
    gw_server_post(app, started, gw_worker_drain);
    /* Wait for every loop to end; a second stop cuts the drain short. */
    pthread_mutex_lock(&srv->mu);
    while (srv->finished < started) {
        if (srv->stop >= 2 && !forced) {
            forced = true;
            pthread_mutex_unlock(&srv->mu);
            gw_server_post(app, started, gw_worker_force);
            pthread_mutex_lock(&srv->mu);
            continue;
        }
        pthread_cond_wait(&srv->cv, &srv->mu);
    }
    pthread_mutex_unlock(&srv->mu);
    for (int i = 0; i < started; i++)
        pthread_join(app->workers[i].thread, NULL);
    return rc;
}
