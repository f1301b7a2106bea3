/*
 * End-to-end billing tests (spec §4-§6, DESIGN.md §2.4-§2.7) against the real binary and the fake
 * provider (tests/fake_upstream.c): the usage row of JSON and streamed requests, spend, unpriced
 * and free models, estimated usage, streams that cannot skip billing, the budget refusals, the
 * lazy reset, reservations under concurrency, usage_log_sync, the SIGTERM flush and the bill of
 * a client that leaves mid-stream.
 */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>

#include "t_llm.h"

#define BILL_JSON_HDR "Content-Type: application/json\r\n"
#define BILL_PATH "/v1/chat/completions"
/* fake-ok: 10 prompt tokens at $1/M + 5 completion tokens at $2/M. */
#define BILL_COST "2e-5"
#define BILL_CONC_N 20
#define BILL_BURST_MAX 50

/* ---- fixtures ------------------------------------------------------------------------------ */

/* Starts the fake provider, then a gateway pointed at it with the suite's prices plus extra. */
static void bill_up(const char *extra)
{
    char yaml[2048];

    snprintf(yaml, sizeof(yaml),
             "pricing:\n"
             "  \"openai:fake-ok\":\n"
             "    input_price_per_million: 1.0\n"
             "    output_price_per_million: 2.0\n"
             "  \"openai:fake-nousage\":\n"
             "    input_price_per_million: 1.0\n"
             "    output_price_per_million: 2.0\n"
             "  \"openai:fake-free\":\n"
             "    input_price_per_million: 0\n"
             "    output_price_per_million: 0\n"
             "  \"openai:fake-slow-1-300\":\n"
             "    input_price_per_million: 100000\n"
             "    output_price_per_million: 100000\n"
             "  \"openai:fake-overrun-1000-500\":\n"
             "    input_price_per_million: 1000\n"
             "    output_price_per_million: 1000\n"
             "  \"openai:fake-slow-20-200\":\n"
             "    input_price_per_million: 1.0\n"
             "    output_price_per_million: 2.0\n"
             "%s",
             extra);
    t_llm_up("", yaml);
}

static void bill_up_default(void)
{
    bill_up("");
}

/* The floor at 1 token: a reservation is exactly what max_tokens says. */
static void bill_up_floor1(void)
{
    bill_up("budget_min_reservation_tokens: 1\n");
}

static void bill_up_sync(void)
{
    bill_up("usage_log_sync: true\nusage_flush_ms: 10000\n");
}

static void bill_up_slow_flush(void)
{
    bill_up("usage_flush_ms: 10000\n");
}

#define BILL_LONG_MODEL "fake-slow-100-100" /* a 10 s stream */

static void bill_up_shutdown(void)
{
    bill_up("  \"openai:" BILL_LONG_MODEL "\":\n"
            "    input_price_per_million: 1.0\n"
            "    output_price_per_million: 2.0\n"
            "shutdown_timeout: 1\n");
}

static void bill_up_shutdown_long(void)
{
    bill_up("  \"openai:" BILL_LONG_MODEL "\":\n"
            "    input_price_per_million: 1.0\n"
            "    output_price_per_million: 2.0\n"
            "shutdown_timeout: 60\n");
}

/* ---- helpers ------------------------------------------------------------------------------- */

static long bill_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* A wait bound scaled like Check's own timeouts (sanitizer runs are slower). */
static long bill_ms(long ms)
{
    const char *m = getenv("CK_TIMEOUT_MULTIPLIER");
    long k = m != NULL ? strtol(m, NULL, 10) : 1;

    return ms * (k > 1 ? k : 1);
}

/* The first cell of the query (printf-style) as an owned string; fails the test on SQL errors. */
static char *bill_sqlv(const char *fmt, va_list ap)
{
    char q[2048];
    char *v;

    vsnprintf(q, sizeof(q), fmt, ap);
    v = t_sql(t_api.db, q);
    ck_assert_msg(v != NULL, "query failed: %s", q);
    return v;
}

