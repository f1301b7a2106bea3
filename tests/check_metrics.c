/*
 * Unit tests of the metrics registry and its exposition (src/gateway/metrics/gw_mx*.c): label
 * values escaped, histograms with cumulative buckets, _sum and _count, label sets merged across
 * worker shards and sorted, gauges going down, the cardinality cap ("other"), long values cut at
 * a UTF-8 boundary, and shards written by their threads while another thread scrapes.
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "gateway/metrics/gw_mx.h"
#include "gateway/metrics/gw_mx_text.h"

static const double buckets[] = {0.1, 1, 2.5};

enum { F_REQ, F_HIST, F_GAUGE, F_USER, F_TOK, F_N };

static const struct gw_mx_def defs[F_N] = {
    [F_REQ] =
        {"t_requests_total", "Requests", GW_MX_COUNTER, 2, {"method", "path"}, 0, 100, 0, NULL},
    [F_HIST] = {"t_duration_seconds",
                "Durations\nwith a \\ in help",
                GW_MX_HISTOGRAM,
                1,
                {"ep"},
                0,
                100,
                3,
                buckets},
    [F_GAUGE] = {"t_active", "Active", GW_MX_GAUGE, 0, {0}, 0, 1, 0, NULL},
    [F_USER] = {"t_hits_total", "Hits", GW_MX_COUNTER, 1, {"user_id"}, 1u << 0, 2, 0, NULL},
    [F_TOK] =
        {"t_tokens_total", "Tokens", GW_MX_COUNTER, 2, {"model", "type"}, 1u << 0, 2, 0, NULL},
};

/* The family's exposition text (owned). */
static char *render(struct gw_mx *mx, int fam)
{
    struct evbuffer *b = evbuffer_new();
    size_t n;
    char *s;

    ck_assert_int_eq(gw_mx_text_family(b, mx, fam), 0);
    n = evbuffer_get_length(b);
    s = malloc(n + 1);
    evbuffer_remove(b, s, n);
    s[n] = '\0';
    evbuffer_free(b);
    return s;
}

static void expect_text(struct gw_mx *mx, int fam, const char *want)
{
    char *got = render(mx, fam);

    ck_assert_msg(strcmp(got, want) == 0, "got:\n%s\nwant:\n%s", got, want);
    free(got);
}

START_TEST(label_values_escaped)
{
    struct gw_mx *mx = gw_mx_new(defs, F_N, 1);
    const char *v[2] = {"GET", "a\\b\"c\nd"};

    gw_mx_add(gw_mx_shard(mx, 0), F_REQ, v, 3);
    expect_text(mx, F_REQ,
                "# HELP t_requests_total Requests\n"
                "# TYPE t_requests_total counter\n"
                "t_requests_total{method=\"GET\",path=\"a\\\\b\\\"c\\nd\"} 3\n");
    gw_mx_free(mx);
}
END_TEST

START_TEST(histogram_cumulative_merged)
{
    struct gw_mx *mx = gw_mx_new(defs, F_N, 2);
    const char *v[1] = {"/x"};

    /* Shard 0: 0.05 (<= 0.1), 1 (<= 1: the bound is inclusive); shard 1: 2, 7 (+Inf). */
    gw_mx_observe(gw_mx_shard(mx, 0), F_HIST, v, 0.05);
    gw_mx_observe(gw_mx_shard(mx, 0), F_HIST, v, 1);
    gw_mx_observe(gw_mx_shard(mx, 1), F_HIST, v, 2);
    gw_mx_observe(gw_mx_shard(mx, 1), F_HIST, v, 7);
    expect_text(mx, F_HIST,
                "# HELP t_duration_seconds Durations\\nwith a \\\\ in help\n"
                "# TYPE t_duration_seconds histogram\n"
                "t_duration_seconds_bucket{ep=\"/x\",le=\"0.1\"} 1\n"
                "t_duration_seconds_bucket{ep=\"/x\",le=\"1.0\"} 2\n"
                "t_duration_seconds_bucket{ep=\"/x\",le=\"2.5\"} 3\n"
                "t_duration_seconds_bucket{ep=\"/x\",le=\"+Inf\"} 4\n"
                "t_duration_seconds_sum{ep=\"/x\"} 10.05\n"
                "t_duration_seconds_count{ep=\"/x\"} 4\n");
    gw_mx_free(mx);
}
END_TEST

START_TEST(counters_merged_and_sorted)
{
    struct gw_mx *mx = gw_mx_new(defs, F_N, 3);
    const char *a[2] = {"POST", "/b"}, *b[2] = {"GET", "/a"};

    gw_mx_add(gw_mx_shard(mx, 2), F_REQ, a, 1);
    gw_mx_add(gw_mx_shard(mx, 0), F_REQ, a, 2);
    gw_mx_add(gw_mx_shard(mx, 1), F_REQ, b, 5);
    gw_mx_add(gw_mx_shard(mx, 2), F_REQ, b, 1);
    expect_text(mx, F_REQ,
                "# HELP t_requests_total Requests\n"
                "# TYPE t_requests_total counter\n"
                "t_requests_total{method=\"GET\",path=\"/a\"} 6\n"
                "t_requests_total{method=\"POST\",path=\"/b\"} 3\n");
    gw_mx_free(mx);
}
END_TEST

