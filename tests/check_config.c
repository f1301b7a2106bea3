/*
 * Configuration: defaults, every key, YAML and type errors with file:line:col, provider and
 * pricing validation, ${ENV} substitution, .env parsing, the precedence chain
 * (.env < GATEWAY_* < YAML < DATABASE_URL/GATEWAY_MASTER_KEY < CLI) and the example file.
 */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "config.h"

extern char **environ;

/* ---- helpers (each test runs in its own forked child) ---- */

static char t_yaml[64], t_env[64], t_log[64];
static struct cfg t_cfg;
static char t_err[1024];

/* Removes every variable that could leak in from the caller's environment. */
static void t_clean_env(void)
{
    bool again = true;

    while (again) {
        again = false;
        for (char **e = environ; *e != NULL; e++) {
            if (strncasecmp(*e, "GATEWAY_", 8) == 0 || strncmp(*e, "DATABASE_URL=", 13) == 0) {
                char name[256];
                snprintf(name, sizeof(name), "%.*s", (int)strcspn(*e, "="), *e);
                unsetenv(name);
                again = true;
                break;
            }
        }
    }
}

static void t_write(char *path, const char *tmpl, const char *content)
{
    int fd;

    snprintf(path, 64, "%s", tmpl);
    fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, content, strlen(content)), (ssize_t)strlen(content));
    close(fd);
}

static void setup(void)
{
    t_clean_env();
    t_yaml[0] = t_env[0] = t_log[0] = '\0';
    memset(&t_cfg, 0, sizeof(t_cfg));
    t_err[0] = '\0';
}

static void teardown(void)
{
    cfg_free(&t_cfg);
    if (t_yaml[0])
        unlink(t_yaml);
    if (t_env[0])
        unlink(t_env);
    if (t_log[0])
        unlink(t_log);
}

/* Loads yaml (NULL: no file) with .env disabled unless t_env was written. */
static int t_load_ov(const char *yaml, struct cfg_overrides *ov)
{
    cfg_free(&t_cfg);
    if (yaml != NULL) {
        if (t_yaml[0])
            unlink(t_yaml);
        t_write(t_yaml, "/tmp/gwcfgXXXXXX", yaml);
        ov->config_path = t_yaml;
    }
    if (ov->dotenv_path == NULL)
        ov->dotenv_path = t_env[0] ? t_env : "";
    return cfg_load(&t_cfg, ov, t_err, sizeof(t_err));
}

static int t_load(const char *yaml)
{
    struct cfg_overrides ov;

    cfg_overrides_init(&ov);
    return t_load_ov(yaml, &ov);
}

/* Expects the load to fail with "<yaml file>:<suffix>" exactly. */
static void t_expect_err(const char *yaml, const char *suffix)
{
    char want[1024];

    ck_assert_int_eq(t_load(yaml), -1);
    snprintf(want, sizeof(want), "%s:%s", t_yaml, suffix);
    ck_assert_str_eq(t_err, want);
    ck_assert_ptr_null(t_cfg.host); /* nothing left to free */
    ck_assert_ptr_null(t_cfg.providers);
}

/* Redirects stderr (log lines) to a temp file; t_log_text() reads it back. */
static void t_capture_stderr(void)
{
    int fd;

    snprintf(t_log, sizeof(t_log), "/tmp/gwlogXXXXXX");
    fd = mkstemp(t_log);
    ck_assert_int_ge(fd, 0);
    dup2(fd, STDERR_FILENO);
    close(fd);
}

