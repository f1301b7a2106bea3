/*
 * Row serialisation shared by the admin endpoints.
 */
#include "gateway/admin/gw_rows.h"

#include <stdlib.h>
#include <string.h>

#include "db/db.h"
#include "gateway/gw_app.h"
#include "gateway/http/gw_reply.h"
#include "gateway/http/gw_req.h"
#include "gateway/http/gw_valid.h"
#include "log.h"

const struct gw_col gw_cols_budget[5] = {
    {"budget_id", GW_C_STR},  {"max_budget", GW_C_REAL}, {"budget_duration_sec", GW_C_INT},
    {"created_at", GW_C_STR}, {"updated_at", GW_C_STR},
};

const struct gw_col gw_cols_user[10] = {
    {"user_id", GW_C_STR},
    {"alias", GW_C_STR},
    {"spend", GW_C_REAL},
    {"budget_id", GW_C_STR},
    {"budget_started_at", GW_C_STR},
    {"next_budget_reset_at", GW_C_STR},
    {"blocked", GW_C_BOOL},
    {"created_at", GW_C_STR},
    {"updated_at", GW_C_STR},
    {"metadata", GW_C_JSON},
};

const struct gw_col gw_cols_key[10] = {
    {"id", GW_C_STR},         {"key_name", GW_C_STR},     {"user_id", GW_C_STR},
    {"created_at", GW_C_STR}, {"last_used_at", GW_C_STR}, {"expires_at", GW_C_STR},
    {"is_active", GW_C_BOOL}, {"metadata", GW_C_JSON},    {"rpm_limit", GW_C_INT},
    {"tpm_limit", GW_C_INT},
};

const struct gw_col gw_cols_price[5] = {
    {"model_key", GW_C_STR},
    {"input_price_per_million", GW_C_REAL},
    {"output_price_per_million", GW_C_REAL},
    {"created_at", GW_C_STR},
    {"updated_at", GW_C_STR},
};

const struct gw_col gw_cols_usage[13] = {
    {"id", GW_C_STR},
    {"user_id", GW_C_STR},
    {"api_key_id", GW_C_STR},
    {"timestamp", GW_C_STR},
    {"model", GW_C_STR},
    {"provider", GW_C_STR},
    {"endpoint", GW_C_STR},
    {"prompt_tokens", GW_C_INT},
    {"completion_tokens", GW_C_INT},
    {"total_tokens", GW_C_INT},
    {"cost", GW_C_REAL},
    {"status", GW_C_STR},
    {"error_message", GW_C_STR},
};

const char *gw_cell(const struct db_result *res, size_t row, size_t col)
{
    if (row >= res->nrows || col >= res->ncols)
        return NULL;
    return res->cells[row * res->ncols + col];
}

static json_t *gw_cell_json(const char *v, enum gw_col_type type)
{
    json_t *j;

    if (v == NULL)
        return json_null();
    switch (type) {
    case GW_C_REAL:
        return json_real(strtod(v, NULL));
    case GW_C_INT:
        return json_integer(strtoll(v, NULL, 10));
    case GW_C_BOOL:
        return json_boolean(strcmp(v, "0") != 0);
    case GW_C_JSON:
        j = json_loads(v, JSON_DECODE_ANY, NULL);
        return j != NULL ? j : json_object();
    case GW_C_STR:
    default:
        j = json_string(v);
        return j != NULL ? j : json_null();
    }
}

json_t *gw_row_json(const struct db_result *res, size_t row, const struct gw_col *cols, size_t n)
{
    json_t *o = json_object();

    for (size_t c = 0; c < n; c++)
        json_object_set_new(o, cols[c].name, gw_cell_json(gw_cell(res, row, c), cols[c].type));
    return o;
}

json_t *gw_rows_json(const struct db_result *res, const struct gw_col *cols, size_t n)
{
    json_t *a = json_array();

    for (size_t r = 0; r < res->nrows; r++)
        json_array_append_new(a, gw_row_json(res, r, cols, n));
    return a;
}

void gw_reply_db_error(struct gw_req *r, const struct db_result *res)
{
    LOG_ERR("rid=%s database error: %s", r->rid,
            res != NULL && res->error != NULL ? res->error : "unknown");
    if (!db_available(r->w->app->db)) { /* the server is away: a retry may succeed */
        gw_reply_header(r, "Retry-After", "1");
        gw_reply_error(r, 503, "database_unavailable", "Database unavailable");
        return;
    }
    gw_reply_error(r, 500, "database_error", "Database error");
}

void gw_db_start(struct gw_req *r, enum db_query q, const struct db_params *p, db_done_fn *done,
                 void *arg)
{
    static const struct db_result fail = {.status = -1, .error = "database closing"};

    gw_req_watch_close(r);
    if (db_exec(r->w->app->db, r->w->base, q, p, done, arg) < 0)
        done(&fail, arg);
}

struct gw_list {
    struct gw_req *r;
    const struct gw_col *cols;
    size_t n;
};

static void gw_list_done(const struct db_result *res, void *arg)
{
    struct gw_list *l = arg;

    if (res->status != 0)
        gw_reply_db_error(l->r, res);
    else
        gw_reply_json(l->r, 200, gw_rows_json(res, l->cols, l->n));
    free(l);
}

void gw_list_page(struct gw_req *r, enum db_query q, const struct gw_col *cols, size_t n)
{
    struct db_params p = {.n = 2};
    struct gw_list *l;
    long skip, limit;

    if (!gw_valid_page(r, &skip, &limit))
        return;
    l = malloc(sizeof(*l));
    if (l == NULL) {
        gw_reply_error(r, 500, "internal_error", "Internal Server Error");
        return;
    }
    *l = (struct gw_list){.r = r, .cols = cols, .n = n};
    p.v[0] = (struct db_value){.type = DB_T_INT, .u.i = limit};
    p.v[1] = (struct db_value){.type = DB_T_INT, .u.i = skip};
    gw_db_start(r, q, &p, gw_list_done, l);
}
