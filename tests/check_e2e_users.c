/*
 * End-to-end tests of the user endpoints (spec §1.8) against the real binary: the UserResponse
 * shape and the stored rows, 409 on duplicates, restore of soft-deleted users, budget checks
 * and period re-anchoring, partial updates, soft delete (keys deactivated in the database and
 * refused at the next request), the usage listing, every 422 case, pagination bounds and the
 * master-key rules.
 */
#include <check.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "t_api.h"

/* A request with the master key that must give 422 with one item of type on body.field. */
static void expect_422(const char *method, const char *path, const char *body, const char *type,
                       const char *field)
{
    json_t *j = t_call(method, path, T_AUTH_JSON, body, 422);

    ck_assert_int_eq(json_array_size(json_object_get(j, "detail")), 1);
    t_expect_422_item(j, 0, type, "body", field, NULL);
    json_decref(j);
}

/* Microseconds since the epoch of a "YYYY-MM-DDTHH:MM:SS[.ffffff]+00:00" timestamp. */
static long long ts_us(const char *s)
{
    struct tm tm = {0};
    long long us = 0;
    const char *p;
    int n = 0;

    ck_assert_ptr_nonnull(s);
    ck_assert_msg(t_ends_with(s, "+00:00"), "timestamp %s", s);
    ck_assert_int_eq(sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                            &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n),
                     6);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    p = s + n;
    if (*p == '.') {
        int digits = 0;
        for (p++; *p >= '0' && *p <= '9'; p++, digits++)
            us = us * 10 + (*p - '0');
        ck_assert_int_eq(digits, 6); /* isoformat(): all six digits, or none */
        ck_assert(us != 0);
    }
    ck_assert_str_eq(p, "+00:00");
    return (long long)timegm(&tm) * 1000000 + us;
}

/* UserResponse: exactly its 10 fields (no deleted_at). Returns the user id (borrowed). */
static const char *check_user(json_t *j)
{
    static const char *const fields[] = {"user_id",
                                         "alias",
                                         "spend",
                                         "budget_id",
                                         "budget_started_at",
                                         "next_budget_reset_at",
                                         "blocked",
                                         "created_at",
                                         "updated_at",
                                         "metadata"};

    ck_assert_int_eq(json_object_size(j), 10);
    for (size_t i = 0; i < 10; i++)
        ck_assert_msg(json_object_get(j, fields[i]) != NULL, "no %s", fields[i]);
    ck_assert(json_is_string(json_object_get(j, "user_id")));
    ck_assert(json_is_real(json_object_get(j, "spend")));
    ck_assert(json_is_boolean(json_object_get(j, "blocked")));
    ck_assert(json_is_object(json_object_get(j, "metadata")));
    ts_us(json_string_value(json_object_get(j, "created_at")));
    ts_us(json_string_value(json_object_get(j, "updated_at")));
    if (!json_is_null(json_object_get(j, "budget_started_at")))
        ts_us(json_string_value(json_object_get(j, "budget_started_at")));
    if (!json_is_null(json_object_get(j, "next_budget_reset_at")))
        ts_us(json_string_value(json_object_get(j, "next_budget_reset_at")));
    return json_string_value(json_object_get(j, "user_id"));
}

static json_t *create_user(const char *body)
{
    json_t *j = t_call("POST", "/v1/users", T_AUTH_JSON, body, 200);
    check_user(j);
    return j;
}

/* Creates a budget and returns its id (owned). */
static char *create_budget(const char *body)
{
    json_t *j = t_call("POST", "/v1/budgets", T_AUTH_JSON, body, 200);
    char *id = strdup(json_string_value(json_object_get(j, "budget_id")));

    json_decref(j);
    return id;
}

static const char *str(json_t *j, const char *field)
{
    return json_string_value(json_object_get(j, field));
}

/* The first column of the first row of the query (printf-style) must equal want. */

