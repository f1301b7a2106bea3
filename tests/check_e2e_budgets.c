/*
 * End-to-end tests of the budget endpoints (spec §1.9) against the real binary: the response
 * shape and the stored rows, partial updates, deletion (users unassigned; blocked by reset
 * logs), every 422 case, pagination bounds, and the master-key rules (401/503, header forms,
 * auth before validation, malformed JSON before auth).
 */
#include <check.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "t_api.h"

/* POST body with the master key, expecting 422 with one item of type on field. */
static void expect_422(const char *method, const char *path, const char *body, const char *type,
                       const char *field)
{
    json_t *j = t_call(method, path, T_AUTH, body, 422);

    ck_assert_int_eq(json_array_size(json_object_get(j, "detail")), 1);
    t_expect_422_item(j, 0, type, "body", field, NULL);
    json_decref(j);
}

/* Checks the BudgetResponse shape; returns the budget id (borrowed from j). */
static const char *check_budget(json_t *j)
{
    const char *id = json_string_value(json_object_get(j, "budget_id"));
    const char *c = json_string_value(json_object_get(j, "created_at"));
    const char *u = json_string_value(json_object_get(j, "updated_at"));

    ck_assert_int_eq(json_object_size(j), 5);
    ck_assert_ptr_nonnull(id);
    ck_assert_int_eq(strlen(id), 36);
    ck_assert_int_eq(id[8], '-');
    ck_assert_int_eq(id[14], '4'); /* UUID4 */
    ck_assert(strchr("89ab", id[19]) != NULL);
    ck_assert_ptr_nonnull(json_object_get(j, "max_budget"));
    ck_assert_ptr_nonnull(json_object_get(j, "budget_duration_sec"));
    ck_assert_ptr_nonnull(c);
    ck_assert_ptr_nonnull(u);
    ck_assert_msg(t_ends_with(c, "+00:00"), "created_at %s", c);
    ck_assert_msg(t_ends_with(u, "+00:00"), "updated_at %s", u);
    return id;
}

/* Creates a budget from body and returns the response (owned). */
static json_t *create(const char *body)
{
    json_t *j = t_call("POST", "/v1/budgets", T_AUTH, body, 200);
    check_budget(j);
    return j;
}

/* Asserts that the first column of the first row of the query (printf-style) equals want. */

START_TEST(create_budget)
{
    json_t *j;
    const char *id;

    t_api_need();
    j = create("{\"max_budget\": 100.5, \"budget_duration_sec\": 86400}");
    id = check_budget(j);
    ck_assert(json_is_real(json_object_get(j, "max_budget")));
    ck_assert_double_eq(json_real_value(json_object_get(j, "max_budget")), 100.5);
    ck_assert(json_is_integer(json_object_get(j, "budget_duration_sec")));
    ck_assert_int_eq(json_integer_value(json_object_get(j, "budget_duration_sec")), 86400);
    ck_assert_str_eq(json_string_value(json_object_get(j, "created_at")),
                     json_string_value(json_object_get(j, "updated_at")));
    t_assert_sql("100.5", "SELECT max_budget FROM budgets WHERE budget_id = '%s'", id);
    t_assert_sql("86400", "SELECT budget_duration_sec FROM budgets WHERE budget_id = '%s'", id);
    t_assert_sql("1",
                 "SELECT created_at = updated_at AND created_at LIKE '%%+00:00' FROM budgets "
                 "WHERE budget_id = '%s'",
                 id);
    json_decref(j);

    /* Both fields optional and nullable: a tracking-only budget. */
    j = create("{}");
    ck_assert(json_is_null(json_object_get(j, "max_budget")));
    ck_assert(json_is_null(json_object_get(j, "budget_duration_sec")));
    t_assert_sql("NULLNULL",
                 "SELECT quote(max_budget) || quote(budget_duration_sec) FROM budgets "
                 "WHERE budget_id = '%s'",
                 check_budget(j));
    json_decref(j);
    j = create("{\"max_budget\": null, \"budget_duration_sec\": null}");
    ck_assert(json_is_null(json_object_get(j, "max_budget")));
    ck_assert(json_is_null(json_object_get(j, "budget_duration_sec")));
    json_decref(j);

    /* Boundaries and lax inputs: 0 is allowed; an integer budget comes back as a number;
     * numeric strings are coerced as pydantic's lax mode does. */
    j = create("{\"max_budget\": 0, \"budget_duration_sec\": 1}");
    ck_assert(json_is_number(json_object_get(j, "max_budget")));
    ck_assert_double_eq(json_number_value(json_object_get(j, "max_budget")), 0.0);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "budget_duration_sec")), 1);
    json_decref(j);
    j = create("{\"max_budget\": \"12.25\", \"budget_duration_sec\": \"3600\"}");
    ck_assert_double_eq(json_number_value(json_object_get(j, "max_budget")), 12.25);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "budget_duration_sec")), 3600);
    json_decref(j);
    j = create("{\"max_budget\": 7, \"budget_duration_sec\": 60.0, \"unknown\": 1}");
    ck_assert_double_eq(json_number_value(json_object_get(j, "max_budget")), 7.0);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "budget_duration_sec")), 60);
    json_decref(j);

    /* Two budgets never share an id. */
    {
        json_t *a = create("{}"), *b = create("{}");
        ck_assert_str_ne(check_budget(a), check_budget(b));
        json_decref(a);
        json_decref(b);
    }
}
END_TEST