START_TEST(gauge_up_and_down)
{
    struct gw_mx *mx = gw_mx_new(defs, F_N, 2);

    /* Unwritten: one sample at 0. Then a request begins on shard 0 and ends on shard 1 (never
       done by the gateway, but the sum must still be right), another stays on shard 0. */
    expect_text(mx, F_GAUGE, "# HELP t_active Active\n# TYPE t_active gauge\nt_active 0\n");
    gw_mx_add(gw_mx_shard(mx, 0), F_GAUGE, NULL, 1);
    gw_mx_add(gw_mx_shard(mx, 0), F_GAUGE, NULL, 1);
    gw_mx_add(gw_mx_shard(mx, 1), F_GAUGE, NULL, -1);
    expect_text(mx, F_GAUGE, "# HELP t_active Active\n# TYPE t_active gauge\nt_active 1\n");
    gw_mx_add(gw_mx_shard(mx, 0), F_GAUGE, NULL, -1);
    expect_text(mx, F_GAUGE, "# HELP t_active Active\n# TYPE t_active gauge\nt_active 0\n");
    gw_mx_free(mx);
}
END_TEST

/* Cap 2 over all shards: the third user (on another shard) is counted as "other". */
START_TEST(cardinality_cap_other)
{
    struct gw_mx *mx = gw_mx_new(defs, F_N, 2);
    const char *u1[1] = {"alice"}, *u2[1] = {"bob"}, *u3[1] = {"carol"}, *u4[1] = {"dave"};
    const char *t1[2] = {"m1", "input"}, *t2[2] = {"m2", "output"}, *t3[2] = {"m3", "input"},
               *t4[2] = {"m4", "output"};

    gw_mx_add(gw_mx_shard(mx, 0), F_USER, u1, 1);
    gw_mx_add(gw_mx_shard(mx, 1), F_USER, u2, 1);
    gw_mx_add(gw_mx_shard(mx, 1), F_USER, u3, 1);
    gw_mx_add(gw_mx_shard(mx, 0), F_USER, u4, 2);
    gw_mx_add(gw_mx_shard(mx, 0), F_USER, u1, 1); /* known sets keep counting */
    expect_text(mx, F_USER,
                "# HELP t_hits_total Hits\n# TYPE t_hits_total counter\n"
                "t_hits_total{user_id=\"alice\"} 2\n"
                "t_hits_total{user_id=\"bob\"} 1\n"
                "t_hits_total{user_id=\"other\"} 3\n");
    /* Only the client-chosen label becomes "other"; the type is kept. */
    gw_mx_add(gw_mx_shard(mx, 0), F_TOK, t1, 10);
    gw_mx_add(gw_mx_shard(mx, 0), F_TOK, t2, 5);
    gw_mx_add(gw_mx_shard(mx, 1), F_TOK, t3, 7);
    gw_mx_add(gw_mx_shard(mx, 1), F_TOK, t4, 4);
    expect_text(mx, F_TOK,
                "# HELP t_tokens_total Tokens\n# TYPE t_tokens_total counter\n"
                "t_tokens_total{model=\"m1\",type=\"input\"} 10\n"
                "t_tokens_total{model=\"m2\",type=\"output\"} 5\n"
                "t_tokens_total{model=\"other\",type=\"input\"} 7\n"
                "t_tokens_total{model=\"other\",type=\"output\"} 4\n");
    ck_assert_uint_eq(gw_mx_dropped(mx), 0);
    gw_mx_free(mx);
}
END_TEST

/* A closed family past its cap drops new sets (and counts them) rather than growing. */
START_TEST(closed_family_full_drops)
{
    static const struct gw_mx_def d[1] = {
        {"t_c_total", "C", GW_MX_COUNTER, 1, {"k"}, 0, 1, 0, NULL}};
    struct gw_mx *mx = gw_mx_new(d, 1, 1);
    const char *a[1] = {"a"}, *b[1] = {"b"};

    gw_mx_add(gw_mx_shard(mx, 0), 0, a, 1);
    gw_mx_add(gw_mx_shard(mx, 0), 0, b, 1);
    ck_assert_uint_eq(gw_mx_dropped(mx), 1);
    expect_text(mx, 0, "# HELP t_c_total C\n# TYPE t_c_total counter\nt_c_total{k=\"a\"} 1\n");
    gw_mx_free(mx);
}
END_TEST

/* A long value is cut to GW_MX_MAX_VALUE bytes, never inside a UTF-8 character. */
START_TEST(long_value_cut_utf8)
{
    struct gw_mx *mx = gw_mx_new(defs, F_N, 1);
    char v[GW_MX_MAX_VALUE + 8], want[512], *got;
    const char *vals[1] = {v};

    memset(v, 'a', GW_MX_MAX_VALUE - 1);
    memcpy(v + GW_MX_MAX_VALUE - 1, "\xc3\xa9zz", 5); /* "é" straddles the limit */
    gw_mx_add(gw_mx_shard(mx, 0), F_USER, vals, 1);
    got = render(mx, F_USER);
    snprintf(want, sizeof(want), "t_hits_total{user_id=\"%.*s\"} 1\n", GW_MX_MAX_VALUE - 1, v);
    ck_assert_msg(strstr(got, want) != NULL, "%s", got);
    free(got);
    gw_mx_free(mx);
}
END_TEST

