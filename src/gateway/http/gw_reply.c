/*
 * The one place replies are written: common headers (request id, security headers, CORS),
 * JSON serialisation straight into the output evbuffer, and the error body shape
 * {"detail": ..., "error": {"message", "type", "code"}} of DESIGN.md §2.3.
 */
#include "gateway/http/gw_reply.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>

#include "gateway/gw_app.h"
#include "gateway/http/gw_req.h"
#include "gateway/metrics/gw_metrics.h"
#include "log.h"
#include "providers/prov_shape.h"
#include "util.h"

static const char *gw_reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 204:
        return "No Content";
    case 301:
        return "Moved Permanently";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 413:
        return "Content Too Large";
    case 415:
        return "Unsupported Media Type";
    case 422:
        return "Unprocessable Entity";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return status < 400 ? "OK" : "Error";
    }
}

const char *gw_error_type(int status)
{
    switch (status) {
    case 401:
        return "authentication_error";
    case 403:
        return "permission_error";
    case 404:
        return "not_found_error";
    case 408:
    case 504:
        return "timeout_error";
    case 429:
        return "rate_limit_error";
    case 502:
        return "upstream_error";
    case 503:
        return "service_unavailable_error";
    default:
        return status >= 500 ? "server_error" : "invalid_request_error";
    }
}

void gw_reply_header(struct gw_req *r, const char *name, const char *value)
{
    if (r->ev == NULL)
        return;
    evhttp_add_header(evhttp_request_get_output_headers(r->ev), name, value);
}

/* CORS on a simple (non-preflight) response, as Starlette's CORSMiddleware does it. */
static void gw_reply_cors(struct gw_req *r, struct evkeyvalq *out, bool *vary_origin)
{
    const struct cfg *cfg = r->w->app->cfg;
    const char *origin;

    *vary_origin = false;
    if (cfg->n_cors_allow_origins == 0)
        return;
    origin = evhttp_find_header(evhttp_request_get_input_headers(r->ev), "Origin");
    if (origin == NULL)
        return;
    for (size_t i = 0; i < cfg->n_cors_allow_origins; i++) {
        if (strcmp(cfg->cors_allow_origins[i], "*") == 0) {
            evhttp_add_header(out, "Access-Control-Allow-Origin", "*");
            return;
        }
    }
    for (size_t i = 0; i < cfg->n_cors_allow_origins; i++) {
        if (strcmp(cfg->cors_allow_origins[i], origin) == 0) {
            evhttp_add_header(out, "Access-Control-Allow-Origin", origin);
            evhttp_add_header(out, "Access-Control-Allow-Credentials", "true");
            *vary_origin = true;
            return;
        }
    }
}

/*
 * X-Gateway-Overhead-Ms (DESIGN.md §2.9): the time since the request arrived minus the time
 * spent waiting on a provider (r->up_us), in milliseconds with three decimals, never negative.
 */
static void gw_reply_overhead(struct gw_req *r, struct evkeyvalq *out)
{
    int64_t own = util_mono_us() - r->t0_us - r->up_us;
    char v[32];

    if (own < 0)
        own = 0;
    gw_metrics_overhead(r, own);
    snprintf(v, sizeof(v), "%lld.%03d", (long long)(own / 1000), (int)(own % 1000));
    evhttp_add_header(out, "X-Gateway-Overhead-Ms", v);
}

/*
 * The Date header's value (RFC 9110 IMF-fixdate), formatted once per second per thread: evhttp
 * would format it for every reply (its own gmtime and printf) when the header is missing.
 */
static const char *gw_reply_date(void)
{
    static _Thread_local char date[40];
    static _Thread_local time_t date_sec = -1;
    time_t now = time(NULL);
    struct tm tm;

    if (now != date_sec && gmtime_r(&now, &tm) != NULL &&
        strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm) > 0)
        date_sec = now;
    return date;
}

/*
 * r->ev may be gone already (the client left, or the server shuts down): every reply path then
 * only ends r, without touching libevent. An asset (gw_reply_asset) keeps the caching and
 * referrer headers its caller set.
 */