static const char *t_log_text(void)
{
    static char buf[4096];
    FILE *f = fopen(t_log, "r");
    size_t n;

    ck_assert_ptr_nonnull(f);
    n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static const char *t_provider_str(const char *prov, const char *key)
{
    return json_string_value(json_object_get(json_object_get(t_cfg.providers, prov), key));
}

/* ---- defaults and keys ---- */

START_TEST(defaults)
{
    ck_assert_int_eq(t_load(NULL), 0);
    ck_assert_str_eq(t_cfg.database_url, "sqlite:///./any-llm-gateway.db");
    ck_assert_str_eq(t_cfg.database_url, CFG_DEFAULT_DATABASE_URL);
    ck_assert(t_cfg.auto_migrate);
    ck_assert_str_eq(t_cfg.host, "0.0.0.0");
    ck_assert_int_eq(t_cfg.port, 8000);
    ck_assert_ptr_null(t_cfg.master_key);
    ck_assert_int_eq(t_cfg.rate_limit_rpm, 0);
    ck_assert_uint_eq(t_cfg.n_cors_allow_origins, 0);
    ck_assert(json_is_object(t_cfg.providers));
    ck_assert_uint_eq(json_object_size(t_cfg.providers), 0);
    ck_assert_uint_eq(t_cfg.n_pricing, 0);
    ck_assert(!t_cfg.enable_metrics);
    ck_assert(t_cfg.enable_ui);
    ck_assert(t_cfg.enable_docs);
    ck_assert(t_cfg.bootstrap_api_key);
    ck_assert_int_eq(t_cfg.workers, 0);
    ck_assert_int_eq(t_cfg.log_level, 20);
    ck_assert_uint_eq(t_cfg.max_body_size, 16777216);
    ck_assert_uint_eq(t_cfg.max_header_size, 65536);
    ck_assert_int_eq(t_cfg.read_timeout, 30);
    ck_assert_int_eq(t_cfg.idle_timeout, 60);
    ck_assert_int_eq(t_cfg.max_connections, 10000);
    ck_assert_int_eq(t_cfg.shutdown_timeout, 25);
    ck_assert(!t_cfg.usage_log_sync);
    ck_assert_int_eq(t_cfg.usage_flush_ms, 50);
    ck_assert_int_eq(t_cfg.budget_min_reservation_tokens, 1024);
}
END_TEST

START_TEST(every_key)
{
    ck_assert_int_eq(t_load("database_url: postgresql://u:p@db:5432/gw\n"
                            "auto_migrate: false\n"
                            "host: 127.0.0.1\n"
                            "port: 9001\n"
                            "master_key: sk-master\n"
                            "rate_limit_rpm: 60\n"
                            "cors_allow_origins: [\"https://a.example\", http://b.example]\n"
                            "providers:\n"
                            "  openai:\n"
                            "    api_key: sk-x\n"
                            "pricing:\n"
                            "  openai:gpt-4o:\n"
                            "    input_price_per_million: 2.5\n"
                            "    output_price_per_million: 10\n"
                            "  \"openai:gpt-4o-mini\": {input_price_per_million: 0,"
                            " output_price_per_million: 0.6}\n"
                            "enable_metrics: yes\n"
                            "bootstrap_api_key: Off\n"
                            "workers: 4\n"
                            "log_level: warning\n"
                            "max_body_size: 1048576\n"
                            "max_header_size: 8192\n"
                            "read_timeout: 5\n"
                            "idle_timeout: 7\n"
                            "max_connections: 500\n"
                            "shutdown_timeout: 0\n"
                            "usage_log_sync: TRUE\n"
                            "usage_flush_ms: 10000\n"
                            "budget_min_reservation_tokens: 4096\n"),
                     0);
    ck_assert_str_eq(t_cfg.database_url, "postgresql://u:p@db:5432/gw");
    ck_assert(!t_cfg.auto_migrate);
    ck_assert_str_eq(t_cfg.host, "127.0.0.1");
    ck_assert_int_eq(t_cfg.port, 9001);
    ck_assert_str_eq(t_cfg.master_key, "sk-master");
    ck_assert_int_eq(t_cfg.rate_limit_rpm, 60);
    ck_assert_uint_eq(t_cfg.n_cors_allow_origins, 2);
    ck_assert_str_eq(t_cfg.cors_allow_origins[0], "https://a.example");
    ck_assert_str_eq(t_cfg.cors_allow_origins[1], "http://b.example");
    ck_assert_str_eq(t_provider_str("openai", "api_key"), "sk-x");
    ck_assert_uint_eq(t_cfg.n_pricing, 2);
    ck_assert_str_eq(t_cfg.pricing[0].model_key, "openai:gpt-4o");
    ck_assert_double_eq(t_cfg.pricing[0].input_price_per_million, 2.5);
    ck_assert_double_eq(t_cfg.pricing[0].output_price_per_million, 10.0);
    ck_assert_str_eq(t_cfg.pricing[1].model_key, "openai:gpt-4o-mini");
    ck_assert_double_eq(t_cfg.pricing[1].input_price_per_million, 0.0);
    ck_assert_double_eq(t_cfg.pricing[1].output_price_per_million, 0.6);
    ck_assert(t_cfg.enable_metrics);
    ck_assert(!t_cfg.bootstrap_api_key);
    ck_assert_int_eq(t_cfg.workers, 4);
    ck_assert_int_eq(t_cfg.log_level, 30);
    ck_assert_uint_eq(t_cfg.max_body_size, 1048576);
    ck_assert_uint_eq(t_cfg.max_header_size, 8192);
    ck_assert_int_eq(t_cfg.read_timeout, 5);
    ck_assert_int_eq(t_cfg.idle_timeout, 7);
    ck_assert_int_eq(t_cfg.max_connections, 500);
    ck_assert_int_eq(t_cfg.shutdown_timeout, 0);
    ck_assert(t_cfg.usage_log_sync);
    ck_assert_int_eq(t_cfg.usage_flush_ms, 10000);
    ck_assert_int_eq(t_cfg.budget_min_reservation_tokens, 4096);
}
END_TEST

START_TEST(nulls_and_levels)
{
    ck_assert_int_eq(t_load("master_key: ~\nrate_limit_rpm: null\nlog_level: 40\nport: 0\n"), 0);
    ck_assert_ptr_null(t_cfg.master_key);
    ck_assert_int_eq(t_cfg.rate_limit_rpm, 0);
    ck_assert_int_eq(t_cfg.log_level, 40);
    ck_assert_int_eq(t_cfg.port, 0); /* 0 = pick a free port */
    cfg_free(&t_cfg);
    unlink(t_yaml);
    ck_assert_int_eq(t_load("master_key: \"\"\nlog_level: DEBUG\n"), 0);
    ck_assert_ptr_null(t_cfg.master_key); /* empty = not configured, as in the reference */
    ck_assert_int_eq(t_cfg.log_level, 10);
}
END_TEST

START_TEST(empty_and_comment_only_files)
{
    ck_assert_int_eq(t_load(""), 0);
    ck_assert_int_eq(t_cfg.port, 8000);
    cfg_free(&t_cfg);
    unlink(t_yaml);
    ck_assert_int_eq(t_load("# nothing here\n\n# at all\n"), 0);
    ck_assert_str_eq(t_cfg.host, "0.0.0.0");
    cfg_free(&t_cfg);
    unlink(t_yaml);
    ck_assert_int_eq(t_load("---\n~\n"), 0);
    ck_assert_int_eq(t_cfg.port, 8000);
}
END_TEST

START_TEST(missing_and_unreadable_file)
{
    struct cfg_overrides ov;

    cfg_overrides_init(&ov);
    ov.config_path = "/tmp/gw-no-such-config.yaml";
    ck_assert_int_eq(t_load_ov(NULL, &ov), -1);
    ck_assert_str_eq(t_err, "/tmp/gw-no-such-config.yaml: cannot read config file: No such file or "
                            "directory");
    ov.config_path = "/tmp";
    ck_assert_int_eq(t_load_ov(NULL, &ov), -1);
    ck_assert_str_eq(t_err, "/tmp: cannot read config file: Is a directory");
    cfg_free(&t_cfg); /* idempotent after a failed load */
    cfg_free(&t_cfg);
    cfg_free(NULL);
}
END_TEST

START_TEST(unknown_key_warns)
{
    char want[256];

    t_capture_stderr();
    ck_assert_int_eq(t_load("port: 8100\nmodels:\n  openai:gpt-4o: {}\nfrobnicate: 1\n"), 0);
    ck_assert_int_eq(t_cfg.port, 8100);
    snprintf(want, sizeof(want), "WARNING %s:2:1: unknown configuration key 'models' ignored",
             t_yaml);
    ck_assert_ptr_nonnull(strstr(t_log_text(), want));
    snprintf(want, sizeof(want), "%s:4:1: unknown configuration key 'frobnicate' ignored", t_yaml);
    ck_assert_ptr_nonnull(strstr(t_log_text(), want));
}
END_TEST

/* ---- YAML and type errors ---- */

START_TEST(syntax_errors)
{
    t_expect_err("port: 8000\nhost: \"abc\nworkers: 1\n",
                 "4:1: YAML syntax error: found unexpected end of stream while scanning a "
                 "quoted scalar (started at line 2, column 7)");
    t_expect_err("port: 8000\nhost: a: b\n",
                 "2:8: YAML syntax error: mapping values are not allowed in this context");
    t_expect_err("port: 1\nport: 2\n", "2:1: duplicate key 'port' (first defined at line 1)");
    t_expect_err("- a\n- b\n", "1:1: top level must be a mapping, got a list");
    t_expect_err("just a string\n", "1:1: top level must be a mapping, got a scalar");
    t_expect_err("a: 1\n---\nb: 2\n", "2:1: expected a single YAML document, found another one");
    t_expect_err("x: !custom 1\n", "1:4: unsupported YAML tag '!custom'");
    t_expect_err("x: *nope\n", "1:4: unknown alias '*nope'");
}
END_TEST

START_TEST(type_errors)
{
    t_expect_err("port: abc\n", "1:7: port: expected an integer, got \"abc\"");
    t_expect_err("port: \"8000\"\n",
                 "1:7: port: expected an integer, got quoted string \"8000\" (remove the quotes)");
    t_expect_err("port: 80.5\n", "1:7: port: expected an integer, got \"80.5\"");
    t_expect_err("port: true\n", "1:7: port: expected an integer, got \"true\"");
    t_expect_err("port: [1]\n", "1:7: port: expected an integer, got a list");
    t_expect_err("port: ~\n", "1:7: port: expected an integer, got null");
    t_expect_err("auto_migrate: maybe\n",
                 "1:15: auto_migrate: expected a boolean (true/false), got \"maybe\"");
    t_expect_err("enable_metrics: 1\n",
                 "1:17: enable_metrics: expected a boolean (true/false), got \"1\"");
    t_expect_err("host: {a: 1}\n", "1:7: host: expected a string, got a mapping");
    t_expect_err("host: ''\n", "1:7: host: must not be empty");
    t_expect_err("database_url: null\n", "1:15: database_url: must not be null");
    t_expect_err("master_key: [a]\n", "1:13: master_key: expected a string, got a list");
    t_expect_err("cors_allow_origins: https://a\n",
                 "1:21: cors_allow_origins: expected a list of strings, got \"https://a\"");
    t_expect_err("cors_allow_origins:\n  - https://a\n  - [x]\n",
                 "3:5: cors_allow_origins[1]: expected a string, got a list");
    t_expect_err("log_level: loud\n",
                 "1:12: log_level: expected a log level (10..50 or debug, info, warning, "
                 "error, critical), got \"loud\"");
    t_expect_err("log_level: 60\n", "1:12: log_level: must be between 10 and 50");
    t_expect_err("workers: -1\n", "1:10: workers: must be between 0 and 1024");
    t_expect_err("max_body_size: 0\n", "1:16: max_body_size: must be between 1 and 1099511627776");
    t_expect_err("max_header_size: 512\n",
                 "1:18: max_header_size: must be between 1024 and 1073741824");
    t_expect_err("read_timeout: 0\n", "1:15: read_timeout: must be between 1 and 86400");
    t_expect_err("max_connections: 0\n", "1:18: max_connections: must be between 1 and 10000000");
    t_expect_err("shutdown_timeout: -1\n", "1:19: shutdown_timeout: must be between 0 and 86400");
    t_expect_err("usage_flush_ms: 0\n", "1:17: usage_flush_ms: must be between 1 and 10000");
    t_expect_err("budget_min_reservation_tokens: -1\n",
                 "1:32: budget_min_reservation_tokens: must be between 0 and 100000000");
    t_expect_err("usage_log_sync: \"true\"\n",
                 "1:17: usage_log_sync: expected a boolean (true/false), got quoted string "
                 "\"true\"");
}
END_TEST

START_TEST(port_range)
{
    t_expect_err("port: -1\n", "1:7: port: must be between 0 and 65535");
    t_expect_err("\nport: 65536\n", "2:7: port: must be between 0 and 65535");
    ck_assert_int_eq(t_load("port: 65535\n"), 0);
    ck_assert_int_eq(t_cfg.port, 65535);
}
END_TEST

START_TEST(rate_limit_rpm_range)
{
    t_expect_err("rate_limit_rpm: 0\n", "1:17: rate_limit_rpm: must be >= 1 (or null to disable)");
    t_expect_err("rate_limit_rpm: -5\n", "1:17: rate_limit_rpm: must be >= 1 (or null to disable)");
    ck_assert_int_eq(t_load("rate_limit_rpm: 1\n"), 0);
    ck_assert_int_eq(t_cfg.rate_limit_rpm, 1);
}
END_TEST

START_TEST(pricing_errors)
{
    t_expect_err("pricing:\n  openai:gpt-4o:\n    input_price_per_million: -1\n"
                 "    output_price_per_million: 10\n",
                 "3:30: pricing.openai:gpt-4o.input_price_per_million: must be a number >= 0");
    t_expect_err("pricing:\n  openai:gpt-4o:\n    input_price_per_million: 1\n",
                 "3:5: pricing.openai:gpt-4o: missing required field 'output_price_per_million'");
    t_expect_err("pricing:\n  openai:gpt-4o: {output_price_per_million: 1}\n",
                 "2:18: pricing.openai:gpt-4o: missing required field 'input_price_per_million'");
    t_expect_err("pricing:\n  m: {input_price_per_million: \"1\", output_price_per_million: 1}\n",
                 "2:32: pricing.m.input_price_per_million: expected a number >= 0, got quoted "
                 "string \"1\"");
    t_expect_err("pricing:\n  m: 5\n",
                 "2:6: pricing.m: expected a mapping with input_price_per_million and "
                 "output_price_per_million, got \"5\"");
    t_expect_err("pricing: [1]\n",
                 "1:10: pricing: expected a mapping of \"provider:model\" -> prices, got a list");
}
END_TEST

START_TEST(provider_errors)
{
    t_expect_err("providers: [openai]\n",
                 "1:12: providers: expected a mapping of provider id -> settings, got a list");
    t_expect_err("providers:\n  openai: sk-x\n",
                 "2:11: providers.openai: expected a mapping of provider settings, got "
                 "\"sk-x\"");
    t_expect_err("providers:\n  openai:\n",
                 "2:10: providers.openai: expected a mapping of provider settings, got null");
    t_expect_err("providers:\n  openai:\n    api_key: [a]\n",
                 "3:14: providers.openai.api_key: expected a string, got a list");
    t_expect_err("providers:\n  openai:\n    api_base: ~\n",
                 "3:15: providers.openai.api_base: expected a string, got null");
    t_expect_err("providers:\n  openai:\n    client_args: 5\n",
                 "3:18: providers.openai.client_args: expected a mapping, got \"5\"");
    t_expect_err("providers:\n  openai:\n    client_args: {timeout: -1}\n",
                 "3:28: providers.openai.client_args.timeout: must be a positive number");
    t_expect_err("providers:\n  openai:\n    client_args: {timeout: soon}\n",
                 "3:28: providers.openai.client_args.timeout: expected a positive number, got "
                 "\"soon\"");
    t_expect_err("providers:\n  openai:\n    timeout: 0\n",
                 "3:14: providers.openai.timeout: must be a positive number");
    t_expect_err("providers:\n  openai:\n    client_args:\n      custom_headers: [a]\n",
                 "4:23: providers.openai.client_args.custom_headers: expected a mapping of "
                 "header name -> value, got a list");
    t_expect_err("providers:\n  openai:\n    client_args:\n      custom_headers: {X-A: {b: 1}}\n",
                 "4:29: providers.openai.client_args.custom_headers.X-A: expected a string, got "
                 "a mapping");
}
END_TEST

START_TEST(providers_json)
{
    json_t *o, *ca;

    ck_assert_int_eq(t_load("providers:\n"
                            "  openai:\n"
                            "    api_key: 12345\n"
                            "    api_base: https://api.example/v1\n"
                            "    api_version: \"2024\"\n"
                            "    n: ~\n"
                            "    f: 1.5\n"
                            "    i: 7\n"
                            "    b: on\n"
                            "    l: [1, two]\n"
                            "    client_args:\n"
                            "      timeout: 60\n"
                            "      custom_headers: {X-Custom-Header: 5, X-B: b}\n"
                            "  vertexai:\n"
                            "    credentials: {type: service_account}\n"),
                     0);
    o = json_object_get(t_cfg.providers, "openai");
    ck_assert_str_eq(t_provider_str("openai", "api_key"), "12345"); /* forced to a string */
    ck_assert_str_eq(t_provider_str("openai", "api_base"), "https://api.example/v1");
    ck_assert_str_eq(t_provider_str("openai", "api_version"), "2024"); /* quoted stays string */
    ck_assert(json_is_null(json_object_get(o, "n")));
    ck_assert_double_eq(json_real_value(json_object_get(o, "f")), 1.5);
    ck_assert_int_eq(json_integer_value(json_object_get(o, "i")), 7);
    ck_assert(json_is_true(json_object_get(o, "b")));
    ck_assert_int_eq(json_integer_value(json_array_get(json_object_get(o, "l"), 0)), 1);
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(o, "l"), 1)), "two");
    ca = json_object_get(o, "client_args");
    ck_assert_int_eq(json_integer_value(json_object_get(ca, "timeout")), 60);
    ck_assert_str_eq(json_string_value(
                         json_object_get(json_object_get(ca, "custom_headers"), "X-Custom-Header")),
                     "5");
    ck_assert_str_eq(
        json_string_value(json_object_get(
            json_object_get(json_object_get(t_cfg.providers, "vertexai"), "credentials"), "type")),
        "service_account");
}
END_TEST

