/*
 * End-to-end tests of the key endpoints (spec §1.7, §2) against the real binary: the
 * CreateKeyResponse / KeyInfo shapes and the stored rows (only the SHA-256 of a key is kept),
 * user attachment (existing, auto-created, soft-deleted, virtual), partial updates, hard delete
 * (also with usage rows), every 422 case, pagination bounds, the master-key rules, and that a
 * revoked, expired or deleted key is refused at the very next request (in-memory index).
 */
#include <check.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "sha256.h"
#include "t_api.h"

/* A request with the master key that must give 422 with one item of type on body.field. */
static void expect_422(const char *method, const char *path, const char *body, const char *type,
                       const char *field)
{
    json_t *j = t_call(method, path, T_AUTH_JSON, body, 422);

    ck_assert_msg(json_array_size(json_object_get(j, "detail")) == 1, "%s",
                  json_dumps(j, JSON_COMPACT));
    t_expect_422_item(j, 0, type, "body", field, NULL);
    json_decref(j);
}

static void check_uuid4(const char *id)
{
    ck_assert_ptr_nonnull(id);
    ck_assert_int_eq(strlen(id), 36);
    ck_assert_int_eq(id[8], '-');
    ck_assert_int_eq(id[14], '4');
    ck_assert(strchr("89ab", id[19]) != NULL);
}

/* An ISO timestamp in the one stored form (UTC "+00:00"), or JSON null when may_null. */
static void check_ts(json_t *v, bool may_null)
{
    if (may_null && json_is_null(v))
        return;
    ck_assert_msg(json_is_string(v), "timestamp is not a string");
    ck_assert_msg(t_ends_with(json_string_value(v), "+00:00"), "timestamp %s",
                  json_string_value(v));
    ck_assert_int_eq(json_string_value(v)[10], 'T');
}

/*
 * KeyInfo: exactly its 8 fields plus the gateway's rpm_limit and tpm_limit (README "Rate
 * limits"), never the key or its hash. Returns the id (borrowed).
 */
static const char *check_keyinfo(json_t *j)
{
    static const char *const fields[] = {"id",           "key_name",   "user_id",   "created_at",
                                         "last_used_at", "expires_at", "is_active", "metadata",
                                         "rpm_limit",    "tpm_limit"};

    ck_assert_int_eq(json_object_size(j), 10);
    for (size_t i = 0; i < 10; i++)
        ck_assert_msg(json_object_get(j, fields[i]) != NULL, "no %s", fields[i]);
    check_uuid4(json_string_value(json_object_get(j, "id")));
    check_ts(json_object_get(j, "created_at"), false);
    check_ts(json_object_get(j, "last_used_at"), true);
    check_ts(json_object_get(j, "expires_at"), true);
    ck_assert(json_is_boolean(json_object_get(j, "is_active")));
    ck_assert(json_is_object(json_object_get(j, "metadata")));
    return json_string_value(json_object_get(j, "id"));
}

/* CreateKeyResponse: its 8 fields (key, no last_used_at) plus the rate limits. Returns the id. */
static const char *check_created(json_t *j)
{
    static const char *const fields[] = {"id",         "key",        "key_name",  "user_id",
                                         "created_at", "expires_at", "is_active", "metadata",
                                         "rpm_limit",  "tpm_limit"};
    const char *key = json_string_value(json_object_get(j, "key"));

    ck_assert_int_eq(json_object_size(j), 10);
    for (size_t i = 0; i < 10; i++)
        ck_assert_msg(json_object_get(j, fields[i]) != NULL, "no %s", fields[i]);
    check_uuid4(json_string_value(json_object_get(j, "id")));
    ck_assert_ptr_nonnull(key);
    ck_assert_int_eq(strlen(key), 67);
    ck_assert(strncmp(key, "gw-", 3) == 0);
    ck_assert_int_eq(strspn(key + 3, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                     "0123456789_-"),
                     64);
    ck_assert(json_is_true(json_object_get(j, "is_active")));
    check_ts(json_object_get(j, "created_at"), false);
    check_ts(json_object_get(j, "expires_at"), true);
    ck_assert(json_is_object(json_object_get(j, "metadata")));
    return json_string_value(json_object_get(j, "id"));
}

static json_t *create_key(const char *body)
{
    json_t *j = t_call("POST", "/v1/keys", T_AUTH_JSON, body, 200);
    check_created(j);
    return j;
}

/* The first column of the first row of the query (printf-style) must equal want. */

