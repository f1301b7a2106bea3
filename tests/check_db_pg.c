/*
 * PostgreSQL backend against a real throwaway cluster (t_pg.h, started once per TCase by an
 * unchecked fixture; each test creates its own database): URL forms, migrations (idempotent,
 * concurrent, schema), callbacks on the caller's loop, parameter types, every admin and
 * usage query giving the same cells as the SQLite backend, compound rollback, ON DELETE
 * behaviour, draining on close, and the server going away and coming back.
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>
#include <libpq-fe.h>

#include "db/db.h"
#include "t_db.h"
#include "t_pg.h"
#include "util.h"

static struct t_pg cluster;
static int cluster_rc = -1;

static void cluster_setup(void)
{
    cluster_rc = t_pg_start(&cluster);
}

static void cluster_teardown(void)
{
    t_pg_stop(&cluster);
}

/* ---- helpers ---- */

/* Every cell of a result, copied. */
struct res {
    int calls, status;
    char error[256];
    size_t nrows, ncols;
    char **cells;
    int64_t changes;
    bool exec_returned;
    const bool *returned_flag;
    pthread_t thread;
};

static void res_clear(struct res *r)
{
    for (size_t i = 0; r->cells != NULL && i < r->nrows * r->ncols; i++)
        free(r->cells[i]);
    free(r->cells);
    r->cells = NULL;
    r->nrows = r->ncols = 0;
}

static void res_cb(const struct db_result *dr, void *arg)
{
    struct res *r = arg;

    res_clear(r);
    r->calls++;
    r->status = dr->status;
    snprintf(r->error, sizeof(r->error), "%s", dr->error != NULL ? dr->error : "");
    r->nrows = dr->nrows;
    r->ncols = dr->ncols;
    r->changes = dr->changes;
    r->cells = calloc(dr->nrows * dr->ncols + 1, sizeof(char *));
    for (size_t i = 0; i < dr->nrows * dr->ncols; i++)
        r->cells[i] = dr->cells[i] != NULL ? strdup(dr->cells[i]) : NULL;
    r->exec_returned = r->returned_flag != NULL && *r->returned_flag;
    r->thread = pthread_self();
}

static const char *cell(const struct res *r, size_t i)
{
    return i < r->nrows * r->ncols ? r->cells[i] : NULL;
}

static struct event_base *t_base_new(void)
{
    struct event_base *base;

    ck_assert_int_eq(evthread_use_pthreads(), 0);
    base = event_base_new();
    ck_assert_ptr_nonnull(base);
    return base;
}

static bool t_pump(struct event_base *base, const int *counter, int target, int secs)
{
    int64_t deadline = util_mono_us() + (int64_t)secs * 1000000;

    while (*counter < target) {
        if (util_mono_us() > deadline)
            return false;
        event_base_loop(base, EVLOOP_NONBLOCK);
        if (*counter < target)
            usleep(200);
    }
    return true;
}

/* A fresh database named after the test; url receives its URL. */
static void t_db_create(const char *name, char *url, size_t len)
{
    ck_assert_msg(cluster_rc == 0, "PostgreSQL test cluster: %s", cluster.err);
    ck_assert_msg(t_pg_createdb(&cluster, name, url, len) == 0, "%s", cluster.err);
}

static struct db *t_open(const char *url)
{
    char err[256] = "";
    struct db *db = db_open(url, err, sizeof(err));

    ck_assert_msg(db != NULL, "db_open(%s): %s", url, err);
    return db;
}

static void t_migrate(struct db *db)
{
    char err[256] = "";

    ck_assert_msg(db_migrate(db, err, sizeof(err)) == 0, "db_migrate: %s", err);
}

/* Runs q to completion on base into r. */
static void t_run(struct db *db, struct event_base *base, enum db_query q,
                  const struct db_params *p, struct res *r)
{
    int before = r->calls;

    ck_assert_int_eq(db_exec(db, base, q, p, res_cb, r), 0);
    ck_assert_msg(t_pump(base, &r->calls, before + 1, 10), "query %s timed out", db_query_name(q));
}

/* db_usage_insert() of rows[0..n), waiting for its result in r. */
static void t_usage(struct db *db, struct event_base *base, const struct db_usage_row *rows,
                    size_t n, struct res *r)
{
    int before = r->calls;
    enum db_query q = DB_Q_USAGE_INSERT_BATCH;

    ck_assert_int_eq(db_usage_insert(db, base, rows, n, res_cb, r), 0);
    ck_assert_msg(t_pump(base, &r->calls, before + 1, 10), "query %s timed out", db_query_name(q));
}

/* Raw libpq: first cell of sql on database name ("<null>" for NULL, "" no row). */
static void t_raw(const char *name, const char *sql, char *out, size_t outlen)
{
    char ci[256];
    PGconn *c;
    PGresult *r;

    t_pg_conninfo(&cluster, name, ci, sizeof(ci));
    c = PQconnectdb(ci);
    ck_assert_msg(PQstatus(c) == CONNECTION_OK, "%s", PQerrorMessage(c));
    r = PQexec(c, sql);
    ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK || PQresultStatus(r) == PGRES_COMMAND_OK,
                  "%s: %s", sql, PQerrorMessage(c));
    out[0] = '\0';
    if (PQntuples(r) > 0)
        snprintf(out, outlen, "%s", PQgetisnull(r, 0, 0) ? "<null>" : PQgetvalue(r, 0, 0));
    PQclear(r);
    PQfinish(c);
}

/* ---- URLs ---- */

