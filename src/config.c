/*
 * Configuration loading: one table of keys drives defaults, the .env file, GATEWAY_*
 * environment variables, the YAML file (parsed by config_yaml.c), DATABASE_URL /
 * GATEWAY_MASTER_KEY and the command line, applied in that order (spec §9.3). Every source
 * goes through the same typed setters, so a value is validated wherever it comes from.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config_env.h"
#include "config_yaml.h"
#include "log.h"

enum cfg_type {
    CFG_T_STR,       /* non-empty string */
    CFG_T_STR_NULL,  /* string or null (empty means null) */
    CFG_T_BOOL,      /* bool */
    CFG_T_INT,       /* int within [min, max] */
    CFG_T_INT_NULL,  /* int within [min, max], or null (stored as 0) */
    CFG_T_SIZE,      /* size_t within [min, max] */
    CFG_T_LEVEL,     /* log level: number in [min, max] or a level name */
    CFG_T_STRLIST,   /* list of strings (char **, count at off_n) */
    CFG_T_PROVIDERS, /* provider id -> mapping, kept as JSON */
    CFG_T_PRICING,   /* "provider:model" -> prices (struct cfg_price *, count at off_n) */
};

/* One configuration key: its type, where it lives, its default (parsed like an environment
 * value; NULL leaves the field zeroed) and, for numbers, the accepted range. */
struct cfg_key {
    const char *name;
    enum cfg_type type;
    size_t off;
    size_t off_n;
    const char *def;
    long long min, max;
};

#define CFG_F(f) offsetof(struct cfg, f)
#define CFG_NOLIMIT 0, 0

static const struct cfg_key cfg_keys[] = {
    {"database_url", CFG_T_STR, CFG_F(database_url), 0, CFG_DEFAULT_DATABASE_URL, CFG_NOLIMIT},
    {"auto_migrate", CFG_T_BOOL, CFG_F(auto_migrate), 0, "true", CFG_NOLIMIT},
    {"host", CFG_T_STR, CFG_F(host), 0, "0.0.0.0", CFG_NOLIMIT},
    {"port", CFG_T_INT, CFG_F(port), 0, "8000", 0, 65535},
    {"master_key", CFG_T_STR_NULL, CFG_F(master_key), 0, NULL, CFG_NOLIMIT},
    {"rate_limit_rpm", CFG_T_INT_NULL, CFG_F(rate_limit_rpm), 0, NULL, 1, INT_MAX},
    {"cors_allow_origins", CFG_T_STRLIST, CFG_F(cors_allow_origins), CFG_F(n_cors_allow_origins),
     "[]", CFG_NOLIMIT},
    {"providers", CFG_T_PROVIDERS, CFG_F(providers), 0, "{}", CFG_NOLIMIT},
    {"pricing", CFG_T_PRICING, CFG_F(pricing), CFG_F(n_pricing), "{}", CFG_NOLIMIT},
    {"enable_metrics", CFG_T_BOOL, CFG_F(enable_metrics), 0, "false", CFG_NOLIMIT},
    {"enable_ui", CFG_T_BOOL, CFG_F(enable_ui), 0, "true", CFG_NOLIMIT},
    {"enable_docs", CFG_T_BOOL, CFG_F(enable_docs), 0, "true", CFG_NOLIMIT},
    {"bootstrap_api_key", CFG_T_BOOL, CFG_F(bootstrap_api_key), 0, "true", CFG_NOLIMIT},
    {"workers", CFG_T_INT, CFG_F(workers), 0, "0", 0, 1024},
    {"log_level", CFG_T_LEVEL, CFG_F(log_level), 0, "info", 10, 50},
    {"max_body_size", CFG_T_SIZE, CFG_F(max_body_size), 0, "16777216", 1, 1LL << 40},
    {"max_header_size", CFG_T_SIZE, CFG_F(max_header_size), 0, "65536", 1024, 1LL << 30},
    {"read_timeout", CFG_T_INT, CFG_F(read_timeout), 0, "30", 1, 86400},
    {"idle_timeout", CFG_T_INT, CFG_F(idle_timeout), 0, "60", 1, 86400},
    {"max_connections", CFG_T_INT, CFG_F(max_connections), 0, "10000", 1, 10000000},
    {"shutdown_timeout", CFG_T_INT, CFG_F(shutdown_timeout), 0, "25", 0, 86400},
    {"usage_log_sync", CFG_T_BOOL, CFG_F(usage_log_sync), 0, "false", CFG_NOLIMIT},
    {"usage_flush_ms", CFG_T_INT, CFG_F(usage_flush_ms), 0, "50", 1, 10000},
    {"stream_heartbeat", CFG_T_INT, CFG_F(stream_heartbeat), 0, "15", 0, 3600},
    {"budget_min_reservation_tokens", CFG_T_INT, CFG_F(budget_min_reservation_tokens), 0, "1024", 0,
     100000000},
};

