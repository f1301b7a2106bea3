/*
 * The database going away under a running gateway, and a gateway started while it is away
 * (PostgreSQL run only; issue 5 "faults"). The suite owns a private cluster (t_pg.h) so it can
 * stop and start the server without disturbing the shared one:
 *   - lost while serving: readiness 503; a user with a budget limit is refused with a JSON 503
 *     (fail closed); a user without one is still served and its usage rows wait in memory;
 *     admin calls answer 503 "Database unavailable"; after the restart readiness is 200 again,
 *     every queued row is in usage_logs and its cost in users.spend;
 *   - down at start-up: the process stays up, liveness 200, readiness 503 and the API 503 until
 *     the server is back, then start-up completes by itself (migrations included).
 */
#include <check.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "t_llm.h"
#include "t_pg.h"

#define FL_CHAT                                                                                    \
    "{\"model\": \"openai:fake-ok\", \"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}]}"
/* fake-ok reports 10 prompt and 5 completion tokens: 10 * 1 + 5 * 2 = 20 micro-USD a call. */
#define FL_PRICE                                                                                   \
    "{\"model_key\": \"openai:fake-ok\", \"input_price_per_million\": 1, "                         \
    "\"output_price_per_million\": 2}"

static struct t_pg fl_pg; /* private cluster: started by the unchecked fixture (parent) */
static int fl_pg_up;

static void fl_cluster_up(void)
{
    fl_pg_up = t_pg_start(&fl_pg) == 0;
    if (!fl_pg_up)
        fprintf(stderr, "e2e_faults: cannot start a PostgreSQL cluster: %s\n", fl_pg.err);
}

static void fl_cluster_down(void)
{
    if (fl_pg_up)
        t_pg_stop(&fl_pg);
    fl_pg_up = 0;
}

static long fl_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static int fl_status(const char *method, const char *path, const char *hdr, const char *body)
{
    struct t_resp r;
    int st = -1;

    if (t_http(t_api.port, method, path, hdr, body, &r) == 0)
        st = r.status;
    t_resp_free(&r);
    return st;
}

/* Polls until the request answers want; returns the milliseconds it took, -1 after limit_ms. */
static long fl_until(const char *method, const char *path, const char *hdr, const char *body,
                     int want, long limit_ms)
{
    long t0 = fl_now_ms();

    while (fl_now_ms() - t0 <= limit_ms) {
        if (fl_status(method, path, hdr, body) == want)
            return fl_now_ms() - t0;
        usleep(50000);
    }
    return -1;
}

/* Polls the first cell of sql on url until it equals want (limit_ms); returns the last value. */
static char *fl_sql_until(const char *url, const char *sql, const char *want, long limit_ms)
{
    long t0 = fl_now_ms();
    char *v = NULL;

    for (;;) {
        free(v);
        v = t_pg_sql(url, sql);
        if ((v != NULL && strcmp(v, want) == 0) || fl_now_ms() - t0 > limit_ms)
            return v;
        usleep(50000);
    }
}

/* Expects a JSON error reply with status and a detail containing part (and Retry-After). */
static void fl_expect_503(const char *method, const char *path, const char *hdr, const char *body,
                          const char *part)
{
    struct t_resp r;
    char ra[16];
    json_t *j;
    const char *detail;

    ck_assert_int_eq(t_http(t_api.port, method, path, hdr, body, &r), 0);
    ck_assert_msg(r.status == 503, "%s %s: %d %s", method, path, r.status, r.body);
    j = t_json(&r);
    detail = json_string_value(json_object_get(j, "detail"));
    ck_assert_msg(detail != NULL && strstr(detail, part) != NULL, "detail: %s", r.body);
    ck_assert_ptr_nonnull(t_header(&r, "Retry-After", ra, sizeof(ra)));
    json_decref(j);
    t_resp_free(&r);
}

