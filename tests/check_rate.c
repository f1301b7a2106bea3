/*
 * Unit tests of the rate limiter (acct_rate.h) with an injected clock: the reference's limiter
 * tests (spec §11 test_rate_limiting.py: up to rpm, limit/remaining, a wall-clock reset, the
 * (rpm+1)th refused with Retry-After in 1..60, isolation per user, allowed again after 61 s,
 * stale users purged), the window sliding bucket by bucket, Retry-After when several seconds
 * must expire, all-or-nothing admission of a user and a key, tokens reserved then settled, the
 * other replicas' counts (set, replaced, cleared) and many threads admitting at once.
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>

#include "acct/acct_rate.h"

#define SEC INT64_C(1000000)
#define T0 (INT64_C(1700000000) * SEC) /* a whole second */

static struct acct_rate_ask user_ask(const char *name, int64_t rpm)
{
    return (struct acct_rate_ask){.kind = ACCT_RATE_USER, .name = name, .rpm = rpm};
}

/* One admission of a single ask; returns the verdict (and fills *retry when refused). */
static enum acct_rate_verdict admit1(struct acct_rate *rl, struct acct_rate_ask *a, int64_t now,
                                     int64_t *retry)
{
    size_t which = 99;
    int64_t ra = -1;
    enum acct_rate_verdict v = acct_rate_admit(rl, a, 1, now, &which, &ra);

    if (v != ACCT_RATE_OK)
        ck_assert_uint_eq(which, 0);
    if (retry != NULL)
        *retry = ra;
    return v;
}

START_TEST(reference_limiter)
{
    struct acct_rate *rl = acct_rate_new();
    struct acct_rate_ask a = user_ask("alice", 4);
    int64_t retry;

    ck_assert_ptr_nonnull(rl);
    ck_assert_int_eq(admit1(rl, &a, T0 + SEC / 2, NULL), ACCT_RATE_OK);
    ck_assert_int_eq(a.count, 1);
    ck_assert_int_eq(a.remaining, 3);
    ck_assert_int_eq(a.reset, T0 / SEC + 60); /* wall clock: now + 60 (to the second) */
    ck_assert_int_eq(admit1(rl, &a, T0 + SEC, NULL), ACCT_RATE_OK);
    ck_assert_int_eq(a.remaining, 2);
    ck_assert_int_eq(a.reset, T0 / SEC + 60); /* the oldest request's expiry */
    ck_assert_int_eq(admit1(rl, &a, T0 + 2 * SEC, NULL), ACCT_RATE_OK);
    ck_assert_int_eq(admit1(rl, &a, T0 + 3 * SEC, NULL), ACCT_RATE_OK);
    ck_assert_int_eq(a.remaining, 0);
    /* The fifth within the minute: refused until the oldest (second T0) expires at T0 + 60. */
    ck_assert_int_eq(admit1(rl, &a, T0 + 10 * SEC + SEC / 4, &retry), ACCT_RATE_RPM);
    ck_assert_int_eq(retry, 50);
    ck_assert_int_eq(admit1(rl, &a, T0 + 59 * SEC + SEC * 9 / 10, &retry), ACCT_RATE_RPM);
    ck_assert_int_eq(retry, 1); /* at least 1 */
    /* Refusals do not count: still 4 in the window. */
    {
        int64_t req, tok;
        acct_rate_peek(rl, ACCT_RATE_USER, "alice", T0 + 30 * SEC, &req, &tok);
        ck_assert_int_eq(req, 4);
        ck_assert_int_eq(tok, 0);
    }
    /* Isolated per user. */
    {
        struct acct_rate_ask b = user_ask("bob", 4);
        ck_assert_int_eq(admit1(rl, &b, T0 + 30 * SEC, NULL), ACCT_RATE_OK);
        ck_assert_int_eq(b.remaining, 3);
    }
    /* 61 s after the first: the first two expired (seconds T0 and T0+1), remaining 4-3 = 1. */
    ck_assert_int_eq(admit1(rl, &a, T0 + 61 * SEC + SEC / 2, NULL), ACCT_RATE_OK);
    ck_assert_int_eq(a.count, 3);
    ck_assert_int_eq(a.remaining, 1);
    ck_assert_int_eq(a.reset, T0 / SEC + 62);
    acct_rate_free(rl);
}
END_TEST

