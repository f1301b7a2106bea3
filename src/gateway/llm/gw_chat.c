/*
 * POST /v1/chat/completions (spec §1.3): validation, authentication, user resolution, model
 * routing and budget admission, then the upstream call (gw_call.c). Unknown request fields are
 * kept in the body and reach the provider (DESIGN.md §2.1).
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "acct/acct_budget.h"
#include "acct/acct_usage.h"
#include "db/db.h"
#include "gateway/gw_app.h"
#include "gateway/gw_handlers.h"
#include "gateway/http/gw_auth.h"
#include "gateway/http/gw_reply.h"
#include "gateway/http/gw_req.h"
#include "gateway/http/gw_valid.h"
#include "gateway/llm/gw_call.h"
#include "providers/prov_conf.h"
#include "providers/prov_dialect.h"
#include "providers/prov_registry.h"
#include "util.h"

#define GW_CHAT_MAX_MODEL 256 /* bytes of "provider:model" */

/* The request fields the gateway itself reads (spec §1.3); everything else passes through. */
static const struct gw_field gw_chat_fields[] = {
    {"model", GW_F_STR, GW_F_REQUIRED, 0},
    {"messages", GW_F_OBJLIST, GW_F_REQUIRED, 0},
    {"user", GW_F_STR, GW_F_NULLABLE, 0},
    {"temperature", GW_F_NUM, GW_F_NULLABLE, 0},
    {"max_tokens", GW_F_INT, GW_F_NULLABLE, 0},
    {"max_completion_tokens", GW_F_INT, GW_F_NULLABLE, 0},
    {"top_p", GW_F_NUM, GW_F_NULLABLE, 0},
    {"stream", GW_F_BOOL, 0, 0},
    {"stream_options", GW_F_OBJ, GW_F_NULLABLE, 0},
    {"tools", GW_F_OBJLIST, GW_F_NULLABLE, 0},
    {"tool_choice", GW_F_STROBJ, GW_F_NULLABLE, 0},
    {"response_format", GW_F_OBJ, GW_F_NULLABLE, 0},
};

/* messages: at least one, each with a "role" (the reference's own validator). */
static bool gw_chat_valid_messages(struct gw_req *r, json_t *messages)
{
    json_t *m;
    size_t i;
    char msg[96];

    if (json_array_size(messages) == 0) {
        gw_valid_reply_one(
            r, "too_short", "body", "messages",
            "List should have at least 1 item after validation, not 0", json_incref(messages),
            json_pack("{s:s,s:i,s:i}", "field_type", "List", "min_length", 1, "actual_length", 0));
        return false;
    }
    json_array_foreach(messages, i, m)
    {
        if (json_object_get(m, "role") == NULL) {
            snprintf(msg, sizeof(msg), "Value error, messages[%zu]: 'role' is required", i);
            gw_valid_reply_one(r, "value_error", "body", "messages", msg, json_incref(messages),
                               json_pack("{s:{}}", "error"));
            return false;
        }
    }
    return true;
}

/* A model string longer than GW_CHAT_MAX_MODEL bytes: 400 (it would go into every usage row). */
static bool gw_chat_valid_model(struct gw_req *r, json_t *model)
{
    size_t n = json_string_length(model);

    if (n <= GW_CHAT_MAX_MODEL)
        return true;
    gw_reply_errorf(r, 400, "invalid_model",
                    "Model name is too long: %zu bytes, at most %d are accepted", n,
                    GW_CHAT_MAX_MODEL);
    return false;
}

/*
 * The user to bill (spec §1.3 step 2 with DESIGN.md §2.10): master key -> the "user" field
 * (required); a virtual key that belongs to a user -> always that user (the request's "user" is
 * then only the end-user id forwarded upstream, never a way to bill someone else); a key without
 * a user -> the "user" field. Replies and returns NULL when there is none.
 */
static const char *gw_chat_user(struct gw_req *r, const struct gw_caller *caller, json_t *body)
{
    const char *user = json_string_value(json_object_get(body, "user"));

    if (user != NULL && user[0] == '\0')
        user = NULL;
    if (caller->master) {
        if (user == NULL)
            gw_reply_error(r, 400, "user_required",
                           "When using master key, 'user' field is required in request body");
        return user;
    }
    if (caller->key.user_id != NULL && caller->key.user_id[0] != '\0')
        return caller->key.user_id;
    if (user == NULL) {
        gw_reply_error(r, 500, "internal_error", "API key has no associated user");
        return NULL;
    }
    return user;
}

