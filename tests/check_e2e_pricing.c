/*
 * End-to-end tests of the pricing (spec §1.10) and models (spec §1.6) endpoints against the real
 * binary: upsert with model-key normalisation, 400 for bad model keys (DESIGN.md §2.2), every
 * 422 case, unauthenticated reads, pagination, delete; the OpenAI model list built from the
 * pricing rows, with the master key and with virtual keys.
 */
#include <check.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "t_api.h"

static void gw_up_master(void)
{
    t_api_up("master_key: test-master-key\n");
}

static void gw_up_no_master(void)
{
    t_api_up(NULL);
}

/* Asserts the DESIGN.md §2.3 error shape with this detail string and error type. */
static void expect_error(const char *method, const char *path, const char *headers,
                         const char *body, int status, const char *detail, const char *type)
{
    json_t *j = t_call(method, path, headers, body, status), *e;

    ck_assert_str_eq(json_string_value(json_object_get(j, "detail")), detail);
    e = json_object_get(j, "error");
    ck_assert_str_eq(json_string_value(json_object_get(e, "message")), detail);
    ck_assert_str_eq(json_string_value(json_object_get(e, "type")), type);
    json_decref(j);
}

/* POST /v1/pricing with the master key, expecting 422 with one item of type on field. */
static void expect_422(const char *body, const char *type, const char *field)
{
    json_t *j = t_call("POST", "/v1/pricing", T_AUTH, body, 422);

    ck_assert_int_eq(json_array_size(json_object_get(j, "detail")), 1);
    t_expect_422_item(j, 0, type, "body", field, NULL);
    json_decref(j);
}

/* Asserts that the first column of the first row of the query (printf-style) equals want. */

/* Checks the PricingResponse shape and values. */
static void check_price(json_t *j, const char *key, double in, double out)
{
    const char *c = json_string_value(json_object_get(j, "created_at"));
    const char *u = json_string_value(json_object_get(j, "updated_at"));

    ck_assert_int_eq(json_object_size(j), 5);
    ck_assert_str_eq(json_string_value(json_object_get(j, "model_key")), key);
    ck_assert(json_is_number(json_object_get(j, "input_price_per_million")));
    ck_assert(json_is_number(json_object_get(j, "output_price_per_million")));
    ck_assert_double_eq(json_number_value(json_object_get(j, "input_price_per_million")), in);
    ck_assert_double_eq(json_number_value(json_object_get(j, "output_price_per_million")), out);
    ck_assert_ptr_nonnull(c);
    ck_assert_ptr_nonnull(u);
    ck_assert_msg(t_ends_with(c, "+00:00"), "created_at %s", c);
    ck_assert_msg(t_ends_with(u, "+00:00"), "updated_at %s", u);
}

/* Sets a price with the master key and returns the response (owned). */
static json_t *set_price(const char *key, double in, double out)
{
    size_t len = strlen(key) + 128; /* the key may be of any length */
    char *body = malloc(len);
    json_t *j;

    ck_assert_ptr_nonnull(body);
    snprintf(body, len,
             "{\"model_key\": \"%s\", \"input_price_per_million\": %.17g, "
             "\"output_price_per_million\": %.17g}",
             key, in, out);
    j = t_call("POST", "/v1/pricing", T_AUTH, body, 200);
    free(body);
    return j;
}

static void no_content(const char *method, const char *path, const char *headers)
{
    struct t_resp r;

    ck_assert_int_eq(t_http(t_api.port, method, path, headers, NULL, &r), 0);
    ck_assert_msg(r.status == 204, "%s %s: status %d; body %s", method, path, r.status, r.body);
    ck_assert_int_eq(r.body_len, 0);
    t_resp_free(&r);
}

/* ---- pricing ---- */

