/*
 * SQLite backend: one connection owned by one dedicated DB thread that works through a FIFO of
 * operations (mutex + condvar). Queries are cached prepared statements with bound parameters;
 * each result is copied into a struct db_result and handed back to the caller's event_base
 * with event_base_once(), so callbacks always run on the caller's loop, after db_exec() returns.
 * The only file that includes sqlite3.h.
 */
#include "db/db.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <sqlite3.h>

#include "db/db_migrations.h"
#include "db/db_sqlite_usage.h"
#include "log.h"

/* SQL per query, "?N" placeholders only. Prepared on first use, then cached. */
static const char *const sq_sql[] = {
    [DB_Q_PING] = "SELECT count(*) FROM schema_migrations",
    [DB_Q_SCHEMA_VERSIONS] = "SELECT version, applied_at FROM schema_migrations ORDER BY version",
    [DB_Q_SCHEMA_VERSION] = "SELECT version, applied_at FROM schema_migrations WHERE version = ?1",
    [DB_Q_ECHO] = "SELECT ?1, ?2, ?3, ?4",

    [DB_Q_BUDGET_INSERT] = "INSERT INTO budgets (budget_id, max_budget, budget_duration_sec, "
                           "created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4) "
                           "RETURNING " DB_COLS_BUDGET,
    [DB_Q_BUDGET_LIST] = "SELECT " DB_COLS_BUDGET " FROM budgets ORDER BY created_at, budget_id "
                         "LIMIT ?1 OFFSET ?2",
    [DB_Q_BUDGET_ALL] = "SELECT " DB_COLS_BUDGET " FROM budgets",
    [DB_Q_BUDGET_GET] = "SELECT " DB_COLS_BUDGET " FROM budgets WHERE budget_id = ?1",
    [DB_Q_BUDGET_UPDATE] = "UPDATE budgets SET max_budget = coalesce(?2, max_budget), "
                           "budget_duration_sec = coalesce(?3, budget_duration_sec), "
                           "updated_at = ?4 WHERE budget_id = ?1 RETURNING " DB_COLS_BUDGET,
    [DB_Q_BUDGET_DELETE] = "UPDATE users SET budget_id = NULL WHERE budget_id = ?1;"
                           "DELETE FROM budgets WHERE budget_id = ?1 RETURNING budget_id",

    [DB_Q_USER_UPSERT] =
        "INSERT INTO users (user_id, alias, spend, budget_id, blocked, created_at, updated_at, "
        "metadata, budget_started_at, next_budget_reset_at, deleted_at) "
        "VALUES (?1, ?2, 0.0, ?3, ?4, ?8, ?8, ?5, ?6, ?7, NULL) "
        "ON CONFLICT (user_id) DO UPDATE SET alias = excluded.alias, spend = 0.0, "
        "budget_id = excluded.budget_id, blocked = excluded.blocked, metadata = excluded.metadata, "
        "budget_started_at = excluded.budget_started_at, "
        "next_budget_reset_at = excluded.next_budget_reset_at, deleted_at = NULL, "
        "updated_at = excluded.updated_at WHERE users.deleted_at IS NOT NULL "
        "RETURNING " DB_COLS_USER,
    [DB_Q_USER_LIST] = "SELECT " DB_COLS_USER " FROM users WHERE deleted_at IS NULL "
                       "ORDER BY created_at, user_id LIMIT ?1 OFFSET ?2",
    [DB_Q_USER_ALL] = "SELECT " DB_COLS_USER " FROM users",
    [DB_Q_USER_GET] = "SELECT " DB_COLS_USER " FROM users WHERE user_id = ?1",
    [DB_Q_USER_UPDATE] =
        "UPDATE users SET alias = coalesce(?2, alias), budget_id = coalesce(?3, budget_id), "
        "blocked = coalesce(?4, blocked), metadata = coalesce(?5, metadata), "
        "budget_started_at = CASE WHEN ?9 THEN ?6 ELSE budget_started_at END, "
        "next_budget_reset_at = CASE WHEN ?9 THEN ?7 ELSE next_budget_reset_at END, "
        "updated_at = ?8 WHERE user_id = ?1 AND deleted_at IS NULL RETURNING " DB_COLS_USER,
    [DB_Q_USER_DELETE] = "UPDATE api_keys SET is_active = 0 WHERE user_id = ?1 AND EXISTS "
                         "(SELECT 1 FROM users WHERE user_id = ?1 AND deleted_at IS NULL);"
                         "UPDATE users SET deleted_at = ?2, updated_at = ?2 "
                         "WHERE user_id = ?1 AND deleted_at IS NULL RETURNING user_id",
    [DB_Q_USAGE_LIST] = "SELECT " DB_COLS_USAGE " FROM usage_logs WHERE user_id = ?1 "
                        "ORDER BY timestamp DESC LIMIT ?2 OFFSET ?3",

    [DB_Q_KEY_CREATE] =
        "INSERT INTO users (user_id, alias, spend, blocked, created_at, updated_at, metadata) "
        "VALUES (?4, ?8, 0.0, 0, ?5, ?5, '{}') ON CONFLICT (user_id) DO NOTHING;"
        "INSERT INTO api_keys (id, key_hash, key_name, user_id, created_at, expires_at, "
        "is_active, metadata, rpm_limit, tpm_limit) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1, ?7, ?9, "
        "?10) RETURNING " DB_COLS_KEY,
    [DB_Q_KEY_LIST] = "SELECT " DB_COLS_KEY " FROM api_keys ORDER BY created_at, id "
                      "LIMIT ?1 OFFSET ?2",
    [DB_Q_KEY_GET] = "SELECT " DB_COLS_KEY " FROM api_keys WHERE id = ?1",
    [DB_Q_KEY_UPDATE] = "UPDATE api_keys SET key_name = coalesce(?2, key_name), "
                        "is_active = coalesce(?3, is_active), "
                        "expires_at = coalesce(?4, expires_at), "
                        "metadata = coalesce(?5, metadata), "
                        "rpm_limit = CASE WHEN ?6 THEN ?7 ELSE rpm_limit END, "
                        "tpm_limit = CASE WHEN ?8 THEN ?9 ELSE tpm_limit END "
                        "WHERE id = ?1 RETURNING " DB_COLS_KEY,
    [DB_Q_KEY_DELETE] = "DELETE FROM api_keys WHERE id = ?1 RETURNING id, key_hash",
    [DB_Q_KEY_INDEX] = "SELECT id, key_hash, user_id, is_active, expires_at, rpm_limit, tpm_limit "
                       "FROM api_keys",
    [DB_Q_KEY_INDEX_ONE] =
        "SELECT id, key_hash, user_id, is_active, expires_at, rpm_limit, tpm_limit "
        "FROM api_keys "
        "WHERE id = ?1",
    [DB_Q_KEY_TOUCH] = "UPDATE api_keys SET last_used_at = ?2 WHERE id = ?1",
    [DB_Q_KEY_COUNT] = "SELECT count(*) FROM api_keys",

    [DB_Q_PRICE_UPSERT] =
        "INSERT INTO model_pricing (model_key, input_price_per_million, "
        "output_price_per_million, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4) "
        "ON CONFLICT (model_key) DO UPDATE SET "
        "input_price_per_million = excluded.input_price_per_million, "
        "output_price_per_million = excluded.output_price_per_million, "
        "updated_at = excluded.updated_at RETURNING " DB_COLS_PRICE,
    [DB_Q_PRICE_INSERT_ABSENT] =
        "INSERT INTO model_pricing (model_key, input_price_per_million, "
        "output_price_per_million, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4) "
        "ON CONFLICT (model_key) DO NOTHING RETURNING " DB_COLS_PRICE,
    [DB_Q_PRICE_LIST] = "SELECT " DB_COLS_PRICE " FROM model_pricing "
                        "ORDER BY created_at, model_key LIMIT ?1 OFFSET ?2",
    [DB_Q_PRICE_ALL] = "SELECT " DB_COLS_PRICE " FROM model_pricing ORDER BY model_key",
    [DB_Q_PRICE_GET] = "SELECT " DB_COLS_PRICE " FROM model_pricing WHERE model_key = ?1",
    [DB_Q_PRICE_DELETE] = "DELETE FROM model_pricing WHERE model_key = ?1 RETURNING model_key",

    /* json_each() keeps the array order, so rows are inserted in the order they were queued. */
    /* One row of the batch: sq_run_usage_batch() runs it per row, then sq_sql_spend once per
     * user. Unknown keys and users are written as NULL (never an FK failure). */
    [DB_Q_USAGE_INSERT_BATCH] =
        "INSERT INTO usage_logs (id, api_key_id, user_id, timestamp, model, provider, endpoint, "
        "prompt_tokens, completion_tokens, total_tokens, cost, status, error_message, "
        "usage_estimated) VALUES (?1, (SELECT k.id FROM api_keys AS k WHERE k.id = ?2), "
        "(SELECT u.user_id FROM users AS u WHERE u.user_id = ?3), ?4, ?5, ?6, ?7, ?8, ?9, ?10, "
        "?11, ?12, ?13, coalesce(?14, 0))",
    [DB_Q_BUDGET_RESET] =
        "INSERT INTO budget_reset_logs (user_id, budget_id, previous_spend, reset_at, "
        "next_reset_at) SELECT ?1, ?2, ?3, ?4, ?5 "
        "WHERE EXISTS (SELECT 1 FROM budgets WHERE budget_id = ?2) "
        "AND EXISTS (SELECT 1 FROM users WHERE user_id = ?1 AND deleted_at IS NULL);"
        "UPDATE users SET spend = 0.0, budget_started_at = ?4, next_budget_reset_at = ?5, "
        "updated_at = ?4 WHERE user_id = ?1 AND deleted_at IS NULL",
    [DB_Q_USAGE_FILTER_PAGE] = SQ_U_PAGE,
    [DB_Q_USAGE_FILTER_COUNT] = SQ_U_COUNT,
    [DB_Q_USAGE_SUM_DAY] = SQ_U_SUM_DAY,
    [DB_Q_USAGE_SUM_HOUR] = SQ_U_SUM_HOUR,
    [DB_Q_USAGE_SUM_USER] = SQ_U_SUM_COL("user_id"),
    [DB_Q_USAGE_SUM_KEY] = SQ_U_SUM_COL("api_key_id"),
    [DB_Q_USAGE_SUM_MODEL] = SQ_U_SUM_COL("model"),
    [DB_Q_USAGE_SUM_PROVIDER] = SQ_U_SUM_COL("provider"),
    [DB_Q_RATE_PUBLISH] =
        "INSERT INTO rate_counts (replica_id, subject, second, requests, tokens) "
        "SELECT ?1, r.value ->> 's', r.value ->> 't', r.value ->> 'r', r.value ->> 'k' "
        "FROM json_each(?2) AS r WHERE true "
        "ON CONFLICT (replica_id, subject, second) DO UPDATE SET "
        "requests = excluded.requests, tokens = excluded.tokens;"
        "DELETE FROM rate_counts WHERE second < ?3",
    [DB_Q_RATE_OTHERS] = "SELECT subject, second, sum(requests), sum(tokens) FROM rate_counts "
                         "WHERE replica_id <> ?1 AND second >= ?2 GROUP BY subject, second",
};
_Static_assert(sizeof(sq_sql) / sizeof(sq_sql[0]) == DB_Q__COUNT,
               "every enum db_query needs SQLite SQL");