static char *bill_sql(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *bill_sql(const char *fmt, ...)
{
    va_list ap;
    char *v;

    va_start(ap, fmt);
    v = bill_sqlv(fmt, ap);
    va_end(ap);
    return v;
}

/* Polls the query until its first cell is want (rows are written asynchronously), then asserts. */
static void bill_wait_sql(const char *want, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void bill_wait_sql(const char *want, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    t_wait_sqlv(want, fmt, ap);
    va_end(ap);
}

/* POST /v1/budgets {max_budget, budget_duration_sec} (JSON literals); returns the id (owned). */
static char *bill_budget(const char *max, const char *duration)
{
    char body[256];
    json_t *j;
    char *id;

    snprintf(body, sizeof(body), "{\"max_budget\": %s, \"budget_duration_sec\": %s}", max,
             duration);
    j = t_call("POST", "/v1/budgets", T_AUTH_JSON, body, 200);
    ck_assert_ptr_nonnull(json_string_value(json_object_get(j, "budget_id")));
    id = strdup(json_string_value(json_object_get(j, "budget_id")));
    json_decref(j);
    return id;
}

/* POST /v1/users {user_id, budget_id (NULL: none), blocked}. */
static void bill_user(const char *user, const char *budget_id, bool blocked)
{
    char body[256];
    json_t *j;

    if (budget_id != NULL)
        snprintf(body, sizeof(body),
                 "{\"user_id\": \"%s\", \"budget_id\": \"%s\", \"blocked\": %s}", user, budget_id,
                 blocked ? "true" : "false");
    else
        snprintf(body, sizeof(body), "{\"user_id\": \"%s\", \"blocked\": %s}", user,
                 blocked ? "true" : "false");
    j = t_call("POST", "/v1/users", T_AUTH_JSON, body, 200);
    ck_assert_str_eq(json_string_value(json_object_get(j, "user_id")), user);
    json_decref(j);
}

/* A key for user: the headers that authenticate with it (plus JSON) into hdr, its id into id. */
static void bill_key(const char *user, char *hdr, size_t hdrlen, char *id, size_t idlen)
{
    char kid[64];
    char *key = t_llm_key(user, kid, sizeof(kid));

    snprintf(hdr, hdrlen, "Authorization: Bearer %s\r\n" BILL_JSON_HDR, key);
    if (id != NULL)
        snprintf(id, idlen, "%s", kid);
    free(key);
}

/* Creates user with a budget of max_budget USD (no reset) and a key; hdr gets its header. */
static void bill_budget_user_key(const char *user, const char *max_budget, char *hdr, size_t len)
{
    char *b = bill_budget(max_budget, "null");

    bill_user(user, b, false);
    free(b);
    bill_key(user, hdr, len, NULL, 0);
}

/* A chat body for openai:<model> with one short user message and extra members (may be ""). */
static const char *bill_body(char *buf, size_t len, const char *model, const char *extra)
{
    snprintf(buf, len,
             "{\"model\": \"openai:%s\", \"messages\": [{\"role\": \"user\", \"content\": "
             "\"Hi\"}]%s}",
             model, extra);
    return buf;
}

/* Sends a chat request and asserts the status; r is filled (free with t_resp_free). */
static void bill_chat(const char *hdr, const char *body, int want, struct t_resp *r)
{
    ck_assert_int_eq(t_http(t_api.port, "POST", BILL_PATH, hdr, body, r), 0);
    ck_assert_msg(r->status == want, "status %d, want %d; request %s; reply %s", r->status, want,
                  body, r->body);
}

/* bill_chat that only keeps the status check. */
static void bill_chat_ok(const char *hdr, const char *body)
{
    struct t_resp r;

    bill_chat(hdr, body, 200, &r);
    t_resp_free(&r);
}

/* A streamed reply as the client saw it: the events, [DONE], and no usage-only chunk. */
static void bill_check_stream_no_usage(const struct t_resp *r)
{
    char ct[128];

    ck_assert_ptr_nonnull(t_header(r, "Content-Type", ct, sizeof(ct)));
    ck_assert_msg(strncmp(ct, "text/event-stream", 17) == 0, "content type %s", ct);
    ck_assert_msg(strstr(r->body, "\"Hel\"") != NULL && strstr(r->body, "\" world\"") != NULL,
                  "stream body %s", r->body);
    ck_assert_msg(strstr(r->body, "data: [DONE]") != NULL, "no [DONE]: %s", r->body);
    ck_assert_msg(strstr(r->body, "\"usage\"") == NULL, "the client saw usage: %s", r->body);
}

/* The fake's last request body (owned). */
static json_t *bill_fake_last_body(void)
{
    json_t *last = t_fake_get(&t_llm_fake, "/_last");
    json_t *body;

    ck_assert_ptr_nonnull(last);
    body = json_incref(json_object_get(last, "body"));
    json_decref(last);
    ck_assert_msg(json_is_object(body), "the fake saw no JSON body");
    return body;
}

/* Asserts one row's columns for user (exactly one row expected). */
static void bill_assert_row(const char *user, const char *want)
{
    t_assert_sql(want,
                 "SELECT model || '|' || provider || '|' || endpoint || '|' || "
                 "quote(prompt_tokens) || '|' || quote(completion_tokens) || '|' || "
                 "quote(total_tokens) || '|' || status || '|' || usage_estimated "
                 "FROM usage_logs WHERE user_id = '%s'",
                 user);
}

/* ---- 1. billing of a JSON request ---------------------------------------------------------- */

START_TEST(bill_json_request)
{
    char hdr[256], kid[128], body[512], want[512];
    struct t_resp r;
    json_t *j, *u;

    t_llm_need();
    bill_user("bill-json", NULL, false);
    bill_key("bill-json", hdr, sizeof(hdr), kid, sizeof(kid));
    bill_chat(hdr, bill_body(body, sizeof(body), "fake-ok", ""), 200, &r);
    j = t_json(&r);
    u = json_object_get(j, "usage");
    ck_assert_int_eq(json_integer_value(json_object_get(u, "prompt_tokens")), 10);
    ck_assert_int_eq(json_integer_value(json_object_get(u, "completion_tokens")), 5);
    ck_assert_int_eq(json_integer_value(json_object_get(u, "total_tokens")), 15);
    json_decref(j);
    t_resp_free(&r);

    bill_wait_sql("1", "SELECT count(*) FROM usage_logs WHERE user_id = 'bill-json'");
    snprintf(want, sizeof(want), "%s|bill-json|fake-ok|openai|" BILL_PATH "|10|5|15|success|0|NULL",
             kid);
    t_assert_sql(want,
                 "SELECT api_key_id || '|' || user_id || '|' || model || '|' || provider || '|' || "
                 "endpoint || '|' || prompt_tokens || '|' || completion_tokens || '|' || "
                 "total_tokens || '|' || status || '|' || usage_estimated || '|' || "
                 "quote(error_message) FROM usage_logs WHERE user_id = 'bill-json'");
    t_assert_sql("1", "SELECT abs(cost - " BILL_COST ") < 1e-12 FROM usage_logs "
                      "WHERE user_id = 'bill-json'");
    t_assert_sql("1", "SELECT timestamp LIKE '%%+00:00' AND "
                      "abs(julianday(timestamp) - julianday('now')) * 86400 < 60 "
                      "FROM usage_logs WHERE user_id = 'bill-json'");
    t_assert_sql("1", "SELECT spend = (SELECT cost FROM usage_logs WHERE user_id = 'bill-json') "
                      "FROM users WHERE user_id = 'bill-json'");

    /* The master key bills the "user" of the body, with no key id. */
    bill_user("bill-master", NULL, false);
    bill_chat_ok(T_AUTH_JSON,
                 bill_body(body, sizeof(body), "fake-ok", ", \"user\": \"bill-master\""));
    bill_wait_sql("1", "SELECT count(*) FROM usage_logs WHERE user_id = 'bill-master'");
    t_assert_sql("NULL|fake-ok|openai|success|10|5|15|1",
                 "SELECT quote(api_key_id) || '|' || model || '|' || provider || '|' || status || "
                 "'|' || prompt_tokens || '|' || completion_tokens || '|' || total_tokens || '|' "
                 "|| (abs(cost - " BILL_COST ") < 1e-12) FROM usage_logs "
                 "WHERE user_id = 'bill-master'");
    t_assert_sql("1", "SELECT abs(spend - " BILL_COST ") < 1e-12 FROM users "
                      "WHERE user_id = 'bill-master'");
    /* Nobody else was billed for it. */
    t_assert_sql("1", "SELECT count(*) FROM usage_logs WHERE user_id = 'bill-json'");
}
END_TEST

/*
 * DESIGN.md §2.10: a key that belongs to a user bills that user whatever the body's "user" says
 * (another user, an unknown one); the field still reaches the provider as the end-user id.
 */
START_TEST(bill_key_bills_its_owner)
{
    char hdr[256], kid[128], body[512], want[256];
    json_t *up;

    t_llm_need();
    bill_user("bill-alice", NULL, false);
    bill_user("bill-bob", NULL, false);
    bill_key("bill-alice", hdr, sizeof(hdr), kid, sizeof(kid));
    bill_chat_ok(hdr, bill_body(body, sizeof(body), "fake-ok", ", \"user\": \"bill-bob\""));
    up = bill_fake_last_body();
    ck_assert_str_eq(json_string_value(json_object_get(up, "user")), "bill-bob");
    json_decref(up);
    bill_chat_ok(hdr, bill_body(body, sizeof(body), "fake-ok", ", \"user\": \"bill-ghost\""));
    up = bill_fake_last_body();
    ck_assert_str_eq(json_string_value(json_object_get(up, "user")), "bill-ghost");
    json_decref(up);

    bill_wait_sql("2", "SELECT count(*) FROM usage_logs WHERE user_id = 'bill-alice'");
    snprintf(want, sizeof(want), "%s", kid);
    t_assert_sql(want, "SELECT DISTINCT api_key_id FROM usage_logs WHERE user_id = 'bill-alice'");
    t_assert_sql("1", "SELECT abs(spend - 2 * " BILL_COST ") < 1e-12 FROM users "
                      "WHERE user_id = 'bill-alice'");
    t_assert_sql("0", "SELECT count(*) FROM usage_logs WHERE user_id IN ('bill-bob', "
                      "'bill-ghost')");
    t_assert_sql("1", "SELECT spend = 0 FROM users WHERE user_id = 'bill-bob'");
    t_assert_sql("0", "SELECT count(*) FROM users WHERE user_id = 'bill-ghost'");
}
END_TEST

/* ---- 2. spend accumulates; unpriced models are tracked without cost ------------------------ */

START_TEST(bill_spend_accumulates)
{
    char hdr[256], body[512];
    struct t_resp r;

    t_llm_need();
    bill_user("bill-acc", NULL, false);
    bill_key("bill-acc", hdr, sizeof(hdr), NULL, 0);
    bill_chat_ok(hdr, bill_body(body, sizeof(body), "fake-ok", ""));
    bill_chat_ok(hdr, bill_body(body, sizeof(body), "fake-ok", ", \"stream\": true"));
    /* A client that asks for usage gets the usage chunk (and is billed once, not twice). */
    bill_chat(hdr,
              bill_body(body, sizeof(body), "fake-ok",
                        ", \"stream\": true, \"stream_options\": {\"include_usage\": true}"),
              200, &r);
    ck_assert_msg(strstr(r.body, "\"prompt_tokens\":10") != NULL, "no usage chunk: %s", r.body);
    t_resp_free(&r);
    bill_chat_ok(hdr, bill_body(body, sizeof(body), "fake-ok", ", \"max_tokens\": 50"));

    bill_wait_sql("4", "SELECT count(*) FROM usage_logs WHERE user_id = 'bill-acc'");
    t_assert_sql("4", "SELECT count(*) FROM usage_logs WHERE user_id = 'bill-acc' AND "
                      "status = 'success' AND prompt_tokens = 10 AND completion_tokens = 5 AND "
                      "total_tokens = 15 AND usage_estimated = 0 AND "
                      "abs(cost - " BILL_COST ") < 1e-12");
    t_assert_sql("1", "SELECT abs(spend - (SELECT sum(cost) FROM usage_logs "
                      "WHERE user_id = 'bill-acc')) < 1e-12 AND abs(spend - 8e-5) < 1e-12 "
                      "FROM users WHERE user_id = 'bill-acc'");

    /* Unknown price: tokens recorded, cost NULL, spend unchanged (JSON and stream). */
    bill_chat_ok(hdr, bill_body(body, sizeof(body), "fake-unpriced", ""));
    bill_chat_ok(hdr, bill_body(body, sizeof(body), "fake-unpriced", ", \"stream\": true"));
    bill_wait_sql("2", "SELECT count(*) FROM usage_logs WHERE user_id = 'bill-acc' AND "
                       "model = 'fake-unpriced'");
    t_assert_sql("2", "SELECT count(*) FROM usage_logs WHERE user_id = 'bill-acc' AND "
                      "model = 'fake-unpriced' AND provider = 'openai' AND status = 'success' AND "
                      "prompt_tokens = 10 AND completion_tokens = 5 AND total_tokens = 15 AND "
                      "cost IS NULL AND usage_estimated = 0");
    t_assert_sql("1", "SELECT abs(spend - 8e-5) < 1e-12 AND abs(spend - (SELECT sum(cost) FROM "
                      "usage_logs WHERE user_id = 'bill-acc')) < 1e-12 "
                      "FROM users WHERE user_id = 'bill-acc'");
}
END_TEST

/* ---- 3. a stream cannot skip billing -------------------------------------------------------- */

START_TEST(bill_stream_forces_usage)
{
    static const char *const extras[] = {
        ", \"stream\": true",
        ", \"stream\": true, \"stream_options\": {\"include_usage\": false}",
        ", \"stream\": true, \"stream_options\": null",
    };
    char hdr[256], body[512];
    struct t_resp r;
    json_t *seen;

    t_llm_need();
    bill_user("bill-stream", NULL, false);
    bill_key("bill-stream", hdr, sizeof(hdr), NULL, 0);
    for (size_t i = 0; i < sizeof(extras) / sizeof(extras[0]); i++) {
        bill_chat(hdr, bill_body(body, sizeof(body), "fake-ok", extras[i]), 200, &r);
        bill_check_stream_no_usage(&r);
        t_resp_free(&r);
        seen = bill_fake_last_body();
        ck_assert_msg(
            json_is_true(json_object_get(json_object_get(seen, "stream_options"), "include_usage")),
            "request %s: the provider was not asked for usage", body);
        ck_assert(json_is_true(json_object_get(seen, "stream")));
        json_decref(seen);
        bill_wait_sql("1", "SELECT count(*) = %zu FROM usage_logs WHERE user_id = 'bill-stream'",
                      i + 1);
    }
    t_assert_sql("3", "SELECT count(*) FROM usage_logs WHERE user_id = 'bill-stream' AND "
                      "status = 'success' AND prompt_tokens = 10 AND completion_tokens = 5 AND "
                      "total_tokens = 15 AND usage_estimated = 0 AND "
                      "abs(cost - " BILL_COST ") < 1e-12");
    t_assert_sql("1", "SELECT abs(spend - 6e-5) < 1e-12 FROM users WHERE user_id = 'bill-stream'");
}
END_TEST

/* ---- 4. no usage from the provider: estimated and marked ------------------------------------ */

/*
 * Prompt text: "Be brief." (9 bytes) + "Say h\u00e9llo now!!" (15 characters, 16 bytes) = 25 bytes
 * -> ceil(25/4) = 7 tokens (6 if characters were counted instead of bytes).
 */
#define BILL_NOUSAGE_MSGS                                                                          \
    "\"messages\": [{\"role\": \"system\", \"content\": \"Be brief.\"}, "                          \
    "{\"role\": \"user\", \"content\": \"Say h\\u00e9llo now!!\"}]"

START_TEST(bill_no_usage_estimated)
{
    char hdr[256];
    struct t_resp r;
    json_t *j;

    t_llm_need();
    bill_user("bill-est", NULL, false);
    bill_key("bill-est", hdr, sizeof(hdr), NULL, 0);
    bill_chat(hdr, "{\"model\": \"openai:fake-nousage\", " BILL_NOUSAGE_MSGS "}", 200, &r);
    j = t_json(&r);
    ck_assert_str_eq(
        json_string_value(json_object_get(
            json_object_get(json_array_get(json_object_get(j, "choices"), 0), "message"),
            "content")),
        "Hello from fake");
    json_decref(j);
    t_resp_free(&r);
    /* "Hello from fake": 15 bytes -> 4 tokens; cost 7 x $1/M + 4 x $2/M. */
    bill_wait_sql("1", "SELECT count(*) FROM usage_logs WHERE user_id = 'bill-est'");
    bill_assert_row("bill-est", "fake-nousage|openai|" BILL_PATH "|7|4|11|success|1");
    t_assert_sql("1", "SELECT abs(cost - 1.5e-5) < 1e-12 FROM usage_logs "
                      "WHERE user_id = 'bill-est'");

    /* Stream: "Hel" "lo" " world" = 11 bytes -> 3 tokens; cost 7 x $1/M + 3 x $2/M. */
    bill_chat(hdr, "{\"model\": \"openai:fake-nousage\", \"stream\": true, " BILL_NOUSAGE_MSGS "}",
              200, &r);
    bill_check_stream_no_usage(&r);
    t_resp_free(&r);
    bill_wait_sql("2", "SELECT count(*) FROM usage_logs WHERE user_id = 'bill-est'");
    t_assert_sql("1", "SELECT count(*) FROM usage_logs WHERE user_id = 'bill-est' AND "
                      "status = 'success' AND prompt_tokens = 7 AND completion_tokens = 3 AND "
                      "total_tokens = 10 AND usage_estimated = 1 AND abs(cost - 1.3e-5) < 1e-12");
    t_assert_sql("1", "SELECT abs(spend - 2.8e-5) < 1e-12 FROM users WHERE user_id = 'bill-est'");
}
END_TEST

/* ---- 5. refusals reach neither the provider nor the usage log ------------------------------ */

START_TEST(bill_refusals)
{
    char hdr_blocked[256], hdr_zero[256], hdr_ok[256], body[512];
    char *zero;
    long before;

    t_llm_need();
    bill_user("bill-blocked", NULL, true);
    bill_key("bill-blocked", hdr_blocked, sizeof(hdr_blocked), NULL, 0);
    zero = bill_budget("0", "null");
    bill_user("bill-zero", zero, false);
    bill_key("bill-zero", hdr_zero, sizeof(hdr_zero), NULL, 0);
    bill_user("bill-fine", NULL, false);
    bill_key("bill-fine", hdr_ok, sizeof(hdr_ok), NULL, 0);
    bill_user("bill-deleted", NULL, false);
    t_call_204("DELETE", "/v1/users/bill-deleted", T_AUTH);
    free(zero);

    before = t_fake_stat(&t_llm_fake, "requests");
    ck_assert_int_ge(before, 0);
    t_expect_error("POST", BILL_PATH, hdr_blocked, bill_body(body, sizeof(body), "fake-ok", ""),
                   403, "User 'bill-blocked' is blocked");
    t_expect_error("POST", BILL_PATH, hdr_blocked,
                   bill_body(body, sizeof(body), "fake-ok", ", \"stream\": true"), 403,
                   "User 'bill-blocked' is blocked");
    t_expect_error("POST", BILL_PATH, T_AUTH_JSON,
                   bill_body(body, sizeof(body), "fake-ok", ", \"user\": \"bill-nobody\""), 404,
                   "User 'bill-nobody' not found");
    /* A soft-deleted user is not found. */
    t_expect_error("POST", BILL_PATH, T_AUTH_JSON,
                   bill_body(body, sizeof(body), "fake-ok", ", \"user\": \"bill-deleted\""), 404,
                   "User 'bill-deleted' not found");
    t_expect_error("POST", BILL_PATH, hdr_zero, bill_body(body, sizeof(body), "fake-ok", ""), 403,
                   "User 'bill-zero' has exceeded budget limit");
    t_expect_error("POST", BILL_PATH, hdr_zero,
                   bill_body(body, sizeof(body), "fake-ok", ", \"stream\": true"), 403,
                   "User 'bill-zero' has exceeded budget limit");
    /* The master key on behalf of the exhausted user, and an unpriced model: still refused. */
    t_expect_error("POST", BILL_PATH, T_AUTH_JSON,
                   bill_body(body, sizeof(body), "fake-unpriced", ", \"user\": \"bill-zero\""), 403,
                   "User 'bill-zero' has exceeded budget limit");

    ck_assert_int_eq(t_fake_stat(&t_llm_fake, "requests"), before);
    usleep(300000); /* several flush windows: a row would be visible by now */
    t_assert_sql("0", "SELECT count(*) FROM usage_logs WHERE user_id IN ('bill-blocked', "
                      "'bill-nobody', 'bill-ghost', 'bill-zero', 'bill-fine', 'bill-deleted') OR "
                      "user_id IS NULL");
    t_assert_sql("1", "SELECT sum(spend) = 0 FROM users WHERE user_id IN ('bill-blocked', "
                      "'bill-zero', 'bill-fine')");
}
END_TEST

/* ---- 6. free-model exemption ---------------------------------------------------------------- */

START_TEST(bill_free_model)
{
    char hdr[256], body[512];

    t_llm_need();
    bill_budget_user_key("bill-free", "0", hdr, sizeof(hdr));
    bill_chat_ok(hdr, bill_body(body, sizeof(body), "fake-free", ""));
    bill_chat_ok(hdr, bill_body(body, sizeof(body), "fake-free", ", \"stream\": true"));
    bill_wait_sql("2", "SELECT count(*) FROM usage_logs WHERE user_id = 'bill-free'");
    t_assert_sql("2", "SELECT count(*) FROM usage_logs WHERE user_id = 'bill-free' AND "
                      "model = 'fake-free' AND status = 'success' AND prompt_tokens = 10 AND "
                      "completion_tokens = 5 AND total_tokens = 15 AND cost = 0 AND "
                      "quote(cost) <> 'NULL'");
    t_assert_sql("1", "SELECT spend = 0 FROM users WHERE user_id = 'bill-free'");
    /* The exemption is for the free model only. */
    t_expect_error("POST", BILL_PATH, hdr, bill_body(body, sizeof(body), "fake-ok", ""), 403,
                   "User 'bill-free' has exceeded budget limit");
}
END_TEST

/* ---- 7. lazy reset ------------------------------------------------------------------------- */

START_TEST(bill_lazy_reset)
{
    char hdr[256], body[512], *budget, *started, *next_before;
    long t0;

    t_llm_need();
    budget = bill_budget("0.00001", "2");
    t0 = bill_now_ms();
    bill_user("bill-reset", budget, false);
    bill_key("bill-reset", hdr, sizeof(hdr), NULL, 0);
    started = bill_sql("SELECT budget_started_at FROM users WHERE user_id = 'bill-reset'");
    next_before = bill_sql("SELECT next_budget_reset_at FROM users WHERE user_id = 'bill-reset'");
    ck_assert_msg(t_ends_with(started, "+00:00"), "budget_started_at %s", started);

    /* Under the limit: allowed in full, although it crosses the limit (2e-5 >= 1e-5). */
    bill_chat_ok(hdr, bill_body(body, sizeof(body), "fake-ok", ""));
    bill_wait_sql("1", "SELECT count(*) FROM usage_logs WHERE user_id = 'bill-reset'");
    t_assert_sql("1", "SELECT abs(spend - " BILL_COST ") < 1e-12 FROM users "
                      "WHERE user_id = 'bill-reset'");
    t_expect_error("POST", BILL_PATH, hdr, bill_body(body, sizeof(body), "fake-ok", ""), 403,
                   "User 'bill-reset' has exceeded budget limit");
    ck_assert_msg(bill_now_ms() - t0 < 1800, "too slow to test a 2 s period");
    t_assert_sql("0", "SELECT count(*) FROM budget_reset_logs WHERE user_id = 'bill-reset'");

    /* The period (anchored at the assignment) elapses: the next request resets and passes. */
    while (bill_now_ms() - t0 < 2150)
        usleep(20000);
    bill_chat_ok(hdr, bill_body(body, sizeof(body), "fake-ok", ""));
    bill_wait_sql("2", "SELECT count(*) FROM usage_logs WHERE user_id = 'bill-reset'");
    bill_wait_sql("1", "SELECT count(*) FROM budget_reset_logs WHERE user_id = 'bill-reset'");
    t_assert_sql(budget, "SELECT budget_id FROM budget_reset_logs WHERE user_id = 'bill-reset'");
    t_assert_sql("1", "SELECT abs(previous_spend - " BILL_COST ") < 1e-12 FROM budget_reset_logs "
                      "WHERE user_id = 'bill-reset'");
    t_assert_sql("1", "SELECT reset_at LIKE '%%+00:00' AND next_reset_at LIKE '%%+00:00' FROM "
                      "budget_reset_logs WHERE user_id = 'bill-reset'");
    t_assert_sql("2000", "SELECT CAST(round((julianday(next_reset_at) - julianday(reset_at)) * "
                         "86400000) AS INTEGER) FROM budget_reset_logs "
                         "WHERE user_id = 'bill-reset'");
    /* The reset happened at the request, after the old schedule. */
    t_assert_sql("1",
                 "SELECT julianday(reset_at) >= julianday('%s') FROM budget_reset_logs "
                 "WHERE user_id = 'bill-reset'",
                 next_before);
    /* The user row was re-anchored like the log says; spend is the last request's cost. */
    t_assert_sql("1", "SELECT u.budget_started_at = l.reset_at AND "
                      "u.next_budget_reset_at = l.next_reset_at FROM users u "
                      "JOIN budget_reset_logs l ON l.user_id = u.user_id "
                      "WHERE u.user_id = 'bill-reset'");
    t_assert_sql("1", "SELECT budget_started_at <> '%s' FROM users WHERE user_id = 'bill-reset'",
                 started);
    t_assert_sql("1", "SELECT spend = (SELECT cost FROM usage_logs WHERE user_id = 'bill-reset' "
                      "ORDER BY timestamp DESC LIMIT 1) AND abs(spend - " BILL_COST ") < 1e-12 "
                      "FROM users WHERE user_id = 'bill-reset'");
    /* The new period is already spent again. */
    t_expect_error("POST", BILL_PATH, hdr, bill_body(body, sizeof(body), "fake-ok", ""), 403,
                   "User 'bill-reset' has exceeded budget limit");
    free(budget);
    free(started);
    free(next_before);
}
END_TEST

/* ---- 11. client disconnect mid-stream ------------------------------------------------------ */

static int bill_connect(int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

static int bill_send_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t w = send(fd, buf, len, MSG_NOSIGNAL);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        buf += w;
        len -= (size_t)w;
    }
    return 0;
}

static size_t bill_count(const char *s, const char *needle)
{
    size_t n = 0;

    for (s = strstr(s, needle); s != NULL; s = strstr(s + 1, needle))
        n++;
    return n;
}

/*
 * Reads into buf (NUL-terminated) until needle occurs n times, the peer closes or timeout_ms
 * passes. Returns the occurrences seen.
 */
static size_t bill_recv_until(int fd, char *buf, size_t cap, const char *needle, size_t n,
                              long timeout_ms)
{
    long deadline = bill_now_ms() + timeout_ms;
    size_t got = 0, seen = 0;

    buf[0] = '\0';
    while (seen < n && got + 1 < cap) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        long left = deadline - bill_now_ms();
        ssize_t r;

        if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
            break;
        r = recv(fd, buf + got, cap - got - 1, 0);
        if (r <= 0)
            break;
        got += (size_t)r;
        buf[got] = '\0';
        seen = bill_count(buf, needle);
    }
    return seen;
}

