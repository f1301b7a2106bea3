/*
 * Storage layer: URL schemes and error texts, the SQLite backend (DB thread, callbacks on the
 * caller's loop, draining on close), the migration runner and the initial schema (tables,
 * indexes, ON DELETE behaviour, WAL), checked against the file with the raw sqlite3 API.
 */
#include <check.h>
#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>
#include <sqlite3.h>

#include "db/db.h"
#include "db/db_migrations.h"
#include "t_db.h"
#include "util.h"

/* ---- helpers ---- */

#define T_MAX_CELLS 8

struct cap {
    int calls;
    int status;
    bool has_error;
    char error[256];
    size_t nrows, ncols;
    char *cells[T_MAX_CELLS]; /* copies; NULL = SQL NULL (or beyond the result) */
    bool exec_returned;       /* value of *returned_flag when the callback ran */
    const bool *returned_flag;
    pthread_t thread;
    int64_t changes;
};

/* Four SQL NULLs: a query that works on any database, migrated or not. */
static const struct db_params echo_nulls = {.n = 4};

static void cap_cb(const struct db_result *res, void *arg)
{
    struct cap *c = arg;

    c->calls++;
    c->status = res->status;
    c->has_error = res->error != NULL;
    snprintf(c->error, sizeof(c->error), "%s", res->error != NULL ? res->error : "");
    c->nrows = res->nrows;
    c->ncols = res->ncols;
    c->changes = res->changes;
    for (size_t i = 0; i < T_MAX_CELLS; i++) {
        free(c->cells[i]);
        c->cells[i] = NULL;
        if (i < res->nrows * res->ncols && res->cells[i] != NULL)
            c->cells[i] = strdup(res->cells[i]);
    }
    c->exec_returned = c->returned_flag != NULL && *c->returned_flag;
    c->thread = pthread_self();
}

static void cap_free(struct cap *c)
{
    for (size_t i = 0; i < T_MAX_CELLS; i++) {
        free(c->cells[i]);
        c->cells[i] = NULL;
    }
}

static struct event_base *t_base_new(void)
{
    struct event_base *base;

    ck_assert_int_eq(evthread_use_pthreads(), 0);
    base = event_base_new();
    ck_assert_ptr_nonnull(base);
    return base;
}

/* Runs base without blocking until *counter reaches target; false after 5 s. */
static bool t_pump(struct event_base *base, const int *counter, int target)
{
    int64_t deadline = util_mono_us() + 5 * 1000000;

    while (*counter < target) {
        if (util_mono_us() > deadline)
            return false;
        event_base_loop(base, EVLOOP_NONBLOCK);
        if (*counter < target)
            usleep(200);
    }
    return true;
}

static void t_mkdtemp(char *dir, size_t len)
{
    snprintf(dir, len, "/tmp/gw-check-db-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void t_rmtree(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[512];

    ck_assert_ptr_nonnull(d);
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        ck_assert_int_eq(unlink(path), 0);
    }
    closedir(d);
    ck_assert_int_eq(rmdir(dir), 0);
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

/* Raw sqlite3 connection on path with foreign keys on. */
static sqlite3 *t_raw_open(const char *path)
{
    sqlite3 *c = NULL;

    ck_assert_int_eq(sqlite3_open_v2(path, &c, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(c, "PRAGMA foreign_keys=ON", NULL, NULL, NULL), SQLITE_OK);
    return c;
}

/*
 * Creates a temporary directory holding a database file migrated through the db API, and
 * returns a raw sqlite3 connection to it (the caller closes it and removes dir).
 */
static sqlite3 *t_migrated_file(char *dir, size_t dirlen, char *path, size_t pathlen)
{
    char url[160];
    struct db *db;

    t_mkdtemp(dir, dirlen);
    snprintf(path, pathlen, "%s/gw.db", dir);
    snprintf(url, sizeof(url), "sqlite:///%s", path);
    db = t_open(url);
    t_migrate(db);
    db_close(db);
    return t_raw_open(path);
}

static void t_raw_exec(sqlite3 *c, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(c, sql, NULL, NULL, &msg);

    ck_assert_msg(rc == SQLITE_OK, "%s: %s", sql, msg != NULL ? msg : "?");
    sqlite3_free(msg);
}

/* First cell of the first row of sql as text into out ("<null>" for SQL NULL, "" no row). */
static const char *t_raw_text(sqlite3 *c, const char *sql, char *out, size_t outlen)
{
    sqlite3_stmt *st = NULL;
    int rc;

    ck_assert_msg(sqlite3_prepare_v2(c, sql, -1, &st, NULL) == SQLITE_OK, "%s: %s", sql,
                  sqlite3_errmsg(c));
    out[0] = '\0';
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const unsigned char *v = sqlite3_column_text(st, 0);
        snprintf(out, outlen, "%s", v != NULL ? (const char *)v : "<null>");
    } else {
        ck_assert_int_eq(rc, SQLITE_DONE);
    }
    sqlite3_finalize(st);
    return out;
}

static long t_raw_long(sqlite3 *c, const char *sql)
{
    char buf[64];

    return strtol(t_raw_text(c, sql, buf, sizeof(buf)), NULL, 10);
}

static void t_expect_open_error(const char *url, const char *expected)
{
    char err[256] = "";

    ck_assert_ptr_null(db_open(url, err, sizeof(err)));
    ck_assert_str_eq(err, expected);
}

/* ---- URLs and open errors ---- */

START_TEST(test_url_supported)
{
    ck_assert(db_url_supported("sqlite:///./any-llm-gateway.db"));
    ck_assert(db_url_supported("sqlite:////var/lib/gw.db"));
    ck_assert(db_url_supported("sqlite:///:memory:"));
    ck_assert(db_url_supported("sqlite://"));
    ck_assert(db_url_supported("SQLite:///x.db"));
    ck_assert(db_url_supported("sqlite+pysqlite:///x.db"));
    ck_assert(db_url_supported("postgresql://u:p@h/db")); /* tests/check_db_pg.c */
    ck_assert(db_url_supported("postgres://h/db"));
    ck_assert(!db_url_supported("mysql://h/db"));
    ck_assert(!db_url_supported("sqlitex:///x.db"));
    ck_assert(!db_url_supported("x.db"));
    ck_assert(!db_url_supported(""));
    ck_assert(!db_url_supported(NULL));
}
END_TEST

START_TEST(test_url_unsupported_scheme)
{
    char err[256] = "";

    ck_assert_ptr_null(db_open("mysql://root:s3cretpw@db.example/gw", err, sizeof(err)));
    ck_assert_str_eq(
        err, "unsupported database_url scheme 'mysql' (expected sqlite:/// or postgresql://)");
    ck_assert_ptr_null(strstr(err, "s3cretpw"));
    /* A "user:password@host" string without scheme: only the part before ':' is echoed. */
    ck_assert_ptr_null(db_open("admin:s3cretpw@db.example/gw", err, sizeof(err)));
    ck_assert_str_eq(
        err, "unsupported database_url scheme 'admin' (expected sqlite:/// or postgresql://)");
    t_expect_open_error("./gw.db", "database_url has no scheme (expected sqlite:/// or "
                                   "postgresql://)");
    t_expect_open_error("", "database_url has no scheme (expected sqlite:/// or postgresql://)");
}
END_TEST

START_TEST(test_url_postgres_invalid)
{
    static const char *const urls[] = {
        "postgresql://gw:hunter2pw@127.0.0.1:5432/gateway?bogus=1",
        "postgres://gw:hunter2pw@localhost/gateway?pool_size=0",
        "PostgreSQL://gw:hunter2pw@db/gateway?pool_size=x",
    };
    char err[256];

    /* Rejected before any connection; the PostgreSQL backend is tested in check_db_pg.c. */
    for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
        snprintf(err, sizeof(err), "unchanged");
        ck_assert_ptr_null(db_open(urls[i], err, sizeof(err)));
        ck_assert_msg(strncmp(err, "invalid database_url: ", 22) == 0, "%s", err);
        ck_assert_ptr_null(strstr(err, "hunter2pw"));
    }
}
END_TEST