START_TEST(set_and_upsert)
{
    json_t *a, *b, *g;
    const char *created;

    t_api_need();
    a = set_price("openai:gpt-4o", 2.5, 10);
    check_price(a, "openai:gpt-4o", 2.5, 10);
    created = json_string_value(json_object_get(a, "created_at"));
    ck_assert_str_eq(created, json_string_value(json_object_get(a, "updated_at")));
    t_assert_sql("2.5|10.0",
                 "SELECT input_price_per_million || '|' || output_price_per_million FROM "
                 "model_pricing WHERE model_key = '%s'",
                 "openai:gpt-4o");

    /* Upsert: the same key updates prices and updated_at, keeps created_at. */
    b = set_price("openai:gpt-4o", 3, 12.75);
    check_price(b, "openai:gpt-4o", 3, 12.75);
    ck_assert_str_eq(json_string_value(json_object_get(b, "created_at")), created);
    ck_assert_msg(strcmp(json_string_value(json_object_get(b, "updated_at")), created) > 0,
                  "updated_at not after created_at");
    t_assert_sql("1", "SELECT count(*) FROM model_pricing WHERE model_key = '%s'", "openai:gpt-4o");
    t_assert_sql("3.0|12.75",
                 "SELECT input_price_per_million || '|' || output_price_per_million FROM "
                 "model_pricing WHERE model_key = '%s'",
                 "openai:gpt-4o");

    /* GET (no auth) returns the stored row. */
    g = t_call("GET", "/v1/pricing/openai:gpt-4o", NULL, NULL, 200);
    ck_assert(json_equal(g, b));
    json_decref(g);
    /* Percent-encoded path parameters are decoded. */
    g = t_call("GET", "/v1/pricing/openai%3Agpt-4o", NULL, NULL, 200);
    ck_assert(json_equal(g, b));
    json_decref(g);

    /* Zero prices are allowed; numeric strings are coerced. */
    g = set_price("anthropic:claude-free", 0, 0);
    check_price(g, "anthropic:claude-free", 0, 0);
    json_decref(g);
    g = t_call("POST", "/v1/pricing", T_AUTH,
               "{\"model_key\": \"mistral:small\", \"input_price_per_million\": \"0.25\", "
               "\"output_price_per_million\": 1, \"extra\": true}",
               200);
    check_price(g, "mistral:small", 0.25, 1);
    json_decref(g);
    json_decref(a);
    json_decref(b);
}
END_TEST

START_TEST(prices_print_as_written)
{
    struct t_resp r;

    t_api_need();
    ck_assert_int_eq(t_http(t_api.port, "POST", "/v1/pricing", T_AUTH,
                            "{\"model_key\": \"openai:gpt-4o-mini\", "
                            "\"input_price_per_million\": 0.15, "
                            "\"output_price_per_million\": 0.6}",
                            &r),
                     0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_msg(strstr(r.body, "\"input_price_per_million\":0.15,") != NULL &&
                      strstr(r.body, "\"output_price_per_million\":0.6,") != NULL,
                  "prices not printed as written: %s", r.body);
    t_resp_free(&r);
}
END_TEST

START_TEST(model_key_normalised)
{
    json_t *j;

    t_api_need();
    /* The legacy slash form is stored as provider:model. */
    j = set_price("gemini/gemini-2.5-flash", 0.3, 2.5);
    check_price(j, "gemini:gemini-2.5-flash", 0.3, 2.5);
    json_decref(j);
    t_assert_sql("0", "SELECT count(*) FROM model_pricing WHERE model_key = '%s'",
                 "gemini/gemini-2.5-flash");
    t_assert_sql("1", "SELECT count(*) FROM model_pricing WHERE model_key = '%s'",
                 "gemini:gemini-2.5-flash");
    j = t_call("GET", "/v1/pricing/gemini:gemini-2.5-flash", NULL, NULL, 200);
    check_price(j, "gemini:gemini-2.5-flash", 0.3, 2.5);
    json_decref(j);

    /* Only the first separator counts: the model part keeps its slashes and colons. */
    j = set_price("huggingface/meta-llama/Llama-3:8b", 1, 2);
    check_price(j, "huggingface:meta-llama/Llama-3:8b", 1, 2);
    json_decref(j);
    j = set_price("openrouter:openai/gpt-4o", 1, 2);
    check_price(j, "openrouter:openai/gpt-4o", 1, 2);
    json_decref(j);

    /* Posting the slash form again updates the same row. */
    j = set_price("gemini/gemini-2.5-flash", 0.5, 3);
    check_price(j, "gemini:gemini-2.5-flash", 0.5, 3);
    json_decref(j);
    t_assert_sql("1", "SELECT count(*) FROM model_pricing WHERE model_key LIKE '%s'", "gemini%");
}
END_TEST

START_TEST(bad_model_key_400)
{
    static const char fmt[] = "{\"model_key\": \"%s\", \"input_price_per_million\": 1, "
                              "\"output_price_per_million\": 1}";
    static const char *const bad[] = {
        "gpt-4o", "nope:model", ":gpt-4o", "openai:", "/x", "OpenAI:gpt-4o", ""};
    char body[256], *before, *after;
    json_t *j;

    t_api_need();
    before = t_sql(t_api.db, "SELECT count(*) FROM model_pricing");
    ck_assert_ptr_nonnull(before);

    snprintf(body, sizeof(body), fmt, "gpt-4o");
    expect_error("POST", "/v1/pricing", T_AUTH, body, 400,
                 "Invalid model format. Expected 'provider:model' or 'provider/model', got "
                 "'gpt-4o'",
                 "invalid_request_error");
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *d;
        snprintf(body, sizeof(body), fmt, bad[i]);
        j = t_call("POST", "/v1/pricing", T_AUTH, body, 400);
        d = json_string_value(json_object_get(j, "detail"));
        ck_assert_ptr_nonnull(d);
        /* The message names the valid form. */
        ck_assert_msg(strstr(d, "provider:model") != NULL, "%s: %s", bad[i], d);
        ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "error"), "type")),
                         "invalid_request_error");
        json_decref(j);
    }
    snprintf(body, sizeof(body), fmt, "nope:model");
    j = t_call("POST", "/v1/pricing", T_AUTH, body, 400);
    ck_assert(strncmp(json_string_value(json_object_get(j, "detail")),
                      "'nope' is not a supported provider", 34) == 0);
    json_decref(j);

    after = t_sql(t_api.db, "SELECT count(*) FROM model_pricing");
    ck_assert_str_eq(before, after);
    free(before);
    free(after);
}
END_TEST

