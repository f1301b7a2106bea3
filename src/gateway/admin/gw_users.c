/*
 * User administration (spec §1.8, master key): create (or restore a soft-deleted user), list
 * and read active users, partial update with budget re-anchoring, soft delete (the user's keys
 * are deactivated in the database and in the in-memory key index) and the per-user usage log.
 * Flows that check a user or a budget first run their queries one after another from the
 * callbacks, carrying a per-request struct gw_user_op.
 */
#include <stdarg.h>
#include <stdbool.h>
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

/* Column indexes in DB_COLS_USER and DB_COLS_BUDGET. */
enum { GW_USER_COL_DELETED = 10 };
enum { GW_BUDGET_COL_DURATION = 2 };

/* CreateUserRequest. */
static const struct gw_field gw_user_create_fields[] = {
    {"user_id", GW_F_STR, GW_F_REQUIRED, 0},
    {"alias", GW_F_STR, GW_F_NULLABLE, 0},
    {"budget_id", GW_F_STR, GW_F_NULLABLE, 0},
    {"blocked", GW_F_BOOL, 0, 0},
    {"metadata", GW_F_OBJ, 0, 0},
};

/* UpdateUserRequest: everything optional, null meaning "keep". */
static const struct gw_field gw_user_update_fields[] = {
    {"alias", GW_F_STR, GW_F_NULLABLE, 0},
    {"budget_id", GW_F_STR, GW_F_NULLABLE, 0},
    {"blocked", GW_F_BOOL, GW_F_NULLABLE, 0},
    {"metadata", GW_F_OBJ, GW_F_NULLABLE, 0},
};

struct gw_user_op;
typedef void gw_user_step_fn(struct gw_user_op *op);

/* One user request in flight, from its first query to its reply. Freed with gw_user_op_free(). */
struct gw_user_op {
    struct gw_req *r;
    char *user_id;   /* owned: path id or body user_id */
    char *alias;     /* owned, NULL = null (create) / keep (update) */
    char *budget_id; /* owned, NULL = none (create) / keep (update) */
    char *metadata;  /* owned JSON text, NULL = keep (update) */
    int blocked;     /* 0, 1, or -1 = keep (update) */
    bool reanchor;   /* budget_id given: started/next below are set */
    int64_t now_us;
    char now[UTIL_TS_LEN];
    char started[UTIL_TS_LEN]; /* budget_started_at, "" = null */
    char next[UTIL_TS_LEN];    /* next_budget_reset_at, "" = null */
    long skip, limit;          /* usage listing */
    gw_user_step_fn *write;    /* create/update: the final write, after the checks */
};

static void gw_user_not_found(struct gw_req *r, const char *id)
{
    gw_reply_errorf(r, 404, "user_not_found", "User with id '%s' not found", id);
}

/* "" means SQL NULL for the fixed timestamp buffers. */
static struct db_value gw_user_ts(const char *s)
{
    return db_text(s[0] != '\0' ? s : NULL);
}

static void gw_user_op_free(struct gw_user_op *op)
{
    if (op == NULL)
        return;
    free(op->user_id);
    free(op->alias);
    free(op->budget_id);
    free(op->metadata);
    free(op);
}

/* Returns owned op for r and user id (free with gw_user_op_free()), or NULL after replying 500. */
static struct gw_user_op *gw_user_op_new(struct gw_req *r, const char *user_id)
{
    struct gw_user_op *op = calloc(1, sizeof(*op));

    if (op == NULL || (op->user_id = strdup(user_id != NULL ? user_id : "")) == NULL) {
        free(op);
        gw_reply_error(r, 500, "internal_error", "Internal Server Error");
        return NULL;
    }
    op->r = r;
    op->blocked = -1;
    op->now_us = util_now_us();
    util_ts_format(op->now, sizeof(op->now), op->now_us);
    return op;
}

/*
 * Copies the optional body fields into op: alias, budget_id, blocked, metadata. Absent and null
 * stay NULL / -1 ("keep"), except that a create defaults to metadata {} and blocked false.
 * Returns 0 or -1 (out of memory).
 */
