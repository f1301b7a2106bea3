/*
 * End-to-end tests of POST /v1/embeddings against the real binary and the fake provider's
 * OpenAI-wire embeddings: what the provider receives (model rewritten, "user" never forwarded,
 * dimensions and token arrays relayed), the reply in the encoding the client asked for (float
 * arrays, or base64 of little-endian float32 converted by the gateway), validation and routing
 * errors before any upstream call, upstream errors mapped, and the usage rows (endpoint
 * /v1/embeddings, no completion tokens, cost from the prompt tokens) and budgets.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "t_llm.h"

#define EMB "/v1/embeddings"

static void emb_up(void)
{
    t_llm_up("  anthropic:\n"
             "    api_key: sk-ant-unused\n"
             "    api_base: http://127.0.0.1:%d\n",
             "pricing:\n"
             "  \"openai:text-embedding-3-small\":\n"
             "    input_price_per_million: 2.0\n"
             "    output_price_per_million: 0\n");
}

static void emb(const char *key, const char *body, struct t_resp *r)
{
    char hdr[256];

    snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s\r\nContent-Type: application/json\r\n",
             key);
    ck_assert_int_eq(t_http(t_api.port, "POST", EMB, hdr, body, r), 0);
}

static json_t *emb_last_body(void)
{
    json_t *last = t_fake_get(&t_llm_fake, "/_last"), *b;

    ck_assert_ptr_nonnull(last);
    b = json_incref(json_object_get(last, "body"));
    json_decref(last);
    return b;
}

START_TEST(embed_float_and_base64)
{
    struct t_resp r;
    json_t *j, *v, *b;
    char *key;
    const char *s;

    t_llm_need();
    key = t_llm_user_key("emb-fmt");
    emb(key,
        "{\"model\":\"openai:text-embedding-3-small\",\"input\":[\"a\",\"b\"],\"user\":\"eu\","
        "\"dimensions\":3,\"encoding_format\":\"float\"}",
        &r);
    ck_assert_msg(r.status == 200, "%d %s", r.status, r.body);
    j = t_json(&r);
    ck_assert_str_eq(json_string_value(json_object_get(j, "object")), "list");
    ck_assert_int_eq(json_array_size(json_object_get(j, "data")), 2);
    v = json_object_get(json_array_get(json_object_get(j, "data"), 1), "embedding");
    ck_assert(json_is_array(v));
    ck_assert_int_eq(json_array_size(v), 3);
    ck_assert_int_eq(
        json_integer_value(json_object_get(json_object_get(j, "usage"), "prompt_tokens")), 8);
    json_decref(j);
    t_resp_free(&r);
    b = emb_last_body();
    ck_assert_str_eq(json_string_value(json_object_get(b, "model")), "text-embedding-3-small");
    ck_assert_ptr_null(json_object_get(b, "user"));
    ck_assert_int_eq(json_integer_value(json_object_get(b, "dimensions")), 3);
    json_decref(b);

    /* base64: each vector is little-endian float32 (the fake's first value is 0.1f). */
    emb(key,
        "{\"model\":\"openai:text-embedding-3-small\",\"input\":\"a\",\"encoding_format\":"
        "\"base64\"}",
        &r);
    ck_assert_msg(r.status == 200, "%d %s", r.status, r.body);
    j = t_json(&r);
    s = json_string_value(
        json_object_get(json_array_get(json_object_get(j, "data"), 0), "embedding"));
    ck_assert_msg(s != NULL && strncmp(s, "zczMP", 5) == 0, "%s", r.body);
    ck_assert_int_eq(strlen(s), 16); /* 3 floats = 12 bytes = 16 base64 characters */
    json_decref(j);
    t_resp_free(&r);

    /* Token arrays go to an OpenAI-wire provider as they are. */
    emb(key, "{\"model\":\"openai:text-embedding-3-small\",\"input\":[[1,2,3],[4]]}", &r);
    ck_assert_msg(r.status == 200, "%d %s", r.status, r.body);
    t_resp_free(&r);
    b = emb_last_body();
    ck_assert_int_eq(
        json_integer_value(json_array_get(json_array_get(json_object_get(b, "input"), 0), 2)), 3);
    json_decref(b);

    /* Rows: endpoint, no completion tokens, cost = prompt tokens x $2/M. */
    t_wait_sql("3|/v1/embeddings|0|1",
               "SELECT count(*) || '|' || max(endpoint) || '|' || max(completion_tokens) || '|' "
               "|| min(CASE WHEN abs(cost - prompt_tokens * 2e-6) < 1e-12 THEN 1 ELSE 0 END) "
               "FROM usage_logs WHERE user_id = 'emb-fmt'");
    free(key);
}
END_TEST

