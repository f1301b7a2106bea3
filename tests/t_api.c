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

struct t_gw t_api;
int t_api_started;

void t_api_up(const char *yaml)
{
    t_api_started = t_gw_start(&t_api, yaml, NULL, NULL) == 0;
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

bool t_ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);

    return n >= m && strcmp(s + n - m, suffix) == 0;
}