#define CFG_NKEYS (sizeof(cfg_keys) / sizeof(cfg_keys[0]))
#define CFG_PATH_MAX 512

/* Where values come from while one source is applied, and where errors go. */
struct cfg_ctx {
    char *err;
    size_t errlen;
    const char *file;  /* YAML file, for nodes that have a position */
    const char *label; /* otherwise: "GATEWAY_PORT", "./.env:3: GATEWAY_PORT", "--port" */
};

static int cfg_fail(struct cfg_ctx *c, const struct cfg_node *n, const char *path, const char *fmt,
                    ...) __attribute__((format(printf, 4, 5)));

/* Replaces control characters (a newline in a quoted key, say) with '?': one line per error. */
static char *cfg_mask_ctl(char *s)
{
    for (char *p = s; *p != '\0'; p++)
        if (iscntrl((unsigned char)*p))
            *p = '?';
    return s;
}

static void cfg_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A warning with control characters masked: a key cannot forge a log line. */
static void cfg_warn(const char *fmt, ...)
{
    char line[1024];
    va_list ap;

    if (LOG_LVL_WARN < log_threshold)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    LOG_WARN("%s", cfg_mask_ctl(line));
}

/* Writes "<where>: <path>: <message>" to the error buffer; returns -1. */
static int cfg_fail(struct cfg_ctx *c, const struct cfg_node *n, const char *path, const char *fmt,
                    ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (c->err == NULL || c->errlen == 0)
        return -1;
    if (n != NULL && n->line > 0)
        snprintf(c->err, c->errlen, "%s:%d:%d: %s%s%s", c->file, n->line, n->col, path ? path : "",
                 path ? ": " : "", msg);
    else
        snprintf(c->err, c->errlen, "%s%s%s%s%s", c->label ? c->label : "", c->label ? ": " : "",
                 path ? path : "", path ? ": " : "", msg);
    cfg_mask_ctl(c->err);
    return -1;
}

static int cfg_oom(struct cfg_ctx *c, const struct cfg_node *n, const char *path)
{
    return cfg_fail(c, n, path, "out of memory");
}

/* Describes a value for "got ..." in messages (short, control characters masked). */
static const char *cfg_describe(const struct cfg_node *n, char *buf, size_t len)
{
    struct cfg_scalar s;
    char text[48];
    size_t i;

    if (n->kind == CFG_NODE_MAP)
        return "a mapping";
    if (n->kind == CFG_NODE_SEQ)
        return "a list";
    cfg_scalar_resolve(n, &s);
    if (s.type == CFG_SV_NULL)
        return "null";
    for (i = 0; n->text[i] != '\0' && i < sizeof(text) - 4; i++)
        text[i] = iscntrl((unsigned char)n->text[i]) ? '?' : n->text[i];
    if (n->text[i] != '\0')
        memcpy(text + i, "...", 4);
    else
        text[i] = '\0';
    snprintf(buf, len, "%s\"%s\"", n->style == CFG_STYLE_QUOTED ? "quoted string " : "", text);
    return buf;
}

/* Prefix for a warning about n: "file:line:col" or the source label. */
static const char *cfg_where(const struct cfg_ctx *c, const struct cfg_node *n, char *buf,
                             size_t len)
{
    if (n->line > 0)
        snprintf(buf, len, "%s:%d:%d", c->file, n->line, n->col);
    else
        snprintf(buf, len, "%s", c->label ? c->label : "config");
    return buf;
}

/* Resolves a scalar for a typed (non-string) field: a quoted value that came from a ${VAR}
 * substitution is typed like an environment value, since the quotes only protected ${}. */
static void cfg_resolve_typed(const struct cfg_node *n, struct cfg_scalar *s)
{
    struct cfg_node tmp;

    if (n->kind == CFG_NODE_SCALAR && n->style == CFG_STYLE_QUOTED && n->subst) {
        tmp = *n;
        tmp.style = CFG_STYLE_LOOSE;
        cfg_scalar_resolve(&tmp, s);
        return;
    }
    cfg_scalar_resolve(n, s);
}

