/*
 * End-to-end tests of the usage analytics API (GET /v1/usage, GET /v1/usage/summary) against the
 * real binary, on SQLite and PostgreSQL: rows inserted with chosen timestamps (every filter and
 * combination, pagination with X-Total-Count, each group_by with exact sums, the half-open
 * window at whole seconds and at fractions, in every accepted date form), rows made by real chat
 * requests through the fake provider, every 422, and the master-key rules.
 */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "t_llm.h"

/* The seeded rows all lie in [2025-03-01, 2025-03-05): live rows (now) stay out of it. */
#define U_W "start_date=2025-03-01&end_date=2025-03-05"

/* Costs are binary fractions, so every sum is exact on both databases. */
static const char u_seed_sql[] =
    "INSERT INTO users (user_id, alias, spend, blocked, created_at, updated_at, metadata) VALUES "
    "('ua', NULL, 0, false, '2025-01-01T00:00:00+00:00', '2025-01-01T00:00:00+00:00', '{}'),"
    "('ub', NULL, 0, false, '2025-01-01T00:00:00+00:00', '2025-01-01T00:00:00+00:00', '{}');"
    "INSERT INTO api_keys (id, key_hash, key_name, user_id, created_at, is_active, metadata) "
    "VALUES ('ka', 'hash-ka', NULL, 'ua', '2025-01-01T00:00:00+00:00', true, '{}'),"
    "('kb', 'hash-kb', NULL, 'ub', '2025-01-01T00:00:00+00:00', true, '{}');"
    "INSERT INTO usage_logs (id, api_key_id, user_id, timestamp, model, provider, endpoint, "
    "prompt_tokens, completion_tokens, total_tokens, cost, status, error_message) VALUES "
    "('u01', 'ka', 'ua', '2025-03-01T10:00:00+00:00', 'm-alpha', 'pa', '/v1/chat/completions', "
    "10, 20, 30, 0.5, 'success', NULL),"
    "('u02', 'ka', 'ua', '2025-03-01T10:30:00.250000+00:00', 'm-alpha', 'pa', "
    "'/v1/chat/completions', NULL, NULL, NULL, NULL, 'error', 'boom'),"
    "('u03', 'kb', 'ub', '2025-03-01T11:00:00+00:00', 'm-beta', 'pb', '/v1/messages', "
    "100, 50, 150, 2.0, 'success', NULL),"
    "('u04', 'kb', 'ub', '2025-03-02T00:00:00+00:00', 'm-beta', 'pb', '/v1/chat/completions', "
    "5, 1, 6, 0.25, 'cancelled', 'client gone'),"
    "('u05', NULL, 'ua', '2025-03-02T23:59:59.999999+00:00', 'm-alpha', NULL, '/v1/embeddings', "
    "1, 1, 2, 0.125, 'success', NULL),"
    "('u06', 'ka', NULL, '2025-03-03T00:00:00+00:00', 'm-gamma', 'pa', '/v1/chat/completions', "
    "7, 3, 10, 1.0, 'success', NULL),"
    "('u07', 'kb', 'ub', '2025-03-04T12:00:00+00:00', 'm-beta', 'pb', '/v1/chat/completions', "
    "1, 1, 2, 0.0625, 'success', NULL),"
    "('u08', 'kb', 'ub', '2025-03-04T12:00:00+00:00', 'm-beta', 'pb', '/v1/chat/completions', "
    "1, 1, 2, 0.0625, 'success', NULL)";

/* Unchecked fixture: the fake, a gateway with a price for fake-ok, and the seeded rows. */
static void u_up(void)
{
    t_llm_up("", "pricing:\n"
                 "  \"openai:fake-ok\":\n"
                 "    input_price_per_million: 1.0\n"
                 "    output_price_per_million: 2.0\n");
    if (t_api_started && t_sql_exec(t_api.db, u_seed_sql) < 0)
        fprintf(stderr, "e2e_usage: seeding the usage rows failed\n");
}