static void exec_sql(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void exec_sql(const char *fmt, ...)
{
    char q[2048];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(q, sizeof(q), fmt, ap);
    va_end(ap);
    ck_assert_msg(t_sql_exec(t_api.db, q) == 0, "failed: %s", q);
}

START_TEST(create_user_basic)
{
    json_t *j;

    t_api_need();
    j = create_user("{\"user_id\": \"u-basic\"}");
    ck_assert_str_eq(check_user(j), "u-basic");
    ck_assert(json_is_null(json_object_get(j, "alias")));
    ck_assert_double_eq(json_real_value(json_object_get(j, "spend")), 0.0);
    ck_assert(json_is_null(json_object_get(j, "budget_id")));
    ck_assert(json_is_null(json_object_get(j, "budget_started_at")));
    ck_assert(json_is_null(json_object_get(j, "next_budget_reset_at")));
    ck_assert(json_is_false(json_object_get(j, "blocked")));
    ck_assert_int_eq(json_object_size(json_object_get(j, "metadata")), 0);
    ck_assert_str_eq(str(j, "created_at"), str(j, "updated_at"));
    t_assert_sql("0.0|0|{}|1", "SELECT spend || '|' || blocked || '|' || metadata || '|' || "
                               "(alias IS NULL AND deleted_at IS NULL AND budget_id IS NULL) "
                               "FROM users WHERE user_id = 'u-basic'");
    t_assert_sql(str(j, "created_at"), "SELECT created_at FROM users WHERE user_id = 'u-basic'");
    json_decref(j);

    j = create_user("{\"user_id\": \"u-full\", \"alias\": \"Full\", \"blocked\": true, "
                    "\"metadata\": {\"team\": \"x\", \"n\": 1}, \"budget_id\": null}");
    ck_assert_str_eq(str(j, "alias"), "Full");
    ck_assert(json_is_true(json_object_get(j, "blocked")));
    ck_assert_str_eq(str(json_object_get(j, "metadata"), "team"), "x");
    t_assert_sql("Full|1|{\"team\":\"x\",\"n\":1}",
                 "SELECT alias || '|' || blocked || '|' || metadata FROM users "
                 "WHERE user_id = 'u-full'");
    json_decref(j);

    /* An active user with the same id: 409, nothing changed. */
    t_expect_error("POST", "/v1/users", T_AUTH_JSON,
                   "{\"user_id\": \"u-full\", \"alias\": \"Other\"}", 409,
                   "User with id 'u-full' already exists");
    t_assert_sql("Full", "SELECT alias FROM users WHERE user_id = 'u-full'");
    /* 409 comes before the budget check. */
    t_expect_error("POST", "/v1/users", T_AUTH_JSON,
                   "{\"user_id\": \"u-full\", \"budget_id\": \"no-such-budget\"}", 409,
                   "User with id 'u-full' already exists");
}
END_TEST

START_TEST(create_user_with_budget)
{
    char *b1, *b2, body[256], msg[128];
    long long started, next;
    json_t *j;

    t_api_need();
    b1 = create_budget("{\"max_budget\": 10, \"budget_duration_sec\": 3600}");
    b2 = create_budget("{\"max_budget\": 5}");

    snprintf(body, sizeof(body), "{\"user_id\": \"u-b1\", \"budget_id\": \"%s\"}", b1);
    j = create_user(body);
    ck_assert_str_eq(str(j, "budget_id"), b1);
    started = ts_us(str(j, "budget_started_at"));
    next = ts_us(str(j, "next_budget_reset_at"));
    ck_assert_int_eq(next - started, 3600LL * 1000000);
    ck_assert_str_eq(str(j, "budget_started_at"), str(j, "created_at"));
    t_assert_sql(str(j, "next_budget_reset_at"),
                 "SELECT next_budget_reset_at FROM users WHERE user_id = 'u-b1'");
    json_decref(j);

    /* A budget without a duration: anchored, never resets. */
    snprintf(body, sizeof(body), "{\"user_id\": \"u-b2\", \"budget_id\": \"%s\"}", b2);
    j = create_user(body);
    ts_us(str(j, "budget_started_at"));
    ck_assert(json_is_null(json_object_get(j, "next_budget_reset_at")));
    json_decref(j);

    /* An unknown budget: 404 and nothing persisted. */
    t_expect_error("POST", "/v1/users", T_AUTH_JSON,
                   "{\"user_id\": \"u-b3\", \"budget_id\": \"no-such-budget\"}", 404,
                   "Budget with id 'no-such-budget' not found");
    t_assert_sql("0", "SELECT count(*) FROM users WHERE user_id = 'u-b3'");
    snprintf(msg, sizeof(msg), "User with id '%s' not found", "u-b3");
    t_expect_error("GET", "/v1/users/u-b3", T_AUTH, NULL, 404, msg);
    free(b1);
    free(b2);
}
END_TEST

START_TEST(create_user_422)
{
    long before;
    json_t *j;

    t_api_need();
    before = t_sql_long("SELECT count(*) FROM users");

    j = t_call("POST", "/v1/users", T_AUTH_JSON, "{}", 422);
    ck_assert_int_eq(json_array_size(json_object_get(j, "detail")), 1);
    t_expect_422_item(j, 0, "missing", "body", "user_id", "Field required");
    json_decref(j);
    j = t_call("POST", "/v1/users", T_AUTH_JSON, "{\"alias\": \"x\"}", 422);
    t_expect_422_item(j, 0, "missing", "body", "user_id", "Field required");
    json_decref(j);
    expect_422("POST", "/v1/users", "{\"user_id\": null}", "string_type", "user_id");
    expect_422("POST", "/v1/users", "{\"user_id\": 5}", "string_type", "user_id");
    expect_422("POST", "/v1/users", "{\"user_id\": \"a\", \"alias\": 3}", "string_type", "alias");
    expect_422("POST", "/v1/users", "{\"user_id\": \"a\", \"budget_id\": {}}", "string_type",
               "budget_id");
    expect_422("POST", "/v1/users", "{\"user_id\": \"a\", \"blocked\": \"maybe\"}", "bool_parsing",
               "blocked");
    expect_422("POST", "/v1/users", "{\"user_id\": \"a\", \"blocked\": null}", "bool_type",
               "blocked");
    expect_422("POST", "/v1/users", "{\"user_id\": \"a\", \"metadata\": []}", "dict_type",
               "metadata");
    expect_422("POST", "/v1/users", "{\"user_id\": \"a\", \"metadata\": null}", "dict_type",
               "metadata");

    /* Every problem, in field order. */
    j = t_call("POST", "/v1/users", T_AUTH_JSON, "{\"metadata\": 1, \"blocked\": [], \"alias\": 2}",
               422);
    ck_assert_int_eq(json_array_size(json_object_get(j, "detail")), 4);
    t_expect_422_item(j, 0, "missing", "body", "user_id", NULL);
    t_expect_422_item(j, 1, "string_type", "body", "alias", NULL);
    t_expect_422_item(j, 2, "bool_type", "body", "blocked", NULL);
    t_expect_422_item(j, 3, "dict_type", "body", "metadata", NULL);
    json_decref(j);

    j = t_call("POST", "/v1/users", T_AUTH, NULL, 422);
    t_expect_422_item(j, 0, "missing", "body", NULL, "Field required");
    json_decref(j);
    j = t_call("POST", "/v1/users", T_AUTH_JSON, "\"u\"", 422);
    t_expect_422_item(j, 0, "model_attributes_type", "body", NULL, NULL);
    json_decref(j);
    j = t_call("POST", "/v1/users", T_AUTH_JSON, "{\"user_id\": \"a\",}", 422);
    t_expect_422_item(j, 0, "json_invalid", "body", NULL, "JSON decode error");
    json_decref(j);

    /* Lax booleans as pydantic. */
    j = create_user("{\"user_id\": \"u-lax\", \"blocked\": \"yes\"}");
    ck_assert(json_is_true(json_object_get(j, "blocked")));
    json_decref(j);

    ck_assert_int_eq(t_sql_long("SELECT count(*) FROM users"), before + 1);
}
END_TEST

START_TEST(master_key_rules)
{
    static const char *const routes[][2] = {
        {"POST", "/v1/users"},    {"GET", "/v1/users"},      {"GET", "/v1/users/x"},
        {"PATCH", "/v1/users/x"}, {"DELETE", "/v1/users/x"}, {"GET", "/v1/users/x/usage"},
    };
    json_t *j, *k;
    char hdr[160];

    t_api_need();
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        const char *body = routes[i][0][0] == 'P' ? "{\"user_id\": \"x\"}" : NULL;
        t_expect_error(routes[i][0], routes[i][1], NULL, body, 401,
                       "Missing X-AnyLLM-Key or Authorization header");
        t_expect_error(routes[i][0], routes[i][1], "Authorization: Bearer wrong\r\n", body, 401,
                       "Invalid master key");
        t_expect_error(routes[i][0], routes[i][1], "Authorization: bearer test-master-key\r\n",
                       body, 401, "Invalid header format. Expected 'Bearer <token>'");
    }

    /* A valid virtual key is not the master key. */
    k = t_call("POST", "/v1/keys", T_AUTH_JSON, "{}", 200);
    snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s\r\n", str(k, "key"));
    t_expect_error("GET", "/v1/users", hdr, NULL, 401, "Invalid master key");
    json_decref(k);

    /* Auth before validation, and before the body is parsed (DESIGN.md §2.14). */
    t_expect_error("POST", "/v1/users", "Authorization: Bearer wrong\r\n", "{}", 401,
                   "Invalid master key");
    t_expect_error("GET", "/v1/users?skip=-1", NULL, NULL, 401,
                   "Missing X-AnyLLM-Key or Authorization header");
    t_expect_error("GET", "/v1/users/x/usage?limit=0", NULL, NULL, 401,
                   "Missing X-AnyLLM-Key or Authorization header");
    t_expect_error("POST", "/v1/users", NULL, "{oops", 401,
                   "Missing X-AnyLLM-Key or Authorization header");
    t_expect_error("PATCH", "/v1/users/x", "Authorization: Bearer wrong\r\n", "[", 401,
                   "Invalid master key");
    j = t_call("PATCH", "/v1/users/x", T_AUTH, "[", 422);
    t_expect_422_item(j, 0, "json_invalid", "body", NULL, NULL);
    json_decref(j);

    j = t_call("GET", "/v1/users?limit=1", "X-AnyLLM-Key: Bearer test-master-key\r\n", NULL, 200);
    json_decref(j);
}
END_TEST

