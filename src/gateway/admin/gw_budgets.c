/*
 * Budget administration (spec §1.9, master key): create, list, read, partial update and hard
 * delete of budgets. Deleting a budget unassigns its users in the same transaction; a budget
 * still referenced by budget_reset_logs cannot be deleted (500 "Database error", as the
 * reference).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "acct/acct_budget.h"
#include "acct/acct_index.h"
#include "db/db.h"
#include "gateway/admin/gw_rows.h"
#include "gateway/gw_app.h"
#include "gateway/gw_handlers.h"
#include "gateway/http/gw_auth.h"
#include "gateway/http/gw_reply.h"
#include "gateway/http/gw_req.h"
#include "gateway/http/gw_valid.h"
#include "util.h"

/* CreateBudgetRequest and UpdateBudgetRequest have the same fields and constraints. */
static const struct gw_field gw_budget_fields[] = {
    {"max_budget", GW_F_NUM, GW_F_NULLABLE | GW_F_GE, 0},
    {"budget_duration_sec", GW_F_INT, GW_F_NULLABLE | GW_F_GT, 0},
};

/*
 * budget_duration_sec beyond ACCT_BUDGET_MAX_DURATION_SEC (the table checks > 0): replies 422 in
 * the reference's shape (pydantic's le constraint) and returns false.
 */
static bool gw_budget_valid_duration(struct gw_req *r, json_t *body)
{
    json_t *ds = json_object_get(body, "budget_duration_sec");
    char msg[96];

    if (!json_is_integer(ds) || json_integer_value(ds) <= ACCT_BUDGET_MAX_DURATION_SEC)
        return true;
    snprintf(msg, sizeof(msg), "Input should be less than or equal to %" PRId64,
             ACCT_BUDGET_MAX_DURATION_SEC);
    gw_valid_reply_one(r, "less_than_equal", "body", "budget_duration_sec", msg, json_incref(ds),
                       json_pack("{s:I}", "le", (json_int_t)ACCT_BUDGET_MAX_DURATION_SEC));
    return false;
}

/* One pending budget query: the request plus the path id (the router's copy dies on return). */
struct gw_budget_op {
    struct gw_req *r;
    char id[];
};

/* Returns owned op (free()) for r and id, or NULL after replying 500. */
static struct gw_budget_op *gw_budget_op_new(struct gw_req *r, const char *id)
{
    size_t n = id != NULL ? strlen(id) : 0;
    struct gw_budget_op *op = malloc(sizeof(*op) + n + 1);

    if (op == NULL) {
        gw_reply_error(r, 500, "internal_error", "Internal Server Error");
        return NULL;
    }
    op->r = r;
    memcpy(op->id, id != NULL ? id : "", n + 1);
    return op;
}

static void gw_budget_not_found(struct gw_req *r, const char *id)
{
    gw_reply_errorf(r, 404, "budget_not_found", "Budget with id '%s' not found", id);
}

/* The two optional fields as query parameters: JSON null or absent -> SQL NULL. */
static void gw_budget_params(json_t *body, struct db_value *max_budget, struct db_value *duration)
{
    json_t *mb = json_object_get(body, "max_budget");
    json_t *ds = json_object_get(body, "budget_duration_sec");

    *max_budget = (struct db_value){.type = DB_T_NULL};
    *duration = (struct db_value){.type = DB_T_NULL};
    if (json_is_number(mb))
        *max_budget = (struct db_value){.type = DB_T_REAL, .u.d = json_number_value(mb)};
    if (json_is_integer(ds))
        *duration = (struct db_value){.type = DB_T_INT, .u.i = json_integer_value(ds)};
}

/* Replies the single row of res (create), or a database error when there is none. */
static void gw_budget_row_done(const struct db_result *res, void *arg)
{
    struct gw_req *r = arg;

    if (res->status != 0 || res->nrows != 1) {
        gw_reply_db_error(r, res);
        return;
    }
    if (acct_index_budget_from_row(r->w->app->index, res, 0) < 0) {
        gw_reply_error(r, 500, "internal_error", "Internal Server Error");
        return;
    }
    gw_reply_json(r, 200, gw_row_json(res, 0, gw_cols_budget, GW_NCOLS(gw_cols_budget)));
}

