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
 * evhttp_set_timeout() still applies as the idle/write timeout. Chunk extensions are removed before
 * evhttp sees the body (evhttp 2.1 refuses them). Output is written to the socket by the framer
 * itself, so that evhttp's "written" callback means the kernel has the bytes (see gw_conn.c). The
 * socket is read by the framer's own persistent event, also while evhttp is busy with a request (no
 * epoll change per request). A client's close or reset is thus reported to evhttp at once, as
 * BEV_EVENT_EOF/ERROR, even while its request waits for an upstream: evhttp fails the connection
 * and runs its close callback (evhttp_connection_set_closecb). Reading pauses while a whole further
 * (pipelined) request waits for evhttp, until the reply before it is out. Early refusal (DESIGN.md
 * §2.14): once a head is complete, limits->head_check may refuse it (e.g. 401, no valid key) before
 * any body byte is taken; evhttp then gets a copy of that head without its body
 * (gw_early_head_copy()), so the handler's own answer goes out at once, even when the body is
 * malformed, pipelined or chunked, and no 100 Continue is sent for it. Synthetic requests (rejects
 * and refusals) carry a GW_CONN_MARKER header with a per-process random secret and the status;
 * gw_conn_internal_status() tells them apart from anything a client sends (a client's own
 * GW_CONN_MARKER lines are dropped or cannot match). Lingering close (as nginx's): after a reject
 * or refusal the framer goes on reading and discarding the client's bytes, at most the rest of the
 * declared body (the whole stream when unknown) and never more than max_body_size +
 * GW_CONN_LINGER_EXTRA bytes, for at most GW_CONN_LINGER_MS (GW_CONN_LINGER_IDLE_MS without a
 * byte); evhttp's close is held until then and the write side is shut once the answer is out. A
 * client that writes its whole body before reading thus reads the error instead of a reset.
 */
#ifndef GW_CONN_H
#define GW_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct bufferevent;
struct gw_conn_set;

struct evkeyvalq;

/* Path of the synthetic reject requests (only for the access log: the marker decides). */
#define GW_CONN_REJECT_PREFIX "/_gw/reject/"
#define GW_CONN_MARKER "X-Gw-Internal"
#define GW_CONN_LINGER_MS 5000
#define GW_CONN_LINGER_IDLE_MS 1000
#define GW_CONN_LINGER_EXTRA (1024 * 1024)

/*
 * Early check of a complete, valid request head (borrowed for the call): returns 0 to let the
 * request go on, or the HTTP status to refuse it with. Runs on the connection's loop: must not
 * block.
 */
typedef int gw_conn_head_fn(void *arg, const char *head, size_t len);

struct gw_conn_limits {
    size_t max_header_size;
    size_t max_body_size;
    int read_timeout;            /* seconds */
    struct gw_conn_set *set;     /* optional: the loop's open connections (NULL: not tracked) */
    gw_conn_head_fn *head_check; /* optional (NULL: no early check) */
    void *head_arg;
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
 * The status of a synthetic request made by the framer (a reject or an early refusal), read from
 * its GW_CONN_MARKER header; 0 for every request a client sent.
 */
int gw_conn_internal_status(const struct evkeyvalq *headers);

/*
 * evhttp bevcb: returns a new bufferevent (owned by evhttp, which sets its fd) that frames
 * requests under the limits pointed to by arg (a struct gw_conn_limits that must outlive the
 * evhttp). Returns NULL on allocation failure (evhttp then drops the connection).
 */
struct bufferevent *gw_conn_bev_new(struct event_base *base, void *arg);

#endif
