/*
 * One upstream call (contract in gw_call.h). Life of a call:
 *
 *   gw_call_start -> httpc_start --on_headers--> [stream: reply headers sent, heartbeat armed]
 *                                --on_data-----> [stream: SSE parsed, chunks relayed, pause above
 *                                                 the high-water mark, resume when drained]
 *                                --on_done-----> outcome decided -> usage row -> reply -> free
 *   client gone (any time before the outcome) -> upstream cancelled -> "cancelled" row -> free
 *
 * The call owns the request from gw_call_start() on; every path ends in gw_call_end(), which
 * replies exactly once and frees the call.
 */
#include "gateway/llm/gw_call.h"

#include <ctype.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "acct/acct_rate.h"
#include "acct/acct_usage.h"
#include "gateway/gw_app.h"
#include "gateway/http/gw_reply.h"
#include "gateway/http/gw_req.h"
#include "gateway/http/gw_valid.h"
#include "gateway/llm/gw_admit.h"
#include "gateway/metrics/gw_metrics.h"
#include "httpc.h"
#include "log.h"
#include "providers/prov_frame.h"
#include "providers/prov_shape.h"
#include "providers/prov_token.h"
#include "util.h"

#define GW_CALL_HWM (256 * 1024) /* unsent bytes for the client above which the provider waits */
#define GW_CALL_MAX_REPLY (64 * 1024 * 1024) /* a JSON reply larger than this is refused */
#define GW_CALL_MAX_ERROR 65536              /* error body bytes kept */
#define GW_CALL_CONNECT_TIMEOUT_MS 10000L

/* How the call ends for the client. */
enum gw_call_end { GW_END_RAW, GW_END_ERROR, GW_END_STREAM, GW_END_GONE };

struct gw_call {
    struct gw_req *r;
    const struct prov_dialect_ops *d;
    const struct prov_shape_ops *shape; /* the client's wire format */
    const struct prov_conf *pc;
    struct httpc_req *hr; /* NULL once done or cancelled */
    char *provider, *model, *user_id, *key_id, *endpoint;
    bool stream, priced, started, paused, completing;
    bool embed;         /* an embeddings call (embed_build / embed_reply) */
    bool waiting_token; /* the provider's access token is being fetched (tw, when pending) */
    struct prov_token_wait *tw;
    json_t *req;     /* the request for the dialect, until the upstream request is built */
    const char *raw; /* its bytes (owned by the client's request), or NULL */
    size_t raw_len;
    char *anthropic_version, *anthropic_beta;
    bool cut; /* ended by the shutdown deadline: the worker's loop no longer runs */
    struct gw_price price;
    double reserve;
    struct gw_rate_hdr rate_hdr;
    bool key_tpm;
    int64_t key_tokens, key_second;
    size_t prompt_bytes;
    int up_status;
    int64_t up_start_us;  /* when the upstream request started (monotonic) */
    int64_t up_end_us;    /* when its outcome was known (monotonic), with up_class */
    const char *up_class; /* the outcome for the metrics ("2xx", "timeout", ...), NULL: none */
    char retry_after[32];
    struct evbuffer *errbuf; /* error body of a streamed request's non-2xx reply */
    struct evbuffer *out;    /* SSE bytes on their way to the client */
    struct prov_frame frame; /* the stream's framing (the dialect's) */
    char err_type[64];       /* an error reply's x-amzn-ErrorType name (AWS), else "" */
    struct prov_stream ps;
    struct prov_shape_stream *ss; /* the shape's state when it keeps one, else NULL */
    struct event *beat;           /* heartbeat while the provider is silent */
    struct event *idle;           /* streams: the provider's silence limit (its timeout) */
    int64_t last_sent_us;
    int64_t last_rx_us; /* last byte from the provider */
    /* The outcome, kept until the usage row is durable in usage_log_sync mode. */
    enum gw_call_end end;
    int err_status;
    char err_code[64];
    char err_msg[512];
    char *body; /* GW_END_RAW: the reply (owned when body_owned) */
    size_t body_len;
    bool body_owned;
};

static void gw_call_free(struct gw_call *c)
{
    if (c->beat != NULL)
        event_free(c->beat);
    if (c->idle != NULL)
        event_free(c->idle);
    if (c->errbuf != NULL)
        evbuffer_free(c->errbuf);
    if (c->out != NULL)
        evbuffer_free(c->out);
    if (c->tw != NULL)
        prov_token_wait_cancel(c->tw);
    json_decref(c->req);
    prov_frame_cleanup(&c->frame);
    prov_stream_cleanup(&c->ps);
    free(c->ss);
    free(c->anthropic_version);
    free(c->anthropic_beta);
    if (c->body_owned)
        free(c->body);
    free(c->provider);
    free(c->model);
    free(c->user_id);
    free(c->key_id);
    free(c->endpoint);
    free(c);
}

