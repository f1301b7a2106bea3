/*
 * Unit tests of budget admission (acct_budget.h): the reference's rules (max 0, ">=", no limit
 * without a max or a budget, one lazy reset re-anchored at the request, reset then exceeded),
 * reservations bounding what concurrent requests can overshoot, the free-model exemption,
 * settlement, the reservation formula, and the same through a real acct_index (admin rewrites,
 * restores, budget removal, and many threads admitting and settling at once).
 */
#include <check.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acct/acct_budget.h"
#include "acct/acct_index.h"
#include "db/db.h"

#define SEC INT64_C(1000000)
#define NOW (INT64_C(1700000000) * SEC)
#define DAY_SEC 86400

/* A user on budget "b1" with the given spend, nothing in flight and no reset scheduled. */
static struct gw_user_state user_on_b1(double spend)
{
    struct gw_user_state u = {.has_budget = true, .spend = spend};

    snprintf(u.budget_id, sizeof(u.budget_id), "b1");
    return u;
}

static struct acct_budget_state budget_max(double max, int64_t duration_sec)
{
    return (struct acct_budget_state){
        .has_max = true, .max_budget = max, .duration_sec = duration_sec};
}

START_TEST(verdict_order)
{
    struct acct_budget_state b = budget_max(1.0, DAY_SEC);
    struct gw_user_state u = user_on_b1(5.0);
    struct acct_budget_reset r;

    /* Deleted beats blocked beats exceeded; a due reset is not performed for either. */
    u.deleted = true;
    u.blocked = true;
    u.next_reset_us = NOW - SEC;
    memset(&r, 0xAB, sizeof(r));
    ck_assert_int_eq(acct_budget_admit(&u, &b, NOW, 0.5, false, &r), ACCT_BUDGET_NO_USER);
    ck_assert(!r.happened);
    u.deleted = false;
    memset(&r, 0xAB, sizeof(r));
    ck_assert_int_eq(acct_budget_admit(&u, &b, NOW, 0.5, false, &r), ACCT_BUDGET_BLOCKED);
    ck_assert(!r.happened);
    /* A free model does not lift a block, and refusals reserve nothing. */
    ck_assert_int_eq(acct_budget_admit(&u, &b, NOW, 0.5, true, &r), ACCT_BUDGET_BLOCKED);
    ck_assert_int_eq(acct_budget_admit(&u, NULL, NOW, 0.5, true, &r), ACCT_BUDGET_BLOCKED);
    ck_assert_double_eq(u.spend, 5.0);
    ck_assert_double_eq(u.reserved, 0);
    ck_assert_int_eq(u.next_reset_us, NOW - SEC);

    u.blocked = false;
    u.next_reset_us = 0;
    ck_assert_int_eq(acct_budget_admit(&u, &b, NOW, 0.5, false, &r), ACCT_BUDGET_EXCEEDED);
    ck_assert(!r.happened);
    ck_assert_double_eq(u.reserved, 0);
}
END_TEST

START_TEST(max_zero_blocks_at_once)
{
    struct acct_budget_state b = budget_max(0, 0);
    struct gw_user_state u = user_on_b1(0);
    struct acct_budget_reset r;

    /* Reference: spend 0 >= max_budget 0, even for a request that costs nothing. */
    ck_assert_int_eq(acct_budget_admit(&u, &b, NOW, 0, false, &r), ACCT_BUDGET_EXCEEDED);
    ck_assert_int_eq(acct_budget_admit(&u, &b, NOW, 0.25, false, &r), ACCT_BUDGET_EXCEEDED);
    ck_assert_double_eq(u.reserved, 0);
    ck_assert_double_eq(u.spend, 0);
}
END_TEST

START_TEST(limit_is_greater_or_equal)
{
    struct acct_budget_state b = budget_max(10.0, 0);
    struct gw_user_state u = user_on_b1(10.0);
    struct acct_budget_reset r;

    ck_assert_int_eq(acct_budget_admit(&u, &b, NOW, 0, false, &r), ACCT_BUDGET_EXCEEDED);
    u.spend = 12.5;
    ck_assert_int_eq(acct_budget_admit(&u, &b, NOW, 0, false, &r), ACCT_BUDGET_EXCEEDED);
    /* The largest spend below the limit is admitted, and its reservation recorded. */
    u.spend = nextafter(10.0, 0.0);
    ck_assert_int_eq(acct_budget_admit(&u, &b, NOW, 3.0, false, &r), ACCT_BUDGET_OK);
    ck_assert_double_eq(u.reserved, 3.0);
    ck_assert_double_eq(u.spend, nextafter(10.0, 0.0));
    /* Reservations count like spend: 4 + 6 reaches 10. */
    u.spend = 4.0;
    u.reserved = 6.0;
    ck_assert_int_eq(acct_budget_admit(&u, &b, NOW, 1.0, false, &r), ACCT_BUDGET_EXCEEDED);
    u.reserved = 5.75;
    ck_assert_int_eq(acct_budget_admit(&u, &b, NOW, 1.0, false, &r), ACCT_BUDGET_OK);
    ck_assert_double_eq(u.reserved, 6.75);
}
END_TEST

