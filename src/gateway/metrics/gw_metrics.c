/*
 * The gateway's metric families, the request-path hooks and GET /metrics (gw_metrics.h).
 */
#include "gateway/metrics/gw_metrics.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "acct/acct_sync.h"
#include "acct/acct_usage.h"
#include "db/db.h"
#include "gateway/gw_app.h"
#include "gateway/http/gw_reply.h"
#include "gateway/http/gw_req.h"
#include "gateway/http/gw_route.h"
#include "gateway/metrics/gw_mx.h"
#include "gateway/metrics/gw_mx_text.h"
#include "util.h"

enum {
    MF_REQUESTS,
    MF_DURATION,
    MF_ACTIVE,
    MF_TOKENS,
    MF_COST,
    MF_RATE_LIMIT,
    MF_BUDGET,
    MF_AUTH,
    MF_UP_DURATION,
    MF_OVERHEAD,
    MF_UP_STATUS,
    MF_STREAMS,
    MF__COUNT
};

/* prometheus_client's default buckets, as the reference's duration histogram. */
static const double gw_mf_default_buckets[] = {.005, .01, .025, .05, .075, .1,  .25,
                                               .5,   .75, 1,    2.5, 5,    7.5, 10};
/* Costs of one request in dollars: most are fractions of a cent. */
static const double gw_mf_cost_buckets[] = {.00001, .0001, .0005, .001, .005, .01,
                                            .05,    .1,    .5,    1,    5};
/* The gateway's own time: sub-millisecond first. */
static const double gw_mf_overhead_buckets[] = {.0001, .00025, .0005, .001, .0025, .005, .01,
                                                .025,  .05,    .1,    .25,  .5,    1};

#define NB(a) (int)(sizeof(a) / sizeof(a[0])), a

static const struct gw_mx_def gw_mf_defs[MF__COUNT] = {
    [MF_REQUESTS] = {"gateway_requests_total",
                     "Total HTTP requests (endpoint: the route template)",
                     GW_MX_COUNTER,
                     3,
                     {"method", "endpoint", "status"},
                     0,
                     2000,
                     0,
                     NULL},
    [MF_DURATION] = {"gateway_request_duration_seconds",
                     "HTTP request duration in seconds",
                     GW_MX_HISTOGRAM,
                     2,
                     {"method", "endpoint"},
                     0,
                     1000,
                     NB(gw_mf_default_buckets)},
    [MF_ACTIVE] =
        {"gateway_active_requests", "Requests in flight", GW_MX_GAUGE, 0, {0}, 0, 1, 0, NULL},
    [MF_TOKENS] = {"gateway_tokens_total",
                   "Tokens of chat and messages calls (type input|output)",
                   GW_MX_COUNTER,
                   3,
                   {"provider", "model", "type"},
                   1u << 1,
                   1000,
                   0,
                   NULL},
    [MF_COST] = {"gateway_request_cost_dollars",
                 "Cost of a priced chat or messages call in dollars",
                 GW_MX_HISTOGRAM,
                 2,
                 {"provider", "model"},
                 1u << 1,
                 500,
                 NB(gw_mf_cost_buckets)},
    [MF_RATE_LIMIT] = {"gateway_rate_limit_hits_total",
                       "Requests refused by the rate limit",
                       GW_MX_COUNTER,
                       1,
                       {"user_id"},
                       1u << 0,
                       1000,
                       0,
                       NULL},
    [MF_BUDGET] = {"gateway_budget_exceeded_total",
                   "Requests refused because the budget is spent",
                   GW_MX_COUNTER,
                   1,
                   {"user_id"},
                   1u << 0,
                   1000,
                   0,
                   NULL},
    [MF_AUTH] = {"gateway_auth_failures_total",
                 "Refused credentials by reason",
                 GW_MX_COUNTER,
                 1,
                 {"reason"},
                 0,
                 16,
                 0,
                 NULL},
    [MF_UP_DURATION] = {"gateway_upstream_duration_seconds",
                        "Provider time of a call, from its request to the end of its reply",
                        GW_MX_HISTOGRAM,
                        1,
                        {"provider"},
                        0,
                        128,
                        NB(gw_mf_default_buckets)},
    [MF_OVERHEAD] = {"gateway_overhead_seconds",
                     "Gateway time of a provider call (X-Gateway-Overhead-Ms): up to the reply "
                     "or the stream's headers, minus the provider's time",
                     GW_MX_HISTOGRAM,
                     1,
                     {"provider"},
                     0,
                     128,
                     NB(gw_mf_overhead_buckets)},
    [MF_UP_STATUS] = {"gateway_upstream_responses_total",
                      "Provider answers by class (2xx, 4xx, 5xx, other, error, timeout)",
                      GW_MX_COUNTER,
                      2,
                      {"provider", "class"},
                      0,
                      1024,
                      0,
                      NULL},
    [MF_STREAMS] = {"gateway_open_streams",
                    "Streamed replies in progress",
                    GW_MX_GAUGE,
                    0,
                    {0},
                    0,
                    1,
                    0,
                    NULL},
};