START_TEST(test_url_forms)
{
    static const char *const bad[] = {
        "postgresql://gw:hunter2pw@127.0.0.1:1/gw?bogus=1",
        "postgresql://gw:hunter2pw@127.0.0.1:1/gw?pool_size=0",
        "postgresql://gw:hunter2pw@127.0.0.1:1/gw?pool_size=abc",
        "host=127.0.0.1 password=hunter2pw nonsense",
        "host=127.0.0.1 password=hunter2pw pool_size=999",
    };
    struct event_base *base = t_base_new();
    char url[256], forms[5][320], err[256];
    struct res r = {0};

    ck_assert(db_url_supported("postgresql://u:p@h/db"));
    ck_assert(db_url_supported("postgres://h/db"));
    ck_assert(db_url_supported("PostgreSQL://h/db"));
    ck_assert(db_url_supported("postgresql+psycopg2://h/db"));
    ck_assert(db_url_supported("host=h dbname=db"));
    ck_assert(db_url_supported("  dbname = db"));
    ck_assert(!db_url_supported("x.db"));
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(err, sizeof(err), "unchanged");
        ck_assert_msg(db_open(bad[i], err, sizeof(err)) == NULL, "%s opened", bad[i]);
        ck_assert_msg(strncmp(err, "invalid database_url: ", 22) == 0, "%s: %s", bad[i], err);
        ck_assert_msg(strstr(err, "hunter2pw") == NULL, "password leaked: %s", err);
    }

    t_db_create("url_forms", url, sizeof(url));
    snprintf(forms[0], sizeof(forms[0]), "postgres://postgres:hunter2pw@127.0.0.1:%d/url_forms",
             cluster.port);
    snprintf(forms[1], sizeof(forms[1]),
             "PostgreSQL://postgres@127.0.0.1:%d/url_forms?pool_size=1&application_name=t",
             cluster.port);
    snprintf(forms[2], sizeof(forms[2]),
             "postgresql+psycopg2://postgres@127.0.0.1:%d/url_forms?connect_timeout=3&pool_size=2",
             cluster.port);
    snprintf(forms[3], sizeof(forms[3]),
             "host=%s port=%d user=postgres dbname=url_forms "
             "pool_size=3 options='-c statement_timeout=5000'",
             cluster.dir, cluster.port);
    snprintf(forms[4], sizeof(forms[4]), "%s", url);
    for (size_t i = 0; i < 5; i++) {
        struct db *db = t_open(forms[i]);

        t_migrate(db);
        t_run(db, base, DB_Q_PING, NULL, &r);
        ck_assert_msg(r.status == 0, "%s: %s", forms[i], r.error);
        ck_assert_str_eq(cell(&r, 0), T_DB_NMIGRATIONS);
        db_close(db);
    }
    res_clear(&r);
    event_base_free(base);
}
END_TEST

/* ---- migrations ---- */

START_TEST(test_migrate)
{
    static const char *const checks[][2] = {
        {"SELECT count(*) FROM information_schema.columns WHERE table_name = 'users'", "11"},
        {"SELECT count(*) FROM information_schema.columns WHERE table_name = 'api_keys'", "11"},
        {"SELECT count(*) FROM information_schema.columns WHERE table_name = 'rate_counts'", "5"},
        {"SELECT count(*) FROM information_schema.columns WHERE table_name = 'usage_logs'", "14"},
        {"SELECT count(*) FROM information_schema.columns WHERE table_name = 'budgets'", "5"},
        {"SELECT count(*) FROM information_schema.columns WHERE table_name = 'model_pricing'", "5"},
        {"SELECT count(*) FROM information_schema.columns WHERE "
         "table_name = 'budget_reset_logs'",
         "6"},
        {"SELECT string_agg(indexname, ',' ORDER BY indexname) FROM pg_indexes WHERE "
         "indexname LIKE 'ix_%'",
         "ix_api_keys_key_hash,ix_api_keys_user_id,ix_budget_reset_logs_user_id,"
         "ix_rate_counts_second,ix_usage_logs_api_key_id,ix_usage_logs_api_key_id_timestamp,"
         "ix_usage_logs_model_timestamp,ix_usage_logs_provider_timestamp,"
         "ix_usage_logs_status_timestamp,ix_usage_logs_timestamp,ix_usage_logs_user_id,"
         "ix_usage_logs_user_id_timestamp,ix_users_deleted_at"},
        {"SELECT string_agg(constraint_name || ':' || delete_rule, ',' ORDER BY "
         "constraint_name) FROM information_schema.referential_constraints",
         "api_keys_user_id_fkey:CASCADE,budget_reset_logs_budget_id_fkey:NO ACTION,"
         "budget_reset_logs_user_id_fkey:SET NULL,usage_logs_api_key_id_fkey:SET NULL,"
         "usage_logs_user_id_fkey:SET NULL,users_budget_id_fkey:NO ACTION"},
        {"SELECT data_type FROM information_schema.columns WHERE table_name = 'users' AND "
         "column_name = 'created_at'",
         "timestamp with time zone"},
        {"SELECT data_type FROM information_schema.columns WHERE table_name = 'users' AND "
         "column_name = 'metadata'",
         "json"},
        /* 0002: 100 years of seconds do not fit a 32-bit INTEGER. */
        {"SELECT data_type FROM information_schema.columns WHERE table_name = 'budgets' AND "
         "column_name = 'budget_duration_sec'",
         "bigint"},
        {"SELECT is_nullable || column_default FROM information_schema.columns WHERE "
         "table_name = 'usage_logs' AND column_name = 'usage_estimated'",
         "NOfalse"},
        {"SELECT is_nullable FROM information_schema.columns WHERE "
         "table_name = 'budget_reset_logs' AND column_name = 'user_id'",
         "YES"},
        {"SELECT count(*) FROM information_schema.columns WHERE table_name = 'users' AND "
         "column_default IS NOT NULL",
         "0"},
    };
    struct event_base *base = t_base_new();
    char url[256], buf[512], at1[64];
    struct res r = {0};
    struct db *db;
    size_t n;

    t_db_create("migrate", url, sizeof(url));
    db = t_open(url);
    t_migrate(db);
    t_migrate(db); /* no-op */
    t_run(db, base, DB_Q_SCHEMA_VERSIONS, NULL, &r);
    ck_assert_int_eq(r.status, 0);
    ck_assert_uint_eq(r.nrows, 4);
    ck_assert_str_eq(cell(&r, 0), "0001_initial");
    n = strlen(cell(&r, 1));
    ck_assert_uint_ge(n, 25);
    ck_assert_str_eq(cell(&r, 1) + n - 6, "+00:00");
    ck_assert_int_eq(cell(&r, 1)[10], 'T');
    snprintf(at1, sizeof(at1), "%s", cell(&r, 1));
    db_close(db);

    db = t_open(url); /* a fresh handle applies nothing either */
    t_migrate(db);
    t_run(db, base, DB_Q_SCHEMA_VERSIONS, NULL, &r);
    ck_assert_uint_eq(r.nrows, 4);
    ck_assert_str_eq(cell(&r, 1), at1);
    {
        char err[256] = "";

        ck_assert_int_eq(db_migrate_to(db, "0042", err, sizeof(err)), -1);
        ck_assert_str_eq(err, "unknown revision '0042' (known: head, 0001_initial, "
                              "0002_budget_duration_bigint, 0003_rate_limits, "
                              "0004_usage_analytics)");
    }
    db_close(db);
    for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
        t_raw("migrate", checks[i][0], buf, sizeof(buf));
        ck_assert_msg(strcmp(buf, checks[i][1]) == 0, "%s: got '%s'", checks[i][0], buf);
    }
    res_clear(&r);
    event_base_free(base);
}
END_TEST