START_TEST(anchors_and_merge_keys)
{
    t_capture_stderr();
    ck_assert_int_eq(t_load("x-common: &common\n"
                            "  client_args: {timeout: 30}\n"
                            "  api_base: https://base\n"
                            "providers:\n"
                            "  openai:\n"
                            "    <<: *common\n"
                            "    api_base: https://override\n"
                            "  mistral: *common\n"),
                     0);
    ck_assert_str_eq(t_provider_str("openai", "api_base"), "https://override");
    ck_assert_str_eq(t_provider_str("mistral", "api_base"), "https://base");
    ck_assert_int_eq(
        json_integer_value(json_object_get(
            json_object_get(json_object_get(t_cfg.providers, "openai"), "client_args"), "timeout")),
        30);
}
END_TEST

/* ---- ${ENV} substitution ---- */

START_TEST(subst_unset_variable)
{
    unsetenv("GW_T_NOPE");
    t_expect_err("providers:\n  openai:\n    api_key: ${GW_T_NOPE}\n",
                 "3:14: providers.openai.api_key: Environment variable 'GW_T_NOPE' is not set "
                 "(referenced in config as '${GW_T_NOPE}')");
    /* Even in an unknown key, as the reference substitutes the whole document. */
    t_expect_err("extra:\n  - ${GW_T_NOPE}\n",
                 "2:5: extra[0]: Environment variable 'GW_T_NOPE' is not set (referenced in "
                 "config as '${GW_T_NOPE}')");
}
END_TEST

