/*
 * Backend-neutral half of the storage layer: picks a backend by database_url scheme, owns
 * struct db (method table, backend state, closing flag), checks arguments before calling the
 * backend, and runs the migrations (schema_migrations bookkeeping) over primitives that each
 * backend lends.
 */
#include "db/db.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/event.h>
#include <jansson.h>

#include "db/db_migrations.h"
#include "log.h"
#include "util.h"

struct db {
    const struct db_ops *ops;
    void *backend;           /* owned by ops; freed by ops->close() */
    atomic_bool closing;     /* set by db_shutdown()/db_close(); read by any thread */
    atomic_bool interrupted; /* set by db_interrupt(): migrations stop waiting */
    atomic_bool nowait;      /* db_migrate_nowait(): a taken migration lock fails at once */
};

/*
 * Schemes, matched case-insensitively before "://". ops == NULL marks a backend this build
 * knows but does not carry yet; `missing` is then the error text.
 */
static const struct db_backend {
    const char *scheme;
    const struct db_ops *ops;
    const char *missing;
} db_backends[] = {
    {"sqlite", &db_sqlite_ops, NULL},          {"sqlite+pysqlite", &db_sqlite_ops, NULL},
    {"postgresql", &db_pg_ops, NULL},          {"postgres", &db_pg_ops, NULL},
    {"postgresql+psycopg2", &db_pg_ops, NULL},
};

/* A libpq keyword string ("host=db dbname=gw user=gw") has no scheme and goes to PostgreSQL. */
static const struct db_backend db_backend_conninfo = {"", &db_pg_ops, NULL};

static const char *const db_query_names[] = {
    [DB_Q_PING] = "ping",
    [DB_Q_SCHEMA_VERSIONS] = "schema_versions",
    [DB_Q_SCHEMA_VERSION] = "schema_version",
    [DB_Q_ECHO] = "echo",
    [DB_Q_BUDGET_INSERT] = "budget_insert",
    [DB_Q_BUDGET_LIST] = "budget_list",
    [DB_Q_BUDGET_ALL] = "budget_all",
    [DB_Q_BUDGET_GET] = "budget_get",
    [DB_Q_BUDGET_UPDATE] = "budget_update",
    [DB_Q_BUDGET_DELETE] = "budget_delete",
    [DB_Q_USER_UPSERT] = "user_upsert",
    [DB_Q_USER_LIST] = "user_list",
    [DB_Q_USER_ALL] = "user_all",
    [DB_Q_USER_GET] = "user_get",
    [DB_Q_USER_UPDATE] = "user_update",
    [DB_Q_USER_DELETE] = "user_delete",
    [DB_Q_USAGE_LIST] = "usage_list",
    [DB_Q_KEY_CREATE] = "key_create",
    [DB_Q_KEY_LIST] = "key_list",
    [DB_Q_KEY_GET] = "key_get",
    [DB_Q_KEY_UPDATE] = "key_update",
    [DB_Q_KEY_DELETE] = "key_delete",
    [DB_Q_KEY_INDEX] = "key_index",
    [DB_Q_KEY_INDEX_ONE] = "key_index_one",
    [DB_Q_KEY_TOUCH] = "key_touch",
    [DB_Q_KEY_COUNT] = "key_count",
    [DB_Q_PRICE_UPSERT] = "price_upsert",
    [DB_Q_PRICE_INSERT_ABSENT] = "price_insert_absent",
    [DB_Q_PRICE_LIST] = "price_list",
    [DB_Q_PRICE_ALL] = "price_all",
    [DB_Q_PRICE_GET] = "price_get",
    [DB_Q_PRICE_DELETE] = "price_delete",
    [DB_Q_USAGE_INSERT_BATCH] = "usage_insert_batch",
    [DB_Q_BUDGET_RESET] = "budget_reset",
    [DB_Q_USAGE_FILTER_PAGE] = "usage_filter_page",
    [DB_Q_USAGE_FILTER_COUNT] = "usage_filter_count",
    [DB_Q_USAGE_SUM_DAY] = "usage_sum_day",
    [DB_Q_USAGE_SUM_HOUR] = "usage_sum_hour",
    [DB_Q_USAGE_SUM_USER] = "usage_sum_user",
    [DB_Q_USAGE_SUM_KEY] = "usage_sum_key",
    [DB_Q_USAGE_SUM_MODEL] = "usage_sum_model",
    [DB_Q_USAGE_SUM_PROVIDER] = "usage_sum_provider",
    [DB_Q_RATE_PUBLISH] = "rate_publish",
    [DB_Q_RATE_OTHERS] = "rate_others",
};
_Static_assert(sizeof(db_query_names) / sizeof(db_query_names[0]) == DB_Q__COUNT,
               "every enum db_query needs a name");

