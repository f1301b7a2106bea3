/*
 * One HTTP request in flight. struct gw_req owns everything of one request (STYLE §2.8):
 * it is created by the router, answered exactly once through gw_reply_* (which ends it with
 * gw_req_finish()), and notices a client that went away through the connection's close
 * callback.
 */
#ifndef GW_REQ_H
#define GW_REQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct evhttp_request;
struct gw_req;
struct gw_worker;

/* Called when the client's connection closes before the reply ended (see gw_req_watch_close). */
typedef void gw_req_gone_fn(struct gw_req *r, void *arg);

#define GW_RID_MAX 64

struct gw_req {
    struct evhttp_request *ev; /* libevent's request; valid until the reply is sent */
    struct gw_worker *w;
    int64_t t0_us;    /* monotonic arrival time */
    int64_t up_us;    /* time spent waiting on a provider, left out of X-Gateway-Overhead-Ms */
    int method;       /* enum evhttp_cmd_type */
    const char *path; /* decoded path (owned) */
    char rid[GW_RID_MAX + 1];
    int status;              /* the status sent, 0 before */
    bool client_gone;        /* the client's connection closed before the reply */
    bool streaming;          /* a chunked reply was started (gw_reply_stream_start) */
    bool body_normalised;    /* gw_valid_fields() rewrote a body value (e.g. "1" -> 1) */
    bool large;              /* its body was large: trim the heap after it (gw_req_note_large) */
    bool unread;             /* the framer's reject: the client's method and path are unknown */
    bool err_anthropic;      /* errors in Anthropic's shape (the Anthropic Messages endpoint) */
    bool mx_skip;            /* not counted in the metrics (GET /metrics itself) */
    const char *route;       /* the matched route's template (static), NULL before/none */
    const char *mx_provider; /* the provider called (static id), for the overhead metric */
    gw_req_gone_fn *on_gone; /* optional hook run when the client goes away */
    void *gone_arg;
    void (*drain_fn)(void *arg); /* streaming: run when queued output reached the kernel */
    void *drain_arg;
};

/*
 * Creates the request object for ev on worker w with the given decoded path (takes ownership
 * of path, which must be malloc'd). Picks the request id (the client's sane X-Request-Id, or a
 * new one) and counts the request in flight. Returns owned object or NULL (out of memory).
 */
struct gw_req *gw_req_new(struct evhttp_request *ev, struct gw_worker *w, char *path);

/*
 * Ends the request after its reply was handed to libevent (or the client is gone): writes
 * the access-log line, releases the in-flight count (possibly ending a drain) and frees r.
 * Called only by gw_reply.c. NULL-safe.
 */
void gw_req_finish(struct gw_req *r);

/* r's body was large (>= JMEM_TRIM_MIN): give freed memory back to the system once it ends. */
void gw_req_note_large(struct gw_req *r);

/*
 * Registers/clears the connection close callback that sets r->client_gone and then runs
 * r->on_gone (when set). If libevent is about to free the request with its connection, r->ev is
 * set to NULL first; otherwise libevent left the request to us, to be ended by gw_reply_*.
 */
void gw_req_watch_close(struct gw_req *r);
void gw_req_unwatch_close(struct gw_req *r);

/* A method's name ("GET") for logs and Allow headers. */
const char *gw_method_name(int method);

#endif