#define T_NMIGRATORS 4

struct migrator {
    const char *url;
    int rc;
    char err[256];
};

static void *migrator_main(void *arg)
{
    struct migrator *m = arg;
    struct db *db = db_open(m->url, m->err, sizeof(m->err));

    m->rc = db != NULL ? db_migrate(db, m->err, sizeof(m->err)) : -1;
    db_close(db);
    return NULL;
}

START_TEST(test_migrate_concurrent)
{
    struct migrator m[T_NMIGRATORS];
    pthread_t th[T_NMIGRATORS];
    char url[256], buf[64];

    t_db_create("migrate_concurrent", url, sizeof(url));
    for (int i = 0; i < T_NMIGRATORS; i++) {
        m[i] = (struct migrator){.url = url, .rc = -2};
        ck_assert_int_eq(pthread_create(&th[i], NULL, migrator_main, &m[i]), 0);
    }
    for (int i = 0; i < T_NMIGRATORS; i++) {
        ck_assert_int_eq(pthread_join(th[i], NULL), 0);
        ck_assert_msg(m[i].rc == 0, "migrator %d: %s", i, m[i].err);
    }
    t_raw("migrate_concurrent", "SELECT count(*) FROM schema_migrations", buf, sizeof(buf));
    ck_assert_str_eq(buf, T_DB_NMIGRATIONS);
}
END_TEST

struct interrupted_migrator {
    struct db *db;
    int rc;
    char err[256];
};

static void *interrupted_main(void *arg)
{
    struct interrupted_migrator *m = arg;

    m->rc = db_migrate(m->db, m->err, sizeof(m->err));
    return NULL;
}

/* Another session holds the migration lock: db_interrupt() ends the wait at once (regression:
 * pg_advisory_lock blocked until the other session let go, so SIGTERM could not stop it). */