START_TEST(create_key_basic)
{
    char hex[SHA256_HEX_LEN], path[128];
    const char *id, *key;
    json_t *j, *k;

    t_api_need();
    j = create_key("{\"key_name\": \"ci\"}");
    id = check_created(j);
    key = json_string_value(json_object_get(j, "key"));
    ck_assert_str_eq(json_string_value(json_object_get(j, "key_name")), "ci");
    ck_assert(json_is_null(json_object_get(j, "expires_at")));
    ck_assert_int_eq(json_object_size(json_object_get(j, "metadata")), 0);

    /* Only the SHA-256 of the whole key string is stored. */
    sha256_hex(key, strlen(key), hex);
    t_assert_sql(hex, "SELECT key_hash FROM api_keys WHERE id = '%s'", id);
    t_assert_sql("1", "SELECT count(*) FROM api_keys WHERE key_hash = '%s'", hex);
    t_assert_sql("1|ci|{}|1",
                 "SELECT is_active || '|' || key_name || '|' || metadata || '|' || "
                 "(last_used_at IS NULL AND expires_at IS NULL) FROM api_keys WHERE id = '%s'",
                 id);
    t_assert_sql(json_string_value(json_object_get(j, "created_at")),
                 "SELECT created_at FROM api_keys WHERE id = '%s'", id);

    /* No user_id: a virtual user apikey-<id> named after the key. */
    {
        char uid[64];
        snprintf(uid, sizeof(uid), "apikey-%s", id);
        ck_assert_str_eq(json_string_value(json_object_get(j, "user_id")), uid);
        t_assert_sql("Virtual user for API key: ci|0.0|0|{}|1",
                     "SELECT alias || '|' || spend || '|' || blocked || '|' || metadata || '|' || "
                     "(budget_id IS NULL AND deleted_at IS NULL) FROM users WHERE user_id = '%s'",
                     uid);
    }

    /* GET returns KeyInfo: same values, last_used_at instead of the key. */
    snprintf(path, sizeof(path), "/v1/keys/%s", id);
    k = t_call("GET", path, T_AUTH, NULL, 200);
    ck_assert_str_eq(check_keyinfo(k), id);
    ck_assert(json_is_null(json_object_get(k, "last_used_at")));
    ck_assert_ptr_null(json_object_get(k, "key"));
    ck_assert_ptr_null(json_object_get(k, "key_hash"));
    ck_assert(json_equal(json_object_get(k, "created_at"), json_object_get(j, "created_at")));
    ck_assert(json_equal(json_object_get(k, "user_id"), json_object_get(j, "user_id")));
    json_decref(k);
    json_decref(j);

    /* No name, or an empty one: the reference's `key_name or 'unnamed'`. */
    j = create_key("{}");
    ck_assert(json_is_null(json_object_get(j, "key_name")));
    t_assert_sql("Virtual user for API key: unnamed",
                 "SELECT alias FROM users WHERE user_id = '%s'",
                 json_string_value(json_object_get(j, "user_id")));
    json_decref(j);
    j = create_key("{\"key_name\": \"\", \"user_id\": null, \"expires_at\": null}");
    ck_assert_str_eq(json_string_value(json_object_get(j, "key_name")), "");
    t_assert_sql("Virtual user for API key: unnamed",
                 "SELECT alias FROM users WHERE user_id = '%s'",
                 json_string_value(json_object_get(j, "user_id")));
    json_decref(j);

    /* Two keys never share an id or a key. */
    {
        json_t *a = create_key("{}"), *b = create_key("{}");
        ck_assert_str_ne(check_created(a), check_created(b));
        ck_assert_str_ne(json_string_value(json_object_get(a, "key")),
                         json_string_value(json_object_get(b, "key")));
        json_decref(a);
        json_decref(b);
    }
}
END_TEST

START_TEST(create_key_expiry_and_metadata)
{
    json_t *j;
    const char *id;

    t_api_need();
    /* expires_at is stored and echoed in the one UTC form. */
    j = create_key("{\"expires_at\": \"2030-01-02T03:04:05Z\"}");
    id = check_created(j);
    ck_assert_str_eq(json_string_value(json_object_get(j, "expires_at")),
                     "2030-01-02T03:04:05+00:00");
    t_assert_sql("2030-01-02T03:04:05+00:00", "SELECT expires_at FROM api_keys WHERE id = '%s'",
                 id);
    json_decref(j);
    j = create_key("{\"expires_at\": \"2030-01-02T03:04:05.250+02:00\"}");
    ck_assert_str_eq(json_string_value(json_object_get(j, "expires_at")),
                     "2030-01-02T01:04:05.250000+00:00");
    json_decref(j);
    j = create_key("{\"expires_at\": \"2030-06-01T12:00:00\"}");
    ck_assert_str_eq(json_string_value(json_object_get(j, "expires_at")),
                     "2030-06-01T12:00:00+00:00");
    json_decref(j);
    j = create_key("{\"expires_at\": \"2031-02-03\"}");
    ck_assert_str_eq(json_string_value(json_object_get(j, "expires_at")),
                     "2031-02-03T00:00:00+00:00");
    json_decref(j);
    /* A date in the past is accepted (the key is simply expired). */
    j = create_key("{\"expires_at\": \"2001-01-01T00:00:00+00:00\"}");
    ck_assert_str_eq(json_string_value(json_object_get(j, "expires_at")),
                     "2001-01-01T00:00:00+00:00");
    t_expect_key_auth(json_string_value(json_object_get(j, "key")), 401, "API key has expired");
    json_decref(j);
    /* The edges of the accepted range (1970 .. 9999), stored and echoed as given. */
    j = create_key("{\"expires_at\": \"9999-12-31T23:59:59Z\"}");
    ck_assert_str_eq(json_string_value(json_object_get(j, "expires_at")),
                     "9999-12-31T23:59:59+00:00");
    t_expect_key_auth(json_string_value(json_object_get(j, "key")), 200, NULL);
    json_decref(j);
    j = create_key("{\"expires_at\": \"1970-01-01T00:00:00Z\"}");
    ck_assert_str_eq(json_string_value(json_object_get(j, "expires_at")),
                     "1970-01-01T00:00:00+00:00");
    json_decref(j);

    /* metadata: echoed, stored as compact JSON. */
    j = create_key("{\"key_name\": \"m\", \"metadata\": {\"team\": \"a\", \"n\": [1, 2], "
                   "\"nested\": {\"x\": null}}}");
    id = check_created(j);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "metadata"), "team")),
                     "a");
    ck_assert_int_eq(json_array_size(json_object_get(json_object_get(j, "metadata"), "n")), 2);
    t_assert_sql("{\"team\":\"a\",\"n\":[1,2],\"nested\":{\"x\":null}}",
                 "SELECT metadata FROM api_keys WHERE id = '%s'", id);
    json_decref(j);
}
END_TEST