/* The usage batch's second statement, once per user with a summed cost. */
static const char sq_sql_spend[] =
    "UPDATE users SET spend = spend + ?2 WHERE user_id = ?1 AND deleted_at IS NULL";

struct sq;

enum sq_op_kind { SQ_OP_QUERY, SQ_OP_JOB };

struct sq_op {
    struct sq_op *next;
    enum sq_op_kind kind;

    /* SQ_OP_QUERY: heap, owned by the queue, then by the posted event until the callback ran. */
    enum db_query q;
    struct db_params p;        /* text values point into text[] */
    char *text[DB_MAX_PARAMS]; /* owned copies of the caller's strings */
    struct event_base *base;   /* borrowed: the caller keeps it alive */
    db_done_fn *cb;
    void *arg;
    struct db_result res;            /* cells owned */
    char *error;                     /* owned storage behind res.error */
    const struct db_usage_row *rows; /* DB_Q_USAGE_INSERT_BATCH: borrowed (db_usage_insert()) */
    size_t nrows;

    /* SQ_OP_JOB: lives on the stack of the thread waiting in sq_job_run(). */
    int (*job)(struct sq *sq, char *err, size_t errlen);
    char *job_err;
    size_t job_errlen;
    int job_rc;
    bool job_done;
};

struct sq {
    sqlite3 *conn;
    char *path; /* filename as given to SQLite (":memory:" for memory) */
    sqlite3_stmt *stmts[DB_Q__COUNT];
    sqlite3_stmt *spend; /* sq_sql_spend, prepared on first use */
    pthread_t thread;
    bool thread_started;
    pthread_mutex_t mu;
    pthread_cond_t work_cv; /* queue non-empty or stopping */
    pthread_cond_t done_cv; /* a job finished */
    struct sq_op *head, *tail;
    bool stopping; /* under mu: no new work; the thread exits once the queue is empty */
    const char *migrate_target; /* db_migrate_to()'s target during a migration job */
};