/* dst = "base.key" (or "key"); an over-long path is cut, which only shortens messages. */
static void cfg_path_key(char *dst, const char *base, const char *key)
{
    int r = snprintf(dst, CFG_PATH_MAX, "%s%s%s", base, *base ? "." : "", key);

    if (r >= CFG_PATH_MAX)
        memcpy(dst + CFG_PATH_MAX - 4, "...", 4);
}

static const struct cfg_node *cfg_map_get(const struct cfg_node *m, const char *key)
{
    for (size_t i = 0; i < CFG_MAP_LEN(m); i++)
        if (strcmp(CFG_MAP_KEY(m, i)->text, key) == 0)
            return CFG_MAP_VAL(m, i);
    return NULL;
}

/* ---- typed getters ---- */

static int cfg_get_int(struct cfg_ctx *c, const struct cfg_node *n, const char *path, long long *v)
{
    struct cfg_scalar s;
    struct cfg_node tmp;
    char d[96];

    if (n->kind == CFG_NODE_SCALAR) {
        cfg_resolve_typed(n, &s);
        if (s.type == CFG_SV_INT) {
            *v = s.i;
            return 0;
        }
        tmp = *n;
        tmp.style = CFG_STYLE_PLAIN;
        cfg_scalar_resolve(&tmp, &s);
        if (n->style == CFG_STYLE_QUOTED && s.type == CFG_SV_INT)
            return cfg_fail(c, n, path, "expected an integer, got %s (remove the quotes)",
                            cfg_describe(n, d, sizeof(d)));
    }
    return cfg_fail(c, n, path, "expected an integer, got %s", cfg_describe(n, d, sizeof(d)));
}

static int cfg_check_range(struct cfg_ctx *c, const struct cfg_node *n, const char *path,
                           const struct cfg_key *k, long long v)
{
    if (v >= k->min && v <= k->max)
        return 0;
    if (k->type == CFG_T_INT_NULL)
        return cfg_fail(c, n, path, "must be >= %lld (or null to disable)", k->min);
    return cfg_fail(c, n, path, "must be between %lld and %lld", k->min, k->max);
}

/* A scalar usable as a string: anything but null, a list or a mapping. */
static int cfg_need_string(struct cfg_ctx *c, const struct cfg_node *n, const char *path)
{
    struct cfg_scalar s;
    char d[96];

    if (n->kind == CFG_NODE_SCALAR) {
        cfg_scalar_resolve(n, &s);
        if (s.type != CFG_SV_NULL)
            return 0;
    }
    return cfg_fail(c, n, path, "expected a string, got %s", cfg_describe(n, d, sizeof(d)));
}

/* A finite number >= lo (strictly greater when strict); *v receives it. */
static int cfg_get_number(struct cfg_ctx *c, const struct cfg_node *n, const char *path, double lo,
                          bool strict, double *v)
{
    const char *what = strict ? "a positive number" : "a number >= 0";
    struct cfg_scalar s;
    char d[96];

    if (n->kind == CFG_NODE_SCALAR) {
        cfg_resolve_typed(n, &s);
        if ((s.type == CFG_SV_INT || s.type == CFG_SV_FLOAT) && isfinite(s.d)) {
            if (s.d < lo || (strict && s.d == lo))
                return cfg_fail(c, n, path, "must be %s", what);
            *v = s.d;
            return 0;
        }
    }
    return cfg_fail(c, n, path, "expected %s, got %s", what, cfg_describe(n, d, sizeof(d)));
}

/* ---- setters, one per type ---- */

static int cfg_set_str(struct cfg_ctx *c, const struct cfg_key *k, const struct cfg_node *n,
                       const char *path, char **field)
{
    struct cfg_scalar s;
    char *v = NULL;
    char d[96];

    if (n->kind != CFG_NODE_SCALAR)
        return cfg_fail(c, n, path, "expected a string, got %s", cfg_describe(n, d, sizeof(d)));
    cfg_scalar_resolve(n, &s);
    if (s.type == CFG_SV_NULL && k->type == CFG_T_STR)
        return cfg_fail(c, n, path, "must not be null");
    if (s.type != CFG_SV_NULL && n->text[0] == '\0' && k->type == CFG_T_STR)
        return cfg_fail(c, n, path, "must not be empty");
    /* An empty master key counts as "not configured", as in the reference (falsy). */
    if (s.type != CFG_SV_NULL && n->text[0] != '\0' && (v = strdup(n->text)) == NULL)
        return cfg_oom(c, n, path);
    free(*field);
    *field = v;
    return 0;
}