/* Starts the fake and a gateway on database url of the private cluster (t_api, t_llm_fake). */
static void fl_gateway_up(const char *url)
{
    char yaml[1024];
    const char *args[] = {"--database-url", url, NULL};

    ck_assert_msg(fl_pg_up, "no PostgreSQL cluster");
    ck_assert_int_eq(t_fake_start(&t_llm_fake), 0);
    snprintf(yaml, sizeof(yaml),
             "master_key: " T_MASTER_KEY "\nbootstrap_api_key: false\nproviders:\n"
             "  openai:\n    api_key: " T_PROVIDER_KEY "\n    api_base: http://127.0.0.1:%d/v1\n",
             t_llm_fake.port);
    t_api_started = t_gw_start(&t_api, yaml, args, NULL) == 0;
    ck_assert_msg(t_api_started, "gateway did not start");
}

static void fl_gateway_down(void)
{
    ck_assert_int_eq(t_gw_stop(&t_api, SIGTERM, 15000), 0);
    t_api_started = 0;
    t_fake_stop(&t_llm_fake);
}

static void fl_key_hdr(const char *user, char *hdr, size_t len)
{
    char *key = t_llm_key(user, NULL, 0);

    snprintf(hdr, len, "Authorization: Bearer %s\r\nContent-Type: application/json\r\n", key);
    free(key);
}

START_TEST(db_lost_while_serving)
{
    char url[256], capped[256], free_hdr[256], body[256], *v;
    const char *bid;
    json_t *j;
    long ms;

    ck_assert_int_eq(t_pg_createdb(&fl_pg, "faults_serving", url, sizeof(url)), 0);
    fl_gateway_up(url);
    json_decref(t_call("POST", "/v1/pricing", T_AUTH_JSON, FL_PRICE, 200));
    j = t_call("POST", "/v1/budgets", T_AUTH_JSON, "{\"max_budget\": 100.0}", 200);
    bid = json_string_value(json_object_get(j, "budget_id"));
    snprintf(body, sizeof(body), "{\"user_id\": \"fl-capped\", \"budget_id\": \"%s\"}", bid);
    json_decref(t_call("POST", "/v1/users", T_AUTH_JSON, body, 200));
    json_decref(j);
    json_decref(t_call("POST", "/v1/users", T_AUTH_JSON, "{\"user_id\": \"fl-free\"}", 200));
    fl_key_hdr("fl-capped", capped, sizeof(capped));
    fl_key_hdr("fl-free", free_hdr, sizeof(free_hdr));
    ck_assert_int_eq(fl_status("POST", "/v1/chat/completions", capped, FL_CHAT), 200);
    ck_assert_int_eq(fl_status("POST", "/v1/chat/completions", free_hdr, FL_CHAT), 200);
    ck_assert_int_eq(fl_status("GET", "/health/readiness", NULL, NULL), 200);

    /* The server goes away: readiness says so within a couple of seconds. */
    ck_assert_int_eq(t_pg_server_stop(&fl_pg), 0);
    ms = fl_until("GET", "/health/readiness", NULL, NULL, 503, 3000);
    ck_assert_msg(ms >= 0, "readiness still 200 3 s after the database stopped");

    /* A budget decision fails closed; an unlimited user is still served. */
    fl_expect_503("POST", "/v1/chat/completions", capped, FL_CHAT, "database is unavailable");
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(fl_status("POST", "/v1/chat/completions", free_hdr, FL_CHAT), 200);
    /* The admin API needs the database: a JSON 503, not a 500. */
    fl_expect_503("GET", "/v1/users/fl-free", T_AUTH, NULL, "Database unavailable");
    /* Auth is in memory: a wrong key is still 401, not a database error. */
    ck_assert_int_eq(fl_status("POST", "/v1/chat/completions",
                               "Authorization: Bearer gw-not-a-key\r\n", FL_CHAT),
                     401);

    /* Back: readiness 200, the queued rows written, spend in step with them. */
    ck_assert_int_eq(t_pg_server_start(&fl_pg), 0);
    ms = fl_until("GET", "/health/readiness", NULL, NULL, 200, 10000);
    ck_assert_msg(ms >= 0, "readiness not 200 10 s after the database came back");
    v = fl_sql_until(url, "SELECT count(*) FROM usage_logs WHERE user_id = 'fl-free'", "6", 10000);
    ck_assert_msg(v != NULL && strcmp(v, "6") == 0, "usage rows of fl-free: %s (want 6)", v);
    free(v);
    v = fl_sql_until(url,
                     "SELECT (abs(spend - 0.00012) < 1e-12)::int FROM users "
                     "WHERE user_id = 'fl-free'",
                     "1", 10000);
    ck_assert_msg(v != NULL && strcmp(v, "1") == 0, "spend of fl-free not 6 x 20 micro-USD");
    free(v);
    v = t_pg_sql(url, "SELECT count(*) FROM usage_logs WHERE user_id = 'fl-capped'");
    ck_assert_msg(v != NULL && strcmp(v, "1") == 0, "refused request was logged: %s", v);
    free(v);
    /* The refused user is admitted again once the pool is back. */
    ms = fl_until("POST", "/v1/chat/completions", capped, FL_CHAT, 200, 5000);
    ck_assert_msg(ms >= 0, "fl-capped still refused after the database came back");
    ck_assert_int_eq(fl_status("GET", "/v1/users/fl-free", T_AUTH, NULL), 200);
    fl_gateway_down();
}
END_TEST

