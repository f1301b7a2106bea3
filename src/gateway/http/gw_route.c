/*
 * Routing: the one table of endpoints, matching of the decoded path ({name} captures one
 * segment), 404/405 JSON answers, and the CORS preflight (answered before routing, without the
 * security headers, as the reference's middleware order does).
 */
#include "gateway/http/gw_route.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "acct/acct_index.h"
#include "gateway/gw_app.h"
#include "gateway/gw_handlers.h"
#include "gateway/http/gw_auth.h"
#include "gateway/http/gw_conn.h"
#include "gateway/http/gw_reply.h"
#include "gateway/http/gw_req.h"
#include "gateway/metrics/gw_metrics.h"
#include "log.h"

struct gw_route {
    int methods; /* mask of enum evhttp_cmd_type */
    const char *pattern;
    gw_handler_fn *handler;
    bool early;             /* served before start-up is complete (the database may be away) */
    enum gw_auth_need auth; /* what its handler checks first (gw_early.c checks it earlier) */
};

#define M GW_AUTH_MASTER
#define K GW_AUTH_KEY
#define N GW_AUTH_NONE

static const struct gw_route gw_routes[] = {
    {EVHTTP_REQ_GET, "/", gw_root, true, N},
    {EVHTTP_REQ_GET, "/health", gw_health, true, N},
    {EVHTTP_REQ_GET, "/health/liveness", gw_health_liveness, true, N},
    {EVHTTP_REQ_GET, "/health/readiness", gw_health_readiness, true, N},
    {EVHTTP_REQ_GET, "/metrics", gw_metrics_serve, true, N}, /* with enable_metrics only */
    {EVHTTP_REQ_POST, "/v1/chat/completions", gw_chat_completions, false, K},
    {EVHTTP_REQ_POST, "/v1/messages", gw_messages, false, K},
    {EVHTTP_REQ_POST, "/v1/embeddings", gw_embeddings, false, K},
    {EVHTTP_REQ_POST, "/v1/keys", gw_keys_create, false, M},
    {EVHTTP_REQ_GET, "/v1/keys", gw_keys_list, false, M},
    {EVHTTP_REQ_GET, "/v1/keys/{key_id}", gw_keys_get, false, M},
    {EVHTTP_REQ_PATCH, "/v1/keys/{key_id}", gw_keys_update, false, M},
    {EVHTTP_REQ_DELETE, "/v1/keys/{key_id}", gw_keys_delete, false, M},
    {EVHTTP_REQ_POST, "/v1/users", gw_users_create, false, M},
    {EVHTTP_REQ_GET, "/v1/users", gw_users_list, false, M},
    {EVHTTP_REQ_GET, "/v1/users/{user_id}", gw_users_get, false, M},
    {EVHTTP_REQ_PATCH, "/v1/users/{user_id}", gw_users_update, false, M},
    {EVHTTP_REQ_DELETE, "/v1/users/{user_id}", gw_users_delete, false, M},
    {EVHTTP_REQ_GET, "/v1/users/{user_id}/usage", gw_users_usage, false, M},
    {EVHTTP_REQ_GET, "/v1/usage", gw_usage_list, false, M},
    {EVHTTP_REQ_GET, "/v1/usage/summary", gw_usage_summary, false, M},
    {EVHTTP_REQ_POST, "/v1/budgets", gw_budgets_create, false, M},
    {EVHTTP_REQ_GET, "/v1/budgets", gw_budgets_list, false, M},
    {EVHTTP_REQ_GET, "/v1/budgets/{budget_id}", gw_budgets_get, false, M},
    {EVHTTP_REQ_PATCH, "/v1/budgets/{budget_id}", gw_budgets_update, false, M},
    {EVHTTP_REQ_DELETE, "/v1/budgets/{budget_id}", gw_budgets_delete, false, M},
    {EVHTTP_REQ_POST, "/v1/pricing", gw_pricing_set, false, M},
    {EVHTTP_REQ_GET, "/v1/pricing", gw_pricing_list, false, N},
    {EVHTTP_REQ_GET, "/v1/pricing/{model_key}", gw_pricing_get, false, N},
    {EVHTTP_REQ_DELETE, "/v1/pricing/{model_key}", gw_pricing_delete, false, M},
    {EVHTTP_REQ_GET, "/v1/models", gw_models_list, false, K},
    {EVHTTP_REQ_GET, "/v1/models/{*model_id}", gw_models_get, false, K},
    /* The embedded web assets (gw_static.c), with enable_ui / enable_docs only. */
    {EVHTTP_REQ_GET | EVHTTP_REQ_HEAD, "/ui", gw_static_ui, true, N},
    {EVHTTP_REQ_GET | EVHTTP_REQ_HEAD, "/ui/", gw_static_ui, true, N},
    {EVHTTP_REQ_GET | EVHTTP_REQ_HEAD, "/ui/{*path}", gw_static_ui, true, N},
    {EVHTTP_REQ_GET | EVHTTP_REQ_HEAD, "/docs", gw_static_docs, true, N},
    {EVHTTP_REQ_GET | EVHTTP_REQ_HEAD, "/docs/", gw_static_docs, true, N},
    {EVHTTP_REQ_GET | EVHTTP_REQ_HEAD, "/docs/{*path}", gw_static_docs, true, N},
    {EVHTTP_REQ_GET | EVHTTP_REQ_HEAD, "/openapi.json", gw_static_docs, true, N},
};