struct gw_mx *gw_metrics_new(int nworkers)
{
    return gw_mx_new(gw_mf_defs, MF__COUNT, nworkers);
}

static inline struct gw_mx_shard *gw_mf_shard(const struct gw_req *r)
{
    return r->w->mx;
}

void gw_metrics_req_begin(struct gw_req *r)
{
    if (gw_mf_shard(r) == NULL)
        return;
    r->mx_skip = strcmp(r->path, "/metrics") == 0;
    if (!r->mx_skip)
        gw_mx_add(gw_mf_shard(r), MF_ACTIVE, NULL, 1);
}

void gw_metrics_req_end(struct gw_req *r)
{
    struct gw_mx_shard *s = gw_mf_shard(r);
    const char *v[3];
    char status[16];

    if (s == NULL || r->mx_skip)
        return;
    if (r->streaming)
        gw_mx_add(s, MF_STREAMS, NULL, -1);
    gw_mx_add(s, MF_ACTIVE, NULL, -1);
    v[0] = r->unread ? "UNKNOWN" : gw_method_name(r->method);
    v[1] = r->route != NULL ? r->route : r->unread ? NULL : gw_route_template(r->path);
    if (v[1] == NULL)
        v[1] = "unmatched";
    snprintf(status, sizeof(status), "%d", r->status);
    v[2] = status;
    gw_mx_add(s, MF_REQUESTS, v, 1);
    gw_mx_observe(s, MF_DURATION, v, (double)(util_mono_us() - r->t0_us) / 1e6);
}

void gw_metrics_stream_open(struct gw_req *r)
{
    if (!r->mx_skip)
        gw_mx_add(gw_mf_shard(r), MF_STREAMS, NULL, 1);
}

void gw_metrics_overhead(struct gw_req *r, int64_t own_us)
{
    const char *v[1] = {r->mx_provider};

    if (r->mx_provider != NULL)
        gw_mx_observe(gw_mf_shard(r), MF_OVERHEAD, v, (double)own_us / 1e6);
}

void gw_metrics_auth_failure(struct gw_req *r, const char *reason)
{
    const char *v[1] = {reason};

    gw_mx_add(gw_mf_shard(r), MF_AUTH, v, 1);
}

void gw_metrics_budget_exceeded(struct gw_req *r, const char *user_id)
{
    const char *v[1] = {user_id};

    gw_mx_add(gw_mf_shard(r), MF_BUDGET, v, 1);
}

void gw_metrics_rate_limit_hit(struct gw_req *r, const char *user_id)
{
    const char *v[1] = {user_id};

    gw_mx_add(gw_mf_shard(r), MF_RATE_LIMIT, v, 1);
}