START_TEST(create_budget_422)
{
    char *before, *after;
    json_t *j, *it;

    t_api_need();
    before = t_sql(t_api.db, "SELECT count(*) FROM budgets");
    ck_assert_ptr_nonnull(before);

    j = t_call("POST", "/v1/budgets", T_AUTH, "{\"max_budget\": -1}", 422);
    ck_assert_int_eq(json_array_size(json_object_get(j, "detail")), 1);
    t_expect_422_item(j, 0, "greater_than_equal", "body", "max_budget",
                      "Input should be greater than or equal to 0");
    it = json_array_get(json_object_get(j, "detail"), 0);
    ck_assert_int_eq(json_integer_value(json_object_get(it, "input")), -1);
    ck_assert(json_is_number(json_object_get(json_object_get(it, "ctx"), "ge")));
    ck_assert_double_eq(json_number_value(json_object_get(json_object_get(it, "ctx"), "ge")), 0);
    json_decref(j);

    j = t_call("POST", "/v1/budgets", T_AUTH, "{\"budget_duration_sec\": 0}", 422);
    t_expect_422_item(j, 0, "greater_than", "body", "budget_duration_sec",
                      "Input should be greater than 0");
    it = json_array_get(json_object_get(j, "detail"), 0);
    ck_assert(json_is_number(json_object_get(json_object_get(it, "ctx"), "gt")));
    json_decref(j);

    expect_422("POST", "/v1/budgets", "{\"budget_duration_sec\": -5}", "greater_than",
               "budget_duration_sec");
    expect_422("POST", "/v1/budgets", "{\"max_budget\": -0.01}", "greater_than_equal",
               "max_budget");

    /* Every problem is reported, in field order. */
    j = t_call("POST", "/v1/budgets", T_AUTH, "{\"budget_duration_sec\": 0, \"max_budget\": -3}",
               422);
    ck_assert_int_eq(json_array_size(json_object_get(j, "detail")), 2);
    t_expect_422_item(j, 0, "greater_than_equal", "body", "max_budget", NULL);
    t_expect_422_item(j, 1, "greater_than", "body", "budget_duration_sec", NULL);
    json_decref(j);

    /* Wrong types. */
    expect_422("POST", "/v1/budgets", "{\"max_budget\": \"abc\"}", "float_parsing", "max_budget");
    expect_422("POST", "/v1/budgets", "{\"max_budget\": [1]}", "float_type", "max_budget");
    expect_422("POST", "/v1/budgets", "{\"budget_duration_sec\": 1.5}", "int_from_float",
               "budget_duration_sec");
    expect_422("POST", "/v1/budgets", "{\"budget_duration_sec\": \"x\"}", "int_parsing",
               "budget_duration_sec");
    expect_422("POST", "/v1/budgets", "{\"budget_duration_sec\": {}}", "int_type",
               "budget_duration_sec");

    /* The body itself: absent, not an object, malformed. */
    j = t_call("POST", "/v1/budgets", T_AUTH, NULL, 422);
    t_expect_422_item(j, 0, "missing", "body", NULL, "Field required");
    json_decref(j);
    j = t_call("POST", "/v1/budgets", T_AUTH, "[1, 2]", 422);
    t_expect_422_item(j, 0, "model_attributes_type", "body", NULL, NULL);
    json_decref(j);
    j = t_call("POST", "/v1/budgets", T_AUTH, "{\"max_budget\": ", 422);
    t_expect_422_item(j, 0, "json_invalid", "body", NULL, "JSON decode error");
    json_decref(j);

    after = t_sql(t_api.db, "SELECT count(*) FROM budgets");
    ck_assert_str_eq(before, after);
    free(before);
    free(after);
}
END_TEST

