/*
 * Shared client side of the admin-API end-to-end suites: one gateway per test case (started by
 * an unchecked fixture), JSON calls with status checks, the error-shape check and SQL asserts.
 */
#ifndef T_API_H
#define T_API_H

#include <stdbool.h>

#include <jansson.h>

#include "t_gw.h"

extern struct t_gw t_api; /* the gateway of the running test case */
extern int t_api_started; /* 1 when the fixture started it */

/* Fixture halves: start with yaml (may be NULL); stop with SIGTERM (complains unless exit 0). */
void t_api_up(const char *yaml);
void t_api_down(void);

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

#endif