START_TEST(list_and_get)
{
    json_t *a, *b, *j;
    char path[128];
    long n;

    t_api_need();
    a = create_user("{\"user_id\": \"u-list-a\", \"alias\": \"A\"}");
    b = create_user("{\"user_id\": \"u-list-b\", \"metadata\": {\"k\": [1]}}");
    n = t_sql_long("SELECT count(*) FROM users WHERE deleted_at IS NULL");

    j = t_call("GET", "/v1/users", T_AUTH, NULL, 200);
    ck_assert(json_is_array(j));
    ck_assert_int_eq((long)json_array_size(j), n < 100 ? n : 100);
    for (size_t i = 0; i < json_array_size(j); i++)
        check_user(json_array_get(j, i));
    json_decref(j);

    snprintf(path, sizeof(path), "/v1/users?skip=%ld&limit=2", n - 2);
    j = t_call("GET", path, T_AUTH, NULL, 200);
    ck_assert_int_eq(json_array_size(j), 2);
    ck_assert(json_equal(json_array_get(j, 0), a));
    ck_assert(json_equal(json_array_get(j, 1), b));
    json_decref(j);

    j = t_call("GET", "/v1/users/u-list-b", T_AUTH, NULL, 200);
    ck_assert(json_equal(j, b));
    json_decref(j);

    /* Soft-deleted users are not listed and not found. */
    t_call_204("DELETE", "/v1/users/u-list-a", T_AUTH);
    t_expect_error("GET", "/v1/users/u-list-a", T_AUTH, NULL, 404,
                   "User with id 'u-list-a' not found");
    j = t_call("GET", "/v1/users?limit=1000", T_AUTH, NULL, 200);
    ck_assert_int_eq((long)json_array_size(j), n - 1);
    for (size_t i = 0; i < json_array_size(j); i++)
        ck_assert_str_ne(str(json_array_get(j, i), "user_id"), "u-list-a");
    json_decref(j);
    t_expect_error("GET", "/v1/users/nobody", T_AUTH, NULL, 404, "User with id 'nobody' not found");

    j = t_call("GET", "/v1/users?limit=1", T_AUTH, NULL, 200);
    ck_assert_int_eq(json_array_size(j), 1);
    json_decref(j);
    j = t_call("GET", "/v1/users?skip=100000", T_AUTH, NULL, 200);
    ck_assert_int_eq(json_array_size(j), 0);
    json_decref(j);
    t_expect_422_query("/v1/users?skip=-1", "greater_than_equal", "skip");
    t_expect_422_query("/v1/users?limit=0", "greater_than_equal", "limit");
    t_expect_422_query("/v1/users?limit=1001", "less_than_equal", "limit");
    t_expect_422_query("/v1/users?limit=10000", "less_than_equal", "limit");
    t_expect_422_query("/v1/users?skip=x", "int_parsing", "skip");
    json_decref(a);
    json_decref(b);
}
END_TEST