START_TEST(master_key_rules)
{
    json_t *j;

    t_api_need();
    /* Missing, malformed and wrong credentials, on every budget endpoint. */
    t_expect_error("POST", "/v1/budgets", NULL, "{}", 401,
                   "Missing X-AnyLLM-Key or Authorization header");
    t_expect_error("GET", "/v1/budgets", NULL, NULL, 401,
                   "Missing X-AnyLLM-Key or Authorization header");
    t_expect_error("GET", "/v1/budgets/x", NULL, NULL, 401,
                   "Missing X-AnyLLM-Key or Authorization header");
    t_expect_error("PATCH", "/v1/budgets/x", NULL, "{}", 401,
                   "Missing X-AnyLLM-Key or Authorization header");
    t_expect_error("DELETE", "/v1/budgets/x", NULL, NULL, 401,
                   "Missing X-AnyLLM-Key or Authorization header");
    t_expect_error("POST", "/v1/budgets", "Authorization: Basic x\r\n", "{}", 401,
                   "Invalid header format. Expected 'Bearer <token>'");
    t_expect_error("GET", "/v1/budgets", "Authorization: bearer test-master-key\r\n", NULL, 401,
                   "Invalid header format. Expected 'Bearer <token>'");
    t_expect_error("POST", "/v1/budgets", "Authorization: Bearer wrong\r\n", "{}", 401,
                   "Invalid master key");
    t_expect_error("GET", "/v1/budgets", "Authorization: Bearer test-master-keyX\r\n", NULL, 401,
                   "Invalid master key");

    /* Auth runs before schema validation... */
    t_expect_error("POST", "/v1/budgets", "Authorization: Bearer wrong\r\n", "{\"max_budget\": -1}",
                   401, "Invalid master key");
    t_expect_error("PATCH", "/v1/budgets/x", NULL, "{\"budget_duration_sec\": 0}", 401,
                   "Missing X-AnyLLM-Key or Authorization header");
    t_expect_error("GET", "/v1/budgets?limit=0", NULL, NULL, 401,
                   "Missing X-AnyLLM-Key or Authorization header");
    /* ...and before the body is parsed (DESIGN.md §2.14; the reference gives 422 first). */
    t_expect_error("POST", "/v1/budgets", NULL, "{oops", 401,
                   "Missing X-AnyLLM-Key or Authorization header");
    t_expect_error("PATCH", "/v1/budgets/x", "Authorization: Bearer wrong\r\n", "{oops", 401,
                   "Invalid master key");
    j = t_call("POST", "/v1/budgets", T_AUTH, "{oops", 422);
    t_expect_422_item(j, 0, "json_invalid", "body", NULL, NULL);
    json_decref(j);

    /* Every accepted header form. */
    j = t_call("POST", "/v1/budgets", "X-AnyLLM-Key: Bearer test-master-key\r\n", "{}", 200);
    json_decref(j);
    j = t_call("POST", "/v1/budgets", "AnyLLM-Key: Bearer test-master-key\r\n", "{}", 200);
    json_decref(j);
    j = t_call("GET", "/v1/budgets", "x-api-key: test-master-key\r\n", NULL, 200);
    json_decref(j);
    /* X-AnyLLM-Key wins over Authorization. */
    j = t_call("GET", "/v1/budgets",
               "X-AnyLLM-Key: Bearer test-master-key\r\nAuthorization: Bearer wrong\r\n", NULL,
               200);
    json_decref(j);
    t_expect_error("GET", "/v1/budgets",
                   "X-AnyLLM-Key: Bearer wrong\r\nAuthorization: Bearer test-master-key\r\n", NULL,
                   401, "Invalid master key");
}
END_TEST