START_TEST(number_format)
{
    char b[64];

    ck_assert_str_eq(gw_mx_text_num(b, sizeof(b), 1), "1.0");
    ck_assert_str_eq(gw_mx_text_num(b, sizeof(b), 0.005), "0.005");
    ck_assert_str_eq(gw_mx_text_num(b, sizeof(b), 1.0 / 0.0), "+Inf");
    ck_assert_str_eq(gw_mx_text_num(b, sizeof(b), 0.1 + 0.2), "0.30000000000000004");
    ck_assert_str_eq(gw_mx_text_num(b, sizeof(b), 1e-05), "1e-05");
}
END_TEST

/* ---- writers and a scraper at once (ThreadSanitizer runs this suite too) ---- */

#define T_WRITERS 3
#define T_ROUNDS 20000

struct t_writer {
    struct gw_mx *mx;
    int id;
};

static void *writer_main(void *arg)
{
    struct t_writer *w = arg;
    struct gw_mx_shard *s = gw_mx_shard(w->mx, w->id);
    char user[32];
    const char *v[1] = {user}, *r[2] = {"GET", "/x"};

    for (int i = 0; i < T_ROUNDS; i++) {
        snprintf(user, sizeof(user), "u%d", i % 50); /* new sets early, then only lookups */
        gw_mx_add(s, F_USER, v, 1);
        gw_mx_add(s, F_REQ, r, 1);
        gw_mx_observe(s, F_HIST, r + 1, 0.5);
        gw_mx_add(s, F_GAUGE, NULL, i % 2 == 0 ? 1 : -1);
    }
    return NULL;
}

START_TEST(concurrent_writers_and_scrapes)
{
    static const struct gw_mx_def d[F_N] = {
        [F_REQ] = {"t_requests_total", "R", GW_MX_COUNTER, 2, {"m", "p"}, 0, 10, 0, NULL},
        [F_HIST] = {"t_h", "H", GW_MX_HISTOGRAM, 1, {"ep"}, 0, 10, 3, buckets},
        [F_GAUGE] = {"t_g", "G", GW_MX_GAUGE, 0, {0}, 0, 1, 0, NULL},
        [F_USER] = {"t_u_total", "U", GW_MX_COUNTER, 1, {"u"}, 1u << 0, 1000, 0, NULL},
        [F_TOK] = {"t_t_total", "T", GW_MX_COUNTER, 1, {"t"}, 0, 1, 0, NULL},
    };
    struct gw_mx *mx = gw_mx_new(d, F_N, T_WRITERS);
    struct t_writer w[T_WRITERS];
    pthread_t th[T_WRITERS];
    struct gw_mx_sample *sm;
    size_t n;

    for (int i = 0; i < T_WRITERS; i++) {
        w[i] = (struct t_writer){mx, i};
        ck_assert_int_eq(pthread_create(&th[i], NULL, writer_main, &w[i]), 0);
    }
    for (int k = 0; k < 200; k++)
        for (int f = 0; f < F_N; f++)
            free(render(mx, f));
    for (int i = 0; i < T_WRITERS; i++)
        pthread_join(th[i], NULL);
    sm = gw_mx_collect(mx, F_REQ, &n);
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(sm[0].value, (int64_t)T_WRITERS * T_ROUNDS);
    free(sm);
    sm = gw_mx_collect(mx, F_HIST, &n);
    ck_assert_uint_eq(n, 1);
    ck_assert_uint_eq(sm[0].count, (uint64_t)T_WRITERS * T_ROUNDS);
    ck_assert_uint_eq(sm[0].buckets[1], (uint64_t)T_WRITERS * T_ROUNDS);
    free(sm);
    sm = gw_mx_collect(mx, F_USER, &n);
    ck_assert_uint_eq(n, 50); /* the same 50 users on every shard, merged */
    free(sm);
    sm = gw_mx_collect(mx, F_GAUGE, &n);
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(sm[0].value, 0);
    free(sm);
    gw_mx_free(mx);
}
END_TEST

Suite *metrics_suite(void)
{
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("registry");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, label_values_escaped);
    tcase_add_test(tc, histogram_cumulative_merged);
    tcase_add_test(tc, counters_merged_and_sorted);
    tcase_add_test(tc, gauge_up_and_down);
    tcase_add_test(tc, cardinality_cap_other);
    tcase_add_test(tc, closed_family_full_drops);
    tcase_add_test(tc, long_value_cut_utf8);
    tcase_add_test(tc, number_format);
    tcase_add_test(tc, concurrent_writers_and_scrapes);
    suite_add_tcase(s, tc);
    return s;
}