START_TEST(subst_multiple_and_nested)
{
    setenv("GW_T_U", "user", 1);
    setenv("GW_T_P", "pw", 1);
    setenv("GW_T_H", "db.local", 1);
    setenv("GW_T_ORIGIN", "https://app.example", 1);
    setenv("GW_T_KEY", "sk-abc", 1);
    ck_assert_int_eq(t_load("database_url: postgresql://${GW_T_U}:${GW_T_P}@${GW_T_H}/db\n"
                            "host: localhost:${GW_T_H}\n"
                            "cors_allow_origins: [\"${GW_T_ORIGIN}\", literal]\n"
                            "providers:\n"
                            "  openai:\n"
                            "    api_key: \"${GW_T_KEY}\"\n"
                            "    client_args: {custom_headers: {X-K: \"k=${GW_T_KEY}\"}}\n"),
                     0);
    ck_assert_str_eq(t_cfg.database_url, "postgresql://user:pw@db.local/db");
    ck_assert_str_eq(t_cfg.host, "localhost:db.local");
    ck_assert_str_eq(t_cfg.cors_allow_origins[0], "https://app.example");
    ck_assert_str_eq(t_cfg.cors_allow_origins[1], "literal");
    ck_assert_str_eq(t_provider_str("openai", "api_key"), "sk-abc");
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_object_get(json_object_get(json_object_get(t_cfg.providers, "openai"),
                                                         "client_args"),
                                         "custom_headers"),
                         "X-K")),
                     "k=sk-abc");
}
END_TEST