START_TEST(get_and_list)
{
    json_t *a, *b, *c, *j, *got;
    char path[128], *count;
    long n;

    t_api_need();
    a = create("{\"max_budget\": 1}");
    b = create("{\"max_budget\": 2}");
    c = create("{\"max_budget\": 3}");

    snprintf(path, sizeof(path), "/v1/budgets/%s", check_budget(b));
    got = t_call("GET", path, T_AUTH, NULL, 200);
    ck_assert(json_equal(got, b));
    json_decref(got);

    t_expect_error("GET", "/v1/budgets/no-such-budget", T_AUTH, NULL, 404,
                   "Budget with id 'no-such-budget' not found");

    count = t_sql(t_api.db, "SELECT count(*) FROM budgets");
    n = strtol(count, NULL, 10);
    free(count);
    ck_assert_int_ge(n, 3);

    j = t_call("GET", "/v1/budgets", T_AUTH, NULL, 200);
    ck_assert(json_is_array(j));
    ck_assert_int_eq((long)json_array_size(j), n < 100 ? n : 100);
    json_decref(j);

    /* Insertion order: the last three are ours. */
    snprintf(path, sizeof(path), "/v1/budgets?skip=%ld&limit=3", n - 3);
    j = t_call("GET", path, T_AUTH, NULL, 200);
    ck_assert_int_eq(json_array_size(j), 3);
    ck_assert(json_equal(json_array_get(j, 0), a));
    ck_assert(json_equal(json_array_get(j, 1), b));
    ck_assert(json_equal(json_array_get(j, 2), c));
    json_decref(j);

    j = t_call("GET", "/v1/budgets?limit=1", T_AUTH, NULL, 200);
    ck_assert_int_eq(json_array_size(j), 1);
    check_budget(json_array_get(j, 0));
    json_decref(j);
    j = t_call("GET", "/v1/budgets?skip=100000", T_AUTH, NULL, 200);
    ck_assert_int_eq(json_array_size(j), 0);
    json_decref(j);
    j = t_call("GET", "/v1/budgets?limit=1000&skip=0", T_AUTH, NULL, 200);
    json_decref(j);

    /* Pagination bounds. */
    j = t_call("GET", "/v1/budgets?limit=10000", T_AUTH, NULL, 422);
    t_expect_422_item(j, 0, "less_than_equal", "query", "limit",
                      "Input should be less than or equal to 1000");
    json_decref(j);
    j = t_call("GET", "/v1/budgets?limit=0", T_AUTH, NULL, 422);
    t_expect_422_item(j, 0, "greater_than_equal", "query", "limit",
                      "Input should be greater than or equal to 1");
    json_decref(j);
    j = t_call("GET", "/v1/budgets?skip=-1", T_AUTH, NULL, 422);
    t_expect_422_item(j, 0, "greater_than_equal", "query", "skip",
                      "Input should be greater than or equal to 0");
    json_decref(j);
    j = t_call("GET", "/v1/budgets?limit=abc", T_AUTH, NULL, 422);
    t_expect_422_item(j, 0, "int_parsing", "query", "limit", NULL);
    json_decref(j);

    json_decref(a);
    json_decref(b);
    json_decref(c);
}
END_TEST

