/*
 * Row serialisation shared by the admin endpoints.
 */
#include "gateway/gw_rows.h"

#include <stdlib.h>
#include <string.h>

#include "db/db.h"
#include "gateway/gw_reply.h"
#include "gateway/gw_req.h"
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

const struct gw_col gw_cols_key[8] = {
    {"id", GW_C_STR},         {"key_name", GW_C_STR},     {"user_id", GW_C_STR},
    {"created_at", GW_C_STR}, {"last_used_at", GW_C_STR}, {"expires_at", GW_C_STR},
    {"is_active", GW_C_BOOL}, {"metadata", GW_C_JSON},
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
    gw_reply_error(r, 500, "database_error", "Database error");
}