static int gw_user_op_fill(struct gw_user_op *op, json_t *body, bool create)
{
    const char *alias = json_string_value(json_object_get(body, "alias"));
    const char *budget = json_string_value(json_object_get(body, "budget_id"));
    json_t *blocked = json_object_get(body, "blocked");
    json_t *meta = json_object_get(body, "metadata");

    if (alias != NULL && (op->alias = strdup(alias)) == NULL)
        return -1;
    if (budget != NULL && (op->budget_id = strdup(budget)) == NULL)
        return -1;
    if (json_is_boolean(blocked))
        op->blocked = json_is_true(blocked) ? 1 : 0;
    else if (create)
        op->blocked = 0;
    if (json_is_object(meta))
        op->metadata = json_dumps(meta, JSON_COMPACT);
    else if (create)
        op->metadata = strdup("{}");
    if ((json_is_object(meta) || create) && op->metadata == NULL)
        return -1;
    return 0;
}

/* Starts query q for op's request; done receives op (see gw_db_start()). */
static void gw_user_exec(struct gw_user_op *op, enum db_query q, const struct db_params *p,
                         db_done_fn *done)
{
    gw_db_start(op->r, q, p, done, op);
}

/* Starts DB_Q_USER_GET for op->user_id. */
static void gw_user_fetch(struct gw_user_op *op, db_done_fn *done)
{
    struct db_params q = {.n = 1};

    q.v[0] = db_text(op->user_id);
    gw_user_exec(op, DB_Q_USER_GET, &q, done);
}

/* A result that is one UserResponse row: replied 200; no row: the not-found reply nf. */
static void gw_user_reply_row(struct gw_user_op *op, const struct db_result *res,
                              void (*nf)(struct gw_user_op *op))
{
    if (res->status != 0)
        gw_reply_db_error(op->r, res);
    else if (res->nrows == 0)
        nf(op);
    else if (acct_index_user_from_row(op->r->w->app->index, res, 0) < 0)
        gw_reply_error(op->r, 500, "internal_error", "Internal Server Error");
    else /* the row is the committed state: the in-memory index follows it */
        gw_reply_json(op->r, 200, gw_row_json(res, 0, gw_cols_user, GW_NCOLS(gw_cols_user)));
}

static void gw_user_nf_404(struct gw_user_op *op)
{
    gw_user_not_found(op->r, op->user_id);
}

static void gw_user_nf_409(struct gw_user_op *op)
{
    gw_reply_errorf(op->r, 409, "user_exists", "User with id '%s' already exists", op->user_id);
}

/* ---- budget check shared by create and update ---- */

/*
 * The budget named by op->budget_id: 404 when absent; otherwise the period is anchored now
 * (next reset = now + duration, or none without a duration) and op->write runs.
 */
static void gw_user_budget_done(const struct db_result *res, void *arg)
{
    struct gw_user_op *op = arg;
    const char *dur;

    if (res->status != 0) {
        gw_reply_db_error(op->r, res);
        gw_user_op_free(op);
        return;
    }
    if (res->nrows == 0) {
        gw_reply_errorf(op->r, 404, "budget_not_found", "Budget with id '%s' not found",
                        op->budget_id);
        gw_user_op_free(op);
        return;
    }
    dur = gw_cell(res, 0, GW_BUDGET_COL_DURATION);
    op->reanchor = true;
    memcpy(op->started, op->now, sizeof(op->started));
    op->next[0] = '\0';
    if (dur != NULL)
        util_ts_format(op->next, sizeof(op->next),
                       acct_budget_next_reset_us(op->now_us, (int64_t)strtoll(dur, NULL, 10)));
    op->write(op);
}

static void gw_user_check_budget(struct gw_user_op *op)
{
    struct db_params q = {.n = 1};

    q.v[0] = db_text(op->budget_id);
    gw_user_exec(op, DB_Q_BUDGET_GET, &q, gw_user_budget_done);
}

/* ---- POST /v1/users ---- */

static void gw_user_upsert_done(const struct db_result *res, void *arg)
{
    struct gw_user_op *op = arg;

    /* No row: an active user already holds the id (also when created since the check). */
    gw_user_reply_row(op, res, gw_user_nf_409);
    gw_user_op_free(op);
}

