/*
 * End-to-end tests of GET /metrics (spec §8.2, README "Metrics") through the real binary with
 * two workers and the fake provider: the text format and its content type, `promtool check
 * metrics` on a real scrape, request counts by route template (never a raw id), /metrics not
 * counted itself, tokens, cost, upstream classes and durations, open streams, auth failures by
 * reason, budget exceeded by user, 404 when enable_metrics is off, and a real Prometheus
 * scraping the running gateway.
 */
#include <check.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "t_llm.h"

#define CHAT "/v1/chat/completions"
#define PRICES                                                                                     \
    "pricing:\n"                                                                                   \
    "  \"openai:fake-ok\":\n"                                                                      \
    "    input_price_per_million: 1000.0\n"                                                        \
    "    output_price_per_million: 2000.0\n"

static void metrics_up(void)
{
    t_llm_up("", "enable_metrics: true\n" PRICES);
}

/* One scrape: 200 with the format's content type; returns the body (owned). */
static char *scrape(void)
{
    struct t_resp r;
    char ct[128];
    char *body;

    ck_assert_int_eq(t_http(t_api.port, "GET", "/metrics", NULL, NULL, &r), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(t_header(&r, "Content-Type", ct, sizeof(ct)));
    ck_assert_str_eq(ct, "text/plain; version=0.0.4; charset=utf-8");
    body = strdup(r.body);
    t_resp_free(&r);
    return body;
}

/* The value of the series (name{labels} exactly as exposed) in a scrape; -1 when absent. */
static double mval(const char *body, const char *series)
{
    size_t n = strlen(series);

    for (const char *p = strstr(body, series); p != NULL; p = strstr(p + 1, series))
        if ((p == body || p[-1] == '\n') && p[n] == ' ')
            return strtod(p + n + 1, NULL);
    return -1;
}

/* The value, 0 when the series is absent (a counter not yet incremented). */
static double mcount(const char *body, const char *series)
{
    double v = mval(body, series);

    return v < 0 ? 0 : v;
}

static void chat(const char *key, const char *model, bool stream, int want)
{
    char hdr[256], body[256];
    struct t_resp r;

    if (key != NULL)
        snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s\r\nContent-Type: application/json\r\n",
                 key);
    else
        snprintf(hdr, sizeof(hdr), "Content-Type: application/json\r\n");
    snprintf(body, sizeof(body),
             "{\"model\":\"openai:%s\",\"stream\":%s,"
             "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
             model, stream ? "true" : "false");
    ck_assert_int_eq(t_http(t_api.port, "POST", CHAT, hdr, body, &r), 0);
    ck_assert_msg(r.status == want, "%s: status %d, want %d: %s", model, r.status, want, r.body);
    t_resp_free(&r);
}

static void get(const char *path, const char *hdr, int want)
{
    struct t_resp r;

    ck_assert_int_eq(t_http(t_api.port, "GET", path, hdr, NULL, &r), 0);
    ck_assert_int_eq(r.status, want);
    t_resp_free(&r);
}

#define REQ(m, ep, st)                                                                             \
    "gateway_requests_total{method=\"" m "\",endpoint=\"" ep "\",status=\"" st "\"}"

START_TEST(format_and_promtool)
{
    char *body, path[256], cmd[1200];
    FILE *f;

    t_llm_need();
    get("/health", NULL, 200);
    body = scrape();
    ck_assert_ptr_nonnull(strstr(body, "# TYPE gateway_requests_total counter\n"));
    ck_assert_ptr_nonnull(strstr(body, "# TYPE gateway_request_duration_seconds histogram\n"));
    ck_assert_ptr_nonnull(strstr(body, "# TYPE gateway_active_requests gauge\n"));
    ck_assert_ptr_nonnull(strstr(body, "# TYPE gateway_tokens_total counter\n"));
    ck_assert_ptr_nonnull(strstr(body, "# TYPE gateway_request_cost_dollars histogram\n"));
    ck_assert_ptr_nonnull(strstr(body, "# TYPE gateway_rate_limit_hits_total counter\n"));
    ck_assert_ptr_nonnull(strstr(body, "# TYPE gateway_budget_exceeded_total counter\n"));
    ck_assert_ptr_nonnull(strstr(body, "# TYPE gateway_auth_failures_total counter\n"));
    ck_assert(mval(body, "gateway_active_requests") == 0);
    ck_assert(mval(body, "gateway_open_streams") == 0);
    ck_assert(mval(body, "gateway_usage_queue_depth") >= 0);
    ck_assert(mval(body, "gateway_db_up{backend=\"sqlite\"}") == 1 ||
              mval(body, "gateway_db_up{backend=\"postgresql\"}") == 1);
    /* PostgreSQL: the replica sync has refreshed (start-up waits for the first one's start). */
    if (getenv("GW_TEST_BACKEND") != NULL && strcmp(getenv("GW_TEST_BACKEND"), "postgres") == 0) {
        double age = -1;
        struct timespec nap = {0, 100 * 1000 * 1000};
        for (int i = 0; i < 50 && age < 0; i++) { /* -1 until the first refresh (every 0.5 s) */
            char *b = scrape();
            age = mval(b, "gateway_replica_sync_age_seconds");
            free(b);
            if (age < 0)
                nanosleep(&nap, NULL);
        }
        ck_assert_msg(age >= 0 && age < 5, "replica sync age %f", age);
    } else {
        ck_assert_ptr_null(strstr(body, "gateway_replica_sync_age_seconds")); /* SQLite: none */
    }
    /* promtool (Debian's prometheus package) lints the real scrape. */
    snprintf(path, sizeof(path), "%s/scrape.txt", t_api.dir);
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(body, f);
    fclose(f);
    snprintf(cmd, sizeof(cmd), "promtool check metrics < '%s' > '%s.out' 2>&1", path, path);
    ck_assert_msg(system(cmd) == 0, "promtool check metrics failed (is promtool installed?): %s",
                  t_read_file(strcat(path, ".out")));
    free(body);
}
END_TEST