START_TEST(set_price_422)
{
    json_t *j;

    t_api_need();
    j = t_call("POST", "/v1/pricing", T_AUTH,
               "{\"model_key\": \"openai:x\", \"input_price_per_million\": -1, "
               "\"output_price_per_million\": 1}",
               422);
    ck_assert_int_eq(json_array_size(json_object_get(j, "detail")), 1);
    t_expect_422_item(j, 0, "greater_than_equal", "body", "input_price_per_million",
                      "Input should be greater than or equal to 0");
    json_decref(j);
    expect_422("{\"model_key\": \"openai:x\", \"input_price_per_million\": 1, "
               "\"output_price_per_million\": -0.5}",
               "greater_than_equal", "output_price_per_million");

    /* Everything missing: three items in field order. */
    j = t_call("POST", "/v1/pricing", T_AUTH, "{}", 422);
    ck_assert_int_eq(json_array_size(json_object_get(j, "detail")), 3);
    t_expect_422_item(j, 0, "missing", "body", "model_key", "Field required");
    t_expect_422_item(j, 1, "missing", "body", "input_price_per_million", "Field required");
    t_expect_422_item(j, 2, "missing", "body", "output_price_per_million", "Field required");
    json_decref(j);

    /* The docs' "model" field is not the API's "model_key". */
    j = t_call("POST", "/v1/pricing", T_AUTH,
               "{\"model\": \"openai:x\", \"input_price_per_million\": 1, "
               "\"output_price_per_million\": 1}",
               422);
    ck_assert_int_eq(json_array_size(json_object_get(j, "detail")), 1);
    t_expect_422_item(j, 0, "missing", "body", "model_key", NULL);
    json_decref(j);

    expect_422("{\"model_key\": 5, \"input_price_per_million\": 1, "
               "\"output_price_per_million\": 1}",
               "string_type", "model_key");
    expect_422("{\"model_key\": null, \"input_price_per_million\": 1, "
               "\"output_price_per_million\": 1}",
               "string_type", "model_key");
    expect_422("{\"model_key\": \"openai:x\", \"input_price_per_million\": \"abc\", "
               "\"output_price_per_million\": 1}",
               "float_parsing", "input_price_per_million");
    expect_422("{\"model_key\": \"openai:x\", \"input_price_per_million\": 1, "
               "\"output_price_per_million\": null}",
               "float_type", "output_price_per_million");

    /* Validation (422) comes before the model-key check (400). */
    expect_422("{\"model_key\": \"bogus\", \"input_price_per_million\": -1, "
               "\"output_price_per_million\": 1}",
               "greater_than_equal", "input_price_per_million");

    j = t_call("POST", "/v1/pricing", T_AUTH, NULL, 422);
    t_expect_422_item(j, 0, "missing", "body", NULL, "Field required");
    json_decref(j);
    j = t_call("POST", "/v1/pricing", T_AUTH, "\"openai:x\"", 422);
    t_expect_422_item(j, 0, "model_attributes_type", "body", NULL, NULL);
    json_decref(j);
    j = t_call("POST", "/v1/pricing", T_AUTH, "{\"model_key\": ", 422);
    t_expect_422_item(j, 0, "json_invalid", "body", NULL, "JSON decode error");
    json_decref(j);
    t_assert_sql("0", "SELECT count(*) FROM model_pricing WHERE model_key = '%s'", "openai:x");
}
END_TEST

