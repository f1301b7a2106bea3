/*
 * The gateway's Prometheus metrics (README "Metrics"): the families, the hooks the request path
 * calls (each one cheap call on the worker's own shard, nothing when metrics are off), and the
 * GET /metrics handler. Registry and threading: gw_mx.h.
 */
#ifndef GW_METRICS_H
#define GW_METRICS_H

#include <stdbool.h>
#include <stdint.h>

struct gw_mx;
struct gw_req;
struct gw_params;

/* The registry with one shard per worker (NULL when out of memory). Free with gw_mx_free(). */
struct gw_mx *gw_metrics_new(int nworkers);

/* gw_req.c: a request begins (active gauge; /metrics itself is never counted) and ends
   (gateway_requests_total, duration, active and open streams gauges). */
void gw_metrics_req_begin(struct gw_req *r);
void gw_metrics_req_end(struct gw_req *r);

/* gw_reply.c: a streamed reply started (open streams gauge, until the request ends). */
void gw_metrics_stream_open(struct gw_req *r);

/* gw_reply.c: the gateway's own time of a request that called r->mx_provider, in µs. */
void gw_metrics_overhead(struct gw_req *r, int64_t own_us);

/* gw_auth.c: why a caller was refused ("missing_credentials", "invalid_format", "invalid_key",
   "inactive_key", "expired_key"). */
void gw_metrics_auth_failure(struct gw_req *r, const char *reason);

/* gw_admit.c: a request refused because user_id's budget is spent. */
void gw_metrics_budget_exceeded(struct gw_req *r, const char *user_id);

/* The rate limiter: a request refused with 429 for user_id. */
void gw_metrics_rate_limit_hit(struct gw_req *r, const char *user_id);

/* gw_call.c: the billed usage of a chat or messages call (zero token counts are skipped; cost
   observed when priced). */
void gw_metrics_usage(struct gw_req *r, const char *provider, const char *model, long input,
                      long output, bool priced, double cost);

/* gw_call.c: how a provider answered (klass "2xx", "4xx", "5xx", "other", "error",
   "timeout") and how long from the request's start to the end of its reply (dur_us). */
void gw_metrics_upstream(struct gw_req *r, const char *provider, const char *klass, int64_t dur_us);

/* The class of an upstream status for gw_metrics_upstream(). */
const char *gw_metrics_status_class(int status);

/* GET /metrics: the text format 0.0.4 (routed only when enable_metrics is true). */
void gw_metrics_serve(struct gw_req *r, const struct gw_params *p);

#endif