static const char *u_str(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* GET path with the master key: 200, the body (owned) and X-Total-Count (-1 when absent). */
static json_t *u_get(const char *path, long *total)
{
    struct t_resp r;
    char buf[32];
    json_t *j;

    ck_assert_int_eq(t_http(t_api.port, "GET", path, T_AUTH, NULL, &r), 0);
    ck_assert_msg(r.status == 200, "GET %s: status %d, body %s", path, r.status, r.body);
    *total = t_header(&r, "X-Total-Count", buf, sizeof(buf)) != NULL ? strtol(buf, NULL, 10) : -1;
    j = t_json(&r);
    t_resp_free(&r);
    return j;
}

/* GET /v1/usage?query must list exactly the rows ids ("u08,u07", "" for none), with total. */
static void u_expect(const char *query, const char *ids, long total)
{
    char path[512], got[512] = "";
    size_t used = 0;
    long count;
    json_t *j;

    snprintf(path, sizeof(path), "/v1/usage?%s", query);
    j = u_get(path, &count);
    ck_assert(json_is_array(j));
    for (size_t i = 0; i < json_array_size(j); i++)
        used += (size_t)snprintf(got + used, sizeof(got) - used, "%s%s", i ? "," : "",
                                 u_str(json_array_get(j, i), "id"));
    ck_assert_msg(strcmp(got, ids) == 0, "%s: got [%s], want [%s]", path, got, ids);
    ck_assert_msg(count == total, "%s: X-Total-Count %ld, want %ld", path, count, total);
    json_decref(j);
}

/* The window forms of one query (2025-03-02 .. 2025-03-03, half-open) that must list ids. */
static void u_expect_all(const char *const *queries, size_t n, const char *ids, long total)
{
    for (size_t i = 0; i < n; i++)
        u_expect(queries[i], ids, total);
}

/* GET /v1/usage/summary?query (owned body). */
static json_t *u_summary(const char *query)
{
    char path[512];
    long total;
    json_t *j;

    snprintf(path, sizeof(path), "/v1/usage/summary?%s", query);
    j = u_get(path, &total);
    ck_assert(json_is_object(j));
    return j;
}

static long u_num(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);

    ck_assert_msg(json_is_integer(v), "%s is not an integer", k);
    return (long)json_integer_value(v);
}

static double u_dbl(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);

    ck_assert_msg(json_is_real(v), "%s is not a real", k);
    return json_real_value(v);
}

/* One group (or totals when key is NULL and is_totals): the six sums, exact. */
struct u_sums {
    const char *key; /* NULL: JSON null */
    long requests, errors, pt, ct, tt;
    double cost;
};

static void u_check_sums(json_t *o, const struct u_sums *w, const char *what)
{
    ck_assert_msg(u_num(o, "requests") == w->requests, "%s requests %ld", what,
                  u_num(o, "requests"));
    ck_assert_msg(u_num(o, "errors") == w->errors, "%s errors %ld", what, u_num(o, "errors"));
    ck_assert_msg(u_num(o, "prompt_tokens") == w->pt, "%s prompt %ld", what,
                  u_num(o, "prompt_tokens"));
    ck_assert_msg(u_num(o, "completion_tokens") == w->ct, "%s completion", what);
    ck_assert_msg(u_num(o, "total_tokens") == w->tt, "%s total", what);
    ck_assert_msg(u_dbl(o, "cost") == w->cost, "%s cost %.17g, want %.17g", what, u_dbl(o, "cost"),
                  w->cost);
}

/* summary?query must have exactly groups g[0..n) in order, and their sums as totals. */
static void u_expect_groups(const char *query, const char *group_by, const struct u_sums *g,
                            size_t n)
{
    struct u_sums tot = {0};
    json_t *j = u_summary(query), *groups = json_object_get(j, "groups");
    char what[600];

    ck_assert_str_eq(u_str(j, "group_by"), group_by);
    ck_assert_msg(json_array_size(groups) == n, "%s: %zu groups, want %zu", query,
                  json_array_size(groups), n);
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_array_get(groups, i), *key = json_object_get(o, "key");

        snprintf(what, sizeof(what), "%s group %zu", query, i);
        ck_assert_int_eq(json_object_size(o), 7);
        if (g[i].key == NULL)
            ck_assert_msg(json_is_null(key), "%s: key not null", what);
        else
            ck_assert_msg(json_is_string(key) && strcmp(json_string_value(key), g[i].key) == 0,
                          "%s: key %s, want %s", what, json_string_value(key), g[i].key);
        u_check_sums(o, &g[i], what);
        tot.requests += g[i].requests;
        tot.errors += g[i].errors;
        tot.pt += g[i].pt;
        tot.ct += g[i].ct;
        tot.tt += g[i].tt;
        tot.cost += g[i].cost;
    }
    snprintf(what, sizeof(what), "%s totals", query);
    u_check_sums(json_object_get(j, "totals"), &tot, what);
    json_decref(j);
}

