/*
 * Two gateway replicas on one PostgreSQL database (DESIGN.md §2.5, §2.7; PostgreSQL run only):
 * a key revoked or a user blocked through replica A is refused by replica B within a second,
 * and concurrent requests on both against a nearly spent budget overshoot it by at most one
 * request per replica, the spend in the database matching the usage rows.
 */
#include <check.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "t_llm.h"
#include "t_pg.h"

#define REP_N 10 /* concurrent requests per replica */

/* The price that makes fake-slow-1-300 cost 1.1 USD (10 prompt + 1 completion tokens). */
#define REP_PRICE                                                                                  \
    "{\"model_key\": \"openai:fake-slow-1-300\", "                                                 \
    "\"input_price_per_million\": 100000, \"output_price_per_million\": 100000}"
#define REP_BODY                                                                                   \
    "{\"model\": \"openai:fake-slow-1-300\", \"max_tokens\": 1, \"messages\": [{\"role\": "        \
    "\"user\", \"content\": \"0123456789012345678901234567890123456789\"}]}"

static long rep_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Fixture: replica A through t_llm_up, then replica B on A's database with the same config. */
static void rep_up(void)
{
    t_llm_up_replica("");
}

/* Status of one request to port. */
static int rep_status(int port, const char *method, const char *path, const char *hdr,
                      const char *body)
{
    struct t_resp r;
    int st = -1;

    if (t_http(port, method, path, hdr, body, &r) == 0)
        st = r.status;
    t_resp_free(&r);
    return st;
}

/* Polls the request on port until it answers want; returns the milliseconds it took (-1: not
 * within limit_ms). */
static long rep_until(int port, const char *method, const char *path, const char *hdr,
                      const char *body, int want, long limit_ms)
{
    long t0 = rep_now_ms();

    while (rep_now_ms() - t0 <= limit_ms) {
        if (rep_status(port, method, path, hdr, body) == want)
            return rep_now_ms() - t0;
        usleep(20000);
    }
    return -1;
}

static void rep_key_hdr(const char *user, char *hdr, size_t len, char *id, size_t idlen)
{
    char *key = t_llm_key(user, id, idlen);

    snprintf(hdr, len, "Authorization: Bearer %s\r\nContent-Type: application/json\r\n", key);
    free(key);
}

START_TEST(revocation_reaches_other_replica)
{
    char hdr[256], id[64], path[128];
    long ms;

    t_llm_need_replica();
    json_decref(t_call("POST", "/v1/users", T_AUTH_JSON, "{\"user_id\": \"rep-u\"}", 200));
    rep_key_hdr("rep-u", hdr, sizeof(hdr), id, sizeof(id));

    /* A key made on A works on B once B has refreshed. */
    ms = rep_until(t_llm_replica.port, "GET", "/v1/models", hdr, NULL, 200, 1000);
    ck_assert_msg(ms >= 0, "a key created on A was not accepted by B within 1 s");

    /* Revoked on A: B refuses it within a second. */
    snprintf(path, sizeof(path), "/v1/keys/%s", id);
    t_call_204("DELETE", path, T_AUTH);
    ms = rep_until(t_llm_replica.port, "GET", "/v1/models", hdr, NULL, 401, 1000);
    ck_assert_msg(ms >= 0, "a key revoked on A was still accepted by B after 1 s");

    /* A user blocked on A: B refuses its chat requests within a second. */
    rep_key_hdr("rep-u", hdr, sizeof(hdr), NULL, 0);
    ms = rep_until(t_llm_replica.port, "POST", "/v1/chat/completions", hdr,
                   "{\"model\": \"openai:fake-ok\", \"messages\": [{\"role\": \"user\", "
                   "\"content\": \"Hi\"}]}",
                   200, 1000);
    ck_assert_msg(ms >= 0, "the new key did not work on B");
    json_decref(t_call("PATCH", "/v1/users/rep-u", T_AUTH_JSON, "{\"blocked\": true}", 200));
    ms = rep_until(t_llm_replica.port, "POST", "/v1/chat/completions", hdr,
                   "{\"model\": \"openai:fake-ok\", \"messages\": [{\"role\": \"user\", "
                   "\"content\": \"Hi\"}]}",
                   403, 1000);
    ck_assert_msg(ms >= 0, "a user blocked on A could still call B after 1 s");
    /* And both replicas go on serving the admin API off the same rows. */
    ck_assert_int_eq(rep_status(t_llm_replica.port, "GET", "/v1/users/rep-u", T_AUTH, NULL), 200);
}
END_TEST

struct rep_call {
    int port;
    const char *hdr;
    pthread_barrier_t *start;
    int status;
};