START_TEST(subst_typed_values)
{
    setenv("GW_T_PORT", "9000", 1);
    setenv("GW_T_RPM", "30", 1);
    setenv("GW_T_ON", "true", 1);
    ck_assert_int_eq(t_load("port: ${GW_T_PORT}\nrate_limit_rpm: \"${GW_T_RPM}\"\n"
                            "enable_metrics: ${GW_T_ON}\n"
                            "providers: {openai: {timeout: \"${GW_T_RPM}\"}}\n"),
                     0);
    ck_assert_int_eq(t_cfg.port, 9000);
    ck_assert_int_eq(t_cfg.rate_limit_rpm, 30);
    ck_assert(t_cfg.enable_metrics);
    ck_assert_int_eq(
        json_integer_value(json_object_get(json_object_get(t_cfg.providers, "openai"), "timeout")),
        30);
    cfg_free(&t_cfg);
    unlink(t_yaml);
    setenv("GW_T_PORT", "abc", 1);
    t_expect_err("port: ${GW_T_PORT}\n", "1:7: port: expected an integer, got \"abc\"");
}
END_TEST

START_TEST(subst_unterminated_and_literal_names)
{
    setenv("A:-b", "literal-name", 1);
    unsetenv("A");
    ck_assert_int_eq(t_load("host: \"${HOST\"\ndatabase_url: x${A:-b}y\n"
                            "master_key: \"${}\"\n"),
                     0);
    ck_assert_str_eq(t_cfg.host, "${HOST");
    ck_assert_str_eq(t_cfg.database_url, "xliteral-namey");
    ck_assert_str_eq(t_cfg.master_key, "${}");
    cfg_free(&t_cfg);
    unlink(t_yaml);
    unsetenv("A:-b");
    t_expect_err("host: ${A:-b}\n", "1:7: host: Environment variable 'A:-b' is not set "
                                    "(referenced in config as '${A:-b}')");
}
END_TEST

