/*
 * End-to-end tests of the rate limits (spec §8.1, README "Rate limits") against the real binary
 * and the fake provider: the user's rate_limit_rpm (X-RateLimit-* on JSON and SSE successes,
 * the 429 with Retry-After and no X-RateLimit-*, requests that fail later still counted,
 * /v1/messages and /v1/embeddings counted in their own error shapes, other endpoints neither
 * counted nor limited), the per-key rpm_limit and tpm_limit set through the admin API (validated,
 * returned, cleared), and, on PostgreSQL, two replicas sharing one limit.
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "t_llm.h"
#include "t_pg.h"

#define CHAT "/v1/chat/completions"
#define CHAT_BODY(model, extra)                                                                    \
    "{\"model\":\"" model "\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]" extra "}"

static void rate_up(void)
{
    t_llm_up("  anthropic:\n"
             "    api_key: sk-ant-rate\n"
             "    api_base: http://127.0.0.1:%d\n",
             "rate_limit_rpm: 3\nenable_metrics: true\n");
}

/* No user limit: the per-key limits alone. */
static void keys_up(void)
{
    t_llm_up("", "");
}

/* POST path with the bearer key (NULL: the master key) and body into *r. */
static void post(const char *key, const char *path, const char *body, struct t_resp *r)
{
    char hdr[256];

    snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s\r\nContent-Type: application/json\r\n",
             key != NULL ? key : T_MASTER_KEY);
    ck_assert_int_eq(t_http(t_api.port, "POST", path, hdr, body, r), 0);
}

static long hdr_long(const struct t_resp *r, const char *name)
{
    char buf[64];

    ck_assert_msg(t_header(r, name, buf, sizeof(buf)) != NULL, "no %s in %s", name, r->head);
    return strtol(buf, NULL, 10);
}

static void expect_no_rate_headers(const struct t_resp *r)
{
    char buf[64];

    ck_assert_ptr_null(t_header(r, "X-RateLimit-Limit", buf, sizeof(buf)));
    ck_assert_ptr_null(t_header(r, "X-RateLimit-Remaining", buf, sizeof(buf)));
    ck_assert_ptr_null(t_header(r, "X-RateLimit-Reset", buf, sizeof(buf)));
}

/* A success carrying Limit/Remaining/Reset as the reference computes them. */
static void expect_success_headers(const struct t_resp *r, long limit, long remaining)
{
    long reset = hdr_long(r, "X-RateLimit-Reset"), now = (long)time(NULL);

    ck_assert_int_eq(hdr_long(r, "X-RateLimit-Limit"), limit);
    ck_assert_int_eq(hdr_long(r, "X-RateLimit-Remaining"), remaining);
    ck_assert_msg(reset > 1000000000L && reset >= now && reset <= now + 61, "reset %ld now %ld",
                  reset, now);
}

/* A 429 of the limiter: Retry-After 1..60, no X-RateLimit-*, the detail given. */
static void expect_429(const struct t_resp *r, const char *detail)
{
    json_t *j = t_json(r);
    long ra;

    ck_assert_msg(r->status == 429, "%d %s", r->status, r->body);
    ra = hdr_long(r, "Retry-After");
    ck_assert_msg(ra >= 1 && ra <= 60, "Retry-After %ld", ra);
    expect_no_rate_headers(r);
    ck_assert_str_eq(json_string_value(json_object_get(j, "detail")), detail);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "error"), "message")),
                     detail);
    json_decref(j);
}

/* spec §11 test_rate_limit_headers_on_success / ..._returns_429_with_retry_after. */
START_TEST(user_rpm_json)
{
    struct t_resp r;
    char *key;
    json_t *j;

    t_llm_need();
    key = t_llm_user_key("rl-json");
    for (long i = 0; i < 3; i++) {
        post(key, CHAT, CHAT_BODY("openai:fake-ok", ""), &r);
        ck_assert_msg(r.status == 200, "%d %s", r.status, r.body);
        expect_success_headers(&r, 3, 2 - i);
        t_resp_free(&r);
    }
    post(key, CHAT, CHAT_BODY("openai:fake-ok", ""), &r);
    expect_429(&r, "Rate limit exceeded");
    j = t_json(&r);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "error"), "type")),
                     "rate_limit_error");
    json_decref(j);
    t_resp_free(&r);
    /* Nothing reached the provider for the refused one, and no usage row was written for it. */
    t_wait_sql("3", "SELECT count(*) FROM usage_logs WHERE user_id = 'rl-json'");
    /* The refusal is counted for Prometheus, by user. */
    ck_assert_int_eq(t_http(t_api.port, "GET", "/metrics", NULL, NULL, &r), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_msg(strstr(r.body, "gateway_rate_limit_hits_total{user_id=\"rl-json\"} 1\n") != NULL,
                  "%s", r.body);
    t_resp_free(&r);
    free(key);
}
END_TEST