static int cfg_set_bool(struct cfg_ctx *c, const struct cfg_node *n, const char *path, bool *field)
{
    struct cfg_scalar s;
    char d[96];

    if (n->kind == CFG_NODE_SCALAR) {
        cfg_resolve_typed(n, &s);
        if (s.type == CFG_SV_BOOL) {
            *field = s.b;
            return 0;
        }
        /* Environment values may say 1 / 0, as pydantic accepts. */
        if (n->style == CFG_STYLE_LOOSE && s.type == CFG_SV_INT && (s.i == 0 || s.i == 1)) {
            *field = s.i == 1;
            return 0;
        }
    }
    return cfg_fail(c, n, path, "expected a boolean (true/false), got %s",
                    cfg_describe(n, d, sizeof(d)));
}

static int cfg_set_level(struct cfg_ctx *c, const struct cfg_key *k, const struct cfg_node *n,
                         const char *path, int *field)
{
    struct cfg_scalar s;
    long long v = -1;
    char d[96];

    if (n->kind == CFG_NODE_SCALAR) {
        cfg_resolve_typed(n, &s);
        if (s.type == CFG_SV_INT)
            v = s.i;
        else if (s.type != CFG_SV_NULL)
            v = log_parse_level(n->text);
    }
    if (v < 0)
        return cfg_fail(c, n, path,
                        "expected a log level (10..50 or debug, info, warning, error, "
                        "critical), got %s",
                        cfg_describe(n, d, sizeof(d)));
    if (cfg_check_range(c, n, path, k, v) < 0)
        return -1;
    *field = (int)v;
    return 0;
}

static void cfg_strlist_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static int cfg_set_strlist(struct cfg_ctx *c, const struct cfg_node *n, const char *path,
                           char ***field, size_t *count)
{
    char **v = NULL, ip[CFG_PATH_MAX], d[96];

    if (n->kind != CFG_NODE_SEQ)
        return cfg_fail(c, n, path, "expected a list of strings, got %s",
                        cfg_describe(n, d, sizeof(d)));
    if (n->n > 0 && (v = calloc(n->n, sizeof(*v))) == NULL)
        return cfg_oom(c, n, path);
    for (size_t i = 0; i < n->n; i++) {
        snprintf(ip, sizeof(ip), "%s[%zu]", path, i);
        if (cfg_need_string(c, n->kids[i], ip) < 0) {
            cfg_strlist_free(v, n->n);
            return -1;
        }
        if ((v[i] = strdup(n->kids[i]->text)) == NULL) {
            cfg_strlist_free(v, n->n);
            return cfg_oom(c, n->kids[i], ip);
        }
    }
    cfg_strlist_free(*field, *count);
    *field = v;
    *count = n->n;
    return 0;
}

/* Replaces obj[key] by the text of map[key] as a string (api_key: 12345 means "12345"). */
static int cfg_json_force_str(json_t *obj, const struct cfg_node *map, const char *key)
{
    const struct cfg_node *v = cfg_map_get(map, key);

    if (v == NULL)
        return 0;
    return json_object_set_new(obj, key, json_string(v->text));
}

/* Stores a validated number (a "${VAR}" value may have been a quoted string). */
static int cfg_json_set_num(json_t *obj, const char *key, double v)
{
    json_t *cur = json_object_get(obj, key);

    if (json_is_number(cur))
        return 0;
    if (fabs(v) < 1e15 && v == floor(v))
        return json_object_set_new(obj, key, json_integer((json_int_t)v));
    return json_object_set_new(obj, key, json_real(v));
}

/* client_args: a mapping; timeout a positive number; custom_headers string -> string. */
static int cfg_check_client_args(struct cfg_ctx *c, const struct cfg_node *n, const char *path,
                                 json_t *j)
{
    const struct cfg_node *t, *h;
    char p[CFG_PATH_MAX], hp[CFG_PATH_MAX], d[96];
    json_t *jh;
    double v;

    if (n->kind != CFG_NODE_MAP)
        return cfg_fail(c, n, path, "expected a mapping, got %s", cfg_describe(n, d, sizeof(d)));
    cfg_path_key(p, path, "timeout");
    if ((t = cfg_map_get(n, "timeout")) != NULL) {
        if (cfg_get_number(c, t, p, 0, true, &v) < 0)
            return -1;
        if (cfg_json_set_num(j, "timeout", v) < 0)
            return cfg_oom(c, t, p);
    }
    if ((h = cfg_map_get(n, "custom_headers")) == NULL)
        return 0;
    cfg_path_key(p, path, "custom_headers");
    if (h->kind != CFG_NODE_MAP)
        return cfg_fail(c, h, p, "expected a mapping of header name -> value, got %s",
                        cfg_describe(h, d, sizeof(d)));
    jh = json_object_get(j, "custom_headers");
    for (size_t i = 0; i < CFG_MAP_LEN(h); i++) {
        const char *name = CFG_MAP_KEY(h, i)->text;
        cfg_path_key(hp, p, name);
        if (cfg_need_string(c, CFG_MAP_VAL(h, i), hp) < 0)
            return -1;
        if (cfg_json_force_str(jh, h, name) < 0)
            return cfg_oom(c, h, hp);
    }
    return 0;
}