START_TEST(unlimited_without_max_or_budget)
{
    struct acct_budget_state nomax = {.has_max = false, .max_budget = 0, .duration_sec = 0};
    struct gw_user_state u = user_on_b1(1e9);
    struct acct_budget_reset r;

    /* A budget without max_budget never refuses, however much is spent or reserved. */
    for (int i = 0; i < 100; i++)
        ck_assert_int_eq(acct_budget_admit(&u, &nomax, NOW, 1e6, false, &r), ACCT_BUDGET_OK);
    ck_assert_double_eq(u.reserved, 1e8);
    /* No budget at all (b NULL): same, and a scheduled reset is not performed without one. */
    u = user_on_b1(1e9);
    u.has_budget = false;
    u.next_reset_us = NOW - DAY_SEC * SEC;
    ck_assert_int_eq(acct_budget_admit(&u, NULL, NOW, 2.0, false, &r), ACCT_BUDGET_OK);
    ck_assert(!r.happened);
    ck_assert_double_eq(u.spend, 1e9);
    ck_assert_double_eq(u.reserved, 2.0);
}
END_TEST

START_TEST(lazy_reset_when_due)
{
    struct acct_budget_state b = budget_max(10.0, DAY_SEC);
    struct gw_user_state u = user_on_b1(7.5);
    struct acct_budget_reset r;

    u.started_us = NOW - DAY_SEC * SEC;
    u.next_reset_us = NOW + 1;
    u.reserved = 0.5;
    /* One microsecond early: no reset. */
    ck_assert_int_eq(acct_budget_admit(&u, &b, NOW, 0.25, false, &r), ACCT_BUDGET_OK);
    ck_assert(!r.happened);
    ck_assert_double_eq(u.spend, 7.5);
    ck_assert_int_eq(u.next_reset_us, NOW + 1);
    ck_assert_double_eq(u.reserved, 0.75);

    /* Due exactly now: spend 0, period re-anchored, the reset described for the database. */
    u.next_reset_us = NOW;
    ck_assert_int_eq(acct_budget_admit(&u, &b, NOW, 0.25, false, &r), ACCT_BUDGET_OK);
    ck_assert(r.happened);
    ck_assert_str_eq(r.budget_id, "b1");
    ck_assert_double_eq(r.previous_spend, 7.5);
    ck_assert_int_eq(r.reset_at_us, NOW);
    ck_assert_int_eq(r.next_reset_us, NOW + DAY_SEC * SEC);
    ck_assert_double_eq(u.spend, 0);
    ck_assert_int_eq(u.started_us, NOW);
    ck_assert_int_eq(u.next_reset_us, NOW + DAY_SEC * SEC);
    /* Requests in flight keep their reservations across the reset. */
    ck_assert_double_eq(u.reserved, 1.0);

    /* The next request in the same period sees no reset. */
    ck_assert_int_eq(acct_budget_admit(&u, &b, NOW + 5 * SEC, 0, false, &r), ACCT_BUDGET_OK);
    ck_assert(!r.happened);
}
END_TEST

START_TEST(one_reset_however_many_periods)
{
    struct acct_budget_state b = budget_max(10.0, 3600);
    struct gw_user_state u = user_on_b1(9.0);
    struct acct_budget_reset r;
    const int64_t late = NOW + 1000 * 3600 * SEC + 17 * SEC; /* 1000 periods and 17 s late */

    u.started_us = NOW - 3600 * SEC;
    u.next_reset_us = NOW;
    ck_assert_int_eq(acct_budget_admit(&u, &b, late, 0, false, &r), ACCT_BUDGET_OK);
    ck_assert(r.happened);
    ck_assert_double_eq(r.previous_spend, 9.0);
    /* Re-anchored at the request, not at the old schedule (which would give NOW + 1001 h). */
    ck_assert_int_eq(r.reset_at_us, late);
    ck_assert_int_eq(u.started_us, late);
    ck_assert_int_eq(u.next_reset_us, late + 3600 * SEC);
    ck_assert_int_eq(r.next_reset_us, late + 3600 * SEC);

    /* Spending again, then a request one second before the new boundary: still no reset. */
    acct_budget_settle(&u, 0, 4.0);
    ck_assert_int_eq(acct_budget_admit(&u, &b, late + 3599 * SEC, 0, false, &r), ACCT_BUDGET_OK);
    ck_assert(!r.happened);
    ck_assert_double_eq(u.spend, 4.0);
}
END_TEST

START_TEST(reset_without_duration_happens_once)
{
    struct acct_budget_state b = budget_max(10.0, 0);
    struct gw_user_state u = user_on_b1(11.0);
    struct acct_budget_reset r;

    /* A reset left over from before the duration was removed: done once, none scheduled. */
    u.next_reset_us = NOW - SEC;
    ck_assert_int_eq(acct_budget_admit(&u, &b, NOW, 0, false, &r), ACCT_BUDGET_OK);
    ck_assert(r.happened);
    ck_assert_int_eq(r.next_reset_us, 0);
    ck_assert_int_eq(u.next_reset_us, 0);
    ck_assert_double_eq(u.spend, 0);
    acct_budget_settle(&u, 0, 10.0);
    ck_assert_int_eq(acct_budget_admit(&u, &b, NOW + 1000 * DAY_SEC * SEC, 0, false, &r),
                     ACCT_BUDGET_EXCEEDED);
    ck_assert(!r.happened);
}
END_TEST

