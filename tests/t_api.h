/*
 * Shared client side of the admin-API end-to-end suites: one gateway per test case (started by
 * an unchecked fixture), JSON calls with status checks, the error-shape check and SQL asserts.
 */
#ifndef T_API_H
#define T_API_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "t_gw.h"

#include <check.h>

/* The master key of the test gateways and the headers that carry it. */
#define T_MASTER_KEY "test-master-key"
#define T_AUTH "Authorization: Bearer " T_MASTER_KEY "\r\n"
#define T_AUTH_JSON T_AUTH "Content-Type: application/json\r\n"

extern struct t_gw t_api; /* the gateway of the running test case */
extern int t_api_started; /* 1 when the fixture started it */

/* Fixture halves: start with yaml (may be NULL); stop with SIGTERM (complains unless exit 0). */
void t_api_up(const char *yaml);
void t_api_down(void);

/* Unchecked fixtures: a gateway with the master key, or without one (no bootstrap key). */
void t_api_up_master(void);
void t_api_up_no_master(void);

/* Fails the test when the fixture could not start the gateway. */
void t_api_need(void);

/* The response body parsed as JSON (owned); fails the test when it is not JSON. */
json_t *t_json(const struct t_resp *r);

/* Sends a request to t_api, asserts the status is want, returns the JSON body (owned). */
json_t *t_call(const char *method, const char *path, const char *headers, const char *body,
               int want);

/* Asserts the DESIGN.md §2.3 error shape: status, detail and error.message equal to detail. */
void t_expect_error(const char *method, const char *path, const char *headers, const char *body,
                    int status, const char *detail);

/* Asserts that the first cell of the SQL query (printf-formatted) on t_api's database is want. */
void t_assert_sql(const char *want, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

bool t_ends_with(const char *s, const char *suffix);

/* prefix followed by n copies of c (owned): ids longer than any fixed buffer. */
char *t_long_str(const char *prefix, char c, size_t n);

/* Sends a request that must answer 204 with an empty body. */
void t_call_204(const char *method, const char *path, const char *headers);

/* Asserts that detail[idx] of a 422 body has this type, loc and (when msg != NULL) msg. */
void t_expect_422_item(json_t *j, size_t idx, const char *type, const char *loc0, const char *loc1,
                       const char *msg);

/* The first cell of the SQL query on t_api's database as a number. */
long t_sql_long(const char *q);

/*
 * Calls GET /v1/models with a virtual key and asserts the status (and, when detail != NULL,
 * the error detail): the answer of an endpoint that needs a valid key.
 */
void t_expect_key_auth(const char *key, int status, const char *detail);

/* A GET with the master key that must give 422 with one item of type on query param. */
void t_expect_422_query(const char *path, const char *type, const char *param);

/*
 * Adds, as the last test of tc, a test that stops the shared gateway with SIGTERM and fails
 * unless it exited 0 (so sanitizer reports, leaks included, fail the suite).
 */
void t_api_add_shutdown_test(TCase *tc);

/*
 * Stops t_api with SIGTERM from inside a forked test and fails unless it exited 0 (so a
 * sanitizer report, leaks included, fails the suite); t_api_down() reaps it afterwards.
 */
void t_api_stop_clean(void);

/*
 * Polls the first cell of the query (printf-style) until it equals want, for up to 2 s (scaled
 * by CK_TIMEOUT_MULTIPLIER): rows written by the usage writer arrive a moment after the reply.
 * Fails the test on a timeout.
 */
void t_wait_sql(const char *want, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void t_wait_sqlv(const char *want, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

#endif