static void gw_reply_headers(struct gw_req *r, const char *ctype, bool asset)
{
    struct evkeyvalq *out;
    const char *date;
    bool vary_origin;

    if (r->ev == NULL)
        return;
    out = evhttp_request_get_output_headers(r->ev);
    date = gw_reply_date();
    if (date[0] != '\0')
        evhttp_add_header(out, "Date", date);
    evhttp_add_header(out, "X-Request-Id", r->rid);
    gw_reply_overhead(r, out);
    if (ctype != NULL)
        evhttp_add_header(out, "Content-Type", ctype);
    evhttp_add_header(out, "X-Content-Type-Options", "nosniff");
    evhttp_add_header(out, "X-Frame-Options", "DENY");
    if (!asset)
        evhttp_add_header(out, "Referrer-Policy", "strict-origin-when-cross-origin");
    gw_reply_cors(r, out, &vary_origin);
    if (asset) {
        if (vary_origin)
            evhttp_add_header(out, "Vary", "Origin");
    } else if (strncmp(r->path, "/health", 7) != 0) {
        evhttp_remove_header(out, "Cache-Control");
        evhttp_add_header(out, "Cache-Control", "private, no-store, no-cache");
        evhttp_remove_header(out, "Vary");
        evhttp_add_header(out, "Vary", vary_origin ? "Authorization, Origin" : "Authorization");
    } else if (vary_origin) {
        evhttp_add_header(out, "Vary", "Origin");
    }
}

static void gw_reply_common_headers(struct gw_req *r, const char *ctype)
{
    gw_reply_headers(r, ctype, false);
}

static void gw_reply_send(struct gw_req *r, int status, struct evbuffer *buf)
{
    r->status = status;
    gw_req_unwatch_close(r);
    if (r->ev != NULL && r->method == EVHTTP_REQ_HEAD && buf != NULL) {
        /* evhttp would write a HEAD reply's body after its head: send the length only. */
        struct evkeyvalq *out = evhttp_request_get_output_headers(r->ev);
        char n[32];
        if (status != 304 && status != 204 && evhttp_find_header(out, "Content-Length") == NULL) {
            snprintf(n, sizeof(n), "%zu", evbuffer_get_length(buf));
            evhttp_add_header(out, "Content-Length", n);
        }
        evbuffer_drain(buf, evbuffer_get_length(buf));
    }
    if (r->ev != NULL)
        evhttp_send_reply(r->ev, status, gw_reason(status), buf);
    r->ev = NULL; /* evhttp owns and frees it from here */
    gw_req_finish(r);
}

void gw_reply_stream_start(struct gw_req *r, int status, const char *ctype)
{
    r->status = status;
    r->streaming = true;
    gw_metrics_stream_open(r);
    if (r->ev == NULL)
        return;
    gw_reply_common_headers(r, ctype);
    evhttp_send_reply_start(r->ev, status, gw_reason(status));
}

/* evhttp's "all written" callback of a streamed chunk. */
static void gw_reply_drained(struct evhttp_connection *evcon, void *arg)
{
    struct gw_req *r = arg;

    (void)evcon;
    if (r->drain_fn != NULL)
        r->drain_fn(r->drain_arg);
}

size_t gw_reply_stream_send(struct gw_req *r, struct evbuffer *buf, void (*drained)(void *arg),
                            void *arg)
{
    struct evhttp_connection *evcon;

    if (r->ev == NULL || r->client_gone || (evcon = evhttp_request_get_connection(r->ev)) == NULL) {
        evbuffer_drain(buf, evbuffer_get_length(buf));
        return 0;
    }
    r->drain_fn = drained;
    r->drain_arg = arg;
    evhttp_send_reply_chunk_with_cb(r->ev, buf, gw_reply_drained, r);
    return evbuffer_get_length(bufferevent_get_output(evhttp_connection_get_bufferevent(evcon)));
}

void gw_reply_stream_end(struct gw_req *r)
{
    gw_req_unwatch_close(r);
    if (r->ev != NULL)
        evhttp_send_reply_end(r->ev); /* frees it now, or once written */
    r->ev = NULL;
    gw_req_finish(r);
}

void gw_reply_gone(struct gw_req *r)
{
    r->status = 499;
    gw_req_unwatch_close(r);
    if (r->ev != NULL) {
        /* Detached by libevent: ending it frees it without writing anything. */
        if (r->streaming)
            evhttp_send_reply_end(r->ev);
        else
            evhttp_send_reply(r->ev, 499, "Client Closed Request", NULL);
    }
    r->ev = NULL;
    gw_req_finish(r);
}

/*
 * 15 significant digits: prices and costs read back as written (0.15, not jansson's default
 * 17-digit 0.14999999999999999), as the reference's Python floats print.
 */