/* Requests that fail after the check still count (the reference's test). */
START_TEST(failures_count)
{
    struct t_resp r;
    char *key;

    t_llm_need();
    key = t_llm_user_key("rl-fail");
    for (int i = 0; i < 3; i++) {
        post(key, CHAT, CHAT_BODY("openai:fake-status-500", ""), &r);
        ck_assert_msg(r.status >= 500, "%d %s", r.status, r.body);
        expect_no_rate_headers(&r); /* only successes carry them */
        t_resp_free(&r);
    }
    post(key, CHAT, CHAT_BODY("openai:fake-ok", ""), &r);
    expect_429(&r, "Rate limit exceeded");
    t_resp_free(&r);
    /* The master key naming an unknown user: counted before the 404 of the budget check. */
    for (int i = 0; i < 3; i++) {
        post(NULL, CHAT, CHAT_BODY("openai:fake-ok", ",\"user\":\"rl-ghost\""), &r);
        ck_assert_int_eq(r.status, 404);
        t_resp_free(&r);
    }
    post(NULL, CHAT, CHAT_BODY("openai:fake-ok", ",\"user\":\"rl-ghost\""), &r);
    expect_429(&r, "Rate limit exceeded");
    t_resp_free(&r);
    free(key);
}
END_TEST

/* SSE: the headers come with the stream's head, before the first event. */
START_TEST(user_rpm_sse)
{
    struct t_resp r;
    char *key, ct[128];

    t_llm_need();
    key = t_llm_user_key("rl-sse");
    post(key, CHAT, CHAT_BODY("openai:fake-ok", ",\"stream\":true"), &r);
    ck_assert_msg(r.status == 200, "%d %s", r.status, r.body);
    ck_assert_ptr_nonnull(t_header(&r, "Content-Type", ct, sizeof(ct)));
    ck_assert_msg(strncmp(ct, "text/event-stream", 17) == 0, "%s", ct);
    ck_assert_ptr_nonnull(strstr(r.body, "[DONE]"));
    expect_success_headers(&r, 3, 2);
    t_resp_free(&r);
    free(key);
}
END_TEST

/* /v1/messages and /v1/embeddings count on the same user window; other endpoints do not. */
START_TEST(messages_embeddings_counted)
{
    struct t_resp r;
    char *key, hdr[256];
    json_t *j;

    t_llm_need();
    key = t_llm_user_key("rl-mix");
    snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s\r\n", key);
    /* Other endpoints: neither counted nor given headers. */
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(t_http(t_api.port, "GET", "/v1/models", hdr, NULL, &r), 0);
        ck_assert_int_eq(r.status, 200);
        expect_no_rate_headers(&r);
        t_resp_free(&r);
    }
    post(key, "/v1/messages",
         "{\"model\":\"anthropic:claude-ok\",\"max_tokens\":16,"
         "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
         &r);
    ck_assert_msg(r.status == 200, "%d %s", r.status, r.body);
    expect_success_headers(&r, 3, 2);
    t_resp_free(&r);
    post(key, "/v1/embeddings", "{\"model\":\"openai:text-embedding-3-small\",\"input\":\"a\"}",
         &r);
    ck_assert_msg(r.status == 200, "%d %s", r.status, r.body);
    expect_success_headers(&r, 3, 1);
    t_resp_free(&r);
    post(key, CHAT, CHAT_BODY("openai:fake-ok", ""), &r);
    expect_success_headers(&r, 3, 0);
    t_resp_free(&r);
    /* The fourth: the Anthropic error shape, the reference's plain detail. */
    post(key, "/v1/messages",
         "{\"model\":\"anthropic:claude-ok\",\"max_tokens\":16,"
         "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
         &r);
    expect_429(&r, "Rate limit exceeded");
    j = t_json(&r);
    ck_assert_str_eq(json_string_value(json_object_get(j, "type")), "error");
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "error"), "type")),
                     "rate_limit_error");
    json_decref(j);
    t_resp_free(&r);
    post(key, "/v1/embeddings", "{\"model\":\"openai:text-embedding-3-small\",\"input\":\"a\"}",
         &r);
    expect_429(&r, "Rate limit exceeded");
    t_resp_free(&r);
    free(key);
}
END_TEST

