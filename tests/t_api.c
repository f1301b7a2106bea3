/*
 * Shared helpers of the admin-API end-to-end suites (see t_api.h).
 */
#include "t_api.h"

#include <check.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct t_gw t_api;
int t_api_started;

void t_api_up(const char *yaml)
{
    t_api_started = t_gw_start(&t_api, yaml, NULL, NULL) == 0;
}

void t_api_up_master(void)
{
    t_api_up("master_key: " T_MASTER_KEY "\nbootstrap_api_key: false\n");
}

void t_api_up_no_master(void)
{
    t_api_up("bootstrap_api_key: false\n");
}

void t_api_down(void)
{
    if (t_api_started && t_gw_stop(&t_api, SIGTERM, 10000) != 0)
        fprintf(stderr, "gateway did not exit cleanly on SIGTERM\n");
    t_api_started = 0;
}

void t_api_need(void)
{
    ck_assert_msg(t_api_started, "gateway did not start");
}

json_t *t_json(const struct t_resp *r)
{
    json_t *j = json_loadb(r->body, r->body_len, JSON_DECODE_ANY, NULL);

    ck_assert_msg(j != NULL, "body is not JSON: %s", r->body);
    return j;
}

json_t *t_call(const char *method, const char *path, const char *headers, const char *body,
               int want)
{
    struct t_resp r;
    json_t *j;

    ck_assert_int_eq(t_http(t_api.port, method, path, headers, body, &r), 0);
    ck_assert_msg(r.status == want, "%s %s: status %d, want %d; body %s", method, path, r.status,
                  want, r.body);
    j = t_json(&r);
    t_resp_free(&r);
    return j;
}

void t_expect_error(const char *method, const char *path, const char *headers, const char *body,
                    int status, const char *detail)
{
    json_t *j = t_call(method, path, headers, body, status);

    ck_assert_str_eq(json_string_value(json_object_get(j, "detail")), detail);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "error"), "message")),
                     detail);
    json_decref(j);
}

void t_assert_sql(const char *want, const char *fmt, ...)
{
    char q[1024];
    va_list ap;
    char *v;

    va_start(ap, fmt);
    vsnprintf(q, sizeof(q), fmt, ap);
    va_end(ap);
    v = t_sql(t_api.db, q);
    ck_assert_msg(v != NULL, "query failed: %s", q);
    ck_assert_msg(strcmp(v, want) == 0, "%s: got '%s', want '%s'", q, v, want);
    free(v);
}

char *t_long_str(const char *prefix, char c, size_t n)
{
    size_t len = strlen(prefix);
    char *s = malloc(len + n + 1);

    ck_assert_ptr_nonnull(s);
    memcpy(s, prefix, len);
    memset(s + len, c, n);
    s[len + n] = '\0';
    return s;
}

bool t_ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);

    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Asserts that detail[idx] of a 422 has this type, loc and (when msg != NULL) msg. */
void t_expect_422_item(json_t *j, size_t idx, const char *type, const char *loc0, const char *loc1,
                       const char *msg)
{
    json_t *it = json_array_get(json_object_get(j, "detail"), idx), *loc;

    ck_assert_msg(it != NULL, "no detail[%zu]", idx);
    ck_assert_str_eq(json_string_value(json_object_get(it, "type")), type);
    loc = json_object_get(it, "loc");
    ck_assert_str_eq(json_string_value(json_array_get(loc, 0)), loc0);
    if (loc1 != NULL) {
        ck_assert_int_eq(json_array_size(loc), 2);
        ck_assert_str_eq(json_string_value(json_array_get(loc, 1)), loc1);
    } else if (strcmp(type, "json_invalid") == 0) {
        /* ["body", <byte offset of the error>] */
        ck_assert_int_eq(json_array_size(loc), 2);
        ck_assert(json_is_integer(json_array_get(loc, 1)));
    } else {
        ck_assert_int_eq(json_array_size(loc), 1);
    }
    if (msg != NULL)
        ck_assert_str_eq(json_string_value(json_object_get(it, "msg")), msg);
    ck_assert_ptr_nonnull(json_object_get(it, "input"));
}