/* One providers.<id> section: validated on the tree (positions), returned as JSON. */
static json_t *cfg_provider(struct cfg_ctx *c, const struct cfg_node *n, const char *path)
{
    static const char *const strs[] = {"api_key", "api_base"};
    const struct cfg_node *v;
    char p[CFG_PATH_MAX], d[96];
    json_t *j;
    double num;

    if (n->kind != CFG_NODE_MAP) {
        cfg_fail(c, n, path, "expected a mapping of provider settings, got %s",
                 cfg_describe(n, d, sizeof(d)));
        return NULL;
    }
    if ((j = cfg_node_to_json(n)) == NULL) {
        cfg_oom(c, n, path);
        return NULL;
    }
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
        if ((v = cfg_map_get(n, strs[i])) == NULL)
            continue;
        cfg_path_key(p, path, strs[i]);
        if (cfg_need_string(c, v, p) < 0)
            goto fail;
        if (cfg_json_force_str(j, n, strs[i]) < 0) {
            cfg_oom(c, v, p);
            goto fail;
        }
    }
    cfg_path_key(p, path, "timeout");
    if ((v = cfg_map_get(n, "timeout")) != NULL) {
        if (cfg_get_number(c, v, p, 0, true, &num) < 0)
            goto fail;
        if (cfg_json_set_num(j, "timeout", num) < 0) {
            cfg_oom(c, v, p);
            goto fail;
        }
    }
    cfg_path_key(p, path, "client_args");
    v = cfg_map_get(n, "client_args");
    if (v != NULL && cfg_check_client_args(c, v, p, json_object_get(j, "client_args")) < 0)
        goto fail;
    return j;
fail:
    json_decref(j);
    return NULL;
}

static int cfg_set_providers(struct cfg_ctx *c, const struct cfg_node *n, const char *path,
                             json_t **field)
{
    char p[CFG_PATH_MAX], d[96];
    json_t *all, *one;

    if (n->kind != CFG_NODE_MAP)
        return cfg_fail(c, n, path, "expected a mapping of provider id -> settings, got %s",
                        cfg_describe(n, d, sizeof(d)));
    if ((all = json_object()) == NULL)
        return cfg_oom(c, n, path);
    for (size_t i = 0; i < CFG_MAP_LEN(n); i++) {
        const struct cfg_node *k = CFG_MAP_KEY(n, i);
        cfg_path_key(p, path, k->text);
        if (k->text[0] == '\0') {
            json_decref(all);
            return cfg_fail(c, k, path, "empty provider id");
        }
        if ((one = cfg_provider(c, CFG_MAP_VAL(n, i), p)) == NULL) {
            json_decref(all);
            return -1;
        }
        if (json_object_set_new(all, k->text, one) < 0) {
            json_decref(all);
            return cfg_oom(c, k, p);
        }
    }
    json_decref(*field);
    *field = all;
    return 0;
}

static void cfg_pricing_free(struct cfg_price *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i].model_key);
    free(v);
}

static int cfg_price(struct cfg_ctx *c, const struct cfg_node *n, const char *path,
                     struct cfg_price *out)
{
    static const char *const fields[] = {"input_price_per_million", "output_price_per_million"};
    double *dst[] = {&out->input_price_per_million, &out->output_price_per_million};
    const struct cfg_node *v;
    char p[CFG_PATH_MAX], d[96];

