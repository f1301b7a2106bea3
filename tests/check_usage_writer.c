/*
 * The batching usage writer (acct_usage.c) against a real migrated SQLite file: every column of
 * a row, spend increments per user, group commit from several threads, resets as barriers,
 * deleted keys and odd text, done callbacks in synchronous mode, a database that fails for a while,
 * the queue bound and the stop contract. Results are read back with the raw sqlite3 API.
 */
#include <check.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>
#include <sqlite3.h>

#include "acct/acct_usage.h"
#include "db/db.h"
#include "util.h"

/* ---- helpers ---- */

/* A migrated database file in a temporary directory, the writer's db on it, a raw connection. */
struct tdb {
    char dir[64];
    char path[128];
    struct db *db;
    sqlite3 *raw;
    struct event_base *base; /* the "request" loop that receives done callbacks */
};

static void t_raw_exec(sqlite3 *c, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(c, sql, NULL, NULL, &msg);

    ck_assert_msg(rc == SQLITE_OK, "%s: %s", sql, msg != NULL ? msg : "?");
    sqlite3_free(msg);
}

static void t_open(struct tdb *t)
{
    char url[160], err[256] = "";

    ck_assert_int_eq(evthread_use_pthreads(), 0);
    t->base = event_base_new();
    ck_assert_ptr_nonnull(t->base);
    snprintf(t->dir, sizeof(t->dir), "/tmp/gw-check-usage-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(t->dir));
    snprintf(t->path, sizeof(t->path), "%s/gw.db", t->dir);
    snprintf(url, sizeof(url), "sqlite:///%s", t->path);
    t->db = db_open(url, err, sizeof(err));
    ck_assert_msg(t->db != NULL, "db_open: %s", err);
    ck_assert_msg(db_migrate(t->db, err, sizeof(err)) == 0, "db_migrate: %s", err);
    ck_assert_int_eq(sqlite3_open_v2(t->path, &t->raw, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_busy_timeout(t->raw, 5000), SQLITE_OK);
    t_raw_exec(t->raw, "PRAGMA foreign_keys=ON");
    /* Two users on budget b1, one soft-deleted user, a key of u1. */
    t_raw_exec(t->raw,
               "INSERT INTO budgets VALUES ('b1', 10.0, 86400, 't0', 't0');"
               "INSERT INTO users (user_id, spend, budget_id, blocked, created_at, updated_at, "
               "metadata, deleted_at) VALUES ('u1', 0.0, 'b1', 0, 't0', 't0', '{}', NULL), "
               "('u2', 0.0, 'b1', 0, 't0', 't0', '{}', NULL), "
               "('u3', 0.0, NULL, 0, 't0', 't0', '{}', 't1');"
               "INSERT INTO api_keys (id, key_hash, user_id, created_at, is_active, metadata) "
               "VALUES ('k1', 'h1', 'u1', 't0', 1, '{}'), ('k2', 'h2', 'u2', 't0', 1, '{}')");
}

static void t_close(struct tdb *t)
{
    char p[192];

    sqlite3_close(t->raw);
    db_close(t->db);
    event_base_free(t->base);
    snprintf(p, sizeof(p), "%s-wal", t->path);
    unlink(p);
    snprintf(p, sizeof(p), "%s-shm", t->path);
    unlink(p);
    ck_assert_int_eq(unlink(t->path), 0);
    ck_assert_int_eq(rmdir(t->dir), 0);
}

/* First cell of the first row of sql as text ("<null>" for SQL NULL, "<none>" for no row). */
static const char *t_text(struct tdb *t, const char *sql, char *out, size_t outlen)
{
    sqlite3_stmt *st = NULL;
    int rc;

    ck_assert_msg(sqlite3_prepare_v2(t->raw, sql, -1, &st, NULL) == SQLITE_OK, "%s: %s", sql,
                  sqlite3_errmsg(t->raw));
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const unsigned char *v = sqlite3_column_text(st, 0);
        snprintf(out, outlen, "%s", v != NULL ? (const char *)v : "<null>");
    } else {
        ck_assert_int_eq(rc, SQLITE_DONE);
        snprintf(out, outlen, "<none>");
    }
    sqlite3_finalize(st);
    return out;
}

static long t_long(struct tdb *t, const char *sql)
{
    char buf[64];

    return strtol(t_text(t, sql, buf, sizeof(buf)), NULL, 10);
}

static double t_double(struct tdb *t, const char *sql)
{
    char buf[64];

    return strtod(t_text(t, sql, buf, sizeof(buf)), NULL);
}

#define T_TEXT_EQ(t, sql, expected)                                                                \
    do {                                                                                           \
        char t_buf_[256];                                                                          \
        ck_assert_str_eq(t_text((t), (sql), t_buf_, sizeof(t_buf_)), (expected));                  \
    } while (0)

/* A successful row of user_id with cost (has_cost when cost >= 0). */
static struct acct_usage_rec t_row(const char *user_id, double cost)
{
    return (struct acct_usage_rec){
        .user_id = user_id,
        .model = "gpt-4o",
        .provider = "openai",
        .endpoint = "/v1/chat/completions",
        .status = "success",
        .has_tokens = true,
        .prompt_tokens = 1,
        .completion_tokens = 2,
        .total_tokens = 3,
        .has_cost = cost >= 0,
        .cost = cost >= 0 ? cost : 0,
        .ts_us = util_now_us(),
    };
}

static struct acct_usage *t_writer(struct tdb *t, int flush_ms, size_t max_queue, bool start)
{
    struct acct_usage *u = acct_usage_new(t->db, flush_ms, max_queue);

    ck_assert_ptr_nonnull(u);
    if (start)
        ck_assert_int_eq(acct_usage_start(u), 0);
    return u;
}

/* Completion recorder for done callbacks. */
struct t_done {
    int calls;
    int status;
    bool on_caller_thread;
    pthread_t caller;
    long rows_seen; /* usage_logs rows with this model when the callback ran */
    const char *model;
    struct tdb *t;
};

static void t_done_cb(int status, void *arg)
{
    struct t_done *d = arg;
    char sql[160];

    d->calls++;
    d->status = status;
    d->on_caller_thread = pthread_equal(pthread_self(), d->caller) != 0;
    if (d->t != NULL && d->model != NULL) {
        snprintf(sql, sizeof(sql), "SELECT count(*) FROM usage_logs WHERE model = '%s'", d->model);
        d->rows_seen = t_long(d->t, sql);
    }
}

/* Runs base without blocking until *counter reaches target; false after timeout_ms. */
static bool t_pump(struct event_base *base, const int *counter, int target, int timeout_ms)
{
    int64_t deadline = util_mono_us() + (int64_t)timeout_ms * 1000;

    while (*counter < target) {
        if (util_mono_us() > deadline)
            return false;
        event_base_loop(base, EVLOOP_NONBLOCK);
        if (*counter < target)
            usleep(500);
    }
    return true;
}

/* ---- columns ---- */

START_TEST(test_row_columns)
{
    struct tdb t;
    struct acct_usage *u;
    struct acct_usage_stats st;
    struct acct_usage_rec full = {
        .api_key_id = "k1",
        .user_id = "u1",
        .model = "gpt-4o",
        .provider = "openai",
        .endpoint = "/v1/chat/completions",
        .status = "success",
        .has_tokens = true,
        .prompt_tokens = 10,
        .completion_tokens = 20,
        .total_tokens = 31,
        .has_cost = true,
        .cost = 0.000123,
        .usage_estimated = true,
        .ts_us = 1762533704429258LL, /* 2025-11-07T16:41:44.429258Z */
    };
    struct acct_usage_rec bare = {
        .model = "claude-3",
        .endpoint = "/v1/messages",
        .status = "error",
        .error_message = "upstream said \"no\"; caf\xc3\xa9",
        .cost = 5.0,                 /* ignored: has_cost is false */
        .ts_us = 1762533704000000LL, /* a whole second: no fraction */
    };
    char id[64];

    t_open(&t);
    u = t_writer(&t, 5, 0, true);
    ck_assert_int_eq(acct_usage_log(u, &full, NULL, NULL, NULL), 0);
    ck_assert_int_eq(acct_usage_log(u, &bare, NULL, NULL, NULL), 0);
    acct_usage_stop(u);
    ck_assert_uint_eq(acct_usage_pending(u), 0);
    acct_usage_stats(u, &st);
    ck_assert_uint_eq(st.rows_written, 2);
    ck_assert_uint_eq(st.batches, 1); /* both rows in one transaction */
    ck_assert_uint_eq(st.lost, 0);
    acct_usage_free(u);

    ck_assert_int_eq(t_long(&t, "SELECT count(*) FROM usage_logs"), 2);
    /* The full row. */
    T_TEXT_EQ(&t, "SELECT api_key_id FROM usage_logs WHERE model='gpt-4o'", "k1");
    T_TEXT_EQ(&t, "SELECT user_id FROM usage_logs WHERE model='gpt-4o'", "u1");
    T_TEXT_EQ(&t, "SELECT timestamp FROM usage_logs WHERE model='gpt-4o'",
              "2025-11-07T16:41:44.429258+00:00");
    T_TEXT_EQ(&t, "SELECT provider FROM usage_logs WHERE model='gpt-4o'", "openai");
    T_TEXT_EQ(&t, "SELECT endpoint FROM usage_logs WHERE model='gpt-4o'", "/v1/chat/completions");
    T_TEXT_EQ(&t,
              "SELECT prompt_tokens || ',' || completion_tokens || ',' || total_tokens || ',' || "
              "typeof(prompt_tokens) FROM usage_logs WHERE model='gpt-4o'",
              "10,20,31,integer");
    T_TEXT_EQ(&t, "SELECT typeof(cost) FROM usage_logs WHERE model='gpt-4o'", "real");
    ck_assert_double_eq(t_double(&t, "SELECT cost FROM usage_logs WHERE model='gpt-4o'"), 0.000123);
    T_TEXT_EQ(&t, "SELECT status FROM usage_logs WHERE model='gpt-4o'", "success");
    T_TEXT_EQ(&t, "SELECT error_message FROM usage_logs WHERE model='gpt-4o'", "<null>");
    T_TEXT_EQ(&t, "SELECT usage_estimated FROM usage_logs WHERE model='gpt-4o'", "1");
    /* id: a time-ordered UUID7 (the primary-key index grows at its end) */
    t_text(&t, "SELECT id FROM usage_logs WHERE model='gpt-4o'", id, sizeof(id));
    ck_assert_uint_eq(strlen(id), 36);
    ck_assert_int_eq(id[8], '-');
    ck_assert_int_eq(id[14], '7');
    ck_assert(strchr("89ab", id[19]) != NULL);
    ck_assert_int_eq(t_long(&t, "SELECT count(DISTINCT id) FROM usage_logs"), 2);

    /* The bare row: master key, no user, no tokens, no cost. */
    T_TEXT_EQ(&t,
              "SELECT coalesce(api_key_id, 'N') || coalesce(user_id, 'N') || "
              "coalesce(provider, 'N') || coalesce(prompt_tokens, 'N') || "
              "coalesce(completion_tokens, 'N') || coalesce(total_tokens, 'N') || "
              "coalesce(cost, 'N') FROM usage_logs WHERE model='claude-3'",
              "NNNNNNN");
    T_TEXT_EQ(&t, "SELECT timestamp FROM usage_logs WHERE model='claude-3'",
              "2025-11-07T16:41:44+00:00");
    T_TEXT_EQ(&t, "SELECT endpoint || ' ' || status FROM usage_logs WHERE model='claude-3'",
              "/v1/messages error");
    T_TEXT_EQ(&t, "SELECT error_message FROM usage_logs WHERE model='claude-3'",
              "upstream said \"no\"; caf\xc3\xa9");
    T_TEXT_EQ(&t, "SELECT usage_estimated FROM usage_logs WHERE model='claude-3'", "0");
    /* No spend for has_cost false; u1 got its cost. */
    ck_assert_double_eq(t_double(&t, "SELECT spend FROM users WHERE user_id='u1'"), 0.000123);
    t_close(&t);
}
END_TEST

START_TEST(test_spend_per_user)
{
    struct tdb t;
    struct acct_usage *u;
    struct acct_usage_rec r;

    t_open(&t);
    u = t_writer(&t, 5, 0, true);
    r = t_row("u1", 0.25);
    ck_assert_int_eq(acct_usage_log(u, &r, NULL, NULL, NULL), 0);
    r = t_row("u2", 1.0);
    ck_assert_int_eq(acct_usage_log(u, &r, NULL, NULL, NULL), 0);
    r = t_row("u1", 0.5);
    ck_assert_int_eq(acct_usage_log(u, &r, NULL, NULL, NULL), 0);
    r = t_row("u1", -1); /* no cost: no spend change */
    ck_assert_int_eq(acct_usage_log(u, &r, NULL, NULL, NULL), 0);
    r = t_row("u3", 5.0); /* soft-deleted: row kept, spend untouched */
    ck_assert_int_eq(acct_usage_log(u, &r, NULL, NULL, NULL), 0);
    r = t_row(NULL, 7.0); /* no user */
    ck_assert_int_eq(acct_usage_log(u, &r, NULL, NULL, NULL), 0);
    r = t_row("u2", NAN); /* not a number: written without cost */
    ck_assert_int_eq(acct_usage_log(u, &r, NULL, NULL, NULL), 0);
    acct_usage_free(u); /* stops, which writes everything */

    ck_assert_int_eq(t_long(&t, "SELECT count(*) FROM usage_logs"), 7);
    ck_assert_double_eq(t_double(&t, "SELECT spend FROM users WHERE user_id='u1'"), 0.75);
    ck_assert_double_eq(t_double(&t, "SELECT spend FROM users WHERE user_id='u2'"), 1.0);
    ck_assert_double_eq(t_double(&t, "SELECT spend FROM users WHERE user_id='u3'"), 0.0);
    ck_assert_int_eq(t_long(&t, "SELECT count(*) FROM usage_logs WHERE user_id='u3'"), 1);
    ck_assert_int_eq(t_long(&t, "SELECT count(*) FROM usage_logs WHERE cost IS NULL"), 2);
    /* The spend update leaves updated_at alone (as the reference does). */
    ck_assert_int_eq(t_long(&t, "SELECT count(*) FROM users WHERE updated_at <> 't0'"), 0);
    t_close(&t);
}
END_TEST

/* ---- group commit from several threads ---- */

#define T_PER_THREAD 1000

struct t_producer {
    struct acct_usage *u;
    const char *provider; /* tags the thread's rows */
    int ok;
};

static void *t_producer_main(void *arg)
{
    struct t_producer *p = arg;

    for (int i = 0; i < T_PER_THREAD; i++) {
        struct acct_usage_rec r = t_row(i % 2 == 0 ? "u1" : "u2", 0.001);

        r.provider = p->provider;
        r.total_tokens = i; /* sequence number */
        if (acct_usage_log(p->u, &r, NULL, NULL, NULL) == 0)
            p->ok++;
    }
    return NULL;
}

START_TEST(test_two_threads)
{
    struct tdb t;
    struct acct_usage *u;
    struct acct_usage_stats st;
    struct t_producer p[2] = {{.provider = "p0"}, {.provider = "p1"}};
    pthread_t th[2];

    t_open(&t);
    u = t_writer(&t, 5, 0, true);
    for (int i = 0; i < 2; i++) {
        p[i].u = u;
        ck_assert_int_eq(pthread_create(&th[i], NULL, t_producer_main, &p[i]), 0);
    }
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(pthread_join(th[i], NULL), 0);
    ck_assert_int_eq(p[0].ok + p[1].ok, 2 * T_PER_THREAD);
    acct_usage_stop(u);
    ck_assert_uint_eq(acct_usage_pending(u), 0);
    acct_usage_stats(u, &st);
    ck_assert_uint_eq(st.rows_written, 2 * T_PER_THREAD);
    ck_assert_uint_eq(st.failures, 0);
    ck_assert_uint_ge(st.batches, 4);   /* at most 500 rows per transaction */
    ck_assert_uint_lt(st.batches, 100); /* and grouped, not one per row */
    acct_usage_free(u);

    /* Every row exactly once, each thread's rows in the order it logged them. */
    ck_assert_int_eq(t_long(&t, "SELECT count(*) FROM usage_logs"), 2 * T_PER_THREAD);
    ck_assert_int_eq(t_long(&t, "SELECT count(DISTINCT id) FROM usage_logs"), 2 * T_PER_THREAD);
    ck_assert_int_eq(
        t_long(&t, "SELECT count(DISTINCT provider || '/' || total_tokens) FROM usage_logs"),
        2 * T_PER_THREAD);
    ck_assert_int_eq(t_long(&t, "SELECT count(*) FROM (SELECT total_tokens - lag(total_tokens) "
                                "OVER (PARTITION BY provider ORDER BY rowid) AS d FROM "
                                "usage_logs) WHERE d <> 1"),
                     0);
    ck_assert_double_eq_tol(t_double(&t, "SELECT spend FROM users WHERE user_id='u1'"), 1.0, 1e-9);
    ck_assert_double_eq_tol(t_double(&t, "SELECT spend FROM users WHERE user_id='u2'"), 1.0, 1e-9);
    t_close(&t);
}
END_TEST

/* ---- budget resets ---- */

START_TEST(test_reset_barrier)
{
    struct tdb t;
    struct acct_usage *u;
    struct acct_usage_stats st;
    struct acct_usage_rec r;
    int64_t reset_at = 1762533704429258LL, next = reset_at + 86400LL * 1000000;

    t_open(&t);
    /* Queued before the thread runs, so all of it would fit in one flush window. */
    u = t_writer(&t, 5, 0, false);
    r = t_row("u1", 1.0);
    ck_assert_int_eq(acct_usage_log(u, &r, NULL, NULL, NULL), 0);
    r = t_row("u1", 2.0);
    ck_assert_int_eq(acct_usage_log(u, &r, NULL, NULL, NULL), 0);
    ck_assert_int_eq(acct_usage_reset(u, "u1", "b1", 3.0, reset_at, next), 0);
    r = t_row("u1", 4.0);
    ck_assert_int_eq(acct_usage_log(u, &r, NULL, NULL, NULL), 0);
    ck_assert_uint_eq(acct_usage_pending(u), 4);
    ck_assert_int_eq(acct_usage_start(u), 0);
    ck_assert_int_eq(acct_usage_start(u), -1); /* only once */
    acct_usage_stop(u);
    acct_usage_stats(u, &st);
    ck_assert_uint_eq(st.rows_written, 3);
    ck_assert_uint_eq(st.resets_written, 1);
    ck_assert_uint_eq(st.batches, 3); /* rows 1+2, the reset, row 4 */
    acct_usage_free(u);

    ck_assert_double_eq(t_double(&t, "SELECT spend FROM users WHERE user_id='u1'"), 4.0);
    T_TEXT_EQ(&t, "SELECT budget_started_at FROM users WHERE user_id='u1'",
              "2025-11-07T16:41:44.429258+00:00");
    T_TEXT_EQ(&t, "SELECT updated_at FROM users WHERE user_id='u1'",
              "2025-11-07T16:41:44.429258+00:00");
    T_TEXT_EQ(&t, "SELECT next_budget_reset_at FROM users WHERE user_id='u1'",
              "2025-11-08T16:41:44.429258+00:00");
    ck_assert_int_eq(t_long(&t, "SELECT count(*) FROM budget_reset_logs"), 1);
    T_TEXT_EQ(&t,
              "SELECT user_id || ' ' || budget_id || ' ' || previous_spend || ' ' || reset_at || "
              "' ' || next_reset_at FROM budget_reset_logs",
              "u1 b1 3.0 2025-11-07T16:41:44.429258+00:00 2025-11-08T16:41:44.429258+00:00");
    ck_assert_int_eq(t_long(&t, "SELECT count(*) FROM usage_logs WHERE user_id='u1'"), 3);
    t_close(&t);
}
END_TEST

START_TEST(test_reset_edge_cases)
{
    struct tdb t;
    struct acct_usage *u;
    struct acct_usage_stats st;
    struct acct_usage_rec r;

    t_open(&t);
    t_raw_exec(t.raw, "UPDATE users SET spend = 2.5");
    u = t_writer(&t, 5, 0, true);
    /* No next reset: next_budget_reset_at NULL. */
    ck_assert_int_eq(acct_usage_reset(u, "u1", "b1", 2.5, 1762533704000000LL, 0), 0);
    /* A budget that does not exist: spend reset, no log row (no foreign key failure). */
    ck_assert_int_eq(acct_usage_reset(u, "u2", "gone", 2.5, 1762533704000000LL, 0), 0);
    /* A soft-deleted user: nothing. Unknown user: nothing. */
    ck_assert_int_eq(acct_usage_reset(u, "u3", "b1", 2.5, 1762533704000000LL, 0), 0);
    ck_assert_int_eq(acct_usage_reset(u, "nobody", "b1", 2.5, 1762533704000000LL, 0), 0);
    r = t_row("u2", 0.5);
    ck_assert_int_eq(acct_usage_log(u, &r, NULL, NULL, NULL), 0);
    ck_assert_int_eq(acct_usage_reset(u, NULL, "b1", 0, 0, 0), -1);
    acct_usage_stop(u);
    acct_usage_stats(u, &st);
    ck_assert_uint_eq(st.resets_written, 4);
    ck_assert_uint_eq(st.failures, 0);
    acct_usage_free(u);

    ck_assert_double_eq(t_double(&t, "SELECT spend FROM users WHERE user_id='u1'"), 0.0);
    T_TEXT_EQ(&t, "SELECT next_budget_reset_at FROM users WHERE user_id='u1'", "<null>");
    T_TEXT_EQ(&t, "SELECT budget_started_at FROM users WHERE user_id='u1'",
              "2025-11-07T16:41:44+00:00");
    ck_assert_double_eq(t_double(&t, "SELECT spend FROM users WHERE user_id='u2'"), 0.5);
    ck_assert_double_eq(t_double(&t, "SELECT spend FROM users WHERE user_id='u3'"), 2.5);
    T_TEXT_EQ(&t, "SELECT updated_at FROM users WHERE user_id='u3'", "t0");
    ck_assert_int_eq(t_long(&t, "SELECT count(*) FROM budget_reset_logs"), 1);
    T_TEXT_EQ(&t,
              "SELECT user_id || ' ' || previous_spend || ' ' || coalesce(next_reset_at, 'N') "
              "FROM budget_reset_logs",
              "u1 2.5 N");
    t_close(&t);
}
END_TEST

/* ---- foreign keys ---- */

START_TEST(test_deleted_key_and_user)
{
    struct tdb t;
    struct acct_usage *u;
    struct acct_usage_stats st;
    struct acct_usage_rec r;

    t_open(&t);
    t_raw_exec(t.raw, "DELETE FROM api_keys WHERE id='k2'");
    u = t_writer(&t, 5, 0, true);
    r = t_row("u2", 1.0);
    r.api_key_id = "k2"; /* deleted after the request was authenticated */
    r.model = "m-deleted-key";
    ck_assert_int_eq(acct_usage_log(u, &r, NULL, NULL, NULL), 0);
    r = t_row("ghost", 1.0); /* a user that does not exist (anymore) */
    r.api_key_id = "k1";
    r.model = "m-ghost";
    ck_assert_int_eq(acct_usage_log(u, &r, NULL, NULL, NULL), 0);
    r = t_row("u1", -1);
    r.model = "m-bad-utf8-\xff\xc3\xa9"; /* not UTF-8: kept, the stray byte as '?' */
    ck_assert_int_eq(acct_usage_log(u, &r, NULL, NULL, NULL), 0);
    acct_usage_stop(u);
    acct_usage_stats(u, &st);
    ck_assert_uint_eq(st.failures, 0);
    ck_assert_uint_eq(st.rows_written, 3);
    acct_usage_free(u);

    T_TEXT_EQ(&t,
              "SELECT coalesce(api_key_id, 'N') || ' ' || user_id FROM usage_logs WHERE "
              "model='m-deleted-key'",
              "N u2");
    T_TEXT_EQ(&t,
              "SELECT api_key_id || ' ' || coalesce(user_id, 'N') FROM usage_logs WHERE "
              "model='m-ghost'",
              "k1 N");
    ck_assert_double_eq(t_double(&t, "SELECT spend FROM users WHERE user_id='u2'"), 1.0);
    ck_assert_int_eq(t_long(&t, "SELECT count(*) FROM users WHERE user_id='ghost'"), 0);
    ck_assert_int_eq(t_long(&t, "SELECT count(*) FROM usage_logs WHERE "
                                "replace(model, '?', 'Q') = 'm-bad-utf8-Q\xc3\xa9'"),
                     1);
    t_close(&t);
}
END_TEST

/* ---- synchronous mode ---- */

START_TEST(test_done_after_commit)
{
    struct tdb t;
    struct acct_usage *u;
    struct acct_usage_rec r;
    struct t_done d = {.caller = pthread_self(), .model = "m-sync", .status = 99};
    int64_t t0;

    t_open(&t);
    d.t = &t;
    /* A 10 s flush window: only the done callback can make the writer write now. */
    u = t_writer(&t, 10000, 0, true);
    r = t_row("u1", 0.5);
    r.model = "m-plain"; /* queued first, written in the same transaction */
    ck_assert_int_eq(acct_usage_log(u, &r, NULL, NULL, NULL), 0);
    r.model = "m-sync";
    t0 = util_mono_us();
    ck_assert_int_eq(acct_usage_log(u, &r, t.base, t_done_cb, &d), 0);
    ck_assert_int_eq(d.calls, 0); /* never called before the function returns */
    ck_assert(t_pump(t.base, &d.calls, 1, 3000));
    ck_assert_int_lt(util_mono_us() - t0, 3000000);
    ck_assert_int_eq(d.status, 0);
    ck_assert(d.on_caller_thread);
    ck_assert_int_eq(d.rows_seen, 1); /* durable and visible when done ran */
    ck_assert_int_eq(t_long(&t, "SELECT count(*) FROM usage_logs WHERE model='m-plain'"), 1);
    ck_assert_double_eq(t_double(&t, "SELECT spend FROM users WHERE user_id='u1'"), 1.0);
    ck_assert_uint_eq(acct_usage_pending(u), 0);
    acct_usage_free(u);
    event_base_loop(t.base, EVLOOP_NONBLOCK);
    ck_assert_int_eq(d.calls, 1);
    t_close(&t);
}
END_TEST

/* ---- a failing database ---- */

START_TEST(test_db_fails_for_a_while)
{
    struct tdb t;
    struct acct_usage *u;
    struct acct_usage_stats st;
    struct acct_usage_rec r;
    struct t_done d = {.caller = pthread_self(), .model = "m-retry", .status = 99};
    int never = 0;

    t_open(&t);
    d.t = &t;
    t_raw_exec(t.raw, "ALTER TABLE usage_logs RENAME TO usage_logs_away");
    u = t_writer(&t, 5, 0, true);
    for (int i = 0; i < 10; i++) {
        r = t_row("u1", 0.125);
        r.model = "m-retry";
        ck_assert_int_eq(acct_usage_log(u, &r, i == 9 ? t.base : NULL, i == 9 ? t_done_cb : NULL,
                                        i == 9 ? &d : NULL),
                         0);
    }
    ck_assert_int_eq(acct_usage_reset(u, "u2", "b1", 0.0, util_now_us(), 0), 0);
    /* The writer keeps failing (and backing off) while the table is away. */
    ck_assert(!t_pump(t.base, &never, 1, 250));
    ck_assert_int_eq(d.calls, 0);
    ck_assert_uint_eq(acct_usage_pending(u), 11);
    acct_usage_stats(u, &st);
    ck_assert_uint_ge(st.failures, 2);
    ck_assert_uint_eq(st.rows_written, 0);
    ck_assert_uint_eq(st.resets_written, 0); /* the reset waits behind the rows */
    t_raw_exec(t.raw, "ALTER TABLE usage_logs_away RENAME TO usage_logs");
    ck_assert(t_pump(t.base, &d.calls, 1, 3000));
    ck_assert_int_eq(d.status, 0);
    ck_assert_int_eq(d.rows_seen, 10);
    acct_usage_stop(u);
    acct_usage_stats(u, &st);
    ck_assert_uint_eq(st.rows_written, 10);
    ck_assert_uint_eq(st.resets_written, 1);
    ck_assert_uint_eq(st.lost, 0);
    acct_usage_free(u);

    ck_assert_int_eq(t_long(&t, "SELECT count(*) FROM usage_logs"), 10);
    ck_assert_int_eq(t_long(&t, "SELECT count(DISTINCT id) FROM usage_logs"), 10);
    /* Failed attempts were rolled back: the spend was added exactly once. */
    ck_assert_double_eq(t_double(&t, "SELECT spend FROM users WHERE user_id='u1'"), 1.25);
    t_close(&t);
}
END_TEST

/* ---- queue bound, stop, misuse ---- */

START_TEST(test_queue_full_then_stop_unstarted)
{
    struct tdb t;
    struct acct_usage *u;
    struct acct_usage_stats st;
    struct acct_usage_rec r = t_row("u1", 1.0);
    struct t_done d = {.caller = pthread_self()};

    t_open(&t);
    u = t_writer(&t, 5, 3, false);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(acct_usage_log(u, &r, NULL, NULL, NULL), 0);
    ck_assert_int_eq(acct_usage_log(u, &r, t.base, t_done_cb, &d), -1);
    ck_assert_int_eq(acct_usage_reset(u, "u1", "b1", 0, 0, 0), -1);
    ck_assert_uint_eq(acct_usage_pending(u), 3);
    acct_usage_stats(u, &st);
    ck_assert_uint_eq(st.lost, 2);
    /* Never started: stop writes the queue on this thread. */
    acct_usage_stop(u);
    ck_assert_uint_eq(acct_usage_pending(u), 0);
    acct_usage_free(u);
    event_base_loop(t.base, EVLOOP_NONBLOCK);
    ck_assert_int_eq(d.calls, 0); /* -1 means done is never called */
    ck_assert_int_eq(t_long(&t, "SELECT count(*) FROM usage_logs"), 3);
    ck_assert_double_eq(t_double(&t, "SELECT spend FROM users WHERE user_id='u1'"), 3.0);
    t_close(&t);
}
END_TEST

START_TEST(test_after_stop)
{
    struct tdb t;
    struct acct_usage *u;
    struct acct_usage_rec r = t_row("u1", 1.0);
    struct t_done d = {.caller = pthread_self()};

    t_open(&t);
    u = t_writer(&t, 5, 0, true);
    r.model = NULL;
    ck_assert_int_eq(acct_usage_log(u, &r, NULL, NULL, NULL), -1); /* model required */
    r.model = "gpt-4o";
    ck_assert_int_eq(acct_usage_log(u, &r, NULL, t_done_cb, &d), -1); /* done needs a base */
    ck_assert_int_eq(acct_usage_log(u, &r, NULL, NULL, NULL), 0);
    acct_usage_stop(u);
    acct_usage_stop(u); /* idempotent */
    ck_assert_int_eq(acct_usage_log(u, &r, NULL, NULL, NULL), -1);
    ck_assert_int_eq(acct_usage_log(u, &r, t.base, t_done_cb, &d), -1);
    ck_assert_int_eq(acct_usage_reset(u, "u1", "b1", 1.0, util_now_us(), 0), -1);
    ck_assert_int_eq(acct_usage_start(u), -1);
    ck_assert_uint_eq(acct_usage_pending(u), 0);
    acct_usage_free(u);
    acct_usage_free(NULL);
    event_base_loop(t.base, EVLOOP_NONBLOCK);
    ck_assert_int_eq(d.calls, 0);
    ck_assert_int_eq(t_long(&t, "SELECT count(*) FROM usage_logs"), 1);
    t_close(&t);
}
END_TEST

/* The database is closed before the writer stops: stop gives up at once and reports -1. */
START_TEST(test_give_up_when_db_closed)
{
    struct tdb t;
    struct acct_usage *u;
    struct acct_usage_stats st;
    struct acct_usage_rec r = t_row("u1", 1.0);
    struct t_done d = {.caller = pthread_self(), .status = 99};
    int64_t t0;

    t_open(&t);
    u = t_writer(&t, 10000, 0, true);
    ck_assert_int_eq(acct_usage_log(u, &r, NULL, NULL, NULL), 0);
    ck_assert_int_eq(acct_usage_reset(u, "u1", "b1", 1.0, util_now_us(), 0), 0);
    ck_assert_int_eq(acct_usage_log(u, &r, NULL, NULL, NULL), 0);
    db_shutdown(t.db);
    ck_assert_int_eq(acct_usage_log(u, &r, t.base, t_done_cb, &d), 0);
    t0 = util_mono_us();
    acct_usage_stop(u);
    ck_assert_int_lt(util_mono_us() - t0, 1000000);
    ck_assert_uint_eq(acct_usage_pending(u), 0);
    acct_usage_stats(u, &st);
    ck_assert_uint_eq(st.lost, 4);
    ck_assert_uint_eq(st.rows_written, 0);
    acct_usage_free(u);
    ck_assert(t_pump(t.base, &d.calls, 1, 1000));
    ck_assert_int_eq(d.status, -1);
    ck_assert(d.on_caller_thread);
    ck_assert_int_eq(t_long(&t, "SELECT count(*) FROM usage_logs"), 0);
    t_close(&t);
}
END_TEST

Suite *usage_writer_suite(void)
{
    Suite *s = suite_create("usage_writer");
    TCase *tc;

    tc = tcase_create("rows");
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_row_columns);
    tcase_add_test(tc, test_spend_per_user);
    tcase_add_test(tc, test_two_threads);
    tcase_add_test(tc, test_deleted_key_and_user);
    suite_add_tcase(s, tc);

    tc = tcase_create("resets");
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_reset_barrier);
    tcase_add_test(tc, test_reset_edge_cases);
    suite_add_tcase(s, tc);

    tc = tcase_create("durability");
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_done_after_commit);
    tcase_add_test(tc, test_db_fails_for_a_while);
    tcase_add_test(tc, test_give_up_when_db_closed);
    suite_add_tcase(s, tc);

    tc = tcase_create("lifecycle");
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_queue_full_then_stop_unstarted);
    tcase_add_test(tc, test_after_stop);
    suite_add_tcase(s, tc);
    return s;
}