/* Creates a key for user with the JSON limits fragment; returns the key (owned), id in id. */
static char *limited_key(const char *user, const char *limits, char *id, size_t idlen)
{
    char body[256];
    json_t *j;
    char *key;

    snprintf(body, sizeof(body), "{\"user_id\":\"%s\"%s}", user, limits);
    j = t_call("POST", "/v1/keys", T_AUTH_JSON, body, 200);
    key = strdup(json_string_value(json_object_get(j, "key")));
    snprintf(id, idlen, "%s", json_string_value(json_object_get(j, "id")));
    json_decref(j);
    return key;
}

START_TEST(key_limits_admin)
{
    char id[64], path[128];
    json_t *j;
    char *key;

    t_llm_need();
    json_decref(t_call("POST", "/v1/users", T_AUTH_JSON, "{\"user_id\":\"kl-admin\"}", 200));
    /* Validation: positive integers or null. */
    json_decref(
        t_call("POST", "/v1/keys", T_AUTH_JSON, "{\"user_id\":\"kl-admin\",\"rpm_limit\":0}", 422));
    json_decref(t_call("POST", "/v1/keys", T_AUTH_JSON,
                       "{\"user_id\":\"kl-admin\",\"tpm_limit\":-5}", 422));
    json_decref(t_call("POST", "/v1/keys", T_AUTH_JSON,
                       "{\"user_id\":\"kl-admin\",\"rpm_limit\":\"ten\"}", 422));
    json_decref(t_call("POST", "/v1/keys", T_AUTH_JSON,
                       "{\"user_id\":\"kl-admin\",\"rpm_limit\":1.5}", 422));
    key = limited_key("kl-admin", ",\"rpm_limit\":10,\"tpm_limit\":null", id, sizeof(id));
    snprintf(path, sizeof(path), "/v1/keys/%s", id);
    j = t_call("GET", path, T_AUTH, NULL, 200);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "rpm_limit")), 10);
    ck_assert(json_is_null(json_object_get(j, "tpm_limit")));
    json_decref(j);
    /* PATCH: absent keeps, a value sets, null clears. */
    j = t_call("PATCH", path, T_AUTH_JSON, "{\"tpm_limit\":5000}", 200);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "rpm_limit")), 10);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "tpm_limit")), 5000);
    json_decref(j);
    j = t_call("PATCH", path, T_AUTH_JSON, "{\"rpm_limit\":null,\"key_name\":\"n\"}", 200);
    ck_assert(json_is_null(json_object_get(j, "rpm_limit")));
    ck_assert_int_eq(json_integer_value(json_object_get(j, "tpm_limit")), 5000);
    json_decref(j);
    json_decref(t_call("PATCH", path, T_AUTH_JSON, "{\"tpm_limit\":0}", 422));
    j = t_call("GET", "/v1/keys", T_AUTH, NULL, 200);
    ck_assert_ptr_nonnull(json_object_get(json_array_get(j, 0), "tpm_limit"));
    json_decref(j);
    free(key);
}
END_TEST