    if (n->kind != CFG_NODE_MAP)
        return cfg_fail(c, n, path,
                        "expected a mapping with input_price_per_million and "
                        "output_price_per_million, got %s",
                        cfg_describe(n, d, sizeof(d)));
    for (size_t i = 0; i < 2; i++) {
        cfg_path_key(p, path, fields[i]);
        if ((v = cfg_map_get(n, fields[i])) == NULL)
            return cfg_fail(c, n, path, "missing required field '%s'", fields[i]);
        if (cfg_get_number(c, v, p, 0, false, dst[i]) < 0)
            return -1;
    }
    for (size_t i = 0; i < CFG_MAP_LEN(n); i++) {
        const struct cfg_node *k = CFG_MAP_KEY(n, i);
        if (strcmp(k->text, fields[0]) != 0 && strcmp(k->text, fields[1]) != 0)
            cfg_warn("%s: %s: unknown pricing field '%s' ignored", cfg_where(c, k, d, sizeof(d)),
                     path, k->text);
    }
    return 0;
}

static int cfg_set_pricing(struct cfg_ctx *c, const struct cfg_node *n, const char *path,
                           struct cfg_price **field, size_t *count)
{
    struct cfg_price *v = NULL;
    size_t np = CFG_MAP_LEN(n);
    char p[CFG_PATH_MAX], d[96];

    if (n->kind != CFG_NODE_MAP)
        return cfg_fail(c, n, path, "expected a mapping of \"provider:model\" -> prices, got %s",
                        cfg_describe(n, d, sizeof(d)));
    if (np > 0 && (v = calloc(np, sizeof(*v))) == NULL)
        return cfg_oom(c, n, path);
    for (size_t i = 0; i < np; i++) {
        const struct cfg_node *k = CFG_MAP_KEY(n, i);
        cfg_path_key(p, path, k->text);
        if (k->text[0] == '\0') {
            cfg_pricing_free(v, np);
            return cfg_fail(c, k, path, "empty model key");
        }
        if (cfg_price(c, CFG_MAP_VAL(n, i), p, &v[i]) < 0) {
            cfg_pricing_free(v, np);
            return -1;
        }
        if ((v[i].model_key = strdup(k->text)) == NULL) {
            cfg_pricing_free(v, np);
            return cfg_oom(c, k, p);
        }
    }
    cfg_pricing_free(*field, *count);
    *field = v;
    *count = np;
    return 0;
}

/* Sets one key from a node (any source); the previous value is replaced only on success. */
static int cfg_set(struct cfg_ctx *c, struct cfg *cfg, const struct cfg_key *k,
                   const struct cfg_node *n)
{
    void *f = (char *)cfg + k->off;
    size_t *count = (size_t *)((char *)cfg + k->off_n);
    struct cfg_scalar s;
    long long v = 0;

    switch (k->type) {
    case CFG_T_STR:
    case CFG_T_STR_NULL:
        return cfg_set_str(c, k, n, k->name, f);
    case CFG_T_BOOL:
        return cfg_set_bool(c, n, k->name, f);
    case CFG_T_INT_NULL:
        if (n->kind == CFG_NODE_SCALAR) {
            cfg_scalar_resolve(n, &s);
            /* From the environment, "" and "null" also disable. */
            if (s.type == CFG_SV_NULL ||
                (n->style == CFG_STYLE_LOOSE &&
                 (n->text[0] == '\0' || strcasecmp(n->text, "null") == 0))) {
                *(int *)f = 0;
                return 0;
            }
        }
        /* fall through */
    case CFG_T_INT:
    case CFG_T_SIZE:
        if (cfg_get_int(c, n, k->name, &v) < 0 || cfg_check_range(c, n, k->name, k, v) < 0)
            return -1;
        if (k->type == CFG_T_SIZE)
            *(size_t *)f = (size_t)v;
        else
            *(int *)f = (int)v;
        return 0;
    case CFG_T_LEVEL:
        return cfg_set_level(c, k, n, k->name, f);
    case CFG_T_STRLIST:
        return cfg_set_strlist(c, n, k->name, f, count);
    case CFG_T_PROVIDERS:
        return cfg_set_providers(c, n, k->name, f);
    case CFG_T_PRICING:
        return cfg_set_pricing(c, n, k->name, f, count);
    }
    return cfg_fail(c, n, k->name, "internal error: unknown key type");
}

static const struct cfg_key *cfg_key_find(const char *name, bool icase)
{
    for (size_t i = 0; i < CFG_NKEYS; i++)
        if ((icase ? strcasecmp : strcmp)(cfg_keys[i].name, name) == 0)
            return &cfg_keys[i];
    return NULL;
}

/* Sets a key from text (environment, .env, command line, defaults): list and mapping keys
 * take JSON, the others a loosely typed scalar. */
