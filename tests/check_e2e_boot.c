/*
 * End-to-end tests of the start-up steps: the bootstrap key (spec §2.6) and config pricing
 * (spec §5.3), restarting the real binary on the same database (a SQLite file, or in the
 * PostgreSQL run a fresh database of the shared cluster).
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "t_gw.h"
#include "t_pg.h"

static char dir[64], dburl[300], dbfile[256]; /* dbfile: what t_sql() takes */

static void make_dir(void)
{
    snprintf(dir, sizeof(dir), "/tmp/gwboot-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    if (t_pg_backend()) {
        ck_assert_int_eq(t_pg_newdb(dbfile, sizeof(dbfile)), 0);
        snprintf(dburl, sizeof(dburl), "%s", dbfile);
        return;
    }
    snprintf(dbfile, sizeof(dbfile), "%s/boot.db", dir);
    snprintf(dburl, sizeof(dburl), "sqlite:///%s", dbfile);
}

static void remove_dir(void)
{
    char cmd[128];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
    if (t_pg_backend())
        t_pg_dropdb(dbfile);
}

/* Starts a gateway on the shared database file; returns its log text after SIGTERM. */
static char *run_once(const char *yaml)
{
    const char *args[] = {"--database-url", dburl, NULL};
    struct t_gw gw;
    char *log;

    ck_assert_int_eq(t_gw_start(&gw, yaml, args, NULL), 0);
    log = t_gw_log_wait(&gw, "listening on http", 3000);
    ck_assert_int_eq(t_gw_stop(&gw, SIGTERM, 10000), 0);
    return log;
}

START_TEST(bootstrap_key_once)
{
    char *log, *v, *key, id[64];

    make_dir();
    log = run_once(NULL);
    key = strstr(log, "Save this key now: gw-");
    ck_assert_ptr_nonnull(key);
    ck_assert_ptr_nonnull(strstr(log, "WARNING No API keys found. Created bootstrap key"));
    free(log);
    v = t_sql(dbfile, "SELECT count(*) FROM api_keys");
    ck_assert_str_eq(v, "1");
    free(v);
    v = t_sql(dbfile, "SELECT key_name || '|' || metadata || '|' || is_active FROM api_keys");
    ck_assert_str_eq(v, "bootstrap|{\"bootstrap\":true}|1");
    free(v);
    v = t_sql(dbfile, "SELECT id FROM api_keys");
    snprintf(id, sizeof(id), "%s", v);
    free(v);
    v = t_sql(dbfile, "SELECT user_id || '|' || alias FROM users");
    ck_assert_ptr_nonnull(strstr(v, "apikey-"));
    ck_assert_ptr_nonnull(strstr(v, id));
    ck_assert_ptr_nonnull(strstr(v, "|Virtual user for API key: bootstrap"));
    free(v);

    /* Second start on the same database: nothing new, nothing printed. */
    log = run_once(NULL);
    ck_assert_ptr_null(strstr(log, "Save this key now"));
    free(log);
    v = t_sql(dbfile, "SELECT count(*) FROM api_keys");
    ck_assert_str_eq(v, "1");
    free(v);
    remove_dir();
}
END_TEST

START_TEST(bootstrap_disabled)
{
    char *log, *v;

    make_dir();
    log = run_once("bootstrap_api_key: false\n");
    ck_assert_ptr_null(strstr(log, "Save this key now"));
    free(log);
    v = t_sql(dbfile, "SELECT (SELECT count(*) FROM api_keys) || '/' || "
                      "(SELECT count(*) FROM users)");
    ck_assert_str_eq(v, "0/0");
    free(v);
    remove_dir();
}
END_TEST