#undef M
#undef K
#undef N

#define GW_NROUTES (sizeof(gw_routes) / sizeof(gw_routes[0]))

/* Matches path against pattern; on success fills p with pointers into buf (a copy of path). */
static bool gw_route_match(const char *pattern, const char *path, char *buf, size_t buflen,
                           struct gw_params *p)
{
    const char *pp = pattern, *sp = path;
    size_t used = 0;

    p->n = 0;
    while (*pp != '\0') {
        if (*pp == '{') {
            const char *close = strchr(pp, '}');
            /* {*name} takes the rest of the path, slashes included (FastAPI's :path). */
            size_t seg = pp[1] == '*' ? strlen(sp) : strcspn(sp, "/");
            if (close == NULL || seg == 0 || p->n >= GW_ROUTE_MAX_PARAMS || used + seg + 1 > buflen)
                return false;
            memcpy(buf + used, sp, seg);
            buf[used + seg] = '\0';
            p->v[p->n++] = buf + used;
            used += seg + 1;
            pp = close + 1;
            sp += seg;
            continue;
        }
        if (*pp != *sp)
            return false;
        pp++;
        sp++;
    }
    return *sp == '\0';
}

const char *gw_route_template(const char *path)
{
    char buf[512];
    struct gw_params params;

    for (size_t i = 0; i < GW_NROUTES; i++)
        if (gw_route_match(gw_routes[i].pattern, path, buf, sizeof(buf), &params))
            return gw_routes[i].pattern;
    return NULL;
}

void gw_route_each(gw_route_each_fn *fn, void *arg)
{
    for (size_t i = 0; i < GW_NROUTES; i++)
        fn(gw_routes[i].methods, gw_routes[i].pattern, gw_routes[i].auth, arg);
}

enum gw_auth_need gw_route_auth_need(int method, const char *path)
{
    char buf[512];
    struct gw_params params;

    for (size_t i = 0; i < GW_NROUTES; i++) {
        const struct gw_route *rt = &gw_routes[i];
        if ((rt->methods & method) && gw_route_match(rt->pattern, path, buf, sizeof(buf), &params))
            return rt->auth;
    }
    return GW_AUTH_NONE;
}

/*
 * The framer refused this request from its head (gw_conn.c, gw_early.c): the route's own check
 * gives the exact answer. Should it pass meanwhile (a key created since), the body is gone: 401.
 */
static void gw_refuse(struct gw_req *r)
{
    struct gw_caller caller;
    enum gw_auth_need need = gw_route_auth_need(r->method, r->path);

    if (need == GW_AUTH_MASTER && !gw_auth_master(r))
        return;
    if (need == GW_AUTH_KEY) {
        if (!gw_auth_caller(r, &caller))
            return;
        gw_key_ref_clear(&caller.key);
    }
    gw_reply_error(r, 401, "invalid_api_key", "Invalid API key");
}

/* Answers the framer's synthetic requests (gw_conn.h): its rejects and early refusals. */
static void gw_reject(struct gw_req *r, int status)
{
    char msg[128];

    if (status != 401 && status != 503)
        r->unread = true; /* its request line was never handed on: log "-", not our route */
    switch (status) {
    case 401:
    case 503:
        gw_refuse(r);
        return;
    case 408:
        gw_reply_error(r, 408, "request_timeout",
                       "Request timeout: the request was not received "
                       "in time");
        return;
    case 413:
        snprintf(msg, sizeof(msg), "Request body too large (limit %zu bytes)",
                 r->w->app->limits.max_body_size);
        gw_reply_error(r, 413, "request_too_large", msg);
        return;
    case 431:
        snprintf(msg, sizeof(msg), "Request header fields too large (limit %zu bytes)",
                 r->w->app->limits.max_header_size);
        gw_reply_error(r, 431, "headers_too_large", msg);
        return;
    case 501:
        gw_reply_error(r, 501, "method_not_implemented", "Method Not Implemented");
        return;
    case 505:
        gw_reply_error(r, 505, "http_version_not_supported",
                       "HTTP Version Not Supported: use HTTP/1.1");
        return;
    default:
        gw_reply_error(r, 400, "bad_request", "Malformed HTTP request");
        return;
    }
}

