/*
 * Test runner: every tests/check_<name>.c defines Suite *<name>_suite(void); the build
 * generates suites.h (one GW_SUITE(name) line per file) so adding a suite needs no edit here.
 * Fork mode stays on, so a crash fails only its own test.
 */
#include <check.h>
#include <signal.h>
#include <stdlib.h>

int main(void)
{
    SRunner *sr;
    int failed;

    signal(SIGPIPE, SIG_IGN);
    sr = srunner_create(NULL);
#define GW_SUITE(name) srunner_add_suite(sr, name##_suite());
#include "suites.h"
#undef GW_SUITE
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
