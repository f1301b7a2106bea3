/*
 * Configuration: YAML file (libyaml) with ${ENV} substitution, GATEWAY_* environment
 * variables, a .env file and CLI overrides, merged with the reference's precedence
 * (CLI > DATABASE_URL/GATEWAY_MASTER_KEY > YAML > GATEWAY_* env > .env > defaults).
 * The result is a plain struct cfg, immutable after cfg_load() and shared by pointer.
 */
#ifndef GW_CONFIG_H
#define GW_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#define CFG_DEFAULT_DATABASE_URL "sqlite:///./any-llm-gateway.db"

/* One entry of `pricing:` ("provider:model" -> prices in USD per million tokens). */
struct cfg_price {
    char *model_key;
    double input_price_per_million;
    double output_price_per_million;
};

/*
 * CLI overrides; NULL / negative means "not given". Strings are borrowed.
 * config_path == NULL means no YAML file.
 */
struct cfg_overrides {
    const char *config_path;
    const char *host;
    int port; /* -1: not given */
    const char *database_url;
    const char *master_key;
    int auto_migrate;        /* -1: not given, 0/1 */
    int workers;             /* -1: not given */
    const char *log_level;   /* name or number, NULL: not given */
    const char *dotenv_path; /* NULL: "./.env"; "" disables the .env file */
};

struct cfg {
    /* Reference keys (spec §9.1). */
    char *database_url;
    bool auto_migrate;
    char *host;
    int port;
    char *master_key;   /* NULL when not configured */
    int rate_limit_rpm; /* 0 = disabled (null) */
    char **cors_allow_origins;
    size_t n_cors_allow_origins;
    json_t *providers; /* object: provider id -> object of settings (owned) */
    struct cfg_price *pricing;
    size_t n_pricing;
    bool enable_metrics;
    bool bootstrap_api_key;

    /* Our own keys (documented in config.example.yaml). */
    int workers;            /* event-loop threads; 0 = one per core */
    int log_level;          /* numeric, 10..50 */
    size_t max_body_size;   /* bytes, default 16 MiB */
    size_t max_header_size; /* bytes, default 64 KiB */
    int read_timeout;       /* seconds to receive a whole request, default 30 */
    int idle_timeout;       /* seconds a keep-alive connection may stay idle, default 60 */
    int max_connections;    /* open client connections, all workers together, default 10000 */
    int shutdown_timeout;   /* seconds in-flight work gets on SIGTERM, default 25 */
    bool usage_log_sync;    /* reply waits for its usage row (default false) */
    int usage_flush_ms;     /* batching writer flush window, default 50 */
    int stream_heartbeat;   /* seconds of upstream silence before an SSE comment, 0 = off */
    int budget_min_reservation_tokens; /* output tokens a budget reservation never goes below */
    bool enable_ui;                    /* serve the dashboard on /ui/ (default true) */
    bool enable_docs;                  /* serve /docs and /openapi.json (default true) */
};

/*
 * Loads the configuration into *cfg (which it initialises): defaults, .env, GATEWAY_* env,
 * the YAML file, DATABASE_URL / GATEWAY_MASTER_KEY, then the CLI overrides.
 * Unknown YAML keys produce a warning through log_msg, not an error.
 * Returns 0, or -1 with one line in err ("file:line:col: key: problem"); *cfg then holds
 * nothing that needs freeing (cfg_free() is still safe). Error line forms:
 *   "<file>:<line>:<col>: <key.path>: <problem>"       a YAML value
 *   "<file>:<line>:<col>: YAML syntax error: <problem>" libyaml's message
 *   "<file>: cannot read config file: <strerror>"
 *   "<VAR>: <key>: <problem>"                           GATEWAY_* / DATABASE_URL variables
 *   "<.env path>:<line>: <VAR>: <key>: <problem>"       a .env line
 *   "--port: port: <problem>"                           a CLI override
 * ov may be NULL (no overrides, "./.env").
 */
int cfg_load(struct cfg *cfg, const struct cfg_overrides *ov, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Frees everything cfg_load() allocated; safe on a zeroed or failed cfg. */
void cfg_free(struct cfg *cfg);

/* Sets every field of *ov to "not given". */
void cfg_overrides_init(struct cfg_overrides *ov);

/*
 * Replaces every ${NAME} in s by getenv(NAME). Returns owned string (free()), or NULL with
 * err = "Environment variable 'NAME' is not set (referenced in config as '${NAME}')".
 * An unterminated "${X" is left as is.
 */
char *cfg_env_subst(const char *s, char *err, size_t errlen);

#endif