/* Appends ", item" (or "item" to an empty list) when cond holds; truncates safely. */
static void gw_list_add(char *list, size_t size, bool cond, const char *item)
{
    size_t n = strlen(list);

    if (cond)
        snprintf(list + n, size - n, "%s%s", n ? ", " : "", item);
}

static const char gw_cors_methods[] = "GET, POST, PATCH, DELETE, OPTIONS";
/* Starlette's safelisted headers plus the reference's, sorted as Python sorts them. */
static const char gw_cors_headers[] = "Accept, Accept-Language, AnyLLM-Key, Authorization, "
                                      "Content-Language, Content-Type, X-AnyLLM-Key, x-api-key";

static bool gw_cors_header_allowed(const char *h, size_t n)
{
    static const char *const allowed[] = {"accept",        "accept-language",  "anyllm-key",
                                          "authorization", "content-language", "content-type",
                                          "x-anyllm-key",  "x-api-key"};

    for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
        if (strlen(allowed[i]) == n && strncasecmp(allowed[i], h, n) == 0)
            return true;
    return false;
}

/*
 * Access-Control-Request-Method names one method (Fetch standard): after trimming spaces and
 * tabs it must equal one of gw_cors_methods exactly. Methods are case-sensitive (RFC 9110 9.1),
 * as in Starlette's `requested_method not in allow_methods`; a substring ("OST") or a list
 * ("GET, POST") is no method.
 */
static bool gw_cors_method_allowed(const char *method)
{
    const char *b = method, *e = method + strlen(method), *s = gw_cors_methods;

    while (b < e && (*b == ' ' || *b == '\t'))
        b++;
    while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    while (*s != '\0') {
        size_t n = strcspn(s, ",");
        if (n == (size_t)(e - b) && n > 0 && memcmp(s, b, n) == 0)
            return true;
        s += n;
        while (*s == ',' || *s == ' ')
            s++;
    }
    return false;
}

/* The preflight answer of Starlette's CORSMiddleware (allow_methods/headers of the reference). */
static void gw_cors_preflight(struct gw_req *r, const char *origin, const char *method,
                              const char *req_headers)
{
    const struct cfg *cfg = r->w->app->cfg;
    struct evkeyvalq *out = evhttp_request_get_output_headers(r->ev);
    bool allow_all = false, origin_ok = false, method_ok, headers_ok = true;
    char failures[64] = "";
    struct evbuffer *buf;
    int status;

    for (size_t i = 0; i < cfg->n_cors_allow_origins; i++) {
        if (strcmp(cfg->cors_allow_origins[i], "*") == 0)
            allow_all = true;
        if (strcmp(cfg->cors_allow_origins[i], origin) == 0)
            origin_ok = true;
    }
    origin_ok = origin_ok || allow_all;
    method_ok = gw_cors_method_allowed(method);
    if (req_headers != NULL) {
        const char *s = req_headers;
        while (*s != '\0') {
            size_t n = strcspn(s, ",");
            const char *b = s, *e = s + n;
            while (b < e && (*b == ' ' || *b == '\t'))
                b++;
            while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
                e--;
            if (!gw_cors_header_allowed(b, (size_t)(e - b))) {
                headers_ok = false;
                break;
            }
            s += n + (s[n] == ',');
        }
    }
    evhttp_add_header(out, "X-Request-Id", r->rid);
    if (allow_all) {
        evhttp_add_header(out, "Access-Control-Allow-Origin", "*");
    } else {
        evhttp_add_header(out, "Vary", "Origin");
        if (origin_ok)
            evhttp_add_header(out, "Access-Control-Allow-Origin", origin);
    }
    evhttp_add_header(out, "Access-Control-Allow-Methods", gw_cors_methods);
    evhttp_add_header(out, "Access-Control-Max-Age", "600");
    evhttp_add_header(out, "Access-Control-Allow-Headers", gw_cors_headers);
    if (!allow_all)
        evhttp_add_header(out, "Access-Control-Allow-Credentials", "true");
    evhttp_add_header(out, "Content-Type", "text/plain; charset=utf-8");
    gw_list_add(failures, sizeof(failures), !origin_ok, "origin");
    gw_list_add(failures, sizeof(failures), !method_ok, "method");
    gw_list_add(failures, sizeof(failures), !headers_ok, "headers");
    buf = evbuffer_new();
    status = failures[0] ? 400 : 200;
    if (buf != NULL) {
        if (failures[0])
            evbuffer_add_printf(buf, "Disallowed CORS %s", failures);
        else
            evbuffer_add(buf, "OK", 2);
    }
    r->status = status;
    evhttp_send_reply(r->ev, status, status == 200 ? "OK" : "Bad Request", buf);
    r->ev = NULL;
    evbuffer_free(buf);
    gw_req_finish(r);
}