/* Sends body as user's POST on a new connection; returns the socket. */
static int bill_gone_send(const char *user, const char *body)
{
    char hdr[256], req[1024];
    int fd, n;

    bill_user(user, NULL, false);
    bill_key(user, hdr, sizeof(hdr), NULL, 0);
    t_fake_reset(&t_llm_fake);
    ck_assert_int_eq(t_fake_stat(&t_llm_fake, "active"), 0);
    n = snprintf(req, sizeof(req),
                 "POST " BILL_PATH
                 " HTTP/1.1\r\nHost: 127.0.0.1\r\n%sContent-Length: %zu\r\n\r\n%s",
                 hdr, strlen(body), body);
    fd = bill_connect(t_api.port);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(bill_send_all(fd, req, (size_t)n), 0);
    return fd;
}

/* After the client closed at closed_at: its row is written and the upstream call cancelled. */
static void bill_gone_check(const char *user, long closed_at)
{
    long elapsed, cc = -1, active = -1;

    bill_wait_sql("1", "SELECT count(*) FROM usage_logs WHERE user_id = '%s'", user);
    elapsed = bill_now_ms() - closed_at;
    ck_assert_msg(elapsed < bill_ms(2000), "the cancelled row took %ld ms", elapsed);
    t_assert_sql("fake-slow-20-200|openai|cancelled",
                 "SELECT model || '|' || provider || '|' || status FROM usage_logs "
                 "WHERE user_id = '%s'",
                 user);
    /* The upstream call was cancelled at once, not after 20 x 200 ms. */
    for (long deadline = bill_now_ms() + bill_ms(2000); bill_now_ms() < deadline;) {
        cc = t_fake_stat(&t_llm_fake, "client_closed");
        active = t_fake_stat(&t_llm_fake, "active");
        if (cc >= 1 && active == 0)
            break;
        usleep(20000);
    }
    ck_assert_msg(cc >= 1 && active == 0, "fake: client_closed %ld, active %ld", cc, active);
    elapsed = bill_now_ms() - closed_at;
    ck_assert_msg(elapsed < bill_ms(2500), "upstream cancelled after %ld ms", elapsed);
}