START_TEST(pricing_auth)
{
    static const char body[] = "{\"model_key\": \"openai:auth-test\", "
                               "\"input_price_per_million\": 1, \"output_price_per_million\": 1}";
    json_t *j;

    t_api_need();
    expect_error("POST", "/v1/pricing", NULL, body, 401,
                 "Missing X-AnyLLM-Key or Authorization header", "authentication_error");
    expect_error("POST", "/v1/pricing", "Authorization: Basic x\r\n", body, 401,
                 "Invalid header format. Expected 'Bearer <token>'", "authentication_error");
    expect_error("POST", "/v1/pricing", "Authorization: Bearer wrong\r\n", body, 401,
                 "Invalid master key", "authentication_error");
    expect_error("DELETE", "/v1/pricing/openai:auth-test", NULL, NULL, 401,
                 "Missing X-AnyLLM-Key or Authorization header", "authentication_error");
    expect_error("DELETE", "/v1/pricing/openai:auth-test", "Authorization: Bearer wrong\r\n", NULL,
                 401, "Invalid master key", "authentication_error");
    /* Auth before validation, the model-key check and the body parse (DESIGN.md §2.14). */
    expect_error("POST", "/v1/pricing", NULL, "{\"input_price_per_million\": -1}", 401,
                 "Missing X-AnyLLM-Key or Authorization header", "authentication_error");
    expect_error("POST", "/v1/pricing", "Authorization: Bearer wrong\r\n",
                 "{\"model_key\": \"bogus\", \"input_price_per_million\": 1, "
                 "\"output_price_per_million\": 1}",
                 401, "Invalid master key", "authentication_error");
    expect_error("POST", "/v1/pricing", NULL, "{nope", 401,
                 "Missing X-AnyLLM-Key or Authorization header", "authentication_error");
    j = t_call("POST", "/v1/pricing", T_AUTH, "{nope", 422);
    t_expect_422_item(j, 0, "json_invalid", "body", NULL, NULL);
    json_decref(j);
    t_assert_sql("0", "SELECT count(*) FROM model_pricing WHERE model_key = '%s'",
                 "openai:auth-test");

    /* Other header forms carry the master key too. */
    j = t_call("POST", "/v1/pricing", "X-AnyLLM-Key: Bearer test-master-key\r\n", body, 200);
    json_decref(j);
    j = t_call("POST", "/v1/pricing", "AnyLLM-Key: Bearer test-master-key\r\n", body, 200);
    json_decref(j);

    /* Reads need no credentials, and ignore wrong ones. */
    j = t_call("GET", "/v1/pricing", NULL, NULL, 200);
    ck_assert(json_is_array(j));
    json_decref(j);
    j = t_call("GET", "/v1/pricing/openai:auth-test", "Authorization: Bearer wrong\r\n", NULL, 200);
    check_price(j, "openai:auth-test", 1, 1);
    json_decref(j);

    no_content("DELETE", "/v1/pricing/openai:auth-test", "x-api-key: test-master-key\r\n");
}
END_TEST