/* ---- GET /v1/usage ---- */

START_TEST(list_filters)
{
    json_t *j, *row;
    long total;

    t_api_need();
    u_expect(U_W, "u08,u07,u06,u05,u04,u03,u02,u01", 8);
    u_expect(U_W "&user_id=ua", "u05,u02,u01", 3);
    u_expect(U_W "&user_id=ub", "u08,u07,u04,u03", 4);
    u_expect(U_W "&api_key_id=ka", "u06,u02,u01", 3);
    u_expect(U_W "&api_key_id=kb", "u08,u07,u04,u03", 4);
    u_expect(U_W "&model=m-beta", "u08,u07,u04,u03", 4);
    u_expect(U_W "&model=m-gamma", "u06", 1);
    u_expect(U_W "&provider=pa", "u06,u02,u01", 3);
    u_expect(U_W "&status=error", "u02", 1);
    u_expect(U_W "&status=cancelled", "u04", 1);
    u_expect(U_W "&status=success", "u08,u07,u06,u05,u03,u01", 6);
    /* Combinations: each driving filter with the others applied on top. */
    u_expect(U_W "&user_id=ub&model=m-beta&status=success", "u08,u07,u03", 3);
    u_expect(U_W "&api_key_id=ka&user_id=ua", "u02,u01", 2);
    u_expect(U_W "&api_key_id=ka&model=m-gamma&provider=pa", "u06", 1);
    u_expect(U_W "&api_key_id=kb&user_id=ua", "", 0);
    u_expect(U_W "&model=m-alpha&provider=pa&status=success", "u01", 1);
    u_expect(U_W "&provider=pb&status=cancelled", "u04", 1);
    u_expect(U_W "&user_id=nobody", "", 0);
    u_expect(U_W "&model=", "", 0);
    /* Without a window: the seeded user's rows all the same. */
    u_expect("user_id=ub", "u08,u07,u04,u03", 4);
    u_expect("api_key_id=ka&status=error", "u02", 1);

    /* The row shape of GET /v1/users/{id}/usage. */
    j = u_get("/v1/usage?" U_W "&status=error", &total);
    row = json_array_get(j, 0);
    ck_assert_int_eq(json_object_size(row), 13);
    ck_assert_str_eq(u_str(row, "user_id"), "ua");
    ck_assert_str_eq(u_str(row, "api_key_id"), "ka");
    ck_assert_str_eq(u_str(row, "timestamp"), "2025-03-01T10:30:00.250000+00:00");
    ck_assert_str_eq(u_str(row, "model"), "m-alpha");
    ck_assert_str_eq(u_str(row, "provider"), "pa");
    ck_assert_str_eq(u_str(row, "endpoint"), "/v1/chat/completions");
    ck_assert(json_is_null(json_object_get(row, "prompt_tokens")));
    ck_assert(json_is_null(json_object_get(row, "cost")));
    ck_assert_str_eq(u_str(row, "status"), "error");
    ck_assert_str_eq(u_str(row, "error_message"), "boom");
    json_decref(j);
    j = u_get("/v1/usage?" U_W "&model=m-gamma", &total);
    row = json_array_get(j, 0);
    ck_assert(json_is_null(json_object_get(row, "user_id")));
    ck_assert_int_eq(u_num(row, "total_tokens"), 10);
    ck_assert(u_dbl(row, "cost") == 1.0);
    json_decref(j);

    /* The database agrees with the unfiltered count. */
    j = u_get("/v1/usage?limit=1", &total);
    ck_assert_int_eq(total, t_sql_long("SELECT count(*) FROM usage_logs"));
    json_decref(j);
}
END_TEST