static void gw_user_upsert(struct gw_user_op *op)
{
    struct db_params q = {.n = 8};

    q.v[0] = db_text(op->user_id);
    q.v[1] = db_text(op->alias);
    q.v[2] = db_text(op->budget_id);
    q.v[3] = (struct db_value){.type = DB_T_BOOL, .u.b = op->blocked == 1};
    q.v[4] = db_text(op->metadata);
    q.v[5] = gw_user_ts(op->started);
    q.v[6] = gw_user_ts(op->next);
    q.v[7] = db_text(op->now);
    gw_user_exec(op, DB_Q_USER_UPSERT, &q, gw_user_upsert_done);
}

/* Create with a budget: an active user answers 409 before the budget is looked at. */
static void gw_user_create_check_done(const struct db_result *res, void *arg)
{
    struct gw_user_op *op = arg;

    if (res->status != 0) {
        gw_reply_db_error(op->r, res);
        gw_user_op_free(op);
        return;
    }
    if (res->nrows == 1 && gw_cell(res, 0, GW_USER_COL_DELETED) == NULL) {
        gw_user_nf_409(op);
        gw_user_op_free(op);
        return;
    }
    gw_user_check_budget(op);
}

void gw_users_create(struct gw_req *r, const struct gw_params *p)
{
    struct gw_user_op *op;
    json_t *body = NULL;

    (void)p;
    if (!gw_auth_master(r))
        return;
    if (!gw_valid_body_json(r, &body))
        return;
    if (!gw_valid_fields(r, body, gw_user_create_fields, GW_NCOLS(gw_user_create_fields)))
        goto out;
    op = gw_user_op_new(r, json_string_value(json_object_get(body, "user_id")));
    if (op == NULL)
        goto out;
    if (gw_user_op_fill(op, body, true) < 0) {
        gw_user_op_free(op);
        gw_reply_error(r, 500, "internal_error", "Internal Server Error");
        goto out;
    }
    op->write = gw_user_upsert;
    if (op->budget_id != NULL)
        gw_user_fetch(op, gw_user_create_check_done);
    else
        gw_user_upsert(op);
out:
    json_decref(body);
}

/* ---- GET /v1/users ---- */

void gw_users_list(struct gw_req *r, const struct gw_params *p)
{
    (void)p;
    if (!gw_auth_master(r))
        return;
    gw_list_page(r, DB_Q_USER_LIST, gw_cols_user, GW_NCOLS(gw_cols_user));
}

/* ---- GET /v1/users/{id} ---- */

static void gw_user_get_done(const struct db_result *res, void *arg)
{
    struct gw_user_op *op = arg;

    /* A soft-deleted user does not exist for the API. */
    if (res->status == 0 && res->nrows == 1 && gw_cell(res, 0, GW_USER_COL_DELETED) != NULL)
        gw_user_nf_404(op);
    else
        gw_user_reply_row(op, res, gw_user_nf_404);
    gw_user_op_free(op);
}

void gw_users_get(struct gw_req *r, const struct gw_params *p)
{
    struct gw_user_op *op;

    if (!gw_auth_master(r))
        return;
    op = gw_user_op_new(r, p->v[0]);
    if (op != NULL)
        gw_user_fetch(op, gw_user_get_done);
}

/* ---- PATCH /v1/users/{id} ---- */

static void gw_user_update_done(const struct db_result *res, void *arg)
{
    struct gw_user_op *op = arg;

    /* No row: missing or soft-deleted (also when deleted since the check). */
    gw_user_reply_row(op, res, gw_user_nf_404);
    gw_user_op_free(op);
}

static void gw_user_update_write(struct gw_user_op *op)
{
    struct db_params q = {.n = 9};

    q.v[0] = db_text(op->user_id);
    q.v[1] = db_text(op->alias);
    q.v[2] = db_text(op->budget_id);
    q.v[3] = op->blocked < 0 ? (struct db_value){.type = DB_T_NULL}
                             : (struct db_value){.type = DB_T_BOOL, .u.b = op->blocked == 1};
    q.v[4] = db_text(op->metadata);
    q.v[5] = gw_user_ts(op->started);
    q.v[6] = gw_user_ts(op->next);
    q.v[7] = db_text(op->now);
    q.v[8] = (struct db_value){.type = DB_T_BOOL, .u.b = op->reanchor};
    gw_user_exec(op, DB_Q_USER_UPDATE, &q, gw_user_update_done);
}

