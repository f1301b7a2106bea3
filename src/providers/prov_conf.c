/*
 * Provider settings resolved once at start-up (contract in prov_conf.h).
 */
#include "providers/prov_conf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "providers/prov_google.h"

struct prov_confs {
    size_t n;
    struct prov_conf *v; /* one per registry row, same order */
};

/* Keys of a providers.<id> section that configure the client, not the request body. */
static bool prov_conf_is_client_key(const char *k)
{
    static const char *const keys[] = {"api_key", "api_base", "client_args",   "timeout",
                                       "model",   "stream",   "stream_options"};

    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        if (strcmp(k, keys[i]) == 0)
            return true;
    return false;
}

/* Keys of a Google provider's section that configure its credentials, not the request. */
static bool prov_conf_is_google_key(const char *k)
{
    static const char *const keys[] = {"credentials", "project", "project_id",
                                       "location",    "region",  "token_uri"};

    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        if (strcmp(k, keys[i]) == 0)
            return true;
    return false;
}

/* Keys of the watsonx section that configure the client, not the request (providers.md §1.2). */
static bool prov_conf_is_ibm_key(const char *k)
{
    return strcmp(k, "project_id") == 0 || strcmp(k, "space_id") == 0 ||
           strcmp(k, "version") == 0 || strcmp(k, "iam_url") == 0;
}

/* Keys of an Azure provider's section that configure the call's URL and auth, not the body. */
static bool prov_conf_is_azure_key(const char *k)
{
    return strcmp(k, "api_version") == 0 || strcmp(k, "azure_ad_token") == 0;
}

/* Keys of an AWS provider's section that configure its credentials, not the request. */
static bool prov_conf_is_aws_key(const char *k)
{
    return strcmp(k, "aws_access_key_id") == 0 || strcmp(k, "aws_secret_access_key") == 0 ||
           strcmp(k, "aws_session_token") == 0 || strcmp(k, "region_name") == 0;
}

static bool prov_conf_aws(const struct prov_info *info)
{
    return info->dialect == PROV_D_BEDROCK || info->dialect == PROV_D_SAGEMAKER;
}

static bool prov_conf_azure(const struct prov_info *info)
{
    return info->dialect == PROV_D_AZURE_OPENAI || info->dialect == PROV_D_AZURE;
}

static char *prov_conf_dup(const char *s)
{
    return s != NULL && s[0] != '\0' ? strdup(s) : NULL;
}

static int prov_conf_headers(struct prov_conf *c, const json_t *hdrs)
{
    const char *name;
    json_t *v;
    size_t i = 0;

    if (!json_is_object(hdrs) || json_object_size(hdrs) == 0)
        return 0;
    c->headers = calloc(json_object_size(hdrs), sizeof(*c->headers));
    if (c->headers == NULL)
        return -1;
    json_object_foreach((json_t *)hdrs, name, v)
    {
        if (!json_is_string(v))
            continue;
        c->headers[i].name = strdup(name);
        c->headers[i].value = strdup(json_string_value(v));
        c->nheaders = ++i;
        if (c->headers[i - 1].name == NULL || c->headers[i - 1].value == NULL)
            return -1;
    }
    return 0;
}

static long prov_conf_timeout_ms(const json_t *v, long dflt)
{
    double s = json_number_value(v);

    if (!json_is_number(v) || s <= 0)
        return dflt;
    return s * 1000.0 > 86400000.0 ? 86400000L : (long)(s * 1000.0);
}

/* The first of names (a NULL-terminated list) set in section, else in client (NULL: none). */
static const json_t *prov_conf_pick(const json_t *section, const json_t *client,
                                    const char *const *names)
{
    const json_t *v;

    for (const char *const *n = names; *n != NULL; n++)
        if ((v = json_object_get(section, *n)) != NULL && !json_is_null(v))
            return v;
    for (const char *const *n = names; *n != NULL; n++)
        if ((v = json_object_get(client, *n)) != NULL && !json_is_null(v))
            return v;
    return NULL;
}