/*
 * The "No pricing configured" warning at most once per model per GW_WARN_INTERVAL_US, and at
 * most GW_WARN_MAX of them per interval in all (model names are chosen by clients): a fixed
 * table of hashed names, shared by the workers under a mutex taken only for unpriced models.
 */
#define GW_WARN_SLOTS 256
#define GW_WARN_MAX 32
#define GW_WARN_INTERVAL_US (INT64_C(600) * 1000000)

static struct {
    pthread_mutex_t lock;
    uint64_t hash[GW_WARN_SLOTS];
    int64_t at_us[GW_WARN_SLOTS];
    int64_t window_us; /* start of the current interval of the global cap */
    int in_window;
} gw_warn = {.lock = PTHREAD_MUTEX_INITIALIZER};

static bool gw_call_unpriced_should_warn(const char *provider, const char *model)
{
    uint64_t h = UINT64_C(1469598103934665603); /* FNV-1a over "provider:model" */
    int64_t now = util_mono_us();
    size_t slot;
    bool warn = false;

    for (const char *s = provider; *s != '\0'; s++)
        h = (h ^ (unsigned char)*s) * UINT64_C(1099511628211);
    h = (h ^ ':') * UINT64_C(1099511628211);
    for (const char *s = model; *s != '\0'; s++)
        h = (h ^ (unsigned char)*s) * UINT64_C(1099511628211);
    h |= 1; /* 0 marks an empty slot */
    slot = (size_t)(h % GW_WARN_SLOTS);
    pthread_mutex_lock(&gw_warn.lock);
    if (gw_warn.window_us == 0 || now - gw_warn.window_us >= GW_WARN_INTERVAL_US) {
        gw_warn.window_us = now;
        gw_warn.in_window = 0;
    }
    if ((gw_warn.hash[slot] != h || now - gw_warn.at_us[slot] >= GW_WARN_INTERVAL_US) &&
        gw_warn.in_window < GW_WARN_MAX) {
        gw_warn.hash[slot] = h;
        gw_warn.at_us[slot] = now;
        gw_warn.in_window++;
        warn = true;
    }
    pthread_mutex_unlock(&gw_warn.lock);
    return warn;
}

/* Masks the provider's secrets (its API key, an Azure Entra token, AWS credentials) in text
   bound for the client or the usage log. */
static void gw_call_scrub(const struct gw_call *c, char *text)
{
    prov_scrub(text, c->pc->api_key);
    prov_scrub(text, c->pc->ad_token);
    prov_scrub(text, c->pc->aws_secret_key);
    prov_scrub(text, c->pc->aws_session_token);
}

/* The provider's outcome for the metrics (recorded when the call replies). */
static void gw_call_up_done(struct gw_call *c, const char *klass)
{
    c->up_class = klass;
    c->up_end_us = util_mono_us();
}

/* Replies as decided (or not at all when the client is gone), ends the request, frees c. */
static void gw_call_reply(struct gw_call *c)
{
    struct gw_req *r = c->r;

    if (c->up_class != NULL)
        gw_metrics_upstream(r, c->pc->info->id, c->up_class, c->up_end_us - c->up_start_us);

    if (r->client_gone && c->end != GW_END_GONE)
        c->end = GW_END_GONE;
    if (r->up_us == 0 && c->up_start_us != 0)
        r->up_us = util_mono_us() - c->up_start_us; /* the provider never answered */
    switch (c->end) {
    case GW_END_RAW:
        gw_rate_hdr_add(r, &c->rate_hdr);
        gw_reply_raw(r, 200, "application/json", c->body, c->body_len);
        break;
    case GW_END_ERROR:
        if (c->err_status == 429 && c->retry_after[0] != '\0')
            gw_reply_header(r, "Retry-After", c->retry_after);
        gw_reply_error(r, c->err_status, c->err_code[0] != '\0' ? c->err_code : NULL, c->err_msg);
        break;
    case GW_END_STREAM:
        gw_reply_stream_end(r);
        break;
    case GW_END_GONE:
        gw_reply_gone(r);
        break;
    }
    gw_call_free(c);
}

static void gw_call_row_done(int status, void *arg)
{
    (void)status; /* a lost row was logged by the writer; the client still gets its answer */
    gw_call_reply(arg);
}

/* The tokens a call used (0 without usage): its total, else prompt plus completion. */
static int64_t gw_call_total_tokens(const struct prov_usage *u)
{
    long t;

    if (u == NULL)
        return 0;
    t = u->total_tokens > 0 ? u->total_tokens : u->prompt_tokens + u->completion_tokens;
    return t > 0 ? t : 0;
}