START_TEST(list_pagination)
{
    t_api_need();
    u_expect(U_W "&limit=3", "u08,u07,u06", 8);
    u_expect(U_W "&limit=3&skip=3", "u05,u04,u03", 8);
    u_expect(U_W "&limit=3&skip=6", "u02,u01", 8);
    u_expect(U_W "&skip=8", "", 8);
    u_expect(U_W "&skip=1000000", "", 8);
    u_expect(U_W "&skip=9223372036854775807&limit=1000", "", 8);
    u_expect("skip=9223372036854775807", "", t_sql_long("SELECT count(*) FROM usage_logs"));
    u_expect(U_W "&limit=1&skip=1", "u07", 8); /* the tie on timestamp: id descending */
    u_expect(U_W "&limit=1000", "u08,u07,u06,u05,u04,u03,u02,u01", 8);
    u_expect(U_W "&user_id=ub&limit=2&skip=1", "u07,u04", 4);
    u_expect(U_W "&status=success&skip=5", "u01", 6);
}
END_TEST

/* [start, end) in every form, at whole seconds and at fractions (stored with and without). */
START_TEST(window_bounds)
{
    static const char *const day2[] = {
        "start_date=2025-03-02T00:00:00Z&end_date=2025-03-03T00:00:00Z",
        "start_date=2025-03-02&end_date=2025-03-03",
        "start_date=2025-03-02T00:00:00%2B00:00&end_date=2025-03-03T00:00:00.000000%2B00:00",
        "start_date=2025-03-02T01:00:00%2B01:00&end_date=2025-03-02T19:00:00-05:00",
        "start_date=2025-03-02T01:00:00+01:00&end_date=2025-03-02T19:00-05:00", /* '+' unencoded */
        "start_date=1740873600&end_date=1740960000",
        "start_date=1740873600.0&end_date=2025-03-03",
        "start_date=2025-03-01T23:00:00-01:00&end_date=1740960000",
    };
    json_t *j;

    t_api_need();
    u_expect_all(day2, sizeof(day2) / sizeof(day2[0]), "u05,u04", 2);
    /* A bound equal to a row's fraction: included as start, excluded as end. */
    u_expect("start_date=2025-03-02&end_date=2025-03-02T23:59:59.999999Z", "u04", 1);
    u_expect("start_date=2025-03-02T23:59:59.999999Z&end_date=2025-03-03", "u05", 1);
    u_expect("start_date=2025-03-01T10:30:00.25Z&end_date=2025-03-01T11:00:00Z", "u02", 1);
    u_expect("start_date=1740825000.25&end_date=2025-03-01T11:00:00Z", "u02", 1);
    u_expect("start_date=2025-03-01T10:30:00.250001Z&end_date=2025-03-01T11:00:00.000001Z", "u03",
             1);
    /* A row without a fraction against bounds with one. */
    u_expect("start_date=2025-03-01T10:00:00.000001Z&end_date=2025-03-01T10:30:00.25Z", "", 0);
    u_expect("start_date=2025-03-01T10:00:00Z&end_date=2025-03-01T10:00:00.000001Z", "u01", 1);
    u_expect("start_date=2025-03-01T09:59:59.999999Z&end_date=2025-03-01T10:00:00Z", "", 0);
    /* One bound only. */
    u_expect("start_date=2025-03-04T12:00:00Z&user_id=ub", "u08,u07", 2);
    u_expect("end_date=2025-03-01T10:30:00.25Z", "u01", 1);
    u_expect("end_date=2025-03-01T10:30:00.250001Z", "u02,u01", 2);

    /* The summary echoes the bounds in the stored form, null when open. */
    j = u_summary("start_date=2025-03-02T01:00:00%2B01:00&end_date=1740960000.5");
    ck_assert_str_eq(u_str(j, "start_date"), "2025-03-02T00:00:00+00:00");
    ck_assert_str_eq(u_str(j, "end_date"), "2025-03-03T00:00:00.500000+00:00");
    ck_assert_int_eq(u_num(json_object_get(j, "totals"), "requests"), 3); /* u04, u05, u06 */
    json_decref(j);
    j = u_summary("user_id=ua");
    ck_assert(json_is_null(json_object_get(j, "start_date")));
    ck_assert(json_is_null(json_object_get(j, "end_date")));
    json_decref(j);
}
END_TEST

/* ---- GET /v1/usage/summary ---- */