START_TEST(list_and_pagination)
{
    json_t *j, *a, *b;
    char path[128], *count;
    long n;

    t_api_need();
    a = set_price("groq:list-a", 1, 2);
    b = set_price("groq:list-b", 3, 4);
    count = t_sql(t_api.db, "SELECT count(*) FROM model_pricing");
    ck_assert_ptr_nonnull(count);
    n = strtol(count, NULL, 10);
    free(count);
    ck_assert_int_ge(n, 2);

    j = t_call("GET", "/v1/pricing", NULL, NULL, 200);
    ck_assert_int_eq((long)json_array_size(j), n);
    for (size_t i = 0; i < json_array_size(j); i++)
        ck_assert_int_eq(json_object_size(json_array_get(j, i)), 5);
    json_decref(j);

    snprintf(path, sizeof(path), "/v1/pricing?skip=%ld&limit=2", n - 2);
    j = t_call("GET", path, NULL, NULL, 200);
    ck_assert_int_eq(json_array_size(j), 2);
    ck_assert(json_equal(json_array_get(j, 0), a));
    ck_assert(json_equal(json_array_get(j, 1), b));
    json_decref(j);
    j = t_call("GET", "/v1/pricing?limit=1", NULL, NULL, 200);
    ck_assert_int_eq(json_array_size(j), 1);
    json_decref(j);
    j = t_call("GET", "/v1/pricing?skip=100000", NULL, NULL, 200);
    ck_assert_int_eq(json_array_size(j), 0);
    json_decref(j);
    j = t_call("GET", "/v1/pricing?limit=1000", NULL, NULL, 200);
    json_decref(j);
    j = t_call("GET", "/v1/pricing?limit=100", NULL, NULL, 200);
    json_decref(j);

    j = t_call("GET", "/v1/pricing?limit=10000", NULL, NULL, 422);
    t_expect_422_item(j, 0, "less_than_equal", "query", "limit",
                      "Input should be less than or equal to 1000");
    json_decref(j);
    j = t_call("GET", "/v1/pricing?limit=0", NULL, NULL, 422);
    t_expect_422_item(j, 0, "greater_than_equal", "query", "limit", NULL);
    json_decref(j);
    j = t_call("GET", "/v1/pricing?skip=-1", NULL, NULL, 422);
    t_expect_422_item(j, 0, "greater_than_equal", "query", "skip", NULL);
    json_decref(j);
    j = t_call("GET", "/v1/pricing?skip=x", NULL, NULL, 422);
    t_expect_422_item(j, 0, "int_parsing", "query", "skip", NULL);
    json_decref(j);
    json_decref(a);
    json_decref(b);
}
END_TEST

START_TEST(get_and_delete)
{
    json_t *j;

    t_api_need();
    j = set_price("xai:grok-del", 1, 2);
    json_decref(j);

    /* Exact match, no normalisation on read. */
    expect_error("GET", "/v1/pricing/xai:grok-nope", NULL, NULL, 404,
                 "Pricing for model 'xai:grok-nope' not found", "not_found_error");
    expect_error("GET", "/v1/pricing/XAI:grok-del", NULL, NULL, 404,
                 "Pricing for model 'XAI:grok-del' not found", "not_found_error");
    /* Not a path parameter: a slash is another route (none). */
    expect_error("GET", "/v1/pricing/xai/grok-del", NULL, NULL, 404, "Not Found",
                 "not_found_error");

    no_content("DELETE", "/v1/pricing/xai:grok-del", T_AUTH);
    t_assert_sql("0", "SELECT count(*) FROM model_pricing WHERE model_key = '%s'", "xai:grok-del");
    expect_error("GET", "/v1/pricing/xai:grok-del", NULL, NULL, 404,
                 "Pricing for model 'xai:grok-del' not found", "not_found_error");
    expect_error("DELETE", "/v1/pricing/xai:grok-del", T_AUTH, NULL, 404,
                 "Pricing for model 'xai:grok-del' not found", "not_found_error");

    /* A legacy slash row is listed but not addressable, not even percent-encoded (the path
     * is decoded before routing, as Starlette does). */
    ck_assert_int_eq(t_sql_exec(t_api.db, "INSERT INTO model_pricing VALUES ('xai/legacy', 1, 2, "
                                          "'2025-01-01T00:00:00+00:00', "
                                          "'2025-01-01T00:00:00+00:00')"),
                     0);
    expect_error("GET", "/v1/pricing/xai%2Flegacy", NULL, NULL, 404, "Not Found",
                 "not_found_error");
    j = t_call("GET", "/v1/pricing?limit=1000", NULL, NULL, 200);
    /* Lists are in creation order on both backends: the 2025 row comes first. */
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(j, 0), "model_key")),
                     "xai/legacy");
    json_decref(j);
}
END_TEST

/*
 * A 1007-byte model key is stored, served, listed and deleted whole (regression: the in-memory
 * price kept 255 bytes of it for /v1/models, and a path parameter over 511 bytes matched no
 * route).
 */