/*
 * Finds the scheme of url: RFC 3986 ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) before ':'.
 * Returns its length, or 0 when url does not start with one. Only the scheme is ever echoed
 * in messages, so userinfo (passwords) cannot leak.
 */
static size_t db_scheme_len(const char *url)
{
    size_t n = 0;

    if (url == NULL)
        return 0;
    while ((url[n] >= 'a' && url[n] <= 'z') || (url[n] >= 'A' && url[n] <= 'Z') ||
           (n > 0 &&
            ((url[n] >= '0' && url[n] <= '9') || url[n] == '+' || url[n] == '-' || url[n] == '.')))
        n++;
    return url[n] == ':' ? n : 0;
}

/* True when s starts like a libpq keyword string: optional blanks, a keyword, blanks, '='. */
static bool db_is_conninfo(const char *s)
{
    size_t n = 0;

    if (s == NULL)
        return false;
    s += strspn(s, " \t\n");
    while ((s[n] >= 'a' && s[n] <= 'z') || s[n] == '_')
        n++;
    return n > 0 && s[n + strspn(s + n, " \t")] == '=';
}

static const struct db_backend *db_backend_find(const char *url)
{
    size_t n = db_scheme_len(url);

    if (n == 0)
        return db_is_conninfo(url) ? &db_backend_conninfo : NULL;
    for (size_t i = 0; i < sizeof(db_backends) / sizeof(db_backends[0]); i++) {
        if (strlen(db_backends[i].scheme) == n && strncasecmp(db_backends[i].scheme, url, n) == 0)
            return &db_backends[i];
    }
    return NULL;
}

bool db_url_supported(const char *url)
{
    const struct db_backend *b = db_backend_find(url);

    return b != NULL && b->ops != NULL;
}

struct db *db_open(const char *url, char *err, size_t errlen)
{
    const struct db_backend *b = db_backend_find(url);
    struct db *db = NULL;
    size_t n;