START_TEST(test_migrate_lock_wait_interrupted)
{
    struct interrupted_migrator m = {.rc = -2};
    char url[256], info[256];
    PGconn *holder;
    PGresult *r;
    pthread_t th;
    struct timespec t0, t1;

    t_db_create("migrate_interrupted", url, sizeof(url));
    t_pg_conninfo(&cluster, "migrate_interrupted", info, sizeof(info));
    holder = PQconnectdb(info);
    ck_assert_int_eq(PQstatus(holder), CONNECTION_OK);
    r = PQexec(holder, "SELECT pg_advisory_lock(7020945710798026615)");
    ck_assert_int_eq(PQresultStatus(r), PGRES_TUPLES_OK);
    PQclear(r);
    m.db = t_open(url);
    ck_assert_int_eq(pthread_create(&th, NULL, interrupted_main, &m), 0);
    usleep(500000);
    ck_assert_int_eq(m.rc, -2); /* still waiting for the lock */
    clock_gettime(CLOCK_MONOTONIC, &t0);
    db_interrupt(m.db);
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ck_assert_int_eq(m.rc, -1);
    ck_assert_msg(strstr(m.err, "interrupted") != NULL, "%s", m.err);
    ck_assert_msg((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 < 1000,
                  "the interrupted wait took too long");
    db_close(m.db);
    PQfinish(holder);
}
END_TEST

START_TEST(test_migrate_unreachable)
{
    char err[256] = "", url[128];
    struct db *db;

    ck_assert_msg(cluster_rc == 0, "PostgreSQL test cluster: %s", cluster.err);
    /* Nothing listens on the cluster's port + 1 (or if something does, it is not us). */
    snprintf(url, sizeof(url), "postgresql://gw:hunter2pw@127.0.0.1:%d/x", cluster.port + 1);
    db = t_open(url);
    ck_assert_int_eq(db_migrate(db, err, sizeof(err)), -1);
    ck_assert_msg(strncmp(err, "cannot connect to PostgreSQL: ", 30) == 0, "%s", err);
    ck_assert_ptr_null(strstr(err, "hunter2pw"));
    db_close(db);
}
END_TEST

/* ---- queries ---- */

START_TEST(test_ping_and_echo)
{
    struct event_base *base = t_base_new();
    bool returned = false;
    struct res r = {.returned_flag = &returned}, a = {0}, b = {0};
    struct db_params p = {.n = 4};
    char url[256], text[32];
    struct db *db;

    t_db_create("ping_echo", url, sizeof(url));
    db = t_open(url);
    t_migrate(db);
    ck_assert_int_eq(db_exec(db, base, DB_Q_PING, NULL, res_cb, &r), 0);
    returned = true;
    ck_assert_int_eq(r.calls, 0);
    ck_assert(t_pump(base, &r.calls, 1, 10));
    ck_assert(r.exec_returned);
    ck_assert(pthread_equal(r.thread, pthread_self()));
    ck_assert_int_eq(r.status, 0);
    ck_assert_str_eq(cell(&r, 0), T_DB_NMIGRATIONS);

    snprintf(text, sizeof(text), "it's \"quoted\" $1 ;");
    p.v[0] = (struct db_value){.type = DB_T_TEXT, .u.s = text};
    p.v[1] = (struct db_value){.type = DB_T_INT, .u.i = -9007199254740993LL};
    p.v[2] = (struct db_value){.type = DB_T_REAL, .u.d = 1.5};
    p.v[3] = (struct db_value){.type = DB_T_BOOL, .u.b = true};
    ck_assert_int_eq(db_exec(db, base, DB_Q_ECHO, &p, res_cb, &a), 0);
    memset(text, 'X', sizeof(text) - 1);
    p.v[0] = (struct db_value){.type = DB_T_NULL};
    p.v[1] = (struct db_value){.type = DB_T_TEXT, .u.s = NULL};
    p.v[2] = (struct db_value){.type = DB_T_BOOL, .u.b = false};
    p.v[3] = (struct db_value){.type = DB_T_TEXT, .u.s = ""};
    ck_assert_int_eq(db_exec(db, base, DB_Q_ECHO, &p, res_cb, &b), 0);
    ck_assert(t_pump(base, &a.calls, 1, 10));
    ck_assert(t_pump(base, &b.calls, 1, 10));
    ck_assert_int_eq(a.status, 0);
    ck_assert_uint_eq(a.ncols, 4);
    ck_assert_str_eq(cell(&a, 0), "it's \"quoted\" $1 ;");
    ck_assert_str_eq(cell(&a, 1), "-9007199254740993");
    ck_assert_str_eq(cell(&a, 2), "1.5");
    ck_assert_str_eq(cell(&a, 3), "1");
    ck_assert_int_eq(b.status, 0);
    ck_assert_ptr_null(cell(&b, 0));
    ck_assert_ptr_null(cell(&b, 1));
    ck_assert_str_eq(cell(&b, 2), "0");
    ck_assert_str_eq(cell(&b, 3), "");
    p.v[2] = (struct db_value){.type = DB_T_REAL, .u.d = 0.1};
    t_run(db, base, DB_Q_ECHO, &p, &b);
    ck_assert_str_eq(cell(&b, 2), "0.1");
    db_close(db);
    res_clear(&r);
    res_clear(&a);
    res_clear(&b);
    event_base_free(base);
}
END_TEST

START_TEST(test_query_errors)
{
    struct event_base *base = t_base_new();
    struct res r = {0};
    struct db_params p = {.n = 1};
    char url[256];
    struct db *db;

    t_db_create("query_errors", url, sizeof(url));
    db = t_open(url);
    t_run(db, base, DB_Q_SCHEMA_VERSIONS, NULL, &r);
    ck_assert_int_eq(r.status, -1);
    ck_assert_str_eq(r.error, "relation \"schema_migrations\" does not exist");
    ck_assert_uint_eq(r.nrows, 0);
    t_run(db, base, DB_Q_ECHO, NULL, &r); /* 0 of 4 parameters */
    ck_assert_int_eq(r.status, -1);
    ck_assert_str_eq(r.error, "query echo takes 4 parameters, got 0");
    t_migrate(db);
    t_run(db, base, DB_Q_SCHEMA_VERSION, NULL, &r);
    ck_assert_str_eq(r.error, "query schema_version takes 1 parameters, got 0");
    t_run(db, base, DB_Q_USER_DELETE, &p, &r);
    ck_assert_int_eq(r.status, -1);
    ck_assert_str_eq(r.error, "compound query got too few parameters");
    p.v[0] = db_text("0001_initial");
    t_run(db, base, DB_Q_SCHEMA_VERSION, &p, &r);
    ck_assert_int_eq(r.status, 0);
    ck_assert_uint_eq(r.nrows, 1);
    p.v[0] = db_text("9999");
    t_run(db, base, DB_Q_SCHEMA_VERSION, &p, &r);
    ck_assert_int_eq(r.status, 0);
    ck_assert_uint_eq(r.nrows, 0);
    ck_assert_uint_eq(r.ncols, 2);
    /* A bad value for the column type: the server's message, and the pool goes on. */
    p.n = 2;
    p.v[0] = (struct db_value){.type = DB_T_TEXT, .u.s = "x"};
    p.v[1] = (struct db_value){.type = DB_T_INT, .u.i = 0};
    t_run(db, base, DB_Q_BUDGET_LIST, &p, &r);
    ck_assert_int_eq(r.status, -1);
    ck_assert_str_eq(r.error, "invalid input syntax for type bigint: \"x\"");
    t_run(db, base, DB_Q_PING, NULL, &r);
    ck_assert_int_eq(r.status, 0);
    db_close(db);
    res_clear(&r);
    event_base_free(base);
}
END_TEST

/* ---- same cells as SQLite ---- */

#define S(x)                                                                                       \
    {                                                                                              \
        .type = DB_T_TEXT, .u.s = (x)                                                              \
    }
#define NUL                                                                                        \
    {                                                                                              \
        .type = DB_T_NULL                                                                          \
    }
#define I(x)                                                                                       \
    {                                                                                              \
        .type = DB_T_INT, .u.i = (x)                                                               \
    }
#define R(x)                                                                                       \
    {                                                                                              \
        .type = DB_T_REAL, .u.d = (x)                                                              \
    }
#define B(x)                                                                                       \
    {                                                                                              \
        .type = DB_T_BOOL, .u.b = (x)                                                              \
    }

#define T1 "2025-01-01T00:00:00+00:00"
#define T2 "2025-01-01T00:00:00.500000+00:00"
#define T3 "2025-11-07T16:41:44.429258+00:00"
#define T4 "2025-11-08T00:00:00.000001+00:00"
#define T5 "2025-12-31T23:59:59+00:00"
#define T6 "2026-02-28T12:00:00.100000+00:00"
#define T7 "2026-03-01T00:00:00+00:00"

struct step {
    enum db_query q;
    size_t n;
    struct db_value v[10];
    int status; /* expected */
    int rows;   /* expected, -1 = any */
    bool skip;  /* cells differ by design (applied_at) */
};

/* The usage batches of the steps below (a DB_Q_USAGE_INSERT_BATCH step's n picks one). */
static const struct db_usage_row batch1[] = {
    {.id = "l1",
     .api_key_id = "k1",
     .user_id = "u1",
     .ts = T3,
     .model = "gpt-4o",
     .provider = "openai",
     .endpoint = "/v1/chat/completions",
     .has_tokens = true,
     .prompt_tokens = 10,
     .completion_tokens = 20,
     .total_tokens = 30,
     .has_cost = true,
     .cost = 0.25,
     .status = "success"},
    {.id = "l2",
     .api_key_id = "ghost",
     .user_id = "u1",
     .ts = T4,
     .model = "gpt-4o",
     .endpoint = "/v1/chat/completions",
     .has_cost = true,
     .cost = 0.5,
     .status = "error",
     .error_message = "boom",
     .estimated = true},
    {.id = "l3",
     .user_id = "nobody",
     .ts = T5,
     .model = "e",
     .endpoint = "/v1/embeddings",
     .status = "success"},
    {.id = "l4",
     .api_key_id = "k2",
     .user_id = "u2",
     .ts = T5,
     .model = "m",
     .endpoint = "/v1/messages",
     .has_tokens = true,
     .prompt_tokens = 1,
     .has_cost = true,
     .cost = 1e-05,
     .status = "cancelled"},
};
static const struct db_usage_row batch2[] = {
    {.id = "l5",
     .api_key_id = "k1",
     .user_id = "u1",
     .ts = T6,
     .model = "x",
     .endpoint = "/v1/chat/completions",
     .has_cost = true,
     .cost = 2.0,
     .status = "success"},
};

static const struct step steps[] = {
    {DB_Q_PING, 0, {{0}}, 0, 1, false},
    {DB_Q_SCHEMA_VERSIONS, 0, {{0}}, 0, 4, true}, /* 0001_initial .. 0004_usage_analytics */
    {DB_Q_BUDGET_INSERT, 4, {S("b1"), R(10.5), I(3600), S(T1)}, 0, 1, false},
    {DB_Q_BUDGET_INSERT, 4, {S("b2"), NUL, NUL, S(T2)}, 0, 1, false},
    {DB_Q_BUDGET_INSERT, 4, {S("b1"), NUL, NUL, S(T2)}, -1, 0, false}, /* duplicate */
    {DB_Q_BUDGET_LIST, 2, {I(10), I(0)}, 0, 2, false},
    {DB_Q_BUDGET_LIST, 2, {I(1), I(1)}, 0, 1, false},
    {DB_Q_BUDGET_GET, 1, {S("b1")}, 0, 1, false},
    {DB_Q_BUDGET_UPDATE, 4, {S("b1"), NUL, I(7200), S(T3)}, 0, 1, false},
    {DB_Q_BUDGET_UPDATE, 4, {S("b2"), R(3), NUL, S(T3)}, 0, 1, false},
    {DB_Q_BUDGET_UPDATE, 4, {S("zz"), R(1), NUL, S(T3)}, 0, 0, false},
    {DB_Q_BUDGET_ALL, 0, {{0}}, 0, 2, false},

    {DB_Q_USER_UPSERT,
     8,
     {S("u1"), S("Alice"), S("b1"), B(false), S("{\"a\": [1, 2]}"), S(T1), S(T5), S(T1)},
     0,
     1,
     false},
    {DB_Q_USER_UPSERT,
     8,
     {S("u1"), S("Again"), NUL, B(true), S("{}"), NUL, NUL, S(T2)},
     0,
     0,
     false}, /* active: no row */
    {DB_Q_USER_UPSERT, 8, {S("u2"), NUL, NUL, B(true), S("{}"), NUL, NUL, S(T2)}, 0, 1, false},
    {DB_Q_USER_UPSERT,
     8,
     {S("u9"), NUL, S("no-such-budget"), B(false), S("{}"), NUL, NUL, S(T2)},
     -1,
     0,
     false}, /* foreign key */
    {DB_Q_USER_LIST, 2, {I(10), I(0)}, 0, 2, false},
    {DB_Q_USER_GET, 1, {S("u1")}, 0, 1, false},
    {DB_Q_USER_UPDATE,
     9,
     {S("u1"), S("Al"), NUL, B(true), NUL, S(T3), S(T4), S(T3), B(true)},
     0,
     1,
     false},
    {DB_Q_USER_UPDATE,
     9,
     {S("u1"), NUL, S("b2"), B(false), S("{\"z\":1}"), S(T6), S(T6), S(T4), B(false)},
     0,
     1,
     false},
    {DB_Q_USER_UPDATE,
     9,
     {S("nobody"), NUL, NUL, NUL, NUL, NUL, NUL, S(T4), B(false)},
     0,
     0,
     false},
    {DB_Q_USER_UPDATE,
     9,
     {S("u1"), NUL, S("b1"), NUL, NUL, NUL, NUL, S(T4), B(false)},
     0,
     1,
     false},

    {DB_Q_KEY_CREATE,
     10,
     {S("k1"), S("h1"), S("key one"), S("u1"), S(T2), NUL, S("{\"m\":true}"), NUL, I(10), NUL},
     0,
     1,
     false},
    {DB_Q_KEY_CREATE,
     10,
     {S("k2"), S("h2"), NUL, S("u2"), S(T3), S(T7), S("{}"), NUL, NUL, NUL},
     0,
     1,
     false},
    {DB_Q_KEY_CREATE,
     10,
     {S("k3"), S("h3"), NUL, S("u3"), S(T6), NUL, S("{}"), S("created"), NUL, NUL},
     0,
     1,
     false},
    {DB_Q_KEY_CREATE,
     10,
     {S("k4"), S("h1"), NUL, S("u4"), S(T4), NUL, S("{}"), S("rolled back"), NUL, NUL},
     -1,
     0,
     false}, /* duplicate hash: the user insert is rolled back too */
    {DB_Q_USER_GET, 1, {S("u4")}, 0, 0, false},
    {DB_Q_USER_GET, 1, {S("u3")}, 0, 1, false},
    {DB_Q_KEY_LIST, 2, {I(10), I(0)}, 0, 3, false},
    {DB_Q_KEY_GET, 1, {S("k1")}, 0, 1, false},
    {DB_Q_KEY_UPDATE,
     9,
     {S("k1"), S("renamed"), B(false), S(T7), S("{\"z\":2}"), B(true), NUL, B(true), I(500)},
     0,
     1,
     false},
    {DB_Q_KEY_UPDATE,
     9,
     {S("k1"), NUL, B(true), NUL, NUL, B(false), NUL, B(false), NUL},
     0,
     1,
     false},
    {DB_Q_KEY_UPDATE, 9, {S("k2"), NUL, NUL, NUL, NUL, B(true), I(3), B(false), NUL}, 0, 1, false},
    {DB_Q_KEY_UPDATE, 9, {S("kx"), NUL, NUL, NUL, NUL, B(false), NUL, B(false), NUL}, 0, 0, false},
    {DB_Q_KEY_INDEX, 0, {{0}}, 0, 3, false},
    {DB_Q_KEY_INDEX_ONE, 1, {S("k2")}, 0, 1, false},
    {DB_Q_KEY_TOUCH, 2, {S("k1"), S(T6)}, 0, 0, false},
    {DB_Q_KEY_GET, 1, {S("k1")}, 0, 1, false},
    {DB_Q_KEY_COUNT, 0, {{0}}, 0, 1, false},

    {DB_Q_PRICE_UPSERT, 4, {S("openai:gpt-4o"), R(2.5), R(10), S(T1)}, 0, 1, false},
    {DB_Q_PRICE_UPSERT, 4, {S("openai:gpt-4o"), R(3), R(12.25), S(T2)}, 0, 1, false},
    {DB_Q_PRICE_INSERT_ABSENT, 4, {S("openai:gpt-4o"), R(1), R(1), S(T3)}, 0, 0, false},
    {DB_Q_PRICE_INSERT_ABSENT, 4, {S("anthropic:claude"), R(0.001), R(0.1), S(T3)}, 0, 1, false},
    {DB_Q_PRICE_INSERT_ABSENT, 4, {S("Z/upper"), I(1), I(2), S(T4)}, 0, 1, false},
    {DB_Q_PRICE_LIST, 2, {I(2), I(1)}, 0, 2, false},
    {DB_Q_PRICE_ALL, 0, {{0}}, 0, 3, false},
    {DB_Q_PRICE_GET, 1, {S("anthropic:claude")}, 0, 1, false},
    {DB_Q_PRICE_DELETE, 1, {S("Z/upper")}, 0, 1, false},
    {DB_Q_PRICE_DELETE, 1, {S("Z/upper")}, 0, 0, false},

    {DB_Q_USAGE_INSERT_BATCH, 1, {{0}}, 0, 0, false},
    {DB_Q_USAGE_LIST, 3, {S("u1"), I(10), I(0)}, 0, 2, false},
    {DB_Q_USAGE_LIST, 3, {S("u2"), I(10), I(0)}, 0, 1, false},
    {DB_Q_USER_GET, 1, {S("u1")}, 0, 1, false}, /* spend 0.75 */
    {DB_Q_USER_GET, 1, {S("u2")}, 0, 1, false},
    {DB_Q_BUDGET_RESET, 5, {S("u1"), S("b1"), R(0.75), S(T6), S(T7)}, 0, 0, false},
    {DB_Q_BUDGET_RESET, 5, {S("u2"), S("no-budget"), R(0), S(T6), NUL}, 0, 0, false},
    {DB_Q_USER_GET, 1, {S("u1")}, 0, 1, false},
    {DB_Q_USER_GET, 1, {S("u2")}, 0, 1, false},

    {DB_Q_USER_DELETE, 2, {S("u1"), S(T7)}, 0, 1, false},
    {DB_Q_USER_DELETE, 2, {S("u1"), S(T7)}, 0, 0, false},
    {DB_Q_KEY_GET, 1, {S("k1")}, 0, 1, false}, /* deactivated */
    {DB_Q_USAGE_INSERT_BATCH, 2, {{0}}, 0, 0, false},
    {DB_Q_USER_GET, 1, {S("u1")}, 0, 1, false}, /* soft-deleted: spend unchanged */
    {DB_Q_USER_LIST, 2, {I(10), I(0)}, 0, 2, false},
    {DB_Q_USER_ALL, 0, {{0}}, 0, 3, false},
    {DB_Q_USER_UPSERT,
     8,
     {S("u1"), S("Back"), NUL, B(false), S("{}"), NUL, NUL, S(T7)},
     0,
     1,
     false}, /* restored: spend 0, created_at kept */

    {DB_Q_KEY_DELETE, 1, {S("k1")}, 0, 1, false}, /* has usage rows */
    {DB_Q_KEY_DELETE, 1, {S("k1")}, 0, 0, false},
    {DB_Q_USAGE_LIST, 3, {S("u1"), I(10), I(0)}, 0, 3, false},
    {DB_Q_BUDGET_DELETE, 1, {S("b1")}, -1, 0, false}, /* a reset log references it */
    {DB_Q_USER_GET, 1, {S("u2")}, 0, 1, false},
    {DB_Q_BUDGET_DELETE, 1, {S("b2")}, 0, 1, false},
    {DB_Q_BUDGET_DELETE, 1, {S("b2")}, 0, 0, false},
    {DB_Q_BUDGET_ALL, 0, {{0}}, 0, 1, false},
    {DB_Q_KEY_COUNT, 0, {{0}}, 0, 1, false},
};

/* Equal cells: same text, or two numbers with the same value ("10.0" vs "10"). */
static bool cell_same(const char *a, const char *b)
{
    char *ea, *eb;
    double da, db;

    if (a == NULL || b == NULL)
        return a == b;
    if (strcmp(a, b) == 0)
        return true;
    da = strtod(a, &ea);
    db = strtod(b, &eb);
    return ea != a && eb != b && *ea == '\0' && *eb == '\0' && da == db;
}

START_TEST(test_same_as_sqlite)
{
    struct event_base *base = t_base_new();
    struct db *sq, *pg;
    struct res a = {0}, b = {0};
    char url[256], buf[64];

    t_db_create("same_as_sqlite", url, sizeof(url));
    pg = t_open(url);
    sq = t_open("sqlite://");
    t_migrate(pg);
    t_migrate(sq);
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        const struct step *s = &steps[i];
        struct db_params p = {.n = s->n};
        const char *name = db_query_name(s->q);

        memcpy(p.v, s->v, sizeof(s->v));
        if (s->q == DB_Q_USAGE_INSERT_BATCH) {
            const struct db_usage_row *rows = s->n == 1 ? batch1 : batch2;
            size_t n =
                s->n == 1 ? sizeof(batch1) / sizeof(batch1[0]) : sizeof(batch2) / sizeof(batch2[0]);

            t_usage(sq, base, rows, n, &a);
            t_usage(pg, base, rows, n, &b);
        } else {
            t_run(sq, base, s->q, &p, &a);
            t_run(pg, base, s->q, &p, &b);
        }
        ck_assert_msg(a.status == s->status, "step %zu %s: SQLite status %d (%s)", i, name,
                      a.status, a.error);
        ck_assert_msg(b.status == s->status, "step %zu %s: PostgreSQL status %d (%s)", i, name,
                      b.status, b.error);
        ck_assert_msg(a.nrows == b.nrows && (a.nrows == 0 || a.ncols == b.ncols),
                      "step %zu %s: %zux%zu vs %zux%zu", i, name, a.nrows, a.ncols, b.nrows,
                      b.ncols);
        ck_assert_msg(s->rows < 0 || (size_t)s->rows == b.nrows, "step %zu %s: %zu rows", i, name,
                      b.nrows);
        ck_assert_msg(a.changes == b.changes, "step %zu %s: changes %lld vs %lld", i, name,
                      (long long)a.changes, (long long)b.changes);
        for (size_t c = 0; !s->skip && c < a.nrows * a.ncols; c++)
            ck_assert_msg(cell_same(a.cells[c], b.cells[c]),
                          "step %zu %s cell %zu: SQLite '%s' PostgreSQL '%s'", i, name, c,
                          a.cells[c] != NULL ? a.cells[c] : "NULL",
                          b.cells[c] != NULL ? b.cells[c] : "NULL");
    }
    db_close(sq);
    db_close(pg);

    /* Spot checks on what the comparison proved equal. */
    t_raw("same_as_sqlite", "SELECT spend FROM users WHERE user_id = 'u1'", buf, sizeof(buf));
    ck_assert_str_eq(buf, "0");
    t_raw("same_as_sqlite", "SELECT coalesce(api_key_id, 'N') FROM usage_logs WHERE id = 'l1'", buf,
          sizeof(buf));
    ck_assert_str_eq(buf, "N");
    t_raw("same_as_sqlite", "SELECT usage_estimated::text FROM usage_logs WHERE id = 'l2'", buf,
          sizeof(buf));
    ck_assert_str_eq(buf, "true");
    t_raw("same_as_sqlite", "SELECT count(*) FROM budget_reset_logs", buf, sizeof(buf));
    ck_assert_str_eq(buf, "1");
    t_raw("same_as_sqlite", "SELECT spend FROM users WHERE user_id = 'u2'", buf, sizeof(buf));
    ck_assert_str_eq(buf, "0");
    res_clear(&a);
    res_clear(&b);
    event_base_free(base);
}
END_TEST

