/*
 * The shared admission step of the LLM endpoints (contract in gw_admit.h).
 */
#include "gateway/llm/gw_admit.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "acct/acct_rate.h"
#include "acct/acct_usage.h"
#include "db/db.h"
#include "gateway/gw_app.h"
#include "gateway/http/gw_reply.h"
#include "gateway/http/gw_req.h"
#include "gateway/metrics/gw_metrics.h"
#include "util.h"

bool gw_fail_set(struct gw_fail *f, int status, const char *code, const char *fmt, ...)
{
    va_list ap;

    f->status = status;
    f->code = code;
    f->retry_after = 0;
    va_start(ap, fmt);
    vsnprintf(f->msg, sizeof(f->msg), fmt, ap);
    va_end(ap);
    return false;
}

bool gw_admit_caller(struct gw_req *r, struct gw_admit *a)
{
    a->have_caller = gw_auth_caller(r, &a->caller);
    return a->have_caller;
}

/* The user to bill (spec §1.3 step 2 with DESIGN.md §2.10), or NULL with f filled. */
static const char *gw_admit_user(const struct gw_admit *a, const char *user_field,
                                 const char *user_name, struct gw_fail *f)
{
    const char *user = user_field != NULL && user_field[0] != '\0' ? user_field : NULL;

    if (a->caller.master) {
        if (user == NULL)
            gw_fail_set(f, 400, "user_required",
                        "When using master key, %s is required in request body", user_name);
        return user;
    }
    if (a->caller.key.user_id != NULL && a->caller.key.user_id[0] != '\0')
        return a->caller.key.user_id;
    if (user == NULL)
        gw_fail_set(f, 500, "internal_error", "API key has no associated user");
    return user;
}

/* Records a budget reset the admission performed (the writer stores it). */
static void gw_admit_note_reset(struct gw_app *app, const char *user,
                                const struct acct_budget_reset *reset)
{
    if (reset->happened)
        acct_usage_reset(app->usage, user, reset->budget_id, reset->previous_spend,
                         reset->reset_at_us, reset->next_reset_us);
}

void gw_rate_hdr_add(struct gw_req *r, const struct gw_rate_hdr *h)
{
    char v[24];

    if (h->limit <= 0)
        return;
    snprintf(v, sizeof(v), "%lld", (long long)h->limit);
    gw_reply_header(r, "X-RateLimit-Limit", v);
    snprintf(v, sizeof(v), "%lld", (long long)h->remaining);
    gw_reply_header(r, "X-RateLimit-Remaining", v);
    snprintf(v, sizeof(v), "%lld", (long long)h->reset);
    gw_reply_header(r, "X-RateLimit-Reset", v);
}

/* The prompt tokens a request is expected to use (acct_budget_reserve()'s prompt side). */
static int64_t gw_admit_prompt_tokens(const struct acct_budget_est *e)
{
    return (int64_t)((e->prompt_bytes + 3) / 4) +
           (int64_t)(e->images > 0 ? e->images : 0) * ACCT_BUDGET_IMAGE_TOKENS;
}

/*
 * The rate limits (README "Rate limits"): the user's rate_limit_rpm (spec §8.1) and the
 * caller's key's rpm_limit / tpm_limit, admitted together (a request refused by one counts on
 * none). Returns true, or false with *f filled (429 with Retry-After).
 */
static bool gw_admit_rate(struct gw_req *r, struct gw_admit *a, struct gw_fail *f)
{
    struct gw_app *app = r->w->app;
    struct acct_rate_ask asks[2] = {
        {.kind = ACCT_RATE_USER, .name = a->user, .rpm = app->cfg->rate_limit_rpm},
        {.kind = ACCT_RATE_KEY, .name = a->caller.key.id},
    };
    enum acct_rate_verdict v;
    size_t which = 0;
    int64_t retry = 1;

    if (a->have_caller && !a->caller.master) {
        asks[1].rpm = a->caller.key.rpm_limit;
        asks[1].tpm = a->caller.key.tpm_limit;
        asks[1].tokens = gw_admit_prompt_tokens(&a->est);
    }
    v = acct_rate_admit(acct_index_rate(app->index), asks, 2, util_now_us(), &which, &retry);
    if (v == ACCT_RATE_NOMEM)
        return gw_fail_set(f, 500, "internal_error", "Internal Server Error");
    if (v != ACCT_RATE_OK) {
        if (which == 0) {
            gw_metrics_rate_limit_hit(r, a->user); /* the user's rate_limit_rpm only */
            gw_fail_set(f, 429, "rate_limit_exceeded", "Rate limit exceeded");
        } else {
            gw_fail_set(f, 429, "rate_limit_exceeded", "Rate limit exceeded: key %s %lld",
                        v == ACCT_RATE_RPM ? "rpm_limit" : "tpm_limit",
                        (long long)(v == ACCT_RATE_RPM ? asks[1].rpm : asks[1].tpm));
        }
        f->retry_after = (int)(retry < 1 ? 1 : retry);
        return false;
    }
    if (asks[0].rpm > 0)
        a->rate_hdr = (struct gw_rate_hdr){asks[0].rpm, asks[0].remaining, asks[0].reset};
    a->key_tpm = asks[1].tpm > 0;
    a->key_tokens = asks[1].reserved;
    a->key_second = asks[1].second;
    return true;
}