/*
 * Writes the usage row (u NULL: no tokens, no cost), settles the reservation, then replies: at
 * once, or when the row is durable in usage_log_sync mode.
 */
static void gw_call_end(struct gw_call *c, const char *status, const struct prov_usage *u,
                        bool estimated, const char *error)
{
    struct gw_worker *w = c->r->w;
    struct acct_usage_rec rec = {
        .api_key_id = c->key_id,
        .user_id = c->user_id,
        .model = c->model,
        .provider = c->provider,
        .endpoint = c->endpoint,
        .status = status,
        .error_message = error,
        .usage_estimated = estimated && u != NULL,
        .ts_us = util_now_us(),
    };
    bool wait = w->app->cfg->usage_log_sync && c->end != GW_END_GONE && !c->cut;
    double cost = 0;

    if (u != NULL) {
        rec.has_tokens = true;
        rec.prompt_tokens = u->prompt_tokens;
        rec.completion_tokens = u->completion_tokens;
        rec.total_tokens = u->total_tokens;
        if (c->priced) {
            cost = prov_usage_cost(u, c->price.input_per_million, c->price.output_per_million);
            rec.has_cost = true;
            rec.cost = cost;
        }
    }
    if (u != NULL && !c->embed)
        gw_metrics_usage(c->r, c->pc->info->id, c->model, (long)u->prompt_tokens,
                         (long)u->completion_tokens, c->priced, cost);
    if (u != NULL && !c->priced && gw_call_unpriced_should_warn(c->provider, c->model))
        LOG_WARN("No pricing configured for '%s:%s'. Usage will be tracked without cost.",
                 c->provider, c->model);
    acct_index_settle(w->app->index, c->user_id, c->reserve, cost);
    c->reserve = 0;
    if (c->key_tpm && c->key_id != NULL) {
        /* The key's tokens per minute: the estimate gives way to the real total. */
        acct_rate_settle(acct_index_rate(w->app->index), ACCT_RATE_KEY, c->key_id, c->key_second,
                         c->key_tokens, gw_call_total_tokens(u), rec.ts_us);
        c->key_tokens = 0;
    }
    if (c->idle != NULL)
        event_del(c->idle);
    if (c->beat != NULL)
        event_del(c->beat);
    if (wait && c->end == GW_END_RAW && !c->body_owned) {
        /* The reply body is borrowed from the HTTP client until on_done returns. */
        char *copy = malloc(c->body_len + 1);
        if (copy == NULL) {
            wait = false;
        } else {
            memcpy(copy, c->body, c->body_len);
            c->body = copy;
            c->body_owned = true;
        }
    }
    c->completing = true;
    if (acct_usage_log(w->app->usage, &rec, w->base, wait ? gw_call_row_done : NULL, c) == 0 &&
        wait)
        return;
    gw_call_reply(c);
}

/* Error reply plus an "error" usage row (no tokens, no spend). */
static void gw_call_fail(struct gw_call *c, int status, const char *code, const char *msg,
                         const char *row_error)
{
    c->end = GW_END_ERROR;
    c->err_status = status;
    snprintf(c->err_code, sizeof(c->err_code), "%s", code != NULL ? code : "");
    snprintf(c->err_msg, sizeof(c->err_msg), "%s", msg);
    gw_call_end(c, "error", NULL, false, row_error != NULL ? row_error : msg);
}

/* ---- streaming ---------------------------------------------------------------------------- */

static void gw_call_drained(void *arg)
{
    struct gw_call *c = arg;

    if (c->paused && c->hr != NULL) {
        c->paused = false;
        httpc_resume(c->hr);
    }
}

/* Sends what is queued in c->out; returns the bytes still waiting for the client. */
static size_t gw_call_flush(struct gw_call *c)
{
    if (evbuffer_get_length(c->out) == 0)
        return 0;
    c->last_sent_us = util_mono_us();
    return gw_reply_stream_send(c->r, c->out, gw_call_drained, c);
}

static int gw_call_write(const char *p, size_t n, void *arg)
{
    struct gw_call *c = arg;

    return evbuffer_add(c->out, p, n);
}

/* One pivot chunk or native event from the dialect, written in the client's shape. */
static int gw_call_emit(const char *event, const char *data, size_t len, void *arg)
{
    struct gw_call *c = arg;

    return c->shape->chunk(c->ss, event, data, len, gw_call_write, c);
}

/* One event of the provider's stream, whatever its framing (prov_frame.h). */
static int gw_call_on_event(const char *event, const char *data, size_t len, void *arg)
{
    struct gw_call *c = arg;

    return c->d->chat_event(&c->ps, event, data, len, gw_call_emit, c) < 0 ? -1 : 0;
}