START_TEST(bill_client_disconnect)
{
    char buf[16384];
    long closed_at, sent;
    size_t seen;
    int fd;
    char *cut;

    t_llm_need();
    fd = bill_gone_send("bill-gone",
                        "{\"model\": \"openai:fake-slow-20-200\", \"stream\": true, "
                        "\"messages\": [{\"role\": \"user\", \"content\": \"Count!\"}]}");
    seen = bill_recv_until(fd, buf, sizeof(buf), "data: {", 2, bill_ms(3000));
    ck_assert_msg(seen >= 2, "only %zu events before the timeout: %s", seen, buf);
    ck_assert_msg(strncmp(buf, "HTTP/1.1 200", 12) == 0, "reply %s", buf);
    ck_assert_msg(strstr(buf, "x0 ") != NULL, "first chunk missing: %s", buf);
    close(fd);
    closed_at = bill_now_ms();

    bill_gone_check("bill-gone", closed_at);
    /* Prompt "Count!" = 6 bytes -> 2 tokens (estimated: no usage chunk before the end). */
    t_assert_sql("1|2|1", "SELECT usage_estimated || '|' || prompt_tokens || '|' || "
                          "(completion_tokens >= 1 AND total_tokens = prompt_tokens + "
                          "completion_tokens) FROM usage_logs WHERE user_id = 'bill-gone'");
    /* Between 2 and 20 chunks of "xN " (3 bytes) were generated before the cut. */
    t_assert_sql("1", "SELECT completion_tokens BETWEEN 2 AND 14 FROM usage_logs "
                      "WHERE user_id = 'bill-gone'");
    t_assert_sql("1", "SELECT cost > 0 AND abs(cost - (prompt_tokens * 1.0 + completion_tokens * "
                      "2.0) / 1e6) < 1e-12 FROM usage_logs WHERE user_id = 'bill-gone'");
    t_assert_sql("1", "SELECT spend > 0 AND spend = (SELECT cost FROM usage_logs "
                      "WHERE user_id = 'bill-gone') FROM users WHERE user_id = 'bill-gone'");
    cut = bill_sql("SELECT quote(error_message) FROM usage_logs WHERE user_id = 'bill-gone'");
    ck_assert_msg(strcmp(cut, "NULL") != 0, "cancelled row without error_message");
    free(cut);
    sent = t_fake_stat(&t_llm_fake, "chunks_sent");
    ck_assert_msg(sent >= 2 && sent < 20, "the fake sent %ld chunks", sent);
}
END_TEST