/* Sends a request that must answer 204 with an empty body. */
void t_call_204(const char *method, const char *path, const char *headers)
{
    struct t_resp r;
    char cl[32];

    ck_assert_int_eq(t_http(t_api.port, method, path, headers, NULL, &r), 0);
    ck_assert_msg(r.status == 204, "%s %s: status %d; body %s", method, path, r.status, r.body);
    ck_assert_int_eq(r.body_len, 0);
    if (t_header(&r, "Content-Length", cl, sizeof(cl)) != NULL)
        ck_assert_str_eq(cl, "0");
    t_resp_free(&r);
}

/*
 * The last test of a TCase stops the shared gateway and checks that it exited 0 (so a
 * sanitizer report, leaks included, fails the suite). The test runs in a forked child that
 * cannot waitpid() the gateway, so it reads the zombie's exit code (field 52) from
 * /proc/<pid>/stat; the unchecked teardown reaps it.
 */
void t_api_stop_clean(void)
{
    char path[64], buf[2048];
    int code = -1;

    t_api_need();
    ck_assert_int_eq(kill(t_api.pid, SIGTERM), 0);
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)t_api.pid);
    for (int i = 0; i < 3000 && code < 0; i++) {
        FILE *f = fopen(path, "r");
        size_t n = f != NULL ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
        char *p;
        if (f != NULL)
            fclose(f);
        buf[n] = '\0';
        p = strrchr(buf, ')');
        if (p != NULL && (p[2] == 'Z' || p[2] == 'X')) {
            /* Fields 3.. follow ") "; exit_code is field 52. */
            int field = 3;
            for (p += 2; *p != '\0' && field < 52; p++)
                if (*p == ' ')
                    field++;
            code = atoi(p);
            break;
        }
        usleep(10000);
    }
    if (code != 0) {
        char *log = t_read_file(t_api.logpath);
        fprintf(stderr, "--- gateway log ---\n%s\n", log != NULL ? log : "");
        free(log);
        ck_abort_msg("gateway did not exit cleanly: wait status 0x%x (log above)", code);
    }
}

long t_sql_long(const char *q)
{
    char *v = t_sql(t_api.db, q);
    long n;

    ck_assert_msg(v != NULL, "query failed: %s", q);
    n = strtol(v, NULL, 10);
    free(v);
    return n;
}

/* GET /v1/models with a virtual key: the status of an auth-requiring endpoint. */
void t_expect_key_auth(const char *key, int status, const char *detail)
{
    char hdr[160];

    snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s\r\n", key);
    if (detail != NULL) {
        t_expect_error("GET", "/v1/models", hdr, NULL, status, detail);
    } else {
        json_t *j = t_call("GET", "/v1/models", hdr, NULL, status);
        json_decref(j);
    }
}

void t_expect_422_query(const char *path, const char *type, const char *param)
{
    json_t *j = t_call("GET", path, T_AUTH, NULL, 422);

    ck_assert_int_eq(json_array_size(json_object_get(j, "detail")), 1);
    t_expect_422_item(j, 0, type, "query", param, NULL);
    json_decref(j);
}

START_TEST(t_api_shutdown_clean)
{
    t_api_stop_clean();
}
END_TEST

void t_api_add_shutdown_test(TCase *tc)
{
    tcase_add_test(tc, t_api_shutdown_clean);
}

void t_wait_sqlv(const char *want, const char *fmt, va_list ap)
{
    const char *m = getenv("CK_TIMEOUT_MULTIPLIER");
    long k = m != NULL ? strtol(m, NULL, 10) : 1;
    struct timespec ts;
    long now_ms, deadline;
    char q[2048];

    vsnprintf(q, sizeof(q), fmt, ap);
    clock_gettime(CLOCK_MONOTONIC, &ts);
    deadline = ts.tv_sec * 1000L + ts.tv_nsec / 1000000L + 2000L * (k > 1 ? k : 1);
    for (;;) {
        char *v = t_sql(t_api.db, q);
        bool ok = v != NULL && strcmp(v, want) == 0;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        now_ms = ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
        if (ok || now_ms >= deadline) {
            ck_assert_msg(ok, "%s: got '%s', want '%s' (after polling)", q,
                          v != NULL ? v : "(error)", want);
            free(v);
            return;
        }
        free(v);
        usleep(20000);
    }
}

void t_wait_sql(const char *want, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    t_wait_sqlv(want, fmt, ap);
    va_end(ap);
}