START_TEST(db_down_at_start)
{
    char url[256], hdr[256], *log, *v;
    int wst;
    long ms;

    ck_assert_int_eq(t_pg_createdb(&fl_pg, "faults_start", url, sizeof(url)), 0);
    ck_assert_int_eq(t_pg_server_stop(&fl_pg), 0);
    fl_gateway_up(url); /* returns once /health answers */

    ck_assert_int_eq(fl_status("GET", "/health/liveness", NULL, NULL), 200);
    ck_assert_int_eq(fl_status("GET", "/health/readiness", NULL, NULL), 503);
    fl_expect_503("GET", "/v1/models", T_AUTH, NULL, "starting");
    fl_expect_503("POST", "/v1/chat/completions", T_AUTH_JSON, FL_CHAT, "starting");
    usleep(1500 * 1000);
    ck_assert_int_eq(waitpid(t_api.pid, &wst, WNOHANG), 0); /* still running, retrying */
    ck_assert_int_eq(fl_status("GET", "/health/readiness", NULL, NULL), 503);

    ck_assert_int_eq(t_pg_server_start(&fl_pg), 0);
    ms = fl_until("GET", "/health/readiness", NULL, NULL, 200, 15000);
    ck_assert_msg(ms >= 0, "start-up did not complete 15 s after the database came back");
    ck_assert_int_eq(fl_status("GET", "/v1/models", T_AUTH, NULL), 200);
    json_decref(t_call("POST", "/v1/users", T_AUTH_JSON, "{\"user_id\": \"fl-late\"}", 200));
    fl_key_hdr("fl-late", hdr, sizeof(hdr));
    ck_assert_int_eq(fl_status("POST", "/v1/chat/completions", hdr, FL_CHAT), 200);
    v = fl_sql_until(url, "SELECT count(*) FROM usage_logs", "1", 5000);
    ck_assert_msg(v != NULL && strcmp(v, "1") == 0, "usage rows: %s", v);
    free(v);
    log = t_gw_log_wait(&t_api, "start-up complete", 3000);
    ck_assert_ptr_nonnull(log);
    ck_assert_msg(strstr(log, "retrying") != NULL, "no retry in the log:\n%s", log);
    ck_assert_msg(strstr(log, "start-up complete") != NULL, "no completion in the log:\n%s", log);
    free(log);
    fl_gateway_down();
}
END_TEST

/* The advisory lock that serialises migrations across replicas (db_pg_migrate.c). */
#define FL_MIGRATE_LOCK "7020945710798026615"

/* Waits up to limit_ms for pid to exit; returns its wait status, or -1 (still running). */
static int fl_wait_exit(pid_t pid, long limit_ms)
{
    long t0 = fl_now_ms();
    int st;

    while (fl_now_ms() - t0 <= limit_ms) {
        if (waitpid(pid, &st, WNOHANG) == pid)
            return st;
        usleep(20000);
    }
    return -1;
}