START_TEST(summary_groups)
{
    static const struct u_sums days[] = {
        {"2025-03-01", 3, 1, 110, 70, 180, 2.5},
        {"2025-03-02", 2, 1, 6, 2, 8, 0.375},
        {"2025-03-03", 1, 0, 7, 3, 10, 1.0},
        {"2025-03-04", 2, 0, 2, 2, 4, 0.125},
    };
    static const struct u_sums hours[] = {
        {"2025-03-01T10:00:00+00:00", 2, 1, 10, 20, 30, 0.5},
        {"2025-03-01T11:00:00+00:00", 1, 0, 100, 50, 150, 2.0},
        {"2025-03-02T00:00:00+00:00", 1, 1, 5, 1, 6, 0.25},
        {"2025-03-02T23:00:00+00:00", 1, 0, 1, 1, 2, 0.125},
        {"2025-03-03T00:00:00+00:00", 1, 0, 7, 3, 10, 1.0},
        {"2025-03-04T12:00:00+00:00", 2, 0, 2, 2, 4, 0.125},
    };
    static const struct u_sums users[] = {
        {"ub", 4, 1, 107, 53, 160, 2.375},
        {NULL, 1, 0, 7, 3, 10, 1.0},
        {"ua", 3, 1, 11, 21, 32, 0.625},
    };
    static const struct u_sums keys[] = {
        {"kb", 4, 1, 107, 53, 160, 2.375},
        {"ka", 3, 1, 17, 23, 40, 1.5},
        {NULL, 1, 0, 1, 1, 2, 0.125},
    };
    static const struct u_sums models[] = {
        {"m-beta", 4, 1, 107, 53, 160, 2.375},
        {"m-gamma", 1, 0, 7, 3, 10, 1.0},
        {"m-alpha", 3, 1, 11, 21, 32, 0.625},
    };
    static const struct u_sums providers[] = {
        {"pb", 4, 1, 107, 53, 160, 2.375},
        {"pa", 3, 1, 17, 23, 40, 1.5},
        {NULL, 1, 0, 1, 1, 2, 0.125},
    };
    static const struct u_sums alpha_day1[] = {{"pa", 2, 1, 10, 20, 30, 0.5}};
    static const struct u_sums errors_only[] = {{"2025-03-01", 1, 1, 0, 0, 0, 0.0}};
    static const struct u_sums ua_models[] = {{"m-alpha", 3, 1, 11, 21, 32, 0.625}};
    static const struct u_sums kb_days[] = {
        {"2025-03-01", 1, 0, 100, 50, 150, 2.0},
        {"2025-03-02", 1, 1, 5, 1, 6, 0.25},
        {"2025-03-04", 2, 0, 2, 2, 4, 0.125},
    };

    t_api_need();
    u_expect_groups(U_W, "day", days, 4);
    u_expect_groups(U_W "&group_by=day", "day", days, 4);
    u_expect_groups(U_W "&group_by=hour", "hour", hours, 6);
    u_expect_groups(U_W "&group_by=user", "user", users, 3);
    u_expect_groups(U_W "&group_by=key", "key", keys, 3);
    u_expect_groups(U_W "&group_by=model", "model", models, 3);
    u_expect_groups(U_W "&group_by=provider", "provider", providers, 3);
    /* Filters apply to the sums. */
    u_expect_groups(U_W "&status=error", "day", errors_only, 1);
    u_expect_groups(U_W "&user_id=ua&group_by=model", "model", ua_models, 1);
    u_expect_groups(U_W "&api_key_id=kb", "day", kb_days, 3);
    u_expect_groups("end_date=2025-03-02T00:00:00.000001Z&model=m-alpha&group_by=provider&"
                    "start_date=2025-03-01T10:00:00Z",
                    "provider", alpha_day1, 1);
    u_expect_groups(U_W "&user_id=nobody&group_by=model", "model", NULL, 0);
    /* Against the database: the seeded window's sums. */
    ck_assert_int_eq(t_sql_long("SELECT sum(total_tokens) FROM usage_logs WHERE id LIKE 'u0%'"),
                     202);
}
END_TEST