/* Gives the key's token reservation back (the request ends before its call). */
static void gw_admit_rate_abort(struct gw_req *r, struct gw_admit *a)
{
    if (a->key_tokens > 0)
        acct_rate_settle(acct_index_rate(r->w->app->index), ACCT_RATE_KEY, a->caller.key.id,
                         a->key_second, a->key_tokens, 0, util_now_us());
    a->key_tokens = 0;
}

/* gw_admit_run() after the rate limits: price, budget, provider. */
static bool gw_admit_budget(struct gw_req *r, struct gw_admit *a, const char *model_str,
                            struct gw_fail *f)
{
    struct gw_app *app = r->w->app;
    struct acct_budget_reset reset;
    char provider[64], err[512];

    a->info = prov_split_model(model_str != NULL ? model_str : "", provider, sizeof(provider),
                               &a->model, err, sizeof(err));
    if (a->info != NULL) {
        int priced = acct_index_price_find(app->index, provider, a->model, &a->price);
        if (priced < 0)
            return gw_fail_set(f, 500, "internal_error", "Internal Server Error");
        a->priced = priced == 1;
    }
    a->reserve = acct_budget_reserve(a->priced ? &a->price : NULL, &a->est,
                                     app->cfg->budget_min_reservation_tokens);
    /* Budget first, as the reference: a blocked user learns that before a model typo. */
    switch (acct_index_admit(app->index, a->user, util_now_us(), a->reserve,
                             a->priced && a->price.input_per_million == 0 &&
                                 a->price.output_per_million == 0,
                             db_available(app->db), &reset)) {
    case ACCT_BUDGET_OK:
        break;
    case ACCT_BUDGET_NO_USER:
        return gw_fail_set(f, 404, "user_not_found", "User '%s' not found", a->user);
    case ACCT_BUDGET_BLOCKED:
        return gw_fail_set(f, 403, "user_blocked", "User '%s' is blocked", a->user);
    case ACCT_BUDGET_EXCEEDED:
        gw_admit_note_reset(app, a->user, &reset);
        gw_metrics_budget_exceeded(r, a->user);
        return gw_fail_set(f, 403, "budget_exceeded", "User '%s' has exceeded budget limit",
                           a->user);
    case ACCT_BUDGET_UNAVAILABLE:
        gw_fail_set(f, 503, "budget_unavailable",
                    "Cannot check the budget of user '%s': the database is unavailable; try "
                    "again later",
                    a->user);
        f->retry_after = 1;
        return false;
    }
    gw_admit_note_reset(app, a->user, &reset);
    a->reserved = true;
    if (a->info == NULL) {
        gw_admit_abort(r, a);
        return gw_fail_set(f, 400, "invalid_model", "%s", err);
    }
    a->conf = prov_confs_get(app->provs, a->info);
    if (!a->conf->usable) {
        gw_admit_abort(r, a);
        return gw_fail_set(f, 400, "provider_not_configured", "Provider '%s' is not configured",
                           a->info->id);
    }
    if (a->conf->problem != NULL) {
        /* Usable but unusable as configured (e.g. unreadable credentials): the gateway's fault. */
        gw_admit_abort(r, a);
        return gw_fail_set(f, 502, "provider_misconfigured", "provider '%s' is misconfigured: %s",
                           a->info->id, a->conf->problem);
    }
    return true;
}

bool gw_admit_run(struct gw_req *r, struct gw_admit *a, const char *model_str,
                  const char *user_field, const char *user_name, const json_t *est_body,
                  struct gw_fail *f)
{
    size_t mlen = model_str != NULL ? strlen(model_str) : 0;

    if (mlen > GW_ADMIT_MAX_MODEL)
        return gw_fail_set(f, 400, "invalid_model",
                           "Model name is too long: %zu bytes, at most %d are accepted", mlen,
                           GW_ADMIT_MAX_MODEL);
    if ((a->user = gw_admit_user(a, user_field, user_name, f)) == NULL)
        return false;
    if (est_body != NULL)
        acct_budget_estimate(est_body, &a->est);
    /* Rate limits after the user is known, before the budget (spec §8.1). */
    if (!gw_admit_rate(r, a, f))
        return false;
    if (!gw_admit_budget(r, a, model_str, f)) {
        gw_admit_rate_abort(r, a);
        return false;
    }
    return true;
}

void gw_admit_abort(struct gw_req *r, struct gw_admit *a)
{
    gw_admit_rate_abort(r, a);
    if (!a->reserved)
        return;
    acct_index_settle(r->w->app->index, a->user, a->reserve, 0);
    a->reserved = false;
}

void gw_admit_release(struct gw_admit *a)
{
    if (a->have_caller)
        gw_key_ref_clear(&a->caller.key);
    a->have_caller = false;
}

void gw_admit_reply(struct gw_req *r, const struct gw_fail *f)
{
    if (f->retry_after > 0) {
        char v[24];
        snprintf(v, sizeof(v), "%d", f->retry_after);
        gw_reply_header(r, "Retry-After", v);
    }
    gw_reply_error(r, f->status, f->code, f->msg);
}