START_TEST(update_budget)
{
    json_t *a, *j;
    char path[128];
    const char *created;

    t_api_need();
    a = create("{\"max_budget\": 10, \"budget_duration_sec\": 100}");
    snprintf(path, sizeof(path), "/v1/budgets/%s", check_budget(a));
    created = json_string_value(json_object_get(a, "created_at"));

    /* Only the given non-null fields change. */
    j = t_call("PATCH", path, T_AUTH, "{\"max_budget\": 20.5}", 200);
    ck_assert_str_eq(check_budget(j), check_budget(a));
    ck_assert_double_eq(json_real_value(json_object_get(j, "max_budget")), 20.5);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "budget_duration_sec")), 100);
    ck_assert_str_eq(json_string_value(json_object_get(j, "created_at")), created);
    ck_assert_msg(strcmp(json_string_value(json_object_get(j, "updated_at")), created) > 0,
                  "updated_at %s not after %s", json_string_value(json_object_get(j, "updated_at")),
                  created);
    json_decref(j);

    j = t_call("PATCH", path, T_AUTH, "{\"max_budget\": null, \"budget_duration_sec\": 200}", 200);
    ck_assert_double_eq(json_real_value(json_object_get(j, "max_budget")), 20.5);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "budget_duration_sec")), 200);
    json_decref(j);

    j = t_call("PATCH", path, T_AUTH, "{}", 200);
    ck_assert_double_eq(json_real_value(json_object_get(j, "max_budget")), 20.5);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "budget_duration_sec")), 200);
    json_decref(j);

    j = t_call("PATCH", path, T_AUTH, "{\"max_budget\": 0}", 200);
    ck_assert_double_eq(json_number_value(json_object_get(j, "max_budget")), 0.0);
    json_decref(j);

    /* The stored row matches, and a GET returns the same. */
    t_assert_sql("0.0,200",
                 "SELECT max_budget || ',' || budget_duration_sec FROM budgets WHERE budget_id = "
                 "'%s'",
                 check_budget(a));
    j = t_call("GET", path, T_AUTH, NULL, 200);
    ck_assert_double_eq(json_number_value(json_object_get(j, "max_budget")), 0.0);
    ck_assert_str_eq(json_string_value(json_object_get(j, "created_at")), created);
    json_decref(j);

    /* The same constraints as POST; nothing is changed by a rejected PATCH. */
    expect_422("PATCH", path, "{\"max_budget\": -1}", "greater_than_equal", "max_budget");
    expect_422("PATCH", path, "{\"budget_duration_sec\": 0}", "greater_than",
               "budget_duration_sec");
    expect_422("PATCH", path, "{\"budget_duration_sec\": -10}", "greater_than",
               "budget_duration_sec");
    j = t_call("PATCH", path, T_AUTH, NULL, 422);
    t_expect_422_item(j, 0, "missing", "body", NULL, "Field required");
    json_decref(j);
    t_assert_sql("0.0,200",
                 "SELECT max_budget || ',' || budget_duration_sec FROM budgets WHERE budget_id = "
                 "'%s'",
                 check_budget(a));

    t_expect_error("PATCH", "/v1/budgets/no-such-budget", T_AUTH, "{\"max_budget\": 1}", 404,
                   "Budget with id 'no-such-budget' not found");
    json_decref(a);
}
END_TEST

/*
 * budget_duration_sec is 1 s .. 100 years (3155760000 s) on both databases: a larger value is a
 * 422 in the reference's shape (it used to be stored, abort the sanitized build and make the
 * release build reset the budget before every request), and 100 years fits the column on
 * PostgreSQL too (BIGINT since migration 0002) and gives a reset time 100 years ahead.
 */
START_TEST(budget_duration_range)
{
    json_t *a, *j, *it;
    char path[128], body[256];
    const char *next;

    t_api_need();
    j = t_call("POST", "/v1/budgets", T_AUTH, "{\"budget_duration_sec\": 9223372036854775807}",
               422);
    ck_assert_int_eq(json_array_size(json_object_get(j, "detail")), 1);
    t_expect_422_item(j, 0, "less_than_equal", "body", "budget_duration_sec",
                      "Input should be less than or equal to 3155760000");
    it = json_array_get(json_object_get(j, "detail"), 0);
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(it, "ctx"), "le")),
                     3155760000LL);
    ck_assert_int_eq(json_integer_value(json_object_get(it, "input")), 9223372036854775807LL);
    json_decref(j);
    expect_422("POST", "/v1/budgets", "{\"budget_duration_sec\": 3155760001}", "less_than_equal",
               "budget_duration_sec");
    expect_422("POST", "/v1/budgets", "{\"budget_duration_sec\": \"4000000000\"}",
               "less_than_equal", "budget_duration_sec");

    j = create("{\"max_budget\": 1, \"budget_duration_sec\": 1}");
    ck_assert_int_eq(json_integer_value(json_object_get(j, "budget_duration_sec")), 1);
    json_decref(j);
    a = create("{\"max_budget\": 1, \"budget_duration_sec\": 3155760000}");
    ck_assert_int_eq(json_integer_value(json_object_get(a, "budget_duration_sec")), 3155760000LL);
    t_assert_sql("3155760000", "SELECT budget_duration_sec FROM budgets WHERE budget_id = '%s'",
                 check_budget(a));
    snprintf(path, sizeof(path), "/v1/budgets/%s", check_budget(a));
    expect_422("PATCH", path, "{\"budget_duration_sec\": 9223372036854775807}", "less_than_equal",
               "budget_duration_sec");
    j = t_call("GET", path, T_AUTH, NULL, 200);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "budget_duration_sec")), 3155760000LL);
    json_decref(j);

    /* A user on it: the next reset is 100 years ahead, not in the past. */
    snprintf(body, sizeof(body), "{\"user_id\": \"u-century\", \"budget_id\": \"%s\"}",
             check_budget(a));
    j = t_call("POST", "/v1/users", T_AUTH, body, 200);
    next = json_string_value(json_object_get(j, "next_budget_reset_at"));
    ck_assert_ptr_nonnull(next);
    ck_assert_msg(strtol(next, NULL, 10) >= 2120, "next reset %s", next);
    json_decref(j);
    json_decref(a);
}
END_TEST