START_TEST(test_url_unopenable)
{
    char dir[64], path[128], url[160], expected[256];
    FILE *f;

    t_expect_open_error("sqlite:////nonexistent-gw-dir/sub/x.db",
                        "cannot open SQLite database '/nonexistent-gw-dir/sub/x.db': unable to "
                        "open database file");
    t_expect_open_error("sqlite:///./nonexistent-gw-dir/x.db",
                        "cannot open SQLite database './nonexistent-gw-dir/x.db': unable to "
                        "open database file");
    t_expect_open_error("sqlite://dbhost/x.db",
                        "a sqlite database_url names no host: use sqlite:///relative/file.db or "
                        "sqlite:////absolute/file.db");
    t_expect_open_error("sqlite:x.db", "database_url must look like sqlite:///path/to/file.db");

    /* An existing file that is not a database fails at open, not at the first query. */
    t_mkdtemp(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/garbage.db", dir);
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    for (int i = 0; i < 200; i++)
        fputs("this is not an SQLite database file. ", f);
    fclose(f);
    snprintf(url, sizeof(url), "sqlite:///%s", path);
    snprintf(expected, sizeof(expected), "cannot open SQLite database '%s': file is not a database",
             path);
    t_expect_open_error(url, expected);
    t_rmtree(dir);
}
END_TEST

/* ---- migrations ---- */

START_TEST(test_migrate_memory)
{
    static const char *const urls[] = {"sqlite://", "sqlite:///:memory:", "sqlite:///"};
    struct event_base *base = t_base_new();

    for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
        struct db *db = t_open(urls[i]);
        struct cap c = {0};
        size_t n;

        t_migrate(db);
        t_migrate(db); /* no-op */
        ck_assert_int_eq(db_exec(db, base, DB_Q_SCHEMA_VERSIONS, NULL, cap_cb, &c), 0);
        ck_assert(t_pump(base, &c.calls, 1));
        ck_assert_int_eq(c.status, 0);
        ck_assert_uint_eq(c.nrows, 4);
        ck_assert_uint_eq(c.ncols, 2);
        ck_assert_str_eq(c.cells[0], "0001_initial");
        ck_assert_str_eq(c.cells[2], "0002_budget_duration_bigint");
        ck_assert_str_eq(c.cells[4], "0003_rate_limits");
        ck_assert_str_eq(c.cells[6], "0004_usage_analytics");
        /* applied_at: util_ts_format() form, e.g. 2025-11-07T16:41:44.429258+00:00 */
        n = strlen(c.cells[1]);
        ck_assert_uint_ge(n, 25);
        ck_assert_str_eq(c.cells[1] + n - 6, "+00:00");
        ck_assert_int_eq(c.cells[1][4], '-');
        ck_assert_int_eq(c.cells[1][10], 'T');
        cap_free(&c);
        db_close(db);
    }
    event_base_free(base);
}
END_TEST