void gw_chat_completions(struct gw_req *r, const struct gw_params *p)
{
    struct gw_app *app = r->w->app;
    struct gw_caller caller;
    struct gw_call_spec spec = {0};
    struct acct_budget_reset reset;
    const struct prov_info *info = NULL;
    const char *user, *model = NULL;
    char provider[64], err[512];
    json_t *body = NULL;
    struct acct_budget_est est;

    (void)p;
    if (!gw_valid_body_json(r, &body))
        return;
    if (!gw_auth_caller(r, &caller) ||
        !gw_valid_fields(r, body, gw_chat_fields,
                         sizeof(gw_chat_fields) / sizeof(gw_chat_fields[0])) ||
        !gw_chat_valid_messages(r, json_object_get(body, "messages")) ||
        !gw_chat_valid_model(r, json_object_get(body, "model")) ||
        (user = gw_chat_user(r, &caller, body)) == NULL)
        goto out;
    info = prov_split_model(json_string_value(json_object_get(body, "model")), provider,
                            sizeof(provider), &model, err, sizeof(err));
    if (info != NULL) {
        int priced = acct_index_price_find(app->index, provider, model, &spec.price);
        if (priced < 0) {
            gw_reply_error(r, 500, "internal_error", "Internal Server Error");
            goto out;
        }
        spec.priced = priced == 1;
    }
    acct_budget_estimate(body, &est);
    spec.prompt_bytes = est.message_bytes;
    spec.reserve = acct_budget_reserve(spec.priced ? &spec.price : NULL, &est,
                                       app->cfg->budget_min_reservation_tokens);
    /* Budget first, as the reference: a blocked user learns that before a model typo. */
    switch (acct_index_admit(app->index, user, util_now_us(), spec.reserve,
                             spec.priced && spec.price.input_per_million == 0 &&
                                 spec.price.output_per_million == 0,
                             db_available(app->db), &reset)) {
    case ACCT_BUDGET_OK:
        break;
    case ACCT_BUDGET_NO_USER:
        gw_reply_errorf(r, 404, "user_not_found", "User '%s' not found", user);
        goto out;
    case ACCT_BUDGET_BLOCKED:
        gw_reply_errorf(r, 403, "user_blocked", "User '%s' is blocked", user);
        goto out;
    case ACCT_BUDGET_EXCEEDED:
        if (reset.happened)
            acct_usage_reset(app->usage, user, reset.budget_id, reset.previous_spend,
                             reset.reset_at_us, reset.next_reset_us);
        gw_reply_errorf(r, 403, "budget_exceeded", "User '%s' has exceeded budget limit", user);
        goto out;
    case ACCT_BUDGET_UNAVAILABLE:
        gw_reply_header(r, "Retry-After", "1");
        gw_reply_errorf(r, 503, "budget_unavailable",
                        "Cannot check the budget of user '%s': the database is unavailable; "
                        "try again later",
                        user);
        goto out;
    }
    if (reset.happened)
        acct_usage_reset(app->usage, user, reset.budget_id, reset.previous_spend, reset.reset_at_us,
                         reset.next_reset_us);
    if (info != NULL)
        spec.conf = prov_confs_get(app->provs, info);
    if (info == NULL || !spec.conf->usable ||
        (spec.dialect = prov_dialect_get(info->dialect)) == NULL) {
        acct_index_settle(app->index, user, spec.reserve, 0);
        if (info == NULL)
            gw_reply_error(r, 400, "invalid_model", err);
        else if (!spec.conf->usable)
            gw_reply_errorf(r, 400, "provider_not_configured", "Provider '%s' is not configured",
                            info->id);
        else
            gw_reply_errorf(r, 501, "provider_not_supported",
                            "Provider '%s' is not supported by this gateway yet: its API is not "
                            "OpenAI-compatible",
                            info->id);
        goto out;
    }
    spec.provider = info->id;
    spec.model = model;
    spec.endpoint = "/v1/chat/completions";
    spec.user_id = user;
    spec.key_id = caller.master ? NULL : caller.key.id;
    spec.body = body;
    spec.raw = gw_valid_body_raw(r, &spec.raw_len);
    spec.stream = json_is_true(json_object_get(body, "stream"));
    gw_call_start(r, &spec);
out:
    gw_key_ref_clear(&caller.key);
    json_decref(body);
}
