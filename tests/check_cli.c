/*
 * Command line: every command and option form (--opt value, --opt=value, -c FILE, -cFILE),
 * click-style error messages, --revision validation, help and version, and the usage text.
 */
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static struct cli t_cli;
static char t_err[512];

/* Parses a NULL-terminated list of arguments (argv[0] is added). */
static int t_parse(const char *first, ...)
{
    char *argv[32];
    int argc = 0;
    va_list ap;

    argv[argc++] = (char *)"any-llm-gateway";
    va_start(ap, first);
    for (const char *a = first; a != NULL && argc < 31; a = va_arg(ap, const char *))
        argv[argc++] = (char *)a;
    va_end(ap);
    argv[argc] = NULL;
    t_err[0] = '\0';
    return cli_parse(&t_cli, argc, argv, t_err, sizeof(t_err));
}

/* Expects the arguments to fail with exactly msg. */
#define T_FAIL(msg, ...)                                                                           \
    do {                                                                                           \
        ck_assert_int_eq(t_parse(__VA_ARGS__, NULL), -1);                                          \
        ck_assert_str_eq(t_err, msg);                                                              \
    } while (0)

/* Writes the usage text for *cli into a string (owned; free()). */
static char *t_usage(const struct cli *cli)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    ck_assert_ptr_nonnull(f);
    cli_usage(f, cli);
    fclose(f);
    return buf;
}

START_TEST(no_arguments_is_help)
{
    ck_assert_int_eq(t_parse(NULL), 0);
    ck_assert_int_eq(t_cli.cmd, CLI_HELP);
    ck_assert_ptr_null(t_cli.help_command);
}
END_TEST

START_TEST(top_level_help_and_version)
{
    ck_assert_int_eq(t_parse("--help", NULL), 0);
    ck_assert_int_eq(t_cli.cmd, CLI_HELP);
    ck_assert_ptr_null(t_cli.help_command);
    ck_assert_int_eq(t_parse("-h", NULL), 0);
    ck_assert_int_eq(t_cli.cmd, CLI_HELP);
    ck_assert_int_eq(t_parse("--version", NULL), 0);
    ck_assert_int_eq(t_cli.cmd, CLI_VERSION);
    ck_assert_int_eq(t_parse("-V", NULL), 0);
    ck_assert_int_eq(t_cli.cmd, CLI_VERSION);
    T_FAIL("Error: No such option: --frob", "--frob");
    T_FAIL("Error: No such option: --config", "--config=x.yaml", "serve");
}
END_TEST

START_TEST(commands)
{
    ck_assert_int_eq(t_parse("serve", NULL), 0);
    ck_assert_int_eq(t_cli.cmd, CLI_SERVE);
    ck_assert_ptr_null(t_cli.ov.config_path);
    ck_assert_int_eq(t_cli.ov.port, -1);
    ck_assert_int_eq(t_cli.ov.workers, -1);
    ck_assert_int_eq(t_cli.ov.auto_migrate, -1);
    ck_assert_ptr_null(t_cli.ov.host);
    ck_assert_ptr_null(t_cli.ov.log_level);
    ck_assert_int_eq(t_parse("init-db", NULL), 0);
    ck_assert_int_eq(t_cli.cmd, CLI_INIT_DB);
    ck_assert_int_eq(t_parse("migrate", NULL), 0);
    ck_assert_int_eq(t_cli.cmd, CLI_MIGRATE);
    ck_assert_str_eq(t_cli.revision, "head");
    ck_assert_int_eq(t_parse("check-config", NULL), 0);
    ck_assert_int_eq(t_cli.cmd, CLI_CHECK_CONFIG);
    T_FAIL("Error: No such command 'frob'.", "frob");
    T_FAIL("Error: No such command 'Serve'.", "Serve");
    T_FAIL("Error: Got unexpected extra argument (extra)", "serve", "extra");
    T_FAIL("Error: Got unexpected extra argument (--port)", "serve", "--", "--port");
}
END_TEST