START_TEST(update_keeps_user_reset_times)
{
    json_t *a, *j;
    char path[128], sql[768];
    const char *id;

    t_api_need();
    a = create("{\"max_budget\": 10, \"budget_duration_sec\": 3600}");
    id = check_budget(a);
    snprintf(path, sizeof(path), "/v1/budgets/%s", id);
    snprintf(sql, sizeof(sql),
             "INSERT INTO users (user_id, alias, spend, budget_id, blocked, created_at, "
             "updated_at, metadata, budget_started_at, next_budget_reset_at) VALUES "
             "('u-patch', NULL, 2.5, '%s', FALSE, '2025-01-01T00:00:00+00:00', "
             "'2025-01-01T00:00:00+00:00', '{}', '2025-01-01T00:00:00+00:00', "
             "'2025-01-01T01:00:00+00:00')",
             id);
    ck_assert_int_eq(t_sql_exec(t_api.db, sql), 0);

    /* A new duration takes effect at the next reset: the user's schedule is untouched. */
    j = t_call("PATCH", path, T_AUTH, "{\"budget_duration_sec\": 60, \"max_budget\": 1}", 200);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "budget_duration_sec")), 60);
    json_decref(j);
    t_assert_sql(
        "2025-01-01T00:00:00+00:00|2025-01-01T01:00:00+00:00|2.5|0",
        "SELECT budget_started_at || '|' || next_budget_reset_at || '|' || spend || '|' || "
        "blocked FROM users WHERE user_id = '%s'",
        "u-patch");
    t_assert_sql(id, "SELECT budget_id FROM users WHERE user_id = '%s'", "u-patch");
    json_decref(a);
}
END_TEST

START_TEST(delete_budget)
{
    json_t *a;
    char path[128], sql[512], msg[128];
    struct t_resp r;
    const char *id;

    t_api_need();
    a = create("{\"max_budget\": 5}");
    id = check_budget(a);
    snprintf(path, sizeof(path), "/v1/budgets/%s", id);
    snprintf(sql, sizeof(sql),
             "INSERT INTO users (user_id, alias, spend, budget_id, blocked, created_at, "
             "updated_at, metadata) VALUES ('u-del-1', NULL, 0, '%s', FALSE, "
             "'2025-01-01T00:00:00+00:00', '2025-01-01T00:00:00+00:00', '{}'), "
             "('u-del-2', NULL, 0, '%s', FALSE, '2025-01-01T00:00:00+00:00', "
             "'2025-01-01T00:00:00+00:00', '{}')",
             id, id);
    ck_assert_int_eq(t_sql_exec(t_api.db, sql), 0);

    ck_assert_int_eq(t_http(t_api.port, "DELETE", path, T_AUTH, NULL, &r), 0);
    ck_assert_int_eq(r.status, 204);
    ck_assert_int_eq(r.body_len, 0);
    t_resp_free(&r);

    t_assert_sql("0", "SELECT count(*) FROM budgets WHERE budget_id = '%s'", id);
    t_assert_sql("NULL,NULL",
                 "SELECT group_concat(quote(budget_id)) FROM users WHERE user_id LIKE '%s'",
                 "u-del-%");
    snprintf(msg, sizeof(msg), "Budget with id '%s' not found", id);
    t_expect_error("GET", path, T_AUTH, NULL, 404, msg);
    t_expect_error("DELETE", path, T_AUTH, NULL, 404, msg);
    t_expect_error("DELETE", "/v1/budgets/no-such-budget", T_AUTH, NULL, 404,
                   "Budget with id 'no-such-budget' not found");
    json_decref(a);
}
END_TEST

