/*
 * Storage interface: one small asynchronous API, several backends chosen by URL scheme
 * (sqlite:// now, postgresql:// later), SQLite-VFS style behind struct db_ops.
 * Callers name queries by enum; each backend owns its SQL. Results come back as struct
 * db_result (text cells), so no backend type leaks out.
 *
 * Threading: db_exec() may be called from any event-loop thread. The callback runs later on
 * the event_base given to db_exec() (never before db_exec() returns).
 */
#ifndef GW_DB_H
#define GW_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct db;

enum db_query {
    DB_Q_PING,            /* count of schema_migrations -> one row; fails when unmigrated */
    DB_Q_SCHEMA_VERSIONS, /* () -> rows (version, applied_at) of schema_migrations, by version */
    DB_Q_SCHEMA_VERSION,  /* (version TEXT) -> zero or one row (version, applied_at) */
    DB_Q_ECHO,            /* (4 params of any type) -> one row of 4 cells: the params as text */

    /*
     * Admin API and in-memory index. Column lists are fixed per entity (DB_COLS_* below);
     * "RETURNING row" means one row in that column order, none when nothing matched.
     * Timestamps are TEXT in util_ts_format() form, booleans 0/1, metadata JSON text.
     * Queries marked (tx) run several statements in one transaction.
     */
    DB_Q_BUDGET_INSERT, /* (id, max_budget|null, duration_sec|null, now) -> row */
    DB_Q_BUDGET_LIST,   /* (limit, offset) -> rows */
    DB_Q_BUDGET_ALL,    /* () -> every budget row */
    DB_Q_BUDGET_GET,    /* (id) -> row */
    DB_Q_BUDGET_UPDATE, /* (id, max_budget|null=keep, duration|null=keep, now) -> row */
    DB_Q_BUDGET_DELETE, /* (tx) (id) -> one row (budget_id) when deleted; users unassigned */

    DB_Q_USER_UPSERT, /* (user_id, alias, budget_id, blocked, metadata, started_at,
                         next_reset_at, now) -> row; inserts, or restores a soft-deleted user
                         (spend 0, created_at kept); no row when an active user exists */
    DB_Q_USER_LIST,   /* (limit, offset) -> rows of active users */
    DB_Q_USER_ALL,    /* () -> every user row, soft-deleted ones included */
    DB_Q_USER_GET,    /* (user_id) -> row, also for soft-deleted users (see deleted_at) */
    DB_Q_USER_UPDATE, /* (user_id, alias|null, budget_id|null, blocked|null, metadata|null,
                         started_at|null, next_reset_at|null, now, reanchor bool) -> row of an
                         active user; started/next_reset applied only when reanchor */
    DB_Q_USER_DELETE, /* (tx) (user_id, now) -> one row (user_id) when soft-deleted; the
                         user's keys are deactivated */
    DB_Q_USAGE_LIST,  /* (user_id, limit, offset) -> usage rows, newest first */

    DB_Q_KEY_CREATE,    /* (tx) (id, key_hash, key_name, user_id, now, expires_at, metadata,
                           user_alias, rpm_limit|null, tpm_limit|null) -> key row; creates the
                           user (no budget) when absent */
    DB_Q_KEY_LIST,      /* (limit, offset) -> key rows */
    DB_Q_KEY_GET,       /* (id) -> key row */
    DB_Q_KEY_UPDATE,    /* (id, key_name|null, is_active|null, expires_at|null, metadata|null,
                           set_rpm bool, rpm_limit|null, set_tpm bool, tpm_limit|null) -> key
                           row; a limit is written (NULL clears it) only when its set_ is true */
    DB_Q_KEY_DELETE,    /* (id) -> one row (id, key_hash) when deleted */
    DB_Q_KEY_INDEX,     /* () -> rows (id, key_hash, user_id, is_active, expires_at, rpm_limit,
                           tpm_limit) */
    DB_Q_KEY_INDEX_ONE, /* (id) -> that key's row in the DB_Q_KEY_INDEX form (for updating the
                           in-memory index after a PATCH) */
    DB_Q_KEY_TOUCH,     /* (id, last_used_at) -> nothing */
    DB_Q_KEY_COUNT,     /* () -> one row (count) */