START_TEST(reset_then_exceeded_same_call)
{
    struct acct_budget_state zero = budget_max(0, DAY_SEC), ten = budget_max(10.0, DAY_SEC);
    struct gw_user_state u = user_on_b1(3.0);
    struct acct_budget_reset r;

    /* max 0: the period turns over (to be written to the database) and the request is refused. */
    u.next_reset_us = NOW;
    ck_assert_int_eq(acct_budget_admit(&u, &zero, NOW, 0.5, false, &r), ACCT_BUDGET_EXCEEDED);
    ck_assert(r.happened);
    ck_assert_double_eq(r.previous_spend, 3.0);
    ck_assert_double_eq(u.spend, 0);
    ck_assert_int_eq(u.next_reset_us, NOW + DAY_SEC * SEC);
    ck_assert_double_eq(u.reserved, 0);

    /* Requests still in flight from the old period hold the whole new budget. */
    u = user_on_b1(12.0);
    u.reserved = 10.0;
    u.next_reset_us = NOW - SEC;
    ck_assert_int_eq(acct_budget_admit(&u, &ten, NOW, 0.5, false, &r), ACCT_BUDGET_EXCEEDED);
    ck_assert(r.happened);
    ck_assert_double_eq(r.previous_spend, 12.0);
    ck_assert_double_eq(u.spend, 0);
    ck_assert_double_eq(u.reserved, 10.0);
    /* Once they settle, the new period has room. */
    acct_budget_settle(&u, 10.0, 2.0);
    ck_assert_int_eq(acct_budget_admit(&u, &ten, NOW + SEC, 0.5, false, &r), ACCT_BUDGET_OK);
    ck_assert(!r.happened);
}
END_TEST

/*
 * Admits n requests of reserve each against budget max from spend, none settled; returns how
 * many were admitted, then settles every admitted one at cost and puts the final spend in *spend.
 */
static int admit_burst(double max, double spend, int n, double reserve, double cost,
                       double *final_spend)
{
    struct acct_budget_state b = budget_max(max, 0);
    struct gw_user_state u = user_on_b1(spend);
    struct acct_budget_reset r;
    int ok = 0;

    for (int i = 0; i < n; i++)
        ok += acct_budget_admit(&u, &b, NOW, reserve, false, &r) == ACCT_BUDGET_OK;
    for (int i = 0; i < ok; i++)
        acct_budget_settle(&u, reserve, cost);
    ck_assert_double_eq_tol(u.reserved, 0, 1e-9);
    *final_spend = u.spend;
    return ok;
}

START_TEST(reservations_bound_concurrency)
{
    double spend;

    /* 0.75 of 1.00 spent, each request may cost 0.0625: 0.75 + 4 x 0.0625 reaches the limit. */
    ck_assert_int_eq(admit_burst(1.0, 0.75, 100, 0.0625, 0.0625, &spend), 4);
    ck_assert_double_eq(spend, 1.0);
    /* Requests cheaper than reserved: same admissions, spend stays under the limit. */
    ck_assert_int_eq(admit_burst(1.0, 0.75, 100, 0.0625, 0.03125, &spend), 4);
    ck_assert_double_eq(spend, 0.875);
    /* Unpriced requests reserve nothing, so every one gets in: the bound needs reservations. */
    ck_assert_int_eq(admit_burst(1.0, 0.75, 100, 0, 0, &spend), 100);
    ck_assert_double_eq(spend, 0.75);

    /*
     * Whatever the margin left and the request size, the overshoot after settling at a real cost
     * up to the reservation stays below one request's cost, and the number admitted is exactly
     * what fits: ceil(margin / reserve).
     */
    for (int m = 1; m <= 40; m++) {
        for (int k = 1; k <= 16; k++) {
            double max = 5.0, margin = m * 0.01, reserve = k * 0.005;
            int admitted = admit_burst(max, max - margin, 1000, reserve, reserve, &spend);
            int fits = (int)ceil(margin / reserve - 1e-9);

            if (abs(admitted - fits) > 1 || spend - max >= reserve + 1e-9 || admitted < 1)
                ck_abort_msg("margin %.2f, reserve %.3f: %d admitted (%d fit), spend %.6f", margin,
                             reserve, admitted, fits, spend);
        }
    }
    /* Without room left, none is admitted. */
    ck_assert_int_eq(admit_burst(1.0, 1.0, 10, 0.01, 0.01, &spend), 0);
    ck_assert_double_eq(spend, 1.0);
}
END_TEST

START_TEST(free_model_exemption)
{
    struct acct_budget_state b = budget_max(1.0, 0), zero = budget_max(0, 0);
    struct gw_user_state u = user_on_b1(2.0);
    struct acct_budget_reset r;

    ck_assert_int_eq(acct_budget_admit(&u, &b, NOW, 0, false, &r), ACCT_BUDGET_EXCEEDED);
    ck_assert_int_eq(acct_budget_admit(&u, &b, NOW, 0, true, &r), ACCT_BUDGET_OK);
    ck_assert_int_eq(acct_budget_admit(&u, &zero, NOW, 0, true, &r), ACCT_BUDGET_OK);
    ck_assert_double_eq(u.reserved, 0);
    ck_assert_double_eq(u.spend, 2.0);
    /* A due reset still happens on a free request. */
    u.next_reset_us = NOW;
    ck_assert_int_eq(acct_budget_admit(&u, &zero, NOW, 0, true, &r), ACCT_BUDGET_OK);
    ck_assert(r.happened);
    ck_assert_double_eq(u.spend, 0);
    /* Deleted users are still unknown. */
    u.deleted = true;
    ck_assert_int_eq(acct_budget_admit(&u, &b, NOW, 0, true, &r), ACCT_BUDGET_NO_USER);
}
END_TEST

