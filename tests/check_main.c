/*
 * Test runner: every tests/check_<name>.c defines Suite *<name>_suite(void); the build
 * generates suites.h (one GW_SUITE(name) line per file) so adding a suite needs no edit here.
 * Fork mode stays on, so a crash fails only its own test.
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "t_pg.h"

/* GW_TEST_SUITES="a b c" runs only those suites (the ThreadSanitizer pass of make test). */
static bool t_suite_selected(const char *name)
{
    const char *list = getenv("GW_TEST_SUITES"), *p;
    size_t n = strlen(name);

    if (list == NULL || *list == '\0')
        return true;
    for (p = strstr(list, name); p != NULL; p = strstr(p + 1, name))
        if ((p == list || p[-1] == ' ') && (p[n] == '\0' || p[n] == ' '))
            return true;
    return false;
}

/*
 * GW_TEST_SHARD="i/n": of the suites this pass would run, the i-th share (0-based) of n: make
 * check runs each backend's pass as n shards side by side. The shares are balanced by each
 * suite's weight (seconds its tests took in a sanitized pass, from the Check XML logs of make
 * check; 2 for the rest): the heaviest first, each to the lightest share so far. The
 * assignment depends only on the list of suites, so every shard computes the same one.
 */
static const struct {
    const char *name;
    int weight;
} t_weights[] = {
    {"e2e_sdk", 45},     {"e2e_memory", 44},  {"e2e_ui", 30},     {"e2e_dialects", 30},
    {"e2e_http", 25},    {"e2e_billing", 21}, {"e2e_chat", 21},   {"e2e_faults", 13},
    {"e2e_bedrock", 11}, {"e2e_azure", 11},   {"conn", 11},       {"e2e_rate", 10},
    {"db_pg", 9},        {"google_token", 8}, {"e2e_boot", 6},    {"e2e_replicas", 6},
    {"anthropic", 6},    {"e2e_edge", 5},     {"e2e_metrics", 5}, {"httpc", 4},
};

#define T_MAX_SUITES 256

struct t_pick {
    const char *name;
    int weight;
    int share;
};

static int t_weight(const char *name)
{
    for (size_t i = 0; i < sizeof(t_weights) / sizeof(t_weights[0]); i++)
        if (strcmp(t_weights[i].name, name) == 0)
            return t_weights[i].weight;
    return 2;
}

/* Fills each pick's share (0 when there is no valid GW_TEST_SHARD); returns this shard's index,
 * or -1 when every suite is this run's. */
static int t_shard_plan(struct t_pick *picks, int n)
{
    const char *shard = getenv("GW_TEST_SHARD");
    int i, k, load[16] = {0};

    if (shard == NULL || sscanf(shard, "%d/%d", &i, &k) != 2 || k < 2 || k > 16 || i < 0 || i >= k)
        return -1;
    for (int done = 0; done < n; done++) {
        int best = -1, to = 0;

        for (int j = 0; j < n; j++) /* the heaviest not yet placed (first listed on ties) */
            if (picks[j].share < 0 && (best < 0 || picks[j].weight > picks[best].weight))
                best = j;
        for (int b = 1; b < k; b++)
            if (load[b] < load[to])
                to = b;
        picks[best].share = to;
        load[to] += picks[best].weight;
    }
    return i;
}

/* True when name, the next suite of the pass (*next, advanced), is this shard's. */
static bool t_take(const struct t_pick *picks, int n, int *next, const char *name, int mine)
{
    const struct t_pick *p;

    if (*next >= n || strcmp(picks[*next].name, name) != 0)
        return false; /* not in this pass */
    p = &picks[(*next)++];
    return mine < 0 || p->share == mine;
}

int main(void)
{
    const char *backend = getenv("GW_TEST_BACKEND");
    bool pg = backend != NULL && strcmp(backend, "postgres") == 0;
    struct t_pg cluster;
    SRunner *sr;
    static struct t_pick picks[T_MAX_SUITES];
    int failed, ordinal = 0, npicks = 0, mine;
    bool plan = getenv("GW_TEST_PLAN") != NULL; /* only list this shard's suites and weights */

    signal(SIGPIPE, SIG_IGN);
    /*
     * GW_TEST_BACKEND=postgres: the end-to-end suites again, every gateway on a fresh
     * database of one throwaway cluster (t_pg.h); the unit suites ran in the SQLite pass.
     */
    if (pg && !plan) {
        char port[16];

        if (t_pg_start(&cluster) < 0) {
            fprintf(stderr, "cannot start the PostgreSQL test cluster: %s\n", cluster.err);
            return EXIT_FAILURE;
        }
        snprintf(port, sizeof(port), "%d", cluster.port);
        setenv("GW_TEST_PG_PORT", port, 1);
        printf("End-to-end suites on PostgreSQL (cluster on 127.0.0.1:%s)\n", port);
    }
    sr = srunner_create(NULL);
    /* The suites of this pass, then this shard's share of them. */
#define GW_SUITE(name)                                                                             \
    if ((!pg || strncmp(#name, "e2e_", 4) == 0) && t_suite_selected(#name) &&                      \
        npicks < T_MAX_SUITES)                                                                     \
        picks[npicks++] = (struct t_pick){#name, t_weight(#name), -1};
#include "suites.h"
#undef GW_SUITE
    mine = t_shard_plan(picks, npicks);
    ordinal = 0;
#define GW_SUITE(name)                                                                             \
    if (t_take(picks, npicks, &ordinal, #name, mine)) {                                            \
        if (plan)                                                                                  \
            printf("%s %d\n", #name, t_weight(#name));                                             \
        else                                                                                       \
            srunner_add_suite(sr, name##_suite());                                                 \
    }
#include "suites.h"
#undef GW_SUITE
    if (plan) {
        srunner_free(sr);
        return EXIT_SUCCESS;
    }
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    if (pg)
        t_pg_stop(&cluster);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
