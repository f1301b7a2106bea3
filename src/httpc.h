/*
 * Upstream HTTP client: the only owner of libcurl + libevent glue (hiperfifo shape).
 * One struct httpc per event_base (worker thread) holds a CURLM driven by libevent socket and
 * timer events and keeps its connection pool alive across requests. Requests stream the
 * response body to callbacks, with pause/resume backpressure and cancellation.
 *
 * Threading: a struct httpc and its requests belong to the thread running its event_base;
 * no function here may be called from another thread. httpc_global_init() is main's job
 * (once, before any thread starts); it wraps curl_global_init() so that no other file needs
 * curl/curl.h.
 */
#ifndef GW_HTTPC_H
#define GW_HTTPC_H

#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct httpc;
struct httpc_req;
struct httpc_headers;

struct httpc_opts {
    long max_host_connections;  /* CURLMOPT_MAX_HOST_CONNECTIONS; 0 = unlimited. Transfers
                                   beyond the limit wait in curl's queue for a free one. */
    long max_total_connections; /* CURLMOPT_MAX_TOTAL_CONNECTIONS; 0 = unlimited */
    long max_idle_connections;  /* CURLMOPT_MAXCONNECTS (idle pool size); 0 = curl default */
    int max_idle_handles;       /* easy handles kept for reuse; 0 = default (16), <0 = none */
    long recv_buffer_size;      /* CURLOPT_BUFFERSIZE per transfer; 0 = curl default (16 KB) */
    bool http2; /* allow HTTP/2 over TLS (ALPN). Default off: HTTP/1.1 keeps one transfer per
                   connection, which makes pause/cancel and pool accounting predictable on
                   libcurl 7.88 (whose HTTP/2 pause handling predates the 8.x rework). */
    const char *ca_file; /* CA bundle (CURLOPT_CAINFO); NULL = system store. Copied. */
    const char *proxy;   /* NULL = libcurl default (honours *_proxy env vars);
                            "" = never use a proxy; else the proxy URL. Copied. */
};

/* One request header. Both strings are copied by httpc_start(); neither may contain CR/LF. */
struct httpc_header {
    const char *name;
    const char *value; /* "" sends an empty header */
};

struct httpc_spec {
    const char *method; /* "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"...; NULL = "GET",
                           or "POST" when body is non-NULL */
    const char *url;    /* required; a URL curl rejects (syntax, a scheme other than http
                           or https) is reported by on_done with HTTPC_ERROR */
    const struct httpc_header *headers; /* nheaders entries, copied; may be NULL */
    size_t nheaders;
    const char *body; /* request body, copied (may be NULL); sent with Content-Length */
    size_t body_len;
    long connect_timeout_ms; /* 0 = curl default (300 s) */
    long timeout_ms;         /* total transfer time limit (non-streaming calls); 0 = none.
                                Keeps running while the request is paused. */
    long low_speed_limit;    /* streams: abort (HTTPC_TIMEOUT) when fewer than low_speed_limit
                                bytes/s arrive during low_speed_time_s seconds; 0 = off.
                                Not checked while the request is paused. */
    long low_speed_time_s;
    long recv_buffer;    /* bytes curl reads at a time for this transfer (1024 at least), 0 =
                            the client's setting (curl's 16 KB): a stream of small events held
                            open for long reads in a small buffer that costs no page of its own */
    size_t max_response; /* body bytes allowed (both modes; a larger Content-Length fails
                            before the body is read); more gives HTTPC_TOO_LARGE;
                            0 = unlimited */
};

/* What on_headers/on_data return. */
enum httpc_action {
    HTTPC_CONTINUE = 0,
    HTTPC_PAUSE, /* on_data only: the buffer was consumed; deliver nothing more until
                    httpc_resume() */
    HTTPC_ABORT, /* stop the transfer; on_done follows with HTTPC_ABORTED */
};

enum httpc_kind {
    HTTPC_OK = 0,         /* a complete HTTP response arrived (any status, see .status) */
    HTTPC_TIMEOUT,        /* timeout_ms, connect_timeout_ms or the low-speed limit hit
                             (DESIGN 2.3: 504) */
    HTTPC_CONNECT_FAILED, /* DNS failure, connection refused/unreachable, TLS handshake or
                             certificate verification failure (DESIGN 2.3: 502) */
    HTTPC_ABORTED,        /* a callback returned HTTPC_ABORT, or httpc_free() ran */
    HTTPC_TOO_LARGE,      /* the body exceeded spec.max_response */
    HTTPC_ERROR,          /* anything else (reset, malformed reply, out of memory, ...) */
};

struct httpc_result {
    enum httpc_kind kind;
    int status;         /* final HTTP status received, 0 when none */
    const char *error;  /* "" for HTTPC_OK, else one line for logs ("<kind>: <detail>").
                           Request header values and URL query values (4+ characters) are
                           replaced by "***", then log_redact() is applied, so an
                           Authorization or API key never appears. Borrowed: valid until
                           on_done returns. */
    const char *body;   /* collect mode only (cbs.on_data == NULL): the body received
                           (complete only for HTTPC_OK), NUL-terminated
                           (body[body_len] == '\0'); else NULL. Borrowed. */
    size_t body_len;    /* body bytes received (in both modes) */
    long long total_us; /* time from start to completion, microseconds */
};