/* ---- pool, close, threads ---- */

#define T_NOPS 400

static int drain_calls, drain_ok;

static void drain_cb(const struct db_result *res, void *arg)
{
    (void)arg;
    drain_calls++;
    if (res->status == 0 && res->nrows == 1 && strcmp(res->cells[0], "x") == 0)
        drain_ok++;
}

START_TEST(test_close_drains)
{
    struct event_base *base = t_base_new();
    struct db_params p = {.n = 4, .v = {S("x"), NUL, NUL, NUL}};
    char url[256];
    struct db *db;

    t_db_create("close_drains", url, sizeof(url));
    db = t_open(url);
    drain_calls = drain_ok = 0;
    for (int i = 0; i < T_NOPS; i++)
        ck_assert_int_eq(db_exec(db, base, DB_Q_ECHO, &p, drain_cb, NULL), 0);
    ck_assert_int_eq(db_exec(db, NULL, DB_Q_ECHO, &p, NULL, NULL), 0); /* fire and forget */
    db_close(db); /* returns once every op was answered; results wait on base */
    ck_assert_int_eq(drain_calls, 0);
    ck_assert(t_pump(base, &drain_calls, T_NOPS, 10));
    event_base_loop(base, EVLOOP_NONBLOCK);
    ck_assert_int_eq(drain_calls, T_NOPS);
    ck_assert_int_eq(drain_ok, T_NOPS);
    event_base_free(base);
}
END_TEST