START_TEST(update_user)
{
    char *b1, *b2, body[256];
    long long started, next;
    json_t *u, *j, *prev;

    t_api_need();
    b1 = create_budget("{\"max_budget\": 10, \"budget_duration_sec\": 60}");
    b2 = create_budget("{\"max_budget\": 20}");
    u = create_user("{\"user_id\": \"u-up\", \"alias\": \"Old\", \"metadata\": {\"a\": 1}}");
    exec_sql("UPDATE users SET spend = 4.5 WHERE user_id = 'u-up'");

    j = t_call("PATCH", "/v1/users/u-up", T_AUTH_JSON,
               "{\"alias\": \"New\", \"blocked\": true, \"metadata\": {\"b\": 2}}", 200);
    ck_assert_str_eq(check_user(j), "u-up");
    ck_assert_str_eq(str(j, "alias"), "New");
    ck_assert(json_is_true(json_object_get(j, "blocked")));
    ck_assert_int_eq(json_object_size(json_object_get(j, "metadata")), 1); /* replaced */
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(j, "metadata"), "b")), 2);
    ck_assert_double_eq(json_real_value(json_object_get(j, "spend")), 4.5);
    ck_assert_str_eq(str(j, "created_at"), str(u, "created_at"));
    ck_assert(ts_us(str(j, "updated_at")) >= ts_us(str(u, "updated_at")));
    ck_assert(json_is_null(json_object_get(j, "budget_id")));
    json_decref(j);

    /* Nulls and {} keep everything. */
    j = t_call("PATCH", "/v1/users/u-up", T_AUTH_JSON,
               "{\"alias\": null, \"blocked\": null, \"metadata\": null, \"budget_id\": null}",
               200);
    ck_assert_str_eq(str(j, "alias"), "New");
    ck_assert(json_is_true(json_object_get(j, "blocked")));
    ck_assert_int_eq(json_object_size(json_object_get(j, "metadata")), 1);
    json_decref(j);
    j = t_call("PATCH", "/v1/users/u-up", T_AUTH_JSON, "{}", 200);
    ck_assert_str_eq(str(j, "alias"), "New");
    json_decref(j);

    /* Setting a budget anchors the period now; spend is not reset. */
    snprintf(body, sizeof(body), "{\"budget_id\": \"%s\"}", b1);
    j = t_call("PATCH", "/v1/users/u-up", T_AUTH_JSON, body, 200);
    ck_assert_str_eq(str(j, "budget_id"), b1);
    started = ts_us(str(j, "budget_started_at"));
    next = ts_us(str(j, "next_budget_reset_at"));
    ck_assert_int_eq(next - started, 60LL * 1000000);
    ck_assert_str_eq(str(j, "budget_started_at"), str(j, "updated_at"));
    ck_assert_double_eq(json_real_value(json_object_get(j, "spend")), 4.5);
    t_assert_sql("4.5", "SELECT spend FROM users WHERE user_id = 'u-up'");
    prev = j;

    /* An unrelated update keeps the anchor. */
    j = t_call("PATCH", "/v1/users/u-up", T_AUTH_JSON, "{\"alias\": \"Again\"}", 200);
    ck_assert_str_eq(str(j, "budget_started_at"), str(prev, "budget_started_at"));
    ck_assert_str_eq(str(j, "next_budget_reset_at"), str(prev, "next_budget_reset_at"));
    json_decref(j);

    /* Setting the budget again re-anchors later; a budget without a duration clears next. */
    j = t_call("PATCH", "/v1/users/u-up", T_AUTH_JSON, body, 200);
    ck_assert(ts_us(str(j, "budget_started_at")) > started);
    ck_assert_int_eq(ts_us(str(j, "next_budget_reset_at")) - ts_us(str(j, "budget_started_at")),
                     60LL * 1000000);
    json_decref(j);
    snprintf(body, sizeof(body), "{\"budget_id\": \"%s\"}", b2);
    j = t_call("PATCH", "/v1/users/u-up", T_AUTH_JSON, body, 200);
    ck_assert_str_eq(str(j, "budget_id"), b2);
    ts_us(str(j, "budget_started_at"));
    ck_assert(json_is_null(json_object_get(j, "next_budget_reset_at")));
    json_decref(j);
    t_assert_sql("1", "SELECT next_budget_reset_at IS NULL FROM users WHERE user_id = 'u-up'");

    /* An unknown budget: 404, nothing changed. */
    t_expect_error("PATCH", "/v1/users/u-up", T_AUTH_JSON,
                   "{\"budget_id\": \"no-such-budget\", \"alias\": \"X\"}", 404,
                   "Budget with id 'no-such-budget' not found");
    t_assert_sql(b2, "SELECT budget_id FROM users WHERE user_id = 'u-up'");
    t_assert_sql("Again", "SELECT alias FROM users WHERE user_id = 'u-up'");

    /* 404 for missing and soft-deleted users (user checked before the budget). */
    t_expect_error("PATCH", "/v1/users/nobody", T_AUTH_JSON, "{\"alias\": \"x\"}", 404,
                   "User with id 'nobody' not found");
    t_expect_error("PATCH", "/v1/users/nobody", T_AUTH_JSON, "{\"budget_id\": \"no-such-budget\"}",
                   404, "User with id 'nobody' not found");
    j = create_user("{\"user_id\": \"u-up-del\"}");
    json_decref(j);
    t_call_204("DELETE", "/v1/users/u-up-del", T_AUTH);
    t_expect_error("PATCH", "/v1/users/u-up-del", T_AUTH_JSON, "{\"alias\": \"x\"}", 404,
                   "User with id 'u-up-del' not found");
    snprintf(body, sizeof(body), "{\"budget_id\": \"%s\"}", b1);
    t_expect_error("PATCH", "/v1/users/u-up-del", T_AUTH_JSON, body, 404,
                   "User with id 'u-up-del' not found");
    t_assert_sql("1", "SELECT alias IS NULL AND budget_id IS NULL FROM users "
                      "WHERE user_id = 'u-up-del'");

    /* 422s. */
    expect_422("PATCH", "/v1/users/u-up", "{\"alias\": 1}", "string_type", "alias");
    expect_422("PATCH", "/v1/users/u-up", "{\"blocked\": \"x\"}", "bool_parsing", "blocked");
    expect_422("PATCH", "/v1/users/u-up", "{\"metadata\": 3}", "dict_type", "metadata");
    expect_422("PATCH", "/v1/users/u-up", "{\"budget_id\": false}", "string_type", "budget_id");
    j = t_call("PATCH", "/v1/users/u-up", T_AUTH, NULL, 422);
    t_expect_422_item(j, 0, "missing", "body", NULL, "Field required");
    json_decref(j);

    json_decref(prev);
    json_decref(u);
    free(b1);
    free(b2);
}
END_TEST

