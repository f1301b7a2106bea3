/*
 * Model pricing administration (spec §1.10): upsert (master key) with the model key normalised
 * to "<provider>:<model>", unauthenticated listing and exact-key lookup, and delete (master
 * key). A malformed key or unknown provider is a 400 (DESIGN.md §2.2), not the reference's 500.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "acct/acct_index.h"
#include "db/db.h"
#include "gateway/admin/gw_rows.h"
#include "gateway/gw_app.h"
#include "gateway/gw_handlers.h"
#include "gateway/http/gw_auth.h"
#include "gateway/http/gw_reply.h"
#include "gateway/http/gw_req.h"
#include "gateway/http/gw_valid.h"
#include "providers/prov_registry.h"
#include "util.h"

static const struct gw_field gw_price_fields[] = {
    {"model_key", GW_F_STR, GW_F_REQUIRED, 0},
    {"input_price_per_million", GW_F_NUM, GW_F_REQUIRED | GW_F_GE, 0},
    {"output_price_per_million", GW_F_NUM, GW_F_REQUIRED | GW_F_GE, 0},
};

/* One pending pricing query: the request plus the model key (the router's copy dies on return). */
struct gw_price_op {
    struct gw_req *r;
    char key[];
};

/* Returns owned op (free()) for r and key, or NULL after replying 500. */
static struct gw_price_op *gw_price_op_new(struct gw_req *r, const char *key)
{
    size_t n = strlen(key);
    struct gw_price_op *op = malloc(sizeof(*op) + n + 1);

    if (op == NULL) {
        gw_reply_error(r, 500, "internal_error", "Internal Server Error");
        return NULL;
    }
    op->r = r;
    memcpy(op->key, key, n + 1);
    return op;
}

static void gw_price_not_found(struct gw_req *r, const char *key)
{
    gw_reply_errorf(r, 404, "pricing_not_found", "Pricing for model '%s' not found", key);
}

static void gw_price_set_done(const struct db_result *res, void *arg)
{
    struct gw_req *r = arg;

    const char *in, *out;

    if (res->status != 0 || res->nrows != 1) {
        gw_reply_db_error(r, res);
        return;
    }
    in = gw_cell(res, 0, 1);
    out = gw_cell(res, 0, 2);
    /* Write-through: the next lookup sees the committed price. */
    if (acct_index_price_set(r->w->app->index, gw_cell(res, 0, 0), in ? strtod(in, NULL) : 0,
                             out ? strtod(out, NULL) : 0, gw_cell(res, 0, 3)) < 0) {
        gw_reply_error(r, 500, "internal_error", "Internal Server Error");
        return;
    }
    gw_reply_json(r, 200, gw_row_json(res, 0, gw_cols_price, GW_NCOLS(gw_cols_price)));
}

void gw_pricing_set(struct gw_req *r, const struct gw_params *p)
{
    struct db_params q = {.n = 4};
    char provider[128], err[384], now[UTIL_TS_LEN];
    const char *model = NULL;
    char *key = NULL;
    json_t *body = NULL;

    (void)p;
    if (!gw_auth_master(r))
        return;
    if (!gw_valid_body_json(r, &body))
        return;
    if (!gw_valid_fields(r, body, gw_price_fields, GW_NCOLS(gw_price_fields)))
        goto out;
    key = strdup(json_string_value(json_object_get(body, "model_key")));
    if (key == NULL) {
        gw_reply_error(r, 500, "internal_error", "Internal Server Error");
        goto out;
    }
    if (prov_split_model(key, provider, sizeof(provider), &model, err, sizeof(err)) == NULL) {
        gw_reply_error(r, 400, "invalid_model", err);
        goto out;
    }
    /* "<provider><sep><model>" -> "<provider>:<model>": same length, only the separator moves. */
    key[strlen(provider)] = ':';
    util_ts_format(now, sizeof(now), util_now_us());
    q.v[0] = (struct db_value){.type = DB_T_TEXT, .u.s = key};
    q.v[1] = (struct db_value){
        .type = DB_T_REAL,
        .u.d = json_number_value(json_object_get(body, "input_price_per_million"))};
    q.v[2] = (struct db_value){
        .type = DB_T_REAL,
        .u.d = json_number_value(json_object_get(body, "output_price_per_million"))};
    q.v[3] = (struct db_value){.type = DB_T_TEXT, .u.s = now};
    gw_db_start(r, DB_Q_PRICE_UPSERT, &q, gw_price_set_done, r);
out:
    free(key);
    json_decref(body);
}

void gw_pricing_list(struct gw_req *r, const struct gw_params *p)
{
    (void)p;
    gw_list_page(r, DB_Q_PRICE_LIST, gw_cols_price, GW_NCOLS(gw_cols_price));
}

static void gw_price_get_done(const struct db_result *res, void *arg)
{
    struct gw_price_op *op = arg;

    if (res->status != 0)
        gw_reply_db_error(op->r, res);
    else if (res->nrows == 0)
        gw_price_not_found(op->r, op->key);
    else
        gw_reply_json(op->r, 200, gw_row_json(res, 0, gw_cols_price, GW_NCOLS(gw_cols_price)));
    free(op);
}

void gw_pricing_get(struct gw_req *r, const struct gw_params *p)
{
    struct db_params q = {.n = 1};
    struct gw_price_op *op = gw_price_op_new(r, p->v[0]);

    if (op == NULL)
        return;
    q.v[0] = (struct db_value){.type = DB_T_TEXT, .u.s = op->key};
    gw_db_start(r, DB_Q_PRICE_GET, &q, gw_price_get_done, op);
}

static void gw_price_delete_done(const struct db_result *res, void *arg)
{
    struct gw_price_op *op = arg;

    if (res->status != 0)
        gw_reply_db_error(op->r, res);
    else if (res->nrows == 0)
        gw_price_not_found(op->r, op->key);
    else {
        acct_index_price_remove(op->r->w->app->index, op->key);
        gw_reply_json(op->r, 204, NULL);
    }
    free(op);
}

void gw_pricing_delete(struct gw_req *r, const struct gw_params *p)
{
    struct db_params q = {.n = 1};
    struct gw_price_op *op;

    if (!gw_auth_master(r))
        return;
    op = gw_price_op_new(r, p->v[0]);
    if (op == NULL)
        return;
    q.v[0] = (struct db_value){.type = DB_T_TEXT, .u.s = op->key};
    gw_db_start(r, DB_Q_PRICE_DELETE, &q, gw_price_delete_done, op);
}