START_TEST(embed_errors)
{
    struct t_resp r;
    char *key;
    long before;
    struct {
        const char *body;
        int status;
        const char *needle;
    } cases[] = {
        {"{\"model\":\"openai:e\"}", 422, "input"},
        {"{\"input\":\"a\"}", 422, "model"},
        {"{\"model\":\"openai:e\",\"input\":[]}", 400, "'input'"},
        {"{\"model\":\"openai:e\",\"input\":\"\"}", 400, "empty"},
        {"{\"model\":\"openai:e\",\"input\":[\"a\",7]}", 400, "'input'"},
        {"{\"model\":\"openai:e\",\"input\":{\"a\":1}}", 400, "'input'"},
        {"{\"model\":\"openai:e\",\"input\":\"a\",\"encoding_format\":\"int8\"}", 400,
         "encoding_format"},
        {"{\"model\":\"openai:e\",\"input\":\"a\",\"dimensions\":0}", 422, "dimensions"},
        {"{\"model\":\"anthropic:claude\",\"input\":\"a\"}", 400,
         "Provider 'anthropic' does not support embeddings"},
        {"{\"model\":\"nosuch:e\",\"input\":\"a\"}", 400, "nosuch"},
        {"{\"model\":\"mistral:e\",\"input\":\"a\"}", 400, "not configured"},
    };

    t_llm_need();
    key = t_llm_user_key("emb-err");
    before = t_fake_stat(&t_llm_fake, "requests");
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        emb(key, cases[i].body, &r);
        ck_assert_msg(r.status == cases[i].status && strstr(r.body, cases[i].needle) != NULL,
                      "%s -> %d %s", cases[i].body, r.status, r.body);
        t_resp_free(&r);
    }
    ck_assert_int_eq(t_fake_stat(&t_llm_fake, "requests"), before);
    /* The master key needs "user"; no key at all is 401. */
    ck_assert_int_eq(t_http(t_api.port, "POST", EMB, T_AUTH_JSON,
                            "{\"model\":\"openai:e\",\"input\":\"a\"}", &r),
                     0);
    ck_assert_msg(r.status == 400 && strstr(r.body, "'user' field") != NULL, "%s", r.body);
    t_resp_free(&r);
    ck_assert_int_eq(t_http(t_api.port, "POST", EMB, "Content-Type: application/json\r\n",
                            "{\"model\":\"openai:e\",\"input\":\"a\"}", &r),
                     0);
    ck_assert_int_eq(r.status, 401);
    t_resp_free(&r);
    free(key);
}
END_TEST

START_TEST(embed_budget_enforced)
{
    struct t_resp r;
    json_t *j;
    char body[256], *key;
    const char *bid;

    t_llm_need();
    j = t_call("POST", "/v1/budgets", T_AUTH_JSON, "{\"max_budget\":0.000001}", 200);
    bid = json_string_value(json_object_get(j, "budget_id"));
    snprintf(body, sizeof(body), "{\"user_id\":\"emb-budget\",\"budget_id\":\"%s\"}", bid);
    json_decref(t_call("POST", "/v1/users", T_AUTH_JSON, body, 200));
    json_decref(j);
    key = t_llm_key("emb-budget", NULL, 0);
    /* 4 tokens x $2/M = 8e-6 > 1e-6: the first passes (spend was 0), then the budget is spent. */
    emb(key, "{\"model\":\"openai:text-embedding-3-small\",\"input\":\"a\"}", &r);
    ck_assert_msg(r.status == 200, "%d %s", r.status, r.body);
    t_resp_free(&r);
    t_wait_sql("1", "SELECT CASE WHEN spend > 0 THEN 1 ELSE 0 END FROM users WHERE user_id = "
                    "'emb-budget'");
    emb(key, "{\"model\":\"openai:text-embedding-3-small\",\"input\":\"a\"}", &r);
    ck_assert_msg(r.status == 403 && strstr(r.body, "exceeded budget") != NULL, "%d %s", r.status,
                  r.body);
    t_resp_free(&r);
    free(key);
}
END_TEST

Suite *e2e_embed_suite(void)
{
    Suite *s = suite_create("e2e_embed");
    TCase *tc = tcase_create("embed");

    tcase_add_unchecked_fixture(tc, emb_up, t_llm_down);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, embed_float_and_base64);
    tcase_add_test(tc, embed_errors);
    tcase_add_test(tc, embed_budget_enforced);
    t_api_add_shutdown_test(tc);
    suite_add_tcase(s, tc);
    return s;
}