START_TEST(delete_user)
{
    json_t *u, *k1, *k2, *other;

    t_api_need();
    u = create_user("{\"user_id\": \"u-del\"}");
    k1 = t_call("POST", "/v1/keys", T_AUTH_JSON, "{\"user_id\": \"u-del\"}", 200);
    k2 = t_call("POST", "/v1/keys", T_AUTH_JSON, "{\"user_id\": \"u-del\", \"key_name\": \"2\"}",
                200);
    other = t_call("POST", "/v1/keys", T_AUTH_JSON, "{\"key_name\": \"other\"}", 200);
    t_expect_key_auth(str(k1, "key"), 200, NULL);
    t_expect_key_auth(str(k2, "key"), 200, NULL);

    t_call_204("DELETE", "/v1/users/u-del", T_AUTH);
    /* Soft delete: the row stays, deleted_at set in the stored form, keys deactivated. */
    t_assert_sql("1", "SELECT deleted_at LIKE '%%+00:00' AND deleted_at = updated_at FROM users "
                      "WHERE user_id = 'u-del'");
    t_assert_sql("0", "SELECT count(*) FROM api_keys WHERE user_id = 'u-del' AND is_active = 1");
    t_assert_sql("2", "SELECT count(*) FROM api_keys WHERE user_id = 'u-del'");
    /* ...and refused at the very next request; other users' keys are untouched. */
    t_expect_key_auth(str(k1, "key"), 401, "API key is inactive");
    t_expect_key_auth(str(k2, "key"), 401, "API key is inactive");
    t_expect_key_auth(str(other, "key"), 200, NULL);

    t_expect_error("GET", "/v1/users/u-del", T_AUTH, NULL, 404, "User with id 'u-del' not found");
    t_expect_error("DELETE", "/v1/users/u-del", T_AUTH, NULL, 404,
                   "User with id 'u-del' not found");
    t_expect_error("DELETE", "/v1/users/nobody", T_AUTH, NULL, 404,
                   "User with id 'nobody' not found");

    json_decref(u);
    json_decref(k1);
    json_decref(k2);
    json_decref(other);
}
END_TEST

