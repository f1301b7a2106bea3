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
    DB_Q_PING, /* SELECT 1 -> one row, one column */
    DB_Q__COUNT
};

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

#define DB_MAX_PARAMS 16

struct db_params {
    size_t n;
    struct db_value v[DB_MAX_PARAMS];
};

/* Result of one query, valid only during the callback. */
struct db_result {
    int status;         /* 0 ok, -1 failed */
    const char *error;  /* message when status == -1 (no secrets) */
    size_t nrows, ncols;
    char **cells;       /* nrows*ncols, row-major; NULL cell = SQL NULL */
    int64_t changes;    /* rows affected by INSERT/UPDATE/DELETE */
};

typedef void db_done_fn(const struct db_result *res, void *arg);

/* Backend method table. */
struct db_ops {
    const char *name;
    int (*open)(struct db *db, const char *url, char *err, size_t errlen);
    int (*migrate)(struct db *db, char *err, size_t errlen);
    int (*exec)(struct db *db, struct event_base *base, enum db_query q,
                const struct db_params *p, db_done_fn *cb, void *arg);
    void (*close)(struct db *db);
};

/* True when url names a backend this build supports (scheme check only). */
bool db_url_supported(const char *url);

/*
 * Opens the database named by url ("sqlite:///path", "sqlite:///:memory:", later
 * "postgresql://..."). Returns owned handle (free with db_close()), or NULL with err set
 * (the URL's password never appears in err).
 */
struct db *db_open(const char *url, char *err, size_t errlen);

/*
 * Applies every pending migration of the backend, each in its own transaction, recorded in
 * schema_migrations. Synchronous: only for start-up and the migrate/init-db commands, before
 * any event loop runs. Returns 0 or -1 with err.
 */
int db_migrate(struct db *db, char *err, size_t errlen) __attribute__((warn_unused_result));

/*
 * Queues query q with parameters p (copied; may be NULL). cb (may be NULL for fire-and-forget)
 * is later called on base's loop thread with the result. Returns 0, or -1 when the database is
 * closing (cb is then never called).
 */
int db_exec(struct db *db, struct event_base *base, enum db_query q, const struct db_params *p,
            db_done_fn *cb, void *arg) __attribute__((warn_unused_result));

/*
 * Finishes every queued operation (their callbacks are posted to their bases), then closes.
 * NULL-safe. Callbacks posted to a base that no longer dispatches are dropped with the base.
 */
void db_close(struct db *db);

/* Backend hooks for db.c (implemented by each backend file). */
extern const struct db_ops db_sqlite_ops;

/* Backend-private state accessors (db.c owns struct db). */
void *db_backend(struct db *db);
void db_set_backend(struct db *db, void *state);

#endif