START_TEST(env_subst_unit)
{
    char err[256] = "";
    char *s;

    setenv("GW_T_X", "1", 1);
    setenv("GW_T_EMPTY", "", 1);
    unsetenv("GW_T_MISSING");
    s = cfg_env_subst("plain string", err, sizeof(err));
    ck_assert_str_eq(s, "plain string");
    free(s);
    s = cfg_env_subst("", err, sizeof(err));
    ck_assert_str_eq(s, "");
    free(s);
    s = cfg_env_subst("${GW_T_X}", err, sizeof(err));
    ck_assert_str_eq(s, "1");
    free(s);
    s = cfg_env_subst("a${GW_T_X}b${GW_T_EMPTY}c${GW_T_X}", err, sizeof(err));
    ck_assert_str_eq(s, "a1bc1");
    free(s);
    s = cfg_env_subst("$GW_T_X ${} {GW_T_X} ${GW_T_X", err, sizeof(err));
    ck_assert_str_eq(s, "$GW_T_X ${} {GW_T_X} ${GW_T_X");
    free(s);
    s = cfg_env_subst("$${GW_T_X}", err, sizeof(err));
    ck_assert_str_eq(s, "$1");
    free(s);
    ck_assert_ptr_null(cfg_env_subst("ok ${GW_T_X} then ${GW_T_MISSING}", err, sizeof(err)));
    ck_assert_str_eq(err, "Environment variable 'GW_T_MISSING' is not set (referenced in config "
                          "as '${GW_T_MISSING}')");
}
END_TEST

/* ---- environment, .env and precedence ---- */

START_TEST(env_gateway_vars)
{
    setenv("gateway_port", "7001", 1); /* names are case-insensitive */
    setenv("GATEWAY_CORS_ALLOW_ORIGINS", "[\"https://a\", \"https://b\"]", 1);
    setenv("GATEWAY_ENABLE_METRICS", "1", 1);
    setenv("GATEWAY_ENABLE_UI", "false", 1);
    setenv("GATEWAY_ENABLE_DOCS", "0", 1);
    setenv("Gateway_Log_Level", "debug", 1);
    setenv("GATEWAY_MAX_BODY_SIZE", "1024", 1);
    setenv("GATEWAY_WORKERS", "3", 1);
    setenv("GATEWAY_MAX_CONNECTIONS", "64", 1);
    setenv("GATEWAY_BUDGET_MIN_RESERVATION_TOKENS", "16", 1);
    setenv("GATEWAY_RATE_LIMIT_RPM", "", 1); /* empty = null */
    setenv("GATEWAY_PROVIDERS", "{\"openai\": {\"api_key\": \"k\", \"timeout\": 5}}", 1);
    setenv("GATEWAY_PRICING",
           "{\"openai:m\": {\"input_price_per_million\": 1,"
           " \"output_price_per_million\": 2}}",
           1);
    setenv("GATEWAY_UNKNOWN_THING", "x", 1); /* ignored */
    ck_assert_int_eq(t_load(NULL), 0);
    ck_assert_int_eq(t_cfg.port, 7001);
    ck_assert_uint_eq(t_cfg.n_cors_allow_origins, 2);
    ck_assert_str_eq(t_cfg.cors_allow_origins[1], "https://b");
    ck_assert(t_cfg.enable_metrics);
    ck_assert(!t_cfg.enable_ui);
    ck_assert(!t_cfg.enable_docs);
    ck_assert_int_eq(t_cfg.log_level, 10);
    ck_assert_uint_eq(t_cfg.max_body_size, 1024);
    ck_assert_int_eq(t_cfg.workers, 3);
    ck_assert_int_eq(t_cfg.max_connections, 64);
    ck_assert_int_eq(t_cfg.budget_min_reservation_tokens, 16);
    ck_assert_int_eq(t_cfg.rate_limit_rpm, 0);
    ck_assert_str_eq(t_provider_str("openai", "api_key"), "k");
    ck_assert_uint_eq(t_cfg.n_pricing, 1);
    ck_assert_double_eq(t_cfg.pricing[0].output_price_per_million, 2.0);
}
END_TEST

START_TEST(env_errors_name_the_variable)
{
    setenv("GATEWAY_PORT", "abc", 1);
    ck_assert_int_eq(t_load(NULL), -1);
    ck_assert_str_eq(t_err, "GATEWAY_PORT: port: expected an integer, got \"abc\"");
    unsetenv("GATEWAY_PORT");
    setenv("GATEWAY_CORS_ALLOW_ORIGINS", "https://a", 1);
    ck_assert_int_eq(t_load(NULL), -1);
    ck_assert_ptr_nonnull(strstr(t_err, "GATEWAY_CORS_ALLOW_ORIGINS: cors_allow_origins: "
                                        "expected JSON (e.g. [\"https://a.example\"]): "));
    setenv("GATEWAY_CORS_ALLOW_ORIGINS", "[\"https://a\", null]", 1);
    ck_assert_int_eq(t_load(NULL), -1);
    ck_assert_str_eq(t_err, "GATEWAY_CORS_ALLOW_ORIGINS: cors_allow_origins[1]: expected a "
                            "string, got null");
    unsetenv("GATEWAY_CORS_ALLOW_ORIGINS");
    setenv("GATEWAY_PROVIDERS", "{\"openai\": {\"timeout\": \"5\"}}", 1);
    ck_assert_int_eq(t_load(NULL), -1);
    ck_assert_str_eq(t_err, "GATEWAY_PROVIDERS: providers.openai.timeout: expected a positive "
                            "number, got quoted string \"5\"");
    unsetenv("GATEWAY_PROVIDERS");
    setenv("GATEWAY_RATE_LIMIT_RPM", "0", 1);
    ck_assert_int_eq(t_load(NULL), -1);
    ck_assert_str_eq(t_err, "GATEWAY_RATE_LIMIT_RPM: rate_limit_rpm: must be >= 1 (or null to "
                            "disable)");
    ck_assert_ptr_null(t_cfg.database_url);
}
END_TEST