START_TEST(settle_edges)
{
    struct gw_user_state u = user_on_b1(1.0);
    struct acct_budget_state b = budget_max(100.0, 0);
    struct acct_budget_reset r;

    ck_assert_int_eq(acct_budget_admit(&u, &b, NOW, 0.5, false, &r), ACCT_BUDGET_OK);
    ck_assert_int_eq(acct_budget_admit(&u, &b, NOW, 0.25, false, &r), ACCT_BUDGET_OK);
    ck_assert_double_eq(u.reserved, 0.75);
    /* A negative reserve on admission does not lower the reservations of others. */
    ck_assert_int_eq(acct_budget_admit(&u, &b, NOW, -3.0, false, &r), ACCT_BUDGET_OK);
    ck_assert_double_eq(u.reserved, 0.75);

    acct_budget_settle(&u, 0.5, 0.125);
    ck_assert_double_eq(u.reserved, 0.25);
    ck_assert_double_eq(u.spend, 1.125);
    /* Cost above the reservation is charged in full. */
    acct_budget_settle(&u, 0.25, 3.0);
    ck_assert_double_eq(u.reserved, 0);
    ck_assert_double_eq(u.spend, 4.125);
    /* Releasing more than is reserved stops at 0; a zero or negative cost adds nothing. */
    acct_budget_settle(&u, 2.0, 0);
    ck_assert_double_eq(u.reserved, 0);
    ck_assert_double_eq(u.spend, 4.125);
    u.reserved = 0.5;
    acct_budget_settle(&u, 0.75, -1.0);
    ck_assert_double_eq(u.reserved, 0);
    ck_assert_double_eq(u.spend, 4.125);
    /* A negative reserve releases nothing. */
    u.reserved = 0.5;
    acct_budget_settle(&u, -0.5, 0.5);
    ck_assert_double_eq(u.reserved, 0.5);
    ck_assert_double_eq(u.spend, 4.625);
    /* Exact release leaves exactly 0. */
    acct_budget_settle(&u, 0.5, 0);
    ck_assert_double_eq(u.reserved, 0);
}
END_TEST

/*
 * A duration far beyond any sane period (a row written outside the API, or before the limit
 * existed): the reset time is clamped instead of overflowing (UBSan aborted here, and the
 * release build wrapped to a past time and reset the budget before every request).
 */
START_TEST(huge_duration_does_not_overflow)
{
    static const int64_t durations[] = {INT64_MAX, INT64_MAX / 1000000 + 1, INT64_C(1) << 62};
    struct acct_budget_reset r;

    for (size_t i = 0; i < sizeof(durations) / sizeof(durations[0]); i++) {
        struct acct_budget_state b = budget_max(10.0, durations[i]);
        struct gw_user_state u = user_on_b1(3.0);

        u.next_reset_us = NOW - SEC;
        ck_assert_int_eq(acct_budget_admit(&u, &b, NOW, 0, false, &r), ACCT_BUDGET_OK);
        ck_assert(r.happened);
        ck_assert_int_gt(r.next_reset_us, NOW);
        ck_assert_int_eq(u.next_reset_us, r.next_reset_us);
        u.spend = 4.0;
        /* The next requests, even years later, do not reset again. */
        ck_assert_int_eq(acct_budget_admit(&u, &b, NOW + SEC, 0, false, &r), ACCT_BUDGET_OK);
        ck_assert(!r.happened);
        ck_assert_int_eq(acct_budget_admit(&u, &b, NOW + 50 * 365 * DAY_SEC * SEC, 0, false, &r),
                         ACCT_BUDGET_OK);
        ck_assert(!r.happened);
        ck_assert_double_eq(u.spend, 4.0);
    }
}
END_TEST

START_TEST(next_reset_clamped)
{
    ck_assert_int_eq(acct_budget_next_reset_us(NOW, 0), 0);
    ck_assert_int_eq(acct_budget_next_reset_us(NOW, -5), 0);
    ck_assert_int_eq(acct_budget_next_reset_us(NOW, 1), NOW + SEC);
    ck_assert_int_eq(acct_budget_next_reset_us(NOW, ACCT_BUDGET_MAX_DURATION_SEC),
                     NOW + ACCT_BUDGET_MAX_DURATION_SEC * SEC);
    ck_assert_int_eq(acct_budget_next_reset_us(NOW, INT64_MAX),
                     NOW + ACCT_BUDGET_MAX_DURATION_SEC * SEC);
    ck_assert_int_eq(acct_budget_next_reset_us(INT64_MAX - 5, 10), INT64_MAX);
}
END_TEST

/* acct_budget_reserve() of a request with only prompt bytes and max_output, no floor. */
static double rsv(const struct gw_price *p, size_t prompt_bytes, long max_output)
{
    struct acct_budget_est e = {.prompt_bytes = prompt_bytes, .max_output = max_output, .n = 1};

    return acct_budget_reserve(p, &e, 0);
}

START_TEST(reserve_formula)
{
    struct gw_price p = {.input_per_million = 2.0, .output_per_million = 8.0};
    struct gw_price free_price = {.input_per_million = 0, .output_per_million = 0};

    ck_assert_double_eq(rsv(NULL, 1000000, 1000000), 0);
    ck_assert_double_eq(rsv(&free_price, 4000, 100), 0);
    /* 4001 bytes -> 1001 prompt tokens (rounded up), plus 100 output tokens. */
    ck_assert_double_eq_tol(rsv(&p, 4001, 100), 1001 * 2e-6 + 100 * 8e-6, 1e-15);
    ck_assert_double_eq_tol(rsv(&p, 4000, 100), 1000 * 2e-6 + 100 * 8e-6, 1e-15);
    ck_assert_double_eq_tol(rsv(&p, 1, 1), 1 * 2e-6 + 1 * 8e-6, 1e-15);
    /* No max_tokens (0) or a nonsensical one: the default output allowance. */
    ck_assert_double_eq_tol(rsv(&p, 0, 0), ACCT_BUDGET_DEFAULT_OUTPUT_TOKENS * 8e-6, 1e-15);
    ck_assert_double_eq_tol(rsv(&p, 0, -5), ACCT_BUDGET_DEFAULT_OUTPUT_TOKENS * 8e-6, 1e-15);
    /* One million of each at $2 / $8. */
    ck_assert_double_eq_tol(rsv(&p, 4000000, 1000000), 10.0, 1e-12);
    /* Only the output price set. */
    p.input_per_million = 0;
    ck_assert_double_eq_tol(rsv(&p, 4000000, 250000), 2.0, 1e-12);
}
END_TEST