START_TEST(serve_options)
{
    ck_assert_int_eq(t_parse("serve", "--config", "a.yaml", "--host", "127.0.0.1", "--port", "9000",
                             "--database-url", "sqlite:///x.db", "--master-key", "mk",
                             "--no-auto-migrate", "--workers", "4", "--log-level", "debug", NULL),
                     0);
    ck_assert_int_eq(t_cli.cmd, CLI_SERVE);
    ck_assert_str_eq(t_cli.ov.config_path, "a.yaml");
    ck_assert_str_eq(t_cli.ov.host, "127.0.0.1");
    ck_assert_int_eq(t_cli.ov.port, 9000);
    ck_assert_str_eq(t_cli.ov.database_url, "sqlite:///x.db");
    ck_assert_str_eq(t_cli.ov.master_key, "mk");
    ck_assert_int_eq(t_cli.ov.auto_migrate, 0);
    ck_assert_int_eq(t_cli.ov.workers, 4);
    ck_assert_str_eq(t_cli.ov.log_level, "debug");
    ck_assert_ptr_null(t_cli.ov.dotenv_path);
}
END_TEST

START_TEST(option_forms)
{
    ck_assert_int_eq(t_parse("serve", "-c", "b.yaml", NULL), 0);
    ck_assert_str_eq(t_cli.ov.config_path, "b.yaml");
    ck_assert_int_eq(t_parse("serve", "-cc.yaml", NULL), 0);
    ck_assert_str_eq(t_cli.ov.config_path, "c.yaml");
    ck_assert_int_eq(t_parse("serve", "--config=d.yaml", "--port=0", "--host=::1", NULL), 0);
    ck_assert_str_eq(t_cli.ov.config_path, "d.yaml");
    ck_assert_int_eq(t_cli.ov.port, 0);
    ck_assert_str_eq(t_cli.ov.host, "::1");
    ck_assert_int_eq(t_parse("serve", "--master-key=a=b", NULL), 0);
    ck_assert_str_eq(t_cli.ov.master_key, "a=b"); /* only the first '=' splits */
    ck_assert_int_eq(t_parse("serve", "--auto-migrate", "--port", "1", "--port", "2", NULL), 0);
    ck_assert_int_eq(t_cli.ov.auto_migrate, 1);
    ck_assert_int_eq(t_cli.ov.port, 2); /* the last one wins */
    ck_assert_int_eq(t_parse("serve", "--no-auto-migrate", "--auto-migrate", NULL), 0);
    ck_assert_int_eq(t_cli.ov.auto_migrate, 1);
    ck_assert_int_eq(t_parse("serve", "--log-level", "30", "--workers=0", NULL), 0);
    ck_assert_str_eq(t_cli.ov.log_level, "30");
    ck_assert_int_eq(t_cli.ov.workers, 0);
    ck_assert_int_eq(t_parse("serve", "--master-key", "-dash-key", NULL), 0);
    ck_assert_str_eq(t_cli.ov.master_key, "-dash-key");
}
END_TEST