START_TEST(long_model_key)
{
    char *key = t_long_str("openai:", 'm', 1000), path[1100];
    json_t *j, *d;
    bool listed = false;

    t_api_need();
    j = set_price(key, 3, 4);
    check_price(j, key, 3, 4);
    json_decref(j);
    snprintf(path, sizeof(path), "/v1/pricing/%s", key);
    j = t_call("GET", path, NULL, NULL, 200);
    check_price(j, key, 3, 4);
    json_decref(j);
    snprintf(path, sizeof(path), "/v1/models/%s", key);
    j = t_call("GET", path, T_AUTH, NULL, 200);
    ck_assert_str_eq(json_string_value(json_object_get(j, "id")), key);
    json_decref(j);
    j = t_call("GET", "/v1/models", T_AUTH, NULL, 200);
    d = json_object_get(j, "data");
    for (size_t i = 0; i < json_array_size(d); i++) {
        const char *id = json_string_value(json_object_get(json_array_get(d, i), "id"));
        ck_assert_msg(id == NULL || strncmp(id, key, 255) != 0 || strcmp(id, key) == 0,
                      "model id cut at %zu bytes", strlen(id));
        listed = listed || (id != NULL && strcmp(id, key) == 0);
    }
    ck_assert_msg(listed, "the long model key is not listed");
    json_decref(j);
    snprintf(path, sizeof(path), "/v1/pricing/%s", key);
    no_content("DELETE", path, T_AUTH);
    t_assert_sql("0", "SELECT count(*) FROM model_pricing WHERE length(model_key) = 1007");
    free(key);
}
END_TEST

START_TEST(no_master_key)
{
    static const char msg[] =
        "Master key not configured. Set GATEWAY_MASTER_KEY environment variable.";
    json_t *j;

    t_api_need();
    expect_error("POST", "/v1/pricing", T_AUTH,
                 "{\"model_key\": \"openai:x\", \"input_price_per_million\": 1, "
                 "\"output_price_per_million\": 1}",
                 503, msg, "service_unavailable_error");
    expect_error("DELETE", "/v1/pricing/openai:x", NULL, NULL, 503, msg,
                 "service_unavailable_error");
    j = t_call("GET", "/v1/pricing", NULL, NULL, 200);
    ck_assert_int_eq(json_array_size(j), 0);
    json_decref(j);
    expect_error("GET", "/v1/pricing/openai:x", NULL, NULL, 404,
                 "Pricing for model 'openai:x' not found", "not_found_error");
    /* Models still authenticate virtual keys without a master key. */
    expect_error("GET", "/v1/models", T_AUTH, NULL, 401,
                 "Invalid API key format: API key must start with 'gw-' prefix",
                 "authentication_error");
}
END_TEST

/* ---- models ---- */

static json_t *models(const char *headers)
{
    json_t *j = t_call("GET", "/v1/models", headers, NULL, 200);

    ck_assert_int_eq(json_object_size(j), 2);
    ck_assert_str_eq(json_string_value(json_object_get(j, "object")), "list");
    ck_assert(json_is_array(json_object_get(j, "data")));
    return j;
}

static void check_model(json_t *m, const char *id, const char *owner)
{
    ck_assert_int_eq(json_object_size(m), 4);
    ck_assert_str_eq(json_string_value(json_object_get(m, "id")), id);
    ck_assert_str_eq(json_string_value(json_object_get(m, "object")), "model");
    ck_assert(json_is_integer(json_object_get(m, "created")));
    ck_assert_str_eq(json_string_value(json_object_get(m, "owned_by")), owner);
}

START_TEST(models_empty)
{
    json_t *j;

    t_api_need();
    j = models(T_AUTH);
    ck_assert_int_eq(json_array_size(json_object_get(j, "data")), 0);
    json_decref(j);
}
END_TEST

