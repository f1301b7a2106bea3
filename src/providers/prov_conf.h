/*
 * Resolved provider settings (spec §7.2): for every provider of the registry, its API key, base
 * URL, extra headers, timeout and extra request fields, from the `providers:` config section
 * overriding the provider's environment variables. Resolved once at start-up (no getenv() or
 * config walk on the request path) and immutable afterwards, so every worker shares it.
 */
#ifndef PROV_CONF_H
#define PROV_CONF_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "httpc.h"
#include "providers/prov_registry.h"

#define PROV_DEFAULT_TIMEOUT_MS 600000L /* the OpenAI SDK's default: 10 minutes */
#define PROV_IBM_IAM_URL "https://iam.cloud.ibm.com/identity/token"
#define PROV_IBM_VERSION "2025-02-06"

struct prov_conf {
    const struct prov_info *info;
    char *api_key;                /* NULL: none (local servers need none) */
    char *base_url;               /* without a trailing '/'; NULL: not configured and no default */
    struct httpc_header *headers; /* client_args.custom_headers */
    size_t nheaders;
    long timeout_ms; /* client_args.timeout or timeout, else PROV_DEFAULT_TIMEOUT_MS */
    json_t *kwargs;  /* other keys of the section: request fields the request does not set
                        (never "model", "stream" or "stream_options"); empty object if none */
    bool configured; /* the provider has a section under providers: */
    /* Cloud settings (providers.md §1.2): Google project and location or region (Vertex AI),
       the service account for access tokens (prov_google.h); NULL when not set. For the
       PROV_AUTH_GOOGLE rows: `credentials` (a file path, inline JSON or a mapping), `project`
       (vertexaianthropic also `project_id`), `location` (vertexaianthropic also `region`) and
       `token_uri` (overrides the key's), at the top of the section or under client_args, else
       GOOGLE_APPLICATION_CREDENTIALS, GOOGLE_CLOUD_PROJECT (after the key's project_id),
       GOOGLE_CLOUD_LOCATION, us-central1. None of them is a request field. */
    char *project;
    char *location;
    struct prov_google_sa *google;
    /* watsonx (PROV_AUTH_IBM_IAM, providers.md §11): `project_id` (kept in project above),
       `space_id`, `version` (default PROV_IBM_VERSION) and `iam_url` (else WATSONX_IAM_URL, else
       PROV_IBM_IAM_URL), at the top of the section or under client_args; none is a request
       field. NULL when not set (version and iam_url always set for the watsonx row). */
    char *space_id;
    char *version;
    char *iam_url;
    /* Azure rows (providers.md §1.2, at the top of the section or under client_args; neither is
       a request field): `api_version` (azureopenai: else OPENAI_API_VERSION, else "preview";
       azure: else "2024-05-01-preview"), and for azureopenai `azure_ad_token` (else
       AZURE_OPENAI_AD_TOKEN): a Microsoft Entra token sent as a bearer instead of the api-key.
       NULL on the other rows. */
    char *api_version;
    char *ad_token;
    /* AWS rows (bedrock, sagemaker; providers.md §1.2, §7.1): `aws_access_key_id`,
       `aws_secret_access_key`, `aws_session_token` (at the top of the section or under
       client_args; when the section sets no access key, all three come from AWS_ACCESS_KEY_ID,
       AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN) and `region_name` (else AWS_REGION, else
       AWS_DEFAULT_REGION, else us-east-1). Without api_base the base URL is the region's
       endpoint. Bedrock's api_key (AWS_BEARER_TOKEN_BEDROCK) is a bearer instead of signing.
       NULL when not set (region always set on these rows); none is a request field. */
    char *aws_access_key;
    char *aws_secret_key;
    char *aws_session_token;
    char *region;
    /* Why a usable provider cannot be called (unreadable credentials, no project, ...): one
       line naming the setting, never key material; NULL when nothing is wrong. The gateway
       answers 502 "provider 'x' is misconfigured: <problem>"; check-config reports it. */
    char *problem;
    /* DESIGN.md §2.13: may be called at all. True when configured, or when the provider's key
       variable (info->key_env; GOOGLE_APPLICATION_CREDENTIALS for the Google rows) is set and
       not empty; any other provider is refused with a 400,
       so a key holder cannot make the gateway call a local default address. */
    bool usable;
};

struct prov_google_sa;
struct prov_confs;

/*
 * Resolves every provider: `providers` (the config's object, borrowed, may be NULL) wins over the
 * environment (info->key_env, info->base_env), which wins over info->base_url. Returns owned
 * table (free with prov_confs_free()), or NULL when out of memory.
 */
struct prov_confs *prov_confs_new(const json_t *providers);
void prov_confs_free(struct prov_confs *pc);

/* The i-th provider's settings (registry order), NULL past the end: for listings. */
const struct prov_conf *prov_confs_at(const struct prov_confs *pc, size_t i);

/* The resolved settings of a registry row (never NULL for a row of the registry). */
const struct prov_conf *prov_confs_get(const struct prov_confs *pc, const struct prov_info *info);

#endif