/*
 * A client that leaves while a non-streamed call is still upstream (nothing was written to it
 * yet): the gateway sees the close at once, cancels the call and logs it.
 */
START_TEST(bill_client_disconnect_waiting)
{
    int fd;

    t_llm_need();
    fd = bill_gone_send("bill-gone-wait",
                        "{\"model\": \"openai:fake-slow-20-200\", "
                        "\"messages\": [{\"role\": \"user\", \"content\": \"Count!\"}]}");
    /* The fake holds the answer for 20 x 200 ms; leave once the call is upstream. */
    for (long deadline = bill_now_ms() + bill_ms(2000);
         bill_now_ms() < deadline && t_fake_stat(&t_llm_fake, "active") < 1;)
        usleep(10000);
    ck_assert_int_eq(t_fake_stat(&t_llm_fake, "active"), 1);
    close(fd);
    bill_gone_check("bill-gone-wait", bill_now_ms());
}
END_TEST

/* ---- 8. concurrency: reservations bound the overshoot -------------------------------------- */

struct bill_conc {
    const char *hdr;
    const char *body;
    pthread_barrier_t *start;
    int rc;
    struct t_resp resp;
};

static void *bill_conc_run(void *arg)
{
    struct bill_conc *c = arg;

    pthread_barrier_wait(c->start);
    c->rc = t_http(t_api.port, "POST", BILL_PATH, c->hdr, c->body, &c->resp);
    return NULL;
}