START_TEST(create_key_for_user)
{
    json_t *j, *u;
    const char *id;

    t_api_need();
    /* An existing user: the key is attached, the user untouched. */
    u = t_call("POST", "/v1/users", T_AUTH_JSON, "{\"user_id\": \"k-alice\", \"alias\": \"Alice\"}",
               200);
    json_decref(u);
    j = create_key("{\"user_id\": \"k-alice\", \"key_name\": \"a1\"}");
    ck_assert_str_eq(json_string_value(json_object_get(j, "user_id")), "k-alice");
    id = check_created(j);
    t_assert_sql("k-alice", "SELECT user_id FROM api_keys WHERE id = '%s'", id);
    t_assert_sql("Alice", "SELECT alias FROM users WHERE user_id = 'k-alice'");
    json_decref(j);
    j = create_key("{\"user_id\": \"k-alice\"}");
    json_decref(j);
    t_assert_sql("2", "SELECT count(*) FROM api_keys WHERE user_id = 'k-alice'");

    /* An unknown user is auto-created with alias "User <id>" and no budget. */
    j = create_key("{\"user_id\": \"k-new-user\"}");
    ck_assert_str_eq(json_string_value(json_object_get(j, "user_id")), "k-new-user");
    json_decref(j);
    t_assert_sql("User k-new-user|0.0|0|{}|1",
                 "SELECT alias || '|' || spend || '|' || blocked || '|' || metadata || '|' || "
                 "(budget_id IS NULL AND budget_started_at IS NULL AND deleted_at IS NULL) "
                 "FROM users WHERE user_id = 'k-new-user'");
    u = t_call("GET", "/v1/users/k-new-user", T_AUTH, NULL, 200);
    ck_assert_str_eq(json_string_value(json_object_get(u, "alias")), "User k-new-user");
    check_ts(json_object_get(u, "created_at"), false);
    json_decref(u);

    /* A soft-deleted user is refused and nothing is written. */
    t_call_204("DELETE", "/v1/users/k-alice", T_AUTH);
    t_expect_error("POST", "/v1/keys", T_AUTH_JSON, "{\"user_id\": \"k-alice\"}", 404,
                   "User 'k-alice' has been deleted. Recreate via POST /v1/users first.");
    t_assert_sql("2", "SELECT count(*) FROM api_keys WHERE user_id = 'k-alice'");
    t_assert_sql("0", "SELECT count(*) FROM api_keys WHERE is_active = 1 AND user_id = 'k-alice'");

    /* Recreated: keys can be attached again. */
    u = t_call("POST", "/v1/users", T_AUTH_JSON, "{\"user_id\": \"k-alice\"}", 200);
    json_decref(u);
    j = create_key("{\"user_id\": \"k-alice\"}");
    t_expect_key_auth(json_string_value(json_object_get(j, "key")), 200, NULL);
    json_decref(j);
}
END_TEST