START_TEST(window_slides_by_second)
{
    struct acct_rate *rl = acct_rate_new();
    struct acct_rate_ask a = user_ask("u", 3);
    int64_t retry, req, tok;

    /* One request in each of seconds 0, 20 and 40. */
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(admit1(rl, &a, T0 + i * 20 * SEC, NULL), ACCT_RATE_OK);
    ck_assert_int_eq(admit1(rl, &a, T0 + 59 * SEC, &retry), ACCT_RATE_RPM);
    ck_assert_int_eq(retry, 1);
    /* At second 60 the request of second 0 has expired (exact to one second). */
    acct_rate_peek(rl, ACCT_RATE_USER, "u", T0 + 60 * SEC, &req, &tok);
    ck_assert_int_eq(req, 2);
    ck_assert_int_eq(admit1(rl, &a, T0 + 60 * SEC, NULL), ACCT_RATE_OK);
    ck_assert_int_eq(a.reset, T0 / SEC + 80);
    /* A bucket reused for a later second starts from zero (second 0 and 60 share a slot). */
    acct_rate_peek(rl, ACCT_RATE_USER, "u", T0 + 61 * SEC, &req, &tok);
    ck_assert_int_eq(req, 3);
    /* Far in the future: nothing left. */
    acct_rate_peek(rl, ACCT_RATE_USER, "u", T0 + 1000 * SEC, &req, &tok);
    ck_assert_int_eq(req, 0);
    acct_rate_free(rl);
}
END_TEST

/* Retry-After when the limit was lowered below the count: enough buckets must expire. */
START_TEST(retry_after_several_buckets)
{
    struct acct_rate *rl = acct_rate_new();
    struct acct_rate_ask a = user_ask("u", 10);
    int64_t retry;

    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(admit1(rl, &a, T0 + i * 10 * SEC, NULL), ACCT_RATE_OK);
    a.rpm = 3; /* 5 in the window (seconds 0,10,20,30,40): 3 must expire to fall below 3 */
    ck_assert_int_eq(admit1(rl, &a, T0 + 45 * SEC, &retry), ACCT_RATE_RPM);
    ck_assert_int_eq(retry, 20 + 60 - 45);
    acct_rate_free(rl);
}
END_TEST

/* A user and a key admitted together: a refusal by either counts on neither. */
START_TEST(all_or_nothing)
{
    struct acct_rate *rl = acct_rate_new();
    struct acct_rate_ask asks[2] = {
        user_ask("u", 100),
        {.kind = ACCT_RATE_KEY, .name = "k1", .rpm = 2},
    };
    size_t which = 9;
    int64_t retry = 0, req, tok;

    ck_assert_int_eq(acct_rate_admit(rl, asks, 2, T0, &which, &retry), ACCT_RATE_OK);
    ck_assert_int_eq(asks[0].remaining, 99);
    ck_assert_int_eq(asks[1].remaining, 1);
    ck_assert_int_eq(acct_rate_admit(rl, asks, 2, T0 + SEC, &which, &retry), ACCT_RATE_OK);
    ck_assert_int_eq(acct_rate_admit(rl, asks, 2, T0 + 2 * SEC, &which, &retry), ACCT_RATE_RPM);
    ck_assert_uint_eq(which, 1);
    ck_assert_int_eq(retry, 58);
    acct_rate_peek(rl, ACCT_RATE_USER, "u", T0 + 2 * SEC, &req, &tok);
    ck_assert_int_eq(req, 2); /* the refused request did not count on the user either */
    /* A user "k1" and a key "k1" are different subjects. */
    acct_rate_peek(rl, ACCT_RATE_USER, "k1", T0 + 2 * SEC, &req, &tok);
    ck_assert_int_eq(req, 0);
    /* Without limits nothing is tracked. */
    {
        struct acct_rate_ask none = user_ask("free", 0);
        ck_assert_int_eq(admit1(rl, &none, T0, NULL), ACCT_RATE_OK);
        ck_assert_uint_eq(acct_rate_subjects(rl), 2);
    }
    acct_rate_free(rl);
}
END_TEST