/* Two providers at equal cost: requests decide, then the key (null last). */
START_TEST(summary_ties)
{
    static const struct u_sums ties[] = {
        {"pa", 2, 1, 10, 20, 30, 0.5},
        {"pb", 1, 1, 5, 1, 6, 0.5},
        {"pc", 1, 0, 1, 1, 2, 0.5},
        {NULL, 1, 0, 1, 1, 2, 0.5},
    };

    t_api_need();
    ck_assert_int_eq(
        t_sql_exec(t_api.db,
                   "INSERT INTO usage_logs (id, api_key_id, user_id, timestamp, model, provider, "
                   "endpoint, prompt_tokens, completion_tokens, total_tokens, cost, status, "
                   "error_message) VALUES "
                   "('t1', NULL, NULL, '2024-06-01T00:00:00+00:00', 'mt', 'pa', '/x', 10, 20, "
                   "30, 0.5, 'success', NULL),"
                   "('t2', NULL, NULL, '2024-06-01T00:00:01+00:00', 'mt', 'pa', '/x', NULL, NULL, "
                   "NULL, NULL, 'error', 'e'),"
                   "('t3', NULL, NULL, '2024-06-01T00:00:02+00:00', 'mt', 'pb', '/x', 5, 1, 6, "
                   "0.5, 'cancelled', NULL),"
                   "('t4', NULL, NULL, '2024-06-01T00:00:03+00:00', 'mt', NULL, '/x', 1, 1, 2, "
                   "0.5, 'success', NULL),"
                   "('t5', NULL, NULL, '2024-06-01T00:00:04+00:00', 'mt', 'pc', '/x', 1, 1, 2, "
                   "0.5, 'success', NULL)"),
        0);
    u_expect_groups("model=mt&group_by=provider", "provider", ties, 4);
    u_expect("model=mt&start_date=2024-06-01T00:00:01Z&end_date=2024-06-01T00:00:04Z", "t4,t3,t2",
             3);
}
END_TEST

