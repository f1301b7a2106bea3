/*
 * The dashboard (web/ui, served at /ui/) in a real browser: tests/ui/dashboard.mjs drives
 * Debian's chromium, headless, with puppeteer-core (installed into tests/npm by
 * scripts/sdk-deps.sh) against the real gateway, whose "openai" provider is the fake. Through the
 * UI it signs in, sets a price, creates a budget, a user and a key, sends chat requests with the
 * key, reads the overview and the usage log, exports CSV and revokes the key; it also renders
 * /docs. The script checks what the pages show (and no console error, no foreign request, the
 * master key in no URL, cookie or localStorage); this suite checks its report and what the UI
 * left in the database. Screenshots: <build>/test-output/ui/<page>.png.
 */
#include <check.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "t_llm.h"
#include "t_sdk.h"

/* The browser: $CHROMIUM or Debian's. */
static const char *ui_chromium(void)
{
    const char *c = getenv("CHROMIUM");

    return c != NULL && c[0] != '\0' ? c : "/usr/bin/chromium";
}

/* Fails the test, with the fix, when the browser or puppeteer-core is missing. */
static void ui_need(void)
{
    char path[512];
    const char *root = getenv("GW_ROOT");
    struct stat st;

    t_llm_need();
    ck_assert_msg(stat(ui_chromium(), &st) == 0,
                  "%s missing: install Debian's chromium (scripts/deps.sh test, as root)",
                  ui_chromium());
    snprintf(path, sizeof(path), "%s/tests/npm/node_modules/puppeteer-core/package.json",
             root != NULL && root[0] != '\0' ? root : ".");
    ck_assert_msg(stat(path, &st) == 0,
                  "%s missing: run scripts/sdk-deps.sh (make sdk-deps) with GW_ROOT set to the "
                  "repository root",
                  path);
}

/* <directory of GW_BIN>/test-output/ui: the screenshots stay with the build they tested. */
static void ui_out_dir(char *out, size_t len)
{
    char bin[512];
    const char *b = getenv("GW_BIN");

    snprintf(bin, sizeof(bin), "%s", b != NULL && b[0] != '\0' ? b : "build/any-llm-gateway");
    snprintf(out, len, "%s/test-output/ui", dirname(bin));
}

static const char *ui_str(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));

    ck_assert_msg(s != NULL, "the script reported no string %s", k);
    return s;
}

/* Unchecked fixture: the fake provider and a gateway on it (no prices: the UI sets them). */
static void ui_up(void)
{
    t_llm_up("", "");
}

START_TEST(ui_operator_day)
{
    char out[600];
    const char *env[] = {"GW_UI_OUT", out, NULL};
    json_t *j, *o;
    const char *budget;

    ui_need();
    ui_out_dir(out, sizeof(out));
    j = t_node_run("tests/ui/dashboard.mjs", "dashboard", NULL, "", T_MASTER_KEY, env, 120);

    /* What the pages showed. */
    budget = ui_str(j, "budget_id");
    ck_assert_int_eq(strlen(budget), 36);
    ck_assert_str_eq(ui_str(j, "user_id"), "ui-alice");
    ck_assert_str_eq(ui_str(j, "key_prefix"), "gw-");
    o = json_object_get(j, "overview");
    ck_assert_str_eq(json_string_value(json_object_get(o, "Requests")), "4");
    ck_assert_str_eq(json_string_value(json_object_get(o, "Errors")), "1");
    ck_assert_str_eq(json_string_value(json_object_get(o, "Spend")), "$0.00006");
    ck_assert_int_eq(json_integer_value(json_object_get(j, "csv_rows")), 3);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "blocked_status")), 403);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "revoked_status")), 401);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "console_errors")), 0);
    ck_assert_int_ge(json_integer_value(json_object_get(j, "docs_operations")), 10);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "screenshots")), 10);

    /* What the UI left in the database. */
    t_assert_sql("1|2592000",
                 "SELECT (abs(max_budget - 1.0) < 1e-9) || '|' || budget_duration_sec "
                 "FROM budgets WHERE budget_id = '%s'",
                 budget);
    t_assert_sql("Alice from the UI|1|0",
                 "SELECT alias || '|' || (budget_id = '%s') || '|' || (blocked = 1) FROM users "
                 "WHERE user_id = 'ui-alice'",
                 budget);
    t_assert_sql("1|1", "SELECT (abs(input_price_per_million - 1.0) < 1e-9) || '|' || "
                        "(abs(output_price_per_million - 2.0) < 1e-9) FROM model_pricing "
                        "WHERE model_key = 'openai:fake-ok'");
    /* Revoked (is_active false), not deleted; the rpm_limit of the form, the tpm_limit of the
     * dialog. */
    t_assert_sql("ui-alice|0|100|100000",
                 "SELECT user_id || '|' || (is_active = 1) || '|' || rpm_limit || '|' || tpm_limit "
                 "FROM api_keys WHERE key_name = 'ui-key'");
    /* Three answered requests and one provider error, all with the key; none after revoking. */
    t_assert_sql("4|3|1|4", "SELECT count(*) || '|' || sum(CASE WHEN status = 'success' THEN 1 "
                            "ELSE 0 END) || '|' || sum(CASE WHEN status = 'error' THEN 1 ELSE 0 "
                            "END) || '|' || count(api_key_id) FROM usage_logs "
                            "WHERE user_id = 'ui-alice'");
    t_assert_sql("1", "SELECT abs(spend - 6e-05) < 1e-12 FROM users WHERE user_id = 'ui-alice'");
    json_decref(j);
}
END_TEST

Suite *e2e_ui_suite(void)
{
    Suite *s = suite_create("e2e_ui");
    TCase *tc = tcase_create("dashboard");

    tcase_add_unchecked_fixture(tc, ui_up, t_llm_down);
    tcase_set_timeout(tc, 150);
    tcase_add_test(tc, ui_operator_day);
    t_api_add_shutdown_test(tc);
    suite_add_tcase(s, tc);
    return s;
}