START_TEST(delete_blocked_by_reset_logs)
{
    json_t *a, *j;
    char path[128], sql[768];
    const char *id;

    t_api_need();
    a = create("{\"max_budget\": 5, \"budget_duration_sec\": 60}");
    id = check_budget(a);
    snprintf(path, sizeof(path), "/v1/budgets/%s", id);
    snprintf(sql, sizeof(sql),
             "INSERT INTO users (user_id, alias, spend, budget_id, blocked, created_at, "
             "updated_at, metadata) VALUES ('u-reset', NULL, 0, '%s', FALSE, "
             "'2025-01-01T00:00:00+00:00', '2025-01-01T00:00:00+00:00', '{}');"
             "INSERT INTO budget_reset_logs (user_id, budget_id, previous_spend, reset_at, "
             "next_reset_at) VALUES ('u-reset', '%s', 1.5, '2025-01-01T00:01:00+00:00', NULL)",
             id, id);
    ck_assert_int_eq(t_sql_exec(t_api.db, sql), 0);

    t_expect_error("DELETE", path, T_AUTH, NULL, 500, "Database error");
    j = t_call("DELETE", path, T_AUTH, NULL, 500);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "error"), "type")),
                     "server_error");
    json_decref(j);

    /* The transaction rolled back: the budget and the user's assignment are intact. */
    j = t_call("GET", path, T_AUTH, NULL, 200);
    ck_assert(json_equal(j, a));
    json_decref(j);
    t_assert_sql(id, "SELECT budget_id FROM users WHERE user_id = '%s'", "u-reset");
    json_decref(a);
}
END_TEST

START_TEST(no_master_key_503)
{
    static const char msg[] =
        "Master key not configured. Set GATEWAY_MASTER_KEY environment variable.";

    t_api_need();
    t_expect_error("POST", "/v1/budgets", T_AUTH, "{}", 503, msg);
    t_expect_error("POST", "/v1/budgets", NULL, "{\"max_budget\": -1}", 503, msg);
    t_expect_error("GET", "/v1/budgets", NULL, NULL, 503, msg);
    t_expect_error("GET", "/v1/budgets/x", "Authorization: Basic x\r\n", NULL, 503, msg);
    t_expect_error("PATCH", "/v1/budgets/x", T_AUTH, "{}", 503, msg);
    t_expect_error("DELETE", "/v1/budgets/x", T_AUTH, NULL, 503, msg);
}
END_TEST

Suite *e2e_budgets_suite(void)
{
    Suite *s = suite_create("e2e_budgets");
    TCase *tc = tcase_create("budgets");
    TCase *nm = tcase_create("no_master_key");

    tcase_add_unchecked_fixture(tc, t_api_up_master, t_api_down);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, create_budget);
    tcase_add_test(tc, create_budget_422);
    tcase_add_test(tc, master_key_rules);
    tcase_add_test(tc, get_and_list);
    tcase_add_test(tc, update_budget);
    tcase_add_test(tc, update_keeps_user_reset_times);
    tcase_add_test(tc, budget_duration_range);
    tcase_add_test(tc, delete_budget);
    tcase_add_test(tc, delete_blocked_by_reset_logs);
    t_api_add_shutdown_test(tc);
    suite_add_tcase(s, tc);

    tcase_add_unchecked_fixture(nm, t_api_up_no_master, t_api_down);
    tcase_set_timeout(nm, 30);
    tcase_add_test(nm, no_master_key_503);
    t_api_add_shutdown_test(nm);
    suite_add_tcase(s, nm);
    return s;
}