static void *rep_call_run(void *arg)
{
    struct rep_call *c = arg;

    pthread_barrier_wait(c->start);
    c->status = rep_status(c->port, "POST", "/v1/chat/completions", c->hdr, REP_BODY);
    return NULL;
}

START_TEST(budget_across_replicas)
{
    struct rep_call calls[2 * REP_N];
    pthread_t th[2 * REP_N];
    pthread_barrier_t start;
    char hdr[256], body[256], *v;
    const char *bid;
    long ok = 0;
    double spend;
    json_t *j;

    t_llm_need_replica();
    json_decref(t_call("POST", "/v1/pricing", T_AUTH_JSON, REP_PRICE, 200));
    j = t_call("POST", "/v1/budgets", T_AUTH_JSON, "{\"max_budget\": 5.0}", 200);
    bid = json_string_value(json_object_get(j, "budget_id"));
    snprintf(body, sizeof(body), "{\"user_id\": \"rep-b\", \"budget_id\": \"%s\"}", bid);
    json_decref(j);
    json_decref(t_call("POST", "/v1/users", T_AUTH_JSON, body, 200));
    rep_key_hdr("rep-b", hdr, sizeof(hdr), NULL, 0);

    /* Four requests on A: 4.4 of 5.0 USD spent, less than one request left. */
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(rep_status(t_api.port, "POST", "/v1/chat/completions", hdr, REP_BODY),
                         200);
    /* Written, and seen by B's refresh (without it, B would admit 5 more). */
    for (long t0 = rep_now_ms(); rep_now_ms() - t0 < 3000; usleep(20000)) {
        v = t_sql(t_api.db, "SELECT abs(spend - 4.4) < 1e-9 FROM users WHERE user_id = 'rep-b'");
        if (v != NULL && strcmp(v, "1") == 0) {
            free(v);
            break;
        }
        free(v);
    }
    t_assert_sql("1", "SELECT abs(spend - 4.4) < 1e-9 FROM users WHERE user_id = 'rep-b'");
    usleep(1200 * 1000);

    ck_assert_int_eq(pthread_barrier_init(&start, NULL, 2 * REP_N), 0);
    for (int i = 0; i < 2 * REP_N; i++) {
        calls[i] = (struct rep_call){
            .port = i % 2 == 0 ? t_api.port : t_llm_replica.port, .hdr = hdr, .start = &start};
        ck_assert_int_eq(pthread_create(&th[i], NULL, rep_call_run, &calls[i]), 0);
    }
    for (int i = 0; i < 2 * REP_N; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&start);
    for (int i = 0; i < 2 * REP_N; i++) {
        ck_assert_msg(calls[i].status == 200 || calls[i].status == 403, "request %d: %d", i,
                      calls[i].status);
        ok += calls[i].status == 200;
    }
    /* Each replica may admit the one request its view allows, no more. */
    ck_assert_msg(ok >= 1 && ok <= 2, "%ld requests passed against 0.6 USD left", ok);

    for (long t0 = rep_now_ms(); rep_now_ms() - t0 < 3000; usleep(20000)) {
        v = t_sql(t_api.db, "SELECT count(*) FROM usage_logs WHERE user_id = 'rep-b'");
        if (v != NULL && atol(v) == 4 + ok) {
            free(v);
            break;
        }
        free(v);
    }
    t_assert_sql("1", "SELECT abs(spend - (SELECT sum(cost) FROM usage_logs WHERE user_id = "
                      "'rep-b')) < 1e-9 FROM users WHERE user_id = 'rep-b'");
    v = t_sql(t_api.db, "SELECT spend FROM users WHERE user_id = 'rep-b'");
    spend = strtod(v, NULL);
    free(v);
    ck_assert_msg(spend <= 5.0 + 2 * 1.1 + 1e-9, "spend %.4f after %ld more", spend, ok);
    ck_assert_msg(spend >= 4.4 + 1.1 - 1e-9, "spend %.4f: a success was not billed", spend);

    /* Now spent on both: each refuses. */
    usleep(1200 * 1000);
    ck_assert_int_eq(rep_status(t_api.port, "POST", "/v1/chat/completions", hdr, REP_BODY), 403);
    ck_assert_int_eq(rep_status(t_llm_replica.port, "POST", "/v1/chat/completions", hdr, REP_BODY),
                     403);
}
END_TEST

Suite *e2e_replicas_suite(void)
{
    Suite *s = suite_create("e2e_replicas");
    TCase *tc = tcase_create("replicas");

    /* Replicas share a database only on PostgreSQL: this suite runs in that pass. */
    if (t_pg_backend()) {
        tcase_add_unchecked_fixture(tc, rep_up, t_llm_down_replica);
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, revocation_reaches_other_replica);
        tcase_add_test(tc, budget_across_replicas);
    }
    suite_add_tcase(s, tc);
    return s;
}