START_TEST(dotenv_parsing)
{
    t_write(t_env, "/tmp/gwenvXXXXXX",
            "# comment\n"
            "\n"
            "export GATEWAY_HOST=10.0.0.1\n"
            "GATEWAY_MASTER_KEY='sk-single # not a comment'\n"
            "GATEWAY_DATABASE_URL=\"sqlite:///./q.db\"\n"
            "gateway_port = 8123   # trailing comment\n"
            "GATEWAY_CORS_ALLOW_ORIGINS=[\"https://x\"]\n"
            "OTHER_VAR=not-for-us\n"
            "this line is malformed\n");
    unsetenv("OTHER_VAR");
    t_capture_stderr();
    ck_assert_int_eq(t_load(NULL), 0);
    ck_assert_str_eq(t_cfg.host, "10.0.0.1");
    ck_assert_str_eq(t_cfg.master_key, "sk-single # not a comment");
    ck_assert_str_eq(t_cfg.database_url, "sqlite:///./q.db");
    ck_assert_int_eq(t_cfg.port, 8123);
    ck_assert_str_eq(t_cfg.cors_allow_origins[0], "https://x");
    /* .env never populates the process environment */
    ck_assert_ptr_null(getenv("OTHER_VAR"));
    ck_assert_ptr_null(getenv("GATEWAY_HOST"));
    ck_assert_ptr_nonnull(strstr(t_log_text(), ":9: cannot parse .env line; ignored"));
}
END_TEST

START_TEST(dotenv_errors)
{
    char want[256];

    t_write(t_env, "/tmp/gwenvXXXXXX", "GATEWAY_HOST=ok\nGATEWAY_WORKERS=many\n");
    ck_assert_int_eq(t_load(NULL), -1);
    snprintf(want, sizeof(want),
             "%s:2: GATEWAY_WORKERS: workers: expected an integer, got \"many\"", t_env);
    ck_assert_str_eq(t_err, want);
    ck_assert_ptr_null(t_cfg.host);
}
END_TEST

START_TEST(precedence_dotenv_over_defaults)
{
    t_write(t_env, "/tmp/gwenvXXXXXX", "GATEWAY_PORT=1111\nGATEWAY_HOST=dotenv-host\n");
    ck_assert_int_eq(t_load(NULL), 0);
    ck_assert_int_eq(t_cfg.port, 1111);
    ck_assert_str_eq(t_cfg.host, "dotenv-host");
    ck_assert_int_eq(t_cfg.workers, 0); /* untouched keys keep their defaults */
}
END_TEST

START_TEST(precedence_env_over_dotenv)
{
    t_write(t_env, "/tmp/gwenvXXXXXX", "GATEWAY_PORT=1111\nGATEWAY_HOST=dotenv-host\n");
    setenv("GATEWAY_PORT", "2222", 1);
    ck_assert_int_eq(t_load(NULL), 0);
    ck_assert_int_eq(t_cfg.port, 2222);
    ck_assert_str_eq(t_cfg.host, "dotenv-host");
}
END_TEST

START_TEST(precedence_yaml_over_env)
{
    setenv("GATEWAY_PORT", "2222", 1);
    setenv("GATEWAY_DATABASE_URL", "sqlite:///env.db", 1);
    setenv("GATEWAY_HOST", "env-host", 1);
    ck_assert_int_eq(t_load("port: 3333\ndatabase_url: sqlite:///yaml.db\n"), 0);
    ck_assert_int_eq(t_cfg.port, 3333);
    ck_assert_str_eq(t_cfg.database_url, "sqlite:///yaml.db"); /* GATEWAY_DATABASE_URL < YAML */
    ck_assert_str_eq(t_cfg.host, "env-host");                  /* not in YAML: env applies */
}
END_TEST

START_TEST(precedence_database_url_and_master_key_over_yaml)
{
    setenv("DATABASE_URL", "postgresql://env/db", 1);
    setenv("GATEWAY_MASTER_KEY", "env-master", 1);
    ck_assert_int_eq(t_load("database_url: sqlite:///yaml.db\nmaster_key: yaml-master\n"), 0);
    ck_assert_str_eq(t_cfg.database_url, "postgresql://env/db");
    ck_assert_str_eq(t_cfg.master_key, "env-master");
    cfg_free(&t_cfg);
    unlink(t_yaml);
    setenv("DATABASE_URL", "", 1); /* empty = unset, as with click */
    ck_assert_int_eq(t_load("database_url: sqlite:///yaml.db\n"), 0);
    ck_assert_str_eq(t_cfg.database_url, "sqlite:///yaml.db");
}
END_TEST

