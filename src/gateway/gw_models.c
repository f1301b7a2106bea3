/*
 * OpenAI-compatible model listing (spec §1.6, virtual or master key): one model object per
 * model_pricing row, sorted by model_key, and exact-key lookup. Provider catalogues are not
 * listed. The rows come from the database until the in-memory pricing cache exists.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "db/db.h"
#include "gateway/gw_app.h"
#include "gateway/gw_auth.h"
#include "gateway/gw_handlers.h"
#include "gateway/gw_reply.h"
#include "gateway/gw_req.h"
#include "gateway/gw_rows.h"
#include "gateway/gw_valid.h"

/* Column indexes in DB_COLS_PRICE. */
enum { GW_MODEL_COL_KEY = 0, GW_MODEL_COL_CREATED = 3 };

/* One pending lookup: the request plus the model id (the router's copy dies on return). */
struct gw_model_op {
    struct gw_req *r;
    char id[];
};

/*
 * ModelObject of one pricing row: id = model_key, created = unix seconds of created_at,
 * owned_by = the text before the first ':' ("unknown" without one, e.g. legacy "a/b" keys).
 */
static json_t *gw_model_json(const struct db_result *res, size_t row)
{
    const char *key = gw_cell(res, row, GW_MODEL_COL_KEY);
    const char *created = gw_cell(res, row, GW_MODEL_COL_CREATED);
    const char *colon;
    long long us = 0;
    json_t *o;

    if (key == NULL)
        key = "";
    if (created == NULL || gw_valid_parse_datetime(created, &us) < 0)
        us = 0;
    colon = strchr(key, ':');
    o = json_object();
    json_object_set_new(o, "id", json_string(key));
    json_object_set_new(o, "object", json_string("model"));
    /* Python's int(dt.timestamp()) truncates toward zero, as C division does. */
    json_object_set_new(o, "created", json_integer((json_int_t)(us / 1000000LL)));
    json_object_set_new(o, "owned_by",
                        colon != NULL ? json_stringn(key, (size_t)(colon - key))
                                      : json_string("unknown"));
    return o;
}

static void gw_models_list_done(const struct db_result *res, void *arg)
{
    struct gw_req *r = arg;
    json_t *data;

    if (res->status != 0) {
        gw_reply_db_error(r, res);
        return;
    }
    data = json_array();
    for (size_t i = 0; i < res->nrows; i++)
        json_array_append_new(data, gw_model_json(res, i));
    gw_reply_json(r, 200, json_pack("{s:s, s:o}", "object", "list", "data", data));
}

void gw_models_list(struct gw_req *r, const struct gw_params *p)
{
    struct gw_caller c;

    (void)p;
    if (!gw_auth_caller(r, &c))
        return;
    gw_db_start(r, DB_Q_PRICE_ALL, NULL, gw_models_list_done, r);
}

static void gw_models_get_done(const struct db_result *res, void *arg)
{
    struct gw_model_op *op = arg;

    if (res->status != 0) {
        gw_reply_db_error(op->r, res);
    } else if (res->nrows == 0) {
        gw_reply_errorf(op->r, 404, "model_not_found", "Model '%s' not found", op->id);
    } else {
        gw_reply_json(op->r, 200, gw_model_json(res, 0));
    }
    free(op);
}

void gw_models_get(struct gw_req *r, const struct gw_params *p)
{
    struct db_params q = {.n = 1};
    struct gw_model_op *op;
    struct gw_caller c;
    size_t n;

    if (!gw_auth_caller(r, &c))
        return;
    n = strlen(p->v[0]);
    op = malloc(sizeof(*op) + n + 1);
    if (op == NULL) {
        gw_reply_error(r, 500, "internal_error", "Internal Server Error");
        return;
    }
    op->r = r;
    memcpy(op->id, p->v[0], n + 1);
    q.v[0] = (struct db_value){.type = DB_T_TEXT, .u.s = op->id};
    gw_db_start(r, DB_Q_PRICE_GET, &q, gw_models_get_done, op);
}
