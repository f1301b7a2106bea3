/*
 * Health probes (spec §1.11): /health and /health/liveness answer without touching anything;
 * /health/readiness really queries the database (asynchronously) and answers 503 with the
 * reference body when it cannot, or while start-up still waits for the database.
 */
#include <event2/http.h>

#include "db/db.h"
#include "gateway/gw_app.h"
#include "gateway/gw_handlers.h"
#include "gateway/http/gw_reply.h"
#include "gateway/http/gw_req.h"

void gw_health(struct gw_req *r, const struct gw_params *p)
{
    (void)p;
    gw_reply_json(r, 200, json_pack("{s:s}", "status", "healthy"));
}

void gw_health_liveness(struct gw_req *r, const struct gw_params *p)
{
    (void)p;
    gw_reply_json(r, 200, json_string("I'm alive!"));
}

static void gw_readiness_done(const struct db_result *res, void *arg)
{
    struct gw_req *r = arg;

    if (res->status == 0 && res->nrows == 1) {
        gw_reply_json(r, 200,
                      json_pack("{s:s, s:s, s:s}", "status", "healthy", "database", "connected",
                                "version", GW_VERSION));
        return;
    }
    gw_reply_error_obj(r, 503, "database_unavailable", "Database unavailable",
                       json_pack("{s:s, s:s, s:s}", "status", "unhealthy", "database",
                                 "unavailable", "version", GW_VERSION));
}

void gw_health_readiness(struct gw_req *r, const struct gw_params *p)
{
    struct gw_app *app = r->w->app;
    struct db_result fail = {.status = -1, .error = "database closing"};

    (void)p;
    if (!atomic_load(&app->ready)) { /* start-up still waiting for the database */
        gw_readiness_done(&fail, r);
        return;
    }
    gw_req_watch_close(r);
    if (db_exec(app->db, r->w->base, DB_Q_PING, NULL, gw_readiness_done, r) < 0)
        gw_readiness_done(&fail, r);
}