static void gw_call_beat(evutil_socket_t fd, short what, void *arg)
{
    struct gw_call *c = arg;
    int64_t period = (int64_t)c->r->w->app->cfg->stream_heartbeat * 1000000;

    (void)fd;
    (void)what;
    if (c->paused || c->completing || util_mono_us() - c->last_sent_us < period - 50000)
        return;
    evbuffer_add(c->out, ": keep-alive\n\n", 14);
    gw_call_flush(c);
}

static void gw_call_stream_start(struct gw_call *c)
{
    int hb = c->r->w->app->cfg->stream_heartbeat;

    gw_reply_header(c->r, "X-Accel-Buffering", "no");
    gw_rate_hdr_add(c->r, &c->rate_hdr);
    gw_reply_stream_start(c->r, 200, "text/event-stream; charset=utf-8");
    c->started = true;
    c->last_sent_us = util_mono_us();
    if (hb > 0) {
        struct timeval tv = {.tv_sec = hb, .tv_usec = 0};
        c->beat = event_new(c->r->w->base, -1, EV_PERSIST, gw_call_beat, c);
        if (c->beat != NULL)
            event_add(c->beat, &tv);
    }
}

/* ---- upstream callbacks --------------------------------------------------------------------- */

static enum httpc_action gw_call_on_headers(int status, const struct httpc_headers *hdrs, void *arg)
{
    struct gw_call *c = arg;
    const char *ra = httpc_headers_get(hdrs, "Retry-After");
    const char *ct = httpc_headers_get(hdrs, "Content-Type"), *et;
    size_t n = 0;

    c->up_status = status;
    c->last_rx_us = util_mono_us();
    c->r->up_us = c->last_rx_us - c->up_start_us; /* a stream's overhead: up to these headers */
    /* Retry-After is relayed only when it is a plain token (seconds or an HTTP date). */
    if (ra != NULL) {
        for (; ra[n] != '\0' && n + 1 < sizeof(c->retry_after); n++) {
            if (!isprint((unsigned char)ra[n]))
                break;
            c->retry_after[n] = ra[n];
        }
        c->retry_after[ra[n] == '\0' ? n : 0] = '\0';
    }
    et = status >= 300 ? httpc_headers_get(hdrs, "x-amzn-ErrorType") : NULL;
    if (et != NULL) /* "ThrottlingException:http://internal.amazon.com/..." names the error */
        prov_copy_line(c->err_type, sizeof(c->err_type), et, strcspn(et, ":"));
    /* A stream starts only with an event stream; anything else is kept to be judged at the end. */
    if (c->stream && status >= 200 && status < 300 && prov_frame_content_type(c->d->framing, ct))
        gw_call_stream_start(c);
    return HTTPC_CONTINUE;
}

static enum httpc_action gw_call_on_data(const char *buf, size_t len, void *arg)
{
    struct gw_call *c = arg;

    c->last_rx_us = util_mono_us();
    if (!c->started) {
        /* A streamed request answered with an error: keep the start of the body. */
        size_t have = evbuffer_get_length(c->errbuf);
        if (have < GW_CALL_MAX_ERROR)
            evbuffer_add(c->errbuf, buf,
                         len < GW_CALL_MAX_ERROR - have ? len : GW_CALL_MAX_ERROR - have);
        return HTTPC_CONTINUE;
    }
    (void)prov_frame_feed(&c->frame, buf, len); /* a failure is in c->ps */
    if (gw_call_flush(c) > GW_CALL_HWM && !c->ps.failed) {
        c->paused = true;
        return HTTPC_PAUSE;
    }
    return c->ps.failed ? HTTPC_ABORT : HTTPC_CONTINUE;
}

/* The usage to bill for what the provider generated: reported, else estimated. */
static struct prov_usage gw_call_usage(const struct gw_call *c, const struct prov_usage *u,
                                       size_t gen_bytes, bool *estimated)
{
    *estimated = !u->seen;
    return u->seen ? *u : prov_usage_estimate(c->prompt_bytes, gen_bytes);
}

static void gw_call_stream_done(struct gw_call *c, const struct httpc_result *res)
{
    struct prov_usage u;
    bool est;
    char row[512];

    (void)prov_frame_finish(&c->frame); /* a stream cut inside a frame fails c->ps */
    if (c->beat != NULL)
        event_del(c->beat);
    c->end = GW_END_STREAM;
    if (res->kind == HTTPC_OK && !c->ps.failed && c->d->chat_end != NULL &&
        c->d->chat_end(&c->ps, gw_call_emit, c) < 0 && !c->ps.failed) {
        c->ps.failed = true;
        snprintf(c->ps.error, sizeof(c->ps.error), "cannot write the end of the stream");
    }
    if (res->kind == HTTPC_OK && !c->ps.failed && c->shape->finish(c->ss, gw_call_write, c) == 0) {
        gw_call_flush(c);
        u = gw_call_usage(c, &c->ps.usage, c->ps.gen_bytes, &est);
        gw_call_end(c, "success", &u, est, NULL);
        return;
    }
    /* The provider failed mid-stream: the shape's error event(s) (spec §1.3 step 11). */
    (void)c->shape->fail(c->ss, gw_call_write, c);
    gw_call_flush(c);
    snprintf(row, sizeof(row), "stream failed: %s",
             c->ps.failed            ? c->ps.error
             : res->kind == HTTPC_OK ? "cannot write the end of the stream"
                                     : res->error);
    gw_call_scrub(c, row);
    gw_call_end(c, "error", NULL, false, row);
}

