/*
 * The route table and dispatcher: one static table of { methods, pattern, handler } matched
 * against the decoded path; unknown path -> 404 JSON, known path with another method -> 405
 * JSON with Allow; CORS preflight answered here.
 */
#ifndef GW_ROUTE_H
#define GW_ROUTE_H

#include "gateway/http/gw_auth.h"

struct evhttp_request;
struct gw_req;

#define GW_ROUTE_MAX_PARAMS 2

/* Path parameters captured by a pattern's {name} segments (decoded, owned by the router). */
struct gw_params {
    int n;
    const char *v[GW_ROUTE_MAX_PARAMS];
};

typedef void gw_handler_fn(struct gw_req *r, const struct gw_params *p);

/*
 * What the route for method (enum evhttp_cmd_type) and decoded path checks of its caller;
 * GW_AUTH_NONE when no route matches.
 */
enum gw_auth_need gw_route_auth_need(int method, const char *path);

/*
 * The template of the first route whose pattern matches the decoded path, whatever its method
 * ("/v1/keys/{key_id}"), or NULL: the metrics' endpoint label of requests the dispatcher did not
 * route (framer refusals, preflights).
 */
const char *gw_route_template(const char *path);

/* One row of the route table as gw_route_each() shows it. */
typedef void gw_route_each_fn(int methods, const char *pattern, enum gw_auth_need auth, void *arg);

/*
 * Calls fn(methods mask of enum evhttp_cmd_type, pattern, auth, arg) once per route of the table,
 * in table order, whether or not the configuration switches it off (the OpenAPI document's test).
 */
void gw_route_each(gw_route_each_fn *fn, void *arg);

/*
 * evhttp generic callback; arg is the struct gw_worker of this thread. Requests marked by the
 * framer (gw_conn_internal_status()) get the framer's reject or refusal; a client's request for
 * GW_CONN_REJECT_PREFIX paths is an unknown path (404).
 */
void gw_route_dispatch(struct evhttp_request *ev, void *arg);

#endif