/* Rows the gateway itself wrote for real chat requests through the fake provider. */
START_TEST(live_rows)
{
    static const char body_ok[] = "{\"model\": \"openai:fake-ok\", \"messages\": [{\"role\": "
                                  "\"user\", \"content\": \"Hi\"}]}";
    static const char body_err[] = "{\"model\": \"openai:fake-status-400\", \"messages\": "
                                   "[{\"role\": \"user\", \"content\": \"Hi\"}]}";
    char hdr[256], id[64], q[256], day[16], hour[40];
    json_t *j, *g, *rows;
    char *key;
    long total;

    t_api_need();
    t_llm_need();
    json_decref(t_call("POST", "/v1/users", T_AUTH_JSON, "{\"user_id\": \"u-live\"}", 200));
    key = t_llm_key("u-live", id, sizeof(id));
    snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s\r\nContent-Type: application/json\r\n",
             key);
    for (int i = 0; i < 3; i++)
        json_decref(t_call("POST", "/v1/chat/completions", hdr, body_ok, 200));
    json_decref(t_call("POST", "/v1/chat/completions", hdr, body_err, 400));
    t_wait_sql("4", "SELECT count(*) FROM usage_logs WHERE user_id = 'u-live'");

    /* The listing: the four rows, newest first, filtered by user, key and status. */
    j = u_get("/v1/usage?user_id=u-live", &total);
    ck_assert_int_eq(total, 4);
    ck_assert_int_eq(json_array_size(j), 4);
    for (size_t i = 0; i < 4; i++) {
        json_t *row = json_array_get(j, i);

        ck_assert_str_eq(u_str(row, "api_key_id"), id);
        ck_assert_str_eq(u_str(row, "provider"), "openai");
        ck_assert_str_eq(u_str(row, "endpoint"), "/v1/chat/completions");
        if (i > 0)
            ck_assert(
                strcmp(u_str(json_array_get(j, i - 1), "timestamp"), u_str(row, "timestamp")) >= 0);
    }
    json_decref(j);
    snprintf(q, sizeof(q), "/v1/usage?api_key_id=%s&status=error", id);
    j = u_get(q, &total);
    ck_assert_int_eq(total, 1);
    ck_assert_str_eq(u_str(json_array_get(j, 0), "model"), "fake-status-400");
    ck_assert_ptr_nonnull(u_str(json_array_get(j, 0), "error_message"));
    json_decref(j);
    snprintf(q, sizeof(q), "/v1/usage?api_key_id=%s&status=success&model=fake-ok&limit=2", id);
    j = u_get(q, &total);
    ck_assert_int_eq(total, 3);
    ck_assert_int_eq(json_array_size(j), 2);
    ck_assert_int_eq(u_num(json_array_get(j, 0), "total_tokens"), 15);
    json_decref(j);

    /* Sums by model: fake-ok 3 x (10 + 5 tokens, $2e-5), the refused request an error. */
    j = u_summary("user_id=u-live&group_by=model");
    rows = json_object_get(j, "groups");
    ck_assert_int_eq(json_array_size(rows), 2);
    g = json_array_get(rows, 0);
    ck_assert_str_eq(u_str(g, "key"), "fake-ok");
    ck_assert_int_eq(u_num(g, "requests"), 3);
    ck_assert_int_eq(u_num(g, "errors"), 0);
    ck_assert_int_eq(u_num(g, "prompt_tokens"), 30);
    ck_assert_int_eq(u_num(g, "completion_tokens"), 15);
    ck_assert_int_eq(u_num(g, "total_tokens"), 45);
    ck_assert_double_eq_tol(u_dbl(g, "cost"), 6e-5, 1e-12);
    g = json_array_get(rows, 1);
    ck_assert_str_eq(u_str(g, "key"), "fake-status-400");
    ck_assert_int_eq(u_num(g, "requests"), 1);
    ck_assert_int_eq(u_num(g, "errors"), 1);
    g = json_object_get(j, "totals");
    ck_assert_int_eq(u_num(g, "requests"), 4);
    ck_assert_int_eq(u_num(g, "errors"), 1);
    ck_assert_int_eq(u_num(g, "total_tokens"),
                     t_sql_long("SELECT coalesce(sum(total_tokens), 0) FROM usage_logs WHERE "
                                "user_id = 'u-live'"));
    json_decref(j);

    /* By provider, key and user: one group each, all four rows. */
    snprintf(q, sizeof(q), "api_key_id=%s&group_by=provider", id);
    j = u_summary(q);
    g = json_array_get(json_object_get(j, "groups"), 0);
    ck_assert_int_eq(json_array_size(json_object_get(j, "groups")), 1);
    ck_assert_str_eq(u_str(g, "key"), "openai");
    ck_assert_int_eq(u_num(g, "requests"), 4);
    json_decref(j);
    j = u_summary("user_id=u-live&group_by=key");
    g = json_array_get(json_object_get(j, "groups"), 0);
    ck_assert_int_eq(json_array_size(json_object_get(j, "groups")), 1);
    ck_assert_str_eq(u_str(g, "key"), id);
    json_decref(j);
    snprintf(q, sizeof(q), "api_key_id=%s&group_by=user", id);
    j = u_summary(q);
    g = json_array_get(json_object_get(j, "groups"), 0);
    ck_assert_int_eq(json_array_size(json_object_get(j, "groups")), 1);
    ck_assert_str_eq(u_str(g, "key"), "u-live");
    ck_assert_int_eq(u_num(g, "errors"), 1);
    json_decref(j);

    /* By day and hour: the UTC buckets of the rows' own timestamps. */
    j = u_get("/v1/usage?user_id=u-live&limit=1", &total);
    snprintf(day, sizeof(day), "%.10s", u_str(json_array_get(j, 0), "timestamp"));
    snprintf(hour, sizeof(hour), "%.13s:00:00+00:00", u_str(json_array_get(j, 0), "timestamp"));
    json_decref(j);
    j = u_summary("user_id=u-live&group_by=day");
    rows = json_object_get(j, "groups");
    g = json_array_get(rows, json_array_size(rows) - 1); /* the newest bucket is last */
    ck_assert_str_eq(u_str(g, "key"), day);
    ck_assert_int_eq(u_num(json_object_get(j, "totals"), "requests"), 4);
    json_decref(j);
    j = u_summary("user_id=u-live&group_by=hour");
    rows = json_object_get(j, "groups");
    g = json_array_get(rows, json_array_size(rows) - 1);
    ck_assert_str_eq(u_str(g, "key"), hour);
    ck_assert_int_eq(u_num(json_object_get(j, "totals"), "requests"), 4);
    json_decref(j);
    free(key);
}
END_TEST

/* ---- errors and auth ---- */