/*
 * The client's max_tokens is not trusted (a provider may overrun it): the floor raises it, n
 * multiplies the output, images count ACCT_BUDGET_IMAGE_TOKENS each on the prompt side.
 */
START_TEST(reserve_floor_n_images)
{
    struct gw_price p = {.input_per_million = 1.0, .output_per_million = 1.0};
    struct acct_budget_est e = {.prompt_bytes = 400, .max_output = 1, .n = 1};

    ck_assert_double_eq_tol(acct_budget_reserve(&p, &e, 0), (100 + 1) * 1e-6, 1e-15);
    ck_assert_double_eq_tol(acct_budget_reserve(&p, &e, 1024), (100 + 1024) * 1e-6, 1e-15);
    /* A max_tokens above the floor is kept; no max_tokens is the default, floored too. */
    e.max_output = 5000;
    ck_assert_double_eq_tol(acct_budget_reserve(&p, &e, 1024), (100 + 5000) * 1e-6, 1e-15);
    e.max_output = 0;
    ck_assert_double_eq_tol(acct_budget_reserve(&p, &e, 4096), (100 + 4096) * 1e-6, 1e-15);
    /* n choices: n times the output. */
    e.max_output = 10;
    e.n = 8;
    ck_assert_double_eq_tol(acct_budget_reserve(&p, &e, 1024), (100 + 8 * 1024) * 1e-6, 1e-15);
    e.n = 0; /* not set: one */
    ck_assert_double_eq_tol(acct_budget_reserve(&p, &e, 0), (100 + 10) * 1e-6, 1e-15);
    /* Images on the prompt side. */
    e.images = 3;
    ck_assert_double_eq_tol(acct_budget_reserve(&p, &e, 0),
                            (100 + 3 * ACCT_BUDGET_IMAGE_TOKENS + 10) * 1e-6, 1e-15);
    /* Huge values do not overflow. */
    e.max_output = LONG_MAX;
    e.n = LONG_MAX;
    ck_assert(acct_budget_reserve(&p, &e, 0) > 1e30);
}
END_TEST

/* The estimate read from a request body. */
START_TEST(estimate_from_body)
{
    static const char tools[] = "[{\"type\":\"function\",\"function\":{\"name\":\"f\","
                                "\"parameters\":{\"type\":\"object\"}}}]";
    char text[1024];
    struct acct_budget_est e;
    json_t *body;

    snprintf(text, sizeof(text),
             "{\"model\":\"openai:x\",\"n\":3,\"max_tokens\":7,\"tools\":%s,"
             "\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\","
             "\"text\":\"12345678\"},{\"type\":\"image_url\",\"image_url\":{\"url\":"
             "\"data:image/png;base64,AAAA\"}}]},{\"role\":\"user\",\"content\":[{\"type\":"
             "\"input_image\"},{\"type\":\"image\"}]},{\"role\":\"user\",\"content\":\"abcd\"}]}",
             tools);
    body = json_loads(text, 0, NULL);
    ck_assert_ptr_nonnull(body);
    acct_budget_estimate(body, &e);
    ck_assert_uint_eq(e.prompt_bytes, 8 + 4 + strlen(tools));
    ck_assert_int_eq(e.images, 3);
    ck_assert_int_eq(e.max_output, 7);
    ck_assert_int_eq(e.n, 3);
    /* max_completion_tokens wins over max_tokens. */
    json_object_set_new(body, "max_completion_tokens", json_integer(99));
    acct_budget_estimate(body, &e);
    ck_assert_int_eq(e.max_output, 99);
    json_decref(body);

    /* Missing or ill-typed fields count as absent. */
    body = json_loads("{\"messages\":\"x\",\"n\":-2,\"max_tokens\":\"9\",\"tools\":null}", 0, NULL);
    ck_assert_ptr_nonnull(body);
    acct_budget_estimate(body, &e);
    ck_assert_uint_eq(e.prompt_bytes, 0);
    ck_assert_int_eq(e.images, 0);
    ck_assert_int_eq(e.max_output, 0);
    ck_assert_int_eq(e.n, 0);
    json_decref(body);
}
END_TEST

/* ---- Through the index ---- */

#define USER_COLS 11
#define BUDGET_COLS 5

/* One DB_COLS_USER row (spend, budget, next reset, blocked, deleted_at may be NULL). */
static void load_user(struct acct_index *ix, const char *id, const char *spend, const char *budget,
                      const char *started, const char *next_reset, const char *blocked,
                      const char *deleted_at)
{
    const char *cells[USER_COLS] = {id,
                                    "alias",
                                    spend,
                                    budget,
                                    started,
                                    next_reset,
                                    blocked,
                                    "2023-01-01T00:00:00+00:00",
                                    "2023-01-01T00:00:00+00:00",
                                    "{}",
                                    deleted_at};
    struct db_result res = {.nrows = 1, .ncols = USER_COLS, .cells = (char **)cells};

    ck_assert_int_eq(acct_index_user_from_row(ix, &res, 0), 0);
}

static void load_budget(struct acct_index *ix, const char *id, const char *max, const char *dur)
{
    const char *cells[BUDGET_COLS] = {id, max, dur, "2023-01-01T00:00:00+00:00",
                                      "2023-01-01T00:00:00+00:00"};
    struct db_result res = {.nrows = 1, .ncols = BUDGET_COLS, .cells = (char **)cells};

    ck_assert_int_eq(acct_index_budget_from_row(ix, &res, 0), 0);
}

