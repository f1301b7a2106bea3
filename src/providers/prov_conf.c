/*
 * Provider settings resolved once at start-up (contract in prov_conf.h).
 */
#include "providers/prov_conf.h"

#include <stdlib.h>
#include <string.h>

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
            if (!prov_conf_is_client_key(k) && json_object_set(c->kwargs, k, v) < 0)
                return -1;
        }
    }
    return 0;
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

const struct prov_conf *prov_confs_get(const struct prov_confs *pc, const struct prov_info *info)
{
    size_t i = (size_t)(info - prov_at(0));

    return i < pc->n ? &pc->v[i] : NULL;
}