START_TEST(key_rpm)
{
    struct t_resp r;
    char id[64], path[128], *key;

    t_llm_need();
    json_decref(t_call("POST", "/v1/users", T_AUTH_JSON, "{\"user_id\":\"kl-rpm\"}", 200));
    key = limited_key("kl-rpm", ",\"rpm_limit\":2", id, sizeof(id));
    for (int i = 0; i < 2; i++) {
        post(key, CHAT, CHAT_BODY("openai:fake-ok", ""), &r);
        ck_assert_msg(r.status == 200, "%d %s", r.status, r.body);
        expect_no_rate_headers(&r); /* no user limit configured: no reference headers */
        t_resp_free(&r);
    }
    post(key, CHAT, CHAT_BODY("openai:fake-ok", ""), &r);
    expect_429(&r, "Rate limit exceeded: key rpm_limit 2");
    t_resp_free(&r);
    /* Another key of the same user is not limited by it. */
    {
        char id2[64], *key2 = limited_key("kl-rpm", "", id2, sizeof(id2));
        post(key2, CHAT, CHAT_BODY("openai:fake-ok", ""), &r);
        ck_assert_int_eq(r.status, 200);
        t_resp_free(&r);
        free(key2);
    }
    /* Raised through PATCH: applies at once. */
    snprintf(path, sizeof(path), "/v1/keys/%s", id);
    json_decref(t_call("PATCH", path, T_AUTH_JSON, "{\"rpm_limit\":3}", 200));
    post(key, CHAT, CHAT_BODY("openai:fake-ok", ""), &r);
    ck_assert_int_eq(r.status, 200);
    t_resp_free(&r);
    post(key, CHAT, CHAT_BODY("openai:fake-ok", ""), &r);
    expect_429(&r, "Rate limit exceeded: key rpm_limit 3");
    t_resp_free(&r);
    json_decref(t_call("PATCH", path, T_AUTH_JSON, "{\"rpm_limit\":null}", 200));
    post(key, CHAT, CHAT_BODY("openai:fake-ok", ""), &r);
    ck_assert_int_eq(r.status, 200);
    t_resp_free(&r);
    free(key);
}
END_TEST

/* tpm: fake-ok uses 15 tokens; the limit is reached after two calls settle to real usage. */
START_TEST(key_tpm)
{
    struct t_resp r;
    char id[64], *key;

    t_llm_need();
    json_decref(t_call("POST", "/v1/users", T_AUTH_JSON, "{\"user_id\":\"kl-tpm\"}", 200));
    key = limited_key("kl-tpm", ",\"tpm_limit\":20", id, sizeof(id));
    post(key, CHAT, CHAT_BODY("openai:fake-ok", ""), &r); /* 15 < 20 after settling */
    ck_assert_msg(r.status == 200, "%d %s", r.status, r.body);
    t_resp_free(&r);
    post(key, CHAT, CHAT_BODY("openai:fake-ok", ",\"stream\":true"), &r); /* 30 after */
    ck_assert_msg(r.status == 200, "%d %s", r.status, r.body);
    t_resp_free(&r);
    post(key, CHAT, CHAT_BODY("openai:fake-ok", ""), &r);
    expect_429(&r, "Rate limit exceeded: key tpm_limit 20");
    t_resp_free(&r);
    /* A large prompt's estimate is reserved at admission: a fresh key with tpm 100 admits one
       request whose ~300-token estimate is in flight, then refuses until it settles. */
    {
        char id2[64], *key2 = limited_key("kl-tpm", ",\"tpm_limit\":100", id2, sizeof(id2));
        char body[2048];
        int n = snprintf(body, sizeof(body),
                         "{\"model\":\"openai:fake-slow-1-1500\",\"messages\":[{\"role\":\"user\","
                         "\"content\":\"");
        struct t_resp r2;
        int fd;
        char req[4096];

        memset(body + n, 'x', 1200);
        snprintf(body + n + 1200, sizeof(body) - (size_t)n - 1200, "\"}]}");
        fd = t_connect(t_api.port);
        ck_assert_int_ge(fd, 0);
        n = snprintf(req, sizeof(req),
                     "POST " CHAT " HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: "
                     "Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                     key2, strlen(body), body);
        ck_assert_int_eq(write(fd, req, (size_t)n), n);
        usleep(400000); /* admitted and in flight at the provider */
        post(key2, CHAT, CHAT_BODY("openai:fake-ok", ""), &r);
        expect_429(&r, "Rate limit exceeded: key tpm_limit 100");
        t_resp_free(&r);
        ck_assert_int_eq(t_http_read(fd, &r2, 10000), 0);
        ck_assert_int_eq(r2.status, 200);
        t_resp_free(&r2);
        close(fd);
        /* Settled to its real 11 tokens: admitted again. */
        post(key2, CHAT, CHAT_BODY("openai:fake-ok", ""), &r);
        ck_assert_msg(r.status == 200, "%d %s", r.status, r.body);
        t_resp_free(&r);
        free(key2);
    }
    free(key);
}
END_TEST

/* ---- two replicas on one PostgreSQL ---- */

/* Replicas A and B with the user limit 4. */
static void rep_up(void)
{
    t_llm_up_replica("rate_limit_rpm: 4\n");
}

static int rep_chat(int port, const char *key, const char *body, struct t_resp *r)
{
    char hdr[256];

    snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s\r\nContent-Type: application/json\r\n",
             key);
    return t_http(port, "POST", CHAT, hdr, body, r);
}