    DB_Q_PRICE_UPSERT,        /* (model_key, input, output, now) -> price row */
    DB_Q_PRICE_INSERT_ABSENT, /* (model_key, input, output, now) -> price row when inserted,
                                 no row when the key already existed */
    DB_Q_PRICE_LIST,          /* (limit, offset) -> price rows */
    DB_Q_PRICE_ALL,           /* () -> price rows ordered by model_key */
    DB_Q_PRICE_GET,           /* (model_key) -> price row */
    DB_Q_PRICE_DELETE,        /* (model_key) -> one row (model_key) when deleted */

    /*
     * Usage writer (acct_usage.c), each (tx). DB_Q_USAGE_INSERT_BATCH is run through
     * db_usage_insert() only (its rows are not db_params). A backend without its own
     * usage_insert gets one TEXT parameter, a JSON array of row objects {"id", "key"?, "user"?,
     * "ts", "model", "provider"?, "endpoint", "pt"?, "ct"?, "tt"?, "cost"?, "status", "err"?,
     * "est"?} (absent = NULL; est 0/1).
     */
    DB_Q_USAGE_INSERT_BATCH, /* (tx) see db_usage_insert() */
    DB_Q_BUDGET_RESET,       /* (tx) (user_id, budget_id, previous_spend REAL, reset_at,
                                next_reset_at|null) -> nothing; an active user gets spend 0,
                                budget_started_at = updated_at = reset_at and the new
                                next_budget_reset_at, plus a budget_reset_logs row when the
                                budget exists */

    /*
     * Usage analytics (gw_usage.c). Every one takes the same 7 filters first: (start|null,
     * end|null (util_ts_format() text; the window is [start, end)), user_id|null,
     * api_key_id|null, model|null, provider|null, status|null); null means "any".
     */
    DB_Q_USAGE_FILTER_PAGE,  /* (filters, limit, offset) -> usage rows, newest first (ties:
                                id descending) */
    DB_Q_USAGE_FILTER_COUNT, /* (filters) -> one row (count) */
    /* (filters) -> rows (key, requests, errors, prompt_tokens, completion_tokens, total_tokens,
       cost): errors are rows whose status is not 'success', sums of nothing are 0. Time keys
       ("2026-12-07", "2026-12-07T13:00:00+00:00", UTC) ascending; the others by cost
       descending, then requests descending, then key (null last). */
    DB_Q_USAGE_SUM_DAY,
    DB_Q_USAGE_SUM_HOUR,
    DB_Q_USAGE_SUM_USER,
    DB_Q_USAGE_SUM_KEY,
    DB_Q_USAGE_SUM_MODEL,
    DB_Q_USAGE_SUM_PROVIDER,

    /* Rate limits across replicas (acct_rate.h, PostgreSQL's replica sync). */
    DB_Q_RATE_PUBLISH, /* (tx) (replica_id, rows JSON [{"s": subject, "t": second, "r":
                          requests, "k": tokens}], oldest second kept) -> nothing; upserts this
                          replica's rows, deletes every replica's older rows */
    DB_Q_RATE_OTHERS,  /* (replica_id, oldest second) -> rows (subject, second, requests,
                          tokens) summed over the other replicas */
    DB_Q__COUNT
};

/* Column order of the rows the admin queries return. */
#define DB_COLS_BUDGET "budget_id, max_budget, budget_duration_sec, created_at, updated_at"
#define DB_COLS_USER                                                                               \
    "user_id, alias, spend, budget_id, budget_started_at, next_budget_reset_at, blocked, "         \
    "created_at, updated_at, metadata, deleted_at"
#define DB_COLS_KEY                                                                                \
    "id, key_name, user_id, created_at, last_used_at, expires_at, is_active, metadata, "           \
    "rpm_limit, "                                                                                  \
    "tpm_limit"
#define DB_COLS_PRICE                                                                              \
    "model_key, input_price_per_million, output_price_per_million, created_at, updated_at"
#define DB_COLS_USAGE                                                                              \
    "id, user_id, api_key_id, timestamp, model, provider, endpoint, prompt_tokens, "               \
    "completion_tokens, total_tokens, cost, status, error_message"

enum db_type { DB_T_NULL, DB_T_TEXT, DB_T_INT, DB_T_REAL, DB_T_BOOL };

struct db_value {
    enum db_type type;
    union {
        const char *s; /* DB_T_TEXT: borrowed until db_exec() returns (it copies) */
        int64_t i;
        double d;
        bool b;
    } u;
};

