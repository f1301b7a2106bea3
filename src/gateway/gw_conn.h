/*
 * Per-connection request framer, installed with evhttp_set_bevcb(): it sits between the socket
 * and evhttp, passes each request on only once it is complete, and turns a request that breaks a
 * limit into a tiny synthetic request "GET /_gw/reject/<status> HTTP/1.1" with
 * "Connection: close", so that the rejection is answered by our own JSON error handler (libevent
 * 2.1 would otherwise answer with an HTML page, and has no 431 or 408 at all).
 *   - request head (request line + headers) larger than max_header_size      -> 431
 *   - Content-Length, or the sum of chunk sizes, larger than max_body_size    -> 413
 *   - a request started but not complete within read_timeout seconds         -> 408
 *   - malformed framing (bad Content-Length, bad chunk size line)             -> 400
 * After a rejection every further byte from the client is discarded.
 * "Expect: 100-continue" is answered by the framer itself (when the declared length fits) and
 * removed from the head that evhttp sees.
 * The read timer starts with the first byte of a request (not on an idle keep-alive connection)
 * and waits while evhttp is busy with an earlier request; read_timeout <= 0 disables it.
 * evhttp_set_timeout() still applies as the idle/write timeout. The routes must answer
 * GET GW_CONN_REJECT_PREFIX "<status>". Chunk extensions are removed before evhttp sees the
 * body (evhttp 2.1 refuses them). Output is written to the socket by the framer itself, so that
 * evhttp's "written" callback means the kernel has the bytes (see gw_conn.c).
 * The socket is read by the framer's own persistent event, also while evhttp is busy with a
 * request (no epoll change per request). A client's close or reset is thus reported to evhttp
 * at once, as BEV_EVENT_EOF/ERROR, even while its request waits for an upstream: evhttp fails
 * the connection and runs its close callback (evhttp_connection_set_closecb). Reading pauses
 * while a whole further (pipelined) request waits for evhttp, until the reply before it is out.
 */
#ifndef GW_CONN_H
#define GW_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct bufferevent;
struct gw_conn_set;

#define GW_CONN_REJECT_PREFIX "/_gw/reject/"

struct gw_conn_limits {
    size_t max_header_size;
    size_t max_body_size;
    int read_timeout;        /* seconds */
    struct gw_conn_set *set; /* optional: the loop's open connections (NULL: not tracked) */
};

/*
 * The open connections of one event loop (one thread), for a connection cap and for closing
 * idle keep-alive connections when file descriptors run short. Returns owned, free with
 * gw_conn_set_free() once every connection is gone (after evhttp_free and event_base_free);
 * NULL when out of memory. NULL-safe free.
 */
struct gw_conn_set *gw_conn_set_new(void) __attribute__((warn_unused_result));
void gw_conn_set_free(struct gw_conn_set *set);

/* Connections opened and not yet freed. */
size_t gw_conn_set_count(const struct gw_conn_set *set);

/*
 * Closes the connection that has been idle longest, if for at least min_idle_us: no request in
 * progress, none waiting for evhttp and no reply being written (a keep-alive connection between
 * requests, or one that never sent a byte). The close is what a client's EOF causes; its descriptor
 * is released when evhttp has freed it (at once, or later in this loop iteration). Returns false
 * when no connection is idle. Loop thread only; not from inside evhttp's callbacks of that
 * connection.
 */
bool gw_conn_set_close_idle(struct gw_conn_set *set, int64_t min_idle_us);

/*
 * evhttp bevcb: returns a new bufferevent (owned by evhttp, which sets its fd) that frames
 * requests under the limits pointed to by arg (a struct gw_conn_limits that must outlive the
 * evhttp). Returns NULL on allocation failure (evhttp then drops the connection).
 */
struct bufferevent *gw_conn_bev_new(struct event_base *base, void *arg);

#endif