START_TEST(restore_user)
{
    json_t *u, *k, *j;
    char *b, body[256];

    t_api_need();
    b = create_budget("{\"max_budget\": 3, \"budget_duration_sec\": 120}");
    snprintf(body, sizeof(body),
             "{\"user_id\": \"u-rest\", \"alias\": \"First\", \"blocked\": true, "
             "\"metadata\": {\"v\": 1}, \"budget_id\": \"%s\"}",
             b);
    u = create_user(body);
    k = t_call("POST", "/v1/keys", T_AUTH_JSON, "{\"user_id\": \"u-rest\"}", 200);
    exec_sql("UPDATE users SET spend = 7.25 WHERE user_id = 'u-rest'");
    t_call_204("DELETE", "/v1/users/u-rest", T_AUTH);

    /* POST with the same id restores: spend 0, fields overwritten, created_at kept. */
    j = create_user("{\"user_id\": \"u-rest\", \"alias\": \"Second\"}");
    ck_assert_str_eq(str(j, "alias"), "Second");
    ck_assert_double_eq(json_real_value(json_object_get(j, "spend")), 0.0);
    ck_assert(json_is_false(json_object_get(j, "blocked")));
    ck_assert_int_eq(json_object_size(json_object_get(j, "metadata")), 0);
    ck_assert(json_is_null(json_object_get(j, "budget_id")));
    ck_assert(json_is_null(json_object_get(j, "budget_started_at")));
    ck_assert(json_is_null(json_object_get(j, "next_budget_reset_at")));
    ck_assert_str_eq(str(j, "created_at"), str(u, "created_at"));
    ck_assert(ts_us(str(j, "updated_at")) > ts_us(str(u, "updated_at")));
    json_decref(j);
    t_assert_sql("1|0.0", "SELECT (deleted_at IS NULL) || '|' || spend FROM users "
                          "WHERE user_id = 'u-rest'");
    j = t_call("GET", "/v1/users/u-rest", T_AUTH, NULL, 200);
    ck_assert_str_eq(str(j, "alias"), "Second");
    json_decref(j);

    /* The previously deactivated key stays inactive. */
    t_assert_sql("0", "SELECT is_active FROM api_keys WHERE user_id = 'u-rest'");
    t_expect_key_auth(str(k, "key"), 401, "API key is inactive");

    /* Restored again with a budget: the period is re-anchored. */
    t_call_204("DELETE", "/v1/users/u-rest", T_AUTH);
    j = create_user(body);
    ck_assert_str_eq(str(j, "budget_id"), b);
    ck_assert_int_eq(ts_us(str(j, "next_budget_reset_at")) - ts_us(str(j, "budget_started_at")),
                     120LL * 1000000);
    ck_assert(ts_us(str(j, "budget_started_at")) > ts_us(str(u, "budget_started_at")));
    ck_assert_str_eq(str(j, "created_at"), str(u, "created_at"));
    json_decref(j);

    json_decref(u);
    json_decref(k);
    free(b);
}
END_TEST