#define GW_JSON_FLAGS (JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15))

static int gw_json_to_evbuffer(const char *chunk, size_t size, void *data)
{
    return evbuffer_add(data, chunk, size);
}

void gw_reply_json(struct gw_req *r, int status, json_t *body)
{
    struct evbuffer *buf = evbuffer_new();

    if (buf != NULL && body != NULL &&
        json_dump_callback(body, gw_json_to_evbuffer, buf, GW_JSON_FLAGS) < 0) {
        evbuffer_drain(buf, evbuffer_get_length(buf));
        status = 500;
        evbuffer_add_printf(buf, "{\"detail\":\"Internal Server Error\"}");
    }
    json_decref(body);
    gw_reply_common_headers(r, status == 204 ? NULL : "application/json");
    gw_reply_send(r, status, buf);
    evbuffer_free(buf);
}

void gw_reply_raw(struct gw_req *r, int status, const char *ctype, const char *body, size_t len)
{
    struct evbuffer *buf = evbuffer_new();

    if (buf != NULL && len > 0)
        evbuffer_add(buf, body, len);
    gw_reply_common_headers(r, ctype);
    gw_reply_send(r, status, buf);
    evbuffer_free(buf);
}

void gw_reply_asset(struct gw_req *r, int status, const char *ctype, const void *body, size_t len)
{
    struct evbuffer *buf = NULL;

    gw_reply_headers(r, status == 304 ? NULL : ctype, true);
    if (r->ev != NULL && status != 304 && (buf = evbuffer_new()) != NULL && len > 0 &&
        evbuffer_add_reference(buf, body, len, NULL, NULL) != 0) {
        evbuffer_free(buf);
        buf = NULL;
    }
    if (r->ev != NULL && status != 304 && buf == NULL) {
        LOG_ERR("rid=%s out of memory for a %zu-byte reply", r->rid, len);
        status = 500; /* an empty 500 rather than a 200 with no body */
    }
    gw_reply_send(r, status, buf);
    if (buf != NULL)
        evbuffer_free(buf); /* not NULL-safe */
}

/*
 * A JSON string of s; text that is not valid UTF-8 (e.g. an id decoded from "%FF" in the path)
 * has its non-ASCII bytes replaced by '?', so an error message is never dropped.
 */
static json_t *gw_json_text(const char *s)
{
    json_t *j = json_string(s);
    char *copy;

    if (j != NULL)
        return j;
    copy = strdup(s);
    if (copy == NULL)
        return json_string("error");
    for (char *p = copy; *p != '\0'; p++)
        if ((unsigned char)*p >= 0x80)
            *p = '?';
    j = json_string(copy);
    free(copy);
    return j;
}

void gw_reply_error_obj(struct gw_req *r, int status, const char *code, const char *msg,
                        json_t *detail)
{
    json_t *body = json_object();
    json_t *err = json_object();

    json_object_set_new(err, "message", gw_json_text(msg));
    if (r->err_anthropic) {
        /* {"type":"error","error":{"type","message"}} (providers.md §14.5), so Anthropic SDKs
           raise their typed errors; "detail" kept for the reference's clients. */
        json_object_set_new(err, "type", json_string(prov_shape_anthropic_error_type(status)));
        json_object_set_new(body, "type", json_string("error"));
        json_object_set_new(body, "error", err);
        json_object_set_new(body, "detail", detail != NULL ? detail : gw_json_text(msg));
        gw_reply_json(r, status, body);
        return;
    }
    json_object_set_new(err, "type", json_string(gw_error_type(status)));
    json_object_set_new(err, "code", code != NULL ? json_string(code) : json_null());
    json_object_set_new(body, "detail", detail != NULL ? detail : gw_json_text(msg));
    json_object_set_new(body, "error", err);
    gw_reply_json(r, status, body);
}

void gw_reply_error(struct gw_req *r, int status, const char *code, const char *msg)
{
    gw_reply_error_obj(r, status, code, msg, NULL);
}

void gw_reply_errorf(struct gw_req *r, int status, const char *code, const char *fmt, ...)
{
    va_list ap;
    char *msg;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    msg = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (msg == NULL) {
        gw_reply_error(r, 500, "internal_error", "Internal Server Error");
        return;
    }
    va_start(ap, fmt);
    vsnprintf(msg, (size_t)n + 1, fmt, ap);
    va_end(ap);
    gw_reply_error(r, status, code, msg);
    free(msg);
}