/*
 * Sends body with hdr n times at once (n <= BILL_BURST_MAX); every answer must be 200 or the
 * budget refusal of user. Returns how many passed; checks the provider saw exactly those.
 */
static long bill_burst(const char *hdr, const char *body, int n, const char *user)
{
    struct bill_conc calls[BILL_BURST_MAX];
    pthread_t th[BILL_BURST_MAX];
    pthread_barrier_t start;
    long before = t_fake_stat(&t_llm_fake, "requests"), ok = 0;
    char want[256];

    ck_assert_int_le(n, BILL_BURST_MAX);
    snprintf(want, sizeof(want), "User '%s' has exceeded budget limit", user);
    ck_assert_int_eq(pthread_barrier_init(&start, NULL, (unsigned)n), 0);
    for (int i = 0; i < n; i++) {
        calls[i] = (struct bill_conc){.hdr = hdr, .body = body, .start = &start, .rc = -1};
        ck_assert_int_eq(pthread_create(&th[i], NULL, bill_conc_run, &calls[i]), 0);
    }
    for (int i = 0; i < n; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&start);

    for (int i = 0; i < n; i++) {
        struct t_resp *r = &calls[i].resp;

        ck_assert_msg(calls[i].rc == 0, "request %d failed at the socket level", i);
        if (r->status == 200) {
            ok++;
        } else {
            json_t *j = t_json(r);

            ck_assert_msg(r->status == 403, "request %d: status %d, body %s", i, r->status,
                          r->body);
            ck_assert_str_eq(json_string_value(json_object_get(j, "detail")), want);
            json_decref(j);
        }
        t_resp_free(r);
    }
    ck_assert_int_eq(t_fake_stat(&t_llm_fake, "requests") - before, ok);
    return ok;
}

/* The spend of user once every row is written: it equals the sum of the usage rows' cost. */
static double bill_settled_spend(const char *user, long rows)
{
    char *spend;
    double s;

    bill_wait_sql("1",
                  "SELECT count(*) = %ld FROM usage_logs WHERE user_id = '%s' AND "
                  "status = 'success'",
                  rows, user);
    t_assert_sql("0",
                 "SELECT count(*) FROM usage_logs WHERE user_id = '%s' AND "
                 "status <> 'success'",
                 user);
    t_assert_sql("1",
                 "SELECT abs(spend - (SELECT sum(cost) FROM usage_logs "
                 "WHERE user_id = '%s')) < 1e-9 FROM users WHERE user_id = '%s'",
                 user, user);
    spend = bill_sql("SELECT spend FROM users WHERE user_id = '%s'", user);
    s = strtod(spend, NULL);
    free(spend);
    return s;
}

/*
 * fake-slow-1-300 at $100000/M both ways: 10 prompt + 1 completion tokens = 1.1 USD, and with
 * budget_min_reservation_tokens: 1 (this case's fixture) the reservation of a 40-byte prompt
 * with max_tokens 1 is the same 1.1 USD.
 */
START_TEST(bill_concurrent_budget)
{
    static const char body[] = "{\"model\": \"openai:fake-slow-1-300\", \"max_tokens\": 1, "
                               "\"messages\": [{\"role\": \"user\", \"content\": "
                               "\"0123456789012345678901234567890123456789\"}]}";
    char hdr[256];
    long ok;
    double s;

    t_llm_need();
    bill_budget_user_key("bill-conc", "5.0", hdr, sizeof(hdr));
    ok = bill_burst(hdr, body, BILL_CONC_N, "bill-conc");
    ck_assert_msg(ok >= 3, "only %ld requests passed", ok);
    s = bill_settled_spend("bill-conc", ok);
    t_assert_sql("1",
                 "SELECT count(*) = %ld FROM usage_logs WHERE user_id = 'bill-conc' AND "
                 "prompt_tokens = 10 AND completion_tokens = 1 AND abs(cost - 1.1) < 1e-9",
                 ok);
    /* Overshoot of at most one request (without reservations all 20 pass: 22 USD). */
    ck_assert_msg(s <= 5.0 + 1.1 + 1e-9, "spend %.6f after %ld successes", s, ok);
}
END_TEST

/*
 * DESIGN.md §2.5 with a client that asks for max_tokens 1 and a provider that overruns it
 * (fake-overrun-1000-500 reports 1000 completion tokens): at $1000/M a request costs
 * (10 + 1000) tokens = 1.01 USD. The reservation does not trust max_tokens: it is at least
 * budget_min_reservation_tokens (default 1024) of output, so 50 requests at once against a
 * 5 USD budget overshoot by at most about one request. Before the floor each reserved 0.004 USD
 * and all 50 passed (50.5 USD).
 */
START_TEST(bill_concurrent_overrun)
{
    static const char body[] = "{\"model\": \"openai:fake-overrun-1000-500\", \"max_tokens\": 1, "
                               "\"messages\": [{\"role\": \"user\", \"content\": \"0123456789\"}]}";
    char hdr[256];
    long ok;
    double s;

    t_llm_need();
    bill_budget_user_key("bill-overrun", "5.0", hdr, sizeof(hdr));
    ok = bill_burst(hdr, body, BILL_BURST_MAX, "bill-overrun");
    ck_assert_msg(ok >= 1 && ok < BILL_BURST_MAX, "%ld of %d requests passed", ok, BILL_BURST_MAX);
    s = bill_settled_spend("bill-overrun", ok);
    t_assert_sql("1",
                 "SELECT count(*) = %ld FROM usage_logs WHERE user_id = 'bill-overrun' AND "
                 "prompt_tokens = 10 AND completion_tokens = 1000 AND abs(cost - 1.01) < 1e-9",
                 ok);
    ck_assert_msg(s <= 5.0 + 1.01 + 1e-9, "spend %.6f after %ld of %d requests", s, ok,
                  BILL_BURST_MAX);
}
END_TEST

/* ---- 9. usage_log_sync: the row is durable before the reply ------------------------------- */