START_TEST(tokens_reserve_and_settle)
{
    struct acct_rate *rl = acct_rate_new();
    struct acct_rate_ask a = {.kind = ACCT_RATE_KEY, .name = "k", .tpm = 1000, .tokens = 600};
    int64_t retry, req, tok;

    ck_assert_int_eq(admit1(rl, &a, T0, NULL), ACCT_RATE_OK);
    ck_assert_int_eq(a.reserved, 600);
    ck_assert_int_eq(a.second, T0 / SEC);
    /* 600 held in flight < 1000: a second call passes (the check is "reached", as budgets). */
    ck_assert_int_eq(admit1(rl, &a, T0 + SEC, NULL), ACCT_RATE_OK);
    ck_assert_int_eq(admit1(rl, &a, T0 + 2 * SEC, &retry), ACCT_RATE_TPM);
    /* Expiring the first second's 600 brings 1200 below 1000. */
    ck_assert_int_eq(retry, 58);
    /* Both settle to their real totals (50 each), counted at settlement time. */
    acct_rate_settle(rl, ACCT_RATE_KEY, "k", T0 / SEC, 600, 50, T0 + 3 * SEC);
    acct_rate_settle(rl, ACCT_RATE_KEY, "k", T0 / SEC + 1, 600, 50, T0 + 3 * SEC);
    acct_rate_peek(rl, ACCT_RATE_KEY, "k", T0 + 3 * SEC, &req, &tok);
    ck_assert_int_eq(req, 2);
    ck_assert_int_eq(tok, 100);
    ck_assert_int_eq(admit1(rl, &a, T0 + 3 * SEC, NULL), ACCT_RATE_OK);
    /* A call settled after its admission second left the window: only the actual counts. */
    acct_rate_settle(rl, ACCT_RATE_KEY, "k", T0 / SEC + 3, 600, 700, T0 + 70 * SEC);
    acct_rate_peek(rl, ACCT_RATE_KEY, "k", T0 + 70 * SEC, &req, &tok);
    ck_assert_int_eq(tok, 700);
    ck_assert_int_eq(req, 0);
    /* A failed call gives its reservation back entirely. */
    ck_assert_int_eq(admit1(rl, &a, T0 + 71 * SEC, &retry), ACCT_RATE_OK);
    acct_rate_settle(rl, ACCT_RATE_KEY, "k", T0 / SEC + 71, 600, 0, T0 + 71 * SEC);
    acct_rate_peek(rl, ACCT_RATE_KEY, "k", T0 + 71 * SEC, &req, &tok);
    ck_assert_int_eq(tok, 700);
    /* Unknown subject with nothing to count: no-op, nothing added. */
    acct_rate_settle(rl, ACCT_RATE_KEY, "ghost", T0 / SEC, 10, 0, T0);
    ck_assert_uint_eq(acct_rate_subjects(rl), 1);
    acct_rate_free(rl);
}
END_TEST

START_TEST(purge_idle)
{
    struct acct_rate *rl = acct_rate_new();
    char name[32];

    for (int i = 0; i < 200; i++) {
        struct acct_rate_ask a = user_ask(name, 5);
        snprintf(name, sizeof(name), "user-%d", i);
        ck_assert_int_eq(admit1(rl, &a, T0 + (i < 100 ? 0 : 30) * SEC, NULL), ACCT_RATE_OK);
    }
    ck_assert_uint_eq(acct_rate_subjects(rl), 200);
    ck_assert_uint_eq(acct_rate_purge(rl, T0 + 59 * SEC), 0);
    ck_assert_uint_eq(acct_rate_purge(rl, T0 + 60 * SEC), 100);
    ck_assert_uint_eq(acct_rate_subjects(rl), 100);
    ck_assert_uint_eq(acct_rate_purge(rl, T0 + 90 * SEC), 100);
    ck_assert_uint_eq(acct_rate_subjects(rl), 0);
    /* Admissions purge by themselves every ACCT_RATE_PURGE_EVERY checks. */
    for (int i = 0; i < 10; i++) {
        struct acct_rate_ask a = user_ask(name, 5);
        snprintf(name, sizeof(name), "old-%d", i);
        admit1(rl, &a, T0, NULL);
    }
    for (int i = 0; i < ACCT_RATE_PURGE_EVERY; i++) {
        struct acct_rate_ask a = user_ask("busy", 1000000);
        admit1(rl, &a, T0 + 120 * SEC, NULL);
    }
    ck_assert_uint_eq(acct_rate_subjects(rl), 1);
    acct_rate_free(rl);
}
END_TEST

static int collect(char kind, const char *name, int64_t second, int64_t requests, int64_t tokens,
                   void *arg)
{
    int64_t *sum = arg;

    ck_assert_int_eq(kind, ACCT_RATE_USER);
    ck_assert_str_eq(name, "u");
    ck_assert_int_ge(second, T0 / SEC);
    sum[0] += requests;
    sum[1] += tokens;
    sum[2]++;
    return 0;
}