START_TEST(test_many_loop_threads)
{
    struct event_base *base = t_base_new();
    char url[256];
    struct db *db;

    t_db_create("many_threads", url, sizeof(url));
    db = t_open(url);
    t_migrate(db);
    t_db_many_threads(db, 4, 100);
    event_base_free(base);
}
END_TEST

/* ---- the server goes away ---- */

#define T_NBLOCKED 10

START_TEST(test_server_restart)
{
    struct event_base *base = t_base_new();
    struct res blocked[T_NBLOCKED], r = {0};
    struct db_params p = {.n = 1, .v = {S("b")}};
    char url[256], ci[256], pwurl[320];
    PGconn *locker;
    PGresult *lr;
    struct db *db;
    int64_t deadline;

    t_db_create("restart", url, sizeof(url));
    /* A password the server never asks for (trust): it must not show in any message. */
    snprintf(pwurl, sizeof(pwurl), "postgresql://postgres:hunter2pw@127.0.0.1:%d/restart",
             cluster.port);
    db = t_open(pwurl);
    t_migrate(db);

    /* Hold a lock so the queries stay in flight (4 on the pool) or queued (the rest). */
    t_pg_conninfo(&cluster, "restart", ci, sizeof(ci));
    locker = PQconnectdb(ci);
    ck_assert_int_eq(PQstatus(locker), CONNECTION_OK);
    lr = PQexec(locker, "BEGIN; LOCK TABLE budgets IN ACCESS EXCLUSIVE MODE");
    ck_assert_int_eq(PQresultStatus(lr), PGRES_COMMAND_OK);
    PQclear(lr);
    memset(blocked, 0, sizeof(blocked));
    for (int i = 0; i < T_NBLOCKED; i++)
        ck_assert_int_eq(db_exec(db, base, DB_Q_BUDGET_GET, &p, res_cb, &blocked[i]), 0);
    usleep(200 * 1000);
    event_base_loop(base, EVLOOP_NONBLOCK);
    for (int i = 0; i < T_NBLOCKED; i++)
        ck_assert_int_eq(blocked[i].calls, 0);

    ck_assert_msg(t_pg_server_stop(&cluster) == 0, "%s", cluster.err);
    PQfinish(locker);
    for (int i = 0; i < T_NBLOCKED; i++) {
        ck_assert_msg(t_pump(base, &blocked[i].calls, 1, 10), "op %d never answered", i);
        ck_assert_int_eq(blocked[i].status, -1);
        ck_assert_msg(blocked[i].error[0] != '\0', "op %d: no message", i);
        ck_assert_msg(strstr(blocked[i].error, "hunter2pw") == NULL, "%s", blocked[i].error);
    }
    /* While it is down, new work fails at once (no hanging requests). */
    t_run(db, base, DB_Q_PING, NULL, &r);
    ck_assert_int_eq(r.status, -1);
    ck_assert_msg(strncmp(r.error, "database unavailable: ", 22) == 0, "%s", r.error);
    ck_assert_ptr_null(strstr(r.error, "hunter2pw"));

    ck_assert_msg(t_pg_server_start(&cluster) == 0, "%s", cluster.err);
    deadline = util_mono_us() + 8 * 1000000;
    do {
        usleep(50 * 1000);
        t_run(db, base, DB_Q_PING, NULL, &r);
    } while (r.status != 0 && util_mono_us() < deadline);
    ck_assert_msg(r.status == 0, "no reconnect: %s", r.error);
    ck_assert_str_eq(cell(&r, 0), T_DB_NMIGRATIONS);
    for (int i = 0; i < 8; i++) { /* every pooled connection works again */
        t_run(db, base, DB_Q_BUDGET_GET, &p, &r);
        ck_assert_msg(r.status == 0, "%s", r.error);
    }
    db_close(db);
    for (int i = 0; i < T_NBLOCKED; i++)
        res_clear(&blocked[i]);
    res_clear(&r);
    event_base_free(base);
}
END_TEST