static int cfg_set_text(struct cfg_ctx *c, struct cfg *cfg, const struct cfg_key *k,
                        const char *text, const char *label)
{
    bool complex =
        k->type == CFG_T_STRLIST || k->type == CFG_T_PROVIDERS || k->type == CFG_T_PRICING;
    struct cfg_node *n;
    json_error_t jerr;
    json_t *j;
    int rc;

    c->label = label;
    if (complex) {
        if ((j = json_loads(text, JSON_DECODE_ANY, &jerr)) == NULL) {
            rc = cfg_fail(c, NULL, k->name, "expected JSON (e.g. %s): %s",
                          k->type == CFG_T_STRLIST ? "[\"https://a.example\"]"
                                                   : "{\"openai\": {\"api_key\": \"...\"}}",
                          jerr.text);
            c->label = NULL;
            return rc;
        }
        n = cfg_node_from_json(j);
        json_decref(j);
    } else {
        n = cfg_node_new_scalar(text, CFG_STYLE_LOOSE);
    }
    rc = n != NULL ? cfg_set(c, cfg, k, n) : cfg_oom(c, NULL, k->name);
    cfg_node_free(n);
    c->label = NULL;
    return rc;
}

/* ---- ${ENV} substitution ---- */

/* Substitutes ${VAR} in every value scalar of the tree (keys are left alone). */
static int cfg_subst_tree(struct cfg_ctx *c, struct cfg_node *n, const char *path)
{
    char p[CFG_PATH_MAX], msg[512];
    char *s;

    if (n->kind == CFG_NODE_SCALAR) {
        if (strstr(n->text, "${") == NULL)
            return 0;
        if ((s = cfg_env_subst(n->text, msg, sizeof(msg))) == NULL)
            return cfg_fail(c, n, path, "%s", msg);
        if (strcmp(s, n->text) == 0) {
            free(s);
            return 0;
        }
        free(n->text);
        n->text = s;
        n->subst = true;
        if (n->style == CFG_STYLE_PLAIN)
            n->style = CFG_STYLE_LOOSE;
        return 0;
    }
    for (size_t i = 0; i < n->n; i++) {
        if (n->kind == CFG_NODE_SEQ)
            snprintf(p, sizeof(p), "%s[%zu]", path, i);
        else if (i % 2 == 0)
            continue;
        else
            cfg_path_key(p, path, n->kids[i - 1]->text);
        if (cfg_subst_tree(c, n->kids[i], p) < 0)
            return -1;
    }
    return 0;
}

/* ---- sources ---- */

static int cfg_apply_yaml(struct cfg_ctx *c, struct cfg *cfg, const char *path)
{
    struct cfg_node *root = cfg_yaml_load(path, c->err, c->errlen);
    int rc = 0;

    if (root == NULL)
        return -1;
    c->file = path;
    if (cfg_subst_tree(c, root, "") < 0)
        rc = -1;
    for (size_t i = 0; rc == 0 && i < CFG_MAP_LEN(root); i++) {
        const struct cfg_node *k = CFG_MAP_KEY(root, i);
        const struct cfg_key *key = cfg_key_find(k->text, false);
        char where[CFG_PATH_MAX];
        if (key == NULL) {
            cfg_warn("%s: unknown configuration key '%s' ignored%s",
                     cfg_where(c, k, where, sizeof(where)), k->text,
                     strcmp(k->text, "models") == 0 ? " (model prices belong under 'pricing:')"
                                                    : "");
            continue;
        }
        rc = cfg_set(c, cfg, key, CFG_MAP_VAL(root, i));
    }
    cfg_node_free(root);
    return rc;
}

static int cfg_apply_env(struct cfg_ctx *c, struct cfg *cfg)
{
    char name[64];
    const char *v;

    for (size_t i = 0; i < CFG_NKEYS; i++) {
        snprintf(name, sizeof(name), "GATEWAY_%s", cfg_keys[i].name);
        if ((v = cfg_env_get_icase(name, sizeof(name))) != NULL &&
            cfg_set_text(c, cfg, &cfg_keys[i], v, name) < 0)
            return -1;
    }
    return 0;
}