static struct gw_user_state get_user(struct acct_index *ix, const char *id)
{
    struct gw_user_state u;

    ck_assert_int_eq(acct_index_user_get(ix, id, &u), 0);
    return u;
}

START_TEST(index_unknown_user)
{
    struct acct_index *ix = acct_index_new();
    struct acct_budget_reset r;
    struct gw_user_state u;

    ck_assert_ptr_nonnull(ix);
    memset(&r, 0xAB, sizeof(r));
    ck_assert_int_eq(acct_index_admit(ix, "ghost", NOW, 1.0, false, true, &r), ACCT_BUDGET_NO_USER);
    ck_assert(!r.happened);
    ck_assert_int_eq(acct_index_admit(ix, "ghost", NOW, 0, true, true, &r), ACCT_BUDGET_NO_USER);
    /* Settling an unknown user is a no-op and does not create it. */
    acct_index_settle(ix, "ghost", 1.0, 1.0);
    ck_assert_int_eq(acct_index_user_get(ix, "ghost", &u), -1);
    /* Soft-deleted users are unknown too. */
    load_user(ix, "gone", "0", NULL, NULL, NULL, "0", "2024-01-01T00:00:00+00:00");
    ck_assert_int_eq(acct_index_admit(ix, "gone", NOW, 0, false, true, &r), ACCT_BUDGET_NO_USER);
    acct_index_free(ix);
}
END_TEST

START_TEST(index_admit_settle_and_reset)
{
    struct acct_index *ix = acct_index_new();
    struct acct_budget_reset r;
    struct gw_user_state u;

    /* NOW is 2023-11-14T22:13:20Z; alice's period ended an hour before. */
    load_budget(ix, "b1", "10.0", "86400");
    load_user(ix, "alice", "9.5", "b1", "2023-11-13T21:13:20+00:00", "2023-11-14T21:13:20+00:00",
              "0", NULL);
    load_user(ix, "bob", "9.5", "b1", "2023-11-14T21:13:20+00:00", "2023-11-15T21:13:20+00:00", "0",
              NULL);

    ck_assert_int_eq(acct_index_admit(ix, "alice", NOW, 0.25, false, true, &r), ACCT_BUDGET_OK);
    ck_assert(r.happened);
    ck_assert_str_eq(r.budget_id, "b1");
    ck_assert_double_eq(r.previous_spend, 9.5);
    ck_assert_int_eq(r.reset_at_us, NOW);
    ck_assert_int_eq(r.next_reset_us, NOW + DAY_SEC * SEC);
    u = get_user(ix, "alice");
    ck_assert_double_eq(u.spend, 0);
    ck_assert_double_eq(u.reserved, 0.25);
    ck_assert_int_eq(u.started_us, NOW);
    ck_assert_int_eq(u.next_reset_us, NOW + DAY_SEC * SEC);
    acct_index_settle(ix, "alice", 0.25, 0.125);
    u = get_user(ix, "alice");
    ck_assert_double_eq(u.spend, 0.125);
    ck_assert_double_eq(u.reserved, 0);

    /* bob: 9.5 + 0.25 + 0.25 reaches 10, the third concurrent request is refused. */
    ck_assert_int_eq(acct_index_admit(ix, "bob", NOW, 0.25, false, true, &r), ACCT_BUDGET_OK);
    ck_assert(!r.happened);
    ck_assert_int_eq(acct_index_admit(ix, "bob", NOW, 0.25, false, true, &r), ACCT_BUDGET_OK);
    ck_assert_int_eq(acct_index_admit(ix, "bob", NOW, 0.25, false, true, &r), ACCT_BUDGET_EXCEEDED);
    ck_assert_int_eq(acct_index_admit(ix, "bob", NOW, 0, true, true, &r), ACCT_BUDGET_OK);
    acct_index_settle(ix, "bob", 0.25, 0.25);
    acct_index_settle(ix, "bob", 0.25, 0.25);
    u = get_user(ix, "bob");
    ck_assert_double_eq(u.spend, 10.0);
    ck_assert_double_eq(u.reserved, 0);
    ck_assert_int_eq(acct_index_admit(ix, "bob", NOW, 0, false, true, &r), ACCT_BUDGET_EXCEEDED);
    acct_index_free(ix);
}
END_TEST

START_TEST(index_store_down_fails_closed)
{
    struct acct_index *ix = acct_index_new();
    struct acct_budget_reset r;
    struct gw_user_state u;

    /* capped: limited budget whose period is due (a reset would have to be recorded). */
    load_budget(ix, "cap", "10.0", "86400");
    load_budget(ix, "open", NULL, "86400");
    load_user(ix, "capped", "1.0", "cap", "2023-11-13T21:13:20+00:00", "2023-11-14T21:13:20+00:00",
              "0", NULL);
    load_user(ix, "unlimited", "1.0", "open", NULL, NULL, "0", NULL);
    load_user(ix, "nobudget", "1.0", NULL, NULL, NULL, "0", NULL);
    load_user(ix, "blocked", "1.0", "cap", NULL, NULL, "1", NULL);

    /* Database away: a capped user is refused without reserving or resetting anything. */
    ck_assert_int_eq(acct_index_admit(ix, "capped", NOW, 0.5, false, false, &r),
                     ACCT_BUDGET_UNAVAILABLE);
    ck_assert(!r.happened);
    u = get_user(ix, "capped");
    ck_assert_double_eq(u.spend, 1.0);
    ck_assert_double_eq(u.reserved, 0);
    /* A free model needs no spending decision; nor do users without a limit. */
    ck_assert_int_eq(acct_index_admit(ix, "capped", NOW, 0, true, false, &r), ACCT_BUDGET_OK);
    ck_assert(r.happened); /* the due reset is queued like any other */
    ck_assert_int_eq(acct_index_admit(ix, "unlimited", NOW, 0.5, false, false, &r), ACCT_BUDGET_OK);
    ck_assert_int_eq(acct_index_admit(ix, "nobudget", NOW, 0.5, false, false, &r), ACCT_BUDGET_OK);
    /* Memory still knows who is blocked or unknown. */
    ck_assert_int_eq(acct_index_admit(ix, "blocked", NOW, 0.5, false, false, &r),
                     ACCT_BUDGET_BLOCKED);
    ck_assert_int_eq(acct_index_admit(ix, "ghost", NOW, 0.5, false, false, &r),
                     ACCT_BUDGET_NO_USER);
    /* Back up: decided as usual. */
    load_user(ix, "capped2", "1.0", "cap", NULL, NULL, "0", NULL);
    ck_assert_int_eq(acct_index_admit(ix, "capped2", NOW, 0.5, false, true, &r), ACCT_BUDGET_OK);
    acct_index_free(ix);
}
END_TEST