void gw_metrics_usage(struct gw_req *r, const char *provider, const char *model, long input,
                      long output, bool priced, double cost)
{
    struct gw_mx_shard *s = gw_mf_shard(r);
    const char *v[3] = {provider, model, "input"};

    if (s == NULL)
        return;
    if (input > 0)
        gw_mx_add(s, MF_TOKENS, v, input);
    v[2] = "output";
    if (output > 0)
        gw_mx_add(s, MF_TOKENS, v, output);
    if (priced)
        gw_mx_observe(s, MF_COST, v, cost);
}

const char *gw_metrics_status_class(int status)
{
    switch (status / 100) {
    case 2:
        return "2xx";
    case 4:
        return "4xx";
    case 5:
        return "5xx";
    default:
        return "other";
    }
}

void gw_metrics_upstream(struct gw_req *r, const char *provider, const char *klass, int64_t dur_us)
{
    struct gw_mx_shard *s = gw_mf_shard(r);
    const char *v[2] = {provider, klass};

    if (s == NULL)
        return;
    gw_mx_add(s, MF_UP_STATUS, v, 1);
    gw_mx_observe(s, MF_UP_DURATION, v, (double)dur_us / 1e6);
}

/* The values read at scrape time from the usage writer, the database and the replica sync. */
static void gw_metrics_state(struct evbuffer *out, struct gw_app *app)
{
    struct acct_usage_stats st;
    struct acct_sync *sync = atomic_load(&app->sync);
    int64_t ok_us;

    acct_usage_stats(app->usage, &st);
    gw_mx_text_value(out, "gateway_usage_queue_depth",
                     "Usage rows and budget resets queued or being written", "gauge", NULL, NULL,
                     (double)acct_usage_pending(app->usage));
    gw_mx_text_value(out, "gateway_usage_rows_written_total", "Usage rows committed", "counter",
                     NULL, NULL, (double)st.rows_written);
    gw_mx_text_value(out, "gateway_usage_rows_dropped_total",
                     "Usage rows and budget resets lost (queue full, or given up at shutdown)",
                     "counter", NULL, NULL, (double)st.lost);
    gw_mx_text_value(out, "gateway_usage_write_failures_total",
                     "Failed usage-writer transactions (each retried)", "counter", NULL, NULL,
                     (double)st.failures);
    gw_mx_text_value(out, "gateway_db_up",
                     "1 while the database is reachable (PostgreSQL: a pooled connection is up)",
                     "gauge", "backend", db_backend_name(app->db), db_available(app->db) ? 1 : 0);
    if (sync != NULL) {
        ok_us = acct_sync_last_ok_us(sync);
        gw_mx_text_value(out, "gateway_replica_sync_age_seconds",
                         "Seconds since the last successful refresh from PostgreSQL (-1: none yet)",
                         "gauge", NULL, NULL,
                         ok_us > 0 ? (double)(util_now_us() - ok_us) / 1e6 : -1.0);
    }
    gw_mx_text_value(out, "gateway_metrics_dropped_total",
                     "Observations dropped because a metric's label sets were all taken", "counter",
                     NULL, NULL, (double)gw_mx_dropped(app->mx));
}

void gw_metrics_serve(struct gw_req *r, const struct gw_params *p)
{
    struct gw_app *app = r->w->app;
    struct evbuffer *out = evbuffer_new();
    size_t len;

    (void)p;
    if (out == NULL) {
        gw_reply_error(r, 500, "internal_error", "Internal Server Error");
        return;
    }
    for (int f = 0; f < MF__COUNT; f++)
        gw_mx_text_family(out, app->mx, f);
    gw_metrics_state(out, app);
    len = evbuffer_get_length(out);
    gw_reply_raw(r, 200, GW_MX_TEXT_CTYPE, (const char *)evbuffer_pullup(out, -1), len);
    evbuffer_free(out);
}