START_TEST(create_key_422)
{
    long before;
    json_t *j;

    t_api_need();
    before = t_sql_long("SELECT count(*) FROM api_keys");

    expect_422("POST", "/v1/keys", "{\"key_name\": 5}", "string_type", "key_name");
    expect_422("POST", "/v1/keys", "{\"user_id\": []}", "string_type", "user_id");
    expect_422("POST", "/v1/keys", "{\"user_id\": 12}", "string_type", "user_id");
    expect_422("POST", "/v1/keys", "{\"expires_at\": \"tomorrow\"}", "datetime_from_date_parsing",
               "expires_at");
    expect_422("POST", "/v1/keys", "{\"expires_at\": true}", "datetime_type", "expires_at");
    /* Dates outside 1970 .. 9999 (year 0000 was stored before). */
    expect_422("POST", "/v1/keys", "{\"expires_at\": \"0000-01-01T00:00:00\"}",
               "datetime_from_date_parsing", "expires_at");
    expect_422("POST", "/v1/keys", "{\"expires_at\": \"1969-12-31T23:59:59Z\"}",
               "datetime_from_date_parsing", "expires_at");
    expect_422("POST", "/v1/keys", "{\"expires_at\": \"9999-12-31T23:30:00-01:00\"}",
               "datetime_from_date_parsing", "expires_at");
    expect_422("PATCH", "/v1/keys/no-such-key", "{\"expires_at\": \"0001-01-01\"}",
               "datetime_from_date_parsing", "expires_at");
    expect_422("POST", "/v1/keys", "{\"metadata\": \"x\"}", "dict_type", "metadata");
    expect_422("POST", "/v1/keys", "{\"metadata\": [1]}", "dict_type", "metadata");
    expect_422("POST", "/v1/keys", "{\"metadata\": null}", "dict_type", "metadata");

    j = t_call("POST", "/v1/keys", T_AUTH_JSON, "{\"key_name\": 5}", 422);
    t_expect_422_item(j, 0, "string_type", "body", "key_name", "Input should be a valid string");
    ck_assert_int_eq(json_integer_value(
                         json_object_get(json_array_get(json_object_get(j, "detail"), 0), "input")),
                     5);
    json_decref(j);

    /* Every problem, in field order. */
    j = t_call("POST", "/v1/keys", T_AUTH_JSON,
               "{\"metadata\": 1, \"expires_at\": \"x\", \"user_id\": 2, \"key_name\": false}",
               422);
    ck_assert_int_eq(json_array_size(json_object_get(j, "detail")), 4);
    t_expect_422_item(j, 0, "string_type", "body", "key_name", NULL);
    t_expect_422_item(j, 1, "string_type", "body", "user_id", NULL);
    t_expect_422_item(j, 2, "datetime_from_date_parsing", "body", "expires_at", NULL);
    t_expect_422_item(j, 3, "dict_type", "body", "metadata", NULL);
    json_decref(j);

    /* The body itself: absent, not an object, malformed. */
    j = t_call("POST", "/v1/keys", T_AUTH, NULL, 422);
    t_expect_422_item(j, 0, "missing", "body", NULL, "Field required");
    json_decref(j);
    j = t_call("POST", "/v1/keys", T_AUTH_JSON, "[1]", 422);
    t_expect_422_item(j, 0, "model_attributes_type", "body", NULL, NULL);
    json_decref(j);
    j = t_call("POST", "/v1/keys", T_AUTH_JSON, "{\"key_name\": ", 422);
    t_expect_422_item(j, 0, "json_invalid", "body", NULL, "JSON decode error");
    json_decref(j);

    ck_assert_int_eq(t_sql_long("SELECT count(*) FROM api_keys"), before);
}
END_TEST

START_TEST(master_key_rules)
{
    static const char *const paths[][2] = {
        {"POST", "/v1/keys"},    {"GET", "/v1/keys"},      {"GET", "/v1/keys/x"},
        {"PATCH", "/v1/keys/x"}, {"DELETE", "/v1/keys/x"},
    };
    json_t *j, *k;
    char hdr[160];

    t_api_need();
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        const char *body = paths[i][0][0] == 'P' ? "{}" : NULL;
        t_expect_error(paths[i][0], paths[i][1], NULL, body, 401,
                       "Missing X-AnyLLM-Key or Authorization header");
        t_expect_error(paths[i][0], paths[i][1], "Authorization: Bearer wrong\r\n", body, 401,
                       "Invalid master key");
        t_expect_error(paths[i][0], paths[i][1], "Authorization: Token test-master-key\r\n", body,
                       401, "Invalid header format. Expected 'Bearer <token>'");
    }

    /* A valid virtual key is not the master key. */
    k = create_key("{}");
    snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s\r\n",
             json_string_value(json_object_get(k, "key")));
    t_expect_error("GET", "/v1/keys", hdr, NULL, 401, "Invalid master key");
    t_expect_error("POST", "/v1/keys", hdr, "{}", 401, "Invalid master key");
    json_decref(k);

    /* Auth runs before schema and query validation... */
    t_expect_error("POST", "/v1/keys", "Authorization: Bearer wrong\r\n", "{\"key_name\": 5}", 401,
                   "Invalid master key");
    t_expect_error("PATCH", "/v1/keys/x", NULL, "{\"is_active\": \"maybe\"}", 401,
                   "Missing X-AnyLLM-Key or Authorization header");
    t_expect_error("GET", "/v1/keys?limit=0", NULL, NULL, 401,
                   "Missing X-AnyLLM-Key or Authorization header");
    /* ...and before the body is parsed (DESIGN.md §2.14; the reference gives 422 first). */
    t_expect_error("POST", "/v1/keys", NULL, "{oops", 401,
                   "Missing X-AnyLLM-Key or Authorization header");
    t_expect_error("PATCH", "/v1/keys/x", "Authorization: Bearer wrong\r\n", "{oops", 401,
                   "Invalid master key");
    j = t_call("POST", "/v1/keys", T_AUTH, "{oops", 422);
    t_expect_422_item(j, 0, "json_invalid", "body", NULL, NULL);
    json_decref(j);

    /* The other header forms carry the master key too. */
    j = t_call("POST", "/v1/keys", "X-AnyLLM-Key: Bearer test-master-key\r\n", "{}", 200);
    json_decref(j);
    j = t_call("GET", "/v1/keys?limit=1", "x-api-key: test-master-key\r\n", NULL, 200);
    json_decref(j);
}
END_TEST