static void gw_call_idle_arm(struct gw_call *c, int64_t us)
{
    struct timeval tv = {.tv_sec = (time_t)(us / 1000000), .tv_usec = (suseconds_t)(us % 1000000)};

    event_add(c->idle, &tv);
}

/*
 * A stream's provider stayed silent for its whole timeout (before the headers or between
 * chunks); not counted while the client holds the stream paused. Ends like a curl timeout.
 */
static void gw_call_idle(evutil_socket_t fd, short what, void *arg)
{
    struct gw_call *c = arg;
    int64_t limit = (int64_t)c->pc->timeout_ms * 1000, left;
    struct httpc_result res = {.kind = HTTPC_TIMEOUT};
    char msg[96];

    (void)fd;
    (void)what;
    if (c->hr == NULL || c->completing)
        return;
    left = limit - (util_mono_us() - c->last_rx_us);
    if (c->paused || left > 0) {
        gw_call_idle_arm(c, c->paused ? limit : left);
        return;
    }
    httpc_cancel(c->hr);
    c->hr = NULL;
    gw_call_up_done(c, "timeout");
    snprintf(msg, sizeof(msg), "timeout: the provider sent nothing for %ld ms", c->pc->timeout_ms);
    res.error = msg;
    if (c->started) {
        gw_call_stream_done(c, &res);
        return;
    }
    gw_call_fail(c, 504, "upstream_timeout",
                 "The request could not be completed by the provider: it did not answer in time",
                 msg);
}

/* Maps a provider's HTTP error (DESIGN.md §2.3) and ends the call. */
static void gw_call_http_error(struct gw_call *c, const char *body, size_t len)
{
    char msg[384], code[64], row[512], text[448];
    int s = c->up_status, status;

    c->d->error_message(body != NULL ? body : "", len, msg, sizeof(msg), code, sizeof(code));
    if (c->err_type[0] != '\0') /* AWS names the error in a header */
        snprintf(code, sizeof(code), "%s", c->err_type);
    gw_call_scrub(c, msg);
    gw_call_scrub(c, code);
    snprintf(row, sizeof(row), "provider returned HTTP %d: %s", s, msg);
    status = c->d->error_status != NULL ? c->d->error_status(s, code)
             : s == 400 || s == 404 || s == 413 || s == 422 || s == 429 ? s
             : s == 529                                                 ? 429
                                                                        : 502;
    if (status == 504) {
        gw_call_fail(c, 504, "upstream_timeout",
                     "The request could not be completed by the provider: it did not answer in "
                     "time",
                     row);
        return;
    }
    if (status != 502) {
        /* A client error or throttling (Anthropic's 529 "overloaded" is one): relayed. */
        snprintf(text, sizeof(text), "%s",
                 msg[0] != '\0' ? msg : "The provider rejected the request");
    } else if (s == 401 || s == 403 || s == 498) { /* 498: Cohere's invalid token */
        code[0] = '\0';
        snprintf(text, sizeof(text),
                 "The request could not be completed by the provider: it rejected the gateway's "
                 "credentials (HTTP %d)",
                 s);
    } else {
        code[0] = '\0';
        snprintf(text, sizeof(text),
                 "The request could not be completed by the provider: it returned HTTP %d", s);
    }
    gw_call_fail(c, status, code[0] != '\0' ? code : NULL, text, row);
}

/*
 * The shutdown deadline cut the call (its worker's httpc was freed while draining): bill what
 * was generated, like a client that left (status cancelled), not as a provider error.
 */
static void gw_call_shutdown(struct gw_call *c)
{
    struct prov_usage u;
    bool est;

    c->cut = true; /* no waiting for a durable row: nothing would run the callback */
    if (c->started) {
        (void)c->shape->fail(c->ss, gw_call_write, c);
        gw_call_flush(c);
        c->end = GW_END_STREAM;
    } else {
        c->end = GW_END_ERROR;
        c->err_status = 503;
        snprintf(c->err_code, sizeof(c->err_code), "shutting_down");
        snprintf(c->err_msg, sizeof(c->err_msg), "The gateway is shutting down");
    }
    u = gw_call_usage(c, &c->ps.usage, c->ps.gen_bytes, &est);
    gw_call_end(c, "cancelled", &u, est, "shutdown");
}