START_TEST(option_errors)
{
    T_FAIL("Error: No such option: --frob", "serve", "--frob");
    T_FAIL("Error: No such option: --frob", "serve", "--frob=1");
    T_FAIL("Error: No such option: -x", "serve", "-x");
    T_FAIL("Error: Option '--port' requires an argument.", "serve", "--port");
    T_FAIL("Error: Option '-c' requires an argument.", "serve", "-c");
    T_FAIL("Error: Invalid value for '--port': 'abc' is not a valid integer.", "serve", "--port",
           "abc");
    T_FAIL("Error: Invalid value for '--port': '' is not a valid integer.", "serve", "--port=");
    T_FAIL("Error: Invalid value for '--port': '80.5' is not a valid integer.", "serve", "--port",
           "80.5");
    T_FAIL("Error: Invalid value for '--port': 70000 is not in the range 0<=x<=65535.", "serve",
           "--port", "70000");
    T_FAIL("Error: Invalid value for '--port': -1 is not in the range 0<=x<=65535.", "serve",
           "--port=-1");
    T_FAIL("Error: Invalid value for '--workers': -2 is not in the range 0<=x<=1024.", "serve",
           "--workers", "-2");
    T_FAIL("Error: Invalid value for '--workers': 'four' is not a valid integer.", "serve",
           "--workers", "four");
    T_FAIL("Error: Invalid value for '--log-level': 'loud' is not a valid log level (10..50 or "
           "debug, info, warning, error, critical).",
           "serve", "--log-level", "loud");
    T_FAIL("Error: Invalid value for '--log-level': '5' is not a valid log level (10..50 or "
           "debug, info, warning, error, critical).",
           "serve", "--log-level", "5");
    T_FAIL("Error: Option '--auto-migrate' does not take a value.", "serve", "--auto-migrate=1");
}
END_TEST

START_TEST(options_per_command)
{
    ck_assert_int_eq(t_parse("init-db", "--config", "a.yaml", "--database-url", "sqlite://", NULL),
                     0);
    ck_assert_int_eq(t_cli.cmd, CLI_INIT_DB);
    ck_assert_str_eq(t_cli.ov.config_path, "a.yaml");
    ck_assert_str_eq(t_cli.ov.database_url, "sqlite://");
    T_FAIL("Error: No such option: --port", "init-db", "--port", "1");
    T_FAIL("Error: No such option: --revision", "init-db", "--revision", "head");
    T_FAIL("Error: No such option: --revision", "serve", "--revision=head");
    T_FAIL("Error: No such option: --host", "migrate", "--host", "h");
    ck_assert_int_eq(t_parse("check-config", "-c", "a.yaml", "--port", "1", "--workers", "2",
                             "--master-key", "k", NULL),
                     0);
    ck_assert_int_eq(t_cli.cmd, CLI_CHECK_CONFIG);
    ck_assert_int_eq(t_cli.ov.port, 1);
    ck_assert_int_eq(t_cli.ov.workers, 2);
    ck_assert_str_eq(t_cli.ov.master_key, "k");
}
END_TEST

START_TEST(migrate_revision)
{
    ck_assert_int_eq(t_parse("migrate", "--revision", "abc_123+x-y", "--database-url", "u", NULL),
                     0);
    ck_assert_int_eq(t_cli.cmd, CLI_MIGRATE);
    ck_assert_str_eq(t_cli.revision, "abc_123+x-y");
    ck_assert_str_eq(t_cli.ov.database_url, "u");
    ck_assert_int_eq(t_parse("migrate", "--revision=head", NULL), 0);
    ck_assert_str_eq(t_cli.revision, "head");
    T_FAIL("Error: Invalid value for '--revision': 'a b' does not match ^[a-zA-Z0-9_+-]+$.",
           "migrate", "--revision", "a b");
    T_FAIL("Error: Invalid value for '--revision': 'x;rm -rf /' does not match "
           "^[a-zA-Z0-9_+-]+$.",
           "migrate", "--revision", "x;rm -rf /");
    T_FAIL("Error: Invalid value for '--revision': '' does not match ^[a-zA-Z0-9_+-]+$.", "migrate",
           "--revision=");
}
END_TEST

START_TEST(command_help)
{
    ck_assert_int_eq(t_parse("serve", "--help", NULL), 0);
    ck_assert_int_eq(t_cli.cmd, CLI_HELP);
    ck_assert_str_eq(t_cli.help_command, "serve");
    ck_assert_int_eq(t_parse("migrate", "-h", NULL), 0);
    ck_assert_int_eq(t_cli.cmd, CLI_HELP);
    ck_assert_str_eq(t_cli.help_command, "migrate");
    /* Like click's eager --help: a bad value does not hide the help, an unknown option does. */
    ck_assert_int_eq(t_parse("serve", "--port", "abc", "--help", NULL), 0);
    ck_assert_str_eq(t_cli.help_command, "serve");
    T_FAIL("Error: No such option: --frob", "serve", "--help", "--frob");
}
END_TEST