START_TEST(remote_counts)
{
    struct acct_rate *rl = acct_rate_new();
    struct acct_rate_ask a = user_ask("u", 5);
    int64_t retry, req, tok, sum[3] = {0};
    uint32_t round;

    ck_assert_int_eq(admit1(rl, &a, T0 + 10 * SEC, NULL), ACCT_RATE_OK);
    /* The other replicas made 3 requests in second 0 and 1 in second 5. */
    round = acct_rate_remote_begin(rl);
    ck_assert_int_eq(
        acct_rate_remote_put(rl, round, ACCT_RATE_USER, "u", T0 / SEC, 3, 0, T0 + 10 * SEC), 0);
    ck_assert_int_eq(
        acct_rate_remote_put(rl, round, ACCT_RATE_USER, "u", T0 / SEC + 5, 1, 0, T0 + 10 * SEC), 0);
    /* Outside the window: ignored. */
    ck_assert_int_eq(
        acct_rate_remote_put(rl, round, ACCT_RATE_USER, "u", T0 / SEC - 100, 50, 0, T0 + 10 * SEC),
        0);
    acct_rate_remote_end(rl, round);
    acct_rate_peek(rl, ACCT_RATE_USER, "u", T0 + 10 * SEC, &req, &tok);
    ck_assert_int_eq(req, 5);
    ck_assert_int_eq(admit1(rl, &a, T0 + 11 * SEC, &retry), ACCT_RATE_RPM);
    ck_assert_int_eq(retry, 49); /* the remote second 0 expires first */
    /* Only local buckets are published. */
    ck_assert_int_eq(acct_rate_each_local(rl, T0 + 11 * SEC, collect, sum), 0);
    ck_assert_int_eq(sum[0], 1);
    ck_assert_int_eq(sum[2], 1);
    /* The next round no longer has second 0: cleared; second 5 replaced by 2. */
    round = acct_rate_remote_begin(rl);
    acct_rate_remote_put(rl, round, ACCT_RATE_USER, "u", T0 / SEC + 5, 2, 0, T0 + 12 * SEC);
    acct_rate_remote_end(rl, round);
    acct_rate_peek(rl, ACCT_RATE_USER, "u", T0 + 12 * SEC, &req, &tok);
    ck_assert_int_eq(req, 3);
    ck_assert_int_eq(admit1(rl, &a, T0 + 12 * SEC, NULL), ACCT_RATE_OK);
    ck_assert_int_eq(a.reset, T0 / SEC + 65); /* the oldest, remote, request's expiry */
    ck_assert_int_eq(a.remaining, 1);
    /* A subject seen only remotely is created, and purged once its counts expire. */
    round = acct_rate_remote_begin(rl);
    ck_assert_int_eq(
        acct_rate_remote_put(rl, round, ACCT_RATE_KEY, "kx", T0 / SEC + 12, 7, 70, T0 + 12 * SEC),
        0);
    acct_rate_remote_end(rl, round);
    acct_rate_peek(rl, ACCT_RATE_KEY, "kx", T0 + 12 * SEC, &req, &tok);
    ck_assert_int_eq(req, 7);
    ck_assert_int_eq(tok, 70);
    ck_assert_uint_eq(acct_rate_purge(rl, T0 + 200 * SEC), 2);
    acct_rate_free(rl);
}
END_TEST

#define THREADS 4
#define PER_THREAD 5000

static void *hammer(void *arg)
{
    struct acct_rate *rl = arg;
    char name[16];

    for (int i = 0; i < PER_THREAD; i++) {
        struct acct_rate_ask a[2] = {
            user_ask("shared", 1000),
            {.kind = ACCT_RATE_KEY, .name = name, .rpm = 3, .tpm = 100, .tokens = 1},
        };
        size_t which;
        int64_t retry;
        snprintf(name, sizeof(name), "k%d", i % 97);
        acct_rate_admit(rl, a, 2, T0 + (i % 7) * SEC / 7, &which, &retry);
    }
    return NULL;
}

/* Many threads on one subject: never more than rpm admitted in the window. */
START_TEST(threads_hold_the_limit)
{
    struct acct_rate *rl = acct_rate_new();
    pthread_t t[THREADS];
    int64_t req, tok;

    for (int i = 0; i < THREADS; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, hammer, rl), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    acct_rate_peek(rl, ACCT_RATE_USER, "shared", T0, &req, &tok);
    ck_assert_int_eq(req, 97 * 3); /* each key admits 3, so the user counts 291 (< 1000) */
    for (int i = 0; i < 97; i++) {
        char name[16];
        snprintf(name, sizeof(name), "k%d", i);
        acct_rate_peek(rl, ACCT_RATE_KEY, name, T0, &req, &tok);
        ck_assert_int_eq(req, 3);
        ck_assert_int_eq(tok, 3);
    }
    acct_rate_free(rl);
}
END_TEST

Suite *rate_suite(void)
{
    Suite *s = suite_create("rate");
    TCase *tc = tcase_create("window");

    tcase_add_test(tc, reference_limiter);
    tcase_add_test(tc, window_slides_by_second);
    tcase_add_test(tc, retry_after_several_buckets);
    tcase_add_test(tc, all_or_nothing);
    tcase_add_test(tc, tokens_reserve_and_settle);
    tcase_add_test(tc, purge_idle);
    tcase_add_test(tc, remote_counts);
    tcase_add_test(tc, threads_hold_the_limit);
    suite_add_tcase(s, tc);
    return s;
}