static int gw_call_shape_reply(struct gw_call *c);

static void gw_call_on_done(const struct httpc_result *res, void *arg)
{
    struct gw_call *c = arg;
    struct prov_usage u;
    size_t gen = 0;
    bool est;
    char row[512];

    c->hr = NULL;
    if (res->kind != HTTPC_ABORTED)
        gw_call_up_done(c, res->kind == HTTPC_TIMEOUT ? "timeout"
                           : res->kind != HTTPC_OK    ? "error"
                                                      : gw_metrics_status_class(c->up_status));
    if (res->kind == HTTPC_ABORTED && c->r->w->draining) {
        gw_call_shutdown(c);
        return;
    }
    if (c->started) {
        gw_call_stream_done(c, res);
        return;
    }
    c->r->up_us = util_mono_us() - c->up_start_us;
    switch (res->kind) {
    case HTTPC_OK:
        break;
    case HTTPC_TIMEOUT:
        gw_call_fail(c, 504, "upstream_timeout",
                     "The request could not be completed by the provider: it did not answer in "
                     "time",
                     res->error);
        return;
    case HTTPC_CONNECT_FAILED:
        gw_call_fail(c, 502, "upstream_unreachable",
                     "The request could not be completed by the provider: cannot connect to it",
                     res->error);
        return;
    case HTTPC_TOO_LARGE:
        gw_call_fail(c, 502, "upstream_error",
                     "The request could not be completed by the provider: its reply is too large",
                     res->error);
        return;
    default:
        snprintf(row, sizeof(row), "%s", res->error);
        gw_call_scrub(c, row);
        gw_call_fail(c, 502, "upstream_error", "The request could not be completed by the provider",
                     row);
        return;
    }
    if (c->up_status < 200 || c->up_status >= 300) {
        if (c->stream) {
            size_t n = evbuffer_get_length(c->errbuf);
            gw_call_http_error(c, (const char *)evbuffer_pullup(c->errbuf, -1), n);
        } else {
            gw_call_http_error(c, res->body, res->body_len);
        }
        return;
    }
    if (c->stream) {
        /* A 2xx that was not an event stream (streams start at the headers). */
        gw_call_fail(c, 502, "upstream_error",
                     "The request could not be completed by the provider: malformed reply",
                     "malformed reply from the provider: not an event stream");
        return;
    }
    c->body = NULL;
    if ((c->embed
             ? c->d->embed_reply(res->body, res->body_len, &u, &c->body, &c->body_len)
             : c->d->chat_reply(res->body, res->body_len, &u, &gen, &c->body, &c->body_len)) < 0) {
        gw_call_fail(c, 502, "upstream_error",
                     "The request could not be completed by the provider: malformed reply",
                     "malformed reply from the provider");
        return;
    }
    if (c->body != NULL) {
        c->body_owned = true;
    } else {
        c->body = (char *)res->body;
        c->body_len = res->body_len;
    }
    if (gw_call_shape_reply(c) < 0) {
        gw_call_fail(c, 502, "upstream_error",
                     "The request could not be completed by the provider: malformed reply",
                     "malformed reply from the provider: cannot translate it for the client");
        return;
    }
    c->end = GW_END_RAW;
    u = gw_call_usage(c, &u, gen, &est);
    gw_call_end(c, "success", &u, est, NULL);
}

/*
 * A translated reply whose provider named no model says "model":"" (prov_pivot.c,
 * prov_embed.c): the request's model goes there. In JSON text the sequence "model":"" can only
 * be a key and its value (quotes inside strings are escaped), and the dialects write the
 * top-level one first.
 */
static int gw_call_fill_model(struct gw_call *c)
{
    static const char empty[] = "\"model\":\"\"";
    const char *at = c->body_owned && c->body_len >= sizeof(empty) - 1
                         ? util_memfind(c->body, c->body_len, empty, sizeof(empty) - 1)
                         : NULL;
    json_t *m;
    char *lit, *nb;
    size_t ll, off;

    if (at == NULL)
        return 0;
    m = json_string(c->model);
    lit = m != NULL ? json_dumps(m, JSON_ENCODE_ANY) : NULL;
    json_decref(m);
    if (lit == NULL)
        return -1;
    ll = strlen(lit);
    off = (size_t)(at - c->body) + 8; /* after "model": */
    nb = malloc(c->body_len - 2 + ll + 1);
    if (nb != NULL) {
        memcpy(nb, c->body, off);
        memcpy(nb + off, lit, ll);
        memcpy(nb + off + ll, c->body + off + 2, c->body_len - off - 2);
        nb[c->body_len - 2 + ll] = '\0';
        free(c->body);
        c->body = nb;
        c->body_len = c->body_len - 2 + ll;
    }
    free(lit);
    return nb != NULL ? 0 : -1;
}