START_TEST(test_migrate_file_idempotent)
{
    char dir[64], path[128], url[160], at1[64], at2[64], buf[64];
    struct db *db;
    sqlite3 *raw;

    t_mkdtemp(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/gw.db", dir);
    snprintf(url, sizeof(url), "sqlite:///%s", path); /* dir is absolute: sqlite:////tmp/... */
    ck_assert_int_eq(url[10], '/');

    db = t_open(url);
    t_migrate(db);
    db_close(db);

    raw = t_raw_open(path);
    ck_assert_int_eq(t_raw_long(raw, "SELECT count(*) FROM schema_migrations"), 4);
    ck_assert_str_eq(
        t_raw_text(raw, "SELECT version FROM schema_migrations ORDER BY version", buf, sizeof(buf)),
        "0001_initial");
    t_raw_text(raw, "SELECT applied_at FROM schema_migrations ORDER BY version", at1, sizeof(at1));
    sqlite3_close(raw);

    /* Same handle twice, then a fresh handle: nothing more is applied. */
    db = t_open(url);
    t_migrate(db);
    t_migrate(db);
    db_close(db);

    raw = t_raw_open(path);
    ck_assert_int_eq(t_raw_long(raw, "SELECT count(*) FROM schema_migrations"), 4);
    t_raw_text(raw, "SELECT applied_at FROM schema_migrations ORDER BY version", at2, sizeof(at2));
    ck_assert_str_eq(at1, at2);
    ck_assert_int_eq(t_raw_long(raw, "SELECT count(*) FROM sqlite_master WHERE name='budgets'"), 1);
    sqlite3_close(raw);
    t_rmtree(dir);
}
END_TEST

START_TEST(test_schema_objects)
{
    static const struct {
        const char *type, *name, *table;
        int ncols; /* tables: column count */
    } objs[] = {
        {"table", "schema_migrations", "schema_migrations", 2},
        {"table", "budgets", "budgets", 5},
        {"table", "model_pricing", "model_pricing", 5},
        {"table", "users", "users", 11},
        {"table", "api_keys", "api_keys", 11}, /* with rpm_limit, tpm_limit (0003) */
        {"table", "usage_logs", "usage_logs", 14},
        {"table", "budget_reset_logs", "budget_reset_logs", 6},
        {"index", "ix_api_keys_key_hash", "api_keys", 0},
        {"index", "ix_api_keys_user_id", "api_keys", 0},
        {"index", "ix_users_deleted_at", "users", 0},
        {"index", "ix_usage_logs_api_key_id", "usage_logs", 0},
        {"index", "ix_usage_logs_user_id", "usage_logs", 0},
        {"index", "ix_usage_logs_timestamp", "usage_logs", 0},
        {"index", "ix_usage_logs_user_id_timestamp", "usage_logs", 0},
        {"index", "ix_usage_logs_api_key_id_timestamp", "usage_logs", 0}, /* 0004 */
        {"index", "ix_usage_logs_model_timestamp", "usage_logs", 0},
        {"index", "ix_usage_logs_provider_timestamp", "usage_logs", 0},
        {"index", "ix_usage_logs_status_timestamp", "usage_logs", 0},
        {"index", "ix_usage_logs_hour", "usage_logs", 0},
        {"index", "ix_budget_reset_logs_user_id", "budget_reset_logs", 0},
        {"table", "rate_counts", "rate_counts", 5},
        {"index", "ix_rate_counts_second", "rate_counts", 0},
    };
    char dir[64], path[128], sql[256], buf[256];
    sqlite3 *raw;

    raw = t_migrated_file(dir, sizeof(dir), path, sizeof(path));
    for (size_t i = 0; i < sizeof(objs) / sizeof(objs[0]); i++) {
        snprintf(sql, sizeof(sql),
                 "SELECT tbl_name FROM sqlite_master WHERE type='%s' AND name='%s'", objs[i].type,
                 objs[i].name);
        ck_assert_msg(strcmp(t_raw_text(raw, sql, buf, sizeof(buf)), objs[i].table) == 0,
                      "%s %s: got table '%s'", objs[i].type, objs[i].name, buf);
        if (objs[i].ncols > 0) {
            snprintf(sql, sizeof(sql), "SELECT count(*) FROM pragma_table_info('%s')",
                     objs[i].name);
            ck_assert_int_eq(t_raw_long(raw, sql), objs[i].ncols);
        }
    }
    /* Unique key_hash: the named unique index plus the UNIQUE constraint. */
    ck_assert_int_eq(t_raw_long(raw, "SELECT \"unique\" FROM pragma_index_list('api_keys') "
                                     "WHERE name='ix_api_keys_key_hash'"),
                     1);
    ck_assert_int_eq(t_raw_long(raw, "SELECT count(*) FROM pragma_index_list('api_keys') WHERE "
                                     "\"unique\"=1 AND origin='u'"),
                     1);
    ck_assert_str_eq(t_raw_text(raw,
                                "SELECT group_concat(name) FROM (SELECT name FROM "
                                "pragma_index_info('ix_usage_logs_user_id_timestamp') ORDER BY "
                                "seqno)",
                                buf, sizeof(buf)),
                     /* 0004: the same prefix, covering the usage sums */
                     "user_id,timestamp,status,prompt_tokens,completion_tokens,total_tokens,cost");
    /* Nullability and the one default. */
    ck_assert_int_eq(t_raw_long(raw, "SELECT \"notnull\" FROM pragma_table_info("
                                     "'budget_reset_logs') WHERE name='user_id'"),
                     0);
    ck_assert_int_eq(t_raw_long(raw, "SELECT \"notnull\" FROM pragma_table_info('usage_logs') "
                                     "WHERE name='usage_estimated'"),
                     1);
    ck_assert_str_eq(t_raw_text(raw,
                                "SELECT dflt_value FROM pragma_table_info('usage_logs') WHERE "
                                "name='usage_estimated'",
                                buf, sizeof(buf)),
                     "0");
    ck_assert_int_eq(t_raw_long(raw, "SELECT count(*) FROM pragma_table_info('users') WHERE "
                                     "dflt_value IS NOT NULL"),
                     0);
    ck_assert_str_eq(t_raw_text(raw,
                                "SELECT type FROM pragma_table_info('usage_logs') WHERE "
                                "name='cost'",
                                buf, sizeof(buf)),
                     "REAL");
    /* ON DELETE actions as on PostgreSQL. */
    ck_assert_str_eq(t_raw_text(raw,
                                "SELECT on_delete FROM pragma_foreign_key_list('api_keys') WHERE "
                                "\"from\"='user_id'",
                                buf, sizeof(buf)),
                     "CASCADE");
    ck_assert_str_eq(t_raw_text(raw,
                                "SELECT group_concat(\"from\" || ':' || on_delete) FROM (SELECT * "
                                "FROM pragma_foreign_key_list('usage_logs') ORDER BY \"from\")",
                                buf, sizeof(buf)),
                     "api_key_id:SET NULL,user_id:SET NULL");
    ck_assert_str_eq(t_raw_text(raw,
                                "SELECT group_concat(\"from\" || ':' || on_delete) FROM (SELECT * "
                                "FROM pragma_foreign_key_list('budget_reset_logs') ORDER BY "
                                "\"from\")",
                                buf, sizeof(buf)),
                     "budget_id:NO ACTION,user_id:SET NULL");
    ck_assert_str_eq(t_raw_text(raw,
                                "SELECT \"table\" || ':' || on_delete FROM "
                                "pragma_foreign_key_list('users')",
                                buf, sizeof(buf)),
                     "budgets:NO ACTION");
    sqlite3_close(raw);
    t_rmtree(dir);
}
END_TEST

START_TEST(test_foreign_keys)
{
    char dir[64], path[128], buf[64];
    sqlite3 *raw;

    raw = t_migrated_file(dir, sizeof(dir), path, sizeof(path));
    t_raw_exec(raw, "INSERT INTO budgets VALUES ('b1', 10.0, 3600, '2025-01-01T00:00:00+00:00', "
                    "'2025-01-01T00:00:00+00:00')");
    t_raw_exec(raw, "INSERT INTO users (user_id, spend, budget_id, blocked, created_at, "
                    "updated_at, metadata) VALUES ('u1', 0.0, 'b1', 0, "
                    "'2025-01-01T00:00:00+00:00', '2025-01-01T00:00:00+00:00', '{}')");
    t_raw_exec(raw, "INSERT INTO api_keys (id, key_hash, user_id, created_at, is_active, metadata) "
                    "VALUES ('k1', 'h1', 'u1', '2025-01-01T00:00:00+00:00', 1, '{}'), "
                    "('k2', 'h2', 'u1', '2025-01-01T00:00:00+00:00', 1, '{}'), "
                    "('k3', 'h3', NULL, '2025-01-01T00:00:00+00:00', 1, '{}')");
    t_raw_exec(raw, "INSERT INTO usage_logs (id, api_key_id, user_id, timestamp, model, endpoint, "
                    "status) VALUES ('l1', 'k1', 'u1', '2025-01-02T00:00:00+00:00', 'gpt-4o', "
                    "'/v1/chat/completions', 'success'), ('l2', 'k3', NULL, "
                    "'2025-01-02T00:00:01+00:00', 'gpt-4o', '/v1/embeddings', 'cancelled')");
    t_raw_exec(raw, "INSERT INTO budget_reset_logs (user_id, budget_id, previous_spend, reset_at) "
                    "VALUES ('u1', 'b1', 3.5, '2025-01-03T00:00:00+00:00')");
    ck_assert_int_eq(t_raw_long(raw, "SELECT usage_estimated FROM usage_logs WHERE id='l1'"), 0);
    ck_assert_int_eq(t_raw_long(raw, "SELECT id FROM budget_reset_logs"), 1);

    /* Duplicate key_hash and dangling references are rejected. */
    ck_assert_int_ne(sqlite3_exec(raw,
                                  "INSERT INTO api_keys (id, key_hash, created_at, is_active, "
                                  "metadata) VALUES ('k9', 'h1', 'x', 1, '{}')",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    ck_assert_int_ne(sqlite3_exec(raw,
                                  "INSERT INTO api_keys (id, key_hash, user_id, created_at, "
                                  "is_active, metadata) VALUES ('k9', 'h9', 'ghost', 'x', 1, "
                                  "'{}')",
                                  NULL, NULL, NULL),
                     SQLITE_OK);

    /* Deleting a key with usage rows keeps the rows, with api_key_id NULL. */
    t_raw_exec(raw, "DELETE FROM api_keys WHERE id='k3'");
    ck_assert_str_eq(
        t_raw_text(raw, "SELECT api_key_id FROM usage_logs WHERE id='l2'", buf, sizeof(buf)),
        "<null>");

    /* Deleting a user cascades to its keys; logs keep their rows with NULL references. */
    t_raw_exec(raw, "DELETE FROM users WHERE user_id='u1'");
    ck_assert_int_eq(t_raw_long(raw, "SELECT count(*) FROM api_keys"), 0);
    ck_assert_int_eq(t_raw_long(raw, "SELECT count(*) FROM usage_logs"), 2);
    ck_assert_str_eq(t_raw_text(raw,
                                "SELECT coalesce(api_key_id, 'N') || coalesce(user_id, 'N') FROM "
                                "usage_logs WHERE id='l1'",
                                buf, sizeof(buf)),
                     "NN");
    ck_assert_str_eq(t_raw_text(raw, "SELECT user_id FROM budget_reset_logs", buf, sizeof(buf)),
                     "<null>");

    /* A budget still referenced by a reset log cannot go (plain FK, as on PostgreSQL). */
    ck_assert_int_ne(
        sqlite3_exec(raw, "DELETE FROM budgets WHERE budget_id='b1'", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(raw);
    t_rmtree(dir);
}
END_TEST

START_TEST(test_wal_mode)
{
    char dir[64], path[128], buf[32];
    sqlite3 *raw;

    raw = t_migrated_file(dir, sizeof(dir), path, sizeof(path));
    ck_assert_str_eq(t_raw_text(raw, "PRAGMA journal_mode", buf, sizeof(buf)), "wal");
    sqlite3_close(raw);
    t_rmtree(dir);
}
END_TEST

START_TEST(test_relative_path)
{
    char dir[64], path[128], cwd[512];
    struct stat sb;
    struct db *db;

    t_mkdtemp(dir, sizeof(dir));
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
    ck_assert_int_eq(chdir(dir), 0);

    db = t_open("sqlite:///./rel.db"); /* SQLAlchemy form: ./rel.db */
    t_migrate(db);
    db_close(db);
    db = t_open("sqlite:///plain.db?check_same_thread=False"); /* query part ignored */
    db_close(db);

    ck_assert_int_eq(chdir(cwd), 0);
    snprintf(path, sizeof(path), "%s/rel.db", dir);
    ck_assert_int_eq(stat(path, &sb), 0);
    ck_assert_int_gt(sb.st_size, 0);
    snprintf(path, sizeof(path), "%s/plain.db", dir);
    ck_assert_int_eq(stat(path, &sb), 0);
    t_rmtree(dir);
}
END_TEST

/* Scripted migration primitives: records each call, fails a script equal to "FAIL". */
struct fake_io {
    char log[1024];
    int applied_answer;
};

static void fake_note(struct fake_io *f, const char *what)
{
    size_t n = strlen(f->log);

    snprintf(f->log + n, sizeof(f->log) - n, "%s%s", n > 0 ? "|" : "", what);
}

static int fake_script(void *ctx, const char *sql, char *err, size_t errlen)
{
    struct fake_io *f = ctx;

    fake_note(f, strncmp(sql, "CREATE TABLE IF NOT EXISTS schema_migrations", 44) == 0 ? "create"
                                                                                       : sql);
    if (strcmp(sql, "FAIL") == 0) {
        snprintf(err, errlen, "boom");
        return -1;
    }
    return 0;
}

static int fake_applied(void *ctx, const char *version, char *err, size_t errlen)
{
    struct fake_io *f = ctx;
    char note[64];

    (void)err;
    (void)errlen;
    snprintf(note, sizeof(note), "applied?%s", version);
    fake_note(f, note);
    return f->applied_answer;
}

static int fake_record(void *ctx, const char *version, const char *applied_at, char *err,
                       size_t errlen)
{
    struct fake_io *f = ctx;
    char note[64];
    size_t n = strlen(applied_at);

    (void)err;
    (void)errlen;
    snprintf(note, sizeof(note), "record %s %s", version,
             n > 6 && strcmp(applied_at + n - 6, "+00:00") == 0 ? "utc" : applied_at);
    fake_note(f, note);
    return 0;
}

START_TEST(test_migration_runner)
{
    static const struct db_migration list[] = {
        {"0001_a", "SQL A"},
        {"0002_b", "FAIL"},
        {"0003_c", "SQL C"},
        {NULL, NULL},
    };
    static const struct db_migrate_io io = {
        .begin_sql = "BEGIN",
        .script = fake_script,
        .applied = fake_applied,
        .record = fake_record,
    };
    struct fake_io f = {.log = "", .applied_answer = 0};
    char err[256] = "";

    ck_assert_int_eq(db_migrations_apply(list, NULL, &io, &f, err, sizeof(err)), -1);
    ck_assert_str_eq(err, "migration 0002_b failed: boom");
    ck_assert_str_eq(f.log, "create|BEGIN|applied?0001_a|SQL A|record 0001_a utc|COMMIT|"
                            "BEGIN|applied?0002_b|FAIL|ROLLBACK");

    /* Everything recorded already: only the checks run. */
    memset(&f, 0, sizeof(f));
    f.applied_answer = 1;
    ck_assert_int_eq(db_migrations_apply(list, NULL, &io, &f, err, sizeof(err)), 0);
    ck_assert_str_eq(f.log, "create|BEGIN|applied?0001_a|COMMIT|BEGIN|applied?0002_b|COMMIT|"
                            "BEGIN|applied?0003_c|COMMIT");

    /* A target stops after that migration, by full name or by number. */
    memset(&f, 0, sizeof(f));
    ck_assert_int_eq(db_migrations_apply(list, "0001", &io, &f, err, sizeof(err)), 0);
    ck_assert_str_eq(f.log, "create|BEGIN|applied?0001_a|SQL A|record 0001_a utc|COMMIT");
    memset(&f, 0, sizeof(f));
    ck_assert_int_eq(db_migrations_apply(list, "0001_a", &io, &f, err, sizeof(err)), 0);
    ck_assert_str_eq(f.log, "create|BEGIN|applied?0001_a|SQL A|record 0001_a utc|COMMIT");

    /* An unknown target applies nothing. */
    memset(&f, 0, sizeof(f));
    ck_assert_int_eq(db_migrations_apply(list, "0009", &io, &f, err, sizeof(err)), -1);
    ck_assert_str_eq(err, "unknown revision '0009' (known: head, 0001_a, 0002_b, 0003_c)");
    ck_assert_str_eq(f.log, "");
}
END_TEST

START_TEST(test_migration_failure_rolls_back)
{
    char dir[64], path[128], url[160], err[256] = "";
    struct db *db;
    sqlite3 *raw;

    t_mkdtemp(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/gw.db", dir);
    snprintf(url, sizeof(url), "sqlite:///%s", path);
    ck_assert_int_eq(sqlite3_open(path, &raw), SQLITE_OK);
    t_raw_exec(raw, "CREATE TABLE users (x INTEGER)"); /* clashes with 0001_initial */
    sqlite3_close(raw);

    db = t_open(url);
    ck_assert_int_eq(db_migrate(db, err, sizeof(err)), -1);
    ck_assert_str_eq(err, "migration 0001_initial failed: table users already exists");
    db_close(db);

    raw = t_raw_open(path);
    ck_assert_int_eq(t_raw_long(raw, "SELECT count(*) FROM schema_migrations"), 0);
    ck_assert_int_eq(t_raw_long(raw, "SELECT count(*) FROM sqlite_master WHERE name IN "
                                     "('budgets', 'model_pricing')"),
                     0);
    sqlite3_close(raw);
    t_rmtree(dir);
}
END_TEST

/* Holds SQLite's write lock on path for 400 ms from its own connection. */
struct locker {
    const char *path;
    atomic_bool locked;
};

static void *locker_main(void *arg)
{
    struct locker *l = arg;
    sqlite3 *c = t_raw_open(l->path);

    t_raw_exec(c, "BEGIN IMMEDIATE");
    atomic_store(&l->locked, true);
    usleep(400000);
    t_raw_exec(c, "COMMIT");
    sqlite3_close(c);
    return NULL;
}

static double thread_cpu_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* db_exec_sync sleeps while its query waits (regression: event_base_loop(EVLOOP_ONCE) on a
 * base with no event returned at once, so the caller spun a core for the whole wait). */
START_TEST(test_exec_sync_blocks_without_spinning)
{
    char dir[64], path[128], url[160];
    struct locker l = {.path = path};
    struct db_params p = {.n = 4};
    struct db *db;
    pthread_t th;
    double cpu;

    ck_assert_int_eq(evthread_use_pthreads(), 0); /* db_exec_sync's base is woken from afar */
    t_mkdtemp(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/gw.db", dir);
    snprintf(url, sizeof(url), "sqlite:///%s", path);
    db = t_open(url);
    t_migrate(db);
    atomic_init(&l.locked, false);
    ck_assert_int_eq(pthread_create(&th, NULL, locker_main, &l), 0);
    while (!atomic_load(&l.locked))
        usleep(1000);
    p.v[0] = (struct db_value){.type = DB_T_TEXT, .u.s = "spin-check"};
    p.v[1] = (struct db_value){.type = DB_T_NULL};
    p.v[2] = (struct db_value){.type = DB_T_NULL};
    p.v[3] = (struct db_value){.type = DB_T_TEXT, .u.s = "2026-01-01T00:00:00+00:00"};
    cpu = thread_cpu_s();
    ck_assert_int_eq(db_exec_sync(db, DB_Q_BUDGET_INSERT, &p, NULL, NULL), 0);
    cpu = thread_cpu_s() - cpu;
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    ck_assert_msg(cpu < 0.1, "the waiting thread used %.3f s of CPU", cpu);
    db_close(db);
    t_rmtree(dir);
}
END_TEST

/* ---- queries ---- */

START_TEST(test_ping_on_loop)
{
    struct event_base *base = t_base_new();
    struct db *db = t_open("sqlite:///:memory:");
    bool returned = false;
    struct cap c = {.returned_flag = &returned};
    char err[256] = "";

    /* The ping reads schema_migrations: readiness means "reachable and migrated". */
    ck_assert_int_eq(db_migrate(db, err, sizeof(err)), 0);
    ck_assert_int_eq(db_exec(db, base, DB_Q_PING, NULL, cap_cb, &c), 0);
    returned = true;
    ck_assert_int_eq(c.calls, 0);
    usleep(50 * 1000); /* the DB thread is done by now; the result waits for our loop */
    ck_assert_int_eq(c.calls, 0);
    ck_assert(t_pump(base, &c.calls, 1));
    ck_assert_int_eq(c.calls, 1);
    ck_assert(c.exec_returned);
    ck_assert(pthread_equal(c.thread, pthread_self()));
    ck_assert_int_eq(c.status, 0);
    ck_assert(!c.has_error);
    ck_assert_uint_eq(c.nrows, 1);
    ck_assert_uint_eq(c.ncols, 1);
    ck_assert_str_eq(c.cells[0], T_DB_NMIGRATIONS);
    event_base_loop(base, EVLOOP_NONBLOCK);
    ck_assert_int_eq(c.calls, 1); /* exactly once */
    cap_free(&c);
    db_close(db);
    event_base_free(base);
}
END_TEST

START_TEST(test_cb_null)
{
    struct event_base *base = t_base_new();
    struct db *db = t_open("sqlite://");
    struct cap c = {0};

    ck_assert_int_eq(db_exec(db, NULL, DB_Q_PING, NULL, NULL, NULL), 0);
    ck_assert_int_eq(db_exec(db, base, DB_Q_PING, NULL, NULL, NULL), 0);
    ck_assert_int_eq(db_exec(db, base, DB_Q_ECHO, NULL, NULL, NULL), 0); /* fails quietly */
    ck_assert_int_eq(db_exec(db, base, DB_Q_ECHO, &echo_nulls, cap_cb, &c), 0);
    db_close(db);
    ck_assert(t_pump(base, &c.calls, 1));
    ck_assert_int_eq(c.status, 0);
    event_base_loop(base, EVLOOP_NONBLOCK);
    ck_assert_int_eq(c.calls, 1);
    cap_free(&c);
    event_base_free(base);
}
END_TEST

START_TEST(test_params_copied_and_typed)
{
    struct event_base *base = t_base_new();
    struct db *db = t_open("sqlite://");
    struct cap a = {0}, b = {0};
    char text[32];
    struct db_params p = {.n = 4};

    snprintf(text, sizeof(text), "it's \"quoted\"");
    p.v[0] = (struct db_value){.type = DB_T_TEXT, .u.s = text};
    p.v[1] = (struct db_value){.type = DB_T_INT, .u.i = -9007199254740993LL};
    p.v[2] = (struct db_value){.type = DB_T_REAL, .u.d = 1.5};
    p.v[3] = (struct db_value){.type = DB_T_BOOL, .u.b = true};
    ck_assert_int_eq(db_exec(db, base, DB_Q_ECHO, &p, cap_cb, &a), 0);
    memset(text, 'X', sizeof(text) - 1); /* db_exec copied the string */
    text[sizeof(text) - 1] = '\0';
    p.v[0] = (struct db_value){.type = DB_T_NULL};
    p.v[1] = (struct db_value){.type = DB_T_TEXT, .u.s = NULL}; /* NULL text is SQL NULL */
    p.v[2] = (struct db_value){.type = DB_T_BOOL, .u.b = false};
    p.v[3] = (struct db_value){.type = DB_T_TEXT, .u.s = ""};
    ck_assert_int_eq(db_exec(db, base, DB_Q_ECHO, &p, cap_cb, &b), 0);
    ck_assert(t_pump(base, &b.calls, 1));
    ck_assert_int_eq(a.calls, 1);

    ck_assert_int_eq(a.status, 0);
    ck_assert_uint_eq(a.nrows, 1);
    ck_assert_uint_eq(a.ncols, 4);
    ck_assert_str_eq(a.cells[0], "it's \"quoted\"");
    ck_assert_str_eq(a.cells[1], "-9007199254740993");
    ck_assert_str_eq(a.cells[2], "1.5");
    ck_assert_str_eq(a.cells[3], "1");
    ck_assert_int_eq(b.status, 0);
    ck_assert_ptr_null(b.cells[0]);
    ck_assert_ptr_null(b.cells[1]);
    ck_assert_str_eq(b.cells[2], "0");
    ck_assert_str_eq(b.cells[3], "");
    cap_free(&a);
    cap_free(&b);
    db_close(db);
    event_base_free(base);
}
END_TEST

START_TEST(test_query_errors)
{
    struct event_base *base = t_base_new();
    struct db *db = t_open("sqlite://");
    struct cap c = {0};
    struct db_params p = {.n = 1};
    char err[128];

    /* Before the migration the table is missing: status -1 with SQLite's message. */
    ck_assert_int_eq(db_exec(db, base, DB_Q_SCHEMA_VERSIONS, NULL, cap_cb, &c), 0);
    ck_assert(t_pump(base, &c.calls, 1));
    ck_assert_int_eq(c.status, -1);
    ck_assert(c.has_error);
    ck_assert_str_eq(c.error, "no such table: schema_migrations");
    ck_assert_uint_eq(c.nrows, 0);

    ck_assert_int_eq(db_exec(db, base, DB_Q_SCHEMA_VERSION, NULL, cap_cb, &c), 0);
    ck_assert(t_pump(base, &c.calls, 2));
    ck_assert_int_eq(c.status, -1);
    ck_assert_str_eq(c.error, "no such table: schema_migrations");

    /* The connection still works, and the failed statement is prepared once the table exists. */
    ck_assert_int_eq(db_exec(db, base, DB_Q_ECHO, &echo_nulls, cap_cb, &c), 0);
    ck_assert(t_pump(base, &c.calls, 3));
    ck_assert_int_eq(c.status, 0);
    ck_assert_ptr_null(c.cells[0]); /* ECHO of no parameters: NULLs */
    ck_assert_int_eq(db_migrate(db, err, sizeof(err)), 0);
    /* Wrong parameter count: a failure, not a crash; the statement stays usable. */
    ck_assert_int_eq(db_exec(db, base, DB_Q_SCHEMA_VERSION, NULL, cap_cb, &c), 0);
    ck_assert(t_pump(base, &c.calls, 4));
    ck_assert_int_eq(c.status, -1);
    ck_assert_str_eq(c.error, "query schema_version takes 1 parameters, got 0");

    p.v[0] = (struct db_value){.type = DB_T_TEXT, .u.s = "0001_initial"};
    ck_assert_int_eq(db_exec(db, base, DB_Q_SCHEMA_VERSION, &p, cap_cb, &c), 0);
    ck_assert(t_pump(base, &c.calls, 5));
    ck_assert_int_eq(c.status, 0);
    ck_assert_uint_eq(c.nrows, 1);
    ck_assert_str_eq(c.cells[0], "0001_initial");
    p.v[0].u.s = "9999_missing";
    ck_assert_int_eq(db_exec(db, base, DB_Q_SCHEMA_VERSION, &p, cap_cb, &c), 0);
    ck_assert(t_pump(base, &c.calls, 6));
    ck_assert_int_eq(c.status, 0);
    ck_assert_uint_eq(c.nrows, 0);
    ck_assert_uint_eq(c.ncols, 2);

    /* Calls db_exec() rejects up front (no callback). */
    p.n = DB_MAX_PARAMS + 1;
    ck_assert_int_eq(db_exec(db, base, DB_Q_PING, &p, cap_cb, &c), -1);
    ck_assert_int_eq(db_exec(db, base, (enum db_query)DB_Q__COUNT, NULL, cap_cb, &c), -1);
    ck_assert_int_eq(db_exec(db, NULL, DB_Q_PING, NULL, cap_cb, &c), -1);
    ck_assert_int_eq(db_exec(NULL, base, DB_Q_PING, NULL, cap_cb, &c), -1);
    usleep(20 * 1000);
    event_base_loop(base, EVLOOP_NONBLOCK);
    ck_assert_int_eq(c.calls, 6);
    ck_assert_str_eq(db_query_name(DB_Q_PING), "ping");
    ck_assert_str_eq(db_query_name((enum db_query)DB_Q__COUNT), "unknown");
    cap_free(&c);
    db_close(db);
    event_base_free(base);
}
END_TEST

/* ---- close and shutdown ---- */

#define T_NPINGS 1000

struct drain {
    int calls, ok, in_order;
    int last;
};

static struct drain drain_state;

static void drain_cb(const struct db_result *res, void *arg)
{
    int idx = (int)(intptr_t)arg;

    drain_state.calls++;
    if (res->status == 0 && res->nrows == 1 && res->ncols == 4 && res->cells[0] == NULL)
        drain_state.ok++;
    if (idx == drain_state.last + 1)
        drain_state.in_order++;
    drain_state.last = idx;
}

START_TEST(test_close_drains_queue)
{
    struct event_base *base = t_base_new();
    struct db *db = t_open("sqlite://");

    drain_state = (struct drain){.last = -1};
    for (int i = 0; i < T_NPINGS; i++)
        ck_assert_int_eq(db_exec(db, base, DB_Q_ECHO, &echo_nulls, drain_cb, (void *)(intptr_t)i),
                         0);
    db_close(db);                           /* returns once every op ran; results wait on base */
    ck_assert_int_lt(drain_state.calls, 1); /* nothing delivered before the loop runs */
    ck_assert(t_pump(base, &drain_state.calls, T_NPINGS));
    event_base_loop(base, EVLOOP_NONBLOCK);
    ck_assert_int_eq(drain_state.calls, T_NPINGS);
    ck_assert_int_eq(drain_state.ok, T_NPINGS);
    ck_assert_int_eq(drain_state.in_order, T_NPINGS); /* FIFO */
    event_base_free(base);
}
END_TEST

START_TEST(test_exec_after_shutdown)
{
    struct event_base *base = t_base_new();
    struct db *db = t_open("sqlite://");
    struct cap before = {0}, after = {0};
    char err[128] = "";

    ck_assert_int_eq(db_exec(db, base, DB_Q_ECHO, &echo_nulls, cap_cb, &before), 0);
    db_shutdown(db);
    db_shutdown(db); /* idempotent */
    ck_assert_int_eq(db_exec(db, base, DB_Q_PING, NULL, cap_cb, &after), -1);
    ck_assert_int_eq(db_exec(db, base, DB_Q_PING, NULL, NULL, NULL), -1);
    ck_assert_int_eq(db_migrate(db, err, sizeof(err)), -1);
    ck_assert_str_eq(err, "database is closing");
    db_close(db);
    db_close(NULL);
    ck_assert(t_pump(base, &before.calls, 1));
    ck_assert_int_eq(before.status, 0);
    usleep(20 * 1000);
    event_base_loop(base, EVLOOP_NONBLOCK);
    ck_assert_int_eq(after.calls, 0);
    ck_assert_int_eq(before.calls, 1);
    cap_free(&before);
    event_base_free(base);
}
END_TEST

START_TEST(test_many_loop_threads)
{
    struct event_base *base = t_base_new(); /* only for evthread_use_pthreads() */
    struct db *db = t_open("sqlite://");
    char err[256] = "";

    ck_assert_int_eq(db_migrate(db, err, sizeof(err)), 0);
    t_db_many_threads(db, 4, 250);
    event_base_free(base);
}
END_TEST

Suite *db_suite(void)
{
    Suite *s = suite_create("db");
    TCase *tc;

    tc = tcase_create("url");
    tcase_add_test(tc, test_url_supported);
    tcase_add_test(tc, test_url_unsupported_scheme);
    tcase_add_test(tc, test_url_postgres_invalid);
    tcase_add_test(tc, test_url_unopenable);
    suite_add_tcase(s, tc);

    tc = tcase_create("migrate");
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_migrate_memory);
    tcase_add_test(tc, test_migrate_file_idempotent);
    tcase_add_test(tc, test_schema_objects);
    tcase_add_test(tc, test_foreign_keys);
    tcase_add_test(tc, test_wal_mode);
    tcase_add_test(tc, test_relative_path);
    tcase_add_test(tc, test_migration_runner);
    tcase_add_test(tc, test_migration_failure_rolls_back);
    tcase_add_test(tc, test_exec_sync_blocks_without_spinning);
    suite_add_tcase(s, tc);

    tc = tcase_create("exec");
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_ping_on_loop);
    tcase_add_test(tc, test_cb_null);
    tcase_add_test(tc, test_params_copied_and_typed);
    tcase_add_test(tc, test_query_errors);
    suite_add_tcase(s, tc);

    tc = tcase_create("close");
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_close_drains_queue);
    tcase_add_test(tc, test_exec_after_shutdown);
    tcase_add_test(tc, test_many_loop_threads);
    suite_add_tcase(s, tc);
    return s;
}