START_TEST(models_list_sorted)
{
    json_t *j, *d, *p;
    long long now = (long long)time(NULL), created;

    t_api_need();
    p = set_price("openai:gpt-4o", 1, 2);
    json_decref(p);
    p = set_price("anthropic:claude-3", 1, 2);
    json_decref(p);
    p = set_price("mistral/large", 1, 2);
    json_decref(p);
    p = set_price("openrouter:openai/gpt-4o", 1, 2);
    json_decref(p);
    /* Legacy rows without ':' (loaded at start-up) are covered by e2e_boot. */
    j = models(T_AUTH);
    d = json_object_get(j, "data");
    ck_assert_int_eq(json_array_size(d), 4);
    check_model(json_array_get(d, 0), "anthropic:claude-3", "anthropic");
    check_model(json_array_get(d, 1), "mistral:large", "mistral");
    check_model(json_array_get(d, 2), "openai:gpt-4o", "openai");
    check_model(json_array_get(d, 3), "openrouter:openai/gpt-4o", "openrouter");
    created = json_integer_value(json_object_get(json_array_get(d, 0), "created"));
    ck_assert_msg(created >= now - 5 && created <= now + 5, "created %lld, now %lld", created, now);
    json_decref(j);

    /* Other header forms. */
    j = models("X-AnyLLM-Key: Bearer test-master-key\r\n");
    ck_assert_int_eq(json_array_size(json_object_get(j, "data")), 4);
    json_decref(j);
    j = models("AnyLLM-Key: Bearer test-master-key\r\n");
    json_decref(j);
    j = models("x-api-key: test-master-key\r\n");
    json_decref(j);
}
END_TEST

START_TEST(models_get)
{
    json_t *j, *p;

    t_api_need();
    p = set_price("deepseek:chat", 1, 2);
    json_decref(p);
    p = set_price("openrouter:openai/gpt-4o", 1, 2);
    json_decref(p);

    j = t_call("GET", "/v1/models/deepseek:chat", T_AUTH, NULL, 200);
    check_model(j, "deepseek:chat", "deepseek");
    json_decref(j);
    /* The id is a path parameter: it may contain '/'. */
    j = t_call("GET", "/v1/models/openrouter:openai/gpt-4o", T_AUTH, NULL, 200);
    check_model(j, "openrouter:openai/gpt-4o", "openrouter");
    json_decref(j);

    expect_error("GET", "/v1/models/deepseek:nope", T_AUTH, NULL, 404,
                 "Model 'deepseek:nope' not found", "not_found_error");
    expect_error("GET", "/v1/models/a/b/c", T_AUTH, NULL, 404, "Model 'a/b/c' not found",
                 "not_found_error");
    /* Exact match: the slash form of a colon key is another id. */
    expect_error("GET", "/v1/models/deepseek/chat", T_AUTH, NULL, 404,
                 "Model 'deepseek/chat' not found", "not_found_error");
    /* Deleting the price removes the model at once (write-through to the in-memory index). */
    no_content("DELETE", "/v1/pricing/deepseek:chat", T_AUTH);
    expect_error("GET", "/v1/models/deepseek:chat", T_AUTH, NULL, 404,
                 "Model 'deepseek:chat' not found", "not_found_error");
}
END_TEST

START_TEST(models_auth)
{
    static const char well_formed[] =
        "Authorization: Bearer "
        "gw-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\r\n";
    static const char *const paths[] = {"/v1/models", "/v1/models/openai:gpt-4o"};

    t_api_need();
    for (size_t i = 0; i < 2; i++) {
        expect_error("GET", paths[i], NULL, NULL, 401,
                     "Missing X-AnyLLM-Key or Authorization header", "authentication_error");
        expect_error("GET", paths[i], "Authorization: Basic x\r\n", NULL, 401,
                     "Invalid header format. Expected 'Bearer <token>'", "authentication_error");
        expect_error("GET", paths[i], "Authorization: Bearer sk-123\r\n", NULL, 401,
                     "Invalid API key format: API key must start with 'gw-' prefix",
                     "authentication_error");
        expect_error("GET", paths[i], "Authorization: Bearer gw-short\r\n", NULL, 401,
                     "Invalid API key format: API key is too short. Expected at least 50 "
                     "characters, got 8",
                     "authentication_error");
        expect_error("GET", paths[i], well_formed, NULL, 401, "Invalid API key",
                     "authentication_error");
        /* A wrong master key is just an invalid virtual key here. */
        expect_error("GET", paths[i], "Authorization: Bearer wrong\r\n", NULL, 401,
                     "Invalid API key format: API key must start with 'gw-' prefix",
                     "authentication_error");
    }
}
END_TEST

/* Reads the bootstrap key the gateway logged at its first start into buf. */
static bool bootstrap_key(char *buf, size_t len)
{
    static const char marker[] = "Save this key now: ";
    char *log = t_gw_log_wait(&t_api, marker, 3000), *p;
    size_t n;

    p = log != NULL ? strstr(log, marker) : NULL;
    if (p == NULL) {
        free(log);
        return false;
    }
    p += strlen(marker);
    n = strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-");
    snprintf(buf, len, "%.*s", (int)n, p);
    free(log);
    return n > 3;
}

