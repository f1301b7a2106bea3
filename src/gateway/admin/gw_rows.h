/*
 * Database rows to JSON: each entity's column types (in the DB_COLS_* order of db.h), so every
 * handler serialises a row the same way (0/1 -> bool, REAL text -> number, metadata -> object).
 */
#ifndef GW_ROWS_H
#define GW_ROWS_H

#include <stddef.h>

#include <jansson.h>

#include "db/db.h"

struct gw_req;

enum gw_col_type { GW_C_STR, GW_C_REAL, GW_C_INT, GW_C_BOOL, GW_C_JSON };

struct gw_col {
    const char *name;
    enum gw_col_type type;
};

/* Response shapes of the reference (spec §1.7-§1.10); users omit deleted_at (the 11th column). */
extern const struct gw_col gw_cols_budget[5];
extern const struct gw_col gw_cols_user[10];
extern const struct gw_col gw_cols_key[10];
extern const struct gw_col gw_cols_price[5];
extern const struct gw_col gw_cols_usage[13];

#define GW_NCOLS(a) (sizeof(a) / sizeof((a)[0]))

/* Row `row` of res as an object of the first n columns. Returns owned object. */
json_t *gw_row_json(const struct db_result *res, size_t row, const struct gw_col *cols, size_t n);

/* Every row of res as an array. Returns owned array. */
json_t *gw_rows_json(const struct db_result *res, const struct gw_col *cols, size_t n);

/* Cell (row, col) of res, NULL for SQL NULL or out of range. */
const char *gw_cell(const struct db_result *res, size_t row, size_t col);

/*
 * Starts query q for request r (watching for the client going away); done later receives the
 * result with arg on r's loop. When the database is closing and cannot take the query, done is
 * called at once with a failure, so the request is still answered exactly once.
 */
void gw_db_start(struct gw_req *r, enum db_query q, const struct db_params *p, db_done_fn *done,
                 void *arg);

/*
 * Answers a paginated list: reads skip/limit (422 when out of range), runs q with (limit,
 * offset) and replies the rows as an array of the first n columns of cols. Authentication is
 * the caller's business (done before). Ends r.
 */
void gw_list_page(struct gw_req *r, enum db_query q, const struct gw_col *cols, size_t n);

/*
 * Replies 500 {"detail":"Database error"}, or 503 {"detail":"Database unavailable"} with
 * Retry-After while the database cannot be reached, and logs the backend's message. Ends r.
 */
void gw_reply_db_error(struct gw_req *r, const struct db_result *res);

#endif