/* The reply in the client's shape: c->body is replaced when the shape translates it. */
static int gw_call_shape_reply(struct gw_call *c)
{
    char *out = NULL;
    size_t out_len = 0;

    if (gw_call_fill_model(c) < 0)
        return -1;
    if (c->shape->reply(c->body, c->body_len, &out, &out_len) < 0)
        return -1;
    if (out == NULL)
        return 0;
    if (c->body_owned)
        free(c->body);
    c->body = out;
    c->body_len = out_len;
    c->body_owned = true;
    return 0;
}

/* The client went away before the outcome: stop the provider and bill what was generated. */
static void gw_call_gone(struct gw_req *r, void *arg)
{
    struct gw_call *c = arg;
    struct prov_usage u;
    bool est;

    (void)r;
    if (c->completing)
        return; /* the outcome is decided; gw_call_reply() will see client_gone */
    if (c->waiting_token && c->hr == NULL && c->up_start_us == 0) {
        /* Gone while the access token was fetched: nothing was sent, nothing is billed. */
        if (c->tw != NULL)
            prov_token_wait_cancel(c->tw);
        c->tw = NULL;
        c->end = GW_END_GONE;
        gw_call_end(c, "cancelled", NULL, false, "client closed the connection");
        return;
    }
    if (c->hr != NULL)
        httpc_cancel(c->hr);
    c->hr = NULL;
    c->end = GW_END_GONE;
    u = gw_call_usage(c, &c->ps.usage, c->ps.gen_bytes, &est);
    gw_call_end(c, "cancelled", &u, est, "client closed the connection");
}

/* ---- start ---------------------------------------------------------------------------------- */

static char *gw_dup(const char *s)
{
    return s != NULL ? strdup(s) : NULL;
}

void gw_call_spec_admitted(struct gw_call_spec *spec, struct gw_admit *a, const char *endpoint)
{
    spec->conf = a->conf;
    spec->provider = a->info->id;
    spec->model = a->model;
    spec->endpoint = endpoint;
    spec->user_id = a->user;
    spec->key_id = a->caller.master ? NULL : a->caller.key.id;
    spec->priced = a->priced;
    spec->price = a->price;
    spec->reserve = a->reserve;
    spec->rate_hdr = a->rate_hdr;
    spec->key_tpm = a->key_tpm;
    spec->key_tokens = a->key_tokens;
    spec->key_second = a->key_second;
    a->key_tokens = 0; /* the call settles it */
    spec->prompt_bytes = a->est.message_bytes;
    a->reserved = false; /* gw_call_start() settles it whatever happens */
}

/* Builds the provider request (with bearer, an access token, or NULL) and starts it. */
static void gw_call_launch(struct gw_call *c, const char *bearer)
{
    struct gw_req *r = c->r;
    struct prov_http h = {0};
    struct prov_chat_in in = {0};
    struct httpc_spec hs = {0};
    struct httpc_cbs cbs = {0};
    char err[256];
    bool client_usage = false;
    int rc;

    in.model = c->model;
    in.req = c->req;
    in.raw = c->raw;
    in.raw_len = c->raw_len;
    in.stream = c->stream;
    in.bearer = bearer;
    in.anthropic_version = c->anthropic_version;
    in.anthropic_beta = c->anthropic_beta;
    if (c->embed)
        rc = c->d->embed_build(c->pc, &in, &h, err, sizeof(err));
    else
        rc = c->d->chat_build(c->pc, &in, &client_usage, &h, err, sizeof(err));
    json_decref(c->req);
    c->req = NULL;
    c->raw = NULL;
    if (rc < 0) {
        prov_http_cleanup(&h);
        if (rc == PROV_E_REQUEST)
            gw_call_fail(c, 400, "invalid_request", err, NULL);
        else
            gw_call_fail(c, 502, "provider_not_configured", err, NULL);
        return;
    }
    c->ps.client_usage = client_usage;
    gw_valid_body_release(r); /* the upstream body is built: the client's bytes are not needed */
    hs.method = "POST";
    hs.url = h.url;
    hs.headers = h.headers;
    hs.nheaders = h.nheaders;
    hs.body = h.body;
    hs.body_len = h.body_len;
    hs.connect_timeout_ms = GW_CALL_CONNECT_TIMEOUT_MS;
    if (c->stream) {
        /* A stream may last long; it fails when the provider stays silent for the timeout. */
        c->idle = event_new(r->w->base, -1, 0, gw_call_idle, c);
        if (c->idle == NULL) {
            prov_http_cleanup(&h);
            gw_call_fail(c, 500, "internal_error", "Internal Server Error", "out of memory");
            return;
        }
        c->last_rx_us = util_mono_us();
        gw_call_idle_arm(c, (int64_t)c->pc->timeout_ms * 1000);
    } else {
        hs.timeout_ms = c->pc->timeout_ms;
        hs.max_response = GW_CALL_MAX_REPLY;
    }
    cbs.on_headers = gw_call_on_headers;
    cbs.on_data = c->stream ? gw_call_on_data : NULL;
    cbs.on_done = gw_call_on_done;
    c->up_start_us = util_mono_us();
    c->hr = httpc_start(r->w->httpc, &hs, &cbs, c);
    prov_http_cleanup(&h);
    if (c->hr == NULL)
        gw_call_fail(c, 502, "upstream_error", "The request could not be completed by the provider",
                     "cannot start the upstream request");
}