START_TEST(test_close_while_down)
{
    struct event_base *base = t_base_new();
    struct res r[3];
    char url[256];
    struct db *db;

    t_db_create("close_down", url, sizeof(url));
    ck_assert_msg(t_pg_server_stop(&cluster) == 0, "%s", cluster.err);
    db = t_open(url); /* opening does not need the server */
    memset(r, 0, sizeof(r));
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(db_exec(db, base, DB_Q_PING, NULL, res_cb, &r[i]), 0);
    db_close(db);
    for (int i = 0; i < 3; i++) {
        ck_assert(t_pump(base, &r[i].calls, 1, 10));
        ck_assert_int_eq(r[i].status, -1);
        res_clear(&r[i]);
    }
    ck_assert_msg(t_pg_server_start(&cluster) == 0, "%s", cluster.err);
    event_base_free(base);
}
END_TEST

Suite *db_pg_suite(void)
{
    Suite *s = suite_create("db_pg");
    TCase *tc;

    tc = tcase_create("queries");
    tcase_add_unchecked_fixture(tc, cluster_setup, cluster_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_url_forms);
    tcase_add_test(tc, test_migrate);
    tcase_add_test(tc, test_migrate_concurrent);
    tcase_add_test(tc, test_migrate_unreachable);
    tcase_add_test(tc, test_migrate_lock_wait_interrupted);
    tcase_add_test(tc, test_ping_and_echo);
    tcase_add_test(tc, test_query_errors);
    tcase_add_test(tc, test_same_as_sqlite);
    tcase_add_test(tc, test_close_drains);
    tcase_add_test(tc, test_many_loop_threads);
    suite_add_tcase(s, tc);

    tc = tcase_create("faults");
    tcase_add_unchecked_fixture(tc, cluster_setup, cluster_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_server_restart);
    tcase_add_test(tc, test_close_while_down);
    suite_add_tcase(s, tc);
    return s;
}