START_TEST(requests_by_route_template)
{
    char *before, *after, path[128];

    t_llm_need();
    before = scrape();
    for (int i = 0; i < 3; i++)
        get("/health", NULL, 200);
    get("/v1/keys/some-key-id-1234", T_AUTH, 404);
    get("/v1/users/raw-user-777/usage", T_AUTH, 404);
    get("/no/such/path-999", NULL, 404);
    chat(NULL, "fake-ok", false, 401);
    after = scrape();
    ck_assert(mcount(after, REQ("GET", "/health", "200")) -
                  mcount(before, REQ("GET", "/health", "200")) ==
              3);
    ck_assert(mcount(after, REQ("GET", "/v1/keys/{key_id}", "404")) -
                  mcount(before, REQ("GET", "/v1/keys/{key_id}", "404")) ==
              1);
    ck_assert(mcount(after, REQ("GET", "/v1/users/{user_id}/usage", "404")) -
                  mcount(before, REQ("GET", "/v1/users/{user_id}/usage", "404")) ==
              1);
    ck_assert(mcount(after, REQ("GET", "unmatched", "404")) -
                  mcount(before, REQ("GET", "unmatched", "404")) ==
              1);
    ck_assert(mcount(after, REQ("POST", CHAT, "401")) - mcount(before, REQ("POST", CHAT, "401")) ==
              1);
    /* Raw ids never become label values. */
    ck_assert_ptr_null(strstr(after, "some-key-id-1234"));
    ck_assert_ptr_null(strstr(after, "raw-user-777"));
    ck_assert_ptr_null(strstr(after, "path-999"));
    snprintf(path, sizeof(path),
             "gateway_request_duration_seconds_count{method=\"GET\",endpoint=\"/health\"}");
    ck_assert(mcount(after, path) - mcount(before, path) == 3);
    free(before);
    free(after);
}
END_TEST

START_TEST(metrics_not_counted)
{
    char *a, *b;

    t_llm_need();
    a = scrape();
    free(scrape());
    b = scrape();
    ck_assert_ptr_null(strstr(b, "endpoint=\"/metrics\""));
    ck_assert(mval(b, "gateway_active_requests") == 0); /* the scrape is not in flight */
    ck_assert(mcount(a, REQ("GET", "unmatched", "200")) == 0);
    free(a);
    free(b);
}
END_TEST

#define TOK(t) "gateway_tokens_total{provider=\"openai\",model=\"fake-ok\",type=\"" t "\"}"
#define COST "gateway_request_cost_dollars_count{provider=\"openai\",model=\"fake-ok\"}"
#define COST_SUM "gateway_request_cost_dollars_sum{provider=\"openai\",model=\"fake-ok\"}"
#define UP(c) "gateway_upstream_responses_total{provider=\"openai\",class=\"" c "\"}"
#define UP_DUR "gateway_upstream_duration_seconds_count{provider=\"openai\"}"
#define OVH "gateway_overhead_seconds_count{provider=\"openai\"}"