START_TEST(index_admin_rewrite_keeps_memory)
{
    struct acct_index *ix = acct_index_new();
    struct acct_budget_reset r;
    struct gw_user_state u;

    load_budget(ix, "b1", "10.0", NULL);
    load_budget(ix, "b2", "100.0", NULL);
    load_user(ix, "alice", "1.0", "b1", NULL, NULL, "0", NULL);
    ck_assert_int_eq(acct_index_admit(ix, "alice", NOW, 0.5, false, true, &r), ACCT_BUDGET_OK);
    acct_index_settle(ix, "alice", 0.5, 2.0);
    ck_assert_int_eq(acct_index_admit(ix, "alice", NOW, 0.25, false, true, &r), ACCT_BUDGET_OK);

    /*
     * An admin PATCH commits and writes the row back: the database's spend (1.0) lags behind the
     * usage writer, so memory keeps its own spend (3.0) and the reservation in flight, while the
     * row's other fields (budget, blocked) take effect.
     */
    load_user(ix, "alice", "1.0", "b2", NULL, NULL, "1", NULL);
    u = get_user(ix, "alice");
    ck_assert_double_eq(u.spend, 3.0);
    ck_assert_double_eq(u.reserved, 0.25);
    ck_assert(u.blocked);
    ck_assert_str_eq(u.budget_id, "b2");
    ck_assert_int_eq(acct_index_admit(ix, "alice", NOW, 0, false, true, &r), ACCT_BUDGET_BLOCKED);
    load_user(ix, "alice", "1.0", "b2", NULL, NULL, "0", NULL);
    ck_assert_int_eq(acct_index_admit(ix, "alice", NOW, 0, false, true, &r), ACCT_BUDGET_OK);
    /* The request in flight settles against the rewritten user. */
    acct_index_settle(ix, "alice", 0.25, 0.25);
    u = get_user(ix, "alice");
    ck_assert_double_eq(u.spend, 3.25);
    ck_assert_double_eq(u.reserved, 0);
    acct_index_free(ix);
}
END_TEST

START_TEST(index_restored_user_takes_row_spend)
{
    struct acct_index *ix = acct_index_new();
    struct acct_budget_reset r;
    struct gw_user_state u;

    load_budget(ix, "b1", "10.0", NULL);
    load_user(ix, "alice", "0", "b1", NULL, NULL, "0", NULL);
    ck_assert_int_eq(acct_index_admit(ix, "alice", NOW, 0.5, false, true, &r), ACCT_BUDGET_OK);
    acct_index_settle(ix, "alice", 0.5, 9.75);
    ck_assert_int_eq(acct_index_admit(ix, "alice", NOW, 0.125, false, true, &r), ACCT_BUDGET_OK);
    acct_index_user_delete(ix, "alice");
    ck_assert_int_eq(acct_index_admit(ix, "alice", NOW, 0, false, true, &r), ACCT_BUDGET_NO_USER);

    /* Re-created (the upsert restores the row with spend 0): a fresh start, not 9.75. */
    load_user(ix, "alice", "0", "b1", NULL, NULL, "0", NULL);
    u = get_user(ix, "alice");
    ck_assert(!u.deleted);
    ck_assert_double_eq(u.spend, 0);
    /* The request still in flight keeps its reservation, so its settlement balances. */
    ck_assert_double_eq(u.reserved, 0.125);
    ck_assert_int_eq(acct_index_admit(ix, "alice", NOW, 0.5, false, true, &r), ACCT_BUDGET_OK);
    acct_index_settle(ix, "alice", 0.125, 0);
    acct_index_settle(ix, "alice", 0.5, 0.5);
    u = get_user(ix, "alice");
    ck_assert_double_eq(u.spend, 0.5);
    ck_assert_double_eq(u.reserved, 0);

    /* A row that is itself soft-deleted (e.g. loaded at start-up) replaces the spend too. */
    load_user(ix, "alice", "7.0", "b1", NULL, NULL, "0", "2024-01-01T00:00:00+00:00");
    u = get_user(ix, "alice");
    ck_assert(u.deleted);
    ck_assert_double_eq(u.spend, 7.0);
    acct_index_free(ix);
}
END_TEST

