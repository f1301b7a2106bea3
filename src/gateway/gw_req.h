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
struct gw_worker;

#define GW_RID_MAX 64

struct gw_req {
    struct evhttp_request *ev; /* libevent's request; valid until the reply is sent */
    struct gw_worker *w;
    int64_t t0_us;    /* monotonic arrival time */
    int method;       /* enum evhttp_cmd_type */
    const char *path; /* decoded path (owned) */
    char rid[GW_RID_MAX + 1];
    int status;       /* the status sent, 0 before */
    bool client_gone; /* the client's connection closed before the reply */
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

/* Registers/clears the connection close callback that sets r->client_gone. */
void gw_req_watch_close(struct gw_req *r);
void gw_req_unwatch_close(struct gw_req *r);

/* A method's name ("GET") for logs and Allow headers. */
const char *gw_method_name(int method);

#endif