START_TEST(errors_422)
{
    static const char *const bad_dates[] = {
        "yesterday",
        "2025-02-30",
        "2025-03-01T25:00:00",
        "2025-3-1",
        "-5",
        "1.",
        "1e9",
        "99999999999999",
        "2025-03-01T10:00Q",
        "2025-03-01T10:00:00x",
        "2025-03-01T10:00:00.",
        "",
    };
    static const char *const paths[] = {"/v1/usage", "/v1/usage/summary"};
    char path[256];

    t_api_need();
    for (size_t p = 0; p < 2; p++) {
        for (size_t i = 0; i < sizeof(bad_dates) / sizeof(bad_dates[0]); i++) {
            snprintf(path, sizeof(path), "%s?start_date=%s", paths[p], bad_dates[i]);
            t_expect_422_query(path, "datetime_from_date_parsing", "start_date");
            snprintf(path, sizeof(path), "%s?end_date=%s", paths[p], bad_dates[i]);
            t_expect_422_query(path, "datetime_from_date_parsing", "end_date");
        }
        snprintf(path, sizeof(path), "%s?start_date=253402300800", paths[p]); /* year 10000 */
        t_expect_422_query(path, "datetime_from_date_parsing", "start_date");
        snprintf(path, sizeof(path), "%s?start_date=2025-03-02&end_date=2025-03-01", paths[p]);
        t_expect_422_query(path, "value_error", "end_date");
        snprintf(path, sizeof(path), "%s?start_date=2025-03-02&end_date=1740873600", paths[p]);
        t_expect_422_query(path, "value_error", "end_date"); /* equal: an empty window */
        snprintf(path, sizeof(path), "%s?status=SUCCESS", paths[p]);
        t_expect_422_query(path, "enum", "status");
        snprintf(path, sizeof(path), "%s?status=", paths[p]);
        t_expect_422_query(path, "enum", "status");
        snprintf(path, sizeof(path), "%s?status=ok&user_id=ua", paths[p]);
        t_expect_422_query(path, "enum", "status");
    }
    t_expect_422_query("/v1/usage?skip=-1", "greater_than_equal", "skip");
    t_expect_422_query("/v1/usage?skip=x", "int_parsing", "skip");
    t_expect_422_query("/v1/usage?limit=0", "greater_than_equal", "limit");
    t_expect_422_query("/v1/usage?limit=1001", "less_than_equal", "limit");
    t_expect_422_query("/v1/usage?limit=ten", "int_parsing", "limit");
    t_expect_422_query("/v1/usage/summary?group_by=week", "enum", "group_by");
    t_expect_422_query("/v1/usage/summary?group_by=DAY", "enum", "group_by");
    t_expect_422_query("/v1/usage/summary?group_by=", "enum", "group_by");
    t_expect_422_query("/v1/usage/summary?group_by=user_id", "enum", "group_by");
}
END_TEST

START_TEST(auth)
{
    static const char *const paths[] = {"/v1/usage", "/v1/usage/summary?group_by=model",
                                        "/v1/usage?limit=0", "/v1/usage/summary?group_by=x"};
    char hdr[160];
    char *key;

    t_api_need();
    key = t_llm_user_key("u-auth");
    snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s\r\n", key);
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        t_expect_error("GET", paths[i], NULL, NULL, 401,
                       "Missing X-AnyLLM-Key or Authorization header");
        t_expect_error("GET", paths[i], "Authorization: Bearer wrong\r\n", NULL, 401,
                       "Invalid master key");
        t_expect_error("GET", paths[i], hdr, NULL, 401, "Invalid master key");
    }
    json_decref(t_call("GET", "/v1/usage", "X-AnyLLM-Key: Bearer " T_MASTER_KEY "\r\n", NULL, 200));
    t_expect_error("POST", "/v1/usage", T_AUTH, NULL, 405, "Method Not Allowed");
    free(key);
}
END_TEST

Suite *e2e_usage_suite(void)
{
    Suite *s = suite_create("e2e_usage");
    TCase *tc = tcase_create("usage");

    tcase_add_unchecked_fixture(tc, u_up, t_llm_down);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, list_filters);
    tcase_add_test(tc, list_pagination);
    tcase_add_test(tc, window_bounds);
    tcase_add_test(tc, summary_groups);
    tcase_add_test(tc, summary_ties);
    tcase_add_test(tc, live_rows);
    tcase_add_test(tc, errors_422);
    tcase_add_test(tc, auth);
    t_api_add_shutdown_test(tc);
    suite_add_tcase(s, tc);
    return s;
}
