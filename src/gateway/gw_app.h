/*
 * The gateway's shared state: one struct gw_app for the process (read-only after start-up,
 * shared by every worker thread) and one struct gw_worker per event-loop thread.
 * Internal to src/gateway/.
 */
#ifndef GW_APP_H
#define GW_APP_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "gateway/http/gw_conn.h"

struct db;
struct acct_index;
struct acct_usage;
struct httpc;
struct prov_tokens;
struct prov_confs;
struct event;
struct event_base;
struct evhttp;
struct evhttp_bound_socket;
struct evconnlistener;
struct gw_mx;
struct gw_mx_shard;
struct acct_sync;

struct gw_app {
    const struct cfg *cfg;          /* borrowed, immutable */
    struct db *db;                  /* shared storage handle */
    struct acct_index *index;       /* in-memory keys, users, budgets, prices (borrowed) */
    const struct prov_confs *provs; /* resolved provider settings (borrowed) */
    struct acct_usage *usage;       /* batching usage-log writer (borrowed) */
    struct gw_conn_limits limits;
    int nworkers;
    struct gw_worker *workers;
    int port;          /* the bound port (resolved when cfg->port is 0) */
    size_t conn_cap;   /* client connections per worker (max_connections shared out) */
    atomic_bool ready; /* start-up over the database done (acct_boot_start()): serve everything */
    struct gw_mx *mx;  /* metrics registry (gateway/metrics/), NULL when enable_metrics is off */
    _Atomic(struct acct_sync *) sync; /* the replica sync (PostgreSQL), for its age; or NULL */
};

struct gw_worker {
    struct gw_app *app;
    int id;
    pthread_t thread;
    struct event_base *base;
    struct evhttp *http;
    struct evhttp_bound_socket *bound;
    struct httpc *httpc;        /* upstream calls of this loop (connection pools) */
    struct prov_tokens *tokens; /* access tokens of OAuth providers, fetched on this loop */
    struct event *deadline;     /* shutdown deadline timer */
    struct event *flush;        /* worker 0: periodic last_used_at flush */
    struct event *trim;         /* gives memory back a moment after a large request (gw_req.c) */
    int listen_fd;
    unsigned inflight; /* requests accepted and not yet answered */
    bool draining;     /* stop accepting; exit when inflight reaches 0 */
    uint64_t rid_seed; /* per-worker random prefix of generated request ids */
    uint64_t rid_seq;
    struct gw_mx_shard *mx; /* this worker's metric cells (NULL: metrics off) */
    /* Connection cap and descriptor exhaustion (gw_server.c). */
    struct gw_conn_limits conn_limits; /* app->limits plus conns */
    struct gw_conn_set *conns;         /* this loop's open client connections */
    struct evconnlistener *listener;   /* of bound */
    struct event *accept_ev;           /* deferred check, then the resume timer */
    size_t conn_cap;                   /* this worker's share of max_connections */
    bool accept_paused;                /* the listener is disabled */
    bool fd_exhausted;                 /* accept() failed with EMFILE/ENFILE/ENOBUFS/ENOMEM */
    int64_t warn_us;                   /* when the last accept warning was logged */
    unsigned warn_suppressed;          /* accept warnings not logged since */
};

#endif