    if (b == NULL) {
        n = db_scheme_len(url);
        if (n == 0)
            snprintf(err, errlen,
                     "database_url has no scheme (expected sqlite:/// or postgresql://)");
        else
            snprintf(err, errlen,
                     "unsupported database_url scheme '%.*s' (expected sqlite:/// or "
                     "postgresql://)",
                     (int)(n > 40 ? 40 : n), url);
        return NULL;
    }
    if (b->ops == NULL) {
        snprintf(err, errlen, "%s", b->missing);
        return NULL;
    }
    db = calloc(1, sizeof(*db));
    if (db == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    db->ops = b->ops;
    atomic_init(&db->closing, false);
    if (db->ops->open(db, url, err, errlen) < 0) {
        free(db);
        return NULL;
    }
    return db;
}

void db_interrupt(struct db *db)
{
    if (db != NULL)
        atomic_store(&db->interrupted, true);
}

bool db_interrupted(struct db *db)
{
    return db != NULL && atomic_load(&db->interrupted);
}

void db_migrate_nowait(struct db *db, bool on)
{
    if (db != NULL)
        atomic_store(&db->nowait, on);
}

bool db_migrate_is_nowait(struct db *db)
{
    return db != NULL && atomic_load(&db->nowait);
}

int db_migrate_to(struct db *db, const char *target, char *err, size_t errlen)
{
    if (db == NULL || atomic_load(&db->closing)) {
        snprintf(err, errlen, "database is closing");
        return -1;
    }
    if (atomic_load(&db->interrupted)) {
        snprintf(err, errlen, "migration interrupted (stop requested)");
        return -1;
    }
    return db->ops->migrate(db, target, err, errlen);
}

int db_migrate(struct db *db, char *err, size_t errlen)
{
    return db_migrate_to(db, NULL, err, errlen);
}

/* Index of the last migration to apply for target, or -1 (message in err). */
static long db_migration_target(const struct db_migration *list, const char *target, char *err,
                                size_t errlen)
{
    size_t n = 0, tl = target != NULL ? strlen(target) : 0, used;

    while (list[n].name != NULL)
        n++;
    if (target == NULL || strcmp(target, "head") == 0)
        return (long)n - 1;
    for (size_t i = 0; i < n; i++) {
        const char *name = list[i].name;
        if (strcmp(name, target) == 0 || (strncmp(name, target, tl) == 0 && name[tl] == '_'))
            return (long)i;
    }
    used = (size_t)snprintf(err, errlen, "unknown revision '%s' (known: head", target);
    for (size_t i = 0; i < n && used < errlen; i++)
        used += (size_t)snprintf(err + used, errlen - used, ", %s", list[i].name);
    if (used < errlen)
        snprintf(err + used, errlen - used, ")");
    return -1;
}

int db_exec(struct db *db, struct event_base *base, enum db_query q, const struct db_params *p,
            db_done_fn *cb, void *arg)
{
    if (db == NULL || atomic_load(&db->closing))
        return -1;
    if ((unsigned)q >= DB_Q__COUNT || (p != NULL && p->n > DB_MAX_PARAMS) ||
        (cb != NULL && base == NULL)) {
        LOG_ERR("db: bad db_exec() call (query %d)", (int)q);
        return -1;
    }
    return db->ops->exec(db, base, q, p, cb, arg);
}

/* Sets obj[key] to the string s unless s is NULL (absent = SQL NULL). Returns 0 or -1. */
static int db_json_set_str(json_t *obj, const char *key, const char *s)
{
    return s == NULL ? 0 : json_object_set_new(obj, key, json_string(s));
}

/* rows as the JSON array of DB_Q_USAGE_INSERT_BATCH (db.h). Returns owned text or NULL. */
static char *db_usage_json(const struct db_usage_row *rows, size_t n)
{
    json_t *arr = json_array();
    char *out = NULL;
    int rc = arr == NULL ? -1 : 0;

    for (size_t i = 0; i < n && rc == 0; i++) {
        const struct db_usage_row *r = &rows[i];
        json_t *o = json_object();

        if (o == NULL || json_array_append_new(arr, o) < 0) {
            rc = -1;
            break;
        }
        rc |= db_json_set_str(o, "id", r->id);
        rc |= db_json_set_str(o, "key", r->api_key_id);
        rc |= db_json_set_str(o, "user", r->user_id);
        rc |= db_json_set_str(o, "ts", r->ts);
        rc |= db_json_set_str(o, "model", r->model);
        rc |= db_json_set_str(o, "provider", r->provider);
        rc |= db_json_set_str(o, "endpoint", r->endpoint);
        rc |= db_json_set_str(o, "status", r->status);
        rc |= db_json_set_str(o, "err", r->error_message);
        if (r->has_tokens) {
            rc |= json_object_set_new(o, "pt", json_integer(r->prompt_tokens));
            rc |= json_object_set_new(o, "ct", json_integer(r->completion_tokens));
            rc |= json_object_set_new(o, "tt", json_integer(r->total_tokens));
        }
        if (r->has_cost)
            rc |= json_object_set_new(o, "cost", json_real(r->cost));
        if (r->estimated)
            rc |= json_object_set_new(o, "est", json_integer(1));
    }
    if (rc == 0)
        out = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    return out;
}

int db_usage_insert(struct db *db, struct event_base *base, const struct db_usage_row *rows,
                    size_t n, db_done_fn *cb, void *arg)
{
    struct db_params p = {.n = 1};
    char *json;
    int rc;

    if (db == NULL || atomic_load(&db->closing))
        return -1;
    if (cb == NULL || base == NULL || (rows == NULL && n > 0)) {
        LOG_ERR("db: bad db_usage_insert() call");
        return -1;
    }
    if (db->ops->usage_insert != NULL)
        return db->ops->usage_insert(db, base, rows, n, cb, arg);
    json = db_usage_json(rows, n);
    if (json == NULL) {
        LOG_ERR("db: out of memory (or bad UTF-8) building a usage batch");
        return -1;
    }
    p.v[0] = db_text(json);
    rc = db->ops->exec(db, base, DB_Q_USAGE_INSERT_BATCH, &p, cb, arg);
    free(json);
    return rc;
}

void db_shutdown(struct db *db)
{
    if (db != NULL)
        atomic_store(&db->closing, true);
}

void db_close(struct db *db)
{
    if (db == NULL)
        return;
    atomic_store(&db->closing, true);
    db->ops->close(db);
    db->backend = NULL;
    free(db);
}

void db_result_clear(struct db_result *res)
{
    if (res->cells != NULL) {
        for (size_t i = 0; i < res->nrows * res->ncols; i++)
            free(res->cells[i]);
    }
    free(res->cells);
    res->cells = NULL;
    res->nrows = 0;
    res->ncols = 0;
}

const char *db_query_name(enum db_query q)
{
    if ((unsigned)q >= DB_Q__COUNT)
        return "unknown";
    return db_query_names[q];
}

void *db_backend(struct db *db)
{
    return db->backend;
}

void db_set_backend(struct db *db, void *state)
{
    db->backend = state;
}

int db_migrations_apply(const struct db_migration *list, const char *target,
                        const struct db_migrate_io *io, void *ctx, char *err, size_t errlen)
{
    long last = db_migration_target(list, target, err, errlen);
    char msg[512], ignored[64], ts[UTIL_TS_LEN];
    const struct db_migration *m;
    int rc;

    if (last == -1 && target != NULL && strcmp(target, "head") != 0)
        return -1; /* unknown target; err is set */

    if (io->script(ctx,
                   "CREATE TABLE IF NOT EXISTS schema_migrations ("
                   "version TEXT PRIMARY KEY, applied_at TEXT NOT NULL)",
                   msg, sizeof(msg)) < 0) {
        snprintf(err, errlen, "cannot create schema_migrations: %s", msg);
        return -1;
    }
    for (m = list; m->name != NULL && m - list <= last; m++) {
        /*
         * The check runs inside the write transaction so two processes migrating the same
         * database at once apply each migration only once.
         */
        if (io->script(ctx, io->begin_sql, msg, sizeof(msg)) < 0)
            goto fail;
        rc = io->applied(ctx, m->name, msg, sizeof(msg));
        if (rc < 0)
            goto fail_rollback;
        if (rc == 1) {
            if (io->script(ctx, "COMMIT", msg, sizeof(msg)) < 0)
                goto fail_rollback;
            continue;
        }
        util_ts_format(ts, sizeof(ts), util_now_us());
        if (io->script(ctx, m->sql, msg, sizeof(msg)) < 0 ||
            io->record(ctx, m->name, ts, msg, sizeof(msg)) < 0 ||
            io->script(ctx, "COMMIT", msg, sizeof(msg)) < 0)
            goto fail_rollback;
        LOG_INFO("applied migration %s", m->name);
    }
    return 0;

fail_rollback:
    /* ROLLBACK fails harmlessly when the error already ended the transaction. */
    (void)io->script(ctx, "ROLLBACK", ignored, sizeof(ignored));
fail:
    snprintf(err, errlen, "migration %s failed: %s", m->name, msg);
    return -1;
}

struct db_sync {
    db_done_fn *cb;
    void *arg;
    int status;
    bool done;
};

static void db_sync_done(const struct db_result *res, void *arg)
{
    struct db_sync *s = arg;

    s->status = res->status;
    s->done = true;
    if (s->cb != NULL)
        s->cb(res, s->arg);
}

int db_exec_wait(struct db *db, struct event_base *base, enum db_query q, const struct db_params *p,
                 db_done_fn *cb, void *arg)
{
    struct db_sync s = {.cb = cb, .arg = arg, .status = -1};

    if (db_exec(db, base, q, p, db_sync_done, &s) == 0) {
        /* The result is posted to base from the database thread: block until it arrives (a
         * loop with no event would return at once and spin). */
        while (!s.done)
            event_base_loop(base, EVLOOP_ONCE | EVLOOP_NO_EXIT_ON_EMPTY);
    }
    return s.done ? s.status : -1;
}

int db_exec_sync(struct db *db, enum db_query q, const struct db_params *p, db_done_fn *cb,
                 void *arg)
{
    struct event_base *base = event_base_new();
    int rc;

    if (base == NULL)
        return -1;
    rc = db_exec_wait(db, base, q, p, cb, arg);
    event_base_free(base);
    return rc;
}

const char *db_backend_name(const struct db *db)
{
    return db->ops->name;
}

bool db_available(struct db *db)
{
    if (db == NULL || atomic_load(&db->closing))
        return false;
    return db->ops->available == NULL || db->backend == NULL || db->ops->available(db);
}
