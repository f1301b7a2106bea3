/*
 * Dialect lookup and the helpers every dialect shares (contract in prov_dialect.h).
 */
#include "providers/prov_dialect.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

const struct prov_dialect_ops *prov_dialect_get(enum prov_dialect d)
{
    switch (d) {
    case PROV_D_OPENAI:
        return &prov_dialect_openai;
    case PROV_D_ANTHROPIC:
    case PROV_D_ANTHROPIC_VERTEX:
        return &prov_dialect_anthropic;
    case PROV_D_GEMINI:
        return &prov_dialect_gemini;
    case PROV_D_VERTEX:
        return &prov_dialect_vertex;
    case PROV_D_COHERE:
        return &prov_dialect_cohere;
    case PROV_D_OLLAMA:
        return &prov_dialect_ollama;
    case PROV_D_VOYAGE:
        return &prov_dialect_voyage;
    case PROV_D_WATSONX:
        return &prov_dialect_watsonx;
    case PROV_D_AZURE_OPENAI:
        return &prov_dialect_azureopenai;
    case PROV_D_AZURE:
        return &prov_dialect_azure;
    case PROV_D_BEDROCK:
        return &prov_dialect_bedrock;
    case PROV_D_SAGEMAKER:
        return &prov_dialect_sagemaker;
    }
    return NULL;
}

const struct prov_dialect_ops *prov_dialect_native_messages(enum prov_dialect d)
{
    return d == PROV_D_ANTHROPIC || d == PROV_D_ANTHROPIC_VERTEX ? &prov_dialect_anthropic_native
                                                                 : NULL;
}

void prov_stream_cleanup(struct prov_stream *s)
{
    free(s->anth);
    s->anth = NULL;
    free(s->x.carry);
    s->x.carry = NULL;
    s->x.carry_len = s->x.carry_cap = 0;
}

void prov_http_cleanup(struct prov_http *h)
{
    free(h->url);
    free(h->body);
    for (size_t i = 0; i < h->nowned; i++)
        free(h->owned[i]);
    memset(h, 0, sizeof(*h));
}

int prov_http_add(struct prov_http *h, const char *name, const char *value)
{
    if (h->nheaders >= PROV_MAX_HEADERS)
        return -1;
    h->headers[h->nheaders].name = name;
    h->headers[h->nheaders].value = value;
    h->nheaders++;
    return 0;
}

int prov_http_add_owned(struct prov_http *h, const char *name, char *value)
{
    if (value == NULL || h->nowned >= PROV_MAX_HEADERS || prov_http_add(h, name, value) < 0) {
        free(value);
        return -1;
    }
    h->owned[h->nowned++] = value;
    return 0;
}

/* Authorization: Bearer token. Returns 0 or -1 (out of memory or table full). */
static int http_add_bearer(struct prov_http *h, const char *token)
{
    size_t n = strlen(token) + sizeof("Bearer ");
    char *v;

    if ((v = malloc(n)) != NULL)
        snprintf(v, n, "Bearer %s", token);
    return prov_http_add_owned(h, "Authorization", v);
}

int prov_http_add_auth(struct prov_http *h, const struct prov_conf *pc)
{
    if (pc->api_key == NULL)
        return 0;
    switch (pc->info->auth) {
    case PROV_AUTH_X_API_KEY:
        return prov_http_add(h, "x-api-key", pc->api_key);
    case PROV_AUTH_API_KEY:
        return prov_http_add(h, "api-key", pc->api_key);
    case PROV_AUTH_GOOG:
        return prov_http_add(h, "x-goog-api-key", pc->api_key);
    case PROV_AUTH_CLOUD:
        return 0; /* the AWS dialects authenticate the finished request (prov_aws_auth) */
    default:
        return http_add_bearer(h, pc->api_key);
    }
}

int prov_no_base_url(const struct prov_conf *pc, char *err, size_t errlen)
{
    snprintf(err, errlen, "provider '%s' has no base URL: set providers.%s.api_base%s%s",
             pc->info->id, pc->info->id, pc->info->base_env != NULL ? " or " : "",
             pc->info->base_env != NULL ? pc->info->base_env : "");
    return -1;
}

int prov_http_std(struct prov_http *out, const struct prov_conf *pc, const char *accept,
                  const char *bearer, char *err, size_t errlen)
{
    if (prov_http_add(out, "Content-Type", "application/json") < 0 ||
        (accept != NULL && prov_http_add(out, "Accept", accept) < 0))
        goto oom;
    if (bearer != NULL ? http_add_bearer(out, bearer) < 0 : prov_http_add_auth(out, pc) < 0)
        goto oom;
    for (size_t i = 0; i < pc->nheaders; i++)
        if (prov_http_add(out, pc->headers[i].name, pc->headers[i].value) < 0)
            goto oom;
    return 0;
oom:
    snprintf(err, errlen, "out of memory");
    return -1;
}

void prov_scrub(char *s, const char *secret)
{
    log_scrub(s, secret); /* the key, and any prefix of 8+ characters of it */
}

void prov_copy_line(char *out, size_t outlen, const char *s, size_t len)
{
    size_t o = 0, k;
    unsigned char lead;

    if (outlen == 0)
        return;
    for (size_t i = 0; i < len && o + 1 < outlen; i++)
        out[o++] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ? ' ' : s[i];
    out[o] = '\0';
    k = o;
    while (k > 0 && o - k < 3 && ((unsigned char)out[k - 1] & 0xC0) == 0x80)
        k--;
    lead = k > 0 ? (unsigned char)out[k - 1] : 0;
    if (lead >= 0xC0 && o - (k - 1) < (size_t)(lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2))
        out[k - 1] = '\0';
}