/* A text parameter, or SQL NULL when s is NULL. */
static inline struct db_value db_text(const char *s)
{
    if (s == NULL)
        return (struct db_value){.type = DB_T_NULL};
    return (struct db_value){.type = DB_T_TEXT, .u.s = s};
}

#define DB_MAX_PARAMS 16

struct db_params {
    size_t n;
    struct db_value v[DB_MAX_PARAMS];
};

/* Result of one query, valid only during the callback. */
struct db_result {
    int status;        /* 0 ok, -1 failed */
    const char *error; /* message when status == -1 (no secrets) */
    size_t nrows, ncols;
    char **cells;    /* nrows*ncols, row-major; NULL cell = SQL NULL */
    int64_t changes; /* rows affected by INSERT/UPDATE/DELETE */
};

typedef void db_done_fn(const struct db_result *res, void *arg);

/* One usage_logs row for db_usage_insert(). NULL strings are SQL NULL; strings are UTF-8. */
struct db_usage_row {
    const char *id, *api_key_id, *user_id, *ts, *model, *provider, *endpoint, *status,
        *error_message;
    bool has_tokens, has_cost, estimated;
    int64_t prompt_tokens, completion_tokens, total_tokens;
    double cost;
};

/* Backend method table (db.c checks arguments and the closing flag before calling in). */
struct db_ops {
    const char *name;
    int (*open)(struct db *db, const char *url, char *err, size_t errlen);
    int (*migrate)(struct db *db, const char *target, char *err, size_t errlen);
    int (*exec)(struct db *db, struct event_base *base, enum db_query q, const struct db_params *p,
                db_done_fn *cb, void *arg);
    void (*close)(struct db *db);
    /* Optional (NULL: always true): false while the server cannot be reached. Any thread. */
    bool (*available)(struct db *db);
    /* Optional (NULL: db.c runs DB_Q_USAGE_INSERT_BATCH with the rows as JSON). */
    int (*usage_insert)(struct db *db, struct event_base *base, const struct db_usage_row *rows,
                        size_t n, db_done_fn *cb, void *arg);
};

/* True when url names a backend this build supports (scheme check only). */
bool db_url_supported(const char *url);

/*
 * False while the database is known to be unreachable (PostgreSQL: no pooled connection is up
 * and the last attempt failed; true again once one reconnects). SQLite is always available.
 * A cheap atomic read, safe from any thread: for failing closed on the hot path.
 */
bool db_available(struct db *db);

/* The backend's name ("sqlite" or "postgresql"). */
const char *db_backend_name(const struct db *db);

/*
 * Opens the database named by url ("sqlite:///path", "sqlite:///:memory:",
 * "postgresql://user:pw@host:port/db?pool_size=4", "postgres://...", or a libpq keyword
 * string "host=h dbname=db"). PostgreSQL connects in the background, so an unreachable server
 * shows in the first queries and db_migrate(), not here. Returns owned handle (free with
 * db_close()), or NULL with err set (the URL's password never appears in err).
 */
struct db *db_open(const char *url, char *err, size_t errlen);

/*
 * Interrupts migrations, running and to come: a wait for another replica's migration lock ends
 * within ~100 ms and db_migrate() returns -1. For a stop signal during start-up or the
 * migrate command; queries are not affected. Any thread.
 */
void db_interrupt(struct db *db);

/* True once db_interrupt() was called. Any thread. */
bool db_interrupted(struct db *db);

/*
 * on: a migration that finds another replica's migration lock taken fails at once ("another
 * replica is migrating the database") instead of waiting for it; serve's first start-up attempt
 * uses it so that the listeners come up and its retries do the waiting. Any thread.
 */
void db_migrate_nowait(struct db *db, bool on);
bool db_migrate_is_nowait(struct db *db);

/*
 * Applies every pending migration of the backend, each in its own transaction, recorded in
 * schema_migrations. Synchronous: only for start-up and the migrate/init-db commands, before
 * any event loop runs. Returns 0 or -1 with err.
 */
int db_migrate(struct db *db, char *err, size_t errlen) __attribute__((warn_unused_result));

/*
 * Like db_migrate(), up to and including migration target: "head" (or NULL) for all, else a
 * migration's full name ("0001_initial") or its number ("0001"). An unknown target applies
 * nothing and fails with "unknown revision '<target>' (known: head, 0001_initial, ...)".
 */