START_TEST(usage_texts)
{
    char *top, *serve, *migrate, *initdb;

    ck_assert_int_eq(t_parse(NULL), 0);
    top = t_usage(&t_cli);
    ck_assert_ptr_nonnull(strstr(top, "Usage: any-llm-gateway [OPTIONS] COMMAND [ARGS]..."));
    ck_assert_ptr_nonnull(strstr(top, "C re-implementation of any-llm-gateway"));
    ck_assert_ptr_nonnull(strstr(top, "--version"));
    ck_assert_ptr_nonnull(strstr(top, "  serve "));
    ck_assert_ptr_nonnull(strstr(top, "  init-db "));
    ck_assert_ptr_nonnull(strstr(top, "  migrate "));
    ck_assert_ptr_nonnull(strstr(top, "  check-config "));
    free(top);
    top = t_usage(NULL);
    ck_assert_ptr_nonnull(strstr(top, "Commands:"));
    free(top);

    ck_assert_int_eq(t_parse("serve", "--help", NULL), 0);
    serve = t_usage(&t_cli);
    ck_assert_ptr_nonnull(strstr(serve, "Usage: any-llm-gateway serve [OPTIONS]"));
    ck_assert_ptr_nonnull(strstr(serve, "-c, --config PATH"));
    ck_assert_ptr_nonnull(strstr(serve, "--port INTEGER"));
    ck_assert_ptr_nonnull(strstr(serve, "--auto-migrate / --no-auto-migrate"));
    ck_assert_ptr_nonnull(strstr(serve, "env var: DATABASE_URL]"));
    ck_assert_ptr_nonnull(strstr(serve, "GATEWAY_MASTER_KEY]"));
    ck_assert_ptr_nonnull(strstr(serve, "--log-level LEVEL"));
    ck_assert_ptr_null(strstr(serve, "--revision"));
    free(serve);

    ck_assert_int_eq(t_parse("migrate", "--help", NULL), 0);
    migrate = t_usage(&t_cli);
    ck_assert_ptr_nonnull(strstr(migrate, "Usage: any-llm-gateway migrate [OPTIONS]"));
    ck_assert_ptr_nonnull(strstr(migrate, "--revision TEXT"));
    ck_assert_ptr_nonnull(strstr(migrate, "--database-url TEXT"));
    ck_assert_ptr_null(strstr(migrate, "--port"));
    free(migrate);

    /* A parsed command (not help) prints that command's usage too. */
    ck_assert_int_eq(t_parse("init-db", NULL), 0);
    initdb = t_usage(&t_cli);
    ck_assert_ptr_nonnull(strstr(initdb, "Usage: any-llm-gateway init-db [OPTIONS]"));
    ck_assert_ptr_null(strstr(initdb, "--master-key"));
    free(initdb);
}
END_TEST

Suite *cli_suite(void)
{
    Suite *s = suite_create("cli");
    struct {
        const char *name;
        const TTest *test;
    } tests[] = {
        {"no_arguments", no_arguments_is_help},
        {"top_level", top_level_help_and_version},
        {"commands", commands},
        {"serve_options", serve_options},
        {"option_forms", option_forms},
        {"option_errors", option_errors},
        {"options_per_command", options_per_command},
        {"migrate_revision", migrate_revision},
        {"command_help", command_help},
        {"usage_texts", usage_texts},
    };

    for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
        TCase *tc = tcase_create(tests[i].name);
        tcase_add_test(tc, tests[i].test);
        suite_add_tcase(s, tc);
    }
    return s;
}