START_TEST(list_and_get)
{
    json_t *a, *b, *c, *j, *got;
    char path[160];
    long n;

    t_api_need();
    a = create_key("{\"key_name\": \"l1\"}");
    b = create_key("{\"key_name\": \"l2\", \"metadata\": {\"k\": 1}}");
    c = create_key("{\"key_name\": \"l3\", \"expires_at\": \"2040-01-01T00:00:00Z\"}");
    n = t_sql_long("SELECT count(*) FROM api_keys");
    ck_assert_int_ge(n, 3);

    j = t_call("GET", "/v1/keys", T_AUTH, NULL, 200);
    ck_assert(json_is_array(j));
    ck_assert_int_eq((long)json_array_size(j), n < 100 ? n : 100);
    for (size_t i = 0; i < json_array_size(j); i++)
        check_keyinfo(json_array_get(j, i));
    json_decref(j);

    /* Insertion order: the last three are ours, as KeyInfo. */
    snprintf(path, sizeof(path), "/v1/keys?skip=%ld&limit=3", n - 3);
    j = t_call("GET", path, T_AUTH, NULL, 200);
    ck_assert_int_eq(json_array_size(j), 3);
    ck_assert_str_eq(check_keyinfo(json_array_get(j, 0)), check_created(a));
    ck_assert_str_eq(check_keyinfo(json_array_get(j, 1)), check_created(b));
    ck_assert_str_eq(check_keyinfo(json_array_get(j, 2)), check_created(c));
    ck_assert(json_equal(json_object_get(json_array_get(j, 1), "metadata"),
                         json_object_get(b, "metadata")));
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(j, 2), "expires_at")),
                     "2040-01-01T00:00:00+00:00");
    json_decref(j);

    j = t_call("GET", "/v1/keys?limit=1", T_AUTH, NULL, 200);
    ck_assert_int_eq(json_array_size(j), 1);
    json_decref(j);
    j = t_call("GET", "/v1/keys?skip=100000", T_AUTH, NULL, 200);
    ck_assert_int_eq(json_array_size(j), 0);
    json_decref(j);
    j = t_call("GET", "/v1/keys?limit=1000&skip=0", T_AUTH, NULL, 200);
    json_decref(j);

    /* Pagination bounds. */
    t_expect_422_query("/v1/keys?skip=-1", "greater_than_equal", "skip");
    t_expect_422_query("/v1/keys?limit=0", "greater_than_equal", "limit");
    t_expect_422_query("/v1/keys?limit=1001", "less_than_equal", "limit");
    t_expect_422_query("/v1/keys?limit=10000", "less_than_equal", "limit");
    t_expect_422_query("/v1/keys?limit=abc", "int_parsing", "limit");

    snprintf(path, sizeof(path), "/v1/keys/%s", check_created(b));
    got = t_call("GET", path, T_AUTH, NULL, 200);
    check_keyinfo(got);
    ck_assert(json_equal(json_object_get(got, "metadata"), json_object_get(b, "metadata")));
    ck_assert(json_equal(json_object_get(got, "key_name"), json_object_get(b, "key_name")));
    json_decref(got);

    t_expect_error("GET", "/v1/keys/no-such-key", T_AUTH, NULL, 404,
                   "API key with id 'no-such-key' not found");
    json_decref(a);
    json_decref(b);
    json_decref(c);
}
END_TEST