START_TEST(usage)
{
    static const char *const cols[] = {
        "id",       "user_id",  "api_key_id",    "timestamp",         "model",
        "provider", "endpoint", "prompt_tokens", "completion_tokens", "total_tokens",
        "cost",     "status",   "error_message"};
    json_t *u, *k, *j, *row;

    t_api_need();
    u = create_user("{\"user_id\": \"u-use\"}");
    j = create_user("{\"user_id\": \"u-use-other\"}");
    json_decref(j);
    k = t_call("POST", "/v1/keys", T_AUTH_JSON, "{\"user_id\": \"u-use\"}", 200);

    /* No usage yet: an empty list. */
    j = t_call("GET", "/v1/users/u-use/usage", T_AUTH, NULL, 200);
    ck_assert(json_is_array(j));
    ck_assert_int_eq(json_array_size(j), 0);
    json_decref(j);

    exec_sql("INSERT INTO usage_logs (id, api_key_id, user_id, timestamp, model, provider, "
             "endpoint, prompt_tokens, completion_tokens, total_tokens, cost, status, "
             "error_message) VALUES "
             "('use-1', '%s', 'u-use', '2025-03-01T10:00:00+00:00', 'gpt-4o', 'openai', "
             "'/v1/chat/completions', 10, 20, 30, 0.0125, 'success', NULL),"
             "('use-3', NULL, 'u-use', '2025-03-03T10:00:00.500000+00:00', 'claude', 'anthropic', "
             "'/v1/messages', NULL, NULL, NULL, NULL, 'error', 'boom'),"
             "('use-2', '%s', 'u-use', '2025-03-02T10:00:00+00:00', 'emb', 'openai', "
             "'/v1/embeddings', 5, 0, 5, 0.5, 'success', NULL),"
             "('use-x', NULL, 'u-use-other', '2025-03-04T10:00:00+00:00', 'm', 'p', "
             "'/v1/embeddings', 1, 0, 1, 0.1, 'success', NULL)",
             str(k, "id"), str(k, "id"));

    j = t_call("GET", "/v1/users/u-use/usage", T_AUTH, NULL, 200);
    ck_assert_int_eq(json_array_size(j), 3);
    /* Newest first. */
    ck_assert_str_eq(str(json_array_get(j, 0), "id"), "use-3");
    ck_assert_str_eq(str(json_array_get(j, 1), "id"), "use-2");
    ck_assert_str_eq(str(json_array_get(j, 2), "id"), "use-1");
    for (size_t i = 0; i < 3; i++) {
        row = json_array_get(j, i);
        ck_assert_int_eq(json_object_size(row), 13);
        for (size_t c = 0; c < 13; c++)
            ck_assert_msg(json_object_get(row, cols[c]) != NULL, "no %s", cols[c]);
    }
    row = json_array_get(j, 2);
    ck_assert_str_eq(str(row, "user_id"), "u-use");
    ck_assert_str_eq(str(row, "api_key_id"), str(k, "id"));
    ck_assert_str_eq(str(row, "timestamp"), "2025-03-01T10:00:00+00:00");
    ck_assert_str_eq(str(row, "model"), "gpt-4o");
    ck_assert_str_eq(str(row, "provider"), "openai");
    ck_assert_str_eq(str(row, "endpoint"), "/v1/chat/completions");
    ck_assert(json_is_integer(json_object_get(row, "prompt_tokens")));
    ck_assert_int_eq(json_integer_value(json_object_get(row, "total_tokens")), 30);
    ck_assert(json_is_real(json_object_get(row, "cost")));
    ck_assert_double_eq_tol(json_real_value(json_object_get(row, "cost")), 0.0125, 1e-12);
    ck_assert_str_eq(str(row, "status"), "success");
    ck_assert(json_is_null(json_object_get(row, "error_message")));
    row = json_array_get(j, 0);
    ck_assert(json_is_null(json_object_get(row, "api_key_id")));
    ck_assert(json_is_null(json_object_get(row, "prompt_tokens")));
    ck_assert(json_is_null(json_object_get(row, "cost")));
    ck_assert_str_eq(str(row, "error_message"), "boom");
    json_decref(j);

    /* Pagination. */
    j = t_call("GET", "/v1/users/u-use/usage?skip=1&limit=1", T_AUTH, NULL, 200);
    ck_assert_int_eq(json_array_size(j), 1);
    ck_assert_str_eq(str(json_array_get(j, 0), "id"), "use-2");
    json_decref(j);
    j = t_call("GET", "/v1/users/u-use/usage?skip=3", T_AUTH, NULL, 200);
    ck_assert_int_eq(json_array_size(j), 0);
    json_decref(j);
    t_expect_422_query("/v1/users/u-use/usage?skip=-1", "greater_than_equal", "skip");
    t_expect_422_query("/v1/users/u-use/usage?limit=0", "greater_than_equal", "limit");
    t_expect_422_query("/v1/users/u-use/usage?limit=1001", "less_than_equal", "limit");

    /* Still readable after a soft delete; 404 only when the row does not exist. */
    t_call_204("DELETE", "/v1/users/u-use", T_AUTH);
    j = t_call("GET", "/v1/users/u-use/usage", T_AUTH, NULL, 200);
    ck_assert_int_eq(json_array_size(j), 3);
    json_decref(j);
    t_expect_error("GET", "/v1/users/nobody/usage", T_AUTH, NULL, 404,
                   "User with id 'nobody' not found");

    json_decref(u);
    json_decref(k);
}
END_TEST