START_TEST(models_bootstrap_key)
{
    char key[128], hdr[256];
    json_t *j;
    int tries;

    t_api_need();
    ck_assert_msg(bootstrap_key(key, sizeof(key)), "no bootstrap key in the log");
    ck_assert(strncmp(key, "gw-", 3) == 0);
    snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s\r\n", key);
    j = models(hdr);
    json_decref(j);
    snprintf(hdr, sizeof(hdr), "X-AnyLLM-Key: Bearer %s\r\n", key);
    j = t_call("GET", "/v1/models/openai:gpt-4o", hdr, NULL, 200);
    check_model(j, "openai:gpt-4o", "openai");
    json_decref(j);
    snprintf(hdr, sizeof(hdr), "x-api-key: %s\r\n", key);
    expect_error("GET", "/v1/models/openai:none", hdr, NULL, 404, "Model 'openai:none' not found",
                 "not_found_error");

    /* The use is recorded (last_used_at, written by the batched flush). */
    for (tries = 0; tries < 40; tries++) {
        char *v = t_sql(t_api.db, "SELECT last_used_at IS NOT NULL FROM api_keys "
                                  "WHERE key_name = 'bootstrap'");
        bool done = v != NULL && strcmp(v, "1") == 0;
        free(v);
        if (done)
            break;
        usleep(100000);
    }
    ck_assert_msg(tries < 40, "last_used_at was not recorded");
    t_assert_sql("1", "SELECT last_used_at LIKE '%s' FROM api_keys WHERE key_name = 'bootstrap'",
                 "%+00:00");
}
END_TEST

/* Needs POST /v1/keys (gw_keys.c). */
START_TEST(models_created_key)
{
    char hdr[256];
    const char *key;
    json_t *k, *j;

    t_api_need();
    k = t_call("POST", "/v1/keys", T_AUTH, "{\"key_name\": \"models-test\"}", 200);
    key = json_string_value(json_object_get(k, "key"));
    ck_assert_ptr_nonnull(key);
    snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s\r\n", key);
    j = models(hdr);
    ck_assert_int_ge(json_array_size(json_object_get(j, "data")), 1);
    json_decref(j);
    j = t_call("GET", "/v1/models/openai:gpt-4o", hdr, NULL, 200);
    check_model(j, "openai:gpt-4o", "openai");
    json_decref(j);
    json_decref(k);
}
END_TEST

Suite *e2e_pricing_suite(void)
{
    Suite *s = suite_create("e2e_pricing");
    TCase *tp = tcase_create("pricing");
    TCase *tn = tcase_create("pricing_no_master_key");
    TCase *tm = tcase_create("models");

    tcase_add_unchecked_fixture(tp, gw_up_master, t_api_down);
    tcase_set_timeout(tp, 30);
    tcase_add_test(tp, set_and_upsert);
    tcase_add_test(tp, prices_print_as_written);
    tcase_add_test(tp, model_key_normalised);
    tcase_add_test(tp, bad_model_key_400);
    tcase_add_test(tp, set_price_422);
    tcase_add_test(tp, pricing_auth);
    tcase_add_test(tp, list_and_pagination);
    tcase_add_test(tp, get_and_delete);
    tcase_add_test(tp, long_model_key);
    t_api_add_shutdown_test(tp);
    suite_add_tcase(s, tp);

    tcase_add_unchecked_fixture(tn, gw_up_no_master, t_api_down);
    tcase_set_timeout(tn, 30);
    tcase_add_test(tn, no_master_key);
    t_api_add_shutdown_test(tn);
    suite_add_tcase(s, tn);

    /* One gateway; the tests run in this order and build on each other's rows. */
    tcase_add_unchecked_fixture(tm, gw_up_master, t_api_down);
    tcase_set_timeout(tm, 30);
    tcase_add_test(tm, models_empty);
    tcase_add_test(tm, models_list_sorted);
    tcase_add_test(tm, models_get);
    tcase_add_test(tm, models_auth);
    tcase_add_test(tm, models_bootstrap_key);
    tcase_add_test(tm, models_created_key);
    t_api_add_shutdown_test(tm);
    suite_add_tcase(s, tm);
    return s;
}