/*
 * Callbacks run on the httpc's event_base thread, never before httpc_start() returns, never
 * from inside httpc_resume()/httpc_cancel(). From inside them the caller may call
 * httpc_start(), httpc_resume() and httpc_cancel() (on any request), but not httpc_free().
 */
typedef enum httpc_action httpc_headers_fn(int status, const struct httpc_headers *hdrs, void *arg);
typedef enum httpc_action httpc_data_fn(const char *buf, size_t len, void *arg);
typedef void httpc_done_fn(const struct httpc_result *res, void *arg);

struct httpc_cbs {
    /* Optional. At most once, when the final (non-1xx) response header block is complete,
     * before any on_data. Not called when the transfer fails before that. HTTPC_PAUSE is
     * treated as HTTPC_CONTINUE. */
    httpc_headers_fn *on_headers;
    /* Optional. Called with each piece of the (de-chunked) body as it arrives; len > 0; buf
     * is borrowed until it returns. NULL = collect mode: the body is accumulated and given to
     * on_done. Returning HTTPC_PAUSE: this buffer counts as consumed and on_data is not
     * called again until httpc_resume(); curl reads at most one more receive buffer
     * (CURLOPT_BUFFERSIZE) from the socket and holds it, then stops reading, so TCP flow
     * control pushes back on the upstream. If nothing more was left to receive, on_done
     * may follow while still paused. */
    httpc_data_fn *on_data;
    /* Required. Called exactly once per request unless httpc_cancel() was called first;
     * the request handle is invalid once it returns. */
    httpc_done_fn *on_done;
};

/*
 * Returns the value of response header `name` (case-insensitive; the first one if repeated),
 * or NULL. Only valid inside on_headers; the string is borrowed until on_headers returns.
 */
const char *httpc_headers_get(const struct httpc_headers *hdrs, const char *name);

/*
 * Creates a client on `base` (borrowed; must outlive the client). opts may be NULL (all
 * defaults); it is copied. Returns owned, free with httpc_free(), or NULL on failure
 * (logged). Logs a warning when libcurl lacks an asynchronous resolver (see
 * httpc_has_async_dns()).
 */
struct httpc *httpc_new(struct event_base *base, const struct httpc_opts *opts);

/*
 * Frees the client. NULL is a no-op. Every request still in flight that was not cancelled
 * gets its on_done called from inside httpc_free() with HTTPC_ABORTED ("aborted: client
 * closed"); httpc_start() called from such an on_done returns NULL. Cancelled requests are
 * freed silently. Must not be called from inside an httpc callback.
 */
void httpc_free(struct httpc *h);

/*
 * Starts a request. spec is read during the call only (everything is copied); cbs is copied;
 * arg is passed to every callback. Returns a request handle borrowed by the caller (httpc
 * owns and frees it after on_done returns, or after httpc_cancel()), or NULL when the input is
 * invalid (no URL, no on_done, a method or header name that is not an HTTP token, CR/LF in
 * a header value), memory runs out or the client is being freed; no callback fires for a
 * NULL return. No network I/O or callback happens inside this call. curl's own
 * "Expect: 100-continue" and form Content-Type are suppressed unless given in headers.
 */
struct httpc_req *httpc_start(struct httpc *h, const struct httpc_spec *spec,
                              const struct httpc_cbs *cbs, void *arg);

/*
 * Lifts a pause requested by on_data returning HTTPC_PAUSE. Safe anywhere on the loop thread,
 * inside or outside callbacks; a no-op when not paused, cancelled or already done (inside its
 * own on_done). Delivery restarts from a zero-timeout event, so on_data never runs inside
 * httpc_resume().
 */
void httpc_resume(struct httpc_req *r);

/*
 * Cancels a request (the client went away). After it returns no callback of `r` fires any
 * more (on_done included) and `r` must not be used again. Safe anywhere on the loop thread,
 * including inside r's own on_headers/on_data; a no-op inside r's on_done. The transfer is
 * removed from curl and freed from a zero-timeout event (never inside a curl callback); its
 * connection, if any, is closed rather than returned to the pool.
 */
void httpc_cancel(struct httpc_req *r);

/*
 * curl_global_init(CURL_GLOBAL_DEFAULT). Call once from main before any thread starts and
 * before httpc_new(). Not thread-safe. Returns 0, or -1 (logged).
 */
int httpc_global_init(void);

/* curl_global_cleanup(); once, after every struct httpc is freed and threads have joined. */
void httpc_global_cleanup(void);

/*
 * Requests started and not yet freed: in flight, plus cancelled ones until the zero-timeout
 * event reaps them (for tests and metrics).
 */
size_t httpc_active(const struct httpc *h);

/*
 * True when libcurl resolves names off the calling thread (CURL_VERSION_ASYNCHDNS: the
 * threaded resolver in Debian's libcurl4-openssl, or c-ares). When false, every DNS lookup
 * blocks the event loop; use IP literals or a local caching resolver.
 */
bool httpc_has_async_dns(void);

/* Human-readable name of a result kind ("ok", "timeout", ...). */
const char *httpc_kind_name(enum httpc_kind kind);

#endif