static void sq_op_free(struct sq_op *op)
{
    if (op == NULL)
        return;
    for (size_t i = 0; i < DB_MAX_PARAMS; i++)
        free(op->text[i]);
    db_result_clear(&op->res);
    free(op->error);
    free(op);
}

static void sq_trampoline(evutil_socket_t fd, short what, void *arg)
{
    struct sq_op *op = arg;

    (void)fd;
    (void)what;
    op->cb(&op->res, op->arg);
    sq_op_free(op);
}

/* DB thread: hands the finished op to its caller's loop (or drops it when nobody listens). */
static void sq_deliver(struct sq_op *op)
{
    static const struct timeval zero_tv = {0, 0};

    if (op->cb == NULL) {
        sq_op_free(op);
        return;
    }
    if (event_base_once(op->base, -1, EV_TIMEOUT, sq_trampoline, op, &zero_tv) < 0) {
        LOG_ERR("db: cannot post the result of query %s; callback dropped", db_query_name(op->q));
        sq_op_free(op);
    }
}

static void sq_fail(struct sq_op *op, const char *msg)
{
    db_result_clear(&op->res);
    free(op->error);
    op->error = strdup(msg);
    op->res.status = -1;
    op->res.error = op->error != NULL ? op->error : "out of memory";
    LOG_ERR("db: query %s failed: %s", db_query_name(op->q), op->res.error);
}