/* A setting as a string (integers too: project numbers); NULL when empty or another type. */
static char *prov_conf_text(const json_t *v)
{
    char buf[32];

    if (json_is_integer(v)) {
        snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return strdup(buf);
    }
    return json_is_string(v) ? prov_conf_dup(json_string_value(v)) : NULL;
}

/* Only these characters go into a Vertex URL path unescaped and make sense in the value. */
static bool prov_conf_ident_ok(const char *s, const char *extra)
{
    for (; *s != '\0'; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '-' || strchr(extra, *s) != NULL))
            return false;
    return true;
}

__attribute__((format(printf, 2, 3))) static int prov_conf_problem(struct prov_conf *c,
                                                                   const char *fmt, ...)
{
    char buf[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    return (c->problem = strdup(buf)) != NULL ? 0 : -1;
}

/*
 * The Google rows (vertexai, vertexaianthropic): credentials, project and location (prov_conf.h).
 * A usable row that cannot be called gets c->problem. Returns -1 only when out of memory.
 */
static int prov_conf_google(struct prov_conf *c, const json_t *section, const json_t *client)
{
    static const char *const cred_keys[] = {"credentials", NULL};
    static const char *const uri_keys[] = {"token_uri", NULL};
    static const char *const vx_project[] = {"project", NULL};
    static const char *const va_project[] = {"project_id", "project", NULL};
    static const char *const vx_location[] = {"location", NULL};
    static const char *const va_location[] = {"region", "location", NULL};
    bool anth = c->info->dialect == PROV_D_ANTHROPIC_VERTEX;
    const char *id = c->info->id, *env_cred = getenv("GOOGLE_APPLICATION_CREDENTIALS");
    const char *env_project = getenv("GOOGLE_CLOUD_PROJECT");
    const char *env_location = getenv("GOOGLE_CLOUD_LOCATION");
    const json_t *cred = prov_conf_pick(section, client, cred_keys), *uri;
    json_t *env_v = NULL;
    bool from_env = false;
    char err[400];

    if (env_cred != NULL && env_cred[0] == '\0')
        env_cred = NULL;
    c->usable = c->configured || env_cred != NULL;
    c->project = prov_conf_text(prov_conf_pick(section, client, anth ? va_project : vx_project));
    c->location = prov_conf_text(prov_conf_pick(section, client, anth ? va_location : vx_location));
    if (c->location == NULL)
        c->location = prov_conf_dup(
            env_location != NULL && env_location[0] != '\0' ? env_location : "us-central1");
    if (c->location == NULL)
        return -1;
    if (!c->usable)
        return 0;
    if (cred == NULL && env_cred != NULL) {
        from_env = true;
        if ((cred = env_v = json_string(env_cred)) == NULL)
            return -1;
    }
    if (cred == NULL)
        return prov_conf_problem(c,
                                 "no service-account credentials: set providers.%s.credentials "
                                 "or GOOGLE_APPLICATION_CREDENTIALS",
                                 id);
    c->google = prov_google_sa_load(cred, err, sizeof(err));
    json_decref(env_v);
    if (c->google == NULL)
        return prov_conf_problem(c, "%s%s", from_env ? "GOOGLE_APPLICATION_CREDENTIALS: " : "",
                                 err);
    uri = prov_conf_pick(section, client, uri_keys);
    if (json_is_string(uri) && json_string_length(uri) > 0) {
        free(c->google->token_uri);
        if ((c->google->token_uri = strdup(json_string_value(uri))) == NULL)
            return -1;
    }
    if (c->project == NULL && c->google->project_id != NULL &&
        (c->project = strdup(c->google->project_id)) == NULL)
        return -1;
    if (c->project == NULL && env_project != NULL && env_project[0] != '\0' &&
        (c->project = strdup(env_project)) == NULL)
        return -1;
    if (c->project == NULL)
        return prov_conf_problem(c,
                                 "no Google Cloud project: set providers.%s.%s, a project_id in "
                                 "the credentials, or GOOGLE_CLOUD_PROJECT",
                                 id, anth ? "project_id" : "project");
    if (!prov_conf_ident_ok(c->project, ".:"))
        return prov_conf_problem(c, "providers.%s: the project '%.100s' is not a project id", id,
                                 c->project);
    if (!prov_conf_ident_ok(c->location, ""))
        return prov_conf_problem(c, "providers.%s: the %s '%.100s' is not a Google Cloud region",
                                 id, anth ? "region" : "location", c->location);
    return 0;
}

/*
 * The watsonx row: project_id / space_id, version, iam_url (prov_conf.h). A usable row without
 * an API key or with a version that is not a date gets c->problem. Returns -1 only when out of
 * memory.
 */
static int prov_conf_ibm(struct prov_conf *c, const json_t *section, const json_t *client)
{
    static const char *const project_keys[] = {"project_id", NULL};
    static const char *const space_keys[] = {"space_id", NULL};
    static const char *const version_keys[] = {"version", NULL};
    static const char *const iam_keys[] = {"iam_url", NULL};
    const char *env_iam = getenv("WATSONX_IAM_URL");

    c->project = prov_conf_text(prov_conf_pick(section, client, project_keys));
    c->space_id = prov_conf_text(prov_conf_pick(section, client, space_keys));
    c->version = prov_conf_text(prov_conf_pick(section, client, version_keys));
    c->iam_url = prov_conf_text(prov_conf_pick(section, client, iam_keys));
    if (c->version == NULL && (c->version = strdup(PROV_IBM_VERSION)) == NULL)
        return -1;
    if (c->iam_url == NULL &&
        (c->iam_url = strdup(env_iam != NULL && env_iam[0] != '\0' ? env_iam : PROV_IBM_IAM_URL)) ==
            NULL)
        return -1;
    if (!prov_conf_ident_ok(c->version, ""))
        return prov_conf_problem(c, "providers.%s.version '%.40s' is not a date (YYYY-MM-DD)",
                                 c->info->id, c->version);
    if (c->usable && c->api_key == NULL)
        return prov_conf_problem(c, "no API key: set providers.%s.api_key or %s", c->info->id,
                                 c->info->key_env);
    return 0;
}

/*
 * The Azure rows: api_version and azure_ad_token (prov_conf.h). An api_version that cannot go
 * into a URL query as is gets c->problem. Returns -1 only when out of memory.
 */
static int prov_conf_azure_keys(struct prov_conf *c, const json_t *section, const json_t *client)
{
    static const char *const version_keys[] = {"api_version", NULL};
    static const char *const token_keys[] = {"azure_ad_token", NULL};
    bool aoai = c->info->dialect == PROV_D_AZURE_OPENAI;
    const char *env;

    c->api_version = prov_conf_text(prov_conf_pick(section, client, version_keys));
    if (c->api_version == NULL) {
        env = aoai ? getenv("OPENAI_API_VERSION") : NULL;
        c->api_version = prov_conf_dup(env != NULL && env[0] != '\0' ? env
                                       : aoai                        ? "preview"
                                                                     : "2024-05-01-preview");
        if (c->api_version == NULL)
            return -1;
    }
    if (aoai) {
        c->ad_token = prov_conf_text(prov_conf_pick(section, client, token_keys));
        env = getenv("AZURE_OPENAI_AD_TOKEN");
        if (c->ad_token == NULL && env != NULL && env[0] != '\0' &&
            (c->ad_token = strdup(env)) == NULL)
            return -1;
        if (c->ad_token != NULL)
            c->usable = true;
    }
    if (!prov_conf_ident_ok(c->api_version, "._"))
        return prov_conf_problem(c, "providers.%s: the api_version '%.60s' is not an API version",
                                 c->info->id, c->api_version);
    return 0;
}

/* getenv(name) when set and not empty, else NULL. */
static const char *prov_conf_env(const char *name)
{
    const char *v = getenv(name);

    return v != NULL && v[0] != '\0' ? v : NULL;
}

/* An owned copy of the first of a, b, c that is not NULL (NULL when all are; ok stays true), or
   NULL with *ok false when out of memory. */
static char *prov_conf_first(const char *a, const char *b, const char *c, bool *ok)
{
    const char *v = a != NULL ? a : b != NULL ? b : c;
    char *d = v != NULL ? strdup(v) : NULL;

    if (v != NULL && d == NULL)
        *ok = false;
    return d;
}

/*
 * The AWS rows (bedrock, sagemaker): credentials, region and the region's endpoint as the
 * default base URL (prov_conf.h). A usable row without credentials gets c->problem. Returns -1
 * only when out of memory.
 */
static int prov_conf_aws_keys(struct prov_conf *c, const json_t *section, const json_t *client)
{
    static const char *const akid_keys[] = {"aws_access_key_id", NULL};
    static const char *const secret_keys[] = {"aws_secret_access_key", NULL};
    static const char *const token_keys[] = {"aws_session_token", NULL};
    static const char *const region_keys[] = {"region_name", NULL};
    bool bedrock = c->info->dialect == PROV_D_BEDROCK, ok = true;
    char base[160];

    c->aws_access_key = prov_conf_text(prov_conf_pick(section, client, akid_keys));
    if (c->aws_access_key != NULL) {
        c->aws_secret_key = prov_conf_text(prov_conf_pick(section, client, secret_keys));
        c->aws_session_token = prov_conf_text(prov_conf_pick(section, client, token_keys));
    } else {
        c->aws_access_key = prov_conf_first(prov_conf_env("AWS_ACCESS_KEY_ID"), NULL, NULL, &ok);
        c->aws_secret_key =
            prov_conf_first(prov_conf_env("AWS_SECRET_ACCESS_KEY"), NULL, NULL, &ok);
        c->aws_session_token = prov_conf_first(prov_conf_env("AWS_SESSION_TOKEN"), NULL, NULL, &ok);
        if (c->aws_access_key != NULL)
            c->usable = true; /* the standard AWS variables make both rows callable */
    }
    c->region = prov_conf_text(prov_conf_pick(section, client, region_keys));
    if (c->region == NULL)
        c->region = prov_conf_first(prov_conf_env("AWS_REGION"),
                                    prov_conf_env("AWS_DEFAULT_REGION"), "us-east-1", &ok);
    if (!ok || c->region == NULL)
        return -1;
    if (!bedrock) {
        free(c->api_key); /* SageMaker has no API keys: only signed requests */
        c->api_key = NULL;
    }
    if (c->region[0] == '\0' || !prov_conf_ident_ok(c->region, ""))
        return prov_conf_problem(c, "providers.%s.region_name '%.40s' is not an AWS region",
                                 c->info->id, c->region);
    if (c->base_url == NULL) {
        snprintf(base, sizeof(base),
                 bedrock ? "https://bedrock-runtime.%s.amazonaws.com"
                         : "https://runtime.sagemaker.%s.amazonaws.com",
                 c->region);
        if ((c->base_url = strdup(base)) == NULL)
            return -1;
    }
    if (bedrock && c->api_key != NULL)
        return 0;
    if (c->usable && (c->aws_access_key == NULL || c->aws_secret_key == NULL))
        return prov_conf_problem(
            c,
            "no AWS credentials: set providers.%s.aws_access_key_id and aws_secret_access_key "
            "(or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)%s",
            c->info->id, bedrock ? ", or an API key (api_key or AWS_BEARER_TOKEN_BEDROCK)" : "");
    return 0;
}

static int prov_conf_resolve(struct prov_conf *c, const struct prov_info *info,
                             const json_t *section)
{
    const char *env_key = info->key_env != NULL ? getenv(info->key_env) : NULL;
    const char *env_base = info->base_env != NULL ? getenv(info->base_env) : NULL;
    const json_t *client = json_object_get(section, "client_args");
    const char *k, *base;
    json_t *v;
    size_t n;

    if ((env_key == NULL || env_key[0] == '\0') && info->key_env_alt != NULL)
        env_key = getenv(info->key_env_alt);
    c->info = info;
    c->configured = json_is_object(section);
    c->usable = c->configured || (env_key != NULL && env_key[0] != '\0');
    c->timeout_ms =
        prov_conf_timeout_ms(json_object_get(section, "timeout"), PROV_DEFAULT_TIMEOUT_MS);
    c->timeout_ms = prov_conf_timeout_ms(json_object_get(client, "timeout"), c->timeout_ms);
    v = json_object_get(section, "api_key");
    /* An empty api_key falls back to the environment, as the reference's `api_key or getenv`. */
    c->api_key = prov_conf_dup(json_is_string(v) && json_string_length(v) > 0 ? json_string_value(v)
                                                                              : env_key);
    v = json_object_get(section, "api_base");
    base = json_is_string(v) && json_string_length(v) > 0 ? json_string_value(v)
           : env_base != NULL && env_base[0] != '\0'      ? env_base
                                                          : info->base_url;
    if (base != NULL) {
        if ((c->base_url = strdup(base)) == NULL)
            return -1;
        n = strlen(c->base_url);
        while (n > 0 && c->base_url[n - 1] == '/')
            c->base_url[--n] = '\0';
    }
    if (prov_conf_headers(c, json_object_get(client, "custom_headers")) < 0)
        return -1;
    if ((c->kwargs = json_object()) == NULL)
        return -1;
    if (c->configured) {
        json_object_foreach((json_t *)section, k, v)
        {
            if (prov_conf_is_client_key(k) ||
                (info->auth == PROV_AUTH_GOOGLE && prov_conf_is_google_key(k)) ||
                (info->auth == PROV_AUTH_IBM_IAM && prov_conf_is_ibm_key(k)) ||
                (prov_conf_azure(info) && prov_conf_is_azure_key(k)) ||
                (prov_conf_aws(info) && prov_conf_is_aws_key(k)))
                continue;
            if (json_object_set(c->kwargs, k, v) < 0)
                return -1;
        }
    }
    if (info->auth == PROV_AUTH_IBM_IAM)
        return prov_conf_ibm(c, section, client);
    if (prov_conf_azure(info))
        return prov_conf_azure_keys(c, section, client);
    if (prov_conf_aws(info))
        return prov_conf_aws_keys(c, section, client);
    return info->auth == PROV_AUTH_GOOGLE ? prov_conf_google(c, section, client) : 0;
}

static void prov_conf_cleanup(struct prov_conf *c)
{
    free(c->api_key);
    free(c->base_url);
    for (size_t i = 0; i < c->nheaders; i++) {
        free((char *)c->headers[i].name);
        free((char *)c->headers[i].value);
    }
    free(c->headers);
    json_decref(c->kwargs);
    free(c->project);
    free(c->location);
    free(c->space_id);
    free(c->version);
    free(c->iam_url);
    free(c->problem);
    free(c->api_version);
    free(c->ad_token);
    free(c->aws_access_key);
    free(c->aws_secret_key);
    free(c->aws_session_token);
    free(c->region);
    prov_google_sa_free(c->google);
}

struct prov_confs *prov_confs_new(const json_t *providers)
{
    struct prov_confs *pc = calloc(1, sizeof(*pc));

    if (pc == NULL)
        return NULL;
    pc->n = prov_count();
    pc->v = calloc(pc->n, sizeof(*pc->v));
    if (pc->v == NULL) {
        free(pc);
        return NULL;
    }
    for (size_t i = 0; i < pc->n; i++) {
        const struct prov_info *info = prov_at(i);
        if (prov_conf_resolve(&pc->v[i], info, json_object_get(providers, info->id)) < 0) {
            prov_confs_free(pc);
            return NULL;
        }
    }
    return pc;
}

void prov_confs_free(struct prov_confs *pc)
{
    if (pc == NULL)
        return;
    for (size_t i = 0; i < pc->n; i++)
        prov_conf_cleanup(&pc->v[i]);
    free(pc->v);
    free(pc);
}

const struct prov_conf *prov_confs_at(const struct prov_confs *pc, size_t i)
{
    return i < pc->n ? &pc->v[i] : NULL;
}

const struct prov_conf *prov_confs_get(const struct prov_confs *pc, const struct prov_info *info)
{
    size_t i = (size_t)(info - prov_at(0));

    return i < pc->n ? &pc->v[i] : NULL;
}