START_TEST(tokens_cost_upstream)
{
    char *key, *b, *a;

    t_llm_need();
    key = t_llm_user_key("mx-tokens");
    b = scrape();
    chat(key, "fake-ok", false, 200); /* usage 10/5 */
    chat(key, "fake-ok", true, 200);  /* the same usage, streamed */
    chat(key, "fake-status-500", false, 502);
    chat(key, "fake-nousage", false, 200); /* estimated usage, unpriced: tokens, no cost */
    a = scrape();
    ck_assert(mcount(a, TOK("input")) - mcount(b, TOK("input")) == 20);
    ck_assert(mcount(a, TOK("output")) - mcount(b, TOK("output")) == 10);
    ck_assert(mcount(a, COST) - mcount(b, COST) == 2);
    /* 2 x (10 x 1000 + 5 x 2000) / 1e6 = 0.04 dollars. */
    ck_assert_msg(mcount(a, COST_SUM) - mcount(b, COST_SUM) > 0.0399 &&
                      mcount(a, COST_SUM) - mcount(b, COST_SUM) < 0.0401,
                  "cost sum %f", mcount(a, COST_SUM) - mcount(b, COST_SUM));
    ck_assert(mcount(a, UP("2xx")) - mcount(b, UP("2xx")) == 3);
    ck_assert(mcount(a, UP("5xx")) - mcount(b, UP("5xx")) == 1);
    ck_assert(mcount(a, UP_DUR) - mcount(b, UP_DUR) == 4);
    ck_assert(mcount(a, OVH) - mcount(b, OVH) == 4);
    ck_assert(mval(a, "gateway_open_streams") == 0);
    ck_assert(mval(a, "gateway_active_requests") == 0);
    ck_assert(mval(a, "gateway_tokens_total{provider=\"openai\",model=\"fake-nousage\",type="
                      "\"input\"}") > 0);
    ck_assert_ptr_null(strstr(a, "gateway_request_cost_dollars_count{provider=\"openai\",model="
                                 "\"fake-nousage\"}"));
    free(key);
    free(b);
    free(a);
}
END_TEST

#define AUTH(r) "gateway_auth_failures_total{reason=\"" r "\"}"

START_TEST(auth_failures_by_reason)
{
    char *b, *a, hdr[256], *bad;

    t_llm_need();
    b = scrape();
    chat(NULL, "fake-ok", false, 401);
    bad = t_long_str("gw-", 'a', 48); /* well formed, unknown */
    chat(bad, "fake-ok", false, 401);
    chat("gw-short", "fake-ok", false, 401);
    snprintf(hdr, sizeof(hdr), "Authorization: Bearer wrong-master\r\n");
    get("/v1/keys", hdr, 401); /* a wrong master key is not counted */
    a = scrape();
    ck_assert(mcount(a, AUTH("missing_credentials")) - mcount(b, AUTH("missing_credentials")) == 1);
    ck_assert(mcount(a, AUTH("invalid_key")) - mcount(b, AUTH("invalid_key")) == 1);
    ck_assert(mcount(a, AUTH("invalid_format")) - mcount(b, AUTH("invalid_format")) == 1);
    ck_assert(mcount(a, REQ("GET", "/v1/keys", "401")) - mcount(b, REQ("GET", "/v1/keys", "401")) ==
              1);
    free(bad);
    free(b);
    free(a);
}
END_TEST

START_TEST(budget_exceeded_by_user)
{
    json_t *j;
    char *key, *b, *a, body[256];
    const char *series = "gateway_budget_exceeded_total{user_id=\"mx-broke\"}";

    t_llm_need();
    j = t_call("POST", "/v1/budgets", T_AUTH_JSON, "{\"max_budget\": 0}", 200);
    snprintf(body, sizeof(body), "{\"user_id\": \"mx-broke\", \"budget_id\": \"%s\"}",
             json_string_value(json_object_get(j, "budget_id")));
    json_decref(j);
    json_decref(t_call("POST", "/v1/users", T_AUTH_JSON, body, 200));
    key = t_llm_key("mx-broke", body, sizeof(body));
    b = scrape();
    chat(key, "fake-ok", false, 403);
    a = scrape();
    ck_assert(mcount(a, series) - mcount(b, series) == 1);
    free(key);
    free(b);
    free(a);
}
END_TEST

/* ---- a real Prometheus scraping the gateway ---- */

