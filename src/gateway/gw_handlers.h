/*
 * Endpoint handlers, one file per endpoint family (gw_health.c, gw_root.c, ...).
 * Each answers through gw_reply_* exactly once, now or from a later callback.
 */
#ifndef GW_HANDLERS_H
#define GW_HANDLERS_H

#include "gateway/gw_route.h"

/* gw_health.c */
void gw_health(struct gw_req *r, const struct gw_params *p);
void gw_health_liveness(struct gw_req *r, const struct gw_params *p);
void gw_health_readiness(struct gw_req *r, const struct gw_params *p);

/* gw_root.c */
void gw_root(struct gw_req *r, const struct gw_params *p);

/* gw_route.c: answers the framer's synthetic /_gw/reject/<status> requests. */
void gw_reject(struct gw_req *r, const struct gw_params *p);

#endif