START_TEST(index_budget_removed_unlimited)
{
    struct acct_index *ix = acct_index_new();
    struct acct_budget_reset r;
    struct gw_user_state u;

    load_budget(ix, "b1", "1.0", "3600");
    load_user(ix, "alice", "5.0", "b1", NULL, "2023-11-14T20:00:00+00:00", "0", NULL);
    load_user(ix, "carol", "5.0", "b-missing", NULL, NULL, "0", NULL);
    load_user(ix, "dave", "5.0", "b1", NULL, NULL, "0", NULL);
    ck_assert_int_eq(acct_index_admit(ix, "dave", NOW, 0, false, true, &r), ACCT_BUDGET_EXCEEDED);

    acct_index_budget_remove(ix, "b1");
    /* No budget: unlimited, and the stale reset schedule is not acted on. */
    ck_assert_int_eq(acct_index_admit(ix, "alice", NOW, 1.0, false, true, &r), ACCT_BUDGET_OK);
    ck_assert(!r.happened);
    ck_assert_int_eq(acct_index_admit(ix, "dave", NOW, 1.0, false, true, &r), ACCT_BUDGET_OK);
    u = get_user(ix, "alice");
    ck_assert(!u.has_budget);
    ck_assert_double_eq(u.spend, 5.0);
    ck_assert_double_eq(u.reserved, 1.0);
    /* A user pointing at a budget the index does not know is unlimited too. */
    ck_assert_int_eq(acct_index_admit(ix, "carol", NOW, 1.0, false, true, &r), ACCT_BUDGET_OK);
    /* A budget row without max_budget: unlimited. */
    load_budget(ix, "b3", NULL, "3600");
    load_user(ix, "erin", "1e6", "b3", NULL, NULL, "0", NULL);
    ck_assert_int_eq(acct_index_admit(ix, "erin", NOW, 1.0, false, true, &r), ACCT_BUDGET_OK);
    /* A budget of 0 from a row blocks at once. */
    load_budget(ix, "b4", "0", NULL);
    load_user(ix, "fred", "0", "b4", NULL, NULL, "0", NULL);
    ck_assert_int_eq(acct_index_admit(ix, "fred", NOW, 0, false, true, &r), ACCT_BUDGET_EXCEEDED);
    acct_index_free(ix);
}
END_TEST

#define THREADS 4
#define PAIRS 10000

struct worker {
    struct acct_index *ix;
    int id;
    double cost; /* sum of what this worker settled */
    int refused;
};

static void *worker_run(void *arg)
{
    struct worker *w = arg;
    struct acct_budget_reset r;

    for (int i = 0; i < PAIRS; i++) {
        /* Multiples of 1/8: every partial sum is exact in a double. */
        double reserve = (double)((i + w->id) % 5) * 0.125, cost = (double)(i % 3) * 0.125;

        if (acct_index_admit(w->ix, "shared", NOW, reserve, false, true, &r) != ACCT_BUDGET_OK) {
            w->refused++;
            continue;
        }
        acct_index_settle(w->ix, "shared", reserve, cost);
        w->cost += cost;
    }
    return NULL;
}

START_TEST(index_threads_balance)
{
    struct acct_index *ix = acct_index_new();
    struct worker w[THREADS];
    pthread_t t[THREADS];
    struct gw_user_state u;
    double total = 0;

    load_budget(ix, "big", "1e12", NULL);
    load_user(ix, "shared", "0.5", "big", NULL, NULL, "0", NULL);
    for (int i = 0; i < THREADS; i++) {
        w[i] = (struct worker){.ix = ix, .id = i};
        ck_assert_int_eq(pthread_create(&t[i], NULL, worker_run, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        ck_assert_int_eq(pthread_join(t[i], NULL), 0);
        ck_assert_int_eq(w[i].refused, 0);
        total += w[i].cost;
    }
    u = get_user(ix, "shared");
    ck_assert_double_eq(u.reserved, 0);
    ck_assert_double_eq(u.spend, 0.5 + total);
    /* (0 + 1 + 2) / 8 per three requests, 10000 requests per thread. */
    ck_assert_double_eq(total, THREADS * 3333 * 0.375);
    acct_index_free(ix);
}
END_TEST

Suite *budget_suite(void)
{
    Suite *s = suite_create("budget");
    TCase *tc;

    tc = tcase_create("admit");
    tcase_add_test(tc, verdict_order);
    tcase_add_test(tc, max_zero_blocks_at_once);
    tcase_add_test(tc, limit_is_greater_or_equal);
    tcase_add_test(tc, unlimited_without_max_or_budget);
    tcase_add_test(tc, free_model_exemption);
    suite_add_tcase(s, tc);

    tc = tcase_create("reset");
    tcase_add_test(tc, lazy_reset_when_due);
    tcase_add_test(tc, one_reset_however_many_periods);
    tcase_add_test(tc, reset_without_duration_happens_once);
    tcase_add_test(tc, reset_then_exceeded_same_call);
    tcase_add_test(tc, huge_duration_does_not_overflow);
    tcase_add_test(tc, next_reset_clamped);
    suite_add_tcase(s, tc);

    tc = tcase_create("reservations");
    tcase_add_test(tc, reservations_bound_concurrency);
    tcase_add_test(tc, settle_edges);
    tcase_add_test(tc, reserve_formula);
    tcase_add_test(tc, reserve_floor_n_images);
    tcase_add_test(tc, estimate_from_body);
    suite_add_tcase(s, tc);

    tc = tcase_create("index");
    tcase_add_test(tc, index_unknown_user);
    tcase_add_test(tc, index_admit_settle_and_reset);
    tcase_add_test(tc, index_store_down_fails_closed);
    tcase_add_test(tc, index_admin_rewrite_keeps_memory);
    tcase_add_test(tc, index_restored_user_takes_row_spend);
    tcase_add_test(tc, index_budget_removed_unlimited);
    tcase_add_test(tc, index_threads_balance);
    suite_add_tcase(s, tc);
    return s;
}