static pid_t prom_start(const char *dir, int port)
{
    char cfg[512], data[512], listen[64], cfgarg[600], dataarg[600];
    FILE *f;
    pid_t pid;

    snprintf(cfg, sizeof(cfg), "%s/prometheus.yml", dir);
    snprintf(data, sizeof(data), "%s/prom-data", dir);
    f = fopen(cfg, "w");
    if (f == NULL)
        return -1;
    fprintf(f,
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            "scrape_configs:\n  - job_name: gateway\n    static_configs:\n"
            "      - targets: ['127.0.0.1:%d']\n",
            t_api.port);
    fclose(f);
    snprintf(listen, sizeof(listen), "--web.listen-address=127.0.0.1:%d", port);
    snprintf(cfgarg, sizeof(cfgarg), "--config.file=%s", cfg);
    snprintf(dataarg, sizeof(dataarg), "--storage.tsdb.path=%s", data);
    pid = fork();
    if (pid == 0) {
        char logp[600];
        snprintf(logp, sizeof(logp), "%s/prometheus.log", dir);
        if (freopen(logp, "w", stdout) == NULL || freopen(logp, "a", stderr) == NULL)
            _exit(126);
        execlp("prometheus", "prometheus", cfgarg, dataarg, listen, "--log.level=warn",
               (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* Whether Prometheus answers the query with at least one sample of job "gateway". */
static bool prom_has_sample(int port)
{
    struct t_resp r;
    json_t *j, *res;
    bool ok = false;

    if (t_http(port, "GET", "/api/v1/query?query=gateway_requests_total", NULL, NULL, &r) != 0)
        return false;
    if (strstr(r.head, "chunked") != NULL)
        r.body_len = t_dechunk(r.body, r.body_len);
    if (r.status == 200 && (j = json_loadb(r.body, r.body_len, 0, NULL)) != NULL) {
        res = json_object_get(json_object_get(j, "data"), "result");
        for (size_t i = 0; i < json_array_size(res); i++) {
            json_t *m = json_object_get(json_array_get(res, i), "metric");
            const char *job = json_string_value(json_object_get(m, "job"));
            ok = ok || (job != NULL && strcmp(job, "gateway") == 0);
        }
        json_decref(j);
    }
    t_resp_free(&r);
    return ok;
}

static pid_t prom_pid = -1; /* started by the fixture, so it starts while the others run */
static int prom_port;

static void metrics_prom_up(void)
{
    metrics_up();
    if (t_api_started) {
        prom_port = t_free_port();
        prom_pid = prom_start(t_api.dir, prom_port);
    }
}

static void metrics_prom_down(void)
{
    int status;

    if (prom_pid > 0) {
        kill(prom_pid, SIGTERM);
        waitpid(prom_pid, &status, 0);
    }
    prom_pid = -1;
    t_llm_down();
}

/* Runs last in its test case: Prometheus has been up since the fixture started. */
START_TEST(prometheus_scrapes_gateway)
{
    struct timespec nap = {0, 200 * 1000 * 1000};
    char logp[512];
    struct t_resp r;
    bool ok = false;

    t_llm_need();
    ck_assert_int_gt(prom_pid, 0);
    get("/health", NULL, 200); /* at least one series to find */
    for (int i = 0; i < 70 && !ok && kill(prom_pid, 0) == 0; i++) { /* 14 s */
        ok = prom_has_sample(prom_port);
        if (!ok)
            nanosleep(&nap, NULL);
    }
    if (!ok && t_http(prom_port, "GET", "/api/v1/targets", NULL, NULL, &r) == 0) {
        fprintf(stderr, "prometheus targets: %s\n", r.body);
        t_resp_free(&r);
    }
    snprintf(logp, sizeof(logp), "%s/prometheus.log", t_api.dir);
    ck_assert_msg(ok, "Prometheus did not return a gateway sample: %s", t_read_file(logp));
}
END_TEST

/* ---- off ---- */

static void metrics_off_up(void)
{
    t_llm_up("", "");
}

START_TEST(disabled_is_404)
{
    struct t_resp r;

    t_llm_need();
    get("/health", NULL, 200);
    ck_assert_int_eq(t_http(t_api.port, "GET", "/metrics", NULL, NULL, &r), 0);
    ck_assert_int_eq(r.status, 404);
    ck_assert_ptr_nonnull(strstr(r.body, "\"detail\":\"Not Found\""));
    t_resp_free(&r);
    ck_assert_int_eq(t_http(t_api.port, "POST", "/metrics", NULL, "", &r), 0);
    ck_assert_int_eq(r.status, 404);
    t_resp_free(&r);
}
END_TEST

Suite *e2e_metrics_suite(void)
{
    Suite *s = suite_create("e2e_metrics");
    TCase *tc = tcase_create("on"), *off = tcase_create("off");

    tcase_add_unchecked_fixture(tc, metrics_prom_up, metrics_prom_down);
    tcase_set_timeout(tc, 40);
    tcase_add_test(tc, format_and_promtool);
    tcase_add_test(tc, requests_by_route_template);
    tcase_add_test(tc, metrics_not_counted);
    tcase_add_test(tc, tokens_cost_upstream);
    tcase_add_test(tc, auth_failures_by_reason);
    tcase_add_test(tc, budget_exceeded_by_user);
    tcase_add_test(tc, prometheus_scrapes_gateway);
    t_api_add_shutdown_test(tc);
    suite_add_tcase(s, tc);
    tcase_add_unchecked_fixture(off, metrics_off_up, t_llm_down);
    tcase_set_timeout(off, 30);
    tcase_add_test(off, disabled_is_404);
    suite_add_tcase(s, off);
    return s;
}