START_TEST(bill_sync_rows)
{
    char hdr[256], body[512];
    struct t_resp r;
    long t0;

    t_llm_need();
    bill_user("bill-sync", NULL, false);
    bill_key("bill-sync", hdr, sizeof(hdr), NULL, 0);

    t0 = bill_now_ms();
    bill_chat(hdr, bill_body(body, sizeof(body), "fake-ok", ""), 200, &r);
    t_resp_free(&r);
    /* No polling: with usage_flush_ms 10000 only the synchronous path explains the row. */
    t_assert_sql("1|1", "SELECT count(*) || '|' || (abs(sum(cost) - " BILL_COST ") < 1e-12) "
                        "FROM usage_logs WHERE user_id = 'bill-sync' AND status = 'success'");
    t_assert_sql("1", "SELECT abs(spend - " BILL_COST ") < 1e-12 FROM users "
                      "WHERE user_id = 'bill-sync'");

    bill_chat(hdr, bill_body(body, sizeof(body), "fake-ok", ", \"stream\": true"), 200, &r);
    bill_check_stream_no_usage(&r);
    t_resp_free(&r);
    t_assert_sql("2", "SELECT count(*) FROM usage_logs WHERE user_id = 'bill-sync' AND "
                      "status = 'success' AND prompt_tokens = 10 AND completion_tokens = 5");
    t_assert_sql("1", "SELECT abs(spend - 4e-5) < 1e-12 FROM users WHERE user_id = 'bill-sync'");

    /* An upstream error row is durable before the error reply too. */
    t_expect_error("POST", BILL_PATH, hdr, bill_body(body, sizeof(body), "fake-status-400", ""),
                   400, "fake error 400 for token ***");
    t_assert_sql("1", "SELECT count(*) FROM usage_logs WHERE user_id = 'bill-sync' AND "
                      "status = 'error' AND model = 'fake-status-400' AND cost IS NULL");
    t_assert_sql("1", "SELECT abs(spend - 4e-5) < 1e-12 FROM users WHERE user_id = 'bill-sync'");
    ck_assert_msg(bill_now_ms() - t0 < bill_ms(3000), "the synchronous replies waited for the "
                                                      "10 s flush window");
}
END_TEST

/* ---- 11. client text and provider errors in the log ------------------------------------------ */

#define BILL_FORGED "2026-01-01T00:00:00.000Z ERROR forged"

/* The gateway's log so far (owned), waiting up to 2 s for needle (lines go through a thread). */
static char *bill_log_with(const char *needle)
{
    char *log = t_gw_log_wait(&t_api, needle, (int)bill_ms(2000));

    ck_assert_ptr_nonnull(log);
    return log;
}

/* A newline in the model cannot start a forged log line (regression: the model of an unpriced
 * request reached the "No pricing configured" warning raw). */
START_TEST(bill_log_no_forged_lines)
{
    char hdr[256], body[512];
    struct t_resp r;
    char *log;

    t_llm_need();
    bill_user("bill-forge", NULL, false);
    bill_key("bill-forge", hdr, sizeof(hdr), NULL, 0);
    bill_chat_ok(hdr, bill_body(body, sizeof(body),
                                "fake-unpriced\\n" BILL_FORGED " model\\u001b[2J\\r", ""));
    /* An unknown user named by the master key: refused, and the reply escapes it too. */
    bill_chat(
        T_AUTH_JSON,
        bill_body(body, sizeof(body), "fake-ok", ", \"user\": \"u\\r\\n" BILL_FORGED " user\""),
        404, &r);
    t_resp_free(&r);
    log = bill_log_with("forged model");
    ck_assert_msg(strstr(log, "fake-unpriced\\n" BILL_FORGED " model") != NULL,
                  "escaped model missing from the log:\n%s", log);
    ck_assert_msg(strstr(log, "\n" BILL_FORGED) == NULL && strncmp(log, BILL_FORGED, 20) != 0,
                  "forged line in the log:\n%s", log);
    ck_assert_msg(strchr(log, '\x1b') == NULL && strchr(log, '\r') == NULL,
                  "raw control byte in the log");
    free(log);
}
END_TEST

/* ---- ids longer than any fixed buffer ------------------------------------------------------ */

/* POSTs the JSON of o (taken) to path with the master key and asserts 200. */
static void bill_post(const char *path, json_t *o)
{
    char *body = json_dumps(o, 0);

    json_decref(o);
    ck_assert_ptr_nonnull(body);
    json_decref(t_call("POST", path, T_AUTH_JSON, body, 200));
    free(body);
}

/*
 * A key of a user whose id is 1010 bytes bills that user, not the user whose id is its first 255
 * bytes (regression: the in-memory key index cut user ids at 255 bytes), and a model whose price
 * key is 617 bytes is billed at its own price, not at that of the key's first 511 bytes
 * (regression: the price lookup cut its key at 511 bytes).
 */
START_TEST(bill_long_ids)
{
    char *user = t_long_str("bill-long-", 'u', 1000), *twin = strndup(user, 255), hdr[256];

    /* Long price keys are the index's unit test (long_price_keys): a chat model is <= 256 bytes. */
    t_llm_need();
    bill_post("/v1/users", json_pack("{s:s}", "user_id", user));
    bill_post("/v1/users", json_pack("{s:s}", "user_id", twin));
    bill_key(user, hdr, sizeof(hdr), NULL, 0);
    bill_chat_ok(hdr, "{\"model\": \"openai:fake-ok\", \"messages\": [{\"role\": \"user\", "
                      "\"content\": \"Hi\"}]}");
    bill_wait_sql("1", "SELECT count(*) FROM usage_logs WHERE user_id LIKE 'bill-long-%%'");
    t_assert_sql("1010",
                 "SELECT length(user_id) FROM usage_logs WHERE user_id LIKE 'bill-long-%%'");
    t_assert_sql("1", "SELECT CASE WHEN abs(spend - " BILL_COST ") < 1e-12 THEN 1 ELSE 0 END "
                      "FROM users WHERE user_id LIKE 'bill-long-%%' AND length(user_id) = 1010");
    t_assert_sql("1", "SELECT CASE WHEN spend = 0 THEN 1 ELSE 0 END FROM users "
                      "WHERE user_id LIKE 'bill-long-%%' AND length(user_id) = 255");
    t_assert_sql("0", "SELECT count(*) FROM usage_logs WHERE length(user_id) = 255");
    free(user);
    free(twin);
}
END_TEST

/* A provider echoing the gateway's key cut short: neither the client nor the log nor the usage
 * row sees any of it (regression: only the whole key was masked). */
START_TEST(bill_provider_key_cut_masked)
{
    char hdr[256], body[512];
    struct t_resp r;
    char *log, *row;

    t_llm_need();
    bill_user("bill-keycut", NULL, false);
    bill_key("bill-keycut", hdr, sizeof(hdr), NULL, 0);
    bill_chat(hdr, bill_body(body, sizeof(body), "fake-keycut-400", ""), 400, &r);
    ck_assert_msg(strstr(r.body, "fake error 400 for token ***") != NULL, "reply %s", r.body);
    ck_assert_msg(strstr(r.body, "provider-key") == NULL, "key leaked to the client: %s", r.body);
    t_resp_free(&r);
    bill_wait_sql("1", "SELECT count(*) FROM usage_logs WHERE user_id = 'bill-keycut'");
    row = bill_sql("SELECT error_message FROM usage_logs WHERE user_id = 'bill-keycut'");
    ck_assert_msg(strstr(row, "provider-key") == NULL && strstr(row, "token ***") != NULL,
                  "usage row: %s", row);
    free(row);
    log = bill_log_with("fake-keycut");
    ck_assert_msg(strstr(log, "provider-key") == NULL, "key leaked to the log:\n%s", log);
    free(log);
}
END_TEST

/* ---- 10. SIGTERM flushes every queued row -------------------------------------------------- */