/* The user limit (4) and a key's rpm_limit (2) hold across replicas A and B. */
START_TEST(replicas_share_limits)
{
    struct t_resp r;
    char id[64], *key;
    int ok = 0;

    t_llm_need_replica();
    key = t_llm_user_key("rep-rl");
    usleep(1200000); /* B has the key */
    /* Two on A, then, once shared, B sees them: two more there, the fifth refused on B. */
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(rep_chat(t_api.port, key, CHAT_BODY("openai:fake-ok", ""), &r), 0);
        ck_assert_int_eq(r.status, 200);
        t_resp_free(&r);
    }
    usleep(1500000); /* A publishes, B reads: about two sync intervals */
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(rep_chat(t_llm_replica.port, key, CHAT_BODY("openai:fake-ok", ""), &r), 0);
        if (r.status == 200) {
            ok++;
            if (ok == 1)
                expect_success_headers(&r, 4, 1); /* A's two counted on B */
        } else {
            expect_429(&r, "Rate limit exceeded");
        }
        t_resp_free(&r);
    }
    ck_assert_int_eq(ok, 2);
    usleep(1500000);
    ck_assert_int_eq(rep_chat(t_api.port, key, CHAT_BODY("openai:fake-ok", ""), &r), 0);
    expect_429(&r, "Rate limit exceeded");
    t_resp_free(&r);
    free(key);

    /* A key's rpm_limit 2: one on each replica, then both refuse. */
    json_decref(t_call("POST", "/v1/users", T_AUTH_JSON, "{\"user_id\":\"rep-kl\"}", 200));
    key = limited_key("rep-kl", ",\"rpm_limit\":2", id, sizeof(id));
    usleep(1200000);
    ck_assert_int_eq(rep_chat(t_api.port, key, CHAT_BODY("openai:fake-ok", ""), &r), 0);
    ck_assert_int_eq(r.status, 200);
    t_resp_free(&r);
    ck_assert_int_eq(rep_chat(t_llm_replica.port, key, CHAT_BODY("openai:fake-ok", ""), &r), 0);
    ck_assert_int_eq(r.status, 200);
    t_resp_free(&r);
    usleep(1500000);
    ck_assert_int_eq(rep_chat(t_api.port, key, CHAT_BODY("openai:fake-ok", ""), &r), 0);
    expect_429(&r, "Rate limit exceeded: key rpm_limit 2");
    t_resp_free(&r);
    ck_assert_int_eq(rep_chat(t_llm_replica.port, key, CHAT_BODY("openai:fake-ok", ""), &r), 0);
    expect_429(&r, "Rate limit exceeded: key rpm_limit 2");
    t_resp_free(&r);
    /* The shared rows: each replica's, in the window. */
    {
        char *n = t_pg_sql(t_api.db, "SELECT count(DISTINCT replica_id) FROM rate_counts");
        ck_assert_ptr_nonnull(n);
        ck_assert_str_eq(n, "2");
        free(n);
    }
    free(key);
}
END_TEST

Suite *e2e_rate_suite(void)
{
    Suite *s = suite_create("e2e_rate");
    TCase *tc = tcase_create("user_rpm");

    tcase_add_unchecked_fixture(tc, rate_up, t_llm_down);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, user_rpm_json);
    tcase_add_test(tc, failures_count);
    tcase_add_test(tc, user_rpm_sse);
    tcase_add_test(tc, messages_embeddings_counted);
    t_api_add_shutdown_test(tc);
    suite_add_tcase(s, tc);

    tc = tcase_create("key_limits");
    tcase_add_unchecked_fixture(tc, keys_up, t_llm_down);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, key_limits_admin);
    tcase_add_test(tc, key_rpm);
    tcase_add_test(tc, key_tpm);
    t_api_add_shutdown_test(tc);
    suite_add_tcase(s, tc);

    tc = tcase_create("replicas");
    if (t_pg_backend()) {
        tcase_add_unchecked_fixture(tc, rep_up, t_llm_down_replica);
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, replicas_share_limits);
    }
    suite_add_tcase(s, tc);
    return s;
}
