/*
 * Every reply leaves through here: JSON bodies, JSON errors (the reference's "detail" plus an
 * OpenAI-style "error" object, DESIGN.md §2.3), HTML and raw bodies, with the common headers
 * (X-Request-Id, security headers, CORS) added in one place. Each function sends the reply
 * and ends the request (gw_req_finish); r is dead afterwards.
 */
#ifndef GW_REPLY_H
#define GW_REPLY_H

#include <jansson.h>

struct gw_req;

/* Sends body (takes ownership, may be NULL for an empty body) as JSON with status. */
void gw_reply_json(struct gw_req *r, int status, json_t *body);

/* Sends body as-is with content type ctype. */
void gw_reply_raw(struct gw_req *r, int status, const char *ctype, const char *body, size_t len);

/*
 * Sends a static file (gw_static.c): body is borrowed and must outlive the reply (embedded data,
 * sent by reference). The caller has added its Cache-Control, ETag, Vary, Referrer-Policy and
 * Content-Security-Policy (gw_reply_header), which are kept. A 304 gets no body or type. (Every
 * reply to a HEAD request gets its body's Content-Length and no body.)
 */
void gw_reply_asset(struct gw_req *r, int status, const char *ctype, const void *body, size_t len);

/*
 * Sends {"detail": msg, "error": {"message": msg, "type": <from status>, "code": code}}.
 * code may be NULL (JSON null). msg is copied.
 */
void gw_reply_error(struct gw_req *r, int status, const char *code, const char *msg);

/* gw_reply_error() with a printf-formatted message (any length). */
void gw_reply_errorf(struct gw_req *r, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Like gw_reply_error() but detail is an object (takes ownership), e.g. the readiness 503. */
void gw_reply_error_obj(struct gw_req *r, int status, const char *code, const char *msg,
                        json_t *detail);

/*
 * Streaming replies (SSE). gw_reply_stream_start() sends the status line and headers (chunked
 * transfer encoding) and keeps r alive; gw_reply_stream_send() moves every byte of buf (left
 * empty) into one chunk and returns the bytes now waiting in user space for the client's socket,
 * so the caller can pause its producer above a high-water mark; `drained` (may be NULL) then
 * runs once every queued byte reached the kernel. gw_reply_stream_end() ends the reply and r.
 * When the client is gone the bytes are dropped and 0 is returned.
 */
struct evbuffer;
void gw_reply_stream_start(struct gw_req *r, int status, const char *ctype);
size_t gw_reply_stream_send(struct gw_req *r, struct evbuffer *buf, void (*drained)(void *arg),
                            void *arg);
void gw_reply_stream_end(struct gw_req *r);

/*
 * Ends r without a reply because the client went away (status 499 in the access log). r is dead
 * afterwards.
 */
void gw_reply_gone(struct gw_req *r);

/* Adds a response header before the reply (e.g. Allow, Retry-After). */
void gw_reply_header(struct gw_req *r, const char *name, const char *value);

/* The OpenAI-style error type for a status ("invalid_request_error", ...). */
const char *gw_error_type(int status);

#endif