START_TEST(update_key)
{
    json_t *k, *j;
    char path[128];
    const char *id;

    t_api_need();
    k = create_key("{\"key_name\": \"before\", \"metadata\": {\"a\": 1, \"b\": 2}, "
                   "\"expires_at\": \"2040-01-01T00:00:00Z\"}");
    id = check_created(k);
    snprintf(path, sizeof(path), "/v1/keys/%s", id);

    j = t_call("PATCH", path, T_AUTH_JSON, "{\"key_name\": \"after\", \"is_active\": false}", 200);
    ck_assert_str_eq(check_keyinfo(j), id);
    ck_assert_str_eq(json_string_value(json_object_get(j, "key_name")), "after");
    ck_assert(json_is_false(json_object_get(j, "is_active")));
    /* Untouched fields keep their values. */
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(j, "metadata"), "b")), 2);
    ck_assert_str_eq(json_string_value(json_object_get(j, "expires_at")),
                     "2040-01-01T00:00:00+00:00");
    ck_assert(json_equal(json_object_get(j, "created_at"), json_object_get(k, "created_at")));
    json_decref(j);
    t_assert_sql("after|0", "SELECT key_name || '|' || is_active FROM api_keys WHERE id = '%s'",
                 id);

    /* metadata is replaced, not merged; expires_at normalised. */
    j = t_call("PATCH", path, T_AUTH_JSON,
               "{\"metadata\": {\"c\": 3}, \"expires_at\": \"2041-05-06T07:08:09-01:00\"}", 200);
    ck_assert_int_eq(json_object_size(json_object_get(j, "metadata")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(j, "metadata"), "c")), 3);
    ck_assert_str_eq(json_string_value(json_object_get(j, "expires_at")),
                     "2041-05-06T08:08:09+00:00");
    ck_assert_str_eq(json_string_value(json_object_get(j, "key_name")), "after");
    json_decref(j);
    t_assert_sql("{\"c\":3}|2041-05-06T08:08:09+00:00",
                 "SELECT metadata || '|' || expires_at FROM api_keys WHERE id = '%s'", id);

    /* Nulls and an empty body change nothing (nothing can be cleared). */
    j = t_call(
        "PATCH", path, T_AUTH_JSON,
        "{\"key_name\": null, \"is_active\": null, \"expires_at\": null, \"metadata\": null}", 200);
    ck_assert_str_eq(json_string_value(json_object_get(j, "key_name")), "after");
    ck_assert(json_is_false(json_object_get(j, "is_active")));
    ck_assert_str_eq(json_string_value(json_object_get(j, "expires_at")),
                     "2041-05-06T08:08:09+00:00");
    json_decref(j);
    j = t_call("PATCH", path, T_AUTH_JSON, "{}", 200);
    ck_assert_int_eq(json_object_size(json_object_get(j, "metadata")), 1);
    json_decref(j);

    /* Reactivation is possible; lax booleans as pydantic. */
    j = t_call("PATCH", path, T_AUTH_JSON, "{\"is_active\": \"true\"}", 200);
    ck_assert(json_is_true(json_object_get(j, "is_active")));
    json_decref(j);

    /* The GET view agrees. */
    j = t_call("GET", path, T_AUTH, NULL, 200);
    ck_assert_str_eq(json_string_value(json_object_get(j, "key_name")), "after");
    ck_assert(json_is_true(json_object_get(j, "is_active")));
    json_decref(j);

    /* 422s and 404. */
    expect_422("PATCH", path, "{\"is_active\": \"maybe\"}", "bool_parsing", "is_active");
    expect_422("PATCH", path, "{\"is_active\": []}", "bool_type", "is_active");
    expect_422("PATCH", path, "{\"key_name\": 1}", "string_type", "key_name");
    expect_422("PATCH", path, "{\"metadata\": \"x\"}", "dict_type", "metadata");
    expect_422("PATCH", path, "{\"expires_at\": \"soon\"}", "datetime_from_date_parsing",
               "expires_at");
    j = t_call("PATCH", path, T_AUTH, NULL, 422);
    t_expect_422_item(j, 0, "missing", "body", NULL, "Field required");
    json_decref(j);
    t_expect_error("PATCH", "/v1/keys/no-such-key", T_AUTH_JSON, "{\"is_active\": false}", 404,
                   "API key with id 'no-such-key' not found");
    t_assert_sql("1", "SELECT is_active FROM api_keys WHERE id = '%s'", id);
    json_decref(k);
}
END_TEST

START_TEST(revocation_is_immediate)
{
    json_t *k, *j;
    char path[128];
    const char *key;

    t_api_need();
    k = create_key("{\"key_name\": \"rev\"}");
    key = json_string_value(json_object_get(k, "key"));
    snprintf(path, sizeof(path), "/v1/keys/%s", check_created(k));

    /* Usable right after creation (no restart, no DB lookup needed). */
    t_expect_key_auth(key, 200, NULL);

    /* PATCH is_active=false: refused at the very next request; reactivation works. */
    j = t_call("PATCH", path, T_AUTH_JSON, "{\"is_active\": false}", 200);
    json_decref(j);
    t_expect_key_auth(key, 401, "API key is inactive");
    j = t_call("PATCH", path, T_AUTH_JSON, "{\"is_active\": true}", 200);
    json_decref(j);
    t_expect_key_auth(key, 200, NULL);

    /* Expiry set in the past, then moved to the future. */
    j = t_call("PATCH", path, T_AUTH_JSON, "{\"expires_at\": \"2020-01-01T00:00:00Z\"}", 200);
    json_decref(j);
    t_expect_key_auth(key, 401, "API key has expired");
    j = t_call("PATCH", path, T_AUTH_JSON, "{\"expires_at\": \"2099-01-01T00:00:00Z\"}", 200);
    json_decref(j);
    t_expect_key_auth(key, 200, NULL);

    /* A metadata-only PATCH keeps the key usable. */
    j = t_call("PATCH", path, T_AUTH_JSON, "{\"metadata\": {\"x\": 1}}", 200);
    json_decref(j);
    t_expect_key_auth(key, 200, NULL);

    /* DELETE: gone at the next request. */
    t_call_204("DELETE", path, T_AUTH);
    t_expect_key_auth(key, 401, "Invalid API key");
    json_decref(k);
}
END_TEST