static int cfg_apply_dotenv(struct cfg_ctx *c, struct cfg *cfg, const char *path)
{
    FILE *f = fopen(path, "r");
    char *line = NULL, *key, *val, label[CFG_PATH_MAX];
    const struct cfg_key *k;
    size_t cap = 0;
    int lineno = 0, r, rc = 0;

    if (f == NULL) {
        if (errno == ENOENT)
            return 0;
        snprintf(c->err, c->errlen, "%s: cannot read .env file: %s", path, strerror(errno));
        return -1;
    }
    while (rc == 0 && getline(&line, &cap, f) >= 0) {
        lineno++;
        if ((r = cfg_dotenv_parse_line(line, &key, &val)) < 0)
            cfg_warn("%s:%d: cannot parse .env line; ignored", path, lineno);
        if (r <= 0 || strncasecmp(key, "GATEWAY_", 8) != 0 ||
            (k = cfg_key_find(key + 8, true)) == NULL)
            continue;
        snprintf(label, sizeof(label), "%s:%d: %s", path, lineno, key);
        rc = cfg_set_text(c, cfg, k, val, label);
    }
    if (rc == 0 && ferror(f)) {
        snprintf(c->err, c->errlen, "%s: cannot read .env file: %s", path, strerror(errno));
        rc = -1;
    }
    free(line);
    fclose(f);
    return rc;
}

/* The two variables the reference's CLI reads through click's envvar; empty means unset. */
static int cfg_apply_cli_env(struct cfg_ctx *c, struct cfg *cfg)
{
    static const char *const vars[][2] = {{"DATABASE_URL", "database_url"},
                                          {"GATEWAY_MASTER_KEY", "master_key"}};
    const char *v;

    for (size_t i = 0; i < 2; i++)
        if ((v = getenv(vars[i][0])) != NULL && *v != '\0' &&
            cfg_set_text(c, cfg, cfg_key_find(vars[i][1], false), v, vars[i][0]) < 0)
            return -1;
    return 0;
}

static int cfg_apply_cli(struct cfg_ctx *c, struct cfg *cfg, const struct cfg_overrides *ov)
{
    const struct {
        const char *key, *opt, *text;
    } strs[] = {{"host", "--host", ov->host},
                {"database_url", "--database-url", ov->database_url},
                {"master_key", "--master-key", ov->master_key},
                {"log_level", "--log-level", ov->log_level}};
    const struct {
        const char *key, *opt;
        int v;
    } ints[] = {{"port", "--port", ov->port}, {"workers", "--workers", ov->workers}};
    char num[32];

    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
        if (strs[i].text != NULL && strs[i].text[0] != '\0' &&
            cfg_set_text(c, cfg, cfg_key_find(strs[i].key, false), strs[i].text, strs[i].opt) < 0)
            return -1;
    for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
        if (ints[i].v < 0)
            continue;
        snprintf(num, sizeof(num), "%d", ints[i].v);
        if (cfg_set_text(c, cfg, cfg_key_find(ints[i].key, false), num, ints[i].opt) < 0)
            return -1;
    }
    if (ov->auto_migrate >= 0)
        cfg->auto_migrate = ov->auto_migrate != 0;
    return 0;
}

void cfg_overrides_init(struct cfg_overrides *ov)
{
    memset(ov, 0, sizeof(*ov));
    ov->port = -1;
    ov->auto_migrate = -1;
    ov->workers = -1;
}

int cfg_load(struct cfg *cfg, const struct cfg_overrides *ov, char *err, size_t errlen)
{
    struct cfg_ctx c = {.err = err, .errlen = errlen};
    struct cfg_overrides none;
    const char *dotenv;

    if (ov == NULL) {
        cfg_overrides_init(&none);
        ov = &none;
    }
    memset(cfg, 0, sizeof(*cfg));
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    for (size_t i = 0; i < CFG_NKEYS; i++)
        if (cfg_keys[i].def != NULL &&
            cfg_set_text(&c, cfg, &cfg_keys[i], cfg_keys[i].def, "default") < 0)
            goto fail;
    dotenv = ov->dotenv_path != NULL ? ov->dotenv_path : "./.env";
    if (*dotenv != '\0' && cfg_apply_dotenv(&c, cfg, dotenv) < 0)
        goto fail;
    if (cfg_apply_env(&c, cfg) < 0)
        goto fail;
    if (ov->config_path != NULL && cfg_apply_yaml(&c, cfg, ov->config_path) < 0)
        goto fail;
    if (cfg_apply_cli_env(&c, cfg) < 0 || cfg_apply_cli(&c, cfg, ov) < 0)
        goto fail;
    return 0;
fail:
    cfg_free(cfg);
    return -1;
}

void cfg_free(struct cfg *cfg)
{
    if (cfg == NULL)
        return;
    free(cfg->database_url);
    free(cfg->host);
    free(cfg->master_key);
    cfg_strlist_free(cfg->cors_allow_origins, cfg->n_cors_allow_origins);
    json_decref(cfg->providers);
    cfg_pricing_free(cfg->pricing, cfg->n_pricing);
    memset(cfg, 0, sizeof(*cfg));
}