/* Routes switched off in the configuration: their paths are unknown (404, never 405). */
static bool gw_route_off(const struct gw_route *rt, const struct gw_app *app)
{
    if (rt->handler == gw_metrics_serve)
        return app->mx == NULL;
    if (rt->handler == gw_static_ui)
        return !app->cfg->enable_ui;
    if (rt->handler == gw_static_docs)
        return !app->cfg->enable_docs;
    return false;
}

/* Decodes the request path; NULL when it is not a clean C string (e.g. "%00"). */
static char *gw_decode_path(struct evhttp_request *ev)
{
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(ev);
    const char *raw = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
    size_t len = 0;
    char *path;

    if (raw == NULL || *raw == '\0')
        raw = "/";
    path = evhttp_uridecode(raw, 0, &len);
    if (path != NULL && strlen(path) != len) {
        free(path);
        return NULL;
    }
    return path;
}

/*
 * Out of memory before a struct gw_req exists: the usual JSON 500, built without allocating
 * more than libevent itself needs (a static body by reference).
 */
static void gw_route_oom(struct evhttp_request *ev)
{
    static const char body[] = "{\"detail\":\"Internal Server Error\",\"error\":{\"message\":"
                               "\"Internal Server Error\",\"type\":\"server_error\","
                               "\"code\":\"internal_error\"}}";
    struct evbuffer *buf = evbuffer_new();

    LOG_ERR("out of memory while routing a request");
    if (buf != NULL)
        evbuffer_add_reference(buf, body, sizeof(body) - 1, NULL, NULL);
    evhttp_add_header(evhttp_request_get_output_headers(ev), "Content-Type", "application/json");
    evhttp_send_reply(ev, 500, "Internal Server Error", buf);
    if (buf != NULL)
        evbuffer_free(buf);
}

void gw_route_dispatch(struct evhttp_request *ev, void *arg)
{
    struct gw_worker *w = arg;
    struct evkeyvalq *in = evhttp_request_get_input_headers(ev);
    char *path = gw_decode_path(ev);
    bool bad_path = path == NULL;
    struct gw_req *r;
    struct gw_params params;
    char small[512], *parambuf = small; /* a copy of the path's parameters */
    size_t plen;
    char allow[128] = "";
    const char *origin;
    int internal;

    if (bad_path && (path = strdup("/")) == NULL) {
        gw_route_oom(ev);
        return;
    }
    r = gw_req_new(ev, w, path); /* frees path when it fails */
    if (r == NULL) {
        gw_route_oom(ev);
        return;
    }
    internal = gw_conn_internal_status(in);
    if (internal > 0) {
        gw_reject(r, internal);
        return;
    }
    if (bad_path) {
        gw_reply_error(r, 400, "invalid_path", "Invalid request path");
        return;
    }
    origin = evhttp_find_header(in, "Origin");
    if (r->method == EVHTTP_REQ_OPTIONS && origin != NULL && w->app->cfg->n_cors_allow_origins &&
        evhttp_find_header(in, "Access-Control-Request-Method") != NULL) {
        gw_cors_preflight(r, origin, evhttp_find_header(in, "Access-Control-Request-Method"),
                          evhttp_find_header(in, "Access-Control-Request-Headers"));
        return;
    }
    /* Parameters are cut from the path, one NUL each: never longer than this (no cut). */
    plen = strlen(r->path) + GW_ROUTE_MAX_PARAMS + 1;
    if (plen > sizeof(small) && (parambuf = malloc(plen)) == NULL) {
        gw_reply_error(r, 500, "internal_error", "Internal Server Error");
        return;
    }
    for (size_t i = 0; i < GW_NROUTES; i++) {
        const struct gw_route *rt = &gw_routes[i];
        if (!gw_route_match(rt->pattern, r->path, parambuf, plen, &params) ||
            gw_route_off(rt, w->app))
            continue;
        if (r->route == NULL)
            r->route = rt->pattern;
        if (rt->methods & r->method) {
            if (!rt->early && !atomic_load(&w->app->ready)) {
                gw_reply_header(r, "Retry-After", "1");
                gw_reply_error(r, 503, "service_starting",
                               "The gateway is starting: waiting for the database");
                goto out;
            }
            rt->handler(r, &params); /* r may be gone after this */
            goto out;
        }
        for (int m = 1; m <= EVHTTP_REQ_PATCH; m <<= 1)
            gw_list_add(allow, sizeof(allow),
                        (rt->methods & m) && strstr(allow, gw_method_name(m)) == NULL,
                        gw_method_name(m));
    }
    if (allow[0] != '\0') {
        gw_reply_header(r, "Allow", allow);
        gw_reply_error(r, 405, "method_not_allowed", "Method Not Allowed");
        goto out;
    }
    gw_reply_error(r, 404, "not_found", "Not Found");
out:
    if (parambuf != small)
        free(parambuf);
}