/*
 * A 1000-byte user id is created, read, updated and deleted through its path (regression: a path
 * parameter over 511 bytes matched no route: 404 "Not Found").
 */
START_TEST(long_user_id)
{
    char *id = t_long_str("", 'u', 1000), *body, path[1100];
    json_t *j;

    t_api_need();
    j = json_pack("{s:s}", "user_id", id);
    body = json_dumps(j, 0);
    json_decref(j);
    j = create_user(body);
    free(body);
    ck_assert_str_eq(str(j, "user_id"), id);
    json_decref(j);
    snprintf(path, sizeof(path), "/v1/users/%s", id);
    j = t_call("GET", path, T_AUTH, NULL, 200);
    ck_assert_str_eq(str(j, "user_id"), id);
    json_decref(j);
    j = t_call("PATCH", path, T_AUTH_JSON, "{\"alias\": \"long\"}", 200);
    ck_assert_str_eq(str(j, "alias"), "long");
    json_decref(j);
    t_call_204("DELETE", path, T_AUTH);
    t_assert_sql("1", "SELECT count(*) FROM users WHERE length(user_id) = 1000 AND deleted_at IS "
                      "NOT NULL");
    free(id);
}
END_TEST

START_TEST(no_master_key_503)
{
    static const char msg[] =
        "Master key not configured. Set GATEWAY_MASTER_KEY environment variable.";

    t_api_need();
    t_expect_error("POST", "/v1/users", T_AUTH_JSON, "{\"user_id\": \"x\"}", 503, msg);
    t_expect_error("POST", "/v1/users", NULL, "{}", 503, msg);
    t_expect_error("GET", "/v1/users", NULL, NULL, 503, msg);
    t_expect_error("GET", "/v1/users?limit=0", T_AUTH, NULL, 503, msg);
    t_expect_error("GET", "/v1/users/x", T_AUTH, NULL, 503, msg);
    t_expect_error("PATCH", "/v1/users/x", T_AUTH_JSON, "{}", 503, msg);
    t_expect_error("DELETE", "/v1/users/x", T_AUTH, NULL, 503, msg);
    t_expect_error("GET", "/v1/users/x/usage", T_AUTH, NULL, 503, msg);
    t_expect_error("POST", "/v1/users", NULL, "{oops", 503, msg); /* before the body is parsed */
    ck_assert_int_eq(t_sql_long("SELECT count(*) FROM users"), 0);
}
END_TEST

Suite *e2e_users_suite(void)
{
    Suite *s = suite_create("e2e_users");
    TCase *tc = tcase_create("users");
    TCase *nm = tcase_create("no_master_key");

    tcase_add_unchecked_fixture(tc, t_api_up_master, t_api_down);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, create_user_basic);
    tcase_add_test(tc, create_user_with_budget);
    tcase_add_test(tc, create_user_422);
    tcase_add_test(tc, master_key_rules);
    tcase_add_test(tc, list_and_get);
    tcase_add_test(tc, update_user);
    tcase_add_test(tc, delete_user);
    tcase_add_test(tc, restore_user);
    tcase_add_test(tc, usage);
    tcase_add_test(tc, long_user_id);
    t_api_add_shutdown_test(tc);
    suite_add_tcase(s, tc);

    tcase_add_unchecked_fixture(nm, t_api_up_no_master, t_api_down);
    tcase_set_timeout(nm, 30);
    tcase_add_test(nm, no_master_key_503);
    t_api_add_shutdown_test(nm);
    suite_add_tcase(s, nm);
    return s;
}