START_TEST(delete_key)
{
    json_t *k, *j;
    char path[128], msg[160], sql[1024], uid[64];
    const char *id;

    t_api_need();
    k = create_key("{\"key_name\": \"del\"}");
    id = check_created(k);
    snprintf(uid, sizeof(uid), "%s", json_string_value(json_object_get(k, "user_id")));
    snprintf(path, sizeof(path), "/v1/keys/%s", id);
    snprintf(msg, sizeof(msg), "API key with id '%s' not found", id);

    t_call_204("DELETE", path, T_AUTH);
    t_assert_sql("0", "SELECT count(*) FROM api_keys WHERE id = '%s'", id);
    t_expect_error("GET", path, T_AUTH, NULL, 404, msg);
    t_expect_error("DELETE", path, T_AUTH, NULL, 404, msg);
    t_expect_error("PATCH", path, T_AUTH_JSON, "{}", 404, msg);
    /* The key's virtual user is not deleted. */
    t_assert_sql("1", "SELECT count(*) FROM users WHERE user_id = '%s' AND deleted_at IS NULL",
                 uid);
    json_decref(k);

    /* A key with usage rows: the rows stay, their api_key_id becomes NULL. */
    k = create_key("{\"key_name\": \"used\"}");
    id = check_created(k);
    snprintf(uid, sizeof(uid), "%s", json_string_value(json_object_get(k, "user_id")));
    snprintf(path, sizeof(path), "/v1/keys/%s", id);
    snprintf(sql, sizeof(sql),
             "INSERT INTO usage_logs (id, api_key_id, user_id, timestamp, model, provider, "
             "endpoint, prompt_tokens, completion_tokens, total_tokens, cost, status) VALUES "
             "('u-del-1', '%s', '%s', '2025-01-01T00:00:00+00:00', 'gpt-4o', 'openai', "
             "'/v1/chat/completions', 10, 5, 15, 0.001, 'success'),"
             "('u-del-2', '%s', '%s', '2025-01-02T00:00:00+00:00', 'gpt-4o', 'openai', "
             "'/v1/chat/completions', 1, 1, 2, NULL, 'error')",
             id, uid, id, uid);
    ck_assert_int_eq(t_sql_exec(t_api.db, sql), 0);
    t_call_204("DELETE", path, T_AUTH);
    t_assert_sql("2|0", "SELECT count(*) || '|' || count(api_key_id) FROM usage_logs "
                        "WHERE id IN ('u-del-1', 'u-del-2')");
    t_assert_sql(uid, "SELECT user_id FROM usage_logs WHERE id = 'u-del-1'");
    snprintf(path, sizeof(path), "/v1/users/%s/usage", uid);
    j = t_call("GET", path, T_AUTH, NULL, 200);
    ck_assert_int_eq(json_array_size(j), 2);
    ck_assert(json_is_null(json_object_get(json_array_get(j, 0), "api_key_id")));
    json_decref(j);
    json_decref(k);

    t_expect_error("DELETE", "/v1/keys/no-such-key", T_AUTH, NULL, 404,
                   "API key with id 'no-such-key' not found");
}
END_TEST

START_TEST(no_master_key_503)
{
    static const char msg[] =
        "Master key not configured. Set GATEWAY_MASTER_KEY environment variable.";

    t_api_need();
    t_expect_error("POST", "/v1/keys", T_AUTH_JSON, "{}", 503, msg);
    t_expect_error("POST", "/v1/keys", NULL, "{\"key_name\": 5}", 503, msg);
    t_expect_error("GET", "/v1/keys", NULL, NULL, 503, msg);
    t_expect_error("GET", "/v1/keys?limit=0", T_AUTH, NULL, 503, msg);
    t_expect_error("GET", "/v1/keys/x", "Authorization: Basic x\r\n", NULL, 503, msg);
    t_expect_error("PATCH", "/v1/keys/x", T_AUTH_JSON, "{}", 503, msg);
    t_expect_error("DELETE", "/v1/keys/x", T_AUTH, NULL, 503, msg);
    /* Also before the body is parsed (DESIGN.md §2.14; the reference gives 422 first). */
    t_expect_error("POST", "/v1/keys", NULL, "{oops", 503, msg);
    ck_assert_int_eq(t_sql_long("SELECT count(*) FROM api_keys"), 0);
}
END_TEST

/* Reads a whole (binary) file; *len = its size. Returns owned buffer, or NULL when absent. */
static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 0, n;

    *len = 0;
    if (f == NULL)
        return NULL;
    for (;;) {
        if (*len + 65536 > cap) {
            cap = cap * 2 + 65536;
            buf = realloc(buf, cap);
            ck_assert_ptr_nonnull(buf);
        }
        n = fread(buf + *len, 1, cap - *len, f);
        if (n == 0)
            break;
        *len += n;
    }
    fclose(f);
    return buf;
}

/* True when needle (non-empty) occurs in the len bytes of buf. */
static bool contains(const char *buf, size_t len, const char *needle)
{
    size_t n = strlen(needle);

    for (size_t i = 0; n <= len && i <= len - n; i++) {
        if (buf[i] == needle[0] && memcmp(buf + i, needle, n) == 0)
            return true;
    }
    return false;
}

/* Asserts that secret occurs in none of the files (database, its WAL, the log). */
static void assert_nowhere(const struct t_gw *g, const char *secret)
{
    char paths[4][300];

    snprintf(paths[0], sizeof(paths[0]), "%s", g->db);
    snprintf(paths[1], sizeof(paths[1]), "%s-wal", g->db);
    snprintf(paths[2], sizeof(paths[2]), "%s-journal", g->db);
    snprintf(paths[3], sizeof(paths[3]), "%s", g->logpath);
    for (size_t i = 0; i < 4; i++) {
        size_t len;
        char *buf = read_all(paths[i], &len);
        if (buf != NULL)
            ck_assert_msg(!contains(buf, len, secret), "secret found in %s", paths[i]);
        free(buf);
    }
}