/* The provider's access token arrived (or could not be had). */
static void gw_call_token(const char *token, const char *err, void *arg)
{
    struct gw_call *c = arg;
    char msg[384];

    c->tw = NULL;
    if (token == NULL) {
        json_decref(c->req);
        c->req = NULL;
        snprintf(msg, sizeof(msg),
                 "The request could not be completed by the provider: cannot obtain an access "
                 "token for '%s': %s",
                 c->provider, err != NULL ? err : "unknown error");
        gw_call_fail(c, 502, "upstream_auth_failed", msg, NULL);
        return;
    }
    gw_call_launch(c, token);
}

void gw_call_start(struct gw_req *r, const struct gw_call_spec *spec)
{
    struct gw_call *c = calloc(1, sizeof(*c));

    if (c == NULL || (c->out = evbuffer_new()) == NULL || (c->errbuf = evbuffer_new()) == NULL ||
        (c->provider = gw_dup(spec->provider)) == NULL ||
        (c->model = gw_dup(spec->model)) == NULL || (c->user_id = gw_dup(spec->user_id)) == NULL ||
        (c->endpoint = gw_dup(spec->endpoint)) == NULL ||
        (spec->key_id != NULL && (c->key_id = gw_dup(spec->key_id)) == NULL) ||
        (spec->anthropic_version != NULL &&
         (c->anthropic_version = gw_dup(spec->anthropic_version)) == NULL) ||
        (spec->anthropic_beta != NULL &&
         (c->anthropic_beta = gw_dup(spec->anthropic_beta)) == NULL) ||
        (spec->shape != NULL && spec->shape->stateful &&
         (c->ss = calloc(1, sizeof(*c->ss))) == NULL)) {
        acct_index_settle(r->w->app->index, spec->user_id, spec->reserve, 0);
        if (spec->key_tokens > 0)
            acct_rate_settle(acct_index_rate(r->w->app->index), ACCT_RATE_KEY, spec->key_id,
                             spec->key_second, spec->key_tokens, 0, util_now_us());
        if (c != NULL)
            gw_call_free(c);
        gw_reply_error(r, 500, "internal_error", "Internal Server Error");
        return;
    }
    c->r = r;
    c->d = spec->dialect;
    c->shape = spec->shape != NULL ? spec->shape : &prov_shape_openai;
    c->pc = spec->conf;
    r->mx_provider = c->pc->info->id; /* static */
    c->stream = spec->stream;
    c->embed = spec->embed;
    c->priced = spec->priced;
    c->price = spec->price;
    c->reserve = spec->reserve;
    c->rate_hdr = spec->rate_hdr;
    c->key_tpm = spec->key_tpm;
    c->key_tokens = spec->key_tokens;
    c->key_second = spec->key_second;
    c->prompt_bytes = spec->prompt_bytes;
    c->req = json_incref(spec->body);
    c->raw = spec->raw; /* the request's bytes live until gw_valid_body_release() */
    c->raw_len = spec->raw_len;
    prov_frame_init(&c->frame, c->d->framing, &c->ps, gw_call_on_event, c);
    prov_usage_init(&c->ps.usage);
    snprintf(c->ps.x.model, sizeof(c->ps.x.model), "%s", c->model);
    r->on_gone = gw_call_gone;
    r->gone_arg = c;
    gw_req_watch_close(r);
    if (c->pc->info->auth == PROV_AUTH_GOOGLE || c->pc->info->auth == PROV_AUTH_IBM_IAM) {
        /* An access token first: now when cached, else from the event loop. */
        struct prov_token_wait *tw;

        c->waiting_token = true;
        /* The callback may run (and end the call) inside: touch c only when it will run later. */
        tw = prov_tokens_get(r->w->tokens, c->pc, gw_call_token, c);
        if (tw != NULL)
            c->tw = tw;
        return;
    }
    gw_call_launch(c, NULL);
}
