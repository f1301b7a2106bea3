/*
 * Authentication of callers: token extraction with the reference's header rules and
 * messages, and the master-key check.
 */
#include "gateway/http/gw_auth.h"

#include <string.h>

#include <event2/http.h>

#include "gateway/gw_app.h"
#include "gateway/http/gw_reply.h"
#include "gateway/http/gw_req.h"
#include "gateway/metrics/gw_metrics.h"
#include "util.h"
#include "vkey.h"

static const char gw_auth_missing[] = "Missing X-AnyLLM-Key or Authorization header";

const char *const gw_auth_headers[GW_AUTH_NHEADERS] = {"AnyLLM-Key", "X-AnyLLM-Key",
                                                       "Authorization", "x-api-key"};

const char *gw_auth_pick(const char *const vals[GW_AUTH_NHEADERS], const char **err)
{
    const char *v = NULL;

    /* The first three carry "Bearer <token>"; x-api-key the raw token. */
    for (size_t i = 0; i < GW_AUTH_NHEADERS - 1; i++) {
        v = vals[i];
        if (v != NULL && v[0] != '\0')
            break;
        v = NULL;
    }
    if (v != NULL) {
        if (strncmp(v, "Bearer ", 7) != 0) {
            *err = "Invalid header format. Expected 'Bearer <token>'";
            return NULL;
        }
        return v + 7;
    }
    v = vals[GW_AUTH_NHEADERS - 1];
    if (v != NULL && v[0] != '\0')
        return v;
    *err = gw_auth_missing;
    return NULL;
}

/* The auth-failure metric's reason of a token gw_auth_pick() refused with err. */
static const char *gw_auth_pick_reason(const char *err)
{
    return err == gw_auth_missing ? "missing_credentials" : "invalid_format";
}

const char *gw_auth_token(const struct evkeyvalq *headers, const char **err)
{
    struct evkeyvalq *h = (struct evkeyvalq *)headers;
    const char *vals[GW_AUTH_NHEADERS];

    for (size_t i = 0; i < GW_AUTH_NHEADERS; i++)
        vals[i] = evhttp_find_header(h, gw_auth_headers[i]);
    return gw_auth_pick(vals, err);
}

int gw_auth_early(const struct gw_app *app, enum gw_auth_need need,
                  const char *const vals[GW_AUTH_NHEADERS])
{
    const char *err = NULL, *mk = app->cfg->master_key, *token;
    char buf[128], hash[SHA256_HEX_LEN];
    struct gw_key_ref ref = {0};
    int st;

    if (need == GW_AUTH_NONE)
        return 0;
    if (need == GW_AUTH_MASTER && mk == NULL)
        return 503;
    token = gw_auth_pick(vals, &err);
    if (token == NULL)
        return 401;
    if (mk != NULL && vkey_ct_equal(token, mk))
        return 0;
    if (need == GW_AUTH_MASTER || vkey_format_error(token, buf, sizeof(buf)) != NULL)
        return 401;
    /* A key that passes is recorded as used now, as the handler does right after. Out of memory
     * is the handler's to answer (500), not a refusal. */
    st = acct_index_key_check(app->index, vkey_hash(token, hash), util_now_us(), &ref);
    gw_key_ref_clear(&ref);
    return st == GW_KEY_OK || st == GW_KEY_NOMEM ? 0 : 401;
}

bool gw_auth_is_master(const struct gw_req *r, const char *token)
{
    const char *mk = r->w->app->cfg->master_key;

    return mk != NULL && token != NULL && vkey_ct_equal(token, mk);
}

bool gw_auth_master(struct gw_req *r)
{
    const char *err = NULL, *token;

    if (r->w->app->cfg->master_key == NULL) {
        gw_reply_error(r, 503, "master_key_not_configured",
                       "Master key not configured. Set GATEWAY_MASTER_KEY environment variable.");
        return false;
    }
    token = gw_auth_token(evhttp_request_get_input_headers(r->ev), &err);
    if (token == NULL) {
        gw_metrics_auth_failure(r, gw_auth_pick_reason(err));
        gw_reply_error(r, 401, "unauthorized", err);
        return false;
    }
    if (!gw_auth_is_master(r, token)) {
        gw_reply_error(r, 401, "invalid_master_key", "Invalid master key");
        return false;
    }
    return true;
}

bool gw_auth_caller(struct gw_req *r, struct gw_caller *c)
{
    const char *err = NULL, *token, *why;
    char buf[128], msg[192], hash[SHA256_HEX_LEN];

    memset(c, 0, sizeof(*c));
    token = gw_auth_token(evhttp_request_get_input_headers(r->ev), &err);
    if (token == NULL) {
        gw_metrics_auth_failure(r, gw_auth_pick_reason(err));
        gw_reply_error(r, 401, "unauthorized", err);
        return false;
    }
    if (gw_auth_is_master(r, token)) {
        c->master = true;
        return true;
    }
    why = vkey_format_error(token, buf, sizeof(buf));
    if (why != NULL) {
        snprintf(msg, sizeof(msg), "Invalid API key format: %s", why);
        gw_metrics_auth_failure(r, "invalid_format");
        gw_reply_error(r, 401, "invalid_api_key", msg);
        return false;
    }
    switch (
        acct_index_key_check(r->w->app->index, vkey_hash(token, hash), util_now_us(), &c->key)) {
    case GW_KEY_OK:
        return true;
    case GW_KEY_INACTIVE:
        gw_metrics_auth_failure(r, "inactive_key");
        gw_reply_error(r, 401, "inactive_api_key", "API key is inactive");
        return false;
    case GW_KEY_EXPIRED:
        gw_metrics_auth_failure(r, "expired_key");
        gw_reply_error(r, 401, "expired_api_key", "API key has expired");
        return false;
    case GW_KEY_NOMEM:
        gw_reply_error(r, 500, "internal_error", "Internal Server Error");
        return false;
    default:
        gw_metrics_auth_failure(r, "invalid_key");
        gw_reply_error(r, 401, "invalid_api_key", "Invalid API key");
        return false;
    }
}