/* Appends the current row of st to op->res. Returns 0 or -1 (out of memory). */
static int sq_add_row(struct sq_op *op, sqlite3_stmt *st, size_t *cap)
{
    struct db_result *res = &op->res;
    size_t base = res->nrows * res->ncols;

    if ((res->nrows + 1) * res->ncols > *cap) {
        size_t ncap = *cap == 0 ? res->ncols * 4 : *cap * 2;
        char **cells = realloc(res->cells, ncap * sizeof(*cells));

        if (cells == NULL)
            return -1;
        res->cells = cells;
        *cap = ncap;
    }
    for (size_t c = 0; c < res->ncols; c++)
        res->cells[base + c] = NULL;
    res->nrows++; /* counted now so db_result_clear() frees a partly copied row */
    for (size_t c = 0; c < res->ncols; c++) {
        const unsigned char *text;
        int n;

        if (sqlite3_column_type(st, (int)c) == SQLITE_NULL)
            continue;
        text = sqlite3_column_text(st, (int)c);
        n = sqlite3_column_bytes(st, (int)c);
        if (text == NULL)
            return -1;
        res->cells[base + c] = malloc((size_t)n + 1);
        if (res->cells[base + c] == NULL)
            return -1;
        memcpy(res->cells[base + c], text, (size_t)n);
        res->cells[base + c][n] = '\0';
    }
    return 0;
}

static int sq_bind(sqlite3_stmt *st, int idx, const struct db_value *v)
{
    switch (v->type) {
    case DB_T_TEXT:
        /* STATIC: the op owns the copy until the statement is reset. */
        return sqlite3_bind_text(st, idx, v->u.s, -1, SQLITE_STATIC);
    case DB_T_INT:
        return sqlite3_bind_int64(st, idx, v->u.i);
    case DB_T_REAL:
        return sqlite3_bind_double(st, idx, v->u.d);
    case DB_T_BOOL:
        return sqlite3_bind_int(st, idx, v->u.b ? 1 : 0);
    case DB_T_NULL:
        return sqlite3_bind_null(st, idx);
    }
    return SQLITE_MISUSE;
}

/*
 * DB thread: binds the first nparams parameters of op to st, steps it to the end and, when it
 * returns columns, replaces op->res's rows with its rows. Returns 0, or -1 after sq_fail().
 * The caller resets or finalizes st.
 */
static int sq_step_all(struct sq *sq, struct sq_op *op, sqlite3_stmt *st, size_t nparams)
{
    size_t cap = 0;
    int rc;

    for (size_t i = 0; i < nparams; i++) {
        if (sq_bind(st, (int)i + 1, &op->p.v[i]) != SQLITE_OK) {
            sq_fail(op, sqlite3_errmsg(sq->conn));
            return -1;
        }
    }
    if (sqlite3_column_count(st) > 0) {
        db_result_clear(&op->res);
        op->res.ncols = (size_t)sqlite3_column_count(st);
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (sqlite3_column_count(st) > 0 && sq_add_row(op, st, &cap) < 0) {
            sq_fail(op, "out of memory");
            return -1;
        }
    }
    if (rc != SQLITE_DONE) {
        sq_fail(op, sqlite3_errmsg(sq->conn));
        return -1;
    }
    if (!sqlite3_stmt_readonly(st))
        op->res.changes = sqlite3_changes64(sq->conn);
    return 0;
}

/*
 * DB thread: runs a query made of several ';'-separated statements in one transaction, all
 * sharing op's numbered parameters; the result is the rows of the last statement returning
 * columns. Any failure rolls everything back.
 */
