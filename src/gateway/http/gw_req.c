/*
 * Request lifetime: creation (request id, in-flight count), the close watch, and the single
 * end point gw_req_finish() that logs the access line and frees the object.
 */
#include "gateway/http/gw_req.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <event2/http.h>

#include "gateway/gw_app.h"
#include "gateway/metrics/gw_metrics.h"
#include "jmem.h"
#include "log.h"
#include "util.h"

/* A client's X-Request-Id is echoed only when it is short and made of safe characters. */
static bool gw_rid_is_sane(const char *s)
{
    size_t n = 0;

    if (s == NULL)
        return false;
    for (; s[n] != '\0'; n++) {
        char c = s[n];
        if (n >= GW_RID_MAX)
            return false;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.' || c == ':'))
            return false;
    }
    return n > 0;
}

struct gw_req *gw_req_new(struct evhttp_request *ev, struct gw_worker *w, char *path)
{
    struct gw_req *r = calloc(1, sizeof(*r));
    const char *rid;

    if (r == NULL) {
        free(path);
        return NULL;
    }
    r->ev = ev;
    r->w = w;
    r->t0_us = util_mono_us();
    r->method = (int)evhttp_request_get_command(ev);
    r->path = path;
    /* The Anthropic Messages endpoint answers every error in Anthropic's shape. */
    r->err_anthropic = strcmp(path, "/v1/messages") == 0;
    rid = evhttp_find_header(evhttp_request_get_input_headers(ev), "X-Request-Id");
    if (gw_rid_is_sane(rid))
        snprintf(r->rid, sizeof(r->rid), "%s", rid);
    else
        snprintf(r->rid, sizeof(r->rid), "%016llx%08llx", (unsigned long long)w->rid_seed,
                 (unsigned long long)(w->rid_seq++ & 0xffffffffu));
    w->inflight++;
    gw_metrics_req_begin(r);
    return r;
}

/*
 * The client's connection failed or closed while its request waits for us. The framer reads the
 * socket even while a request is pending (gw_conn.c), so a client that leaves during a long
 * non-streamed call is seen at once, not when the reply is written.
 */
static void gw_req_on_close(struct evhttp_connection *evcon, void *arg)
{
    struct gw_req *r = arg;

    /*
     * libevent 2.1 detaches a request the handler has not finished from a failing connection
     * (evhttp_connection_incoming_fail) and leaves it to us; ending it later frees it. A request
     * still attached is freed with the connection right after this callback: forget it.
     */
    if (r->ev != NULL && evhttp_request_get_connection(r->ev) == evcon)
        r->ev = NULL;
    r->client_gone = true;
    if (r->on_gone != NULL)
        r->on_gone(r, r->gone_arg);
}

void gw_req_watch_close(struct gw_req *r)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(r->ev);

    if (evcon != NULL)
        evhttp_connection_set_closecb(evcon, gw_req_on_close, r);
}

void gw_req_unwatch_close(struct gw_req *r)
{
    struct evhttp_connection *evcon;

    if (r->ev == NULL)
        return;
    /* Keep-alive connections outlive requests: a stale callback would touch freed memory. */
    evcon = evhttp_request_get_connection(r->ev);
    if (evcon != NULL)
        evhttp_connection_set_closecb(evcon, NULL, NULL);
}

const char *gw_method_name(int method)
{
    switch (method) {
    case EVHTTP_REQ_GET:
        return "GET";
    case EVHTTP_REQ_POST:
        return "POST";
    case EVHTTP_REQ_HEAD:
        return "HEAD";
    case EVHTTP_REQ_PUT:
        return "PUT";
    case EVHTTP_REQ_DELETE:
        return "DELETE";
    case EVHTTP_REQ_OPTIONS:
        return "OPTIONS";
    case EVHTTP_REQ_TRACE:
        return "TRACE";
    case EVHTTP_REQ_CONNECT:
        return "CONNECT";
    case EVHTTP_REQ_PATCH:
        return "PATCH";
    default:
        return "UNKNOWN";
    }
}

static void gw_req_trim_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    jmem_trim_after(JMEM_TRIM_MIN);
}

void gw_req_note_large(struct gw_req *r)
{
    r->large = true;
}

/*
 * A request with a large body ended: a second after the last such one (once evhttp has freed
 * its buffers), hand the freed heap back to the system. One timer per worker, re-armed.
 */
static void gw_req_trim_soon(struct gw_worker *w)
{
    static const struct timeval one_second = {1, 0};

    if (w->trim == NULL && (w->trim = evtimer_new(w->base, gw_req_trim_cb, NULL)) == NULL)
        return;
    evtimer_add(w->trim, &one_second);
}

void gw_req_finish(struct gw_req *r)
{
    struct gw_worker *w;

    if (r == NULL)
        return;
    w = r->w;
    if (log_threshold <= LOG_LVL_INFO) {
        char path[256];
        log_msg(LOG_LVL_INFO, "rid=%s method=%s path=%s status=%d dur_ms=%.3f%s", r->rid,
                r->unread ? "-" : gw_method_name(r->method),
                r->unread ? "-" : log_redact(path, sizeof(path), r->path), r->status,
                (double)(util_mono_us() - r->t0_us) / 1000.0,
                r->client_gone ? " client_gone=1" : "");
    }
    gw_metrics_req_end(r);
    if (r->large)
        gw_req_trim_soon(w);
    free((char *)r->path);
    free(r);
    w->inflight--;
    if (w->draining && w->inflight == 0)
        event_base_loopexit(w->base, NULL);
}