START_TEST(config_pricing_db_wins)
{
    const char *yaml1 = "providers:\n  openai:\n    api_key: sk-test\n"
                        "pricing:\n  openai/gpt-4o:\n    input_price_per_million: 2.5\n"
                        "    output_price_per_million: 10\n";
    const char *yaml2 = "providers:\n  openai:\n    api_key: sk-test\n"
                        "pricing:\n  openai:gpt-4o:\n    input_price_per_million: 99\n"
                        "    output_price_per_million: 99\n";
    char *log, *v;

    make_dir();
    log = run_once(yaml1);
    free(log);
    /* The legacy slash form is stored normalised. */
    v = t_sql(dbfile, "SELECT model_key || '|' || input_price_per_million || '|' || "
                      "output_price_per_million FROM model_pricing");
    ck_assert_str_eq(v, "openai:gpt-4o|2.5|10.0");
    free(v);
    /* A later start with other prices keeps the database row and warns. */
    log = run_once(yaml2);
    ck_assert_ptr_nonnull(strstr(log, "already exists in the database"));
    ck_assert_ptr_null(strstr(log, "sk-test")); /* provider keys never logged */
    free(log);
    v = t_sql(dbfile, "SELECT input_price_per_million FROM model_pricing");
    ck_assert_str_eq(v, "2.5");
    free(v);
    remove_dir();
}
END_TEST

START_TEST(config_pricing_unconfigured_provider)
{
    char cfgpath[160], *out = NULL;
    const char *argv[] = {"serve", "--config", cfgpath, "--database-url",
                          dburl,   "--port",   "0",     NULL};
    FILE *f;

    make_dir();
    snprintf(cfgpath, sizeof(cfgpath), "%s/c.yaml", dir);
    f = fopen(cfgpath, "w");
    ck_assert_ptr_nonnull(f);
    fputs("host: 127.0.0.1\npricing:\n  anthropic:claude-3:\n"
          "    input_price_per_million: 1\n    output_price_per_million: 2\n",
          f);
    fclose(f);
    ck_assert_int_eq(t_run(argv, NULL, &out), 2);
    ck_assert_msg(strstr(out, "Cannot set pricing for model 'anthropic:claude-3': provider "
                              "'anthropic' is not configured in the providers section") != NULL,
                  "got: %s", out);
    free(out);
    remove_dir();
}
END_TEST

START_TEST(prices_loaded_at_start)
{
    const char *args[] = {"--database-url", dburl, NULL};
    struct t_gw gw;
    struct t_resp r;
    char *log;

    make_dir();
    log = run_once("bootstrap_api_key: false\n"); /* creates and migrates the database */
    free(log);
    /* Rows written by an older version, including a legacy key without ':'. */
    ck_assert_int_eq(t_sql_exec(dbfile, "INSERT INTO model_pricing VALUES "
                                        "('groq/legacy', 1, 2, '2025-01-02T03:04:05.5+00:00', "
                                        "'2025-01-02T03:04:05.5+00:00'), "
                                        "('openai:gpt-4o', 2.5, 10, '2025-01-02T03:04:05+00:00', "
                                        "'2025-01-02T03:04:05+00:00')"),
                     0);
    ck_assert_int_eq(t_gw_start(&gw, "master_key: m\nbootstrap_api_key: false\n", args, NULL), 0);
    ck_assert_int_eq(t_http(gw.port, "GET", "/v1/models", "Authorization: Bearer m\r\n", NULL, &r),
                     0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body,
                     "{\"object\":\"list\",\"data\":["
                     "{\"id\":\"groq/legacy\",\"object\":\"model\",\"created\":1735787045,"
                     "\"owned_by\":\"unknown\"},"
                     "{\"id\":\"openai:gpt-4o\",\"object\":\"model\",\"created\":1735787045,"
                     "\"owned_by\":\"openai\"}]}");
    t_resp_free(&r);
    /* The id is a path: a legacy key with '/' is addressable. */
    ck_assert_int_eq(
        t_http(gw.port, "GET", "/v1/models/groq/legacy", "Authorization: Bearer m\r\n", NULL, &r),
        0);
    ck_assert_int_eq(r.status, 200);
    t_resp_free(&r);
    ck_assert_int_eq(t_gw_stop(&gw, SIGTERM, 10000), 0);
    remove_dir();
}
END_TEST

Suite *e2e_boot_suite(void)
{
    Suite *s = suite_create("e2e_boot");
    TCase *tc = tcase_create("boot");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, bootstrap_key_once);
    tcase_add_test(tc, bootstrap_disabled);
    tcase_add_test(tc, config_pricing_db_wins);
    tcase_add_test(tc, config_pricing_unconfigured_provider);
    tcase_add_test(tc, prices_loaded_at_start);
    suite_add_tcase(s, tc);
    return s;
}