/*
 * SIGTERM ends a migration waiting for another replica's lock, for the migrate command and for
 * a serving gateway whose start-up waits on it (regression: both waited for the lock's holder,
 * and serve did so before its listeners answered, so its liveness probe failed meanwhile).
 */
START_TEST(stop_while_migration_lock_held)
{
    char url[256], conninfo[512];
    const char *bin = getenv("GW_BIN") != NULL ? getenv("GW_BIN") : "build/any-llm-gateway";
    PGconn *holder;
    PGresult *res;
    pid_t pid;
    int st;
    long t0;

    ck_assert_msg(fl_pg_up, "no PostgreSQL cluster");
    ck_assert_int_eq(t_pg_createdb(&fl_pg, "fl_lock", url, sizeof(url)), 0);
    t_pg_conninfo(&fl_pg, "fl_lock", conninfo, sizeof(conninfo));
    holder = PQconnectdb(conninfo);
    ck_assert_int_eq(PQstatus(holder), CONNECTION_OK);
    res = PQexec(holder, "SELECT pg_advisory_lock(" FL_MIGRATE_LOCK ")");
    ck_assert_int_eq(PQresultStatus(res), PGRES_TUPLES_OK);
    PQclear(res);

    /* any-llm-gateway migrate, waiting for the lock */
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, STDOUT_FILENO);
        dup2(null, STDERR_FILENO);
        execl(bin, bin, "migrate", "--database-url", url, (char *)NULL);
        _exit(127);
    }
    usleep(800 * 1000);
    ck_assert_int_eq(waitpid(pid, &st, WNOHANG), 0); /* still waiting for the lock */
    t0 = fl_now_ms();
    kill(pid, SIGTERM);
    st = fl_wait_exit(pid, 3000);
    if (st == -1) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
        ck_abort_msg("migrate kept waiting for the lock after SIGTERM");
    }
    ck_assert_msg(WIFEXITED(st), "migrate ended by a signal");
    ck_assert_int_lt(fl_now_ms() - t0, 3000);

    /* serve: listening (liveness) while its start-up waits for the lock; SIGTERM stops it */
    fl_gateway_up(url);
    usleep(500 * 1000);
    t0 = fl_now_ms();
    ck_assert_int_eq(t_gw_stop(&t_api, SIGTERM, 5000), 0);
    ck_assert_int_lt(fl_now_ms() - t0, 5000);
    t_api_started = 0;
    t_fake_stop(&t_llm_fake);

    /* Live but not ready while another replica migrates; ready once its lock is released. */
    fl_gateway_up(url);
    ck_assert_int_eq(fl_status("GET", "/health/liveness", NULL, NULL), 200);
    ck_assert_int_eq(fl_status("GET", "/health/readiness", NULL, NULL), 503);
    res = PQexec(holder, "SELECT pg_advisory_unlock(" FL_MIGRATE_LOCK ")");
    ck_assert_int_eq(PQresultStatus(res), PGRES_TUPLES_OK);
    PQclear(res);
    ck_assert_int_ge(fl_until("GET", "/health/readiness", NULL, NULL, 200, 15000), 0);
    fl_gateway_down();
    PQfinish(holder);
}
END_TEST

Suite *e2e_faults_suite(void)
{
    Suite *s = suite_create("e2e_faults");
    TCase *tc = tcase_create("faults");

    /* PostgreSQL run only: SQLite is a file in the process, it cannot go away like a server. */
    if (t_pg_backend()) {
        tcase_add_unchecked_fixture(tc, fl_cluster_up, fl_cluster_down);
        tcase_set_timeout(tc, 90);
        tcase_add_test(tc, db_lost_while_serving);
        tcase_add_test(tc, db_down_at_start);
        tcase_add_test(tc, stop_while_migration_lock_held);
    }
    suite_add_tcase(s, tc);
    return s;
}