START_TEST(precedence_cli_over_everything)
{
    struct cfg_overrides ov;

    t_write(t_env, "/tmp/gwenvXXXXXX", "GATEWAY_WORKERS=2\n");
    setenv("DATABASE_URL", "postgresql://env/db", 1);
    setenv("GATEWAY_MASTER_KEY", "env-master", 1);
    setenv("GATEWAY_LOG_LEVEL", "error", 1);
    cfg_overrides_init(&ov);
    ov.host = "cli-host";
    ov.port = 4444;
    ov.database_url = "sqlite:///cli.db";
    ov.master_key = "cli-master";
    ov.auto_migrate = 0;
    ov.workers = 8;
    ov.log_level = "debug";
    ck_assert_int_eq(t_load_ov("host: yaml-host\nport: 3333\nworkers: 5\nauto_migrate: true\n"
                               "log_level: info\n",
                               &ov),
                     0);
    ck_assert_str_eq(t_cfg.host, "cli-host");
    ck_assert_int_eq(t_cfg.port, 4444);
    ck_assert_str_eq(t_cfg.database_url, "sqlite:///cli.db");
    ck_assert_str_eq(t_cfg.master_key, "cli-master");
    ck_assert(!t_cfg.auto_migrate);
    ck_assert_int_eq(t_cfg.workers, 8);
    ck_assert_int_eq(t_cfg.log_level, 10);
}
END_TEST

START_TEST(cli_overrides_validated)
{
    struct cfg_overrides ov;

    cfg_overrides_init(&ov);
    ck_assert_int_eq(ov.port, -1);
    ck_assert_int_eq(ov.workers, -1);
    ck_assert_int_eq(ov.auto_migrate, -1);
    ov.port = 70000;
    ck_assert_int_eq(t_load_ov(NULL, &ov), -1);
    ck_assert_str_eq(t_err, "--port: port: must be between 0 and 65535");
    cfg_overrides_init(&ov);
    ov.log_level = "shouty";
    ck_assert_int_eq(t_load_ov(NULL, &ov), -1);
    ck_assert_str_eq(t_err, "--log-level: log_level: expected a log level (10..50 or debug, "
                            "info, warning, error, critical), got \"shouty\"");
}
END_TEST

START_TEST(example_config_loads)
{
    struct cfg_overrides ov;
    const char *root = getenv("GW_ROOT");
    char path[512];

    snprintf(path, sizeof(path), "%s/config.example.yaml", root ? root : ".");
    setenv("OPENAI_API_KEY", "sk-openai", 1);
    setenv("ANTHROPIC_API_KEY", "sk-ant", 1);
    setenv("MISTRAL_API_KEY", "sk-mistral", 1);
    cfg_overrides_init(&ov);
    ov.config_path = path;
    ov.dotenv_path = "";
    t_capture_stderr();
    ck_assert_msg(cfg_load(&t_cfg, &ov, t_err, sizeof(t_err)) == 0, "%s", t_err);
    ck_assert_str_eq(t_log_text(), ""); /* every key is known */
    ck_assert_str_eq(t_provider_str("openai", "api_key"), "sk-openai");
    ck_assert_str_eq(t_provider_str("openai", "api_base"), "https://api.openai.com/v1");
    ck_assert_str_eq(t_provider_str("anthropic", "api_key"), "sk-ant");
    ck_assert_str_eq(t_provider_str("mistral", "api_key"), "sk-mistral");
    ck_assert_int_eq(t_cfg.port, 8000);
    ck_assert_int_eq(t_cfg.log_level, 20);
    ck_assert_uint_eq(t_cfg.max_body_size, 16777216);
    cfg_free(&t_cfg);
    unsetenv("MISTRAL_API_KEY");
    ck_assert_int_eq(cfg_load(&t_cfg, &ov, t_err, sizeof(t_err)), -1);
    ck_assert_ptr_nonnull(strstr(t_err, "providers.mistral.api_key: Environment variable "
                                        "'MISTRAL_API_KEY' is not set"));
}
END_TEST

Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    struct {
        const char *name;
        const TTest *test;
    } tests[] = {
        {"defaults", defaults},
        {"every_key", every_key},
        {"nulls_and_levels", nulls_and_levels},
        {"empty_files", empty_and_comment_only_files},
        {"missing_file", missing_and_unreadable_file},
        {"unknown_key", unknown_key_warns},
        {"syntax_errors", syntax_errors},
        {"type_errors", type_errors},
        {"port_range", port_range},
        {"rate_limit_rpm", rate_limit_rpm_range},
        {"pricing_errors", pricing_errors},
        {"provider_errors", provider_errors},
        {"providers_json", providers_json},
        {"anchors", anchors_and_merge_keys},
        {"subst_unset", subst_unset_variable},
        {"subst_multiple", subst_multiple_and_nested},
        {"subst_typed", subst_typed_values},
        {"subst_literal_names", subst_unterminated_and_literal_names},
        {"env_subst_unit", env_subst_unit},
        {"env_vars", env_gateway_vars},
        {"env_errors", env_errors_name_the_variable},
        {"dotenv_parsing", dotenv_parsing},
        {"dotenv_errors", dotenv_errors},
        {"precedence_dotenv", precedence_dotenv_over_defaults},
        {"precedence_env", precedence_env_over_dotenv},
        {"precedence_yaml", precedence_yaml_over_env},
        {"precedence_db_url_master_key", precedence_database_url_and_master_key_over_yaml},
        {"precedence_cli", precedence_cli_over_everything},
        {"cli_overrides_validated", cli_overrides_validated},
        {"example_config", example_config_loads},
    };

    for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
        TCase *tc = tcase_create(tests[i].name);
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, tests[i].test);
        suite_add_tcase(s, tc);
    }
    return s;
}