START_TEST(bill_sigterm_flush)
{
    char hdr[256], body[512];

    t_llm_need();
    bill_user("bill-term", NULL, false);
    bill_key("bill-term", hdr, sizeof(hdr), NULL, 0);
    for (int i = 0; i < 5; i++)
        bill_chat_ok(
            hdr, bill_body(body, sizeof(body), "fake-ok", i % 2 == 0 ? "" : ", \"stream\": true"));
    /* usage_flush_ms is 10000: nothing is written yet. */
    t_assert_sql("0", "SELECT count(*) FROM usage_logs WHERE user_id = 'bill-term'");
    t_assert_sql("1", "SELECT spend = 0 FROM users WHERE user_id = 'bill-term'");

    /* SIGTERM, exit status 0 (the teardown only reaps the process). */
    t_api_stop_clean();
    t_assert_sql("5", "SELECT count(*) FROM usage_logs WHERE user_id = 'bill-term' AND "
                      "status = 'success' AND prompt_tokens = 10 AND completion_tokens = 5 AND "
                      "total_tokens = 15 AND abs(cost - " BILL_COST ") < 1e-12");
    t_assert_sql("1", "SELECT abs(spend - 1e-4) < 1e-12 AND abs(spend - (SELECT sum(cost) FROM "
                      "usage_logs WHERE user_id = 'bill-term')) < 1e-12 FROM users "
                      "WHERE user_id = 'bill-term'");
}
END_TEST

/* ---- 12. shutdown: streams cut at the deadline are billed; a second SIGTERM; SIGHUP -----------
 */

/* Starts a 10 s stream for user and returns its socket once two events arrived. */
static int bill_long_stream(const char *user)
{
    char buf[8192];
    size_t seen;
    int fd = bill_gone_send(user, "{\"model\": \"openai:" BILL_LONG_MODEL "\", \"stream\": true, "
                                  "\"messages\": [{\"role\": \"user\", \"content\": \"Count!\"}]}");

    seen = bill_recv_until(fd, buf, sizeof(buf), "data: {", 2, bill_ms(3000));
    ck_assert_msg(seen >= 2, "only %zu events before the timeout: %s", seen, buf);
    return fd;
}

/* The row of a stream cut by the shutdown: cancelled, "shutdown", billed for what was sent. */
static void bill_assert_cut_row(const char *user)
{
    t_assert_sql("cancelled|shutdown|1|1",
                 "SELECT status || '|' || error_message || '|' || (completion_tokens >= 1) || '|' "
                 "|| (abs(cost - (prompt_tokens * 1.0 + completion_tokens * 2.0) / 1e6) < 1e-12 "
                 "AND cost > 0) FROM usage_logs WHERE user_id = '%s'",
                 user);
    t_assert_sql("1",
                 "SELECT spend > 0 AND spend = (SELECT cost FROM usage_logs WHERE user_id = "
                 "'%s') FROM users WHERE user_id = '%s'",
                 user, user);
}

/* shutdown_timeout 1: the stream is cut at the deadline and billed (regression: an "error" row
 * without tokens or cost). */
START_TEST(bill_shutdown_deadline_bills)
{
    long t0;
    int fd;

    t_llm_need();
    fd = bill_long_stream("bill-cut");
    t0 = bill_now_ms();
    t_api_stop_clean(); /* SIGTERM, exit 0 */
    ck_assert_msg(bill_now_ms() - t0 < bill_ms(5000), "shutdown took %ld ms", bill_now_ms() - t0);
    close(fd);
    bill_assert_cut_row("bill-cut");
}
END_TEST

/* SIGHUP re-reads the log level and never stops the process (regression: its default action
 * killed the gateway without flushing). */
START_TEST(bill_sighup_keeps_serving)
{
    char *log;
    struct t_resp r;

    t_llm_need();
    ck_assert_int_eq(kill(t_api.pid, SIGHUP), 0);
    log = bill_log_with("SIGHUP: log level");
    ck_assert_msg(strstr(log, "SIGHUP: log level") != NULL, "no SIGHUP line:\n%s", log);
    free(log);
    ck_assert_int_eq(t_http(t_api.port, "GET", "/health/liveness", NULL, NULL, &r), 0);
    ck_assert_int_eq(r.status, 200);
    t_resp_free(&r);
}
END_TEST

/* shutdown_timeout 60: a second SIGTERM cuts the drain at once, rows still written (regression:
 * it was ignored until the deadline). */
START_TEST(bill_second_sigterm_stops_now)
{
    long t0;
    int fd;

    t_llm_need();
    fd = bill_long_stream("bill-term2");
    ck_assert_int_eq(kill(t_api.pid, SIGTERM), 0);
    usleep(300000);
    ck_assert_int_eq(t_fake_stat(&t_llm_fake, "active"), 1); /* still draining */
    t0 = bill_now_ms();
    t_api_stop_clean(); /* the second SIGTERM, exit 0 */
    ck_assert_msg(bill_now_ms() - t0 < bill_ms(3000), "second SIGTERM took %ld ms",
                  bill_now_ms() - t0);
    close(fd);
    bill_assert_cut_row("bill-term2");
}
END_TEST

Suite *e2e_billing_suite(void)
{
    Suite *s = suite_create("e2e_billing");
    TCase *tc = tcase_create("billing");
    TCase *conc = tcase_create("concurrency");
    TCase *sync = tcase_create("usage_log_sync");
    TCase *term = tcase_create("sigterm_flush");
    TCase *cut = tcase_create("shutdown_deadline");
    TCase *cut2 = tcase_create("second_sigterm");

    tcase_add_unchecked_fixture(tc, bill_up_default, t_llm_down);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, bill_json_request);
    tcase_add_test(tc, bill_key_bills_its_owner);
    tcase_add_test(tc, bill_spend_accumulates);
    tcase_add_test(tc, bill_stream_forces_usage);
    tcase_add_test(tc, bill_no_usage_estimated);
    tcase_add_test(tc, bill_refusals);
    tcase_add_test(tc, bill_free_model);
    tcase_add_test(tc, bill_lazy_reset);
    tcase_add_test(tc, bill_client_disconnect);
    tcase_add_test(tc, bill_client_disconnect_waiting);
    tcase_add_test(tc, bill_log_no_forged_lines);
    tcase_add_test(tc, bill_provider_key_cut_masked);
    tcase_add_test(tc, bill_concurrent_overrun);
    tcase_add_test(tc, bill_long_ids);
    t_api_add_shutdown_test(tc);
    suite_add_tcase(s, tc);

    tcase_add_unchecked_fixture(conc, bill_up_floor1, t_llm_down);
    tcase_set_timeout(conc, 30);
    tcase_add_test(conc, bill_concurrent_budget);
    t_api_add_shutdown_test(conc);
    suite_add_tcase(s, conc);

    tcase_add_unchecked_fixture(sync, bill_up_sync, t_llm_down);
    tcase_set_timeout(sync, 30);
    tcase_add_test(sync, bill_sync_rows);
    t_api_add_shutdown_test(sync);
    suite_add_tcase(s, sync);

    tcase_add_unchecked_fixture(term, bill_up_slow_flush, t_llm_down);
    tcase_set_timeout(term, 30);
    tcase_add_test(term, bill_sigterm_flush);
    suite_add_tcase(s, term);

    tcase_add_unchecked_fixture(cut, bill_up_shutdown, t_llm_down);
    tcase_set_timeout(cut, 30);
    tcase_add_test(cut, bill_sighup_keeps_serving);
    tcase_add_test(cut, bill_shutdown_deadline_bills);
    suite_add_tcase(s, cut);

    tcase_add_unchecked_fixture(cut2, bill_up_shutdown_long, t_llm_down);
    tcase_set_timeout(cut2, 30);
    tcase_add_test(cut2, bill_second_sigterm_stops_now);
    suite_add_tcase(s, cut2);
    return s;
}