/*
 * Its own gateway (started and stopped inside the test): the plaintext keys and the master key
 * never reach the database or the log, not even in error replies, and the gateway exits 0 on
 * SIGTERM after serving every key endpoint.
 */
START_TEST(secrets_and_clean_exit)
{
    struct t_gw g;
    struct t_resp r;
    char keys[3][80], path[128], hdr[200], hex[SHA256_HEX_LEN];
    json_t *j;

    ck_assert_int_eq(
        t_gw_start(&g, "master_key: " T_MASTER_KEY "\nbootstrap_api_key: false\nlog_level: debug\n",
                   NULL, NULL),
        0);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(t_http(g.port, "POST", "/v1/keys", T_AUTH_JSON,
                                i == 1 ? "{\"user_id\": \"sec-user\"}" : "{\"key_name\": \"s\"}",
                                &r),
                         0);
        ck_assert_int_eq(r.status, 200);
        j = t_json(&r);
        snprintf(keys[i], sizeof(keys[i]), "%s", json_string_value(json_object_get(j, "key")));
        if (i == 2)
            snprintf(path, sizeof(path), "/v1/keys/%s",
                     json_string_value(json_object_get(j, "id")));
        json_decref(j);
        t_resp_free(&r);
    }
    /* Used, revoked, refused, deleted: the key never shows up in a reply or the log. */
    snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s\r\n", keys[2]);
    ck_assert_int_eq(t_http(g.port, "GET", "/v1/models", hdr, NULL, &r), 0);
    ck_assert_int_eq(r.status, 200);
    t_resp_free(&r);
    ck_assert_int_eq(t_http(g.port, "PATCH", path, T_AUTH_JSON, "{\"is_active\": false}", &r), 0);
    ck_assert_int_eq(r.status, 200);
    t_resp_free(&r);
    ck_assert_int_eq(t_http(g.port, "GET", "/v1/models", hdr, NULL, &r), 0);
    ck_assert_int_eq(r.status, 401);
    ck_assert_ptr_null(strstr(r.body, keys[2]));
    t_resp_free(&r);
    ck_assert_int_eq(t_http(g.port, "GET", "/v1/keys", hdr, NULL, &r), 0);
    ck_assert_int_eq(r.status, 401);
    ck_assert_ptr_null(strstr(r.body, keys[2]));
    ck_assert_ptr_null(strstr(r.body, "test-master-key"));
    t_resp_free(&r);
    ck_assert_int_eq(t_http(g.port, "DELETE", path, T_AUTH, NULL, &r), 0);
    ck_assert_int_eq(r.status, 204);
    t_resp_free(&r);
    ck_assert_int_eq(t_http(g.port, "GET", "/v1/keys", T_AUTH, NULL, &r), 0);
    ck_assert_int_eq(r.status, 200);
    for (int i = 0; i < 3; i++)
        ck_assert_ptr_null(strstr(r.body, keys[i]));
    t_resp_free(&r);

    /* The hash is stored; the plaintext nowhere. */
    {
        char q[200], *v;
        snprintf(q, sizeof(q), "SELECT count(*) FROM api_keys WHERE key_hash = '%s'",
                 sha256_hex(keys[0], strlen(keys[0]), hex));
        v = t_sql(g.db, q);
        ck_assert_str_eq(v, "1");
        free(v);
    }
    for (int i = 0; i < 3; i++)
        assert_nowhere(&g, keys[i]);
    assert_nowhere(&g, "test-master-key");
    ck_assert_int_eq(t_gw_stop(&g, SIGTERM, 10000), 0);
}
END_TEST

Suite *e2e_keys_suite(void)
{
    Suite *s = suite_create("e2e_keys");
    TCase *tc = tcase_create("keys");
    TCase *nm = tcase_create("no_master_key");
    TCase *own = tcase_create("own_gateway");

    tcase_add_unchecked_fixture(tc, t_api_up_master, t_api_down);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, create_key_basic);
    tcase_add_test(tc, create_key_expiry_and_metadata);
    tcase_add_test(tc, create_key_for_user);
    tcase_add_test(tc, create_key_422);
    tcase_add_test(tc, master_key_rules);
    tcase_add_test(tc, list_and_get);
    tcase_add_test(tc, update_key);
    tcase_add_test(tc, revocation_is_immediate);
    tcase_add_test(tc, delete_key);
    t_api_add_shutdown_test(tc);
    suite_add_tcase(s, tc);

    tcase_add_unchecked_fixture(nm, t_api_up_no_master, t_api_down);
    tcase_set_timeout(nm, 30);
    tcase_add_test(nm, no_master_key_503);
    t_api_add_shutdown_test(nm);
    suite_add_tcase(s, nm);

    tcase_set_timeout(own, 30);
    tcase_add_test(own, secrets_and_clean_exit);
    suite_add_tcase(s, own);
    return s;
}
