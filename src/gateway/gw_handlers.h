/*
 * Endpoint handlers, one file per endpoint family (gw_health.c, gw_root.c, ...).
 * Each answers through gw_reply_* exactly once, now or from a later callback.
 */
#ifndef GW_HANDLERS_H
#define GW_HANDLERS_H

#include "gateway/http/gw_route.h"

/* gw_health.c */
void gw_health(struct gw_req *r, const struct gw_params *p);
void gw_health_liveness(struct gw_req *r, const struct gw_params *p);
void gw_health_readiness(struct gw_req *r, const struct gw_params *p);

/* gw_root.c */
void gw_root(struct gw_req *r, const struct gw_params *p);

/*
 * Admin API (spec §1.6-§1.10). Each handler: read the body with gw_valid_body_json() (POST,
 * PATCH), then authenticate (gw_auth_master / gw_auth_caller), then validate
 * (gw_valid_fields / gw_valid_page), then run its query with db_exec() on r->w->base and reply
 * from the callback (gw_req_watch_close() first). DB failures: gw_reply_db_error().
 */
/* gw_keys.c */
void gw_keys_create(struct gw_req *r, const struct gw_params *p);
void gw_keys_list(struct gw_req *r, const struct gw_params *p);
void gw_keys_get(struct gw_req *r, const struct gw_params *p);
void gw_keys_update(struct gw_req *r, const struct gw_params *p);
void gw_keys_delete(struct gw_req *r, const struct gw_params *p);

/* gw_users.c */
void gw_users_create(struct gw_req *r, const struct gw_params *p);
void gw_users_list(struct gw_req *r, const struct gw_params *p);
void gw_users_get(struct gw_req *r, const struct gw_params *p);
void gw_users_update(struct gw_req *r, const struct gw_params *p);
void gw_users_delete(struct gw_req *r, const struct gw_params *p);
void gw_users_usage(struct gw_req *r, const struct gw_params *p);

/* gw_usage.c: usage analytics (GET /v1/usage, GET /v1/usage/summary). */
void gw_usage_list(struct gw_req *r, const struct gw_params *p);
void gw_usage_summary(struct gw_req *r, const struct gw_params *p);

/* gw_budgets.c */
void gw_budgets_create(struct gw_req *r, const struct gw_params *p);
void gw_budgets_list(struct gw_req *r, const struct gw_params *p);
void gw_budgets_get(struct gw_req *r, const struct gw_params *p);
void gw_budgets_update(struct gw_req *r, const struct gw_params *p);
void gw_budgets_delete(struct gw_req *r, const struct gw_params *p);

/* gw_pricing.c */
void gw_pricing_set(struct gw_req *r, const struct gw_params *p);
void gw_pricing_list(struct gw_req *r, const struct gw_params *p);
void gw_pricing_get(struct gw_req *r, const struct gw_params *p);
void gw_pricing_delete(struct gw_req *r, const struct gw_params *p);

/* gw_chat.c: the LLM path (spec §1.3). */
void gw_chat_completions(struct gw_req *r, const struct gw_params *p);

/* gw_messages.c: Anthropic Messages in, for every provider (spec §1.4). */
void gw_messages(struct gw_req *r, const struct gw_params *p);

/* gw_embeddings.c: embeddings for every provider that has them (spec §1.5). */
void gw_embeddings(struct gw_req *r, const struct gw_params *p);

/* http/gw_static.c: the embedded web assets (/ui/..., and /docs/..., /openapi.json). */
void gw_static_ui(struct gw_req *r, const struct gw_params *p);
void gw_static_docs(struct gw_req *r, const struct gw_params *p);

/* gw_models.c */
void gw_models_list(struct gw_req *r, const struct gw_params *p);
void gw_models_get(struct gw_req *r, const struct gw_params *p);

#endif
