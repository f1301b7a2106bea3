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
 * GW_TEST_SHARD="i/n": of the suites this pass would run, only the i-th, (i+n)-th, ... (0-based):
 * make check runs the SQLite pass as n shards side by side.
 */
static bool t_shard_mine(int ordinal)
{
    const char *shard = getenv("GW_TEST_SHARD");
    int i, n;

    if (shard == NULL || sscanf(shard, "%d/%d", &i, &n) != 2 || n < 2 || i < 0 || i >= n)
        return true;
    return ordinal % n == i;
}

int main(void)
{
    const char *backend = getenv("GW_TEST_BACKEND");
    bool pg = backend != NULL && strcmp(backend, "postgres") == 0;
    struct t_pg cluster;
    SRunner *sr;
    int failed, ordinal = 0;

    signal(SIGPIPE, SIG_IGN);
    /*
     * GW_TEST_BACKEND=postgres: the end-to-end suites again, every gateway on a fresh
     * database of one throwaway cluster (t_pg.h); the unit suites ran in the SQLite pass.
     */
    if (pg) {
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
#define GW_SUITE(name)                                                                             \
    if ((!pg || strncmp(#name, "e2e_", 4) == 0) && t_suite_selected(#name) &&                      \
        t_shard_mine(ordinal++))                                                                   \
        srunner_add_suite(sr, name##_suite());
#include "suites.h"
#undef GW_SUITE
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    if (pg)
        t_pg_stop(&cluster);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