int db_migrate_to(struct db *db, const char *target, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/*
 * Queues query q with parameters p (copied; may be NULL). cb (may be NULL for fire-and-forget)
 * is later called on base's loop thread with the result. Returns 0, or -1 when the database is
 * closing (cb is then never called).
 */
int db_exec(struct db *db, struct event_base *base, enum db_query q, const struct db_params *p,
            db_done_fn *cb, void *arg) __attribute__((warn_unused_result));

/*
 * Queues DB_Q_USAGE_INSERT_BATCH: in one transaction inserts rows[0..n) into usage_logs in
 * order (a key or user that no longer exists is written as NULL, so foreign keys never fail the
 * batch) and adds each user's summed cost to the spend of that user unless soft-deleted; the
 * result has no rows, changes = users updated. Unlike db_exec(), nothing is copied: rows and
 * their strings must stay valid until cb (required) has run. Returns 0, or -1 when closing.
 */
int db_usage_insert(struct db *db, struct event_base *base, const struct db_usage_row *rows,
                    size_t n, db_done_fn *cb, void *arg) __attribute__((warn_unused_result));

/*
 * Stops accepting work: from now on db_exec() and db_migrate() return -1. Operations already
 * queued still run and their callbacks are still posted. For graceful shutdown (stop, drain,
 * then db_close()). NULL-safe; idempotent; safe to call from any thread.
 */
void db_shutdown(struct db *db);

/*
 * Runs query q to completion on the calling thread (a private event loop) and calls cb (may be
 * NULL) with the result before returning. For start-up and CLI commands only, never on a
 * serving event loop. Returns the result's status (0 or -1).
 */
int db_exec_sync(struct db *db, enum db_query q, const struct db_params *p, db_done_fn *cb,
                 void *arg);

/*
 * db_exec_sync() on a loop the caller keeps (base, borrowed; used by nothing else meanwhile), for
 * a thread that waits on the database again and again (the replica sync): no event base, and so
 * no descriptors, made per call, which would also fail fatally inside libevent when descriptors
 * have run out.
 */
int db_exec_wait(struct db *db, struct event_base *base, enum db_query q, const struct db_params *p,
                 db_done_fn *cb, void *arg);

/*
 * Finishes every queued operation (their callbacks are posted to their bases), then closes.
 * NULL-safe. Every base that still has queued operations must stay allocated until db_close()
 * returns; a callback posted to a base that never dispatches again is dropped (its result is
 * leaked with the base's event).
 */
void db_close(struct db *db);

/* Name of q for log lines ("ping"); "unknown" when out of range. */
const char *db_query_name(enum db_query q);

/*
 * Migration runner shared by the backends. A backend lends it three synchronous primitives
 * over its connection; it must call db_migrations_apply() where nothing else can use that
 * connection at the same time (start-up only).
 */
struct db_migration;
struct db_migrate_io {
    const char *begin_sql; /* statement that opens a write transaction ("BEGIN IMMEDIATE") */
    /* Runs sql (one or more statements, no parameters). Returns 0, or -1 with err. */
    int (*script)(void *ctx, const char *sql, char *err, size_t errlen);
    /* Returns 1 when schema_migrations holds version, 0 when not, -1 with err. */
    int (*applied)(void *ctx, const char *version, char *err, size_t errlen);
    /* Inserts (version, applied_at) into schema_migrations. Returns 0, or -1 with err. */
    int (*record)(void *ctx, const char *version, const char *applied_at, char *err, size_t errlen);
};

/*
 * Creates schema_migrations(version TEXT PRIMARY KEY, applied_at TEXT NOT NULL) if missing,
 * then applies, in order, each migration of list (ends with {NULL, NULL}) not yet recorded:
 * begin; its SQL; record it with applied_at = now (util_ts_format); COMMIT. On failure rolls
 * that migration back and returns -1 with err "migration <name> failed: <msg>" (earlier ones
 * stay applied). Logs each applied migration at INFO. Returns 0 (also when nothing was pending).
 */
int db_migrations_apply(const struct db_migration *list, const char *target,
                        const struct db_migrate_io *io, void *ctx, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Frees res's cells and empties it (a helper for the backends, which own their results). */
void db_result_clear(struct db_result *res);

/* Backend hooks for db.c (implemented by each backend file). */
extern const struct db_ops db_sqlite_ops;
extern const struct db_ops db_pg_ops;

/* Backend-private state accessors (db.c owns struct db). */
void *db_backend(struct db *db);
void db_set_backend(struct db *db, void *state);

#endif