static void sq_run_compound(struct sq *sq, struct sq_op *op)
{
    const char *sql = sq_sql[op->q], *tail = NULL;

    if (sqlite3_exec(sq->conn, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        sq_fail(op, sqlite3_errmsg(sq->conn));
        return;
    }
    while (sql != NULL && *sql != '\0') {
        sqlite3_stmt *st = NULL;
        int rc = sqlite3_prepare_v2(sq->conn, sql, -1, &st, &tail);
        if (rc != SQLITE_OK) {
            sq_fail(op, sqlite3_errmsg(sq->conn));
            goto rollback;
        }
        if (st == NULL) /* only whitespace left */
            break;
        if ((size_t)sqlite3_bind_parameter_count(st) > op->p.n) {
            sqlite3_finalize(st);
            sq_fail(op, "compound query got too few parameters");
            goto rollback;
        }
        rc = sq_step_all(sq, op, st, (size_t)sqlite3_bind_parameter_count(st));
        sqlite3_finalize(st);
        if (rc < 0)
            goto rollback;
        sql = tail;
    }
    if (sqlite3_exec(sq->conn, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        sq_fail(op, sqlite3_errmsg(sq->conn));
        goto rollback;
    }
    op->res.status = 0;
    return;
rollback:
    sqlite3_exec(sq->conn, "ROLLBACK", NULL, NULL, NULL);
}

/*
 * DB thread: the cached statement in *slot, prepared from sql on first use. NULL after
 * sq_fail(); a failed statement is not cached, so the next use retries (e.g. after a migration).
 */
static sqlite3_stmt *sq_stmt(struct sq *sq, struct sq_op *op, sqlite3_stmt **slot, const char *sql)
{
    if (*slot == NULL &&
        sqlite3_prepare_v3(sq->conn, sql, -1, SQLITE_PREPARE_PERSISTENT, slot, NULL) != SQLITE_OK) {
        sq_fail(op, sqlite3_errmsg(sq->conn));
        *slot = NULL;
    }
    return *slot;
}

/* Binds a text parameter, NULL as SQL NULL (the row outlives the statement's reset). */
static int sq_bind_str(sqlite3_stmt *st, int idx, const char *s)
{
    return s == NULL ? sqlite3_bind_null(st, idx)
                     : sqlite3_bind_text(st, idx, s, -1, SQLITE_STATIC);
}

/* Binds r to the parameters of sq_sql[DB_Q_USAGE_INSERT_BATCH]. Returns an SQLite code. */
static int sq_bind_usage(sqlite3_stmt *st, const struct db_usage_row *r)
{
    const char *strs[] = {r->id,    r->api_key_id, r->user_id, r->ts,
                          r->model, r->provider,   r->endpoint};
    const int64_t toks[] = {r->prompt_tokens, r->completion_tokens, r->total_tokens};
    int rc = SQLITE_OK, i;

    for (i = 0; i < 7 && rc == SQLITE_OK; i++)
        rc = sq_bind_str(st, i + 1, strs[i]);
    for (i = 0; i < 3 && rc == SQLITE_OK; i++)
        rc = r->has_tokens ? sqlite3_bind_int64(st, 8 + i, toks[i]) : sqlite3_bind_null(st, 8 + i);
    if (rc == SQLITE_OK)
        rc = r->has_cost ? sqlite3_bind_double(st, 11, r->cost) : sqlite3_bind_null(st, 11);
    if (rc == SQLITE_OK)
        rc = sq_bind_str(st, 12, r->status);
    if (rc == SQLITE_OK)
        rc = sq_bind_str(st, 13, r->error_message);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int(st, 14, r->estimated ? 1 : 0);
    return rc;
}

/* A user's summed cost in one usage batch. */
struct sq_spend {
    const char *user;
    double total;
};

/* Adds cost to user's entry of sums[0..*n), or appends one (sums has room for every row). */
static void sq_spend_add(struct sq_spend *sums, size_t *n, const char *user, double cost)
{
    for (size_t i = 0; i < *n; i++) {
        if (strcmp(sums[i].user, user) == 0) {
            sums[i].total += cost;
            return;
        }
    }
    sums[*n].user = user;
    sums[*n].total = cost;
    (*n)++;
}

/*
 * DB thread: one usage batch (db_usage_insert()) in one transaction: each row through the
 * cached INSERT, then each user's summed cost through one cached UPDATE. (An INSERT ... SELECT
 * over a JSON array, as PostgreSQL gets, cost SQLite a parse per row and column.)
 */
static void sq_run_usage_batch(struct sq *sq, struct sq_op *op)
{
    struct sq_spend *sums = calloc(op->nrows + 1, sizeof(*sums));
    size_t nsums = 0;
    sqlite3_stmt *ins, *upd;

    if (sums == NULL) {
        sq_fail(op, "out of memory");
        return;
    }
    ins = sq_stmt(sq, op, &sq->stmts[op->q], sq_sql[op->q]);
    upd = ins != NULL ? sq_stmt(sq, op, &sq->spend, sq_sql_spend) : NULL;
    if (upd == NULL)
        goto out;
    if (sqlite3_exec(sq->conn, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        sq_fail(op, sqlite3_errmsg(sq->conn));
        goto out;
    }
    for (size_t i = 0; i < op->nrows; i++) {
        const struct db_usage_row *r = &op->rows[i];
        int rc = sq_bind_usage(ins, r);

        if (rc == SQLITE_OK)
            rc = sqlite3_step(ins);
        sqlite3_reset(ins);
        sqlite3_clear_bindings(ins);
        if (rc != SQLITE_DONE) {
            sq_fail(op, sqlite3_errmsg(sq->conn));
            goto rollback;
        }
        if (r->user_id != NULL && r->has_cost)
            sq_spend_add(sums, &nsums, r->user_id, r->cost);
    }
    for (size_t i = 0; i < nsums; i++) {
        int rc = sqlite3_bind_text(upd, 1, sums[i].user, -1, SQLITE_STATIC);

        if (rc == SQLITE_OK)
            rc = sqlite3_bind_double(upd, 2, sums[i].total);
        if (rc == SQLITE_OK && (rc = sqlite3_step(upd)) == SQLITE_DONE)
            op->res.changes += sqlite3_changes64(sq->conn); /* as PostgreSQL's UPDATE */
        sqlite3_reset(upd);
        sqlite3_clear_bindings(upd);
        if (rc != SQLITE_DONE) {
            sq_fail(op, sqlite3_errmsg(sq->conn));
            goto rollback;
        }
    }
    if (sqlite3_exec(sq->conn, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        sq_fail(op, sqlite3_errmsg(sq->conn));
        goto rollback;
    }
    op->res.status = 0;
    goto out;
rollback:
    sqlite3_exec(sq->conn, "ROLLBACK", NULL, NULL, NULL);
out:
    free(sums);
}

/* DB thread: runs one query into op->res (status 0, or -1 with the SQLite message). */
static void sq_run_query(struct sq *sq, struct sq_op *op)
{
    sqlite3_stmt *st;
    char msg[256];

    if (sq_sql[op->q] == NULL) {
        sq_fail(op, "query not implemented by the SQLite backend");
        return;
    }
    if (op->q == DB_Q_USAGE_INSERT_BATCH) {
        sq_run_usage_batch(sq, op);
        return;
    }
    if (strchr(sq_sql[op->q], ';') != NULL) {
        sq_run_compound(sq, op);
        return;
    }
    if ((st = sq_stmt(sq, op, &sq->stmts[op->q], sq_sql[op->q])) == NULL)
        return;
    if ((size_t)sqlite3_bind_parameter_count(st) != op->p.n) {
        snprintf(msg, sizeof(msg), "query %s takes %d parameters, got %zu", db_query_name(op->q),
                 sqlite3_bind_parameter_count(st), op->p.n);
        sq_fail(op, msg);
        return;
    }
    if (sq_step_all(sq, op, st, op->p.n) == 0)
        op->res.status = 0;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

/* DB thread: runs a job and wakes the thread waiting for it (the op is on that thread's stack). */
static void sq_run_job(struct sq *sq, struct sq_op *op)
{
    int rc = op->job(sq, op->job_err, op->job_errlen);

    pthread_mutex_lock(&sq->mu);
    op->job_rc = rc;
    op->job_done = true;
    pthread_cond_broadcast(&sq->done_cv);
    pthread_mutex_unlock(&sq->mu);
}

static void *sq_thread(void *arg)
{
    struct sq *sq = arg;
    struct sq_op *op;

    for (;;) {
        pthread_mutex_lock(&sq->mu);
        while (sq->head == NULL && !sq->stopping)
            pthread_cond_wait(&sq->work_cv, &sq->mu);
        op = sq->head;
        if (op == NULL) { /* stopping and drained */
            pthread_mutex_unlock(&sq->mu);
            break;
        }
        sq->head = op->next;
        if (sq->head == NULL)
            sq->tail = NULL;
        pthread_mutex_unlock(&sq->mu);
        op->next = NULL;
        if (op->kind == SQ_OP_JOB) {
            sq_run_job(sq, op);
        } else {
            sq_run_query(sq, op);
            sq_deliver(op);
        }
    }
    return NULL;
}

/* Appends op to the queue. Returns 0, or -1 when the backend is stopping (op not taken). */
static int sq_enqueue(struct sq *sq, struct sq_op *op)
{
    pthread_mutex_lock(&sq->mu);
    if (sq->stopping) {
        pthread_mutex_unlock(&sq->mu);
        return -1;
    }
    op->next = NULL;
    if (sq->tail != NULL)
        sq->tail->next = op;
    else
        sq->head = op;
    sq->tail = op;
    pthread_cond_signal(&sq->work_cv);
    pthread_mutex_unlock(&sq->mu);
    return 0;
}

/* Runs job on the DB thread, in queue order, and waits for it. Returns its result. */
static int sq_job_run(struct sq *sq, int (*job)(struct sq *, char *, size_t), char *err,
                      size_t errlen)
{
    struct sq_op op = {.kind = SQ_OP_JOB, .job = job, .job_err = err, .job_errlen = errlen};

    if (sq_enqueue(sq, &op) < 0) {
        snprintf(err, errlen, "database is closing");
        return -1;
    }
    pthread_mutex_lock(&sq->mu);
    while (!op.job_done)
        pthread_cond_wait(&sq->done_cv, &sq->mu);
    pthread_mutex_unlock(&sq->mu);
    return op.job_rc;
}

/* Migration primitives over the connection (DB thread only). */
static int sq_io_script(void *ctx, const char *sql, char *err, size_t errlen)
{
    struct sq *sq = ctx;
    char *msg = NULL;

    if (sqlite3_exec(sq->conn, sql, NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(err, errlen, "%s", msg != NULL ? msg : sqlite3_errmsg(sq->conn));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

/* Runs sql with text parameters a and b (b may be NULL); returns the sqlite3_step() code. */
static int sq_io_step(struct sq *sq, const char *sql, const char *a, const char *b, char *err,
                      size_t errlen)
{
    sqlite3_stmt *st = NULL;
    int rc;

    rc = sqlite3_prepare_v2(sq->conn, sql, -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK && b != NULL)
        rc = sqlite3_bind_text(st, 2, b, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        snprintf(err, errlen, "%s", sqlite3_errmsg(sq->conn));
    sqlite3_finalize(st);
    return rc;
}

static int sq_io_applied(void *ctx, const char *version, char *err, size_t errlen)
{
    int rc = sq_io_step(ctx, "SELECT 1 FROM schema_migrations WHERE version = ?1", version, NULL,
                        err, errlen);

    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

static int sq_io_record(void *ctx, const char *version, const char *applied_at, char *err,
                        size_t errlen)
{
    int rc = sq_io_step(ctx, "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)",
                        version, applied_at, err, errlen);

    return rc == SQLITE_DONE ? 0 : -1;
}

static const struct db_migrate_io sq_migrate_io = {
    .begin_sql = "BEGIN IMMEDIATE", /* take the write lock before checking what is applied */
    .script = sq_io_script,
    .applied = sq_io_applied,
    .record = sq_io_record,
};

static int sq_migrate_job(struct sq *sq, char *err, size_t errlen)
{
    return db_migrations_apply(db_migrations_sqlite, sq->migrate_target, &sq_migrate_io, sq, err,
                               errlen);
}

static int sq_migrate(struct db *db, const char *target, char *err, size_t errlen)
{
    struct sq *sq = db_backend(db);

    sq->migrate_target = target; /* read by the DB thread inside the job, while we wait */
    return sq_job_run(sq, sq_migrate_job, err, errlen);
}

static int sq_exec(struct db *db, struct event_base *base, enum db_query q,
                   const struct db_params *p, db_done_fn *cb, void *arg)
{
    struct sq_op *op;

    if (q == DB_Q_USAGE_INSERT_BATCH) {
        LOG_ERR("db: usage batches go through db_usage_insert()");
        return -1;
    }
    op = calloc(1, sizeof(*op));
    if (op == NULL)
        goto oom;
    op->kind = SQ_OP_QUERY;
    op->q = q;
    op->base = base;
    op->cb = cb;
    op->arg = arg;
    if (p != NULL) {
        op->p.n = p->n;
        for (size_t i = 0; i < p->n; i++) {
            op->p.v[i] = p->v[i];
            if (p->v[i].type != DB_T_TEXT)
                continue;
            if (p->v[i].u.s == NULL) {
                op->p.v[i].type = DB_T_NULL;
                continue;
            }
            op->text[i] = strdup(p->v[i].u.s);
            if (op->text[i] == NULL)
                goto oom;
            op->p.v[i].u.s = op->text[i];
        }
    }
    if (sq_enqueue(db_backend(db), op) < 0) {
        sq_op_free(op);
        return -1;
    }
    return 0;
oom:
    LOG_ERR("db: out of memory queueing query %s", db_query_name(q));
    sq_op_free(op);
    return -1;
}

static int sq_usage_insert(struct db *db, struct event_base *base, const struct db_usage_row *rows,
                           size_t n, db_done_fn *cb, void *arg)
{
    struct sq_op *op = calloc(1, sizeof(*op));

    if (op == NULL) {
        LOG_ERR("db: out of memory queueing a usage batch");
        return -1;
    }
    op->kind = SQ_OP_QUERY;
    op->q = DB_Q_USAGE_INSERT_BATCH;
    op->base = base;
    op->cb = cb;
    op->arg = arg;
    op->rows = rows;
    op->nrows = n;
    if (sq_enqueue(db_backend(db), op) < 0) {
        sq_op_free(op);
        return -1;
    }
    return 0;
}

/* Start-up: runs one PRAGMA, copying the first cell of its first row (if any) to out. */
static int sq_pragma(sqlite3 *conn, const char *sql, char *out, size_t outlen)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if (out != NULL && outlen > 0)
        out[0] = '\0';
    if (sqlite3_prepare_v2(conn, sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const unsigned char *v = sqlite3_column_text(st, 0);

        if (out != NULL && outlen > 0 && out[0] == '\0' && v != NULL)
            snprintf(out, outlen, "%s", (const char *)v);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

/*
 * Turns a SQLAlchemy-style URL into a filename: "sqlite:///rel.db" is "rel.db",
 * "sqlite:////abs.db" is "/abs.db", "sqlite://", "sqlite:///" and "sqlite:///:memory:" are
 * ":memory:". A "?query" part is ignored. Returns an owned string, or NULL with err.
 */
static char *sq_url_path(const char *url, bool *memory, char *err, size_t errlen)
{
    const char *p = strchr(url, ':');
    size_t n;
    char *path;

    if (p == NULL || strncmp(p, "://", 3) != 0) {
        snprintf(err, errlen, "database_url must look like sqlite:///path/to/file.db");
        return NULL;
    }
    p += 3;
    if (*p != '\0' && *p != '/') {
        snprintf(err, errlen,
                 "a sqlite database_url names no host: use sqlite:///relative/file.db or "
                 "sqlite:////absolute/file.db");
        return NULL;
    }
    if (*p == '/')
        p++;
    n = strcspn(p, "?");
    if (p[n] == '?')
        LOG_WARN("db: ignoring the query part of the sqlite database_url");
    *memory = n == 0 || (n == 8 && strncmp(p, ":memory:", 8) == 0);
    path = *memory ? strdup(":memory:") : strndup(p, n);
    if (path == NULL)
        snprintf(err, errlen, "out of memory");
    return path;
}

static void sq_free(struct sq *sq)
{
    int rc;

    for (size_t i = 0; i < DB_Q__COUNT; i++) {
        sqlite3_finalize(sq->stmts[i]);
        sq->stmts[i] = NULL;
    }
    sqlite3_finalize(sq->spend);
    sq->spend = NULL;
    rc = sqlite3_close(sq->conn);
    if (rc != SQLITE_OK)
        LOG_ERR("db: closing SQLite database '%s': %s", sq->path, sqlite3_errstr(rc));
    sq->conn = NULL;
    pthread_cond_destroy(&sq->done_cv);
    pthread_cond_destroy(&sq->work_cv);
    pthread_mutex_destroy(&sq->mu);
    free(sq->path);
    free(sq);
}

/*
 * Process-wide, before SQLite initialises: no memory statistics, which would otherwise take a
 * global mutex on every allocation SQLite makes.
 */
static void sq_global_init(void)
{
    if (sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0) != SQLITE_OK)
        LOG_DEBUG("db: SQLite was initialised already; memory statistics stay on");
}

static int sq_open(struct db *db, const char *url, char *err, size_t errlen)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    struct sq *sq = calloc(1, sizeof(*sq));
    char mode[32];
    bool memory = false;
    int rc;

    if (sq == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    pthread_once(&once, sq_global_init);
    pthread_mutex_init(&sq->mu, NULL);
    pthread_cond_init(&sq->work_cv, NULL);
    pthread_cond_init(&sq->done_cv, NULL);
    sq->path = sq_url_path(url, &memory, err, errlen);
    if (sq->path == NULL)
        goto fail;
    /* NOMUTEX: the connection is only ever used by one thread at a time. */
    rc = sqlite3_open_v2(sq->path, &sq->conn,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK)
        goto fail_sqlite;
    /* busy_timeout first so the WAL switch waits for other processes' locks. */
    if (sq_pragma(sq->conn, "PRAGMA busy_timeout=5000", NULL, 0) < 0)
        goto fail_sqlite;
    if (!memory) {
        if (sq_pragma(sq->conn, "PRAGMA journal_mode=WAL", mode, sizeof(mode)) < 0)
            goto fail_sqlite;
        if (strcmp(mode, "wal") != 0)
            LOG_WARN("db: SQLite database '%s' stays in journal_mode=%s (WAL unavailable)",
                     sq->path, mode);
    }
    /* temp_store: the sorter and GROUP BY of a usage batch would otherwise create, write and
     * delete a file in /var/tmp per transaction. */
    if (sq_pragma(sq->conn, "PRAGMA foreign_keys=ON", NULL, 0) < 0 ||
        sq_pragma(sq->conn, "PRAGMA synchronous=NORMAL", NULL, 0) < 0 ||
        sq_pragma(sq->conn, "PRAGMA temp_store=MEMORY", NULL, 0) < 0)
        goto fail_sqlite;
    /* pthread_create orders every use above before the DB thread's first use. */
    if (pthread_create(&sq->thread, NULL, sq_thread, sq) != 0) {
        snprintf(err, errlen, "cannot start the database thread");
        goto fail;
    }
    sq->thread_started = true;
    db_set_backend(db, sq);
    LOG_DEBUG("db: opened SQLite database '%s'", sq->path);
    return 0;

fail_sqlite:
    snprintf(err, errlen, "cannot open SQLite database '%s': %s", sq->path,
             sq->conn != NULL ? sqlite3_errmsg(sq->conn) : "out of memory");
fail:
    sq_free(sq);
    return -1;
}

static void sq_close(struct db *db)
{
    struct sq *sq = db_backend(db);

    if (sq == NULL)
        return;
    pthread_mutex_lock(&sq->mu);
    sq->stopping = true;
    pthread_cond_broadcast(&sq->work_cv);
    pthread_mutex_unlock(&sq->mu);
    if (sq->thread_started)
        pthread_join(sq->thread, NULL); /* returns once the queue is drained */
    db_set_backend(db, NULL);
    sq_free(sq);
}

const struct db_ops db_sqlite_ops = {
    .name = "sqlite",
    .open = sq_open,
    .migrate = sq_migrate,
    .exec = sq_exec,
    .close = sq_close,
    .usage_insert = sq_usage_insert,
};