void gw_budgets_create(struct gw_req *r, const struct gw_params *p)
{
    struct db_params q = {.n = 4};
    char id[UTIL_UUID_LEN], now[UTIL_TS_LEN];
    json_t *body = NULL;

    (void)p;
    if (!gw_auth_master(r))
        return;
    if (!gw_valid_body_json(r, &body))
        return;
    if (!gw_valid_fields(r, body, gw_budget_fields, GW_NCOLS(gw_budget_fields)) ||
        !gw_budget_valid_duration(r, body))
        goto out;
    if (util_uuid4(id) < 0) {
        gw_reply_error(r, 500, "internal_error", "Internal Server Error");
        goto out;
    }
    util_ts_format(now, sizeof(now), util_now_us());
    q.v[0] = (struct db_value){.type = DB_T_TEXT, .u.s = id};
    gw_budget_params(body, &q.v[1], &q.v[2]);
    q.v[3] = (struct db_value){.type = DB_T_TEXT, .u.s = now};
    gw_db_start(r, DB_Q_BUDGET_INSERT, &q, gw_budget_row_done, r);
out:
    json_decref(body);
}

void gw_budgets_list(struct gw_req *r, const struct gw_params *p)
{
    (void)p;
    if (!gw_auth_master(r))
        return;
    gw_list_page(r, DB_Q_BUDGET_LIST, gw_cols_budget, GW_NCOLS(gw_cols_budget));
}

/* GET and PATCH: the row, or 404 when no budget has the id. */
static void gw_budget_one_done(const struct db_result *res, void *arg)
{
    struct gw_budget_op *op = arg;

    if (res->status != 0)
        gw_reply_db_error(op->r, res);
    else if (res->nrows == 0)
        gw_budget_not_found(op->r, op->id);
    else if (acct_index_budget_from_row(op->r->w->app->index, res, 0) < 0)
        gw_reply_error(op->r, 500, "internal_error", "Internal Server Error");
    else /* the row is the committed state: the in-memory index follows it */
        gw_reply_json(op->r, 200, gw_row_json(res, 0, gw_cols_budget, GW_NCOLS(gw_cols_budget)));
    free(op);
}

void gw_budgets_get(struct gw_req *r, const struct gw_params *p)
{
    struct db_params q = {.n = 1};
    struct gw_budget_op *op;

    if (!gw_auth_master(r))
        return;
    op = gw_budget_op_new(r, p->v[0]);
    if (op == NULL)
        return;
    q.v[0] = (struct db_value){.type = DB_T_TEXT, .u.s = op->id};
    gw_db_start(r, DB_Q_BUDGET_GET, &q, gw_budget_one_done, op);
}

void gw_budgets_update(struct gw_req *r, const struct gw_params *p)
{
    struct db_params q = {.n = 4};
    struct gw_budget_op *op;
    char now[UTIL_TS_LEN];
    json_t *body = NULL;

    if (!gw_auth_master(r))
        return;
    if (!gw_valid_body_json(r, &body))
        return;
    if (!gw_valid_fields(r, body, gw_budget_fields, GW_NCOLS(gw_budget_fields)) ||
        !gw_budget_valid_duration(r, body))
        goto out;
    op = gw_budget_op_new(r, p->v[0]);
    if (op == NULL)
        goto out;
    util_ts_format(now, sizeof(now), util_now_us());
    q.v[0] = (struct db_value){.type = DB_T_TEXT, .u.s = op->id};
    gw_budget_params(body, &q.v[1], &q.v[2]);
    q.v[3] = (struct db_value){.type = DB_T_TEXT, .u.s = now};
    gw_db_start(r, DB_Q_BUDGET_UPDATE, &q, gw_budget_one_done, op);
out:
    json_decref(body);
}

static void gw_budget_delete_done(const struct db_result *res, void *arg)
{
    struct gw_budget_op *op = arg;

    if (res->status != 0)
        gw_reply_db_error(op->r, res);
    else if (res->nrows == 0)
        gw_budget_not_found(op->r, op->id);
    else {
        acct_index_budget_remove(op->r->w->app->index, op->id);
        gw_reply_json(op->r, 204, NULL);
    }
    free(op);
}

void gw_budgets_delete(struct gw_req *r, const struct gw_params *p)
{
    struct db_params q = {.n = 1};
    struct gw_budget_op *op;

    if (!gw_auth_master(r))
        return;
    op = gw_budget_op_new(r, p->v[0]);
    if (op == NULL)
        return;
    q.v[0] = (struct db_value){.type = DB_T_TEXT, .u.s = op->id};
    gw_db_start(r, DB_Q_BUDGET_DELETE, &q, gw_budget_delete_done, op);
}