/* Update with a budget: a missing or deleted user answers 404 before the budget is checked. */
static void gw_user_update_check_done(const struct db_result *res, void *arg)
{
    struct gw_user_op *op = arg;

    if (res->status != 0) {
        gw_reply_db_error(op->r, res);
        gw_user_op_free(op);
        return;
    }
    if (res->nrows == 0 || gw_cell(res, 0, GW_USER_COL_DELETED) != NULL) {
        gw_user_nf_404(op);
        gw_user_op_free(op);
        return;
    }
    gw_user_check_budget(op);
}

void gw_users_update(struct gw_req *r, const struct gw_params *p)
{
    struct gw_user_op *op;
    json_t *body = NULL;

    if (!gw_auth_master(r))
        return;
    if (!gw_valid_body_json(r, &body))
        return;
    if (!gw_valid_fields(r, body, gw_user_update_fields, GW_NCOLS(gw_user_update_fields)))
        goto out;
    op = gw_user_op_new(r, p->v[0]);
    if (op == NULL)
        goto out;
    if (gw_user_op_fill(op, body, false) < 0) {
        gw_user_op_free(op);
        gw_reply_error(r, 500, "internal_error", "Internal Server Error");
        goto out;
    }
    op->write = gw_user_update_write;
    if (op->budget_id != NULL)
        gw_user_fetch(op, gw_user_update_check_done);
    else
        gw_user_update_write(op);
out:
    json_decref(body);
}

/* ---- DELETE /v1/users/{id} ---- */

static void gw_user_delete_done(const struct db_result *res, void *arg)
{
    struct gw_user_op *op = arg;

    if (res->status != 0) {
        gw_reply_db_error(op->r, res);
    } else if (res->nrows == 0) {
        gw_user_nf_404(op);
    } else {
        /* Committed: the user and its keys are inactive in the database, so in memory too. */
        acct_index_user_delete(op->r->w->app->index, op->user_id);
        gw_reply_json(op->r, 204, NULL);
    }
    gw_user_op_free(op);
}

void gw_users_delete(struct gw_req *r, const struct gw_params *p)
{
    struct db_params q = {.n = 2};
    struct gw_user_op *op;

    if (!gw_auth_master(r))
        return;
    op = gw_user_op_new(r, p->v[0]);
    if (op == NULL)
        return;
    q.v[0] = db_text(op->user_id);
    q.v[1] = db_text(op->now);
    gw_user_exec(op, DB_Q_USER_DELETE, &q, gw_user_delete_done);
}

/* ---- GET /v1/users/{id}/usage ---- */

static void gw_user_usage_done(const struct db_result *res, void *arg)
{
    struct gw_user_op *op = arg;

    if (res->status != 0)
        gw_reply_db_error(op->r, res);
    else
        gw_reply_json(op->r, 200, gw_rows_json(res, gw_cols_usage, GW_NCOLS(gw_cols_usage)));
    gw_user_op_free(op);
}

/* The user row, soft-deleted or not, must exist; then its usage, newest first. */
static void gw_user_usage_check_done(const struct db_result *res, void *arg)
{
    struct gw_user_op *op = arg;
    struct db_params q = {.n = 3};

    if (res->status != 0 || res->nrows == 0) {
        if (res->status != 0)
            gw_reply_db_error(op->r, res);
        else
            gw_user_nf_404(op);
        gw_user_op_free(op);
        return;
    }
    q.v[0] = db_text(op->user_id);
    q.v[1] = (struct db_value){.type = DB_T_INT, .u.i = op->limit};
    q.v[2] = (struct db_value){.type = DB_T_INT, .u.i = op->skip};
    gw_user_exec(op, DB_Q_USAGE_LIST, &q, gw_user_usage_done);
}

void gw_users_usage(struct gw_req *r, const struct gw_params *p)
{
    struct gw_user_op *op;
    long skip, limit;

    if (!gw_auth_master(r) || !gw_valid_page(r, &skip, &limit))
        return;
    op = gw_user_op_new(r, p->v[0]);
    if (op == NULL)
        return;
    op->skip = skip;
    op->limit = limit;
    gw_user_fetch(op, gw_user_usage_check_done);
}
